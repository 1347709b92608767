//! Global value numbering with rule-based simplification, constant branch
//! and trap folding, and (behind `alias_analysis`) redundant-load
//! elimination and store-to-load forwarding.
//!
//! One walk over the dominator tree in pre-order. Each instruction's
//! operands are first replaced by their representatives; then a pure
//! instruction is offered to the rules (`isle-rules/opts/`), and if no rule
//! rewrites it, looked up in a scoped table of the instructions that
//! dominate it. The table is scoped by the dominator tree, so a hit always
//! dominates the instruction it replaces. Replaced values become aliases of
//! their representatives; the walk resolves operands and branch arguments
//! as it reaches them, so only the aliases themselves are dropped at the
//! end (`drop_resolved_aliases`).

use crate::{Analyses, OptOptions, OptStats};
use kiln_ir::dominator_tree::DominatorTree;
use kiln_ir::flowgraph::ControlFlowGraph;
use kiln_ir::{
    Block, BlockArg, EntityRef, ExceptionTableItem, FunctionStencil, Imm64, Inst, InstructionData,
    InstructionFormat, IntCC, MemFlags, Opcode, Type, Value, ValueData, ValueDef,
};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A fast non-cryptographic hasher for the GVN table (keys are small
/// plain data; no adversary chooses them and iteration order is unused).
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The defining instruction of a value, as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstData {
    Unary {
        opcode: Opcode,
        a: Value,
    },
    Binary {
        opcode: Opcode,
        a: Value,
        b: Value,
    },
    Ternary {
        opcode: Opcode,
        a: Value,
        b: Value,
        c: Value,
    },
    IntCompare {
        opcode: Opcode,
        cc: IntCC,
        a: Value,
        b: Value,
    },
}

#[allow(clippy::all, unused_imports, unused_parens, irrefutable_let_patterns)]
mod generated {
    pub use super::InstData;
    pub use kiln_ir::{IntCC, Opcode, Type, Value};
    pub const I8: Type = Type::I8;
    pub const I32: Type = Type::I32;
    pub const I64: Type = Type::I64;
    include!(concat!(env!("OUT_DIR"), "/isle_opts.rs"));
}

/// Nesting limit of rule applications that build instructions which are
/// simplified in turn; with the fuel, what makes any rule set terminate.
const MAX_DEPTH: u32 = 6;

/// A GVN key: the instruction (operands resolved, memory flags reduced to
/// what decides aliasing), its controlling type, and for loads the memory
/// version it reads.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    data: InstructionData,
    ty: Type,
    mem: u32,
}

/// The formats most keys have are hashed as one or two words (opcode,
/// operands, type and memory version packed); the others field by field.
/// Equal keys hash equally either way, which is all `Eq` needs.
impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let ty = u64::from(self.ty.repr());
        let head = |op: Opcode| (op as u64) | ty << 16 | u64::from(self.mem) << 32;
        match self.data {
            InstructionData::Unary { opcode, arg } => {
                h.write_u64(head(opcode));
                h.write_u64(u64::from(arg.as_u32()));
            }
            InstructionData::Binary { opcode, args } => {
                h.write_u64(head(opcode));
                h.write_u64(u64::from(args[0].as_u32()) | u64::from(args[1].as_u32()) << 32);
            }
            InstructionData::UnaryImm { opcode, imm } => {
                h.write_u64(head(opcode));
                h.write_u64(imm.0 as u64);
            }
            InstructionData::IntCompare { opcode, cond, args } => {
                h.write_u64(head(opcode));
                cond.hash(h);
                h.write_u64(u64::from(args[0].as_u32()) | u64::from(args[1].as_u32()) << 32);
            }
            InstructionData::Load {
                opcode,
                flags,
                arg,
                offset,
            } => {
                h.write_u64(head(opcode));
                h.write_u64(u64::from(arg.as_u32()) | u64::from(offset.0 as u32) << 32);
                flags.hash(h);
            }
            data => {
                data.hash(h);
                h.write_u64(ty | u64::from(self.mem) << 32);
            }
        }
    }
}

/// Memory versions at a program point: one per alias region, and one for
/// accesses without a region (changed by every store). The walk keeps one
/// and refills it at each block entry (no allocation per block).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct MemState {
    global: u32,
    regions: Vec<u32>,
}

/// What an instruction does to memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Clobber {
    Nothing,
    Region(usize),
    All,
}

/// The memory effect of `inst`: plain loads read only; a store with an
/// alias region writes that region; every other instruction that can write
/// memory, calls, fences and atomics clobber everything.
pub(crate) fn clobber(func: &FunctionStencil, inst: Inst) -> Clobber {
    let data = &func.dfg.insts[inst];
    let op = data.opcode();
    if let InstructionData::Store { flags, .. } = data {
        return match flags.alias_region() {
            Some(r) => Clobber::Region(r.index()),
            None => Clobber::All,
        };
    }
    if is_plain_load(op) {
        return Clobber::Nothing;
    }
    if op.can_store() || op.can_load() || op.is_call() || op.other_side_effects() {
        Clobber::All
    } else {
        Clobber::Nothing
    }
}

/// Loads with the `Load` format (no atomics).
pub(crate) fn is_plain_load(op: Opcode) -> bool {
    op.format() == InstructionFormat::Load && op.can_load()
}

/// Pure opcodes whose result depends on more than their operands.
pub(crate) fn is_state_reading(op: Opcode) -> bool {
    op.format() == InstructionFormat::NullAry
        || matches!(op, Opcode::GetExceptionHandlerAddress | Opcode::TlsValue)
}

impl MemState {
    /// Applies the effect of `inst`. The version a write creates is named
    /// after the instruction (`inst_version`), so the walk of `run`
    /// reproduces exactly the states `memory_entry_states` computed.
    fn apply(&mut self, c: Clobber, inst: Inst) {
        let n = inst_version(inst);
        match c {
            Clobber::Nothing => {}
            Clobber::Region(r) => {
                self.global = n;
                if let Some(slot) = self.regions.get_mut(r) {
                    *slot = n;
                }
            }
            Clobber::All => {
                self.global = n;
                self.regions.fill(n);
            }
        }
    }
    /// Loads the state stored as `[global, regions...]`.
    fn load(&mut self, flat: &[u32]) {
        self.global = flat[0];
        self.regions.clear();
        self.regions.extend_from_slice(&flat[1..]);
    }
    /// The version a load with these flags reads.
    fn version(&self, flags: MemFlags) -> u32 {
        if flags.readonly() {
            return 0;
        }
        match flags.alias_region() {
            Some(r) => self.regions.get(r.index()).copied().unwrap_or(self.global),
            None => self.global,
        }
    }
}

/// Flags with only what decides whether two accesses see the same bytes.
fn key_flags(flags: MemFlags) -> MemFlags {
    let mut k = MemFlags::new();
    k.set_alias_region(flags.alias_region());
    if let Some(e) = flags.explicit_endianness() {
        k.set_endianness(e);
    }
    if flags.readonly() {
        k.set_readonly();
    }
    k
}

/// The version a memory write by `inst` creates (0 is `readonly` memory).
fn inst_version(inst: Inst) -> u32 {
    inst.index() as u32 + 1
}

/// The version a block entry gives to memory whose state its predecessors
/// do not agree on; above every instruction's (`ninsts`: the instruction
/// count when the pass starts; instructions the rules build never write).
fn block_version(block: Block, ninsts: u32) -> u32 {
    ninsts + 1 + block.index() as u32
}

/// Memory states at block entries, one row of `width` versions per block
/// (`[global, regions...]`), kept between functions (see `Analyses`).
#[derive(Default)]
pub(crate) struct MemStates {
    width: usize,
    entry: Vec<u32>,
    exit: Vec<u32>,
    /// Whether a block's exit row is filled (it was visited).
    visited: Vec<bool>,
    row: Vec<u32>,
}

