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
use crate::{CacheKey, CacheKvStore, CacheStats};

// The lifetime statistics live in `lifetime.rs`; their names stay
// reachable here, where they were first published.
pub use crate::lifetime::{
    add_snapshots, decode_stats_file, encode_stats_file, LifetimeStats, STATS_COMPACT_THRESHOLD,
    STATS_DIR, STATS_LOCK, STATS_LOCK_STALE_AGE, STATS_MAGIC, STATS_MAX_FILE_LEN, STATS_MAX_FOLD,
    STATS_SUFFIX, STATS_TEMP_MAX_AGE, STATS_TOTAL,
};

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
pub(crate) const FUTURE_SKEW: Duration = Duration::from_secs(24 * 3600);

/// Number of fan-out folders (two hex digits).
const FANOUT: u64 = 256;

/// A cache directory shared by any number of threads and processes.
#[derive(Debug)]
pub struct DirectoryStore {
    pub(crate) root: PathBuf,
    dir: PathBuf,
    budget: Option<u64>,
    touch_interval: Duration,
    pub(crate) temp_max_age: Duration,
    stats: CacheStats,
    pub(crate) temp_counter: AtomicU64,
    pub(crate) temp_salt: u64,
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

pub(crate) fn is_hex(name: &str, len: usize) -> bool {
    name.len() == len && name.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Files directly inside `dir`, skipping entries that vanish while listed.
/// A missing `dir` is empty.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<(PathBuf, String, fs::Metadata)>> {
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

/// Opens `path` for reading if it is a regular file: `Ok(None)` if it is
/// missing, an `InvalidData` error if it is anything else (a FIFO, a
/// socket, a device, a folder). The open does not block (`O_NONBLOCK`:
/// opening a FIFO with no writer would wait forever), and the type is
/// checked on the opened file, so it cannot change in between.
pub(crate) fn open_regular(path: &Path) -> io::Result<Option<(File, fs::Metadata)>> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    Ok(Some((file, meta)))
}

/// Removes a file; one already gone counts as removed by someone else.
pub(crate) fn remove_file_quiet(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn age(modified: SystemTime, now: SystemTime) -> Duration {
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
        let Some((mut file, meta)) = open_regular(path)? else {
            return Ok(None);
        };
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
pub(crate) fn write_via_temp(
    temp: &Path,
    folder: &Path,
    path: &Path,
    bytes: &[u8],
) -> io::Result<()> {
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
}
