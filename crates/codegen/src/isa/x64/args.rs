//! Operand types of x86-64 instructions.

use super::regs::show_reg;
use crate::machinst::buffer::{MachLabel, VCodeConstant};
use crate::machinst::reg::Reg;
use kiln_ir::TrapCode;
use std::fmt;

/// The width of an integer operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperandSize {
    Size8,
    Size16,
    Size32,
    Size64,
}

impl OperandSize {
    /// The size in bytes.
    pub fn bytes(self) -> u8 {
        match self {
            OperandSize::Size8 => 1,
            OperandSize::Size16 => 2,
            OperandSize::Size32 => 4,
            OperandSize::Size64 => 8,
        }
    }
    /// The size for a type of `bits` bits (8/16/32/64); `None` otherwise.
    pub fn from_bits(bits: u32) -> Option<OperandSize> {
        match bits {
            8 => Some(OperandSize::Size8),
            16 => Some(OperandSize::Size16),
            32 => Some(OperandSize::Size32),
            64 => Some(OperandSize::Size64),
            _ => None,
        }
    }
    /// 32 for 8/16/32, 64 for 64: the width of ops that have no 8-bit form
    /// and whose low bits do not depend on the width.
    pub fn at_least_32(self) -> OperandSize {
        match self {
            OperandSize::Size64 => OperandSize::Size64,
            _ => OperandSize::Size32,
        }
    }
    /// The Intel memory-size keyword.
    pub fn ptr_name(self) -> &'static str {
        match self {
            OperandSize::Size8 => "byte",
            OperandSize::Size16 => "word",
            OperandSize::Size32 => "dword",
            OperandSize::Size64 => "qword",
        }
    }
}

/// Condition codes, numbered as in the `jcc`/`setcc`/`cmovcc` opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CC {
    /// overflow
    O = 0,
    /// no overflow
    NO = 1,
    /// unsigned <  (carry)
    B = 2,
    /// unsigned >=
    NB = 3,
    /// zero / equal
    Z = 4,
    /// not zero / not equal
    NZ = 5,
    /// unsigned <=
    BE = 6,
    /// unsigned >
    NBE = 7,
    /// negative
    S = 8,
    /// not negative
    NS = 9,
    /// parity (unordered after ucomis*)
    P = 10,
    /// no parity
    NP = 11,
    /// signed <
    L = 12,
    /// signed >=
    NL = 13,
    /// signed <=
    LE = 14,
    /// signed >
    NLE = 15,
}

impl CC {
    pub const ALL: [CC; 16] = [
        CC::O,
        CC::NO,
        CC::B,
        CC::NB,
        CC::Z,
        CC::NZ,
        CC::BE,
        CC::NBE,
        CC::S,
        CC::NS,
        CC::P,
        CC::NP,
        CC::L,
        CC::NL,
        CC::LE,
        CC::NLE,
    ];

    /// The opposite condition.
    pub fn invert(self) -> CC {
        CC::ALL[(self as usize) ^ 1]
    }

    /// The 4-bit encoding.
    pub fn enc(self) -> u8 {
        self as u8
    }

    /// The mnemonic suffix (`e`, `ne`, `b`, `ae`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CC::O => "o",
            CC::NO => "no",
            CC::B => "b",
            CC::NB => "ae",
            CC::Z => "e",
            CC::NZ => "ne",
            CC::BE => "be",
            CC::NBE => "a",
            CC::S => "s",
            CC::NS => "ns",
            CC::P => "p",
            CC::NP => "np",
            CC::L => "l",
            CC::NL => "ge",
            CC::LE => "le",
            CC::NLE => "g",
        }
    }
}

impl fmt::Display for CC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A memory address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Amode {
    /// `[base + simm32]`. `trap`: the access may fault with this code.
    ImmReg {
        simm32: i32,
        base: Reg,
        trap: Option<TrapCode>,
    },
    /// `[base + index << shift + simm32]`, `shift` in 0..=3. The index must
    /// not be rsp (it is never allocatable).
    ImmRegRegShift {
        simm32: i32,
        base: Reg,
        index: Reg,
        shift: u8,
        trap: Option<TrapCode>,
    },
    /// `[rip + label]`.
    RipRelative { target: MachLabel },
    /// `[rip + constant]`: a constant of the function's pool (the buffer
    /// must have it registered).
    Constant(VCodeConstant),
    /// A regalloc2 spill slot, resolved at emission to an rsp-relative
    /// address by `EmitState::spill_slot_amode`.
    SpillSlot { slot: u32 },
}