impl MemStates {
    fn entry(&self, b: Block) -> &[u32] {
        let i = b.index() * self.width;
        &self.entry[i..i + self.width]
    }
}

/// Applies `inst`'s effect to a `[global, regions...]` row, as
/// `MemState::apply` does.
fn apply_row(row: &mut [u32], c: Clobber, inst: Inst) {
    let n = inst_version(inst);
    match c {
        Clobber::Nothing => {}
        Clobber::Region(r) => {
            row[0] = n;
            if let Some(slot) = row.get_mut(r + 1) {
                *slot = n;
            }
        }
        Clobber::All => row.fill(n),
    }
}

/// Memory state at the entry of each reachable block, one pass in reverse
/// post-order, into `ms`. A block whose predecessors were all visited keeps, per alias
/// region (and for the global version), the version they agree on and gets
/// its own fresh version where they differ; a block with an unvisited
/// predecessor (a loop header) starts fresh everywhere. Conservative, and
/// needs no iteration.
///
/// Soundness, per region: by induction over the order, a version `v` in the
/// state at a point means that on every path from the entry to it, the last
/// write to the region was the instruction named `v` (or, for a block's
/// fresh version, that no write happened since that block was entered). A
/// merge keeps `v` only when every predecessor's exit has it.
fn memory_entry_states(
    func: &FunctionStencil,
    cfg: &ControlFlowGraph,
    dt: &DominatorTree,
    ninsts: u32,
    ms: &mut MemStates,
) {
    let n = func.dfg.num_blocks();
    let w = func.dfg.alias_regions.len() + 1;
    ms.width = w;
    ms.entry.clear();
    ms.entry.resize(n * w, 0);
    ms.exit.clear();
    ms.exit.resize(n * w, 0);
    ms.visited.clear();
    ms.visited.resize(n, false);
    let mut row = std::mem::take(&mut ms.row);
    row.clear();
    row.resize(w, 0);
    for &b in dt.cfg_rpo() {
        let fresh = block_version(b, ninsts);
        let preds = cfg.preds(b);
        let mut have = false;
        let mut all_visited = !preds.is_empty();
        for p in preds {
            let pi = p.block.index();
            if !ms.visited[pi] {
                all_visited = false;
                continue;
            }
            let s = &ms.exit[pi * w..pi * w + w];
            if !have {
                row.copy_from_slice(s);
                have = true;
            } else {
                // Keep only what this predecessor agrees with.
                for (a, b) in row.iter_mut().zip(s) {
                    if a != b {
                        *a = fresh;
                    }
                }
            }
        }
        if !(have && all_visited) {
            row.fill(fresh);
        }
        let bi = b.index();
        ms.entry[bi * w..bi * w + w].copy_from_slice(&row);
        for inst in func.layout.block_insts(b) {
            apply_row(&mut row, clobber(func, inst), inst);
        }
        ms.exit[bi * w..bi * w + w].copy_from_slice(&row);
        ms.visited[bi] = true;
    }
    ms.row = row;
}

/// A GVN table entry: the value, and the block whose scope it belongs to.
#[derive(Clone, Copy)]
struct Entry {
    value: Value,
    scope: Block,
}

struct Pass<'a> {
    func: &'a mut FunctionStencil,
    /// The scoped table: an entry is visible while the block that made it
    /// is on the walk's stack (`in_scope`), which is exactly when a
    /// scope-exit removal would not have dropped it yet; stale entries are
    /// overwritten instead of removed (the walk never re-enters a left
    /// subtree of the dominator tree).
    table: FxHashMap<Key, Entry>,
    /// Per block: entered and not yet left.
    in_scope: Vec<bool>,
    /// The block being processed.
    scope: Block,
    /// New instructions go before this one.
    pos: Inst,
    fuel: u32,
    depth: u32,
    stats: &'a mut OptStats,
}

