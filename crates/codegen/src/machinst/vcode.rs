//! VCode: a function's machine instructions over virtual registers, in
//! blocks, in the form regalloc2 consumes; and the emission driver that
//! applies regalloc2's result to it.
//!
//! # Structure
//!
//! Everything lives in flat vectors indexed by regalloc2's own newtype
//! indices ([`InsnIndex`] = `regalloc2::Inst`, [`BlockIndex`] =
//! `regalloc2::Block`), with per-entity ranges stored as prefix sums
//! ([`Ranges`]), so that the `regalloc2::Function` queries are slice borrows:
//!
//! | per instruction | per block | per CFG edge |
//! | --- | --- | --- |
//! | the instruction, its `RelSourceLoc`, its operand range | its instruction range, successors, predecessors, block params | the branch arguments |
//!
//! Call clobber sets are kept sparsely as a sorted `(InsnIndex, PRegSet)`
//! list (instructions are pushed in order, so it is sorted by construction).
//!
//! Virtual register numbers start at [`PINNED_VREGS`]: the lower indices are
//! the pinned vregs that denote physical registers and never appear in an
//! operand (the collector turns them into fixed constraints). regalloc2 sees
//! the virtual ones shifted down to start at 0 ([`ra_vreg`]): it keeps a
//! record per vreg index up to `num_vregs`, and the pinned indices would be
//! that many records no operand ever names, in every function.
//!
//! # Rules (checked by [`VCodeBuilder::build`])
//!
//! - every block is non-empty and ends with exactly one terminator, which is
//!   its last instruction; a `Ret` block has no successors, a `Branch` block
//!   at least one;
//! - branch arguments are given per successor edge (not as operands of the
//!   branch), and match the successor's block params in number and class;
//! - the entry block has no block params (function arguments are defs of an
//!   instruction in the entry block, usually with fixed-register constraints);
//! - no critical edges: a block with several successors only branches to
//!   blocks with a single predecessor (the lowering splits them);
//! - a branch with register operands (a conditional branch's condition) must
//!   not target a block with several predecessors (regalloc2 would need to put
//!   edge moves before the branch, after the operand is read) — implied by
//!   the previous rule for two-way branches;
//! - every block is reachable from the entry block;
//! - vregs are in SSA form (one def each); regalloc2 checks this when
//!   `validate_ssa` is on.

use super::abi::FrameLayout;
use super::buffer::{MachLabel, VCodeConstants};
use super::inst::{AllocRewriter, MachInst, MachTerminator, OperandCollector, OperandVisitor};
use super::lower::LowerScratch;
use super::reg::{Reg, Writable, PINNED_VREGS};
use crate::result::{CodegenError, CodegenResult};
use kiln_ir::RelSourceLoc;
use regalloc2::{
    Allocation, Edit, Function, InstPosition, InstRange, MachineEnv, Operand, OperandConstraint,
    OperandKind, OperandPos, Output, PRegSet, ProgPoint, RegClass, VReg,
};
use std::ops::Range;

/// regalloc2's number for virtual register `v` (see the module docs).
#[inline]
pub(crate) fn ra_vreg(v: VReg) -> VReg {
    VReg::new(v.vreg() - PINNED_VREGS, v.class())
}

/// The register regalloc2 calls `v` (the inverse of [`ra_vreg`]).
#[inline]
pub fn reg_of_ra_vreg(v: VReg) -> Reg {
    Reg::from(VReg::new(v.vreg() + PINNED_VREGS, v.class()))
}

/// Index of an instruction in a [`VCode`].
pub type InsnIndex = regalloc2::Inst;
/// Index of a block in a [`VCode`]; blocks are numbered in emission order.
pub type BlockIndex = regalloc2::Block;

/// A sequence of contiguous ranges `0..b1, b1..b2, ...`, stored as their
/// bounds: range `i` is `bounds[i]..bounds[i+1]`.
#[derive(Clone, Debug)]
pub struct Ranges {
    bounds: Vec<u32>,
}

impl Default for Ranges {
    fn default() -> Self {
        Ranges { bounds: vec![0] }
    }
}

impl Ranges {
    /// No ranges yet, with room for `n` before reallocating.
    pub fn with_capacity(n: usize) -> Self {
        let mut bounds = Vec::with_capacity(n + 1);
        bounds.push(0);
        Ranges { bounds }
    }

    /// Number of ranges.
    #[inline]
    pub fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    /// Whether there are no ranges.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Range `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Range<usize> {
        self.bounds[i] as usize..self.bounds[i + 1] as usize
    }

    /// Closes the next range at `end` (which must not be below the previous
    /// end).
    #[inline]
    pub(crate) fn push_end(&mut self, end: usize) {
        debug_assert!(end >= *self.bounds.last().unwrap_or(&0) as usize);
        self.bounds.push(end as u32);
    }

    pub(crate) fn clear(&mut self) {
        self.bounds.clear();
        self.bounds.push(0);
    }
}

/// A function's machine instructions over virtual registers, grouped into
/// blocks, ready for regalloc2 (it implements [`regalloc2::Function`]).
///
/// Built with a [`VCodeBuilder`]; consumed by `regalloc::run` and then by
/// [`VCode::emit`].
#[derive(Clone, Debug)]
pub struct VCode<I: MachInst> {
    insts: Vec<I>,
    srclocs: Vec<RelSourceLoc>,
    operands: Vec<Operand>,
    operand_ranges: Ranges,
    clobbers: Vec<(InsnIndex, PRegSet)>,
    /// One bit per instruction: whether it is in `clobbers`. regalloc2 asks
    /// `inst_clobbers` of every instruction and few have a set, so most
    /// answers come from this bit instead of a binary search.
    clobber_bits: Vec<u64>,

