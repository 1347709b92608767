//! Kiln's filetest runner (`kiln test PATH...`).
//!
//! Collects `.clif` files from files and folders (sorted), parses each file
//! once, runs every `test <kind>` line of the file with the subtest
//! registered for that kind, and reports one line per file: `PASS path`,
//! `FAIL path` (with indented messages) or `SKIP path: reason`. Files run in
//! parallel on `available_parallelism` threads; a panic while testing a
//! file is a FAIL of that file.
//!
//! Verdicts are per kind, then per file ([`fold_kinds`], `docs/testing.md`):
//! a file is PASS only when every kind it lists ran and passed; FAIL when
//! one failed; otherwise SKIP with the reason of every kind that did not
//! pass (a kind with no implementation is skipped with that reason). After
//! the file lines come the per-kind counts
//! (`run: N passed, N failed, N skipped; interpret: ...`), the per-target
//! counts of `test run` (`run targets: x86_64: N passed, N failed, N
//! unsupported, N not runnable here; ...`) and, last, the closing line
//! `N passed, N failed, N skipped` (files; CI scripts read it).
//!
//! Built in: `test cat` and `test verifier`. Other kinds plug in through
//! [`SubTest`] and [`Runner::register`]; for `; run:` lines they use
//! [`check_run_directives`].

pub mod cache;
pub mod compile;
pub mod divergences;
pub mod filecheck;
pub mod floors;
pub mod interpret;
pub mod optimize;
mod overrides;
pub mod qemu;
pub mod run;
pub mod unwind;

use kiln_ir::{DataValue, Function, Inst};
use kiln_reader::{Comparison, ParsedFunction, RunCommand, RunDirective, TestCommand, TestFile};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The result of one subtest on one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// Failure messages, one per problem.
    Fail(Vec<String>),
    /// Not applicable here (e.g. a target this host cannot run).
    Skip(String),
}

/// A kind of test (`test cat`, `test interpret`, ...).
pub trait SubTest: Send + Sync {
    /// The kind word after `test`.
    fn kind(&self) -> &'static str;
    /// Runs the subtest on every function of `file`.
    fn run(&self, file: &TestFile, command: &TestCommand) -> Outcome;
    /// [`SubTest::run`] with the verdict of each `target` line, for kinds
    /// that judge targets separately (`test run`); others report none.
    fn run_targets(
        &self,
        file: &TestFile,
        command: &TestCommand,
    ) -> (Outcome, Vec<run::TargetResult>) {
        (self.run(file, command), Vec::new())
    }
}

/// The set of subtests `kiln test` knows.
pub struct Runner {
    subtests: Vec<Box<dyn SubTest>>,
    /// `--set`/`--opt` settings applied over every file's (`overrides.rs`).
    overrides: Vec<kiln_reader::Setting>,
    /// `--set` words that are ISA flags, for the targets that know them.
    isa_overrides: Vec<overrides::IsaOverride>,
}

impl Default for Runner {
    fn default() -> Self {
        Self::with_builtin()
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileResult {
    Pass,
    Fail(Vec<String>),
    Skip(String),
}

/// The outcome of one listed kind of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindResult {
    /// The kind word (`run`, `interpret`, ...).
    pub kind: String,
    pub outcome: Outcome,
    /// Per-target verdicts (`test run` only).
    pub targets: Vec<run::TargetResult>,
}

/// Every kind's result for one file, and the file's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    pub kinds: Vec<KindResult>,
    pub verdict: FileResult,
}

impl FileReport {
    fn of(verdict: FileResult) -> Self {
        FileReport {
            kinds: Vec::new(),
            verdict,
        }
    }

    /// The outcome of `kind` in this file, if it listed that kind.
    pub fn kind(&self, kind: &str) -> Option<&Outcome> {
        self.kinds
            .iter()
            .find(|k| k.kind == kind)
            .map(|k| &k.outcome)
    }
}

/// Passed/failed/skipped counts (of files, or of one kind's files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail(_) => self.failed += 1,
            Outcome::Skip(_) => self.skipped += 1,
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Target-line counts of one ISA under `test run`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetCounts {
    pub passed: usize,
    pub failed: usize,
    /// Runnable here, not supported by Kiln yet.
    pub unsupported: usize,
    /// Not runnable on this machine.
    pub not_here: usize,
}

