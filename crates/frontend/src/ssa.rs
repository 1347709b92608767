//! SSA construction from variables (Braun et al. 2013), with block
//! parameters in place of phi nodes.
//!
//! Every lookup runs on an explicit work stack rather than by recursion, so
//! long chains of blocks cannot overflow the native stack. A parameter
//! found to be trivial (all incoming values equal, ignoring itself) is
//! removed from its block before any branch argument is added for it, and
//! becomes an alias of the value it stands for; `finalize` rewrites alias
//! uses away.

use crate::Variable;
use kiln_ir::{
    Block, BlockArg, BlockArgPool, BlockCall, ConstantData, DataFlowGraph, Function, Ieee16,
    Ieee32, Ieee64, Imm64, Inst, InstructionData, Opcode, PackedOption, SecondaryMap, Type, Value,
    ValueData,
};
use smallvec::SmallVec;

/// What the SSA builder knows about one block.
#[derive(Clone, Default, Debug)]
struct SsaBlock {
    /// Blocks that branch here, each with its (single) branch instruction.
    preds: SmallVec<[(Block, Inst); 4]>,
    /// All predecessors are known.
    sealed: bool,
    /// Parameters created while unsealed, to complete when sealed.
    incomplete: Vec<(Variable, Value)>,
}

/// A step of a variable lookup.
#[derive(Clone, Copy, Debug)]
enum Call {
    /// Push the value of the variable at the end of this block.
    UseVar(Block),
    /// The predecessors' values of the parameter are on the result stack:
    /// decide whether it is trivial, and complete it if not.
    Finish(Value, Block),
}

#[derive(Default, Debug)]
pub(crate) struct SsaBuilder {
    /// The value of each variable at the end (so far) of each block.
    defs: SecondaryMap<Variable, SecondaryMap<Block, PackedOption<Value>>>,
    blocks: SecondaryMap<Block, SsaBlock>,
    calls: Vec<Call>,
    results: Vec<Value>,
    chain: Vec<Block>,
    /// Parameters created by SSA construction (the only ones it may remove).
    ssa_params: SecondaryMap<Value, bool>,
}

impl SsaBuilder {
    pub fn clear(&mut self) {
        self.defs.clear();
        self.blocks.clear();
        self.calls.clear();
        self.results.clear();
        self.chain.clear();
        self.ssa_params.clear();
    }

    fn new_param(&mut self, func: &mut Function, block: Block, ty: Type) -> Value {
        let v = func.stencil.dfg.append_block_param(block, ty);
        self.ssa_params[v] = true;
        v
    }

    pub fn is_sealed(&self, block: Block) -> bool {
        self.blocks[block].sealed
    }

