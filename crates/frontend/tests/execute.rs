//! Built functions verify, run in the interpreter with the results Rust
//! computes, and print as expected.

use kiln_frontend::{BuildError, FunctionBuilder, FunctionBuilderContext, Variable};
use kiln_interpreter::Interpreter;
use kiln_ir::verifier::verify_function;
use kiln_ir::{
    AbiParam, CallConv, DataValue, Function, Ieee64, IntCC, MemFlags, Opcode, Signature,
    StackSlotData, Type, UserExternalName, UserFuncName,
};

type R<T = ()> = Result<T, BuildError>;

fn sig(params: &[Type], returns: &[Type]) -> Signature {
    let mut s = Signature::new(CallConv::SystemV);
    s.params = params.iter().map(|&t| AbiParam::new(t)).collect();
    s.returns = returns.iter().map(|&t| AbiParam::new(t)).collect();
    s
}

fn verified(func: Function) -> Function {
    if let Err(e) = verify_function(&func) {
        panic!("verifier:\n{e}\n{func}");
    }
    func
}

fn run(funcs: &[&Function], name: &str, args: &[DataValue]) -> Vec<DataValue> {
    let mut interp = Interpreter::new(funcs.iter().copied());
    interp
        .call_by_name(name, args)
        .unwrap_or_else(|e| panic!("{name}{args:?}: {e}"))
}

/// `fib(n)` with variables a, b, i; `seal_early` seals blocks as soon as
/// their predecessors are known, else all at the end.
fn fib(seal_early: bool) -> R<Function> {
    let mut func = Function::with_name_signature(
        UserFuncName::testcase("fib"),
        sig(&[Type::I32], &[Type::I32]),
    );
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let [entry, header, body, exit] = [0; 4].map(|_| b.create_block());
    b.append_block_params_for_function_params(entry)?;
    let [va, vb, vi] = [0; 3].map(|_| b.declare_var(Type::I32).unwrap());
    b.switch_to_block(entry)?;
    let n = b.block_params(entry)[0];
    let zero = b.ins().iconst(Type::I32, 0)?;
    let one = b.ins().iconst(Type::I32, 1)?;
    b.def_var(va, zero)?;
    b.def_var(vb, one)?;
    b.def_var(vi, zero)?;
    b.ins().jump(header, &[])?;
    b.switch_to_block(header)?;
    let i = b.use_var(vi)?;
    let c = b.ins().icmp(IntCC::SignedLessThan, i, n)?;
    b.ins().brif(c, body, &[], exit, &[])?;
    b.switch_to_block(body)?;
    if seal_early {
        b.seal_block(body)?;
    }
    let a = b.use_var(va)?;
    let bv = b.use_var(vb)?;
    let t = b.ins().binary(Opcode::Iadd, a, bv)?;
    b.def_var(va, bv)?;
    b.def_var(vb, t)?;
    let i = b.use_var(vi)?;
    let i = b.ins().iadd_imm(i, 1)?;
    b.def_var(vi, i)?;
    b.ins().jump(header, &[])?;
    if seal_early {
        b.seal_block(header)?;
    }
    b.switch_to_block(exit)?;
    let a = b.use_var(va)?;
    b.ins().return_(&[a])?;
    b.seal_all_blocks();
    b.finalize()?;
    Ok(verified(func))
}

