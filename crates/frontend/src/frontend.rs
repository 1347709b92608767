//! `FunctionBuilder`: blocks, variables, declarations and the instruction
//! checks shared by every `InstBuilder` method.

use crate::error::BuildError;
use crate::inst_builder::InstBuilder;
use crate::ssa::SsaBuilder;
use crate::Variable;
use kiln_ir::dfg::resolve_constraint;
use kiln_ir::{
    AbiParam, Block, Constraint, ExtFuncData, ExternalName, FuncRef, Function, GlobalValue,
    GlobalValueData, Inst, InstructionData, Opcode, PrimaryMap, SecondaryMap, SigRef, Signature,
    SourceLoc, StackSlot, StackSlotData, Type, UserExternalName, Value, ValueData,
};
use smallvec::SmallVec;

/// Reusable buffers of the builder: keep one per thread and pass it to every
/// `FunctionBuilder::new` to avoid reallocating them for each function.
#[derive(Default, Debug)]
pub struct FunctionBuilderContext {
    ssa: SsaBuilder,
    blocks: SecondaryMap<Block, BlockState>,
    types: PrimaryMap<Variable, Type>,
}

impl FunctionBuilderContext {
    /// An empty context (reused across functions to keep its allocations).
    pub fn new() -> Self {
        Self::default()
    }

    fn clear(&mut self) {
        self.ssa.clear();
        self.blocks.clear();
        self.types.clear();
    }
}

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct BlockState {
    /// Created through this builder (or found in the function).
    known: bool,
    /// Has at least one instruction.
    started: bool,
    /// Ends in a terminator.
    filled: bool,
    /// Target of a branch, or switched to: must be filled and sealed.
    used: bool,
}

/// Builds one function. Created over a `&mut Function`; `finalize` checks
/// that the result is complete.
pub struct FunctionBuilder<'a> {
    /// The function being built. Direct edits are allowed but bypass the
    /// builder's bookkeeping.
    pub func: &'a mut Function,
    ctx: &'a mut FunctionBuilderContext,
    position: Option<Block>,
    srcloc: SourceLoc,
    pointer_type: Type,
}

impl<'a> FunctionBuilder<'a> {
    /// Starts building into `func` (usually empty but for its signature).
    pub fn new(func: &'a mut Function, ctx: &'a mut FunctionBuilderContext) -> Self {
        ctx.clear();
        // Blocks already in the function are known; ones with a terminator
        // count as filled.
        for block in func.stencil.dfg.blocks.keys() {
            let last = func.stencil.layout.last_inst(block);
            let filled = last.is_some_and(|i| func.stencil.dfg.opcode(i).is_terminator());
            ctx.blocks[block] = BlockState {
                known: true,
                started: last.is_some(),
                filled,
                used: false,
            };
        }
        FunctionBuilder {
            func,
            ctx,
            position: None,
            srcloc: SourceLoc::default(),
            pointer_type: Type::I64,
        }
    }

    /// The integer type of addresses (`stack_addr` in `stack_load`); `i64`
    /// unless set.
    pub fn pointer_type(&self) -> Type {
        self.pointer_type
    }

    /// Sets the pointer type (the type of `stack_load`/`stack_store` addresses).
    pub fn set_pointer_type(&mut self, ty: Type) {
        self.pointer_type = ty;
    }

    // ----- Blocks -----

    /// Creates a block (not yet in the layout).
    pub fn create_block(&mut self) -> Block {
        let block = self.func.stencil.dfg.make_block();
        self.ctx.blocks[block].known = true;
        block
    }

    fn check_block(&self, block: Block) -> Result<(), BuildError> {
        if self.func.stencil.dfg.block_is_valid(block) {
            Ok(())
        } else {
            Err(BuildError::InvalidEntity(block.to_string()))
        }
    }

    /// Makes `block` the current block; instructions are appended to it. The
    /// previous current block must be empty or filled.
    pub fn switch_to_block(&mut self, block: Block) -> Result<(), BuildError> {
        self.check_block(block)?;
        if let Some(cur) = self.position {
            let st = self.ctx.blocks[cur];
            if cur != block && st.started && !st.filled {
                return Err(BuildError::BlockNotFilled(cur));
            }
        }
        if self.ctx.blocks[block].filled {
            return Err(BuildError::BlockFilled(block));
        }
        if !self.func.stencil.layout.is_block_inserted(block) {
            self.func.stencil.layout.append_block(block);
        }
        self.ctx.blocks[block].used = true;
        self.position = Some(block);
        Ok(())
    }

