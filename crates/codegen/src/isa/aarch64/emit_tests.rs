//! The encoder checked against an independent decoder (`yaxpeax-arm`):
//! every instruction form across the registers and immediates that matter
//! is encoded, decoded and compared with the text an assembler would print
//! for it. The expected texts are written from the Arm ARM, never derived
//! from the encoder's own tables.

use super::args::*;
use super::emit::{emit, A64LabelUse};
use super::inst::*;
use super::regs::{fp, lr, sp, vreg, xreg, zr};
use crate::machinst::abi::FrameLayout;
use crate::machinst::buffer::{MachBuffer, Reloc, RelocTarget};
use crate::machinst::reg::{Reg, Writable};
use kiln_ir::TrapCode;
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

fn x(n: u8) -> Reg {
    xreg(n)
}
fn wx(n: u8) -> Writable<Reg> {
    Writable::from_reg(xreg(n))
}
fn v(n: u8) -> Reg {
    vreg(n)
}
fn wv(n: u8) -> Writable<Reg> {
    Writable::from_reg(vreg(n))
}
fn w(r: Reg) -> Writable<Reg> {
    Writable::from_reg(r)
}
const S32: OperandSize = OperandSize::Size32;
const S64: OperandSize = OperandSize::Size64;
const F32: ScalarSize = ScalarSize::Size32;
const F64: ScalarSize = ScalarSize::Size64;

