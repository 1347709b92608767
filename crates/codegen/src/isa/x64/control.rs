//! Frame-dependent code for control flow: the prologue and epilogue,
//! callee-saved register saves, `ret n` of the `tail` convention and the
//! tail-call sequence of `MInst::ReturnCall` (see `docs/lowering.md`, "The
//! `tail` convention").
//!
//! These need the final frame (`FrameLayout`), known only after register
//! allocation; the pipeline (`machinst/compile.rs`) asks for the prologue
//! and epilogue, and the encoder calls [`emit_frame_dependent`] before the
//! generic one.

use super::args::*;
use super::emit::{EmitState, X64LabelUse};
use super::inst::*;
use super::regs::{self, enc};
use crate::machinst::abi::{FrameLayout, LimitBase, LimitStep, StackLimit};
use crate::machinst::buffer::{MachBuffer, Reloc};
use crate::machinst::compile::FramePart;
use crate::machinst::reg::{Reg, Writable};
use crate::unwind::UnwindOp;
use kiln_ir::TrapCode;
use regalloc2::{PReg, RegClass};

/// Stack probing as the settings ask for it (`enable_probestack`,
/// `probestack_strategy`, `probestack_size_log2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    pub enabled: bool,
    pub inline: bool,
    /// Bytes of the guard page (a power of two).
    pub guard_size: u32,
}

impl ProbeConfig {
    /// No probes.
    pub const OFF: ProbeConfig = ProbeConfig {
        enabled: false,
        inline: false,
        guard_size: 4096,
    };

    /// The probe a frame of `frame_size` bytes needs, if any: none below
    /// one guard page (the frame cannot step over it), inline stores for up
    /// to [`PROBE_MAX_UNROLL`] pages, a loop beyond, or a call to the probe
    /// function with the `outline` strategy.
    pub fn probe_for(&self, frame_size: u32) -> Option<ProbeKind> {
        if !self.enabled || frame_size < self.guard_size {
            return None;
        }
        Some(if !self.inline {
            ProbeKind::Outline
        } else if frame_size / self.guard_size <= PROBE_MAX_UNROLL {
            ProbeKind::Unrolled
        } else {
            ProbeKind::Loop
        })
    }
}

/// Pages probed with straight-line stores; larger frames use the loop.
pub const PROBE_MAX_UNROLL: u32 = 4;

/// `push rbp; mov rbp, rsp`, the stack-limit check, the stack probe,
/// `sub rsp, N` and the callee-save stores.
pub fn gen_prologue(frame: &FrameLayout, probe: ProbeConfig, out: &mut Vec<MInst>) {
    out.push(MInst::Push64 {
        src: RegMemImm::Reg(regs::rbp()),
    });
    out.push(MInst::MovRR {
        size: OperandSize::Size64,
        src: regs::rsp(),
        dst: Writable::from_reg(regs::rbp()),
    });
    if let (true, Some(limit)) = (frame.needs_stack_check(), frame.stack_limit) {
        gen_stack_check(&limit, frame.fixed_frame_size, out);
    }
    if let Some(kind) = probe.probe_for(frame.fixed_frame_size) {
        out.push(MInst::StackProbe {
            frame_size: frame.fixed_frame_size,
            guard_size: probe.guard_size,
            kind,
        });
    }
    if frame.fixed_frame_size > 0 {
        out.push(MInst::AluRmiR {
            size: OperandSize::Size64,
            op: AluOp::Sub,
            src1: regs::rsp(),
            // Below 1 GiB (FrameLayout::compute).
            src2: RegMemImm::Imm(frame.fixed_frame_size as i32),
            dst: Writable::from_reg(regs::rsp()),
        });
    }
    for (r, off) in frame.csr_slots() {
        out.push(save_csr(r, off as i32));
    }
}

/// Frames at least this large compare the stack pointer itself with the
/// limit before adding the frame size to the limit (as Cranelift does), so
/// the sum cannot wrap past a limit close to the top of the address space.
const LARGE_FRAME: u32 = 32 << 10;

/// Traps with `stk_ovf` unless `rsp - frame_size >= limit`, before the
/// frame is reserved (nothing below rsp is touched). The limit is computed
/// in r11: caller-saved and no argument register of any convention Kiln
/// implements, so the arguments are still intact afterwards.
fn gen_stack_check(limit: &StackLimit, frame_size: u32, out: &mut Vec<MInst>) {
    let r11 = regs::gpr(enc::R11);
    let w11 = Writable::from_reg(r11);
    match limit.base {
        LimitBase::Reg(p) => out.push(MInst::MovRR {
            size: OperandSize::Size64,
            src: Reg::from(p),
            dst: w11,
        }),
        LimitBase::FpOffset(off) => out.push(MInst::Mov64MR {
            src: Amode::imm_reg(off, regs::rbp()),
            dst: w11,
        }),
    }
    for step in limit.steps() {
        match *step {
            LimitStep::Load(off) => out.push(MInst::Mov64MR {
                src: Amode::imm_reg(off, r11),
                dst: w11,
            }),
            LimitStep::Add(imm) => out.push(MInst::AluRmiR {
                size: OperandSize::Size64,
                op: AluOp::Add,
                src1: r11,
                src2: RegMemImm::Imm(imm),
                dst: w11,
            }),
        }
    }
    let check = |out: &mut Vec<MInst>| {
        out.push(MInst::CmpRmiR {
            size: OperandSize::Size64,
            op: CmpOp::Cmp,
            src1: regs::rsp(),
            src2: RegMemImm::Reg(r11),
        });
        out.push(MInst::TrapIf {
            cc: CC::B,
            code: TrapCode::STACK_OVERFLOW,
        });
    };
    if frame_size >= LARGE_FRAME || frame_size == 0 {
        check(out);
    }
    if frame_size > 0 {
        out.push(MInst::AluRmiR {
            size: OperandSize::Size64,
            op: AluOp::Add,
            src1: r11,
            // Below 1 GiB (FrameLayout::compute).
            src2: RegMemImm::Imm(frame_size as i32),
            dst: w11,
        });
        check(out);
    }
}

