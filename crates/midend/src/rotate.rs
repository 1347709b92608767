//! Loop rotation: a loop tested at the top (`H: c = ...; brif c, B, X` and
//! every latch `jump H(args)`) becomes a loop tested at the bottom. Each
//! latch gets a copy of the header's instructions (its parameters replaced
//! by the latch's arguments) and branches with the copied condition straight
//! to `B` or `X`; `H` then runs once, as the entry test. One conditional
//! branch per iteration instead of a test at the top plus a jump back.
//!
//! Restricted to the shape where this is simple and cheap: a header of at
//! most `MAX_HEADER` pure instructions ending in `brif`, one successor in
//! the loop and one outside, each with `H` as its only predecessor, and
//! latches ending in `jump`. Values of `H` used elsewhere become parameters
//! of `B` and `X` (they are dominated by exactly one of them, since those
//! are `H`'s only successors), so SSA form holds without a general repair.

use crate::simplify::FxHashMap;
use crate::{Analyses, OptStats};
use kiln_ir::dominator_tree::DominatorTree;
use kiln_ir::flowgraph::{BlockPredecessor, ControlFlowGraph};
use kiln_ir::{
    Block, BlockArg, BlockCall, EntityRef, FunctionStencil, Inst, InstructionData, Opcode, Value,
};
use smallvec::SmallVec;

/// Header instructions copied into each latch at most.
const MAX_HEADER: usize = 8;
/// Latches per loop at most (each gets a copy).
const MAX_LATCHES: usize = 2;

/// A use of a value: an operand of an instruction, or an argument of one of
/// a jump's or brif's block calls.
#[derive(Clone, Copy)]
enum Use {
    Operand(Inst, usize),
    BranchArg(Inst, usize, usize),
}

fn value_args(func: &FunctionStencil, bc: BlockCall) -> Option<Vec<Value>> {
    func.dfg
        .block_call_args(bc)
        .iter()
        .map(|a| match a {
            BlockArg::Value(v) => Some(*v),
            _ => None,
        })
        .collect()
}

struct Candidate {
    header: Block,
    body: Block,
    exit: Block,
    latches: Vec<(Block, Inst)>,
}

/// What a header offers: a rotation, or first an exit edge to split (the
/// exit has other predecessors: a new block on the edge gets the header's
/// values as parameters instead; it runs once, when the loop ends).
enum Found {
    Rotate(Candidate),
    SplitExit(Block, Block),
}

/// Whether rotation may copy `inst` into a latch. Copying is tail
/// duplication (the copy runs exactly when the original would have), so
/// loads, stores and traps are fine; calls are not worth their size, and
/// instructions with value lists would share their list with the copy.
pub(crate) fn copyable(func: &FunctionStencil, inst: Inst) -> bool {
    use kiln_ir::InstructionFormat as F;
    let op = func.dfg.insts[inst].opcode();
    !op.is_call()
        && !op.is_terminator()
        && !matches!(
            op.format(),
            F::MultiAry | F::Call | F::CallIndirect | F::TryCall | F::TryCallIndirect
        )
}

fn candidate(func: &FunctionStencil, cfg: &Graph, dt: &Dom, h: Block) -> Option<Found> {
    // The terminator first: it is one load, and most blocks are not
    // headers ending in `brif` (this runs for every block on every round).
    let term = func.layout.last_inst(h)?;
    let InstructionData::Brif { blocks, .. } = func.dfg.insts[term] else {
        return None;
    };
    let is_latch =
        |p: &&BlockPredecessor| dt.is_reachable(p.block) && dt.block_dominates(h, p.block);
    let preds = cfg.preds(h);
    let n_latches = preds.iter().filter(is_latch).count();
    if n_latches == 0 || n_latches > MAX_LATCHES {
        return None;
    }
    let latches: Vec<(Block, Inst)> = preds
        .iter()
        .filter(is_latch)
        .map(|p| (p.block, p.inst))
        .collect();
    let mut n = 0;
    for inst in func.layout.block_insts(h) {
        if inst == term {
            break;
        }
        if !copyable(func, inst) {
            return None;
        }
        n += 1;
        if n > MAX_HEADER {
            return None;
        }
    }
    let (t, f) = (blocks[0].block, blocks[1].block);
    // The body successor is the one that reaches a latch: dominated by h
    // and dominating every latch.
    let in_loop = |b: Block| b != h && latches.iter().all(|&(l, _)| dt.block_dominates(b, l));
    let (body, exit) = match (in_loop(t), in_loop(f)) {
        (true, false) => (t, f),
        (false, true) => (f, t),
        _ => return None,
    };
    if body == exit || exit == h {
        return None;
    }
    let single_pred = |b: Block| cfg.preds(b).len() == 1 && cfg.preds(b)[0].block == h;
    // A body block with other predecessors would need a block on the edge
    // that every iteration then jumps through: not worth it.
    if !single_pred(body) {
        return None;
    }
    for &(l, inst) in &latches {
        if l == h || !matches!(func.dfg.insts[inst], InstructionData::Jump { .. }) {
            return None;
        }
    }
    if !single_pred(exit) {
        return Some(Found::SplitExit(h, exit));
    }
    Some(Found::Rotate(Candidate {
        header: h,
        body,
        exit,
        latches,
    }))
}

