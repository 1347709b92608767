//! Random functions from `kiln-fuzzgen` (integer types and the opcodes the
//! x86-64 backend lowers, loops, switches, stack-slot memory, no traps, no
//! calls): each must compile with the regalloc2 checker on, and the native
//! code must agree with `kiln-interpreter` on random arguments.

use kiln_codegen::isa::{self, TargetIsa};
use kiln_codegen::result::CodegenError;
use kiln_codegen::settings::{Arch, Flags, IsaFlags, OptLevel};
use kiln_fuzzgen::{generate, Config};
use kiln_interpreter::Interpreter;
use kiln_ir::{DataValue, Type};
use kiln_module::memory::ExecutableMemory;

#[repr(C)]
#[derive(Clone, Copy)]
struct Pair(u64, u64);

type Fn6 = extern "sysv64" fn(u64, u64, u64, u64, u64, u64) -> Pair;

fn value_of(ty: Type, bits: u64) -> DataValue {
    match ty.bits() {
        8 => DataValue::I8(bits as i8),
        16 => DataValue::I16(bits as i16),
        32 => DataValue::I32(bits as i32),
        _ => DataValue::I64(bits as i64),
    }
}

fn bits_of(v: &DataValue) -> Option<u64> {
    Some(match *v {
        DataValue::I8(x) => x as u8 as u64,
        DataValue::I16(x) => x as u16 as u64,
        DataValue::I32(x) => x as u32 as u64,
        DataValue::I64(x) => x as u64,
        _ => return None,
    })
}

#[test]
fn fuzzgen_functions_match_interpreter() {
    let config = Config::integer_only();
    differential(config, 0x2545_f491_4f6c_dd1d, 1500, true, OptLevel::None);
}

/// The same at `opt_level=speed`: the mid-end's output, natively, against
/// the interpreter on the original function.
#[test]
fn fuzzgen_functions_at_speed_match_interpreter() {
    let config = Config::integer_only();
    differential(config, 0x7f4a_7c15_2545_f491, 1500, true, OptLevel::Speed);
}

/// With i128 variables too (functions using i128 operations the backend
/// does not lower are skipped as unsupported).
#[test]
fn fuzzgen_i128_functions_match_interpreter() {
    let config = Config::integer_only().with_i128();
    differential(config, 0x0dd1_5eed_1234_5678, 1500, false, OptLevel::None);
}

/// i128 functions at `opt_level=speed`.
#[test]
fn fuzzgen_i128_functions_at_speed_match_interpreter() {
    let config = Config::integer_only().with_i128();
    differential(config, 0x5eed_0dd1_8765_4321, 1500, false, OptLevel::Speed);
}

