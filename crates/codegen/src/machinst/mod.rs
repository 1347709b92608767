//! Target-independent machine-code infrastructure.

pub mod abi;
pub mod blockorder;
pub mod buffer;
pub mod call;
pub mod compile;
pub mod inst;
pub mod isle;
pub mod lower;
pub mod reg;
pub mod regalloc;
pub mod vcode;

#[cfg(test)]
mod tests;
