//! The order of blocks in a function and of instructions in blocks, as
//! doubly-linked lists threaded through dense side tables.

use crate::entities::{Block, Inst};
use crate::entity::{PackedOption, SecondaryMap};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct BlockNode {
    prev: PackedOption<Block>,
    next: PackedOption<Block>,
    first_inst: PackedOption<Inst>,
    last_inst: PackedOption<Inst>,
    inserted: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct InstNode {
    block: PackedOption<Block>,
    prev: PackedOption<Inst>,
    next: PackedOption<Inst>,
}

#[derive(Clone, Debug, Default)]
pub struct Layout {
    blocks: SecondaryMap<Block, BlockNode>,
    insts: SecondaryMap<Inst, InstNode>,
    first_block: PackedOption<Block>,
    last_block: PackedOption<Block>,
}

impl Layout {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// A copy with room for about half as many blocks and instructions
    /// again (see `DataFlowGraph::clone_with_headroom`).
    pub fn clone_with_headroom(&self) -> Self {
        let mut copy = Self::default();
        self.copy_into_with_headroom(&mut copy);
        copy
    }

    /// Makes `dst` what [`Layout::clone_with_headroom`] returns, reusing
    /// `dst`'s storage.
    pub fn copy_into_with_headroom(&self, dst: &mut Self) {
        let Layout {
            blocks,
            insts,
            first_block,
            last_block,
        } = self;
        blocks.copy_into_with_headroom(&mut dst.blocks, blocks.capacity_len() / 2 + 8);
        insts.copy_into_with_headroom(&mut dst.insts, insts.capacity_len() / 2 + 8);
        dst.first_block = *first_block;
        dst.last_block = *last_block;
    }

    pub fn entry_block(&self) -> Option<Block> {
        self.first_block.expand()
    }

    pub fn last_block(&self) -> Option<Block> {
        self.last_block.expand()
    }

    pub fn is_block_inserted(&self, block: Block) -> bool {
        self.blocks.get(block).inserted
    }

    /// Appends a block that is not yet in the layout. Returns false if it is.
    pub fn append_block(&mut self, block: Block) -> bool {
        if self.is_block_inserted(block) {
            return false;
        }
        let prev = self.last_block;
        *self.blocks.get_mut(block) = BlockNode {
            prev,
            inserted: true,
            ..Default::default()
        };
        match prev.expand() {
            Some(p) => self.blocks.get_mut(p).next = PackedOption::some(block),
            None => self.first_block = PackedOption::some(block),
        }
        self.last_block = PackedOption::some(block);
        true
    }

    /// Inserts `block` right after `after`.
    pub fn insert_block_after(&mut self, block: Block, after: Block) -> bool {
        if self.is_block_inserted(block) || !self.is_block_inserted(after) {
            return false;
        }
        let next = self.blocks.get(after).next;
        *self.blocks.get_mut(block) = BlockNode {
            prev: PackedOption::some(after),
            next,
            inserted: true,
            ..Default::default()
        };
        self.blocks.get_mut(after).next = PackedOption::some(block);
        match next.expand() {
            Some(n) => self.blocks.get_mut(n).prev = PackedOption::some(block),
            None => self.last_block = PackedOption::some(block),
        }
        true
    }

    /// Removes an empty block from the layout (it stays in the DFG).
    /// Returns false if the block is not inserted or still has instructions.
    pub fn remove_block(&mut self, block: Block) -> bool {
        let node = *self.blocks.get(block);
        if !node.inserted || node.first_inst.is_some() {
            return false;
        }
        match node.prev.expand() {
            Some(p) => self.blocks.get_mut(p).next = node.next,
            None => self.first_block = node.next,
        }
        match node.next.expand() {
            Some(n) => self.blocks.get_mut(n).prev = node.prev,
            None => self.last_block = node.prev,
        }
        *self.blocks.get_mut(block) = BlockNode::default();
        true
    }

    /// Blocks in layout order.
    pub fn blocks(&self) -> Blocks<'_> {
        Blocks {
            layout: self,
            next: self.first_block.expand(),
        }
    }

    pub fn next_block(&self, block: Block) -> Option<Block> {
        self.blocks.get(block).next.expand()
    }

    pub fn prev_block(&self, block: Block) -> Option<Block> {
        self.blocks.get(block).prev.expand()
    }

    pub fn first_inst(&self, block: Block) -> Option<Inst> {
        self.blocks.get(block).first_inst.expand()
    }

    pub fn last_inst(&self, block: Block) -> Option<Inst> {
        self.blocks.get(block).last_inst.expand()
    }

    pub fn next_inst(&self, inst: Inst) -> Option<Inst> {
        self.insts.get(inst).next.expand()
    }

    pub fn prev_inst(&self, inst: Inst) -> Option<Inst> {
        self.insts.get(inst).prev.expand()
    }

    /// The block an instruction is in, if inserted.
    pub fn inst_block(&self, inst: Inst) -> Option<Block> {
        self.insts.get(inst).block.expand()
    }

    /// Appends an instruction that is not yet in the layout to `block`.
    pub fn append_inst(&mut self, inst: Inst, block: Block) -> bool {
        if self.inst_block(inst).is_some() || !self.is_block_inserted(block) {
            return false;
        }
        let prev = self.blocks.get(block).last_inst;
        *self.insts.get_mut(inst) = InstNode {
            block: PackedOption::some(block),
            prev,
            next: PackedOption::NONE,
        };
        match prev.expand() {
            Some(p) => self.insts.get_mut(p).next = PackedOption::some(inst),
            None => self.blocks.get_mut(block).first_inst = PackedOption::some(inst),
        }
        self.blocks.get_mut(block).last_inst = PackedOption::some(inst);
        true
    }

    /// Inserts `inst` right before `before`.
    pub fn insert_inst_before(&mut self, inst: Inst, before: Inst) -> bool {
        let Some(block) = self.inst_block(before) else {
            return false;
        };
        if self.inst_block(inst).is_some() {
            return false;
        }
        let prev = self.insts.get(before).prev;
        *self.insts.get_mut(inst) = InstNode {
            block: PackedOption::some(block),
            prev,
            next: PackedOption::some(before),
        };
        self.insts.get_mut(before).prev = PackedOption::some(inst);
        match prev.expand() {
            Some(p) => self.insts.get_mut(p).next = PackedOption::some(inst),
            None => self.blocks.get_mut(block).first_inst = PackedOption::some(inst),
        }
        true
    }

    /// Removes an instruction from the layout (it stays in the DFG).
    pub fn remove_inst(&mut self, inst: Inst) {
        let node = *self.insts.get(inst);
        let Some(block) = node.block.expand() else {
            return;
        };
        match node.prev.expand() {
            Some(p) => self.insts.get_mut(p).next = node.next,
            None => self.blocks.get_mut(block).first_inst = node.next,
        }
        match node.next.expand() {
            Some(n) => self.insts.get_mut(n).prev = node.prev,
            None => self.blocks.get_mut(block).last_inst = node.prev,
        }
        *self.insts.get_mut(inst) = InstNode::default();
    }

    /// Instructions of a block in order.
    pub fn block_insts(&self, block: Block) -> Insts<'_> {
        Insts {
            layout: self,
            next: self.first_inst(block),
        }
    }
}

pub struct Blocks<'a> {
    layout: &'a Layout,
    next: Option<Block>,
}

impl Iterator for Blocks<'_> {
    type Item = Block;
    fn next(&mut self) -> Option<Block> {
        let b = self.next?;
        self.next = self.layout.next_block(b);
        Some(b)
    }
}

pub struct Insts<'a> {
    layout: &'a Layout,
    next: Option<Inst>,
}

impl Iterator for Insts<'_> {
    type Item = Inst;
    fn next(&mut self) -> Option<Inst> {
        let i = self.next?;
        self.next = self.layout.next_inst(i);
        Some(i)
    }
}
