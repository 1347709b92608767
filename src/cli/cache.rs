//! `kiln cache stats|clear` and the store every compiling command uses.
//!
//! `kiln compile`, `kiln run` and `kiln test` compile through
//! [`open_store`]: the on-disk [`DirectoryStore`] at `$KILN_CACHE_DIR`
//! (else `$XDG_CACHE_HOME/kiln`, else `$HOME/.cache/kiln`), behind a
//! [`WriteBehindStore`] so that creating entry files (about 1 ms each on
//! this VM's ext4) happens off the compile thread. `--no-cache` turns it
//! off. The returned [`OpenStore`] guard, when dropped, flushes the queued
//! writes and records this process's counters into the folder's lifetime
//! statistics (`kiln cache stats`), so a command should drop it (return
//! from `main`) rather than call `std::process::exit`; writes and counts
//! lost otherwise cost only misses and an undercount.

use kiln_cache::directory::LifetimeStats;
use kiln_cache::{
    compile_with_cache, CacheKvStore, CacheStatsSnapshot, DirectoryStore, WriteBehindStore,
};
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::{compile_function, TargetIsa};
use kiln_codegen::result::CodegenResult;
use kiln_ir::Function;
use std::process::ExitCode;
use std::sync::Arc;

/// Soft size limit of the default on-disk cache.
pub const DEFAULT_BUDGET: u64 = 1 << 30;

/// The budget in force: [`DEFAULT_BUDGET`] unless the command line
/// (`--cache-budget`, `$KILN_CACHE_BUDGET`) set another with [`set_budget`].
static BUDGET: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(DEFAULT_BUDGET);

