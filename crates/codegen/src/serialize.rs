//! The cache payload: a compact binary encoding of `CompiledCode<Stencil>`.
//!
//! This is what the compilation cache stores inside its entry envelope
//! (which already carries a magic number, versions, the key and a
//! checksum). The byte-exact layout is documented in `docs/cache.md`,
//! section "Payload". In short: a format byte, then unsigned LEB128
//! integers, with offsets stored as wrapping deltas from the previous
//! offset of the same list (small for the sorted lists the backend emits,
//! yet exact for any input), and every record list preceded by its count.
//!
//! Decoding ([`deserialize_compiled`]) treats its input as untrusted even
//! though the envelope has been checked:
//! - it never panics and never reads out of bounds;
//! - every count is checked against the bytes that remain (each record
//!   takes at least one byte per field) before anything is allocated, so
//!   the allocation is bounded by the input length;
//! - it decodes straight into the final vectors (one allocation per list);
//! - it rejects trailing bytes, non-canonical LEB128 (so each value has
//!   exactly one encoding), unknown enum tags, offsets beyond the code,
//!   test-case references past the name list and an alignment that is not
//!   a power of two.

use crate::compiled::{
    resolve_target, ApplyParamsError, CompilePhase, CompiledCode, DataRange, ExceptionCallSite,
    ExceptionHandler, Final, FinalName, Relocation, SrcLocRange, Stencil,
};
use crate::machinst::buffer::{MachCallSite, MachTrap, Reloc, RelocTarget};
use crate::unwind::{UnwindEntry, UnwindOp};
use kiln_ir::{
    FunctionParameters, KnownSymbol, LibCall, RelSourceLoc, SourceLoc, TestcaseName, TrapCode,
    UserExternalNameRef,
};
use regalloc2::{PReg, RegClass};
use std::fmt;
use std::num::NonZeroU8;

/// The payload format version (first byte of every payload). Bump it on any
/// change to the layout below; the cache mixes it into its compiler-version
/// string, so old entries read as stale rather than damaged.
pub const PAYLOAD_VERSION: u8 = 5;

/// Why a payload could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadError {
    /// The input ends inside a field.
    Truncated,
    /// Bytes remain after the last field.
    TrailingBytes,
    /// The first byte is not [`PAYLOAD_VERSION`].
    Version(u8),
    /// A LEB128 integer is longer than needed or exceeds 32/64 bits.
    BadInteger,
    /// A count exceeds what the remaining bytes could hold.
    BadCount,
    /// An unknown tag for a relocation kind, target, libcall or symbol.
    BadTag,
    /// A trap code of zero.
    BadTrapCode,
    /// An offset (or range end) beyond the end of the code, or a range
    /// ending before it starts.
    BadOffset,
    /// A relocation names a test-case name that is not in the list.
    BadTestCase,
    /// A test-case name that is not UTF-8.
    BadName,
    /// An alignment that is not a power of two.
    BadAlignment,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            PayloadError::Truncated => "truncated",
            PayloadError::TrailingBytes => "trailing bytes",
            PayloadError::Version(v) => {
                return write!(
                    f,
                    "compiled-code payload version {v}, expected {PAYLOAD_VERSION}"
                )
            }
            PayloadError::BadInteger => "malformed integer",
            PayloadError::BadCount => "record count exceeds the input",
            PayloadError::BadTag => "unknown tag",
            PayloadError::BadTrapCode => "zero trap code",
            PayloadError::BadOffset => "offset outside the code",
            PayloadError::BadTestCase => "test-case name index out of range",
            PayloadError::BadName => "test-case name is not UTF-8",
            PayloadError::BadAlignment => "alignment is not a power of two",
        };
        write!(f, "compiled-code payload: {what}")
    }
}

impl std::error::Error for PayloadError {}

// ---- tags ----

fn reloc_tag(kind: Reloc) -> u8 {
    match kind {
        Reloc::Abs4 => 0,
        Reloc::Abs8 => 1,
        Reloc::X86PCRel4 => 2,
        Reloc::X86CallPCRel4 => 3,
        Reloc::X86CallPLTRel4 => 4,
        Reloc::X86GOTPCRel4 => 5,
        Reloc::Aarch64Call26 => 6,
        Reloc::Aarch64AdrPrelPgHi21 => 7,
        Reloc::Aarch64AddAbsLo12Nc => 8,
        Reloc::Aarch64AdrGotPage21 => 9,
        Reloc::Aarch64Ld64GotLo12Nc => 10,
        Reloc::Aarch64Jump26 => 11,
        Reloc::Aarch64Ldst8AbsLo12Nc => 12,
        Reloc::Aarch64Ldst16AbsLo12Nc => 13,
        Reloc::Aarch64Ldst32AbsLo12Nc => 14,
        Reloc::Aarch64Ldst64AbsLo12Nc => 15,
        Reloc::Aarch64Ldst128AbsLo12Nc => 16,
    }
}

fn reloc_from_tag(tag: u8) -> Option<Reloc> {
    Some(match tag {
        0 => Reloc::Abs4,
        1 => Reloc::Abs8,
        2 => Reloc::X86PCRel4,
        3 => Reloc::X86CallPCRel4,
        4 => Reloc::X86CallPLTRel4,
        5 => Reloc::X86GOTPCRel4,
        6 => Reloc::Aarch64Call26,
        7 => Reloc::Aarch64AdrPrelPgHi21,
        8 => Reloc::Aarch64AddAbsLo12Nc,
        9 => Reloc::Aarch64AdrGotPage21,
        10 => Reloc::Aarch64Ld64GotLo12Nc,
        11 => Reloc::Aarch64Jump26,
        12 => Reloc::Aarch64Ldst8AbsLo12Nc,
        13 => Reloc::Aarch64Ldst16AbsLo12Nc,
        14 => Reloc::Aarch64Ldst32AbsLo12Nc,
        15 => Reloc::Aarch64Ldst64AbsLo12Nc,
        16 => Reloc::Aarch64Ldst128AbsLo12Nc,
        _ => return None,
    })
}

