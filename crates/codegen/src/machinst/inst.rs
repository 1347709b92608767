//! What the target-independent layers need of a target's machine instruction.
//!
//! # The operand contract
//!
//! A target instruction describes its registers through one method,
//! [`MachInst::get_operands`], which calls an [`OperandVisitor`] once per
//! register operand, in a fixed order, with a *mutable* reference to the
//! register. The same method serves two purposes:
//!
//! 1. **Collection** (when VCode is built): the visitor turns each call into a
//!    regalloc2 [`Operand`]. Virtual registers become operands with the given
//!    constraint, kind and position; a physical register (a pinned vreg, see
//!    [`Reg::to_real_reg`]) becomes [`Operand::fixed_nonallocatable`], which
//!    must only name registers that the `MachineEnv` does not allocate
//!    (stack pointer, frame pointer, ...).
//! 2. **Rewriting** (at emission): the visitor takes regalloc2's allocation
//!    for the operand with the same index and overwrites the register with
//!    the allocated physical register.
//!
//! Hence the rules every implementation must keep:
//! - the sequence of visitor calls depends only on the instruction's shape,
//!   never on the register values (rewriting changes the values);
//! - every register the instruction reads or writes is visited exactly once
//!   per role (a read-modify-write register is a use plus a reuse def);
//! - `Reuse(n)` constraints name the index `n` of an earlier *use* in the
//!   same visit sequence, and the def is then allocated to the same register;
//! - fixed-register constraints on defs and late uses must not also appear
//!   in [`MachInst::clobbers`].
//!
//! An operand with the `Any` or `Stack` constraint may be allocated to a spill
//! slot. A [`Reg`] cannot name a spill slot, so such an operand keeps its
//! virtual register after rewriting, and the emitter must read its
//! [`Allocation`] from the slice it is handed with the instruction.

use super::reg::{Reg, Writable};
use regalloc2::{
    Allocation, Operand, OperandConstraint, OperandKind, OperandPos, PReg, PRegSet, RegClass,
    SpillSlot, VReg,
};

/// Receives every register operand of an instruction, in order.
///
/// Implemented by the operand collector (building VCode) and by the
/// allocation rewriter (emission). Targets call the convenience methods of
/// [`OperandVisitorExt`] rather than `add_operand` directly.
pub trait OperandVisitor {
    /// One register operand: its location (to read or to overwrite), and its
    /// constraint, kind and position for regalloc2.
    fn add_operand(
        &mut self,
        reg: &mut Reg,
        constraint: OperandConstraint,
        kind: OperandKind,
        pos: OperandPos,
    );
}

/// Shorthands over [`OperandVisitor::add_operand`], one per common operand
/// shape. Available on every visitor.
pub trait OperandVisitorExt: OperandVisitor {
    /// A register read at the start of the instruction.
    fn reg_use(&mut self, reg: &mut Reg) {
        self.add_operand(
            reg,
            OperandConstraint::Reg,
            OperandKind::Use,
            OperandPos::Early,
        );
    }

    /// A register read late: its register stays reserved until the
    /// instruction's defs are written (for multi-step sequences).
    fn reg_late_use(&mut self, reg: &mut Reg) {
        self.add_operand(
            reg,
            OperandConstraint::Reg,
            OperandKind::Use,
            OperandPos::Late,
        );
    }

    /// A register written at the end of the instruction; it may share a
    /// register with an early use.
    fn reg_def(&mut self, reg: &mut Writable<Reg>) {
        self.def_operand(reg, OperandConstraint::Reg, OperandPos::Late);
    }

    /// A register written early: it never shares a register with any use
    /// (for sequences that write the output before reading all inputs).
    fn reg_early_def(&mut self, reg: &mut Writable<Reg>) {
        self.def_operand(reg, OperandConstraint::Reg, OperandPos::Early);
    }

    /// A def that must be allocated to the same register as the use with
    /// operand index `use_index` (two-address instructions).
    fn reg_reuse_def(&mut self, reg: &mut Writable<Reg>, use_index: usize) {
        self.def_operand(reg, OperandConstraint::Reuse(use_index), OperandPos::Late);
    }

