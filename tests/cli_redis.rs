//! The command line with a shared cache server: `--cache URL` and
//! `KILN_CACHE_URL` for `compile` and `run`, `kiln cache stats|clear`
//! against the server, and settings that are rejected with their name.
//!
//! Each test that needs Redis starts its own `redis-server` on a loopback
//! port; without one installed the test prints SKIP and returns, except
//! under `CI=true`, where it fails.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(test: &str) -> Option<Server> {
    let installed = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{test}: redis-server is not installed, and CI=true: CI must run this test"
        );
        println!("SKIP {test}: redis-server is not installed");
        return None;
    }
    for _ in 0..5 {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let mut server = Server(child, port);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = server.0.try_wait() {
                break;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let mut reply = [0u8; 7];
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                if s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() {
                    return Some(server);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(server);
    }
    panic!("{test}: redis-server did not start");
}

fn url(server: &Server) -> String {
    format!("redis://127.0.0.1:{}/0", server.1)
}

/// Runs kiln with `KILN_CACHE_DIR=dir` and the extra environment.
fn kiln(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KILN_CACHE_DIR", dir)
        .env_remove("KILN_CACHE_URL")
        .env_remove("KILN_CACHE_SECRET")
        .env_remove("KILN_CACHE_SECRET_FILE")
        // Generous waits: a loaded machine must not turn a live server
        // into misses (a case's own settings come after and win).
        .env("KILN_CACHE_CONNECT_TIMEOUT_MS", "5000")
        .env("KILN_CACHE_TIMEOUT_MS", "5000");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run kiln");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-cli-redis-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The value of a `  NAME: VALUE` line of the server's part of
/// `kiln cache stats` (after `shared cache:`).
fn counter(out: &str, name: &str) -> Option<u64> {
    let prefix = format!("  {name}:");
    let server = out.split_once("shared cache:").map_or("", |(_, s)| s);
    server
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

const FILE: &str = "cranelift-like-ir/examples/gcd.clif";

#[test]
fn two_machines_share_work_through_the_server() {
    let Some(server) = start_server("cli two machines") else {
        return;
    };
    let url = url(&server);
    let (a, b) = (temp("a"), temp("b"));
    // Machine a compiles with --cache; its counters reach the server.
    let (code, out_a, err) = kiln(&a, &[], &["compile", "--cache", &url, FILE]);
    assert_eq!(code, 0, "{out_a}{err}");
    assert!(err.is_empty(), "no warning with a live server: {err}");
    let (code, stats, err) = kiln(&a, &[], &["cache", "--cache", &url, "stats"]);
    assert_eq!(code, 0, "{err}");
    let compiled = counter(&stats, "misses").expect("misses counted on the server");
    assert!(compiled > 0, "{stats}");
    assert_eq!(counter(&stats, "stores"), Some(compiled), "{stats}");
    assert_eq!(counter(&stats, "hits"), None, "{stats}");
    assert!(
        stats.contains(&format!(
            "entries:         {compiled} of this compiler version"
        )),
        "{stats}"
    );
    // Machine b (another folder), with KILN_CACHE_URL: all hits, and the
    // same output.
    let (code, out_b, _) = kiln(&b, &[("KILN_CACHE_URL", &url)], &["compile", FILE]);
    assert_eq!((code, &out_b), (0, &out_a));
    let (_, stats, _) = kiln(&b, &[], &["cache", "--cache", &url, "stats"]);
    assert_eq!(counter(&stats, "hits"), Some(compiled), "{stats}");
    assert_eq!(
        counter(&stats, "misses"),
        Some(compiled),
        "b missed nothing"
    );
    // ... and b's own folder was filled from the server.
    let (_, local, _) = kiln(&b, &[], &["cache", "stats"]);
    assert!(!local.contains("shared cache:"), "no server without a URL");
    assert!(
        local.contains(&format!("entries:         {compiled} (")),
        "{local}"
    );
    // `kiln run` through the server gives the same results as without.
    let (code, run_cached, _) = kiln(&b, &[], &["run", "--cache", &url, FILE]);
    let (_, run_plain, _) = kiln(&b, &[], &["run", "--no-cache", FILE]);
    assert_eq!((code, &run_cached), (0, &run_plain));
    // Clearing the server removes its entries, not its counters.
    let (code, out, _) = kiln(&a, &[], &["cache", "--cache", &url, "clear"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("removed {compiled} entries")),
        "{out}"
    );
    let (_, stats, _) = kiln(&a, &[], &["cache", "--cache", &url, "stats"]);
    assert!(stats.contains("entries:         0 of"), "{stats}");
    assert!(counter(&stats, "hits").is_some(), "{stats}");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn a_server_down_is_one_warning_and_the_same_output() {
    let dir = temp("down");
    let down = format!("redis://127.0.0.1:{}/0", free_port());
    let (code, plain, _) = kiln(&dir, &[], &["compile", "--no-cache", FILE]);
    assert_eq!(code, 0);
    let (code, out, err) = kiln(&dir, &[], &["compile", "--cache", &down, FILE]);
    assert_eq!((code, &out), (0, &plain));
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(err.contains("127.0.0.1"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_are_rejected_with_their_names() {
    let dir = temp("bad");
    // (environment, arguments, what the error must name)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: [Case; 5] = [
        (
            &[],
            &["compile", "--cache", "http://x/0", FILE],
            "http://x/0",
        ),
        (
            &[],
            &["compile", FILE, "--cache"],
            "a value is required for '--cache",
        ),
        (
            &[
                ("KILN_CACHE_URL", "redis://127.0.0.1:1/0"),
                ("KILN_CACHE_TIMEOUT_MS", "soon"),
            ],
            &["run", FILE],
            "KILN_CACHE_TIMEOUT_MS=soon",
        ),
        (
            &[
                ("KILN_CACHE_CONNECT_TIMEOUT_MS", "0"),
                ("KILN_CACHE_URL", "redis://h/0"),
            ],
            &["test", "cranelift-like-ir/examples"],
            "KILN_CACHE_CONNECT_TIMEOUT_MS=0",
        ),
        (
            &[("KILN_CACHE_SECRET", "short")],
            &["compile", FILE],
            "KILN_CACHE_SECRET",
        ),
    ];
    for (env, args, named) in cases {
        let (code, _, err) = kiln(&dir, env, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_secret_shares_entries_only_with_holders_of_it() {
    let Some(server) = start_server("cli secret") else {
        return;
    };
    let url = url(&server);
    let (a, b, c) = (temp("sa"), temp("sb"), temp("sc"));
    let secret = [("KILN_CACHE_SECRET", "the farm's secret, 32 bytes long")];
    let other = [("KILN_CACHE_SECRET", "somebody else's secret value")];
    let (code, out_a, err) = kiln(&a, &secret, &["compile", "--cache", &url, FILE]);
    assert_eq!(code, 0, "{err}");
    let (_, stats, _) = kiln(&a, &[], &["cache", "--cache", &url, "stats"]);
    let compiled = counter(&stats, "misses").unwrap();
    // The same secret: hits.
    let (code, out_b, _) = kiln(&b, &secret, &["compile", "--cache", &url, FILE]);
    assert_eq!((code, &out_b), (0, &out_a));
    let (_, stats, _) = kiln(&a, &[], &["cache", "--cache", &url, "stats"]);
    assert_eq!(counter(&stats, "hits"), Some(compiled), "{stats}");
    // Another secret: every entry is unauthenticated, a miss, recompiled,
    // and the output is the same.
    let (code, out_c, _) = kiln(&c, &other, &["compile", "--cache", &url, FILE]);
    assert_eq!((code, &out_c), (0, &out_a));
    let (_, stats, _) = kiln(&a, &[], &["cache", "--cache", &url, "stats"]);
    assert_eq!(counter(&stats, "hits"), Some(compiled), "{stats}");
    assert_eq!(counter(&stats, "misses"), Some(2 * compiled), "{stats}");
    assert_eq!(
        counter(&stats, "unauthenticated"),
        Some(compiled),
        "{stats}"
    );
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_fifo_at_an_entry_path_does_not_hang_kiln_run() {
    let dir = temp("fifo");
    let (code, first, _) = kiln(&dir, &[], &["run", FILE]);
    assert_eq!(code, 0);
    // Replace every entry file with a FIFO.
    let mut planted = 0;
    for folder in std::fs::read_dir(dir.join("v1")).unwrap().flatten() {
        for entry in std::fs::read_dir(folder.path()).unwrap().flatten() {
            let path = entry.path();
            std::fs::remove_file(&path).unwrap();
            let made = Command::new("mkfifo").arg(&path).status().unwrap();
            assert!(made.success());
            planted += 1;
        }
    }
    assert!(planted > 0, "kiln run stored nothing");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["run", FILE])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KILN_CACHE_DIR", &dir)
        .env_remove("KILN_CACHE_URL")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("kiln run blocked on a FIFO in the cache folder");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), first);
    let _ = std::fs::remove_dir_all(&dir);
}
