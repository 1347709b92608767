//! The stencil key: the SHA-256 of a canonical encoding of a
//! [`FunctionStencil`] together with the compiler version and the target.
//!
//! The key is the name of a compiled function in the compilation cache. Two
//! stencils get the same key exactly when they would compile to the same
//! machine code (up to the name table the relocations index, see below); in
//! particular the key
//!
//! - never reads `FunctionParameters` or the function's name: renaming a
//!   function, retargeting its external-name table or moving its base source
//!   location keeps the key;
//! - is insensitive to entity numbering: values, blocks, stack slots, global
//!   values, signatures, external functions, dynamic types, dynamic stack
//!   slots and alias regions are renumbered canonically while the stencil is
//!   walked; declared-but-unused entities, unused value numbers, detached
//!   instructions (in the DFG but not in the layout) and value aliases leave
//!   no trace;
//! - covers everything else that can change machine code: opcodes,
//!   immediates, types, memory flags, trap and condition codes, calling
//!   conventions and signatures, stack-slot sizes and alignments, global
//!   value definitions, block order and cold flags, and the *relative*
//!   source locations (they end up in the compiled code's source-location
//!   table).
//!
//! `ExternalName::User(ref)` is encoded as the ref's index. Refs are numbered
//! by the frontend in order of first declaration, so two functions declaring
//! the same callees in a different order get different keys. That is sound
//! (the compiled code's relocations name the ref, not the callee), merely a
//! missed hit.
//!
//! # Encoding (version [`KEY_VERSION`])
//!
//! All integers are fixed-width little-endian. `str`/`bytes` are a `u32`
//! length then the bytes. A *ref* to a renumbered entity is the `u32`
//! canonical number; a reference that is out of range of its table (only in
//! functions that do not verify) is `u32::MAX` followed by the raw `u32`
//! index.
//!
//! ```text
//! key      = sha256(header ‖ stencil)
//! header   = u32 KEY_VERSION ‖ str compiler-version ‖ str triple ‖ bytes flags
//! stencil  = 'S' sig(signature)
//!            'L' (u8 0 | u8 1 ‖ ref gv)            stack_limit
//!            block*                                layout order
//!            'E'
//!            entity-def*                           canonical order, see below
//!            'Z'
//! block    = 'B' u8 cold ‖ u32 n ‖ u16 param-type × n ‖ inst* ‖ 'b'
//! inst     = 'I' u8 opcode ‖ u8 format ‖ u32 rel-srcloc ‖ u16 ctrl-type
//!            ‖ u32 n ‖ u16 result-type × n ‖ payload(format)
//! sig      = u8 call-conv ‖ u32 n ‖ abi × n ‖ u32 m ‖ abi × m
//! abi      = u16 type ‖ u8 extension ‖ u8 purpose [‖ u32 sarg-size]
//! memflags = u8 word-bits ‖ u8 effective-trap-code (0 = notrap) ‖ ref region (u32::MAX-1 = none)
//! blockcall= ref block ‖ u32 n ‖ (u8 0 ‖ ref value | u8 1 ‖ u32 retN | u8 2 ‖ u32 exnN) × n
//! ```
//!
//! Canonical numbers: instructions have none (their position in the walk
//! is their identity); blocks in layout order; values in definition order
//! (each block's parameters, then each instruction's results, in layout
//! order); a value used but not defined in the layout gets the next number
//! at its first use. Stack slots, dynamic stack slots, dynamic types, global
//! values, signatures, external functions and alias regions get numbers in
//! order of first reference during the walk, and their definitions are
//! emitted after the body, in canonical order per kind, as
//! `tag ‖ u32 number ‖ data` (tags `k` `D` `d` `g` `s` `f` `r`), repeating
//! over the kinds until no new entity has been referenced (a global value
//! may reference another one, an external function a signature).
//!
//! Payloads follow the `InstructionData` variant field by field: value
//! operands as refs (a variable list as `u32 n ‖ ref × n`), immediates at
//! their natural width (`Imm64` as i64 — zero-extended from the controlling
//! type's width for an integer constant and from the global type for
//! `iadd_imm` global values, so that `iconst.i8 -1` and `iconst.i8 255`,
//! the same constant, share a key —, `Offset32` as i32, `Uimm8` as u8,
//! IEEE floats as their bits), condition codes, atomic operations and trap
//! codes as one byte, constants and shuffle masks inline as `bytes`, jump
//! tables inline as `u32 n ‖ blockcall × n` (default first), exception
//! tables inline as `ref sig ‖ u32 n ‖ blockcall × n ‖ u32 m ‖ item × m`
//! (`item = u8 0 ‖ u32 tag | u8 1 | u8 2 ‖ ref value`). Jump tables,
//! exception tables, constants and shuffle immediates therefore have no
//! numbers at all: only their contents count.
//!
//! Types are [`Type::repr`]; opcodes are `Opcode as u8`, formats the
//! variant's position in `InstructionData`, call conventions, extensions,
//! condition codes and atomic operations their declaration order. **Any
//! change to this encoding, to those enum orders or to the opcode table's
//! order must bump [`KEY_VERSION`]** (the golden-key test catches
//! accidental drift).
//!
//! # Cost
//!
//! One numbering walk over the layout (block parameters and instruction
//! results only) fills dense `Vec<u32>` tables; then one walk writes the
//! encoding straight into the hasher through a 2 KiB buffer. No text, no
//! hashing maps, no allocation beyond the renumbering tables, which a
//! [`StencilKeyer`] keeps across calls.

