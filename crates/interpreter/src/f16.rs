//! IEEE binary16 (`f16`) arithmetic by exact conversion to and from `f64`.
//!
//! `f16 -> f64` is exact. Results of `+ - * / sqrt` are computed in `f64`
//! and rounded once more to `f16`; since 53 >= 2 * 11 + 2 this double
//! rounding is innocuous (the result equals a single correctly rounded
//! operation). `fma` is computed exactly with integers (every f16 is a
//! multiple of 2^-24, so a product is a multiple of 2^-48 below 2^33), then
//! rounded once.

pub const CANON_NAN16: u16 = 0x7e00;

/// The exact value of an f16 as f64 (NaN payloads are not kept).
pub fn to_f64(h: u16) -> f64 {
    let neg = h >> 15 != 0;
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    let mag = match exp {
        0 => frac * 2f64.powi(-24),
        31 => {
            if frac == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        _ => (1024.0 + frac) * 2f64.powi(exp - 25),
    };
    if neg {
        -mag
    } else {
        mag
    }
}

/// Rounds `(-1)^neg * m * 2^e` to the nearest f16, ties to even.
pub fn from_scaled(neg: bool, m: u128, e: i32) -> u16 {
    let sign = if neg { 0x8000u16 } else { 0 };
    if m == 0 {
        return sign;
    }
    let nbits = 128 - m.leading_zeros() as i32;
    let top = nbits - 1 + e; // exponent of the leading bit
    if top > 16 {
        return sign | 0x7c00; // certainly overflows
    }
    // The quantum of the result: 11 significant bits, or 2^-24 below the
    // normal range.
    let q = (top - 10).max(-24);
    let mut r: u128 = if e >= q {
        m << (e - q).min(100)
    } else {
        let s = q - e;
        if s >= 128 {
            0 // far below half of the smallest subnormal
        } else {
            let kept = m >> s;
            let rem = m & ((1u128 << s) - 1);
            let half = 1u128 << (s - 1);
            if rem > half || (rem == half && kept & 1 == 1) {
                kept + 1
            } else {
                kept
            }
        }
    };
    let mut q = q;
    if r >= 1 << 11 {
        r >>= 1;
        q += 1;
    }
    if r < 1 << 10 {
        // Subnormal (q == -24) or zero.
        return sign | r as u16;
    }
    let exp = q + 25;
    if exp >= 31 {
        return sign | 0x7c00;
    }
    sign | ((exp as u16) << 10) | (r as u16 & 0x3ff)
}

/// Rounds an f64 to the nearest f16 (NaN canonical).
pub fn from_f64(x: f64) -> u16 {
    if x.is_nan() {
        return CANON_NAN16;
    }
    let neg = x.is_sign_negative();
    if x.is_infinite() {
        return if neg { 0xfc00 } else { 0x7c00 };
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if exp == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp - 1075)
    };
    from_scaled(neg, m as u128, e)
}

/// `a * b + c` with one rounding.
pub fn fma(a: u16, b: u16, c: u16) -> u16 {
    let (fa, fb, fc) = (to_f64(a), to_f64(b), to_f64(c));
    if !(fa.is_finite() && fb.is_finite() && fc.is_finite()) {
        // Infinities and NaNs: f64 gives the right special value.
        return from_f64(fa.mul_add(fb, fc));
    }
    // Every finite f16 is k * 2^-24 with |k| < 2^41 (65504 = 2047 * 2^5).
    let int = |x: f64| (x * 2f64.powi(24)) as i128;
    let exact = int(fa) * int(fb) + (int(fc) << 24); // units of 2^-48
    if exact == 0 {
        // An exact zero is +0 unless both addends are zeros of sign -.
        let prod_neg = fa.is_sign_negative() != fb.is_sign_negative();
        let prod_zero = fa == 0.0 || fb == 0.0;
        return if prod_zero && fc == 0.0 && prod_neg && fc.is_sign_negative() {
            0x8000
        } else {
            0
        };
    }
    from_scaled(exact < 0, exact.unsigned_abs(), -48)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rounding() {
        // Every f16 survives f16 -> f64 -> f16.
        for h in 0..=u16::MAX {
            let x = to_f64(h);
            if x.is_nan() {
                continue;
            }
            assert_eq!(from_f64(x), h, "{h:#x}");
        }
        assert_eq!(from_f64(65504.0), 0x7bff);
        assert_eq!(from_f64(65520.0), 0x7c00); // ties to even: overflows
        assert_eq!(from_f64(65519.99), 0x7bff);
        assert_eq!(from_f64(2f64.powi(-25)), 0); // tie to even: 0
        assert_eq!(from_f64(2f64.powi(-25) * 1.0001), 1);
        assert_eq!(from_f64(1.0 + 2f64.powi(-11)), 0x3c00); // tie to even
        assert_eq!(from_f64(1.0 + 3.0 * 2f64.powi(-11)), 0x3c02);
        assert_eq!(from_f64(-0.0), 0x8000);
        assert_eq!(fma(0x3c00, 0x3c00, 0x3c00), 0x4000); // 1*1+1 = 2
    }
}
