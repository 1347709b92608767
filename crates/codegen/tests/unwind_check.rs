//! The unwind checker: for every function of the wasm corpus, the runtests
//! and Kiln's own run files, the unwind information Kiln records must
//! describe where the frame really is at every instruction boundary of the
//! code it emitted.
//!
//! The code is decoded with iced-x86 (an independent decoder) along its
//! control flow from the entry (direct branches, fall-through, jump tables
//! read from the code), simulating how each instruction moves rsp and what
//! rbp holds, in bytes below the CFA (the caller's rsp before its call).
//! At each reachable boundary the row in force (`kiln_codegen::unwind::rows`)
//! must agree: a CFA on rsp + n needs rsp = CFA - n, on rbp + n needs rbp
//! = CFA - n; a saved caller's rbp must be where `push rbp` put it and a
//! row without one needs rbp to hold the caller's value; each saved
//! callee-save must have been stored at the slot the row names. The walk
//! also enters the handlers of `try_call` sites as a throw enters them
//! (`kiln_module::throw`: rbp of the frame that made the call, rsp =
//! rbp - fp_to_sp, every other register clobbered). A control test shows
//! a wrong description is caught, also one at a handler only.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use kiln_codegen::compiled::{CompiledCode, Stencil};
use kiln_codegen::isa::{self, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_codegen::unwind::{rows, CfaBase, CfiTarget, Row, UnwindOp};
use regalloc2::RegClass;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

mod unwind_common;
use unwind_common::{check_corpus, root};

/// What rbp holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rbp {
    /// The caller's value (as on entry).
    Caller,
    /// The address CFA - n.
    Frame(i64),
    /// Anything else.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    /// CFA - rsp, when known (a probe loop moves rsp by a varying amount
    /// while the CFA is on rbp).
    sp: Option<i64>,
    rbp: Rbp,
    /// Where `push rbp` stored the caller's rbp, below the CFA.
    saved_rbp: Option<i64>,
    /// Callee-saves stored in the frame while they still held the
    /// caller's value: (class, encoding) -> below CFA.
    stored: BTreeMap<(u8, u8), i64>,
    /// Registers written since entry (no longer the caller's values).
    dirty: BTreeSet<(u8, u8)>,
    /// Where copies of the return address are, below the CFA (a tail call
    /// moves it).
    ra_at: BTreeSet<i64>,
    /// The return address was stored somewhere else (the CFA of the frame
    /// being entered may then differ from the entry CFA).
    ra_moved: bool,
    /// A register holding a copy of the return address.
    ra_reg: Option<(u8, u8)>,
}

impl State {
    fn entry() -> Self {
        State {
            sp: Some(8),
            rbp: Rbp::Caller,
            saved_rbp: None,
            stored: BTreeMap::new(),
            dirty: BTreeSet::new(),
            ra_at: BTreeSet::from([8]),
            ra_moved: false,
            ra_reg: None,
        }
    }

    fn join(&self, o: &State) -> State {
        State {
            sp: if self.sp == o.sp { self.sp } else { None },
            rbp: if self.rbp == o.rbp {
                self.rbp
            } else {
                Rbp::Other
            },
            saved_rbp: if self.saved_rbp == o.saved_rbp {
                self.saved_rbp
            } else {
                None
            },
            stored: self
                .stored
                .iter()
                .filter(|(k, v)| o.stored.get(k) == Some(v))
                .map(|(k, v)| (*k, *v))
                .collect(),
            dirty: self.dirty.union(&o.dirty).copied().collect(),
            ra_at: self.ra_at.intersection(&o.ra_at).copied().collect(),
            ra_moved: self.ra_moved || o.ra_moved,
            ra_reg: if self.ra_reg == o.ra_reg {
                self.ra_reg
            } else {
                None
            },
        }
    }
}

fn is_rsp(r: Register) -> bool {
    matches!(
        r,
        Register::RSP | Register::ESP | Register::SP | Register::SPL
    )
}

fn is_rbp(r: Register) -> bool {
    matches!(
        r,
        Register::RBP | Register::EBP | Register::BP | Register::BPL
    )
}

