//! Kiln's machine-code core.
//!
//! Owns: lowering a `FunctionStencil` to machine instructions (through the
//! rules in `isle-rules/`), register allocation with regalloc2, emission into
//! a `MachBuffer`, the ABIs, and `CompiledCode<Stencil>` /
//! `CompiledCode<Final>`.
//!
//! Must never: see a `Function` (only its stencil: names and absolute source
//! locations are out of reach by construction), or panic on an unsupported
//! opcode or type (that is a `CodegenError` naming it).

pub mod compiled;
pub mod isa;
pub mod machinst;
pub mod nan_canon;
pub mod opt;
pub mod result;
pub mod serialize;
pub mod settings;
pub mod unwind;