impl std::fmt::Display for TargetCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} unsupported, {} not runnable here",
            self.passed, self.failed, self.unsupported, self.not_here
        )
    }
}

/// Totals of a run: files (the closing line), per kind, and per target
/// ISA of `test run`, in first-seen order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub kinds: Vec<(String, Counts)>,
    pub run_targets: Vec<(String, TargetCounts)>,
}

impl Summary {
    /// The counts of one kind (zero if no file listed it).
    pub fn kind(&self, kind: &str) -> Counts {
        self.kinds
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }

    /// The `test run` target-line counts of one ISA.
    pub fn run_target(&self, isa: &str) -> TargetCounts {
        self.run_targets
            .iter()
            .find(|(k, _)| k == isa)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }

    /// Counts one file's report.
    pub fn add(&mut self, r: &FileReport) {
        match &r.verdict {
            FileResult::Pass => self.passed += 1,
            FileResult::Fail(_) => self.failed += 1,
            FileResult::Skip(_) => self.skipped += 1,
        }
        for k in &r.kinds {
            let i = match self.kinds.iter().position(|(n, _)| *n == k.kind) {
                Some(i) => i,
                None => {
                    self.kinds.push((k.kind.clone(), Counts::default()));
                    self.kinds.len() - 1
                }
            };
            self.kinds[i].1.add(&k.outcome);
            if k.kind != "run" {
                continue;
            }
            for t in &k.targets {
                let i = match self.run_targets.iter().position(|(n, _)| n == t.isa()) {
                    Some(i) => i,
                    None => {
                        self.run_targets
                            .push((t.isa().to_string(), TargetCounts::default()));
                        self.run_targets.len() - 1
                    }
                };
                let c = &mut self.run_targets[i].1;
                match t.verdict {
                    run::TargetVerdict::Passed => c.passed += 1,
                    run::TargetVerdict::Failed(_) => c.failed += 1,
                    run::TargetVerdict::Unsupported(_) => c.unsupported += 1,
                    run::TargetVerdict::NotHere(_) => c.not_here += 1,
                }
            }
        }
    }

    /// The per-kind line, the `test run` per-target line (if any target
    /// was seen) and the closing line, each ending with a newline.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        if !self.kinds.is_empty() {
            let parts: Vec<String> = self
                .kinds
                .iter()
                .map(|(k, c)| format!("{k}: {c}"))
                .collect();
            out.push_str(&parts.join("; "));
            out.push('\n');
        }
        if !self.run_targets.is_empty() {
            let mut targets = self.run_targets.clone();
            targets.sort_by(|a, b| a.0.cmp(&b.0));
            let parts: Vec<String> = targets.iter().map(|(k, c)| format!("{k}: {c}")).collect();
            out.push_str(&format!("run targets: {}\n", parts.join("; ")));
        }
        out.push_str(&format!(
            "{} passed, {} failed, {} skipped\n",
            self.passed, self.failed, self.skipped
        ));
        out
    }
}

/// A file's verdict from its kinds' outcomes: FAIL if any kind failed
/// (with every message, prefixed `test KIND:`); PASS if every kind passed;
/// otherwise SKIP with the reason of every kind that did not pass, and the
/// kinds that did pass named at the end (`[passed: run]`).
pub fn fold_kinds(kinds: &[KindResult]) -> FileResult {
    let mut failures = Vec::new();
    let mut skips = Vec::new();
    let mut passed = Vec::new();
    for k in kinds {
        match &k.outcome {
            Outcome::Pass => passed.push(k.kind.as_str()),
            Outcome::Fail(msgs) => {
                failures.extend(msgs.iter().map(|m| format!("test {}: {m}", k.kind)))
            }
            Outcome::Skip(why) => skips.push(format!("test {}: {why}", k.kind)),
        }
    }
    if !failures.is_empty() {
        FileResult::Fail(failures)
    } else if skips.is_empty() && !passed.is_empty() {
        FileResult::Pass
    } else if skips.is_empty() {
        FileResult::Skip("no test kind".into())
    } else {
        let mut why = skips.join("; ");
        if !passed.is_empty() {
            why.push_str(&format!(" [passed: {}]", passed.join(", ")));
        }
        FileResult::Skip(why)
    }
}