/// The callee-save reloads, then `mov rsp, rbp; pop rbp` (the `ret` is the
/// return instruction itself).
pub fn gen_epilogue(frame: &FrameLayout, out: &mut Vec<MInst>) {
    for (r, off) in frame.csr_slots() {
        out.push(restore_csr(r, off as i32));
    }
    out.push(MInst::MovRR {
        size: OperandSize::Size64,
        src: regs::rbp(),
        dst: Writable::from_reg(regs::rsp()),
    });
    out.push(MInst::Pop64 {
        dst: Writable::from_reg(regs::rbp()),
    });
}

/// The frame-description change of a prologue or epilogue instruction
/// (`Backend::frame_unwind`), from `frame`: `push rbp` stores the setup
/// area, `mov rbp, rsp` makes rbp the CFA base, each callee-save store
/// records its slot (at `rsp + off`, i.e. `setup + fixed - off` below the
/// CFA), and the epilogue's `pop rbp` leaves rsp on the return address.
pub fn frame_unwind(inst: &MInst, part: FramePart, frame: &FrameLayout, out: &mut Vec<UnwindOp>) {
    let is = |r: Reg, p: Reg| r == p;
    let setup = frame.setup_area_size;
    match (part, inst) {
        (
            FramePart::Prologue,
            MInst::Push64 {
                src: RegMemImm::Reg(r),
            },
        ) if is(*r, regs::rbp()) => out.push(UnwindOp::PushFrameRegs { size: setup }),
        (FramePart::Prologue, MInst::MovRR { src, dst, .. })
            if is(*src, regs::rsp()) && is(dst.to_reg(), regs::rbp()) =>
        {
            out.push(UnwindOp::DefineFrame { size: setup })
        }
        (
            FramePart::Prologue,
            MInst::MovRM {
                src,
                dst: Amode::ImmReg { simm32, base, .. },
                ..
            }
            | MInst::XmmStore {
                src,
                dst: Amode::ImmReg { simm32, base, .. },
                ..
            },
        ) if is(*base, regs::rsp()) => {
            if let Some(reg) = src.to_real_reg() {
                let below =
                    i64::from(setup) + i64::from(frame.fixed_frame_size) - i64::from(*simm32);
                if let Ok(below_cfa) = u32::try_from(below) {
                    out.push(UnwindOp::SaveReg { reg, below_cfa });
                }
            }
        }
        (FramePart::Epilogue, MInst::Pop64 { dst }) if is(dst.to_reg(), regs::rbp()) => {
            // Only the return address (8 bytes) is left above rsp.
            out.push(UnwindOp::RestoreFrameRegs { sp_to_cfa: 8 })
        }
        _ => {}
    }
}

/// Stores callee-saved register `r` at `[rsp + off]` (16 bytes for XMM).
pub fn save_csr(r: PReg, off: i32) -> MInst {
    let dst = Amode::imm_reg(off, regs::rsp());
    match r.class() {
        RegClass::Int => MInst::MovRM {
            size: OperandSize::Size64,
            src: Reg::from(r),
            dst,
        },
        _ => MInst::XmmStore {
            op: XmmMovOp::Movdqu,
            src: Reg::from(r),
            dst,
        },
    }
}

/// Reloads callee-saved register `r` from `[rsp + off]`.
pub fn restore_csr(r: PReg, off: i32) -> MInst {
    let src = Amode::imm_reg(off, regs::rsp());
    match r.class() {
        RegClass::Int => MInst::Mov64MR {
            src,
            dst: Writable::from_reg(Reg::from(r)),
        },
        _ => MInst::XmmMovRM {
            op: XmmMovOp::Movdqu,
            src: RegMem::Mem(src),
            dst: Writable::from_reg(Reg::from(r)),
        },
    }
}

