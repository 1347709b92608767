//! Running a [`Case`] in the interpreter and as native code, and comparing.
//!
//! Results are compared bit for bit: programs from `Config::everything`
//! replace every NaN that CLIF leaves open (arithmetic) by the canonical
//! NaN in the IR itself, so the remaining float results (`fneg`, `fabs`,
//! `fcopysign`, `bitcast`, loads, stores, `select`, arguments passed
//! through) are defined to the bit. Trap codes must agree too.

use crate::case::Case;
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::{compile_function, lookup, TargetIsa};
use kiln_codegen::result::CodegenError;
use kiln_codegen::settings::{Arch, Flags, IsaFlags, OptLevel};
use kiln_interpreter::{Config as InterpConfig, InterpError, Interpreter};
use kiln_ir::{DataValue, TrapCode};
use kiln_module::{JitCallError, JitProgramBuilder, ProgramCallError};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// How a call ended when it did not return values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A trap (`None`: a fault without a declared trap code).
    Trap(Option<TrapCode>),
    /// Anything else (an error of the harness itself).
    Other(String),
}

/// The results of one call, or how it stopped.
pub type CallResult = Result<Vec<DataValue>, Stop>;

/// Renders a call result for messages.
pub fn show(r: &CallResult) -> String {
    match r {
        Ok(v) => format!(
            "[{}]",
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(Stop::Trap(Some(c))) => format!("trap {c}"),
        Err(Stop::Trap(None)) => "a fault without a trap code".to_string(),
        Err(Stop::Other(m)) => format!("error: {m}"),
    }
}

/// What kind of failure a case showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// The compiler panicked.
    Panic,
    /// The verifier rejected a function.
    Verifier,
    /// Compilation failed other than with `Unsupported`.
    Compile,
    /// Linking or calling failed for a reason other than a trap.
    Link,
    /// Native code and the interpreter disagree.
    Mismatch,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Panic => "compiler panic",
            FailureKind::Verifier => "verifier error",
            FailureKind::Compile => "compile error",
            FailureKind::Link => "link error",
            FailureKind::Mismatch => "mismatch",
        })
    }
}

/// A failure, with enough to write it as a test file.
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub opt: OptLevel,
    pub message: String,
    /// For a mismatch: the arguments, the interpreter's outcome (the
    /// expectation) and native code's.
    pub args: Option<Vec<DataValue>>,
    pub expected: Option<CallResult>,
    pub native: Option<CallResult>,
}

/// The verdict on one case.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Every vector agreed on every target.
    Agree {
        /// Argument vectors with an interpreter verdict.
        vectors: usize,
        /// Native calls made (vectors times targets).
        native_calls: usize,
        /// Vectors that trapped (in both).
        traps: usize,
    },
    /// The backend does not support something in the case (`what`).
    Unsupported(String),
    /// No vector got an interpreter verdict (out of fuel, an interpreter
    /// gap); nothing to compare.
    NoVerdict(String),
    Fail(Failure),
}

/// One compilation target: an ISA at an optimization level.
pub struct Target {
    pub opt: OptLevel,
    pub isa: Box<dyn TargetIsa>,
}

/// Compares cases on a set of targets.
pub struct Checker {
    pub targets: Vec<Target>,
    /// Interpreter instructions per call.
    pub fuel: u64,
}

/// The name of an optimization level as `set opt_level=` spells it.
pub fn opt_name(o: OptLevel) -> &'static str {
    match o {
        OptLevel::None => "none",
        OptLevel::Speed => "speed",
        OptLevel::SpeedAndSize => "speed_and_size",
    }
}

impl Checker {
    /// Targets for `arch` at each of `opts`, with `flags` (its opt level is
    /// replaced). Only the host architecture can run native code; aarch64
    /// has no backend in Kiln yet, and the error says so.
    pub fn new(arch: Arch, flags: &Flags, opts: &[OptLevel]) -> Result<Checker, String> {
        if arch == Arch::Aarch64 {
            return Err(
                "--target aarch64: Kiln has no aarch64 backend yet (differential fuzzing \
                 would batch functions into one qemu run once it exists)"
                    .to_string(),
            );
        }
        if Arch::host() != Some(arch) {
            return Err(format!(
                "--target {}: not the host, so its code cannot run here",
                arch.name()
            ));
        }
        let mut targets = Vec::new();
        for &opt in opts {
            // Generated programs may return more values than the return
            // registers hold; the checker always allows a return area, and
            // failure files say so (`testfile::write_case`).
            let f = Flags {
                opt_level: opt,
                enable_multi_ret_implicit_sret: true,
                ..flags.clone()
            };
            let isa = lookup(f, IsaFlags::baseline(arch)).map_err(|e| e.to_string())?;
            targets.push(Target { opt, isa });
        }
        Ok(Checker {
            targets,
            fuel: 2_000_000,
        })
    }