    block_ranges: Ranges,
    /// In regalloc2's numbering, as are `branch_args` and the operands.
    block_params: Vec<VReg>,
    block_param_ranges: Ranges,
    /// Successor edges, grouped by source block; edge `e` targets
    /// `succs[e]` and carries `branch_args[branch_arg_ranges.get(e)]`.
    succs: Vec<BlockIndex>,
    succ_ranges: Ranges,
    branch_args: Vec<VReg>,
    branch_arg_ranges: Ranges,
    preds: Vec<BlockIndex>,
    pred_ranges: Ranges,
    entry: BlockIndex,

    /// Class of each virtual register, indexed by `vreg - PINNED_VREGS`.
    vreg_classes: Vec<RegClass>,
    /// Set once `emit` has rewritten the instructions to physical registers.
    allocated: bool,
    /// The function's constant pool (x64 float constants read as
    /// `[rip+c]`); the pipeline registers it with the buffer before
    /// emission, which places only the used entries after the code.
    constants: VCodeConstants,
    /// Lowering's tables, parked here between functions (see
    /// [`LowerScratch`]); not part of the code.
    lower_scratch: LowerScratch<I>,
}

impl<I: MachInst> Default for VCode<I> {
    fn default() -> Self {
        VCode {
            insts: Vec::new(),
            srclocs: Vec::new(),
            operands: Vec::new(),
            operand_ranges: Ranges::default(),
            clobbers: Vec::new(),
            clobber_bits: Vec::new(),
            block_ranges: Ranges::default(),
            block_params: Vec::new(),
            block_param_ranges: Ranges::default(),
            succs: Vec::new(),
            succ_ranges: Ranges::default(),
            branch_args: Vec::new(),
            branch_arg_ranges: Ranges::default(),
            preds: Vec::new(),
            pred_ranges: Ranges::default(),
            entry: BlockIndex::new(0),
            vreg_classes: Vec::new(),
            allocated: false,
            constants: VCodeConstants::new(),
            lower_scratch: LowerScratch::default(),
        }
    }
}

