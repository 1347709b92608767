//! Target ISAs and the compile entry points.

pub mod aarch64;
pub mod builder;
pub mod x64;

pub use builder::{HeaderError, IsaBuilder, Unknown};

use crate::compiled::{CompiledCode, Final, Stencil};
pub use crate::machinst::compile::Context;
use crate::result::{CodegenError, CodegenResult};
use crate::settings::{Arch, Flags, IsaFlags};
use kiln_ir::{Function, FunctionStencil, Type};
use std::borrow::Cow;

/// A configured target: everything needed to compile stencils for it.
///
/// Backends take `&FunctionStencil`, never `&Function`: names and absolute
/// source locations are out of their reach by construction.
pub trait TargetIsa: Send + Sync {
    fn arch(&self) -> Arch;
    fn flags(&self) -> &Flags;
    fn isa_flags(&self) -> &IsaFlags;

    /// The target triple (part of the stencil key).
    fn triple(&self) -> &'static str {
        self.arch().triple()
    }

    /// The type of pointers.
    fn pointer_type(&self) -> Type {
        Type::I64
    }

    /// Canonical bytes of every setting that can change machine code; part
    /// of the stencil key. Computed on every cache lookup, so a backend
    /// should compute them once and lend them (`Cow::Borrowed`).
    fn key_flags(&self) -> Cow<'_, [u8]> {
        Cow::Owned(key_flag_bytes(self.flags(), self.isa_flags()))
    }

    /// Compiles a stencil to machine code.
    fn compile_stencil(&self, stencil: &FunctionStencil) -> CodegenResult<CompiledCode<Stencil>>;

    /// Compiles a stencil reusing the buffers of `cx` (keep one context per
    /// thread and pass it to every call). A target without reusable buffers
    /// compiles as [`TargetIsa::compile_stencil`] does.
    fn compile_stencil_with(
        &self,
        stencil: &FunctionStencil,
        cx: &mut Context,
    ) -> CodegenResult<CompiledCode<Stencil>> {
        let _ = cx;
        self.compile_stencil(stencil)
    }
}

/// The canonical settings bytes of `flags` and `isa_flags`, as
/// [`TargetIsa::key_flags`] returns them.
pub fn key_flag_bytes(flags: &Flags, isa_flags: &IsaFlags) -> Vec<u8> {
    let mut v = flags.key_bytes();
    v.extend(isa_flags.key_bytes());
    v
}

/// Looks up a backend for `arch` with the given settings.
pub fn lookup(flags: Flags, isa_flags: IsaFlags) -> CodegenResult<Box<dyn TargetIsa>> {
    // A setting is honoured or rejected, never accepted and ignored
    // (docs/settings.md): a valid value Kiln does not implement is
    // `Unsupported`, naming the setting and why.
    if let Some((setting, why)) = crate::settings::unimplemented_settings(&flags)
        .into_iter()
        .next()
    {
        return Err(CodegenError::Unsupported {
            what: format!("setting {setting} (not implemented: {why})"),
        });
    }
    match isa_flags.arch() {
        Arch::X86_64 => x64::isa_builder(flags, isa_flags),
        Arch::Aarch64 => aarch64::isa_builder(flags, isa_flags),
    }
}

/// Verifies (when `enable_verifier` is set), compiles the stencil and
/// applies the function's parameters: the uncached path from a `Function`
/// to final code.
pub fn compile_function(
    isa: &dyn TargetIsa,
    func: &Function,
) -> CodegenResult<CompiledCode<Final>> {
    if isa.flags().enable_verifier {
        kiln_ir::verifier::verify_function(func)
            .map_err(|e| CodegenError::Verifier(e.to_string()))?;
    }
    let stencil = isa.compile_stencil(&func.stencil)?;
    stencil
        .apply_params(&func.params)
        .map_err(|e| CodegenError::Emit(e.to_string()))
}
