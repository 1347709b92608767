//! Stack slots (sized and dynamic), dynamic vector types and memory alias
//! region declarations: the per-function frame and memory entities.

use crate::entities::{DynamicType, GlobalValue};
use crate::types::Type;

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
