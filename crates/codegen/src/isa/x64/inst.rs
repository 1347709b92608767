//! The x86-64 machine instructions (`MInst`), their register operands for
//! the allocator, and their debug printing.
//!
//! Two-address x86 operations are modelled in three-address form
//! `dst = op(src1, src2)` where `dst` is constrained to reuse `src1`'s
//! register; after allocation `dst` and `src1` hold the same register and
//! emission uses it as the destructive operand.

use super::args::*;
use super::regs::show_reg;
use crate::machinst::buffer::{LibCall, MachLabel, RelocTarget};
use crate::machinst::reg::{Reg, Writable};
use kiln_ir::TrapCode;
use regalloc2::{OperandConstraint, OperandKind, OperandPos, PReg, PRegSet};
use smallvec::SmallVec;

/// Two-operand integer ALU operations with the classic encoding family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Or,
    Adc,
    Sbb,
    And,
    Sub,
    Xor,
}

impl AluOp {
    /// The `/digit` of the operation (also `opcode >> 3`).
    pub fn digit(self) -> u8 {
        match self {
            AluOp::Add => 0,
            AluOp::Or => 1,
            AluOp::Adc => 2,
            AluOp::Sbb => 3,
            AluOp::And => 4,
            AluOp::Sub => 5,
            AluOp::Xor => 6,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            AluOp::Add => "add",
            AluOp::Or => "or",
            AluOp::Adc => "adc",
            AluOp::Sbb => "sbb",
            AluOp::And => "and",
            AluOp::Sub => "sub",
            AluOp::Xor => "xor",
        }
    }
    pub const ALL: [AluOp; 7] = [
        AluOp::Add,
        AluOp::Or,
        AluOp::Adc,
        AluOp::Sbb,
        AluOp::And,
        AluOp::Sub,
        AluOp::Xor,
    ];
}

/// Flag-setting comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `cmp a, b` (flags of `a - b`)
    Cmp,
    /// `test a, b` (flags of `a & b`)
    Test,
}

/// The operation of an [`MInst::AtomicRmwSeq`] compare-and-swap loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicLoopOp {
    Add,
    Sub,
    And,
    Nand,
    Or,
    Xor,
    Umin,
    Umax,
    Smin,
    Smax,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftKind {
    Rol,
    Ror,
    Shl,
    Shr,
    Sar,
}

impl ShiftKind {
    pub fn digit(self) -> u8 {
        match self {
            ShiftKind::Rol => 0,
            ShiftKind::Ror => 1,
            ShiftKind::Shl => 4,
            ShiftKind::Shr => 5,
            ShiftKind::Sar => 7,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ShiftKind::Rol => "rol",
            ShiftKind::Ror => "ror",
            ShiftKind::Shl => "shl",
            ShiftKind::Shr => "shr",
            ShiftKind::Sar => "sar",
        }
    }
    pub const ALL: [ShiftKind; 5] = [
        ShiftKind::Rol,
        ShiftKind::Ror,
        ShiftKind::Shl,
        ShiftKind::Shr,
        ShiftKind::Sar,
    ];
}

/// The BMI2 shifts with the count in any register (`MInst::ShiftX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftXKind {
    Shlx,
    Shrx,
    Sarx,
}

impl ShiftXKind {
    /// The BMI2 form of a shift; rotates have none (`rorx` takes an
    /// immediate count only).
    pub fn of(kind: ShiftKind) -> Option<ShiftXKind> {
        match kind {
            ShiftKind::Shl => Some(ShiftXKind::Shlx),
            ShiftKind::Shr => Some(ShiftXKind::Shrx),
            ShiftKind::Sar => Some(ShiftXKind::Sarx),
            ShiftKind::Rol | ShiftKind::Ror => None,
        }
    }
    /// The implied legacy prefix in VEX.pp: 66 (1), F2 (3), F3 (2).
    pub fn vex_pp(self) -> u8 {
        match self {
            ShiftXKind::Shlx => 1,
            ShiftXKind::Shrx => 3,
            ShiftXKind::Sarx => 2,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ShiftXKind::Shlx => "shlx",
            ShiftXKind::Shrx => "shrx",
            ShiftXKind::Sarx => "sarx",
        }
    }
    pub const ALL: [ShiftXKind; 3] = [ShiftXKind::Shlx, ShiftXKind::Shrx, ShiftXKind::Sarx];
}

// ---- BMI1/BMI2 bit manipulation (`MInst::BmiUnary`, `Andn`, `Bzhi`,
// `Rorx`, `Mulx`; rules in `isle-rules/x64/lower_bmi.isle`) ----

/// The BMI1 one-operand group `VEX.0F38 F3 /digit`: the lowest set bit of
/// `src` cleared, isolated, or turned into a mask up to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BmiUnaryOp {
    /// `src & (src - 1)`
    Blsr,
    /// `src ^ (src - 1)`
    Blsmsk,
    /// `src & -src`
    Blsi,
}

impl BmiUnaryOp {
    /// The ModRM.reg digit that selects the operation.
    pub fn digit(self) -> u8 {
        match self {
            BmiUnaryOp::Blsr => 1,
            BmiUnaryOp::Blsmsk => 2,
            BmiUnaryOp::Blsi => 3,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            BmiUnaryOp::Blsr => "blsr",
            BmiUnaryOp::Blsmsk => "blsmsk",
            BmiUnaryOp::Blsi => "blsi",
        }
    }
    pub const ALL: [BmiUnaryOp; 3] = [BmiUnaryOp::Blsr, BmiUnaryOp::Blsmsk, BmiUnaryOp::Blsi];
}

// ---- end of BMI1/BMI2 ----

/// The rounding of `roundss`/`roundsd` (and of the libcalls used without
/// SSE4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoundMode {
    Nearest,
    Floor,
    Ceil,
    Trunc,
}

impl RoundMode {
    /// The instruction's immediate: the rounding control in bits 0-1 (with
    /// bit 2 clear: use it, not MXCSR's).
    pub fn imm(self) -> u8 {
        match self {
            RoundMode::Nearest => 0,
            RoundMode::Floor => 1,
            RoundMode::Ceil => 2,
            RoundMode::Trunc => 3,
        }
    }
}

/// Bit-counting operations `dst = op(src)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitOp {
    Bsr,
    Bsf,
    /// needs LZCNT (ABM)
    Lzcnt,
    /// needs BMI1
    Tzcnt,
    /// needs POPCNT
    Popcnt,
}

impl BitOp {
    pub fn name(self) -> &'static str {
        match self {
            BitOp::Bsr => "bsr",
            BitOp::Bsf => "bsf",
            BitOp::Lzcnt => "lzcnt",
            BitOp::Tzcnt => "tzcnt",
            BitOp::Popcnt => "popcnt",
        }
    }
    pub const ALL: [BitOp; 5] = [
        BitOp::Bsr,
        BitOp::Bsf,
        BitOp::Lzcnt,
        BitOp::Tzcnt,
        BitOp::Popcnt,
    ];
}

/// SSE binary operations `dst = op(src1, src2)` (dst reuses src1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SseOp {
    Addss,
    Addsd,
    Subss,
    Subsd,
    Mulss,
    Mulsd,
    Divss,
    Divsd,
    Minss,
    Minsd,
    Maxss,
    Maxsd,
    Andps,
    Andpd,
    Andnps,
    Andnpd,
    Orps,
    Orpd,
    Xorps,
    Xorpd,
    Pxor,
    /// Register form merges the low 32 bits of src2 into src1.
    Movss,
    /// Register form merges the low 64 bits of src2 into src1.
    Movsd,
    /// Unary ops with merge semantics for the upper lanes (src1 provides
    /// them): `sqrtss`, `sqrtsd`, `cvtss2sd`, `cvtsd2ss`.
    Sqrtss,
    Sqrtsd,
    Cvtss2sd,
    Cvtsd2ss,
    /// `punpcklqdq`: dst.hi = src2.lo (dst.lo kept).
    Punpcklqdq,
    /// `unpckhpd`: dst.lo = dst.hi, dst.hi = src2.hi.
    Unpckhpd,
}

impl SseOp {
    /// (mandatory prefix, opcode after 0F)
    pub fn encoding(self) -> (Option<u8>, u8) {
        use SseOp::*;
        match self {
            Addss => (Some(0xf3), 0x58),
            Addsd => (Some(0xf2), 0x58),
            Mulss => (Some(0xf3), 0x59),
            Mulsd => (Some(0xf2), 0x59),
            Subss => (Some(0xf3), 0x5c),
            Subsd => (Some(0xf2), 0x5c),
            Minss => (Some(0xf3), 0x5d),
            Minsd => (Some(0xf2), 0x5d),
            Divss => (Some(0xf3), 0x5e),
            Divsd => (Some(0xf2), 0x5e),
            Maxss => (Some(0xf3), 0x5f),
            Maxsd => (Some(0xf2), 0x5f),
            Andps => (None, 0x54),
            Andpd => (Some(0x66), 0x54),
            Andnps => (None, 0x55),
            Andnpd => (Some(0x66), 0x55),
            Orps => (None, 0x56),
            Orpd => (Some(0x66), 0x56),
            Xorps => (None, 0x57),
            Xorpd => (Some(0x66), 0x57),
            Pxor => (Some(0x66), 0xef),
            Movss => (Some(0xf3), 0x10),
            Movsd => (Some(0xf2), 0x10),
            Sqrtss => (Some(0xf3), 0x51),
            Sqrtsd => (Some(0xf2), 0x51),
            Cvtss2sd => (Some(0xf3), 0x5a),
            Cvtsd2ss => (Some(0xf2), 0x5a),
            Punpcklqdq => (Some(0x66), 0x6c),
            Unpckhpd => (Some(0x66), 0x15),
        }
    }
    pub fn name(self) -> &'static str {
        use SseOp::*;
        match self {
            Addss => "addss",
            Addsd => "addsd",
            Subss => "subss",
            Subsd => "subsd",
            Mulss => "mulss",
            Mulsd => "mulsd",
            Divss => "divss",
            Divsd => "divsd",
            Minss => "minss",
            Minsd => "minsd",
            Maxss => "maxss",
            Maxsd => "maxsd",
            Andps => "andps",
            Andpd => "andpd",
            Andnps => "andnps",
            Andnpd => "andnpd",
            Orps => "orps",
            Orpd => "orpd",
            Xorps => "xorps",
            Xorpd => "xorpd",
            Pxor => "pxor",
            Movss => "movss",
            Movsd => "movsd",
            Sqrtss => "sqrtss",
            Sqrtsd => "sqrtsd",
            Cvtss2sd => "cvtss2sd",
            Cvtsd2ss => "cvtsd2ss",
            Punpcklqdq => "punpcklqdq",
            Unpckhpd => "unpckhpd",
        }
    }
    /// Bytes read from memory by the second operand.
    pub fn mem_bytes(self) -> u8 {
        use SseOp::*;
        match self {
            Addss | Subss | Mulss | Divss | Minss | Maxss | Movss | Sqrtss | Cvtss2sd => 4,
            Addsd | Subsd | Mulsd | Divsd | Minsd | Maxsd | Movsd | Sqrtsd | Cvtsd2ss => 8,
            _ => 16,
        }
    }
    pub const ALL: [SseOp; 29] = [
        SseOp::Addss,
        SseOp::Addsd,
        SseOp::Subss,
        SseOp::Subsd,
        SseOp::Mulss,
        SseOp::Mulsd,
        SseOp::Divss,
        SseOp::Divsd,
        SseOp::Minss,
        SseOp::Minsd,
        SseOp::Maxss,
        SseOp::Maxsd,
        SseOp::Andps,
        SseOp::Andpd,
        SseOp::Andnps,
        SseOp::Andnpd,
        SseOp::Orps,
        SseOp::Orpd,
        SseOp::Xorps,
        SseOp::Xorpd,
        SseOp::Pxor,
        SseOp::Movss,
        SseOp::Movsd,
        SseOp::Sqrtss,
        SseOp::Sqrtsd,
        SseOp::Cvtss2sd,
        SseOp::Cvtsd2ss,
        SseOp::Punpcklqdq,
        SseOp::Unpckhpd,
    ];
}

