//! Unwind information: where each function's frame is at every instruction
//! boundary, so that a native unwinder, a debugger, a profiler or Kiln's
//! own throw path can walk through Kiln frames (`docs/unwind.md`).
//!
//! The pipeline records target-neutral [`UnwindOp`]s at code offsets while
//! it emits the prologue and the epilogues (and a backend records them
//! inside frame-dependent sequences such as x86-64 tail calls). Each op is
//! computed from the one [`FrameLayout`](crate::machinst::abi::FrameLayout):
//! the setup area, the fixed frame size and the callee-save slots. The ops
//! are part of `CompiledCode` (so they are cached) and are turned into
//! System V call-frame information with `gimli` only where a consumer needs
//! it ([`cie`], [`fde`]): `.eh_frame` in object files, frames registered for
//! JIT code, the `test unwind` printout.
//!
//! Owns: the neutral op vocabulary, its evaluation into rows
//! ([`rows`]), the DWARF register numbering per target and the conversion to
//! `gimli`. Must never: name a target instruction (backends decide which of
//! their instructions an op follows).

use crate::settings::Arch;
use gimli::write::{Address, CallFrameInstruction, CommonInformationEntry, FrameDescriptionEntry};
use gimli::{Encoding, Format, Register};
/// The register type the ops name (re-exported for consumers).
pub use regalloc2::{PReg, RegClass};
use std::fmt;

/// One change of the frame description, effective from the code offset it
/// is recorded at (the end of the instruction that made the change).
/// Offsets are bytes relative to the CFA (the stack pointer of the caller
/// just before its call instruction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnwindOp {
    /// The caller's frame pointer (and, on targets with a link register,
    /// the return address) are stored in the setup area: CFA = SP + `size`,
    /// the frame pointer is saved at CFA - `size`, the link register at
    /// CFA - `size` + 8.
    PushFrameRegs { size: u32 },
    /// The frame pointer now points at the saved frame pointer:
    /// CFA = FP + `size`.
    DefineFrame { size: u32 },
    /// Callee-saved register `reg` is stored at CFA - `below_cfa`.
    SaveReg { reg: PReg, below_cfa: u32 },
    /// An epilogue starts: the body's description is remembered.
    RememberState,
    /// The frame pointer (and link register) hold the caller's values
    /// again; CFA = SP + `sp_to_cfa`.
    RestoreFrameRegs { sp_to_cfa: i32 },
    /// The stack pointer moved: CFA = SP + `sp_to_cfa`.
    SpToCfa { sp_to_cfa: i32 },
    /// After a return (or tail call) in the middle of the code: the body's
    /// description again.
    RestoreState,
    /// The return address was signed or authenticated (aarch64 pointer
    /// authentication: `DW_CFA_AARCH64_negate_ra_state`).
    ToggleReturnAddressSigned,
    /// A copy of the return address is in `reg` (a tail call moving it).
    ReturnAddressIn { reg: PReg },
    /// The return address is at CFA - `below_cfa` again.
    ReturnAddressAt { below_cfa: u32 },
    /// `reg` still holds the caller's value (code reached before the
    /// prologue saved it, such as a stack-limit trap).
    NotSaved { reg: PReg },
}

/// An [`UnwindOp`] at a code offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnwindEntry {
    pub offset: u32,
    pub op: UnwindOp,
}

/// Which register the CFA is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CfaBase {
    Sp,
    Fp,
}

/// The frame description in force over `start..end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub start: u32,
    pub end: u32,
    pub cfa_base: CfaBase,
    pub cfa_offset: i32,
    /// Where the caller's frame pointer is, below the CFA (`None`: still
    /// in the frame-pointer register).
    pub fp_saved: Option<u32>,
    /// Where the return address is, below the CFA (`None`: in the link
    /// register; on x86-64 it is always at CFA - 8).
    pub ra_saved: Option<u32>,
    /// Callee-saved registers stored in the frame, below the CFA.
    pub saves: Vec<(PReg, u32)>,
    /// Whether the return address is signed (aarch64).
    pub ra_signed: bool,
    /// A register holding the return address (then `ra_saved` is `None`).
    pub ra_reg: Option<PReg>,
}

/// The target facts the neutral ops need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CfiTarget {
    pub arch: Arch,
}