/// The control-flow graph during rotation, edited where a change touches
/// it instead of recomputed: a split changes one header's edge and adds a
/// block, a rotation turns each latch's `jump` into a `brif`, and nothing
/// else moves. A whole `ControlFlowGraph::compute` after each of these was
/// a third of the pass.
///
/// Every list is kept exactly as a fresh `ControlFlowGraph` would list it
/// (successors in branch-destination order; predecessors grouped by
/// predecessor block in layout order, each block's edges in destination
/// order), so the candidates, the reverse post-order and everything the
/// pass does follow the same order as before.
#[derive(Default)]
struct Graph {
    succs: Vec<SmallVec<[Block; 2]>>,
    preds: Vec<SmallVec<[BlockPredecessor; 2]>>,
    /// Position of each block in the layout, comparable: the blocks of the
    /// layout at the start are `1 << 32` apart, and a block inserted later
    /// takes the middle of the gap it lands in (a few splits per function).
    key: Vec<u64>,
}

impl Graph {
    /// Copies `cfg`, which describes `func`.
    fn load(&mut self, func: &FunctionStencil, cfg: &ControlFlowGraph) {
        let n = func.dfg.num_blocks();
        self.succs.clear();
        self.preds.clear();
        self.key.clear();
        self.succs.resize(n, SmallVec::new());
        self.preds.resize(n, SmallVec::new());
        self.key.resize(n, 0);
        for (i, b) in func.layout.blocks().take(n).enumerate() {
            if let Some(k) = self.key.get_mut(b.index()) {
                *k = (i as u64 + 1) << 32;
            }
        }
        for b in 0..n {
            let b = Block::new(b);
            self.succs[b.index()].extend_from_slice(cfg.succs(b));
            self.preds[b.index()].extend_from_slice(cfg.preds(b));
        }
    }

    fn succs(&self, b: Block) -> &[Block] {
        self.succs.get(b.index()).map_or(&[], |s| s.as_slice())
    }

    fn preds(&self, b: Block) -> &[BlockPredecessor] {
        self.preds.get(b.index()).map_or(&[], |p| p.as_slice())
    }

    /// Records `s`, just inserted into the layout, in the middle of the
    /// key gap between its layout neighbours.
    fn add_block(&mut self, func: &FunctionStencil, s: Block) {
        let n = func.dfg.num_blocks();
        if self.succs.len() < n {
            self.succs.resize(n, SmallVec::new());
            self.preds.resize(n, SmallVec::new());
            self.key.resize(n, 0);
        }
        let key = |b: Option<Block>| b.and_then(|b| self.key.get(b.index()).copied());
        let before = key(func.layout.prev_block(s)).unwrap_or(0);
        let after = key(func.layout.next_block(s)).unwrap_or(before + (1 << 33));
        self.key[s.index()] = before + (after - before) / 2;
    }

    /// Whether this lists exactly what a fresh `ControlFlowGraph` of `func`
    /// lists, in the same order (checked after every edit in unit tests).
    #[cfg(test)]
    fn matches(&self, func: &FunctionStencil) -> bool {
        let cfg = ControlFlowGraph::with_function(func);
        (0..func.dfg.num_blocks()).all(|b| {
            let b = Block::new(b);
            self.succs(b) == cfg.succs(b) && self.preds(b) == cfg.preds(b)
        })
    }

