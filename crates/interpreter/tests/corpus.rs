//! The interpreter against CLIF text: Kiln's own interpreter filetests
//! (`cranelift-like-ir/interpret`, expectations computed in Python), and —
//! when the shared corpus is present — a no-panic sweep over every function
//! of Cranelift's runtests and of mutants of them with scrambled operands.

use kiln_interpreter::{Config, InterpError, Interpreter};
use kiln_ir::*;
use kiln_reader::{parse_test, Comparison, RunCommand};
use std::path::{Path, PathBuf};

fn clif_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "clif"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every `; run:` line of Kiln's interpreter filetests holds.
#[test]
fn interpret_filetests_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cranelift-like-ir/interpret");
    let files = clif_files(&dir);
    assert!(
        files.len() >= 10,
        "interpreter filetests missing in {}",
        dir.display()
    );
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = parse_test(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert!(file.commands.iter().any(|c| c.kind == "interpret"));
        let mut it = Interpreter::new(file.functions.iter().map(|f| &f.func));
        for pf in &file.functions {
            assert!(pf.directive_errors.is_empty(), "{:?}", pf.directive_errors);
            for d in &pf.run_directives {
                let RunCommand::Run {
                    func,
                    args,
                    comparison: Comparison::Equal,
                    expected,
                } = &d.command
                else {
                    panic!("unexpected directive {}", d.text);
                };
                checked += 1;
                match it.call_by_name(func, args) {
                    Ok(got)
                        if got.len() == expected.len()
                            && got.iter().zip(expected).all(|(a, b)| a.bitwise_eq(b)) => {}
                    other => failures.push(format!(
                        "{}:{}: {} -> {other:?}",
                        path.display(),
                        d.line,
                        d.text
                    )),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 10_000, "only {checked} run lines");
}

/// A value of type `ty` from a seed: zero, all ones, one, or mixed bits.
fn arg(ty: Type, seed: u64) -> DataValue {
    let mixed = ((seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) as u128) << 64)
        | seed.wrapping_mul(0xD1B5_4A32_D192_ED03) as u128;
    let x = match seed % 4 {
        0 => 0,
        1 => u128::MAX,
        2 => 1,
        _ => mixed,
    };
    let b = x & if ty.bits() >= 128 {
        u128::MAX
    } else {
        (1u128 << ty.bits()) - 1
    };
    match ty {
        Type::I8 => DataValue::I8(b as i8),
        Type::I16 => DataValue::I16(b as i16),
        Type::I32 => DataValue::I32(b as i32),
        Type::I64 => DataValue::I64(b as i64),
        Type::I128 => DataValue::I128(b as i128),
        Type::F16 => DataValue::F16(Ieee16(b as u16)),
        Type::F32 => DataValue::F32(Ieee32(b as u32)),
        Type::F64 => DataValue::F64(Ieee64(b as u64)),
        Type::F128 => DataValue::F128(Ieee128(b)),
        t => match t.bits() {
            16 => DataValue::V16((b as u16).to_le_bytes()),
            32 => DataValue::V32((b as u32).to_le_bytes()),
            64 => DataValue::V64((b as u64).to_le_bytes()),
            _ => DataValue::V128(b.to_le_bytes()),
        },
    }
}

/// Replaces about a fifth of all operands with arbitrary value numbers
/// (wrong types, unused numbers, out-of-range numbers).
fn mutate(f: &Function, seed: u64) -> Function {
    let mut g = f.clone();
    let limit = g.dfg.num_values() as u64 + 3;
    let mut h = seed | 1;
    let insts: Vec<Inst> = g.dfg.insts.keys().collect();
    for inst in insts {
        let mut data = g.dfg.insts[inst];
        let mut pool = std::mem::take(&mut g.dfg.value_lists);
        for a in data.arguments_mut(&mut pool) {
            h = h
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            if h >> 61 == 0 {
                *a = Value::from_u32(((h >> 20) % limit) as u32);
            }
        }
        g.dfg.value_lists = pool;
        g.dfg.insts[inst] = data;
    }
    g
}

/// No function of the corpus, and no mutant of one, makes the interpreter
/// panic. The corpus is `../shared/clif/runtests` beside the checkout (or
/// `$KILN_CLIF_RUNTESTS`); CI always has it, so a missing one fails.
#[test]
fn corpus_and_mutants_never_panic() {
    let dir = std::env::var("KILN_CLIF_RUNTESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clif/runtests")
        });
    let files = clif_files(&dir);
    assert!(
        !files.is_empty(),
        "no corpus at {}: check out the shared corpus beside the repository or set \
         KILN_CLIF_RUNTESTS",
        dir.display()
    );
    let cfg = Config {
        fuel: 100_000,
        ..Config::default()
    };
    let (mut calls, mut errors) = (0u64, 0u64);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(file) = parse_test(&text, "corpus") else {
            continue;
        };
        let originals: Vec<&Function> = file.functions.iter().map(|f| &f.func).collect();
        let mutants: Vec<Function> = originals
            .iter()
            .enumerate()
            .flat_map(|(i, f)| (0..3u64).map(move |k| mutate(f, (i as u64 + 1) * 7919 + k)))
            .collect();
        for set in [originals, mutants.iter().collect()] {
            let mut it = Interpreter::with_config(set.iter().copied(), cfg);
            for (i, f) in set.iter().enumerate() {
                for seed in 0..4u64 {
                    let args: Vec<DataValue> = f
                        .signature
                        .params
                        .iter()
                        .enumerate()
                        .map(|(k, p)| arg(p.value_type, seed * 5 + k as u64))
                        .collect();
                    calls += 1;
                    if let Err(e) = it.call(i, &args) {
                        errors += 1;
                        // Every error displays.
                        let _ = e.to_string();
                        let _ = matches!(e, InterpError::Unsupported(_));
                    }
                }
            }
        }
    }
    assert!(calls > 10_000, "only {calls} calls");
    eprintln!("{calls} calls, {errors} errors (traps, unsupported, invalid), no panic");
}
