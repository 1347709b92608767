//! The embedded default store: one file per key in a directory tree.
//!
//! Layout: `<root>/v<FORMAT_VERSION>/<first 2 hex digits>/<other 62 hex digits>`.
//!
//! - **Atomic writes.** An insert writes a unique temporary file
//!   (`.tmp-<pid>-<counter>-<salt>`, opened with `create_new`) in the same
//!   fan-out folder, then `rename`s it over the final name. `rename` within
//!   one directory is atomic on POSIX file systems, so a reader sees either
//!   the old complete file, the new complete file, or nothing, never a mix.
//!   Two processes writing the same key both rename complete files; the last
//!   one wins, and both are valid entries.
//! - **No fsync.** After a power loss a renamed file may be empty or short on
//!   some file systems. The envelope's length fields and checksum reject it,
//!   so durability is traded for a cheap insert: the worst case is a miss.
//! - **Recency.** A hit bumps the file's mtime (at most once per
//!   `touch_interval`, so hot entries cost no extra syscall); an insert sets
//!   it naturally. Eviction removes the oldest mtimes first, so recency is
//!   shared by every process using the directory without any index file.
//! - **Budget.** Each process keeps a running estimate of the directory's
//!   size: sampled from one fan-out folder (times 256) at its first insert,
//!   then increased by every byte it writes. Only when the estimate passes the
//!   budget does it scan the whole tree, and then it evicts down to 80% of
//!   the budget, so a scan happens at most once per ~20% of the budget
//!   written. Concurrent scans by several processes are harmless: removing
//!   a file that is already gone is ignored.
//! - **Failures are misses.** A missing file is a miss; a vanished directory,
//!   a full disk or a permission error is counted in [`CacheStats`] and
//!   ignored, and a failed write removes its temporary file.
//! - **Leftovers.** Temporary files older than `temp_max_age` (a crashed
//!   writer's) are removed from the fan-out folder of each process's first
//!   insert, by eviction scans, and by [`DirectoryStore::cleanup`].

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::entry::{FORMAT_VERSION, MAX_ENTRY_LEN};
use crate::{CacheKey, CacheKvStore, CacheStats, CacheStatsSnapshot};

/// Prefix of temporary files; never a valid entry name (entries are hex).
pub const TEMP_PREFIX: &str = ".tmp-";

/// After an eviction scan, the directory is brought down to this percentage
/// of the budget.
pub const LOW_WATER_PERCENT: u64 = 80;

/// Default minimum age before a hit bumps an entry's mtime again.
pub const DEFAULT_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// Default age after which a temporary file is considered abandoned. A
/// live writer holds its temporary file for milliseconds.
pub const DEFAULT_TEMP_MAX_AGE: Duration = Duration::from_secs(3600);

/// Mtimes further ahead than this are treated as the oldest possible.
const FUTURE_SKEW: Duration = Duration::from_secs(24 * 3600);

/// Number of fan-out folders (two hex digits).
const FANOUT: u64 = 256;

/// A cache directory shared by any number of threads and processes.
#[derive(Debug)]
pub struct DirectoryStore {
    root: PathBuf,
    dir: PathBuf,
    budget: Option<u64>,
    touch_interval: Duration,
    temp_max_age: Duration,
    stats: CacheStats,
    temp_counter: AtomicU64,
    temp_salt: u64,
    accounting: Mutex<Accounting>,
    /// Held by the one thread running a full scan.
    scan_lock: Mutex<()>,
}

/// This process's view of the directory size.
#[derive(Debug, Default)]
struct Accounting {
    /// `None` until the first insert samples the directory.
    estimate: Option<u64>,
    /// A full scan runs when `estimate` exceeds this.
    threshold: u64,
}

/// What a directory holds, from [`DirectoryStore::disk_usage`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Entry files of the current format.
    pub entries: u64,
    /// Bytes in those entries.
    pub entry_bytes: u64,
    /// Temporary files (writes in progress or abandoned).
    pub temp_files: u64,
    /// Bytes in temporary files.
    pub temp_bytes: u64,
    /// Files of other format versions or unrecognized names.
    pub other_files: u64,
    /// Bytes in those files.
    pub other_bytes: u64,
}

impl DiskUsage {
    /// Every byte counted.
    pub fn total_bytes(&self) -> u64 {
        self.entry_bytes + self.temp_bytes + self.other_bytes
    }
}

impl fmt::Display for DiskUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} entries ({} B), {} temporary files ({} B), {} other files ({} B)",
            self.entries,
            self.entry_bytes,
            self.temp_files,
            self.temp_bytes,
            self.other_files,
            self.other_bytes
        )
    }
}

/// What a [`DirectoryStore::cleanup`] scan did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Entries evicted to respect the budget.
    pub evicted: u64,
    /// Bytes freed by evictions.
    pub evicted_bytes: u64,
    /// Abandoned temporary files removed.
    pub temps_removed: u64,
    /// Entry bytes left in the current format folder.
    pub remaining_bytes: u64,
}

/// One entry file seen by a scan.
struct Seen {
    path: PathBuf,
    len: u64,
    modified: SystemTime,
}

