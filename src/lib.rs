//! Kiln: a code generator for Cranelift IR (CLIF) that never compiles the same
//! function twice.
//!
//! This facade re-exports the layers a compiler author embeds — [`ir`]
//! (types, `Function`), [`frontend`] (`FunctionBuilder`, variables, SSA,
//! `Switch`), [`codegen`] (targets, `compile_function`), [`cache`]
//! (compiled code keyed by the function's stencil), [`module`] (the
//! `Module` trait and the JIT) and [`object`] (ELF object files) — plus a
//! [`prelude`], and the `kiln` binary is the CLI. It owns no compilation
//! logic of its own and must never grow any: everything here forwards to
//! the layers.
//!
//! # The embedding path
//!
//! Declare functions in a module, build their bodies with a
//! `FunctionBuilder`, compile them (through a cache, so a function compiled
//! once is never lowered again), define them, finalize, call:
//!
//! ```
//! use kiln::prelude::*;
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # if !cfg!(target_arch = "x86_64") { return Ok(()); }
//! let isa = kiln::host_isa()?;
//! let mut module = JitModule::new();
//! let mut sig = Signature::new(CallConv::SystemV);
//! sig.params.push(AbiParam::new(Type::I64));
//! sig.returns.push(AbiParam::new(Type::I64));
//! let square = module.declare_function("square", Linkage::Export, &sig)?;
//!
//! // square(x) = x * x
//! let mut func = Function::with_name_signature(UserFuncName::user(0, square.as_u32()), sig.clone());
//! let mut ctx = FunctionBuilderContext::new();
//! let mut b = FunctionBuilder::new(&mut func, &mut ctx);
//! let entry = b.create_block();
//! b.append_block_params_for_function_params(entry)?;
//! b.switch_to_block(entry)?;
//! b.seal_block(entry)?;
//! let x = b.block_params(entry)[0];
//! let y = b.ins().imul(x, x)?;
//! b.ins().return_(&[y])?;
//! b.finalize()?;
//!
//! let cache = CompileCache::new(Arc::new(MemoryStore::new()));
//! kiln::compile_and_define(&mut module, square, &func, &*isa, Some(&cache))?;
//! module.finalize()?;
//! let code = module.get_finalized_function(square).expect("finalized");
//! // SAFETY: `square` was compiled from a system_v (i64) -> i64 function
//! // and `module` (its memory) outlives the call.
//! let square: extern "sysv64" fn(i64) -> i64 = unsafe { std::mem::transmute(code) };
//! assert_eq!(square(7), 49);
//! # Ok(())
//! # }
//! ```
//!
//! An `ObjectModule` takes the same declarations and definitions and
//! writes a relocatable ELF file instead (see `examples/aot.rs`), and
//! `examples/toy_jit.rs` is a small language compiled this way.

#![warn(missing_docs)]

pub use kiln_cache as cache;
pub use kiln_codegen as codegen;
pub use kiln_filetests as filetests;
pub use kiln_frontend as frontend;
pub use kiln_ir as ir;
pub use kiln_module as module;
pub use kiln_object as object;
pub use kiln_reader as reader;

use kiln_cache::CompileCache;
use kiln_codegen::isa::{compile_function, lookup, TargetIsa};
use kiln_codegen::result::{CodegenError, CodegenResult};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_ir::Function;
use kiln_module::{FuncId, Module, ModuleError};

/// What most embedders need, in one `use kiln::prelude::*`.
pub mod prelude {
    pub use crate::cache::{CompileCache, MemoryStore};
    pub use crate::codegen::isa::TargetIsa;
    pub use crate::codegen::settings::{Arch, Flags, IsaFlags};
    pub use crate::frontend::{FunctionBuilder, FunctionBuilderContext, Switch, Variable};
    pub use crate::ir::{
        AbiParam, Block, CallConv, FloatCC, Function, IntCC, MemFlags, Signature, TrapCode, Type,
        UserFuncName, Value,
    };
    pub use crate::module::{
        DataDescription, DataId, FuncId, JitModule, Linkage, Module, ModuleError,
    };
    pub use crate::object::ObjectModule;
}

/// A target for the machine running this process, with every instruction
/// set extension it has and default settings; `Unsupported` on hosts Kiln
/// has no backend for.
pub fn host_isa() -> CodegenResult<Box<dyn TargetIsa>> {
    let arch = Arch::host().ok_or_else(|| CodegenError::Unsupported {
        what: "this host architecture".into(),
    })?;
    lookup(
        Flags::default(),
        IsaFlags::host().unwrap_or_else(|| IsaFlags::baseline(arch)),
    )
}

/// Compiles `func` for `isa` — through `cache` when given (a hit lowers
/// nothing), else afresh — and defines it as `id` in `module`.
pub fn compile_and_define<M: Module + ?Sized>(
    module: &mut M,
    id: FuncId,
    func: &Function,
    isa: &dyn TargetIsa,
    cache: Option<&CompileCache>,
) -> Result<(), ModuleError> {
    let code = match cache {
        Some(c) => c.compile(isa, func).map(|(code, _)| code),
        None => compile_function(isa, func),
    }
    .map_err(ModuleError::Compile)?;
    module.define_function(id, &func.stencil.signature, code)
}

/// The README's code, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Command implementations the `kiln` binary dispatches to. Declared
/// inline (no `src/cli/mod.rs`) so that the binary can keep its own
/// `src/cli/` modules beside these.
#[allow(missing_docs)]
pub mod cli {
    pub mod bench_cache;
    pub mod cache;
}
