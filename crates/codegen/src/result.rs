//! The error type of code generation.

use std::fmt;

/// Why a function could not be compiled.
///
/// Every failure that user input can cause is one of these variants; the
/// code generator never panics on a function that passed the verifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodegenError {
    /// An opcode, type or feature has no lowering on this target; `what`
    /// names it (for example `"opcode iadd.i128"`).
    Unsupported { what: String },
    /// Register allocation failed, or its checker rejected the result. The
    /// text carries regalloc2's diagnosis.
    Regalloc(String),
    /// The VCode handed to register allocation breaks one of its structural
    /// rules (a lowering bug, not a user error); the text says which.
    InvalidVCode(String),
    /// The function's code or frame exceeds what the target can address.
    CodeTooLarge,
    /// The function failed verification; the text lists every error.
    Verifier(String),
    /// Machine-code emission failed (e.g. a branch out of range).
    Emit(String),
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodegenError::Unsupported { what } => write!(f, "unsupported: {what}"),
            CodegenError::Regalloc(msg) => write!(f, "register allocation failed: {msg}"),
            CodegenError::InvalidVCode(msg) => write!(f, "invalid VCode: {msg}"),
            CodegenError::CodeTooLarge => write!(f, "code too large"),
            CodegenError::Verifier(msg) => write!(f, "verifier errors:\n{msg}"),
            CodegenError::Emit(msg) => write!(f, "emission failed: {msg}"),
        }
    }
}

impl std::error::Error for CodegenError {}

/// The result type of code generation.
pub type CodegenResult<T> = Result<T, CodegenError>;
