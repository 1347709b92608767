//! The properties of the cargo-fuzz targets in `fuzz/`, as library
//! functions: each target is one call, and `tests/fuzz_corpus.rs` replays
//! every target's corpus through `cargo test` with no libFuzzer. Each
//! function panics (with what it found) when its property fails.

use crate::check::{Checker, Verdict};
use crate::fuzz::case_from_bytes;
use kiln_cache::icache::{check, check_with};
use kiln_cache::mock::MockIsa;
use kiln_codegen::isa::{lookup, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_fuzzgen::{generate, generate_mutation, Config};
use kiln_ir::key::{stencil_key, KeyTarget};
use kiln_ir::UserFuncName;

/// `reader`: the reader never panics; whatever parses prints to text that
/// parses.
pub fn reader(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(file) = kiln_reader::parse_test(&text, "fuzz.clif") {
        for f in &file.functions {
            let printed = f.func.to_string();
            if let Err(e) = kiln_reader::parse_functions(&printed) {
                panic!("printed function does not parse: {e}\n{printed}");
            }
        }
    }
}

const KEY_TARGET: KeyTarget<'static> = KeyTarget {
    triple: "x86_64-unknown-linux-gnu",
    flags: &[],
};

/// `verifier`: the verifier and the stencil key never panic on anything
/// the reader accepts; a function that verifies keeps its key when renamed
/// and through a faithful print/parse round trip.
pub fn verifier(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(file) = kiln_reader::parse_test(&text, "fuzz.clif") else {
        return;
    };
    for pf in &file.functions {
        let f = &pf.func;
        let verified = kiln_ir::verifier::verify_function(f).is_ok();
        let key = stencil_key(&f.stencil, &KEY_TARGET);
        if !verified {
            continue;
        }
        let mut renamed = f.clone();
        renamed.name = UserFuncName::user(1, 2);
        assert_eq!(
            stencil_key(&renamed.stencil, &KEY_TARGET),
            key,
            "name changed the key"
        );
        let printed = f.to_string();
        let reparsed = kiln_reader::parse_functions(&printed).expect("printed function parses");
        for g in &reparsed {
            // Only where the text round trip is faithful (the printed text
            // is a fixed point): otherwise the stencil really changed, a
            // printer/reader matter the `reader` target is about.
            if g.to_string() != printed {
                continue;
            }
            assert_eq!(
                stencil_key(&g.stencil, &KEY_TARGET),
                key,
                "print/parse changed the key of\n{printed}"
            );
        }
    }
}

/// `icache`: a reload from the cache equals a fresh compile; a
/// parameters-only change hits and names the new names; an instruction
/// change misses (`kiln_cache::icache`), on x86-64 and the mock backend.
/// The last 32 bytes choose the mutation, the rest the function.
pub fn icache(data: &[u8], x64: &dyn TargetIsa) {
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
    for isa in [x64, &mock as &dyn TargetIsa] {
        if let Err(e) = check(isa, &func) {
            panic!("{e}\n{func}");
        }
        if let Err(e) = check_with(isa, &func, &mutations) {
            panic!("mutation {m:?}: {e}\n{func}");
        }
    }
}

/// The x86-64 ISA with default flags (for [`icache`]).
pub fn x64_isa() -> Box<dyn TargetIsa> {
    let flags = Flags {
        enable_multi_ret_implicit_sret: true,
        ..Flags::default()
    };
    lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("x86-64 backend")
}

/// `differential`: the program the bytes generate (with its argument
/// vectors) gives the same results and trap codes natively at
/// `opt_level=none` and `speed` as in the interpreter; a disagreement (or
/// a compiler error or panic) panics with the case as a runnable test file.
pub fn differential(data: &[u8], checker: &Checker) {
    let Some(case) = case_from_bytes(data, &crate::generator_config()) else {
        return;
    };
    if let Verdict::Fail(f) = checker.check(&case) {
        let text = crate::testfile::write_failure(
            &case,
            &f,
            &[],
            "Found by the `differential` fuzz target.",
        );
        panic!("{}: {}\n{text}", f.kind, f.message);
    }
}
