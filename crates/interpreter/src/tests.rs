//! Unit tests of the edge cases that break interpreters. Expected values are
//! written from the definitions (or computed with Python), never taken from
//! the interpreter.

use crate::{Config, InterpError, Interpreter, CANON_NAN32, CANON_NAN64};
use kiln_ir::*;

/// A tiny function builder for tests.
pub(crate) struct Fb {
    pub f: Function,
    pub block: Block,
}

impl Fb {
    pub fn new(name: &str, params: &[Type], returns: &[Type]) -> Fb {
        let mut sig = Signature::new(CallConv::SystemV);
        sig.params = params.iter().map(|&t| AbiParam::new(t)).collect();
        sig.returns = returns.iter().map(|&t| AbiParam::new(t)).collect();
        let mut f = Function::with_name_signature(UserFuncName::testcase(name), sig);
        let block = f.dfg.make_block();
        f.layout.append_block(block);
        for &t in params {
            f.dfg.append_block_param(block, t);
        }
        Fb { f, block }
    }
    pub fn param(&self, i: usize) -> Value {
        self.f
            .dfg
            .block_params(self.f.layout.entry_block().unwrap())[i]
    }
    pub fn new_block(&mut self, params: &[Type]) -> (Block, Vec<Value>) {
        let b = self.f.dfg.make_block();
        self.f.layout.append_block(b);
        let vs = params
            .iter()
            .map(|&t| self.f.dfg.append_block_param(b, t))
            .collect();
        (b, vs)
    }
    pub fn switch_to(&mut self, b: Block) {
        self.block = b;
    }
    pub fn ins(&mut self, data: InstructionData, results: &[Type]) -> Vec<Value> {
        let inst = self.f.dfg.make_inst(data);
        self.f.layout.append_inst(inst, self.block);
        let base = self.f.dfg.num_values() as u32;
        let rs: Vec<(Value, Type)> = results
            .iter()
            .enumerate()
            .map(|(i, &t)| (Value::from_u32(base + i as u32), t))
            .collect();
        self.f.dfg.attach_inst_results(inst, &rs);
        rs.into_iter().map(|(v, _)| v).collect()
    }
    pub fn iconst(&mut self, ty: Type, x: i64) -> Value {
        self.ins(
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm: Imm64(x),
            },
            &[ty],
        )[0]
    }
    pub fn unary(&mut self, op: Opcode, a: Value, ty: Type) -> Value {
        self.ins(InstructionData::Unary { opcode: op, arg: a }, &[ty])[0]
    }
    pub fn binary(&mut self, op: Opcode, a: Value, b: Value, ty: Type) -> Value {
        self.ins(
            InstructionData::Binary {
                opcode: op,
                args: [a, b],
            },
            &[ty],
        )[0]
    }
    pub fn ret(&mut self, vals: &[Value]) {
        let args = self.f.dfg.make_value_list(vals);
        self.ins(
            InstructionData::MultiAry {
                opcode: Opcode::Return,
                args,
            },
            &[],
        );
    }
    pub fn jump(&mut self, b: Block, args: &[Value]) {
        let destination = self.f.dfg.block_call_values(b, args);
        self.ins(
            InstructionData::Jump {
                opcode: Opcode::Jump,
                destination,
            },
            &[],
        );
    }
    pub fn brif(&mut self, c: Value, t: Block, ta: &[Value], e: Block, ea: &[Value]) {
        let bt = self.f.dfg.block_call_values(t, ta);
        let be = self.f.dfg.block_call_values(e, ea);
        self.ins(
            InstructionData::Brif {
                opcode: Opcode::Brif,
                arg: c,
                blocks: [bt, be],
            },
            &[],
        );
    }
}

/// Runs `op` on the arguments in a one-instruction function.
fn run_op(
    op: Opcode,
    tys: &[Type],
    rty: Type,
    args: &[DataValue],
) -> Result<DataValue, InterpError> {
    let mut fb = Fb::new("f", tys, &[rty]);
    let ps: Vec<Value> = (0..tys.len()).map(|i| fb.param(i)).collect();
    let r = match ps.len() {
        1 => fb.unary(op, ps[0], rty),
        2 => fb.binary(op, ps[0], ps[1], rty),
        _ => fb.ins(
            InstructionData::Ternary {
                opcode: op,
                args: [ps[0], ps[1], ps[2]],
            },
            &[rty],
        )[0],
    };
    fb.ret(&[r]);
    let mut it = Interpreter::new([&fb.f]);
    it.call_by_name("%f", args).map(|v| v[0])
}

fn bin(op: Opcode, a: DataValue, b: DataValue) -> Result<DataValue, InterpError> {
    let t = a.ty();
    run_op(op, &[t, b.ty()], t, &[a, b])
}

fn un(op: Opcode, a: DataValue) -> Result<DataValue, InterpError> {
    run_op(op, &[a.ty()], a.ty(), &[a])
}

fn f32v(x: f32) -> DataValue {
    DataValue::F32(Ieee32::with_float(x))
}
fn f64v(x: f64) -> DataValue {
    DataValue::F64(Ieee64::with_float(x))
}
fn f32b(b: u32) -> DataValue {
    DataValue::F32(Ieee32(b))
}
fn f64b(b: u64) -> DataValue {
    DataValue::F64(Ieee64(b))
}

const DIVZ: InterpError = InterpError::Trap(TrapCode::INTEGER_DIVISION_BY_ZERO);
const OVF: InterpError = InterpError::Trap(TrapCode::INTEGER_OVERFLOW);
const BADTOINT: InterpError = InterpError::Trap(TrapCode::BAD_CONVERSION_TO_INTEGER);

#[test]
fn int_min_div_minus_one_traps_at_every_width() {
    use DataValue::*;
    assert_eq!(bin(Opcode::Sdiv, I8(i8::MIN), I8(-1)), Err(OVF));
    assert_eq!(bin(Opcode::Sdiv, I16(i16::MIN), I16(-1)), Err(OVF));
    assert_eq!(bin(Opcode::Sdiv, I32(i32::MIN), I32(-1)), Err(OVF));
    assert_eq!(bin(Opcode::Sdiv, I64(i64::MIN), I64(-1)), Err(OVF));
    assert_eq!(bin(Opcode::Sdiv, I128(i128::MIN), I128(-1)), Err(OVF));
    // Division by zero is checked first.
    assert_eq!(bin(Opcode::Sdiv, I32(i32::MIN), I32(0)), Err(DIVZ));
    assert_eq!(bin(Opcode::Udiv, I64(5), I64(0)), Err(DIVZ));
    assert_eq!(bin(Opcode::Urem, I8(5), I8(0)), Err(DIVZ));
    assert_eq!(bin(Opcode::Srem, I128(5), I128(0)), Err(DIVZ));
    // Non-trapping neighbours.
    assert_eq!(bin(Opcode::Sdiv, I8(i8::MIN), I8(1)), Ok(I8(i8::MIN)));
    assert_eq!(bin(Opcode::Sdiv, I8(-7), I8(2)), Ok(I8(-3)));
    assert_eq!(bin(Opcode::Udiv, I8(-7), I8(2)), Ok(I8(124))); // 249 / 2
}

#[test]
fn int_min_rem_minus_one_is_zero() {
    use DataValue::*;
    assert_eq!(bin(Opcode::Srem, I8(i8::MIN), I8(-1)), Ok(I8(0)));
    assert_eq!(bin(Opcode::Srem, I32(i32::MIN), I32(-1)), Ok(I32(0)));
    assert_eq!(bin(Opcode::Srem, I64(i64::MIN), I64(-1)), Ok(I64(0)));
    assert_eq!(bin(Opcode::Srem, I128(i128::MIN), I128(-1)), Ok(I128(0)));
    // The sign follows the dividend.
    assert_eq!(bin(Opcode::Srem, I16(-7), I16(2)), Ok(I16(-1)));
    assert_eq!(bin(Opcode::Srem, I16(7), I16(-2)), Ok(I16(1)));
    assert_eq!(bin(Opcode::Urem, I16(-7), I16(2)), Ok(I16(1))); // 65529 % 2
}

