//! The order in which a function's blocks are lowered and emitted, with
//! critical edges split.
//!
//! regalloc2 needs a CFG without critical edges (an edge from a block with
//! several successors to a block with several predecessors): the moves for
//! block arguments on such an edge would have nowhere to go. This module
//! takes the IR's CFG in an abstract form (block count, entry, successors of
//! each block in branch order) and produces the lowered block sequence:
//!
//! - every IR block reachable from the entry, once;
//! - one new block on each critical edge (from a reachable block), which the
//!   lowering fills with just a jump carrying the edge's block arguments;
//! - in reverse postorder of the resulting graph (entry first; a block comes
//!   after all its forward-edge predecessors), so that lowering can walk it
//!   backward and see uses before defs;
//! - with the block of a split back edge (a loop's latch edge, run on every
//!   iteration) right after its source, so that the hot path falls through
//!   into it rather than jumping to a block after the rest of the function
//!   and back. A forward edge's block comes right before its target when
//!   the DFS reaches the target through it (its jump then falls through).
//!
//! Parallel edges (a conditional branch with both targets the same block)
//! count as separate edges: each is critical and gets its own block.
//! Unreachable IR blocks are left out (regalloc2 rejects them).
//!
//! Lowered block `i` becomes VCode block `i`.

use super::vcode::{BlockIndex, Ranges};

/// One block of the lowered function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoweredBlock {
    /// The IR block with this index.
    Orig { block: u32 },
    /// A new block on the critical edge `pred -> succ`, which is the
    /// `succ_idx`-th target of `pred`'s terminator (IR block indices).
    CriticalEdge { pred: u32, succ: u32, succ_idx: u32 },
}

/// The lowering order of a function's blocks; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct BlockLoweringOrder {
    blocks: Vec<LoweredBlock>,
    succs: Vec<BlockIndex>,
    succ_ranges: Ranges,
    /// IR block index -> lowered index, `u32::MAX` if unreachable.
    orig_map: Vec<u32>,
    /// IR block index -> its number of incoming edges from reachable
    /// blocks (a terminator naming it twice counts twice).
    npreds: Vec<u32>,
    /// The working lists of the computation, kept for the next function
    /// (see [`BlockLoweringOrder::recompute`]).
    tmp: OrderTemps,
}

