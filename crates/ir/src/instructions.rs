//! The instruction set, defined once as data.
//!
//! [`OPCODES`] is the single table of every opcode: its text name, its
//! instruction format, its type constraints and its effects. The printer,
//! the reader and the verifier are all driven by it; nothing else lists
//! opcodes.

use crate::condcodes::{FloatCC, IntCC};
use crate::entities::*;
use crate::immediates::*;
use crate::memflags::MemFlags;
use crate::trapcode::TrapCode;
use crate::types::{Type, TypeSet};
use std::fmt;

/// The shape of an instruction's operands (its `InstructionData` variant).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum InstructionFormat {
    NullAry,
    Unary,
    UnaryImm,
    UnaryIeee16,
    UnaryIeee32,
    UnaryIeee64,
    UnaryConst,
    UnaryGlobalValue,
    Binary,
    BinaryImm8,
    Ternary,
    TernaryImm8,
    Shuffle,
    IntCompare,
    FloatCompare,
    Jump,
    Brif,
    BranchTable,
    MultiAry,
    Call,
    CallIndirect,
    TryCall,
    TryCallIndirect,
    FuncAddr,
    StackLoad,
    DynamicStackLoad,
    Load,
    Store,
    LoadNoOffset,
    StoreNoOffset,
    AtomicRmw,
    AtomicCas,
    Trap,
    CondTrap,
    IntAddTrap,
    ExceptionHandlerAddress,
}

impl InstructionFormat {
    /// Number of fixed value operands; variable operands (calls, returns)
    /// follow them.
    pub fn fixed_value_operands(self) -> usize {
        use InstructionFormat::*;
        match self {
            NullAry
            | UnaryImm
            | UnaryIeee16
            | UnaryIeee32
            | UnaryIeee64
            | UnaryConst
            | UnaryGlobalValue
            | Jump
            | MultiAry
            | Call
            | TryCall
            | FuncAddr
            | StackLoad
            | DynamicStackLoad
            | Trap
            | ExceptionHandlerAddress => 0,
            Unary | BinaryImm8 | Brif | BranchTable | CallIndirect | TryCallIndirect | Load
            | LoadNoOffset | CondTrap => 1,
            Binary | TernaryImm8 | Shuffle | IntCompare | FloatCompare | Store | StoreNoOffset
            | AtomicRmw | IntAddTrap => 2,
            Ternary | AtomicCas => 3,
        }
    }

    /// Whether value operands beyond the fixed ones are allowed.
    pub fn has_varargs(self) -> bool {
        use InstructionFormat::*;
        matches!(
            self,
            MultiAry | Call | CallIndirect | TryCall | TryCallIndirect
        )
    }
}

/// A constraint on one value operand or result, relative to the
/// instruction's controlling type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Constraint {
    /// Exactly the controlling type.
    Same,
    /// This type.
    Fixed(Type),
    /// Any type of the set, independent of the controlling type.
    Free(TypeSet),
    /// The comparison result type of the controlling type (`i8` for scalars).
    Truthy,
    /// Lanes of half the controlling type's width.
    HalfWidth,
    /// Lanes of double the controlling type's width.
    DoubleWidth,
    /// The lane type of the controlling vector type.
    Lane,
    /// A scalar integer strictly narrower than the controlling type.
    NarrowerInt,
    /// A scalar integer strictly wider than the controlling type.
    WiderInt,
    /// A float scalar of a different width than the controlling type.
    OtherFloat,
    /// Lanes of half the width and twice the count (`snarrow`).
    NarrowLanes,
    /// Lanes of double the width and half the count (`swiden_low`).
    WidenLanes,
    /// The fixed vector type of a dynamic one (`extract_vector`).
    FixedOfDynamic,
}

/// Effect flags of an opcode.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct OpcodeFlags(u16);

impl OpcodeFlags {
    pub const NONE: OpcodeFlags = OpcodeFlags(0);
    pub const TERMINATOR: OpcodeFlags = OpcodeFlags(1 << 0);
    pub const BRANCH: OpcodeFlags = OpcodeFlags(1 << 1);
    pub const CALL: OpcodeFlags = OpcodeFlags(1 << 2);
    pub const RETURN: OpcodeFlags = OpcodeFlags(1 << 3);
    pub const CAN_TRAP: OpcodeFlags = OpcodeFlags(1 << 4);
    pub const CAN_LOAD: OpcodeFlags = OpcodeFlags(1 << 5);
    pub const CAN_STORE: OpcodeFlags = OpcodeFlags(1 << 6);
    pub const SIDE_EFFECTS: OpcodeFlags = OpcodeFlags(1 << 7);

