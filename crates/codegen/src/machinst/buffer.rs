//! `MachBuffer`: the target-independent code buffer that instructions are
//! emitted into.
//!
//! It holds the bytes of one function plus everything that is not bytes yet:
//!
//! * **Labels.** A `MachLabel` is a position in the code, allocated with
//!   [`MachBuffer::get_label`] (or reserved up front for blocks with
//!   [`MachBuffer::reserve_labels_for_blocks`], so that block `i` has label
//!   `i`) and bound to the current offset with [`MachBuffer::bind_label`].
//! * **Fixups.** A use of a label inside an instruction
//!   ([`MachBuffer::use_label_at_offset`]) records a fixup of an ISA-specific
//!   [`LabelUse`] kind. Fixups are patched in [`MachBuffer::finish`], after
//!   every label is bound; label references never become relocations.
//! * **Branch peepholes.** Emitters register every branch with
//!   [`MachBuffer::add_uncond_branch`] / [`MachBuffer::add_cond_branch`]
//!   right after emitting it (and after its label use). When the next label
//!   is bound (i.e. when a block's code is complete), the buffer looks at the
//!   branches at the tail of the code and:
//!   1. deletes an unconditional branch to the immediately following code;
//!   2. aliases the labels of a block that is only an unconditional branch to
//!      that branch's target (jump threading; cycles are refused), and then
//!      deletes the branch if it has become unreachable (it follows another
//!      unconditional branch);
//!   3. inverts a conditional branch that targets the fallthrough when an
//!      unconditional branch follows it, and deletes the unconditional one;
//!
//!   (a conditional branch to the following code is deleted too). Then, in
//!   `finish`, **branch shrinking** replaces every registered branch whose
//!   target is close enough by its short form ([`LabelUse::shrink_branch`],
//!   x64 rel32 -> rel8), iterating to a fixpoint and moving every offset.
//!   [`MachBuffer::set_branch_shrinking`] turns it off.
//! * **Islands.** For ISAs with short label ranges (aarch64: 14-bit `tbz`,
//!   19-bit `b.cond`/`cbz`/`ldr` literal, 26-bit `b`), the pipeline
//!   (`machinst/compile.rs`) asks [`MachBuffer::island_needed`] before each
//!   instruction and, if so, jumps around an [`MachBuffer::emit_island`]
//!   that holds the deferred trap stubs, pending constants and veneers. A
//!   use is pending while its label is unbound or bound out of its
//!   backward range; the island deadline is the earliest pending use's
//!   forward range, less the worst-case island size. Never needed for x64.
//! * **Out-of-line traps.** [`MachBuffer::defer_trap`] gives a label for a
//!   trap stub that the next island or [`MachBuffer::emit_deferred_traps`]
//!   (after the code) places.
//! * **Constants.** [`MachBuffer::add_constant`] (or the pooled
//!   [`VCodeConstants`] via [`MachBuffer::get_label_for_constant`]) returns a
//!   label; the data is emitted, aligned, after the code in `finish`.
//! * **Records.** Relocations against external names (never final names, only
//!   [`RelocTarget`]s), traps, source-location ranges and call sites.
//!
//! The offsets of all records are offsets in the function's code.

use crate::unwind::{UnwindEntry, UnwindOp};
use kiln_ir::{RelSourceLoc, TrapCode, UserExternalNameRef};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::fmt;

/// A code offset, in bytes from the start of the function.
pub type CodeOffset = u32;

const UNKNOWN_OFFSET: CodeOffset = u32::MAX;

/// Upper bound on the size of a target's trapping instruction (the stubs of
/// [`MachBuffer::defer_trap`] count this much towards an island).
pub const MAX_TRAP_BYTES: CodeOffset = 8;

/// A position in the code that branches and RIP/PC-relative references can
/// target.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MachLabel(u32);

impl MachLabel {
    /// The label of block `index` (valid after `reserve_labels_for_blocks`).
    pub const fn from_block(index: u32) -> MachLabel {
        MachLabel(index)
    }
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for MachLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "label{}", self.0)
    }
}

impl fmt::Display for MachLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An ISA-specific kind of label reference (a field inside an instruction
/// that holds a label's address, usually PC-relative).
pub trait LabelUse: Copy + Eq + fmt::Debug {
    /// Alignment required of veneers / islands (1 for x86).
    const ALIGN: CodeOffset;
    /// Largest `label_offset - use_offset` that can be encoded.
    fn max_pos_range(self) -> CodeOffset;
    /// Largest `use_offset - label_offset` that can be encoded.
    fn max_neg_range(self) -> CodeOffset;
    /// Number of bytes at `use_offset` that `patch` rewrites.
    fn patch_size(self) -> CodeOffset;
    /// Patches the field. `buffer` is the `patch_size()` bytes at
    /// `use_offset`; the label is at `label_offset`. Only called when the
    /// distance is in range.
    fn patch(self, buffer: &mut [u8], use_offset: CodeOffset, label_offset: CodeOffset);
    /// Whether an out-of-range use can be redirected through a veneer.
    fn supports_veneer(self) -> bool {
        false
    }
    /// Size of the veneer for this kind.
    fn veneer_size(self) -> CodeOffset {
        0
    }
    /// Writes a veneer into `buffer` (`veneer_size()` bytes at
    /// `veneer_offset`) and returns the offset inside the veneer of its own
    /// label use and that use's kind; `None` if this kind has no veneer.
    fn generate_veneer(
        self,
        _buffer: &mut [u8],
        _veneer_offset: CodeOffset,
    ) -> Option<(CodeOffset, Self)> {
        None
    }
    /// The short form of a branch whose (long) label use has this kind:
    /// given the branch's bytes, returns the short branch's bytes (with a
    /// zero placeholder), the offset of its label use inside them and that
    /// use's kind. `None` if there is no shorter form.
    fn shrink_branch(self, _branch: &[u8]) -> Option<(SmallVec<[u8; 8]>, CodeOffset, Self)> {
        None
    }
}

/// Relocation kinds (the meaning of the bytes to patch at link time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reloc {
    /// Absolute 4-byte address.
    Abs4,
    /// Absolute 8-byte address.
    Abs8,
    /// x86 PC-relative 4-byte (`S + A - P`).
    X86PCRel4,
    /// x86 call to a function, PC-relative 4-byte.
    X86CallPCRel4,
    /// x86 call through the PLT, PC-relative 4-byte.
    X86CallPLTRel4,
    /// x86 GOT-relative PC-relative 4-byte (a load of the symbol's GOT entry).
    X86GOTPCRel4,
    /// aarch64 `bl`/`b` 26-bit word offset.
    Aarch64Call26,
    /// aarch64 `adrp` page of the symbol.
    Aarch64AdrPrelPgHi21,
    /// aarch64 `add` low 12 bits of the symbol.
    Aarch64AddAbsLo12Nc,
    /// aarch64 `adrp` page of the symbol's GOT entry.
    Aarch64AdrGotPage21,
    /// aarch64 `ldr` low 12 bits of the symbol's GOT entry.
    Aarch64Ld64GotLo12Nc,
    /// aarch64 `b` (tail call) 26-bit word offset.
    Aarch64Jump26,
    /// aarch64 `ldrb`/`strb` low 12 bits of the symbol (byte scaled).
    Aarch64Ldst8AbsLo12Nc,
    /// aarch64 `ldrh`/`strh` low 12 bits of the symbol, scaled by 2.
    Aarch64Ldst16AbsLo12Nc,
    /// aarch64 32-bit `ldr`/`str` low 12 bits of the symbol, scaled by 4.
    Aarch64Ldst32AbsLo12Nc,
    /// aarch64 64-bit `ldr`/`str` low 12 bits of the symbol, scaled by 8.
    Aarch64Ldst64AbsLo12Nc,
    /// aarch64 128-bit `ldr`/`str` low 12 bits of the symbol, scaled by 16.
    Aarch64Ldst128AbsLo12Nc,
}

pub use kiln_ir::LibCall;

/// What a relocation refers to. Never a final name: user names are indices
/// into the function's external-name table (resolved by `apply_params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelocTarget {
    User(UserExternalNameRef),
    LibCall(LibCall),
    KnownSymbol(kiln_ir::KnownSymbol),
    /// The n-th test-case name (`%foo`) of the compiled code's name list.
    TestCase(u32),
}