use crate::dfg::ValueData;
use crate::entities::*;
use crate::entity::EntityRef;
use crate::function::{
    AbiParam, ArgumentExtension, ArgumentPurpose, ExternalName, FunctionStencil, GlobalValueData,
    KnownSymbol, LibCall, Signature, StackSlotKind,
};
use crate::instructions::*;
use crate::memflags::MemFlags;
use crate::trapcode::TrapCode;
use crate::types::Type;
use sha2::{Digest, Sha256};
use std::fmt;

/// Version of the key encoding; bump on any change to it.
pub const KEY_VERSION: u32 = 1;

/// The compiler version mixed into every key.
pub const COMPILER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A stencil key: a SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StencilKey(pub [u8; 32]);

impl fmt::Display for StencilKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StencilKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StencilKey({self})")
    }
}

/// The target a function is compiled for, as far as the key is concerned.
#[derive(Clone, Copy, Debug)]
pub struct KeyTarget<'a> {
    /// The target triple, e.g. `x86_64-unknown-linux-gnu`.
    pub triple: &'a str,
    /// The canonical settings bytes (shared and ISA flags), supplied by the
    /// caller.
    pub flags: &'a [u8],
}

/// Computes the key of `stencil` for `target`.
pub fn stencil_key(stencil: &FunctionStencil, target: &KeyTarget) -> StencilKey {
    StencilKeyer::new().key(stencil, target)
}

/// Marks "no number yet" in the renumbering tables.
const NONE: u32 = u32::MAX;
/// Written for a missing optional reference.
const ABSENT: u32 = u32::MAX - 1;

/// A dense renumbering table: original index -> canonical number, plus the
/// inverse in canonical order.
#[derive(Default, Clone, Debug)]
struct Renumber {
    map: Vec<u32>,
    order: Vec<u32>,
}

impl Renumber {
    fn reset(&mut self, n: usize) {
        self.map.clear();
        self.map.resize(n, NONE);
        self.order.clear();
    }

    /// The canonical number of `index`, assigning the next one on first
    /// sight; `None` if out of range.
    #[inline]
    fn number(&mut self, index: usize) -> Option<u32> {
        let slot = self.map.get_mut(index)?;
        if *slot == NONE {
            *slot = self.order.len() as u32;
            self.order.push(index as u32);
        }
        Some(*slot)
    }
}

/// Reusable state for computing keys: the renumbering tables survive
/// between calls so a compile loop allocates nothing per function once the
/// tables have grown.
#[derive(Default, Clone, Debug)]
pub struct StencilKeyer {
    values: Vec<u32>,
    next_value: u32,
    blocks: Renumber,
    stack_slots: Renumber,
    dyn_slots: Renumber,
    dyn_types: Renumber,
    global_values: Renumber,
    sigs: Renumber,
    funcs: Renumber,
    regions: Renumber,
}

/// Size of the buffer between the encoder and the hasher: a multiple of
/// SHA-256's 64-byte block, so that full flushes hash in place.
const SINK_CAP: usize = 2048;