impl Amode {
    pub fn imm_reg(simm32: i32, base: Reg) -> Amode {
        Amode::ImmReg {
            simm32,
            base,
            trap: None,
        }
    }
    /// `shift` is masked to 0..=3.
    pub fn imm_reg_reg_shift(simm32: i32, base: Reg, index: Reg, shift: u8) -> Amode {
        Amode::ImmRegRegShift {
            simm32,
            base,
            index,
            shift: shift & 3,
            trap: None,
        }
    }
    pub fn rip_relative(target: MachLabel) -> Amode {
        Amode::RipRelative { target }
    }
    /// The same address, marked as possibly trapping with `code`.
    pub fn with_trap(mut self, code: TrapCode) -> Amode {
        match &mut self {
            Amode::ImmReg { trap, .. } | Amode::ImmRegRegShift { trap, .. } => *trap = Some(code),
            Amode::RipRelative { .. } | Amode::Constant(_) | Amode::SpillSlot { .. } => {}
        }
        self
    }
    pub fn trap_code(&self) -> Option<TrapCode> {
        match self {
            Amode::ImmReg { trap, .. } | Amode::ImmRegRegShift { trap, .. } => *trap,
            _ => None,
        }
    }
    /// Visits the registers of the address (all are 64-bit uses).
    pub fn regs_mut(&mut self, mut f: impl FnMut(&mut Reg)) {
        match self {
            Amode::ImmReg { base, .. } => f(base),
            Amode::ImmRegRegShift { base, index, .. } => {
                f(base);
                f(index);
            }
            Amode::RipRelative { .. } | Amode::Constant(_) | Amode::SpillSlot { .. } => {}
        }
    }
    /// Intel syntax, without the size keyword: `[rax+rbx*4+0x10]`.
    pub fn pretty(&self) -> String {
        fn disp(d: i32) -> String {
            match d {
                0 => String::new(),
                d if d < 0 => format!("-{:#x}", (d as i64).unsigned_abs()),
                d => format!("+{d:#x}"),
            }
        }
        match self {
            Amode::ImmReg { simm32, base, .. } => {
                format!("[{}{}]", show_reg(*base, 8), disp(*simm32))
            }
            Amode::ImmRegRegShift {
                simm32,
                base,
                index,
                shift,
                ..
            } => {
                let scale = if *shift == 0 {
                    String::new()
                } else {
                    format!("*{}", 1 << shift)
                };
                format!(
                    "[{}+{}{scale}{}]",
                    show_reg(*base, 8),
                    show_reg(*index, 8),
                    disp(*simm32)
                )
            }
            Amode::RipRelative { target } => format!("[rip+{target}]"),
            Amode::Constant(c) => format!("[rip+const{}]", c.as_u32()),
            Amode::SpillSlot { slot } => format!("[rsp+spill{slot}]"),
        }
    }
}

/// A register or a memory operand.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegMem {
    Reg(Reg),
    Mem(Amode),
}

impl RegMem {
    pub fn pretty(&self, bytes: u8) -> String {
        match self {
            RegMem::Reg(r) => show_reg(*r, bytes),
            RegMem::Mem(a) => format!("{} ptr {}", size_ptr(bytes), a.pretty()),
        }
    }
}

/// A register, memory or 32-bit immediate operand (the immediate is
/// sign-extended to the operation's width).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegMemImm {
    Reg(Reg),
    Mem(Amode),
    Imm(i32),
}

impl RegMemImm {
    pub fn pretty(&self, bytes: u8) -> String {
        match self {
            RegMemImm::Reg(r) => show_reg(*r, bytes),
            RegMemImm::Mem(a) => format!("{} ptr {}", size_ptr(bytes), a.pretty()),
            RegMemImm::Imm(i) => pretty_imm(sext_at(*i as i64, bytes)),
        }
    }
}

impl From<RegMem> for RegMemImm {
    fn from(rm: RegMem) -> RegMemImm {
        match rm {
            RegMem::Reg(r) => RegMemImm::Reg(r),
            RegMem::Mem(a) => RegMemImm::Mem(a),
        }
    }
}

pub(crate) fn size_ptr(bytes: u8) -> &'static str {
    match bytes {
        1 => "byte",
        2 => "word",
        4 => "dword",
        8 => "qword",
        _ => "xmmword",
    }
}

/// `v` truncated to `bytes` bytes and sign-extended (how the CPU sees an
/// immediate of an operation of that width).
pub(crate) fn sext_at(v: i64, bytes: u8) -> i64 {
    match bytes {
        1 => v as i8 as i64,
        2 => v as i16 as i64,
        4 => v as i32 as i64,
        _ => v,
    }
}

pub(crate) fn pretty_imm(i: i64) -> String {
    if i < 0 {
        format!("-{:#x}", i.unsigned_abs())
    } else {
        format!("{i:#x}")
    }
}

/// Shift amount: `cl` (a register fixed to rcx) or an immediate (masked to
/// the operand width by the hardware).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ShiftAmount {
    Cl(Reg),
    Imm(u8),
}

/// Zero/sign extension modes for loads and register extensions:
/// source width to destination width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtMode {
    /// byte -> 32 bits (zero-extending further to 64 for free when unsigned)
    BL,
    /// byte -> 64 bits
    BQ,
    /// word -> 32 bits
    WL,
    /// word -> 64 bits
    WQ,
    /// dword -> 64 bits
    LQ,
}

impl ExtMode {
    pub fn src_bytes(self) -> u8 {
        match self {
            ExtMode::BL | ExtMode::BQ => 1,
            ExtMode::WL | ExtMode::WQ => 2,
            ExtMode::LQ => 4,
        }
    }
    pub fn dst_bytes(self) -> u8 {
        match self {
            ExtMode::BL | ExtMode::WL => 4,
            _ => 8,
        }
    }
}
