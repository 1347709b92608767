//! Kiln's module layer: many compiled functions placed in memory (the JIT)
//! or in an object file, with their relocations resolved.
//!
//! Owns: executable memory (mapped writable, filled, then flipped to
//! read+execute — never writable and executable at once), relocation
//! patching ([`JitModule`]), runtime support functions that generated code
//! may call ([`libcalls`]), calling compiled code of any signature through
//! per-signature trampolines ([`trampoline`], [`JitProgram`]), and turning
//! traps in generated code into errors ([`traps`]).
//!
//! Must never: compile anything except the trampolines it needs (it
//! consumes finished code), or leave a mapping both writable and executable.

pub mod jit;
pub mod libcalls;
pub mod memory;
pub mod program;
pub mod trampoline;
pub mod traps;

pub use jit::{FuncId, JitCallError, JitModule, LinkError, Outside, TrapInfo, Unresolved};
pub use memory::{ExecutableMemory, MemoryError};
pub use program::{Entry, JitProgram, JitProgramBuilder, ProgramCallError, ProgramError};
