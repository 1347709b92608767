//! Unreachable-block removal and dead-code elimination.

use crate::simplify::{is_plain_load, is_state_reading};
use crate::{Analyses, OptStats};
use kiln_ir::{
    BlockArg, EntityRef, ExceptionTableItem, FunctionStencil, Inst, InstructionData, ValueDef,
};

/// Removes the blocks that cannot be reached from the entry (after branch
/// folding some are). Values they define have no reachable uses, since a
/// reachable use would be dominated by its (then reachable) definition.
/// `an` is recomputed for `func` first and is stale afterwards.
pub(crate) fn remove_unreachable(
    func: &mut FunctionStencil,
    stats: &mut OptStats,
    an: &mut Analyses,
) {
    an.compute(func);
    let dt = &an.dt;
    let blocks: Vec<_> = func.layout.blocks().collect();
    for b in blocks {
        if dt.is_reachable(b) {
            continue;
        }
        while let Some(i) = func.layout.first_inst(b) {
            func.layout.remove_inst(i);
        }
        func.layout.remove_block(b);
        stats.blocks_removed += 1;
    }
}

/// Whether `inst` may be deleted when its results are unused: pure
/// instructions and loads that cannot trap.
fn removable(func: &FunctionStencil, inst: Inst) -> bool {
    let data = &func.dfg.insts[inst];
    let op = data.opcode();
    if op.is_pure() {
        return func.dfg.has_results(inst) || !is_state_reading(op);
    }
    match data {
        InstructionData::Load { flags, .. } => is_plain_load(op) && flags.notrap(),
        _ => false,
    }
}

/// DCE's buffers, kept between calls.
#[derive(Default)]
pub(crate) struct DceScratch {
    uses: Vec<u32>,
    work: Vec<Inst>,
}

/// Deletes instructions whose results are never used, transitively.
/// `sc` holds the use counts and work list between calls (allocations
/// reused; its contents are not).
///
/// One walk over the layout counts the uses and collects the removable
/// instructions (the only ones that can be dead); the work list then
/// removes the dead ones, last first, and queues the definitions whose
/// last use went. What is removed is the same whatever the order: every
/// removable instruction not used, transitively, by one that stays.
pub(crate) fn dce(func: &mut FunctionStencil, stats: &mut OptStats, sc: &mut DceScratch) {
    sc.start(func);
    for b in func.layout.blocks() {
        for inst in func.layout.block_insts(b) {
            sc.count(func, inst);
        }
    }
    sc.remove_dead(func, stats);
}

impl DceScratch {
    /// Starts a count: every value unused, nothing collected.
    pub(crate) fn start(&mut self, func: &FunctionStencil) {
        self.uses.clear();
        self.uses.resize(func.dfg.num_values(), 0);
        self.work.clear();
    }

    /// Makes room in the counts for values created since `start`.
    pub(crate) fn grow(&mut self, func: &FunctionStencil) {
        if self.uses.len() < func.dfg.num_values() {
            self.uses.resize(func.dfg.num_values(), 0);
        }
    }

    /// Counts the uses `inst` makes (operands, block-call arguments,
    /// exception-table contexts) and collects it if it is removable. A
    /// pass that visits every instruction of the layout once, in layout
    /// order, may call this instead of `dce`'s own walk (remat does).
    #[inline]
    pub(crate) fn count(&mut self, func: &FunctionStencil, inst: Inst) {
        let uses = &mut self.uses;
        let count = |v: kiln_ir::Value, uses: &mut Vec<u32>| {
            if let Some(u) = uses.get_mut(v.index()) {
                *u += 1;
            }
        };
        let data = &func.dfg.insts[inst];
        for &a in data.arguments(&func.dfg.value_lists) {
            count(a, uses);
        }
        match data {
            InstructionData::Jump { .. }
            | InstructionData::Brif { .. }
            | InstructionData::BranchTable { .. } => {}
            InstructionData::TryCall { exception, .. }
            | InstructionData::TryCallIndirect { exception, .. } => {
                if let Some(t) = func.dfg.exception_tables.get(*exception) {
                    for item in &t.items {
                        if let ExceptionTableItem::Context(v) = item {
                            count(*v, uses);
                        }
                    }
                }
            }
            _ => {
                if removable(func, inst) {
                    self.work.push(inst);
                }
                return;
            }
        }
        for dest in func.dfg.branch_destinations(inst) {
            for arg in func.dfg.block_call_args(*dest) {
                if let BlockArg::Value(v) = arg {
                    count(*v, uses);
                }
            }
        }
    }

    /// Removes what the counts say is dead, transitively.
    pub(crate) fn remove_dead(&mut self, func: &mut FunctionStencil, stats: &mut OptStats) {
        let (uses, work) = (&mut self.uses, &mut self.work);
        // Cheapest test first: most removable instructions are used.
        let dead = |func: &FunctionStencil, inst: Inst, uses: &[u32]| {
            func.dfg
                .inst_results(inst)
                .iter()
                .all(|r| uses.get(r.index()).copied().unwrap_or(0) == 0)
                && func.layout.inst_block(inst).is_some()
                && removable(func, inst)
        };
        while let Some(inst) = work.pop() {
            if !dead(func, inst, uses) {
                continue;
            }
            func.layout.remove_inst(inst);
            stats.dead_removed += 1;
            for &a in func.dfg.inst_args(inst) {
                if let Some(u) = uses.get_mut(a.index()) {
                    *u = u.saturating_sub(1);
                    if *u == 0 {
                        if let Some(ValueDef::Result(def, _)) = func.dfg.value_def(a) {
                            work.push(def);
                        }
                    }
                }
            }
        }
    }
}
