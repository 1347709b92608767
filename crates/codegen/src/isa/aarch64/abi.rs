//! AAPCS64 and its variants as data, and the aarch64 frame.
//!
//! # Arguments and returns
//!
//! * Integer arguments in x0–x7, FP arguments in v0–v7, counted
//!   independently; returns likewise in x0–x7 / v0–v7.
//! * `i128` takes an even/odd register pair (x0/x1, x2/x3, ...; the next
//!   register number is rounded up to even), else a 16-byte-aligned stack
//!   slot, after which no further integer argument goes in a register
//!   (AAPCS64 C.12–C.13).
//! * Stack arguments: `system_v`, `fast` and `tail` give every argument an
//!   8-byte slot (16 for `i128`); `apple_aarch64` packs them at their
//!   natural size and alignment, and its callers extend narrow integer
//!   arguments to 32 bits (Apple's ARM64 ABI differences). The first stack
//!   argument is at `[sp]` at the call, `[x29 + 16]` in the callee.
//! * Returns that do not fit the registers go to a return area whose
//!   address the caller passes in x8 (the indirect-result register); the
//!   k-th overflowing return is at `[x8 + offset]` in signature order.
//! * `tail`: the callee pops its stack arguments; a call of a `tail`
//!   function is followed by `sub sp, sp, #n` (part of the call's
//!   encoding), and `return_call` may pass more stack arguments than it
//!   received (see `super::tail`).
//!
//! # Frame (stack grows down)
//!
//! ```text
//!   incoming stack arguments    [x29 + 16 ...]
//!   saved x30 (lr)              [x29 + 8]
//!   saved x29                   <- x29
//!   sized stack slots           [sp + stackslots_offset ...]  (directly below x29)
//!   clobbered callee-saves      [sp + csr_offset ...]  (x19–x28, d8–d15)
//!   spill slots                 [sp + outgoing + 8 * n]
//!   outgoing arguments          [sp, sp + outgoing)
//!                               <- sp (16-byte aligned after the prologue)
//! ```
//!
//! The prologue is `stp x29, x30, [sp, #-16]!; mov x29, sp; sub sp, sp, #N`
//! then `stp`/`str` of the callee-saved registers the allocator used (in
//! pairs where two are adjacent in the save order); the epilogue reloads
//! them, then `mov sp, x29; ldp x29, x30, [sp], #16` (`add sp, sp, #pop`
//! for `tail`) before `ret`.

use super::args::*;
use super::inst::*;
use super::regs::{self, vreg_preg, xreg_preg};
use crate::machinst::abi::{FrameLayout, LimitBase, LimitStep, StackLimit};
use crate::machinst::compile::FramePart;
use crate::machinst::reg::{Reg, Writable};
use crate::result::{CodegenError, CodegenResult};
use crate::unwind::UnwindOp;
use kiln_ir::{CallConv, Signature, TrapCode, Type};
use regalloc2::{MachineEnv, PReg, PRegSet, RegClass};

pub use crate::machinst::call::{ArgLoc, Parts, SigLocs};

/// A calling convention as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Convention {
    /// Stack arguments take their natural size and alignment (Apple)
    /// instead of 8-byte slots.
    pub packed_stack_args: bool,
    /// The caller sign- or zero-extends narrow arguments (per their
    /// `sext`/`uext` attribute) to 32 bits.
    pub caller_extends: bool,
    /// The callee pops its stack arguments.
    pub callee_pops: bool,
}

/// AAPCS64 as on Linux (`system_v`; also `fast`).
pub const SYSTEM_V: Convention = Convention {
    packed_stack_args: false,
    caller_extends: false,
    callee_pops: false,
};

/// Apple's variant of AAPCS64 (`apple_aarch64`).
pub const APPLE: Convention = Convention {
    packed_stack_args: true,
    caller_extends: true,
    callee_pops: false,
};

/// `tail`: AAPCS64 registers; the callee pops its stack arguments.
pub const TAIL: Convention = Convention {
    callee_pops: true,
    ..SYSTEM_V
};