impl Runner {
    /// A runner with no subtests.
    pub fn empty() -> Self {
        Runner {
            subtests: Vec::new(),
            overrides: Vec::new(),
            isa_overrides: Vec::new(),
        }
    }

    /// `test cat`, `test verifier`, `test interpret` and `test compile`.
    pub fn with_builtin() -> Self {
        let mut r = Self::empty();
        r.register(Box::new(CatTest));
        r.register(Box::new(VerifierTest));
        r.register(Box::new(cache::CacheTest::new()));
        r.register(Box::new(interpret::InterpretTest));
        r.register(Box::new(run::RunTest::default()));
        r.register(Box::new(compile::CompileTest));
        r.register(Box::new(optimize::OptimizeTest));
        r.register(Box::new(unwind::UnwindTest));
        r
    }

    /// Adds (or replaces) the subtest for its kind.
    pub fn register(&mut self, t: Box<dyn SubTest>) {
        self.subtests.retain(|s| s.kind() != t.kind());
        self.subtests.push(t);
    }

    fn find(&self, kind: &str) -> Option<&dyn SubTest> {
        self.subtests
            .iter()
            .find(|s| s.kind() == kind)
            .map(|b| &**b)
    }

    /// Tests one file's text. `only` restricts to one test kind.
    pub fn run_text(&self, text: &str, path: &str, only: Option<&str>) -> FileResult {
        self.report_text(text, path, only).verdict
    }