    pub const fn union(self, other: OpcodeFlags) -> OpcodeFlags {
        OpcodeFlags(self.0 | other.0)
    }
    pub const fn contains(self, other: OpcodeFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Everything known about an opcode.
#[derive(Debug)]
pub struct OpcodeInfo {
    pub name: &'static str,
    pub format: InstructionFormat,
    /// The set of the controlling type variable; `None` if not polymorphic.
    pub ctrl: Option<TypeSet>,
    /// The value operand the controlling type is read from; `None` means the
    /// text must give it as a suffix (`iconst.i32`).
    pub typevar_operand: Option<u8>,
    /// Constraints on the fixed value operands.
    pub args: &'static [Constraint],
    /// Constraints on the results (calls take theirs from the signature).
    pub results: &'static [Constraint],
    pub flags: OpcodeFlags,
}

macro_rules! flags {
    () => { OpcodeFlags::NONE };
    ($first:ident $(| $rest:ident)*) => {
        OpcodeFlags::$first$(.union(OpcodeFlags::$rest))*
    };
}

macro_rules! define_opcodes {
    ($(
        $variant:ident $name:literal $format:ident
        ctrl($($ctrl:ident)?) tv($($tv:literal)?)
        args($($arg:expr),*) res($($res:expr),*) [$($flag:ident)|*];
    )*) => {
        /// A CLIF opcode.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        #[repr(u8)]
        pub enum Opcode { $($variant),* }

        /// The opcode table, indexed by `Opcode as usize`.
        pub static OPCODES: &[OpcodeInfo] = &[$(
            OpcodeInfo {
                name: $name,
                format: InstructionFormat::$format,
                ctrl: define_opcodes!(@opt $(TypeSet::$ctrl)?),
                typevar_operand: define_opcodes!(@opt $($tv)?),
                args: &[$($arg),*],
                results: &[$($res),*],
                flags: flags!($($flag)|*),
            },
        )*];

        impl Opcode {
            /// Every opcode in table order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant),*];
        }
    };
    (@opt) => { None };
    (@opt $e:expr) => { Some($e) };
}

use Constraint::*;
const I8: Constraint = Fixed(Type::I8);
const I32: Constraint = Fixed(Type::I32);
const ADDR: Constraint = Free(TypeSet::IADDR);

define_opcodes! {
    // Control flow.
    Jump "jump" Jump ctrl() tv() args() res() [TERMINATOR | BRANCH];
    Brif "brif" Brif ctrl(INT_SCALAR) tv(0) args(Same) res() [TERMINATOR | BRANCH];
    BrTable "br_table" BranchTable ctrl() tv() args(I32) res() [TERMINATOR | BRANCH];
    Return "return" MultiAry ctrl() tv() args() res() [TERMINATOR | RETURN];
    Trap "trap" Trap ctrl() tv() args() res() [TERMINATOR | CAN_TRAP];
    Trapz "trapz" CondTrap ctrl(INT_SCALAR) tv(0) args(Same) res() [CAN_TRAP];
    Trapnz "trapnz" CondTrap ctrl(INT_SCALAR) tv(0) args(Same) res() [CAN_TRAP];
    Debugtrap "debugtrap" NullAry ctrl() tv() args() res() [SIDE_EFFECTS | CAN_LOAD | CAN_STORE];
    Call "call" Call ctrl() tv() args() res() [CALL];
    CallIndirect "call_indirect" CallIndirect ctrl(IADDR) tv(0) args(Same) res() [CALL];
    ReturnCall "return_call" Call ctrl() tv() args() res() [TERMINATOR | RETURN | CALL];
    ReturnCallIndirect "return_call_indirect" CallIndirect ctrl(IADDR) tv(0) args(Same) res() [TERMINATOR | RETURN | CALL];
    TryCall "try_call" TryCall ctrl() tv() args() res() [TERMINATOR | BRANCH | CALL];
    TryCallIndirect "try_call_indirect" TryCallIndirect ctrl(IADDR) tv(0) args(Same) res() [TERMINATOR | BRANCH | CALL];
    FuncAddr "func_addr" FuncAddr ctrl(IADDR) tv() args() res(Same) [];
    StackSwitch "stack_switch" Ternary ctrl(IADDR) tv(0) args(Same, Same, Same) res(Same) [SIDE_EFFECTS | CAN_LOAD | CAN_STORE | CALL];

    // Constants.
    Iconst "iconst" UnaryImm ctrl(NARROW_INT) tv() args() res(Same) [];
    F16const "f16const" UnaryIeee16 ctrl() tv() args() res(Fixed(Type::F16)) [];
    F32const "f32const" UnaryIeee32 ctrl() tv() args() res(Fixed(Type::F32)) [];
    F64const "f64const" UnaryIeee64 ctrl() tv() args() res(Fixed(Type::F64)) [];
    F128const "f128const" UnaryConst ctrl() tv() args() res(Fixed(Type::F128)) [];
    Vconst "vconst" UnaryConst ctrl(VECTOR) tv() args() res(Same) [];
    Nop "nop" NullAry ctrl() tv() args() res() [];

    // Integer arithmetic.
    Iadd "iadd" Binary ctrl(INT) tv(0) args(Same, Same) res(Same) [];
    Isub "isub" Binary ctrl(INT) tv(0) args(Same, Same) res(Same) [];
    Ineg "ineg" Unary ctrl(INT) tv(0) args(Same) res(Same) [];
    Iabs "iabs" Unary ctrl(INT) tv(0) args(Same) res(Same) [];
    Imul "imul" Binary ctrl(INT) tv(0) args(Same, Same) res(Same) [];
    Umulhi "umulhi" Binary ctrl(INT) tv(0) args(Same, Same) res(Same) [];
    Smulhi "smulhi" Binary ctrl(INT) tv(0) args(Same, Same) res(Same) [];
    Udiv "udiv" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same) [CAN_TRAP];
    Sdiv "sdiv" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same) [CAN_TRAP];
    Urem "urem" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same) [CAN_TRAP];
    Srem "srem" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same) [CAN_TRAP];
    Smin "smin" Binary ctrl(INT) tv(0) args(Same, Same) res(Same) [];
    Umin "umin" Binary ctrl(INT) tv(0) args(Same, Same) res(Same) [];
    Smax "smax" Binary ctrl(INT) tv(0) args(Same, Same) res(Same) [];
    Umax "umax" Binary ctrl(INT) tv(0) args(Same, Same) res(Same) [];
    UaddSat "uadd_sat" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(Same) [];
    SaddSat "sadd_sat" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(Same) [];
    UsubSat "usub_sat" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(Same) [];
    SsubSat "ssub_sat" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(Same) [];
    AvgRound "avg_round" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(Same) [];
    SqmulRoundSat "sqmul_round_sat" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(Same) [];
    IaddPairwise "iadd_pairwise" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(Same) [];

    // Arithmetic with overflow flags.
    UaddOverflow "uadd_overflow" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same, I8) [];
    SaddOverflow "sadd_overflow" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same, I8) [];
    UsubOverflow "usub_overflow" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same, I8) [];
    SsubOverflow "ssub_overflow" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same, I8) [];
    UmulOverflow "umul_overflow" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same, I8) [];
    SmulOverflow "smul_overflow" Binary ctrl(INT_SCALAR) tv(0) args(Same, Same) res(Same, I8) [];
    UaddOverflowCin "uadd_overflow_cin" Ternary ctrl(INT_SCALAR) tv(0) args(Same, Same, I8) res(Same, I8) [];
    SaddOverflowCin "sadd_overflow_cin" Ternary ctrl(INT_SCALAR) tv(0) args(Same, Same, I8) res(Same, I8) [];
    UsubOverflowBin "usub_overflow_bin" Ternary ctrl(INT_SCALAR) tv(0) args(Same, Same, I8) res(Same, I8) [];
    SsubOverflowBin "ssub_overflow_bin" Ternary ctrl(INT_SCALAR) tv(0) args(Same, Same, I8) res(Same, I8) [];
    UaddOverflowTrap "uadd_overflow_trap" IntAddTrap ctrl(IADDR) tv(0) args(Same, Same) res(Same) [CAN_TRAP];

    // Bitwise operations, shifts and rotates, bit counting.
    Band "band" Binary ctrl(ANY) tv(0) args(Same, Same) res(Same) [];
    Bor "bor" Binary ctrl(ANY) tv(0) args(Same, Same) res(Same) [];
    Bxor "bxor" Binary ctrl(ANY) tv(0) args(Same, Same) res(Same) [];
    Bnot "bnot" Unary ctrl(ANY) tv(0) args(Same) res(Same) [];
    Ishl "ishl" Binary ctrl(INT) tv(0) args(Same, Free(TypeSet::INT_SCALAR)) res(Same) [];
    Ushr "ushr" Binary ctrl(INT) tv(0) args(Same, Free(TypeSet::INT_SCALAR)) res(Same) [];
    Sshr "sshr" Binary ctrl(INT) tv(0) args(Same, Free(TypeSet::INT_SCALAR)) res(Same) [];
    Rotl "rotl" Binary ctrl(INT) tv(0) args(Same, Free(TypeSet::INT_SCALAR)) res(Same) [];
    Rotr "rotr" Binary ctrl(INT) tv(0) args(Same, Free(TypeSet::INT_SCALAR)) res(Same) [];
    Clz "clz" Unary ctrl(INT_SCALAR) tv(0) args(Same) res(Same) [];
    Cls "cls" Unary ctrl(INT_SCALAR) tv(0) args(Same) res(Same) [];
    Ctz "ctz" Unary ctrl(INT_SCALAR) tv(0) args(Same) res(Same) [];
    Popcnt "popcnt" Unary ctrl(INT) tv(0) args(Same) res(Same) [];
    Bitrev "bitrev" Unary ctrl(INT_SCALAR) tv(0) args(Same) res(Same) [];
    Bswap "bswap" Unary ctrl(WIDE_INT) tv(0) args(Same) res(Same) [];

    // Comparisons and selection.
    Icmp "icmp" IntCompare ctrl(INT) tv(0) args(Same, Same) res(Truthy) [];
    Fcmp "fcmp" FloatCompare ctrl(FLOAT) tv(0) args(Same, Same) res(Truthy) [];
    Select "select" Ternary ctrl(ANY) tv(1) args(Free(TypeSet::INT_SCALAR), Same, Same) res(Same) [];
    SelectSpectreGuard "select_spectre_guard" Ternary ctrl(ANY) tv(1) args(Free(TypeSet::INT_SCALAR), Same, Same) res(Same) [];
    Bitselect "bitselect" Ternary ctrl(ANY) tv(1) args(Same, Same, Same) res(Same) [];
    Bmask "bmask" Unary ctrl(INT) tv() args(Free(TypeSet::INT)) res(Same) [];

    // Integer width changes.
    Uextend "uextend" Unary ctrl(WIDE_INT) tv() args(NarrowerInt) res(Same) [];
    Sextend "sextend" Unary ctrl(WIDE_INT) tv() args(NarrowerInt) res(Same) [];
    Ireduce "ireduce" Unary ctrl(NARROW_INT) tv() args(WiderInt) res(Same) [];
    Iconcat "iconcat" Binary ctrl(NARROW_INT) tv(0) args(Same, Same) res(DoubleWidth) [];
    Isplit "isplit" Unary ctrl(WIDE_INT) tv(0) args(Same) res(HalfWidth, HalfWidth) [];

    // Float conversions.
    Fpromote "fpromote" Unary ctrl(FLOAT_SCALAR) tv() args(OtherFloat) res(Same) [];
    Fdemote "fdemote" Unary ctrl(FLOAT_SCALAR) tv() args(OtherFloat) res(Same) [];
    Fvdemote "fvdemote" Unary ctrl() tv() args(Fixed(Type::F64X2)) res(Fixed(Type::F32X4)) [];
    FvpromoteLow "fvpromote_low" Unary ctrl() tv() args(Fixed(Type::F32X4)) res(Fixed(Type::F64X2)) [];
    FcvtToUint "fcvt_to_uint" Unary ctrl(INT_SCALAR) tv() args(Free(TypeSet::FLOAT_SCALAR)) res(Same) [CAN_TRAP];
    FcvtToSint "fcvt_to_sint" Unary ctrl(INT_SCALAR) tv() args(Free(TypeSet::FLOAT_SCALAR)) res(Same) [CAN_TRAP];
    FcvtToUintSat "fcvt_to_uint_sat" Unary ctrl(INT) tv() args(Free(TypeSet::FLOAT)) res(Same) [];
    FcvtToSintSat "fcvt_to_sint_sat" Unary ctrl(INT) tv() args(Free(TypeSet::FLOAT)) res(Same) [];
    FcvtFromUint "fcvt_from_uint" Unary ctrl(FLOAT) tv() args(Free(TypeSet::INT)) res(Same) [];
    FcvtFromSint "fcvt_from_sint" Unary ctrl(FLOAT) tv() args(Free(TypeSet::INT)) res(Same) [];
    FcvtLowFromSint "fcvt_low_from_sint" Unary ctrl(FLOAT_VECTOR) tv() args(Free(TypeSet::INT_VECTOR)) res(Same) [];
    Bitcast "bitcast" LoadNoOffset ctrl(ANY) tv() args(Free(TypeSet::ANY)) res(Same) [];

    // Vector lane operations.
    Snarrow "snarrow" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(NarrowLanes) [];
    Unarrow "unarrow" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(NarrowLanes) [];
    Uunarrow "uunarrow" Binary ctrl(INT_VECTOR) tv(0) args(Same, Same) res(NarrowLanes) [];
    SwidenLow "swiden_low" Unary ctrl(INT_VECTOR) tv(0) args(Same) res(WidenLanes) [];
    SwidenHigh "swiden_high" Unary ctrl(INT_VECTOR) tv(0) args(Same) res(WidenLanes) [];
    UwidenLow "uwiden_low" Unary ctrl(INT_VECTOR) tv(0) args(Same) res(WidenLanes) [];
    UwidenHigh "uwiden_high" Unary ctrl(INT_VECTOR) tv(0) args(Same) res(WidenLanes) [];
    ScalarToVector "scalar_to_vector" Unary ctrl(VECTOR) tv() args(Lane) res(Same) [];
    Splat "splat" Unary ctrl(VECTOR) tv() args(Lane) res(Same) [];
    Swizzle "swizzle" Binary ctrl() tv() args(Fixed(Type::I8X16), Fixed(Type::I8X16)) res(Fixed(Type::I8X16)) [];
    Insertlane "insertlane" TernaryImm8 ctrl(VECTOR) tv(0) args(Same, Lane) res(Same) [];
    Extractlane "extractlane" BinaryImm8 ctrl(VECTOR) tv(0) args(Same) res(Lane) [];
    Shuffle "shuffle" Shuffle ctrl() tv() args(Fixed(Type::I8X16), Fixed(Type::I8X16)) res(Fixed(Type::I8X16)) [];
    VanyTrue "vany_true" Unary ctrl(VECTOR) tv(0) args(Same) res(I8) [];
    VallTrue "vall_true" Unary ctrl(VECTOR) tv(0) args(Same) res(I8) [];
    VhighBits "vhigh_bits" Unary ctrl(INT_SCALAR) tv() args(Free(TypeSet::VECTOR)) res(Same) [];
    ExtractVector "extract_vector" BinaryImm8 ctrl(DYNAMIC) tv(0) args(Same) res(FixedOfDynamic) [];
    X86Blendv "x86_blendv" Ternary ctrl(VECTOR) tv(1) args(Same, Same, Same) res(Same) [];
    X86Pshufb "x86_pshufb" Binary ctrl() tv() args(Fixed(Type::I8X16), Fixed(Type::I8X16)) res(Fixed(Type::I8X16)) [];
    X86Pmulhrsw "x86_pmulhrsw" Binary ctrl() tv() args(Fixed(Type::I16X8), Fixed(Type::I16X8)) res(Fixed(Type::I16X8)) [];
    X86Pmaddubsw "x86_pmaddubsw" Binary ctrl() tv() args(Fixed(Type::I8X16), Fixed(Type::I8X16)) res(Fixed(Type::I16X8)) [];
    X86Cvtt2dq "x86_cvtt2dq" Unary ctrl() tv() args(Fixed(Type::F32X4)) res(Fixed(Type::I32X4)) [];

    // Floating point.
    Fadd "fadd" Binary ctrl(FLOAT) tv(0) args(Same, Same) res(Same) [];
    Fsub "fsub" Binary ctrl(FLOAT) tv(0) args(Same, Same) res(Same) [];
    Fmul "fmul" Binary ctrl(FLOAT) tv(0) args(Same, Same) res(Same) [];
    Fdiv "fdiv" Binary ctrl(FLOAT) tv(0) args(Same, Same) res(Same) [];
    Sqrt "sqrt" Unary ctrl(FLOAT) tv(0) args(Same) res(Same) [];
    Fma "fma" Ternary ctrl(FLOAT) tv(0) args(Same, Same, Same) res(Same) [];
    Fneg "fneg" Unary ctrl(FLOAT) tv(0) args(Same) res(Same) [];
    Fabs "fabs" Unary ctrl(FLOAT) tv(0) args(Same) res(Same) [];
    Fcopysign "fcopysign" Binary ctrl(FLOAT) tv(0) args(Same, Same) res(Same) [];
    Fmin "fmin" Binary ctrl(FLOAT) tv(0) args(Same, Same) res(Same) [];
    Fmax "fmax" Binary ctrl(FLOAT) tv(0) args(Same, Same) res(Same) [];
    Ceil "ceil" Unary ctrl(FLOAT) tv(0) args(Same) res(Same) [];
    Floor "floor" Unary ctrl(FLOAT) tv(0) args(Same) res(Same) [];
    Trunc "trunc" Unary ctrl(FLOAT) tv(0) args(Same) res(Same) [];
    Nearest "nearest" Unary ctrl(FLOAT) tv(0) args(Same) res(Same) [];

    // Memory.
    Load "load" Load ctrl(ANY) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Store "store" Store ctrl(ANY) tv(0) args(Same, ADDR) res() [CAN_STORE | CAN_TRAP];
    Uload8 "uload8" Load ctrl(WIDE_INT) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Sload8 "sload8" Load ctrl(WIDE_INT) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Uload16 "uload16" Load ctrl(WIDE_INT) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Sload16 "sload16" Load ctrl(WIDE_INT) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Uload32 "uload32" Load ctrl() tv() args(ADDR) res(Fixed(Type::I64)) [CAN_LOAD | CAN_TRAP];
    Sload32 "sload32" Load ctrl() tv() args(ADDR) res(Fixed(Type::I64)) [CAN_LOAD | CAN_TRAP];
    Uload8x8 "uload8x8" Load ctrl(INT_VECTOR) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Sload8x8 "sload8x8" Load ctrl(INT_VECTOR) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Uload16x4 "uload16x4" Load ctrl(INT_VECTOR) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Sload16x4 "sload16x4" Load ctrl(INT_VECTOR) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Uload32x2 "uload32x2" Load ctrl(INT_VECTOR) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Sload32x2 "sload32x2" Load ctrl(INT_VECTOR) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    Istore8 "istore8" Store ctrl(WIDE_INT) tv(0) args(Same, ADDR) res() [CAN_STORE | CAN_TRAP];
    Istore16 "istore16" Store ctrl(WIDE_INT) tv(0) args(Same, ADDR) res() [CAN_STORE | CAN_TRAP];
    Istore32 "istore32" Store ctrl(WIDE_INT) tv(0) args(Same, ADDR) res() [CAN_STORE | CAN_TRAP];
    StackAddr "stack_addr" StackLoad ctrl(IADDR) tv() args() res(Same) [];
    DynamicStackAddr "dynamic_stack_addr" DynamicStackLoad ctrl(IADDR) tv() args() res(Same) [];
    SymbolValue "symbol_value" UnaryGlobalValue ctrl(IADDR) tv() args() res(Same) [];
    TlsValue "tls_value" UnaryGlobalValue ctrl(IADDR) tv() args() res(Same) [];

    // Registers and the frame.
    GetPinnedReg "get_pinned_reg" NullAry ctrl(IADDR) tv() args() res(Same) [];
    SetPinnedReg "set_pinned_reg" Unary ctrl(IADDR) tv(0) args(Same) res() [SIDE_EFFECTS];
    GetFramePointer "get_frame_pointer" NullAry ctrl(IADDR) tv() args() res(Same) [];
    GetStackPointer "get_stack_pointer" NullAry ctrl(IADDR) tv() args() res(Same) [];
    GetReturnAddress "get_return_address" NullAry ctrl(IADDR) tv() args() res(Same) [];
    GetExceptionHandlerAddress "get_exception_handler_address" ExceptionHandlerAddress ctrl(IADDR) tv() args() res(Same) [];

    // Atomics.
    AtomicRmw "atomic_rmw" AtomicRmw ctrl(INT_SCALAR) tv() args(ADDR, Same) res(Same) [CAN_LOAD | CAN_STORE | CAN_TRAP];
    AtomicCas "atomic_cas" AtomicCas ctrl(INT_SCALAR) tv(1) args(ADDR, Same, Same) res(Same) [CAN_LOAD | CAN_STORE | CAN_TRAP];
    AtomicLoad "atomic_load" LoadNoOffset ctrl(INT_SCALAR) tv() args(ADDR) res(Same) [CAN_LOAD | CAN_TRAP];
    AtomicStore "atomic_store" StoreNoOffset ctrl(INT_SCALAR) tv(0) args(Same, ADDR) res() [CAN_STORE | CAN_TRAP];
    Fence "fence" NullAry ctrl() tv() args() res() [SIDE_EFFECTS | CAN_LOAD | CAN_STORE];

    // Miscellaneous.
    SequencePoint "sequence_point" NullAry ctrl() tv() args() res() [SIDE_EFFECTS];
}

