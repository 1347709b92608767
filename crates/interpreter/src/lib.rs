//! Kiln's reference interpreter: the oracle that defines what every CLIF
//! opcode means.
//!
//! Owns: the execution of `Function`s on [`DataValue`]s with CLIF's exact
//! semantics (wrapping integers at every width i8..i128, shift and rotate
//! amounts taken modulo the width, trapping division and float-to-int
//! conversion, IEEE floats with a canonical NaN), calls between the
//! functions it was given (by name, `call_indirect` through `func_addr`
//! values, tail calls, the normal return of `try_call`), and memory it owns
//! (stack slots) reached through tagged pointers.
//!
//! Must never: panic or touch host memory, whatever function it is given
//! (malformed IR is an [`InterpError::Invalid`], an unimplemented opcode or
//! type an [`InterpError::Unsupported`]); run unbounded (fuel, call depth and
//! stack-slot memory are limited, see [`Config`]); use `unsafe`.
//!
//! Semantic choices where CLIF leaves freedom:
//! - NaN results of arithmetic (`fadd`..`fdiv`, `sqrt`, `fma`, `fmin`,
//!   `fmax`, rounding, `fpromote`, `fdemote`) are always the canonical quiet
//!   NaN (`0x7fc00000` / `0x7ff8000000000000` / f16 `0x7e00`), so the oracle
//!   is deterministic on every host; CLIF only promises "a NaN" there.
//!   `fneg`, `fabs`, `fcopysign`, `bitcast`, `select`, loads and stores are
//!   bit-exact.
//! - Each stack slot is its own region: an access past a slot's end traps
//!   `heap_oob` even where a machine frame would hold a neighbouring slot.
//! - `aligned` flags are not checked (a misaligned access succeeds).
//! - Pointers from `get_frame_pointer`, `get_stack_pointer` and
//!   `get_return_address` are opaque; accessing memory through them is
//!   unsupported.
//!
//! Not implemented (reported as unsupported): f128 arithmetic, dynamic
//! vectors and `dynamic_stack_addr`, vectors wider than 128 bits, exception
//! payloads (`exnN` block arguments), `stack_switch`, `tls_value`, data
//! symbols in `symbol_value`, the `x86_pmulhrsw`/`x86_pmaddubsw`/
//! `x86_cvtt2dq` ops, and the `Memcpy`/`Memset`/`Memmove`/`Memcmp`/
//! `Probestack`/TLS libcalls.

#![forbid(unsafe_code)]

mod exec;
mod f16;
mod memory;
mod ops;
mod value;

pub use memory::{Memory, Target, DEFAULT_MEMORY_LIMIT};
pub use ops::{CANON_NAN32, CANON_NAN64};

use kiln_ir::{DataValue, ExternalName, Function, LibCall, TrapCode, UserFuncName};
use std::collections::HashMap;
use std::fmt;

/// Why an interpretation stopped without returning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterpError {
    /// The program trapped with this code.
    Trap(TrapCode),
    /// An opcode, type or feature the interpreter does not implement; the
    /// message reads `<opcode> on <type>` or names the feature.
    Unsupported(String),
    /// The instruction budget ran out (an infinite loop, or a long one).
    OutOfFuel,
    /// The call-depth or stack-memory limit was exceeded.
    StackOverflow,
    /// The arguments do not match the function's signature.
    BadArguments(String),
    /// No function of this name is known.
    UnknownFunction(String),
    /// The function is malformed (what the verifier would reject).
    Invalid(String),
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpError::Trap(code) => write!(f, "trap: {code}"),
            InterpError::Unsupported(what) => write!(f, "unsupported: {what}"),
            InterpError::OutOfFuel => f.write_str("out of fuel"),
            InterpError::StackOverflow => f.write_str("stack overflow"),
            InterpError::BadArguments(m) => write!(f, "bad arguments: {m}"),
            InterpError::UnknownFunction(n) => write!(f, "unknown function: {n}"),
            InterpError::Invalid(m) => write!(f, "invalid function: {m}"),
        }
    }
}

impl std::error::Error for InterpError {}

impl InterpError {
    /// Whether the interpreter lacks a feature (a runner reports SKIP, not
    /// FAIL, for these).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, InterpError::Unsupported(_))
    }
}

/// Limits of one interpreter.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Instructions one `call_by_name` may execute.
    pub fuel: u64,
    /// Maximum number of live frames.
    pub max_call_depth: usize,
    /// Bytes of stack slots (and of the frames' value slots) live at once.
    pub memory_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            fuel: 100_000_000,
            max_call_depth: 100_000,
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }
}

/// What a `FuncRef` of some function calls.
#[derive(Clone, Debug)]
pub(crate) enum Callee {
    /// A function of the interpreter's set, by index.
    Func(u32),
    /// A runtime-library routine the interpreter provides itself.
    Lib(LibCall),
    /// A name that resolves to nothing; calling it is an error.
    Unknown(String),
}

/// Executes functions of a set that may call each other by name.
pub struct Interpreter<'a> {
    pub(crate) funcs: Vec<&'a Function>,
    pub(crate) by_name: HashMap<String, u32>,
    /// Per function, the callee of each `FuncRef`.
    pub(crate) callees: Vec<Vec<Callee>>,
    pub(crate) config: Config,
    pub(crate) mem: Memory,
    pub(crate) frames: Vec<exec::Frame>,
    pub(crate) fuel_left: u64,
    pub(crate) fuel_used: u64,
    pub(crate) pinned_reg: u128,
    /// Per function with value aliases, the resolved number of each value.
    pub(crate) aliases: Vec<Option<std::sync::Arc<[u32]>>>,
    /// Arguments of the call or values of the return in flight.
    pub(crate) pending: smallvec::SmallVec<[DataValue; 4]>,
    /// Value slots of all live frames.
    pub(crate) live_values: usize,
    /// Spare value vectors of returned frames, reused by new ones.
    pub(crate) spare: Vec<Vec<DataValue>>,
}

