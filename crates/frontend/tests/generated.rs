//! The per-opcode builder methods generated from the opcode table, and
//! `Switch`, checked by running the built functions in the interpreter.

use kiln_frontend::{FunctionBuilder, FunctionBuilderContext, Switch};
use kiln_interpreter::Interpreter;
use kiln_ir::verifier::verify_function;
use kiln_ir::{AbiParam, CallConv, DataValue, Function, MemFlags, Signature, Type, UserFuncName};

fn sig(params: &[Type], returns: &[Type]) -> Signature {
    let mut s = Signature::new(CallConv::SystemV);
    s.params = params.iter().map(|&t| AbiParam::new(t)).collect();
    s.returns = returns.iter().map(|&t| AbiParam::new(t)).collect();
    s
}

fn run(f: &Function, args: &[DataValue]) -> Vec<DataValue> {
    if let Err(e) = verify_function(f) {
        panic!("verifier:\n{e}\n{f}");
    }
    let mut i = Interpreter::new([f]);
    i.call_by_name(&f.name.to_string()[1..], args)
        .unwrap_or_else(|e| panic!("{e}\n{f}"))
}

#[test]
fn generated_methods_build_what_they_name() {
    // f(a: i32, b: i32) = (uextend.i64 (a + b) * 3) - (b as i64) via a
    // stack round trip with istore8/uload8 of the low byte added in.
    let mut func = Function::with_name_signature(
        UserFuncName::testcase("f"),
        sig(&[Type::I32, Type::I32], &[Type::I64]),
    );
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry).unwrap();
    b.switch_to_block(entry).unwrap();
    b.seal_block(entry).unwrap();
    let (a, y) = (b.block_params(entry)[0], b.block_params(entry)[1]);
    let s = b.ins().iadd(a, y).unwrap();
    let w = b.ins().uextend(Type::I64, s).unwrap();
    let three = b.ins().iconst(Type::I64, 3).unwrap();
    let m = b.ins().imul(w, three).unwrap();
    let yw = b.ins().sextend(Type::I64, y).unwrap();
    let d = b.ins().isub(m, yw).unwrap();
    let slot = b.create_sized_stack_slot(kiln_ir::StackSlotData::new(8, 3));
    let p = b.ins().stack_addr(Type::I64, slot, 0).unwrap();
    b.ins().istore8(MemFlags::trusted(), a, p, 0).unwrap();
    let byte = b
        .ins()
        .uload8(Type::I64, MemFlags::trusted(), p, 0)
        .unwrap();
    let r = b.ins().iadd(d, byte).unwrap();
    let r = b.ins().bxor(r, three).unwrap();
    let r = b.ins().bxor(r, three).unwrap();
    b.ins().return_(&[r]).unwrap();
    b.finalize().unwrap();
    for (x, z) in [(1i32, 2i32), (300, -7), (-1, 1)] {
        let want = (((x.wrapping_add(z)) as u32 as i64) * 3 - z as i64) + (x as u8 as i64);
        assert_eq!(
            run(&func, &[DataValue::I32(x), DataValue::I32(z)]),
            vec![DataValue::I64(want)],
            "f({x}, {z})"
        );
    }
}

/// `f(x) = cases[x]` or -1, built with a `Switch` over `ty`.
fn switch_function(ty: Type, cases: &[u128]) -> Function {
    let mut func =
        Function::with_name_signature(UserFuncName::testcase("sw"), sig(&[ty], &[Type::I64]));
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry).unwrap();
    b.switch_to_block(entry).unwrap();
    b.seal_block(entry).unwrap();
    let x = b.block_params(entry)[0];
    let mut s = Switch::new();
    let mut targets = Vec::new();
    for &c in cases {
        let blk = b.create_block();
        s.set_entry(c, blk).unwrap();
        targets.push((blk, c as i64 * 10 + 1));
    }
    let other = b.create_block();
    targets.push((other, -1));
    s.emit(&mut b, x, other).unwrap();
    for (blk, v) in targets {
        b.switch_to_block(blk).unwrap();
        b.seal_block(blk).unwrap();
        let r = b.ins().iconst(Type::I64, v).unwrap();
        b.ins().return_(&[r]).unwrap();
    }
    b.finalize().unwrap();
    func
}

fn dv(ty: Type, x: u64) -> DataValue {
    match ty {
        Type::I8 => DataValue::I8(x as i8),
        Type::I16 => DataValue::I16(x as i16),
        Type::I32 => DataValue::I32(x as i32),
        _ => DataValue::I64(x as i64),
    }
}

#[test]
fn switch_matches_a_lookup_for_dense_sparse_and_mixed_cases() {
    let layouts: &[&[u128]] = &[
        &[],
        &[5],
        &[0, 1, 2, 3, 4, 5, 6, 7],
        &[3, 100, 1000],
        &[1, 2, 3, 4, 5, 40, 41, 42, 43, 44, 45, 90, 200, 201],
        &[0, 2, 4, 6, 8, 10, 12],
        &[250, 251, 252, 253, 254, 255],
    ];
    for ty in [Type::I8, Type::I16, Type::I32, Type::I64] {
        let mask = if ty.bits() == 64 {
            u64::MAX
        } else {
            (1u64 << ty.bits()) - 1
        };
        for cases in layouts {
            // Only the cases that fit the type (the others are an error,
            // tested below).
            let cases: Vec<u128> = cases
                .iter()
                .copied()
                .filter(|&c| c <= mask as u128)
                .collect();
            let f = switch_function(ty, &cases);
            let probes = (0..260u64)
                .chain([1 << 32, (1 << 32) + 3, u64::MAX, u64::MAX - 250])
                .map(|x| x & mask);
            for x in probes {
                let want = if cases.contains(&(x as u128)) {
                    x as i64 * 10 + 1
                } else {
                    -1
                };
                assert_eq!(
                    run(&f, &[dv(ty, x)]),
                    vec![DataValue::I64(want)],
                    "{ty} {cases:?} x={x}\n{f}"
                );
            }
        }
    }
}

#[test]
fn dense_cases_become_a_jump_table_and_sparse_ones_do_not() {
    let dense = switch_function(Type::I32, &[0, 1, 2, 3, 4, 5]).to_string();
    assert!(dense.contains("br_table"), "{dense}");
    let sparse = switch_function(Type::I32, &[0, 100, 10000]).to_string();
    assert!(!sparse.contains("br_table"), "{sparse}");
}

#[test]
fn switch_misuse_is_an_error() {
    let mut s = Switch::new();
    let mut func =
        Function::with_name_signature(UserFuncName::testcase("e"), sig(&[Type::I8], &[]));
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let (entry, t, o) = (b.create_block(), b.create_block(), b.create_block());
    b.append_block_params_for_function_params(entry).unwrap();
    b.switch_to_block(entry).unwrap();
    let x = b.block_params(entry)[0];
    s.set_entry(1, t).unwrap();
    assert!(s.set_entry(1, o).is_err());
    s.set_entry(300, t).unwrap();
    // 300 does not fit i8.
    assert!(matches!(
        s.emit(&mut b, x, o),
        Err(kiln_frontend::BuildError::SwitchCase { index: 300, .. })
    ));
}
