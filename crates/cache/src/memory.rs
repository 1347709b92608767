//! An in-process store with an optional byte budget and LRU eviction.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use crate::{CacheKey, CacheKvStore, CacheStats};

/// A thread-safe in-memory store.
///
/// With a budget, the sum of stored value lengths never exceeds it: an
/// insert evicts least-recently-used entries (a `get` or `insert` counts as
/// a use) until the new value fits. A value larger than the whole budget is
/// not stored. Each operation is O(log n): recency is a counter, and a
/// `BTreeMap` from last-use tick to key orders the entries.
///
/// `get` takes the same lock as `insert` because it updates recency; the
/// critical section is a hash lookup, a B-tree update and a copy.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    budget: Option<u64>,
    stats: CacheStats,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<CacheKey, Slot>,
    /// Last-use tick -> key; the first entry is the least recently used.
    recency: BTreeMap<u64, CacheKey>,
    tick: u64,
    bytes: u64,
}

#[derive(Debug)]
struct Slot {
    value: Box<[u8]>,
    tick: u64,
}

impl Inner {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Marks `key` (present) as just used.
    fn touch(&mut self, key: &CacheKey) {
        let tick = self.next_tick();
        if let Some(slot) = self.map.get_mut(key) {
            self.recency.remove(&slot.tick);
            slot.tick = tick;
            self.recency.insert(tick, *key);
        }
    }

    fn remove(&mut self, key: &CacheKey) -> bool {
        match self.map.remove(key) {
            Some(slot) => {
                self.recency.remove(&slot.tick);
                self.bytes -= slot.value.len() as u64;
                true
            }
            None => false,
        }
    }
}

impl MemoryStore {
    /// An unbounded store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding at most `budget` bytes of values.
    pub fn with_budget(budget: u64) -> Self {
        MemoryStore {
            budget: Some(budget),
            ..Self::default()
        }
    }

    /// The byte budget, if any.
    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the stored value lengths.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// True if `key` is present (does not count as a use).
    pub fn contains(&self, key: &CacheKey) -> bool {
        self.lock().map.contains_key(key)
    }

    /// Keys from least to most recently used.
    pub fn keys_lru_order(&self) -> Vec<CacheKey> {
        self.lock().recency.values().copied().collect()
    }

