//! A shared store on a Redis server, for build farms: machines that
//! compile the same modules share their work through one server.
//!
//! - **Keys** are `kiln:e<FORMAT_VERSION>:<namespace>:<key hex>`, where
//!   the namespace is the XXH64 (hex) of a string the caller gives (the
//!   compile layer's `COMPILER_VERSION`), so builds of other formats or
//!   compilers never even read each other's values. Values are encoded
//!   entries, checked by the envelope (checksum, key echo, compiler
//!   version) like every other store's: a corrupted, truncated or swapped
//!   value is a counted miss. Wrap the store in a
//!   [`MacStore`](crate::MacStore) to reject forged ones too.
//! - **Connections** are kept in a small pool and reused: a lookup costs
//!   one round trip, not a TCP handshake. [`CacheKvStore::get_many`]
//!   sends its keys as one pipeline (in batches of [`MAX_BATCH`]), so a
//!   module's lookups cost one round trip
//!   ([`compile_many_with_cache`](crate::compile_many_with_cache) uses it).
//! - **Bounded waits.** Connecting waits at most `connect_timeout`, and
//!   every read or write on a connection at most `request_timeout`. A
//!   failure (refused, reset, timed out) drops that connection, prints one
//!   warning per store, counts in [`RedisStore::unavailable`], and for
//!   `retry_after` every operation is a miss (or a dropped insert) at
//!   once, without touching the network; then one operation tries again.
//!   A server that is down, dies or stalls therefore costs a build at most
//!   one timeout per `retry_after`, never a hang, and compilation goes on
//!   as misses.
//! - **Inserts** are synchronous here; wrap the store in a
//!   [`WriteBehindStore`](crate::WriteBehindStore) to take them off the
//!   compile thread (the CLI does).
//! - The server decides what to keep: configure it as a cache
//!   (`maxmemory` and `maxmemory-policy allkeys-lru`, see docs/cache.md).
//!
//! Nothing here returns an error to the compiler. Administrative calls
//! (`clear`, statistics) report errors, for `kiln cache`.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::io::tcp::TcpSettings;
use redis::{Connection, IntoConnectionInfo, RedisError, Value};

use crate::checksum::xxh64;
use crate::entry::{FORMAT_VERSION, MAX_ENTRY_LEN};
use crate::{CacheKey, CacheKvStore, CacheStats, CacheStatsSnapshot};

/// Default bound on establishing a connection (TCP, then `SELECT`/`AUTH`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// Default bound on each read or write of a request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

/// Default time a failed server is left alone before the next attempt.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Environment variable overriding the connect timeout, in milliseconds.
pub const CONNECT_TIMEOUT_ENV: &str = "KILN_CACHE_CONNECT_TIMEOUT_MS";

/// Environment variable overriding the request timeout, in milliseconds.
pub const REQUEST_TIMEOUT_ENV: &str = "KILN_CACHE_TIMEOUT_MS";

/// Prefix of every key Kiln writes.
pub const KEY_PREFIX: &str = "kiln:";

/// The hash holding lifetime counters of every process that used the
/// server (`kiln cache stats`).
pub const STATS_KEY: &str = "kiln:stats";

/// Most keys sent in one pipeline.
pub const MAX_BATCH: usize = 1024;

/// Largest value read or written: an entry and a MAC tag.
const MAX_VALUE_LEN: usize = MAX_ENTRY_LEN + crate::mac::TAG_LEN;

/// Connections kept for reuse; more are opened when threads need them and
/// closed when returned to a full pool.
const POOL_MAX: usize = 16;

/// How to reach the server and how long to wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]` (also `rediss://` is not
    /// supported: this build has no TLS).
    pub url: String,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Bound on each read or write of a request.
    pub request_timeout: Duration,
    /// Time a failed server is left alone.
    pub retry_after: Duration,
    /// The string whose hash namespaces the keys (the compiler version).
    pub namespace: String,
}

