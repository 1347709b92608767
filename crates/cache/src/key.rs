//! The cache key: a 32-byte digest (sha256 of the stencil and compile
//! parameters, computed by `kiln-ir`), shown as 64 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

/// A 32-byte cache key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        CacheKey(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key in lowercase hex, written into a fixed buffer (no allocation).
    pub fn to_hex(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, byte) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(byte >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(byte & 0xF)];
        }
        out
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        // Hex digits are ASCII, so this cannot fail.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}

/// Why a string is not a cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseKeyError {
    /// Not exactly 64 characters long.
    Length(usize),
    /// A character that is not a hex digit, at this byte offset.
    NotHex(usize),
}

impl fmt::Display for ParseKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseKeyError::Length(len) => {
                write!(f, "a cache key has 64 hex digits, found {len} characters")
            }
            ParseKeyError::NotHex(at) => write!(f, "not a hex digit at offset {at} of cache key"),
        }
    }
}

impl std::error::Error for ParseKeyError {}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl FromStr for CacheKey {
    type Err = ParseKeyError;

    /// Parses 64 hex digits (either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(ParseKeyError::Length(bytes.len()));
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            let hi = hex_value(bytes[2 * i]).ok_or(ParseKeyError::NotHex(2 * i))?;
            let lo = hex_value(bytes[2 * i + 1]).ok_or(ParseKeyError::NotHex(2 * i + 1))?;
            *byte = hi << 4 | lo;
        }
        Ok(CacheKey(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37) ^ 0xA5;
        }
        let key = CacheKey::from_bytes(bytes);
        let text = key.to_string();
        assert_eq!(text.len(), 64);
        assert!(text
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(text.parse::<CacheKey>(), Ok(key));
        assert_eq!(text.to_uppercase().parse::<CacheKey>(), Ok(key));
        assert_eq!(format!("{key:?}"), format!("CacheKey({text})"));
        assert_eq!(
            CacheKey([0xAB; 32]).to_string(),
            "ab".repeat(32),
            "byte order is preserved"
        );
        assert_eq!(CacheKey([0x01; 32]).as_bytes(), &[1u8; 32]);
    }

    #[test]
    fn parse_errors() {
        assert_eq!("".parse::<CacheKey>(), Err(ParseKeyError::Length(0)));
        assert_eq!(
            "0".repeat(65).parse::<CacheKey>(),
            Err(ParseKeyError::Length(65))
        );
        let mut bad = "0".repeat(64);
        bad.replace_range(9..10, "g");
        assert_eq!(bad.parse::<CacheKey>(), Err(ParseKeyError::NotHex(9)));
        // A multi-byte character is rejected at its first byte, never a panic
        // from slicing inside it.
        let uni = format!("é{}", "0".repeat(62));
        assert_eq!(uni.parse::<CacheKey>(), Err(ParseKeyError::NotHex(0)));
        assert!(ParseKeyError::NotHex(3).to_string().contains("offset 3"));
    }
}