    /// A use that must be in the fixed register `preg` on entry.
    fn reg_fixed_use(&mut self, reg: &mut Reg, preg: PReg) {
        debug_assert_eq!(reg.class(), preg.class());
        self.add_operand(
            reg,
            OperandConstraint::FixedReg(preg),
            OperandKind::Use,
            OperandPos::Early,
        );
    }

    /// A late use in the fixed register `preg` (for example the values a
    /// return instruction reads: they must stay there until the end).
    fn reg_fixed_late_use(&mut self, reg: &mut Reg, preg: PReg) {
        debug_assert_eq!(reg.class(), preg.class());
        self.add_operand(
            reg,
            OperandConstraint::FixedReg(preg),
            OperandKind::Use,
            OperandPos::Late,
        );
    }

    /// A def that the instruction writes into the fixed register `preg`.
    fn reg_fixed_def(&mut self, reg: &mut Writable<Reg>, preg: PReg) {
        debug_assert_eq!(reg.to_reg().class(), preg.class());
        self.def_operand(reg, OperandConstraint::FixedReg(preg), OperandPos::Late);
    }

    /// A use that may live in a register or a spill slot (see the module
    /// documentation for how the emitter learns which).
    fn any_use(&mut self, reg: &mut Reg) {
        self.add_operand(
            reg,
            OperandConstraint::Any,
            OperandKind::Use,
            OperandPos::Early,
        );
    }

    /// A def that may be written to a register or a spill slot.
    fn any_def(&mut self, reg: &mut Writable<Reg>) {
        self.def_operand(reg, OperandConstraint::Any, OperandPos::Late);
    }

    /// A def with an explicit constraint and position.
    fn def_operand(
        &mut self,
        reg: &mut Writable<Reg>,
        constraint: OperandConstraint,
        pos: OperandPos,
    ) {
        let mut r = reg.to_reg();
        self.add_operand(&mut r, constraint, OperandKind::Def, pos);
        *reg = Writable::from_reg(r);
    }
}

impl<V: OperandVisitor + ?Sized> OperandVisitorExt for V {}

/// How an instruction ends a block, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachTerminator {
    /// Not a terminator: execution continues with the next instruction.
    None,
    /// Leaves the function (the epilogue belongs before it).
    Ret,
    /// Transfers control to the block's successors (one for a jump, two for
    /// a conditional branch, any number for a jump table). Must be the last
    /// instruction of its block.
    Branch,
}

/// A target machine instruction, as VCode, register allocation and the
/// emission driver see it.
///
/// Instructions name registers with [`Reg`]: before allocation mostly
/// virtual, after rewriting all physical (except `Any`/`Stack` operands that
/// went to a spill slot, see the module documentation).
pub trait MachInst: Clone + std::fmt::Debug {
    /// Bytes in one regalloc2 spill slot (the frame reserves
    /// `num_spillslots * SPILLSLOT_BYTES`).
    const SPILLSLOT_BYTES: u32;

    /// Visits every register operand; see the module documentation for the
    /// exact contract. Must not visit registers named only by `clobbers`.
    fn get_operands(&mut self, visitor: &mut impl OperandVisitor);

    /// Registers that hold garbage after this instruction beyond its defs
    /// (the caller-saved registers of a call). Empty for most instructions.
    fn clobbers(&self) -> PRegSet {
        PRegSet::empty()
    }

    /// Whether this is a call (a non-leaf function must keep its stack
    /// aligned for the callee). Informational for the frame layout.
    fn is_call(&self) -> bool {
        false
    }

    /// Whether and how this instruction ends its block.
    fn is_term(&self) -> MachTerminator;

    /// If this is a plain register-to-register copy, its `(dst, src)`.
    fn is_move(&self) -> Option<(Writable<Reg>, Reg)>;

    /// If this is a plain unconditional jump (no operands, nothing recorded
    /// but its label use), its target. Emission leaves out such a jump at
    /// the end of a block when it targets the next block, which the
    /// buffer's branch peephole would remove anyway (see `VCode::emit`).
    fn jump_label(&self) -> Option<super::buffer::MachLabel> {
        None
    }

