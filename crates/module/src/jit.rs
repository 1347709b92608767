//! The JIT: a [`Module`] whose functions and data live in one mapping of
//! this process, with their relocations resolved.
//!
//! Functions and data are declared and defined through the [`Module`]
//! trait, or, for code built from CLIF files, defined directly by
//! `UserFuncName` ([`JitModule::define_named_function`]: test-case names
//! `%f` and user names `u0:3` are then the keys relocation targets resolve
//! to, and references are checked at finalize instead of at definition).
//! [`Module::finalize`] places everything in one [`ExecutableMemory`]:
//! code (each function at its alignment, at least 16), veneers and GOT
//! slots read+execute, then read-only data, then writable data (never
//! executable); it resolves every relocation and seals the mapping.
//!
//! Imports resolve through [`JitModule::define_symbol`] entries, then the
//! user's lookup ([`JitModule::set_symbol_lookup`]), then the process's own
//! symbols (`dlsym`). Targets outside the mapping (libcalls, imports) are
//! usually more than 2 GiB away, so a PC-relative call to one goes through
//! a veneer in the mapping (`jmp [rip+0]; .quad target`), and a
//! GOT-relative reference through an 8-byte slot holding the address.

use crate::libcalls::libcall_address;
use crate::memory::{page_size, ExecutableMemory};
use crate::module::{
    final_name_string, DataDescription, DataId, Declarations, FuncId, FuncOrDataId, Linkage,
    Module, ModuleError, Target,
};
use crate::traps::{self, CallError, Fault};
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::machinst::buffer::Reloc;
use kiln_ir::{CallConv, Signature, TrapCode, UserFuncName};
use std::collections::HashMap;
use std::fmt;

/// A relocation target that nothing defines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    /// The function holding the relocation.
    pub from: String,
    /// The name it refers to.
    pub target: String,
}

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
    BadCallTarget {
        /// The address control went to.
        target: usize,
    },
    /// A memory fault in a callee outside JIT code (a libcall or external
    /// function): a stack overflow (`stk_ovf`) or a bad address
    /// (`heap_oob`).
    InCallee {
        /// The faulting instruction's address.
        pc: usize,
    },
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

/// Where a relocation's symbol lives: an offset in the mapping, or an
/// address outside it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Sym {
    Internal(usize),
    External(usize),
}

/// A user-supplied symbol lookup for imports.
pub type SymbolLookup = Box<dyn Fn(&str) -> Option<*const u8> + Send + Sync>;

/// Many functions and data objects in one mapping of this process.
pub struct JitModule {
    decls: Declarations,
    /// Code by `FuncId` (`None`: not defined, or an import).
    code: Vec<Option<Box<CompiledCode<Final>>>>,
    /// Contents by `DataId`.
    data: Vec<Option<DataDescription>>,
    /// Names shown in errors and trap reports (`%f`, `u0:3`) for functions
    /// defined by `UserFuncName`.
    labels: HashMap<FuncId, String>,
    /// Addresses given with `define_symbol` / `define_external`.
    symbols: HashMap<String, usize>,
    lookup: Option<SymbolLookup>,
    process_symbols: bool,
    /// The code's `.eh_frame`, registered with the process unwinder.
    /// Declared before `memory` so it is deregistered before the code is
    /// unmapped (fields drop in declaration order).
    frames: Option<crate::unwind::RegisteredFrames>,
    /// The functions' exception tables and unwind rows, registered with
    /// the throw path (`crate::throw`), likewise dropped before `memory`.
    throw_tables: Option<crate::throw::ThrowTables>,
    memory: Option<ExecutableMemory>,
    /// Length of the read+execute part of the mapping.
    exec_len: usize,
    /// Addresses after finalize, by id.
    func_addrs: Vec<usize>,
    data_addrs: Vec<usize>,
    /// Code entries sorted by offset: (offset, len, id).
    placed: Vec<(usize, usize, FuncId)>,
}

impl Default for JitModule {
    fn default() -> Self {
        Self::new()
    }
}

