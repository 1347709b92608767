//! Cache statistics: lock-free, per-thread-sharded counters and a plain
//! snapshot to print.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared by every thread using one store.
///
/// Every counter is a relaxed atomic: the numbers are for people and for
/// benchmarks, never used to make decisions that need ordering. Take a
/// consistent-enough copy with [`CacheStats::snapshot`].
///
/// The counters are split into 16 cache-line-aligned shards, and
/// each thread records into the shard of its own thread slot:
/// threads running at the same time use different shards (up to
/// 16 of them), so a hit on one thread never writes a cache line
/// another thread is writing (one shared line made the hit path of
/// several threads slower than one thread's). [`CacheStats::snapshot`]
/// sums the shards, so totals stay exact: every record lands in exactly one
/// shard. A snapshot taken while other threads record is a sum of
/// per-counter values read at slightly different moments (as before: the
/// counters were never read together atomically).
///
/// Accounting rules:
/// - every [`lookup`](crate::lookup) counts exactly one hit or one miss;
/// - a *rejected* entry (damaged, stale or foreign, see
///   [`EntryError`](crate::EntryError)) is counted as a miss **and** under
///   `rejected_damaged` or `rejected_stale`;
/// - `stores` counts entries actually written, `store_errors` every failed
///   read or write inside a store (I/O errors, full disk, oversized entries);
///   an absent entry is a miss, not an error.
pub struct CacheStats {
    shards: [Shard; SHARDS],
}

/// Number of counter shards in a [`CacheStats`] (a power of two).
const SHARDS: usize = 16;

/// One thread's share of the counters, alone on its cache lines (128
/// bytes: adjacent-line prefetchers fetch lines in pairs).
#[derive(Default)]
#[repr(align(128))]
struct Shard {
    hits: AtomicU64,
    misses: AtomicU64,
    rejected_damaged: AtomicU64,
    rejected_stale: AtomicU64,
    stores: AtomicU64,
    store_errors: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    evictions: AtomicU64,
    time_saved_ns: AtomicU64,
}

impl Shard {
    const fn new() -> Self {
        Shard {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected_damaged: AtomicU64::new(0),
            rejected_stale: AtomicU64::new(0),
            stores: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            time_saved_ns: AtomicU64::new(0),
        }
    }

    fn counters(&self) -> [&AtomicU64; 10] {
        [
            &self.hits,
            &self.misses,
            &self.rejected_damaged,
            &self.rejected_stale,
            &self.stores,
            &self.store_errors,
            &self.bytes_read,
            &self.bytes_written,
            &self.evictions,
            &self.time_saved_ns,
        ]
    }
}

/// Thread slots: bit `i` set while a live thread holds slot `i`.
static SLOTS_IN_USE: AtomicU64 = AtomicU64::new(0);

/// A thread's slot, claimed on the thread's first record and released
/// when the thread exits.
struct ThreadSlot(usize);

impl ThreadSlot {
    /// The lowest free slot, so that threads alive together get distinct
    /// slots (with more than 64 live threads, slots are shared: still
    /// correct, only some counting contends).
    fn claim() -> ThreadSlot {
        let mut used = SLOTS_IN_USE.load(Ordering::Relaxed);
        loop {
            if used == u64::MAX {
                return ThreadSlot(usize::MAX);
            }
            let slot = (!used).trailing_zeros();
            match SLOTS_IN_USE.compare_exchange_weak(
                used,
                used | 1 << slot,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return ThreadSlot(slot as usize),
                Err(now) => used = now,
            }
        }
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        if self.0 < 64 {
            SLOTS_IN_USE.fetch_and(!(1 << self.0), Ordering::Relaxed);
        }
    }
}