/// Sets the budget [`open_store`] gives the on-disk store.
pub fn set_budget(bytes: u64) {
    BUDGET.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

/// The budget in force (see [`set_budget`]).
pub fn budget() -> u64 {
    BUDGET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Entries queued for writing before inserts are dropped (and counted).
const WRITE_QUEUE: usize = 4096;

/// The on-disk store of one command. Dropping it flushes queued writes
/// and, if the process looked anything up, records its counters with
/// [`DirectoryStore::record_process_stats`] (failures are ignored: the
/// counts are for people).
pub struct OpenStore {
    store: Arc<WriteBehindStore<DirectoryStore>>,
}

impl OpenStore {
    /// Wraps `store` (a fresh directory store) as the compiling commands do.
    pub fn new(store: DirectoryStore) -> Self {
        OpenStore {
            store: Arc::new(WriteBehindStore::new(store, WRITE_QUEUE)),
        }
    }

    /// A shared handle, e.g. for `kiln_filetests::run::set_compile_store`.
    /// Drop every clone before this guard so that nothing is written
    /// after the counters are recorded.
    pub fn shared(&self) -> Arc<dyn CacheKvStore> {
        self.store.clone()
    }

    /// The store to compile through.
    pub fn as_dyn(&self) -> &dyn CacheKvStore {
        &*self.store
    }

    /// The directory store underneath.
    pub fn directory(&self) -> &DirectoryStore {
        self.store.inner()
    }

    /// Flushes queued writes and returns this process's counters so far.
    pub fn flushed_stats(&self) -> CacheStatsSnapshot {
        self.store.flush();
        self.store.inner().stats().snapshot()
    }
}

impl Drop for OpenStore {
    fn drop(&mut self) {
        let stats = self.flushed_stats();
        if stats.lookups() > 0 {
            let _ = self.store.inner().record_process_stats(&stats);
        }
    }
}

/// The store compiling commands use: `None` with `--no-cache` or when no
/// cache folder is known (no `$KILN_CACHE_DIR`, `$XDG_CACHE_HOME` or
/// `$HOME`).
pub fn open_store(no_cache: bool) -> Option<OpenStore> {
    if no_cache {
        return None;
    }
    let store = DirectoryStore::open_default()?.with_budget(budget());
    Some(OpenStore::new(store))
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
  kiln cache stats         where the on-disk cache is, its entries and bytes, and the
                           lifetime counters of every process that used it
  kiln cache stats --zero  reset the lifetime counters (entries are kept)
  kiln cache clear         remove every entry (all format versions); counters are kept
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
        ["stats"] => {
            let lifetime = store.read_lifetime_stats();
            match store.disk_usage().and_then(|u| Ok((u, lifetime?))) {
                Ok((u, lifetime)) => {
                    print!("{}", format_stats(&store, &u, &lifetime));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("kiln cache stats: {}: {e}", store.root().display());
                    ExitCode::from(1)
                }
            }
        }
        ["stats", "--zero" | "-z"] => match store.zero_stats() {
            Ok(()) => {
                println!("zeroed the lifetime counters of {}", store.root().display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kiln cache stats --zero: {}: {e}", store.root().display());
                ExitCode::from(1)
            }
        },
        ["clear"] => match store.clear() {
            Ok(u) => {
                println!(
                    "cleared {}: removed {} entries ({} bytes in all); \
                     lifetime counters kept (`kiln cache stats --zero` resets them)",
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
pub fn format_stats(
    store: &DirectoryStore,
    u: &kiln_cache::DiskUsage,
    lifetime: &LifetimeStats,
) -> String {
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
        budget()
    ));
    let t = &lifetime.totals;
    s.push_str("lifetime counters (every process since the last `kiln cache stats --zero`):\n");
    s.push_str(&format!("  hits:          {}\n", t.hits));
    s.push_str(&format!("  misses:        {}\n", t.misses));
    s.push_str(&format!(
        "  hit rate:      {}\n",
        t.hit_rate()
            .map(|r| format!("{:.1}%", r * 100.0))
            .unwrap_or_else(|| "-".to_string())
    ));
    s.push_str(&format!(
        "  rejected:      {} ({} damaged, {} stale)\n",
        t.rejected(),
        t.rejected_damaged,
        t.rejected_stale
    ));
    s.push_str(&format!("  stores:        {}\n", t.stores));
    s.push_str(&format!("  store errors:  {}\n", t.store_errors));
    s.push_str(&format!("  evictions:     {}\n", t.evictions));
    s.push_str(&format!("  bytes read:    {}\n", t.bytes_read));
    s.push_str(&format!("  bytes written: {}\n", t.bytes_written));
    let saved = t.time_saved.as_secs_f64();
    s.push_str(&if saved < 1.0 {
        format!("  time saved:    {:.3} ms\n", saved * 1e3)
    } else {
        format!("  time saved:    {saved:.3} s\n")
    });
    if lifetime.ignored_files > 0 {
        s.push_str(&format!(
            "  ({} unreadable statistics files ignored)\n",
            lifetime.ignored_files
        ));
    }
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
        let guard = OpenStore::new(DirectoryStore::new(&dir));
        let store = guard.shared();
        let isa = kiln_cache::mock::MockIsa::new();
        let text =
            "function %f(i64) -> i64 {\nblock0(v0: i64):\n    v1 = iadd v0, v0\n    return v1\n}\n";
        let f = kiln_reader::parse_functions(text).unwrap().remove(0);
        let direct = compile_cached(&isa, &f, None).unwrap();
        assert_eq!(compile_cached(&isa, &f, Some(&*store)).unwrap(), direct);
        assert_eq!(compile_cached(&isa, &f, Some(&*store)).unwrap(), direct);
        assert_eq!(isa.compiles(), 2, "the second cached compile was a hit");
        drop(store);
        drop(guard); // flushes the queued write and records the counters
        let reopened = DirectoryStore::new(&dir);
        assert_eq!(reopened.disk_usage().unwrap().entries, 1);
        let lifetime = reopened.lifetime_stats();
        assert_eq!((lifetime.hits, lifetime.misses, lifetime.stores), (1, 1, 1));
        // A process that looked nothing up records nothing.
        drop(OpenStore::new(DirectoryStore::new(&dir)));
        assert_eq!(reopened.read_lifetime_stats().unwrap().process_files, 1);
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
        store
            .record_process_stats(&kiln_cache::CacheStatsSnapshot {
                hits: 3,
                misses: 1,
                rejected_stale: 1,
                stores: 1,
                ..Default::default()
            })
            .unwrap();
        let text = format_stats(&store, &u, &store.read_lifetime_stats().unwrap());
        assert!(text.contains("entries:         3 ("), "{text}");
        assert!(text.contains("  hits:          3\n"), "{text}");
        assert!(text.contains("  hit rate:      75.0%\n"), "{text}");
        assert!(
            text.contains("  rejected:      1 (0 damaged, 1 stale)\n"),
            "{text}"
        );
        assert!(!text.contains("not persisted"), "{text}");
        assert!(text.contains(&dir.display().to_string()), "{text}");
        let cleared = store.clear().unwrap();
        assert_eq!(cleared.entries, 3);
        assert_eq!(store.disk_usage().unwrap().entries, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