impl RedisConfig {
    /// `url` with the default timeouts, namespaced by `namespace`.
    pub fn new(url: &str, namespace: &str) -> Self {
        RedisConfig {
            url: url.to_string(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            namespace: namespace.to_string(),
        }
    }

    /// [`RedisConfig::new`], then the timeouts from
    /// `$KILN_CACHE_CONNECT_TIMEOUT_MS` and `$KILN_CACHE_TIMEOUT_MS` when
    /// set. A value that is not a whole number of milliseconds above zero
    /// is an error naming the variable.
    pub fn from_env(url: &str, namespace: &str) -> Result<Self, RedisStoreError> {
        Self::from_vars(url, namespace, |name| std::env::var(name).ok())
    }

    /// [`RedisConfig::from_env`] over an injectable environment.
    pub fn from_vars(
        url: &str,
        namespace: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, RedisStoreError> {
        let mut config = Self::new(url, namespace);
        let ms = |name: &str| -> Result<Option<Duration>, RedisStoreError> {
            let Some(text) = var(name).filter(|v| !v.is_empty()) else {
                return Ok(None);
            };
            match text.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(Duration::from_millis(n))),
                _ => Err(RedisStoreError::BadSetting {
                    name: name.to_string(),
                    value: text,
                }),
            }
        };
        if let Some(t) = ms(CONNECT_TIMEOUT_ENV)? {
            config.connect_timeout = t;
        }
        if let Some(t) = ms(REQUEST_TIMEOUT_ENV)? {
            config.request_timeout = t;
        }
        Ok(config)
    }
}

/// Why a store could not be opened, or an administrative call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisStoreError {
    /// The URL is not a Redis URL this build supports.
    BadUrl {
        /// The URL, password hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// A setting has a value that cannot be used.
    BadSetting {
        /// The setting (an environment variable).
        name: String,
        /// Its value.
        value: String,
    },
    /// The server could not be reached or answered with an error.
    Server {
        /// The URL, password hidden.
        url: String,
        /// The error.
        reason: String,
    },
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisStoreError::BadUrl { url, reason } => write!(f, "cache URL {url}: {reason}"),
            RedisStoreError::BadSetting { name, value } => write!(
                f,
                "{name}={value}: expected a whole number of milliseconds above 0"
            ),
            RedisStoreError::Server { url, reason } => write!(f, "cache server {url}: {reason}"),
        }
    }
}

impl std::error::Error for RedisStoreError {}

/// `url` with any password replaced by `***`, for messages.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_string(),
    }
}

type Warn = Box<dyn Fn(&str) + Send + Sync>;

/// A [`CacheKvStore`] on a Redis server (see the module docs).
pub struct RedisStore {
    client: redis::Client,
    config: RedisConfig,
    shown_url: String,
    /// `kiln:e<format>:<namespace hash>:`.
    prefix: String,
    pool: Mutex<Vec<Connection>>,
    /// While set and in the future, the server is not tried.
    down_until: Mutex<Option<Instant>>,
    stats: CacheStats,
    /// Requests that failed (connect or I/O error, timeout).
    failures: AtomicU64,
    /// Of those, the timeouts.
    timeouts: AtomicU64,
    /// Operations not attempted because the server had just failed.
    skipped: AtomicU64,
    /// Requests sent (a pipeline is one).
    round_trips: AtomicU64,
    warned: AtomicBool,
    warn: Warn,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.shown_url)
            .field("prefix", &self.prefix)
            .field("stats", &self.stats)
            .field("unavailable", &self.unavailable())
            .finish_non_exhaustive()
    }
}

/// Redis's own view of its memory, from `INFO memory`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerMemory {
    /// `used_memory`, bytes.
    pub used: u64,
    /// `maxmemory`, bytes (0: no limit).
    pub max: u64,
    /// `maxmemory_policy`.
    pub policy: String,
}