#[test]
fn shifts_by_width_or_more_are_masked() {
    use DataValue::*;
    assert_eq!(bin(Opcode::Ishl, I8(1), I8(8)), Ok(I8(1)));
    assert_eq!(bin(Opcode::Ishl, I8(1), I8(9)), Ok(I8(2)));
    assert_eq!(bin(Opcode::Ishl, I32(1), I64(33)), Ok(I32(2)));
    assert_eq!(bin(Opcode::Ushr, I64(-1), I8(64)), Ok(I64(-1)));
    assert_eq!(bin(Opcode::Ushr, I64(-1), I8(65)), Ok(I64(i64::MAX)));
    assert_eq!(bin(Opcode::Sshr, I16(-32768), I16(17)), Ok(I16(-16384)));
    assert_eq!(
        bin(Opcode::Ishl, I128(1), I128(128 + 127)),
        Ok(I128(i128::MIN))
    );
    assert_eq!(bin(Opcode::Ushr, I128(-1), I8(-1)), Ok(I128(1))); // amount 255 & 127
    assert_eq!(bin(Opcode::Rotl, I8(0x81u8 as i8), I8(9)), Ok(I8(0x03)));
    assert_eq!(
        bin(Opcode::Rotr, I8(0x81u8 as i8), I8(8)),
        Ok(I8(0x81u8 as i8))
    );
    assert_eq!(bin(Opcode::Rotr, I32(1), I32(1)), Ok(I32(i32::MIN)));
    assert_eq!(bin(Opcode::Rotl, I128(i128::MIN), I8(1)), Ok(I128(1)));
}

#[test]
fn i8_arithmetic_wraps() {
    use DataValue::*;
    assert_eq!(bin(Opcode::Iadd, I8(127), I8(1)), Ok(I8(-128)));
    assert_eq!(bin(Opcode::Isub, I8(-128), I8(1)), Ok(I8(127)));
    assert_eq!(bin(Opcode::Imul, I8(16), I8(16)), Ok(I8(0)));
    assert_eq!(bin(Opcode::Imul, I8(-3), I8(87)), Ok(I8(-5))); // -261 mod 256 = -5
    assert_eq!(un(Opcode::Ineg, I8(-128)), Ok(I8(-128)));
    assert_eq!(un(Opcode::Iabs, I8(-128)), Ok(I8(-128)));
    assert_eq!(un(Opcode::Iabs, I8(-5)), Ok(I8(5)));
    assert_eq!(bin(Opcode::Umulhi, I8(-1), I8(-1)), Ok(I8(-2))); // 255*255 = 0xfe01
    assert_eq!(bin(Opcode::Smulhi, I8(-128), I8(-128)), Ok(I8(64))); // 0x4000
    assert_eq!(
        bin(Opcode::Iadd, I128(i128::MAX), I128(1)),
        Ok(I128(i128::MIN))
    );
    assert_eq!(
        bin(Opcode::Umulhi, I128(-1), I128(-1)),
        Ok(I128(-2)) // (2^128-1)^2 >> 128 = 2^128 - 2
    );
}

#[test]
fn bit_counting() {
    use DataValue::*;
    assert_eq!(un(Opcode::Clz, I8(0)), Ok(I8(8)));
    assert_eq!(un(Opcode::Clz, I32(1)), Ok(I32(31)));
    assert_eq!(un(Opcode::Ctz, I16(0)), Ok(I16(16)));
    assert_eq!(un(Opcode::Ctz, I128(0)), Ok(I128(128)));
    assert_eq!(un(Opcode::Cls, I8(0)), Ok(I8(7)));
    assert_eq!(un(Opcode::Cls, I8(-1)), Ok(I8(7)));
    assert_eq!(un(Opcode::Cls, I32(0x0fff_ffff)), Ok(I32(3)));
    assert_eq!(un(Opcode::Popcnt, I64(-1)), Ok(I64(64)));
    assert_eq!(un(Opcode::Bitrev, I8(1)), Ok(I8(-128)));
    assert_eq!(un(Opcode::Bswap, I32(0x1234_5678)), Ok(I32(0x7856_3412)));
    assert_eq!(un(Opcode::Bswap, I16(0x0102)), Ok(I16(0x0201)));
}

#[test]
fn fmin_fmax_signed_zeros_and_nans() {
    let nz = f32v(-0.0);
    let pz = f32v(0.0);
    assert_eq!(bin(Opcode::Fmin, nz, pz), Ok(nz));
    assert_eq!(bin(Opcode::Fmin, pz, nz), Ok(nz));
    assert_eq!(bin(Opcode::Fmax, nz, pz), Ok(pz));
    assert_eq!(bin(Opcode::Fmax, pz, nz), Ok(pz));
    assert_eq!(bin(Opcode::Fmin, f64v(-0.0), f64v(0.0)), Ok(f64v(-0.0)));
    assert_eq!(bin(Opcode::Fmax, f64v(-0.0), f64v(0.0)), Ok(f64v(0.0)));
    for op in [Opcode::Fmin, Opcode::Fmax] {
        assert_eq!(bin(op, f32v(1.0), f32b(0x7f80_0001)), Ok(f32b(CANON_NAN32)));
        assert_eq!(bin(op, f32b(0xffc0_0000), f32v(1.0)), Ok(f32b(CANON_NAN32)));
        assert_eq!(
            bin(op, f64v(1.0), f64b(0xfff0_0000_0000_0001)),
            Ok(f64b(CANON_NAN64))
        );
    }
    assert_eq!(bin(Opcode::Fmin, f32v(-1.0), f32v(2.0)), Ok(f32v(-1.0)));
    assert_eq!(
        bin(Opcode::Fmax, f64v(-1.0), f64v(f64::INFINITY)),
        Ok(f64v(f64::INFINITY))
    );
}

