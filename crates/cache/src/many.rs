//! Compiling many functions through one cache on several threads: the
//! warm rebuild of a module, where nearly every function is a hit and the
//! hits (key, lookup, decode, `apply_params`) are independent.
//!
//! Work is handed out in small chunks from a shared counter, so one slow
//! miss does not hold up a thread's share of hits; results come back in
//! input order, so the outcome does not depend on the thread count.
//!
//! A store with batched reads ([`CacheKvStore::batched_reads`], e.g. a
//! Redis server) is asked for every job's entry at once, before any
//! compiling: the module's lookups cost one round trip, not one per
//! function. Each job then looks its key up in what came back (and
//! inserts into the store as usual), so the outcome is the same as
//! without the batch.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::compile::{cache_key, compile_with_cache, compile_with_key, CacheOutcome, CompileError};
use crate::{CacheKey, CacheKvStore, CacheStats};
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::TargetIsa;
use kiln_ir::Function;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One compile job: a function and the target to compile it for.
pub type Job<'a> = (&'a dyn TargetIsa, &'a Function);

/// The result of one job, as [`compile_with_cache`] returns it.
pub type JobResult = Result<(CompiledCode<Final>, CacheOutcome), CompileError>;

/// Fewest jobs worth a second thread: a hit costs well under a
/// microsecond on small functions, less than starting a thread.
const MIN_JOBS_PER_THREAD: usize = 64;

/// Compiles every job through `store` with up to `threads` threads (1 or
/// fewer: on the calling thread) and returns the results in job order.
/// Each result is exactly what [`compile_with_cache`] gives for that job.
pub fn compile_many_with_cache(
    jobs: &[Job<'_>],
    store: &dyn CacheKvStore,
    threads: usize,
) -> Vec<JobResult> {
    if store.batched_reads() && !jobs.is_empty() {
        let keys = keys_of(jobs, threads);
        if let Some(values) = store.get_many(&keys) {
            if values.len() == keys.len() {
                // A stencil that occurs again in the module and missed in
                // the batch is looked up in the store itself: the first
                // occurrence has stored it by then (on one thread), as
                // without the batch.
                let mut seen = std::collections::HashSet::with_capacity(keys.len());
                let repeat: Vec<bool> = keys.iter().map(|k| !seen.insert(*k)).collect();
                return run_jobs(jobs, threads, |i, isa, func| match &values[i] {
                    None if repeat[i] => compile_with_key(isa, func, store, &keys[i]),
                    value => {
                        let one = Prefetched {
                            store,
                            value: value.as_deref(),
                        };
                        compile_with_key(isa, func, &one, &keys[i])
                    }
                });
            }
        }
    }
    run_jobs(jobs, threads, |_, isa, func| {
        compile_with_cache(isa, func, store)
    })
}

/// The cache keys of `jobs`, computed on up to `threads` threads (a key
/// costs microseconds on large functions: worth sharing out before the
/// one batched lookup).
fn keys_of(jobs: &[Job<'_>], threads: usize) -> Vec<CacheKey> {
    let threads = threads.min(jobs.len() / MIN_JOBS_PER_THREAD).max(1);
    let key = |&(isa, f): &Job<'_>| cache_key(isa, f);
    if threads == 1 {
        return jobs.iter().map(key).collect();
    }
    let part = jobs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(part)
            .skip(1)
            .map(|chunk| scope.spawn(move || chunk.iter().map(key).collect::<Vec<_>>()))
            .collect();
        let mut keys: Vec<CacheKey> = jobs[..part].iter().map(key).collect();
        for handle in handles {
            match handle.join() {
                Ok(mut more) => keys.append(&mut more),
                // Keys do not panic; if one did, re-raise it here.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        keys
    })
}

/// One job's view of a batched store: its lookup answered from the batch,
/// everything else passed to the store.
struct Prefetched<'a> {
    store: &'a dyn CacheKvStore,
    value: Option<&'a [u8]>,
}

impl CacheKvStore for Prefetched<'_> {
    fn get(&self, _key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        self.value.map(Cow::Borrowed)
    }
    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
        self.store.insert(key, value)
    }
    fn remove(&self, key: &CacheKey) -> bool {
        self.store.remove(key)
    }
    fn cache_stats(&self) -> Option<&CacheStats> {
        self.store.cache_stats()
    }
}

