//! Kiln: a code generator for Cranelift IR (CLIF) that never compiles the same
//! function twice.
//!
//! This facade re-exports the layers; the `kiln` binary is the CLI.

pub use kiln_cache as cache;
pub use kiln_codegen as codegen;
pub use kiln_filetests as filetests;
pub use kiln_ir as ir;
pub use kiln_module as module;
pub use kiln_object as object;
pub use kiln_reader as reader;

/// Command implementations the `kiln` binary dispatches to. Declared
/// inline (no `src/cli/mod.rs`) so that the binary can keep its own
/// `src/cli/` modules beside these.
pub mod cli {
    pub mod bench_cache;
    pub mod cache;
}
