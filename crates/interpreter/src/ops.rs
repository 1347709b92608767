//! Scalar semantics of the pure opcodes, on raw bit patterns.
//!
//! Every function here takes lane-sized operands as `u128` bits (already
//! masked to the width) and returns masked bits. Vector instructions apply
//! them lane by lane.

use crate::value::{mask, sext, unsupported_ty};
use crate::InterpError;
use kiln_ir::{FloatCC, IntCC, Opcode, TrapCode, Type};

type R = Result<u128, InterpError>;

fn trap(code: TrapCode) -> InterpError {
    InterpError::Trap(code)
}

/// The full 256-bit unsigned product of two 128-bit numbers, as (hi, lo).
pub fn umul_wide(a: u128, b: u128) -> (u128, u128) {
    let m64 = u64::MAX as u128;
    let (a0, a1) = (a & m64, a >> 64);
    let (b0, b1) = (b & m64, b >> 64);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // Middle column with carries.
    let mid = (p00 >> 64) + (p01 & m64) + (p10 & m64);
    let lo = (p00 & m64) | ((mid & m64) << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// The high half of the signed product of two `w`-bit numbers.
fn smulhi(a: u128, b: u128, w: u32) -> u128 {
    if w < 128 {
        let p = sext(a, w) * sext(b, w); // |p| < 2^126 for w <= 64
        ((p >> w) as u128) & mask(w)
    } else {
        let (mut hi, _) = umul_wide(a, b);
        if (a as i128) < 0 {
            hi = hi.wrapping_sub(b);
        }
        if (b as i128) < 0 {
            hi = hi.wrapping_sub(a);
        }
        hi
    }
}

fn umulhi(a: u128, b: u128, w: u32) -> u128 {
    if w <= 64 {
        ((a * b) >> w) & mask(w)
    } else {
        umul_wide(a, b).0
    }
}

/// Integer operation with one result; `w` is the lane width.
pub fn int_op(op: Opcode, w: u32, a: &[u128]) -> R {
    if !(8..=128).contains(&w) {
        return Err(InterpError::Unsupported(format!("{op} on {w}-bit lanes")));
    }
    let m = mask(w);
    let x = a.first().copied().unwrap_or(0) & m;
    // The second operand of a shift is of any integer type: keep its bits.
    let y = a.get(1).copied().unwrap_or(0);
    let y = if matches!(
        op,
        Opcode::Ishl | Opcode::Ushr | Opcode::Sshr | Opcode::Rotl | Opcode::Rotr
    ) {
        y
    } else {
        y & m
    };
    let sx = sext(x, w);
    let sy = sext(y, w);
    let amt = |y: u128| (y as u32) & (w - 1);
    let r = match op {
        Opcode::Iadd => x.wrapping_add(y),
        Opcode::Isub => x.wrapping_sub(y),
        Opcode::Ineg => x.wrapping_neg(),
        Opcode::Iabs => sx.wrapping_abs() as u128,
        Opcode::Imul => x.wrapping_mul(y),
        Opcode::Umulhi => umulhi(x, y, w),
        Opcode::Smulhi => smulhi(x, y, w),
        Opcode::Udiv | Opcode::Urem => {
            if y == 0 {
                return Err(trap(TrapCode::INTEGER_DIVISION_BY_ZERO));
            }
            if op == Opcode::Udiv {
                x / y
            } else {
                x % y
            }
        }
        Opcode::Sdiv | Opcode::Srem => {
            if y == 0 {
                return Err(trap(TrapCode::INTEGER_DIVISION_BY_ZERO));
            }
            let min = sext(1u128 << (w - 1), w);
            if op == Opcode::Sdiv {
                if sx == min && sy == -1 {
                    return Err(trap(TrapCode::INTEGER_OVERFLOW));
                }
                sx.wrapping_div(sy) as u128
            } else {
                // INT_MIN % -1 is 0 (wrapping_rem gives that at i128 too).
                sx.wrapping_rem(sy) as u128
            }
        }
        Opcode::Smin => sx.min(sy) as u128,
        Opcode::Smax => sx.max(sy) as u128,
        Opcode::Umin => x.min(y),
        Opcode::Umax => x.max(y),
        Opcode::UaddSat => x.saturating_add(y).min(m),
        Opcode::UsubSat => x.saturating_sub(y),
        Opcode::SaddSat | Opcode::SsubSat => {
            let max = (m >> 1) as i128;
            let min = -max - 1;
            let r = if op == Opcode::SaddSat {
                sx.checked_add(sy)
            } else {
                sx.checked_sub(sy)
            };
            match r {
                Some(v) => v.clamp(min, max) as u128,
                None => {
                    if (op == Opcode::SaddSat) == (sy > 0) {
                        max as u128
                    } else {
                        min as u128
                    }
                }
            }
        }
        Opcode::SqmulRoundSat if w <= 64 => {
            // Q-format multiply: (x * y + 2^(w-2)) >> (w-1), saturated.
            let p = sx * sy + (1i128 << (w - 2));
            let max = (m >> 1) as i128;
            (p >> (w - 1)).clamp(-max - 1, max) as u128
        }
        Opcode::AvgRound => {
            // (x + y + 1) >> 1 without overflow.
            (x >> 1) + (y >> 1) + ((x | y) & 1)
        }
        Opcode::Band => x & y,
        Opcode::Bor => x | y,
        Opcode::Bxor => x ^ y,
        Opcode::Bnot => !x,
        Opcode::Ishl => x << amt(y),
        Opcode::Ushr => x >> amt(y),
        Opcode::Sshr => (sx >> amt(y)) as u128,
        Opcode::Rotl | Opcode::Rotr => {
            let mut k = amt(y);
            if op == Opcode::Rotr {
                k = (w - k) % w;
            }
            if k == 0 {
                x
            } else {
                (x << k) | (x >> (w - k))
            }
        }
        Opcode::Clz => (x.leading_zeros() - (128 - w)) as u128,
        Opcode::Cls => {
            let v = if sx < 0 { !x & m } else { x };
            (v.leading_zeros() - (128 - w) - 1) as u128
        }
        Opcode::Ctz => {
            if x == 0 {
                w as u128
            } else {
                x.trailing_zeros() as u128
            }
        }
        Opcode::Popcnt => x.count_ones() as u128,
        Opcode::Bitrev => x.reverse_bits() >> (128 - w),
        // Every integer width is a whole number of bytes.
        Opcode::Bswap => x.swap_bytes() >> (128 - w),
        _ => return Err(InterpError::Unsupported(format!("{op} on i{w}"))),
    };
    Ok(r & m)
}

/// Integer comparison.
pub fn icmp(cc: IntCC, x: u128, y: u128, w: u32) -> bool {
    let (sx, sy) = (sext(x, w), sext(y, w));
    match cc {
        IntCC::Equal => x == y,
        IntCC::NotEqual => x != y,
        IntCC::SignedLessThan => sx < sy,
        IntCC::SignedGreaterThanOrEqual => sx >= sy,
        IntCC::SignedGreaterThan => sx > sy,
        IntCC::SignedLessThanOrEqual => sx <= sy,
        IntCC::UnsignedLessThan => x < y,
        IntCC::UnsignedGreaterThanOrEqual => x >= y,
        IntCC::UnsignedGreaterThan => x > y,
        IntCC::UnsignedLessThanOrEqual => x <= y,
    }
}

/// Overflow-reporting arithmetic: (result, overflowed). `cin` is the
/// carry/borrow in for the `_cin`/`_bin` forms.
pub fn overflow_op(op: Opcode, w: u32, x: u128, y: u128, cin: bool) -> (u128, bool) {
    if !(8..=128).contains(&w) {
        return (0, false);
    }
    let m = mask(w);
    let (x, y) = (x & m, y & m);
    let c = cin as u128;
    let (sx, sy) = (sext(x, w), sext(y, w));
    match op {
        Opcode::UaddOverflow | Opcode::UaddOverflowCin => {
            let (s1, o1) = x.overflowing_add(y);
            let (s2, o2) = s1.overflowing_add(c);
            let r = s2 & m;
            let ovf = if w == 128 { o1 || o2 } else { s2 > m };
            (r, ovf)
        }
        Opcode::UsubOverflow | Opcode::UsubOverflowBin => {
            let (d1, o1) = x.overflowing_sub(y);
            let (d2, o2) = d1.overflowing_sub(c);
            (d2 & m, o1 || o2)
        }
        Opcode::SaddOverflow | Opcode::SaddOverflowCin => {
            // Signed overflow (with or without a carry in) happens exactly
            // when both operands have the same sign and the result's differs.
            let r = x.wrapping_add(y).wrapping_add(c) & m;
            let sign = |v: u128| (v >> (w - 1)) & 1;
            (r, sign(x) == sign(y) && sign(r) != sign(x))
        }
        Opcode::SsubOverflow | Opcode::SsubOverflowBin => {
            // x - y - b overflows exactly when the operands' signs differ and
            // the result's sign differs from x's.
            let r = x.wrapping_sub(y).wrapping_sub(c) & m;
            let sign = |v: u128| (v >> (w - 1)) & 1;
            (r, sign(x) != sign(y) && sign(r) != sign(x))
        }
        Opcode::UmulOverflow => {
            let (hi, lo) = umul_wide(x, y);
            let r = lo & m;
            let ovf = if w == 128 { hi != 0 } else { lo > m || hi != 0 };
            (r, ovf)
        }
        Opcode::SmulOverflow => {
            let r = x.wrapping_mul(y) & m;
            let ovf = match sx.checked_mul(sy) {
                Some(e) => e != sext(r, w),
                None => true,
            };
            (r, ovf)
        }
        _ => (0, false),
    }
}

// ----- Floats -----

pub const CANON_NAN32: u32 = 0x7fc0_0000;
pub const CANON_NAN64: u64 = 0x7ff8_0000_0000_0000;

#[inline]
fn c32(x: f32) -> u128 {
    if x.is_nan() {
        CANON_NAN32 as u128
    } else {
        x.to_bits() as u128
    }
}

#[inline]
fn c64(x: f64) -> u128 {
    if x.is_nan() {
        CANON_NAN64 as u128
    } else {
        x.to_bits() as u128
    }
}

/// IEEE minimum/maximum as CLIF defines them: NaN if either is NaN, and
/// `-0.0 < +0.0`.
macro_rules! minmax {
    ($x:expr, $y:expr, $is_min:expr) => {{
        let (x, y) = ($x, $y);
        if x.is_nan() || y.is_nan() {
            None
        } else if x == y {
            // Equal, possibly zeros of different signs.
            if $is_min {
                Some(if x.is_sign_negative() { x } else { y })
            } else {
                Some(if x.is_sign_negative() { y } else { x })
            }
        } else if (x < y) == $is_min {
            Some(x)
        } else {
            Some(y)
        }
    }};
}

/// Float operation with one result on f32/f64 lanes. Any NaN an arithmetic
/// operation produces is the canonical quiet NaN (positive, top fraction bit
/// set); `fneg`, `fabs` and `fcopysign` are bit operations and keep
/// payloads.
pub fn float_op(op: Opcode, ty: Type, a: &[u128]) -> R {
    let x = a.first().copied().unwrap_or(0);
    let y = a.get(1).copied().unwrap_or(0);
    let z = a.get(2).copied().unwrap_or(0);
    let (bits, sign) = match ty.lane_bits() {
        16 => (16, 1u128 << 15),
        32 => (32, 1u128 << 31),
        64 => (64, 1u128 << 63),
        _ => (128, 1u128 << 127),
    };
    match op {
        Opcode::Fneg => return Ok(x ^ sign),
        Opcode::Fabs => return Ok(x & !sign),
        Opcode::Fcopysign => return Ok((x & !sign) | (y & sign)),
        _ => {}
    }
    match bits {
        16 => {
            let (hx, hy, hz) = (x as u16, y as u16, z as u16);
            if op == Opcode::Fma {
                return Ok(crate::f16::fma(hx, hy, hz) as u128);
            }
            let (x, y) = (crate::f16::to_f64(hx), crate::f16::to_f64(hy));
            let r = match op {
                Opcode::Fadd => x + y,
                Opcode::Fsub => x - y,
                Opcode::Fmul => x * y,
                Opcode::Fdiv => x / y,
                Opcode::Sqrt => x.sqrt(),
                Opcode::Fmin => minmax!(x, y, true).unwrap_or(f64::NAN),
                Opcode::Fmax => minmax!(x, y, false).unwrap_or(f64::NAN),
                Opcode::Ceil => x.ceil(),
                Opcode::Floor => x.floor(),
                Opcode::Trunc => x.trunc(),
                Opcode::Nearest => x.round_ties_even(),
                _ => return Err(unsupported_ty(op.name(), ty)),
            };
            Ok(crate::f16::from_f64(r) as u128)
        }
        32 => {
            let (x, y, z) = (
                f32::from_bits(x as u32),
                f32::from_bits(y as u32),
                f32::from_bits(z as u32),
            );
            Ok(match op {
                Opcode::Fadd => c32(x + y),
                Opcode::Fsub => c32(x - y),
                Opcode::Fmul => c32(x * y),
                Opcode::Fdiv => c32(x / y),
                Opcode::Sqrt => c32(x.sqrt()),
                Opcode::Fma => c32(x.mul_add(y, z)),
                Opcode::Fmin => c32(minmax!(x, y, true).unwrap_or(f32::NAN)),
                Opcode::Fmax => c32(minmax!(x, y, false).unwrap_or(f32::NAN)),
                Opcode::Ceil => c32(x.ceil()),
                Opcode::Floor => c32(x.floor()),
                Opcode::Trunc => c32(x.trunc()),
                Opcode::Nearest => c32(x.round_ties_even()),
                _ => return Err(unsupported_ty(op.name(), ty)),
            })
        }
        64 => {
            let (x, y, z) = (
                f64::from_bits(x as u64),
                f64::from_bits(y as u64),
                f64::from_bits(z as u64),
            );
            Ok(match op {
                Opcode::Fadd => c64(x + y),
                Opcode::Fsub => c64(x - y),
                Opcode::Fmul => c64(x * y),
                Opcode::Fdiv => c64(x / y),
                Opcode::Sqrt => c64(x.sqrt()),
                Opcode::Fma => c64(x.mul_add(y, z)),
                Opcode::Fmin => c64(minmax!(x, y, true).unwrap_or(f64::NAN)),
                Opcode::Fmax => c64(minmax!(x, y, false).unwrap_or(f64::NAN)),
                Opcode::Ceil => c64(x.ceil()),
                Opcode::Floor => c64(x.floor()),
                Opcode::Trunc => c64(x.trunc()),
                Opcode::Nearest => c64(x.round_ties_even()),
                _ => return Err(unsupported_ty(op.name(), ty)),
            })
        }
        _ => Err(unsupported_ty(op.name(), ty)),
    }
}

/// Float comparison of two f32/f64 lanes.
pub fn fcmp(cc: FloatCC, ty: Type, x: u128, y: u128) -> Result<bool, InterpError> {
    let (x, y) = match ty.lane_bits() {
        16 => (crate::f16::to_f64(x as u16), crate::f16::to_f64(y as u16)),
        32 => (
            f32::from_bits(x as u32) as f64,
            f32::from_bits(y as u32) as f64,
        ),
        64 => (f64::from_bits(x as u64), f64::from_bits(y as u64)),
        _ => return Err(unsupported_ty("fcmp", ty)),
    };
    let uno = x.is_nan() || y.is_nan();
    Ok(match cc {
        FloatCC::Ordered => !uno,
        FloatCC::Unordered => uno,
        FloatCC::Equal => x == y,
        FloatCC::NotEqual => x != y,
        FloatCC::OrderedNotEqual => !uno && x != y,
        FloatCC::UnorderedOrEqual => uno || x == y,
        FloatCC::LessThan => x < y,
        FloatCC::LessThanOrEqual => x <= y,
        FloatCC::GreaterThan => x > y,
        FloatCC::GreaterThanOrEqual => x >= y,
        FloatCC::UnorderedOrLessThan => uno || x < y,
        FloatCC::UnorderedOrLessThanOrEqual => uno || x <= y,
        FloatCC::UnorderedOrGreaterThan => uno || x > y,
        FloatCC::UnorderedOrGreaterThanOrEqual => uno || x >= y,
    })
}

/// A float lane as an f64 (exact for f32), for conversions.
fn as_f64(bits: u128, ty: Type) -> Result<f64, InterpError> {
    match ty.lane_bits() {
        16 => Ok(crate::f16::to_f64(bits as u16)),
        32 => Ok(f32::from_bits(bits as u32) as f64),
        64 => Ok(f64::from_bits(bits as u64)),
        _ => Err(unsupported_ty("float conversion", ty)),
    }
}

/// `fcvt_to_{s,u}int{,_sat}` of one lane: `from` is the float type, `w` the
/// integer width.
pub fn fcvt_to_int(op: Opcode, from: Type, bits: u128, w: u32) -> Result<u128, InterpError> {
    let x = as_f64(bits, from)?;
    let signed = matches!(op, Opcode::FcvtToSint | Opcode::FcvtToSintSat);
    let sat = matches!(op, Opcode::FcvtToSintSat | Opcode::FcvtToUintSat);
    if x.is_nan() {
        return if sat {
            Ok(0)
        } else {
            Err(trap(TrapCode::BAD_CONVERSION_TO_INTEGER))
        };
    }
    let t = x.trunc();
    // Bounds as exact powers of two: [lo, hi).
    let (lo, hi) = if signed {
        (-(2f64.powi(w as i32 - 1)), 2f64.powi(w as i32 - 1))
    } else {
        (0.0, 2f64.powi(w as i32))
    };
    let m = mask(w);
    if t < lo || t >= hi {
        if !sat {
            return Err(trap(TrapCode::INTEGER_OVERFLOW));
        }
        return Ok(if t < lo {
            if signed {
                (1u128 << (w - 1)) & m
            } else {
                0
            }
        } else if signed {
            m >> 1
        } else {
            m
        });
    }
    Ok(if signed {
        (t as i128) as u128 & m
    } else {
        (t as u128) & m
    })
}

/// `fcvt_from_{s,u}int` of one lane: integer of width `w` to float type `to`.
pub fn fcvt_from_int(signed: bool, bits: u128, w: u32, to: Type) -> R {
    match to.lane_bits() {
        16 => {
            let (neg, mag) = if signed {
                let v = sext(bits, w);
                (v < 0, v.unsigned_abs())
            } else {
                (false, bits)
            };
            Ok(crate::f16::from_scaled(neg, mag, 0) as u128)
        }
        32 => Ok(if signed {
            sext(bits, w) as f32
        } else {
            bits as f32
        }
        .to_bits() as u128),
        64 => Ok(if signed {
            sext(bits, w) as f64
        } else {
            bits as f64
        }
        .to_bits() as u128),
        _ => Err(unsupported_ty("fcvt_from_int", to)),
    }
}

/// `fpromote`/`fdemote` between f32 and f64 (NaNs canonical).
pub fn fconvert(from: Type, to: Type, bits: u128) -> R {
    match (from.lane_bits(), to.lane_bits()) {
        (16, 32) => Ok(c32(crate::f16::to_f64(bits as u16) as f32)),
        (16, 64) => Ok(c64(crate::f16::to_f64(bits as u16))),
        (32, 16) => Ok(crate::f16::from_f64(f32::from_bits(bits as u32) as f64) as u128),
        (64, 16) => Ok(crate::f16::from_f64(f64::from_bits(bits as u64)) as u128),
        (32, 64) => Ok(c64(f32::from_bits(bits as u32) as f64)),
        (64, 32) => Ok(c32(f64::from_bits(bits as u64) as f32)),
        (a, b) if a == b => Ok(bits),
        _ => Err(InterpError::Unsupported(format!(
            "float conversion from {from} to {to}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_multiply() {
        assert_eq!(umul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
        assert_eq!(umul_wide(1 << 64, 1 << 64), (1, 0));
        assert_eq!(smulhi(u128::MAX, u128::MAX, 128), 0); // -1 * -1 = 1
        assert_eq!(smulhi(u128::MAX, 2, 128), u128::MAX); // -2 -> hi = -1
    }
}
