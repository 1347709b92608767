//! x86-64 glue between the lowering driver and the rules of
//! `isle-rules/x64/lower.isle`: the generated code's `Context` (extern
//! extractors and constructors that build `MInst`s), calls, returns and the
//! function entry under the System V ABI (see [`super::abi`]).

use super::abi::{self, SigLocs};
use super::args::*;
use super::inst::*;
use super::regs;
use crate::machinst::buffer::{MachLabel, RelocTarget};
use crate::machinst::call::{self, CallGlue, CallState};
use crate::machinst::lower::{InstOutput, Lower, LowerBackend};
use crate::machinst::reg::{Reg, Writable};
use crate::result::CodegenError;
use generated::RegPair;
use kiln_ir::entity::EntityRef;
use kiln_ir::LibCall;
use kiln_ir::{
    ExternalName, FuncRef, GlobalValue, GlobalValueData, Inst, InstructionData, IntCC, MemFlags,
    Opcode, StackSlot, TrapCode, Type, Value,
};
use regalloc2::{PReg, RegClass};
use smallvec::SmallVec;

#[path = "lower_control.rs"]
mod lower_control;

/// The generated rule code and the names it refers to.
#[allow(clippy::all, unused_imports, unused_parens, irrefutable_let_patterns)]
pub(crate) mod generated {
    crate::machinst::isle::isle_prelude_names!();
    pub use crate::isa::x64::args::{Amode, ExtMode, OperandSize, RegMem, RegMemImm, CC};
    pub use crate::isa::x64::inst::BmiUnaryOp;
    pub use crate::isa::x64::inst::SseOp;
    pub use crate::isa::x64::inst::{AluOp, BitOp, RoundMode, ShiftKind};
    pub use crate::isa::x64::inst::{AtomicLoopOp, GprToXmmOp, XmmToGprOp};
    pub use crate::settings::TestFault;
    pub use kiln_ir::LibCall;
    pub const I16: Type = Type::I16;
    pub const I128: Type = Type::I128;
    pub const F16: Type = Type::F16;
    pub const F128: Type = Type::F128;
    pub const INTEGER_DIVISION_BY_ZERO: TrapCode = TrapCode::INTEGER_DIVISION_BY_ZERO;
    pub const INTEGER_OVERFLOW: TrapCode = TrapCode::INTEGER_OVERFLOW;
    pub const BAD_CONVERSION_TO_INTEGER: TrapCode = TrapCode::BAD_CONVERSION_TO_INTEGER;
    include!(concat!(env!("OUT_DIR"), "/isle_x64.rs"));
}

/// Function-wide facts the x64 constructors need.
pub struct X64LowerInfo {
    /// The function's own signature locations.
    pub sig: SigLocs,
    /// The locations of each signature the function declares (by
    /// `SigRef` index), when they were all computed up front (see
    /// `X64Backend::callee_sig_locs`); empty otherwise.
    pub callee_sigs: Vec<std::rc::Rc<SigLocs>>,
    /// Offsets of the sized stack slots from the bottom of their area.
    pub slot_offsets: Vec<u32>,
    /// Size of the stack-slot area (directly below rbp).
    pub slots_size: u32,
    /// The ISA flags allow `popcnt`.
    pub has_popcnt: bool,
    /// The ISA flags allow SSE4.1.
    pub has_sse41: bool,
    /// The ISA flags allow FMA3 (`vfmadd*`).
    pub has_fma: bool,
    /// The ISA flags allow BMI2 (`shlx`/`shrx`/`sarx`, `rorx`, `bzhi`,
    /// `mulx`).
    pub has_bmi2: bool,
    /// The ISA flags allow BMI1 (`andn`, `blsr`/`blsi`/`blsmsk`, `tzcnt`).
    pub has_bmi1: bool,
    /// The ISA flags allow `lzcnt`.
    pub has_lzcnt: bool,
    /// The ISA flags allow AVX: SSE binary operations take the VEX
    /// three-operand form (`MInst::XmmRmRVex`).
    pub has_avx: bool,
    /// The test-only planted bug, if any (the `test_fault` setting).
    pub test_fault: crate::settings::TestFault,
    /// `enable_pinned_reg`: r15 is the pinned register.
    pub pinned_reg: bool,
    /// `is_pic`: symbol addresses are RIP-relative (colocated) or loaded
    /// from the GOT, never absolute.
    pub is_pic: bool,
}

/// Whether a scalar float operation with this operand stays one fused uop
/// only in its legacy SSE (two-operand) form. Intel cores since Haswell
/// keep a load with a base + index address micro-fused with its operation
/// only when the instruction has two register operands, the destination
/// also a source (`mulsd x, [b+i]`); the VEX three-operand form
/// (`vmulsd x, y, [b+i]`) is split in two at issue ("un-lamination"),
/// even when x == y. Measured on this project's Sapphire Rapids-class
/// host: 12 `vmulsd x, y, [b+i+d]` per loop iteration cost as much as 24
/// one-uop instructions, `mulsd x, [b+i+d]` and `vmulsd x, y, [b+d]` as
/// 12 (BENCHMARKS.md, "Indexed memory operands and VEX"). So an indexed
/// memory operand keeps the legacy form, whose destination reuses the
/// first source: when that source lives on, the register allocator adds a
/// `movaps`, one uop like the un-laminated load it replaces. Only the
/// scalar operations qualify: their memory operand needs no alignment in
/// either form (the packed legacy forms fault on an unaligned operand).
/// Kiln's VEX code is scalar and 128-bit (VEX.128 zeroes the upper
/// halves), so the upper state stays clean and mixing the two encodings
/// costs no transition.
fn legacy_keeps_fused(op: SseOp, b: &RegMem) -> bool {
    use SseOp::*;
    matches!(b, RegMem::Mem(Amode::ImmRegRegShift { .. }))
        && matches!(
            op,
            Addss
                | Addsd
                | Subss
                | Subsd
                | Mulss
                | Mulsd
                | Divss
                | Divsd
                | Minss
                | Minsd
                | Maxss
                | Maxsd
        )
}

/// Mutable x64 lowering state kept across instructions.
#[derive(Default)]
pub struct X64LowerState {
    /// The outgoing area and the incoming return-area pointer.
    pub call: CallState,
    /// The terminators branching to each block, built on the first
    /// `bool_zext` question about a block parameter.
    pub branch_preds: Option<BranchPreds>,
}

/// The terminators that branch to each block, by block index (a dense
/// table: built once per function that asks, it is read per block
/// parameter the walk meets).
pub type BranchPreds = Vec<SmallVec<[Inst; 2]>>;

fn branch_preds(f: &kiln_ir::FunctionStencil) -> BranchPreds {
    let mut m = vec![SmallVec::new(); f.dfg.num_blocks()];
    for b in f.layout.blocks() {
        if let Some(term) = f.layout.last_inst(b) {
            for call in f.dfg.branch_destinations(term) {
                let Some(e) = m.get_mut(call.block.index()) else {
                    continue;
                };
                if !e.contains(&term) {
                    e.push(term);
                }
            }
        }
    }
    m
}

