//! DirectoryStore behaviour on a real file system, including crash leftovers
//! and several processes sharing one directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kiln_cache::directory::{CleanupReport, TEMP_PREFIX};
use kiln_cache::entry::{encode_entry, encode_entry_timed, ENVELOPE_OVERHEAD, FORMAT_VERSION};
use kiln_cache::{
    lookup, store_entry, CacheKey, CacheKvStore, DirectoryStore, DiskUsage, EntryError, Lookup,
};

const COMPILER: &str = "kiln 0.1.0 (directory tests)";

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "kiln-cache-test-{name}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn key(i: u32) -> CacheKey {
    // Spread keys over fan-out folders like real digests do.
    let mut b = [0u8; 32];
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    for chunk in b.chunks_mut(8) {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    CacheKey(b)
}

fn payload(i: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| (j as u32).wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) as u8)
        .collect()
}

/// Files whose name starts with the temporary prefix, anywhere in the tree.
fn temp_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(items) = fs::read_dir(&dir) else {
            continue;
        };
        for item in items.flatten() {
            let path = item.path();
            if path.is_dir() {
                stack.push(path);
            } else if item.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                out.push(path);
            }
        }
    }
    out
}

fn set_age(path: &Path, age: Duration) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn round_trip_layout_replace_remove() {
    let dir = TempDir::new("roundtrip");
    let store = DirectoryStore::new(dir.path());
    let k = key(1);
    assert!(matches!(lookup(&store, &k, COMPILER), Lookup::Miss));
    assert!(store_entry(
        &store,
        &k,
        COMPILER,
        &payload(1, 2048),
        Some(Duration::from_millis(4))
    ));
    let hex = k.to_string();
    let expected = dir
        .path()
        .join(format!("v{FORMAT_VERSION}"))
        .join(&hex[..2])
        .join(&hex[2..]);
    assert_eq!(store.entry_path(&k), expected);
    assert!(expected.is_file());
    let hit = lookup(&store, &k, COMPILER).hit().expect("hit");
    assert_eq!(hit.payload(), &payload(1, 2048)[..]);
    assert_eq!(hit.compile_time(), Some(Duration::from_millis(4)));

    // Replace under the same key.
    assert!(store_entry(&store, &k, COMPILER, b"second", None));
    assert_eq!(
        lookup(&store, &k, COMPILER).hit().unwrap().payload(),
        b"second"
    );

    assert!(store_entry(&store, &key(2), COMPILER, b"other", None));
    let usage = store.disk_usage().unwrap();
    let entry_len = |p: usize| (ENVELOPE_OVERHEAD + COMPILER.len() + p) as u64;
    assert_eq!(
        usage,
        DiskUsage {
            entries: 2,
            entry_bytes: entry_len(6) + entry_len(5),
            ..DiskUsage::default()
        }
    );
    assert!(temp_files(dir.path()).is_empty());

    assert!(store.remove(&k));
    assert!(!store.remove(&k));
    assert!(matches!(lookup(&store, &k, COMPILER), Lookup::Miss));

    let s = store.stats().snapshot();
    assert_eq!((s.hits, s.misses, s.stores, s.store_errors), (2, 2, 3, 0));
    assert_eq!(s.bytes_read, entry_len(2048) + entry_len(6));
}

#[test]
fn vanished_files_and_directories_are_misses() {
    let dir = TempDir::new("vanish");
    let root = dir.path().join("cache");
    let store = DirectoryStore::new(&root);
    assert!(store_entry(&store, &key(1), COMPILER, b"a", None));
    assert!(store_entry(&store, &key(2), COMPILER, b"b", None));
    fs::remove_file(store.entry_path(&key(1))).unwrap();
    assert!(matches!(lookup(&store, &key(1), COMPILER), Lookup::Miss));
    // The whole tree deleted under a running store.
    fs::remove_dir_all(&root).unwrap();
    assert!(matches!(lookup(&store, &key(2), COMPILER), Lookup::Miss));
    assert_eq!(store.disk_usage().unwrap(), DiskUsage::default());
    // Writing recreates the folders.
    assert!(store_entry(&store, &key(2), COMPILER, b"b2", None));
    assert_eq!(
        lookup(&store, &key(2), COMPILER).hit().unwrap().payload(),
        b"b2"
    );
    let s = store.stats().snapshot();
    assert_eq!(s.store_errors, 0, "a vanished file is a miss, not an error");
    assert_eq!(s.misses, 2);
}