    /// The block instructions are appended to.
    pub fn current_block(&self) -> Option<Block> {
        self.position
    }

    /// Declares that every predecessor of `block` is known: no branch to it
    /// may be added later. Completes its variable lookups.
    pub fn seal_block(&mut self, block: Block) -> Result<(), BuildError> {
        self.check_block(block)?;
        let types = &self.ctx.types;
        self.ctx.ssa.seal_block(self.func, block, |v| {
            types.get(v).copied().unwrap_or_default()
        });
        Ok(())
    }

    /// Seals every block created so far. Convenient when the whole control
    /// flow is built before sealing, at some cost in extra parameters being
    /// created and removed.
    pub fn seal_all_blocks(&mut self) {
        let types = &self.ctx.types;
        for block in self.func.stencil.dfg.blocks.keys() {
            self.ctx.ssa.seal_block(self.func, block, |v| {
                types.get(v).copied().unwrap_or_default()
            });
        }
    }

    /// Whether `block` has been sealed (all its predecessors are known).
    pub fn is_sealed(&self, block: Block) -> bool {
        self.ctx.ssa.is_sealed(block)
    }

    /// Whether `block` ends in a terminator.
    pub fn is_filled(&self, block: Block) -> bool {
        self.ctx.blocks[block].filled
    }

    /// The blocks that branch to `block`, with their branch instructions.
    pub fn predecessors(&self, block: Block) -> Vec<(Block, Inst)> {
        self.ctx.ssa.predecessors(block).collect()
    }

    /// Adds a parameter of type `ty` to `block`, which must have no
    /// instructions yet.
    pub fn append_block_param(&mut self, block: Block, ty: Type) -> Result<Value, BuildError> {
        self.check_block(block)?;
        if self.ctx.blocks[block].started {
            return Err(BuildError::BlockParamAfterInsts(block));
        }
        check_value_type(ty)?;
        Ok(self.func.stencil.dfg.append_block_param(block, ty))
    }

    /// Adds one parameter per function parameter to `block` (the entry).
    pub fn append_block_params_for_function_params(
        &mut self,
        block: Block,
    ) -> Result<(), BuildError> {
        let tys: SmallVec<[Type; 8]> = self
            .func
            .stencil
            .signature
            .params
            .iter()
            .map(|p| p.value_type)
            .collect();
        for ty in tys {
            self.append_block_param(block, ty)?;
        }
        Ok(())
    }

    /// Adds one parameter per function return value to `block`.
    pub fn append_block_params_for_function_returns(
        &mut self,
        block: Block,
    ) -> Result<(), BuildError> {
        let tys: SmallVec<[Type; 8]> = self
            .func
            .stencil
            .signature
            .returns
            .iter()
            .map(|p| p.value_type)
            .collect();
        for ty in tys {
            self.append_block_param(block, ty)?;
        }
        Ok(())
    }

    /// The parameters of `block`, including ones SSA construction added.
    pub fn block_params(&self, block: Block) -> &[Value] {
        if self.func.stencil.dfg.block_is_valid(block) {
            self.func.stencil.dfg.block_params(block)
        } else {
            &[]
        }
    }

    // ----- Variables -----

    /// Declares a fresh variable of type `ty`.
    pub fn declare_var(&mut self, ty: Type) -> Result<Variable, BuildError> {
        check_value_type(ty)?;
        Ok(self.ctx.types.push(ty))
    }

    fn var_type(&self, var: Variable) -> Result<Type, BuildError> {
        self.ctx
            .types
            .get(var)
            .copied()
            .ok_or(BuildError::UndeclaredVariable(var))
    }

    /// Assigns `val` to `var` at the current position.
    pub fn def_var(&mut self, var: Variable, val: Value) -> Result<(), BuildError> {
        let expected = self.var_type(var)?;
        self.check_value(val)?;
        let found = self.func.stencil.dfg.value_type(val);
        if found != expected {
            return Err(BuildError::VariableType {
                var,
                expected,
                found,
            });
        }
        let block = self.position.ok_or(BuildError::NoCurrentBlock)?;
        if self.ctx.blocks[block].filled {
            // The block's value at its end was already passed on.
            return Err(BuildError::BlockFilled(block));
        }
        self.ctx.ssa.def_var(var, val, block);
        Ok(())
    }

