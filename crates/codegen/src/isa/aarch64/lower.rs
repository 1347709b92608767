//! aarch64 glue between the lowering driver and the rules of
//! `isle-rules/aarch64/`: the generated code's `Context` (extern
//! constructors that emit `MInst`s), calls, returns and the function entry
//! under AAPCS64 (see [`super::abi`]).

use super::abi::{self, SigLocs};
use super::args::*;
use super::inst::*;
use super::regs;
use crate::machinst::buffer::{MachLabel, RelocTarget};
use crate::machinst::call::{self, CallGlue, CallState};
use crate::machinst::lower::{InstOutput, Lower, LowerBackend};
use crate::machinst::reg::{Reg, Writable};
use crate::result::{CodegenError, CodegenResult};
use kiln_ir::entity::EntityRef;
use kiln_ir::{FloatCC, Inst, InstructionData, IntCC, TrapCode, Type, Value};
use regalloc2::RegClass;

mod ops;
mod tail;
mod try_call;

/// The generated rule code and the names it refers to.
#[allow(
    clippy::all,
    dead_code,
    unused_imports,
    unused_parens,
    irrefutable_let_patterns
)]
pub(crate) mod generated {
    crate::machinst::isle::isle_prelude_names!();
    pub use crate::isa::aarch64::args::{
        AMode, Cond, Imm12, ImmLogic, OperandSize, ScalarSize, ShiftOp,
    };
    pub use crate::isa::aarch64::inst::VecAluOp;
    pub use crate::isa::aarch64::inst::{
        AluOp, AluOp3, BitOp, CSelOp, FpuOp1, FpuOp2, LoadKind, StoreKind,
    };
    pub const I16: Type = Type::I16;
    pub const I128: Type = Type::I128;
    pub const F16: Type = Type::F16;
    pub const F128: Type = Type::F128;
    include!(concat!(env!("OUT_DIR"), "/isle_aarch64.rs"));
}

/// Function-wide facts the constructors need.
pub struct A64LowerInfo {
    /// The function's own signature locations.
    pub sig: SigLocs,
    /// Offsets of the sized stack slots from the bottom of their area.
    pub slot_offsets: Vec<u32>,
    /// `enable_pinned_reg`: x28 is the pinned register.
    pub pinned_reg: bool,
    /// The LSE atomics are available (`has_lse`).
    pub has_lse: bool,
    /// Indirect branches must land on `bti j` (`use_bti`).
    pub use_bti: bool,
    /// `sign_return_address`: the x30 saved in the frame record is signed.
    pub sign_return_address: bool,
    /// Some value is 128 bits wide in an FP register (a vector or f128):
    /// calls then clobber v8–v15 too, whose upper halves callees may
    /// change (`regs::call_clobbers`).
    pub wide_fp_values: bool,
    /// `is_pic`: symbol addresses are PC-relative (colocated) or loaded
    /// from the GOT, never absolute.
    pub is_pic: bool,
}

/// Mutable lowering state kept across instructions.
#[derive(Default)]
pub struct A64LowerState {
    /// The outgoing area and the incoming return-area pointer.
    pub call: CallState,
}

/// The aarch64 `LowerBackend`.
pub struct A64LowerBackend<'a> {
    pub info: &'a A64LowerInfo,
    pub state: std::cell::RefCell<A64LowerState>,
}

impl LowerBackend for A64LowerBackend<'_> {
    type MInst = MInst;

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

    fn try_call_payload_shares(
        &self,
        f: &kiln_ir::FunctionStencil,
        inst: Inst,
    ) -> [Option<(usize, usize)>; 2] {
        try_call::payload_shares(f, inst)
    }

    fn gen_jump(&self, target: MachLabel) -> MInst {
        MInst::Jump { target }
    }

    fn gen_entry(&self, ctx: &mut Lower<'_, MInst>) -> CodegenResult<()> {
        let mut state = self.state.borrow_mut();
        let (args, stack_loads) =
            call::entry_args(ctx, &self.info.sig, &mut state.call, |ty, rd, off| {
                MInst::Load {
                    kind: load_kind_of(ty),
                    rd,
                    mem: AMode::FpOffset {
                        off: 16 + off as i64,
                    },
                }
            })?;
        ctx.emit(MInst::Args { args });
        for i in stack_loads {
            ctx.emit(i);
        }
        Ok(())
    }
}

/// The load that reads a whole value of `ty`.
fn load_kind_of(ty: Type) -> LoadKind {
    match ty {
        _ if ty.is_vector() && ty.bits() == 128 => LoadKind::FpuLoad128,
        Type::F16 => LoadKind::FpuLoad16,
        Type::F128 => LoadKind::FpuLoad128,
        Type::F32 => LoadKind::FpuLoad32,
        Type::F64 => LoadKind::FpuLoad64,
        _ => match ty.bits() {
            8 => LoadKind::ULoad8,
            16 => LoadKind::ULoad16,
            32 => LoadKind::ULoad32,
            _ => LoadKind::Load64,
        },
    }
}

/// The store that writes a whole value of `ty`.
fn store_kind_of(ty: Type) -> StoreKind {
    match ty {
        _ if ty.is_vector() && ty.bits() == 128 => StoreKind::FpuStore128,
        Type::F16 => StoreKind::FpuStore16,
        Type::F128 => StoreKind::FpuStore128,
        Type::F32 => StoreKind::FpuStore32,
        Type::F64 => StoreKind::FpuStore64,
        _ => match ty.bits() {
            8 => StoreKind::Store8,
            16 => StoreKind::Store16,
            32 => StoreKind::Store32,
            _ => StoreKind::Store64,
        },
    }
}

fn size_of_ty(ty: Type) -> OperandSize {
    OperandSize::from_bits(ty.bits())
}

fn fsize(ty: Type) -> ScalarSize {
    if ty == Type::F32 {
        ScalarSize::Size32
    } else {
        ScalarSize::Size64
    }
}

/// The rules' context for one instruction.
struct Ctx<'a, 'l, 'f> {
    l: &'a mut Lower<'f, MInst>,
    info: &'a A64LowerInfo,
    state: &'a mut A64LowerState,
    targets: &'l [MachLabel],
}