impl Opcode {
    #[inline]
    pub fn info(self) -> &'static OpcodeInfo {
        &OPCODES[self as usize]
    }
    #[inline]
    pub fn name(self) -> &'static str {
        self.info().name
    }
    #[inline]
    pub fn format(self) -> InstructionFormat {
        self.info().format
    }
    /// Looks an opcode up by its text name.
    pub fn from_name(name: &str) -> Option<Opcode> {
        // A binary search would need a sorted copy; the table is small and
        // this runs only in the reader.
        Opcode::ALL.iter().copied().find(|op| op.name() == name)
    }
    /// Decodes `Opcode as u8`.
    pub fn from_u8(n: u8) -> Option<Opcode> {
        Opcode::ALL.get(n as usize).copied()
    }
    pub fn is_terminator(self) -> bool {
        self.info().flags.contains(OpcodeFlags::TERMINATOR)
    }
    pub fn is_branch(self) -> bool {
        self.info().flags.contains(OpcodeFlags::BRANCH)
    }
    pub fn is_call(self) -> bool {
        self.info().flags.contains(OpcodeFlags::CALL)
    }
    pub fn is_return(self) -> bool {
        self.info().flags.contains(OpcodeFlags::RETURN)
    }
    pub fn can_trap(self) -> bool {
        self.info().flags.contains(OpcodeFlags::CAN_TRAP)
    }
    pub fn can_load(self) -> bool {
        self.info().flags.contains(OpcodeFlags::CAN_LOAD)
    }
    pub fn can_store(self) -> bool {
        self.info().flags.contains(OpcodeFlags::CAN_STORE)
    }
    pub fn other_side_effects(self) -> bool {
        self.info().flags.contains(OpcodeFlags::SIDE_EFFECTS)
    }
    /// Whether an instruction with this opcode may be removed when its
    /// results are unused.
    pub fn is_pure(self) -> bool {
        let f = self.info().flags;
        !(f.contains(OpcodeFlags::TERMINATOR)
            || f.contains(OpcodeFlags::CALL)
            || f.contains(OpcodeFlags::CAN_TRAP)
            || f.contains(OpcodeFlags::CAN_STORE)
            || f.contains(OpcodeFlags::CAN_LOAD)
            || f.contains(OpcodeFlags::SIDE_EFFECTS))
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The operation of an `atomic_rmw`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AtomicRmwOp {
    Add,
    Sub,
    And,
    Nand,
    Or,
    Xor,
    Xchg,
    Umin,
    Umax,
    Smin,
    Smax,
}

impl AtomicRmwOp {
    pub const ALL: [AtomicRmwOp; 11] = [
        AtomicRmwOp::Add,
        AtomicRmwOp::Sub,
        AtomicRmwOp::And,
        AtomicRmwOp::Nand,
        AtomicRmwOp::Or,
        AtomicRmwOp::Xor,
        AtomicRmwOp::Xchg,
        AtomicRmwOp::Umin,
        AtomicRmwOp::Umax,
        AtomicRmwOp::Smin,
        AtomicRmwOp::Smax,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AtomicRmwOp::Add => "add",
            AtomicRmwOp::Sub => "sub",
            AtomicRmwOp::And => "and",
            AtomicRmwOp::Nand => "nand",
            AtomicRmwOp::Or => "or",
            AtomicRmwOp::Xor => "xor",
            AtomicRmwOp::Xchg => "xchg",
            AtomicRmwOp::Umin => "umin",
            AtomicRmwOp::Umax => "umax",
            AtomicRmwOp::Smin => "smin",
            AtomicRmwOp::Smax => "smax",
        }
    }
    pub fn parse(s: &str) -> Option<AtomicRmwOp> {
        Self::ALL.iter().copied().find(|op| op.as_str() == s)
    }
}