fn is_hex(name: &str, len: usize) -> bool {
    name.len() == len && name.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Files directly inside `dir`, skipping entries that vanish while listed.
/// A missing `dir` is empty.
fn list(dir: &Path) -> io::Result<Vec<(PathBuf, String, fs::Metadata)>> {
    let iter = match fs::read_dir(dir) {
        Ok(iter) => iter,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for item in iter {
        let item = match item {
            Ok(item) => item,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let meta = match item.metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let name = item.file_name().to_string_lossy().into_owned();
        out.push((item.path(), name, meta));
    }
    Ok(out)
}

/// Removes a file; one already gone counts as removed by someone else.
fn remove_file_quiet(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn age(modified: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(modified).unwrap_or(Duration::ZERO)
}

impl DirectoryStore {
    /// A store rooted at `root`. Does no I/O: folders are created by the
    /// first insert, and a root that cannot be created only makes every
    /// operation a counted failure.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let dir = root.join(format!("v{FORMAT_VERSION}"));
        let mut salt = RandomState::new().build_hasher();
        salt.write_u32(std::process::id());
        if let Ok(now) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            salt.write_u128(now.as_nanos());
        }
        DirectoryStore {
            root,
            dir,
            budget: None,
            touch_interval: DEFAULT_TOUCH_INTERVAL,
            temp_max_age: DEFAULT_TEMP_MAX_AGE,
            stats: CacheStats::new(),
            temp_counter: AtomicU64::new(0),
            temp_salt: salt.finish(),
            accounting: Mutex::new(Accounting::default()),
            scan_lock: Mutex::new(()),
        }
    }

    /// A store at [`DirectoryStore::default_location`], if one is known.
    pub fn open_default() -> Option<Self> {
        Self::default_location().map(Self::new)
    }

    /// `$KILN_CACHE_DIR`, else `$XDG_CACHE_HOME/kiln`, else
    /// `$HOME/.cache/kiln`. Empty variables count as unset, and (as the XDG
    /// specification requires) a relative `XDG_CACHE_HOME` is ignored.
    pub fn default_location() -> Option<PathBuf> {
        location_from_env(|name| std::env::var_os(name))
    }

    /// Limits the current format folder to `bytes` (soft limit: enforced
    /// by eviction after inserts, see the module docs).
    pub fn with_budget(mut self, bytes: u64) -> Self {
        self.budget = Some(bytes);
        self
    }

    /// How old an entry's mtime must be before a hit bumps it again.
    /// Zero bumps on every hit.
    pub fn with_touch_interval(mut self, interval: Duration) -> Self {
        self.touch_interval = interval;
        self
    }

    /// Age after which temporary files are treated as abandoned.
    pub fn with_temp_max_age(mut self, age: Duration) -> Self {
        self.temp_max_age = age;
        self
    }

    /// The root given to [`DirectoryStore::new`].
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of the current entry format, `<root>/v<FORMAT_VERSION>`.
    pub fn entries_dir(&self) -> &Path {
        &self.dir
    }

    /// The budget, if any.
    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// The counters of this store (this process only).
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Where the entry for `key` lives.
    pub fn entry_path(&self, key: &CacheKey) -> PathBuf {
        let hex = key.to_hex();
        // Hex digits are ASCII.
        let hex = std::str::from_utf8(&hex).unwrap_or_default();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    fn temp_path(&self, folder: &Path) -> PathBuf {
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        folder.join(format!(
            "{TEMP_PREFIX}{}-{n}-{:016x}",
            std::process::id(),
            self.temp_salt
        ))
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if meta.len() > MAX_ENTRY_LEN as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "file larger than any cache entry",
            ));
        }
        // Entries are never rewritten in place, only replaced by rename, so
        // an open file keeps the length `fstat` gave: read exactly that
        // (one `read` call, no second one to find the end). A file that is
        // shorter after all is an error; anything else wrong with the
        // bytes is caught by the entry's checksum.
        let mut bytes = vec![0; meta.len() as usize];
        file.read_exact(&mut bytes)?;
        let now = SystemTime::now();
        let stale = meta
            .modified()
            .map_or(true, |m| age(m, now) >= self.touch_interval);
        if stale {
            // Recency for eviction. Failing (a read-only shared cache) only
            // makes eviction less accurate.
            let _ = file.set_modified(now);
        }
        Ok(Some(bytes))
    }

    fn write(&self, path: &Path, value: &[u8]) -> io::Result<()> {
        let folder = path.parent().unwrap_or(&self.dir);
        write_via_temp(&self.temp_path(folder), folder, path, value)
    }

    /// Updates this process's size estimate after writing `len` bytes into
    /// `folder` and runs an eviction scan if it passed the threshold.
    fn account(&self, folder: &Path, len: u64) {
        // First insert of this process: sweep abandoned temporary files from
        // one fan-out folder (the one just written, already in the OS
        // caches) and sample its size, outside the lock. With or without a
        // budget, so that crash leftovers disappear over time.
        let sample = if self.lock_accounting().estimate.is_none() {
            Some(
                self.scan_folder(folder, &mut Vec::new())
                    .unwrap_or(0)
                    .saturating_mul(FANOUT),
            )
        } else {
            None
        };
        let Some(budget) = self.budget else {
            if let Some(sample) = sample {
                self.lock_accounting().estimate.get_or_insert(sample);
            }
            return;
        };
        let over = {
            let mut acc = self.lock_accounting();
            let estimate = match acc.estimate {
                Some(estimate) => estimate.saturating_add(len),
                None => {
                    acc.threshold = budget;
                    sample.unwrap_or(len)
                }
            };
            acc.estimate = Some(estimate);
            estimate > acc.threshold
        };
        if !over {
            return;
        }
        // Another thread already scanning does the work for us.
        let Ok(_scanning) = self.scan_lock.try_lock() else {
            return;
        };
        match self.scan(Some(budget)) {
            Ok(report) => self.rebase(report.remaining_bytes),
            Err(_) => {
                self.stats.record_store_error();
                let mut acc = self.lock_accounting();
                acc.threshold = acc
                    .estimate
                    .unwrap_or(0)
                    .saturating_add(budget / 10)
                    .max(budget);
            }
        }
    }

    /// Resets the estimate to a measured size after a full scan. The next
    /// scan waits until another tenth of the budget was written, even if
    /// some entries could not be removed.
    fn rebase(&self, measured: u64) {
        let mut acc = self.lock_accounting();
        acc.estimate = Some(measured);
        if let Some(budget) = self.budget {
            acc.threshold = budget.max(measured.saturating_add(budget / 10));
        }
    }

    fn lock_accounting(&self) -> std::sync::MutexGuard<'_, Accounting> {
        self.accounting
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Lists the entries of one fan-out folder into `seen`, removing
    /// abandoned temporary files; returns the entry bytes found.
    fn scan_folder(&self, folder: &Path, seen: &mut Vec<Seen>) -> io::Result<u64> {
        self.scan_folder_counting(folder, seen, &mut 0)
    }

    fn scan_folder_counting(
        &self,
        folder: &Path,
        seen: &mut Vec<Seen>,
        temps_removed: &mut u64,
    ) -> io::Result<u64> {
        let now = SystemTime::now();
        let mut bytes = 0;
        for (path, name, meta) in list(folder)? {
            if !meta.is_file() {
                continue;
            }
            let mut modified = meta.modified().unwrap_or(now);
            if modified > now + FUTURE_SKEW {
                // Far in the future (clock skew, a copied tree): would never
                // be evicted if trusted, so it counts as the oldest.
                modified = SystemTime::UNIX_EPOCH;
            }
            if name.starts_with(TEMP_PREFIX) {
                if age(modified, now) > self.temp_max_age && remove_file_quiet(&path)? {
                    *temps_removed += 1;
                }
            } else if is_hex(&name, 62) {
                bytes += meta.len();
                seen.push(Seen {
                    path,
                    len: meta.len(),
                    modified,
                });
            }
        }
        Ok(bytes)
    }

    /// Scans the whole current-format folder, removes abandoned temporary
    /// files, and with a budget evicts the least recently used entries down
    /// to [`LOW_WATER_PERCENT`] of it if it is exceeded.
    fn scan(&self, budget: Option<u64>) -> io::Result<CleanupReport> {
        let mut seen = Vec::new();
        let mut report = CleanupReport::default();
        let mut total = 0u64;
        for (path, name, meta) in list(&self.dir)? {
            if meta.is_dir() && is_hex(&name, 2) {
                total += self.scan_folder_counting(&path, &mut seen, &mut report.temps_removed)?;
            }
        }
        if let Some(budget) = budget.filter(|&b| total > b) {
            let low_water = (u128::from(budget) * u128::from(LOW_WATER_PERCENT) / 100) as u64;
            seen.sort_by_key(|s| s.modified);
            for victim in &seen {
                if total <= low_water {
                    break;
                }
                match remove_file_quiet(&victim.path) {
                    Ok(removed) => {
                        total -= victim.len;
                        if removed {
                            report.evicted += 1;
                            report.evicted_bytes += victim.len;
                        }
                    }
                    // Not removable (permissions): keep going with others.
                    Err(_) => self.stats.record_store_error(),
                }
            }
            self.stats.record_evictions(report.evicted);
        }
        report.remaining_bytes = total;
        Ok(report)
    }

    /// Runs a full scan now: removes abandoned temporary files and, with a
    /// budget, evicts down to 80% of it if it is exceeded.
    pub fn cleanup(&self) -> io::Result<CleanupReport> {
        let _scanning = self
            .scan_lock
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let report = self.scan(self.budget)?;
        self.rebase(report.remaining_bytes);
        Ok(report)
    }

    /// Counts what the cache holds under the root: current entries,
    /// temporary files, and files of other format versions.
    pub fn disk_usage(&self) -> io::Result<DiskUsage> {
        let mut usage = DiskUsage::default();
        for (path, name, meta) in list(&self.root)? {
            if !(meta.is_dir() && is_version_dir(&name)) {
                continue;
            }
            let current = path == self.dir;
            for (folder, _, meta) in list(&path)? {
                if !meta.is_dir() {
                    usage.other_files += 1;
                    usage.other_bytes += meta.len();
                    continue;
                }
                for (_, name, meta) in list(&folder)? {
                    if !meta.is_file() {
                        continue;
                    }
                    if name.starts_with(TEMP_PREFIX) {
                        usage.temp_files += 1;
                        usage.temp_bytes += meta.len();
                    } else if current && is_hex(&name, 62) {
                        usage.entries += 1;
                        usage.entry_bytes += meta.len();
                    } else {
                        usage.other_files += 1;
                        usage.other_bytes += meta.len();
                    }
                }
            }
        }
        Ok(usage)
    }

    /// Removes every entry of every format version (the `v<N>` folders under
    /// the root) and abandoned statistics temporary files; the lifetime
    /// counters in `<root>/stats` are kept (see
    /// [`DirectoryStore::zero_stats`]), and nothing else under the root is
    /// touched. Safe while other
    /// processes use the cache: files they are writing at that moment may
    /// survive. Returns what was removed.
    pub fn clear(&self) -> io::Result<DiskUsage> {
        let before = self.disk_usage()?;
        let mut first_error = None;
        for (path, name, meta) in list(&self.root)? {
            if !(meta.is_dir() && is_version_dir(&name)) {
                continue;
            }
            if let Err(e) = remove_tree(&path) {
                first_error.get_or_insert(e);
            }
        }
        self.rebase(0);
        // Lifetime counters survive (`zero_stats` resets them); only a
        // crashed recorder's leftovers go.
        if let Err(e) = self.sweep_stats_temps(&self.stats_dir()) {
            first_error.get_or_insert(e);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(before),
        }
    }
}

