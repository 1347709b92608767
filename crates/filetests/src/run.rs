//! `test run`: compile every function of a file for the host, link them into
//! one JIT program, and evaluate the `; run:` directives natively.
//!
//! Per `target` line (or once for the host when the file has none), each
//! target gets one [`TargetVerdict`]:
//! - **not runnable here** ([`IsaChoice::NotHere`]): another architecture
//!   (aarch64 runs under qemu-user instead, see `qemu.rs`, when
//!   `qemu-aarch64` and `aarch64-linux-gnu-gcc` are installed), a flag the
//!   host CPU lacks, or a target Kiln
//!   does not know at all (s390x, riscv64, pulley, ...). No compiler could
//!   execute it on this machine; Cranelift skips such targets too.
//! - **unsupported** ([`IsaChoice::Skip`], [`BuildOutcome::Skip`]): the host
//!   could run it but Kiln cannot yet (a `CodegenError::Unsupported`, a
//!   vector signature, a setting value Kiln does not implement, the
//!   exception-throwing runtime `%__cranelift_throw` on a host where Kiln
//!   has none: it has one for x86-64 JIT code, `kiln_module::throw`, and
//!   one for aarch64 code under qemu, `qemu_throw.c`).
//! - **failed**: a bad setting or flag (named), any other compile or link
//!   error, a wrong result, or a trap (a failure naming the trap code, never
//!   a crash of the test process).
//! - **passed**: every directive ran natively and matched.
//!
//! The kind's outcome ([`run_file_for`]): FAIL if any target failed; SKIP
//! with every reason if any host target was unsupported (a gap of Kiln's,
//! so the file is not PASS even when another target ran) or if no target
//! ran; otherwise PASS. So a file listing `target x86_64` and `target
//! aarch64` is PASS on an x86-64 host when x86_64 passed; the aarch64 part
//! shows in the per-target counts (see `docs/testing.md`).
//!
//! A file without any `; run:` directive checks nothing: SKIP with that
//! reason. The `set` lines in force and the target's ISA flags configure
//! the ISA (the x86-64 baseline plus the requested flags, as Cranelift's
//! `test run` does).

use crate::{check_file_run_directives, Outcome, SubTest};
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::{compile_function, IsaBuilder, TargetIsa, Unknown};
use kiln_codegen::result::{CodegenError, CodegenResult};
use kiln_codegen::settings::{Arch, IsaFlags};
use kiln_ir::{Function, UserFuncName};
use kiln_module::{JitProgram, JitProgramBuilder, LinkError, ProgramCallError, ProgramError};
use kiln_reader::{Setting, TestCommand, TestFile};

/// Stack size of the thread that runs JIT code (deep recursion in tests).
pub const RUN_STACK_BYTES: usize = 64 << 20;

/// The outcome of choosing an ISA for a target line.
pub enum IsaChoice {
    Isa(Box<dyn TargetIsa>),
    /// The host could run this target but Kiln cannot (a setting value or
    /// target Kiln does not implement); the reason.
    Skip(String),
    /// Another architecture than the host's, or a CPU flag the host lacks:
    /// no compiler could run it on this machine; the reason.
    NotHere(String),
    /// The settings are wrong (unknown name, malformed value): the error,
    /// naming the setting.
    Fail(String),
    /// A target Kiln does not know at all (s390x, riscv64, pulley...), as
    /// Cranelift skips targets compiled out of it.
    Ignore(String),
}