impl CfiTarget {
    /// The description of `arch`.
    pub fn new(arch: Arch) -> Self {
        CfiTarget { arch }
    }

    /// CFA - SP at function entry: x86-64's call pushed the return
    /// address; aarch64's is in x30.
    pub fn entry_cfa_offset(&self) -> i32 {
        match self.arch {
            Arch::X86_64 => 8,
            Arch::Aarch64 => 0,
        }
    }

    /// Whether the return address arrives in a register (aarch64's x30).
    pub fn has_link_register(&self) -> bool {
        matches!(self.arch, Arch::Aarch64)
    }

    /// DWARF number of the stack pointer.
    pub fn sp(&self) -> Register {
        Register(match self.arch {
            Arch::X86_64 => 7,
            Arch::Aarch64 => 31,
        })
    }

    /// DWARF number of the frame pointer (rbp, x29).
    pub fn fp(&self) -> Register {
        Register(match self.arch {
            Arch::X86_64 => 6,
            Arch::Aarch64 => 29,
        })
    }

    /// DWARF number of the return-address column (x86-64's RA pseudo
    /// register 16, aarch64's x30).
    pub fn ra(&self) -> Register {
        Register(match self.arch {
            Arch::X86_64 => 16,
            Arch::Aarch64 => 30,
        })
    }

    /// DWARF number of a machine register (System V psABI numbering).
    pub fn dwarf(&self, reg: PReg) -> Option<Register> {
        let n = reg.hw_enc() as u16;
        match (self.arch, reg.class()) {
            (Arch::X86_64, RegClass::Int) => {
                // rax rcx rdx rbx rsp rbp rsi rdi -> 0 2 1 3 7 6 4 5.
                const MAP: [u16; 8] = [0, 2, 1, 3, 7, 6, 4, 5];
                match n {
                    0..=7 => Some(Register(MAP[n as usize])),
                    8..=15 => Some(Register(n)),
                    _ => None,
                }
            }
            (Arch::X86_64, _) if n < 16 => Some(Register(17 + n)),
            (Arch::Aarch64, RegClass::Int) if n <= 30 => Some(Register(n)),
            (Arch::Aarch64, _) if n < 32 => Some(Register(64 + n)),
            _ => None,
        }
    }
}

/// A description Kiln cannot express (a register without a DWARF number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnwindError(pub String);

impl fmt::Display for UnwindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unwind information: {}", self.0)
    }
}

impl std::error::Error for UnwindError {}

/// The DWARF encoding of Kiln's call-frame information (64-bit, CFI
/// version 1 as `.eh_frame` requires).
pub fn encoding() -> Encoding {
    Encoding {
        format: Format::Dwarf32,
        version: 1,
        address_size: 8,
    }
}

/// The common information entry every Kiln function of `target` shares:
/// code alignment 1 (x86-64) or 4 (aarch64), data alignment -8, the
/// entry rule (CFA = SP + 8 with the return address at CFA - 8 on
/// x86-64; CFA = SP with the return address in x30 on aarch64).
pub fn cie(target: CfiTarget) -> CommonInformationEntry {
    let code_align = match target.arch {
        Arch::X86_64 => 1,
        Arch::Aarch64 => 4,
    };
    let mut cie = CommonInformationEntry::new(encoding(), code_align, -8, target.ra());
    cie.add_instruction(CallFrameInstruction::Cfa(
        target.sp(),
        target.entry_cfa_offset(),
    ));
    if !target.has_link_register() {
        cie.add_instruction(CallFrameInstruction::Offset(target.ra(), -8));
    }
    cie
}

/// The frame description entry of one function at `address`, `len` bytes
/// long, from its ops.
pub fn fde(
    target: CfiTarget,
    ops: &[UnwindEntry],
    address: Address,
    len: u32,
) -> Result<FrameDescriptionEntry, UnwindError> {
    let mut fde = FrameDescriptionEntry::new(address, len);
    let mut saved = Vec::new();
    for e in ops {
        for i in instructions(target, e.op, &mut saved)? {
            fde.add_instruction(e.offset, i);
        }
    }
    Ok(fde)
}

