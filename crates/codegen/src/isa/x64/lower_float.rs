//! Float lowering helpers beyond the SSE2 core (rules in
//! `isle-rules/x64/lower_float.isle`): trapping float-to-int conversions,
//! `fma` and rounding through libcalls.

use super::generated::Context as _;
use super::*;
use crate::machinst::buffer::LibCall;

impl Ctx<'_, '_, '_> {
    /// The float constant `v` of type `ty` (f32 or f64) in an XMM register.
    fn float_const(&mut self, ty: Type, v: f64) -> Reg {
        let bits = if ty == Type::F64 {
            v.to_bits()
        } else {
            (v as f32).to_bits() as u64
        };
        <Self as generated::Context>::x64_fconst(self, ty, bits)
    }

    /// Checks before a trapping `fcvt_to_{s,u}int` of `x` (type `from`) to
    /// the integer type `to`: NaN traps with `bad_toint`, a value whose
    /// truncation does not fit `to` with `int_ovf`.
    fn fcvt_trap_checks(&mut self, from: Type, to: Type, signed: bool, x: Reg) {
        let double = from == Type::F64;
        let n = to.bits() as i32;
        // ucomis x, x: PF set iff x is NaN.
        self.l.emit(MInst::XmmCmp {
            double,
            src1: x,
            src2: RegMem::Reg(x),
        });
        self.l.emit(MInst::TrapIf {
            cc: CC::P,
            code: TrapCode::BAD_CONVERSION_TO_INTEGER,
        });
        // Lower bound. Signed: the smallest valid value is -2^(n-1); every
        // x > -2^(n-1) - 1 truncates into range. That bound is used when the
        // float type represents it exactly (n - 1 < mantissa bits); otherwise
        // the next float below -2^(n-1) is already at least 1 away, so
        // x >= -2^(n-1) is the exact condition. Unsigned: x > -1.
        let mantissa = if double { 53 } else { 24 };
        let (lo, inclusive) = if !signed {
            (-1.0, false)
        } else if n - 1 < mantissa {
            (-(2f64.powi(n - 1)) - 1.0, false)
        } else {
            (-(2f64.powi(n - 1)), true)
        };
        let c = self.float_const(from, lo);
        // ucomis x, c: CF = x < c (x is not NaN here), ZF = x == c.
        self.l.emit(MInst::XmmCmp {
            double,
            src1: x,
            src2: RegMem::Reg(c),
        });
        self.l.emit(MInst::TrapIf {
            cc: if inclusive { CC::B } else { CC::BE },
            code: TrapCode::INTEGER_OVERFLOW,
        });
        // Upper bound: x < 2^(n-1) (signed) or 2^n (unsigned), both exact.
        let hi = 2f64.powi(if signed { n - 1 } else { n });
        let c = self.float_const(from, hi);
        self.l.emit(MInst::XmmCmp {
            double,
            src1: x,
            src2: RegMem::Reg(c),
        });
        self.l.emit(MInst::TrapIf {
            cc: CC::NB,
            code: TrapCode::INTEGER_OVERFLOW,
        });
    }

    /// A trapping `fcvt_to_{s,u}int` of `x` (type `from`) to `to`.
    pub(super) fn fcvt_checked(&mut self, from: Type, to: Type, signed: bool, x: Reg) -> Reg {
        self.fcvt_trap_checks(from, to, signed, x);
        let n = to.bits();
        if !signed && n == 64 {
            // Values in [2^63, 2^64) need the adjusted conversion of the
            // saturating sequence, which is exact in range.
            return <Self as generated::Context>::x64_float_to_int_sat(self, from, to, false, x);
        }
        // In range, a truncating conversion is exact: at 32 bits for signed
        // i8..i32, at 64 bits for i64 and unsigned i8..i32 (< 2^32).
        let size = if n == 64 || !signed {
            OperandSize::Size64
        } else {
            OperandSize::Size32
        };
        let (d, dw) = self.w();
        self.l.emit(MInst::XmmToGpr {
            op: if from == Type::F64 {
                XmmToGprOp::Cvttsd2si
            } else {
                XmmToGprOp::Cvttss2si
            },
            dst_size: size,
            src: RegMem::Reg(x),
            dst: dw,
        });
        d
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

    /// `a * b + c` with one rounding, through the runtime (targets without
    /// FMA3).
    pub(super) fn fma_libcall(&mut self, ty: Type, a: Reg, b: Reg, c: Reg) -> Reg {
        let lc = if ty == Type::F64 {
            LibCall::FmaF64
        } else {
            LibCall::FmaF32
        };
        self.float_libcall(lc, &[a, b, c])
    }

    /// Rounding through the runtime (targets without SSE4.1).
    pub(super) fn round_libcall(&mut self, ty: Type, mode: RoundMode, x: Reg) -> Reg {
        let d = ty == Type::F64;
        let lc = match (mode, d) {
            (RoundMode::Nearest, false) => LibCall::NearestF32,
            (RoundMode::Nearest, true) => LibCall::NearestF64,
            (RoundMode::Floor, false) => LibCall::FloorF32,
            (RoundMode::Floor, true) => LibCall::FloorF64,
            (RoundMode::Ceil, false) => LibCall::CeilF32,
            (RoundMode::Ceil, true) => LibCall::CeilF64,
            (RoundMode::Trunc, false) => LibCall::TruncF32,
            (RoundMode::Trunc, true) => LibCall::TruncF64,
        };
        self.float_libcall(lc, &[x])
    }
}

