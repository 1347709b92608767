//! The lowering driver: IR (`FunctionStencil`) to VCode, target-independent.
//!
//! # Design
//!
//! * **Block order**: [`BlockLoweringOrder`] over the IR CFG (branch
//!   destinations in `branch_destinations` order) gives the VCode blocks:
//!   reachable IR blocks in reverse postorder plus one edge block per
//!   critical edge. An edge block holds a single jump that carries the edge's
//!   block arguments; the predecessor's branch passes none on that edge.
//! * **Registers**: every IR value gets its virtual register(s) up front,
//!   by type class (integers up to 64 bits and pointers: one `Int`; `i128`:
//!   two `Int`; floats and vectors: one `Float`). Instructions read operands
//!   through these registers.
//! * **Backward walk**: blocks are lowered in reverse lowering order and the
//!   instructions of each block from its terminator up. Every use of a value
//!   (an operand read through `put_in_reg`, a branch argument) is therefore
//!   seen before its definition — definitions dominate uses and precede them
//!   in reverse postorder. An instruction without side effects none of whose
//!   results was used is skipped, which also removes instructions that a
//!   user merged into itself (an `iconst` folded into an immediate, an `icmp`
//!   feeding a `brif`, an `iadd` folded into an addressing mode).
//! * **Merging loads** ("colors"): each instruction has a side-effect epoch
//!   (`color_before`): the number of side-effecting instructions before it
//!   in its block. A load may be merged into its user only if its result has
//!   a single use, it is in the same block and no side-effecting
//!   instruction lies between them (`color_before(user) == color_before(load)
//!   + 1`). The user then calls `sink_inst`, and the walk skips the load.
//! * **Results**: a rule returns the register holding each result. The
//!   driver does not copy it into the value's register: it records an alias
//!   (value vreg -> result register) and renames every operand and branch
//!   argument through the alias table when the instructions are handed to
//!   the [`VCodeBuilder`] after the walk. No moves are generated.
//! * **Errors**: rules cannot return errors, so target constructors record
//!   the first error in [`Lower::error`]; the driver reports it after the
//!   rule returns. An instruction no rule matches is
//!   `CodegenError::Unsupported { what: "opcode.type" }`.

use super::blockorder::{BlockLoweringOrder, LoweredBlock};
use super::buffer::RelocTarget;
use super::buffer::{MachLabel, VCodeConstant};
use super::inst::{MachInst, OperandVisitor};
use super::isle::InstData;
use super::reg::{Reg, Writable};
use super::vcode::{BlockIndex, VCode, VCodeBuilder};
use crate::result::{CodegenError, CodegenResult};
use kiln_ir::entity::EntityRef;
use kiln_ir::{
    BlockArg, ExternalName, FunctionStencil, Inst, InstructionData, Opcode, OpcodeFlags,
    RelSourceLoc, TestcaseName, Type, Value, ValueDef, OPCODES,
};
use regalloc2::{OperandConstraint, OperandKind, OperandPos, RegClass, VReg};
use smallvec::SmallVec;

/// The registers a rule produced for an instruction's results, flat: the
/// register parts of the first result (two for `i128`), then those of the
/// next (at most two registers in all; calls define their results
/// directly).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstOutput {
    pub regs: [Option<Reg>; 2],
}

impl InstOutput {
    pub fn none() -> Self {
        InstOutput::default()
    }
    pub fn one(r: Reg) -> Self {
        InstOutput {
            regs: [Some(r), None],
        }
    }
    pub fn two(a: Reg, b: Reg) -> Self {
        InstOutput {
            regs: [Some(a), Some(b)],
        }
    }
}

/// The registers of one IR value (two for `i128`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ValueRegs {
    pub regs: [Option<Reg>; 2],
}

impl ValueRegs {
    pub fn first(&self) -> Option<Reg> {
        self.regs[0]
    }
}

/// Lowering's per-function tables, kept between functions: a [`VCode`]
/// carries them (empty outside lowering) so that the context that recycles
/// a VCode's buffers recycles these too, instead of allocating and zeroing
/// fresh ones for every function.
#[derive(Clone, Debug)]
pub struct LowerScratch<I> {
    order: BlockLoweringOrder,
    value_regs: Vec<ValueRegs>,
    value_uses: Vec<u32>,
    value_used: Vec<bool>,
    color_before: Vec<u32>,
    inst_sunk: Vec<bool>,
    inst_pure: Vec<bool>,
    insts_rev: Vec<(I, RelSourceLoc)>,
    block_len: Vec<usize>,
    succ_arg_regs: Vec<Reg>,
    succ_arg_spans: Vec<(u32, u32)>,
    aliases: Vec<Option<Reg>>,
    labels: Vec<MachLabel>,
}

impl<I> Default for LowerScratch<I> {
    fn default() -> Self {
        LowerScratch {
            order: BlockLoweringOrder::default(),
            value_regs: Vec::new(),
            value_uses: Vec::new(),
            value_used: Vec::new(),
            color_before: Vec::new(),
            inst_sunk: Vec::new(),
            inst_pure: Vec::new(),
            insts_rev: Vec::new(),
            block_len: Vec::new(),
            succ_arg_regs: Vec::new(),
            succ_arg_spans: Vec::new(),
            aliases: Vec::new(),
            labels: Vec::new(),
        }
    }
}

