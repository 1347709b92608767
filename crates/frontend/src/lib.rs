//! Kiln's IR builder.
//!
//! [`FunctionBuilder`] borrows a [`kiln_ir::Function`] and appends blocks and
//! instructions to it. Compiler authors describe local state with
//! [`Variable`]s (`declare_var` / `def_var` / `use_var`); the builder turns
//! them into SSA values and block parameters on the fly, in the style of
//! Braun et al., "Simple and Efficient Construction of Static Single
//! Assignment Form" (CC 2013): a block is *sealed* once all its predecessors
//! are known, lookups in unsealed blocks create provisional parameters, and
//! parameters that turn out to receive a single value are removed again.
//!
//! Instructions are built through [`InstBuilder`] (from
//! [`FunctionBuilder::ins`]), which has one method per instruction *format*
//! and takes the [`kiln_ir::Opcode`]: the opcode table stays the single
//! source of truth for types and results. Misuse is reported as a
//! [`BuildError`], never a panic.

mod error;
mod frontend;
mod inst_builder;
mod ssa;

pub use error::BuildError;
pub use frontend::{FunctionBuilder, FunctionBuilderContext};
pub use inst_builder::InstBuilder;

kiln_ir::entity!(
    /// A variable of the source language, turned into SSA values by the builder.
    Variable, "var");
