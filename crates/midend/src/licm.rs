//! Loop-invariant code motion.
//!
//! Loops are found from the dominator tree: an edge `p -> h` where `h`
//! dominates `p` is a back edge, and the loop of header `h` is every block
//! that reaches a back-edge source without passing `h`. Each loop gets a
//! preheader (a block whose only successor is the header and which is the
//! header's only predecessor outside the loop), created when missing. Then,
//! inner loops first, every instruction of the loop that is safe to execute
//! speculatively and whose operands are all defined outside the loop moves
//! to the end of the preheader. Constants move with their users
//! (rematerialization later copies them back next to in-loop uses).

use crate::simplify::{clobber, is_plain_load, is_state_reading, Clobber, FxHashMap};
use crate::{Analyses, OptOptions, OptStats};
use kiln_ir::dominator_tree::DominatorTree;
use kiln_ir::flowgraph::ControlFlowGraph;
use kiln_ir::{
    Block, EntityRef, FunctionStencil, Inst, InstructionData, Opcode, Type, Value, ValueDef,
};

struct Loop {
    header: Block,
    /// Membership by block index.
    body: Vec<bool>,
    /// The members in reverse post-order (the order the passes visit).
    blocks: Vec<Block>,
}

fn find_loops(func: &FunctionStencil, cfg: &ControlFlowGraph, dt: &DominatorTree) -> Vec<Loop> {
    let n = func.dfg.num_blocks();
    let mut loops = Vec::new();
    let entry = func.layout.entry_block();
    // Position of each block in the reverse post-order, to list a loop's
    // members in that order without a scan of the whole order per loop;
    // built at the first loop (most functions have none).
    let mut rpo_pos: Vec<u32> = Vec::new();
    for &h in dt.cfg_rpo() {
        let is_latch = |p: Block| dt.is_reachable(p) && dt.block_dominates(h, p);
        // Most blocks are no loop header: tested before anything is built.
        if Some(h) == entry || !cfg.preds(h).iter().any(|p| is_latch(p.block)) {
            continue;
        }
        let latches: Vec<Block> = cfg
            .preds(h)
            .iter()
            .map(|p| p.block)
            .filter(|&p| is_latch(p))
            .collect();
        let mut body = vec![false; n];
        body[h.index()] = true;
        let mut blocks = vec![h];
        let mut work = latches;
        while let Some(b) = work.pop() {
            if body[b.index()] {
                continue;
            }
            body[b.index()] = true;
            blocks.push(b);
            for p in cfg.preds(b) {
                if dt.is_reachable(p.block) && !body[p.block.index()] {
                    work.push(p.block);
                }
            }
        }
        if rpo_pos.is_empty() {
            rpo_pos.resize(n, u32::MAX);
            for (i, &b) in dt.cfg_rpo().iter().enumerate() {
                rpo_pos[b.index()] = i as u32;
            }
        }
        blocks.sort_unstable_by_key(|b| rpo_pos[b.index()]);
        loops.push(Loop {
            header: h,
            body,
            blocks,
        });
    }
    loops
}

/// Points every destination of `inst` that is `from` at `to` (same
/// arguments). False if `inst` is a kind of branch this does not handle.
fn retarget(func: &mut FunctionStencil, inst: Inst, from: Block, to: Block) -> bool {
    let fix = |bc: &mut kiln_ir::BlockCall| {
        if bc.block == from {
            bc.block = to;
        }
    };
    match &mut func.dfg.insts[inst] {
        InstructionData::Jump { destination, .. } => fix(destination),
        InstructionData::Brif { blocks, .. } => blocks.iter_mut().for_each(fix),
        InstructionData::BranchTable { table, .. } => {
            let t = *table;
            match func.dfg.jump_tables.get_mut(t) {
                Some(jt) => jt.entries.iter_mut().for_each(fix),
                None => return false,
            }
        }
        _ => return false,
    }
    true
}

