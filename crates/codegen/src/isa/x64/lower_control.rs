//! Control-flow lowering beyond the core (rules in
//! `isle-rules/x64/lower_control.isle`): tail calls, `try_call` without
//! handlers and the trapping add.
//! A child module of `lower` so that it can extend the rules' `Ctx`.

use super::abi::{self, ArgLoc};
use super::*;
use crate::result::CodegenResult;
use regalloc2::PRegSet;

impl Ctx<'_, '_, '_> {
    /// Lowers `return_call` / `return_call_indirect` to `MInst::ReturnCall`
    /// when [`call::return_call_setup`] allows it (x86-64's own condition:
    /// [`Self::tail_call_regs_free`]).
    pub(super) fn gen_return_call(&mut self, inst: Inst) -> Option<InstOutput> {
        let info = self.info;
        let site = call::return_call_setup(self, &info.sig, inst)?;
        let target = match site.callee {
            Ok(func_ref) => {
                let data = &self.l.f.dfg.ext_funcs[func_ref];
                let target = self.reloc_target(&data.name);
                if data.colocated {
                    ReturnCallTarget::Known(CallTarget::from(target))
                } else {
                    let t = self.load_ext_name(target, 0, false);
                    ReturnCallTarget::Reg(t)
                }
            }
            Err(r) => ReturnCallTarget::Reg(r),
        };
        self.l.emit(MInst::ReturnCall {
            info: Box::new(ReturnCallInfo {
                target,
                uses: site.uses,
                stack_args: site.locs.stack_args_size,
            }),
        });
        Some(InstOutput::none())
    }

    /// A tail call to `sig` (locations `locs`) must not pass an argument in
    /// one of our callee-saved registers (restored before the jump) nor in
    /// the sequence's scratch registers (rax, r10, r11); `Unsupported`
    /// otherwise.
    pub(super) fn tail_call_regs_free(
        &mut self,
        sig: &kiln_ir::Signature,
        locs: &abi::SigLocs,
    ) -> CodegenResult<()> {
        let f = self.l.f;
        let own_conv = abi::convention(f.signature.call_conv)?;
        let mut reserved = abi::callee_saved(own_conv, self.info.pinned_reg);
        for e in [regs::enc::RAX, regs::enc::R10, regs::enc::R11] {
            reserved.add(regs::gpr_preg(e));
        }
        let mut arg_regs = PRegSet::empty();
        if locs.has_ret_area() {
            arg_regs.add(locs.ret_area_reg);
        }
        for loc in locs.params.iter().flatten() {
            if let ArgLoc::Reg(p) = loc {
                arg_regs.add(*p);
            }
        }
        if arg_regs.into_iter().any(|p| reserved.contains(p)) {
            return Err(CodegenError::Unsupported {
                what: format!(
                    "return_call from a {} function to a {} callee (argument registers are callee-saved)",
                    f.signature.call_conv.as_str(),
                    sig.call_conv.as_str()
                ),
            });
        }
        Ok(())
    }

    /// Lowers a `try_call` / `try_call_indirect` (the shared half in
    /// [`call::try_call_setup`]). Without handlers it is a plain call
    /// followed by a jump to the normal-return block. With handlers
    /// (`tagN:` / `default:`) the call itself ends the block: it clobbers
    /// every allocatable register (an unwinder restores only rsp and rbp),
    /// defines the payloads `exn0` / `exn1` in rax / rdx, records its
    /// handler labels with the tags for the exception table, and jumps to
    /// the normal block on return.
    pub(super) fn gen_try_call(&mut self, inst: Inst) -> Option<()> {
        let targets = self.targets;
        let site = call::try_call_setup(self, inst, targets, PAYLOAD_REGS)?;
        let mut clobbers = abi::call_clobbers_for(abi::convention(site.call_conv).ok()?);
        let try_call = if site.handlers.is_empty() {
            None
        } else {
            let (pref, non_pref) = regs::allocatable_gprs();
            for p in pref
                .into_iter()
                .chain(non_pref)
                .chain(regs::allocatable_xmms())
            {
                clobbers.add(p);
            }
            Some(Box::new(TryCallInfo {
                normal: site.normal,
                handlers: site.handlers,
            }))
        };
        let ends_block = try_call.is_some();
        let info = Box::new(CallInfo {
            uses: site.uses,
            defs: site.defs,
            clobbers,
            callee_pop: site.locs.callee_pop,
            try_call,
        });
        self.emit_call_to(site.callee, info);
        if ends_block {
            return Some(());
        }
        for i in site.after {
            self.l.emit(i);
        }
        self.l.emit(MInst::JmpKnown { dst: site.normal });
        Some(())
    }

    /// Lowers `get_exception_handler_address block, n`: the address of the
    /// code where handler `n` of the `try_call` ending `block` is entered
    /// ([`call::exception_handler_label`]).
    pub(super) fn gen_exception_handler_address(&mut self, inst: Inst) -> Option<InstOutput> {
        let label = call::exception_handler_label(self.l, inst)?;
        let (d, dw) = self.w();
        self.l.emit(MInst::Lea {
            size: OperandSize::Size64,
            addr: Amode::rip_relative(label),
            dst: dw,
        });
        Some(InstOutput::one(d))
    }

    /// Lowers `uadd_overflow_trap` (i32/i64).
    pub(super) fn gen_uadd_overflow_trap(&mut self, inst: Inst) -> Option<InstOutput> {
        let f = self.l.f;
        let InstructionData::IntAddTrap { args, code, .. } = f.dfg.insts[inst] else {
            return None;
        };
        let ty = f.dfg.value_type(args[0]);
        let size = match ty {
            Type::I32 => OperandSize::Size32,
            Type::I64 => OperandSize::Size64,
            _ => return None,
        };
        let a = self.l.put_in_reg(args[0]);
        let b = self.l.put_in_reg(args[1]);
        let (d, dw) = self.w();
        self.l.emit(MInst::AluRmiR {
            size,
            op: AluOp::Add,
            src1: a,
            src2: RegMemImm::Reg(b),
            dst: dw,
        });
        // Register moves the allocator may insert here keep the flags.
        self.l.emit(MInst::TrapIf { cc: CC::B, code });
        Some(InstOutput::one(d))
    }
}

/// The registers that carry the exception payloads `exn0`, `exn1` into a
/// handler (as in Cranelift's x64 backend).
pub(super) const PAYLOAD_REGS: [PReg; 2] = [
    regs::gpr_preg(regs::enc::RAX),
    regs::gpr_preg(regs::enc::RDX),
];

/// Per payload register, the result part (result index, part index) of
/// `try_call` `inst` that the ABI returns in it, if any.
pub(super) fn payload_shares(
    f: &kiln_ir::FunctionStencil,
    inst: Inst,
) -> [Option<(usize, usize)>; 2] {
    let locs = f
        .dfg
        .try_call_signature(inst)
        .and_then(|s| abi::sig_locs(s).ok());
    call::payload_shares(locs.as_ref(), PAYLOAD_REGS)
}
