//! The target-independent frame: one [`FrameLayout`] per function, computed
//! once after register allocation and read by everything that needs to know
//! where things are on the stack — the target's prologue, epilogue and
//! frame-dependent sequences (returns that pop arguments, tail calls), spill
//! and reload offsets, exception records, and the frame description that
//! unwind information will be generated from.
//!
//! # Frame picture (stack grows down; offsets grow up from SP)
//!
//! ```text
//!   incoming stack arguments
//!   setup area                setup_area_size bytes: return address and saved
//!                             frame pointer <- FP points at the saved FP
//!   sized stack slots         stackslots_size bytes, directly below FP
//!   padding to stack_align
//!   clobbered callee-saves    from SP + csr_offset, in save order
//!   padding to stack_align
//!   spill slots               spill_area_size bytes from SP + outgoing_args_size
//!   outgoing arguments        outgoing_args_size bytes from SP
//!                             <- SP after the prologue (fixed until the epilogue)
//! ```
//!
//! `fixed_frame_size` is FP - SP after the prologue: what the prologue
//! subtracts from SP once the setup area is in place. The whole frame is
//! `setup_area_size + fixed_frame_size` bytes ([`FrameLayout::total_size`]).

use super::call::{ArgLoc, SigLocs};
use super::inst::MachInst;
use super::vcode::VCode;
use crate::result::{CodegenError, CodegenResult};
use regalloc2::{Edit, OperandKind, Output, PReg, PRegSet, RegClass, SpillSlot};

/// What lowering and the target's ABI say about a function's frame before
/// register allocation; [`FrameLayout::compute`] completes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameRequest {
    /// Largest outgoing argument (and return) area of any call.
    pub outgoing_args_size: u32,
    /// Bytes of the sized stack-slot area (a multiple of `stack_align`).
    pub stackslots_size: u32,
    /// The convention's callee-saved registers (the `MachineEnv` does not
    /// say which are).
    pub callee_saved: PRegSet,
    /// Bytes of stack arguments the function pops when it returns.
    pub callee_pop: u32,
    /// Where the function's stack limit comes from, if it has one.
    pub stack_limit: Option<StackLimit>,
    /// Callee-saved registers that calls list as clobbered only because a
    /// callee preserves part of them (aarch64's v8–v15, of which callees
    /// keep the low 64 bits, in functions with 128-bit FP values). A call
    /// does not make them need saving here: the callee keeps the part this
    /// function's own caller relies on.
    pub partial_call_clobbers: PRegSet,
}

/// Where a stack-limit chain starts: the value of an incoming argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitBase {
    /// An argument in a register (the prologue runs before anything can
    /// overwrite it).
    Reg(PReg),
    /// A pointer-sized incoming stack argument at FP + this offset.
    FpOffset(i32),
}

/// One step of a stack-limit chain, applied to the pointer-sized value so
/// far (the global value chain `load`/`iadd_imm` of the IR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitStep {
    /// Replace the value by the pointer-sized word at value + offset.
    Load(i32),
    /// Add a constant.
    Add(i32),
}

/// How the prologue computes the stack limit: a base and up to
/// [`StackLimit::MAX_STEPS`] steps (plain data, so requests stay `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackLimit {
    pub base: LimitBase,
    steps: [LimitStep; StackLimit::MAX_STEPS],
    len: u8,
}

impl StackLimit {
    /// Longest chain a prologue computes (the wasm corpus uses two loads).
    pub const MAX_STEPS: usize = 8;

    /// The limit is the base value itself.
    pub fn new(base: LimitBase) -> Self {
        StackLimit {
            base,
            steps: [LimitStep::Add(0); StackLimit::MAX_STEPS],
            len: 0,
        }
    }

    /// Appends a step; false if the chain is already at its maximum.
    pub fn push(&mut self, step: LimitStep) -> bool {
        let Some(slot) = self.steps.get_mut(self.len as usize) else {
            return false;
        };
        *slot = step;
        self.len += 1;
        true
    }

