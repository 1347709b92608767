//! Differential testing: random programs from `kiln-fuzzgen`, compiled for
//! the host at `opt_level=none` and `speed` and run natively through the
//! JIT, against the interpreter (the reference semantics), through
//! `kiln-difftest`.
//!
//! Each program is called with six argument vectors (the generator's, then
//! edge values: 0, ±1, MIN, MAX, shift widths ±1, ±0.0, NaNs with sign and
//! payload, subnormals, ...); programs whose entry takes narrow integers
//! are called half the time through a wrapper that passes them with
//! garbage upper bits. Results are compared bit for bit: the generator
//! replaces NaNs CLIF leaves open by the canonical NaN in the IR, so
//! `fneg`/`fabs`/`fcopysign`/`bitcast`/loads/stores/`select` of NaNs must
//! match exactly. Trap codes must match.
//!
//! Nothing is filtered at run time: an `Unsupported` from the backend is a
//! failure here (the generator leaves out exactly
//! `kiln_difftest::KNOWN_UNSUPPORTED`, and a test checks that list is
//! still needed). `KILN_DIFF_SEED` and `KILN_DIFF_COUNT` override the seed
//! and the number of programs.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln::codegen::settings::{Arch, Flags, OptLevel};
use kiln::ir::Type;
use kiln_difftest::case::from_program;
use kiln_difftest::fuzz::{run, Options, Stats, VECTORS};
use kiln_difftest::{Checker, Coverage, Rng, Verdict};
use kiln_fuzzgen::{generate_program, Config};
use std::time::Duration;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn checker() -> Checker {
    Checker::new(
        Arch::X86_64,
        &Flags {
            regalloc_checker: true,
            // Generated programs may return more values than the return
            // registers hold: through a return area, as the setting allows.
            enable_multi_ret_implicit_sret: true,
            ..Flags::default()
        },
        &[OptLevel::None, OptLevel::Speed],
    )
    .expect("x86-64 host")
}

/// Checks `count` programs of `config`; every one must agree (or have no
/// interpreter verdict), none may be unsupported.
fn differential(mut config: Config, seed: u64, count: usize) -> Stats {
    let known = kiln_difftest::KNOWN_UNSUPPORTED.to_vec();
    config.excluded.extend(known);
    let checker = checker();
    let mut rng = Rng::new(seed);
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    let mut unsupported = Vec::new();
    for i in 0..count {
        let len = 64 + rng.below(1500);
        let Ok(p) = generate_program(&rng.bytes(len), &config) else {
            continue;
        };
        let case = from_program(&p, &mut rng, VECTORS);
        stats.programs += 1;
        for f in &case.functions {
            stats.coverage.add_function(f);
        }
        match checker.check(&case) {
            Verdict::Agree {
                vectors,
                native_calls,
                traps,
            } => {
                stats.agree += 1;
                stats.vectors += vectors as u64;
                stats.native_calls += native_calls as u64;
                stats.traps += traps as u64;
            }
            Verdict::NoVerdict(_) => stats.no_verdict += 1,
            Verdict::Unsupported(w) => unsupported.push(format!("#{i}: {w}")),
            Verdict::Fail(f) => {
                let text = kiln_difftest::testfile::write_failure(
                    &case,
                    &f,
                    &[],
                    &format!("#{i} of seed {seed:#x}"),
                );
                failures.push(text);
            }
        }
    }
    eprintln!(
        "{} programs: {} agree, {} argument vectors, {} native calls, {} trapped, {} no verdict; {} opcodes",
        stats.programs,
        stats.agree,
        stats.vectors,
        stats.native_calls,
        stats.traps,
        stats.no_verdict,
        stats.coverage.opcodes.len()
    );
    assert!(
        unsupported.is_empty(),
        "{} programs hit an Unsupported outside KNOWN_UNSUPPORTED, the first: {}",
        unsupported.len(),
        unsupported[0]
    );
    if let Some(first) = failures.first() {
        panic!(
            "{} of {} programs disagree; the first, as a test file:\n{first}",
            failures.len(),
            stats.programs
        );
    }
    assert!(
        stats.agree * 10 >= stats.programs * 9,
        "only {} of {} programs got a verdict",
        stats.agree,
        stats.programs
    );
    stats
}

