//! The aarch64 backend: registers (`regs`), operand kinds and immediate
//! encoders (`args`), the machine instruction (`inst`) and its encoder
//! (`emit`), checked against an independent decoder in `emit_tests`.

pub mod abi;
pub mod args;
pub mod emit;
pub mod inst;
pub mod lower;
pub mod regs;
pub mod tail;

#[cfg(test)]
mod compile_tests;
#[cfg(test)]
mod emit_tests;
#[cfg(test)]
mod frame_tests;
#[cfg(test)]
mod island_tests;

pub use args::*;
pub use emit::A64LabelUse;
pub use inst::*;

use crate::compiled::{CompiledCode, Stencil};
use crate::isa::TargetIsa;
use crate::machinst::abi::{FrameLayout, FrameRequest, FrameShape};
use crate::machinst::buffer::{MachBuffer, MachLabel};
use crate::machinst::compile::{self, Backend, Context, Lowered};
use crate::machinst::inst::{MachInst, MachTerminator, OperandVisitor};
use crate::machinst::lower::Lower;
use crate::machinst::reg::{Reg, Writable};
use crate::machinst::regalloc::RegallocConfig;
use crate::machinst::vcode::{EmitInfo, VCode};
use crate::result::{CodegenError, CodegenResult};
use crate::settings::{Arch, Flags, IsaFlags};
use kiln_ir::FunctionStencil;
use regalloc2::{PReg, PRegSet, RegClass, SpillSlot};
use std::cell::RefCell;

/// The target-independent view of an aarch64 instruction.
impl MachInst for MInst {
    /// Integer registers spill into one 8-byte slot, FP registers into two
    /// (a whole q register is saved, so any FP value fits).
    const SPILLSLOT_BYTES: u32 = 8;

    fn get_operands(&mut self, visitor: &mut impl OperandVisitor) {
        MInst::get_operands(self, visitor)
    }

    fn clobbers(&self) -> PRegSet {
        MInst::clobbers(self)
    }

    fn is_call(&self) -> bool {
        matches!(
            self,
            MInst::Call { .. } | MInst::CallInd { .. } | MInst::TryCall { .. }
        )
    }

    fn is_term(&self) -> MachTerminator {
        match self {
            MInst::Ret { .. } | MInst::Udf { .. } | MInst::ReturnCall { .. } => MachTerminator::Ret,
            MInst::Jump { .. }
            | MInst::CondBr { .. }
            | MInst::JmpTable { .. }
            | MInst::TryCall { .. } => MachTerminator::Branch,
            _ => MachTerminator::None,
        }
    }

    fn is_move(&self) -> Option<(Writable<Reg>, Reg)> {
        match *self {
            MInst::Mov {
                size: OperandSize::Size64,
                rd,
                rm,
            } => Some((rd, rm)),
            MInst::FpuRR {
                op: FpuOp1::Mov,
                size: ScalarSize::Size64,
                rd,
                rn,
            }
            | MInst::VecMisc {
                op: VecMiscOp::Mov16B,
                rd,
                rn,
            } => Some((rd, rn)),
            _ => None,
        }
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
        let kind = match src.class() {
            RegClass::Int => StoreKind::Store64,
            _ => StoreKind::FpuStore128,
        };
        MInst::Store {
            kind,
            rd: Reg::from(src),
            mem: AMode::SpillSlot {
                slot: slot.index() as u32,
            },
        }
    }

    fn gen_reload(dst: PReg, slot: SpillSlot) -> Self {
        let kind = match dst.class() {
            RegClass::Int => LoadKind::Load64,
            _ => LoadKind::FpuLoad128,
        };
        MInst::Load {
            kind,
            rd: Writable::from_reg(Reg::from(dst)),
            mem: AMode::SpillSlot {
                slot: slot.index() as u32,
            },
        }
    }
}

/// The aarch64 backend.
pub struct A64Backend {
    flags: Flags,
    isa_flags: IsaFlags,
    /// `key_flag_bytes(flags, isa_flags)`, computed once.
    key_flags: Vec<u8>,
    env: regalloc2::MachineEnv,
    /// Return-address signing and BTI, from the ISA flags.
    protection: abi::FrameProtection,
}

/// Creates the aarch64 backend.
pub fn isa_builder(flags: Flags, isa_flags: IsaFlags) -> CodegenResult<Box<dyn TargetIsa>> {
    Ok(Box::new(A64Backend {
        env: abi::machine_env(flags.enable_pinned_reg),
        key_flags: super::key_flag_bytes(&flags, &isa_flags),
        protection: abi::FrameProtection {
            sign_return_address: isa_flags.has("sign_return_address")
                || isa_flags.has("sign_return_address_all"),
            with_bkey: isa_flags.has("sign_return_address_with_bkey"),
            use_bti: isa_flags.has("use_bti"),
        },
        flags,
        isa_flags,
    }))
}

