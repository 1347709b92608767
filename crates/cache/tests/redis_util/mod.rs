//! Helpers of the Redis tests: a private `redis-server` per test, a
//! delaying TCP proxy, and a module of functions to compile.
//!
//! A test that needs Redis and finds no `redis-server` FAILS when
//! `CI=true` (CI installs it: `.ci/run`), and otherwise prints why it is
//! skipped and returns.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_ir::Function;

/// A configuration with waits long enough that a loaded machine does not
/// turn a live server into misses (the defaults are for builds, where a
/// miss is cheap; a test that expects hits must not be flaky).
pub fn generous(url: &str, namespace: &str) -> kiln_cache::RedisConfig {
    let mut config = kiln_cache::RedisConfig::new(url, namespace);
    config.connect_timeout = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(5);
    config
}

/// A `redis-server` on a loopback port of its own, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

/// A loopback port nothing listens on (just released by the kernel).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

impl RedisServer {
    /// Starts a server for `test`, or `None` (after printing why) when
    /// `redis-server` is not installed outside CI. Panics in CI.
    pub fn start(test: &str) -> Option<RedisServer> {
        Self::start_on(test, None)
    }

    /// [`RedisServer::start`] on `port` if given (else a free one).
    pub fn start_on(test: &str, port: Option<u16>) -> Option<RedisServer> {
        Self::start_with(test, port, &[])
    }

    /// [`RedisServer::start_on`] with extra `redis-server` arguments. With
    /// `--requirepass`, readiness is seen as the `-NOAUTH` reply to PING.
    pub fn start_with(test: &str, port: Option<u16>, extra: &[&str]) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            if in_ci() {
                panic!(
                    "{test}: redis-server is not installed, and CI=true: CI must run \
                     this test (.ci/run installs redis-server with apt)"
                );
            }
            println!("SKIP {test}: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        // A port can be taken between choosing and binding it: try a few.
        for _ in 0..5 {
            let port = port.unwrap_or_else(free_port);
            let mut server = RedisServer {
                child: Some(
                    Command::new("redis-server")
                        .args(["--port", &port.to_string()])
                        .args(["--bind", "127.0.0.1"])
                        .args(["--save", "", "--appendonly", "no"])
                        .args(["--daemonize", "no", "--loglevel", "warning"])
                        .args(extra)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("spawn redis-server"),
                ),
                port,
            };
            if server.wait_ready() {
                return Some(server);
            }
            server.kill();
        }
        panic!("{test}: redis-server did not start on a loopback port in 5 tries");
    }

    fn wait_ready(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(child) = &mut self.child {
                if let Ok(Some(_)) = child.try_wait() {
                    return false; // exited: port taken?
                }
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                let mut reply = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut reply).is_ok()
                    && (&reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A plain connection, for tampering with values.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy on a loopback port that forwards to `target` and holds
/// every chunk of the server's replies for `delay` first: a slow server.
pub struct DelayProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl DelayProxy {
    pub fn start(target: u16, delay: Duration) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let pump = |mut from: TcpStream, mut to: TcpStream, delay: Duration| {
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    std::thread::sleep(delay);
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                };
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    Duration::ZERO,
                );
                pump(server, client, delay);
            }
        });
        DelayProxy { port, stop }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `n` distinct functions, each with a call (a relocation and a call
/// site), a trap and arithmetic: a module for the mock backend. `salt`
/// changes every stencil (another module).
pub fn module(n: usize, salt: u64) -> Vec<Function> {
    (0..n)
        .map(|i| {
            let text = format!(
                "function u0:{i}(i64) -> i64 {{\n    sig0 = (i64) -> i64\n    fn0 = u0:{callee} sig0\nblock0(v0: i64):\n    v1 = iconst.i64 {c}\n    v2 = iadd v0, v1\n    v3 = call fn0(v2)\n    brif v3, block1, block2\nblock1:\n    return v3\nblock2:\n    trap user1\n}}\n",
                callee = 10_000 + i,
                c = i as u64 * 1_000_003 + salt,
            );
            kiln_reader::parse_function(&text).expect("test function parses")
        })
        .collect()
}
