//! The `kiln` binary's commands: the grammar (`args`), `kiln run`,
//! `kiln compile`, `kiln bench`, `kiln fuzz`/`reduce`, `kiln test
//! --format json`, progress and broken-pipe handling.

pub mod args;
pub mod bench;
pub mod common;
pub mod compile;
pub mod disas;
pub mod fuzz;
pub mod json;
pub mod pipe;
pub mod progress;
pub mod run;