/// Whole-register XMM moves and loads/stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XmmMovOp {
    /// scalar f32 (load zeroes the upper lanes)
    Movss,
    /// scalar f64 (load zeroes the upper lane)
    Movsd,
    /// aligned 128-bit
    Movaps,
    Movapd,
    /// unaligned 128-bit
    Movups,
    Movdqu,
}

impl XmmMovOp {
    /// (prefix, load/reg opcode, store opcode)
    pub fn encoding(self) -> (Option<u8>, u8, u8) {
        match self {
            XmmMovOp::Movss => (Some(0xf3), 0x10, 0x11),
            XmmMovOp::Movsd => (Some(0xf2), 0x10, 0x11),
            XmmMovOp::Movaps => (None, 0x28, 0x29),
            XmmMovOp::Movapd => (Some(0x66), 0x28, 0x29),
            XmmMovOp::Movups => (None, 0x10, 0x11),
            XmmMovOp::Movdqu => (Some(0xf3), 0x6f, 0x7f),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            XmmMovOp::Movss => "movss",
            XmmMovOp::Movsd => "movsd",
            XmmMovOp::Movaps => "movaps",
            XmmMovOp::Movapd => "movapd",
            XmmMovOp::Movups => "movups",
            XmmMovOp::Movdqu => "movdqu",
        }
    }
    pub fn mem_bytes(self) -> u8 {
        match self {
            XmmMovOp::Movss => 4,
            XmmMovOp::Movsd => 8,
            _ => 16,
        }
    }
    pub const ALL: [XmmMovOp; 6] = [
        XmmMovOp::Movss,
        XmmMovOp::Movsd,
        XmmMovOp::Movaps,
        XmmMovOp::Movapd,
        XmmMovOp::Movups,
        XmmMovOp::Movdqu,
    ];
}

/// Conversions and moves from a GPR (or memory) into an XMM register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GprToXmmOp {
    /// movd (32) / movq (64): zeroes the upper lanes
    Mov,
    /// cvtsi2ss: merges the upper lanes of dst (treated as a pure def; the
    /// upper lanes of a scalar are unspecified)
    Cvtsi2ss,
    Cvtsi2sd,
}

/// Moves and truncating conversions from an XMM register (or memory) into a
/// GPR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XmmToGprOp {
    /// movd (32) / movq (64); the source must be a register
    Mov,
    Cvttss2si,
    Cvttsd2si,
}

/// Targets of a direct call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallTarget {
    User(kiln_ir::UserExternalNameRef),
    LibCall(LibCall),
    KnownSymbol(kiln_ir::KnownSymbol),
    /// The n-th test-case name of the compiled code's name list.
    TestCase(u32),
}

impl From<RelocTarget> for CallTarget {
    fn from(r: RelocTarget) -> CallTarget {
        match r {
            RelocTarget::User(u) => CallTarget::User(u),
            RelocTarget::LibCall(l) => CallTarget::LibCall(l),
            RelocTarget::KnownSymbol(k) => CallTarget::KnownSymbol(k),
            RelocTarget::TestCase(i) => CallTarget::TestCase(i),
        }
    }
}

impl From<CallTarget> for RelocTarget {
    fn from(c: CallTarget) -> RelocTarget {
        match c {
            CallTarget::User(u) => RelocTarget::User(u),
            CallTarget::LibCall(l) => RelocTarget::LibCall(l),
            CallTarget::KnownSymbol(k) => RelocTarget::KnownSymbol(k),
            CallTarget::TestCase(i) => RelocTarget::TestCase(i),
        }
    }
}

/// Register effects of a call: arguments in fixed registers, results in
/// fixed registers, and the clobbered set (which the adapter reports
/// through `MInst::clobbers`, not through the operand visitor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallInfo {
    pub uses: SmallVec<[(Reg, PReg); 8]>,
    pub defs: SmallVec<[(Writable<Reg>, PReg); 4]>,
    pub clobbers: PRegSet,
    /// Bytes of stack arguments the callee pops (`tail` convention): the
    /// call is followed by `sub rsp, callee_pop` to restore the frame.
    pub callee_pop: u32,
    /// For a `try_call` with handlers: the call ends its block, continues
    /// at `normal` on return and records these handlers.
    pub try_call: Option<Box<TryCallInfo>>,
}

/// How a `try_call` call with handlers prints after `call target`:
/// `; jmp normal; handlers [tag1: label, default: label]`.
fn try_call_suffix(info: &CallInfo) -> String {
    let Some(t) = &info.try_call else {
        return String::new();
    };
    let hs: Vec<String> = t
        .handlers
        .iter()
        .map(|(tag, l)| match tag {
            Some(n) => format!("tag{n}: {l}"),
            None => format!("default: {l}"),
        })
        .collect();
    format!("; jmp {}; handlers [{}]", t.normal, hs.join(", "))
}

/// The successors of a `try_call` call with handlers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TryCallInfo {
    pub normal: MachLabel,
    /// Tag (`None` = default) and handler label, in match order.
    pub handlers: Vec<(Option<u32>, MachLabel)>,
}

/// Operands of a `ReturnCall` (boxed to keep `MInst` small).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnCallInfo {
    pub target: ReturnCallTarget,
    /// Register arguments in their fixed registers.
    pub uses: SmallVec<[(Reg, PReg); 8]>,
    /// Bytes of stack arguments staged at `[rsp, rsp + stack_args)`.
    pub stack_args: u32,
}

/// The callee of a `ReturnCall`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReturnCallTarget {
    /// `jmp rel32` with an `X86CallPCRel4` relocation.
    Known(CallTarget),
    /// `jmp r` (the register is fixed to r11, see [`MInst::ReturnCall`]).
    Reg(Reg),
}

/// How [`MInst::LoadExtName`] materializes a symbol's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtNameMode {
    /// `movabs dst, imm64` with an `Abs8` relocation (`is_pic=false`).
    Abs8,
    /// `lea dst, [rip + sym + offset]` with an `X86PCRel4` relocation: a
    /// colocated symbol with `is_pic` (the offset fits 32 bits).
    RipRel,
    /// `mov dst, [rip + sym@GOTPCREL]` (`X86GOTPCRel4`), then `add dst,
    /// offset` when it is not 0: a symbol that may live in another module
    /// with `is_pic` (the offset fits 32 bits).
    Got,
}

/// How [`MInst::StackProbe`] touches the pages of a large frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// One store per page, below rsp (a few pages).
    Unrolled,
    /// A loop moving rsp down a page at a time and storing (many pages).
    Loop,
    /// `mov eax, frame_size; call __kiln_probestack` (LibCall::Probestack).
    Outline,
}

