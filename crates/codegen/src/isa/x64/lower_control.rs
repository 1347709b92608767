//! Control-flow lowering beyond the core (rules in
//! `isle-rules/x64/lower_control.isle`): tail calls and the trapping add.
//! A child module of `lower` so that it can extend the rules' `Ctx`.

use super::abi::{self, ArgLoc};
use super::*;
use regalloc2::PRegSet;

impl Ctx<'_, '_, '_> {
    fn unsupported_out(&mut self, what: impl Into<String>) -> Option<InstOutput> {
        self.unsupported_err(what.into());
        Some(InstOutput::none())
    }

    /// Lowers `return_call` / `return_call_indirect` to `MInst::ReturnCall`.
    ///
    /// Allowed when the tail call can reuse this function's return
    /// contract: the callee's returns are in the same locations as ours
    /// (its results flow straight to our caller; a return area is our own
    /// incoming one, passed on), the callee pops its stack arguments or has
    /// none, and none of our callee-saved registers (restored before the
    /// jump) nor the sequence's scratch registers (rax, r10, r11) carries a
    /// callee argument. Everything else is `Unsupported`.
    pub(super) fn gen_return_call(&mut self, inst: Inst) -> Option<InstOutput> {
        let f = self.l.f;
        let (sig_ref, callee, args): (SigRef, Result<FuncRef, Value>, Vec<Value>) =
            match f.dfg.insts[inst] {
                InstructionData::Call { func_ref, args, .. } => {
                    let sig = f.dfg.ext_funcs[func_ref].signature;
                    (sig, Ok(func_ref), f.dfg.value_list(args).to_vec())
                }
                InstructionData::CallIndirect { sig_ref, args, .. } => {
                    let all = f.dfg.value_list(args);
                    let (callee, rest) = all.split_first()?;
                    (sig_ref, Err(*callee), rest.to_vec())
                }
                _ => return None,
            };
        let sig = f.dfg.signatures.get(sig_ref)?;
        let locs = match abi::sig_locs(sig) {
            Ok(l) => l,
            Err(e) => {
                self.l.set_error(e);
                return Some(InstOutput::none());
            }
        };
        let own = &self.info.sig;
        if locs.returns != own.returns || locs.ret_area_size != own.ret_area_size {
            return self.unsupported_out(format!(
                "return_call to a {} callee whose returns are not where ours are",
                sig.call_conv.as_str()
            ));
        }
        if locs.stack_args_size > 0 && locs.callee_pop != locs.stack_args_size {
            return self.unsupported_out(format!(
                "return_call with stack arguments to a {} callee (only `tail` callees pop them)",
                sig.call_conv.as_str()
            ));
        }
        let own_conv = match abi::convention(f.signature.call_conv) {
            Ok(c) => c,
            Err(e) => {
                self.l.set_error(e);
                return Some(InstOutput::none());
            }
        };
        let mut reserved = abi::callee_saved(own_conv);
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
            return self.unsupported_out(format!(
                "return_call from a {} function to a {} callee (argument registers are callee-saved)",
                f.signature.call_conv.as_str(),
                sig.call_conv.as_str()
            ));
        }

        let mut uses: SmallVec<[(Reg, PReg); 8]> = SmallVec::new();
        self.state.outgoing = self.state.outgoing.max(locs.stack_args_size);
        if locs.has_ret_area() {
            let p = match self.state.ret_area_ptr {
                Some(r) => r,
                None => {
                    let r = self.tmp();
                    self.state.ret_area_ptr = Some(r);
                    r
                }
            };
            uses.push((p, locs.ret_area_reg));
        }
        for (i, &a) in args.iter().enumerate() {
            let ty = f.dfg.value_type(a);
            let param = sig.params.get(i)?;
            let mut parts: SmallVec<[Reg; 2]> = self
                .l
                .put_value_in_regs(a)
                .regs
                .iter()
                .flatten()
                .copied()
                .collect();
            if ty.is_int() && ty.bits() < 32 {
                let r = parts.first().copied()?;
                match param.extension {
                    kiln_ir::ArgumentExtension::Uext => parts[0] = self.extend(ty, 32, false, r),
                    kiln_ir::ArgumentExtension::Sext => parts[0] = self.extend(ty, 32, true, r),
                    kiln_ir::ArgumentExtension::None => {}
                }
            }
            let part_ty = if ty == Type::I128 { Type::I64 } else { ty };
            let plocs = locs.params.get(i)?;
            if plocs.len() != parts.len() {
                return None;
            }
            for (r, loc) in parts.into_iter().zip(plocs.iter()) {
                match loc {
                    ArgLoc::Reg(p) => {
                        let r = self.unique(r, uses.iter().map(|u| u.0));
                        uses.push((r, *p));
                    }
                    // Staged in our outgoing area; the ReturnCall sequence
                    // moves them into place once nothing reads our frame.
                    ArgLoc::Stack(off) => {
                        let addr = Amode::imm_reg(*off as i32, regs::rsp());
                        self.l.emit(store_inst(part_ty, r, addr));
                    }
                }
            }
        }
        let target = match callee {
            Ok(func_ref) => {
                let data = &f.dfg.ext_funcs[func_ref];
                let target = self.reloc_target(&data.name);
                if data.colocated {
                    ReturnCallTarget::Known(match target {
                        RelocTarget::User(u) => CallTarget::User(u),
                        RelocTarget::LibCall(l) => CallTarget::LibCall(l),
                        RelocTarget::KnownSymbol(k) => CallTarget::KnownSymbol(k),
                        RelocTarget::TestCase(i) => CallTarget::TestCase(i),
                    })
                } else {
                    let (t, tw) = self.w();
                    self.l.emit(MInst::LoadExtName {
                        target,
                        offset: 0,
                        dst: tw,
                    });
                    ReturnCallTarget::Reg(t)
                }
            }
            Err(callee) => {
                let t = self.l.put_in_reg(callee);
                ReturnCallTarget::Reg(self.unique(t, uses.iter().map(|u| u.0)))
            }
        };
        self.l.emit(MInst::ReturnCall {
            target,
            uses,
            stack_args: locs.stack_args_size,
        });
        Some(InstOutput::none())
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
