//! Memory access flags: `notrap aligned readonly little|big can_move`, an
//! optional trap code and an optional alias region.

use crate::entities::AliasRegion;
use crate::trapcode::TrapCode;
use std::fmt;

/// Byte order of a memory access.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Endianness {
    Little,
    Big,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct MemFlags {
    bits: u8,
    /// The trap code of a trapping access; `None` with `notrap` unset means
    /// the default `heap_oob`.
    trap_code: Option<TrapCode>,
    alias_region: Option<AliasRegion>,
}

const NOTRAP: u8 = 1 << 0;
const ALIGNED: u8 = 1 << 1;
const READONLY: u8 = 1 << 2;
const LITTLE: u8 = 1 << 3;
const BIG: u8 = 1 << 4;
const CAN_MOVE: u8 = 1 << 5;
const CHECKED: u8 = 1 << 6;

/// The word flags.
const WORDS: [(&str, u8); 7] = [
    ("notrap", NOTRAP),
    ("aligned", ALIGNED),
    ("readonly", READONLY),
    ("little", LITTLE),
    ("big", BIG),
    ("can_move", CAN_MOVE),
    ("checked", CHECKED),
];

impl MemFlags {
    pub const fn new() -> Self {
        MemFlags {
            bits: 0,
            trap_code: None,
            alias_region: None,
        }
    }

    /// `notrap aligned`: an access the frontend proved safe.
    pub fn trusted() -> Self {
        let mut f = Self::new();
        f.bits = NOTRAP | ALIGNED;
        f
    }

    /// A stable byte encoding of the flag words (for the stencil key).
    pub fn word_bits(self) -> u8 {
        self.bits
    }

    /// Replaces the flag-word bits wholesale, without any consistency check
    /// (for decoders and tests; the verifier rejects `little` with `big` and
    /// unknown bits).
    pub fn set_word_bits_unchecked(&mut self, bits: u8) {
        self.bits = bits;
    }

    /// The mask of every defined flag-word bit.
    pub const KNOWN_WORD_BITS: u8 = NOTRAP | ALIGNED | READONLY | LITTLE | BIG | CAN_MOVE | CHECKED;

    /// Sets a flag given its text word; false if the word is not a flag or
    /// conflicts with one already set (`little` with `big`).
    pub fn set_by_name(&mut self, word: &str) -> bool {
        if let Some(&(_, bit)) = WORDS.iter().find(|(w, _)| *w == word) {
            if (bit == LITTLE && self.bits & BIG != 0) || (bit == BIG && self.bits & LITTLE != 0) {
                return false;
            }
            self.bits |= bit;
            if bit == NOTRAP {
                self.trap_code = None;
            }
            return true;
        }
        if let Some(code) = TrapCode::parse(word) {
            // `heap_oob` is the default code: keep one representation of it.
            self.trap_code = (code != TrapCode::HEAP_OUT_OF_BOUNDS).then_some(code);
            self.bits &= !NOTRAP;
            return true;
        }
        false
    }

    pub fn notrap(self) -> bool {
        self.bits & NOTRAP != 0
    }
    pub fn aligned(self) -> bool {
        self.bits & ALIGNED != 0
    }
    pub fn readonly(self) -> bool {
        self.bits & READONLY != 0
    }
    pub fn can_move(self) -> bool {
        self.bits & CAN_MOVE != 0
    }
    pub fn set_notrap(&mut self) {
        self.bits |= NOTRAP;
    }
    pub fn set_aligned(&mut self) {
        self.bits |= ALIGNED;
    }
    pub fn set_readonly(&mut self) {
        self.bits |= READONLY;
    }

    /// The byte order requested explicitly, if any.
    pub fn explicit_endianness(self) -> Option<Endianness> {
        if self.bits & LITTLE != 0 {
            Some(Endianness::Little)
        } else if self.bits & BIG != 0 {
            Some(Endianness::Big)
        } else {
            None
        }
    }

    pub fn set_endianness(&mut self, e: Endianness) {
        self.bits &= !(LITTLE | BIG);
        self.bits |= match e {
            Endianness::Little => LITTLE,
            Endianness::Big => BIG,
        };
    }

    /// The trap code raised by a faulting access, or `None` for `notrap`.
    pub fn trap_code(self) -> Option<TrapCode> {
        if self.notrap() {
            None
        } else {
            Some(self.trap_code.unwrap_or(TrapCode::HEAP_OUT_OF_BOUNDS))
        }
    }

    /// The trap code written explicitly in the text, if any.
    pub fn explicit_trap_code(self) -> Option<TrapCode> {
        self.trap_code
    }

    pub fn set_trap_code(&mut self, code: Option<TrapCode>) {
        self.trap_code = code;
    }

    pub fn alias_region(self) -> Option<AliasRegion> {
        self.alias_region
    }

    pub fn set_alias_region(&mut self, region: Option<AliasRegion>) {
        self.alias_region = region;
    }
}

impl fmt::Display for MemFlags {
    /// Prints the flags with a leading space before each word (empty if
    /// none), in Cranelift's order: the trap code (or `notrap`), `aligned`,
    /// `readonly`, `can_move`, `big`, `little`, `checked`, the alias region.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.notrap() {
            f.write_str(" notrap")?;
        } else if let Some(code) = self.trap_code {
            write!(f, " {code}")?;
        }
        for (word, bit) in [
            ("aligned", ALIGNED),
            ("readonly", READONLY),
            ("can_move", CAN_MOVE),
            ("big", BIG),
            ("little", LITTLE),
            ("checked", CHECKED),
        ] {
            if self.bits & bit != 0 {
                write!(f, " {word}")?;
            }
        }
        if let Some(region) = self.alias_region {
            write!(f, " {region}")?;
        }
        Ok(())
    }
}
