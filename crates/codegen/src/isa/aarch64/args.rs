//! aarch64 operand kinds: widths, conditions, the immediate forms the
//! hardware accepts (12-bit arithmetic, bitmask logical, 16-bit wide moves,
//! shift amounts) with their encoders, shifted and extended register
//! operands, and addressing modes.
//!
//! Every immediate type has a checked constructor (`maybe_from_*`) that
//! returns `None` when the value has no encoding; rules test with those, so
//! an instruction holding an immediate is always encodable.

use crate::machinst::reg::Reg;

/// Operation width of an integer instruction (the `sf` bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperandSize {
    Size32,
    Size64,
}

impl OperandSize {
    /// The width for a value of `bits` (32 for anything up to 32 bits).
    pub fn from_bits(bits: u32) -> OperandSize {
        if bits <= 32 {
            OperandSize::Size32
        } else {
            OperandSize::Size64
        }
    }
    pub fn bits(self) -> u32 {
        match self {
            OperandSize::Size32 => 32,
            OperandSize::Size64 => 64,
        }
    }
    /// The `sf` bit.
    pub fn sf(self) -> u32 {
        (self == OperandSize::Size64) as u32
    }
}

/// Width of an FP operation (the `ftype` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarSize {
    Size16,
    Size32,
    Size64,
}

impl ScalarSize {
    pub fn bits(self) -> u32 {
        match self {
            ScalarSize::Size16 => 16,
            ScalarSize::Size32 => 32,
            ScalarSize::Size64 => 64,
        }
    }
    /// The `ftype` field of FP data-processing instructions.
    pub fn ftype(self) -> u32 {
        match self {
            ScalarSize::Size32 => 0b00,
            ScalarSize::Size64 => 0b01,
            ScalarSize::Size16 => 0b11,
        }
    }
}

/// Condition codes, numbered as the hardware numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cond {
    Eq = 0,
    Ne = 1,
    Hs = 2,
    Lo = 3,
    Mi = 4,
    Pl = 5,
    Vs = 6,
    Vc = 7,
    Hi = 8,
    Ls = 9,
    Ge = 10,
    Lt = 11,
    Gt = 12,
    Le = 13,
    Al = 14,
    Nv = 15,
}

impl Cond {
    /// The opposite condition (flips the low bit; `al`/`nv` have none).
    pub fn invert(self) -> Cond {
        Cond::from_bits(self as u8 ^ 1)
    }
    /// The condition with encoding `bits & 15`.
    pub fn from_bits(bits: u8) -> Cond {
        use Cond::*;
        [
            Eq, Ne, Hs, Lo, Mi, Pl, Vs, Vc, Hi, Ls, Ge, Lt, Gt, Le, Al, Nv,
        ][(bits & 15) as usize]
    }
    pub fn bits(self) -> u32 {
        self as u32
    }
    pub fn name(self) -> &'static str {
        [
            "eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le",
            "al", "nv",
        ][self as usize]
    }
}

/// A 12-bit unsigned arithmetic immediate, optionally shifted left by 12.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Imm12 {
    pub bits: u16,
    pub shift12: bool,
}

impl Imm12 {
    /// `value` as `imm12` or `imm12 << 12`, if it is either.
    pub fn maybe_from_u64(value: u64) -> Option<Imm12> {
        if value < 0x1000 {
            Some(Imm12 {
                bits: value as u16,
                shift12: false,
            })
        } else if value < 0x100_0000 && value & 0xfff == 0 {
            Some(Imm12 {
                bits: (value >> 12) as u16,
                shift12: true,
            })
        } else {
            None
        }
    }
    pub fn value(self) -> u64 {
        (self.bits as u64) << if self.shift12 { 12 } else { 0 }
    }
}

/// A logical ("bitmask") immediate: a rotated run of ones replicated across
/// the register in elements of 2, 4, 8, 16, 32 or 64 bits. Stored as the
/// fields `N:immr:imms` the instruction carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImmLogic {
    pub n: bool,
    pub immr: u8,
    pub imms: u8,
    /// The value it denotes (for printing and tests).
    pub value: u64,
    pub size: OperandSize,
}

impl ImmLogic {
    /// The encoding of `value` at width `size`, if it has one. For 32-bit
    /// operations only the low 32 bits of `value` count.
    pub fn maybe_from_u64(value: u64, size: OperandSize) -> Option<ImmLogic> {
        // Work on 64 bits: a 32-bit pattern is the same pattern twice.
        let v = match size {
            OperandSize::Size32 => {
                let lo = value & 0xffff_ffff;
                lo | (lo << 32)
            }
            OperandSize::Size64 => value,
        };
        // All zeros and all ones are the only runs with no encoding.
        if v == 0 || v == u64::MAX {
            return None;
        }
        // The element size: the smallest period the value repeats with.
        let mut e = 64u32;
        while e > 2 {
            let half = e / 2;
            let mask = (1u64 << half) - 1;
            if (v & mask) != ((v >> half) & mask) {
                break;
            }
            e = half;
        }
        let emask = if e == 64 { u64::MAX } else { (1u64 << e) - 1 };
        let elt = v & emask;
        let ones = elt.count_ones();
        // The element must be a rotation of `ones` low ones: rotating it
        // right by `r` lands exactly there for the immr = (e - r) % e.
        let run = if ones == 64 {
            u64::MAX
        } else {
            (1u64 << ones) - 1
        };
        let ror = |x: u64, r: u32| -> u64 {
            if r == 0 {
                x
            } else {
                ((x >> r) | (x << (e - r))) & emask
            }
        };
        let r = (0..e).find(|&r| ror(elt, r) == run)?;
        // `elt = ror(run, immr)`, and ror by `r` undoes ror by `e - r`.
        let immr = ((e - r) % e) as u8;
        let imms = ((!(2 * e - 1) & 0x3f) | (ones - 1)) as u8;
        if size == OperandSize::Size32 && e == 64 {
            return None;
        }
        Some(ImmLogic {
            n: e == 64,
            immr,
            imms,
            value: match size {
                OperandSize::Size32 => value & 0xffff_ffff,
                OperandSize::Size64 => value,
            },
            size,
        })
    }

