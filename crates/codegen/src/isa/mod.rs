//! Target ISAs.

pub mod x64;