impl A64Backend {
    fn lower_to_vcode(
        &self,
        f: &FunctionStencil,
        recycled: VCode<MInst>,
    ) -> CodegenResult<Lowered<MInst>> {
        // Probes are inline on aarch64: no probe function is called, so the
        // outline strategy is refused by name. Cranelift has none either
        // (its aarch64 `gen_probestack` is `unimplemented!`).
        if self.flags.enable_probestack && !self.flags.probestack_inline {
            return Err(CodegenError::Unsupported {
                what: "setting probestack_strategy=outline on aarch64 (probes are inline only)"
                    .into(),
            });
        }
        let sig = abi::sig_locs(&f.signature)?;
        // Incoming stack arguments are at [x29 + 16 + offset].
        let stack_limit = crate::machinst::abi::stack_limit(f, &sig, 16)?;
        let (slot_offsets, slots_size) = abi::stack_slot_layout(f)?;
        let callee_pop = sig.callee_pop;
        let wide_fp_values = (0..f.dfg.num_values() as u32).any(|i| {
            let ty = f.dfg.value_type(kiln_ir::Value::from_u32(i));
            ty.bits() == 128 && (ty.is_vector() || ty == kiln_ir::Type::F128)
        });
        let has_try_call = f.dfg.insts.values().any(|d| {
            matches!(
                d,
                kiln_ir::InstructionData::TryCall { .. }
                    | kiln_ir::InstructionData::TryCallIndirect { .. }
            )
        });
        let info = lower::A64LowerInfo {
            sig,
            slot_offsets,
            pinned_reg: self.flags.enable_pinned_reg,
            has_lse: self.isa_flags.has("has_lse"),
            use_bti: self.protection.use_bti,
            sign_return_address: self.protection.sign_return_address,
            wide_fp_values,
            is_pic: self.flags.is_pic,
        };
        let backend = lower::A64LowerBackend {
            info: &info,
            state: RefCell::new(lower::A64LowerState::default()),
        };
        let (vcode, testcase_names) = Lower::new(f, recycled)?.lower(&backend)?;
        let state = backend.state.into_inner();
        Ok(Lowered {
            vcode,
            frame: FrameRequest {
                outgoing_args_size: (state.call.outgoing + 15) & !15,
                stackslots_size: slots_size,
                callee_saved: regs::aapcs_callee_saved(self.flags.enable_pinned_reg),
                callee_pop,
                stack_limit,
                // Not with try_call: one with handlers clobbers every
                // allocatable register (a landing pad may find any of them
                // changed), and that must make the prologue save v8-v15.
                partial_call_clobbers: if wide_fp_values && !has_try_call {
                    regs::partially_saved()
                } else {
                    PRegSet::empty()
                },
            },
            testcase_names,
        })
    }

    /// The VCode listing of a function after lowering (before allocation).
    pub fn vcode_listing(&self, f: &FunctionStencil) -> CodegenResult<String> {
        Ok(self.lower_to_vcode(f, VCode::default())?.vcode.to_string())
    }
}

impl Backend for A64Backend {
    type Inst = MInst;
    type LabelUse = A64LabelUse;
    type EmitState = ();

    /// `stp x29, x30` is the 16-byte setup area; d8–d15 are saved as their
    /// low 64 bits (all AAPCS64 preserves).
    const FRAME_SHAPE: FrameShape = FrameShape {
        stack_align: 16,
        setup_area_size: 16,
        save_bytes: [8, 8, 16],
    };

    fn machine_env(&self) -> &regalloc2::MachineEnv {
        &self.env
    }

    fn regalloc_config(&self) -> RegallocConfig {
        RegallocConfig {
            run_checker: self.flags.regalloc_checker,
            ..RegallocConfig::default()
        }
    }

    fn lower(&self, f: &FunctionStencil, recycled: VCode<MInst>) -> CodegenResult<Lowered<MInst>> {
        self.lower_to_vcode(f, recycled)
    }

    fn gen_prologue(&self, frame: &FrameLayout, out: &mut Vec<MInst>) {
        let probe =
            (self.flags.enable_probestack).then(|| 1u32 << self.flags.probestack_size_log2.min(30));
        abi::gen_prologue(frame, self.protection, probe, out)
    }

    fn gen_epilogue(&self, frame: &FrameLayout, out: &mut Vec<MInst>) {
        abi::gen_epilogue(frame, self.protection, out)
    }

    fn is_epilogue_return(inst: &MInst) -> bool {
        matches!(inst, MInst::Ret { .. })
    }

    fn frame_unwind(
        &self,
        inst: &MInst,
        part: compile::FramePart,
        frame: &FrameLayout,
        out: &mut Vec<crate::unwind::UnwindOp>,
    ) {
        abi::frame_unwind(inst, part, frame, out)
    }

    fn emit_state(&self, _frame: &FrameLayout) {}

    fn emit_inst(
        &self,
        inst: &MInst,
        info: &EmitInfo<'_>,
        _state: &mut (),
        buf: &mut MachBuffer<A64LabelUse>,
    ) -> CodegenResult<()> {
        if let MInst::ReturnCall { info: rc } = inst {
            return tail::emit_return_call(rc, info.frame, self.protection, buf);
        }
        emit::emit(inst, info.frame, buf)
    }

    fn trap_bytes(&self) -> &'static [u8] {
        &emit::UDF
    }

    fn nop_bytes(&self) -> &'static [u8] {
        // `nop`
        &[0x1f, 0x20, 0x03, 0xd5]
    }

    /// The longest `emit` sequence is a few words (a 64-bit constant into
    /// x16 and an add, a call with its extension moves); 256 bytes bounds
    /// every variant with room to spare.
    const MAX_INST_BYTES: u32 = 256;

    fn island_jump(&self, target: MachLabel) -> Option<MInst> {
        Some(MInst::Jump { target })
    }
}

impl TargetIsa for A64Backend {
    fn arch(&self) -> Arch {
        Arch::Aarch64
    }
    fn flags(&self) -> &Flags {
        &self.flags
    }
    fn isa_flags(&self) -> &IsaFlags {
        &self.isa_flags
    }
    fn key_flags(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.key_flags)
    }
    fn compile_stencil(&self, stencil: &FunctionStencil) -> CodegenResult<CompiledCode<Stencil>> {
        compile::with_thread_context(|cx| self.compile_stencil_with(stencil, cx))
    }
    fn compile_stencil_with(
        &self,
        stencil: &FunctionStencil,
        cx: &mut Context,
    ) -> CodegenResult<CompiledCode<Stencil>> {
        compile::compile(self, &self.flags, stencil, cx)
    }
}
