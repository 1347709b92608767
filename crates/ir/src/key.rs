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
//! The header is fixed-width: `u32` little-endian integers, and `str`/
//! `bytes` as a `u32` length then the bytes. The stencil after it is
//! compact, because SHA-256 time is proportional to its length: `uv` is an
//! unsigned LEB128 varint, `sv` a zigzag-encoded signed varint, `u8` one
//! byte, `blob` a `uv` length then the bytes. A *ref* to a renumbered entity
//! is `uv (number + 1)` (`uv 0` means "none" where the reference is
//! optional). Anything out of range of its table, or a list missing from
//! its pool (only in functions that do not verify), is written as the
//! escape `uv u64::MAX` followed by `uv` raw index, a value no in-range
//! field can take.
//!
//! ```text
//! key      = sha256(header ‖ stencil)
//! header   = u32 KEY_VERSION ‖ str compiler-version ‖ str triple ‖ bytes flags
//! stencil  = sig(signature) ‖ (uv 0 | ref gv)      stack_limit
//!            block* ‖ u8 0                         layout order
//!            entity-def* ‖ 'Z'                     canonical order, see below
//! block    = u8 (1 + cold) ‖ uv n ‖ def × n ‖ inst* ‖ u8 0
//! inst     = op ‖ uv (head << 1 | same) ‖ [srcloc unless same] ‖ [long if head = 1] ‖ payload(format)
//!          | u8 0xFE ‖ uv inst-index               a laid-out instruction missing from the DFG
//! op       = u8 (opcode + 1)                       the variant is the opcode's format
//!          | u8 0xFF ‖ u8 opcode ‖ u8 format       any other variant
//! same     = 1 when srcloc would be uv 1 (the previous source location again), else 0
//! srcloc   = uv 0 (default) | uv (zigzag(rel - previous rel) + 1)
//!                                                  previous: the last non-default one, 0 at the start
//! head     = 0                                     no result; controlling type implied
//!          | type + 2                              one fresh result of that type; controlling type implied
//!          | 1                                     anything else: the long head
//! long     = uv ctrl-type ‖ uv n ‖ def × n
//! def      = uv (type << 1)                        first mention: takes the next number
//!          | uv (type << 1 | 1) ‖ value            already mentioned (or out of range)
//! value    = uv 0 (first mention: takes the next number) | uv (next number - number)
//! sig      = u8 call-conv ‖ uv n ‖ abi × n ‖ uv m ‖ abi × m
//! abi      = uv type ‖ u8 (extension << 3 | purpose) [‖ uv sarg-size]
//! memflags = u8 word-bits ‖ [u8 effective-trap-code, unless notrap is in the word bits]
//!            ‖ (uv 0 | ref region)
//! blockcall= ref block ‖ uv n ‖ (u8 0 ‖ value | u8 1 ‖ uv retN | u8 2 ‖ uv exnN) × n
//! ```
//!
//! Opcodes stay below 0xFD (a test checks it), so 0 (end of block), 0xFE
//! and 0xFF never clash with `opcode + 1`. Every field's presence and
//! length follows from what precedes it, so the encoding can be decoded
//! back: distinct canonical stencils give distinct byte strings.
//!
//! The controlling type is computed, not stored: `INVALID` for an opcode
//! that is not polymorphic, else the type of the opcode's typevar operand
//! (after alias resolution; `INVALID` if the variant or its list has no
//! such operand), else the type of the first result (`INVALID` if none).
//! The short heads (0 and `type + 2`) leave it out, and the decoder
//! recomputes it by the same rule from the opcode, the head's result type
//! and the payload. That needs the typevar operand's type to be in the
//! encoding before the instruction, so the short heads are only written
//! when the typevar operand is missing or out of range, or is a value
//! that a `def` (or a short head) has typed earlier in the walk; a value
//! so far mentioned only as an operand (`uv 0`) has no type in the
//! encoding, and its instruction takes the long head. A short head also
//! needs its result list in the pool, and the single result fresh.
//!
//! Canonical numbers: instructions have none (their position in the walk
//! is their identity); blocks in layout order; values in order of first
//! mention in the walk (each block's parameters, then each instruction's
//! results, then its operands, in layout order; usually definition order).
//! A definition at a value's first mention takes the next number and
//! writes only its type (a short head's one result too); an operand is
//! `uv 0` at a first mention (a
//! forward reference, or a value never defined in the layout) and else its
//! distance back from the next number to be given, usually one byte since
//! operands are mostly recent values. Stack slots, dynamic stack slots, dynamic types,
//! global values, signatures, external functions and alias regions get
//! numbers in order of first reference during the walk, and their
//! definitions are emitted after the body, in canonical order per kind, as
//! `tag ‖ data` (tags `k` `D` `d` `g` `s` `f` `r`; the number is the
//! position among the definitions of its kind), repeating over the kinds
//! until no new entity has been referenced (a global value may reference
//! another one, an external function a signature).
//!
//! Payloads follow the `InstructionData` variant field by field: value
//! operands as above (a variable list as `uv n ‖ value × n`), immediates
//! at their natural width as varints (`Imm64` as `sv` — sign-extended from
//! the controlling type's width for an integer constant and from the
//! global type for `iadd_imm` global values, so that `iconst.i8 -1` and
//! `iconst.i8 255`, the same constant, share a key —, `Offset32` as `sv`,
//! `Uimm8` as `u8`, IEEE floats as their raw little-endian bits), condition
//! codes, atomic operations and trap codes as one byte, constants and
//! shuffle masks inline as `blob`, jump tables inline as
//! `uv n ‖ blockcall × n` (default first), exception tables inline as
//! `ref sig ‖ uv n ‖ blockcall × n ‖ uv m ‖ item × m`
//! (`item = u8 0 ‖ uv tag | u8 1 | u8 2 ‖ value`). Entity definitions:
//! stack slot `u8 kind ‖ uv size ‖ u8 align-shift ‖ (u8 0 | u8 1 ‖ u64
//! key)`; dynamic slot `u8 kind ‖ ref dyn-type`; dynamic type `uv type ‖
//! ref gv`; global value `u8 0` (vmctx) `| u8 1 ‖ ref base ‖ sv offset ‖ uv
//! type ‖ memflags | u8 2 ‖ ref base ‖ sv imm ‖ uv type | u8 3 ‖ name ‖ sv
//! offset ‖ u8 colocated ‖ u8 tls | u8 4 ‖ uv vector-type`; external
//! function `name ‖ ref sig ‖ u8 colocated ‖ u8 patchable`; signature
//! `sig`; alias region `uv id` (its name is a label for readers and
//! cannot change machine code, so it is left out: functions that differ
//! only in region names share an entry); `name = u8 0 ‖ uv user-ref |
//! u8 1 ‖ blob testcase | u8 2 ‖ u8 libcall | u8 3 ‖ u8 known-symbol`.
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
//! A walk over the layout's blocks numbers them; then one walk writes the
//! encoding into a reused buffer, numbering values in dense `Vec<u32>`
//! tables as it goes, and the buffer is hashed with a single `update`.
//! No text, no hashing maps, no allocation once a [`StencilKeyer`]'s
//! tables and buffer have grown. Version 1 wrote fixed-width integers and
//! was about three times longer (4.4 KB against 1.5 KB per function on the
//! wasm corpus for version 2, 1.18 KB for version 3); SHA-256 time is
//! proportional to that length. Per instruction the walk reads the opcode
//! information from a 256-entry table (no bounds check), each value's
//! `ValueData` once, and writes opcode, head and source location in one
//! store; see the private `Enc` for the writes.

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
pub const KEY_VERSION: u32 = 3;

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
/// Set in a value's number while the encoding does not hold its type (it
/// was first mentioned as an operand). Numbers stay far below 2^31.
const UNTYPED: u32 = 1 << 31;
/// The varint written before the raw index of a reference that is out of
/// range of its table (or a list missing from its pool). It only appears
/// where a ref, a value or a count is expected, and those stay below 2^33
/// when in range, so it cannot be mistaken for one.
const ESCAPE: u64 = u64::MAX;

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

