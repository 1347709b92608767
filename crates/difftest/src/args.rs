//! Argument vectors with edge values mixed in: 0, ±1, MIN, MAX, the shift
//! widths and their neighbours for integers; ±0.0, ±infinity, NaNs with
//! sign and payload, signalling NaNs, subnormals and the extremes for
//! floats.

use crate::rng::Rng;
use kiln_ir::{DataValue, Ieee32, Ieee64, Type};

/// Interesting integer values for a `bits`-wide type (as i128, truncated
/// by [`DataValue::from_integer`]).
fn int_edge(rng: &mut Rng, bits: u32) -> i128 {
    let min = if bits == 128 {
        i128::MIN
    } else {
        -(1i128 << (bits - 1))
    };
    let max = if bits == 128 {
        i128::MAX
    } else {
        (1i128 << (bits - 1)) - 1
    };
    let w = bits as i128;
    match rng.below(14) {
        0 => 0,
        1 => 1,
        2 => -1,
        3 => min,
        4 => max,
        5 => min + 1,
        6 => max - 1,
        7 => w,
        8 => w - 1,
        9 => w + 1,
        10 => -w,
        // All ones in the unsigned sense is -1; the top bit alone is MIN;
        // a value with only the lower half set.
        11 => (1i128 << (bits / 2)) - 1,
        12 => 2,
        _ => rng.below(64) as i128 - 32,
    }
}

const F32_EDGES: &[u32] = &[
    0x0000_0000, // +0
    0x8000_0000, // -0
    0x3f80_0000, // 1
    0xbf80_0000, // -1
    0x7f80_0000, // +inf
    0xff80_0000, // -inf
    0x7fc0_0000, // canonical NaN
    0xffc0_0001, // -NaN with a payload
    0x7f80_0001, // signalling NaN
    0x0000_0001, // smallest subnormal
    0x807f_ffff, // largest negative subnormal
    0x0080_0000, // MIN_POSITIVE
    0x7f7f_ffff, // MAX
    0x3f00_0000, // 0.5
    0x3fc0_0000, // 1.5
    0x4f00_0000, // 2^31
    0xcf00_0000, // -2^31
    0x5f00_0000, // 2^63
    0xdf00_0000, // -2^63
    0x4f80_0000, // 2^32
];

const F64_EDGES: &[u64] = &[
    0x0000_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x3ff0_0000_0000_0000,
    0xbff0_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0xfff8_0000_0000_0001,
    0x7ff0_0000_0000_0001,
    0x0000_0000_0000_0001,
    0x800f_ffff_ffff_ffff,
    0x0010_0000_0000_0000,
    0x7fef_ffff_ffff_ffff,
    0x3fe0_0000_0000_0000,
    0x3ff8_0000_0000_0000,
    0x41e0_0000_0000_0000, // 2^31
    0xc1e0_0000_0000_0000,
    0x43e0_0000_0000_0000, // 2^63
    0xc3e0_0000_0000_0000,
    0x41ef_ffff_ffe0_0000, // 2^32 - 1
];

/// One value of type `ty`: an edge value five times in eight, random bits
/// otherwise.
pub fn value(rng: &mut Rng, ty: Type) -> DataValue {
    let edge = rng.below(8) < 5;
    match ty {
        Type::F32 => DataValue::F32(Ieee32(if edge {
            F32_EDGES[rng.below(F32_EDGES.len())]
        } else {
            rng.next_u64() as u32
        })),
        Type::F64 => DataValue::F64(Ieee64(if edge {
            F64_EDGES[rng.below(F64_EDGES.len())]
        } else {
            rng.next_u64()
        })),
        _ => {
            let x = if edge {
                int_edge(rng, ty.bits())
            } else {
                ((rng.next_u64() as i128) << 64) | rng.next_u64() as i128
            };
            DataValue::from_integer(x, ty).unwrap_or(DataValue::I32(0))
        }
    }
}

/// One argument vector for parameters of types `tys`.
pub fn vector(rng: &mut Rng, tys: &[Type]) -> Vec<DataValue> {
    tys.iter().map(|&t| value(rng, t)).collect()
}
