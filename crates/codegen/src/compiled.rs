//! Compiled code in its two phases.
//!
//! `CompiledCode<Stencil>` is what compiling a `FunctionStencil` produces and
//! what the cache stores: relocations name `UserExternalNameRef` indices and
//! source locations are relative to the function's base.
//! `CompiledCode<Final>` has names resolved through `FunctionParameters` and
//! absolute source locations. [`CompiledCode::apply_params`] is the only way
//! from the first to the second, so a cache hit and a fresh compile finish
//! through the same code.

pub use crate::machinst::buffer::DataRange;
/// Exception records are made by the `MachBuffer`; they are part of the
/// compiled code's public shape, so they are re-exported here.
pub use crate::machinst::buffer::{ExceptionCallSite, ExceptionHandler};
use crate::machinst::buffer::{MachCallSite, MachReloc, MachTrap, Reloc, RelocTarget};
use crate::unwind::UnwindEntry;
use kiln_ir::{
    FunctionParameters, KnownSymbol, LibCall, RelSourceLoc, SourceLoc, TestcaseName,
    UserExternalName, UserExternalNameRef,
};
use std::fmt::Debug;
use std::hash::Hash;

/// A compilation phase: decides how names and source locations are held.
pub trait CompilePhase {
    type SourceLoc: Copy + Debug + PartialEq + Eq + Hash;
    type RelocName: Clone + Debug + PartialEq + Eq + Hash;
}

/// Output of the backend, independent of names and absolute locations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stencil;

/// Output with names resolved and absolute source locations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Final;

impl CompilePhase for Stencil {
    type SourceLoc = RelSourceLoc;
    type RelocName = RelocTarget;
}

impl CompilePhase for Final {
    type SourceLoc = SourceLoc;
    type RelocName = FinalName;
}

/// A relocation target with names resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FinalName {
    User(UserExternalName),
    TestCase(TestcaseName),
    LibCall(LibCall),
    KnownSymbol(KnownSymbol),
}

/// A relocation in compiled code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Relocation<P: CompilePhase> {
    pub offset: u32,
    pub kind: Reloc,
    pub target: P::RelocName,
    pub addend: i64,
}

/// The code in `start..end` came from `loc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SrcLocRange<P: CompilePhase> {
    pub start: u32,
    pub end: u32,
    pub loc: P::SourceLoc,
}

/// Machine code with everything needed to link, run and debug it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CompiledCode<P: CompilePhase> {
    pub code: Vec<u8>,
    pub relocs: Vec<Relocation<P>>,
    pub traps: Vec<MachTrap>,
    pub call_sites: Vec<MachCallSite>,
    /// Exception tables of `try_call` sites with handlers, by return
    /// address (offsets relative to the code, like everything here).
    pub exception_sites: Vec<ExceptionCallSite>,
    pub srclocs: Vec<SrcLocRange<P>>,
    /// Test-case names (`%foo`) that `RelocTarget::TestCase(i)` refers to.
    pub testcase_names: Vec<TestcaseName>,
    /// Required alignment of the code's start, in bytes.
    pub alignment: u32,
    /// Bytes of stack the function's frame uses (for reports).
    pub frame_size: u32,
    /// Where the frame is at each instruction boundary, as changes at code
    /// offsets (`crate::unwind`; empty when `unwind_info` is off).
    pub unwind: Vec<UnwindEntry>,
    /// Byte ranges of `code` that hold constants, not instructions (for
    /// listings), in offset order.
    pub data_ranges: Vec<DataRange>,
}

impl<P: CompilePhase> CompiledCode<P> {
    /// No code and no records (alignment 1): allocates nothing. A value to
    /// decode into (see `serialize::deserialize_final_into`).
    pub fn empty() -> Self {
        CompiledCode {
            code: Vec::new(),
            relocs: Vec::new(),
            traps: Vec::new(),
            call_sites: Vec::new(),
            exception_sites: Vec::new(),
            srclocs: Vec::new(),
            testcase_names: Vec::new(),
            alignment: 1,
            frame_size: 0,
            unwind: Vec::new(),
            data_ranges: Vec::new(),
        }
    }
}

