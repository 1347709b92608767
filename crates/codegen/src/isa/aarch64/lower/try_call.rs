//! `try_call` / `try_call_indirect` and `get_exception_handler_address`
//! on aarch64 (the rules of `isle-rules/aarch64/lower_try_call.isle`).
//!
//! A `try_call` ends its block. Its results are the normal-return block's
//! `retN` arguments (registers the driver hands out,
//! `Lower::try_call_ret_regs`). Without handlers it is a plain call and a
//! jump. With handlers (`tagN:` / `default:`) the call itself is the
//! terminator (`MInst::TryCall`): it records an exception site (return
//! address, handlers, sp's distance below x29) and jumps to the normal
//! block on return; the payloads `exn0` / `exn1` arrive in x0 / x1, as in
//! Cranelift's aarch64 backend.
//!
//! A throw restores only sp and x29 before entering a handler (the walk of
//! `__cranelift_throw` does not recover callee-saved registers from the
//! frames it unwinds), so across such a call every allocatable register is
//! clobbered — the callee-saved ones included, as the x86-64 backend does.
//! Two consequences: nothing lives in a register across the call, and the
//! function's prologue saves (and its epilogues restore) every callee-saved
//! register, so its own caller still gets them back whichever way the call
//! ended.

use super::Ctx;
use crate::isa::aarch64::abi::{self, ArgLoc, SigLocs};
use crate::isa::aarch64::args::*;
use crate::isa::aarch64::inst::*;
use crate::isa::aarch64::regs;
use crate::machinst::buffer::MachLabel;
use crate::machinst::lower::InstOutput;
use crate::machinst::reg::{Reg, Writable};
use crate::result::CodegenError;
use kiln_ir::entity::EntityRef;
use kiln_ir::{ExceptionTableItem, FunctionStencil, Inst, InstructionData, Opcode, Type, Value};
use regalloc2::{PReg, PRegSet};

/// The registers that carry the exception payloads `exn0`, `exn1` into a
/// handler: x0 and x1 (Cranelift's aarch64 convention).
pub(crate) const PAYLOAD_REGS: [PReg; 2] = [regs::xreg_preg(0), regs::xreg_preg(1)];