/// Buffered writer into the hasher. Fixed-width writes compile to a bounds
/// check and a store; the hasher sees large chunks only.
struct Sink {
    hasher: Sha256,
    buf: [u8; SINK_CAP],
    len: usize,
    /// A copy of every byte hashed, for `StencilKeyer::encoding` only.
    tap: Option<Vec<u8>>,
}

impl Sink {
    fn new() -> Self {
        Sink {
            hasher: Sha256::new(),
            buf: [0; SINK_CAP],
            len: 0,
            tap: None,
        }
    }
    #[cold]
    #[inline(never)]
    fn flush(&mut self) {
        self.hasher.update(&self.buf[..self.len]);
        if let Some(tap) = &mut self.tap {
            tap.extend_from_slice(&self.buf[..self.len]);
        }
        self.len = 0;
    }
    #[inline(always)]
    fn put<const N: usize>(&mut self, b: [u8; N]) {
        if self.len + N > SINK_CAP {
            self.flush();
        }
        if let Some(dst) = self.buf.get_mut(self.len..self.len + N) {
            dst.copy_from_slice(&b);
            self.len += N;
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        if self.len + b.len() > SINK_CAP {
            self.flush();
            if b.len() > SINK_CAP {
                self.hasher.update(b);
                if let Some(tap) = &mut self.tap {
                    tap.extend_from_slice(b);
                }
                return;
            }
        }
        if let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
            self.len += b.len();
        }
    }
    #[inline(always)]
    fn u8(&mut self, v: u8) {
        self.put([v]);
    }
    #[inline(always)]
    fn u16(&mut self, v: u16) {
        self.put(v.to_le_bytes());
    }
    #[inline(always)]
    fn u32(&mut self, v: u32) {
        self.put(v.to_le_bytes());
    }
    #[inline(always)]
    fn u64(&mut self, v: u64) {
        self.put(v.to_le_bytes());
    }
    fn str(&mut self, s: &[u8]) {
        self.u32(s.len() as u32);
        self.bytes(s);
    }
    #[inline(always)]
    fn ty(&mut self, t: Type) {
        self.u16(t.repr());
    }
    fn finish(mut self) -> ([u8; 32], Option<Vec<u8>>) {
        self.flush();
        (self.hasher.finalize().into(), self.tap)
    }
}

/// Writes a reference numbered by `table`.
#[inline]
fn write_ref(sink: &mut Sink, table: &mut Renumber, index: usize) {
    match table.number(index) {
        Some(n) => sink.u32(n),
        None => {
            sink.u32(NONE);
            sink.u32(index as u32);
        }
    }
}

