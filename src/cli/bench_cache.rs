//! `kiln bench cache`: the compilation cache measured like peer-bench's
//! `cache` command, ending with the same `RESULT cache ...` line.
//!
//! Passes over the corpus (functions that fail to compile are left out),
//! each with an in-memory store:
//! - plain: `compile_function`, no cache (reference);
//! - cold: a fresh store per iteration (misses: key, compile, encode, store);
//! - warm: the store filled by the cold pass (hits);
//! - renamed: every function's name and every user external name changed
//!   (parameters only): all must hit;
//! - edit1: one instruction changed in one function (an `iconst` immediate
//!   ^ 1, else `iadd` <-> `isub`): exactly one miss expected.
//!
//! As in peer-bench, each function is cloned just before its timed call
//! (a frontend hands over a function it has just built, so it is in the
//! CPU caches); the clone is not timed.
//!
//! Every hit is checked against the plain compile of the same function:
//! the whole final code (bytes, relocations with resolved names, traps,
//! call sites, source locations) must be equal; the count of differences
//! is printed as `code mismatches`.

use kiln_cache::{
    compile_with_cache, CacheKey, CacheKvStore, CacheOutcome, DirectoryStore, MemoryStore,
    RedisConfig, RedisStore,
};
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::{compile_function, IsaBuilder, TargetIsa, Unknown};
use kiln_codegen::settings::Arch;
use kiln_ir::{ExternalName, Function, GlobalValueData, UserExternalName, UserFuncName};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of one run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub opt_level: Option<String>,
    pub iters: usize,
    pub verify: bool,
    pub all_files: bool,
    pub sets: Vec<(String, Option<String>)>,
    /// Compile with `kiln_cache::mock::MockIsa` instead of the x86-64
    /// backend (measures the cache machinery alone).
    pub mock: bool,
    /// The store measured (`--store memory|dir`).
    pub store: StoreKind,
}

/// Which store `kiln bench cache` measures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreKind {
    #[default]
    Memory,
    /// A `DirectoryStore` in a fresh temporary folder (removed afterwards).
    Directory,
    /// A `RedisStore` on the server at this URL, in a fresh namespace
    /// (its keys removed afterwards).
    Redis(String),
}

/// A store of either kind, fresh for each pass that needs an empty one.
enum BenchStore {
    Memory(MemoryStore),
    Directory(DirectoryStore, std::path::PathBuf),
    // Boxed: the server store is much larger than the others.
    Redis(Box<RedisStore>),
}