/// A relocation in finished code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MachReloc {
    pub offset: CodeOffset,
    pub kind: Reloc,
    pub target: RelocTarget,
    pub addend: i64,
}

/// A trapping instruction at `offset`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MachTrap {
    pub offset: CodeOffset,
    pub code: TrapCode,
}

/// The code in `start..end` came from source location `loc`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MachSrcLoc {
    pub start: CodeOffset,
    pub end: CodeOffset,
    pub loc: RelSourceLoc,
}

/// A call whose return address is `ret_addr`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MachCallSite {
    pub ret_addr: CodeOffset,
}

/// The exception handlers of one `try_call` site, for an unwinder.
///
/// Every allocatable register is clobbered across such a call, so an
/// unwinder that has found the handler only restores the frame (the frame
/// pointer of the frame that made the call, and the stack pointer at
/// `FP - fp_to_sp`), puts the payloads in the target's payload registers
/// and jumps to `handler`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExceptionCallSite {
    /// Offset, from the start of the code, of the call's return address.
    pub ret_addr: u32,
    /// Bytes from the frame pointer down to the stack pointer at the call
    /// (the frame keeps SP fixed after the prologue: `FrameLayout`'s
    /// `fixed_frame_size`).
    pub fp_to_sp: u32,
    /// Handlers in match order.
    pub handlers: Vec<ExceptionHandler>,
}

/// One entry of an [`ExceptionCallSite`]: exceptions with tag `tag` (any
/// tag for `None`, the `default:` entry) continue at code offset `handler`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExceptionHandler {
    pub tag: Option<u32>,
    pub handler: u32,
}

/// The result of [`MachBuffer::finish`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MachBufferFinalized {
    pub data: Vec<u8>,
    pub relocs: Vec<MachReloc>,
    pub traps: Vec<MachTrap>,
    /// Sorted by `start`, non-overlapping, relative to the function's base.
    pub srclocs: Vec<MachSrcLoc>,
    pub call_sites: Vec<MachCallSite>,
    /// Handler tables of `try_call` sites, by return address.
    pub exception_sites: Vec<ExceptionCallSite>,
    /// Required alignment of the code's start, in bytes (a power of two).
    pub alignment: u32,
    /// Frame-description changes, in offset order (`crate::unwind`).
    pub unwind: Vec<UnwindEntry>,
    /// Where constants sit among the instructions (islands, the pool after
    /// the code), in offset order, so listings do not decode data.
    pub data_ranges: Vec<DataRange>,
}

/// Bytes `start..end` of the code are data (constants), not instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DataRange {
    pub start: CodeOffset,
    pub end: CodeOffset,
}

/// A `try_call` site whose handlers are labels until [`MachBuffer::finish`].
#[derive(Clone, Debug)]
struct PendingExceptionSite {
    ret_addr: CodeOffset,
    fp_to_sp: u32,
    handlers: Vec<(Option<u32>, MachLabel)>,
}

/// Errors from [`MachBuffer::finish`]. These come from code the user can
/// influence (e.g. a function too large for a branch form), so they are
/// reported, never panics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BufferError {
    /// A label was used but never bound.
    UnboundLabel(MachLabel),
    /// A label use is out of range and its kind has no veneer.
    OutOfRange {
        offset: CodeOffset,
        label: MachLabel,
    },
    /// The code grew beyond 4 GiB.
    TooLarge,
}

impl fmt::Display for BufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BufferError::UnboundLabel(l) => write!(f, "{l} is used but never bound"),
            BufferError::OutOfRange { offset, label } => {
                write!(
                    f,
                    "reference to {label} at offset {offset:#x} is out of range"
                )
            }
            BufferError::TooLarge => write!(f, "function code is too large"),
        }
    }
}

impl std::error::Error for BufferError {}

/// An index into a [`VCodeConstants`] pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VCodeConstant(u32);

impl VCodeConstant {
    pub const fn from_u32(i: u32) -> Self {
        VCodeConstant(i)
    }
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

/// A function's pool of constant data, built during lowering (deduplicated
/// by content and alignment) and handed to the buffer before emission.
#[derive(Clone, Debug, Default)]
pub struct VCodeConstants {
    data: Vec<(Vec<u8>, u32)>,
    dedup: HashMap<(Vec<u8>, u32), VCodeConstant>,
}

impl VCodeConstants {
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `bytes` aligned to `align` (a power of two; other values are
    /// rounded up) and returns its id; identical constants share one id.
    pub fn insert(&mut self, bytes: &[u8], align: u32) -> VCodeConstant {
        let align = align.max(1).next_power_of_two();
        let key = (bytes.to_vec(), align);
        if let Some(&c) = self.dedup.get(&key) {
            return c;
        }
        let c = VCodeConstant(self.data.len() as u32);
        self.data.push(key.clone());
        self.dedup.insert(key, c);
        c
    }
    pub fn get(&self, c: VCodeConstant) -> Option<(&[u8], u32)> {
        self.data.get(c.0 as usize).map(|(d, a)| (d.as_slice(), *a))
    }
    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn clear(&mut self) {
        self.data.clear();
        self.dedup.clear();
    }
}

#[derive(Clone, Debug)]
struct Fixup<L> {
    offset: CodeOffset,
    label: MachLabel,
    kind: L,
}

#[derive(Clone, Debug)]
struct Branch {
    start: CodeOffset,
    end: CodeOffset,
    target: MachLabel,
    /// Index of this branch's label use in `fixups`.
    fixup: usize,
    /// For a conditional branch: the bytes of the inverted branch.
    inverted: Option<SmallVec<[u8; 8]>>,
    /// Labels bound at `start` when the branch was added.
    labels_at_start: SmallVec<[MachLabel; 4]>,
}

impl Branch {
    fn is_cond(&self) -> bool {
        self.inverted.is_some()
    }
}

/// The code buffer of one function. See the module documentation.
pub struct MachBuffer<L: LabelUse> {
    data: Vec<u8>,
    /// Offset of each label, or `UNKNOWN_OFFSET` if unbound or aliased.
    label_offsets: Vec<CodeOffset>,
    /// Alias of each label (`u32::MAX` = none).
    label_aliases: Vec<u32>,
    fixups: Vec<Fixup<L>>,
    relocs: Vec<MachReloc>,
    traps: Vec<MachTrap>,
    srclocs: Vec<MachSrcLoc>,
    cur_srcloc: Option<(CodeOffset, RelSourceLoc)>,
    call_sites: Vec<MachCallSite>,
    exception_sites: Vec<PendingExceptionSite>,
    /// Frame-description changes recorded with `add_unwind`.
    unwind: Vec<UnwindEntry>,
    /// Branches that end contiguously at the tail of the code.
    latest_branches: Vec<Branch>,
    /// Every branch still in the code: (start, end, fixup index), in order.
    all_branches: Vec<(CodeOffset, CodeOffset, usize)>,
    /// Whether `finish` may replace branches by shorter forms.
    shrink_branches: bool,
    /// An island was emitted (its aligned data forbids shrinking).
    had_island: bool,
    /// Labels bound at offset `labels_at_tail_off`.
    labels_at_tail: SmallVec<[MachLabel; 4]>,
    labels_at_tail_off: CodeOffset,
    /// Constant data emitted after the code: (bytes, align, label).
    constants: Vec<(Vec<u8>, u32, MachLabel)>,
    /// Labels of the pooled constants registered with `register_constants`.
    pool: Vec<(Vec<u8>, u32)>,
    pool_labels: Vec<Option<MachLabel>>,
    /// Out-of-line trap stubs requested with `defer_trap`.
    /// With the number of unwind ops recorded when each was requested.
    deferred_traps: Vec<(MachLabel, TrapCode, usize)>,
    /// Constants placed so far (`MachBufferFinalized::data_ranges`).
    data_ranges: Vec<DataRange>,
    min_alignment: u32,
    /// Earliest offset by which some pending forward label use must be
    /// resolved (conservative; `u32::MAX` if none).
    island_deadline: CodeOffset,
    /// Upper bound on the size of an island emitted now.
    island_worst_size: CodeOffset,
}

const NO_ALIAS: u32 = u32::MAX;

impl<L: LabelUse> Default for MachBuffer<L> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L: LabelUse> MachBuffer<L> {
    pub fn new() -> Self {
        MachBuffer {
            data: Vec::new(),
            label_offsets: Vec::new(),
            label_aliases: Vec::new(),
            fixups: Vec::new(),
            relocs: Vec::new(),
            traps: Vec::new(),
            srclocs: Vec::new(),
            cur_srcloc: None,
            call_sites: Vec::new(),
            exception_sites: Vec::new(),
            unwind: Vec::new(),
            latest_branches: Vec::new(),
            all_branches: Vec::new(),
            shrink_branches: true,
            had_island: false,
            labels_at_tail: SmallVec::new(),
            labels_at_tail_off: 0,
            constants: Vec::new(),
            pool: Vec::new(),
            pool_labels: Vec::new(),
            deferred_traps: Vec::new(),
            data_ranges: Vec::new(),
            min_alignment: 1,
            island_deadline: UNKNOWN_OFFSET,
            island_worst_size: 0,
        }
    }

