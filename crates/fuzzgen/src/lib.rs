//! Arbitrary bytes to valid CLIF functions, for fuzzing.
//!
//! [`generate`] reads fuzzer bytes and builds, through `kiln-frontend`, a
//! function that verifies and always terminates: random signature,
//! variables of the configured types, structured control flow (if/else,
//! `br_table` switches, loops bounded by counters the body cannot write),
//! arithmetic from a configurable opcode set, loads and stores inside a
//! stack slot, calls to declared callees `u1:N`, and source locations.
//! Operations that could trap are left out unless the configuration allows
//! them; integer division gets a divisor forced nonzero (and positive for
//! signed division, so `INT_MIN / -1` cannot happen), a third of the time
//! a constant one (never 0, nor -1 for signed division) of the shapes the
//! mid-end rewrites.
//!
//! [`generate_program`] also builds the callees' bodies and arguments, so
//! the result can run in the interpreter. [`Config::everything`] turns on
//! the rest: i128 and floats, pointer loads and stores of every width,
//! atomics, `call_indirect`, calls between callees (acyclic), `tail`
//! callees ending in `return_call`, `uadd_overflow_trap`, and NaN
//! canonicalization after float arithmetic (so results compare bit for
//! bit). The crate never decides what a backend supports: a user leaves
//! pairs out with [`Config::excluded`]. [`generate_mutation`] makes the two kinds of
//! change the cache fuzzer needs: one that leaves the stencil (and so the
//! cache key) alone, and one that changes a single instruction.

mod gen;
mod input;
mod mutate;

pub use gen::{generate, generate_program, Program};
pub use input::Input;
pub use mutate::{called_user_names, generate_mutation, mutate_params, mutate_stencil, Mutation};

use kiln_frontend::BuildError;
use kiln_ir::{CallConv, Opcode, Type};
use std::fmt;

/// Why no function was generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenError {
    /// The input is too short to be worth a function.
    NotEnoughData,
    /// The builder rejected an instruction: a bug in the generator.
    Build(BuildError),
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::NotEnoughData => f.write_str("not enough data"),
            GenError::Build(e) => write!(f, "generator bug: {e}"),
        }
    }
}

impl std::error::Error for GenError {}

impl From<BuildError> for GenError {
    fn from(e: BuildError) -> Self {
        GenError::Build(e)
    }
}

