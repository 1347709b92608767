//! The aarch64 machine instruction: one variant per encoding class (not per
//! mnemonic), each with an opcode enum that selects the class's opcode bits
//! in `emit.rs`, and the operand visitor that tells register allocation what
//! each variant reads and writes.

use super::args::*;
use super::regs;
use crate::machinst::buffer::{MachLabel, RelocTarget};
use crate::machinst::inst::{OperandVisitor, OperandVisitorExt};
use crate::machinst::reg::{Reg, Writable};
use kiln_ir::TrapCode;
use regalloc2::{PReg, PRegSet};

/// Two-register-source integer operations (shifted/extended register forms
/// and, for the first eight, the 12-bit and logical immediate forms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Adds,
    Subs,
    And,
    Orr,
    Eor,
    Ands,
    Bic,
    Orn,
    Eon,
    Bics,
    Adc,
    Adcs,
    Sbc,
    Sbcs,
    Lslv,
    Lsrv,
    Asrv,
    Rorv,
    Udiv,
    Sdiv,
    Smulh,
    Umulh,
}

/// Three-source multiply-accumulate operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp3 {
    Madd,
    Msub,
    /// 32x32 -> 64 signed multiply-add (`smaddl`).
    Smaddl,
    Umaddl,
}

/// One-source bit operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitOp {
    Rbit,
    Clz,
    Cls,
    Rev16,
    /// Byte reverse within 32-bit words (`rev32`, or `rev` at 32 bits).
    Rev32,
    /// Byte reverse of 64 bits (`rev` at 64 bits).
    Rev64,
}

/// Conditional select family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CSelOp {
    Csel,
    Csinc,
    Csinv,
    Csneg,
}

/// Wide moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MoveWideOp {
    Movn,
    Movz,
}

/// Bitfield moves (the base of shifts by immediate and extensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BfmOp {
    Sbfm,
    Bfm,
    Ubfm,
}

/// One-source FP operations (`fmov`/`fabs`/`fneg`/`fsqrt`/rounding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FpuOp1 {
    Mov,
    Abs,
    Neg,
    Sqrt,
    /// Round to nearest, ties to even (`frintn`).
    RintN,
    /// Toward +inf (`frintp`).
    RintP,
    /// Toward -inf (`frintm`).
    RintM,
    /// Toward zero (`frintz`).
    RintZ,
}

/// Two-source FP operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FpuOp2 {
    Mul,
    Div,
    Add,
    Sub,
    Max,
    Min,
}

/// Three-source fused FP operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FpuOp3 {
    /// `rn * rm + ra`
    Fmadd,
    /// `ra - rn * rm`
    Fmsub,
    /// `-(rn * rm) - ra`
    Fnmadd,
    /// `rn * rm - ra`
    Fnmsub,
}

/// What a load reads and how it extends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadKind {
    ULoad8,
    SLoad8,
    ULoad16,
    SLoad16,
    ULoad32,
    SLoad32,
    Load64,
    FpuLoad16,
    FpuLoad32,
    FpuLoad64,
    FpuLoad128,
}

impl LoadKind {
    /// Bytes accessed.
    pub fn bytes(self) -> u32 {
        match self {
            LoadKind::ULoad8 | LoadKind::SLoad8 => 1,
            LoadKind::ULoad16 | LoadKind::SLoad16 | LoadKind::FpuLoad16 => 2,
            LoadKind::ULoad32 | LoadKind::SLoad32 | LoadKind::FpuLoad32 => 4,
            LoadKind::Load64 | LoadKind::FpuLoad64 => 8,
            LoadKind::FpuLoad128 => 16,
        }
    }
    pub fn is_fpu(self) -> bool {
        matches!(
            self,
            LoadKind::FpuLoad16 | LoadKind::FpuLoad32 | LoadKind::FpuLoad64 | LoadKind::FpuLoad128
        )
    }
}

/// What a store writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreKind {
    Store8,
    Store16,
    Store32,
    Store64,
    FpuStore16,
    FpuStore32,
    FpuStore64,
    FpuStore128,
}

impl StoreKind {
    pub fn bytes(self) -> u32 {
        match self {
            StoreKind::Store8 => 1,
            StoreKind::Store16 | StoreKind::FpuStore16 => 2,
            StoreKind::Store32 | StoreKind::FpuStore32 => 4,
            StoreKind::Store64 | StoreKind::FpuStore64 => 8,
            StoreKind::FpuStore128 => 16,
        }
    }
    pub fn is_fpu(self) -> bool {
        matches!(
            self,
            StoreKind::FpuStore16
                | StoreKind::FpuStore32
                | StoreKind::FpuStore64
                | StoreKind::FpuStore128
        )
    }
}

/// Register kinds of `ldp`/`stp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PairKind {
    /// Two x registers.
    X64,
    /// Two d registers.
    D64,
}

/// The condition a conditional branch tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CondBrKind {
    /// `b.cond`
    Cond(Cond),
    /// `cbz rt`
    Zero(Reg, OperandSize),
    /// `cbnz rt`
    NotZero(Reg, OperandSize),
    /// `tbz rt, #bit`
    BitClear(Reg, u8),
    /// `tbnz rt, #bit`
    BitSet(Reg, u8),
}