thread_local! {
    static SLOT: ThreadSlot = ThreadSlot::claim();
    /// `SLOT` cached without a destructor check (`usize::MAX`: not yet read).
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The calling thread's shard index in `0..SHARDS`.
#[inline]
fn thread_slot() -> usize {
    SHARD.with(|cached| {
        let shard = cached.get();
        if shard != usize::MAX {
            return shard;
        }
        // During thread teardown the slot may be gone: use shard 0 then
        // (still exact, only shared).
        let shard = SLOT.try_with(|slot| slot.0 % SHARDS).unwrap_or(0);
        cached.set(shard);
        shard
    })
}

impl Default for CacheStats {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CacheStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheStats").field(&self.snapshot()).finish()
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// `counter -= 1` unless it is zero; true if it was decremented.
fn take_one(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

impl CacheStats {
    /// All counters at zero.
    pub const fn new() -> Self {
        CacheStats {
            shards: [const { Shard::new() }; SHARDS],
        }
    }

    /// The calling thread's shard.
    #[inline]
    fn mine(&self) -> &Shard {
        &self.shards[thread_slot() % SHARDS]
    }

    /// One lookup found a valid entry.
    pub fn record_hit(&self) {
        bump(&self.mine().hits, 1);
    }

    /// One lookup found nothing usable.
    pub fn record_miss(&self) {
        bump(&self.mine().misses, 1);
    }

    /// One lookup found an entry and rejected it. Counts a miss too.
    /// `stale` is true for a version or compiler mismatch (a foreign entry),
    /// false for damage (bad magic, truncation, checksum, ...).
    pub fn record_rejected(&self, stale: bool) {
        let shard = self.mine();
        bump(&shard.misses, 1);
        if stale {
            bump(&shard.rejected_stale, 1);
        } else {
            bump(&shard.rejected_damaged, 1);
        }
    }

    /// The envelope of a hit was valid but the layer above could not use
    /// the payload (for example its deserializer failed). Turns one counted
    /// hit into a damaged rejection (and a miss).
    pub fn record_payload_rejected(&self) {
        // The hit was normally counted by this thread, in its own shard;
        // otherwise take it from another shard. Saturate at zero rather
        // than wrap if a caller misuses it (no hit anywhere).
        let mine = thread_slot() % SHARDS;
        if !take_one(&self.shards[mine].hits) {
            let _ = (1..SHARDS).any(|i| take_one(&self.shards[(mine + i) % SHARDS].hits));
        }
        self.record_rejected(false);
    }

    /// One entry written.
    pub fn record_store(&self, bytes: u64) {
        let shard = self.mine();
        bump(&shard.stores, 1);
        bump(&shard.bytes_written, bytes);
    }

    /// A store operation failed (I/O error, full disk, entry too large...).
    /// Never fatal: the compile goes on without the cache.
    pub fn record_store_error(&self) {
        bump(&self.mine().store_errors, 1);
    }

    /// Bytes read back from a store (valid or not).
    pub fn record_read(&self, bytes: u64) {
        bump(&self.mine().bytes_read, bytes);
    }

    /// Entries evicted to respect a budget.
    pub fn record_evictions(&self, count: u64) {
        bump(&self.mine().evictions, count);
    }

    /// A hit avoided a compile that took `saved` when the entry was made
    /// (the compile layer reads it from [`Hit::compile_time`](crate::Hit::compile_time)).
    pub fn record_hit_saved(&self, saved: Duration) {
        let ns = u64::try_from(saved.as_nanos()).unwrap_or(u64::MAX);
        // Saturating add so that a bogus huge value cannot wrap the total
        // (each shard saturates, and `snapshot` sums them saturating: a
        // saturated shard means the true total is past `u64::MAX` too).
        let _ = self
            .mine()
            .time_saved_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(ns))
            });
    }

    /// Zero every counter (`--zero-stats`).
    pub fn reset(&self) {
        for shard in &self.shards {
            for counter in shard.counters() {
                counter.store(0, Ordering::Relaxed);
            }
        }
    }

    /// A copy of all counters (the sums over the shards).
    pub fn snapshot(&self) -> CacheStatsSnapshot {
        let mut sums = [0u64; 10];
        for shard in &self.shards {
            for (sum, counter) in sums.iter_mut().zip(shard.counters()) {
                *sum = sum.saturating_add(counter.load(Ordering::Relaxed));
            }
        }
        let [hits, misses, rejected_damaged, rejected_stale, stores, store_errors, bytes_read, bytes_written, evictions, time_saved_ns] =
            sums;
        CacheStatsSnapshot {
            hits,
            misses,
            rejected_damaged,
            rejected_stale,
            stores,
            store_errors,
            bytes_read,
            bytes_written,
            evictions,
            time_saved: Duration::from_nanos(time_saved_ns),
        }
    }
}

/// A copy of [`CacheStats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStatsSnapshot {
    /// Lookups that returned a valid entry.
    pub hits: u64,
    /// Lookups that returned nothing usable (includes rejected entries).
    pub misses: u64,
    /// Entries rejected as damaged (bad magic, truncated, checksum...).
    pub rejected_damaged: u64,
    /// Entries rejected as stale or foreign (format or compiler version).
    pub rejected_stale: u64,
    /// Entries written.
    pub stores: u64,
    /// Failed store operations (never fatal).
    pub store_errors: u64,
    /// Bytes read from the store.
    pub bytes_read: u64,
    /// Bytes written to the store.
    pub bytes_written: u64,
    /// Entries evicted to respect a budget.
    pub evictions: u64,
    /// Sum of the recorded compile times of hits.
    pub time_saved: Duration,
}

impl CacheStatsSnapshot {
    /// Lookups counted (hits + misses).
    pub fn lookups(&self) -> u64 {
        self.hits + self.misses
    }

