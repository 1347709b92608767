//! aarch64 registers as regalloc2 `PReg`s: x0–x30 in class `Int` with
//! `hw_enc` = their number, v0–v31 in class `Float`, and the two meanings of
//! encoding 31 kept apart: the stack pointer is `PReg(31, Int)` and the zero
//! register is `PReg(32, Int)`. An instruction field that accepts only one of
//! them is checked by the encoder (`emit.rs`), so a rule can never put `xzr`
//! where the hardware reads `sp` or the reverse.

use crate::machinst::reg::Reg;
use regalloc2::{PReg, PRegSet, RegClass};

/// `hw_enc` of the stack pointer.
pub const SP_ENC: u8 = 31;
/// `hw_enc` of the zero register (outside the hardware's 0..32 so that it
/// differs from `sp`; both encode as 31).
pub const ZR_ENC: u8 = 32;
/// The frame pointer x29 and the link register x30.
pub const FP_ENC: u8 = 29;
pub const LR_ENC: u8 = 30;
/// The intra-procedure-call scratch registers: never allocated, free for
/// sequences the encoder expands (large offsets, veneers).
pub const IP0_ENC: u8 = 16;
pub const IP1_ENC: u8 = 17;
/// x18 is the platform register (reserved on Apple and Windows; Kiln never
/// allocates it anywhere, so one allocator environment serves every OS).
pub const PLATFORM_ENC: u8 = 18;

/// The integer register `enc` (0..=30, `SP_ENC` or `ZR_ENC`).
pub const fn xreg_preg(enc: u8) -> PReg {
    PReg::new(enc as usize, RegClass::Int)
}

/// The vector/FP register `enc` (0..32).
pub const fn vreg_preg(enc: u8) -> PReg {
    PReg::new(enc as usize, RegClass::Float)
}

/// The integer register `enc` as a `Reg`.
pub fn xreg(enc: u8) -> Reg {
    Reg::from(xreg_preg(enc))
}

/// The vector/FP register `enc` as a `Reg`.
pub fn vreg(enc: u8) -> Reg {
    Reg::from(vreg_preg(enc))
}

pub fn sp() -> Reg {
    xreg(SP_ENC)
}
pub fn zr() -> Reg {
    xreg(ZR_ENC)
}
pub fn fp() -> Reg {
    xreg(FP_ENC)
}
pub fn lr() -> Reg {
    xreg(LR_ENC)
}
pub fn ip0() -> Reg {
    xreg(IP0_ENC)
}
pub fn ip1() -> Reg {
    xreg(IP1_ENC)
}

/// Prints a register: integer registers at `bits` width (`x`/`w`, `sp`/`wsp`,
/// `xzr`/`wzr`), FP registers as `d`/`s`/`h`/`q` by `bits`, virtual ones as
/// `%v<n><class>`.
pub fn show_reg(r: Reg, bits: u32) -> String {
    let Some(p) = r.to_real_reg() else {
        return format!("{r:?}");
    };
    let n = p.hw_enc();
    match p.class() {
        RegClass::Int => {
            let w = bits <= 32;
            match (n as u8, w) {
                (SP_ENC, false) => "sp".into(),
                (SP_ENC, true) => "wsp".into(),
                (ZR_ENC, false) => "xzr".into(),
                (ZR_ENC, true) => "wzr".into(),
                (_, false) => format!("x{n}"),
                (_, true) => format!("w{n}"),
            }
        }
        _ => {
            let c = match bits {
                16 => 'h',
                32 => 's',
                64 => 'd',
                _ => 'q',
            };
            format!("{c}{n}")
        }
    }
}

/// AAPCS64: integer argument and return registers x0–x7.
pub const INT_ARGS: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
/// AAPCS64: FP argument and return registers v0–v7.
pub const FLOAT_ARGS: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
/// The register holding the address of an indirect result (x8).
pub const INDIRECT_RESULT_ENC: u8 = 8;

/// The register an indirect tail call's target is fixed to (x9): not an
/// argument register, and the tail-call sequence uses only x10–x17 as
/// scratch before it branches.
pub const TAIL_TARGET_ENC: u8 = 9;

/// The pinned register of `enable_pinned_reg` (x28, as in Cranelift).
pub const PINNED_ENC: u8 = 28;

