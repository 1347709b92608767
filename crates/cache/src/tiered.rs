//! Tiers of stores, fastest first: typically memory, then the local
//! directory, then a shared Redis server.
//!
//! A lookup asks each tier in turn and takes the first *valid* entry
//! (checked with the envelope for the compiler version the store was made
//! for, so a damaged or stale entry in an upper tier does not hide a good
//! one below it). A hit in a lower tier fills every tier above it, so the
//! next lookup of that key is served locally. An insert goes to every
//! tier. Batched reads ([`CacheKvStore::get_many`]) ask each tier for the
//! keys still missing, with one batch per tier that batches (a module's
//! misses in memory and on disk cost one round trip to the server).
//!
//! The tiered store keeps its own lookup counters (a lookup through it is
//! one hit or one miss, whichever tier answered); each tier keeps its
//! store-level counters (bytes, errors), and [`TieredStore::tier_hits`]
//! says which tier served the hits.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::entry::parse;
use crate::{CacheKey, CacheKvStore, CacheStats};

/// Stores tried in order (see the module docs).
pub struct TieredStore {
    tiers: Vec<Arc<dyn CacheKvStore>>,
    compiler_version: String,
    stats: CacheStats,
    /// Hits served by each tier.
    served: Vec<AtomicU64>,
    /// Entries copied into upper tiers.
    fills: AtomicU64,
}

impl std::fmt::Debug for TieredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredStore")
            .field("tiers", &self.tiers.len())
            .field("tier_hits", &self.tier_hits())
            .field("stats", &self.stats)
            .finish()
    }
}

impl TieredStore {
    /// `tiers`, fastest first, for entries of `compiler_version` (entries
    /// of other versions are not treated as hits, nor copied up).
    pub fn new(compiler_version: &str, tiers: Vec<Arc<dyn CacheKvStore>>) -> Self {
        let served = tiers.iter().map(|_| AtomicU64::new(0)).collect();
        TieredStore {
            tiers,
            compiler_version: compiler_version.to_string(),
            stats: CacheStats::new(),
            served,
            fills: AtomicU64::new(0),
        }
    }

    /// The tiers, fastest first.
    pub fn tiers(&self) -> &[Arc<dyn CacheKvStore>] {
        &self.tiers
    }

    /// Valid entries served by each tier.
    pub fn tier_hits(&self) -> Vec<u64> {
        self.served
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }

    /// Entries copied from a lower tier into the tiers above it.
    pub fn fills(&self) -> u64 {
        self.fills.load(Ordering::Relaxed)
    }

    fn valid(&self, key: &CacheKey, bytes: &[u8]) -> bool {
        parse(key, &self.compiler_version, bytes).is_ok()
    }

    /// Records a hit from tier `i` and copies it into tiers `0..i`.
    fn found(&self, i: usize, key: &CacheKey, bytes: &[u8]) {
        self.served[i].fetch_add(1, Ordering::Relaxed);
        for upper in &self.tiers[..i] {
            upper.insert(key, bytes);
        }
        if i > 0 {
            self.fills.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The first valid entry, with the tier it came from; `None` if no
    /// tier has one. Invalid bytes are kept for the caller to reject only
    /// if nothing valid is found (so the compile layer counts the damage).
    fn first(&self, key: &CacheKey) -> Option<(usize, Cow<'_, [u8]>)> {
        let mut invalid = None;
        for (i, tier) in self.tiers.iter().enumerate() {
            if let Some(bytes) = tier.get(key) {
                if self.valid(key, &bytes) {
                    return Some((i, bytes));
                }
                invalid.get_or_insert((i, bytes));
            }
        }
        invalid
    }
}

impl CacheKvStore for TieredStore {
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        let (i, bytes) = self.first(key)?;
        if self.valid(key, &bytes) {
            self.found(i, key, &bytes);
        }
        Some(bytes)
    }

    fn get_with(&self, key: &CacheKey, f: &mut dyn FnMut(&[u8])) -> bool {
        // The top tier lends its bytes (a memory store's hit is copy-free).
        if let Some(top) = self.tiers.first() {
            let mut served = false;
            let lent = top.get_with(key, &mut |bytes| {
                if self.valid(key, bytes) {
                    served = true;
                    f(bytes);
                }
            });
            if served {
                self.served[0].fetch_add(1, Ordering::Relaxed);
                return true;
            }
            if lent && self.tiers.len() == 1 {
                // Only tier, invalid entry: lend it for the caller to reject.
                return top.get_with(key, f);
            }
        }
        match self.get(key) {
            Some(bytes) => {
                f(&bytes);
                true
            }
            None => false,
        }
    }

    fn batched_reads(&self) -> bool {
        self.tiers.iter().any(|t| t.batched_reads())
    }

    fn get_many(&self, keys: &[CacheKey]) -> Option<Vec<Option<Vec<u8>>>> {
        if !self.batched_reads() {
            return None;
        }
        let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let mut valid = vec![false; keys.len()];
        for (i, tier) in self.tiers.iter().enumerate() {
            let missing: Vec<usize> = (0..keys.len()).filter(|&j| !valid[j]).collect();
            if missing.is_empty() {
                break;
            }
            let values: Vec<Option<Vec<u8>>> = if tier.batched_reads() {
                let wanted: Vec<CacheKey> = missing.iter().map(|&j| keys[j]).collect();
                tier.get_many(&wanted).unwrap_or_else(|| {
                    wanted
                        .iter()
                        .map(|k| tier.get(k).map(Cow::into_owned))
                        .collect()
                })
            } else {
                missing
                    .iter()
                    .map(|&j| tier.get(&keys[j]).map(Cow::into_owned))
                    .collect()
            };
            for (&j, value) in missing.iter().zip(values) {
                let Some(bytes) = value else { continue };
                if self.valid(&keys[j], &bytes) {
                    self.found(i, &keys[j], &bytes);
                    valid[j] = true;
                    out[j] = Some(bytes);
                } else if out[j].is_none() {
                    out[j] = Some(bytes);
                }
            }
        }
        Some(out)
    }

    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
        let mut any = false;
        for tier in &self.tiers {
            any |= tier.insert(key, value);
        }
        any
    }