#[test]
fn nan_inputs_to_every_float_op() {
    // A signalling NaN with a payload and a negative quiet NaN.
    let nans32 = [f32b(0x7f80_0001), f32b(0xffc0_1234)];
    let nans64 = [f64b(0x7ff0_0000_0000_0001), f64b(0xfff8_0000_0000_1234)];
    let arith = [
        Opcode::Fadd,
        Opcode::Fsub,
        Opcode::Fmul,
        Opcode::Fdiv,
        Opcode::Fmin,
        Opcode::Fmax,
    ];
    for &n in &nans32 {
        for op in arith {
            assert_eq!(bin(op, n, f32v(1.5)), Ok(f32b(CANON_NAN32)), "{op}");
            assert_eq!(bin(op, f32v(1.5), n), Ok(f32b(CANON_NAN32)), "{op}");
        }
        for op in [
            Opcode::Sqrt,
            Opcode::Ceil,
            Opcode::Floor,
            Opcode::Trunc,
            Opcode::Nearest,
        ] {
            assert_eq!(un(op, n), Ok(f32b(CANON_NAN32)), "{op}");
        }
        let fma = run_op(
            Opcode::Fma,
            &[Type::F32; 3],
            Type::F32,
            &[f32v(1.0), n, f32v(2.0)],
        );
        assert_eq!(fma, Ok(f32b(CANON_NAN32)));
        // Bit operations keep the payload.
        let b = n.to_bits().unwrap() as u32;
        assert_eq!(un(Opcode::Fneg, n), Ok(f32b(b ^ 0x8000_0000)));
        assert_eq!(un(Opcode::Fabs, n), Ok(f32b(b & 0x7fff_ffff)));
        assert_eq!(
            bin(Opcode::Fcopysign, n, f32v(-1.0)),
            Ok(f32b(b | 0x8000_0000))
        );
        // Conversions.
        assert_eq!(
            run_op(Opcode::Fpromote, &[Type::F32], Type::F64, &[n]),
            Ok(f64b(CANON_NAN64))
        );
        assert_eq!(
            run_op(Opcode::FcvtToSint, &[Type::F32], Type::I32, &[n]),
            Err(BADTOINT)
        );
        assert_eq!(
            run_op(Opcode::FcvtToUint, &[Type::F32], Type::I64, &[n]),
            Err(BADTOINT)
        );
        assert_eq!(
            run_op(Opcode::FcvtToSintSat, &[Type::F32], Type::I32, &[n]),
            Ok(DataValue::I32(0))
        );
        assert_eq!(
            run_op(Opcode::FcvtToUintSat, &[Type::F32], Type::I8, &[n]),
            Ok(DataValue::I8(0))
        );
    }
    for &n in &nans64 {
        for op in arith {
            assert_eq!(bin(op, n, f64v(1.5)), Ok(f64b(CANON_NAN64)), "{op}");
            assert_eq!(bin(op, f64v(1.5), n), Ok(f64b(CANON_NAN64)), "{op}");
        }
        for op in [
            Opcode::Sqrt,
            Opcode::Ceil,
            Opcode::Floor,
            Opcode::Trunc,
            Opcode::Nearest,
        ] {
            assert_eq!(un(op, n), Ok(f64b(CANON_NAN64)), "{op}");
        }
        assert_eq!(
            run_op(Opcode::Fdemote, &[Type::F64], Type::F32, &[n]),
            Ok(f32b(CANON_NAN32))
        );
        assert_eq!(
            run_op(Opcode::FcvtToSint, &[Type::F64], Type::I64, &[n]),
            Err(BADTOINT)
        );
        assert_eq!(
            run_op(Opcode::FcvtToSintSat, &[Type::F64], Type::I64, &[n]),
            Ok(DataValue::I64(0))
        );
    }
    // Invalid operations make the canonical NaN too.
    assert_eq!(
        bin(Opcode::Fsub, f32v(f32::INFINITY), f32v(f32::INFINITY)),
        Ok(f32b(CANON_NAN32))
    );
    assert_eq!(
        bin(Opcode::Fdiv, f64v(0.0), f64v(0.0)),
        Ok(f64b(CANON_NAN64))
    );
    assert_eq!(un(Opcode::Sqrt, f64v(-1.0)), Ok(f64b(CANON_NAN64)));
    // Comparisons with NaN: only the unordered conditions and `ne` hold.
    let n = nans64[0];
    for &cc in FloatCC::ALL {
        let mut fb = Fb::new("f", &[Type::F64, Type::F64], &[Type::I8]);
        let (a, b) = (fb.param(0), fb.param(1));
        let r = fb.ins(
            InstructionData::FloatCompare {
                opcode: Opcode::Fcmp,
                cond: cc,
                args: [a, b],
            },
            &[Type::I8],
        )[0];
        fb.ret(&[r]);
        let got = Interpreter::new([&fb.f])
            .call_by_name("f", &[n, f64v(1.0)])
            .unwrap();
        let want = matches!(
            cc,
            FloatCC::Unordered
                | FloatCC::NotEqual
                | FloatCC::UnorderedOrEqual
                | FloatCC::UnorderedOrLessThan
                | FloatCC::UnorderedOrLessThanOrEqual
                | FloatCC::UnorderedOrGreaterThan
                | FloatCC::UnorderedOrGreaterThanOrEqual
        );
        assert_eq!(got, vec![DataValue::I8(want as i8)], "{cc}");
    }
}

#[test]
fn float_to_int_traps_and_saturates() {
    use DataValue::*;
    let cv = |op, from: DataValue, to: Type| run_op(op, &[from.ty()], to, &[from]);
    // 2^63 does not fit i64; -2^63 does.
    assert_eq!(
        cv(Opcode::FcvtToSint, f64v(9223372036854775808.0), Type::I64),
        Err(OVF)
    );
    assert_eq!(
        cv(Opcode::FcvtToSint, f64v(-9223372036854775808.0), Type::I64),
        Ok(I64(i64::MIN))
    );
    assert_eq!(
        cv(Opcode::FcvtToSint, f32v(9223372036854775808.0), Type::I64),
        Err(OVF)
    );
    assert_eq!(
        cv(Opcode::FcvtToUint, f64v(18446744073709551616.0), Type::I64),
        Err(OVF)
    );
    assert_eq!(
        cv(Opcode::FcvtToUint, f64v(18446744073709549568.0), Type::I64),
        Ok(I64(-2048))
    );
    // Truncation toward zero: -0.9 -> 0 for unsigned, -1.0 traps.
    assert_eq!(cv(Opcode::FcvtToUint, f64v(-0.9), Type::I32), Ok(I32(0)));
    assert_eq!(cv(Opcode::FcvtToUint, f64v(-1.0), Type::I32), Err(OVF));
    assert_eq!(
        cv(Opcode::FcvtToSint, f32v(2147483520.0), Type::I32),
        Ok(I32(2147483520))
    );
    assert_eq!(
        cv(Opcode::FcvtToSint, f32v(2147483648.0), Type::I32),
        Err(OVF)
    );
    assert_eq!(
        cv(Opcode::FcvtToSint, f64v(-2147483648.9), Type::I32),
        Ok(I32(i32::MIN))
    );
    assert_eq!(
        cv(Opcode::FcvtToSint, f64v(-2147483649.0), Type::I32),
        Err(OVF)
    );
    assert_eq!(
        cv(Opcode::FcvtToSint, f64v(f64::INFINITY), Type::I32),
        Err(OVF)
    );
    // Saturating forms.
    assert_eq!(
        cv(Opcode::FcvtToSintSat, f64v(f64::INFINITY), Type::I64),
        Ok(I64(i64::MAX))
    );
    assert_eq!(
        cv(Opcode::FcvtToSintSat, f64v(f64::NEG_INFINITY), Type::I64),
        Ok(I64(i64::MIN))
    );
    assert_eq!(
        cv(Opcode::FcvtToUintSat, f64v(f64::INFINITY), Type::I32),
        Ok(I32(-1))
    );
    assert_eq!(
        cv(Opcode::FcvtToUintSat, f64v(f64::NEG_INFINITY), Type::I32),
        Ok(I32(0))
    );
    assert_eq!(
        cv(Opcode::FcvtToSintSat, f32v(1e10), Type::I32),
        Ok(I32(i32::MAX))
    );
    assert_eq!(
        cv(Opcode::FcvtToSintSat, f32v(-1e10), Type::I8),
        Ok(I8(i8::MIN))
    );
    assert_eq!(cv(Opcode::FcvtToUintSat, f32v(300.0), Type::I8), Ok(I8(-1)));
    assert_eq!(
        cv(Opcode::FcvtToSintSat, f64v(1e40), Type::I128),
        Ok(I128(i128::MAX))
    );
    // From integers: round to nearest even.
    assert_eq!(
        cv(Opcode::FcvtFromUint, I64(-1), Type::F64),
        Ok(f64v(18446744073709551616.0))
    );
    assert_eq!(cv(Opcode::FcvtFromSint, I64(-1), Type::F64), Ok(f64v(-1.0)));
    assert_eq!(
        cv(Opcode::FcvtFromSint, I32(16777217), Type::F32),
        Ok(f32v(16777216.0))
    );
    assert_eq!(cv(Opcode::FcvtFromUint, I8(-1), Type::F32), Ok(f32v(255.0)));
}

