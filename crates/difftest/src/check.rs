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
use kiln_filetests::qemu;
use kiln_interpreter::{Config as InterpConfig, InterpError, Interpreter};
use kiln_ir::{DataValue, TrapCode, UserFuncName};
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
    /// The targets' code runs under qemu-user (aarch64 on another host),
    /// many cases to one run ([`Checker::check_many`]), instead of in
    /// this process.
    pub qemu: bool,
    /// The targets' architecture.
    pub arch: Arch,
    /// The ISA features the targets compile with (the baseline unless
    /// [`Checker::with_isa_flags`] chose others).
    pub isa_flags: IsaFlags,
}

/// Cases per qemu run: one object, one link and one emulator start for
/// all of them (a case is about 3 functions, called with 6 vectors at each
/// level).
pub const QEMU_BATCH: usize = 200;

/// How long one qemu run of a batch may take before it is killed (the
/// call it was in is reported as a hang, the cases after it run again).
pub const QEMU_TIMEOUT_SECS: u64 = 30;

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
    /// replaced). The host's code runs in this process; aarch64 code on
    /// another host runs under qemu-user (`kiln_filetests::qemu`), which
    /// must be installed, with its cross linker.
    pub fn new(arch: Arch, flags: &Flags, opts: &[OptLevel]) -> Result<Checker, String> {
        Checker::with_isa_flags(flags, opts, IsaFlags::baseline(arch))
    }

    /// [`Checker::new`] compiling with the ISA features `isa_flags` (of
    /// their architecture), e.g. the host's (BMI2, AVX, ...) instead of
    /// the baseline, so the lowerings that need them are checked too.
    pub fn with_isa_flags(
        flags: &Flags,
        opts: &[OptLevel],
        isa_flags: IsaFlags,
    ) -> Result<Checker, String> {
        let arch = isa_flags.arch();
        let qemu = Arch::host() != Some(arch);
        if qemu && arch != Arch::Aarch64 {
            return Err(format!(
                "--target {}: not the host, so its code cannot run here",
                arch.name()
            ));
        }
        if qemu && !qemu::tools_available() {
            return Err(format!(
                "--target {}: its code runs under {} here, linked by {}; install them \
                 (apt-get install qemu-user gcc-aarch64-linux-gnu)",
                arch.name(),
                qemu::QEMU,
                qemu::GCC
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
            let isa = lookup(f, isa_flags.clone()).map_err(|e| e.to_string())?;
            targets.push(Target { opt, isa });
        }
        Ok(Checker {
            targets,
            fuel: 2_000_000,
            qemu,
            arch,
            isa_flags,
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

    /// How many cases [`Checker::check_many`] is best given at once.
    pub fn batch_size(&self) -> usize {
        if self.qemu {
            QEMU_BATCH
        } else {
            1
        }
    }

    /// The verdict on each case, in order: under qemu all of them in one
    /// run, else one after the other.
    pub fn check_many(&self, cases: &[Case]) -> Vec<Verdict> {
        if self.qemu {
            self.check_qemu(cases)
        } else {
            cases.iter().map(|c| self.check(c)).collect()
        }
    }

    /// Runs `case` everywhere and compares.
    pub fn check(&self, case: &Case) -> Verdict {
        if self.qemu {
            return self
                .check_qemu(std::slice::from_ref(case))
                .pop()
                .unwrap_or_else(|| fail(FailureKind::Link, OptLevel::None, "no verdict".into()));
        }
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
                        message: mismatch_message(&case.entry, args, "native", &got, want),
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

    /// Every case's functions at every level, compiled into one aarch64
    /// object and called (every vector with an interpreter verdict) by one
    /// harness in one qemu run; then each call compared with the
    /// interpreter. A run that stops early or times out charges the call
    /// it was in (a hang or crash of that case), and the cases after it
    /// are checked again in a new run.
    fn check_qemu(&self, cases: &[Case]) -> Vec<Verdict> {
        /// A call of the batch: which case, level and vector it checks.
        struct Pending {
            case: usize,
            opt: OptLevel,
            want: CallResult,
        }
        let mut verdicts: Vec<Option<Verdict>> = (0..cases.len()).map(|_| None).collect();
        let mut funcs: Vec<qemu::BatchFunc> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut calls: Vec<qemu::BatchCall> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut vectors = vec![0usize; cases.len()];
        'case: for (ci, case) in cases.iter().enumerate() {
            let want = self.expectations(case);
            if !want.is_empty() && want.iter().all(|w| w.is_none()) {
                verdicts[ci] = Some(Verdict::NoVerdict(
                    "no argument vector finished in the interpreter".into(),
                ));
                continue;
            }
            vectors[ci] = want.iter().filter(|w| w.is_some()).count();
            let Some(entry) = case.functions.iter().position(|f| f.name == case.entry) else {
                verdicts[ci] = Some(fail(
                    FailureKind::Link,
                    OptLevel::None,
                    format!("no entry function {}", case.entry),
                ));
                continue;
            };
            if let Err(why) = qemu::check_signature(&case.functions[entry].stencil.signature) {
                verdicts[ci] = Some(Verdict::Unsupported(format!("qemu harness: {why}")));
                continue;
            }
            let case_names: Vec<String> = case
                .functions
                .iter()
                .map(|f| match &f.name {
                    UserFuncName::Testcase(t) => t.as_str().to_string(),
                    other => other.to_string(),
                })
                .collect();
            let (mut cf, mut cn, mut cc, mut cp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for t in &self.targets {
                let base = funcs.len() + cf.len();
                for (f, name) in case.functions.iter().zip(&case_names) {
                    let mut code = match compile_caught(&*t.isa, f) {
                        Ok(c) => c,
                        Err(v) => {
                            verdicts[ci] = Some(v(t.opt));
                            continue 'case;
                        }
                    };
                    if let Err(why) = qemu::retarget_relocs(&mut code, &case_names, base) {
                        verdicts[ci] = Some(Verdict::Unsupported(format!("qemu harness: {why}")));
                        continue 'case;
                    }
                    cf.push(qemu::BatchFunc {
                        signature: f.stencil.signature.clone(),
                        code,
                    });
                    cn.push(name.clone());
                }
                for (args, w) in case.arg_sets.iter().zip(&want) {
                    let Some(w) = w else { continue };
                    cc.push(qemu::BatchCall {
                        func: base + entry,
                        args: args.clone(),
                    });
                    cp.push(Pending {
                        case: ci,
                        opt: t.opt,
                        want: w.clone(),
                    });
                }
            }
            funcs.extend(cf);
            names.extend(cn);
            calls.extend(cc);
            pending.extend(cp);
        }
        let timeout = std::time::Duration::from_secs(QEMU_TIMEOUT_SECS);
        let outcomes = if calls.is_empty() {
            Vec::new()
        } else {
            match qemu::run_batch(&funcs, &calls, &names, Some(timeout)) {
                Ok(o) => o,
                Err(e) => {
                    for p in &pending {
                        verdicts[p.case].get_or_insert_with(|| {
                            fail(FailureKind::Link, p.opt, format!("qemu batch: {e}"))
                        });
                    }
                    Vec::new()
                }
            }
        };
        // The first call without an output is where the run stopped.
        let stop = outcomes
            .iter()
            .position(|o| matches!(o, qemu::CallOutcome::Missing(_)));
        let mut rerun: Vec<usize> = Vec::new();
        let (mut native_calls, mut traps) = (vec![0usize; cases.len()], vec![0usize; cases.len()]);
        for (k, (p, outcome)) in pending.iter().zip(&outcomes).enumerate() {
            if verdicts[p.case].is_some() {
                continue;
            }
            if stop.is_some_and(|s| k > s) {
                if !rerun.contains(&p.case) {
                    rerun.push(p.case);
                }
                continue;
            }
            let got: CallResult = match outcome {
                qemu::CallOutcome::Returned(v) => Ok(v.clone()),
                qemu::CallOutcome::Trapped { code, .. } => Err(Stop::Trap(*code)),
                qemu::CallOutcome::Missing(why) => Err(Stop::Other(why.clone())),
            };
            native_calls[p.case] += 1;
            if !same(&got, &p.want) {
                let case = &cases[p.case];
                let args = &calls[k].args;
                verdicts[p.case] = Some(Verdict::Fail(Failure {
                    kind: FailureKind::Mismatch,
                    opt: p.opt,
                    message: mismatch_message(
                        &case.entry,
                        args,
                        "native (under qemu)",
                        &got,
                        &p.want,
                    ),
                    args: Some(args.clone()),
                    expected: Some(p.want.clone()),
                    native: Some(got),
                }));
            } else if p.want.is_err() {
                traps[p.case] += 1;
            }
        }
        rerun.retain(|&c| verdicts[c].is_none());
        if !rerun.is_empty() {
            let again: Vec<Case> = rerun.iter().map(|&c| cases[c].clone()).collect();
            for (c, v) in rerun.iter().zip(self.check_qemu(&again)) {
                verdicts[*c] = Some(v);
            }
        }
        let levels = self.targets.len().max(1);
        verdicts
            .into_iter()
            .enumerate()
            .map(|(c, v)| {
                v.unwrap_or(Verdict::Agree {
                    vectors: vectors[c],
                    native_calls: native_calls[c],
                    traps: traps[c] / levels,
                })
            })
            .collect()
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

/// Compiles `f`, turning a panic, a verifier error or another compile
/// error into the verdict it means at a level (and `Unsupported` into
/// that verdict).
fn compile_caught(
    isa: &dyn TargetIsa,
    f: &kiln_ir::Function,
) -> Result<CompiledCode<Final>, Box<dyn Fn(OptLevel) -> Verdict>> {
    let r = match catch_unwind(AssertUnwindSafe(|| compile_function(isa, f))) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let what = format!("{}: {msg}", f.name);
            return Err(Box::new(move |o| fail(FailureKind::Panic, o, what.clone())));
        }
    };
    r.map_err(|e| -> Box<dyn Fn(OptLevel) -> Verdict> {
        let name = f.name.to_string();
        match e {
            CodegenError::Unsupported { what } => {
                Box::new(move |_| Verdict::Unsupported(what.clone()))
            }
            CodegenError::Verifier(e) => {
                let m = format!("{name}: {e}");
                Box::new(move |o| fail(FailureKind::Verifier, o, m.clone()))
            }
            e => {
                let m = format!("{name}: {e}");
                Box::new(move |o| fail(FailureKind::Compile, o, m.clone()))
            }
        }
    })
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

/// The message of a native result that differs from the interpreter's:
/// the call with its arguments, then both results (`native` says where the
/// native code ran).
fn mismatch_message(
    entry: &UserFuncName,
    args: &[DataValue],
    native: &str,
    got: &CallResult,
    want: &CallResult,
) -> String {
    let args = args
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{entry}({args}): {native} {} != interpreter {}",
        show(got),
        show(want)
    )
}

/// Bit-for-bit equality of results, equal trap codes.
pub fn same(a: &CallResult, b: &CallResult) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.bitwise_eq(q)),
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}