/// (class, hardware encoding) of a register as Kiln's PReg spells it.
fn preg_key(r: Register) -> Option<(u8, u8)> {
    const GPR: [Register; 16] = [
        Register::RAX,
        Register::RCX,
        Register::RDX,
        Register::RBX,
        Register::RSP,
        Register::RBP,
        Register::RSI,
        Register::RDI,
        Register::R8,
        Register::R9,
        Register::R10,
        Register::R11,
        Register::R12,
        Register::R13,
        Register::R14,
        Register::R15,
    ];
    if let Some(n) = GPR.iter().position(|&g| g == r) {
        return Some((RegClass::Int as u8, n as u8));
    }
    // Narrower forms write (part of) the same register.
    let x = r as u32;
    for family in [Register::EAX, Register::AX] {
        let f = family as u32;
        if (f..f + 16).contains(&x) {
            return Some((RegClass::Int as u8, (x - f) as u8));
        }
    }
    let al = Register::AL as u32;
    if (al..al + 20).contains(&x) {
        // al cl dl bl ah ch dh bh spl bpl sil dil r8l..r15l
        let k = x - al;
        let n = match k {
            0..=3 => k,
            4..=7 => k - 4,
            _ => k - 4,
        };
        return Some((RegClass::Int as u8, n as u8));
    }
    let x0 = Register::XMM0 as u32;
    (x0..x0 + 16)
        .contains(&x)
        .then(|| (RegClass::Float as u8, (x - x0) as u8))
}

fn is_jcc(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Jo | Jno | Jb | Jae | Je | Jne | Jbe | Ja | Js | Jns | Jp | Jnp | Jl | Jge | Jle | Jg
    )
}

fn is_direct(ins: &Instruction) -> bool {
    matches!(
        ins.op0_kind(),
        OpKind::NearBranch64 | OpKind::NearBranch32 | OpKind::NearBranch16
    )
}

/// Checks one row against the simulated state at `off`. The row's CFA is
/// computed from the state (`cfa`, in bytes below the entry CFA); the
/// return address, the caller's rbp and each saved register must be at
/// the places the row gives relative to it, and while the return address
/// has not moved the row's CFA must be the entry CFA itself. (A tail call
/// moves the return address and with it the CFA of the frame being
/// entered.)
fn check_row(row: &Row, st: &State, off: u64) -> Result<(), String> {
    let n = i64::from(row.cfa_offset);
    let cfa = match (row.cfa_base, st.sp, st.rbp) {
        (CfaBase::Sp, Some(sp), _) => sp - n,
        (CfaBase::Fp, _, Rbp::Frame(f)) => f - n,
        _ => {
            return Err(format!(
                "{off:#x}: CFA = {:?}+{n} but that register is not known ({st:?})",
                row.cfa_base
            ))
        }
    };
    match (row.ra_reg, row.ra_saved) {
        (Some(p), _) => {
            if st.ra_reg != Some((p.class() as u8, p.hw_enc() as u8)) {
                return Err(format!(
                    "{off:#x}: return address said to be in {p:?} ({st:?})"
                ));
            }
        }
        (None, Some(r)) if st.ra_at.contains(&(cfa + i64::from(r))) => {}
        (None, r) => {
            return Err(format!(
                "{off:#x}: row puts the return address at CFA'-{r:?} (CFA' = entry CFA-{cfa}); copies are at {:?} ({st:?})",
                st.ra_at
            ));
        }
    }
    if !st.ra_moved && cfa != 0 {
        return Err(format!("{off:#x}: CFA described {cfa} bytes off"));
    }
    match row.fp_saved {
        Some(b) => {
            // The caller's rbp is in the frame; rbp itself may be anything.
            if st.saved_rbp != Some(cfa + i64::from(b)) {
                return Err(format!(
                    "{off:#x}: caller's rbp said to be at CFA-{b}, pushed at {:?}",
                    st.saved_rbp
                ));
            }
        }
        None => {
            if st.rbp != Rbp::Caller {
                return Err(format!(
                    "{off:#x}: rbp said to hold the caller's value, holds {:?}",
                    st.rbp
                ));
            }
        }
    }
    for (p, below) in &row.saves {
        let k = (p.class() as u8, p.hw_enc() as u8);
        let here = st.stored.get(&k).copied();
        if here != Some(cfa + i64::from(*below)) {
            return Err(format!(
                "{off:#x}: {p:?} said to be saved at CFA-{below}, stored at {here:?}"
            ));
        }
    }
    Ok(())
}

/// The rsp-relative displacement of a memory operand based on rsp.
fn rsp_disp(ins: &Instruction, op: u32) -> Option<i64> {
    (ins.op_kind(op) == OpKind::Memory
        && is_rsp(ins.memory_base())
        && ins.memory_index() == Register::None)
        .then(|| ins.memory_displacement64() as i64)
}