impl<I: MachInst> VCode<I> {
    /// The clobber sets of every instruction that has one (calls), in
    /// instruction order: the same sets `inst_clobbers` answers one
    /// instruction at a time, without a search per instruction.
    pub fn all_clobbers(&self) -> impl Iterator<Item = PRegSet> + '_ {
        self.clobbers.iter().map(|&(_, set)| set)
    }

    /// Lowering's tables parked in this VCode (empty ones the first time).
    pub(crate) fn take_lower_scratch(&mut self) -> LowerScratch<I> {
        std::mem::take(&mut self.lower_scratch)
    }

    /// Parks lowering's tables here until the next function is lowered.
    pub(crate) fn put_lower_scratch(&mut self, scratch: LowerScratch<I>) {
        self.lower_scratch = scratch;
    }

    /// Marks instruction `i` as having a clobber set.
    fn set_clobber_bit(&mut self, i: usize) {
        let w = i / 64;
        if self.clobber_bits.len() <= w {
            self.clobber_bits.resize(w + 1, 0);
        }
        self.clobber_bits[w] |= 1 << (i % 64);
    }

    /// The function's constant pool.
    pub fn constants(&self) -> &VCodeConstants {
        &self.constants
    }

    /// Empties this VCode, keeping its buffers for the next function.
    pub fn clear(&mut self) {
        self.insts.clear();
        self.srclocs.clear();
        self.operands.clear();
        self.operand_ranges.clear();
        self.clobbers.clear();
        self.clobber_bits.clear();
        self.block_ranges.clear();
        self.block_params.clear();
        self.block_param_ranges.clear();
        self.succs.clear();
        self.succ_ranges.clear();
        self.branch_args.clear();
        self.branch_arg_ranges.clear();
        self.preds.clear();
        self.pred_ranges.clear();
        self.entry = BlockIndex::new(0);
        self.vreg_classes.clear();
        self.allocated = false;
        self.constants.clear();
    }

    /// The operands of every instruction, flat, instruction after
    /// instruction (`inst_operands` gives one instruction's share).
    pub fn all_operands(&self) -> &[Operand] {
        &self.operands
    }

    /// All instructions, in order.
    pub fn insts(&self) -> &[I] {
        &self.insts
    }

    /// One instruction.
    pub fn inst(&self, i: InsnIndex) -> &I {
        &self.insts[i.index()]
    }

    /// The source location of an instruction.
    pub fn srcloc(&self, i: InsnIndex) -> RelSourceLoc {
        self.srclocs[i.index()]
    }

    /// The entry block.
    pub fn entry(&self) -> BlockIndex {
        self.entry
    }

    /// Number of blocks.
    pub fn num_blocks(&self) -> usize {
        self.block_ranges.len()
    }

    /// The instructions of `block`.
    pub fn block_insts(&self, block: BlockIndex) -> Range<usize> {
        self.block_ranges.get(block.index())
    }

    /// The successors of `block`, in the order its branch names them.
    #[inline]
    pub fn succs(&self, block: BlockIndex) -> &[BlockIndex] {
        &self.succs[self.succ_ranges.get(block.index())]
    }

    /// The predecessors of `block` (each edge once, in source block order).
    #[inline]
    pub fn preds(&self, block: BlockIndex) -> &[BlockIndex] {
        &self.preds[self.pred_ranges.get(block.index())]
    }

    /// The parameters of `block`.
    pub fn params(&self, block: BlockIndex) -> Vec<Reg> {
        self.ra_params(block)
            .iter()
            .map(|&v| reg_of_ra_vreg(v))
            .collect()
    }

    /// The arguments `block` passes to its `succ_idx`-th successor.
    pub fn branch_args(&self, block: BlockIndex, succ_idx: usize) -> Vec<Reg> {
        self.ra_branch_args(block, succ_idx)
            .iter()
            .map(|&v| reg_of_ra_vreg(v))
            .collect()
    }

    #[inline]
    fn ra_params(&self, block: BlockIndex) -> &[VReg] {
        &self.block_params[self.block_param_ranges.get(block.index())]
    }

    #[inline]
    fn ra_branch_args(&self, block: BlockIndex, succ_idx: usize) -> &[VReg] {
        let edge = self.succ_ranges.get(block.index()).start + succ_idx;
        &self.branch_args[self.branch_arg_ranges.get(edge)]
    }

    /// The class of a virtual register (`None` for a pinned or unknown one).
    pub fn vreg_class(&self, vreg: VReg) -> Option<RegClass> {
        vreg.vreg()
            .checked_sub(PINNED_VREGS)
            .and_then(|i| self.vreg_classes.get(i).copied())
    }

    /// Number of virtual registers handed out (not counting pinned ones).
    pub fn num_virtual_regs(&self) -> usize {
        self.vreg_classes.len()
    }

    /// Walks the blocks in order and hands the allocated instruction stream
    /// to `sink`: for each instruction, regalloc2's edits before it, the
    /// instruction itself with its registers rewritten in place to the
    /// allocated physical registers, then the edits after it.
    ///
    /// Edits become [`MachInst::gen_move`] (register to register),
    /// [`MachInst::gen_spill`] and [`MachInst::gen_reload`]; a stack-to-stack
    /// move (regalloc2 documents that it never makes one) goes through the
    /// class's dedicated scratch register in `env` if there is one, and is an
    /// error otherwise. Edits whose source and destination coincide are
    /// dropped, and so are VCode instructions for which
    /// [`MachInst::is_move`] names the same register twice after rewriting.
    ///
    /// The target emits its prologue before calling this (it has `frame`),
    /// and its epilogue when the sink receives an instruction whose
    /// `is_term()` is `Ret`. Can be called once per VCode: the instructions
    /// are physical afterwards.
    pub fn emit<S: EmitSink<I>>(
        &mut self,
        output: &Output,
        env: &MachineEnv,
        frame: &FrameLayout,
        sink: &mut S,
    ) -> CodegenResult<()> {
        if self.allocated {
            return Err(CodegenError::InvalidVCode(
                "VCode emitted twice (its registers are already physical)".into(),
            ));
        }
        if output.inst_alloc_offsets.len() != self.insts.len() {
            return Err(CodegenError::Regalloc(
                "regalloc output does not match this VCode".into(),
            ));
        }
        self.allocated = true;
        let mut edits = output.edits.iter().peekable();
        for b in 0..self.num_blocks() {
            let block = BlockIndex::new(b);
            sink.begin_block(block, frame)?;
            let range = self.block_ranges.get(b);
            let next_block =
                (b + 1 < self.num_blocks()).then(|| MachLabel::from_block(b as u32 + 1));
            for i in range.clone() {
                let inst = InsnIndex::new(i);
                while let Some((_, edit)) =
                    edits.next_if(|(p, _)| *p <= ProgPoint::new(inst, InstPosition::Before))
                {
                    emit_edit::<I, S>(edit, env, frame, sink)?;
                }
                // `Output::inst_allocs`, inlined: once per instruction.
                let offsets = &output.inst_alloc_offsets;
                let end = offsets
                    .get(i + 1)
                    .map_or(output.allocs.len(), |&e| e as usize);
                let allocs = &output.allocs[offsets[i] as usize..end];
                let mut rewriter = AllocRewriter {
                    allocs: allocs.iter(),
                    error: false,
                };
                self.insts[i].get_operands(&mut rewriter);
                if rewriter.error || rewriter.allocs.next().is_some() {
                    return Err(CodegenError::Regalloc(format!(
                        "instruction {i} visits a different number of operands than it declared"
                    )));
                }
                // A copy that allocation turned into `r := r` is dropped.
                let self_move = self.insts[i]
                    .is_move()
                    .is_some_and(|(dst, src)| dst.to_reg() == src);
                // So is a block's closing jump to the block right after it
                // when the sink says its buffer would remove it (it binds
                // the next block's label right here): what the buffer's
                // peephole would do on binding that label (truncate the
                // jump, move the labels at its end to its start, continue
                // with the branches before it) is exactly the state without
                // it, and emitting and truncating it is a measurable share
                // of emission.
                let fall_through = i + 1 == range.end
                    && next_block.is_some()
                    && self.insts[i].jump_label() == next_block
                    && edits.peek().is_none_or(|(p, _)| p.inst() != inst)
                    && sink.elides_jump_to_next_block();
                let info = EmitInfo {
                    origin: EmitOrigin::Inst {
                        index: inst,
                        allocs,
                    },
                    srcloc: self.srclocs[i],
                    frame,
                };
                if !self_move && !fall_through {
                    sink.emit(&self.insts[i], info)?;
                }
                while let Some((_, edit)) =
                    edits.next_if(|(p, _)| *p == ProgPoint::new(inst, InstPosition::After))
                {
                    emit_edit::<I, S>(edit, env, frame, sink)?;
                }
            }
        }
        if edits.next().is_some() {
            return Err(CodegenError::Regalloc(
                "regalloc edit placed outside of every block".into(),
            ));
        }
        Ok(())
    }
}

