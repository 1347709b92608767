//! Call glue shared by every target: where a signature's values live
//! ([`SigLocs`]), and the target-independent half of lowering `call`,
//! `return_call`, `try_call`, `return` and the function entry.
//!
//! The walk over a signature's values, the outgoing-area bookkeeping, the
//! checks a tail call must pass, the exception-table walk of a `try_call`
//! and the pairing of result parts with their locations are the same on
//! every target; they live here, once. A target implements [`CallGlue`]
//! on its rules' context with what differs: its registers (through the
//! [`SigLocs`] its ABI computes) and its instruction constructors (a store
//! of an argument at `sp + offset`, a load of a result, an extension).
//! Each function here emits machine instructions only through those hooks
//! and in the order the targets emitted them before this module existed,
//! so the generated code does not depend on which side a step lives on.
//!
//! This module never names a target register or instruction.

use super::buffer::MachLabel;
use super::inst::MachInst;
use super::lower::Lower;
use super::reg::{Reg, Writable};
use crate::result::{CodegenError, CodegenResult};
use kiln_ir::entity::EntityRef;
use kiln_ir::{
    ArgumentExtension, CallConv, ExceptionTableItem, FuncRef, Inst, InstructionData, Opcode,
    SigRef, Signature, Type, Value,
};
use regalloc2::{PReg, RegClass};
use smallvec::SmallVec;
use std::rc::Rc;

/// Where one argument or return value part lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgLoc {
    Reg(PReg),
    /// Byte offset in the stack argument area (arguments) or the return
    /// area (returns).
    Stack(u32),
}

/// One location per register part of a value (two for `i128`, low half
/// first).
pub type Parts = SmallVec<[ArgLoc; 2]>;

/// The locations of a signature's parameters and returns, as a target's
/// ABI computes them (`isa/<target>/abi.rs`, `sig_locs`).
#[derive(Clone, Debug, Default)]
pub struct SigLocs {
    pub params: Vec<Parts>,
    pub returns: Vec<Parts>,
    /// Bytes of stack arguments (a multiple of the stack alignment).
    pub stack_args_size: u32,
    /// Bytes of the return area (0: none, no hidden pointer).
    pub ret_area_size: u32,
    /// Bytes of stack arguments the callee pops on return (`tail`).
    pub callee_pop: u32,
    /// The register that carries the hidden return-area pointer.
    pub ret_area_reg: PReg,
    /// The caller sign- or zero-extends narrow integer arguments (per
    /// their `sext`/`uext` attribute) to 32 bits.
    pub caller_extends: bool,
}

impl SigLocs {
    pub fn has_ret_area(&self) -> bool {
        self.ret_area_size > 0
    }

    /// Whether a narrow argument of `ty` with `ext` must be extended by
    /// the caller under this convention, and how (`Some(signed)`).
    pub fn caller_extension(&self, ty: Type, ext: ArgumentExtension) -> Option<bool> {
        if !self.caller_extends || !ty.is_int() || ty.bits() >= 32 {
            return None;
        }
        match ext {
            ArgumentExtension::Uext => Some(false),
            ArgumentExtension::Sext => Some(true),
            ArgumentExtension::None => None,
        }
    }
}

/// The fixed-register uses of a call (argument parts and the return-area
/// pointer).
pub type CallUses = SmallVec<[(Reg, PReg); 8]>;
/// The fixed-register definitions of a call (register result parts).
pub type CallDefs = SmallVec<[(Writable<Reg>, PReg); 4]>;

/// The type one register part of a value of `ty` has: `i64` halves for
/// `i128`, the value's own type otherwise.
pub fn part_type(ty: Type) -> Type {
    if ty == Type::I128 {
        Type::I64
    } else {
        ty
    }
}