    /// [`Runner::run_text`] with every kind's outcome.
    pub fn report_text(&self, text: &str, path: &str, only: Option<&str>) -> FileReport {
        let mut file = match kiln_reader::parse_test(text, path) {
            Ok(f) => f,
            Err(e) => return FileReport::of(FileResult::Fail(vec![e.to_string()])),
        };
        overrides::apply(&mut file, &self.overrides, &self.isa_overrides);
        let mut commands: Vec<&TestCommand> = file
            .commands
            .iter()
            .filter(|c| only.is_none_or(|k| c.kind == k))
            .collect();
        // `--test interpret` on a file that only says `test run` asks for its
        // run lines to be checked by the interpreter, the reference semantics.
        let requested_interpret;
        if commands.is_empty() && only == Some("interpret") {
            if let Some(run) = file.commands.iter().find(|c| c.kind == "run") {
                requested_interpret = TestCommand {
                    kind: "interpret".to_string(),
                    options: Vec::new(),
                    line: run.line,
                };
                commands.push(&requested_interpret);
            }
        }
        if commands.is_empty() {
            return FileReport::of(FileResult::Skip(match only {
                Some(k) => format!("no `test {k}` line"),
                None => "no `test` line".into(),
            }));
        }
        // A header without functions checks nothing: never a PASS.
        if file.functions.is_empty() {
            return FileReport::of(FileResult::Skip("no functions to check".into()));
        }
        let mut kinds: Vec<KindResult> = Vec::new();
        for c in commands {
            let (outcome, targets) = match self.find(&c.kind) {
                // A panic in one kind is that kind's failure; the others
                // still run.
                Some(t) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    t.run_targets(&file, c)
                }))
                .unwrap_or_else(|payload| {
                    (Outcome::Fail(vec![panic_message(&*payload)]), Vec::new())
                }),
                None => (
                    Outcome::Skip(format!("test kind `{}` not supported yet", c.kind)),
                    Vec::new(),
                ),
            };
            // A kind listed twice (with different options) counts once,
            // with the worse outcome.
            match kinds.iter_mut().find(|k| k.kind == c.kind) {
                Some(k) => {
                    k.outcome = worse(std::mem::replace(&mut k.outcome, Outcome::Pass), outcome);
                    k.targets.extend(targets);
                }
                None => kinds.push(KindResult {
                    kind: c.kind.clone(),
                    outcome,
                    targets,
                }),
            }
        }
        let verdict = fold_kinds(&kinds);
        FileReport { kinds, verdict }
    }

    /// Tests one file, turning a panic into a failure.
    pub fn run_file(&self, path: &Path, only: Option<&str>) -> FileResult {
        self.report_file(path, only).verdict
    }

    /// [`Runner::run_file`] with every kind's outcome.
    pub fn report_file(&self, path: &Path, only: Option<&str>) -> FileReport {
        let text = match std::fs::read(path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return FileReport::of(FileResult::Fail(vec![format!("cannot read: {e}")])),
        };
        let name = path.display().to_string();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.report_text(&text, &name, only)
        })) {
            Ok(r) => r,
            Err(payload) => FileReport::of(FileResult::Fail(vec![panic_message(&*payload)])),
        }
    }

    /// Tests every `.clif` file under `paths` and writes the report to
    /// `out`. Missing paths are failures.
    pub fn run_paths(
        &self,
        paths: &[PathBuf],
        only: Option<&str>,
        out: &mut dyn Write,
    ) -> std::io::Result<Summary> {
        self.run_paths_with(paths, only, &|_, _| {}, out)
    }

    /// [`Runner::run_paths`], calling `on_done(index, path)` as each file
    /// finishes (progress display; the report is the same).
    pub fn run_paths_with(
        &self,
        paths: &[PathBuf],
        only: Option<&str>,
        on_done: &(dyn Fn(usize, &Path) + Sync),
        out: &mut dyn Write,
    ) -> std::io::Result<Summary> {
        let mut files = Vec::new();
        let mut missing = Vec::new();
        for p in paths {
            if p.is_dir() {
                collect_clif(p, &mut files);
            } else if p.is_file() {
                files.push(p.clone());
            } else {
                missing.push((p.clone(), unusable_path(p)));
            }
        }
        let results: Vec<FileReport> = self
            .report_all_timed(&files, only, on_done)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        let mut sum = Summary::default();
        for (p, why) in missing {
            writeln!(out, "FAIL {}", p.display())?;
            writeln!(out, "    {why}")?;
            sum.failed += 1;
        }
        for (path, r) in files.iter().zip(results) {
            sum.add(&r);
            match r.verdict {
                FileResult::Pass => {
                    writeln!(out, "PASS {}", path.display())?;
                }
                FileResult::Fail(msgs) => {
                    writeln!(out, "FAIL {}", path.display())?;
                    for m in msgs {
                        for l in m.lines() {
                            writeln!(out, "    {l}")?;
                        }
                    }
                }
                FileResult::Skip(why) => {
                    writeln!(out, "SKIP {}: {why}", path.display())?;
                }
            }
        }
        out.write_all(sum.lines().as_bytes())?;
        Ok(sum)
    }

    /// Runs files in parallel; verdicts in the order of `files`.
    pub fn run_all(&self, files: &[PathBuf], only: Option<&str>) -> Vec<FileResult> {
        self.report_all(files, only)
            .into_iter()
            .map(|r| r.verdict)
            .collect()
    }

    /// Runs files in parallel; reports in the order of `files`.
    pub fn report_all(&self, files: &[PathBuf], only: Option<&str>) -> Vec<FileReport> {
        self.report_all_timed(files, only, &|_, _| {})
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    /// [`Runner::report_all`] with each file's wall time, calling
    /// `on_done(index, path)` as each file finishes (from worker threads:
    /// progress display).
    pub fn report_all_timed(
        &self,
        files: &[PathBuf],
        only: Option<&str>,
        on_done: &(dyn Fn(usize, &Path) + Sync),
    ) -> Vec<(FileReport, std::time::Duration)> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(files.len().max(1));
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<(FileReport, std::time::Duration)>>> =
            Mutex::new(vec![None; files.len()]);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else {
                        break;
                    };
                    let t0 = std::time::Instant::now();
                    let r = self.report_file(path, only);
                    let took = t0.elapsed();
                    on_done(i, path);
                    if let Ok(mut g) = results.lock() {
                        g[i] = Some((r, took));
                    }
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    (
                        FileReport::of(FileResult::Fail(vec!["worker died".into()])),
                        std::time::Duration::ZERO,
                    )
                })
            })
            .collect()
    }
}

/// Why a path that is neither a folder nor a regular file cannot be tested.
pub fn unusable_path(p: &Path) -> &'static str {
    if p.exists() {
        "not a regular file or folder (a device, socket or pipe)"
    } else {
        "no such file or directory"
    }
}

/// `panic: message` for a caught panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".into());
    format!("panic: {msg}")
}