/// `try_call` handlers entered by [`check_function`] (all threads), so the
/// corpus tests can show the walk reached some.
static HANDLERS_ENTERED: AtomicUsize = AtomicUsize::new(0);

/// Checks `code`'s unwind information against its machine code; returns
/// the number of instruction boundaries checked.
fn check_function(code: &CompiledCode<Stencil>) -> Result<usize, String> {
    check_walk(code, true)
}

/// [`check_function`], entering `try_call` handlers only if
/// `walk_handlers` (the control test shows what that adds).
fn check_walk(code: &CompiledCode<Stencil>, walk_handlers: bool) -> Result<usize, String> {
    let len = code.code.len() as u64;
    let rows = rows(CfiTarget::new(Arch::X86_64), &code.unwind, len as u32);
    let row_at = |off: u64| {
        rows.iter()
            .find(|r| u64::from(r.start) <= off && off < u64::from(r.end))
            .ok_or_else(|| format!("{off:#x}: no row"))
    };
    let mut seen: HashMap<u64, State> = HashMap::new();
    let mut work: Vec<(u64, State)> = vec![(0, State::entry())];
    let mut checked = 0;
    let mut dec = Decoder::with_ip(64, &code.code, 0, DecoderOptions::NONE);
    while let Some((mut off, mut st)) = work.pop() {
        // Last `cmp r, imm` and `lea r, [rip+x]`: a jump table's bound and
        // address.
        let mut bound: Option<u64> = None;
        let mut table: Option<u64> = None;
        // The previous instruction was a call from the body (sp below the
        // setup area: a call with stack arguments has an outgoing area): a
        // `sub rsp, n` right after it puts back the `n` bytes a `tail`
        // callee popped (no net move). The prologue's probestack call,
        // made with sp at the setup area, is followed by the frame's own
        // `sub rsp`.
        let mut after_call = false;
        loop {
            if off >= len {
                return Err(format!("{off:#x}: runs off the end of the code"));
            }
            if let Some(old) = seen.get(&off) {
                let joined = old.join(&st);
                if &joined == old {
                    break;
                }
                st = joined;
            }
            seen.insert(off, st.clone());
            check_row(row_at(off)?, &st, off)?;
            checked += 1;
            dec.set_position(off as usize).map_err(|e| e.to_string())?;
            dec.set_ip(off);
            let ins = dec.decode();
            if ins.is_invalid() {
                return Err(format!("{off:#x}: undecodable"));
            }
            let next = ins.next_ip();
            let m = ins.mnemonic();
            let follows_call = std::mem::replace(
                &mut after_call,
                m == Mnemonic::Call && st.sp.is_some_and(|s| s > 16),
            );
            let op0_reg = (ins.op_count() > 0 && ins.op0_kind() == OpKind::Register)
                .then(|| ins.op0_register());
            let sp_add = |st: &mut State, d: i64| st.sp = st.sp.map(|s| s + d);
            // A register written by this instruction is no longer the
            // caller's value (nor a copy of the return address), except
            // the return-address load itself (below).
            if let Some(k) = op0_reg
                .filter(|_| !matches!(m, Mnemonic::Cmp | Mnemonic::Test | Mnemonic::Push))
                .and_then(preg_key)
            {
                st.dirty.insert(k);
                if st.ra_reg == Some(k) {
                    st.ra_reg = None;
                }
                // `mov r, [rbp+8]` with rbp on the frame: the return
                // address (the tail-call sequence keeps it in r10).
                if m == Mnemonic::Mov
                    && ins.op1_kind() == OpKind::Memory
                    && is_rbp(ins.memory_base())
                    && ins.memory_index() == Register::None
                {
                    if let Rbp::Frame(f) = st.rbp {
                        if st.ra_at.contains(&(f - ins.memory_displacement64() as i64)) {
                            st.ra_reg = Some(k);
                        }
                    }
                }
            }
            // A direct jump or call whose target is a relocation leaves
            // the function (a tail call when it is a jump).
            let relocated = code
                .relocs
                .iter()
                .any(|r| u64::from(r.offset) > off && u64::from(r.offset) < next);
            match m {
                Mnemonic::Push => {
                    if ins.op0_kind() == OpKind::Register
                        && is_rbp(ins.op0_register())
                        && st.rbp == Rbp::Caller
                    {
                        st.saved_rbp = st.sp.map(|s| s + 8);
                    }
                    sp_add(&mut st, 8);
                }
                Mnemonic::Pop => {
                    let at = st.sp;
                    sp_add(&mut st, -8);
                    if let Some(r) = op0_reg {
                        if is_rbp(r) {
                            st.rbp = if at.is_some() && at == st.saved_rbp {
                                Rbp::Caller
                            } else {
                                Rbp::Other
                            };
                        } else if is_rsp(r) {
                            return Err(format!("{off:#x}: pop rsp"));
                        }
                    }
                }
                Mnemonic::Ret => {
                    if st.sp != Some(8) || st.rbp != Rbp::Caller {
                        return Err(format!("{off:#x}: ret with {st:?}"));
                    }
                    break;
                }
                Mnemonic::Ud2 | Mnemonic::Int3 => break,
                Mnemonic::Call => {
                    // A `try_call`: a throw enters each handler with rbp
                    // restored, rsp = rbp - fp_to_sp and every other
                    // register clobbered (the frame's slots are intact).
                    for site in code
                        .exception_sites
                        .iter()
                        .filter(|e| walk_handlers && u64::from(e.ret_addr) == next)
                    {
                        let Rbp::Frame(f) = st.rbp else {
                            return Err(format!("{off:#x}: try_call without rbp on the frame"));
                        };
                        let mut h = st.clone();
                        for n in 0..16u8 {
                            if n != 4 && n != 5 {
                                h.dirty.insert((RegClass::Int as u8, n));
                            }
                            h.dirty.insert((RegClass::Float as u8, n));
                        }
                        h.ra_reg = None;
                        h.sp = Some(f + i64::from(site.fp_to_sp));
                        for e in &site.handlers {
                            HANDLERS_ENTERED.fetch_add(1, Ordering::Relaxed);
                            work.push((u64::from(e.handler), h.clone()));
                        }
                    }
                }
                _ if is_jcc(m) && is_direct(&ins) => {
                    work.push((ins.near_branch_target(), st.clone()));
                }
                Mnemonic::Jmp if is_direct(&ins) && relocated => {
                    if st.rbp != Rbp::Caller || !st.sp.is_some_and(|s| st.ra_at.contains(&s)) {
                        return Err(format!("{off:#x}: tail call with {st:?}"));
                    }
                    break;
                }
                Mnemonic::Jmp if is_direct(&ins) => {
                    off = ins.near_branch_target();
                    continue;
                }
                Mnemonic::Jmp => {
                    if st.rbp == Rbp::Caller && st.sp.is_some_and(|s| st.ra_at.contains(&s)) {
                        // A tail call through a register or memory.
                        break;
                    }
                    let (Some(n), Some(t)) = (bound, table) else {
                        return Err(format!("{off:#x}: indirect jump inside the frame"));
                    };
                    for k in 0..n {
                        let at = (t + 4 * k) as usize;
                        let e = code
                            .code
                            .get(at..at + 4)
                            .ok_or_else(|| format!("{off:#x}: table past the end"))?;
                        let rel = i32::from_le_bytes(e.try_into().unwrap());
                        work.push(((t as i64 + i64::from(rel)) as u64, st.clone()));
                    }
                    break;
                }
                Mnemonic::Cmp if ins.op_count() == 2 && ins.op1_kind() != OpKind::Register => {
                    bound = Some(ins.immediate(1));
                }
                Mnemonic::Lea if ins.is_ip_rel_memory_operand() => {
                    table = Some(ins.ip_rel_memory_address());
                    if op0_reg.is_some_and(|r| is_rsp(r) || is_rbp(r)) {
                        return Err(format!("{off:#x}: lea of rsp/rbp from rip"));
                    }
                }
                Mnemonic::Lea if op0_reg.is_some_and(is_rsp) => match rsp_disp(&ins, 1) {
                    Some(d) => sp_add(&mut st, -d),
                    None => return Err(format!("{off:#x}: lea rsp of a non-rsp address")),
                },
                Mnemonic::Sub | Mnemonic::Add if op0_reg.is_some_and(is_rsp) => {
                    if ins.op1_kind() == OpKind::Register {
                        return Err(format!("{off:#x}: rsp adjusted by a register"));
                    }
                    let d = ins.immediate(1) as i64;
                    if !(follows_call && m == Mnemonic::Sub) {
                        sp_add(&mut st, if m == Mnemonic::Sub { d } else { -d });
                    }
                }
                Mnemonic::Mov if op0_reg.is_some_and(is_rbp) => {
                    st.rbp = if ins.op1_kind() == OpKind::Register && is_rsp(ins.op1_register()) {
                        st.sp.map_or(Rbp::Other, Rbp::Frame)
                    } else if ins.op1_kind() == OpKind::Memory
                        && is_rbp(ins.memory_base())
                        && ins.memory_index() == Register::None
                        && ins.memory_displacement64() == 0
                        && matches!((st.rbp, st.saved_rbp), (Rbp::Frame(f), Some(s)) if f == s)
                    {
                        Rbp::Caller
                    } else {
                        Rbp::Other
                    };
                }
                Mnemonic::Mov if op0_reg.is_some_and(is_rsp) => match (ins.op1_kind(), st.rbp) {
                    (OpKind::Register, Rbp::Frame(f)) if is_rbp(ins.op1_register()) => {
                        st.sp = Some(f)
                    }
                    _ => return Err(format!("{off:#x}: rsp loaded from elsewhere")),
                },
                Mnemonic::Mov | Mnemonic::Movdqu | Mnemonic::Vmovdqu
                    if ins.op_count() == 2 && ins.op0_kind() == OpKind::Memory =>
                {
                    // A store `mov [rsp+d], r` / `movdqu` (`vmovdqu` with
                    // AVX): a callee-save
                    // while the register still holds the caller's value,
                    // or the return address moved by a tail call.
                    if let (Some(d), Some(sp), OpKind::Register) =
                        (rsp_disp(&ins, 0), st.sp, ins.op1_kind())
                    {
                        if let Some(k) = preg_key(ins.op1_register()) {
                            if st.ra_reg == Some(k) {
                                st.ra_at.insert(sp - d);
                                st.ra_moved = true;
                            } else {
                                // Whatever was in the slot is gone.
                                st.ra_at.remove(&(sp - d));
                                if !st.dirty.contains(&k) {
                                    st.stored.insert(k, sp - d);
                                }
                            }
                        }
                    }
                }
                _ => {
                    if let Some(r) = op0_reg {
                        if is_rsp(r) && !matches!(m, Mnemonic::Cmp | Mnemonic::Test) {
                            return Err(format!("{off:#x}: unexpected write to rsp: {m:?}"));
                        }
                        if is_rbp(r) && !matches!(m, Mnemonic::Cmp | Mnemonic::Test) {
                            st.rbp = Rbp::Other;
                        }
                    }
                }
            }
            off = next;
        }
    }
    Ok(checked)
}

