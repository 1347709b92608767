//! x86-64 glue between the lowering driver and the rules of
//! `isle-rules/x64/lower.isle`: the generated code's `Context` (extern
//! extractors and constructors that build `MInst`s), calls, returns and the
//! function entry under the System V ABI (see [`super::abi`]).

use super::abi::{self, ArgLoc, SigLocs};
use super::args::*;
use super::inst::*;
use super::regs;
use crate::machinst::buffer::{MachLabel, RelocTarget};
use crate::machinst::lower::{InstOutput, Lower, LowerBackend};
use crate::machinst::reg::{Reg, Writable};
use crate::result::CodegenError;
use kiln_ir::entity::EntityRef;
use kiln_ir::{
    ExternalName, FuncRef, GlobalValue, GlobalValueData, Inst, InstructionData, IntCC, MemFlags,
    Opcode, SigRef, StackSlot, TrapCode, Type, Value,
};
use regalloc2::{PReg, RegClass};
use smallvec::SmallVec;

#[path = "lower_control.rs"]
mod lower_control;
#[path = "lower_float.rs"]
mod lower_float;
#[path = "lower_i128.rs"]
mod lower_i128;

/// The generated rule code and the names it refers to.
#[allow(clippy::all, unused_imports, unused_parens, irrefutable_let_patterns)]
pub(crate) mod generated {
    crate::machinst::isle::isle_prelude_names!();
    pub use crate::isa::x64::args::{Amode, ExtMode, OperandSize, RegMem, RegMemImm, CC};
    pub use crate::isa::x64::inst::SseOp;
    pub use crate::isa::x64::inst::{AluOp, BitOp, RoundMode, ShiftKind};
    pub use crate::settings::TestFault;
    include!(concat!(env!("OUT_DIR"), "/isle_x64.rs"));
}

/// Function-wide facts the x64 constructors need.
pub struct X64LowerInfo {
    /// The function's own signature locations.
    pub sig: SigLocs,
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
    /// The test-only planted bug, if any (the `test_fault` setting).
    pub test_fault: crate::settings::TestFault,
    /// `enable_pinned_reg`: r15 is the pinned register.
    pub pinned_reg: bool,
    /// `is_pic`: symbol addresses are RIP-relative (colocated) or loaded
    /// from the GOT, never absolute.
    pub is_pic: bool,
}