/// `v` emptied, then `n` copies of `x`: the allocation is kept.
fn refill<T: Clone>(v: &mut Vec<T>, n: usize, x: T) {
    v.clear();
    v.resize(n, x);
}

/// The target side of lowering.
pub trait LowerBackend {
    type MInst: MachInst;

    /// Lowers a non-branch instruction; `None` if no rule applies.
    fn lower(&self, ctx: &mut Lower<'_, Self::MInst>, inst: Inst) -> Option<InstOutput>;

    /// Lowers a block-ending branch (`jump`, `brif`, `br_table`) to the
    /// successor labels `targets` (in `branch_destinations` order); `false`
    /// if no rule applies.
    fn lower_branch(
        &self,
        ctx: &mut Lower<'_, Self::MInst>,
        inst: Inst,
        targets: &[MachLabel],
    ) -> bool;

    /// For a `try_call` with handlers: per exception payload (`exn0`,
    /// `exn1`), the result part (result index, part index) that the ABI
    /// returns in the same register, if any; the two then share one
    /// virtual register (one is defined on return, the other on unwind).
    fn try_call_payload_shares(
        &self,
        _f: &FunctionStencil,
        _inst: Inst,
    ) -> [Option<(usize, usize)>; 2] {
        [None, None]
    }

    /// An unconditional jump (for edge blocks).
    fn gen_jump(&self, target: MachLabel) -> Self::MInst;

    /// Emits the function entry: defines the entry block's parameters (the
    /// function arguments) from their ABI locations.
    fn gen_entry(&self, ctx: &mut Lower<'_, Self::MInst>) -> CodegenResult<()>;
}

/// Whether an instruction has an effect beyond its results (so it must be
/// lowered even if unused, and it separates colors). Loads count, so that a
/// load is never moved across another memory access or trap.
pub fn has_side_effect(f: &FunctionStencil, inst: Inst) -> bool {
    let flags = OPCODES[f.dfg.insts[inst].opcode() as usize].flags;
    [
        OpcodeFlags::TERMINATOR,
        OpcodeFlags::BRANCH,
        OpcodeFlags::CALL,
        OpcodeFlags::RETURN,
        OpcodeFlags::CAN_TRAP,
        OpcodeFlags::CAN_LOAD,
        OpcodeFlags::CAN_STORE,
        OpcodeFlags::SIDE_EFFECTS,
    ]
    .iter()
    .any(|x| flags.contains(*x))
}

/// Whether an instruction must be lowered even if its results are unused:
/// every side effect except a load that cannot trap.
fn must_lower(f: &FunctionStencil, inst: Inst) -> bool {
    if let InstructionData::Load { flags, .. } = &f.dfg.insts[inst] {
        return flags.trap_code().is_some();
    }
    has_side_effect(f, inst)
}

/// The state of lowering one function.
pub struct Lower<'f, I: MachInst> {
    /// The function being lowered.
    pub f: &'f FunctionStencil,
    /// The VCode block order.
    pub order: BlockLoweringOrder,
    builder: VCodeBuilder<I>,
    /// Registers of each value (by value index).
    value_regs: Vec<ValueRegs>,
    /// Number of uses of each value (operands and branch arguments).
    value_uses: Vec<u32>,
    /// Whether a lowered instruction (or branch) has read the value.
    value_used: Vec<bool>,
    /// Side-effect epoch of each instruction within its block.
    color_before: Vec<u32>,
    /// Instructions merged into a user; skipped by the walk.
    inst_sunk: Vec<bool>,
    /// Instructions of the lowered blocks without side effects and not
    /// sunk: `def_inst`'s answer for them, known without looking at the
    /// instruction (false only means "look").
    inst_pure: Vec<bool>,
    /// The instruction being lowered.
    cur_inst: Option<Inst>,
    /// The successor labels of the block whose branch is being lowered.
    labels: Vec<MachLabel>,
    /// Where the current IR instruction's sequence starts in `insts_rev`:
    /// `emit` appends in program order, `flush_seq` reverses the sequence
    /// in place (so an instruction is moved once, not through a list of
    /// its own).
    seq_start: usize,
    /// The source location of the current sequence.
    seq_srcloc: RelSourceLoc,
    /// Every lowered instruction in reverse program order: blocks are
    /// lowered last to first and each from its end up, so this grows at
    /// the end and `build` pops the function in forward order.
    insts_rev: Vec<(I, RelSourceLoc)>,
    /// How many of `insts_rev` each VCode block has.
    block_len: Vec<usize>,
    /// Branch arguments of every edge, flat (no vector per block or edge):
    /// edge `e` (numbered as in `BlockLoweringOrder::succ_edge_base`) has
    /// `succ_arg_regs[succ_arg_spans[e].0..succ_arg_spans[e].1]`.
    succ_arg_regs: Vec<Reg>,
    succ_arg_spans: Vec<(u32, u32)>,
    /// Vreg renaming: `aliases[vreg - first]` is the register that replaces
    /// it, if any.
    aliases: Vec<Option<Reg>>,
    first_vreg: usize,
    /// Whether the function has value aliases. After the mid-end it has
    /// none, and the per-query alias walks (every operand the rules look
    /// at) are then skipped.
    ir_aliases: bool,
    /// The first error a target constructor hit (reported after the rule).
    pub error: Option<CodegenError>,
    /// Registers of the results of each `try_call` (per result, its
    /// parts), allocated on first use: block arguments `retN` read them,
    /// the target's call defines them.
    try_call_rets: Vec<(Inst, Vec<Vec<Reg>>)>,
    /// Registers of the exception payloads of each `try_call`.
    try_call_exns: Vec<(Inst, [Reg; 2])>,
    /// Test-case names referenced by relocations, by index
    /// (`RelocTarget::TestCase(i)`).
    testcase_names: Vec<TestcaseName>,
}

/// The register class of a type, and how many registers it needs.
pub fn regs_for_type(ty: Type) -> Option<(RegClass, usize)> {
    if ty == Type::I128 {
        Some((RegClass::Int, 2))
    } else if ty.is_int() && ty.is_scalar() {
        Some((RegClass::Int, 1))
    } else if ty.is_float() || ty.is_vector() {
        Some((RegClass::Float, 1))
    } else {
        None
    }
}

impl<'f, I: MachInst> Lower<'f, I> {
    /// Prepares lowering: block order, value registers, use counts, colors.
    pub fn new(f: &'f FunctionStencil, mut recycled: VCode<I>) -> CodegenResult<Self> {
        let entry = f
            .layout
            .entry_block()
            .ok_or_else(|| CodegenError::InvalidVCode("function has no entry block".to_string()))?;
        let mut scratch = recycled.take_lower_scratch();
        let num_blocks = f.dfg.num_blocks();
        let mut order = std::mem::take(&mut scratch.order);
        order.recompute(num_blocks, entry.index() as u32, |b, out| {
            let b = kiln_ir::Block::new(b as usize);
            if let Some(last) = f.layout.last_inst(b) {
                out.extend(
                    f.dfg
                        .branch_destinations(last)
                        .iter()
                        .map(|c| c.block.index() as u32),
                );
            }
        });
        let n = order.lowered_order().len();
        let mut builder = VCodeBuilder::reuse(recycled);
        let nvals = f.dfg.num_values();
        let mut value_regs = std::mem::take(&mut scratch.value_regs);
        refill(&mut value_regs, nvals, ValueRegs::default());
        let mut first_vreg = None;
        let mut ir_aliases = false;
        for (i, vr) in value_regs.iter_mut().enumerate() {
            let v = Value::new(i);
            match f.dfg.values[v] {
                kiln_ir::ValueData::Inst { .. } | kiln_ir::ValueData::Param { .. } => {}
                kiln_ir::ValueData::Alias { .. } => {
                    ir_aliases = true;
                    continue;
                }
                _ => continue,
            }
            if let Some((class, count)) = regs_for_type(f.dfg.value_type(v)) {
                for slot in vr.regs.iter_mut().take(count) {
                    let r = builder.alloc_vreg(class)?;
                    first_vreg.get_or_insert(vreg_index(r));
                    *slot = Some(r);
                }
            }
        }
        let resolve = |v: Value| {
            if ir_aliases {
                f.dfg.resolve_aliases(v)
            } else {
                v
            }
        };
        let mut value_uses = std::mem::take(&mut scratch.value_uses);
        refill(&mut value_uses, nvals, 0);
        let ninsts = f.dfg.num_insts();
        let mut color_before = std::mem::take(&mut scratch.color_before);
        refill(&mut color_before, ninsts, 0);
        let mut inst_pure = std::mem::take(&mut scratch.inst_pure);
        refill(&mut inst_pure, ninsts, false);
        for lb in order.lowered_order() {
            let LoweredBlock::Orig { block } = *lb else {
                continue;
            };
            let block = kiln_ir::Block::new(block as usize);
            let mut color = 0u32;
            for inst in f.layout.block_insts(block) {
                color_before[inst.index()] = color;
                if has_side_effect(f, inst) {
                    color += 1;
                } else {
                    inst_pure[inst.index()] = true;
                }
                for &a in f.dfg.inst_args(inst) {
                    value_uses[resolve(a).index()] += 1;
                }
                for call in f.dfg.branch_destinations(inst) {
                    for a in f.dfg.block_call_args(*call) {
                        if let BlockArg::Value(v) = a {
                            value_uses[resolve(*v).index()] += 1;
                        }
                    }
                }
            }
        }
        let first = first_vreg.unwrap_or(0);
        let mut insts_rev = std::mem::take(&mut scratch.insts_rev);
        insts_rev.clear();
        insts_rev.reserve(ninsts + n);
        let mut block_len = std::mem::take(&mut scratch.block_len);
        refill(&mut block_len, n, 0);
        let mut succ_arg_regs = std::mem::take(&mut scratch.succ_arg_regs);
        succ_arg_regs.clear();
        let mut succ_arg_spans = std::mem::take(&mut scratch.succ_arg_spans);
        refill(&mut succ_arg_spans, order.num_succ_edges(), (0, 0));
        let mut value_used = std::mem::take(&mut scratch.value_used);
        refill(&mut value_used, nvals, false);
        let mut inst_sunk = std::mem::take(&mut scratch.inst_sunk);
        refill(&mut inst_sunk, ninsts, false);
        let mut aliases = std::mem::take(&mut scratch.aliases);
        aliases.clear();
        Ok(Lower {
            f,
            insts_rev,
            block_len,
            succ_arg_regs,
            succ_arg_spans,
            order,
            builder,
            value_regs,
            value_uses,
            value_used,
            color_before,
            inst_sunk,
            inst_pure,
            cur_inst: None,
            labels: std::mem::take(&mut scratch.labels),
            seq_start: 0,
            seq_srcloc: RelSourceLoc::default(),
            aliases,
            first_vreg: first,
            ir_aliases,
            error: None,
            try_call_rets: Vec::new(),
            try_call_exns: Vec::new(),
            testcase_names: Vec::new(),
        })
    }

