//! Dominator tree of the blocks reachable from the entry block.
//!
//! Computed with the iterative algorithm of Cooper, Harvey and Kennedy ("A
//! Simple, Fast Dominance Algorithm"): number the reachable blocks in reverse
//! post-order (RPO), then repeatedly set each block's immediate dominator to
//! the intersection of its already-processed predecessors' dominators until
//! nothing changes. Intersection walks up the tree comparing RPO numbers.
//!
//! Blocks that are not reachable from the entry have no RPO number and no
//! immediate dominator; `dominates` is false whenever either side is
//! unreachable (except a block trivially dominating itself).
//!
//! All tables are dense vectors indexed by block number and reused by
//! `compute`.

use crate::entities::{Block, Inst};
use crate::entity::{EntityRef, PackedOption};
use crate::flowgraph::ControlFlowGraph;
use crate::function::FunctionStencil;
use crate::layout::Layout;

/// RPO number meaning "not reachable".
const UNREACHABLE: u32 = 0;

#[derive(Clone, Debug, Default)]
pub struct DominatorTree {
    /// Reachable blocks in reverse post-order; `rpo[0]` is the entry.
    rpo: Vec<Block>,
    /// 1-based position in `rpo`, `UNREACHABLE` for unreachable blocks.
    rpo_number: Vec<u32>,
    /// Immediate dominator; none for the entry and unreachable blocks.
    idom: Vec<PackedOption<Block>>,
    /// Scratch for the DFS: (block, next successor index).
    stack: Vec<(Block, u32)>,
    /// Pre-order and post-order numbers of each reachable block in the
    /// dominator tree: `a` dominates `b` iff `a`'s interval contains
    /// `b`'s. Makes `block_dominates` O(1).
    tree_pre: Vec<u32>,
    tree_post: Vec<u32>,
    /// Dominator-tree children in CSR form, in reverse post-order
    /// (`children`; built for the numbering).
    child_start: Vec<u32>,
    children: Vec<Block>,
    valid: bool,
}