/// The signature recorded for functions defined without one (hand-made
/// code, trampolines, externals): the declaration and the definition use
/// it alike, so no mismatch can be reported for them.
fn unknown_signature() -> Signature {
    Signature::new(CallConv::SystemV)
}

/// The symbol name of a function defined by `UserFuncName`: `%f` is `f`
/// (so test-case references find it), `u0:3` is `u0_3`.
fn symbol_of(name: &UserFuncName) -> String {
    crate::clif::clif_symbol_name(name)
}

/// Whether a relocation of `kind` to `t` goes through a veneer when the
/// target lies outside the mapping: calls, and PC-relative references to
/// functions (jumping through the veneer reaches the function). A
/// PC-relative reference to imported *data* must reach the data itself, so
/// it is resolved directly (and is `OutOfRange` if too far).
fn veneered(kind: Reloc, t: Target) -> bool {
    match kind {
        Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4 => true,
        Reloc::X86PCRel4 => !matches!(t, Target::Data(_)),
        _ => false,
    }
}

impl JitModule {
    /// An empty module whose imports resolve through the process's symbols.
    pub fn new() -> Self {
        JitModule {
            decls: Declarations::new(),
            code: Vec::new(),
            data: Vec::new(),
            labels: HashMap::new(),
            symbols: HashMap::new(),
            lookup: None,
            process_symbols: true,
            frames: None,
            throw_tables: None,
            memory: None,
            exec_len: 0,
            func_addrs: Vec::new(),
            data_addrs: Vec::new(),
            placed: Vec::new(),
        }
    }

    /// Makes the import `name` resolve to `addr` (checked before the
    /// lookup and the process's symbols).
    pub fn define_symbol(&mut self, name: &str, addr: *const u8) {
        self.symbols.insert(name.to_string(), addr as usize);
    }

    /// Resolves imports through `lookup` after [`define_symbol`]
    /// entries and before the process's symbols.
    ///
    /// [`define_symbol`]: Self::define_symbol
    pub fn set_symbol_lookup(&mut self, lookup: SymbolLookup) {
        self.lookup = Some(lookup);
    }

    /// Whether imports may resolve to the process's own symbols (`dlsym`;
    /// on by default).
    pub fn set_process_symbols(&mut self, on: bool) {
        self.process_symbols = on;
    }

    fn not_finalized(&self) -> Result<(), ModuleError> {
        if self.memory.is_some() {
            Err(ModuleError::AlreadyFinalized)
        } else {
            Ok(())
        }
    }

    fn store_code(&mut self, id: FuncId, code: CompiledCode<Final>) {
        if self.code.len() <= id.index() {
            self.code.resize_with(id.index() + 1, || None);
        }
        self.code[id.index()] = Some(Box::new(code));
    }

    /// Defines a function by its CLIF name (`%f` or `u0:3`), for code
    /// whose callees may be defined later: references are resolved (and
    /// all unresolved ones reported) at finalize. Defining a name twice is
    /// [`ModuleError::Duplicate`].
    pub fn define_named_function(
        &mut self,
        name: UserFuncName,
        code: CompiledCode<Final>,
    ) -> Result<FuncId, ModuleError> {
        self.not_finalized()?;
        let sym = symbol_of(&name);
        if self.decls.get_name(&sym).is_some() {
            return Err(ModuleError::Duplicate(name.to_string()));
        }
        let sig = unknown_signature();
        let id = self.decls.declare_function(&sym, Linkage::Local, &sig)?;
        self.decls.define_function_deferred(id, &sig)?;
        if let UserFuncName::User(u) = &name {
            self.decls.bind_user_name(*u, FuncOrDataId::Func(id))?;
        }
        self.labels.insert(id, name.to_string());
        self.store_code(id, code);
        Ok(id)
    }

    /// Defines a function nothing can refer to by name (e.g. a
    /// trampoline); its references are resolved at finalize.
    pub fn define_anonymous_function(
        &mut self,
        code: CompiledCode<Final>,
    ) -> Result<FuncId, ModuleError> {
        self.not_finalized()?;
        let sig = unknown_signature();
        let id = self.decls.declare_anonymous_function(&sig);
        self.decls.define_function_deferred(id, &sig)?;
        self.store_code(id, code);
        Ok(id)
    }

