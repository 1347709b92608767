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

    fn jump_label(&self) -> Option<crate::machinst::buffer::MachLabel> {
        match self {
            MInst::JmpKnown { dst } => Some(*dst),
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
        MInst::gen_spill(slot, src)
    }

    fn gen_reload(dst: PReg, slot: SpillSlot) -> Self {
        MInst::gen_reload(dst, slot)
    }
}

use crate::compiled::{CompiledCode, Stencil};
use crate::isa::TargetIsa;
use crate::machinst::abi::{FrameLayout, FrameRequest, FrameShape};
use crate::machinst::buffer::MachBuffer;
use crate::machinst::compile::{self, Backend, Context, Lowered};
use crate::machinst::lower::Lower;
use crate::machinst::regalloc::RegallocConfig;
use crate::machinst::vcode::{EmitInfo, VCode};
use crate::result::CodegenResult;
use crate::settings::{Arch, Flags, IsaFlags, RegallocAlgorithm};
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
        env: abi::machine_env(flags.enable_pinned_reg),
        key_flags: super::key_flag_bytes(&flags, &isa_flags),
        flags,
        isa_flags,
    }))
}

impl X64Backend {
    /// Lowers a function to VCode with the x86-64 rules.
    fn lower_to_vcode(
        &self,
        f: &FunctionStencil,
        recycled: VCode<MInst>,
    ) -> CodegenResult<Lowered<MInst>> {
        self.check_llvm_abi_extensions(f)?;
        let sig = abi::sig_locs(&f.signature)?;
        let callee_sigs = self.callee_sig_locs(f, &sig)?;
        let conv = abi::convention(f.signature.call_conv)?;
        let (slot_offsets, slots_size) = abi::stack_slot_layout(f)?;
        // A stack argument is at `[rbp + 16 + offset]`.
        let stack_limit = crate::machinst::abi::stack_limit(f, &sig, 16)?;
        let info = lower::X64LowerInfo {
            sig,
            callee_sigs,
            slot_offsets,
            slots_size,
            has_popcnt: self.isa_flags.has("has_popcnt"),
            has_sse41: self.isa_flags.has("has_sse41"),
            has_fma: self.isa_flags.has("has_fma"),
            has_bmi2: self.isa_flags.has("has_bmi2"),
            has_bmi1: self.isa_flags.has("has_bmi1"),
            has_lzcnt: self.isa_flags.has("has_lzcnt"),
            has_avx: self.isa_flags.has("has_avx"),
            test_fault: self.flags.test_fault,
            pinned_reg: self.flags.enable_pinned_reg,
            is_pic: self.flags.is_pic,
        };
        let backend = lower::X64LowerBackend {
            info: &info,
            state: RefCell::new(lower::X64LowerState::default()),
        };
        let (vcode, testcase_names) = Lower::new(f, recycled)?.lower(&backend)?;
        let state = backend.state.into_inner();
        Ok(Lowered {
            vcode,
            frame: FrameRequest {
                outgoing_args_size: state.call.outgoing,
                stackslots_size: info.slots_size,
                callee_saved: abi::callee_saved(conv, self.flags.enable_pinned_reg),
                callee_pop: info.sig.callee_pop,
                stack_limit,
                ..FrameRequest::default()
            },
            testcase_names,
        })
    }

    /// `enable_llvm_abi_extensions` is what lets a `windows_fastcall`
    /// signature carry an `i128` (in two registers, as LLVM does); without
    /// it such a signature, of the function or of a call it makes, is
    /// rejected naming the setting, as in Cranelift.
    fn check_llvm_abi_extensions(&self, f: &FunctionStencil) -> CodegenResult<()> {
        if self.flags.enable_llvm_abi_extensions {
            return Ok(());
        }
        let sigs = std::iter::once(&f.signature).chain(f.dfg.signatures.values());
        for sig in sigs {
            let wide = sig
                .params
                .iter()
                .chain(&sig.returns)
                .any(|p| p.value_type == kiln_ir::Type::I128);
            if sig.call_conv == kiln_ir::CallConv::WindowsFastcall && wide {
                return Err(crate::result::CodegenError::Unsupported {
                    what: "i128 in a windows_fastcall signature without \
                           enable_llvm_abi_extensions"
                        .into(),
                });
            }
        }
        Ok(())
    }

