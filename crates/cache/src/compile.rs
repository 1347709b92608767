//! The compile layer: `compile_with_cache` and [`CompileCache`].
//!
//! ```text
//! Function.stencil --key--> lookup_with --hit--> decode payload with Function.params --+
//!            \                                                                         |
//!             --miss/rejected--> verify --> compile_stencil                            |
//!                          --> serialize --> store_entry                               |
//!                          --> apply_params(&Function.params) ------------------------+
//!                                                                                      v
//!                                                                   CompiledCode<Final>
//! ```
//!
//! On a hit the payload is decoded straight into the final code
//! (`deserialize_final_into`: names resolved and source locations made
//! absolute record by record), from the bytes the store lends, into the
//! value that is returned. It is exactly `apply_params` of the decoded
//! stencil code, errors included (a test in `kiln_codegen::serialize`
//! checks this on valid and corrupted payloads), and shares its two steps
//! (`resolve_target`, `RelSourceLoc::expand`) with it; no other code makes
//! final code. Decoding into `CompiledCode<Stencil>` and then calling
//! `apply_params` was measured back to back: the same on the wasm corpus,
//! but 120–180 ns more on a 0.4–0.5 µs scalar-runtests hit (the extra
//! record vectors and moves of the code value), a third of the hit budget.
//!
//! # What is stored
//!
//! The envelope payload is one flags byte followed by the code generator's
//! encoding of `CompiledCode<Stencil>` (`kiln_codegen::serialize`, see
//! `docs/cache.md`, "Payload"). Flag bit 0 says that the stencil passed the
//! verifier when the entry was made; the other bits must be zero.
//!
//! # Verification on a hit
//!
//! The verifier runs on the miss path only, when `enable_verifier` is set.
//! A hit needs no verification *if the entry says its stencil was
//! verified*: the key covers the whole stencil (up to numbering, which the
//! verifier's verdict does not depend on) and the verifier looks at nothing
//! else that can change code. `enable_verifier` is not part of the key, so
//! an entry made with the verifier off can be found by a caller that wants
//! it on; such a hit verifies the function once (an error is returned as
//! from a fresh compile) and rewrites the entry with the flag set, so later
//! hits skip it. Name-table problems (a relocation naming a reference the
//! function's table lacks) are caught by `apply_params`: an error on the
//! miss path, a miss on the hit path.
//!
//! # Entries that do not fit
//!
//! A hit is used only if the decoded code fits the function ([`fits`]):
//! names resolve, relocations, traps, call sites and handlers lie inside
//! the code, relocations are the target's, the alignment is sane. Anything
//! else is a forged or damaged entry that slipped past the checksum, and
//! is a miss (`Rejected(BadPayload)`), compiled afresh, never an error.
//!
//! # Counting
//!
//! Outcomes are counted in the store's [`CacheStats`] (via [`lookup`](crate::lookup)):
//! one hit or one miss per call, a rejected entry also as damaged or stale,
//! a payload that fails to decode turns the hit into a damaged rejection,
//! and a successful hit adds the entry's recorded compile time to
//! `time_saved`. The time recorded on a miss covers verification and
//! `compile_stencil`, i.e. exactly what a hit avoids.

use crate::entry::EntryError;
use crate::stencil_key::{KeyTarget, StencilKeyer};
use crate::{
    lookup_with, store_entry, CacheKey, CacheKvStore, CacheStats, CacheStatsSnapshot, LookupWith,
};
use kiln_codegen::compiled::{ApplyParamsError, CompiledCode, Final, Stencil};
use kiln_codegen::isa::TargetIsa;
use kiln_codegen::machinst::buffer::Reloc;
use kiln_codegen::result::CodegenError;
use kiln_codegen::serialize::{
    deserialize_compiled, deserialize_final_into, serialize_compiled_into, serialized_size_hint,
};
use kiln_codegen::settings::Arch;
use kiln_ir::{Function, FunctionParameters};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The compiler version written into (and required of) every entry: the
/// crate version, the payload format version and the compiler fingerprint
/// (a hash of the sources that decide code, [`crate::fingerprint`]). A
/// build with another version reads old entries as stale: after any change
/// to code generation the next compile is a miss.
pub const COMPILER_VERSION: &str = concat!(
    "kiln ",
    env!("CARGO_PKG_VERSION"),
    " payload 5 fp ",
    env!("KILN_COMPILER_FINGERPRINT")
);

