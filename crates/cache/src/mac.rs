//! Entry authentication for shared stores: HMAC-SHA256 under a secret the
//! user configures, and [`MacStore`], which wraps any store with it.
//!
//! The envelope's checksum catches damage, not forgery: anyone who can
//! write to a store can write a well-formed entry with a correct checksum,
//! and a hit runs the code in it. A shared store (Redis, a directory on a
//! network file system) is writable by every machine that uses it, so
//! such a store can require every value to carry a tag that only holders
//! of the secret can compute. [`MacStore`] appends
//! `HMAC-SHA256(secret, context || key || envelope)` to each value it
//! writes and, on a read, checks and strips it: a value without a valid
//! tag is a miss (counted in [`MacStore::unauthenticated`]), never handed
//! to the decoder. The tag covers the lookup key and a context string, so
//! a tagged value copied under another key, or from a store with another
//! context, fails too.
//!
//! HMAC is written here over `sha2` (RFC 2104, 64-byte block): it is a
//! dozen lines, and the RFC 4231 test vectors below check it.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::{CacheKey, CacheKvStore, CacheStats};

/// Bytes of an HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;

/// Fewest bytes a secret may have: 16 (128 bits).
pub const MIN_SECRET_LEN: usize = 16;

/// Environment variable holding the secret itself.
pub const SECRET_ENV: &str = "KILN_CACHE_SECRET";

/// Environment variable naming a file that holds the secret.
pub const SECRET_FILE_ENV: &str = "KILN_CACHE_SECRET_FILE";

const BLOCK: usize = 64;

/// A key for HMAC-SHA256, prepared once (the inner and outer padded keys
/// are hashed ahead, so a tag costs two hash finalizations of the message).
#[derive(Clone)]
pub struct HmacKey {
    inner: Sha256,
    outer: Sha256,
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str("HmacKey(..)")
    }
}

impl HmacKey {
    /// Prepares `key` (of any length; keys longer than a block are hashed
    /// first, as RFC 2104 says).
    pub fn new(key: &[u8]) -> Self {
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| {
            let mut padded = block;
            for b in &mut padded {
                *b ^= byte;
            }
            let mut h = Sha256::new();
            h.update(padded);
            h
        };
        HmacKey {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// The tag of the concatenation of `parts`.
    pub fn tag(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut inner = self.inner.clone();
        for part in parts {
            inner.update(part);
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }

    /// Whether `tag` is the tag of `parts`, compared in time independent
    /// of where they differ.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let want = self.tag(parts);
        tag.len() == TAG_LEN && want.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Why a secret could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// The secret (or the file's contents) is shorter than
    /// [`MIN_SECRET_LEN`] bytes.
    TooShort {
        /// Where it came from (a variable or a file).
        source: String,
    },
    /// The secret file could not be read.
    Unreadable {
        /// The file.
        path: String,
        /// The error.
        error: String,
    },
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::TooShort { source } => write!(
                f,
                "{source}: a cache secret needs at least {MIN_SECRET_LEN} bytes"
            ),
            SecretError::Unreadable { path, error } => {
                write!(f, "{SECRET_FILE_ENV}={path}: {error}")
            }
        }
    }
}

impl std::error::Error for SecretError {}

/// The secret from the environment: `$KILN_CACHE_SECRET`, else the
/// contents of the file `$KILN_CACHE_SECRET_FILE` (one trailing newline
/// removed). `Ok(None)` when neither is set (or both are empty).
pub fn secret_from_env() -> Result<Option<HmacKey>, SecretError> {
    secret_from(|name| std::env::var_os(name))
}

/// [`secret_from_env`] over an injectable environment.
pub fn secret_from(
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Option<HmacKey>, SecretError> {
    let nonempty = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(value) = nonempty(SECRET_ENV) {
        let bytes = value.as_encoded_bytes();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort {
                source: SECRET_ENV.to_string(),
            });
        }
        return Ok(Some(HmacKey::new(bytes)));
    }
    let Some(path) = nonempty(SECRET_FILE_ENV) else {
        return Ok(None);
    };
    let path = Path::new(&path);
    let mut bytes = std::fs::read(path).map_err(|e| SecretError::Unreadable {
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.len() < MIN_SECRET_LEN {
        return Err(SecretError::TooShort {
            source: format!("{SECRET_FILE_ENV}={}", path.display()),
        });
    }
    Ok(Some(HmacKey::new(&bytes)))
}

/// A store whose values carry an HMAC tag (see the module docs).
pub struct MacStore<S> {
    inner: S,
    key: HmacKey,
    context: Vec<u8>,
    unauthenticated: AtomicU64,
}

impl<S: fmt::Debug> fmt::Debug for MacStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MacStore")
            .field("inner", &self.inner)
            .field("unauthenticated", &self.unauthenticated)
            .finish_non_exhaustive()
    }
}

