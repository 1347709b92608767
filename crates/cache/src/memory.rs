//! An in-process store with an optional byte budget and LRU eviction.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::{CacheKey, CacheKvStore, CacheStats};

/// A thread-safe in-memory store.
///
/// With a budget, the sum of stored value lengths never exceeds it: an
/// insert evicts least-recently-used entries (a `get` or `insert` counts as
/// a use) until the new value fits. A value larger than the whole budget is
/// not stored. Recency is a counter, and a `BTreeMap` from queue tick to
/// key orders the entries lazily: a `get` only stores the new tick in the
/// entry (O(1)), and eviction re-queues entries used since they were
/// queued (amortized O(log n) per operation).
///
/// The map sits behind an `RwLock`. A lookup takes only the read lock:
/// recency is an atomic tick per slot, drawn from a store-wide atomic
/// clock, so readers never wait for each other (two concurrent hits on one
/// key may leave the older of their two ticks: recency between
/// simultaneous uses is approximate, nothing else is). Values are
/// `Arc<[u8]>`: [`CacheKvStore::get_with`] clones the `Arc` under the lock
/// and lends the bytes after releasing it (a hit copies nothing, and the
/// callback may use the store); [`CacheKvStore::get`] has to return owned
/// bytes and copies them under the read lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
    /// The recency clock: every use takes the next value.
    clock: AtomicU64,
    budget: Option<u64>,
    stats: CacheStats,
}

/// Hashes a [`CacheKey`] cheaply: keys are SHA-256 digests, already
/// uniform, so folding their words with a multiply is enough (SipHash over
/// 32 bytes costs more than the rest of a hit's map lookup). Nobody can
/// choose digests that collide here without breaking SHA-256's preimage
/// resistance.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<CacheKey, Slot, BuildHasherDefault<DigestHasher>>,
    /// Queue tick -> key, one entry per key, in order of the tick under
    /// which each key was last queued. Recency is lazy: a use only bumps
    /// the slot's `tick` (no B-tree update on the hit path); eviction pops
    /// the front and re-queues an entry used since it was queued, so the
    /// entry evicted is always the least recently used.
    recency: BTreeMap<u64, CacheKey>,
    bytes: u64,
}

#[derive(Debug)]
struct Slot {
    value: Arc<[u8]>,
    /// Last use: set under the read lock by a lookup, read under the
    /// write lock (which excludes every lookup) by eviction.
    tick: AtomicU64,
    /// The key of this slot's entry in `recency` (`<= tick`).
    queued: u64,
}

impl Slot {
    fn tick(&self) -> u64 {
        self.tick.load(Ordering::Relaxed)
    }
}

impl Inner {
    /// Evicts the least recently used entry; false if there is none.
    fn evict_one(&mut self) -> bool {
        while let Some((queued, victim)) = self.recency.pop_first() {
            let Some(slot) = self.map.get_mut(&victim) else {
                continue;
            };
            let tick = slot.tick();
            if tick != queued {
                // Used since it was queued: queue it again at its last use.
                slot.queued = tick;
                self.recency.insert(tick, victim);
                continue;
            }
            if let Some(slot) = self.map.remove(&victim) {
                self.bytes -= slot.value.len() as u64;
            }
            return true;
        }
        false
    }

