//! The embedding path end to end through the facade: functions built with
//! the generated builder methods and `Switch`, compiled (fresh and from
//! the cache) and run natively in a `JitModule`, against the interpreter.

use kiln::prelude::*;
use kiln_interpreter::Interpreter;
use std::sync::Arc;

fn sig(param: Type) -> Signature {
    let mut s = Signature::new(CallConv::SystemV);
    s.params.push(AbiParam::new(param));
    s.returns.push(AbiParam::new(Type::I64));
    s
}

/// `sw(x)`: `x * 7 + case` for the cases, else -1, as a `Switch`.
fn switch_function(name: &str, ty: Type, cases: &[u128]) -> Function {
    let mut func = Function::with_name_signature(UserFuncName::testcase(name), sig(ty));
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry).unwrap();
    b.switch_to_block(entry).unwrap();
    b.seal_block(entry).unwrap();
    let x = b.block_params(entry)[0];
    let wide = if ty == Type::I64 {
        x
    } else {
        b.ins().uextend(Type::I64, x).unwrap()
    };
    let mut s = Switch::new();
    let mut arms = Vec::new();
    for &c in cases {
        let blk = b.create_block();
        s.set_entry(c, blk).unwrap();
        arms.push((blk, Some(c as i64)));
    }
    let other = b.create_block();
    arms.push((other, None));
    s.emit(&mut b, x, other).unwrap();
    for (blk, case) in arms {
        b.switch_to_block(blk).unwrap();
        b.seal_block(blk).unwrap();
        let r = match case {
            Some(c) => {
                let seven = b.ins().imul_imm(wide, 7).unwrap();
                b.ins().iadd_imm(seven, c).unwrap()
            }
            None => b.ins().iconst(Type::I64, -1).unwrap(),
        };
        b.ins().return_(&[r]).unwrap();
    }
    b.finalize().unwrap();
    func
}

#[test]
fn switches_run_natively_as_in_the_interpreter_fresh_and_cached() {
    if !cfg!(target_arch = "x86_64") {
        println!("SKIP: native runs need an x86-64 host");
        return;
    }
    let isa = kiln::host_isa().unwrap();
    let cache = CompileCache::new(Arc::new(MemoryStore::new()));
    let layouts: [(Type, &[u128]); 5] = [
        (Type::I32, &[0, 1, 2, 3, 4, 5, 6, 7, 8]),
        (Type::I32, &[3, 1000, 70000]),
        (Type::I64, &[10, 11, 12, 13, 14, 500, 1 << 40]),
        (Type::I64, &[0, 1, 2, 3, (1 << 32) + 1]),
        (Type::I8, &[1, 2, 3, 4, 5, 200, 250, 251, 252, 253]),
    ];
    let probes: Vec<u64> = (0..300u64)
        .chain([
            499,
            500,
            501,
            65535,
            70000,
            1 << 32,
            (1 << 32) + 1,
            1 << 40,
            u64::MAX,
        ])
        .collect();
    for round in 0..2 {
        // Round 0 compiles; round 1 gets every function from the cache.
        let mut module = JitModule::new();
        let mut built = Vec::new();
        for (k, (ty, cases)) in layouts.iter().enumerate() {
            let name = format!("sw{k}");
            let f = switch_function(&name, *ty, cases);
            let id = module
                .declare_function(&name, Linkage::Local, &f.stencil.signature)
                .unwrap();
            kiln::compile_and_define(&mut module, id, &f, &*isa, Some(&cache)).unwrap();
            built.push((id, *ty, f));
        }
        module.finalize().unwrap();
        for (id, ty, f) in &built {
            let p = module.get_finalized_function(*id).unwrap();
            let mut interp = Interpreter::new([f]);
            for &x in &probes {
                let (native, arg) = match *ty {
                    Type::I8 => {
                        // SAFETY: system_v (i8) -> i64 code in a live module.
                        let g: extern "sysv64" fn(i8) -> i64 = unsafe { std::mem::transmute(p) };
                        (g(x as i8), kiln::ir::DataValue::I8(x as i8))
                    }
                    Type::I32 => {
                        // SAFETY: system_v (i32) -> i64 code in a live module.
                        let g: extern "sysv64" fn(i32) -> i64 = unsafe { std::mem::transmute(p) };
                        (g(x as i32), kiln::ir::DataValue::I32(x as i32))
                    }
                    _ => {
                        // SAFETY: system_v (i64) -> i64 code in a live module.
                        let g: extern "sysv64" fn(i64) -> i64 = unsafe { std::mem::transmute(p) };
                        (g(x as i64), kiln::ir::DataValue::I64(x as i64))
                    }
                };
                let name = f.name.to_string();
                let want = interp.call_by_name(&name[1..], &[arg]).unwrap();
                assert_eq!(
                    vec![kiln::ir::DataValue::I64(native)],
                    want,
                    "round {round} {name}({x})"
                );
            }
        }
    }
    let s = cache.stats();
    assert_eq!((s.misses, s.hits), (5, 5), "{s:?}");
}