    /// Number of spill slots a value of `class` needs (a 16-byte vector in
    /// 8-byte slots needs 2).
    fn spillslot_size(class: RegClass) -> usize;

    /// A copy of the whole register `src` to `dst` (both of `class`). Used
    /// for register allocation's reg-to-reg edits, with physical registers.
    fn gen_move(dst: Writable<Reg>, src: Reg, class: RegClass) -> Self;

    /// A store of the whole register `src` to spill slot `slot`. The slot is
    /// an index; the emitter resolves it to a frame offset with
    /// `FrameLayout::spillslot_offset`.
    fn gen_spill(slot: SpillSlot, src: PReg) -> Self;

    /// A load of spill slot `slot` into register `dst`.
    fn gen_reload(dst: PReg, slot: SpillSlot) -> Self;
}

/// The operand visitor that builds regalloc2's operand list.
///
/// It also pre-checks each virtual operand while its parts are at hand
/// (allocated vreg of its class; a reuse constraint on a def naming an
/// earlier use of its class): when all pass, `VCodeBuilder::build` skips
/// its own operand check; `suspect` makes it run (and report) it.
pub(crate) struct OperandCollector<'a> {
    pub(crate) operands: &'a mut Vec<Operand>,
    /// Class of each allocated vreg (`vreg - PINNED_VREGS`).
    pub(crate) classes: &'a [RegClass],
    /// Where this instruction's operands start in `operands`.
    pub(crate) start: usize,
    /// Set when an operand does not pass the pre-check.
    pub(crate) suspect: &'a mut bool,
}

impl OperandCollector<'_> {
    /// The pre-check of one virtual operand (see the type's docs).
    #[inline]
    fn plausible(&self, vreg: VReg, constraint: OperandConstraint, kind: OperandKind) -> bool {
        let known = vreg
            .vreg()
            .checked_sub(super::reg::PINNED_VREGS)
            .and_then(|i| self.classes.get(i))
            .is_some_and(|&c| c == vreg.class());
        match constraint {
            OperandConstraint::Reuse(k) => {
                known
                    && kind == OperandKind::Def
                    && self.operands.get(self.start + k).is_some_and(|u| {
                        u.kind() == OperandKind::Use
                            && u.class() == vreg.class()
                            && u.as_fixed_nonallocatable().is_none()
                    })
            }
            _ => known,
        }
    }
}

impl OperandVisitor for OperandCollector<'_> {
    #[inline]
    fn add_operand(
        &mut self,
        reg: &mut Reg,
        constraint: OperandConstraint,
        kind: OperandKind,
        pos: OperandPos,
    ) {
        let op = match reg.to_virtual_reg() {
            Some(vreg) => {
                if !self.plausible(vreg, constraint, kind) {
                    *self.suspect = true;
                }
                Operand::new(super::vcode::ra_vreg(vreg), constraint, kind, pos)
            }
            None => {
                // A physical register named directly: regalloc2 must leave
                // it alone and keep it out of its own assignments.
                let preg = reg
                    .to_real_reg()
                    .unwrap_or_else(|| unreachable!("a Reg is real or virtual"));
                Operand::fixed_nonallocatable(preg)
            }
        };
        self.operands.push(op);
    }
}

/// The operand visitor that writes allocations back into an instruction.
///
/// Walks `allocs` in step with the visit order. Reports (through `error`)
/// any mismatch in the number of operands instead of panicking.
pub(crate) struct AllocRewriter<'a> {
    pub(crate) allocs: std::slice::Iter<'a, Allocation>,
    pub(crate) error: bool,
}

impl OperandVisitor for AllocRewriter<'_> {
    fn add_operand(
        &mut self,
        reg: &mut Reg,
        _constraint: OperandConstraint,
        _kind: OperandKind,
        _pos: OperandPos,
    ) {
        match self.allocs.next() {
            Some(alloc) => {
                if let Some(preg) = alloc.as_reg() {
                    *reg = Reg::from(preg);
                }
                // A stack allocation leaves the vreg in place; the emitter
                // reads the allocation itself.
            }
            None => self.error = true,
        }
    }
}