    fn remove(&mut self, key: &CacheKey) -> bool {
        match self.map.remove(key) {
            Some(slot) => {
                self.recency.remove(&slot.queued);
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
        self.read().map.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of the stored value lengths.
    pub fn bytes(&self) -> u64 {
        self.read().bytes
    }

    /// True if `key` is present (does not count as a use).
    pub fn contains(&self, key: &CacheKey) -> bool {
        self.read().map.contains_key(key)
    }

    /// Keys from least to most recently used.
    pub fn keys_lru_order(&self) -> Vec<CacheKey> {
        let inner = self.read();
        let mut keys: Vec<(u64, CacheKey)> = inner
            .map
            .iter()
            .map(|(k, slot)| (slot.tick(), *k))
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(|(_, k)| k).collect()
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

    /// The next recency tick (unique, increasing).
    fn next_tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn lock(&self) -> RwLockWriteGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` inconsistent
        // in a way that matters more than losing the cache, and the cache
        // must never take compilation down: keep going with the data.
        self.inner
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The value under `key`, counted as a use and as a read.
    fn get_shared(&self, key: &CacheKey) -> Option<Arc<[u8]>> {
        let inner = self.read();
        let slot = inner.map.get(key)?;
        slot.tick.store(self.next_tick(), Ordering::Relaxed);
        let value = Arc::clone(&slot.value);
        drop(inner);
        self.stats.record_read(value.len() as u64);
        Some(value)
    }
}

impl CacheKvStore for MemoryStore {
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        // Copied under the read lock: no reference count to bump and drop.
        let inner = self.read();
        let slot = inner.map.get(key)?;
        slot.tick.store(self.next_tick(), Ordering::Relaxed);
        let value = slot.value.to_vec();
        drop(inner);
        self.stats.record_read(value.len() as u64);
        Some(Cow::Owned(value))
    }

    fn get_with(&self, key: &CacheKey, f: &mut dyn FnMut(&[u8])) -> bool {
        match self.get_shared(key) {
            Some(value) => {
                f(&value);
                true
            }
            None => false,
        }
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
                if !inner.evict_one() {
                    break;
                }
                evicted += 1;
            }
        }
        let tick = self.next_tick();
        inner.recency.insert(tick, *key);
        inner.map.insert(
            *key,
            Slot {
                value: value.into(),
                tick: AtomicU64::new(tick),
                queued: tick,
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
            assert_eq!(inner.map[key].tick(), *tick);
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
                        // A cyclic scan over 300 keys with a budget for
                        // about a third of them is LRU's worst case: when
                        // the scheduler runs the threads one after another
                        // it never hits. Every 8th lookup goes to one hot
                        // key, which stays recent, so hits happen however
                        // the threads interleave.
                        let i = if round % 8 == 0 {
                            1
                        } else {
                            (round * 7 + t * 13) % 300
                        };
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

    /// The lazy recency queue evicts exactly what a plain LRU list does,
    /// under random gets, inserts, replacements and removals.
    #[test]
    fn lazy_lru_matches_a_reference_model() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let budget = 1000u64;
        let store = MemoryStore::with_budget(budget);
        // Most recent last: (key byte, value length).
        let mut model: Vec<(u8, u64)> = Vec::new();
        for _ in 0..20_000 {
            let k = next(40) as u8;
            let key = CacheKey([k; 32]);
            match next(10) {
                0..=4 => {
                    let got = store.get(&key).map(|v| v.len() as u64);
                    let pos = model.iter().position(|(mk, _)| *mk == k);
                    assert_eq!(got, pos.map(|p| model[p].1));
                    if let Some(p) = pos {
                        let e = model.remove(p);
                        model.push(e);
                    }
                }
                5..=8 => {
                    let len = 1 + next(200);
                    assert!(store.insert(&key, &vec![k; len as usize]));
                    model.retain(|(mk, _)| *mk != k);
                    while model.iter().map(|(_, l)| l).sum::<u64>() + len > budget {
                        model.remove(0);
                    }
                    model.push((k, len));
                }
                _ => {
                    let had = model.iter().any(|(mk, _)| *mk == k);
                    assert_eq!(store.remove(&key), had);
                    model.retain(|(mk, _)| *mk != k);
                }
            }
            let order: Vec<CacheKey> = model.iter().map(|(k, _)| CacheKey([*k; 32])).collect();
            assert_eq!(store.keys_lru_order(), order);
            assert_eq!(store.bytes(), model.iter().map(|(_, l)| l).sum::<u64>());
        }
    }
}