fn isa(probe: Option<&str>) -> Box<dyn TargetIsa> {
    isa_with(probe, false)
}

/// With `avx`, the ISA has `has_avx`: XMM saves, moves and spills are
/// VEX-encoded.
fn isa_with(probe: Option<&str>, avx: bool) -> Box<dyn TargetIsa> {
    let mut flags = Flags {
        preserve_frame_pointers: true,
        enable_multi_ret_implicit_sret: true,
        enable_llvm_abi_extensions: true,
        ..Flags::default()
    };
    assert!(flags.unwind_info, "unwind information is on by default");
    if let Some(strategy) = probe {
        flags.set("enable_probestack", Some("true")).unwrap();
        flags.set("probestack_strategy", Some(strategy)).unwrap();
    }
    let mut isa_flags = IsaFlags::baseline(Arch::X86_64);
    if avx {
        isa_flags.set("has_avx", Some("true")).unwrap();
    }
    isa::lookup(flags, isa_flags).unwrap()
}

#[test]
fn wasm_corpus_unwind_info_matches_the_code() {
    let (f, b) = check_corpus(
        &[root().join("../shared/clif/wasm-corpus")],
        &*isa(None),
        check_function,
    );
    println!("wasm corpus: {f} functions, {b} instruction boundaries checked");
    assert!(f >= 2602, "only {f} functions checked");
}