fn differential(
    mut config: Config,
    seed: u64,
    default_rounds: usize,
    all_compile: bool,
    opt_level: OptLevel,
) {
    config.max_callees = 0;
    config.max_returns = 2;
    let flags = Flags {
        regalloc_checker: true,
        opt_level,
        // Generated and hand-written functions return more values than
        // the return registers hold: through a return area.
        enable_multi_ret_implicit_sret: true,
        ..Flags::default()
    };
    let isa: Box<dyn TargetIsa> =
        isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("isa");
    let mut seed = seed;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut generated, mut compiled, mut calls, mut fails) = (0, 0, 0, Vec::new());
    // `KILN_FUZZ_ROUNDS=N` runs more (or fewer) functions.
    let rounds: usize = std::env::var("KILN_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_rounds);
    for round in 0..rounds {
        let len = 64 + (rand() % 1500) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
        let Ok(func) = generate(&bytes, &config) else {
            continue;
        };
        generated += 1;
        let code = match isa.compile_stencil(&func.stencil) {
            Ok(c) => c,
            Err(CodegenError::Unsupported { what }) => {
                if all_compile {
                    fails.push(format!("round {round}: unsupported {what}"));
                }
                continue;
            }
            Err(e) => {
                fails.push(format!("round {round}: compile error {e}\n{func}"));
                continue;
            }
        };
        compiled += 1;
        let sig = &func.stencil.signature;
        let int = |t: Type| t.is_int() && t.bits() <= 64;
        if !code.relocs.is_empty()
            || sig.params.len() > 6
            || sig.returns.len() > 2
            || !sig
                .params
                .iter()
                .chain(&sig.returns)
                .all(|p| int(p.value_type))
        {
            continue;
        }
        let mut mem = ExecutableMemory::new(code.code.len()).expect("mmap");
        mem.bytes_mut().expect("writable")[..code.code.len()].copy_from_slice(&code.code);
        mem.seal().expect("seal");
        // SAFETY: a complete function for this host with at most six
        // integer arguments and two integer results; fuzzgen functions do
        // not trap, terminate, and only access their own stack slot.
        let native = unsafe { std::mem::transmute::<*const u8, Fn6>(mem.base()) };
        let mut interp = Interpreter::new(std::iter::once(&func));
        let name = func.name.to_string();
        for _ in 0..20 {
            let dargs: Vec<DataValue> = sig
                .params
                .iter()
                .map(|p| value_of(p.value_type, rand()))
                .collect();
            // Fuzzgen functions never trap, so any interpreter error is a
            // finding, not a reason to skip the comparison.
            let want = match interp.call_by_name(&name, &dargs) {
                Ok(w) => w,
                Err(e) => {
                    fails.push(format!("round {round} {dargs:?}: interpreter: {e}\n{func}"));
                    break;
                }
            };
            let mut regs = [0u64; 6];
            for (i, d) in dargs.iter().enumerate() {
                regs[i] = bits_of(d).unwrap_or(0);
            }
            let Pair(r0, r1) = native(regs[0], regs[1], regs[2], regs[3], regs[4], regs[5]);
            calls += 1;
            let got: Vec<u64> = sig
                .returns
                .iter()
                .zip([r0, r1])
                .map(|(r, v)| {
                    let w = r.value_type.bits();
                    if w == 64 {
                        v
                    } else {
                        v & ((1u64 << w) - 1)
                    }
                })
                .collect();
            let want: Vec<u64> = want.iter().filter_map(bits_of).collect();
            if got != want {
                fails.push(format!(
                    "round {round} {dargs:?}: native {got:x?}, interpreter {want:x?}\n{func}"
                ));
                break;
            }
        }
    }
    println!(
        "fuzzgen differential: {generated} generated, {compiled} compiled, {calls} calls, {} failures",
        fails.len()
    );
    for f in fails.iter().take(3) {
        println!("FAIL {f}");
    }
    assert!(fails.is_empty(), "{} failures", fails.len());
    // Most inputs make a function, every function compiles (or, with
    // i128, nearly every one), and the comparisons really happen: a
    // backend that rejected everything would fail here.
    assert!(
        generated * 10 >= rounds * 9,
        "{generated} of {rounds} generated"
    );
    assert!(
        compiled * 100 >= generated * 98,
        "{compiled} of {generated} compiled"
    );
    let min_calls = if all_compile {
        compiled * 15
    } else {
        compiled * 5
    };
    assert!(
        calls >= min_calls,
        "{calls} native calls for {compiled} functions"
    );
}

/// The operations the x86-64 backend does not lower yet that the wide and
/// float mix generates; an Unsupported outside this list is a regression.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "fcvt_to_sint_sat.i128",
    "fcvt_to_uint_sat.i128",
    "fcvt_from_sint.f32",
    "fcvt_from_sint.f64",
    "fcvt_from_uint.f32",
    "fcvt_from_uint.f64",
    "select.f32",
    "select.f64",
];

/// With i128 and floats in the mix: every function compiles or fails with a
/// clean `Unsupported` (never another error or a panic).
#[test]
fn fuzzgen_wide_and_float_functions_compile_cleanly() {
    let mut config = Config::default().with_i128();
    config.max_callees = 2;
    let flags = Flags {
        regalloc_checker: true,
        // Generated and hand-written functions return more values than
        // the return registers hold: through a return area.
        enable_multi_ret_implicit_sret: true,
        ..Flags::default()
    };
    let isa: Box<dyn TargetIsa> =
        isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("isa");
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ok, mut unsupported, mut errors) = (0, 0, Vec::new());
    let rounds: usize = std::env::var("KILN_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(600, |n: usize| n / 2);
    for round in 0..rounds {
        let len = 64 + (rand() % 1500) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
        let Ok(func) = generate(&bytes, &config) else {
            continue;
        };
        match isa.compile_stencil(&func.stencil) {
            Ok(_) => ok += 1,
            Err(CodegenError::Unsupported { what }) => {
                unsupported += 1;
                if !KNOWN_UNSUPPORTED.contains(&what.as_str()) {
                    errors.push(format!(
                        "round {round}: unsupported {what} (not a known gap)"
                    ));
                }
            }
            Err(e) => errors.push(format!("round {round}: {e}\n{func}")),
        }
    }
    println!(
        "fuzzgen wide/float: {ok} compiled, {unsupported} unsupported, {} errors",
        errors.len()
    );
    if let Some(e) = errors.first() {
        println!("{e}");
    }
    assert!(errors.is_empty(), "{} errors", errors.len());
    assert!(
        ok * 10 >= (ok + unsupported) * 9,
        "{ok} compiled, {unsupported} unsupported"
    );
}
