//! Table-driven encoding test of the x86-64 emitter against the iced-x86
//! decoder.
//!
//! Every case emits one `MInst` with physical registers, decodes the bytes
//! with iced, checks that exactly the emitted bytes were consumed, formats
//! the decoded instruction(s) with iced's Intel formatter, and compares the
//! text with an expected string built *here*, by hand, from the operands
//! (own register-name tables, own memory-operand and immediate formatting),
//! never from the crate's printer or encoding tables.

use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter, MemorySizeOptions};
use kiln_codegen::isa::x64::emit::EmitState;
use kiln_codegen::isa::x64::regs::{gpr, xmm};
use kiln_codegen::isa::x64::*;
use kiln_codegen::machinst::buffer::{
    LibCall, MachBuffer, MachLabel, Reloc, RelocTarget, VCodeConstants,
};
use kiln_codegen::machinst::reg::{Reg, Writable};
use kiln_ir::{EntityRef, TrapCode, UserExternalNameRef};
use smallvec::smallvec;

const R64: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
const R32: [&str; 16] = [
    "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d",
    "r13d", "r14d", "r15d",
];
const R16: [&str; 16] = [
    "ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w",
    "r14w", "r15w",
];
const R8: [&str; 16] = [
    "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b",
    "r13b", "r14b", "r15b",
];

const SIZES: [OperandSize; 4] = [
    OperandSize::Size8,
    OperandSize::Size16,
    OperandSize::Size32,
    OperandSize::Size64,
];

/// Padding after the instruction, before the test label.
const PAD: u32 = 16;

fn bits(s: OperandSize) -> u32 {
    match s {
        OperandSize::Size8 => 8,
        OperandSize::Size16 => 16,
        OperandSize::Size32 => 32,
        OperandSize::Size64 => 64,
    }
}

fn rn(e: u8, bits: u32) -> &'static str {
    match bits {
        8 => R8[e as usize],
        16 => R16[e as usize],
        32 => R32[e as usize],
        _ => R64[e as usize],
    }
}

fn xn(e: u8) -> String {
    format!("xmm{e}")
}

fn ptr(bits: u32) -> &'static str {
    match bits {
        8 => "byte",
        16 => "word",
        32 => "dword",
        64 => "qword",
        _ => "xmmword",
    }
}

/// A signed hex number the way the formatter is configured to print it.
fn hex(v: i64) -> String {
    if v < 0 {
        format!("-0x{:x}", v.unsigned_abs())
    } else {
        format!("0x{v:x}")
    }
}

/// An immediate as seen by an operation of `bits` bits: truncated to the
/// width and sign-extended.
fn imm_at(v: i64, bits: u32) -> String {
    hex(match bits {
        8 => v as i8 as i64,
        16 => v as i16 as i64,
        32 => v as i32 as i64,
        _ => v,
    })
}

fn w(r: Reg) -> Writable<Reg> {
    Writable::from_reg(r)
}

/// A memory operand under test and its expected text (without size).
#[derive(Clone)]
struct Mem {
    amode: Amode,
    text: String,
}

/// Addresses: every base with several displacements (rsp/r12 need a SIB,
/// rbp/r13 a disp8 of zero), and base+index*scale with every index.
fn amodes(full: bool) -> Vec<Mem> {
    let mut v = Vec::new();
    let disps: &[i32] = if full {
        &[0, 8, -8, 127, -128, 128, -129, 0x1234_5678, i32::MIN]
    } else {
        &[0, -8, 0x1000]
    };
    let disp_text = |d: i32| {
        if d == 0 {
            String::new()
        } else if d < 0 {
            format!("-0x{:x}", (d as i64).unsigned_abs())
        } else {
            format!("+0x{d:x}")
        }
    };
    for b in 0..16u8 {
        for &d in disps {
            v.push(Mem {
                amode: Amode::imm_reg(d, gpr(b)),
                text: format!("[{}{}]", R64[b as usize], disp_text(d)),
            });
        }
    }
    let bases: Vec<u8> = if full {
        (0..16).collect()
    } else {
        vec![0, 4, 5, 12, 13, 15]
    };
    for &b in &bases {
        for i in (0..16u8).filter(|&i| i != 4) {
            if !full && ![1, 5, 8, 12, 13].contains(&i) {
                continue;
            }
            for shift in 0..4u8 {
                for &d in if full {
                    &[0, 0x40, -0x1000][..]
                } else {
                    &[0, 0x7f][..]
                } {
                    let scale = if shift == 0 {
                        String::new()
                    } else {
                        format!("*{}", 1 << shift)
                    };
                    v.push(Mem {
                        amode: Amode::imm_reg_reg_shift(d, gpr(b), gpr(i), shift),
                        text: format!(
                            "[{}+{}{}{}]",
                            R64[b as usize],
                            R64[i as usize],
                            scale,
                            disp_text(d)
                        ),
                    });
                }
            }
        }
    }
    v
}

struct Checker {
    fmt: IntelFormatter,
    /// Emit with `EmitState::avx` (and compare `pretty_at(true)`).
    avx: bool,
    cases: usize,
    pretty_checked: usize,
    failures: Vec<String>,
}

impl Checker {
    fn new() -> Self {
        let mut fmt = IntelFormatter::new();
        let o = fmt.options_mut();
        o.set_hex_prefix("0x");
        o.set_hex_suffix("");
        o.set_uppercase_hex(false);
        o.set_small_hex_numbers_in_decimal(false);
        o.set_space_after_operand_separator(true);
        o.set_signed_immediate_operands(true);
        o.set_memory_size_options(MemorySizeOptions::Always);
        o.set_show_branch_size(false);
        o.set_branch_leading_zeros(false);
        Checker {
            fmt,
            avx: false,
            cases: 0,
            pretty_checked: 0,
            failures: Vec::new(),
        }
    }

    /// Emits `inst` (whose label operands, if any, are `label`), then PAD
    /// bytes, then binds `label`; decodes and compares. `expected` may
    /// contain `{L}` for the label's address.
    fn check_with(
        &mut self,
        label: MachLabel,
        buf: MachBuffer<X64LabelUse>,
        inst: &MInst,
        expected: &str,
    ) {
        let mut buf = buf;
        let st = EmitState {
            avx: self.avx,
            ..EmitState::default()
        };
        inst.emit_with_state(&mut buf, &st);
        let end = buf.cur_offset();
        for _ in 0..PAD {
            buf.put1(0xcc);
        }
        buf.bind_label(label);
        let l_off = end + PAD;
        let code = match buf.finish() {
            Ok(f) => f.data,
            Err(e) => {
                self.failures.push(format!("{inst:?}: finish failed: {e}"));
                return;
            }
        };
        self.cases += 1;
        let expected = expected.replace("{L}", &format!("0x{l_off:x}"));
        let bytes = &code[..end as usize];
        let mut dec = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
        let mut texts = Vec::new();
        let mut consumed = 0usize;
        while dec.can_decode() {
            let i = dec.decode();
            if i.is_invalid() {
                texts.push("(invalid)".to_string());
                break;
            }
            consumed += i.len();
            let mut s = String::new();
            self.fmt.format(&i, &mut s);
            texts.push(s);
        }
        let got = texts.join("; ");
        // The crate's printer must agree with iced too, except where it
        // shows symbolic information iced cannot know (labels, relocations,
        // trap codes) or a different mnemonic spelling (`movabs`).
        let pretty = inst.pretty_at(self.avx);
        let symbolic = ["label", "movabs", ";", "User(", "LibCall("]
            .iter()
            .any(|k| pretty.contains(k));
        if !symbolic {
            self.pretty_checked += 1;
            if pretty != got {
                self.failures.push(format!(
                    "{inst:?}\n    pretty `{pretty}`\n    iced   `{got}`"
                ));
            }
        }
        if got != expected || consumed != bytes.len() {
            self.failures.push(format!(
                "{inst:?}\n    bytes {bytes:02x?}\n    expected `{expected}`\n    iced     `{got}` (consumed {consumed}/{})",
                bytes.len()
            ));
        }
    }

    fn check(&mut self, inst: MInst, expected: impl AsRef<str>) {
        let mut buf = MachBuffer::new();
        // Check the rel32 forms here; shrinking is tested separately.
        buf.set_branch_shrinking(false);
        let label = buf.get_label();
        debug_assert_eq!(label, MachLabel::from_block(0));
        self.check_with(label, buf, &inst, expected.as_ref());
    }

    fn finish(self, min_cases: usize) {
        let n = self.failures.len();
        for f in self.failures.iter().take(40) {
            eprintln!("FAIL {f}");
        }
        eprintln!(
            "{} cases ({} also checked the printer), {n} failures",
            self.cases, self.pretty_checked
        );
        assert_eq!(n, 0, "{n} encoding mismatches");
        assert!(self.cases >= min_cases, "only {} cases", self.cases);
    }
}

fn label0() -> MachLabel {
    MachLabel::from_block(0)
}