#[test]
fn integer_programs_agree_with_the_interpreter() {
    let stats = differential(
        Config::integer_only(),
        env_or("KILN_DIFF_SEED", 0x5eed_0001),
        env_or("KILN_DIFF_COUNT", 300),
    );
    assert!(stats
        .coverage
        .opcodes
        .contains_key(&kiln::ir::Opcode::Bitrev));
}

#[test]
fn programs_with_floats_agree_with_the_interpreter() {
    let config = Config {
        canonicalize_nans: true,
        ..Config::default()
    };
    let stats = differential(
        config,
        env_or("KILN_DIFF_SEED", 0x5eed_0002),
        env_or("KILN_DIFF_COUNT", 300),
    );
    for t in [Type::F32, Type::F64] {
        assert!(stats.coverage.types.get(&t).copied().unwrap_or(0) > 100);
    }
}

#[test]
fn trapping_programs_trap_with_the_same_code() {
    let config = Config {
        allow_traps: true,
        ..Config::integer_only()
    };
    let stats = differential(
        config,
        env_or("KILN_DIFF_SEED", 0x5eed_0003),
        env_or("KILN_DIFF_COUNT", 300),
    );
    assert!(stats.traps > 20, "{} traps", stats.traps);
}

/// Everything the generator makes: i128, floats, pointer memory of every
/// width, atomics, direct/indirect/nested/tail calls, traps. Every opcode
/// Kiln supports must appear.
#[test]
fn everything_agrees_and_covers_every_supported_opcode() {
    let stats = differential(
        Config::everything(),
        env_or("KILN_DIFF_SEED", 0x5eed_0004),
        env_or("KILN_DIFF_COUNT", 1500),
    );
    let missing = stats.coverage.missing(&kiln_difftest::expected_opcodes());
    assert!(missing.is_empty(), "never generated: {missing:?}");
    for t in [
        Type::I8,
        Type::I16,
        Type::I32,
        Type::I64,
        Type::I128,
        Type::F32,
        Type::F64,
    ] {
        assert!(
            stats.coverage.types.get(&t).copied().unwrap_or(0) > 100,
            "{t} rare"
        );
    }
}

/// The seeded loop behind `kiln fuzz` finds nothing either, and its
/// coverage report names every supported opcode.
#[test]
fn the_fuzz_loop_runs_clean() {
    let stats = run(
        &checker(),
        &Options {
            seed: 3,
            time_limit: Duration::from_secs(600),
            max_programs: Some(300),
            settings: Vec::new(),
            out_dir: None,
            max_failures: 0,
            stop_after: None,
            hang_seconds: None,
        },
        &mut |_| {},
    );
    assert_eq!(stats.programs, 300);
    assert!(stats.failures.is_empty(), "{}", stats.failures[0].text);
    assert!(stats.unsupported.is_empty(), "{:?}", stats.unsupported);
    let report = stats.coverage.report();
    for op in kiln_difftest::expected_opcodes() {
        assert!(
            report.contains(&format!(" {}=", op.name())),
            "{} missing from the report",
            op.name()
        );
    }
    let _ = Coverage::default();
}

/// `KNOWN_UNSUPPORTED` is exact: each entry, let back into the generator,
/// makes the backend report `Unsupported` for that opcode (so a backend
/// that learns it fails this test until the entry goes).
#[test]
fn known_unsupported_list_is_still_needed() {
    let checker = checker();
    for &(op, ty) in kiln_difftest::KNOWN_UNSUPPORTED {
        let mut config = Config::everything();
        config.excluded = kiln_difftest::KNOWN_UNSUPPORTED
            .iter()
            .copied()
            .filter(|e| *e != (op, ty))
            .collect();
        // Only this opcode in arithmetic, so it appears often.
        config.opcodes = vec![op];
        let mut rng = Rng::new(op as u64 * 131 + ty.bits() as u64);
        let mut hit = false;
        for _ in 0..2000 {
            let len = 64 + rng.below(1500);
            let Ok(p) = generate_program(&rng.bytes(len), &config) else {
                continue;
            };
            let case = from_program(&p, &mut rng, 1);
            if let Verdict::Unsupported(w) = checker.check(&case) {
                if w.starts_with(op.name()) {
                    hit = true;
                    break;
                }
            }
        }
        assert!(
            hit,
            "KNOWN_UNSUPPORTED lists ({}, {ty}) but the backend never reported it unsupported",
            op.name()
        );
    }
}