    /// Empties the buffer for reuse, keeping its allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.label_offsets.clear();
        self.label_aliases.clear();
        self.fixups.clear();
        self.relocs.clear();
        self.traps.clear();
        self.srclocs.clear();
        self.cur_srcloc = None;
        self.call_sites.clear();
        self.exception_sites.clear();
        self.unwind.clear();
        self.latest_branches.clear();
        self.all_branches.clear();
        self.shrink_branches = true;
        self.had_island = false;
        self.labels_at_tail.clear();
        self.labels_at_tail_off = 0;
        self.constants.clear();
        self.pool.clear();
        self.pool_labels.clear();
        self.deferred_traps.clear();
        self.data_ranges.clear();
        self.min_alignment = 1;
        self.island_deadline = UNKNOWN_OFFSET;
        self.island_worst_size = 0;
    }

    /// Requires the start of the code to be aligned to `align` bytes.
    pub fn set_min_alignment(&mut self, align: u32) {
        self.min_alignment = self.min_alignment.max(align.max(1).next_power_of_two());
    }

    /// Records that the frame description changes at the current offset
    /// (after the instruction just emitted).
    pub fn add_unwind(&mut self, op: UnwindOp) {
        let offset = self.cur_offset();
        self.unwind.push(UnwindEntry { offset, op });
    }

    /// Removes the recorded unwind ops (the `unwind_info` setting is off).
    pub fn clear_unwind(&mut self) {
        self.unwind.clear();
    }

    /// The current offset (where the next byte goes).
    pub fn cur_offset(&self) -> CodeOffset {
        self.data.len() as CodeOffset
    }

