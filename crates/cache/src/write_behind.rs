//! A wrapper that moves a store's inserts onto a background thread.
//!
//! On some file systems creating a file is slow (about 1 ms on the ext4 of
//! the build VMs, see `BENCHMARKS.md`), which would put a millisecond on
//! every cache miss. [`WriteBehindStore`] queues inserts in a bounded
//! channel and a single worker thread writes them. Entries waiting in the
//! queue are visible to `get` at once, so a process never misses on
//! something it has just stored. When the queue is full an insert is
//! dropped and counted as a store error, so the compile thread never waits.
//! Dropping the wrapper (or calling [`WriteBehindStore::flush`]) writes
//! everything still queued.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::{CacheKey, CacheKvStore, CacheStats};

/// One queued insert.
type Job = (CacheKey, Arc<[u8]>);

/// Most queued inserts the worker writes with one `insert_many`.
const WRITE_BATCH: usize = 256;

#[derive(Debug)]
struct Shared<S> {
    inner: S,
    /// The newest queued value of each key with a write outstanding.
    pending: Mutex<HashMap<CacheKey, Arc<[u8]>>>,
    /// Signalled whenever `pending` becomes empty.
    drained: Condvar,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Arc<[u8]>>> {
        self.pending
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Any store, with inserts written by a background thread.
#[derive(Debug)]
pub struct WriteBehindStore<S: CacheKvStore + 'static> {
    shared: Arc<Shared<S>>,
    sender: Option<SyncSender<Job>>,
    worker: Option<JoinHandle<()>>,
}

impl<S: CacheKvStore + 'static> WriteBehindStore<S> {
    /// Wraps `inner`; at most `queue_len` inserts wait to be written.
    pub fn new(inner: S, queue_len: usize) -> Self {
        let shared = Arc::new(Shared {
            inner,
            pending: Mutex::new(HashMap::new()),
            drained: Condvar::new(),
        });
        let (sender, receiver) = sync_channel::<Job>(queue_len.max(1));
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("kiln-cache-writer".into())
            .spawn(move || {
                // Jobs are written in batches of what has queued up (one
                // `insert_many`: one round trip for a server store).
                let mut batch: Vec<Job> = Vec::new();
                while let Ok(first) = receiver.recv() {
                    batch.clear();
                    batch.push(first);
                    while batch.len() < WRITE_BATCH {
                        match receiver.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    // A job whose key has a newer value queued behind it,
                    // or was removed, is skipped.
                    let current: Vec<&Job> = {
                        let pending = worker_shared.lock();
                        batch
                            .iter()
                            .filter(|(key, value)| {
                                pending.get(key).is_some_and(|v| Arc::ptr_eq(v, value))
                            })
                            .collect()
                    };
                    if !current.is_empty() {
                        let entries: Vec<(CacheKey, &[u8])> =
                            current.iter().map(|(k, v)| (*k, &v[..])).collect();
                        worker_shared.inner.insert_many(&entries);
                    }
                    // Done: off the pending list. A key removed while its
                    // batch was being written is removed again, so that a
                    // `remove` still cancels a queued write.
                    let mut undo = Vec::new();
                    {
                        let mut pending = worker_shared.lock();
                        for (key, value) in current {
                            match pending.get(key) {
                                Some(v) if Arc::ptr_eq(v, value) => {
                                    pending.remove(key);
                                }
                                Some(_) => {} // a newer value follows
                                None => undo.push(*key),
                            }
                        }
                    }
                    for key in &undo {
                        worker_shared.inner.remove(key);
                    }
                    let pending = worker_shared.lock();
                    if pending.is_empty() {
                        worker_shared.drained.notify_all();
                    }
                }
            });
        match worker {
            Ok(worker) => WriteBehindStore {
                shared,
                sender: Some(sender),
                worker: Some(worker),
            },
            // No thread available: degrade to writing synchronously.
            Err(_) => WriteBehindStore {
                shared,
                sender: None,
                worker: None,
            },
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.shared.inner
    }

    /// Inserts queued and not yet written.
    pub fn pending(&self) -> usize {
        self.shared.lock().len()
    }

    /// Waits until every queued insert has been written.
    pub fn flush(&self) {
        let mut pending = self.shared.lock();
        while !pending.is_empty() && self.worker.is_some() {
            pending = self
                .shared
                .drained
                .wait(pending)
                .unwrap_or_else(|poison| poison.into_inner());
        }
    }
}

impl<S: CacheKvStore + 'static> CacheKvStore for WriteBehindStore<S> {
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        let queued = self.shared.lock().get(key).cloned();
        match queued {
            Some(value) => Some(Cow::Owned(value.to_vec())),
            None => self.shared.inner.get(key),
        }
    }