    /// The value `var` holds at the current position. A variable used before
    /// any definition reads as zero.
    pub fn use_var(&mut self, var: Variable) -> Result<Value, BuildError> {
        let ty = self.var_type(var)?;
        let block = self.position.ok_or(BuildError::NoCurrentBlock)?;
        let v = self.ctx.ssa.use_var(self.func, var, ty, block);
        Ok(v)
    }

    // ----- Declarations -----

    /// Adds a signature for calls (`call_indirect`, imported functions).
    pub fn import_signature(&mut self, sig: Signature) -> SigRef {
        self.func.stencil.import_signature(sig)
    }

    /// Declares an external function named by a user name (`u1:3`); the name
    /// goes to the parameters' name table, the stencil keeps only its index.
    pub fn import_function(
        &mut self,
        name: UserExternalName,
        signature: SigRef,
        colocated: bool,
    ) -> Result<FuncRef, BuildError> {
        self.check_sig(signature)?;
        let r = self.func.declare_imported_user_function(name);
        Ok(self.func.stencil.import_function(ExtFuncData {
            name: ExternalName::User(r),
            signature,
            colocated,
            patchable: false,
        }))
    }

    /// Declares an external function with any kind of name.
    pub fn import_function_data(&mut self, data: ExtFuncData) -> Result<FuncRef, BuildError> {
        self.check_sig(data.signature)?;
        Ok(self.func.stencil.import_function(data))
    }

    fn check_sig(&self, sig: SigRef) -> Result<(), BuildError> {
        if self.func.stencil.dfg.signatures.is_valid(sig) {
            Ok(())
        } else {
            Err(BuildError::InvalidEntity(sig.to_string()))
        }
    }

    /// Adds a stack slot.
    pub fn create_sized_stack_slot(&mut self, data: StackSlotData) -> StackSlot {
        self.func.stencil.create_sized_stack_slot(data)
    }

    /// Adds a global value (`symbol`, `vmctx`, loads from them, ...).
    pub fn create_global_value(&mut self, data: GlobalValueData) -> GlobalValue {
        self.func.stencil.create_global_value(data)
    }

    /// Sets the source location of the instructions built from now on.
    pub fn set_srcloc(&mut self, loc: SourceLoc) {
        self.srcloc = loc;
    }

    /// The source location given to instructions built from now on.
    pub fn srcloc(&self) -> SourceLoc {
        self.srcloc
    }

    // ----- Instructions -----