impl fmt::Display for AtomicRmwOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A variable-length list of values stored in a `ValueListPool`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct ValueList {
    start: u32,
    len: u32,
}

impl ValueList {
    pub fn len(self) -> usize {
        self.len as usize
    }
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// Append-only storage for value lists.
#[derive(Clone, Debug, Default)]
pub struct ValueListPool {
    data: Vec<Value>,
}

impl ValueListPool {
    /// Makes `dst` a copy of `self` with room for `extra` more entries,
    /// reusing `dst`'s storage.
    pub fn copy_into_with_headroom(&self, dst: &mut Self, extra: usize) {
        dst.data.clear();
        dst.data.reserve(self.data.len() + extra);
        dst.data.extend_from_slice(&self.data);
    }
    pub fn alloc(&mut self, values: &[Value]) -> ValueList {
        if values.is_empty() {
            return ValueList::default();
        }
        let start = self.data.len() as u32;
        self.data.extend_from_slice(values);
        ValueList {
            start,
            len: values.len() as u32,
        }
    }
    #[inline]
    pub fn get(&self, list: ValueList) -> &[Value] {
        &self.data[list.start as usize..(list.start + list.len) as usize]
    }
    /// Like `get`, but `None` for a list that does not lie in this pool
    /// (the verifier and the stencil key never panic on such a list).
    #[inline]
    pub fn try_get(&self, list: ValueList) -> Option<&[Value]> {
        let start = list.start as usize;
        self.data.get(start..start.checked_add(list.len as usize)?)
    }
    #[inline]
    pub fn get_mut(&mut self, list: ValueList) -> &mut [Value] {
        &mut self.data[list.start as usize..(list.start + list.len) as usize]
    }
    pub fn clear(&mut self) {
        self.data.clear();
    }
}

/// An argument passed along a control-flow edge.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum BlockArg {
    /// An SSA value.
    Value(Value),
    /// The n-th return value of the `try_call` ending the predecessor (`retN`).
    TryCallRet(u32),
    /// The n-th exception payload of the `try_call` (`exnN`).
    TryCallExn(u32),
}

