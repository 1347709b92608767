//! Unwind information of JIT code: one `.eh_frame` table for a module's
//! functions, registered with the process's unwinder (libgcc's
//! `__register_frame`) when the module is finalized and deregistered when it
//! is freed, so that `_Unwind_Backtrace`, Rust panics, debuggers' own
//! unwinders and profilers walk through Kiln frames; and the frame lookup
//! Kiln's own throw path uses (`crate::throw`).
//!
//! The table is built from each function's target-neutral unwind ops
//! (`CompiledCode::unwind`, computed from its `FrameLayout`) with
//! `kiln_codegen::unwind::{cie, fde}`. A function without ops
//! (`unwind_info=false`, hand-made code) gets no entry.

use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::settings::Arch;
use kiln_codegen::unwind::{cie, fde, CfiTarget, UnwindError};
use std::fmt;

/// A registration failed: the table could not be built.
#[derive(Debug)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unwind table: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

impl From<UnwindError> for FrameError {
    fn from(e: UnwindError) -> Self {
        FrameError(e.to_string())
    }
}

impl From<gimli::write::Error> for FrameError {
    fn from(e: gimli::write::Error) -> Self {
        FrameError(e.to_string())
    }
}

/// Builds the `.eh_frame` bytes (with the zero terminator libgcc expects)
/// for functions placed at absolute addresses.
pub fn eh_frame_for(
    arch: Arch,
    functions: &[(usize, &CompiledCode<Final>)],
) -> Result<Option<Vec<u8>>, FrameError> {
    use gimli::write::{Address, EhFrame, EndianVec, FrameTable};
    let target = CfiTarget::new(arch);
    let mut table = FrameTable::default();
    let cie_id = table.add_cie(cie(target));
    let mut any = false;
    for &(addr, code) in functions {
        if code.unwind.is_empty() {
            continue;
        }
        let len =
            u32::try_from(code.code.len()).map_err(|_| FrameError("function too large".into()))?;
        table.add_fde(
            cie_id,
            fde(target, &code.unwind, Address::Constant(addr as u64), len)?,
        );
        any = true;
    }
    if !any {
        return Ok(None);
    }
    let mut eh = EhFrame(EndianVec::new(gimli::LittleEndian));
    table.write_eh_frame(&mut eh)?;
    let mut bytes = eh.0.into_vec();
    // A zero length ends the table for libgcc's walker.
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    Ok(Some(bytes))
}

extern "C" {
    /// libgcc (linked into every Rust program on Linux): registers an
    /// `.eh_frame` section starting at `begin`, ended by a zero length.
    fn __register_frame(begin: *const u8);
    /// Undoes `__register_frame` for the same `begin`.
    fn __deregister_frame(begin: *const u8);
}

/// An `.eh_frame` table registered with the process unwinder for as long
/// as this value lives (it must be dropped before the code is unmapped:
/// `JitModule` declares it before its memory).
pub struct RegisteredFrames {
    /// Boxed so that the address libgcc keeps stays put.
    bytes: Box<[u8]>,
}

impl RegisteredFrames {
    /// Registers `bytes` (from [`eh_frame_for`]).
    pub fn register(bytes: Vec<u8>) -> Self {
        let bytes = bytes.into_boxed_slice();
        // SAFETY: `bytes` is a well-formed `.eh_frame` table built by gimli
        // and ended by a zero terminator; it lives (unmoved, in its box)
        // until `drop` deregisters it. The code it describes stays mapped
        // for that time (the owner drops this first).
        unsafe { __register_frame(bytes.as_ptr()) };
        RegisteredFrames { bytes }
    }

    /// The registered table.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for RegisteredFrames {
    fn drop(&mut self) {
        // SAFETY: the same pointer was registered in `register` and has not
        // been deregistered since (this runs once).
        unsafe { __deregister_frame(self.bytes.as_ptr()) };
    }
}

// SAFETY: the table is immutable after registration; libgcc's registry is
// internally locked, so registering and deregistering from any thread is
// sound.
unsafe impl Send for RegisteredFrames {}
// SAFETY: no method mutates through `&self`.
unsafe impl Sync for RegisteredFrames {}