impl RedisStore {
    /// A store for `config`. Parses the URL; does no I/O (the first
    /// operation connects).
    pub fn open(config: RedisConfig) -> Result<Self, RedisStoreError> {
        let shown_url = redacted_url(&config.url);
        if !config.url.starts_with("redis://") {
            return Err(RedisStoreError::BadUrl {
                url: shown_url,
                reason: "expected redis://host[:port][/db]".to_string(),
            });
        }
        let bad_url = |e: RedisError| RedisStoreError::BadUrl {
            url: shown_url.clone(),
            reason: e.to_string(),
        };
        // No Nagle delay: requests are small and answered at once.
        let info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(bad_url)?
            .set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info).map_err(bad_url)?;
        let prefix = format!(
            "{KEY_PREFIX}e{FORMAT_VERSION}:{:016x}:",
            xxh64(config.namespace.as_bytes())
        );
        let warn_url = shown_url.clone();
        Ok(RedisStore {
            client,
            config,
            shown_url,
            prefix,
            pool: Mutex::new(Vec::new()),
            down_until: Mutex::new(None),
            stats: CacheStats::new(),
            failures: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
            warned: AtomicBool::new(false),
            warn: Box::new(move |reason| {
                eprintln!(
                    "kiln: warning: cache server {warn_url}: {reason}; \
                     going on without it (lookups are misses)"
                )
            }),
        })
    }

    /// Replaces the one warning printed when the server first fails
    /// (default: a line on stderr).
    pub fn with_warning(mut self, warn: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.warn = Box::new(warn);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// The URL, password hidden.
    pub fn url(&self) -> &str {
        &self.shown_url
    }

    /// The prefix of this store's entry keys.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis key of `key`'s entry.
    pub fn redis_key(&self, key: &CacheKey) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.prefix.len() + 64);
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(&key.to_hex());
        out
    }

    /// This process's counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Operations that got no answer: failed (refused, reset, timed out)
    /// or not attempted because the server had just failed.
    pub fn unavailable(&self) -> u64 {
        self.failures.load(Ordering::Relaxed) + self.skipped.load(Ordering::Relaxed)
    }

    /// Requests that failed, and how many of them timed out.
    pub fn failures(&self) -> (u64, u64) {
        (
            self.failures.load(Ordering::Relaxed),
            self.timeouts.load(Ordering::Relaxed),
        )
    }

    /// Requests sent to the server (a pipeline of many commands is one),
    /// including failed ones; administrative calls are not counted.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn connect(&self) -> Result<Connection, RedisError> {
        let con = self
            .client
            .get_connection_with_timeout(self.config.connect_timeout)?;
        con.set_read_timeout(Some(self.config.request_timeout))?;
        con.set_write_timeout(Some(self.config.request_timeout))?;
        Ok(con)
    }

    fn lock_pool(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the store is pausing after a failure (operations are
    /// misses without a request until the pause ends).
    pub fn is_pausing(&self) -> bool {
        let down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        down.is_some_and(|until| Instant::now() < until)
    }

    fn is_down(&self) -> bool {
        let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        match *down {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                // The pause is over: try again (a failure starts a new
                // pause).
                *down = None;
                false
            }
            None => false,
        }
    }

    fn fail(&self, error: &RedisError) {
        self.pause(&error.to_string(), error.is_timeout());
    }

    /// A reply that says the server will not serve this client at all
    /// (no or wrong password, no permission, still loading its data):
    /// handled like a failure (see [`RedisStore::unavailable`]), not as a
    /// miss per key.
    fn refused(&self, values: &[Value]) -> bool {
        let refusal = values.iter().find_map(|v| match v {
            Value::ServerError(e)
                if matches!(e.code(), "NOAUTH" | "WRONGPASS" | "NOPERM" | "LOADING") =>
            {
                Some(format!("{} {}", e.code(), e.details().unwrap_or("")))
            }
            _ => None,
        });
        match refusal {
            Some(reason) => {
                self.pause(reason.trim_end(), false);
                true
            }
            None => false,
        }
    }

    fn pause(&self, reason: &str, timed_out: bool) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if timed_out {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + self.config.retry_after);
        // Every pooled connection may be as dead as this one.
        self.lock_pool().clear();
        if !self.warned.swap(true, Ordering::Relaxed) {
            (self.warn)(reason);
        }
    }

    /// Runs `op` on a pooled connection, under the failure policy of the
    /// module docs: `None` if the server is down or failed now.
    fn with_conn<T>(&self, op: impl FnOnce(&mut Connection) -> redis::RedisResult<T>) -> Option<T> {
        if self.is_down() {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let pooled = self.lock_pool().pop();
        let mut con = match pooled {
            Some(con) => con,
            None => match self.connect() {
                Ok(con) => con,
                Err(e) => {
                    self.fail(&e);
                    return None;
                }
            },
        };
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        match op(&mut con) {
            Ok(value) => {
                let mut pool = self.lock_pool();
                if pool.len() < POOL_MAX {
                    pool.push(con);
                }
                Some(value)
            }
            Err(e) => {
                // The connection may hold half a reply: never reuse it.
                self.fail(&e);
                None
            }
        }
    }

    /// Runs `op` on a fresh connection and reports any error: for the
    /// administrative calls, which a person is waiting on.
    fn admin<T>(
        &self,
        op: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, RedisStoreError> {
        let server = |e: RedisError| RedisStoreError::Server {
            url: self.shown_url.clone(),
            reason: e.to_string(),
        };
        let mut con = self.connect().map_err(server)?;
        op(&mut con).map_err(server)
    }

    /// One pipeline of `GET`s; a value that is not a string (someone
    /// stored another type there) or too large to be an entry is `None`
    /// and a store error.
    fn fetch(&self, keys: &[CacheKey], out: &mut Vec<Option<Vec<u8>>>) {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for key in keys {
            pipe.cmd("GET").arg(self.redis_key(key));
        }
        let Some(values) = self.with_conn(|con| pipe.query::<Vec<Value>>(con)) else {
            out.extend(keys.iter().map(|_| None));
            return;
        };
        if self.refused(&values) {
            out.extend(keys.iter().map(|_| None));
            return;
        }
        if values.len() != keys.len() {
            self.stats.record_store_error();
            out.extend(keys.iter().map(|_| None));
            return;
        }
        for value in values {
            out.push(match value {
                Value::Nil => None,
                Value::BulkString(bytes) if bytes.len() <= MAX_VALUE_LEN => {
                    self.stats.record_read(bytes.len() as u64);
                    Some(bytes)
                }
                _ => {
                    self.stats.record_store_error();
                    None
                }
            });
        }
    }

    /// Removes every Kiln entry on the server (all formats and compiler
    /// versions: keys `kiln:e*`); the lifetime counters are kept. Returns
    /// how many keys were removed.
    pub fn clear(&self) -> Result<u64, RedisStoreError> {
        self.remove_matching(&format!("{KEY_PREFIX}e*"))
    }

    /// Removes the entries of this store's namespace only.
    pub fn clear_namespace(&self) -> Result<u64, RedisStoreError> {
        self.remove_matching(&format!("{}*", self.prefix))
    }

    fn remove_matching(&self, pattern: &str) -> Result<u64, RedisStoreError> {
        self.admin(|con| {
            let mut removed = 0u64;
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(con)?;
                if !keys.is_empty() {
                    let n: u64 = redis::cmd("UNLINK").arg(&keys).query(con)?;
                    removed += n;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            Ok(removed)
        })
    }

    /// Entries of this store's namespace, and of all Kiln namespaces.
    pub fn count_entries(&self) -> Result<(u64, u64), RedisStoreError> {
        let pattern = format!("{KEY_PREFIX}e*");
        let prefix = self.prefix.as_bytes();
        self.admin(|con| {
            let (mut mine, mut all) = (0u64, 0u64);
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(con)?;
                all += keys.len() as u64;
                mine += keys.iter().filter(|k| k.starts_with(prefix)).count() as u64;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            Ok((mine, all))
        })
    }

    /// The server's memory use and eviction settings.
    pub fn server_memory(&self) -> Result<ServerMemory, RedisStoreError> {
        let text: String = self.admin(|con| redis::cmd("INFO").arg("memory").query(con))?;
        let mut memory = ServerMemory::default();
        for line in text.lines() {
            let Some((name, value)) = line.trim().split_once(':') else {
                continue;
            };
            match name {
                "used_memory" => memory.used = value.parse().unwrap_or(0),
                "maxmemory" => memory.max = value.parse().unwrap_or(0),
                "maxmemory_policy" => memory.policy = value.to_string(),
                _ => {}
            }
        }
        Ok(memory)
    }

    /// Adds this process's counters (and `extra` named ones) to the
    /// server's lifetime counters.
    pub fn record_process_stats(
        &self,
        s: &CacheStatsSnapshot,
        extra: &[(&str, u64)],
    ) -> Result<(), RedisStoreError> {
        let time_saved_ns = u64::try_from(s.time_saved.as_nanos()).unwrap_or(u64::MAX);
        let mut fields: Vec<(&str, u64)> = vec![
            ("hits", s.hits),
            ("misses", s.misses),
            ("rejected_damaged", s.rejected_damaged),
            ("rejected_stale", s.rejected_stale),
            ("stores", s.stores),
            ("store_errors", s.store_errors),
            ("bytes_read", s.bytes_read),
            ("bytes_written", s.bytes_written),
            ("time_saved_ns", time_saved_ns),
            ("processes", 1),
        ];
        fields.extend_from_slice(extra);
        let mut pipe = redis::pipe();
        for (name, n) in fields {
            if n != 0 {
                pipe.cmd("HINCRBY").arg(STATS_KEY).arg(name).arg(n).ignore();
            }
        }
        self.admin(|con| pipe.query::<()>(con))
    }

    /// The server's lifetime counters, by name.
    pub fn lifetime_stats(&self) -> Result<Vec<(String, u64)>, RedisStoreError> {
        let mut fields: Vec<(String, u64)> =
            self.admin(|con| redis::cmd("HGETALL").arg(STATS_KEY).query(con))?;
        fields.sort();
        Ok(fields)
    }

    /// Resets the lifetime counters (entries are kept).
    pub fn zero_stats(&self) -> Result<(), RedisStoreError> {
        self.admin(|con| redis::cmd("DEL").arg(STATS_KEY).query::<()>(con))
    }
}

impl CacheKvStore for RedisStore {
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        let mut out = Vec::with_capacity(1);
        self.fetch(std::slice::from_ref(key), &mut out);
        out.pop().flatten().map(Cow::Owned)
    }

    fn batched_reads(&self) -> bool {
        true
    }

    fn get_many(&self, keys: &[CacheKey]) -> Option<Vec<Option<Vec<u8>>>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH) {
            self.fetch(chunk, &mut out);
        }
        Some(out)
    }

    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
        self.insert_many(&[(*key, value)]) == 1
    }

    /// One pipeline of `SET`s per [`MAX_BATCH`] entries.
    fn insert_many(&self, entries: &[(CacheKey, &[u8])]) -> usize {
        let mut stored = 0;
        for chunk in entries.chunks(MAX_BATCH) {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            let mut sent = Vec::with_capacity(chunk.len());
            for (key, value) in chunk {
                if value.len() > MAX_VALUE_LEN {
                    self.stats.record_store_error();
                    continue;
                }
                pipe.cmd("SET").arg(self.redis_key(key)).arg(*value);
                sent.push(value.len());
            }
            if sent.is_empty() {
                continue;
            }
            let replies = self
                .with_conn(|con| pipe.query::<Vec<Value>>(con))
                .filter(|replies| replies.len() == sent.len() && !self.refused(replies));
            let Some(replies) = replies else {
                // Not sent, or refused as a whole.
                for _ in &sent {
                    self.stats.record_store_error();
                }
                continue;
            };
            for (reply, len) in replies.iter().zip(&sent) {
                if matches!(reply, Value::Okay) {
                    self.stats.record_store(*len as u64);
                    stored += 1;
                } else {
                    // Refused by the server: out of memory under
                    // `noeviction`, a read-only replica.
                    self.stats.record_store_error();
                }
            }
        }
        stored
    }

    fn remove(&self, key: &CacheKey) -> bool {
        let key = self.redis_key(key);
        self.with_conn(|con| redis::cmd("DEL").arg(&key).query::<u64>(con))
            .is_some_and(|n| n > 0)
    }

    fn cache_stats(&self) -> Option<&CacheStats> {
        Some(&self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_checked() {
        assert_eq!(
            redacted_url("redis://user:hunter2@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(
            redacted_url("redis://:hunter2@host/1"),
            "redis://:***@host/1"
        );
        assert_eq!(redacted_url("redis://host:1/0"), "redis://host:1/0");
        let err = RedisStore::open(RedisConfig::new("http://x", "v")).unwrap_err();
        assert!(matches!(err, RedisStoreError::BadUrl { .. }), "{err}");
        let err = RedisStore::open(RedisConfig::new("rediss://x", "v")).unwrap_err();
        assert!(matches!(err, RedisStoreError::BadUrl { .. }), "{err}");
        let store = RedisStore::open(RedisConfig::new("redis://127.0.0.1:1/0", "v")).unwrap();
        assert!(store.key_prefix().starts_with("kiln:e"));
        let other = RedisStore::open(RedisConfig::new("redis://127.0.0.1:1/0", "w")).unwrap();
        assert_ne!(store.key_prefix(), other.key_prefix());
        let k = store.redis_key(&CacheKey([0xab; 32]));
        assert_eq!(k.len(), store.key_prefix().len() + 64);
        assert!(k.ends_with(b"abab"));
    }

    #[test]
    fn timeouts_from_the_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = RedisConfig::from_vars("redis://h/0", "v", vars(&[])).unwrap();
        assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(c.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        let c = RedisConfig::from_vars(
            "redis://h/0",
            "v",
            vars(&[(CONNECT_TIMEOUT_ENV, "40"), (REQUEST_TIMEOUT_ENV, " 75 ")]),
        )
        .unwrap();
        assert_eq!(c.connect_timeout, Duration::from_millis(40));
        assert_eq!(c.request_timeout, Duration::from_millis(75));
        for bad in ["0", "-3", "1.5", "soon"] {
            let pairs: &'static [(&str, &str)] = match bad {
                "0" => &[(REQUEST_TIMEOUT_ENV, "0")],
                "-3" => &[(REQUEST_TIMEOUT_ENV, "-3")],
                "1.5" => &[(CONNECT_TIMEOUT_ENV, "1.5")],
                _ => &[(CONNECT_TIMEOUT_ENV, "soon")],
            };
            let err = RedisConfig::from_vars("redis://h/0", "v", vars(pairs)).unwrap_err();
            assert!(err.to_string().contains("_MS="), "{err}");
        }
    }
}
