//! `qemu::run_batch`, the one-run-for-many-calls harness behind aarch64
//! `test run` and `kiln fuzz --target aarch64`: several functions in one
//! object, calls that return (integers, an i128 pair, floats, a stack
//! argument), a trap reported with its trap code, and a call that never
//! returns: the run is killed at the timeout, that call and every later
//! one come back `Missing`, the earlier ones keep their results. f16 and
//! f128 values go in h/q registers and (f128) 16 bytes of stack, and come
//! back whole.
//! Skipped, saying so, where the cross tools are missing.

use kiln_codegen::isa::{compile_function, lookup};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_filetests::qemu::{self, BatchCall, BatchFunc, CallOutcome};
use kiln_ir::{DataValue, Ieee128, Ieee16, Ieee64, TrapCode};
use std::time::{Duration, Instant};

const FUNCS: &str = "
function %add(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    v2 = iadd v0, v1
    return v2
}

function %wide(i128, f64) -> i128, f64 {
block0(v0: i128, v1: f64):
    v4 = iconst.i64 1
    v5 = uextend.i128 v4
    v2 = iadd v0, v5
    v3 = fneg v1
    return v2, v3
}

function %trap(i32) -> i32 {
block0(v0: i32):
    trapz v0, user7
    return v0
}

function %nine(i64, i64, i64, i64, i64, i64, i64, i64, i8) -> i8 {
block0(v0: i64, v1: i64, v2: i64, v3: i64, v4: i64, v5: i64, v6: i64, v7: i64, v8: i8):
    return v8
}

function %spin(i64) -> i64 {
block0(v0: i64):
    jump block1(v0)
block1(v1: i64):
    v3 = iconst.i64 1
    v2 = iadd v1, v3
    jump block1(v2)
}
";

const WIDE_FP: &str = "
function %swap(f128, f16, f128) -> f16, f128, f128 {
block0(v0: f128, v1: f16, v2: f128):
    return v1, v2, v0
}

function %ninth(f128, f128, f128, f128, f128, f128, f128, f128, f128) -> f128 {
block0(v0: f128, v1: f128, v2: f128, v3: f128, v4: f128, v5: f128, v6: f128, v7: f128, v8: f128):
    return v8
}
";

fn batch() -> (Vec<BatchFunc>, Vec<String>) {
    batch_of(FUNCS)
}

fn batch_of(text: &str) -> (Vec<BatchFunc>, Vec<String>) {
    let isa = lookup(Flags::default(), IsaFlags::baseline(Arch::Aarch64)).unwrap();
    let funcs = kiln_reader::parse_functions(text).unwrap();
    let names: Vec<String> = funcs
        .iter()
        .map(|f| f.name.to_string().trim_start_matches('%').to_string())
        .collect();
    let batch = funcs
        .iter()
        .map(|f| {
            let mut code = compile_function(&*isa, f).unwrap();
            qemu::retarget_relocs(&mut code, &names, 0).unwrap();
            qemu::check_signature(&f.stencil.signature).unwrap();
            BatchFunc {
                signature: f.stencil.signature.clone(),
                code,
            }
        })
        .collect();
    (batch, names)
}

fn call(func: usize, args: Vec<DataValue>) -> BatchCall {
    BatchCall { func, args }
}

#[test]
fn one_run_returns_traps_and_survives_a_hang() {
    if !qemu::tools_available() {
        eprintln!("SKIP: {} and {} are not installed", qemu::GCC, qemu::QEMU);
        return;
    }
    let (funcs, names) = batch();
    let mut nine: Vec<DataValue> = (0..8).map(DataValue::I64).collect();
    nine.push(DataValue::I8(-5));
    let calls = vec![
        call(0, vec![DataValue::I64(40), DataValue::I64(2)]),
        call(
            1,
            vec![
                DataValue::I128(u64::MAX as i128),
                DataValue::F64(Ieee64::with_float(2.5)),
            ],
        ),
        call(2, vec![DataValue::I32(0)]),
        call(2, vec![DataValue::I32(3)]),
        call(3, nine),
        call(4, vec![DataValue::I64(0)]),
        call(0, vec![DataValue::I64(1), DataValue::I64(1)]),
    ];
    let start = Instant::now();
    let out = qemu::run_batch(&funcs, &calls, &names, Some(Duration::from_secs(5))).unwrap();
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_eq!(out.len(), calls.len());
    assert_eq!(out[0], CallOutcome::Returned(vec![DataValue::I64(42)]));
    assert_eq!(
        out[1],
        CallOutcome::Returned(vec![
            DataValue::I128(1i128 << 64),
            DataValue::F64(Ieee64::with_float(-2.5)),
        ])
    );
    match &out[2] {
        CallOutcome::Trapped { code, message } => {
            assert_eq!(*code, Some(TrapCode::user(7).unwrap()));
            assert!(message.contains("%trap+0x"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(out[3], CallOutcome::Returned(vec![DataValue::I32(3)]));
    assert_eq!(out[4], CallOutcome::Returned(vec![DataValue::I8(-5)]));
    for o in &out[5..] {
        match o {
            CallOutcome::Missing(why) => assert!(why.contains("did not finish in 5 s"), "{why}"),
            other => panic!("expected no result after the hang, got {other:?}"),
        }
    }
}

#[test]
fn f16_and_f128_pass_and_return_whole() {
    if !qemu::tools_available() {
        eprintln!("SKIP: {} and {} are not installed", qemu::GCC, qemu::QEMU);
        return;
    }
    let (funcs, names) = batch_of(WIDE_FP);
    // Both halves of every f128 differ, so a lost or swapped word shows.
    let q = |n: u128| DataValue::F128(Ieee128((n << 64) | (n * 0x1111) | 0x8000_0000_0000_0000));
    let h = DataValue::F16(Ieee16(0xbc01));
    let ninth: Vec<DataValue> = (1..=9).map(q).collect();
    let calls = vec![call(0, vec![q(1), h, q(2)]), call(1, ninth)];
    let out = qemu::run_batch(&funcs, &calls, &names, Some(Duration::from_secs(20))).unwrap();
    assert_eq!(out[0], CallOutcome::Returned(vec![h, q(2), q(1)]));
    assert_eq!(out[1], CallOutcome::Returned(vec![q(9)]));
}

#[test]
fn the_harness_refuses_what_it_cannot_pass() {
    let funcs = kiln_reader::parse_functions(
        "function %v(i32x4) -> i32x4 {\nblock0(v0: i32x4):\n    return v0\n}",
    )
    .unwrap();
    let err = qemu::check_signature(&funcs[0].stencil.signature).unwrap_err();
    assert!(err.contains("i32x4"), "{err}");
}
