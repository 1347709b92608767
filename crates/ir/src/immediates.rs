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

// ----- Text forms -----

use std::fmt;

/// Writes `x` as `0x` and groups of four hex digits separated by `_`, using
/// the fewest whole groups (`0xffff`, `0x0001_0000`).
fn write_grouped_hex(f: &mut fmt::Formatter<'_>, x: u64) -> fmt::Result {
    let groups = (64 - x.leading_zeros()).div_ceil(16).max(1);
    f.write_str("0x")?;
    for g in (0..groups).rev() {
        if g + 1 != groups {
            f.write_str("_")?;
        }
        write!(f, "{:04x}", (x >> (g * 16)) & 0xffff)?;
    }
    Ok(())
}

impl fmt::Display for Imm64 {
    /// Decimal below 10000 (so every negative number), grouped hex above.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 10_000 {
            write!(f, "{}", self.0)
        } else {
            write_grouped_hex(f, self.0 as u64)
        }
    }
}

impl Imm64 {
    /// The value sign-extended from `bits`, as a new immediate.
    pub fn sign_extended(self, bits: u32) -> Imm64 {
        if bits == 0 {
            self
        } else {
            Imm64(self.sign_extend_from(bits))
        }
    }
}

impl fmt::Display for Uimm8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Offset32 {
    /// Empty for zero, else a signed number (`+8`, `-4`, `+0x2710`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return Ok(());
        }
        let mag = (self.0 as i64).unsigned_abs();
        f.write_str(if self.0 < 0 { "-" } else { "+" })?;
        if mag < 10_000 {
            write!(f, "{mag}")
        } else {
            write_grouped_hex(f, mag)
        }
    }
}

/// Parses an integer literal: optional sign, decimal or `0x` hex digits,
/// `_` allowed between digits. Accepts `-2^63 ..= 2^64-1`; returns the
/// value as the 64-bit pattern.
pub fn parse_int_literal(s: &str) -> Result<i64, &'static str> {
    let v = parse_wide_int(s)?;
    if v < i64::MIN as i128 || v > u64::MAX as i128 {
        return Err("integer out of range");
    }
    Ok(v as i64)
}

/// Parses an integer literal into an `i128` (range `-2^127 ..= 2^127-1`
/// for decimals; hex up to 32 digits is taken as a bit pattern).
pub fn parse_wide_int(s: &str) -> Result<i128, &'static str> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) => (16u32, h),
        None => (10u32, body),
    };
    let mut value: u128 = 0;
    let mut ndigits = 0u32;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(radix).ok_or("invalid character in number")?;
        ndigits += 1;
        value = value
            .checked_mul(radix as u128)
            .and_then(|v| v.checked_add(d as u128))
            .ok_or("integer out of range")?;
    }
    if ndigits == 0 {
        return Err("no digits in number");
    }
    if radix == 16 {
        // A hex literal is a bit pattern: up to 128 bits.
        let v = value as i128;
        return Ok(if neg { v.wrapping_neg() } else { v });
    }
    if neg {
        if value > (i128::MAX as u128) + 1 {
            return Err("integer out of range");
        }
        Ok((value as i128).wrapping_neg())
    } else {
        if value > i128::MAX as u128 {
            return Err("integer out of range");
        }
        Ok(value as i128)
    }
}

/// Formats IEEE bits with exponent width `w` and trailing significand width
/// `t` in Cranelift's text form: `0x1.8000000000000p1`, `0x0.800000p-126`,
/// `0.0`, `-0.0`, `+Inf`, `-Inf`, `+NaN`, `+NaN:0x1`, `+sNaN:0x1`.
fn format_ieee(f: &mut fmt::Formatter<'_>, bits: u128, w: u32, t: u32) -> fmt::Result {
    let t_mask = (1u128 << t) - 1;
    let frac = bits & t_mask;
    let max_exp = (1u128 << w) - 1;
    let biased = (bits >> t) & max_exp;
    let negative = (bits >> (w + t)) & 1 == 1;
    let bias = (1i32 << (w - 1)) - 1;
    let ndigits = t.div_ceil(4);
    let aligned = frac << (ndigits * 4 - t);
    if negative {
        f.write_str("-")?;
    }
    if biased == max_exp {
        if !negative {
            f.write_str("+")?;
        }
        let quiet = 1u128 << (t - 1);
        let payload = frac & (quiet - 1);
        return if frac == 0 {
            f.write_str("Inf")
        } else if frac & quiet != 0 {
            if payload == 0 {
                f.write_str("NaN")
            } else {
                write!(f, "NaN:0x{payload:x}")
            }
        } else {
            write!(f, "sNaN:0x{payload:x}")
        };
    }
    if biased == 0 {
        if frac == 0 {
            return f.write_str("0.0");
        }
        return write!(
            f,
            "0x0.{:0width$x}p{}",
            aligned,
            1 - bias,
            width = ndigits as usize
        );
    }
    write!(
        f,
        "0x1.{:0width$x}p{}",
        aligned,
        biased as i32 - bias,
        width = ndigits as usize
    )
}

