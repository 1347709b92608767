//! The compiler fingerprint in `COMPILER_VERSION`: it is the hash of the
//! current code-generator sources, it changes when a lowering rule changes,
//! and two builds with different fingerprints never serve each other's
//! entries. Together: changing a rule and rebuilding makes the next
//! compile a miss.

use kiln_cache::compile::{compile_as_version, encode_payload};
use kiln_cache::fingerprint::{compute, INPUTS};
use kiln_cache::{cache_key, store_entry, CacheOutcome, MemoryStore, COMPILER_VERSION};
use kiln_codegen::isa::{compile_function, lookup};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn built_fingerprint() -> &'static str {
    COMPILER_VERSION.rsplit(' ').next().unwrap_or("")
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else if from.is_file() {
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::copy(from, to).unwrap();
    }
}

#[test]
fn every_input_exists() {
    // A missing watched path makes cargo rebuild on every invocation.
    for input in INPUTS {
        assert!(workspace_root().join(input).exists(), "{input}");
    }
}

#[test]
fn the_built_fingerprint_is_the_hash_of_the_current_sources() {
    let now = compute(&workspace_root(), INPUTS).unwrap();
    assert_eq!(
        now,
        built_fingerprint(),
        "build.rs and the sources disagree ({COMPILER_VERSION})"
    );
}

#[test]
fn changing_a_lowering_rule_changes_the_fingerprint() {
    let root = workspace_root();
    let tmp = std::env::temp_dir().join(format!("kiln-fp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for input in INPUTS {
        copy_tree(&root.join(input), &tmp.join(input));
    }
    // A copy of the same sources elsewhere has the same fingerprint.
    assert_eq!(compute(&tmp, INPUTS).unwrap(), built_fingerprint());
    let rules = tmp.join("isle-rules/x64/lower.isle");
    let text = std::fs::read_to_string(&rules).unwrap();
    let edited = text.replacen("(rule 1 ", "(rule 2 ", 1);
    assert_ne!(edited, text, "the edit must change the rule file");
    std::fs::write(&rules, edited).unwrap();
    let changed = compute(&tmp, INPUTS).unwrap();
    assert_ne!(changed, built_fingerprint());
    // So does a new file among the inputs (a rule file added).
    std::fs::write(&rules, &text).unwrap();
    assert_eq!(compute(&tmp, INPUTS).unwrap(), built_fingerprint());
    std::fs::write(tmp.join("isle-rules/x64/extra.isle"), ";; new\n").unwrap();
    assert_ne!(compute(&tmp, INPUTS).unwrap(), built_fingerprint());
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn builds_with_different_fingerprints_never_share_entries() {
    let isa = lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64)).unwrap();
    let text = "function %f(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    v2 = iadd v0, v1
    return v2
}
";
    let f = kiln_reader::parse_functions(text).unwrap().remove(0);
    let key = cache_key(&*isa, &f);
    let (a, b) = (
        "kiln 0.1.0 payload 4 fp 00000000000000aa",
        "kiln 0.1.0 payload 4 fp 00000000000000bb",
    );
    let store = MemoryStore::new();
    // Build A fills the entry; build A hits it.
    let (_, o) = compile_as_version(&*isa, &f, &store, &key, a).unwrap();
    assert_eq!(o, CacheOutcome::Miss);
    let (_, o) = compile_as_version(&*isa, &f, &store, &key, a).unwrap();
    assert_eq!(o, CacheOutcome::Hit);
    // Build B, same key: never a hit on A's entry...
    let (_, o) = compile_as_version(&*isa, &f, &store, &key, b).unwrap();
    assert!(
        matches!(o, CacheOutcome::Rejected(e) if e.is_stale()),
        "{o:?}"
    );
    // ...and A's entry is now B's, so A misses in turn.
    let (_, o) = compile_as_version(&*isa, &f, &store, &key, a).unwrap();
    assert!(
        matches!(o, CacheOutcome::Rejected(e) if e.is_stale()),
        "{o:?}"
    );

    // Build A's compiler made other code for this key (as a changed rule
    // would): build B ignores it and returns its own, freshly compiled.
    let other = compile_function(&*isa, &kiln_reader::parse_functions(
        "function %g(i64, i64) -> i64 {\nblock0(v0: i64, v1: i64):\n    v2 = isub v0, v1\n    return v2\n}\n",
    ).unwrap()[0]).unwrap();
    let fresh = compile_function(&*isa, &f).unwrap();
    assert_ne!(other.code, fresh.code);
    let stencil_other = isa
        .compile_stencil(&kiln_reader::parse_functions(
            "function %g(i64, i64) -> i64 {\nblock0(v0: i64, v1: i64):\n    v2 = isub v0, v1\n    return v2\n}\n",
        ).unwrap()[0].stencil)
        .unwrap();
    let store = MemoryStore::new();
    store_entry(&store, &key, a, &encode_payload(&stencil_other, true), None);
    let (code, o) = compile_as_version(&*isa, &f, &store, &key, b).unwrap();
    assert!(!o.is_hit(), "{o:?}");
    assert_eq!(code.code, fresh.code);
    // The same planted entry under B's own version would be served: the
    // version is what tells them apart.
    store_entry(&store, &key, b, &encode_payload(&stencil_other, true), None);
    let (code, o) = compile_as_version(&*isa, &f, &store, &key, b).unwrap();
    assert!(o.is_hit(), "{o:?}");
    assert_eq!(code.code, other.code);
}
