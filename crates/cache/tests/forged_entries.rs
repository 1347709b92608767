//! Forged entries: someone with write access to a store replaces entries
//! with well-formed ones (valid envelope, recomputed checksum, right key
//! echo) around a mutated payload. Under every store (memory, directory,
//! Redis), with the mock backend and the x86-64 backend:
//!
//! - with a MAC ([`MacStore`]), every forged entry is a miss, counted, and
//!   the code is the uncached code;
//! - without one, no forged entry makes compilation fail, and those that
//!   do not fit the function (a relocation naming a name the function
//!   lacks, a trap or relocation past the code, a huge alignment, another
//!   target's relocation) are misses compiled afresh.

mod redis_util;

use std::sync::Arc;
use std::time::Duration;

use kiln_cache::compile::{decode_payload, encode_payload};
use kiln_cache::entry::{decode_entry, encode_entry_timed};
use kiln_cache::mac::TAG_LEN;
use kiln_cache::mock::MockIsa;
use kiln_cache::{
    cache_key, compile_with_cache, CacheKey, CacheKvStore, CacheOutcome, DirectoryStore,
    EntryError, HmacKey, MacStore, MemoryStore, RedisStore, COMPILER_VERSION,
};
use kiln_codegen::isa::{compile_function, lookup, TargetIsa};
use kiln_codegen::machinst::buffer::Reloc;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_ir::Function;
use redis_util::{generous, module, RedisServer};

/// Functions with a call (names, relocations, call sites) and leaf
/// functions (no names at all).
fn functions(salt: u64) -> (Vec<Function>, Vec<Function>) {
    let leaves = (0..12)
        .map(|i| {
            let text = format!(
                "function u0:{i}(i64) -> i64 {{\nblock0(v0: i64):\n    v1 = iconst.i64 {c}\n    v2 = imul v0, v1\n    return v2\n}}\n",
                c = i as u64 * 7919 + salt
            );
            kiln_reader::parse_function(&text).unwrap()
        })
        .collect();
    (module(24, salt), leaves)
}

/// The forgeries, by index: what each does to a payload.
const FORGERIES: usize = 6;

/// A forged payload for `victim` (a function with a call) from `own` (its
/// real payload), `caller` (the payload of a function with a call), kind
/// `n`; `None` if this kind does not apply.
fn forge(n: usize, own: &[u8], seed: usize, arch_relocs: bool) -> Option<Vec<u8>> {
    let (verified, mut code) = decode_payload(own).expect("a real payload decodes");
    let len = code.code.len() as u32;
    match n {
        // A flipped byte somewhere in the payload.
        0 => {
            let mut p = own.to_vec();
            let at = 1 + seed * 37 % (p.len() - 1);
            p[at] ^= 0x41;
            return Some(p);
        }
        // A trap past the last code byte.
        1 => code.traps.push(kiln_codegen::machinst::buffer::MachTrap {
            offset: len,
            code: code.traps.first()?.code,
        }),
        // A relocation patching bytes past the end.
        2 => code.relocs.first_mut()?.offset = len - 2,
        // An absurd alignment.
        3 => code.alignment = 1 << 20,
        // Another target's relocation.
        4 if arch_relocs => code.relocs.first_mut()?.kind = Reloc::Aarch64Call26,
        // A call site's return address past the code.
        5 => code.call_sites.first_mut()?.ret_addr = len + 1,
        _ => return None,
    }
    Some(encode_payload(&code, verified))
}

