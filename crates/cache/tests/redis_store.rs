//! The Redis store against real `redis-server`s (one per test, on its own
//! loopback port) and its faults: a server down at start, killed mid-run,
//! slow, with tampered values; four processes sharing one server, half
//! killed; two "machines" sharing work through tiered stores.
//!
//! Without `redis-server` these tests print SKIP and return, except under
//! `CI=true`, where they fail (see `redis_util`).

mod redis_util;

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_cache::entry::{decode_entry, encode_entry_timed};
use kiln_cache::mock::MockIsa;
use kiln_cache::redis::ServerMemory;
use kiln_cache::{
    cache_key, compile_many_with_cache, compile_with_cache, CacheKey, CacheKvStore, CacheOutcome,
    DirectoryStore, MemoryStore, RedisConfig, RedisStore, TieredStore, WriteBehindStore,
    COMPILER_VERSION,
};
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::{compile_function, TargetIsa};
use kiln_ir::Function;
use redis_util::{free_port, generous, module, DelayProxy, RedisServer};

/// A store on `url` counting its warnings. The waits are generous (a
/// loaded CI machine must not turn a live server into misses); the fault
/// tests that need short ones set their own. Failures are retried after
/// 300 ms.
fn store_for(url: &str, warnings: &Arc<AtomicUsize>) -> RedisStore {
    let mut config = RedisConfig::new(url, COMPILER_VERSION);
    config.connect_timeout = Duration::from_secs(2);
    config.request_timeout = Duration::from_secs(2);
    config.retry_after = Duration::from_millis(300);
    let warnings = Arc::clone(warnings);
    RedisStore::open(config).unwrap().with_warning(move |_| {
        warnings.fetch_add(1, Ordering::Relaxed);
    })
}

fn plain(isa: &dyn TargetIsa, funcs: &[Function]) -> Vec<CompiledCode<Final>> {
    funcs
        .iter()
        .map(|f| compile_function(isa, f).expect("mock compiles"))
        .collect()
}

/// Compiles `funcs` through `store` as a module; every result must be the
/// uncached code. Returns the outcomes.
fn build(
    isa: &MockIsa,
    funcs: &[Function],
    want: &[CompiledCode<Final>],
    store: &dyn CacheKvStore,
    threads: usize,
) -> Vec<CacheOutcome> {
    let jobs: Vec<(&dyn TargetIsa, &Function)> =
        funcs.iter().map(|f| (isa as &dyn TargetIsa, f)).collect();
    compile_many_with_cache(&jobs, store, threads)
        .into_iter()
        .zip(want)
        .enumerate()
        .map(|(i, (r, want))| {
            let (code, outcome) = r.unwrap_or_else(|e| panic!("function {i}: {e}"));
            assert_eq!(
                &code, want,
                "function {i}: code differs from a plain compile"
            );
            outcome
        })
        .collect()
}

fn count(outcomes: &[CacheOutcome], f: impl Fn(&CacheOutcome) -> bool) -> usize {
    outcomes.iter().filter(|o| f(o)).count()
}

