//! The mid-end hook: what `opt_level` does before lowering.
//!
//! Called once at the start of a backend's `compile_stencil`, after the
//! cache key was taken (the key covers the input stencil and the flags,
//! `opt_level` and `enable_alias_analysis` included, so an optimized
//! stencil never needs a key of its own).

use crate::result::CodegenResult;
use crate::settings::{Flags, OptLevel};
use kiln_ir::FunctionStencil;

/// The mid-end options the flags ask for; `None` at `opt_level=none`.
pub fn midend_options(flags: &Flags) -> Option<kiln_midend::OptOptions> {
    match flags.opt_level {
        OptLevel::None => None,
        OptLevel::Speed | OptLevel::SpeedAndSize => Some(kiln_midend::OptOptions {
            alias_analysis: flags.enable_alias_analysis,
            unroll: flags.opt_level == OptLevel::Speed,
            ..kiln_midend::OptOptions::default()
        }),
    }
}

/// The stencil a backend lowers: `f` rewritten by the target-neutral
/// passes the flags ask for (NaN canonicalization, then the mid-end), or
/// `None` when none applies.
pub fn prepare(flags: &Flags, f: &FunctionStencil) -> CodegenResult<Option<FunctionStencil>> {
    let mut dst = FunctionStencil::default();
    Ok(prepare_into(flags, f, &mut dst)?.then_some(dst))
}

/// [`prepare`] into `dst`, reusing its storage (the shared pipeline keeps
/// one per thread context and calls this once per compile, after the cache
/// key was taken from `f`): `true` when `dst` now holds the stencil to
/// lower, `false` to compile `f` as it is (`dst` then holds nothing of
/// use).
pub fn prepare_into(
    flags: &Flags,
    f: &FunctionStencil,
    dst: &mut FunctionStencil,
) -> CodegenResult<bool> {
    let opts = midend_options(flags);
    if !flags.enable_nan_canonicalization {
        let Some(opts) = opts else {
            return Ok(false);
        };
        kiln_midend::optimize_into(f, &opts, dst);
        return Ok(true);
    }
    f.copy_into_with_headroom(dst);
    crate::nan_canon::canonicalize_nans(dst)?;
    if let Some(opts) = opts {
        kiln_midend::optimize(dst, &opts);
    }
    Ok(true)
}