/// The convention of `cc` on aarch64, or `Unsupported`.
pub fn convention(cc: CallConv) -> CodegenResult<&'static Convention> {
    match cc {
        // Windows on Arm64 passes fixed arguments as AAPCS64 does; its one
        // difference, x18 reserved for the platform, Kiln never allocates.
        // (Cranelift accepts `windows_fastcall` on aarch64 the same way.)
        CallConv::Fast | CallConv::SystemV | CallConv::WindowsFastcall => Ok(&SYSTEM_V),
        CallConv::AppleAarch64 => Ok(&APPLE),
        CallConv::Tail => Ok(&TAIL),
        other => Err(CodegenError::Unsupported {
            what: format!("calling convention {} on aarch64", other.as_str()),
        }),
    }
}

/// `(integer?, parts)` of a value type, or `Unsupported`.
fn class_of(ty: Type) -> CodegenResult<(bool, usize)> {
    if ty.is_int() && ty.is_scalar() && ty.bits() <= 64 {
        Ok((true, 1))
    } else if ty == Type::I128 {
        Ok((true, 2))
    } else if matches!(ty, Type::F16 | Type::F32 | Type::F64 | Type::F128) {
        // f16 in an h register, f128 in a q register (AAPCS64 C.1); on the
        // stack in 8 bytes, or 16 bytes 16-aligned for f128 (`stack_slot`).
        Ok((false, 1))
    } else {
        Err(CodegenError::Unsupported {
            what: format!("arguments or returns of type {ty} on aarch64"),
        })
    }
}

/// Register-or-stack assignment of one list (arguments or returns).
struct Assigner {
    conv: Convention,
    next_int: usize,
    next_float: usize,
    stack: u32,
}

impl Assigner {
    fn stack_slot(&mut self, bytes: u32) -> u32 {
        let (size, align) = if self.conv.packed_stack_args {
            (bytes, bytes)
        } else {
            (bytes.max(8), bytes.max(8))
        };
        self.stack = (self.stack + align - 1) & !(align - 1);
        let at = self.stack;
        self.stack += size;
        at
    }

    fn value(&mut self, ty: Type) -> CodegenResult<Parts> {
        let (int, n) = class_of(ty)?;
        let mut parts = Parts::new();
        if int && n == 2 {
            // C.12: round up to an even register; C.13: all or nothing.
            let start = (self.next_int + 1) & !1;
            if start + 2 <= regs::INT_ARGS.len() {
                parts.push(ArgLoc::Reg(xreg_preg(regs::INT_ARGS[start])));
                parts.push(ArgLoc::Reg(xreg_preg(regs::INT_ARGS[start + 1])));
                self.next_int = start + 2;
            } else {
                self.next_int = regs::INT_ARGS.len();
                self.stack = (self.stack + 15) & !15;
                parts.push(ArgLoc::Stack(self.stack));
                parts.push(ArgLoc::Stack(self.stack + 8));
                self.stack += 16;
            }
        } else if int {
            if let Some(&e) = regs::INT_ARGS.get(self.next_int) {
                parts.push(ArgLoc::Reg(xreg_preg(e)));
                self.next_int += 1;
            } else {
                parts.push(ArgLoc::Stack(self.stack_slot(ty.bytes())));
            }
        } else if let Some(&e) = regs::FLOAT_ARGS.get(self.next_float) {
            parts.push(ArgLoc::Reg(vreg_preg(e)));
            self.next_float += 1;
        } else {
            parts.push(ArgLoc::Stack(self.stack_slot(ty.bytes())));
        }
        Ok(parts)
    }
}

/// The locations of a signature's values under its convention.
pub fn sig_locs(sig: &Signature) -> CodegenResult<SigLocs> {
    let conv = *convention(sig.call_conv)?;
    let mut locs = SigLocs {
        caller_extends: conv.caller_extends,
        ret_area_reg: xreg_preg(regs::INDIRECT_RESULT_ENC),
        ..SigLocs::default()
    };
    // Returns: registers first, the rest in the return area (8-byte slots).
    let mut rets = Assigner {
        conv: SYSTEM_V,
        next_int: 0,
        next_float: 0,
        stack: 0,
    };
    for r in &sig.returns {
        locs.returns.push(rets.value(r.value_type)?);
    }
    locs.ret_area_size = (rets.stack + 15) & !15;
    let mut args = Assigner {
        conv,
        next_int: 0,
        next_float: 0,
        stack: 0,
    };
    for p in &sig.params {
        locs.params.push(args.value(p.value_type)?);
    }
    locs.stack_args_size = (args.stack + 15) & !15;
    if conv.callee_pops {
        locs.callee_pop = locs.stack_args_size;
    }
    Ok(locs)
}