impl BenchStore {
    fn fresh(kind: &StoreKind) -> BenchStore {
        match kind {
            StoreKind::Memory => BenchStore::Memory(MemoryStore::new()),
            StoreKind::Directory => {
                static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let root = std::env::temp_dir()
                    .join(format!("kiln-bench-cache-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&root);
                BenchStore::Directory(DirectoryStore::new(&root), root)
            }
            StoreKind::Redis(url) => {
                static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // A namespace of its own: the passes start empty and
                // nobody else's entries are touched.
                let namespace = format!(
                    "{} bench {} {n}",
                    kiln_cache::COMPILER_VERSION,
                    std::process::id()
                );
                match RedisConfig::from_env(url, &namespace).and_then(RedisStore::open) {
                    Ok(store) => BenchStore::Redis(Box::new(store)),
                    // Checked by `cmd_bench_cache` before any pass.
                    Err(_) => BenchStore::Memory(MemoryStore::new()),
                }
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            BenchStore::Memory(m) => m.len(),
            BenchStore::Directory(d, _) => d.disk_usage().map_or(0, |u| u.entries as usize),
            BenchStore::Redis(r) => r.count_entries().map_or(0, |(mine, _)| mine as usize),
        }
    }

    fn bytes(&self) -> u64 {
        match self {
            BenchStore::Memory(m) => m.bytes(),
            BenchStore::Directory(d, _) => d.disk_usage().map_or(0, |u| u.entry_bytes),
            BenchStore::Redis(r) => r.stats().snapshot().bytes_written,
        }
    }

    fn inner(&self) -> &dyn CacheKvStore {
        match self {
            BenchStore::Memory(m) => m,
            BenchStore::Directory(d, _) => d,
            BenchStore::Redis(r) => &**r,
        }
    }
}

impl CacheKvStore for BenchStore {
    fn get(&self, key: &CacheKey) -> Option<std::borrow::Cow<'_, [u8]>> {
        self.inner().get(key)
    }
    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
        self.inner().insert(key, value)
    }
    // Forwarded so the bench takes the stores' own paths: the lent-bytes
    // hit path and the counters every real caller pays for.
    fn get_with(&self, key: &CacheKey, f: &mut dyn FnMut(&[u8])) -> bool {
        self.inner().get_with(key, f)
    }
    fn remove(&self, key: &CacheKey) -> bool {
        self.inner().remove(key)
    }
    fn batched_reads(&self) -> bool {
        self.inner().batched_reads()
    }
    fn get_many(&self, keys: &[CacheKey]) -> Option<Vec<Option<Vec<u8>>>> {
        self.inner().get_many(keys)
    }
    fn cache_stats(&self) -> Option<&kiln_cache::CacheStats> {
        self.inner().cache_stats()
    }
}

impl Drop for BenchStore {
    fn drop(&mut self) {
        match self {
            BenchStore::Directory(_, root) => {
                let _ = std::fs::remove_dir_all(root);
            }
            BenchStore::Redis(r) => {
                let _ = r.clear_namespace();
            }
            BenchStore::Memory(_) => {}
        }
    }
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            opt_level: Some("speed".into()),
            iters: 5,
            verify: false,
            all_files: false,
            sets: Vec::new(),
            mock: false,
            store: StoreKind::Memory,
        }
    }
}

/// A loaded corpus: functions with their file's ISA.
pub struct Corpus {
    pub funcs: Vec<(Function, Arc<dyn TargetIsa>)>,
    /// `name in file`, for reports.
    pub names: Vec<String>,
    pub files: usize,
    pub skipped_files: Vec<(PathBuf, String)>,
    pub parse_errors: Vec<(PathBuf, String)>,
}

fn build_isa<'a>(
    settings: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    words: &[String],
    opts: &BenchOptions,
) -> Result<Box<dyn TargetIsa>, String> {
    let mut b = IsaBuilder::new(Arch::X86_64);
    // Like peer-bench: a file setting Kiln does not know is ignored.
    b.settings(settings, Unknown::Ignore)
        .map_err(|e| e.to_string())?;
    if let Some(o) = &opts.opt_level {
        b.flags
            .set("opt_level", Some(o))
            .map_err(|e| format!("--opt {o}: {e}"))?;
    }
    b.flags.enable_verifier = opts.verify;
    for (name, value) in &opts.sets {
        b.flags
            .set(name, value.as_deref())
            .map_err(|e| format!("--set {name}: {e}"))?;
    }
    b.target_words(words, Unknown::Reject)
        .map_err(|e| e.to_string())?;
    b.finish().map_err(|e| e.to_string())
}

/// Turns references by test-case name to functions of the same file into
/// user names `u0:N` (N = `first_index` + position in the file) and names
/// every function `u0:N`, as an embedder would (and as peer-bench does).
pub fn normalize_names(funcs: &mut [Function], first_index: u32) {
    let by_name: HashMap<String, u32> = funcs
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.to_string(), first_index + i as u32))
        .collect();
    let lookup_tc = |name: &ExternalName| match name {
        ExternalName::TestCase(tc) => by_name.get(&format!("{tc}")).copied(),
        _ => None,
    };
    for (i, f) in funcs.iter_mut().enumerate() {
        let renames: Vec<_> = f
            .stencil
            .dfg
            .ext_funcs
            .iter()
            .filter_map(|(r, ext)| lookup_tc(&ext.name).map(|idx| (r, idx)))
            .collect();
        for (r, idx) in renames {
            let nr = f
                .params
                .ensure_user_func_name(UserExternalName::new(0, idx));
            f.stencil.dfg.ext_funcs[r].name = ExternalName::User(nr);
        }
        let gv_renames: Vec<_> = f
            .stencil
            .global_values
            .iter()
            .filter_map(|(gv, data)| match data {
                GlobalValueData::Symbol { name, .. } => lookup_tc(name).map(|idx| (gv, idx)),
                _ => None,
            })
            .collect();
        for (gv, idx) in gv_renames {
            let nr = f
                .params
                .ensure_user_func_name(UserExternalName::new(0, idx));
            if let GlobalValueData::Symbol { name, .. } = &mut f.stencil.global_values[gv] {
                *name = ExternalName::User(nr);
            }
        }
        f.name = UserFuncName::user(0, first_index + i as u32);
    }
}