/// Parses the text forms [`format_ieee`] writes, plus hex floats with any
/// number of digits and optional radix point / exponent (`0x1.8p3`,
/// `0x10`), exactly; anything that would need rounding is an error.
fn parse_ieee(s: &str, w: u32, t: u32) -> Result<u128, &'static str> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => (1u128 << (w + t), &s[1..]),
        Some(b'+') => (0, &s[1..]),
        _ => (0, s),
    };
    let exp_all = ((1u128 << w) - 1) << t;
    let quiet = 1u128 << (t - 1);
    let Some(hex) = body.strip_prefix("0x") else {
        return match body {
            "0.0" => Ok(sign),
            "Inf" => Ok(sign | exp_all),
            "NaN" => Ok(sign | exp_all | quiet),
            _ => {
                if let Some(p) = body.strip_prefix("NaN:0x") {
                    let p = parse_hex_payload(p)?;
                    if p < quiet {
                        return Ok(sign | exp_all | quiet | p);
                    }
                    Err("NaN payload out of range")
                } else if let Some(p) = body.strip_prefix("sNaN:0x") {
                    let p = parse_hex_payload(p)?;
                    if p > 0 && p < quiet {
                        return Ok(sign | exp_all | p);
                    }
                    Err("sNaN payload out of range")
                } else {
                    Err("float must be hexadecimal")
                }
            }
        };
    };
    let (mant, exp_text) = match hex.find(['p', 'P']) {
        Some(i) => (&hex[..i], Some(&hex[i + 1..])),
        None => (hex, None),
    };
    let mut exponent: i64 = match exp_text {
        Some(e) => e.parse::<i16>().map_err(|_| "bad exponent")? as i64,
        None => 0,
    };
    let mut sig: u128 = 0;
    let mut digits = 0u32;
    let mut after_point: Option<u32> = None;
    for c in mant.chars() {
        if c == '.' {
            if after_point.is_some() {
                return Err("multiple radix points");
            }
            after_point = Some(0);
            continue;
        }
        if c == '_' {
            continue;
        }
        let d = c.to_digit(16).ok_or("invalid character in float")?;
        digits += 1;
        if digits > 32 {
            return Err("too many digits");
        }
        sig = (sig << 4) | d as u128;
        if let Some(n) = after_point.as_mut() {
            *n += 1;
        }
    }
    if digits == 0 {
        return Err("no digits");
    }
    if sig == 0 {
        return Ok(sign);
    }
    exponent -= 4 * after_point.unwrap_or(0) as i64;
    // Normalize so that the leading one is bit `t`.
    let width = 128 - sig.leading_zeros();
    if width > t + 1 {
        let drop = width - (t + 1);
        if sig & ((1u128 << drop) - 1) != 0 {
            return Err("too many significant bits");
        }
        sig >>= drop;
        exponent += drop as i64;
    } else {
        let add = t + 1 - width;
        sig <<= add;
        exponent -= add as i64;
    }
    let bias = (1i64 << (w - 1)) - 1;
    let biased = exponent + bias + t as i64;
    if biased > (1i64 << w) - 2 {
        return Err("magnitude too large");
    }
    if biased > 0 {
        return Ok(sign | ((biased as u128) << t) | (sig & ((1u128 << t) - 1)));
    }
    let shift = 1 - biased;
    if shift > t as i64 {
        return Err("magnitude too small");
    }
    if sig & ((1u128 << shift) - 1) != 0 {
        return Err("subnormal underflow");
    }
    Ok(sign | (sig >> shift))
}

