//! x86-64 lowering of the integer operations beyond the core
//! (`isle-rules/x64/lower_i128.isle`): the rest of i128 (bit counting,
//! byte and bit reversal, rotates, min/max, absolute value, overflow
//! arithmetic, division through libcalls), `bitrev` at every width and the
//! carry-in / borrow-in overflow forms.
//!
//! An i128 value is a pair of 64-bit registers, low half first. Sequences
//! that carry a flag from one instruction to the next (add/adc, sub/sbb,
//! cmp/sbb + cmov) rely on the register allocator's moves, spills and
//! reloads being `mov`s, which leave the flags alone.

use super::generated::Context;
use super::*;
use kiln_ir::{AtomicRmwOp, LibCall};

const S64: OperandSize = OperandSize::Size64;
const S32: OperandSize = OperandSize::Size32;

impl Ctx<'_, '_, '_> {
    /// Both halves of an i128 value.
    fn halves(&mut self, v: Value) -> (Reg, Reg) {
        (self.put_in_reg(v), self.put_in_reg_hi(v))
    }

    /// Sets CF to `c != 0` for an i8 carry/borrow-in value in `c`: the
    /// zero-extended value is negated (`neg` sets CF iff its operand is
    /// not zero). Nothing that writes the flags may follow before the
    /// consuming `adc`/`sbb`.
    fn carry_in(&mut self, c: Reg) {
        let z = self.extend(Type::I8, 32, false, c);
        self.x64_neg(S32, z);
    }

    /// Reverses the bits of a 32- or 64-bit register: adjacent bits,
    /// pairs and nibbles are swapped with masks and shifts, then the bytes
    /// with `bswap`.
    fn bitrev_reg(&mut self, size: OperandSize, x: Reg) -> Reg {
        let wide = size == S64;
        let steps: [(u64, u8); 3] = [
            (0x5555_5555_5555_5555, 1),
            (0x3333_3333_3333_3333, 2),
            (0x0f0f_0f0f_0f0f_0f0f, 4),
        ];
        let mut x = x;
        for (mask, sh) in steps {
            // x = ((x >> sh) & m) | ((x & m) << sh)
            let m = if wide {
                RegMemImm::Reg(self.x64_mov_imm(Type::I64, mask))
            } else {
                RegMemImm::Imm(mask as u32 as i32)
            };
            let t = self.x64_shift_imm(size, ShiftKind::Shr, x, sh);
            let t = self.x64_alu(size, AluOp::And, t, m.clone());
            let u = self.x64_alu(size, AluOp::And, x, m);
            let u = self.x64_shift_imm(size, ShiftKind::Shl, u, sh);
            x = self.x64_alu(size, AluOp::Or, t, RegMemImm::Reg(u));
        }
        let ty = if wide { Type::I64 } else { Type::I32 };
        self.x64_bswap(ty, x)
    }

    /// `bitrev` of an i8..i64 value. Narrow types are reversed at 32 bits
    /// and shifted down: their undefined upper bits end up below the
    /// shifted-out part.
    pub(super) fn lower_bitrev(&mut self, ty: Type, x: Reg) -> Reg {
        let bits = ty.bits();
        if bits == 64 {
            return self.bitrev_reg(S64, x);
        }
        let r = self.bitrev_reg(S32, x);
        self.x64_shift_imm(S32, ShiftKind::Shr, r, (32 - bits) as u8)
    }

    /// `bmask` where the input or the result is an i128.
    pub(super) fn lower_bmask_wide(&mut self, to: Type, x: Value) -> InstOutput {
        let from = self.l.value_type(x);
        if from == Type::I128 {
            let (lo, hi) = self.halves(x);
            self.x64_alu(S64, AluOp::Or, lo, RegMemImm::Reg(hi));
        } else {
            let r = self.put_in_reg(x);
            let size = self.size_of(from);
            self.x64_test(size, r, RegMemImm::Reg(r));
        }
        let b = self.x64_setcc_zx(CC::NZ);
        let m = self.x64_neg(S64, b);
        if to == Type::I128 {
            InstOutput::two(m, m)
        } else {
            InstOutput::one(m)
        }
    }

    /// Rotates an i128 left (or right) by the low 7 bits of `amt` (any
    /// integer type; an i128 amount uses its low half).
    pub(super) fn rotate128(&mut self, right: bool, x: Value, amt: Value) -> InstOutput {
        let (lo, hi) = self.halves(x);
        let n = self.put_in_reg(amt);
        // A right rotate by n is a left rotate by -n (mod 128).
        let n = if right { self.x64_neg(S64, n) } else { n };
        // Bit 6 of the amount: a rotate by 64 swaps the halves.
        self.x64_test(S64, n, RegMemImm::Imm(64));
        let a = self.x64_cmove(S64, CC::NZ, RegMem::Reg(hi), lo);
        let b = self.x64_cmove(S64, CC::NZ, RegMem::Reg(lo), hi);
        // Then both halves move left by s = n & 63, each taking the top s
        // bits of the other (none when s == 0: a shift by 64 - 0 would be
        // masked to 0 by the hardware).
        let s = self.x64_alu(S64, AluOp::And, n, RegMemImm::Imm(63));
        let c64 = self.x64_mov_imm(Type::I64, 64);
        let back = self.x64_alu(S64, AluOp::Sub, c64, RegMemImm::Reg(s));
        let zero = self.x64_mov_imm(Type::I64, 0);
        let a_main = self.x64_shift_cl(S64, ShiftKind::Shl, a, s);
        let b_main = self.x64_shift_cl(S64, ShiftKind::Shl, b, s);
        let a_out = self.x64_shift_cl(S64, ShiftKind::Shr, a, back);
        let b_out = self.x64_shift_cl(S64, ShiftKind::Shr, b, back);
        self.x64_test(S64, s, RegMemImm::Reg(s));
        let a_out = self.x64_cmove(S64, CC::Z, RegMem::Reg(zero), a_out);
        let b_out = self.x64_cmove(S64, CC::Z, RegMem::Reg(zero), b_out);
        let l = self.x64_alu(S64, AluOp::Or, a_main, RegMemImm::Reg(b_out));
        let h = self.x64_alu(S64, AluOp::Or, b_main, RegMemImm::Reg(a_out));
        InstOutput::two(l, h)
    }

    /// i128 division and remainder through a runtime function (System V:
    /// the four halves in rdi, rsi, rdx, rcx; the result in rax:rdx). The
    /// traps happen here, before the call: division by zero, and for
    /// `sdiv` the overflow of `INT_MIN / -1` (`srem` gives 0 for it).
    pub(super) fn divrem128(&mut self, signed: bool, rem: bool, a: Value, b: Value) -> InstOutput {
        let (al, ah) = self.halves(a);
        let (bl, bh) = self.halves(b);
        self.x64_alu(S64, AluOp::Or, bl, RegMemImm::Reg(bh));
        self.x64_trap_if(CC::Z, TrapCode::INTEGER_DIVISION_BY_ZERO);
        if signed && !rem {
            // Zero iff b == -1 (both halves all ones).
            let m = self.x64_alu(S64, AluOp::And, bl, RegMemImm::Reg(bh));
            let m = self.x64_not(S64, m);
            // Zero iff a == INT_MIN.
            let k = self.x64_mov_imm(Type::I64, 1 << 63);
            let k = self.x64_alu(S64, AluOp::Xor, k, RegMemImm::Reg(ah));
            let k = self.x64_alu(S64, AluOp::Or, k, RegMemImm::Reg(al));
            self.x64_alu(S64, AluOp::Or, k, RegMemImm::Reg(m));
            self.x64_trap_if(CC::Z, TrapCode::INTEGER_OVERFLOW);
        }
        let lc = match (signed, rem) {
            (false, false) => LibCall::UdivI128,
            (true, false) => LibCall::SdivI128,
            (false, true) => LibCall::UremI128,
            (true, true) => LibCall::SremI128,
        };
        let args = [
            (al, regs::gpr_preg(regs::enc::RDI)),
            (ah, regs::gpr_preg(regs::enc::RSI)),
            (bl, regs::gpr_preg(regs::enc::RDX)),
            (bh, regs::gpr_preg(regs::enc::RCX)),
        ];
        let (lo, low) = self.w();
        let (hi, hiw) = self.w();
        let rets = [
            (low, regs::gpr_preg(regs::enc::RAX)),
            (hiw, regs::gpr_preg(regs::enc::RDX)),
        ];
        self.emit_libcall(lc, &args, &rets);
        InstOutput::two(lo, hi)
    }

    /// The i128 add/sub overflow family, with or without carry/borrow in.
    /// The results (an i128 and an i8 flag: three registers) are defined
    /// directly in the instruction's value registers.
    pub(super) fn lower_overflow128(
        &mut self,
        inst: Inst,
        (lo_op, hi_op, cc): (AluOp, AluOp, CC),
        a: Value,
        b: Value,
        cin: Option<Value>,
    ) -> InstOutput {
        let (al, ah) = self.halves(a);
        let (bl, bh) = self.halves(b);
        if let Some(c) = cin {
            let c = self.put_in_reg(c);
            self.carry_in(c);
        }
        let l = self.x64_alu(S64, lo_op, al, RegMemImm::Reg(bl));
        let h = self.x64_alu(S64, hi_op, ah, RegMemImm::Reg(bh));
        let f = self.x64_setcc_zx(cc);
        self.define_results128(inst, l, h, f)
    }
}