/// Loads `paths` for x86-64 with `opts`.
pub fn load_corpus(paths: &[PathBuf], opts: &BenchOptions) -> Corpus {
    let mut c = Corpus {
        funcs: Vec::new(),
        names: Vec::new(),
        files: 0,
        skipped_files: Vec::new(),
        parse_errors: Vec::new(),
    };
    let mut next = 0u32;
    for p in paths {
        let text = match std::fs::read(p) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                c.parse_errors.push((p.clone(), e.to_string()));
                continue;
            }
        };
        let file = match kiln_reader::parse_test(&text, &p.display().to_string()) {
            Ok(f) => f,
            Err(e) => {
                c.parse_errors.push((p.clone(), e.to_string()));
                continue;
            }
        };
        let target = file.targets.iter().find(|t| t.isa == "x86_64");
        if !opts.all_files && !file.targets.is_empty() && target.is_none() {
            c.skipped_files
                .push((p.clone(), "no `target x86_64` line".into()));
            continue;
        }
        let settings = target.map_or(&file.settings, |t| &t.settings);
        let words = target.map_or(&[][..], |t| &t.flags[..]);
        let isa: Arc<dyn TargetIsa> = match build_isa(
            settings
                .iter()
                .map(|s| (s.name.as_str(), s.value.as_deref())),
            words,
            opts,
        ) {
            Ok(i) => Arc::from(i),
            Err(e) => {
                c.skipped_files.push((p.clone(), format!("ISA: {e}")));
                continue;
            }
        };
        c.files += 1;
        let mut funcs: Vec<Function> = file.functions.into_iter().map(|f| f.func).collect();
        for f in &funcs {
            c.names.push(format!("{} in {}", f.name, p.display()));
        }
        normalize_names(&mut funcs, next);
        next += funcs.len() as u32;
        c.funcs
            .extend(funcs.into_iter().map(|f| (f, Arc::clone(&isa))));
    }
    c
}

/// Changes the names table of a function without touching its stencil:
/// a new function name, and every user external name moved by `salt`.
pub fn rename_params(f: &mut Function, salt: u32) {
    f.name = match &f.name {
        UserFuncName::User(u) => UserFuncName::user(u.namespace + 1, u.index.wrapping_add(salt)),
        UserFuncName::Testcase(_) => UserFuncName::user(7, salt),
    };
    let names: Vec<_> = f.params.user_named_funcs().collect();
    // Move every name first to a namespace no original uses, so no new
    // name collides with an old one still in the table.
    for (r, n) in names {
        f.params.reset_user_func_name(
            r,
            UserExternalName::new(n.namespace ^ 0x8000_0000, n.index.wrapping_add(salt)),
        );
    }
}

/// Changes exactly one instruction (see
/// `kiln_cache::icache::mutate_instruction`). False if nothing qualifies.
pub fn edit_one_inst(f: &mut Function) -> bool {
    kiln_cache::icache::mutate_instruction(f)
}