/// Reusable state for computing keys: the renumbering tables and the
/// encoding buffer survive between calls, so a compile loop allocates
/// nothing per function once they have grown.
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
    /// The encoding being built; hashed in one `update` at the end.
    out: Enc,
    /// The previous non-default relative source location in the walk;
    /// source locations are written as deltas from it.
    prev_loc: u32,
    /// Length of the header at the start of `out` in the current run.
    header_len: usize,
    /// The header of the previous key and the SHA-256 state after hashing
    /// it: a compile loop keys every function for the same target, so the
    /// header (about 100 bytes, two compression rounds) is hashed once.
    prefix: Vec<u8>,
    prefix_state: Sha256,
}

/// The encoding buffer. Writing the whole encoding first and hashing it
/// with one `update` lets SHA-256 run over long contiguous input (its
/// per-call overhead and block-buffer copies disappear).
///
/// The writes do not grow the buffer: `buf` is zero-filled scratch, `pos`
/// the end of the encoding, and a write is a store plus a bounds check
/// whose failure path is a panic. Unlike `Vec::push`, whose growth path is
/// a call that returns, that leaves nothing to merge after each byte, and
/// the compiler keeps the encoder's state in registers. Room is made ahead
/// with [`Enc::room`]: once per instruction for its fixed-size fields (at
/// most [`INST_ROOM`] bytes), and once per element of anything of
/// variable length, which also leaves room for fixed-size fields after
/// it. A missing `room` could only panic, never write out of bounds; the
/// malformed-stencil tests exercise the long paths.
#[derive(Default, Clone, Debug)]
struct Enc {
    buf: Vec<u8>,
    pos: usize,
}

/// Room made per instruction; its fixed-size fields take at most 82 bytes
/// (3 opcode, 5 source location, 3 short head or 19 long head before the
/// definitions, 62 for the largest fixed payload, `AtomicCas`: 17 of
/// memory flags with an escaped region and 3 escaped values of 15).
const INST_ROOM: usize = 128;
/// Room made per element of a variable-length part (a definition, a
/// value, a block call's head or argument, a signature parameter, an
/// entity definition's fixed fields: at most 47 bytes each), and left
/// after a blob.
const ELEM_ROOM: usize = 64;