    /// Re-reads the edges leaving `b` from its terminator, as
    /// `ControlFlowGraph::compute` reads them.
    fn reedge(&mut self, func: &FunctionStencil, b: Block) {
        let n = self.succs.len();
        if b.index() >= n {
            return;
        }
        let old = std::mem::take(&mut self.succs[b.index()]);
        for &t in &old {
            self.preds[t.index()].retain(|p| p.block != b);
        }
        let mut new = old;
        new.clear();
        let Some(inst) = func.layout.last_inst(b) else {
            self.succs[b.index()] = new;
            return;
        };
        let kb = self.key[b.index()];
        for dest in func.dfg.branch_destinations(inst) {
            let t = dest.block;
            if t.index() >= n || !func.layout.is_block_inserted(t) {
                continue;
            }
            new.push(t);
            // After every edge from a block at or before `b` (an earlier
            // edge of `b` itself included), before the rest.
            let list = &mut self.preds[t.index()];
            let at = list
                .iter()
                .position(|p| self.key[p.block.index()] > kb)
                .unwrap_or(list.len());
            list.insert(at, BlockPredecessor { block: b, inst });
        }
        self.succs[b.index()] = new;
    }
}

/// Rotations per function at most: each recomputes the reverse post-order
/// and rescans for candidates (linear), so this bounds the pass's cost.
const MAX_ROTATIONS: usize = 8;

/// Dominance during rotation, without recomputing the dominator tree.
///
/// Rotating a loop never changes which block dominates which: the latches'
/// new edges go to `body` and `exit`, whose only predecessor was `h`, and
/// every path to a latch already runs through `h`, `body` and `h`'s
/// dominators (so `idom(body) = idom(exit) = h` stays, and `h` keeps its
/// dominator through its outside predecessors). Splitting an exit edge adds
/// a block `s` whose only predecessor is `h`: `s` dominates only itself
/// while `exit` keeps a predecessor reached without passing `s` (checked
/// before a split; otherwise the tree is recomputed), and `s` is dominated by what
/// dominates `h`. So the tree computed before the first change, plus the
/// list of split blocks, answers every query as a fresh tree would.
struct Dom<'a> {
    dt: &'a DominatorTree,
    /// (split block, the header whose edge it splits).
    splits: &'a [(Block, Block)],
}

impl Dom<'_> {
    fn split_header(&self, b: Block) -> Option<Block> {
        self.splits.iter().find(|&&(s, _)| s == b).map(|&(_, h)| h)
    }
    fn is_reachable(&self, b: Block) -> bool {
        self.split_header(b).is_some() || self.dt.is_reachable(b)
    }
    fn block_dominates(&self, a: Block, b: Block) -> bool {
        if a == b {
            return true;
        }
        if self.split_header(a).is_some() {
            return false;
        }
        match self.split_header(b) {
            Some(h) => a == h || self.dt.block_dominates(a, h),
            None => self.dt.block_dominates(a, b),
        }
    }
}

/// The reverse post-order of the reachable blocks, by the same depth-first
/// walk as `DominatorTree::compute` (successors in `cfg` order), so the
/// candidates are tried in the order a recomputed tree would list them.
fn compute_rpo(
    func: &FunctionStencil,
    cfg: &Graph,
    rpo: &mut Vec<Block>,
    seen: &mut Vec<bool>,
    stack: &mut Vec<(Block, u32)>,
) {
    rpo.clear();
    stack.clear();
    seen.clear();
    let n = func.dfg.num_blocks();
    seen.resize(n, false);
    let Some(entry) = func.layout.entry_block() else {
        return;
    };
    if entry.index() >= n {
        return;
    }
    seen[entry.index()] = true;
    stack.push((entry, 0));
    while let Some(top) = stack.last_mut() {
        let (block, next) = *top;
        if let Some(&succ) = cfg.succs(block).get(next as usize) {
            top.1 += 1;
            if let Some(mark) = seen.get_mut(succ.index()) {
                if !*mark {
                    *mark = true;
                    stack.push((succ, 0));
                }
            }
        } else {
            stack.pop();
            rpo.push(block);
        }
    }
    rpo.reverse();
}

/// Rotation's buffers, kept between functions (see `Analyses`); their
/// contents do not carry over (`slot` is all zero between uses).
#[derive(Default)]
pub(crate) struct RotateScratch {
    graph: Graph,
    tried: Vec<Block>,
    splits: Vec<(Block, Block)>,
    rpo: Vec<Block>,
    seen: Vec<bool>,
    stack: Vec<(Block, u32)>,
    slot: Vec<u32>,
    maybe: Vec<bool>,
}