#[test]
fn alu_family() {
    let mut c = Checker::new();
    let mems = amodes(false);
    let imms: [i64; 10] = [
        0,
        1,
        -1,
        127,
        -128,
        128,
        -129,
        0x7fff_ffff,
        i32::MIN as i64,
        0x1234,
    ];
    for size in SIZES {
        let b = bits(size);
        for op in AluOp::ALL {
            let name = format!("{op:?}").to_lowercase();
            for d in 0..16u8 {
                for s in 0..16u8 {
                    c.check(
                        MInst::alu(size, op, gpr(d), RegMemImm::Reg(gpr(s)), w(gpr(d))),
                        format!("{name} {}, {}", rn(d, b), rn(s, b)),
                    );
                }
                for &i in &imms {
                    c.check(
                        MInst::alu(size, op, gpr(d), RegMemImm::Imm(i as i32), w(gpr(d))),
                        format!("{name} {}, {}", rn(d, b), imm_at(i, b)),
                    );
                }
            }
            for m in &mems {
                for d in [0u8, 7, 9] {
                    c.check(
                        MInst::alu(size, op, gpr(d), RegMemImm::Mem(m.amode.clone()), w(gpr(d))),
                        format!("{name} {}, {} ptr {}", rn(d, b), ptr(b), m.text),
                    );
                    c.check(
                        MInst::AluRM {
                            size,
                            op,
                            src: gpr(d),
                            addr: m.amode.clone(),
                        },
                        format!("{name} {} ptr {}, {}", ptr(b), m.text, rn(d, b)),
                    );
                }
                // Read-modify-write with an immediate (imm8 and imm32 forms).
                for &i in &imms {
                    c.check(
                        MInst::AluMI {
                            size,
                            op,
                            imm: i as i32,
                            addr: m.amode.clone(),
                        },
                        format!("{name} {} ptr {}, {}", ptr(b), m.text, imm_at(i, b)),
                    );
                }
            }
        }
        // cmp and test
        for a in 0..16u8 {
            for s in 0..16u8 {
                let cmp = |src2| MInst::CmpRmiR {
                    size,
                    op: CmpOp::Cmp,
                    src1: gpr(a),
                    src2,
                };
                let test = |src2| MInst::CmpRmiR {
                    size,
                    op: CmpOp::Test,
                    src1: gpr(a),
                    src2,
                };
                c.check(
                    cmp(RegMemImm::Reg(gpr(s))),
                    format!("cmp {}, {}", rn(a, b), rn(s, b)),
                );
                c.check(
                    test(RegMemImm::Reg(gpr(s))),
                    format!("test {}, {}", rn(a, b), rn(s, b)),
                );
            }
            for &i in &imms {
                c.check(
                    MInst::CmpRmiR {
                        size,
                        op: CmpOp::Cmp,
                        src1: gpr(a),
                        src2: RegMemImm::Imm(i as i32),
                    },
                    format!("cmp {}, {}", rn(a, b), imm_at(i, b)),
                );
                c.check(
                    MInst::CmpRmiR {
                        size,
                        op: CmpOp::Test,
                        src1: gpr(a),
                        src2: RegMemImm::Imm(i as i32),
                    },
                    format!("test {}, {}", rn(a, b), imm_at(i, b)),
                );
            }
            for m in mems.iter().step_by(3) {
                c.check(
                    MInst::CmpRmiR {
                        size,
                        op: CmpOp::Cmp,
                        src1: gpr(a),
                        src2: RegMemImm::Mem(m.amode.clone()),
                    },
                    format!("cmp {}, {} ptr {}", rn(a, b), ptr(b), m.text),
                );
                c.check(
                    MInst::CmpRmiR {
                        size,
                        op: CmpOp::Test,
                        src1: gpr(a),
                        src2: RegMemImm::Mem(m.amode.clone()),
                    },
                    format!("test {} ptr {}, {}", ptr(b), m.text, rn(a, b)),
                );
            }
        }
    }
    c.finish(20_000);
}

#[test]
fn addressing_modes_exhaustive() {
    let mut c = Checker::new();
    for m in amodes(true) {
        for d in [0u8, 4, 8, 13] {
            c.check(
                MInst::Mov64MR {
                    src: m.amode.clone(),
                    dst: w(gpr(d)),
                },
                format!("mov {}, qword ptr {}", R64[d as usize], m.text),
            );
        }
        c.check(
            MInst::Lea {
                size: OperandSize::Size64,
                addr: m.amode.clone(),
                dst: w(gpr(11)),
            },
            format!("lea r11, {}", m.text),
        );
        c.check(
            MInst::Lea {
                size: OperandSize::Size32,
                addr: m.amode.clone(),
                dst: w(gpr(6)),
            },
            format!("lea esi, {}", m.text),
        );
    }
    // RIP-relative to a label, with and without trailing immediates.
    let rip = Amode::rip_relative(label0());
    c.check(
        MInst::Mov64MR {
            src: rip.clone(),
            dst: w(gpr(3)),
        },
        "mov rbx, qword ptr [{L}]",
    );
    for size in SIZES {
        let b = bits(size);
        c.check(
            MInst::MovImmM {
                size,
                imm: -2,
                dst: rip.clone(),
            },
            format!("mov {} ptr [{{L}}], -0x2", ptr(b)),
        );
        // The immediate follows the displacement: rip-relative offsets
        // must account for it (1 byte, or the operand size up to 4).
        for imm in [3i32, 0x1234] {
            c.check(
                MInst::AluMI {
                    size,
                    op: AluOp::Add,
                    imm,
                    addr: rip.clone(),
                },
                format!("add {} ptr [{{L}}], {}", ptr(b), imm_at(i64::from(imm), b)),
            );
        }
        c.check(
            MInst::CmpRmiR {
                size,
                op: CmpOp::Cmp,
                src1: gpr(9),
                src2: RegMemImm::Mem(rip.clone()),
            },
            format!("cmp {}, {} ptr [{{L}}]", rn(9, b), ptr(b)),
        );
    }
    c.check(
        MInst::ImulImm {
            size: OperandSize::Size32,
            src: RegMem::Mem(rip.clone()),
            imm: 1000,
            dst: w(gpr(2)),
        },
        "imul edx, dword ptr [{L}], 0x3e8",
    );
    c.check(
        MInst::XmmRound {
            double: true,
            src: RegMem::Mem(rip.clone()),
            imm: 3,
            dst: w(xmm(12)),
        },
        "roundsd xmm12, qword ptr [{L}], 0x3",
    );
    c.finish(10_000);
}

#[test]
fn multiply_divide_shift_unary() {
    let mut c = Checker::new();
    let mems = amodes(false);
    for size in SIZES {
        let b = bits(size);
        // imul has no 8-bit form: Size8 is done at 32 bits.
        let b2 = if b == 8 { 32 } else { b };
        for d in 0..16u8 {
            for s in 0..16u8 {
                c.check(
                    MInst::Imul {
                        size,
                        src1: gpr(d),
                        src2: RegMem::Reg(gpr(s)),
                        dst: w(gpr(d)),
                    },
                    format!("imul {}, {}", rn(d, b2), rn(s, b2)),
                );
                for imm in [3i64, -100, 1000, -70000] {
                    let shown = if d == s {
                        format!("imul {}, {}", rn(d, b2), imm_at(imm, b2))
                    } else {
                        format!("imul {}, {}, {}", rn(d, b2), rn(s, b2), imm_at(imm, b2))
                    };
                    c.check(
                        MInst::ImulImm {
                            size,
                            src: RegMem::Reg(gpr(s)),
                            imm: imm as i32,
                            dst: w(gpr(d)),
                        },
                        shown,
                    );
                }
            }
            let rm = RegMem::Reg(gpr(d));
            for signed in [false, true] {
                let (m, dv) = if signed {
                    ("imul", "idiv")
                } else {
                    ("mul", "div")
                };
                c.check(
                    MInst::MulWide {
                        size,
                        signed,
                        src1: gpr(0),
                        src2: rm.clone(),
                        dst_lo: w(gpr(0)),
                        dst_hi: w(gpr(2)),
                    },
                    format!("{m} {}", rn(d, b)),
                );
                c.check(
                    MInst::Div {
                        size,
                        signed,
                        dividend_lo: gpr(0),
                        dividend_hi: gpr(2),
                        divisor: rm.clone(),
                        dst_quot: w(gpr(0)),
                        dst_rem: w(gpr(2)),
                        trap: TrapCode::INTEGER_DIVISION_BY_ZERO,
                    },
                    format!("{dv} {}", rn(d, b)),
                );
            }
            for (op, n) in [(UnaryOp::Neg, "neg"), (UnaryOp::Not, "not")] {
                c.check(
                    MInst::Unary {
                        size,
                        op,
                        src: gpr(d),
                        dst: w(gpr(d)),
                    },
                    format!("{n} {}", rn(d, b)),
                );
            }
            for kind in ShiftKind::ALL {
                let n = format!("{kind:?}").to_lowercase();
                c.check(
                    MInst::Shift {
                        size,
                        kind,
                        src: gpr(d),
                        amount: ShiftAmount::Cl(gpr(1)),
                        dst: w(gpr(d)),
                    },
                    format!("{n} {}, cl", rn(d, b)),
                );
                for amt in [0u8, 1, 7, 31, 63, 127] {
                    c.check(
                        MInst::Shift {
                            size,
                            kind,
                            src: gpr(d),
                            amount: ShiftAmount::Imm(amt),
                            dst: w(gpr(d)),
                        },
                        format!("{n} {}, {}", rn(d, b), hex(amt as i64)),
                    );
                }
            }
        }
        for m in &mems {
            c.check(
                MInst::Imul {
                    size,
                    src1: gpr(10),
                    src2: RegMem::Mem(m.amode.clone()),
                    dst: w(gpr(10)),
                },
                format!("imul {}, {} ptr {}", rn(10, b2), ptr(b2), m.text),
            );
            c.check(
                MInst::Div {
                    size,
                    signed: true,
                    dividend_lo: gpr(0),
                    dividend_hi: gpr(2),
                    divisor: RegMem::Mem(m.amode.clone()),
                    dst_quot: w(gpr(0)),
                    dst_rem: w(gpr(2)),
                    trap: TrapCode::INTEGER_DIVISION_BY_ZERO,
                },
                format!("idiv {} ptr {}", ptr(b), m.text),
            );
        }
    }
    for (size, n) in [
        (OperandSize::Size8, "cbw"),
        (OperandSize::Size16, "cwd"),
        (OperandSize::Size32, "cdq"),
        (OperandSize::Size64, "cqo"),
    ] {
        c.check(
            MInst::SignExtendData {
                size,
                src: gpr(0),
                dst: w(gpr(2)),
            },
            n,
        );
    }
    c.finish(8_000);
}

