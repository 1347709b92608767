//! `compile_with_cache` against a mock backend (see `mock/mod.rs`).

mod mock;

use kiln_cache::compile::{decode_payload, encode_payload};
use kiln_cache::entry::{decode_entry, encode_entry_timed, EntryError};
use kiln_cache::{
    cache_key, compile_with_cache, lookup, store_entry, CacheKvStore, CacheOutcome, CompileCache,
    DirectoryStore, MemoryStore, COMPILER_VERSION,
};
use kiln_codegen::compiled::FinalName;
use kiln_codegen::isa::{compile_function, TargetIsa};
use kiln_ir::{Opcode, SourceLoc, Type, UserExternalName, UserFuncName};
use mock::{build, MockIsa, Spec};
use std::sync::Arc;
use std::time::Duration;

fn fresh(
    isa: &MockIsa,
    spec: &Spec,
) -> kiln_codegen::compiled::CompiledCode<kiln_codegen::compiled::Final> {
    compile_function(isa, &build(spec)).expect("mock compiles")
}

#[test]
fn miss_then_hit_gives_identical_final_code() {
    let isa = MockIsa::new();
    let store = MemoryStore::new();
    let spec = Spec {
        testcase_callee: Some("helper"),
        ..Spec::default()
    };
    let f = build(&spec);
    let (cold, o1) = compile_with_cache(&isa, &f, &store).unwrap();
    assert_eq!(o1, CacheOutcome::Miss);
    let (warm, o2) = compile_with_cache(&isa, &f, &store).unwrap();
    assert_eq!(o2, CacheOutcome::Hit);
    assert_eq!(isa.compiles(), 1, "a hit must not compile");
    assert_eq!(cold, warm);
    assert_eq!(warm, fresh(&isa, &spec));
    // Everything is there: relocs (user and test-case), call sites, srclocs.
    assert_eq!(warm.relocs.len(), 2);
    assert_eq!(
        warm.relocs[0].target,
        FinalName::User(UserExternalName::new(0, 7))
    );
    assert!(matches!(&warm.relocs[1].target, FinalName::TestCase(n) if n.as_str() == "helper"));
    assert_eq!(warm.call_sites.len(), 2);
    assert_eq!(warm.srclocs[0].loc, SourceLoc::new(100));
    assert_eq!(warm.srclocs[1].loc, SourceLoc::new(104));
    let s = store.stats().snapshot();
    assert_eq!((s.hits, s.misses, s.stores), (1, 1, 1));
    assert!(s.time_saved > Duration::ZERO);
}

#[test]
fn traps_round_trip() {
    let isa = MockIsa::new();
    let store = MemoryStore::new();
    let spec = Spec {
        trap: true,
        ..Spec::default()
    };
    let f = build(&spec);
    let (cold, _) = compile_with_cache(&isa, &f, &store).unwrap();
    let (warm, o) = compile_with_cache(&isa, &f, &store).unwrap();
    assert_eq!(o, CacheOutcome::Hit);
    assert_eq!(cold.traps.len(), 1);
    assert_eq!(cold, warm);
}

#[test]
fn parameter_only_changes_hit_with_new_names_and_locations() {
    let isa = MockIsa::new();
    let store = MemoryStore::new();
    let base = Spec::default();
    compile_with_cache(&isa, &build(&base), &store).unwrap();
    let variants = [
        Spec {
            name: UserFuncName::user(3, 99),
            ..Spec::default()
        },
        Spec {
            name: UserFuncName::testcase("renamed"),
            ..Spec::default()
        },
        Spec {
            callee: UserExternalName::new(5, 12345),
            ..Spec::default()
        },
        Spec {
            base: 100_000,
            ..Spec::default()
        },
        Spec {
            base: 7,
            callee: UserExternalName::new(1, 1),
            name: UserFuncName::user(9, 9),
            ..Spec::default()
        },
    ];
    for spec in &variants {
        let (code, outcome) = compile_with_cache(&isa, &build(spec), &store).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        // The reload carries the NEW names and locations: equal to a fresh
        // compile of the changed function.
        assert_eq!(code, fresh(&isa, spec));
        assert_eq!(code.relocs[0].target, FinalName::User(spec.callee));
        assert_eq!(
            code.srclocs[1].loc,
            SourceLoc::new(spec.base + spec.spacing)
        );
    }
    assert_eq!(
        isa.compiles(),
        1 + variants.len(),
        "only the fresh compiles"
    );
}