impl Ctx<'_, '_, '_> {
    fn w(&mut self, class: RegClass) -> (Reg, Writable<Reg>) {
        let r = self.l.alloc_tmp(class);
        (r, Writable::from_reg(r))
    }
    fn wi(&mut self) -> (Reg, Writable<Reg>) {
        self.w(RegClass::Int)
    }

    /// `r`, or a copy of it if it is already among `taken`
    /// ([`call::distinct_use`]).
    fn unique(&mut self, r: Reg, taken: impl Iterator<Item = Reg>) -> Reg {
        call::distinct_use(self.l, r, taken)
    }

    /// Emits the constant `value` (zero-extended from `size`) into a fresh
    /// register, each step into its own vreg (VCode is SSA).
    fn constant(&mut self, value: u64, size: OperandSize) -> Reg {
        let (first, fw) = self.wi();
        let seq = MInst::load_constant(fw, value, size);
        let mut cur = first;
        for (i, inst) in seq.into_iter().enumerate() {
            let inst = match inst {
                MInst::MovK { size, imm, .. } if i > 0 => {
                    let (next, nw) = self.wi();
                    let k = MInst::MovK {
                        size,
                        rd: nw,
                        rn: cur,
                        imm,
                    };
                    cur = next;
                    k
                }
                other => other,
            };
            self.l.emit(inst);
        }
        cur
    }

    fn rrr(&mut self, size: OperandSize, op: AluOp, rn: Reg, rm: Reg) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRR {
            op,
            size,
            rd: dw,
            rn,
            rm,
        });
        d
    }

    /// The address of `target + offset` in a new register: the literal
    /// form, or with `is_pic` `adrp` + `add` (colocated) or a GOT load
    /// followed by the offset (anything that may live in another module).
    /// Cranelift takes colocated symbols through the GOT too; Kiln keeps
    /// them PC-relative as its x86-64 backend does (a colocated symbol binds
    /// inside the module, so it needs no slot).
    fn load_ext_name(&mut self, target: RelocTarget, offset: i64, colocated: bool) -> Reg {
        let mode = match (self.info.is_pic, colocated) {
            (false, _) => ExtNameMode::Literal,
            (true, true) => ExtNameMode::PcRel,
            (true, false) => ExtNameMode::Got,
        };
        let (d, dw) = self.wi();
        self.l.emit(MInst::LoadExtName {
            rd: dw,
            target,
            offset: if mode == ExtNameMode::Got { 0 } else { offset },
            mode,
        });
        if mode != ExtNameMode::Got || offset == 0 {
            return d;
        }
        let s64 = OperandSize::Size64;
        let (op, magnitude) = if offset < 0 {
            (AluOp::Sub, offset.unsigned_abs())
        } else {
            (AluOp::Add, offset as u64)
        };
        match Imm12::maybe_from_u64(magnitude) {
            Some(imm) => {
                let (r, rw) = self.wi();
                self.l.emit(MInst::AluRRImm12 {
                    op,
                    size: s64,
                    rd: rw,
                    rn: d,
                    imm,
                });
                r
            }
            None => {
                let c = self.constant(offset as u64, s64);
                self.rrr(s64, AluOp::Add, d, c)
            }
        }
    }

    fn cmp_imm(&mut self, size: OperandSize, rn: Reg, value: u64) {
        let imm = Imm12::maybe_from_u64(value).unwrap_or(Imm12 {
            bits: 0,
            shift12: false,
        });
        debug_assert_eq!(imm.value(), value);
        self.l.emit(MInst::AluRRImm12 {
            op: AluOp::Subs,
            size,
            rd: Writable::from_reg(regs::zr()),
            rn,
            imm,
        });
    }

    /// `r` (of type `from`) extended to 32 or 64 bits; unchanged when it is
    /// already that wide.
    fn extend(&mut self, from: Type, signed: bool, to_bits: u32, r: Reg) -> Reg {
        let bits = from.bits();
        if bits >= to_bits || bits >= 64 {
            return r;
        }
        let (d, dw) = self.wi();
        self.l.emit(MInst::Bfm {
            op: if signed { BfmOp::Sbfm } else { BfmOp::Ubfm },
            size: OperandSize::from_bits(to_bits),
            rd: dw,
            rn: r,
            immr: 0,
            imms: (bits - 1) as u8,
        });
        d
    }

    fn trap_if(&mut self, kind: CondBrKind, code: TrapCode) {
        self.l.emit(MInst::TrapIf { kind, code });
    }

    /// Loads an FP constant with the bits `bits` of `size`.
    fn fconst(&mut self, size: ScalarSize, bits: u64) -> Reg {
        let opsize = if size == ScalarSize::Size32 {
            OperandSize::Size32
        } else {
            OperandSize::Size64
        };
        let g = self.constant(bits, opsize);
        let (d, dw) = self.w(RegClass::Float);
        self.l.emit(MInst::MovToFpu {
            size,
            rd: dw,
            rn: g,
        });
        d
    }

    /// Lowers `call` / `call_indirect` (the shared half in
    /// [`call::call_setup`]).
    fn gen_call(&mut self, inst: Inst) -> Option<InstOutput> {
        let site = call::call_setup(self, inst)?;
        let callee = self.callee(site.callee)?;
        self.emit_call(callee, site.uses, site.defs, site.locs.callee_pop);
        for i in site.after {
            self.l.emit(i);
        }
        Some(InstOutput::none())
    }

    /// `bl` to a function reference, or `blr` to the register of an
    /// indirect callee's value.
    fn callee(&mut self, callee: Result<kiln_ir::FuncRef, Value>) -> Option<TryCallee> {
        Some(match callee {
            Ok(func_ref) => {
                let name = self.l.f.dfg.ext_funcs.get(func_ref)?.name.clone();
                TryCallee::Known(self.l.reloc_target(&name))
            }
            Err(v) => TryCallee::Reg(self.l.put_in_reg(v)),
        })
    }

    /// Emits a call that returns normally (`MInst::Call` / `CallInd`),
    /// clobbering what AAPCS64 lets a callee change.
    fn emit_call(
        &mut self,
        callee: TryCallee,
        uses: call::CallUses,
        defs: call::CallDefs,
        callee_pop: u32,
    ) {
        let clobbers = regs::call_clobbers(self.info.wide_fp_values);
        let (uses, defs) = (uses.into_vec(), defs.into_vec());
        self.l.emit(match callee {
            TryCallee::Known(target) => MInst::Call {
                target,
                uses,
                defs,
                clobbers,
                callee_pop,
            },
            TryCallee::Reg(rn) => MInst::CallInd {
                rn,
                uses,
                defs,
                clobbers,
                callee_pop,
            },
        });
    }

    fn gen_return(&mut self, inst: Inst) -> Option<InstOutput> {
        let vals: Vec<Value> = self.l.f.dfg.inst_args(inst).to_vec();
        let info = self.info;
        let rets = call::return_uses(self, &info.sig, &vals)?.into_vec();
        self.l.emit(MInst::Ret { rets });
        Some(InstOutput::none())
    }

    fn gen_stack(&mut self, inst: Inst) -> Option<InstOutput> {
        let f = self.l.f;
        let InstructionData::StackLoad {
            stack_slot, offset, ..
        } = f.dfg.insts[inst]
        else {
            return None;
        };
        let base = *self.info.slot_offsets.get(stack_slot.index())? as i64;
        let (d, dw) = self.wi();
        self.l.emit(MInst::LoadAddr {
            rd: dw,
            mem: AMode::SlotOffset {
                off: base + i64::from(offset.0),
            },
        });
        Some(InstOutput::one(d))
    }
}