#[test]
fn runtests_and_own_files_unwind_info_matches_the_code() {
    let dirs = [
        root().join("../shared/clif/runtests"),
        root().join("cranelift-like-ir"),
    ];
    for probe in [None, Some("inline"), Some("outline")] {
        let (f, b) = check_corpus(&dirs, &*isa(probe), check_function);
        println!(
            "runtests + cranelift-like-ir (probestack {probe:?}): {f} functions, {b} boundaries"
        );
        assert!(f >= 1486, "only {f} functions checked");
    }
    // VEX-encoded float code (callee-saved XMM registers of
    // windows_fastcall stored with `vmovdqu`; without that store
    // recognised, this leg fails).
    let (f, b) = check_corpus(&dirs, &*isa_with(None, true), check_function);
    println!("runtests + cranelift-like-ir (has_avx): {f} functions, {b} boundaries");
    assert!(f >= 1486, "only {f} functions checked");
    // throw.clif, try_call.clif and Kiln's own try-call files have handlers.
    let h = HANDLERS_ENTERED.load(Ordering::Relaxed);
    println!("try_call handlers entered: {h}");
    assert!(h >= 10, "only {h} try_call handlers walked");
}

/// The checker catches wrong information: each single corruption of a
/// real function's ops (an op moved by one instruction, a wrong CFA
/// offset, a wrong save slot) is reported.
#[test]
fn checker_rejects_wrong_information() {
    let isa = isa(None);
    let f = &kiln_reader::parse_functions(unwind_common::CONTROL_FUNCTION).unwrap()[0];
    let good = isa.compile_stencil(&f.stencil).unwrap();
    check_function(&good).unwrap();
    // The code holds no data: its instruction boundaries.
    let mut bounds = Vec::new();
    let mut dec = Decoder::with_ip(64, &good.code, 0, DecoderOptions::NONE);
    while dec.can_decode() {
        bounds.push(dec.ip() as u32);
        let _ = dec.decode();
    }
    let mut bad = Vec::new();
    for i in 0..good.unwind.len() {
        // The op one instruction early.
        let mut c = good.clone();
        let at = c.unwind[i].offset;
        c.unwind[i].offset = bounds
            .iter()
            .copied()
            .filter(|&b| b < at)
            .max()
            .unwrap_or(0);
        if !matches!(c.unwind[i].op, UnwindOp::RememberState) {
            bad.push(c);
        }
        let mut c = good.clone();
        c.unwind[i].op = match c.unwind[i].op {
            UnwindOp::PushFrameRegs { size } => UnwindOp::PushFrameRegs { size: size + 8 },
            UnwindOp::DefineFrame { size } => UnwindOp::DefineFrame { size: size + 8 },
            UnwindOp::SaveReg { reg, below_cfa } => UnwindOp::SaveReg {
                reg,
                below_cfa: below_cfa + 8,
            },
            UnwindOp::RestoreFrameRegs { sp_to_cfa } => UnwindOp::RestoreFrameRegs {
                sp_to_cfa: sp_to_cfa + 8,
            },
            _ => continue,
        };
        bad.push(c);
    }
    let mut removed = good.clone();
    removed
        .unwind
        .retain(|e| !matches!(e.op, UnwindOp::RestoreState));
    bad.push(removed);
    for (k, c) in bad.iter().enumerate() {
        assert!(
            check_function(c).is_err(),
            "corruption {k} not caught: {:?}",
            c.unwind
        );
    }
}