    /// The bytes emitted so far.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub fn put1(&mut self, v: u8) {
        self.data.push(v);
    }
    pub fn put2(&mut self, v: u16) {
        self.data.extend_from_slice(&v.to_le_bytes());
    }
    pub fn put4(&mut self, v: u32) {
        self.data.extend_from_slice(&v.to_le_bytes());
    }
    pub fn put8(&mut self, v: u64) {
        self.data.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    pub fn put_data(&mut self, bytes: &[u8]) {
        // Prefixes and opcodes are a few bytes (often none): pushed one by
        // one they cost less than a call to copy them.
        if bytes.len() <= 4 {
            for &b in bytes {
                self.data.push(b);
            }
        } else {
            self.data.extend_from_slice(bytes);
        }
    }

    /// Makes room for about `code_bytes` bytes of code, `srclocs`
    /// source-location ranges and `branches` branches (label uses), so that
    /// emission does not grow the buffer's lists a push at a time.
    pub fn reserve(&mut self, code_bytes: usize, srclocs: usize, branches: usize) {
        self.data.reserve(code_bytes);
        self.srclocs.reserve(srclocs);
        self.fixups.reserve(branches);
        self.all_branches.reserve(branches);
        self.label_offsets.reserve(branches);
        self.label_aliases.reserve(branches);
    }

    /// Records `start..cur_offset()` as data; a constant placed in the same
    /// run as the previous one (`first` false) extends its range over the
    /// alignment padding between them.
    fn note_data(&mut self, start: CodeOffset, first: bool) {
        let end = self.cur_offset();
        match self.data_ranges.last_mut() {
            Some(last) if !first => last.end = end,
            _ => self.data_ranges.push(DataRange { start, end }),
        }
    }

    /// Pads with `fill` bytes up to a multiple of `align`.
    pub fn align_to(&mut self, align: u32, fill: u8) {
        let align = align.max(1).next_power_of_two();
        while self.cur_offset() & (align - 1) != 0 {
            self.put1(fill);
        }
    }

    // ---- labels ----

    /// Allocates a fresh, unbound label.
    pub fn get_label(&mut self) -> MachLabel {
        let l = MachLabel(self.label_offsets.len() as u32);
        self.label_offsets.push(UNKNOWN_OFFSET);
        self.label_aliases.push(NO_ALIAS);
        l
    }

    /// Reserves labels `0..n` for blocks `0..n`. Call first, on an empty
    /// buffer.
    pub fn reserve_labels_for_blocks(&mut self, n: u32) {
        debug_assert!(self.label_offsets.is_empty());
        for _ in 0..n {
            self.get_label();
        }
    }

    fn ensure_label(&mut self, l: MachLabel) {
        while self.label_offsets.len() <= l.0 as usize {
            self.get_label();
        }
    }

    /// Binds `label` to the current offset, then runs the branch peepholes
    /// on the branches that end here.
    pub fn bind_label(&mut self, label: MachLabel) {
        self.ensure_label(label);
        let off = self.cur_offset();
        self.label_offsets[label.0 as usize] = off;
        self.lazily_clear_labels_at_tail();
        self.labels_at_tail.push(label);
        self.optimize_branches();
    }

    fn lazily_clear_labels_at_tail(&mut self) {
        if self.labels_at_tail_off != self.cur_offset() {
            self.labels_at_tail_off = self.cur_offset();
            self.labels_at_tail.clear();
        }
    }

    /// Follows aliases to the final label.
    fn resolve_label(&self, mut l: MachLabel) -> MachLabel {
        // Aliases form a forest (cycles are refused), so this terminates; the
        // bound is a safety net.
        for _ in 0..self.label_aliases.len() + 1 {
            match self.label_aliases.get(l.0 as usize) {
                Some(&a) if a != NO_ALIAS => l = MachLabel(a),
                _ => break,
            }
        }
        l
    }

    /// The offset of a label (after aliases), if bound.
    pub fn label_offset(&self, l: MachLabel) -> Option<CodeOffset> {
        let r = self.resolve_label(l);
        match self.label_offsets.get(r.0 as usize) {
            Some(&o) if o != UNKNOWN_OFFSET => Some(o),
            _ => None,
        }
    }

    /// Records that the `kind.patch_size()` bytes at `offset` (already
    /// emitted or about to be) refer to `label`.
    pub fn use_label_at_offset(&mut self, offset: CodeOffset, label: MachLabel, kind: L) {
        self.ensure_label(label);
        if !self.bound_in_range(offset, label, kind) {
            self.note_pending(offset, kind);
        }
        self.fixups.push(Fixup {
            offset,
            label,
            kind,
        });
    }

    /// Whether `label` is bound and a `kind` use at `offset` reaches it.
    /// Anything else (unbound, or bound behind the use beyond its backward
    /// range) must be resolved by an island before the use's deadline.
    fn bound_in_range(&self, offset: CodeOffset, label: MachLabel, kind: L) -> bool {
        match self.label_offset(label) {
            Some(target) if target >= offset => target - offset <= kind.max_pos_range(),
            Some(target) => offset - target <= kind.max_neg_range(),
            None => false,
        }
    }

    fn note_pending(&mut self, offset: CodeOffset, kind: L) {
        let deadline = offset.saturating_add(kind.max_pos_range());
        self.island_deadline = self.island_deadline.min(deadline);
        if kind.supports_veneer() {
            self.island_worst_size = self
                .island_worst_size
                .saturating_add(kind.veneer_size() + L::ALIGN);
        }
    }

    // ---- islands ----

    /// Whether an island must be emitted before `distance` more bytes of
    /// code, so that every pending label use stays in range. Always false
    /// for kinds with huge ranges (x86 rel32), cheap to call after every
    /// instruction.
    pub fn island_needed(&self, distance: CodeOffset) -> bool {
        self.island_deadline != UNKNOWN_OFFSET
            && self
                .cur_offset()
                .saturating_add(distance)
                .saturating_add(self.island_worst_size)
                >= self.island_deadline
    }

    /// Emits an island at the current offset: the deferred trap stubs (each
    /// `trap_insn`, see [`defer_trap`](Self::defer_trap)), all pending
    /// constants, then a veneer for every pending label use that could not
    /// otherwise reach its label within `distance` more bytes; uses of
    /// labels already bound and in range are patched now. The caller must
    /// branch around the island (emit a jump to a fresh label, call this,
    /// bind the label).
    ///
    /// A pooled constant ([`get_label_for_constant`](Self::get_label_for_constant))
    /// used again after the island gets a fresh copy in a later island or
    /// after the code: a literal load cannot take a veneer, so every use
    /// must find its copy within its own range.
    pub fn emit_island(&mut self, distance: CodeOffset, trap_insn: &[u8]) {
        // Branch peepholes never look across an island, and the island's
        // aligned data forbids shrinking branches later.
        self.latest_branches.clear();
        self.all_branches.clear();
        self.had_island = true;
        // Labels are bound directly: `bind_label` would run the branch
        // peepholes, which must not see the island.
        self.emit_trap_stubs(trap_insn, false);
        let constants = std::mem::take(&mut self.constants);
        for (i, (bytes, align, label)) in constants.iter().enumerate() {
            // The padding before the first constant counts as data too.
            let padded_from = self.cur_offset();
            self.align_to(*align, 0);
            self.min_alignment = self.min_alignment.max(*align);
            let off = self.cur_offset();
            self.label_offsets[label.0 as usize] = off;
            self.put_data(bytes);
            self.note_data(padded_from, i == 0);
        }
        for l in &mut self.pool_labels {
            *l = None;
        }
        let fixups = std::mem::take(&mut self.fixups);
        let horizon = self
            .cur_offset()
            .saturating_add(distance)
            .saturating_add(self.island_worst_size);
        let mut kept = Vec::with_capacity(fixups.len());
        for f in fixups {
            let start = f.offset as usize;
            let size = f.kind.patch_size() as usize;
            if let Some(target) = self.label_offset(f.label) {
                let in_range = if target >= f.offset {
                    target - f.offset <= f.kind.max_pos_range()
                } else {
                    f.offset - target <= f.kind.max_neg_range()
                };
                if in_range && start + size <= self.data.len() {
                    f.kind
                        .patch(&mut self.data[start..start + size], f.offset, target);
                    continue;
                }
            }
            let deadline = f.offset.saturating_add(f.kind.max_pos_range());
            if deadline <= horizon && f.kind.supports_veneer() && start + size <= self.data.len() {
                self.align_to(L::ALIGN, 0);
                let veneer = self.cur_offset();
                if veneer - f.offset <= f.kind.max_pos_range() {
                    let vsize = f.kind.veneer_size() as usize;
                    let v = veneer as usize;
                    self.data.resize(v + vsize, 0);
                    if let Some((use_off, vkind)) =
                        f.kind.generate_veneer(&mut self.data[v..v + vsize], veneer)
                    {
                        f.kind
                            .patch(&mut self.data[start..start + size], f.offset, veneer);
                        kept.push(Fixup {
                            offset: veneer + use_off,
                            label: f.label,
                            kind: vkind,
                        });
                        continue;
                    }
                    self.data.truncate(v);
                }
            }
            kept.push(f);
        }
        self.fixups = kept;
        self.island_deadline = UNKNOWN_OFFSET;
        self.island_worst_size = 0;
        for i in 0..self.fixups.len() {
            let (offset, label, kind) = {
                let f = &self.fixups[i];
                (f.offset, f.label, f.kind)
            };
            if !self.bound_in_range(offset, label, kind) {
                self.note_pending(offset, kind);
            }
        }
        let constant_bytes: CodeOffset = self
            .constants
            .iter()
            .map(|(b, a, _)| b.len() as CodeOffset + a)
            .sum();
        self.island_worst_size = self.island_worst_size.saturating_add(constant_bytes);
    }

    // ---- branches ----

    fn prepare_branch(&mut self, start: CodeOffset) -> SmallVec<[MachLabel; 4]> {
        if let Some(b) = self.latest_branches.last() {
            if b.end != start {
                self.latest_branches.clear();
            }
        }
        self.lazily_clear_labels_at_tail();
        // `labels_at_tail` now holds the labels bound at the current offset,
        // which is the branch's end; the labels at its start were captured
        // only if nothing was emitted since.
        if self.labels_at_tail_off == start {
            self.labels_at_tail.clone()
        } else {
            SmallVec::new()
        }
    }

    /// Registers the unconditional branch just emitted in `start..end`
    /// (`end` = current offset) to `target`. Its label use must be the last
    /// one recorded.
    pub fn add_uncond_branch(&mut self, start: CodeOffset, end: CodeOffset, target: MachLabel) {
        self.add_branch(start, end, target, None);
    }

    /// Registers the conditional branch just emitted in `start..end` to
    /// `target`; `inverted` are the bytes of the branch with the opposite
    /// condition (same length, same label-use position and placeholder).
    pub fn add_cond_branch(
        &mut self,
        start: CodeOffset,
        end: CodeOffset,
        target: MachLabel,
        inverted: &[u8],
    ) {
        debug_assert_eq!(inverted.len(), (end - start) as usize);
        self.add_branch(start, end, target, Some(SmallVec::from_slice(inverted)));
    }

    /// Records a branch just emitted in `start..end` whose label use is the
    /// last one recorded; `inverted` as for [`Self::add_cond_branch`].
    fn add_branch(
        &mut self,
        start: CodeOffset,
        end: CodeOffset,
        target: MachLabel,
        inverted: Option<SmallVec<[u8; 8]>>,
    ) {
        debug_assert_eq!(end, self.cur_offset());
        debug_assert!(self
            .fixups
            .last()
            .is_some_and(|f| f.offset >= start && f.offset < end));
        let labels_at_start = self.labels_before(start);
        self.prepare_branch(start);
        self.all_branches.push((start, end, self.fixups.len() - 1));
        self.latest_branches.push(Branch {
            start,
            end,
            target,
            fixup: self.fixups.len() - 1,
            inverted,
            labels_at_start,
        });
    }

    /// The labels bound at `start`, known only if they are the labels at the
    /// tail recorded before the branch bytes were emitted.
    fn labels_before(&self, start: CodeOffset) -> SmallVec<[MachLabel; 4]> {
        if self.labels_at_tail_off == start {
            self.labels_at_tail
                .iter()
                .copied()
                .filter(|l| self.label_offsets[l.0 as usize] == start)
                .collect()
        } else {
            SmallVec::new()
        }
    }

    /// Removes the last branch's bytes; labels bound at its end move to its
    /// start.
    fn truncate_last_branch(&mut self) {
        let Some(b) = self.latest_branches.pop() else {
            return;
        };
        debug_assert_eq!(b.end, self.cur_offset());
        if self.all_branches.last().is_some_and(|a| a.0 == b.start) {
            self.all_branches.pop();
        }
        self.data.truncate(b.start as usize);
        self.fixups.truncate(b.fixup);
        self.lazily_clear_labels_at_tail_at(b.end);
        for l in &self.labels_at_tail {
            self.label_offsets[l.0 as usize] = b.start;
        }
        let mut labels = b.labels_at_start;
        labels.extend(self.labels_at_tail.iter().copied());
        self.labels_at_tail = labels;
        self.labels_at_tail_off = b.start;
        // Records never point into a branch, but keep srcloc ranges tidy.
        // Srclocs, traps and relocs are recorded in increasing offset order
        // (emission only appends; truncation only removes the tail), so
        // only their tails can reach into the branch: trimming from the end
        // keeps this O(removed) instead of O(function) per branch.
        let start = b.start;
        for s in self.srclocs.iter_mut().rev() {
            if s.end <= start {
                break;
            }
            s.end = start;
        }
        while self.srclocs.last().is_some_and(|s| s.start >= s.end) {
            self.srclocs.pop();
        }
        if let Some((s, _)) = &mut self.cur_srcloc {
            *s = (*s).min(start);
        }
        // An unwind op recorded after the removed branch takes effect where
        // the branch started (nothing in between executes).
        for u in self.unwind.iter_mut().rev() {
            if u.offset <= start {
                break;
            }
            u.offset = start;
        }
        while self.traps.last().is_some_and(|t| t.offset >= start) {
            self.traps.pop();
        }
        while self.relocs.last().is_some_and(|r| r.offset >= start) {
            self.relocs.pop();
        }
    }

    fn lazily_clear_labels_at_tail_at(&mut self, off: CodeOffset) {
        if self.labels_at_tail_off != off {
            self.labels_at_tail_off = off;
            self.labels_at_tail.clear();
        }
    }

    fn optimize_branches(&mut self) {
        // Branches not ending at the tail are stale.
        if let Some(b) = self.latest_branches.last() {
            if b.end != self.cur_offset() {
                self.latest_branches.clear();
            }
        }
        while let Some(b) = self.latest_branches.last() {
            let cur = self.cur_offset();
            debug_assert_eq!(b.end, cur);
            let target_off = self.label_offset(b.target);

            // 1. A branch (either kind) to the code right after it.
            if target_off == Some(cur) {
                self.truncate_last_branch();
                continue;
            }

            if b.is_cond() {
                break;
            }

            // 2. A block that is only this jump: alias its labels to the
            // target, unless that would make a cycle.
            if !b.labels_at_start.is_empty() {
                let final_target = self.resolve_label(b.target);
                if !b.labels_at_start.contains(&final_target) {
                    let labels = b.labels_at_start.clone();
                    for l in &labels {
                        self.label_offsets[l.0 as usize] = UNKNOWN_OFFSET;
                        self.label_aliases[l.0 as usize] = final_target.0;
                    }
                    let start = b.start;
                    if let Some(last) = self.latest_branches.last_mut() {
                        last.labels_at_start.clear();
                    }
                    if self.labels_at_tail_off == start {
                        self.labels_at_tail.retain(|l| !labels.contains(l));
                    }
                    // Fall through to the unreachable-branch check.
                } else {
                    break;
                }
            }
            let n = self.latest_branches.len();
            let b = &self.latest_branches[n - 1];

            // 2b. An unconditional branch after an unconditional branch with
            // no label in between is unreachable.
            if n >= 2 {
                let prev = &self.latest_branches[n - 2];
                if prev.end == b.start && !prev.is_cond() && b.labels_at_start.is_empty() {
                    self.truncate_last_branch();
                    continue;
                }
            }

            // 3. `jcc fallthrough; jmp target` => `jncc target`.
            if n >= 2 {
                let prev = &self.latest_branches[n - 2];
                let invertible = prev
                    .inverted
                    .as_ref()
                    .is_some_and(|inv| inv.len() == (prev.end - prev.start) as usize);
                if prev.end == b.start
                    && invertible
                    && b.labels_at_start.is_empty()
                    && self.label_offset(prev.target) == Some(cur)
                {
                    let new_target = b.target;
                    self.truncate_last_branch();
                    let n = self.latest_branches.len();
                    let prev = &mut self.latest_branches[n - 1];
                    let (s, e) = (prev.start as usize, prev.end as usize);
                    if let Some(inv) = prev.inverted.as_mut() {
                        let old: SmallVec<[u8; 8]> = SmallVec::from_slice(&self.data[s..e]);
                        self.data[s..e].copy_from_slice(inv);
                        *inv = old;
                    }
                    prev.target = new_target;
                    let fx = prev.fixup;
                    self.fixups[fx].label = new_target;
                    continue;
                }
            }
            break;
        }
    }

    // ---- constants ----

    /// Adds constant data, emitted after the code aligned to `align`, and
    /// returns its label.
    pub fn add_constant(&mut self, bytes: &[u8], align: u32) -> MachLabel {
        let align = align.max(1).next_power_of_two();
        let l = self.get_label();
        self.island_worst_size = self
            .island_worst_size
            .saturating_add(bytes.len() as CodeOffset + align);
        self.constants.push((bytes.to_vec(), align, l));
        l
    }

    /// Makes a function's constant pool available to
    /// [`get_label_for_constant`](Self::get_label_for_constant).
    pub fn register_constants(&mut self, consts: &VCodeConstants) {
        self.pool = consts.data.clone();
        self.pool_labels = vec![None; self.pool.len()];
    }

    /// The label of a pooled constant; only used constants are emitted.
    /// `None` if `c` was not registered.
    pub fn get_label_for_constant(&mut self, c: VCodeConstant) -> Option<MachLabel> {
        let i = c.0 as usize;
        let slot = *self.pool_labels.get(i)?;
        if let Some(l) = slot {
            return Some(l);
        }
        let (data, align) = self.pool.get(i)?.clone();
        let l = self.add_constant(&data, align);
        self.pool_labels[i] = Some(l);
        Some(l)
    }

    // ---- out-of-line traps ----

    /// Returns a label for an out-of-line trap with `code` (the target of a
    /// conditional "trap if" branch). The stubs are placed by
    /// [`emit_deferred_traps`](Self::emit_deferred_traps).
    pub fn defer_trap(&mut self, code: TrapCode) -> MachLabel {
        let l = self.get_label();
        // The stub goes into the next island or after the code.
        self.island_worst_size = self.island_worst_size.saturating_add(MAX_TRAP_BYTES);
        self.deferred_traps.push((l, code, self.unwind.len()));
        l
    }

    /// Emits every deferred trap stub here: binds its label, records the
    /// trap and emits `trap_insn` (the target's trapping instruction, from
    /// `Backend::trap_bytes`). The function emitter calls this once after the last block;
    /// a deferred trap never emitted makes `finish` report an unbound label.
    pub fn emit_deferred_traps(&mut self, trap_insn: &[u8]) {
        self.emit_trap_stubs(trap_insn, true);
    }

    /// The stubs of every deferred trap, here (after the code, or in an
    /// island when `peepholes` is false: the label is then bound without
    /// running the branch peepholes).
    fn emit_trap_stubs(&mut self, trap_insn: &[u8], peepholes: bool) {
        let traps = std::mem::take(&mut self.deferred_traps);
        // Stubs run in the body's frame, except those requested before the
        // prologue had saved every callee-save (a stack-limit check): there
        // the later saves are described as not made yet.
        let saved = |ops: &[UnwindEntry]| -> Vec<regalloc2::PReg> {
            ops.iter()
                .filter_map(|e| match e.op {
                    UnwindOp::SaveReg { reg, .. } => Some(reg),
                    _ => None,
                })
                .collect()
        };
        let all_saved = saved(&self.unwind);
        for (label, code, ops_then) in traps {
            if peepholes {
                self.bind_label(label);
            } else {
                self.label_offsets[label.0 as usize] = self.cur_offset();
            }
            let then = saved(&self.unwind[..ops_then.min(self.unwind.len())]);
            let missing: Vec<_> = all_saved
                .iter()
                .filter(|r| !then.contains(r))
                .copied()
                .collect();
            if !missing.is_empty() {
                self.add_unwind(UnwindOp::RememberState);
                for reg in missing {
                    self.add_unwind(UnwindOp::NotSaved { reg });
                }
            }
            self.add_trap(code);
            self.put_data(trap_insn);
            if self
                .unwind
                .last()
                .is_some_and(|_| then.len() < all_saved.len())
            {
                self.add_unwind(UnwindOp::RestoreState);
            }
        }
    }

    // ---- records ----

    /// A relocation of the bytes at the current offset.
    pub fn add_reloc(&mut self, kind: Reloc, target: RelocTarget, addend: i64) {
        let offset = self.cur_offset();
        self.add_reloc_at_offset(offset, kind, target, addend);
    }

    pub fn add_reloc_at_offset(
        &mut self,
        offset: CodeOffset,
        kind: Reloc,
        target: RelocTarget,
        addend: i64,
    ) {
        self.relocs.push(MachReloc {
            offset,
            kind,
            target,
            addend,
        });
    }

    /// The instruction starting at the current offset may trap with `code`.
    pub fn add_trap(&mut self, code: TrapCode) {
        let offset = self.cur_offset();
        self.traps.push(MachTrap { offset, code });
    }

    /// A call's return address is the current offset (call after emitting
    /// the call instruction).
    pub fn add_call_site(&mut self) {
        let ret_addr = self.cur_offset();
        self.call_sites.push(MachCallSite { ret_addr });
    }

    /// The call just emitted (return address = the current offset) is a
    /// `try_call`: `handlers` (tag or `None` for default, handler label) in
    /// match order; the stack pointer there is `fp_to_sp` bytes below the
    /// frame pointer.
    pub fn add_exception_site(&mut self, fp_to_sp: u32, handlers: &[(Option<u32>, MachLabel)]) {
        for (_, l) in handlers {
            self.ensure_label(*l);
        }
        self.exception_sites.push(PendingExceptionSite {
            ret_addr: self.cur_offset(),
            fp_to_sp,
            handlers: handlers.to_vec(),
        });
    }

    /// Code from here on comes from `loc`, until `end_srcloc`.
    pub fn start_srcloc(&mut self, loc: RelSourceLoc) {
        self.end_srcloc();
        self.cur_srcloc = Some((self.cur_offset(), loc));
    }

    /// Closes the range opened by `start_srcloc` (empty ranges are dropped).
    pub fn end_srcloc(&mut self) {
        if let Some((start, loc)) = self.cur_srcloc.take() {
            let end = self.cur_offset();
            if end > start {
                self.srclocs.push(MachSrcLoc { start, end, loc });
            }
        }
    }

    // ---- finishing ----

    /// Enables or disables replacing branches by their short forms in
    /// `finish` (on by default).
    pub fn set_branch_shrinking(&mut self, on: bool) {
        self.shrink_branches = on;
    }

    /// Replaces every registered branch whose target is close enough by its
    /// short form (iterating to a fixpoint: shrinking only brings code
    /// closer, so a shrunk branch stays in range) and moves every offset.
    fn shrink(&mut self) {
        struct Cand<L> {
            start: CodeOffset,
            end: CodeOffset,
            fixup: usize,
            bytes: SmallVec<[u8; 8]>,
            use_off: CodeOffset,
            kind: L,
            target: CodeOffset,
            shrunk: bool,
        }
        let mut cands: Vec<Cand<L>> = Vec::new();
        for &(start, end, fixup) in &self.all_branches {
            let Some(f) = self.fixups.get(fixup) else {
                continue;
            };
            if f.offset < start || f.offset >= end {
                continue;
            }
            let Some(target) = self.label_offset(f.label) else {
                continue;
            };
            let Some(branch) = self.data.get(start as usize..end as usize) else {
                continue;
            };
            if let Some((bytes, use_off, kind)) = f.kind.shrink_branch(branch) {
                if bytes.len() < (end - start) as usize {
                    cands.push(Cand {
                        start,
                        end,
                        fixup,
                        bytes,
                        use_off,
                        kind,
                        target,
                        shrunk: false,
                    });
                }
            }
        }
        if cands.is_empty() {
            return;
        }
        // ends[i], cum[i+1] = total saving of shrunk candidates 0..=i.
        let ends: Vec<CodeOffset> = cands.iter().map(|c| c.end).collect();
        let mut cum = vec![0 as CodeOffset; cands.len() + 1];
        let new_off = |cum: &[CodeOffset], x: CodeOffset| -> CodeOffset {
            let n = ends.partition_point(|&e| e <= x);
            x - cum[n]
        };
        // The same map for offsets asked in rising order (srclocs, fixups,
        // traps, unwind rows: one per instruction or more), by a cursor that
        // moves forward, so most lookups cost a compare instead of a binary
        // search; an offset below the cursor's falls back to the search.
        struct Cursor<'a> {
            ends: &'a [CodeOffset],
            cum: &'a [CodeOffset],
            n: usize,
        }
        impl Cursor<'_> {
            fn map(&mut self, x: CodeOffset) -> CodeOffset {
                if self.n > 0 && self.ends[self.n - 1] > x {
                    self.n = self.ends.partition_point(|&e| e <= x);
                } else {
                    while self.n < self.ends.len() && self.ends[self.n] <= x {
                        self.n += 1;
                    }
                }
                x - self.cum[self.n]
            }
        }
        loop {
            let mut changed = false;
            let mut at = Cursor {
                ends: &ends,
                cum: &cum,
                n: 0,
            };
            // Before anything shrank, offsets are unmoved (the first pass
            // over all candidates needs no mapping).
            let moved = cum[cands.len()] != 0;
            for c in cands.iter_mut() {
                if c.shrunk {
                    continue;
                }
                let (start, mut target) = if moved {
                    (at.map(c.start), new_off(&cum, c.target))
                } else {
                    (c.start, c.target)
                };
                let use_at = start + c.use_off;
                if c.target >= c.end {
                    // The branch's own saving moves a later target closer.
                    target -= (c.end - c.start) - c.bytes.len() as CodeOffset;
                }
                let in_range = if target >= use_at {
                    target - use_at <= c.kind.max_pos_range()
                } else {
                    use_at - target <= c.kind.max_neg_range()
                };
                if in_range {
                    c.shrunk = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
            for i in 0..cands.len() {
                let c = &cands[i];
                let saving = if c.shrunk {
                    (c.end - c.start) - c.bytes.len() as CodeOffset
                } else {
                    0
                };
                cum[i + 1] = cum[i] + saving;
            }
        }
        if cum[cands.len()] == 0 {
            return;
        }
        // Rebuild the code.
        let mut data = Vec::with_capacity(self.data.len());
        let mut pos = 0usize;
        for c in cands.iter().filter(|c| c.shrunk) {
            data.extend_from_slice(&self.data[pos..c.start as usize]);
            data.extend_from_slice(&c.bytes);
            pos = c.end as usize;
        }
        data.extend_from_slice(&self.data[pos..]);
        self.data = data;
        // Move every offset.
        let cursor = || Cursor {
            ends: &ends,
            cum: &cum,
            n: 0,
        };
        let mut m = cursor();
        for o in self.label_offsets.iter_mut() {
            if *o != UNKNOWN_OFFSET {
                *o = m.map(*o);
            }
        }
        let mut m = cursor();
        for f in self.fixups.iter_mut() {
            f.offset = m.map(f.offset);
        }
        let mut m = cursor();
        for c in cands.iter().filter(|c| c.shrunk) {
            let f = &mut self.fixups[c.fixup];
            f.offset = m.map(c.start) + c.use_off;
            f.kind = c.kind;
        }
        let mut m = cursor();
        for r in self.relocs.iter_mut() {
            r.offset = m.map(r.offset);
        }
        let mut m = cursor();
        for t in self.traps.iter_mut() {
            t.offset = m.map(t.offset);
        }
        // Starts and ends each rise: two cursors.
        let (mut ms, mut me) = (cursor(), cursor());
        for s in self.srclocs.iter_mut() {
            s.start = ms.map(s.start);
            s.end = me.map(s.end);
        }
        let mut m = cursor();
        for c in self.call_sites.iter_mut() {
            c.ret_addr = m.map(c.ret_addr);
        }
        let mut m = cursor();
        for e in self.exception_sites.iter_mut() {
            e.ret_addr = m.map(e.ret_addr);
        }
        let mut m = cursor();
        for u in self.unwind.iter_mut() {
            u.offset = m.map(u.offset);
        }
        self.all_branches.clear();
        self.latest_branches.clear();
        self.labels_at_tail.clear();
        self.labels_at_tail_off = UNKNOWN_OFFSET;
    }

    /// Emits the constants, patches every label use and returns the code.
    pub fn finish(mut self) -> Result<MachBufferFinalized, BufferError> {
        self.end_srcloc();
        self.optimize_branches();
        if self.shrink_branches && !self.had_island {
            self.shrink();
        }
        let constants = std::mem::take(&mut self.constants);
        for (i, (bytes, align, label)) in constants.iter().enumerate() {
            // The padding before the first constant counts as data too.
            let padded_from = self.cur_offset();
            self.align_to(*align, 0);
            self.min_alignment = self.min_alignment.max(*align);
            let off = self.cur_offset();
            self.label_offsets[label.0 as usize] = off;
            self.put_data(bytes);
            self.note_data(padded_from, i == 0);
        }
        if self.data.len() > (u32::MAX / 2) as usize {
            return Err(BufferError::TooLarge);
        }
        let mut i = 0;
        while i < self.fixups.len() {
            let Fixup {
                offset,
                label,
                kind,
            } = self.fixups[i].clone();
            i += 1;
            let target = self
                .label_offset(label)
                .ok_or(BufferError::UnboundLabel(label))?;
            let in_range = if target >= offset {
                target - offset <= kind.max_pos_range()
            } else {
                offset - target <= kind.max_neg_range()
            };
            let size = kind.patch_size() as usize;
            let start = offset as usize;
            let Some(field) = self.data.get_mut(start..start + size) else {
                return Err(BufferError::OutOfRange { offset, label });
            };
            if in_range {
                kind.patch(field, offset, target);
                continue;
            }
            if !kind.supports_veneer() {
                return Err(BufferError::OutOfRange { offset, label });
            }
            // Redirect through a veneer at the end of the code.
            self.align_to(L::ALIGN, 0);
            let veneer = self.cur_offset();
            if veneer - offset > kind.max_pos_range() {
                return Err(BufferError::OutOfRange { offset, label });
            }
            let size_v = kind.veneer_size() as usize;
            self.data.resize(veneer as usize + size_v, 0);
            kind.patch(&mut self.data[start..start + size], offset, veneer);
            let v = veneer as usize;
            let Some((use_off, vkind)) =
                kind.generate_veneer(&mut self.data[v..v + size_v], veneer)
            else {
                return Err(BufferError::OutOfRange { offset, label });
            };
            self.fixups.push(Fixup {
                offset: veneer + use_off,
                label,
                kind: vkind,
            });
        }
        self.srclocs.sort_by_key(|s| s.start);
        let mut exception_sites = Vec::with_capacity(self.exception_sites.len());
        for e in &self.exception_sites {
            let mut handlers = Vec::with_capacity(e.handlers.len());
            for &(tag, label) in &e.handlers {
                let handler = self
                    .label_offset(label)
                    .ok_or(BufferError::UnboundLabel(label))?;
                handlers.push(ExceptionHandler { tag, handler });
            }
            exception_sites.push(ExceptionCallSite {
                ret_addr: e.ret_addr,
                fp_to_sp: e.fp_to_sp,
                handlers,
            });
        }
        Ok(MachBufferFinalized {
            data: self.data,
            relocs: self.relocs,
            traps: self.traps,
            srclocs: self.srclocs,
            call_sites: self.call_sites,
            exception_sites,
            alignment: self.min_alignment,
            unwind: self.unwind,
            data_ranges: self.data_ranges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_ir::EntityRef;

    /// A test label use: a 4-byte little-endian displacement relative to the
    /// end of the field (like x86 rel32), range limited to +-1000 bytes so
    /// that veneers can be tested.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum TestUse {
        Rel32,
        Short,
    }

    impl LabelUse for TestUse {
        const ALIGN: CodeOffset = 1;
        fn max_pos_range(self) -> CodeOffset {
            match self {
                TestUse::Rel32 => 1 << 30,
                TestUse::Short => 100,
            }
        }
        fn max_neg_range(self) -> CodeOffset {
            self.max_pos_range()
        }
        fn patch_size(self) -> CodeOffset {
            4
        }
        fn patch(self, buffer: &mut [u8], use_offset: CodeOffset, label_offset: CodeOffset) {
            let rel = label_offset.wrapping_sub(use_offset + 4);
            buffer.copy_from_slice(&rel.to_le_bytes());
        }
        fn supports_veneer(self) -> bool {
            self == TestUse::Short
        }
        fn veneer_size(self) -> CodeOffset {
            5
        }
        fn generate_veneer(
            self,
            buffer: &mut [u8],
            _veneer_offset: CodeOffset,
        ) -> Option<(CodeOffset, Self)> {
            buffer[0] = 0xe9;
            Some((1, TestUse::Rel32))
        }
    }

    fn jmp(b: &mut MachBuffer<TestUse>, l: MachLabel) {
        let s = b.cur_offset();
        b.put1(0xe9);
        b.use_label_at_offset(s + 1, l, TestUse::Rel32);
        b.put4(0);
        b.add_uncond_branch(s, s + 5, l);
    }

    /// `0f 84` = je, inverted `0f 85` = jne.
    fn je(b: &mut MachBuffer<TestUse>, l: MachLabel) {
        let s = b.cur_offset();
        b.put_data(&[0x0f, 0x84]);
        b.use_label_at_offset(s + 2, l, TestUse::Rel32);
        b.put4(0);
        b.add_cond_branch(s, s + 6, l, &[0x0f, 0x85, 0, 0, 0, 0]);
    }

    fn rel_at(d: &[u8], off: usize) -> i32 {
        i32::from_le_bytes(d[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn forward_and_backward_labels() {
        let mut b = MachBuffer::<TestUse>::new();
        b.reserve_labels_for_blocks(2);
        let (l0, l1) = (MachLabel::from_block(0), MachLabel::from_block(1));
        b.bind_label(l0);
        b.put1(0x90);
        jmp(&mut b, l1); // 1..6
        b.put1(0x90); // 6
        b.bind_label(l1); // 7
        b.put1(0x90);
        jmp(&mut b, l0); // 8..13
        let f = b.finish().unwrap();
        assert_eq!(f.data.len(), 13);
        assert_eq!(rel_at(&f.data, 2), 7 - 6);
        assert_eq!(rel_at(&f.data, 9), -13);
    }

    #[test]
    fn jump_to_next_is_removed() {
        let mut b = MachBuffer::<TestUse>::new();
        b.reserve_labels_for_blocks(3);
        b.bind_label(MachLabel::from_block(0));
        b.put1(0x90);
        jmp(&mut b, MachLabel::from_block(1));
        b.bind_label(MachLabel::from_block(1));
        assert_eq!(b.cur_offset(), 1);
        b.put1(0xc3);
        b.bind_label(MachLabel::from_block(2));
        let f = b.finish().unwrap();
        assert_eq!(f.data, vec![0x90, 0xc3]);
    }

    #[test]
    fn cond_branch_is_inverted() {
        let mut b = MachBuffer::<TestUse>::new();
        b.reserve_labels_for_blocks(3);
        let [l0, l1, l2] = [0, 1, 2].map(MachLabel::from_block);
        b.bind_label(l0);
        b.put1(0x90);
        je(&mut b, l1); // 1..7
        jmp(&mut b, l2); // 7..12
        b.bind_label(l1);
        // `je l1; jmp l2` became `jne l2`
        assert_eq!(b.cur_offset(), 7);
        b.put1(0xc3);
        b.bind_label(l2);
        b.put1(0xcc);
        let f = b.finish().unwrap();
        assert_eq!(&f.data[..3], &[0x90, 0x0f, 0x85]);
        assert_eq!(rel_at(&f.data, 3), 8 - 7);
        assert_eq!(f.data.len(), 9);
    }

    #[test]
    fn cond_branch_to_next_and_jump_threading() {
        let mut b = MachBuffer::<TestUse>::new();
        b.reserve_labels_for_blocks(4);
        let [l0, l1, l2, l3] = [0, 1, 2, 3].map(MachLabel::from_block);
        b.bind_label(l0);
        je(&mut b, l2); // 0..6
        b.put1(0xc3); // 6
        b.bind_label(l1); // 7: empty block, only a jump
        jmp(&mut b, l3); // 7..12
        b.bind_label(l2); // l1 is now an alias of l3
        b.put1(0x90);
        je(&mut b, l1);
        b.put1(0xc3);
        b.bind_label(l3);
        b.put1(0xc3);
        let f = b.finish().unwrap();
        // The jmp at 7 stays (reachable by fallthrough), but `je l1` at the
        // end targets l3 directly.
        assert_eq!(f.data.len(), 7 + 5 + 1 + 6 + 2);
        let je2 = 13;
        assert_eq!(f.data[je2 + 1], 0x84);
        assert_eq!(rel_at(&f.data, je2 + 2), 1);
        assert_eq!(rel_at(&f.data, 8), 20 - 12);
    }

    #[test]
    fn unreachable_jump_after_jump_is_removed() {
        let mut b = MachBuffer::<TestUse>::new();
        b.reserve_labels_for_blocks(3);
        let [l0, l1, l2] = [0, 1, 2].map(MachLabel::from_block);
        b.bind_label(l0);
        jmp(&mut b, l2); // 0..5
        b.bind_label(l1);
        jmp(&mut b, l0); // l1 aliased to l0; the jmp is then unreachable
        b.bind_label(l2);
        b.put1(0xc3);
        let f = b.finish().unwrap();
        // jmp l2 targets the next instruction after removal => removed too.
        assert_eq!(f.data, vec![0xc3]);
    }

    #[test]
    fn self_loop_is_kept() {
        let mut b = MachBuffer::<TestUse>::new();
        b.reserve_labels_for_blocks(2);
        let [l0, l1] = [0, 1].map(MachLabel::from_block);
        b.bind_label(l0);
        jmp(&mut b, l0);
        b.bind_label(l1);
        b.put1(0xc3);
        let f = b.finish().unwrap();
        assert_eq!(f.data.len(), 6);
        assert_eq!(rel_at(&f.data, 1), -5);
    }

    #[test]
    fn constants_are_aligned_at_the_end() {
        let mut b = MachBuffer::<TestUse>::new();
        let mut pool = VCodeConstants::new();
        let c0 = pool.insert(&[1, 2, 3, 4, 5, 6, 7, 8], 8);
        let c1 = pool.insert(&[9; 16], 16);
        assert_eq!(pool.insert(&[1, 2, 3, 4, 5, 6, 7, 8], 8), c0);
        b.register_constants(&pool);
        b.put1(0x90);
        let l1 = b.get_label_for_constant(c1).unwrap();
        let s = b.cur_offset();
        b.use_label_at_offset(s, l1, TestUse::Rel32);
        b.put4(0);
        let l2 = b.add_constant(&[0xaa], 1);
        let s2 = b.cur_offset();
        b.use_label_at_offset(s2, l2, TestUse::Rel32);
        b.put4(0);
        assert_eq!(b.get_label_for_constant(c1), Some(l1));
        assert_eq!(b.get_label_for_constant(VCodeConstant::from_u32(7)), None);
        let f = b.finish().unwrap();
        // c0 unused => not emitted. c1 at 16, then 0xaa at 32.
        assert_eq!(f.data.len(), 33);
        assert_eq!(&f.data[16..32], &[9; 16]);
        assert_eq!(f.data[32], 0xaa);
        assert_eq!(rel_at(&f.data, 1), 16 - 5);
        assert_eq!(rel_at(&f.data, 5), 32 - 9);
        assert_eq!(f.alignment, 16);
        // One data range from the end of the code (its padding included).
        assert_eq!(f.data_ranges, vec![DataRange { start: 9, end: 33 }]);
    }

    #[test]
    fn relocs_traps_srclocs_call_sites() {
        let mut b = MachBuffer::<TestUse>::new();
        b.start_srcloc(RelSourceLoc::from_bits(3));
        b.add_trap(TrapCode::INTEGER_DIVISION_BY_ZERO);
        b.put2(0xf7f7);
        b.put1(0xe8);
        b.add_reloc(
            Reloc::X86CallPCRel4,
            RelocTarget::User(UserExternalNameRef::new(2)),
            -4,
        );
        b.put4(0);
        b.add_call_site();
        b.start_srcloc(RelSourceLoc::from_bits(4));
        b.end_srcloc();
        b.start_srcloc(RelSourceLoc::from_bits(5));
        b.add_reloc(Reloc::Abs8, RelocTarget::LibCall(LibCall::FloorF64), 0);
        b.put8(0);
        let f = b.finish().unwrap();
        assert_eq!(
            f.traps,
            vec![MachTrap {
                offset: 0,
                code: TrapCode::INTEGER_DIVISION_BY_ZERO
            }]
        );
        assert_eq!(
            f.relocs,
            vec![
                MachReloc {
                    offset: 3,
                    kind: Reloc::X86CallPCRel4,
                    target: RelocTarget::User(UserExternalNameRef::new(2)),
                    addend: -4
                },
                MachReloc {
                    offset: 7,
                    kind: Reloc::Abs8,
                    target: RelocTarget::LibCall(LibCall::FloorF64),
                    addend: 0
                }
            ]
        );
        assert_eq!(f.call_sites, vec![MachCallSite { ret_addr: 7 }]);
        assert_eq!(
            f.srclocs,
            vec![
                MachSrcLoc {
                    start: 0,
                    end: 7,
                    loc: RelSourceLoc::from_bits(3)
                },
                MachSrcLoc {
                    start: 7,
                    end: 15,
                    loc: RelSourceLoc::from_bits(5)
                }
            ]
        );
    }

    #[test]
    fn deferred_traps() {
        let mut b = MachBuffer::<TestUse>::new();
        let l = b.defer_trap(TrapCode::INTEGER_OVERFLOW);
        b.put_data(&[0x0f, 0x80]);
        b.use_label_at_offset(2, l, TestUse::Rel32);
        b.put4(0);
        b.put1(0xc3);
        b.emit_deferred_traps(&[0x0f, 0x0b]);
        let f = b.finish().unwrap();
        assert_eq!(&f.data[7..], &[0x0f, 0x0b]);
        assert_eq!(rel_at(&f.data, 2), 1);
        assert_eq!(
            f.traps,
            vec![MachTrap {
                offset: 7,
                code: TrapCode::INTEGER_OVERFLOW
            }]
        );
    }

    #[test]
    fn unbound_label_is_an_error() {
        let mut b = MachBuffer::<TestUse>::new();
        let l = b.get_label();
        jmp(&mut b, l);
        assert_eq!(b.finish(), Err(BufferError::UnboundLabel(l)));
    }

    #[test]
    fn islands_patch_and_veneer() {
        let mut b = MachBuffer::<TestUse>::new();
        assert!(!b.island_needed(0));
        let near = b.get_label();
        let far = b.get_label();
        let back = b.get_label();
        b.bind_label(back);
        b.put1(0x90);
        b.use_label_at_offset(1, far, TestUse::Short); // 1..5, deadline 101
        b.put4(0);
        b.use_label_at_offset(5, near, TestUse::Short); // 5..9
        b.put4(0);
        b.use_label_at_offset(9, back, TestUse::Short); // backward, bound
        b.put4(0);
        b.bind_label(near); // 13
        assert!(!b.island_needed(10));
        assert!(b.island_needed(90));
        b.emit_island(90, &[]);
        // `near` was patched in place; `far` got a veneer at 13.
        assert_eq!(rel_at(b.data(), 5), 13 - 9);
        assert_eq!(rel_at(b.data(), 1), 13 - 5);
        assert_eq!(b.data()[13], 0xe9);
        assert_eq!(b.cur_offset(), 18);
        assert!(!b.island_needed(1000));
        for _ in 0..300 {
            b.put1(0x90);
        }
        b.bind_label(far);
        let f = b.finish().unwrap();
        // The veneer's rel32 reaches `far` at 318.
        assert_eq!(rel_at(&f.data, 14), 318 - 18);
        assert_eq!(rel_at(&f.data, 9), -13);
    }

    #[test]
    fn out_of_range_uses_a_veneer() {
        let mut b = MachBuffer::<TestUse>::new();
        let l = b.get_label();
        b.bind_label(l);
        for _ in 0..150 {
            b.put1(0x90);
        }
        b.use_label_at_offset(150, l, TestUse::Short);
        b.put4(0);
        let f = b.finish().unwrap();
        // Veneer at 154: e9 rel32 back to 0.
        assert_eq!(rel_at(&f.data, 150), 0);
        assert_eq!(f.data[154], 0xe9);
        assert_eq!(rel_at(&f.data, 155), -159);
    }
}
