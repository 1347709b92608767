//! Kiln's compilation cache: the storage layer.
//!
//! Kiln caches compiled code under the sha256 of a function's stencil (the
//! [`CacheKey`]). This crate owns everything between that key and a blob of
//! bytes:
//!
//! - the [`CacheKvStore`] trait that every backend implements;
//! - the entry envelope ([`entry`]): magic, format version, compiler version,
//!   key echo, recorded compile time, bounded payload length, payload and an
//!   XXH64 checksum, so that a store never has to be trusted;
//! - [`MemoryStore`] (in-process, LRU under a byte budget) and
//!   [`DirectoryStore`] (the embedded default: one file per key, atomic
//!   rename, safe with many processes, LRU eviction by mtime);
//! - [`WriteBehindStore`], which moves any store's inserts onto a
//!   background thread (file creation can cost a millisecond);
//! - [`RedisStore`], a store on a Redis server shared by a build farm
//!   (pooled connections, pipelined [`CacheKvStore::get_many`], bounded
//!   waits: a server that is down or slow means misses, never a hang),
//!   [`TieredStore`] (memory, then directory, then server; lower hits
//!   fill upper tiers) and [`MacStore`] (entries tagged with HMAC-SHA256
//!   under a user's secret, so a shared store's other writers cannot
//!   forge hits);
//! - [`CacheStats`], the counters behind `kiln cache stats`;
//! - [`lookup`] and [`store_entry`], which join a store and the envelope,
//!   and [`lookup_with`], which validates bytes the store lends
//!   ([`CacheKvStore::get_with`]) instead of bytes it returns;
//! - the compile layer ([`compile`]): [`compile_with_cache`] (key, lookup,
//!   decode straight into final code on a hit; verify, compile, encode,
//!   store, `apply_params` on a miss) and [`CompileCache`];
//! - [`fingerprint`], the build-time hash of the code generator's sources
//!   that [`COMPILER_VERSION`] carries, so another build's code is stale;
//! - [`icache`], the reload/rename/mutation property shared by the fuzz
//!   target and the tests, and [`mock`], a stand-in backend.
//!
//! The storage layer treats the payload as opaque bytes. The compile layer
//! fills it with a flags byte and `kiln_codegen::serialize`'s encoding of
//! `CompiledCode<Stencil>`. This crate depends on the code generator, and
//! the code generator does not depend on it.
//!
//! Two rules hold everywhere in this crate:
//!
//! 1. **Never return a damaged entry as a hit.** Every byte a store returns
//!    goes through [`entry::decode_entry`] (via [`lookup`]); truncated,
//!    corrupted, stale (other format or compiler version) or foreign data,
//!    or an entry stored under another key, is a counted miss.
//!    An entry that decodes but does not fit the function it is looked up
//!    for (a name it lacks, a record past the code) is a miss too
//!    ([`compile::fits`]).
//! 2. **Never fail compilation because of the store.** Store operations do
//!    not return errors to the compiler: a failed read is a miss, a failed
//!    write (full disk, permissions, a directory deleted underneath) is
//!    counted in [`CacheStats`] and ignored. Nothing here panics on bad
//!    input.
//!
//! See `docs/cache.md` for the byte-exact entry format, the directory
//! layout and the crash-safety argument.
//!
//! The shape of the compile layer on top (the payload stands for a
//! serialized `CompiledCode<Stencil>`):
//!
//! ```
//! use std::time::Instant;
//! use kiln_cache::{lookup, store_entry, CacheKey, CacheKvStore, Lookup, MemoryStore};
//!
//! const COMPILER: &str = "kiln 0.1.0";
//! let store = MemoryStore::with_budget(64 << 20);
//! let key = CacheKey([0x2a; 32]); // sha256 of the stencil, from kiln-ir
//!
//! let code = match lookup(&store, &key, COMPILER) {
//!     Lookup::Hit(hit) => {
//!         if let Some(saved) = hit.compile_time() {
//!             store.stats().record_hit_saved(saved);
//!         }
//!         hit.payload().to_vec()
//!     }
//!     Lookup::Miss | Lookup::Rejected(_) => {
//!         let start = Instant::now();
//!         let code = b"compiled bytes".to_vec(); // compile here
//!         // A failed store is counted, never an error.
//!         store_entry(&store, &key, COMPILER, &code, Some(start.elapsed()));
//!         code
//!     }
//! };
//! assert_eq!(code, b"compiled bytes");
//! assert!(lookup(&store, &key, COMPILER).hit().is_some());
//! let stats = store.stats().snapshot();
//! assert_eq!((stats.hits, stats.misses, stats.stores), (1, 1, 1));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod checksum;
pub mod compile;
pub mod directory;
pub mod entry;
pub mod fingerprint;
pub mod icache;
mod key;
mod lifetime;
pub mod mac;
pub mod many;
pub mod memory;
pub mod mock;
pub mod redis;
mod stats;
pub mod stencil_key;
pub mod tiered;
pub mod write_behind;

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