/// What a test does to one store: `raw` is the store underneath (where the
/// forger writes), `store` what the compiler uses.
fn run(
    label: &str,
    isa: &dyn TargetIsa,
    raw: Arc<dyn CacheKvStore>,
    mac: Option<HmacKey>,
    salt: u64,
) {
    let mac_store = mac.map(|k| Arc::new(MacStore::new(raw.clone(), k, b"kiln-test")));
    let store: Arc<dyn CacheKvStore> = match &mac_store {
        Some(m) => m.clone(),
        None => raw.clone(),
    };
    let (callers, leaves) = functions(salt);
    let all: Vec<&Function> = callers.iter().chain(&leaves).collect();
    let want: Vec<_> = all
        .iter()
        .map(|f| compile_function(isa, f).unwrap())
        .collect();
    for f in &all {
        compile_with_cache(isa, f, &*store).unwrap();
    }
    let keys: Vec<CacheKey> = all.iter().map(|f| cache_key(isa, f)).collect();
    // The forger reads what is there (keeping any tag, which it cannot
    // recompute) and writes entries with correct checksums.
    let envelope = |value: Vec<u8>| -> Vec<u8> {
        match &mac_store {
            Some(_) => value[..value.len() - TAG_LEN].to_vec(),
            None => value,
        }
    };
    let payload_of = |i: usize| -> Vec<u8> {
        let value = envelope(raw.get(&keys[i]).expect("stored").into_owned());
        decode_entry(&keys[i], COMPILER_VERSION, &value)
            .unwrap()
            .to_vec()
    };
    let mut forged = vec![false; all.len()];
    let mut structural = vec![false; all.len()];
    let write = |i: usize, payload: &[u8]| {
        let mut value = encode_entry_timed(
            &keys[i],
            COMPILER_VERSION,
            payload,
            Some(Duration::from_micros(9)),
        )
        .unwrap();
        if mac_store.is_some() {
            // The old tag, or any 32 bytes: the forger has no secret.
            value.extend_from_slice(&[0x5a; TAG_LEN]);
        }
        assert!(raw.insert(&keys[i], &value));
    };
    for i in 0..callers.len() {
        let n = i % FORGERIES;
        if let Some(p) = forge(n, &payload_of(i), i, isa.arch() == Arch::X86_64) {
            write(i, &p);
            forged[i] = true;
            structural[i] = n != 0;
        }
    }
    // A caller's payload under each leaf's key: its relocation names a
    // reference the leaf's (empty) name table lacks ("relocation names
    // userextname0" used to fail the compile).
    for (j, _) in leaves.iter().enumerate() {
        let i = callers.len() + j;
        write(i, &payload_of(j));
        forged[i] = true;
        structural[i] = true;
    }
    let before = mac_store.as_ref().map_or(0, |m| m.unauthenticated());
    for (i, f) in all.iter().enumerate() {
        let result = compile_with_cache(isa, f, &*store);
        let (code, outcome) = result.unwrap_or_else(|e| {
            panic!("{label}: function {i}: a forged entry failed the compile: {e}")
        });
        if mac_store.is_some() || structural[i] {
            assert_eq!(code, want[i], "{label}: function {i}");
        }
        match (&mac_store, forged[i], structural[i]) {
            (Some(_), true, _) => assert_eq!(outcome, CacheOutcome::Miss, "{label}: {i}"),
            (None, true, true) => assert_eq!(
                outcome,
                CacheOutcome::Rejected(EntryError::BadPayload),
                "{label}: function {i} took a forged entry that does not fit"
            ),
            (_, false, _) => assert!(outcome.is_hit(), "{label}: {i}: {outcome:?}"),
            (None, true, false) => {} // a fitting forgery: the trust model
        }
    }
    if let Some(m) = &mac_store {
        let forged_count = forged.iter().filter(|&&f| f).count() as u64;
        assert_eq!(m.unauthenticated() - before, forged_count, "{label}");
        // Rewritten with valid tags: hits again.
        for f in &all {
            assert!(compile_with_cache(isa, f, &*store).unwrap().1.is_hit());
        }
    }
}

fn isas() -> Vec<(&'static str, Box<dyn TargetIsa>)> {
    let x64 = lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64)).expect("x86-64 backend");
    vec![("mock", Box::new(MockIsa::new())), ("x64", x64)]
}

fn secret() -> HmacKey {
    HmacKey::new(b"forged-entries test secret, not a real one")
}

#[test]
fn forged_entries_in_memory_stores() {
    for (name, isa) in isas() {
        for mac in [None, Some(secret())] {
            let label = format!("memory/{name}/mac={}", mac.is_some());
            run(&label, &*isa, Arc::new(MemoryStore::new()), mac, 1);
        }
    }
}

#[test]
fn forged_entries_in_directory_stores() {
    let root = std::env::temp_dir().join(format!("kiln-forged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (name, isa) in isas() {
        for mac in [None, Some(secret())] {
            let label = format!("directory/{name}/mac={}", mac.is_some());
            let dir = Arc::new(DirectoryStore::new(root.join(&label)));
            run(&label, &*isa, dir, mac, 2);
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn forged_entries_in_redis() {
    let Some(server) = RedisServer::start("forged entries in redis") else {
        return;
    };
    for (salt, (name, isa)) in isas().into_iter().enumerate() {
        for mac in [None, Some(secret())] {
            let label = format!("redis/{name}/mac={}", mac.is_some());
            let store = RedisStore::open(generous(&server.url(), &label)).unwrap();
            run(&label, &*isa, Arc::new(store), mac, 3 + salt as u64);
        }
    }
}