#[test]
fn a_module_costs_one_round_trip_and_namespaces_keep_versions_apart() {
    let Some(server) = RedisServer::start("redis round trip") else {
        return;
    };
    let warnings = Arc::new(AtomicUsize::new(0));
    let store = store_for(&server.url(), &warnings);
    let isa = MockIsa::new();
    let funcs = module(300, 1);
    let want = plain(&isa, &funcs);
    let cold = build(&isa, &funcs, &want, &store, 2);
    assert_eq!(count(&cold, |o| *o == CacheOutcome::Miss), 300);
    let before = store.round_trips();
    let warm = build(&isa, &funcs, &want, &store, 2);
    assert_eq!(count(&warm, |o| o.is_hit()), 300);
    assert_eq!(
        store.round_trips() - before,
        1,
        "a warm module's lookups are one pipeline"
    );
    // Batched inserts: one pipeline per 1024 entries.
    let many: Vec<(CacheKey, Vec<u8>)> = (0..1500u32)
        .map(|i| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k[31] = 0xee;
            (CacheKey(k), i.to_le_bytes().to_vec())
        })
        .collect();
    let refs: Vec<(CacheKey, &[u8])> = many.iter().map(|(k, v)| (*k, &v[..])).collect();
    let before = store.round_trips();
    assert_eq!(store.insert_many(&refs), 1500);
    assert_eq!(store.round_trips() - before, 2);
    let keys: Vec<CacheKey> = many.iter().map(|(k, _)| *k).collect();
    let back = store.get_many(&keys).unwrap();
    assert!(back
        .iter()
        .zip(&many)
        .all(|(b, (_, v))| b.as_deref() == Some(&v[..])));
    for key in &keys {
        assert!(store.remove(key));
    }

    // One function at a time: one round trip each.
    let before = store.round_trips();
    for f in &funcs[..10] {
        assert!(compile_with_cache(&isa, f, &store).unwrap().1.is_hit());
    }
    assert_eq!(store.round_trips() - before, 10);

    // Another compiler version: its own namespace, so misses.
    let other = RedisStore::open(generous(&server.url(), "kiln 9.9.9 other")).unwrap();
    let outcomes = build(&isa, &funcs[..20], &want[..20], &other, 1);
    assert_eq!(count(&outcomes, |o| *o == CacheOutcome::Miss), 20);
    assert_eq!(store.count_entries().unwrap(), (300, 320));

    // Lifetime counters on the server, then clear and zero.
    let s = store.stats().snapshot();
    assert_eq!((s.hits, s.misses, s.stores), (310, 300, 1800));
    store
        .record_process_stats(&s, &[("unavailable", 0)])
        .unwrap();
    store.record_process_stats(&s, &[]).unwrap();
    let field = |name: &str| {
        let lifetime = store.lifetime_stats().unwrap();
        lifetime.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    };
    assert_eq!(field("hits"), Some(620));
    assert_eq!(field("processes"), Some(2));
    let ServerMemory { used, .. } = store.server_memory().unwrap();
    assert!(used > 0);
    assert_eq!(store.clear().unwrap(), 320);
    assert_eq!(store.count_entries().unwrap(), (0, 0));
    assert_eq!(field("hits"), Some(620), "clear keeps the counters");
    store.zero_stats().unwrap();
    assert!(store.lifetime_stats().unwrap().is_empty());
    assert_eq!(warnings.load(Ordering::Relaxed), 0);
    assert_eq!(store.unavailable(), 0);
}

#[test]
fn a_server_down_at_start_means_misses_one_warning_and_no_hang() {
    // Nothing listens on this port.
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let warnings = Arc::new(AtomicUsize::new(0));
    let redis = Arc::new(store_for(&url, &warnings));
    let memory = Arc::new(MemoryStore::new());
    let tiered = TieredStore::new(COMPILER_VERSION, vec![memory, redis.clone()]);
    let isa = MockIsa::new();
    let funcs = module(200, 2);
    let want = plain(&isa, &funcs);
    let cold = build(&isa, &funcs, &want, &*redis, 2);
    assert_eq!(count(&cold, |o| *o == CacheOutcome::Miss), 200);
    let first = build(&isa, &funcs, &want, &tiered, 2);
    assert_eq!(count(&first, |o| *o == CacheOutcome::Miss), 200);
    // The memory tier still serves the second build.
    let second = build(&isa, &funcs, &want, &tiered, 2);
    assert_eq!(count(&second, |o| o.is_hit()), 200);
    assert_eq!(warnings.load(Ordering::Relaxed), 1, "exactly one warning");
    assert!(redis.unavailable() > 0);
    let s = redis.stats().snapshot();
    assert_eq!(s.stores, 0);
    assert_eq!(s.store_errors, 400, "every dropped insert is counted");
}

#[test]
fn a_server_killed_mid_run_turns_into_misses_and_is_used_again_when_back() {
    let Some(mut server) = RedisServer::start("redis killed mid-run") else {
        return;
    };
    let port = server.port;
    let warnings = Arc::new(AtomicUsize::new(0));
    let store = store_for(&server.url(), &warnings);
    let isa = MockIsa::new();
    let funcs = module(120, 3);
    let want = plain(&isa, &funcs);
    for (i, f) in funcs.iter().enumerate() {
        if i == 60 {
            server.kill();
        }
        let (code, outcome) = compile_with_cache(&isa, f, &store).unwrap();
        assert_eq!(code, want[i]);
        assert_eq!(outcome, CacheOutcome::Miss);
    }
    assert_eq!(warnings.load(Ordering::Relaxed), 1);
    assert!(store.unavailable() > 0);
    let s = store.stats().snapshot();
    assert_eq!(s.stores, 60);
    // A server back on the same port (empty: no persistence) is used again
    // once the pause is over.
    let Some(_back) = RedisServer::start_on("redis back", Some(port)) else {
        return;
    };
    std::thread::sleep(store.config().retry_after);
    let refill = build(&isa, &funcs, &want, &store, 1);
    assert_eq!(count(&refill, |o| *o == CacheOutcome::Miss), 120);
    let warm = build(&isa, &funcs, &want, &store, 1);
    assert_eq!(count(&warm, |o| o.is_hit()), 120);
    assert_eq!(warnings.load(Ordering::Relaxed), 1, "still one warning");
}