/// Builds the ISA for `arch` with `settings` (`set` lines, then
/// overrides) and `isa_flags` (words of a `target` line). With
/// `require_host`, the target must be the host and the host must have every
/// requested flag.
pub fn choose_isa<'a>(
    arch: &str,
    settings: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    isa_flags: &[String],
    require_host: bool,
) -> IsaChoice {
    let Some(a) = Arch::parse(arch) else {
        return IsaChoice::Ignore(format!("target {arch} is not supported"));
    };
    // aarch64 code runs under qemu-user on another host (`qemu.rs`).
    let emulated = require_host && Arch::host() != Some(a) && a == Arch::Aarch64;
    if require_host && Arch::host() != Some(a) {
        if !emulated {
            return IsaChoice::NotHere(format!("target {arch} is not the host"));
        }
        if !crate::qemu::tools_available() {
            return IsaChoice::NotHere(format!(
                "aarch64 needs {} and {} on this host",
                crate::qemu::QEMU,
                crate::qemu::GCC
            ));
        }
    }
    let mut b = IsaBuilder::new(a);
    let built = b
        .settings(settings, Unknown::Reject)
        .and_then(|b| b.target_words(isa_flags, Unknown::Reject));
    if let Err(e) = built {
        return IsaChoice::Fail(e.to_string());
    }
    if require_host && !emulated {
        let host = IsaFlags::host().unwrap_or_else(|| IsaFlags::baseline(a));
        let missing = b.isa_flags.missing_from(&host);
        if !missing.is_empty() {
            return IsaChoice::NotHere(format!("host lacks {}", missing.join(", ")));
        }
    }
    match b.finish() {
        Ok(isa) => IsaChoice::Isa(isa),
        Err(CodegenError::Unsupported { what }) => IsaChoice::Skip(format!("unsupported: {what}")),
        Err(e) => IsaChoice::Fail(e.to_string()),
    }
}

fn settings_iter(s: &[Setting]) -> impl Iterator<Item = (&str, Option<&str>)> {
    s.iter().map(|s| (s.name.as_str(), s.value.as_deref()))
}

/// The architecture word of a [`host_targets`] label (`target x86_64 ...`).
pub fn label_isa(label: &str) -> &str {
    label.split_whitespace().nth(1).unwrap_or("")
}

/// One runnable configuration of a file: a label and its ISA choice.
pub fn host_targets(file: &TestFile) -> Vec<(String, IsaChoice)> {
    host_targets_with(file, &[])
}

/// [`host_targets`] with `overrides` applied after the file's `set` lines
/// (`name`, `value`), as a command line's `--set` would.
pub fn host_targets_with(file: &TestFile, overrides: &[Setting]) -> Vec<(String, IsaChoice)> {
    if file.targets.is_empty() {
        let host = Arch::host().map_or("host", |a| a.name());
        return vec![(
            format!("target {host}"),
            choose_isa(
                host,
                settings_iter(&file.settings).chain(settings_iter(overrides)),
                &[],
                true,
            ),
        )];
    }
    file.targets
        .iter()
        .map(|t| {
            let mut label = format!("target {}", t.isa);
            for f in &t.flags {
                label.push(' ');
                label.push_str(f);
            }
            (
                label,
                choose_isa(
                    &t.isa,
                    settings_iter(&t.settings).chain(settings_iter(overrides)),
                    &t.flags,
                    true,
                ),
            )
        })
        .collect()
}

/// Why a file could not be run on one ISA.
pub enum BuildOutcome {
    Skip(String),
    Fail(Vec<String>),
}

/// A compiler of functions (and trampolines) to final code.
pub type CompileFn<'a> = dyn FnMut(&Function) -> CodegenResult<CompiledCode<Final>> + 'a;

/// The compilation cache [`build_program`] and [`run_on_isa`] compile
/// through, if any (set by `kiln test` and `kiln run`).
static COMPILE_STORE: std::sync::RwLock<Option<std::sync::Arc<dyn kiln_cache::CacheKvStore>>> =
    std::sync::RwLock::new(None);

/// Sets the store [`build_program`] and [`run_on_isa`] compile through
/// (`None`: compile directly); returns the previous one. Clear it before
/// exiting and drop the last `Arc`, so that queued writes are flushed.
pub fn set_compile_store(
    store: Option<std::sync::Arc<dyn kiln_cache::CacheKvStore>>,
) -> Option<std::sync::Arc<dyn kiln_cache::CacheKvStore>> {
    match COMPILE_STORE.write() {
        Ok(mut g) => std::mem::replace(&mut *g, store),
        Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), store),
    }
}

/// Compiles through the store set with [`set_compile_store`], if any.
/// The final code is the same either way.
pub fn compile_default(isa: &dyn TargetIsa, f: &Function) -> CodegenResult<CompiledCode<Final>> {
    let store = match COMPILE_STORE.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    match store {
        Some(store) => kiln_cache::compile_with_cache(isa, f, &*store).map(|(code, _)| code),
        None => compile_function(isa, f),
    }
}