#[test]
fn overflow_ops_and_carries() {
    use DataValue::*;
    let two = |op: Opcode, a: DataValue, b: DataValue| {
        let t = a.ty();
        let mut fb = Fb::new("f", &[t, t], &[t, Type::I8]);
        let (x, y) = (fb.param(0), fb.param(1));
        let r = fb.ins(
            InstructionData::Binary {
                opcode: op,
                args: [x, y],
            },
            &[t, Type::I8],
        );
        fb.ret(&r);
        Interpreter::new([&fb.f])
            .call_by_name("f", &[a, b])
            .unwrap()
    };
    assert_eq!(two(Opcode::UaddOverflow, I8(-1), I8(1)), vec![I8(0), I8(1)]);
    assert_eq!(
        two(Opcode::SaddOverflow, I8(127), I8(1)),
        vec![I8(-128), I8(1)]
    );
    assert_eq!(two(Opcode::SaddOverflow, I8(-1), I8(1)), vec![I8(0), I8(0)]);
    assert_eq!(
        two(Opcode::UsubOverflow, I32(0), I32(1)),
        vec![I32(-1), I8(1)]
    );
    assert_eq!(
        two(Opcode::SsubOverflow, I64(i64::MIN), I64(1)),
        vec![I64(i64::MAX), I8(1)]
    );
    assert_eq!(
        two(Opcode::UmulOverflow, I16(256), I16(256)),
        vec![I16(0), I8(1)]
    );
    assert_eq!(
        two(Opcode::SmulOverflow, I16(-128), I16(256)),
        vec![I16(-32768), I8(0)]
    );
    assert_eq!(
        two(Opcode::SmulOverflow, I128(i128::MIN), I128(-1)),
        vec![I128(i128::MIN), I8(1)]
    );
    assert_eq!(
        two(Opcode::UaddOverflow, I128(-1), I128(1)),
        vec![I128(0), I8(1)]
    );

    let three = |op: Opcode, a: DataValue, b: DataValue, c: i8| {
        let t = a.ty();
        let mut fb = Fb::new("f", &[t, t, Type::I8], &[t, Type::I8]);
        let (x, y, z) = (fb.param(0), fb.param(1), fb.param(2));
        let r = fb.ins(
            InstructionData::Ternary {
                opcode: op,
                args: [x, y, z],
            },
            &[t, Type::I8],
        );
        fb.ret(&r);
        Interpreter::new([&fb.f])
            .call_by_name("f", &[a, b, I8(c)])
            .unwrap()
    };
    assert_eq!(
        three(Opcode::UaddOverflowCin, I8(-1), I8(0), 1),
        vec![I8(0), I8(1)]
    );
    assert_eq!(
        three(Opcode::UaddOverflowCin, I8(1), I8(1), 1),
        vec![I8(3), I8(0)]
    );
    assert_eq!(
        three(Opcode::SaddOverflowCin, I8(126), I8(1), 1),
        vec![I8(-128), I8(1)]
    );
    assert_eq!(
        three(Opcode::UsubOverflowBin, I8(0), I8(0), 1),
        vec![I8(-1), I8(1)]
    );
    assert_eq!(
        three(Opcode::SsubOverflowBin, I8(-127), I8(1), 1),
        vec![I8(127), I8(1)]
    );
    assert_eq!(
        three(Opcode::UaddOverflowCin, I128(-1), I128(-1), 1),
        vec![I128(-1), I8(1)]
    );
}

#[test]
fn uadd_overflow_trap_traps_with_its_code() {
    use DataValue::*;
    let code = TrapCode::user(7).unwrap();
    let mut fb = Fb::new("f", &[Type::I32, Type::I32], &[Type::I32]);
    let (x, y) = (fb.param(0), fb.param(1));
    let r = fb.ins(
        InstructionData::IntAddTrap {
            opcode: Opcode::UaddOverflowTrap,
            args: [x, y],
            code,
        },
        &[Type::I32],
    )[0];
    fb.ret(&[r]);
    let mut it = Interpreter::new([&fb.f]);
    assert_eq!(it.call_by_name("f", &[I32(-2), I32(1)]), Ok(vec![I32(-1)]));
    assert_eq!(
        it.call_by_name("f", &[I32(-2), I32(2)]),
        Err(InterpError::Trap(code))
    );
}

/// `fn loop(n) { i = 0; while i != n { i += 1 } return i }`
fn counting_loop() -> Function {
    let mut fb = Fb::new("count", &[Type::I64], &[Type::I64]);
    let n = fb.param(0);
    let zero = fb.iconst(Type::I64, 0);
    let (head, hp) = fb.new_block(&[Type::I64]);
    let (exit, xp) = fb.new_block(&[Type::I64]);
    fb.jump(head, &[zero]);
    fb.switch_to(head);
    let i = hp[0];
    let c = fb.ins(
        InstructionData::IntCompare {
            opcode: Opcode::Icmp,
            cond: IntCC::Equal,
            args: [i, n],
        },
        &[Type::I8],
    )[0];
    let one = fb.iconst(Type::I64, 1);
    let next = fb.binary(Opcode::Iadd, i, one, Type::I64);
    fb.brif(c, exit, &[i], head, &[next]);
    fb.switch_to(exit);
    fb.ret(&[xp[0]]);
    fb.f
}

#[test]
fn fuel_exhaustion_ends_infinite_loops() {
    let f = counting_loop();
    let cfg = Config {
        fuel: 10_000,
        ..Config::default()
    };
    let mut it = Interpreter::with_config([&f], cfg);
    assert_eq!(
        it.call_by_name("count", &[DataValue::I64(100)]),
        Ok(vec![DataValue::I64(100)])
    );
    // n = -1 would take 2^64 iterations.
    assert_eq!(
        it.call_by_name("count", &[DataValue::I64(-1)]),
        Err(InterpError::OutOfFuel)
    );
    // The interpreter is reusable after running out.
    assert_eq!(
        it.call_by_name("count", &[DataValue::I64(3)]),
        Ok(vec![DataValue::I64(3)])
    );
}

#[test]
fn bad_calls_are_errors() {
    let f = counting_loop();
    let mut it = Interpreter::new([&f]);
    assert!(matches!(
        it.call_by_name("nope", &[]),
        Err(InterpError::UnknownFunction(_))
    ));
    assert!(matches!(
        it.call_by_name("count", &[]),
        Err(InterpError::BadArguments(_))
    ));
    assert!(matches!(
        it.call_by_name("count", &[DataValue::I32(1)]),
        Err(InterpError::BadArguments(_))
    ));
}

#[test]
fn recursion_hits_the_depth_limit() {
    // f(x) = f(x): infinite recursion.
    let mut fb = Fb::new("rec", &[Type::I32], &[Type::I32]);
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(Type::I32));
    sig.returns.push(AbiParam::new(Type::I32));
    let sigref = fb.f.import_signature(sig);
    let fref = fb.f.import_function(ExtFuncData {
        name: ExternalName::TestCase(TestcaseName::new("rec")),
        signature: sigref,
        colocated: true,
        patchable: false,
    });
    let x = fb.param(0);
    let args = fb.f.dfg.make_value_list(&[x]);
    let r = fb.ins(
        InstructionData::Call {
            opcode: Opcode::Call,
            func_ref: fref,
            args,
        },
        &[Type::I32],
    )[0];
    fb.ret(&[r]);
    let mut it = Interpreter::new([&fb.f]);
    assert_eq!(
        it.call_by_name("rec", &[DataValue::I32(1)]),
        Err(InterpError::StackOverflow)
    );
}

#[test]
fn malformed_functions_do_not_panic() {
    // A block without a terminator.
    let mut fb = Fb::new("f", &[Type::I32], &[Type::I32]);
    let x = fb.param(0);
    fb.unary(Opcode::Bnot, x, Type::I32);
    let mut it = Interpreter::new([&fb.f]);
    assert!(matches!(
        it.call_by_name("f", &[DataValue::I32(1)]),
        Err(InterpError::Invalid(_))
    ));
    // An operand that does not exist.
    let mut fb = Fb::new("g", &[Type::I32], &[Type::I32]);
    let bogus = Value::from_u32(1000);
    let r = fb.unary(Opcode::Bnot, bogus, Type::I32);
    fb.ret(&[r]);
    let mut it = Interpreter::new([&fb.f]);
    assert!(it.call_by_name("g", &[DataValue::I32(1)]).is_err());
    // A function with no blocks.
    let f = Function::with_name_signature(UserFuncName::testcase("h"), Signature::default());
    let mut it = Interpreter::new([&f]);
    assert!(matches!(
        it.call_by_name("h", &[]),
        Err(InterpError::Invalid(_))
    ));
}

fn load(fb: &mut Fb, op: Opcode, ty: Type, flags: MemFlags, addr: Value, off: i32) -> Value {
    fb.ins(
        InstructionData::Load {
            opcode: op,
            flags,
            arg: addr,
            offset: Offset32(off),
        },
        &[ty],
    )[0]
}

fn store(fb: &mut Fb, op: Opcode, flags: MemFlags, v: Value, addr: Value, off: i32) {
    fb.ins(
        InstructionData::Store {
            opcode: op,
            flags,
            args: [v, addr],
            offset: Offset32(off),
        },
        &[],
    );
}

