//! The x86-64 backend: registers, operands, instructions and their encoder.

pub mod args;
pub mod emit;
pub mod inst;
pub mod regs;

pub use args::*;
pub use emit::X64LabelUse;
pub use inst::*;

use crate::machinst::inst::{MachInst, MachTerminator, OperandVisitor};
use crate::machinst::reg::{Reg, Writable};
use regalloc2::{PReg, PRegSet, RegClass, SpillSlot};

/// The target-independent view of an x86-64 instruction.
impl MachInst for MInst {
    /// GPRs spill into one 8-byte slot; XMM registers into two.
    const SPILLSLOT_BYTES: u32 = 8;

    fn get_operands(&mut self, visitor: &mut impl OperandVisitor) {
        MInst::get_operands(self, &mut |reg, constraint, kind, pos| {
            visitor.add_operand(reg, constraint, kind, pos)
        })
    }

    fn clobbers(&self) -> PRegSet {
        MInst::clobbers(self)
    }

    fn is_call(&self) -> bool {
        MInst::is_call(self)
    }

    fn is_term(&self) -> MachTerminator {
        match self {
            MInst::Ret { .. } | MInst::Ud2 { .. } => MachTerminator::Ret,
            _ if self.is_terminator() => MachTerminator::Branch,
            _ => MachTerminator::None,
        }
    }

    fn is_move(&self) -> Option<(Writable<Reg>, Reg)> {
        MInst::is_move(self)
    }

    fn spillslot_size(class: RegClass) -> usize {
        match class {
            RegClass::Int => 1,
            RegClass::Float | RegClass::Vector => 2,
        }
    }

    fn gen_move(dst: Writable<Reg>, src: Reg, _class: RegClass) -> Self {
        MInst::gen_move(dst, src)
    }

    fn gen_spill(slot: SpillSlot, src: PReg) -> Self {
        MInst::gen_spill(slot, src)
    }

    fn gen_reload(dst: PReg, slot: SpillSlot) -> Self {
        MInst::gen_reload(dst, slot)
    }
}

use crate::compiled::{CompiledCode, Stencil};
use crate::isa::TargetIsa;
use crate::result::{CodegenError, CodegenResult};
use crate::settings::{Arch, Flags, IsaFlags};
use kiln_ir::FunctionStencil;

/// The x86-64 backend.
pub struct X64Backend {
    flags: Flags,
    isa_flags: IsaFlags,
}

/// Creates the x86-64 backend.
pub fn isa_builder(flags: Flags, isa_flags: IsaFlags) -> CodegenResult<Box<dyn TargetIsa>> {
    Ok(Box::new(X64Backend { flags, isa_flags }))
}

impl TargetIsa for X64Backend {
    fn arch(&self) -> Arch {
        Arch::X86_64
    }
    fn flags(&self) -> &Flags {
        &self.flags
    }
    fn isa_flags(&self) -> &IsaFlags {
        &self.isa_flags
    }
    fn compile_stencil(&self, _stencil: &FunctionStencil) -> CodegenResult<CompiledCode<Stencil>> {
        // Lowering lands with the x64 rules; until then every function is
        // reported unsupported, which runners turn into a skip.
        Err(CodegenError::Unsupported {
            what: "x86-64 lowering (not implemented yet)".to_string(),
        })
    }
}
