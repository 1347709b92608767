//! Global values: values computed from the VM context, loads, offsets and
//! symbols.

use crate::entities::GlobalValue;
use crate::extfunc::ExternalName;
use crate::immediates::{Imm64, Offset32};
use crate::memflags::MemFlags;
use crate::types::Type;

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