    /// The host at `opt_level=none` and `speed`.
    pub fn host_default() -> Result<Checker, String> {
        let arch = Arch::host().ok_or("the host has no Kiln backend")?;
        Checker::new(arch, &Flags::default(), &[OptLevel::None, OptLevel::Speed])
    }

    /// What the interpreter says for each vector (`None`: no verdict).
    pub fn expectations(&self, case: &Case) -> Vec<Option<CallResult>> {
        expectations(case, self.fuel)
    }

    /// Runs `case` everywhere and compares.
    pub fn check(&self, case: &Case) -> Verdict {
        let want = self.expectations(case);
        if !want.is_empty() && want.iter().all(|w| w.is_none()) {
            return Verdict::NoVerdict("no argument vector finished in the interpreter".into());
        }
        let (mut native_calls, mut traps) = (0, 0);
        for t in &self.targets {
            let mut b = JitProgramBuilder::new(&*t.isa);
            for f in &case.functions {
                let code: Result<CompiledCode<Final>, CodegenError> =
                    match catch_unwind(AssertUnwindSafe(|| compile_function(&*t.isa, f))) {
                        Ok(r) => r,
                        Err(p) => {
                            let msg = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            return fail(FailureKind::Panic, t.opt, format!("{}: {msg}", f.name));
                        }
                    };
                match code {
                    Ok(c) => {
                        if let Err(e) = b.define(f.name.clone(), f.stencil.signature.clone(), c) {
                            return fail(FailureKind::Link, t.opt, format!("{}: {e}", f.name));
                        }
                    }
                    Err(CodegenError::Unsupported { what }) => {
                        return Verdict::Unsupported(what);
                    }
                    Err(CodegenError::Verifier(e)) => {
                        return fail(FailureKind::Verifier, t.opt, format!("{}: {e}", f.name));
                    }
                    Err(e) => return fail(FailureKind::Compile, t.opt, format!("{}: {e}", f.name)),
                }
            }
            let prog = match b.finish() {
                Ok(p) => p,
                Err(e) => return fail(FailureKind::Link, t.opt, e.to_string()),
            };
            let entry = match prog.entry(&case.entry) {
                Ok(e) => e,
                Err(ProgramCallError::Unsupported(w)) => return Verdict::Unsupported(w),
                Err(e) => return fail(FailureKind::Link, t.opt, e.to_string()),
            };
            for (args, want) in case.arg_sets.iter().zip(&want) {
                let Some(want) = want else { continue };
                native_calls += 1;
                let got: CallResult = match entry.call(args) {
                    Ok(r) => Ok(r),
                    Err(ProgramCallError::Call(JitCallError::Trap(t))) => Err(Stop::Trap(t.code)),
                    Err(ProgramCallError::Unsupported(w)) => return Verdict::Unsupported(w),
                    Err(e) => Err(Stop::Other(e.to_string())),
                };
                if !same(&got, want) {
                    return Verdict::Fail(Failure {
                        kind: FailureKind::Mismatch,
                        opt: t.opt,
                        message: format!(
                            "{}({}): native {} != interpreter {}",
                            case.entry,
                            args.iter()
                                .map(|a| a.to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                            show(&got),
                            show(want)
                        ),
                        args: Some(args.clone()),
                        expected: Some(want.clone()),
                        native: Some(got),
                    });
                }
                if want.is_err() {
                    traps += 1;
                }
            }
        }
        Verdict::Agree {
            vectors: want.iter().filter(|w| w.is_some()).count(),
            native_calls,
            traps: traps / self.targets.len().max(1),
        }
    }
}

/// What the interpreter says for each vector of `case` with `fuel`
/// instructions per call (`None`: no verdict).
pub fn expectations(case: &Case, fuel: u64) -> Vec<Option<CallResult>> {
    let mut interp = Interpreter::with_config(
        case.functions.iter(),
        InterpConfig {
            fuel,
            ..InterpConfig::default()
        },
    );
    let name = case.entry.to_string();
    let name = name.trim_start_matches('%');
    case.arg_sets
        .iter()
        .map(|args| match interp.call_by_name(name, args) {
            Ok(r) => Some(Ok(r)),
            // An access outside every stack slot: natively that is
            // some random address (generated programs never do it;
            // reduced candidates can), so there is nothing to compare
            // and running it could kill the process.
            Err(InterpError::Trap(TrapCode::HEAP_OUT_OF_BOUNDS)) => None,
            Err(InterpError::Trap(c)) => Some(Err(Stop::Trap(Some(c)))),
            Err(_) => None,
        })
        .collect()
}

fn fail(kind: FailureKind, opt: OptLevel, message: String) -> Verdict {
    Verdict::Fail(Failure {
        kind,
        opt,
        message,
        args: None,
        expected: None,
        native: None,
    })
}

/// Bit-for-bit equality of results, equal trap codes.
pub fn same(a: &CallResult, b: &CallResult) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.bitwise_eq(q)),
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}
