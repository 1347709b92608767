//! `test interpret`: evaluates a file's `; run:` directives with Kiln's
//! reference interpreter (`kiln-interpreter`).
//!
//! All functions of the file form one interpreter, so a directive may call
//! any of them and they may call each other by name. A directive the
//! interpreter cannot evaluate (`InterpError::Unsupported`: an opcode or
//! type it does not implement) makes the file SKIP with that reason, never
//! PASS; every other error (a trap, running out of fuel, a malformed
//! function) is a FAIL of that directive.

use crate::{check_file_run_directives, Outcome, SubTest};
use kiln_interpreter::{InterpError, Interpreter};
use kiln_ir::DataValue;
use kiln_reader::{TestCommand, TestFile};

/// The `test interpret` subtest.
pub struct InterpretTest;

/// Marks the error text of an unsupported directive so its failure can be
/// told apart from real ones.
const UNSUPPORTED: &str = "[interpreter: unsupported] ";

impl SubTest for InterpretTest {
    fn kind(&self) -> &'static str {
        "interpret"
    }

    fn run(&self, file: &TestFile, _command: &TestCommand) -> Outcome {
        let mut interp = Interpreter::new(file.functions.iter().map(|f| &f.func));
        let mut reasons: Vec<String> = Vec::new();
        let mut exec = |name: &str, args: &[DataValue]| match interp.call_by_name(name, args) {
            Ok(results) => Ok(results),
            Err(InterpError::Unsupported(what)) => {
                let msg = format!("{UNSUPPORTED}{what}");
                if !reasons.contains(&what) {
                    reasons.push(what);
                }
                Err(msg)
            }
            Err(e) => Err(e.to_string()),
        };
        let failures: Vec<String> = check_file_run_directives(file, &mut exec)
            .into_iter()
            .filter(|f| !f.message.contains(UNSUPPORTED))
            .map(|f| f.message)
            .collect();
        if !failures.is_empty() {
            Outcome::Fail(failures)
        } else if !reasons.is_empty() {
            Outcome::Skip(format!(
                "interpreter does not support {}",
                reasons.join("; ")
            ))
        } else {
            Outcome::Pass
        }
    }
}