/// Per payload register, the result part (result index, part index) of
/// `try_call` `inst` that the ABI returns in the same register, if any
/// (`LowerBackend::try_call_payload_shares`).
pub(crate) fn payload_shares(f: &FunctionStencil, inst: Inst) -> [Option<(usize, usize)>; 2] {
    let Some(locs) = f
        .dfg
        .try_call_signature(inst)
        .and_then(|s| abi::sig_locs(s).ok())
    else {
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

/// Every register the allocator may hand out (the pinned x28 is never
/// allocated, so it is left out with `enable_pinned_reg`).
fn all_allocatable(pinned: bool) -> PRegSet {
    let (xp, xn) = regs::allocatable_xregs();
    let (vp, vn) = regs::allocatable_vregs();
    let pinned_reg = regs::xreg_preg(regs::PINNED_ENC);
    xp.into_iter()
        .chain(xn)
        .filter(|&p| !(pinned && p == pinned_reg))
        .chain(vp)
        .chain(vn)
        .fold(PRegSet::empty(), |s, p| s.with(p))
}

impl Ctx<'_, '_, '_> {
    /// Puts the arguments of a call with locations `locs` where the callee
    /// expects them: register parts into `uses`, stack parts stored into
    /// the outgoing area at sp. `None` if they do not match the signature.
    fn try_call_args(
        &mut self,
        sig: &kiln_ir::Signature,
        locs: &SigLocs,
        args: &[Value],
        uses: &mut Vec<(Reg, PReg)>,
    ) -> Option<()> {
        let f = self.l.f;
        for (i, &a) in args.iter().enumerate() {
            let ty = f.dfg.value_type(a);
            let param = sig.params.get(i)?;
            let mut parts: Vec<Reg> = self
                .l
                .put_value_in_regs(a)
                .regs
                .iter()
                .flatten()
                .copied()
                .collect();
            if let Some(signed) = abi::caller_extension(locs, ty, param.extension) {
                let first = parts.first_mut()?;
                *first = self.extend(ty, signed, 32, *first);
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
                    ArgLoc::Stack(off) => self.l.emit(MInst::Store {
                        kind: super::store_kind_of(part_ty),
                        rd: r,
                        mem: AMode::SpOffset { off: *off as i64 },
                    }),
                }
            }
        }
        Some(())
    }

    /// Lowers a `try_call` / `try_call_indirect` ending the current block
    /// (successor labels in `self.targets`: the normal block, then one per
    /// handler in table order). See the module docs.
    pub(super) fn gen_try_call(&mut self, inst: Inst) -> Option<()> {
        let f = self.l.f;
        let (callee, args, exception): (Result<kiln_ir::FuncRef, Value>, Vec<Value>, _) =
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
        // Handler items in order name `targets[1..]`; `context` items are
        // not destinations.
        let mut handlers: Vec<(Option<u32>, MachLabel)> = Vec::new();
        for item in &table.items {
            let tag = match item {
                ExceptionTableItem::Tag(t) => Some(*t),
                ExceptionTableItem::Default => None,
                ExceptionTableItem::Context(_) => continue,
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
        if locs.callee_pop > 0 {
            // The callee pops its stack arguments; the call would need the
            // frame fix-up the plain call path does not have yet either.
            self.l.set_error(CodegenError::Unsupported {
                what: "try_call to a tail-convention function with stack arguments on aarch64"
                    .into(),
            });
            return Some(());
        }
        let rets = match self.l.try_call_ret_regs(inst) {
            Ok(r) => r,
            Err(e) => {
                self.l.set_error(e);
                return Some(());
            }
        };
        self.state.outgoing = self
            .state
            .outgoing
            .max(locs.stack_args_size + locs.ret_area_size);
        let mut uses: Vec<(Reg, PReg)> = Vec::new();
        if locs.has_ret_area() {
            let (p, pw) = self.wi();
            self.l.emit(MInst::LoadAddr {
                rd: pw,
                mem: AMode::SpOffset {
                    off: locs.stack_args_size as i64,
                },
            });
            uses.push((p, regs::xreg_preg(regs::INDIRECT_RESULT_ENC)));
        }
        self.try_call_args(sig, &locs, &args, &mut uses)?;
        let mut defs: Vec<(Writable<Reg>, PReg)> = Vec::new();
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
                    ArgLoc::Stack(off) => after.push(MInst::Load {
                        kind: super::load_kind_of(part_ty),
                        rd: Writable::from_reg(reg),
                        mem: AMode::SpOffset {
                            off: (locs.stack_args_size + off) as i64,
                        },
                    }),
                }
            }
        }
        let callee = match callee {
            Ok(func_ref) => {
                let name = f.dfg.ext_funcs.get(func_ref)?.name.clone();
                TryCallee::Known(self.l.reloc_target(&name))
            }
            Err(v) => TryCallee::Reg(self.l.put_in_reg(v)),
        };
        if handlers.is_empty() {
            // No handler: nothing can land here but the return.
            let clobbers = regs::call_clobbers(self.info.wide_fp_values);
            match callee {
                // A callee that pops its arguments was refused above.
                TryCallee::Known(target) => self.l.emit(MInst::Call {
                    target,
                    uses,
                    defs,
                    clobbers,
                    callee_pop: 0,
                }),
                TryCallee::Reg(rn) => self.l.emit(MInst::CallInd {
                    rn,
                    uses,
                    defs,
                    clobbers,
                    callee_pop: 0,
                }),
            }
            for i in after {
                self.l.emit(i);
            }
            self.l.emit(MInst::Jump { target: normal });
            return Some(());
        }
        if !after.is_empty() {
            // They would need code between the terminating call and the
            // normal block.
            self.l.set_error(CodegenError::Unsupported {
                what: "try_call with handlers and results in stack slots".into(),
            });
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
            // A result in a payload register is the same virtual register
            // (`payload_shares`): defined once.
            match defs.iter().find(|(_, d)| *d == p) {
                Some((w, _)) if w.to_reg() == r => {}
                Some(_) => return None,
                None => defs.push((Writable::from_reg(r), p)),
            }
        }
        let mut clobbers = regs::aapcs_clobbers();
        clobbers.union_from(all_allocatable(self.info.pinned_reg));
        self.l.emit(MInst::TryCall {
            info: Box::new(TryCallInfo {
                callee,
                uses,
                defs,
                clobbers,
                normal,
                handlers,
            }),
        });
        Some(())
    }

    /// Lowers `get_exception_handler_address block, n`: `adr` of the label
    /// where handler `n` (table order, the normal return not counted) of
    /// the `try_call` ending `block` is entered — that successor's label
    /// (a split edge block where there is one), as the exception site
    /// records it.
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
        let (d, dw) = self.wi();
        self.l.emit(MInst::Adr {
            rd: dw,
            label: MachLabel::from_block(succ.index() as u32),
        });
        Some(InstOutput::one(d))
    }
}
