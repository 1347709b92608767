//! The stencil key, behind one function so that the compile layer does not
//! care where it comes from.
//!
//! The canonical, numbering-insensitive key is `kiln_ir::key::stencil_key`
//! (branch `verifier`). Until it is on main this shim computes a key with
//! the same signature and the same inputs: SHA-256 over a domain tag, the
//! target triple, the target flags and the stencil's `Debug` text. That
//! text is deterministic (the stencil holds no hash maps and no pointers)
//! and covers every field of the stencil, and nothing of the function's
//! name or `FunctionParameters`, so contract 4 of `DESIGN.md` holds; it is
//! slow and sensitive to value numbering, which the real key is not.

use kiln_ir::FunctionStencil;
use sha2::{Digest, Sha256};

/// The target a function is compiled for, as far as the key is concerned
/// (same shape as `kiln_ir::key::KeyTarget`).
#[derive(Clone, Copy, Debug)]
pub struct KeyTarget<'a> {
    /// The target triple.
    pub triple: &'a str,
    /// Canonical bytes of every setting that can change machine code.
    pub flags: &'a [u8],
}

/// A 32-byte stencil key (same shape as `kiln_ir::key::StencilKey`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StencilKey(pub [u8; 32]);

/// The key of `stencil` compiled for `target`.
pub fn stencil_key(stencil: &FunctionStencil, target: &KeyTarget) -> StencilKey {
    let mut h = Sha256::new();
    h.update(b"kiln stencil key shim 1\0");
    h.update((target.triple.len() as u64).to_le_bytes());
    h.update(target.triple.as_bytes());
    h.update((target.flags.len() as u64).to_le_bytes());
    h.update(target.flags);
    h.update(format!("{stencil:?}").as_bytes());
    StencilKey(h.finalize().into())
}

/// Reusable key state (same shape as `kiln_ir::key::StencilKeyer`, whose
/// tables survive between calls; the shim has none).
#[derive(Default, Clone, Debug)]
pub struct StencilKeyer;

impl StencilKeyer {
    /// A keyer.
    pub fn new() -> Self {
        StencilKeyer
    }

    /// The key of `stencil` compiled for `target`.
    pub fn key(&mut self, stencil: &FunctionStencil, target: &KeyTarget) -> StencilKey {
        stencil_key(stencil, target)
    }
}
