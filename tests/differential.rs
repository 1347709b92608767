//! Differential testing: random programs from `kiln-fuzzgen`, compiled for
//! the host and run natively through the JIT, against the interpreter (the
//! reference semantics). Results must agree bit for bit.
//!
//! The backend does not lower every opcode yet, so the opcode set adapts:
//! an opcode reported `Unsupported` is removed from the generator's config
//! and the program is counted as skipped. `KILN_DIFF_SEED` and
//! `KILN_DIFF_COUNT` override the seed and the number of programs.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln::codegen::isa::{compile_function, lookup};
use kiln::codegen::result::CodegenError;
use kiln::codegen::settings::{Arch, Flags, IsaFlags};
use kiln::ir::{DataValue, TrapCode};
use kiln::ir::{Opcode, Type};
use kiln::module::{JitCallError, JitProgramBuilder, ProgramCallError};
use kiln_fuzzgen::{generate_program, Config};
use kiln_interpreter::{Config as InterpConfig, InterpError, Interpreter};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = 4 + (self.next() as usize % max_len);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[derive(Default, Debug)]
struct Stats {
    ran: usize,
    skipped: usize,
    removed: Vec<String>,
    /// Programs that trapped (in both, with the same code, unless listed
    /// as a mismatch).
    trapped: usize,
    /// Disagreements: program number, native and interpreter results,
    /// arguments and the program text.
    mismatches: Vec<String>,
}

fn differential(mut config: Config, seed: u64, count: usize) -> Stats {
    // Generated programs may return more values than the return registers
    // hold: through a return area, as the setting allows.
    let mut flags = Flags::default();
    flags
        .set("enable_multi_ret_implicit_sret", Some("true"))
        .unwrap();
    let isa = lookup(flags, IsaFlags::baseline(Arch::X86_64)).unwrap();
    let mut rng = XorShift(seed);
    let mut stats = Stats::default();
    for i in 0..count {
        let bytes = rng.bytes(1200);
        let Ok(p) = generate_program(&bytes, &config) else {
            continue;
        };
        let mut builder = JitProgramBuilder::new(&*isa);
        let mut unsupported = None;
        for f in p.functions() {
            match compile_function(&*isa, f) {
                Ok(code) => builder
                    .define(f.name.clone(), f.stencil.signature.clone(), code)
                    .unwrap_or_else(|e| panic!("#{i}: {e}")),
                Err(CodegenError::Unsupported { what }) => {
                    unsupported = Some(what);
                    break;
                }
                Err(e) => panic!("#{i}: {}: {e}\n{f}", f.name),
            }
        }
        if let Some(what) = unsupported {
            stats.skipped += 1;
            // Stop generating an opcode the backend lacks.
            let name = what.split(['.', ' ']).next().unwrap_or("");
            match Opcode::from_name(name) {
                Some(op) if config.opcodes.contains(&op) => {
                    config.opcodes.retain(|o| *o != op);
                    stats.removed.push(name.to_string());
                }
                Some(_) => {}
                // A type the backend cannot pass: stop generating floats
                // if that is the one.
                None if what.contains("type f") => {
                    config.types.retain(|t| !t.is_float());
                    stats.removed.push(what.clone());
                }
                None => {}
            }
            continue;
        }
        let prog = builder
            .finish()
            .unwrap_or_else(|e| panic!("#{i}: link: {e}"));
        // Results, or the trap code (None: a fault without a declared code).
        let native: Result<Vec<DataValue>, Option<TrapCode>> =
            match prog.call(&p.main.name, &p.args) {
                Ok(r) => Ok(r),
                Err(ProgramCallError::Call(JitCallError::Trap(t))) => Err(t.code),
                Err(ProgramCallError::Unsupported(_)) => {
                    stats.skipped += 1;
                    continue;
                }
                Err(e) => panic!(
                    "#{i}: native call failed: {e}\nargs {:?}\n{}",
                    p.args, p.main
                ),
            };
        let mut interp = Interpreter::with_config(
            p.functions(),
            InterpConfig {
                fuel: 10_000_000,
                ..InterpConfig::default()
            },
        );
        let want: Result<Vec<DataValue>, Option<TrapCode>> =
            match interp.call_by_name("u1:0", &p.args) {
                Ok(r) => Ok(r),
                Err(InterpError::Trap(code)) => Err(Some(code)),
                Err(_) => {
                    // Out of fuel, a limit or an interpreter gap: no verdict.
                    stats.skipped += 1;
                    continue;
                }
            };
        let same = match (&native, &want) {
            (Ok(a), Ok(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y)),
            (Err(a), Err(b)) => a == b,
            _ => false,
        };
        if want.is_err() {
            stats.trapped += 1;
        }
        stats.ran += 1;
        if !same {
            let mut text = String::new();
            for f in p.functions() {
                text.push_str(&f.to_string());
            }
            stats.mismatches.push(format!(
                "#{i} (seed {seed:#x}): native {native:?} != interpreter {want:?}\nargs {:?}\n{text}",
                p.args
            ));
        }
    }
    stats
}

/// Bitwise equality, except that any two NaNs of one type are equal: CLIF
/// leaves the payload and sign of a NaN produced by arithmetic unspecified
/// (x86 produces the negative "indefinite" NaN, the interpreter the
/// canonical positive one), as Cranelift's own differential fuzzer allows.
fn same_value(a: &DataValue, b: &DataValue) -> bool {
    match (a, b) {
        (DataValue::F32(x), DataValue::F32(y)) => {
            let nan = |v: u32| v & 0x7f80_0000 == 0x7f80_0000 && v & 0x007f_ffff != 0;
            x == y || (nan(x.0) && nan(y.0))
        }
        (DataValue::F64(x), DataValue::F64(y)) => {
            let nan = |v: u64| {
                v & 0x7ff0_0000_0000_0000 == 0x7ff0_0000_0000_0000 && v & 0x000f_ffff_ffff_ffff != 0
            };
            x == y || (nan(x.0) && nan(y.0))
        }
        _ => a.bitwise_eq(b),
    }
}

fn report(stats: &Stats) {
    eprintln!(
        "ran {} ({} trapped), skipped {}, mismatches {}; opcodes removed as unsupported: {:?}",
        stats.ran,
        stats.trapped,
        stats.skipped,
        stats.mismatches.len(),
        stats.removed
    );
    if let Some(first) = stats.mismatches.first() {
        panic!(
            "{} of {} programs disagree; the first:\n{first}",
            stats.mismatches.len(),
            stats.ran
        );
    }
}

#[test]
fn integer_programs_agree_with_the_interpreter() {
    let stats = differential(
        Config::integer_only(),
        env_or("KILN_DIFF_SEED", 0x5eed_0001),
        env_or("KILN_DIFF_COUNT", 400),
    );
    report(&stats);
    assert!(stats.ran > 0, "no program ran");
}

#[test]
fn programs_with_floats_agree_with_the_interpreter() {
    let mut config = Config::default();
    config.types.retain(|t| *t != Type::I128);
    let stats = differential(
        config,
        env_or("KILN_DIFF_SEED", 0x5eed_0002),
        env_or("KILN_DIFF_COUNT", 200),
    );
    report(&stats);
    assert!(stats.ran + stats.skipped > 0);
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
        env_or("KILN_DIFF_COUNT", 400),
    );
    report(&stats);
    assert!(stats.ran > 0, "no program ran");
}
