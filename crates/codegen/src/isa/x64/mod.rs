//! The x86-64 backend: registers, operands, instructions and their encoder.

pub mod abi;
pub mod args;
pub mod control;
pub mod emit;
pub mod inst;
pub mod lower;
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
            MInst::Ret { .. } | MInst::Ud2 { .. } | MInst::ReturnCall { .. } => MachTerminator::Ret,
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
use crate::machinst::abi::FrameLayout;
use crate::machinst::buffer::{MachBuffer, MachLabel};
use crate::machinst::lower::Lower;
use crate::machinst::regalloc::{self, RegallocConfig, RegallocContext};
use crate::machinst::vcode::{BlockIndex, EmitInfo, EmitSink, VCode};
use crate::result::{CodegenError, CodegenResult};
use crate::settings::{Arch, Flags, IsaFlags};
use abi::X64Frame;
use emit::EmitState;
use kiln_ir::FunctionStencil;
use std::cell::RefCell;

/// The x86-64 backend.
pub struct X64Backend {
    flags: Flags,
    isa_flags: IsaFlags,
    /// `key_flag_bytes(flags, isa_flags)`, computed once: every cache
    /// lookup reads them.
    key_flags: Vec<u8>,
    env: regalloc2::MachineEnv,
}

/// Creates the x86-64 backend.
pub fn isa_builder(flags: Flags, isa_flags: IsaFlags) -> CodegenResult<Box<dyn TargetIsa>> {
    Ok(Box::new(X64Backend {
        key_flags: super::key_flag_bytes(&flags, &isa_flags),
        flags,
        isa_flags,
        env: abi::machine_env(),
    }))
}

/// Buffers reused from one compiled function to the next (per thread).
#[derive(Default)]
struct CompileContext {
    regalloc: RegallocContext,
    vcode: Option<VCode<MInst>>,
}

thread_local! {
    static COMPILE_CTX: RefCell<CompileContext> = RefCell::new(CompileContext::default());
}

/// Emits the allocated instruction stream into a `MachBuffer`, adding the
/// epilogue before each return.
struct X64Sink<'a> {
    buf: &'a mut MachBuffer<X64LabelUse>,
    st: EmitState,
    frame: &'a X64Frame,
}

impl X64Sink<'_> {
    fn prologue(&mut self) {
        use regs::{rbp, rsp};
        MInst::Push64 {
            src: RegMemImm::Reg(rbp()),
        }
        .emit_with_state(self.buf, &self.st);
        MInst::MovRR {
            size: OperandSize::Size64,
            src: rsp(),
            dst: Writable::from_reg(rbp()),
        }
        .emit_with_state(self.buf, &self.st);
        if self.frame.frame_size > 0 {
            MInst::AluRmiR {
                size: OperandSize::Size64,
                op: AluOp::Sub,
                src1: rsp(),
                src2: RegMemImm::Imm(self.frame.frame_size as i32),
                dst: Writable::from_reg(rsp()),
            }
            .emit_with_state(self.buf, &self.st);
        }
        for (r, off) in self.frame.csr_slots() {
            control::save_csr(r, off).emit_with_state(self.buf, &self.st);
        }
    }

    fn epilogue(&mut self) {
        use regs::{rbp, rsp};
        for (r, off) in self.frame.csr_slots() {
            control::restore_csr(r, off).emit_with_state(self.buf, &self.st);
        }
        MInst::MovRR {
            size: OperandSize::Size64,
            src: rbp(),
            dst: Writable::from_reg(rsp()),
        }
        .emit_with_state(self.buf, &self.st);
        MInst::Pop64 {
            dst: Writable::from_reg(rbp()),
        }
        .emit_with_state(self.buf, &self.st);
    }
}

impl EmitSink<MInst> for X64Sink<'_> {
    fn begin_block(&mut self, block: BlockIndex, _frame: &FrameLayout) -> CodegenResult<()> {
        self.buf
            .bind_label(MachLabel::from_block(block.index() as u32));
        Ok(())
    }

    fn emit(&mut self, inst: &MInst, info: EmitInfo<'_>) -> CodegenResult<()> {
        if matches!(inst, MInst::Ret { .. }) {
            self.epilogue();
        }
        let loc = info.srcloc;
        if !loc.is_default() {
            self.buf.start_srcloc(loc);
        }
        if !control::emit_frame_dependent(inst, self.buf, &self.st, self.frame) {
            inst.emit_with_state(self.buf, &self.st);
        }
        if !loc.is_default() {
            self.buf.end_srcloc();
        }
        Ok(())
    }
}

