//! The target-independent part of the ABI: the frame layout that register
//! allocation determines.
//!
//! # Frame picture (stack grows down; offsets grow up from SP)
//!
//! ```text
//!   incoming stack arguments
//!   return address            (pushed by the call, or in LR on aarch64)
//!   saved frame pointer       <- FP (the target's prologue sets this up)
//!   clobbered callee-saves    (clobbered_callee_saves, saved by the prologue)
//!   sized stack slots         stackslots_size bytes, at SP + spill_area_size
//!   spill slots               spill_area_size bytes, slot n at SP + n * slot bytes
//!                             <- SP after the prologue
//! ```
//!
//! The target's prologue/epilogue generators read this struct; the
//! emission driver passes it to every `EmitSink` call so spill and reload
//! instructions can turn slot indices into offsets.

use super::inst::MachInst;
use super::vcode::VCode;
use crate::result::{CodegenError, CodegenResult};
use regalloc2::{Edit, Function, OperandKind, Output, PReg, PRegSet, SpillSlot};

/// The frame of one function after register allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameLayout {
    /// Bytes per spill slot (`MachInst::SPILLSLOT_BYTES`).
    pub spillslot_bytes: u32,
    /// Spill slots regalloc2 used.
    pub num_spillslots: u32,
    /// `num_spillslots * spillslot_bytes`.
    pub spill_area_size: u32,
    /// Bytes of the function's sized stack slots (from lowering).
    pub stackslots_size: u32,
    /// Spill area plus stack slot area, rounded up to the stack alignment:
    /// what the prologue subtracts from SP after saving registers.
    pub fixed_frame_size: u32,
    /// Callee-saved registers the function writes, in `PReg::index` order;
    /// the prologue saves them and the epilogues restore them.
    pub clobbered_callee_saves: Vec<PReg>,
    /// Whether the function contains a call (`MachInst::is_call`).
    pub has_calls: bool,
}

impl FrameLayout {
    /// Computes the layout from the VCode and regalloc2's output.
    ///
    /// `callee_saved` is the target ABI's set of callee-saved registers (the
    /// `MachineEnv` does not say which are); a register counts as clobbered
    /// if any def operand, regalloc edit or instruction clobber set writes
    /// it. `stack_align` must be a power of two.
    pub fn compute<I: MachInst>(
        vcode: &VCode<I>,
        output: &Output,
        stackslots_size: u32,
        callee_saved: PRegSet,
        stack_align: u32,
    ) -> CodegenResult<FrameLayout> {
        debug_assert!(stack_align.is_power_of_two());
        let mut written = PRegSet::empty();
        let mut has_calls = false;
        for i in 0..vcode.num_insts() {
            let inst = regalloc2::Inst::new(i);
            let allocs = output.inst_allocs(inst);
            for (op, alloc) in vcode.inst_operands(inst).iter().zip(allocs) {
                if op.kind() == OperandKind::Def {
                    if let Some(preg) = alloc.as_reg() {
                        written.add(preg);
                    }
                }
            }
            written.union_from(vcode.inst_clobbers(inst));
            has_calls |= vcode.inst(inst).is_call();
        }
        for (_, Edit::Move { to, .. }) in &output.edits {
            if let Some(preg) = to.as_reg() {
                written.add(preg);
            }
        }
        let clobbered_callee_saves: Vec<PReg> = (written & callee_saved).into_iter().collect();

        let spillslot_bytes = I::SPILLSLOT_BYTES;
        let num_spillslots = u32::try_from(output.num_spillslots).map_err(|_| too_large())?;
        let spill_area_size = num_spillslots
            .checked_mul(spillslot_bytes)
            .ok_or_else(too_large)?;
        let unaligned = spill_area_size
            .checked_add(stackslots_size)
            .ok_or_else(too_large)?;
        let fixed_frame_size = unaligned
            .checked_add(stack_align - 1)
            .ok_or_else(too_large)?
            & !(stack_align - 1);
        Ok(FrameLayout {
            spillslot_bytes,
            num_spillslots,
            spill_area_size,
            stackslots_size,
            fixed_frame_size,
            clobbered_callee_saves,
            has_calls,
        })
    }

    /// Offset of spill slot `slot` from SP after the prologue.
    pub fn spillslot_offset(&self, slot: SpillSlot) -> u32 {
        debug_assert!((slot.index() as u32) < self.num_spillslots.max(1));
        slot.index() as u32 * self.spillslot_bytes
    }

    /// Offset of the sized stack slot area from SP after the prologue.
    pub fn stackslots_offset(&self) -> u32 {
        self.spill_area_size
    }
}

fn too_large() -> CodegenError {
    CodegenError::CodeTooLarge
}
