//! Kiln's module layer: many compiled functions placed in memory (the JIT)
//! or in an object file, with their relocations resolved.
//!
//! Owns: executable memory (mapped writable, filled, then flipped to
//! read+execute — never writable and executable at once), relocation
//! patching, and runtime support functions that generated code may call.
//!
//! Must never: compile anything (it consumes finished code), or leave a
//! mapping both writable and executable.

pub mod memory;

pub use memory::{ExecutableMemory, MemoryError};