    /// The steps, first applied first.
    pub fn steps(&self) -> &[LimitStep] {
        &self.steps[..self.len as usize]
    }
}

/// The target's fixed frame facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameShape {
    /// Stack alignment at call sites (a power of two).
    pub stack_align: u32,
    /// Bytes the call and the frame-pointer setup push above the frame
    /// (a return address and a saved frame pointer: 16 on 64-bit targets).
    pub setup_area_size: u32,
    /// Bytes of one callee-save slot, by `RegClass` index (Int, Float,
    /// Vector).
    pub save_bytes: [u32; 3],
}

/// The frame of one function after register allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameLayout {
    /// Bytes per spill slot (`MachInst::SPILLSLOT_BYTES`).
    pub spillslot_bytes: u32,
    /// Spill slots regalloc2 used.
    pub num_spillslots: u32,
    /// `num_spillslots * spillslot_bytes`.
    pub spill_area_size: u32,
    /// Outgoing argument area at the bottom of the frame.
    pub outgoing_args_size: u32,
    /// Bytes of the function's sized stack slots (directly below FP).
    pub stackslots_size: u32,
    /// Callee-saved registers the function writes, in save order (integer
    /// registers first, then by hardware encoding); the prologue saves them
    /// and every epilogue restores them.
    pub clobbered_callee_saves: Vec<PReg>,
    /// Offset from SP of the first callee-save slot.
    pub csr_offset: u32,
    /// Bytes of one save slot, by register class index.
    pub save_bytes: [u32; 3],
    /// FP - SP after the prologue.
    pub fixed_frame_size: u32,
    /// Return address and saved frame pointer above FP.
    pub setup_area_size: u32,
    /// Bytes of stack arguments popped on return.
    pub callee_pop: u32,
    /// Whether the function contains a call (`MachInst::is_call`).
    pub has_calls: bool,
    /// The stack limit the prologue checks against, if any.
    pub stack_limit: Option<StackLimit>,
}

/// Frames are kept well below 2 GiB so that every SP/FP offset fits an
/// `i32` displacement with room for the argument areas above them.
const MAX_FRAME: u32 = i32::MAX as u32 / 2;

impl FrameLayout {
    /// Computes the layout from the VCode and regalloc2's output: a
    /// register counts as clobbered if any def operand, regalloc edit or
    /// instruction clobber set writes it.
    pub fn compute<I: MachInst>(
        vcode: &VCode<I>,
        output: &Output,
        request: &FrameRequest,
        shape: &FrameShape,
    ) -> CodegenResult<FrameLayout> {
        let mut written = PRegSet::empty();
        // regalloc2 gives one allocation per operand, instruction after
        // instruction: the two flat lists pair up without a lookup per
        // instruction.
        let operands = vcode.all_operands();
        if output.allocs.len() != operands.len() {
            return Err(CodegenError::Regalloc(
                "regalloc output does not match this VCode".into(),
            ));
        }
        for (op, alloc) in operands.iter().zip(&output.allocs) {
            if op.kind() == OperandKind::Def {
                if let Some(preg) = alloc.as_reg() {
                    written.add(preg);
                }
            }
        }
        let has_calls = vcode.insts().iter().any(|i| i.is_call());
        for clobbers in vcode.all_clobbers() {
            for preg in clobbers {
                if !request.partial_call_clobbers.contains(preg) {
                    written.add(preg);
                }
            }
        }
        for (_, Edit::Move { to, .. }) in &output.edits {
            if let Some(preg) = to.as_reg() {
                written.add(preg);
            }
        }
        let csrs: Vec<PReg> = (written & request.callee_saved).into_iter().collect();
        let num_spillslots = u32::try_from(output.num_spillslots).map_err(|_| too_large())?;
        Self::with_spills(
            I::SPILLSLOT_BYTES,
            num_spillslots,
            csrs,
            has_calls,
            request,
            shape,
        )
    }

