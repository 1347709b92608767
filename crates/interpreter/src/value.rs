//! Conversions between `DataValue`s and raw bit patterns, and lane access for
//! vectors.
//!
//! Integers are handled as `u128` bit patterns masked to their width; every
//! operation masks its result again, so wrapping at every width falls out of
//! one code path.

use crate::InterpError;
use kiln_ir::{DataValue, Ieee128, Ieee16, Ieee32, Ieee64, Type};
use smallvec::SmallVec;

pub type Lanes = SmallVec<[u128; 16]>;

/// All ones in the low `bits` bits.
#[inline]
pub fn mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// Sign-extends the low `bits` bits of `x`.
#[inline]
pub fn sext(x: u128, bits: u32) -> i128 {
    if bits == 0 {
        return 0;
    }
    let s = 128 - bits.min(128);
    ((x << s) as i128) >> s
}

/// The raw bits of any value (vectors little-endian), zero-extended.
#[inline]
pub fn bits_of(v: &DataValue) -> u128 {
    // `to_bits` is total for every variant.
    v.to_bits().unwrap_or(0)
}

/// Builds a value of type `ty` from the low bits of `bits`.
pub fn from_bits(ty: Type, bits: u128) -> Result<DataValue, InterpError> {
    let b = bits & mask(ty.bits());
    Ok(match ty {
        Type::I8 => DataValue::I8(b as u8 as i8),
        Type::I16 => DataValue::I16(b as u16 as i16),
        Type::I32 => DataValue::I32(b as u32 as i32),
        Type::I64 => DataValue::I64(b as u64 as i64),
        Type::I128 => DataValue::I128(b as i128),
        Type::F16 => DataValue::F16(Ieee16(b as u16)),
        Type::F32 => DataValue::F32(Ieee32(b as u32)),
        Type::F64 => DataValue::F64(Ieee64(b as u64)),
        Type::F128 => DataValue::F128(Ieee128(b)),
        t if t.is_vector() && !t.is_dynamic_vector() => match t.bits() {
            16 => DataValue::V16((b as u16).to_le_bytes()),
            32 => DataValue::V32((b as u32).to_le_bytes()),
            64 => DataValue::V64((b as u64).to_le_bytes()),
            128 => DataValue::V128(b.to_le_bytes()),
            _ => return Err(unsupported_ty("values", t)),
        },
        t => return Err(unsupported_ty("values", t)),
    })
}

pub fn unsupported_ty(what: &str, ty: Type) -> InterpError {
    InterpError::Unsupported(format!("{what} on {ty}"))
}

/// Whether a runtime value can stand for a value of type `ty`.
pub fn fits_type(v: &DataValue, ty: Type) -> bool {
    match v {
        DataValue::V128(_) | DataValue::V64(_) | DataValue::V32(_) | DataValue::V16(_) => {
            ty.is_vector() && ty.bits() == v.ty().bits()
        }
        _ => v.ty() == ty,
    }
}

/// Splits a vector's bits into lanes of `lane_bits`.
pub fn split_lanes(bits: u128, ty: Type) -> Lanes {
    let lb = ty.lane_bits();
    let m = mask(lb);
    (0..ty.lane_count())
        .map(|i| {
            let sh = i * lb;
            if sh >= 128 {
                0
            } else {
                (bits >> sh) & m
            }
        })
        .collect()
}

/// Joins lanes (each masked to the lane width) into a vector's bits.
pub fn join_lanes(lanes: &[u128], ty: Type) -> u128 {
    let lb = ty.lane_bits();
    let m = mask(lb);
    let mut out = 0u128;
    for (i, &l) in lanes.iter().enumerate() {
        let sh = i as u32 * lb;
        if sh < 128 {
            out |= (l & m) << sh;
        }
    }
    out
}

/// The truth of a branch or select condition: any nonzero bit.
#[inline]
pub fn truthy(v: &DataValue) -> bool {
    bits_of(v) != 0
}