/// Flag bit 0 of the payload's first byte.
const FLAG_VERIFIED: u8 = 1;

/// Errors of `compile_with_cache`: the same as an uncached compile's.
pub type CompileError = CodegenError;

/// What the cache did for one function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the cache; nothing was compiled.
    Hit,
    /// Nothing stored; compiled and stored.
    Miss,
    /// An entry was stored but unusable (damaged, stale, foreign, or its
    /// payload did not decode); compiled and overwritten.
    Rejected(EntryError),
}

impl CacheOutcome {
    /// Whether the code came from the cache.
    pub fn is_hit(self) -> bool {
        self == CacheOutcome::Hit
    }
}

thread_local! {
    /// One keyer per thread: its renumbering tables are reused, so a key
    /// allocates nothing once they have grown.
    static KEYER: RefCell<StencilKeyer> = RefCell::new(StencilKeyer::new());
}

/// The cache key of `func` for `isa`: the stencil key over the target
/// triple and `isa.key_flags()`. Computed before any lowering.
pub fn cache_key(isa: &dyn TargetIsa, func: &Function) -> CacheKey {
    let flags = isa.key_flags();
    let target = KeyTarget {
        triple: isa.triple(),
        flags: &flags,
    };
    let key = KEYER.with(|k| match k.try_borrow_mut() {
        Ok(mut keyer) => keyer.key(&func.stencil, &target),
        // Re-entered (cannot happen today): use a fresh keyer.
        Err(_) => StencilKeyer::new().key(&func.stencil, &target),
    });
    CacheKey(key.0)
}

/// Encodes a cache payload: flags byte + serialized stencil code.
pub fn encode_payload(code: &CompiledCode<Stencil>, verified: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + serialized_size_hint(code));
    out.push(if verified { FLAG_VERIFIED } else { 0 });
    serialize_compiled_into(code, &mut out);
    out
}

/// Decodes a cache payload into (verified, stencil code); `None` for any
/// defect (unknown flag bits included).
pub fn decode_payload(bytes: &[u8]) -> Option<(bool, CompiledCode<Stencil>)> {
    let (&flags, rest) = bytes.split_first()?;
    if flags & !FLAG_VERIFIED != 0 {
        return None;
    }
    let code = deserialize_compiled(rest).ok()?;
    Some((flags & FLAG_VERIFIED != 0, code))
}

/// Decodes a cache payload straight into final code for `params` (see
/// [`deserialize_final`](kiln_codegen::serialize::deserialize_final)): `None` for any payload defect, as
/// [`decode_payload`]; otherwise the verified flag and what
/// `apply_params(params)` would return for the decoded stencil code.
pub fn decode_payload_final(
    bytes: &[u8],
    params: &FunctionParameters,
) -> Option<(bool, Result<CompiledCode<Final>, ApplyParamsError>)> {
    let mut out = CompiledCode::empty();
    let (verified, applied) = decode_payload_final_into(bytes, params, &mut out)?;
    Some((verified, applied.map(|()| out)))
}

/// [`decode_payload_final`] into `out` (see
/// `kiln_codegen::serialize::deserialize_final_into`): the hit path's
/// form, which builds the code where the caller keeps it.
#[inline]
pub fn decode_payload_final_into(
    bytes: &[u8],
    params: &FunctionParameters,
    out: &mut CompiledCode<Final>,
) -> Option<(bool, Result<(), ApplyParamsError>)> {
    let (&flags, rest) = bytes.split_first()?;
    if flags & !FLAG_VERIFIED != 0 {
        return None;
    }
    let applied = deserialize_final_into(rest, params, out).ok()?;
    Some((flags & FLAG_VERIFIED != 0, applied))
}

fn verify(func: &Function) -> Result<(), CompileError> {
    kiln_ir::verifier::verify_function(func).map_err(|e| CodegenError::Verifier(e.to_string()))
}

fn finish(
    code: CompiledCode<Stencil>,
    func: &Function,
) -> Result<CompiledCode<Final>, CompileError> {
    code.apply_params(&func.params).map_err(apply_error)
}

fn apply_error(e: ApplyParamsError) -> CompileError {
    CodegenError::Emit(e.to_string())
}