/// The x64 backend's `LowerBackend`.
pub struct X64LowerBackend<'a> {
    pub info: &'a X64LowerInfo,
    pub state: std::cell::RefCell<X64LowerState>,
}

impl LowerBackend for X64LowerBackend<'_> {
    type MInst = MInst;

    fn try_call_payload_shares(
        &self,
        f: &kiln_ir::FunctionStencil,
        inst: Inst,
    ) -> [Option<(usize, usize)>; 2] {
        lower_control::payload_shares(f, inst)
    }

    fn lower(&self, ctx: &mut Lower<'_, MInst>, inst: Inst) -> Option<InstOutput> {
        let mut state = self.state.borrow_mut();
        let mut c = Ctx {
            l: ctx,
            info: self.info,
            state: &mut state,
            targets: &[],
        };
        generated::constructor_lower(&mut c, inst)
    }

    fn lower_branch(&self, ctx: &mut Lower<'_, MInst>, inst: Inst, targets: &[MachLabel]) -> bool {
        let mut state = self.state.borrow_mut();
        let mut c = Ctx {
            l: ctx,
            info: self.info,
            state: &mut state,
            targets,
        };
        generated::constructor_lower_branch(&mut c, inst).is_some()
    }

    fn gen_jump(&self, target: MachLabel) -> MInst {
        MInst::JmpKnown { dst: target }
    }

    fn gen_entry(&self, ctx: &mut Lower<'_, MInst>) -> crate::result::CodegenResult<()> {
        let mut state = self.state.borrow_mut();
        // A `return` lowered before (the walk is backward) may have created
        // the return-area register already.
        let (args, stack_loads) =
            call::entry_args(ctx, &self.info.sig, &mut state.call, |ty, rd, off| {
                load_inst(ty, Amode::imm_reg(16 + off as i32, regs::rbp()), rd)
            })?;
        ctx.emit(MInst::Args {
            args: args.into_boxed_slice(),
        });
        for i in stack_loads {
            ctx.emit(i);
        }
        Ok(())
    }
}

/// A load of a whole value of type `ty` (integer or float) into `dst`.
/// Whether the register of the `i32` value `v` is known to hold zeros in
/// its upper 32 bits, so that `uextend.i64 v` needs no instruction. True
/// when `v` is the result of an operation whose every `i32` lowering ends
/// in a 32-bit register write (x86-64 clears bits 63..32 on those): the
/// 32-bit ALU operations, shifts, `lea`, `imul`, loads of at most 32 bits and
/// `iconst`. Block parameters, function arguments and `ireduce` results
/// (which keep the wider register) are not: their upper bits are undefined.
fn upper32_zeroed(f: &kiln_ir::FunctionStencil, v: Value) -> bool {
    let v = f.dfg.resolve_aliases(v);
    if f.dfg.value_type(v) != Type::I32 {
        return false;
    }
    let Some(kiln_ir::ValueDef::Result(inst, 0)) = f.dfg.value_def(v) else {
        return false;
    };
    matches!(
        f.dfg.opcode(inst),
        Opcode::Iadd
            | Opcode::Isub
            | Opcode::Imul
            | Opcode::Band
            | Opcode::Bor
            | Opcode::Bxor
            | Opcode::Bnot
            | Opcode::Ineg
            | Opcode::Ishl
            | Opcode::Ushr
            | Opcode::Sshr
            | Opcode::Load
            | Opcode::Uload8
            | Opcode::Uload16
            | Opcode::Iconst
    )
}

/// Whether `v` is a boolean, 0 or 1, whose register is zero-extended to 64
/// bits:
/// - an `icmp` (every scalar lowering ends in `setcc` + `movzx`, or is the
///   `xor 1` / identity of another boolean), an `fcmp` of f32/f64 (`setcc` +
///   `movzx`, or two combined at 32 bits);
/// - `band` with one such operand, `bor`/`bxor` of two (done at 32 or 64
///   bits; a narrow one never merges a load), a `uextend` of one (free or
///   `movzx`/`mov r32`), an `iconst` 0 or 1 (`mov r32, imm`);
/// - a block parameter every incoming argument of which is one (moves,
///   spills and reloads copy whole registers). A parameter met again on the
///   walk is assumed to be one (every value on the cycle is checked); an
///   assumption whose check fails is dropped with all made after it.
///
/// `depth` bounds the walk.
fn bool_zext(
    f: &kiln_ir::FunctionStencil,
    preds: &BranchPreds,
    v: Value,
    depth: u32,
    params: &mut SmallVec<[Value; 4]>,
) -> bool {
    let v = f.dfg.resolve_aliases(v);
    let ty = f.dfg.value_type(v);
    if !ty.is_int() || ty.bits() > 64 {
        return false;
    }
    match f.dfg.value_def(v) {
        Some(kiln_ir::ValueDef::Result(inst, 0)) => {
            let args = f.dfg.inst_args(inst);
            match f.dfg.opcode(inst) {
                Opcode::Icmp => true,
                Opcode::Fcmp => matches!(f.dfg.value_type(args[0]), Type::F32 | Type::F64),
                Opcode::Iconst => matches!(
                    f.dfg.insts[inst],
                    kiln_ir::InstructionData::UnaryImm { imm, .. } if imm.bits() == 0 || imm.bits() == 1
                ),
                Opcode::Uextend if depth > 0 => bool_zext(f, preds, args[0], depth - 1, params),
                Opcode::Band if depth > 0 => {
                    bool_zext(f, preds, args[0], depth - 1, params)
                        || bool_zext(f, preds, args[1], depth - 1, params)
                }
                Opcode::Bor | Opcode::Bxor if depth > 0 => {
                    bool_zext(f, preds, args[0], depth - 1, params)
                        && bool_zext(f, preds, args[1], depth - 1, params)
                }
                _ => false,
            }
        }
        Some(kiln_ir::ValueDef::Param(block, idx)) if depth > 0 => {
            if params.contains(&v) {
                return true;
            }
            // Assumed while its arguments are checked; on failure the
            // assumption goes, with every one made under it.
            let mark = params.len();
            params.push(v);
            let mut seen = false;
            for &term in preds.get(block.index()).map_or(&[][..], |p| &p[..]) {
                for call in f.dfg.branch_destinations(term) {
                    if call.block != block {
                        continue;
                    }
                    match f.dfg.block_call_args(*call).get(idx) {
                        Some(kiln_ir::BlockArg::Value(a))
                            if bool_zext(f, preds, *a, depth - 1, params) =>
                        {
                            seen = true
                        }
                        _ => {
                            params.truncate(mark);
                            return false;
                        }
                    }
                }
            }
            if !seen {
                params.truncate(mark);
            }
            seen
        }
        _ => false,
    }
}

