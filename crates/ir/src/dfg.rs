//! The data-flow graph: instructions, values, blocks and their parameters,
//! and the tables instructions refer to (signatures, external functions,
//! constants, jump tables, exception tables).

use crate::entities::*;
use crate::entity::{PrimaryMap, SecondaryMap};
use crate::function::{AliasRegionData, DynamicTypeData, ExtFuncData, Signature};
use crate::immediates::ConstantData;
use crate::instructions::*;
use crate::types::Type;

/// Where a value comes from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ValueDef {
    /// The `num`-th result of an instruction.
    Result(Inst, usize),
    /// The `num`-th parameter of a block.
    Param(Block, usize),
}

/// The definition of a value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ValueData {
    Inst {
        ty: Type,
        num: u16,
        inst: Inst,
    },
    Param {
        ty: Type,
        num: u16,
        block: Block,
    },
    /// Another name for `original` (text form `v5 -> v3`).
    Alias {
        ty: Type,
        original: Value,
    },
    /// A number reserved by the reader but never defined.
    Unused,
}

/// Per-block data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct BlockData {
    pub params: ValueList,
    /// Marked `cold`: laid out after the hot code.
    pub cold: bool,
}

#[derive(Clone, Debug, Default)]
pub struct DataFlowGraph {
    pub insts: PrimaryMap<Inst, InstructionData>,
    results: SecondaryMap<Inst, ValueList>,
    pub blocks: PrimaryMap<Block, BlockData>,
    pub values: PrimaryMap<Value, ValueData>,
    pub value_lists: ValueListPool,
    pub block_args: BlockArgPool,
    pub signatures: PrimaryMap<SigRef, Signature>,
    pub ext_funcs: PrimaryMap<FuncRef, ExtFuncData>,
    pub constants: PrimaryMap<Constant, ConstantData>,
    pub immediates: PrimaryMap<Immediate, ConstantData>,
    pub jump_tables: PrimaryMap<JumpTable, JumpTableData>,
    pub exception_tables: PrimaryMap<ExceptionTable, ExceptionTableData>,
    pub dynamic_types: PrimaryMap<DynamicType, DynamicTypeData>,
    pub alias_regions: PrimaryMap<AliasRegion, AliasRegionData>,
}

