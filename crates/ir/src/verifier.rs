//! The IR verifier. PLACEHOLDER until the verifier lands: accepts everything.
//! The real verifier replaces this module with the same entry point.

use crate::function::Function;
use std::fmt;

/// One verifier finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierError {
    /// The entity the error is about, printed (`inst3`, `block2`, `v7`).
    pub location: String,
    /// The offending instruction, printed, if any.
    pub context: Option<String>,
    pub message: String,
}

/// Every finding of one verification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifierErrors(pub Vec<VerifierError>);

impl fmt::Display for VerifierErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            write!(f, "{}", e.location)?;
            if let Some(c) = &e.context {
                write!(f, ": {c}")?;
            }
            writeln!(f, ": {}", e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifierErrors {}

/// Verifies a function; reports every error found.
pub fn verify_function(_func: &Function) -> Result<(), VerifierErrors> {
    Ok(())
}