fn parse_hex_payload(s: &str) -> Result<u128, &'static str> {
    if s.is_empty() || s.len() > 32 {
        return Err("bad NaN payload");
    }
    u128::from_str_radix(s, 16).map_err(|_| "bad NaN payload")
}

macro_rules! ieee_text {
    ($ty:ident, $raw:ty, $w:expr, $t:expr) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                format_ieee(f, self.0 as u128, $w, $t)
            }
        }
        impl std::str::FromStr for $ty {
            type Err = &'static str;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_ieee(s, $w, $t).map(|b| $ty(b as $raw))
            }
        }
    };
}

ieee_text!(Ieee16, u16, 5, 10);
ieee_text!(Ieee32, u32, 8, 23);
ieee_text!(Ieee64, u64, 11, 52);
ieee_text!(Ieee128, u128, 15, 112);

impl fmt::Display for ConstantData {
    /// `0x` and the bytes from last to first (the little-endian number).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        for b in self.0.iter().rev() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn imm64_and_offsets() {
        assert_eq!(Imm64(0).to_string(), "0");
        assert_eq!(Imm64(9999).to_string(), "9999");
        assert_eq!(Imm64(10000).to_string(), "0x2710");
        assert_eq!(Imm64(-10000).to_string(), "-10000");
        assert_eq!(Imm64(0x114d8).to_string(), "0x0001_14d8");
        assert_eq!(Imm64(-1).sign_extended(32).to_string(), "-1");
        assert_eq!(Offset32(0).to_string(), "");
        assert_eq!(Offset32(8).to_string(), "+8");
        assert_eq!(Offset32(-10000).to_string(), "-0x2710");
        assert_eq!(Offset32(i32::MIN).to_string(), "-0x8000_0000");
        assert_eq!(parse_int_literal("0x7FFF_FFFF"), Ok(0x7fff_ffff));
        assert_eq!(parse_int_literal("-1"), Ok(-1));
        assert_eq!(parse_int_literal("18446744073709551615"), Ok(-1));
        assert!(parse_int_literal("18446744073709551616").is_err());
        assert!(parse_int_literal("0x").is_err());
        assert!(parse_int_literal("12a").is_err());
    }

    #[test]
    fn float_forms() {
        let cases32: &[(u32, &str)] = &[
            (0x4040_0000, "0x1.800000p1"),
            (0, "0.0"),
            (0x8000_0000, "-0.0"),
            (0x7f80_0000, "+Inf"),
            (0xff80_0000, "-Inf"),
            (0x7fc0_0000, "+NaN"),
            (0x7fc0_0001, "+NaN:0x1"),
            (0x7f80_0001, "+sNaN:0x1"),
            (0x0040_0000, "0x0.800000p-126"),
            (0x0000_0001, "0x0.000002p-126"),
        ];
        for &(bits, text) in cases32 {
            assert_eq!(Ieee32(bits).to_string(), text);
            assert_eq!(text.parse::<Ieee32>(), Ok(Ieee32(bits)), "{text}");
        }
        assert_eq!(Ieee64(3.0f64.to_bits()).to_string(), "0x1.8000000000000p1");
        assert_eq!("0x1.8p1".parse::<Ieee64>(), Ok(Ieee64(3.0f64.to_bits())));
        assert_eq!("-0x1p-1".parse::<Ieee32>(), Ok(Ieee32((-0.5f32).to_bits())));
        assert_eq!(Ieee16(0x3e00).to_string(), "0x1.800p0");
        assert_eq!("NaN".parse::<Ieee64>(), Ok(Ieee64(0x7ff8_0000_0000_0000)));
        assert!("1.5".parse::<Ieee32>().is_err());
        assert!("0x1p200".parse::<Ieee32>().is_err());
        assert!("0x1.000001p0".parse::<Ieee32>().is_err());
        assert!("sNaN:0x0".parse::<Ieee32>().is_err());
        for bits in [1u128, 1 << 111, (1u128 << 127) | 5] {
            let s = Ieee128(bits).to_string();
            assert_eq!(s.parse::<Ieee128>(), Ok(Ieee128(bits)), "{s}");
        }
    }
}