impl<'f> CallGlue<'f> for Ctx<'_, '_, 'f> {
    type I = MInst;
    fn lower(&mut self) -> &mut Lower<'f, MInst> {
        self.l
    }
    fn sig_locs(&self, sig: &kiln_ir::Signature) -> CodegenResult<SigLocs> {
        abi::sig_locs(sig)
    }
    fn call_state(&mut self) -> &mut CallState {
        &mut self.state.call
    }
    fn extend_arg(&mut self, ty: Type, signed: bool, r: Reg) -> Reg {
        self.extend(ty, signed, 32, r)
    }
    fn store_arg(&mut self, part_ty: Type, r: Reg, sp_offset: u32) {
        self.l.emit(MInst::Store {
            kind: store_kind_of(part_ty),
            rd: r,
            mem: AMode::SpOffset {
                off: sp_offset as i64,
            },
        });
    }
    fn outgoing_addr(&mut self, sp_offset: u32) -> Reg {
        let (p, pw) = self.wi();
        self.l.emit(MInst::LoadAddr {
            rd: pw,
            mem: AMode::SpOffset {
                off: sp_offset as i64,
            },
        });
        p
    }
    fn load_result(&mut self, part_ty: Type, rd: Writable<Reg>, sp_offset: u32) -> MInst {
        MInst::Load {
            kind: load_kind_of(part_ty),
            rd,
            mem: AMode::SpOffset {
                off: sp_offset as i64,
            },
        }
    }
    fn store_return(&mut self, part_ty: Type, r: Reg, base: Reg, offset: u32) {
        self.l.emit(MInst::Store {
            kind: store_kind_of(part_ty),
            rd: r,
            mem: AMode::UnsignedOffset {
                rn: base,
                uimm: offset,
            },
        });
    }
}