    pub fn predecessors(&self, block: Block) -> impl Iterator<Item = (Block, Inst)> + '_ {
        self.blocks[block].preds.iter().copied()
    }

    fn def(&self, var: Variable, block: Block) -> Option<Value> {
        self.defs[var][block].expand()
    }

    fn set_def(&mut self, var: Variable, block: Block, val: Value) {
        self.defs[var][block] = PackedOption::some(val);
    }

    /// Records that `var` holds `val` from here on in `block`.
    pub fn def_var(&mut self, var: Variable, val: Value, block: Block) {
        self.set_def(var, block, val);
    }

    /// Records a branch `inst` at the end of `pred` to `dest`. Returns false
    /// if `dest` is sealed.
    pub fn declare_predecessor(&mut self, dest: Block, pred: Block, inst: Inst) -> bool {
        let b = &mut self.blocks[dest];
        if b.sealed {
            return false;
        }
        // The builder declares each (destination, branch) pair once; a
        // repeat could only come from the same branch, pushed last.
        if b.preds.last().map(|&(_, i)| i) != Some(inst) {
            b.preds.push((pred, inst));
        }
        true
    }

    /// The value of `var` (of type `ty`) at the current end of `block`.
    pub fn use_var(&mut self, func: &mut Function, var: Variable, ty: Type, block: Block) -> Value {
        debug_assert!(self.calls.is_empty() && self.results.is_empty());
        self.calls.push(Call::UseVar(block));
        self.run(func, var, ty);
        let v = self.results.pop().unwrap_or_else(|| {
            // Unreachable by construction: every UseVar pushes one result
            // (directly or through its Finish step).
            make_zero(func, ty, block)
        });
        self.results.clear();
        func.stencil.dfg.resolve_aliases(v)
    }

    /// Declares that every predecessor of `block` is known and completes the
    /// parameters created while it was unsealed.
    pub fn seal_block(
        &mut self,
        func: &mut Function,
        block: Block,
        var_type: impl Fn(Variable) -> Type,
    ) {
        if self.blocks[block].sealed {
            return;
        }
        self.blocks[block].sealed = true;
        let incomplete = std::mem::take(&mut self.blocks[block].incomplete);
        for (var, param) in incomplete {
            self.push_predecessor_lookups(param, block);
            self.run(func, var, var_type(var));
            self.results.clear();
        }
    }

    fn push_predecessor_lookups(&mut self, param: Value, block: Block) {
        self.calls.push(Call::Finish(param, block));
        // Pushed in reverse so that results arrive in predecessor order.
        for &(pred, _) in self.blocks[block].preds.iter().rev() {
            self.calls.push(Call::UseVar(pred));
        }
    }

    fn run(&mut self, func: &mut Function, var: Variable, ty: Type) {
        while let Some(call) = self.calls.pop() {
            match call {
                Call::UseVar(block) => self.lookup(func, var, ty, block),
                Call::Finish(param, block) => self.finish(func, ty, param, block),
            }
        }
    }

    /// Finds the value of `var` at the end of `block`, walking up chains of
    /// single predecessors iteratively.
    fn lookup(&mut self, func: &mut Function, var: Variable, ty: Type, block: Block) {
        self.chain.clear();
        // A cycle of single-predecessor blocks (unreachable code) would walk
        // forever; after visiting as many blocks as exist, fall back to a
        // parameter, which breaks the cycle.
        let limit = func.stencil.dfg.num_blocks();
        let mut cur = block;
        let (val, pushes_result) = loop {
            if let Some(v) = self.def(var, cur) {
                break (v, true);
            }
            let sb = &self.blocks[cur];
            if !sb.sealed {
                let v = self.new_param(func, cur, ty);
                self.blocks[cur].incomplete.push((var, v));
                self.set_def(var, cur, v);
                break (v, true);
            }
            match sb.preds.len() {
                0 => {
                    // No predecessor: the entry block or unreachable code.
                    // The variable is used before any definition: zero.
                    let v = make_zero(func, ty, cur);
                    self.set_def(var, cur, v);
                    break (v, true);
                }
                1 if self.chain.len() < limit => {
                    self.chain.push(cur);
                    cur = sb.preds[0].0;
                }
                _ => {
                    let v = self.new_param(func, cur, ty);
                    self.set_def(var, cur, v);
                    self.push_predecessor_lookups(v, cur);
                    break (v, false);
                }
            }
        };
        for i in 0..self.chain.len() {
            let b = self.chain[i];
            self.set_def(var, b, val);
        }
        if pushes_result {
            self.results.push(val);
        }
    }

    fn finish(&mut self, func: &mut Function, ty: Type, param: Value, block: Block) {
        let dfg = &mut func.stencil.dfg;
        let n = self.blocks[block].preds.len();
        let start = self.results.len().saturating_sub(n);
        let mut unique = None;
        let mut trivial = true;
        for &v in &self.results[start..] {
            let v = dfg.resolve_aliases(v);
            if v == param {
                continue;
            }
            match unique {
                None => unique = Some(v),
                Some(u) if u == v => {}
                Some(_) => {
                    trivial = false;
                    break;
                }
            }
        }
        if trivial {
            let replacement = match unique {
                Some(u) => u,
                None => make_zero(func, ty, block),
            };
            let dfg = &mut func.stencil.dfg;
            remove_block_param(dfg, block, param);
            dfg.make_value_alias(param, replacement);
            self.results.truncate(start);
            self.results.push(replacement);
        } else {
            let index = match dfg.values[param] {
                ValueData::Param { num, .. } => num as usize,
                _ => dfg.block_params(block).len(),
            };
            for (i, &(_, inst)) in self.blocks[block].preds.iter().enumerate() {
                let v = self.results[start + i];
                for_each_call_to(dfg, inst, block, |pool, call| {
                    let mut args: SmallVec<[BlockArg; 8]> = pool.get(call.args).into();
                    let at = index.min(args.len());
                    args.insert(at, BlockArg::Value(v));
                    call.args = pool.alloc(&args);
                });
            }
            self.results.truncate(start);
            self.results.push(param);
        }
    }
}