/// The allocator's registers: see `regs::allocatable_xregs`.
pub fn machine_env(pinned: bool) -> MachineEnv {
    let set = |v: &[PReg]| v.iter().fold(PRegSet::empty(), |s, &p| s.with(p));
    let (xp, mut xn) = regs::allocatable_xregs();
    if pinned {
        // Only get_pinned_reg/set_pinned_reg touch x28.
        xn.retain(|&p| p != regs::xreg_preg(regs::PINNED_ENC));
    }
    let (vp, vn) = regs::allocatable_vregs();
    MachineEnv {
        preferred_regs_by_class: [set(&xp), set(&vp), PRegSet::empty()],
        non_preferred_regs_by_class: [set(&xn), set(&vn), PRegSet::empty()],
        scratch_by_class: [None, None, None],
        fixed_stack_slots: vec![],
    }
}

/// The sized stack slots sit above sp's spill area (the shared layout).
pub use crate::machinst::abi::stack_slot_layout;

/// `sub sp, sp, #amount` (`add` when `!sub`): immediates below 16 MiB,
/// through x16 beyond.
pub(crate) fn sp_adjust(sub: bool, amount: u32, out: &mut Vec<MInst>) {
    if amount == 0 {
        return;
    }
    let op = if sub { AluOp::Sub } else { AluOp::Add };
    let sp = regs::sp();
    let mut rest = amount as u64;
    // At most two 12-bit immediates (low, then shifted) for frames below
    // 16 MiB; larger ones go through x16.
    if rest >= 1 << 24 {
        out.extend(MInst::load_constant(
            Writable::from_reg(regs::ip0()),
            rest,
            OperandSize::Size64,
        ));
        out.push(MInst::AluRRRExtend {
            op,
            size: OperandSize::Size64,
            rd: Writable::from_reg(sp),
            rn: sp,
            rm: regs::ip0(),
            extend: ExtendOp::Uxtx,
            amt: 0,
        });
        return;
    }
    for part in [rest & !0xfff, rest & 0xfff] {
        if part != 0 {
            if let Some(imm) = Imm12::maybe_from_u64(part) {
                out.push(MInst::AluRRImm12 {
                    op,
                    size: OperandSize::Size64,
                    rd: Writable::from_reg(sp),
                    rn: sp,
                    imm,
                });
            }
            rest -= part;
        }
    }
    debug_assert_eq!(rest, 0);
}

/// Pairs the callee-save slots: consecutive registers of one class in
/// consecutive 8-byte slots go through one `stp`/`ldp`.
fn csr_groups(frame: &FrameLayout) -> Vec<(PReg, Option<PReg>, u32)> {
    let slots: Vec<(PReg, u32)> = frame.csr_slots().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let (p, off) = slots[i];
        if let Some(&(q, off2)) = slots.get(i + 1) {
            if q.class() == p.class() && off2 == off + 8 && off % 8 == 0 && off + 8 < 512 {
                out.push((p, Some(q), off));
                i += 2;
                continue;
            }
        }
        out.push((p, None, off));
        i += 1;
    }
    out
}

fn save_kind(p: PReg) -> (PairKind, StoreKind, LoadKind) {
    match p.class() {
        RegClass::Int => (PairKind::X64, StoreKind::Store64, LoadKind::Load64),
        _ => (PairKind::D64, StoreKind::FpuStore64, LoadKind::FpuLoad64),
    }
}

