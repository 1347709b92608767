//! A linked set of functions plus one trampoline per signature: the unit
//! `test run`, `kiln run` and `kiln bench kernels` execute.

use crate::jit::{JitCallError, JitModule};
use crate::module::{FuncId, LinkError, Module};
use crate::trampoline::{self, build_trampoline, check_signature, slot_count};
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::{compile_function, TargetIsa};
use kiln_codegen::result::{CodegenError, CodegenResult};
use kiln_ir::{DataValue, Function, Signature, UserFuncName};
use std::collections::HashMap;
use std::fmt;

/// Why a program could not be built.
#[derive(Debug)]
pub enum ProgramError {
    /// Declaring, defining or linking failed.
    Link(LinkError),
    /// A trampoline failed to compile for a reason other than an
    /// unsupported feature (those only make calls with that signature fail).
    Trampoline {
        /// The signature it was for.
        signature: String,
        /// Why it failed.
        error: CodegenError,
    },
}

impl fmt::Display for ProgramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramError::Link(e) => write!(f, "link error: {e}"),
            ProgramError::Trampoline { signature, error } => {
                write!(f, "trampoline for {signature}: {error}")
            }
        }
    }
}

impl std::error::Error for ProgramError {}

impl From<LinkError> for ProgramError {
    fn from(e: LinkError) -> Self {
        ProgramError::Link(e)
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgramCallError {
    /// No function of that name.
    UnknownFunction(String),
    /// The function's signature cannot be called through a trampoline here.
    Unsupported(String),
    /// The arguments do not match the signature.
    BadArguments(String),
    /// The call trapped, faulted or could not be made.
    Call(JitCallError),
}

impl fmt::Display for ProgramCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramCallError::UnknownFunction(n) => write!(f, "no function {n}"),
            ProgramCallError::Unsupported(w) => write!(f, "unsupported: {w}"),
            ProgramCallError::BadArguments(w) => write!(f, "bad arguments: {w}"),
            ProgramCallError::Call(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ProgramCallError {}

/// Collects functions, then links them with their trampolines.
pub struct JitProgramBuilder<'a> {
    isa: &'a dyn TargetIsa,
    module: JitModule,
    funcs: Vec<(UserFuncName, FuncId, Signature)>,
}

impl<'a> JitProgramBuilder<'a> {
    /// Trampolines will be compiled with `isa`, which must target the host.
    pub fn new(isa: &'a dyn TargetIsa) -> Self {
        JitProgramBuilder {
            isa,
            module: JitModule::new(),
            funcs: Vec::new(),
        }
    }

    /// Adds a compiled function callable by `name` with signature `sig`.
    pub fn define(
        &mut self,
        name: UserFuncName,
        sig: Signature,
        code: CompiledCode<Final>,
    ) -> Result<(), LinkError> {
        let id = self.module.define_named_function(name.clone(), code)?;
        self.funcs.push((name, id, sig));
        Ok(())
    }

    /// Compiles trampolines with the ISA, links and seals.
    pub fn finish(self) -> Result<JitProgram, ProgramError> {
        let isa = self.isa;
        self.finish_with(&mut |f| compile_function(isa, f))
    }

    /// Like [`finish`](Self::finish), compiling trampolines with `compile`
    /// (tests use this to link hand-assembled code).
    pub fn finish_with(
        mut self,
        compile: &mut dyn FnMut(&Function) -> CodegenResult<CompiledCode<Final>>,
    ) -> Result<JitProgram, ProgramError> {
        let mut sigs: Vec<(Signature, Result<FuncId, String>)> = Vec::new();
        let ptr = self.isa.pointer_type();
        for (_, _, sig) in &self.funcs {
            if sigs.iter().any(|(s, _)| s == sig) {
                continue;
            }
            let t = match build_trampoline(sig, ptr) {
                Err(e) => Err(e.to_string()),
                Ok(f) => match compile(&f) {
                    Ok(code) => Ok(self.module.define_anonymous_function(code)?),
                    Err(CodegenError::Unsupported { what }) => {
                        Err(format!("trampoline needs {what}"))
                    }
                    Err(error) => {
                        return Err(ProgramError::Trampoline {
                            signature: format!("{sig:?}"),
                            error,
                        })
                    }
                },
            };
            sigs.push((sig.clone(), t));
        }
        // Kiln's throw runtime is there for CLIF code that names it
        // (`%__cranelift_throw`) unless the program defines that name.
        #[cfg(target_arch = "x86_64")]
        {
            let name = UserFuncName::testcase(crate::throw::THROW_SYMBOL);
            if self.module.func_id(&name).is_none() {
                self.module
                    .define_external(name, crate::throw::kiln_throw as *const u8)?;
            }
        }
        self.module.finalize()?;
        let mut entries = HashMap::new();
        for (name, id, sig) in self.funcs {
            let tramp = sigs
                .iter()
                .find(|(s, _)| *s == sig)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| Err("no trampoline".into()));
            entries.insert(name, EntryInfo { id, sig, tramp });
        }
        Ok(JitProgram {
            module: self.module,
            entries,
        })
    }
}

struct EntryInfo {
    id: FuncId,
    sig: Signature,
    tramp: Result<FuncId, String>,
}

/// Linked, executable functions.
pub struct JitProgram {
    module: JitModule,
    entries: HashMap<UserFuncName, EntryInfo>,
}

/// A callable function of a [`JitProgram`], for repeated raw calls.
pub struct Entry<'p> {
    program: &'p JitProgram,
    info: &'p EntryInfo,
    /// Addresses resolved once, so repeated calls do no lookups.
    callee: *const u8,
    tramp: *const u8,
    range: std::ops::Range<usize>,
}