impl<I: MachInst> std::fmt::Display for VCode<I> {
    /// A listing for debugging and golden tests: blocks with params, preds
    /// and successors (with branch arguments), instructions with their
    /// regalloc2 operands.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "entry block{}, {} vregs",
            self.entry.index(),
            self.vreg_classes.len()
        )?;
        for b in 0..self.num_blocks() {
            let block = BlockIndex::new(b);
            let params: Vec<String> = self
                .params(block)
                .iter()
                .map(|p| p.to_vreg().to_string())
                .collect();
            let preds: Vec<String> = self
                .preds(block)
                .iter()
                .map(|p| format!("block{}", p.index()))
                .collect();
            let succs: Vec<String> = (0..self.succs(block).len())
                .map(|k| {
                    let args: Vec<String> = self
                        .branch_args(block, k)
                        .iter()
                        .map(|a| a.to_vreg().to_string())
                        .collect();
                    format!("block{}({})", self.succs(block)[k].index(), args.join(", "))
                })
                .collect();
            writeln!(
                f,
                "block{b}({}): preds [{}] succs [{}]",
                params.join(", "),
                preds.join(", "),
                succs.join(", ")
            )?;
            for i in self.block_ranges.get(b) {
                let ops = &self.operands[self.operand_ranges.get(i)];
                writeln!(f, "  i{i}: {:?} {ops:?}", self.insts[i])?;
            }
        }
        Ok(())
    }
}

/// Turns one regalloc2 edit into target moves and hands them to `sink`.
fn emit_edit<I: MachInst, S: EmitSink<I>>(
    edit: &Edit,
    env: &MachineEnv,
    frame: &FrameLayout,
    sink: &mut S,
) -> CodegenResult<()> {
    let Edit::Move { from, to } = *edit;
    if from == to {
        return Ok(());
    }
    let info = EmitInfo {
        origin: EmitOrigin::Edit,
        srcloc: RelSourceLoc::default(),
        frame,
    };
    match (from.as_reg(), from.as_stack(), to.as_reg(), to.as_stack()) {
        (Some(src), _, Some(dst), _) => {
            let mv = I::gen_move(
                Writable::from_reg(Reg::from(dst)),
                Reg::from(src),
                src.class(),
            );
            sink.emit(&mv, info)
        }
        (Some(src), _, _, Some(slot)) => sink.emit(&I::gen_spill(slot, src), info),
        (_, Some(slot), Some(dst), _) => sink.emit(&I::gen_reload(dst, slot), info),
        (_, Some(src_slot), _, Some(dst_slot)) => {
            // regalloc2 documents that it never produces these; support them
            // through the first dedicated scratch register (integer class
            // first). The edit does not say the value's class, so this
            // copies one register's width: right for single-slot values.
            let scratch = env.scratch_by_class.iter().flatten().next().copied();
            match scratch {
                Some(tmp) => {
                    sink.emit(&I::gen_reload(tmp, src_slot), info)?;
                    sink.emit(&I::gen_spill(dst_slot, tmp), info)
                }
                None => Err(CodegenError::Regalloc(
                    "stack-to-stack move without a dedicated scratch register".into(),
                )),
            }
        }
        _ => Err(CodegenError::Regalloc(format!(
            "move between unassigned allocations {from} -> {to}"
        ))),
    }
}

/// Where an instruction handed to an [`EmitSink`] comes from.
#[derive(Clone, Copy, Debug)]
pub enum EmitOrigin<'a> {
    /// An instruction of the VCode, with its allocations (one per operand,
    /// in visit order; needed only for `Any`/`Stack` operands, which may sit
    /// in a spill slot).
    Inst {
        index: InsnIndex,
        allocs: &'a [Allocation],
    },
    /// A move, spill or reload inserted by register allocation.
    Edit,
    /// Part of the prologue or an epilogue, made by the pipeline from the
    /// frame layout.
    Frame,
}

/// What an [`EmitSink`] gets with each instruction.
#[derive(Clone, Copy, Debug)]
pub struct EmitInfo<'a> {
    /// Where the instruction comes from.
    pub origin: EmitOrigin<'a>,
    /// Its source location (the default "none" for edits).
    pub srcloc: RelSourceLoc,
    /// The function's frame, to resolve spill slots to offsets.
    pub frame: &'a FrameLayout,
}