impl Ctx<'_, '_, '_> {
    /// The 256-bit product of two i128 values as four 64-bit words, low
    /// first. The four partial products come first (`mul` writes the
    /// flags), then the two carry chains that add up the middle words.
    fn mul_256(&mut self, a: Value, b: Value) -> [Reg; 4] {
        let (a0, a1) = self.halves(a);
        let (b0, b1) = self.halves(b);
        let wide = |me: &mut Self, x: Reg, y: Reg| {
            let (lo, low) = me.w();
            let (hi, hiw) = me.w();
            me.l.emit(MInst::MulWide {
                size: S64,
                signed: false,
                src1: x,
                src2: RegMem::Reg(y),
                dst_lo: low,
                dst_hi: hiw,
            });
            (lo, hi)
        };
        let p00 = wide(self, a0, b0);
        let p01 = wide(self, a0, b1);
        let p10 = wide(self, a1, b0);
        let p11 = wide(self, a1, b1);
        // w1 = p00.hi + p01.lo + p10.lo, w2 = p01.hi + p10.hi + p11.lo,
        // w3 = p11.hi, with the carries between them.
        let w1 = self.x64_alu(S64, AluOp::Add, p00.1, RegMemImm::Reg(p01.0));
        let w2 = self.x64_alu(S64, AluOp::Adc, p01.1, RegMemImm::Reg(p11.0));
        let w3 = self.x64_alu(S64, AluOp::Adc, p11.1, RegMemImm::Imm(0));
        let w1 = self.x64_alu(S64, AluOp::Add, w1, RegMemImm::Reg(p10.0));
        let w2 = self.x64_alu(S64, AluOp::Adc, w2, RegMemImm::Reg(p10.1));
        let w3 = self.x64_alu(S64, AluOp::Adc, w3, RegMemImm::Imm(0));
        [p00.0, w1, w2, w3]
    }

    /// The signed high half of the 256-bit product from the unsigned one:
    /// subtract `b` if `a < 0` and `a` if `b < 0` (mod 2^128).
    fn signed_high(&mut self, a: Value, b: Value, hi: (Reg, Reg)) -> (Reg, Reg) {
        let (a0, a1) = self.halves(a);
        let (b0, b1) = self.halves(b);
        let (mut l, mut h) = hi;
        for (sign_of, (x0, x1)) in [(a1, (b0, b1)), (b1, (a0, a1))] {
            let m = self.x64_shift_imm(S64, ShiftKind::Sar, sign_of, 63);
            let t0 = self.x64_alu(S64, AluOp::And, x0, RegMemImm::Reg(m));
            let t1 = self.x64_alu(S64, AluOp::And, x1, RegMemImm::Reg(m));
            l = self.x64_alu(S64, AluOp::Sub, l, RegMemImm::Reg(t0));
            h = self.x64_alu(S64, AluOp::Sbb, h, RegMemImm::Reg(t1));
        }
        (l, h)
    }

    /// `umulhi`/`smulhi` of i128 values.
    pub(super) fn lower_mulhi128(&mut self, signed: bool, a: Value, b: Value) -> InstOutput {
        let [_, _, w2, w3] = self.mul_256(a, b);
        let (l, h) = if signed {
            self.signed_high(a, b, (w2, w3))
        } else {
            (w2, w3)
        };
        InstOutput::two(l, h)
    }

    /// `umul_overflow`/`smul_overflow` of i128 values: the low half of the
    /// product, and whether the high half is not the extension of it.
    pub(super) fn lower_mul_overflow128(
        &mut self,
        inst: Inst,
        signed: bool,
        a: Value,
        b: Value,
    ) -> InstOutput {
        let [w0, w1, w2, w3] = self.mul_256(a, b);
        let (x2, x3) = if signed {
            let (h0, h1) = self.signed_high(a, b, (w2, w3));
            // The high half must equal the sign of the low half.
            let s = self.x64_shift_imm(S64, ShiftKind::Sar, w1, 63);
            let x2 = self.x64_alu(S64, AluOp::Xor, h0, RegMemImm::Reg(s));
            let x3 = self.x64_alu(S64, AluOp::Xor, h1, RegMemImm::Reg(s));
            (x2, x3)
        } else {
            (w2, w3)
        };
        self.x64_alu(S64, AluOp::Or, x2, RegMemImm::Reg(x3));
        let f = self.x64_setcc_zx(CC::NZ);
        self.define_results128(inst, w0, w1, f)
    }

    /// Defines the results of an instruction producing an i128 and an i8
    /// (three registers, more than an `InstOutput` holds) by copying into
    /// the values' own registers.
    fn define_results128(&mut self, inst: Inst, lo: Reg, hi: Reg, flag: Reg) -> InstOutput {
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
}