pub use checksum::xxh64;
pub use compile::{
    cache_key, compile_with_cache, compile_with_key, CacheOutcome, CompileCache, CompileError,
    COMPILER_VERSION,
};
pub use directory::{DirectoryStore, DiskUsage};
pub use entry::{decode_entry, encode_entry, EntryError};
pub use key::{CacheKey, ParseKeyError};
pub use mac::{HmacKey, MacStore};
pub use many::compile_many_with_cache;
pub use memory::MemoryStore;
pub use redis::{RedisConfig, RedisStore};
pub use stats::{CacheStats, CacheStatsSnapshot};
pub use tiered::TieredStore;
pub use write_behind::WriteBehindStore;

/// A key-value store of encoded cache entries.
///
/// Object-safe, shared between compile threads (`&self` everywhere; stores
/// synchronize internally).
///
/// `get` returns `Cow` rather than `Vec`: stores that own the bytes (both
/// stores in this crate: a file read, a copy out of a mutex-guarded map)
/// return `Cow::Owned` at no extra cost, while a store over immutable
/// memory (a memory-mapped pack file, a frozen map) can lend its bytes with
/// `Cow::Borrowed` and make a hit copy-free. It is also the shape of
/// Cranelift's and wasmtime's traits, so adapters are trivial.
///
/// `insert` returns `bool` rather than `Result`: a store error is never
/// fatal to compilation, so there is nothing a caller could do with an
/// error except count it, and the store counts it itself in
/// [`CacheKvStore::cache_stats`].
pub trait CacheKvStore: Send + Sync {
    /// The bytes stored under `key`, or `None` if there are none (or they
    /// could not be read). The bytes are untrusted: decode them with
    /// [`entry::decode_entry`], or use [`lookup`].
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>>;

    /// Calls `f` with the bytes stored under `key` (at most once) and
    /// returns whether there were any. The same bytes as [`get`], lent
    /// rather than returned: a store that shares its values (such as
    /// [`MemoryStore`]) overrides it to skip the copy `get` must make.
    /// The default calls `get`. [`lookup_with`], and so the compile layer,
    /// reads through this method.
    ///
    /// Implementations should not hold a lock while `f` runs: `f` may use
    /// the store (a hit can rewrite its entry).
    ///
    /// [`get`]: CacheKvStore::get
    fn get_with(&self, key: &CacheKey, f: &mut dyn FnMut(&[u8])) -> bool {
        match self.get(key) {
            Some(bytes) => {
                f(&bytes);
                true
            }
            None => false,
        }
    }

    /// Whether [`get_many`] reads many keys at once (one round trip to a
    /// server); callers with many keys in hand (a module's functions)
    /// then compute every key first and fetch them together. False by
    /// default: a local store answers each key as cheaply alone.
    ///
    /// [`get_many`]: CacheKvStore::get_many
    fn batched_reads(&self) -> bool {
        false
    }

    /// The values stored under `keys`, in order, fetched together: `None`
    /// if this store has no batched read (the default), else one
    /// `Option` per key, as [`get`] would return it. Untrusted bytes, as
    /// from [`get`].
    ///
    /// [`get`]: CacheKvStore::get
    fn get_many(&self, _keys: &[CacheKey]) -> Option<Vec<Option<Vec<u8>>>> {
        None
    }

    /// Stores `value` under `key`, replacing any previous value. Returns
    /// whether it was stored; failures are counted, never reported.
    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool;

    /// Stores every `(key, value)` as [`insert`] would; returns how many
    /// were stored. The default inserts one by one; a store on a server
    /// sends them together ([`WriteBehindStore`]'s worker writes what has
    /// queued up with one call).
    ///
    /// [`insert`]: CacheKvStore::insert
    fn insert_many(&self, entries: &[(CacheKey, &[u8])]) -> usize {
        entries.iter().filter(|(k, v)| self.insert(k, v)).count()
    }