impl DominatorTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Computes the tree of `func` given its control-flow graph.
    pub fn with_function(func: &FunctionStencil, cfg: &ControlFlowGraph) -> Self {
        let mut t = Self::new();
        t.compute(func, cfg);
        t
    }

    pub fn is_valid(&self) -> bool {
        self.valid
    }

    pub fn clear(&mut self) {
        self.rpo.clear();
        self.rpo_number.clear();
        self.idom.clear();
        self.stack.clear();
        self.tree_pre.clear();
        self.tree_post.clear();
        self.child_start.clear();
        self.children.clear();
        self.valid = false;
    }

    /// (Re)computes the tree, reusing allocations.
    pub fn compute(&mut self, func: &FunctionStencil, cfg: &ControlFlowGraph) {
        self.clear();
        let n = func.dfg.num_blocks();
        self.rpo_number.resize(n, UNREACHABLE);
        self.idom.resize(n, PackedOption::NONE);
        self.valid = true;
        let Some(entry) = func.layout.entry_block() else {
            return;
        };
        if entry.index() >= n {
            return;
        }
        self.compute_postorder(entry, cfg);
        // `rpo` currently holds the post-order; reverse it and number.
        self.rpo.reverse();
        for (i, &b) in self.rpo.iter().enumerate() {
            self.rpo_number[b.index()] = i as u32 + 1;
        }
        self.compute_idoms(cfg);
        self.number_tree(n);
    }

    /// Numbers the dominator tree in pre- and post-order (iteratively).
    fn number_tree(&mut self, n: usize) {
        self.tree_pre.resize(n, 0);
        self.tree_post.resize(n, 0);
        // Children lists, grouped by parent, in RPO order.
        self.child_start.resize(n + 1, 0);
        for &b in &self.rpo[1..] {
            if let Some(d) = self.idom[b.index()].expand() {
                self.child_start[d.index() + 1] += 1;
            }
        }
        for i in 1..=n {
            self.child_start[i] += self.child_start[i - 1];
        }
        self.children
            .resize(self.child_start[n] as usize, Block::new(0));
        let mut fill: Vec<u32> = self.child_start[..n].to_vec();
        for &b in &self.rpo[1..] {
            if let Some(d) = self.idom[b.index()].expand() {
                self.children[fill[d.index()] as usize] = b;
                fill[d.index()] += 1;
            }
        }
        let Some(&entry) = self.rpo.first() else {
            return;
        };
        let (mut pre, mut post) = (0u32, 0u32);
        self.stack.clear();
        self.tree_pre[entry.index()] = pre;
        pre += 1;
        self.stack.push((entry, 0));
        while let Some(top) = self.stack.last_mut() {
            let (b, next) = *top;
            let start = self.child_start[b.index()] + next;
            if start < self.child_start[b.index() + 1] {
                top.1 += 1;
                let c = self.children[start as usize];
                self.tree_pre[c.index()] = pre;
                pre += 1;
                self.stack.push((c, 0));
            } else {
                self.tree_post[b.index()] = post;
                post += 1;
                self.stack.pop();
            }
        }
    }

    /// Iterative DFS from `entry`; pushes blocks to `rpo` in post-order.
    /// Uses `rpo_number` as the visited mark (1 = seen) during the walk.
    fn compute_postorder(&mut self, entry: Block, cfg: &ControlFlowGraph) {
        self.rpo_number[entry.index()] = 1;
        self.stack.push((entry, 0));
        while let Some(top) = self.stack.last_mut() {
            let (block, next) = *top;
            let succs = cfg.succs(block);
            if let Some(&succ) = succs.get(next as usize) {
                top.1 += 1;
                if let Some(mark) = self.rpo_number.get_mut(succ.index()) {
                    if *mark == UNREACHABLE {
                        *mark = 1;
                        self.stack.push((succ, 0));
                    }
                }
            } else {
                self.stack.pop();
                self.rpo.push(block);
            }
        }
        for &b in &self.rpo {
            self.rpo_number[b.index()] = UNREACHABLE;
        }
    }

    fn compute_idoms(&mut self, cfg: &ControlFlowGraph) {
        let mut changed = true;
        while changed {
            changed = false;
            for i in 1..self.rpo.len() {
                let block = self.rpo[i];
                let mut new_idom: Option<Block> = None;
                for pred in cfg.preds(block) {
                    let p = pred.block;
                    // Only predecessors already processed (reachable, with
                    // an idom or the entry) take part.
                    if !self.is_reachable(p) {
                        continue;
                    }
                    if p != self.rpo[0] && self.idom[p.index()].is_none() {
                        continue;
                    }
                    new_idom = Some(match new_idom {
                        None => p,
                        Some(cur) => self.intersect(cur, p),
                    });
                }
                if let Some(d) = new_idom {
                    if self.idom[block.index()].expand() != Some(d) {
                        self.idom[block.index()] = PackedOption::some(d);
                        changed = true;
                    }
                }
            }
        }
    }

    /// The nearest common dominator of two reachable blocks.
    fn intersect(&self, mut a: Block, mut b: Block) -> Block {
        while a != b {
            while self.rpo_number[a.index()] > self.rpo_number[b.index()] {
                match self.idom[a.index()].expand() {
                    Some(d) => a = d,
                    None => return a,
                }
            }
            while self.rpo_number[b.index()] > self.rpo_number[a.index()] {
                match self.idom[b.index()].expand() {
                    Some(d) => b = d,
                    None => return b,
                }
            }
        }
        a
    }

    /// Whether `block` is reachable from the entry block.
    pub fn is_reachable(&self, block: Block) -> bool {
        self.rpo_number
            .get(block.index())
            .is_some_and(|&n| n != UNREACHABLE)
    }

    /// The immediate dominator of `block` (none for the entry and for
    /// unreachable blocks).
    pub fn idom(&self, block: Block) -> Option<Block> {
        self.idom.get(block.index()).and_then(|d| d.expand())
    }

    /// Reachable blocks in reverse post-order, entry first.
    pub fn cfg_rpo(&self) -> &[Block] {
        &self.rpo
    }

    /// The children of `block` in the dominator tree, in reverse
    /// post-order (empty for unreachable blocks).
    pub fn children(&self, block: Block) -> &[Block] {
        match (
            self.child_start.get(block.index()),
            self.child_start.get(block.index() + 1),
        ) {
            (Some(&s), Some(&e)) => &self.children[s as usize..e as usize],
            _ => &[],
        }
    }

    /// The 1-based reverse post-order number of a reachable block.
    pub fn rpo_number(&self, block: Block) -> Option<u32> {
        self.rpo_number
            .get(block.index())
            .copied()
            .filter(|&n| n != UNREACHABLE)
    }

    /// Whether `a` dominates `b` (every path from the entry to `b` passes
    /// through `a`). Reflexive. False if `b` is unreachable and `a != b`.
    pub fn block_dominates(&self, a: Block, b: Block) -> bool {
        if a == b {
            return true;
        }
        if !self.is_reachable(a) || !self.is_reachable(b) {
            return false;
        }
        let (ai, bi) = (a.index(), b.index());
        self.tree_pre[ai] <= self.tree_pre[bi] && self.tree_post[bi] <= self.tree_post[ai]
    }

    /// Whether instruction `a` dominates instruction `b`: `a` comes first in
    /// the same block, or `a`'s block strictly dominates `b`'s. Reflexive.
    /// Same-block queries walk the layout (linear in the block length);
    /// callers doing many queries should number instructions themselves and
    /// use `block_dominates`.
    pub fn inst_dominates(&self, a: Inst, b: Inst, layout: &Layout) -> bool {
        let (Some(ba), Some(bb)) = (layout.inst_block(a), layout.inst_block(b)) else {
            return false;
        };
        if ba != bb {
            return self.block_dominates(ba, bb);
        }
        if !self.is_reachable(ba) {
            return a == b;
        }
        let mut cur = Some(a);
        while let Some(i) = cur {
            if i == b {
                return true;
            }
            cur = layout.next_inst(i);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::Value;
    use crate::test_util::FB;
    use crate::types::Type;

    /// Builds blocks 0..n; `edges[i]` lists the successors of block i
    /// (0 → return, 1 → jump, 2 → brif, more → br_table).
    fn graph(edges: &[&[usize]]) -> (FB, Vec<Block>) {
        let mut fb = FB::new(&[Type::I32], &[]);
        let (_, p) = fb.entry();
        let mut blocks = vec![fb.cur.unwrap()];
        for _ in 1..edges.len() {
            let b = fb.func.dfg.make_block();
            fb.func.layout.append_block(b);
            blocks.push(b);
        }
        for (i, succs) in edges.iter().enumerate() {
            fb.switch(blocks[i]);
            match succs.len() {
                0 => {
                    fb.ret(&[]);
                }
                1 => {
                    fb.jump(blocks[succs[0]], &[]);
                }
                2 => {
                    fb.brif(p[0], blocks[succs[0]], &[], blocks[succs[1]], &[]);
                }
                _ => {
                    let calls: Vec<_> = succs
                        .iter()
                        .map(|&s| fb.func.dfg.block_call_values(blocks[s], &[]))
                        .collect();
                    let table = fb
                        .func
                        .dfg
                        .jump_tables
                        .push(crate::JumpTableData::new(calls[0], &calls[1..]));
                    fb.ins(
                        crate::InstructionData::BranchTable {
                            opcode: crate::Opcode::BrTable,
                            arg: p[0],
                            table,
                        },
                        Type::INVALID,
                    );
                }
            }
        }
        (fb, blocks)
    }

    fn trees(fb: &FB) -> (ControlFlowGraph, DominatorTree) {
        let cfg = ControlFlowGraph::with_function(&fb.func.stencil);
        let dt = DominatorTree::with_function(&fb.func.stencil, &cfg);
        (cfg, dt)
    }

    #[test]
    fn diamond() {
        // 0 -> 1, 2; 1 -> 3; 2 -> 3
        let (fb, b) = graph(&[&[1, 2], &[3], &[3], &[]]);
        let (cfg, dt) = trees(&fb);
        assert_eq!(cfg.succs(b[0]), &[b[1], b[2]]);
        let preds: Vec<Block> = cfg.preds(b[3]).iter().map(|p| p.block).collect();
        assert_eq!(preds, vec![b[1], b[2]]);
        assert_eq!(
            cfg.preds(b[3])[0].inst,
            fb.func.layout.last_inst(b[1]).unwrap()
        );
        assert_eq!(dt.idom(b[0]), None);
        assert_eq!(dt.idom(b[1]), Some(b[0]));
        assert_eq!(dt.idom(b[2]), Some(b[0]));
        assert_eq!(dt.idom(b[3]), Some(b[0]));
        assert!(dt.block_dominates(b[0], b[3]));
        assert!(!dt.block_dominates(b[1], b[3]));
        assert!(dt.block_dominates(b[3], b[3]));
        assert_eq!(dt.cfg_rpo()[0], b[0]);
        assert_eq!(*dt.cfg_rpo().last().unwrap(), b[3]);
    }

    #[test]
    fn loop_and_unreachable() {
        // 0 -> 1; 1 -> 2, 3; 2 -> 1; 3: return; 4 (unreachable) -> 1
        let (fb, b) = graph(&[&[1], &[2, 3], &[1], &[], &[1]]);
        let (cfg, dt) = trees(&fb);
        assert_eq!(cfg.preds(b[1]).len(), 3);
        assert_eq!(dt.idom(b[1]), Some(b[0]));
        assert_eq!(dt.idom(b[2]), Some(b[1]));
        assert_eq!(dt.idom(b[3]), Some(b[1]));
        assert!(!dt.is_reachable(b[4]));
        assert_eq!(dt.idom(b[4]), None);
        assert!(!dt.block_dominates(b[4], b[1]));
        assert!(!dt.block_dominates(b[0], b[4]));
        assert_eq!(dt.cfg_rpo().len(), 4);
        let i2 = fb.func.layout.first_inst(b[2]).unwrap();
        let i1 = fb.func.layout.first_inst(b[1]).unwrap();
        assert!(dt.inst_dominates(i1, i2, &fb.func.layout));
        assert!(!dt.inst_dominates(i2, i1, &fb.func.layout));
    }

    #[test]
    fn irreducible_and_switch() {
        // 0 -> {1, 2, 3} (br_table); 1 <-> 2 (irreducible); 2 -> 3
        let (fb, b) = graph(&[&[1, 2, 3], &[2], &[1, 3], &[]]);
        let (_, dt) = trees(&fb);
        assert_eq!(dt.idom(b[1]), Some(b[0]));
        assert_eq!(dt.idom(b[2]), Some(b[0]));
        assert_eq!(dt.idom(b[3]), Some(b[0]));
        // A deeper chain: idoms reach through several levels.
        let (fb, b) = graph(&[&[1], &[2], &[3, 4], &[5], &[5], &[]]);
        let (_, dt) = trees(&fb);
        assert_eq!(dt.idom(b[5]), Some(b[2]));
        assert!(dt.block_dominates(b[1], b[5]));
        assert!(!dt.block_dominates(b[3], b[5]));
    }

    #[test]
    fn malformed_references_are_skipped() {
        let (mut fb, b) = graph(&[&[1], &[]]);
        // A jump to a block out of range and to one not in the layout.
        let stray = fb.func.dfg.make_block();
        fb.switch(b[1]);
        let last = fb.func.layout.last_inst(b[1]).unwrap();
        fb.func.layout.remove_inst(last);
        fb.brif(Value::from_u32(0), Block::from_u32(99), &[], stray, &[]);
        let (cfg, dt) = trees(&fb);
        assert!(cfg.succs(b[1]).is_empty());
        assert!(cfg.succs(Block::from_u32(1234)).is_empty());
        assert!(!dt.is_reachable(stray));
        assert!(!dt.is_reachable(Block::from_u32(99)));
    }

    /// Brute force: `a` dominates `b` iff `b` is not reachable from the
    /// entry once `a` is removed (and `b` is reachable at all).
    fn brute_dominates(succ: &[Vec<usize>], a: usize, b: usize) -> bool {
        let reach = |skip: Option<usize>| {
            let mut seen = vec![false; succ.len()];
            let mut stack = vec![0usize];
            if skip == Some(0) {
                return seen;
            }
            seen[0] = true;
            while let Some(x) = stack.pop() {
                for &y in &succ[x] {
                    if Some(y) != skip && !seen[y] {
                        seen[y] = true;
                        stack.push(y);
                    }
                }
            }
            seen
        };
        let all = reach(None);
        if !all[b] || !all[a] {
            return a == b; // reflexive even when unreachable (documented)
        }
        a == b || !reach(Some(a))[b]
    }

    #[test]
    fn random_graphs_match_brute_force() {
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut rnd = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..300 {
            let n = 2 + rnd(9);
            // Successor lists of 0..=3 edges; no edges back to the entry
            // (the verifier forbids them, but the tree must cope anyway).
            let succ: Vec<Vec<usize>> = (0..n)
                .map(|_| {
                    let k = match rnd(4) {
                        0 => 0,
                        1 => 1,
                        2 => 2,
                        _ => 3,
                    };
                    (0..k).map(|_| rnd(n)).collect()
                })
                .collect();
            let edges: Vec<&[usize]> = succ.iter().map(|v| v.as_slice()).collect();
            let (fb, b) = graph(&edges);
            let (_, dt) = trees(&fb);
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(
                        dt.block_dominates(b[i], b[j]),
                        brute_dominates(&succ, i, j),
                        "graph {succ:?}: dominates({i}, {j})"
                    );
                }
            }
        }
    }
}