impl Enc {
    fn clear(&mut self) {
        self.pos = 0;
    }
    /// The encoding so far.
    fn bytes_written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }
    /// Makes sure the next `n` bytes can be written.
    #[inline(always)]
    fn room(&mut self, n: usize) {
        if self.buf.len() - self.pos < n {
            self.grow(n);
        }
    }
    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let len = (self.pos + n).max(2 * self.buf.len()).max(1024);
        self.buf.resize(len, 0);
    }
    #[inline(always)]
    fn u8(&mut self, v: u8) {
        self.buf[self.pos] = v;
        self.pos += 1;
    }
    /// Fixed-size raw bytes (floats, stack-slot keys, region ids).
    #[inline(always)]
    fn raw<const N: usize>(&mut self, b: [u8; N]) {
        self.buf[self.pos..self.pos + N].copy_from_slice(&b);
        self.pos += N;
    }
    /// Unsigned LEB128. Nearly everything written (counts, types, small
    /// refs) is below 128 and takes the one-byte path.
    #[inline(always)]
    fn uv(&mut self, v: u64) {
        if v < 0x80 {
            self.u8(v as u8);
        } else {
            self.uv_long(v);
        }
    }
    #[inline(never)]
    fn uv_long(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.u8(v as u8);
    }
    /// Signed: zigzag, then LEB128 (small magnitudes of either sign are
    /// short).
    #[inline(always)]
    fn sv(&mut self, v: i64) {
        self.uv(((v << 1) ^ (v >> 63)) as u64);
    }
    /// A `blob`; makes its own room, and leaves [`ELEM_ROOM`] after it.
    fn bytes(&mut self, b: &[u8]) {
        self.room(10 + b.len() + ELEM_ROOM);
        self.uv(b.len() as u64);
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
    /// Header bytes, as they are; makes its own room.
    fn raw_slice(&mut self, b: &[u8]) {
        self.room(b.len() + ELEM_ROOM);
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
    #[inline(always)]
    fn ty(&mut self, t: Type) {
        self.uv(u64::from(t.repr()));
    }
    /// Out-of-range reference or missing list: the escape and the raw index.
    #[cold]
    fn escape(&mut self, raw: u32) {
        self.uv(ESCAPE);
        self.uv(u64::from(raw));
    }
}

/// Writes a reference numbered by `table` as `number + 1` (0 is "none"
/// where a reference is optional).
#[inline]
fn write_ref(out: &mut Enc, table: &mut Renumber, index: usize) {
    match table.number(index) {
        Some(n) => out.uv(u64::from(n) + 1),
        None => out.escape(index as u32),
    }
}

/// Opcode bytes: `opcode + 1` when the data's variant is the opcode's own
/// format (every verified instruction), else `OP_ODD ‖ opcode ‖ format`.
/// 0 ends a block, `OP_MISSING` is an instruction missing from the DFG.
const OP_END: u8 = 0;
const OP_MISSING: u8 = 0xFE;
const OP_ODD: u8 = 0xFF;

impl StencilKeyer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Computes the key of `stencil` for `target`.
    pub fn key(&mut self, stencil: &FunctionStencil, target: &KeyTarget) -> StencilKey {
        self.run(stencil, target);
        let (header, body) = self.out.bytes_written().split_at(self.header_len);
        if self.prefix != header {
            self.prefix.clear();
            self.prefix.extend_from_slice(header);
            self.prefix_state = Sha256::new_with_prefix(header);
        }
        // SHA-256 is a stream: resuming from the state after the header
        // gives the digest of header ‖ body.
        let mut hasher = self.prefix_state.clone();
        hasher.update(body);
        StencilKey(hasher.finalize().into())
    }

    /// The exact bytes the key hashes (header and canonical stencil), for
    /// debugging cache misses: diffing two encodings shows where two
    /// stencils differ. `sha256(encoding) == key`. Allocates; not for the
    /// compile path.
    pub fn encoding(&mut self, stencil: &FunctionStencil, target: &KeyTarget) -> Vec<u8> {
        self.run(stencil, target);
        self.out.bytes_written().to_vec()
    }

    fn run(&mut self, stencil: &FunctionStencil, target: &KeyTarget) {
        self.out.clear();
        // About 9 bytes per instruction on real code: one allocation for a
        // fresh keyer instead of a dozen doublings, none for a reused one.
        self.out.room(256 + 16 * stencil.dfg.num_insts());
        let out = &mut self.out;
        out.raw_slice(&KEY_VERSION.to_le_bytes());
        for s in [
            COMPILER_VERSION.as_bytes(),
            target.triple.as_bytes(),
            target.flags,
        ] {
            out.raw_slice(&(s.len() as u32).to_le_bytes());
            out.raw_slice(s);
        }
        self.header_len = self.out.pos;
        self.reset(stencil);
        self.number_blocks(stencil);
        self.encode(stencil);
    }

    fn reset(&mut self, s: &FunctionStencil) {
        let dfg = &s.dfg;
        self.values.clear();
        self.values.resize(dfg.num_values(), NONE);
        self.next_value = 0;
        self.prev_loc = 0;
        self.blocks.reset(dfg.num_blocks());
        self.stack_slots.reset(s.sized_stack_slots.len());
        self.dyn_slots.reset(s.dynamic_stack_slots.len());
        self.dyn_types.reset(dfg.dynamic_types.len());
        self.global_values.reset(s.global_values.len());
        self.sigs.reset(dfg.signatures.len());
        self.funcs.reset(dfg.ext_funcs.len());
        self.regions.reset(dfg.alias_regions.len());
    }

    /// Numbers blocks in layout order. (Values are numbered during the
    /// encoding walk itself, at first mention: a separate numbering walk
    /// over every instruction's results cost about 15% of the key.)
    fn number_blocks(&mut self, s: &FunctionStencil) {
        let mut budget = s.dfg.num_blocks();
        for block in s.layout.blocks() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            self.blocks.number(block.index());
        }
    }

    /// A value operand: `uv 0` for a value mentioned here for the first
    /// time (it gets the next number), else `uv (next - number)`, its
    /// distance back from the next number to be given. Operands are mostly
    /// recent values, so this is usually one byte.
    #[inline]
    fn value_ref(&mut self, s: &FunctionStencil, v: Value) {
        let r = resolve(s, v);
        match self.values.get_mut(r.index()) {
            Some(slot) => {
                if *slot == NONE {
                    // Numbered, but its type is not in the encoding (yet).
                    *slot = self.next_value | UNTYPED;
                    self.next_value += 1;
                    self.out.u8(0);
                } else {
                    self.out.uv(u64::from(self.next_value - (*slot & !UNTYPED)));
                }
            }
            None => self.out.escape(r.as_u32()),
        }
    }

    /// A definition (block parameter or result) of type `ty`: `uv (ty <<
    /// 1)` when it is the value's first mention, which numbers it; else
    /// (a forward reference in an unusual layout, a value defined twice or
    /// out of range) `uv (ty << 1 | 1)` and the value as an operand.
    #[inline]
    fn define(&mut self, v: Value, ty: Type) {
        let t = u64::from(ty.repr()) << 1;
        match self.values.get_mut(v.index()) {
            Some(slot) if *slot == NONE => {
                *slot = self.next_value;
                self.next_value += 1;
                self.out.uv(t);
            }
            Some(slot) => {
                // The encoding now holds the value's type.
                *slot &= !UNTYPED;
                let n = *slot;
                self.out.uv(t | 1);
                self.out.uv(u64::from(self.next_value - n));
            }
            None => {
                self.out.uv(t | 1);
                self.out.escape(v.as_u32());
            }
        }
    }

    fn encode(&mut self, s: &FunctionStencil) {
        write_sig(&mut self.out, &s.signature);
        self.out.room(ELEM_ROOM);
        match s.stack_limit {
            None => self.out.uv(0),
            Some(gv) => write_ref(&mut self.out, &mut self.global_values, gv.index()),
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
            // 1 or 2 (cold) opens a block; 0 ends the list.
            self.out.room(ELEM_ROOM);
            self.out.u8(1 + data.cold as u8);
            match s.dfg.try_block_params(block) {
                Some(params) => {
                    self.out.uv(params.len() as u64);
                    for &p in params {
                        self.out.room(ELEM_ROOM);
                        self.define(p, value_type(s, p));
                    }
                }
                None => self.out.escape(NONE),
            }
            let mut ibudget = s.dfg.num_insts();
            for inst in s.layout.block_insts(block) {
                if ibudget == 0 {
                    break;
                }
                ibudget -= 1;
                self.encode_inst(s, inst);
            }
            self.out.room(ELEM_ROOM);
            self.out.u8(OP_END);
        }
        self.out.room(ELEM_ROOM);
        self.out.u8(0);
        self.encode_entities(s);
    }

    fn memflags(&mut self, f: MemFlags) {
        // The effective trap code: an explicit `heap_oob` is the default,
        // and `notrap` (in the word bits) makes any code moot: then it is
        // left out.
        match f.trap_code() {
            None => self.out.u8(f.word_bits()),
            Some(c) => self.out.raw([f.word_bits(), c.as_raw().get()]),
        }
        match f.alias_region() {
            None => self.out.uv(0),
            Some(r) => write_ref(&mut self.out, &mut self.regions, r.index()),
        }
    }

    fn block_call(&mut self, s: &FunctionStencil, bc: &BlockCall) {
        self.out.room(ELEM_ROOM);
        write_ref(&mut self.out, &mut self.blocks, bc.block.index());
        match s.dfg.block_args.try_get(bc.args) {
            None => self.out.escape(NONE),
            Some(args) => {
                self.out.uv(args.len() as u64);
                for a in args {
                    self.out.room(ELEM_ROOM);
                    match *a {
                        BlockArg::Value(v) => {
                            self.out.u8(0);
                            self.value_ref(s, v);
                        }
                        BlockArg::TryCallRet(n) => {
                            self.out.u8(1);
                            self.out.uv(u64::from(n));
                        }
                        BlockArg::TryCallExn(n) => {
                            self.out.u8(2);
                            self.out.uv(u64::from(n));
                        }
                    }
                }
            }
        }
    }

    fn value_list(&mut self, s: &FunctionStencil, list: ValueList) {
        self.out.room(ELEM_ROOM);
        match s.dfg.value_lists.try_get(list) {
            None => self.out.escape(NONE),
            Some(vs) => {
                self.out.uv(vs.len() as u64);
                for &v in vs {
                    self.out.room(ELEM_ROOM);
                    self.value_ref(s, v);
                }
            }
        }
    }

    fn exception_table(&mut self, s: &FunctionStencil, et: ExceptionTable) {
        self.out.room(ELEM_ROOM);
        let Some(t) = s.dfg.exception_tables.get(et) else {
            self.out.escape(et.as_u32());
            return;
        };
        write_ref(&mut self.out, &mut self.sigs, t.sig.index());
        self.out.uv(t.targets.len() as u64);
        for bc in &t.targets {
            self.block_call(s, bc);
        }
        self.out.room(ELEM_ROOM);
        self.out.uv(t.items.len() as u64);
        for item in &t.items {
            self.out.room(ELEM_ROOM);
            match *item {
                ExceptionTableItem::Tag(n) => {
                    self.out.u8(0);
                    self.out.uv(u64::from(n));
                }
                ExceptionTableItem::Default => self.out.u8(1),
                ExceptionTableItem::Context(v) => {
                    self.out.u8(2);
                    self.value_ref(s, v);
                }
            }
        }
    }

    fn constant(&mut self, c: Option<&crate::ConstantData>, raw: u32) {
        match c {
            Some(c) => self.out.bytes(c.as_slice()),
            None => self.out.escape(raw),
        }
    }

    fn encode_inst(&mut self, s: &FunctionStencil, inst: Inst) {
        let dfg = &s.dfg;
        self.out.room(INST_ROOM);
        let Some(data) = dfg.insts.get(inst) else {
            self.out.u8(OP_MISSING);
            self.out.uv(u64::from(inst.as_u32()));
            return;
        };
        let op = data.opcode();
        // `op as u8` indexes a 256-entry table: no bounds check.
        let k = OP_KEY_INFO[op as u8 as usize];
        let format = format_tag(data);
        // Opcode, source location and the short head usually take a byte
        // each: written in one go below when they do.
        let op_byte = if u16::from(format) == k & FORMAT_MASK {
            op as u8 + 1
        } else {
            self.out.u8(OP_ODD);
            self.out.u8(op as u8);
            format
        };
        // Relative source location as a delta from the previous one: 0 is
        // the default location, else zigzag(delta) + 1.
        let loc = s.srclocs.get(inst).bits();
        let loc_code = if loc == u32::MAX {
            0
        } else {
            let delta = loc.wrapping_sub(self.prev_loc) as i32;
            self.prev_loc = loc;
            (((delta << 1) ^ (delta >> 31)) as u32 as u64) + 1
        };
        let results = dfg.try_inst_results(inst);
        // The controlling type, and whether a decoder can recompute it
        // (see the module doc): always, except from a typevar operand that
        // is in range and present but whose type the encoding does not
        // hold yet (no number, or first mentioned as an operand and not
        // defined since).
        let (ctrl, implied) = if k & HAS_TV != 0 {
            match typevar_operand(data, (k >> TV_SHIFT) as u8, dfg) {
                None => (Type::INVALID, true),
                Some(v) => {
                    let (r, ty) = resolve_typed(s, v);
                    match self.values.get(r.index()) {
                        None => (Type::INVALID, true),
                        Some(&n) => (ty, n & UNTYPED == 0),
                    }
                }
            }
        } else {
            (Type::INVALID, true)
        };
        // The head: `uv 0` no result, `uv (type + 2)` one fresh result of
        // that type (both with the controlling type implied), else `uv 1`,
        // the controlling type and the result definitions.
        let (ctrl, head) = match results {
            Some([]) if implied => (ctrl, 0),
            Some(&[r]) if implied => match self.values.get_mut(r.index()) {
                Some(slot) if *slot == NONE => {
                    *slot = self.next_value;
                    self.next_value += 1;
                    let ty = value_type(s, r);
                    // Without a typevar operand, a polymorphic opcode's
                    // controlling type is its first result's.
                    let ctrl = if k & FROM_RESULT != 0 { ty } else { ctrl };
                    (ctrl, u64::from(ty.repr()) + 2)
                }
                _ => (ctrl, 1),
            },
            _ => (ctrl, 1),
        };
        // The head's low bit says "same source location as the previous
        // one" (`srcloc` = 1, about half the instructions): then the
        // source location is left out.
        let same_loc = loc_code == 1;
        let head2 = head << 1 | same_loc as u64;
        if same_loc && head2 < 0x80 {
            self.out.raw([op_byte, head2 as u8]);
        } else if loc_code < 0x80 && head2 < 0x80 {
            self.out.raw([op_byte, head2 as u8, loc_code as u8]);
        } else {
            self.out.u8(op_byte);
            self.out.uv(head2);
            if !same_loc {
                self.out.uv(loc_code);
            }
        }
        let ctrl = if head == 1 {
            // The long head.
            let ctrl = if k & FROM_RESULT != 0 {
                results
                    .and_then(|r| r.first().copied())
                    .map_or(Type::INVALID, |r| value_type(s, r))
            } else {
                ctrl
            };
            self.out.ty(ctrl);
            match results {
                Some(rs) => {
                    self.out.uv(rs.len() as u64);
                    for &r in rs {
                        self.out.room(ELEM_ROOM);
                        self.define(r, value_type(s, r));
                    }
                }
                None => self.out.escape(NONE),
            }
            // Room again for the payload's fixed-size fields.
            self.out.room(INST_ROOM);
            ctrl
        } else {
            ctrl
        };
        use InstructionData::*;
        match *data {
            NullAry { .. } => {}
            Unary { arg, .. } => self.value_ref(s, arg),
            // `Imm64` may hold a narrow constant sign- or zero-extended;
            // both mean the same value, so encode it sign-extended from the
            // controlling type's width (short for small negative numbers).
            UnaryImm { imm, .. } => self.out.sv(if ctrl.is_int() && ctrl.is_scalar() {
                imm.sign_extend_from(ctrl.bits())
            } else {
                imm.0
            }),
            UnaryIeee16 { imm, .. } => self.out.raw(imm.0.to_le_bytes()),
            UnaryIeee32 { imm, .. } => self.out.raw(imm.0.to_le_bytes()),
            UnaryIeee64 { imm, .. } => self.out.raw(imm.0.to_le_bytes()),
            UnaryConst { constant, .. } => {
                self.constant(dfg.constants.get(constant), constant.as_u32())
            }
            UnaryGlobalValue { global_value, .. } => {
                write_ref(&mut self.out, &mut self.global_values, global_value.index())
            }
            Binary { args, .. } => {
                self.value_ref(s, args[0]);
                self.value_ref(s, args[1]);
            }
            BinaryImm8 { arg, imm, .. } => {
                self.value_ref(s, arg);
                self.out.u8(imm.0);
            }
            Ternary { args, .. } => {
                for a in args {
                    self.value_ref(s, a);
                }
            }
            TernaryImm8 { args, imm, .. } => {
                self.value_ref(s, args[0]);
                self.value_ref(s, args[1]);
                self.out.u8(imm.0);
            }
            Shuffle { args, imm, .. } => {
                self.value_ref(s, args[0]);
                self.value_ref(s, args[1]);
                self.constant(dfg.immediates.get(imm), imm.as_u32());
            }
            IntCompare { cond, args, .. } => {
                self.out.u8(cond as u8);
                self.value_ref(s, args[0]);
                self.value_ref(s, args[1]);
            }
            FloatCompare { cond, args, .. } => {
                self.out.u8(cond as u8);
                self.value_ref(s, args[0]);
                self.value_ref(s, args[1]);
            }
            Jump { destination, .. } => self.block_call(s, &destination),
            Brif { arg, blocks, .. } => {
                self.value_ref(s, arg);
                self.block_call(s, &blocks[0]);
                self.block_call(s, &blocks[1]);
            }
            BranchTable { arg, table, .. } => {
                self.value_ref(s, arg);
                self.out.room(ELEM_ROOM);
                match dfg.jump_tables.get(table) {
                    Some(t) => {
                        self.out.uv(t.entries.len() as u64);
                        for bc in &t.entries {
                            self.block_call(s, bc);
                        }
                    }
                    None => self.out.escape(table.as_u32()),
                }
            }
            MultiAry { args, .. } => self.value_list(s, args),
            Call { func_ref, args, .. } => {
                write_ref(&mut self.out, &mut self.funcs, func_ref.index());
                self.value_list(s, args);
            }
            CallIndirect { sig_ref, args, .. } => {
                write_ref(&mut self.out, &mut self.sigs, sig_ref.index());
                self.value_list(s, args);
            }
            TryCall {
                func_ref,
                args,
                exception,
                ..
            } => {
                write_ref(&mut self.out, &mut self.funcs, func_ref.index());
                self.value_list(s, args);
                self.exception_table(s, exception);
            }
            TryCallIndirect {
                args, exception, ..
            } => {
                self.value_list(s, args);
                self.exception_table(s, exception);
            }
            FuncAddr { func_ref, .. } => {
                write_ref(&mut self.out, &mut self.funcs, func_ref.index())
            }
            StackLoad {
                stack_slot, offset, ..
            } => {
                write_ref(&mut self.out, &mut self.stack_slots, stack_slot.index());
                self.out.sv(i64::from(offset.0));
            }
            DynamicStackLoad {
                dynamic_stack_slot, ..
            } => write_ref(
                &mut self.out,
                &mut self.dyn_slots,
                dynamic_stack_slot.index(),
            ),
            Load {
                flags, arg, offset, ..
            } => {
                self.memflags(flags);
                self.value_ref(s, arg);
                self.out.sv(i64::from(offset.0));
            }
            Store {
                flags,
                args,
                offset,
                ..
            } => {
                self.memflags(flags);
                self.value_ref(s, args[0]);
                self.value_ref(s, args[1]);
                self.out.sv(i64::from(offset.0));
            }
            LoadNoOffset { flags, arg, .. } => {
                self.memflags(flags);
                self.value_ref(s, arg);
            }
            StoreNoOffset { flags, args, .. } => {
                self.memflags(flags);
                self.value_ref(s, args[0]);
                self.value_ref(s, args[1]);
            }
            AtomicRmw {
                flags, op, args, ..
            } => {
                self.memflags(flags);
                self.out.u8(op as u8);
                self.value_ref(s, args[0]);
                self.value_ref(s, args[1]);
            }
            AtomicCas { flags, args, .. } => {
                self.memflags(flags);
                for a in args {
                    self.value_ref(s, a);
                }
            }
            Trap { code, .. } => self.out.u8(trap(code)),
            CondTrap { arg, code, .. } => {
                self.value_ref(s, arg);
                self.out.u8(trap(code));
            }
            IntAddTrap { args, code, .. } => {
                self.value_ref(s, args[0]);
                self.value_ref(s, args[1]);
                self.out.u8(trap(code));
            }
            ExceptionHandlerAddress { block, imm, .. } => {
                write_ref(&mut self.out, &mut self.blocks, block.index());
                self.out.uv(imm.0 as u64);
            }
        }
    }

    /// Emits the definitions of every referenced entity, in canonical
    /// order, until a round adds nothing new. An entity's number is its
    /// position among the definitions of its kind, so none is written.
    fn encode_entities(&mut self, s: &FunctionStencil) {
        let dfg = &s.dfg;
        let (mut ss, mut dss, mut dt, mut gv, mut sig, mut fun, mut reg) = (0, 0, 0, 0, 0, 0, 0);
        loop {
            let before = ss + dss + dt + gv + sig + fun + reg;
            while let Some(&orig) = self.stack_slots.order.get(ss) {
                ss += 1;
                self.out.room(ELEM_ROOM);
                let d = &s.sized_stack_slots.as_slice()[orig as usize];
                let out = &mut self.out;
                out.u8(b'k');
                out.u8(slot_kind(d.kind));
                out.uv(u64::from(d.size));
                out.u8(d.align_shift);
                match d.key {
                    None => out.u8(0),
                    Some(k) => {
                        out.u8(1);
                        out.raw(k.to_le_bytes());
                    }
                }
            }
            while let Some(&orig) = self.dyn_slots.order.get(dss) {
                dss += 1;
                self.out.room(ELEM_ROOM);
                let d = &s.dynamic_stack_slots.as_slice()[orig as usize];
                self.out.u8(b'D');
                self.out.u8(slot_kind(d.kind));
                write_ref(&mut self.out, &mut self.dyn_types, d.dyn_ty.index());
            }
            while let Some(&orig) = self.dyn_types.order.get(dt) {
                dt += 1;
                self.out.room(ELEM_ROOM);
                let d = &dfg.dynamic_types.as_slice()[orig as usize];
                self.out.u8(b'd');
                self.out.ty(d.base_vector_ty);
                write_ref(
                    &mut self.out,
                    &mut self.global_values,
                    d.dynamic_scale.index(),
                );
            }
            while let Some(&orig) = self.global_values.order.get(gv) {
                gv += 1;
                self.out.room(ELEM_ROOM);
                self.out.u8(b'g');
                match &s.global_values.as_slice()[orig as usize] {
                    GlobalValueData::VMContext => self.out.u8(0),
                    GlobalValueData::Load {
                        base,
                        offset,
                        global_type,
                        flags,
                    } => {
                        self.out.u8(1);
                        write_ref(&mut self.out, &mut self.global_values, base.index());
                        self.out.sv(i64::from(offset.0));
                        self.out.ty(*global_type);
                        self.memflags(*flags);
                    }
                    GlobalValueData::IAddImm {
                        base,
                        offset,
                        global_type,
                    } => {
                        self.out.u8(2);
                        write_ref(&mut self.out, &mut self.global_values, base.index());
                        self.out
                            .sv(if global_type.is_int() && global_type.is_scalar() {
                                offset.sign_extend_from(global_type.bits())
                            } else {
                                offset.0
                            });
                        self.out.ty(*global_type);
                    }
                    GlobalValueData::Symbol {
                        name,
                        offset,
                        colocated,
                        tls,
                    } => {
                        self.out.u8(3);
                        write_name(&mut self.out, name);
                        self.out.sv(offset.0);
                        self.out.u8(*colocated as u8);
                        self.out.u8(*tls as u8);
                    }
                    GlobalValueData::DynScaleTargetConst { vector_type } => {
                        self.out.u8(4);
                        self.out.ty(*vector_type);
                    }
                }
            }
            while let Some(&orig) = self.funcs.order.get(fun) {
                fun += 1;
                self.out.room(ELEM_ROOM);
                let d = &dfg.ext_funcs.as_slice()[orig as usize];
                self.out.u8(b'f');
                write_name(&mut self.out, &d.name);
                write_ref(&mut self.out, &mut self.sigs, d.signature.index());
                self.out.u8(d.colocated as u8);
                self.out.u8(d.patchable as u8);
            }
            while let Some(&orig) = self.sigs.order.get(sig) {
                sig += 1;
                self.out.room(ELEM_ROOM);
                self.out.u8(b's');
                write_sig(&mut self.out, &dfg.signatures.as_slice()[orig as usize]);
            }
            while let Some(&orig) = self.regions.order.get(reg) {
                reg += 1;
                self.out.room(ELEM_ROOM);
                let d = &dfg.alias_regions.as_slice()[orig as usize];
                self.out.u8(b'r');
                self.out.uv(d.id);
            }
            if ss + dss + dt + gv + sig + fun + reg == before {
                break;
            }
        }
        self.out.room(ELEM_ROOM);
        self.out.u8(b'Z');
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

/// `v` with aliases resolved, in one table look-up for a value that is not
/// an alias (nearly all of them); out-of-range values are returned as is.
#[inline]
fn resolve(s: &FunctionStencil, v: Value) -> Value {
    match s.dfg.values.get(v) {
        Some(ValueData::Alias { .. }) => s.dfg.resolve_aliases(v),
        _ => v,
    }
}

/// Per opcode, what the encoder needs from its `OpcodeInfo`, indexed by
/// `Opcode as u8` (256 entries, so no bounds check): its format's tag in
/// the low bits, `HAS_TV` with the typevar operand's index above
/// `TV_SHIFT`, or `FROM_RESULT` for a polymorphic opcode without one.
static OP_KEY_INFO: [u16; 256] = op_key_info();
const FORMAT_MASK: u16 = 0x3F;
const HAS_TV: u16 = 0x40;
const FROM_RESULT: u16 = 0x80;
const TV_SHIFT: u16 = 8;

const fn op_key_info() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < OPCODES.len() {
        let info = &OPCODES[i];
        let mut e = info.format as u16;
        if info.ctrl.is_some() {
            e |= match info.typevar_operand {
                Some(tv) => HAS_TV | (tv as u16) << TV_SHIFT,
                None => FROM_RESULT,
            };
        }
        t[i] = e;
        i += 1;
    }
    t
}