#[test]
fn moves_loads_stores() {
    let mut c = Checker::new();
    let mems = amodes(false);
    for d in 0..16u8 {
        for s in 0..16u8 {
            c.check(
                MInst::MovRR {
                    size: OperandSize::Size64,
                    src: gpr(s),
                    dst: w(gpr(d)),
                },
                format!("mov {}, {}", R64[d as usize], R64[s as usize]),
            );
            c.check(
                MInst::MovRR {
                    size: OperandSize::Size32,
                    src: gpr(s),
                    dst: w(gpr(d)),
                },
                format!("mov {}, {}", R32[d as usize], R32[s as usize]),
            );
            for (ext, zx, sx, db, sb) in [
                (ExtMode::BL, "movzx", "movsx", 32, 8),
                (ExtMode::BQ, "movzx", "movsx", 64, 8),
                (ExtMode::WL, "movzx", "movsx", 32, 16),
                (ExtMode::WQ, "movzx", "movsx", 64, 16),
            ] {
                c.check(
                    MInst::MovzxRmR {
                        ext,
                        src: RegMem::Reg(gpr(s)),
                        dst: w(gpr(d)),
                    },
                    format!("{zx} {}, {}", rn(d, db), rn(s, sb)),
                );
                c.check(
                    MInst::MovsxRmR {
                        ext,
                        src: RegMem::Reg(gpr(s)),
                        dst: w(gpr(d)),
                    },
                    format!("{sx} {}, {}", rn(d, db), rn(s, sb)),
                );
            }
            c.check(
                MInst::MovzxRmR {
                    ext: ExtMode::LQ,
                    src: RegMem::Reg(gpr(s)),
                    dst: w(gpr(d)),
                },
                format!("mov {}, {}", R32[d as usize], R32[s as usize]),
            );
            c.check(
                MInst::MovsxRmR {
                    ext: ExtMode::LQ,
                    src: RegMem::Reg(gpr(s)),
                    dst: w(gpr(d)),
                },
                format!("movsxd {}, {}", R64[d as usize], R32[s as usize]),
            );
        }
        // Immediates: every encoding choice of MovImm.
        for imm in [
            0u64,
            1,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX,
            (-2i64) as u64,
            i32::MIN as i64 as u64,
            0x1234_5678_9abc_def0,
        ] {
            let expect64 = if imm <= u32::MAX as u64 {
                format!("mov {}, {}", R32[d as usize], hex(imm as u32 as i32 as i64))
            } else {
                format!("mov {}, {}", R64[d as usize], hex(imm as i64))
            };
            c.check(MInst::imm(OperandSize::Size64, imm, w(gpr(d))), expect64);
            if imm == 0 {
                c.check(
                    MInst::ZeroReg { dst: w(gpr(d)) },
                    format!("xor {}, {}", R32[d as usize], R32[d as usize]),
                );
            }
            c.check(
                MInst::imm(OperandSize::Size32, imm, w(gpr(d))),
                format!("mov {}, {}", R32[d as usize], hex(imm as u32 as i32 as i64)),
            );
        }
    }
    for m in &mems {
        for size in SIZES {
            let b = bits(size);
            for s in [0u8, 4, 5, 6, 7, 12, 15] {
                c.check(
                    MInst::MovRM {
                        size,
                        src: gpr(s),
                        dst: m.amode.clone(),
                    },
                    format!("mov {} ptr {}, {}", ptr(b), m.text, rn(s, b)),
                );
            }
            for imm in [5i64, -1, 0x1234_5678] {
                c.check(
                    MInst::MovImmM {
                        size,
                        imm: imm as i32,
                        dst: m.amode.clone(),
                    },
                    format!("mov {} ptr {}, {}", ptr(b), m.text, imm_at(imm, b)),
                );
            }
        }
        for (ext, db, sb) in [
            (ExtMode::BL, 32, 8),
            (ExtMode::BQ, 64, 8),
            (ExtMode::WL, 32, 16),
            (ExtMode::WQ, 64, 16),
        ] {
            c.check(
                MInst::MovzxRmR {
                    ext,
                    src: RegMem::Mem(m.amode.clone()),
                    dst: w(gpr(14)),
                },
                format!("movzx {}, {} ptr {}", rn(14, db), ptr(sb), m.text),
            );
            c.check(
                MInst::MovsxRmR {
                    ext,
                    src: RegMem::Mem(m.amode.clone()),
                    dst: w(gpr(3)),
                },
                format!("movsx {}, {} ptr {}", rn(3, db), ptr(sb), m.text),
            );
        }
        c.check(
            MInst::MovzxRmR {
                ext: ExtMode::LQ,
                src: RegMem::Mem(m.amode.clone()),
                dst: w(gpr(8)),
            },
            format!("mov r8d, dword ptr {}", m.text),
        );
        c.check(
            MInst::MovsxRmR {
                ext: ExtMode::LQ,
                src: RegMem::Mem(m.amode.clone()),
                dst: w(gpr(8)),
            },
            format!("movsxd r8, dword ptr {}", m.text),
        );
    }
    c.finish(6_000);
}

