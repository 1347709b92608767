//! Target-independent machine-code infrastructure.

pub mod buffer;
pub mod reg;