    /// More returns than the return registers hold need a return area
    /// passed as a hidden pointer; Cranelift does that only with
    /// `enable_multi_ret_implicit_sret` and otherwise rejects the
    /// signature. So does Kiln, naming the setting.
    ///
    /// Without that setting every declared signature's locations are
    /// computed here for the check; they are returned (by `SigRef` index)
    /// so that call sites share them instead of computing them again. With
    /// it, nothing is checked and the table is empty (a declared signature
    /// that no instruction uses is then never computed, as before).
    fn callee_sig_locs(
        &self,
        f: &FunctionStencil,
        own: &abi::SigLocs,
    ) -> CodegenResult<Vec<std::rc::Rc<abi::SigLocs>>> {
        if self.flags.enable_multi_ret_implicit_sret {
            return Ok(Vec::new());
        }
        let too_many = || {
            Err(crate::result::CodegenError::Unsupported {
                what: "more return values than return registers without \
                       enable_multi_ret_implicit_sret"
                    .into(),
            })
        };
        if own.has_ret_area() {
            return too_many();
        }
        let mut table = Vec::with_capacity(f.dfg.signatures.len());
        for sig in f.dfg.signatures.values() {
            let locs = abi::sig_locs(sig)?;
            if locs.has_ret_area() {
                return too_many();
            }
            table.push(std::rc::Rc::new(locs));
        }
        Ok(table)
    }

    /// The VCode listing of a function after lowering (before allocation).
    pub fn vcode_listing(&self, f: &FunctionStencil) -> CodegenResult<String> {
        Ok(self.lower_to_vcode(f, VCode::default())?.vcode.to_string())
    }
}

impl Backend for X64Backend {
    type Inst = MInst;
    type LabelUse = X64LabelUse;
    type EmitState = EmitState;

    /// `call` pushes the return address and the prologue pushes rbp; the
    /// 16-byte XMM saves use `movdqu`, so their slots need no alignment.
    const FRAME_SHAPE: FrameShape = FrameShape {
        stack_align: 16,
        setup_area_size: 16,
        save_bytes: [8, 16, 16],
    };

    fn machine_env(&self) -> &regalloc2::MachineEnv {
        &self.env
    }

    fn regalloc_config(&self) -> RegallocConfig {
        RegallocConfig {
            run_checker: self.flags.regalloc_checker,
            algorithm: match self.flags.regalloc_algorithm {
                RegallocAlgorithm::Backtracking => regalloc2::Algorithm::Ion,
                RegallocAlgorithm::SinglePass => regalloc2::Algorithm::Fastalloc,
            },
            ..RegallocConfig::default()
        }
    }

    fn lower(&self, f: &FunctionStencil, recycled: VCode<MInst>) -> CodegenResult<Lowered<MInst>> {
        self.lower_to_vcode(f, recycled)
    }

    fn gen_prologue(&self, frame: &FrameLayout, out: &mut Vec<MInst>) {
        let probe = control::ProbeConfig {
            enabled: self.flags.enable_probestack,
            inline: self.flags.probestack_inline,
            guard_size: 1u32 << self.flags.probestack_size_log2.min(30),
        };
        control::gen_prologue(frame, probe, out)
    }

    fn gen_epilogue(&self, frame: &FrameLayout, out: &mut Vec<MInst>) {
        control::gen_epilogue(frame, out)
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
        control::frame_unwind(inst, part, frame, out)
    }

    fn emit_state(&self, frame: &FrameLayout) -> EmitState {
        EmitState {
            spillslot_bytes: frame.spillslot_bytes,
            spill_base: frame.outgoing_args_size as i32,
            frame_size: frame.fixed_frame_size,
            avx: self.isa_flags.has("has_avx"),
        }
    }

    #[inline]
    fn emit_inst(
        &self,
        inst: &MInst,
        info: &EmitInfo<'_>,
        state: &mut EmitState,
        buf: &mut MachBuffer<X64LabelUse>,
    ) -> CodegenResult<()> {
        if !control::emit_frame_dependent(inst, buf, state, info.frame) {
            inst.emit_with_state(buf, state);
        }
        Ok(())
    }

    fn trap_bytes(&self) -> &'static [u8] {
        &emit::UD2
    }

    fn nop_bytes(&self) -> &'static [u8] {
        // `nop`
        &[0x90]
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