const TARGET_USER: u8 = 0;
const TARGET_LIBCALL: u8 = 1;
const TARGET_KNOWN: u8 = 2;
const TARGET_TESTCASE: u8 = 3;

fn libcall_tag(l: LibCall) -> u8 {
    // `LibCall::ALL` lists every variant once; its order is part of the
    // format (checked by a test below).
    LibCall::ALL.iter().position(|x| *x == l).unwrap_or(0) as u8
}

fn known_tag(k: KnownSymbol) -> u8 {
    match k {
        KnownSymbol::ElfGlobalOffsetTable => 0,
        KnownSymbol::CoffTlsIndex => 1,
    }
}

fn known_from_tag(tag: u8) -> Option<KnownSymbol> {
    match tag {
        0 => Some(KnownSymbol::ElfGlobalOffsetTable),
        1 => Some(KnownSymbol::CoffTlsIndex),
        _ => None,
    }
}

// ---- encoding ----

fn put_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_sleb(out: &mut Vec<u8>, v: i64) {
    // Zigzag, then unsigned: small magnitudes of either sign stay short.
    put_uleb(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    put_uleb(out, n as u64);
}

/// An upper bound of the encoded size, to reserve once.
pub fn serialized_size_hint(code: &CompiledCode<Stencil>) -> usize {
    16 + code.code.len()
        + code.relocs.len() * 18
        + code.traps.len() * 6
        + code.call_sites.len() * 5
        + code
            .exception_sites
            .iter()
            .map(|e| 15 + e.handlers.len() * 10)
            .sum::<usize>()
        + code.srclocs.len() * 15
        + code.unwind.len() * 13
        + code.data_ranges.len() * 10
        + code
            .testcase_names
            .iter()
            .map(|n| n.as_str().len() + 5)
            .sum::<usize>()
}

/// Appends the payload encoding of `code` to `out`.
pub fn serialize_compiled_into(code: &CompiledCode<Stencil>, out: &mut Vec<u8>) {
    out.reserve(serialized_size_hint(code));
    out.push(PAYLOAD_VERSION);
    put_uleb(out, u64::from(code.alignment));
    put_uleb(out, u64::from(code.frame_size));
    put_len(out, code.code.len());
    out.extend_from_slice(&code.code);

    put_len(out, code.testcase_names.len());
    for name in &code.testcase_names {
        put_len(out, name.as_str().len());
        out.extend_from_slice(name.as_str().as_bytes());
    }

    put_len(out, code.relocs.len());
    let mut prev = 0u32;
    for r in &code.relocs {
        put_uleb(out, u64::from(r.offset.wrapping_sub(prev)));
        prev = r.offset;
        out.push(reloc_tag(r.kind));
        match r.target {
            RelocTarget::User(name_ref) => {
                out.push(TARGET_USER);
                put_uleb(out, u64::from(name_ref.as_u32()));
            }
            RelocTarget::LibCall(l) => {
                out.push(TARGET_LIBCALL);
                out.push(libcall_tag(l));
            }
            RelocTarget::KnownSymbol(k) => {
                out.push(TARGET_KNOWN);
                out.push(known_tag(k));
            }
            RelocTarget::TestCase(i) => {
                out.push(TARGET_TESTCASE);
                put_uleb(out, u64::from(i));
            }
        }
        put_sleb(out, r.addend);
    }

    put_len(out, code.traps.len());
    let mut prev = 0u32;
    for t in &code.traps {
        put_uleb(out, u64::from(t.offset.wrapping_sub(prev)));
        prev = t.offset;
        out.push(t.code.as_raw().get());
    }

    put_len(out, code.call_sites.len());
    let mut prev = 0u32;
    for c in &code.call_sites {
        put_uleb(out, u64::from(c.ret_addr.wrapping_sub(prev)));
        prev = c.ret_addr;
    }

    put_len(out, code.exception_sites.len());
    let mut prev = 0u32;
    for e in &code.exception_sites {
        put_uleb(out, u64::from(e.ret_addr.wrapping_sub(prev)));
        prev = e.ret_addr;
        put_uleb(out, u64::from(e.fp_to_sp));
        put_len(out, e.handlers.len());
        for h in &e.handlers {
            // 0 is `default`; a tag t is t + 1 (up to 2^32, 33 bits).
            put_uleb(out, h.tag.map_or(0, |t| u64::from(t) + 1));
            put_uleb(out, u64::from(h.handler));
        }
    }

    put_len(out, code.srclocs.len());
    let mut prev = 0u32;
    let mut prev_loc = 0u32;
    for s in &code.srclocs {
        put_uleb(out, u64::from(s.start.wrapping_sub(prev)));
        put_uleb(out, u64::from(s.end.wrapping_sub(s.start)));
        // The location as a signed step from the previous one: consecutive
        // instructions are a few source bytes apart, so this is one byte.
        put_uleb(
            out,
            u64::from(zigzag32(s.loc.bits().wrapping_sub(prev_loc))),
        );
        prev = s.end;
        prev_loc = s.loc.bits();
    }

    put_len(out, code.unwind.len());
    let mut prev = 0u32;
    for u in &code.unwind {
        put_uleb(out, u64::from(u.offset.wrapping_sub(prev)));
        prev = u.offset;
        match u.op {
            UnwindOp::PushFrameRegs { size } => {
                out.push(0);
                put_uleb(out, u64::from(size));
            }
            UnwindOp::DefineFrame { size } => {
                out.push(1);
                put_uleb(out, u64::from(size));
            }
            UnwindOp::SaveReg { reg, below_cfa } => {
                out.push(2);
                out.push(reg.class() as u8);
                out.push(reg.hw_enc() as u8);
                put_uleb(out, u64::from(below_cfa));
            }
            UnwindOp::RememberState => out.push(3),
            UnwindOp::RestoreFrameRegs { sp_to_cfa } => {
                out.push(4);
                put_sleb(out, i64::from(sp_to_cfa));
            }
            UnwindOp::SpToCfa { sp_to_cfa } => {
                out.push(5);
                put_sleb(out, i64::from(sp_to_cfa));
            }
            UnwindOp::RestoreState => out.push(6),
            UnwindOp::ToggleReturnAddressSigned => out.push(7),
            UnwindOp::ReturnAddressIn { reg } => {
                out.push(8);
                out.push(reg.class() as u8);
                out.push(reg.hw_enc() as u8);
            }
            UnwindOp::ReturnAddressAt { below_cfa } => {
                out.push(9);
                put_uleb(out, u64::from(below_cfa));
            }
            UnwindOp::NotSaved { reg } => {
                out.push(10);
                out.push(reg.class() as u8);
                out.push(reg.hw_enc() as u8);
            }
        }
    }

    put_len(out, code.data_ranges.len());
    let mut prev = 0u32;
    for d in &code.data_ranges {
        put_uleb(out, u64::from(d.start.wrapping_sub(prev)));
        put_uleb(out, u64::from(d.end.wrapping_sub(d.start)));
        prev = d.end;
    }
}

/// A wrapping `u32` difference read as `i32`, zigzag-mapped (small
/// magnitudes of either sign become small numbers).
fn zigzag32(d: u32) -> u32 {
    let d = d as i32;
    ((d << 1) ^ (d >> 31)) as u32
}

/// The inverse of [`zigzag32`].
fn unzigzag32(z: u32) -> u32 {
    (z >> 1) ^ (z & 1).wrapping_neg()
}

/// The payload encoding of `code`.
pub fn serialize_compiled(code: &CompiledCode<Stencil>) -> Vec<u8> {
    let mut out = Vec::new();
    serialize_compiled_into(code, &mut out);
    out
}

// ---- decoding ----

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, PayloadError> {
        let b = *self.bytes.get(self.pos).ok_or(PayloadError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], PayloadError> {
        if n > self.remaining() {
            return Err(PayloadError::Truncated);
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Canonical unsigned LEB128 of at most `bits` bits.
    #[inline(always)]
    fn uleb(&mut self, bits: u32) -> Result<u64, PayloadError> {
        // Fast path: most integers (deltas, small indices) fit one byte.
        if let Some(&b) = self.bytes.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        // The slow path takes the position by value, so that the reader
        // never escapes and stays in registers.
        let (value, pos) = uleb_slow(self.bytes, self.pos, bits)?;
        self.pos = pos;
        Ok(value)
    }

    #[inline(always)]
    fn u32(&mut self) -> Result<u32, PayloadError> {
        if let Some(&b) = self.bytes.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u32::from(b));
            }
        }
        let (value, pos) = u32_slow(self.bytes, self.pos)?;
        self.pos = pos;
        Ok(value)
    }

    /// The next three bytes, if they are there and each is a whole
    /// (one-byte) LEB128 integer: the common shape of a source-location
    /// range.
    #[inline(always)]
    fn three_small(&mut self) -> Option<(u32, u32, u32)> {
        match self.bytes.get(self.pos..self.pos.wrapping_add(3)) {
            Some(&[a, b, c]) if (a | b | c) < 0x80 => {
                self.pos += 3;
                Some((u32::from(a), u32::from(b), u32::from(c)))
            }
            _ => None,
        }
    }

    #[inline(always)]
    fn sleb(&mut self) -> Result<i64, PayloadError> {
        let z = self.uleb(64)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A count of records that each need at least `min_size` bytes.
    #[inline(always)]
    fn count(&mut self, min_size: usize) -> Result<usize, PayloadError> {
        let n = self.u32()? as usize;
        match n.checked_mul(min_size) {
            Some(need) if need <= self.remaining() => Ok(n),
            _ => Err(PayloadError::BadCount),
        }
    }
}

/// The general case of [`Reader::uleb`]: the value and the position after
/// it.
#[inline(never)]
fn uleb_slow(bytes: &[u8], mut pos: usize, bits: u32) -> Result<(u64, usize), PayloadError> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *bytes.get(pos).ok_or(PayloadError::Truncated)?;
        pos += 1;
        let low = u64::from(byte & 0x7f);
        if shift >= bits {
            // Longer than any value of `bits` bits needs.
            return Err(PayloadError::BadInteger);
        }
        if bits - shift < 7 && low >> (bits - shift) != 0 {
            // Bits above `bits`.
            return Err(PayloadError::BadInteger);
        }
        value |= low << shift;
        if byte & 0x80 == 0 {
            // A final zero byte after the first one is a padded
            // (non-canonical) encoding.
            if byte == 0 && shift > 0 {
                return Err(PayloadError::BadInteger);
            }
            return Ok((value, pos));
        }
        shift += 7;
    }
}