impl DataFlowGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy whose instruction, value and list storage has room to grow
    /// by about half before reallocating (for passes that rewrite a copy).
    pub fn clone_with_headroom(&self) -> Self {
        let mut copy = Self::default();
        self.copy_into_with_headroom(&mut copy);
        copy
    }

    /// Makes `dst` what [`DataFlowGraph::clone_with_headroom`] returns,
    /// reusing `dst`'s storage for the instruction, value and list tables.
    /// Every field is named, so a new field cannot be forgotten here.
    pub fn copy_into_with_headroom(&self, dst: &mut Self) {
        let DataFlowGraph {
            insts,
            results,
            blocks,
            values,
            value_lists,
            block_args,
            signatures,
            ext_funcs,
            constants,
            immediates,
            jump_tables,
            exception_tables,
            dynamic_types,
            alias_regions,
        } = self;
        let half = |n: usize| n / 2 + 8;
        insts.copy_into_with_headroom(&mut dst.insts, half(insts.len()));
        results.copy_into_with_headroom(&mut dst.results, half(insts.len()));
        blocks.copy_into_with_headroom(&mut dst.blocks, half(blocks.len()));
        values.copy_into_with_headroom(&mut dst.values, half(values.len()));
        value_lists.copy_into_with_headroom(&mut dst.value_lists, half(values.len()));
        block_args.copy_into_with_headroom(&mut dst.block_args, half(blocks.len()));
        dst.signatures.clone_from(signatures);
        dst.ext_funcs.clone_from(ext_funcs);
        dst.constants.clone_from(constants);
        dst.immediates.clone_from(immediates);
        dst.jump_tables.clone_from(jump_tables);
        dst.exception_tables.clone_from(exception_tables);
        dst.dynamic_types.clone_from(dynamic_types);
        dst.alias_regions.clone_from(alias_regions);
    }

    // ----- Blocks -----

    pub fn make_block(&mut self) -> Block {
        self.blocks.push(BlockData::default())
    }

    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    pub fn block_is_valid(&self, block: Block) -> bool {
        self.blocks.is_valid(block)
    }

    pub fn block_params(&self, block: Block) -> &[Value] {
        self.value_lists.get(self.blocks[block].params)
    }

    /// Adds a new parameter of type `ty` to `block`.
    pub fn append_block_param(&mut self, block: Block, ty: Type) -> Value {
        let v = self.values.push(ValueData::Unused);
        self.attach_block_param(block, v, ty);
        v
    }

    /// Makes an existing (reserved) value the next parameter of `block`.
    pub fn attach_block_param(&mut self, block: Block, v: Value, ty: Type) {
        let num = self.block_params(block).len();
        self.values[v] = ValueData::Param {
            ty,
            num: num as u16,
            block,
        };
        let mut params: smallvec::SmallVec<[Value; 8]> = self.block_params(block).into();
        params.push(v);
        self.blocks[block].params = self.value_lists.alloc(&params);
    }

    // ----- Values -----

    pub fn num_values(&self) -> usize {
        self.values.len()
    }

    pub fn value_is_valid(&self, v: Value) -> bool {
        self.values.is_valid(v)
    }

    /// Reserves value numbers up to and including `v` (used by the reader to
    /// keep the text's numbering).
    pub fn reserve_value(&mut self, v: Value) {
        while self.values.len() <= v.as_u32() as usize {
            self.values.push(ValueData::Unused);
        }
    }

    // `#[inline]` on the small accessors below: the mid-end and lowering
    // call them per operand from other crates, which cannot inline a
    // non-generic function without it.

    /// The type of a value (through aliases).
    #[inline]
    pub fn value_type(&self, v: Value) -> Type {
        match self.values[v] {
            ValueData::Inst { ty, .. }
            | ValueData::Param { ty, .. }
            | ValueData::Alias { ty, .. } => ty,
            ValueData::Unused => Type::INVALID,
        }
    }

    /// Follows aliases to the value that is actually defined. Bounded by the
    /// number of values, so a cycle of aliases cannot hang.
    #[inline]
    pub fn resolve_aliases(&self, mut v: Value) -> Value {
        for _ in 0..=self.values.len() {
            match self.values.get(v) {
                Some(ValueData::Alias { original, .. }) => v = *original,
                _ => return v,
            }
        }
        v
    }

    /// Where a value is defined, after resolving aliases; `None` for an
    /// unused reserved number or an alias cycle.
    #[inline]
    pub fn value_def(&self, v: Value) -> Option<ValueDef> {
        match self.values.get(self.resolve_aliases(v))? {
            ValueData::Inst { num, inst, .. } => Some(ValueDef::Result(*inst, *num as usize)),
            ValueData::Param { num, block, .. } => Some(ValueDef::Param(*block, *num as usize)),
            ValueData::Alias { .. } | ValueData::Unused => None,
        }
    }

    /// Makes `alias` another name for `original`.
    pub fn make_value_alias(&mut self, alias: Value, original: Value) {
        self.reserve_value(alias);
        // An alias records its type, so one step is enough (O(1) per alias).
        let ty = if self.values.is_valid(original) {
            self.value_type(original)
        } else {
            Type::INVALID
        };
        self.values[alias] = ValueData::Alias { ty, original };
    }

    /// Rewrites every use of an alias in instructions and branch arguments
    /// to the value it stands for.
    pub fn resolve_all_aliases(&mut self) {
        let has_alias = self
            .values
            .values()
            .any(|d| matches!(d, ValueData::Alias { .. }));
        if !has_alias {
            return;
        }
        for inst in self.insts.keys() {
            let mut data = self.insts[inst];
            let mut pool = std::mem::take(&mut self.value_lists);
            for a in data.arguments_mut(&mut pool) {
                *a = self.resolve_aliases_in(*a);
            }
            self.value_lists = pool;
            self.insts[inst] = data;
        }
        for i in 0..self.block_args_len() {
            if let BlockArg::Value(v) = self.block_args.raw()[i] {
                let r = self.resolve_aliases_in(v);
                self.block_args.raw_mut()[i] = BlockArg::Value(r);
            }
        }
    }

    fn resolve_aliases_in(&self, v: Value) -> Value {
        if self.values.is_valid(v) {
            self.resolve_aliases(v)
        } else {
            v
        }
    }

    fn block_args_len(&self) -> usize {
        self.block_args.raw().len()
    }

    // ----- Instructions -----

    pub fn num_insts(&self) -> usize {
        self.insts.len()
    }

    pub fn inst_is_valid(&self, inst: Inst) -> bool {
        self.insts.is_valid(inst)
    }

    /// Creates an instruction without results; call `make_inst_results`.
    pub fn make_inst(&mut self, data: InstructionData) -> Inst {
        self.insts.push(data)
    }

    #[inline]
    pub fn inst_results(&self, inst: Inst) -> &[Value] {
        self.value_lists.get(*self.results.get(inst))
    }

    /// The results of `inst`; `None` if its result list does not lie in the
    /// value-list pool. Never panics, even for an out-of-range `inst`.
    pub fn try_inst_results(&self, inst: Inst) -> Option<&[Value]> {
        self.value_lists.try_get(*self.results.get(inst))
    }

    /// The parameters of `block`; `None` if `block` is out of range or its
    /// list does not lie in the pool. Never panics.
    pub fn try_block_params(&self, block: Block) -> Option<&[Value]> {
        self.value_lists.try_get(self.blocks.get(block)?.params)
    }

    #[inline]
    pub fn first_result(&self, inst: Inst) -> Option<Value> {
        self.inst_results(inst).first().copied()
    }

    /// How many results `inst` has: `inst_results(inst).len()` without a
    /// look into the value-list pool.
    #[inline]
    pub fn num_results(&self, inst: Inst) -> usize {
        self.results.get(inst).len()
    }

    #[inline]
    pub fn has_results(&self, inst: Inst) -> bool {
        !self.results.get(inst).is_empty()
    }

    pub fn opcode(&self, inst: Inst) -> Opcode {
        self.insts[inst].opcode()
    }

    #[inline]
    pub fn inst_args(&self, inst: Inst) -> &[Value] {
        self.insts[inst].arguments(&self.value_lists)
    }

    /// The fixed value operands (without call arguments or return values).
    pub fn inst_fixed_args(&self, inst: Inst) -> &[Value] {
        let n = self.opcode(inst).format().fixed_value_operands();
        let args = self.inst_args(inst);
        &args[..n.min(args.len())]
    }

    /// The variable value operands (call arguments, returned values).
    pub fn inst_variable_args(&self, inst: Inst) -> &[Value] {
        let n = self.opcode(inst).format().fixed_value_operands();
        let args = self.inst_args(inst);
        &args[n.min(args.len())..]
    }

    /// The signature a call instruction uses, if it is a call.
    pub fn call_signature(&self, inst: Inst) -> Option<SigRef> {
        match self.insts[inst] {
            InstructionData::Call { func_ref, .. } => {
                self.ext_funcs.get(func_ref).map(|f| f.signature)
            }
            InstructionData::CallIndirect { sig_ref, .. } => Some(sig_ref),
            InstructionData::TryCall { exception, .. }
            | InstructionData::TryCallIndirect { exception, .. } => {
                self.exception_tables.get(exception).map(|t| t.sig)
            }
            _ => None,
        }
    }

    /// The controlling type of an instruction: read from its type-variable
    /// operand, else from its first result; `INVALID` if not polymorphic.
    pub fn ctrl_typevar(&self, inst: Inst) -> Type {
        let info = self.opcode(inst).info();
        if info.ctrl.is_none() {
            return Type::INVALID;
        }
        if let Some(tv) = info.typevar_operand {
            if let Some(&v) = self.inst_args(inst).get(tv as usize) {
                if self.values.is_valid(v) {
                    return self.value_type(v);
                }
            }
            return Type::INVALID;
        }
        match self.first_result(inst) {
            Some(r) => self.value_type(r),
            None => Type::INVALID,
        }
    }

    /// The result types of `inst` given its controlling type; `None` if a
    /// constraint cannot be satisfied (e.g. `isplit.i8`).
    pub fn result_types(&self, inst: Inst, ctrl: Type) -> Option<smallvec::SmallVec<[Type; 4]>> {
        let op = self.opcode(inst);
        if op.is_call() && !op.is_return() {
            if op.is_branch() {
                // try_call results flow through `retN` block arguments.
                return Some(Default::default());
            }
            let sig = self.call_signature(inst)?;
            let sig = self.signatures.get(sig)?;
            return Some(sig.returns.iter().map(|p| p.value_type).collect());
        }
        op.info()
            .results
            .iter()
            .map(|c| resolve_constraint(*c, ctrl))
            .collect()
    }

    /// Creates the result values of `inst` for controlling type `ctrl`.
    /// Returns the number of results, or `None` if the types cannot be made.
    pub fn make_inst_results(&mut self, inst: Inst, ctrl: Type) -> Option<usize> {
        let types = self.result_types(inst, ctrl)?;
        let mut vals: smallvec::SmallVec<[Value; 4]> = Default::default();
        for (num, ty) in types.iter().enumerate() {
            vals.push(self.values.push(ValueData::Inst {
                ty: *ty,
                num: num as u16,
                inst,
            }));
        }
        *self.results.get_mut(inst) = self.value_lists.alloc(&vals);
        Some(types.len())
    }

    /// Attaches reserved values as the results of `inst`, with the given
    /// types (the reader uses this to keep the text's value numbers).
    pub fn attach_inst_results(&mut self, inst: Inst, results: &[(Value, Type)]) {
        let mut vals: smallvec::SmallVec<[Value; 4]> = Default::default();
        for (num, &(v, ty)) in results.iter().enumerate() {
            self.reserve_value(v);
            self.values[v] = ValueData::Inst {
                ty,
                num: num as u16,
                inst,
            };
            vals.push(v);
        }
        *self.results.get_mut(inst) = self.value_lists.alloc(&vals);
    }

    /// Makes a block call.
    pub fn block_call(&mut self, block: Block, args: &[BlockArg]) -> BlockCall {
        BlockCall {
            block,
            args: self.block_args.alloc(args),
        }
    }

    /// Makes a block call passing only values.
    pub fn block_call_values(&mut self, block: Block, args: &[Value]) -> BlockCall {
        let args: smallvec::SmallVec<[BlockArg; 8]> =
            args.iter().map(|v| BlockArg::Value(*v)).collect();
        self.block_call(block, &args)
    }

    #[inline]
    pub fn block_call_args(&self, call: BlockCall) -> &[BlockArg] {
        self.block_args.get(call.args)
    }

    /// The destinations of a terminator (empty for other instructions).
    #[inline]
    pub fn branch_destinations(&self, inst: Inst) -> &[BlockCall] {
        match &self.insts[inst] {
            InstructionData::Jump { destination, .. } => std::slice::from_ref(destination),
            InstructionData::Brif { blocks, .. } => blocks,
            InstructionData::BranchTable { table, .. } => self
                .jump_tables
                .get(*table)
                .map_or(&[][..], |t| &t.entries[..]),
            InstructionData::TryCall { exception, .. }
            | InstructionData::TryCallIndirect { exception, .. } => self
                .exception_tables
                .get(*exception)
                .map_or(&[][..], |t| &t.targets[..]),
            _ => &[],
        }
    }

    /// The signature of a `try_call`/`try_call_indirect`'s exception
    /// table (what its normal-return block arguments follow); `None` for
    /// other instructions or a table or signature out of range.
    pub fn try_call_signature(&self, inst: Inst) -> Option<&Signature> {
        match self.insts.get(inst)? {
            InstructionData::TryCall { exception, .. }
            | InstructionData::TryCallIndirect { exception, .. } => self
                .exception_tables
                .get(*exception)
                .and_then(|t| self.signatures.get(t.sig)),
            _ => None,
        }
    }

    /// Appends a value list to the pool.
    pub fn make_value_list(&mut self, values: &[Value]) -> ValueList {
        self.value_lists.alloc(values)
    }

    pub fn value_list(&self, list: ValueList) -> &[Value] {
        self.value_lists.get(list)
    }
}

