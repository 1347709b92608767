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
use crate::isa::aarch64::abi;
use crate::isa::aarch64::inst::*;
use crate::isa::aarch64::regs;
use crate::machinst::call;
use crate::machinst::lower::InstOutput;
use kiln_ir::{FunctionStencil, Inst};
use regalloc2::{PReg, PRegSet};

/// The registers that carry the exception payloads `exn0`, `exn1` into a
/// handler: x0 and x1 (Cranelift's aarch64 convention).
pub(crate) const PAYLOAD_REGS: [PReg; 2] = [regs::xreg_preg(0), regs::xreg_preg(1)];

/// Per payload register, the result part (result index, part index) of
/// `try_call` `inst` that the ABI returns in the same register, if any
/// (`LowerBackend::try_call_payload_shares`).
pub(crate) fn payload_shares(f: &FunctionStencil, inst: Inst) -> [Option<(usize, usize)>; 2] {
    let locs = f
        .dfg
        .try_call_signature(inst)
        .and_then(|s| abi::sig_locs(s).ok());
    call::payload_shares(locs.as_ref(), PAYLOAD_REGS)
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
    /// Lowers a `try_call` / `try_call_indirect` ending the current block
    /// (successor labels in `self.targets`: the normal block, then one per
    /// handler in table order); the shared half is
    /// [`call::try_call_setup`]. See the module docs.
    pub(super) fn gen_try_call(&mut self, inst: Inst) -> Option<()> {
        let targets = self.targets;
        let site = call::try_call_setup(self, inst, targets, PAYLOAD_REGS)?;
        let callee = self.callee(site.callee)?;
        if site.handlers.is_empty() {
            // No handler: nothing can land here but the return.
            self.emit_call(callee, site.uses, site.defs, site.locs.callee_pop);
            for i in site.after {
                self.l.emit(i);
            }
            self.l.emit(MInst::Jump {
                target: site.normal,
            });
            return Some(());
        }
        let mut clobbers = regs::aapcs_clobbers();
        clobbers.union_from(all_allocatable(self.info.pinned_reg));
        self.l.emit(MInst::TryCall {
            info: Box::new(TryCallInfo {
                callee,
                uses: site.uses.into_vec(),
                defs: site.defs.into_vec(),
                clobbers,
                normal: site.normal,
                handlers: site.handlers,
                callee_pop: site.locs.callee_pop,
            }),
        });
        Some(())
    }

    /// Lowers `get_exception_handler_address block, n`: `adr` of the label
    /// where handler `n` of the `try_call` ending `block` is entered
    /// ([`call::exception_handler_label`]).
    pub(super) fn gen_exception_handler_address(&mut self, inst: Inst) -> Option<InstOutput> {
        let label = call::exception_handler_label(self.l, inst)?;
        let (d, dw) = self.wi();
        self.l.emit(MInst::Adr { rd: dw, label });
        Some(InstOutput::one(d))
    }
}
