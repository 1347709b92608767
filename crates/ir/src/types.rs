//! CLIF value types.
//!
//! A `Type` packs a lane kind and a lane count into 16 bits: bits 0..4 are the
//! lane kind, bits 4..8 log2 of the lane count, bit 8 marks a dynamic vector
//! (`i32x4xN`: the lane count is a minimum, scaled at run time).

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Type(u16);

const KIND_MASK: u16 = 0xf;
const LOG2_SHIFT: u16 = 4;
const LOG2_MASK: u16 = 0xf;
const DYNAMIC_BIT: u16 = 1 << 8;

/// Lane kinds in encoding order; index = kind code.
const LANES: [(&str, u32, bool); 10] = [
    ("INVALID", 0, false),
    ("i8", 8, false),
    ("i16", 16, false),
    ("i32", 32, false),
    ("i64", 64, false),
    ("i128", 128, false),
    ("f16", 16, true),
    ("f32", 32, true),
    ("f64", 64, true),
    ("f128", 128, true),
];

impl Type {
    /// "No type", used for instructions without results.
    pub const INVALID: Type = Type(0);
    pub const I8: Type = Type(1);
    pub const I16: Type = Type(2);
    pub const I32: Type = Type(3);
    pub const I64: Type = Type(4);
    pub const I128: Type = Type(5);
    pub const F16: Type = Type(6);
    pub const F32: Type = Type(7);
    pub const F64: Type = Type(8);
    pub const F128: Type = Type(9);

    /// Every scalar type.
    pub const SCALARS: [Type; 9] = [
        Type::I8,
        Type::I16,
        Type::I32,
        Type::I64,
        Type::I128,
        Type::F16,
        Type::F32,
        Type::F64,
        Type::F128,
    ];

    /// The raw 16-bit encoding (stable: part of the stencil key).
    pub const fn repr(self) -> u16 {
        self.0
    }

    /// Decodes a raw encoding, rejecting invalid ones.
    pub fn from_repr(bits: u16) -> Option<Type> {
        let kind = bits & KIND_MASK;
        let log2 = (bits >> LOG2_SHIFT) & LOG2_MASK;
        if bits >> 9 != 0 || kind as usize >= LANES.len() || log2 > 8 {
            return None;
        }
        if kind == 0 && bits != 0 {
            return None;
        }
        let ty = Type(bits);
        if ty.is_dynamic() && log2 == 0 {
            return None;
        }
        if ty.bits() > 2048 {
            return None;
        }
        Some(ty)
    }

    fn kind(self) -> u16 {
        self.0 & KIND_MASK
    }

    pub fn is_invalid(self) -> bool {
        self.0 == 0
    }

    /// The lane type (the type itself for scalars).
    pub fn lane_type(self) -> Type {
        Type(self.kind())
    }

    pub fn log2_lane_count(self) -> u32 {
        ((self.0 >> LOG2_SHIFT) & LOG2_MASK) as u32
    }

    /// Number of lanes (the minimum for dynamic vectors).
    pub fn lane_count(self) -> u32 {
        1 << self.log2_lane_count()
    }

    pub fn lane_bits(self) -> u32 {
        LANES[self.kind() as usize].1
    }

    /// Total width in bits (the minimum for dynamic vectors).
    pub fn bits(self) -> u32 {
        self.lane_bits() * self.lane_count()
    }

    pub fn bytes(self) -> u32 {
        self.bits().div_ceil(8)
    }

    pub fn is_int(self) -> bool {
        (1..=5).contains(&self.kind())
    }

    pub fn is_float(self) -> bool {
        (6..=9).contains(&self.kind())
    }

    pub fn is_vector(self) -> bool {
        self.log2_lane_count() > 0
    }

    pub fn is_dynamic_vector(self) -> bool {
        self.is_dynamic()
    }

    fn is_dynamic(self) -> bool {
        self.0 & DYNAMIC_BIT != 0
    }

    pub fn is_scalar(self) -> bool {
        !self.is_invalid() && !self.is_vector()
    }

    /// A vector of `lanes` lanes of this scalar type, if it is representable.
    pub fn by(self, lanes: u32) -> Option<Type> {
        if !lanes.is_power_of_two() || self.is_vector() || self.is_invalid() {
            return None;
        }
        let log2 = lanes.trailing_zeros() as u16 + self.log2_lane_count() as u16;
        if log2 > 8 {
            return None;
        }
        Type::from_repr((self.0 & !(LOG2_MASK << LOG2_SHIFT)) | (log2 << LOG2_SHIFT))
    }

    /// The dynamic vector type with this fixed vector type as its minimum.
    pub fn to_dynamic(self) -> Option<Type> {
        if !self.is_vector() || self.is_dynamic() {
            return None;
        }
        Some(Type(self.0 | DYNAMIC_BIT))
    }

