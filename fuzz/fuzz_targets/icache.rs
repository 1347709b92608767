//! icache: a reload from the cache equals a fresh compile; a change of the
//! external-name table, the function name or the base source location
//! hits (and the reloaded relocations name the NEW names); an instruction
//! change misses. The property is `kiln_cache::icache::check`.
//!
//! Input: CLIF text (lossy UTF-8), every function of which is checked on
//! the x86-64 backend (functions it does not compile are skipped) and on
//! the mock backend of `kiln_cache::mock` (which compiles almost anything,
//! so keys, parameter changes and instruction mutations are exercised on
//! every parsed function). Once `kiln-fuzzgen` is on main, the input will
//! instead drive its random valid functions.

#![no_main]

use kiln_cache::icache::check;
use kiln_cache::mock::MockIsa;
use kiln_codegen::isa::lookup;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn x64() -> &'static dyn kiln_codegen::isa::TargetIsa {
    static ISA: OnceLock<Box<dyn kiln_codegen::isa::TargetIsa>> = OnceLock::new();
    &**ISA.get_or_init(|| {
        lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64)).expect("x86-64 backend")
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 * 1024 {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let Ok(file) = kiln_reader::parse_test(&text, "fuzz.clif") else {
        return;
    };
    let mock = MockIsa::new();
    for f in &file.functions {
        if let Err(e) = check(x64(), &f.func) {
            panic!("x86-64: {e}\n{}", f.func);
        }
        if let Err(e) = check(&mock, &f.func) {
            panic!("mock: {e}\n{}", f.func);
        }
    }
});