/// A store with the entries of some functions fetched ahead in one batch
/// (for callers that compile a module's functions one by one, in their
/// own order: `kiln compile`, `kiln run`). Lookups of the fetched keys are
/// answered from the batch, others go to the store; inserts and removals
/// go to the store. A store without batched reads is used as it is.
///
/// A key that missed in the batch and is looked up again (two functions
/// with the same stencil) is looked up in the store the second time, where
/// the first compile has stored it.
pub struct PrefetchedStore<'a> {
    store: &'a dyn CacheKvStore,
    fetched: HashMap<CacheKey, Option<Vec<u8>>>,
    /// Keys that missed in the batch and have been looked up once.
    missed: Mutex<HashSet<CacheKey>>,
}

impl PrefetchedStore<'_> {
    /// Whether `key` missed in the batch before (then it goes to the
    /// store); records this miss.
    fn missed_before(&self, key: &CacheKey) -> bool {
        let mut missed = self.missed.lock().unwrap_or_else(|p| p.into_inner());
        !missed.insert(*key)
    }
}

impl<'a> PrefetchedStore<'a> {
    /// Fetches the entries of `funcs` for `isa` from `store` in one batch,
    /// if the store batches its reads (the keys are computed only then).
    pub fn fetch<'f>(
        store: &'a dyn CacheKvStore,
        isa: &dyn TargetIsa,
        funcs: impl IntoIterator<Item = &'f Function>,
    ) -> Self {
        let mut fetched = HashMap::new();
        if store.batched_reads() {
            let keys: Vec<CacheKey> = funcs.into_iter().map(|f| cache_key(isa, f)).collect();
            if let Some(values) = store.get_many(&keys) {
                fetched.extend(keys.into_iter().zip(values));
            }
        }
        PrefetchedStore {
            store,
            fetched,
            missed: Mutex::new(HashSet::new()),
        }
    }

    /// Keys answered from the batch.
    pub fn fetched(&self) -> usize {
        self.fetched.len()
    }
}

impl CacheKvStore for PrefetchedStore<'_> {
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        match self.fetched.get(key) {
            Some(Some(value)) => Some(Cow::Borrowed(value)),
            Some(None) if !self.missed_before(key) => None,
            _ => self.store.get(key),
        }
    }
    fn get_with(&self, key: &CacheKey, f: &mut dyn FnMut(&[u8])) -> bool {
        match self.fetched.get(key) {
            Some(Some(value)) => {
                f(value);
                true
            }
            Some(None) if !self.missed_before(key) => false,
            _ => self.store.get_with(key, f),
        }
    }
    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
        self.store.insert(key, value)
    }
    fn remove(&self, key: &CacheKey) -> bool {
        self.store.remove(key)
    }
    fn cache_stats(&self) -> Option<&CacheStats> {
        self.store.cache_stats()
    }
}

