//! Command implementations that the `kiln` binary dispatches to.

pub mod bench_cache;
pub mod cache;