impl StencilKeyer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Computes the key of `stencil` for `target`.
    pub fn key(&mut self, stencil: &FunctionStencil, target: &KeyTarget) -> StencilKey {
        StencilKey(self.run(stencil, target, Sink::new()).0)
    }

    /// The exact bytes the key hashes (header and canonical stencil), for
    /// debugging cache misses: diffing two encodings shows where two
    /// stencils differ. `sha256(encoding) == key`. Allocates; not for the
    /// compile path.
    pub fn encoding(&mut self, stencil: &FunctionStencil, target: &KeyTarget) -> Vec<u8> {
        let mut sink = Sink::new();
        sink.tap = Some(Vec::new());
        self.run(stencil, target, sink).1.unwrap_or_default()
    }

    fn run(
        &mut self,
        stencil: &FunctionStencil,
        target: &KeyTarget,
        mut sink: Sink,
    ) -> ([u8; 32], Option<Vec<u8>>) {
        sink.u32(KEY_VERSION);
        sink.str(COMPILER_VERSION.as_bytes());
        sink.str(target.triple.as_bytes());
        sink.str(target.flags);
        self.reset(stencil);
        self.number_definitions(stencil);
        self.encode(stencil, &mut sink);
        sink.finish()
    }

    fn reset(&mut self, s: &FunctionStencil) {
        let dfg = &s.dfg;
        self.values.clear();
        self.values.resize(dfg.num_values(), NONE);
        self.next_value = 0;
        self.blocks.reset(dfg.num_blocks());
        self.stack_slots.reset(s.sized_stack_slots.len());
        self.dyn_slots.reset(s.dynamic_stack_slots.len());
        self.dyn_types.reset(dfg.dynamic_types.len());
        self.global_values.reset(s.global_values.len());
        self.sigs.reset(dfg.signatures.len());
        self.funcs.reset(dfg.ext_funcs.len());
        self.regions.reset(dfg.alias_regions.len());
    }

    /// Numbers blocks in layout order and values in definition order.
    fn number_definitions(&mut self, s: &FunctionStencil) {
        let mut budget = s.dfg.num_blocks();
        for block in s.layout.blocks() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            if self.blocks.number(block.index()).is_none() {
                continue;
            }
            if let Some(params) = s.dfg.try_block_params(block) {
                for &p in params {
                    self.define_value(p);
                }
            }
            let mut ibudget = s.dfg.num_insts();
            for inst in s.layout.block_insts(block) {
                if ibudget == 0 {
                    break;
                }
                ibudget -= 1;
                if let Some(rs) = s.dfg.try_inst_results(inst) {
                    for &r in rs {
                        self.define_value(r);
                    }
                }
            }
        }
    }

    #[inline]
    fn define_value(&mut self, v: Value) {
        if let Some(slot) = self.values.get_mut(v.index()) {
            if *slot == NONE {
                *slot = self.next_value;
                self.next_value += 1;
            }
        }
    }

    #[inline]
    fn value_ref(&mut self, s: &FunctionStencil, sink: &mut Sink, v: Value) {
        let r = if s.dfg.value_is_valid(v) {
            s.dfg.resolve_aliases(v)
        } else {
            v
        };
        match self.values.get_mut(r.index()) {
            Some(slot) => {
                if *slot == NONE {
                    *slot = self.next_value;
                    self.next_value += 1;
                }
                sink.u32(*slot);
            }
            None => {
                sink.u32(NONE);
                sink.u32(r.as_u32());
            }
        }
    }

    fn encode(&mut self, s: &FunctionStencil, sink: &mut Sink) {
        sink.u8(b'S');
        write_sig(sink, &s.signature);
        sink.u8(b'L');
        match s.stack_limit {
            None => sink.u8(0),
            Some(gv) => {
                sink.u8(1);
                write_ref(sink, &mut self.global_values, gv.index());
            }
        }
        let mut budget = s.dfg.num_blocks();
        for block in s.layout.blocks() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let Some(data) = s.dfg.blocks.get(block) else {
                continue;
            };
            sink.u8(b'B');
            sink.u8(data.cold as u8);
            match s.dfg.try_block_params(block) {
                Some(params) => {
                    sink.u32(params.len() as u32);
                    for &p in params {
                        sink.ty(value_type(s, p));
                    }
                }
                None => sink.u32(NONE),
            }
            let mut ibudget = s.dfg.num_insts();
            for inst in s.layout.block_insts(block) {
                if ibudget == 0 {
                    break;
                }
                ibudget -= 1;
                self.encode_inst(s, sink, inst);
            }
            sink.u8(b'b');
        }
        sink.u8(b'E');
        self.encode_entities(s, sink);
        sink.u8(b'Z');
    }

    fn memflags(&mut self, sink: &mut Sink, f: MemFlags) {
        sink.u8(f.word_bits());
        // The effective code: an explicit `heap_oob` is the default, and
        // `notrap` makes any code moot.
        sink.u8(f.trap_code().map_or(0, |c| c.as_raw().get()));
        match f.alias_region() {
            None => sink.u32(ABSENT),
            Some(r) => write_ref(sink, &mut self.regions, r.index()),
        }
    }

    fn block_call(&mut self, s: &FunctionStencil, sink: &mut Sink, bc: &BlockCall) {
        write_ref(sink, &mut self.blocks, bc.block.index());
        match s.dfg.block_args.try_get(bc.args) {
            None => sink.u32(NONE),
            Some(args) => {
                sink.u32(args.len() as u32);
                for a in args {
                    match *a {
                        BlockArg::Value(v) => {
                            sink.u8(0);
                            self.value_ref(s, sink, v);
                        }
                        BlockArg::TryCallRet(n) => {
                            sink.u8(1);
                            sink.u32(n);
                        }
                        BlockArg::TryCallExn(n) => {
                            sink.u8(2);
                            sink.u32(n);
                        }
                    }
                }
            }
        }
    }

    fn value_list(&mut self, s: &FunctionStencil, sink: &mut Sink, list: ValueList) {
        match s.dfg.value_lists.try_get(list) {
            None => sink.u32(NONE),
            Some(vs) => {
                sink.u32(vs.len() as u32);
                for &v in vs {
                    self.value_ref(s, sink, v);
                }
            }
        }
    }

    fn exception_table(&mut self, s: &FunctionStencil, sink: &mut Sink, et: ExceptionTable) {
        let Some(t) = s.dfg.exception_tables.get(et) else {
            sink.u32(NONE);
            sink.u32(et.as_u32());
            return;
        };
        write_ref(sink, &mut self.sigs, t.sig.index());
        sink.u32(t.targets.len() as u32);
        for bc in &t.targets {
            self.block_call(s, sink, bc);
        }
        sink.u32(t.items.len() as u32);
        for item in &t.items {
            match *item {
                ExceptionTableItem::Tag(n) => {
                    sink.u8(0);
                    sink.u32(n);
                }
                ExceptionTableItem::Default => sink.u8(1),
                ExceptionTableItem::Context(v) => {
                    sink.u8(2);
                    self.value_ref(s, sink, v);
                }
            }
        }
    }

    fn encode_inst(&mut self, s: &FunctionStencil, sink: &mut Sink, inst: Inst) {
        let dfg = &s.dfg;
        sink.u8(b'I');
        let Some(data) = dfg.insts.get(inst) else {
            sink.u32(NONE);
            return;
        };
        let op = data.opcode();
        sink.u8(op as u8);
        sink.u8(format_tag(data));
        sink.u32(s.srclocs.get(inst).bits());
        let ctrl = ctrl_type(s, inst, data);
        sink.ty(ctrl);
        match dfg.try_inst_results(inst) {
            Some(rs) => {
                sink.u32(rs.len() as u32);
                for &r in rs {
                    sink.ty(value_type(s, r));
                }
            }
            None => sink.u32(NONE),
        }
        use InstructionData::*;
        match *data {
            NullAry { .. } => {}
            Unary { arg, .. } => self.value_ref(s, sink, arg),
            // `Imm64` may hold a narrow constant sign- or zero-extended;
            // both mean the same value, so encode it zero-extended from the
            // controlling type's width.
            UnaryImm { imm, .. } => sink.u64(if ctrl.is_int() && ctrl.is_scalar() {
                imm.zero_extend_from(ctrl.bits())
            } else {
                imm.0 as u64
            }),
            UnaryIeee16 { imm, .. } => sink.u16(imm.0),
            UnaryIeee32 { imm, .. } => sink.u32(imm.0),
            UnaryIeee64 { imm, .. } => sink.u64(imm.0),
            UnaryConst { constant, .. } => match dfg.constants.get(constant) {
                Some(c) => sink.str(c.as_slice()),
                None => sink.u32(NONE),
            },
            UnaryGlobalValue { global_value, .. } => {
                write_ref(sink, &mut self.global_values, global_value.index())
            }
            Binary { args, .. } => {
                self.value_ref(s, sink, args[0]);
                self.value_ref(s, sink, args[1]);
            }
            BinaryImm8 { arg, imm, .. } => {
                self.value_ref(s, sink, arg);
                sink.u8(imm.0);
            }
            Ternary { args, .. } => {
                for a in args {
                    self.value_ref(s, sink, a);
                }
            }
            TernaryImm8 { args, imm, .. } => {
                self.value_ref(s, sink, args[0]);
                self.value_ref(s, sink, args[1]);
                sink.u8(imm.0);
            }
            Shuffle { args, imm, .. } => {
                self.value_ref(s, sink, args[0]);
                self.value_ref(s, sink, args[1]);
                match dfg.immediates.get(imm) {
                    Some(c) => sink.str(c.as_slice()),
                    None => sink.u32(NONE),
                }
            }
            IntCompare { cond, args, .. } => {
                sink.u8(cond as u8);
                self.value_ref(s, sink, args[0]);
                self.value_ref(s, sink, args[1]);
            }
            FloatCompare { cond, args, .. } => {
                sink.u8(cond as u8);
                self.value_ref(s, sink, args[0]);
                self.value_ref(s, sink, args[1]);
            }
            Jump { destination, .. } => self.block_call(s, sink, &destination),
            Brif { arg, blocks, .. } => {
                self.value_ref(s, sink, arg);
                self.block_call(s, sink, &blocks[0]);
                self.block_call(s, sink, &blocks[1]);
            }
            BranchTable { arg, table, .. } => {
                self.value_ref(s, sink, arg);
                match dfg.jump_tables.get(table) {
                    Some(t) => {
                        sink.u32(t.entries.len() as u32);
                        for bc in &t.entries {
                            self.block_call(s, sink, bc);
                        }
                    }
                    None => {
                        sink.u32(NONE);
                        sink.u32(table.as_u32());
                    }
                }
            }
            MultiAry { args, .. } => self.value_list(s, sink, args),
            Call { func_ref, args, .. } => {
                write_ref(sink, &mut self.funcs, func_ref.index());
                self.value_list(s, sink, args);
            }
            CallIndirect { sig_ref, args, .. } => {
                write_ref(sink, &mut self.sigs, sig_ref.index());
                self.value_list(s, sink, args);
            }
            TryCall {
                func_ref,
                args,
                exception,
                ..
            } => {
                write_ref(sink, &mut self.funcs, func_ref.index());
                self.value_list(s, sink, args);
                self.exception_table(s, sink, exception);
            }
            TryCallIndirect {
                args, exception, ..
            } => {
                self.value_list(s, sink, args);
                self.exception_table(s, sink, exception);
            }
            FuncAddr { func_ref, .. } => write_ref(sink, &mut self.funcs, func_ref.index()),
            StackLoad {
                stack_slot, offset, ..
            } => {
                write_ref(sink, &mut self.stack_slots, stack_slot.index());
                sink.u32(offset.0 as u32);
            }
            DynamicStackLoad {
                dynamic_stack_slot, ..
            } => write_ref(sink, &mut self.dyn_slots, dynamic_stack_slot.index()),
            Load {
                flags, arg, offset, ..
            } => {
                self.memflags(sink, flags);
                self.value_ref(s, sink, arg);
                sink.u32(offset.0 as u32);
            }
            Store {
                flags,
                args,
                offset,
                ..
            } => {
                self.memflags(sink, flags);
                self.value_ref(s, sink, args[0]);
                self.value_ref(s, sink, args[1]);
                sink.u32(offset.0 as u32);
            }
            LoadNoOffset { flags, arg, .. } => {
                self.memflags(sink, flags);
                self.value_ref(s, sink, arg);
            }
            StoreNoOffset { flags, args, .. } => {
                self.memflags(sink, flags);
                self.value_ref(s, sink, args[0]);
                self.value_ref(s, sink, args[1]);
            }
            AtomicRmw {
                flags, op, args, ..
            } => {
                self.memflags(sink, flags);
                sink.u8(op as u8);
                self.value_ref(s, sink, args[0]);
                self.value_ref(s, sink, args[1]);
            }
            AtomicCas { flags, args, .. } => {
                self.memflags(sink, flags);
                for a in args {
                    self.value_ref(s, sink, a);
                }
            }
            Trap { code, .. } => sink.u8(trap(code)),
            CondTrap { arg, code, .. } => {
                self.value_ref(s, sink, arg);
                sink.u8(trap(code));
            }
            IntAddTrap { args, code, .. } => {
                self.value_ref(s, sink, args[0]);
                self.value_ref(s, sink, args[1]);
                sink.u8(trap(code));
            }
            ExceptionHandlerAddress { block, imm, .. } => {
                write_ref(sink, &mut self.blocks, block.index());
                sink.u64(imm.0 as u64);
            }
        }
    }

    /// Emits the definitions of every referenced entity, in canonical
    /// order, until a round adds nothing new.
    fn encode_entities(&mut self, s: &FunctionStencil, sink: &mut Sink) {
        let dfg = &s.dfg;
        let (mut ss, mut dss, mut dt, mut gv, mut sig, mut fun, mut reg) = (0, 0, 0, 0, 0, 0, 0);
        loop {
            let before = ss + dss + dt + gv + sig + fun + reg;
            while let Some(&orig) = self.stack_slots.order.get(ss) {
                sink.u8(b'k');
                sink.u32(ss as u32);
                ss += 1;
                let d = &s.sized_stack_slots.as_slice()[orig as usize];
                sink.u8(slot_kind(d.kind));
                sink.u32(d.size);
                sink.u8(d.align_shift);
                match d.key {
                    None => sink.u8(0),
                    Some(k) => {
                        sink.u8(1);
                        sink.u64(k);
                    }
                }
            }
            while let Some(&orig) = self.dyn_slots.order.get(dss) {
                sink.u8(b'D');
                sink.u32(dss as u32);
                dss += 1;
                let d = &s.dynamic_stack_slots.as_slice()[orig as usize];
                sink.u8(slot_kind(d.kind));
                write_ref(sink, &mut self.dyn_types, d.dyn_ty.index());
            }
            while let Some(&orig) = self.dyn_types.order.get(dt) {
                sink.u8(b'd');
                sink.u32(dt as u32);
                dt += 1;
                let d = &dfg.dynamic_types.as_slice()[orig as usize];
                sink.ty(d.base_vector_ty);
                write_ref(sink, &mut self.global_values, d.dynamic_scale.index());
            }
            while let Some(&orig) = self.global_values.order.get(gv) {
                sink.u8(b'g');
                sink.u32(gv as u32);
                gv += 1;
                match &s.global_values.as_slice()[orig as usize] {
                    GlobalValueData::VMContext => sink.u8(0),
                    GlobalValueData::Load {
                        base,
                        offset,
                        global_type,
                        flags,
                    } => {
                        sink.u8(1);
                        write_ref(sink, &mut self.global_values, base.index());
                        sink.u32(offset.0 as u32);
                        sink.ty(*global_type);
                        self.memflags(sink, *flags);
                    }
                    GlobalValueData::IAddImm {
                        base,
                        offset,
                        global_type,
                    } => {
                        sink.u8(2);
                        write_ref(sink, &mut self.global_values, base.index());
                        sink.u64(if global_type.is_int() && global_type.is_scalar() {
                            offset.zero_extend_from(global_type.bits())
                        } else {
                            offset.0 as u64
                        });
                        sink.ty(*global_type);
                    }
                    GlobalValueData::Symbol {
                        name,
                        offset,
                        colocated,
                        tls,
                    } => {
                        sink.u8(3);
                        write_name(sink, name);
                        sink.u64(offset.0 as u64);
                        sink.u8(*colocated as u8);
                        sink.u8(*tls as u8);
                    }
                    GlobalValueData::DynScaleTargetConst { vector_type } => {
                        sink.u8(4);
                        sink.ty(*vector_type);
                    }
                }
            }
            while let Some(&orig) = self.funcs.order.get(fun) {
                sink.u8(b'f');
                sink.u32(fun as u32);
                fun += 1;
                let d = &dfg.ext_funcs.as_slice()[orig as usize];
                write_name(sink, &d.name);
                write_ref(sink, &mut self.sigs, d.signature.index());
                sink.u8(d.colocated as u8);
                sink.u8(d.patchable as u8);
            }
            while let Some(&orig) = self.sigs.order.get(sig) {
                sink.u8(b's');
                sink.u32(sig as u32);
                sig += 1;
                write_sig(sink, &dfg.signatures.as_slice()[orig as usize]);
            }
            while let Some(&orig) = self.regions.order.get(reg) {
                sink.u8(b'r');
                sink.u32(reg as u32);
                reg += 1;
                let d = &dfg.alias_regions.as_slice()[orig as usize];
                sink.u64(d.id);
                sink.str(d.name.as_bytes());
            }
            if ss + dss + dt + gv + sig + fun + reg == before {
                break;
            }
        }
    }
}