/// The target's side of emission: receives the allocated instruction stream
/// from [`VCode::emit`].
///
/// A target implements this over its `MachBuffer` (binding a label per block
/// and encoding each instruction); tests and disassembly use
/// [`AllocatedStream`], which just records it.
pub trait EmitSink<I: MachInst> {
    /// Block `block` starts here (blocks come in index order).
    fn begin_block(&mut self, block: BlockIndex, frame: &FrameLayout) -> CodegenResult<()>;
    /// Emit `inst`, whose registers are all physical (see [`EmitOrigin`]).
    fn emit(&mut self, inst: &I, info: EmitInfo<'_>) -> CodegenResult<()>;

    /// Whether a block's closing jump to the next block may be left out:
    /// the next block starts right where the jump would be (no padding)
    /// and the sink's buffer would remove such a jump itself. A sink that
    /// records the stream as it is says no.
    fn elides_jump_to_next_block(&self) -> bool {
        false
    }
}

/// The allocated instruction stream, recorded: final instructions over
/// physical registers (edits included), with block boundaries.
#[derive(Clone, Debug)]
pub struct AllocatedStream<I> {
    /// Every instruction, in order.
    pub insts: Vec<I>,
    /// For each instruction, the VCode instruction it comes from (`None` for
    /// regalloc edits).
    pub origins: Vec<Option<InsnIndex>>,
    /// For each block, the index in `insts` of its first instruction.
    pub block_starts: Vec<usize>,
    /// The operand allocations of each instruction (empty for edits); see
    /// [`AllocatedStream::allocs`].
    allocs: Vec<Allocation>,
    alloc_ranges: Ranges,
}

impl<I> Default for AllocatedStream<I> {
    fn default() -> Self {
        AllocatedStream {
            insts: Vec::new(),
            origins: Vec::new(),
            block_starts: Vec::new(),
            allocs: Vec::new(),
            alloc_ranges: Ranges::default(),
        }
    }
}

impl<I> AllocatedStream<I> {
    /// The allocations of instruction `i`'s operands, in visit order (empty
    /// for edits). Needed for `Any`/`Stack` operands placed in spill slots.
    pub fn allocs(&self, i: usize) -> &[Allocation] {
        &self.allocs[self.alloc_ranges.get(i)]
    }
}

impl<I: MachInst> EmitSink<I> for AllocatedStream<I> {
    fn begin_block(&mut self, block: BlockIndex, _frame: &FrameLayout) -> CodegenResult<()> {
        debug_assert_eq!(block.index(), self.block_starts.len());
        self.block_starts.push(self.insts.len());
        Ok(())
    }

    fn emit(&mut self, inst: &I, info: EmitInfo<'_>) -> CodegenResult<()> {
        self.insts.push(inst.clone());
        self.origins.push(match info.origin {
            EmitOrigin::Inst { index, allocs } => {
                self.allocs.extend_from_slice(allocs);
                Some(index)
            }
            EmitOrigin::Edit | EmitOrigin::Frame => None,
        });
        self.alloc_ranges.push_end(self.allocs.len());
        Ok(())
    }
}

impl<I: MachInst> Function for VCode<I> {
    #[inline]
    fn num_insts(&self) -> usize {
        self.insts.len()
    }

    #[inline]
    fn num_blocks(&self) -> usize {
        self.block_ranges.len()
    }

    #[inline]
    fn entry_block(&self) -> BlockIndex {
        self.entry
    }

    #[inline]
    fn block_insns(&self, block: BlockIndex) -> InstRange {
        let r = self.block_ranges.get(block.index());
        InstRange::new(InsnIndex::new(r.start), InsnIndex::new(r.end))
    }

    #[inline]
    fn block_succs(&self, block: BlockIndex) -> &[BlockIndex] {
        self.succs(block)
    }

    #[inline]
    fn block_preds(&self, block: BlockIndex) -> &[BlockIndex] {
        self.preds(block)
    }

    #[inline]
    fn block_params(&self, block: BlockIndex) -> &[VReg] {
        self.ra_params(block)
    }

    #[inline]
    fn is_ret(&self, insn: InsnIndex) -> bool {
        self.insts[insn.index()].is_term() == MachTerminator::Ret
    }

    #[inline]
    fn is_branch(&self, insn: InsnIndex) -> bool {
        self.insts[insn.index()].is_term() == MachTerminator::Branch
    }

    #[inline]
    fn branch_blockparams(&self, block: BlockIndex, _insn: InsnIndex, succ_idx: usize) -> &[VReg] {
        self.ra_branch_args(block, succ_idx)
    }

    #[inline]
    fn inst_operands(&self, insn: InsnIndex) -> &[Operand] {
        &self.operands[self.operand_ranges.get(insn.index())]
    }

    #[inline]
    fn inst_clobbers(&self, insn: InsnIndex) -> PRegSet {
        let i = insn.index();
        let set = self
            .clobber_bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0);
        if !set {
            return PRegSet::empty();
        }
        match self.clobbers.binary_search_by_key(&insn, |&(i, _)| i) {
            Ok(k) => self.clobbers[k].1,
            Err(_) => PRegSet::empty(),
        }
    }

    #[inline]
    fn num_vregs(&self) -> usize {
        self.vreg_classes.len()
    }

    #[inline]
    fn spillslot_size(&self, regclass: RegClass) -> usize {
        I::spillslot_size(regclass)
    }
}

