//! The control-flow graph of a function: predecessors and successors of
//! every block, derived from the terminator that ends each block.
//!
//! Edges come from the *last* instruction of each block in the layout (its
//! `branch_destinations`). Malformed references (a destination block out of
//! range or not in the layout, an instruction out of range) are skipped
//! rather than indexed, so building the graph never panics; the verifier
//! reports those references separately.
//!
//! Storage is dense: successor and predecessor lists live in two flat
//! vectors with per-block start offsets (compressed sparse rows), so the
//! graph is a handful of allocations whatever the size of the function, and
//! `compute` can reuse them.

use crate::entities::{Block, Inst};
use crate::entity::EntityRef;
use crate::function::FunctionStencil;

/// A predecessor edge: the branching block and the instruction that branches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockPredecessor {
    pub block: Block,
    pub inst: Inst,
}

/// Successors and predecessors of every block.
#[derive(Clone, Debug, Default)]
pub struct ControlFlowGraph {
    /// `succ_start[b]..succ_start[b + 1]` indexes `succs` for block `b`.
    succ_start: Vec<u32>,
    succs: Vec<Block>,
    pred_start: Vec<u32>,
    preds: Vec<BlockPredecessor>,
    /// Scratch: every edge as (from, branch, to), in layout order.
    edges: Vec<(Block, Inst, Block)>,
    /// Scratch: fill cursors.
    cursor: Vec<u32>,
    valid: bool,
}

impl ControlFlowGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the graph of `func`.
    pub fn with_function(func: &FunctionStencil) -> Self {
        let mut cfg = Self::new();
        cfg.compute(func);
        cfg
    }

    /// Whether `compute` has run since the last `clear`.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    pub fn clear(&mut self) {
        self.succ_start.clear();
        self.succs.clear();
        self.pred_start.clear();
        self.preds.clear();
        self.edges.clear();
        self.cursor.clear();
        self.valid = false;
    }

    /// (Re)computes the graph of `func`, reusing the allocations.
    pub fn compute(&mut self, func: &FunctionStencil) {
        self.clear();
        let nblocks = func.dfg.num_blocks();
        self.succ_start.resize(nblocks + 1, 0);
        self.pred_start.resize(nblocks + 2, 0);

        // Pass 1: successors of each block in layout order (blocks not in
        // the layout have none), and predecessor counts.
        let mut edges = std::mem::take(&mut self.edges);
        // Bounded: a corrupted (cyclic) block list cannot hang us.
        for block in func.layout.blocks().take(nblocks) {
            if block.index() >= nblocks {
                continue;
            }
            let Some(inst) = func.layout.last_inst(block) else {
                continue;
            };
            if !func.dfg.inst_is_valid(inst) {
                continue;
            }
            for dest in func.dfg.branch_destinations(inst) {
                let to = dest.block;
                if to.index() >= nblocks || !func.layout.is_block_inserted(to) {
                    continue;
                }
                edges.push((block, inst, to));
            }
        }
        // Successor lists grouped by source block (CSR by block number).
        // Count into succ_start[b + 1], prefix-sum, then fill with cursors.
        for &(from, _, to) in &edges {
            self.succ_start[from.index() + 1] += 1;
            self.pred_start[to.index() + 2] += 1;
        }
        for i in 1..nblocks + 1 {
            self.succ_start[i] += self.succ_start[i - 1];
        }
        self.succs.resize(edges.len(), Block::new(0));
        self.cursor.extend_from_slice(&self.succ_start[..nblocks]);
        for &(from, _, to) in &edges {
            let slot = &mut self.cursor[from.index()];
            self.succs[*slot as usize] = to;
            *slot += 1;
        }
        // Predecessor lists: prefix sums shifted by one so that the fill
        // cursor for block b is pred_start[b + 1].
        for i in 2..nblocks + 2 {
            self.pred_start[i] += self.pred_start[i - 1];
        }
        self.preds.resize(
            edges.len(),
            BlockPredecessor {
                block: Block::new(0),
                inst: Inst::new(0),
            },
        );
        for &(from, inst, to) in &edges {
            let slot = &mut self.pred_start[to.index() + 1];
            self.preds[*slot as usize] = BlockPredecessor { block: from, inst };
            *slot += 1;
        }
        self.pred_start.truncate(nblocks + 1);
        edges.clear();
        self.edges = edges;
        self.valid = true;
    }

    /// The successors of `block`, in branch-destination order (duplicates
    /// kept: `brif v0, block1, block1` lists `block1` twice).
    #[inline]
    pub fn succs(&self, block: Block) -> &[Block] {
        let b = block.index();
        match (self.succ_start.get(b), self.succ_start.get(b + 1)) {
            (Some(&s), Some(&e)) => &self.succs[s as usize..e as usize],
            _ => &[],
        }
    }

    /// The predecessors of `block`, grouped by predecessor block in layout
    /// order.
    #[inline]
    pub fn preds(&self, block: Block) -> &[BlockPredecessor] {
        let b = block.index();
        match (self.pred_start.get(b), self.pred_start.get(b + 1)) {
            (Some(&s), Some(&e)) => &self.preds[s as usize..e as usize],
            _ => &[],
        }
    }

    /// Number of blocks the graph was computed for.
    pub fn num_blocks(&self) -> usize {
        self.succ_start.len().saturating_sub(1)
    }
}