/// A wrong row at a `try_call` handler is caught: the handler's first
/// instruction is described as if rsp were at the return address (an
/// epilogue's row). No normal path reaches that instruction, so the walk
/// without handlers accepts the same corruption.
#[test]
fn checker_rejects_a_wrong_row_at_a_handler() {
    let isa = isa(None);
    let f = &kiln_reader::parse_functions(
        "function %f(i64) -> i64 {
    sig0 = (i64) -> i64
    fn0 = %g(i64) -> i64
block0(v0: i64):
    v1 = iconst.i64 3
    try_call fn0(v0), sig0, block1(ret0), [ default: block2(exn0) ]
block1(v2: i64):
    v3 = iadd v2, v1
    return v3
block2(v4: i64):
    v5 = iadd v4, v0
    return v5
}",
    )
    .unwrap()[0];
    let good = isa.compile_stencil(&f.stencil).unwrap();
    check_function(&good).unwrap();
    let site = good.exception_sites.first().expect("an exception site");
    let handler = site.handlers.first().expect("a handler").handler;
    let mut dec = Decoder::with_ip(64, &good.code, u64::from(handler), DecoderOptions::NONE);
    dec.set_position(handler as usize).unwrap();
    let after = dec.decode().next_ip() as u32;
    let mut bad = good.clone();
    for (offset, op) in [
        (handler, UnwindOp::RememberState),
        (handler, UnwindOp::SpToCfa { sp_to_cfa: 8 }),
        (after, UnwindOp::RestoreState),
    ] {
        let at = bad.unwind.partition_point(|e| e.offset <= offset);
        bad.unwind
            .insert(at, kiln_codegen::unwind::UnwindEntry { offset, op });
    }
    let e = check_function(&bad).expect_err("a wrong row at the handler");
    assert!(e.starts_with(&format!("{handler:#x}:")), "{e}");
    check_walk(&bad, false).expect("only the handler sees the corruption");
    check_walk(&good, false).unwrap();
}
