//! Kiln's intermediate representation: CLIF.
//!
//! Owns: every CLIF type and opcode (each defined once, as data), the
//! function data structures (`Function = name + FunctionStencil +
//! FunctionParameters`), the printer, the verifier and the stencil key.
//!
//! Must never: depend on a target, do I/O, or panic on a function built by a
//! user (the verifier reports errors instead). Everything that can change
//! machine code lives in the stencil; names and absolute source locations
//! live only in the parameters.

pub mod entities;
pub mod entity;
pub mod extname;
pub mod srcloc;
pub mod trapcode;

pub use entities::*;
pub use entity::{EntityRef, PackedOption, PrimaryMap, SecondaryMap};
pub use extname::{TestcaseName, UserExternalName, UserFuncName};
pub use srcloc::{RelSourceLoc, SourceLoc};
pub use trapcode::TrapCode;