/// AAPCS64 callee-saved integer registers (x29 is saved by the frame
/// setup, not with these).
pub const CALLEE_SAVED_INT: [u8; 10] = [19, 20, 21, 22, 23, 24, 25, 26, 27, 28];
/// AAPCS64 callee-saved FP registers: the low 64 bits of v8–v15.
pub const CALLEE_SAVED_FLOAT: [u8; 8] = [8, 9, 10, 11, 12, 13, 14, 15];

/// The callee-saved set of AAPCS64 (`system_v`, `apple_aarch64`).
pub fn aapcs_callee_saved(pinned: bool) -> PRegSet {
    let mut s = PRegSet::empty();
    for e in CALLEE_SAVED_INT {
        // The pinned register is never saved or restored: a value
        // `set_pinned_reg` writes outlives the function.
        if !(pinned && e == PINNED_ENC) {
            s.add(xreg_preg(e));
        }
    }
    for e in CALLEE_SAVED_FLOAT {
        s.add(vreg_preg(e));
    }
    s
}

/// What an AAPCS64 call clobbers: x0–x17 and every FP register (the upper
/// halves of v8–v15 are not preserved and Kiln keeps no vectors there, so
/// v8–v15 count as clobbered only when the callee convention says so; here
/// the low halves are preserved and left out).
pub fn aapcs_clobbers() -> PRegSet {
    let mut s = PRegSet::empty();
    for e in 0..=17u8 {
        s.add(xreg_preg(e));
    }
    for e in 0..32u8 {
        if !CALLEE_SAVED_FLOAT.contains(&e) {
            s.add(vreg_preg(e));
        }
    }
    s
}

/// The clobbers of a call from a function that holds 128-bit values in FP
/// registers (`wide_fp`): AAPCS64 preserves only the low 64 bits of
/// v8–v15, and the allocator knows whole registers only, so there every
/// FP register counts as clobbered (a vector or f128 live across a call is
/// kept in a caller-saved register or spilled whole). Other functions keep
/// `aapcs_clobbers`, so their f32/f64 values stay in d8–d15.
pub fn call_clobbers(wide_fp: bool) -> PRegSet {
    let mut s = aapcs_clobbers();
    if wide_fp {
        s.union_from(partially_saved());
    }
    s
}

/// v8–v15: callee-saved in their low 64 bits only.
pub fn partially_saved() -> PRegSet {
    CALLEE_SAVED_FLOAT
        .iter()
        .fold(PRegSet::empty(), |s, &e| s.with(vreg_preg(e)))
}

/// Integer registers the allocator may use: caller-saved first (x0–x15),
/// then callee-saved (x19–x28). Never x16/x17 (encoder scratch), x18
/// (platform), x29/x30 (frame and link), sp or xzr.
pub fn allocatable_xregs() -> (Vec<PReg>, Vec<PReg>) {
    (
        (0..=15u8).map(xreg_preg).collect(),
        CALLEE_SAVED_INT.iter().map(|&e| xreg_preg(e)).collect(),
    )
}

/// FP registers the allocator may use: caller-saved first, then v8–v15.
pub fn allocatable_vregs() -> (Vec<PReg>, Vec<PReg>) {
    (
        (0..32u8)
            .filter(|e| !CALLEE_SAVED_FLOAT.contains(e))
            .map(vreg_preg)
            .collect(),
        CALLEE_SAVED_FLOAT.iter().map(|&e| vreg_preg(e)).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sp_and_zr_differ_but_names_follow_width() {
        assert_ne!(sp(), zr());
        assert_eq!(show_reg(sp(), 64), "sp");
        assert_eq!(show_reg(zr(), 32), "wzr");
        assert_eq!(show_reg(xreg(3), 32), "w3");
        assert_eq!(show_reg(vreg(9), 64), "d9");
        let (pref, non_pref) = allocatable_xregs();
        for p in pref.iter().chain(&non_pref) {
            assert!(!matches!(p.hw_enc() as u8, 16..=18 | 29..=32));
        }
        assert!(aapcs_clobbers().contains(xreg_preg(17)));
        assert!(!aapcs_clobbers().contains(xreg_preg(19)));
        assert!(!aapcs_clobbers().contains(vreg_preg(8)));
        assert!(call_clobbers(true).contains(vreg_preg(8)));
        assert!(call_clobbers(true).contains(vreg_preg(15)));
        assert!(!call_clobbers(true).contains(xreg_preg(19)));
        assert_eq!(call_clobbers(false), aapcs_clobbers());
    }
}
