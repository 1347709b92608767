//! Functions: `Function = name + FunctionStencil + FunctionParameters`.
//!
//! The stencil holds everything that can change machine code, with source
//! locations relative to `params.base_srcloc` and external user names as
//! `UserExternalNameRef` indices. The parameters hold the rest. Backends see
//! only the stencil. The entities a function declares live in their own
//! modules (`signature`, `stackslot`, `extfunc`, `globalvalue`) and are
//! re-exported here.

use crate::dfg::DataFlowGraph;
use crate::entities::*;
use crate::entity::{PrimaryMap, SecondaryMap};
use crate::extname::{UserExternalName, UserFuncName};
use crate::layout::Layout;
use crate::srcloc::{RelSourceLoc, SourceLoc};
use indexmap::IndexSet;

pub use crate::extfunc::{ExtFuncData, ExternalName, KnownSymbol, LibCall};
pub use crate::globalvalue::GlobalValueData;
pub use crate::signature::{AbiParam, ArgumentExtension, ArgumentPurpose, CallConv, Signature};
pub use crate::stackslot::{
    AliasRegionData, DynamicStackSlotData, DynamicTypeData, StackSlotData, StackSlotKind,
};

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

    /// A copy for a pass that adds instructions, values and blocks: the
    /// growing tables get room for about half as many again, so the first
    /// additions do not copy them a second time (`Clone` allocates exactly).
    pub fn clone_with_headroom(&self) -> Self {
        let mut copy = Self::default();
        self.copy_into_with_headroom(&mut copy);
        copy
    }

    /// Makes `dst` what [`FunctionStencil::clone_with_headroom`] returns,
    /// reusing `dst`'s storage for the large tables (a caller that keeps
    /// one `dst` per thread copies without allocating once it is large
    /// enough).
    pub fn copy_into_with_headroom(&self, dst: &mut Self) {
        let FunctionStencil {
            signature,
            sized_stack_slots,
            dynamic_stack_slots,
            global_values,
            dfg,
            layout,
            srclocs,
            stack_limit,
        } = self;
        dst.signature.clone_from(signature);
        dst.sized_stack_slots.clone_from(sized_stack_slots);
        dst.dynamic_stack_slots.clone_from(dynamic_stack_slots);
        dst.global_values.clone_from(global_values);
        dfg.copy_into_with_headroom(&mut dst.dfg);
        layout.copy_into_with_headroom(&mut dst.layout);
        srclocs.copy_into_with_headroom(&mut dst.srclocs, srclocs.capacity_len() / 2 + 8);
        dst.stack_limit = *stack_limit;
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