/// `an` must describe `func` on entry; it is stale afterwards.
pub(crate) fn run(func: &mut FunctionStencil, stats: &mut OptStats, an: &mut Analyses) {
    let mut sc = std::mem::take(&mut an.rotate);
    run_with(func, stats, an, &mut sc);
    an.rotate = sc;
}

fn run_with(
    func: &mut FunctionStencil,
    stats: &mut OptStats,
    an: &mut Analyses,
    sc: &mut RotateScratch,
) {
    let RotateScratch {
        graph,
        tried,
        splits,
        rpo,
        seen,
        stack,
        slot,
        maybe,
    } = sc;
    tried.clear();
    splits.clear();
    rpo.clear();
    rpo.extend_from_slice(an.dt.cfg_rpo());
    graph.load(func, &an.cfg);
    // The blocks that may be candidates: those with a predecessor they
    // dominate (a latch), which `candidate` requires. A block gains a
    // latch only by gaining a predecessor edge (splitting an edge or
    // rotating a loop changes no dominance among the other blocks), and
    // only a rotation's body and exit and a split's exit gain one: they
    // join the set then. Other blocks are not offered to `candidate`.
    maybe.clear();
    maybe.resize(func.dfg.num_blocks(), false);
    for &b in rpo.iter() {
        maybe[b.index()] = graph
            .preds(b)
            .iter()
            .any(|p| an.dt.is_reachable(p.block) && an.dt.block_dominates(b, p.block));
    }
    let mark = |maybe: &mut Vec<bool>, b: Block| {
        if maybe.len() <= b.index() {
            maybe.resize(b.index() + 1, false);
        }
        maybe[b.index()] = true;
    };
    // Whether the tree must be recomputed (after a split that may have
    // changed dominance): it needs a whole `ControlFlowGraph`.
    let mut recompute_tree = false;
    let mut changed = false;
    // Whether an edit may have changed the reverse post-order (see the
    // rotation below for the edit that cannot).
    let mut rpo_stale = false;
    // Each rotation may need one split first.
    for _ in 0..2 * MAX_ROTATIONS {
        if changed {
            // Nothing left to try: the search below would find nothing in
            // any order, so the order need not be recomputed.
            let left = (0..maybe.len()).any(|i| maybe[i] && !tried.contains(&Block::new(i)));
            if !left {
                return;
            }
            if recompute_tree {
                an.compute(func);
                graph.load(func, &an.cfg);
                rpo.clear();
                rpo.extend_from_slice(an.dt.cfg_rpo());
                splits.clear();
                recompute_tree = false;
                rpo_stale = false;
            } else if rpo_stale {
                compute_rpo(func, graph, rpo, seen, stack);
                rpo_stale = false;
            } else {
                #[cfg(test)]
                {
                    let mut fresh = Vec::new();
                    compute_rpo(func, graph, &mut fresh, seen, stack);
                    assert_eq!(&fresh, rpo, "rotation kept a stale order");
                    tests::KEPT_ORDERS.with(|n| n.set(n.get() + 1));
                }
            }
        }
        let dom = Dom { dt: &an.dt, splits };
        let Some(found) = rpo
            .iter()
            .filter(|h| {
                let m = maybe.get(h.index()).copied().unwrap_or(false);
                #[cfg(test)]
                assert!(
                    m || candidate(func, graph, &dom, **h).is_none(),
                    "{h} became a candidate unseen"
                );
                m && !tried.contains(h)
            })
            .find_map(|&h| candidate(func, graph, &dom, h))
        else {
            return;
        };
        let c = match found {
            Found::Rotate(c) => c,
            Found::SplitExit(h, exit) => {
                // The new block dominates `exit` (and the tree changes)
                // unless `exit` has a predecessor reached without it: one
                // that `exit` does not dominate.
                let bypassed = graph.preds(exit).iter().any(|p| {
                    p.block != h && dom.is_reachable(p.block) && !dom.block_dominates(exit, p.block)
                });
                match split_exit(func, h, exit) {
                    Some(s) => {
                        mark(maybe, exit);
                        splits.push((s, h));
                        recompute_tree |= !bypassed;
                        rpo_stale = true;
                        graph.add_block(func, s);
                        graph.reedge(func, h);
                        graph.reedge(func, s);
                        #[cfg(test)]
                        check_graph(graph, func);
                        changed = true;
                    }
                    None => tried.push(h),
                }
                continue;
            }
        };
        tried.push(c.header);
        mark(maybe, c.body);
        mark(maybe, c.exit);
        // A rotated latch gets edges to `h`'s two successors in `h`'s
        // order. When the exit comes first, the depth-first walk finishes
        // the exit from `h` before it enters the body, and the latch (which
        // the body dominates) is reached after both: its new edges lead
        // only to blocks already seen, as its old edge to `h` did, so the
        // walk and the order stay as they were. With the body first, the
        // exit is reached from the latch now: recompute.
        if graph.succs(c.header).first() != Some(&c.exit) {
            rpo_stale = true;
        }
        if rotate(func, &dom, &c, slot) {
            stats.rotated += 1;
        }
        // `rotate` may have returned after changing some latches: their
        // edges are read again either way (the header's targets stay).
        for &(l, _) in &c.latches {
            graph.reedge(func, l);
        }
        #[cfg(test)]
        check_graph(graph, func);
        changed = true;
    }
}