impl fmt::Display for BlockArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockArg::Value(v) => write!(f, "{v}"),
            BlockArg::TryCallRet(n) => write!(f, "ret{n}"),
            BlockArg::TryCallExn(n) => write!(f, "exn{n}"),
        }
    }
}

/// A list of block arguments stored in a `BlockArgPool`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct BlockArgList {
    start: u32,
    len: u32,
}

impl BlockArgList {
    pub fn len(self) -> usize {
        self.len as usize
    }
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// Append-only storage for block-argument lists.
#[derive(Clone, Debug, Default)]
pub struct BlockArgPool {
    data: Vec<BlockArg>,
}

impl BlockArgPool {
    /// Makes `dst` a copy of `self` with room for `extra` more entries,
    /// reusing `dst`'s storage.
    pub fn copy_into_with_headroom(&self, dst: &mut Self, extra: usize) {
        dst.data.clear();
        dst.data.reserve(self.data.len() + extra);
        dst.data.extend_from_slice(&self.data);
    }
    pub fn alloc(&mut self, args: &[BlockArg]) -> BlockArgList {
        if args.is_empty() {
            return BlockArgList::default();
        }
        let start = self.data.len() as u32;
        self.data.extend_from_slice(args);
        BlockArgList {
            start,
            len: args.len() as u32,
        }
    }
    #[inline]
    pub fn get(&self, list: BlockArgList) -> &[BlockArg] {
        &self.data[list.start as usize..(list.start + list.len) as usize]
    }
    /// Like `get`, but `None` for a list that does not lie in this pool.
    #[inline]
    pub fn try_get(&self, list: BlockArgList) -> Option<&[BlockArg]> {
        let start = list.start as usize;
        self.data.get(start..start.checked_add(list.len as usize)?)
    }
    #[inline]
    pub fn get_mut(&mut self, list: BlockArgList) -> &mut [BlockArg] {
        &mut self.data[list.start as usize..(list.start + list.len) as usize]
    }
    pub fn clear(&mut self) {
        self.data.clear();
    }
    pub(crate) fn as_slice(&self) -> &[BlockArg] {
        &self.data
    }
    pub(crate) fn as_mut_slice(&mut self) -> &mut [BlockArg] {
        &mut self.data
    }
}

/// A branch destination: a block and the arguments passed to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BlockCall {
    pub block: Block,
    pub args: BlockArgList,
}