/// What may be generated.
#[derive(Clone, Debug)]
pub struct Config {
    /// Value types of parameters, returns and variables (scalars only;
    /// f16 and f128 are ignored).
    pub types: Vec<Type>,
    /// Opcodes of the `Unary`, `Binary`, `Ternary`, `IntCompare` and
    /// `FloatCompare` formats (and `bitcast`) that arithmetic may use. Constants, control
    /// flow, memory and calls are governed by the flags below.
    pub opcodes: Vec<Opcode>,
    /// Allow operations that may trap at run time (other than division,
    /// which is always made safe).
    pub allow_traps: bool,
    pub max_params: usize,
    pub max_returns: usize,
    /// Statements in the whole function (an assignment, a branch, ...).
    pub max_statements: usize,
    /// Nesting depth of ifs, switches and loops.
    pub max_depth: usize,
    /// Iterations of each loop (so at most `max_loop_iterations ^ depth`
    /// executions of an inner body).
    pub max_loop_iterations: u32,
    /// Extra variables per type, besides the parameters.
    pub vars_per_type: usize,
    /// Callees `u1:1..=N` the function may call (0 disables calls).
    pub max_callees: usize,
    /// Use a stack slot for loads and stores.
    pub stack_memory: bool,
    /// Use `br_table`.
    pub switches: bool,
    /// Attach source locations.
    pub srclocs: bool,
    pub call_conv: CallConv,
    /// Loads and stores of every width (`load`, `uload8` ... `sload32`,
    /// `store`, `istore8` ...) through `stack_addr` pointers into the slot.
    pub pointer_memory: bool,
    /// `atomic_rmw` (every op), `atomic_cas`, `atomic_load`,
    /// `atomic_store` (every integer type, i128 too) and `fence` on
    /// naturally aligned slot addresses.
    pub atomics: bool,
    /// `func_addr` + `call_indirect` besides direct calls.
    pub indirect_calls: bool,
    /// Some callees use the `tail` convention and may end in
    /// `return_call` / `return_call_indirect` to a later `tail` callee
    /// with the same returns.
    pub tail_calls: bool,
    /// Callees may call callees with a higher number (acyclic, so calls
    /// stay bounded).
    pub nested_calls: bool,
    /// Callees that are not `tail` use `fast` or `system_v` at random.
    pub mixed_call_convs: bool,
    /// After every float operation whose NaN result CLIF leaves open
    /// (arithmetic, rounding, min/max, conversions between float types),
    /// replace a NaN by the canonical quiet NaN (`fcmp uno` + `select`),
    /// as Cranelift's NaN canonicalization does. Results can then be
    /// compared bit for bit, including `fneg`/`fabs`/`fcopysign` of NaNs.
    pub canonicalize_nans: bool,
    /// Now and then an integer expression is a bit-manipulation idiom
    /// over one or two values (`x & (x - 1)`, `x & -x`, `x ^ (x - 1)`,
    /// `x & !y`, `x & ((1 << n) - 1)`, in the spellings a frontend and the
    /// mid-end use), which backends select special instructions for
    /// (x86-64 BMI1/BMI2) and which random operand choice almost never
    /// builds. Only opcodes the configuration allows are used.
    pub bit_idioms: bool,
    /// `(opcode, type)` pairs never to generate (what a backend does not
    /// lower yet): the opcode is left out wherever its controlling type or
    /// the type of any operand is that type. Memory and atomic opcodes are
    /// matched by their access type.
    pub excluded: Vec<(Opcode, Type)>,
}

