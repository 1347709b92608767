//! Rematerialization of constants near their uses.
//!
//! GVN merges equal `iconst`s across the function and the simplifier makes
//! new ones; a constant defined in one block and used in others would stay
//! live in a register across everything in between. Each block that uses a
//! constant defined elsewhere gets its own copy, placed before its first
//! use there; the copies in the defining block stay.

use crate::cleanup::DceScratch;
use crate::OptStats;
use kiln_ir::{
    Block, BlockArg, EntityRef, FunctionStencil, Inst, InstructionData, Opcode, Value, ValueData,
    ValueDef,
};

/// The `iconst` defining `v` if it lives in another block than `here`.
#[inline]
fn foreign_const(func: &FunctionStencil, v: Value, here: Block) -> Option<Inst> {
    // Asked for every operand: a value defined by an instruction is read
    // directly, anything else (an alias) through `value_def`.
    let def = match func.dfg.values.get(v)? {
        ValueData::Inst { inst, .. } => *inst,
        ValueData::Param { .. } | ValueData::Unused => return None,
        ValueData::Alias { .. } => match func.dfg.value_def(v)? {
            ValueDef::Result(def, _) => def,
            ValueDef::Param(..) => return None,
        },
    };
    match func.dfg.insts[def] {
        InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            ..
        } if func.layout.inst_block(def) != Some(here) => Some(def),
        _ => None,
    }
}

/// Remat's buffers, kept between functions (see `Analyses`).
#[derive(Default)]
pub(crate) struct RematScratch {
    /// Per value: its copy in the current block (`None` if it has none).
    copy: Vec<Option<Value>>,
    /// The values with a copy in the current block (to reset `copy`).
    copied: Vec<Value>,
    wanted: Vec<Value>,
}

impl RematScratch {
    fn copy_of(&self, v: Value) -> Option<Value> {
        self.copy.get(v.index()).copied().flatten()
    }
}

/// Rematerializes constants, then removes dead code: the walk counts each
/// instruction's uses for `dce` as it leaves it (the same counts a DCE
/// walk after it would make), so the cleanup needs no walk of its own.
pub(crate) fn run(
    func: &mut FunctionStencil,
    stats: &mut OptStats,
    sc: &mut RematScratch,
    dce: &mut DceScratch,
) {
    sc.copy.clear();
    sc.copy.resize(func.dfg.num_values(), None);
    sc.copied.clear();
    dce.start(func);
    let mut block = func.layout.entry_block();
    while let Some(b) = block {
        block = func.layout.next_block(b);
        for v in sc.copied.drain(..) {
            sc.copy[v.index()] = None;
        }
        let mut cursor = func.layout.first_inst(b);
        while let Some(inst) = cursor {
            cursor = func.layout.next_inst(inst);
            if remat_inst(func, stats, sc, b, inst) {
                // The copies are values the counts must know (a copy
                // whose user dies dies too).
                dce.grow(func);
            }
            dce.count(func, inst);
        }
    }
    dce.remove_dead(func, stats);
}

/// Gives `inst` (in block `b`) local copies of the constants it uses from
/// other blocks; returns whether it made any copy.
fn remat_inst(
    func: &mut FunctionStencil,
    stats: &mut OptStats,
    sc: &mut RematScratch,
    b: Block,
    inst: Inst,
) -> bool {
    // Most instructions use no constant from another block: check
    // that without collecting anything first.
    let foreign = |v: Value| sc.copy_of(v).is_some() || foreign_const(func, v, b).is_some();
    let needs = func.dfg.inst_args(inst).iter().any(|&v| foreign(v))
        || func.dfg.branch_destinations(inst).iter().any(|d| {
            func.dfg.block_call_args(*d).iter().any(|a| match a {
                BlockArg::Value(v) => foreign(*v),
                _ => false,
            })
        });
    if !needs {
        return false;
    }
    // Operands first, then branch arguments of this instruction.
    sc.wanted.clear();
    sc.wanted.extend_from_slice(func.dfg.inst_args(inst));
    for d in func.dfg.branch_destinations(inst) {
        for arg in func.dfg.block_call_args(*d) {
            if let BlockArg::Value(v) = arg {
                sc.wanted.push(*v);
            }
        }
    }
    let mut any = false;
    let mut made = false;
    for i in 0..sc.wanted.len() {
        let v = sc.wanted[i];
        if sc.copy_of(v).is_some() {
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
        if sc.copy.len() <= v.index() {
            sc.copy.resize(v.index() + 1, None);
        }
        sc.copy[v.index()] = Some(nv);
        sc.copied.push(v);
        stats.rematerialized += 1;
        any = true;
        made = true;
    }
    if !any {
        return false;
    }
    let mut data = func.dfg.insts[inst];
    let mut pool = std::mem::take(&mut func.dfg.value_lists);
    for a in data.arguments_mut(&mut pool) {
        if let Some(n) = sc.copy_of(*a) {
            *a = n;
        }
    }
    func.dfg.value_lists = pool;
    func.dfg.insts[inst] = data;
    for d in 0..func.dfg.branch_destinations(inst).len() {
        let args = func.dfg.branch_destinations(inst)[d].args;
        for arg in func.dfg.block_args.get_mut(args) {
            if let BlockArg::Value(v) = arg {
                if let Some(n) = sc.copy_of(*v) {
                    *v = n;
                }
            }
        }
    }
    made
}