fn stack_addr(fb: &mut Fb, ss: StackSlot, off: i32) -> Value {
    fb.ins(
        InstructionData::StackLoad {
            opcode: Opcode::StackAddr,
            stack_slot: ss,
            offset: Offset32(off),
        },
        &[Type::I64],
    )[0]
}

#[test]
fn stack_slots_loads_stores_and_endianness() {
    use DataValue::*;
    // Store x (i32) little-endian at ss0+0 and big-endian at ss0+4, then
    // read back bytes and halves.
    let mut fb = Fb::new(
        "f",
        &[Type::I32],
        &[
            Type::I8,
            Type::I8,
            Type::I16,
            Type::I64,
            Type::I32,
            Type::I64,
        ],
    );
    let ss = fb.f.create_sized_stack_slot(StackSlotData::new(8, 3));
    let x = fb.param(0);
    let p = stack_addr(&mut fb, ss, 0);
    let mut big = MemFlags::new();
    big.set_endianness(Endianness::Big);
    let little = MemFlags::trusted();
    store(&mut fb, Opcode::Store, little, x, p, 0);
    store(&mut fb, Opcode::Store, big, x, p, 4);
    let b0 = load(&mut fb, Opcode::Load, Type::I8, little, p, 0);
    let b4 = load(&mut fb, Opcode::Load, Type::I8, little, p, 4);
    let h = load(&mut fb, Opcode::Load, Type::I16, big, p, 4);
    let whole = load(&mut fb, Opcode::Load, Type::I64, little, p, 0);
    let s8 = load(&mut fb, Opcode::Sload8, Type::I32, little, p, 0);
    let u16_ = load(&mut fb, Opcode::Uload16, Type::I64, little, p, 2);
    fb.ret(&[b0, b4, h, whole, s8, u16_]);
    let mut it = Interpreter::new([&fb.f]);
    let r = it.call_by_name("f", &[I32(0x8182_8384u32 as i32)]).unwrap();
    assert_eq!(
        r,
        vec![
            I8(0x84u8 as i8),
            I8(0x81u8 as i8),
            I16(0x8182u16 as i16),
            I64(0x8483_8281_8182_8384u64 as i64),
            I32(0xffff_ff84u32 as i32),
            I64(0x8182),
        ]
    );
}

#[test]
fn truncating_stores_and_out_of_bounds_accesses() {
    use DataValue::*;
    // istore8 x at ss0 + k, then load i32 at ss0: k in 0..4 is fine, k = 4 traps.
    let mut fb = Fb::new("f", &[Type::I64, Type::I64], &[Type::I32]);
    let ss = fb.f.create_sized_stack_slot(StackSlotData::new(4, 2));
    let (x, k) = (fb.param(0), fb.param(1));
    let base = stack_addr(&mut fb, ss, 0);
    let p = fb.binary(Opcode::Iadd, base, k, Type::I64);
    store(&mut fb, Opcode::Istore8, MemFlags::new(), x, p, 0);
    let v = load(&mut fb, Opcode::Load, Type::I32, MemFlags::new(), base, 0);
    fb.ret(&[v]);
    let mut it = Interpreter::new([&fb.f]);
    assert_eq!(
        it.call_by_name("f", &[I64(0x1ff), I64(0)]),
        Ok(vec![I32(0xff)])
    );
    assert_eq!(
        it.call_by_name("f", &[I64(0x1ab), I64(3)]),
        Ok(vec![I32(0xab00_0000u32 as i32)])
    );
    let oob = Err(InterpError::Trap(TrapCode::HEAP_OUT_OF_BOUNDS));
    assert_eq!(it.call_by_name("f", &[I64(1), I64(4)]), oob);
    assert_eq!(it.call_by_name("f", &[I64(1), I64(-1)]), oob);
    assert_eq!(it.call_by_name("f", &[I64(1), I64(1 << 40)]), oob);

    // A load through a plain integer (null, or any number) traps, with the
    // access's own trap code when it has one.
    let mut fb = Fb::new("g", &[Type::I64], &[Type::I64]);
    let a = fb.param(0);
    let mut flags = MemFlags::new();
    flags.set_trap_code(TrapCode::user(3));
    let v = load(&mut fb, Opcode::Load, Type::I64, flags, a, 8);
    fb.ret(&[v]);
    let mut it = Interpreter::new([&fb.f]);
    assert_eq!(
        it.call_by_name("g", &[I64(0)]),
        Err(InterpError::Trap(TrapCode::user(3).unwrap()))
    );
    assert_eq!(
        it.call_by_name("g", &[I64(0x1234_5678)]),
        Err(InterpError::Trap(TrapCode::user(3).unwrap()))
    );
}

#[test]
fn stack_memory_limit_is_enforced() {
    let mut fb = Fb::new("big", &[], &[]);
    fb.f.create_sized_stack_slot(StackSlotData::new(u32::MAX, 0));
    fb.ret(&[]);
    let mut it = Interpreter::new([&fb.f]);
    assert_eq!(it.call_by_name("big", &[]), Err(InterpError::StackOverflow));
}

#[test]
fn calls_indirect_calls_and_tail_calls() {
    use DataValue::*;
    // %add10(x) = x + 10
    let mut callee = Fb::new("add10", &[Type::I64], &[Type::I64]);
    let x = callee.param(0);
    let ten = callee.iconst(Type::I64, 10);
    let r = callee.binary(Opcode::Iadd, x, ten, Type::I64);
    callee.ret(&[r]);

    let mut fb = Fb::new("caller", &[Type::I64], &[Type::I64]);
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(Type::I64));
    sig.returns.push(AbiParam::new(Type::I64));
    let sigref = fb.f.import_signature(sig);
    let fref = fb.f.import_function(ExtFuncData {
        name: ExternalName::TestCase(TestcaseName::new("add10")),
        signature: sigref,
        colocated: false,
        patchable: false,
    });
    let a = fb.param(0);
    let args = fb.f.dfg.make_value_list(&[a]);
    let r1 = fb.ins(
        InstructionData::Call {
            opcode: Opcode::Call,
            func_ref: fref,
            args,
        },
        &[Type::I64],
    )[0];
    let fp = fb.ins(
        InstructionData::FuncAddr {
            opcode: Opcode::FuncAddr,
            func_ref: fref,
        },
        &[Type::I64],
    )[0];
    let args = fb.f.dfg.make_value_list(&[fp, r1]);
    let r2 = fb.ins(
        InstructionData::CallIndirect {
            opcode: Opcode::CallIndirect,
            sig_ref: sigref,
            args,
        },
        &[Type::I64],
    )[0];
    let args = fb.f.dfg.make_value_list(&[r2]);
    fb.ins(
        InstructionData::Call {
            opcode: Opcode::ReturnCall,
            func_ref: fref,
            args,
        },
        &[],
    );
    let funcs = [callee.f, fb.f];
    let mut it = Interpreter::new(&funcs);
    assert_eq!(it.call_by_name("%caller", &[I64(1)]), Ok(vec![I64(31)]));
}

#[test]
fn branch_table_selects_default_out_of_range() {
    use DataValue::*;
    let mut fb = Fb::new("f", &[Type::I32], &[Type::I32]);
    let x = fb.param(0);
    let mut blocks = vec![];
    for k in 0..3 {
        let (b, _) = fb.new_block(&[]);
        blocks.push((b, k));
    }
    let entries: Vec<BlockCall> = blocks
        .iter()
        .map(|&(b, _)| fb.f.dfg.block_call_values(b, &[]))
        .collect();
    let jt =
        fb.f.dfg
            .jump_tables
            .push(JumpTableData::new(entries[0], &entries[1..]));
    fb.ins(
        InstructionData::BranchTable {
            opcode: Opcode::BrTable,
            arg: x,
            table: jt,
        },
        &[],
    );
    for &(b, k) in &blocks {
        fb.switch_to(b);
        let v = fb.iconst(Type::I32, 100 + k);
        fb.ret(&[v]);
    }
    let mut it = Interpreter::new([&fb.f]);
    let call = |it: &mut Interpreter, x: i32| it.call_by_name("f", &[I32(x)]).unwrap()[0];
    assert_eq!(call(&mut it, 0), I32(101));
    assert_eq!(call(&mut it, 1), I32(102));
    assert_eq!(call(&mut it, 2), I32(100));
    assert_eq!(call(&mut it, -1), I32(100));
}