impl Config {
    /// The scalar integer opcodes of the default set.
    pub const INT_OPCODES: &'static [Opcode] = &[
        Opcode::Iadd,
        Opcode::Isub,
        Opcode::Imul,
        Opcode::Ineg,
        Opcode::Iabs,
        Opcode::Umulhi,
        Opcode::Smulhi,
        Opcode::Udiv,
        Opcode::Sdiv,
        Opcode::Urem,
        Opcode::Srem,
        Opcode::Smin,
        Opcode::Umin,
        Opcode::Smax,
        Opcode::Umax,
        Opcode::Band,
        Opcode::Bor,
        Opcode::Bxor,
        Opcode::Bnot,
        Opcode::Ishl,
        Opcode::Ushr,
        Opcode::Sshr,
        Opcode::Rotl,
        Opcode::Rotr,
        Opcode::Clz,
        Opcode::Cls,
        Opcode::Ctz,
        Opcode::Popcnt,
        Opcode::Bitrev,
        Opcode::Bswap,
        Opcode::Icmp,
        Opcode::Select,
        Opcode::Bmask,
        Opcode::Uextend,
        Opcode::Sextend,
        Opcode::Ireduce,
        Opcode::UaddOverflow,
        Opcode::SaddOverflow,
        Opcode::UsubOverflow,
        Opcode::SsubOverflow,
        Opcode::UmulOverflow,
        Opcode::SmulOverflow,
    ];

    /// Integer opcodes beyond the default set: carries and borrows, bit
    /// selects, the spectre-guard select and splitting/joining i128.
    pub const EXTRA_INT_OPCODES: &'static [Opcode] = &[
        Opcode::SelectSpectreGuard,
        Opcode::Bitselect,
        Opcode::Iconcat,
        Opcode::Isplit,
        Opcode::UaddOverflowCin,
        Opcode::SaddOverflowCin,
        Opcode::UsubOverflowBin,
        Opcode::SsubOverflowBin,
    ];

    /// Float opcodes whose NaN results CLIF leaves unspecified (sign and
    /// payload); see [`Config::canonicalize_nans`].
    pub const NAN_PRODUCING: &'static [Opcode] = &[
        Opcode::Fadd,
        Opcode::Fsub,
        Opcode::Fmul,
        Opcode::Fdiv,
        Opcode::Sqrt,
        Opcode::Fma,
        Opcode::Fmin,
        Opcode::Fmax,
        Opcode::Ceil,
        Opcode::Floor,
        Opcode::Trunc,
        Opcode::Nearest,
        Opcode::Fpromote,
        Opcode::Fdemote,
    ];

    /// The float opcodes of the default set.
    pub const FLOAT_OPCODES: &'static [Opcode] = &[
        Opcode::Fadd,
        Opcode::Fsub,
        Opcode::Fmul,
        Opcode::Fdiv,
        Opcode::Sqrt,
        Opcode::Fma,
        Opcode::Fneg,
        Opcode::Fabs,
        Opcode::Fcopysign,
        Opcode::Fmin,
        Opcode::Fmax,
        Opcode::Ceil,
        Opcode::Floor,
        Opcode::Trunc,
        Opcode::Nearest,
        Opcode::Fcmp,
        Opcode::Fpromote,
        Opcode::Fdemote,
        Opcode::FcvtToUintSat,
        Opcode::FcvtToSintSat,
        Opcode::FcvtFromUint,
        Opcode::FcvtFromSint,
        Opcode::FcvtToUint,
        Opcode::FcvtToSint,
        Opcode::Bitcast,
    ];

    /// Only integer types and opcodes (what a young backend lowers first).
    pub fn integer_only() -> Self {
        Config {
            types: vec![Type::I8, Type::I16, Type::I32, Type::I64],
            opcodes: Self::INT_OPCODES.to_vec(),
            ..Self::default()
        }
    }

    /// Everything the generator can make: every integer width including
    /// i128, f32 and f64, every scalar opcode, pointer memory, atomics,
    /// direct, indirect, nested and tail calls, traps, and canonical NaNs
    /// (for differential testing).
    pub fn everything() -> Self {
        let mut opcodes = Self::INT_OPCODES.to_vec();
        opcodes.extend_from_slice(Self::EXTRA_INT_OPCODES);
        opcodes.extend_from_slice(Self::FLOAT_OPCODES);
        opcodes.push(Opcode::UaddOverflowTrap);
        Config {
            types: vec![
                Type::I8,
                Type::I16,
                Type::I32,
                Type::I64,
                Type::I128,
                Type::F32,
                Type::F64,
            ],
            opcodes,
            allow_traps: true,
            pointer_memory: true,
            atomics: true,
            indirect_calls: true,
            tail_calls: true,
            nested_calls: true,
            mixed_call_convs: true,
            canonicalize_nans: true,
            bit_idioms: true,
            ..Self::default()
        }
    }

    /// Adds `i128` to the types.
    pub fn with_i128(mut self) -> Self {
        if !self.types.contains(&Type::I128) {
            self.types.push(Type::I128);
        }
        self
    }

    /// Whether `op` may appear in arithmetic.
    pub fn allows(&self, op: Opcode) -> bool {
        self.opcodes.contains(&op)
    }

    /// Whether `op` with controlling (or access) type `ty` may appear.
    pub fn allows_typed(&self, op: Opcode, ty: Type) -> bool {
        !self.excluded.contains(&(op, ty))
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut opcodes = Self::INT_OPCODES.to_vec();
        opcodes.extend_from_slice(Self::FLOAT_OPCODES);
        Config {
            types: vec![
                Type::I8,
                Type::I16,
                Type::I32,
                Type::I64,
                Type::F32,
                Type::F64,
            ],
            opcodes,
            allow_traps: false,
            max_params: 6,
            max_returns: 3,
            max_statements: 40,
            max_depth: 3,
            max_loop_iterations: 6,
            vars_per_type: 2,
            max_callees: 3,
            stack_memory: true,
            switches: true,
            srclocs: true,
            call_conv: CallConv::SystemV,
            pointer_memory: false,
            atomics: false,
            indirect_calls: false,
            tail_calls: false,
            nested_calls: false,
            mixed_call_convs: false,
            canonicalize_nans: false,
            bit_idioms: false,
            excluded: Vec::new(),
        }
    }
}