/// Runs `f` on a thread and fails the test if it takes more than ten
/// seconds (a blocked `open` would otherwise hang the test run).
fn within_ten_seconds<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what}: still blocked after 10 s"))
}

#[test]
fn a_fifo_or_folder_at_an_entry_path_is_a_miss_at_once() {
    let dir = TempDir::new("fifo");
    let store = Arc::new(DirectoryStore::new(dir.path()));
    assert!(store_entry(&*store, &key(1), COMPILER, b"x", None));
    assert!(store_entry(&*store, &key(2), COMPILER, b"x", None));
    let fifo = store.entry_path(&key(1));
    fs::remove_file(&fifo).unwrap();
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "mkfifo {} failed (coreutils is part of every CI image)",
        fifo.display()
    );
    let folder = store.entry_path(&key(2));
    fs::remove_file(&folder).unwrap();
    fs::create_dir(&folder).unwrap();
    let s = Arc::clone(&store);
    let (fifo_lookup, folder_lookup, lent) =
        within_ten_seconds("lookup of a FIFO entry", move || {
            let a = matches!(lookup(&*s, &key(1), COMPILER), Lookup::Miss);
            let b = matches!(lookup(&*s, &key(2), COMPILER), Lookup::Miss);
            let lent = s.get_with(&key(1), &mut |_| panic!("bytes from a FIFO"));
            (a, b, lent)
        });
    assert!(fifo_lookup && folder_lookup && !lent);
    let stats = store.stats().snapshot();
    assert_eq!(stats.misses, 2);
    assert_eq!(stats.store_errors, 3, "an odd file is counted");
    // An insert replaces the FIFO (rename over it) and then hits.
    assert!(store_entry(&*store, &key(1), COMPILER, b"fresh", None));
    assert_eq!(
        lookup(&*store, &key(1), COMPILER).hit().unwrap().payload(),
        b"fresh"
    );
}

#[test]
fn failed_writes_are_counted_ignored_and_leave_no_temp_files() {
    let dir = TempDir::new("failwrite");
    // A root that is a regular file: no folder can be created under it.
    let file_root = dir.path().join("not-a-dir");
    fs::write(&file_root, b"x").unwrap();
    let store = DirectoryStore::new(&file_root);
    assert!(!store_entry(&store, &key(1), COMPILER, b"p", None));
    assert!(matches!(lookup(&store, &key(1), COMPILER), Lookup::Miss));
    assert!(!store.remove(&key(1)));
    // A misconfigured root is an error for every operation (not merely
    // "absent"), so that `kiln cache stats` shows it; still never fatal.
    let s = store.stats().snapshot();
    assert_eq!((s.store_errors, s.misses, s.stores), (3, 1, 0));

    // The rename fails because a non-empty folder occupies the entry's
    // name: the temporary file must be removed.
    let store = DirectoryStore::new(dir.path().join("cache"));
    let blocked = store.entry_path(&key(3));
    fs::create_dir_all(blocked.join("occupied")).unwrap();
    assert!(!store_entry(
        &store,
        &key(3),
        COMPILER,
        &payload(3, 5000),
        None
    ));
    assert!(temp_files(dir.path()).is_empty());
    // Reading a folder is an I/O error: a counted miss.
    assert!(matches!(lookup(&store, &key(3), COMPILER), Lookup::Miss));
    let s = store.stats().snapshot();
    assert_eq!((s.stores, s.store_errors, s.misses), (0, 2, 1));
    // Other keys still work.
    assert!(store_entry(&store, &key(4), COMPILER, b"fine", None));
    assert!(lookup(&store, &key(4), COMPILER).hit().is_some());
}