#[test]
fn stack_addr_with_negative_offset_and_pointer_arithmetic() {
    use DataValue::*;
    // p = stack_addr ss0-8; q = p + 8 + k; store/load through q.
    let mut fb = Fb::new("f", &[Type::I64, Type::I32], &[Type::I32]);
    let ss = fb.f.create_sized_stack_slot(StackSlotData::new(8, 3));
    let (k, x) = (fb.param(0), fb.param(1));
    let p = stack_addr(&mut fb, ss, -8);
    let eight = fb.iconst(Type::I64, 8);
    let q0 = fb.binary(Opcode::Iadd, p, eight, Type::I64);
    let q = fb.binary(Opcode::Iadd, q0, k, Type::I64);
    store(&mut fb, Opcode::Store, MemFlags::new(), x, q, 0);
    let v = load(&mut fb, Opcode::Load, Type::I32, MemFlags::new(), q, 0);
    fb.ret(&[v]);
    let mut it = Interpreter::new([&fb.f]);
    assert_eq!(it.call_by_name("f", &[I64(4), I32(77)]), Ok(vec![I32(77)]));
    assert_eq!(
        it.call_by_name("f", &[I64(5), I32(77)]),
        Err(InterpError::Trap(TrapCode::HEAP_OUT_OF_BOUNDS))
    );
}

#[test]
fn vmctx_global_values_load_through_the_pointer_argument() {
    use DataValue::*;
    // %reader(vmctx) returns gv1 = load.i64 gv0+8, gv2 = iadd_imm gv1, 5.
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params
        .push(AbiParam::special(Type::I64, ArgumentPurpose::VMContext));
    sig.returns.push(AbiParam::new(Type::I64));
    let mut r = Fb::new("reader", &[Type::I64], &[Type::I64]);
    r.f.stencil.signature = sig.clone();
    let gv0 = r.f.create_global_value(GlobalValueData::VMContext);
    let gv1 = r.f.create_global_value(GlobalValueData::Load {
        base: gv0,
        offset: Offset32(8),
        global_type: Type::I64,
        flags: MemFlags::trusted(),
    });
    let gv2 = r.f.create_global_value(GlobalValueData::IAddImm {
        base: gv1,
        offset: Imm64(5),
        global_type: Type::I64,
    });
    let v = r.ins(
        InstructionData::UnaryGlobalValue {
            opcode: Opcode::SymbolValue,
            global_value: gv2,
        },
        &[Type::I64],
    )[0];
    r.ret(&[v]);

    // %main(x): ss0[8] = x; return reader(&ss0).
    let mut m = Fb::new("main", &[Type::I64], &[Type::I64]);
    let ss = m.f.create_sized_stack_slot(StackSlotData::new(16, 3));
    let sigref = m.f.import_signature(sig);
    let fref = m.f.import_function(ExtFuncData {
        name: ExternalName::TestCase(TestcaseName::new("reader")),
        signature: sigref,
        colocated: true,
        patchable: false,
    });
    let x = m.param(0);
    let p = stack_addr(&mut m, ss, 0);
    store(&mut m, Opcode::Store, MemFlags::trusted(), x, p, 8);
    let args = m.f.dfg.make_value_list(&[p]);
    let out = m.ins(
        InstructionData::Call {
            opcode: Opcode::Call,
            func_ref: fref,
            args,
        },
        &[Type::I64],
    )[0];
    m.ret(&[out]);
    let funcs = [r.f, m.f];
    let mut it = Interpreter::new(&funcs);
    assert_eq!(it.call_by_name("main", &[I64(37)]), Ok(vec![I64(42)]));
    // Called directly with a vmctx that is not a pointer: the load traps.
    assert_eq!(
        it.call_by_name("reader", &[I64(10)]),
        Err(InterpError::Trap(TrapCode::HEAP_OUT_OF_BOUNDS))
    );
}

#[test]
fn atomics_have_single_threaded_semantics() {
    use DataValue::*;
    // old = atomic_rmw op [p], y; return old, [p]
    for (op, x, y, want) in [
        (AtomicRmwOp::Add, 5i32, 7i32, 12i32),
        (AtomicRmwOp::Sub, 5, 7, -2),
        (AtomicRmwOp::And, 0b1100, 0b1010, 0b1000),
        (AtomicRmwOp::Nand, 0b1100, 0b1010, !0b1000),
        (AtomicRmwOp::Or, 0b1100, 0b1010, 0b1110),
        (AtomicRmwOp::Xor, 0b1100, 0b1010, 0b0110),
        (AtomicRmwOp::Xchg, 5, 7, 7),
        (AtomicRmwOp::Umin, -1, 7, 7),
        (AtomicRmwOp::Umax, -1, 7, -1),
        (AtomicRmwOp::Smin, -1, 7, -1),
        (AtomicRmwOp::Smax, -1, 7, 7),
    ] {
        let mut fb = Fb::new("f", &[Type::I32, Type::I32], &[Type::I32, Type::I32]);
        let ss = fb.f.create_sized_stack_slot(StackSlotData::new(4, 2));
        let (a, b) = (fb.param(0), fb.param(1));
        let p = stack_addr(&mut fb, ss, 0);
        store(&mut fb, Opcode::Store, MemFlags::trusted(), a, p, 0);
        let old = fb.ins(
            InstructionData::AtomicRmw {
                opcode: Opcode::AtomicRmw,
                flags: MemFlags::trusted(),
                op,
                args: [p, b],
            },
            &[Type::I32],
        )[0];
        let now = load(&mut fb, Opcode::Load, Type::I32, MemFlags::trusted(), p, 0);
        fb.ret(&[old, now]);
        let got = Interpreter::new([&fb.f]).call_by_name("f", &[I32(x), I32(y)]);
        assert_eq!(got, Ok(vec![I32(x), I32(want)]), "{op}");
    }
    // atomic_cas: stores only when the expected value matches.
    let mut fb = Fb::new("cas", &[Type::I64, Type::I64], &[Type::I64, Type::I64]);
    let ss = fb.f.create_sized_stack_slot(StackSlotData::new(8, 3));
    let (e, n) = (fb.param(0), fb.param(1));
    let p = stack_addr(&mut fb, ss, 0);
    let ten = fb.iconst(Type::I64, 10);
    store(&mut fb, Opcode::Store, MemFlags::trusted(), ten, p, 0);
    let old = fb.ins(
        InstructionData::AtomicCas {
            opcode: Opcode::AtomicCas,
            flags: MemFlags::trusted(),
            args: [p, e, n],
        },
        &[Type::I64],
    )[0];
    let now = load(&mut fb, Opcode::Load, Type::I64, MemFlags::trusted(), p, 0);
    fb.ret(&[old, now]);
    let mut it = Interpreter::new([&fb.f]);
    assert_eq!(
        it.call_by_name("cas", &[I64(10), I64(3)]),
        Ok(vec![I64(10), I64(3)])
    );
    assert_eq!(
        it.call_by_name("cas", &[I64(11), I64(3)]),
        Ok(vec![I64(10), I64(10)])
    );
}

fn v128(lanes: &[u128], ty: Type) -> DataValue {
    DataValue::V128(crate::value::join_lanes(lanes, ty).to_le_bytes())
}