#[test]
fn a_slow_server_costs_bounded_waits_and_a_usable_one_still_hits() {
    let Some(server) = RedisServer::start("redis slow server") else {
        return;
    };
    let isa = MockIsa::new();
    let funcs = module(100, 4);
    let want = plain(&isa, &funcs);

    // Replies held 400 ms, requests bounded at 200 ms: every attempt times
    // out, and after the first the server is left alone.
    let slow = DelayProxy::start(server.port, Duration::from_millis(400));
    let warnings = Arc::new(AtomicUsize::new(0));
    let mut config = RedisConfig::new(&slow.url(), COMPILER_VERSION);
    config.request_timeout = Duration::from_millis(200);
    config.retry_after = Duration::from_secs(60);
    let w = Arc::clone(&warnings);
    let store = RedisStore::open(config).unwrap().with_warning(move |_| {
        w.fetch_add(1, Ordering::Relaxed);
    });
    let started = Instant::now();
    let outcomes = build(&isa, &funcs, &want, &store, 1);
    let took = started.elapsed();
    assert_eq!(count(&outcomes, |o| *o == CacheOutcome::Miss), 100);
    let (failures, timeouts) = store.failures();
    assert_eq!((failures, timeouts), (1, 1), "one timeout, then left alone");
    assert!(store.is_pausing());
    assert_eq!(warnings.load(Ordering::Relaxed), 1);
    eprintln!("slow server: 100 functions in {took:?} (one 200 ms timeout)");

    // A little slow (5 ms per reply) but within the bound: it works.
    let laggy = DelayProxy::start(server.port, Duration::from_millis(5));
    let store = store_for(&laggy.url(), &warnings);
    let cold = build(&isa, &funcs, &want, &store, 1);
    assert_eq!(count(&cold, |o| *o == CacheOutcome::Miss), 100);
    let warm = build(&isa, &funcs, &want, &store, 2);
    assert_eq!(count(&warm, |o| o.is_hit()), 100);
    assert_eq!(store.unavailable(), 0);
    assert!(!store.is_pausing());
}

#[test]
fn corrupted_truncated_and_swapped_values_are_misses_and_get_rewritten() {
    let Some(server) = RedisServer::start("redis tampered values") else {
        return;
    };
    let warnings = Arc::new(AtomicUsize::new(0));
    let store = store_for(&server.url(), &warnings);
    let isa = MockIsa::new();
    let funcs = module(40, 5);
    let want = plain(&isa, &funcs);
    build(&isa, &funcs, &want, &store, 1);
    let keys: Vec<CacheKey> = funcs.iter().map(|f| cache_key(&isa, f)).collect();
    let rk = |i: usize| store.redis_key(&keys[i]);
    let mut con = server.connection();
    let get = |con: &mut redis::Connection, i: usize| -> Vec<u8> {
        redis::cmd("GET").arg(rk(i)).query(con).unwrap()
    };
    let set = |con: &mut redis::Connection, i: usize, v: &[u8]| {
        redis::cmd("SET")
            .arg(rk(i))
            .arg(v)
            .query::<()>(con)
            .unwrap()
    };
    // 0: one bit flipped; 1: truncated; 2 and 3: swapped; 4: another type
    // (a hash); 5: empty; 6: an entry of another compiler version; 7: the
    // entry of function 8 with its key echo (valid, but another key).
    let mut v0 = get(&mut con, 0);
    let mid = v0.len() / 2;
    v0[mid] ^= 0x10;
    set(&mut con, 0, &v0);
    let v1 = get(&mut con, 1);
    set(&mut con, 1, &v1[..v1.len() / 2]);
    let (v2, v3) = (get(&mut con, 2), get(&mut con, 3));
    set(&mut con, 2, &v3);
    set(&mut con, 3, &v2);
    redis::cmd("DEL").arg(rk(4)).query::<()>(&mut con).unwrap();
    redis::cmd("HSET")
        .arg(rk(4))
        .arg("f")
        .arg("v")
        .query::<()>(&mut con)
        .unwrap();
    set(&mut con, 5, b"");
    let payload = decode_entry(&keys[6], COMPILER_VERSION, &get(&mut con, 6))
        .unwrap()
        .to_vec();
    set(
        &mut con,
        6,
        &encode_entry_timed(&keys[6], "kiln 0.0.1 older", &payload, None).unwrap(),
    );
    let v8 = get(&mut con, 8);
    set(&mut con, 7, &v8);

    let outcomes = build(&isa, &funcs, &want, &store, 1);
    for (i, o) in outcomes.iter().enumerate() {
        match i {
            0..=3 | 5..=7 => assert!(matches!(o, CacheOutcome::Rejected(_)), "{i}: {o:?}"),
            4 => assert_eq!(*o, CacheOutcome::Miss, "a hash is no entry"),
            _ => assert!(o.is_hit(), "{i}: {o:?}"),
        }
    }
    // The misses were compiled and written back: all hit now.
    let again = build(&isa, &funcs, &want, &store, 1);
    assert_eq!(count(&again, |o| o.is_hit()), 40);
    assert_eq!(warnings.load(Ordering::Relaxed), 0);
}