#[test]
fn damaged_file_is_rejected_then_overwritten() {
    let dir = TempDir::new("damaged");
    let store = DirectoryStore::new(dir.path());
    let k = key(7);
    assert!(store_entry(&store, &k, COMPILER, &payload(7, 3000), None));
    let path = store.entry_path(&k);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    match lookup(&store, &k, COMPILER) {
        Lookup::Rejected(EntryError::ChecksumMismatch) => {}
        other => panic!("{other:?}"),
    }
    // An entry stored under another key's name (a copied file).
    fs::copy(&path, store.entry_path(&key(8))).unwrap_or_else(|_| {
        fs::create_dir_all(store.entry_path(&key(8)).parent().unwrap()).unwrap();
        fs::copy(&path, store.entry_path(&key(8))).unwrap()
    });
    match lookup(&store, &key(8), COMPILER) {
        Lookup::Rejected(EntryError::KeyMismatch) => {}
        other => panic!("{other:?}"),
    }
    // A different compiler's entry.
    assert!(store_entry(&store, &key(9), "kiln 9.9.9", b"old", None));
    match lookup(&store, &key(9), COMPILER) {
        Lookup::Rejected(EntryError::CompilerMismatch) => {}
        other => panic!("{other:?}"),
    }
    // The compile layer recompiles and overwrites.
    assert!(store_entry(&store, &k, COMPILER, &payload(7, 3000), None));
    assert_eq!(
        lookup(&store, &k, COMPILER).hit().unwrap().payload(),
        &payload(7, 3000)[..]
    );
    let s = store.stats().snapshot();
    assert_eq!((s.rejected_damaged, s.rejected_stale), (2, 1));
    assert_eq!((s.hits, s.misses), (1, 3));
}

#[test]
fn killed_mid_write_leaves_nothing_readable() {
    let dir = TempDir::new("killed");
    let store = DirectoryStore::new(dir.path()).with_temp_max_age(Duration::from_secs(600));
    let k = key(11);
    let entry = encode_entry(&k, COMPILER, &payload(11, 4096)).unwrap();
    let final_path = store.entry_path(&k);
    let folder = final_path.parent().unwrap().to_path_buf();
    fs::create_dir_all(&folder).unwrap();

    // A writer killed before its rename leaves a partial temporary file.
    let crashed = folder.join(format!("{TEMP_PREFIX}99999-0-00000000deadbeef"));
    fs::write(&crashed, &entry[..entry.len() / 3]).unwrap();
    assert!(matches!(lookup(&store, &k, COMPILER), Lookup::Miss));
    let usage = store.disk_usage().unwrap();
    assert_eq!((usage.entries, usage.temp_files), (0, 1));

    // A truncated file at the final path (e.g. a copy interrupted, or a
    // power loss after rename without fsync) is rejected by the envelope,
    // for every length.
    for len in (0..entry.len()).step_by(97).chain([entry.len() - 1]) {
        fs::write(&final_path, &entry[..len]).unwrap();
        match lookup(&store, &k, COMPILER) {
            Lookup::Rejected(_) => {}
            other => panic!("truncated to {len}: {other:?}"),
        }
    }

    // A young temporary file may belong to a live writer: kept.
    assert_eq!(store.cleanup().unwrap().temps_removed, 0);
    assert!(crashed.exists());
    // An old one is abandoned: removed.
    set_age(&crashed, Duration::from_secs(3600));
    let report = store.cleanup().unwrap();
    assert_eq!(report.temps_removed, 1);
    assert!(!crashed.exists());

    // A complete write repairs the entry.
    assert!(store.insert(&k, &entry));
    assert!(lookup(&store, &k, COMPILER).hit().is_some());
}

