//! Kiln's module layer: many compiled functions and data objects that refer
//! to each other, declared and defined through the [`Module`] trait, and
//! placed in memory by the JIT ([`JitModule`]) or written to an object file
//! (the `kiln-object` crate implements [`Module`] too).
//!
//! Owns: the declare/define bookkeeping and its errors ([`module`]),
//! executable memory (mapped writable, filled, then flipped to
//! read+execute — never writable and executable at once), relocation
//! patching ([`JitModule`]), runtime support functions that generated code
//! may call ([`libcalls`]), calling compiled code of any signature through
//! per-signature trampolines ([`trampoline`], [`JitProgram`]), turning
//! traps in generated code into errors ([`traps`]), and registering the
//! code's unwind information with the process unwinder ([`unwind`]).
//!
//! Must never: lower anything (it consumes `CompiledCode<Final>`: a cache
//! hit and a fresh compile arrive the same way; only the trampolines it
//! needs are compiled, through the caller's ISA), or leave a mapping both
//! writable and executable.

#![warn(missing_docs)]

pub mod clif;
pub mod jit;
pub mod libcalls;
pub mod memory;
pub mod module;
pub mod program;
pub mod throw;
pub mod trampoline;
pub mod traps;
pub mod unwind;

pub use jit::{JitCallError, JitModule, Outside, SymbolLookup, TrapInfo, Unresolved};
pub use memory::{ExecutableMemory, MemoryError};
pub use module::{
    DataDecl, DataDescription, DataId, Declarations, FuncId, FuncOrDataId, FunctionDecl, Init,
    LinkError, Linkage, Module, ModuleError, Target,
};
pub use program::{Entry, JitProgram, JitProgramBuilder, ProgramCallError, ProgramError};
