//! Every cargo-fuzz target's corpus (`fuzz/corpus/<target>/`) replayed as
//! regression inputs through the same property functions the targets call
//! (`kiln_difftest::targets`), with no libFuzzer and no nightly. A target
//! without a corpus folder of its own is fed the reader corpus (as
//! fuzz/README.md says to seed it). Crashes found by fuzzing belong in the
//! corpus (and, fixed, in `cranelift-like-ir/`).

use kiln_difftest::{targets, Checker};
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Runs `f` on each input, naming the input that panics.
fn replay(target: &str, inputs: &[(PathBuf, Vec<u8>)], f: impl Fn(&[u8])) {
    for (path, bytes) in inputs {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(bytes))).is_err() {
            panic!("{target}: {} fails", path.display());
        }
    }
    eprintln!("{target}: {} inputs", inputs.len());
}

#[test]
fn reader_corpus() {
    replay("reader", &corpus("reader"), targets::reader);
}

#[test]
fn verifier_on_the_reader_corpus() {
    replay("verifier", &corpus("reader"), targets::verifier);
}

#[test]
fn icache_corpus() {
    let isa = targets::x64_isa();
    replay("icache", &corpus("icache"), |d| targets::icache(d, &*isa));
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[test]
fn differential_corpus() {
    let checker = Checker::host_default().unwrap();
    replay("differential", &corpus("differential"), |d| {
        targets::differential(d, &checker)
    });
}

/// Every target in fuzz/Cargo.toml has a replay above (a new target
/// without one fails here).
#[test]
fn every_target_is_replayed() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .unwrap();
    let names: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"'))
        .filter(|n| *n != "kiln-fuzz")
        .collect();
    assert_eq!(
        names,
        ["reader", "icache", "verifier", "differential"],
        "update tests/fuzz_corpus.rs for new fuzz targets"
    );
}