impl generated::Context for Ctx<'_, '_, '_> {
    crate::machinst::isle::isle_prelude_methods!();

    fn size_of(&mut self, ty: Type) -> OperandSize {
        size_of_ty(ty)
    }
    fn fsize_of(&mut self, ty: Type) -> ScalarSize {
        fsize(ty)
    }
    fn imm12_from(&mut self, c: u64) -> Option<Imm12> {
        Imm12::maybe_from_u64(c)
    }
    fn imm12_for_cmp(&mut self, cc: IntCC, ty: Type, c: u64) -> Option<Imm12> {
        let bits = ty.bits();
        let v = if bits < 32 && self.intcc_signed(cc) {
            let sh = 64 - bits;
            ((((c << sh) as i64) >> sh) as u64) & 0xffff_ffff
        } else {
            c
        };
        Imm12::maybe_from_u64(v)
    }
    fn imm12_from_neg(&mut self, ty: Type, c: u64) -> Option<Imm12> {
        let bits = ty.bits().max(32);
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1 << bits) - 1
        };
        // Only for types of 32/64 bits: a narrow add wraps at its width
        // anyway, but the negation must be taken at the operation width.
        let ext = if ty.bits() < 32 {
            // Sign-extend the narrow constant so `-c` is small.
            let sh = 64 - ty.bits();
            (((c << sh) as i64) >> sh) as u64
        } else {
            c
        };
        let neg = ext.wrapping_neg() & mask;
        if neg == 0 {
            return None;
        }
        Imm12::maybe_from_u64(neg)
    }
    fn imm_logic(&mut self, ty: Type, c: u64) -> Option<ImmLogic> {
        let size = size_of_ty(ty);
        // A narrow value's upper bits are free: replicate the constant's
        // sign so that more constants have an encoding is not needed; only
        // its own bits matter, so try it zero- and one-extended.
        let bits = ty.bits();
        if bits < 32 {
            let m = (1u64 << bits) - 1;
            return ImmLogic::maybe_from_u64(c & m, size)
                .or_else(|| ImmLogic::maybe_from_u64((c & m) | !m, size));
        }
        ImmLogic::maybe_from_u64(c, size)
    }
    fn shift_amt(&mut self, ty: Type, k: u64) -> u8 {
        (k & (ty.bits() as u64 - 1)) as u8
    }
    fn top_bit(&mut self, ty: Type) -> u8 {
        (ty.bits() - 1) as u8
    }
    fn rotl_amt(&mut self, ty: Type, k: u64) -> u8 {
        let b = ty.bits() as u64;
        ((b - (k & (b - 1))) & (b - 1)) as u8
    }
    fn ty_bits_of(&mut self, ty: Type) -> u32 {
        ty.bits()
    }
    fn ty_bytes(&mut self, ty: Type) -> u32 {
        ty.bytes()
    }
    fn imm12_zero(&mut self) -> Imm12 {
        Imm12 {
            bits: 0,
            shift12: false,
        }
    }
    fn load_kind(&mut self, ty: Type) -> LoadKind {
        load_kind_of(ty)
    }
    fn store_kind(&mut self, ty: Type) -> StoreKind {
        store_kind_of(ty)
    }
    fn amode_plain(&mut self, bytes: u32, addr: Value, off: i32) -> AMode {
        let aty = self.l.value_type(addr);
        if aty != Type::I64 {
            self.l.set_error(CodegenError::Unsupported {
                what: format!("{aty} addresses on aarch64"),
            });
        }
        let base = self.l.put_in_reg(addr);
        let off = i64::from(off);
        if off >= 0 && off % i64::from(bytes) == 0 && off / i64::from(bytes) < 4096 {
            AMode::UnsignedOffset {
                rn: base,
                uimm: off as u32,
            }
        } else if (-256..256).contains(&off) {
            AMode::Unscaled {
                rn: base,
                simm: off as i16,
            }
        } else {
            let o = self.constant(off as u64, OperandSize::Size64);
            AMode::RegReg {
                rn: base,
                rm: o,
                scaled: false,
            }
        }
    }
    fn amode_uxtw(&mut self, off: i32, base: Reg, idx: Reg, scaled: bool) -> AMode {
        // The register-offset form has no displacement: a nonzero `off` is
        // added to the base (one `add`/`sub`, or a constant for far ones).
        let rn = if off == 0 {
            base
        } else {
            let mag = u64::from(off.unsigned_abs());
            let op = if off > 0 { AluOp::Add } else { AluOp::Sub };
            match Imm12::maybe_from_u64(mag) {
                Some(imm) => self.a64_imm12(OperandSize::Size64, op, base, imm),
                None => {
                    let o = self.constant(i64::from(off) as u64, OperandSize::Size64);
                    self.rrr(OperandSize::Size64, AluOp::Add, base, o)
                }
            }
        };
        AMode::RegExtended {
            rn,
            rm: idx,
            extend: ExtendOp::Uxtw,
            scaled,
        }
    }
    fn a64_add_offset(&mut self, off: i32, c: u64) -> Option<i32> {
        i32::try_from(i64::from(off).checked_add(c as i64)?).ok()
    }
    fn scale_matches(&mut self, bytes: u32, k: u64) -> bool {
        bytes.is_power_of_two() && k == u64::from(bytes.trailing_zeros())
    }
    fn zr(&mut self) -> Reg {
        regs::zr()
    }
    fn cond_invert(&mut self, c: Cond) -> Cond {
        c.invert()
    }
    fn intcc_to_cond(&mut self, cc: IntCC) -> Cond {
        match cc {
            IntCC::Equal => Cond::Eq,
            IntCC::NotEqual => Cond::Ne,
            IntCC::SignedLessThan => Cond::Lt,
            IntCC::SignedGreaterThanOrEqual => Cond::Ge,
            IntCC::SignedGreaterThan => Cond::Gt,
            IntCC::SignedLessThanOrEqual => Cond::Le,
            IntCC::UnsignedLessThan => Cond::Lo,
            IntCC::UnsignedGreaterThanOrEqual => Cond::Hs,
            IntCC::UnsignedGreaterThan => Cond::Hi,
            IntCC::UnsignedLessThanOrEqual => Cond::Ls,
        }
    }
    fn intcc_signed(&mut self, cc: IntCC) -> bool {
        matches!(
            cc,
            IntCC::SignedLessThan
                | IntCC::SignedGreaterThanOrEqual
                | IntCC::SignedGreaterThan
                | IntCC::SignedLessThanOrEqual
        )
    }
    /// The conditions one `fcmp` answers with one flag test (after
    /// `fcmp a, b`: eq Z; lt N!=V (unordered sets V, so `mi` is the ordered
    /// less-than); ...).
    fn floatcc_to_cond(&mut self, cc: FloatCC) -> Option<Cond> {
        Some(match cc {
            FloatCC::Ordered => Cond::Vc,
            FloatCC::Unordered => Cond::Vs,
            FloatCC::Equal => Cond::Eq,
            FloatCC::NotEqual => Cond::Ne,
            FloatCC::LessThan => Cond::Mi,
            FloatCC::LessThanOrEqual => Cond::Ls,
            FloatCC::GreaterThan => Cond::Gt,
            FloatCC::GreaterThanOrEqual => Cond::Ge,
            FloatCC::UnorderedOrLessThan => Cond::Lt,
            FloatCC::UnorderedOrLessThanOrEqual => Cond::Le,
            FloatCC::UnorderedOrGreaterThan => Cond::Hi,
            FloatCC::UnorderedOrGreaterThanOrEqual => Cond::Pl,
            FloatCC::OrderedNotEqual | FloatCC::UnorderedOrEqual => return None,
        })
    }

    fn a64_rrr(&mut self, size: OperandSize, op: AluOp, rn: Reg, rm: Reg) -> Reg {
        self.rrr(size, op, rn, rm)
    }
    fn a64_rrr_shift(
        &mut self,
        size: OperandSize,
        op: AluOp,
        rn: Reg,
        rm: Reg,
        sop: ShiftOp,
        amt: u8,
    ) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRRShift {
            op,
            size,
            rd: dw,
            rn,
            rm,
            shift: ShiftOpAndAmt { op: sop, amt },
        });
        d
    }
    fn a64_imm12(&mut self, size: OperandSize, op: AluOp, rn: Reg, imm: Imm12) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRImm12 {
            op,
            size,
            rd: dw,
            rn,
            imm,
        });
        d
    }
    fn a64_logic_imm(&mut self, size: OperandSize, op: AluOp, rn: Reg, imm: ImmLogic) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRImmLogic {
            op,
            size,
            rd: dw,
            rn,
            imm,
        });
        d
    }
    fn a64_shift_imm(&mut self, size: OperandSize, op: ShiftOp, rn: Reg, amt: u8) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRImmShift {
            op,
            size,
            rd: dw,
            rn,
            amt,
        });
        d
    }
    fn a64_rrrr(&mut self, size: OperandSize, op: AluOp3, rn: Reg, rm: Reg, ra: Reg) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRRR {
            op,
            size,
            rd: dw,
            rn,
            rm,
            ra,
        });
        d
    }
    fn a64_bit(&mut self, size: OperandSize, op: BitOp, rn: Reg) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::BitRR {
            op,
            size,
            rd: dw,
            rn,
        });
        d
    }
    fn a64_csel(&mut self, size: OperandSize, op: CSelOp, cond: Cond, rn: Reg, rm: Reg) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::CSel {
            op,
            size,
            cond,
            rd: dw,
            rn,
            rm,
        });
        d
    }
    fn a64_fcsel(&mut self, size: ScalarSize, cond: Cond, rn: Reg, rm: Reg) -> Reg {
        let (d, dw) = self.w(RegClass::Float);
        self.l.emit(MInst::FpuCSel {
            size,
            cond,
            rd: dw,
            rn,
            rm,
        });
        d
    }
    fn a64_bfm(&mut self, size: OperandSize, signed: bool, rn: Reg, immr: u8, imms: u8) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::Bfm {
            op: if signed { BfmOp::Sbfm } else { BfmOp::Ubfm },
            size,
            rd: dw,
            rn,
            immr,
            imms,
        });
        d
    }
    fn a64_const(&mut self, ty: Type, c: u64) -> Reg {
        self.constant(c, size_of_ty(ty))
    }
    fn a64_load(&mut self, kind: LoadKind, mem: AMode) -> Reg {
        let class = if kind.is_fpu() {
            RegClass::Float
        } else {
            RegClass::Int
        };
        let (d, dw) = self.w(class);
        self.l.emit(MInst::Load { kind, rd: dw, mem });
        d
    }
    fn a64_store(&mut self, kind: StoreKind, rd: Reg, mem: AMode) {
        self.l.emit(MInst::Store { kind, rd, mem });
    }
    fn a64_fpu_rr(&mut self, size: ScalarSize, op: FpuOp1, rn: Reg) -> Reg {
        let (d, dw) = self.w(RegClass::Float);
        self.l.emit(MInst::FpuRR {
            op,
            size,
            rd: dw,
            rn,
        });
        d
    }
    fn a64_fpu_rrr(&mut self, size: ScalarSize, op: FpuOp2, rn: Reg, rm: Reg) -> Reg {
        let (d, dw) = self.w(RegClass::Float);
        self.l.emit(MInst::FpuRRR {
            op,
            size,
            rd: dw,
            rn,
            rm,
        });
        d
    }
    fn a64_fmadd(&mut self, size: ScalarSize, rn: Reg, rm: Reg, ra: Reg) -> Reg {
        let (d, dw) = self.w(RegClass::Float);
        self.l.emit(MInst::FpuRRRR {
            op: FpuOp3::Fmadd,
            size,
            rd: dw,
            rn,
            rm,
            ra,
        });
        d
    }
    fn a64_fcvt(&mut self, from: ScalarSize, to: ScalarSize, rn: Reg) -> Reg {
        let (d, dw) = self.w(RegClass::Float);
        self.l.emit(MInst::FpuCvt {
            from,
            to,
            rd: dw,
            rn,
        });
        d
    }
    fn a64_fcvt_to_int(&mut self, signed: bool, from: ScalarSize, to: OperandSize, rn: Reg) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::FpuToInt {
            signed,
            from,
            to,
            rd: dw,
            rn,
        });
        d
    }
    fn a64_int_to_fcvt(&mut self, signed: bool, from: OperandSize, to: ScalarSize, rn: Reg) -> Reg {
        let (d, dw) = self.w(RegClass::Float);
        self.l.emit(MInst::IntToFpu {
            signed,
            from,
            to,
            rd: dw,
            rn,
        });
        d
    }
    fn a64_mov_to_fpu(&mut self, size: ScalarSize, rn: Reg) -> Reg {
        let (d, dw) = self.w(RegClass::Float);
        self.l.emit(MInst::MovToFpu { size, rd: dw, rn });
        d
    }
    fn a64_vec_rrr(&mut self, op: VecAluOp, rn: Reg, rm: Reg) -> Reg {
        let (d, dw) = self.w(RegClass::Float);
        self.l.emit(MInst::VecRRR { op, rd: dw, rn, rm });
        d
    }
    fn a64_mov_from_vec_hi(&mut self, rn: Reg) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::MovFromVecHi { rd: dw, rn });
        d
    }
    fn a64_mov_from_fpu(&mut self, size: ScalarSize, rn: Reg) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::MovFromFpu { size, rd: dw, rn });
        d
    }
    fn a64_cmp(&mut self, size: OperandSize, rn: Reg, rm: Reg) {
        self.l.emit(MInst::AluRRR {
            op: AluOp::Subs,
            size,
            rd: Writable::from_reg(regs::zr()),
            rn,
            rm,
        });
    }
    fn a64_cmp_imm(&mut self, size: OperandSize, rn: Reg, imm: Imm12) {
        self.cmp_imm(size, rn, imm.value());
    }
    fn a64_fcmp(&mut self, size: ScalarSize, rn: Reg, rm: Reg) {
        self.l.emit(MInst::FpuCmp { size, rn, rm });
    }
    fn a64_extend(&mut self, from: Type, signed: bool, to_bits: u32, r: Reg) -> Reg {
        self.extend(from, signed, to_bits, r)
    }

    /// Division with CLIF's traps: by zero (`int_divz`), and for signed
    /// division `MIN / -1` (`int_ovf`); the remainder is `a - (a / b) * b`
    /// (`msub`), which is 0 for `MIN % -1` without a trap.
    fn a64_divrem(&mut self, ty: Type, signed: bool, rem: bool, a: Reg, b: Reg) -> Reg {
        let bits = ty.bits();
        let size = size_of_ty(ty);
        let a = self.extend(ty, signed, 32, a);
        let b = self.extend(ty, signed, 32, b);
        self.trap_if(
            CondBrKind::Zero(b, size),
            TrapCode::INTEGER_DIVISION_BY_ZERO,
        );
        if signed && !rem {
            // cmn b, #1 (Z: b == -1); ccmp a, MIN, #0, eq (Z: a == MIN too).
            self.l.emit(MInst::AluRRImm12 {
                op: AluOp::Adds,
                size,
                rd: Writable::from_reg(regs::zr()),
                rn: b,
                imm: Imm12 {
                    bits: 1,
                    shift12: false,
                },
            });
            let min = (1u64 << (bits - 1)).wrapping_neg();
            let m = self.constant(min, size);
            self.l.emit(MInst::CCmp {
                size,
                rn: a,
                rm: m,
                nzcv: 0,
                cond: Cond::Eq,
            });
            self.trap_if(CondBrKind::Cond(Cond::Eq), TrapCode::INTEGER_OVERFLOW);
        }
        let op = if signed { AluOp::Sdiv } else { AluOp::Udiv };
        let q = self.rrr(size, op, a, b);
        if !rem {
            return q;
        }
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRRR {
            op: AluOp3::Msub,
            size,
            rd: dw,
            rn: q,
            rm: b,
            ra: a,
        });
        d
    }

    fn a64_mulhi(&mut self, ty: Type, signed: bool, a: Reg, b: Reg) -> Reg {
        let bits = ty.bits();
        if bits == 64 {
            let op = if signed { AluOp::Smulh } else { AluOp::Umulh };
            return self.rrr(OperandSize::Size64, op, a, b);
        }
        // Extend to 64 bits, multiply exactly, take the high half.
        let a = self.extend(ty, signed, 64, a);
        let b = self.extend(ty, signed, 64, b);
        let (p, pw) = self.wi();
        self.l.emit(MInst::AluRRRR {
            op: AluOp3::Madd,
            size: OperandSize::Size64,
            rd: pw,
            rn: a,
            rm: b,
            ra: regs::zr(),
        });
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRImmShift {
            op: if signed { ShiftOp::Asr } else { ShiftOp::Lsr },
            size: OperandSize::Size64,
            rd: dw,
            rn: p,
            amt: bits as u8,
        });
        d
    }

    /// Shifts by a register amount: the hardware masks the amount to 32 or
    /// 64 bits; narrow types mask it to their own width and extend the
    /// value for right shifts.
    fn a64_shift_reg(&mut self, ty: Type, op: ShiftOp, a: Reg, amt: Reg) -> Reg {
        let bits = ty.bits();
        let size = size_of_ty(ty);
        let (a, amt) = if bits < 32 {
            let a = match op {
                ShiftOp::Lsr => self.extend(ty, false, 32, a),
                ShiftOp::Asr => self.extend(ty, true, 32, a),
                _ => a,
            };
            let mask = ImmLogic::maybe_from_u64(u64::from(bits - 1), OperandSize::Size32)
                .expect("bits - 1 is a run of ones");
            let (m, mw) = self.wi();
            self.l.emit(MInst::AluRRImmLogic {
                op: AluOp::And,
                size: OperandSize::Size32,
                rd: mw,
                rn: amt,
                imm: mask,
            });
            (a, m)
        } else {
            (a, amt)
        };
        let alu = match op {
            ShiftOp::Lsl => AluOp::Lslv,
            ShiftOp::Lsr => AluOp::Lsrv,
            ShiftOp::Asr => AluOp::Asrv,
            ShiftOp::Ror => AluOp::Rorv,
        };
        self.rrr(size, alu, a, amt)
    }

    /// clz/cls/ctz/bitrev/bswap at any width from the 32/64-bit forms.
    fn a64_count(&mut self, ty: Type, op: BitOp, trailing: bool, a: Reg) -> Reg {
        let bits = ty.bits();
        let size = size_of_ty(ty);
        let w = size.bits();
        let bit = |s: &mut Self, op, r| {
            let (d, dw) = s.wi();
            s.l.emit(MInst::BitRR {
                op,
                size,
                rd: dw,
                rn: r,
            });
            d
        };
        match (op, trailing) {
            (BitOp::Clz, false) | (BitOp::Cls, false) => {
                // Narrow: extend, count at 32, subtract the extra bits.
                let signed = op == BitOp::Cls;
                let x = self.extend(ty, signed, 32, a);
                let c = bit(self, op, x);
                if bits < w {
                    let imm = Imm12::maybe_from_u64(u64::from(w - bits)).unwrap_or(Imm12 {
                        bits: 0,
                        shift12: false,
                    });
                    return self.a64_imm12(size, AluOp::Sub, c, imm);
                }
                c
            }
            (BitOp::Clz, true) => {
                // ctz = clz(rbit(x)); a narrow value gets a stop bit at
                // its width so the count never exceeds it.
                let x = if bits < w {
                    let stop = ImmLogic::maybe_from_u64(1u64 << bits, size)
                        .expect("a single bit is a logical immediate");
                    self.a64_logic_imm(size, AluOp::Orr, a, stop)
                } else {
                    a
                };
                let r = bit(self, BitOp::Rbit, x);
                bit(self, BitOp::Clz, r)
            }
            (BitOp::Rbit, _) => {
                let r = bit(self, BitOp::Rbit, a);
                if bits < w {
                    return self.a64_shift_imm(size, ShiftOp::Lsr, r, (w - bits) as u8);
                }
                r
            }
            _ => {
                // bswap
                match bits {
                    16 => bit(self, BitOp::Rev16, a),
                    32 => bit(self, BitOp::Rev32, a),
                    64 => bit(self, BitOp::Rev64, a),
                    _ => a,
                }
            }
        }
    }

    /// `fcvt_to_sint`/`fcvt_to_uint`: trap on NaN (`bad_toint`) and on
    /// values outside the integer range (`int_ovf`), then convert.
    fn a64_fcvt_to_int_trap(&mut self, signed: bool, fty: Type, ity: Type, a: Reg) -> Reg {
        let fs = fsize(fty);
        let ibits = ity.bits();
        self.l.emit(MInst::FpuCmp {
            size: fs,
            rn: a,
            rm: a,
        });
        self.trap_if(
            CondBrKind::Cond(Cond::Vs),
            TrapCode::BAD_CONVERSION_TO_INTEGER,
        );
        // Exclusive bounds as floats: trap unless low < a < high (low is
        // exclusive -1 for unsigned, and MIN - 1 or an inclusive MIN for
        // signed depending on whether MIN - 1 is representable).
        let (low, low_inclusive, high) = if signed {
            let min = -(2f64.powi(ibits as i32 - 1));
            let high = 2f64.powi(ibits as i32 - 1);
            // MIN - 1 is exact when the integer is narrower than the
            // significand (f64: up to 32 bits; f32: up to 16).
            if (fty == Type::F64 && ibits <= 32) || (fty == Type::F32 && ibits <= 16) {
                (min - 1.0, false, high)
            } else {
                (min, true, high)
            }
        } else {
            (-1.0, false, 2f64.powi(ibits as i32))
        };
        let bits_of = |v: f64| -> u64 {
            if fs == ScalarSize::Size32 {
                u64::from((v as f32).to_bits())
            } else {
                v.to_bits()
            }
        };
        let lo = self.fconst(fs, bits_of(low));
        self.l.emit(MInst::FpuCmp {
            size: fs,
            rn: a,
            rm: lo,
        });
        // Trap when a < low (inclusive bound) or a <= low (exclusive).
        let c = if low_inclusive { Cond::Lt } else { Cond::Le };
        self.trap_if(CondBrKind::Cond(c), TrapCode::INTEGER_OVERFLOW);
        let hi = self.fconst(fs, bits_of(high));
        self.l.emit(MInst::FpuCmp {
            size: fs,
            rn: a,
            rm: hi,
        });
        self.trap_if(CondBrKind::Cond(Cond::Ge), TrapCode::INTEGER_OVERFLOW);
        self.a64_fcvt_to_int(signed, fs, size_of_ty(ity), a)
    }

    fn a64_fcmp_bool(&mut self, cc: FloatCC, size: ScalarSize, a: Reg, b: Reg) -> Reg {
        self.l.emit(MInst::FpuCmp { size, rn: a, rm: b });
        let cset = |s: &mut Self, c: Cond| {
            s.a64_csel(
                OperandSize::Size32,
                CSelOp::Csinc,
                c.invert(),
                regs::zr(),
                regs::zr(),
            )
        };
        match self.floatcc_to_cond(cc) {
            Some(c) => cset(self, c),
            None => {
                // one = mi | gt; ueq = eq | vs.
                let (c1, c2) = if cc == FloatCC::OrderedNotEqual {
                    (Cond::Mi, Cond::Gt)
                } else {
                    (Cond::Eq, Cond::Vs)
                };
                let x = cset(self, c1);
                let y = cset(self, c2);
                self.rrr(OperandSize::Size32, AluOp::Orr, x, y)
            }
        }
    }

    fn a64_jump(&mut self) {
        if let Some(&target) = self.targets.first() {
            self.l.emit(MInst::Jump { target });
        }
    }
    fn a64_condbr(&mut self, cond: Cond) {
        if let [taken, not_taken] = *self.targets {
            self.l.emit(MInst::CondBr {
                kind: CondBrKind::Cond(cond),
                taken,
                not_taken,
            });
        }
    }
    fn a64_brnz(&mut self, ty: Type, r: Reg) {
        let r = self.extend(ty, false, 32, r);
        if let [taken, not_taken] = *self.targets {
            self.l.emit(MInst::CondBr {
                kind: CondBrKind::NotZero(r, size_of_ty(ty)),
                taken,
                not_taken,
            });
        }
    }
    fn use_pinned_reg(&mut self) -> bool {
        self.info.pinned_reg
    }
    fn a64_get_pinned_reg(&mut self) -> Reg {
        let d = self.l.alloc_tmp(RegClass::Int);
        self.l.emit(MInst::Mov {
            size: OperandSize::Size64,
            rd: Writable::from_reg(d),
            rm: regs::xreg(regs::PINNED_ENC),
        });
        d
    }
    fn a64_set_pinned_reg(&mut self, v: Reg) {
        // x28 is outside the allocator's set with the setting on, so this
        // def is a fixed non-allocatable operand no value lives in.
        self.l.emit(MInst::Mov {
            size: OperandSize::Size64,
            rd: Writable::from_reg(regs::xreg(regs::PINNED_ENC)),
            rm: v,
        });
    }
    fn a64_frame_pointer(&mut self) -> Reg {
        // Every function keeps a frame record, so x29 is always its own
        // frame pointer (the address of the saved x29/x30 pair).
        let d = self.l.alloc_tmp(RegClass::Int);
        self.l.emit(MInst::Mov {
            size: OperandSize::Size64,
            rd: Writable::from_reg(d),
            rm: regs::fp(),
        });
        d
    }
    fn a64_stack_pointer(&mut self) -> Reg {
        // `mov xd, sp` (the encoder emits `add xd, sp, #0`).
        let d = self.l.alloc_tmp(RegClass::Int);
        self.l.emit(MInst::Mov {
            size: OperandSize::Size64,
            rd: Writable::from_reg(d),
            rm: regs::sp(),
        });
        d
    }
    fn a64_return_address(&mut self) -> Reg {
        // x30 holds the return address only on entry (any call clobbers
        // it), so read the copy the prologue saved at [x29, #8].
        let mem = AMode::FpOffset { off: 8 };
        if !self.info.sign_return_address {
            return self.a64_load(LoadKind::Load64, mem);
        }
        // The saved copy carries a pointer authentication code; `xpaclri`
        // strips it but works on x30 only. x30 is outside the allocator's
        // set and the epilogue reloads it from the frame record, so it is
        // free to use as the scratch here.
        let lr = Writable::from_reg(regs::lr());
        self.l.emit(MInst::Load {
            kind: LoadKind::Load64,
            rd: lr,
            mem,
        });
        self.l.emit(MInst::Hint {
            op: HintOp::Xpaclri,
        });
        let d = self.l.alloc_tmp(RegClass::Int);
        self.l.emit(MInst::Mov {
            size: OperandSize::Size64,
            rd: Writable::from_reg(d),
            rm: regs::lr(),
        });
        d
    }
    fn a64_udf(&mut self, code: TrapCode) {
        self.l.emit(MInst::Udf { code });
    }
    fn a64_trap_if(&mut self, cond: Cond, code: TrapCode) {
        self.trap_if(CondBrKind::Cond(cond), code);
    }
    fn a64_call(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_call(inst)
    }
    fn a64_return(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_return(inst)
    }
    fn a64_return_call(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_return_call(inst)
    }
    fn a64_stack(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_stack(inst)
    }

    fn fsize_int(&mut self, ty: Type) -> OperandSize {
        size_of_ty(ty)
    }

    /// `copysign(a, b)`: the magnitude bits of `a` with the sign bit of `b`,
    /// in the integer unit (`bfxil`-free: and/or with the sign mask).
    fn a64_copysign(&mut self, ty: Type, a: Reg, b: Reg) -> Reg {
        let s = fsize(ty);
        let size = size_of_ty(ty);
        let x = self.a64_mov_from_fpu(s, a);
        let y = self.a64_mov_from_fpu(s, b);
        let sign = 1u64 << (ty.bits() - 1);
        let mag = ImmLogic::maybe_from_u64(sign - 1, size).expect("a run of ones");
        let sgn = ImmLogic::maybe_from_u64(sign, size).expect("a single bit");
        let m = self.a64_logic_imm(size, AluOp::And, x, mag);
        let g = self.a64_logic_imm(size, AluOp::And, y, sgn);
        let r = self.rrr(size, AluOp::Orr, m, g);
        self.a64_mov_to_fpu(s, r)
    }

    /// Rotate of an i8/i16 by a register amount: `(x >> k) | (x << (n - k))`
    /// on the zero-extended value, `k` taken modulo `n` (a left rotate
    /// right-rotates by `n - k`).
    fn a64_rotate_narrow(&mut self, ty: Type, left: bool, a: Reg, amt: Reg) -> Reg {
        let n = ty.bits();
        let s32 = OperandSize::Size32;
        let x = self.extend(ty, false, 32, a);
        let mask = ImmLogic::maybe_from_u64(u64::from(n - 1), s32).expect("a run of ones");
        let k0 = self.a64_logic_imm(s32, AluOp::And, amt, mask);
        let k = if left {
            let nk = self.rrr(s32, AluOp::Sub, regs::zr(), k0);
            self.a64_logic_imm(s32, AluOp::And, nk, mask)
        } else {
            k0
        };
        let nn = self.constant(u64::from(n), s32);
        let back = self.rrr(s32, AluOp::Sub, nn, k);
        let lo = self.rrr(s32, AluOp::Lsrv, x, k);
        let hi = self.rrr(s32, AluOp::Lslv, x, back);
        self.rrr(s32, AluOp::Orr, lo, hi)
    }

    /// Clamps a 32-bit conversion result to the range of `ty` (i8/i16).
    fn a64_clamp(&mut self, ty: Type, signed: bool, r: Reg) -> Reg {
        let n = ty.bits();
        let s32 = OperandSize::Size32;
        let (lo, hi) = if signed {
            (
                (1u64 << (n - 1)).wrapping_neg() & 0xffff_ffff,
                (1u64 << (n - 1)) - 1,
            )
        } else {
            (0, (1u64 << n) - 1)
        };
        let h = self.constant(hi, s32);
        self.a64_cmp(s32, r, h);
        let c = if signed { Cond::Gt } else { Cond::Hi };
        let r = self.a64_csel(s32, CSelOp::Csel, c, h, r);
        if !signed {
            return r;
        }
        let l = self.constant(lo, s32);
        self.a64_cmp(s32, r, l);
        self.a64_csel(s32, CSelOp::Csel, Cond::Lt, l, r)
    }

    fn a64_uadd_overflow_trap(&mut self, inst: Inst) -> Option<InstOutput> {
        let f = self.l.f;
        let InstructionData::IntAddTrap { args, code, .. } = f.dfg.insts[inst] else {
            return None;
        };
        let ty = f.dfg.value_type(f.dfg.first_result(inst)?);
        if ty != Type::I32 && ty != Type::I64 {
            return None;
        }
        let a = self.l.put_in_reg(args[0]);
        let b = self.l.put_in_reg(args[1]);
        let r = self.rrr(size_of_ty(ty), AluOp::Adds, a, b);
        self.trap_if(CondBrKind::Cond(Cond::Hs), code);
        Some(InstOutput::one(r))
    }

    fn imm12_one(&mut self) -> Imm12 {
        Imm12 {
            bits: 1,
            shift12: false,
        }
    }
    fn off_plus8(&mut self, off: i32) -> i32 {
        off.wrapping_add(8)
    }
    fn a64_overflow128(
        &mut self,
        i: Inst,
        lo_op: AluOp,
        hi_op: AluOp,
        cond: Cond,
        a: Value,
        b: Value,
    ) -> InstOutput {
        self.overflow128(i, (lo_op, hi_op, cond), a, b, None)
    }
    fn a64_carry128(
        &mut self,
        i: Inst,
        add: bool,
        op: AluOp,
        cond: Cond,
        a: Value,
        b: Value,
        c: Value,
    ) -> InstOutput {
        self.overflow128(i, (op, op, cond), a, b, Some((add, c)))
    }
    fn a64_mulhi128(&mut self, signed: bool, a: Value, b: Value) -> InstOutput {
        self.mulhi128(signed, a, b)
    }
    fn a64_mul_overflow128(&mut self, i: Inst, signed: bool, a: Value, b: Value) -> InstOutput {
        self.mul_overflow128(i, signed, a, b)
    }
    fn a64_shift128(&mut self, op: ShiftOp, lo: Reg, hi: Reg, amt: Reg) -> InstOutput {
        let (l, h) = self.shift128_regs(op, lo, hi, amt);
        InstOutput::two(l, h)
    }
    fn a64_rotate128(&mut self, left: bool, lo: Reg, hi: Reg, amt: Reg) -> InstOutput {
        self.rotate128(left, lo, hi, amt)
    }
    fn a64_popcnt64(&mut self, r: Reg) -> Reg {
        self.popcnt64(r)
    }
    fn a64_atomic_rmw(
        &mut self,
        ty: Type,
        flags: kiln_ir::MemFlags,
        op: kiln_ir::AtomicRmwOp,
        addr: Reg,
        v: Reg,
    ) -> Reg {
        self.atomic_rmw(ty, flags, op, addr, v)
    }
    fn a64_atomic_cas(
        &mut self,
        ty: Type,
        flags: kiln_ir::MemFlags,
        addr: Reg,
        e: Reg,
        v: Reg,
    ) -> Reg {
        self.atomic_cas(ty, flags, addr, e, v)
    }
    fn a64_atomic_load(&mut self, ty: Type, flags: kiln_ir::MemFlags, addr: Reg) -> Reg {
        self.atomic_load(ty, flags, addr)
    }
    fn a64_atomic_store(&mut self, ty: Type, flags: kiln_ir::MemFlags, v: Reg, addr: Reg) {
        self.atomic_store(ty, flags, v, addr)
    }
    fn a64_atomic_rmw128(
        &mut self,
        flags: kiln_ir::MemFlags,
        op: kiln_ir::AtomicRmwOp,
        addr: Reg,
        lo: Reg,
        hi: Reg,
    ) -> InstOutput {
        self.atomic_rmw128(flags, Some(op), addr, Some((lo, hi)))
    }
    fn a64_atomic_load128(&mut self, flags: kiln_ir::MemFlags, addr: Reg) -> InstOutput {
        self.atomic_rmw128(flags, None, addr, None)
    }
    fn a64_atomic_cas128(
        &mut self,
        flags: kiln_ir::MemFlags,
        addr: Reg,
        el: Reg,
        eh: Reg,
        rl: Reg,
        rh: Reg,
    ) -> InstOutput {
        self.atomic_cas128(flags, addr, (el, eh), (rl, rh))
    }
    fn a64_divrem128(
        &mut self,
        signed: bool,
        rem: bool,
        al: Reg,
        ah: Reg,
        bl: Reg,
        bh: Reg,
    ) -> InstOutput {
        self.divrem128(signed, rem, (al, ah), (bl, bh))
    }
    fn a64_br_table(&mut self, idx: Reg) {
        let Some((&default, targets)) = self.targets.split_first() else {
            return;
        };
        // The index is an i32 whose upper bits are undefined: `mov wN, wM`
        // zero-extends it for the 64-bit table index.
        let (i, iw) = self.wi();
        self.l.emit(MInst::Mov {
            size: OperandSize::Size32,
            rd: iw,
            rm: idx,
        });
        let (_, t1) = self.wi();
        let (_, t2) = self.wi();
        self.l.emit(MInst::JmpTable {
            idx: i,
            tmp1: t1,
            tmp2: t2,
            default,
            targets: targets.to_vec().into_boxed_slice(),
            bti: self.info.use_bti,
        });
    }
    fn a64_func_addr(&mut self, func: kiln_ir::FuncRef) -> Reg {
        let data = &self.l.f.dfg.ext_funcs[func];
        let (name, colocated) = (data.name.clone(), data.colocated);
        let target = self.l.reloc_target(&name);
        self.load_ext_name(target, 0, colocated)
    }
    fn a64_symbol_value(&mut self, gv: kiln_ir::GlobalValue) -> Option<Reg> {
        match self.l.f.global_values.get(gv)? {
            kiln_ir::GlobalValueData::Symbol {
                name,
                offset,
                colocated,
                ..
            } => {
                let (name, offset, colocated) = (name.clone(), offset.bits(), *colocated);
                let target = self.l.reloc_target(&name);
                Some(self.load_ext_name(target, offset, colocated))
            }
            _ => None,
        }
    }
    fn a64_try_call(&mut self, inst: Inst) -> Option<()> {
        self.gen_try_call(inst)
    }
    fn a64_exception_handler_address(&mut self, inst: Inst) -> Option<InstOutput> {
        self.gen_exception_handler_address(inst)
    }
    fn a64_fence(&mut self) {
        self.l.emit(MInst::Fence);
    }

    fn a64_icmp128(&mut self, cc: IntCC, alo: Reg, ahi: Reg, blo: Reg, bhi: Reg) -> Cond {
        let s64 = OperandSize::Size64;
        match cc {
            IntCC::Equal | IntCC::NotEqual => {
                self.a64_cmp(s64, alo, blo);
                // Z stays set only if the high halves are equal too.
                self.l.emit(MInst::CCmp {
                    size: s64,
                    rn: ahi,
                    rm: bhi,
                    nzcv: 0,
                    cond: Cond::Eq,
                });
                self.intcc_to_cond(cc)
            }
            _ => {
                // a < b as a 128-bit subtraction's flags; `>`/`<=` swap.
                let swap = matches!(
                    cc,
                    IntCC::SignedGreaterThan
                        | IntCC::SignedLessThanOrEqual
                        | IntCC::UnsignedGreaterThan
                        | IntCC::UnsignedLessThanOrEqual
                );
                let (xl, xh, yl, yh) = if swap {
                    (blo, bhi, alo, ahi)
                } else {
                    (alo, ahi, blo, bhi)
                };
                self.a64_cmp(s64, xl, yl);
                self.l.emit(MInst::AluRRR {
                    op: AluOp::Sbcs,
                    size: s64,
                    rd: Writable::from_reg(regs::zr()),
                    rn: xh,
                    rm: yh,
                });
                match cc {
                    IntCC::SignedLessThan | IntCC::SignedGreaterThan => Cond::Lt,
                    IntCC::SignedGreaterThanOrEqual | IntCC::SignedLessThanOrEqual => Cond::Ge,
                    IntCC::UnsignedLessThan | IntCC::UnsignedGreaterThan => Cond::Lo,
                    _ => Cond::Hs,
                }
            }
        }
    }
}