/// Builds a [`VCode`] in forward order: blocks in emission order, and within
/// each block its params, its instructions and its successor edges.
///
/// ```text
/// let b0 = builder.start_block();      // blocks are numbered 0, 1, ...
/// let v = builder.alloc_vreg(RegClass::Int)?;
/// builder.push(inst, srcloc)?;         // collects the operands
/// builder.add_succ(b1, &[v])?;         // may name a block not started yet
/// builder.end_block()?;
/// let vcode = builder.build()?;        // checks the rules, computes preds
/// ```
pub struct VCodeBuilder<I: MachInst> {
    vcode: VCode<I>,
    /// Start (instruction index) of the open block, if one is open.
    open_block: Option<usize>,
    /// `Some(n)` for a backward builder of `n` blocks.
    backward_blocks: Option<usize>,
    /// Whether an operand failed the collector's pre-check, so that
    /// `build` must check every operand itself.
    operands_suspect: bool,
}

/// The in-order lists of `data` selected by `order`: returns the
/// concatenation of `data[ranges.get(k)]` for each `k` in `order`, with its
/// ranges.
fn regroup<T: Copy>(
    data: &[T],
    ranges: &Ranges,
    order: impl Iterator<Item = usize>,
) -> (Vec<T>, Ranges) {
    let mut out = Vec::with_capacity(data.len());
    let mut out_ranges = Ranges::default();
    for k in order {
        out.extend_from_slice(&data[ranges.get(k)]);
        out_ranges.push_end(out.len());
    }
    (out, out_ranges)
}

impl<I: MachInst> Default for VCodeBuilder<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: MachInst> VCodeBuilder<I> {
    /// A builder with fresh buffers.
    pub fn new() -> Self {
        Self::reuse(VCode::default())
    }

    /// A builder that recycles the buffers of a VCode from an earlier
    /// function (after clearing it).
    pub fn reuse(mut vcode: VCode<I>) -> Self {
        vcode.clear();
        VCodeBuilder {
            vcode,
            open_block: None,
            backward_blocks: None,
            operands_suspect: false,
        }
    }

    /// A builder for a backward lowering walk over `num_blocks` blocks:
    /// blocks are started from the last (`num_blocks - 1`) to the first,
    /// and instructions are pushed from a block's terminator up to its first
    /// instruction. Block params and successor edges are given in their
    /// natural order. `build` puts everything in forward order. Recycles
    /// `vcode`'s buffers like [`VCodeBuilder::reuse`].
    pub fn backward(vcode: VCode<I>, num_blocks: usize) -> Self {
        let mut b = Self::reuse(vcode);
        b.backward_blocks = Some(num_blocks);
        b
    }

    /// The constant pool of the VCode being built (deduplicating).
    pub fn constants_mut(&mut self) -> &mut VCodeConstants {
        &mut self.vcode.constants
    }

    /// A fresh virtual register of `class`.
    #[inline]
    pub fn alloc_vreg(&mut self, class: RegClass) -> CodegenResult<Reg> {
        let index = PINNED_VREGS + self.vcode.vreg_classes.len();
        if index > VReg::MAX {
            return Err(CodegenError::CodeTooLarge);
        }
        self.vcode.vreg_classes.push(class);
        Ok(Reg::from(VReg::new(index, class)))
    }

    /// The index the next `start_block` returns (while a block is open: the
    /// open block's index). Forward: blocks count up from 0; backward: down
    /// to 0.
    pub fn next_block(&self) -> BlockIndex {
        let started = self.vcode.block_ranges.len();
        match self.backward_blocks {
            None => BlockIndex::new(started),
            Some(n) => BlockIndex::new(n.saturating_sub(started + 1)),
        }
    }

    /// Opens the next block and returns its index.
    #[inline]
    pub fn start_block(&mut self) -> CodegenResult<BlockIndex> {
        if self.open_block.is_some() {
            return Err(CodegenError::InvalidVCode(
                "start_block while a block is open".into(),
            ));
        }
        if let Some(n) = self.backward_blocks {
            if self.vcode.block_ranges.len() >= n {
                return Err(invalid(&format!("more than the {n} declared blocks")));
            }
        }
        self.open_block = Some(self.vcode.insts.len());
        Ok(self.next_block())
    }

    /// Makes `block` the entry block (the default is block 0).
    pub fn set_entry(&mut self, block: BlockIndex) {
        self.vcode.entry = block;
    }

    /// Adds a parameter to the open block; `reg` must be a virtual register.
    pub fn add_block_param(&mut self, reg: Reg) -> CodegenResult<()> {
        self.expect_open("add_block_param")?;
        let vreg = self.expect_virtual(reg)?;
        self.vcode.block_params.push(ra_vreg(vreg));
        Ok(())
    }

    /// Appends an instruction to the open block (backward: prepends it),
    /// collecting its operands (through `get_operands`) and its clobbers.
    pub fn push(&mut self, mut inst: I, srcloc: RelSourceLoc) -> CodegenResult<()> {
        self.expect_open("push")?;
        let start = self.vcode.operands.len();
        inst.get_operands(&mut OperandCollector {
            operands: &mut self.vcode.operands,
            classes: &self.vcode.vreg_classes,
            start,
            suspect: &mut self.operands_suspect,
        });
        self.close_push(inst, srcloc);
        Ok(())
    }

    /// The end of every push, once the instruction's operands are
    /// collected: its operand range, clobbers, the instruction and its
    /// source location.
    #[inline]
    fn close_push(&mut self, inst: I, srcloc: RelSourceLoc) {
        let index = InsnIndex::new(self.vcode.insts.len());
        self.vcode
            .operand_ranges
            .push_end(self.vcode.operands.len());
        let clobbers = inst.clobbers();
        if clobbers != PRegSet::empty() {
            self.vcode.clobbers.push((index, clobbers));
            self.vcode.set_clobber_bit(index.index());
        }
        self.vcode.insts.push(inst);
        self.vcode.srclocs.push(srcloc);
    }

