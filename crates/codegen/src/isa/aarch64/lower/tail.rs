//! Tail calls (`return_call`, `return_call_indirect`) and the argument
//! marshalling they share with calls. A child module of `lower` so that it
//! can extend the rules' `Ctx`; the frame-dependent sequence itself is in
//! `isa/aarch64/tail.rs`.

use super::{store_kind_of, Ctx};
use crate::isa::aarch64::abi::{self, ArgLoc, SigLocs};
use crate::isa::aarch64::args::*;
use crate::isa::aarch64::inst::*;
use crate::isa::aarch64::regs;
use crate::machinst::lower::InstOutput;
use crate::machinst::reg::Reg;
use crate::result::CodegenError;
use kiln_ir::{Inst, Signature, Type, Value};
use regalloc2::PReg;
use smallvec::SmallVec;

impl Ctx<'_, '_, '_> {
    /// Puts call arguments where `locs` wants them: register parts into
    /// `uses` (fixed-register uses of the call), stack parts stored at
    /// `[sp + offset]` (the outgoing area), narrow integers extended first
    /// when the convention makes that the caller's job. `None` if the
    /// operands do not match the signature.
    pub(super) fn marshal_args(
        &mut self,
        sig: &Signature,
        locs: &SigLocs,
        args: &[Value],
        uses: &mut SmallVec<[(Reg, PReg); 8]>,
    ) -> Option<()> {
        let f = self.l.f;
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
            if let Some(signed) = abi::caller_extension(locs, ty, param.extension) {
                parts[0] = self.extend(ty, signed, 32, parts[0]);
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
                        kind: store_kind_of(part_ty),
                        rd: r,
                        mem: AMode::SpOffset { off: *off as i64 },
                    }),
                }
            }
        }
        Some(())
    }

    fn tail_unsupported(&mut self, what: String) -> Option<InstOutput> {
        self.l.set_error(CodegenError::Unsupported { what });
        Some(InstOutput::none())
    }

    /// Lowers `return_call` / `return_call_indirect` to `MInst::ReturnCall`.
    ///
    /// Allowed when the tail call can reuse this function's return
    /// contract: the callee's returns are where ours are (its results flow
    /// straight to our caller; a return area is our own incoming one,
    /// passed on in x8), and the callee pops its stack arguments (`tail`)
    /// or has none. Argument registers (x0–x8, v0–v7) are never
    /// callee-saved under AAPCS64, so restoring ours before the branch
    /// cannot clobber one. Everything else is `Unsupported`.
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
            return self.tail_unsupported(format!(
                "return_call to a {} callee whose returns are not where ours are",
                sig.call_conv.as_str()
            ));
        }
        if locs.stack_args_size > 0 && locs.callee_pop != locs.stack_args_size {
            return self.tail_unsupported(format!(
                "return_call with stack arguments to a {} callee (only `tail` callees pop them)",
                sig.call_conv.as_str()
            ));
        }
        // The new stack arguments are stored in the outgoing area first and
        // moved by the sequence, which keeps every store above sp.
        self.state.outgoing = self.state.outgoing.max(locs.stack_args_size);
        let mut uses: SmallVec<[(Reg, PReg); 8]> = SmallVec::new();
        if locs.has_ret_area() {
            let p = match self.state.ret_area_ptr {
                Some(r) => r,
                None => {
                    let (r, _) = self.wi();
                    self.state.ret_area_ptr = Some(r);
                    r
                }
            };
            uses.push((p, regs::xreg_preg(regs::INDIRECT_RESULT_ENC)));
        }
        self.marshal_args(sig, &locs, &args, &mut uses)?;
        let target = match callee {
            Ok(func_ref) => {
                let name = f.dfg.ext_funcs[func_ref].name.clone();
                ReturnCallTarget::Known(self.l.reloc_target(&name))
            }
            Err(v) => {
                let t = self.l.put_in_reg(v);
                ReturnCallTarget::Reg(self.unique(t, uses.iter().map(|u| u.0)))
            }
        };
        self.l.emit(MInst::ReturnCall {
            info: Box::new(ReturnCallInfo {
                target,
                uses: uses.into_vec(),
                stack_args: locs.stack_args_size,
            }),
        });
        Some(InstOutput::none())
    }
}
