//! Cache storage benchmarks with plain `std::time`.
//!
//! Run: `cargo bench -p kiln-cache --bench store`
//! The directory store works under `$KILN_BENCH_DIR` if set, else the system
//! temporary directory.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use kiln_cache::entry::{decode_entry, encode_entry_into, encode_entry_timed};
use kiln_cache::{
    lookup, xxh64, CacheKey, CacheKvStore, DirectoryStore, MemoryStore, WriteBehindStore,
};
use sha2::{Digest, Sha256};

const COMPILER: &str = "kiln 0.1.0 (bench)";

/// Median time per operation over `batches` batches of `per_batch` calls.
fn measure(batches: usize, per_batch: usize, mut op: impl FnMut(usize)) -> Duration {
    // Warm up.
    for i in 0..per_batch {
        op(i);
    }
    let mut samples: Vec<Duration> = (0..batches)
        .map(|b| {
            let start = Instant::now();
            for i in 0..per_batch {
                op(b * per_batch + i);
            }
            start.elapsed() / per_batch as u32
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn report(name: &str, bytes: usize, per_op: Duration) {
    let ns = per_op.as_nanos();
    if bytes > 0 {
        let gbps = bytes as f64 / per_op.as_secs_f64() / 1e9;
        println!("{name:<44} {ns:>9} ns/op {gbps:>8.2} GB/s");
    } else {
        println!("{name:<44} {ns:>9} ns/op");
    }
}

fn key(i: usize) -> CacheKey {
    let mut b = [0u8; 32];
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in b.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    CacheKey(b)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + 7) as u8).collect()
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    println!("kiln-cache store benchmark (median of batches, per operation)");

    for &len in &[2048usize, 65536] {
        let data = payload(len);
        let n = if len > 4096 { 2_000 } else { 50_000 };
        report(
            &format!("checksum xxh64 {} KiB", len / 1024),
            len,
            measure(15, n, |_| {
                black_box(xxh64(black_box(&data)));
            }),
        );
        report(
            &format!("checksum sha256 {} KiB (for comparison)", len / 1024),
            len,
            measure(15, n / 4, |_| {
                black_box(Sha256::digest(black_box(&data)));
            }),
        );
    }

    for &len in &[2048usize, 65536] {
        let data = payload(len);
        let k = key(1);
        let n = if len > 4096 { 2_000 } else { 50_000 };
        let mut buf = Vec::new();
        report(
            &format!("encode_entry_into {} KiB (reused buffer)", len / 1024),
            len,
            measure(15, n, |_| {
                encode_entry_into(&mut buf, &k, COMPILER, black_box(&data), None).unwrap();
                black_box(&buf);
            }),
        );
        report(
            &format!("encode_entry {} KiB (fresh Vec)", len / 1024),
            len,
            measure(15, n, |_| {
                black_box(encode_entry_timed(&k, COMPILER, black_box(&data), None).unwrap());
            }),
        );
        let entry = encode_entry_timed(&k, COMPILER, &data, None).unwrap();
        report(
            &format!("decode_entry {} KiB", len / 1024),
            len,
            measure(15, n, |_| {
                black_box(decode_entry(&k, COMPILER, black_box(&entry)).unwrap());
            }),
        );
    }

    // Memory store.
    {
        let store = MemoryStore::with_budget(64 << 20);
        let entry = encode_entry_timed(&key(0), COMPILER, &payload(2048), None).unwrap();
        for i in 0..1000 {
            store.insert(&key(i), &entry);
        }
        report(
            "MemoryStore insert 2 KiB (budgeted)",
            0,
            measure(15, 10_000, |i| {
                store.insert(&key(i % 1000), &entry);
            }),
        );
        report(
            "MemoryStore get 2 KiB",
            0,
            measure(15, 10_000, |i| {
                black_box(store.get(&key(i % 1000)));
            }),
        );
    }

    // Directory store.
    let base = std::env::var_os("KILN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let root = base.join(format!("kiln-cache-bench-{}-{nanos}", std::process::id()));
    println!("directory store at {}", root.display());
    for &len in &[2048usize, 65536] {
        let store = DirectoryStore::new(&root).with_budget(1 << 30);
        let data = payload(len);
        let keys = 500;
        let entries: Vec<Vec<u8>> = (0..keys)
            .map(|i| encode_entry_timed(&key(i), COMPILER, &data, None).unwrap())
            .collect();
        for (i, e) in entries.iter().enumerate() {
            store.insert(&key(i), e);
        }
        let kib = len / 1024;
        let mut fresh = 10_000_000;
        report(
            &format!("DirectoryStore insert {kib} KiB (new key)"),
            0,
            measure(9, keys, |i| {
                fresh += 1;
                assert!(store.insert(&key(fresh), &entries[i % keys]));
            }),
        );
        report(
            &format!("DirectoryStore insert {kib} KiB (replace)"),
            0,
            measure(9, keys, |i| {
                assert!(store.insert(&key(i % keys), &entries[i % keys]));
            }),
        );
        report(
            &format!("DirectoryStore get {kib} KiB (hit, warm)"),
            0,
            measure(9, keys, |i| {
                black_box(store.get(&key(i % keys)).unwrap());
            }),
        );
        report(
            &format!("lookup via DirectoryStore {kib} KiB (get+decode)"),
            0,
            measure(9, keys, |i| {
                black_box(lookup(&store, &key(i % keys), COMPILER).hit().unwrap());
            }),
        );
        report(
            &format!("DirectoryStore get miss ({kib} KiB run)"),
            0,
            measure(9, keys, |i| {
                assert!(store.get(&key(i + 1_000_000)).is_none());
            }),
        );
        let _ = store.clear();

        // The same inserts through a write-behind queue: the caller's cost
        // is the enqueue; the flush shows the worker's total.
        let behind = WriteBehindStore::new(DirectoryStore::new(&root).with_budget(1 << 30), 4096);
        let start = Instant::now();
        for (i, e) in entries.iter().enumerate() {
            assert!(behind.insert(&key(i + 20_000_000), e));
        }
        let enqueue = start.elapsed() / keys as u32;
        report(
            &format!("WriteBehindStore<Directory> insert {kib} KiB"),
            0,
            enqueue,
        );
        let start = Instant::now();
        behind.flush();
        println!(
            "{:<44} {:>9} ns/op",
            format!("  (background write, per entry, {kib} KiB)"),
            (start.elapsed() / keys as u32).as_nanos()
        );
        let _ = behind.inner().clear();
    }
    let _ = std::fs::remove_dir_all(&root);
}