/// The worse of two outcomes of the same kind: FAIL over SKIP over PASS
/// (messages of two failures are kept together).
fn worse(a: Outcome, b: Outcome) -> Outcome {
    match (a, b) {
        (Outcome::Fail(mut x), Outcome::Fail(y)) => {
            x.extend(y);
            Outcome::Fail(x)
        }
        (f @ Outcome::Fail(_), _) | (_, f @ Outcome::Fail(_)) => f,
        (Outcome::Skip(x), Outcome::Skip(y)) => Outcome::Skip(format!("{x}; {y}")),
        (s @ Outcome::Skip(_), _) | (_, s @ Outcome::Skip(_)) => s,
        _ => Outcome::Pass,
    }
}

/// Expands file arguments — the one collector of the CLI and the bench
/// commands: `.clif` files, folders (recursive, sorted) and
/// `@list.txt` files (one path per line, `#` comments; relative paths are
/// tried against the list's folder and then its ancestors, as peer-bench
/// does).
pub fn collect_files(args: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for a in args {
        if let Some(list) = a.strip_prefix('@') {
            let list = PathBuf::from(list);
            let text = std::fs::read_to_string(&list)
                .map_err(|e| format!("reading list file {}: {e}", list.display()))?;
            let base = list.parent().unwrap_or(Path::new(".")).to_path_buf();
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let p = PathBuf::from(line);
                let resolved = if p.is_absolute() {
                    p
                } else {
                    let mut found = None;
                    let mut dir = Some(base.as_path());
                    while let Some(d) = dir {
                        let cand = d.join(&p);
                        if cand.exists() {
                            found = Some(cand);
                            break;
                        }
                        dir = d.parent();
                    }
                    found.ok_or_else(|| {
                        format!("{}: listed file {} not found", list.display(), p.display())
                    })?
                };
                push_path(&resolved, &mut out)?;
            }
        } else {
            push_path(Path::new(a), &mut out)?;
        }
    }
    Ok(out)
}

fn push_path(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if p.is_dir() {
        let mut v = Vec::new();
        collect_clif(p, &mut v);
        out.extend(v);
        Ok(())
    } else if p.exists() {
        out.push(p.to_path_buf());
        Ok(())
    } else {
        Err(format!("no such file or directory: {}", p.display()))
    }
}

/// Every `.clif` file under `dir`, sorted by path.
pub fn collect_clif(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut found = Vec::new();
    walk(dir, &mut found, 0);
    found.sort();
    out.extend(found);
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 64 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else {
            continue;
        };
        if ft.is_dir() {
            walk(&p, out, depth + 1);
        } else if p.extension().is_some_and(|x| x == "clif") {
            out.push(p);
        }
    }
}

// ----- test cat -----

/// `test cat`: prints every function; with filecheck directives the output
/// must match them, and in every case printing is a fixed point
/// (print → parse → print gives the same text).
pub struct CatTest;

impl SubTest for CatTest {
    fn kind(&self) -> &'static str {
        "cat"
    }

    fn run(&self, file: &TestFile, _: &TestCommand) -> Outcome {
        let mut fails = Vec::new();
        let global = match filecheck::directives(&file.preamble_comments) {
            Ok(d) => d,
            Err(e) => return Outcome::Fail(vec![e]),
        };
        for f in &file.functions {
            let name = f.func.name.to_string();
            let printed = f.func.to_string();
            if let Err(e) = fixed_point(&printed) {
                fails.push(format!("{name}: {e}"));
                continue;
            }
            let mut dirs = global.clone();
            match filecheck::directives(&f.comments) {
                Ok(d) => dirs.extend(d),
                Err(e) => {
                    fails.push(format!("{name}: {e}"));
                    continue;
                }
            }
            if let Err(e) = filecheck::check(&printed, &dirs) {
                fails.push(format!("{name}: {e}\noutput:\n{printed}"));
            }
        }
        if fails.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(fails)
        }
    }
}

/// Checks that `printed` parses to one function that prints identically.
pub fn fixed_point(printed: &str) -> Result<(), String> {
    let again = kiln_reader::parse_functions(printed)
        .map_err(|e| format!("printed text does not parse: {e}"))?;
    let [g] = &again[..] else {
        return Err(format!("printed text holds {} functions", again.len()));
    };
    let second = g.to_string();
    if second != printed {
        return Err(format!(
            "printing is not a fixed point:\n{}",
            line_diff(printed, &second)
        ));
    }
    Ok(())
}

