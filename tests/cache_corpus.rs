//! Acceptance tests of the compilation cache on the conformance corpus
//! (`../shared/clif/runtests`, or `$KILN_RUNTESTS`), with the real backend.
//!
//! For every function that compiles: the final code reloaded from the
//! cache equals a fresh compile byte for byte, including relocations (with
//! resolved names), traps, call sites and source locations; a renamed copy
//! hits and equals a fresh compile of the renamed function. For a few
//! entries: every single-byte corruption and every truncation of the stored
//! entry is rejected as a miss and recompiled correctly, and every
//! truncation / many corruptions of the payload alone never panic the
//! decoder.
//!
//! Until the x86-64 lowering is on main no function compiles, and the tests
//! check only that loading works (they print how many functions compiled).

use kiln::cache::compile::{decode_payload, encode_payload};
use kiln::cache::entry::decode_entry;
use kiln::cache::{
    cache_key, compile_with_cache, CacheKvStore, CacheOutcome, MemoryStore, COMPILER_VERSION,
};
use kiln::cli::bench_cache::{load_corpus, rename_params, BenchOptions};
use kiln::codegen::compiled::{CompiledCode, Final};
use kiln::codegen::isa::{compile_function, TargetIsa};
use kiln::codegen::serialize::deserialize_compiled;
use kiln::ir::Function;
use std::path::PathBuf;
use std::sync::Arc;

fn runtests_dir() -> PathBuf {
    let dir = std::env::var_os("KILN_RUNTESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/clif/runtests")
        });
    assert!(
        dir.is_dir(),
        "corpus {} not found: the shared corpus must sit beside the checkout (CI always has it)",
        dir.display()
    );
    dir
}

type Compiled = Vec<(Function, Arc<dyn TargetIsa>, CompiledCode<Final>)>;

/// Every corpus function that compiles, with its fresh final code.
fn compiled_corpus() -> Compiled {
    let dir = runtests_dir();
    let paths = kiln::filetests::collect_files(&[dir.display().to_string()]).unwrap();
    let opts = BenchOptions {
        opt_level: None,
        verify: true,
        ..BenchOptions::default()
    };
    let corpus = load_corpus(&paths, &opts);
    let total = corpus.funcs.len();
    let out: Compiled = corpus
        .funcs
        .into_iter()
        .filter_map(|(f, isa)| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                compile_function(&*isa, &f)
            }));
            match r {
                Ok(Ok(code)) => Some((f, isa, code)),
                _ => None,
            }
        })
        .collect();
    eprintln!(
        "{} of {total} corpus functions compile ({} files)",
        out.len(),
        corpus.files
    );
    out
}

#[test]
fn reloads_equal_fresh_compiles() {
    let corpus = compiled_corpus();
    let store = MemoryStore::new();
    let mut cold_hits = 0;
    for (f, isa, fresh) in &corpus {
        let (code, outcome) = compile_with_cache(&**isa, f, &store).unwrap();
        assert_eq!(&code, fresh, "{}", f.name);
        if outcome.is_hit() {
            cold_hits += 1; // a duplicate of an earlier function
        }
    }
    for (f, isa, fresh) in &corpus {
        let (code, outcome) = compile_with_cache(&**isa, f, &store).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit, "{}", f.name);
        assert_eq!(&code, fresh, "reload of {} differs", f.name);
    }
    for (f, isa, _) in &corpus {
        let mut g = f.clone();
        rename_params(&mut g, 77);
        let fresh = compile_function(&**isa, &g).unwrap();
        let (code, outcome) = compile_with_cache(&**isa, &g, &store).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit, "renamed {}", f.name);
        assert_eq!(code, fresh, "renamed reload of {} differs", f.name);
    }
    eprintln!("{} functions, {cold_hits} duplicates", corpus.len());
}