    fn insert_many(&self, entries: &[(CacheKey, &[u8])]) -> usize {
        // Stored in at least one tier: the most any tier stored.
        self.tiers
            .iter()
            .map(|tier| tier.insert_many(entries))
            .max()
            .unwrap_or(0)
    }

    fn remove(&self, key: &CacheKey) -> bool {
        let mut any = false;
        for tier in &self.tiers {
            any |= tier.remove(key);
        }
        any
    }

    fn cache_stats(&self) -> Option<&CacheStats> {
        Some(&self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode_entry, lookup, MemoryStore};

    const V: &str = "kiln-tiered-test";

    fn k(i: u8) -> CacheKey {
        CacheKey([i; 32])
    }

    #[test]
    fn lower_hits_fill_upper_tiers_and_damage_does_not_hide_entries() {
        let top = Arc::new(MemoryStore::new());
        let mid = Arc::new(MemoryStore::new());
        let low = Arc::new(MemoryStore::new());
        let tiers: Vec<Arc<dyn CacheKvStore>> = vec![top.clone(), mid.clone(), low.clone()];
        let store = TieredStore::new(V, tiers);
        let entry = encode_entry(&k(1), V, b"code").unwrap();
        assert!(low.insert(&k(1), &entry));
        assert_eq!(lookup(&store, &k(1), V).hit().unwrap().payload(), b"code");
        assert_eq!(top.get(&k(1)).as_deref(), Some(&entry[..]));
        assert_eq!(mid.get(&k(1)).as_deref(), Some(&entry[..]));
        assert_eq!(store.tier_hits(), [0, 0, 1]);
        assert!(lookup(&store, &k(1), V).hit().is_some());
        assert_eq!(store.tier_hits(), [1, 0, 1]);
        assert_eq!(store.fills(), 1);

        // Damage and a stale entry above a good one: the good one is found
        // and repairs the tiers above.
        let good = encode_entry(&k(2), V, b"good").unwrap();
        assert!(top.insert(&k(2), b"garbage"));
        assert!(mid.insert(&k(2), &encode_entry(&k(2), "kiln-old", b"old").unwrap()));
        assert!(low.insert(&k(2), &good));
        let mut lent = Vec::new();
        assert!(store.get_with(&k(2), &mut |b| lent = b.to_vec()));
        assert_eq!(lent, good);
        assert_eq!(top.get(&k(2)).as_deref(), Some(&good[..]));
        // Only damage anywhere: handed out, so the caller rejects it.
        assert!(mid.insert(&k(3), b"garbage"));
        assert!(matches!(
            lookup(&store, &k(3), V),
            crate::Lookup::Rejected(_)
        ));
        assert!(matches!(lookup(&store, &k(4), V), crate::Lookup::Miss));

        // Inserts reach every tier.
        let e5 = encode_entry(&k(5), V, b"five").unwrap();
        assert!(store.insert(&k(5), &e5));
        for t in [&top, &mid, &low] {
            assert!(t.get(&k(5)).is_some());
        }
        assert!(store.remove(&k(5)));
        assert!(low.get(&k(5)).is_none());
        let s = store.cache_stats().map(CacheStats::snapshot).unwrap();
        assert_eq!((s.hits, s.misses), (2, 2));
    }

    /// A memory store that claims batched reads and counts its batches.
    struct Batching(MemoryStore, AtomicU64);

    impl CacheKvStore for Batching {
        fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
            self.0.get(key)
        }
        fn batched_reads(&self) -> bool {
            true
        }
        fn get_many(&self, keys: &[CacheKey]) -> Option<Vec<Option<Vec<u8>>>> {
            self.1.fetch_add(1, Ordering::Relaxed);
            Some(
                keys.iter()
                    .map(|k| self.0.get(k).map(Cow::into_owned))
                    .collect(),
            )
        }
        fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
            self.0.insert(key, value)
        }
    }

    #[test]
    fn batched_reads_ask_each_tier_for_what_is_missing() {
        let top = Arc::new(MemoryStore::new());
        let low = Arc::new(Batching(MemoryStore::new(), AtomicU64::new(0)));
        let store = TieredStore::new(V, vec![top.clone(), low.clone()]);
        assert!(store.batched_reads());
        let keys: Vec<CacheKey> = (0..10).map(k).collect();
        for key in &keys[..4] {
            assert!(top.insert(key, &encode_entry(key, V, b"top").unwrap()));
        }
        for key in &keys[2..8] {
            assert!(low.insert(key, &encode_entry(key, V, b"low").unwrap()));
        }
        let got = store.get_many(&keys).unwrap();
        assert_eq!(
            low.1.load(Ordering::Relaxed),
            1,
            "one batch for the low tier"
        );
        for (i, (key, value)) in keys.iter().zip(&got).enumerate() {
            let payload = value
                .as_deref()
                .map(|v| crate::decode_entry(key, V, v).unwrap().to_vec());
            let want: Option<&[u8]> = match i {
                0..=3 => Some(b"top"),
                4..=7 => Some(b"low"),
                _ => None,
            };
            assert_eq!(payload.as_deref(), want, "key {i}");
        }
        // The low tier's hits were copied up.
        assert_eq!(top.len(), 8);
        let plain = TieredStore::new(V, vec![top]);
        assert!(!plain.batched_reads());
        assert!(plain.get_many(&keys).is_none());
    }
}