    /// Records the first error of a target constructor.
    pub fn set_error(&mut self, e: CodegenError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// A fresh virtual register (on overflow, records the error and returns
    /// a placeholder so the rule can finish).
    pub fn alloc_tmp(&mut self, class: RegClass) -> Reg {
        match self.builder.alloc_vreg(class) {
            Ok(r) => r,
            Err(e) => {
                self.set_error(e);
                Reg::from(VReg::new(0, class))
            }
        }
    }

    /// Appends a machine instruction to the current instruction's sequence.
    pub fn emit(&mut self, inst: I) {
        self.insts_rev.push((inst, self.seq_srcloc));
    }

    /// The instruction being lowered.
    pub fn cur_inst(&self) -> Option<Inst> {
        self.cur_inst
    }

    /// `v` with aliases resolved.
    #[inline]
    pub fn resolve_value(&self, v: Value) -> Value {
        if self.ir_aliases {
            self.f.dfg.resolve_aliases(v)
        } else {
            v
        }
    }

    /// Where `v`, a value with aliases resolved, is defined (`None` for an
    /// unused number or an alias left by a cycle).
    #[inline]
    fn resolved_value_def(&self, v: Value) -> Option<ValueDef> {
        match self.f.dfg.values.get(v)? {
            kiln_ir::ValueData::Inst { num, inst, .. } => {
                Some(ValueDef::Result(*inst, *num as usize))
            }
            kiln_ir::ValueData::Param { num, block, .. } => {
                Some(ValueDef::Param(*block, *num as usize))
            }
            _ => None,
        }
    }

    /// `inst` flattened for the rules, its value operands with aliases
    /// resolved.
    #[inline]
    pub fn inst_data(&self, inst: Inst) -> InstData {
        let d = &self.f.dfg.insts[inst];
        if self.ir_aliases {
            InstData::from_ir(d, &self.f.dfg)
        } else {
            InstData::from_ir_with(d, |v| v)
        }
    }

    /// The registers of a value, marking it used.
    pub fn put_value_in_regs(&mut self, v: Value) -> ValueRegs {
        let v = self.resolve_value(v);
        self.value_used[v.index()] = true;
        self.value_regs[v.index()]
    }

    /// The (first) register of a value, marking it used. A value without a
    /// register (an unsupported type) records an error.
    pub fn put_in_reg(&mut self, v: Value) -> Reg {
        match self.put_value_in_regs(v).first() {
            Some(r) => r,
            None => {
                let ty = self.f.dfg.value_type(v);
                self.set_error(CodegenError::Unsupported {
                    what: format!("values of type {ty}"),
                });
                Reg::from(VReg::new(0, RegClass::Int))
            }
        }
    }

    /// The second register of a two-register value (the high half of an
    /// `i128`), marking it used; records an error for other values.
    pub fn put_in_reg_hi(&mut self, v: Value) -> Reg {
        match self.put_value_in_regs(v).regs[1] {
            Some(r) => r,
            None => {
                let ty = self.f.dfg.value_type(v);
                self.set_error(CodegenError::Unsupported {
                    what: format!("high half of a {ty} value"),
                });
                self.alloc_tmp(RegClass::Int)
            }
        }
    }

    /// Records that no rule lowers `inst` (the rules' `unsupported` term).
    pub fn unsupported_inst(&mut self, inst: Inst) {
        let op = self.f.dfg.opcode(inst);
        self.set_error(CodegenError::Unsupported {
            what: format!("{op:?}"),
        });
    }

    /// The registers of a value without marking it used (for defining it).
    pub fn value_regs(&self, v: Value) -> ValueRegs {
        self.value_regs[self.resolve_value(v).index()]
    }

    /// The type of a value.
    pub fn value_type(&self, v: Value) -> Type {
        self.f.dfg.value_type(v)
    }

    /// The instruction defining `v`, if a user may look through it: a
    /// pure instruction, or a load that can be merged into the current
    /// instruction (single use, same block, no side effect in between).
    #[inline]
    pub fn def_inst(&self, v: Value) -> Option<Inst> {
        // The rules ask this of most operands they look at; the common
        // answer (a pure instruction) is inlined into them, the others
        // are not.
        let v = self.resolve_value(v);
        if let Some(kiln_ir::ValueData::Inst { inst, .. }) = self.f.dfg.values.get(v) {
            if self.inst_pure[inst.index()] {
                return Some(*inst);
            }
        }
        self.def_inst_slow(v)
    }

    /// [`def_inst`](Self::def_inst) for `v` (aliases resolved) without the
    /// table of pure instructions.
    #[inline(never)]
    fn def_inst_slow(&self, v: Value) -> Option<Inst> {
        let ValueDef::Result(inst, _) = self.resolved_value_def(v)? else {
            return None;
        };
        if self.inst_sunk[inst.index()] {
            return None;
        }
        if !has_side_effect(self.f, inst) {
            return Some(inst);
        }
        let cur = self.cur_inst?;
        let is_load = matches!(self.f.dfg.insts[inst], InstructionData::Load { .. })
            && OPCODES[self.f.dfg.opcode(inst) as usize]
                .flags
                .contains(OpcodeFlags::CAN_LOAD);
        let same_block = self.f.layout.inst_block(inst) == self.f.layout.inst_block(cur);
        // A load whose register a later instruction already asked for (a
        // rule that looked through its one user, e.g. an address `(a + ld)
        // + 16` folded into an access) must stay a load of its own: merged
        // here it would never define that register.
        (is_load
            && same_block
            && self.value_uses[v.index()] == 1
            && !self.value_used[v.index()]
            && self.color_before[cur.index()] == self.color_before[inst.index()] + 1)
            .then_some(inst)
    }

    /// The instruction defining `v` as `def_inst` gives it, when `v` has
    /// exactly one use (the current instruction's) and no register was
    /// asked for it: a rule may then absorb that instruction entirely,
    /// and the driver skips it since its value is never used.
    pub fn single_use_def(&self, v: Value) -> Option<Inst> {
        let r = self.resolve_value(v);
        if self.value_uses[r.index()] != 1 || self.value_used[r.index()] {
            return None;
        }
        self.def_inst(r)
    }

    /// How many instructions of the function use `v` (each use counted).
    pub fn value_use_count(&self, v: Value) -> u32 {
        let r = self.resolve_value(v);
        self.value_uses[r.index()]
    }

    /// Adds `bytes` (aligned to `align`) to the function's constant pool;
    /// identical constants share one entry.
    pub fn add_constant(&mut self, bytes: &[u8], align: u32) -> VCodeConstant {
        self.builder.constants_mut().insert(bytes, align)
    }

    /// Marks an instruction as merged into the current one.
    pub fn sink_inst(&mut self, inst: Inst) {
        self.inst_sunk[inst.index()] = true;
        self.inst_pure[inst.index()] = false;
    }

    /// The constant of an `iconst` defining `v`, zero-extended from its type.
    pub fn iconst_value(&self, v: Value) -> Option<u64> {
        let v = self.resolve_value(v);
        let ValueDef::Result(inst, _) = self.resolved_value_def(v)? else {
            return None;
        };
        match self.f.dfg.insts[inst] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some(imm.zero_extend_from(self.f.dfg.value_type(v).bits())),
            _ => None,
        }
    }