impl CondBrKind {
    /// The branch taken exactly when this one is not.
    pub fn invert(self) -> CondBrKind {
        match self {
            CondBrKind::Cond(c) => CondBrKind::Cond(c.invert()),
            CondBrKind::Zero(r, s) => CondBrKind::NotZero(r, s),
            CondBrKind::NotZero(r, s) => CondBrKind::Zero(r, s),
            CondBrKind::BitClear(r, b) => CondBrKind::BitSet(r, b),
            CondBrKind::BitSet(r, b) => CondBrKind::BitClear(r, b),
        }
    }
    fn reg_mut(&mut self) -> Option<&mut Reg> {
        match self {
            CondBrKind::Cond(_) => None,
            CondBrKind::Zero(r, _)
            | CondBrKind::NotZero(r, _)
            | CondBrKind::BitClear(r, _)
            | CondBrKind::BitSet(r, _) => Some(r),
        }
    }
}

/// Instructions in the hint space (no-ops on cores without the feature):
/// pointer authentication of the return address and BTI landing pads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HintOp {
    /// Sign x30 with key A and sp (`paciasp`).
    Paciasp,
    /// Sign x30 with key B and sp (`pacibsp`).
    Pacibsp,
    /// Authenticate x30 with key A and sp (`autiasp`).
    Autiasp,
    /// Authenticate x30 with key B and sp (`autibsp`).
    Autibsp,
    /// A landing pad for calls (`bti c`).
    BtiC,
    /// Strip the pointer authentication code from x30 (`xpaclri`); a
    /// no-op on cores without pointer authentication, like the others.
    Xpaclri,
    /// Authenticate x17 with key A and the modifier in x16
    /// (`autia1716`): a tail call authenticates its return address with
    /// the entry sp while sp is still below the outgoing arguments.
    Autia1716,
    /// The same with key B (`autib1716`).
    Autib1716,
}

/// One-source SIMD operations on the low 64 bits of a vector register
/// (what the scalar set needs: population count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VecMiscOp {
    /// `cnt vd.8b, vn.8b`: set bits per byte.
    Cnt8B,
    /// `addv bd, vn.8b`: the sum of the eight bytes (upper bits zeroed).
    Addv8B,
    /// `mov vd.16b, vn.16b` (`orr` with both sources `vn`): a copy of the
    /// whole 128-bit register, for vectors and f128.
    Mov16B,
}

/// Three-register operations on whole 128-bit registers (f128 values and
/// their masks; vectors as bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VecAluOp {
    /// `and vd.16b, vn.16b, vm.16b`.
    And16B,
    /// `bic vd.16b, vn.16b, vm.16b`: vn & !vm.
    Bic16B,
    /// `orr vd.16b, vn.16b, vm.16b`.
    Orr16B,
    /// `zip1 vd.2d, vn.2d, vm.2d`: vd = [vn.d[0], vm.d[0]], the low
    /// doublewords side by side (two 64-bit halves into one q register).
    Zip1D2,
}

/// The read-modify-write operations of the atomics: the LSE forms
/// (`ld<op>al`, `swpal`) and the operations of the exclusive-pair loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    Add,
    Sub,
    And,
    /// LSE `ldclr`: memory & !operand.
    Clr,
    Or,
    Xor,
    Nand,
    Xchg,
    Umin,
    Umax,
    Smin,
    Smax,
}

/// Operands of `AtomicRmw128Loop` / `AtomicRmw128Casp` (boxed to keep
/// `MInst` small). Pairs are (low, high).
#[derive(Clone, Debug, PartialEq)]
pub struct AtomicRmw128Args {
    /// `None`: store the loaded value back (atomic load, exclusive loop
    /// only).
    pub op: Option<AtomicOp>,
    pub addr: Reg,
    /// The operand (`xzr` twice when `op` is `None`).
    pub operand: [Reg; 2],
    /// The old value: the result.
    pub old: [Writable<Reg>; 2],
    /// The value stored.
    pub new: [Writable<Reg>; 2],
    /// The exclusive loop's status in `scratch[0]` (`scratch[1]` unused);
    /// the `casp` loop's copy of the expected value in both.
    pub scratch: [Writable<Reg>; 2],
}

/// Operands of `AtomicCas128Loop` / `AtomicCas128Lse`. Pairs are (low,
/// high).
#[derive(Clone, Debug, PartialEq)]
pub struct AtomicCas128Args {
    pub addr: Reg,
    /// `None` for the LSE atomic load.
    pub expected: Option<[Reg; 2]>,
    pub replacement: Option<[Reg; 2]>,
    pub old: [Writable<Reg>; 2],
    /// The exclusive loop's values to store and its status (unused with
    /// LSE).
    pub store: [Writable<Reg>; 2],
    pub status: Writable<Reg>,
}

/// Operands of a `ReturnCall` (boxed to keep `MInst` small).
#[derive(Clone, Debug, PartialEq)]
pub struct ReturnCallInfo {
    pub target: ReturnCallTarget,
    /// Register arguments (and x8, the return-area pointer passed on).
    pub uses: Vec<(Reg, PReg)>,
    /// Bytes of the callee's stack arguments (a multiple of 16).
    pub stack_args: u32,
}