impl Pass<'_> {
    fn resolve(&self, v: Value) -> Value {
        resolved(&self.func.dfg, v)
    }

    /// The value a visible entry gives for `key`.
    fn lookup(&self, key: &Key) -> Option<Value> {
        let e = self.table.get(key)?;
        self.in_scope[e.scope.index()].then_some(e.value)
    }

    /// `lookup`, and on a miss `insert(key, v)`, with one hash and probe
    /// of the table instead of two (a miss is the common case: most
    /// instructions are new).
    fn lookup_or_insert(&mut self, key: Key, v: Value) -> Option<Value> {
        use std::collections::hash_map::Entry as Slot;
        let scope = self.scope;
        match self.table.entry(key) {
            Slot::Occupied(mut o) => {
                let e = o.get_mut();
                if self.in_scope[e.scope.index()] {
                    return Some(e.value);
                }
                // Stale: what `insert` does to an entry `lookup` cannot see.
                *e = Entry { value: v, scope };
                None
            }
            Slot::Vacant(slot) => {
                slot.insert(Entry { value: v, scope });
                None
            }
        }
    }

    /// Records `key -> v` in the current scope. A visible entry only gets
    /// the new value and stays in its own scope (what a scoped table that
    /// replaces a present key, and undoes only keys it added, does).
    fn insert(&mut self, key: Key, v: Value) {
        let scope = self.scope;
        let in_scope = &self.in_scope;
        self.table
            .entry(key)
            .and_modify(|e| {
                if in_scope[e.scope.index()] {
                    e.value = v;
                } else {
                    *e = Entry { value: v, scope };
                }
            })
            .or_insert(Entry { value: v, scope });
    }

    /// The GVN key of a pure instruction, `None` if it must not be merged.
    fn pure_key(&self, inst: Inst) -> Option<Key> {
        let data = self.func.dfg.insts[inst];
        let op = data.opcode();
        if !op.is_pure() || is_state_reading(op) || !self.func.dfg.has_results(inst) {
            return None;
        }
        Some(Key {
            data,
            ty: self.func.dfg.ctrl_typevar(inst),
            mem: 0,
        })
    }

    /// Builds `data` before the current instruction (or finds an equal one
    /// that dominates it) and simplifies it, returning its value.
    fn build(&mut self, data: InstructionData, ty: Type) -> Value {
        let op = data.opcode();
        let ctrl = match op.info().typevar_operand {
            Some(i) => {
                let mut d = data;
                let mut pool = std::mem::take(&mut self.func.dfg.value_lists);
                let v = d.arguments_mut(&mut pool).get(i as usize).copied();
                self.func.dfg.value_lists = pool;
                v.map_or(ty, |v| self.func.dfg.value_type(v))
            }
            None => ty,
        };
        let key = Key {
            data,
            ty: ctrl,
            mem: 0,
        };
        if let Some(v) = self.lookup(&key) {
            return v;
        }
        let dfg = &mut self.func.dfg;
        let inst = dfg.make_inst(data);
        dfg.make_inst_results(inst, ctrl);
        let v = dfg
            .first_result(inst)
            .expect("built instructions have a result");
        debug_assert_eq!(dfg.value_type(v), ty, "rule built {op} of the wrong type");
        self.func.layout.insert_inst_before(inst, self.pos);
        let loc = self.func.rel_srcloc(self.pos);
        self.func.srclocs.set(inst, loc);
        if let Some(w) = self.try_simplify(v) {
            self.func.layout.remove_inst(inst);
            self.func.dfg.make_value_alias(v, w);
            return w;
        }
        self.insert(key, v);
        v
    }

    /// Runs the rules on `v` if fuel and depth allow.
    fn try_simplify(&mut self, v: Value) -> Option<Value> {
        if self.fuel == 0 {
            self.stats.fuel_exhausted = true;
            return None;
        }
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.fuel -= 1;
        self.depth += 1;
        let r = generated::constructor_simplify(self, v);
        self.depth -= 1;
        let r = r.map(|w| self.resolve(w)).filter(|&w| w != v);
        if r.is_some() {
            self.stats.simplified += 1;
        }
        r
    }

    /// Replaces every result of `inst` by the results of `by` (or `v`).
    fn replace(&mut self, inst: Inst, with: &[Value]) {
        let n = self.func.dfg.num_results(inst).min(with.len());
        for (i, &w) in with.iter().enumerate().take(n) {
            let r = self.func.dfg.inst_results(inst)[i];
            self.func.dfg.make_value_alias(r, w);
        }
        self.func.layout.remove_inst(inst);
    }

    /// Simplifies a condition operand repeatedly (each step is strictly
    /// smaller, and the loop is bounded anyway).
    fn simplify_cond(&mut self, mut c: Value) -> Value {
        for _ in 0..4 {
            match generated::constructor_simplify_cond(self, c) {
                Some(d) if d != c => c = d,
                _ => break,
            }
        }
        c
    }

    /// Processes one block; `mem` is its memory state at entry.
    fn block(&mut self, block: Block, mut mem: Option<&mut MemState>) {
        let mut cursor = self.func.layout.first_inst(block);
        while let Some(inst) = cursor {
            cursor = self.func.layout.next_inst(inst);
            self.pos = inst;
            resolve_inst_args(&mut self.func.dfg, inst);
            // A branch's values are defined where its block is dominated,
            // so they are final when the walk gets here.
            resolve_branch_args(&mut self.func.dfg, inst);
            let data = self.func.dfg.insts[inst];
            let op = data.opcode();
            match data {
                InstructionData::Brif { arg, blocks, .. } => {
                    let c = self.simplify_cond(arg);
                    match generated::constructor_cond_const(self, c) {
                        Some(t) => {
                            let destination = if t { blocks[0] } else { blocks[1] };
                            self.func.dfg.insts[inst] = InstructionData::Jump {
                                opcode: Opcode::Jump,
                                destination,
                            };
                            self.stats.branches_folded += 1;
                        }
                        None => {
                            self.func.dfg.insts[inst] = InstructionData::Brif {
                                opcode: op,
                                arg: c,
                                blocks,
                            };
                        }
                    }
                    continue;
                }
                InstructionData::CondTrap { arg, code, .. } => {
                    let c = self.simplify_cond(arg);
                    match generated::constructor_cond_const(self, c) {
                        Some(t) => {
                            self.stats.branches_folded += 1;
                            if t == (op == Opcode::Trapnz) {
                                // Always traps: the rest of the block is dead.
                                self.func.dfg.insts[inst] = InstructionData::Trap {
                                    opcode: Opcode::Trap,
                                    code,
                                };
                                while let Some(dead) = cursor {
                                    cursor = self.func.layout.next_inst(dead);
                                    self.func.layout.remove_inst(dead);
                                }
                            } else {
                                self.func.layout.remove_inst(inst);
                            }
                        }
                        None => {
                            let data = InstructionData::CondTrap {
                                opcode: op,
                                arg: c,
                                code,
                            };
                            // A dominating identical trap already tested
                            // `c`: execution only gets here if it did not
                            // trap, so this one cannot either (wasm's
                            // repeated bounds check of one index).
                            let key = Key {
                                data,
                                ty: Type::INVALID,
                                mem: 0,
                            };
                            if self.lookup_or_insert(key, c).is_some() {
                                self.func.layout.remove_inst(inst);
                                self.stats.traps_removed += 1;
                            } else {
                                self.func.dfg.insts[inst] = data;
                            }
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if let Some(state) = mem.as_mut() {
                if let InstructionData::Load {
                    flags, arg, offset, ..
                } = data
                {
                    if is_plain_load(op) && self.func.dfg.num_results(inst) == 1 {
                        let key = Key {
                            data: InstructionData::Load {
                                opcode: op,
                                flags: key_flags(flags),
                                arg,
                                offset,
                            },
                            ty: self.func.dfg.ctrl_typevar(inst),
                            mem: state.version(flags),
                        };
                        let r = self.func.dfg.inst_results(inst)[0];
                        if let Some(v) = self.lookup_or_insert(key, r) {
                            self.replace(inst, &[v]);
                            self.stats.loads_removed += 1;
                        }
                        continue;
                    }
                }
                let c = clobber(self.func, inst);
                state.apply(c, inst);
                if let InstructionData::Store {
                    opcode: Opcode::Store,
                    flags,
                    args: [value, addr],
                    offset,
                } = data
                {
                    // A later `load` of the same type from the same place,
                    // reading the version this store made, sees `value`.
                    let key = Key {
                        data: InstructionData::Load {
                            opcode: Opcode::Load,
                            flags: key_flags(flags),
                            arg: addr,
                            offset,
                        },
                        ty: self.func.dfg.value_type(value),
                        mem: state.version(flags),
                    };
                    self.insert(key, value);
                }
            }
            let single = self.func.dfg.num_results(inst) == 1;
            let divides = matches!(
                op,
                Opcode::Udiv | Opcode::Sdiv | Opcode::Urem | Opcode::Srem
            );
            if single && (op.is_pure() || divides) && !is_state_reading(op) {
                let v = self.func.dfg.inst_results(inst)[0];
                if let Some(w) = self.try_simplify(v) {
                    self.replace(inst, &[w]);
                    continue;
                }
            }
            if let Some(key) = self.pure_key(inst) {
                let r = self.func.dfg.inst_results(inst)[0];
                if let Some(v) = self.lookup_or_insert(key, r) {
                    // Multi-result instructions map to their first
                    // result; the others follow in order.
                    let ValueDef::Result(other, _) = self
                        .func
                        .dfg
                        .value_def(v)
                        .expect("table values are defined")
                    else {
                        continue;
                    };
                    let dfg = &self.func.dfg;
                    let n = dfg.num_results(inst);
                    if dfg.num_results(other) == n {
                        if n == 1 {
                            let w = dfg.inst_results(other)[0];
                            self.replace(inst, &[w]);
                        } else {
                            let others: smallvec::SmallVec<[Value; 4]> =
                                dfg.inst_results(other).iter().copied().collect();
                            self.replace(inst, &others);
                        }
                        self.stats.gvn_hits += 1;
                    }
                }
            }
        }
    }
}

/// The GVN pass's tables, kept between functions (see `Analyses`).
#[derive(Default)]
pub(crate) struct Scratch {
    table: FxHashMap<Key, Entry>,
    in_scope: Vec<bool>,
    stack: Vec<Step>,
    mem: MemStates,
    state: MemState,
}

enum Step {
    Enter(Block),
    Leave(Block),
}

/// Runs GVN and the rules over the function. Returns whether some block of
/// the layout was unreachable on entry (then unreachable-block removal has
/// work even if no branch was folded).
/// `an` is recomputed for `func` first; it still describes the function
/// afterwards unless a branch or trap was folded.
pub(crate) fn run(
    func: &mut FunctionStencil,
    opts: &OptOptions,
    stats: &mut OptStats,
    an: &mut Analyses,
) -> bool {
    an.compute(func);
    let (cfg, dt) = (&an.cfg, &an.dt);
    let sc = &mut an.gvn;
    let unreachable = dt.cfg_rpo().len() != func.layout.blocks().count();
    let nblocks = func.dfg.num_blocks();
    let ninsts = func.dfg.num_insts() as u32;
    if opts.alias_analysis {
        memory_entry_states(func, cfg, dt, ninsts, &mut sc.mem);
    }
    let Some(&entry) = dt.cfg_rpo().first() else {
        return unreachable;
    };
    // Entries are not removed when their scope ends, so the table is full
    // at the end of a run and `clear` costs its capacity: a table sized
    // for a much larger function is replaced. Each instruction adds at
    // most one key (the rules' new instructions a few more), so reserving
    // the instruction count avoids most growth.
    let want = ninsts as usize + 16;
    if sc.table.capacity() > 4 * want {
        sc.table = FxHashMap::with_capacity_and_hasher(want, Default::default());
    } else {
        sc.table.clear();
        sc.table.reserve(want);
    }
    sc.in_scope.clear();
    sc.in_scope.resize(nblocks, false);
    let mut stack = std::mem::take(&mut sc.stack);
    stack.clear();
    let mut state = std::mem::take(&mut sc.state);
    let mut pass = Pass {
        func,
        table: std::mem::take(&mut sc.table),
        in_scope: std::mem::take(&mut sc.in_scope),
        scope: entry,
        pos: Inst::new(0),
        fuel: opts
            .fuel_base
            .saturating_add(ninsts.saturating_mul(opts.fuel_per_inst)),
        depth: 0,
        stats,
    };
    stack.push(Step::Enter(entry));
    while let Some(step) = stack.pop() {
        match step {
            Step::Enter(b) => {
                stack.push(Step::Leave(b));
                pass.in_scope[b.index()] = true;
                pass.scope = b;
                let mem = if opts.alias_analysis {
                    state.load(sc.mem.entry(b));
                    Some(&mut state)
                } else {
                    None
                };
                pass.block(b, mem);
                for &c in dt.children(b).iter().rev() {
                    stack.push(Step::Enter(c));
                }
            }
            Step::Leave(b) => pass.in_scope[b.index()] = false,
        }
    }
    sc.table = std::mem::take(&mut pass.table);
    sc.in_scope = std::mem::take(&mut pass.in_scope);
    sc.stack = stack;
    sc.state = state;
    // Every operand and branch argument the walk visited is resolved
    // already; the blocks it did not visit are unreachable and leave the
    // layout before anything reads them again.
    drop_resolved_aliases(pass.func);
    unreachable
}

/// `resolve_aliases`, with the common case (not an alias) tested inline:
/// the rules ask for it on every operand they look at.
#[inline(always)]
fn resolved(dfg: &kiln_ir::DataFlowGraph, v: Value) -> Value {
    match dfg.values.get(v) {
        Some(ValueData::Alias { .. }) => dfg.resolve_aliases(v),
        _ => v,
    }
}

/// The instruction defining `v`'s representative, and `v`'s type: what
/// `resolved` then a look at the value give, with one look when `v` is no
/// alias (the common case).
#[inline(always)]
fn defining_inst(dfg: &kiln_ir::DataFlowGraph, v: Value) -> Option<(Inst, Type)> {
    match dfg.values.get(v)? {
        &ValueData::Inst { inst, ty, .. } => Some((inst, ty)),
        ValueData::Alias { .. } => match dfg.values.get(dfg.resolve_aliases(v))? {
            &ValueData::Inst { inst, ty, .. } => Some((inst, ty)),
            _ => None,
        },
        _ => None,
    }
}

/// Rewrites `inst`'s operands to their representatives. Most operands are
/// not aliases, and then the instruction is not copied and the value-list
/// pool is not taken out of the graph. Inline so that this common case
/// costs no call (it runs for every instruction of every walk).
#[inline]
fn resolve_inst_args(dfg: &mut kiln_ir::DataFlowGraph, inst: Inst) {
    if uses_alias(dfg, inst) {
        rewrite_inst_args(dfg, inst);
    }
}

/// `resolve_inst_args` for an instruction with an alias operand.
#[inline(never)]
fn rewrite_inst_args(dfg: &mut kiln_ir::DataFlowGraph, inst: Inst) {
    let mut data = dfg.insts[inst];
    let mut pool = std::mem::take(&mut dfg.value_lists);
    for a in data.arguments_mut(&mut pool) {
        *a = dfg.resolve_aliases(*a);
    }
    dfg.value_lists = pool;
    dfg.insts[inst] = data;
}

/// Rewrites the value arguments of `inst`'s block calls to their
/// representatives (a branch's arguments are block-call lists, not
/// instruction operands, so the operand rewrite does not reach them).
/// Inline: most instructions have no block calls, tested without a call.
#[inline]
fn resolve_branch_args(dfg: &mut kiln_ir::DataFlowGraph, inst: Inst) {
    // The formats `branch_destinations` lists destinations for.
    if matches!(
        dfg.insts[inst],
        InstructionData::Jump { .. }
            | InstructionData::Brif { .. }
            | InstructionData::BranchTable { .. }
            | InstructionData::TryCall { .. }
            | InstructionData::TryCallIndirect { .. }
    ) {
        rewrite_branch_args(dfg, inst);
    }
}

/// `resolve_branch_args` for an instruction with block calls.
#[inline(never)]
fn rewrite_branch_args(dfg: &mut kiln_ir::DataFlowGraph, inst: Inst) {
    for d in 0..dfg.branch_destinations(inst).len() {
        let args = dfg.branch_destinations(inst)[d].args;
        for k in 0..dfg.block_args.get(args).len() {
            if let BlockArg::Value(v) = dfg.block_args.get(args)[k] {
                let r = dfg.resolve_aliases(v);
                if r != v {
                    dfg.block_args.get_mut(args)[k] = BlockArg::Value(r);
                }
            }
        }
    }
}

/// Whether an operand of `inst` is an alias.
#[inline]
fn uses_alias(dfg: &kiln_ir::DataFlowGraph, inst: Inst) -> bool {
    dfg.inst_args(inst)
        .iter()
        .any(|&a| matches!(dfg.values.get(a), Some(ValueData::Alias { .. })))
}

/// Rewrites every use of an alias to its representative, then drops the
/// aliases so they do not show in printed output (the instructions that
/// defined them have left the layout).
pub(crate) fn drop_aliases(func: &mut FunctionStencil) {
    // Only the layout's instructions: those that left it are never read
    // again (`DataFlowGraph::resolve_all_aliases` rewrites every one).
    let mut block = func.layout.entry_block();
    while let Some(b) = block {
        block = func.layout.next_block(b);
        let mut cursor = func.layout.first_inst(b);
        while let Some(inst) = cursor {
            cursor = func.layout.next_inst(inst);
            resolve_inst_args(&mut func.dfg, inst);
            resolve_branch_args(&mut func.dfg, inst);
        }
    }
    drop_resolved_aliases(func);
}

/// `drop_aliases` for a function whose instructions in reachable blocks
/// use no alias any more (checked in tests and debug builds).
fn drop_resolved_aliases(func: &mut FunctionStencil) {
    #[cfg(any(test, debug_assertions))]
    check_no_alias_uses(func);
    // Exception-table contexts are operands too.
    for t in func.dfg.exception_tables.keys() {
        for i in 0..func.dfg.exception_tables[t].items.len() {
            if let ExceptionTableItem::Context(v) = func.dfg.exception_tables[t].items[i] {
                let r = func.dfg.resolve_aliases(v);
                func.dfg.exception_tables[t].items[i] = ExceptionTableItem::Context(r);
            }
        }
    }
    for (_, d) in func.dfg.values.iter_mut() {
        if matches!(d, ValueData::Alias { .. }) {
            *d = ValueData::Unused;
        }
    }
}

/// Panics if an instruction of a reachable block uses an alias (an operand
/// or a block-call argument).
#[cfg(any(test, debug_assertions))]
fn check_no_alias_uses(func: &FunctionStencil) {
    let cfg = ControlFlowGraph::with_function(func);
    let dt = DominatorTree::with_function(func, &cfg);
    let alias = |v: Value| matches!(func.dfg.values.get(v), Some(ValueData::Alias { .. }));
    for &b in dt.cfg_rpo() {
        for inst in func.layout.block_insts(b) {
            for &a in func.dfg.inst_args(inst) {
                assert!(!alias(a), "{inst} uses alias {a}");
            }
            for bc in func.dfg.branch_destinations(inst) {
                for arg in func.dfg.block_call_args(*bc) {
                    if let BlockArg::Value(v) = arg {
                        assert!(!alias(*v), "{inst} passes alias {v}");
                    }
                }
            }
        }
    }
}

fn int_bits(ty: Type) -> Option<u32> {
    (ty.is_int() && ty.is_scalar() && ty.bits() <= 64).then(|| ty.bits())
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn sext(x: u64, bits: u32) -> i64 {
    if bits >= 64 {
        x as i64
    } else {
        let s = 64 - bits;
        ((x << s) as i64) >> s
    }
}

impl generated::Context for Pass<'_> {
    // Inline (here and `iconst_of`): the matcher asks these of nearly every
    // operand it looks at, most of which answer `None` after a few loads.
    #[inline]
    fn value_inst(&mut self, v: &Value) -> Option<(Type, InstData)> {
        // The rules ask this of every operand, most of which are not
        // defined by one of the four formats below: the format is tested
        // before the result count.
        let (inst, ty) = defining_inst(&self.func.dfg, *v)?;
        if !matches!(
            self.func.dfg.insts[inst],
            InstructionData::Unary { .. }
                | InstructionData::Binary { .. }
                | InstructionData::Ternary { .. }
                | InstructionData::IntCompare { .. }
        ) || self.func.dfg.num_results(inst) != 1
        {
            return None;
        }
        let r = |x: Value| resolved(&self.func.dfg, x);
        let d = match self.func.dfg.insts[inst] {
            InstructionData::Unary { opcode, arg } => InstData::Unary { opcode, a: r(arg) },
            InstructionData::Binary { opcode, args } => InstData::Binary {
                opcode,
                a: r(args[0]),
                b: r(args[1]),
            },
            InstructionData::Ternary { opcode, args } => InstData::Ternary {
                opcode,
                a: r(args[0]),
                b: r(args[1]),
                c: r(args[2]),
            },
            InstructionData::IntCompare { opcode, cond, args } => InstData::IntCompare {
                opcode,
                cc: cond,
                a: r(args[0]),
                b: r(args[1]),
            },
            _ => return None,
        };
        Some((ty, d))
    }
    fn make_unary(&mut self, opcode: Opcode, ty: Type, arg: Value) -> Value {
        self.build(InstructionData::Unary { opcode, arg }, ty)
    }
    fn make_binary(&mut self, opcode: Opcode, ty: Type, a: Value, b: Value) -> Value {
        self.build(
            InstructionData::Binary {
                opcode,
                args: [a, b],
            },
            ty,
        )
    }
    fn make_ternary(&mut self, opcode: Opcode, ty: Type, a: Value, b: Value, c: Value) -> Value {
        self.build(
            InstructionData::Ternary {
                opcode,
                args: [a, b, c],
            },
            ty,
        )
    }
    fn make_intcompare(
        &mut self,
        opcode: Opcode,
        ty: Type,
        cc: IntCC,
        a: Value,
        b: Value,
    ) -> Value {
        self.build(
            InstructionData::IntCompare {
                opcode,
                cond: cc,
                args: [a, b],
            },
            ty,
        )
    }
    #[inline]
    fn iconst_of(&mut self, v: &Value) -> Option<(Type, u64)> {
        let (inst, ty) = defining_inst(&self.func.dfg, *v)?;
        match self.func.dfg.insts[inst] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some((ty, imm.zero_extend_from(ty.bits()))),
            _ => None,
        }
    }
    fn make_iconst(&mut self, ty: Type, c: u64) -> Value {
        let c = c & mask(ty.bits());
        self.build(
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm: Imm64(c as i64),
            },
            ty,
        )
    }
    fn int_ty(&mut self, ty: &Type) -> Option<Type> {
        int_bits(*ty).map(|_| *ty)
    }
    fn ty_bits(&mut self, ty: Type) -> u32 {
        ty.bits()
    }
    fn ty_mask(&mut self, ty: Type) -> u64 {
        mask(ty.bits())
    }
    fn value_type(&mut self, v: Value) -> Type {
        self.func.dfg.value_type(v)
    }
    fn fold_unary(&mut self, op: Opcode, ty: Type, a: u64) -> Option<u64> {
        let bits = int_bits(ty)?;
        let m = mask(bits);
        let r = match op {
            Opcode::Ineg => a.wrapping_neg(),
            Opcode::Bnot => !a,
            Opcode::Iabs => sext(a, bits).unsigned_abs(),
            Opcode::Popcnt => u64::from((a & m).count_ones()),
            Opcode::Clz => u64::from((a & m).leading_zeros() - (64 - bits)),
            Opcode::Ctz => u64::from((a | !m).trailing_zeros()),
            // The operand has its own type; `a` is zero-extended from it.
            Opcode::Bmask => {
                if a != 0 {
                    m
                } else {
                    0
                }
            }
            _ => return None,
        };
        Some(r & m)
    }
    fn fold_binary(&mut self, op: Opcode, ty: Type, a: u64, b: u64) -> Option<u64> {
        let bits = int_bits(ty)?;
        let m = mask(bits);
        let (a, b) = (a & m, b);
        let (sa, sb) = (sext(a, bits), sext(b & m, bits));
        let sh = (b & u64::from(bits - 1)) as u32;
        let r = match op {
            Opcode::Iadd => a.wrapping_add(b),
            Opcode::Isub => a.wrapping_sub(b),
            Opcode::Imul => a.wrapping_mul(b),
            Opcode::Band => a & b,
            Opcode::Bor => a | b,
            Opcode::Bxor => a ^ b,
            Opcode::Ishl => a << sh,
            Opcode::Ushr => a >> sh,
            Opcode::Sshr => (sa >> sh) as u64,
            Opcode::Rotl => {
                if sh == 0 {
                    a
                } else {
                    (a << sh) | (a >> (bits - sh))
                }
            }
            Opcode::Rotr => {
                if sh == 0 {
                    a
                } else {
                    (a >> sh) | (a << (bits - sh))
                }
            }
            Opcode::Udiv if b & m != 0 => a / (b & m),
            Opcode::Urem if b & m != 0 => a % (b & m),
            Opcode::Sdiv if sb != 0 && !(sb == -1 && sa == sext(1 << (bits - 1), bits)) => {
                sa.wrapping_div(sb) as u64
            }
            Opcode::Srem if sb != 0 && sb != -1 => sa.wrapping_rem(sb) as u64,
            Opcode::Umin => a.min(b & m),
            Opcode::Umax => a.max(b & m),
            Opcode::Smin => sa.min(sb) as u64,
            Opcode::Smax => sa.max(sb) as u64,
            Opcode::Umulhi => ((u128::from(a) * u128::from(b & m)) >> bits) as u64,
            Opcode::Smulhi => ((i128::from(sa) * i128::from(sb)) >> bits) as u64,
            _ => return None,
        };
        Some(r & m)
    }
    fn fold_icmp(&mut self, cc: IntCC, ty: Type, a: u64, b: u64) -> u64 {
        let bits = ty.bits().min(64);
        let (sa, sb) = (sext(a, bits), sext(b, bits));
        let r = match cc {
            IntCC::Equal => a == b,
            IntCC::NotEqual => a != b,
            IntCC::SignedLessThan => sa < sb,
            IntCC::SignedGreaterThanOrEqual => sa >= sb,
            IntCC::SignedGreaterThan => sa > sb,
            IntCC::SignedLessThanOrEqual => sa <= sb,
            IntCC::UnsignedLessThan => a < b,
            IntCC::UnsignedGreaterThanOrEqual => a >= b,
            IntCC::UnsignedGreaterThan => a > b,
            IntCC::UnsignedLessThanOrEqual => a <= b,
        };
        u64::from(r)
    }
    fn u64_neg(&mut self, ty: Type, c: u64) -> u64 {
        c.wrapping_neg() & mask(ty.bits())
    }
    fn u64_and(&mut self, a: u64, b: u64) -> u64 {
        a & b
    }
    fn u64_add(&mut self, a: u64, b: u64) -> u64 {
        a.wrapping_add(b)
    }
    fn u64_sub1(&mut self, a: u64) -> u64 {
        a.wrapping_sub(1)
    }
    fn u64_from_u8(&mut self, a: u8) -> u64 {
        u64::from(a)
    }
    fn pow2(&mut self, c: &u64) -> Option<u8> {
        (c.is_power_of_two() && *c > 1).then(|| c.trailing_zeros() as u8)
    }
    fn is_mask(&mut self, ty: Type, c: u64) -> bool {
        int_bits(ty).is_some_and(|b| c == mask(b))
    }
    fn udiv_short_mul(&mut self, ty: Type, d: u64) -> Option<u64> {
        udiv_magic(ty, d).and_then(|m| (!m.long).then_some(m.mul))
    }
    fn udiv_long_mul(&mut self, ty: Type, d: u64) -> Option<u64> {
        udiv_magic(ty, d).and_then(|m| m.long.then_some(m.mul))
    }
    fn udiv_shift(&mut self, ty: Type, d: u64) -> u64 {
        udiv_magic(ty, d).map_or(0, |m| u64::from(m.shift))
    }
    fn udiv_by_magic(&mut self, ty: Type, d: u64) -> bool {
        udiv_magic(ty, d).is_some()
    }
    fn udiv_pre_shift(&mut self, ty: Type, d: u64) -> Option<u64> {
        udiv_pre_shifted(ty, d).map(|p| u64::from(p.pre))
    }
    fn udiv_pre_mul(&mut self, ty: Type, d: u64) -> u64 {
        udiv_pre_shifted(ty, d).map_or(0, |p| p.mul)
    }
    fn udiv_pre_post(&mut self, ty: Type, d: u64) -> u64 {
        udiv_pre_shifted(ty, d).map_or(0, |p| u64::from(p.shift))
    }
    fn sdiv_mul(&mut self, ty: Type, d: u64) -> u64 {
        sdiv_magic(ty, d).map_or(0, |m| m.mul)
    }
    fn sdiv_shift(&mut self, ty: Type, d: u64) -> u64 {
        sdiv_magic(ty, d).map_or(0, |m| u64::from(m.shift))
    }
    fn sdiv_mul_wraps(&mut self, ty: Type, d: u64) -> bool {
        sdiv_magic(ty, d).is_some_and(|m| m.mul >> (ty.bits() - 1) != 0)
    }
    fn sdiv_by_magic(&mut self, ty: Type, d: u64) -> bool {
        sdiv_magic(ty, d).is_some()
    }
    fn is_negative(&mut self, ty: Type, c: u64) -> bool {
        int_bits(ty).is_some_and(|b| sext(c & mask(b), b) < 0)
    }
    fn spow2_pos(&mut self, ty: Type, d: u64) -> Option<u64> {
        signed_pow2(ty, d).and_then(|(k, neg)| (!neg).then_some(u64::from(k)))
    }
    fn spow2_neg(&mut self, ty: Type, d: u64) -> Option<u64> {
        signed_pow2(ty, d).and_then(|(k, neg)| neg.then_some(u64::from(k)))
    }
    fn spow2_abs(&mut self, ty: Type, d: u64) -> Option<u64> {
        signed_pow2(ty, d).map(|(k, _)| u64::from(k))
    }
    fn neg_pow2(&mut self, ty: Type, k: u64) -> u64 {
        (1u64 << (k & 63)).wrapping_neg() & mask(ty.bits())
    }
    fn widen_divisor(&mut self, ty: Type, d: u64, signed: bool) -> bool {
        let n = ty.bits();
        if !ty.is_int() || !ty.is_scalar() || n > 16 {
            return false;
        }
        let d = d & mask(n);
        if signed {
            sext(d, n).unsigned_abs() >= 2
        } else {
            d >= 2
        }
    }
    fn bits_minus(&mut self, ty: Type, k: u64) -> u64 {
        u64::from(ty.bits()).wrapping_sub(k)
    }
    fn fits_in(&mut self, ty: Type, c: u64) -> bool {
        int_bits(ty).is_some_and(|b| c & !mask(b) == 0)
    }
    fn shift_clears_above(&mut self, wide: Type, narrow: Type, k: u64) -> bool {
        match (int_bits(wide), int_bits(narrow)) {
            (Some(w), Some(n)) if n < w => k % u64::from(w) >= u64::from(w - n),
            _ => false,
        }
    }
    fn shift_amount_reduced(&mut self, ty: Type, c: u64) -> Option<u64> {
        let bits = u64::from(ty.bits());
        (c >= bits).then(|| c & (bits - 1))
    }
    fn sign_extend(&mut self, from: Type, to: Type, c: u64) -> u64 {
        (sext(c, from.bits()) as u64) & mask(to.bits())
    }
    fn cc_swap(&mut self, cc: IntCC) -> IntCC {
        cc.swap_args()
    }
    fn cc_inverse(&mut self, cc: IntCC) -> IntCC {
        cc.complement()
    }
    fn cc_reflexive(&mut self, cc: IntCC) -> u64 {
        u64::from(matches!(
            cc,
            IntCC::Equal
                | IntCC::SignedGreaterThanOrEqual
                | IntCC::SignedLessThanOrEqual
                | IntCC::UnsignedGreaterThanOrEqual
                | IntCC::UnsignedLessThanOrEqual
        ))
    }
}

/// How `x / d` (unsigned, `N`-bit, `d` a constant that is neither 0, 1
/// nor a power of two) is computed with a multiply (Granlund and
/// Montgomery, "Division by invariant integers using multiplication", 1994).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct UdivMagic {
    /// `false`: `q = (x * mul) >> (N + shift)` with `mul < 2^N` (the high
    /// half of an `N`-bit multiply, shifted). `true`: the multiplier
    /// `2^N + mul` has `N + 1` bits and `shift` is `ceil(log2 d)`; see the
    /// rules in `isle-rules/opts/arith.isle` for the sequences.
    pub(crate) long: bool,
    pub(crate) mul: u64,
    pub(crate) shift: u32,
}

