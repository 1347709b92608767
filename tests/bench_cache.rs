//! `kiln bench cache` passes on a mock backend: every warm and renamed
//! lookup hits with code equal to a fresh compile, one edit is one miss,
//! and the RESULT line carries peer-bench's fields.

use kiln::cache::mock::MockIsa;
use kiln::cli::bench_cache::{
    bench, edit_one_inst, load_corpus, rename_params, report, BenchOptions,
};
use kiln::codegen::isa::TargetIsa;
use std::sync::Arc;

#[test]
fn passes_on_a_mock_backend() {
    // (Not edits.clif: there the edited %base becomes %immediate, which
    // is already stored, so the "edit" hits.)
    let paths = kiln::filetests::collect_files(&[
        "cranelift-like-ir/cache/names.clif".to_string(),
        "cranelift-like-ir/cache/srclocs.clif".to_string(),
    ])
    .unwrap();
    let corpus = load_corpus(&paths, &BenchOptions::default());
    assert!(corpus.parse_errors.is_empty(), "{:?}", corpus.parse_errors);
    let isa: Arc<dyn TargetIsa> = Arc::new(MockIsa::new());
    let funcs: Vec<_> = corpus
        .funcs
        .into_iter()
        .map(|(f, _)| (f, Arc::clone(&isa)))
        .collect();
    let n = funcs.len();
    let b = bench(funcs, corpus.names, 2);
    assert_eq!(b.funcs, n);
    assert_eq!(b.failed, 0);
    assert_eq!(b.errors, 0);
    // The files repeat functions on purpose, so a cold pass hits too.
    assert_eq!(b.cold_hits + b.cold_misses, n);
    assert!(b.cold_hits > 0);
    assert_eq!((b.warm_hits, b.warm_misses, b.warm_mismatches), (n, 0, 0));
    assert_eq!(
        (b.renamed_hits, b.renamed_misses, b.renamed_mismatches),
        (n, 0, 0)
    );
    assert!(b.edited.is_some());
    assert_eq!(b.edit_misses, 1);
    assert!(b.store_bytes > 0);
    let text = report(&b, "speed", 2);
    let result = text.lines().last().unwrap();
    for field in [
        "RESULT cache target=x86_64 opt=speed",
        "plain_s=",
        "cold_s=",
        "warm_s=",
        "miss_us=",
        "hit_us=",
        "hit_miss_ratio=",
        "total_ratio=",
        "warm_hit_rate=1.0000",
        "renamed_hit_rate=1.0000",
        "edit1_misses=1",
        "store_bytes=",
    ] {
        assert!(result.contains(field), "{field} missing: {result}");
    }
}

#[test]
fn rename_and_edit_helpers() {
    let text = std::fs::read_to_string("cranelift-like-ir/cache/names.clif").unwrap();
    let file = kiln::reader::parse_test(&text, "names.clif").unwrap();
    let f = &file.functions[0].func;
    let mut g = f.clone();
    rename_params(&mut g, 5);
    assert_ne!(g.name, f.name);
    let old: Vec<_> = f.params.user_named_funcs().collect();
    let new: Vec<_> = g.params.user_named_funcs().collect();
    assert_eq!(old.len(), new.len());
    for ((r1, n1), (r2, n2)) in old.iter().zip(&new) {
        assert_eq!(r1, r2);
        assert_ne!(n1, n2);
        assert_eq!(n2.index, n1.index + 5);
    }
    let isa = MockIsa::new();
    assert_eq!(
        kiln::cache::cache_key(&isa, f),
        kiln::cache::cache_key(&isa, &g)
    );
    let mut e = f.clone();
    assert!(edit_one_inst(&mut e));
    assert_ne!(
        kiln::cache::cache_key(&isa, f),
        kiln::cache::cache_key(&isa, &e)
    );
}

#[test]
fn cli_reports_no_functions_as_failure() {
    // The real backend does not lower yet (every function fails and is left
    // out) or, once it does, the corpus compiles: either way the command
    // runs and prints its header.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["bench", "cache", "--iters", "1", "cranelift-like-ir/cache"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("kiln bench cache:"), "{stdout}");
    assert!(stdout.contains("RESULT cache "), "{stdout}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["bench", "cache", "--frob"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn directory_store_gives_the_same_outcomes() {
    use kiln::cli::bench_cache::{bench_with_store, StoreKind};
    let paths = kiln::filetests::collect_files(&["cranelift-like-ir/cache/names.clif".to_string()])
        .unwrap();
    let corpus = load_corpus(&paths, &BenchOptions::default());
    let isa: Arc<dyn TargetIsa> = Arc::new(MockIsa::new());
    let funcs: Vec<_> = corpus
        .funcs
        .into_iter()
        .map(|(f, _)| (f, Arc::clone(&isa)))
        .collect();
    let n = funcs.len();
    let b = bench_with_store(funcs, corpus.names, 1, StoreKind::Directory);
    assert_eq!((b.funcs, b.failed, b.errors), (n, 0, 0));
    assert_eq!((b.warm_hits, b.warm_misses, b.warm_mismatches), (n, 0, 0));
    assert_eq!(
        (b.renamed_hits, b.renamed_misses, b.renamed_mismatches),
        (n, 0, 0)
    );
    assert!(b.store_entries > 0 && b.store_bytes > 0, "entries on disk");
}

#[test]
fn store_option_accepts_a_server_url_and_rejects_others() {
    use kiln::cli::bench_cache::{parse_store, StoreKind};
    assert_eq!(
        parse_store("redis://127.0.0.1:1/0"),
        Ok(StoreKind::Redis("redis://127.0.0.1:1/0".into()))
    );
    assert_eq!(parse_store("dir"), Ok(StoreKind::Directory));
    assert_eq!(parse_store("memory"), Ok(StoreKind::Memory));
    let err = parse_store("http://x").unwrap_err();
    assert!(err.contains("http://x"), "{err}");
}