/// The figures of one run.
#[derive(Clone, Debug, Default)]
pub struct CacheBench {
    pub funcs: usize,
    pub failed: usize,
    pub plain: Duration,
    pub cold: Duration,
    pub warm: Duration,
    pub per_miss: Duration,
    pub per_hit: Duration,
    pub cold_hits: usize,
    pub cold_misses: usize,
    pub warm_hits: usize,
    pub warm_misses: usize,
    pub warm_mismatches: usize,
    pub renamed_time: Duration,
    pub renamed_hits: usize,
    pub renamed_misses: usize,
    pub renamed_mismatches: usize,
    /// The function whose instruction was edited.
    pub edited: Option<String>,
    pub edit_hits: usize,
    pub edit_misses: usize,
    /// Time of the whole edit1 pass (a warm rebuild with one change).
    pub edit_time: Duration,
    /// Plain compile of the edited function alone (median).
    pub edited_compile: Duration,
    /// The edit1 rebuild through `compile_many_with_cache` on
    /// `rebuild_threads` threads (median over the iterations).
    pub rebuild_parallel: Duration,
    pub rebuild_threads: usize,
    pub errors: usize,
    /// The unedited module rebuilt from the warm store through
    /// `compile_many_with_cache` (batched lookups where the store batches),
    /// on one thread and on `rebuild_threads` (medians).
    pub warm_module_1t: Duration,
    pub warm_module: Duration,
    pub warm_module_hits: usize,
    /// Median time per function of computing the cache key alone.
    pub per_key: Duration,
    pub store_entries: usize,
    pub store_bytes: u64,
}

#[derive(Default)]
struct Pass {
    time: Duration,
    hit_time: Duration,
    miss_time: Duration,
    hits: usize,
    misses: usize,
    errors: usize,
    mismatches: usize,
}

fn run_pass(
    funcs: &[(Function, Arc<dyn TargetIsa>)],
    store: &dyn CacheKvStore,
    expect: Option<&[CompiledCode<Final>]>,
) -> Pass {
    let mut r = Pass::default();
    for (i, (f, isa)) in funcs.iter().enumerate() {
        // As peer-bench does (`ctx.func = f.clone()` before the timed
        // call): the function is handed over freshly built, so it is in
        // the CPU caches, as it is for a frontend that just made it.
        let f = std::hint::black_box(f.clone());
        let t0 = Instant::now();
        let res = compile_with_cache(&**isa, &f, store);
        let dt = t0.elapsed();
        r.time += dt;
        match res {
            Ok((code, CacheOutcome::Hit)) => {
                r.hit_time += dt;
                r.hits += 1;
                if expect.is_some_and(|e| e[i] != code) {
                    r.mismatches += 1;
                }
            }
            Ok(_) => {
                r.miss_time += dt;
                r.misses += 1;
            }
            Err(_) => r.errors += 1,
        }
    }
    r
}

/// The median of `v` (sorted in place); zero for an empty slice.
pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

fn per(d: Duration, n: usize) -> Duration {
    d / u32::try_from(n.max(1)).unwrap_or(u32::MAX)
}

/// Runs every pass over `funcs` (those that fail to compile, or panic, are
/// left out first). `iters` >= 1.
/// `names` has one report name per function.
pub fn bench(
    funcs: Vec<(Function, Arc<dyn TargetIsa>)>,
    names: Vec<String>,
    iters: usize,
) -> CacheBench {
    bench_with_store(funcs, names, iters, StoreKind::Memory)
}