/// The table of a `br_table`: `entries[0]` is the default destination,
/// `entries[1 + i]` the destination of index `i`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct JumpTableData {
    pub entries: Vec<BlockCall>,
}

impl JumpTableData {
    pub fn new(default: BlockCall, table: &[BlockCall]) -> Self {
        let mut entries = Vec::with_capacity(table.len() + 1);
        entries.push(default);
        entries.extend_from_slice(table);
        JumpTableData { entries }
    }
    pub fn default_block(&self) -> BlockCall {
        self.entries[0]
    }
    /// The indexed destinations, without the default.
    pub fn as_slice(&self) -> &[BlockCall] {
        &self.entries[1..]
    }
}

/// One entry of a `try_call`'s handler list, in text order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ExceptionTableItem {
    /// `tagN: block(...)`; its destination is the next unused handler target.
    Tag(u32),
    /// `default: block(...)`; likewise.
    Default,
    /// `context vN`: the value that identifies the dynamic context.
    Context(Value),
}

/// The signature, normal return and handlers of a `try_call`.
///
/// `targets[0]` is the normal return; the k-th `Tag`/`Default` item of
/// `items` branches to `targets[k + 1]`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ExceptionTableData {
    pub sig: SigRef,
    pub targets: Vec<BlockCall>,
    pub items: Vec<ExceptionTableItem>,
}