/// An x86-64 machine instruction. Register fields hold virtual registers
/// before allocation and physical ones after; `emit` requires physical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MInst {
    /// `dst = src1 op src2` (add, or, adc, sbb, and, sub, xor).
    AluRmiR {
        size: OperandSize,
        op: AluOp,
        src1: Reg,
        src2: RegMemImm,
        dst: Writable<Reg>,
    },
    /// `[addr] = [addr] op src` (read-modify-write in memory).
    AluRM {
        size: OperandSize,
        op: AluOp,
        src: Reg,
        addr: Amode,
    },
    /// `[addr] = [addr] op imm` (read-modify-write in memory; the immediate
    /// is sign-extended to 64 bits at Size64).
    AluMI {
        size: OperandSize,
        op: AluOp,
        imm: i32,
        addr: Amode,
    },
    /// `cmp src1, src2` / `test src1, src2`: sets flags only.
    CmpRmiR {
        size: OperandSize,
        op: CmpOp,
        src1: Reg,
        src2: RegMemImm,
    },
    /// `dst = src1 * src2` (two-operand imul). Size8 is emitted as a 32-bit
    /// multiply (the low 8 bits are the same); a memory operand is then read
    /// as 32 bits, so give 8-bit multiplies register operands.
    Imul {
        size: OperandSize,
        src1: Reg,
        src2: RegMem,
        dst: Writable<Reg>,
    },
    /// `dst = src * imm` (three-operand imul). Size8 as for `Imul` (also the
    /// 32-bit memory read).
    ImulImm {
        size: OperandSize,
        src: RegMem,
        imm: i32,
        dst: Writable<Reg>,
    },
    /// One-operand widening multiply: `rdx:rax = rax * src2` (`mul` or
    /// `imul`). For Size8 the result is `ax = al * src2` and `dst_hi` is
    /// not written (it is still reported as a def of rdx for simplicity).
    MulWide {
        size: OperandSize,
        signed: bool,
        src1: Reg,
        src2: RegMem,
        dst_lo: Writable<Reg>,
        dst_hi: Writable<Reg>,
    },
    /// `div`/`idiv`: `rax = rdx:rax / divisor`, `rdx = rdx:rax % divisor`.
    /// Size8 divides `ax`, leaving the quotient in al and the remainder in
    /// ah (`dividend_hi` / `dst_rem` unused). `trap` is recorded at the
    /// instruction (divide error).
    Div {
        size: OperandSize,
        signed: bool,
        dividend_lo: Reg,
        dividend_hi: Reg,
        divisor: RegMem,
        dst_quot: Writable<Reg>,
        dst_rem: Writable<Reg>,
        trap: TrapCode,
    },
    /// `cwd`/`cdq`/`cqo`: `rdx = sign bits of rax` (Size8 is `cbw`:
    /// `ax = sext(al)`, dst is then rax).
    SignExtendData {
        size: OperandSize,
        src: Reg,
        dst: Writable<Reg>,
    },
    /// `dst = neg src` / `dst = not src`.
    Unary {
        size: OperandSize,
        op: UnaryOp,
        src: Reg,
        dst: Writable<Reg>,
    },
    /// `dst = src shift amount`.
    Shift {
        size: OperandSize,
        kind: ShiftKind,
        src: Reg,
        amount: ShiftAmount,
        dst: Writable<Reg>,
    },
    /// `shlx`/`shrx`/`sarx dst, src, amount` (BMI2, VEX-encoded; Size32
    /// or Size64): the count may be in any register (the hardware masks
    /// it to 5 or 6 bits, as `shl cl` does) and `dst` is a fresh register,
    /// so a variable shift needs neither rcx nor a copy of `src`. Flags
    /// are left untouched.
    ShiftX {
        size: OperandSize,
        kind: ShiftXKind,
        src: Reg,
        amount: Reg,
        dst: Writable<Reg>,
    },
    // ---- BMI1/BMI2 (VEX-encoded, Size32 or Size64, three-operand: `dst`
    // is a fresh register, no copy of a source) ----
    /// `blsr`/`blsmsk`/`blsi dst, src` (BMI1). Writes the flags.
    BmiUnary {
        size: OperandSize,
        op: BmiUnaryOp,
        src: Reg,
        dst: Writable<Reg>,
    },
    /// `andn dst, src1, src2`: `dst = !src1 & src2` (BMI1). Writes the
    /// flags.
    Andn {
        size: OperandSize,
        src1: Reg,
        src2: Reg,
        dst: Writable<Reg>,
    },
    /// `bzhi dst, src, index`: `src` with the bits from `index & 0xff`
    /// up cleared; `src` itself when that is at least the width (BMI2).
    /// Writes the flags.
    Bzhi {
        size: OperandSize,
        src: Reg,
        index: Reg,
        dst: Writable<Reg>,
    },
    /// `rorx dst, src, imm`: rotate right by a constant (masked to 5 or 6
    /// bits by the hardware) into a fresh register (BMI2). Flags are left
    /// untouched.
    Rorx {
        size: OperandSize,
        src: Reg,
        imm: u8,
        dst: Writable<Reg>,
    },
    /// `mulx dst, dst, src2`: the high half of the unsigned product of
    /// `src1` (in rdx, implicit) and `src2` (BMI2). Naming `dst` twice
    /// keeps only the high half (the low half is written first). rdx is
    /// read, not written (unless it is `dst`), and the flags are left
    /// untouched.
    MulxHi {
        size: OperandSize,
        src1: Reg,
        src2: Reg,
        dst: Writable<Reg>,
    },
    // ---- end of BMI1/BMI2 ----
    /// `dst = lea addr` (Size32 or Size64; others as Size64).
    Lea {
        size: OperandSize,
        addr: Amode,
        dst: Writable<Reg>,
    },
    /// `dst = lea [index << shift]` (no base, `shift` in 0..=3; Size32 or
    /// Size64): a left shift by 0 to 3 into a fresh register. Chosen when
    /// the shifted value lives on, where `mov` + `shl` would take two
    /// uops for one.
    LeaScaled {
        size: OperandSize,
        index: Reg,
        shift: u8,
        dst: Writable<Reg>,
    },
    /// Register move (Size64, or Size32 which zero-extends).
    MovRR {
        size: OperandSize,
        src: Reg,
        dst: Writable<Reg>,
    },
    /// Load an immediate. Size64 picks the shortest of `mov r32, imm32`
    /// (zero-extending), `mov r64, simm32` and `movabs r64, imm64`; smaller
    /// sizes load the low 32 bits.
    MovImm {
        size: OperandSize,
        imm: u64,
        dst: Writable<Reg>,
    },
    /// `xor r32, r32`: zero the whole register. Shorter than `mov r32, 0`
    /// and recognised by the CPU as independent of the old value (no
    /// execution unit needed), but it writes the flags, so only an
    /// `iconst` lowered at its own place (never between a compare and its
    /// user) emits it.
    ZeroReg { dst: Writable<Reg> },
    /// Zero-extending load/extension (`movzx`, or `mov r32, r/m32` for LQ).
    MovzxRmR {
        ext: ExtMode,
        src: RegMem,
        dst: Writable<Reg>,
    },
    /// Sign-extending load/extension (`movsx`, `movsxd`).
    MovsxRmR {
        ext: ExtMode,
        src: RegMem,
        dst: Writable<Reg>,
    },
    /// 64-bit load `mov dst, qword [src]`.
    Mov64MR { src: Amode, dst: Writable<Reg> },
    /// Store `mov [dst], src` of the low `size` bits.
    MovRM {
        size: OperandSize,
        src: Reg,
        dst: Amode,
    },
    /// Store of a sign-extended immediate.
    MovImmM {
        size: OperandSize,
        imm: i32,
        dst: Amode,
    },
    /// `setcc dst8` (the upper bits of dst keep their old value, so dst is
    /// modelled as a pure def only for the low byte; zero-extend after).
    Setcc { cc: CC, dst: Writable<Reg> },
    /// `dst = cc ? consequent : alternative` (`cmovcc`); dst reuses
    /// `alternative`. Size8 is emitted as Size32 (a memory `consequent` is
    /// then read as 32 bits).
    Cmove {
        size: OperandSize,
        cc: CC,
        consequent: RegMem,
        alternative: Reg,
        dst: Writable<Reg>,
    },
    /// `jmp label`.
    JmpKnown { dst: MachLabel },
    /// `jcc taken` then `jmp not_taken` (the buffer removes or inverts them
    /// as the layout allows).
    JmpCond {
        cc: CC,
        taken: MachLabel,
        not_taken: MachLabel,
    },
    /// `jcc taken`, falling through otherwise.
    JmpIf { cc: CC, taken: MachLabel },
    /// `jmp r/m64`.
    JmpUnknown { target: RegMem },
    /// A bounds-checked jump through a table of 32-bit offsets:
    ///
    /// ```text
    ///     cmp   idx, targets.len()     ; 64-bit unsigned
    ///     jae   default
    ///     lea   tmp1, [rip+table]
    ///     movsxd tmp2, dword [tmp1+idx*4]
    ///     add   tmp2, tmp1
    ///     jmp   tmp2
    /// table: dd target_i - table ...
    /// ```
    /// `idx` is read as a 64-bit register (zero-extend it first). The temps
    /// are early defs, so they never share a register with `idx`.
    JmpTableSeq {
        idx: Reg,
        tmp1: Writable<Reg>,
        tmp2: Writable<Reg>,
        default: MachLabel,
        targets: Box<[MachLabel]>,
    },
    /// `call rel32` to an external function (relocation `X86CallPCRel4`).
    CallKnown {
        target: CallTarget,
        info: Box<CallInfo>,
    },
    /// `call r/m64`.
    CallUnknown { target: RegMem, info: Box<CallInfo> },
    /// `movabs dst, imm64` with an `Abs8` relocation: the address of an
    /// external symbol plus `offset` (use with `CallUnknown` for far calls).
    LoadExtName {
        target: RelocTarget,
        offset: i64,
        dst: Writable<Reg>,
        mode: ExtNameMode,
    },
    /// `ret`; `rets` are the returned values in their fixed registers.
    Ret { rets: SmallVec<[(Reg, PReg); 2]> },
    /// `ud2` recorded as a trap with `code`.
    Ud2 { code: TrapCode },
    /// Trap with `code` if `cc` holds: `jcc` to an out-of-line `ud2` stub
    /// (see `MachBuffer::defer_trap`; the function emitter must call
    /// `emit_deferred_traps(&emit::UD2)` after the last block).
    TrapIf { cc: CC, code: TrapCode },
    /// Prologue only (after `mov rbp, rsp`, before `sub rsp, frame_size`):
    /// touch every `guard_size` page of the frame about to be reserved, so
    /// that a frame larger than the guard page cannot step over it. Uses
    /// r11 (and eax for `Outline`); see `control::gen_prologue`.
    StackProbe {
        frame_size: u32,
        guard_size: u32,
        kind: ProbeKind,
    },
    /// Pseudo-instruction at the function entry defining the incoming
    /// arguments in their fixed registers. Emits nothing.
    Args { args: Box<[(Writable<Reg>, PReg)]> },
    /// `push r/m/imm` (64-bit).
    Push64 { src: RegMemImm },
    /// `pop r64`.
    Pop64 { dst: Writable<Reg> },
    /// Byte swap (Size32/64 `bswap`; Size16 is `rol r16, 8`; Size8 is a
    /// no-op).
    Bswap {
        size: OperandSize,
        src: Reg,
        dst: Writable<Reg>,
    },
    /// `dst = op src` for bsr/bsf/lzcnt/tzcnt/popcnt (Size16/32/64; Size8
    /// is emitted as Size32, so zero-extend a register source first and do
    /// not use a memory source).
    BitCount {
        size: OperandSize,
        op: BitOp,
        src: RegMem,
        dst: Writable<Reg>,
    },
    /// `xchg [addr], operand`; `dst` (reusing `operand`) gets the old value.
    Xchg {
        size: OperandSize,
        operand: Reg,
        addr: Amode,
        dst: Writable<Reg>,
    },
    /// `lock cmpxchg [addr], replacement` with `expected` in rax; the old
    /// memory value lands in rax (`dst_old`).
    LockCmpxchg {
        size: OperandSize,
        replacement: Reg,
        expected: Reg,
        addr: Amode,
        dst_old: Writable<Reg>,
    },
    /// `lock xadd [addr], operand`; `dst_old` (reusing `operand`) gets the
    /// old value.
    LockXadd {
        size: OperandSize,
        operand: Reg,
        addr: Amode,
        dst_old: Writable<Reg>,
    },
    /// `mfence`.
    Mfence,
    /// An atomic read-modify-write as a compare-and-swap loop:
    /// `rax = [addr]; loop: temp = op(rax, operand); lock cmpxchg [addr],
    /// temp; jnz loop`. `dst_old` (rax) receives the old value.
    AtomicRmwSeq {
        size: OperandSize,
        op: AtomicLoopOp,
        addr: Amode,
        operand: Reg,
        temp: Writable<Reg>,
        dst_old: Writable<Reg>,
    },
    /// `nop` bytes of total length `len` (one-byte nops).
    Nop { len: u8 },
    /// `dst = op(src1, src2)` for SSE binary ops; dst reuses src1.
    XmmRmR {
        op: SseOp,
        src1: Reg,
        src2: RegMem,
        dst: Writable<Reg>,
    },
    /// `dst = op(src1, src2)` in the VEX three-operand form (`vaddsd dst,
    /// src1, src2`; with `has_avx`): dst is a pure def, so the allocator
    /// needs no copy when src1 stays live. The upper lanes come from src1
    /// as in the legacy form. `Movss`/`Movsd` take a register `src2` only
    /// (their VEX load form has no first source).
    XmmRmRVex {
        op: SseOp,
        src1: Reg,
        src2: RegMem,
        dst: Writable<Reg>,
    },
    /// Whole-register move or load: `dst = src` (movaps/movapd/movups/
    /// movdqu, or movss/movsd from memory, which zero the upper lanes).
    /// A register-source movss/movsd merges; use `XmmRmR` for that.
    XmmMovRM {
        op: XmmMovOp,
        src: RegMem,
        dst: Writable<Reg>,
    },
    /// Store `[dst] = src`.
    XmmStore { op: XmmMovOp, src: Reg, dst: Amode },
    /// `roundss`/`roundsd dst, src, imm` (SSE4.1; `double` = roundsd).
    /// dst is a pure def (upper lanes unspecified).
    XmmRound {
        double: bool,
        src: RegMem,
        imm: u8,
        dst: Writable<Reg>,
    },
    /// `ucomiss`/`ucomisd src1, src2` (`double` = ucomisd).
    XmmCmp {
        double: bool,
        src1: Reg,
        src2: RegMem,
    },
    /// GPR/memory -> XMM: movd/movq or cvtsi2ss/cvtsi2sd of a 32- or
    /// 64-bit (`src_size`) integer.
    GprToXmm {
        op: GprToXmmOp,
        src_size: OperandSize,
        src: RegMem,
        dst: Writable<Reg>,
    },
    /// XMM/memory -> GPR: movd/movq (register source only) or
    /// cvttss2si/cvttsd2si into a 32- or 64-bit (`dst_size`) integer.
    XmmToGpr {
        op: XmmToGprOp,
        dst_size: OperandSize,
        src: RegMem,
        dst: Writable<Reg>,
    },
    /// `vfmadd213ss`/`vfmadd213sd dst, b, c` (FMA, VEX-encoded):
    /// `dst = a * b + c` with one rounding; dst reuses `a`.
    XmmFma {
        double: bool,
        a: Reg,
        b: Reg,
        c: Reg,
        dst: Writable<Reg>,
    },
    /// `pinsrw dst, r32/m16, 0`: the low 16 bits of dst from `src` (an f16
    /// load or move in). dst is a pure def (the upper bits are unspecified).
    XmmPinsrw { src: RegMem, dst: Writable<Reg> },
    /// Store the low 16 bits of an XMM register (an f16) without SSE4.1:
    /// `pextrw tmp, src, 0; mov word ptr [dst], tmp`. The trap record of
    /// `dst` is at the `mov`.
    F16Store {
        src: Reg,
        tmp: Writable<Reg>,
        dst: Amode,
    },
    /// `lock cmpxchg16b [addr]` (operands boxed to keep `MInst` small).
    LockCmpxchg16b(Box<Cmpxchg16bArgs>),
    /// A 128-bit atomic read-modify-write loop (see [`AtomicRmw128Args`]).
    AtomicRmw128Seq(Box<AtomicRmw128Args>),
    /// A tail call (`return_call`): the callee's register arguments are
    /// `uses` (fixed registers), its `stack_args` bytes of stack arguments
    /// are already stored at `[rsp, rsp + stack_args)`. Emission (which
    /// needs the frame, see `control::emit_return_call`) restores the
    /// callee-saved registers, moves the stack arguments into the caller's
    /// incoming argument area, tears the frame down and jumps. Uses rax and
    /// r10 as scratch; an indirect target is fixed to r11.
    ReturnCall { info: Box<ReturnCallInfo> },
}