/// The working lists of one order computation; only their allocations
/// outlive it.
#[derive(Clone, Debug, Default)]
struct OrderTemps {
    flat: Vec<u32>,
    edge_src: Vec<u32>,
    edge_ranges: Ranges,
    reachable: Vec<bool>,
    stack: Vec<u32>,
    visited: Vec<bool>,
    on_stack: Vec<bool>,
    postorder: Vec<usize>,
    held: Vec<(usize, usize)>,
    dfs: Vec<(usize, usize)>,
    lowered_of_node: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl BlockLoweringOrder {
    /// Computes the order for a CFG of `num_blocks` IR blocks, entered at
    /// `entry`, where `succs(b)` lists block `b`'s successors in the order of
    /// its terminator's targets. Successor indices out of range are ignored
    /// (the verifier rejects such functions earlier).
    pub fn new<S: AsRef<[u32]>>(num_blocks: usize, entry: u32, succs: impl Fn(u32) -> S) -> Self {
        let mut order = BlockLoweringOrder::default();
        order.recompute(num_blocks, entry, |b, out| {
            out.extend_from_slice(succs(b).as_ref())
        });
        order
    }

    /// [`BlockLoweringOrder::new`] in place, reusing this order's
    /// allocations (lowering keeps one per thread): `succs(b, out)`
    /// appends block `b`'s successors to `out`.
    pub fn recompute(
        &mut self,
        num_blocks: usize,
        entry: u32,
        mut succs: impl FnMut(u32, &mut Vec<u32>),
    ) {
        let order = self;
        order.blocks.clear();
        order.succs.clear();
        order.succ_ranges.clear();
        order.orig_map.clear();
        order.npreds.clear();
        if (entry as usize) >= num_blocks {
            return;
        }
        let OrderTemps {
            flat,
            edge_src,
            edge_ranges,
            reachable,
            stack,
            visited,
            on_stack,
            postorder,
            held,
            dfs,
            lowered_of_node,
        } = &mut order.tmp;
        // Flatten the CFG: edge e = edge_ranges[b] + k targets flat[e].
        flat.clear();
        edge_src.clear();
        edge_ranges.clear();
        for b in 0..num_blocks as u32 {
            let start = flat.len();
            succs(b, flat);
            // Out-of-range targets are dropped, keeping the order.
            let mut kept = start;
            for i in start..flat.len() {
                if (flat[i] as usize) < num_blocks {
                    flat[kept] = flat[i];
                    kept += 1;
                }
            }
            flat.truncate(kept);
            edge_src.resize(flat.len(), b);
            edge_ranges.push_end(flat.len());
        }
        let flat = &*flat;
        let edge_ranges = &*edge_ranges;

        // Reachability, then predecessor counts over reachable sources only.
        reachable.clear();
        reachable.resize(num_blocks, false);
        stack.clear();
        stack.push(entry);
        reachable[entry as usize] = true;
        while let Some(b) = stack.pop() {
            for &s in &flat[edge_ranges.get(b as usize)] {
                if !reachable[s as usize] {
                    reachable[s as usize] = true;
                    stack.push(s);
                }
            }
        }
        let npreds = &mut order.npreds;
        npreds.clear();
        npreds.resize(num_blocks, 0);
        for b in (0..num_blocks).filter(|&b| reachable[b]) {
            for &s in &flat[edge_ranges.get(b)] {
                npreds[s as usize] += 1;
            }
        }
        let npreds = &*npreds;
        let critical = |b: usize, e: usize| -> bool {
            edge_ranges.get(b).len() > 1 && npreds[flat[e] as usize] > 1
        };

        // Nodes of the expanded graph: IR block b is node b; the edge block
        // of critical edge e is node num_blocks + e. Iterative DFS for the
        // postorder.
        let num_nodes = num_blocks + flat.len();
        // The k-th successor of a node, if it has that many.
        let node_succ = |node: usize, k: usize| -> Option<usize> {
            if node < num_blocks {
                let edges = edge_ranges.get(node);
                let e = edges.start + k;
                (e < edges.end).then(|| {
                    if critical(node, e) {
                        num_blocks + e
                    } else {
                        flat[e] as usize
                    }
                })
            } else {
                (k == 0).then(|| flat[node - num_blocks] as usize)
            }
        };
        visited.clear();
        visited.resize(num_nodes, false);
        // IR blocks whose DFS visit has started and not finished: an edge
        // into one of them is a back edge.
        on_stack.clear();
        on_stack.resize(num_blocks, false);
        postorder.clear();
        // Edge blocks of back edges, held until their source finishes, so
        // that each lands right after its source in the order (see below).
        held.clear();
        // (node, index of the next successor to visit)
        dfs.clear();
        dfs.push((entry as usize, 0));
        visited[entry as usize] = true;
        on_stack[entry as usize] = true;
        while let Some((node, next)) = dfs.last_mut() {
            let node = *node;
            match node_succ(node, *next) {
                Some(s) => {
                    *next += 1;
                    if visited[s] {
                        continue;
                    }
                    visited[s] = true;
                    if s >= num_blocks && on_stack[flat[s - num_blocks] as usize] {
                        // The split block of a back edge (the loop's latch
                        // edge, taken on every iteration) has no unvisited
                        // successor. Visited now, it would finish first and
                        // land after everything the source reaches later: a
                        // taken branch to a far block and a jump back. Held
                        // until the source finishes, it follows the source
                        // directly, so the source's branch falls through
                        // into it (and, when the edge needs no moves, the
                        // buffer's jump threading leaves one conditional
                        // branch to the loop header). Finishing a leaf later
                        // is still a DFS postorder, only with this successor
                        // visited last.
                        held.push((node, s));
                    } else {
                        if s < num_blocks {
                            on_stack[s] = true;
                        }
                        dfs.push((s, 0));
                    }
                }
                None => {
                    // The held blocks were pushed in successor order; popped
                    // into the postorder they come out in successor order in
                    // the reverse postorder.
                    while held.last().is_some_and(|&(src, _)| src == node) {
                        let (_, e) = held.pop().expect("checked above");
                        postorder.push(e);
                    }
                    postorder.push(node);
                    if node < num_blocks {
                        on_stack[node] = false;
                    }
                    dfs.pop();
                }
            }
        }

        // Reverse postorder is the lowering order.
        lowered_of_node.clear();
        lowered_of_node.resize(num_nodes, NONE);
        order.blocks.reserve(postorder.len());
        order.succs.reserve(flat.len());
        for (i, &node) in postorder.iter().rev().enumerate() {
            lowered_of_node[node] = i as u32;
            order.blocks.push(if node < num_blocks {
                LoweredBlock::Orig { block: node as u32 }
            } else {
                let e = node - num_blocks;
                let pred = edge_src[e];
                LoweredBlock::CriticalEdge {
                    pred,
                    succ: flat[e],
                    succ_idx: (e - edge_ranges.get(pred as usize).start) as u32,
                }
            });
        }
        order
            .orig_map
            .extend_from_slice(&lowered_of_node[..num_blocks]);
        for &node in postorder.iter().rev() {
            let mut k = 0;
            while let Some(succ) = node_succ(node, k) {
                order
                    .succs
                    .push(BlockIndex::new(lowered_of_node[succ] as usize));
                k += 1;
            }
            order.succ_ranges.push_end(order.succs.len());
        }
    }

    /// The lowered blocks, in order; lowered block `i` is VCode block `i`.
    pub fn lowered_order(&self) -> &[LoweredBlock] {
        &self.blocks
    }

    /// The successors of lowered block `block`, in its terminator's order
    /// (a critical edge's target is replaced by the edge's block).
    pub fn succ_indices(&self, block: BlockIndex) -> &[BlockIndex] {
        &self.succs[self.succ_ranges.get(block.index())]
    }

    /// Where `block`'s successor edges start in the flat list of all edges
    /// (edge `k` of `block` is number `succ_edge_base(block) + k`).
    pub fn succ_edge_base(&self, block: BlockIndex) -> usize {
        self.succ_ranges.get(block.index()).start
    }

    /// The number of successor edges over all blocks.
    pub fn num_succ_edges(&self) -> usize {
        self.succs.len()
    }

    /// Whether IR block `block` is entered by exactly one edge (so its
    /// parameters are just the values that edge passes).
    pub fn has_single_pred(&self, block: u32) -> bool {
        self.npreds.get(block as usize) == Some(&1)
    }

    /// The lowered index of IR block `block`, or `None` if it is
    /// unreachable (and so not lowered).
    pub fn lowered_index_for_block(&self, block: u32) -> Option<BlockIndex> {
        match self.orig_map.get(block as usize) {
            Some(&i) if i != NONE => Some(BlockIndex::new(i as usize)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(n: usize, cfg: &[&[u32]]) -> BlockLoweringOrder {
        BlockLoweringOrder::new(n, 0, |b| cfg[b as usize].to_vec())
    }

    /// Checks the invariants: entry first, no critical edges, successors
    /// consistent with the IR CFG.
    fn check(o: &BlockLoweringOrder, cfg: &[&[u32]]) {
        let n = o.lowered_order().len();
        assert_eq!(o.lowered_order()[0], LoweredBlock::Orig { block: 0 });
        let mut npreds = vec![0; n];
        for b in 0..n {
            for s in o.succ_indices(BlockIndex::new(b)) {
                npreds[s.index()] += 1;
            }
        }
        for b in 0..n {
            let succs = o.succ_indices(BlockIndex::new(b));
            if succs.len() > 1 {
                assert!(
                    succs.iter().all(|s| npreds[s.index()] == 1),
                    "critical edge left"
                );
            }
            match o.lowered_order()[b] {
                LoweredBlock::Orig { block } => {
                    let ir = cfg[block as usize];
                    assert_eq!(succs.len(), ir.len());
                    for (k, s) in succs.iter().enumerate() {
                        let target = match o.lowered_order()[s.index()] {
                            LoweredBlock::Orig { block } => block,
                            LoweredBlock::CriticalEdge {
                                pred,
                                succ,
                                succ_idx,
                            } => {
                                assert_eq!((pred, succ_idx as usize), (block, k));
                                succ
                            }
                        };
                        assert_eq!(target, ir[k]);
                    }
                }
                LoweredBlock::CriticalEdge { succ, .. } => {
                    assert_eq!(succs, &[o.lowered_index_for_block(succ).unwrap()]);
                }
            }
        }
    }

    #[test]
    fn splits_critical_edges_in_rpo() {
        // 0 -> 1, 2; 1 -> 2. Edge 0->2 is critical.
        let cfg: &[&[u32]] = &[&[1, 2], &[2], &[]];
        let o = order(3, cfg);
        check(&o, cfg);
        assert_eq!(o.lowered_order().len(), 4);
        assert!(o.lowered_order().contains(&LoweredBlock::CriticalEdge {
            pred: 0,
            succ: 2,
            succ_idx: 1
        }));
        // Block 2 comes after both paths into it.
        let b2 = o.lowered_index_for_block(2).unwrap().index();
        assert_eq!(b2, 3);
    }

    #[test]
    fn back_edge_block_follows_its_source() {
        // 0 -> 1; 1 -> 1 (back edge, critical), 2; 2 -> 4, 3; 3 -> 4; 4 ->
        // ret. Visited first, the back edge's block would land after 2, 3
        // and 4; held, it comes right after block 1.
        let cfg: &[&[u32]] = &[&[1], &[1, 2], &[4, 3], &[4], &[]];
        let o = order(5, cfg);
        check(&o, cfg);
        let b1 = o.lowered_index_for_block(1).unwrap().index();
        assert_eq!(
            o.lowered_order()[b1 + 1],
            LoweredBlock::CriticalEdge {
                pred: 1,
                succ: 1,
                succ_idx: 0
            }
        );
        // The forward critical edge 2 -> 4 keeps its place right before its
        // target.
        let b4 = o.lowered_index_for_block(4).unwrap().index();
        assert_eq!(
            o.lowered_order()[b4 - 1],
            LoweredBlock::CriticalEdge {
                pred: 2,
                succ: 4,
                succ_idx: 0
            }
        );
        // A latch that is the second target, and two back edges (to the
        // inner and the outer header) from one block: both follow it, in
        // branch order. 0 -> 1; 1 -> 2; 2 -> 3, 2; 3 -> 1, 4, 1 (br_table
        // shape: parallel back edges); 4 -> ret.
        let cfg: &[&[u32]] = &[&[1], &[2], &[3, 2], &[1, 4, 1], &[]];
        let o = order(5, cfg);
        check(&o, cfg);
        let b2 = o.lowered_index_for_block(2).unwrap().index();
        assert_eq!(
            o.lowered_order()[b2 + 1],
            LoweredBlock::CriticalEdge {
                pred: 2,
                succ: 2,
                succ_idx: 1
            }
        );
        let b3 = o.lowered_index_for_block(3).unwrap().index();
        let after: Vec<_> = o.lowered_order()[b3 + 1..b3 + 3].to_vec();
        assert_eq!(
            after,
            [
                LoweredBlock::CriticalEdge {
                    pred: 3,
                    succ: 1,
                    succ_idx: 0
                },
                LoweredBlock::CriticalEdge {
                    pred: 3,
                    succ: 1,
                    succ_idx: 2
                }
            ]
        );
    }

    #[test]
    fn loops_parallel_edges_and_unreachable_blocks() {
        // 0 -> 1; 1 -> 1, 2 (loop back edge is critical: 1 has two preds);
        // 2 -> 3, 3 (parallel edges, both critical); 3 -> ret; 4 unreachable
        // and jumps to 3 (must not count as a pred).
        let cfg: &[&[u32]] = &[&[1], &[1, 2], &[3, 3], &[], &[3]];
        let o = order(5, cfg);
        check(&o, cfg);
        assert_eq!(o.lowered_index_for_block(4), None);
        let edges = o
            .lowered_order()
            .iter()
            .filter(|b| matches!(b, LoweredBlock::CriticalEdge { .. }))
            .count();
        assert_eq!(edges, 3);
        // A diamond without critical edges is left alone.
        let cfg: &[&[u32]] = &[&[1, 2], &[3], &[3], &[]];
        let o = order(4, cfg);
        check(&o, cfg);
        assert_eq!(o.lowered_order().len(), 4);
        // Bad entry: empty order, no panic; out-of-range successors ignored.
        assert!(BlockLoweringOrder::new(0, 0, |_| Vec::new())
            .lowered_order()
            .is_empty());
        let o = BlockLoweringOrder::new(1, 0, |_| vec![7]);
        assert_eq!(o.lowered_order().len(), 1);
    }
}