fn is_version_dir(name: &str) -> bool {
    name.len() > 1 && name.starts_with('v') && name[1..].bytes().all(|c| c.is_ascii_digit())
}

/// Removes a tree, tolerating files that vanish (or appear) meanwhile.
fn remove_tree(dir: &Path) -> io::Result<()> {
    for (path, _, meta) in list(dir)? {
        if meta.is_dir() {
            remove_tree(&path)?;
        } else {
            remove_file_quiet(&path)?;
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        // A concurrent writer created a file after the listing: leave it.
        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(()),
        Err(e) => Err(e),
    }
}

/// [`DirectoryStore::default_location`] over an injectable environment.
pub(crate) fn location_from_env(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let nonempty = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(dir) = nonempty("KILN_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = nonempty("XDG_CACHE_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return Some(xdg.join("kiln"));
        }
    }
    nonempty("HOME").map(|home| PathBuf::from(home).join(".cache").join("kiln"))
}

/// Writes `bytes` to the new file `temp` in `folder` (creating the folder
/// if it is missing) and renames it to `path`, so that a reader sees the
/// whole file or none; the temporary file is removed on failure.
fn write_via_temp(temp: &Path, folder: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let open = || OpenOptions::new().write(true).create_new(true).open(temp);
    let mut file = match open() {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(folder)?;
            open()?
        }
        Err(e) => return Err(e),
    };
    let written = file.write_all(bytes).and_then(|()| {
        drop(file);
        fs::rename(temp, path)
    });
    if written.is_err() {
        let _ = fs::remove_file(temp);
    }
    written
}

impl CacheKvStore for DirectoryStore {
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        match self.read(&self.entry_path(key)) {
            Ok(Some(bytes)) => {
                self.stats.record_read(bytes.len() as u64);
                Some(Cow::Owned(bytes))
            }
            Ok(None) => None,
            Err(_) => {
                self.stats.record_store_error();
                None
            }
        }
    }

    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
        if value.len() > MAX_ENTRY_LEN {
            self.stats.record_store_error();
            return false;
        }
        let path = self.entry_path(key);
        match self.write(&path, value) {
            Ok(()) => {
                self.stats.record_store(value.len() as u64);
                self.account(path.parent().unwrap_or(&self.dir), value.len() as u64);
                true
            }
            Err(_) => {
                self.stats.record_store_error();
                false
            }
        }
    }

    fn remove(&self, key: &CacheKey) -> bool {
        remove_file_quiet(&self.entry_path(key)).unwrap_or_else(|_| {
            self.stats.record_store_error();
            false
        })
    }

    fn cache_stats(&self) -> Option<&CacheStats> {
        Some(&self.stats)
    }
}

// ---------------------------------------------------------------------------
// Persisted statistics (`<root>/stats/`), see docs/cache.md "Statistics on
// disk" for the format and the argument.

/// Name of the statistics folder under the root.
pub const STATS_DIR: &str = "stats";

/// Name of the file holding folded (compacted) totals.
pub const STATS_TOTAL: &str = "total";

