//! The stencil key, behind one module so that the compile layer does not
//! care where it comes from: `kiln_ir::key` (canonical encoding of the
//! stencil, numbering-insensitive, SHA-256; see `docs/cache.md`, "The
//! stencil key").

pub use kiln_ir::key::{stencil_key, KeyTarget, StencilKey, StencilKeyer};
