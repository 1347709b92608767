//! `kiln cache stats|clear` on a cache folder given by `KILN_CACHE_DIR`.

use kiln::cache::{store_entry, CacheKey, DirectoryStore};
use std::process::Command;

fn kiln(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
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
    let (_, out) = kiln(&dir, &["cache", "stats"]);
    assert!(out.contains("entries:         0 ("), "{out}");
    assert_eq!(kiln(&dir, &["cache", "frobnicate"]).0, 2);
    assert_eq!(kiln(&dir, &["cache"]).0, 2);
    let _ = std::fs::remove_dir_all(&dir);
}