fn trap(code: TrapCode) -> u8 {
    code.as_raw().get()
}

fn slot_kind(k: StackSlotKind) -> u8 {
    match k {
        StackSlotKind::ExplicitSlot => 0,
        StackSlotKind::ExplicitDynamicSlot => 1,
    }
}

fn value_type(s: &FunctionStencil, v: Value) -> Type {
    match s.dfg.values.get(v) {
        Some(ValueData::Inst { ty, .. })
        | Some(ValueData::Param { ty, .. })
        | Some(ValueData::Alias { ty, .. }) => *ty,
        _ => Type::INVALID,
    }
}

/// The controlling type, computed without any unchecked look-up.
fn ctrl_type(s: &FunctionStencil, inst: Inst, data: &InstructionData) -> Type {
    let info = data.opcode().info();
    if info.ctrl.is_none() {
        return Type::INVALID;
    }
    match info.typevar_operand {
        Some(tv) => crate::verifier::checked_args(data, &s.dfg)
            .and_then(|a| a.get(tv as usize).copied())
            .map_or(Type::INVALID, |v| {
                let r = if s.dfg.value_is_valid(v) {
                    s.dfg.resolve_aliases(v)
                } else {
                    v
                };
                value_type(s, r)
            }),
        None => s
            .dfg
            .try_inst_results(inst)
            .and_then(|r| r.first().copied())
            .map_or(Type::INVALID, |r| value_type(s, r)),
    }
}

