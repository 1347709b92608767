//! Differential check of the mid-end with the interpreter as the oracle:
//! random `kiln-fuzzgen` functions (integers and floats, loops, switches,
//! stack-slot memory, and with traps allowed) are optimized; the result
//! must pass the verifier, and on random arguments the interpreter must
//! give the same results (or the same trap) for the optimized function as
//! for the original. `KILN_FUZZ_ROUNDS=N` runs N functions per test.

use kiln_fuzzgen::{generate, Config};
use kiln_interpreter::Interpreter;
use kiln_ir::{DataValue, Function, Type};
use kiln_midend::{optimized, OptOptions};

fn value_of(ty: Type, bits: u64) -> Option<DataValue> {
    Some(match ty {
        Type::I8 => DataValue::I8(bits as i8),
        Type::I16 => DataValue::I16(bits as i16),
        Type::I32 => DataValue::I32(bits as i32),
        Type::I64 => DataValue::I64(bits as i64),
        Type::I128 => DataValue::I128(((bits as i128) << 64) | bits as i128),
        Type::F32 => DataValue::F32(kiln_ir::Ieee32(bits as u32)),
        Type::F64 => DataValue::F64(kiln_ir::Ieee64(bits)),
        _ => return None,
    })
}

fn rounds(default: usize) -> usize {
    std::env::var("KILN_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `n` generated functions; returns (functions checked, calls compared).
fn differential(mut config: Config, seed: u64, n: usize, opts: OptOptions) -> (usize, usize) {
    config.max_callees = 0;
    let mut seed = seed;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut checked, mut calls) = (0, 0);
    // How often each transformation fired, so a run shows what it covered.
    let mut fired = [0u32; 6];
    let mut fails = Vec::new();
    for round in 0..n {
        let len = 64 + (rand() % 1500) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
        let Ok(func) = generate(&bytes, &config) else {
            continue;
        };
        let (stencil, stats) = optimized(&func.stencil, &opts);
        for (n, x) in fired.iter_mut().zip([
            stats.simplified,
            stats.gvn_hits,
            stats.loads_removed,
            stats.branches_folded,
            stats.hoisted,
            stats.rotated,
        ]) {
            *n += x;
        }
        let opt = Function {
            name: func.name.clone(),
            stencil,
            params: func.params.clone(),
        };
        if let Err(e) = kiln_ir::verifier::verify_function(&opt) {
            fails.push(format!("round {round}: verifier: {e}\n{func}\n{opt}"));
            continue;
        }
        checked += 1;
        let name = func.name.to_string();
        let mut a = Interpreter::new(std::iter::once(&func));
        let mut b = Interpreter::new(std::iter::once(&opt));
        for _ in 0..8 {
            let Some(args) = func
                .stencil
                .signature
                .params
                .iter()
                .map(|p| value_of(p.value_type, rand()))
                .collect::<Option<Vec<_>>>()
            else {
                break;
            };
            let want = a.call_by_name(&name, &args);
            if matches!(
                want,
                Err(kiln_interpreter::InterpError::OutOfFuel)
                    | Err(kiln_interpreter::InterpError::Unsupported(_))
            ) {
                continue;
            }
            let got = b.call_by_name(&name, &args);
            calls += 1;
            // Debug text compares floats by their bits (NaNs included).
            if format!("{want:?}") != format!("{got:?}") {
                fails.push(format!(
                    "round {round} {args:?}: original {want:?}, optimized {got:?}\n{func}\n{opt}"
                ));
                break;
            }
        }
    }
    println!(
        "mid-end interpreter differential: {checked} functions, {calls} calls, {} failures \
         (rules {}, gvn {}, loads {}, branches {}, hoisted {}, rotated {})",
        fails.len(),
        fired[0],
        fired[1],
        fired[2],
        fired[3],
        fired[4],
        fired[5]
    );
    for f in fails.iter().take(2) {
        println!("FAIL {f}");
    }
    assert!(checked > 0);
    assert!(fails.is_empty(), "{} failures", fails.len());
    (checked, calls)
}

#[test]
fn integer_functions_keep_their_results() {
    differential(
        Config::integer_only(),
        0x9e37_79b9_7f4a_7c15,
        rounds(2000),
        OptOptions::default(),
    );
}

#[test]
fn functions_with_traps_keep_their_results_and_traps() {
    let mut config = Config::integer_only();
    config.allow_traps = true;
    differential(
        config,
        0x2545_f491_4f6c_dd1d,
        rounds(2000),
        OptOptions::default(),
    );
}

#[test]
fn float_and_i128_functions_keep_their_results() {
    let config = Config::default().with_i128();
    differential(
        config,
        0x0123_4567_89ab_cdef,
        rounds(1000),
        OptOptions::default(),
    );
}

#[test]
fn without_alias_analysis_too() {
    let opts = OptOptions {
        alias_analysis: false,
        ..OptOptions::default()
    };
    differential(
        Config::integer_only(),
        0x5555_1234_9999_0001,
        rounds(1000),
        opts,
    );
}
