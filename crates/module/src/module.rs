//! The declare/define layer shared by [`crate::JitModule`] and Kiln's
//! object writer (`kiln-object`): the [`Module`] trait, ids, linkage, data
//! descriptions and the bookkeeping that turns bad use into a
//! [`ModuleError`].
//!
//! A module holds functions and data objects. Each is first *declared*
//! (a name, a [`Linkage`], and a signature or writability), which yields a
//! [`FuncId`] or [`DataId`]; code refers to declarations before they are
//! defined. *Defining* a function hands the module finished code
//! (`CompiledCode<Final>`: a cache hit and a fresh compile arrive the same
//! way); the module never lowers anything.
//!
//! # How relocation targets name declarations
//!
//! Compiled code names what it refers to with a `FinalName`:
//!
//! - `User(uN:M)`: through a binding made with [`Module::bind_user_name`]
//!   (what [`Module::declare_func_in_func`] and
//!   [`Module::declare_data_in_func`] do); in a module with no bindings at
//!   all, namespace 0 is the [`FuncId`] with index M and namespace 1 the
//!   [`DataId`] with index M (the convention `cranelift-module` uses; see
//!   [`Declarations::resolve`]);
//! - `TestCase(%name)`: the declaration whose symbol name is `name`;
//! - `LibCall`: the runtime routine's symbol (`memcpy`, `floorf`, ...);
//! - `KnownSymbol`: linker-provided symbols (object files only).

use crate::jit::Unresolved;
use crate::memory::MemoryError;
use kiln_codegen::compiled::{CompiledCode, Final, FinalName};
use kiln_codegen::machinst::buffer::Reloc;
use kiln_ir::{
    ExtFuncData, ExternalName, FuncRef, Function, GlobalValue, GlobalValueData, Imm64, KnownSymbol,
    LibCall, Signature, UserExternalName,
};
use std::collections::HashMap;
use std::fmt;

/// A function declared in a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncId(pub(crate) u32);

impl FuncId {
    /// The index of the declaration (dense, in declaration order).
    pub fn index(self) -> usize {
        self.0 as usize
    }
    /// The id with index `i` (for the `u0:i` naming convention).
    pub fn from_u32(i: u32) -> Self {
        FuncId(i)
    }
    /// The index as a `u32`.
    pub fn as_u32(self) -> u32 {
        self.0
    }
}

/// A data object declared in a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataId(pub(crate) u32);

impl DataId {
    /// The index of the declaration (dense, in declaration order).
    pub fn index(self) -> usize {
        self.0 as usize
    }
    /// The id with index `i` (for the `u1:i` naming convention).
    pub fn from_u32(i: u32) -> Self {
        DataId(i)
    }
    /// The index as a `u32`.
    pub fn as_u32(self) -> u32 {
        self.0
    }
}

/// A function or a data object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FuncOrDataId {
    /// A function.
    Func(FuncId),
    /// A data object.
    Data(DataId),
}

/// Who may see and define a symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Linkage {
    /// Defined elsewhere: another object, a shared library, the process.
    Import,
    /// Defined here and visible only inside the module (ELF `STB_LOCAL`).
    Local,
    /// Defined here, visible outside, and may be replaced by another
    /// definition at link time (ELF `STB_WEAK`).
    Preemptible,
    /// Defined here and visible outside (ELF `STB_GLOBAL`).
    Export,
}

impl Linkage {
    /// Whether a definition in this module is expected.
    pub fn is_definable(self) -> bool {
        self != Linkage::Import
    }

    /// The linkage of a name declared twice, or `None` if the two cannot
    /// be reconciled (a local name declared as visible, or the reverse).
    pub fn merge(self, other: Linkage) -> Option<Linkage> {
        use Linkage::*;
        match (self, other) {
            (Import, x) | (x, Import) => Some(x),
            (Local, Local) => Some(Local),
            (Local, _) | (_, Local) => None,
            (Export, _) | (_, Export) => Some(Export),
            (Preemptible, Preemptible) => Some(Preemptible),
        }
    }
}