/// The smallest `s` and `m = ceil(2^(n+s) / d)` with `m < 2^n` such that
/// `floor(x / d) = floor(x * m / 2^(n+s))` for every `x < 2^p` (`p <= n`),
/// or `None` when no `m < 2^n` does it.
///
/// With `e = m*d - 2^(n+s)` (`0 <= e < d`), `x*m / 2^(n+s) = x/d +
/// x*e / (d * 2^(n+s))`. If `e <= 2^(n+s-p)`, the added error is below
/// `2^p * 2^(n+s-p) / (d * 2^(n+s)) = 1/d`, and `x/d` is at least `1/d`
/// below the next integer, so the floor does not change.
fn short_magic(n: u32, d: u64, p: u32) -> Option<(u64, u32)> {
    let d128 = u128::from(d);
    let top = 1u128 << n;
    for s in 0..n {
        let pw = 1u128 << (n + s);
        let m = pw.div_ceil(d128);
        if m >= top {
            return None;
        }
        if m * d128 - pw <= 1u128 << (n + s - p) {
            return Some((m as u64, s));
        }
    }
    None
}

/// The multiplier for division by `d` in `ty` (i32 and i64 only, `2 < d <=
/// 2^(N-1)`, not a power of two), or `None`.
///
/// Short form: `short_magic` for `N`-bit dividends. When no such `s`
/// exists, `l = ceil(log2 d)` and `m = ceil(2^(N+l) / d)` satisfy the same
/// bound with `2^N <= m < 2^(N+1)`; `mul` is then `m - 2^N`.
pub(crate) fn udiv_magic(ty: Type, d: u64) -> Option<UdivMagic> {
    let n = match int_bits(ty) {
        Some(b @ (32 | 64)) => b,
        _ => return None,
    };
    let d = d & mask(n);
    // Above 2^(N-1) the quotient is 0 or 1 and `l` would be N (the long
    // multiplier would need 2N + 1 bits): left to the divide instruction.
    if d < 3 || d.is_power_of_two() || d > 1 << (n - 1) {
        return None;
    }
    if let Some((mul, shift)) = short_magic(n, d, n) {
        return Some(UdivMagic {
            long: false,
            mul,
            shift,
        });
    }
    let d128 = u128::from(d);
    let top = 1u128 << n;
    let l = 64 - (d - 1).leading_zeros();
    let m = (1u128 << (n + l)).div_ceil(d128);
    debug_assert!(m >= top && m < 2 * top);
    Some(UdivMagic {
        long: true,
        mul: (m - top) as u64,
        shift: l,
    })
}