impl<S: CacheKvStore> MacStore<S> {
    /// `inner` with tags under `key`. `context` (at most 255 bytes are
    /// used) is mixed into every tag (e.g. `b"kiln-cache"`); stores with
    /// different contexts do not accept each other's values.
    pub fn new(inner: S, key: HmacKey, context: &[u8]) -> Self {
        MacStore {
            inner,
            key,
            context: {
                // Length-prefixed, so context and key cannot blur; at most
                // 255 bytes, so the length fits its byte.
                let used = &context[..context.len().min(255)];
                let mut prefixed = vec![used.len() as u8];
                prefixed.extend_from_slice(used);
                prefixed
            },
            unauthenticated: AtomicU64::new(0),
        }
    }

    /// The store underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Values read whose tag was missing or wrong (each also a miss).
    pub fn unauthenticated(&self) -> u64 {
        self.unauthenticated.load(Ordering::Relaxed)
    }

    fn parts<'a>(&'a self, key: &'a CacheKey, body: &'a [u8]) -> [&'a [u8]; 3] {
        [&self.context, &key.0, body]
    }

    /// The envelope inside a tagged value, if the tag is valid.
    fn open<'v>(&self, key: &CacheKey, value: &'v [u8]) -> Option<&'v [u8]> {
        let split = value.len().checked_sub(TAG_LEN);
        let opened = split.and_then(|at| {
            let (body, tag) = value.split_at(at);
            self.key.verify(&self.parts(key, body), tag).then_some(body)
        });
        if opened.is_none() {
            self.unauthenticated.fetch_add(1, Ordering::Relaxed);
        }
        opened
    }

    fn seal(&self, key: &CacheKey, value: &[u8]) -> Vec<u8> {
        let tag = self.key.tag(&self.parts(key, value));
        let mut out = Vec::with_capacity(value.len() + TAG_LEN);
        out.extend_from_slice(value);
        out.extend_from_slice(&tag);
        out
    }
}