impl Entry<'_> {
    /// The function's signature.
    pub fn signature(&self) -> &Signature {
        &self.info.sig
    }

    /// Fresh value slots holding `args`.
    pub fn make_slots(&self, args: &[DataValue]) -> Result<Vec<u128>, ProgramCallError> {
        let mut slots = vec![0u128; slot_count(&self.info.sig)];
        trampoline::encode_args(&self.info.sig, args, &mut slots)
            .map_err(ProgramCallError::BadArguments)?;
        Ok(slots)
    }

    /// Calls the function on slots made by [`make_slots`](Self::make_slots)
    /// (results replace the first slots).
    pub fn call_slots(&self, slots: &mut [u128]) -> Result<(), ProgramCallError> {
        if slots.len() < slot_count(&self.info.sig) {
            return Err(ProgramCallError::BadArguments("too few value slots".into()));
        }
        // SAFETY: `tramp` is the address of the trampoline `build_trampoline`
        // made for exactly this function's signature, compiled for the host
        // and linked into the (finalized, borrowed, so still mapped) module
        // whose code is `range`; it reads `params.len()` slots and writes
        // `returns.len()` slots, and `slots` has `slot_count(sig)` = the
        // maximum of both (checked above).
        let r = unsafe {
            crate::traps::call_protected(
                self.range.clone(),
                self.tramp,
                self.callee,
                slots.as_mut_ptr(),
            )
        };
        r.map_err(|e| ProgramCallError::Call(self.program.module.call_error(e)))
    }

    /// Calls the function `reps` times, restoring `slots` from `template`
    /// (slots made by [`make_slots`](Self::make_slots)) before each call:
    /// a benchmark batch. The fault protection is set up once for the
    /// batch, so the per-call cost is the entry stub, the trampoline and the
    /// function; a trap ends the batch with its error.
    pub fn call_slots_repeat(
        &self,
        slots: &mut [u128],
        template: &[u128],
        reps: u64,
    ) -> Result<(), ProgramCallError> {
        let n = slot_count(&self.info.sig);
        if slots.len() < n || template.len() != slots.len() {
            return Err(ProgramCallError::BadArguments(
                "too few value slots, or a template of another length".into(),
            ));
        }
        let (dst, src, len) = (slots.as_mut_ptr(), template.as_ptr(), slots.len());
        // SAFETY: `template` and `slots` are distinct borrows of `len` slots
        // each (checked above), both live for the whole batch.
        let restore = || unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
        // SAFETY: as in `call_slots`, for each call; `restore` leaves valid
        // argument slots at `dst` before each one.
        let r = unsafe {
            crate::traps::call_protected_repeat(
                self.range.clone(),
                self.tramp,
                self.callee,
                dst,
                reps,
                restore,
            )
        };
        r.map_err(|e| ProgramCallError::Call(self.program.module.call_error(e)))
    }

    /// Reads the results from slots after [`call_slots`](Self::call_slots).
    pub fn read_results(&self, slots: &[u128]) -> Result<Vec<DataValue>, ProgramCallError> {
        trampoline::decode_results(&self.info.sig, slots).map_err(ProgramCallError::Unsupported)
    }

    /// Calls with typed arguments.
    pub fn call(&self, args: &[DataValue]) -> Result<Vec<DataValue>, ProgramCallError> {
        let mut slots = self.make_slots(args)?;
        self.call_slots(&mut slots)?;
        self.read_results(&slots)
    }
}

impl JitProgram {
    /// The underlying module (addresses, code, trap lookup).
    pub fn module(&self) -> &JitModule {
        &self.module
    }

    /// A callable entry, or why it cannot be called.
    pub fn entry(&self, name: &UserFuncName) -> Result<Entry<'_>, ProgramCallError> {
        let info = self
            .entries
            .get(name)
            .ok_or_else(|| ProgramCallError::UnknownFunction(name.to_string()))?;
        check_signature(&info.sig).map_err(|e| ProgramCallError::Unsupported(e.to_string()))?;
        let tramp = info.tramp.clone().map_err(ProgramCallError::Unsupported)?;
        let not_ready = || ProgramCallError::Call(JitCallError::NotReady("no address"));
        Ok(Entry {
            program: self,
            info,
            callee: self
                .module
                .function_address(info.id)
                .ok_or_else(not_ready)?,
            tramp: self.module.function_address(tramp).ok_or_else(not_ready)?,
            range: self.module.code_range().ok_or_else(not_ready)?,
        })
    }

    /// Calls a function by name with typed arguments.
    pub fn call(
        &self,
        name: &UserFuncName,
        args: &[DataValue],
    ) -> Result<Vec<DataValue>, ProgramCallError> {
        self.entry(name)?.call(args)
    }
}
