//! The mid-end hook: what `opt_level` does before lowering.
//!
//! Called once at the start of a backend's `compile_stencil`, after the
//! cache key was taken (the key covers the input stencil and the flags,
//! `opt_level` and `enable_alias_analysis` included, so an optimized
//! stencil never needs a key of its own).

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

/// The optimized copy of `f` the flags ask for, or `None` to compile `f`
/// as it is.
pub fn optimize(flags: &Flags, f: &FunctionStencil) -> Option<FunctionStencil> {
    let opts = midend_options(flags)?;
    Some(kiln_midend::optimized(f, &opts).0)
}
