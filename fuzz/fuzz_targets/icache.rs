//! icache: a reload from the cache equals a fresh compile (code,
//! relocations, traps, call sites, srclocs); a parameters-only change
//! (external-name table, function name, base source location) hits and
//! the reloaded relocations name the NEW names; an instruction change
//! misses. The property is `kiln_cache::icache::check_with`.
//!
//! Input: the last 32 bytes choose a `kiln_fuzzgen::generate_mutation`,
//! the rest generate a random valid function (`kiln_fuzzgen::generate`).
//! Each function is checked with that mutation and with the built-in ones
//! (`icache::check`), on the x86-64 backend (functions it cannot compile
//! are skipped) and on `kiln_cache::mock::MockIsa`, which compiles almost
//! everything, so keys and mutations are exercised on every input.

#![no_main]

use kiln_cache::icache::{check, check_with};
use kiln_cache::mock::MockIsa;
use kiln_codegen::isa::{lookup, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_fuzzgen::{generate, generate_mutation, Config};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn x64() -> &'static dyn TargetIsa {
    static ISA: OnceLock<Box<dyn TargetIsa>> = OnceLock::new();
    &**ISA.get_or_init(|| {
        lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64)).expect("x86-64 backend")
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 40 {
        return;
    }
    let (body, tail) = data.split_at(data.len() - 32);
    let Ok(func) = generate(body, &Config::default()) else {
        return;
    };
    let mut changed = func.clone();
    let m = generate_mutation(&mut changed, tail);
    let mutations = [(changed, m.key_must_change())];
    let mock = MockIsa::new();
    for isa in [x64(), &mock as &dyn TargetIsa] {
        if let Err(e) = check(isa, &func) {
            panic!("{e}\n{func}");
        }
        if let Err(e) = check_with(isa, &func, &mutations) {
            panic!("mutation {m:?}: {e}\n{func}");
        }
    }
});