/// Largest code alignment an entry may ask for: a page. The code
/// generator asks for 16 or 32; more is forged or damaged, and would make
/// the loader reserve absurd amounts of memory.
pub const MAX_ENTRY_ALIGNMENT: u32 = 4096;

/// Bytes a relocation of `kind` patches, and whether `arch` uses it. (No
/// wildcard: a new kind must be placed here.)
fn reloc_fits(kind: Reloc, arch: Arch) -> (u32, bool) {
    match kind {
        Reloc::Abs4 => (4, true),
        Reloc::Abs8 => (8, true),
        Reloc::X86PCRel4 | Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4 | Reloc::X86GOTPCRel4 => {
            (4, arch == Arch::X86_64)
        }
        Reloc::Aarch64Call26
        | Reloc::Aarch64AdrPrelPgHi21
        | Reloc::Aarch64AddAbsLo12Nc
        | Reloc::Aarch64AdrGotPage21
        | Reloc::Aarch64Ld64GotLo12Nc
        | Reloc::Aarch64Jump26
        | Reloc::Aarch64Ldst8AbsLo12Nc
        | Reloc::Aarch64Ldst16AbsLo12Nc
        | Reloc::Aarch64Ldst32AbsLo12Nc
        | Reloc::Aarch64Ldst64AbsLo12Nc
        | Reloc::Aarch64Ldst128AbsLo12Nc => (4, arch == Arch::Aarch64),
    }
}

/// Whether decoded code makes sense as a function for `arch`: every
/// relocation patches bytes inside the code with a kind of this target,
/// every trap lies on a code byte, every call site's return address and
/// every exception handler lies within the code, and the alignment is at
/// most [`MAX_ENTRY_ALIGNMENT`]. (Names are checked by `apply_params`;
/// source-location ranges and record order by the payload decoder.) The
/// code the backend produces always fits; a stored entry that does not
/// is forged or damaged and is treated as a miss.
pub fn fits(code: &CompiledCode<Final>, arch: Arch) -> bool {
    let len = code.code.len();
    let Ok(len) = u32::try_from(len) else {
        return false;
    };
    let within = |offset: u32, size: u32| offset.checked_add(size).is_some_and(|end| end <= len);
    code.alignment <= MAX_ENTRY_ALIGNMENT
        && code.relocs.iter().all(|r| {
            let (size, ours) = reloc_fits(r.kind, arch);
            ours && within(r.offset, size)
        })
        && code.traps.iter().all(|t| t.offset < len)
        && code
            .call_sites
            .iter()
            .all(|c| c.ret_addr > 0 && c.ret_addr <= len)
        && code.exception_sites.iter().all(|site| {
            site.ret_addr > 0
                && site.ret_addr <= len
                && site.handlers.iter().all(|h| h.handler < len)
        })
        && unwind_fits(&code.unwind, len)
}

