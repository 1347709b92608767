//! Failures as self-contained `test run` files.

use crate::case::Case;
use crate::check::{opt_name, show, CallResult, Failure, Stop};
use kiln_codegen::settings::OptLevel;
use kiln_codegen::settings::{Arch, IsaFlags};
use kiln_ir::DataValue;
use std::fmt::Write;

fn args_text(args: &[DataValue]) -> String {
    args.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `; run:` line for `entry(args)` expecting `want`. A trap cannot be
/// written as an expectation; then the line asserts the results native
/// code returned instead are wrong (`!=`), or, when native code stopped
/// too, is a `; print:` line; a comment names the interpreter's trap.
pub fn run_line(
    entry: &str,
    args: &[DataValue],
    want: &CallResult,
    native: Option<&CallResult>,
) -> String {
    match (want, native) {
        (Ok(v), _) => format!(
            "; run: {entry}({}) == [{}]\n",
            args_text(args),
            args_text(v)
        ),
        (Err(stop), Some(Ok(got))) => format!(
            "; the interpreter stops with {} here\n; run: {entry}({}) != [{}]\n",
            show(&Err(stop.clone())),
            args_text(args),
            args_text(got)
        ),
        // Both stop (with different traps): a `print` line runs the call
        // in either test kind, and either stop fails it.
        (Err(stop), _) => format!(
            "; the interpreter stops with {} here\n; print: {entry}({})\n",
            show(&Err(stop.clone())),
            args_text(args)
        ),
    }
}

/// The text of a test file: `test interpret` and `test run` at `opt`
/// with the extra `settings` (`name=value`), every function of `case`
/// (the entry last), and one run line per `(args, expectation)`; its
/// target is x86-64 ([`write_case_for`] names another).
pub fn write_case(
    case: &Case,
    opt: OptLevel,
    settings: &[String],
    header: &str,
    runs: &[(Vec<DataValue>, CallResult, Option<CallResult>)],
) -> String {
    write_case_for(
        &IsaFlags::baseline(Arch::X86_64),
        case,
        opt,
        settings,
        header,
        runs,
    )
}

/// [`write_case`] with a `target` line for `isa` (the architecture and the
/// ISA features the code was compiled with, so the file reproduces them).
pub fn write_case_for(
    isa: &IsaFlags,
    case: &Case,
    opt: OptLevel,
    settings: &[String],
    header: &str,
    runs: &[(Vec<DataValue>, CallResult, Option<CallResult>)],
) -> String {
    let mut s = String::new();
    for line in header.lines() {
        let _ = writeln!(s, "; {line}");
    }
    s.push_str("test interpret\ntest run\n");
    let _ = writeln!(s, "set opt_level={}", opt_name(opt));
    s.push_str("set enable_multi_ret_implicit_sret\n");
    for set in settings {
        let _ = writeln!(s, "set {set}");
    }
    let _ = writeln!(s, "target {isa}");
    let entry = case.entry.to_string();
    for f in &case.functions {
        s.push('\n');
        let _ = write!(s, "{f}");
        if f.name == case.entry {
            for (args, want, native) in runs {
                s.push_str(&run_line(&entry, args, want, native.as_ref()));
            }
        }
    }
    s
}

/// A failure report: the failure's message as a header and, for a
/// mismatch, the vector that disagreed.
pub fn write_failure(case: &Case, f: &Failure, settings: &[String], header: &str) -> String {
    write_failure_for(&IsaFlags::baseline(Arch::X86_64), case, f, settings, header)
}

/// [`write_failure`] with a `target` line for `isa`.
pub fn write_failure_for(
    isa: &IsaFlags,
    case: &Case,
    f: &Failure,
    settings: &[String],
    header: &str,
) -> String {
    let mut runs = Vec::new();
    if let (Some(args), Some(want)) = (&f.args, &f.expected) {
        runs.push((args.clone(), want.clone(), f.native.clone()));
    }
    let text = format!("{header}\n{}: {}", f.kind, f.message);
    let text: String = text.lines().take(30).collect::<Vec<_>>().join("\n");
    write_case_for(isa, case, f.opt, settings, &text, &runs)
}

/// Whether a stop is a trap.
pub fn is_trap(r: &CallResult) -> bool {
    matches!(r, Err(Stop::Trap(_)))
}
