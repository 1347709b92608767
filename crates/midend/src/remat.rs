//! Rematerialization of constants near their uses.
//!
//! GVN merges equal `iconst`s across the function and the simplifier makes
//! new ones; a constant defined in one block and used in others would stay
//! live in a register across everything in between. Each block that uses a
//! constant defined elsewhere gets its own copy, placed before its first
//! use there; the copies in the defining block stay.

use crate::simplify::FxHashMap;
use crate::OptStats;
use kiln_ir::{BlockArg, FunctionStencil, Inst, InstructionData, Opcode, Value, ValueDef};

/// The `iconst` defining `v` if it lives in another block than `here`.
fn foreign_const(func: &FunctionStencil, v: Value, here: kiln_ir::Block) -> Option<Inst> {
    let ValueDef::Result(def, _) = func.dfg.value_def(v)? else {
        return None;
    };
    match func.dfg.insts[def] {
        InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            ..
        } if func.layout.inst_block(def) != Some(here) => Some(def),
        _ => None,
    }
}

pub(crate) fn run(func: &mut FunctionStencil, stats: &mut OptStats) {
    let blocks: Vec<_> = func.layout.blocks().collect();
    let mut copies: FxHashMap<Value, Value> = FxHashMap::default();
    for b in blocks {
        copies.clear();
        let mut cursor = func.layout.first_inst(b);
        while let Some(inst) = cursor {
            cursor = func.layout.next_inst(inst);
            // Most instructions use no constant from another block: check
            // that without allocating first.
            let foreign = |v: Value| copies.contains_key(&v) || foreign_const(func, v, b).is_some();
            let needs = func.dfg.inst_args(inst).iter().any(|&v| foreign(v))
                || func.dfg.branch_destinations(inst).iter().any(|d| {
                    func.dfg.block_call_args(*d).iter().any(|a| match a {
                        BlockArg::Value(v) => foreign(*v),
                        _ => false,
                    })
                });
            if !needs {
                continue;
            }
            // Operands first, then branch arguments of this instruction.
            let mut data = func.dfg.insts[inst];
            let mut pool = std::mem::take(&mut func.dfg.value_lists);
            let mut wanted: Vec<Value> = Vec::new();
            for a in data.arguments_mut(&mut pool).iter() {
                wanted.push(*a);
            }
            func.dfg.value_lists = pool;
            let dests: Vec<_> = func.dfg.branch_destinations(inst).to_vec();
            for d in &dests {
                for arg in func.dfg.block_call_args(*d) {
                    if let BlockArg::Value(v) = arg {
                        wanted.push(*v);
                    }
                }
            }
            let mut any = false;
            for v in wanted {
                if copies.contains_key(&v) {
                    any = true;
                    continue;
                }
                let Some(def) = foreign_const(func, v, b) else {
                    continue;
                };
                let data = func.dfg.insts[def];
                let ty = func.dfg.value_type(v);
                let c = func.dfg.make_inst(data);
                func.dfg.make_inst_results(c, ty);
                func.layout.insert_inst_before(c, inst);
                let loc = func.rel_srcloc(def);
                func.srclocs.set(c, loc);
                let nv = func.dfg.first_result(c).expect("iconst has a result");
                copies.insert(v, nv);
                stats.rematerialized += 1;
                any = true;
            }
            if !any {
                continue;
            }
            let mut pool = std::mem::take(&mut func.dfg.value_lists);
            for a in data.arguments_mut(&mut pool) {
                if let Some(&n) = copies.get(a) {
                    *a = n;
                }
            }
            func.dfg.value_lists = pool;
            func.dfg.insts[inst] = data;
            for d in dests {
                let args = func.dfg.block_args.get_mut(d.args);
                for arg in args {
                    if let BlockArg::Value(v) = arg {
                        if let Some(&n) = copies.get(v) {
                            *v = n;
                        }
                    }
                }
            }
        }
    }
}
