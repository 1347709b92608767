//! Functions: `Function = name + FunctionStencil + FunctionParameters`.
//!
//! The stencil holds everything that can change machine code, with source
//! locations relative to `params.base_srcloc` and external user names as
//! `UserExternalNameRef` indices. The parameters hold the rest. Backends see
//! only the stencil.

use crate::dfg::DataFlowGraph;
use crate::entities::*;
use crate::entity::{PrimaryMap, SecondaryMap};
use crate::extname::{TestcaseName, UserExternalName, UserFuncName};
use crate::immediates::{Imm64, Offset32};
use crate::layout::Layout;
use crate::memflags::MemFlags;
use crate::srcloc::{RelSourceLoc, SourceLoc};
use crate::types::Type;
use indexmap::IndexSet;
use std::fmt;

/// Calling conventions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum CallConv {
    /// The fastest convention the target offers (System V-like on x86-64).
    #[default]
    Fast,
    /// Supports tail calls; callee pops stack arguments.
    Tail,
    SystemV,
    WindowsFastcall,
    AppleAarch64,
    Probestack,
    Winch,
    PreserveAll,
}

impl CallConv {
    pub const ALL: [CallConv; 8] = [
        CallConv::Fast,
        CallConv::Tail,
        CallConv::SystemV,
        CallConv::WindowsFastcall,
        CallConv::AppleAarch64,
        CallConv::Probestack,
        CallConv::Winch,
        CallConv::PreserveAll,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            CallConv::Fast => "fast",
            CallConv::Tail => "tail",
            CallConv::SystemV => "system_v",
            CallConv::WindowsFastcall => "windows_fastcall",
            CallConv::AppleAarch64 => "apple_aarch64",
            CallConv::Probestack => "probestack",
            CallConv::Winch => "winch",
            CallConv::PreserveAll => "preserve_all",
        }
    }
    pub fn parse(s: &str) -> Option<CallConv> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for CallConv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a narrow integer argument is extended to register width.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum ArgumentExtension {
    #[default]
    None,
    Uext,
    Sext,
}

/// The special role of a parameter.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum ArgumentPurpose {
    #[default]
    Normal,
    /// `sarg(N)`: a struct of N bytes passed by value on the stack.
    StructArgument(u32),
    /// `sret`: the pointer to the return area.
    StructReturn,
    /// `vmctx`: the VM context pointer.
    VMContext,
    /// `stack_limit`.
    StackLimit,
}

/// One parameter or return value of a signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AbiParam {
    pub value_type: Type,
    pub extension: ArgumentExtension,
    pub purpose: ArgumentPurpose,
}

impl AbiParam {
    pub fn new(value_type: Type) -> Self {
        AbiParam {
            value_type,
            extension: ArgumentExtension::None,
            purpose: ArgumentPurpose::Normal,
        }
    }
    pub fn special(value_type: Type, purpose: ArgumentPurpose) -> Self {
        AbiParam {
            purpose,
            ..AbiParam::new(value_type)
        }
    }
    pub fn uext(self) -> Self {
        AbiParam {
            extension: ArgumentExtension::Uext,
            ..self
        }
    }
    pub fn sext(self) -> Self {
        AbiParam {
            extension: ArgumentExtension::Sext,
            ..self
        }
    }
}

/// A function signature.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Signature {
    pub params: Vec<AbiParam>,
    pub returns: Vec<AbiParam>,
    pub call_conv: CallConv,
}

impl Signature {
    pub fn new(call_conv: CallConv) -> Self {
        Signature {
            params: Vec::new(),
            returns: Vec::new(),
            call_conv,
        }
    }
    /// The index of the parameter with the given purpose, if any.
    pub fn special_param_index(&self, purpose: ArgumentPurpose) -> Option<usize> {
        self.params.iter().rposition(|p| p.purpose == purpose)
    }
}

/// Kinds of stack slots.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum StackSlotKind {
    ExplicitSlot,
    ExplicitDynamicSlot,
}

/// A sized stack slot.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct StackSlotData {
    pub kind: StackSlotKind,
    pub size: u32,
    /// log2 of the alignment in bytes.
    pub align_shift: u8,
    /// An opaque key the frontend may attach (e.g. for debug info).
    pub key: Option<u64>,
}