/// The callee of a `ReturnCall`.
#[derive(Clone, Debug, PartialEq)]
pub enum ReturnCallTarget {
    /// `b target` with a `JUMP26` relocation.
    Known(RelocTarget),
    /// `br` through a register fixed to x9 ([`regs::TAIL_TARGET_ENC`]): a
    /// temporary that is neither an argument register nor one the
    /// sequence uses before the branch.
    Reg(Reg),
}

/// How `MInst::LoadExtName` forms a symbol's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtNameMode {
    /// `ldr rd, #8; b #12; .quad target+offset`: an `Abs8` relocation on
    /// the literal (`is_pic=false`).
    Literal,
    /// `adrp rd, target+offset; add rd, rd, :lo12:target+offset`
    /// (`Aarch64AdrPrelPgHi21` + `Aarch64AddAbsLo12Nc`): PC-relative, for a
    /// colocated symbol with `is_pic` (it cannot be preempted, so it needs
    /// no GOT slot; as x86-64's RIP-relative `lea`).
    PcRel,
    /// `adrp rd, :got:target; ldr rd, [rd, :got_lo12:target]`
    /// (`Aarch64AdrGotPage21` + `Aarch64Ld64GotLo12Nc`): the address from the
    /// symbol's GOT slot, for anything that may live in another module with
    /// `is_pic`. A GOT slot holds the symbol itself, so the offset must be
    /// 0 here: lowering adds it afterwards.
    Got,
}