#[cold]
#[inline(never)]
fn u32_slow(bytes: &[u8], pos: usize) -> Result<(u32, usize), PayloadError> {
    // `uleb_slow(.., 32)` never returns more than 32 bits.
    let (value, pos) = uleb_slow(bytes, pos, 32)?;
    Ok((
        u32::try_from(value).map_err(|_| PayloadError::BadInteger)?,
        pos,
    ))
}

/// How [`decode`] turns stored relocation targets and source locations
/// into those of the phase it produces.
trait Resolve {
    type Phase: CompilePhase + Copy;
    fn target(
        &mut self,
        target: RelocTarget,
        testcase_names: &[TestcaseName],
    ) -> <Self::Phase as CompilePhase>::RelocName;
    fn loc(&self, loc: RelSourceLoc) -> <Self::Phase as CompilePhase>::SourceLoc;
}

/// Keeps the stencil's names and relative locations.
struct AsStencil;

impl Resolve for AsStencil {
    type Phase = Stencil;
    #[inline(always)]
    fn target(&mut self, target: RelocTarget, _: &[TestcaseName]) -> RelocTarget {
        target
    }
    #[inline(always)]
    fn loc(&self, loc: RelSourceLoc) -> RelSourceLoc {
        loc
    }
}

/// Applies a function's parameters while decoding, as
/// [`CompiledCode::apply_params`] would afterwards. A name that does not
/// resolve is remembered (the first one, as `apply_params` reports it) and
/// decoding goes on, so that a payload defect later on still wins.
struct WithParams<'p> {
    params: &'p FunctionParameters,
    base: SourceLoc,
    error: Option<ApplyParamsError>,
}