/// What a target supplies to the shared call lowering: access to the
/// lowering state and its own instruction constructors. Implemented by each
/// target's rules' context.
pub trait CallGlue<'f> {
    type I: MachInst;

    /// The function's lowering state.
    fn lower(&mut self) -> &mut Lower<'f, Self::I>;

    /// The target ABI's locations for `sig`.
    fn sig_locs(&self, sig: &Signature) -> CodegenResult<SigLocs>;

    /// The locations of `sig`, the function's signature `sig_ref`: a
    /// target that computed them for the whole function up front answers
    /// from its table (a call site then shares them, not a second run of
    /// the ABI nor a copy of its lists); by default they are computed
    /// again.
    fn sig_ref_locs(&self, _sig_ref: SigRef, sig: &Signature) -> CodegenResult<Rc<SigLocs>> {
        self.sig_locs(sig).map(Rc::new)
    }

    /// The function's call bookkeeping, kept across instructions.
    fn call_state(&mut self) -> &mut CallState;

    /// `r` (an integer of type `ty` narrower than 32 bits) extended to 32
    /// bits, signed or not, in a new register.
    fn extend_arg(&mut self, ty: Type, signed: bool, r: Reg) -> Reg;

    /// Emits a store of argument part `r` (type `part_ty`) at
    /// `sp + sp_offset` in the outgoing area.
    fn store_arg(&mut self, part_ty: Type, r: Reg, sp_offset: u32);

    /// Emits the address `sp + sp_offset` into a new register.
    fn outgoing_addr(&mut self, sp_offset: u32) -> Reg;

    /// The load of result part `rd` (type `part_ty`) from `sp + sp_offset`
    /// that follows a call.
    fn load_result(&mut self, part_ty: Type, rd: Writable<Reg>, sp_offset: u32) -> Self::I;

    /// Emits a store of return part `r` (type `part_ty`) at
    /// `base + offset` in the caller's return area.
    fn store_return(&mut self, part_ty: Type, r: Reg, base: Reg, offset: u32);

    /// A target's own condition on `return_call` to `sig` (after the shared
    /// ones of [`return_call_setup`]); `Unsupported` when it fails.
    fn check_tail_call(&mut self, _sig: &Signature, _locs: &SigLocs) -> CodegenResult<()> {
        Ok(())
    }
}

/// What call lowering keeps across a function's instructions (in each
/// target's lowering state).
#[derive(Clone, Copy, Debug, Default)]
pub struct CallState {
    /// Largest outgoing argument + return area of any call (bytes).
    pub outgoing: u32,
    /// The register holding the incoming return-area pointer, once
    /// something has asked for it.
    pub ret_area_ptr: Option<Reg>,
}

/// `Some(v)` for `Ok(v)`; an error is recorded in `Lower` (the first one
/// recorded is the function's error, whatever the rule returns) and gives
/// `None`.
fn recorded<'f, C: CallGlue<'f>, T>(c: &mut C, r: CodegenResult<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            c.lower().set_error(e);
            None
        }
    }
}

/// Signature `sig_ref` of the function being lowered and its locations;
/// `None` if there is no such signature or the ABI rejects it (recorded).
fn signature_locs<'f, C: CallGlue<'f>>(
    c: &mut C,
    sig_ref: SigRef,
) -> Option<(&'f Signature, Rc<SigLocs>)> {
    let f = c.lower().f;
    let sig = f.dfg.signatures.get(sig_ref)?;
    let r = c.sig_ref_locs(sig_ref, sig);
    Some((sig, recorded(c, r)?))
}

/// `r`, or a copy of it if it is already among `taken`: one vreg must not
/// be constrained to two fixed registers by one instruction.
pub fn distinct_use<I: MachInst>(
    l: &mut Lower<'_, I>,
    r: Reg,
    mut taken: impl Iterator<Item = Reg>,
) -> Reg {
    if !taken.any(|t| t == r) {
        return r;
    }
    let c = l.alloc_tmp(r.class());
    l.emit(I::gen_move(Writable::from_reg(c), r, r.class()));
    c
}

/// The register of the incoming return-area pointer, created on first use
/// (the entry defines it; lowering runs backwards, so a `return` or a tail
/// call may ask first).
pub fn incoming_ret_area_ptr<'f, C: CallGlue<'f>>(c: &mut C) -> Reg {
    if let Some(r) = c.call_state().ret_area_ptr {
        return r;
    }
    let r = c.lower().alloc_tmp(RegClass::Int);
    c.call_state().ret_area_ptr = Some(r);
    r
}

/// The signature, the callee (a function reference, or the value of an
/// indirect call) and the arguments of `call`, `call_indirect` and their
/// `return_call` forms.
pub fn call_parts(
    f: &kiln_ir::FunctionStencil,
    inst: Inst,
) -> Option<(SigRef, Result<FuncRef, Value>, Vec<Value>)> {
    match f.dfg.insts[inst] {
        InstructionData::Call { func_ref, args, .. } => {
            let sig = f.dfg.ext_funcs.get(func_ref)?.signature;
            Some((sig, Ok(func_ref), f.dfg.value_list(args).to_vec()))
        }
        InstructionData::CallIndirect { sig_ref, args, .. } => {
            let all = f.dfg.value_list(args);
            let (callee, rest) = all.split_first()?;
            Some((sig_ref, Err(*callee), rest.to_vec()))
        }
        _ => None,
    }
}

