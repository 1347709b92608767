//! The icache property (`kiln_cache::icache`) over a few hundred random
//! valid functions from `kiln-fuzzgen`, with the built-in mutations and
//! with fuzzgen's own (`generate_mutation`): on the x86-64 backend for the
//! functions it compiles, and on the mock backend for all of them.

use kiln_cache::icache::{check, check_with};
use kiln_cache::mock::MockIsa;
use kiln_codegen::isa::{lookup, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_fuzzgen::{generate, generate_mutation, Config};

/// Deterministic input bytes for function `i`.
fn bytes(i: u64, len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn icache_property_on_generated_functions() {
    let x64: Box<dyn TargetIsa> =
        lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64)).unwrap();
    let mock = MockIsa::new();
    let config = Config::default();
    let (mut generated, mut real, mut mocked, mut params, mut stencil) = (0, 0, 0, 0, 0);
    for i in 0..300u64 {
        let data = bytes(i, 200 + (i as usize % 7) * 150);
        let Ok(func) = generate(&data, &config) else {
            continue;
        };
        generated += 1;
        let mut changed = func.clone();
        let m = generate_mutation(&mut changed, &bytes(i + 10_000, 64));
        let mutations = [(changed, m.key_must_change())];
        let run = |isa: &dyn TargetIsa| {
            let a = check(isa, &func).unwrap_or_else(|e| panic!("function {i}: {e}\n{func}"));
            let b = check_with(isa, &func, &mutations)
                .unwrap_or_else(|e| panic!("function {i}, mutation {m:?}: {e}\n{func}"));
            (a, b)
        };
        let (a, _) = run(&*x64);
        real += usize::from(a.compiled);
        let (a, b) = run(&mock);
        mocked += usize::from(a.compiled);
        params += usize::from(b.renamed_names);
        stencil += usize::from(b.mutated);
    }
    eprintln!(
        "generated {generated}; x86-64 compiled {real}; mock {mocked} \
         (fuzzgen params-only mutations {params}, stencil mutations {stencil})"
    );
    assert!(generated >= 250, "{generated}");
    // The mock refuses `udiv`; everything else compiles there.
    assert!(mocked >= 200, "{mocked}");
    assert!(params > 50 && stencil > 50, "{params} {stencil}");
}