/// Compiles and links every function of `file` with `isa`.
/// With a store that batches reads (a shared server), the file's
/// lookups are fetched in one round trip first.
pub fn build_program(file: &TestFile, isa: &dyn TargetIsa) -> Result<JitProgram, BuildOutcome> {
    let store = match COMPILE_STORE.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    match store {
        Some(store) if store.batched_reads() => {
            let funcs = file.functions.iter().map(|f| &f.func);
            let fetched = kiln_cache::many::PrefetchedStore::fetch(&*store, isa, funcs);
            build_program_with(file, isa, &mut |f| {
                kiln_cache::compile_with_cache(isa, f, &fetched).map(|(code, _)| code)
            })
        }
        _ => build_program_with(file, isa, &mut |f| compile_default(isa, f)),
    }
}

/// Like [`build_program`], compiling with `compile`.
pub fn build_program_with(
    file: &TestFile,
    isa: &dyn TargetIsa,
    compile: &mut CompileFn<'_>,
) -> Result<JitProgram, BuildOutcome> {
    let mut b = JitProgramBuilder::new(isa);
    for f in &file.functions {
        let name = f.func.name.to_string();
        let code = match compile(&f.func) {
            Ok(c) => c,
            Err(CodegenError::Unsupported { what }) => {
                return Err(BuildOutcome::Skip(format!("{name}: unsupported: {what}")))
            }
            Err(e) => return Err(BuildOutcome::Fail(vec![format!("{name}: {e}")])),
        };
        if let Err(e) = b.define(f.func.name.clone(), f.func.signature.clone(), code) {
            return Err(BuildOutcome::Fail(vec![format!("{name}: {e}")]));
        }
    }
    b.finish_with(compile).map_err(|e| match &e {
        ProgramError::Link(LinkError::Unresolved(v))
            if v.iter().all(|u| u.target == THROW_RUNTIME) =>
        {
            BuildOutcome::Skip(format!(
                "unsupported: {THROW_RUNTIME} (called by {}): Kiln's JIT throw runtime \
                 exists for x86-64 hosts only",
                v.iter()
                    .map(|u| u.from.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        _ => BuildOutcome::Fail(vec![e.to_string()]),
    })
}

/// The throwing runtime that Cranelift's exception runtests call; Kiln
/// provides it on x86-64 hosts (`kiln_module::throw`); elsewhere linking
/// against it is a skip, not a failure.
const THROW_RUNTIME: &str = "%__cranelift_throw";

/// Runs a file's directives on one ISA.
pub fn run_on_isa(file: &TestFile, isa: &dyn TargetIsa) -> Result<(), BuildOutcome> {
    run_on_isa_with(file, isa, &mut |f| compile_default(isa, f))
}

/// Like [`run_on_isa`], compiling with `compile`.
pub fn run_on_isa_with(
    file: &TestFile,
    isa: &dyn TargetIsa,
    compile: &mut CompileFn<'_>,
) -> Result<(), BuildOutcome> {
    if Arch::host() != Some(isa.arch()) {
        return crate::qemu::run_on_qemu(file, isa, compile);
    }
    let prog = build_program_with(file, isa, compile)?;
    // A directive whose function cannot be called here (a vector
    // signature, say) makes the whole file unsupported, not failed. Like
    // Cranelift, a directive runs the function it follows.
    for f in file
        .functions
        .iter()
        .filter(|f| !f.run_directives.is_empty())
    {
        if let Err(ProgramCallError::Unsupported(why)) = prog.entry(&f.func.name) {
            return Err(BuildOutcome::Skip(format!("{}: {why}", f.func.name)));
        }
    }
    // The evaluator names functions as `check_file_run_directives` does:
    // a test-case name without `%`, a user name as `u0:1`.
    let by_name: std::collections::HashMap<String, &UserFuncName> = file
        .functions
        .iter()
        .map(|f| {
            let key = match &f.func.name {
                UserFuncName::Testcase(t) => t.as_str().to_string(),
                other => other.to_string(),
            };
            (key, &f.func.name)
        })
        .collect();
    let mut exec = |name: &str, args: &[kiln_ir::DataValue]| {
        let func = by_name
            .get(name)
            .copied()
            .cloned()
            .unwrap_or_else(|| UserFuncName::testcase(name));
        prog.call(&func, args).map_err(|e| e.to_string())
    };
    let failures = check_file_run_directives(file, &mut exec);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(BuildOutcome::Fail(
            failures.into_iter().map(|f| f.message).collect(),
        ))
    }
}

/// What happened on one target line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetVerdict {
    Passed,
    Failed(Vec<String>),
    /// Runnable here, but Kiln cannot yet: a gap of Kiln's.
    Unsupported(String),
    /// Not runnable on this machine (other architecture, missing CPU flag,
    /// unknown target).
    NotHere(String),
}

/// The verdict of one target line of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetResult {
    /// `target x86_64 has_avx` (or `target x86_64` for a file without
    /// target lines, run on the host).
    pub label: String,
    pub verdict: TargetVerdict,
}

impl TargetResult {
    /// The architecture word of the label (`x86_64`, `aarch64`, ...).
    pub fn isa(&self) -> &str {
        label_isa(&self.label)
    }
}

/// Runs `test run` on a parsed file (on the current thread).
pub fn run_file(file: &TestFile) -> Outcome {
    run_file_for(file, None)
}

/// Runs `test run` on a parsed file, only on the `target` lines of ISA
/// `only_isa` when given (`kiln test --target x86_64`).
pub fn run_file_for(file: &TestFile, only_isa: Option<&str>) -> Outcome {
    run_file_targets(file, only_isa).0
}

/// [`run_file_for`] with the verdict of every target line it considered
/// (lines of other ISAs than `only_isa` are left out).
pub fn run_file_targets(file: &TestFile, only_isa: Option<&str>) -> (Outcome, Vec<TargetResult>) {
    run_file_targets_with(file, only_isa, &[])
}

/// [`run_file_targets`] with setting `overrides` after the file's own.
pub fn run_file_targets_with(
    file: &TestFile,
    only_isa: Option<&str>,
    overrides: &[Setting],
) -> (Outcome, Vec<TargetResult>) {
    let directives: usize = file.functions.iter().map(|f| f.run_directives.len()).sum();
    let directive_errors = file
        .functions
        .iter()
        .any(|f| !f.directive_errors.is_empty());
    if directives == 0 && !directive_errors {
        return (
            Outcome::Skip("no `; run:` directive: nothing to check".into()),
            Vec::new(),
        );
    }
    let mut targets = Vec::new();
    let mut other_isa = false;
    for (label, choice) in host_targets_with(file, overrides) {
        if let Some(want) = only_isa {
            if label_isa(&label) != want {
                other_isa = true;
                continue;
            }
        }
        let verdict = match choice {
            IsaChoice::Isa(isa) => match run_on_isa(file, &*isa) {
                Ok(()) => TargetVerdict::Passed,
                Err(BuildOutcome::Skip(why)) => TargetVerdict::Unsupported(why),
                Err(BuildOutcome::Fail(msgs)) => TargetVerdict::Failed(msgs),
            },
            IsaChoice::Skip(why) => TargetVerdict::Unsupported(why),
            IsaChoice::NotHere(why) | IsaChoice::Ignore(why) => TargetVerdict::NotHere(why),
            IsaChoice::Fail(why) => TargetVerdict::Failed(vec![why]),
        };
        targets.push(TargetResult { label, verdict });
    }
    let outcome = if targets.is_empty() && other_isa {
        Outcome::Skip(format!("no `target {}` line", only_isa.unwrap_or("")))
    } else {
        fold_targets(&targets)
    };
    (outcome, targets)
}

/// The kind's outcome from its targets' verdicts (see the module comment).
fn fold_targets(targets: &[TargetResult]) -> Outcome {
    let mut fails = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    let (mut passed, mut unsupported) = (0, 0);
    for t in targets {
        let label = &t.label;
        match &t.verdict {
            TargetVerdict::Passed => passed += 1,
            TargetVerdict::Failed(msgs) => {
                fails.extend(msgs.iter().map(|m| format!("{label}: {m}")))
            }
            TargetVerdict::Unsupported(why) => {
                unsupported += 1;
                let msg = format!("{label}: {why}");
                if !reasons.contains(&msg) {
                    reasons.push(msg);
                }
            }
            TargetVerdict::NotHere(why) => {
                let msg = format!("{label}: {why}");
                if !reasons.contains(&msg) {
                    reasons.push(msg);
                }
            }
        }
    }
    if !fails.is_empty() {
        Outcome::Fail(fails)
    } else if unsupported > 0 || passed == 0 {
        Outcome::Skip(if reasons.is_empty() {
            "no target to run".into()
        } else {
            reasons.join("; ")
        })
    } else {
        Outcome::Pass
    }
}

/// `test run`, on every target line or only those of one ISA, with
/// optional setting overrides.
#[derive(Default)]
pub struct RunTest {
    only_isa: Option<String>,
    overrides: Vec<Setting>,
}

impl RunTest {
    /// Runs only the `target` lines naming `isa` (e.g. `x86_64`).
    pub fn for_isa(isa: &str) -> Self {
        RunTest {
            only_isa: Some(isa.to_string()),
            overrides: Vec::new(),
        }
    }

    /// Applies `name=value` after every file's own `set` lines (as a
    /// command line's `--set`); a bad one fails every file, naming it.
    pub fn with_setting(mut self, name: &str, value: Option<&str>) -> Self {
        self.overrides.push(Setting {
            name: name.to_string(),
            value: value.map(str::to_string),
            line: 0,
        });
        self
    }
}

impl SubTest for RunTest {
    fn kind(&self) -> &'static str {
        "run"
    }

    fn run(&self, file: &TestFile, command: &TestCommand) -> Outcome {
        self.run_targets(file, command).0
    }

    fn run_targets(&self, file: &TestFile, _: &TestCommand) -> (Outcome, Vec<TargetResult>) {
        // JIT code runs on a thread with a large stack; a panic there is a
        // failure of this file.
        std::thread::scope(|s| {
            let h = std::thread::Builder::new()
                .name("kiln-test-run".into())
                .stack_size(RUN_STACK_BYTES)
                .spawn_scoped(s, || {
                    run_file_targets_with(file, self.only_isa.as_deref(), &self.overrides)
                });
            match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    (
                        Outcome::Fail(vec!["panic while running".into()]),
                        Vec::new(),
                    )
                }),
                Err(e) => (
                    Outcome::Fail(vec![format!("cannot start the run thread: {e}")]),
                    Vec::new(),
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(c: IsaChoice) -> String {
        match c {
            IsaChoice::Isa(i) => format!("isa {}", i.isa_flags()),
            IsaChoice::Skip(w) => format!("skip {w}"),
            IsaChoice::NotHere(w) => format!("not here {w}"),
            IsaChoice::Fail(w) => format!("fail {w}"),
            IsaChoice::Ignore(w) => format!("ignore {w}"),
        }
    }

    #[test]
    fn isa_choice_reasons() {
        let none: [(&str, Option<&str>); 0] = [];
        assert_eq!(
            reason(choose_isa("riscv64", none, &[], true)),
            "ignore target riscv64 is not supported"
        );
        // Under qemu when the cross tools are there, else not runnable here.
        let a64 = reason(choose_isa("aarch64", none, &[], true));
        if crate::qemu::tools_available() {
            assert!(a64.starts_with("isa aarch64"), "{a64}");
        } else {
            assert!(
                a64.starts_with("not here aarch64 needs qemu-aarch64"),
                "{a64}"
            );
        }
        assert_eq!(
            reason(choose_isa("x86_64", [("no_such_setting", None)], &[], true)),
            "fail setting no_such_setting: unknown setting `no_such_setting`"
        );
        assert!(
            reason(choose_isa("x86_64", none, &["has_lse".to_string()], true))
                .starts_with("fail target x86_64 flag has_lse")
        );
        if IsaFlags::host().is_some_and(|h| h.has("has_avx")) {
            let r = reason(choose_isa(
                "x86_64",
                [("opt_level", Some("speed"))],
                &["has_avx".to_string()],
                true,
            ));
            assert!(r.starts_with("isa x86_64") && r.contains("has_avx"), "{r}");
            // Only the requested flags, not every host feature.
            assert!(!r.contains("has_avx512f"), "{r}");
        }
    }
}