impl Ctx<'_, '_, '_> {
    /// `atomic_cas.i128`: `lock cmpxchg16b` with the expected value in
    /// rdx:rax and the replacement in rcx:rbx; the old value comes back.
    pub(super) fn lower_atomic_cas128(&mut self, addr: Amode, e: Value, r: Value) -> InstOutput {
        let (el, eh) = self.halves(e);
        let (rl, rh) = self.halves(r);
        self.cmpxchg16b(addr, [el, eh, rl, rh])
    }

    /// `atomic_load.i128`: a compare-and-swap of 0 with 0 reads the value
    /// atomically (and writes back the same value when it is 0).
    pub(super) fn lower_atomic_load128(&mut self, addr: Amode) -> InstOutput {
        let z: [Reg; 4] = std::array::from_fn(|_| self.x64_mov_imm(Type::I64, 0));
        self.cmpxchg16b(addr, z)
    }

    fn cmpxchg16b(&mut self, addr: Amode, regs: [Reg; 4]) -> InstOutput {
        // One vreg cannot sit in two fixed registers.
        let mut taken: SmallVec<[Reg; 4]> = SmallVec::new();
        for r in regs {
            let r = self.unique(r, taken.iter().copied());
            taken.push(r);
        }
        let (lo, low) = self.w();
        let (hi, hiw) = self.w();
        self.l.emit(MInst::LockCmpxchg16b(Box::new(Cmpxchg16bArgs {
            addr,
            expected_lo: taken[0],
            expected_hi: taken[1],
            replacement_lo: taken[2],
            replacement_hi: taken[3],
            dst_lo: low,
            dst_hi: hiw,
        })));
        InstOutput::two(lo, hi)
    }

    /// `atomic_rmw.i128` (`op` `None`: the exchange of `atomic_store`): a
    /// `lock cmpxchg16b` loop; returns the old value.
    pub(super) fn lower_atomic_rmw128(
        &mut self,
        op: Option<AtomicRmwOp>,
        addr: Amode,
        v: Value,
    ) -> InstOutput {
        use AtomicRmwOp as A;
        let op = match op {
            None | Some(A::Xchg) => None,
            Some(A::Add) => Some(AtomicLoopOp::Add),
            Some(A::Sub) => Some(AtomicLoopOp::Sub),
            Some(A::And) => Some(AtomicLoopOp::And),
            Some(A::Nand) => Some(AtomicLoopOp::Nand),
            Some(A::Or) => Some(AtomicLoopOp::Or),
            Some(A::Xor) => Some(AtomicLoopOp::Xor),
            Some(A::Umin) => Some(AtomicLoopOp::Umin),
            Some(A::Umax) => Some(AtomicLoopOp::Umax),
            Some(A::Smin) => Some(AtomicLoopOp::Smin),
            Some(A::Smax) => Some(AtomicLoopOp::Smax),
        };
        let (vl, vh) = self.halves(v);
        // The first guess of the old value: two plain loads (cmpxchg16b
        // checks it and reloads it when it was torn or stale).
        let old_lo = self.x64_load(Type::I64, addr.clone());
        let hi_addr = self.amode_offset(addr.clone(), 8);
        let old_hi = self.x64_load(Type::I64, hi_addr);
        let (_, temp) = self.w();
        let (_, new_lo) = self.w();
        let (_, new_hi) = self.w();
        let (lo, low) = self.w();
        let (hi, hiw) = self.w();
        self.l
            .emit(MInst::AtomicRmw128Seq(Box::new(AtomicRmw128Args {
                op,
                addr,
                old_lo,
                old_hi,
                operand_lo: vl,
                operand_hi: vh,
                temp,
                new_lo,
                new_hi,
                dst_lo: low,
                dst_hi: hiw,
            })));
        InstOutput::two(lo, hi)
    }
}