/// Return-address protection the ISA flags ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameProtection {
    /// `sign_return_address` (Kiln always saves x30, so `_all` changes
    /// nothing more): sign x30 at entry, authenticate before `ret`.
    pub sign_return_address: bool,
    /// `sign_return_address_with_bkey`: with key B instead of A.
    pub with_bkey: bool,
    /// `use_bti`: the entry is a `bti c` landing pad (`pac*sp` is one too).
    pub use_bti: bool,
}

/// The prologue for `frame`.
/// `cmp sp, rm` (`subs xzr, sp, rm, uxtx`: the extended-register form,
/// the one whose first operand may be sp).
pub(crate) fn cmp_sp(rm: Reg) -> MInst {
    MInst::AluRRRExtend {
        op: AluOp::Subs,
        size: OperandSize::Size64,
        rd: Writable::from_reg(regs::zr()),
        rn: regs::sp(),
        rm,
        extend: ExtendOp::Uxtx,
        amt: 0,
    }
}

/// `rd = rd + value` (x16 holds a constant no immediate form takes).
fn add_const(rd: Reg, value: i64, out: &mut Vec<MInst>) {
    let (op, mag) = if value >= 0 {
        (AluOp::Add, value as u64)
    } else {
        (AluOp::Sub, value.unsigned_abs())
    };
    if mag == 0 {
        return;
    }
    if let Some(imm) = Imm12::maybe_from_u64(mag) {
        out.push(MInst::AluRRImm12 {
            op,
            size: OperandSize::Size64,
            rd: Writable::from_reg(rd),
            rn: rd,
            imm,
        });
        return;
    }
    out.extend(MInst::load_constant(
        Writable::from_reg(regs::ip0()),
        mag,
        OperandSize::Size64,
    ));
    out.push(MInst::AluRRR {
        op,
        size: OperandSize::Size64,
        rd: Writable::from_reg(rd),
        rn: rd,
        rm: regs::ip0(),
    });
}

/// Frames at least this large compare sp with the limit itself before
/// adding the frame size to the limit (as on x86-64 and in Cranelift), so
/// the sum cannot wrap past a limit close to the top of the address space.
const LARGE_FRAME: u32 = 32 << 10;

/// Traps with `stk_ovf` unless `sp - frame_size >= limit`, before the
/// frame is reserved (nothing below sp is touched). The limit is computed
/// in x17 (x16 for constants): the intra-procedure-call scratch registers,
/// never allocated and never arguments, so the arguments are still intact
/// afterwards.
fn gen_stack_check(limit: &StackLimit, frame_size: u32, out: &mut Vec<MInst>) {
    let x17 = regs::ip1();
    let w17 = Writable::from_reg(x17);
    match limit.base {
        LimitBase::Reg(p) => out.push(MInst::Mov {
            size: OperandSize::Size64,
            rd: w17,
            rm: Reg::from(p),
        }),
        LimitBase::FpOffset(off) => out.push(MInst::Load {
            kind: LoadKind::Load64,
            rd: w17,
            mem: AMode::FpOffset { off: off as i64 },
        }),
    }
    for step in limit.steps() {
        match *step {
            LimitStep::Load(off) => {
                let mem = if off >= 0 && off % 8 == 0 && off < 8 * 4096 {
                    AMode::UnsignedOffset {
                        rn: x17,
                        uimm: off as u32,
                    }
                } else if (-256..256).contains(&off) {
                    AMode::Unscaled {
                        rn: x17,
                        simm: off as i16,
                    }
                } else {
                    out.extend(MInst::load_constant(
                        Writable::from_reg(regs::ip0()),
                        off as i64 as u64,
                        OperandSize::Size64,
                    ));
                    AMode::RegReg {
                        rn: x17,
                        rm: regs::ip0(),
                        scaled: false,
                    }
                };
                out.push(MInst::Load {
                    kind: LoadKind::Load64,
                    rd: w17,
                    mem,
                });
            }
            LimitStep::Add(imm) => add_const(x17, imm as i64, out),
        }
    }
    let check = |out: &mut Vec<MInst>| {
        out.push(cmp_sp(x17));
        out.push(MInst::TrapIf {
            kind: CondBrKind::Cond(Cond::Lo),
            code: TrapCode::STACK_OVERFLOW,
        });
    };
    if frame_size >= LARGE_FRAME || frame_size == 0 {
        check(out);
    }
    if frame_size > 0 {
        add_const(x17, frame_size as i64, out);
        check(out);
    }
}