/// An aarch64 machine instruction.
#[derive(Clone, Debug, PartialEq)]
pub enum MInst {
    /// `op rd, rn, rm`
    AluRRR {
        op: AluOp,
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
        rm: Reg,
    },
    /// `op rd, rn, rm, shift #amt`
    AluRRRShift {
        op: AluOp,
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
        rm: Reg,
        shift: ShiftOpAndAmt,
    },
    /// `op rd|sp, rn|sp, rm, extend #amt` (add/sub families only).
    AluRRRExtend {
        op: AluOp,
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
        rm: Reg,
        extend: ExtendOp,
        amt: u8,
    },
    /// `op rd|sp, rn|sp, #imm12{, lsl #12}` (add/sub families only).
    AluRRImm12 {
        op: AluOp,
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
        imm: Imm12,
    },
    /// `op rd|sp, rn, #bitmask` (and/orr/eor; ands writes xzr, not sp).
    AluRRImmLogic {
        op: AluOp,
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
        imm: ImmLogic,
    },
    /// `lsl|lsr|asr|ror rd, rn, #amt`
    AluRRImmShift {
        op: ShiftOp,
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
        amt: u8,
    },
    /// `op rd, rn, rm, ra`
    AluRRRR {
        op: AluOp3,
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
        rm: Reg,
        ra: Reg,
    },
    /// `op rd, rn`
    BitRR {
        op: BitOp,
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
    },
    /// A bitfield move with explicit fields (extensions, extracts).
    Bfm {
        op: BfmOp,
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
        immr: u8,
        imms: u8,
    },
    /// `movz`/`movn rd, #imm16, lsl #shift`
    MovWide {
        op: MoveWideOp,
        size: OperandSize,
        rd: Writable<Reg>,
        imm: MoveWideConst,
    },
    /// `movk rd, #imm16, lsl #shift`: keeps the other bits of `rn`, which
    /// is allocated to `rd`.
    MovK {
        size: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
        imm: MoveWideConst,
    },
    /// A register copy: `mov rd, rm` (`orr`, or `add #0` when either is sp).
    Mov {
        size: OperandSize,
        rd: Writable<Reg>,
        rm: Reg,
    },
    /// `csel`/`csinc`/`csinv`/`csneg rd, rn, rm, cond`
    CSel {
        op: CSelOp,
        size: OperandSize,
        cond: Cond,
        rd: Writable<Reg>,
        rn: Reg,
        rm: Reg,
    },
    /// `ccmp rn, rm, #nzcv, cond`
    CCmp {
        size: OperandSize,
        rn: Reg,
        rm: Reg,
        nzcv: u8,
        cond: Cond,
    },
    /// A load into `rd`.
    Load {
        kind: LoadKind,
        rd: Writable<Reg>,
        mem: AMode,
    },
    /// A store of `rd`.
    Store {
        kind: StoreKind,
        rd: Reg,
        mem: AMode,
    },
    /// `ldp rt, rt2, mem`
    LoadPair {
        kind: PairKind,
        rt: Writable<Reg>,
        rt2: Writable<Reg>,
        mem: PairAMode,
    },
    /// `stp rt, rt2, mem`
    StorePair {
        kind: PairKind,
        rt: Reg,
        rt2: Reg,
        mem: PairAMode,
    },
    /// The address `mem` denotes, into `rd` (frame offsets, spill slots).
    LoadAddr { rd: Writable<Reg>, mem: AMode },
    /// `adr rd, label`
    Adr { rd: Writable<Reg>, label: MachLabel },
    /// `b target`
    Jump { target: MachLabel },
    /// A two-way branch: `b<cond> taken; b not_taken` (the buffer drops
    /// the second when `not_taken` follows).
    CondBr {
        kind: CondBrKind,
        taken: MachLabel,
        not_taken: MachLabel,
    },
    /// `b<cond> target` alone, inside a sequence (never a block end).
    OneWayCondBr { kind: CondBrKind, target: MachLabel },
    /// `ret` (the epilogue is placed before it).
    Ret { rets: Vec<(Reg, PReg)> },
    /// `bl target` with a `CALL26` relocation.
    Call {
        target: RelocTarget,
        uses: Vec<(Reg, PReg)>,
        defs: Vec<(Writable<Reg>, PReg)>,
        clobbers: PRegSet,
        /// Bytes of stack arguments a `tail` callee pops: `sub sp, sp, #n`
        /// follows the call, before anything else can use sp.
        callee_pop: u32,
    },
    /// `blr rn`
    CallInd {
        rn: Reg,
        uses: Vec<(Reg, PReg)>,
        defs: Vec<(Writable<Reg>, PReg)>,
        clobbers: PRegSet,
        /// As for `Call`.
        callee_pop: u32,
    },
    /// A tail call (`return_call`, `return_call_indirect`): the callee's
    /// register arguments are fixed uses and its stack arguments are at
    /// `[sp, sp + stack_args)` (this frame's outgoing area). It needs the
    /// frame and the return-address protection, so the backend emits it
    /// (`tail::emit_return_call`): callee-saves and frame record restored,
    /// stack arguments moved to the top of the incoming area, `b`/`br`.
    ReturnCall { info: Box<ReturnCallInfo> },
    /// A `try_call` with handlers: `bl`/`blr` as `Call`/`CallInd`, then
    /// `b normal`; the call ends its block, its return address is an
    /// exception site whose handlers `info` lists (boxed: rare and large).
    TryCall { info: Box<TryCallInfo> },
    /// Defines the function's register arguments at entry (emits nothing).
    Args { args: Vec<(Writable<Reg>, PReg)> },
    /// `b.<cond>` to a trap island that holds `udf` with `code`.
    TrapIf { kind: CondBrKind, code: TrapCode },
    /// `udf #code`: a trap whose code is recorded at this offset.
    Udf { code: TrapCode },
    /// `brk #0`: a debugger trap.
    Brk,
    /// The prologue's stack-probe loop (physical registers only, after
    /// allocation): `x17 = sp - total`, then page by page `sub sp, sp,
    /// #guard; str xzr, [sp]` until `sp == x17` (x16 is free for a guard
    /// too large for an immediate). The prologue puts sp back afterwards.
    StackProbeLoop { total: u32, guard: u32 },
    /// A hint-space instruction (pointer authentication, BTI).
    Hint { op: HintOp },
    /// `op rd, rn` on FP registers.
    FpuRR {
        op: FpuOp1,
        size: ScalarSize,
        rd: Writable<Reg>,
        rn: Reg,
    },
    /// `op rd, rn, rm` on FP registers.
    FpuRRR {
        op: FpuOp2,
        size: ScalarSize,
        rd: Writable<Reg>,
        rn: Reg,
        rm: Reg,
    },
    /// `op rd, rn, rm, ra` on FP registers.
    FpuRRRR {
        op: FpuOp3,
        size: ScalarSize,
        rd: Writable<Reg>,
        rn: Reg,
        rm: Reg,
        ra: Reg,
    },
    /// `fcmp rn, rm`
    FpuCmp { size: ScalarSize, rn: Reg, rm: Reg },
    /// `fcsel rd, rn, rm, cond`
    FpuCSel {
        size: ScalarSize,
        cond: Cond,
        rd: Writable<Reg>,
        rn: Reg,
        rm: Reg,
    },
    /// `fcvt rd, rn` between FP widths.
    FpuCvt {
        from: ScalarSize,
        to: ScalarSize,
        rd: Writable<Reg>,
        rn: Reg,
    },
    /// `fcvtzs`/`fcvtzu rd, rn`: FP to integer, toward zero, saturating.
    FpuToInt {
        signed: bool,
        from: ScalarSize,
        to: OperandSize,
        rd: Writable<Reg>,
        rn: Reg,
    },
    /// `scvtf`/`ucvtf rd, rn`: integer to FP.
    IntToFpu {
        signed: bool,
        from: OperandSize,
        to: ScalarSize,
        rd: Writable<Reg>,
        rn: Reg,
    },
    /// `fmov s|d rd, w|x rn`: integer bits to an FP register.
    MovToFpu {
        size: ScalarSize,
        rd: Writable<Reg>,
        rn: Reg,
    },
    /// `fmov w|x rd, s|d rn`: FP bits to an integer register.
    MovFromFpu {
        size: ScalarSize,
        rd: Writable<Reg>,
        rn: Reg,
    },
    /// `ldar{b,h} rt, [rn]`: a load-acquire of `bytes` (zero-extended).
    LoadAcquire {
        bytes: u8,
        rt: Writable<Reg>,
        rn: Reg,
    },
    /// `stlr{b,h} rt, [rn]`: a store-release of `bytes`.
    StoreRelease { bytes: u8, rt: Reg, rn: Reg },
    /// `dmb ish`
    Fence,
    /// An LSE read-modify-write with acquire-release order:
    /// `ld<op>al{b,h} rs, rt, [rn]` or `swpal`; `rt` gets the old value.
    /// (Not for `Sub`/`And`/`Nand`: the lowering negates or inverts.)
    AtomicRmwLse {
        op: AtomicOp,
        bytes: u8,
        rs: Reg,
        rt: Writable<Reg>,
        rn: Reg,
    },
    /// `casal{b,h} rs, rt, [rn]`: `rs` holds the expected value on entry
    /// and the old value after (`old` is allocated to `expected`).
    AtomicCasLse {
        bytes: u8,
        old: Writable<Reg>,
        expected: Reg,
        replacement: Reg,
        rn: Reg,
    },
    /// A load-exclusive/store-exclusive loop computing `op` (one pseudo
    /// instruction so nothing is spilled inside the exclusive section):
    /// `again: ldaxr old, [addr]; new = old op operand; stlxr status, new,
    /// [addr]; cbnz status, again`. For narrow signed min/max the operand
    /// is sign-extended by the lowering and `new` first holds the
    /// sign-extended old value.
    AtomicRmwLoop {
        op: AtomicOp,
        bytes: u8,
        signed: bool,
        addr: Reg,
        operand: Reg,
        old: Writable<Reg>,
        new: Writable<Reg>,
        status: Writable<Reg>,
    },
    /// The compare-and-swap loop: `again: ldaxr old, [addr]; cmp old,
    /// expected; b.ne out; stlxr status, replacement, [addr]; cbnz status,
    /// again; out:` (`expected` is zero-extended by the lowering).
    AtomicCasLoop {
        bytes: u8,
        addr: Reg,
        expected: Reg,
        replacement: Reg,
        old: Writable<Reg>,
        status: Writable<Reg>,
    },
    /// An i128 read-modify-write as a load-exclusive/store-exclusive pair
    /// loop (one pseudo instruction so nothing is spilled inside the
    /// exclusive section): `again: ldaxp old_lo, old_hi, [addr]; new = old
    /// op operand; stlxp status, new_lo, new_hi, [addr]; cbnz status,
    /// again`. `Xchg` stores the operand itself; `op` `None` stores the
    /// loaded value back (an atomic load: `ldaxp` alone is single-copy
    /// atomic only when the paired store-exclusive succeeds).
    AtomicRmw128Loop(Box<AtomicRmw128Args>),
    /// An i128 read-modify-write with LSE: a `caspal` loop from a first
    /// guess read with `ldp` (checked by the `caspal`, which returns the
    /// current value when the guess was stale or torn): `ldp x0, x1,
    /// [addr]; again: mov status(expected copy); new(x2:x3) = old(x0:x1) op
    /// operand; caspal x0, x1, x2, x3, [addr]; cmp + ccmp against the
    /// copy; b.ne again`. `casp` needs even/odd register pairs: `old` is
    /// x0:x1 and `new` x2:x3 (fixed early defs); `copy` holds the guess.
    AtomicRmw128Casp(Box<AtomicRmw128Args>),
    /// The i128 compare-and-swap without LSE: `again: ldaxp old_lo,
    /// old_hi, [addr]; cmp old_lo, expected_lo; ccmp old_hi, expected_hi,
    /// #0, eq; csel store_lo, replacement_lo, old_lo, eq; csel store_hi,
    /// replacement_hi, old_hi, eq; stlxp status, store_lo, store_hi,
    /// [addr]; cbnz status, again`: a failed compare stores the old value
    /// back so that the load it returns is single-copy atomic.
    AtomicCas128Loop(Box<AtomicCas128Args>),
    /// `caspal x0, x1, x2, x3, [addr]` (LSE): expected in x0:x1,
    /// replacement in x2:x3, the old value back in x0:x1. With `load`, an
    /// atomic load: `caspal x0, x1, x0, x1, [addr]` compares with whatever
    /// x0:x1 hold and writes back the same value when it matches (no
    /// operands besides the address; `old` are early defs of x0:x1).
    AtomicCas128Lse(Box<AtomicCas128Args>),
    /// A `br_table` dispatch: `cmp idx, #len; b.hs default; csel tmp2,
    /// xzr, idx, hs; adr tmp1, table; ldrsw tmp2, [tmp1, tmp2, uxtw #2];
    /// add tmp1, tmp1, tmp2; br tmp1; table: .word target - table, ...`
    /// (`idx` is zero-extended by the lowering).
    JmpTable {
        idx: Reg,
        tmp1: Writable<Reg>,
        tmp2: Writable<Reg>,
        default: MachLabel,
        targets: Box<[MachLabel]>,
        /// `use_bti`: the table is `bti j; b target` pairs instead,
        /// reached with `add tmp1, tmp1, tmp2, lsl #3; br tmp1`.
        bti: bool,
    },
    /// The address of `target + offset`, formed as `mode` says.
    LoadExtName {
        rd: Writable<Reg>,
        target: RelocTarget,
        offset: i64,
        mode: ExtNameMode,
    },
    /// `op rd, rn, rm` on whole vector registers.
    VecRRR {
        op: VecAluOp,
        rd: Writable<Reg>,
        rn: Reg,
        rm: Reg,
    },
    /// `mov xd, vn.d[1]` (`umov`): the upper 64 bits of a q register.
    MovFromVecHi { rd: Writable<Reg>, rn: Reg },
    /// `op rd, rn` on vector registers.
    VecMisc {
        op: VecMiscOp,
        rd: Writable<Reg>,
        rn: Reg,
    },
}