/// [`bench()`] with the store of `kind`.
pub fn bench_with_store(
    funcs: Vec<(Function, Arc<dyn TargetIsa>)>,
    names: Vec<String>,
    iters: usize,
    kind: StoreKind,
) -> CacheBench {
    let iters = iters.max(1);
    let mut b = CacheBench::default();
    let mut kept = Vec::new();
    let mut kept_names = Vec::new();
    let mut expect = Vec::new();
    let mut names = names.into_iter();
    for (f, isa) in funcs {
        let name = names.next().unwrap_or_default();
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| compile_function(&*isa, &f)));
        match r {
            Ok(Ok(code)) => {
                expect.push(code);
                kept.push((f, isa));
                kept_names.push(name);
            }
            _ => b.failed += 1,
        }
    }
    let funcs = kept;
    let names = kept_names;
    b.funcs = funcs.len();

    let mut plain_t = Vec::new();
    for _ in 0..iters {
        let t0 = Instant::now();
        for (f, isa) in &funcs {
            std::hint::black_box(compile_function(&**isa, f).is_ok());
        }
        plain_t.push(t0.elapsed());
    }
    b.plain = median(&mut plain_t);

    let mut cold_t = Vec::new();
    let mut miss_each = Vec::new();
    let mut store = BenchStore::fresh(&kind);
    for _ in 0..iters {
        store = BenchStore::fresh(&kind);
        let r = run_pass(&funcs, &store, None);
        cold_t.push(r.time);
        miss_each.push(per(r.miss_time, r.misses));
        b.cold_hits = r.hits;
        b.cold_misses = r.misses;
        b.errors += r.errors;
    }
    b.cold = median(&mut cold_t);
    b.per_miss = median(&mut miss_each);
    b.store_entries = store.len();
    b.store_bytes = store.bytes();

    let mut warm_t = Vec::new();
    let mut hit_each = Vec::new();
    for _ in 0..iters {
        let r = run_pass(&funcs, &store, Some(&expect));
        warm_t.push(r.time);
        hit_each.push(per(r.hit_time, r.hits));
        b.warm_hits = r.hits;
        b.warm_misses = r.misses;
        b.warm_mismatches = r.mismatches;
        b.errors += r.errors;
    }
    b.warm = median(&mut warm_t);
    b.per_hit = median(&mut hit_each);

    // The warm module build: the whole module at once, as a build system
    // hands it over (one batch of lookups for a server).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (mut one_t, mut all_t) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        for (n, times) in [(1, &mut one_t), (threads, &mut all_t)] {
            let module = std::hint::black_box(funcs.clone());
            let jobs: Vec<kiln_cache::many::Job> = module
                .iter()
                .map(|(f, isa)| (&**isa as &dyn TargetIsa, f))
                .collect();
            let t0 = Instant::now();
            let results = kiln_cache::compile_many_with_cache(&jobs, &store, n);
            times.push(t0.elapsed());
            b.warm_module_hits = results
                .iter()
                .filter(|r| r.as_ref().is_ok_and(|(_, o)| o.is_hit()))
                .count();
        }
    }
    b.warm_module_1t = median(&mut one_t);
    b.warm_module = median(&mut all_t);

    let mut key_t = Vec::new();
    for _ in 0..iters {
        let mut t = Duration::ZERO;
        for (f, isa) in &funcs {
            let f = std::hint::black_box(f.clone());
            let t0 = Instant::now();
            std::hint::black_box(kiln_cache::cache_key(&**isa, &f));
            t += t0.elapsed();
        }
        key_t.push(per(t, funcs.len()));
    }
    b.per_key = median(&mut key_t);

    // Renamed: the expected code is a plain compile of the renamed function.
    let renamed: Vec<_> = funcs
        .iter()
        .map(|(f, isa)| {
            let mut g = f.clone();
            rename_params(&mut g, 1_000_003);
            (g, Arc::clone(isa))
        })
        .collect();
    let renamed_expect: Vec<_> = renamed
        .iter()
        .map(|(g, isa)| compile_function(&**isa, g).ok())
        .collect();
    let r = run_pass(&renamed, &store, None);
    b.renamed_time = r.time;
    b.renamed_hits = r.hits;
    b.renamed_misses = r.misses;
    // Check the renamed reloads outside the timed pass.
    for ((g, isa), want) in renamed.iter().zip(&renamed_expect) {
        let got = compile_with_cache(&**isa, g, &store).ok().map(|(c, _)| c);
        if got.is_none() || got.as_ref() != want.as_ref() {
            b.renamed_mismatches += 1;
        }
    }

    let mut edited = funcs.clone();
    let mut edited_index = None;
    for (i, (f, _)) in edited.iter_mut().enumerate() {
        if edit_one_inst(f) {
            b.edited = names.get(i).cloned();
            edited_index = Some(i);
            break;
        }
    }
    let store_e = BenchStore::fresh(&kind);
    for (f, isa) in &funcs {
        let _ = compile_with_cache(&**isa, f, &store_e);
    }
    let r = run_pass(&edited, &store_e, None);
    b.edit_hits = r.hits;
    b.edit_misses = r.misses;
    b.edit_time = r.time;

    // The module rebuild on every core: a fresh copy of the unedited store
    // per iteration (filling it is not timed), then one parallel pass over
    // the edited module. The functions are cloned first, as in the
    // sequential passes.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    b.rebuild_threads = threads;
    let mut rebuild_t = Vec::new();
    for _ in 0..iters {
        let store_p = BenchStore::fresh(&kind);
        for (f, isa) in &funcs {
            let _ = compile_with_cache(&**isa, f, &store_p);
        }
        let module = std::hint::black_box(edited.clone());
        let jobs: Vec<kiln_cache::many::Job> = module
            .iter()
            .map(|(f, isa)| (&**isa as &dyn TargetIsa, f))
            .collect();
        let t0 = Instant::now();
        let results = kiln_cache::compile_many_with_cache(&jobs, &store_p, threads);
        rebuild_t.push(t0.elapsed());
        std::hint::black_box(results);
    }
    b.rebuild_parallel = median(&mut rebuild_t);
    if let Some(i) = edited_index {
        let (f, isa) = &edited[i];
        let mut one = Vec::new();
        for _ in 0..iters.max(5) {
            let f = std::hint::black_box(f.clone());
            let t0 = Instant::now();
            std::hint::black_box(compile_function(&**isa, &f).is_ok());
            one.push(t0.elapsed());
        }
        b.edited_compile = median(&mut one);
    }
    b
}