#[test]
fn passwords_and_database_numbers_in_the_url_are_honoured() {
    let Some(server) =
        RedisServer::start_with("redis password", None, &["--requirepass", "s3cret-pw"])
    else {
        return;
    };
    let isa = MockIsa::new();
    let funcs = module(30, 7);
    let want = plain(&isa, &funcs);
    let warnings = Arc::new(AtomicUsize::new(0));
    let port = server.port;
    // Without the password: refused, so misses and one warning.
    let anonymous = store_for(&format!("redis://127.0.0.1:{port}/0"), &warnings);
    let outcomes = build(&isa, &funcs, &want, &anonymous, 1);
    assert_eq!(count(&outcomes, |o| *o == CacheOutcome::Miss), 30);
    assert_eq!(warnings.load(Ordering::Relaxed), 1);
    // With it: databases 1 and 2 are separate caches.
    let db1 = store_for(&format!("redis://:s3cret-pw@127.0.0.1:{port}/1"), &warnings);
    let db2 = store_for(&format!("redis://:s3cret-pw@127.0.0.1:{port}/2"), &warnings);
    assert_eq!(db1.url(), format!("redis://:***@127.0.0.1:{port}/1"));
    build(&isa, &funcs, &want, &db1, 1);
    let hits = build(&isa, &funcs, &want, &db1, 1);
    assert_eq!(count(&hits, |o| o.is_hit()), 30);
    let other = build(&isa, &funcs, &want, &db2, 1);
    assert_eq!(count(&other, |o| *o == CacheOutcome::Miss), 30);
    assert_eq!(
        warnings.load(Ordering::Relaxed),
        1,
        "no failure with the password"
    );
    assert_eq!(db1.count_entries().unwrap(), (30, 30));
}