impl StackSlotData {
    pub fn new(size: u32, align_shift: u8) -> Self {
        StackSlotData {
            kind: StackSlotKind::ExplicitSlot,
            size,
            align_shift,
            key: None,
        }
    }
}

/// A dynamic stack slot, sized by a dynamic type.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DynamicStackSlotData {
    pub kind: StackSlotKind,
    pub dyn_ty: DynamicType,
}

/// A dynamic vector type: a fixed vector scaled by a global value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DynamicTypeData {
    pub base_vector_ty: Type,
    pub dynamic_scale: GlobalValue,
}

/// A memory alias region declaration: `region0 = 8 "VMContext+0x8"`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct AliasRegionData {
    pub id: u64,
    pub name: String,
}

/// Runtime library functions the code generator may call.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum LibCall {
    Probestack,
    CeilF32,
    CeilF64,
    FloorF32,
    FloorF64,
    TruncF32,
    TruncF64,
    NearestF32,
    NearestF64,
    FmaF32,
    FmaF64,
    Memcpy,
    Memset,
    Memmove,
    Memcmp,
    ElfTlsGetAddr,
    ElfTlsGetOffset,
    X86Pshufb,
    UdivI128,
    SdivI128,
    UremI128,
    SremI128,
}

impl LibCall {
    pub const ALL: [LibCall; 22] = [
        LibCall::Probestack,
        LibCall::CeilF32,
        LibCall::CeilF64,
        LibCall::FloorF32,
        LibCall::FloorF64,
        LibCall::TruncF32,
        LibCall::TruncF64,
        LibCall::NearestF32,
        LibCall::NearestF64,
        LibCall::FmaF32,
        LibCall::FmaF64,
        LibCall::Memcpy,
        LibCall::Memset,
        LibCall::Memmove,
        LibCall::Memcmp,
        LibCall::ElfTlsGetAddr,
        LibCall::ElfTlsGetOffset,
        LibCall::X86Pshufb,
        LibCall::UdivI128,
        LibCall::SdivI128,
        LibCall::UremI128,
        LibCall::SremI128,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            LibCall::Probestack => "Probestack",
            LibCall::CeilF32 => "CeilF32",
            LibCall::CeilF64 => "CeilF64",
            LibCall::FloorF32 => "FloorF32",
            LibCall::FloorF64 => "FloorF64",
            LibCall::TruncF32 => "TruncF32",
            LibCall::TruncF64 => "TruncF64",
            LibCall::NearestF32 => "NearestF32",
            LibCall::NearestF64 => "NearestF64",
            LibCall::FmaF32 => "FmaF32",
            LibCall::FmaF64 => "FmaF64",
            LibCall::Memcpy => "Memcpy",
            LibCall::Memset => "Memset",
            LibCall::Memmove => "Memmove",
            LibCall::Memcmp => "Memcmp",
            LibCall::ElfTlsGetAddr => "ElfTlsGetAddr",
            LibCall::ElfTlsGetOffset => "ElfTlsGetOffset",
            LibCall::X86Pshufb => "X86Pshufb",
            LibCall::UdivI128 => "UdivI128",
            LibCall::SdivI128 => "SdivI128",
            LibCall::UremI128 => "UremI128",
            LibCall::SremI128 => "SremI128",
        }
    }
    pub fn parse(s: &str) -> Option<LibCall> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The conventional C symbol implementing this libcall.
    pub fn symbol(self) -> &'static str {
        match self {
            LibCall::Probestack => "__kiln_probestack",
            LibCall::CeilF32 => "ceilf",
            LibCall::CeilF64 => "ceil",
            LibCall::FloorF32 => "floorf",
            LibCall::FloorF64 => "floor",
            LibCall::TruncF32 => "truncf",
            LibCall::TruncF64 => "trunc",
            LibCall::NearestF32 => "nearbyintf",
            LibCall::NearestF64 => "nearbyint",
            LibCall::FmaF32 => "fmaf",
            LibCall::FmaF64 => "fma",
            LibCall::Memcpy => "memcpy",
            LibCall::Memset => "memset",
            LibCall::Memmove => "memmove",
            LibCall::Memcmp => "memcmp",
            LibCall::ElfTlsGetAddr => "__tls_get_addr",
            LibCall::ElfTlsGetOffset => "__tls_get_offset",
            LibCall::X86Pshufb => "__kiln_x86_pshufb",
            LibCall::UdivI128 => "__udivti3",
            LibCall::SdivI128 => "__divti3",
            LibCall::UremI128 => "__umodti3",
            LibCall::SremI128 => "__modti3",
        }
    }
}