/// Puts call arguments where `locs` wants them: register parts into `uses`
/// (fixed-register uses of the call), stack parts stored at
/// `sp + offset` (the outgoing area), narrow integers extended first when
/// the convention makes that the caller's job. `None` if the operands do
/// not match the signature.
pub fn marshal_args<'f, C: CallGlue<'f>>(
    c: &mut C,
    sig: &Signature,
    locs: &SigLocs,
    args: &[Value],
    uses: &mut CallUses,
) -> Option<()> {
    for (i, &a) in args.iter().enumerate() {
        let l = c.lower();
        let ty = l.f.dfg.value_type(a);
        let param = sig.params.get(i)?;
        let mut parts: SmallVec<[Reg; 2]> = l
            .put_value_in_regs(a)
            .regs
            .iter()
            .flatten()
            .copied()
            .collect();
        if let Some(signed) = locs.caller_extension(ty, param.extension) {
            let first = parts.first_mut()?;
            *first = c.extend_arg(ty, signed, *first);
        }
        let plocs = locs.params.get(i)?;
        if plocs.len() != parts.len() {
            return None;
        }
        for (r, loc) in parts.into_iter().zip(plocs.iter()) {
            match loc {
                ArgLoc::Reg(p) => {
                    let r = distinct_use(c.lower(), r, uses.iter().map(|u| u.0));
                    uses.push((r, *p));
                }
                ArgLoc::Stack(off) => c.store_arg(part_type(ty), r, *off),
            }
        }
    }
    Some(())
}

/// The argument side of a non-tail call site: reserves the outgoing area
/// (stack arguments and the return area), points the hidden return-area
/// register at it when the signature has one, and marshals `args`
/// ([`marshal_args`]).
pub fn call_site_args<'f, C: CallGlue<'f>>(
    c: &mut C,
    sig: &Signature,
    locs: &SigLocs,
    args: &[Value],
) -> Option<CallUses> {
    let state = c.call_state();
    state.outgoing = state
        .outgoing
        .max(locs.stack_args_size + locs.ret_area_size);
    let mut uses = CallUses::new();
    if locs.has_ret_area() {
        let p = c.outgoing_addr(locs.stack_args_size);
        uses.push((p, locs.ret_area_reg));
    }
    marshal_args(c, sig, locs, args, &mut uses)?;
    Some(uses)
}

/// Pairs the register parts of a call's results (one list per result, in
/// signature order, with the result's type) with their locations: register
/// parts become fixed definitions, parts in the return area loads from
/// `sp + stack_args_size + offset` to emit after the call. `None` if they
/// do not match the signature.
pub fn call_results<'f, C: CallGlue<'f>>(
    c: &mut C,
    locs: &SigLocs,
    results: impl IntoIterator<Item = (Type, SmallVec<[Reg; 2]>)>,
) -> Option<(CallDefs, Vec<C::I>)> {
    let mut defs = CallDefs::new();
    let mut after = Vec::new();
    for (i, (ty, parts)) in results.into_iter().enumerate() {
        let plocs = locs.returns.get(i)?;
        if plocs.len() != parts.len() {
            return None;
        }
        for (reg, loc) in parts.into_iter().zip(plocs.iter()) {
            let rd = Writable::from_reg(reg);
            match loc {
                ArgLoc::Reg(p) => defs.push((rd, *p)),
                ArgLoc::Stack(off) => {
                    after.push(c.load_result(part_type(ty), rd, locs.stack_args_size + off))
                }
            }
        }
    }
    Some((defs, after))
}

/// A lowered `call` / `call_indirect` before its call instruction: the
/// target emits the call with these operands, then `after`.
pub struct CallSite<I> {
    pub callee: Result<FuncRef, Value>,
    /// The callee's convention (for the target's clobber set).
    pub call_conv: CallConv,
    pub locs: Rc<SigLocs>,
    pub uses: CallUses,
    pub defs: CallDefs,
    /// Loads of results in the return area, to emit after the call.
    pub after: Vec<I>,
}

