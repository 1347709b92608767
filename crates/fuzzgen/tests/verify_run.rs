//! Generated programs pass the verifier and run in the interpreter without
//! trapping or running out of fuel; mutations keep or change the stencil
//! key as promised.

use kiln_fuzzgen::{generate, generate_mutation, generate_program, Config};
use kiln_interpreter::{Config as InterpConfig, Interpreter};
use kiln_ir::key::{stencil_key, KeyTarget};
use kiln_ir::verifier::verify_function;
use kiln_ir::{Function, Type};

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

/// `KILN_FUZZGEN_SEED` and `KILN_FUZZGEN_COUNT` override a test's seed and
/// number of programs (for longer local runs).
fn seed(default: u64) -> u64 {
    std::env::var("KILN_FUZZGEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn count(default: usize) -> usize {
    std::env::var("KILN_FUZZGEN_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn verified(f: &Function, what: &str) {
    if let Err(e) = verify_function(f) {
        panic!("{what}: verifier:\n{e}\n{f}");
    }
}

fn check_many(config: &Config, seed: u64, count: usize) -> u64 {
    let mut rng = XorShift(seed);
    let mut fuel = 0;
    for i in 0..count {
        let bytes = rng.bytes(1500);
        let p = generate_program(&bytes, config).unwrap_or_else(|e| panic!("#{i}: {e}"));
        for f in p.functions() {
            verified(f, &format!("#{i} {}", f.name));
        }
        let mut interp = Interpreter::with_config(
            p.functions(),
            InterpConfig {
                fuel: 10_000_000,
                ..InterpConfig::default()
            },
        );
        match interp.call_by_name("u1:0", &p.args) {
            Ok(results) => {
                assert_eq!(results.len(), p.main.stencil.signature.returns.len());
                for (r, want) in results.iter().zip(&p.main.stencil.signature.returns) {
                    assert_eq!(r.ty(), want.value_type);
                }
            }
            Err(e) => panic!("#{i}: {e} with {:?}\n{}", p.args, p.main),
        }
        fuel += interp.fuel_consumed();
    }
    fuel
}

#[test]
fn default_config_verifies_and_runs() {
    let fuel = check_many(&Config::default(), seed(0x1234_5678), count(1000));
    assert!(fuel > 100_000, "{fuel}");
}

#[test]
fn integer_only_verifies_and_runs() {
    check_many(&Config::integer_only(), 0xdead_beef, 500);
}

#[test]
fn with_i128_verifies_and_runs() {
    check_many(
        &Config::default().with_i128(),
        seed(0xfeed_f00d),
        count(500),
    );
}

#[test]
fn mutations_keep_or_change_the_key() {
    let target = KeyTarget {
        triple: "x86_64-unknown-linux-gnu",
        flags: &[],
    };
    let mut rng = XorShift(77);
    let (mut same, mut changed) = (0, 0);
    for i in 0..500 {
        let mut f = generate(&rng.bytes(800), &Config::default()).unwrap();
        let before = stencil_key(&f.stencil, &target);
        let m = generate_mutation(&mut f, &rng.bytes(16));
        verified(&f, &format!("#{i} after {m:?}"));
        let after = stencil_key(&f.stencil, &target);
        if m.key_must_change() {
            assert_ne!(before, after, "#{i}: {m:?}");
            changed += 1;
        } else {
            assert_eq!(before, after, "#{i}: {m:?}");
            same += 1;
        }
    }
    assert!(same > 100 && changed > 100, "{same} {changed}");
}

#[test]
fn types_other_than_scalars_are_ignored() {
    let config = Config {
        types: vec![Type::I8X16, Type::F16, Type::I64],
        ..Config::default()
    };
    let mut rng = XorShift(5);
    for _ in 0..50 {
        let f = generate(&rng.bytes(500), &config).unwrap();
        verified(&f, "vector config");
    }
}

#[test]
fn allowed_traps_verify_and_run_or_trap() {
    let config = Config {
        allow_traps: true,
        ..Config::default()
    };
    let mut rng = XorShift(4242);
    let mut traps = 0;
    for i in 0..1000 {
        let p = generate_program(&rng.bytes(1200), &config).unwrap();
        for f in p.functions() {
            verified(f, &format!("#{i}"));
        }
        let mut interp = Interpreter::new(p.functions());
        match interp.call_by_name("u1:0", &p.args) {
            Ok(_) => {}
            Err(kiln_interpreter::InterpError::Trap(_)) => traps += 1,
            Err(e) => panic!("#{i}: {e}\n{}", p.main),
        }
    }
    assert!(traps > 50, "{traps}");
}

/// Everything at once (i128, floats, pointer memory, atomics, indirect,
/// nested and tail calls, traps, canonical NaNs): every function verifies,
/// and the program runs in the interpreter or traps, never hitting an
/// interpreter gap. The features must actually appear.
#[test]
fn everything_verifies_and_runs_or_traps() {
    use kiln_ir::Opcode;
    let config = Config::everything();
    let mut rng = XorShift(seed(0x0e0e_0e0e));
    let mut seen = std::collections::BTreeSet::new();
    let (mut traps, mut ran) = (0, 0);
    for i in 0..count(600) {
        let p = generate_program(&rng.bytes(1500), &config).unwrap();
        for f in p.functions() {
            verified(f, &format!("#{i} {}", f.name));
            for b in f.layout.blocks() {
                for inst in f.layout.block_insts(b) {
                    seen.insert(f.dfg.insts[inst].opcode());
                }
            }
        }
        let mut interp = Interpreter::with_config(
            p.functions(),
            InterpConfig {
                fuel: 10_000_000,
                ..InterpConfig::default()
            },
        );
        match interp.call_by_name("u1:0", &p.args) {
            Ok(_) => ran += 1,
            Err(kiln_interpreter::InterpError::Trap(_)) => traps += 1,
            Err(e) => panic!("#{i}: {e} with {:?}\n{}", p.args, p.main),
        }
    }
    for op in [
        Opcode::ReturnCall,
        Opcode::ReturnCallIndirect,
        Opcode::CallIndirect,
        Opcode::FuncAddr,
        Opcode::AtomicRmw,
        Opcode::AtomicCas,
        Opcode::AtomicLoad,
        Opcode::AtomicStore,
        Opcode::Fence,
        Opcode::Uload8,
        Opcode::Sload32,
        Opcode::Istore16,
        Opcode::StackAddr,
        Opcode::UaddOverflowTrap,
        Opcode::Iconcat,
        Opcode::Isplit,
        Opcode::Bitselect,
    ] {
        assert!(seen.contains(&op), "{op:?} never generated");
    }
    assert!(ran > 100 && traps > 20, "ran {ran}, trapped {traps}");
}