/// An instruction's opcode and operands, one variant per format.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum InstructionData {
    NullAry {
        opcode: Opcode,
    },
    Unary {
        opcode: Opcode,
        arg: Value,
    },
    UnaryImm {
        opcode: Opcode,
        imm: Imm64,
    },
    UnaryIeee16 {
        opcode: Opcode,
        imm: Ieee16,
    },
    UnaryIeee32 {
        opcode: Opcode,
        imm: Ieee32,
    },
    UnaryIeee64 {
        opcode: Opcode,
        imm: Ieee64,
    },
    UnaryConst {
        opcode: Opcode,
        constant: Constant,
    },
    UnaryGlobalValue {
        opcode: Opcode,
        global_value: GlobalValue,
    },
    Binary {
        opcode: Opcode,
        args: [Value; 2],
    },
    BinaryImm8 {
        opcode: Opcode,
        arg: Value,
        imm: Uimm8,
    },
    Ternary {
        opcode: Opcode,
        args: [Value; 3],
    },
    TernaryImm8 {
        opcode: Opcode,
        args: [Value; 2],
        imm: Uimm8,
    },
    Shuffle {
        opcode: Opcode,
        args: [Value; 2],
        imm: Immediate,
    },
    IntCompare {
        opcode: Opcode,
        cond: IntCC,
        args: [Value; 2],
    },
    FloatCompare {
        opcode: Opcode,
        cond: FloatCC,
        args: [Value; 2],
    },
    Jump {
        opcode: Opcode,
        destination: BlockCall,
    },
    Brif {
        opcode: Opcode,
        arg: Value,
        blocks: [BlockCall; 2],
    },
    BranchTable {
        opcode: Opcode,
        arg: Value,
        table: JumpTable,
    },
    MultiAry {
        opcode: Opcode,
        args: ValueList,
    },
    Call {
        opcode: Opcode,
        func_ref: FuncRef,
        args: ValueList,
    },
    /// `args[0]` is the callee.
    CallIndirect {
        opcode: Opcode,
        sig_ref: SigRef,
        args: ValueList,
    },
    TryCall {
        opcode: Opcode,
        func_ref: FuncRef,
        args: ValueList,
        exception: ExceptionTable,
    },
    /// `args[0]` is the callee.
    TryCallIndirect {
        opcode: Opcode,
        args: ValueList,
        exception: ExceptionTable,
    },
    FuncAddr {
        opcode: Opcode,
        func_ref: FuncRef,
    },
    StackLoad {
        opcode: Opcode,
        stack_slot: StackSlot,
        offset: Offset32,
    },
    DynamicStackLoad {
        opcode: Opcode,
        dynamic_stack_slot: DynamicStackSlot,
    },
    Load {
        opcode: Opcode,
        flags: MemFlags,
        arg: Value,
        offset: Offset32,
    },
    Store {
        opcode: Opcode,
        flags: MemFlags,
        args: [Value; 2],
        offset: Offset32,
    },
    LoadNoOffset {
        opcode: Opcode,
        flags: MemFlags,
        arg: Value,
    },
    StoreNoOffset {
        opcode: Opcode,
        flags: MemFlags,
        args: [Value; 2],
    },
    AtomicRmw {
        opcode: Opcode,
        flags: MemFlags,
        op: AtomicRmwOp,
        args: [Value; 2],
    },
    AtomicCas {
        opcode: Opcode,
        flags: MemFlags,
        args: [Value; 3],
    },
    Trap {
        opcode: Opcode,
        code: TrapCode,
    },
    CondTrap {
        opcode: Opcode,
        arg: Value,
        code: TrapCode,
    },
    IntAddTrap {
        opcode: Opcode,
        args: [Value; 2],
        code: TrapCode,
    },
    ExceptionHandlerAddress {
        opcode: Opcode,
        block: Block,
        imm: Imm64,
    },
}

