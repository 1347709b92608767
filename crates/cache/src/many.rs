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
use std::collections::HashMap;

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
        let keys: Vec<CacheKey> = jobs.iter().map(|&(isa, f)| cache_key(isa, f)).collect();
        if let Some(values) = store.get_many(&keys) {
            if values.len() == keys.len() {
                return run_jobs(jobs, threads, |i, isa, func| {
                    let one = Prefetched {
                        store,
                        value: values[i].as_deref(),
                    };
                    compile_with_key(isa, func, &one, &keys[i])
                });
            }
        }
    }
    run_jobs(jobs, threads, |_, isa, func| {
        compile_with_cache(isa, func, store)
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
/// The batch is not updated: a key looked up twice (two functions with
/// the same stencil) misses twice if it missed in the batch, which costs
/// a compile, never a wrong result.
pub struct PrefetchedStore<'a> {
    store: &'a dyn CacheKvStore,
    fetched: HashMap<CacheKey, Option<Vec<u8>>>,
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
        PrefetchedStore { store, fetched }
    }

    /// Keys answered from the batch.
    pub fn fetched(&self) -> usize {
        self.fetched.len()
    }
}

impl CacheKvStore for PrefetchedStore<'_> {
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        match self.fetched.get(key) {
            Some(value) => value.as_deref().map(Cow::Borrowed),
            None => self.store.get(key),
        }
    }
    fn get_with(&self, key: &CacheKey, f: &mut dyn FnMut(&[u8])) -> bool {
        match self.fetched.get(key) {
            Some(Some(value)) => {
                f(value);
                true
            }
            Some(None) => false,
            None => self.store.get_with(key, f),
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
