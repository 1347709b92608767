//! Typed runtime values: arguments and results of `; run:` directives, and
//! the values the interpreter computes with.

use crate::immediates::{Ieee128, Ieee16, Ieee32, Ieee64};
use crate::types::Type;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DataValue {
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    I128(i128),
    F16(Ieee16),
    F32(Ieee32),
    F64(Ieee64),
    F128(Ieee128),
    /// A 128-bit vector, little-endian lane order.
    V128([u8; 16]),
    /// A 64-bit vector.
    V64([u8; 8]),
    /// A 32-bit vector.
    V32([u8; 4]),
    /// A 16-bit vector.
    V16([u8; 2]),
}

impl DataValue {
    /// The scalar type of a scalar value; for vectors, an `i8` vector of the
    /// same width (the lane shape is not recorded).
    pub fn ty(&self) -> Type {
        match self {
            DataValue::I8(_) => Type::I8,
            DataValue::I16(_) => Type::I16,
            DataValue::I32(_) => Type::I32,
            DataValue::I64(_) => Type::I64,
            DataValue::I128(_) => Type::I128,
            DataValue::F16(_) => Type::F16,
            DataValue::F32(_) => Type::F32,
            DataValue::F64(_) => Type::F64,
            DataValue::F128(_) => Type::F128,
            DataValue::V128(_) => Type::I8X16,
            DataValue::V64(_) => Type::I8.by(8).unwrap_or(Type::INVALID),
            DataValue::V32(_) => Type::I8.by(4).unwrap_or(Type::INVALID),
            DataValue::V16(_) => Type::I8.by(2).unwrap_or(Type::INVALID),
        }
    }

    /// Equality of bit patterns (NaNs with equal payloads are equal;
    /// `0.0` and `-0.0` are not).
    pub fn bitwise_eq(&self, other: &DataValue) -> bool {
        self == other
    }

    /// The integer value of an integer `DataValue`, sign-extended.
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            DataValue::I8(x) => x as i128,
            DataValue::I16(x) => x as i128,
            DataValue::I32(x) => x as i128,
            DataValue::I64(x) => x as i128,
            DataValue::I128(x) => x,
            _ => return None,
        })
    }

    /// Builds an integer value of type `ty` from the low bits of `x`.
    pub fn from_integer(x: i128, ty: Type) -> Option<DataValue> {
        Some(match ty {
            Type::I8 => DataValue::I8(x as i8),
            Type::I16 => DataValue::I16(x as i16),
            Type::I32 => DataValue::I32(x as i32),
            Type::I64 => DataValue::I64(x as i64),
            Type::I128 => DataValue::I128(x),
            _ => return None,
        })
    }

    /// The raw bits of a scalar value, zero-extended to 128 bits.
    pub fn to_bits(&self) -> Option<u128> {
        Some(match *self {
            DataValue::I8(x) => x as u8 as u128,
            DataValue::I16(x) => x as u16 as u128,
            DataValue::I32(x) => x as u32 as u128,
            DataValue::I64(x) => x as u64 as u128,
            DataValue::I128(x) => x as u128,
            DataValue::F16(x) => x.0 as u128,
            DataValue::F32(x) => x.0 as u128,
            DataValue::F64(x) => x.0 as u128,
            DataValue::F128(x) => x.0,
            DataValue::V128(b) => u128::from_le_bytes(b),
            DataValue::V64(b) => u64::from_le_bytes(b) as u128,
            DataValue::V32(b) => u32::from_le_bytes(b) as u128,
            DataValue::V16(b) => u16::from_le_bytes(b) as u128,
        })
    }
}

impl std::fmt::Display for DataValue {
    /// CLIF literal syntax: integers in decimal, floats in Cranelift's hex
    /// float form, vectors as `0x` and their bytes from last to first.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataValue::I8(x) => write!(f, "{x}"),
            DataValue::I16(x) => write!(f, "{x}"),
            DataValue::I32(x) => write!(f, "{x}"),
            DataValue::I64(x) => write!(f, "{x}"),
            DataValue::I128(x) => write!(f, "{x}"),
            DataValue::F16(x) => write!(f, "{x}"),
            DataValue::F32(x) => write!(f, "{x}"),
            DataValue::F64(x) => write!(f, "{x}"),
            DataValue::F128(x) => write!(f, "{x}"),
            DataValue::V128(b) => write_vector(f, b),
            DataValue::V64(b) => write_vector(f, b),
            DataValue::V32(b) => write_vector(f, b),
            DataValue::V16(b) => write_vector(f, b),
        }
    }
}

fn write_vector(f: &mut std::fmt::Formatter<'_>, bytes: &[u8]) -> std::fmt::Result {
    f.write_str("0x")?;
    for b in bytes.iter().rev() {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}