    fn get_with(&self, key: &CacheKey, f: &mut dyn FnMut(&[u8])) -> bool {
        let queued = self.shared.lock().get(key).cloned();
        match queued {
            Some(value) => {
                f(&value);
                true
            }
            None => self.shared.inner.get_with(key, f),
        }
    }

    fn batched_reads(&self) -> bool {
        self.shared.inner.batched_reads()
    }

    fn get_many(&self, keys: &[CacheKey]) -> Option<Vec<Option<Vec<u8>>>> {
        let mut values = self.shared.inner.get_many(keys)?;
        // A queued value is newer than anything the store holds.
        let pending = self.shared.lock();
        if !pending.is_empty() {
            for (key, value) in keys.iter().zip(&mut values) {
                if let Some(queued) = pending.get(key) {
                    *value = Some(queued.to_vec());
                }
            }
        }
        Some(values)
    }

    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
        let Some(sender) = &self.sender else {
            return self.shared.inner.insert(key, value);
        };
        let value: Arc<[u8]> = Arc::from(value);
        // Holding the lock while sending keeps the worker from finishing
        // this job before it is recorded as pending.
        let mut pending = self.shared.lock();
        match sender.try_send((*key, Arc::clone(&value))) {
            Ok(()) => {
                pending.insert(*key, value);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                drop(pending);
                if let Some(stats) = self.shared.inner.cache_stats() {
                    stats.record_store_error();
                }
                false
            }
        }
    }

    fn insert_many(&self, entries: &[(CacheKey, &[u8])]) -> usize {
        entries.iter().filter(|(k, v)| self.insert(k, v)).count()
    }

    fn remove(&self, key: &CacheKey) -> bool {
        // Drop a queued write too: the worker skips values no longer pending.
        let queued = {
            let mut pending = self.shared.lock();
            let queued = pending.remove(key).is_some();
            if pending.is_empty() {
                self.shared.drained.notify_all();
            }
            queued
        };
        let removed = self.shared.inner.remove(key);
        queued || removed
    }

    fn cache_stats(&self) -> Option<&CacheStats> {
        self.shared.inner.cache_stats()
    }
}