/// Pages probed with straight-line stores; larger frames use the loop.
pub const PROBE_MAX_UNROLL: u32 = 4;

/// Touches every `guard`-sized page of a `frame_size`-byte frame from the
/// top down, before the frame is reserved, so that a frame larger than the
/// guard page cannot step over it: `sub sp, sp, #guard; str xzr, [sp]` per
/// page (a loop beyond [`PROBE_MAX_UNROLL`] pages), then `mov sp, x29`.
/// Frames smaller than a guard page need no probe.
fn gen_probe(frame_size: u32, guard: u32, out: &mut Vec<MInst>) {
    if guard == 0 || frame_size < guard {
        return;
    }
    let pages = frame_size / guard;
    if pages <= PROBE_MAX_UNROLL {
        for _ in 0..pages {
            sp_adjust(true, guard, out);
            out.push(MInst::Store {
                kind: StoreKind::Store64,
                rd: regs::zr(),
                mem: AMode::UnsignedOffset {
                    rn: regs::sp(),
                    uimm: 0,
                },
            });
        }
    } else {
        out.push(MInst::StackProbeLoop {
            total: pages * guard,
            guard,
        });
    }
    out.push(MInst::Mov {
        size: OperandSize::Size64,
        rd: Writable::from_reg(regs::sp()),
        rm: regs::fp(),
    });
}

/// The prologue: return-address signing or BTI, `stp x29, x30, [sp,
/// #-16]!; mov x29, sp`, the stack-limit check, the stack probe (`probe`:
/// the guard size, when `enable_probestack` is on), `sub sp, sp, #N` and
/// the callee-save stores.
pub fn gen_prologue(
    frame: &FrameLayout,
    prot: FrameProtection,
    probe: Option<u32>,
    out: &mut Vec<MInst>,
) {
    let sp = regs::sp();
    if prot.sign_return_address {
        out.push(MInst::Hint {
            op: if prot.with_bkey {
                HintOp::Pacibsp
            } else {
                HintOp::Paciasp
            },
        });
    } else if prot.use_bti {
        out.push(MInst::Hint { op: HintOp::BtiC });
    }
    out.push(MInst::StorePair {
        kind: PairKind::X64,
        rt: regs::fp(),
        rt2: regs::lr(),
        mem: PairAMode::PreIndexed { rn: sp, simm: -16 },
    });
    out.push(MInst::Mov {
        size: OperandSize::Size64,
        rd: Writable::from_reg(regs::fp()),
        rm: sp,
    });
    if let (true, Some(limit)) = (frame.needs_stack_check(), frame.stack_limit) {
        gen_stack_check(&limit, frame.fixed_frame_size, out);
    }
    if let Some(guard) = probe {
        gen_probe(frame.fixed_frame_size, guard, out);
    }
    sp_adjust(true, frame.fixed_frame_size, out);
    for (p, q, off) in csr_groups(frame) {
        let (pair, store, _) = save_kind(p);
        match q {
            Some(q) => out.push(MInst::StorePair {
                kind: pair,
                rt: Reg::from(p),
                rt2: Reg::from(q),
                mem: PairAMode::SignedOffset {
                    rn: sp,
                    simm: off as i16,
                },
            }),
            None => out.push(MInst::Store {
                kind: store,
                rd: Reg::from(p),
                mem: AMode::SpOffset { off: off as i64 },
            }),
        }
    }
}

