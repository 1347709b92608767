//! The entry envelope: the self-checking wrapper around an opaque payload.
//!
//! Byte-exact layout (all integers little-endian; `n` = compiler version
//! length, `p` = payload length; see `docs/cache.md`):
//!
//! | offset     | size | field                                        |
//! |------------|------|----------------------------------------------|
//! | 0          | 8    | magic `89 4B 49 4C 4E 43 0D 0A` (`\x89KILNC\r\n`) |
//! | 8          | 2    | format version, `u16` = [`FORMAT_VERSION`]   |
//! | 10         | 2    | `n`, `u16`, at most [`MAX_COMPILER_VERSION_LEN`] |
//! | 12         | n    | compiler version, UTF-8                      |
//! | 12+n       | 32   | the cache key, echoed                        |
//! | 44+n       | 8    | compile time in ns, `u64` (0 = unknown)      |
//! | 52+n       | 4    | `p`, `u32`, at most [`MAX_PAYLOAD_LEN`]      |
//! | 56+n       | p    | payload                                      |
//! | 56+n+p     | 8    | XXH64 (seed 0) of bytes `0 .. 56+n+p`        |
//!
//! Total size: `64 + n + p`.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use crate::checksum::xxh64;
use crate::CacheKey;

/// First eight bytes of every entry. The high-bit first byte and the CR LF
/// pair catch 7-bit and newline-translating copies, as in PNG.
pub const MAGIC: [u8; 8] = *b"\x89KILNC\r\n";

/// Version of the layout above. Bump on any layout change; entries of other
/// versions are rejected as stale (and the directory store keeps each
/// version in its own folder).
pub const FORMAT_VERSION: u16 = 1;

/// Upper bound of the compiler version string, in bytes.
pub const MAX_COMPILER_VERSION_LEN: usize = 256;

/// Upper bound of a payload: 256 MiB. A compiled function is orders of
/// magnitude smaller; anything bigger is damage or a foreign file.
pub const MAX_PAYLOAD_LEN: usize = 256 << 20;

/// Bytes of envelope around the compiler version and payload.
pub const ENVELOPE_OVERHEAD: usize = 8 + 2 + 2 + 32 + 8 + 4 + 8;

/// Largest possible encoded entry.
pub const MAX_ENTRY_LEN: usize = ENVELOPE_OVERHEAD + MAX_COMPILER_VERSION_LEN + MAX_PAYLOAD_LEN;

/// Why an entry could not be encoded or was rejected when decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryError {
    /// The first bytes are not [`MAGIC`]: not a Kiln cache entry.
    BadMagic,
    /// Written in another envelope format version.
    VersionMismatch {
        /// The version found in the entry.
        found: u16,
    },
    /// Written by another compiler version.
    CompilerMismatch,
    /// The echoed key is not the key it was looked up under.
    KeyMismatch,
    /// The entry ends before its declared contents.
    Truncated,
    /// Bytes follow the checksum.
    TrailingBytes,
    /// The checksum does not match the contents.
    ChecksumMismatch,
    /// A length field (or an input to encode) exceeds its bound.
    TooLarge,
}

impl EntryError {
    /// True for entries that are well-formed but made by another format or
    /// compiler version (stale or foreign), false for damage.
    pub fn is_stale(self) -> bool {
        matches!(
            self,
            EntryError::VersionMismatch { .. } | EntryError::CompilerMismatch
        )
    }
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::BadMagic => f.write_str("not a Kiln cache entry (bad magic)"),
            EntryError::VersionMismatch { found } => write!(
                f,
                "cache entry format version {found}, expected {FORMAT_VERSION}"
            ),
            EntryError::CompilerMismatch => {
                f.write_str("cache entry written by another compiler version")
            }
            EntryError::KeyMismatch => f.write_str("cache entry key does not match its lookup key"),
            EntryError::Truncated => f.write_str("cache entry is truncated"),
            EntryError::TrailingBytes => f.write_str("cache entry has trailing bytes"),
            EntryError::ChecksumMismatch => f.write_str("cache entry checksum mismatch"),
            EntryError::TooLarge => f.write_str("cache entry length field exceeds its bound"),
        }
    }
}