/// Well-known symbols the linker provides.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum KnownSymbol {
    ElfGlobalOffsetTable,
    CoffTlsIndex,
}

/// The name of an external entity, as the stencil holds it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ExternalName {
    /// An index into `FunctionParameters`' name table: resolved at finalization.
    User(UserExternalNameRef),
    /// A test-case name (`%foo`), used by filetests.
    TestCase(TestcaseName),
    LibCall(LibCall),
    KnownSymbol(KnownSymbol),
}

/// An external function declaration: `fn0 = colocated u0:3 sig0`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ExtFuncData {
    pub name: ExternalName,
    pub signature: SigRef,
    /// Defined in the same module, so a near call reaches it.
    pub colocated: bool,
    pub patchable: bool,
}

/// A global value: a value computed from the VM context, loads, offsets and
/// symbols.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum GlobalValueData {
    VMContext,
    Load {
        base: GlobalValue,
        offset: Offset32,
        global_type: Type,
        flags: MemFlags,
    },
    IAddImm {
        base: GlobalValue,
        offset: Imm64,
        global_type: Type,
    },
    Symbol {
        name: ExternalName,
        offset: Imm64,
        colocated: bool,
        tls: bool,
    },
    DynScaleTargetConst {
        vector_type: Type,
    },
}

impl GlobalValueData {
    /// The type of the value, given the pointer type of the target.
    pub fn global_type(&self, pointer_type: Type) -> Type {
        match self {
            GlobalValueData::VMContext | GlobalValueData::Symbol { .. } => pointer_type,
            GlobalValueData::Load { global_type, .. }
            | GlobalValueData::IAddImm { global_type, .. } => *global_type,
            GlobalValueData::DynScaleTargetConst { .. } => pointer_type,
        }
    }
}

/// Everything about a function that can change its machine code.
#[derive(Clone, Debug, Default)]
pub struct FunctionStencil {
    pub signature: Signature,
    pub sized_stack_slots: PrimaryMap<StackSlot, StackSlotData>,
    pub dynamic_stack_slots: PrimaryMap<DynamicStackSlot, DynamicStackSlotData>,
    pub global_values: PrimaryMap<GlobalValue, GlobalValueData>,
    pub dfg: DataFlowGraph,
    pub layout: Layout,
    /// Source locations relative to `FunctionParameters::base_srcloc`.
    pub srclocs: SecondaryMap<Inst, RelSourceLoc>,
    pub stack_limit: Option<GlobalValue>,
}

impl FunctionStencil {
    pub fn create_sized_stack_slot(&mut self, data: StackSlotData) -> StackSlot {
        self.sized_stack_slots.push(data)
    }
    pub fn create_global_value(&mut self, data: GlobalValueData) -> GlobalValue {
        self.global_values.push(data)
    }
    pub fn import_signature(&mut self, sig: Signature) -> SigRef {
        self.dfg.signatures.push(sig)
    }
    pub fn import_function(&mut self, data: ExtFuncData) -> FuncRef {
        self.dfg.ext_funcs.push(data)
    }
    /// The relative source location of an instruction.
    pub fn rel_srcloc(&self, inst: Inst) -> RelSourceLoc {
        *self.srclocs.get(inst)
    }
}

/// The parts of a function that never change its machine code.
#[derive(Clone, Debug, Default)]
pub struct FunctionParameters {
    base_srcloc: Option<SourceLoc>,
    /// `UserExternalNameRef(i)` names the i-th element.
    user_named_funcs: IndexSet<UserExternalName>,
}

impl FunctionParameters {
    pub fn new() -> Self {
        Self::default()
    }