#[test]
fn flags_branches_calls_misc() {
    let mut c = Checker::new();
    let mems = amodes(false);
    for cc in CC::ALL {
        let n = cc.name();
        for d in 0..16u8 {
            c.check(
                MInst::Setcc { cc, dst: w(gpr(d)) },
                format!("set{n} {}", R8[d as usize]),
            );
            for s in 0..16u8 {
                for size in [
                    OperandSize::Size16,
                    OperandSize::Size32,
                    OperandSize::Size64,
                ] {
                    let b = bits(size);
                    c.check(
                        MInst::Cmove {
                            size,
                            cc,
                            consequent: RegMem::Reg(gpr(s)),
                            alternative: gpr(d),
                            dst: w(gpr(d)),
                        },
                        format!("cmov{n} {}, {}", rn(d, b), rn(s, b)),
                    );
                }
            }
        }
        c.check(
            MInst::JmpIf {
                cc,
                taken: label0(),
            },
            format!("j{n} {{L}}"),
        );
        // jcc L; jmp L2 where L2 is another label bound after the padding.
        let mut buf = MachBuffer::new();
        buf.set_branch_shrinking(false);
        let l = buf.get_label();
        let inst = MInst::JmpCond {
            cc,
            taken: l,
            not_taken: l,
        };
        c.check_with(l, buf, &inst, &format!("j{n} {{L}}; jmp {{L}}"));
    }
    assert_eq!(CC::Z.invert(), CC::NZ);
    assert_eq!(CC::NLE.invert(), CC::LE);
    for cc in CC::ALL {
        assert_eq!(cc.invert().invert(), cc);
        assert_ne!(cc.invert(), cc);
    }
    c.check(MInst::JmpKnown { dst: label0() }, "jmp {L}");
    for r in 0..16u8 {
        c.check(
            MInst::JmpUnknown {
                target: RegMem::Reg(gpr(r)),
            },
            format!("jmp {}", R64[r as usize]),
        );
        c.check(
            MInst::CallUnknown {
                target: RegMem::Reg(gpr(r)),
                info: Box::default_call(),
            },
            format!("call {}", R64[r as usize]),
        );
        c.check(
            MInst::Push64 {
                src: RegMemImm::Reg(gpr(r)),
            },
            format!("push {}", R64[r as usize]),
        );
        c.check(
            MInst::Pop64 { dst: w(gpr(r)) },
            format!("pop {}", R64[r as usize]),
        );
        c.check(
            MInst::LoadExtName {
                target: RelocTarget::LibCall(LibCall::FloorF32),
                offset: 0,
                dst: w(gpr(r)),
                mode: ExtNameMode::Abs8,
            },
            format!("mov {}, 0x0", R64[r as usize]),
        );
        // is_pic: `[rip + disp32]` with the displacement relocated (0
        // here, so the address is the next instruction's, 7).
        c.check(
            MInst::LoadExtName {
                target: RelocTarget::LibCall(LibCall::FloorF32),
                offset: 24,
                dst: w(gpr(r)),
                mode: ExtNameMode::RipRel,
            },
            format!("lea {}, [0x7]", R64[r as usize]),
        );
        c.check(
            MInst::LoadExtName {
                target: RelocTarget::LibCall(LibCall::FloorF32),
                offset: 0,
                dst: w(gpr(r)),
                mode: ExtNameMode::Got,
            },
            format!("mov {}, qword ptr [0x7]", R64[r as usize]),
        );
        c.check(
            MInst::LoadExtName {
                target: RelocTarget::LibCall(LibCall::FloorF32),
                offset: -16,
                dst: w(gpr(r)),
                mode: ExtNameMode::Got,
            },
            format!("mov {0}, qword ptr [0x7]; add {0}, -0x10", R64[r as usize]),
        );
        for size in [OperandSize::Size32, OperandSize::Size64] {
            c.check(
                MInst::Bswap {
                    size,
                    src: gpr(r),
                    dst: w(gpr(r)),
                },
                format!("bswap {}", rn(r, bits(size))),
            );
        }
        c.check(
            MInst::Bswap {
                size: OperandSize::Size16,
                src: gpr(r),
                dst: w(gpr(r)),
            },
            format!("rol {}, 0x8", R16[r as usize]),
        );
        for s in 0..16u8 {
            for size in [
                OperandSize::Size16,
                OperandSize::Size32,
                OperandSize::Size64,
            ] {
                let b = bits(size);
                for op in BitOp::ALL {
                    c.check(
                        MInst::BitCount {
                            size,
                            op,
                            src: RegMem::Reg(gpr(s)),
                            dst: w(gpr(r)),
                        },
                        format!("{} {}, {}", op.name(), rn(r, b), rn(s, b)),
                    );
                }
            }
        }
    }
    for m in &mems {
        c.check(
            MInst::JmpUnknown {
                target: RegMem::Mem(m.amode.clone()),
            },
            format!("jmp qword ptr {}", m.text),
        );
        c.check(
            MInst::Push64 {
                src: RegMemImm::Mem(m.amode.clone()),
            },
            format!("push qword ptr {}", m.text),
        );
        for size in SIZES {
            let b = bits(size);
            for r in [1u8, 6, 11] {
                c.check(
                    MInst::Xchg {
                        size,
                        operand: gpr(r),
                        addr: m.amode.clone(),
                        dst: w(gpr(r)),
                    },
                    format!("xchg {} ptr {}, {}", ptr(b), m.text, rn(r, b)),
                );
                c.check(
                    MInst::LockXadd {
                        size,
                        operand: gpr(r),
                        addr: m.amode.clone(),
                        dst_old: w(gpr(r)),
                    },
                    format!("lock xadd {} ptr {}, {}", ptr(b), m.text, rn(r, b)),
                );
                c.check(
                    MInst::LockCmpxchg {
                        size,
                        replacement: gpr(r),
                        expected: gpr(0),
                        addr: m.amode.clone(),
                        dst_old: w(gpr(0)),
                    },
                    format!("lock cmpxchg {} ptr {}, {}", ptr(b), m.text, rn(r, b)),
                );
            }
        }
    }
    for imm in [0i64, 1, -1, 127, -128, 128, 0x7fff_ffff, i32::MIN as i64] {
        c.check(
            MInst::Push64 {
                src: RegMemImm::Imm(imm as i32),
            },
            format!("push {}", hex(imm)),
        );
    }
    c.check(MInst::Ret { rets: smallvec![] }, "ret");
    c.check(MInst::Mfence, "mfence");
    c.check(MInst::Nop { len: 3 }, "nop; nop; nop");
    c.check(
        MInst::Ud2 {
            code: TrapCode::STACK_OVERFLOW,
        },
        "ud2",
    );
    c.check(
        MInst::CallKnown {
            target: CallTarget::User(UserExternalNameRef::new(3)),
            info: Box::default_call(),
        },
        "call 0x5",
    );
    c.finish(10_000);
}

#[test]
fn sse() {
    let mut c = Checker::new();
    let mems = amodes(false);
    for op in SseOp::ALL {
        let n = format!("{op:?}").to_lowercase();
        let mb = match op.mem_bytes() {
            4 => 32,
            8 => 64,
            _ => 128,
        };
        for d in 0..16u8 {
            for s in 0..16u8 {
                c.check(
                    MInst::XmmRmR {
                        op,
                        src1: xmm(d),
                        src2: RegMem::Reg(xmm(s)),
                        dst: w(xmm(d)),
                    },
                    format!("{n} {}, {}", xn(d), xn(s)),
                );
            }
        }
        for m in &mems {
            c.check(
                MInst::XmmRmR {
                    op,
                    src1: xmm(9),
                    src2: RegMem::Mem(m.amode.clone()),
                    dst: w(xmm(9)),
                },
                format!("{n} xmm9, {} ptr {}", ptr(mb), m.text),
            );
        }
    }
    for op in XmmMovOp::ALL {
        let n = format!("{op:?}").to_lowercase();
        let mb = match op.mem_bytes() {
            4 => 32,
            8 => 64,
            _ => 128,
        };
        for m in &mems {
            c.check(
                MInst::XmmMovRM {
                    op,
                    src: RegMem::Mem(m.amode.clone()),
                    dst: w(xmm(3)),
                },
                format!("{n} xmm3, {} ptr {}", ptr(mb), m.text),
            );
            c.check(
                MInst::XmmStore {
                    op,
                    src: xmm(14),
                    dst: m.amode.clone(),
                },
                format!("{n} {} ptr {}, xmm14", ptr(mb), m.text),
            );
        }
        if !matches!(op, XmmMovOp::Movss | XmmMovOp::Movsd) {
            for d in 0..16u8 {
                for s in 0..16u8 {
                    c.check(
                        MInst::XmmMovRM {
                            op,
                            src: RegMem::Reg(xmm(s)),
                            dst: w(xmm(d)),
                        },
                        format!("{n} {}, {}", xn(d), xn(s)),
                    );
                }
            }
        }
    }
    for d in 0..16u8 {
        c.check(
            MInst::ZeroReg { dst: w(xmm(d)) },
            format!("xorps {0}, {0}", xn(d)),
        );
        for s in 0..16u8 {
            for (double, n) in [(false, "roundss"), (true, "roundsd")] {
                c.check(
                    MInst::XmmRound {
                        double,
                        src: RegMem::Reg(xmm(s)),
                        imm: 9,
                        dst: w(xmm(d)),
                    },
                    format!("{n} {}, {}, 0x9", xn(d), xn(s)),
                );
            }
            for (double, n) in [(false, "ucomiss"), (true, "ucomisd")] {
                c.check(
                    MInst::XmmCmp {
                        double,
                        src1: xmm(d),
                        src2: RegMem::Reg(xmm(s)),
                    },
                    format!("{n} {}, {}", xn(d), xn(s)),
                );
            }
            // GPR <-> XMM
            for (size, b) in [(OperandSize::Size32, 32), (OperandSize::Size64, 64)] {
                let mv = if b == 32 { "movd" } else { "movq" };
                c.check(
                    MInst::GprToXmm {
                        op: GprToXmmOp::Mov,
                        src_size: size,
                        src: RegMem::Reg(gpr(s)),
                        dst: w(xmm(d)),
                    },
                    format!("{mv} {}, {}", xn(d), rn(s, b)),
                );
                for (op, n) in [
                    (GprToXmmOp::Cvtsi2ss, "cvtsi2ss"),
                    (GprToXmmOp::Cvtsi2sd, "cvtsi2sd"),
                ] {
                    c.check(
                        MInst::GprToXmm {
                            op,
                            src_size: size,
                            src: RegMem::Reg(gpr(s)),
                            dst: w(xmm(d)),
                        },
                        format!("{n} {}, {}", xn(d), rn(s, b)),
                    );
                }
                c.check(
                    MInst::XmmToGpr {
                        op: XmmToGprOp::Mov,
                        dst_size: size,
                        src: RegMem::Reg(xmm(s)),
                        dst: w(gpr(d)),
                    },
                    format!("{mv} {}, {}", rn(d, b), xn(s)),
                );
                for (op, n) in [
                    (XmmToGprOp::Cvttss2si, "cvttss2si"),
                    (XmmToGprOp::Cvttsd2si, "cvttsd2si"),
                ] {
                    c.check(
                        MInst::XmmToGpr {
                            op,
                            dst_size: size,
                            src: RegMem::Reg(xmm(s)),
                            dst: w(gpr(d)),
                        },
                        format!("{n} {}, {}", rn(d, b), xn(s)),
                    );
                }
            }
        }
    }
    for m in &mems {
        for (size, b) in [(OperandSize::Size32, 32), (OperandSize::Size64, 64)] {
            c.check(
                MInst::GprToXmm {
                    op: GprToXmmOp::Cvtsi2sd,
                    src_size: size,
                    src: RegMem::Mem(m.amode.clone()),
                    dst: w(xmm(7)),
                },
                format!("cvtsi2sd xmm7, {} ptr {}", ptr(b), m.text),
            );
            c.check(
                MInst::XmmToGpr {
                    op: XmmToGprOp::Cvttss2si,
                    dst_size: size,
                    src: RegMem::Mem(m.amode.clone()),
                    dst: w(gpr(12)),
                },
                format!("cvttss2si {}, dword ptr {}", rn(12, b), m.text),
            );
        }
        // Moving the bits of a memory operand into a GPR is a plain load.
        c.check(
            MInst::XmmToGpr {
                op: XmmToGprOp::Mov,
                dst_size: OperandSize::Size64,
                src: RegMem::Mem(m.amode.clone()),
                dst: w(gpr(5)),
            },
            format!("mov rbp, qword ptr {}", m.text),
        );
        c.check(
            MInst::GprToXmm {
                op: GprToXmmOp::Mov,
                src_size: OperandSize::Size32,
                src: RegMem::Mem(m.amode.clone()),
                dst: w(xmm(8)),
            },
            format!("movd xmm8, dword ptr {}", m.text),
        );
        c.check(
            MInst::XmmCmp {
                double: true,
                src1: xmm(15),
                src2: RegMem::Mem(m.amode.clone()),
            },
            format!("ucomisd xmm15, qword ptr {}", m.text),
        );
    }
    c.finish(15_000);
}

