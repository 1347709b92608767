//! x86-64 registers: the 16 general-purpose registers and the 16 SSE
//! registers as regalloc2 `PReg`s (GPRs in class `Int`, XMMs in class
//! `Float`, `hw_enc` = the hardware encoding), their names, and the System V
//! register sets used by the ABI.

use crate::machinst::reg::Reg;
use regalloc2::{PReg, PRegSet, RegClass};

/// Hardware encodings of the GPRs.
pub mod enc {
    pub const RAX: u8 = 0;
    pub const RCX: u8 = 1;
    pub const RDX: u8 = 2;
    pub const RBX: u8 = 3;
    pub const RSP: u8 = 4;
    pub const RBP: u8 = 5;
    pub const RSI: u8 = 6;
    pub const RDI: u8 = 7;
    pub const R8: u8 = 8;
    pub const R9: u8 = 9;
    pub const R10: u8 = 10;
    pub const R11: u8 = 11;
    pub const R12: u8 = 12;
    pub const R13: u8 = 13;
    pub const R14: u8 = 14;
    pub const R15: u8 = 15;
}

/// The GPR with hardware encoding `enc` (0..16).
pub const fn gpr_preg(enc: u8) -> PReg {
    PReg::new(enc as usize, RegClass::Int)
}

/// The XMM register with hardware encoding `enc` (0..16).
pub const fn xmm_preg(enc: u8) -> PReg {
    PReg::new(enc as usize, RegClass::Float)
}

/// The GPR with hardware encoding `enc` as a `Reg`.
pub fn gpr(enc: u8) -> Reg {
    Reg::from(gpr_preg(enc))
}

/// The XMM register with hardware encoding `enc` as a `Reg`.
pub fn xmm(enc: u8) -> Reg {
    Reg::from(xmm_preg(enc))
}

macro_rules! gprs {
    ($($name:ident = $enc:ident;)*) => {
        $(pub fn $name() -> Reg { gpr(enc::$enc) })*
    };
}

gprs! {
    rax = RAX; rcx = RCX; rdx = RDX; rbx = RBX; rsp = RSP; rbp = RBP; rsi = RSI; rdi = RDI;
    r8 = R8; r9 = R9; r10 = R10; r11 = R11; r12 = R12; r13 = R13; r14 = R14; r15 = R15;
}

const GPR64: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
const GPR32: [&str; 16] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d",
    "r13d", "r14d", "r15d",
];
const GPR16: [&str; 16] = [
    "ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w",
    "r14w", "r15w",
];
/// 8-bit names as encoded with a REX prefix (spl/bpl/sil/dil, not ah..bh).
const GPR8: [&str; 16] = [
    "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b",
    "r13b", "r14b", "r15b",
];
const XMM: [&str; 16] = [
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
    "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
];

/// The name of a GPR (by encoding) at a width of `bytes` (1, 2, 4 or 8).
pub fn gpr_name(enc: u8, bytes: u8) -> &'static str {
    let i = (enc & 15) as usize;
    match bytes {
        1 => GPR8[i],
        2 => GPR16[i],
        4 => GPR32[i],
        _ => GPR64[i],
    }
}

/// The name of an XMM register by encoding.
pub fn xmm_name(enc: u8) -> &'static str {
    XMM[(enc & 15) as usize]
}

/// Prints a register: physical ones by name (GPRs at `bytes` width),
/// virtual ones as `%v<n><class>` with a width suffix for GPRs.
pub fn show_reg(r: Reg, bytes: u8) -> String {
    match r.to_real_reg() {
        Some(p) if p.class() == RegClass::Int && p.hw_enc() < 16 => {
            gpr_name(p.hw_enc() as u8, bytes).to_string()
        }
        Some(p) if p.hw_enc() < 16 => xmm_name(p.hw_enc() as u8).to_string(),
        _ if r.class() == RegClass::Int => {
            let suffix = match bytes {
                1 => "b",
                2 => "w",
                4 => "l",
                _ => "",
            };
            format!("{r:?}{suffix}")
        }
        _ => format!("{r:?}"),
    }
}

/// System V AMD64: integer argument registers, in order.
pub const SYSV_INT_ARGS: [u8; 6] = [enc::RDI, enc::RSI, enc::RDX, enc::RCX, enc::R8, enc::R9];
/// System V AMD64: float argument registers (xmm0..xmm7), in order.
pub const SYSV_FLOAT_ARGS: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
/// System V AMD64: integer return registers, in order.
pub const SYSV_INT_RETS: [u8; 2] = [enc::RAX, enc::RDX];
/// System V AMD64: float return registers, in order.
pub const SYSV_FLOAT_RETS: [u8; 2] = [0, 1];
/// System V AMD64: callee-saved GPRs (rbp is the frame pointer).
pub const SYSV_CALLEE_SAVED: [u8; 6] = [enc::RBX, enc::RBP, enc::R12, enc::R13, enc::R14, enc::R15];

/// The registers a System V call clobbers: every caller-saved GPR and all
/// XMM registers.
pub fn sysv_clobbers() -> PRegSet {
    let mut s = PRegSet::empty();
    for e in [
        enc::RAX,
        enc::RCX,
        enc::RDX,
        enc::RSI,
        enc::RDI,
        enc::R8,
        enc::R9,
        enc::R10,
        enc::R11,
    ] {
        s.add(gpr_preg(e));
    }
    for e in 0..16 {
        s.add(xmm_preg(e));
    }
    s
}

/// GPRs the allocator may use, caller-saved first (preferred), then
/// callee-saved; rsp and rbp are never allocatable.
pub fn allocatable_gprs() -> (Vec<PReg>, Vec<PReg>) {
    let pref = [
        enc::RAX,
        enc::RCX,
        enc::RDX,
        enc::RSI,
        enc::RDI,
        enc::R8,
        enc::R9,
        enc::R10,
        enc::R11,
    ];
    let non_pref = [enc::RBX, enc::R12, enc::R13, enc::R14, enc::R15];
    (
        pref.iter().map(|&e| gpr_preg(e)).collect(),
        non_pref.iter().map(|&e| gpr_preg(e)).collect(),
    )
}

/// XMM registers the allocator may use (all caller-saved under System V).
pub fn allocatable_xmms() -> Vec<PReg> {
    (0..16).map(xmm_preg).collect()
}