    /// The instruction builder for the current block.
    pub fn ins<'short>(&'short mut self) -> InstBuilder<'short, 'a> {
        InstBuilder::new(self)
    }

    /// The results of an instruction.
    pub fn inst_results(&self, inst: Inst) -> &[Value] {
        if self.func.stencil.dfg.inst_is_valid(inst) {
            self.func.stencil.dfg.inst_results(inst)
        } else {
            &[]
        }
    }

    pub(crate) fn check_value(&self, v: Value) -> Result<(), BuildError> {
        match self.func.stencil.dfg.values.get(v) {
            Some(ValueData::Unused) | None => Err(BuildError::InvalidValue(v)),
            Some(_) => Ok(()),
        }
    }

    /// Checks `data`, creates it with its results and appends it to the
    /// current block. `explicit` is the controlling type of an opcode that
    /// cannot read it from an operand. Nothing is added on error.
    pub fn build(
        &mut self,
        data: InstructionData,
        explicit: Option<Type>,
    ) -> Result<Inst, BuildError> {
        let block = self.position.ok_or(BuildError::NoCurrentBlock)?;
        if self.ctx.blocks[block].filled {
            return Err(BuildError::BlockFilled(block));
        }
        let opcode = data.opcode();
        let info = opcode.info();
        self.check_entities(&data)?;
        let dfg = &self.func.stencil.dfg;
        let args: SmallVec<[Value; 8]> = data.arguments(&dfg.value_lists).into();
        for &v in &args {
            self.check_value(v)?;
        }
        let n_fixed = opcode.format().fixed_value_operands();
        if args.len() < n_fixed {
            return Err(BuildError::ArgumentCount {
                opcode,
                expected: n_fixed,
                found: args.len(),
            });
        }
        // The controlling type.
        let ctrl = match info.ctrl {
            None => Type::INVALID,
            Some(set) => {
                let ty = match (info.typevar_operand, explicit) {
                    (Some(i), _) => dfg.value_type(args[i as usize]),
                    (None, Some(t)) => t,
                    (None, None) => return Err(BuildError::MissingControllingType(opcode)),
                };
                if !set.contains(ty) {
                    return Err(BuildError::BadControllingType { opcode, ty });
                }
                ty
            }
        };
        for (index, (&c, &v)) in info.args.iter().zip(&args[..n_fixed]).enumerate() {
            let found = dfg.value_type(v);
            if !constraint_holds(c, ctrl, found) {
                return Err(BuildError::OperandType {
                    opcode,
                    index,
                    found,
                });
            }
        }
        let is_call = opcode.is_call();
        if !is_call {
            for &c in info.results {
                if resolve_constraint(c, ctrl).is_none() {
                    return Err(BuildError::BadControllingType { opcode, ty: ctrl });
                }
            }
        }
        // Variable arguments against the signature they must match.
        let expected: Option<&[AbiParam]> = if opcode == Opcode::Return {
            Some(&self.func.stencil.signature.returns)
        } else if is_call {
            match data {
                InstructionData::Call { func_ref, .. } => {
                    let sig = dfg.ext_funcs[func_ref].signature;
                    Some(&dfg.signatures[sig].params)
                }
                InstructionData::CallIndirect { sig_ref, .. } => {
                    Some(&dfg.signatures[sig_ref].params)
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some(params) = expected {
            let var = &args[n_fixed..];
            if var.len() != params.len() {
                return Err(BuildError::ArgumentCount {
                    opcode,
                    expected: params.len(),
                    found: var.len(),
                });
            }
            for (i, (p, &v)) in params.iter().zip(var).enumerate() {
                let found = dfg.value_type(v);
                if found != p.value_type {
                    return Err(BuildError::OperandType {
                        opcode,
                        index: n_fixed + i,
                        found,
                    });
                }
            }
        }
        // Branch targets must still accept predecessors.
        let mut dests: SmallVec<[Block; 4]> = SmallVec::new();
        if opcode.is_branch() {
            dests = branch_calls(dfg, &data);
            dests.sort_unstable();
            dests.dedup();
            for &to in &dests {
                if self.ctx.ssa.is_sealed(to) {
                    return Err(BuildError::BranchToSealedBlock { from: block, to });
                }
            }
        }

        let dfg = &mut self.func.stencil.dfg;
        let inst = dfg.make_inst(data);
        dfg.make_inst_results(inst, ctrl);
        self.func.stencil.layout.append_inst(inst, block);
        if !self.srcloc.is_default() {
            self.func.set_srcloc(inst, self.srcloc);
        }
        let st = &mut self.ctx.blocks[block];
        st.started = true;
        if opcode.is_terminator() {
            st.filled = true;
        }
        for to in dests {
            self.ctx.ssa.declare_predecessor(to, block, inst);
            self.ctx.blocks[to].used = true;
        }
        Ok(inst)
    }

    fn check_entities(&self, data: &InstructionData) -> Result<(), BuildError> {
        let f = &self.func.stencil;
        let dfg = &f.dfg;
        let ok = match *data {
            InstructionData::Jump { destination, .. } => {
                dfg.block_is_valid(destination.block) && self.check_block_args(destination)
            }
            InstructionData::Brif { blocks, .. } => blocks
                .iter()
                .all(|c| dfg.block_is_valid(c.block) && self.check_block_args(*c)),
            InstructionData::BranchTable { table, .. } => {
                dfg.jump_tables.get(table).is_some_and(|t| {
                    t.entries
                        .iter()
                        .all(|c| dfg.block_is_valid(c.block) && self.check_block_args(*c))
                })
            }
            InstructionData::Call { func_ref, .. } | InstructionData::FuncAddr { func_ref, .. } => {
                dfg.ext_funcs
                    .get(func_ref)
                    .is_some_and(|e| dfg.signatures.is_valid(e.signature))
            }
            InstructionData::CallIndirect { sig_ref, .. } => dfg.signatures.is_valid(sig_ref),
            InstructionData::StackLoad { stack_slot, .. } => {
                f.sized_stack_slots.is_valid(stack_slot)
            }
            InstructionData::DynamicStackLoad {
                dynamic_stack_slot, ..
            } => f.dynamic_stack_slots.is_valid(dynamic_stack_slot),
            InstructionData::UnaryGlobalValue { global_value, .. } => {
                f.global_values.is_valid(global_value)
            }
            InstructionData::UnaryConst { constant, .. } => dfg.constants.is_valid(constant),
            InstructionData::Shuffle { imm, .. } => dfg.immediates.is_valid(imm),
            InstructionData::TryCall { .. }
            | InstructionData::TryCallIndirect { .. }
            | InstructionData::ExceptionHandlerAddress { .. } => {
                return Err(BuildError::InvalidEntity(format!(
                    "{} (not supported by the builder)",
                    data.opcode()
                )))
            }
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(BuildError::InvalidEntity(format!(
                "an entity referenced by {}",
                data.opcode()
            )))
        }
    }

    fn check_block_args(&self, call: kiln_ir::BlockCall) -> bool {
        self.func
            .stencil
            .dfg
            .block_call_args(call)
            .iter()
            .all(|a| match a {
                kiln_ir::BlockArg::Value(v) => self.check_value(*v).is_ok(),
                _ => false,
            })
    }

    /// Checks that every block used is filled and sealed, removes block
    /// parameters that turned out redundant, and rewrites the aliases left
    /// by SSA construction (alias values become unused numbers). Consumes
    /// the builder.
    pub fn finalize(self) -> Result<(), BuildError> {
        for block in self.func.stencil.dfg.blocks.keys() {
            let st = self.ctx.blocks[block];
            let in_layout = self.func.stencil.layout.is_block_inserted(block);
            if st.used || in_layout {
                if !st.filled {
                    return Err(BuildError::BlockNotFilled(block));
                }
                if !self.ctx.ssa.is_sealed(block) {
                    return Err(BuildError::BlockNotSealed(block));
                }
            }
        }
        self.ctx.ssa.remove_redundant_params(self.func);
        self.check_branch_args()?;
        let dfg = &mut self.func.stencil.dfg;
        dfg.resolve_all_aliases();
        // No instruction or branch refers to an alias any more: drop them,
        // so the function prints and keys as if built without detours.
        for v in dfg.values.keys() {
            if matches!(dfg.values[v], ValueData::Alias { .. }) {
                dfg.values[v] = ValueData::Unused;
            }
        }
        Ok(())
    }
}

impl FunctionBuilder<'_> {
    /// Every branch in the layout passes one argument of the right type per
    /// destination parameter.
    fn check_branch_args(&self) -> Result<(), BuildError> {
        let f = &self.func.stencil;
        for block in f.layout.blocks() {
            let Some(inst) = f.layout.last_inst(block) else {
                continue;
            };
            for call in f.dfg.branch_destinations(inst) {
                let params = f.dfg.block_params(call.block);
                let args = f.dfg.block_call_args(*call);
                let ok = params.len() == args.len()
                    && params.iter().zip(args).all(|(&p, a)| match a {
                        kiln_ir::BlockArg::Value(v) => {
                            let v = f.dfg.resolve_aliases(*v);
                            f.dfg.value_type(v) == f.dfg.value_type(p)
                        }
                        _ => false,
                    });
                if !ok {
                    return Err(BuildError::BranchArgs {
                        inst,
                        block: call.block,
                    });
                }
            }
        }
        Ok(())
    }
}

/// The destination blocks of a branch instruction's data.
fn branch_calls(dfg: &kiln_ir::DataFlowGraph, data: &InstructionData) -> SmallVec<[Block; 4]> {
    match data {
        InstructionData::Jump { destination, .. } => smallvec::smallvec![destination.block],
        InstructionData::Brif { blocks, .. } => blocks.iter().map(|c| c.block).collect(),
        InstructionData::BranchTable { table, .. } => dfg
            .jump_tables
            .get(*table)
            .map(|t| t.entries.iter().map(|c| c.block).collect())
            .unwrap_or_default(),
        _ => SmallVec::new(),
    }
}

/// Whether an operand of type `found` satisfies constraint `c` under
/// controlling type `ctrl`.
fn constraint_holds(c: Constraint, ctrl: Type, found: Type) -> bool {
    match c {
        Constraint::Free(set) => set.contains(found),
        Constraint::NarrowerInt => {
            found.is_int() && found.is_scalar() && found.bits() < ctrl.bits()
        }
        Constraint::WiderInt => found.is_int() && found.is_scalar() && found.bits() > ctrl.bits(),
        Constraint::OtherFloat => {
            found.is_float() && found.is_scalar() && found.bits() != ctrl.bits()
        }
        _ => resolve_constraint(c, ctrl) == Some(found),
    }
}

fn check_value_type(ty: Type) -> Result<(), BuildError> {
    if ty.is_invalid() || ty.is_dynamic_vector() {
        Err(BuildError::UnsupportedType(ty))
    } else {
        Ok(())
    }
}