/// The first differing lines of two texts, for messages.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    let n = e.len().max(a.len());
    let mut shown = 0;
    for i in 0..n {
        let (x, y) = (e.get(i), a.get(i));
        if x != y {
            out.push_str(&format!(
                "line {}:\n-{}\n+{}\n",
                i + 1,
                x.unwrap_or(&"<none>"),
                y.unwrap_or(&"<none>")
            ));
            shown += 1;
            if shown == 5 {
                out.push_str("...\n");
                break;
            }
        }
    }
    out
}

// ----- test verifier -----

/// `test verifier`: a function without `; error:` annotations must verify;
/// with annotations, every annotated substring must appear in an error
/// reported at the annotated instruction, and no other error may appear.
pub struct VerifierTest;

impl SubTest for VerifierTest {
    fn kind(&self) -> &'static str {
        "verifier"
    }

    fn run(&self, file: &TestFile, _: &TestCommand) -> Outcome {
        let fails: Vec<String> = file
            .functions
            .iter()
            .flat_map(check_verifier_annotations)
            .collect();
        if fails.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(fails)
        }
    }
}

/// Whether a verifier error's location names `inst` (or one of its results).
fn error_is_at(func: &Function, inst: Inst, location: &str) -> bool {
    location == inst.to_string()
        || func
            .dfg
            .inst_results(inst)
            .iter()
            .any(|v| v.to_string() == location)
}

/// Compares the verifier's findings for one function with its annotations.
pub fn check_verifier_annotations(f: &ParsedFunction) -> Vec<String> {
    let name = f.func.name.to_string();
    let errors = match kiln_ir::verifier::verify_function(&f.func) {
        Ok(()) => Vec::new(),
        Err(e) => e.0,
    };
    let mut fails = Vec::new();
    let mut used = vec![false; f.error_annotations.len()];
    for e in &errors {
        let described = format!(
            "{}{}: {}",
            e.location,
            e.context
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            e.message
        );
        let at = |a: &kiln_reader::ErrorAnnotation| match a.inst {
            Some(i) => error_is_at(&f.func, i, &e.location),
            None => true,
        };
        let hit = f
            .error_annotations
            .iter()
            .enumerate()
            .find(|(_, a)| at(a) && e.message.contains(&a.message));
        match hit {
            Some((i, _)) => used[i] = true,
            None => {
                let near = f.error_annotations.iter().find(|a| at(a));
                match near {
                    Some(a) => fails.push(format!(
                        "{name}: line {}: the error reported here does not contain `{}`: {described}",
                        a.line, a.message
                    )),
                    None => fails.push(format!("{name}: unexpected verifier error: {described}")),
                }
            }
        }
    }
    for (a, u) in f.error_annotations.iter().zip(used) {
        if !u {
            fails.push(format!(
                "{name}: line {}: expected a verifier error containing `{}`, none reported there",
                a.line, a.message
            ));
        }
    }
    fails
}

// ----- run directives -----

/// Runs a function (named without `%`) on arguments; returns its results.
pub type Exec<'a> = dyn FnMut(&str, &[DataValue]) -> Result<Vec<DataValue>, String> + 'a;

/// A failed `; run:` check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub line: usize,
    pub message: String,
}