/// Division by an even `d = d' * 2^pre` whose own multiplier would be the
/// long one: `x / d = (x >> pre) / d'`, and `x >> pre` has only `N - pre`
/// bits, for which `d'` always has a short multiplier (`short_magic`
/// with `p = N - pre`; at `s = max(0, ceil(log2 d') - pre)` the bound
/// holds and `m < 2^N`). Then `q = ((x >> pre) * mul) >> (N + shift)`:
/// a shift instead of the long form's add, subtract and shift.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct UdivPreShifted {
    pub(crate) pre: u32,
    pub(crate) mul: u64,
    pub(crate) shift: u32,
}

pub(crate) fn udiv_pre_shifted(ty: Type, d: u64) -> Option<UdivPreShifted> {
    let m = udiv_magic(ty, d)?;
    let n = ty.bits();
    let d = d & mask(n);
    if !m.long || d & 1 != 0 {
        return None;
    }
    let pre = d.trailing_zeros();
    let (mul, shift) = short_magic(n, d >> pre, n - pre)?;
    Some(UdivPreShifted { pre, mul, shift })
}

/// How `x / d` (signed, truncating, `N`-bit, `3 <= |d| < 2^(N-1)` not a
/// power of two) is computed with a multiply: `t = floor(x * mul / 2^(N +
/// shift))` with `mul < 2^N` taken as unsigned, then the quotient is `t +
/// (x < 0)` for `d > 0` and `-(t + (x < 0))` for `d < 0`.
///
/// Proof, with `a = |d|`, `e = mul*a - 2^(N+s)`, `0 < e <= 2^(s+1)`
/// (`e > 0`: `a` is not a power of two) and `x*mul / 2^(N+s) = x/a + δ`,
/// `δ = x*e / (a * 2^(N+s))`: for `0 <= x < 2^(N-1)`, `0 <= δ < 1/a`,
/// so `floor` gives `floor(x/a)`, the truncated quotient. For `x = -y`,
/// `0 < y <= 2^(N-1)`, `-1/a <= δ < 0`: if `a` divides `y` the floor is
/// `-y/a - 1`; otherwise `-y/a` is at least `1/a` above the integer below
/// it, so the floor is `-floor(y/a) - 1`. Either way `+ 1` gives the
/// truncated quotient `-floor(y/a)`. At `s = ceil(log2 a) - 1`, `e < a
/// <= 2^(s+1)` and `mul < 2^N` (since `a > 2^s`), so a multiplier always
/// exists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SdivMagic {
    pub(crate) mul: u64,
    pub(crate) shift: u32,
    pub(crate) negative: bool,
}