fn load_inst(ty: Type, addr: Amode, dst: Writable<Reg>) -> MInst {
    match ty.bits() {
        128 if ty.is_vector() || ty == Type::F128 => MInst::XmmMovRM {
            op: XmmMovOp::Movdqu,
            src: RegMem::Mem(addr),
            dst,
        },
        _ if ty == Type::F16 => MInst::XmmPinsrw {
            src: RegMem::Mem(addr),
            dst,
        },
        _ if ty == Type::F32 => MInst::XmmMovRM {
            op: XmmMovOp::Movss,
            src: RegMem::Mem(addr),
            dst,
        },
        _ if ty == Type::F64 => MInst::XmmMovRM {
            op: XmmMovOp::Movsd,
            src: RegMem::Mem(addr),
            dst,
        },
        8 => MInst::MovzxRmR {
            ext: ExtMode::BL,
            src: RegMem::Mem(addr),
            dst,
        },
        16 => MInst::MovzxRmR {
            ext: ExtMode::WL,
            src: RegMem::Mem(addr),
            dst,
        },
        32 => MInst::MovzxRmR {
            ext: ExtMode::LQ,
            src: RegMem::Mem(addr),
            dst,
        },
        _ => MInst::Mov64MR { src: addr, dst },
    }
}

/// A store of a whole value of type `ty` from `src`.
fn store_inst(ty: Type, src: Reg, addr: Amode) -> MInst {
    if (ty.is_vector() && ty.bits() == 128) || ty == Type::F128 {
        MInst::XmmStore {
            op: XmmMovOp::Movdqu,
            src,
            dst: addr,
        }
    } else if ty == Type::F32 {
        MInst::XmmStore {
            op: XmmMovOp::Movss,
            src,
            dst: addr,
        }
    } else if ty == Type::F64 {
        MInst::XmmStore {
            op: XmmMovOp::Movsd,
            src,
            dst: addr,
        }
    } else {
        MInst::MovRM {
            size: OperandSize::from_bits(ty.bits()).unwrap_or(OperandSize::Size64),
            src,
            dst: addr,
        }
    }
}

/// The rules' context for one instruction.
struct Ctx<'a, 'l, 'f> {
    l: &'a mut Lower<'f, MInst>,
    info: &'a X64LowerInfo,
    state: &'a mut X64LowerState,
    targets: &'l [MachLabel],
}

impl Ctx<'_, '_, '_> {
    fn tmp(&mut self) -> Reg {
        self.l.alloc_tmp(RegClass::Int)
    }
    fn w(&mut self) -> (Reg, Writable<Reg>) {
        let r = self.tmp();
        (r, Writable::from_reg(r))
    }
    fn unsupported_err(&mut self, what: String) {
        self.l.set_error(CodegenError::Unsupported { what });
    }
    fn reloc_target(&mut self, name: &ExternalName) -> RelocTarget {
        self.l.reloc_target(name)
    }
    /// `r`, or a copy of it if it is already among `taken`
    /// ([`call::distinct_use`]).
    fn unique(&mut self, r: Reg, taken: impl Iterator<Item = Reg>) -> Reg {
        call::distinct_use(self.l, r, taken)
    }

    fn mov_to(&mut self, dst: Writable<Reg>, src: Reg) {
        self.l.emit(MInst::MovRR {
            size: OperandSize::Size64,
            src,
            dst,
        });
    }

    /// A store of `src` (type `ty`) to `addr`; an `f16` needs a temporary
    /// GPR (baseline SSE2 has no 16-bit store from an XMM register).
    pub(super) fn emit_store(&mut self, ty: Type, src: Reg, addr: Amode) {
        let inst = if ty == Type::F16 {
            let (_, tmp) = self.w();
            MInst::F16Store {
                src,
                tmp,
                dst: addr,
            }
        } else {
            store_inst(ty, src, addr)
        };
        self.l.emit(inst);
    }

    /// Calls the runtime routine `lc` (System V) with `args` in the given
    /// registers; `rets` name the registers its results arrive in.
    pub(super) fn emit_libcall(
        &mut self,
        lc: kiln_ir::LibCall,
        args: &[(Reg, PReg)],
        rets: &[(Writable<Reg>, PReg)],
    ) {
        let mut uses: SmallVec<[(Reg, PReg); 8]> = SmallVec::new();
        for &(r, p) in args {
            let r = self.unique(r, uses.iter().map(|u| u.0));
            uses.push((r, p));
        }
        let info = Box::new(CallInfo {
            uses,
            defs: rets.iter().copied().collect(),
            clobbers: abi::call_clobbers(),
            callee_pop: 0,
            try_call: None,
        });
        let t = self.load_ext_name(RelocTarget::LibCall(lc), 0, false);
        self.l.emit(MInst::CallUnknown {
            target: RegMem::Reg(t),
            info,
        });
    }

    /// Calls the runtime routine `lc` with float arguments in xmm0.. and
    /// returns its xmm0 result.
    fn float_libcall(&mut self, lc: LibCall, args: &[Reg]) -> Reg {
        let args: SmallVec<[(Reg, PReg); 4]> = args
            .iter()
            .enumerate()
            .map(|(i, &a)| (a, regs::xmm_preg(i as u8)))
            .collect();
        let d = self.l.alloc_tmp(RegClass::Float);
        self.emit_libcall(lc, &args, &[(Writable::from_reg(d), regs::xmm_preg(0))]);
        d
    }

    /// The `lock cmpxchg16b` loop of an i128 read-modify-write (`op`
    /// `None`: an exchange) from the first guess `old_lo:old_hi`.
    fn atomic_rmw128_seq(
        &mut self,
        op: Option<AtomicLoopOp>,
        addr: Amode,
        [old_lo, old_hi, operand_lo, operand_hi]: [Reg; 4],
    ) -> RegPair {
        let (_, temp) = self.w();
        let (_, new_lo) = self.w();
        let (_, new_hi) = self.w();
        let (lo, dst_lo) = self.w();
        let (hi, dst_hi) = self.w();
        self.l
            .emit(MInst::AtomicRmw128Seq(Box::new(AtomicRmw128Args {
                op,
                addr,
                old_lo,
                old_hi,
                operand_lo,
                operand_hi,
                temp,
                new_lo,
                new_hi,
                dst_lo,
                dst_hi,
            })));
        RegPair::Pair { lo, hi }
    }

    /// Lowers `call` / `call_indirect` (the shared half in
    /// [`call::call_setup`]).
    fn gen_call(&mut self, inst: Inst) -> Option<InstOutput> {
        let site = call::call_setup(self, inst)?;
        let info = Box::new(CallInfo {
            uses: site.uses,
            defs: site.defs,
            clobbers: abi::call_clobbers_for(abi::convention(site.call_conv).ok()?),
            callee_pop: site.locs.callee_pop,
            try_call: None,
        });
        self.emit_call_to(site.callee, info);
        for i in site.after {
            self.l.emit(i);
        }
        Some(InstOutput::none())
    }

    /// The address of `target + offset` in a new register: `movabs`, or with
    /// `is_pic` a RIP-relative `lea` (colocated) or a GOT load (anything
    /// that may live in another module), as Cranelift does. A PIC offset
    /// beyond 32 bits is `Unsupported`.
    pub(crate) fn load_ext_name(
        &mut self,
        target: RelocTarget,
        offset: i64,
        colocated: bool,
    ) -> Reg {
        let mode = match (self.info.is_pic, colocated) {
            (false, _) => ExtNameMode::Abs8,
            (true, true) => ExtNameMode::RipRel,
            (true, false) => ExtNameMode::Got,
        };
        if mode != ExtNameMode::Abs8 && i32::try_from(offset.saturating_sub(4)).is_err() {
            self.l.set_error(crate::result::CodegenError::Unsupported {
                what: format!("symbol offset {offset} with is_pic (32 bits at most)"),
            });
        }
        let (d, dw) = self.w();
        self.l.emit(MInst::LoadExtName {
            target,
            offset,
            dst: dw,
            mode,
        });
        d
    }

    /// Emits the call instruction for a direct (`Ok`) or indirect (`Err`)
    /// callee: `call rel32` for colocated functions, else the address is
    /// materialized (`movabs` + relocation) and called through a register.
    fn emit_call_to(&mut self, callee: Result<FuncRef, Value>, info: Box<CallInfo>) {
        let f = self.l.f;
        match callee {
            Ok(func_ref) => {
                let data = &f.dfg.ext_funcs[func_ref];
                let target = self.reloc_target(&data.name);
                if data.colocated {
                    let target = CallTarget::from(target);
                    self.l.emit(MInst::CallKnown { target, info });
                } else {
                    let t = self.load_ext_name(target, 0, false);
                    self.l.emit(MInst::CallUnknown {
                        target: RegMem::Reg(t),
                        info,
                    });
                }
            }
            Err(callee) => {
                let t = self.l.put_in_reg(callee);
                self.l.emit(MInst::CallUnknown {
                    target: RegMem::Reg(t),
                    info,
                });
            }
        }
    }

    /// Lowers `return`.
    fn gen_return(&mut self, inst: Inst) -> Option<InstOutput> {
        let vals: Vec<Value> = self.l.f.dfg.inst_args(inst).to_vec();
        let info = self.info;
        let rets = call::return_uses(self, &info.sig, &vals)?;
        self.l.emit(MInst::Ret { rets });
        Some(InstOutput::none())
    }
}