impl<P: CompilePhase> CompiledCode<P> {
    /// The code cut into runs of instructions (`false`) and of constant
    /// data (`true`), in offset order, covering every byte once: what a
    /// listing decodes and what it prints as data.
    pub fn segments(&self) -> Vec<(std::ops::Range<usize>, bool)> {
        let len = self.code.len();
        let mut out = Vec::with_capacity(2 * self.data_ranges.len() + 1);
        let mut at = 0usize;
        for d in &self.data_ranges {
            let (start, end) = ((d.start as usize).min(len), (d.end as usize).min(len));
            if start < at || end <= start {
                continue;
            }
            if at < start {
                out.push((at..start, false));
            }
            out.push((start..end, true));
            at = end;
        }
        if at < len {
            out.push((at..len, false));
        }
        out
    }
}

impl CompiledCode<Stencil> {
    /// Builds stencil code from a finished buffer.
    pub fn from_buffer(
        buf: crate::machinst::buffer::MachBufferFinalized,
        testcase_names: Vec<TestcaseName>,
        frame_size: u32,
    ) -> Self {
        CompiledCode {
            code: buf.data,
            relocs: buf
                .relocs
                .into_iter()
                .map(
                    |MachReloc {
                         offset,
                         kind,
                         target,
                         addend,
                     }| Relocation {
                        offset,
                        kind,
                        target,
                        addend,
                    },
                )
                .collect(),
            traps: buf.traps,
            call_sites: buf.call_sites,
            exception_sites: buf.exception_sites,
            srclocs: buf
                .srclocs
                .into_iter()
                .map(|s| SrcLocRange {
                    start: s.start,
                    end: s.end,
                    loc: s.loc,
                })
                .collect(),
            testcase_names,
            alignment: buf.alignment,
            frame_size,
            unwind: buf.unwind,
            data_ranges: buf.data_ranges,
        }
    }

    /// Resolves names through `params` and makes source locations absolute.
    /// A name reference missing from the table is an error (the stencil and
    /// the parameters do not belong together).
    pub fn apply_params(
        self,
        params: &FunctionParameters,
    ) -> Result<CompiledCode<Final>, ApplyParamsError> {
        let base = params.base_srcloc();
        let mut relocs = Vec::with_capacity(self.relocs.len());
        for r in self.relocs {
            let target = resolve_target(r.target, params, &self.testcase_names)?;
            relocs.push(Relocation {
                offset: r.offset,
                kind: r.kind,
                target,
                addend: r.addend,
            });
        }
        Ok(CompiledCode {
            code: self.code,
            relocs,
            traps: self.traps,
            call_sites: self.call_sites,
            exception_sites: self.exception_sites,
            srclocs: self
                .srclocs
                .into_iter()
                .map(|s| SrcLocRange {
                    start: s.start,
                    end: s.end,
                    loc: s.loc.expand(base),
                })
                .collect(),
            testcase_names: self.testcase_names,
            alignment: self.alignment,
            frame_size: self.frame_size,
            unwind: self.unwind,
            data_ranges: self.data_ranges,
        })
    }
}

/// Resolves one stencil relocation target through `params` (and the
/// code's test-case names): what [`CompiledCode::apply_params`] does to each
/// relocation, shared with the cache's decoder
/// ([`crate::serialize::deserialize_final`]).
#[inline]
pub fn resolve_target(
    target: RelocTarget,
    params: &FunctionParameters,
    testcase_names: &[TestcaseName],
) -> Result<FinalName, ApplyParamsError> {
    Ok(match target {
        RelocTarget::User(name_ref) => FinalName::User(
            params
                .user_func_name(name_ref)
                .ok_or(ApplyParamsError::MissingName(name_ref))?,
        ),
        RelocTarget::LibCall(l) => FinalName::LibCall(l),
        RelocTarget::KnownSymbol(k) => FinalName::KnownSymbol(k),
        RelocTarget::TestCase(i) => FinalName::TestCase(
            testcase_names
                .get(i as usize)
                .cloned()
                .ok_or(ApplyParamsError::MissingTestCase(i))?,
        ),
    })
}

/// Stencil code and parameters that do not belong together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyParamsError {
    MissingName(UserExternalNameRef),
    MissingTestCase(u32),
}

impl std::fmt::Display for ApplyParamsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyParamsError::MissingName(r) => {
                write!(f, "relocation names {r}, which the name table lacks")
            }
            ApplyParamsError::MissingTestCase(i) => {
                write!(f, "relocation names test-case name #{i}, which is missing")
            }
        }
    }
}

impl std::error::Error for ApplyParamsError {}
