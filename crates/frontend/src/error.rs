//! Errors reported by the builder instead of panicking.

use crate::Variable;
use kiln_ir::{Block, Inst, InstructionFormat, Opcode, Type, Value};
use std::fmt;

/// A misuse of the builder API. The function being built is left in a
/// consistent (if incomplete) state: no instruction is added by a call that
/// returns an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// An instruction or variable access without a current block.
    NoCurrentBlock,
    /// An instruction appended after the block's terminator.
    BlockFilled(Block),
    /// Switching away from, or finalizing with, a started block that has no
    /// terminator.
    BlockNotFilled(Block),
    /// `finalize` found a block that was never sealed.
    BlockNotSealed(Block),
    /// A branch to a block that is already sealed (all its predecessors were
    /// declared known).
    BranchToSealedBlock {
        /// The branching block.
        from: Block,
        /// The sealed destination.
        to: Block,
    },
    /// A block parameter added to a block that already has instructions.
    BlockParamAfterInsts(Block),
    /// A block, signature, function reference, stack slot or global value
    /// that does not exist in this function.
    InvalidEntity(String),
    /// A value that does not exist in this function.
    InvalidValue(Value),
    /// An opcode passed to a method of another instruction format.
    WrongFormat {
        /// The opcode.
        opcode: Opcode,
        /// The format of the method called.
        expected: InstructionFormat,
    },
    /// A polymorphic opcode without a type operand and no explicit type.
    MissingControllingType(Opcode),
    /// A controlling type outside the opcode's type set.
    BadControllingType {
        /// The opcode.
        opcode: Opcode,
        /// The type given.
        ty: Type,
    },
    /// An operand whose type violates the opcode's constraint.
    OperandType {
        /// The opcode.
        opcode: Opcode,
        /// The operand's position.
        index: usize,
        /// The operand's type.
        found: Type,
    },
    /// Wrong number of call arguments or returned values.
    ArgumentCount {
        /// The call or return.
        opcode: Opcode,
        /// How many the signature has.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// An instruction method that must return a value used on an opcode
    /// without results.
    NoResult(Opcode),
    /// A variable that was not declared with `declare_var`.
    UndeclaredVariable(Variable),
    /// `def_var` with a value of another type than the variable's.
    VariableType {
        /// The variable.
        var: Variable,
        /// Its declared type.
        expected: Type,
        /// The value's type.
        found: Type,
    },
    /// A type that cannot be used here (e.g. a zero of an unknown type).
    UnsupportedType(Type),
    /// At `finalize`: a branch passes arguments that do not match its
    /// destination's parameters in number or type.
    BranchArgs {
        /// The branch.
        inst: Inst,
        /// The destination.
        block: Block,
    },
    /// A `Switch` case given twice, or that does not fit the type of the
    /// value switched on.
    SwitchCase {
        /// The case.
        index: u128,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::SwitchCase { index, reason } => write!(f, "switch case {index}: {reason}"),
            BuildError::NoCurrentBlock => write!(f, "no current block: call switch_to_block first"),
            BuildError::BlockFilled(b) => write!(f, "{b} already ends in a terminator"),
            BuildError::BlockNotFilled(b) => write!(f, "{b} was started but has no terminator"),
            BuildError::BlockNotSealed(b) => write!(f, "{b} was never sealed"),
            BuildError::BranchToSealedBlock { from, to } => {
                write!(f, "branch from {from} to {to}, which is already sealed")
            }
            BuildError::BlockParamAfterInsts(b) => {
                write!(f, "{b} already has instructions; add parameters first")
            }
            BuildError::InvalidEntity(e) => write!(f, "{e} does not exist in this function"),
            BuildError::InvalidValue(v) => write!(f, "{v} does not exist in this function"),
            BuildError::WrongFormat { opcode, expected } => {
                write!(
                    f,
                    "{opcode} has format {:?}, not {expected:?}",
                    opcode.format()
                )
            }
            BuildError::MissingControllingType(op) => {
                write!(f, "{op} needs an explicit controlling type")
            }
            BuildError::BadControllingType { opcode, ty } => {
                write!(f, "{opcode} cannot have controlling type {ty}")
            }
            BuildError::OperandType {
                opcode,
                index,
                found,
            } => write!(f, "{opcode}: operand {index} has unsuitable type {found}"),
            BuildError::ArgumentCount {
                opcode,
                expected,
                found,
            } => write!(f, "{opcode}: expected {expected} arguments, found {found}"),
            BuildError::NoResult(op) => write!(f, "{op} has no result"),
            BuildError::UndeclaredVariable(v) => write!(f, "{v} was not declared"),
            BuildError::VariableType {
                var,
                expected,
                found,
            } => write!(f, "{var} has type {expected}, defined with a {found}"),
            BuildError::UnsupportedType(t) => write!(f, "type {t} is not supported here"),
            BuildError::BranchArgs { inst, block } => {
                write!(
                    f,
                    "{inst}: arguments do not match the parameters of {block}"
                )
            }
        }
    }
}

impl std::error::Error for BuildError {}