/// Operands of [`MInst::LockCmpxchg16b`]: compares rdx:rax
/// (`expected_hi:lo`) with the 16 bytes at `addr` and stores rcx:rbx
/// (`replacement_hi:lo`) if they are equal; rdx:rax (`dst_hi:lo`) receive
/// the old value either way. `addr` must be 16-byte aligned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmpxchg16bArgs {
    pub addr: Amode,
    pub expected_lo: Reg,
    pub expected_hi: Reg,
    pub replacement_lo: Reg,
    pub replacement_hi: Reg,
    pub dst_lo: Writable<Reg>,
    pub dst_hi: Writable<Reg>,
}

/// Operands of [`MInst::AtomicRmw128Seq`]. With the current value in
/// rdx:rax (`old_hi:lo`, loaded before): `loop: rcx:rbx = op(rdx:rax,
/// operand); lock cmpxchg16b [addr]; jnz loop`. `op` `None` exchanges.
/// `new_lo`/`new_hi` are rbx/rcx, `temp` a scratch for min/max;
/// `dst_hi:lo` (rdx:rax) receive the old value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomicRmw128Args {
    pub op: Option<AtomicLoopOp>,
    pub addr: Amode,
    pub old_lo: Reg,
    pub old_hi: Reg,
    pub operand_lo: Reg,
    pub operand_hi: Reg,
    pub temp: Writable<Reg>,
    pub new_lo: Writable<Reg>,
    pub new_hi: Writable<Reg>,
    pub dst_lo: Writable<Reg>,
    pub dst_hi: Writable<Reg>,
}

/// Byte width used by ops without an 8-bit form (Size8 is done at 32).
pub(crate) fn no8(size: OperandSize) -> u8 {
    if size == OperandSize::Size8 {
        4
    } else {
        size.bytes()
    }
}

fn fixed(enc: u8) -> OperandConstraint {
    OperandConstraint::FixedReg(super::regs::gpr_preg(enc))
}

