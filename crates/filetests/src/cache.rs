//! `test cache`: hit/miss expectations of the compilation cache.
//!
//! The file's functions are compiled in order through ONE [`MemoryStore`]
//! with [`compile_with_cache`], once per `target` line (the host's x86-64
//! when there is none). The store is shared by all the file's target
//! lines, so a file with several (`target x86_64`, `target aarch64`,
//! `target aarch64 sign_return_address`) also checks that their keys
//! differ: an expected miss on a later target would otherwise be served
//! the earlier target's code. A function followed by a
//! comment line `; cache: hit` must be served from the cache (an earlier
//! function of the file had the same stencil); `; cache: miss` must be
//! compiled. Functions without such a line are compiled and not checked.
//! Every hit is also compared with a fresh compile of the same function:
//! the final code (bytes, relocations with their resolved names, traps,
//! call sites, absolute source locations) must be identical.
//!
//! A function the backend does not support skips the file with the
//! backend's reason; any other compile error fails it, and so does a bad
//! setting or flag (named). Every target must run for a PASS; a file
//! without any `; cache:` line checks nothing and is SKIP.

use crate::{Outcome, SubTest};
use kiln_cache::{compile_with_cache, CacheOutcome, MemoryStore};
use kiln_codegen::isa::{compile_function, IsaBuilder, TargetIsa, Unknown};
use kiln_codegen::result::CodegenError;
use kiln_codegen::settings::Arch;
use kiln_reader::{Comment, Setting, TestCommand, TestFile};
use std::sync::Arc;

/// What a function's comments say must happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Hit,
    Miss,
}

/// The `; cache: hit|miss` expectation among `comments`, or an error for
/// a malformed or repeated one.
pub fn expectation(comments: &[Comment]) -> Result<Option<Expect>, String> {
    let mut found = None;
    for c in comments {
        let Some(rest) = c.text.trim().strip_prefix("cache:") else {
            continue;
        };
        let e = match rest.trim() {
            "hit" => Expect::Hit,
            "miss" => Expect::Miss,
            other => {
                return Err(format!(
                    "line {}: `cache: {other}`: expected `cache: hit` or `cache: miss`",
                    c.line
                ))
            }
        };
        if found.replace(e).is_some() {
            return Err(format!("line {}: a second cache expectation", c.line));
        }
    }
    Ok(found)
}

/// `test cache`. [`CacheTest::with_isa`] replaces the file's targets by
/// one given ISA (for testing the subtest itself).
#[derive(Default)]
pub struct CacheTest {
    isa: Option<Arc<dyn TargetIsa>>,
}

impl CacheTest {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_isa(isa: Arc<dyn TargetIsa>) -> Self {
        CacheTest { isa: Some(isa) }
    }
}

fn settings_iter(s: &[Setting]) -> impl Iterator<Item = (&str, Option<&str>)> {
    s.iter().map(|s| (s.name.as_str(), s.value.as_deref()))
}

/// Why a target has no ISA.
enum NoIsa {
    /// A target or setting value Kiln does not implement: the reason.
    Skip(String),
    /// A bad setting or flag: the error, naming it.
    Fail(String),
}

/// The ISA for `arch` with `set` settings and `target` words.
fn build_isa<'a>(
    arch: &str,
    settings: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    words: &[String],
) -> Result<Box<dyn TargetIsa>, NoIsa> {
    let a =
        Arch::parse(arch).ok_or_else(|| NoIsa::Skip(format!("target {arch} is not supported")))?;
    let mut b = IsaBuilder::new(a);
    b.settings(settings, Unknown::Reject)
        .and_then(|b| b.target_words(words, Unknown::Reject))
        .map_err(|e| NoIsa::Fail(e.to_string()))?;
    b.finish().map_err(|e| match e {
        CodegenError::Unsupported { what } => NoIsa::Skip(format!("unsupported: {what}")),
        e => NoIsa::Fail(e.to_string()),
    })
}

/// An ISA, or why there is none.
type IsaOrSkip = Result<Arc<dyn TargetIsa>, NoIsa>;