impl<'f> CallGlue<'f> for Ctx<'_, '_, 'f> {
    type I = MInst;
    fn lower(&mut self) -> &mut Lower<'f, MInst> {
        self.l
    }
    fn sig_locs(&self, sig: &kiln_ir::Signature) -> crate::result::CodegenResult<SigLocs> {
        abi::sig_locs(sig)
    }
    fn sig_ref_locs(
        &self,
        sig_ref: kiln_ir::SigRef,
        sig: &kiln_ir::Signature,
    ) -> crate::result::CodegenResult<std::rc::Rc<SigLocs>> {
        match self.info.callee_sigs.get(sig_ref.index()) {
            Some(locs) => Ok(std::rc::Rc::clone(locs)),
            None => abi::sig_locs(sig).map(std::rc::Rc::new),
        }
    }
    fn call_state(&mut self) -> &mut CallState {
        &mut self.state.call
    }
    fn extend_arg(&mut self, ty: Type, signed: bool, r: Reg) -> Reg {
        if signed {
            generated::constructor_x64_sextend(self, ty, Type::I32, r)
        } else {
            generated::constructor_x64_uextend(self, ty, Type::I32, r)
        }
    }
    fn store_arg(&mut self, part_ty: Type, r: Reg, sp_offset: u32) {
        let addr = Amode::imm_reg(sp_offset as i32, regs::rsp());
        self.emit_store(part_ty, r, addr);
    }
    fn outgoing_addr(&mut self, sp_offset: u32) -> Reg {
        let (p, pw) = self.w();
        self.l.emit(MInst::Lea {
            size: OperandSize::Size64,
            addr: Amode::imm_reg(sp_offset as i32, regs::rsp()),
            dst: pw,
        });
        p
    }
    fn load_result(&mut self, part_ty: Type, rd: Writable<Reg>, sp_offset: u32) -> MInst {
        load_inst(part_ty, Amode::imm_reg(sp_offset as i32, regs::rsp()), rd)
    }
    fn store_return(&mut self, part_ty: Type, r: Reg, base: Reg, offset: u32) {
        self.emit_store(part_ty, r, Amode::imm_reg(offset as i32, base));
    }
    fn check_tail_call(
        &mut self,
        sig: &kiln_ir::Signature,
        locs: &SigLocs,
    ) -> crate::result::CodegenResult<()> {
        self.tail_call_regs_free(sig, locs)
    }
}

fn cc_of(cc: IntCC) -> CC {
    match cc {
        IntCC::Equal => CC::Z,
        IntCC::NotEqual => CC::NZ,
        IntCC::SignedLessThan => CC::L,
        IntCC::SignedGreaterThanOrEqual => CC::NL,
        IntCC::SignedGreaterThan => CC::NLE,
        IntCC::SignedLessThanOrEqual => CC::LE,
        IntCC::UnsignedLessThan => CC::B,
        IntCC::UnsignedGreaterThanOrEqual => CC::NB,
        IntCC::UnsignedGreaterThan => CC::NBE,
        IntCC::UnsignedLessThanOrEqual => CC::BE,
    }
}

fn amode_flags(a: Amode, flags: MemFlags) -> Amode {
    match flags.trap_code() {
        Some(code) => a.with_trap(code),
        None => a,
    }
}

