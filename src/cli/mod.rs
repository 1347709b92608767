//! The `kiln run`, `kiln compile` and `kiln bench` commands.

pub mod bench;
pub mod common;
pub mod compile;
pub mod disas;
pub mod fuzz;
pub mod run;