/// The shared half of `call` / `call_indirect` `inst`: arguments marshalled
/// and results paired with their locations. `None` if the instruction does
/// not match its signature or the ABI rejects the signature (that error is
/// recorded).
pub fn call_setup<'f, C: CallGlue<'f>>(c: &mut C, inst: Inst) -> Option<CallSite<C::I>> {
    let f = c.lower().f;
    let (sig_ref, callee, args) = call_parts(f, inst)?;
    let (sig, locs) = signature_locs(c, sig_ref)?;
    let uses = call_site_args(c, sig, &locs, &args)?;
    let results = f.dfg.inst_results(inst).iter().map(|&res| {
        let ty = f.dfg.value_type(res);
        let parts = c
            .lower()
            .value_regs(res)
            .regs
            .iter()
            .flatten()
            .copied()
            .collect();
        (ty, parts)
    });
    let results: Vec<_> = results.collect();
    let (defs, after) = call_results(c, &locs, results)?;
    Some(CallSite {
        callee,
        call_conv: sig.call_conv,
        locs,
        uses,
        defs,
        after,
    })
}

/// A `return_call` / `return_call_indirect` ready for the target's
/// frame-dependent sequence.
pub struct TailCallSite {
    /// A function reference, or the register of an indirect callee (never
    /// one of `uses`' registers).
    pub callee: Result<FuncRef, Reg>,
    pub locs: Rc<SigLocs>,
    /// Argument registers and the (passed-on) return-area pointer.
    pub uses: CallUses,
}

/// The shared half of `return_call` / `return_call_indirect` `inst` in a
/// function whose own locations are `own`.
///
/// Allowed when the tail call can reuse this function's return contract:
/// the callee's returns are where ours are (its results flow straight to
/// our caller; a return area is our own incoming one, passed on), the
/// callee pops its stack arguments (`tail`) or has none, and the target's
/// own [`CallGlue::check_tail_call`] holds. Anything else records
/// `Unsupported` and gives `None`, as does an operand mismatch. The new stack arguments are stored in the outgoing
/// area first and moved by the target's sequence, which keeps every store
/// above sp.
pub fn return_call_setup<'f, C: CallGlue<'f>>(
    c: &mut C,
    own: &SigLocs,
    inst: Inst,
) -> Option<TailCallSite> {
    let f = c.lower().f;
    let (sig_ref, callee, args) = call_parts(f, inst)?;
    let (sig, locs) = signature_locs(c, sig_ref)?;
    let unsupported = |what: String| Err(CodegenError::Unsupported { what });
    let allowed = if locs.returns != own.returns || locs.ret_area_size != own.ret_area_size {
        unsupported(format!(
            "return_call to a {} callee whose returns are not where ours are",
            sig.call_conv.as_str()
        ))
    } else if locs.stack_args_size > 0 && locs.callee_pop != locs.stack_args_size {
        unsupported(format!(
            "return_call with stack arguments to a {} callee (only `tail` callees pop them)",
            sig.call_conv.as_str()
        ))
    } else {
        c.check_tail_call(sig, &locs)
    };
    recorded(c, allowed)?;
    let state = c.call_state();
    state.outgoing = state.outgoing.max(locs.stack_args_size);
    let mut uses = CallUses::new();
    if locs.has_ret_area() {
        let p = incoming_ret_area_ptr(c);
        uses.push((p, locs.ret_area_reg));
    }
    marshal_args(c, sig, &locs, &args, &mut uses)?;
    let callee = callee.map_err(|v| {
        let l = c.lower();
        let r = l.put_in_reg(v);
        distinct_use(l, r, uses.iter().map(|u| u.0))
    });
    Some(TailCallSite { callee, locs, uses })
}

/// The callee, arguments and destinations of a `try_call` /
/// `try_call_indirect` ending a block.
pub struct TryCallSite {
    pub callee: Result<FuncRef, Value>,
    pub args: Vec<Value>,
    /// The signature the exception table names.
    pub sig: SigRef,
    /// The normal-return block's label.
    pub normal: MachLabel,
    /// The handlers in table order: `Some(tag)` or `None` (`default`), with
    /// their labels.
    pub handlers: Vec<(Option<u32>, MachLabel)>,
}