/// Decodes every 4-byte word of `bytes` and joins the texts with "; ".
fn disasm(bytes: &[u8]) -> String {
    let d = InstDecoder::default();
    bytes
        .chunks(4)
        .map(|c| {
            let mut r = U8Reader::new(c);
            match d.decode(&mut r) {
                Ok(i) => i.to_string(),
                Err(e) => format!("<{e:?}: {:02x?}>", c),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn encode(inst: &MInst, frame: &FrameLayout) -> Vec<u8> {
    let mut buf = MachBuffer::<A64LabelUse>::new();
    emit(inst, frame, &mut buf).unwrap_or_else(|e| panic!("{inst:?}: {e}"));
    buf.data().to_vec()
}

fn check(table: &[(MInst, &str)]) {
    let frame = FrameLayout::default();
    let mut failures = Vec::new();
    for (inst, want) in table {
        let got = disasm(&encode(inst, &frame));
        if got != *want {
            failures.push(format!("{inst:?}\n   want: {want}\n    got: {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn rrr(op: AluOp, size: OperandSize, rd: u8, rn: u8, rm: u8) -> MInst {
    MInst::AluRRR {
        op,
        size,
        rd: wx(rd),
        rn: x(rn),
        rm: x(rm),
    }
}

#[test]
fn alu_register_forms() {
    use AluOp::*;
    check(&[
        (rrr(Add, S64, 0, 1, 2), "add x0, x1, x2"),
        (rrr(Add, S32, 30, 29, 28), "add w30, w29, w28"),
        (rrr(Sub, S64, 3, 4, 5), "sub x3, x4, x5"),
        (rrr(Adds, S64, 6, 7, 8), "adds x6, x7, x8"),
        (rrr(Subs, S32, 9, 10, 11), "subs w9, w10, w11"),
        (rrr(And, S64, 0, 1, 2), "and x0, x1, x2"),
        (rrr(Orr, S32, 0, 1, 2), "orr w0, w1, w2"),
        (rrr(Eor, S64, 12, 13, 14), "eor x12, x13, x14"),
        (rrr(Ands, S64, 0, 1, 2), "ands x0, x1, x2"),
        (rrr(Bic, S64, 0, 1, 2), "bic x0, x1, x2"),
        (rrr(Orn, S32, 0, 1, 2), "orn w0, w1, w2"),
        (rrr(Eon, S64, 0, 1, 2), "eon x0, x1, x2"),
        (rrr(Bics, S64, 0, 1, 2), "bics x0, x1, x2"),
        (rrr(Adc, S64, 0, 1, 2), "adc x0, x1, x2"),
        (rrr(Adcs, S32, 0, 1, 2), "adcs w0, w1, w2"),
        (rrr(Sbc, S64, 0, 1, 2), "sbc x0, x1, x2"),
        (rrr(Sbcs, S64, 0, 1, 2), "sbcs x0, x1, x2"),
        (rrr(Lslv, S64, 0, 1, 2), "lsl x0, x1, x2"),
        (rrr(Lsrv, S32, 0, 1, 2), "lsr w0, w1, w2"),
        (rrr(Asrv, S64, 0, 1, 2), "asr x0, x1, x2"),
        (rrr(Rorv, S64, 0, 1, 2), "ror x0, x1, x2"),
        (rrr(Udiv, S64, 0, 1, 2), "udiv x0, x1, x2"),
        (rrr(Sdiv, S32, 0, 1, 2), "sdiv w0, w1, w2"),
        (rrr(Smulh, S64, 0, 1, 2), "smulh x0, x1, x2"),
        (rrr(Umulh, S64, 0, 1, 2), "umulh x0, x1, x2"),
        // Encoding 31 is xzr in these fields: the aliases show it.
        (
            MInst::AluRRR {
                op: Subs,
                size: S64,
                rd: w(zr()),
                rn: x(1),
                rm: x(2),
            },
            "cmp x1, x2",
        ),
        (
            MInst::AluRRR {
                op: Sub,
                size: S64,
                rd: wx(0),
                rn: zr(),
                rm: x(2),
            },
            "neg x0, x2",
        ),
        (
            MInst::AluRRR {
                op: Ands,
                size: S32,
                rd: w(zr()),
                rn: x(3),
                rm: x(4),
            },
            "tst w3, w4",
        ),
        (
            MInst::AluRRR {
                op: Orn,
                size: S64,
                rd: wx(0),
                rn: zr(),
                rm: x(5),
            },
            "mvn x0, x5",
        ),
    ]);
}

#[test]
fn alu_shifted_and_extended() {
    use AluOp::*;
    let sh = |op, amt| ShiftOpAndAmt { op, amt };
    let shifted = |op, size, s| MInst::AluRRRShift {
        op,
        size,
        rd: wx(0),
        rn: x(1),
        rm: x(2),
        shift: s,
    };
    let ext = |op, size, rd: Reg, rn: Reg, extend, amt| MInst::AluRRRExtend {
        op,
        size,
        rd: w(rd),
        rn,
        rm: x(2),
        extend,
        amt,
    };
    check(&[
        (
            shifted(Add, S64, sh(ShiftOp::Lsl, 63)),
            "add x0, x1, x2, lsl #63",
        ),
        (
            shifted(Add, S32, sh(ShiftOp::Lsr, 31)),
            "add w0, w1, w2, lsr #31",
        ),
        (
            shifted(Sub, S64, sh(ShiftOp::Asr, 1)),
            "sub x0, x1, x2, asr #1",
        ),
        (
            shifted(And, S64, sh(ShiftOp::Ror, 7)),
            "and x0, x1, x2, ror #7",
        ),
        (
            shifted(Orr, S32, sh(ShiftOp::Lsl, 4)),
            "orr w0, w1, w2, lsl #4",
        ),
        (
            shifted(Eor, S64, sh(ShiftOp::Asr, 63)),
            "eor x0, x1, x2, asr #63",
        ),
        (
            shifted(Bic, S64, sh(ShiftOp::Lsr, 3)),
            "bic x0, x1, x2, lsr #3",
        ),
        (
            ext(Add, S64, sp(), sp(), ExtendOp::Uxtx, 0),
            "add sp, sp, x2",
        ),
        (
            ext(Add, S64, x(0), x(1), ExtendOp::Sxtw, 2),
            "add x0, x1, w2, sxtw #2",
        ),
        (
            ext(Sub, S64, x(0), sp(), ExtendOp::Uxtb, 0),
            "sub x0, sp, w2, uxtb",
        ),
        (
            ext(Add, S32, x(0), x(1), ExtendOp::Uxth, 4),
            "add w0, w1, w2, uxth #4",
        ),
        (ext(Subs, S64, zr(), sp(), ExtendOp::Uxtx, 0), "cmp sp, x2"),
        (
            ext(Adds, S64, x(3), x(1), ExtendOp::Sxtb, 0),
            "adds x3, x1, w2, sxtb",
        ),
    ]);
}

#[test]
fn alu_immediates() {
    use AluOp::*;
    let imm12 = |op, size, rd: Reg, rn: Reg, v: u64| MInst::AluRRImm12 {
        op,
        size,
        rd: w(rd),
        rn,
        imm: Imm12::maybe_from_u64(v).unwrap(),
    };
    let logic = |op, size, rd: Reg, rn: Reg, v: u64| MInst::AluRRImmLogic {
        op,
        size,
        rd: w(rd),
        rn,
        imm: ImmLogic::maybe_from_u64(v, size).unwrap(),
    };
    let shift = |op, size, amt| MInst::AluRRImmShift {
        op,
        size,
        rd: wx(0),
        rn: x(1),
        amt,
    };
    check(&[
        (imm12(Add, S64, x(0), x(1), 0), "add x0, x1, #0x0"),
        (imm12(Add, S64, x(0), x(1), 0xfff), "add x0, x1, #0xfff"),
        (
            imm12(Add, S64, x(0), x(1), 0x1000),
            "add x0, x1, #0x1, lsl #12",
        ),
        (
            imm12(Sub, S32, x(0), x(1), 0xfff000),
            "sub w0, w1, #0xfff, lsl #12",
        ),
        (imm12(Add, S64, sp(), sp(), 16), "add sp, sp, #0x10"),
        (imm12(Sub, S64, sp(), sp(), 0x20), "sub sp, sp, #0x20"),
        (imm12(Add, S64, x(29), sp(), 0), "mov x29, sp"),
        (imm12(Subs, S64, zr(), x(3), 7), "cmp x3, #0x7"),
        (imm12(Adds, S32, zr(), sp(), 1), "cmn wsp, #0x1"),
        (imm12(Subs, S64, x(4), sp(), 1), "subs x4, sp, #0x1"),
        (logic(And, S64, x(0), x(1), 0xff), "and x0, x1, #0xff"),
        (
            logic(And, S32, x(0), x(1), 0xffff_0000),
            "and w0, w1, #0xffff0000",
        ),
        (
            logic(Orr, S64, x(0), x(1), 0x5555_5555_5555_5555),
            "orr x0, x1, #0x5555555555555555",
        ),
        (
            logic(Eor, S64, x(0), x(1), 0x8000_0000_0000_0000),
            "eor x0, x1, #0x8000000000000000",
        ),
        (
            logic(Eor, S32, x(0), x(1), 0x8000_0001),
            "eor w0, w1, #0x80000001",
        ),
        (
            logic(And, S64, sp(), x(1), 0xffff_ffff_ffff_fff0),
            "and sp, x1, #0xfffffffffffffff0",
        ),
        (logic(Ands, S64, zr(), x(1), 1), "tst x1, #0x1"),
        (
            logic(Orr, S64, x(0), zr(), 0xffff_ffff),
            "mov x0, #0xffffffff",
        ),
        (
            logic(Orr, S32, x(0), zr(), 0x0f0f_0f0f),
            "mov w0, #0xf0f0f0f",
        ),
        (shift(ShiftOp::Lsl, S64, 1), "lsl x0, x1, #0x1"),
        (shift(ShiftOp::Lsl, S64, 63), "lsl x0, x1, #0x3f"),
        (shift(ShiftOp::Lsl, S32, 31), "lsl w0, w1, #0x1f"),
        (shift(ShiftOp::Lsr, S64, 63), "lsr x0, x1, #0x3f"),
        (shift(ShiftOp::Lsr, S32, 1), "lsr w0, w1, #0x1"),
        (shift(ShiftOp::Asr, S64, 7), "asr x0, x1, #0x7"),
        (shift(ShiftOp::Asr, S32, 31), "asr w0, w1, #0x1f"),
        (shift(ShiftOp::Ror, S64, 5), "ror x0, x1, #0x5"),
        (shift(ShiftOp::Ror, S32, 31), "ror w0, w1, #0x1f"),
    ]);
}

#[test]
fn multiply_bits_select_moves() {
    let rrrr = |op, size| MInst::AluRRRR {
        op,
        size,
        rd: wx(0),
        rn: x(1),
        rm: x(2),
        ra: x(3),
    };
    let bit = |op, size| MInst::BitRR {
        op,
        size,
        rd: wx(5),
        rn: x(6),
    };
    let csel = |op, size, cond| MInst::CSel {
        op,
        size,
        cond,
        rd: wx(0),
        rn: x(1),
        rm: x(2),
    };
    let bfm = |op, size, immr, imms| MInst::Bfm {
        op,
        size,
        rd: wx(0),
        rn: x(1),
        immr,
        imms,
    };
    let mw = |op, size, bits, shift| MInst::MovWide {
        op,
        size,
        rd: wx(7),
        imm: MoveWideConst { bits, shift },
    };
    let mov = |size, rd: Reg, rm: Reg| MInst::Mov {
        size,
        rd: w(rd),
        rm,
    };
    check(&[
        (rrrr(AluOp3::Madd, S64), "madd x0, x1, x2, x3"),
        (rrrr(AluOp3::Msub, S32), "msub w0, w1, w2, w3"),
        (rrrr(AluOp3::Smaddl, S64), "smaddl x0, w1, w2, x3"),
        (rrrr(AluOp3::Umaddl, S64), "umaddl x0, w1, w2, x3"),
        (
            MInst::AluRRRR {
                op: AluOp3::Madd,
                size: S64,
                rd: wx(0),
                rn: x(1),
                rm: x(2),
                ra: zr(),
            },
            "mul x0, x1, x2",
        ),
        (bit(BitOp::Clz, S64), "clz x5, x6"),
        (bit(BitOp::Clz, S32), "clz w5, w6"),
        (bit(BitOp::Cls, S64), "cls x5, x6"),
        (bit(BitOp::Rbit, S32), "rbit w5, w6"),
        (bit(BitOp::Rev16, S64), "rev16 x5, x6"),
        (bit(BitOp::Rev32, S64), "rev32 x5, x6"),
        (bit(BitOp::Rev32, S32), "rev w5, w6"),
        (bit(BitOp::Rev64, S64), "rev x5, x6"),
        (csel(CSelOp::Csel, S64, Cond::Eq), "csel x0, x1, x2, eq"),
        (csel(CSelOp::Csel, S32, Cond::Hs), "csel w0, w1, w2, hs"),
        (csel(CSelOp::Csinc, S64, Cond::Lt), "csinc x0, x1, x2, lt"),
        (csel(CSelOp::Csinv, S64, Cond::Gt), "csinv x0, x1, x2, gt"),
        (csel(CSelOp::Csneg, S32, Cond::Le), "csneg w0, w1, w2, le"),
        (
            MInst::CSel {
                op: CSelOp::Csinc,
                size: S64,
                cond: Cond::Ne,
                rd: wx(0),
                rn: zr(),
                rm: zr(),
            },
            "cset x0, eq",
        ),
        (
            MInst::CCmp {
                size: S64,
                rn: x(1),
                rm: x(2),
                nzcv: 0b0100,
                cond: Cond::Eq,
            },
            "ccmp x1, x2, #0x4, eq",
        ),
        (bfm(BfmOp::Sbfm, S64, 0, 7), "sxtb x0, w1"),
        (bfm(BfmOp::Sbfm, S64, 0, 15), "sxth x0, w1"),
        (bfm(BfmOp::Sbfm, S64, 0, 31), "sxtw x0, w1"),
        (bfm(BfmOp::Sbfm, S32, 0, 7), "sxtb w0, w1"),
        (bfm(BfmOp::Ubfm, S32, 0, 7), "uxtb w0, w1"),
        (bfm(BfmOp::Ubfm, S32, 0, 15), "uxth w0, w1"),
        (bfm(BfmOp::Ubfm, S64, 8, 15), "ubfx x0, x1, #0x8, #0x8"),
        (bfm(BfmOp::Bfm, S64, 60, 7), "bfi x0, x1, #0x4, #0x8"),
        (mw(MoveWideOp::Movz, S64, 0, 0), "mov x7, #0x0"),
        (
            mw(MoveWideOp::Movz, S64, 0xffff, 3),
            "mov x7, #0xffff000000000000",
        ),
        (mw(MoveWideOp::Movz, S32, 0x1234, 1), "mov w7, #0x12340000"),
        (
            mw(MoveWideOp::Movn, S64, 0, 0),
            "mov x7, #0xffffffffffffffff",
        ),
        (mw(MoveWideOp::Movn, S32, 0xffff, 1), "mov w7, #0xffff"),
        (mw(MoveWideOp::Movn, S32, 0, 1), "mov w7, #0xffffffff"),
        (
            MInst::MovK {
                size: S64,
                rd: wx(7),
                rn: x(7),
                imm: MoveWideConst {
                    bits: 0xbeef,
                    shift: 2,
                },
            },
            "movk x7, #0xbeef, lsl #32",
        ),
        (
            MInst::MovK {
                size: S32,
                rd: wx(1),
                rn: x(1),
                imm: MoveWideConst {
                    bits: 0xffff,
                    shift: 1,
                },
            },
            "movk w1, #0xffff, lsl #16",
        ),
        (mov(S64, x(0), x(1)), "mov x0, x1"),
        (mov(S32, x(3), x(30)), "mov w3, w30"),
        (mov(S64, fp(), sp()), "mov x29, sp"),
        (mov(S64, sp(), fp()), "mov sp, x29"),
        (mov(S64, x(0), zr()), "mov x0, xzr"),
    ]);
}

#[test]
fn loads_and_stores() {
    let ld = |kind, rd: Reg, mem| MInst::Load {
        kind,
        rd: w(rd),
        mem,
    };
    let st = |kind, rd, mem| MInst::Store { kind, rd, mem };
    let uo = |rn, uimm| AMode::UnsignedOffset { rn, uimm };
    let un = |rn, simm| AMode::Unscaled { rn, simm };
    use LoadKind::*;
    use StoreKind::*;
    check(&[
        (ld(ULoad8, x(0), uo(x(1), 0)), "ldrb w0, [x1]"),
        (ld(ULoad8, x(0), uo(sp(), 4095)), "ldrb w0, [sp, #0xfff]"),
        (ld(SLoad8, x(0), uo(x(1), 1)), "ldrsb x0, [x1, #0x1]"),
        (ld(ULoad16, x(0), uo(x(1), 8190)), "ldrh w0, [x1, #0x1ffe]"),
        (ld(SLoad16, x(0), uo(x(1), 2)), "ldrsh x0, [x1, #0x2]"),
        (ld(ULoad32, x(0), uo(x(1), 16380)), "ldr w0, [x1, #0x3ffc]"),
        (ld(SLoad32, x(0), uo(x(1), 4)), "ldrsw x0, [x1, #0x4]"),
        (ld(Load64, x(0), uo(sp(), 32760)), "ldr x0, [sp, #0x7ff8]"),
        (ld(Load64, zr(), uo(x(2), 8)), "ldr xzr, [x2, #0x8]"),
        (ld(FpuLoad32, v(1), uo(x(2), 4)), "ldr s1, [x2, #0x4]"),
        (ld(FpuLoad64, v(31), uo(sp(), 8)), "ldr d31, [sp, #0x8]"),
        (
            ld(FpuLoad128, v(3), uo(x(2), 65520)),
            "ldr q3, [x2, #0xfff0]",
        ),
        (ld(FpuLoad16, v(3), uo(x(2), 2)), "ldr h3, [x2, #0x2]"),
        (st(Store8, x(0), uo(x(1), 0)), "strb w0, [x1]"),
        (st(Store16, x(0), uo(x(1), 6)), "strh w0, [x1, #0x6]"),
        (st(Store32, zr(), uo(sp(), 12)), "str wzr, [sp, #0xc]"),
        (st(Store64, x(30), uo(sp(), 0)), "str x30, [sp]"),
        (st(FpuStore32, v(0), uo(x(1), 4)), "str s0, [x1, #0x4]"),
        (st(FpuStore64, v(8), uo(sp(), 16)), "str d8, [sp, #0x10]"),
        (st(FpuStore128, v(9), uo(sp(), 32)), "str q9, [sp, #0x20]"),
        (ld(Load64, x(0), un(x(1), -256)), "ldur x0, [x1, #-0x100]"),
        (ld(ULoad32, x(0), un(sp(), 255)), "ldur w0, [sp, #0xff]"),
        (st(Store64, x(0), un(x(1), -8)), "stur x0, [x1, #-0x8]"),
        (ld(SLoad16, x(0), un(x(1), 1)), "ldursh x0, [x1, #0x1]"),
        (
            ld(
                Load64,
                x(0),
                AMode::PreIndexed {
                    rn: sp(),
                    simm: -16,
                },
            ),
            "ldr x0, [sp, #-0x10]!",
        ),
        (
            st(Store64, x(0), AMode::PostIndexed { rn: x(1), simm: 8 }),
            "str x0, [x1], #0x8",
        ),
        (
            ld(
                Load64,
                x(0),
                AMode::RegReg {
                    rn: x(1),
                    rm: x(2),
                    scaled: true,
                },
            ),
            "ldr x0, [x1, x2, lsl #3]",
        ),
        (
            ld(
                ULoad8,
                x(0),
                AMode::RegReg {
                    rn: sp(),
                    rm: x(2),
                    scaled: false,
                },
            ),
            "ldrb w0, [sp, x2]",
        ),
        (
            st(
                Store32,
                x(0),
                AMode::RegExtended {
                    rn: x(1),
                    rm: x(2),
                    extend: ExtendOp::Sxtw,
                    scaled: true,
                },
            ),
            "str w0, [x1, w2, sxtw #2]",
        ),
        (
            ld(
                ULoad16,
                x(0),
                AMode::RegExtended {
                    rn: x(1),
                    rm: x(2),
                    extend: ExtendOp::Uxtw,
                    scaled: false,
                },
            ),
            "ldrh w0, [x1, w2, uxtw]",
        ),
        (
            ld(
                Load64,
                x(3),
                AMode::RegExtended {
                    rn: x(4),
                    rm: x(5),
                    extend: ExtendOp::Uxtw,
                    scaled: true,
                },
            ),
            "ldr x3, [x4, w5, uxtw #3]",
        ),
        (
            st(
                Store64,
                x(6),
                AMode::RegExtended {
                    rn: x(7),
                    rm: x(8),
                    extend: ExtendOp::Uxtw,
                    scaled: false,
                },
            ),
            "str x6, [x7, w8, uxtw]",
        ),
    ]);
}

#[test]
fn frame_addresses_pick_a_form() {
    // Offsets from sp/fp choose the scaled, unscaled or x16 register form.
    let frame = FrameLayout::default();
    let ld = |mem| MInst::Load {
        kind: LoadKind::Load64,
        rd: wx(0),
        mem,
    };
    let cases: &[(MInst, &str)] = &[
        (ld(AMode::SpOffset { off: 8 }), "ldr x0, [sp, #0x8]"),
        (ld(AMode::SpOffset { off: 32760 }), "ldr x0, [sp, #0x7ff8]"),
        (ld(AMode::SpOffset { off: 12 }), "ldur x0, [sp, #0xc]"),
        (ld(AMode::FpOffset { off: -16 }), "ldur x0, [x29, #-0x10]"),
        (
            ld(AMode::SpOffset { off: 32768 }),
            "mov x16, #0x8000; ldr x0, [sp, x16]",
        ),
        (
            ld(AMode::FpOffset { off: -4096 }),
            "mov x16, #0xfffffffffffff000; ldr x0, [x29, x16]",
        ),
        (
            MInst::LoadAddr {
                rd: wx(1),
                mem: AMode::SpOffset { off: 24 },
            },
            "add x1, sp, #0x18",
        ),
        (
            MInst::LoadAddr {
                rd: wx(1),
                mem: AMode::FpOffset { off: -24 },
            },
            "sub x1, x29, #0x18",
        ),
        (
            MInst::LoadAddr {
                rd: wx(1),
                mem: AMode::SpOffset { off: 0x12345 },
            },
            "mov x16, #0x2345; movk x16, #0x1, lsl #16; add x1, sp, x16",
        ),
    ];
    for (inst, want) in cases {
        assert_eq!(disasm(&encode(inst, &frame)), *want, "{inst:?}");
    }
}

#[test]
fn pairs() {
    let stp = |kind, rt, rt2, mem| MInst::StorePair { kind, rt, rt2, mem };
    let ldp = |kind, rt: Reg, rt2: Reg, mem| MInst::LoadPair {
        kind,
        rt: w(rt),
        rt2: w(rt2),
        mem,
    };
    check(&[
        (
            stp(
                PairKind::X64,
                fp(),
                lr(),
                PairAMode::PreIndexed {
                    rn: sp(),
                    simm: -16,
                },
            ),
            "stp x29, x30, [sp, #-0x10]!",
        ),
        (
            ldp(
                PairKind::X64,
                fp(),
                lr(),
                PairAMode::PostIndexed { rn: sp(), simm: 16 },
            ),
            "ldp x29, x30, [sp], #0x10",
        ),
        (
            stp(
                PairKind::X64,
                x(19),
                x(20),
                PairAMode::SignedOffset {
                    rn: sp(),
                    simm: 504,
                },
            ),
            "stp x19, x20, [sp, #0x1f8]",
        ),
        (
            ldp(
                PairKind::X64,
                x(21),
                zr(),
                PairAMode::SignedOffset {
                    rn: x(3),
                    simm: -512,
                },
            ),
            "ldp x21, xzr, [x3, #-0x200]",
        ),
        (
            stp(
                PairKind::D64,
                v(8),
                v(9),
                PairAMode::SignedOffset { rn: sp(), simm: 16 },
            ),
            "stp d8, d9, [sp, #0x10]",
        ),
        (
            ldp(
                PairKind::D64,
                v(14),
                v(15),
                PairAMode::PostIndexed { rn: sp(), simm: 32 },
            ),
            "ldp d14, d15, [sp], #0x20",
        ),
    ]);
}

#[test]
fn fp_forms() {
    let rr = |op, size| MInst::FpuRR {
        op,
        size,
        rd: wv(0),
        rn: v(1),
    };
    let rrr = |op, size| MInst::FpuRRR {
        op,
        size,
        rd: wv(0),
        rn: v(1),
        rm: v(31),
    };
    let rrrr = |op, size| MInst::FpuRRRR {
        op,
        size,
        rd: wv(0),
        rn: v(1),
        rm: v(2),
        ra: v(3),
    };
    let f2i = |signed, from, to| MInst::FpuToInt {
        signed,
        from,
        to,
        rd: wx(0),
        rn: v(1),
    };
    let i2f = |signed, from, to| MInst::IntToFpu {
        signed,
        from,
        to,
        rd: wv(0),
        rn: x(1),
    };
    check(&[
        (rr(FpuOp1::Mov, F64), "fmov d0, d1"),
        (rr(FpuOp1::Abs, F32), "fabs s0, s1"),
        (rr(FpuOp1::Neg, F64), "fneg d0, d1"),
        (rr(FpuOp1::Sqrt, F32), "fsqrt s0, s1"),
        (rr(FpuOp1::RintN, F64), "frintn d0, d1"),
        (rr(FpuOp1::RintP, F32), "frintp s0, s1"),
        (rr(FpuOp1::RintM, F64), "frintm d0, d1"),
        (rr(FpuOp1::RintZ, F32), "frintz s0, s1"),
        (rrr(FpuOp2::Add, F64), "fadd d0, d1, d31"),
        (rrr(FpuOp2::Sub, F32), "fsub s0, s1, s31"),
        (rrr(FpuOp2::Mul, F64), "fmul d0, d1, d31"),
        (rrr(FpuOp2::Div, F32), "fdiv s0, s1, s31"),
        (rrr(FpuOp2::Max, F64), "fmax d0, d1, d31"),
        (rrr(FpuOp2::Min, F32), "fmin s0, s1, s31"),
        (rrrr(FpuOp3::Fmadd, F64), "fmadd d0, d1, d2, d3"),
        (rrrr(FpuOp3::Fmsub, F32), "fmsub s0, s1, s2, s3"),
        (rrrr(FpuOp3::Fnmadd, F64), "fnmadd d0, d1, d2, d3"),
        (rrrr(FpuOp3::Fnmsub, F32), "fnmsub s0, s1, s2, s3"),
        (
            MInst::FpuCmp {
                size: F64,
                rn: v(4),
                rm: v(5),
            },
            "fcmp d4, d5",
        ),
        (
            MInst::FpuCmp {
                size: F32,
                rn: v(4),
                rm: v(5),
            },
            "fcmp s4, s5",
        ),
        (
            MInst::FpuCSel {
                size: F64,
                cond: Cond::Mi,
                rd: wv(0),
                rn: v(1),
                rm: v(2),
            },
            "fcsel d0, d1, d2, mi",
        ),
        (
            MInst::FpuCvt {
                from: F32,
                to: F64,
                rd: wv(0),
                rn: v(1),
            },
            "fcvt d0, s1",
        ),
        (
            MInst::FpuCvt {
                from: F64,
                to: F32,
                rd: wv(0),
                rn: v(1),
            },
            "fcvt s0, d1",
        ),
        (f2i(true, F64, S64), "fcvtzs x0, d1"),
        (f2i(true, F32, S32), "fcvtzs w0, s1"),
        (f2i(false, F64, S32), "fcvtzu w0, d1"),
        (f2i(false, F32, S64), "fcvtzu x0, s1"),
        (i2f(true, S64, F64), "scvtf d0, x1"),
        (i2f(true, S32, F32), "scvtf s0, w1"),
        (i2f(false, S32, F64), "ucvtf d0, w1"),
        (i2f(false, S64, F32), "ucvtf s0, x1"),
        (
            MInst::MovToFpu {
                size: F64,
                rd: wv(2),
                rn: x(3),
            },
            "fmov d2, x3",
        ),
        (
            MInst::MovToFpu {
                size: F32,
                rd: wv(2),
                rn: zr(),
            },
            "fmov s2, wzr",
        ),
        (
            MInst::MovFromFpu {
                size: F64,
                rd: wx(2),
                rn: v(3),
            },
            "fmov x2, d3",
        ),
        (
            MInst::MovFromFpu {
                size: F32,
                rd: wx(2),
                rn: v(3),
            },
            "fmov w2, s3",
        ),
    ]);
}

#[test]
fn control_and_traps() {
    check(&[
        (MInst::Ret { rets: vec![] }, "ret"),
        (MInst::Brk, "brk #0x0"),
        // The decoder names hint-space instructions by number: paciasp is
        // HINT #25, pacibsp #27, autiasp #29, autibsp #31, bti c #34, xpaclri #7.
        (
            MInst::Hint {
                op: HintOp::Paciasp,
            },
            "hint #0x19",
        ),
        (
            MInst::Hint {
                op: HintOp::Pacibsp,
            },
            "hint #0x1b",
        ),
        (
            MInst::Hint {
                op: HintOp::Autiasp,
            },
            "hint #0x1d",
        ),
        (
            MInst::Hint {
                op: HintOp::Autibsp,
            },
            "hint #0x1f",
        ),
        (MInst::Hint { op: HintOp::BtiC }, "hint #0x22"),
        // xpaclri is HINT #7.
        (
            MInst::Hint {
                op: HintOp::Xpaclri,
            },
            "hint #0x7",
        ),
        (
            MInst::Udf {
                code: TrapCode::INTEGER_DIVISION_BY_ZERO,
            },
            "udf #0x0",
        ),
        (
            MInst::CallInd {
                rn: x(9),
                uses: vec![],
                defs: vec![],
                clobbers: Default::default(),
                callee_pop: 0,
            },
            "blr x9",
        ),
        (
            MInst::Call {
                target: RelocTarget::TestCase(0),
                uses: vec![],
                defs: vec![],
                clobbers: Default::default(),
                callee_pop: 0,
            },
            "bl $+0x0",
        ),
        // A `tail` callee popped its stack arguments: sp is put back.
        (
            MInst::Call {
                target: RelocTarget::TestCase(0),
                uses: vec![],
                defs: vec![],
                clobbers: Default::default(),
                callee_pop: 48,
            },
            "bl $+0x0; sub sp, sp, #0x30",
        ),
        (
            MInst::CallInd {
                rn: x(3),
                uses: vec![],
                defs: vec![],
                clobbers: Default::default(),
                callee_pop: 0x1_2340,
            },
            "blr x3; sub sp, sp, #0x12, lsl #12; sub sp, sp, #0x340",
        ),
        // autia1716 is HINT #12, autib1716 HINT #14.
        (
            MInst::Hint {
                op: HintOp::Autia1716,
            },
            "hint #0xc",
        ),
        (
            MInst::Hint {
                op: HintOp::Autib1716,
            },
            "hint #0xe",
        ),
    ]);
}

/// Emits `inst` (a branch to `label`), `gap` bytes of `nop`s, binds the
/// label, and returns the decoded first `words` words.
fn branch_to(
    make: impl Fn(crate::machinst::buffer::MachLabel) -> MInst,
    gap: u32,
    words: usize,
) -> String {
    let mut buf = MachBuffer::<A64LabelUse>::new();
    let target = buf.get_label();
    emit(&make(target), &FrameLayout::default(), &mut buf).unwrap();
    for _ in 0..gap / 4 {
        buf.put4(0xd503_201f);
    }
    buf.bind_label(target);
    buf.put4(0xd503_201f);
    let done = buf.finish().unwrap();
    disasm(&done.data[..4 * words])
}

#[test]
fn branches_patch_their_fields() {
    let one = |kind| move |t| MInst::OneWayCondBr { kind, target: t };
    assert_eq!(branch_to(|t| MInst::Jump { target: t }, 8, 1), "b $+0xc");
    assert_eq!(
        branch_to(one(CondBrKind::Cond(Cond::Ne)), 4, 1),
        "b.ne $+0x8"
    );
    assert_eq!(
        branch_to(one(CondBrKind::Zero(x(3), S64)), 4, 1),
        "cbz x3, $+0x8"
    );
    assert_eq!(
        branch_to(one(CondBrKind::NotZero(x(3), S32)), 4, 1),
        "cbnz w3, $+0x8"
    );
    assert_eq!(
        branch_to(one(CondBrKind::BitSet(x(3), 63)), 4, 1),
        "tbnz x3, #0x3f, $+0x8"
    );
    assert_eq!(
        branch_to(one(CondBrKind::BitClear(x(3), 5)), 4, 1),
        "tbz w3, #0x5, $+0x8"
    );
    assert_eq!(
        branch_to(
            |t| MInst::Adr {
                rd: wx(4),
                label: t
            },
            4,
            1
        ),
        "adr x4, $+0x8"
    );
    // The largest forward distances each field holds.
    assert_eq!(
        branch_to(one(CondBrKind::Cond(Cond::Eq)), (1 << 20) - 8, 1),
        "b.eq $+0xffffc"
    );
    assert_eq!(
        branch_to(one(CondBrKind::BitSet(x(0), 0)), (1 << 15) - 8, 1),
        "tbnz w0, #0x0, $+0x7ffc"
    );
    // A literal load.
    assert_eq!(
        branch_to(
            |t| MInst::Load {
                kind: LoadKind::Load64,
                rd: wx(2),
                mem: AMode::Label { label: t },
            },
            12,
            1
        ),
        "ldr x2, $+0x10"
    );
}

#[test]
fn backward_branches() {
    let mut buf = MachBuffer::<A64LabelUse>::new();
    let top = buf.get_label();
    buf.bind_label(top);
    buf.put4(0xd503_201f);
    let kind = CondBrKind::NotZero(x(1), S64);
    emit(
        &MInst::OneWayCondBr { kind, target: top },
        &FrameLayout::default(),
        &mut buf,
    )
    .unwrap();
    emit(
        &MInst::Jump { target: top },
        &FrameLayout::default(),
        &mut buf,
    )
    .unwrap();
    let done = buf.finish().unwrap();
    assert_eq!(disasm(&done.data[4..12]), "cbnz x1, $-0x4; b $-0x8");
}

#[test]
fn sp_and_zr_are_never_confused() {
    let frame = FrameLayout::default();
    let mut buf = MachBuffer::<A64LabelUse>::new();
    // xzr where the field reads sp, and sp where it reads xzr: errors.
    let bad = [
        rrr(AluOp::Add, S64, 0, 1, 2).clone(),
        MInst::AluRRR {
            op: AluOp::Add,
            size: S64,
            rd: w(sp()),
            rn: x(1),
            rm: x(2),
        },
        MInst::AluRRImm12 {
            op: AluOp::Add,
            size: S64,
            rd: wx(0),
            rn: zr(),
            imm: Imm12::maybe_from_u64(1).unwrap(),
        },
        MInst::Load {
            kind: LoadKind::Load64,
            rd: wx(0),
            mem: AMode::UnsignedOffset { rn: zr(), uimm: 0 },
        },
        MInst::Load {
            kind: LoadKind::Load64,
            rd: w(sp()),
            mem: AMode::UnsignedOffset { rn: x(0), uimm: 0 },
        },
        MInst::FpuRR {
            op: FpuOp1::Neg,
            size: F64,
            rd: wx(0),
            rn: v(1),
        },
        MInst::Load {
            kind: LoadKind::Load64,
            rd: wx(0),
            mem: AMode::UnsignedOffset { rn: x(1), uimm: 4 },
        },
        MInst::AluRRImmShift {
            op: ShiftOp::Lsl,
            size: S32,
            rd: wx(0),
            rn: x(1),
            amt: 32,
        },
    ];
    assert!(emit(&bad[0], &frame, &mut buf).is_ok());
    for inst in &bad[1..] {
        assert!(emit(inst, &frame, &mut buf).is_err(), "{inst:?} encoded");
    }
}

/// Every logical immediate the hardware has, enumerated by the decoder:
/// each `N:immr:imms` word that `yaxpeax-arm` accepts as `and x0, x1, #v`
/// names a value `v` our encoder must find, and its encoding must decode to
/// the same value; every other value we were asked about must be rejected.
#[test]
fn every_logical_immediate() {
    let d = InstDecoder::default();
    for (size, sf, reg) in [(S64, 1u32, 'x'), (S32, 0, 'w')] {
        let mut values = std::collections::BTreeSet::new();
        // N = 1 is reserved at 32 bits (the decoder is lenient there too).
        let n_values = if sf == 1 { 1u32 << 13 } else { 1 << 12 };
        for bits in 0..n_values {
            let word = (sf << 31) | (0b00_100100 << 23) | (bits << 10) | (1 << 5);
            let word_bytes = word.to_le_bytes();
            let mut r = U8Reader::new(&word_bytes[..]);
            let Ok(inst) = d.decode(&mut r) else { continue };
            let text = inst.to_string();
            let prefix = format!("and {reg}0, {reg}1, #0x");
            let Some(hex) = text.strip_prefix(&prefix) else {
                continue;
            };
            values.insert(u64::from_str_radix(hex, 16).unwrap());
        }
        // 5334 distinct 64-bit patterns, 1302 at 32 bits.
        let expected = if sf == 1 { 5334 } else { 1302 };
        // The decoder also accepts the reserved "element of all ones"
        // pattern (Arm ARM DecodeBitMasks: imms == element size - 1 is
        // undefined) and prints it as all ones; no encoding exists for it.
        let all_ones = if sf == 1 { u64::MAX } else { 0xffff_ffff };
        values.remove(&all_ones);
        assert_eq!(values.len(), expected, "{size:?}");
        for &value in &values {
            let imm = ImmLogic::maybe_from_u64(value, size)
                .unwrap_or_else(|| panic!("{value:#x} not encoded at {size:?}"));
            let inst = MInst::AluRRImmLogic {
                op: AluOp::And,
                size,
                rd: wx(0),
                rn: x(1),
                imm,
            };
            let got = disasm(&encode(&inst, &FrameLayout::default()));
            assert_eq!(got, format!("and {reg}0, {reg}1, #{value:#x}"));
        }
        // Values next to the patterns are rejected unless they are ones.
        for &value in &values {
            for probe in [value ^ 0x10, value.wrapping_add(3)] {
                let probe = if sf == 0 { probe & 0xffff_ffff } else { probe };
                assert_eq!(
                    ImmLogic::maybe_from_u64(probe, size).is_some(),
                    values.contains(&probe),
                    "{probe:#x} at {size:?}"
                );
            }
        }
    }
}

/// Constant materialisation: every sequence decodes to instructions whose
/// combined effect (simulated here from the decoded text, not from our
/// instruction fields) is the constant.
#[test]
fn constants_materialise() {
    let samples: &[u64] = &[
        0,
        1,
        0xffff,
        0x1_0000,
        0xffff_ffff,
        0xffff_ffff_ffff_ffff,
        0xffff_ffff_ffff_fffe,
        0x8000_0000_0000_0000,
        0x1234_5678_9abc_def0,
        0xffff_1234_ffff_ffff,
        0x0000_ffff_0000_ffff,
        0x5555_5555_5555_5555,
        0x0000_0001_0000_0001,
        0xdead_beef,
        0xffff_0000_0000_ffff,
        0x0001_0000_0000_0000,
    ];
    for &value in samples {
        for size in [S64, S32] {
            let want = if size == S32 {
                value & 0xffff_ffff
            } else {
                value
            };
            let seq = MInst::load_constant(wx(5), value, size);
            let mut bytes = Vec::new();
            for inst in &seq {
                bytes.extend(encode(inst, &FrameLayout::default()));
            }
            let text = disasm(&bytes);
            let got = simulate_moves(&text, size);
            assert_eq!(got, Some(want), "{value:#x} at {size:?}: {text}");
            // No longer than movz or movn plus a movk per remaining chunk.
            let chunks: Vec<u64> = (0..size.bits() / 16)
                .map(|i| (want >> (16 * i)) & 0xffff)
                .collect();
            let zeros = chunks.iter().filter(|&&c| c == 0).count();
            let ones = chunks.iter().filter(|&&c| c == 0xffff).count();
            let bound = (chunks.len() - zeros.max(ones)).max(1);
            assert!(seq.len() <= bound, "{value:#x} at {size:?}: {text}");
        }
    }
}

/// Interprets the `mov`/`movk`/`movn`/`orr` texts the decoder prints for
/// register 5 (`mov` shows the final value of movz, movn and orr).
fn simulate_moves(text: &str, size: OperandSize) -> Option<u64> {
    let mask = if size == S32 {
        0xffff_ffffu64
    } else {
        u64::MAX
    };
    let mut acc = None;
    for part in text.split("; ") {
        let fields: Vec<&str> = part.split([' ', ',']).filter(|s| !s.is_empty()).collect();
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("#0x"), 16).ok();
        match fields.as_slice() {
            ["mov", _, v] => acc = Some(hex(v)? & mask),
            ["movk", _, v] => acc = Some((acc? & !0xffff) | hex(v)?),
            ["movk", _, v, "lsl", s] => {
                let s = s.trim_start_matches('#').parse::<u32>().ok()?;
                acc = Some((acc? & !(0xffffu64 << s)) | (hex(v)? << s));
            }
            _ => return None,
        }
    }
    acc
}

#[test]
fn population_count_vector_forms() {
    let misc = |op, rd, rn| MInst::VecMisc {
        op,
        rd: wv(rd),
        rn: v(rn),
    };
    check(&[
        (misc(VecMiscOp::Cnt8B, 0, 1), "cnt v0.8b, v1.8b"),
        (misc(VecMiscOp::Cnt8B, 31, 30), "cnt v31.8b, v30.8b"),
        (misc(VecMiscOp::Addv8B, 0, 1), "addv b0, v1.8b"),
        (misc(VecMiscOp::Addv8B, 17, 31), "addv b17, v31.8b"),
    ]);
}

#[test]
fn atomics() {
    let lse = |op, bytes, s, t, n| MInst::AtomicRmwLse {
        op,
        bytes,
        rs: x(s),
        rt: wx(t),
        rn: n,
    };
    check(&[
        (
            MInst::LoadAcquire {
                bytes: 1,
                rt: wx(0),
                rn: x(1),
            },
            "ldarb w0, [x1]",
        ),
        (
            MInst::LoadAcquire {
                bytes: 2,
                rt: wx(3),
                rn: sp(),
            },
            "ldarh w3, [sp]",
        ),
        (
            MInst::LoadAcquire {
                bytes: 4,
                rt: w(zr()),
                rn: x(30),
            },
            "ldar wzr, [x30]",
        ),
        (
            MInst::LoadAcquire {
                bytes: 8,
                rt: wx(5),
                rn: x(6),
            },
            "ldar x5, [x6]",
        ),
        (
            MInst::StoreRelease {
                bytes: 1,
                rt: x(0),
                rn: x(1),
            },
            "stlrb w0, [x1]",
        ),
        (
            MInst::StoreRelease {
                bytes: 2,
                rt: zr(),
                rn: sp(),
            },
            "stlrh wzr, [sp]",
        ),
        (
            MInst::StoreRelease {
                bytes: 4,
                rt: x(2),
                rn: x(3),
            },
            "stlr w2, [x3]",
        ),
        (
            MInst::StoreRelease {
                bytes: 8,
                rt: x(2),
                rn: x(3),
            },
            "stlr x2, [x3]",
        ),
        (MInst::Fence, "dmb ish"),
        (lse(AtomicOp::Add, 8, 1, 0, x(2)), "ldaddal x1, x0, [x2]"),
        (lse(AtomicOp::Add, 1, 1, 0, sp()), "ldaddalb w1, w0, [sp]"),
        (lse(AtomicOp::Clr, 4, 1, 0, x(2)), "ldclral w1, w0, [x2]"),
        (lse(AtomicOp::Xor, 2, 1, 0, x(2)), "ldeoralh w1, w0, [x2]"),
        (lse(AtomicOp::Or, 8, 30, 29, x(28)), "ldsetal x30, x29, [x28]"),
        (lse(AtomicOp::Smax, 8, 1, 0, x(2)), "ldsmaxal x1, x0, [x2]"),
        (lse(AtomicOp::Smin, 1, 1, 0, x(2)), "ldsminalb w1, w0, [x2]"),
        (lse(AtomicOp::Umax, 2, 1, 0, x(2)), "ldumaxalh w1, w0, [x2]"),
        (lse(AtomicOp::Umin, 4, 1, 0, x(2)), "lduminal w1, w0, [x2]"),
        (lse(AtomicOp::Xchg, 8, 1, 0, x(2)), "swpal x1, x0, [x2]"),
        (lse(AtomicOp::Xchg, 1, 1, 0, x(2)), "swpalb w1, w0, [x2]"),
        (
            MInst::AtomicCasLse {
                bytes: 8,
                old: wx(0),
                expected: x(0),
                replacement: x(1),
                rn: x(2),
            },
            "casal x0, x1, [x2]",
        ),
        (
            MInst::AtomicCasLse {
                bytes: 2,
                old: wx(4),
                expected: x(4),
                replacement: x(5),
                rn: sp(),
            },
            "casalh w4, w5, [sp]",
        ),
        (
            MInst::AtomicCasLoop {
                bytes: 4,
                addr: x(0),
                expected: x(1),
                replacement: x(2),
                old: wx(3),
                status: wx(4),
            },
            "ldaxr w3, [x0]; cmp w3, w1; b.ne $+0xc; stlxr w4, w2, [x0]; cbnz w4, $-0x10",
        ),
        (
            MInst::AtomicRmwLoop {
                op: AtomicOp::Nand,
                bytes: 8,
                signed: false,
                addr: x(0),
                operand: x(1),
                old: wx(2),
                new: wx(3),
                status: wx(4),
            },
            "ldaxr x2, [x0]; and x3, x2, x1; mvn x3, x3; stlxr w4, x3, [x0]; cbnz w4, $-0x10",
        ),
        (
            MInst::AtomicRmwLoop {
                op: AtomicOp::Smax,
                bytes: 1,
                signed: true,
                addr: x(0),
                operand: x(1),
                old: wx(2),
                new: wx(3),
                status: wx(4),
            },
            "ldaxrb w2, [x0]; sxtb w3, w2; cmp w3, w1; csel w3, w2, w1, gt; stlxrb w4, w3, [x0]; cbnz w4, $-0x14",
        ),
        (
            MInst::AtomicRmwLoop {
                op: AtomicOp::Xchg,
                bytes: 2,
                signed: false,
                addr: x(0),
                operand: x(1),
                old: wx(2),
                new: wx(3),
                status: wx(4),
            },
            "ldaxrh w2, [x0]; stlxrh w4, w1, [x0]; cbnz w4, $-0x8",
        ),
    ]);
}

/// A jump table with two entries to one label placed right after it, and
/// the disassembly of its first `words` words plus its table words.
fn jump_table(bti: bool, len: usize) -> (String, Vec<u32>) {
    let mut buf = MachBuffer::<A64LabelUse>::new();
    let target = buf.get_label();
    let inst = MInst::JmpTable {
        idx: x(0),
        tmp1: wx(1),
        tmp2: wx(2),
        default: target,
        targets: vec![target; len].into_boxed_slice(),
        bti,
    };
    emit(&inst, &FrameLayout::default(), &mut buf).unwrap();
    buf.bind_label(target);
    buf.put4(0xd503_201f);
    let done = buf.finish().unwrap();
    let words: Vec<u32> = done
        .data
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (disasm(&done.data), words)
}

#[test]
fn jump_tables() {
    // Data table: entries are offsets from the table start (0x1c) to the
    // label after it (0x1c + 4 * 2 = 0x24): 8.
    let (text, words) = jump_table(false, 2);
    assert!(
        text.starts_with(
            "cmp w0, #0x2; b.hs $+0x20; csel x2, xzr, x0, hs; adr x1, $+0x10; \
             ldrsw x2, [x1, w2, uxtw #2]; add x1, x1, x2; br x1"
        ),
        "{text}"
    );
    assert_eq!(&words[7..9], &[8, 8]);
    // A count above the 12-bit immediate goes through tmp2.
    let (text, _) = jump_table(false, 5000);
    assert!(
        text.starts_with("mov w2, #0x1388; cmp w0, w2; b.hs "),
        "{text}"
    );
    // BTI: `bti j; b target` pairs.
    let (text, _) = jump_table(true, 2);
    assert_eq!(
        text,
        "cmp w0, #0x2; b.hs $+0x24; csel x2, xzr, x0, hs; adr x1, $+0xc; \
         add x1, x1, x2, lsl #3; br x1; hint #0x24; b $+0xc; hint #0x24; b $+0x4; nop"
    );
}

#[test]
fn symbol_address_literal() {
    let mut buf = MachBuffer::<A64LabelUse>::new();
    let inst = MInst::LoadExtName {
        rd: wx(7),
        target: RelocTarget::TestCase(0),
        offset: 16,
        mode: ExtNameMode::Literal,
    };
    emit(&inst, &FrameLayout::default(), &mut buf).unwrap();
    let done = buf.finish().unwrap();
    assert_eq!(disasm(&done.data[..8]), "ldr x7, $+0x8; b $+0xc");
    assert_eq!(done.data.len(), 16);
    assert_eq!(done.relocs.len(), 1);
    assert_eq!(done.relocs[0].offset, 8);
    assert_eq!(done.relocs[0].addend, 16);
}

/// The `is_pic` forms of a symbol address, across low, high and
/// callee-saved registers: `adrp` + `add` (PC-relative, the offset in both
/// relocations' addends) and `adrp` + `ldr` of the GOT slot (no offset).
#[test]
fn symbol_address_pic_forms() {
    for r in [0u8, 7, 15, 19, 28] {
        for (mode, offset, second, kinds) in [
            (
                ExtNameMode::PcRel,
                -24i64,
                format!("add x{r}, x{r}, #0x0"),
                [Reloc::Aarch64AdrPrelPgHi21, Reloc::Aarch64AddAbsLo12Nc],
            ),
            (
                ExtNameMode::Got,
                0,
                format!("ldr x{r}, [x{r}]"),
                [Reloc::Aarch64AdrGotPage21, Reloc::Aarch64Ld64GotLo12Nc],
            ),
        ] {
            let mut buf = MachBuffer::<A64LabelUse>::new();
            let inst = MInst::LoadExtName {
                rd: wx(r),
                target: RelocTarget::TestCase(3),
                offset,
                mode,
            };
            emit(&inst, &FrameLayout::default(), &mut buf).unwrap();
            let done = buf.finish().unwrap();
            assert_eq!(
                disasm(&done.data),
                format!("adrp x{r}, $+0x0; {second}"),
                "{mode:?}"
            );
            let got: Vec<_> = done
                .relocs
                .iter()
                .map(|x| (x.offset, x.kind, x.target, x.addend))
                .collect();
            assert_eq!(
                got,
                vec![
                    (0, kinds[0], RelocTarget::TestCase(3), offset),
                    (4, kinds[1], RelocTarget::TestCase(3), offset)
                ],
                "{mode:?}"
            );
        }
    }
    // A GOT slot holds the symbol itself: an offset there is a lowering bug.
    let mut buf = MachBuffer::<A64LabelUse>::new();
    let inst = MInst::LoadExtName {
        rd: wx(1),
        target: RelocTarget::TestCase(0),
        offset: 8,
        mode: ExtNameMode::Got,
    };
    assert!(emit(&inst, &FrameLayout::default(), &mut buf).is_err());
}

/// 128-bit loads, stores and copies (wasm's `v128` moves, f128 values,
/// spill slots): every addressing form the lowering and the allocator use,
/// with sp and x-register bases and the offset edges of each form.
#[test]
fn q_register_forms() {
    let ld = |rd, mem| MInst::Load {
        kind: LoadKind::FpuLoad128,
        rd: wv(rd),
        mem,
    };
    let st = |rd, mem| MInst::Store {
        kind: StoreKind::FpuStore128,
        rd: v(rd),
        mem,
    };
    let uo = |rn, uimm| AMode::UnsignedOffset { rn, uimm };
    let un = |rn, simm| AMode::Unscaled { rn, simm };
    let rr = |rn, rm, scaled| AMode::RegReg { rn, rm, scaled };
    let mov = |rd, rn| MInst::VecMisc {
        op: VecMiscOp::Mov16B,
        rd: wv(rd),
        rn: v(rn),
    };
    check(&[
        (ld(0, uo(x(1), 0)), "ldr q0, [x1]"),
        (ld(31, uo(x(30), 16)), "ldr q31, [x30, #0x10]"),
        (ld(7, uo(sp(), 65520)), "ldr q7, [sp, #0xfff0]"),
        (st(0, uo(x(1), 0)), "str q0, [x1]"),
        (st(31, uo(x(2), 80)), "str q31, [x2, #0x50]"),
        (st(16, uo(sp(), 65520)), "str q16, [sp, #0xfff0]"),
        (ld(1, un(x(2), -256)), "ldur q1, [x2, #-0x100]"),
        (ld(1, un(sp(), 255)), "ldur q1, [sp, #0xff]"),
        (ld(2, un(x(3), 8)), "ldur q2, [x3, #0x8]"),
        (st(3, un(x(4), -16)), "stur q3, [x4, #-0x10]"),
        (st(30, un(sp(), 255)), "stur q30, [sp, #0xff]"),
        (ld(4, rr(x(5), x(6), false)), "ldr q4, [x5, x6]"),
        (ld(4, rr(sp(), x(30), true)), "ldr q4, [sp, x30, lsl #4]"),
        (st(5, rr(x(7), x(8), false)), "str q5, [x7, x8]"),
        (st(5, rr(x(7), x(8), true)), "str q5, [x7, x8, lsl #4]"),
        (mov(0, 1), "mov v0.16b, v1.16b"),
        (mov(31, 0), "mov v31.16b, v0.16b"),
        (mov(8, 31), "mov v8.16b, v31.16b"),
    ]);
}

/// The f16/f128 moves: whole-register logic and `zip1 .2d` (f128 from two
/// halves, select masks), the upper doubleword to a general register, and
/// `h` loads/stores.
#[test]
fn f16_f128_forms() {
    let vrrr = |op, rd, rn, rm| MInst::VecRRR {
        op,
        rd: wv(rd),
        rn: v(rn),
        rm: v(rm),
    };
    let hi = |rd, rn| MInst::MovFromVecHi {
        rd: wx(rd),
        rn: v(rn),
    };
    let uo = |rn, uimm| AMode::UnsignedOffset { rn, uimm };
    let un = |rn, simm| AMode::Unscaled { rn, simm };
    use VecAluOp::*;
    check(&[
        (vrrr(And16B, 0, 1, 2), "and v0.16b, v1.16b, v2.16b"),
        (vrrr(And16B, 31, 30, 29), "and v31.16b, v30.16b, v29.16b"),
        (vrrr(Bic16B, 3, 4, 5), "bic v3.16b, v4.16b, v5.16b"),
        (vrrr(Bic16B, 31, 0, 31), "bic v31.16b, v0.16b, v31.16b"),
        (vrrr(Orr16B, 6, 7, 8), "orr v6.16b, v7.16b, v8.16b"),
        (vrrr(Zip1D2, 0, 1, 2), "zip1 v0.2d, v1.2d, v2.2d"),
        (vrrr(Zip1D2, 31, 16, 8), "zip1 v31.2d, v16.2d, v8.2d"),
        (hi(0, 1), "mov x0, v1.d[1]"),
        (hi(30, 31), "mov x30, v31.d[1]"),
        (
            MInst::Load {
                kind: LoadKind::FpuLoad16,
                rd: wv(31),
                mem: un(sp(), -2),
            },
            "ldur h31, [sp, #-0x2]",
        ),
        (
            MInst::Store {
                kind: StoreKind::FpuStore16,
                rd: v(1),
                mem: uo(x(2), 8190),
            },
            "str h1, [x2, #0x1ffe]",
        ),
        (
            MInst::Store {
                kind: StoreKind::FpuStore16,
                rd: v(0),
                mem: un(x(3), 255),
            },
            "stur h0, [x3, #0xff]",
        ),
    ]);
}

fn rmw128(op: Option<AtomicOp>, addr: Reg, new: [u8; 2], scratch: [u8; 2]) -> AtomicRmw128Args {
    let wz = |n: u8| if n == 31 { w(zr()) } else { wx(n) };
    AtomicRmw128Args {
        op,
        addr,
        operand: if op.is_some() {
            [x(6), x(7)]
        } else {
            [zr(), zr()]
        },
        old: [wx(0), wx(1)],
        new: [wz(new[0]), wz(new[1])],
        scratch: [wz(scratch[0]), wz(scratch[1])],
    }
}

/// The i128 atomics: `ldaxp`/`stlxp` loops, `caspal` and its loop, and the
/// 128-bit compare (`cmp` + `sbcs`/`ccmp`) inside them. Texts checked
/// against binutils too (`aarch64-linux-gnu-objdump`).
#[test]
fn atomics_i128() {
    use AtomicOp::*;
    let lp = |op, addr, new| MInst::AtomicRmw128Loop(Box::new(rmw128(op, addr, new, [8, 31])));
    let casp = |op| MInst::AtomicRmw128Casp(Box::new(rmw128(Some(op), x(9), [2, 3], [4, 5])));
    check(&[
        (
            lp(Some(Add), x(10), [2, 3]),
            "ldaxp x0, x1, [x10]; adds x2, x0, x6; adc x3, x1, x7; stlxp w8, x2, x3, [x10]; cbnz w8, $-0x10",
        ),
        (
            lp(Some(Sub), sp(), [2, 3]),
            "ldaxp x0, x1, [sp]; subs x2, x0, x6; sbc x3, x1, x7; stlxp w8, x2, x3, [sp]; cbnz w8, $-0x10",
        ),
        (
            lp(Some(Nand), x(10), [2, 3]),
            "ldaxp x0, x1, [x10]; and x2, x0, x6; and x3, x1, x7; mvn x2, x2; mvn x3, x3; stlxp w8, x2, x3, [x10]; cbnz w8, $-0x18",
        ),
        (
            lp(Some(Smin), x(10), [2, 3]),
            "ldaxp x0, x1, [x10]; cmp x0, x6; sbcs xzr, x1, x7; csel x2, x0, x6, lt; csel x3, x1, x7, lt; stlxp w8, x2, x3, [x10]; cbnz w8, $-0x18",
        ),
        (
            lp(Some(Umax), x(10), [2, 3]),
            "ldaxp x0, x1, [x10]; cmp x0, x6; sbcs xzr, x1, x7; csel x2, x0, x6, hs; csel x3, x1, x7, hs; stlxp w8, x2, x3, [x10]; cbnz w8, $-0x18",
        ),
        (
            lp(Some(Xchg), x(10), [31, 31]),
            "ldaxp x0, x1, [x10]; stlxp w8, x6, x7, [x10]; cbnz w8, $-0x8",
        ),
        // The atomic load stores what it read back.
        (
            lp(None, x(30), [31, 31]),
            "ldaxp x0, x1, [x30]; stlxp w8, x0, x1, [x30]; cbnz w8, $-0x8",
        ),
        (
            casp(Or),
            "ldp x0, x1, [x9]; mov x4, x0; mov x5, x1; orr x2, x0, x6; orr x3, x1, x7; caspal x0, x1, x2, x3, [x9]; cmp x0, x4; ccmp x1, x5, #0x0, eq; b.ne $-0x1c",
        ),
        (
            casp(Xchg),
            "ldp x0, x1, [x9]; mov x4, x0; mov x5, x1; mov x2, x6; mov x3, x7; caspal x0, x1, x2, x3, [x9]; cmp x0, x4; ccmp x1, x5, #0x0, eq; b.ne $-0x1c",
        ),
        (
            MInst::AtomicCas128Loop(Box::new(AtomicCas128Args {
                addr: x(10),
                expected: Some([x(2), x(3)]),
                replacement: Some([x(4), x(5)]),
                old: [wx(0), wx(1)],
                store: [wx(6), wx(7)],
                status: wx(8),
            })),
            "ldaxp x0, x1, [x10]; cmp x0, x2; ccmp x1, x3, #0x0, eq; csel x6, x4, x0, eq; csel x7, x5, x1, eq; stlxp w8, x6, x7, [x10]; cbnz w8, $-0x18",
        ),
        (
            MInst::AtomicCas128Lse(Box::new(AtomicCas128Args {
                addr: sp(),
                expected: Some([x(0), x(1)]),
                replacement: Some([x(2), x(3)]),
                old: [wx(0), wx(1)],
                store: [w(zr()), w(zr())],
                status: w(zr()),
            })),
            "caspal x0, x1, x2, x3, [sp]",
        ),
        (
            MInst::AtomicCas128Lse(Box::new(AtomicCas128Args {
                addr: x(13),
                expected: None,
                replacement: None,
                old: [wx(0), wx(1)],
                store: [w(zr()), w(zr())],
                status: w(zr()),
            })),
            "caspal x0, x1, x0, x1, [x13]",
        ),
    ]);
}

/// `casp` takes even/odd pairs: the emitter refuses registers the
/// operand constraints should have fixed, instead of encoding another pair.
#[test]
fn casp_pairs_are_checked() {
    let frame = FrameLayout::default();
    let bad_lse = MInst::AtomicCas128Lse(Box::new(AtomicCas128Args {
        addr: x(13),
        expected: Some([x(0), x(1)]),
        replacement: Some([x(4), x(5)]),
        old: [wx(0), wx(1)],
        store: [w(zr()), w(zr())],
        status: w(zr()),
    }));
    let bad_loop =
        MInst::AtomicRmw128Casp(Box::new(rmw128(Some(AtomicOp::Add), x(9), [4, 5], [2, 3])));
    for inst in [bad_lse, bad_loop] {
        let mut buf = MachBuffer::<A64LabelUse>::new();
        assert!(
            emit(&inst, &frame, &mut buf).is_err(),
            "{inst:?} was encoded"
        );
    }
}