impl std::error::Error for EntryError {}

/// A decoded entry, borrowing from the encoded bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// The opaque payload.
    pub payload: &'a [u8],
    /// Compile time recorded by the writer, in nanoseconds; 0 if unknown.
    pub compile_time_ns: u64,
}

impl EntryView<'_> {
    /// The recorded compile time, if the writer recorded one.
    pub fn compile_time(&self) -> Option<Duration> {
        (self.compile_time_ns != 0).then(|| Duration::from_nanos(self.compile_time_ns))
    }
}

/// Encodes an entry without a recorded compile time.
///
/// Fails with [`EntryError::TooLarge`] only if `compiler_version` or
/// `payload` exceed their bounds; the caller then simply does not store.
pub fn encode_entry(
    key: &CacheKey,
    compiler_version: &str,
    payload: &[u8],
) -> Result<Vec<u8>, EntryError> {
    encode_entry_timed(key, compiler_version, payload, None)
}

/// Encodes an entry recording how long the compile it saves took.
pub fn encode_entry_timed(
    key: &CacheKey,
    compiler_version: &str,
    payload: &[u8],
    compile_time: Option<Duration>,
) -> Result<Vec<u8>, EntryError> {
    let mut out = Vec::new();
    encode_entry_into(&mut out, key, compiler_version, payload, compile_time)?;
    Ok(out)
}

/// Encodes into `out` (cleared first), so a caller can reuse one buffer.
pub fn encode_entry_into(
    out: &mut Vec<u8>,
    key: &CacheKey,
    compiler_version: &str,
    payload: &[u8],
    compile_time: Option<Duration>,
) -> Result<(), EntryError> {
    let version = compiler_version.as_bytes();
    if version.len() > MAX_COMPILER_VERSION_LEN || payload.len() > MAX_PAYLOAD_LEN {
        return Err(EntryError::TooLarge);
    }
    let compile_time_ns = compile_time.map_or(0, |t| {
        // 0 means "unknown"; a real compile of 0 ns is recorded as 1 ns.
        u64::try_from(t.as_nanos()).unwrap_or(u64::MAX).max(1)
    });
    out.clear();
    out.reserve_exact(ENVELOPE_OVERHEAD + version.len() + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    // Both casts are lossless: the lengths were bounded above.
    out.extend_from_slice(&(version.len() as u16).to_le_bytes());
    out.extend_from_slice(version);
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&compile_time_ns.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let checksum = xxh64(out);
    out.extend_from_slice(&checksum.to_le_bytes());
    Ok(())
}

/// Decodes an entry and returns its payload.
///
/// Checks, in order: magic, format version, compiler version, key echo,
/// length bounds against both the fixed maximum and the actual input, and
/// finally the checksum over everything before it. Never panics, never
/// allocates.
pub fn decode_entry<'a>(
    key: &CacheKey,
    compiler_version: &str,
    bytes: &'a [u8],
) -> Result<&'a [u8], EntryError> {
    decode_entry_view(key, compiler_version, bytes).map(|view| view.payload)
}

/// Like [`decode_entry`], also returning the recorded compile time.
pub fn decode_entry_view<'a>(
    key: &CacheKey,
    compiler_version: &str,
    bytes: &'a [u8],
) -> Result<EntryView<'a>, EntryError> {
    let (range, compile_time_ns) = parse(key, compiler_version, bytes)?;
    Ok(EntryView {
        payload: &bytes[range],
        compile_time_ns,
    })
}