/// The jump-table sequence decodes to the documented instructions and its
/// table holds `target - table` offsets.
#[test]
fn jump_table_sequence() {
    let mut buf = MachBuffer::<X64LabelUse>::new();
    buf.reserve_labels_for_blocks(3);
    let [l0, l1, l2] = [0, 1, 2].map(MachLabel::from_block);
    buf.bind_label(l0);
    let inst = MInst::JmpTableSeq {
        idx: gpr(13),
        tmp1: w(gpr(1)),
        tmp2: w(gpr(8)),
        default: l2,
        targets: vec![l1, l2, l1].into_boxed_slice(),
    };
    inst.emit(&mut buf);
    let table_end = buf.cur_offset();
    buf.bind_label(l1);
    buf.put1(0xc3);
    buf.bind_label(l2);
    buf.put_data(&[0x0f, 0x0b]);
    let f = buf.finish().unwrap();
    let (o1, o2) = (table_end as i64, table_end as i64 + 1);
    let table = table_end as usize - 12;
    let mut dec = Decoder::with_ip(64, &f.data[..table], 0, DecoderOptions::NONE);
    let mut fmt = Checker::new().fmt;
    let mut got = Vec::new();
    while dec.can_decode() {
        let i = dec.decode();
        assert!(!i.is_invalid());
        let mut s = String::new();
        fmt.format(&i, &mut s);
        got.push(s);
    }
    assert_eq!(
        got,
        vec![
            "cmp r13, 0x3".to_string(),
            format!("jae 0x{o2:x}"),
            format!("lea rcx, [0x{table:x}]"),
            "movsxd r8, dword ptr [rcx+r13*4]".to_string(),
            "add r8, rcx".to_string(),
            "jmp r8".to_string(),
        ]
    );
    let entry = |i: usize| {
        i32::from_le_bytes(f.data[table + 4 * i..table + 4 * i + 4].try_into().unwrap()) as i64
    };
    assert_eq!(entry(0), o1 - table as i64);
    assert_eq!(entry(1), o2 - table as i64);
    assert_eq!(entry(2), o1 - table as i64);
}

/// Shrinking a branch before a jump table keeps the table's offsets right.
#[test]
fn jump_table_after_shrunk_branch() {
    let mut buf = MachBuffer::<X64LabelUse>::new();
    buf.reserve_labels_for_blocks(3);
    let [l0, l1, l2] = [0, 1, 2].map(MachLabel::from_block);
    buf.bind_label(l0);
    MInst::JmpIf {
        cc: CC::Z,
        taken: l1,
    }
    .emit(&mut buf);
    MInst::JmpTableSeq {
        idx: gpr(0),
        tmp1: w(gpr(1)),
        tmp2: w(gpr(2)),
        default: l2,
        targets: vec![l2, l1].into_boxed_slice(),
    }
    .emit(&mut buf);
    buf.bind_label(l1);
    buf.put1(0xc3);
    buf.bind_label(l2);
    buf.put_data(&emit::UD2);
    let f = buf.finish().unwrap();
    let n = f.data.len();
    let (o1, o2) = (n - 3, n - 2);
    assert_eq!(f.data[0], 0x74, "je was shrunk");
    assert_eq!(f.data[1] as usize, o1 - 2);
    // Find the table through the lea's RIP-relative displacement.
    let mut dec = Decoder::with_ip(64, &f.data, 0, DecoderOptions::NONE);
    let mut table = None;
    for _ in 0..4 {
        let i = dec.decode();
        if i.mnemonic() == iced_x86::Mnemonic::Lea {
            table = Some(i.memory_displacement64() as usize);
        }
    }
    let table = table.expect("lea");
    assert_eq!(table + 8, o1);
    let entry = |k: usize| {
        i32::from_le_bytes(f.data[table + 4 * k..table + 4 * k + 4].try_into().unwrap()) as i64
    };
    assert_eq!(table as i64 + entry(0), o2 as i64);
    assert_eq!(table as i64 + entry(1), o1 as i64);
}

/// Constants are addressed RIP-relatively and land after the code.
#[test]
fn constant_pool_and_records() {
    let mut pool = VCodeConstants::new();
    let k = pool.insert(&0x3ff0_0000_0000_0000u64.to_le_bytes(), 16);
    let mut buf = MachBuffer::<X64LabelUse>::new();
    buf.register_constants(&pool);
    MInst::XmmMovRM {
        op: XmmMovOp::Movsd,
        src: RegMem::Mem(Amode::Constant(k)),
        dst: w(xmm(1)),
    }
    .emit(&mut buf);
    MInst::Mov64MR {
        src: Amode::imm_reg(8, gpr(7)).with_trap(TrapCode::HEAP_OUT_OF_BOUNDS),
        dst: w(gpr(0)),
    }
    .emit(&mut buf);
    MInst::Div {
        size: OperandSize::Size64,
        signed: false,
        dividend_lo: gpr(0),
        dividend_hi: gpr(2),
        divisor: RegMem::Reg(gpr(1)),
        dst_quot: w(gpr(0)),
        dst_rem: w(gpr(2)),
        trap: TrapCode::INTEGER_DIVISION_BY_ZERO,
    }
    .emit(&mut buf);
    MInst::CallKnown {
        target: CallTarget::LibCall(LibCall::CeilF64),
        info: Box::default_call(),
    }
    .emit(&mut buf);
    MInst::Ret { rets: smallvec![] }.emit(&mut buf);
    let f = buf.finish().unwrap();
    // movsd (9 bytes: f2 0f 10 0d disp32), mov (4), div (3), call (5), ret
    assert_eq!(f.data.len(), 32 + 8);
    assert_eq!(&f.data[32..], &0x3ff0_0000_0000_0000u64.to_le_bytes());
    assert_eq!(f.alignment, 16);
    let mut dec = Decoder::with_ip(64, &f.data, 0, DecoderOptions::NONE);
    let i = dec.decode();
    let mut s = String::new();
    Checker::new().fmt.format(&i, &mut s);
    assert_eq!(s, "movsd xmm1, qword ptr [0x20]");
    assert_eq!(
        f.traps
            .iter()
            .map(|t| (t.offset, t.code))
            .collect::<Vec<_>>(),
        vec![
            (8, TrapCode::HEAP_OUT_OF_BOUNDS),
            (12, TrapCode::INTEGER_DIVISION_BY_ZERO)
        ]
    );
    assert_eq!(f.relocs.len(), 1);
    assert_eq!(f.relocs[0].offset, 16);
    assert_eq!(f.relocs[0].kind, Reloc::X86CallPCRel4);
    assert_eq!(f.relocs[0].target, RelocTarget::LibCall(LibCall::CeilF64));
    assert_eq!(f.relocs[0].addend, -4);
    assert_eq!(f.call_sites[0].ret_addr, 20);
}

/// A REX prefix is added for spl/bpl/sil/dil only when they are the 8-bit
/// operand, not when a 32-bit register with the same number is.
#[test]
fn no_needless_rex() {
    let emit1 = |i: MInst| {
        let mut b = MachBuffer::<X64LabelUse>::new();
        i.emit(&mut b);
        b.finish().unwrap().data
    };
    let movzx = |s: u8, d: u8| MInst::MovzxRmR {
        ext: ExtMode::BL,
        src: RegMem::Reg(gpr(s)),
        dst: w(gpr(d)),
    };
    assert_eq!(emit1(movzx(0, 6)), vec![0x0f, 0xb6, 0xf0]);
    assert_eq!(emit1(movzx(6, 0)), vec![0x40, 0x0f, 0xb6, 0xc6]);
    assert_eq!(
        emit1(MInst::Setcc {
            cc: CC::Z,
            dst: w(gpr(3))
        }),
        vec![0x0f, 0x94, 0xc3]
    );
}