pub(crate) fn sdiv_magic(ty: Type, d: u64) -> Option<SdivMagic> {
    let n = match int_bits(ty) {
        Some(b @ (32 | 64)) => b,
        _ => return None,
    };
    let sd = sext(d & mask(n), n);
    let a = sd.unsigned_abs();
    // |MIN| is a power of two, so every `a` left is below 2^(N-1).
    if a < 3 || a.is_power_of_two() {
        return None;
    }
    let a128 = u128::from(a);
    for s in 0..n {
        let pw = 1u128 << (n + s);
        let m = pw.div_ceil(a128);
        if m >> n != 0 {
            return None;
        }
        if m * a128 - pw <= 1u128 << (s + 1) {
            return Some(SdivMagic {
                mul: m as u64,
                shift: s,
                negative: sd < 0,
            });
        }
    }
    None
}

/// `(k, negative)` when `d` in `ty` is `2^k` or `-2^k` with `k >= 1`
/// (`MIN` is `-2^(N-1)`); `1` and `-1` are not.
fn signed_pow2(ty: Type, d: u64) -> Option<(u32, bool)> {
    let n = int_bits(ty)?;
    let sd = sext(d & mask(n), n);
    let a = sd.unsigned_abs();
    (a.is_power_of_two() && a > 1).then(|| (a.trailing_zeros(), sd < 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GVN rewrites operands and branch arguments while it walks and
    /// skips the whole-function rewrite; the check that none is left
    /// (run on every function the crate's corpus tests optimize) fails
    /// for an operand or a branch argument that still names an alias.
    #[test]
    fn an_alias_use_left_behind_is_caught() {
        let text = "function %f(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 1
    v2 = iadd v0, v1
    jump block1(v2)
block1(v3: i32):
    v4 = iadd v3, v1
    return v4
}
";
        let f = kiln_reader::parse_functions(text)
            .expect("parses")
            .remove(0);
        let find = |s: &FunctionStencil, n: usize| {
            s.dfg
                .values
                .keys()
                .find(|v| v.index() == n)
                .expect("value exists")
        };
        check_no_alias_uses(&f.stencil);
        for aliased in [1, 2] {
            let mut func = f.stencil.clone();
            let (v, v0) = (find(&func, aliased), find(&func, 0));
            func.dfg.make_value_alias(v, v0);
            let caught = std::panic::catch_unwind(|| check_no_alias_uses(&func));
            assert!(caught.is_err(), "alias of v{aliased} not caught");
        }
    }

    /// The sequences the rules build, evaluated exactly as the machine
    /// would (wrapping in their types).
    fn divide(ty: Type, x: u64, d: u64) -> u64 {
        let m = udiv_magic(ty, d).expect("a magic divisor");
        if ty == Type::I32 {
            let xe = x & 0xffff_ffff;
            let q = if m.long {
                ((xe.wrapping_mul(m.mul) >> 32) + xe) >> m.shift
            } else {
                xe.wrapping_mul(m.mul) >> (32 + m.shift)
            };
            q & 0xffff_ffff
        } else {
            let hi = |a: u64, b: u64| ((u128::from(a) * u128::from(b)) >> 64) as u64;
            if m.long {
                let t = hi(x, m.mul);
                (t + ((x - t) >> 1)) >> (m.shift - 1)
            } else {
                hi(x, m.mul) >> m.shift
            }
        }
    }

    #[test]
    fn udiv_magic_matches_division() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut divisors: Vec<u64> = (3..2000).collect();
        divisors.extend([
            7919,
            104729,
            0x7fff_ffff,
            0x8000_0001,
            0xffff_fffe,
            0xffff_ffff,
            641,
            6_700_417,
            u64::MAX,
            u64::MAX - 1,
            (1 << 63) + 1,
            274_177,
            0x1_0000_0001,
        ]);
        for _ in 0..2000 {
            divisors.push(next() >> (next() % 64));
        }
        for ty in [Type::I32, Type::I64] {
            let m = mask(ty.bits());
            let mut long = 0;
            for &d0 in &divisors {
                let d = d0 & m;
                if d < 3 || d.is_power_of_two() || d > m / 2 {
                    assert_eq!(udiv_magic(ty, d), None);
                    continue;
                }
                long += usize::from(udiv_magic(ty, d).unwrap().long);
                let mut xs = vec![0, 1, d - 1, d, d + 1, m, m - 1, m / d * d, m / d * d - 1];
                for _ in 0..64 {
                    xs.push(next() & m);
                }
                for x in xs {
                    let x = x & m;
                    assert_eq!(divide(ty, x, d), x / d, "{ty} {x} / {d}");
                }
            }
            assert!(long > 0, "both forms are exercised for {ty}");
        }
        // The multipliers Cranelift's and GCC's output show for i32.
        assert_eq!(
            udiv_magic(Type::I32, 1000),
            Some(UdivMagic {
                long: false,
                mul: 0x1062_4dd3,
                shift: 6
            })
        );
        assert_eq!(udiv_magic(Type::I32, 7).map(|m| m.long), Some(true));
        assert_eq!(udiv_magic(Type::I8, 7), None);
        assert_eq!(udiv_magic(Type::I32, 8), None);
    }

    /// xorshift64: the tests' random values, seeded.
    fn rng(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Dividends worth trying against `d` in an `n`-bit type (as bit
    /// patterns): 0, ±1, MIN, MAX, the multiples of `d` nearest to the
    /// limits and to zero and their neighbours, and random ones.
    fn dividends(n: u32, d: i64, next: &mut impl FnMut() -> u64) -> Vec<u64> {
        let m = mask(n);
        let (min, max) = (sext(1 << (n - 1), n), sext(m >> 1, n));
        let a = i128::from(d).abs();
        let mut xs: Vec<i128> = vec![0, 1, -1, 2, -2, min.into(), max.into()];
        for base in [0, i128::from(max) / a * a, i128::from(min) / a * a] {
            for delta in -2..=2 {
                xs.push(base + delta);
                xs.push(base + a + delta);
                xs.push(base - a + delta);
            }
        }
        let mut out: Vec<u64> = xs.into_iter().map(|x| (x as u64) & m).collect();
        for _ in 0..48 {
            let r = next();
            // Small and large magnitudes alike.
            out.push((r >> (next() % u64::from(n))) & m);
            out.push(r & m);
        }
        out
    }

    /// The signed sequences the rules build, evaluated as the machine
    /// would (wrapping in their types); `None` where nothing is rewritten.
    fn sdivide(ty: Type, x: u64, d: u64) -> Option<(u64, u64)> {
        let n = ty.bits();
        let m = mask(n);
        let sx = sext(x & m, n);
        let (q, r) = if let Some((k, neg)) = signed_pow2(ty, d) {
            let sign = (sx >> (n - 1)) as u64 & m; // sshr by N-1
            let bias = if k == 1 {
                (x & m) >> (n - 1)
            } else {
                sign >> (n - k)
            };
            let sum = x.wrapping_add(bias) & m;
            let q = (sext(sum, n) >> k) as u64 & m;
            let q = if neg { q.wrapping_neg() & m } else { q };
            let r = x.wrapping_sub(sum & (1u64 << k).wrapping_neg() & m) & m;
            (q, r)
        } else {
            let g = sdiv_magic(ty, d)?;
            let t = if n == 32 {
                let p = sx.wrapping_mul(g.mul as i64);
                ((p >> (32 + g.shift)) as u64) & m
            } else {
                let smul = g.mul as i64;
                let mut h = ((i128::from(sx) * i128::from(smul)) >> 64) as i64;
                if g.mul >> 63 != 0 {
                    h = h.wrapping_add(sx);
                }
                (h >> g.shift) as u64
            };
            let q = if g.negative {
                ((sx >> (n - 1)) as u64).wrapping_sub(t) & m
            } else {
                t.wrapping_add((x & m) >> (n - 1)) & m
            };
            let r = x.wrapping_sub(q.wrapping_mul(d)) & m;
            (q, r)
        };
        Some((q, r))
    }

    #[test]
    fn sdiv_sequences_match_division() {
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        for ty in [Type::I8, Type::I16, Type::I32, Type::I64] {
            let n = ty.bits();
            let m = mask(n);
            let min = sext(1 << (n - 1), n);
            let mut divisors: Vec<i64> = (-1100..=1100).collect();
            divisors.extend([min, min + 1, -min - 1, min / 2, -(min / 2), min / 2 + 1]);
            for k in 1..n {
                divisors.push(1 << k);
                divisors.push(-(1i64 << k));
                divisors.push((1i64 << k) + 1);
                divisors.push((1i64 << k) - 1);
                divisors.push(-(1i64 << k) - 1);
            }
            for _ in 0..3000 {
                divisors.push(sext(next() >> (next() % u64::from(n)), n));
            }
            let (mut magic, mut pow2) = (0, 0);
            for d in divisors {
                let du = (d as u64) & m;
                let sd = sext(du, n);
                let rewritten = sdivide(ty, 0, du).is_some();
                let a = sd.unsigned_abs();
                // Exactly what the brief of the rules promises: every
                // constant but 0 and ±1 at i32/i64, powers of two anywhere.
                let expect = a > 1 && (a.is_power_of_two() || n >= 32);
                assert_eq!(rewritten, expect, "{ty} divisor {sd}");
                if !rewritten {
                    continue;
                }
                if a.is_power_of_two() {
                    pow2 += 1;
                } else {
                    magic += 1;
                    let g = sdiv_magic(ty, du).unwrap();
                    assert!(
                        u128::from(g.mul) >> n == 0 && g.mul != 0,
                        "{ty} {sd}: multiplier fits"
                    );
                }
                for x in dividends(n, sd, &mut next) {
                    let sx = sext(x, n);
                    let (q, r) = sdivide(ty, x, du).unwrap();
                    let (eq, er) = (sx.wrapping_div(sd), sx.wrapping_rem(sd));
                    assert_eq!(sext(q, n), sext(eq as u64 & m, n), "{ty} {sx} / {sd}");
                    assert_eq!(sext(r, n), er, "{ty} {sx} % {sd}");
                }
            }
            assert!(pow2 > 0, "{ty}: powers of two exercised");
            assert!(magic > 0 || n < 32, "{ty}: multipliers exercised");
        }
        // MIN / MIN = 1 and MIN % MIN = 0 at 32 bits; 7's multiplier is the
        // one GCC prints for `x / 7` (0x92492493, shift 2).
        let min32 = 1u64 << 31;
        assert_eq!(sdivide(Type::I32, min32, min32), Some((1, 0)));
        assert_eq!(
            sdiv_magic(Type::I32, 7),
            Some(SdivMagic {
                mul: 0x9249_2493,
                shift: 2,
                negative: false
            })
        );
        assert_eq!(sdiv_magic(Type::I32, 0xffff_ffff), None);
        assert_eq!(sdiv_magic(Type::I16, 7), None);
    }

    #[test]
    fn udiv_pre_shifted_matches_division() {
        let mut next = rng(0x1234_5678_9abc_def1);
        for ty in [Type::I32, Type::I64] {
            let n = ty.bits();
            let m = mask(n);
            let mut divisors: Vec<u64> = (2..4000).step_by(2).collect();
            for _ in 0..3000 {
                divisors.push((next() >> (next() % u64::from(n))) & m & !1);
            }
            divisors.extend([1000, 1 << (n - 1), (1 << (n - 1)) - 2, 14, 28, 56]);
            let mut used = 0;
            for d in divisors {
                let Some(u) = udiv_magic(ty, d) else { continue };
                let p = udiv_pre_shifted(ty, d);
                // Pre-shifting applies to exactly the even divisors whose
                // own multiplier is the long one, and always succeeds there.
                assert_eq!(p.is_some(), u.long && d & 1 == 0, "{ty} {d}");
                let Some(p) = p else { continue };
                used += 1;
                assert!(u128::from(p.mul) >> n == 0, "{ty} {d}: multiplier fits");
                for x in dividends(n, (d >> 1) as i64, &mut next) {
                    let xs = x >> p.pre;
                    let q = if n == 32 {
                        xs.wrapping_mul(p.mul) >> (32 + p.shift)
                    } else {
                        ((u128::from(xs) * u128::from(p.mul)) >> 64) as u64 >> p.shift
                    };
                    assert_eq!(q, x / d, "{ty} {x} / {d}");
                }
            }
            assert!(used > 100, "{ty}: {used} pre-shifted divisors");
        }
        // GCC's i64 `/ 1000`: shift by 3, multiply, shift by 4.
        let p = udiv_pre_shifted(Type::I64, 1000).expect("1000 is pre-shifted at i64");
        assert_eq!((p.pre, p.mul, p.shift), (3, 0x20c4_9ba5_e353_f7cf, 4));
        assert_eq!(udiv_pre_shifted(Type::I32, 1000), None);
    }

    #[test]
    fn sext_and_mask() {
        assert_eq!(sext(0xff, 8), -1);
        assert_eq!(sext(0x7f, 8), 127);
        assert_eq!(mask(64), u64::MAX);
        assert_eq!(mask(8), 0xff);
    }
}