/// Every (label, ISA) the file asks for.
fn targets(file: &TestFile) -> Vec<(String, IsaOrSkip)> {
    if file.targets.is_empty() {
        return vec![(
            "target x86_64".to_string(),
            build_isa("x86_64", settings_iter(&file.settings), &[]).map(Arc::from),
        )];
    }
    file.targets
        .iter()
        .map(|t| {
            (
                std::iter::once(format!("target {}", t.isa))
                    .chain(t.flags.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
                build_isa(&t.isa, settings_iter(&t.settings), &t.flags).map(Arc::from),
            )
        })
        .collect()
}

/// Runs the file's functions through `store` on `isa`.
fn run_on(file: &TestFile, isa: &dyn TargetIsa, label: &str, store: &MemoryStore) -> Outcome {
    let mut fails = Vec::new();
    for f in &file.functions {
        let name = f.func.name.to_string();
        let expect = match expectation(&f.comments) {
            Ok(e) => e,
            Err(e) => {
                fails.push(format!("{name}: {e}"));
                continue;
            }
        };
        let (code, outcome) = match compile_with_cache(isa, &f.func, store) {
            Ok(r) => r,
            Err(CodegenError::Unsupported { what }) => {
                return Outcome::Skip(format!("{label}: {name}: unsupported: {what}"))
            }
            Err(e) => {
                fails.push(format!("{name} ({label}): {e}"));
                continue;
            }
        };
        let got = if outcome.is_hit() {
            Expect::Hit
        } else {
            Expect::Miss
        };
        if let CacheOutcome::Rejected(e) = outcome {
            // A memory store filled by this file never holds a damaged entry.
            fails.push(format!("{name} ({label}): entry rejected: {e}"));
        }
        if let Some(want) = expect {
            if want != got {
                fails.push(format!(
                    "{name} ({label}): expected cache {}, got {}",
                    word(want),
                    word(got)
                ));
            }
        }
        if got == Expect::Hit {
            match compile_function(isa, &f.func) {
                Ok(fresh) if fresh == code => {}
                Ok(fresh) => fails.push(format!(
                    "{name} ({label}): the reloaded code differs from a fresh compile\n  \
                     reloaded: {code:?}\n  fresh:    {fresh:?}"
                )),
                Err(e) => fails.push(format!(
                    "{name} ({label}): hit, but a fresh compile fails: {e}"
                )),
            }
        }
    }
    if fails.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(fails)
    }
}

fn word(e: Expect) -> &'static str {
    match e {
        Expect::Hit => "hit",
        Expect::Miss => "miss",
    }
}

impl SubTest for CacheTest {
    fn kind(&self) -> &'static str {
        "cache"
    }

    fn run(&self, file: &TestFile, _: &TestCommand) -> Outcome {
        if let Some(isa) = &self.isa {
            return run_on(file, &**isa, "given ISA", &MemoryStore::new());
        }
        let expectations = file
            .functions
            .iter()
            .any(|f| !matches!(expectation(&f.comments), Ok(None)));
        if !expectations {
            return Outcome::Skip("no `; cache: hit|miss` line: nothing to check".into());
        }
        let mut fails = Vec::new();
        let mut skips = Vec::new();
        let store = MemoryStore::new();
        for (label, isa) in targets(file) {
            match isa {
                Err(NoIsa::Skip(reason)) => skips.push(format!("{label}: {reason}")),
                Err(NoIsa::Fail(e)) => fails.push(format!("{label}: {e}")),
                Ok(isa) => match run_on(file, &*isa, &label, &store) {
                    Outcome::Pass => {}
                    Outcome::Fail(f) => fails.extend(f),
                    Outcome::Skip(reason) => skips.push(reason),
                },
            }
        }
        // Every target must run: a target that could not is a skip of the
        // kind, never hidden behind one that passed.
        if !fails.is_empty() {
            Outcome::Fail(fails)
        } else if !skips.is_empty() {
            Outcome::Skip(skips.join("; "))
        } else {
            Outcome::Pass
        }
    }
}
