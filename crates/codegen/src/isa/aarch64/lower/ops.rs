//! The longer aarch64 sequences behind the rules of
//! `isle-rules/aarch64/lower_i128.isle` and `lower_atomic.isle`: i128
//! overflow arithmetic and multiplies (three result registers, or a
//! 256-bit product), i128 shifts and rotates, population count, atomics.

use super::Ctx;
use crate::isa::aarch64::args::*;
use crate::isa::aarch64::inst::*;
use crate::isa::aarch64::regs;
use crate::machinst::lower::InstOutput;
use crate::machinst::reg::{Reg, Writable};
use crate::result::CodegenError;
use kiln_ir::{AtomicRmwOp, Endianness, Inst, MemFlags, Type, Value};

const S64: OperandSize = OperandSize::Size64;
const S32: OperandSize = OperandSize::Size32;

impl Ctx<'_, '_, '_> {
    /// A flag-setting operation whose only result is the flags.
    fn flags_rrr(&mut self, size: OperandSize, op: AluOp, rn: Reg, rm: Reg) {
        self.l.emit(MInst::AluRRR {
            op,
            size,
            rd: Writable::from_reg(regs::zr()),
            rn,
            rm,
        });
    }

    /// `cset` at 32 bits: 1 when `cond` holds, else 0.
    fn cset(&mut self, cond: Cond) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::CSel {
            op: CSelOp::Csinc,
            size: S32,
            cond: cond.invert(),
            rd: dw,
            rn: regs::zr(),
            rm: regs::zr(),
        });
        d
    }

    fn csel(&mut self, cond: Cond, rn: Reg, rm: Reg) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::CSel {
            op: CSelOp::Csel,
            size: S64,
            cond,
            rd: dw,
            rn,
            rm,
        });
        d
    }

    fn shift_imm(&mut self, op: ShiftOp, rn: Reg, amt: u8) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRImmShift {
            op,
            size: S64,
            rd: dw,
            rn,
            amt,
        });
        d
    }

    fn mul64(&mut self, rn: Reg, rm: Reg) -> Reg {
        let (d, dw) = self.wi();
        self.l.emit(MInst::AluRRRR {
            op: AluOp3::Madd,
            size: S64,
            rd: dw,
            rn,
            rm,
            ra: regs::zr(),
        });
        d
    }

    fn halves(&mut self, v: Value) -> (Reg, Reg) {
        (self.l.put_in_reg(v), self.l.put_in_reg_hi(v))
    }

    /// Sets C from the i8 carry (`add`) or borrow (`!add`) `c`: for adcs,
    /// C = (c != 0); for sbcs, C = no borrow = (c == 0).
    pub(super) fn carry_in(&mut self, add: bool, c: Reg) {
        let c = self.extend(kiln_ir::Type::I8, false, 32, c);
        if add {
            self.cmp_imm(S32, c, 1);
        } else {
            self.flags_rrr(S32, AluOp::Subs, regs::zr(), c);
        }
    }

    /// Copies `srcs` into the registers of `inst`'s results (an i128 and
    /// an i8 flag: three registers, more than an `InstOutput` holds).
    fn define_results(&mut self, inst: Inst, srcs: [Reg; 3]) -> InstOutput {
        let f = self.l.f;
        let results = f.dfg.inst_results(inst);
        let op = f.dfg.insts[inst].opcode();
        let (Some(&v), Some(&fv)) = (results.first(), results.get(1)) else {
            self.l.set_error(CodegenError::Unsupported {
                what: format!("{op} without two results"),
            });
            return InstOutput::none();
        };
        let vr = self.l.value_regs(v);
        let fr = self.l.value_regs(fv);
        for (dst, src) in [vr.regs[0], vr.regs[1], fr.regs[0]].into_iter().zip(srcs) {
            match dst {
                Some(d) => self.l.emit(MInst::gen_move(Writable::from_reg(d), src)),
                None => {
                    self.l.set_error(CodegenError::Unsupported {
                        what: format!("{op}.i128 result registers"),
                    });
                    return InstOutput::none();
                }
            }
        }
        InstOutput::none()
    }

    pub(super) fn overflow128(
        &mut self,
        inst: Inst,
        ops: (AluOp, AluOp, Cond),
        a: Value,
        b: Value,
        cin: Option<(bool, Value)>,
    ) -> InstOutput {
        let (a0, a1) = self.halves(a);
        let (b0, b1) = self.halves(b);
        if let Some((add, c)) = cin {
            let c = self.l.put_in_reg(c);
            self.carry_in(add, c);
        }
        let lo = self.rrr(S64, ops.0, a0, b0);
        let hi = self.rrr(S64, ops.1, a1, b1);
        let flag = self.cset(ops.2);
        self.define_results(inst, [lo, hi, flag])
    }

    /// The high 128 bits of the 256-bit product of two i128 pairs:
    /// four 64x64 products (mul/umulh), their middle column summed with
    /// carries; the signed form subtracts `b` when `a < 0` and `a` when
    /// `b < 0` (mod 2^128).
    fn mulhi128_regs(&mut self, signed: bool, a: (Reg, Reg), b: (Reg, Reg)) -> (Reg, Reg) {
        let ((a0, a1), (b0, b1)) = (a, b);
        let hi0 = self.rrr(S64, AluOp::Umulh, a0, b0);
        let lo1 = self.mul64(a0, b1);
        let hi1 = self.rrr(S64, AluOp::Umulh, a0, b1);
        let lo2 = self.mul64(a1, b0);
        let hi2 = self.rrr(S64, AluOp::Umulh, a1, b0);
        let lo3 = self.mul64(a1, b1);
        let hi3 = self.rrr(S64, AluOp::Umulh, a1, b1);
        let zr = regs::zr();
        // Column 1: hi0 + lo1 + lo2 (only its carries matter); column 2:
        // hi1 + hi2 + lo3 + carries; column 3: hi3 + carries.
        let t1 = self.rrr(S64, AluOp::Adds, hi0, lo1);
        let w2a = self.rrr(S64, AluOp::Adcs, hi1, hi2);
        let w3a = self.rrr(S64, AluOp::Adc, hi3, zr);
        self.flags_rrr(S64, AluOp::Adds, t1, lo2);
        let w2 = self.rrr(S64, AluOp::Adcs, w2a, lo3);
        let w3 = self.rrr(S64, AluOp::Adc, w3a, zr);
        if !signed {
            return (w2, w3);
        }
        let sa = self.shift_imm(ShiftOp::Asr, a1, 63);
        let sb = self.shift_imm(ShiftOp::Asr, b1, 63);
        let ta0 = self.rrr(S64, AluOp::And, b0, sa);
        let ta1 = self.rrr(S64, AluOp::And, b1, sa);
        let tb0 = self.rrr(S64, AluOp::And, a0, sb);
        let tb1 = self.rrr(S64, AluOp::And, a1, sb);
        let x2 = self.rrr(S64, AluOp::Subs, w2, ta0);
        let x3 = self.rrr(S64, AluOp::Sbc, w3, ta1);
        let y2 = self.rrr(S64, AluOp::Subs, x2, tb0);
        let y3 = self.rrr(S64, AluOp::Sbc, x3, tb1);
        (y2, y3)
    }

    pub(super) fn mulhi128(&mut self, signed: bool, a: Value, b: Value) -> InstOutput {
        let a = self.halves(a);
        let b = self.halves(b);
        let (lo, hi) = self.mulhi128_regs(signed, a, b);
        InstOutput::two(lo, hi)
    }

    /// `umul_overflow`/`smul_overflow` of i128: the low 128 bits of the
    /// product, overflowed when the high 128 bits are not the extension
    /// of the low ones (zero, or copies of its sign bit).
    pub(super) fn mul_overflow128(
        &mut self,
        inst: Inst,
        signed: bool,
        a: Value,
        b: Value,
    ) -> InstOutput {
        let (a0, a1) = self.halves(a);
        let (b0, b1) = self.halves(b);
        let lo = self.mul64(a0, b0);
        let h0 = self.rrr(S64, AluOp::Umulh, a0, b0);
        let (h1, h1w) = self.wi();
        self.l.emit(MInst::AluRRRR {
            op: AluOp3::Madd,
            size: S64,
            rd: h1w,
            rn: a0,
            rm: b1,
            ra: h0,
        });
        let (hi, hiw) = self.wi();
        self.l.emit(MInst::AluRRRR {
            op: AluOp3::Madd,
            size: S64,
            rd: hiw,
            rn: a1,
            rm: b0,
            ra: h1,
        });
        let (w2, w3) = self.mulhi128_regs(signed, (a0, a1), (b0, b1));
        let (x2, x3) = if signed {
            let s = self.shift_imm(ShiftOp::Asr, hi, 63);
            (
                self.rrr(S64, AluOp::Eor, w2, s),
                self.rrr(S64, AluOp::Eor, w3, s),
            )
        } else {
            (w2, w3)
        };
        let any = self.rrr(S64, AluOp::Orr, x2, x3);
        self.cmp_imm(S64, any, 0);
        let flag = self.cset(Cond::Ne);
        self.define_results(inst, [lo, hi, flag])
    }

    /// A 128-bit shift of the pair (lo, hi) by `amt` (modulo 128): both
    /// halves shifted by `amt mod 64`, the bits crossing between them
    /// shifted the other way by `64 - amt mod 64` (as `>> 1 >> ~amt`, which
    /// is right for 0 too), then bit 6 of the amount picks the halves.
    pub(super) fn shift128_regs(&mut self, op: ShiftOp, lo: Reg, hi: Reg, amt: Reg) -> (Reg, Reg) {
        let zr = regs::zr();
        let inv = self.rrr(S64, AluOp::Orn, zr, amt);
        let test64 = |s: &mut Self| {
            s.l.emit(MInst::AluRRImmLogic {
                op: AluOp::Ands,
                size: S64,
                rd: Writable::from_reg(regs::zr()),
                rn: amt,
                imm: ImmLogic::maybe_from_u64(64, S64).expect("one bit"),
            });
        };
        match op {
            ShiftOp::Lsl => {
                let lo_l = self.rrr(S64, AluOp::Lslv, lo, amt);
                let hi_l = self.rrr(S64, AluOp::Lslv, hi, amt);
                let c1 = self.shift_imm(ShiftOp::Lsr, lo, 1);
                let cross = self.rrr(S64, AluOp::Lsrv, c1, inv);
                let mh = self.rrr(S64, AluOp::Orr, hi_l, cross);
                test64(self);
                let rl = self.csel(Cond::Ne, zr, lo_l);
                let rh = self.csel(Cond::Ne, lo_l, mh);
                (rl, rh)
            }
            _ => {
                let arith = op == ShiftOp::Asr;
                let hop = if arith { AluOp::Asrv } else { AluOp::Lsrv };
                let hi_r = self.rrr(S64, hop, hi, amt);
                let lo_r = self.rrr(S64, AluOp::Lsrv, lo, amt);
                let c1 = self.shift_imm(ShiftOp::Lsl, hi, 1);
                let cross = self.rrr(S64, AluOp::Lslv, c1, inv);
                let ml = self.rrr(S64, AluOp::Orr, lo_r, cross);
                let fill = if arith {
                    self.shift_imm(ShiftOp::Asr, hi, 63)
                } else {
                    zr
                };
                test64(self);
                let rl = self.csel(Cond::Ne, hi_r, ml);
                let rh = self.csel(Cond::Ne, fill, hi_r);
                (rl, rh)
            }
        }
    }

    /// Rotates as two shifts by `amt` and `-amt` (both modulo 128), or'ed.
    pub(super) fn rotate128(&mut self, left: bool, lo: Reg, hi: Reg, amt: Reg) -> InstOutput {
        let neg = self.rrr(S64, AluOp::Sub, regs::zr(), amt);
        let (first, second) = if left {
            (ShiftOp::Lsl, ShiftOp::Lsr)
        } else {
            (ShiftOp::Lsr, ShiftOp::Lsl)
        };
        let (al, ah) = self.shift128_regs(first, lo, hi, amt);
        let (bl, bh) = self.shift128_regs(second, lo, hi, neg);
        let rl = self.rrr(S64, AluOp::Orr, al, bl);
        let rh = self.rrr(S64, AluOp::Orr, ah, bh);
        InstOutput::two(rl, rh)
    }

    /// The number of set bits of a 64-bit register: `fmov d, x`,
    /// `cnt v.8b`, `addv b`, `fmov w, s`.
    pub(super) fn popcnt64(&mut self, r: Reg) -> Reg {
        let (d, dw) = self.w(regalloc2::RegClass::Float);
        self.l.emit(MInst::MovToFpu {
            size: ScalarSize::Size64,
            rd: dw,
            rn: r,
        });
        let (c, cw) = self.w(regalloc2::RegClass::Float);
        self.l.emit(MInst::VecMisc {
            op: VecMiscOp::Cnt8B,
            rd: cw,
            rn: d,
        });
        let (s, sw) = self.w(regalloc2::RegClass::Float);
        self.l.emit(MInst::VecMisc {
            op: VecMiscOp::Addv8B,
            rd: sw,
            rn: c,
        });
        let (o, ow) = self.wi();
        self.l.emit(MInst::MovFromFpu {
            size: ScalarSize::Size32,
            rd: ow,
            rn: s,
        });
        o
    }
}

