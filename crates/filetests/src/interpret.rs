//! `test interpret`: evaluates a file's `; run:` directives with Kiln's
//! reference interpreter (`kiln-interpreter`).
//!
//! All functions of the file form one interpreter, so a directive may call
//! any of them and they may call each other by name. A directive the
//! interpreter cannot evaluate (`InterpError::Unsupported`: an opcode or
//! type it does not implement) makes the file SKIP with that reason, never
//! PASS; every other error (a trap, running out of fuel, a malformed
//! function) is a FAIL of that directive. A file without any `; run:`
//! directive checks nothing: SKIP with that reason.

use crate::divergences::KilnResult;
use crate::{check_file_run_directives, Outcome, SubTest};
use kiln_interpreter::{InterpError, Interpreter};
use kiln_ir::DataValue;
use kiln_reader::{RunCommand, TestCommand, TestFile};

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
        let checks = file
            .functions
            .iter()
            .any(|f| !f.run_directives.is_empty() || !f.directive_errors.is_empty());
        if !checks {
            return Outcome::Skip("no `; run:` directive: nothing to check".into());
        }
        let mut interp = Interpreter::new(file.functions.iter().map(|f| &f.func));
        let mut reasons: Vec<String> = Vec::new();
        // Divergent lines (`divergences.rs`) are taken out and checked
        // against Kiln's own documented result; the rest as written.
        let mut checked = file.clone();
        let mut divergent = Vec::new();
        for f in &mut checked.functions {
            let own_name = match &f.func.name {
                kiln_ir::UserFuncName::Testcase(t) => t.as_str().to_string(),
                other => other.to_string(),
            };
            f.run_directives.retain(|d| {
                match crate::divergences::lookup("interpret", &file.path, d.line) {
                    Some(div) => {
                        divergent.push((own_name.clone(), d.clone(), div));
                        false
                    }
                    None => true,
                }
            });
        }
        let mut exec = |name: &str, args: &[DataValue]| match interp.call_by_name(name, args) {
            Ok(results) => Ok(results),
            Err(InterpError::Unsupported(what)) => {
                let what = format!("interpreter does not support {what}");
                let msg = format!("{UNSUPPORTED}{what}");
                if !reasons.contains(&what) {
                    reasons.push(what);
                }
                Err(msg)
            }
            Err(e) => Err(e.to_string()),
        };
        let mut failures: Vec<String> = check_file_run_directives(&checked, &mut exec)
            .into_iter()
            .filter(|f| !f.message.contains(UNSUPPORTED))
            .map(|f| f.message)
            .collect();
        let mut diverged_lines = Vec::new();
        for (name, d, div) in &divergent {
            let args = match &d.command {
                RunCommand::Run { args, .. }
                | RunCommand::RunTruthy { args, .. }
                | RunCommand::Print { args, .. } => args,
            };
            let got = match exec(name, args) {
                Ok(vs) => KilnOutput::Values(crate::show_values(&vs)),
                Err(e) => KilnOutput::Error(e),
            };
            let matches = match (&got, div.kiln) {
                (KilnOutput::Values(v), KilnResult::Values(want)) => v == want,
                (KilnOutput::Error(e), KilnResult::Trap(code)) => e == &format!("trap: {code}"),
                _ => false,
            };
            if matches {
                diverged_lines.push(d.line);
            } else {
                failures.push(format!(
                    "{}:{}: {}: known divergence: Kiln's documented result is {}, got {}",
                    file.path, d.line, d.text, div.kiln, got
                ));
            }
        }
        if !failures.is_empty() {
            Outcome::Fail(failures)
        } else if !reasons.is_empty() {
            Outcome::Skip(reasons.join("; "))
        } else if !diverged_lines.is_empty() {
            let lines: Vec<String> = diverged_lines.iter().map(|l| l.to_string()).collect();
            let why: Vec<&str> = divergent.iter().map(|(_, _, d)| d.reason).collect();
            Outcome::Skip(format!(
                "known divergence on line(s) {} (Kiln's own results asserted there, every \
                 other line checked): {}",
                lines.join(", "),
                why.join("; ")
            ))
        } else {
            Outcome::Pass
        }
    }
}

/// What the interpreter gave on a divergent line.
enum KilnOutput {
    Values(String),
    Error(String),
}

impl std::fmt::Display for KilnOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KilnOutput::Values(v) => f.write_str(v),
            KilnOutput::Error(e) => f.write_str(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Outcome {
        let file = kiln_reader::parse_test(text, "t.clif").unwrap();
        InterpretTest.run(&file, &file.commands[0])
    }

    const DIV: &str = "test interpret
function %div(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = sdiv v0, v1
    return v2
}
";

    #[test]
    fn passes_fails_and_traps() {
        assert_eq!(
            run(&format!("{DIV}; run: %div(7, -2) == -3\n")),
            Outcome::Pass
        );
        match run(&format!("{DIV}; run: %div(7, 2) == 4\n")) {
            Outcome::Fail(m) => assert!(m[0].contains("expected 4, got 3"), "{m:?}"),
            other => panic!("{other:?}"),
        }
        match run(&format!("{DIV}; run: %div(-2147483648, -1) == 0\n")) {
            Outcome::Fail(m) => assert!(m[0].ends_with("trap: int_ovf"), "{m:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsupported_is_a_skip_with_its_reason() {
        let text = "test interpret
function %f(f128, f128) -> f128 {
block0(v0: f128, v1: f128):
    v2 = fadd v0, v1
    return v2
}
; run: %f(0x1.0, 0x1.0) == 0x1.0p1
";
        assert_eq!(
            run(text),
            Outcome::Skip("interpreter does not support fadd on f128".into())
        );
        // A real failure elsewhere in the file still fails it.
        let text = format!("{text}{}", &DIV["test interpret\n".len()..]);
        let text = format!("{text}; run: %div(1, 1) == 2\n");
        assert!(matches!(run(&text), Outcome::Fail(_)));
    }
}