/// Branches shrink to rel8 when their target is within reach, and every
/// record after them moves.
#[test]
fn branch_shrinking() {
    let mut buf = MachBuffer::<X64LabelUse>::new();
    buf.reserve_labels_for_blocks(4);
    let [l0, l1, l2, l3] = [0, 1, 2, 3].map(MachLabel::from_block);
    buf.bind_label(l0);
    MInst::JmpIf {
        cc: CC::B,
        taken: l2,
    }
    .emit(&mut buf); // near: shrinks
    MInst::JmpIf {
        cc: CC::S,
        taken: l3,
    }
    .emit(&mut buf); // far: stays
    buf.bind_label(l1);
    buf.start_srcloc(kiln_ir::RelSourceLoc::from_bits(1));
    MInst::CallKnown {
        target: CallTarget::User(UserExternalNameRef::new(0)),
        info: Box::default_call(),
    }
    .emit(&mut buf);
    buf.end_srcloc();
    MInst::Ud2 {
        code: TrapCode::STACK_OVERFLOW,
    }
    .emit(&mut buf);
    buf.bind_label(l2);
    MInst::Nop { len: 200 }.emit(&mut buf);
    MInst::JmpKnown { dst: l1 }.emit(&mut buf); // backward, far: stays
    MInst::JmpKnown { dst: l2 }.emit(&mut buf); // unreachable after jmp: removed
    buf.bind_label(l3);
    MInst::Ret { rets: smallvec![] }.emit(&mut buf);
    let f = buf.finish().unwrap();
    // jb rel8 (2) + js rel32 (6) + call (5) + ud2 (2) = 15 = l2;
    // nops to 215; jmp l1 rel32 (5) to 220 = l3; ret.
    assert_eq!(f.data.len(), 221);
    assert_eq!(&f.data[..2], &[0x72, 15 - 2]);
    assert_eq!(&f.data[2..4], &[0x0f, 0x88]);
    assert_eq!(
        i32::from_le_bytes(f.data[4..8].try_into().unwrap()),
        220 - 8
    );
    assert_eq!(f.relocs[0].offset, 9);
    assert_eq!(f.call_sites[0].ret_addr, 13);
    assert_eq!(f.traps[0].offset, 13);
    assert_eq!((f.srclocs[0].start, f.srclocs[0].end), (8, 13));
    assert_eq!(f.data[215], 0xe9);
    assert_eq!(
        i32::from_le_bytes(f.data[216..220].try_into().unwrap()),
        8 - 220
    );
    assert_eq!(f.data[220], 0xc3);
    let _ = l0;
}

/// The rel8 form is used exactly up to the edges of its range.
#[test]
fn branch_shrinking_range_edges() {
    let fwd = |k: u8| {
        let mut buf = MachBuffer::<X64LabelUse>::new();
        let l = buf.get_label();
        MInst::JmpKnown { dst: l }.emit(&mut buf);
        MInst::Nop { len: k }.emit(&mut buf);
        buf.bind_label(l);
        MInst::Ret { rets: smallvec![] }.emit(&mut buf);
        buf.finish().unwrap().data
    };
    assert_eq!(&fwd(127)[..2], &[0xeb, 0x7f]);
    assert_eq!(&fwd(128)[..5], &[0xe9, 0x80, 0, 0, 0]);
    let back = |k: u8| {
        let mut buf = MachBuffer::<X64LabelUse>::new();
        let l = buf.get_label();
        buf.bind_label(l);
        MInst::Nop { len: k }.emit(&mut buf);
        MInst::JmpIf {
            cc: CC::Z,
            taken: l,
        }
        .emit(&mut buf);
        MInst::Ret { rets: smallvec![] }.emit(&mut buf);
        buf.finish().unwrap().data
    };
    assert_eq!(&back(126)[126..128], &[0x74, 0x80]);
    let d = back(127);
    assert_eq!(&d[127..129], &[0x0f, 0x84]);
    assert_eq!(i32::from_le_bytes(d[129..133].try_into().unwrap()), -133);
}

/// Spills and reloads resolve their slot through the `EmitState`.
#[test]
fn spill_and_reload() {
    use regalloc2::SpillSlot;
    let text = |i: &MInst, st: &EmitState| {
        let mut buf = MachBuffer::<X64LabelUse>::new();
        i.emit_with_state(&mut buf, st);
        let data = buf.finish().unwrap().data;
        let mut dec = Decoder::with_ip(64, &data, 0, DecoderOptions::NONE);
        let ins = dec.decode();
        assert_eq!(ins.len(), data.len());
        let mut s = String::new();
        Checker::new().fmt.format(&ins, &mut s);
        s
    };
    let st = EmitState::default();
    for e in 0..16u8 {
        for slot in [0usize, 1, 15, 16, 300] {
            let off = slot * 8;
            let disp = if off == 0 {
                String::new()
            } else {
                format!("+0x{off:x}")
            };
            let g = regs::gpr_preg(e);
            let x = regs::xmm_preg(e);
            assert_eq!(
                text(&MInst::gen_spill(SpillSlot::new(slot), g), &st),
                format!("mov qword ptr [rsp{disp}], {}", R64[e as usize])
            );
            assert_eq!(
                text(&MInst::gen_reload(g, SpillSlot::new(slot)), &st),
                format!("mov {}, qword ptr [rsp{disp}]", R64[e as usize])
            );
            assert_eq!(
                text(&MInst::gen_spill(SpillSlot::new(slot), x), &st),
                format!("movdqu xmmword ptr [rsp{disp}], xmm{e}")
            );
            assert_eq!(
                text(&MInst::gen_reload(x, SpillSlot::new(slot)), &st),
                format!("movdqu xmm{e}, xmmword ptr [rsp{disp}]")
            );
        }
    }
    let st = EmitState {
        spillslot_bytes: 16,
        spill_base: 32,
        frame_size: 0,
        avx: false,
    };
    assert_eq!(
        text(
            &MInst::gen_reload(regs::gpr_preg(3), SpillSlot::new(2)),
            &st
        ),
        "mov rbx, qword ptr [rsp+0x40]"
    );
    assert_eq!(
        MInst::gen_reload(regs::gpr_preg(3), SpillSlot::new(2)).pretty(),
        "mov rbx, qword ptr [rsp+spill2]"
    );
}

/// `TrapIf` jumps to an out-of-line `ud2` that records the trap.
#[test]
fn trap_if_uses_deferred_stub() {
    let mut buf = MachBuffer::<X64LabelUse>::new();
    MInst::TrapIf {
        cc: CC::Z,
        code: TrapCode::INTEGER_DIVISION_BY_ZERO,
    }
    .emit(&mut buf);
    MInst::Ret { rets: smallvec![] }.emit(&mut buf);
    buf.emit_deferred_traps(&emit::UD2);
    let f = buf.finish().unwrap();
    let mut dec = Decoder::with_ip(64, &f.data, 0, DecoderOptions::NONE);
    let mut fmt = Checker::new().fmt;
    let mut got = Vec::new();
    while dec.can_decode() {
        let i = dec.decode();
        let mut s = String::new();
        fmt.format(&i, &mut s);
        got.push(s);
    }
    assert_eq!(got, vec!["je 0x7", "ret", "ud2"]);
    assert_eq!(f.traps.len(), 1);
    assert_eq!(f.traps[0].offset, 7);
    assert_eq!(f.traps[0].code, TrapCode::INTEGER_DIVISION_BY_ZERO);
}

/// Branch peepholes through real x64 branches: `jcc a; jmp b; a:` becomes
/// `jncc b`, and a block that is only a jump is threaded.
#[test]
fn x64_branch_inversion() {
    let mut buf = MachBuffer::<X64LabelUse>::new();
    buf.reserve_labels_for_blocks(3);
    let [l0, l1, l2] = [0, 1, 2].map(MachLabel::from_block);
    buf.bind_label(l0);
    MInst::JmpCond {
        cc: CC::L,
        taken: l1,
        not_taken: l2,
    }
    .emit(&mut buf);
    buf.bind_label(l1);
    MInst::Ret { rets: smallvec![] }.emit(&mut buf);
    buf.bind_label(l2);
    MInst::JmpKnown { dst: l1 }.emit(&mut buf);
    let f = buf.finish().unwrap();
    let mut dec = Decoder::with_ip(64, &f.data, 0, DecoderOptions::NONE);
    let mut fmt = Checker::new().fmt;
    let mut got = Vec::new();
    while dec.can_decode() {
        let i = dec.decode();
        let mut s = String::new();
        fmt.format(&i, &mut s);
        got.push(s);
    }
    // l2's block is only `jmp l1`, so l2 is an alias of l1 and the inverted
    // branch goes straight to l1; both branches are then shrunk to rel8.
    assert_eq!(got, vec!["jge 0x2", "ret", "jmp 0x2"]);
    assert_eq!(f.data, vec![0x7d, 0x00, 0xc3, 0xeb, 0xfd]);
}

trait DefaultCall {
    fn default_call() -> Box<CallInfo>;
}

impl DefaultCall for Box<CallInfo> {
    fn default_call() -> Box<CallInfo> {
        Box::new(CallInfo {
            uses: smallvec![],
            defs: smallvec![],
            clobbers: regs::sysv_clobbers(),
            callee_pop: 0,
            try_call: None,
        })
    }
}

/// VEX-encoded FMA3 scalar forms, every register triple (the 3-byte VEX
/// prefix with inverted R/B and vvvv, W selecting single/double).
#[test]
fn vex_fma() {
    let mut c = Checker::new();
    for (double, n) in [(false, "vfmadd213ss"), (true, "vfmadd213sd")] {
        for d in 0..16u8 {
            for b in 0..16u8 {
                for s in 0..16u8 {
                    c.check(
                        MInst::XmmFma {
                            double,
                            a: xmm(d),
                            b: xmm(b),
                            c: xmm(s),
                            dst: w(xmm(d)),
                        },
                        format!("{n} {}, {}, {}", xn(d), xn(b), xn(s)),
                    );
                }
            }
        }
    }
    c.finish(2 * 16 * 16 * 16);
}

