//! Kiln's intermediate representation: CLIF.
//!
//! Owns: every CLIF type and opcode (each defined once, as data, in
//! [`instructions::OPCODES`]), the function data structures (`Function =
//! name + FunctionStencil + FunctionParameters`), the printer, the verifier
//! and the stencil key.
//!
//! Must never: depend on a target, do I/O, or panic on a function built by a
//! user (the verifier reports errors instead). Everything that can change
//! machine code lives in the stencil; names and absolute source locations
//! live only in the parameters.

pub mod condcodes;
pub mod dfg;
pub mod dominator_tree;
pub mod entities;
pub mod entity;
pub mod extfunc;
pub mod extname;
pub mod flowgraph;
pub mod function;
pub mod globalvalue;
pub mod immediates;
pub mod instructions;
pub mod key;
pub mod layout;
pub mod memflags;
pub mod signature;
pub mod srcloc;
pub mod stackslot;
pub mod trapcode;
pub mod types;
pub mod write;

pub use condcodes::{FloatCC, IntCC};
pub use dfg::{BlockData, DataFlowGraph, ValueData, ValueDef};
pub use entities::*;
pub use entity::{EntityRef, PackedOption, PrimaryMap, SecondaryMap};
pub use extname::{TestcaseName, UserExternalName, UserFuncName};
pub use function::*;
pub use immediates::*;
pub use instructions::*;
pub use layout::Layout;
pub use memflags::{Endianness, MemFlags};
pub use srcloc::{RelSourceLoc, SourceLoc};
pub use trapcode::TrapCode;
pub use types::{Type, TypeSet};
pub mod data_value;
#[cfg(test)]
pub(crate) mod test_util;
pub mod verifier;
pub use data_value::DataValue;
pub use write::{write_function, DisplayExternalName};
