//! Control-flow lowering beyond the core (rules in
//! `isle-rules/x64/lower_control.isle`): tail calls, `try_call` without
//! handlers and the trapping add.
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
        let (sig_ref, callee, args) = self.call_parts(inst)?;
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
        if !self.marshal_args(sig, &locs, &args, &mut uses) {
            return None;
        }
        let target = match callee {
            Ok(func_ref) => {
                let data = &f.dfg.ext_funcs[func_ref];
                let target = self.reloc_target(&data.name);
                if data.colocated {
                    ReturnCallTarget::Known(CallTarget::from(target))
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
            info: Box::new(ReturnCallInfo {
                target,
                uses,
                stack_args: locs.stack_args_size,
            }),
        });
        Some(InstOutput::none())
    }

    /// The argument side of a non-tail call site: reserves the outgoing
    /// area (stack arguments and the return area), points the hidden
    /// return-area register at it when the signature has one, and
    /// marshals `args` (see [`Self::marshal_args`]). `false` if the
    /// operands do not match the signature.
    pub(super) fn call_site_args(
        &mut self,
        sig: &kiln_ir::Signature,
        locs: &abi::SigLocs,
        args: &[Value],
        uses: &mut SmallVec<[(Reg, PReg); 8]>,
    ) -> bool {
        self.state.outgoing = self
            .state
            .outgoing
            .max(locs.stack_args_size + locs.ret_area_size);
        if locs.has_ret_area() {
            let (p, pw) = self.w();
            self.l.emit(MInst::Lea {
                size: OperandSize::Size64,
                addr: Amode::imm_reg(locs.stack_args_size as i32, regs::rsp()),
                dst: pw,
            });
            uses.push((p, locs.ret_area_reg));
        }
        self.marshal_args(sig, locs, args, uses)
    }

    /// Puts call arguments where `locs` wants them: register parts into
    /// `uses` (fixed-register uses of the call), stack parts stored at
    /// `[rsp + offset]` (the outgoing area). `false` if the operands do not
    /// match the signature.
    pub(super) fn marshal_args(
        &mut self,
        sig: &kiln_ir::Signature,
        locs: &abi::SigLocs,
        args: &[Value],
        uses: &mut SmallVec<[(Reg, PReg); 8]>,
    ) -> bool {
        let f = self.l.f;
        for (i, &a) in args.iter().enumerate() {
            let ty = f.dfg.value_type(a);
            let Some(param) = sig.params.get(i) else {
                return false;
            };
            let mut parts: SmallVec<[Reg; 2]> = self
                .l
                .put_value_in_regs(a)
                .regs
                .iter()
                .flatten()
                .copied()
                .collect();
            if ty.is_int() && ty.bits() < 32 {
                let Some(r) = parts.first().copied() else {
                    return false;
                };
                match param.extension {
                    kiln_ir::ArgumentExtension::Uext => {
                        parts[0] = generated::constructor_x64_uextend(self, ty, Type::I32, r)
                    }
                    kiln_ir::ArgumentExtension::Sext => {
                        parts[0] = generated::constructor_x64_sextend(self, ty, Type::I32, r)
                    }
                    kiln_ir::ArgumentExtension::None => {}
                }
            }
            let part_ty = if ty == Type::I128 { Type::I64 } else { ty };
            let Some(plocs) = locs.params.get(i) else {
                return false;
            };
            if plocs.len() != parts.len() {
                return false;
            }
            for (r, loc) in parts.into_iter().zip(plocs.iter()) {
                match loc {
                    ArgLoc::Reg(p) => {
                        let r = self.unique(r, uses.iter().map(|u| u.0));
                        uses.push((r, *p));
                    }
                    ArgLoc::Stack(off) => {
                        let addr = Amode::imm_reg(*off as i32, regs::rsp());
                        self.emit_store(part_ty, r, addr);
                    }
                }
            }
        }
        true
    }

    /// Lowers a `try_call` / `try_call_indirect`: a call whose results
    /// (the `retN` block arguments) are the driver's `try_call_ret_regs`.
    /// Without handlers it is a plain call followed by a jump to the
    /// normal-return block. With handlers (`tagN:` / `default:`) the call
    /// itself ends the block: it clobbers every allocatable register (an
    /// unwinder restores only rsp and rbp), defines the payloads `exn0` /
    /// `exn1` in rax / rdx, records its handler labels with the tags for
    /// the exception table, and jumps to the normal block on return.
    /// A register result in rax/rdx shares its virtual register with the
    /// payload there (`payload_shares`). Stack results alongside handlers
    /// are `Unsupported` (they would need code after the terminating call).
    pub(super) fn gen_try_call(&mut self, inst: Inst) -> Option<()> {
        let f = self.l.f;
        let (callee, args, exception): (Result<FuncRef, Value>, Vec<Value>, _) =
            match f.dfg.insts[inst] {
                InstructionData::TryCall {
                    func_ref,
                    args,
                    exception,
                    ..
                } => (Ok(func_ref), f.dfg.value_list(args).to_vec(), exception),
                InstructionData::TryCallIndirect {
                    args, exception, ..
                } => {
                    let all = f.dfg.value_list(args);
                    let (callee, rest) = all.split_first()?;
                    (Err(*callee), rest.to_vec(), exception)
                }
                _ => return None,
            };
        let table = f.dfg.exception_tables.get(exception)?;
        let normal = *self.targets.first()?;
        if self.targets.len() != table.targets.len() {
            return None;
        }
        // Handler items in order name `targets[1..]`; `context` items are
        // not destinations.
        let mut handlers: Vec<(Option<u32>, MachLabel)> = Vec::new();
        for item in &table.items {
            let tag = match item {
                kiln_ir::ExceptionTableItem::Tag(t) => Some(*t),
                kiln_ir::ExceptionTableItem::Default => None,
                kiln_ir::ExceptionTableItem::Context(_) => continue,
            };
            handlers.push((tag, *self.targets.get(1 + handlers.len())?));
        }
        if 1 + handlers.len() != self.targets.len() {
            return None;
        }
        let sig = f.dfg.signatures.get(table.sig)?;
        let locs = match abi::sig_locs(sig) {
            Ok(l) => l,
            Err(e) => {
                self.l.set_error(e);
                return Some(());
            }
        };
        let rets = match self.l.try_call_ret_regs(inst) {
            Ok(r) => r,
            Err(e) => {
                self.l.set_error(e);
                return Some(());
            }
        };
        let mut uses: SmallVec<[(Reg, PReg); 8]> = SmallVec::new();
        let mut defs: SmallVec<[(Writable<Reg>, PReg); 4]> = SmallVec::new();
        if !self.call_site_args(sig, &locs, &args, &mut uses) {
            return None;
        }
        let mut after = Vec::new();
        for (i, parts) in rets.iter().enumerate() {
            let ty = sig.returns.get(i)?.value_type;
            let part_ty = if ty == Type::I128 { Type::I64 } else { ty };
            let plocs = locs.returns.get(i)?;
            if plocs.len() != parts.len() {
                return None;
            }
            for (&reg, loc) in parts.iter().zip(plocs.iter()) {
                match loc {
                    ArgLoc::Reg(p) => defs.push((Writable::from_reg(reg), *p)),
                    ArgLoc::Stack(off) => {
                        let addr = Amode::imm_reg((locs.stack_args_size + off) as i32, regs::rsp());
                        after.push(load_inst(part_ty, addr, Writable::from_reg(reg)));
                    }
                }
            }
        }
        let mut clobbers = abi::call_clobbers_for(abi::convention(sig.call_conv).ok()?);
        let try_call = if handlers.is_empty() {
            None
        } else {
            if !after.is_empty() {
                self.unsupported_err(
                    "try_call with handlers and results in stack slots".to_string(),
                );
                return Some(());
            }
            let exn = match self.l.try_call_exn_regs(inst, payload_shares(f, inst)) {
                Ok(r) => r,
                Err(e) => {
                    self.l.set_error(e);
                    return Some(());
                }
            };
            for (r, p) in exn.into_iter().zip(PAYLOAD_REGS) {
                // A result in the payload register is the same register
                // (`payload_shares`): defined once.
                match defs.iter().find(|(_, d)| *d == p) {
                    Some((w, _)) if w.to_reg() == r => {}
                    Some(_) => return None,
                    None => defs.push((Writable::from_reg(r), p)),
                }
            }
            let (pref, non_pref) = regs::allocatable_gprs();
            for p in pref
                .into_iter()
                .chain(non_pref)
                .chain(regs::allocatable_xmms())
            {
                clobbers.add(p);
            }
            Some(Box::new(TryCallInfo { normal, handlers }))
        };
        let ends_block = try_call.is_some();
        let info = Box::new(CallInfo {
            uses,
            defs,
            clobbers,
            callee_pop: locs.callee_pop,
            try_call,
        });
        self.emit_call_to(callee, info);
        if ends_block {
            return Some(());
        }
        for i in after {
            self.l.emit(i);
        }
        self.l.emit(MInst::JmpKnown { dst: normal });
        Some(())
    }

    /// Lowers `get_exception_handler_address block, n`: the address of the
    /// code where handler `n` (in table order, the normal return not
    /// counted) of the `try_call` ending `block` is entered, i.e. the label
    /// of that successor (a split edge block where there is one), as the
    /// exception table records it.
    pub(super) fn gen_exception_handler_address(&mut self, inst: Inst) -> Option<InstOutput> {
        let f = self.l.f;
        let InstructionData::ExceptionHandlerAddress { block, imm, .. } = f.dfg.insts[inst] else {
            return None;
        };
        let last = f.layout.last_inst(block)?;
        if !matches!(
            f.dfg.opcode(last),
            Opcode::TryCall | Opcode::TryCallIndirect
        ) {
            return None;
        }
        let n = usize::try_from(imm.bits()).ok()?;
        let vb = self.l.order.lowered_index_for_block(block.index() as u32)?;
        let succ = *self.l.order.succ_indices(vb).get(n.checked_add(1)?)?;
        let (d, dw) = self.w();
        self.l.emit(MInst::Lea {
            size: OperandSize::Size64,
            addr: Amode::rip_relative(MachLabel::from_block(succ.index() as u32)),
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
    let sig = f.dfg.try_call_signature(inst);
    let Some(locs) = sig.and_then(|s| abi::sig_locs(s).ok()) else {
        return [None, None];
    };
    PAYLOAD_REGS.map(|p| {
        locs.returns.iter().enumerate().find_map(|(i, parts)| {
            parts
                .iter()
                .position(|l| matches!(l, ArgLoc::Reg(r) if *r == p))
                .map(|j| (i, j))
        })
    })
}