/// The call-frame instructions of one op; `saved` tracks the registers
/// with a save rule (the frame registers' restore ends them).
pub fn instructions(
    target: CfiTarget,
    op: UnwindOp,
    saved: &mut Vec<Register>,
) -> Result<Vec<CallFrameInstruction>, UnwindError> {
    use CallFrameInstruction as I;
    Ok(match op {
        UnwindOp::PushFrameRegs { size } => {
            let size = size as i32;
            let mut v = vec![I::CfaOffset(size), I::Offset(target.fp(), -size)];
            if target.has_link_register() {
                v.push(I::Offset(target.ra(), 8 - size));
            }
            v
        }
        UnwindOp::DefineFrame { size } => vec![I::Cfa(target.fp(), size as i32)],
        UnwindOp::SaveReg { reg, below_cfa } => {
            let r = target
                .dwarf(reg)
                .ok_or_else(|| UnwindError(format!("no DWARF number for {reg:?}")))?;
            if !saved.contains(&r) {
                saved.push(r);
            }
            vec![I::Offset(r, -(below_cfa as i32))]
        }
        UnwindOp::RememberState => vec![I::RememberState],
        UnwindOp::RestoreFrameRegs { sp_to_cfa } => {
            // The callee-saves were reloaded before the frame registers:
            // they hold their own values (and the CFA may move next).
            let mut v = vec![I::Cfa(target.sp(), sp_to_cfa), I::SameValue(target.fp())];
            if target.has_link_register() {
                v.push(I::SameValue(target.ra()));
            }
            v.extend(saved.iter().copied().map(I::SameValue));
            v
        }
        UnwindOp::SpToCfa { sp_to_cfa } => vec![I::Cfa(target.sp(), sp_to_cfa)],
        UnwindOp::RestoreState => vec![I::RestoreState],
        UnwindOp::ToggleReturnAddressSigned => vec![I::NegateRaState],
        UnwindOp::ReturnAddressIn { reg } => {
            let r = target
                .dwarf(reg)
                .ok_or_else(|| UnwindError(format!("no DWARF number for {reg:?}")))?;
            vec![I::Register(target.ra(), r)]
        }
        UnwindOp::ReturnAddressAt { below_cfa } => {
            vec![I::Offset(target.ra(), -(below_cfa as i32))]
        }
        UnwindOp::NotSaved { reg } => {
            let r = target
                .dwarf(reg)
                .ok_or_else(|| UnwindError(format!("no DWARF number for {reg:?}")))?;
            vec![I::SameValue(r)]
        }
    })
}

/// The rows the ops describe over `0..len`: one per offset where the
/// description changes (the first starts at 0 with the entry rule).
pub fn rows(target: CfiTarget, ops: &[UnwindEntry], len: u32) -> Vec<Row> {
    let mut cur = Row {
        start: 0,
        end: len,
        cfa_base: CfaBase::Sp,
        cfa_offset: target.entry_cfa_offset(),
        fp_saved: None,
        ra_saved: if target.has_link_register() {
            None
        } else {
            Some(8)
        },
        saves: Vec::new(),
        ra_signed: false,
        ra_reg: None,
    };
    let mut stack: Vec<Row> = Vec::new();
    let mut out: Vec<Row> = Vec::new();
    for e in ops {
        let at = e.offset.min(len);
        if at > cur.start {
            let mut done = cur.clone();
            done.end = at;
            push_row(&mut out, done);
            cur.start = at;
        }
        match e.op {
            UnwindOp::PushFrameRegs { size } => {
                cur.cfa_offset = size as i32;
                cur.fp_saved = Some(size);
                if target.has_link_register() {
                    cur.ra_saved = Some(size - 8);
                }
            }
            UnwindOp::DefineFrame { size } => {
                cur.cfa_base = CfaBase::Fp;
                cur.cfa_offset = size as i32;
            }
            UnwindOp::SaveReg { reg, below_cfa } => {
                cur.saves.retain(|(r, _)| *r != reg);
                cur.saves.push((reg, below_cfa));
            }
            UnwindOp::RememberState => stack.push(cur.clone()),
            UnwindOp::RestoreFrameRegs { sp_to_cfa } => {
                cur.cfa_base = CfaBase::Sp;
                cur.cfa_offset = sp_to_cfa;
                cur.fp_saved = None;
                cur.saves.clear();
                if target.has_link_register() {
                    cur.ra_saved = None;
                }
            }
            UnwindOp::SpToCfa { sp_to_cfa } => {
                cur.cfa_base = CfaBase::Sp;
                cur.cfa_offset = sp_to_cfa;
            }
            UnwindOp::ToggleReturnAddressSigned => cur.ra_signed = !cur.ra_signed,
            UnwindOp::ReturnAddressIn { reg } => {
                cur.ra_reg = Some(reg);
                cur.ra_saved = None;
            }
            UnwindOp::ReturnAddressAt { below_cfa } => {
                cur.ra_reg = None;
                cur.ra_saved = Some(below_cfa);
            }
            UnwindOp::NotSaved { reg } => cur.saves.retain(|(r, _)| *r != reg),
            UnwindOp::RestoreState => {
                if let Some(mut r) = stack.pop() {
                    r.start = cur.start;
                    cur = r;
                }
            }
        }
    }
    if cur.start < len || out.is_empty() {
        cur.end = len;
        push_row(&mut out, cur);
    }
    out
}