    /// Runs the backward walk over all blocks and builds the VCode;
    /// returns it with the test-case names its relocations refer to.
    pub fn lower<B: LowerBackend<MInst = I>>(
        mut self,
        backend: &B,
    ) -> CodegenResult<(VCode<I>, Vec<TestcaseName>)> {
        let n = self.order.lowered_order().len();
        for b in (0..n).rev() {
            self.lower_block(backend, b)?;
        }
        let names = std::mem::take(&mut self.testcase_names);
        Ok((self.build()?, names))
    }

    /// The relocation target for `name`; test-case names are interned
    /// (each distinct name once, by index).
    pub fn reloc_target(&mut self, name: &ExternalName) -> RelocTarget {
        match name {
            ExternalName::User(r) => RelocTarget::User(*r),
            ExternalName::TestCase(t) => {
                let i = match self.testcase_names.iter().position(|n| n == t) {
                    Some(i) => i,
                    None => {
                        self.testcase_names.push(t.clone());
                        self.testcase_names.len() - 1
                    }
                };
                RelocTarget::TestCase(i as u32)
            }
            ExternalName::LibCall(l) => RelocTarget::LibCall(*l),
            ExternalName::KnownSymbol(k) => RelocTarget::KnownSymbol(*k),
        }
    }

    fn take_error(&mut self) -> CodegenResult<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Opens the sequence of the instruction about to be lowered, whose
    /// machine instructions get `srcloc`.
    fn start_seq(&mut self, srcloc: RelSourceLoc) {
        self.seq_start = self.insts_rev.len();
        self.seq_srcloc = srcloc;
    }