    /// The 13 bits `N:immr:imms` in instruction order.
    pub fn enc_bits(self) -> u32 {
        ((self.n as u32) << 12) | ((self.immr as u32) << 6) | self.imms as u32
    }
}

/// A 16-bit chunk for `movz`/`movn`/`movk` at a 16-bit-aligned position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MoveWideConst {
    pub bits: u16,
    /// Position in units of 16 bits (0..4; 0..2 at 32 bits).
    pub shift: u8,
}

impl MoveWideConst {
    /// `value` if it is one 16-bit chunk at an aligned position.
    pub fn maybe_from_u64(value: u64) -> Option<MoveWideConst> {
        (0..4u8).find_map(|shift| {
            let s = shift as u32 * 16;
            (value & !(0xffffu64 << s) == 0).then_some(MoveWideConst {
                bits: (value >> s) as u16,
                shift,
            })
        })
    }
    pub fn value(self) -> u64 {
        (self.bits as u64) << (self.shift as u32 * 16)
    }
}

/// Shifts of a register operand (data-processing shifted register).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftOp {
    Lsl = 0,
    Lsr = 1,
    Asr = 2,
    Ror = 3,
}

/// A shifted register operand's shift and amount (below the width).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShiftOpAndAmt {
    pub op: ShiftOp,
    pub amt: u8,
}

/// Extensions of a register operand (add/sub extended register, and the
/// register-offset addressing mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtendOp {
    Uxtb = 0,
    Uxth = 1,
    Uxtw = 2,
    Uxtx = 3,
    Sxtb = 4,
    Sxth = 5,
    Sxtw = 6,
    Sxtx = 7,
}

/// A memory address as a load or store sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AMode {
    /// `[rn, #uimm]`, `uimm` a multiple of the access size below
    /// `4096 * size` (the unsigned-offset form; `rn` may be `sp`).
    UnsignedOffset { rn: Reg, uimm: u32 },
    /// `[rn, #simm]` with `-256 <= simm < 256` (`ldur`/`stur`).
    Unscaled { rn: Reg, simm: i16 },
    /// `[rn, rm]` or `[rn, rm, lsl #log2(size)]`.
    RegReg { rn: Reg, rm: Reg, scaled: bool },
    /// `[rn, wm, uxtw|sxtw {#log2(size)}]` or the `x` forms (`sxtx`).
    RegExtended {
        rn: Reg,
        rm: Reg,
        extend: ExtendOp,
        scaled: bool,
    },
    /// `[rn, #simm]!`: pre-indexed, writes `rn + simm` back to `rn`.
    PreIndexed { rn: Reg, simm: i16 },
    /// `[rn], #simm`: post-indexed.
    PostIndexed { rn: Reg, simm: i16 },
    /// An offset from SP after the prologue (stack slots, outgoing
    /// arguments); the encoder picks the form, using x16 for far offsets.
    SpOffset { off: i64 },
    /// An offset from the frame pointer (incoming stack arguments).
    FpOffset { off: i64 },
    /// An offset into the sized stack-slot area; resolved with the frame
    /// layout (`sp + stackslots_offset + off`).
    SlotOffset { off: i64 },
    /// A regalloc2 spill slot; resolved with the frame layout.
    SpillSlot { slot: u32 },
    /// The literal-pool or PC-relative form: `ldr rt, label`.
    Label {
        label: crate::machinst::buffer::MachLabel,
    },
}

/// Addressing of `ldp`/`stp`: a signed 7-bit offset scaled by the access
/// size, plain or with writeback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PairAMode {
    SignedOffset { rn: Reg, simm: i16 },
    PreIndexed { rn: Reg, simm: i16 },
    PostIndexed { rn: Reg, simm: i16 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imm12_edges() {
        assert_eq!(Imm12::maybe_from_u64(0xfff).map(|i| i.shift12), Some(false));
        assert_eq!(Imm12::maybe_from_u64(0x1000).map(|i| i.bits), Some(1));
        assert_eq!(Imm12::maybe_from_u64(0xfff000).map(|i| i.bits), Some(0xfff));
        assert_eq!(Imm12::maybe_from_u64(0x1001), None);
        assert_eq!(Imm12::maybe_from_u64(0x1000000), None);
    }

    #[test]
    fn logic_rejects() {
        assert!(ImmLogic::maybe_from_u64(0, OperandSize::Size64).is_none());
        assert!(ImmLogic::maybe_from_u64(u64::MAX, OperandSize::Size64).is_none());
        assert!(ImmLogic::maybe_from_u64(0xffff_ffff, OperandSize::Size32).is_none());
        assert!(ImmLogic::maybe_from_u64(0b101, OperandSize::Size64).is_none());
        assert!(ImmLogic::maybe_from_u64(0x1234, OperandSize::Size64).is_none());
        // A 64-bit-only pattern has no 32-bit encoding.
        assert!(ImmLogic::maybe_from_u64(0xffff_ffff, OperandSize::Size64).is_some());
    }

    #[test]
    fn move_wide() {
        assert_eq!(
            MoveWideConst::maybe_from_u64(0xabcd_0000_0000),
            Some(MoveWideConst {
                bits: 0xabcd,
                shift: 2
            })
        );
        assert_eq!(MoveWideConst::maybe_from_u64(0x1_0001), None);
    }
}