/// The type a constraint denotes for a given controlling type.
pub fn resolve_constraint(c: Constraint, ctrl: Type) -> Option<Type> {
    match c {
        Constraint::Same => (!ctrl.is_invalid()).then_some(ctrl),
        Constraint::Fixed(t) => Some(t),
        Constraint::Truthy => (!ctrl.is_invalid()).then(|| ctrl.as_truthy()),
        Constraint::HalfWidth => ctrl.half_width(),
        Constraint::DoubleWidth => ctrl.double_width(),
        Constraint::Lane => (!ctrl.is_invalid()).then(|| ctrl.lane_type()),
        Constraint::NarrowLanes => ctrl.half_width()?.double_vector(),
        Constraint::WidenLanes => ctrl.double_width()?.half_vector(),
        Constraint::FixedOfDynamic => ctrl.is_dynamic_vector().then(|| ctrl.dynamic_to_fixed()),
        // Free and width-relative constraints name no single type.
        Constraint::Free(_)
        | Constraint::NarrowerInt
        | Constraint::WiderInt
        | Constraint::OtherFloat => None,
    }
}

impl BlockArgPool {
    pub(crate) fn raw(&self) -> &[BlockArg] {
        self.as_slice()
    }
    pub(crate) fn raw_mut(&mut self) -> &mut [BlockArg] {
        self.as_mut_slice()
    }
}