#[test]
fn damaged_entries_are_misses_and_recompiled() {
    let corpus = compiled_corpus();
    // A few entries with relocations, traps or srclocs first, then others.
    let mut picked: Vec<_> = corpus
        .iter()
        .filter(|(_, _, c)| !c.relocs.is_empty() || !c.traps.is_empty())
        .take(3)
        .collect();
    picked.extend(corpus.iter().take(2));
    for (f, isa, fresh) in picked {
        let store = MemoryStore::new();
        compile_with_cache(&**isa, f, &store).unwrap();
        let key = cache_key(&**isa, f);
        let good = store.get(&key).unwrap().into_owned();
        let good_payload = decode_entry(&key, COMPILER_VERSION, &good)
            .unwrap()
            .to_vec();
        let mut damaged: Vec<Vec<u8>> = (0..good.len())
            .map(|i| {
                let mut b = good.clone();
                b[i] ^= 0x5a;
                b
            })
            .collect();
        damaged.extend((0..good.len()).map(|n| good[..n].to_vec()));
        for bad in damaged {
            store.insert(&key, &bad);
            let (code, outcome) = compile_with_cache(&**isa, f, &store).unwrap();
            assert!(matches!(outcome, CacheOutcome::Rejected(_)), "{outcome:?}");
            assert_eq!(&code, fresh);
        }
        // The payload alone, without the envelope's checksum: every
        // truncation fails; corruptions never panic, and whatever decodes
        // re-encodes to the same bytes.
        let (verified, stencil_code) = decode_payload(&good_payload).unwrap();
        assert_eq!(encode_payload(&stencil_code, verified), good_payload);
        let body = &good_payload[1..];
        for n in 0..body.len() {
            assert!(deserialize_compiled(&body[..n]).is_err());
        }
        for i in 0..body.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = body.to_vec();
                b[i] ^= x;
                if let Ok(c) = deserialize_compiled(&b) {
                    assert_eq!(kiln::codegen::serialize::serialize_compiled(&c), b);
                }
            }
        }
    }
}

/// The icache property (`kiln_cache::icache::check`) over every corpus
/// function: with the real backend for those it compiles, and with the
/// mock backend for all (so keys, parameter changes and instruction
/// mutations are exercised on real functions even before lowering lands).
#[test]
fn icache_property_over_the_corpus() {
    let dir = runtests_dir();
    let paths = kiln::filetests::collect_files(&[dir.display().to_string()]).unwrap();
    let corpus = load_corpus(
        &paths,
        &BenchOptions {
            opt_level: None,
            verify: true,
            ..BenchOptions::default()
        },
    );
    let mock = kiln::cache::mock::MockIsa::new();
    let (mut real, mut mocked, mut renamed, mut mutated) = (0, 0, 0, 0);
    for ((f, isa), name) in corpus.funcs.iter().zip(&corpus.names) {
        let r = kiln::cache::icache::check(&**isa, f).unwrap_or_else(|e| panic!("{name}: {e}"));
        real += usize::from(r.compiled);
        let m =
            kiln::cache::icache::check(&mock, f).unwrap_or_else(|e| panic!("{name} (mock): {e}"));
        mocked += usize::from(m.compiled);
        renamed += usize::from(m.renamed_names);
        mutated += usize::from(m.mutated);
    }
    eprintln!(
        "icache: {} functions; real backend {real}, mock {mocked} (with user names {renamed}, mutated {mutated})",
        corpus.funcs.len()
    );
    assert!(mocked > 2000 && renamed > 20 && mutated > 1000);
}

/// Two processes compile the corpus into one `DirectoryStore` at once
/// through `compile_with_cache`: no error, no rejected (torn) entry, and
/// afterwards every function reloads to its fresh code. The test re-runs
/// its own binary with `KILN_CACHE_CORPUS_CHILD` set.
#[test]
fn two_processes_fill_one_directory_store_with_real_code() {
    use kiln::cache::DirectoryStore;
    if let Ok(dir) = std::env::var("KILN_CACHE_CORPUS_CHILD") {
        let store = DirectoryStore::new(dir);
        for (f, isa, fresh) in compiled_corpus().iter().take(400) {
            let (code, _) = compile_with_cache(&**isa, f, &store).unwrap();
            assert_eq!(&code, fresh);
        }
        let s = store.stats().snapshot();
        assert_eq!((s.rejected(), s.store_errors), (0, 0), "{s}");
        return;
    }
    let corpus = compiled_corpus();
    assert!(!corpus.is_empty(), "no corpus function compiled");
    let dir = std::env::temp_dir().join(format!("kiln-corpus-2proc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().unwrap();
    let spawn = || {
        std::process::Command::new(&exe)
            .args([
                "--exact",
                "two_processes_fill_one_directory_store_with_real_code",
            ])
            .env("KILN_CACHE_CORPUS_CHILD", &dir)
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let store = DirectoryStore::new(&dir);
    for (f, isa, fresh) in corpus.iter().take(400) {
        let (code, outcome) = compile_with_cache(&**isa, f, &store).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit, "{}", f.name);
        assert_eq!(&code, fresh);
    }
    let usage = store.disk_usage().unwrap();
    assert_eq!(usage.temp_files, 0);
    assert!(usage.entries > 300, "{usage}");
    let _ = std::fs::remove_dir_all(&dir);
}