impl MInst {
    /// Visits every register operand for the register allocator.
    ///
    /// # Contract
    ///
    /// The visitor is called once per register mention as
    /// `visitor(reg, constraint, kind, pos)` (the argument order of the
    /// VCode layer's `OperandVisitor::add_operand`), in a fixed order that
    /// depends only on the instruction's shape; operand *i* is the *i*-th
    /// call. Every call maps one-to-one onto a regalloc2
    /// `Operand::new(reg.to_vreg(), constraint, kind, pos)` (the vreg
    /// renumbered for regalloc2, see `machinst::vcode`):
    ///
    /// * `OperandKind::Use` / `Def` with `OperandPos::Early` / `Late`.
    ///   Ordinary inputs are early uses, outputs late defs. Temporaries
    ///   written before all inputs are read are *early* defs.
    /// * `OperandConstraint::Reuse(i)` appears only on defs: the def gets the
    ///   register of operand *i* (a use, visited earlier in the same call
    ///   sequence). This is how two-address instructions (`add dst, src`)
    ///   are modelled: `dst = op(src1, src2)` with `dst` reusing `src1`.
    /// * `OperandConstraint::FixedReg(p)`: the value must be in `p` (rax/rdx
    ///   for div and widening mul, rcx for shifts by cl, argument/return
    ///   registers for calls and returns). Return values are *late* uses.
    /// * All other operands are `OperandConstraint::Reg` (x64 instructions
    ///   here never take regalloc stack slots directly).
    /// * Registers inside addresses are early uses.
    /// * A `Reg` that is already physical (e.g. `rsp` as an address base)
    ///   is also visited, with constraint `Reg`: the adapter must give
    ///   regalloc2 `Operand::fixed_nonallocatable(preg)` for it (or skip it)
    ///   and must not rewrite it.
    ///
    /// After allocation the adapter calls this again with a visitor that
    /// overwrites each virtual `*reg` with `Reg::from(allocated_preg)`, in
    /// the same order. Clobbers of calls are not visited: see
    /// [`MInst::clobbers`].
    pub fn get_operands(
        &mut self,
        visitor: &mut impl FnMut(&mut Reg, OperandConstraint, OperandKind, OperandPos),
    ) {
        use OperandConstraint as C;
        use OperandKind::{Def, Use};
        use OperandPos::{Early, Late};
        // Small helpers that count operands as they go, so that reuse
        // indices are always right.
        struct V<'a, F> {
            f: &'a mut F,
            n: usize,
        }
        impl<F: FnMut(&mut Reg, OperandConstraint, OperandKind, OperandPos)> V<'_, F> {
            fn op(&mut self, r: &mut Reg, k: OperandKind, p: OperandPos, c: C) -> usize {
                (self.f)(r, c, k, p);
                self.n += 1;
                self.n - 1
            }
            fn use_(&mut self, r: &mut Reg) -> usize {
                self.op(r, Use, Early, C::Reg)
            }
            fn def(&mut self, r: &mut Writable<Reg>) {
                self.op(r.reg_mut(), Def, Late, C::Reg);
            }
            fn reuse(&mut self, r: &mut Writable<Reg>, i: usize) {
                self.op(r.reg_mut(), Def, Late, C::Reuse(i));
            }
            fn amode(&mut self, a: &mut Amode) {
                a.regs_mut(|r| {
                    self.use_(r);
                });
            }
            fn rm(&mut self, rm: &mut RegMem) {
                match rm {
                    RegMem::Reg(r) => {
                        self.use_(r);
                    }
                    RegMem::Mem(a) => self.amode(a),
                }
            }
            fn rmi(&mut self, rmi: &mut RegMemImm) {
                match rmi {
                    RegMemImm::Reg(r) => {
                        self.use_(r);
                    }
                    RegMemImm::Mem(a) => self.amode(a),
                    RegMemImm::Imm(_) => {}
                }
            }
        }
        let mut v = V { f: visitor, n: 0 };
        let rax = super::regs::enc::RAX;
        let rdx = super::regs::enc::RDX;
        let rcx = super::regs::enc::RCX;
        match self {
            MInst::AluRmiR {
                src1, src2, dst, ..
            } => {
                let i = v.use_(src1);
                v.rmi(src2);
                v.reuse(dst, i);
            }
            MInst::AluRM { src, addr, .. } => {
                v.use_(src);
                v.amode(addr);
            }
            MInst::AluMI { addr, .. } => v.amode(addr),
            MInst::CmpRmiR { src1, src2, .. } => {
                v.use_(src1);
                v.rmi(src2);
            }
            MInst::Imul {
                src1, src2, dst, ..
            } => {
                let i = v.use_(src1);
                v.rm(src2);
                v.reuse(dst, i);
            }
            MInst::ImulImm { src, dst, .. } => {
                v.rm(src);
                v.def(dst);
            }
            MInst::MulWide {
                src1,
                src2,
                dst_lo,
                dst_hi,
                ..
            } => {
                v.op(src1, Use, Early, fixed(rax));
                v.rm(src2);
                v.op(dst_lo.reg_mut(), Def, Late, fixed(rax));
                v.op(dst_hi.reg_mut(), Def, Late, fixed(rdx));
            }
            MInst::Div {
                size,
                dividend_lo,
                dividend_hi,
                divisor,
                dst_quot,
                dst_rem,
                ..
            } => {
                v.op(dividend_lo, Use, Early, fixed(rax));
                if *size != OperandSize::Size8 {
                    v.op(dividend_hi, Use, Early, fixed(rdx));
                }
                v.rm(divisor);
                v.op(dst_quot.reg_mut(), Def, Late, fixed(rax));
                if *size != OperandSize::Size8 {
                    v.op(dst_rem.reg_mut(), Def, Late, fixed(rdx));
                }
            }
            MInst::SignExtendData { size, src, dst } => {
                v.op(src, Use, Early, fixed(rax));
                let d = if *size == OperandSize::Size8 {
                    rax
                } else {
                    rdx
                };
                v.op(dst.reg_mut(), Def, Late, fixed(d));
            }
            MInst::Unary { src, dst, .. } | MInst::Bswap { src, dst, .. } => {
                let i = v.use_(src);
                v.reuse(dst, i);
            }
            MInst::Shift {
                src, amount, dst, ..
            } => {
                let i = v.use_(src);
                if let ShiftAmount::Cl(r) = amount {
                    v.op(r, Use, Early, fixed(rcx));
                }
                v.reuse(dst, i);
            }
            MInst::ShiftX {
                src, amount, dst, ..
            } => {
                v.use_(src);
                v.use_(amount);
                v.def(dst);
            }
            // ---- BMI1/BMI2 ----
            MInst::BmiUnary { src, dst, .. } | MInst::Rorx { src, dst, .. } => {
                v.use_(src);
                v.def(dst);
            }
            MInst::Andn {
                src1, src2, dst, ..
            } => {
                v.use_(src1);
                v.use_(src2);
                v.def(dst);
            }
            MInst::Bzhi {
                src, index, dst, ..
            } => {
                v.use_(src);
                v.use_(index);
                v.def(dst);
            }
            MInst::MulxHi {
                src1, src2, dst, ..
            } => {
                v.op(src1, Use, Early, fixed(rdx));
                v.use_(src2);
                v.def(dst);
            }
            // ---- end of BMI1/BMI2 ----
            MInst::Lea { addr, dst, .. } => {
                v.amode(addr);
                v.def(dst);
            }
            MInst::LeaScaled { index, dst, .. } => {
                v.use_(index);
                v.def(dst);
            }
            MInst::MovRR { src, dst, .. } => {
                v.use_(src);
                v.def(dst);
            }
            MInst::MovImm { dst, .. }
            | MInst::ZeroReg { dst }
            | MInst::Setcc { dst, .. }
            | MInst::Pop64 { dst } => v.def(dst),
            MInst::LoadExtName { dst, .. } => v.def(dst),
            MInst::MovzxRmR { src, dst, .. }
            | MInst::MovsxRmR { src, dst, .. }
            | MInst::BitCount { src, dst, .. }
            | MInst::XmmMovRM { src, dst, .. }
            | MInst::XmmRound { src, dst, .. }
            | MInst::GprToXmm { src, dst, .. }
            | MInst::XmmToGpr { src, dst, .. } => {
                v.rm(src);
                v.def(dst);
            }
            MInst::Mov64MR { src, dst } => {
                v.amode(src);
                v.def(dst);
            }
            MInst::MovRM { src, dst, .. } | MInst::XmmStore { src, dst, .. } => {
                v.use_(src);
                v.amode(dst);
            }
            MInst::MovImmM { dst, .. } => v.amode(dst),
            MInst::Cmove {
                consequent,
                alternative,
                dst,
                ..
            } => {
                let i = v.use_(alternative);
                v.rm(consequent);
                v.reuse(dst, i);
            }
            MInst::JmpKnown { .. }
            | MInst::JmpCond { .. }
            | MInst::JmpIf { .. }
            | MInst::Ud2 { .. }
            | MInst::Mfence
            | MInst::Nop { .. } => {}
            MInst::JmpUnknown { target } => v.rm(target),
            MInst::TrapIf { .. } => {}
            // Prologue only: emitted after allocation, its fixed scratch
            // registers are not operands.
            MInst::StackProbe { .. } => {}
            MInst::Args { args } => {
                for (r, p) in args.iter_mut() {
                    v.op(r.reg_mut(), Def, Late, C::FixedReg(*p));
                }
            }
            MInst::JmpTableSeq {
                idx, tmp1, tmp2, ..
            } => {
                v.use_(idx);
                v.op(tmp1.reg_mut(), Def, Early, C::Reg);
                v.op(tmp2.reg_mut(), Def, Early, C::Reg);
            }
            MInst::CallKnown { info, .. } => call_operands(&mut v.f, info),
            MInst::CallUnknown { target, info } => {
                v.rm(target);
                call_operands(&mut v.f, info);
            }
            MInst::Ret { rets } => {
                for (r, p) in rets.iter_mut() {
                    v.op(r, Use, Late, C::FixedReg(*p));
                }
            }
            MInst::Push64 { src } => v.rmi(src),
            MInst::Xchg {
                operand, addr, dst, ..
            }
            | MInst::LockXadd {
                operand,
                addr,
                dst_old: dst,
                ..
            } => {
                let i = v.use_(operand);
                v.amode(addr);
                v.reuse(dst, i);
            }
            MInst::AtomicRmwSeq {
                addr,
                operand,
                temp,
                dst_old,
                ..
            } => {
                v.amode(addr);
                v.use_(operand);
                v.op(temp.reg_mut(), Def, Early, C::Reg);
                v.op(dst_old.reg_mut(), Def, Early, fixed(rax));
            }
            MInst::LockCmpxchg {
                replacement,
                expected,
                addr,
                dst_old,
                ..
            } => {
                v.use_(replacement);
                v.op(expected, Use, Early, fixed(rax));
                v.amode(addr);
                v.op(dst_old.reg_mut(), Def, Late, fixed(rax));
            }
            MInst::XmmRmR {
                src1, src2, dst, ..
            } => {
                let i = v.use_(src1);
                v.rm(src2);
                v.reuse(dst, i);
            }
            MInst::XmmRmRVex {
                src1, src2, dst, ..
            } => {
                v.use_(src1);
                v.rm(src2);
                v.def(dst);
            }
            MInst::XmmCmp { src1, src2, .. } => {
                v.use_(src1);
                v.rm(src2);
            }
            MInst::XmmFma { a, b, c, dst, .. } => {
                let i = v.use_(a);
                v.use_(b);
                v.use_(c);
                v.reuse(dst, i);
            }
            MInst::XmmPinsrw { src, dst } => {
                v.rm(src);
                v.def(dst);
            }
            MInst::F16Store { src, tmp, dst } => {
                v.use_(src);
                v.amode(dst);
                v.op(tmp.reg_mut(), Def, Early, C::Reg);
            }
            MInst::LockCmpxchg16b(args) => {
                let Cmpxchg16bArgs {
                    addr,
                    expected_lo,
                    expected_hi,
                    replacement_lo,
                    replacement_hi,
                    dst_lo,
                    dst_hi,
                } = &mut **args;
                use super::regs::enc::{RBX, RCX, RDX};
                v.op(expected_lo, Use, Early, fixed(rax));
                v.op(expected_hi, Use, Early, fixed(RDX));
                v.op(replacement_lo, Use, Early, fixed(RBX));
                v.op(replacement_hi, Use, Early, fixed(RCX));
                v.amode(addr);
                v.op(dst_lo.reg_mut(), Def, Late, fixed(rax));
                v.op(dst_hi.reg_mut(), Def, Late, fixed(RDX));
            }
            MInst::AtomicRmw128Seq(args) => {
                let AtomicRmw128Args {
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
                    ..
                } = &mut **args;
                // Everything read inside the loop is an early use and the
                // loop's registers are early defs, so they never share.
                use super::regs::enc::{RBX, RCX, RDX};
                v.op(old_lo, Use, Early, fixed(rax));
                v.op(old_hi, Use, Early, fixed(RDX));
                v.amode(addr);
                v.use_(operand_lo);
                v.use_(operand_hi);
                v.op(temp.reg_mut(), Def, Early, C::Reg);
                v.op(new_lo.reg_mut(), Def, Early, fixed(RBX));
                v.op(new_hi.reg_mut(), Def, Early, fixed(RCX));
                v.op(dst_lo.reg_mut(), Def, Late, fixed(rax));
                v.op(dst_hi.reg_mut(), Def, Late, fixed(RDX));
            }
            MInst::ReturnCall { info } => {
                let ReturnCallInfo { target, uses, .. } = &mut **info;
                if let ReturnCallTarget::Reg(r) = target {
                    v.op(r, Use, Early, fixed(super::regs::enc::R11));
                }
                for (r, p) in uses.iter_mut() {
                    v.op(r, Use, Early, C::FixedReg(*p));
                }
            }
        }

        fn call_operands<F: FnMut(&mut Reg, OperandConstraint, OperandKind, OperandPos)>(
            f: &mut F,
            info: &mut CallInfo,
        ) {
            for (r, p) in info.uses.iter_mut() {
                f(r, C::FixedReg(*p), Use, Early);
            }
            for (r, p) in info.defs.iter_mut() {
                f(r.reg_mut(), C::FixedReg(*p), Def, Late);
            }
        }
    }

    /// Physical registers clobbered by this instruction beyond its defs
    /// (calls only: the call's clobber set minus its fixed defs).
    pub fn clobbers(&self) -> PRegSet {
        match self {
            MInst::CallKnown { info, .. } | MInst::CallUnknown { info, .. } => {
                // regalloc2 requires fixed defs not to be clobbers too.
                let mut set = info.clobbers;
                for (_, p) in &info.defs {
                    set.remove(*p);
                }
                set
            }
            _ => PRegSet::empty(),
        }
    }

    /// Whether this instruction ends a block (return, jump, trap).
    pub fn is_terminator(&self) -> bool {
        matches!(
            self,
            MInst::Ret { .. }
                | MInst::ReturnCall { .. }
                | MInst::JmpKnown { .. }
                | MInst::JmpCond { .. }
                | MInst::JmpUnknown { .. }
                | MInst::JmpTableSeq { .. }
                | MInst::Ud2 { .. }
        ) || matches!(
            self,
            MInst::CallKnown { info, .. } | MInst::CallUnknown { info, .. }
                if info.try_call.is_some()
        )
    }

    /// A register-to-register move of `class`-sized values (for the
    /// allocator's moves): `mov` for GPRs, `movaps` for XMMs.
    pub fn gen_move(dst: Writable<Reg>, src: Reg) -> MInst {
        match src.class() {
            regalloc2::RegClass::Int => MInst::MovRR {
                size: OperandSize::Size64,
                src,
                dst,
            },
            _ => MInst::XmmMovRM {
                op: XmmMovOp::Movaps,
                src: RegMem::Reg(src),
                dst,
            },
        }
    }

    /// Reloads a register of any class from `addr` (a spill slot): a 64-bit
    /// `mov` for GPRs, a 16-byte `movdqu` for XMM registers (so spill slots
    /// of the float/vector class are 16 bytes).
    pub fn gen_load(dst: Writable<Reg>, addr: Amode) -> MInst {
        match dst.to_reg().class() {
            regalloc2::RegClass::Int => MInst::Mov64MR { src: addr, dst },
            _ => MInst::XmmMovRM {
                op: XmmMovOp::Movdqu,
                src: RegMem::Mem(addr),
                dst,
            },
        }
    }

    /// Spills a register of any class to `addr` (see [`MInst::gen_load`]).
    pub fn gen_store(src: Reg, addr: Amode) -> MInst {
        match src.class() {
            regalloc2::RegClass::Int => MInst::MovRM {
                size: OperandSize::Size64,
                src,
                dst: addr,
            },
            _ => MInst::XmmStore {
                op: XmmMovOp::Movdqu,
                src,
                dst: addr,
            },
        }
    }

    /// Spills the whole register `src` to regalloc2 spill slot `slot`: 8
    /// bytes for a GPR, 16 (`movdqu`, so two 8-byte slots) for an XMM.
    pub fn gen_spill(slot: regalloc2::SpillSlot, src: PReg) -> MInst {
        let addr = Amode::SpillSlot {
            slot: slot.index() as u32,
        };
        MInst::gen_store(Reg::from(src), addr)
    }

    /// Reloads the whole register `dst` from spill slot `slot`.
    pub fn gen_reload(dst: PReg, slot: regalloc2::SpillSlot) -> MInst {
        let addr = Amode::SpillSlot {
            slot: slot.index() as u32,
        };
        MInst::gen_load(Writable::from_reg(Reg::from(dst)), addr)
    }

    /// If this is a plain whole-register copy, its `(dst, src)`.
    pub fn is_move(&self) -> Option<(Writable<Reg>, Reg)> {
        match self {
            MInst::MovRR {
                size: OperandSize::Size64,
                src,
                dst,
            } => Some((*dst, *src)),
            MInst::XmmMovRM {
                op: XmmMovOp::Movaps,
                src: RegMem::Reg(src),
                dst,
            } => Some((*dst, *src)),
            _ => None,
        }
    }

    /// Whether this is a call.
    pub fn is_call(&self) -> bool {
        matches!(self, MInst::CallKnown { .. } | MInst::CallUnknown { .. })
    }

    /// Loads `imm` into `dst` with the shortest encoding.
    pub fn imm(size: OperandSize, imm: u64, dst: Writable<Reg>) -> MInst {
        MInst::MovImm { size, imm, dst }
    }

    /// `dst = src1 op src2`.
    pub fn alu(
        size: OperandSize,
        op: AluOp,
        src1: Reg,
        src2: RegMemImm,
        dst: Writable<Reg>,
    ) -> MInst {
        MInst::AluRmiR {
            size,
            op,
            src1,
            src2,
            dst,
        }
    }

    /// Intel-syntax text for debugging and golden tests.
    pub fn pretty(&self) -> String {
        let r = |r: &Reg, b: u8| show_reg(*r, b);
        let w = |r: &Writable<Reg>, b: u8| show_reg(r.to_reg(), b);
        match self {
            MInst::AluRmiR {
                size,
                op,
                src1,
                src2,
                dst,
            } => {
                let b = size.bytes();
                let mut s = format!("{} {}, {}", op.name(), w(dst, b), src2.pretty(b));
                if dst.to_reg() != *src1 {
                    s.push_str(&format!(" ; src1={}", r(src1, b)));
                }
                s
            }
            MInst::AluRM {
                size,
                op,
                src,
                addr,
            } => {
                let b = size.bytes();
                format!(
                    "{} {} ptr {}, {}",
                    op.name(),
                    size.ptr_name(),
                    addr.pretty(),
                    r(src, b)
                )
            }
            MInst::AluMI {
                size,
                op,
                imm,
                addr,
            } => format!(
                "{} {} ptr {}, {}",
                op.name(),
                size.ptr_name(),
                addr.pretty(),
                RegMemImm::Imm(*imm).pretty(size.bytes())
            ),
            MInst::CmpRmiR {
                size,
                op,
                src1,
                src2,
            } => {
                let b = size.bytes();
                match (op, src2) {
                    // `test r/m, reg` is the only memory form.
                    (CmpOp::Test, RegMemImm::Mem(_)) => {
                        format!("test {}, {}", src2.pretty(b), r(src1, b))
                    }
                    (CmpOp::Test, _) => format!("test {}, {}", r(src1, b), src2.pretty(b)),
                    (CmpOp::Cmp, _) => format!("cmp {}, {}", r(src1, b), src2.pretty(b)),
                }
            }
            MInst::Imul {
                size, src2, dst, ..
            } => {
                let b = no8(*size);
                format!("imul {}, {}", w(dst, b), src2.pretty(b))
            }
            MInst::ImulImm {
                size,
                src,
                imm,
                dst,
            } => {
                let b = no8(*size);
                let imm = pretty_imm(sext_at(*imm as i64, b));
                match src {
                    RegMem::Reg(s) if *s == dst.to_reg() => format!("imul {}, {imm}", w(dst, b)),
                    _ => format!("imul {}, {}, {imm}", w(dst, b), src.pretty(b)),
                }
            }
            MInst::MulWide {
                size, signed, src2, ..
            } => {
                let n = if *signed { "imul" } else { "mul" };
                format!("{n} {}", src2.pretty(size.bytes()))
            }
            MInst::Div {
                size,
                signed,
                divisor,
                ..
            } => {
                let n = if *signed { "idiv" } else { "div" };
                format!("{n} {}", divisor.pretty(size.bytes()))
            }
            MInst::SignExtendData { size, .. } => match size {
                OperandSize::Size8 => "cbw",
                OperandSize::Size16 => "cwd",
                OperandSize::Size32 => "cdq",
                OperandSize::Size64 => "cqo",
            }
            .to_string(),
            MInst::Unary { size, op, dst, .. } => {
                let n = if *op == UnaryOp::Neg { "neg" } else { "not" };
                format!("{n} {}", w(dst, size.bytes()))
            }
            MInst::Shift {
                size,
                kind,
                amount,
                dst,
                ..
            } => {
                let a = match amount {
                    ShiftAmount::Cl(_) => "cl".to_string(),
                    ShiftAmount::Imm(i) => pretty_imm(*i as i8 as i64),
                };
                format!("{} {}, {a}", kind.name(), w(dst, size.bytes()))
            }
            MInst::ShiftX {
                size,
                kind,
                src,
                amount,
                dst,
            } => {
                let b = size.bytes();
                format!(
                    "{} {}, {}, {}",
                    kind.name(),
                    w(dst, b),
                    r(src, b),
                    r(amount, b)
                )
            }
            // ---- BMI1/BMI2 ----
            MInst::BmiUnary { size, op, src, dst } => {
                let b = size.bytes();
                format!("{} {}, {}", op.name(), w(dst, b), r(src, b))
            }
            MInst::Andn {
                size,
                src1,
                src2,
                dst,
            } => {
                let b = size.bytes();
                format!("andn {}, {}, {}", w(dst, b), r(src1, b), r(src2, b))
            }
            MInst::Bzhi {
                size,
                src,
                index,
                dst,
            } => {
                let b = size.bytes();
                format!("bzhi {}, {}, {}", w(dst, b), r(src, b), r(index, b))
            }
            MInst::Rorx {
                size,
                src,
                imm,
                dst,
            } => {
                let b = size.bytes();
                format!(
                    "rorx {}, {}, {}",
                    w(dst, b),
                    r(src, b),
                    pretty_imm(*imm as i8 as i64)
                )
            }
            MInst::MulxHi {
                size, src2, dst, ..
            } => {
                let b = size.bytes();
                format!("mulx {}, {}, {}", w(dst, b), w(dst, b), r(src2, b))
            }
            // ---- end of BMI1/BMI2 ----
            MInst::Lea { size, addr, dst } => {
                let b = if *size == OperandSize::Size32 { 4 } else { 8 };
                format!("lea {}, {}", w(dst, b), addr.pretty())
            }
            MInst::LeaScaled {
                size,
                index,
                shift,
                dst,
            } => {
                let b = if *size == OperandSize::Size32 { 4 } else { 8 };
                // `*1` shown too: there is no base, the register is an index.
                format!("lea {}, [{}*{}]", w(dst, b), r(index, 8), 1u8 << shift)
            }
            MInst::MovRR { size, src, dst } => {
                let b = if *size == OperandSize::Size64 { 8 } else { 4 };
                format!("mov {}, {}", w(dst, b), r(src, b))
            }
            MInst::ZeroReg { dst } if dst.to_reg().class() == regalloc2::RegClass::Float => {
                format!("xorps {}, {}", w(dst, 16), w(dst, 16))
            }
            MInst::ZeroReg { dst } => format!("xor {}, {}", w(dst, 4), w(dst, 4)),
            MInst::MovImm { size, imm, dst } => {
                // Mirrors the encoding choice of `emit`.
                if *size != OperandSize::Size64 || *imm <= u32::MAX as u64 {
                    format!(
                        "mov {}, {}",
                        w(dst, 4),
                        pretty_imm(*imm as u32 as i32 as i64)
                    )
                } else if i32::try_from(*imm as i64).is_ok() {
                    format!("mov {}, {}", w(dst, 8), pretty_imm(*imm as i64))
                } else {
                    format!("movabs {}, {}", w(dst, 8), pretty_imm(*imm as i64))
                }
            }
            MInst::MovzxRmR { ext, src, dst } => {
                if *ext == ExtMode::LQ {
                    format!("mov {}, {}", w(dst, 4), src.pretty(4))
                } else {
                    format!(
                        "movzx {}, {}",
                        w(dst, ext.dst_bytes()),
                        src.pretty(ext.src_bytes())
                    )
                }
            }
            MInst::MovsxRmR { ext, src, dst } => {
                let n = if *ext == ExtMode::LQ {
                    "movsxd"
                } else {
                    "movsx"
                };
                format!(
                    "{n} {}, {}",
                    w(dst, ext.dst_bytes()),
                    src.pretty(ext.src_bytes())
                )
            }
            MInst::Mov64MR { src, dst } => format!("mov {}, qword ptr {}", w(dst, 8), src.pretty()),
            MInst::MovRM { size, src, dst } => format!(
                "mov {} ptr {}, {}",
                size.ptr_name(),
                dst.pretty(),
                r(src, size.bytes())
            ),
            MInst::MovImmM { size, imm, dst } => format!(
                "mov {} ptr {}, {}",
                size.ptr_name(),
                dst.pretty(),
                pretty_imm(sext_at(*imm as i64, size.bytes()))
            ),
            MInst::Setcc { cc, dst } => format!("set{cc} {}", w(dst, 1)),
            MInst::Cmove {
                size,
                cc,
                consequent,
                dst,
                ..
            } => {
                let b = no8(*size);
                format!("cmov{cc} {}, {}", w(dst, b), consequent.pretty(b))
            }
            MInst::JmpKnown { dst } => format!("jmp {dst}"),
            MInst::JmpCond {
                cc,
                taken,
                not_taken,
            } => format!("j{cc} {taken}; jmp {not_taken}"),
            MInst::JmpIf { cc, taken } => format!("j{cc} {taken}"),
            MInst::JmpUnknown { target } => format!("jmp {}", target.pretty(8)),
            MInst::JmpTableSeq {
                idx,
                tmp1,
                tmp2,
                default,
                targets,
            } => {
                let t: Vec<String> = targets.iter().map(|l| l.to_string()).collect();
                format!(
                    "jmp_table_seq idx={}, tmp1={}, tmp2={}, default={default}, targets=[{}]",
                    r(idx, 8),
                    w(tmp1, 8),
                    w(tmp2, 8),
                    t.join(", ")
                )
            }
            MInst::CallKnown { target, info } => {
                format!("call {target:?}{}", try_call_suffix(info))
            }
            MInst::CallUnknown { target, info } => {
                format!("call {}{}", target.pretty(8), try_call_suffix(info))
            }
            MInst::LoadExtName {
                target,
                offset,
                dst,
                mode: ExtNameMode::Abs8,
            } => format!("movabs {}, {target:?}+{offset}", w(dst, 8)),
            MInst::LoadExtName {
                target,
                offset,
                dst,
                mode: ExtNameMode::RipRel,
            } => format!("lea {}, [rip+{target:?}+{offset}]", w(dst, 8)),
            MInst::LoadExtName {
                target,
                offset,
                dst,
                mode: ExtNameMode::Got,
            } => format!("mov {}, [rip+{target:?}@GOTPCREL]+{offset}", w(dst, 8)),
            MInst::Ret { .. } => "ret".to_string(),
            MInst::Ud2 { code } => format!("ud2 ; trap={code}"),
            MInst::TrapIf { cc, code } => format!("j{cc} trap ; trap={code}"),
            MInst::StackProbe {
                frame_size,
                guard_size,
                kind,
            } => format!("probe_stack {kind:?} frame={frame_size} guard={guard_size}"),
            MInst::Args { args } => {
                let a: Vec<String> = args
                    .iter()
                    .map(|(r, p)| format!("{}={p}", show_reg(r.to_reg(), 8)))
                    .collect();
                format!("args {}", a.join(", "))
            }
            MInst::Push64 { src } => format!("push {}", src.pretty(8)),
            MInst::Pop64 { dst } => format!("pop {}", w(dst, 8)),
            MInst::Bswap { size, dst, .. } => match size {
                OperandSize::Size8 => "nop ; bswap8".to_string(),
                OperandSize::Size16 => format!("rol {}, 0x8", w(dst, 2)),
                _ => format!("bswap {}", w(dst, size.bytes())),
            },
            MInst::BitCount { size, op, src, dst } => {
                let b = no8(*size);
                format!("{} {}, {}", op.name(), w(dst, b), src.pretty(b))
            }
            MInst::Xchg {
                size, addr, dst, ..
            } => format!(
                "xchg {} ptr {}, {}",
                size.ptr_name(),
                addr.pretty(),
                w(dst, size.bytes())
            ),
            MInst::LockCmpxchg {
                size,
                replacement,
                addr,
                ..
            } => format!(
                "lock cmpxchg {} ptr {}, {}",
                size.ptr_name(),
                addr.pretty(),
                r(replacement, size.bytes())
            ),
            MInst::LockXadd {
                size,
                addr,
                dst_old,
                ..
            } => format!(
                "lock xadd {} ptr {}, {}",
                size.ptr_name(),
                addr.pretty(),
                w(dst_old, size.bytes())
            ),
            MInst::Mfence => "mfence".to_string(),
            MInst::AtomicRmwSeq {
                size,
                op,
                addr,
                operand,
                temp,
                dst_old,
            } => format!(
                "atomic_rmw_seq {op:?} {} ptr {}, {} ; temp {} old {}",
                size.ptr_name(),
                addr.pretty(),
                show_reg(*operand, size.bytes()),
                show_reg(temp.to_reg(), 8),
                show_reg(dst_old.to_reg(), 8)
            ),
            MInst::Nop { len } => format!("nop ; len={len}"),
            MInst::XmmRmR { op, src2, dst, .. } => {
                format!(
                    "{} {}, {}",
                    op.name(),
                    w(dst, 16),
                    src2.pretty(op.mem_bytes())
                )
            }
            MInst::XmmRmRVex {
                op,
                src1,
                src2,
                dst,
            } => {
                format!(
                    "v{} {}, {}, {}",
                    op.name(),
                    w(dst, 16),
                    r(src1, 16),
                    src2.pretty(op.mem_bytes())
                )
            }
            MInst::XmmMovRM { op, src, dst } => {
                format!(
                    "{} {}, {}",
                    op.name(),
                    w(dst, 16),
                    src.pretty(op.mem_bytes())
                )
            }
            MInst::XmmStore { op, src, dst } => format!(
                "{} {} ptr {}, {}",
                op.name(),
                size_ptr(op.mem_bytes()),
                dst.pretty(),
                r(src, 16)
            ),
            MInst::XmmRound {
                double,
                src,
                imm,
                dst,
            } => {
                let (n, b) = if *double {
                    ("roundsd", 8)
                } else {
                    ("roundss", 4)
                };
                format!("{n} {}, {}, {imm:#x}", w(dst, 16), src.pretty(b))
            }
            MInst::XmmCmp { double, src1, src2 } => {
                let (n, b) = if *double {
                    ("ucomisd", 8)
                } else {
                    ("ucomiss", 4)
                };
                format!("{n} {}, {}", r(src1, 16), src2.pretty(b))
            }
            MInst::GprToXmm {
                op,
                src_size,
                src,
                dst,
            } => {
                let b = src_size.at_least_32().bytes();
                let n = match op {
                    GprToXmmOp::Mov if b == 8 => "movq",
                    GprToXmmOp::Mov => "movd",
                    GprToXmmOp::Cvtsi2ss => "cvtsi2ss",
                    GprToXmmOp::Cvtsi2sd => "cvtsi2sd",
                };
                format!("{n} {}, {}", w(dst, 16), src.pretty(b))
            }
            MInst::XmmToGpr {
                op,
                dst_size,
                src,
                dst,
            } => {
                let b = dst_size.at_least_32().bytes();
                let (n, sb) = match op {
                    // A memory source is emitted as a plain load.
                    XmmToGprOp::Mov if matches!(src, RegMem::Mem(_)) => ("mov", b),
                    XmmToGprOp::Mov if b == 8 => ("movq", 8),
                    XmmToGprOp::Mov => ("movd", 4),
                    XmmToGprOp::Cvttss2si => ("cvttss2si", 4),
                    XmmToGprOp::Cvttsd2si => ("cvttsd2si", 8),
                };
                format!("{n} {}, {}", w(dst, b), src.pretty(sb))
            }
            MInst::XmmFma {
                double, b, c, dst, ..
            } => {
                let n = if *double {
                    "vfmadd213sd"
                } else {
                    "vfmadd213ss"
                };
                format!("{n} {}, {}, {}", w(dst, 16), r(b, 16), r(c, 16))
            }
            MInst::XmmPinsrw { src, dst } => {
                let s = match src {
                    RegMem::Reg(g) => r(g, 4),
                    RegMem::Mem(_) => src.pretty(2),
                };
                format!("pinsrw {}, {s}, 0x0", w(dst, 16))
            }
            MInst::F16Store { src, tmp, dst } => format!(
                "pextrw {}, {}, 0x0; mov word ptr {}, {}",
                w(tmp, 4),
                r(src, 16),
                dst.pretty(),
                w(tmp, 2)
            ),
            MInst::LockCmpxchg16b(a) => {
                format!("lock cmpxchg16b xmmword ptr {}", a.addr.pretty())
            }
            MInst::AtomicRmw128Seq(a) => format!(
                "atomic_rmw128_seq {} xmmword ptr {}, {}:{} ; temp {}",
                a.op.map_or("Xchg".to_string(), |o| format!("{o:?}")),
                a.addr.pretty(),
                r(&a.operand_hi, 8),
                r(&a.operand_lo, 8),
                w(&a.temp, 8)
            ),
            MInst::ReturnCall { info } => match &info.target {
                ReturnCallTarget::Known(t) => {
                    format!("return_call {t:?} ; stack_args={}", info.stack_args)
                }
                ReturnCallTarget::Reg(r) => {
                    format!(
                        "return_call {} ; stack_args={}",
                        show_reg(*r, 8),
                        info.stack_args
                    )
                }
            },
        }
    }
}

