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
//!
//! ```
//! use kiln_frontend::{FunctionBuilder, FunctionBuilderContext};
//! use kiln_ir::{AbiParam, CallConv, Function, IntCC, Opcode, Signature, Type, UserFuncName};
//!
//! # fn main() -> Result<(), kiln_frontend::BuildError> {
//! // sum(n) = 0 + 1 + ... + (n - 1)
//! let mut sig = Signature::new(CallConv::SystemV);
//! sig.params.push(AbiParam::new(Type::I32));
//! sig.returns.push(AbiParam::new(Type::I32));
//! let mut func = Function::with_name_signature(UserFuncName::testcase("sum"), sig);
//! let mut ctx = FunctionBuilderContext::new();
//! let mut b = FunctionBuilder::new(&mut func, &mut ctx);
//! let (entry, header, body, exit) =
//!     (b.create_block(), b.create_block(), b.create_block(), b.create_block());
//! b.append_block_params_for_function_params(entry)?;
//! let (i, acc) = (b.declare_var(Type::I32)?, b.declare_var(Type::I32)?);
//!
//! b.switch_to_block(entry)?;
//! b.seal_block(entry)?;
//! let zero = b.ins().iconst(Type::I32, 0)?;
//! b.def_var(i, zero)?;
//! b.def_var(acc, zero)?;
//! b.ins().jump(header, &[])?;
//!
//! b.switch_to_block(header)?; // sealed once the back edge exists
//! let n = b.block_params(entry)[0];
//! let iv = b.use_var(i)?;
//! let more = b.ins().icmp(IntCC::SignedLessThan, iv, n)?;
//! b.ins().brif(more, body, &[], exit, &[])?;
//!
//! b.switch_to_block(body)?;
//! b.seal_block(body)?;
//! let (iv, a) = (b.use_var(i)?, b.use_var(acc)?);
//! let a = b.ins().binary(Opcode::Iadd, a, iv)?;
//! b.def_var(acc, a)?;
//! let iv = b.ins().iadd_imm(iv, 1)?;
//! b.def_var(i, iv)?;
//! b.ins().jump(header, &[])?;
//! b.seal_block(header)?;
//!
//! b.switch_to_block(exit)?;
//! b.seal_block(exit)?;
//! let a = b.use_var(acc)?;
//! b.ins().return_(&[a])?;
//! b.finalize()?;
//!
//! // `i` and `acc` change around the loop: two header parameters.
//! assert_eq!(func.stencil.dfg.block_params(header).len(), 2);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod error;
mod frontend;
mod inst_builder;
mod ssa;
mod switch;

pub use error::BuildError;
pub use frontend::{FunctionBuilder, FunctionBuilderContext};
pub use inst_builder::InstBuilder;
pub use switch::Switch;

kiln_ir::entity!(
    /// A variable of the source language, turned into SSA values by the builder.
    Variable, "var");