/// Runs `compile(index, isa, func)` for every job on up to `threads`
/// threads; results in job order.
fn run_jobs(
    jobs: &[Job<'_>],
    threads: usize,
    compile: impl Fn(usize, &dyn TargetIsa, &Function) -> JobResult + Sync,
) -> Vec<JobResult> {
    let threads = threads.min(jobs.len() / MIN_JOBS_PER_THREAD).max(1);
    // Functions taken from the shared counter at a time: about eight
    // chunks per thread, so a few expensive misses among many cheap hits
    // still balance, and the counter is touched rarely.
    let chunk = (jobs.len() / (threads * 8)).clamp(1, 64);
    if threads == 1 {
        return jobs
            .iter()
            .enumerate()
            .map(|(i, &(isa, func))| compile(i, isa, func))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, JobResult)>> = Mutex::new(Vec::with_capacity(jobs.len()));
    let work = || {
        let mut mine = Vec::new();
        loop {
            let start = next.fetch_add(chunk, Ordering::Relaxed);
            if start >= jobs.len() {
                break;
            }
            for (i, &(isa, func)) in jobs.iter().enumerate().skip(start).take(chunk) {
                mine.push((i, compile(i, isa, func)));
            }
        }
        // A poisoned lock means another worker panicked; its panic is
        // re-raised by the scope below, so the data here does not matter.
        done.lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .append(&mut mine);
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockIsa;
    use crate::MemoryStore;

    fn funcs(n: usize) -> Vec<Function> {
        (0..n)
            .map(|i| {
                let text = format!(
                    "function u0:{i}(i32) -> i32 {{\nblock0(v0: i32):\n    v1 = iconst.i32 {c}\n    v2 = iadd v0, v1\n    return v2\n}}\n",
                    c = i % 7
                );
                kiln_reader::parse_function(&text).expect("test function parses")
            })
            .collect()
    }

    #[test]
    fn results_are_in_job_order_and_match_one_thread() {
        let isa = MockIsa::new();
        let fs = funcs(301);
        let jobs: Vec<Job> = fs.iter().map(|f| (&isa as &dyn TargetIsa, f)).collect();
        let serial_store = MemoryStore::new();
        let serial = compile_many_with_cache(&jobs, &serial_store, 1);
        for threads in [2, 3, 8] {
            let store = MemoryStore::new();
            let cold = compile_many_with_cache(&jobs, &store, threads);
            let warm = compile_many_with_cache(&jobs, &store, threads);
            assert_eq!(cold.len(), jobs.len());
            for ((s, c), w) in serial.iter().zip(&cold).zip(&warm) {
                let (s, c, w) = (
                    s.as_ref().unwrap(),
                    c.as_ref().unwrap(),
                    w.as_ref().unwrap(),
                );
                assert_eq!(s.0, c.0, "threads={threads}: same code as one thread");
                assert_eq!(c.0, w.0);
                assert!(w.1.is_hit(), "threads={threads}: the second pass hits");
            }
            // 7 distinct constants: 7 distinct stencils, so 7 entries.
            assert_eq!(store.len(), 7);
            let stats = store.stats().snapshot();
            assert_eq!(stats.hits + stats.misses, 2 * jobs.len() as u64);
        }
    }

    /// A memory store that claims batched reads and counts its batches.
    struct Batching(MemoryStore, std::sync::atomic::AtomicUsize);

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
        fn cache_stats(&self) -> Option<&CacheStats> {
            self.0.cache_stats()
        }
    }

    #[test]
    fn a_batching_store_is_read_once_per_module_with_the_same_results() {
        let isa = MockIsa::new();
        let fs = funcs(301);
        let jobs: Vec<Job> = fs.iter().map(|f| (&isa as &dyn TargetIsa, f)).collect();
        let plain = compile_many_with_cache(&jobs, &MemoryStore::new(), 1);
        for threads in [1, 3] {
            let store = Batching(MemoryStore::new(), Default::default());
            let cold = compile_many_with_cache(&jobs, &store, threads);
            let warm = compile_many_with_cache(&jobs, &store, threads);
            assert_eq!(store.1.load(Ordering::Relaxed), 2, "one batch per build");
            for ((p, c), w) in plain.iter().zip(&cold).zip(&warm) {
                let (p, c, w) = (
                    p.as_ref().unwrap(),
                    c.as_ref().unwrap(),
                    w.as_ref().unwrap(),
                );
                assert_eq!(p.0, c.0, "threads={threads}");
                if threads == 1 {
                    // Repeated stencils hit as without the batch.
                    assert_eq!(p.1, c.1);
                }
                assert_eq!(c.0, w.0);
                assert!(w.1.is_hit());
            }
            // The prefetching view serves functions in any order.
            let mut rev: Vec<&Function> = fs.iter().collect();
            rev.reverse();
            let view = PrefetchedStore::fetch(&store, &isa, rev.iter().copied());
            assert_eq!(view.fetched(), 7, "7 distinct stencils");
            for f in rev {
                assert!(compile_with_cache(&isa, f, &view).unwrap().1.is_hit());
            }
            assert_eq!(store.1.load(Ordering::Relaxed), 3);
            // A fresh store: each stencil misses once, then its repeats
            // hit (looked up in the store, where the first compile put it).
            let empty = Batching(MemoryStore::new(), Default::default());
            let view = PrefetchedStore::fetch(&empty, &isa, fs.iter());
            let hits = fs
                .iter()
                .filter(|f| compile_with_cache(&isa, f, &view).unwrap().1.is_hit())
                .count();
            assert_eq!(hits, 301 - 7);
        }
    }

    #[test]
    fn empty_and_tiny_inputs() {
        let isa = MockIsa::new();
        let store = MemoryStore::new();
        assert!(compile_many_with_cache(&[], &store, 4).is_empty());
        let fs = funcs(1);
        let jobs: Vec<Job> = vec![(&isa, &fs[0])];
        let r = compile_many_with_cache(&jobs, &store, 4);
        assert_eq!(r.len(), 1);
        assert!(r[0].is_ok());
    }
}