/// Whether a frame description could be Kiln's: ops in offset order
/// within the code, every restored state remembered before, sizes and
/// registers a frame can have. A forged description would misdirect a
/// native unwinder or the throw path, so it is a miss, never registered.
fn unwind_fits(ops: &[kiln_codegen::unwind::UnwindEntry], len: u32) -> bool {
    use kiln_codegen::unwind::UnwindOp;
    let mut depth = 0u32;
    let mut prev = 0u32;
    for e in ops {
        if e.offset < prev || e.offset > len {
            return false;
        }
        prev = e.offset;
        let ok = match e.op {
            UnwindOp::PushFrameRegs { size } | UnwindOp::DefineFrame { size } => size == 16,
            UnwindOp::SaveReg { reg, below_cfa } => {
                reg.hw_enc() < 32 && below_cfa > 16 && below_cfa <= MAX_FRAME_BYTES
            }
            UnwindOp::RestoreFrameRegs { sp_to_cfa } | UnwindOp::SpToCfa { sp_to_cfa } => {
                sp_to_cfa.unsigned_abs() <= MAX_FRAME_BYTES
            }
            UnwindOp::RememberState => {
                depth += 1;
                depth <= 1
            }
            UnwindOp::RestoreState => {
                let was = depth;
                depth = depth.saturating_sub(1);
                was == 1
            }
            UnwindOp::ToggleReturnAddressSigned => true,
            UnwindOp::ReturnAddressIn { reg } | UnwindOp::NotSaved { reg } => reg.hw_enc() < 32,
            UnwindOp::ReturnAddressAt { below_cfa } => below_cfa == 8,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Frames are below 1 GiB (`FrameLayout`); offsets beyond are forged.
const MAX_FRAME_BYTES: u32 = 1 << 30;

/// What the hit path takes out of a valid entry while the store lends it
/// (besides the code, which is decoded in place).
struct Decoded {
    /// `Err` if `apply_params` would fail.
    applied: Result<(), ApplyParamsError>,
    /// The recorded compile time.
    saved: Option<Duration>,
    /// For an entry made without the verifier, when the caller wants it:
    /// the payload with the verified flag set, to store once the function
    /// passes. (Encoding is a bijection, so this is exactly what
    /// re-encoding the decoded code with the flag would produce.)
    mark_verified: Option<Vec<u8>>,
}

/// Compiles `func` for `isa` through `store`.
///
/// Computes the key, looks it up, and on a hit decodes the stored stencil
/// code with the function's parameters applied; on a miss (or an unusable
/// entry) verifies (if `enable_verifier`), compiles the stencil, stores
/// the result with its compile time and applies the parameters. The store
/// never causes an error: a failed insert is counted by the store and
/// ignored. The final code is the same on both paths (`apply_params` and
/// the decoder share `resolve_target` and `RelSourceLoc::expand`).
pub fn compile_with_cache(
    isa: &dyn TargetIsa,
    func: &Function,
    store: &dyn CacheKvStore,
) -> Result<(CompiledCode<Final>, CacheOutcome), CompileError> {
    compile_with_key(isa, func, store, &cache_key(isa, func))
}

/// [`compile_with_cache`] with a key the caller has already computed (with
/// [`cache_key`]).
pub fn compile_with_key(
    isa: &dyn TargetIsa,
    func: &Function,
    store: &dyn CacheKvStore,
    key: &CacheKey,
) -> Result<(CompiledCode<Final>, CacheOutcome), CompileError> {
    compile_as_version(isa, func, store, key, COMPILER_VERSION)
}

/// [`compile_with_key`] as a build whose compiler version is `version`
/// (tests use it to play two builds against one store).
#[doc(hidden)]
pub fn compile_as_version(
    isa: &dyn TargetIsa,
    func: &Function,
    store: &dyn CacheKvStore,
    key: &CacheKey,
    version: &str,
) -> Result<(CompiledCode<Final>, CacheOutcome), CompileError> {
    let want_verify = isa.flags().enable_verifier;
    // The hit path decodes inside the store's callback, straight from the
    // bytes it lends and straight into final code.
    let mut code = CompiledCode::empty();
    let looked = lookup_with(store, key, version, |view| {
        let (verified, applied) = decode_payload_final_into(view.payload, &func.params, &mut code)?;
        // An entry that decodes but does not fit this function (a name
        // the function lacks, a record past the code, another target's
        // relocation) is a miss, compiled afresh: never an error, never
        // code handed on.
        if applied.is_err() || !fits(&code, isa.arch()) {
            return None;
        }
        let mark_verified = (want_verify && !verified).then(|| {
            let mut payload = view.payload.to_vec();
            // The flags byte (the payload decoded, so it has one).
            if let Some(flags) = payload.first_mut() {
                *flags |= FLAG_VERIFIED;
            }
            payload
        });
        Some(Decoded {
            applied,
            saved: view.compile_time(),
            mark_verified,
        })
    });
    let outcome = match looked {
        LookupWith::Hit(Some(hit)) => {
            if let Some(payload) = hit.mark_verified {
                verify(func)?;
                // Remember it, so later hits skip the verifier.
                store_entry(store, key, version, &payload, hit.saved);
            }
            hit.applied.map_err(apply_error)?;
            if let (Some(stats), Some(saved)) = (store.cache_stats(), hit.saved) {
                stats.record_hit_saved(saved);
            }
            return Ok((code, CacheOutcome::Hit));
        }
        LookupWith::Hit(None) => {
            if let Some(stats) = store.cache_stats() {
                stats.record_payload_rejected();
            }
            CacheOutcome::Rejected(EntryError::BadPayload)
        }
        LookupWith::Miss => CacheOutcome::Miss,
        LookupWith::Rejected(error) => CacheOutcome::Rejected(error),
    };
    let start = Instant::now();
    if want_verify {
        verify(func)?;
    }
    let code = isa.compile_stencil(&func.stencil)?;
    let elapsed = start.elapsed().max(Duration::from_nanos(1));
    store_entry(
        store,
        key,
        version,
        &encode_payload(&code, want_verify),
        Some(elapsed),
    );
    Ok((finish(code, func)?, outcome))
}

/// A store plus this user's own outcome counters: what the CLI and
/// embedders hold.
///
/// The store's [`CacheStats`] (if it keeps any) count every lookup through
/// it, whoever makes it; [`CompileCache::stats`] counts only the compiles
/// made through this value, and works with stores that keep no stats.
pub struct CompileCache {
    store: Arc<dyn CacheKvStore>,
    stats: CacheStats,
}

impl CompileCache {
    /// A cache over `store`.
    pub fn new(store: Arc<dyn CacheKvStore>) -> Self {
        CompileCache {
            store,
            stats: CacheStats::new(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CacheKvStore> {
        &self.store
    }

    /// Outcome counters of the compiles made through this value (hits,
    /// misses, rejections and time saved; store-level counters such as
    /// bytes written are in the store's own stats).
    pub fn stats(&self) -> CacheStatsSnapshot {
        self.stats.snapshot()
    }

    /// The store's own counters, if it keeps any.
    pub fn store_stats(&self) -> Option<CacheStatsSnapshot> {
        self.store.cache_stats().map(CacheStats::snapshot)
    }

    /// [`compile_with_cache`] through this cache's store.
    pub fn compile(
        &self,
        isa: &dyn TargetIsa,
        func: &Function,
    ) -> Result<(CompiledCode<Final>, CacheOutcome), CompileError> {
        let result = compile_with_cache(isa, func, &*self.store);
        if let Ok((_, outcome)) = &result {
            match outcome {
                CacheOutcome::Hit => self.stats.record_hit(),
                CacheOutcome::Miss => self.stats.record_miss(),
                CacheOutcome::Rejected(e) => self.stats.record_rejected(e.is_stale()),
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_version_names_the_payload_format_and_the_fingerprint() {
        let part = format!(" payload {} fp ", kiln_codegen::serialize::PAYLOAD_VERSION);
        assert!(COMPILER_VERSION.contains(&part), "{COMPILER_VERSION}");
        let fp = COMPILER_VERSION.rsplit(' ').next().unwrap_or("");
        assert_eq!(fp, env!("KILN_COMPILER_FINGERPRINT"));
        assert_eq!(fp.len(), 16, "{COMPILER_VERSION}");
    }

    /// A frame description must fit its code: Kiln's own passes, forged
    /// ones (out of order, past the end, impossible sizes, unbalanced
    /// states) are misses.
    #[test]
    fn unwind_ops_must_fit() {
        use kiln_codegen::unwind::{PReg, RegClass, UnwindEntry, UnwindOp};
        let e = |offset, op| UnwindEntry { offset, op };
        let good = vec![
            e(1, UnwindOp::PushFrameRegs { size: 16 }),
            e(4, UnwindOp::DefineFrame { size: 16 }),
            e(
                9,
                UnwindOp::SaveReg {
                    reg: PReg::new(3, RegClass::Int),
                    below_cfa: 24,
                },
            ),
            e(10, UnwindOp::RememberState),
            e(14, UnwindOp::RestoreFrameRegs { sp_to_cfa: 8 }),
            e(15, UnwindOp::RestoreState),
        ];
        assert!(unwind_fits(&good, 20));
        assert!(!unwind_fits(&good, 14), "past the end");
        let mut swapped = good.clone();
        swapped.swap(0, 1);
        assert!(!unwind_fits(&swapped, 20), "out of order");
        let mut big = good.clone();
        big[0].op = UnwindOp::PushFrameRegs { size: 24 };
        assert!(!unwind_fits(&big, 20), "setup area");
        let mut unbalanced = good.clone();
        unbalanced.remove(3);
        assert!(!unwind_fits(&unbalanced, 20), "restore without remember");
        let mut far = good;
        far[2].op = UnwindOp::SaveReg {
            reg: PReg::new(3, RegClass::Int),
            below_cfa: u32::MAX,
        };
        assert!(!unwind_fits(&far, 20), "slot beyond any frame");
    }
}