impl<S: CacheKvStore + 'static> Drop for WriteBehindStore<S> {
    fn drop(&mut self) {
        // Closing the channel ends the worker once the queue is drained.
        self.sender = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{lookup, store_entry, Lookup, MemoryStore};
    use std::sync::atomic::{AtomicBool, Ordering};

    fn k(i: u32) -> CacheKey {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        CacheKey(b)
    }

    /// A store whose inserts block until released, to hold jobs in the queue.
    #[derive(Default)]
    struct Gated {
        open: AtomicBool,
        store: MemoryStore,
    }

    impl CacheKvStore for Gated {
        fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
            self.store.get(key)
        }
        fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
            while !self.open.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            self.store.insert(key, value)
        }
        fn remove(&self, key: &CacheKey) -> bool {
            self.store.remove(key)
        }
        fn cache_stats(&self) -> Option<&CacheStats> {
            Some(self.store.stats())
        }
    }

    #[test]
    fn queued_entries_are_visible_and_flushed() {
        let store = WriteBehindStore::new(Gated::default(), 64);
        for i in 0..10 {
            assert!(store_entry(&store, &k(i), "v", &[i as u8; 100], None));
        }
        // Not written yet (the gate is closed), but visible.
        assert!(store.pending() >= 9);
        for i in 0..10 {
            let hit = lookup(&store, &k(i), "v")
                .hit()
                .expect("queued entry visible");
            assert_eq!(hit.payload(), &[i as u8; 100]);
        }
        store.inner().open.store(true, Ordering::Release);
        store.flush();
        assert_eq!(store.pending(), 0);
        assert_eq!(store.inner().store.len(), 10);
        let s = store.cache_stats().unwrap().snapshot();
        assert_eq!((s.stores, s.hits, s.store_errors), (10, 10, 0));
    }

    #[test]
    fn get_with_serves_queued_then_written_values() {
        let store = WriteBehindStore::new(Gated::default(), 8);
        assert!(store_entry(&store, &k(1), "v", b"queued", None));
        let mut seen = Vec::new();
        // Pending: lent from the queue.
        assert!(store.get_with(&k(1), &mut |b| seen = b.to_vec()));
        assert_eq!(crate::decode_entry(&k(1), "v", &seen), Ok(&b"queued"[..]));
        store.inner().open.store(true, Ordering::Release);
        store.flush();
        // Written: lent by the inner store.
        let mut again = Vec::new();
        assert!(store.get_with(&k(1), &mut |b| again = b.to_vec()));
        assert_eq!(again, seen);
        assert!(!store.get_with(&k(2), &mut |_| panic!("nothing stored")));
        match crate::lookup_with(&store, &k(1), "v", |view| view.payload.to_vec()) {
            crate::LookupWith::Hit(p) => assert_eq!(p, b"queued"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn full_queue_drops_and_counts_without_blocking() {
        let store = WriteBehindStore::new(Gated::default(), 2);
        let accepted = (0..10).filter(|&i| store.insert(&k(i), b"entry")).count();
        // One job may be held by the worker plus two in the queue.
        assert!((2..=3).contains(&accepted), "{accepted}");
        let errors = store.cache_stats().unwrap().snapshot().store_errors;
        assert_eq!(errors as usize, 10 - accepted);
        store.inner().open.store(true, Ordering::Release);
        store.flush();
        assert_eq!(store.inner().store.len(), accepted);
    }

    #[test]
    fn newest_value_wins_and_superseded_writes_are_skipped() {
        let store = WriteBehindStore::new(Gated::default(), 16);
        assert!(store.insert(&k(1), b"first"));
        assert!(store.insert(&k(1), b"second"));
        assert!(store.insert(&k(1), b"third"));
        assert_eq!(store.get(&k(1)).as_deref(), Some(&b"third"[..]));
        store.inner().open.store(true, Ordering::Release);
        store.flush();
        assert_eq!(
            store.inner().store.get(&k(1)).as_deref(),
            Some(&b"third"[..])
        );
        // At most the job already taken by the worker plus the newest.
        assert!(store.inner().store.stats().snapshot().stores <= 2);
    }

    #[test]
    fn drop_writes_everything_queued() {
        let memory = Arc::new(MemoryStore::new());
        {
            let store = WriteBehindStore::new(Arc::clone(&memory), 1000);
            for i in 0..500 {
                assert!(store.insert(&k(i), &i.to_le_bytes()));
            }
        }
        assert_eq!(memory.len(), 500);
        assert_eq!(
            memory.get(&k(499)).as_deref(),
            Some(&499u32.to_le_bytes()[..])
        );
    }

    #[test]
    fn remove_cancels_a_queued_write() {
        let store = WriteBehindStore::new(Gated::default(), 16);
        assert!(store.insert(&k(1), b"held by the worker"));
        assert!(store.insert(&k(2), b"queued"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(store.remove(&k(2)));
        assert!(store.get(&k(2)).is_none());
        store.inner().open.store(true, Ordering::Release);
        store.flush();
        assert!(store.inner().store.get(&k(2)).is_none());
    }

    #[test]
    fn threads_share_a_write_behind_store() {
        let store = Arc::new(WriteBehindStore::new(MemoryStore::new(), 4096));
        let handles: Vec<_> = (0..4u32)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for round in 0..500u32 {
                        let i = (round + t * 100) % 300;
                        match lookup(&*store, &k(i), "v") {
                            Lookup::Hit(hit) => assert_eq!(hit.payload(), &i.to_le_bytes()),
                            Lookup::Miss => {
                                store_entry(&*store, &k(i), "v", &i.to_le_bytes(), None);
                            }
                            Lookup::Rejected(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        store.flush();
        assert_eq!(store.inner().len(), 300);
        assert_eq!(store.cache_stats().unwrap().snapshot().rejected(), 0);
    }
}