/// A duration in the unit that suits it (s, ms, us or ns).
pub fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.3} us", s * 1e6)
    } else {
        format!("{:.1} ns", s * 1e9)
    }
}

/// The report, ending with the `RESULT cache ...` line.
pub fn report(b: &CacheBench, opt: &str, iters: usize) -> String {
    let n = b.funcs;
    let rate = |hits: usize| hits as f64 / n.max(1) as f64;
    let ratio = b.warm.as_secs_f64() / b.cold.as_secs_f64().max(1e-12);
    let call_ratio = b.per_hit.as_secs_f64() / b.per_miss.as_secs_f64().max(1e-12);
    let mut s = String::new();
    s.push_str(&format!(
        "plain compile (no cache):   {} total, {} per function (median of {iters})\n",
        fmt_dur(b.plain),
        fmt_dur(per(b.plain, n))
    ));
    s.push_str(&format!(
        "cold (empty store):         {} total, {} per function; hits {} misses {} errors {}\n",
        fmt_dur(b.cold),
        fmt_dur(per(b.cold, n)),
        b.cold_hits,
        b.cold_misses,
        b.errors
    ));
    s.push_str(&format!(
        "warm (all hits):            {} total, {} per function; hits {} misses {} (hit rate {:.2}%), code mismatches {}\n",
        fmt_dur(b.warm),
        fmt_dur(per(b.warm, n)),
        b.warm_hits,
        b.warm_misses,
        100.0 * rate(b.warm_hits),
        b.warm_mismatches
    ));
    s.push_str(&format!(
        "warm module build (compile_many_with_cache, lookups batched if the store batches): {} on 1 thread ({} per function), {} on {} threads ({} per function); hits {}\n",
        fmt_dur(b.warm_module_1t),
        fmt_dur(per(b.warm_module_1t, n)),
        fmt_dur(b.warm_module),
        b.rebuild_threads,
        fmt_dur(per(b.warm_module, n)),
        b.warm_module_hits
    ));
    s.push_str(&format!(
        "renamed names table:        {} total; hits {} misses {} (hit rate {:.2}%), code mismatches {}\n",
        fmt_dur(b.renamed_time),
        b.renamed_hits,
        b.renamed_misses,
        100.0 * rate(b.renamed_hits),
        b.renamed_mismatches
    ));
    match &b.edited {
        Some(name) => s.push_str(&format!(
            "one instruction changed in one function ({name}): {} total; hits {} misses {} (expected misses: 1)\n",
            fmt_dur(b.edit_time),
            b.edit_hits,
            b.edit_misses
        )),
        None => s.push_str("one instruction changed: no function with an iconst/iadd/isub to edit\n"),
    }
    if b.edited.is_some() {
        let one = b.edited_compile.as_secs_f64().max(1e-12);
        s.push_str(&format!(
            "module rebuild, one function changed: {} sequential, {} on {} threads; that is {:.1}x / {:.1}x an average miss ({}), {:.0}x / {:.0}x compiling the edited function alone ({}); cold build {}\n",
            fmt_dur(b.edit_time),
            fmt_dur(b.rebuild_parallel),
            b.rebuild_threads,
            b.edit_time.as_secs_f64() / b.per_miss.as_secs_f64().max(1e-12),
            b.rebuild_parallel.as_secs_f64() / b.per_miss.as_secs_f64().max(1e-12),
            fmt_dur(b.per_miss),
            b.edit_time.as_secs_f64() / one,
            b.rebuild_parallel.as_secs_f64() / one,
            fmt_dur(b.edited_compile),
            fmt_dur(b.cold)
        ));
    }
    s.push_str(&format!(
        "store: {} entries, {} bytes ({} bytes per entry)\n",
        b.store_entries,
        b.store_bytes,
        b.store_bytes / b.store_entries.max(1) as u64
    ));
    s.push_str(&format!(
        "per call: miss {}, hit {}; hit/miss time ratio {:.4} (a hit is {:.1}x faster)\n",
        fmt_dur(b.per_miss),
        fmt_dur(b.per_hit),
        call_ratio,
        1.0 / call_ratio.max(1e-12)
    ));
    s.push_str(&format!(
        "hit breakdown: key {} per function, the rest (lookup, checksum, decode, apply_params) {}\n",
        fmt_dur(b.per_key),
        fmt_dur(b.per_hit.saturating_sub(b.per_key))
    ));
    s.push_str(&format!(
        "whole corpus: warm/cold total time ratio {:.4}; cold-with-cache vs plain compile {:+.1}%\n",
        ratio,
        100.0 * (b.cold.as_secs_f64() / b.plain.as_secs_f64().max(1e-12) - 1.0)
    ));
    s.push_str(&format!(
        "RESULT cache target=x86_64 opt={opt} funcs={n} plain_s={:.6} cold_s={:.6} warm_s={:.6} miss_us={:.3} hit_us={:.3} hit_miss_ratio={:.4} total_ratio={:.4} warm_hit_rate={:.4} renamed_hit_rate={:.4} edit1_misses={} store_bytes={}\n",
        b.plain.as_secs_f64(),
        b.cold.as_secs_f64(),
        b.warm.as_secs_f64(),
        b.per_miss.as_secs_f64() * 1e6,
        b.per_hit.as_secs_f64() * 1e6,
        call_ratio,
        ratio,
        rate(b.warm_hits),
        rate(b.renamed_hits),
        b.edit_misses,
        b.store_bytes
    ));
    s
}