    /// Closes the current sequence: reversed, like everything before it.
    fn flush_seq(&mut self) {
        self.insts_rev[self.seq_start..].reverse();
    }

    /// Branch arguments of destination `k` of `branch`, marking them used.
    fn branch_args<B: LowerBackend<MInst = I>>(
        &mut self,
        backend: &B,
        branch: Inst,
        k: usize,
    ) -> CodegenResult<(u32, u32)> {
        // `f` outlives `self`'s borrows: the arguments are read in place.
        let f = self.f;
        let call = f.dfg.branch_destinations(branch)[k];
        let start = self.succ_arg_regs.len() as u32;
        for &a in f.dfg.block_call_args(call) {
            match a {
                BlockArg::Value(v) => {
                    let regs = self.put_value_in_regs(v);
                    if regs.first().is_none() {
                        return Err(CodegenError::Unsupported {
                            what: format!("block argument of type {}", self.f.dfg.value_type(v)),
                        });
                    }
                    self.succ_arg_regs
                        .extend(regs.regs.iter().flatten().copied());
                }
                BlockArg::TryCallRet(i) => {
                    let rets = self.try_call_ret_regs(branch)?;
                    let regs = rets.get(i as usize).ok_or_else(|| {
                        CodegenError::InvalidVCode("try_call result out of range".to_string())
                    })?;
                    self.succ_arg_regs.extend(regs.iter().copied());
                }
                BlockArg::TryCallExn(i) => {
                    let shares = backend.try_call_payload_shares(self.f, branch);
                    let exn = self.try_call_exn_regs(branch, shares)?;
                    let r = exn.get(i as usize).copied().ok_or_else(|| {
                        CodegenError::InvalidVCode("try_call payload out of range".to_string())
                    })?;
                    self.succ_arg_regs.push(r);
                }
            }
        }
        Ok((start, self.succ_arg_regs.len() as u32))
    }

