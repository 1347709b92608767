//! Trap codes: a non-zero byte. The top five values are the reserved codes;
//! `user1`..`user250` are the frontend's own.

use std::fmt;
use std::num::NonZeroU8;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrapCode(NonZeroU8);

const RESERVED: u8 = 5;
const RESERVED_START: u8 = u8::MAX - RESERVED + 1;

impl TrapCode {
    /// The stack overflowed.
    pub const STACK_OVERFLOW: TrapCode = TrapCode::reserved(0);
    /// An integer arithmetic operation overflowed.
    pub const INTEGER_OVERFLOW: TrapCode = TrapCode::reserved(1);
    /// A heap access was out of bounds.
    pub const HEAP_OUT_OF_BOUNDS: TrapCode = TrapCode::reserved(2);
    /// An integer division by zero.
    pub const INTEGER_DIVISION_BY_ZERO: TrapCode = TrapCode::reserved(3);
    /// A float-to-int conversion was out of range or NaN.
    pub const BAD_CONVERSION_TO_INTEGER: TrapCode = TrapCode::reserved(4);

    const fn reserved(i: u8) -> TrapCode {
        match NonZeroU8::new(RESERVED_START + i) {
            Some(n) => TrapCode(n),
            None => unreachable!(),
        }
    }

    /// `user<n>` for `1 <= n <= 250`.
    pub const fn user(n: u8) -> Option<TrapCode> {
        if n == 0 || n >= RESERVED_START {
            return None;
        }
        match NonZeroU8::new(n) {
            Some(n) => Some(TrapCode(n)),
            None => None,
        }
    }

    pub const fn as_raw(self) -> NonZeroU8 {
        self.0
    }

    pub const fn from_raw(raw: NonZeroU8) -> TrapCode {
        TrapCode(raw)
    }

    const NAMES: [&'static str; RESERVED as usize] =
        ["stk_ovf", "int_ovf", "heap_oob", "int_divz", "bad_toint"];

    /// Parses the text form (`int_divz`, `user7`).
    pub fn parse(s: &str) -> Option<TrapCode> {
        if let Some(i) = Self::NAMES.iter().position(|n| *n == s) {
            return Some(TrapCode::reserved(i as u8));
        }
        let n: u8 = s.strip_prefix("user")?.parse().ok()?;
        TrapCode::user(n)
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.0.get();
        if raw >= RESERVED_START {
            f.write_str(Self::NAMES[(raw - RESERVED_START) as usize])
        } else {
            write!(f, "user{raw}")
        }
    }
}

impl fmt::Debug for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_code() {
        for raw in 1..=255u8 {
            let code = TrapCode::from_raw(NonZeroU8::new(raw).unwrap());
            assert_eq!(TrapCode::parse(&code.to_string()), Some(code));
        }
        assert_eq!(TrapCode::parse("user0"), None);
        assert_eq!(TrapCode::parse("user251"), None);
        assert_eq!(TrapCode::INTEGER_DIVISION_BY_ZERO.to_string(), "int_divz");
    }
}
