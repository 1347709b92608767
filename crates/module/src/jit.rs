//! The JIT linker: many compiled functions in one executable mapping, with
//! their relocations resolved.
//!
//! Functions are defined by name (`UserFuncName`: test-case names `%f` and
//! user names `u0:3`, the same keys `FinalName` relocation targets resolve
//! to) or anonymously (trampolines). [`JitModule::finalize`] places them in
//! one [`ExecutableMemory`] (each at its required alignment, at least 16),
//! resolves every relocation, and seals the memory read+execute.
//!
//! Targets outside the module (libcalls, [`JitModule::define_external`]
//! addresses) are usually more than 2 GiB away from the mapping, so a
//! PC-relative call to one goes through a veneer in the mapping
//! (`jmp [rip+0]; .quad target`), and a GOT-relative reference through an
//! 8-byte slot holding the address.

use crate::libcalls::libcall_address;
use crate::memory::{ExecutableMemory, MemoryError};
use crate::traps::{self, CallError, Fault};
use kiln_codegen::compiled::{CompiledCode, Final, FinalName};
use kiln_codegen::machinst::buffer::Reloc;
use kiln_ir::{TrapCode, UserFuncName};
use std::collections::HashMap;
use std::fmt;

/// A function of a [`JitModule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncId(u32);

impl FuncId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A relocation target that nothing defines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    /// The function holding the relocation.
    pub from: String,
    /// The name it refers to.
    pub target: String,
}

/// Why a module could not be linked.
#[derive(Debug)]
pub enum LinkError {
    /// Two definitions of one name.
    Duplicate(String),
    /// Names referenced but not defined (all of them).
    Unresolved(Vec<Unresolved>),
    /// A PC-relative displacement that does not fit its field.
    OutOfRange {
        from: String,
        offset: u32,
        target: String,
        delta: i64,
    },
    /// A relocation kind this linker does not handle on this target.
    UnsupportedReloc { from: String, kind: Reloc },
    /// A relocation whose field lies outside the function's code.
    BadOffset { from: String, offset: u32 },
    /// The module was already finalized (no more definitions).
    AlreadyFinalized,
    /// The operating system refused the mapping.
    Memory(MemoryError),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Duplicate(n) => write!(f, "duplicate definition of {n}"),
            LinkError::Unresolved(v) => {
                write!(f, "unresolved symbols:")?;
                for u in v {
                    write!(f, " {} (from {})", u.target, u.from)?;
                }
                Ok(())
            }
            LinkError::OutOfRange {
                from,
                offset,
                target,
                delta,
            } => write!(
                f,
                "{from}+{offset:#x}: displacement {delta:#x} to {target} does not fit 32 bits"
            ),
            LinkError::UnsupportedReloc { from, kind } => {
                write!(f, "{from}: unsupported relocation kind {kind:?}")
            }
            LinkError::BadOffset { from, offset } => {
                write!(f, "{from}: relocation at {offset:#x} is outside the code")
            }
            LinkError::AlreadyFinalized => write!(f, "the module is already finalized"),
            LinkError::Memory(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Where a fault happened, and the trap it was (if the code declared one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrapInfo {
    /// The function containing the faulting PC (`None` if it is in a
    /// veneer or between functions).
    pub function: Option<String>,
    /// Offset of the PC in that function.
    pub offset: u32,
    /// The trap code declared at that offset, if any.
    pub code: Option<TrapCode>,
    /// The signal raised.
    pub signal: i32,
    /// Where the fault was, if not in JIT code.
    pub outside: Option<Outside>,
}

/// A fault in code reached from a protected call but outside the module's
/// code: `function`/`offset` of [`TrapInfo`] then name the JIT call site
/// when it is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outside {
    /// Control went to an address that is not executable (a call through a
    /// null or bogus pointer); `function`/`offset` name the return address
    /// the call pushed, when it is in the module.
    BadCallTarget { target: usize },
    /// A memory fault in a callee outside JIT code (a libcall or external
    /// function): a stack overflow (`stk_ovf`) or a bad address
    /// (`heap_oob`).
    InCallee { pc: usize },
}

impl fmt::Display for TrapInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.outside) {
            (Some(c), _) => write!(f, "trap {c}")?,
            (None, Some(Outside::BadCallTarget { .. })) => write!(f, "trap bad_call_target")?,
            (None, _) => write!(f, "unexpected fault")?,
        }
        match (&self.outside, &self.function) {
            (None, Some(n)) => write!(f, " at {n}+{:#x}", self.offset)?,
            (None, None) => write!(f, " in JIT memory")?,
            (Some(Outside::BadCallTarget { target }), n) => {
                write!(f, ": call to {target:#x}")?;
                if let Some(n) = n {
                    write!(f, " returning to {n}+{:#x}", self.offset)?;
                }
            }
            (Some(Outside::InCallee { pc }), _) => {
                write!(f, " in code called from JIT code (pc {pc:#x})")?
            }
        }
        write!(f, " ({})", traps::signal_name(self.signal))
    }
}