/// Values as `; run:` lines write them: one bare, several in brackets.
pub fn show_values(vs: &[DataValue]) -> String {
    let parts: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
    if vs.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

/// Evaluates `directives` with `exec` (which runs a function, named
/// without `%`, on arguments and returns its results), comparing results
/// with `bitwise_eq`. Each failure message reads
/// `path:line: %f(args): expected X, got Y`, values in CLIF literal syntax.
/// `; print:` directives are executed; only errors are reported.
pub fn check_run_directives(
    path: &str,
    directives: &[RunDirective],
    exec: &mut Exec<'_>,
) -> Vec<Failure> {
    let mut out = Vec::new();
    for d in directives {
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
        let fail = |msg: String| Failure {
            line: d.line,
            message: format!("{path}:{}: {call}: {msg}", d.line),
        };
        let got = match exec(func, args) {
            Ok(r) => r,
            Err(e) => {
                out.push(fail(e));
                continue;
            }
        };
        match &d.command {
            RunCommand::Run {
                comparison,
                expected,
                ..
            } => {
                let equal = got.len() == expected.len()
                    && got.iter().zip(expected).all(|(a, b)| a.bitwise_eq(b));
                match comparison {
                    Comparison::Equal if !equal => out.push(fail(format!(
                        "expected {}, got {}",
                        show_values(expected),
                        show_values(&got)
                    ))),
                    Comparison::NotEqual if equal => out.push(fail(format!(
                        "expected not {}, got {}",
                        show_values(expected),
                        show_values(&got)
                    ))),
                    _ => {}
                }
            }
            RunCommand::RunTruthy { .. } => {
                let truthy = matches!(&got[..], [v] if v.as_i128().is_some_and(|x| x != 0));
                if !truthy {
                    out.push(fail(format!(
                        "expected a non-zero result, got {}",
                        show_values(&got)
                    )));
                }
            }
            RunCommand::Print { .. } => {}
        }
    }
    out
}

/// Evaluates the run directives of every function of `file`; directives
/// that failed to parse are failures too.
pub fn check_file_run_directives(file: &TestFile, exec: &mut Exec<'_>) -> Vec<Failure> {
    let mut out = Vec::new();
    for f in &file.functions {
        for e in &f.directive_errors {
            out.push(Failure {
                line: e.line,
                message: e.to_string(),
            });
        }
        // Like Cranelift, a directive runs the function it follows, whatever
        // name it spells (the corpus has directives that misname theirs).
        let own_name = match &f.func.name {
            kiln_ir::UserFuncName::Testcase(t) => t.as_str().to_string(),
            other => other.to_string(),
        };
        let mut own = |_: &str, args: &[DataValue]| exec(&own_name, args);
        out.extend(check_run_directives(
            &file.path,
            &f.run_directives,
            &mut own,
        ));
    }
    out
}

// ----- precise output -----

/// Whether `KILN_TEST_BLESS=1` asks to rewrite expectations.
pub fn bless_requested() -> bool {
    std::env::var("KILN_TEST_BLESS").is_ok_and(|v| v == "1")
}

/// Compares a function's expectation block with `actual` (line by line,
/// trailing whitespace ignored).
pub fn compare_expectation(f: &ParsedFunction, actual: &str) -> Result<(), String> {
    let expected: Vec<String> = f
        .expected_output
        .as_ref()
        .map(|e| e.lines.iter().map(|l| l.trim_end().to_string()).collect())
        .unwrap_or_default();
    let actual_lines: Vec<String> = actual.lines().map(|l| l.trim_end().to_string()).collect();
    if expected == actual_lines {
        Ok(())
    } else {
        Err(format!(
            "precise output mismatch (rerun with KILN_TEST_BLESS=1 to update):\n{}",
            line_diff(&expected.join("\n"), &actual_lines.join("\n"))
        ))
    }
}

/// A new expectation block for the function ending at `end_line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectationEdit {
    /// Line of the function's closing `}`.
    pub end_line: usize,
    /// Lines of the current block (inclusive), if there is one.
    pub replace: Option<(usize, usize)>,
    pub actual: String,
}

impl ExpectationEdit {
    pub fn for_function(f: &ParsedFunction, actual: &str) -> Self {
        ExpectationEdit {
            end_line: f.locations.end_line,
            replace: f
                .expected_output
                .as_ref()
                .map(|e| (e.first_line, e.last_line)),
            actual: actual.to_string(),
        }
    }
}

/// Applies expectation edits to a file's text (edits may come in any
/// order; line numbers refer to the original text).
pub fn apply_expectation_edits(text: &str, edits: &[ExpectationEdit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut edits: Vec<&ExpectationEdit> = edits.iter().collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.end_line));
    for e in edits {
        let block: Vec<String> = e
            .actual
            .lines()
            .map(|l| {
                if l.is_empty() {
                    ";".to_string()
                } else {
                    format!("; {l}")
                }
            })
            .collect();
        let (start, end) = match e.replace {
            Some((first, last)) => (first - 1, last.min(lines.len())),
            None => (e.end_line.min(lines.len()), e.end_line.min(lines.len())),
        };
        lines.splice(start..end.max(start), block);
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Rewrites `path` with the edits applied.
pub fn bless_file(path: &Path, edits: &[ExpectationEdit]) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    std::fs::write(path, apply_expectation_edits(&text, edits))
}
