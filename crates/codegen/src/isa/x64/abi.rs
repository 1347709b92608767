//! The System V AMD64 calling convention and Kiln's x86-64 frame.
//!
//! # Arguments and returns
//!
//! * Integer (and pointer) arguments in rdi, rsi, rdx, rcx, r8, r9; float
//!   arguments in xmm0-xmm7; the rest on the stack in 8-byte slots, the
//!   first stack argument at the lowest address (`[rsp]` at the call,
//!   `[rbp + 16]` in the callee after `push rbp; mov rbp, rsp`). The two
//!   classes are counted independently (as System V does).
//! * Integer returns in rax, rdx; float returns in xmm0, xmm1.
//! * More returns than that (of either class) use a *return area*: the
//!   caller passes a hidden pointer as the **first integer argument** (rdi,
//!   shifting the others), the first returns that fit still come back in
//!   registers, and every further return is stored by the callee at
//!   `[area + 8 * k]` for the k-th overflowing return in signature order.
//!   This is Kiln's reading of Cranelift's `enable_multi_ret_implicit_sret`;
//!   it only matters between Kiln-compiled functions.
//! * `i128` takes two integer registers (low half first) if both are
//!   free, else two consecutive 16-byte-aligned stack slots (System V).
//! * `f16` and `f128` take one XMM register like f32/f64 (`f16` in the low
//!   16 bits, `f128` in all 128: GCC/LLVM's convention for `_Float16` and
//!   `__float128`); on the stack `f16` takes an 8-byte slot and `f128` a
//!   16-byte-aligned 16-byte slot.
//! * `CallConv::Fast`, `SystemV` and `Tail` all use this convention (`Tail`
//!   without guaranteed tail calls: `return_call` is unsupported); other
//!   conventions are `Unsupported`.
//! * Narrow integer arguments with an `uext`/`sext` attribute are extended
//!   to 32 bits by the caller.
//!
//! # Frame (stack grows down)
//!
//! ```text
//!   incoming stack arguments    [rbp + 16 ...]
//!   return address              [rbp + 8]
//!   saved rbp                   <- rbp
//!   sized stack slots           [rbp - slots_size, rbp)    (16-aligned area)
//!   padding to 16
//!   clobbered callee-saves      [rsp + outgoing + spill_area ...]
//!   spill slots                 [rsp + outgoing + 8 * n]
//!   outgoing arguments/returns  [rsp, rsp + outgoing)
//!                               <- rsp (16-byte aligned, fixed after the prologue)
//! ```
//!
//! The prologue is always `push rbp; mov rbp, rsp` (a frame pointer is
//! required with `preserve_frame_pointers` and keeps stack slots at fixed
//! rbp offsets known during lowering), then `sub rsp, N` and `mov`s of the
//! callee-saved registers the allocator used (rbx, r12-r15). The epilogue
//! reloads them, then `mov rsp, rbp; pop rbp; ret`. rsp stays 16-byte
//! aligned between the prologue and the epilogue, so every call site is
//! aligned. No stack probes yet: frames larger than a guard page are not
//! probed.

use super::regs::{self, enc, gpr_preg, xmm_preg};
use crate::result::{CodegenError, CodegenResult};
use kiln_ir::{CallConv, Signature, Type};
use regalloc2::{MachineEnv, PReg, PRegSet};

/// Where one argument or return value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgLoc {
    Reg(PReg),
    /// Byte offset in the stack argument area (arguments) or the return
    /// area (returns).
    Stack(u32),
}

/// The locations of a signature's parameters and returns: one location per
/// register part (two for `i128`, low half first).
#[derive(Clone, Debug, Default)]
pub struct SigLocs {
    pub params: Vec<Parts>,
    pub returns: Vec<Parts>,
    /// Bytes of stack arguments (a multiple of 16).
    pub stack_args_size: u32,
    /// Bytes of the return area (0: no hidden pointer).
    pub ret_area_size: u32,
}

/// The locations of one value's register parts.
pub type Parts = smallvec::SmallVec<[ArgLoc; 2]>;