fn write_abi(sink: &mut Sink, p: &AbiParam) {
    sink.ty(p.value_type);
    sink.u8(match p.extension {
        ArgumentExtension::None => 0,
        ArgumentExtension::Uext => 1,
        ArgumentExtension::Sext => 2,
    });
    match p.purpose {
        ArgumentPurpose::Normal => sink.u8(0),
        ArgumentPurpose::StructArgument(n) => {
            sink.u8(1);
            sink.u32(n);
        }
        ArgumentPurpose::StructReturn => sink.u8(2),
        ArgumentPurpose::VMContext => sink.u8(3),
        ArgumentPurpose::StackLimit => sink.u8(4),
    }
}

fn write_sig(sink: &mut Sink, sig: &Signature) {
    sink.u8(sig.call_conv as u8);
    sink.u32(sig.params.len() as u32);
    for p in &sig.params {
        write_abi(sink, p);
    }
    sink.u32(sig.returns.len() as u32);
    for p in &sig.returns {
        write_abi(sink, p);
    }
}

fn write_name(sink: &mut Sink, name: &ExternalName) {
    match name {
        ExternalName::User(r) => {
            sink.u8(0);
            sink.u32(r.as_u32());
        }
        ExternalName::TestCase(t) => {
            sink.u8(1);
            sink.str(t.as_str().as_bytes());
        }
        ExternalName::LibCall(l) => {
            sink.u8(2);
            sink.u8(LibCall::ALL.iter().position(|x| x == l).unwrap_or(255) as u8);
        }
        ExternalName::KnownSymbol(k) => {
            sink.u8(3);
            sink.u8(match k {
                KnownSymbol::ElfGlobalOffsetTable => 0,
                KnownSymbol::CoffTlsIndex => 1,
            });
        }
    }
}