    /// The layout for a known spill count and set of callee-saves (what
    /// [`FrameLayout::compute`] finishes with; tests build frames directly).
    pub fn with_spills(
        spillslot_bytes: u32,
        num_spillslots: u32,
        mut clobbered_callee_saves: Vec<PReg>,
        has_calls: bool,
        request: &FrameRequest,
        shape: &FrameShape,
    ) -> CodegenResult<FrameLayout> {
        let align = shape.stack_align;
        debug_assert!(align.is_power_of_two());
        let align_up = |x: u32| {
            x.checked_add(align - 1)
                .map(|x| x & !(align - 1))
                .ok_or_else(too_large)
        };
        // Integer registers first, so that wider vector saves follow the
        // 8-byte ones.
        clobbered_callee_saves.sort_by_key(|p| (p.class() != RegClass::Int, p.hw_enc()));
        let spill_area_size = num_spillslots
            .checked_mul(spillslot_bytes)
            .ok_or_else(too_large)?;
        let csr_offset = align_up(
            request
                .outgoing_args_size
                .checked_add(spill_area_size)
                .ok_or_else(too_large)?,
        )?;
        let csr_bytes = clobbered_callee_saves
            .iter()
            .try_fold(0u32, |acc, p| {
                acc.checked_add(shape.save_bytes[p.class() as usize])
            })
            .ok_or_else(too_large)?;
        let below_slots = align_up(csr_offset.checked_add(csr_bytes).ok_or_else(too_large)?)?;
        let fixed_frame_size = below_slots
            .checked_add(request.stackslots_size)
            .ok_or_else(too_large)?;
        if fixed_frame_size > MAX_FRAME {
            return Err(too_large());
        }
        Ok(FrameLayout {
            spillslot_bytes,
            num_spillslots,
            spill_area_size,
            outgoing_args_size: request.outgoing_args_size,
            stackslots_size: request.stackslots_size,
            clobbered_callee_saves,
            csr_offset,
            save_bytes: shape.save_bytes,
            fixed_frame_size,
            setup_area_size: shape.setup_area_size,
            callee_pop: request.callee_pop,
            has_calls,
            stack_limit: request.stack_limit,
        })
    }

    /// Offset of spill slot `slot` from SP after the prologue.
    pub fn spillslot_offset(&self, slot: SpillSlot) -> u32 {
        debug_assert!((slot.index() as u32) < self.num_spillslots.max(1));
        self.outgoing_args_size + slot.index() as u32 * self.spillslot_bytes
    }

    /// Offset of the sized stack slot area from SP after the prologue.
    pub fn stackslots_offset(&self) -> u32 {
        self.fixed_frame_size - self.stackslots_size
    }

    /// Each saved callee-save register with its slot's offset from SP.
    pub fn csr_slots(&self) -> impl Iterator<Item = (PReg, u32)> + '_ {
        let mut at = self.csr_offset;
        self.clobbered_callee_saves.iter().map(move |&p| {
            let off = at;
            at += self.save_bytes[p.class() as usize];
            (p, off)
        })
    }

    /// Bytes of stack the function occupies: the setup area plus the fixed
    /// frame (callee-saves are inside the fixed frame, counted once).
    pub fn total_size(&self) -> u32 {
        self.setup_area_size + self.fixed_frame_size
    }

    /// Whether the prologue must check the stack limit: the function has
    /// one and its frame either reserves stack or calls (a leaf with an
    /// empty fixed frame adds nothing the caller did not already check).
    pub fn needs_stack_check(&self) -> bool {
        self.stack_limit.is_some() && (self.fixed_frame_size > 0 || self.has_calls)
    }
}