    /// Removes the value under `key`; returns whether one was removed.
    /// Stores that cannot remove may keep the default (does nothing).
    fn remove(&self, _key: &CacheKey) -> bool {
        false
    }

    /// The store's counters, if it keeps any.
    fn cache_stats(&self) -> Option<&CacheStats> {
        None
    }
}

/// Forwards every method (provided ones included, so an override in `S`
/// is not lost) through a pointer to a store.
macro_rules! forward_store {
    ($($ptr:ty),*) => {$(
        impl<S: CacheKvStore + ?Sized> CacheKvStore for $ptr {
            fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
                (**self).get(key)
            }
            fn get_with(&self, key: &CacheKey, f: &mut dyn FnMut(&[u8])) -> bool {
                (**self).get_with(key, f)
            }
            fn batched_reads(&self) -> bool {
                (**self).batched_reads()
            }
            fn get_many(&self, keys: &[CacheKey]) -> Option<Vec<Option<Vec<u8>>>> {
                (**self).get_many(keys)
            }
            fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
                (**self).insert(key, value)
            }
            fn insert_many(&self, entries: &[(CacheKey, &[u8])]) -> usize {
                (**self).insert_many(entries)
            }
            fn remove(&self, key: &CacheKey) -> bool {
                (**self).remove(key)
            }
            fn cache_stats(&self) -> Option<&CacheStats> {
                (**self).cache_stats()
            }
        }
    )*};
}

forward_store!(&S, Arc<S>, Box<S>);

/// The outcome of [`lookup`].
#[derive(Debug)]
pub enum Lookup<'s> {
    /// A valid entry for this key and compiler version.
    Hit(Hit<'s>),
    /// Nothing stored (or nothing readable).
    Miss,
    /// Something was stored but rejected by the envelope; treat as a miss
    /// (and overwrite it with a fresh compile).
    Rejected(EntryError),
}

impl<'s> Lookup<'s> {
    /// The hit, if any.
    pub fn hit(self) -> Option<Hit<'s>> {
        match self {
            Lookup::Hit(hit) => Some(hit),
            Lookup::Miss | Lookup::Rejected(_) => None,
        }
    }
}

/// A validated entry: the bytes returned by the store and where the
/// payload lies in them.
#[derive(Debug)]
pub struct Hit<'s> {
    bytes: Cow<'s, [u8]>,
    payload: Range<usize>,
    compile_time_ns: u64,
}

impl Hit<'_> {
    /// The payload (checksum verified).
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.payload.clone()]
    }

    /// How long the compile that produced this entry took, if recorded.
    /// Feed it to [`CacheStats::record_hit_saved`] once the payload has been
    /// used successfully.
    pub fn compile_time(&self) -> Option<Duration> {
        (self.compile_time_ns != 0).then(|| Duration::from_nanos(self.compile_time_ns))
    }

    /// Size of the whole encoded entry.
    pub fn entry_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Gets `key` from `store`, validates it with the envelope and counts the
/// outcome (hit, miss, or rejected damaged/stale) in the store's stats.
pub fn lookup<'s, S: CacheKvStore + ?Sized>(
    store: &'s S,
    key: &CacheKey,
    compiler_version: &str,
) -> Lookup<'s> {
    let outcome = match store.get(key) {
        None => Lookup::Miss,
        Some(bytes) => match entry::parse(key, compiler_version, &bytes) {
            Ok((payload, compile_time_ns)) => Lookup::Hit(Hit {
                bytes,
                payload,
                compile_time_ns,
            }),
            Err(error) => Lookup::Rejected(error),
        },
    };
    let counted = match &outcome {
        Lookup::Hit(_) => Ok(true),
        Lookup::Miss => Ok(false),
        Lookup::Rejected(error) => Err(error),
    };
    count_lookup(store, counted);
    outcome
}

/// Counts one lookup in the store's statistics (if it keeps any):
/// `Ok(true)` a hit, `Ok(false)` a miss, `Err` a rejected entry.
fn count_lookup<S: CacheKvStore + ?Sized>(store: &S, outcome: Result<bool, &EntryError>) {
    if let Some(stats) = store.cache_stats() {
        match outcome {
            Ok(true) => stats.record_hit(),
            Ok(false) => stats.record_miss(),
            Err(error) => stats.record_rejected(error.is_stale()),
        }
    }
}