/// Mutable x64 lowering state kept across instructions.
#[derive(Default)]
pub struct X64LowerState {
    /// Largest outgoing argument + return area of any call.
    pub outgoing: u32,
    /// The hidden return-area pointer of this function, if any.
    pub ret_area_ptr: Option<Reg>,
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
        let f = ctx.f;
        let entry = f
            .layout
            .entry_block()
            .ok_or_else(|| CodegenError::InvalidVCode("no entry block".into()))?;
        let params: Vec<Value> = f.dfg.block_params(entry).to_vec();
        let mut args: Vec<(Writable<Reg>, PReg)> = Vec::new();
        let mut stack_loads = Vec::new();
        if self.info.sig.has_ret_area() {
            // A `return` lowered before (the walk is backward) may have
            // created the register already.
            let r = match state.ret_area_ptr {
                Some(r) => r,
                None => ctx.alloc_tmp(RegClass::Int),
            };
            args.push((Writable::from_reg(r), self.info.sig.ret_area_reg));
            state.ret_area_ptr = Some(r);
        }
        for (i, &p) in params.iter().enumerate() {
            let regs = ctx.value_regs(p);
            let Some(parts) = self.info.sig.params.get(i) else {
                return Err(CodegenError::InvalidVCode(
                    "entry block parameters do not match the signature".into(),
                ));
            };
            let ty = f.dfg.value_type(p);
            let part_ty = if ty == Type::I128 { Type::I64 } else { ty };
            for (k, loc) in parts.iter().enumerate() {
                let Some(reg) = regs.regs.get(k).copied().flatten() else {
                    return Err(CodegenError::Unsupported {
                        what: format!("parameters of type {ty}"),
                    });
                };
                match loc {
                    ArgLoc::Reg(preg) => args.push((Writable::from_reg(reg), *preg)),
                    ArgLoc::Stack(off) => {
                        let addr = Amode::imm_reg(16 + *off as i32, regs::rbp());
                        stack_loads.push(load_inst(part_ty, addr, Writable::from_reg(reg)));
                    }
                }
            }
        }
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
    /// One-operand `mul`/`imul`: (low, high) halves of the product.
    fn mul_wide(&mut self, size: OperandSize, signed: bool, a: Reg, b: RegMem) -> (Reg, Reg) {
        let (lo, low) = self.w();
        let (hi, hiw) = self.w();
        self.l.emit(MInst::MulWide {
            size,
            signed,
            src1: a,
            src2: b,
            dst_lo: low,
            dst_hi: hiw,
        });
        (lo, hi)
    }
    fn unsupported_err(&mut self, what: String) {
        self.l.set_error(CodegenError::Unsupported { what });
    }
    fn reloc_target(&mut self, name: &ExternalName) -> RelocTarget {
        self.l.reloc_target(name)
    }
    /// `r`, or a copy of it if it is already among `taken`: one vreg must
    /// not be constrained to two fixed registers by one instruction.
    fn unique(&mut self, r: Reg, mut taken: impl Iterator<Item = Reg>) -> Reg {
        if !taken.any(|t| t == r) {
            return r;
        }
        let c = self.l.alloc_tmp(r.class());
        self.l.emit(MInst::gen_move(Writable::from_reg(c), r));
        c
    }

    /// Moves the low 32/64 bits of a GPR into a fresh XMM register.
    fn gpr_to_xmm(&mut self, ty: Type, g: Reg) -> Reg {
        let d = self.l.alloc_tmp(RegClass::Float);
        self.l.emit(MInst::GprToXmm {
            op: GprToXmmOp::Mov,
            src_size: if ty.bits() == 64 {
                OperandSize::Size64
            } else {
                OperandSize::Size32
            },
            src: RegMem::Reg(g),
            dst: Writable::from_reg(d),
        });
        d
    }

    fn mov_to(&mut self, dst: Writable<Reg>, src: Reg) {
        self.l.emit(MInst::MovRR {
            size: OperandSize::Size64,
            src,
            dst,
        });
    }

    /// Extends a narrow integer in `r` of type `from` to 32 or 64 bits.
    fn extend(&mut self, from: Type, to_bits: u32, signed: bool, r: Reg) -> Reg {
        let wide = to_bits == 64;
        let ext = match (from.bits(), wide) {
            (8, false) => ExtMode::BL,
            (8, true) => {
                if signed {
                    ExtMode::BQ
                } else {
                    ExtMode::BL
                }
            }
            (16, false) => ExtMode::WL,
            (16, true) => {
                if signed {
                    ExtMode::WQ
                } else {
                    ExtMode::WL
                }
            }
            (32, true) => ExtMode::LQ,
            _ => return r,
        };
        let (d, dw) = self.w();
        if signed {
            self.l.emit(MInst::MovsxRmR {
                ext,
                src: RegMem::Reg(r),
                dst: dw,
            });
        } else if ext == ExtMode::LQ {
            // `mov r32, r32` zero-extends.
            self.l.emit(MInst::MovRR {
                size: OperandSize::Size32,
                src: r,
                dst: dw,
            });
        } else {
            self.l.emit(MInst::MovzxRmR {
                ext,
                src: RegMem::Reg(r),
                dst: dw,
            });
        }
        d
    }

