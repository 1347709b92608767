//! The aarch64 backend: registers (`regs`), operand kinds and immediate
//! encoders (`args`), the machine instruction (`inst`) and its encoder
//! (`emit`), checked against an independent decoder in `emit_tests`.

pub mod abi;
pub mod args;
pub mod emit;
pub mod inst;
pub mod regs;

#[cfg(test)]
mod emit_tests;

pub use args::*;
pub use emit::A64LabelUse;
pub use inst::*;