impl SigLocs {
    pub fn has_ret_area(&self) -> bool {
        self.ret_area_size > 0
    }
}

fn check_call_conv(cc: CallConv) -> CodegenResult<()> {
    match cc {
        CallConv::Fast | CallConv::SystemV | CallConv::Tail => Ok(()),
        other => Err(CodegenError::Unsupported {
            what: format!("calling convention {}", other.as_str()),
        }),
    }
}

/// The register class of a value (`true`: integer) and its part count.
fn class_of(ty: Type) -> CodegenResult<(bool, usize)> {
    if ty.is_int() && ty.is_scalar() && ty.bits() <= 64 {
        Ok((true, 1))
    } else if ty == Type::I128 {
        Ok((true, 2))
    } else if ty == Type::F32 || ty == Type::F64 || ty == Type::F16 || ty == Type::F128 {
        Ok((false, 1))
    } else {
        Err(CodegenError::Unsupported {
            what: format!("arguments or returns of type {ty}"),
        })
    }
}

/// Assigns `n` parts of one value: registers from `regs[*used..]` if all
/// `n` fit, else consecutive stack slots (16-aligned for two parts).
fn assign(n: usize, regs: &[PReg], used: &mut usize, stack: &mut u32) -> Parts {
    let mut parts = Parts::new();
    if *used + n <= regs.len() {
        for k in 0..n {
            parts.push(ArgLoc::Reg(regs[*used + k]));
        }
        *used += n;
    } else {
        if n == 2 {
            *stack = (*stack + 15) & !15;
        }
        for _ in 0..n {
            parts.push(ArgLoc::Stack(*stack));
            *stack += 8;
        }
    }
    parts
}

/// Assigns one float value: the next XMM register, else a stack slot
/// (8 bytes; an `f128` takes a 16-aligned 16-byte slot, as System V passes
/// `__float128` in memory). `f16` travels in the low 16 bits of an XMM
/// register, `f128` in the whole register (GCC/LLVM's convention).
fn assign_float(ty: Type, regs: &[PReg], used: &mut usize, stack: &mut u32) -> Parts {
    if ty == Type::F128 && *used >= regs.len() {
        *stack = (*stack + 15) & !15;
        let parts = Parts::from_slice(&[ArgLoc::Stack(*stack)]);
        *stack += 16;
        return parts;
    }
    assign(1, regs, used, stack)
}

/// Computes the System V locations of a signature.
pub fn sig_locs(sig: &Signature) -> CodegenResult<SigLocs> {
    check_call_conv(sig.call_conv)?;
    let mut locs = SigLocs::default();
    let int_rets: Vec<PReg> = regs::SYSV_INT_RETS.iter().map(|&e| gpr_preg(e)).collect();
    let fl_rets: Vec<PReg> = regs::SYSV_FLOAT_RETS.iter().map(|&e| xmm_preg(e)).collect();
    let int_args: Vec<PReg> = regs::SYSV_INT_ARGS.iter().map(|&e| gpr_preg(e)).collect();
    let fl_args: Vec<PReg> = regs::SYSV_FLOAT_ARGS.iter().map(|&e| xmm_preg(e)).collect();
    // Returns first: they decide whether a hidden pointer is needed.
    let (mut ni, mut nf, mut area) = (0usize, 0usize, 0u32);
    for r in &sig.returns {
        let (int, n) = class_of(r.value_type)?;
        let loc = if int {
            assign(n, &int_rets, &mut ni, &mut area)
        } else {
            assign_float(r.value_type, &fl_rets, &mut nf, &mut area)
        };
        locs.returns.push(loc);
    }
    locs.ret_area_size = (area + 15) & !15;
    let (mut ni, mut nf, mut stack) = (usize::from(area > 0), 0usize, 0u32);
    for p in &sig.params {
        let (int, n) = class_of(p.value_type)?;
        let loc = if int {
            assign(n, &int_args, &mut ni, &mut stack)
        } else {
            assign_float(p.value_type, &fl_args, &mut nf, &mut stack)
        };
        locs.params.push(loc);
    }
    locs.stack_args_size = (stack + 15) & !15;
    Ok(locs)
}