/// Parses `kiln bench cache --store`: `memory`, `dir` (or `directory`)
/// or a `redis://` URL.
pub fn parse_store(s: &str) -> Result<StoreKind, String> {
    match s {
        "memory" => Ok(StoreKind::Memory),
        "dir" | "directory" => Ok(StoreKind::Directory),
        url if url.starts_with("redis://") => Ok(StoreKind::Redis(url.to_string())),
        other => Err(format!(
            "unknown store `{other}` (valid: memory, dir, redis://HOST:PORT/DB)"
        )),
    }
}

/// The store measured without `--store`: as for the compiling commands,
/// the shared server named in the environment, else memory.
pub fn default_store() -> Result<StoreKind, String> {
    match std::env::var(crate::cli::cache::CACHE_URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
    {
        None => Ok(StoreKind::Memory),
        Some(url) if url.starts_with("redis://") => Ok(StoreKind::Redis(url)),
        Some(url) => Err(format!(
            "{}={url}: expected redis://HOST:PORT/DB",
            crate::cli::cache::CACHE_URL_ENV
        )),
    }
}

/// `kiln bench cache`: `opts` over the files, folders and `@LIST`s in
/// `files`.
pub fn cmd_bench_cache(opts: BenchOptions, files: &[String]) -> ExitCode {
    let paths = match kiln_filetests::collect_files(files) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kiln bench cache: {e}");
            return ExitCode::from(2);
        }
    };
    let mut corpus = load_corpus(&paths, &opts);
    if opts.mock {
        let mock: Arc<dyn TargetIsa> = Arc::new(kiln_cache::mock::MockIsa::new());
        for (_, isa) in &mut corpus.funcs {
            *isa = Arc::clone(&mock);
        }
    }
    if let StoreKind::Redis(url) = &opts.store {
        // A server that cannot be reached would make every pass a miss.
        let reachable = RedisConfig::from_env(url, "kiln bench ping")
            .and_then(RedisStore::open)
            .and_then(|r| r.count_entries().map(|_| ()));
        if let Err(e) = reachable {
            eprintln!("kiln bench cache: --store {url}: {e}");
            return ExitCode::from(1);
        }
    }
    let store_name = match &opts.store {
        StoreKind::Memory => "memory".to_string(),
        StoreKind::Directory => "directory".to_string(),
        StoreKind::Redis(url) => kiln_cache::redis::redacted_url(url),
    };
    let b = bench_with_store(corpus.funcs, corpus.names, opts.iters, opts.store);
    let opt = opts.opt_level.as_deref().unwrap_or("file");
    println!(
        "kiln bench cache: kiln {}, target x86_64{}, opt_level={opt}, store {store_name}",
        env!("CARGO_PKG_VERSION"),
        if opts.mock { " (mock backend)" } else { "" }
    );
    println!(
        "files: {} used, {} skipped, {} parse errors; functions: {} ({} failed to compile, left out)",
        corpus.files,
        corpus.skipped_files.len(),
        corpus.parse_errors.len(),
        b.funcs,
        b.failed
    );
    print!("{}", report(&b, opt, opts.iters));
    if b.funcs == 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// `kiln bench key`: the stencil key alone over a corpus (the