impl fmt::Display for Linkage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Linkage::Import => "import",
            Linkage::Local => "local",
            Linkage::Preemptible => "preemptible",
            Linkage::Export => "export",
        })
    }
}

/// A declared function.
#[derive(Clone, Debug)]
pub struct FunctionDecl {
    /// The symbol name (`None` for anonymous functions).
    pub name: Option<String>,
    /// Its linkage.
    pub linkage: Linkage,
    /// Its signature; a definition must have the same one.
    pub signature: Signature,
    /// Whether it has been defined.
    pub defined: bool,
}

/// A declared data object.
#[derive(Clone, Debug)]
pub struct DataDecl {
    /// The symbol name (`None` for anonymous data).
    pub name: Option<String>,
    /// Its linkage.
    pub linkage: Linkage,
    /// Writable (`.data`/`.bss`) or read-only (`.rodata`).
    pub writable: bool,
    /// Whether it has been defined.
    pub defined: bool,
}

/// The initial contents of a data object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Init {
    /// Not set yet: defining such a description is an error.
    #[default]
    Uninitialized,
    /// `size` zero bytes (placed in `.bss` when writable).
    Zeros {
        /// Bytes.
        size: usize,
    },
    /// These bytes.
    Bytes {
        /// The contents.
        contents: Box<[u8]>,
    },
}

/// The contents of a data object: bytes or zeros, alignment, and the
/// addresses of functions and data written into it at link time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataDescription {
    /// The initial contents.
    pub init: Init,
    /// Required alignment in bytes (a power of two; 1 if `None`).
    pub align: Option<u64>,
    /// `(offset, function)`: the function's address (8 bytes) at `offset`.
    pub function_relocs: Vec<(u32, FuncId)>,
    /// `(offset, data, addend)`: the data object's address plus `addend`
    /// (8 bytes) at `offset`.
    pub data_relocs: Vec<(u32, DataId, i64)>,
}

impl DataDescription {
    /// An empty description (contents not set yet).
    pub fn new() -> Self {
        Self::default()
    }
    /// `size` zero bytes.
    pub fn define_zeroinit(&mut self, size: usize) {
        self.init = Init::Zeros { size };
    }
    /// These bytes.
    pub fn define(&mut self, contents: Box<[u8]>) {
        self.init = Init::Bytes { contents };
    }
    /// Requires alignment `align` (a power of two).
    pub fn set_align(&mut self, align: u64) {
        self.align = Some(align);
    }
    /// The size in bytes (0 while uninitialized).
    pub fn size(&self) -> usize {
        match &self.init {
            Init::Uninitialized => 0,
            Init::Zeros { size } => *size,
            Init::Bytes { contents } => contents.len(),
        }
    }
    /// The contents as bytes (zeros expanded).
    pub fn bytes(&self) -> Vec<u8> {
        match &self.init {
            Init::Uninitialized => Vec::new(),
            Init::Zeros { size } => vec![0; *size],
            Init::Bytes { contents } => contents.to_vec(),
        }
    }
    /// Writes `func`'s address (8 bytes) at `offset` when linked.
    pub fn write_function_addr(&mut self, offset: u32, func: FuncId) {
        self.function_relocs.push((offset, func));
    }
    /// Writes `data`'s address plus `addend` (8 bytes) at `offset` when
    /// linked.
    pub fn write_data_addr(&mut self, offset: u32, data: DataId, addend: i64) {
        self.data_relocs.push((offset, data, addend));
    }
}

/// What a relocation target resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A declared function.
    Func(FuncId),
    /// A declared data object.
    Data(DataId),
    /// A runtime routine.
    LibCall(LibCall),
    /// A symbol the linker provides.
    Known(KnownSymbol),
}

