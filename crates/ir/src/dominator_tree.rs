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
        let (Some(ra), Some(_)) = (self.rpo_number(a), self.rpo_number(b)) else {
            return false;
        };
        let mut cur = b;
        // Dominators have strictly smaller RPO numbers: stop once below `a`.
        while let Some(d) = self.idom(cur) {
            if d == a {
                return true;
            }
            match self.rpo_number(d) {
                Some(rd) if rd > ra => cur = d,
                _ => return false,
            }
        }
        false
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