/// Appends `row`, merged into the previous one when they describe the
/// frame the same way (a remembered state changes no rule by itself).
fn push_row(out: &mut Vec<Row>, row: Row) {
    if let Some(last) = out.last_mut() {
        let same = Row {
            start: last.start,
            end: last.end,
            ..row.clone()
        };
        if last.end == row.start && *last == same {
            last.end = row.end;
            return;
        }
    }
    out.push(row);
}

/// The row in force at code offset `at`.
pub fn row_at(rows: &[Row], at: u32) -> Option<&Row> {
    rows.iter().find(|r| r.start <= at && at < r.end)
}

/// The text form of `test unwind`: the ops, then the rows.
pub fn describe(target: CfiTarget, ops: &[UnwindEntry], len: u32, out: &mut String) {
    use std::fmt::Write;
    let name = |r: Register| match (target.arch, r.0) {
        (Arch::X86_64, 6) => "rbp".to_string(),
        (Arch::X86_64, 7) => "rsp".to_string(),
        (Arch::X86_64, 16) => "ra".to_string(),
        (Arch::Aarch64, 29) => "x29".to_string(),
        (Arch::Aarch64, 30) => "x30".to_string(),
        (Arch::Aarch64, 31) => "sp".to_string(),
        (_, n) => format!("r{n}"),
    };
    let _ = writeln!(
        out,
        "cie: cfa={}+{}",
        name(target.sp()),
        target.entry_cfa_offset()
    );
    let mut saved = Vec::new();
    for e in ops {
        let Ok(insts) = instructions(target, e.op, &mut saved) else {
            let _ = writeln!(out, "{:#06x}: {:?} (not expressible)", e.offset, e.op);
            continue;
        };
        for i in insts {
            let text = match i {
                CallFrameInstruction::Cfa(r, o) => format!("def_cfa {}+{o}", name(r)),
                CallFrameInstruction::CfaOffset(o) => format!("def_cfa_offset {o}"),
                CallFrameInstruction::Offset(r, o) => {
                    format!("offset {} at cfa{o:+}", name(r))
                }
                CallFrameInstruction::SameValue(r) => format!("same_value {}", name(r)),
                CallFrameInstruction::RememberState => "remember_state".to_string(),
                CallFrameInstruction::RestoreState => "restore_state".to_string(),
                CallFrameInstruction::NegateRaState => "negate_ra_state".to_string(),
                CallFrameInstruction::Register(a, b) => {
                    format!("register {} in {}", name(a), name(b))
                }
                other => format!("{other:?}"),
            };
            let _ = writeln!(out, "{:#06x}: {text}", e.offset);
        }
    }
    for r in rows(target, ops, len) {
        let base = match r.cfa_base {
            CfaBase::Sp => name(target.sp()),
            CfaBase::Fp => name(target.fp()),
        };
        let _ = write!(
            out,
            "row {:#06x}..{:#06x}: cfa={base}+{}",
            r.start, r.end, r.cfa_offset
        );
        if let Some(f) = r.fp_saved {
            let _ = write!(out, " {}=[cfa-{f}]", name(target.fp()));
        }
        if let (true, Some(a)) = (target.has_link_register(), r.ra_saved) {
            let _ = write!(out, " {}=[cfa-{a}]", name(target.ra()));
        }
        if r.ra_signed {
            out.push_str(" ra_signed");
        }
        if let Some(p) = r.ra_reg {
            let n = target
                .dwarf(p)
                .map_or("?".to_string(), |d| format!("r{}", d.0));
            let _ = write!(out, " ra={n}");
        }
        for (p, below) in &r.saves {
            let n = target
                .dwarf(*p)
                .map_or("?".to_string(), |d| format!("r{}", d.0));
            let _ = write!(out, " {n}=[cfa-{below}]");
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gimli::write::{EhFrame, EndianVec, FrameTable};

    fn x64_ops() -> Vec<UnwindEntry> {
        let e = |offset, op| UnwindEntry { offset, op };
        vec![
            e(1, UnwindOp::PushFrameRegs { size: 16 }),
            e(4, UnwindOp::DefineFrame { size: 16 }),
            e(
                12,
                UnwindOp::SaveReg {
                    reg: PReg::new(3, RegClass::Int),
                    below_cfa: 24,
                },
            ),
            e(20, UnwindOp::RememberState),
            e(25, UnwindOp::RestoreFrameRegs { sp_to_cfa: 8 }),
            e(26, UnwindOp::RestoreState),
        ]
    }

    #[test]
    fn rows_follow_the_ops() {
        let t = CfiTarget::new(Arch::X86_64);
        let rows = rows(t, &x64_ops(), 30);
        let cfa: Vec<_> = rows
            .iter()
            .map(|r| (r.start, r.end, r.cfa_base, r.cfa_offset, r.fp_saved))
            .collect();
        assert_eq!(
            cfa,
            vec![
                (0, 1, CfaBase::Sp, 8, None),
                (1, 4, CfaBase::Sp, 16, Some(16)),
                (4, 12, CfaBase::Fp, 16, Some(16)),
                (12, 25, CfaBase::Fp, 16, Some(16)),
                (25, 26, CfaBase::Sp, 8, None),
                (26, 30, CfaBase::Fp, 16, Some(16)),
            ]
        );
        assert_eq!(rows[3].saves, vec![(PReg::new(3, RegClass::Int), 24)]);
        assert_eq!(rows[5].saves, rows[3].saves);
    }

    #[test]
    fn dwarf_numbers_follow_the_psabi() {
        let t = CfiTarget::new(Arch::X86_64);
        let g = |n| t.dwarf(PReg::new(n, RegClass::Int)).unwrap().0;
        assert_eq!(
            [g(0), g(1), g(2), g(3), g(4), g(5), g(6), g(7), g(12)],
            [0, 2, 1, 3, 7, 6, 4, 5, 12]
        );
        assert_eq!(t.dwarf(PReg::new(3, RegClass::Float)).unwrap().0, 20);
        let a = CfiTarget::new(Arch::Aarch64);
        assert_eq!(a.dwarf(PReg::new(19, RegClass::Int)).unwrap().0, 19);
        assert_eq!(a.dwarf(PReg::new(8, RegClass::Float)).unwrap().0, 72);
    }

    /// The table gimli writes reads back with gimli's reader as the same
    /// rows (an independent evaluation of the CFA program).
    #[test]
    fn eh_frame_reads_back_as_the_rows() {
        use gimli::{BaseAddresses, EhFrame as REh, LittleEndian, UnwindContext, UnwindSection};
        let t = CfiTarget::new(Arch::X86_64);
        let mut table = FrameTable::default();
        let cie_id = table.add_cie(cie(t));
        table.add_fde(
            cie_id,
            fde(t, &x64_ops(), Address::Constant(0x1000), 30).unwrap(),
        );
        let mut eh = EhFrame(EndianVec::new(gimli::LittleEndian));
        table.write_eh_frame(&mut eh).unwrap();
        let bytes = eh.0.into_vec();
        let section = REh::new(&bytes, LittleEndian);
        let bases = BaseAddresses::default();
        let mut ctx = UnwindContext::new();
        for (pc, want_reg, want_off) in [
            (0x1000u64, 7u16, 8i64),
            (0x1001, 7, 16),
            (0x1004, 6, 16),
            (0x1019, 7, 8),
            (0x101a, 6, 16),
        ] {
            let row = section
                .unwind_info_for_address(&bases, &mut ctx, pc, REh::cie_from_offset)
                .unwrap();
            match row.cfa() {
                gimli::CfaRule::RegisterAndOffset { register, offset } => {
                    assert_eq!((register.0, *offset), (want_reg, want_off), "at {pc:#x}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