impl Resolve for WithParams<'_> {
    type Phase = Final;
    #[inline(always)]
    fn target(&mut self, target: RelocTarget, testcase_names: &[TestcaseName]) -> FinalName {
        match resolve_target(target, self.params, testcase_names) {
            Ok(name) => name,
            Err(error) => {
                self.error.get_or_insert(error);
                // A placeholder: the result is discarded for the error.
                FinalName::KnownSymbol(KnownSymbol::ElfGlobalOffsetTable)
            }
        }
    }
    #[inline(always)]
    fn loc(&self, loc: RelSourceLoc) -> SourceLoc {
        loc.expand(self.base)
    }
}

/// Decodes a payload made by [`serialize_compiled`]. Any defect is an
/// error, never a panic; see the module documentation for what is checked.
pub fn deserialize_compiled(bytes: &[u8]) -> Result<CompiledCode<Stencil>, PayloadError> {
    let mut out = CompiledCode::empty();
    decode_into(bytes, &mut AsStencil, &mut out)?;
    Ok(out)
}

/// Decodes a payload straight into final code for `params`: the same as
/// `deserialize_compiled(bytes)?.apply_params(params)`, without building
/// the stencil code first (names are resolved and source locations made
/// absolute as each record is read).
///
/// The outer error is a payload defect (the same [`PayloadError`] that
/// [`deserialize_compiled`] returns, whatever the parameters); the inner
/// one is the error `apply_params` would return for a payload that decodes.
pub fn deserialize_final(
    bytes: &[u8],
    params: &FunctionParameters,
) -> Result<Result<CompiledCode<Final>, ApplyParamsError>, PayloadError> {
    let mut out = CompiledCode::empty();
    Ok(deserialize_final_into(bytes, params, &mut out)?.map(|()| out))
}

/// [`deserialize_final`] into `out`, which the caller owns, so that the
/// (large) code value is built where it will stay rather than moved out
/// through the layers of results. Every field of `out` is overwritten on
/// success. On a payload error `out` is left as it was; with an
/// `apply_params` error it holds the decoded code with placeholder names,
/// which must not be used.
pub fn deserialize_final_into(
    bytes: &[u8],
    params: &FunctionParameters,
    out: &mut CompiledCode<Final>,
) -> Result<Result<(), ApplyParamsError>, PayloadError> {
    let mut resolve = WithParams {
        params,
        base: params.base_srcloc(),
        error: None,
    };
    decode_into(bytes, &mut resolve, out)?;
    Ok(match resolve.error {
        None => Ok(()),
        Some(error) => Err(error),
    })
}

/// A machine register: class byte (0 int, 1 float, 2 vector), encoding.
fn read_preg(r: &mut Reader<'_>) -> Result<PReg, PayloadError> {
    let class = match r.byte()? {
        0 => RegClass::Int,
        1 => RegClass::Float,
        2 => RegClass::Vector,
        _ => return Err(PayloadError::BadTag),
    };
    let enc = r.byte()?;
    if usize::from(enc) > PReg::MAX {
        return Err(PayloadError::BadTag);
    }
    Ok(PReg::new(usize::from(enc), class))
}

