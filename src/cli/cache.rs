//! `kiln cache stats|clear` and the store every compiling command uses.
//!
//! `kiln compile`, `kiln run` and `kiln test` compile through
//! [`open_stores`]: the on-disk [`DirectoryStore`] at
//! `$KILN_CACHE_DIR` (else `$XDG_CACHE_HOME/kiln`, else
//! `$HOME/.cache/kiln`), behind a [`WriteBehindStore`] so that creating
//! entry files (about 1 ms each on this VM's ext4) happens off the compile
//! thread. `--no-cache` turns it off. With `--cache redis://...` (or
//! `$KILN_CACHE_URL`) a [`TieredStore`] of memory, that folder and the
//! server (also behind a write-behind queue) is used instead; with
//! `$KILN_CACHE_SECRET` (or `$KILN_CACHE_SECRET_FILE`) every value on disk
//! and on the server carries an HMAC ([`MacStore`]). A bad URL, timeout
//! or secret setting is an error naming it. The returned [`OpenStore`]
//! guard, when dropped, flushes the queued
//! writes and records this process's counters into the folder's lifetime
//! statistics (and the server's, `kiln cache stats`), so a command should drop it (return
//! from `main`) rather than call `std::process::exit`; writes and counts
//! lost otherwise cost only misses and an undercount.

