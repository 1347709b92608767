//! The envelope checksum: XXH64 with seed 0.
//!
//! The checksum only has to catch *accidental* damage (torn writes, bit rot,
//! a truncated copy, a file from another tool). It cannot stop a malicious
//! writer: anyone able to write an entry can recompute any unkeyed digest,
//! SHA-256 included. So the choice is about speed on the hit path, where the
//! whole entry is hashed on every load. XXH64 runs at several GB/s on the
//! build machines (see `BENCHMARKS.md`, "Cache store"), several times faster
//! than SHA-256 even with the SHA extensions, and it is a published,
//! well-specified algorithm, so the format in `docs/cache.md` can be read by
//! other tools. This is a from-scratch implementation checked against the
//! reference test vectors.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

#[inline(always)]
fn read_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

#[inline(always)]
fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
}

#[inline(always)]
fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

#[inline(always)]
fn merge_round(acc: u64, lane: u64) -> u64 {
    (acc ^ round(0, lane)).wrapping_mul(P1).wrapping_add(P4)
}

/// XXH64 of `data` with seed 0.
pub fn xxh64(data: &[u8]) -> u64 {
    let len = data.len() as u64;
    let mut rest = data;
    let mut hash = if data.len() >= 32 {
        let mut v1 = P1.wrapping_add(P2);
        let mut v2 = P2;
        let mut v3 = 0u64;
        let mut v4 = 0u64.wrapping_sub(P1);
        let mut stripes = data.chunks_exact(32);
        for stripe in &mut stripes {
            v1 = round(v1, read_u64(&stripe[0..]));
            v2 = round(v2, read_u64(&stripe[8..]));
            v3 = round(v3, read_u64(&stripe[16..]));
            v4 = round(v4, read_u64(&stripe[24..]));
        }
        rest = stripes.remainder();
        let mut h = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
        h = merge_round(h, v1);
        h = merge_round(h, v2);
        h = merge_round(h, v3);
        merge_round(h, v4)
    } else {
        P5
    };
    hash = hash.wrapping_add(len);

    while rest.len() >= 8 {
        hash ^= round(0, read_u64(rest));
        hash = hash.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        hash ^= u64::from(read_u32(rest)).wrapping_mul(P1);
        hash = hash.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &byte in rest {
        hash ^= u64::from(byte).wrapping_mul(P5);
        hash = hash.rotate_left(11).wrapping_mul(P1);
    }

    hash ^= hash >> 33;
    hash = hash.wrapping_mul(P2);
    hash ^= hash >> 29;
    hash = hash.wrapping_mul(P3);
    hash ^ (hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::xxh64;

    #[test]
    fn reference_vectors() {
        // Published XXH64 (seed 0) values.
        assert_eq!(xxh64(b""), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a"), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc"), 0x44BC_2CF5_AD77_0999);
    }

    #[test]
    fn every_length_path_is_sensitive_to_every_byte() {
        // Lengths cover the <32 path, the stripe path, and every tail shape.
        for len in 0..80usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let base = xxh64(&data);
            for i in 0..len {
                let mut changed = data.clone();
                changed[i] ^= 0x01;
                assert_ne!(xxh64(&changed), base, "len {len} byte {i}");
            }
            if len > 0 {
                assert_ne!(xxh64(&data[..len - 1]), base, "truncation at {len}");
            }
        }
    }
}