/// same options and files as `kiln bench cache`). Per function: the key
/// computed 5 times in a row (hot: the function and the keyer's tables in
/// the CPU caches), the key of a fresh clone (as `kiln bench cache` and
/// peer-bench time a hit), and the bytes hashed. Minimum over `--iters`
/// passes of the per-function mean. Ends with a `RESULT key ...` line.
pub fn cmd_bench_key(opts: BenchOptions, files: &[String]) -> ExitCode {
    let paths = match kiln_filetests::collect_files(files) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kiln bench key: {e}");
            return ExitCode::from(2);
        }
    };
    let corpus = load_corpus(&paths, &opts);
    let funcs = &corpus.funcs;
    if funcs.is_empty() {
        eprintln!("kiln bench key: no functions");
        return ExitCode::from(1);
    }
    const REPEAT: u32 = 5;
    let n = funcs.len();
    let (mut hot, mut cloned) = (Duration::MAX, Duration::MAX);
    for _ in 0..opts.iters.max(1) {
        let t0 = Instant::now();
        for (f, isa) in funcs {
            for _ in 0..REPEAT {
                std::hint::black_box(kiln_cache::cache_key(&**isa, f));
            }
        }
        hot = hot.min(per(t0.elapsed() / REPEAT, n));
        let mut t = Duration::ZERO;
        for (f, isa) in funcs {
            let f = std::hint::black_box(f.clone());
            let t0 = Instant::now();
            std::hint::black_box(kiln_cache::cache_key(&**isa, &f));
            t += t0.elapsed();
        }
        cloned = cloned.min(per(t, n));
    }
    let mut keyer = kiln_ir::key::StencilKeyer::new();
    let bytes: usize = funcs
        .iter()
        .map(|(f, isa)| {
            let flags = isa.key_flags();
            let target = kiln_ir::key::KeyTarget {
                triple: isa.triple(),
                flags: &flags,
            };
            keyer.encoding(&f.stencil, &target).len()
        })
        .sum();
    println!(
        "kiln bench key: {n} functions from {} files; per function: hot {}, fresh clone {}, {} bytes hashed (header included); min of {} passes",
        corpus.files,
        fmt_dur(hot),
        fmt_dur(cloned),
        bytes / n,
        opts.iters.max(1)
    );
    println!(
        "RESULT key funcs={n} hot_us={:.3} cloned_us={:.3} bytes_per_key={}",
        hot.as_secs_f64() * 1e6,
        cloned.as_secs_f64() * 1e6,
        bytes / n
    );
    ExitCode::SUCCESS
}