/// The outcome of [`lookup_with`]: like [`Lookup`], with the hit already
/// handed to the caller's function.
#[derive(Debug)]
pub enum LookupWith<R> {
    /// A valid entry: what the caller's function returned for it.
    Hit(R),
    /// Nothing stored (or nothing readable).
    Miss,
    /// Something was stored but rejected by the envelope.
    Rejected(EntryError),
}

/// [`lookup`] through [`CacheKvStore::get_with`]: validates the entry the
/// same way and counts the same outcome, then calls `f` with the validated
/// view while the store lends the bytes, so a store that shares its values
/// serves a hit without copying it. `f` runs only for a valid entry.
pub fn lookup_with<S: CacheKvStore + ?Sized, R>(
    store: &S,
    key: &CacheKey,
    compiler_version: &str,
    f: impl FnOnce(entry::EntryView<'_>) -> R,
) -> LookupWith<R> {
    let mut f = Some(f);
    let mut outcome = None;
    let found = store.get_with(key, &mut |bytes| {
        // A store that calls back more than once is served once.
        if outcome.is_some() {
            return;
        }
        outcome = Some(
            match entry::decode_entry_view(key, compiler_version, bytes) {
                Ok(view) => match f.take() {
                    Some(f) => LookupWith::Hit(f(view)),
                    None => LookupWith::Miss,
                },
                Err(error) => LookupWith::Rejected(error),
            },
        );
    });
    let outcome = match outcome {
        Some(outcome) if found => outcome,
        // No bytes (or a store that said so but called back anyway, or
        // said it had bytes without lending them): a miss.
        _ => LookupWith::Miss,
    };
    let counted = match &outcome {
        LookupWith::Hit(_) => Ok(true),
        LookupWith::Miss => Ok(false),
        LookupWith::Rejected(error) => Err(error),
    };
    count_lookup(store, counted);
    outcome
}

/// Encodes `payload` in an envelope and inserts it under `key`. Returns
/// whether it was stored. An encoding failure (payload over
/// [`entry::MAX_PAYLOAD_LEN`]) is counted as a store error.
pub fn store_entry<S: CacheKvStore + ?Sized>(
    store: &S,
    key: &CacheKey,
    compiler_version: &str,
    payload: &[u8],
    compile_time: Option<Duration>,
) -> bool {
    match entry::encode_entry_timed(key, compiler_version, payload, compile_time) {
        Ok(bytes) => store.insert(key, &bytes),
        Err(_) => {
            if let Some(stats) = store.cache_stats() {
                stats.record_store_error();
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "kiln-test";

    /// A store with no stats that returns canned bytes.
    struct Canned(Option<Vec<u8>>);

    impl CacheKvStore for Canned {
        fn get(&self, _key: &CacheKey) -> Option<Cow<'_, [u8]>> {
            self.0.as_deref().map(Cow::Borrowed)
        }
        fn insert(&self, _key: &CacheKey, _value: &[u8]) -> bool {
            false
        }
    }

    #[test]
    fn lookup_outcomes_and_stats() {
        let store = MemoryStore::new();
        let k = CacheKey([7; 32]);
        assert!(matches!(lookup(&store, &k, V), Lookup::Miss));
        assert!(store_entry(
            &store,
            &k,
            V,
            b"code",
            Some(Duration::from_millis(3))
        ));
        let hit = lookup(&store, &k, V).hit().expect("hit");
        assert_eq!(hit.payload(), b"code");
        assert_eq!(hit.compile_time(), Some(Duration::from_millis(3)));
        assert_eq!(hit.entry_len(), entry::ENVELOPE_OVERHEAD + V.len() + 4);
        match lookup(&store, &k, "kiln-other") {
            Lookup::Rejected(EntryError::CompilerMismatch) => {}
            other => panic!("{other:?}"),
        }
        // Damaged bytes under the key.
        assert!(store.insert(&k, b"\x89KILNC\r\n garbage"));
        assert!(matches!(
            lookup(&store, &k, V),
            Lookup::Rejected(EntryError::VersionMismatch { .. })
        ));
        assert!(store.insert(&k, b"garbage"));
        assert!(matches!(
            lookup(&store, &k, V),
            Lookup::Rejected(EntryError::BadMagic)
        ));
        let s = store.stats().snapshot();
        assert_eq!(s.hits, 1);
        assert_eq!(s.misses, 4);
        assert_eq!(s.rejected_stale, 2);
        assert_eq!(s.rejected_damaged, 1);
    }

    #[test]
    fn lookup_through_trait_objects_and_borrowed_bytes() {
        let k = CacheKey([1; 32]);
        let bytes = encode_entry(&k, V, b"borrowed").unwrap();
        let store: Box<dyn CacheKvStore> = Box::new(Canned(Some(bytes)));
        let hit = lookup(&*store, &k, V).hit().unwrap();
        assert_eq!(hit.payload(), b"borrowed");
        let none: Arc<dyn CacheKvStore> = Arc::new(Canned(None));
        assert!(matches!(lookup(&none, &k, V), Lookup::Miss));
        assert!(!store_entry(&none, &k, V, b"x", None));
    }

    #[test]
    fn lookup_with_counts_like_lookup() {
        let store = MemoryStore::new();
        let k = CacheKey([9; 32]);
        let mut calls = 0;
        assert!(matches!(
            lookup_with(&store, &k, V, |_| calls += 1),
            LookupWith::Miss
        ));
        assert!(store_entry(
            &store,
            &k,
            V,
            b"lent",
            Some(Duration::from_millis(2))
        ));
        match lookup_with(&store, &k, V, |view| {
            (view.payload.to_vec(), view.compile_time())
        }) {
            LookupWith::Hit((payload, time)) => {
                assert_eq!(payload, b"lent");
                assert_eq!(time, Some(Duration::from_millis(2)));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            lookup_with(&store, &k, "kiln-other", |_| calls += 1),
            LookupWith::Rejected(EntryError::CompilerMismatch)
        ));
        assert!(store.insert(&k, b"garbage"));
        assert!(matches!(
            lookup_with(&store, &k, V, |_| calls += 1),
            LookupWith::Rejected(EntryError::BadMagic)
        ));
        assert_eq!(calls, 0, "f runs only for a valid entry");
        let s = store.stats().snapshot();
        assert_eq!((s.hits, s.misses), (1, 3));
        assert_eq!((s.rejected_stale, s.rejected_damaged), (1, 1));
        assert_eq!(
            s.bytes_read,
            (entry::ENVELOPE_OVERHEAD + V.len() + 4 + 7) as u64 * 2 - 7
        );
    }

    #[test]
    fn get_with_default_and_overrides_lend_the_same_bytes() {
        let k = CacheKey([3; 32]);
        let bytes = encode_entry(&k, V, b"default").unwrap();
        // The default method, through the forwarding impls.
        let canned: Box<dyn CacheKvStore> = Box::new(Canned(Some(bytes.clone())));
        let shared: Arc<dyn CacheKvStore> = Arc::new(Canned(Some(bytes.clone())));
        for store in [&*canned, &*shared, &&*canned as &dyn CacheKvStore] {
            let mut seen = Vec::new();
            assert!(store.get_with(&k, &mut |b| seen = b.to_vec()));
            assert_eq!(seen, bytes);
            match lookup_with(store, &k, V, |view| view.payload.to_vec()) {
                LookupWith::Hit(p) => assert_eq!(p, b"default"),
                other => panic!("{other:?}"),
            }
        }
        let none = Canned(None);
        assert!(!none.get_with(&k, &mut |_| panic!("no bytes")));
        // MemoryStore lends without holding its lock: the callback may
        // use the store, as a hit that rewrites its entry does.
        let store = MemoryStore::new();
        assert!(store.insert(&k, &bytes));
        let mut inner_hit = false;
        assert!(store.get_with(&k, &mut |b| {
            assert_eq!(b, &bytes[..]);
            assert!(store.insert(&k, b));
            inner_hit = store.get(&k).is_some();
        }));
        assert!(inner_hit);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn oversized_payload_is_a_counted_store_error() {
        let store = MemoryStore::new();
        let big = vec![0u8; entry::MAX_PAYLOAD_LEN + 1];
        assert!(!store_entry(&store, &CacheKey([0; 32]), V, &big, None));
        let s = store.stats().snapshot();
        assert_eq!((s.stores, s.store_errors), (0, 1));
    }
}