impl MInst {
    /// Visits every register operand (see `machinst::inst`).
    pub fn get_operands(&mut self, v: &mut impl OperandVisitor) {
        match self {
            MInst::AluRRR { rd, rn, rm, .. }
            | MInst::AluRRRShift { rd, rn, rm, .. }
            | MInst::AluRRRExtend { rd, rn, rm, .. }
            | MInst::CSel { rd, rn, rm, .. }
            | MInst::FpuRRR { rd, rn, rm, .. }
            | MInst::VecRRR { rd, rn, rm, .. }
            | MInst::FpuCSel { rd, rn, rm, .. } => {
                v.reg_use(rn);
                v.reg_use(rm);
                v.reg_def(rd);
            }
            MInst::AluRRImm12 { rd, rn, .. }
            | MInst::AluRRImmLogic { rd, rn, .. }
            | MInst::AluRRImmShift { rd, rn, .. }
            | MInst::BitRR { rd, rn, .. }
            | MInst::Bfm { rd, rn, .. }
            | MInst::FpuRR { rd, rn, .. }
            | MInst::FpuCvt { rd, rn, .. }
            | MInst::FpuToInt { rd, rn, .. }
            | MInst::IntToFpu { rd, rn, .. }
            | MInst::MovToFpu { rd, rn, .. }
            | MInst::MovFromFpu { rd, rn, .. }
            | MInst::MovFromVecHi { rd, rn }
            | MInst::VecMisc { rd, rn, .. } => {
                v.reg_use(rn);
                v.reg_def(rd);
            }
            MInst::Mov { rd, rm, .. } => {
                v.reg_use(rm);
                v.reg_def(rd);
            }
            MInst::AluRRRR { rd, rn, rm, ra, .. } | MInst::FpuRRRR { rd, rn, rm, ra, .. } => {
                v.reg_use(rn);
                v.reg_use(rm);
                v.reg_use(ra);
                v.reg_def(rd);
            }
            MInst::MovWide { rd, .. } | MInst::Adr { rd, .. } | MInst::LoadExtName { rd, .. } => {
                v.reg_def(rd)
            }
            MInst::MovK { rd, rn, .. } => {
                v.reg_use(rn);
                v.reg_reuse_def(rd, 0);
            }
            MInst::CCmp { rn, rm, .. } | MInst::FpuCmp { rn, rm, .. } => {
                v.reg_use(rn);
                v.reg_use(rm);
            }
            MInst::Load { rd, mem, .. } | MInst::LoadAddr { rd, mem } => {
                amode_operands(mem, v);
                v.reg_def(rd);
            }
            MInst::Store { rd, mem, .. } => {
                v.reg_use(rd);
                amode_operands(mem, v);
            }
            MInst::LoadPair { rt, rt2, mem, .. } => {
                pair_operands(mem, v);
                v.reg_def(rt);
                v.reg_def(rt2);
            }
            MInst::StorePair { rt, rt2, mem, .. } => {
                v.reg_use(rt);
                v.reg_use(rt2);
                pair_operands(mem, v);
            }
            MInst::CondBr { kind, .. } | MInst::OneWayCondBr { kind, .. } => {
                if let Some(r) = kind.reg_mut() {
                    v.reg_use(r);
                }
            }
            MInst::Ret { rets } => {
                for (r, p) in rets {
                    v.reg_fixed_late_use(r, *p);
                }
            }
            MInst::Call { uses, defs, .. } => {
                for (r, p) in uses {
                    v.reg_fixed_use(r, *p);
                }
                for (r, p) in defs {
                    v.reg_fixed_def(r, *p);
                }
            }
            MInst::CallInd { rn, uses, defs, .. } => {
                v.reg_use(rn);
                for (r, p) in uses {
                    v.reg_fixed_use(r, *p);
                }
                for (r, p) in defs {
                    v.reg_fixed_def(r, *p);
                }
            }
            MInst::ReturnCall { info } => {
                let ReturnCallInfo { target, uses, .. } = &mut **info;
                for (r, p) in uses {
                    v.reg_fixed_use(r, *p);
                }
                if let ReturnCallTarget::Reg(r) = target {
                    v.reg_fixed_use(r, regs::xreg_preg(regs::TAIL_TARGET_ENC));
                }
            }
            MInst::TryCall { info } => {
                if let TryCallee::Reg(rn) = &mut info.callee {
                    v.reg_use(rn);
                }
                for (r, p) in &mut info.uses {
                    v.reg_fixed_use(r, *p);
                }
                for (r, p) in &mut info.defs {
                    v.reg_fixed_def(r, *p);
                }
            }
            MInst::Args { args } => {
                for (r, p) in args {
                    v.reg_fixed_def(r, *p);
                }
            }
            MInst::TrapIf { kind, .. } => {
                if let Some(r) = kind.reg_mut() {
                    v.reg_use(r);
                }
            }
            MInst::LoadAcquire { rt, rn, .. } => {
                v.reg_use(rn);
                v.reg_def(rt);
            }
            MInst::StoreRelease { rt, rn, .. } => {
                v.reg_use(rt);
                v.reg_use(rn);
            }
            MInst::AtomicRmwLse { rs, rt, rn, .. } => {
                v.reg_use(rs);
                v.reg_use(rn);
                v.reg_early_def(rt);
            }
            MInst::AtomicCasLse {
                old,
                expected,
                replacement,
                rn,
                ..
            } => {
                v.reg_use(expected);
                v.reg_use(replacement);
                v.reg_use(rn);
                v.reg_reuse_def(old, 0);
            }
            MInst::AtomicRmwLoop {
                addr,
                operand,
                old,
                new,
                status,
                ..
            } => {
                // The loop writes its temporaries while the inputs are
                // still needed (the next iteration reads them again).
                v.reg_use(addr);
                v.reg_use(operand);
                v.reg_early_def(old);
                v.reg_early_def(new);
                v.reg_early_def(status);
            }
            MInst::AtomicCasLoop {
                addr,
                expected,
                replacement,
                old,
                status,
                ..
            } => {
                v.reg_use(addr);
                v.reg_use(expected);
                v.reg_use(replacement);
                v.reg_early_def(old);
                v.reg_early_def(status);
            }
            MInst::AtomicRmw128Loop(a) => {
                // Everything read inside the loop is an early use and
                // everything written an early def: none of them share.
                let AtomicRmw128Args {
                    op,
                    addr,
                    operand,
                    old,
                    new,
                    scratch,
                } = &mut **a;
                v.reg_use(addr);
                if op.is_some() {
                    v.reg_use(&mut operand[0]);
                    v.reg_use(&mut operand[1]);
                }
                v.reg_early_def(&mut old[0]);
                v.reg_early_def(&mut old[1]);
                if op.is_some_and(|o| o != AtomicOp::Xchg) {
                    v.reg_early_def(&mut new[0]);
                    v.reg_early_def(&mut new[1]);
                }
                v.reg_early_def(&mut scratch[0]);
            }
            MInst::AtomicRmw128Casp(a) => {
                let AtomicRmw128Args {
                    addr,
                    operand,
                    old,
                    new,
                    scratch,
                    ..
                } = &mut **a;
                let early = regalloc2::OperandPos::Early;
                let fixed = |n| regalloc2::OperandConstraint::FixedReg(regs::xreg_preg(n));
                v.reg_use(addr);
                v.reg_use(&mut operand[0]);
                v.reg_use(&mut operand[1]);
                v.def_operand(&mut old[0], fixed(0), early);
                v.def_operand(&mut old[1], fixed(1), early);
                v.def_operand(&mut new[0], fixed(2), early);
                v.def_operand(&mut new[1], fixed(3), early);
                v.reg_early_def(&mut scratch[0]);
                v.reg_early_def(&mut scratch[1]);
            }
            MInst::AtomicCas128Loop(a) => {
                let AtomicCas128Args {
                    addr,
                    expected,
                    replacement,
                    old,
                    store,
                    status,
                } = &mut **a;
                v.reg_use(addr);
                for r in expected.iter_mut().chain(replacement.iter_mut()).flatten() {
                    v.reg_use(r);
                }
                v.reg_early_def(&mut old[0]);
                v.reg_early_def(&mut old[1]);
                v.reg_early_def(&mut store[0]);
                v.reg_early_def(&mut store[1]);
                v.reg_early_def(status);
            }
            MInst::AtomicCas128Lse(a) => {
                let AtomicCas128Args {
                    addr,
                    expected,
                    replacement,
                    old,
                    ..
                } = &mut **a;
                v.reg_use(addr);
                match (expected, replacement) {
                    (Some(e), Some(r)) => {
                        v.reg_fixed_use(&mut e[0], regs::xreg_preg(0));
                        v.reg_fixed_use(&mut e[1], regs::xreg_preg(1));
                        v.reg_fixed_use(&mut r[0], regs::xreg_preg(2));
                        v.reg_fixed_use(&mut r[1], regs::xreg_preg(3));
                        v.reg_fixed_def(&mut old[0], regs::xreg_preg(0));
                        v.reg_fixed_def(&mut old[1], regs::xreg_preg(1));
                    }
                    _ => {
                        // The atomic load: x0:x1 are read as they are, so
                        // they hold no input (early defs keep `addr` out).
                        let early = regalloc2::OperandPos::Early;
                        let fixed = |n| regalloc2::OperandConstraint::FixedReg(regs::xreg_preg(n));
                        v.def_operand(&mut old[0], fixed(0), early);
                        v.def_operand(&mut old[1], fixed(1), early);
                    }
                }
            }
            MInst::JmpTable {
                idx, tmp1, tmp2, ..
            } => {
                v.reg_use(idx);
                v.reg_early_def(tmp1);
                v.reg_early_def(tmp2);
            }
            MInst::Jump { .. }
            | MInst::Udf { .. }
            | MInst::Brk
            | MInst::Hint { .. }
            | MInst::StackProbeLoop { .. }
            | MInst::Fence => {}
        }
    }