/// Name of the compaction lock file.
pub const STATS_LOCK: &str = "lock";

/// Suffix of one process's statistics file.
pub const STATS_SUFFIX: &str = ".stats";

/// First line of every statistics file (format version 1).
pub const STATS_MAGIC: &str = "kiln-stats 1";

/// More per-process files than this trigger a compaction.
pub const STATS_COMPACT_THRESHOLD: usize = 64;

/// At most this many per-process files are folded by one compaction pass
/// (bounds the `folded` list, hence the size of `total`).
pub const STATS_MAX_FOLD: usize = 512;

/// Statistics files larger than this are not read (ignored as malformed).
pub const STATS_MAX_FILE_LEN: u64 = 64 * 1024;

/// A compaction lock older than this is considered abandoned and broken.
pub const STATS_LOCK_STALE_AGE: Duration = Duration::from_secs(60);

/// Statistics temporary files older than this (or than the store's
/// `temp_max_age`, if smaller) are removed by compaction, `zero` and
/// `clear`. A live writer holds one for microseconds.
pub const STATS_TEMP_MAX_AGE: Duration = Duration::from_secs(60);

/// The counter lines of format version 1, in file order.
const STATS_FIELDS: [&str; 10] = [
    "hits",
    "misses",
    "rejected_damaged",
    "rejected_stale",
    "stores",
    "store_errors",
    "bytes_read",
    "bytes_written",
    "evictions",
    "time_saved_ns",
];

fn snapshot_fields(s: &CacheStatsSnapshot) -> [u64; 10] {
    [
        s.hits,
        s.misses,
        s.rejected_damaged,
        s.rejected_stale,
        s.stores,
        s.store_errors,
        s.bytes_read,
        s.bytes_written,
        s.evictions,
        u64::try_from(s.time_saved.as_nanos()).unwrap_or(u64::MAX),
    ]
}

fn snapshot_from_fields(v: [u64; 10]) -> CacheStatsSnapshot {
    CacheStatsSnapshot {
        hits: v[0],
        misses: v[1],
        rejected_damaged: v[2],
        rejected_stale: v[3],
        stores: v[4],
        store_errors: v[5],
        bytes_read: v[6],
        bytes_written: v[7],
        evictions: v[8],
        time_saved: Duration::from_nanos(v[9]),
    }
}

/// `a + b`, counter by counter, saturating.
pub fn add_snapshots(a: &CacheStatsSnapshot, b: &CacheStatsSnapshot) -> CacheStatsSnapshot {
    let (a, b) = (snapshot_fields(a), snapshot_fields(b));
    snapshot_from_fields(std::array::from_fn(|i| a[i].saturating_add(b[i])))
}

/// Encodes a statistics file (format version 1): the magic line, the ten
/// counter lines, one `folded NAME` line per name, and `end`.
pub fn encode_stats_file(s: &CacheStatsSnapshot, folded: &[String]) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str(STATS_MAGIC);
    out.push('\n');
    for (name, value) in STATS_FIELDS.iter().zip(snapshot_fields(s)) {
        out.push_str(name);
        out.push(' ');
        out.push_str(&value.to_string());
        out.push('\n');
    }
    for name in folded {
        out.push_str("folded ");
        out.push_str(name);
        out.push('\n');
    }
    out.push_str("end\n");
    out.into_bytes()
}

/// Decodes a statistics file; `None` unless it is exactly what
/// [`encode_stats_file`] writes (anything else is ignored by readers).
pub fn decode_stats_file(bytes: &[u8]) -> Option<(CacheStatsSnapshot, Vec<String>)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let body = text.strip_suffix("end\n")?;
    // "...5end\n" is not "...5\nend\n"; empty lines fail below.
    if !body.ends_with('\n') {
        return None;
    }
    let mut lines = body.split_terminator('\n');
    if lines.next()? != STATS_MAGIC {
        return None;
    }
    let mut values = [0u64; 10];
    for (name, value) in STATS_FIELDS.iter().zip(values.iter_mut()) {
        let digits = lines.next()?.strip_prefix(name)?.strip_prefix(' ')?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|c| c.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !canonical {
            return None;
        }
        *value = digits.parse().ok()?;
    }
    let mut folded = Vec::new();
    for line in lines {
        let name = line.strip_prefix("folded ")?;
        if !is_stats_file_name(name) {
            return None;
        }
        folded.push(name.to_string());
    }
    Some((snapshot_from_fields(values), folded))
}

/// Whether `name` is a per-process statistics file name:
/// `<digits>-<digits>-<digits>-<16 hex>.stats`.
fn is_stats_file_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(STATS_SUFFIX) else {
        return false;
    };
    let parts: Vec<&str> = stem.split('-').collect();
    matches!(parts.as_slice(), [pid, nanos, counter, salt]
        if [pid, nanos, counter].iter().all(|p| !p.is_empty() && p.len() <= 40 && p.bytes().all(|c| c.is_ascii_digit()))
            && is_hex(salt, 16))
}

/// Lifetime totals read from `<root>/stats/`, from
/// [`DirectoryStore::read_lifetime_stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifetimeStats {
    /// The sum of `total` and every per-process file.
    pub totals: CacheStatsSnapshot,
    /// Per-process files summed (not yet compacted).
    pub process_files: u64,
    /// Files ignored: malformed, oversized, or of unknown name or version.
    pub ignored_files: u64,
}

/// Reads a whole small file; `Ok(None)` if missing, `Err(InvalidData)` if
/// longer than [`STATS_MAX_FILE_LEN`].
fn read_small(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(STATS_MAX_FILE_LEN + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > STATS_MAX_FILE_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "statistics file too large",
        ));
    }
    Ok(Some(bytes))
}

/// The `total` file as read: its raw bytes (to detect a concurrent
/// compaction), counters and folded names.
struct Total {
    raw: Option<Vec<u8>>,
    counts: CacheStatsSnapshot,
    folded: Vec<String>,
    malformed: bool,
}

/// A held compaction lock; removed on drop.
struct StatsLock {
    path: PathBuf,
    token: String,
}

impl StatsLock {
    fn still_held(&self) -> bool {
        read_small(&self.path)
            .ok()
            .flatten()
            .is_some_and(|b| b == self.token.as_bytes())
    }
}