#[test]
fn two_machines_share_work_through_one_server() {
    let Some(server) = RedisServer::start("redis two machines") else {
        return;
    };
    let root = std::env::temp_dir().join(format!("kiln-redis-two-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let warnings = Arc::new(AtomicUsize::new(0));
    let machine = |name: &str| {
        let dir = Arc::new(DirectoryStore::new(root.join(name)));
        let redis = Arc::new(WriteBehindStore::new(
            store_for(&server.url(), &warnings),
            1024,
        ));
        let tiered = TieredStore::new(
            COMPILER_VERSION,
            vec![Arc::new(MemoryStore::new()), dir.clone(), redis.clone()],
        );
        (tiered, dir, redis)
    };
    let funcs = module(150, 6);
    let (a, _, a_redis) = machine("a");
    let isa_a = MockIsa::new();
    let want = plain(&isa_a, &funcs);
    let plain_compiles = isa_a.compiles();
    build(&isa_a, &funcs, &want, &a, 2);
    assert_eq!(isa_a.compiles() - plain_compiles, 150);
    a_redis.flush();

    let (b, b_dir, _) = machine("b");
    let isa_b = MockIsa::new();
    let outcomes = build(&isa_b, &funcs, &want, &b, 2);
    assert_eq!(isa_b.compiles(), 0, "machine b compiles nothing a compiled");
    assert_eq!(count(&outcomes, |o| o.is_hit()), 150);
    // Machine b's own folder was filled from the server.
    assert_eq!(b_dir.disk_usage().unwrap().entries, 150);
    assert_eq!(b.tier_hits(), [0, 0, 150]);
    let again = build(&isa_b, &funcs, &want, &b, 2);
    assert_eq!(count(&again, |o| o.is_hit()), 150);
    assert_eq!(b.tier_hits(), [150, 0, 150], "then served from memory");
    let _ = std::fs::remove_dir_all(&root);
}

// ---------------------------------------------------------------------------
// Four processes on one server, two of them killed mid-run.

const CHILD_URL: &str = "KILN_REDIS_TEST_CHILD_URL";
const CHILD_ID: &str = "KILN_REDIS_TEST_CHILD_ID";
const MODULES: u64 = 4;
const MODULE_LEN: usize = 150;

/// The body of a child process; does nothing in a normal test run.
#[test]
fn child_compiler() {
    let (Ok(url), Ok(id)) = (std::env::var(CHILD_URL), std::env::var(CHILD_ID)) else {
        return;
    };
    let id: u64 = id.parse().unwrap();
    let store = WriteBehindStore::new(
        RedisStore::open(generous(&url, COMPILER_VERSION)).unwrap(),
        4096,
    );
    let isa = MockIsa::new();
    println!("CHILD-STARTED {id}");
    for round in 0..MODULES {
        // Each child walks the modules in its own order.
        let m = (round + id) % MODULES;
        let funcs = module(MODULE_LEN, 100 + m);
        let want = plain(&isa, &funcs);
        for (i, f) in funcs.iter().enumerate() {
            let (code, _) = compile_with_cache(&isa, f, &store).unwrap();
            assert_eq!(code, want[i], "child {id} module {m} function {i}");
            // Slow enough to be killed in the middle.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    store.flush();
    println!(
        "CHILD-DONE {id} unavailable={}",
        store.inner().unavailable()
    );
}

#[test]
fn four_processes_half_killed_leave_only_good_entries() {
    let Some(server) = RedisServer::start("redis four processes") else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..4)
        .map(|id| {
            std::process::Command::new(&exe)
                .args([
                    "child_compiler",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_URL, server.url())
                .env(CHILD_ID, id.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Once the first two have started, let them work a while, then kill
    // them in the middle of their run (a run takes over a second).
    let mut killed_output = Vec::new();
    for child in &mut children[..2] {
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // (libtest prints its own lines first.)
        let started = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("CHILD-STARTED"));
        assert!(started, "a child ended before it started compiling");
        killed_output.push(lines);
    }
    std::thread::sleep(Duration::from_millis(300));
    for child in &mut children[..2] {
        child.kill().unwrap();
    }
    for lines in killed_output {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert!(
            !rest.iter().any(|l| l.contains("CHILD-DONE")),
            "a child finished before it was killed: {rest:?}"
        );
    }
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        if id >= 2 {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("CHILD-DONE"),
                "child {id}: {}\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // Every value on the server is a valid entry for its key, and a fresh
    // process gets correct code for every function (hits: the survivors
    // compiled everything).
    let store = RedisStore::open(generous(&server.url(), COMPILER_VERSION)).unwrap();
    let mut con = server.connection();
    let names: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg(format!("{}*", store.key_prefix()))
        .query(&mut con)
        .unwrap();
    assert_eq!(names.len(), MODULES as usize * MODULE_LEN);
    for name in &names {
        let hex = std::str::from_utf8(&name[store.key_prefix().len()..]).unwrap();
        let key: CacheKey = hex.parse().unwrap();
        let value: Vec<u8> = redis::cmd("GET").arg(name).query(&mut con).unwrap();
        decode_entry(&key, COMPILER_VERSION, &value).unwrap_or_else(|e| panic!("{hex}: {e}"));
    }
    let isa = MockIsa::new();
    for m in 0..MODULES {
        let funcs = module(MODULE_LEN, 100 + m);
        let want = plain(&isa, &funcs);
        let outcomes = build(&isa, &funcs, &want, &store, 2);
        assert_eq!(count(&outcomes, |o| o.is_hit()), MODULE_LEN);
    }
}