/// BMI2 shifts `shlx`/`shrx`/`sarx dst, src, count`, 32 and 64 bits, every
/// register triple (VEX.pp selecting the shift, vvvv the count, W the
/// width; the 3-byte prefix always, map 0F 38).
#[test]
fn bmi2_shifts() {
    let mut c = Checker::new();
    for (kind, n) in [
        (ShiftXKind::Shlx, "shlx"),
        (ShiftXKind::Shrx, "shrx"),
        (ShiftXKind::Sarx, "sarx"),
    ] {
        for size in [OperandSize::Size32, OperandSize::Size64] {
            let b = bits(size);
            for d in 0..16u8 {
                for s in 0..16u8 {
                    for a in 0..16u8 {
                        c.check(
                            MInst::ShiftX {
                                size,
                                kind,
                                src: gpr(s),
                                amount: gpr(a),
                                dst: w(gpr(d)),
                            },
                            format!("{n} {}, {}, {}", rn(d, b), rn(s, b), rn(a, b)),
                        );
                    }
                }
            }
        }
    }
    c.finish(3 * 2 * 16 * 16 * 16);
}

/// `lea dst, [index*2^k]` (no base register: SIB base 101 with a zero
/// disp32), 32 and 64 bits, every destination, every index but rsp (which
/// cannot be an index), every scale.
#[test]
fn lea_scaled() {
    let mut c = Checker::new();
    for size in [OperandSize::Size32, OperandSize::Size64] {
        let b = bits(size);
        for d in 0..16u8 {
            for i in (0..16u8).filter(|&i| i != 4) {
                for shift in 0..=3u8 {
                    // iced shows `*1` as well: the register is an index.
                    let scale = format!("*{}", 1 << shift);
                    c.check(
                        MInst::LeaScaled {
                            size,
                            index: gpr(i),
                            shift,
                            dst: w(gpr(d)),
                        },
                        format!("lea {}, [{}{scale}]", rn(d, b), R64[i as usize]),
                    );
                }
            }
        }
    }
    c.finish(2 * 16 * 15 * 4);
}

/// BMI1/BMI2 bit manipulation, 32 and 64 bits, every register
/// combination: `blsr`/`blsmsk`/`blsi dst, src` (the operation in
/// ModRM.reg, dst in vvvv), `andn`/`bzhi` (three registers), `rorx` with
/// every count and some larger immediates, `mulx hi, hi, src` (rdx
/// implicit).
#[test]
fn bmi_forms() {
    let mut c = Checker::new();
    let mut expected_cases = 0;
    for size in [OperandSize::Size32, OperandSize::Size64] {
        let b = bits(size);
        for d in 0..16u8 {
            for s in 0..16u8 {
                for op in BmiUnaryOp::ALL {
                    c.check(
                        MInst::BmiUnary {
                            size,
                            op,
                            src: gpr(s),
                            dst: w(gpr(d)),
                        },
                        format!("{} {}, {}", op.name(), rn(d, b), rn(s, b)),
                    );
                    expected_cases += 1;
                }
                for imm in (0..64u8).chain([0x7f, 0x80, 0xff]) {
                    c.check(
                        MInst::Rorx {
                            size,
                            src: gpr(s),
                            imm,
                            dst: w(gpr(d)),
                        },
                        // iced shows an imm8 signed, as the printer does.
                        format!("rorx {}, {}, {}", rn(d, b), rn(s, b), hex(imm as i8 as i64)),
                    );
                    expected_cases += 1;
                }
                c.check(
                    MInst::MulxHi {
                        size,
                        src1: gpr(2),
                        src2: gpr(s),
                        dst: w(gpr(d)),
                    },
                    format!("mulx {}, {}, {}", rn(d, b), rn(d, b), rn(s, b)),
                );
                expected_cases += 1;
                for t in 0..16u8 {
                    c.check(
                        MInst::Andn {
                            size,
                            src1: gpr(s),
                            src2: gpr(t),
                            dst: w(gpr(d)),
                        },
                        format!("andn {}, {}, {}", rn(d, b), rn(s, b), rn(t, b)),
                    );
                    c.check(
                        MInst::Bzhi {
                            size,
                            src: gpr(s),
                            index: gpr(t),
                            dst: w(gpr(d)),
                        },
                        format!("bzhi {}, {}, {}", rn(d, b), rn(s, b), rn(t, b)),
                    );
                    expected_cases += 2;
                }
            }
        }
    }
    assert_eq!(expected_cases, 2 * 16 * 16 * (3 + 67 + 1 + 2 * 16));
    c.finish(expected_cases);
}

/// f16 moves: `pinsrw xmm, m16/r32, 0` and the SSE2 16-bit store sequence
/// `pextrw r32, xmm, 0; mov word ptr [m], r16` (its trap record is on the
/// `mov`, the instruction that can fault).
#[test]
fn f16_moves() {
    let mut c = Checker::new();
    let mems = amodes(false);
    for d in 0..16u8 {
        for s in 0..16u8 {
            c.check(
                MInst::XmmPinsrw {
                    src: RegMem::Reg(gpr(s)),
                    dst: w(xmm(d)),
                },
                format!("pinsrw {}, {}, 0x0", xn(d), R32[s as usize]),
            );
        }
        for m in &mems {
            c.check(
                MInst::XmmPinsrw {
                    src: RegMem::Mem(m.amode.clone()),
                    dst: w(xmm(d)),
                },
                format!("pinsrw {}, word ptr {}, 0x0", xn(d), m.text),
            );
            for t in [0u8, 5, 9, 15] {
                c.check(
                    MInst::F16Store {
                        src: xmm(d),
                        tmp: w(gpr(t)),
                        dst: m.amode.clone(),
                    },
                    format!(
                        "pextrw {}, {}, 0x0; mov word ptr {}, {}",
                        R32[t as usize],
                        xn(d),
                        m.text,
                        R16[t as usize]
                    ),
                );
            }
        }
    }
    c.finish(1000);

    // The trap of a trapping f16 store is recorded at the `mov`.
    let mut buf = MachBuffer::new();
    let inst = MInst::F16Store {
        src: xmm(1),
        tmp: w(gpr(0)),
        dst: Amode::imm_reg(0, gpr(7)).with_trap(TrapCode::HEAP_OUT_OF_BOUNDS),
    };
    inst.emit(&mut buf);
    let f = buf.finish().expect("finish");
    assert_eq!(f.traps.len(), 1);
    assert_eq!(f.traps[0].offset, 5, "pextrw eax, xmm1, 0 is 5 bytes");
}

#[test]
fn cmpxchg16b_and_128_bit_atomic_loop() {
    let mut c = Checker::new();
    let (rax, rcx, rdx, rbx) = (gpr(0), gpr(1), gpr(2), gpr(3));
    for m in amodes(false) {
        c.check(
            MInst::LockCmpxchg16b(Box::new(Cmpxchg16bArgs {
                addr: m.amode.clone(),
                expected_lo: rax,
                expected_hi: rdx,
                replacement_lo: rbx,
                replacement_hi: rcx,
                dst_lo: w(rax),
                dst_hi: w(rdx),
            })),
            format!("lock cmpxchg16b xmmword ptr {}", m.text),
        );
    }
    // The loop: copy the old value into rcx:rbx, combine it with the
    // operand (r9:r8), cmpxchg16b, and jump back to the start while the
    // memory changed under it.
    let (r8, r9, r10) = (gpr(8), gpr(9), gpr(10));
    let addr = Amode::imm_reg(16, gpr(7));
    let body = |ops: &str| {
        format!("mov rbx, rax; mov rcx, rdx; {ops}lock cmpxchg16b xmmword ptr [rdi+0x10]; jne 0x0")
    };
    let cases: [(Option<AtomicLoopOp>, &str); 11] = [
        (None, "mov rbx, r8; mov rcx, r9; "),
        (Some(AtomicLoopOp::Add), "add rbx, r8; adc rcx, r9; "),
        (Some(AtomicLoopOp::Sub), "sub rbx, r8; sbb rcx, r9; "),
        (Some(AtomicLoopOp::And), "and rbx, r8; and rcx, r9; "),
        (Some(AtomicLoopOp::Or), "or rbx, r8; or rcx, r9; "),
        (Some(AtomicLoopOp::Xor), "xor rbx, r8; xor rcx, r9; "),
        (
            Some(AtomicLoopOp::Nand),
            "and rbx, r8; and rcx, r9; not rbx; not rcx; ",
        ),
        (
            Some(AtomicLoopOp::Umin),
            "cmp rbx, r8; mov r10, rcx; sbb r10, r9; cmovae rbx, r8; cmovae rcx, r9; ",
        ),
        (
            Some(AtomicLoopOp::Umax),
            "cmp rbx, r8; mov r10, rcx; sbb r10, r9; cmovb rbx, r8; cmovb rcx, r9; ",
        ),
        (
            Some(AtomicLoopOp::Smin),
            "cmp rbx, r8; mov r10, rcx; sbb r10, r9; cmovge rbx, r8; cmovge rcx, r9; ",
        ),
        (
            Some(AtomicLoopOp::Smax),
            "cmp rbx, r8; mov r10, rcx; sbb r10, r9; cmovl rbx, r8; cmovl rcx, r9; ",
        ),
    ];
    for (op, ops) in cases {
        c.check(
            MInst::AtomicRmw128Seq(Box::new(AtomicRmw128Args {
                op,
                addr: addr.clone(),
                old_lo: rax,
                old_hi: rdx,
                operand_lo: r8,
                operand_hi: r9,
                temp: w(r10),
                new_lo: w(rbx),
                new_hi: w(rcx),
                dst_lo: w(rax),
                dst_hi: w(rdx),
            })),
            body(ops),
        );
    }
    c.finish(20);
}

