//! Command implementations that the `kiln` binary dispatches to.

pub mod cache;
