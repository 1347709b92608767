//! The x86-64 backend: registers, operands, instructions and their encoder.

pub mod args;
pub mod emit;
pub mod inst;
pub mod regs;

pub use args::*;
pub use emit::X64LabelUse;
pub use inst::*;
