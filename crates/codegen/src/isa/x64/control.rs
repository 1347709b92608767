//! Frame-dependent emission for control flow: callee-saved register saves,
//! `ret n` of the `tail` convention and the tail-call sequence of
//! `MInst::ReturnCall` (see `docs/lowering.md`, "The `tail` convention").
//!
//! These need the final frame (`X64Frame`), known only after register
//! allocation, so the function's sink calls [`emit_frame_dependent`] before
//! the generic encoder.

use super::abi::X64Frame;
use super::args::*;
use super::emit::{EmitState, X64LabelUse};
use super::inst::*;
use super::regs::{self, enc};
use crate::machinst::buffer::{MachBuffer, Reloc};
use crate::machinst::reg::{Reg, Writable};
use regalloc2::{PReg, RegClass};

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
    frame: &X64Frame,
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
    frame: &X64Frame,
    target: &ReturnCallTarget,
    n_new: u32,
) {
    let put = |buf: &mut MachBuffer<X64LabelUse>, i: MInst| i.emit_with_state(buf, st);
    for (r, off) in frame.csr_slots() {
        put(buf, restore_csr(r, off));
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
    // All offsets fit: the frame is below 1 GiB (X64Frame::new) and the
    // argument areas are bounded by the outgoing area inside it.
    let top = frame.frame_size as i64 + 16 + frame.callee_pop as i64;
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