    /// Registers a call clobbers beyond its defs.
    pub fn clobbers(&self) -> PRegSet {
        match self {
            MInst::Call { clobbers, defs, .. } | MInst::CallInd { clobbers, defs, .. } => {
                let mut c = *clobbers;
                for (_, p) in defs {
                    c.remove(*p);
                }
                c
            }
            MInst::TryCall { info } => {
                let mut c = info.clobbers;
                for (_, p) in &info.defs {
                    c.remove(*p);
                }
                c
            }
            _ => PRegSet::empty(),
        }
    }

    /// A whole-register copy for the register class of `dst`.
    pub fn gen_move(dst: Writable<Reg>, src: Reg) -> MInst {
        match src.class() {
            regalloc2::RegClass::Int => MInst::Mov {
                size: OperandSize::Size64,
                rd: dst,
                rm: src,
            },
            // The whole q register: the class also holds 128-bit vectors
            // and f128, and the copy costs the same as `fmov d`.
            _ => MInst::VecMisc {
                op: VecMiscOp::Mov16B,
                rd: dst,
                rn: src,
            },
        }
    }

    /// A load of an immediate: `movz`/`movn` and `movk`s, or one `orr` with
    /// a logical immediate. Uses `rd` as its own scratch.
    pub fn load_constant(rd: Writable<Reg>, value: u64, size: OperandSize) -> Vec<MInst> {
        let value = match size {
            OperandSize::Size32 => value & 0xffff_ffff,
            OperandSize::Size64 => value,
        };
        let chunks = size.bits() / 16;
        let chunk = |v: u64, i: u32| ((v >> (16 * i)) & 0xffff) as u16;
        let zeros = (0..chunks).filter(|&i| chunk(value, i) == 0).count();
        let ones = (0..chunks).filter(|&i| chunk(value, i) == 0xffff).count();
        // One instruction when possible: movz, movn, or orr with a bitmask.
        if let Some(imm) = MoveWideConst::maybe_from_u64(value) {
            if imm.shift as u32 * 16 < size.bits() {
                return vec![MInst::MovWide {
                    op: MoveWideOp::Movz,
                    size,
                    rd,
                    imm,
                }];
            }
        }
        let inverted = match size {
            OperandSize::Size32 => !value & 0xffff_ffff,
            OperandSize::Size64 => !value,
        };
        if let Some(imm) = MoveWideConst::maybe_from_u64(inverted) {
            if imm.shift as u32 * 16 < size.bits() {
                return vec![MInst::MovWide {
                    op: MoveWideOp::Movn,
                    size,
                    rd,
                    imm,
                }];
            }
        }
        if let Some(imm) = ImmLogic::maybe_from_u64(value, size) {
            return vec![MInst::AluRRImmLogic {
                op: AluOp::Orr,
                size,
                rd,
                rn: regs::zr(),
                imm,
            }];
        }
        // Otherwise start from whichever of movz/movn leaves fewer chunks
        // to patch with movk.
        let use_movn = ones > zeros;
        let skip = if use_movn { 0xffff } else { 0 };
        let mut out = Vec::with_capacity(4);
        for i in 0..chunks {
            let c = chunk(value, i);
            if c == skip {
                continue;
            }
            let shift = i as u8;
            if out.is_empty() {
                let (op, bits) = if use_movn {
                    (MoveWideOp::Movn, !c)
                } else {
                    (MoveWideOp::Movz, c)
                };
                out.push(MInst::MovWide {
                    op,
                    size,
                    rd,
                    imm: MoveWideConst { bits, shift },
                });
            } else {
                out.push(MInst::MovK {
                    size,
                    rd,
                    rn: rd.to_reg(),
                    imm: MoveWideConst { bits: c, shift },
                });
            }
        }
        out
    }
}

