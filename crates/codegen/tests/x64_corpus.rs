//! Corpus compile tests of the x86-64 backend.
//!
//! * Every function of `../shared/clif/runtests` is compiled with the
//!   regalloc2 checker on; each must compile or fail with a clean error
//!   (never a panic). Unsupported reasons are counted and printed
//!   (`cargo test -p kiln-codegen --test x64_corpus -- --nocapture`).
//! * The same over the sql-wasm corpus with `preserve_frame_pointers`.
//!
//! The corpora live outside the repository; a missing corpus skips.

use kiln_codegen::isa::{self, TargetIsa};
use kiln_codegen::result::CodegenError;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn isa(checker: bool) -> Box<dyn TargetIsa> {
    let mut flags = Flags::default();
    flags.regalloc_checker = checker;
    flags.preserve_frame_pointers = true;
    isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("x64 backend")
}

#[derive(Default)]
struct Tally {
    files: usize,
    parse_errors: usize,
    functions: usize,
    compiled: usize,
    unsupported: BTreeMap<String, usize>,
    errors: Vec<String>,
    panics: Vec<String>,
    time: Duration,
    code_bytes: usize,
}

impl Tally {
    fn report(&self, name: &str) {
        let unsupported: usize = self.unsupported.values().sum();
        println!(
            "{name}: {} files ({} unparsable), {} functions: {} compiled, {} unsupported, {} errors, {} panics",
            self.files,
            self.parse_errors,
            self.functions,
            self.compiled,
            unsupported,
            self.errors.len(),
            self.panics.len()
        );
        if self.compiled > 0 {
            println!(
                "  compile time {:?} total, {:.1} us per compiled function, {} code bytes",
                self.time,
                self.time.as_secs_f64() * 1e6 / self.compiled as f64,
                self.code_bytes
            );
        }
        let mut reasons: Vec<_> = self.unsupported.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (what, n) in reasons.iter().take(40) {
            println!("  unsupported {n:5}  {what}");
        }
        for e in self.errors.iter().take(20) {
            println!("  ERROR {e}");
        }
        for p in self.panics.iter().take(20) {
            println!("  PANIC {p}");
        }
    }
}

fn clif_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(clif_files(&p));
        } else if p.extension().is_some_and(|x| x == "clif") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn run_corpus(dir: &Path, checker: bool) -> Option<Tally> {
    let files = clif_files(dir);
    if files.is_empty() {
        println!("corpus {} not found: skipped", dir.display());
        return None;
    }
    let isa = isa(checker);
    let mut t = Tally::default();
    for path in files {
        t.files += 1;
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let parsed = match kiln_reader::parse_test(&text, &path.to_string_lossy()) {
            Ok(p) => p,
            Err(_) => {
                t.parse_errors += 1;
                continue;
            }
        };
        for pf in parsed.functions {
            t.functions += 1;
            let start = Instant::now();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                isa.compile_stencil(&pf.func.stencil)
            }));
            let elapsed = start.elapsed();
            let where_ = format!("{} {}", path.display(), pf.func.name);
            match result {
                Ok(Ok(code)) => {
                    t.compiled += 1;
                    t.time += elapsed;
                    t.code_bytes += code.code.len();
                }
                Ok(Err(CodegenError::Unsupported { what })) => {
                    *t.unsupported.entry(what).or_default() += 1;
                }
                Ok(Err(e)) => t.errors.push(format!("{where_}: {e}")),
                Err(p) => {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    t.panics.push(format!("{where_}: {msg}"));
                }
            }
        }
    }
    Some(t)
}

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clif")
}

#[test]
fn runtests_compile_or_clean_error() {
    let Some(t) = run_corpus(&shared().join("runtests"), true) else {
        return;
    };
    t.report("runtests");
    assert!(t.panics.is_empty(), "panics: {:#?}", t.panics);
    assert!(t.errors.is_empty(), "errors: {:#?}", t.errors);
}

#[test]
fn wasm_corpus_compile_or_clean_error() {
    let Some(t) = run_corpus(&shared().join("wasm-corpus/sql-wasm"), true) else {
        return;
    };
    t.report("sql-wasm");
    assert!(t.panics.is_empty(), "panics: {:#?}", t.panics);
    assert!(t.errors.is_empty(), "errors: {:#?}", t.errors);
}