impl Ctx<'_, '_, '_> {
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

    /// The 128 bits `hi:lo` of two GPRs in one XMM register.
    fn gprs_to_xmm128(&mut self, lo: Reg, hi: Reg) -> Reg {
        let xl = self.gpr_to_xmm(Type::F64, lo);
        let xh = self.gpr_to_xmm(Type::F64, hi);
        <Self as generated::Context>::x64_xmm_rmr(self, SseOp::Punpcklqdq, xl, RegMem::Reg(xh))
    }

    /// The low and high 64 bits of an XMM register in two GPRs.
    fn xmm128_to_gprs(&mut self, x: Reg) -> (Reg, Reg) {
        let movq = |s: &mut Self, src: Reg| {
            let (d, dw) = s.w();
            s.l.emit(MInst::XmmToGpr {
                op: XmmToGprOp::Mov,
                dst_size: OperandSize::Size64,
                src: RegMem::Reg(src),
                dst: dw,
            });
            d
        };
        let lo = movq(self, x);
        let h = <Self as generated::Context>::x64_xmm_rmr(self, SseOp::Unpckhpd, x, RegMem::Reg(x));
        let hi = movq(self, h);
        (lo, hi)
    }

    /// `f16const` / `f128const`.
    pub(super) fn wide_fconst(&mut self, inst: Inst) -> Reg {
        let f = self.l.f;
        match &f.dfg.insts[inst] {
            InstructionData::UnaryIeee16 { imm, .. } => {
                let g = self.x64_mov_imm(Type::I32, imm.0 as u64);
                self.gpr_to_xmm(Type::F32, g)
            }
            InstructionData::UnaryConst { constant, .. } => {
                let bytes = f.dfg.constants.get(*constant).map(|d| d.0.as_slice());
                let bits = match bytes {
                    Some(b) if b.len() == 16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        u128::from_le_bytes(a)
                    }
                    _ => {
                        self.unsupported_err("f128const without 16 bytes of data".into());
                        0
                    }
                };
                let lo = self.x64_mov_imm(Type::I64, bits as u64);
                let hi = self.x64_mov_imm(Type::I64, (bits >> 64) as u64);
                self.gprs_to_xmm128(lo, hi)
            }
            _ => {
                self.unsupported_err(format!("constant {}", f.dfg.insts[inst].opcode()));
                self.l.alloc_tmp(RegClass::Float)
            }
        }
    }

    /// `bitcast` between i16 and f16 or i128 and f128.
    pub(super) fn wide_bitcast(&mut self, to: Type, x: Value) -> Option<InstOutput> {
        let from = self.l.value_type(x);
        match (from, to) {
            (Type::I16, Type::F16) => {
                let r = self.l.put_in_reg(x);
                Some(InstOutput::one(self.gpr_to_xmm(Type::F32, r)))
            }
            (Type::F16, Type::I16) => {
                let r = self.l.put_in_reg(x);
                let (d, dw) = self.w();
                self.l.emit(MInst::XmmToGpr {
                    op: XmmToGprOp::Mov,
                    dst_size: OperandSize::Size32,
                    src: RegMem::Reg(r),
                    dst: dw,
                });
                Some(InstOutput::one(d))
            }
            (Type::I128, Type::F128) => {
                let regs = self.l.put_value_in_regs(x).regs;
                let (lo, hi) = (regs[0]?, regs[1]?);
                Some(InstOutput::one(self.gprs_to_xmm128(lo, hi)))
            }
            (Type::F128, Type::I128) => {
                let r = self.l.put_in_reg(x);
                let (lo, hi) = self.xmm128_to_gprs(r);
                Some(InstOutput::two(lo, hi))
            }
            (Type::F16, Type::F16) | (Type::F128, Type::F128) => {
                Some(InstOutput::one(self.l.put_in_reg(x)))
            }
            _ => None,
        }
    }

    /// `select` of f16/f128 values on an integer condition `c` (type
    /// `cty`): a full 128-bit mask, `(x & m) | (y & !m)`.
    pub(super) fn wide_fselect(&mut self, cty: Type, c: Reg, x: Reg, y: Reg) -> Reg {
        let size = self.size_of(cty);
        self.x64_test(size, c, RegMemImm::Reg(c));
        let b = self.x64_setcc_zx(CC::NZ);
        let m = self.x64_neg(OperandSize::Size64, b);
        let xm = self.gprs_to_xmm128(m, m);
        let t1 = self.x64_xmm_rmr(SseOp::Andpd, xm, RegMem::Reg(x));
        let t2 = self.x64_xmm_rmr(SseOp::Andnpd, xm, RegMem::Reg(y));
        self.x64_xmm_rmr(SseOp::Orpd, t1, RegMem::Reg(t2))
    }
}