    /// Makes the CLIF name `name` resolve to a function outside the
    /// module (for example a Rust `extern "C"` function).
    pub fn define_external(
        &mut self,
        name: UserFuncName,
        addr: *const u8,
    ) -> Result<FuncId, ModuleError> {
        self.not_finalized()?;
        let sym = symbol_of(&name);
        if self.decls.get_name(&sym).is_some() {
            return Err(ModuleError::Duplicate(name.to_string()));
        }
        let id = self
            .decls
            .declare_function(&sym, Linkage::Import, &unknown_signature())?;
        if let UserFuncName::User(u) = &name {
            self.decls.bind_user_name(*u, FuncOrDataId::Func(id))?;
        }
        self.labels.insert(id, name.to_string());
        self.symbols.insert(sym, addr as usize);
        Ok(id)
    }

    /// The id of a function defined by CLIF name.
    pub fn func_id(&self, name: &UserFuncName) -> Option<FuncId> {
        match self.decls.get_name(&symbol_of(name))? {
            FuncOrDataId::Func(f) => Some(f),
            FuncOrDataId::Data(_) => None,
        }
    }

    fn display_name(&self, id: FuncId) -> String {
        match self.labels.get(&id) {
            Some(l) => l.clone(),
            None => self.decls.function_name(id),
        }
    }

    /// Finds an import: [`define_symbol`](Self::define_symbol) entries,
    /// Kiln's throw runtime (`__cranelift_throw`), the lookup, then the
    /// process.
    fn find_symbol(&self, name: &str) -> Option<usize> {
        if let Some(&a) = self.symbols.get(name) {
            return Some(a);
        }
        #[cfg(target_arch = "x86_64")]
        if name == crate::throw::THROW_SYMBOL {
            return Some(crate::throw::kiln_throw as *const () as usize);
        }
        if let Some(l) = &self.lookup {
            if let Some(p) = l(name) {
                return Some(p as usize);
            }
        }
        if self.process_symbols {
            let c = std::ffi::CString::new(name).ok()?;
            // SAFETY: `c` is a NUL-terminated string that outlives the
            // call; RTLD_DEFAULT searches the global scope and returns null
            // if nothing matches.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) };
            if !p.is_null() {
                return Some(p as usize);
            }
        }
        None
    }

