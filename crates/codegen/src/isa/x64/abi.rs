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
//!   or rcx on Windows, shifting the others), the first returns that fit still come back in
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
//! * `CallConv::Fast` and `SystemV` use this convention; `Tail` (the callee
//!   pops its stack arguments), `Winch` (the last result in a register, the
//!   others in the return area in reverse order) and `WindowsFastcall`
//!   (positional rcx/rdx/r8/r9 and xmm0-3, 32-byte shadow space, more
//!   callee-saved registers) are variations described as data by
//!   [`Convention`]; see docs/lowering.md, "Calling conventions". Other
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
//!   clobbered callee-saves      [rsp + align16(outgoing + spill_area) ...]
//!   spill slots                 [rsp + outgoing + 8 * n]
//!   outgoing arguments/returns  [rsp, rsp + outgoing)
//!                               <- rsp (16-byte aligned, fixed after the prologue)
//! ```
//!
//! This is the target-neutral `FrameLayout` (machinst/abi.rs) with x86-64's
//! `FrameShape` (16-byte alignment, a 16-byte setup area, 8-byte GPR and
//! 16-byte XMM save slots), computed once by the pipeline.
//!
//! The prologue is always `push rbp; mov rbp, rsp` (a frame pointer is
//! required with `preserve_frame_pointers` and keeps stack slots at fixed
//! rbp offsets known during lowering), then `sub rsp, N` and `mov`s of the
//! callee-saved registers the allocator used (the convention's set: rbx,
//! r12-r15, plus rsi, rdi and 16-byte `movdqu` saves of xmm6-15 on
//! Windows). The epilogue reloads them, then `mov rsp, rbp; pop rbp; ret`
//! (`ret n` when the function pops its stack arguments). rsp stays 16-byte
//! aligned between the prologue and the epilogue, so every call site is
//! aligned. A stack-limit check and stack probes go between `mov rbp, rsp`
//! and `sub rsp, N` (`control.rs`, `docs/frame.md`).

use super::regs::{self, enc, gpr_preg, xmm_preg};
use crate::result::{CodegenError, CodegenResult};
use kiln_ir::{CallConv, Signature, Type};
use regalloc2::{MachineEnv, PReg, PRegSet};

pub use crate::machinst::call::{ArgLoc, Parts, SigLocs};

/// A calling convention as data: everything `sig_locs`, the frame and the
/// call/return lowering need to know about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Convention {
    /// Integer argument registers (hardware encodings), in order.
    pub int_args: &'static [u8],
    /// Float argument registers (xmm numbers), in order.
    pub float_args: &'static [u8],
    /// Argument *k* takes position *k* of `int_args` or `float_args`
    /// (Windows); otherwise the two classes are counted independently.
    pub positional: bool,
    /// Integer and float return registers, in order.
    pub int_rets: &'static [u8],
    pub float_rets: &'static [u8],
    /// Bytes the caller reserves at the bottom of the stack-argument area
    /// before the first stack argument (Windows' 32-byte shadow space).
    pub shadow: u32,
    /// The callee pops its stack arguments (`ret n`).
    pub callee_pops: bool,
    /// Callee-saved GPRs (besides rbp) and XMM registers.
    pub callee_saved_gprs: &'static [u8],
    pub callee_saved_xmms: &'static [u8],
    /// Winch: only the *last* return value comes back in a register; every
    /// other one goes to the return area, the first at the highest offset.
    pub winch_returns: bool,
    /// Callers must assume the callee preserves no register (Winch-compiled
    /// code does not restore callee-saved registers), so a call clobbers
    /// every allocatable register.
    pub clobbers_all: bool,
}

const SYSV_CSRS: [u8; 5] = [enc::RBX, enc::R12, enc::R13, enc::R14, enc::R15];
const WIN_CSRS: [u8; 7] = [
    enc::RBX,
    enc::RSI,
    enc::RDI,
    enc::R12,
    enc::R13,
    enc::R14,
    enc::R15,
];
const WIN_CSR_XMMS: [u8; 10] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// System V AMD64 (also `fast`).
pub const SYSTEM_V: Convention = Convention {
    int_args: &regs::SYSV_INT_ARGS,
    float_args: &regs::SYSV_FLOAT_ARGS,
    positional: false,
    int_rets: &regs::SYSV_INT_RETS,
    float_rets: &regs::SYSV_FLOAT_RETS,
    shadow: 0,
    callee_pops: false,
    callee_saved_gprs: &SYSV_CSRS,
    callee_saved_xmms: &[],
    winch_returns: false,
    clobbers_all: false,
};

