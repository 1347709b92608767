//! What the x86-64 and aarch64 unwind checkers share: the corpus walk
//! (every `.clif` file under some folders, every function that compiles)
//! and the error report. Each checker brings its own decoder and machine
//! simulation.

use kiln_codegen::compiled::{CompiledCode, Stencil};
use kiln_codegen::isa::TargetIsa;
use std::path::{Path, PathBuf};

/// The function both checkers' control tests corrupt the unwind rows of:
/// two calls (so a frame with saves), a branch and two returns.
pub const CONTROL_FUNCTION: &str = "function %f(i64) -> i64 {
    fn0 = %g(i64) -> i64
block0(v0: i64):
    v1 = call fn0(v0)
    brif v1, block1, block2
block1:
    return v1
block2:
    v2 = call fn0(v1)
    v3 = iadd v0, v1
    v4 = iadd v3, v2
    return v4
}";

fn clif_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            clif_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "clif") {
            out.push(p);
        }
    }
}

/// Compiles every function under `dirs` with `isa` and checks it with
/// `check` (which returns the instruction boundaries it checked); returns
/// (functions checked, boundaries checked). Functions the ISA refuses are
/// not counted (the callers assert a minimum count); any check failure
/// fails the test with the first 20 reports.
pub fn check_corpus(
    dirs: &[PathBuf],
    isa: &dyn TargetIsa,
    check: impl Fn(&CompiledCode<Stencil>) -> Result<usize, String>,
) -> (usize, usize) {
    let mut files = Vec::new();
    for d in dirs {
        clif_files(d, &mut files);
    }
    assert!(!files.is_empty(), "no corpus under {dirs:?}");
    files.sort();
    let (mut funcs, mut bounds) = (0, 0);
    let mut errors = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(parsed) = kiln_reader::parse_test(&text, &path.to_string_lossy()) else {
            continue;
        };
        for pf in parsed.functions {
            let Ok(code) = isa.compile_stencil(&pf.func.stencil) else {
                continue;
            };
            assert!(!code.unwind.is_empty(), "{}: no unwind ops", pf.func.name);
            match check(&code) {
                Ok(n) => {
                    funcs += 1;
                    bounds += n;
                }
                Err(e) => errors.push(format!("{} {}: {e}", path.display(), pf.func.name)),
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} functions fail:\n{}",
        errors.len(),
        errors[..errors.len().min(20)].join("\n")
    );
    (funcs, bounds)
}

/// The repository root (`../shared` lies beside it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