impl<S: CacheKvStore> CacheKvStore for MacStore<S> {
    fn get(&self, key: &CacheKey) -> Option<Cow<'_, [u8]>> {
        let value = self.inner.get(key)?;
        let len = self.open(key, &value)?.len();
        Some(match value {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..len]),
            Cow::Owned(mut v) => {
                v.truncate(len);
                Cow::Owned(v)
            }
        })
    }

    fn get_with(&self, key: &CacheKey, f: &mut dyn FnMut(&[u8])) -> bool {
        let mut found = false;
        self.inner.get_with(key, &mut |value| {
            if let Some(body) = self.open(key, value) {
                found = true;
                f(body);
            }
        });
        found
    }

    fn batched_reads(&self) -> bool {
        self.inner.batched_reads()
    }

    fn get_many(&self, keys: &[CacheKey]) -> Option<Vec<Option<Vec<u8>>>> {
        let mut values = self.inner.get_many(keys)?;
        for (key, value) in keys.iter().zip(&mut values) {
            if let Some(v) = value {
                match self.open(key, v).map(<[u8]>::len) {
                    Some(len) => v.truncate(len),
                    None => *value = None,
                }
            }
        }
        Some(values)
    }

    fn insert(&self, key: &CacheKey, value: &[u8]) -> bool {
        self.inner.insert(key, &self.seal(key, value))
    }

    fn insert_many(&self, entries: &[(CacheKey, &[u8])]) -> usize {
        let sealed: Vec<(CacheKey, Vec<u8>)> =
            entries.iter().map(|(k, v)| (*k, self.seal(k, v))).collect();
        let refs: Vec<(CacheKey, &[u8])> = sealed.iter().map(|(k, v)| (*k, &v[..])).collect();
        self.inner.insert_many(&refs)
    }

    fn remove(&self, key: &CacheKey) -> bool {
        self.inner.remove(key)
    }

    fn cache_stats(&self) -> Option<&CacheStats> {
        self.inner.cache_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 4231, section 4: test cases 1-4, 6 and 7 (case 5 checks a
    /// truncated tag, which is not used here).
    #[test]
    fn rfc4231_vectors() {
        let cases: [(Vec<u8>, Vec<u8>, &str); 6] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, want) in &cases {
            let k = HmacKey::new(key);
            assert_eq!(hex(&k.tag(&[data])), *want);
            // Split messages tag the same as whole ones.
            let (a, b) = data.split_at(data.len() / 3);
            assert_eq!(hex(&k.tag(&[a, b])), *want);
            assert!(k.verify(&[data], &unhex(want)));
            let mut wrong = unhex(want);
            wrong[31] ^= 1;
            assert!(!k.verify(&[data], &wrong));
            assert!(!k.verify(&[data], &wrong[..31]));
        }
    }

    #[test]
    fn secrets_from_the_environment() {
        use std::collections::HashMap;
        use std::ffi::OsString;
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, OsString> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), OsString::from(v)))
                .collect();
            secret_from(move |name| map.get(name).cloned())
        };
        assert!(env(&[]).unwrap().is_none());
        assert!(env(&[(SECRET_ENV, "")]).unwrap().is_none());
        assert!(env(&[(SECRET_ENV, "0123456789abcdef")]).unwrap().is_some());
        assert_eq!(
            env(&[(SECRET_ENV, "short")]).unwrap_err(),
            SecretError::TooShort {
                source: SECRET_ENV.into()
            }
        );
        let dir = std::env::temp_dir().join(format!("kiln-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "0123456789abcdef\n").unwrap();
        let from_file = env(&[(SECRET_FILE_ENV, file.to_str().unwrap())])
            .unwrap()
            .unwrap();
        // The trailing newline is not part of the secret.
        let direct = HmacKey::new(b"0123456789abcdef");
        assert_eq!(from_file.tag(&[b"m"]), direct.tag(&[b"m"]));
        std::fs::write(&file, "tiny\n").unwrap();
        assert!(matches!(
            env(&[(SECRET_FILE_ENV, file.to_str().unwrap())]),
            Err(SecretError::TooShort { .. })
        ));
        let missing = dir.join("missing");
        let err = env(&[(SECRET_FILE_ENV, missing.to_str().unwrap())]).unwrap_err();
        assert!(err.to_string().contains(SECRET_FILE_ENV), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tagged_values_round_trip_and_forgeries_are_misses() {
        let key = HmacKey::new(b"the shared secret of a build farm");
        let store = MacStore::new(MemoryStore::new(), key.clone(), b"test");
        let k = CacheKey([5; 32]);
        let other = CacheKey([6; 32]);
        assert!(store.insert(&k, b"envelope"));
        assert_eq!(store.get(&k).as_deref(), Some(&b"envelope"[..]));
        let mut lent = Vec::new();
        assert!(store.get_with(&k, &mut |b| lent = b.to_vec()));
        assert_eq!(lent, b"envelope");
        // The raw value is the body and its tag.
        let raw = store.inner().get(&k).unwrap().into_owned();
        assert_eq!(raw.len(), 8 + TAG_LEN);
        // An untagged value, a flipped body byte, a value moved to another
        // key, a short value, and a value tagged under another context or
        // another secret: all misses, all counted.
        let flipped = {
            let mut v = raw.clone();
            v[0] ^= 1;
            v
        };
        let other_ctx = MacStore::new(MemoryStore::new(), key, b"other");
        assert!(other_ctx.insert(&k, b"envelope"));
        let other_secret = MacStore::new(
            MemoryStore::new(),
            HmacKey::new(b"another secret entirely"),
            b"test",
        );
        assert!(other_secret.insert(&k, b"envelope"));
        let forgeries: Vec<(CacheKey, Vec<u8>)> = vec![
            (k, b"envelope".to_vec()),
            (k, flipped),
            (other, raw.clone()),
            (k, raw[..TAG_LEN - 1].to_vec()),
            (k, other_ctx.inner().get(&k).unwrap().into_owned()),
            (k, other_secret.inner().get(&k).unwrap().into_owned()),
        ];
        for (i, (at, value)) in forgeries.iter().enumerate() {
            assert!(store.inner().insert(at, value));
            assert!(store.get(at).is_none(), "forgery {i} read back");
            assert!(!store.get_with(at, &mut |_| panic!("forgery {i} lent")));
        }
        assert_eq!(store.unauthenticated(), 2 * forgeries.len() as u64);
    }
}