/// Why a call into JIT code failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JitCallError {
    /// The code trapped or faulted.
    Trap(TrapInfo),
    /// The module is not finalized, or an id is not a function of it.
    NotReady(&'static str),
    /// Fault handling could not be set up, or the host cannot run the code.
    Host(String),
}

impl fmt::Display for JitCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitCallError::Trap(t) => t.fmt(f),
            JitCallError::NotReady(w) => f.write_str(w),
            JitCallError::Host(w) => f.write_str(w),
        }
    }
}

impl std::error::Error for JitCallError {}

enum Body {
    Code(Box<CompiledCode<Final>>),
    External(usize),
}

struct Entry {
    name: Option<UserFuncName>,
    body: Body,
    /// Offset in the mapping (code entries, after finalize).
    offset: usize,
}

/// Where a relocation's symbol lives.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Sym {
    Internal(FuncId),
    External(usize),
}

/// Many functions in one executable mapping.
#[derive(Default)]
pub struct JitModule {
    entries: Vec<Entry>,
    by_name: HashMap<UserFuncName, FuncId>,
    memory: Option<ExecutableMemory>,
    /// Code entries sorted by offset: (offset, len, id).
    placed: Vec<(usize, usize, FuncId)>,
}

impl JitModule {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, name: Option<UserFuncName>, body: Body) -> Result<FuncId, LinkError> {
        if self.memory.is_some() {
            return Err(LinkError::AlreadyFinalized);
        }
        let id = FuncId(self.entries.len() as u32);
        if let Some(n) = &name {
            if self.by_name.contains_key(n) {
                return Err(LinkError::Duplicate(n.to_string()));
            }
            self.by_name.insert(n.clone(), id);
        }
        self.entries.push(Entry {
            name,
            body,
            offset: 0,
        });
        Ok(id)
    }

    /// Defines a named function.
    pub fn define_function(
        &mut self,
        name: UserFuncName,
        code: CompiledCode<Final>,
    ) -> Result<FuncId, LinkError> {
        self.push(Some(name), Body::Code(Box::new(code)))
    }

    /// Defines a function nothing can refer to by name (e.g. a trampoline).
    pub fn define_anonymous_function(
        &mut self,
        code: CompiledCode<Final>,
    ) -> Result<FuncId, LinkError> {
        self.push(None, Body::Code(Box::new(code)))
    }

    /// Makes `name` resolve to a function outside the module (for example a
    /// Rust `extern "C"` function).
    pub fn define_external(
        &mut self,
        name: UserFuncName,
        addr: *const u8,
    ) -> Result<FuncId, LinkError> {
        self.push(Some(name), Body::External(addr as usize))
    }

    /// The id of a named function.
    pub fn func_id(&self, name: &UserFuncName) -> Option<FuncId> {
        self.by_name.get(name).copied()
    }

    fn display_name(&self, id: FuncId) -> String {
        match &self.entries[id.index()].name {
            Some(n) => n.to_string(),
            None => format!("<anonymous #{}>", id.0),
        }
    }

    fn resolve(&self, target: &FinalName) -> Option<Sym> {
        let by = |n: UserFuncName| {
            self.by_name
                .get(&n)
                .map(|&id| match self.entries[id.index()].body {
                    Body::Code(_) => Sym::Internal(id),
                    Body::External(a) => Sym::External(a),
                })
        };
        match target {
            FinalName::User(u) => by(UserFuncName::User(*u)),
            FinalName::TestCase(t) => by(UserFuncName::Testcase(t.clone())),
            FinalName::LibCall(l) => libcall_address(*l).map(Sym::External),
            FinalName::KnownSymbol(_) => None,
        }
    }

    fn target_name(target: &FinalName) -> String {
        match target {
            FinalName::User(u) => u.to_string(),
            FinalName::TestCase(t) => t.to_string(),
            FinalName::LibCall(l) => format!("libcall {}", l.symbol()),
            FinalName::KnownSymbol(k) => format!("known symbol {k:?}"),
        }
    }

    /// Places every function, resolves relocations and seals the memory.
    /// Every unresolved name is reported at once.
    pub fn finalize(&mut self) -> Result<(), LinkError> {
        if self.memory.is_some() {
            return Err(LinkError::AlreadyFinalized);
        }
        // Resolve all targets first.
        let mut unresolved = Vec::new();
        let mut resolved: Vec<Vec<Sym>> = Vec::with_capacity(self.entries.len());
        let mut veneers: Vec<usize> = Vec::new();
        let mut got: Vec<Sym> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let mut syms = Vec::new();
            if let Body::Code(code) = &e.body {
                for r in &code.relocs {
                    match self.resolve(&r.target) {
                        Some(s) => {
                            match (r.kind, s) {
                                (
                                    Reloc::X86PCRel4 | Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4,
                                    Sym::External(a),
                                ) if !veneers.contains(&a) => veneers.push(a),
                                (Reloc::X86GOTPCRel4, s) if !got.contains(&s) => got.push(s),
                                _ => {}
                            }
                            syms.push(s);
                        }
                        None => {
                            unresolved.push(Unresolved {
                                from: self.display_name(FuncId(i as u32)),
                                target: Self::target_name(&r.target),
                            });
                            syms.push(Sym::External(0));
                        }
                    }
                }
            }
            resolved.push(syms);
        }
        if !unresolved.is_empty() {
            return Err(LinkError::Unresolved(unresolved));
        }

        // Layout: functions, then veneers (16 bytes each), then GOT slots.
        let mut off = 0usize;
        let mut placed = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            if let Body::Code(code) = &e.body {
                let align = (code.alignment as usize).max(16).next_power_of_two();
                off = off.div_ceil(align) * align;
                e.offset = off;
                placed.push((off, code.code.len(), FuncId(i as u32)));
                off += code.code.len();
            }
        }
        let veneer_start = off.div_ceil(16) * 16;
        let got_start = veneer_start + 16 * veneers.len();
        let total = got_start + 8 * got.len();
        let mut mem = ExecutableMemory::new(total).map_err(LinkError::Memory)?;
        let base = mem.base() as usize;
        let addr_of = |entries: &[Entry], s: Sym| match s {
            Sym::Internal(id) => base + entries[id.index()].offset,
            Sym::External(a) => a,
        };
        let Some(bytes) = mem.bytes_mut() else {
            return Err(LinkError::AlreadyFinalized);
        };
        for (k, &target) in veneers.iter().enumerate() {
            let at = veneer_start + 16 * k;
            // jmp qword ptr [rip+0]; .quad target; 2 bytes of int3 padding.
            bytes[at..at + 6].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]);
            bytes[at + 6..at + 14].copy_from_slice(&(target as u64).to_le_bytes());
            bytes[at + 14..at + 16].copy_from_slice(&[0xcc, 0xcc]);
        }
        for (k, &s) in got.iter().enumerate() {
            let at = got_start + 8 * k;
            bytes[at..at + 8].copy_from_slice(&(addr_of(&self.entries, s) as u64).to_le_bytes());
        }
        for (i, e) in self.entries.iter().enumerate() {
            let Body::Code(code) = &e.body else { continue };
            let start = e.offset;
            bytes[start..start + code.code.len()].copy_from_slice(&code.code);
            for (r, &s) in code.relocs.iter().zip(&resolved[i]) {
                let from = || self.display_name(FuncId(i as u32));
                let size = match r.kind {
                    Reloc::Abs8 => 8,
                    Reloc::Abs4
                    | Reloc::X86PCRel4
                    | Reloc::X86CallPCRel4
                    | Reloc::X86CallPLTRel4
                    | Reloc::X86GOTPCRel4 => 4,
                    kind => {
                        return Err(LinkError::UnsupportedReloc { from: from(), kind });
                    }
                };
                let field = r.offset as usize;
                if field + size > code.code.len() {
                    return Err(LinkError::BadOffset {
                        from: from(),
                        offset: r.offset,
                    });
                }
                let p = base + start + field;
                let sym_addr = match (r.kind, s) {
                    (
                        Reloc::X86PCRel4 | Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4,
                        Sym::External(a),
                    ) => {
                        let k = veneers.iter().position(|&v| v == a).unwrap_or(0);
                        base + veneer_start + 16 * k
                    }
                    (Reloc::X86GOTPCRel4, s) => {
                        let k = got.iter().position(|&g| g == s).unwrap_or(0);
                        base + got_start + 8 * k
                    }
                    (_, s) => addr_of(&self.entries, s),
                };
                let value = (sym_addr as i128) + (r.addend as i128);
                let at = start + field;
                match r.kind {
                    Reloc::Abs8 => {
                        bytes[at..at + 8].copy_from_slice(&(value as u64).to_le_bytes());
                    }
                    Reloc::Abs4 => {
                        let v = u32::try_from(value).map_err(|_| LinkError::OutOfRange {
                            from: from(),
                            offset: r.offset,
                            target: Self::target_name(&r.target),
                            delta: value as i64,
                        })?;
                        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => {
                        let delta = value - p as i128;
                        let v = i32::try_from(delta).map_err(|_| LinkError::OutOfRange {
                            from: from(),
                            offset: r.offset,
                            target: Self::target_name(&r.target),
                            delta: delta as i64,
                        })?;
                        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        mem.seal().map_err(LinkError::Memory)?;
        placed.sort();
        self.placed = placed;
        self.memory = Some(mem);
        Ok(())
    }

    /// Whether [`finalize`](Self::finalize) succeeded.
    pub fn is_finalized(&self) -> bool {
        self.memory.is_some()
    }

    /// The address of a function (after finalize). Externals give their
    /// own address.
    pub fn function_address(&self, id: FuncId) -> Option<*const u8> {
        let mem = self.memory.as_ref()?;
        let e = self.entries.get(id.index())?;
        Some(match e.body {
            Body::Code(_) => (mem.base() as usize + e.offset) as *const u8,
            Body::External(a) => a as *const u8,
        })
    }

    /// The address of a named function (after finalize).
    pub fn get_function(&self, name: &UserFuncName) -> Option<*const u8> {
        self.function_address(self.func_id(name)?)
    }

    /// The compiled code of a function defined with code.
    pub fn code(&self, id: FuncId) -> Option<&CompiledCode<Final>> {
        match &self.entries.get(id.index())?.body {
            Body::Code(c) => Some(c),
            Body::External(_) => None,
        }
    }

    /// The address range of the mapping (after finalize).
    pub fn code_range(&self) -> Option<std::ops::Range<usize>> {
        let m = self.memory.as_ref()?;
        Some(m.base() as usize..m.base() as usize + m.len())
    }

    /// Describes a fault at `pc`: the function holding it and the trap code
    /// declared at that offset; for a fault outside the module's code
    /// ([`Fault::in_jit`] false), what kind of fault it was.
    pub fn trap_info(&self, fault: Fault) -> TrapInfo {
        let mut info = TrapInfo {
            function: None,
            offset: 0,
            code: None,
            signal: fault.signal,
            outside: None,
        };
        if fault.is_stack_overflow() {
            info.code = Some(TrapCode::STACK_OVERFLOW);
        }
        if !fault.in_jit {
            if fault.is_bad_jump() {
                info.code = None;
                info.outside = Some(Outside::BadCallTarget { target: fault.pc });
                self.locate(fault.return_addr, &mut info);
            } else {
                info.outside = Some(Outside::InCallee { pc: fault.pc });
                if info.code.is_none() {
                    // A bad data address in a callee (e.g. `memcpy` through
                    // a pointer the JIT code passed).
                    info.code = Some(TrapCode::HEAP_OUT_OF_BOUNDS);
                }
            }
            return info;
        }
        if let Some((id, _)) = self.placed_at(fault.pc) {
            self.locate(fault.pc, &mut info);
            if let Some(code) = self.code(id) {
                if let Some(t) = code.traps.iter().find(|t| t.offset == info.offset) {
                    info.code = Some(t.code);
                }
            }
        }
        info
    }

    /// The function placed at `pc` and `pc`'s offset in it, if any.
    fn placed_at(&self, pc: usize) -> Option<(FuncId, usize)> {
        let range = self.code_range()?;
        if !range.contains(&pc) {
            return None;
        }
        let rel = pc - range.start;
        let i = self.placed.partition_point(|&(off, _, _)| off <= rel);
        if i == 0 {
            return None;
        }
        let (off, len, id) = self.placed[i - 1];
        (rel < off + len).then_some((id, rel - off))
    }

    /// Fills `function`/`offset` for `pc`; false if it is in no function.
    fn locate(&self, pc: usize, info: &mut TrapInfo) -> bool {
        let Some((id, off)) = self.placed_at(pc) else {
            return false;
        };
        info.function = Some(self.display_name(id));
        info.offset = off as u32;
        true
    }

    /// Calls `trampoline(callee, values)`; a trap or fault in the module's
    /// code is returned as [`JitCallError::Trap`].
    ///
    /// # Safety
    ///
    /// `trampoline` must be a function of this module with the System V
    /// signature `(i64 callee, i64 values)` that reads the arguments of
    /// `callee`'s signature from `values` (one 16-byte slot each), calls it,
    /// and writes its results back; `values` must have a slot for every
    /// argument and every result.
    pub unsafe fn call_trampoline(
        &self,
        trampoline: FuncId,
        callee: *const u8,
        values: &mut [u128],
    ) -> Result<(), JitCallError> {
        let range = self
            .code_range()
            .ok_or(JitCallError::NotReady("the module is not finalized"))?;
        let t = self
            .function_address(trampoline)
            .ok_or(JitCallError::NotReady("no such trampoline"))?;
        // SAFETY: forwarded from the caller's contract; the mapping stays
        // alive for the call because `self` is borrowed.
        let r = unsafe { traps::call_protected(range, t, callee, values.as_mut_ptr()) };
        r.map_err(|e| self.call_error(e))
    }

    /// Describes a failed protected call into this module.
    pub fn call_error(&self, e: CallError) -> JitCallError {
        match e {
            CallError::Fault(f) => JitCallError::Trap(self.trap_info(f)),
            CallError::Setup(e) => JitCallError::Host(e),
            CallError::UnsupportedHost => {
                JitCallError::Host("this host cannot run x86-64 JIT code".into())
            }
        }
    }
}