    /// [`push`](Self::push), with each operand register first passed to
    /// `rename` (which may rewrite it) in the same visit that collects the
    /// operands: one `get_operands` walk instead of two. If `rename`
    /// returns `false` for any operand, nothing is pushed and the
    /// instruction (renamed so far) is handed back, for the caller to
    /// push another way.
    pub fn push_renamed<F>(
        &mut self,
        mut inst: I,
        srcloc: RelSourceLoc,
        rename: F,
    ) -> CodegenResult<Option<I>>
    where
        F: FnMut(&mut Reg, OperandConstraint, OperandKind) -> bool,
    {
        self.expect_open("push")?;
        let start = self.vcode.operands.len();
        let mut visitor = RenamingCollector {
            collector: OperandCollector {
                operands: &mut self.vcode.operands,
                classes: &self.vcode.vreg_classes,
                start,
                suspect: &mut self.operands_suspect,
            },
            rename,
            ok: true,
        };
        inst.get_operands(&mut visitor);
        if !visitor.ok {
            self.vcode.operands.truncate(start);
            return Ok(Some(inst));
        }
        self.close_push(inst, srcloc);
        Ok(None)
    }

    /// Adds a successor edge to the open block, passing `args` to the
    /// target's block params. Edges are numbered in the order they are
    /// added, which must be the order the terminator names its targets.
    #[inline]
    pub fn add_succ(&mut self, target: BlockIndex, args: &[Reg]) -> CodegenResult<()> {
        self.expect_open("add_succ")?;
        for &arg in args {
            let vreg = self.expect_virtual(arg)?;
            self.vcode.branch_args.push(ra_vreg(vreg));
        }
        self.vcode
            .branch_arg_ranges
            .push_end(self.vcode.branch_args.len());
        self.vcode.succs.push(target);
        Ok(())
    }

    /// Closes the open block.
    #[inline]
    pub fn end_block(&mut self) -> CodegenResult<()> {
        self.expect_open("end_block")?;
        self.open_block = None;
        let v = &mut self.vcode;
        v.block_ranges.push_end(v.insts.len());
        v.block_param_ranges.push_end(v.block_params.len());
        v.succ_ranges.push_end(v.succs.len());
        Ok(())
    }

    /// Finishes the VCode: computes predecessors and checks the rules listed
    /// in the module documentation.
    pub fn build(mut self) -> CodegenResult<VCode<I>> {
        if self.open_block.is_some() {
            return Err(invalid("build with a block still open"));
        }
        if let Some(n) = self.backward_blocks {
            if self.vcode.block_ranges.len() != n {
                return Err(invalid(&format!(
                    "{} of the {n} declared blocks were built",
                    self.vcode.block_ranges.len()
                )));
            }
            self.reverse();
        }
        let v = &mut self.vcode;
        let num_blocks = v.block_ranges.len();
        if num_blocks == 0 {
            return Err(invalid("no blocks"));
        }
        if v.entry.index() >= num_blocks {
            return Err(invalid("entry block out of range"));
        }
        if !v.ra_params(v.entry).is_empty() {
            return Err(invalid("the entry block has block params"));
        }
        if let Some(&bad) = v.succs.iter().find(|b| b.index() >= num_blocks) {
            return Err(invalid(&format!("successor {bad:?} out of range")));
        }

        // Predecessors, by counting: count per target, prefix-sum, fill.
        let mut counts = vec![0u32; num_blocks + 1];
        for s in &v.succs {
            counts[s.index() + 1] += 1;
        }
        for b in 0..num_blocks {
            counts[b + 1] += counts[b];
        }
        v.pred_ranges.clear();
        for b in 0..num_blocks {
            v.pred_ranges.push_end(counts[b + 1] as usize);
        }
        v.preds.clear();
        v.preds.resize(v.succs.len(), BlockIndex::new(0));
        let mut fill = counts;
        for b in 0..num_blocks {
            for e in v.succ_ranges.get(b) {
                let t = v.succs[e].index();
                v.preds[fill[t] as usize] = BlockIndex::new(b);
                fill[t] += 1;
            }
        }

        // regalloc2 requires every block to be reachable from the entry.
        let mut reached = vec![false; num_blocks];
        let mut stack = vec![v.entry];
        reached[v.entry.index()] = true;
        while let Some(block) = stack.pop() {
            for &succ in v.succs(block) {
                if !reached[succ.index()] {
                    reached[succ.index()] = true;
                    stack.push(succ);
                }
            }
        }
        if let Some(b) = reached.iter().position(|&r| !r) {
            return Err(invalid(&format!("block{b} is unreachable")));
        }

        for b in 0..num_blocks {
            let block = BlockIndex::new(b);
            let insts = v.block_ranges.get(b);
            if insts.is_empty() {
                return Err(invalid(&format!("{block:?} is empty")));
            }
            for i in insts.start..insts.end - 1 {
                if v.insts[i].is_term() != MachTerminator::None {
                    return Err(invalid(&format!("terminator inside {block:?}")));
                }
            }
            let nsuccs = v.succs(block).len();
            match v.insts[insts.end - 1].is_term() {
                MachTerminator::None => {
                    return Err(invalid(&format!("{block:?} does not end in a terminator")))
                }
                MachTerminator::Ret if nsuccs != 0 => {
                    return Err(invalid(&format!("{block:?} returns but has successors")))
                }
                MachTerminator::Branch if nsuccs == 0 => {
                    return Err(invalid(&format!("{block:?} branches nowhere")))
                }
                _ => {}
            }
            for (k, &succ) in v.succs(block).iter().enumerate() {
                if nsuccs > 1 && v.preds(succ).len() > 1 {
                    return Err(invalid(&format!(
                        "critical edge {block:?} -> {succ:?} is not split"
                    )));
                }
                let args = v.ra_branch_args(block, k);
                let params = v.ra_params(succ);
                if args.len() != params.len()
                    || args.iter().zip(params).any(|(a, p)| a.class() != p.class())
                {
                    return Err(invalid(&format!(
                        "branch arguments of {block:?} -> {succ:?} do not match its params"
                    )));
                }
            }
        }
        // Every vreg must have been allocated, with the class it is used at.
        let known = |vr: &VReg| {
            v.vreg_classes
                .get(vr.vreg())
                .is_some_and(|&c| c == vr.class())
        };
        if !v.block_params.iter().all(known) || !v.branch_args.iter().all(known) {
            return Err(invalid(
                "block param or branch argument is not an allocated vreg of its class",
            ));
        }
        // The collector pre-checked every operand as it was pushed; the
        // full check runs only when one did not pass (it names the first
        // bad operand).
        if self.operands_suspect {
            for i in 0..v.insts.len() {
                let ops = &v.operands[v.operand_ranges.get(i)];
                for op in ops {
                    if op.as_fixed_nonallocatable().is_some() {
                        continue;
                    }
                    if !known(&op.vreg()) {
                        return Err(invalid(&format!(
                            "instruction {i}: operand {op} names a vreg never allocated with its class"
                        )));
                    }
                    if let OperandConstraint::Reuse(k) = op.constraint() {
                        let ok = ops.get(k).is_some_and(|u| {
                            u.kind() == OperandKind::Use
                                && u.class() == op.class()
                                && u.as_fixed_nonallocatable().is_none()
                        });
                        if op.kind() != OperandKind::Def || !ok {
                            return Err(invalid(&format!(
                                "instruction {i}: reuse constraint of {op} names no use of its class"
                            )));
                        }
                    }
                }
            }
        }
        Ok(self.vcode)
    }