/// The position of the data's variant in `InstructionData`.
fn format_tag(d: &InstructionData) -> u8 {
    use InstructionData::*;
    match d {
        NullAry { .. } => 0,
        Unary { .. } => 1,
        UnaryImm { .. } => 2,
        UnaryIeee16 { .. } => 3,
        UnaryIeee32 { .. } => 4,
        UnaryIeee64 { .. } => 5,
        UnaryConst { .. } => 6,
        UnaryGlobalValue { .. } => 7,
        Binary { .. } => 8,
        BinaryImm8 { .. } => 9,
        Ternary { .. } => 10,
        TernaryImm8 { .. } => 11,
        Shuffle { .. } => 12,
        IntCompare { .. } => 13,
        FloatCompare { .. } => 14,
        Jump { .. } => 15,
        Brif { .. } => 16,
        BranchTable { .. } => 17,
        MultiAry { .. } => 18,
        Call { .. } => 19,
        CallIndirect { .. } => 20,
        TryCall { .. } => 21,
        TryCallIndirect { .. } => 22,
        FuncAddr { .. } => 23,
        StackLoad { .. } => 24,
        DynamicStackLoad { .. } => 25,
        Load { .. } => 26,
        Store { .. } => 27,
        LoadNoOffset { .. } => 28,
        StoreNoOffset { .. } => 29,
        AtomicRmw { .. } => 30,
        AtomicCas { .. } => 31,
        Trap { .. } => 32,
        CondTrap { .. } => 33,
        IntAddTrap { .. } => 34,
        ExceptionHandlerAddress { .. } => 35,
    }
}

#[cfg(test)]
mod tests;