impl SsaBuilder {
    /// Removes, until none is left, SSA parameters that receive the same
    /// value (or themselves) on every edge, with their branch arguments.
    /// This is the recursive part of Braun et al.'s trivial-phi removal: a
    /// parameter completed while a predecessor was unsealed may become
    /// trivial only once a parameter it receives is removed. Needs every
    /// block sealed (arguments then line up with parameters).
    pub fn remove_redundant_params(&mut self, func: &mut Function) {
        loop {
            let mut changed = false;
            for block in func.stencil.dfg.blocks.keys() {
                let mut k = 0;
                while let Some(&param) = func.stencil.dfg.block_params(block).get(k) {
                    if !self.ssa_params[param] {
                        k += 1;
                        continue;
                    }
                    match self.incoming_single_value(&func.stencil.dfg, block, k, param) {
                        None => k += 1,
                        Some(unique) => {
                            let ty = func.stencil.dfg.value_type(param);
                            let replacement = match unique {
                                Some(u) => u,
                                None => make_zero(func, ty, block),
                            };
                            let dfg = &mut func.stencil.dfg;
                            for &(_, inst) in self.blocks[block].preds.iter() {
                                for_each_call_to(dfg, inst, block, |pool, call| {
                                    let mut args: SmallVec<[BlockArg; 8]> =
                                        pool.get(call.args).into();
                                    if k < args.len() {
                                        args.remove(k);
                                    }
                                    call.args = pool.alloc(&args);
                                });
                            }
                            remove_block_param(dfg, block, param);
                            dfg.make_value_alias(param, replacement);
                            self.ssa_params[param] = false;
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// `Some(Some(v))` if every edge into `block` passes `v` or `param` at
    /// position `k`, `Some(None)` if every edge passes `param` itself, `None`
    /// if the parameter is needed.
    fn incoming_single_value(
        &self,
        dfg: &DataFlowGraph,
        block: Block,
        k: usize,
        param: Value,
    ) -> Option<Option<Value>> {
        let mut unique = None;
        for &(_, inst) in self.blocks[block].preds.iter() {
            for call in dfg.branch_destinations(inst) {
                if call.block != block {
                    continue;
                }
                let v = match dfg.block_call_args(*call).get(k) {
                    Some(BlockArg::Value(v)) => dfg.resolve_aliases(*v),
                    _ => return None,
                };
                if v == param {
                    continue;
                }
                match unique {
                    None => unique = Some(v),
                    Some(u) if u == v => {}
                    Some(_) => return None,
                }
            }
        }
        Some(unique)
    }
}

/// Calls `f` on every destination of branch `inst` that targets `dest`.
pub(crate) fn for_each_call_to(
    dfg: &mut DataFlowGraph,
    inst: Inst,
    dest: Block,
    mut f: impl FnMut(&mut BlockArgPool, &mut BlockCall),
) {
    let DataFlowGraph {
        insts,
        block_args,
        jump_tables,
        exception_tables,
        ..
    } = dfg;
    let calls: &mut [BlockCall] = match &mut insts[inst] {
        InstructionData::Jump { destination, .. } => std::slice::from_mut(destination),
        InstructionData::Brif { blocks, .. } => blocks,
        InstructionData::BranchTable { table, .. } => match jump_tables.get_mut(*table) {
            Some(t) => &mut t.entries,
            None => &mut [],
        },
        InstructionData::TryCall { exception, .. }
        | InstructionData::TryCallIndirect { exception, .. } => {
            match exception_tables.get_mut(*exception) {
                Some(t) => &mut t.targets,
                None => &mut [],
            }
        }
        _ => &mut [],
    };
    for call in calls.iter_mut().filter(|c| c.block == dest) {
        f(block_args, call);
    }
}

/// Removes parameter `param` from `block` and renumbers the rest. Branch
/// arguments are not touched: the builder removes a parameter only before
/// any argument was added for it.
fn remove_block_param(dfg: &mut DataFlowGraph, block: Block, param: Value) {
    let params: SmallVec<[Value; 8]> = dfg
        .block_params(block)
        .iter()
        .copied()
        .filter(|&p| p != param)
        .collect();
    dfg.blocks[block].params = dfg.value_lists.alloc(&params);
    for (i, &p) in params.iter().enumerate() {
        if let ValueData::Param { num, .. } = &mut dfg.values[p] {
            *num = i as u16;
        }
    }
}

/// Builds a zero of type `ty` at the start of `block` (before its first
/// instruction), for a variable used before any definition.
pub(crate) fn make_zero(func: &mut Function, ty: Type, block: Block) -> Value {
    let mut insts: SmallVec<[Inst; 2]> = SmallVec::new();
    let dfg = &mut func.stencil.dfg;
    let mut push = |dfg: &mut DataFlowGraph, data: InstructionData, ctrl: Type| {
        let inst = dfg.make_inst(data);
        dfg.make_inst_results(inst, ctrl);
        insts.push(inst);
        dfg.first_result(inst)
    };
    let val = if ty.is_int() && ty.is_scalar() && ty.bits() <= 64 {
        push(
            dfg,
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm: Imm64(0),
            },
            ty,
        )
    } else if ty == Type::I128 {
        let lo = push(
            dfg,
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm: Imm64(0),
            },
            Type::I64,
        );
        match lo {
            Some(arg) => push(
                dfg,
                InstructionData::Unary {
                    opcode: Opcode::Uextend,
                    arg,
                },
                Type::I128,
            ),
            None => None,
        }
    } else if ty == Type::F16 {
        push(
            dfg,
            InstructionData::UnaryIeee16 {
                opcode: Opcode::F16const,
                imm: Ieee16(0),
            },
            Type::INVALID,
        )
    } else if ty == Type::F32 {
        push(
            dfg,
            InstructionData::UnaryIeee32 {
                opcode: Opcode::F32const,
                imm: Ieee32(0),
            },
            Type::INVALID,
        )
    } else if ty == Type::F64 {
        push(
            dfg,
            InstructionData::UnaryIeee64 {
                opcode: Opcode::F64const,
                imm: Ieee64(0),
            },
            Type::INVALID,
        )
    } else {
        // f128 and vectors: a zero constant from the pool.
        let constant = dfg
            .constants
            .push(ConstantData(vec![0; ty.bytes() as usize]));
        let (opcode, ctrl) = if ty == Type::F128 {
            (Opcode::F128const, Type::INVALID)
        } else {
            (Opcode::Vconst, ty)
        };
        push(dfg, InstructionData::UnaryConst { opcode, constant }, ctrl)
    };
    let first = func.stencil.layout.first_inst(block);
    for inst in insts {
        match first {
            Some(f) => func.stencil.layout.insert_inst_before(inst, f),
            None => func.stencil.layout.append_inst(inst, block),
        };
    }
    // The value exists for every type built above; an alias-free fallback
    // keeps this total even for types the table cannot express.
    val.unwrap_or_else(|| func.stencil.dfg.append_block_param(block, ty))
}