use kiln_cache::directory::LifetimeStats;
use kiln_cache::mac::{secret_from_env, HmacKey};
use kiln_cache::{
    compile_with_cache, CacheKvStore, CacheStatsSnapshot, DirectoryStore, MacStore, MemoryStore,
    RedisConfig, RedisStore, TieredStore, WriteBehindStore, COMPILER_VERSION,
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

/// The environment variable naming a shared cache server.
pub const CACHE_URL_ENV: &str = "KILN_CACHE_URL";

/// Mixed into every MAC tag, so tags made for another purpose under the
/// same secret are not accepted.
pub const MAC_CONTEXT: &[u8] = b"kiln cache entry";

/// Budget of the in-process tier in front of a shared server.
const MEMORY_TIER_BUDGET: u64 = 256 << 20;

/// A store behind a write-behind queue (and a MAC when a secret is set).
type Queued = WriteBehindStore<Arc<dyn CacheKvStore>>;

/// The stores of one command. Dropping it flushes queued writes and, if
/// the process looked anything up, records its counters: into the
/// folder's lifetime statistics ([`DirectoryStore::record_process_stats`])
/// and, with a server, into the server's (failures are ignored: the
/// counts are for people).
pub struct OpenStore {
    /// What compiles go through: the directory tier alone, or memory,
    /// directory and server tiers.
    store: Arc<dyn CacheKvStore>,
    dir: Option<(Arc<DirectoryStore>, Arc<Queued>)>,
    server: Option<(Arc<RedisStore>, Arc<Queued>)>,
    /// The MAC layers, for their counts of rejected entries.
    macs: Vec<Arc<MacStore<Arc<dyn CacheKvStore>>>>,
}

impl OpenStore {
    /// Wraps `store` (a fresh directory store) as the compiling commands do.
    pub fn new(store: DirectoryStore) -> Self {
        Self::build(Some(store), None, None)
    }

    /// The tiers for a directory and/or a server, entries authenticated
    /// under `secret` when given.
    pub fn build(
        dir: Option<DirectoryStore>,
        server: Option<RedisStore>,
        secret: Option<HmacKey>,
    ) -> Self {
        let mut macs = Vec::new();
        let mut queue = |inner: Arc<dyn CacheKvStore>| -> Arc<Queued> {
            let inner: Arc<dyn CacheKvStore> = match &secret {
                Some(key) => {
                    let mac = Arc::new(MacStore::new(inner, key.clone(), MAC_CONTEXT));
                    macs.push(Arc::clone(&mac));
                    mac
                }
                None => inner,
            };
            Arc::new(WriteBehindStore::new(inner, WRITE_QUEUE))
        };
        let dir = dir.map(|d| {
            let d = Arc::new(d);
            let q = queue(d.clone());
            (d, q)
        });
        let server = server.map(|r| {
            let r = Arc::new(r);
            let q = queue(r.clone());
            (r, q)
        });
        let store: Arc<dyn CacheKvStore> = match (&dir, &server) {
            (Some((_, q)), None) => q.clone(),
            _ => {
                let mut tiers: Vec<Arc<dyn CacheKvStore>> =
                    vec![Arc::new(MemoryStore::with_budget(MEMORY_TIER_BUDGET))];
                tiers.extend(dir.iter().map(|(_, q)| q.clone() as Arc<dyn CacheKvStore>));
                tiers.extend(
                    server
                        .iter()
                        .map(|(_, q)| q.clone() as Arc<dyn CacheKvStore>),
                );
                Arc::new(TieredStore::new(COMPILER_VERSION, tiers))
            }
        };
        OpenStore {
            store,
            dir,
            server,
            macs,
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

    /// The directory store underneath, if there is one.
    pub fn directory(&self) -> Option<&DirectoryStore> {
        self.dir.as_ref().map(|(d, _)| &**d)
    }

    /// The shared server's store, if there is one.
    pub fn server(&self) -> Option<&RedisStore> {
        self.server.as_ref().map(|(r, _)| &**r)
    }

    /// Entries rejected for a missing or wrong MAC so far.
    pub fn unauthenticated(&self) -> u64 {
        self.macs.iter().map(|m| m.unauthenticated()).sum()
    }

    /// Flushes queued writes and returns this process's directory
    /// counters so far (zero without a directory).
    pub fn flushed_stats(&self) -> CacheStatsSnapshot {
        let queues = self.dir.iter().map(|(_, q)| q);
        for q in queues.chain(self.server.iter().map(|(_, q)| q)) {
            q.flush();
        }
        self.directory()
            .map(|d| d.stats().snapshot())
            .unwrap_or_default()
    }
}

impl Drop for OpenStore {
    fn drop(&mut self) {
        let dir_stats = self.flushed_stats();
        // With tiers, the lookups are counted by the tiered store and each
        // tier counts its own reads and writes: record both.
        let outcomes = match (&self.server, self.store.cache_stats()) {
            (Some(_), Some(tiered)) => Some(tiered.snapshot()),
            _ => None,
        };
        let merged = |store: CacheStatsSnapshot| match &outcomes {
            Some(o) => CacheStatsSnapshot {
                hits: o.hits,
                misses: o.misses,
                rejected_damaged: o.rejected_damaged,
                rejected_stale: o.rejected_stale,
                time_saved: o.time_saved,
                ..store
            },
            None => store,
        };
        if let Some(dir) = self.directory() {
            let stats = merged(dir_stats);
            if stats.lookups() > 0 {
                let _ = dir.record_process_stats(&stats);
            }
        }
        if let Some(server) = self.server() {
            let stats = merged(server.stats().snapshot());
            // A server that has just failed is not waited on again at
            // exit; one that failed earlier in the run and answers again
            // gets the count of operations it missed.
            if stats.lookups() + stats.stores > 0 && !server.is_pausing() {
                let _ = server.record_process_stats(
                    &stats,
                    &[
                        ("unauthenticated", self.unauthenticated()),
                        ("unavailable", server.unavailable()),
                    ],
                );
            }
        }
    }
}

/// The cache options of a compiling command: `--no-cache`, and
/// `--cache URL` (else `$KILN_CACHE_URL`) for a shared server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheArgs {
    pub no_cache: bool,
    pub url: Option<String>,
}

/// The shared server's store for `url`, with the timeouts from the
/// environment.
pub fn open_server(url: &str) -> Result<RedisStore, String> {
    let config = RedisConfig::from_env(url, COMPILER_VERSION).map_err(|e| e.to_string())?;
    RedisStore::open(config).map_err(|e| e.to_string())
}

/// The stores for `args`: `None` with `--no-cache`; otherwise the on-disk
/// directory (when a folder is known) and the server (when a URL is
/// given), entries authenticated when `$KILN_CACHE_SECRET` or
/// `$KILN_CACHE_SECRET_FILE` is set. A bad URL, timeout setting or
/// secret is an error (naming it), never ignored.
pub fn open_stores(args: &CacheArgs) -> Result<Option<OpenStore>, String> {
    if args.no_cache {
        if args.url.is_some() {
            // Both given: --no-cache wins, but say so.
            eprintln!(
                "kiln: --no-cache: the shared cache ({CACHE_URL_ENV} or --cache) is not used"
            );
        }
        return Ok(None);
    }
    let secret = secret_from_env().map_err(|e| e.to_string())?;
    let server = match &args.url {
        Some(url) => Some(open_server(url)?),
        None => None,
    };
    let dir = DirectoryStore::open_default().map(|d| d.with_budget(budget()));
    if dir.is_none() && server.is_none() {
        return Ok(None);
    }
    Ok(Some(OpenStore::build(dir, server, secret)))
}

/// The store compiling commands use without a server: `None` with
/// `--no-cache` or when no cache folder is known (no `$KILN_CACHE_DIR`,
/// `$XDG_CACHE_HOME` or `$HOME`).
pub fn open_store(no_cache: bool) -> Option<OpenStore> {
    if no_cache {
        return None;
    }
    let store = DirectoryStore::open_default()?.with_budget(budget());
    Some(OpenStore::new(store))
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

/// Runs `op` on the folder and the server (whichever exist); prints each
/// error, and returns failure if any.
fn for_each_store(
    dir: &Option<DirectoryStore>,
    server: &Option<RedisStore>,
    what: &str,
    mut on_dir: impl FnMut(&DirectoryStore) -> Result<String, String>,
    mut on_server: impl FnMut(&RedisStore) -> Result<String, String>,
) -> ExitCode {
    let mut ok = true;
    if let Some(d) = dir {
        match on_dir(d) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("kiln cache {what}: {}: {e}", d.root().display());
                ok = false;
            }
        }
    }
    if let Some(r) = server {
        match on_server(r) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("kiln cache {what}: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// What `kiln cache` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheAction {
    /// `stats`: where the cache is, its entries and bytes, the counters.
    Stats,
    /// `stats --zero`: reset the lifetime counters.
    ZeroStats,
    /// `clear`: remove every entry.
    Clear,
}

/// `kiln cache stats|clear`: on the folder, and on the server at `url`
/// when given.
pub fn cmd_cache(action: CacheAction, url: Option<&str>) -> ExitCode {
    let server = match url.map(open_server).transpose() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("kiln cache: {e}");
            return ExitCode::from(2);
        }
    };
    let dir = DirectoryStore::open_default();
    if dir.is_none() && server.is_none() {
        eprintln!("kiln cache: no cache folder (set KILN_CACHE_DIR or HOME) and no server ({CACHE_URL_ENV})");
        return ExitCode::from(2);
    }
    match action {
        CacheAction::Stats => for_each_store(
            &dir,
            &server,
            "stats",
            |store| {
                let lifetime = store.read_lifetime_stats();
                store
                    .disk_usage()
                    .and_then(|u| Ok((u, lifetime?)))
                    .map(|(u, lifetime)| format_stats(store, &u, &lifetime))
                    .map_err(|e| e.to_string())
            },
            |r| server_stats(r).map_err(|e| e.to_string()),
        ),
        CacheAction::ZeroStats => for_each_store(
            &dir,
            &server,
            "stats --zero",
            |store| {
                store
                    .zero_stats()
                    .map(|()| {
                        format!(
                            "zeroed the lifetime counters of {}\n",
                            store.root().display()
                        )
                    })
                    .map_err(|e| e.to_string())
            },
            |r| {
                r.zero_stats()
                    .map(|()| format!("zeroed the lifetime counters of {}\n", r.url()))
                    .map_err(|e| e.to_string())
            },
        ),
        CacheAction::Clear => for_each_store(
            &dir,
            &server,
            "clear",
            |store| {
                store
                    .clear()
                    .map(|u| {
                        format!(
                            "cleared {}: removed {} entries ({} bytes in all); \
                             lifetime counters kept (`kiln cache stats --zero` resets them)\n",
                            store.root().display(),
                            u.entries,
                            u.total_bytes()
                        )
                    })
                    .map_err(|e| e.to_string())
            },
            |r| {
                r.clear()
                    .map(|n| {
                        format!(
                            "cleared {}: removed {n} entries; lifetime counters kept\n",
                            r.url()
                        )
                    })
                    .map_err(|e| e.to_string())
            },
        ),
    }
}

/// The shared server's part of `kiln cache stats`.
pub fn server_stats(r: &RedisStore) -> Result<String, kiln_cache::redis::RedisStoreError> {
    let (mine, all) = r.count_entries()?;
    let memory = r.server_memory()?;
    let lifetime = r.lifetime_stats()?;
    let mut s = String::new();
    s.push_str(&format!("shared cache:    {}\n", r.url()));
    s.push_str(&format!(
        "entries:         {mine} of this compiler version ({all} Kiln entries in all)\n"
    ));
    s.push_str(&format!(
        "server memory:   {} bytes used; maxmemory {}; policy {}\n",
        memory.used,
        if memory.max == 0 {
            "none".to_string()
        } else {
            format!("{} bytes", memory.max)
        },
        memory.policy
    ));
    if memory.max == 0 || !memory.policy.starts_with("allkeys-") {
        s.push_str(
            "                 (not set up as a cache: set maxmemory and \
             maxmemory-policy allkeys-lru, see docs/cache.md)\n",
        );
    }
    s.push_str(
        "lifetime counters (every process that used the server since the last \
         `kiln cache stats --zero`):\n",
    );
    if lifetime.is_empty() {
        s.push_str("  (none yet)\n");
    }
    for (name, value) in &lifetime {
        s.push_str(&format!("  {:<16} {value}\n", format!("{name}:")));
    }
    Ok(s)
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
        let args = CacheArgs {
            no_cache: true,
            url: None,
        };
        assert!(matches!(open_stores(&args), Ok(None)));
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
