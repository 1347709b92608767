//! Differential testing of Kiln's native code against the interpreter.
//!
//! Owns: turning generated programs (`kiln-fuzzgen`) into [`Case`]s with
//! several argument vectors of edge values, running them in the
//! interpreter and natively at several optimization levels
//! ([`Checker`]), the seeded fuzzing loop behind `kiln fuzz`
//! ([`fuzz::run`]), opcode/type coverage, failure files ([`testfile`])
//! and the test-case reducer behind `kiln reduce` ([`reduce`]).
//!
//! Never: decides semantics (the interpreter is the reference), hides a
//! failure (an `Unsupported` outside [`KNOWN_UNSUPPORTED`] is reported by
//! the tests), or runs code for a target that is not the host.

pub mod args;
pub mod case;
pub mod check;
pub mod coverage;
pub mod fuzz;
pub mod reduce;
pub mod rng;
pub mod targets;
pub mod testfile;

pub use case::Case;
pub use check::{Checker, Failure, FailureKind, Verdict};
pub use coverage::Coverage;
pub use rng::Rng;

use kiln_codegen::settings::Arch;
use kiln_fuzzgen::Config;
use kiln_ir::{Opcode, Type};

/// `(opcode, type)` pairs the generator could make that Kiln's x86-64
/// backend does not lower (it reports `Unsupported`). The generator leaves
/// exactly these out; a test checks each is still unsupported and that no
/// other pair is.
pub const KNOWN_UNSUPPORTED: &[(Opcode, Type)] = &[
    // Conversions between floats and i128 (Cranelift calls libcalls).
    (Opcode::FcvtToSint, Type::I128),
    (Opcode::FcvtToUint, Type::I128),
    (Opcode::FcvtToSintSat, Type::I128),
    (Opcode::FcvtToUintSat, Type::I128),
    (Opcode::FcvtFromSint, Type::I128),
    (Opcode::FcvtFromUint, Type::I128),
    // Joining and splitting integers narrower than i128.
    (Opcode::Iconcat, Type::I8),
    (Opcode::Iconcat, Type::I16),
    (Opcode::Iconcat, Type::I32),
    (Opcode::Isplit, Type::I16),
    (Opcode::Isplit, Type::I32),
    (Opcode::Isplit, Type::I64),
    // A float select on an i128 condition (excluding the pair leaves out
    // every select with an i128 operand).
    (Opcode::Select, Type::I128),
    // The spectre-guard select of floats.
    (Opcode::SelectSpectreGuard, Type::F32),
    (Opcode::SelectSpectreGuard, Type::F64),
];

/// What the aarch64 backend does not lower yet besides
/// [`KNOWN_UNSUPPORTED`] (issue 13): nothing today (i128 division,
/// remainder and min/max were the last; they are lowered since). A pair
/// listed here is left out of `kiln fuzz --target aarch64`.
pub const AARCH64_GAPS: &[(Opcode, Type)] = &[];

/// The generator configuration of differential testing: everything the
/// generator can make, minus [`KNOWN_UNSUPPORTED`].
pub fn generator_config() -> Config {
    let mut c = Config::everything();
    c.excluded = KNOWN_UNSUPPORTED.to_vec();
    c
}

/// The generator configuration for `arch`'s backend: x86-64's is
/// [`generator_config`]; aarch64's also leaves out [`AARCH64_GAPS`],
/// which it does not lower yet.
pub fn generator_config_for(arch: Arch) -> Config {
    let mut c = generator_config();
    if arch == Arch::Aarch64 {
        c.excluded.extend_from_slice(AARCH64_GAPS);
    }
    c
}

/// Opcodes every long enough differential run must generate: the
/// arithmetic set of [`generator_config`] plus the structural ones
/// (constants, control flow, memory, calls, atomics, traps).
pub fn expected_opcodes() -> Vec<Opcode> {
    expected_opcodes_for(Arch::X86_64)
}

/// [`expected_opcodes`] for `arch`'s generator configuration (without
/// tail calls where it has none).
pub fn expected_opcodes_for(arch: Arch) -> Vec<Opcode> {
    let c = generator_config_for(arch);
    let mut ops = c.opcodes.clone();
    ops.extend_from_slice(&[
        Opcode::Iconst,
        Opcode::F32const,
        Opcode::F64const,
        Opcode::Jump,
        Opcode::Brif,
        Opcode::BrTable,
        Opcode::Return,
        Opcode::Call,
        Opcode::CallIndirect,
        Opcode::ReturnCall,
        Opcode::ReturnCallIndirect,
        Opcode::FuncAddr,
        Opcode::StackAddr,
        Opcode::Load,
        Opcode::Store,
        Opcode::Uload8,
        Opcode::Sload8,
        Opcode::Uload16,
        Opcode::Sload16,
        Opcode::Uload32,
        Opcode::Sload32,
        Opcode::Istore8,
        Opcode::Istore16,
        Opcode::Istore32,
        Opcode::AtomicRmw,
        Opcode::AtomicCas,
        Opcode::AtomicLoad,
        Opcode::AtomicStore,
        Opcode::Fence,
        Opcode::Trapz,
        Opcode::Trapnz,
    ]);
    if !c.tail_calls {
        ops.retain(|o| !matches!(o, Opcode::ReturnCall | Opcode::ReturnCallIndirect));
    }
    ops.sort();
    ops.dedup();
    ops
}