#[test]
fn vector_lanes_wrap_compare_and_move() {
    use DataValue::*;
    let i32x4 = Type::I32X4;
    let i8x16 = Type::I8X16;
    // Lane-wise wrapping add.
    let a = v128(&[u32::MAX as u128, 1, 2, 0x8000_0000], i32x4);
    let b = v128(&[1, 2, 3, 0x8000_0000], i32x4);
    // (`DataValue` vectors do not record their lane shape, so the types are
    // given explicitly.)
    let add = run_op(Opcode::Iadd, &[i32x4, i32x4], i32x4, &[a, b]);
    assert_eq!(add, Ok(v128(&[0, 3, 5, 0], i32x4)));
    // The same bits as i8x16: byte lanes wrap separately.
    let add8 = run_op(Opcode::Iadd, &[i8x16, i8x16], i8x16, &[a, b]).unwrap();
    assert_eq!(
        add8,
        v128(
            &[0, 0xff, 0xff, 0xff, 3, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0],
            i8x16
        )
    );
    // Shift amounts are scalars, masked by the lane width.
    let r = run_op(Opcode::Ishl, &[i32x4, Type::I32], i32x4, &[b, I32(33)]).unwrap();
    assert_eq!(r, v128(&[2, 4, 6, 0], i32x4));
    // icmp on vectors: all-ones or zero lanes.
    let mut fb = Fb::new("f", &[i32x4, i32x4], &[i32x4]);
    let (x, y) = (fb.param(0), fb.param(1));
    let c = fb.ins(
        InstructionData::IntCompare {
            opcode: Opcode::Icmp,
            cond: IntCC::SignedLessThan,
            args: [x, y],
        },
        &[i32x4],
    )[0];
    fb.ret(&[c]);
    let got = Interpreter::new([&fb.f])
        .call_by_name("f", &[a, b])
        .unwrap();
    // a = [-1, 1, 2, MIN], b = [1, 2, 3, MIN]: lt, lt, lt, not.
    let ones = u32::MAX as u128;
    assert_eq!(got, vec![v128(&[ones, ones, ones, 0], i32x4)]);
    // splat, insertlane, extractlane.
    let s = run_op(Opcode::Splat, &[Type::I8], i8x16, &[I8(-2)]).unwrap();
    assert_eq!(s, V128([0xfe; 16]));
    let mut fb = Fb::new("g", &[i32x4, Type::I32], &[Type::I32, i32x4]);
    let (v, x) = (fb.param(0), fb.param(1));
    let ins = fb.ins(
        InstructionData::TernaryImm8 {
            opcode: Opcode::Insertlane,
            args: [v, x],
            imm: Uimm8(2),
        },
        &[i32x4],
    )[0];
    let ext = fb.ins(
        InstructionData::BinaryImm8 {
            opcode: Opcode::Extractlane,
            arg: ins,
            imm: Uimm8(3),
        },
        &[Type::I32],
    )[0];
    fb.ret(&[ext, ins]);
    let got = Interpreter::new([&fb.f])
        .call_by_name("g", &[a, I32(9)])
        .unwrap();
    assert_eq!(
        got,
        vec![I32(i32::MIN), v128(&[ones, 1, 9, 0x8000_0000], i32x4)]
    );
    // Lane-wise float ops.
    let f = |x: f32| Ieee32::with_float(x).0 as u128;
    let fa = v128(&[f(1.0), f(-0.0), f(2.5), f(f32::INFINITY)], Type::F32X4);
    let fb_ = v128(&[f(2.0), f(0.0), f(-2.5), f(1.0)], Type::F32X4);
    let got = run_op(Opcode::Fmin, &[Type::F32X4; 2], Type::F32X4, &[fa, fb_]).unwrap();
    assert_eq!(got, v128(&[f(1.0), f(-0.0), f(-2.5), f(1.0)], Type::F32X4));
}

#[test]
fn bitcast_respects_endianness_for_vectors() {
    use DataValue::*;
    let run = |flags: MemFlags, from: Type, to: Type, v: DataValue| {
        let mut fb = Fb::new("f", &[from], &[to]);
        let x = fb.param(0);
        let r = fb.ins(
            InstructionData::LoadNoOffset {
                opcode: Opcode::Bitcast,
                flags,
                arg: x,
            },
            &[to],
        )[0];
        fb.ret(&[r]);
        Interpreter::new([&fb.f]).call_by_name("f", &[v]).unwrap()[0]
    };
    // Scalars: the bits are unchanged whatever the flags.
    let mut big = MemFlags::new();
    big.set_endianness(Endianness::Big);
    assert_eq!(
        run(big, Type::F32, Type::I32, f32v(-2.0)),
        I32(0xc000_0000u32 as i32)
    );
    assert_eq!(
        run(
            MemFlags::new(),
            Type::I64,
            Type::F64,
            I64(0x3ff0_0000_0000_0000)
        ),
        f64v(1.0)
    );
    // i64x2 [A, B] -> i32x4: little gives [A.lo, A.hi, B.lo, B.hi]; big
    // gives [A.hi, A.lo, B.hi, B.lo].
    let a = 0x1111_1111_2222_2222u128;
    let b = 0x3333_3333_4444_4444u128;
    let v = v128(&[a, b], Type::I64X2);
    let mut little = MemFlags::new();
    little.set_endianness(Endianness::Little);
    assert_eq!(
        run(little, Type::I64X2, Type::I32X4, v),
        v128(
            &[0x2222_2222, 0x1111_1111, 0x4444_4444, 0x3333_3333],
            Type::I32X4
        )
    );
    assert_eq!(
        run(big, Type::I64X2, Type::I32X4, v),
        v128(
            &[0x1111_1111, 0x2222_2222, 0x3333_3333, 0x4444_4444],
            Type::I32X4
        )
    );
}

#[test]
fn select_bitselect_bmask_and_float_bits() {
    use DataValue::*;
    let sel = |c: DataValue, a: DataValue, b: DataValue| {
        run_op(
            Opcode::Select,
            &[c.ty(), a.ty(), a.ty()],
            a.ty(),
            &[c, a, b],
        )
    };
    assert_eq!(sel(I8(0), f64v(1.0), f64v(2.0)), Ok(f64v(2.0)));
    assert_eq!(sel(I64(i64::MIN), f64v(1.0), f64v(2.0)), Ok(f64v(1.0)));
    assert_eq!(sel(I128(1 << 100), I16(3), I16(4)), Ok(I16(3)));
    let bs = run_op(
        Opcode::Bitselect,
        &[Type::I8; 3],
        Type::I8,
        &[I8(0x0f), I8(0x55), I8(0xaau8 as i8)],
    );
    assert_eq!(bs, Ok(I8(0xa5u8 as i8)));
    assert_eq!(
        run_op(Opcode::Bmask, &[Type::I128], Type::I8, &[I128(1 << 100)]),
        Ok(I8(-1))
    );
    assert_eq!(
        run_op(Opcode::Bmask, &[Type::I8], Type::I64, &[I8(0)]),
        Ok(I64(0))
    );
    // fcopysign/fneg/fabs on f64 keep everything but the sign.
    assert_eq!(
        bin(Opcode::Fcopysign, f64v(3.0), f64v(-0.0)),
        Ok(f64v(-3.0))
    );
    assert_eq!(un(Opcode::Fneg, f64v(0.0)), Ok(f64v(-0.0)));
    assert_eq!(
        un(Opcode::Fabs, f64v(f64::NEG_INFINITY)),
        Ok(f64v(f64::INFINITY))
    );
    // Rounding: ties to even, sign of zero kept.
    assert_eq!(un(Opcode::Nearest, f64v(2.5)), Ok(f64v(2.0)));
    assert_eq!(un(Opcode::Nearest, f64v(-0.5)), Ok(f64v(-0.0)));
    assert_eq!(un(Opcode::Ceil, f32v(-0.5)), Ok(f32v(-0.0)));
    assert_eq!(un(Opcode::Floor, f32v(-0.5)), Ok(f32v(-1.0)));
    assert_eq!(un(Opcode::Trunc, f64v(-1.9)), Ok(f64v(-1.0)));
    // fma rounds once: 0.1f * 10 + (-1) is not 0 with one rounding.
    let fma = run_op(
        Opcode::Fma,
        &[Type::F64; 3],
        Type::F64,
        &[f64v(0.1), f64v(10.0), f64v(-1.0)],
    );
    assert_eq!(fma, Ok(f64v(5.551115123125783e-17)));
}

fn sig_of(params: &[Type], returns: &[Type]) -> Signature {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params = params.iter().map(|&t| AbiParam::new(t)).collect();
    sig.returns = returns.iter().map(|&t| AbiParam::new(t)).collect();
    sig
}