#[test]
fn code_changes_miss() {
    let isa = MockIsa::new();
    let store = MemoryStore::new();
    compile_with_cache(&isa, &build(&Spec::default()), &store).unwrap();
    let variants = [
        Spec {
            imm: 43,
            ..Spec::default()
        },
        Spec {
            op: Opcode::Isub,
            ..Spec::default()
        },
        Spec {
            ty: Type::I32,
            ..Spec::default()
        },
        Spec {
            spacing: 5,
            ..Spec::default()
        },
        Spec {
            trap: true,
            ..Spec::default()
        },
        Spec {
            testcase_callee: Some("t"),
            ..Spec::default()
        },
    ];
    for (i, spec) in variants.iter().enumerate() {
        let (code, outcome) = compile_with_cache(&isa, &build(spec), &store).unwrap();
        assert_eq!(outcome, CacheOutcome::Miss, "variant {i}");
        assert_eq!(code, fresh(&isa, spec));
    }
    // Each variant now hits.
    for spec in &variants {
        assert!(compile_with_cache(&isa, &build(spec), &store)
            .unwrap()
            .1
            .is_hit());
    }
    // Different target flags are a different key.
    let mut other = MockIsa::new();
    other.flags.preserve_frame_pointers = !other.flags.preserve_frame_pointers;
    let f = build(&Spec::default());
    assert_ne!(cache_key(&isa, &f), cache_key(&other, &f));
    assert_eq!(
        compile_with_cache(&other, &f, &store).unwrap().1,
        CacheOutcome::Miss
    );
}

#[test]
fn every_corruption_and_truncation_of_an_entry_is_a_rejected_miss() {
    let isa = MockIsa::new();
    let store = MemoryStore::new();
    let spec = Spec {
        testcase_callee: Some("helper"),
        ..Spec::default()
    };
    let f = build(&spec);
    let reference = fresh(&isa, &spec);
    compile_with_cache(&isa, &f, &store).unwrap();
    let key = cache_key(&isa, &f);
    let good = store.get(&key).unwrap().into_owned();
    let good_payload = decode_entry(&key, COMPILER_VERSION, &good).unwrap();
    let mut damaged = Vec::new();
    for i in 0..good.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] ^= x;
            damaged.push(b);
        }
    }
    for cut in 0..good.len() {
        damaged.push(good[..cut].to_vec());
    }
    for bad in &damaged {
        assert!(store.insert(&key, bad));
        let (code, outcome) = compile_with_cache(&isa, &f, &store).unwrap();
        assert!(matches!(outcome, CacheOutcome::Rejected(_)), "{outcome:?}");
        assert_eq!(code, reference);
        // The fresh result overwrote the damaged entry.
        // (Equal payload; the recorded compile time differs.)
        let now = store.get(&key).unwrap();
        assert_eq!(
            decode_entry(&key, COMPILER_VERSION, &now).unwrap(),
            good_payload
        );
    }
    let s = store.stats().snapshot();
    assert_eq!(s.rejected() as usize, damaged.len());
}

#[test]
fn undecodable_payload_stale_and_foreign_entries_are_misses() {
    let isa = MockIsa::new();
    let store = MemoryStore::new();
    let f = build(&Spec::default());
    let key = cache_key(&isa, &f);
    // A valid envelope around garbage.
    assert!(store_entry(
        &store,
        &key,
        COMPILER_VERSION,
        b"\x01garbage",
        None
    ));
    let (_, o) = compile_with_cache(&isa, &f, &store).unwrap();
    assert_eq!(o, CacheOutcome::Rejected(EntryError::BadPayload));
    // Unknown flag bits.
    let mut payload = encode_payload(&isa.compile_stencil(&f.stencil).unwrap(), true);
    payload[0] |= 0x80;
    assert!(store_entry(&store, &key, COMPILER_VERSION, &payload, None));
    let (_, o) = compile_with_cache(&isa, &f, &store).unwrap();
    assert_eq!(o, CacheOutcome::Rejected(EntryError::BadPayload));
    // Another compiler version.
    let entry = encode_entry_timed(&key, "kiln 0.0.1 payload 1", &payload[..], None).unwrap();
    assert!(store.insert(&key, &entry));
    let (_, o) = compile_with_cache(&isa, &f, &store).unwrap();
    assert_eq!(o, CacheOutcome::Rejected(EntryError::CompilerMismatch));
    // Another key's entry copied here.
    let other = kiln_cache::CacheKey([9; 32]);
    let entry = encode_entry_timed(&other, COMPILER_VERSION, &payload[..], None).unwrap();
    assert!(store.insert(&key, &entry));
    let (_, o) = compile_with_cache(&isa, &f, &store).unwrap();
    assert_eq!(o, CacheOutcome::Rejected(EntryError::KeyMismatch));
    assert!(compile_with_cache(&isa, &f, &store).unwrap().1.is_hit());
    let s = store.stats().snapshot();
    assert_eq!(
        (s.hits, s.misses, s.rejected_damaged, s.rejected_stale),
        (1, 4, 3, 1)
    );
}

#[test]
fn compile_errors_are_returned_and_nothing_is_stored() {
    let isa = MockIsa::new();
    let store = MemoryStore::new();
    let f = build(&Spec {
        op: Opcode::Udiv,
        ..Spec::default()
    });
    assert!(compile_with_cache(&isa, &f, &store).is_err());
    assert!(compile_with_cache(&isa, &f, &store).is_err());
    assert!(store.is_empty());
    assert_eq!(store.stats().snapshot().misses, 2);
}

