//! Immediate operands. Floats are kept as raw IEEE-754 bits so that NaN
//! payloads and signed zeros survive every round trip.

/// A 64-bit integer immediate; narrower types keep it sign- or zero-extended
/// as the reader produced it and consumers mask to the type width.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Imm64(pub i64);

impl Imm64 {
    pub fn bits(self) -> i64 {
        self.0
    }
    /// The value zero-extended from `bits` wide.
    pub fn zero_extend_from(self, bits: u32) -> u64 {
        if bits >= 64 {
            self.0 as u64
        } else {
            (self.0 as u64) & ((1u64 << bits) - 1)
        }
    }
    /// The value sign-extended from `bits` wide.
    pub fn sign_extend_from(self, bits: u32) -> i64 {
        if bits >= 64 {
            self.0
        } else {
            let shift = 64 - bits;
            (self.0 << shift) >> shift
        }
    }
}

/// An unsigned 8-bit immediate (lane indices).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Uimm8(pub u8);

/// A signed 32-bit address offset.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Offset32(pub i32);

/// An IEEE-754 binary16 value, as bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Ieee16(pub u16);

/// An IEEE-754 binary32 value, as bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Ieee32(pub u32);

/// An IEEE-754 binary64 value, as bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Ieee64(pub u64);

/// An IEEE-754 binary128 value, as bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Ieee128(pub u128);

impl Ieee32 {
    pub fn with_float(x: f32) -> Self {
        Ieee32(x.to_bits())
    }
    pub fn as_f32(self) -> f32 {
        f32::from_bits(self.0)
    }
}

impl Ieee64 {
    pub fn with_float(x: f64) -> Self {
        Ieee64(x.to_bits())
    }
    pub fn as_f64(self) -> f64 {
        f64::from_bits(self.0)
    }
}

/// The bytes of a vector or 128-bit constant, little-endian.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct ConstantData(pub Vec<u8>);

impl ConstantData {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