/// How the prologue finds the function's stack limit: a `stack_limit`
/// parameter, or the `stack_limit = gv` global value chain (`vmctx`, then
/// `load`s and `iadd_imm`s of pointer-sized values), as Cranelift does.
/// The parameters are where `sig` (the target ABI's locations of the
/// function's own signature) puts them at entry, a stack argument at
/// `FP + stack_args_at + offset`. Chains a prologue cannot compute (a symbol, a narrower load, an
/// offset beyond 32 bits, more than `StackLimit::MAX_STEPS` steps) are
/// `Unsupported`, never ignored.
pub fn stack_limit(
    f: &kiln_ir::FunctionStencil,
    sig: &SigLocs,
    stack_args_at: i32,
) -> CodegenResult<Option<StackLimit>> {
    let base_of = |i: usize| match sig.params.get(i).and_then(|p| p.first()) {
        Some(ArgLoc::Reg(r)) => Some(LimitBase::Reg(*r)),
        Some(ArgLoc::Stack(off)) => Some(LimitBase::FpOffset(stack_args_at + *off as i32)),
        None => None,
    };
    use kiln_ir::{ArgumentPurpose, GlobalValueData, Type};
    let unsupported = |what: String| CodegenError::Unsupported { what };
    let base_for = |purpose: ArgumentPurpose| -> CodegenResult<Option<LimitBase>> {
        let Some(i) = f.signature.special_param_index(purpose) else {
            return Ok(None);
        };
        if f.signature.params[i].value_type != Type::I64 {
            return Err(unsupported(format!(
                "a {} stack-limit base of type {}",
                if purpose == ArgumentPurpose::VMContext {
                    "vmctx"
                } else {
                    "stack_limit"
                },
                f.signature.params[i].value_type
            )));
        }
        Ok(base_of(i))
    };
    if let Some(base) = base_for(ArgumentPurpose::StackLimit)? {
        if f.stack_limit.is_some() {
            return Err(unsupported(
                "both a stack_limit parameter and a stack_limit global value".into(),
            ));
        }
        return Ok(Some(StackLimit::new(base)));
    }
    let Some(mut gv) = f.stack_limit else {
        return Ok(None);
    };
    // Walk from the limit down to the vmctx, then replay the steps upwards.
    let mut steps = Vec::new();
    loop {
        let Some(data) = f.global_values.get(gv) else {
            return Err(unsupported(format!("stack_limit names a missing {gv}")));
        };
        match data {
            GlobalValueData::VMContext => break,
            GlobalValueData::Load {
                base,
                offset,
                global_type,
                ..
            } if *global_type == Type::I64 => {
                steps.push(LimitStep::Load(offset.0));
                gv = *base;
            }
            GlobalValueData::IAddImm {
                base,
                offset,
                global_type,
            } if *global_type == Type::I64 => {
                let imm = i32::try_from(offset.bits()).map_err(|_| {
                    unsupported(format!("a stack_limit chain adding {}", offset.bits()))
                })?;
                steps.push(LimitStep::Add(imm));
                gv = *base;
            }
            other => {
                return Err(unsupported(format!(
                    "a stack_limit chain through {gv} ({other:?})"
                )))
            }
        }
        if steps.len() > StackLimit::MAX_STEPS {
            return Err(unsupported(format!(
                "a stack_limit chain longer than {} steps",
                StackLimit::MAX_STEPS
            )));
        }
    }
    let Some(base) = base_for(ArgumentPurpose::VMContext)? else {
        return Err(unsupported(
            "stack_limit through vmctx in a function without a vmctx parameter".into(),
        ));
    };
    let mut limit = StackLimit::new(base);
    for step in steps.into_iter().rev() {
        if !limit.push(step) {
            return Err(unsupported("a stack_limit chain that is too long".into()));
        }
    }
    Ok(Some(limit))
}

fn too_large() -> CodegenError {
    CodegenError::CodeTooLarge
}

/// Offsets of the sized stack slots from the bottom of their area, and the
/// area's size: the area is 16-byte aligned and each slot aligned to its
/// `align_shift`, at most 16 bytes (the frame pointer's alignment on every
/// target). The same layout for every backend.
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
    Ok((offs, size))
}