/// `v` with aliases resolved and its type, in one table look-up for a value
/// that is not an alias (nearly all of them); out-of-range values are
/// returned as is, with type `INVALID`.
#[inline]
fn resolve_typed(s: &FunctionStencil, v: Value) -> (Value, Type) {
    match s.dfg.values.get(v) {
        Some(ValueData::Inst { ty, .. }) | Some(ValueData::Param { ty, .. }) => (v, *ty),
        Some(ValueData::Alias { .. }) => {
            let r = s.dfg.resolve_aliases(v);
            (r, value_type(s, r))
        }
        _ => (v, Type::INVALID),
    }
}

/// The typevar operand `tv` of `data`; `None` if the variant has no such
/// operand or its list is missing from the pool.
#[inline]
fn typevar_operand(
    data: &InstructionData,
    tv: u8,
    dfg: &crate::dfg::DataFlowGraph,
) -> Option<Value> {
    data.try_arguments(&dfg.value_lists)?
        .get(usize::from(tv))
        .copied()
}

fn write_abi(out: &mut Enc, p: &AbiParam) {
    out.ty(p.value_type);
    let ext = match p.extension {
        ArgumentExtension::None => 0,
        ArgumentExtension::Uext => 1,
        ArgumentExtension::Sext => 2,
    };
    // Extension and purpose in one byte: `extension << 3 | purpose`.
    match p.purpose {
        ArgumentPurpose::Normal => out.u8(ext << 3),
        ArgumentPurpose::StructArgument(n) => {
            out.u8(ext << 3 | 1);
            out.uv(u64::from(n));
        }
        ArgumentPurpose::StructReturn => out.u8(ext << 3 | 2),
        ArgumentPurpose::VMContext => out.u8(ext << 3 | 3),
        ArgumentPurpose::StackLimit => out.u8(ext << 3 | 4),
    }
}

/// Makes its own room, and leaves [`ELEM_ROOM`] - 10 after it.
fn write_sig(out: &mut Enc, sig: &Signature) {
    out.room(ELEM_ROOM);
    out.u8(sig.call_conv as u8);
    out.uv(sig.params.len() as u64);
    for p in &sig.params {
        out.room(ELEM_ROOM);
        write_abi(out, p);
    }
    out.room(ELEM_ROOM);
    out.uv(sig.returns.len() as u64);
    for p in &sig.returns {
        out.room(ELEM_ROOM);
        write_abi(out, p);
    }
}

fn write_name(out: &mut Enc, name: &ExternalName) {
    match name {
        ExternalName::User(r) => {
            out.u8(0);
            out.uv(u64::from(r.as_u32()));
        }
        ExternalName::TestCase(t) => {
            out.u8(1);
            out.bytes(t.as_str().as_bytes());
        }
        ExternalName::LibCall(l) => {
            out.u8(2);
            out.u8(LibCall::ALL.iter().position(|x| x == l).unwrap_or(255) as u8);
        }
        ExternalName::KnownSymbol(k) => {
            out.u8(3);
            out.u8(match k {
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
