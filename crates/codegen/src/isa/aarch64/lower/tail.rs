//! Tail calls (`return_call`, `return_call_indirect`). A child module of
//! `lower` so that it can extend the rules' `Ctx`; the checks and the
//! argument set-up are shared (`machinst::call::return_call_setup`), the
//! frame-dependent sequence itself is in `isa/aarch64/tail.rs`.

use super::Ctx;
use crate::isa::aarch64::inst::*;
use crate::machinst::call;
use crate::machinst::lower::InstOutput;
use kiln_ir::Inst;

impl Ctx<'_, '_, '_> {
    /// Lowers `return_call` / `return_call_indirect` to `MInst::ReturnCall`
    /// when [`call::return_call_setup`] allows it. Argument registers
    /// (x0–x8, v0–v7) are never callee-saved under AAPCS64, so restoring
    /// ours before the branch cannot clobber one: aarch64 adds no check of
    /// its own.
    pub(super) fn gen_return_call(&mut self, inst: Inst) -> Option<InstOutput> {
        let info = self.info;
        let site = call::return_call_setup(self, &info.sig, inst)?;
        let target = match site.callee {
            Ok(func_ref) => {
                let name = self.l.f.dfg.ext_funcs[func_ref].name.clone();
                ReturnCallTarget::Known(self.l.reloc_target(&name))
            }
            Err(r) => ReturnCallTarget::Reg(r),
        };
        self.l.emit(MInst::ReturnCall {
            info: Box::new(ReturnCallInfo {
                target,
                uses: site.uses.into_vec(),
                stack_args: site.locs.stack_args_size,
            }),
        });
        Some(InstOutput::none())
    }
}