    /// The signature, the callee (a function reference, or the value of an
    /// indirect call) and the arguments of `call`, `call_indirect` and
    /// their `return_call` forms.
    fn call_parts(&self, inst: Inst) -> Option<(SigRef, Result<FuncRef, Value>, Vec<Value>)> {
        let f = self.l.f;
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

    /// Lowers `call` / `call_indirect`.
    fn gen_call(&mut self, inst: Inst) -> Option<InstOutput> {
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
        let mut uses: SmallVec<[(Reg, PReg); 8]> = SmallVec::new();
        let mut defs: SmallVec<[(Writable<Reg>, PReg); 4]> = SmallVec::new();
        if !self.call_site_args(sig, &locs, &args, &mut uses) {
            return None;
        }
        let results: Vec<Value> = f.dfg.inst_results(inst).to_vec();
        let mut after = Vec::new();
        for (i, &res) in results.iter().enumerate() {
            let regs = self.l.value_regs(res);
            let ty = f.dfg.value_type(res);
            let part_ty = if ty == Type::I128 { Type::I64 } else { ty };
            for (k, loc) in locs.returns.get(i)?.iter().enumerate() {
                let reg = regs.regs.get(k).copied().flatten()?;
                match loc {
                    ArgLoc::Reg(p) => defs.push((Writable::from_reg(reg), *p)),
                    ArgLoc::Stack(off) => {
                        let addr = Amode::imm_reg((locs.stack_args_size + off) as i32, regs::rsp());
                        after.push(load_inst(part_ty, addr, Writable::from_reg(reg)));
                    }
                }
            }
        }
        let info = Box::new(CallInfo {
            uses,
            defs,
            clobbers: abi::call_clobbers_for(abi::convention(sig.call_conv).ok()?),
            callee_pop: locs.callee_pop,
            try_call: None,
        });
        self.emit_call_to(callee, info);
        for i in after {
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
        let f = self.l.f;
        let vals: Vec<Value> = f.dfg.inst_args(inst).to_vec();
        let mut rets: SmallVec<[(Reg, PReg); 2]> = SmallVec::new();
        for (i, &v) in vals.iter().enumerate() {
            let ty = f.dfg.value_type(v);
            let part_ty = if ty == Type::I128 { Type::I64 } else { ty };
            let regs: SmallVec<[Reg; 2]> = self
                .l
                .put_value_in_regs(v)
                .regs
                .iter()
                .flatten()
                .copied()
                .collect();
            let Some(parts) = self
                .info
                .sig
                .returns
                .get(i)
                .filter(|p| p.len() == regs.len())
            else {
                self.l.set_error(CodegenError::InvalidVCode(
                    "return values do not match the signature".into(),
                ));
                return Some(InstOutput::none());
            };
            for (r, loc) in regs.into_iter().zip(parts.iter()) {
                match loc {
                    ArgLoc::Reg(p) => {
                        let r = self.unique(r, rets.iter().map(|u| u.0));
                        rets.push((r, *p))
                    }
                    ArgLoc::Stack(off) => {
                        let base = match self.state.ret_area_ptr {
                            Some(r) => r,
                            None => {
                                let r = self.tmp();
                                self.state.ret_area_ptr = Some(r);
                                r
                            }
                        };
                        self.emit_store(part_ty, r, Amode::imm_reg(*off as i32, base));
                    }
                }
            }
        }
        self.l.emit(MInst::Ret { rets });
        Some(InstOutput::none())
    }

    fn divrem(&mut self, ty: Type, signed: bool, rem: bool, a: Reg, b: Reg) -> Reg {
        let bits = ty.bits();
        // i8/i16 are divided at 32 bits (x86's 8-bit division leaves the
        // remainder in ah, which REX forms cannot address).
        let (size, a, b) = if bits < 32 {
            let a = self.extend(ty, 32, signed, a);
            let b = self.extend(ty, 32, signed, b);
            (OperandSize::Size32, a, b)
        } else {
            (
                OperandSize::from_bits(bits).unwrap_or(OperandSize::Size64),
                a,
                b,
            )
        };
        // Division by zero traps with its own code, before the divide.
        self.l.emit(MInst::CmpRmiR {
            size,
            op: CmpOp::Test,
            src1: b,
            src2: RegMemImm::Reg(b),
        });
        self.l.emit(MInst::TrapIf {
            cc: CC::Z,
            code: TrapCode::INTEGER_DIVISION_BY_ZERO,
        });
        let mut divisor = b;
        if signed && rem {
            // x % -1 == 0 for every x, and x % 1 == 0 too: divide by 1
            // instead of -1 so that INT_MIN % -1 does not fault.
            let (one, onew) = self.w();
            self.l.emit(MInst::MovImm {
                size: OperandSize::Size32,
                imm: 1,
                dst: onew,
            });
            self.l.emit(MInst::CmpRmiR {
                size,
                op: CmpOp::Cmp,
                src1: b,
                src2: RegMemImm::Imm(-1),
            });
            let (d, dw) = self.w();
            self.l.emit(MInst::Cmove {
                size: OperandSize::Size64,
                cc: CC::Z,
                consequent: RegMem::Reg(one),
                alternative: b,
                dst: dw,
            });
            divisor = d;
        }
        let (hi, hiw) = self.w();
        if signed {
            self.l.emit(MInst::SignExtendData {
                size,
                src: a,
                dst: hiw,
            });
        } else {
            self.l.emit(MInst::MovImm {
                size: OperandSize::Size32,
                imm: 0,
                dst: hiw,
            });
        }
        let (q, qw) = self.w();
        let (r, rw) = self.w();
        // A fault here can only be the overflow of INT_MIN / -1.
        self.l.emit(MInst::Div {
            size,
            signed,
            dividend_lo: a,
            dividend_hi: hi,
            divisor: RegMem::Reg(divisor),
            dst_quot: qw,
            dst_rem: rw,
            trap: TrapCode::INTEGER_OVERFLOW,
        });
        if signed && !rem && bits < 32 {
            // The 32-bit division of narrow operands cannot fault; the
            // narrow overflow (MIN / -1 == MAX + 1) shows as a quotient
            // that does not sign-extend from the narrow width.
            let e = self.extend(ty, 32, true, q);
            self.l.emit(MInst::CmpRmiR {
                size: OperandSize::Size32,
                op: CmpOp::Cmp,
                src1: e,
                src2: RegMemImm::Reg(q),
            });
            self.l.emit(MInst::TrapIf {
                cc: CC::NZ,
                code: TrapCode::INTEGER_OVERFLOW,
            });
        }
        if rem {
            r
        } else {
            q
        }
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
    fn x64_mul_wide_lo(&mut self, size: OperandSize, signed: bool, a: Reg, b: RegMem) -> Reg {
        self.mul_wide(size, signed, a, b).0
    }
    fn x64_mul_wide_hi(&mut self, size: OperandSize, signed: bool, a: Reg, b: RegMem) -> Reg {
        self.mul_wide(size, signed, a, b).1
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
    fn x64_gpr_to_xmm(&mut self, ty: Type, g: Reg) -> Reg {
        self.gpr_to_xmm(ty, g)
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
    fn x64_round_libcall(&mut self, ty: Type, mode: RoundMode, x: Reg) -> Reg {
        self.round_libcall(ty, mode, x)
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
    fn x64_fma_libcall(&mut self, ty: Type, a: Reg, b: Reg, c: Reg) -> Reg {
        self.fma_libcall(ty, a, b, c)
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
    fn x64_setcc_zx(&mut self, cc: CC) -> Reg {
        let (t, tw) = self.w();
        self.l.emit(MInst::Setcc { cc, dst: tw });
        let (d, dw) = self.w();
        self.l.emit(MInst::MovzxRmR {
            ext: ExtMode::BL,
            src: RegMem::Reg(t),
            dst: dw,
        });
        d
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
    fn x64_trap_if(&mut self, cc: CC, code: TrapCode) {
        self.l.emit(MInst::TrapIf { cc, code });
    }
    fn x64_ud2(&mut self, code: TrapCode) {
        self.l.emit(MInst::Ud2 { code });
    }
    fn x64_uextend(&mut self, from: Type, to: Type, r: Reg) -> Reg {
        if from.bits() >= to.bits() {
            return r;
        }
        self.extend(from, to.bits().max(32), false, r)
    }
    fn x64_sextend(&mut self, from: Type, to: Type, r: Reg) -> Reg {
        if from.bits() >= to.bits() {
            return r;
        }
        self.extend(from, to.bits().max(32), true, r)
    }
    fn x64_xmm_rmr(&mut self, op: SseOp, a: Reg, b: RegMem) -> Reg {
        let d = self.l.alloc_tmp(RegClass::Float);
        self.l.emit(MInst::XmmRmR {
            op,
            src1: a,
            src2: b,
            dst: Writable::from_reg(d),
        });
        d
    }
    fn x64_fconst(&mut self, ty: Type, bits: u64) -> Reg {
        let g = self.x64_mov_imm(Type::I64, bits);
        self.gpr_to_xmm(ty, g)
    }
    fn x64_fstore(&mut self, ty: Type, src: Reg, addr: Amode) {
        self.emit_store(ty, src, addr);
    }
    fn x64_bitcast(&mut self, from: Type, to: Type, x: Reg) -> Reg {
        let fl = |t: Type| t == Type::F32 || t == Type::F64;
        let int = |t: Type| t.is_int() && t.is_scalar() && t.bits() <= 64;
        match (fl(from), fl(to)) {
            (false, true) if int(from) && from.bits() == to.bits() => self.gpr_to_xmm(to, x),
            (true, false) if int(to) && from.bits() == to.bits() => {
                let (d, dw) = self.w();
                let dst_size = self.size_of(to);
                self.l.emit(MInst::XmmToGpr {
                    op: XmmToGprOp::Mov,
                    dst_size,
                    src: RegMem::Reg(x),
                    dst: dw,
                });
                d
            }
            _ if from == to && (int(from) || fl(from)) => x,
            _ => {
                self.unsupported_err(format!("bitcast.{to} from {from}"));
                x
            }
        }
    }
    fn x64_sint_to_float(&mut self, from: Type, to: Type, x: Reg) -> Reg {
        let d = self.l.alloc_tmp(RegClass::Float);
        let src_size = self.size_of(from);
        self.l.emit(MInst::GprToXmm {
            op: if to == Type::F64 {
                GprToXmmOp::Cvtsi2sd
            } else {
                GprToXmmOp::Cvtsi2ss
            },
            src_size,
            src: RegMem::Reg(x),
            dst: Writable::from_reg(d),
        });
        d
    }
    fn x64_float_to_int_sat(&mut self, from: Type, to: Type, signed: bool, x: Reg) -> Reg {
        let double = from == Type::F64;
        let fconst = |v: f64| {
            if double {
                v.to_bits()
            } else {
                (v as f32).to_bits() as u64
            }
        };
        let cvt = if double {
            XmmToGprOp::Cvttsd2si
        } else {
            XmmToGprOp::Cvttss2si
        };
        let bits = to.bits();
        // The truncating conversion at 64 bits is exact for |x| < 2^63.
        let (t, tw) = self.w();
        self.l.emit(MInst::XmmToGpr {
            op: cvt,
            dst_size: OperandSize::Size64,
            src: RegMem::Reg(x),
            dst: tw,
        });
        let mut t = t;
        if !signed && bits == 64 {
            // x >= 2^63: convert x - 2^63 and set the top bit.
            let c = self.x64_fconst(from, fconst(9223372036854775808.0));
            let sub = if double { SseOp::Subsd } else { SseOp::Subss };
            let y = self.x64_xmm_rmr(sub, x, RegMem::Reg(c));
            let (u, uw) = self.w();
            self.l.emit(MInst::XmmToGpr {
                op: cvt,
                dst_size: OperandSize::Size64,
                src: RegMem::Reg(y),
                dst: uw,
            });
            let top = self.x64_mov_imm(Type::I64, 1 << 63);
            let u = self.x64_alu(OperandSize::Size64, AluOp::Xor, u, RegMemImm::Reg(top));
            self.l.emit(MInst::XmmCmp {
                double,
                src1: x,
                src2: RegMem::Reg(c),
            });
            t = self.x64_cmove(OperandSize::Size64, CC::NB, RegMem::Reg(u), t);
        }
        // Upper saturation: x >= 2^(n-1) (signed) or 2^n (unsigned).
        let limit = if signed {
            2f64.powi(bits as i32 - 1)
        } else {
            2f64.powi(bits as i32)
        };
        let max = if signed {
            (1u64 << (bits - 1)) - 1
        } else if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let c = self.x64_fconst(from, fconst(limit));
        self.l.emit(MInst::XmmCmp {
            double,
            src1: x,
            src2: RegMem::Reg(c),
        });
        let m = self.x64_mov_imm(Type::I64, max);
        t = self.x64_cmove(OperandSize::Size64, CC::NB, RegMem::Reg(m), t);
        let zero = self.x64_mov_imm(Type::I64, 0);
        if signed {
            // Lower saturation: x < -2^(n-1) gives MIN (i64: the
            // conversion's own result; i32: clamp).
            if bits == 32 {
                let lo = self.x64_fconst(from, fconst(-2147483648.0));
                self.l.emit(MInst::XmmCmp {
                    double,
                    src1: lo,
                    src2: RegMem::Reg(x),
                });
                let mn = self.x64_mov_imm(Type::I64, (i32::MIN as i64) as u64);
                // lo > x (ordered): CF=0, ZF=0.
                t = self.x64_cmove(OperandSize::Size64, CC::NBE, RegMem::Reg(mn), t);
            }
        } else {
            // Negative (or NaN) gives 0: ucomis(x, 0) sets CF.
            let z = self.x64_fconst(from, 0);
            self.l.emit(MInst::XmmCmp {
                double,
                src1: x,
                src2: RegMem::Reg(z),
            });
            t = self.x64_cmove(OperandSize::Size64, CC::B, RegMem::Reg(zero), t);
        }
        // NaN gives 0.
        self.l.emit(MInst::XmmCmp {
            double,
            src1: x,
            src2: RegMem::Reg(x),
        });
        self.x64_cmove(OperandSize::Size64, CC::P, RegMem::Reg(zero), t)
    }
    fn x64_bswap(&mut self, ty: Type, x: Reg) -> Reg {
        let size = self.size_of(ty);
        if size == OperandSize::Size8 {
            return x;
        }
        let (d, dw) = self.w();
        self.mov_to(dw, x);
        let (e, ew) = self.w();
        self.l.emit(MInst::Bswap {
            size,
            src: d,
            dst: ew,
        });
        e
    }
    fn x64_fcvt_checked(&mut self, from: Type, to: Type, signed: bool, x: Reg) -> Reg {
        self.fcvt_checked(from, to, signed, x)
    }
    fn ty_f16_128(&mut self, ty: &Type) -> Option<Type> {
        (*ty == Type::F16 || *ty == Type::F128).then_some(*ty)
    }
    fn x64_wide_fconst(&mut self, inst: Inst) -> Reg {
        self.wide_fconst(inst)
    }
    fn x64_wide_bitcast(&mut self, to: Type, x: Value) -> Option<InstOutput> {
        self.wide_bitcast(to, x)
    }
    fn x64_wide_fselect(&mut self, cty: Type, c: Reg, x: Reg, y: Reg) -> Reg {
        self.wide_fselect(cty, c, x, y)
    }
    fn x64_mul128(&mut self, a: Value, b: Value) -> InstOutput {
        let s64 = OperandSize::Size64;
        let (al, ah) = (self.put_in_reg(a), self.put_in_reg_hi(a));
        let (bl, bh) = (self.put_in_reg(b), self.put_in_reg_hi(b));
        let (lo, low) = self.w();
        let (hi, hiw) = self.w();
        self.l.emit(MInst::MulWide {
            size: s64,
            signed: false,
            src1: al,
            src2: RegMem::Reg(bl),
            dst_lo: low,
            dst_hi: hiw,
        });
        let t1 = self.x64_imul(s64, al, RegMem::Reg(bh));
        let t2 = self.x64_imul(s64, ah, RegMem::Reg(bl));
        let h = self.x64_alu(s64, AluOp::Add, hi, RegMemImm::Reg(t1));
        let h = self.x64_alu(s64, AluOp::Add, h, RegMemImm::Reg(t2));
        InstOutput::two(lo, h)
    }
    fn x64_shift128(&mut self, kind: ShiftKind, x: Value, amt: Value) -> InstOutput {
        let s64 = OperandSize::Size64;
        let (lo, hi) = (self.put_in_reg(x), self.put_in_reg_hi(x));
        let n = self.put_in_reg(amt);
        // n63 = n & 63; the bits crossing halves shift by 64 - n63 (none
        // when n63 == 0); bit 6 of n selects the swapped halves.
        let n63 = self.x64_alu(s64, AluOp::And, n, RegMemImm::Imm(63));
        let c64 = self.x64_mov_imm(Type::I64, 64);
        let back = self.x64_alu(s64, AluOp::Sub, c64, RegMemImm::Reg(n63));
        let zero = self.x64_mov_imm(Type::I64, 0);
        let (near, far) = if kind == ShiftKind::Shl {
            (lo, hi)
        } else {
            (hi, lo)
        };
        // `near` moves towards `far`: its crossing bits.
        let cross_kind = if kind == ShiftKind::Shl {
            ShiftKind::Shr
        } else {
            ShiftKind::Shl
        };
        let carry = self.x64_shift_cl(s64, cross_kind, near, back);
        self.x64_test(s64, n63, RegMemImm::Reg(n63));
        let carry = self.x64_cmove(s64, CC::Z, RegMem::Reg(zero), carry);
        // Both halves shifted by n (the hardware masks to 63).
        let near_s = self.x64_shift_cl(s64, kind, near, n);
        let far_kind = if kind == ShiftKind::Sar {
            ShiftKind::Shr
        } else {
            kind
        };
        let far_s = self.x64_shift_cl(s64, far_kind, far, n);
        let far_a = self.x64_alu(s64, AluOp::Or, far_s, RegMemImm::Reg(carry));
        // The value shifted into `near`'s place when n >= 64.
        let fill = if kind == ShiftKind::Sar {
            self.x64_shift_imm(s64, ShiftKind::Sar, hi, 63)
        } else {
            zero
        };
        self.x64_test(s64, n, RegMemImm::Imm(64));
        let far_r = self.x64_cmove(s64, CC::NZ, RegMem::Reg(near_s), far_a);
        let near_r = self.x64_cmove(s64, CC::NZ, RegMem::Reg(fill), near_s);
        if kind == ShiftKind::Shl {
            InstOutput::two(near_r, far_r)
        } else {
            InstOutput::two(far_r, near_r)
        }
    }
    // Integer operations beyond the core (`lower_i128.rs`).
    fn x64_rotate128(&mut self, right: bool, x: Value, amt: Value) -> InstOutput {
        self.rotate128(right, x, amt)
    }
    fn x64_divrem128(&mut self, signed: bool, rem: bool, a: Value, b: Value) -> InstOutput {
        self.divrem128(signed, rem, a, b)
    }
    fn x64_bitrev(&mut self, ty: Type, x: Reg) -> Reg {
        self.lower_bitrev(ty, x)
    }
    fn x64_bmask_wide(&mut self, to: Type, x: Value) -> InstOutput {
        self.lower_bmask_wide(to, x)
    }
    fn x64_overflow128(
        &mut self,
        i: Inst,
        lo_op: AluOp,
        hi_op: AluOp,
        cc: CC,
        a: Value,
        b: Value,
    ) -> InstOutput {
        self.lower_overflow128(i, (lo_op, hi_op, cc), a, b, None)
    }
    fn x64_carry128(
        &mut self,
        i: Inst,
        lo_op: AluOp,
        hi_op: AluOp,
        cc: CC,
        a: Value,
        b: Value,
        c: Value,
    ) -> InstOutput {
        self.lower_overflow128(i, (lo_op, hi_op, cc), a, b, Some(c))
    }
    fn x64_mulhi128(&mut self, signed: bool, a: Value, b: Value) -> InstOutput {
        self.lower_mulhi128(signed, a, b)
    }
    fn x64_mul_overflow128(&mut self, i: Inst, signed: bool, a: Value, b: Value) -> InstOutput {
        self.lower_mul_overflow128(i, signed, a, b)
    }
    fn x64_atomic_cas128(&mut self, addr: Amode, e: Value, v: Value) -> InstOutput {
        self.lower_atomic_cas128(addr, e, v)
    }
    fn x64_atomic_load128(&mut self, addr: Amode) -> InstOutput {
        self.lower_atomic_load128(addr)
    }
    fn x64_atomic_rmw128(&mut self, op: kiln_ir::AtomicRmwOp, addr: Amode, v: Value) -> InstOutput {
        self.lower_atomic_rmw128(Some(op), addr, v)
    }
    fn x64_atomic_store128(&mut self, addr: Amode, v: Value) -> InstOutput {
        self.lower_atomic_rmw128(None, addr, v);
        InstOutput::none()
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
    fn x64_atomic_rmw(
        &mut self,
        ty: Type,
        op: kiln_ir::AtomicRmwOp,
        addr: Amode,
        operand: Reg,
    ) -> Reg {
        use kiln_ir::AtomicRmwOp as A;
        let size = self.size_of(ty);
        let (d, dw) = self.w();
        let lop = match op {
            A::Xchg => {
                self.l.emit(MInst::Xchg {
                    size,
                    operand,
                    addr,
                    dst: dw,
                });
                return d;
            }
            A::Add => {
                self.l.emit(MInst::LockXadd {
                    size,
                    operand,
                    addr,
                    dst_old: dw,
                });
                return d;
            }
            A::Sub => AtomicLoopOp::Sub,
            A::And => AtomicLoopOp::And,
            A::Nand => AtomicLoopOp::Nand,
            A::Or => AtomicLoopOp::Or,
            A::Xor => AtomicLoopOp::Xor,
            A::Umin => AtomicLoopOp::Umin,
            A::Umax => AtomicLoopOp::Umax,
            A::Smin => AtomicLoopOp::Smin,
            A::Smax => AtomicLoopOp::Smax,
        };
        let (_, tw) = self.w();
        self.l.emit(MInst::AtomicRmwSeq {
            size,
            op: lop,
            addr,
            operand,
            temp: tw,
            dst_old: dw,
        });
        d
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
    fn x64_atomic_store(&mut self, ty: Type, v: Reg, addr: Amode) {
        let size = self.size_of(ty);
        let (_, dw) = self.w();
        self.l.emit(MInst::Xchg {
            size,
            operand: v,
            addr,
            dst: dw,
        });
    }
    fn x64_mfence(&mut self) {
        self.l.emit(MInst::Mfence);
    }
    fn x64_divrem(&mut self, ty: Type, signed: bool, rem: bool, a: Reg, b: Reg) -> Reg {
        self.divrem(ty, signed, rem, a, b)
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