#[test]
fn budget_evicts_least_recently_used_first() {
    let dir = TempDir::new("budget");
    let entry_len = (ENVELOPE_OVERHEAD + COMPILER.len() + 5000) as u64;
    let budget = 12 * entry_len; // room for 12 entries
    let store = DirectoryStore::new(dir.path())
        .with_budget(budget)
        .with_touch_interval(Duration::ZERO);
    for i in 0..10 {
        assert!(store_entry(
            &store,
            &key(i),
            COMPILER,
            &payload(i, 5000),
            None
        ));
    }
    assert_eq!(store.disk_usage().unwrap().entries, 10);
    // Make the ages explicit: key 0 oldest ... key 9 newest.
    for i in 0..10 {
        set_age(
            &store.entry_path(&key(i)),
            Duration::from_secs(1000 - u64::from(i)),
        );
    }
    // Hits on 0 and 1 make them the most recently used.
    assert!(lookup(&store, &key(0), COMPILER).hit().is_some());
    assert!(lookup(&store, &key(1), COMPILER).hit().is_some());
    // Three more entries pass the budget (13 > 12); eviction goes down to
    // 80% (9.6 entries -> 9 entries), oldest first: 2, 3, 4, 5.
    for i in 10..13 {
        assert!(store_entry(
            &store,
            &key(i),
            COMPILER,
            &payload(i, 5000),
            None
        ));
    }
    let present: Vec<u32> = (0..13)
        .filter(|&i| store.entry_path(&key(i)).exists())
        .collect();
    assert_eq!(present, vec![0, 1, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(store.stats().snapshot().evictions, 4);
    let usage = store.disk_usage().unwrap();
    assert!(usage.entry_bytes <= budget * 8 / 10, "{usage}");
}

#[test]
fn budget_holds_over_many_inserts() {
    let dir = TempDir::new("budget-many");
    let budget = 200_000;
    let store = DirectoryStore::new(dir.path()).with_budget(budget);
    for i in 0..400u32 {
        let len = 500 + (i as usize * 37) % 3000;
        assert!(store_entry(
            &store,
            &key(i),
            COMPILER,
            &payload(i, len),
            None
        ));
        let usage = store.disk_usage().unwrap();
        assert!(usage.entry_bytes <= budget, "after {i}: {usage}");
    }
    let usage = store.disk_usage().unwrap();
    assert!(usage.entry_bytes >= budget / 2, "{usage}");
    let s = store.stats().snapshot();
    assert!(s.evictions > 0);
    // Every surviving entry is intact.
    let mut alive = 0;
    for i in 0..400u32 {
        match lookup(&store, &key(i), COMPILER) {
            Lookup::Hit(hit) => {
                assert_eq!(
                    hit.payload(),
                    &payload(i, 500 + (i as usize * 37) % 3000)[..]
                );
                alive += 1;
            }
            Lookup::Miss => {}
            Lookup::Rejected(e) => panic!("{e}"),
        }
    }
    assert_eq!(alive, usage.entries);
    // The most recent insert always survives.
    assert!(store.entry_path(&key(399)).exists());
}

#[test]
fn clear_and_disk_usage_cover_all_versions_only() {
    let dir = TempDir::new("clear");
    let store = DirectoryStore::new(dir.path());
    for i in 0..5 {
        assert!(store_entry(
            &store,
            &key(i),
            COMPILER,
            &payload(i, 100),
            None
        ));
    }
    // An older format's folder, a temp file, and a user's unrelated file.
    fs::create_dir_all(dir.path().join("v0/ab")).unwrap();
    fs::write(dir.path().join("v0/ab/old"), [0u8; 10]).unwrap();
    let folder = store.entry_path(&key(0)).parent().unwrap().to_path_buf();
    fs::write(folder.join(format!("{TEMP_PREFIX}1-2-3")), [0u8; 7]).unwrap();
    fs::write(dir.path().join("README"), b"mine").unwrap();
    let usage = store.disk_usage().unwrap();
    assert_eq!(usage.entries, 5);
    assert_eq!((usage.temp_files, usage.temp_bytes), (1, 7));
    assert_eq!((usage.other_files, usage.other_bytes), (1, 10));
    assert!(usage.to_string().starts_with("5 entries"));
    assert_eq!(store.clear().unwrap(), usage);
    assert_eq!(store.disk_usage().unwrap(), DiskUsage::default());
    assert!(dir.path().join("README").exists());
    assert!(!dir.path().join("v0").exists());
    // Usable after clearing.
    assert!(store_entry(&store, &key(1), COMPILER, b"again", None));
    assert!(lookup(&store, &key(1), COMPILER).hit().is_some());
    assert_eq!(
        DirectoryStore::new(dir.path().join("missing"))
            .clear()
            .unwrap(),
        DiskUsage::default()
    );
}

#[test]
fn cleanup_without_budget_only_sweeps_temps() {
    let dir = TempDir::new("cleanup");
    let store = DirectoryStore::new(dir.path());
    for i in 0..20 {
        assert!(store_entry(
            &store,
            &key(i),
            COMPILER,
            &payload(i, 1000),
            None
        ));
    }
    let report = store.cleanup().unwrap();
    assert_eq!(
        report,
        CleanupReport {
            remaining_bytes: store.disk_usage().unwrap().entry_bytes,
            ..CleanupReport::default()
        }
    );
}

#[test]
fn threads_share_one_directory_store() {
    let dir = TempDir::new("threads");
    let store = Arc::new(DirectoryStore::new(dir.path()).with_budget(300_000));
    let handles: Vec<_> = (0..4u32)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for round in 0..400u32 {
                    let i = (round * 13 + t * 5) % 150;
                    let expected = payload(i, 1000 + (i as usize % 7) * 500);
                    match lookup(&*store, &key(i), COMPILER) {
                        Lookup::Hit(hit) => assert_eq!(hit.payload(), &expected[..]),
                        Lookup::Miss => {}
                        Lookup::Rejected(e) => panic!("{e}"),
                    }
                    assert!(store_entry(&*store, &key(i), COMPILER, &expected, None));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let s = store.stats().snapshot();
    assert_eq!((s.rejected(), s.store_errors), (0, 0), "{s}");
    assert!(s.hits > 0);
    assert!(temp_files(dir.path()).is_empty());
}

// ---------------------------------------------------------------------------
// Several processes on one directory.

const CHILD_DIR: &str = "KILN_CACHE_TEST_CHILD_DIR";
const CHILD_ID: &str = "KILN_CACHE_TEST_CHILD_ID";
const CHILD_BUDGET: &str = "KILN_CACHE_TEST_CHILD_BUDGET";
const KEYS: u32 = 120;
const ROUNDS: u32 = 1500;

fn child_payload(i: u32) -> Vec<u8> {
    payload(i ^ 0x5555, 700 + (i as usize * 211) % 6000)
}

/// The body of a child process. Without the environment variables (a normal
/// test run) it does nothing.
#[test]
fn child_worker() {
    let (Some(dir), Some(id)) = (std::env::var_os(CHILD_DIR), std::env::var_os(CHILD_ID)) else {
        return;
    };
    let id: u32 = id.to_str().unwrap().parse().unwrap();
    let dir = PathBuf::from(dir);
    let mut store = DirectoryStore::new(&dir).with_touch_interval(Duration::ZERO);
    if let Some(budget) = std::env::var_os(CHILD_BUDGET) {
        store = store.with_budget(budget.to_str().unwrap().parse().unwrap());
    }
    // Start together: wait for the parent's signal.
    let go = dir.join("go");
    let started = std::time::Instant::now();
    while !go.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no start signal"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = now_ns();
    let mut hits = 0;
    for round in 0..ROUNDS {
        // Overlapping keys, visited in a different order by each child, so
        // the same key is often written by both at once.
        let i = if id == 0 {
            round % KEYS
        } else {
            (KEYS - 1) - (round * 7) % KEYS
        };
        let expected = child_payload(i);
        match lookup(&store, &key(i), COMPILER) {
            Lookup::Hit(hit) => {
                assert_eq!(hit.payload(), &expected[..], "key {i}");
                hits += 1;
            }
            Lookup::Miss => {}
            Lookup::Rejected(e) => panic!("child {id} round {round}: key {i} rejected: {e}"),
        }
        // Write unconditionally: maximal same-key write races.
        let written = store_entry(
            &store,
            &key(i),
            COMPILER,
            &expected,
            Some(Duration::from_micros(u64::from(i) + 1)),
        );
        assert!(written, "child {id} round {round}: write failed");
    }
    let s = store.stats().snapshot();
    assert_eq!(s.store_errors, 0, "{s}");
    println!(
        "CHILD-DONE id={id} hits={hits} stores={} evictions={} start={start} end={}",
        s.stores,
        s.evictions,
        now_ns()
    );
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// `name=value` fields of a child's `CHILD-DONE` line.
struct ChildReport {
    stores: u64,
    evictions: u64,
    start: u64,
    end: u64,
}

fn parse_report(stdout: &str) -> ChildReport {
    let line = stdout
        .lines()
        .find(|l| l.contains("CHILD-DONE"))
        .expect("CHILD-DONE line");
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{name} in {line}"))
            .parse()
            .unwrap()
    };
    ChildReport {
        stores: field("stores"),
        evictions: field("evictions"),
        start: field("start"),
        end: field("end"),
    }
}

fn spawn_child(dir: &Path, id: u32, budget: Option<u64>) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["child_worker", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_ID, id.to_string())
        .env_remove(CHILD_BUDGET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(budget) = budget {
        cmd.env(CHILD_BUDGET, budget.to_string());
    }
    cmd.spawn().unwrap()
}

/// Runs two child processes on `dir`, checks they both finished their work
/// and that their work overlapped in time.
fn run_two_processes(dir: &Path, budget: Option<u64>) -> Vec<ChildReport> {
    let children = [spawn_child(dir, 0, budget), spawn_child(dir, 1, budget)];
    fs::write(dir.join("go"), b"").unwrap();
    let mut reports = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "child failed: {}\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stdout.contains("CHILD-DONE"),
            "child did not run its work:\n{stdout}\n{stderr}"
        );
        let report = parse_report(&stdout);
        assert_eq!(report.stores, u64::from(ROUNDS));
        reports.push(report);
    }
    let (a, b) = (&reports[0], &reports[1]);
    assert!(
        a.start < b.end && b.start < a.end,
        "the two processes did not run at the same time"
    );
    reports
}

#[test]
fn two_processes_fill_one_directory() {
    let dir = TempDir::new("procs");
    run_two_processes(dir.path(), None);
    // Every key was written by both processes; each entry is whole.
    let store = DirectoryStore::new(dir.path());
    for i in 0..KEYS {
        match lookup(&store, &key(i), COMPILER) {
            Lookup::Hit(hit) => {
                assert_eq!(hit.payload(), &child_payload(i)[..], "key {i}");
                assert_eq!(
                    hit.compile_time(),
                    Some(Duration::from_micros(u64::from(i) + 1))
                );
            }
            other => panic!("key {i}: {other:?}"),
        }
    }
    let usage = store.disk_usage().unwrap();
    assert_eq!(usage.entries, u64::from(KEYS));
    assert_eq!(usage.temp_files, 0, "{usage}");
}

#[test]
fn two_processes_with_eviction() {
    let dir = TempDir::new("procs-budget");
    let budget = 150_000;
    let reports = run_two_processes(dir.path(), Some(budget));
    assert!(reports.iter().map(|r| r.evictions).sum::<u64>() > 0);
    let store = DirectoryStore::new(dir.path());
    let mut alive = 0;
    for i in 0..KEYS {
        match lookup(&store, &key(i), COMPILER) {
            Lookup::Hit(hit) => {
                assert_eq!(hit.payload(), &child_payload(i)[..], "key {i}");
                alive += 1;
            }
            Lookup::Miss => {}
            other => panic!("key {i}: {other:?}"),
        }
    }
    let usage = store.disk_usage().unwrap();
    assert_eq!(usage.temp_files, 0, "{usage}");
    assert_eq!(alive, usage.entries);
    assert!(alive > 0);
    // Each process keeps its own estimate exact up to the other's writes
    // since its last scan, so two processes stay within twice the budget.
    assert!(usage.entry_bytes <= 2 * budget, "{usage}");
}

#[test]
fn entries_written_by_timed_encoder_are_plain_files() {
    // The on-disk file is exactly the envelope: tools can read it.
    let dir = TempDir::new("plain");
    let store = DirectoryStore::new(dir.path());
    let k = key(42);
    let entry = encode_entry_timed(&k, COMPILER, b"abc", Some(Duration::from_nanos(5))).unwrap();
    assert!(store.insert(&k, &entry));
    assert_eq!(fs::read(store.entry_path(&k)).unwrap(), entry);
}

#[test]
fn first_insert_sweeps_abandoned_temps_in_its_folder() {
    let dir = TempDir::new("sweep");
    let store = DirectoryStore::new(dir.path());
    let k = key(5);
    let folder = store.entry_path(&k).parent().unwrap().to_path_buf();
    fs::create_dir_all(&folder).unwrap();
    let old = folder.join(format!("{TEMP_PREFIX}1-1-0000000000000001"));
    let young = folder.join(format!("{TEMP_PREFIX}1-2-0000000000000001"));
    fs::write(&old, b"partial").unwrap();
    fs::write(&young, b"in progress").unwrap();
    set_age(&old, Duration::from_secs(2 * 3600));
    // No budget needed: the first insert of a process sweeps its folder.
    assert!(store_entry(&store, &k, COMPILER, b"x", None));
    assert!(!old.exists(), "abandoned temp file kept");
    assert!(young.exists(), "a live writer's temp file was removed");
}

#[test]
fn entries_dated_far_in_the_future_are_evicted_first() {
    let dir = TempDir::new("future");
    let entry_len = (ENVELOPE_OVERHEAD + COMPILER.len() + 1000) as u64;
    let store = DirectoryStore::new(dir.path()).with_budget(10 * entry_len);
    for i in 0..10 {
        assert!(store_entry(
            &store,
            &key(i),
            COMPILER,
            &payload(i, 1000),
            None
        ));
    }
    let skewed = fs::File::options()
        .write(true)
        .open(store.entry_path(&key(9)))
        .unwrap();
    skewed
        .set_modified(SystemTime::now() + Duration::from_secs(7 * 24 * 3600))
        .unwrap();
    // One more entry: 11 > 10, evict down to 8, and the future-dated one
    // goes first.
    assert!(store_entry(
        &store,
        &key(10),
        COMPILER,
        &payload(10, 1000),
        None
    ));
    assert!(!store.entry_path(&key(9)).exists());
    assert!(store.entry_path(&key(10)).exists());
    assert_eq!(store.disk_usage().unwrap().entries, 8);
}