/// The preheader of the loop if it has one: the header's single outside
/// predecessor, ending in a plain `jump` to it.
fn preheader(func: &FunctionStencil, cfg: &ControlFlowGraph, l: &Loop) -> Option<Block> {
    let mut outside = cfg
        .preds(l.header)
        .iter()
        .filter(|p| !l.body[p.block.index()]);
    let p = outside.next()?;
    if outside.next().is_some() || cfg.succs(p.block).len() != 1 {
        return None;
    }
    matches!(func.dfg.insts[p.inst], InstructionData::Jump { .. }).then_some(p.block)
}

/// Gives the loop a preheader if it lacks one. False if it cannot.
fn make_preheader(func: &mut FunctionStencil, cfg: &ControlFlowGraph, l: &Loop) -> bool {
    if preheader(func, cfg, l).is_some() {
        return true;
    }
    let outside: Vec<Inst> = cfg
        .preds(l.header)
        .iter()
        .filter(|p| !l.body[p.block.index()])
        .map(|p| p.inst)
        .collect();
    if outside.is_empty()
        || outside.iter().any(|&i| {
            !matches!(
                func.dfg.insts[i],
                InstructionData::Jump { .. }
                    | InstructionData::Brif { .. }
                    | InstructionData::BranchTable { .. }
            )
        })
    {
        return false;
    }
    let Some(prev) = func.layout.prev_block(l.header) else {
        return false;
    };
    let h = l.header;
    let ph = func.dfg.make_block();
    let types: Vec<_> = func
        .dfg
        .block_params(h)
        .iter()
        .map(|&p| func.dfg.value_type(p))
        .collect();
    let params: Vec<_> = types
        .iter()
        .map(|&t| func.dfg.append_block_param(ph, t))
        .collect();
    func.layout.insert_block_after(ph, prev);
    let destination = func.dfg.block_call_values(h, &params);
    let jump = func.dfg.make_inst(InstructionData::Jump {
        opcode: Opcode::Jump,
        destination,
    });
    func.dfg.make_inst_results(jump, kiln_ir::Type::INVALID);
    func.layout.append_inst(jump, ph);
    for i in outside {
        retarget(func, i, h, ph);
    }
    true
}

/// Whether `inst` may run in the preheader even if the loop body would
/// not have run it.
fn hoistable(func: &FunctionStencil, inst: Inst, clobbered: &LoopMem) -> bool {
    let data = &func.dfg.insts[inst];
    let op = data.opcode();
    // Constants move too, so their users can; rematerialization then puts a
    // copy back next to each block's uses.
    if !func.dfg.has_results(inst) {
        return false;
    }
    if op.is_pure() {
        return !is_state_reading(op);
    }
    match *data {
        InstructionData::Load { flags, .. } if is_plain_load(op) => {
            let speculable = flags.notrap() || (flags.readonly() && flags.can_move());
            let unchanged = flags.readonly()
                || (clobbered.alias_analysis
                    && !clobbered.all
                    && flags.alias_region().is_some_and(|r| {
                        !clobbered.regions.get(r.index()).copied().unwrap_or(true)
                    }));
            speculable && unchanged
        }
        _ => false,
    }
}

/// The key under which hoisted copies merge: single-result pure
/// instructions and loads, operands resolved through aliases made so far.
///
/// A load is only hoisted when the loop does not write its memory, and
/// hoisted instructions go to the end of the preheader one after the other
/// (stores never move), so two equal hoisted loads read the same bytes:
/// wasm's heap base and bound, reloaded by every inner loop of a nest, meet
/// in the outer preheader as one load.
fn merge_key(func: &mut FunctionStencil, inst: Inst) -> Option<(InstructionData, Type)> {
    let op = func.dfg.insts[inst].opcode();
    if !(op.is_pure() || is_plain_load(op)) || func.dfg.num_results(inst) != 1 {
        return None;
    }
    let mut data = func.dfg.insts[inst];
    let mut pool = std::mem::take(&mut func.dfg.value_lists);
    for a in data.arguments_mut(&mut pool) {
        *a = func.dfg.resolve_aliases(*a);
    }
    func.dfg.value_lists = pool;
    func.dfg.insts[inst] = data;
    Some((data, func.dfg.ctrl_typevar(inst)))
}

