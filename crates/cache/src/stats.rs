//! Cache statistics: lock-free counters and a plain snapshot to print.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared by every thread using one store.
///
/// Every counter is a relaxed atomic: the numbers are for people and for
/// benchmarks, never used to make decisions that need ordering. Take a
/// consistent-enough copy with [`CacheStats::snapshot`].
///
/// Accounting rules:
/// - every [`lookup`](crate::lookup) counts exactly one hit or one miss;
/// - a *rejected* entry (damaged, stale or foreign, see
///   [`EntryError`](crate::EntryError)) is counted as a miss **and** under
///   `rejected_damaged` or `rejected_stale`;
/// - `stores` counts entries actually written, `store_errors` every failed
///   read or write inside a store (I/O errors, full disk, oversized entries);
///   an absent entry is a miss, not an error.
#[derive(Debug, Default)]
pub struct CacheStats {
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

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl CacheStats {
    /// All counters at zero.
    pub const fn new() -> Self {
        CacheStats {
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

    /// One lookup found a valid entry.
    pub fn record_hit(&self) {
        bump(&self.hits, 1);
    }

    /// One lookup found nothing usable.
    pub fn record_miss(&self) {
        bump(&self.misses, 1);
    }

    /// One lookup found an entry and rejected it. Counts a miss too.
    /// `stale` is true for a version or compiler mismatch (a foreign entry),
    /// false for damage (bad magic, truncation, checksum, ...).
    pub fn record_rejected(&self, stale: bool) {
        bump(&self.misses, 1);
        if stale {
            bump(&self.rejected_stale, 1);
        } else {
            bump(&self.rejected_damaged, 1);
        }
    }

    /// The envelope of a hit was valid but the layer above could not use
    /// the payload (for example its deserializer failed). Turns one counted
    /// hit into a damaged rejection (and a miss).
    pub fn record_payload_rejected(&self) {
        // Saturate at zero rather than wrap if a caller misuses it.
        let _ = self
            .hits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| h.checked_sub(1));
        self.record_rejected(false);
    }

    /// One entry written.
    pub fn record_store(&self, bytes: u64) {
        bump(&self.stores, 1);
        bump(&self.bytes_written, bytes);
    }

    /// A store operation failed (I/O error, full disk, entry too large...).
    /// Never fatal: the compile goes on without the cache.
    pub fn record_store_error(&self) {
        bump(&self.store_errors, 1);
    }

    /// Bytes read back from a store (valid or not).
    pub fn record_read(&self, bytes: u64) {
        bump(&self.bytes_read, bytes);
    }

    /// Entries evicted to respect a budget.
    pub fn record_evictions(&self, count: u64) {
        bump(&self.evictions, count);
    }

    /// A hit avoided a compile that took `saved` when the entry was made
    /// (the compile layer reads it from [`Hit::compile_time`](crate::Hit::compile_time)).
    pub fn record_hit_saved(&self, saved: Duration) {
        let ns = u64::try_from(saved.as_nanos()).unwrap_or(u64::MAX);
        // Saturating add so that a bogus huge value cannot wrap the total.
        let _ = self
            .time_saved_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(ns))
            });
    }

    /// Zero every counter (`--zero-stats`).
    pub fn reset(&self) {
        for counter in [
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
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// A copy of all counters.
    pub fn snapshot(&self) -> CacheStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStatsSnapshot {
            hits: get(&self.hits),
            misses: get(&self.misses),
            rejected_damaged: get(&self.rejected_damaged),
            rejected_stale: get(&self.rejected_stale),
            stores: get(&self.stores),
            store_errors: get(&self.store_errors),
            bytes_read: get(&self.bytes_read),
            bytes_written: get(&self.bytes_written),
            evictions: get(&self.evictions),
            time_saved: Duration::from_nanos(get(&self.time_saved_ns)),
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
    fn time_saved_saturates() {
        let stats = CacheStats::new();
        stats.record_hit_saved(Duration::MAX);
        stats.record_hit_saved(Duration::MAX);
        assert_eq!(stats.snapshot().time_saved, Duration::from_nanos(u64::MAX));
    }
}