/// A bounds-checked reader over the input; every short read is `Truncated`.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], EntryError> {
        let end = self.pos.checked_add(len).ok_or(EntryError::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(EntryError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EntryError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

/// Validates `bytes` and returns the payload's range and the compile time.
pub(crate) fn parse(
    key: &CacheKey,
    compiler_version: &str,
    bytes: &[u8],
) -> Result<(Range<usize>, u64), EntryError> {
    // A short input that does not even start like an entry is foreign, not
    // a truncated entry.
    let prefix = bytes.len().min(MAGIC.len());
    if bytes[..prefix] != MAGIC[..prefix] {
        return Err(EntryError::BadMagic);
    }
    let mut r = Reader { bytes, pos: 0 };
    r.take(MAGIC.len())?;
    let format = u16::from_le_bytes(r.array()?);
    if format != FORMAT_VERSION {
        return Err(EntryError::VersionMismatch { found: format });
    }
    let version_len = usize::from(u16::from_le_bytes(r.array()?));
    if version_len > MAX_COMPILER_VERSION_LEN {
        return Err(EntryError::TooLarge);
    }
    if r.take(version_len)? != compiler_version.as_bytes() {
        return Err(EntryError::CompilerMismatch);
    }
    if r.array::<32>()? != key.0 {
        return Err(EntryError::KeyMismatch);
    }
    let compile_time_ns = u64::from_le_bytes(r.array()?);
    let payload_len = u32::from_le_bytes(r.array()?) as usize;
    if payload_len > MAX_PAYLOAD_LEN {
        return Err(EntryError::TooLarge);
    }
    // payload_len <= 256 MiB, so the sum cannot overflow.
    let needed = payload_len + 8;
    match r.remaining().cmp(&needed) {
        std::cmp::Ordering::Less => return Err(EntryError::Truncated),
        std::cmp::Ordering::Greater => return Err(EntryError::TrailingBytes),
        std::cmp::Ordering::Equal => {}
    }
    let payload_start = r.pos;
    r.take(payload_len)?;
    let covered = r.pos;
    let stored = u64::from_le_bytes(r.array()?);
    if xxh64(&bytes[..covered]) != stored {
        return Err(EntryError::ChecksumMismatch);
    }
    Ok((payload_start..covered, compile_time_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPILER: &str = "kiln 0.1.0 (test)";

    fn key(seed: u8) -> CacheKey {
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = seed.wrapping_mul(31).wrapping_add(i as u8);
        }
        CacheKey(k)
    }

    /// A deterministic payload that looks like machine code (not all zeros).
    fn payload(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn round_trip_and_layout() {
        for len in [0usize, 1, 7, 31, 32, 33, 2048, 65536] {
            let p = payload(len, len as u64);
            let k = key(len as u8);
            let bytes =
                encode_entry_timed(&k, COMPILER, &p, Some(Duration::from_micros(1500))).unwrap();
            assert_eq!(bytes.len(), ENVELOPE_OVERHEAD + COMPILER.len() + len);
            assert_eq!(&bytes[..8], &MAGIC);
            assert_eq!(&bytes[8..10], &FORMAT_VERSION.to_le_bytes());
            assert_eq!(&bytes[10..12], &(COMPILER.len() as u16).to_le_bytes());
            let n = COMPILER.len();
            assert_eq!(&bytes[12..12 + n], COMPILER.as_bytes());
            assert_eq!(&bytes[12 + n..44 + n], &k.0);
            assert_eq!(&bytes[44 + n..52 + n], &1_500_000u64.to_le_bytes());
            assert_eq!(&bytes[52 + n..56 + n], &(len as u32).to_le_bytes());
            let view = decode_entry_view(&k, COMPILER, &bytes).unwrap();
            assert_eq!(view.payload, &p[..]);
            assert_eq!(view.compile_time(), Some(Duration::from_micros(1500)));
            assert_eq!(decode_entry(&k, COMPILER, &bytes).unwrap(), &p[..]);
        }
    }

    #[test]
    fn compile_time_is_optional() {
        let bytes = encode_entry(&key(1), COMPILER, b"xyz").unwrap();
        let view = decode_entry_view(&key(1), COMPILER, &bytes).unwrap();
        assert_eq!(view.compile_time_ns, 0);
        assert_eq!(view.compile_time(), None);
        let bytes = encode_entry_timed(&key(1), COMPILER, b"xyz", Some(Duration::ZERO)).unwrap();
        let view = decode_entry_view(&key(1), COMPILER, &bytes).unwrap();
        assert_eq!(view.compile_time(), Some(Duration::from_nanos(1)));
    }

    #[test]
    fn encode_bounds() {
        let long = "x".repeat(MAX_COMPILER_VERSION_LEN + 1);
        assert_eq!(encode_entry(&key(0), &long, b""), Err(EntryError::TooLarge));
        let max = "x".repeat(MAX_COMPILER_VERSION_LEN);
        let bytes = encode_entry(&key(0), &max, b"ok").unwrap();
        assert_eq!(decode_entry(&key(0), &max, &bytes), Ok(&b"ok"[..]));
        // The payload bound is checked without touching the payload, so a
        // zero-filled oversized buffer is cheap enough to test with.
        let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
        assert_eq!(
            encode_entry(&key(0), COMPILER, &big),
            Err(EntryError::TooLarge)
        );
    }

    #[test]
    fn identity_mismatches_are_typed() {
        let bytes = encode_entry(&key(3), COMPILER, b"payload").unwrap();
        assert_eq!(
            decode_entry(&key(4), COMPILER, &bytes),
            Err(EntryError::KeyMismatch)
        );
        assert_eq!(
            decode_entry(&key(3), "kiln 0.1.1", &bytes),
            Err(EntryError::CompilerMismatch)
        );
        assert_eq!(
            decode_entry(&key(3), "kiln 0.1.0 (test", &bytes),
            Err(EntryError::CompilerMismatch)
        );
        let mut other_format = bytes.clone();
        other_format[8..10].copy_from_slice(&2u16.to_le_bytes());
        let err = decode_entry(&key(3), COMPILER, &other_format).unwrap_err();
        assert_eq!(err, EntryError::VersionMismatch { found: 2 });
        assert!(err.is_stale());
        assert!(EntryError::CompilerMismatch.is_stale());
        assert!(!EntryError::ChecksumMismatch.is_stale());
        assert_eq!(
            decode_entry(&key(3), COMPILER, b"\x7fELF\x02\x01\x01\0rest"),
            Err(EntryError::BadMagic)
        );
        assert_eq!(
            decode_entry(&key(3), COMPILER, b""),
            Err(EntryError::Truncated)
        );
        assert_eq!(
            decode_entry(&key(3), COMPILER, b"\x89KI"),
            Err(EntryError::Truncated)
        );
        assert_eq!(
            decode_entry(&key(3), COMPILER, b"\x89KX"),
            Err(EntryError::BadMagic)
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            decode_entry(&key(3), COMPILER, &trailing),
            Err(EntryError::TrailingBytes)
        );
    }

    #[test]
    fn oversized_length_fields_are_rejected_without_allocating() {
        let bytes = encode_entry(&key(5), COMPILER, b"p").unwrap();
        let n = COMPILER.len();
        let mut huge_payload = bytes.clone();
        huge_payload[52 + n..56 + n].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_entry(&key(5), COMPILER, &huge_payload),
            Err(EntryError::TooLarge)
        );
        let mut huge_version = bytes.clone();
        huge_version[10..12].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(
            decode_entry(&key(5), COMPILER, &huge_version),
            Err(EntryError::TooLarge)
        );
        let mut longer_payload = bytes.clone();
        longer_payload[52 + n..56 + n].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            decode_entry(&key(5), COMPILER, &longer_payload),
            Err(EntryError::Truncated)
        );
        let mut shorter_payload = bytes;
        shorter_payload[52 + n..56 + n].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            decode_entry(&key(5), COMPILER, &shorter_payload),
            Err(EntryError::TrailingBytes)
        );
    }

    /// Entries of realistic sizes for the exhaustive corruption tests.
    fn real_sized_entries() -> Vec<(CacheKey, Vec<u8>)> {
        [0usize, 13, 300, 2048, 9000]
            .into_iter()
            .enumerate()
            .map(|(i, len)| {
                let k = key(i as u8 + 10);
                let e = encode_entry_timed(
                    &k,
                    COMPILER,
                    &payload(len, i as u64),
                    Some(Duration::from_micros(len as u64 + 1)),
                )
                .unwrap();
                (k, e)
            })
            .collect()
    }

    #[test]
    fn every_single_byte_corruption_is_rejected() {
        let mut checked = 0u64;
        for (k, entry) in real_sized_entries() {
            let mut damaged = entry.clone();
            for i in 0..entry.len() {
                for flip in [0x01u8, 0x80, 0xFF, 0x5A] {
                    damaged[i] = entry[i] ^ flip;
                    assert!(
                        decode_entry(&k, COMPILER, &damaged).is_err(),
                        "flip {flip:#x} at byte {i} of a {} byte entry accepted",
                        entry.len()
                    );
                    checked += 1;
                }
                // Also set the byte to fixed values that differ from it.
                for value in [0x00u8, 0xFF] {
                    if entry[i] != value {
                        damaged[i] = value;
                        assert!(decode_entry(&k, COMPILER, &damaged).is_err());
                        checked += 1;
                    }
                }
                damaged[i] = entry[i];
            }
            assert_eq!(damaged, entry);
        }
        assert!(checked > 40_000, "{checked}");
    }

    #[test]
    fn every_truncation_and_extension_is_rejected() {
        for (k, entry) in real_sized_entries() {
            for len in 0..entry.len() {
                assert!(
                    decode_entry(&k, COMPILER, &entry[..len]).is_err(),
                    "truncation to {len} of {} accepted",
                    entry.len()
                );
            }
            // Dropping a byte from the middle (a lost block) is rejected too.
            for i in (0..entry.len()).step_by(7) {
                let mut shorter = entry.clone();
                shorter.remove(i);
                assert!(
                    decode_entry(&k, COMPILER, &shorter).is_err(),
                    "removal at {i}"
                );
            }
            for extra in 1..16 {
                let mut longer = entry.clone();
                longer.extend(std::iter::repeat_n(0u8, extra));
                assert_eq!(
                    decode_entry(&k, COMPILER, &longer),
                    Err(EntryError::TrailingBytes)
                );
            }
            assert!(decode_entry(&k, COMPILER, &entry).is_ok());
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        // Fuzz-style: random bytes, random bytes behind a valid prefix of
        // increasing length, and random multi-byte damage of valid entries.
        let mut rng = 0x1234_5678_9ABC_DEF1u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let entries = real_sized_entries();
        let mut accepted = 0;
        for round in 0..20_000u64 {
            let (k, entry) = &entries[(round % entries.len() as u64) as usize];
            let mut input = match round % 3 {
                0 => {
                    let len = (next() % 300) as usize;
                    (0..len).map(|_| next() as u8).collect::<Vec<u8>>()
                }
                1 => {
                    let keep = (next() as usize) % (entry.len() + 1);
                    let mut v = entry[..keep].to_vec();
                    let extra = (next() % 64) as usize;
                    v.extend((0..extra).map(|_| next() as u8));
                    v
                }
                _ => {
                    let mut v = entry.clone();
                    for _ in 0..1 + next() % 4 {
                        let at = (next() as usize) % v.len();
                        v[at] = next() as u8;
                    }
                    v
                }
            };
            if round % 5 == 0 && input.len() >= 12 {
                // Random length fields behind a valid magic and version.
                input[..8].copy_from_slice(&MAGIC);
                input[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
            }
            if let Ok(p) = decode_entry(k, COMPILER, &input) {
                // Only an unchanged entry may decode.
                assert_eq!(&input, entry);
                assert!(p.len() <= input.len());
                accepted += 1;
            }
        }
        // Random damage can land on the same value; such rounds count here.
        assert!(accepted < 200, "{accepted}");
    }
}