/// The memory a loop may write.
struct LoopMem {
    alias_analysis: bool,
    all: bool,
    regions: Vec<bool>,
}

/// Returns whether the function has loops (rotation has nothing to do
/// otherwise).
///
/// `an` must describe `func` on entry when `fresh` (else it is recomputed);
/// on return it describes the function as LICM leaves it.
pub(crate) fn run(
    func: &mut FunctionStencil,
    opts: &OptOptions,
    stats: &mut OptStats,
    an: &mut Analyses,
    fresh: bool,
) -> bool {
    if !fresh {
        an.compute(func);
    }
    let loops = find_loops(func, &an.cfg, &an.dt);
    if loops.is_empty() {
        return false;
    }
    let mut changed = false;
    for l in &loops {
        if preheader(func, &an.cfg, l).is_none() {
            changed |= make_preheader(func, &an.cfg, l);
        }
    }
    let mut loops = if changed {
        an.compute(func);
        find_loops(func, &an.cfg, &an.dt)
    } else {
        loops
    };
    let (cfg, dt) = (&an.cfg, &an.dt);
    // Inner loops first: a loop nested in another is smaller.
    loops.sort_by_key(|l| l.blocks.len());
    let mut aliased = false;
    for l in &loops {
        let Some(ph) = preheader(func, cfg, l) else {
            continue;
        };
        let Some(ph_term) = func.layout.last_inst(ph) else {
            continue;
        };
        let mut mem = LoopMem {
            alias_analysis: opts.alias_analysis,
            all: false,
            regions: vec![false; func.dfg.alias_regions.len()],
        };
        for &b in &l.blocks {
            for inst in func.layout.block_insts(b) {
                match clobber(func, inst) {
                    Clobber::Nothing => {}
                    Clobber::Region(r) => {
                        if let Some(x) = mem.regions.get_mut(r) {
                            *x = true;
                        } else {
                            mem.all = true;
                        }
                    }
                    Clobber::All => mem.all = true,
                }
            }
        }
        let mut hoisted: FxHashMap<(InstructionData, Type), Value> = FxHashMap::default();
        let blocks = &l.blocks;
        for &b in blocks {
            let mut cursor = func.layout.first_inst(b);
            while let Some(inst) = cursor {
                cursor = func.layout.next_inst(inst);
                if !hoistable(func, inst, &mem) {
                    continue;
                }
                let invariant = func.dfg.inst_args(inst).iter().all(|&a| {
                    let def_block = match func.dfg.value_def(a) {
                        Some(ValueDef::Result(d, _)) => func.layout.inst_block(d),
                        Some(ValueDef::Param(pb, _)) => Some(pb),
                        None => None,
                    };
                    def_block.is_some_and(|db| !l.body[db.index()] && dt.block_dominates(db, ph))
                });
                if !invariant {
                    continue;
                }
                func.layout.remove_inst(inst);
                stats.hoisted += 1;
                // Equal instructions hoisted from sibling blocks (which GVN
                // could not merge) meet in the preheader: keep one.
                if let Some(key) = merge_key(func, inst) {
                    if let Some(&v) = hoisted.get(&key) {
                        let r = func.dfg.inst_results(inst)[0];
                        func.dfg.make_value_alias(r, v);
                        aliased = true;
                        continue;
                    }
                    hoisted.insert(key, func.dfg.inst_results(inst)[0]);
                }
                func.layout.insert_inst_before(inst, ph_term);
            }
        }
        // With the invariants out, what is left in terms of the induction
        // variables; the new start values land in this loop's preheader,
        // inside the enclosing loop, which is processed later.
        if opts.strength_reduction {
            let lr = crate::ivsr::LoopRef {
                header: l.header,
                body: &l.body,
                blocks,
                preheader: ph,
            };
            crate::ivsr::run_loop(func, cfg, &lr, stats);
        }
    }
    if aliased {
        crate::simplify::drop_aliases(func);
    }
    true
}
