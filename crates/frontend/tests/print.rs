//! The printer's view of a built function (golden output).

use kiln_frontend::{BuildError, FunctionBuilder, FunctionBuilderContext};
use kiln_ir::verifier::verify_function;
use kiln_ir::{AbiParam, CallConv, Function, IntCC, Opcode, Signature, Type, UserFuncName};

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

#[test]
fn fib_prints() -> R {
    let f = fib(true)?;
    let expected = "\
function %fib(i32) -> i32 system_v {
block0(v0: i32):
    v1 = iconst.i32 0
    v2 = iconst.i32 1
    jump block1(v1, v1, v2)  ; v1 = 0, v1 = 0, v2 = 1

block1(v3: i32, v5: i32, v6: i32):
    v4 = icmp slt v3, v0
    brif v4, block2, block3

block2:
    v7 = iadd.i32 v5, v6
    v8 = iconst.i32 1
    v9 = iadd.i32 v3, v8  ; v8 = 1
    jump block1(v9, v6, v7)

block3:
    return v5
}
";
    assert_eq!(f.to_string(), expected);
    Ok(())
}

#[test]
fn late_sealing_prints_the_same_shape() -> R {
    // Sealing everything at the end creates and removes more provisional
    // parameters, but the result has the same blocks and parameters.
    let early = fib(true)?.to_string();
    let late = fib(false)?.to_string();
    let shape = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("block"))
            .map(|l| l.chars().filter(|c| *c == ':').count().to_string())
            .collect()
    };
    assert_eq!(shape(&early), shape(&late));
    assert!(
        !late
            .lines()
            .any(|l| l.starts_with("    v") && l.contains(" -> ")),
        "no alias lines:\n{late}"
    );
    Ok(())
}
