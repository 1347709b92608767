//! Lifetime statistics of a directory store, persisted under
//! `<root>/stats/`: one small file per process (written at exit by
//! [`DirectoryStore::record_process_stats`]) and a folded `total`, summed
//! by [`DirectoryStore::read_lifetime_stats`] and compacted under a lock
//! file. See docs/cache.md, "Statistics on disk", for the format and the
//! argument. Kept apart from the entry store (`directory.rs`): the two
//! share the root and a few file helpers, nothing else.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use crate::directory::{
    age, is_hex, list, open_regular, remove_file_quiet, write_via_temp, DirectoryStore,
    FUTURE_SKEW, TEMP_PREFIX,
};
use crate::CacheStatsSnapshot;

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
    // Not a plain `File::open`: a FIFO planted here must not block.
    let Some((file, _)) = open_regular(path)? else {
        return Ok(None);
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
    pub(crate) fn sweep_stats_temps(&self, dir: &Path) -> io::Result<u64> {
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
    use crate::{CacheKey, CacheKvStore, DiskUsage};
    use std::fs::File;

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
