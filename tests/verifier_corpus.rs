//! Every function of the conformance corpus verifies cleanly: the
//! Cranelift runtests (`../shared/clif/runtests`, all files, every
//! function) and the wasm corpus (`../shared/clif/wasm-corpus`, 2,602
//! functions a real frontend produced). A verifier false positive on valid
//! input would make Kiln refuse code Cranelift accepts, so this test lists
//! every failure.
//!
//! The corpus lives beside the workspace (override with
//! `KILN_CLIF_CORPUS`); a missing directory is reported and skipped.

use std::path::{Path, PathBuf};

fn corpus_root() -> PathBuf {
    let root = match std::env::var_os("KILN_CLIF_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/clif"),
    };
    assert!(
        root.is_dir(),
        "corpus {} not found: the shared corpus must sit beside the checkout (CI always has it)",
        root.display()
    );
    root
}

fn clif_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            clif_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "clif") {
            out.push(p);
        }
    }
}

/// Parses and verifies every function under `sub`; returns (files,
/// functions) and panics listing every parse or verifier failure.
fn verify_dir(sub: &str) -> Option<(usize, usize)> {
    let dir = corpus_root().join(sub);
    if !dir.is_dir() {
        eprintln!("corpus directory {} not found: skipped", dir.display());
        return None;
    }
    let mut files = Vec::new();
    clif_files(&dir, &mut files);
    let mut functions = 0;
    let mut verify_time = std::time::Duration::ZERO;
    let mut parse_failures = Vec::new();
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable corpus file");
        let shown = path.display().to_string();
        let file = match kiln_reader::parse_test(&text, &shown) {
            Ok(f) => f,
            Err(e) => {
                parse_failures.push(format!("{shown}: {e}"));
                continue;
            }
        };
        for pf in &file.functions {
            functions += 1;
            let t = std::time::Instant::now();
            let result = kiln_ir::verifier::verify_function(&pf.func);
            verify_time += t.elapsed();
            if let Err(errs) = result {
                failures.push(format!("{shown}: function {}:\n{errs}", pf.func.name));
            }
        }
    }
    eprintln!(
        "{sub}: {} files, {functions} functions, {} verifier failures, {} parse failures, {:.1} ms verifying",
        files.len(),
        failures.len(),
        parse_failures.len(),
        verify_time.as_secs_f64() * 1e3
    );
    assert!(
        failures.is_empty(),
        "{} of {functions} functions in {sub} fail to verify:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        parse_failures.is_empty(),
        "{} files in {sub} do not parse (a reader problem, listed so the \
         verifier check is not silently partial):\n{}",
        parse_failures.len(),
        parse_failures.join("\n")
    );
    Some((files.len(), functions))
}

#[test]
fn runtests_verify_cleanly() {
    if let Some((files, functions)) = verify_dir("runtests") {
        assert!(files >= 392, "only {files} runtest files found");
        assert!(functions > files);
    }
}

#[test]
fn wasm_corpus_verifies_cleanly() {
    if let Some((files, functions)) = verify_dir("wasm-corpus") {
        assert!(files >= 2602, "only {files} wasm-corpus files found");
        assert!(functions >= 2602);
    }
}

#[test]
fn kernels_verify_cleanly() {
    verify_dir("kernels");
}