/// Why a module operation failed. Bad use of the API is one of these,
/// never a panic.
#[derive(Debug)]
pub enum ModuleError {
    /// A name or id defined twice.
    Duplicate(String),
    /// Names referenced but not defined or declared (all of them).
    Unresolved(Vec<Unresolved>),
    /// Code refers to something that is not declared in the module.
    Undeclared {
        /// The function holding the reference.
        from: String,
        /// What it refers to.
        target: String,
    },
    /// An id that is not a declaration of this module.
    UnknownId(String),
    /// A name declared twice in ways that cannot both hold.
    IncompatibleDeclaration {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A definition's signature differs from the declaration's.
    SignatureMismatch {
        /// The function.
        name: String,
        /// The declared signature.
        declared: Box<Signature>,
        /// The defined signature.
        defined: Box<Signature>,
    },
    /// A definition of something declared as an import.
    DefinedImport(String),
    /// Declared as defined here but never defined (all of them).
    Undefined(Vec<String>),
    /// Imports that no lookup could resolve (all of them, by symbol).
    UnresolvedImports(Vec<String>),
    /// A data object that cannot be laid out as described.
    BadData {
        /// The data object.
        data: String,
        /// Why.
        reason: String,
    },
    /// A PC-relative displacement that does not fit its field.
    OutOfRange {
        /// The function holding the relocation.
        from: String,
        /// Its offset in the code.
        offset: u32,
        /// The target.
        target: String,
        /// The displacement.
        delta: i64,
    },
    /// A relocation kind this module does not handle on this target.
    UnsupportedReloc {
        /// The function holding it.
        from: String,
        /// The kind.
        kind: Reloc,
    },
    /// A relocation whose field lies outside the function's code.
    BadOffset {
        /// The function holding it.
        from: String,
        /// Its offset.
        offset: u32,
    },
    /// The module was already finalized (no more declarations or
    /// definitions).
    AlreadyFinalized,
    /// The operating system refused the mapping.
    Memory(MemoryError),
    /// The object writer failed or the target is not supported.
    Backend(String),
    /// Compiling a function for the module failed.
    Compile(kiln_codegen::result::CodegenError),
    /// The functions' unwind information could not be written.
    Unwind(String),
}

/// The former name of [`ModuleError`] (the JIT linker's errors).
pub type LinkError = ModuleError;

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ModuleError::*;
        match self {
            Duplicate(n) => write!(f, "duplicate definition of {n}"),
            Unresolved(v) => {
                write!(f, "unresolved symbols:")?;
                for u in v {
                    write!(f, " {} (from {})", u.target, u.from)?;
                }
                Ok(())
            }
            Undeclared { from, target } => {
                write!(f, "{from} refers to {target}, which is not declared")
            }
            UnknownId(w) => write!(f, "{w} is not declared in this module"),
            IncompatibleDeclaration { name, reason } => {
                write!(f, "incompatible declarations of {name}: {reason}")
            }
            SignatureMismatch {
                name,
                declared,
                defined,
            } => write!(
                f,
                "{name} is declared with signature {declared:?} but defined with {defined:?}"
            ),
            DefinedImport(n) => write!(f, "{n} is declared as an import and cannot be defined"),
            Undefined(v) => write!(f, "declared but never defined: {}", v.join(", ")),
            UnresolvedImports(v) => write!(f, "unresolved imports: {}", v.join(", ")),
            BadData { data, reason } => write!(f, "data {data}: {reason}"),
            OutOfRange {
                from,
                offset,
                target,
                delta,
            } => write!(
                f,
                "{from}+{offset:#x}: displacement {delta:#x} to {target} does not fit 32 bits"
            ),
            UnsupportedReloc { from, kind } => {
                write!(f, "{from}: unsupported relocation kind {kind:?}")
            }
            BadOffset { from, offset } => {
                write!(f, "{from}: relocation at {offset:#x} is outside the code")
            }
            AlreadyFinalized => write!(f, "the module is already finalized"),
            Memory(e) => write!(f, "{e}"),
            Backend(w) => f.write_str(w),
            Compile(e) => write!(f, "compiling: {e}"),
            Unwind(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ModuleError {}

/// The declarations of a module and the checks on them, shared by every
/// [`Module`] implementation.
#[derive(Debug, Default)]
pub struct Declarations {
    functions: Vec<FunctionDecl>,
    data: Vec<DataDecl>,
    names: HashMap<String, FuncOrDataId>,
    user_names: HashMap<UserExternalName, FuncOrDataId>,
}

impl Declarations {
    /// No declarations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares (or re-declares) a function. Re-declaring merges the
    /// linkage; a different signature or a data object of that name is an
    /// error.
    pub fn declare_function(
        &mut self,
        name: &str,
        linkage: Linkage,
        signature: &Signature,
    ) -> Result<FuncId, ModuleError> {
        match self.names.get(name) {
            Some(&FuncOrDataId::Func(id)) => {
                let d = &mut self.functions[id.index()];
                if d.signature != *signature {
                    return Err(ModuleError::IncompatibleDeclaration {
                        name: name.to_string(),
                        reason: format!("signature {:?} then {:?}", d.signature, signature),
                    });
                }
                d.linkage = merge(name, d.linkage, linkage)?;
                Ok(id)
            }
            Some(FuncOrDataId::Data(_)) => Err(ModuleError::IncompatibleDeclaration {
                name: name.to_string(),
                reason: "declared as data, then as a function".into(),
            }),
            None => {
                let id = FuncId(self.functions.len() as u32);
                self.functions.push(FunctionDecl {
                    name: Some(name.to_string()),
                    linkage,
                    signature: signature.clone(),
                    defined: false,
                });
                self.names.insert(name.to_string(), FuncOrDataId::Func(id));
                Ok(id)
            }
        }
    }

    /// Declares a function without a name (local; reachable by id only).
    pub fn declare_anonymous_function(&mut self, signature: &Signature) -> FuncId {
        let id = FuncId(self.functions.len() as u32);
        self.functions.push(FunctionDecl {
            name: None,
            linkage: Linkage::Local,
            signature: signature.clone(),
            defined: false,
        });
        id
    }

    /// Declares (or re-declares) a data object.
    pub fn declare_data(
        &mut self,
        name: &str,
        linkage: Linkage,
        writable: bool,
    ) -> Result<DataId, ModuleError> {
        match self.names.get(name) {
            Some(&FuncOrDataId::Data(id)) => {
                let d = &mut self.data[id.index()];
                if d.writable != writable {
                    return Err(ModuleError::IncompatibleDeclaration {
                        name: name.to_string(),
                        reason: "declared writable and read-only".into(),
                    });
                }
                d.linkage = merge(name, d.linkage, linkage)?;
                Ok(id)
            }
            Some(FuncOrDataId::Func(_)) => Err(ModuleError::IncompatibleDeclaration {
                name: name.to_string(),
                reason: "declared as a function, then as data".into(),
            }),
            None => {
                let id = DataId(self.data.len() as u32);
                self.data.push(DataDecl {
                    name: Some(name.to_string()),
                    linkage,
                    writable,
                    defined: false,
                });
                self.names.insert(name.to_string(), FuncOrDataId::Data(id));
                Ok(id)
            }
        }
    }

    /// Declares a data object without a name (local).
    pub fn declare_anonymous_data(&mut self, writable: bool) -> DataId {
        let id = DataId(self.data.len() as u32);
        self.data.push(DataDecl {
            name: None,
            linkage: Linkage::Local,
            writable,
            defined: false,
        });
        id
    }

    /// Makes relocations to `name` resolve to `id`. Binding a name again
    /// to another declaration is an error (code already defined may refer
    /// to it).
    pub fn bind_user_name(
        &mut self,
        name: UserExternalName,
        id: FuncOrDataId,
    ) -> Result<(), ModuleError> {
        match self.user_names.insert(name, id) {
            Some(old) if old != id => {
                self.user_names.insert(name, old);
                Err(ModuleError::IncompatibleDeclaration {
                    name: name.to_string(),
                    reason: format!("bound to {old:?}, then to {id:?}"),
                })
            }
            _ => Ok(()),
        }
    }

    /// The declaration with symbol name `name`.
    pub fn get_name(&self, name: &str) -> Option<FuncOrDataId> {
        self.names.get(name).copied()
    }

    /// A function's declaration.
    pub fn function(&self, id: FuncId) -> Option<&FunctionDecl> {
        self.functions.get(id.index())
    }

    /// A data object's declaration.
    pub fn data(&self, id: DataId) -> Option<&DataDecl> {
        self.data.get(id.index())
    }

    /// All function declarations with their ids.
    pub fn functions(&self) -> impl Iterator<Item = (FuncId, &FunctionDecl)> {
        self.functions
            .iter()
            .enumerate()
            .map(|(i, d)| (FuncId(i as u32), d))
    }

    /// All data declarations with their ids.
    pub fn data_objects(&self) -> impl Iterator<Item = (DataId, &DataDecl)> {
        self.data
            .iter()
            .enumerate()
            .map(|(i, d)| (DataId(i as u32), d))
    }

    /// A printable name for a function (its symbol, or `<anonymous fn N>`).
    pub fn function_name(&self, id: FuncId) -> String {
        match self.functions.get(id.index()).and_then(|d| d.name.clone()) {
            Some(n) => n,
            None => format!("<anonymous fn {}>", id.0),
        }
    }

    /// A printable name for a data object.
    pub fn data_name(&self, id: DataId) -> String {
        match self.data.get(id.index()).and_then(|d| d.name.clone()) {
            Some(n) => n,
            None => format!("<anonymous data {}>", id.0),
        }
    }

    /// What the user name `name` refers to through the bindings alone.
    pub fn resolve_user(&self, name: &UserExternalName) -> Option<FuncOrDataId> {
        self.user_names.get(name).copied()
    }

    /// What a relocation target refers to, if it is declared.
    ///
    /// `User` names go through the bindings made with
    /// [`bind_user_name`](Self::bind_user_name); an unbound name in
    /// namespace 0 or 1 is the function or data object with that index, but
    /// only while the module has no bindings at all (a module that names
    /// things explicitly, like one built from CLIF files, must not have
    /// `u0:5` silently mean "the sixth declaration").
    pub fn resolve(&self, target: &FinalName) -> Option<Target> {
        match target {
            FinalName::User(u) => match self.user_names.get(u) {
                Some(&FuncOrDataId::Func(f)) => Some(Target::Func(f)),
                Some(&FuncOrDataId::Data(d)) => Some(Target::Data(d)),
                None if self.user_names.is_empty() => match u.namespace {
                    0 if (u.index as usize) < self.functions.len() => {
                        Some(Target::Func(FuncId(u.index)))
                    }
                    1 if (u.index as usize) < self.data.len() => {
                        Some(Target::Data(DataId(u.index)))
                    }
                    _ => None,
                },
                None => None,
            },
            FinalName::TestCase(t) => match self.names.get(t.as_str())? {
                FuncOrDataId::Func(f) => Some(Target::Func(*f)),
                FuncOrDataId::Data(d) => Some(Target::Data(*d)),
            },
            FinalName::LibCall(l) => Some(Target::LibCall(*l)),
            FinalName::KnownSymbol(k) => Some(Target::Known(*k)),
        }
    }

    /// Checks a definition of `id` with `signature` and `code` (the id is
    /// declared, not an import, not defined yet, the signature matches and
    /// every relocation target is declared), then marks it defined.
    pub fn define_function(
        &mut self,
        id: FuncId,
        signature: &Signature,
        code: &CompiledCode<Final>,
    ) -> Result<(), ModuleError> {
        self.check_function(id, signature)?;
        for r in &code.relocs {
            if self.resolve(&r.target).is_none() {
                return Err(ModuleError::Undeclared {
                    from: self.function_name(id),
                    target: final_name_string(&r.target),
                });
            }
        }
        self.functions[id.index()].defined = true;
        Ok(())
    }

    /// [`define_function`](Self::define_function) without the relocation
    /// check (for code whose targets may be declared later; they are
    /// resolved at finalize).
    pub fn define_function_deferred(
        &mut self,
        id: FuncId,
        signature: &Signature,
    ) -> Result<(), ModuleError> {
        self.check_function(id, signature)?;
        self.functions[id.index()].defined = true;
        Ok(())
    }

    fn check_function(&self, id: FuncId, signature: &Signature) -> Result<(), ModuleError> {
        let d = self
            .functions
            .get(id.index())
            .ok_or_else(|| ModuleError::UnknownId(format!("function #{}", id.0)))?;
        let name = || self.function_name(id);
        if d.linkage == Linkage::Import {
            return Err(ModuleError::DefinedImport(name()));
        }
        if d.defined {
            return Err(ModuleError::Duplicate(name()));
        }
        if d.signature != *signature {
            return Err(ModuleError::SignatureMismatch {
                name: name(),
                declared: Box::new(d.signature.clone()),
                defined: Box::new(signature.clone()),
            });
        }
        Ok(())
    }

    /// Checks a definition of data object `id` (declared, not an import,
    /// not defined yet, contents set, alignment a power of two, every
    /// relocation inside the object and to a declared symbol), then marks
    /// it defined.
    pub fn define_data(&mut self, id: DataId, data: &DataDescription) -> Result<(), ModuleError> {
        let d = self
            .data
            .get(id.index())
            .ok_or_else(|| ModuleError::UnknownId(format!("data #{}", id.0)))?;
        let name = self.data_name(id);
        if d.linkage == Linkage::Import {
            return Err(ModuleError::DefinedImport(name));
        }
        if d.defined {
            return Err(ModuleError::Duplicate(name));
        }
        let bad = |reason: String| ModuleError::BadData {
            data: name.clone(),
            reason,
        };
        if data.init == Init::Uninitialized {
            return Err(bad("contents not set (define or define_zeroinit)".into()));
        }
        if let Some(a) = data.align {
            if !a.is_power_of_two() {
                return Err(bad(format!("alignment {a} is not a power of two")));
            }
        }
        let size = data.size();
        let fits = |off: u32| (off as usize).checked_add(8).is_some_and(|end| end <= size);
        for &(off, f) in &data.function_relocs {
            if f.index() >= self.functions.len() {
                return Err(ModuleError::Undeclared {
                    from: name.clone(),
                    target: format!("function #{}", f.0),
                });
            }
            if !fits(off) {
                return Err(bad(format!(
                    "address of {} at {off} does not fit in {size} bytes",
                    self.function_name(f)
                )));
            }
        }
        for &(off, t, _) in &data.data_relocs {
            if t.index() >= self.data.len() {
                return Err(ModuleError::Undeclared {
                    from: name.clone(),
                    target: format!("data #{}", t.0),
                });
            }
            if !fits(off) {
                return Err(bad(format!(
                    "address of {} at {off} does not fit in {size} bytes",
                    self.data_name(t)
                )));
            }
        }
        self.data[id.index()].defined = true;
        Ok(())
    }

    /// Every declaration that is not an import but was never defined.
    pub fn check_all_defined(&self) -> Result<(), ModuleError> {
        let mut missing: Vec<String> = self
            .functions()
            .filter(|(_, d)| d.linkage.is_definable() && !d.defined)
            .map(|(id, _)| self.function_name(id))
            .collect();
        missing.extend(
            self.data_objects()
                .filter(|(_, d)| d.linkage.is_definable() && !d.defined)
                .map(|(id, _)| self.data_name(id)),
        );
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ModuleError::Undefined(missing))
        }
    }
}

fn merge(name: &str, old: Linkage, new: Linkage) -> Result<Linkage, ModuleError> {
    old.merge(new)
        .ok_or_else(|| ModuleError::IncompatibleDeclaration {
            name: name.to_string(),
            reason: format!("linkage {old} then {new}"),
        })
}

/// How a relocation target is printed in errors.
pub fn final_name_string(target: &FinalName) -> String {
    match target {
        FinalName::User(u) => u.to_string(),
        FinalName::TestCase(t) => t.to_string(),
        FinalName::LibCall(l) => format!("libcall {}", l.symbol()),
        FinalName::KnownSymbol(k) => format!("known symbol {k:?}"),
    }
}

/// Many functions and data objects that refer to each other: declared,
/// then defined with finished code, then finalized (a JIT mapping or an
/// object file).
pub trait Module {
    /// The declarations made so far.
    fn declarations(&self) -> &Declarations;