impl MInst {
    /// The instruction as emitted with `avx` (`EmitState::avx`): the XMM
    /// instructions whose encoding the emitter picks print their VEX form
    /// (a `v` name, the extra source where the form has one); everything
    /// else as [`MInst::pretty`].
    pub fn pretty_at(&self, avx: bool) -> String {
        let p = self.pretty();
        if !avx {
            return p;
        }
        let w = |r: &Writable<Reg>| show_reg(r.to_reg(), 16);
        match self {
            MInst::ZeroReg { dst } if dst.to_reg().class() == regalloc2::RegClass::Float => {
                format!("vxorps {}, {}, {}", w(dst), w(dst), w(dst))
            }
            MInst::XmmMovRM { .. } | MInst::XmmStore { .. } | MInst::XmmCmp { .. } => {
                format!("v{p}")
            }
            MInst::GprToXmm {
                op: GprToXmmOp::Mov,
                ..
            } => format!("v{p}"),
            MInst::XmmToGpr { op, src, .. }
                if !matches!((op, src), (XmmToGprOp::Mov, RegMem::Mem(_))) =>
            {
                format!("v{p}")
            }
            // `cvtsi2sd x, src` -> `vxorps x, x, x; vcvtsi2sd x, x, src`;
            // `roundsd x, src, imm` -> `vroundsd x, s, src, imm` (s = src
            // for a register source, x otherwise).
            MInst::GprToXmm { dst, .. } => {
                let d = w(dst);
                let (name, rest) = p.split_once(", ").unwrap_or((&p, ""));
                format!("vxorps {d}, {d}, {d}; v{name}, {d}, {rest}")
            }
            MInst::XmmRound { src, dst, .. } => {
                let s = match src {
                    RegMem::Reg(r) => show_reg(*r, 16),
                    RegMem::Mem(_) => w(dst),
                };
                let (name, rest) = p.split_once(", ").unwrap_or((&p, ""));
                format!("v{name}, {s}, {rest}")
            }
            _ => p,
        }
    }
}