    /// The registers of the exception payloads (`exn0`, `exn1`) of
    /// `try_call` instruction `inst`, allocated on first use; the backend
    /// defines them in its payload registers at the call. Payload `k`
    /// reuses result part `shares[k]` (see
    /// [`LowerBackend::try_call_payload_shares`]) when that is `Some`.
    pub fn try_call_exn_regs(
        &mut self,
        inst: Inst,
        shares: [Option<(usize, usize)>; 2],
    ) -> CodegenResult<[Reg; 2]> {
        if let Some((_, r)) = self.try_call_exns.iter().find(|(i, _)| *i == inst) {
            return Ok(*r);
        }
        let rets = self.try_call_ret_regs(inst)?;
        let mut pick = |share: Option<(usize, usize)>| -> CodegenResult<Reg> {
            match share {
                Some((i, j)) => rets.get(i).and_then(|p| p.get(j)).copied().ok_or_else(|| {
                    CodegenError::InvalidVCode("try_call payload share out of range".to_string())
                }),
                None => self.builder.alloc_vreg(RegClass::Int),
            }
        };
        let r = [pick(shares[0])?, pick(shares[1])?];
        self.try_call_exns.push((inst, r));
        Ok(r)
    }

    /// The registers of the results of `try_call` instruction `inst` (one
    /// list of parts per result of its signature), allocated on first use.
    pub fn try_call_ret_regs(&mut self, inst: Inst) -> CodegenResult<Vec<Vec<Reg>>> {
        if let Some((_, r)) = self.try_call_rets.iter().find(|(i, _)| *i == inst) {
            return Ok(r.clone());
        }
        let f = self.f;
        let sig = f.dfg.try_call_signature(inst).ok_or_else(|| {
            CodegenError::InvalidVCode("try_call without a signature".to_string())
        })?;
        let mut rets = Vec::with_capacity(sig.returns.len());
        for r in &sig.returns {
            let (class, n) =
                regs_for_type(r.value_type).ok_or_else(|| CodegenError::Unsupported {
                    what: format!("try_call result of type {}", r.value_type),
                })?;
            let mut parts = Vec::with_capacity(n);
            for _ in 0..n {
                parts.push(self.builder.alloc_vreg(class)?);
            }
            rets.push(parts);
        }
        self.try_call_rets.push((inst, rets.clone()));
        Ok(rets)
    }

    fn unsupported(&self, inst: Inst) -> CodegenError {
        let op = self.f.dfg.opcode(inst);
        let name = OPCODES[op as usize].name;
        let ty = self.f.dfg.ctrl_typevar(inst);
        let what = if ty.is_invalid() {
            name.to_string()
        } else {
            format!("{name}.{ty}")
        };
        CodegenError::Unsupported { what }
    }

    fn lower_block<B: LowerBackend<MInst = I>>(
        &mut self,
        backend: &B,
        b: usize,
    ) -> CodegenResult<()> {
        let start = self.insts_rev.len();
        let vb = BlockIndex::new(b);
        let label_of = |s: BlockIndex| MachLabel::from_block(s.index() as u32);
        match self.order.lowered_order()[b] {
            LoweredBlock::CriticalEdge { pred, succ_idx, .. } => {
                let pred = kiln_ir::Block::new(pred as usize);
                let branch = self.f.layout.last_inst(pred).ok_or_else(|| {
                    CodegenError::InvalidVCode("edge from an empty block".to_string())
                })?;
                let span = self.branch_args(backend, branch, succ_idx as usize)?;
                let edge = self.order.succ_edge_base(vb);
                self.succ_arg_spans[edge] = span;
                let target = label_of(self.order.succ_indices(vb)[0]);
                self.insts_rev
                    .push((backend.gen_jump(target), RelSourceLoc::default()));
            }
            LoweredBlock::Orig { block } => {
                let block = kiln_ir::Block::new(block as usize);
                let f = self.f;
                // The walk goes from the last instruction up; a branch
                // terminator is lowered first, through `lower_branch`, and
                // the walk starts above it.
                let mut next = f.layout.last_inst(block);
                if let Some(last) = next {
                    let op = self.f.dfg.opcode(last);
                    if matches!(
                        op,
                        Opcode::Jump
                            | Opcode::Brif
                            | Opcode::BrTable
                            | Opcode::TryCall
                            | Opcode::TryCallIndirect
                    ) {
                        next = f.layout.prev_inst(last);
                        let base = self.order.succ_edge_base(vb);
                        // The labels outlive the borrows of `self` below:
                        // a list kept across blocks, taken out meanwhile.
                        let mut labels = std::mem::take(&mut self.labels);
                        labels.clear();
                        let nsuccs = self.order.succ_indices(vb).len();
                        for k in 0..nsuccs {
                            let s = self.order.succ_indices(vb)[k];
                            labels.push(label_of(s));
                            let is_edge = matches!(
                                self.order.lowered_order()[s.index()],
                                LoweredBlock::CriticalEdge { .. }
                            );
                            // An edge block carries the arguments itself.
                            if !is_edge {
                                let span = self.branch_args(backend, last, k)?;
                                self.succ_arg_spans[base + k] = if self.forward_args(last, k, span)
                                {
                                    (span.0, span.0)
                                } else {
                                    span
                                };
                            }
                        }
                        self.cur_inst = Some(last);
                        self.start_seq(self.f.rel_srcloc(last));
                        let ok = backend.lower_branch(self, last, &labels);
                        self.labels = labels;
                        self.take_error()?;
                        if !ok {
                            return Err(self.unsupported(last));
                        }
                        self.flush_seq();
                    }
                }
                while let Some(inst) = next {
                    next = f.layout.prev_inst(inst);
                    if self.inst_sunk[inst.index()] {
                        continue;
                    }
                    let results = f.dfg.inst_results(inst);
                    let used = results.iter().any(|r| self.value_used[r.index()]);
                    if !used && !must_lower(self.f, inst) {
                        continue;
                    }
                    self.cur_inst = Some(inst);
                    self.start_seq(self.f.rel_srcloc(inst));
                    let out = backend.lower(self, inst);
                    self.take_error()?;
                    let Some(out) = out else {
                        return Err(self.unsupported(inst));
                    };
                    // The output registers are flat: the parts of result
                    // 0 (two for i128), then those of result 1.
                    let mut k = 0;
                    for r in results {
                        for vreg in self.value_regs[r.index()].regs.into_iter().flatten() {
                            if let Some(out_reg) = out.regs.get(k).copied().flatten() {
                                if out_reg != vreg {
                                    self.set_alias(vreg, out_reg);
                                }
                            }
                            k += 1;
                        }
                    }
                    self.flush_seq();
                }
                if self.f.layout.entry_block() == Some(block) {
                    self.cur_inst = None;
                    self.start_seq(RelSourceLoc::default());
                    backend.gen_entry(self)?;
                    self.take_error()?;
                    self.flush_seq();
                }
                self.cur_inst = None;
            }
        }
        self.block_len[b] = self.insts_rev.len() - start;
        Ok(())
    }

