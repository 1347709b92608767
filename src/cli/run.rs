//! `kiln run FILE...`: compile a file's functions for the host and run its
//! `; run:` lines, printing each result.

use super::args::RunArgs;
use super::common::{expand_lists, load, on_big_stack, usage_error};
use kiln::codegen::settings::Arch;
use kiln::filetests::run::{build_program, host_targets, run_on_isa, BuildOutcome, IsaChoice};
use kiln::ir::DataValue;
use kiln::reader::{Comparison, RunCommand, TestFile};
use std::process::ExitCode;

/// Values as `; run:` lines write them: one bare, several in brackets.
pub(crate) fn show(vs: &[DataValue]) -> String {
    let parts: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
    if vs.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

/// Counts of one file.
#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    skipped: usize,
}

fn run_file(file: &TestFile, out: &mut String) -> Tally {
    use std::fmt::Write;
    let mut t = Tally::default();
    // Only run lines are run: a file without any (say a `test compile`
    // file) is not compiled at all, so it cannot fail to link.
    if file
        .functions
        .iter()
        .all(|f| f.run_directives.is_empty() && f.directive_errors.is_empty())
    {
        let _ = writeln!(
            out,
            "{}: skipped: no `; run:` or `; print:` lines to run",
            file.path
        );
        t.skipped += 1;
        return t;
    }
    for (label, choice) in host_targets(file) {
        let isa = match choice {
            IsaChoice::Isa(i) => i,
            IsaChoice::Skip(why) | IsaChoice::NotHere(why) => {
                let _ = writeln!(out, "{}: {label}: skipped: {why}", file.path);
                t.skipped += 1;
                continue;
            }
            IsaChoice::Fail(why) => {
                let _ = writeln!(out, "{}: {label}: error: {why}", file.path);
                t.failed += 1;
                continue;
            }
            IsaChoice::Ignore(_) => continue,
        };
        if Arch::host() != Some(isa.arch()) {
            // Another architecture's code never enters this process: the
            // filetest runner links it into one object and runs it under
            // qemu-user, and reports the file's lines as a whole.
            let lines: usize = file.functions.iter().map(|f| f.run_directives.len()).sum();
            match run_on_isa(file, &*isa) {
                Ok(()) => {
                    let _ = writeln!(
                        out,
                        "{}: {label}: {lines} run lines ok under qemu",
                        file.path
                    );
                    t.ok += lines;
                }
                Err(BuildOutcome::Skip(why)) => {
                    let _ = writeln!(out, "{}: {label}: skipped: {why}", file.path);
                    t.skipped += 1;
                }
                Err(BuildOutcome::Fail(msgs)) => {
                    for m in msgs {
                        let _ = writeln!(out, "{}: {label}: {m}", file.path);
                    }
                    t.failed += 1;
                }
            }
            continue;
        }
        let prog = match build_program(file, &*isa) {
            Ok(p) => p,
            Err(BuildOutcome::Skip(why)) => {
                let _ = writeln!(out, "{}: {label}: skipped: {why}", file.path);
                t.skipped += 1;
                continue;
            }
            Err(BuildOutcome::Fail(msgs)) => {
                for m in msgs {
                    let _ = writeln!(out, "{}: {label}: error: {m}", file.path);
                }
                t.failed += 1;
                continue;
            }
        };
        for f in &file.functions {
            for e in &f.directive_errors {
                let _ = writeln!(out, "{e}");
                t.failed += 1;
            }
            for d in &f.run_directives {
                let (func, args) = match &d.command {
                    RunCommand::Run { func, args, .. }
                    | RunCommand::RunTruthy { func, args }
                    | RunCommand::Print { func, args } => (func, args),
                };
                let call = format!(
                    "%{func}({})",
                    args.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                // Like Cranelift, a directive runs the function it follows.
                let got = prog.call(&f.func.name, args);
                let line = match (&d.command, got) {
                    (_, Err(e)) => {
                        t.failed += 1;
                        format!("{call}: FAIL: {e}")
                    }
                    (
                        RunCommand::Run {
                            comparison,
                            expected,
                            ..
                        },
                        Ok(got),
                    ) => {
                        let equal = got.len() == expected.len()
                            && got.iter().zip(expected).all(|(a, b)| a.bitwise_eq(b));
                        let op = match comparison {
                            Comparison::Equal => "==",
                            Comparison::NotEqual => "!=",
                        };
                        let pass = equal == (*comparison == Comparison::Equal);
                        if pass {
                            t.ok += 1;
                            format!("{call} {op} {} ok", show(expected))
                        } else {
                            t.failed += 1;
                            format!("{call} {op} {} FAIL: got {}", show(expected), show(&got))
                        }
                    }
                    (RunCommand::RunTruthy { .. }, Ok(got)) => {
                        if matches!(&got[..], [v] if v.as_i128().is_some_and(|x| x != 0)) {
                            t.ok += 1;
                            format!("{call} ok ({})", show(&got))
                        } else {
                            t.failed += 1;
                            format!("{call} FAIL: expected non-zero, got {}", show(&got))
                        }
                    }
                    (RunCommand::Print { .. }, Ok(got)) => {
                        t.ok += 1;
                        format!("{call} -> {}", show(&got))
                    }
                };
                let _ = writeln!(out, "{}:{}: {line}", file.path, d.line);
            }
        }
    }
    t
}

/// `kiln run`: each file's functions compiled once per `target` line (or
/// for the host if there is none) and its `; run:` and `; print:` lines
/// run, printing `%f(1, 2) == 3 ok` or the mismatch. Host code runs in
/// this process; aarch64 code on an x86-64 host runs under qemu-user (one
/// line per file). Exit status 1 if any line failed or a file could not
/// be compiled; unsupported files are reported as skipped.
pub fn main(a: &RunArgs) -> ExitCode {
    let files = match expand_lists(&a.inputs.paths) {
        Ok(f) => f,
        Err(e) => return usage_error("run", &e),
    };
    let store = match a.cache.open() {
        Ok(store) => store,
        Err(e) => return usage_error("run", &e),
    };
    kiln::filetests::run::set_compile_store(store.as_ref().map(|s| s.shared()));
    let status = run_files(&files);
    // Drop the last references: queued cache writes are flushed and this
    // process's counters recorded.
    kiln::filetests::run::set_compile_store(None);
    drop(store);
    status
}

fn run_files(args: &[String]) -> ExitCode {
    let mut total = Tally::default();
    for path in args {
        let file = match load(std::path::Path::new(path)) {
            Ok((f, _)) => f,
            Err(e) => {
                eprintln!("{e}");
                total.failed += 1;
                continue;
            }
        };
        let r = on_big_stack(|| {
            let mut out = String::new();
            let t = run_file(&file, &mut out);
            (t, out)
        });
        match r {
            Ok((t, out)) => {
                print!("{out}");
                total.ok += t.ok;
                total.failed += t.failed;
                total.skipped += t.skipped;
            }
            Err(e) => {
                eprintln!("{path}: {e}");
                total.failed += 1;
            }
        }
    }
    println!(
        "{} ok, {} failed, {} skipped",
        total.ok, total.failed, total.skipped
    );
    if total.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