/// The lookup key of a function name: `foo` for `%foo`, `u0:1` for users.
fn name_key(name: &UserFuncName) -> String {
    match name {
        UserFuncName::Testcase(t) => t.as_str().to_string(),
        UserFuncName::User(u) => u.to_string(),
    }
}

impl<'a> Interpreter<'a> {
    /// An interpreter over a set of functions with default limits.
    pub fn new<I: IntoIterator<Item = &'a Function>>(funcs: I) -> Self {
        Self::with_config(funcs, Config::default())
    }

    pub fn with_config<I: IntoIterator<Item = &'a Function>>(funcs: I, config: Config) -> Self {
        let funcs: Vec<&'a Function> = funcs.into_iter().collect();
        let mut by_name = HashMap::new();
        for (i, f) in funcs.iter().enumerate() {
            // The first definition of a name wins.
            by_name.entry(name_key(&f.name)).or_insert(i as u32);
        }
        let callees = funcs
            .iter()
            .map(|f| {
                f.dfg
                    .ext_funcs
                    .values()
                    .map(|ext| resolve_callee(f, &ext.name, &by_name))
                    .collect()
            })
            .collect();
        let aliases = funcs.iter().map(|f| alias_table(f)).collect();
        Interpreter {
            aliases,
            funcs,
            by_name,
            callees,
            config,
            mem: Memory::new(config.memory_limit),
            frames: Vec::new(),
            fuel_left: 0,
            fuel_used: 0,
            pinned_reg: 0,
            pending: smallvec::SmallVec::new(),
            live_values: 0,
            spare: Vec::new(),
        }
    }

    /// The index of a function by name (`%foo`, `foo` or `u0:1`).
    pub fn function_index(&self, name: &str) -> Option<usize> {
        let key = name.strip_prefix('%').unwrap_or(name);
        self.by_name.get(key).map(|&i| i as usize)
    }

    /// Calls the named function with `args` and returns its results.
    pub fn call_by_name(
        &mut self,
        name: &str,
        args: &[DataValue],
    ) -> Result<Vec<DataValue>, InterpError> {
        let index = self
            .function_index(name)
            .ok_or_else(|| InterpError::UnknownFunction(name.to_string()))?;
        self.call(index, args)
    }

    /// Calls the function at `index` of the set.
    pub fn call(
        &mut self,
        index: usize,
        args: &[DataValue],
    ) -> Result<Vec<DataValue>, InterpError> {
        if index >= self.funcs.len() {
            return Err(InterpError::UnknownFunction(format!("#{index}")));
        }
        self.fuel_left = self.config.fuel;
        let r = self.run(index as u32, args);
        self.fuel_used = self.config.fuel - self.fuel_left;
        self.frames.clear();
        self.live_values = 0;
        self.mem.clear();
        r
    }

    /// Runs one `; run:` directive: the shape of the `exec` callback of the
    /// filetest evaluator (`kiln_filetests::check_run_directives`). Errors
    /// become their `Display` text; an unsupported feature reads
    /// `unsupported: <what>` (see [`InterpError::is_unsupported`] to tell
    /// them apart before they become text).
    pub fn run_directive(
        &mut self,
        name: &str,
        args: &[DataValue],
    ) -> Result<Vec<DataValue>, String> {
        self.call_by_name(name, args).map_err(|e| e.to_string())
    }

    /// Instructions executed by the last call.
    pub fn fuel_consumed(&self) -> u64 {
        self.fuel_used
    }

    pub fn config(&self) -> Config {
        self.config
    }

    pub fn set_config(&mut self, config: Config) {
        self.config = config;
        self.mem = Memory::new(config.memory_limit);
    }
}

/// The value each value number stands for, if the function has aliases.
fn alias_table(f: &Function) -> Option<std::sync::Arc<[u32]>> {
    let has = f
        .dfg
        .values
        .values()
        .any(|d| matches!(d, kiln_ir::ValueData::Alias { .. }));
    if !has {
        return None;
    }
    Some(
        f.dfg
            .values
            .keys()
            .map(|v| f.dfg.resolve_aliases(v).as_u32())
            .collect(),
    )
}

fn resolve_callee(f: &Function, name: &ExternalName, by_name: &HashMap<String, u32>) -> Callee {
    match name {
        ExternalName::TestCase(t) => {
            if let Some(&i) = by_name.get(t.as_str()) {
                Callee::Func(i)
            } else if let Some(l) = LibCall::parse(t.as_str()) {
                Callee::Lib(l)
            } else {
                Callee::Unknown(t.to_string())
            }
        }
        ExternalName::User(r) => match f.params.user_func_name(*r) {
            Some(u) => match by_name.get(&u.to_string()) {
                Some(&i) => Callee::Func(i),
                None => Callee::Unknown(u.to_string()),
            },
            None => Callee::Unknown(format!("{r}")),
        },
        ExternalName::LibCall(l) => Callee::Lib(*l),
        ExternalName::KnownSymbol(k) => Callee::Unknown(format!("{k:?}")),
    }
}

#[cfg(test)]
mod tests;