    /// Renames the parameters of the `k`-th target of `branch` to the
    /// registers of its arguments (`span` of `succ_arg_regs`) when that
    /// edge is the target's only way in: the parameters then always hold
    /// those values, and as block parameters they would only give the
    /// register allocator a live range, a move and a merge each to undo.
    /// Returns whether it did; [`Lower::build`] then gives the target no
    /// parameters (a parameter's register has no alias otherwise).
    fn forward_args(&mut self, branch: Inst, k: usize, span: (u32, u32)) -> bool {
        let f = self.f;
        let call = f.dfg.branch_destinations(branch)[k];
        let target = call.block;
        // A `try_call`'s results are defined by the branch itself; those
        // edges keep their parameters.
        if span.0 == span.1
            || !self.order.has_single_pred(target.index() as u32)
            || !f
                .dfg
                .block_call_args(call)
                .iter()
                .all(|a| matches!(a, BlockArg::Value(_)))
        {
            return false;
        }
        let params = f.dfg.block_params(target);
        let nregs: usize = params
            .iter()
            .map(|p| self.value_regs[p.index()].regs.iter().flatten().count())
            .sum();
        if nregs != (span.1 - span.0) as usize {
            return false;
        }
        let mut i = span.0 as usize;
        for &p in params {
            for r in self.value_regs[p.index()].regs.into_iter().flatten() {
                let arg = self.succ_arg_regs[i];
                i += 1;
                self.set_alias(r, arg);
            }
        }
        true
    }

    /// Whether `r` has been renamed.
    fn is_aliased(&self, r: Reg) -> bool {
        vreg_index(r)
            .checked_sub(self.first_vreg)
            .and_then(|i| self.aliases.get(i))
            .is_some_and(Option::is_some)
    }

    fn set_alias(&mut self, from: Reg, to: Reg) {
        let i = vreg_index(from) - self.first_vreg;
        if self.aliases.len() <= i {
            self.aliases.resize(i + 1, None);
        }
        self.aliases[i] = Some(to);
    }

    fn resolve(&self, r: Reg) -> Reg {
        resolve_alias(&self.aliases, self.first_vreg, r)
    }