impl InstructionData {
    pub fn opcode(&self) -> Opcode {
        use InstructionData::*;
        match *self {
            NullAry { opcode }
            | Unary { opcode, .. }
            | UnaryImm { opcode, .. }
            | UnaryIeee16 { opcode, .. }
            | UnaryIeee32 { opcode, .. }
            | UnaryIeee64 { opcode, .. }
            | UnaryConst { opcode, .. }
            | UnaryGlobalValue { opcode, .. }
            | Binary { opcode, .. }
            | BinaryImm8 { opcode, .. }
            | Ternary { opcode, .. }
            | TernaryImm8 { opcode, .. }
            | Shuffle { opcode, .. }
            | IntCompare { opcode, .. }
            | FloatCompare { opcode, .. }
            | Jump { opcode, .. }
            | Brif { opcode, .. }
            | BranchTable { opcode, .. }
            | MultiAry { opcode, .. }
            | Call { opcode, .. }
            | CallIndirect { opcode, .. }
            | TryCall { opcode, .. }
            | TryCallIndirect { opcode, .. }
            | FuncAddr { opcode, .. }
            | StackLoad { opcode, .. }
            | DynamicStackLoad { opcode, .. }
            | Load { opcode, .. }
            | Store { opcode, .. }
            | LoadNoOffset { opcode, .. }
            | StoreNoOffset { opcode, .. }
            | AtomicRmw { opcode, .. }
            | AtomicCas { opcode, .. }
            | Trap { opcode, .. }
            | CondTrap { opcode, .. }
            | IntAddTrap { opcode, .. }
            | ExceptionHandlerAddress { opcode, .. } => opcode,
        }
    }

    /// The value operands, fixed ones first, then variable ones. Panics
    /// if the instruction's value list does not lie in `pool`.
    #[inline]
    pub fn arguments<'a>(&'a self, pool: &'a ValueListPool) -> &'a [Value] {
        match self.try_arguments(pool) {
            Some(args) => args,
            None => panic!("value list of a {} lies outside its pool", self.opcode()),
        }
    }

    /// [`arguments`](Self::arguments), or `None` for a value list that does
    /// not lie in `pool` (the verifier and the stencil key never panic on
    /// such a list).
    #[inline]
    pub fn try_arguments<'a>(&'a self, pool: &'a ValueListPool) -> Option<&'a [Value]> {
        use InstructionData::*;
        match self {
            Unary { arg, .. }
            | BinaryImm8 { arg, .. }
            | Brif { arg, .. }
            | BranchTable { arg, .. }
            | Load { arg, .. }
            | LoadNoOffset { arg, .. }
            | CondTrap { arg, .. } => Some(std::slice::from_ref(arg)),
            Binary { args, .. }
            | TernaryImm8 { args, .. }
            | Shuffle { args, .. }
            | IntCompare { args, .. }
            | FloatCompare { args, .. }
            | Store { args, .. }
            | StoreNoOffset { args, .. }
            | AtomicRmw { args, .. }
            | IntAddTrap { args, .. } => Some(args),
            Ternary { args, .. } | AtomicCas { args, .. } => Some(args),
            MultiAry { args, .. }
            | Call { args, .. }
            | CallIndirect { args, .. }
            | TryCall { args, .. }
            | TryCallIndirect { args, .. } => pool.try_get(*args),
            _ => Some(&[]),
        }
    }

    /// Mutable access to the value operands.
    #[inline]
    pub fn arguments_mut<'a>(&'a mut self, pool: &'a mut ValueListPool) -> &'a mut [Value] {
        use InstructionData::*;
        match self {
            Unary { arg, .. }
            | BinaryImm8 { arg, .. }
            | Brif { arg, .. }
            | BranchTable { arg, .. }
            | Load { arg, .. }
            | LoadNoOffset { arg, .. }
            | CondTrap { arg, .. } => std::slice::from_mut(arg),
            Binary { args, .. }
            | TernaryImm8 { args, .. }
            | Shuffle { args, .. }
            | IntCompare { args, .. }
            | FloatCompare { args, .. }
            | Store { args, .. }
            | StoreNoOffset { args, .. }
            | AtomicRmw { args, .. }
            | IntAddTrap { args, .. } => args,
            Ternary { args, .. } | AtomicCas { args, .. } => args,
            MultiAry { args, .. }
            | Call { args, .. }
            | CallIndirect { args, .. }
            | TryCall { args, .. }
            | TryCallIndirect { args, .. } => pool.get_mut(*args),
            _ => &mut [],
        }
    }

    /// The trap code of an instruction that can only trap with one code.
    pub fn trap_code(&self) -> Option<TrapCode> {
        match *self {
            InstructionData::Trap { code, .. }
            | InstructionData::CondTrap { code, .. }
            | InstructionData::IntAddTrap { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The memory flags of a memory access.
    pub fn memflags(&self) -> Option<MemFlags> {
        match *self {
            InstructionData::Load { flags, .. }
            | InstructionData::Store { flags, .. }
            | InstructionData::LoadNoOffset { flags, .. }
            | InstructionData::StoreNoOffset { flags, .. }
            | InstructionData::AtomicRmw { flags, .. }
            | InstructionData::AtomicCas { flags, .. } => Some(flags),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        assert_eq!(OPCODES.len(), Opcode::ALL.len());
        for (i, &op) in Opcode::ALL.iter().enumerate() {
            assert_eq!(op as usize, i);
            assert_eq!(Opcode::from_name(op.name()), Some(op));
            let info = op.info();
            if let Some(tv) = info.typevar_operand {
                assert!(info.ctrl.is_some(), "{op}: typevar operand without ctrl");
                assert_eq!(info.args[tv as usize], Constraint::Same, "{op}");
            }
            assert!(
                info.args.len() == info.format.fixed_value_operands(),
                "{op}: {} constraints for {:?}",
                info.args.len(),
                info.format
            );
            if info.ctrl.is_none() {
                for c in info.args.iter().chain(info.results) {
                    assert!(
                        matches!(c, Constraint::Fixed(_) | Constraint::Free(_)),
                        "{op}: relative constraint without a controlling type"
                    );
                }
            }
        }
        let mut names: Vec<_> = OPCODES.iter().map(|i| i.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), OPCODES.len(), "duplicate opcode names");
    }
}