#[test]
fn an_unverified_entry_is_verified_once_then_marked() {
    let mut lax = MockIsa::new();
    lax.flags.enable_verifier = false;
    let strict = MockIsa::new();
    assert!(strict.flags.enable_verifier);
    let store = MemoryStore::new();
    let f = build(&Spec::default());
    let key = cache_key(&lax, &f);
    assert_eq!(
        key,
        cache_key(&strict, &f),
        "enable_verifier is not in the key"
    );
    compile_with_cache(&lax, &f, &store).unwrap();
    let verified = |store: &MemoryStore| {
        let hit = lookup(store, &key, COMPILER_VERSION).hit().unwrap();
        decode_payload(hit.payload()).unwrap().0
    };
    assert!(!verified(&store));
    assert!(compile_with_cache(&lax, &f, &store).unwrap().1.is_hit());
    assert!(!verified(&store));
    assert!(compile_with_cache(&strict, &f, &store).unwrap().1.is_hit());
    assert!(verified(&store), "the strict hit marked the entry verified");
    assert_eq!(lax.compiles() + strict.compiles(), 1);
}

#[test]
fn compile_cache_counts_its_own_outcomes() {
    let isa = MockIsa::new();
    let store: Arc<dyn CacheKvStore> = Arc::new(MemoryStore::new());
    let cache = CompileCache::new(store.clone());
    let f = build(&Spec::default());
    cache.compile(&isa, &f).unwrap();
    cache.compile(&isa, &f).unwrap();
    // A compile through the store directly is not counted by `cache`...
    compile_with_cache(&isa, &f, &*store).unwrap();
    let s = cache.stats();
    assert_eq!((s.hits, s.misses), (1, 1));
    // ...but by the store.
    let t = cache.store_stats().unwrap();
    assert_eq!((t.hits, t.misses, t.stores), (2, 1, 1));
}

/// Two processes fill one directory store at once through
/// `compile_with_cache`: no error, no torn entry. The test re-runs its own
/// binary with `KILN_CACHE_CHILD_DIR` set; the child does the filling.
#[test]
fn two_processes_fill_one_directory_store() {
    if let Ok(dir) = std::env::var("KILN_CACHE_CHILD_DIR") {
        fill(&DirectoryStore::new(dir));
        return;
    }
    let dir = std::env::temp_dir().join(format!("kiln-cachewire-2proc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().unwrap();
    let spawn = || {
        std::process::Command::new(&exe)
            .args([
                "--exact",
                "two_processes_fill_one_directory_store",
                "--nocapture",
            ])
            .env("KILN_CACHE_CHILD_DIR", &dir)
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    // Every entry is complete and valid, and reloads to the fresh code.
    let store = DirectoryStore::new(&dir);
    let isa = MockIsa::new();
    for spec in specs() {
        let f = build(&spec);
        let (code, outcome) = compile_with_cache(&isa, &f, &store).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
        assert_eq!(code, fresh(&isa, &spec));
    }
    let usage = store.disk_usage().unwrap();
    assert_eq!(usage.entries as usize, specs().len());
    assert_eq!(usage.temp_files, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

fn specs() -> Vec<Spec> {
    (0..40)
        .map(|i| Spec {
            imm: i,
            ..Spec::default()
        })
        .collect()
}

fn fill(store: &DirectoryStore) {
    let isa = MockIsa::new();
    for _ in 0..3 {
        for spec in specs() {
            let (code, _) = compile_with_cache(&isa, &build(&spec), store).unwrap();
            assert_eq!(code, fresh(&isa, &spec));
        }
    }
    let s = store.stats().snapshot();
    assert_eq!(s.rejected(), 0, "{s}");
    assert_eq!(s.store_errors, 0, "{s}");
}

#[test]
fn icache_property_holds_on_the_mock() {
    let isa = kiln_cache::mock::MockIsa::new();
    for spec in specs().iter().chain(
        [
            Spec {
                testcase_callee: Some("tc"),
                ..Spec::default()
            },
            Spec {
                trap: true,
                ..Spec::default()
            },
        ]
        .iter(),
    ) {
        let checked = kiln_cache::icache::check(&isa, &build(spec)).unwrap();
        assert!(
            checked.compiled && checked.renamed_names && checked.mutated,
            "{checked:?}"
        );
    }
    // A function that does not compile is reported, not an error.
    let udiv = build(&Spec {
        op: Opcode::Udiv,
        ..Spec::default()
    });
    assert_eq!(
        kiln_cache::icache::check(&isa, &udiv),
        Ok(kiln_cache::icache::Checked::NOT_COMPILED)
    );
}

#[test]
fn mutations_do_what_they_say() {
    let isa = MockIsa::new();
    let f = build(&Spec::default());
    let mut g = f.clone();
    assert_eq!(kiln_cache::icache::mutate_params(&mut g), 1);
    assert_eq!(cache_key(&isa, &f), cache_key(&isa, &g));
    assert_ne!(
        f.params.user_named_funcs().collect::<Vec<_>>(),
        g.params.user_named_funcs().collect::<Vec<_>>()
    );
    let mut h = f.clone();
    assert!(kiln_cache::icache::mutate_instruction(&mut h));
    assert_ne!(cache_key(&isa, &f), cache_key(&isa, &h));
}