/// The frame-description change of a prologue or epilogue instruction
/// (`Backend::frame_unwind`), from `frame`: `stp x29, x30, [sp, #-16]!`
/// stores the setup area, `mov x29, sp` makes x29 the CFA base, each
/// callee-save store records its slot(s) (`setup + fixed - off` below the
/// CFA), `pac*sp`/`aut*sp` toggle the signed state of the return address,
/// the epilogue's `ldp x29, x30, [sp], #16` leaves sp at the CFA and the
/// `add sp` of a callee-popped argument area moves sp above it.
pub fn frame_unwind(inst: &MInst, part: FramePart, frame: &FrameLayout, out: &mut Vec<UnwindOp>) {
    let sp = regs::sp();
    let setup = frame.setup_area_size;
    let below =
        |off: i64| u32::try_from(i64::from(setup) + i64::from(frame.fixed_frame_size) - off).ok();
    let mut save = |r: Reg, off: i64| {
        if let (Some(reg), Some(below_cfa)) = (r.to_real_reg(), below(off)) {
            out.push(UnwindOp::SaveReg { reg, below_cfa });
        }
    };
    match (part, inst) {
        (
            _,
            MInst::Hint {
                op: HintOp::Paciasp | HintOp::Pacibsp | HintOp::Autiasp | HintOp::Autibsp,
            },
        ) => out.push(UnwindOp::ToggleReturnAddressSigned),
        (
            FramePart::Prologue,
            MInst::StorePair {
                rt,
                mem: PairAMode::PreIndexed { rn, .. },
                ..
            },
        ) if *rt == regs::fp() && *rn == sp => out.push(UnwindOp::PushFrameRegs { size: setup }),
        (FramePart::Prologue, MInst::Mov { rd, rm, .. })
            if rd.to_reg() == regs::fp() && *rm == sp =>
        {
            out.push(UnwindOp::DefineFrame { size: setup })
        }
        (
            FramePart::Prologue,
            MInst::StorePair {
                rt,
                rt2,
                mem: PairAMode::SignedOffset { rn, simm },
                ..
            },
        ) if *rn == sp => {
            // Both pair kinds store two 8-byte halves.
            save(*rt, i64::from(*simm));
            save(*rt2, i64::from(*simm) + 8);
        }
        (
            FramePart::Prologue,
            MInst::Store {
                rd,
                mem: AMode::SpOffset { off },
                ..
            },
        ) => save(*rd, *off),
        (
            FramePart::Epilogue,
            MInst::LoadPair {
                rt,
                mem: PairAMode::PostIndexed { rn, .. },
                ..
            },
        ) if rt.to_reg() == regs::fp() && *rn == sp => {
            out.push(UnwindOp::RestoreFrameRegs { sp_to_cfa: 0 })
        }
        // `sp_adjust(false, callee_pop)` after the frame registers: the
        // high part (a multiple of 4096) first, then the low part, or one
        // add through x16 for 16 MiB and more.
        (
            FramePart::Epilogue,
            MInst::AluRRImm12 {
                op: AluOp::Add,
                rd,
                rn,
                imm,
                ..
            },
        ) if rd.to_reg() == sp && *rn == sp => {
            let pop = u64::from(frame.callee_pop);
            let moved = if imm.value() == pop & !0xfff {
                pop & !0xfff
            } else {
                pop
            };
            out.push(UnwindOp::SpToCfa {
                sp_to_cfa: -(moved as i32),
            });
        }
        (
            FramePart::Epilogue,
            MInst::AluRRRExtend {
                op: AluOp::Add,
                rd,
                rn,
                ..
            },
        ) if rd.to_reg() == sp && *rn == sp => {
            out.push(UnwindOp::SpToCfa {
                sp_to_cfa: -(frame.callee_pop as i32),
            });
        }
        _ => {}
    }
}