impl X64Backend {
    /// Lowers a function to VCode (for listings and tests) and returns it
    /// with the lowering state.
    fn lower_to_vcode(
        &self,
        f: &FunctionStencil,
        recycled: VCode<MInst>,
    ) -> CodegenResult<(VCode<MInst>, lower::X64LowerInfo, lower::X64LowerState)> {
        let sig = abi::sig_locs(&f.signature)?;
        let (slot_offsets, slots_size) = abi::stack_slot_layout(f)?;
        let info = lower::X64LowerInfo {
            sig,
            slot_offsets,
            slots_size,
            has_popcnt: self.isa_flags.has("has_popcnt"),
            has_sse41: self.isa_flags.has("has_sse41"),
            has_fma: self.isa_flags.has("has_fma"),
            test_fault: self.flags.test_fault,
        };
        let backend = lower::X64LowerBackend {
            info: &info,
            state: RefCell::new(lower::X64LowerState::default()),
        };
        let vcode = Lower::new(f, recycled)?.lower(&backend)?;
        let state = backend.state.into_inner();
        Ok((vcode, info, state))
    }

    /// The VCode listing of a function after lowering (before allocation).
    pub fn vcode_listing(&self, f: &FunctionStencil) -> CodegenResult<String> {
        let (vcode, _, _) = self.lower_to_vcode(f, VCode::default())?;
        Ok(vcode.to_string())
    }

    fn compile_with(
        &self,
        f: &FunctionStencil,
        cx: &mut CompileContext,
    ) -> CodegenResult<CompiledCode<Stencil>> {
        let recycled = cx.vcode.take().unwrap_or_default();
        let (mut vcode, info, state) = self.lower_to_vcode(f, recycled)?;
        let config = RegallocConfig {
            run_checker: self.flags.regalloc_checker,
            ..RegallocConfig::default()
        };
        let output = regalloc::run(&vcode, &self.env, &config, &mut cx.regalloc)?;
        let conv = abi::convention(f.signature.call_conv)?;
        let layout = FrameLayout::compute(&vcode, output, 0, abi::callee_saved(conv), 16)?;
        let mut frame = X64Frame::new(
            state.outgoing,
            layout.spill_area_size,
            layout.clobbered_callee_saves.clone(),
            info.slots_size,
        )?;
        frame.callee_pop = info.sig.callee_pop;
        let mut buf = MachBuffer::<X64LabelUse>::new();
        buf.reserve_labels_for_blocks(vcode.num_blocks() as u32);
        let mut sink = X64Sink {
            buf: &mut buf,
            st: EmitState {
                spillslot_bytes: layout.spillslot_bytes,
                spill_base: frame.outgoing as i32,
                frame_size: frame.frame_size,
            },
            frame: &frame,
        };
        sink.prologue();
        vcode.emit(output, &self.env, &layout, &mut sink)?;
        buf.emit_deferred_traps(&emit::UD2);
        let done = buf
            .finish()
            .map_err(|e| CodegenError::Emit(e.to_string()))?;
        cx.vcode = Some(vcode);
        Ok(CompiledCode::from_buffer(
            done,
            state.testcase_names,
            frame.frame_size + 16 + 8 * frame.csrs.len() as u32,
        ))
    }
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
    fn key_flags(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.key_flags)
    }
    fn compile_stencil(&self, stencil: &FunctionStencil) -> CodegenResult<CompiledCode<Stencil>> {
        let optimized = crate::opt::optimize(&self.flags, stencil);
        let stencil = optimized.as_ref().unwrap_or(stencil);
        COMPILE_CTX.with(|cx| match cx.try_borrow_mut() {
            Ok(mut cx) => self.compile_with(stencil, &mut cx),
            // Re-entrant use on this thread: compile with fresh buffers.
            Err(_) => self.compile_with(stencil, &mut CompileContext::default()),
        })
    }
}