/// The register holding the hidden return-area pointer.
pub fn ret_area_reg() -> PReg {
    gpr_preg(enc::RDI)
}

/// Callee-saved registers the allocator may use (rbp is the frame pointer
/// and never allocated).
pub fn callee_saved() -> PRegSet {
    [enc::RBX, enc::R12, enc::R13, enc::R14, enc::R15]
        .iter()
        .fold(PRegSet::empty(), |s, &e| s.with(gpr_preg(e)))
}

/// The registers a call clobbers: all caller-saved GPRs and every XMM
/// register.
pub fn call_clobbers() -> PRegSet {
    regs::sysv_clobbers()
}

/// The allocator's view of the registers: every GPR except rsp and rbp
/// (caller-saved preferred, so leaf functions save nothing) and xmm0-15.
pub fn machine_env() -> MachineEnv {
    let set = |v: &[PReg]| v.iter().fold(PRegSet::empty(), |s, &p| s.with(p));
    let (pref, non_pref) = regs::allocatable_gprs();
    MachineEnv {
        preferred_regs_by_class: [set(&pref), set(&regs::allocatable_xmms()), PRegSet::empty()],
        non_preferred_regs_by_class: [set(&non_pref), PRegSet::empty(), PRegSet::empty()],
        scratch_by_class: [None, None, None],
        fixed_stack_slots: vec![],
    }
}

/// The sizes the prologue needs, fixed after register allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct X64Frame {
    /// Outgoing argument/return area at the bottom of the frame.
    pub outgoing: u32,
    /// Spill area above it.
    pub spill_area: u32,
    /// Callee-saved registers to save, at `[rsp + csr_offset + 8 k]`.
    pub csrs: Vec<PReg>,
    pub csr_offset: u32,
    /// Bytes of the sized stack-slot area directly below rbp.
    pub slots_size: u32,
    /// Total `sub rsp` of the prologue (keeps rsp 16-byte aligned).
    pub frame_size: u32,
}

impl X64Frame {
    pub fn new(
        outgoing: u32,
        spill_area: u32,
        csrs: Vec<PReg>,
        slots_size: u32,
    ) -> CodegenResult<Self> {
        let csr_offset = outgoing
            .checked_add(spill_area)
            .ok_or(CodegenError::CodeTooLarge)?;
        let low = csr_offset
            .checked_add(8 * csrs.len() as u32)
            .and_then(|x| x.checked_add(15))
            .ok_or(CodegenError::CodeTooLarge)?
            & !15;
        let frame_size = low
            .checked_add(slots_size)
            .ok_or(CodegenError::CodeTooLarge)?;
        if frame_size > i32::MAX as u32 / 2 {
            return Err(CodegenError::CodeTooLarge);
        }
        Ok(X64Frame {
            outgoing,
            spill_area,
            csrs,
            csr_offset,
            slots_size,
            frame_size,
        })
    }
}

/// Offsets of the sized stack slots below rbp: `(offsets, area size)`.
/// Slot `k` is at `[rbp - size + offsets[k]]`; the area is 16-byte aligned
/// and each slot aligned to its `align_shift` (at most 16 bytes, rbp's
/// alignment).
pub fn stack_slot_layout(f: &kiln_ir::FunctionStencil) -> CodegenResult<(Vec<u32>, u32)> {
    let mut offs = Vec::with_capacity(f.sized_stack_slots.len());
    let mut at: u32 = 0;
    for (_, data) in f.sized_stack_slots.iter() {
        let align = 1u32 << data.align_shift.min(4);
        at = at
            .checked_add(align - 1)
            .ok_or(CodegenError::CodeTooLarge)?
            & !(align - 1);
        offs.push(at);
        at = at
            .checked_add(data.size)
            .ok_or(CodegenError::CodeTooLarge)?;
    }
    let size = at.checked_add(15).ok_or(CodegenError::CodeTooLarge)? & !15;
    if size > (1 << 30) {
        return Err(CodegenError::CodeTooLarge);
    }
    // Slots are placed top-down from rbp so that offsets count from the
    // area's bottom.
    Ok((offs, size))
}