impl generated::Context for Ctx<'_, '_, '_> {
    crate::machinst::isle::isle_prelude_methods!();

    fn test_fault(&mut self) -> crate::settings::TestFault {
        self.info.test_fault
    }
    fn use_popcnt(&mut self) -> bool {
        self.info.has_popcnt
    }
    fn use_sse41(&mut self) -> bool {
        self.info.has_sse41
    }
    fn use_fma(&mut self) -> bool {
        self.info.has_fma
    }
    fn use_bmi2(&mut self) -> bool {
        self.info.has_bmi2
    }
    fn use_bmi1(&mut self) -> bool {
        self.info.has_bmi1
    }
    fn use_lzcnt(&mut self) -> bool {
        self.info.has_lzcnt
    }
    fn ty_bits_u64(&mut self, ty: Type) -> u64 {
        ty.bits() as u64
    }
    fn ty_bits_minus_one(&mut self, ty: Type) -> i32 {
        ty.bits() as i32 - 1
    }
    fn ty_bit_above(&mut self, ty: Type) -> i32 {
        1 << ty.bits().min(30)
    }
    fn ty_bits_u8(&mut self, ty: Type) -> u8 {
        ty.bits().min(255) as u8
    }
    fn ty_smax_u64(&mut self, ty: Type) -> u64 {
        (1u64 << (ty.bits().clamp(1, 64) - 1)) - 1
    }
    fn ty_smin_u64(&mut self, ty: Type) -> u64 {
        // The i32 bits of -(2^(bits-1)).
        (-(1i64 << (ty.bits().clamp(1, 32) - 1)) as i32) as u32 as u64
    }
    fn ty_umax_u64(&mut self, ty: Type) -> u64 {
        u64::MAX >> (64 - ty.bits().clamp(1, 64))
    }
    fn x64_bitcount(&mut self, size: OperandSize, op: BitOp, src: RegMem) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::BitCount {
            size,
            op,
            src,
            dst: dw,
        });
        d
    }
    fn x64_ucomis(&mut self, ty: Type, src1: Reg, src2: Reg) {
        self.l.emit(MInst::XmmCmp {
            double: ty == Type::F64,
            src1,
            src2: RegMem::Reg(src2),
        });
    }
    fn x64_ucomis_mem(&mut self, ty: Type, src1: Reg, src2: Amode) {
        self.l.emit(MInst::XmmCmp {
            double: ty == Type::F64,
            src1,
            src2: RegMem::Mem(src2),
        });
    }
    fn x64_fconst_amode(&mut self, ty: Type, bits: u64) -> Amode {
        // Exactly the scalar's bytes, aligned to its size: `movss`/`movsd`
        // and the scalar arithmetic read only those bytes and accept any
        // alignment, and equal constants share one pool entry.
        let c = if ty == Type::F32 {
            self.l.add_constant(&(bits as u32).to_le_bytes(), 4)
        } else {
            self.l.add_constant(&bits.to_le_bytes(), 8)
        };
        Amode::Constant(c)
    }
    fn fconst_pool(&mut self, v: Value) -> Option<Amode> {
        // A non-zero `f32const`/`f64const` as a `[rip+c]` operand (zero is
        // cheaper as `xorps`). No sinking: the constant is pure, and if no
        // register is asked for it, it is never materialized.
        let f = self.l.f;
        let v = f.dfg.resolve_aliases(v);
        let kiln_ir::ValueDef::Result(inst, _) = f.dfg.value_def(v)? else {
            return None;
        };
        let (ty, bits) = match f.dfg.insts[inst] {
            InstructionData::UnaryIeee32 {
                opcode: Opcode::F32const,
                imm,
            } => (Type::F32, u64::from(imm.0)),
            InstructionData::UnaryIeee64 {
                opcode: Opcode::F64const,
                imm,
            } => (Type::F64, imm.0),
            _ => return None,
        };
        if bits == 0 {
            return None;
        }
        Some(self.x64_fconst_amode(ty, bits))
    }
    fn x64_round(&mut self, ty: Type, mode: RoundMode, x: Reg) -> Reg {
        let d = self.l.alloc_tmp(RegClass::Float);
        self.l.emit(MInst::XmmRound {
            double: ty == Type::F64,
            src: RegMem::Reg(x),
            imm: mode.imm(),
            dst: Writable::from_reg(d),
        });
        d
    }
    fn x64_vfmadd(&mut self, ty: Type, a: Reg, b: Reg, c: Reg) -> Reg {
        let d = self.l.alloc_tmp(RegClass::Float);
        self.l.emit(MInst::XmmFma {
            double: ty == Type::F64,
            a,
            b,
            c,
            dst: Writable::from_reg(d),
        });
        d
    }

    fn zero_upper32(&mut self, v: Value) -> bool {
        upper32_zeroed(self.l.f, v)
    }
    fn bool_zext(&mut self, v: Value) -> bool {
        let f = self.l.f;
        let preds = self
            .state
            .branch_preds
            .get_or_insert_with(|| branch_preds(f));
        bool_zext(f, preds, v, 4, &mut SmallVec::new())
    }
    fn intcc_swap(&mut self, cc: IntCC) -> IntCC {
        cc.swap_args()
    }

    fn addr_reg(&mut self, v: Value) -> Reg {
        let ty = self.l.value_type(v);
        if ty != Type::I64 {
            self.unsupported_err(format!("{ty} addresses"));
        }
        self.l.put_in_reg(v)
    }

    fn size_of(&mut self, ty: Type) -> OperandSize {
        OperandSize::from_bits(ty.bits()).unwrap_or(OperandSize::Size64)
    }
    fn alu_size(&mut self, ty: Type) -> OperandSize {
        if ty.bits() == 64 {
            OperandSize::Size64
        } else {
            OperandSize::Size32
        }
    }
    fn rmi_reg(&mut self, r: Reg) -> RegMemImm {
        RegMemImm::Reg(r)
    }
    fn rmi_imm(&mut self, i: i32) -> RegMemImm {
        RegMemImm::Imm(i)
    }
    fn rmi_mem(&mut self, a: Amode) -> RegMemImm {
        RegMemImm::Mem(a)
    }
    fn rm_reg(&mut self, r: Reg) -> RegMem {
        RegMem::Reg(r)
    }
    fn rm_mem(&mut self, a: Amode) -> RegMem {
        RegMem::Mem(a)
    }
    fn amode_imm_reg(&mut self, flags: MemFlags, off: i32, base: Reg) -> Amode {
        amode_flags(Amode::imm_reg(off, base), flags)
    }
    fn amode_imm_reg_reg_shift(
        &mut self,
        flags: MemFlags,
        off: i32,
        base: Reg,
        index: Reg,
        shift: u8,
    ) -> Amode {
        amode_flags(Amode::imm_reg_reg_shift(off, base, index, shift), flags)
    }
    fn imm32_for(&mut self, ty: Type, c: u64) -> Option<i32> {
        let bits = ty.bits();
        if bits < 64 {
            // A 32-bit (or narrower) operation uses the low bits only.
            let v = c as u32 as i32;
            Some(if bits < 32 {
                (v << (32 - bits)) >> (32 - bits)
            } else {
                v
            })
        } else {
            i32::try_from(c as i64).ok()
        }
    }
    fn add_offset(&mut self, off: i32, c: u64) -> Option<i32> {
        let c = i32::try_from(c as i64).ok()?;
        off.checked_add(c)
    }
    fn shift_scale(&mut self, k: u64) -> Option<u8> {
        (k <= 3).then_some(k as u8)
    }
    fn shift_mask(&mut self, ty: Type, c: u64) -> u8 {
        (c & (ty.bits() as u64 - 1)) as u8
    }
    fn shift_mask_i32(&mut self, ty: Type) -> i32 {
        ty.bits() as i32 - 1
    }
    fn intcc_to_cc(&mut self, cc: IntCC) -> CC {
        cc_of(cc)
    }
    fn cc_invert(&mut self, cc: CC) -> CC {
        cc.invert()
    }

    fn x64_alu(&mut self, size: OperandSize, op: AluOp, a: Reg, b: RegMemImm) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::AluRmiR {
            size,
            op,
            src1: a,
            src2: b,
            dst: dw,
        });
        d
    }
    fn x64_imul(&mut self, size: OperandSize, a: Reg, b: RegMem) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Imul {
            size,
            src1: a,
            src2: b,
            dst: dw,
        });
        d
    }
    fn x64_imul_imm(&mut self, size: OperandSize, a: RegMem, i: i32) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::ImulImm {
            size,
            src: a,
            imm: i,
            dst: dw,
        });
        d
    }
    fn x64_neg(&mut self, size: OperandSize, a: Reg) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Unary {
            size,
            op: UnaryOp::Neg,
            src: a,
            dst: dw,
        });
        d
    }
    fn x64_not(&mut self, size: OperandSize, a: Reg) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Unary {
            size,
            op: UnaryOp::Not,
            src: a,
            dst: dw,
        });
        d
    }
    fn x64_shift_cl(&mut self, size: OperandSize, kind: ShiftKind, a: Reg, amt: Reg) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Shift {
            size,
            kind,
            src: a,
            amount: ShiftAmount::Cl(amt),
            dst: dw,
        });
        d
    }
    fn x64_shiftx(&mut self, size: OperandSize, kind: ShiftKind, a: Reg, amt: Reg) -> Reg {
        let Some(kind) = ShiftXKind::of(kind) else {
            // Rotates have no BMI2 form with a register count.
            return self.x64_shift_cl(size, kind, a, amt);
        };
        let (d, dw) = self.w();
        self.l.emit(MInst::ShiftX {
            size,
            kind,
            src: a,
            amount: amt,
            dst: dw,
        });
        d
    }
    // ---- BMI1/BMI2 (rules in `isle-rules/x64/lower_bmi.isle`) ----
    fn x64_bmi_unary(&mut self, size: OperandSize, op: BmiUnaryOp, src: Reg) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::BmiUnary {
            size,
            op,
            src,
            dst: dw,
        });
        d
    }
    fn x64_andn(&mut self, size: OperandSize, inverted: Reg, other: Reg) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Andn {
            size,
            src1: inverted,
            src2: other,
            dst: dw,
        });
        d
    }
    fn x64_bzhi(&mut self, size: OperandSize, src: Reg, index: Reg) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Bzhi {
            size,
            src,
            index,
            dst: dw,
        });
        d
    }
    fn x64_rorx(&mut self, size: OperandSize, src: Reg, imm: u8) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Rorx {
            size,
            src,
            imm,
            dst: dw,
        });
        d
    }
    fn iconst_is(&mut self, ty: Type, c: u64, k: i64) -> bool {
        let bits = ty.bits().clamp(1, 64);
        let mask = u64::MAX >> (64 - bits);
        c & mask == (k as u64) & mask
    }
    fn rotl_as_rotr(&mut self, ty: Type, c: u64) -> u8 {
        let bits = u64::from(ty.bits().clamp(1, 64));
        ((bits - c % bits) % bits) as u8
    }
    fn ty_bits_below_32(&mut self, ty: Type) -> i32 {
        32 - ty.bits().min(32) as i32
    }
    fn x64_mulx_hi(&mut self, size: OperandSize, a: Reg, b: Reg) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::MulxHi {
            size,
            src1: a,
            src2: b,
            dst: dw,
        });
        d
    }
    // ---- end of BMI1/BMI2 ----
    fn x64_shift_imm(&mut self, size: OperandSize, kind: ShiftKind, a: Reg, amt: u8) -> Reg {
        if amt == 0 {
            return a;
        }
        let (d, dw) = self.w();
        self.l.emit(MInst::Shift {
            size,
            kind,
            src: a,
            amount: ShiftAmount::Imm(amt),
            dst: dw,
        });
        d
    }
    fn x64_lea(&mut self, size: OperandSize, addr: Amode) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Lea {
            size,
            addr,
            dst: dw,
        });
        d
    }
    fn x64_lea_scaled(&mut self, size: OperandSize, index: Reg, shift: u8) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::LeaScaled {
            size,
            index,
            shift,
            dst: dw,
        });
        d
    }
    fn value_lives_on(&mut self, v: Value) -> bool {
        self.l.value_use_count(v) > 1
    }
    fn x64_mov_imm(&mut self, ty: Type, c: u64) -> Reg {
        let (d, dw) = self.w();
        let size = if ty.bits() == 64 && c > u32::MAX as u64 {
            OperandSize::Size64
        } else {
            OperandSize::Size32
        };
        let imm = if size == OperandSize::Size32 {
            c & 0xffff_ffff
        } else {
            c
        };
        self.l.emit(MInst::MovImm { size, imm, dst: dw });
        d
    }
    fn x64_iconst(&mut self, ty: Type, c: u64) -> Reg {
        if c == 0 {
            let (d, dw) = self.w();
            self.l.emit(MInst::ZeroReg { dst: dw });
            d
        } else {
            self.x64_mov_imm(ty, c)
        }
    }
    fn x64_cmp(&mut self, size: OperandSize, a: Reg, b: RegMemImm) {
        self.l.emit(MInst::CmpRmiR {
            size,
            op: CmpOp::Cmp,
            src1: a,
            src2: b,
        });
    }
    fn x64_test(&mut self, size: OperandSize, a: Reg, b: RegMemImm) {
        self.l.emit(MInst::CmpRmiR {
            size,
            op: CmpOp::Test,
            src1: a,
            src2: b,
        });
    }
    fn x64_cmove(&mut self, size: OperandSize, cc: CC, cons: RegMem, alt: Reg) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Cmove {
            size,
            cc,
            consequent: cons,
            alternative: alt,
            dst: dw,
        });
        d
    }
    fn x64_movzx(&mut self, ext: ExtMode, src: RegMem) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::MovzxRmR { ext, src, dst: dw });
        d
    }
    fn x64_movsx(&mut self, ext: ExtMode, src: RegMem) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::MovsxRmR { ext, src, dst: dw });
        d
    }
    fn x64_load(&mut self, ty: Type, addr: Amode) -> Reg {
        let class = if ty.is_float() || ty.is_vector() {
            RegClass::Float
        } else {
            RegClass::Int
        };
        let d = self.l.alloc_tmp(class);
        self.l.emit(load_inst(ty, addr, Writable::from_reg(d)));
        d
    }
    fn x64_store(&mut self, size: OperandSize, src: Reg, addr: Amode) {
        self.l.emit(MInst::MovRM {
            size,
            src,
            dst: addr,
        });
    }
    fn x64_store_imm(&mut self, size: OperandSize, imm: i32, addr: Amode) {
        self.l.emit(MInst::MovImmM {
            size,
            imm,
            dst: addr,
        });
    }
    fn x64_alu_mem(&mut self, size: OperandSize, op: AluOp, src: RegMemImm, addr: Amode) {
        match src {
            RegMemImm::Imm(imm) => self.l.emit(MInst::AluMI {
                size,
                op,
                imm,
                addr,
            }),
            RegMemImm::Reg(src) => self.l.emit(MInst::AluRM {
                size,
                op,
                src,
                addr,
            }),
            // x86 has no memory-to-memory form: load the source first.
            RegMemImm::Mem(m) => {
                let (r, rw) = self.w();
                self.l.emit(MInst::Mov64MR { src: m, dst: rw });
                self.l.emit(MInst::AluRM {
                    size,
                    op,
                    src: r,
                    addr,
                });
            }
        }
    }
    fn single_use_inst(&mut self, v: &Value) -> Option<Inst> {
        self.l.single_use_def(*v)
    }
    fn x64_trap_if(&mut self, cc: CC, code: TrapCode) {
        self.l.emit(MInst::TrapIf { cc, code });
    }
    fn x64_ud2(&mut self, code: TrapCode) {
        self.l.emit(MInst::Ud2 { code });
    }
    fn x64_xmm_rmr(&mut self, op: SseOp, a: Reg, b: RegMem) -> Reg {
        let d = self.l.alloc_tmp(RegClass::Float);
        let dst = Writable::from_reg(d);
        // The VEX load form of movss/movsd has no first source: those keep
        // the legacy form (no rule builds them today).
        let vex_ok = !matches!((op, &b), (SseOp::Movss | SseOp::Movsd, RegMem::Mem(_)))
            && !legacy_keeps_fused(op, &b);
        self.l.emit(if self.info.has_avx && vex_ok {
            MInst::XmmRmRVex {
                op,
                src1: a,
                src2: b,
                dst,
            }
        } else {
            MInst::XmmRmR {
                op,
                src1: a,
                src2: b,
                dst,
            }
        });
        d
    }
    fn x64_xmm_zero(&mut self) -> Reg {
        let d = self.l.alloc_tmp(RegClass::Float);
        self.l.emit(MInst::ZeroReg {
            dst: Writable::from_reg(d),
        });
        d
    }
    fn x64_fstore(&mut self, ty: Type, src: Reg, addr: Amode) {
        self.emit_store(ty, src, addr);
    }
    fn amode_offset(&mut self, a: Amode, off: i32) -> Amode {
        match a {
            Amode::ImmReg { simm32, base, trap } => Amode::ImmReg {
                simm32: simm32.wrapping_add(off),
                base,
                trap,
            },
            Amode::ImmRegRegShift {
                simm32,
                base,
                index,
                shift,
                trap,
            } => Amode::ImmRegRegShift {
                simm32: simm32.wrapping_add(off),
                base,
                index,
                shift,
                trap,
            },
            other => {
                self.unsupported_err("offset of a special address".to_string());
                other
            }
        }
    }
    fn x64_atomic_cas(&mut self, ty: Type, addr: Amode, expected: Reg, repl: Reg) -> Reg {
        let size = self.size_of(ty);
        let (d, dw) = self.w();
        self.l.emit(MInst::LockCmpxchg {
            size,
            replacement: repl,
            expected,
            addr,
            dst_old: dw,
        });
        d
    }
    fn x64_mfence(&mut self) {
        self.l.emit(MInst::Mfence);
    }
    fn x64_xchg(&mut self, size: OperandSize, operand: Reg, addr: Amode) -> Reg {
        let (d, dst) = self.w();
        self.l.emit(MInst::Xchg {
            size,
            operand,
            addr,
            dst,
        });
        d
    }
    fn x64_lock_xadd(&mut self, size: OperandSize, operand: Reg, addr: Amode) -> Reg {
        let (d, dst_old) = self.w();
        self.l.emit(MInst::LockXadd {
            size,
            operand,
            addr,
            dst_old,
        });
        d
    }
    fn x64_atomic_rmw_seq(
        &mut self,
        size: OperandSize,
        op: AtomicLoopOp,
        addr: Amode,
        operand: Reg,
    ) -> Reg {
        let (d, dst_old) = self.w();
        let (_, temp) = self.w();
        self.l.emit(MInst::AtomicRmwSeq {
            size,
            op,
            addr,
            operand,
            temp,
            dst_old,
        });
        d
    }
    fn x64_cmpxchg16b(&mut self, addr: Amode, el: Reg, eh: Reg, rl: Reg, rh: Reg) -> RegPair {
        // One vreg cannot sit in two fixed registers: copies where needed.
        let eh = self.unique(eh, [el].into_iter());
        let rl = self.unique(rl, [el, eh].into_iter());
        let rh = self.unique(rh, [el, eh, rl].into_iter());
        let (lo, dst_lo) = self.w();
        let (hi, dst_hi) = self.w();
        self.l.emit(MInst::LockCmpxchg16b(Box::new(Cmpxchg16bArgs {
            addr,
            expected_lo: el,
            expected_hi: eh,
            replacement_lo: rl,
            replacement_hi: rh,
            dst_lo,
            dst_hi,
        })));
        RegPair::Pair { lo, hi }
    }
    fn x64_atomic_rmw128_seq(
        &mut self,
        op: AtomicLoopOp,
        addr: Amode,
        old_lo: Reg,
        old_hi: Reg,
        vl: Reg,
        vh: Reg,
    ) -> RegPair {
        self.atomic_rmw128_seq(Some(op), addr, [old_lo, old_hi, vl, vh])
    }
    fn x64_atomic_xchg128_seq(
        &mut self,
        addr: Amode,
        old_lo: Reg,
        old_hi: Reg,
        vl: Reg,
        vh: Reg,
    ) -> RegPair {
        self.atomic_rmw128_seq(None, addr, [old_lo, old_hi, vl, vh])
    }
    fn x64_setcc(&mut self, cc: CC) -> Reg {
        let (d, dst) = self.w();
        self.l.emit(MInst::Setcc { cc, dst });
        d
    }
    fn ty_wider(&mut self, a: Type, b: Type) -> bool {
        a.bits() > b.bits()
    }
    fn x64_mov32(&mut self, src: Reg) -> Reg {
        let (d, dst) = self.w();
        self.l.emit(MInst::MovRR {
            size: OperandSize::Size32,
            src,
            dst,
        });
        d
    }
    fn x64_bswap_raw(&mut self, size: OperandSize, src: Reg) -> Reg {
        let (d, dst) = self.w();
        self.l.emit(MInst::Bswap { size, src, dst });
        d
    }
    fn x64_mov64(&mut self, src: Reg) -> Reg {
        let (d, dw) = self.w();
        self.mov_to(dw, src);
        d
    }
    fn x64_mul_wide(&mut self, size: OperandSize, signed: bool, a: Reg, b: RegMem) -> RegPair {
        let (lo, dst_lo) = self.w();
        let (hi, dst_hi) = self.w();
        self.l.emit(MInst::MulWide {
            size,
            signed,
            src1: a,
            src2: b,
            dst_lo,
            dst_hi,
        });
        RegPair::Pair { lo, hi }
    }
    fn x64_sign_extend_data(&mut self, size: OperandSize, src: Reg) -> Reg {
        let (d, dst) = self.w();
        self.l.emit(MInst::SignExtendData { size, src, dst });
        d
    }
    fn x64_div(
        &mut self,
        size: OperandSize,
        signed: bool,
        lo: Reg,
        hi: Reg,
        divisor: RegMem,
        trap: TrapCode,
    ) -> RegPair {
        let (q, dst_quot) = self.w();
        let (r, dst_rem) = self.w();
        self.l.emit(MInst::Div {
            size,
            signed,
            dividend_lo: lo,
            dividend_hi: hi,
            divisor,
            dst_quot,
            dst_rem,
            trap,
        });
        RegPair::Pair { lo: q, hi: r }
    }
    fn x64_libcall_i128(&mut self, lc: LibCall, al: Reg, ah: Reg, bl: Reg, bh: Reg) -> RegPair {
        let (lo, low) = self.w();
        let (hi, hiw) = self.w();
        let gpr = |e| regs::gpr_preg(e);
        let args = [
            (al, gpr(regs::enc::RDI)),
            (ah, gpr(regs::enc::RSI)),
            (bl, gpr(regs::enc::RDX)),
            (bh, gpr(regs::enc::RCX)),
        ];
        let rets = [(low, gpr(regs::enc::RAX)), (hiw, gpr(regs::enc::RDX))];
        self.emit_libcall(lc, &args, &rets);
        RegPair::Pair { lo, hi }
    }
    fn x64_libcall_float1(&mut self, lc: LibCall, a: Reg) -> Reg {
        self.float_libcall(lc, &[a])
    }
    fn x64_libcall_float3(&mut self, lc: LibCall, a: Reg, b: Reg, c: Reg) -> Reg {
        self.float_libcall(lc, &[a, b, c])
    }
    fn x64_gpr_to_xmm_op(&mut self, op: GprToXmmOp, src_size: OperandSize, src: RegMem) -> Reg {
        let d = self.l.alloc_tmp(RegClass::Float);
        self.l.emit(MInst::GprToXmm {
            op,
            src_size,
            src,
            dst: Writable::from_reg(d),
        });
        d
    }
    fn x64_xmm_to_gpr(&mut self, op: XmmToGprOp, dst_size: OperandSize, src: Reg) -> Reg {
        let (d, dst) = self.w();
        self.l.emit(MInst::XmmToGpr {
            op,
            dst_size,
            src: RegMem::Reg(src),
            dst,
        });
        d
    }
    fn float_bits(&mut self, ty: Type, v: i128) -> u64 {
        if ty == Type::F64 {
            (v as f64).to_bits()
        } else {
            (v as f32).to_bits() as u64
        }
    }
    fn unit(&mut self) {}
    fn output_i128_and_flag(&mut self, inst: Inst, lo: Reg, hi: Reg, flag: Reg) -> InstOutput {
        let func = self.l.f;
        let results = func.dfg.inst_results(inst);
        let op = func.dfg.insts[inst].opcode();
        let (Some(&v), Some(&fv)) = (results.first(), results.get(1)) else {
            self.unsupported_err(format!("{op} without two results"));
            return InstOutput::none();
        };
        let vr = self.l.value_regs(v);
        let fr = self.l.value_regs(fv);
        for (dst, src) in [(vr.regs[0], lo), (vr.regs[1], hi), (fr.regs[0], flag)] {
            match dst {
                Some(d) => self.mov_to(Writable::from_reg(d), src),
                None => {
                    self.unsupported_err(format!("{op}.i128 result registers"));
                    return InstOutput::none();
                }
            }
        }
        InstOutput::none()
    }
    fn x64_stack_addr(&mut self, slot: StackSlot, off: i32) -> Reg {
        let base = self
            .info
            .slot_offsets
            .get(slot.index())
            .copied()
            .unwrap_or(0) as i64;
        let disp = base - self.info.slots_size as i64 + off as i64;
        let disp = match i32::try_from(disp) {
            Ok(d) => d,
            Err(_) => {
                self.l.set_error(CodegenError::CodeTooLarge);
                0
            }
        };
        self.x64_lea(OperandSize::Size64, Amode::imm_reg(disp, regs::rbp()))
    }
    fn x64_func_addr(&mut self, func: FuncRef) -> Reg {
        let data = &self.l.f.dfg.ext_funcs[func];
        let (name, colocated) = (data.name.clone(), data.colocated);
        let target = self.reloc_target(&name);
        self.load_ext_name(target, 0, colocated)
    }
    fn x64_symbol_value(&mut self, gv: GlobalValue) -> Option<Reg> {
        match self.l.f.global_values.get(gv)? {
            GlobalValueData::Symbol {
                name,
                offset,
                colocated,
                ..
            } => {
                let (name, offset, colocated) = (name.clone(), offset.bits(), *colocated);
                let target = self.reloc_target(&name);
                Some(self.load_ext_name(target, offset, colocated))
            }
            _ => None,
        }
    }
    fn x64_frame_pointer(&mut self) -> Reg {
        let (d, dw) = self.w();
        self.mov_to(dw, regs::rbp());
        d
    }
    fn use_pinned_reg(&mut self) -> bool {
        self.info.pinned_reg
    }
    fn x64_get_pinned_reg(&mut self) -> Reg {
        let (d, dw) = self.w();
        self.mov_to(dw, regs::gpr(regs::enc::R15));
        d
    }
    fn x64_set_pinned_reg(&mut self, v: Reg) {
        // r15 is outside the allocator's set with the setting on, so this
        // def is a fixed non-allocatable operand no value lives in.
        self.mov_to(Writable::from_reg(regs::gpr(regs::enc::R15)), v);
    }
    fn x64_stack_pointer(&mut self) -> Reg {
        let (d, dw) = self.w();
        self.mov_to(dw, regs::rsp());
        d
    }
    fn x64_return_address(&mut self) -> Reg {
        let (d, dw) = self.w();
        self.l.emit(MInst::Mov64MR {
            src: Amode::imm_reg(8, regs::rbp()),
            dst: dw,
        });
        d
    }
    fn x64_call(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_call(inst)
    }
    fn x64_return(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_return(inst)
    }
    fn x64_return_call(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_return_call(inst)
    }
    fn x64_uadd_overflow_trap(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_uadd_overflow_trap(inst)
    }
    fn x64_exception_handler_address(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_exception_handler_address(inst)
    }
    fn x64_try_call(&mut self, inst: Inst) -> Option<()> {
        self.gen_try_call(inst)
    }
    fn x64_jmp(&mut self) {
        if let Some(&t) = self.targets.first() {
            self.l.emit(MInst::JmpKnown { dst: t });
        }
    }
    fn x64_jcc(&mut self, cc: CC) {
        if let [taken, not_taken] = *self.targets {
            self.l.emit(MInst::JmpCond {
                cc,
                taken,
                not_taken,
            });
        }
    }
    fn x64_jmp_table(&mut self, idx: Reg) {
        let Some((&default, targets)) = self.targets.split_first() else {
            return;
        };
        // Zero-extend the 32-bit index (its upper bits are undefined).
        let (i, iw) = self.w();
        self.l.emit(MInst::MovRR {
            size: OperandSize::Size32,
            src: idx,
            dst: iw,
        });
        let (_, t1) = self.w();
        let (_, t2) = self.w();
        self.l.emit(MInst::JmpTableSeq {
            idx: i,
            tmp1: t1,
            tmp2: t2,
            default,
            targets: targets.to_vec().into_boxed_slice(),
        });
    }
}