/// With AVX (`has_avx`): the SSE binary operations in their VEX
/// three-operand form (every op x every register triple, memory forms), and
/// the XMM moves, loads, stores, compares, GPR<->XMM moves, conversions and
/// `round` that the emitter encodes with VEX when `EmitState::avx` is set
/// (every register pair, memory forms). `cvtsi2ss`/`cvtsi2sd` are preceded
/// by `vxorps dst, dst, dst`; a faulting memory source's trap is recorded at
/// the conversion.
#[test]
fn avx_float() {
    let mut c = Checker::new();
    c.avx = true;
    let mems = amodes(false);
    for op in SseOp::ALL {
        let n = format!("v{op:?}").to_lowercase();
        let mb = match op.mem_bytes() {
            4 => 32,
            8 => 64,
            _ => 128,
        };
        for d in 0..16u8 {
            for a in 0..16u8 {
                for b in 0..16u8 {
                    c.check(
                        MInst::XmmRmRVex {
                            op,
                            src1: xmm(a),
                            src2: RegMem::Reg(xmm(b)),
                            dst: w(xmm(d)),
                        },
                        format!("{n} {}, {}, {}", xn(d), xn(a), xn(b)),
                    );
                }
            }
        }
        if matches!(op, SseOp::Movss | SseOp::Movsd) {
            continue;
        }
        for m in &mems {
            for (d, a) in [(9u8, 2u8), (1, 14), (15, 15)] {
                c.check(
                    MInst::XmmRmRVex {
                        op,
                        src1: xmm(a),
                        src2: RegMem::Mem(m.amode.clone()),
                        dst: w(xmm(d)),
                    },
                    format!("{n} {}, {}, {} ptr {}", xn(d), xn(a), ptr(mb), m.text),
                );
            }
        }
    }
    for op in XmmMovOp::ALL {
        let n = format!("v{op:?}").to_lowercase();
        let mb = match op.mem_bytes() {
            4 => 32,
            8 => 64,
            _ => 128,
        };
        for m in &mems {
            for r in [3u8, 12] {
                c.check(
                    MInst::XmmMovRM {
                        op,
                        src: RegMem::Mem(m.amode.clone()),
                        dst: w(xmm(r)),
                    },
                    format!("{n} {}, {} ptr {}", xn(r), ptr(mb), m.text),
                );
                c.check(
                    MInst::XmmStore {
                        op,
                        src: xmm(r),
                        dst: m.amode.clone(),
                    },
                    format!("{n} {} ptr {}, {}", ptr(mb), m.text, xn(r)),
                );
            }
        }
        if !matches!(op, XmmMovOp::Movss | XmmMovOp::Movsd) {
            for d in 0..16u8 {
                for s in 0..16u8 {
                    c.check(
                        MInst::XmmMovRM {
                            op,
                            src: RegMem::Reg(xmm(s)),
                            dst: w(xmm(d)),
                        },
                        format!("{n} {}, {}", xn(d), xn(s)),
                    );
                }
            }
        }
    }
    for d in 0..16u8 {
        c.check(
            MInst::ZeroReg { dst: w(xmm(d)) },
            format!("vxorps {0}, {0}, {0}", xn(d)),
        );
        for s in 0..16u8 {
            for (double, n) in [(false, "vroundss"), (true, "vroundsd")] {
                c.check(
                    MInst::XmmRound {
                        double,
                        src: RegMem::Reg(xmm(s)),
                        imm: 9,
                        dst: w(xmm(d)),
                    },
                    format!("{n} {}, {}, {}, 0x9", xn(d), xn(s), xn(s)),
                );
            }
            for (double, n) in [(false, "vucomiss"), (true, "vucomisd")] {
                c.check(
                    MInst::XmmCmp {
                        double,
                        src1: xmm(d),
                        src2: RegMem::Reg(xmm(s)),
                    },
                    format!("{n} {}, {}", xn(d), xn(s)),
                );
            }
            for (size, b) in [(OperandSize::Size32, 32), (OperandSize::Size64, 64)] {
                let mv = if b == 32 { "vmovd" } else { "vmovq" };
                c.check(
                    MInst::GprToXmm {
                        op: GprToXmmOp::Mov,
                        src_size: size,
                        src: RegMem::Reg(gpr(s)),
                        dst: w(xmm(d)),
                    },
                    format!("{mv} {}, {}", xn(d), rn(s, b)),
                );
                for (op, n) in [
                    (GprToXmmOp::Cvtsi2ss, "vcvtsi2ss"),
                    (GprToXmmOp::Cvtsi2sd, "vcvtsi2sd"),
                ] {
                    c.check(
                        MInst::GprToXmm {
                            op,
                            src_size: size,
                            src: RegMem::Reg(gpr(s)),
                            dst: w(xmm(d)),
                        },
                        format!("vxorps {0}, {0}, {0}; {n} {0}, {0}, {1}", xn(d), rn(s, b)),
                    );
                }
                c.check(
                    MInst::XmmToGpr {
                        op: XmmToGprOp::Mov,
                        dst_size: size,
                        src: RegMem::Reg(xmm(s)),
                        dst: w(gpr(d)),
                    },
                    format!("{mv} {}, {}", rn(d, b), xn(s)),
                );
                for (op, n) in [
                    (XmmToGprOp::Cvttss2si, "vcvttss2si"),
                    (XmmToGprOp::Cvttsd2si, "vcvttsd2si"),
                ] {
                    c.check(
                        MInst::XmmToGpr {
                            op,
                            dst_size: size,
                            src: RegMem::Reg(xmm(s)),
                            dst: w(gpr(d)),
                        },
                        format!("{n} {}, {}", rn(d, b), xn(s)),
                    );
                }
            }
        }
    }
    for m in &mems {
        for (size, b) in [(OperandSize::Size32, 32), (OperandSize::Size64, 64)] {
            c.check(
                MInst::GprToXmm {
                    op: GprToXmmOp::Cvtsi2sd,
                    src_size: size,
                    src: RegMem::Mem(m.amode.clone()),
                    dst: w(xmm(7)),
                },
                format!(
                    "vxorps xmm7, xmm7, xmm7; vcvtsi2sd xmm7, xmm7, {} ptr {}",
                    ptr(b),
                    m.text
                ),
            );
            c.check(
                MInst::XmmToGpr {
                    op: XmmToGprOp::Cvttss2si,
                    dst_size: size,
                    src: RegMem::Mem(m.amode.clone()),
                    dst: w(gpr(12)),
                },
                format!("vcvttss2si {}, dword ptr {}", rn(12, b), m.text),
            );
        }
        // Moving the bits of a memory operand into a GPR stays a plain load.
        c.check(
            MInst::XmmToGpr {
                op: XmmToGprOp::Mov,
                dst_size: OperandSize::Size64,
                src: RegMem::Mem(m.amode.clone()),
                dst: w(gpr(5)),
            },
            format!("mov rbp, qword ptr {}", m.text),
        );
        c.check(
            MInst::GprToXmm {
                op: GprToXmmOp::Mov,
                src_size: OperandSize::Size32,
                src: RegMem::Mem(m.amode.clone()),
                dst: w(xmm(8)),
            },
            format!("vmovd xmm8, dword ptr {}", m.text),
        );
        c.check(
            MInst::XmmCmp {
                double: true,
                src1: xmm(15),
                src2: RegMem::Mem(m.amode.clone()),
            },
            format!("vucomisd xmm15, qword ptr {}", m.text),
        );
        c.check(
            MInst::XmmRound {
                double: true,
                src: RegMem::Mem(m.amode.clone()),
                imm: 1,
                dst: w(xmm(10)),
            },
            format!("vroundsd xmm10, xmm10, qword ptr {}, 0x1", m.text),
        );
    }
    c.finish(29 * 16 * 16 * 16);

    // A trapping conversion's trap is recorded at `vcvtsi2sd`, after the
    // 4-byte `vxorps xmm1, xmm1, xmm1`.
    let mut buf = MachBuffer::new();
    let inst = MInst::GprToXmm {
        op: GprToXmmOp::Cvtsi2sd,
        src_size: OperandSize::Size64,
        src: RegMem::Mem(Amode::imm_reg(0, gpr(7)).with_trap(TrapCode::HEAP_OUT_OF_BOUNDS)),
        dst: w(xmm(1)),
    };
    let st = EmitState {
        avx: true,
        ..EmitState::default()
    };
    inst.emit_with_state(&mut buf, &st);
    let f = buf.finish().expect("finish");
    assert_eq!(f.traps.len(), 1);
    assert_eq!(f.traps[0].offset, 4, "vxorps xmm1, xmm1, xmm1 is 4 bytes");
}