/// Emits `inst` if its encoding depends on the frame; returns whether it
/// did. The caller has already emitted the epilogue before a `Ret`.
#[inline]
pub fn emit_frame_dependent(
    inst: &MInst,
    buf: &mut MachBuffer<X64LabelUse>,
    st: &EmitState,
    frame: &FrameLayout,
) -> bool {
    match inst {
        MInst::Ret { .. } if frame.callee_pop > 0 => {
            // ret imm16: pop the return address, then `imm16` more bytes.
            buf.put1(0xc2);
            let n = u16::try_from(frame.callee_pop).unwrap_or(u16::MAX);
            buf.put_data(&n.to_le_bytes());
            true
        }
        MInst::ReturnCall { info } => {
            emit_return_call(buf, st, frame, &info.target, info.stack_args);
            true
        }
        _ => false,
    }
}

fn gpr(e: u8) -> Reg {
    regs::gpr(e)
}

/// The tail-call sequence. On entry the callee's register arguments are in
/// place and its `n_new` bytes of stack arguments are at `[rsp, rsp +
/// n_new)` (this frame's outgoing area). With `F` the frame size (`rbp =
/// rsp + F`) and `n_old` the bytes this function would pop on return:
///
/// 1. reload the callee-saved registers (none is an argument register of
///    a System V-family callee);
/// 2. `r10 = [rbp + 8]` (our return address), `rbp = [rbp]` (the caller's
///    frame pointer) — both read before the copy may overwrite them;
/// 3. copy the stack arguments to `[rsp + F + 16 + n_old - n_new ..)`, the
///    top of the new argument area at the top of ours (the caller expects
///    the stack pointer at `rbp + 16 + n_old` once the callee returns and
///    pops `n_new`). The destination is never below the source, so copying
///    from the highest word down is correct even when they overlap;
/// 4. store the return address below the arguments, point rsp at it and
///    jump. rsp + 8 stays 16-byte aligned (`n_old`, `n_new` are multiples
///    of 16 and rbp was aligned).
fn emit_return_call(
    buf: &mut MachBuffer<X64LabelUse>,
    st: &EmitState,
    frame: &FrameLayout,
    target: &ReturnCallTarget,
    n_new: u32,
) {
    let put = |buf: &mut MachBuffer<X64LabelUse>, i: MInst| i.emit_with_state(buf, st);
    // The frame is torn down here as in an epilogue; the description of
    // the body holds again after the jump.
    buf.add_unwind(UnwindOp::RememberState);
    for (r, off) in frame.csr_slots() {
        put(buf, restore_csr(r, off as i32));
    }
    let (rax, r10) = (gpr(enc::RAX), gpr(enc::R10));
    put(
        buf,
        MInst::Mov64MR {
            src: Amode::imm_reg(8, regs::rbp()),
            dst: Writable::from_reg(r10),
        },
    );
    // The argument copy may overwrite the return address's slot; r10 keeps
    // it until it is stored below the new arguments.
    if let Some(reg) = r10.to_real_reg() {
        buf.add_unwind(UnwindOp::ReturnAddressIn { reg });
    }
    put(
        buf,
        MInst::Mov64MR {
            src: Amode::imm_reg(0, regs::rbp()),
            dst: Writable::from_reg(regs::rbp()),
        },
    );
    // rbp is the caller's again; rsp has not moved since the prologue.
    buf.add_unwind(UnwindOp::RestoreFrameRegs {
        sp_to_cfa: frame.total_size() as i32,
    });
    // All offsets fit: the frame is below 1 GiB (FrameLayout::compute) and
    // the argument areas are bounded by the outgoing area inside it.
    let top = frame.fixed_frame_size as i64 + 16 + frame.callee_pop as i64;
    let dst_base = top - n_new as i64;
    let off = |x: i64| i32::try_from(x).unwrap_or(i32::MAX);
    for k in (0..n_new / 8).rev() {
        let k = 8 * k as i64;
        put(
            buf,
            MInst::Mov64MR {
                src: Amode::imm_reg(off(k), regs::rsp()),
                dst: Writable::from_reg(rax),
            },
        );
        put(
            buf,
            MInst::MovRM {
                size: OperandSize::Size64,
                src: rax,
                dst: Amode::imm_reg(off(dst_base + k), regs::rsp()),
            },
        );
    }
    put(
        buf,
        MInst::MovRM {
            size: OperandSize::Size64,
            src: r10,
            dst: Amode::imm_reg(off(dst_base - 8), regs::rsp()),
        },
    );
    put(
        buf,
        MInst::Lea {
            size: OperandSize::Size64,
            addr: Amode::imm_reg(off(dst_base - 8), regs::rsp()),
            dst: Writable::from_reg(regs::rsp()),
        },
    );
    // rsp is on the (moved) return address, as at a callee's entry.
    buf.add_unwind(UnwindOp::SpToCfa { sp_to_cfa: 8 });
    buf.add_unwind(UnwindOp::ReturnAddressAt { below_cfa: 8 });
    match target {
        ReturnCallTarget::Known(t) => {
            // jmp rel32, resolved like a call.
            buf.put1(0xe9);
            buf.add_reloc(Reloc::X86CallPCRel4, (*t).into(), -4);
            buf.put4(0);
        }
        ReturnCallTarget::Reg(r) => put(
            buf,
            MInst::JmpUnknown {
                target: RegMem::Reg(*r),
            },
        ),
    }
    buf.add_unwind(UnwindOp::RestoreState);
}