fn rust_fib(n: i32) -> i32 {
    let (mut a, mut b) = (0i32, 1i32);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

#[test]
fn fib_runs() -> R {
    for seal_early in [true, false] {
        let f = fib(seal_early)?;
        for n in [0, 1, 2, 3, 10, 20, 46, 50] {
            assert_eq!(
                run(&[&f], "fib", &[DataValue::I32(n)]),
                [DataValue::I32(rust_fib(n))],
                "fib({n})"
            );
        }
    }
    Ok(())
}

/// Collatz steps of `x` (u64), bounded: nested ifs in a loop, two
/// variables, an early exit through `br_table`-free control flow.
fn collatz() -> R<Function> {
    let mut func = Function::with_name_signature(
        UserFuncName::testcase("collatz"),
        sig(&[Type::I64], &[Type::I32]),
    );
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let [entry, header, body, even, odd, next, exit] = [0; 7].map(|_| b.create_block());
    b.append_block_params_for_function_params(entry)?;
    let x = b.declare_var(Type::I64)?;
    let steps = b.declare_var(Type::I32)?;
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let p = b.block_params(entry)[0];
    b.def_var(x, p)?;
    let z = b.ins().iconst(Type::I32, 0)?;
    b.def_var(steps, z)?;
    b.ins().jump(header, &[])?;

    b.switch_to_block(header)?;
    let xv = b.use_var(x)?;
    let done = b.ins().icmp_imm(IntCC::UnsignedLessThanOrEqual, xv, 1)?;
    b.ins().brif(done, exit, &[], body, &[])?;

    b.switch_to_block(body)?;
    b.seal_block(body)?;
    let xv = b.use_var(x)?;
    let bit = b.ins().band_imm(xv, 1)?;
    b.ins().brif(bit, odd, &[], even, &[])?;

    b.switch_to_block(even)?;
    b.seal_block(even)?;
    let xv = b.use_var(x)?;
    let h = b.ins().ushr_imm(xv, 1)?;
    b.def_var(x, h)?;
    b.ins().jump(next, &[])?;

    b.switch_to_block(odd)?;
    b.seal_block(odd)?;
    let xv = b.use_var(x)?;
    let t = b.ins().imul_imm(xv, 3)?;
    let t = b.ins().iadd_imm(t, 1)?;
    b.def_var(x, t)?;
    b.ins().jump(next, &[])?;

    b.switch_to_block(next)?;
    b.seal_block(next)?;
    let s = b.use_var(steps)?;
    let s = b.ins().iadd_imm(s, 1)?;
    b.def_var(steps, s)?;
    b.ins().jump(header, &[])?;
    b.seal_block(header)?;

    b.switch_to_block(exit)?;
    b.seal_block(exit)?;
    let s = b.use_var(steps)?;
    b.ins().return_(&[s])?;
    b.finalize()?;
    // x and steps vary around the loop; the join `next` merges x.
    assert_eq!(func.stencil.dfg.block_params(header).len(), 2);
    assert_eq!(func.stencil.dfg.block_params(next).len(), 1);
    assert_eq!(func.stencil.dfg.block_params(exit).len(), 0);
    Ok(verified(func))
}

#[test]
fn collatz_runs() -> R {
    let f = collatz()?;
    for x in [0u64, 1, 2, 3, 7, 27, 97, 871] {
        let mut y = x;
        let mut n = 0;
        while y > 1 {
            y = if y % 2 == 0 { y / 2 } else { 3 * y + 1 };
            n += 1;
        }
        assert_eq!(
            run(&[&f], "collatz", &[DataValue::I64(x as i64)]),
            [DataValue::I32(n)],
            "collatz({x})"
        );
    }
    Ok(())
}

/// A switch through `br_table`, stack memory through `stack_store` /
/// `stack_load`, and a call to another built function by user name.
#[test]
fn switch_memory_and_calls_run() -> R {
    let mut ctx = FunctionBuilderContext::new();
    // u0:1(x) = x * 7 - 3
    let mut callee =
        Function::with_name_signature(UserFuncName::user(0, 1), sig(&[Type::I64], &[Type::I64]));
    {
        let mut b = FunctionBuilder::new(&mut callee, &mut ctx);
        let e = b.create_block();
        b.append_block_params_for_function_params(e)?;
        b.switch_to_block(e)?;
        b.seal_block(e)?;
        let x = b.block_params(e)[0];
        let y = b.ins().imul_imm(x, 7)?;
        let y = b.ins().iadd_imm(y, -3)?;
        b.ins().return_(&[y])?;
        b.finalize()?;
    }
    let callee = verified(callee);

    // main(k: i32, x: i64) = match k { 0 => x + 100, 1 | 2 => callee(x), _ => -x }
    // with the result going through a stack slot.
    let mut main = Function::with_name_signature(
        UserFuncName::testcase("main"),
        sig(&[Type::I32, Type::I64], &[Type::I64]),
    );
    {
        let mut b = FunctionBuilder::new(&mut main, &mut ctx);
        let s = b.import_signature(sig(&[Type::I64], &[Type::I64]));
        let f = b.import_function(UserExternalName::new(0, 1), s, true)?;
        let ss = b.create_sized_stack_slot(StackSlotData::new(16, 3));
        let [entry, c0, c12, dflt, join] = [0; 5].map(|_| b.create_block());
        b.append_block_params_for_function_params(entry)?;
        let r: Variable = b.declare_var(Type::I64)?;
        b.switch_to_block(entry)?;
        b.seal_block(entry)?;
        let (k, x) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        b.ins().br_table(k, dflt, &[c0, c12, c12])?;
        b.switch_to_block(c0)?;
        b.seal_block(c0)?;
        let v = b.ins().iadd_imm(x, 100)?;
        b.def_var(r, v)?;
        b.ins().jump(join, &[])?;
        b.switch_to_block(c12)?;
        b.seal_block(c12)?;
        let call = b.ins().call(f, &[x])?;
        let v = b.inst_results(call)[0];
        b.def_var(r, v)?;
        b.ins().jump(join, &[])?;
        b.switch_to_block(dflt)?;
        b.seal_block(dflt)?;
        let v = b.ins().unary(Opcode::Ineg, None, x)?;
        b.def_var(r, v)?;
        b.ins().jump(join, &[])?;
        b.switch_to_block(join)?;
        b.seal_block(join)?;
        let v = b.use_var(r)?;
        b.ins().stack_store(v, ss, 8)?;
        let w = b.ins().stack_load(Type::I64, ss, 8)?;
        b.ins().return_(&[w])?;
        b.finalize()?;
        assert_eq!(main.stencil.dfg.block_params(join).len(), 1);
    }
    let main = verified(main);
    for (k, x) in [(0, 5i64), (1, 5), (2, -4), (3, 9), (-1, 2), (100, 1)] {
        let want = match k {
            0 => x + 100,
            1 | 2 => x * 7 - 3,
            _ => -x,
        };
        assert_eq!(
            run(
                &[&main, &callee],
                "main",
                &[DataValue::I32(k), DataValue::I64(x)]
            ),
            [DataValue::I64(want)],
            "main({k}, {x})"
        );
    }
    Ok(())
}

/// Integer widths through extends, reduces, `isplit`, and a `bitcast`.
#[test]
fn conversions_run() -> R {
    let mut func = Function::with_name_signature(
        UserFuncName::testcase("conv"),
        sig(
            &[Type::I8, Type::F64],
            &[
                Type::I64,
                Type::I64,
                Type::I16,
                Type::I64,
                Type::I64,
                Type::I64,
            ],
        ),
    );
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let e = b.create_block();
    b.append_block_params_for_function_params(e)?;
    b.switch_to_block(e)?;
    b.seal_block(e)?;
    let x = b.block_params(e)[0];
    let u = b.ins().unary(Opcode::Uextend, Some(Type::I64), x)?;
    let s = b.ins().unary(Opcode::Sextend, Some(Type::I64), x)?;
    let r = b.ins().unary(Opcode::Ireduce, Some(Type::I16), s)?;
    let fx = b.block_params(e)[1];
    let bits = b.ins().bitcast(Type::I64, MemFlags::new(), fx)?;
    let wide = b.ins().unary(Opcode::Sextend, Some(Type::I128), s)?;
    let (lo, hi) = b.ins().unary2(Opcode::Isplit, None, wide)?;
    b.ins().return_(&[u, s, r, bits, lo, hi])?;
    b.finalize()?;
    let f = verified(func);
    assert_eq!(
        run(
            &[&f],
            "conv",
            &[DataValue::I8(-2), DataValue::F64(Ieee64::with_float(1.5))]
        ),
        [
            DataValue::I64(254),
            DataValue::I64(-2),
            DataValue::I16(-2),
            DataValue::I64(1.5f64.to_bits() as i64),
            DataValue::I64(-2),
            DataValue::I64(-1)
        ]
    );
    Ok(())
}