/// What a `TryCall` calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryCallee {
    /// `bl` with a `CALL26` relocation.
    Known(RelocTarget),
    /// `blr rn`.
    Reg(Reg),
}

/// The operands and successors of a `TryCall`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TryCallInfo {
    pub callee: TryCallee,
    /// Arguments in their fixed registers.
    pub uses: Vec<(Reg, PReg)>,
    /// Results and the exception payloads in their fixed registers (a
    /// payload register that also returns a result is defined once).
    pub defs: Vec<(Writable<Reg>, PReg)>,
    /// Every allocatable register: a throw lands in a handler with only
    /// sp and x29 restored (see `lower/try_call.rs`).
    pub clobbers: PRegSet,
    /// The normal-return block.
    pub normal: MachLabel,
    /// Tag (`None` = `default:`) and handler label, in match order.
    pub handlers: Vec<(Option<u32>, MachLabel)>,
    /// Bytes of stack arguments a `tail` callee pops: put back on the
    /// normal return (a handler is entered with sp reset from x29).
    pub callee_pop: u32,
}

fn amode_operands(mem: &mut AMode, v: &mut impl OperandVisitor) {
    match mem {
        AMode::UnsignedOffset { rn, .. }
        | AMode::Unscaled { rn, .. }
        | AMode::PreIndexed { rn, .. }
        | AMode::PostIndexed { rn, .. } => v.reg_use(rn),
        AMode::RegReg { rn, rm, .. } | AMode::RegExtended { rn, rm, .. } => {
            v.reg_use(rn);
            v.reg_use(rm);
        }
        AMode::SpOffset { .. }
        | AMode::FpOffset { .. }
        | AMode::SlotOffset { .. }
        | AMode::SpillSlot { .. }
        | AMode::Label { .. } => {}
    }
}

fn pair_operands(mem: &mut PairAMode, v: &mut impl OperandVisitor) {
    match mem {
        PairAMode::SignedOffset { rn, .. }
        | PairAMode::PreIndexed { rn, .. }
        | PairAMode::PostIndexed { rn, .. } => v.reg_use(rn),
    }
}