    /// Places everything, resolves relocations and seals the memory.
    fn link(&mut self) -> Result<(), ModuleError> {
        self.not_finalized()?;
        self.decls.check_all_defined()?;
        let nf = self.decls.functions().count();
        let nd = self.decls.data_objects().count();
        self.code.resize_with(nf, || None);
        self.data.resize_with(nd, || None);

        // Imports first: every one must resolve, named in the error.
        let mut func_ext: Vec<Option<usize>> = vec![None; nf];
        let mut data_ext: Vec<Option<usize>> = vec![None; nd];
        let mut missing = Vec::new();
        for (id, d) in self.decls.functions() {
            if d.linkage == Linkage::Import {
                let name = d.name.clone().unwrap_or_default();
                match self.find_symbol(&name) {
                    Some(a) => func_ext[id.index()] = Some(a),
                    None => missing.push(name),
                }
            }
        }
        for (id, d) in self.decls.data_objects() {
            if d.linkage == Linkage::Import {
                let name = d.name.clone().unwrap_or_default();
                match self.find_symbol(&name) {
                    Some(a) => data_ext[id.index()] = Some(a),
                    None => missing.push(name),
                }
            }
        }
        if !missing.is_empty() {
            return Err(ModuleError::UnresolvedImports(missing));
        }

        // Layout: functions, veneers (16 bytes each), GOT slots | read-only
        // data | writable data, the three parts page-aligned.
        let mut off = 0usize;
        let mut func_off = vec![0usize; nf];
        let mut placed = Vec::new();
        for (i, c) in self.code.iter().enumerate() {
            if let Some(code) = c {
                let align = (code.alignment as usize).max(16).next_power_of_two();
                off = off.div_ceil(align) * align;
                func_off[i] = off;
                placed.push((off, code.code.len(), FuncId(i as u32)));
                off += code.code.len();
            }
        }
        let code_end = off;

        // Resolve every code relocation.
        let sym_of = |t: Target, data_off: &[usize]| -> Option<Sym> {
            Some(match t {
                Target::Func(f) => match func_ext[f.index()] {
                    Some(a) => Sym::External(a),
                    None => Sym::Internal(func_off[f.index()]),
                },
                Target::Data(d) => match data_ext[d.index()] {
                    Some(a) => Sym::External(a),
                    None => Sym::Internal(data_off[d.index()]),
                },
                Target::LibCall(l) => Sym::External(libcall_address(l)?),
                Target::Known(_) => return None,
            })
        };
        // Data offsets are not known yet; resolve targets to `Target`s now
        // and to `Sym`s after the data layout.
        let mut unresolved = Vec::new();
        let mut targets: Vec<Vec<Target>> = vec![Vec::new(); nf];
        for (i, c) in self.code.iter().enumerate() {
            let Some(code) = c else { continue };
            for r in &code.relocs {
                let t = self.decls.resolve(&r.target);
                match t {
                    Some(t @ (Target::Func(_) | Target::Data(_))) => targets[i].push(t),
                    Some(Target::LibCall(l)) if libcall_address(l).is_some() => {
                        targets[i].push(Target::LibCall(l))
                    }
                    _ => {
                        unresolved.push(Unresolved {
                            from: self.display_name(FuncId(i as u32)),
                            target: final_name_string(&r.target),
                        });
                        targets[i].push(Target::LibCall(kiln_ir::LibCall::Memcpy));
                    }
                }
            }
        }
        if !unresolved.is_empty() {
            return Err(ModuleError::Unresolved(unresolved));
        }
        // Veneers and GOT slots (their targets do not depend on data
        // offsets except for GOT slots of internal data, keyed by Target).
        let mut veneers: Vec<usize> = Vec::new();
        let mut got: Vec<Target> = Vec::new();
        let no_data = vec![0usize; nd];
        for (i, c) in self.code.iter().enumerate() {
            let Some(code) = c else { continue };
            for (r, &t) in code.relocs.iter().zip(&targets[i]) {
                match r.kind {
                    _ if veneered(r.kind, t) => {
                        if let Some(Sym::External(a)) = sym_of(t, &no_data) {
                            if !veneers.contains(&a) {
                                veneers.push(a);
                            }
                        }
                    }
                    Reloc::X86GOTPCRel4 if !got.contains(&t) => got.push(t),
                    _ => {}
                }
            }
        }
        let page = page_size();
        let veneer_start = code_end.div_ceil(16) * 16;
        let got_start = veneer_start + 16 * veneers.len();
        let exec_len = (got_start + 8 * got.len()).div_ceil(page) * page;
        let mut data_off = vec![0usize; nd];
        let mut cursor = exec_len;
        for writable in [false, true] {
            if writable {
                cursor = cursor.div_ceil(page) * page;
            }
            for (id, d) in self.decls.data_objects() {
                if d.writable != writable {
                    continue;
                }
                let Some(desc) = &self.data[id.index()] else {
                    continue;
                };
                let align = desc.align.unwrap_or(1).max(1) as usize;
                cursor = cursor.div_ceil(align) * align;
                data_off[id.index()] = cursor;
                cursor += desc.size();
            }
            if !writable {
                cursor = cursor.div_ceil(page) * page;
            }
        }
        let readonly_end = {
            // The read-only part ends where the first writable page starts.
            let mut end = exec_len;
            for (id, d) in self.decls.data_objects() {
                if !d.writable {
                    if let Some(desc) = &self.data[id.index()] {
                        end = end.max(data_off[id.index()] + desc.size());
                    }
                }
            }
            end.div_ceil(page) * page
        };
        let total = cursor.max(readonly_end).max(1);

        let mut mem = ExecutableMemory::new(total).map_err(ModuleError::Memory)?;
        let base = mem.base() as usize;
        let addr = |s: Sym| match s {
            Sym::Internal(o) => base + o,
            Sym::External(a) => a,
        };
        let Some(bytes) = mem.bytes_mut() else {
            return Err(ModuleError::AlreadyFinalized);
        };
        for (k, &target) in veneers.iter().enumerate() {
            let at = veneer_start + 16 * k;
            // jmp qword ptr [rip+0]; .quad target; 2 bytes of int3 padding.
            bytes[at..at + 6].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]);
            bytes[at + 6..at + 14].copy_from_slice(&(target as u64).to_le_bytes());
            bytes[at + 14..at + 16].copy_from_slice(&[0xcc, 0xcc]);
        }
        for (k, &t) in got.iter().enumerate() {
            let at = got_start + 8 * k;
            let a = sym_of(t, &data_off).map(addr).unwrap_or(0);
            bytes[at..at + 8].copy_from_slice(&(a as u64).to_le_bytes());
        }
        // Data contents and their address relocations.
        for (id, _) in self.decls.data_objects() {
            let Some(desc) = &self.data[id.index()] else {
                continue;
            };
            let at = data_off[id.index()];
            if let crate::module::Init::Bytes { contents } = &desc.init {
                bytes[at..at + contents.len()].copy_from_slice(contents);
            }
            for &(o, f) in &desc.function_relocs {
                let a = sym_of(Target::Func(f), &data_off).map(addr).unwrap_or(0);
                let p = at + o as usize;
                bytes[p..p + 8].copy_from_slice(&(a as u64).to_le_bytes());
            }
            for &(o, d, addend) in &desc.data_relocs {
                let a = sym_of(Target::Data(d), &data_off).map(addr).unwrap_or(0);
                let p = at + o as usize;
                let v = (a as i64).wrapping_add(addend) as u64;
                bytes[p..p + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        for (i, c) in self.code.iter().enumerate() {
            let Some(code) = c else { continue };
            let start = func_off[i];
            bytes[start..start + code.code.len()].copy_from_slice(&code.code);
            for (r, &t) in code.relocs.iter().zip(&targets[i]) {
                let from = || self.display_name(FuncId(i as u32));
                let size = match r.kind {
                    Reloc::Abs8 => 8,
                    Reloc::Abs4
                    | Reloc::X86PCRel4
                    | Reloc::X86CallPCRel4
                    | Reloc::X86CallPLTRel4
                    | Reloc::X86GOTPCRel4 => 4,
                    kind => {
                        return Err(ModuleError::UnsupportedReloc { from: from(), kind });
                    }
                };
                let field = r.offset as usize;
                if field + size > code.code.len() {
                    return Err(ModuleError::BadOffset {
                        from: from(),
                        offset: r.offset,
                    });
                }
                let p = base + start + field;
                let s = sym_of(t, &data_off).unwrap_or(Sym::External(0));
                let sym_addr = match (r.kind, s) {
                    (kind, Sym::External(a)) if veneered(kind, t) => {
                        let k = veneers.iter().position(|&v| v == a).unwrap_or(0);
                        base + veneer_start + 16 * k
                    }
                    (Reloc::X86GOTPCRel4, _) => {
                        let k = got.iter().position(|&g| g == t).unwrap_or(0);
                        base + got_start + 8 * k
                    }
                    (_, s) => addr(s),
                };
                let value = (sym_addr as i128) + (r.addend as i128);
                let at = start + field;
                let out_of_range = |delta: i128| ModuleError::OutOfRange {
                    from: from(),
                    offset: r.offset,
                    target: final_name_string(&r.target),
                    delta: delta as i64,
                };
                match r.kind {
                    Reloc::Abs8 => {
                        bytes[at..at + 8].copy_from_slice(&(value as u64).to_le_bytes());
                    }
                    Reloc::Abs4 => {
                        let v = u32::try_from(value).map_err(|_| out_of_range(value))?;
                        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => {
                        let delta = value - p as i128;
                        let v = i32::try_from(delta).map_err(|_| out_of_range(delta))?;
                        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        mem.seal_regions(exec_len, readonly_end - exec_len)
            .map_err(ModuleError::Memory)?;
        if let Some(arch) = kiln_codegen::settings::Arch::host() {
            let placed_code: Vec<(usize, &CompiledCode<Final>)> = self
                .code
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((base + func_off[i], c.as_deref()?)))
                .collect();
            let table = crate::unwind::eh_frame_for(arch, &placed_code)
                .map_err(|e| ModuleError::Unwind(e.to_string()))?;
            self.frames = table.map(crate::unwind::RegisteredFrames::register);
            self.throw_tables = Some(crate::throw::ThrowTables::register(
                kiln_codegen::unwind::CfiTarget::new(arch),
                &placed_code,
            ));
        }
        placed.sort();
        self.placed = placed;
        self.exec_len = exec_len;
        self.func_addrs = (0..nf)
            .map(|i| func_ext[i].unwrap_or(base + func_off[i]))
            .collect();
        self.data_addrs = (0..nd)
            .map(|i| data_ext[i].unwrap_or(base + data_off[i]))
            .collect();
        self.memory = Some(mem);
        Ok(())
    }

    /// The address of a function after finalize (imports give the address
    /// they resolved to).
    pub fn get_finalized_function(&self, id: FuncId) -> Option<*const u8> {
        self.memory.as_ref()?;
        self.func_addrs.get(id.index()).map(|&a| a as *const u8)
    }

    /// The address and size of a data object after finalize. Writable data
    /// may be written through the pointer; read-only data must not be.
    /// Imports have size 0 (their size is not known).
    pub fn get_finalized_data(&self, id: DataId) -> Option<(*mut u8, usize)> {
        self.memory.as_ref()?;
        let a = *self.data_addrs.get(id.index())?;
        let size = self
            .data
            .get(id.index())
            .and_then(|d| d.as_ref())
            .map_or(0, |d| d.size());
        Some((a as *mut u8, size))
    }

    /// Unmaps the module's code and data (what dropping it does, spelled
    /// out). Pointers obtained from it dangle afterwards; calling through
    /// them is undefined behaviour, which is why getting them out of the
    /// module is only possible as raw pointers.
    pub fn free_memory(self) {
        drop(self);
    }

    /// Whether [`finalize`](Self::finalize) succeeded.
    pub fn is_finalized(&self) -> bool {
        self.memory.is_some()
    }

    /// The address of a function (after finalize). Externals give their
    /// own address.
    pub fn function_address(&self, id: FuncId) -> Option<*const u8> {
        self.get_finalized_function(id)
    }

    /// The address of a named function (after finalize).
    pub fn get_function(&self, name: &UserFuncName) -> Option<*const u8> {
        self.function_address(self.func_id(name)?)
    }

    /// The compiled code of a function defined with code.
    pub fn code(&self, id: FuncId) -> Option<&CompiledCode<Final>> {
        self.code.get(id.index())?.as_deref()
    }

    /// The address range of the mapping's code part (after finalize).
    pub fn code_range(&self) -> Option<std::ops::Range<usize>> {
        let m = self.memory.as_ref()?;
        Some(m.base() as usize..m.base() as usize + self.exec_len)
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

impl Module for JitModule {
    fn declarations(&self) -> &Declarations {
        &self.decls
    }

    fn declarations_mut(&mut self) -> Result<&mut Declarations, ModuleError> {
        self.not_finalized()?;
        Ok(&mut self.decls)
    }

    fn define_function(
        &mut self,
        id: FuncId,
        signature: &Signature,
        code: CompiledCode<Final>,
    ) -> Result<(), ModuleError> {
        self.not_finalized()?;
        self.decls.define_function(id, signature, &code)?;
        self.store_code(id, code);
        Ok(())
    }

    fn define_data(&mut self, id: DataId, data: &DataDescription) -> Result<(), ModuleError> {
        self.not_finalized()?;
        self.decls.define_data(id, data)?;
        if self.data.len() <= id.index() {
            self.data.resize_with(id.index() + 1, || None);
        }
        self.data[id.index()] = Some(data.clone());
        Ok(())
    }

    fn finalize(&mut self) -> Result<(), ModuleError> {
        self.link()
    }
}