impl Drop for StatsLock {
    fn drop(&mut self) {
        if self.still_held() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl DirectoryStore {
    /// `<root>/stats`, where lifetime counters are kept.
    pub fn stats_dir(&self) -> PathBuf {
        self.root.join(STATS_DIR)
    }

    fn unique_token(&self) -> String {
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{nanos}-{n}-{:016x}", std::process::id(), self.temp_salt)
    }

    /// Writes `bytes` to a fresh temporary file in `dir` and renames it to
    /// `dir/name`. The temporary file is removed on failure.
    fn write_stats_file(&self, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
        let temp = dir.join(format!("{TEMP_PREFIX}{}", self.unique_token()));
        write_via_temp(&temp, dir, &dir.join(name), bytes)
    }

    /// Records one process's counters: writes them as one new file
    /// `<root>/stats/<pid>-<nanos>-<counter>-<salt>.stats` (temporary file +
    /// rename; no existing file is modified), then compacts if there are
    /// more than [`STATS_COMPACT_THRESHOLD`] such files and no other
    /// process is compacting. An all-zero snapshot writes nothing.
    pub fn record_process_stats(&self, snapshot: &CacheStatsSnapshot) -> io::Result<()> {
        if *snapshot == CacheStatsSnapshot::default() {
            return Ok(());
        }
        let dir = self.stats_dir();
        let name = format!("{}{STATS_SUFFIX}", self.unique_token());
        self.write_stats_file(&dir, &name, &encode_stats_file(snapshot, &[]))?;
        let files = list(&dir)?
            .iter()
            .filter(|(_, name, meta)| meta.is_file() && name.ends_with(STATS_SUFFIX))
            .count();
        if files > STATS_COMPACT_THRESHOLD {
            // Best effort: the counts are safe in their files either way.
            let _ = self.compact_stats();
        }
        Ok(())
    }

    fn read_total(&self, dir: &Path) -> io::Result<Total> {
        let raw = match read_small(&dir.join(STATS_TOTAL)) {
            Ok(raw) => raw,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Some(Vec::new()),
            Err(e) => return Err(e),
        };
        let decoded = raw.as_deref().map(decode_stats_file);
        let malformed = matches!(decoded, Some(None));
        let (counts, folded) = decoded.flatten().unwrap_or_default();
        Ok(Total {
            raw,
            counts,
            folded,
            malformed,
        })
    }

    /// Lifetime totals: `total` plus every per-process file not already
    /// folded into it. Malformed, oversized and foreign files are ignored.
    /// If a compaction runs meanwhile (`total` changes, or a listed file
    /// vanishes) the read is retried, so the sum counts each file once.
    pub fn read_lifetime_stats(&self) -> io::Result<LifetimeStats> {
        let dir = self.stats_dir();
        let mut last = LifetimeStats::default();
        for _ in 0..16 {
            let before = self.read_total(&dir)?;
            let mut out = LifetimeStats {
                totals: before.counts,
                ignored_files: u64::from(before.malformed),
                ..LifetimeStats::default()
            };
            let mut vanished = false;
            for (path, name, meta) in list(&dir)? {
                if !meta.is_file()
                    || name == STATS_TOTAL
                    || name == STATS_LOCK
                    || name.starts_with(TEMP_PREFIX)
                {
                    continue;
                }
                if !is_stats_file_name(&name) {
                    out.ignored_files += 1;
                    continue;
                }
                if before.folded.contains(&name) {
                    continue;
                }
                match read_small(&path) {
                    Ok(Some(bytes)) => match decode_stats_file(&bytes) {
                        Some((counts, folded)) if folded.is_empty() => {
                            out.totals = add_snapshots(&out.totals, &counts);
                            out.process_files += 1;
                        }
                        _ => out.ignored_files += 1,
                    },
                    Ok(None) => vanished = true,
                    Err(e) if e.kind() == io::ErrorKind::InvalidData => out.ignored_files += 1,
                    Err(e) => return Err(e),
                }
            }
            let after = self.read_total(&dir)?;
            if !vanished && after.raw == before.raw {
                return Ok(out);
            }
            last = out;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(last)
    }

    /// [`DirectoryStore::read_lifetime_stats`]'s totals; zero if the folder
    /// cannot be read.
    pub fn lifetime_stats(&self) -> CacheStatsSnapshot {
        self.read_lifetime_stats()
            .map(|s| s.totals)
            .unwrap_or_default()
    }

    /// Takes the compaction lock (`create_new`), breaking one older than
    /// [`STATS_LOCK_STALE_AGE`]. `None` if another process holds it.
    fn try_lock_stats(&self, dir: &Path) -> io::Result<Option<StatsLock>> {
        let path = dir.join(STATS_LOCK);
        for _ in 0..3 {
            let token = self.unique_token();
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let lock = StatsLock { path, token };
                    file.write_all(lock.token.as_bytes())?;
                    return Ok(Some(lock));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dir)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let now = SystemTime::now();
                    let stale = |p: &Path| {
                        fs::metadata(p).is_ok_and(|m| {
                            m.modified().map_or(true, |t| {
                                age(t, now) > STATS_LOCK_STALE_AGE || t > now + FUTURE_SKEW
                            })
                        })
                    };
                    if !stale(&path) {
                        return Ok(None);
                    }
                    // Break it by renaming it aside, then check that what we
                    // moved is the stale lock and not one just taken by a
                    // process that broke it first; if not, put it back.
                    let aside = dir.join(format!("{TEMP_PREFIX}lock-{token}"));
                    match fs::rename(&path, &aside) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                    if !stale(&aside) {
                        let _ = fs::hard_link(&aside, &path);
                        let _ = fs::remove_file(&aside);
                        return Ok(None);
                    }
                    let _ = fs::remove_file(&aside);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Removes statistics temporary files old enough to be abandoned.
    fn sweep_stats_temps(&self, dir: &Path) -> io::Result<u64> {
        let max_age = self.temp_max_age.min(STATS_TEMP_MAX_AGE);
        let now = SystemTime::now();
        let mut removed = 0;
        for (path, name, meta) in list(dir)? {
            let old = meta.modified().map_or(true, |m| age(m, now) >= max_age);
            if meta.is_file() && name.starts_with(TEMP_PREFIX) && old && remove_file_quiet(&path)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// One pass under the lock: folds up to [`STATS_MAX_FOLD`] per-process
    /// files into `total` (or, with `zero`, discards them and the old
    /// total), writes `total` by temp + rename, then deletes exactly the
    /// folded files. Returns how many files were folded and whether more
    /// remain.
    fn fold_stats(&self, dir: &Path, lock: &StatsLock, zero: bool) -> io::Result<(usize, bool)> {
        let total = self.read_total(dir)?;
        let mut names: Vec<(PathBuf, String)> = list(dir)?
            .into_iter()
            .filter(|(_, name, meta)| meta.is_file() && name.ends_with(STATS_SUFFIX))
            .map(|(path, name, _)| (path, name))
            .collect();
        names.sort_by(|a, b| a.1.cmp(&b.1));
        // Files already in `total` (a compaction that died before deleting
        // them): delete them now; any that cannot be deleted stay listed.
        let mut folded = Vec::new();
        let mut fresh = Vec::new();
        for (path, name) in names {
            if total.folded.contains(&name) {
                if remove_file_quiet(&path).is_err() {
                    folded.push(name);
                }
            } else {
                fresh.push((path, name));
            }
        }
        let room = STATS_MAX_FOLD.saturating_sub(folded.len());
        let more = fresh.len() > room;
        fresh.truncate(room);
        let mut counts = if zero {
            CacheStatsSnapshot::default()
        } else {
            total.counts
        };
        let mut discard = Vec::new();
        let mut fold = Vec::new();
        for (path, name) in fresh {
            let decoded = match read_small(&path) {
                Ok(Some(bytes)) => decode_stats_file(&bytes),
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => None,
                Err(e) => return Err(e),
            };
            match decoded {
                Some((c, f)) if f.is_empty() && is_stats_file_name(&name) => {
                    if !zero {
                        counts = add_snapshots(&counts, &c);
                    }
                    folded.push(name);
                    fold.push(path);
                }
                // Malformed: never counted by readers, so it can just go.
                _ => discard.push(path),
            }
        }
        if !lock.still_held() {
            return Err(io::Error::other("statistics lock lost"));
        }
        self.write_stats_file(dir, STATS_TOTAL, &encode_stats_file(&counts, &folded))?;
        for path in fold.iter().chain(&discard) {
            let _ = remove_file_quiet(path);
        }
        Ok((fold.len(), more))
    }

    /// Folds the per-process statistics files into `total` if no other
    /// process is doing it (`Ok(None)` then). Returns the files folded.
    pub fn compact_stats(&self) -> io::Result<Option<usize>> {
        let dir = self.stats_dir();
        let Some(lock) = self.try_lock_stats(&dir)? else {
            return Ok(None);
        };
        self.sweep_stats_temps(&dir)?;
        let mut folded = 0;
        loop {
            let (n, more) = self.fold_stats(&dir, &lock, false)?;
            folded += n;
            if !more {
                return Ok(Some(folded));
            }
        }
    }

    /// Resets the lifetime counters (`kiln cache stats --zero`): under the
    /// compaction lock (waiting up to two seconds for another holder),
    /// replaces `total` by zeros and deletes the per-process files.
    /// Processes recording meanwhile keep their counts (they count after
    /// the reset). Entries are not touched.
    pub fn zero_stats(&self) -> io::Result<()> {
        let dir = self.stats_dir();
        if !dir.exists() {
            return Ok(());
        }
        let mut waited = Duration::ZERO;
        let lock = loop {
            if let Some(lock) = self.try_lock_stats(&dir)? {
                break lock;
            }
            if waited >= Duration::from_secs(2) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "another process is compacting the statistics",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
            waited += Duration::from_millis(20);
        };
        self.sweep_stats_temps(&dir)?;
        while self.fold_stats(&dir, &lock, true)?.1 {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn default_location_precedence() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, OsString> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), OsString::from(v)))
                .collect();
            location_from_env(move |name| map.get(name).cloned())
        };
        let all = [
            ("KILN_CACHE_DIR", "/k"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(env(&all), Some(PathBuf::from("/k")));
        assert_eq!(env(&all[1..]), Some(PathBuf::from("/x/kiln")));
        assert_eq!(env(&all[2..]), Some(PathBuf::from("/h/.cache/kiln")));
        assert_eq!(
            env(&[
                ("KILN_CACHE_DIR", ""),
                ("XDG_CACHE_HOME", "rel"),
                ("HOME", "/h")
            ]),
            Some(PathBuf::from("/h/.cache/kiln"))
        );
        assert_eq!(env(&[]), None);
    }

    #[test]
    fn names() {
        assert!(is_version_dir("v1"));
        assert!(is_version_dir("v12"));
        assert!(!is_version_dir("v"));
        assert!(!is_version_dir("vx"));
        assert!(!is_version_dir("w1"));
        assert!(is_hex("0a", 2));
        assert!(!is_hex("0A", 2));
        assert!(!is_hex(".tmp-", 5));
        let store = DirectoryStore::new("/r");
        let key: CacheKey = format!("ab{}", "0".repeat(62)).parse().unwrap();
        assert_eq!(
            store.entry_path(&key),
            PathBuf::from(format!("/r/v{FORMAT_VERSION}/ab/{}", "0".repeat(62)))
        );
        let t1 = store.temp_path(Path::new("/r/v1/ab"));
        let t2 = store.temp_path(Path::new("/r/v1/ab"));
        assert_ne!(t1, t2);
        let name = t1.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(&format!("{TEMP_PREFIX}{}-", std::process::id())));
    }

    fn temp_root(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kiln-stats-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn snap(i: u64) -> CacheStatsSnapshot {
        CacheStatsSnapshot {
            hits: i,
            misses: 2 * i + 1,
            rejected_damaged: i % 3,
            rejected_stale: i % 2,
            stores: i + 5,
            store_errors: i % 4,
            bytes_read: 1000 * i,
            bytes_written: 700 * i + 3,
            evictions: i % 5,
            time_saved: Duration::from_nanos(123_456 * i),
        }
    }

    fn sum(range: impl IntoIterator<Item = u64>) -> CacheStatsSnapshot {
        range
            .into_iter()
            .fold(CacheStatsSnapshot::default(), |acc, i| {
                add_snapshots(&acc, &snap(i))
            })
    }

    /// Per-process `.stats` files in the folder.
    fn process_files(store: &DirectoryStore) -> usize {
        list(&store.stats_dir())
            .unwrap()
            .iter()
            .filter(|(_, name, _)| name.ends_with(STATS_SUFFIX))
            .count()
    }

    fn names_in(store: &DirectoryStore) -> Vec<String> {
        let mut names: Vec<String> = list(&store.stats_dir())
            .unwrap()
            .into_iter()
            .map(|(_, name, _)| name)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn stats_file_format_is_byte_exact() {
        let s = CacheStatsSnapshot {
            hits: 3,
            misses: 1,
            rejected_damaged: 0,
            rejected_stale: 1,
            stores: 1,
            store_errors: 0,
            bytes_read: 4096,
            bytes_written: 2048,
            evictions: 0,
            time_saved: Duration::from_nanos(1_500_000),
        };
        let bytes = encode_stats_file(&s, &[]);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "kiln-stats 1\nhits 3\nmisses 1\nrejected_damaged 0\nrejected_stale 1\n\
             stores 1\nstore_errors 0\nbytes_read 4096\nbytes_written 2048\n\
             evictions 0\ntime_saved_ns 1500000\nend\n"
        );
        assert_eq!(decode_stats_file(&bytes), Some((s, vec![])));
        let folded = vec!["1-2-3-00000000000000ff.stats".to_string()];
        let total = encode_stats_file(&s, &folded);
        assert!(
            total.ends_with(b"time_saved_ns 1500000\nfolded 1-2-3-00000000000000ff.stats\nend\n")
        );
        assert_eq!(decode_stats_file(&total), Some((s, folded)));
        let max = snapshot_from_fields([u64::MAX; 10]);
        assert_eq!(
            decode_stats_file(&encode_stats_file(&max, &[])),
            Some((max, vec![]))
        );
        // Every truncation, and a few edits, are rejected.
        for len in 0..bytes.len() {
            assert_eq!(decode_stats_file(&bytes[..len]), None, "len {len}");
        }
        let text = String::from_utf8(bytes).unwrap();
        for (from, to) in [
            ("kiln-stats 1", "kiln-stats 2"),
            ("hits 3", "hits 03"),
            ("hits 3", "hits +3"),
            ("hits 3", "hits  3"),
            ("hits 3", "hits 99999999999999999999"),
            ("hits 3\nmisses 1", "misses 1\nhits 3"),
            ("evictions 0\n", ""),
            ("end\n", "extra 1\nend\n"),
            ("end\n", "folded ../x.stats\nend\n"),
            ("end\n", "\nend\n"),
            ("1500000\nend", "1500000end"),
            ("\n", "\r\n"),
        ] {
            let bad = text.replacen(from, to, 1);
            assert_eq!(decode_stats_file(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(decode_stats_file(b"\xff\xfe"), None);
        assert!(is_stats_file_name("12-34-5-0123456789abcdef.stats"));
        assert!(!is_stats_file_name("12-34-5-0123456789abcdef.stat"));
        assert!(!is_stats_file_name("12-34-0123456789abcdef.stats"));
        assert!(!is_stats_file_name("x2-34-5-0123456789abcdef.stats"));
        assert!(!is_stats_file_name(".tmp-12-34-5-0123456789abcdef.stats"));
    }

    #[test]
    fn recorded_stats_are_summed() {
        let root = temp_root("sum");
        let store = DirectoryStore::new(&root);
        assert_eq!(store.lifetime_stats(), CacheStatsSnapshot::default());
        // Nothing to record writes nothing.
        store
            .record_process_stats(&CacheStatsSnapshot::default())
            .unwrap();
        assert!(!store.stats_dir().exists());
        for i in 1..=3 {
            // A new store per "process".
            DirectoryStore::new(&root)
                .record_process_stats(&snap(i))
                .unwrap();
        }
        store.record_process_stats(&snap(4)).unwrap();
        let read = store.read_lifetime_stats().unwrap();
        assert_eq!(read.totals, sum(1..=4));
        assert_eq!(read.totals.hits, 10);
        assert_eq!(read.totals.time_saved, Duration::from_nanos(123_456 * 10));
        assert_eq!((read.process_files, read.ignored_files), (4, 0));
        let names = names_in(&store);
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names.iter().all(|n| is_stats_file_name(n)), "{names:?}");
        // The entries are untouched by stats, and clear keeps the counters.
        assert_eq!(store.disk_usage().unwrap(), DiskUsage::default());
        store.clear().unwrap();
        assert_eq!(store.lifetime_stats(), sum(1..=4));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn malformed_and_foreign_stats_files_are_ignored() {
        let root = temp_root("bad");
        let store = DirectoryStore::new(&root);
        store.record_process_stats(&snap(7)).unwrap();
        let dir = store.stats_dir();
        let good = encode_stats_file(&snap(1), &[]);
        let write = |name: &str, bytes: &[u8]| fs::write(dir.join(name), bytes).unwrap();
        write("1-1-1-0000000000000001.stats", b"garbage");
        write("1-1-2-0000000000000001.stats", &good[..good.len() - 1]);
        write("1-1-3-0000000000000001.stats", b"");
        let mut big = good.clone();
        big.resize(STATS_MAX_FILE_LEN as usize + 10, b'\n');
        write("1-1-4-0000000000000001.stats", &big);
        let v2 = String::from_utf8(good.clone())
            .unwrap()
            .replace("kiln-stats 1", "kiln-stats 2");
        write("1-1-5-0000000000000001.stats", v2.as_bytes());
        // A process file may not carry a folded list.
        write(
            "1-1-6-0000000000000001.stats",
            &encode_stats_file(&snap(1), &["1-1-1-0000000000000001.stats".into()]),
        );
        write("notes.txt", &good);
        write("x.stats", &good);
        // A crashed recorder's temporary file is not counted either.
        write(".tmp-1-2-3-0000000000000001", &good);
        fs::create_dir(dir.join("1-1-7-0000000000000001.stats")).unwrap();
        let read = store.read_lifetime_stats().unwrap();
        assert_eq!(read.totals, snap(7));
        assert_eq!(read.process_files, 1);
        assert_eq!(read.ignored_files, 8);
        // A malformed total is ignored as well.
        write(STATS_TOTAL, b"kiln-stats 1\nhits 5\n");
        let read = store.read_lifetime_stats().unwrap();
        assert_eq!((read.totals, read.ignored_files), (snap(7), 9));
        // Compaction drops the malformed process files and keeps the count.
        assert_eq!(store.compact_stats().unwrap(), Some(1));
        let read = store.read_lifetime_stats().unwrap();
        assert_eq!(read.totals, snap(7));
        assert_eq!(read.process_files, 0);
        assert_eq!(
            names_in(&store),
            [
                ".tmp-1-2-3-0000000000000001",
                "1-1-7-0000000000000001.stats",
                "notes.txt",
                "total"
            ]
        );
        // The fresh temporary file survived compaction; an old one is swept
        // by clear.
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(dir.join(".tmp-1-2-3-0000000000000001"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        store.clear().unwrap();
        assert!(!dir.join(".tmp-1-2-3-0000000000000001").exists());
        assert_eq!(store.lifetime_stats(), snap(7));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn compaction_keeps_the_counts_and_removes_the_files() {
        let root = temp_root("compact");
        let store = DirectoryStore::new(&root);
        let n = STATS_COMPACT_THRESHOLD as u64;
        for i in 0..n {
            store.record_process_stats(&snap(i)).unwrap();
        }
        // Exactly at the threshold: no compaction yet.
        assert_eq!(process_files(&store), STATS_COMPACT_THRESHOLD);
        assert!(!store.stats_dir().join(STATS_TOTAL).exists());
        assert_eq!(store.lifetime_stats(), sum(0..n));
        // One more triggers it: everything is folded into `total`.
        store.record_process_stats(&snap(n)).unwrap();
        assert_eq!(process_files(&store), 0);
        assert_eq!(names_in(&store), [STATS_TOTAL]);
        assert_eq!(store.lifetime_stats(), sum(0..=n));
        // And again on top of an existing total.
        for i in n + 1..n + 10 {
            store.record_process_stats(&snap(i)).unwrap();
        }
        assert_eq!(store.compact_stats().unwrap(), Some(9));
        assert_eq!(names_in(&store), [STATS_TOTAL]);
        assert_eq!(store.lifetime_stats(), sum(0..n + 10));
        // Nothing left to fold.
        assert_eq!(store.compact_stats().unwrap(), Some(0));
        assert_eq!(store.lifetime_stats(), sum(0..n + 10));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn compaction_folds_large_backlogs_in_passes() {
        let root = temp_root("backlog");
        let store = DirectoryStore::new(&root);
        let dir = store.stats_dir();
        fs::create_dir_all(&dir).unwrap();
        let n = STATS_MAX_FOLD as u64 + 40;
        for i in 0..n {
            let name = format!("1-{i}-0-00000000000000aa.stats");
            fs::write(dir.join(name), encode_stats_file(&snap(i), &[])).unwrap();
        }
        assert_eq!(store.lifetime_stats(), sum(0..n));
        assert_eq!(store.compact_stats().unwrap(), Some(n as usize));
        assert_eq!(names_in(&store), [STATS_TOTAL]);
        assert_eq!(store.lifetime_stats(), sum(0..n));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_compaction_that_died_before_deleting_counts_nothing_twice() {
        let root = temp_root("died");
        let store = DirectoryStore::new(&root);
        for i in 0..3 {
            store.record_process_stats(&snap(i)).unwrap();
        }
        let dir = store.stats_dir();
        let names = names_in(&store);
        let counts = |name: &String| {
            decode_stats_file(&fs::read(dir.join(name)).unwrap())
                .unwrap()
                .0
        };
        // As if a compaction folded the first two files, renamed `total`,
        // and was killed before deleting them.
        let folded = add_snapshots(&counts(&names[0]), &counts(&names[1]));
        let last = counts(&names[2]);
        fs::write(
            dir.join(STATS_TOTAL),
            encode_stats_file(&folded, &names[..2]),
        )
        .unwrap();
        assert_eq!(process_files(&store), 3);
        assert_eq!(store.lifetime_stats(), sum(0..3));
        // The next compaction deletes the already-folded files and folds the
        // third.
        assert_eq!(store.compact_stats().unwrap(), Some(1));
        assert_eq!(names_in(&store), [STATS_TOTAL]);
        assert_eq!(store.lifetime_stats(), sum(0..3));
        assert_eq!(
            decode_stats_file(&fs::read(dir.join(STATS_TOTAL)).unwrap()),
            Some((add_snapshots(&folded, &last), vec![names[2].clone()]))
        );
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_held_lock_skips_compaction_and_a_stale_one_is_broken() {
        let root = temp_root("lock");
        let store = DirectoryStore::new(&root);
        let dir = store.stats_dir();
        fs::create_dir_all(&dir).unwrap();
        let lock = dir.join(STATS_LOCK);
        fs::write(&lock, b"another process").unwrap();
        let n = STATS_COMPACT_THRESHOLD as u64 + 6;
        for i in 0..n {
            store.record_process_stats(&snap(i)).unwrap();
        }
        // Every record saw too many files but could not take the lock.
        assert_eq!(process_files(&store), n as usize);
        assert_eq!(store.compact_stats().unwrap(), None);
        assert_eq!(fs::read(&lock).unwrap(), b"another process");
        assert_eq!(store.lifetime_stats(), sum(0..n));
        assert!(store.zero_stats().is_err(), "zero waits, then gives up");
        assert_eq!(store.lifetime_stats(), sum(0..n));
        // A lock older than a minute is abandoned: broken and compacted.
        File::options()
            .write(true)
            .open(&lock)
            .unwrap()
            .set_modified(SystemTime::now() - 2 * STATS_LOCK_STALE_AGE)
            .unwrap();
        assert_eq!(store.compact_stats().unwrap(), Some(n as usize));
        assert_eq!(names_in(&store), [STATS_TOTAL], "lock released");
        assert_eq!(store.lifetime_stats(), sum(0..n));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn zero_resets_the_counters_only() {
        let root = temp_root("zero");
        let store = DirectoryStore::new(&root);
        assert!(store.insert(&CacheKey([3; 32]), b"entry"));
        for i in 0..STATS_COMPACT_THRESHOLD as u64 + 3 {
            store.record_process_stats(&snap(i)).unwrap();
        }
        store.record_process_stats(&snap(1)).unwrap();
        store.zero_stats().unwrap();
        assert_eq!(store.lifetime_stats(), CacheStatsSnapshot::default());
        assert_eq!(names_in(&store), [STATS_TOTAL]);
        assert_eq!(store.disk_usage().unwrap().entries, 1);
        store.record_process_stats(&snap(9)).unwrap();
        assert_eq!(store.lifetime_stats(), snap(9));
        // Zeroing a cache that never recorded anything is fine.
        DirectoryStore::new(temp_root("zero-empty"))
            .zero_stats()
            .unwrap();
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn concurrent_recorders_lose_and_double_nothing() {
        let root = temp_root("threads");
        const THREADS: u64 = 6;
        const EACH: u64 = 50;
        let reader = DirectoryStore::new(&root);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let root = &root;
                    scope.spawn(move || {
                        for i in 0..EACH {
                            // One store per record, as one process each.
                            DirectoryStore::new(root)
                                .record_process_stats(&snap(t * EACH + i))
                                .unwrap();
                        }
                    })
                })
                .collect();
            let done = &done;
            let reader = &reader;
            scope.spawn(move || {
                // Reads during compactions never panic or fail.
                while !done.load(Ordering::Relaxed) {
                    reader.read_lifetime_stats().unwrap();
                }
            });
            for h in handles {
                h.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        let expected = sum(0..THREADS * EACH);
        assert_eq!(reader.lifetime_stats(), expected);
        assert!(
            process_files(&reader) <= STATS_COMPACT_THRESHOLD + THREADS as usize,
            "compactions ran: {}",
            process_files(&reader)
        );
        assert!(reader.stats_dir().join(STATS_TOTAL).exists());
        reader.compact_stats().unwrap();
        assert_eq!(reader.lifetime_stats(), expected);
        assert!(!names_in(&reader).iter().any(|n| n.starts_with(TEMP_PREFIX)));
        let _ = fs::remove_dir_all(&root);
    }
}
