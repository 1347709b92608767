//! `kiln cache stats|clear` on a cache folder given by `KILN_CACHE_DIR`.

use kiln::cache::{store_entry, CacheKey, DirectoryStore};
use std::process::Command;

fn kiln(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KILN_CACHE_DIR", dir)
        .output()
        .expect("run kiln");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn stats_then_clear() {
    let dir = std::env::temp_dir().join(format!("kiln-cli-cache-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = DirectoryStore::new(&dir);
    for i in 0..5u8 {
        assert!(store_entry(
            &store,
            &CacheKey([i; 32]),
            "v",
            &[i; 100],
            None
        ));
    }
    let (code, out) = kiln(&dir, &["cache", "stats"]);
    assert_eq!(code, 0);
    assert!(out.contains("entries:         5 ("), "{out}");
    assert!(out.contains(&dir.display().to_string()), "{out}");
    let (code, out) = kiln(&dir, &["cache", "clear"]);
    assert_eq!(code, 0);
    assert!(out.contains("removed 5 entries"), "{out}");
    assert!(out.contains("lifetime counters kept"), "{out}");
    let (_, out) = kiln(&dir, &["cache", "stats"]);
    assert!(out.contains("entries:         0 ("), "{out}");
    assert_eq!(kiln(&dir, &["cache", "frobnicate"]).0, 2);
    assert_eq!(kiln(&dir, &["cache"]).0, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The value of a `  NAME: VALUE` line of `kiln cache stats`.
fn counter(out: &str, name: &str) -> u64 {
    let prefix = format!("  {name}:");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` in {out}"))
}

#[test]
fn lifetime_counters_persist_across_runs() {
    let dir = std::env::temp_dir().join(format!("kiln-cli-cache-life-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (_, out) = kiln(&dir, &["cache", "stats"]);
    assert!(!out.contains("not persisted"), "{out}");
    assert_eq!(counter(&out, "hits"), 0);
    assert!(out.contains("  hit rate:      -\n"), "{out}");
    let gcd = "cranelift-like-ir/examples/gcd.clif";
    let (code, first) = kiln(&dir, &["run", gcd]);
    assert_eq!(code, 0, "{first}");
    let (_, out) = kiln(&dir, &["cache", "stats"]);
    let misses = counter(&out, "misses");
    if misses == 0 {
        // Nothing compiled for this host (every target skipped).
        assert!(first.contains("skipped"), "{first}");
        return;
    }
    assert_eq!(counter(&out, "hits"), 0, "{out}");
    assert_eq!(counter(&out, "stores"), misses, "{out}");
    assert!(counter(&out, "bytes written") > 0, "{out}");
    let (code, second) = kiln(&dir, &["run", gcd]);
    assert_eq!((code, &second), (0, &first));
    let (_, out) = kiln(&dir, &["cache", "stats"]);
    assert_eq!(counter(&out, "hits"), misses, "second run hits: {out}");
    assert_eq!(counter(&out, "misses"), misses, "{out}");
    assert!(counter(&out, "bytes read") > 0, "{out}");
    assert!(out.contains("  hit rate:      50.0%\n"), "{out}");
    // --no-cache records nothing; clear keeps the counters.
    let _ = kiln(&dir, &["run", "--no-cache", gcd]);
    assert_eq!(kiln(&dir, &["cache", "clear"]).0, 0);
    let (_, after) = kiln(&dir, &["cache", "stats"]);
    assert_eq!(counter(&after, "hits"), misses, "{after}");
    assert_eq!(counter(&after, "misses"), misses, "{after}");
    // --zero resets them.
    let (code, out) = kiln(&dir, &["cache", "stats", "--zero"]);
    assert_eq!(code, 0, "{out}");
    let (_, out) = kiln(&dir, &["cache", "stats"]);
    assert_eq!(
        (counter(&out, "hits"), counter(&out, "misses")),
        (0, 0),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