#[test]
fn libcalls_by_test_case_name_and_address() {
    use DataValue::*;
    // fn0 = %CeilF32(f32) -> f32: not a function of the set, so the
    // interpreter's own CeilF32; also through func_addr + call_indirect.
    let mut fb = Fb::new("f", &[Type::F32], &[Type::F32, Type::F32]);
    let sigref = fb.f.import_signature(sig_of(&[Type::F32], &[Type::F32]));
    let fref = fb.f.import_function(ExtFuncData {
        name: ExternalName::TestCase(TestcaseName::new("CeilF32")),
        signature: sigref,
        colocated: false,
        patchable: false,
    });
    let x = fb.param(0);
    let args = fb.f.dfg.make_value_list(&[x]);
    let a = fb.ins(
        InstructionData::Call {
            opcode: Opcode::Call,
            func_ref: fref,
            args,
        },
        &[Type::F32],
    )[0];
    let p = fb.ins(
        InstructionData::FuncAddr {
            opcode: Opcode::FuncAddr,
            func_ref: fref,
        },
        &[Type::I64],
    )[0];
    let args = fb.f.dfg.make_value_list(&[p, x]);
    let b = fb.ins(
        InstructionData::CallIndirect {
            opcode: Opcode::CallIndirect,
            sig_ref: sigref,
            args,
        },
        &[Type::F32],
    )[0];
    fb.ret(&[a, b]);
    let mut it = Interpreter::new([&fb.f]);
    assert_eq!(
        it.call_by_name("f", &[f32v(0.25)]),
        Ok(vec![f32v(1.0), f32v(1.0)])
    );
    let _ = I8(0);
}

#[test]
fn call_indirect_through_a_non_function_traps() {
    use DataValue::*;
    let mut fb = Fb::new("f", &[Type::I64], &[Type::I64]);
    let sigref = fb.f.import_signature(sig_of(&[], &[Type::I64]));
    let p = fb.param(0);
    let args = fb.f.dfg.make_value_list(&[p]);
    let r = fb.ins(
        InstructionData::CallIndirect {
            opcode: Opcode::CallIndirect,
            sig_ref: sigref,
            args,
        },
        &[Type::I64],
    )[0];
    fb.ret(&[r]);
    let mut it = Interpreter::new([&fb.f]);
    for bad in [0, 8, 0x1234_5678_9abc, -1] {
        assert_eq!(
            it.call_by_name("f", &[I64(bad)]),
            Err(InterpError::Trap(TrapCode::HEAP_OUT_OF_BOUNDS))
        );
    }
}

#[test]
fn try_call_normal_return_flows_through_ret_arguments() {
    use DataValue::*;
    let mut callee = Fb::new("twice", &[Type::I32], &[Type::I32]);
    let x = callee.param(0);
    let r = callee.binary(Opcode::Iadd, x, x, Type::I32);
    callee.ret(&[r]);

    let mut fb = Fb::new("f", &[Type::I32], &[Type::I32]);
    let sigref = fb.f.import_signature(sig_of(&[Type::I32], &[Type::I32]));
    let fref = fb.f.import_function(ExtFuncData {
        name: ExternalName::TestCase(TestcaseName::new("twice")),
        signature: sigref,
        colocated: true,
        patchable: false,
    });
    let (cont, cp) = fb.new_block(&[Type::I32]);
    let a = fb.param(0);
    let normal = fb.f.dfg.block_call(cont, &[BlockArg::TryCallRet(0)]);
    let exception = fb.f.dfg.exception_tables.push(ExceptionTableData {
        sig: sigref,
        targets: vec![normal],
        items: vec![],
    });
    let args = fb.f.dfg.make_value_list(&[a]);
    fb.ins(
        InstructionData::TryCall {
            opcode: Opcode::TryCall,
            func_ref: fref,
            args,
            exception,
        },
        &[],
    );
    fb.switch_to(cont);
    let one = fb.iconst(Type::I32, 1);
    let s = fb.binary(Opcode::Iadd, cp[0], one, Type::I32);
    fb.ret(&[s]);
    let funcs = [callee.f, fb.f];
    let mut it = Interpreter::new(&funcs);
    assert_eq!(it.call_by_name("f", &[I32(20)]), Ok(vec![I32(41)]));
}

#[test]
fn frame_pointers_are_opaque() {
    use DataValue::*;
    let mut fb = Fb::new("f", &[], &[Type::I64]);
    let fp = fb.ins(
        InstructionData::NullAry {
            opcode: Opcode::GetFramePointer,
        },
        &[Type::I64],
    )[0];
    let v = load(&mut fb, Opcode::Load, Type::I64, MemFlags::new(), fp, 0);
    fb.ret(&[v]);
    let mut it = Interpreter::new([&fb.f]);
    assert!(matches!(
        it.call_by_name("f", &[]),
        Err(InterpError::Unsupported(_))
    ));
    let _ = I8(0);
}

#[test]
fn errors_display_their_cause() {
    assert_eq!(
        InterpError::Trap(TrapCode::INTEGER_DIVISION_BY_ZERO).to_string(),
        "trap: int_divz"
    );
    assert_eq!(
        InterpError::Unsupported("fadd on f128".into()).to_string(),
        "unsupported: fadd on f128"
    );
    assert_eq!(InterpError::OutOfFuel.to_string(), "out of fuel");
    assert_eq!(InterpError::StackOverflow.to_string(), "stack overflow");
    assert_eq!(
        InterpError::UnknownFunction("%g".into()).to_string(),
        "unknown function: %g"
    );
}

#[test]
fn unsupported_types_are_reported_not_guessed() {
    // f128 arithmetic is not implemented: the message names opcode and type.
    let a = DataValue::F128(Ieee128(0));
    assert_eq!(
        bin(Opcode::Fadd, a, a),
        Err(InterpError::Unsupported("fadd on f128".into()))
    );
    // f128 bit operations are.
    assert_eq!(un(Opcode::Fneg, a), Ok(DataValue::F128(Ieee128(1 << 127))));
}

#[test]
fn thirty_two_bit_pointers() {
    use DataValue::*;
    let mut fb = Fb::new("f", &[Type::I16], &[Type::I16]);
    let ss = fb.f.create_sized_stack_slot(StackSlotData::new(4, 1));
    let x = fb.param(0);
    let p = fb.ins(
        InstructionData::StackLoad {
            opcode: Opcode::StackAddr,
            stack_slot: ss,
            offset: Offset32(2),
        },
        &[Type::I32],
    )[0];
    store(&mut fb, Opcode::Store, MemFlags::new(), x, p, 0);
    let v = load(&mut fb, Opcode::Load, Type::I16, MemFlags::new(), p, 0);
    // Bytes 3..5 of a 4-byte slot: out of bounds, and executed before the
    // return, so the call traps.
    load(&mut fb, Opcode::Load, Type::I16, MemFlags::new(), p, 1);
    fb.ret(&[v]);
    let mut it = Interpreter::new([&fb.f]);
    assert_eq!(
        it.call_by_name("f", &[I16(-3)]),
        Err(InterpError::Trap(TrapCode::HEAP_OUT_OF_BOUNDS))
    );
    // Many calls in a row do not exhaust the 32-bit key space.
    let mut fb = Fb::new("g", &[Type::I16], &[Type::I16]);
    let ss = fb.f.create_sized_stack_slot(StackSlotData::new(4, 1));
    let x = fb.param(0);
    let p = fb.ins(
        InstructionData::StackLoad {
            opcode: Opcode::StackAddr,
            stack_slot: ss,
            offset: Offset32(2),
        },
        &[Type::I32],
    )[0];
    store(&mut fb, Opcode::Store, MemFlags::new(), x, p, 0);
    let v = load(&mut fb, Opcode::Load, Type::I16, MemFlags::new(), p, 0);
    fb.ret(&[v]);
    let mut it = Interpreter::new([&fb.f]);
    for i in 0..1000 {
        assert_eq!(it.call_by_name("g", &[I16(i)]), Ok(vec![I16(i)]));
    }
}
