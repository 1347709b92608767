//! `kiln cache stats|clear` and the store every compiling command uses.
//!
//! `kiln compile`, `kiln run` and `kiln test` compile through
//! [`open_store`]: the on-disk [`DirectoryStore`] at `$KILN_CACHE_DIR`
//! (else `$XDG_CACHE_HOME/kiln`, else `$HOME/.cache/kiln`), behind a
//! [`WriteBehindStore`] so that creating entry files (about 1 ms each on
//! this VM's ext4) happens off the compile thread. `--no-cache` turns it
//! off. Queued writes are flushed when the returned `Arc` is dropped, so a
//! command should drop it (return from `main`) rather than call
//! `std::process::exit`; writes lost otherwise cost only misses.

use kiln_cache::{compile_with_cache, CacheKvStore, DirectoryStore, WriteBehindStore};
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::{compile_function, TargetIsa};
use kiln_codegen::result::CodegenResult;
use kiln_ir::Function;
use std::process::ExitCode;
use std::sync::Arc;

/// Soft size limit of the default on-disk cache.
pub const DEFAULT_BUDGET: u64 = 1 << 30;

/// Entries queued for writing before inserts are dropped (and counted).
const WRITE_QUEUE: usize = 4096;

/// The store compiling commands use: `None` with `--no-cache` or when no
/// cache folder is known (no `$KILN_CACHE_DIR`, `$XDG_CACHE_HOME` or
/// `$HOME`).
pub fn open_store(no_cache: bool) -> Option<Arc<dyn CacheKvStore>> {
    if no_cache {
        return None;
    }
    let store = DirectoryStore::open_default()?.with_budget(DEFAULT_BUDGET);
    Some(Arc::new(WriteBehindStore::new(store, WRITE_QUEUE)))
}

/// Removes every `--no-cache` from `args`; returns whether there was one.
/// Commands call this before parsing their own options.
pub fn take_no_cache(args: &mut Vec<String>) -> bool {
    let before = args.len();
    args.retain(|a| a != "--no-cache");
    args.len() != before
}

/// Compiles `func` through `store` when there is one (see
/// [`open_store`]), else directly: what `kiln compile`, `kiln run` and
/// the `test run` filetests call instead of `compile_function`. The
/// result is the same either way.
pub fn compile_cached(
    isa: &dyn TargetIsa,
    func: &Function,
    store: Option<&dyn CacheKvStore>,
) -> CodegenResult<CompiledCode<Final>> {
    match store {
        Some(store) => compile_with_cache(isa, func, store).map(|(code, _)| code),
        None => compile_function(isa, func),
    }
}

/// Usage of `kiln cache`.
pub const USAGE: &str = "\
usage:
  kiln cache stats     where the on-disk cache is, its entries and bytes
  kiln cache clear     remove every entry (all format versions)
The folder is $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else $HOME/.cache/kiln.
";

/// `kiln cache ARGS...`.
pub fn cmd_cache(args: &[String]) -> ExitCode {
    let Some(store) = DirectoryStore::open_default() else {
        eprintln!("kiln cache: no cache folder (set KILN_CACHE_DIR or HOME)");
        return ExitCode::from(2);
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["stats"] => match store.disk_usage() {
            Ok(u) => {
                print!("{}", format_stats(&store, &u));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kiln cache stats: {}: {e}", store.root().display());
                ExitCode::from(1)
            }
        },
        ["clear"] => match store.clear() {
            Ok(u) => {
                println!(
                    "cleared {}: removed {} entries ({} bytes in all)",
                    store.root().display(),
                    u.entries,
                    u.total_bytes()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kiln cache clear: {}: {e}", store.root().display());
                ExitCode::from(1)
            }
        },
        ["help" | "--help" | "-h"] => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The text of `kiln cache stats`.
pub fn format_stats(store: &DirectoryStore, u: &kiln_cache::DiskUsage) -> String {
    let mut s = String::new();
    s.push_str(&format!("cache folder:    {}\n", store.root().display()));
    s.push_str(&format!(
        "entries:         {} ({} bytes{})\n",
        u.entries,
        u.entry_bytes,
        u.entry_bytes
            .checked_div(u.entries)
            .map(|per| format!(", {per} per entry"))
            .unwrap_or_default()
    ));
    s.push_str(&format!(
        "temporary files: {} ({} bytes)\n",
        u.temp_files, u.temp_bytes
    ));
    s.push_str(&format!(
        "other files:     {} ({} bytes; older formats, removed by clear)\n",
        u.other_files, u.other_bytes
    ));
    s.push_str(&format!(
        "budget:          {} bytes (soft; oldest entries evicted first)\n",
        DEFAULT_BUDGET
    ));
    s.push_str("hit/miss counters are per process (not persisted); see `kiln bench cache`\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_cache::{store_entry, CacheKey};

    #[test]
    fn no_cache_means_no_store() {
        assert!(open_store(true).is_none());
        let mut args: Vec<String> = ["-D", "--no-cache", "f.clif"].map(String::from).to_vec();
        assert!(take_no_cache(&mut args));
        assert_eq!(args, ["-D", "f.clif"]);
        assert!(!take_no_cache(&mut args));
    }

    #[test]
    fn compile_cached_fills_and_reuses_a_directory_store() {
        let dir = std::env::temp_dir().join(format!("kiln-cli-cc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store: Arc<dyn CacheKvStore> =
            Arc::new(WriteBehindStore::new(DirectoryStore::new(&dir), 16));
        let isa = kiln_cache::mock::MockIsa::new();
        let text =
            "function %f(i64) -> i64 {\nblock0(v0: i64):\n    v1 = iadd v0, v0\n    return v1\n}\n";
        let f = kiln_reader::parse_functions(text).unwrap().remove(0);
        let direct = compile_cached(&isa, &f, None).unwrap();
        assert_eq!(compile_cached(&isa, &f, Some(&*store)).unwrap(), direct);
        assert_eq!(compile_cached(&isa, &f, Some(&*store)).unwrap(), direct);
        assert_eq!(isa.compiles(), 2, "the second cached compile was a hit");
        drop(store); // flushes the queued write
        assert_eq!(DirectoryStore::new(&dir).disk_usage().unwrap().entries, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stats_text_counts_entries() {
        let dir = std::env::temp_dir().join(format!("kiln-cli-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = DirectoryStore::new(&dir);
        for i in 0..3u8 {
            assert!(store_entry(
                &store,
                &CacheKey([i; 32]),
                "v",
                b"payload",
                None
            ));
        }
        let u = store.disk_usage().unwrap();
        let text = format_stats(&store, &u);
        assert!(text.contains("entries:         3 ("), "{text}");
        assert!(text.contains(&dir.display().to_string()), "{text}");
        let cleared = store.clear().unwrap();
        assert_eq!(cleared.entries, 3);
        assert_eq!(store.disk_usage().unwrap().entries, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