    /// The base all relative source locations are measured from.
    pub fn base_srcloc(&self) -> SourceLoc {
        self.base_srcloc.unwrap_or_default()
    }

    /// Sets the base if none is set yet; returns the base in effect.
    pub fn ensure_base_srcloc(&mut self, loc: SourceLoc) -> SourceLoc {
        match self.base_srcloc {
            Some(b) if !b.is_default() => b,
            _ => {
                self.base_srcloc = Some(loc);
                loc
            }
        }
    }

    /// Overrides the base; relative locations in the stencil are unchanged,
    /// so every absolute location moves with it.
    pub fn set_base_srcloc(&mut self, loc: SourceLoc) {
        self.base_srcloc = Some(loc);
    }

    /// Returns the reference for `name`, adding it to the table if new.
    pub fn ensure_user_func_name(&mut self, name: UserExternalName) -> UserExternalNameRef {
        let (index, _) = self.user_named_funcs.insert_full(name);
        UserExternalNameRef::from_u32(index as u32)
    }

    /// Points an existing reference at another name (used by cache tests: a
    /// renamed callee must still hit). Returns false if the reference is out
    /// of range or the name is already in the table under another reference.
    pub fn reset_user_func_name(&mut self, r: UserExternalNameRef, name: UserExternalName) -> bool {
        let i = r.as_u32() as usize;
        if i >= self.user_named_funcs.len() {
            return false;
        }
        if let Some(j) = self.user_named_funcs.get_index_of(&name) {
            return j == i;
        }
        let mut names: Vec<_> = self.user_named_funcs.iter().copied().collect();
        names[i] = name;
        self.user_named_funcs = names.into_iter().collect();
        true
    }

    /// The name a reference stands for.
    pub fn user_func_name(&self, r: UserExternalNameRef) -> Option<UserExternalName> {
        self.user_named_funcs
            .get_index(r.as_u32() as usize)
            .copied()
    }

    /// The whole table, in reference order.
    pub fn user_named_funcs(
        &self,
    ) -> impl ExactSizeIterator<Item = (UserExternalNameRef, UserExternalName)> + '_ {
        self.user_named_funcs
            .iter()
            .enumerate()
            .map(|(i, n)| (UserExternalNameRef::from_u32(i as u32), *n))
    }

    pub fn num_user_named_funcs(&self) -> usize {
        self.user_named_funcs.len()
    }
}

/// A function: its name, its stencil and its parameters.
#[derive(Clone, Debug, Default)]
pub struct Function {
    pub name: UserFuncName,
    pub stencil: FunctionStencil,
    pub params: FunctionParameters,
}

impl Function {
    pub fn with_name_signature(name: UserFuncName, signature: Signature) -> Self {
        Function {
            name,
            stencil: FunctionStencil {
                signature,
                ..Default::default()
            },
            params: FunctionParameters::new(),
        }
    }

    /// Declares a user function name and returns its table reference; the
    /// same name always yields the same reference.
    pub fn declare_imported_user_function(
        &mut self,
        name: UserExternalName,
    ) -> UserExternalNameRef {
        self.params.ensure_user_func_name(name)
    }

    /// Sets an instruction's absolute source location. The first
    /// non-default location set becomes the function's base.
    pub fn set_srcloc(&mut self, inst: Inst, loc: SourceLoc) {
        if loc.is_default() {
            self.stencil.srclocs.set(inst, RelSourceLoc::default());
            return;
        }
        let base = self.params.ensure_base_srcloc(loc);
        self.stencil
            .srclocs
            .set(inst, RelSourceLoc::from_base_offset(base, loc));
    }

    /// An instruction's absolute source location.
    pub fn srcloc(&self, inst: Inst) -> SourceLoc {
        self.stencil
            .rel_srcloc(inst)
            .expand(self.params.base_srcloc())
    }
}

impl std::ops::Deref for Function {
    type Target = FunctionStencil;
    fn deref(&self) -> &FunctionStencil {
        &self.stencil
    }
}

impl std::ops::DerefMut for Function {
    fn deref_mut(&mut self) -> &mut FunctionStencil {
        &mut self.stencil
    }
}