    /// The fixed vector type underlying a dynamic one.
    pub fn dynamic_to_fixed(self) -> Type {
        Type(self.0 & !DYNAMIC_BIT)
    }

    /// The same shape with lane type replaced.
    pub fn replace_lanes(self, lane: Type) -> Type {
        Type((self.0 & !KIND_MASK) | lane.kind())
    }

    /// The integer type of the same lane width and count (`f32x4` -> `i32x4`).
    pub fn as_int(self) -> Type {
        self.replace_lanes(match self.lane_bits() {
            8 => Type::I8,
            16 => Type::I16,
            32 => Type::I32,
            64 => Type::I64,
            _ => Type::I128,
        })
    }

    /// The "truthy" result type of a comparison: `i8` for scalars, the integer
    /// vector of the same lane width for vectors.
    pub fn as_truthy(self) -> Type {
        if self.is_vector() {
            self.as_int()
        } else {
            Type::I8
        }
    }

    /// The integer type of the given bit width.
    pub fn int(bits: u32) -> Option<Type> {
        match bits {
            8 => Some(Type::I8),
            16 => Some(Type::I16),
            32 => Some(Type::I32),
            64 => Some(Type::I64),
            128 => Some(Type::I128),
            _ => None,
        }
    }

    /// Lanes of half the width (`i64` -> `i32`), if any.
    pub fn half_width(self) -> Option<Type> {
        let lane = match self.lane_type() {
            Type::I16 => Type::I8,
            Type::I32 => Type::I16,
            Type::I64 => Type::I32,
            Type::I128 => Type::I64,
            Type::F32 => Type::F16,
            Type::F64 => Type::F32,
            Type::F128 => Type::F64,
            _ => return None,
        };
        Some(self.replace_lanes(lane))
    }

    /// Lanes of double the width (`i32` -> `i64`), if any.
    pub fn double_width(self) -> Option<Type> {
        let lane = match self.lane_type() {
            Type::I8 => Type::I16,
            Type::I16 => Type::I32,
            Type::I32 => Type::I64,
            Type::I64 => Type::I128,
            Type::F16 => Type::F32,
            Type::F32 => Type::F64,
            Type::F64 => Type::F128,
            _ => return None,
        };
        let ty = self.replace_lanes(lane);
        (ty.bits() <= 2048).then_some(ty)
    }

    /// Half the lanes, if more than one.
    pub fn half_vector(self) -> Option<Type> {
        if self.log2_lane_count() == 0 {
            return None;
        }
        Some(Type(self.0 - (1 << LOG2_SHIFT)))
    }

    /// Twice the lanes.
    pub fn double_vector(self) -> Option<Type> {
        if self.log2_lane_count() >= 8 {
            return None;
        }
        Some(Type(self.0 + (1 << LOG2_SHIFT)))
    }