    /// The declarations, for the provided methods. Implementations
    /// return their table; callers should use the `declare_*` methods.
    fn declarations_mut(&mut self) -> Result<&mut Declarations, ModuleError>;

    /// Declares a function (or re-declares it: the linkages merge, the
    /// signatures must be equal).
    fn declare_function(
        &mut self,
        name: &str,
        linkage: Linkage,
        signature: &Signature,
    ) -> Result<FuncId, ModuleError> {
        self.declarations_mut()?
            .declare_function(name, linkage, signature)
    }

    /// Declares a function with no symbol name.
    fn declare_anonymous_function(&mut self, signature: &Signature) -> Result<FuncId, ModuleError> {
        Ok(self
            .declarations_mut()?
            .declare_anonymous_function(signature))
    }

    /// Declares a data object, writable or read-only.
    fn declare_data(
        &mut self,
        name: &str,
        linkage: Linkage,
        writable: bool,
    ) -> Result<DataId, ModuleError> {
        self.declarations_mut()?
            .declare_data(name, linkage, writable)
    }

    /// Declares a data object with no symbol name.
    fn declare_anonymous_data(&mut self, writable: bool) -> Result<DataId, ModuleError> {
        Ok(self.declarations_mut()?.declare_anonymous_data(writable))
    }