    /// Removes every entry.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.map.clear();
        inner.recency.clear();
        inner.bytes = 0;
    }

    /// The counters of this store.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` inconsistent
        // in a way that matters more than losing the cache, and the cache
        // must never take compilation down: keep going with the data.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl CacheKvStore for MemoryStore {
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        let mut inner = self.lock();
        let value = inner.map.get(key)?.value.to_vec();
        inner.touch(key);
        drop(inner);
        self.stats.record_read(value.len() as u64);
        Some(Cow::Owned(value))
    }

    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
        let len = value.len() as u64;
        if self.budget.is_some_and(|budget| len > budget) {
            self.stats.record_store_error();
            return false;
        }
        let mut inner = self.lock();
        inner.remove(key);
        let mut evicted = 0;
        if let Some(budget) = self.budget {
            while inner.bytes + len > budget {
                let Some((_, victim)) = inner.recency.pop_first() else {
                    break;
                };
                if let Some(slot) = inner.map.remove(&victim) {
                    inner.bytes -= slot.value.len() as u64;
                }
                evicted += 1;
            }
        }
        let tick = inner.next_tick();
        inner.recency.insert(tick, *key);
        inner.map.insert(
            *key,
            Slot {
                value: value.into(),
                tick,
            },
        );
        inner.bytes += len;
        drop(inner);
        if evicted > 0 {
            self.stats.record_evictions(evicted);
        }
        self.stats.record_store(len);
        true
    }

    fn remove(&self, key: &CacheKey) -> bool {
        self.lock().remove(key)
    }

    fn cache_stats(&self) -> Option<&CacheStats> {
        Some(&self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{lookup, store_entry, Lookup};
    use std::sync::Arc;

    fn k(i: u32) -> CacheKey {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        CacheKey(b)
    }

    #[test]
    fn round_trip_replace_remove() {
        let store = MemoryStore::new();
        assert!(store.is_empty());
        assert!(store.get(&k(1)).is_none());
        assert!(store.insert(&k(1), b"one"));
        assert!(store.insert(&k(2), b"two!"));
        assert_eq!(store.get(&k(1)).as_deref(), Some(&b"one"[..]));
        assert!(store.insert(&k(1), b"uno"));
        assert_eq!(store.get(&k(1)).as_deref(), Some(&b"uno"[..]));
        assert_eq!(store.len(), 2);
        assert_eq!(store.bytes(), 7);
        assert!(store.remove(&k(2)));
        assert!(!store.remove(&k(2)));
        assert_eq!(store.bytes(), 3);
        store.clear();
        assert!(store.is_empty());
        assert_eq!(store.bytes(), 0);
        let s = store.stats().snapshot();
        assert_eq!(s.stores, 3);
        assert_eq!(s.bytes_written, 10);
        assert_eq!(s.bytes_read, 6);
    }

    #[test]
    fn lru_eviction_order_and_budget() {
        let store = MemoryStore::with_budget(100);
        for i in 0..4 {
            assert!(store.insert(&k(i), &[i as u8; 25]));
        }
        assert_eq!(store.bytes(), 100);
        assert_eq!(store.keys_lru_order(), vec![k(0), k(1), k(2), k(3)]);
        // Use 0 and 2: 1 becomes the least recently used, then 3.
        assert!(store.get(&k(0)).is_some());
        assert!(store.get(&k(2)).is_some());
        assert_eq!(store.keys_lru_order(), vec![k(1), k(3), k(0), k(2)]);
        // A 30-byte value needs two 25-byte victims: 1 and 3.
        assert!(store.insert(&k(4), &[4; 30]));
        assert!(!store.contains(&k(1)));
        assert!(!store.contains(&k(3)));
        assert_eq!(store.keys_lru_order(), vec![k(0), k(2), k(4)]);
        assert_eq!(store.bytes(), 80);
        // Replacing a key frees its old bytes before evicting anything.
        assert!(store.insert(&k(0), &[9; 45]));
        assert_eq!(store.keys_lru_order(), vec![k(2), k(4), k(0)]);
        assert_eq!(store.bytes(), 100);
        // Exactly fitting evicts nothing more; too large is refused.
        assert!(!store.insert(&k(5), &[5; 101]));
        assert_eq!(store.len(), 3);
        assert!(store.insert(&k(6), &[6; 100]));
        assert_eq!(store.keys_lru_order(), vec![k(6)]);
        assert!(store.bytes() <= 100);
        let s = store.stats().snapshot();
        assert_eq!(s.evictions, 5);
        assert_eq!(s.store_errors, 1);
    }

    #[test]
    fn budget_holds_under_random_workload() {
        let store = MemoryStore::with_budget(10_000);
        let mut x = 88172645463325252u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = k((x % 500) as u32);
            match x % 3 {
                0 => {
                    let _ = store.get(&key);
                }
                _ => assert!(store.insert(&key, &vec![0; (x >> 32) as usize % 700])),
            }
            assert!(store.bytes() <= 10_000);
        }
        let inner = store.lock();
        assert_eq!(inner.map.len(), inner.recency.len());
        let sum: u64 = inner.map.values().map(|s| s.value.len() as u64).sum();
        assert_eq!(sum, inner.bytes);
        for (tick, key) in &inner.recency {
            assert_eq!(inner.map[key].tick, *tick);
        }
    }

    #[test]
    fn threads_hammering_one_store() {
        const V: &str = "kiln-threads";
        let store = Arc::new(MemoryStore::with_budget(64 * 1024));
        let payload = |i: u32| -> Vec<u8> { (0..(i % 97) * 13).map(|j| (i ^ j) as u8).collect() };
        let handles: Vec<_> = (0..8u32)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let mut hits = 0;
                    for round in 0..3_000u32 {
                        let i = (round * 7 + t * 13) % 300;
                        match lookup(&*store, &k(i), V) {
                            Lookup::Hit(hit) => {
                                assert_eq!(hit.payload(), &payload(i)[..]);
                                hits += 1;
                            }
                            Lookup::Miss => {
                                assert!(store_entry(&*store, &k(i), V, &payload(i), None));
                            }
                            Lookup::Rejected(e) => panic!("rejected {e}"),
                        }
                        assert!(store.bytes() <= 64 * 1024);
                    }
                    hits
                })
            })
            .collect();
        let hits: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let s = store.stats().snapshot();
        assert_eq!(s.hits, hits);
        assert_eq!(s.lookups(), 8 * 3_000);
        assert_eq!(s.rejected(), 0);
        assert_eq!(s.store_errors, 0);
        assert!(s.hits > 0 && s.evictions > 0, "{s}");
    }
}