    /// Parses the text of a static type: `i32`, `f64`, `i8x16`, `i32x4xN`.
    pub fn parse(text: &str) -> Option<Type> {
        let (body, dynamic) = match text.strip_suffix("xN") {
            Some(b) => (b, true),
            None => (text, false),
        };
        let (lane_text, lanes) = match body.split_once('x') {
            Some((l, n)) => (l, n.parse::<u32>().ok()?),
            None => (body, 1),
        };
        let kind = LANES.iter().skip(1).position(|l| l.0 == lane_text)? + 1;
        let lane = Type(kind as u16);
        let ty = if lanes == 1 && !body.contains('x') {
            lane
        } else {
            if lanes < 2 {
                return None;
            }
            lane.by(lanes)?
        };
        if dynamic {
            ty.to_dynamic()
        } else {
            Some(ty)
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_invalid() {
            return f.write_str("INVALID");
        }
        f.write_str(LANES[self.kind() as usize].0)?;
        if self.is_vector() {
            write!(f, "x{}", self.lane_count())?;
        }
        if self.is_dynamic() {
            f.write_str("xN")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A set of types an instruction's type variable may take.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TypeSet {
    /// Allowed integer lane widths, as a bit mask of `8 << i` (bit 0 = 8 bits).
    pub int_lanes: u8,
    /// Allowed float lane widths, as a bit mask of `16 << i` (bit 0 = 16 bits).
    pub float_lanes: u8,
    pub scalars: bool,
    pub vectors: bool,
    pub dynamic: bool,
}

impl TypeSet {
    const ALL_INTS: u8 = 0b11111;
    const ALL_FLOATS: u8 = 0b1111;

    /// Every scalar and vector type.
    pub const ANY: TypeSet = TypeSet::new(Self::ALL_INTS, Self::ALL_FLOATS, true, true);
    /// Integers, scalar and vector.
    pub const INT: TypeSet = TypeSet::new(Self::ALL_INTS, 0, true, true);
    /// Floats, scalar and vector.
    pub const FLOAT: TypeSet = TypeSet::new(0, Self::ALL_FLOATS, true, true);
    /// Scalar integers i8..i128.
    pub const INT_SCALAR: TypeSet = TypeSet::new(Self::ALL_INTS, 0, true, false);
    /// Scalar integers i8..i64.
    pub const NARROW_INT: TypeSet = TypeSet::new(0b1111, 0, true, false);
    /// Scalar integers i16..i128 (targets of extension).
    pub const WIDE_INT: TypeSet = TypeSet::new(0b11110, 0, true, false);
    /// i32 and i64: pointers.
    pub const IADDR: TypeSet = TypeSet::new(0b1100, 0, true, false);
    /// Scalar floats.
    pub const FLOAT_SCALAR: TypeSet = TypeSet::new(0, Self::ALL_FLOATS, true, false);
    /// Integer vectors.
    pub const INT_VECTOR: TypeSet = TypeSet::new(Self::ALL_INTS, 0, false, true);
    /// Float vectors.
    pub const FLOAT_VECTOR: TypeSet = TypeSet::new(0, Self::ALL_FLOATS, false, true);
    /// Every vector.
    pub const VECTOR: TypeSet = TypeSet::new(Self::ALL_INTS, Self::ALL_FLOATS, false, true);
    /// Every scalar.
    pub const SCALAR: TypeSet = TypeSet::new(Self::ALL_INTS, Self::ALL_FLOATS, true, false);
    /// Dynamic vectors.
    pub const DYNAMIC: TypeSet = TypeSet {
        int_lanes: Self::ALL_INTS,
        float_lanes: Self::ALL_FLOATS,
        scalars: false,
        vectors: false,
        dynamic: true,
    };

    pub const fn new(int_lanes: u8, float_lanes: u8, scalars: bool, vectors: bool) -> TypeSet {
        TypeSet {
            int_lanes,
            float_lanes,
            scalars,
            vectors,
            dynamic: vectors,
        }
    }

    pub fn contains(&self, ty: Type) -> bool {
        if ty.is_invalid() {
            return false;
        }
        let shape_ok = if ty.is_dynamic() {
            self.dynamic
        } else if ty.is_vector() {
            self.vectors && ty.bits() <= 512 && ty.bits() >= 16
        } else {
            self.scalars
        };
        if !shape_ok {
            return false;
        }
        let lb = ty.lane_bits();
        if ty.is_int() {
            self.int_lanes & (1 << (lb / 8).trailing_zeros()) != 0
        } else {
            self.float_lanes & (1 << (lb / 16).trailing_zeros()) != 0
        }
    }
}

impl Type {
    pub const I8X16: Type = Type(0x41);
    pub const I16X8: Type = Type(0x32);
    pub const I32X4: Type = Type(0x23);
    pub const I64X2: Type = Type(0x14);
    pub const F32X4: Type = Type(0x27);
    pub const F64X2: Type = Type(0x18);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        for s in [
            "i8", "i16", "i32", "i64", "i128", "f16", "f32", "f64", "f128", "i8x16", "i32x4",
            "f64x2", "i64x2", "f32x4", "i16x4", "i32x4xN", "i8x8",
        ] {
            let ty = Type::parse(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(ty.to_string(), s);
            assert_eq!(Type::from_repr(ty.repr()), Some(ty));
        }
        for bad in [
            "i7", "i32x3", "x4", "i32x", "f32x0", "i32x1", "", "b1", "i32x512",
        ] {
            assert_eq!(Type::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn shapes() {
        let v = Type::parse("i32x4").unwrap();
        assert_eq!(v.bits(), 128);
        assert_eq!(v.lane_type(), Type::I32);
        assert_eq!(v.as_truthy(), v);
        assert_eq!(Type::F64.as_truthy(), Type::I8);
        assert_eq!(Type::parse("f32x4").unwrap().as_int(), v);
        assert_eq!(Type::I128.half_width(), Some(Type::I64));
        assert_eq!(Type::I64.double_width(), Some(Type::I128));
        assert!(TypeSet::INT.contains(v));
        assert!(!TypeSet::INT_SCALAR.contains(v));
        assert!(TypeSet::IADDR.contains(Type::I64));
        assert!(!TypeSet::IADDR.contains(Type::I16));
        assert!(TypeSet::FLOAT_SCALAR.contains(Type::F128));
        assert!(!TypeSet::FLOAT.contains(Type::I32));
    }
}
