//! Unrolling of small single-block loops by two.
//!
//! A block `B` that branches to itself (`brif c, B(args), X(..)`, either
//! way round), as rotation leaves most small loops, gets a copy `B2` laid
//! out after it: `B` continues into `B2`, and `B2` back into `B`; both exit
//! to `X`. No trip count is needed, since each copy keeps its own test. The
//! point is the loop-carried values: a loop that passes its parameters
//! round (`fib`: `a, b <- b, a+b`) needs a parallel move on every back edge;
//! with two copies the register allocator can let the values alternate
//! between two register assignments instead, so the moves disappear.
//!
//! Restricted to where SSA stays trivial: no value of `B` is used outside
//! `B` except as an argument of `B`'s own branch (true of every loop
//! rotation makes), at most `MAX_INSTS` copyable instructions.

use crate::rotate::copyable;
use crate::OptStats;
use kiln_ir::{BlockArg, ExceptionTableItem, FunctionStencil, InstructionData, Value, ValueDef};

/// Instructions of a loop body copied at most.
const MAX_INSTS: usize = 12;
/// Loops unrolled per function at most.
const MAX_LOOPS: usize = 8;

pub(crate) fn run(func: &mut FunctionStencil, stats: &mut OptStats) {
    let entry = func.layout.entry_block();
    let mut cands: Vec<kiln_ir::Block> = Vec::new();
    for b in func.layout.blocks() {
        if Some(b) == entry || cands.len() == MAX_LOOPS {
            continue;
        }
        let Some(term) = func.layout.last_inst(b) else {
            continue;
        };
        let InstructionData::Brif { blocks, .. } = func.dfg.insts[term] else {
            continue;
        };
        if (blocks[0].block == b) == (blocks[1].block == b) {
            continue;
        }
        let mut n = 0;
        let ok = func.layout.block_insts(b).all(|i| {
            n += 1;
            i == term || copyable(func, i)
        });
        if ok && n <= MAX_INSTS + 1 {
            cands.push(b);
        }
    }
    if cands.is_empty() {
        return;
    }
    // Values of a candidate used outside it disqualify it.
    let mut bad = vec![false; cands.len()];
    let home = |func: &FunctionStencil, v: Value| -> Option<usize> {
        let b = match func.dfg.value_def(v)? {
            ValueDef::Result(i, _) => func.layout.inst_block(i)?,
            ValueDef::Param(b, _) => b,
        };
        cands.iter().position(|&c| c == b)
    };
    for b in func.layout.blocks() {
        for inst in func.layout.block_insts(b) {
            for &a in func.dfg.inst_args(inst) {
                if let Some(k) = home(func, a) {
                    bad[k] |= cands[k] != b;
                }
            }
            for bc in func.dfg.branch_destinations(inst) {
                for a in func.dfg.block_call_args(*bc) {
                    if let BlockArg::Value(v) = a {
                        if let Some(k) = home(func, *v) {
                            bad[k] |= cands[k] != b;
                        }
                    }
                }
            }
        }
    }
    for t in func.dfg.exception_tables.keys() {
        for item in &func.dfg.exception_tables[t].items {
            if let ExceptionTableItem::Context(v) = item {
                if let Some(k) = home(func, *v) {
                    bad[k] = true;
                }
            }
        }
    }
    for (k, &b) in cands.iter().enumerate() {
        if bad[k] {
            continue;
        }
        let b2 = func.dfg.make_block();
        if !func.layout.insert_block_after(b2, b) {
            continue;
        }
        let mut map: crate::simplify::FxHashMap<Value, Value> = Default::default();
        let params: Vec<Value> = func.dfg.block_params(b).to_vec();
        for p in params {
            let ty = func.dfg.value_type(p);
            let q = func.dfg.append_block_param(b2, ty);
            map.insert(p, q);
        }
        let insts: Vec<_> = func.layout.block_insts(b).collect();
        let (&term, body) = insts.split_last().expect("a candidate has a terminator");
        for &i in body {
            let mut data = func.dfg.insts[i];
            let mut pool = std::mem::take(&mut func.dfg.value_lists);
            for a in data.arguments_mut(&mut pool) {
                if let Some(&m) = map.get(a) {
                    *a = m;
                }
            }
            func.dfg.value_lists = pool;
            let ctrl = func.dfg.ctrl_typevar(i);
            let copy = func.dfg.make_inst(data);
            func.dfg.make_inst_results(copy, ctrl);
            func.layout.append_inst(copy, b2);
            let loc = func.rel_srcloc(i);
            func.srclocs.set(copy, loc);
            let olds: Vec<Value> = func.dfg.inst_results(i).to_vec();
            let news: Vec<Value> = func.dfg.inst_results(copy).to_vec();
            map.extend(olds.into_iter().zip(news));
        }
        let InstructionData::Brif {
            opcode,
            arg,
            mut blocks,
        } = func.dfg.insts[term]
        else {
            continue;
        };
        let m = |v: Value| map.get(&v).copied().unwrap_or(v);
        let mut copied = blocks;
        for bc in &mut copied {
            let args: Vec<BlockArg> = func
                .dfg
                .block_call_args(*bc)
                .iter()
                .map(|a| match a {
                    BlockArg::Value(v) => BlockArg::Value(m(*v)),
                    other => *other,
                })
                .collect();
            *bc = func.dfg.block_call(bc.block, &args);
        }
        let copy = func.dfg.make_inst(InstructionData::Brif {
            opcode,
            arg: m(arg),
            blocks: copied,
        });
        func.dfg.make_inst_results(copy, kiln_ir::Type::INVALID);
        func.layout.append_inst(copy, b2);
        let loc = func.rel_srcloc(term);
        func.srclocs.set(copy, loc);
        for bc in &mut blocks {
            if bc.block == b {
                bc.block = b2;
            }
        }
        func.dfg.insts[term] = InstructionData::Brif {
            opcode,
            arg,
            blocks,
        };
        stats.unrolled += 1;
    }
}