    /// Puts a backward-built VCode in forward order.
    fn reverse(&mut self) {
        let v = &mut self.vcode;
        let n_insts = v.insts.len();
        let n_blocks = v.block_ranges.len();
        v.insts.reverse();
        v.srclocs.reverse();
        let (operands, operand_ranges) =
            regroup(&v.operands, &v.operand_ranges, (0..n_insts).rev());
        v.operands = operands;
        v.operand_ranges = operand_ranges;
        for (i, _) in &mut v.clobbers {
            *i = InsnIndex::new(n_insts - 1 - i.index());
        }
        v.clobbers.reverse();
        v.clobber_bits.clear();
        for k in 0..v.clobbers.len() {
            let i = v.clobbers[k].0.index();
            v.set_clobber_bit(i);
        }

        let mut block_ranges = Ranges::default();
        for k in (0..n_blocks).rev() {
            block_ranges.push_end(n_insts - v.block_ranges.get(k).start);
        }
        v.block_ranges = block_ranges;
        let (params, param_ranges) =
            regroup(&v.block_params, &v.block_param_ranges, (0..n_blocks).rev());
        v.block_params = params;
        v.block_param_ranges = param_ranges;
        let edge_order: Vec<usize> = (0..n_blocks)
            .rev()
            .flat_map(|k| v.succ_ranges.get(k))
            .collect();
        let (args, arg_ranges) =
            regroup(&v.branch_args, &v.branch_arg_ranges, edge_order.into_iter());
        v.branch_args = args;
        v.branch_arg_ranges = arg_ranges;
        let (succs, succ_ranges) = regroup(&v.succs, &v.succ_ranges, (0..n_blocks).rev());
        v.succs = succs;
        v.succ_ranges = succ_ranges;
    }

    #[inline]
    fn expect_open(&self, what: &str) -> CodegenResult<()> {
        match self.open_block {
            Some(_) => Ok(()),
            None => Err(invalid(&format!("{what} outside of a block"))),
        }
    }

    #[inline]
    fn expect_virtual(&self, reg: Reg) -> CodegenResult<VReg> {
        reg.to_virtual_reg()
            .ok_or_else(|| invalid("a block param or branch argument is a physical register"))
    }
}

/// The visitor of [`VCodeBuilder::push_renamed`]: renames, then collects.
struct RenamingCollector<'a, F> {
    collector: OperandCollector<'a>,
    rename: F,
    ok: bool,
}

impl<F> OperandVisitor for RenamingCollector<'_, F>
where
    F: FnMut(&mut Reg, OperandConstraint, OperandKind) -> bool,
{
    fn add_operand(
        &mut self,
        reg: &mut Reg,
        constraint: OperandConstraint,
        kind: OperandKind,
        pos: OperandPos,
    ) {
        if !(self.rename)(reg, constraint, kind) {
            self.ok = false;
        }
        self.collector.add_operand(reg, constraint, kind, pos);
    }
}

fn invalid(msg: &str) -> CodegenError {
    CodegenError::InvalidVCode(msg.to_string())
}
