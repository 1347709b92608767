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
use crate::machinst::abi::FrameLayout;
use crate::machinst::buffer::{MachBuffer, Reloc};
use crate::machinst::reg::{Reg, Writable};
use regalloc2::{PReg, RegClass};

/// `push rbp; mov rbp, rsp; sub rsp, N` and the callee-save stores.
pub fn gen_prologue(frame: &FrameLayout, out: &mut Vec<MInst>) {
    out.push(MInst::Push64 {
        src: RegMemImm::Reg(regs::rbp()),
    });
    out.push(MInst::MovRR {
        size: OperandSize::Size64,
        src: regs::rsp(),
        dst: Writable::from_reg(regs::rbp()),
    });
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
    put(
        buf,
        MInst::Mov64MR {
            src: Amode::imm_reg(0, regs::rbp()),
            dst: Writable::from_reg(regs::rbp()),
        },
    );
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
}