    /// Makes relocations to the user name `name` resolve to `id`.
    fn bind_user_name(
        &mut self,
        name: UserExternalName,
        id: FuncOrDataId,
    ) -> Result<(), ModuleError> {
        self.declarations_mut()?.bind_user_name(name, id)
    }

    /// Defines a declared function with finished code compiled from a
    /// function with `signature`. Every relocation target must already be
    /// declared.
    fn define_function(
        &mut self,
        id: FuncId,
        signature: &Signature,
        code: CompiledCode<Final>,
    ) -> Result<(), ModuleError>;

    /// Defines a declared data object.
    fn define_data(&mut self, id: DataId, data: &DataDescription) -> Result<(), ModuleError>;

    /// Checks that everything declared is defined or resolvable and
    /// produces the result (a sealed mapping, an object file).
    fn finalize(&mut self) -> Result<(), ModuleError>;

    /// Makes the declared function `id` callable from `func`: binds the
    /// user name `u0:id` to it and imports it into `func`.
    fn declare_func_in_func(
        &mut self,
        id: FuncId,
        func: &mut Function,
    ) -> Result<FuncRef, ModuleError> {
        let decl = self
            .declarations()
            .function(id)
            .ok_or_else(|| ModuleError::UnknownId(format!("function #{}", id.0)))?;
        let colocated = decl.linkage != Linkage::Import;
        let signature = decl.signature.clone();
        let user = UserExternalName::new(0, id.0);
        self.bind_user_name(user, FuncOrDataId::Func(id))?;
        let name_ref = func.declare_imported_user_function(user);
        let sig = func.import_signature(signature);
        Ok(func.import_function(ExtFuncData {
            name: ExternalName::User(name_ref),
            signature: sig,
            colocated,
            patchable: false,
        }))
    }

    /// Makes the declared data object `id` addressable from `func` (as a
    /// `symbol_value`/`global_value`): binds `u1:id` to it.
    fn declare_data_in_func(
        &mut self,
        id: DataId,
        func: &mut Function,
    ) -> Result<GlobalValue, ModuleError> {
        let decl = self
            .declarations()
            .data(id)
            .ok_or_else(|| ModuleError::UnknownId(format!("data #{}", id.0)))?;
        let colocated = decl.linkage != Linkage::Import;
        let user = UserExternalName::new(1, id.0);
        self.bind_user_name(user, FuncOrDataId::Data(id))?;
        let name_ref = func.declare_imported_user_function(user);
        Ok(func.create_global_value(GlobalValueData::Symbol {
            name: ExternalName::User(name_ref),
            offset: Imm64(0),
            colocated,
            tls: false,
        }))
    }
}