/// The epilogue for `frame` (before `ret`).
pub fn gen_epilogue(frame: &FrameLayout, prot: FrameProtection, out: &mut Vec<MInst>) {
    let sp = regs::sp();
    for (p, q, off) in csr_groups(frame) {
        let (pair, _, load) = save_kind(p);
        match q {
            Some(q) => out.push(MInst::LoadPair {
                kind: pair,
                rt: Writable::from_reg(Reg::from(p)),
                rt2: Writable::from_reg(Reg::from(q)),
                mem: PairAMode::SignedOffset {
                    rn: sp,
                    simm: off as i16,
                },
            }),
            None => out.push(MInst::Load {
                kind: load,
                rd: Writable::from_reg(Reg::from(p)),
                mem: AMode::SpOffset { off: off as i64 },
            }),
        }
    }
    if frame.fixed_frame_size > 0 {
        out.push(MInst::Mov {
            size: OperandSize::Size64,
            rd: Writable::from_reg(sp),
            rm: regs::fp(),
        });
    }
    out.push(MInst::LoadPair {
        kind: PairKind::X64,
        rt: Writable::from_reg(regs::fp()),
        rt2: Writable::from_reg(regs::lr()),
        mem: PairAMode::PostIndexed { rn: sp, simm: 16 },
    });
    // Authenticate with the sp the entry signed with (before popping
    // stack arguments).
    if prot.sign_return_address {
        out.push(MInst::Hint {
            op: if prot.with_bkey {
                HintOp::Autibsp
            } else {
                HintOp::Autiasp
            },
        });
    }
    sp_adjust(false, frame.callee_pop, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_ir::AbiParam;

    fn sig(cc: CallConv, params: &[Type], rets: &[Type]) -> Signature {
        let mut s = Signature::new(cc);
        s.params = params.iter().map(|&t| AbiParam::new(t)).collect();
        s.returns = rets.iter().map(|&t| AbiParam::new(t)).collect();
        s
    }

    fn reg(n: u8) -> ArgLoc {
        ArgLoc::Reg(xreg_preg(n))
    }

    #[test]
    fn i128_takes_an_even_pair() {
        let l = sig_locs(&sig(CallConv::SystemV, &[Type::I64, Type::I128], &[])).unwrap();
        assert_eq!(l.params[1].as_slice(), &[reg(2), reg(3)]);
        // x7 is left free, and the i128 goes to the stack, 16-aligned.
        let many = [Type::I64; 7];
        let mut p = many.to_vec();
        p.push(Type::I128);
        p.push(Type::I64);
        let l = sig_locs(&sig(CallConv::SystemV, &p, &[])).unwrap();
        assert_eq!(
            l.params[7].as_slice(),
            &[ArgLoc::Stack(0), ArgLoc::Stack(8)]
        );
        assert_eq!(l.params[8].as_slice(), &[ArgLoc::Stack(16)]);
        assert_eq!(l.stack_args_size, 32);
    }

    #[test]
    fn apple_packs_stack_arguments() {
        let mut p = vec![Type::I64; 8];
        p.extend([Type::I8, Type::I32, Type::I16, Type::I64]);
        let linux = sig_locs(&sig(CallConv::SystemV, &p, &[])).unwrap();
        let apple = sig_locs(&sig(CallConv::AppleAarch64, &p, &[])).unwrap();
        let offs = |l: &SigLocs| -> Vec<ArgLoc> { l.params[8..].iter().map(|x| x[0]).collect() };
        assert_eq!(offs(&linux), [0, 8, 16, 24].map(ArgLoc::Stack).to_vec());
        assert_eq!(offs(&apple), [0, 4, 8, 16].map(ArgLoc::Stack).to_vec());
        assert!(apple.caller_extends && !linux.caller_extends);
        // windows_fastcall is AAPCS64 on aarch64.
        let windows = sig_locs(&sig(CallConv::WindowsFastcall, &p, &[])).unwrap();
        assert_eq!(offs(&windows), offs(&linux));
        assert_eq!(windows.params[0], linux.params[0]);
        assert!(!windows.caller_extends);
    }

    #[test]
    fn floats_count_apart_and_returns_overflow_to_x8_area() {
        let l = sig_locs(&sig(
            CallConv::Fast,
            &[Type::F64, Type::I32, Type::F32],
            &[Type::I64; 9],
        ))
        .unwrap();
        assert_eq!(l.params[0][0], ArgLoc::Reg(vreg_preg(0)));
        assert_eq!(l.params[1][0], reg(0));
        assert_eq!(l.params[2][0], ArgLoc::Reg(vreg_preg(1)));
        assert_eq!(l.returns[8][0], ArgLoc::Stack(0));
        assert_eq!(l.ret_area_size, 16);
        let t = sig_locs(&sig(CallConv::Tail, &[Type::I64; 10], &[])).unwrap();
        assert_eq!(t.callee_pop, 16);
        assert!(convention(CallConv::Winch).is_err());
    }
}
