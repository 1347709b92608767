//! Literal values: immediates, vector lanes and `; run:` arguments, as raw
//! bits or typed `DataValue`s.

use kiln_ir::{parse_wide_int, ConstantData, DataValue, Ieee128, Ieee16, Ieee32, Ieee64, Type};

/// The bits of a scalar literal of type `ty`, zero-extended to 128 bits.
/// Integers may be decimal or hex, signed, or unsigned up to the type's
/// range (`0xFFFFFFFF` and `-1` are both the i32 all-ones). Floats use
/// CLIF's exact forms; `decimal_floats` also accepts decimal notation
/// (rounded to nearest, as `; run:` lines allow).
pub fn scalar_bits(text: &str, ty: Type, decimal_floats: bool) -> Result<u128, String> {
    if ty.is_int() && !ty.is_vector() {
        let bits = ty.bits();
        let v = match parse_wide_int(text) {
            Ok(v) => v,
            // Unsigned decimals above i128::MAX are still 128-bit patterns.
            Err(e) => match text.replace('_', "").parse::<u128>() {
                Ok(u) if bits == 128 => u as i128,
                _ => return Err(e.to_string()),
            },
        };
        if bits < 128 {
            let min = -(1i128 << (bits - 1));
            let max = (1i128 << bits) - 1;
            if v < min || v > max {
                return Err(format!("{text} does not fit in {ty}"));
            }
            return Ok((v as u128) & ((1u128 << bits) - 1));
        }
        return Ok(v as u128);
    }
    if ty.is_float() && !ty.is_vector() {
        let exact = match ty {
            Type::F16 => text.parse::<Ieee16>().map(|x| x.0 as u128),
            Type::F32 => text.parse::<Ieee32>().map(|x| x.0 as u128),
            Type::F64 => text.parse::<Ieee64>().map(|x| x.0 as u128),
            _ => text.parse::<Ieee128>().map(|x| x.0),
        };
        return match exact {
            Ok(b) => Ok(b),
            Err(e) if !decimal_floats => Err(e.to_string()),
            Err(e) => {
                let looks_decimal = text
                    .trim_start_matches(['+', '-'])
                    .starts_with(|c: char| c.is_ascii_digit() || c == '.');
                if !looks_decimal || text.contains("0x") {
                    return Err(e.to_string());
                }
                match ty {
                    Type::F32 => text
                        .parse::<f32>()
                        .map(|f| f.to_bits() as u128)
                        .map_err(|_| format!("bad float literal {text}")),
                    Type::F64 => text
                        .parse::<f64>()
                        .map(|f| f.to_bits() as u128)
                        .map_err(|_| format!("bad float literal {text}")),
                    _ => Err(format!("decimal {ty} literals are not supported; use hex")),
                }
            }
        };
    }
    Err(format!("no scalar literal of type {ty}"))
}

/// Lane literals packed little-endian into constant bytes.
pub fn constant_from_literals(
    texts: &[&str],
    lane: Type,
    decimal_floats: bool,
) -> Result<ConstantData, String> {
    let lane_bytes = lane.bytes() as usize;
    let mut bytes = Vec::with_capacity(texts.len() * lane_bytes);
    for t in texts {
        let bits = scalar_bits(t, lane, decimal_floats)?;
        bytes.extend_from_slice(&bits.to_le_bytes()[..lane_bytes]);
    }
    Ok(ConstantData(bytes))
}

/// A `DataValue` of type `ty` from raw bits (vectors: little-endian bytes).
pub fn data_value_from_bits(bits: u128, ty: Type) -> Option<DataValue> {
    Some(match ty {
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::I128 => {
            let v = if ty.bits() < 128 {
                let shift = 128 - ty.bits();
                ((bits << shift) as i128) >> shift
            } else {
                bits as i128
            };
            DataValue::from_integer(v, ty)?
        }
        Type::F16 => DataValue::F16(Ieee16(bits as u16)),
        Type::F32 => DataValue::F32(Ieee32(bits as u32)),
        Type::F64 => DataValue::F64(Ieee64(bits as u64)),
        Type::F128 => DataValue::F128(Ieee128(bits)),
        _ => return None,
    })
}

/// A vector `DataValue` from its little-endian bytes.
pub fn vector_value(bytes: &[u8]) -> Option<DataValue> {
    Some(match bytes.len() {
        16 => DataValue::V128(bytes.try_into().ok()?),
        8 => DataValue::V64(bytes.try_into().ok()?),
        4 => DataValue::V32(bytes.try_into().ok()?),
        2 => DataValue::V16(bytes.try_into().ok()?),
        _ => return None,
    })
}