impl std::fmt::Display for MInst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.pretty())
    }
}

#[cfg(test)]
mod tests {
    use super::super::emit::X64LabelUse;
    use super::super::regs::{self, enc};
    use super::*;
    use crate::machinst::buffer::MachBuffer;
    use regalloc2::{RegClass, VReg};
    use std::collections::HashMap;

    fn v(n: usize) -> Reg {
        Reg::from(VReg::new(
            crate::machinst::reg::PINNED_VREGS + n,
            RegClass::Int,
        ))
    }
    fn vf(n: usize) -> Reg {
        Reg::from(VReg::new(
            crate::machinst::reg::PINNED_VREGS + n,
            RegClass::Float,
        ))
    }
    fn wv(n: usize) -> Writable<Reg> {
        Writable::from_reg(v(n))
    }

    type Op = (Reg, OperandKind, OperandPos, OperandConstraint);

    fn ops(i: &mut MInst) -> Vec<Op> {
        let mut out = Vec::new();
        i.get_operands(&mut |r, c, k, p| out.push((*r, k, p, c)));
        out
    }

    #[test]
    fn two_address_alu_reuses_src1() {
        use OperandConstraint as C;
        use OperandKind::*;
        use OperandPos::*;
        let mut i = MInst::alu(
            OperandSize::Size64,
            AluOp::Add,
            v(1),
            RegMemImm::Mem(Amode::imm_reg_reg_shift(0, v(2), v(3), 3)),
            wv(4),
        );
        assert_eq!(
            ops(&mut i),
            vec![
                (v(1), Use, Early, C::Reg),
                (v(2), Use, Early, C::Reg),
                (v(3), Use, Early, C::Reg),
                (v(4), Def, Late, C::Reuse(0)),
            ]
        );
    }