/// Puts a new block on the edge from `h`'s `brif` to `exit`: the brif goes
/// to it without arguments, and it jumps to `exit` with the edge's
/// arguments (values `h` dominates, so the new block may use them).
fn split_exit(func: &mut FunctionStencil, h: Block, exit: Block) -> Option<Block> {
    let term = func.layout.last_inst(h)?;
    let InstructionData::Brif {
        opcode,
        arg,
        mut blocks,
    } = func.dfg.insts[term]
    else {
        return None;
    };
    let k = blocks.iter().position(|bc| bc.block == exit)?;
    let s = func.dfg.make_block();
    if !func.layout.insert_block_after(s, h) {
        return None;
    }
    let jump = func.dfg.make_inst(InstructionData::Jump {
        opcode: Opcode::Jump,
        destination: blocks[k],
    });
    func.dfg.make_inst_results(jump, kiln_ir::Type::INVALID);
    func.layout.append_inst(jump, s);
    blocks[k] = func.dfg.block_call(s, &[]);
    func.dfg.insts[term] = InstructionData::Brif {
        opcode,
        arg,
        blocks,
    };
    Some(s)
}

/// The uses of `values` (operands and jump/brif arguments), by position in
/// `values`; a value also used by another kind of branch argument gets
/// `None`, and loops whose header values are used there are left alone.
/// One scan of the blocks `h` dominates; `slot` maps a value's number to its position
/// + 1 (all zero between calls, so only the asked values are touched).
fn collect_uses(
    func: &FunctionStencil,
    dt: &Dom,
    h: Block,
    values: &[Value],
    slot: &mut Vec<u32>,
) -> Vec<Option<Vec<Use>>> {
    if slot.len() < func.dfg.num_values() {
        slot.resize(func.dfg.num_values(), 0);
    }
    for (i, v) in values.iter().enumerate() {
        slot[v.index()] = i as u32 + 1;
    }
    let mut uses: Vec<Option<Vec<Use>>> = values.iter().map(|_| Some(Vec::new())).collect();
    let pos = |v: Value| match slot.get(v.index()) {
        Some(&s) if s != 0 => Some(s as usize - 1),
        _ => None,
    };
    for b in func.layout.blocks() {
        // A value of `h` is used only where `h` dominates (SSA; branch
        // arguments sit in their predecessor block, which `h` dominates
        // too), so other reachable blocks need no scan. This scan ran over
        // the whole function once per rotation.
        if dt.is_reachable(b) && !dt.block_dominates(h, b) {
            continue;
        }
        for inst in func.layout.block_insts(b) {
            // One look at the instruction decides both its operands and
            // whether it has block calls (most have none).
            let data = &func.dfg.insts[inst];
            for (i, &a) in data.arguments(&func.dfg.value_lists).iter().enumerate() {
                if let Some(Some(u)) = pos(a).map(|p| &mut uses[p]) {
                    u.push(Use::Operand(inst, i));
                }
            }
            let plain = match data {
                InstructionData::Jump { .. } | InstructionData::Brif { .. } => true,
                // The formats `branch_destinations` lists destinations for.
                InstructionData::BranchTable { .. }
                | InstructionData::TryCall { .. }
                | InstructionData::TryCallIndirect { .. } => false,
                _ => continue,
            };
            for (d, bc) in func.dfg.branch_destinations(inst).iter().enumerate() {
                for (k, a) in func.dfg.block_call_args(*bc).iter().enumerate() {
                    if let BlockArg::Value(v) = a {
                        match (plain, pos(*v).map(|p| &mut uses[p])) {
                            (true, Some(Some(u))) => u.push(Use::BranchArg(inst, d, k)),
                            (false, Some(e)) => *e = None,
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    for v in values {
        slot[v.index()] = 0;
    }
    uses
}

/// The block calls of a jump or brif, mutably.
fn calls_mut(data: &mut InstructionData) -> &mut [BlockCall] {
    match data {
        InstructionData::Jump { destination, .. } => std::slice::from_mut(destination),
        InstructionData::Brif { blocks, .. } => blocks,
        _ => &mut [],
    }
}

fn rotate(func: &mut FunctionStencil, dt: &Dom, c: &Candidate, slot: &mut Vec<u32>) -> bool {
    let h = c.header;
    let term = func
        .layout
        .last_inst(h)
        .expect("candidate header has a terminator");
    // Values of h (parameters and results) used outside h.
    let mut defined: Vec<Value> = func.dfg.block_params(h).to_vec();
    let body_insts: Vec<Inst> = func.layout.block_insts(h).filter(|&i| i != term).collect();
    for &i in &body_insts {
        defined.extend_from_slice(func.dfg.inst_results(i));
    }
    let uses = collect_uses(func, dt, h, &defined, slot);
    let mut to_body: Vec<(Value, Vec<Use>)> = Vec::new();
    let mut to_exit: Vec<(Value, Vec<Use>)> = Vec::new();
    for (&v, list) in defined.iter().zip(&uses) {
        let Some(list) = list else {
            return false; // used by a br_table or try_call argument
        };
        let (mut in_body, mut in_exit) = (Vec::new(), Vec::new());
        for u in list {
            let inst = match *u {
                Use::Operand(i, _) | Use::BranchArg(i, _, _) => i,
            };
            let Some(b) = func.layout.inst_block(inst) else {
                continue;
            };
            if b == h {
                continue;
            }
            if dt.block_dominates(c.body, b) {
                in_body.push(*u);
            } else if dt.block_dominates(c.exit, b) {
                in_exit.push(*u);
            } else {
                return false; // cannot happen with single-predecessor successors
            }
        }
        if !in_body.is_empty() {
            to_body.push((v, in_body));
        }
        if !in_exit.is_empty() {
            to_exit.push((v, in_exit));
        }
    }
    // New parameters of body and exit stand for h's values there.
    let rename = |func: &mut FunctionStencil, block: Block, list: &[(Value, Vec<Use>)]| {
        let mut params = Vec::new();
        for (v, us) in list {
            let ty = func.dfg.value_type(*v);
            let p = func.dfg.append_block_param(block, ty);
            params.push(p);
            for u in us {
                match *u {
                    Use::Operand(inst, i) => {
                        let mut data = func.dfg.insts[inst];
                        let mut pool = std::mem::take(&mut func.dfg.value_lists);
                        data.arguments_mut(&mut pool)[i] = p;
                        func.dfg.value_lists = pool;
                        func.dfg.insts[inst] = data;
                    }
                    Use::BranchArg(inst, d, k) => {
                        let mut data = func.dfg.insts[inst];
                        let bc = calls_mut(&mut data)[d];
                        func.dfg.block_args.get_mut(bc.args)[k] = BlockArg::Value(p);
                    }
                }
            }
        }
        params
    };
    rename(func, c.body, &to_body);
    rename(func, c.exit, &to_exit);
    // h's brif passes its values to the new parameters.
    let extend = |func: &mut FunctionStencil, bc: BlockCall, map: &dyn Fn(Value) -> Value| {
        let mut args: Vec<BlockArg> = func.dfg.block_call_args(bc).to_vec();
        for a in &mut args {
            if let BlockArg::Value(v) = a {
                *v = map(*v);
            }
        }
        let list = if bc.block == c.body {
            &to_body
        } else {
            &to_exit
        };
        args.extend(list.iter().map(|(v, _)| BlockArg::Value(map(*v))));
        func.dfg.block_call(bc.block, &args)
    };
    let InstructionData::Brif {
        opcode,
        arg: cond,
        blocks,
    } = func.dfg.insts[term]
    else {
        return false;
    };
    let new_blocks = [
        extend(func, blocks[0], &|v| v),
        extend(func, blocks[1], &|v| v),
    ];
    func.dfg.insts[term] = InstructionData::Brif {
        opcode,
        arg: cond,
        blocks: new_blocks,
    };
    // Each latch: a copy of h's instructions, then the copied test.
    let params: Vec<Value> = func.dfg.block_params(h).to_vec();
    for &(_, jump) in &c.latches {
        let InstructionData::Jump { destination, .. } = func.dfg.insts[jump] else {
            continue;
        };
        let Some(args) = value_args(func, destination) else {
            continue;
        };
        let mut map: FxHashMap<Value, Value> = params.iter().copied().zip(args).collect();
        for &i in &body_insts {
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
            func.layout.insert_inst_before(copy, jump);
            let loc = func.rel_srcloc(i);
            func.srclocs.set(copy, loc);
            let olds: Vec<Value> = func.dfg.inst_results(i).to_vec();
            let news: Vec<Value> = func.dfg.inst_results(copy).to_vec();
            map.extend(olds.into_iter().zip(news));
        }
        let m = |v: Value| map.get(&v).copied().unwrap_or(v);
        let new_blocks = [extend(func, blocks[0], &m), extend(func, blocks[1], &m)];
        func.dfg.insts[jump] = InstructionData::Brif {
            opcode: Opcode::Brif,
            arg: m(cond),
            blocks: new_blocks,
        };
    }
    true
}

/// Unit tests: the edited graph against a fresh one after every edit.
#[cfg(test)]
fn check_graph(graph: &Graph, func: &FunctionStencil) {
    tests::EDITS.with(|n| n.set(n.get() + 1));
    assert!(
        graph.matches(func),
        "rotation's CFG differs from a fresh one"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::path::{Path, PathBuf};

    thread_local! {
        /// Graph edits checked on this thread.
        pub(super) static EDITS: Cell<usize> = const { Cell::new(0) };
        /// Rounds that kept the reverse post-order, checked against a
        /// fresh one.
        pub(super) static KEPT_ORDERS: Cell<usize> = const { Cell::new(0) };
    }

    fn clif_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                clif_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "clif") {
                out.push(p);
            }
        }
    }

    /// Every split and rotation over the rotation tests and, when the
    /// shared corpus sits beside the checkout, kernels-wasm and the wasm
    /// corpus: `check_graph` compares the edited graph with a fresh one
    /// after each edit.
    #[test]
    fn edited_graph_matches_a_fresh_one() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = vec![root.join("cranelift-like-ir/optimize/rotate.clif")];
        let shared = root.join("../shared/clif");
        if shared.is_dir() {
            clif_files(&shared.join("kernels-wasm"), &mut files);
            clif_files(&shared.join("wasm-corpus"), &mut files);
        } else {
            eprintln!("SKIP the shared corpus: {} not found", shared.display());
        }
        let mut rotated = 0;
        for path in &files {
            let text = std::fs::read_to_string(path).expect("readable");
            let Ok(file) = kiln_reader::parse_test(&text, &path.to_string_lossy()) else {
                continue;
            };
            for f in &file.functions {
                let (_, stats) = crate::optimized(&f.func.stencil, &crate::OptOptions::default());
                rotated += stats.rotated;
            }
        }
        let edits = EDITS.with(|n| n.get());
        let kept = KEPT_ORDERS.with(|n| n.get());
        eprintln!("{rotated} rotations, {edits} edits, {kept} kept orders checked");
        assert!(
            rotated > 0 && edits >= rotated as usize,
            "{rotated} rotations, {edits} edits"
        );
    }

    /// The check can fail: a split the graph is not told about.
    #[test]
    fn a_stale_graph_is_caught() {
        let text = "function %f(i32) -> i32 {
block0(v0: i32):
    brif v0, block1, block2
block1:
    jump block2
block2:
    return v0
}
";
        let mut f = kiln_reader::parse_functions(text)
            .expect("parses")
            .remove(0);
        let func = &mut f.stencil;
        let mut graph = Graph::default();
        graph.load(func, &ControlFlowGraph::with_function(func));
        assert!(graph.matches(func));
        let s = split_exit(func, Block::new(0), Block::new(2)).expect("splits");
        assert!(!graph.matches(func));
        graph.add_block(func, s);
        graph.reedge(func, Block::new(0));
        graph.reedge(func, s);
        assert!(graph.matches(func));
    }
}