/// Atomics.
impl Ctx<'_, '_, '_> {
    /// Records an error for a big-endian atomic access (aarch64 runs
    /// little-endian here; a byte-reversed atomic has no single form).
    fn check_atomic_flags(&mut self, flags: MemFlags) {
        if flags.explicit_endianness() == Some(Endianness::Big) {
            self.l.set_error(CodegenError::Unsupported {
                what: "big-endian atomics on aarch64".into(),
            });
        }
    }

    pub(super) fn atomic_rmw(
        &mut self,
        ty: Type,
        flags: MemFlags,
        op: AtomicRmwOp,
        addr: Reg,
        operand: Reg,
    ) -> Reg {
        self.check_atomic_flags(flags);
        let bytes = ty.bytes() as u8;
        let size = if bytes == 8 { S64 } else { S32 };
        let (old, oldw) = self.wi();
        if self.info.has_lse && op != AtomicRmwOp::Nand {
            let (lop, rs) = match op {
                AtomicRmwOp::Add => (AtomicOp::Add, operand),
                AtomicRmwOp::Sub => (
                    AtomicOp::Add,
                    self.rrr(size, AluOp::Sub, regs::zr(), operand),
                ),
                AtomicRmwOp::And => (
                    AtomicOp::Clr,
                    self.rrr(size, AluOp::Orn, regs::zr(), operand),
                ),
                AtomicRmwOp::Or => (AtomicOp::Or, operand),
                AtomicRmwOp::Xor => (AtomicOp::Xor, operand),
                AtomicRmwOp::Xchg => (AtomicOp::Xchg, operand),
                AtomicRmwOp::Umin => (AtomicOp::Umin, operand),
                AtomicRmwOp::Umax => (AtomicOp::Umax, operand),
                AtomicRmwOp::Smin => (AtomicOp::Smin, operand),
                AtomicRmwOp::Smax => (AtomicOp::Smax, operand),
                AtomicRmwOp::Nand => unreachable!("excluded above"),
            };
            self.l.emit(MInst::AtomicRmwLse {
                op: lop,
                bytes,
                rs,
                rt: oldw,
                rn: addr,
            });
            return old;
        }
        let (aop, signed) = match op {
            AtomicRmwOp::Add => (AtomicOp::Add, false),
            AtomicRmwOp::Sub => (AtomicOp::Sub, false),
            AtomicRmwOp::And => (AtomicOp::And, false),
            AtomicRmwOp::Nand => (AtomicOp::Nand, false),
            AtomicRmwOp::Or => (AtomicOp::Or, false),
            AtomicRmwOp::Xor => (AtomicOp::Xor, false),
            AtomicRmwOp::Xchg => (AtomicOp::Xchg, false),
            AtomicRmwOp::Umin => (AtomicOp::Umin, false),
            AtomicRmwOp::Umax => (AtomicOp::Umax, false),
            AtomicRmwOp::Smin => (AtomicOp::Smin, true),
            AtomicRmwOp::Smax => (AtomicOp::Smax, true),
        };
        // Compares read the operand's bits above a narrow width: extend it
        // the way the loop compares (the loaded value is zero-extended).
        let operand = match aop {
            AtomicOp::Umin | AtomicOp::Umax | AtomicOp::Smin | AtomicOp::Smax => {
                self.extend(ty, signed, 32, operand)
            }
            _ => operand,
        };
        let (_, neww) = self.wi();
        let (_, statusw) = self.wi();
        self.l.emit(MInst::AtomicRmwLoop {
            op: aop,
            bytes,
            signed,
            addr,
            operand,
            old: oldw,
            new: neww,
            status: statusw,
        });
        old
    }

    pub(super) fn atomic_cas(
        &mut self,
        ty: Type,
        flags: MemFlags,
        addr: Reg,
        expected: Reg,
        replacement: Reg,
    ) -> Reg {
        self.check_atomic_flags(flags);
        let bytes = ty.bytes() as u8;
        let (old, oldw) = self.wi();
        if self.info.has_lse {
            self.l.emit(MInst::AtomicCasLse {
                bytes,
                old: oldw,
                expected,
                replacement,
                rn: addr,
            });
            return old;
        }
        // The loaded value is zero-extended; so must the expected one be.
        let expected = self.extend(ty, false, 32, expected);
        let (_, statusw) = self.wi();
        self.l.emit(MInst::AtomicCasLoop {
            bytes,
            addr,
            expected,
            replacement,
            old: oldw,
            status: statusw,
        });
        old
    }

    pub(super) fn atomic_load(&mut self, ty: Type, flags: MemFlags, addr: Reg) -> Reg {
        self.check_atomic_flags(flags);
        let (d, dw) = self.wi();
        self.l.emit(MInst::LoadAcquire {
            bytes: ty.bytes() as u8,
            rt: dw,
            rn: addr,
        });
        d
    }

    pub(super) fn atomic_store(&mut self, ty: Type, flags: MemFlags, v: Reg, addr: Reg) {
        self.check_atomic_flags(flags);
        self.l.emit(MInst::StoreRelease {
            bytes: ty.bytes() as u8,
            rt: v,
            rn: addr,
        });
    }

    /// The operation of an i128 atomic read-modify-write loop.
    fn atomic_op128(op: AtomicRmwOp) -> AtomicOp {
        match op {
            AtomicRmwOp::Add => AtomicOp::Add,
            AtomicRmwOp::Sub => AtomicOp::Sub,
            AtomicRmwOp::And => AtomicOp::And,
            AtomicRmwOp::Nand => AtomicOp::Nand,
            AtomicRmwOp::Or => AtomicOp::Or,
            AtomicRmwOp::Xor => AtomicOp::Xor,
            AtomicRmwOp::Xchg => AtomicOp::Xchg,
            AtomicRmwOp::Umin => AtomicOp::Umin,
            AtomicRmwOp::Umax => AtomicOp::Umax,
            AtomicRmwOp::Smin => AtomicOp::Smin,
            AtomicRmwOp::Smax => AtomicOp::Smax,
        }
    }

    /// An i128 read-modify-write (`op` `None`: an atomic load) returning
    /// the old value: a `caspal` loop with LSE (not for the load, which is
    /// one `caspal`), an `ldaxp`/`stlxp` loop otherwise. The address must
    /// be 16-byte aligned (both fault otherwise, as `cmpxchg16b` does).
    pub(super) fn atomic_rmw128(
        &mut self,
        flags: MemFlags,
        op: Option<AtomicRmwOp>,
        addr: Reg,
        operand: Option<(Reg, Reg)>,
    ) -> InstOutput {
        self.check_atomic_flags(flags);
        let (lo, lo_w) = self.wi();
        let (hi, hi_w) = self.wi();
        let zr = regs::zr();
        let op = op.map(Self::atomic_op128);
        let operand = operand.map_or([zr, zr], |(l, h)| [l, h]);
        let unused = Writable::from_reg(zr);
        match op {
            None if self.info.has_lse => {
                self.l
                    .emit(MInst::AtomicCas128Lse(Box::new(AtomicCas128Args {
                        addr,
                        expected: None,
                        replacement: None,
                        old: [lo_w, hi_w],
                        store: [unused, unused],
                        status: unused,
                    })));
            }
            Some(op) if self.info.has_lse => {
                let (_, n0) = self.wi();
                let (_, n1) = self.wi();
                let (_, c0) = self.wi();
                let (_, c1) = self.wi();
                self.l
                    .emit(MInst::AtomicRmw128Casp(Box::new(AtomicRmw128Args {
                        op: Some(op),
                        addr,
                        operand,
                        old: [lo_w, hi_w],
                        new: [n0, n1],
                        scratch: [c0, c1],
                    })));
            }
            _ => {
                // `new` is written only when something is computed.
                let new = if op.is_some_and(|o| o != AtomicOp::Xchg) {
                    [self.wi().1, self.wi().1]
                } else {
                    [unused, unused]
                };
                let (_, status) = self.wi();
                self.l
                    .emit(MInst::AtomicRmw128Loop(Box::new(AtomicRmw128Args {
                        op,
                        addr,
                        operand,
                        old: [lo_w, hi_w],
                        new,
                        scratch: [status, unused],
                    })));
            }
        }
        InstOutput::two(lo, hi)
    }

    /// The i128 compare-and-swap: one `caspal` with LSE (its register
    /// pairs are x0:x1 and x2:x3), an `ldaxp`/`stlxp` loop otherwise.
    pub(super) fn atomic_cas128(
        &mut self,
        flags: MemFlags,
        addr: Reg,
        expected: (Reg, Reg),
        replacement: (Reg, Reg),
    ) -> InstOutput {
        self.check_atomic_flags(flags);
        let (lo, lo_w) = self.wi();
        let (hi, hi_w) = self.wi();
        let unused = Writable::from_reg(regs::zr());
        if self.info.has_lse {
            // Four fixed registers: one vreg may not be constrained to two
            // of them (`iconcat x, x`, or the same value expected and
            // stored).
            let mut ins: Vec<Reg> = Vec::with_capacity(4);
            for r in [expected.0, expected.1, replacement.0, replacement.1] {
                let r = self.unique(r, ins.iter().copied());
                ins.push(r);
            }
            self.l
                .emit(MInst::AtomicCas128Lse(Box::new(AtomicCas128Args {
                    addr,
                    expected: Some([ins[0], ins[1]]),
                    replacement: Some([ins[2], ins[3]]),
                    old: [lo_w, hi_w],
                    store: [unused, unused],
                    status: unused,
                })));
        } else {
            let (_, s0) = self.wi();
            let (_, s1) = self.wi();
            let (_, status) = self.wi();
            self.l
                .emit(MInst::AtomicCas128Loop(Box::new(AtomicCas128Args {
                    addr,
                    expected: Some([expected.0, expected.1]),
                    replacement: Some([replacement.0, replacement.1]),
                    old: [lo_w, hi_w],
                    store: [s0, s1],
                    status,
                })));
        }
        InstOutput::two(lo, hi)
    }

    /// i128 `udiv`/`sdiv`/`urem`/`srem`: the traps, then the runtime
    /// routine (`__udivti3`, `__divti3`, `__umodti3`, `__modti3`; AAPCS64
    /// passes the halves in x0..x3 and returns x0:x1). A zero divisor
    /// traps with `int_divz`; `sdiv` of `MIN` by -1 with `int_ovf`; `srem`
    /// of it is 0 (the routine computes it without faulting).
    pub(super) fn divrem128(
        &mut self,
        signed: bool,
        rem: bool,
        a: (Reg, Reg),
        b: (Reg, Reg),
    ) -> InstOutput {
        let (al, ah) = a;
        let (bl, bh) = b;
        let any = self.rrr(S64, AluOp::Orr, bl, bh);
        self.trap_if(
            CondBrKind::Zero(any, S64),
            kiln_ir::TrapCode::INTEGER_DIVISION_BY_ZERO,
        );
        if signed && !rem {
            // b == -1: (bl & bh) + 1 == 0 (`cmn`); then a == MIN: al == 0
            // (`ccmp` with xzr) and ah == 1 << 63 (`ccmp`). Z survives only
            // when all three hold.
            let both = self.rrr(S64, AluOp::And, bl, bh);
            self.l.emit(MInst::AluRRImm12 {
                op: AluOp::Adds,
                size: S64,
                rd: Writable::from_reg(regs::zr()),
                rn: both,
                imm: Imm12 {
                    bits: 1,
                    shift12: false,
                },
            });
            self.l.emit(MInst::CCmp {
                size: S64,
                rn: al,
                rm: regs::zr(),
                nzcv: 0,
                cond: Cond::Eq,
            });
            let min = self.constant(1 << 63, S64);
            self.l.emit(MInst::CCmp {
                size: S64,
                rn: ah,
                rm: min,
                nzcv: 0,
                cond: Cond::Eq,
            });
            self.trap_if(
                CondBrKind::Cond(Cond::Eq),
                kiln_ir::TrapCode::INTEGER_OVERFLOW,
            );
        }
        let lc = match (signed, rem) {
            (false, false) => kiln_ir::LibCall::UdivI128,
            (true, false) => kiln_ir::LibCall::SdivI128,
            (false, true) => kiln_ir::LibCall::UremI128,
            (true, true) => kiln_ir::LibCall::SremI128,
        };
        let mut uses: Vec<(Reg, regalloc2::PReg)> = Vec::with_capacity(4);
        for (i, r) in [al, ah, bl, bh].into_iter().enumerate() {
            let r = self.unique(r, uses.iter().map(|u| u.0));
            uses.push((r, regs::xreg_preg(i as u8)));
        }
        let (lo, lo_w) = self.wi();
        let (hi, hi_w) = self.wi();
        self.l.emit(MInst::Call {
            target: crate::machinst::buffer::RelocTarget::LibCall(lc),
            uses,
            defs: vec![(lo_w, regs::xreg_preg(0)), (hi_w, regs::xreg_preg(1))],
            clobbers: regs::call_clobbers(self.info.wide_fp_values),
            callee_pop: 0,
        });
        InstOutput::two(lo, hi)
    }
}