    fn build(mut self) -> CodegenResult<VCode<I>> {
        let entry = self
            .order
            .lowered_index_for_block(self.f.layout.entry_block().map_or(0, |b| b.index() as u32));
        let mut insts_rev = std::mem::take(&mut self.insts_rev);
        let block_len = std::mem::take(&mut self.block_len);
        let mut args: Vec<Reg> = Vec::new();
        for (b, &len) in block_len.iter().enumerate() {
            let vb = self.builder.start_block()?;
            if Some(vb) == entry {
                self.builder.set_entry(vb);
            }
            if let LoweredBlock::Orig { block } = self.order.lowered_order()[b] {
                let block = kiln_ir::Block::new(block as usize);
                if self.f.layout.entry_block() != Some(block) {
                    for &p in self.f.dfg.block_params(block) {
                        for r in self.value_regs[p.index()].regs.iter().flatten() {
                            // Renamed by `forward_args`: its edge passes
                            // no arguments.
                            if !self.is_aliased(*r) {
                                self.builder.add_block_param(*r)?;
                            }
                        }
                    }
                }
            }
            for _ in 0..len {
                let Some((inst, loc)) = insts_rev.pop() else {
                    return Err(CodegenError::InvalidVCode(
                        "lowered instruction count mismatch".into(),
                    ));
                };
                // Renamed and collected in one visit; an instruction that
                // uses one register in two different fixed registers comes
                // back and takes the path below.
                let (aliases, first) = (&self.aliases, self.first_vreg);
                let mut fixed_uses: SmallVec<[(Reg, regalloc2::PReg); 4]> = SmallVec::new();
                let back = self
                    .builder
                    .push_renamed(inst, loc, |reg, constraint, kind| {
                        *reg = resolve_alias(aliases, first, *reg);
                        if let (OperandKind::Use, OperandConstraint::FixedReg(p)) =
                            (kind, constraint)
                        {
                            if reg.is_virtual() {
                                if fixed_uses.iter().any(|&(r, q)| r == *reg && q != p) {
                                    return false;
                                }
                                fixed_uses.push((*reg, p));
                            }
                        }
                        true
                    })?;
                let Some(mut inst) = back else {
                    continue;
                };
                let mut renamer = Renamer {
                    lower: &self,
                    index: 0,
                    fixed_uses: Vec::new(),
                    dups: Vec::new(),
                };
                inst.get_operands(&mut renamer);
                let dups = renamer.dups;
                if !dups.is_empty() {
                    // After renaming, one vreg may be used in two different
                    // fixed registers by one instruction (two returned
                    // values that became the same register): regalloc2
                    // needs a copy for each extra use.
                    let mut fixes = Vec::with_capacity(dups.len());
                    for (i, reg) in dups {
                        let copy = self.builder.alloc_vreg(reg.class())?;
                        self.builder
                            .push(I::gen_move(Writable::from_reg(copy), reg, reg.class()), loc)?;
                        fixes.push((i, copy));
                    }
                    inst.get_operands(&mut Patcher { fixes, index: 0 });
                }
                self.builder.push(inst, loc)?;
            }
            let vb = BlockIndex::new(b);
            let base = self.order.succ_edge_base(vb);
            for (k, &s) in self.order.succ_indices(vb).iter().enumerate() {
                let (start, end) = self.succ_arg_spans[base + k];
                args.clear();
                args.extend(
                    self.succ_arg_regs[start as usize..end as usize]
                        .iter()
                        .map(|&r| resolve_alias(&self.aliases, self.first_vreg, r)),
                );
                self.builder.add_succ(s, &args)?;
            }
            self.builder.end_block()?;
        }
        let mut vcode = self.builder.build()?;
        vcode.put_lower_scratch(LowerScratch {
            order: self.order,
            value_regs: self.value_regs,
            value_uses: self.value_uses,
            value_used: self.value_used,
            color_before: self.color_before,
            inst_sunk: self.inst_sunk,
            inst_pure: self.inst_pure,
            insts_rev,
            block_len,
            succ_arg_regs: self.succ_arg_regs,
            succ_arg_spans: self.succ_arg_spans,
            aliases: self.aliases,
            labels: self.labels,
        });
        Ok(vcode)
    }
}

/// The register `r` is renamed to through `aliases` (indexed from vreg
/// `first`).
fn resolve_alias(aliases: &[Option<Reg>], first: usize, mut r: Reg) -> Reg {
    // Alias chains are acyclic (an alias always points at a register
    // defined earlier in the program); bound the walk anyway.
    for _ in 0..aliases.len() + 1 {
        if !r.is_virtual() {
            return r;
        }
        let idx = vreg_index(r);
        match idx
            .checked_sub(first)
            .and_then(|i| aliases.get(i))
            .copied()
            .flatten()
        {
            Some(to) => r = to,
            None => return r,
        }
    }
    r
}

fn vreg_index(r: Reg) -> usize {
    r.to_virtual_reg().map_or(0, |v| v.vreg())
}

/// Renames operands through the alias table before an instruction enters
/// the VCode, and finds uses of one register in two different fixed
/// registers.
struct Renamer<'a, 'f, I: MachInst> {
    lower: &'a Lower<'f, I>,
    index: usize,
    fixed_uses: Vec<(Reg, regalloc2::PReg)>,
    /// (operand index, register) of uses that need a copy.
    dups: Vec<(usize, Reg)>,
}

impl<I: MachInst> OperandVisitor for Renamer<'_, '_, I> {
    fn add_operand(
        &mut self,
        reg: &mut Reg,
        constraint: OperandConstraint,
        kind: OperandKind,
        _pos: OperandPos,
    ) {
        *reg = self.lower.resolve(*reg);
        if let (OperandKind::Use, OperandConstraint::FixedReg(p)) = (kind, constraint) {
            if reg.is_virtual() {
                if self.fixed_uses.iter().any(|&(r, q)| r == *reg && q != p) {
                    self.dups.push((self.index, *reg));
                } else {
                    self.fixed_uses.push((*reg, p));
                }
            }
        }
        self.index += 1;
    }
}

/// Replaces the operands at given indices.
struct Patcher {
    fixes: Vec<(usize, Reg)>,
    index: usize,
}

impl OperandVisitor for Patcher {
    fn add_operand(
        &mut self,
        reg: &mut Reg,
        _constraint: OperandConstraint,
        _kind: OperandKind,
        _pos: OperandPos,
    ) {
        if let Some(&(_, r)) = self.fixes.iter().find(|(i, _)| *i == self.index) {
            *reg = r;
        }
        self.index += 1;
    }
}