/// `tail`: System V registers, but the callee pops its stack arguments,
/// which makes `return_call` with any number of stack arguments possible.
pub const TAIL: Convention = Convention {
    callee_pops: true,
    ..SYSTEM_V
};

/// `winch`: System V arguments; results as Winch expects them (the last in
/// rax/xmm0, the others in the return area in reverse order); a call to it
/// clobbers every register.
pub const WINCH: Convention = Convention {
    winch_returns: true,
    clobbers_all: true,
    ..SYSTEM_V
};

/// Windows x64 (`windows_fastcall`).
pub const WINDOWS_FASTCALL: Convention = Convention {
    int_args: &[enc::RCX, enc::RDX, enc::R8, enc::R9],
    float_args: &[0, 1, 2, 3],
    positional: true,
    int_rets: &[enc::RAX],
    float_rets: &[0],
    shadow: 32,
    callee_pops: false,
    callee_saved_gprs: &WIN_CSRS,
    callee_saved_xmms: &WIN_CSR_XMMS,
    winch_returns: false,
    clobbers_all: false,
};

/// The convention of `cc`, or `Unsupported`.
pub fn convention(cc: CallConv) -> CodegenResult<&'static Convention> {
    match cc {
        CallConv::Fast | CallConv::SystemV => Ok(&SYSTEM_V),
        CallConv::Tail => Ok(&TAIL),
        CallConv::Winch => Ok(&WINCH),
        CallConv::WindowsFastcall => Ok(&WINDOWS_FASTCALL),
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
fn assign(n: usize, regs: Regs, used: &mut usize, stack: &mut u32) -> Parts {
    let mut parts = Parts::new();
    if *used + n <= regs.encs.len() {
        for k in 0..n {
            parts.push(ArgLoc::Reg((regs.preg)(regs.encs[*used + k])));
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
fn assign_float(ty: Type, regs: Regs, used: &mut usize, stack: &mut u32) -> Parts {
    if ty == Type::F128 && *used >= regs.encs.len() {
        *stack = (*stack + 15) & !15;
        let parts = Parts::from_slice(&[ArgLoc::Stack(*stack)]);
        *stack += 16;
        return parts;
    }
    assign(1, regs, used, stack)
}

/// A convention's registers of one class for one list, as encodings (the
/// convention's own tables, not copied) and the class's register maker.
#[derive(Clone, Copy)]
struct Regs {
    encs: &'static [u8],
    preg: fn(u8) -> PReg,
}

/// Register-or-stack assignment for one list (arguments or returns) of a
/// convention.
struct Assigner {
    ints: Regs,
    floats: Regs,
    positional: bool,
    ni: usize,
    nf: usize,
    stack: u32,
}

impl Assigner {
    fn new(ints: &'static [u8], floats: &'static [u8], positional: bool, stack: u32) -> Self {
        Assigner {
            ints: Regs {
                encs: ints,
                preg: gpr_preg,
            },
            floats: Regs {
                encs: floats,
                preg: xmm_preg,
            },
            positional,
            ni: 0,
            nf: 0,
            stack,
        }
    }
    /// Consumes one integer register (the hidden return-area pointer).
    fn skip_int(&mut self) {
        self.ni += 1;
        if self.positional {
            self.nf += 1;
        }
    }
    fn value(&mut self, ty: Type, int: bool, n: usize) -> CodegenResult<Parts> {
        if self.positional {
            if n != 1 {
                return Err(CodegenError::Unsupported {
                    what: "i128 arguments or returns with a positional convention".into(),
                });
            }
            // Both classes advance together: position k is int_args[k] or
            // float_args[k].
            let (regs, mut used) = if int {
                (self.ints, self.ni)
            } else {
                (self.floats, self.nf)
            };
            let p = assign(1, regs, &mut used, &mut self.stack);
            if matches!(p[0], ArgLoc::Reg(_)) {
                self.ni += 1;
                self.nf += 1;
            }
            return Ok(p);
        }
        Ok(if int {
            assign(n, self.ints, &mut self.ni, &mut self.stack)
        } else {
            assign_float(ty, self.floats, &mut self.nf, &mut self.stack)
        })
    }
}

/// Computes the locations of a signature under its calling convention.
pub fn sig_locs(sig: &Signature) -> CodegenResult<SigLocs> {
    let conv = convention(sig.call_conv)?;
    // x86-64 callers extend narrow integer arguments per their attribute
    // under every convention.
    let mut locs = SigLocs {
        params: Vec::with_capacity(sig.params.len()),
        returns: Vec::with_capacity(sig.returns.len()),
        caller_extends: true,
        ..SigLocs::default()
    };
    // Returns first: they decide whether a hidden pointer is needed.
    let mut rets = Assigner::new(conv.int_rets, conv.float_rets, false, 0);
    let last = sig.returns.len().checked_sub(1);
    for (i, r) in sig.returns.iter().enumerate() {
        let (int, n) = class_of(r.value_type)?;
        let loc = if conv.winch_returns && Some(i) != last {
            // Winch: everything but the last value goes to memory.
            let mut none = 0usize;
            let no_regs = Regs {
                encs: &[],
                preg: gpr_preg,
            };
            assign(n, no_regs, &mut none, &mut rets.stack)
        } else {
            rets.value(r.value_type, int, n)?
        };
        locs.returns.push(loc);
    }
    let area = rets.stack;
    if conv.winch_returns {
        // The first return value at the highest offset.
        for parts in locs.returns.iter_mut() {
            for p in parts.iter_mut() {
                if let ArgLoc::Stack(off) = p {
                    *off = area - *off - 8;
                }
            }
        }
    }
    locs.ret_area_size = (area + 15) & !15;
    let mut args = Assigner::new(conv.int_args, conv.float_args, conv.positional, conv.shadow);
    if area > 0 {
        args.skip_int();
    }
    for p in &sig.params {
        let (int, n) = class_of(p.value_type)?;
        locs.params.push(args.value(p.value_type, int, n)?);
    }
    locs.stack_args_size = (args.stack + 15) & !15;
    locs.callee_pop = if conv.callee_pops {
        // `ret imm16` pops at most 65535 bytes.
        if locs.stack_args_size > u32::from(u16::MAX) {
            return Err(CodegenError::Unsupported {
                what: format!(
                    "{} bytes of stack arguments with a callee-pops convention",
                    locs.stack_args_size
                ),
            });
        }
        locs.stack_args_size
    } else {
        0
    };
    locs.ret_area_reg = gpr_preg(conv.int_args.first().copied().unwrap_or(enc::RDI));
    Ok(locs)
}

/// Callee-saved registers of `conv` the allocator may use (rbp is the
/// frame pointer and never allocated). With `pinned` (`enable_pinned_reg`)
/// r15 is the pinned register: never saved or restored, so a value
/// `set_pinned_reg` writes outlives the function, as Cranelift does.
pub fn callee_saved(conv: &Convention, pinned: bool) -> PRegSet {
    let g = conv
        .callee_saved_gprs
        .iter()
        .filter(|&&e| !(pinned && e == PINNED_REG))
        .fold(PRegSet::empty(), |s, &e| s.with(gpr_preg(e)));
    conv.callee_saved_xmms
        .iter()
        .fold(g, |s, &e| s.with(xmm_preg(e)))
}

/// The registers a call clobbers: all caller-saved GPRs and every XMM
/// register.
pub fn call_clobbers() -> PRegSet {
    regs::sysv_clobbers()
}

/// The registers a call to a function of `conv` clobbers: the System V set
/// (a superset of Windows' volatile registers, so conservative for
/// `windows_fastcall`), or every allocatable register when the callee
/// preserves nothing.
pub fn call_clobbers_for(conv: &Convention) -> PRegSet {
    if conv.clobbers_all {
        let (pref, non_pref) = regs::allocatable_gprs();
        pref.iter()
            .chain(non_pref.iter())
            .fold(regs::sysv_clobbers(), |s, &p| s.with(p))
    } else {
        regs::sysv_clobbers()
    }
}

/// The pinned register of `enable_pinned_reg` (r15, as in Cranelift).
pub const PINNED_REG: u8 = enc::R15;

/// The allocator's view of the registers: every GPR except rsp and rbp
/// (caller-saved preferred, so leaf functions save nothing) and xmm0-15;
/// with `pinned` also not r15 (only `get_pinned_reg`/`set_pinned_reg`
/// touch it).
pub fn machine_env(pinned: bool) -> MachineEnv {
    let set = |v: &[PReg]| v.iter().fold(PRegSet::empty(), |s, &p| s.with(p));
    let (pref, mut non_pref) = regs::allocatable_gprs();
    if pinned {
        non_pref.retain(|&p| p != gpr_preg(PINNED_REG));
    }
    MachineEnv {
        preferred_regs_by_class: [set(&pref), set(&regs::allocatable_xmms()), PRegSet::empty()],
        non_preferred_regs_by_class: [set(&non_pref), PRegSet::empty(), PRegSet::empty()],
        scratch_by_class: [None, None, None],
        fixed_stack_slots: vec![],
    }
}

/// The sized stack slots sit below rbp: slot `k` is at
/// `[rbp - size + offsets[k]]` (the shared layout, aligned to at most 16
/// bytes, rbp's alignment).
pub use crate::machinst::abi::stack_slot_layout;