    /// All rejected entries.
    pub fn rejected(&self) -> u64 {
        self.rejected_damaged + self.rejected_stale
    }

    /// Hits per lookup in `[0, 1]`, or `None` before the first lookup.
    pub fn hit_rate(&self) -> Option<f64> {
        let lookups = self.lookups();
        (lookups > 0).then(|| self.hits as f64 / lookups as f64)
    }
}

impl fmt::Display for CacheStatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hits {}, misses {}", self.hits, self.misses)?;
        if let Some(rate) = self.hit_rate() {
            write!(f, " (hit rate {:.1}%)", rate * 100.0)?;
        }
        write!(
            f,
            ", rejected {} damaged + {} stale, stores {}, store errors {}, \
             read {} B, written {} B, evictions {}, time saved {:.3} s",
            self.rejected_damaged,
            self.rejected_stale,
            self.stores,
            self.store_errors,
            self.bytes_read,
            self.bytes_written,
            self.evictions,
            self.time_saved.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_rules() {
        let stats = CacheStats::new();
        stats.record_hit();
        stats.record_hit();
        stats.record_miss();
        stats.record_rejected(true);
        stats.record_rejected(false);
        stats.record_payload_rejected();
        stats.record_store(100);
        stats.record_read(40);
        stats.record_store_error();
        stats.record_evictions(3);
        stats.record_hit_saved(Duration::from_millis(5));
        stats.record_hit_saved(Duration::from_millis(7));
        let s = stats.snapshot();
        assert_eq!(s.hits, 1);
        assert_eq!(s.misses, 4);
        assert_eq!(s.rejected_damaged, 2);
        assert_eq!(s.rejected_stale, 1);
        assert_eq!(s.rejected(), 3);
        assert_eq!(s.lookups(), 5);
        assert_eq!(s.stores, 1);
        assert_eq!(s.bytes_written, 100);
        assert_eq!(s.bytes_read, 40);
        assert_eq!(s.store_errors, 1);
        assert_eq!(s.evictions, 3);
        assert_eq!(s.time_saved, Duration::from_millis(12));
        assert_eq!(s.hit_rate(), Some(0.2));
        let text = s.to_string();
        assert!(
            text.starts_with("hits 1, misses 4 (hit rate 20.0%)"),
            "{text}"
        );
        assert!(text.contains("time saved 0.012 s"), "{text}");
        stats.reset();
        assert_eq!(stats.snapshot(), CacheStatsSnapshot::default());
        assert_eq!(stats.snapshot().hit_rate(), None);
    }

    #[test]
    fn payload_rejection_never_underflows() {
        let stats = CacheStats::new();
        stats.record_payload_rejected();
        let s = stats.snapshot();
        assert_eq!((s.hits, s.misses, s.rejected_damaged), (0, 1, 1));
    }

    #[test]
    fn exact_totals_from_many_threads() {
        let stats = CacheStats::new();
        std::thread::scope(|s| {
            for t in 0..24u64 {
                let stats = &stats;
                s.spawn(move || {
                    for _ in 0..2_000 {
                        stats.record_hit();
                        stats.record_read(t + 1);
                        stats.record_hit_saved(Duration::from_nanos(3));
                    }
                    stats.record_miss();
                    stats.record_rejected(t % 2 == 0);
                    stats.record_store(t);
                    stats.record_store_error();
                    stats.record_evictions(2);
                });
            }
        });
        let s = stats.snapshot();
        assert_eq!(s.hits, 24 * 2_000);
        assert_eq!(s.bytes_read, 2_000 * (1..=24).sum::<u64>());
        assert_eq!(s.time_saved, Duration::from_nanos(24 * 2_000 * 3));
        assert_eq!(s.misses, 48);
        assert_eq!((s.rejected_stale, s.rejected_damaged), (12, 12));
        assert_eq!((s.stores, s.bytes_written), (24, (0..24).sum::<u64>()));
        assert_eq!((s.store_errors, s.evictions), (24, 48));
    }

    #[test]
    fn payload_rejection_takes_a_hit_counted_by_another_thread() {
        let stats = CacheStats::new();
        // This thread takes its slot first, so the other one gets another.
        stats.record_store_error();
        std::thread::scope(|s| {
            s.spawn(|| stats.record_hit());
        });
        stats.record_payload_rejected();
        let s = stats.snapshot();
        assert_eq!((s.hits, s.misses, s.rejected_damaged), (0, 1, 1));
    }

    #[test]
    fn time_saved_saturates() {
        let stats = CacheStats::new();
        stats.record_hit_saved(Duration::MAX);
        stats.record_hit_saved(Duration::MAX);
        assert_eq!(stats.snapshot().time_saved, Duration::from_nanos(u64::MAX));
    }
}