    #[test]
    fn fixed_registers() {
        use OperandConstraint as C;
        let rax = C::FixedReg(regs::gpr_preg(enc::RAX));
        let rdx = C::FixedReg(regs::gpr_preg(enc::RDX));
        let rcx = C::FixedReg(regs::gpr_preg(enc::RCX));
        let mut div = MInst::Div {
            size: OperandSize::Size32,
            signed: true,
            dividend_lo: v(1),
            dividend_hi: v(2),
            divisor: RegMem::Reg(v(3)),
            dst_quot: wv(4),
            dst_rem: wv(5),
            trap: TrapCode::INTEGER_DIVISION_BY_ZERO,
        };
        let c: Vec<_> = ops(&mut div).into_iter().map(|o| o.3).collect();
        assert_eq!(c, vec![rax, rdx, C::Reg, rax, rdx]);
        let mut sh = MInst::Shift {
            size: OperandSize::Size64,
            kind: ShiftKind::Sar,
            src: v(1),
            amount: ShiftAmount::Cl(v(2)),
            dst: wv(3),
        };
        let c: Vec<_> = ops(&mut sh).into_iter().map(|o| o.3).collect();
        assert_eq!(c, vec![C::Reg, rcx, C::Reuse(0)]);
    }

    /// A toy allocator that follows the visitor contract: fixed constraints
    /// get their register, reuse gets the reused operand's register, others
    /// get a fresh register; then the instruction must emit without hitting
    /// an internal assertion (every register physical, reuse respected).
    fn allocate_and_emit(mut inst: MInst) {
        let o = ops(&mut inst);
        let mut free_int: Vec<u8> = vec![3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let mut free_xmm: Vec<u8> = (0..16).rev().collect();
        let mut assign: Vec<Reg> = Vec::new();
        let mut by_vreg: HashMap<Reg, Reg> = HashMap::new();
        for (idx, (r, k, _p, c)) in o.iter().enumerate() {
            let a = if r.is_real() {
                *r
            } else {
                match c {
                    OperandConstraint::FixedReg(p) => Reg::from(*p),
                    OperandConstraint::Reuse(i) => {
                        assert!(*i < idx, "reuse of a later operand");
                        assert_eq!(o[*i].1, OperandKind::Use, "reuse of a def");
                        assert_eq!(*k, OperandKind::Def, "reuse on a use");
                        assert_eq!(o[*i].0.class(), r.class());
                        assign[*i]
                    }
                    _ => match by_vreg.get(r) {
                        Some(a) if *k == OperandKind::Use => *a,
                        _ => {
                            let e = if r.class() == RegClass::Int {
                                free_int.pop().unwrap()
                            } else {
                                free_xmm.pop().unwrap()
                            };
                            if r.class() == RegClass::Int {
                                regs::gpr(e)
                            } else {
                                regs::xmm(e)
                            }
                        }
                    },
                }
            };
            by_vreg.insert(*r, a);
            assign.push(a);
        }
        let mut n = 0;
        inst.get_operands(&mut |r, _, _, _| {
            *r = assign[n];
            n += 1;
        });
        assert_eq!(n, assign.len());
        let mut buf = MachBuffer::<X64LabelUse>::new();
        let l = buf.get_label();
        inst.emit(&mut buf);
        buf.bind_label(l);
        let f = buf.finish().unwrap();
        assert!(!f.data.is_empty() || matches!(inst, MInst::Nop { len: 0 }));
    }

    #[test]
    fn visitor_contract_allows_allocation() {
        let mem = || Amode::imm_reg_reg_shift(16, v(20), v(21), 2);
        let l = MachLabel::from_block(0);
        let call_info = || {
            Box::new(CallInfo {
                uses: smallvec::smallvec![(v(30), regs::gpr_preg(enc::RDI))],
                defs: smallvec::smallvec![(wv(31), regs::gpr_preg(enc::RAX))],
                clobbers: regs::sysv_clobbers(),
                callee_pop: 0,
                try_call: None,
            })
        };
        let s64 = OperandSize::Size64;
        let insts = vec![
            MInst::alu(s64, AluOp::Sub, v(1), RegMemImm::Reg(v(2)), wv(3)),
            MInst::alu(s64, AluOp::Xor, v(1), RegMemImm::Mem(mem()), wv(3)),
            MInst::AluRM {
                size: s64,
                op: AluOp::Add,
                src: v(1),
                addr: mem(),
            },
            MInst::CmpRmiR {
                size: s64,
                op: CmpOp::Test,
                src1: v(1),
                src2: RegMemImm::Imm(3),
            },
            MInst::Imul {
                size: s64,
                src1: v(1),
                src2: RegMem::Mem(mem()),
                dst: wv(2),
            },
            MInst::ImulImm {
                size: s64,
                src: RegMem::Reg(v(1)),
                imm: 7,
                dst: wv(2),
            },
            MInst::MulWide {
                size: s64,
                signed: false,
                src1: v(1),
                src2: RegMem::Reg(v(2)),
                dst_lo: wv(3),
                dst_hi: wv(4),
            },
            MInst::SignExtendData {
                size: s64,
                src: v(1),
                dst: wv(2),
            },
            MInst::Unary {
                size: s64,
                op: UnaryOp::Neg,
                src: v(1),
                dst: wv(2),
            },
            MInst::Shift {
                size: s64,
                kind: ShiftKind::Shl,
                src: v(1),
                amount: ShiftAmount::Cl(v(2)),
                dst: wv(3),
            },
            MInst::Lea {
                size: s64,
                addr: mem(),
                dst: wv(1),
            },
            MInst::LeaScaled {
                size: s64,
                index: v(1),
                shift: 3,
                dst: wv(2),
            },
            MInst::Setcc {
                cc: CC::L,
                dst: wv(1),
            },
            MInst::Cmove {
                size: s64,
                cc: CC::Z,
                consequent: RegMem::Reg(v(1)),
                alternative: v(2),
                dst: wv(3),
            },
            MInst::JmpTableSeq {
                idx: v(1),
                tmp1: wv(2),
                tmp2: wv(3),
                default: l,
                targets: vec![l, l].into_boxed_slice(),
            },
            MInst::CallKnown {
                target: CallTarget::LibCall(crate::machinst::buffer::LibCall::FmaF64),
                info: call_info(),
            },
            MInst::CallUnknown {
                target: RegMem::Reg(v(1)),
                info: call_info(),
            },
            MInst::Ret {
                rets: smallvec::smallvec![(v(1), regs::gpr_preg(enc::RAX))],
            },
            MInst::Bswap {
                size: s64,
                src: v(1),
                dst: wv(2),
            },
            MInst::Xchg {
                size: s64,
                operand: v(1),
                addr: mem(),
                dst: wv(2),
            },
            MInst::LockCmpxchg {
                size: s64,
                replacement: v(1),
                expected: v(2),
                addr: mem(),
                dst_old: wv(3),
            },
            MInst::LockXadd {
                size: s64,
                operand: v(1),
                addr: mem(),
                dst_old: wv(2),
            },
            MInst::XmmRmR {
                op: SseOp::Addsd,
                src1: vf(1),
                src2: RegMem::Reg(vf(2)),
                dst: Writable::from_reg(vf(3)),
            },
            MInst::XmmCmp {
                double: false,
                src1: vf(1),
                src2: RegMem::Mem(mem()),
            },
            MInst::GprToXmm {
                op: GprToXmmOp::Cvtsi2sd,
                src_size: s64,
                src: RegMem::Reg(v(1)),
                dst: Writable::from_reg(vf(2)),
            },
            MInst::XmmToGpr {
                op: XmmToGprOp::Cvttsd2si,
                dst_size: s64,
                src: RegMem::Reg(vf(1)),
                dst: wv(2),
            },
            MInst::gen_load(wv(1), Amode::imm_reg(8, regs::rsp())),
            MInst::gen_store(vf(1), Amode::imm_reg(8, regs::rsp())),
            MInst::gen_move(Writable::from_reg(vf(1)), vf(2)),
        ];
        for i in insts {
            allocate_and_emit(i);
        }
    }

    #[test]
    fn pretty_virtual_and_physical() {
        let i = MInst::alu(
            OperandSize::Size32,
            AluOp::Add,
            v(1),
            RegMemImm::Imm(-3),
            wv(1),
        );
        assert_eq!(i.to_string(), "add %v193il, -0x3");
        let i = MInst::Mov64MR {
            src: Amode::imm_reg_reg_shift(-16, regs::rbp(), regs::r12(), 3),
            dst: Writable::from_reg(regs::r13()),
        };
        assert_eq!(i.pretty(), "mov r13, qword ptr [rbp+r12*8-0x10]");
    }
}

#[cfg(test)]
mod size_tests {
    /// Instructions are stored by the million: keep them small.
    #[test]
    fn minst_size() {
        assert!(std::mem::size_of::<super::MInst>() <= 40);
        assert_eq!(std::mem::size_of::<super::Amode>(), 16);
    }
}