/// The decoder behind [`deserialize_compiled`] and [`deserialize_final`].
#[inline(always)]
fn decode_into<R: Resolve>(
    bytes: &[u8],
    resolve: &mut R,
    out: &mut CompiledCode<R::Phase>,
) -> Result<(), PayloadError> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.byte()?;
    if version != PAYLOAD_VERSION {
        return Err(PayloadError::Version(version));
    }
    let alignment = r.u32()?;
    if !alignment.is_power_of_two() {
        return Err(PayloadError::BadAlignment);
    }
    let frame_size = r.u32()?;
    let code_len = r.count(1)?;
    let code = r.take(code_len)?.to_vec();
    let code_len = code_len as u32;
    let check = |offset: u32| {
        if offset <= code_len {
            Ok(offset)
        } else {
            Err(PayloadError::BadOffset)
        }
    };

    let n = r.count(1)?;
    let mut testcase_names = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.count(1)?;
        let text = std::str::from_utf8(r.take(len)?).map_err(|_| PayloadError::BadName)?;
        testcase_names.push(TestcaseName::new(text));
    }

    // offset delta, kind, target tag, target operand, addend: >= 5 bytes.
    let n = r.count(5)?;
    let mut relocs = Vec::with_capacity(n);
    let mut prev = 0u32;
    for _ in 0..n {
        let offset = check(prev.wrapping_add(r.u32()?))?;
        prev = offset;
        let kind = reloc_from_tag(r.byte()?).ok_or(PayloadError::BadTag)?;
        let target = match r.byte()? {
            TARGET_USER => RelocTarget::User(UserExternalNameRef::from_u32(r.u32()?)),
            TARGET_LIBCALL => RelocTarget::LibCall(
                *LibCall::ALL
                    .get(usize::from(r.byte()?))
                    .ok_or(PayloadError::BadTag)?,
            ),
            TARGET_KNOWN => {
                RelocTarget::KnownSymbol(known_from_tag(r.byte()?).ok_or(PayloadError::BadTag)?)
            }
            TARGET_TESTCASE => {
                let i = r.u32()?;
                if i as usize >= testcase_names.len() {
                    return Err(PayloadError::BadTestCase);
                }
                RelocTarget::TestCase(i)
            }
            _ => return Err(PayloadError::BadTag),
        };
        let addend = r.sleb()?;
        relocs.push(Relocation {
            offset,
            kind,
            target: resolve.target(target, &testcase_names),
            addend,
        });
    }

    let n = r.count(2)?;
    let mut traps = Vec::with_capacity(n);
    let mut prev = 0u32;
    for _ in 0..n {
        let offset = check(prev.wrapping_add(r.u32()?))?;
        prev = offset;
        let code = NonZeroU8::new(r.byte()?).ok_or(PayloadError::BadTrapCode)?;
        traps.push(MachTrap {
            offset,
            code: TrapCode::from_raw(code),
        });
    }

    let n = r.count(1)?;
    let mut call_sites = Vec::with_capacity(n);
    let mut prev = 0u32;
    for _ in 0..n {
        let ret_addr = check(prev.wrapping_add(r.u32()?))?;
        prev = ret_addr;
        call_sites.push(MachCallSite { ret_addr });
    }

    // return-address delta, fp-to-sp distance, handler count: >= 3 bytes.
    let n = r.count(3)?;
    let mut exception_sites = Vec::with_capacity(n);
    let mut prev = 0u32;
    for _ in 0..n {
        let ret_addr = check(prev.wrapping_add(r.u32()?))?;
        prev = ret_addr;
        let fp_to_sp = r.u32()?;
        // tag, handler offset: >= 2 bytes.
        let m = r.count(2)?;
        let mut handlers = Vec::with_capacity(m);
        for _ in 0..m {
            let tag = match r.uleb(33)? {
                0 => None,
                t => Some(u32::try_from(t - 1).map_err(|_| PayloadError::BadInteger)?),
            };
            let handler = check(r.u32()?)?;
            handlers.push(ExceptionHandler { tag, handler });
        }
        exception_sites.push(ExceptionCallSite {
            ret_addr,
            fp_to_sp,
            handlers,
        });
    }

    let n = r.count(3)?;
    // Filled first and then overwritten in place: a tighter loop than
    // `push` (the capacity check and length update go away).
    let placeholder = SrcLocRange {
        start: 0,
        end: 0,
        loc: resolve.loc(RelSourceLoc::default()),
    };
    let mut srclocs = vec![placeholder; n];
    let mut prev = 0u32;
    let mut prev_loc = 0u32;
    for slot in &mut srclocs {
        let (start, end, step) = match r.three_small() {
            // The usual record: three one-byte fields, and the only
            // possible defect is an offset (`BadOffset` in any case).
            Some((d_start, len, step)) => {
                let start = prev.wrapping_add(d_start);
                let end = start.wrapping_add(len);
                if end < start || end > code_len {
                    return Err(PayloadError::BadOffset);
                }
                (start, end, step)
            }
            None => {
                let start = check(prev.wrapping_add(r.u32()?))?;
                let end = check(start.wrapping_add(r.u32()?))?;
                if end < start {
                    return Err(PayloadError::BadOffset);
                }
                (start, end, r.u32()?)
            }
        };
        let bits = prev_loc.wrapping_add(unzigzag32(step));
        *slot = SrcLocRange {
            start,
            end,
            loc: resolve.loc(RelSourceLoc::from_bits(bits)),
        };
        prev = end;
        prev_loc = bits;
    }

    // offset delta, tag: >= 2 bytes.
    let n = r.count(2)?;
    let mut unwind = Vec::with_capacity(n);
    let mut prev = 0u32;
    for _ in 0..n {
        let offset = check(prev.wrapping_add(r.u32()?))?;
        prev = offset;
        let small = |v: i64| i32::try_from(v).map_err(|_| PayloadError::BadInteger);
        let op = match r.byte()? {
            0 => UnwindOp::PushFrameRegs { size: r.u32()? },
            1 => UnwindOp::DefineFrame { size: r.u32()? },
            2 => UnwindOp::SaveReg {
                reg: read_preg(&mut r)?,
                below_cfa: r.u32()?,
            },
            3 => UnwindOp::RememberState,
            4 => UnwindOp::RestoreFrameRegs {
                sp_to_cfa: small(r.sleb()?)?,
            },
            5 => UnwindOp::SpToCfa {
                sp_to_cfa: small(r.sleb()?)?,
            },
            6 => UnwindOp::RestoreState,
            7 => UnwindOp::ToggleReturnAddressSigned,
            8 => UnwindOp::ReturnAddressIn {
                reg: read_preg(&mut r)?,
            },
            9 => UnwindOp::ReturnAddressAt {
                below_cfa: r.u32()?,
            },
            10 => UnwindOp::NotSaved {
                reg: read_preg(&mut r)?,
            },
            _ => return Err(PayloadError::BadTag),
        };
        unwind.push(UnwindEntry { offset, op });
    }

    // start delta, length: >= 2 bytes.
    let n = r.count(2)?;
    let mut data_ranges = Vec::with_capacity(n);
    let mut prev = 0u32;
    for _ in 0..n {
        let start = check(prev.wrapping_add(r.u32()?))?;
        let end = check(start.wrapping_add(r.u32()?))?;
        if end < start {
            return Err(PayloadError::BadOffset);
        }
        prev = end;
        data_ranges.push(DataRange { start, end });
    }

    if r.remaining() != 0 {
        return Err(PayloadError::TrailingBytes);
    }
    out.unwind = unwind;
    out.data_ranges = data_ranges;
    out.code = code;
    out.relocs = relocs;
    out.traps = traps;
    out.call_sites = call_sites;
    out.exception_sites = exception_sites;
    out.srclocs = srclocs;
    out.testcase_names = testcase_names;
    out.alignment = alignment;
    out.frame_size = frame_size;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    const ALL_RELOCS: [Reloc; 17] = [
        Reloc::Abs4,
        Reloc::Abs8,
        Reloc::X86PCRel4,
        Reloc::X86CallPCRel4,
        Reloc::X86CallPLTRel4,
        Reloc::X86GOTPCRel4,
        Reloc::Aarch64Call26,
        Reloc::Aarch64AdrPrelPgHi21,
        Reloc::Aarch64AddAbsLo12Nc,
        Reloc::Aarch64AdrGotPage21,
        Reloc::Aarch64Ld64GotLo12Nc,
        Reloc::Aarch64Jump26,
        Reloc::Aarch64Ldst8AbsLo12Nc,
        Reloc::Aarch64Ldst16AbsLo12Nc,
        Reloc::Aarch64Ldst32AbsLo12Nc,
        Reloc::Aarch64Ldst64AbsLo12Nc,
        Reloc::Aarch64Ldst128AbsLo12Nc,
    ];

    /// Random but valid stencil code: offsets within the code, in any order
    /// (sorted most of the time, as the backend emits them).
    fn random_code(rng: &mut Rng) -> CompiledCode<Stencil> {
        let len = rng.below(300) as usize;
        let code: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let len = len as u64;
        let names: Vec<TestcaseName> = (0..rng.below(3))
            .map(|i| TestcaseName::new(format!("f{i}é{}", rng.below(1000))))
            .collect();
        let sorted = rng.below(4) != 0;
        let offsets = |rng: &mut Rng, n: u64| {
            let mut v: Vec<u32> = (0..n).map(|_| rng.below(len + 1) as u32).collect();
            if sorted {
                v.sort_unstable();
            }
            v
        };
        let n = rng.below(8);
        let relocs = offsets(rng, n)
            .into_iter()
            .map(|offset| {
                let target = match rng.below(4) {
                    0 => RelocTarget::User(UserExternalNameRef::from_u32(
                        rng.next() as u32 >> rng.below(32),
                    )),
                    1 => RelocTarget::LibCall(
                        LibCall::ALL[rng.below(LibCall::ALL.len() as u64) as usize],
                    ),
                    2 => RelocTarget::KnownSymbol(if rng.below(2) == 0 {
                        KnownSymbol::ElfGlobalOffsetTable
                    } else {
                        KnownSymbol::CoffTlsIndex
                    }),
                    _ if !names.is_empty() => {
                        RelocTarget::TestCase(rng.below(names.len() as u64) as u32)
                    }
                    _ => RelocTarget::User(UserExternalNameRef::from_u32(0)),
                };
                let addend = match rng.below(3) {
                    0 => -4,
                    1 => rng.next() as i64,
                    _ => rng.below(100) as i64 - 50,
                };
                Relocation {
                    offset,
                    kind: ALL_RELOCS[rng.below(ALL_RELOCS.len() as u64) as usize],
                    target,
                    addend,
                }
            })
            .collect();
        let n = rng.below(6);
        let traps = offsets(rng, n)
            .into_iter()
            .map(|offset| MachTrap {
                offset,
                code: TrapCode::from_raw(NonZeroU8::new(1 + rng.below(255) as u8).unwrap()),
            })
            .collect();
        let n = rng.below(5);
        let call_sites = offsets(rng, n)
            .into_iter()
            .map(|ret_addr| MachCallSite { ret_addr })
            .collect();
        // Pairs of sorted offsets: ranges in order, possibly empty or
        // touching (the decoder takes any in-bounds, non-inverted range).
        let n = rng.below(4);
        let mut bounds = offsets(rng, 2 * n);
        bounds.sort_unstable();
        let data_ranges = bounds
            .chunks_exact(2)
            .map(|p| DataRange {
                start: p[0],
                end: p[1],
            })
            .collect();
        let n = rng.below(7);
        let unwind = offsets(rng, n)
            .into_iter()
            .map(|offset| {
                let small = rng.next() as u32 >> rng.below(32);
                let signed = (rng.next() as i32) >> rng.below(32);
                let reg = PReg::new(
                    rng.below(64) as usize,
                    [RegClass::Int, RegClass::Float, RegClass::Vector][rng.below(3) as usize],
                );
                let op = match rng.below(11) {
                    0 => UnwindOp::PushFrameRegs { size: small },
                    1 => UnwindOp::DefineFrame { size: small },
                    2 => UnwindOp::SaveReg {
                        reg: PReg::new(
                            rng.below(64) as usize,
                            [RegClass::Int, RegClass::Float, RegClass::Vector]
                                [rng.below(3) as usize],
                        ),
                        below_cfa: small,
                    },
                    3 => UnwindOp::RememberState,
                    4 => UnwindOp::RestoreFrameRegs { sp_to_cfa: signed },
                    5 => UnwindOp::SpToCfa { sp_to_cfa: signed },
                    6 => UnwindOp::ToggleReturnAddressSigned,
                    7 => UnwindOp::ReturnAddressIn { reg },
                    8 => UnwindOp::ReturnAddressAt { below_cfa: small },
                    9 => UnwindOp::NotSaved { reg },
                    _ => UnwindOp::RestoreState,
                };
                UnwindEntry { offset, op }
            })
            .collect();
        let n = rng.below(4);
        let exception_sites = offsets(rng, n)
            .into_iter()
            .map(|ret_addr| {
                let m = rng.below(4);
                ExceptionCallSite {
                    ret_addr,
                    fp_to_sp: rng.next() as u32 >> rng.below(32),
                    handlers: offsets(rng, m)
                        .into_iter()
                        .map(|handler| ExceptionHandler {
                            tag: match rng.below(3) {
                                0 => None,
                                1 => Some(u32::MAX - rng.below(2) as u32),
                                _ => Some(rng.below(5) as u32),
                            },
                            handler,
                        })
                        .collect(),
                }
            })
            .collect();
        let n = rng.below(12);
        let mut bounds = offsets(rng, 2 * n);
        bounds.sort_unstable();
        let srclocs = bounds
            .chunks(2)
            .map(|c| SrcLocRange {
                start: c[0],
                end: c[1],
                loc: match rng.below(4) {
                    0 => RelSourceLoc::default(),
                    1 => RelSourceLoc::from_bits(rng.next() as u32),
                    _ => RelSourceLoc::from_bits(rng.below(64) as u32),
                },
            })
            .collect();
        CompiledCode {
            code,
            relocs,
            traps,
            call_sites,
            exception_sites,
            srclocs,
            testcase_names: names,
            alignment: 1 << rng.below(8),
            frame_size: if rng.below(2) == 0 {
                0
            } else {
                rng.next() as u32
            },
            unwind,
            data_ranges,
        }
    }

    fn sample() -> CompiledCode<Stencil> {
        CompiledCode {
            code: vec![
                0x55, 0x48, 0x89, 0xe5, 0xe8, 0, 0, 0, 0, 0x0f, 0x0b, 0x5d, 0xc3,
            ],
            relocs: vec![
                Relocation {
                    offset: 5,
                    kind: Reloc::X86CallPLTRel4,
                    target: RelocTarget::User(UserExternalNameRef::from_u32(3)),
                    addend: -4,
                },
                Relocation {
                    offset: 5,
                    kind: Reloc::Abs8,
                    target: RelocTarget::TestCase(0),
                    addend: i64::MIN,
                },
                Relocation {
                    offset: 9,
                    kind: Reloc::X86PCRel4,
                    target: RelocTarget::LibCall(LibCall::X86Pshufb),
                    addend: i64::MAX,
                },
                Relocation {
                    offset: 13,
                    kind: Reloc::X86GOTPCRel4,
                    target: RelocTarget::KnownSymbol(KnownSymbol::CoffTlsIndex),
                    addend: 0,
                },
            ],
            traps: vec![MachTrap {
                offset: 9,
                code: TrapCode::INTEGER_DIVISION_BY_ZERO,
            }],
            call_sites: vec![MachCallSite { ret_addr: 9 }],
            exception_sites: vec![ExceptionCallSite {
                ret_addr: 9,
                fp_to_sp: 16,
                handlers: vec![
                    ExceptionHandler {
                        tag: Some(u32::MAX),
                        handler: 11,
                    },
                    ExceptionHandler {
                        tag: None,
                        handler: 13,
                    },
                ],
            }],
            srclocs: vec![
                SrcLocRange {
                    start: 0,
                    end: 4,
                    loc: RelSourceLoc::default(),
                },
                SrcLocRange {
                    start: 4,
                    end: 13,
                    loc: RelSourceLoc::from_bits(0x10),
                },
            ],
            testcase_names: vec![TestcaseName::new("callee")],
            alignment: 16,
            frame_size: 16,
            unwind: vec![
                UnwindEntry {
                    offset: 1,
                    op: UnwindOp::PushFrameRegs { size: 16 },
                },
                UnwindEntry {
                    offset: 4,
                    op: UnwindOp::DefineFrame { size: 16 },
                },
                UnwindEntry {
                    offset: 8,
                    op: UnwindOp::SaveReg {
                        reg: PReg::new(15, RegClass::Float),
                        below_cfa: 48,
                    },
                },
                UnwindEntry {
                    offset: 10,
                    op: UnwindOp::RestoreFrameRegs { sp_to_cfa: -8 },
                },
            ],
            data_ranges: vec![DataRange { start: 11, end: 13 }],
        }
    }

    #[test]
    fn sample_round_trip_and_exact_bytes() {
        let code = sample();
        let bytes = serialize_compiled(&code);
        assert_eq!(deserialize_compiled(&bytes), Ok(code.clone()));
        // Header as documented in docs/cache.md: version, alignment, frame
        // size, code length, code.
        assert_eq!(&bytes[..4], &[PAYLOAD_VERSION, 16, 16, 13]);
        assert_eq!(&bytes[4..17], &code.code[..]);
        // One test-case name "callee".
        assert_eq!(&bytes[17..25], b"\x01\x06callee");
        // First reloc: 4 relocs, delta 5, kind 4 (X86CallPLTRel4), user
        // tag 0, ref 3, addend -4 zigzag = 7.
        assert_eq!(&bytes[25..31], &[4, 5, 4, 0, 3, 7]);
        // The exception table: 1 site, return address 9, fp-to-sp 16, 2
        // handlers: tag u32::MAX as 2^32 (five LEB128 bytes) at 11, then
        // default (0) at 13.
        let table = [1, 9, 16, 2, 0x80, 0x80, 0x80, 0x80, 0x10, 11, 0, 13];
        let at = bytes
            .windows(table.len())
            .position(|w| w == table)
            .expect("exception table encoding");
        assert!(bytes.len() < serialized_size_hint(&code));
        // A handler past the end of the code (13 -> 14) is rejected.
        let mut b = bytes.clone();
        b[at + 11] = 14;
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadOffset));
        // A tag of 2^32 (encoded 2^32 + 1) does not fit a u32.
        let mut b = bytes.clone();
        b[at + 4] = 0x81;
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadInteger));
    }

    #[test]
    fn zigzag32_round_trips() {
        for d in [
            0u32,
            1,
            2,
            63,
            64,
            u32::MAX,
            u32::MAX - 1,
            1 << 31,
            (1 << 31) - 1,
        ] {
            assert_eq!(unzigzag32(zigzag32(d)), d);
        }
        assert_eq!(zigzag32(0), 0);
        assert_eq!(zigzag32(u32::MAX), 1); // -1
        assert_eq!(zigzag32(4), 8);
    }

    #[test]
    fn tags_cover_every_variant() {
        for (i, kind) in ALL_RELOCS.iter().enumerate() {
            assert_eq!(reloc_tag(*kind), i as u8);
            assert_eq!(reloc_from_tag(i as u8), Some(*kind));
        }
        assert_eq!(reloc_from_tag(ALL_RELOCS.len() as u8), None);
        for (i, l) in LibCall::ALL.iter().enumerate() {
            assert_eq!(libcall_tag(*l), i as u8);
        }
        for k in [KnownSymbol::ElfGlobalOffsetTable, KnownSymbol::CoffTlsIndex] {
            assert_eq!(known_from_tag(known_tag(k)), Some(k));
        }
    }

    #[test]
    fn random_round_trips() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let code = random_code(&mut rng);
            let bytes = serialize_compiled(&code);
            assert_eq!(deserialize_compiled(&bytes).as_ref(), Ok(&code));
            assert!(bytes.len() <= serialized_size_hint(&code));
        }
    }

    #[test]
    fn empty_code_round_trips() {
        let code = CompiledCode::<Stencil>::empty();
        let bytes = serialize_compiled(&code);
        // Version, alignment 1, then ten zeros: frame size, code length and
        // the eight record counts (names, relocations, traps, call sites,
        // exception sites, source ranges, unwind ops, data ranges).
        assert_eq!(bytes, [PAYLOAD_VERSION, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(deserialize_compiled(&bytes), Ok(code));
    }

    #[test]
    fn every_truncation_and_extension_is_rejected() {
        let mut rng = Rng(77);
        let mut payloads = vec![serialize_compiled(&sample())];
        payloads.extend((0..40).map(|_| serialize_compiled(&random_code(&mut rng))));
        for bytes in &payloads {
            for cut in 0..bytes.len() {
                assert!(deserialize_compiled(&bytes[..cut]).is_err(), "cut at {cut}");
            }
            for extra in [0u8, 1, 0x80, 0xff] {
                let mut longer = bytes.clone();
                longer.push(extra);
                assert_eq!(
                    deserialize_compiled(&longer),
                    Err(PayloadError::TrailingBytes)
                );
            }
        }
    }

    /// The encoding is a bijection onto the accepted inputs: whatever a
    /// corrupted payload decodes to re-encodes to exactly the same bytes,
    /// so no two payloads decode to the same code and decoding never
    /// "repairs" damage silently. And nothing panics.
    #[test]
    fn corruptions_never_panic_and_accepted_inputs_are_canonical() {
        let mut rng = Rng(4242);
        let mut accepted = 0usize;
        let mut rejected = 0usize;
        let mut bases = vec![serialize_compiled(&sample())];
        bases.extend((0..30).map(|_| serialize_compiled(&random_code(&mut rng))));
        let mut check = |bytes: &[u8]| match deserialize_compiled(bytes) {
            Ok(code) => {
                assert_eq!(serialize_compiled(&code), bytes);
                accepted += 1;
            }
            Err(_) => rejected += 1,
        };
        for base in &bases {
            // Every single byte set to a few values.
            for i in 0..base.len() {
                for v in [0u8, 1, 0x7f, 0x80, 0xff, base[i] ^ 0x01, base[i] ^ 0x40] {
                    let mut b = base.clone();
                    b[i] = v;
                    check(&b);
                }
            }
            // Random multi-byte corruptions, deletions and insertions.
            for _ in 0..300 {
                let mut b = base.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(b.len() as u64) as usize;
                    match rng.below(3) {
                        0 => b[i] = rng.next() as u8,
                        1 => {
                            b.remove(i);
                        }
                        _ => b.insert(i, rng.next() as u8),
                    }
                    if b.is_empty() {
                        break;
                    }
                }
                check(&b);
            }
        }
        // Pure noise.
        for _ in 0..5000 {
            let len = rng.below(64) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if !b.is_empty() && rng.below(2) == 0 {
                b[0] = PAYLOAD_VERSION;
            }
            check(&b);
        }
        // Code bytes are opaque, so many corruptions there decode (the
        // envelope checksum is what catches them); the rest must not.
        assert!(
            rejected > 20_000 && accepted > 0,
            "{rejected} rejected, {accepted} accepted"
        );
    }

    /// Parameters with `names` user names and a base location (sometimes
    /// the default one).
    fn random_params(rng: &mut Rng) -> FunctionParameters {
        let mut params = FunctionParameters::new();
        for i in 0..rng.below(6) {
            params.ensure_user_func_name(kiln_ir::UserExternalName::new(
                rng.below(3) as u32,
                i as u32 * 7,
            ));
        }
        if rng.below(4) != 0 {
            params.set_base_srcloc(SourceLoc::new(rng.next() as u32));
        }
        params
    }

    /// `deserialize_final` is `deserialize_compiled` + `apply_params`,
    /// result for result (errors included, and a payload defect wins over
    /// a missing name), on valid and on corrupted payloads.
    #[test]
    fn deserialize_final_equals_decode_then_apply_params() {
        let mut rng = Rng(0x5EED_F1A1);
        let mut compared = [0usize; 3];
        for round in 0..3000 {
            let code = if round == 0 {
                sample()
            } else {
                random_code(&mut rng)
            };
            let mut bytes = serialize_compiled(&code);
            if round % 3 == 2 && !bytes.is_empty() {
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(bytes.len() as u64) as usize;
                    bytes[i] = rng.next() as u8;
                }
            }
            let params = random_params(&mut rng);
            let fused = deserialize_final(&bytes, &params);
            let split = deserialize_compiled(&bytes).map(|c| c.apply_params(&params));
            assert_eq!(fused, split, "round {round}");
            compared[match &split {
                Ok(Ok(_)) => 0,
                Ok(Err(_)) => 1,
                Err(_) => 2,
            }] += 1;
        }
        assert!(compared.iter().all(|&n| n > 100), "{compared:?}");
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        // Code length 2^32-1 with three bytes of input.
        let b = [PAYLOAD_VERSION, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadCount));
        // 2^32-1 relocations after an empty code and no names.
        let b = [PAYLOAD_VERSION, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0];
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadCount));
    }

    #[test]
    fn specific_defects_have_specific_errors() {
        let good = serialize_compiled(&sample());
        assert_eq!(deserialize_compiled(&[]), Err(PayloadError::Truncated));
        let mut b = good.clone();
        b[0] = PAYLOAD_VERSION + 1;
        assert_eq!(
            deserialize_compiled(&b),
            Err(PayloadError::Version(PAYLOAD_VERSION + 1))
        );
        let mut b = good.clone();
        b[1] = 12; // alignment
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadAlignment));
        // Padded LEB128 (frame size 16 as 0x90 0x00) is not canonical.
        let mut b = good.clone();
        b.splice(2..3, [0x90, 0x00]);
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadInteger));
        // A 33-bit value where 32 bits are allowed.
        let mut b = good.clone();
        b.splice(2..3, [0x80, 0x80, 0x80, 0x80, 0x10]);
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadInteger));
        // Reloc offset past the code (delta 5 -> 100).
        let mut b = good.clone();
        b[26] = 100;
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadOffset));
        // Unknown reloc kind, unknown target tag.
        let mut b = good.clone();
        b[27] = 99;
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadTag));
        let mut b = good.clone();
        b[28] = 9;
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadTag));
        // The test-case reference of the second reloc (index 0 -> 1).
        let mut b = good.clone();
        assert_eq!(&b[31..34], &[0, 1, 3]);
        b[34] = 1;
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadTestCase));
        // Bad UTF-8 in the name.
        let mut b = good;
        b[19] = 0xff;
        assert_eq!(deserialize_compiled(&b), Err(PayloadError::BadName));
    }
}