/// Walks the exception table of `try_call` `inst` whose successor labels
/// are `targets` (the normal block, then one per handler in table order;
/// `context` items are not destinations). `None` if they do not match.
pub fn try_call_site(
    f: &kiln_ir::FunctionStencil,
    inst: Inst,
    targets: &[MachLabel],
) -> Option<TryCallSite> {
    let (callee, args, exception) = match f.dfg.insts[inst] {
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
    let normal = *targets.first()?;
    if targets.len() != table.targets.len() {
        return None;
    }
    let mut handlers: Vec<(Option<u32>, MachLabel)> = Vec::new();
    for item in &table.items {
        let tag = match item {
            ExceptionTableItem::Tag(t) => Some(*t),
            ExceptionTableItem::Default => None,
            ExceptionTableItem::Context(_) => continue,
        };
        handlers.push((tag, *targets.get(1 + handlers.len())?));
    }
    if 1 + handlers.len() != targets.len() {
        return None;
    }
    Some(TryCallSite {
        callee,
        args,
        sig: table.sig,
        normal,
        handlers,
    })
}

/// A lowered `try_call` before its call instruction.
pub struct TryCallLowering<I> {
    pub callee: Result<FuncRef, Value>,
    /// The callee's convention (for the target's clobber set).
    pub call_conv: CallConv,
    pub locs: Rc<SigLocs>,
    pub uses: CallUses,
    /// Register results, and with handlers the payloads.
    pub defs: CallDefs,
    /// Loads of results in the return area (only without handlers: with
    /// them the call ends the block).
    pub after: Vec<I>,
    pub normal: MachLabel,
    /// Empty: a plain call and a jump to `normal`.
    pub handlers: Vec<(Option<u32>, MachLabel)>,
}

/// The shared half of a `try_call` / `try_call_indirect` ending the current
/// block (successor labels `targets`). Its results are the normal block's
/// `retN` arguments ([`Lower::try_call_ret_regs`]). With handlers the
/// payloads `exn0` / `exn1` are defined in `payload_regs`; a result the ABI
/// returns in a payload register shares its virtual register with the
/// payload ([`payload_shares`]) and is defined once. Results in the return
/// area alongside handlers are `Unsupported` (they would need code between
/// the terminating call and the normal block). Errors are recorded and
/// give `None`, as does an operand mismatch.
pub fn try_call_setup<'f, C: CallGlue<'f>>(
    c: &mut C,
    inst: Inst,
    targets: &[MachLabel],
    payload_regs: [PReg; 2],
) -> Option<TryCallLowering<C::I>> {
    let f = c.lower().f;
    let site = try_call_site(f, inst, targets)?;
    let (sig, locs) = signature_locs(c, site.sig)?;
    let r = c.lower().try_call_ret_regs(inst);
    let rets = recorded(c, r)?;
    let uses = call_site_args(c, sig, &locs, &site.args)?;
    let mut results = Vec::with_capacity(rets.len());
    for (i, parts) in rets.into_iter().enumerate() {
        results.push((sig.returns.get(i)?.value_type, SmallVec::from_vec(parts)));
    }
    let (mut defs, after) = call_results(c, &locs, results)?;
    if !site.handlers.is_empty() {
        if !after.is_empty() {
            let e = CodegenError::Unsupported {
                what: "try_call with handlers and results in stack slots".into(),
            };
            return recorded(c, Err(e));
        }
        let shares = payload_shares(Some(&locs), payload_regs);
        let r = c.lower().try_call_exn_regs(inst, shares);
        let exn = recorded(c, r)?;
        for (r, p) in exn.into_iter().zip(payload_regs) {
            match defs.iter().find(|(_, d)| *d == p) {
                Some((w, _)) if w.to_reg() == r => {}
                Some(_) => return None,
                None => defs.push((Writable::from_reg(r), p)),
            }
        }
    }
    Some(TryCallLowering {
        callee: site.callee,
        call_conv: sig.call_conv,
        locs,
        uses,
        defs,
        after,
        normal: site.normal,
        handlers: site.handlers,
    })
}

/// Per payload register, the result part (result index, part index) of a
/// `try_call` with locations `locs` that the ABI returns in the same
/// register, if any (`LowerBackend::try_call_payload_shares`).
pub fn payload_shares(
    locs: Option<&SigLocs>,
    payload_regs: [PReg; 2],
) -> [Option<(usize, usize)>; 2] {
    let Some(locs) = locs else {
        return [None, None];
    };
    payload_regs.map(|p| {
        locs.returns.iter().enumerate().find_map(|(i, parts)| {
            parts
                .iter()
                .position(|l| matches!(l, ArgLoc::Reg(r) if *r == p))
                .map(|j| (i, j))
        })
    })
}

/// The label where handler `n` (table order, the normal return not
/// counted) of the `try_call` ending `block` is entered: that successor's
/// label (a split edge block where there is one), as the exception records
/// name it. For `get_exception_handler_address` `inst`; `None` if it does
/// not name such a handler.
pub fn exception_handler_label<I: MachInst>(l: &Lower<'_, I>, inst: Inst) -> Option<MachLabel> {
    let f = l.f;
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
    let vb = l.order.lowered_index_for_block(block.index() as u32)?;
    let succ = *l.order.succ_indices(vb).get(n.checked_add(1)?)?;
    Some(MachLabel::from_block(succ.index() as u32))
}

/// The operands of `return vals` in a function with locations `own`:
/// register parts as fixed uses of the return, parts in the return area
/// stored through the incoming return-area pointer on the way. `None`
/// (recorded as an error) if they do not match the signature.
pub fn return_uses<'f, C: CallGlue<'f>>(
    c: &mut C,
    own: &SigLocs,
    vals: &[Value],
) -> Option<SmallVec<[(Reg, PReg); 2]>> {
    let mut rets: SmallVec<[(Reg, PReg); 2]> = SmallVec::new();
    for (i, &v) in vals.iter().enumerate() {
        let l = c.lower();
        let ty = l.f.dfg.value_type(v);
        let parts: SmallVec<[Reg; 2]> = l
            .put_value_in_regs(v)
            .regs
            .iter()
            .flatten()
            .copied()
            .collect();
        let Some(plocs) = own.returns.get(i).filter(|p| p.len() == parts.len()) else {
            let e = CodegenError::InvalidVCode("return values do not match the signature".into());
            return recorded(c, Err(e));
        };
        for (r, loc) in parts.into_iter().zip(plocs.iter()) {
            match loc {
                ArgLoc::Reg(p) => {
                    let r = distinct_use(c.lower(), r, rets.iter().map(|u| u.0));
                    rets.push((r, *p));
                }
                ArgLoc::Stack(off) => {
                    let base = incoming_ret_area_ptr(c);
                    c.store_return(part_type(ty), r, base, *off);
                }
            }
        }
    }
    Some(rets)
}

/// The fixed-register definitions of a function's arguments at entry.
pub type EntryArgs = Vec<(Writable<Reg>, PReg)>;

/// The function entry with locations `sig`: the fixed-register definitions
/// of the arguments (the return-area pointer first, created in
/// `state` unless a `return` made it already), and the loads of the stack
/// arguments, `load_param(part type, destination, offset in the incoming
/// argument area)`, to emit after them.
pub fn entry_args<I: MachInst>(
    ctx: &mut Lower<'_, I>,
    sig: &SigLocs,
    state: &mut CallState,
    mut load_param: impl FnMut(Type, Writable<Reg>, u32) -> I,
) -> CodegenResult<(EntryArgs, Vec<I>)> {
    let f = ctx.f;
    let entry = f
        .layout
        .entry_block()
        .ok_or_else(|| CodegenError::InvalidVCode("no entry block".into()))?;
    let mut args = EntryArgs::new();
    let mut stack_loads = Vec::new();
    if sig.has_ret_area() {
        let r = match state.ret_area_ptr {
            Some(r) => r,
            None => ctx.alloc_tmp(RegClass::Int),
        };
        args.push((Writable::from_reg(r), sig.ret_area_reg));
        state.ret_area_ptr = Some(r);
    }
    for (i, &p) in f.dfg.block_params(entry).iter().enumerate() {
        let vregs = ctx.value_regs(p);
        let Some(parts) = sig.params.get(i) else {
            return Err(CodegenError::InvalidVCode(
                "entry block parameters do not match the signature".into(),
            ));
        };
        let ty = f.dfg.value_type(p);
        for (k, loc) in parts.iter().enumerate() {
            let Some(reg) = vregs.regs.get(k).copied().flatten() else {
                return Err(CodegenError::Unsupported {
                    what: format!("parameters of type {ty}"),
                });
            };
            let rd = Writable::from_reg(reg);
            match loc {
                ArgLoc::Reg(preg) => args.push((rd, *preg)),
                ArgLoc::Stack(off) => stack_loads.push(load_param(part_type(ty), rd, *off)),
            }
        }
    }
    Ok((args, stack_loads))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(clif: &str) -> kiln_ir::FunctionStencil {
        kiln_reader::parse_function(clif).unwrap().stencil
    }

    /// The `try_call` (or call) ending the entry block.
    fn last_inst(f: &kiln_ir::FunctionStencil) -> Inst {
        let entry = f.layout.entry_block().unwrap();
        f.layout.last_inst(entry).unwrap()
    }

    fn reg(n: usize) -> PReg {
        PReg::new(n, RegClass::Int)
    }

    #[test]
    fn caller_extension_only_for_narrow_ints_with_an_attribute() {
        let mut locs = SigLocs {
            caller_extends: true,
            ..SigLocs::default()
        };
        let ext = |l: &SigLocs, ty, e| l.caller_extension(ty, e);
        assert_eq!(ext(&locs, Type::I8, ArgumentExtension::Sext), Some(true));
        assert_eq!(ext(&locs, Type::I16, ArgumentExtension::Uext), Some(false));
        assert_eq!(ext(&locs, Type::I16, ArgumentExtension::None), None);
        assert_eq!(ext(&locs, Type::I32, ArgumentExtension::Sext), None);
        assert_eq!(ext(&locs, Type::F16, ArgumentExtension::Uext), None);
        locs.caller_extends = false;
        assert_eq!(ext(&locs, Type::I8, ArgumentExtension::Sext), None);
    }

    #[test]
    fn payload_shares_find_the_result_part_in_each_payload_register() {
        let mut locs = SigLocs::default();
        let two = |a, b| -> Parts { [a, b].into_iter().collect() };
        locs.returns = vec![
            two(ArgLoc::Reg(reg(3)), ArgLoc::Reg(reg(0))),
            [ArgLoc::Stack(0)].into_iter().collect(),
            [ArgLoc::Reg(reg(1))].into_iter().collect(),
        ];
        assert_eq!(
            payload_shares(Some(&locs), [reg(0), reg(1)]),
            [Some((0, 1)), Some((2, 0))]
        );
        assert_eq!(
            payload_shares(Some(&locs), [reg(5), reg(3)]),
            [None, Some((0, 0))]
        );
        assert_eq!(payload_shares(None, [reg(0), reg(1)]), [None, None]);
    }

    #[test]
    fn call_parts_split_callee_and_arguments() {
        let f = parse(
            "function %f(i64, i32) {
                 sig0 = (i32)
                 fn0 = %g(i32)
             block0(v0: i64, v1: i32):
                 call fn0(v1)
                 call_indirect sig0, v0(v1)
                 return
             }",
        );
        let entry = f.layout.entry_block().unwrap();
        let insts: Vec<Inst> = f.layout.block_insts(entry).collect();
        let v = f.dfg.block_params(entry).to_vec();
        let (sig, callee, args) = call_parts(&f, insts[0]).unwrap();
        assert!(callee.is_ok());
        assert_eq!(args, vec![v[1]]);
        assert_eq!(f.dfg.signatures[sig].params.len(), 1);
        let (_, callee, args) = call_parts(&f, insts[1]).unwrap();
        assert_eq!(callee, Err(v[0]));
        assert_eq!(args, vec![v[1]]);
        assert!(call_parts(&f, insts[2]).is_none(), "return is no call");
    }

    #[test]
    fn try_call_site_pairs_handlers_with_labels_in_table_order() {
        let f = parse(
            "function %f(i64) -> i64 tail {
                 sig0 = (i64) tail
                 fn0 = %g(i64) tail
             block0(v0: i64):
                 try_call fn0(v0), sig0, block1(), [ tag7: block2(exn0), context v0, default: block3(exn0) ]
             block1:
                 return v0
             block2(v1: i64):
                 return v1
             block3(v2: i64):
                 return v2
             }",
        );
        let inst = last_inst(&f);
        let labels: Vec<MachLabel> = (10..13).map(MachLabel::from_block).collect();
        let site = try_call_site(&f, inst, &labels).unwrap();
        assert_eq!(site.normal, labels[0]);
        assert_eq!(site.handlers, vec![(Some(7), labels[1]), (None, labels[2])]);
        assert_eq!(site.args.len(), 1);
        assert!(site.callee.is_ok());
        // A successor list that does not match the table is no site.
        assert!(try_call_site(&f, inst, &labels[..2]).is_none());
        assert!(try_call_site(&f, inst, &[]).is_none());
    }
}
