//! Interpreter throughput on loop kernels.
//!
//! 1. `fib_iter` from `/work/shared/clif/kernels/fib_iter.clif`, built here
//!    instruction for instruction (the same blocks, values and opcodes as
//!    the file), so this figure needs nothing outside the repository.
//! 2. When the kernels folder is present (`$KILN_KERNELS`, default
//!    `/work/shared/clif/kernels`), `fib_iter` and `popcount_sum` parsed
//!    from their files with the reader, checked against their `; run:`
//!    values.
//!
//! Run: `cargo bench -p kiln-interpreter --bench loop`
//! Prints instructions executed per second (the interpreter's fuel count).

use kiln_interpreter::Interpreter;
use kiln_ir::*;
use std::time::Instant;

fn results(f: &mut Function, inst: Inst, tys: &[Type]) -> Vec<Value> {
    let base = f.dfg.num_values() as u32;
    let rs: Vec<(Value, Type)> = tys
        .iter()
        .enumerate()
        .map(|(i, &t)| (Value::from_u32(base + i as u32), t))
        .collect();
    f.dfg.attach_inst_results(inst, &rs);
    rs.into_iter().map(|(v, _)| v).collect()
}

fn add(f: &mut Function, b: Block, data: InstructionData, tys: &[Type]) -> Vec<Value> {
    let inst = f.dfg.make_inst(data);
    f.layout.append_inst(inst, b);
    results(f, inst, tys)
}

/// ```text
/// function %fib_iter(i64) -> i64 {
/// block0(v0: i64):
///     v200 = iconst.i64 -1
///     v1 = iconst.i64 0
///     v2 = iconst.i64 1
///     jump block1(v0, v1, v2)
/// block1(v3: i64, v4: i64, v5: i64):
///     brif v3, block2, block3
/// block2:
///     v6 = iadd v4, v5
///     v7 = iadd v3, v200
///     jump block1(v7, v5, v6)
/// block3:
///     return v4
/// }
/// ```
fn fib_iter() -> Function {
    let i64t = Type::I64;
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(i64t));
    sig.returns.push(AbiParam::new(i64t));
    let mut f = Function::with_name_signature(UserFuncName::testcase("fib_iter"), sig);
    let blocks: Vec<Block> = (0..4).map(|_| f.dfg.make_block()).collect();
    for &b in &blocks {
        f.layout.append_block(b);
    }
    let v0 = f.dfg.append_block_param(blocks[0], i64t);
    let iconst = |x| InstructionData::UnaryImm {
        opcode: Opcode::Iconst,
        imm: Imm64(x),
    };
    let m1 = add(&mut f, blocks[0], iconst(-1), &[i64t])[0];
    let v1 = add(&mut f, blocks[0], iconst(0), &[i64t])[0];
    let v2 = add(&mut f, blocks[0], iconst(1), &[i64t])[0];
    let dest = f.dfg.block_call_values(blocks[1], &[v0, v1, v2]);
    add(
        &mut f,
        blocks[0],
        InstructionData::Jump {
            opcode: Opcode::Jump,
            destination: dest,
        },
        &[],
    );
    let v3 = f.dfg.append_block_param(blocks[1], i64t);
    let v4 = f.dfg.append_block_param(blocks[1], i64t);
    let v5 = f.dfg.append_block_param(blocks[1], i64t);
    let t = f.dfg.block_call_values(blocks[2], &[]);
    let e = f.dfg.block_call_values(blocks[3], &[]);
    add(
        &mut f,
        blocks[1],
        InstructionData::Brif {
            opcode: Opcode::Brif,
            arg: v3,
            blocks: [t, e],
        },
        &[],
    );
    let iadd = |a, b| InstructionData::Binary {
        opcode: Opcode::Iadd,
        args: [a, b],
    };
    let v6 = add(&mut f, blocks[2], iadd(v4, v5), &[i64t])[0];
    let v7 = add(&mut f, blocks[2], iadd(v3, m1), &[i64t])[0];
    let dest = f.dfg.block_call_values(blocks[1], &[v7, v5, v6]);
    add(
        &mut f,
        blocks[2],
        InstructionData::Jump {
            opcode: Opcode::Jump,
            destination: dest,
        },
        &[],
    );
    let rets = f.dfg.make_value_list(&[v4]);
    add(
        &mut f,
        blocks[3],
        InstructionData::MultiAry {
            opcode: Opcode::Return,
            args: rets,
        },
        &[],
    );
    f
}

/// Best-of-5 time of `name(arg)` in `funcs`, checked against `want`.
fn measure(funcs: &[Function], name: &str, arg: i64, want: i64) -> (u64, f64) {
    let mut it = Interpreter::new(funcs);
    let mut best = f64::MAX;
    let mut insts = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = it.call_by_name(name, &[DataValue::I64(arg)]).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(r, vec![DataValue::I64(want)], "{name}({arg})");
        insts = it.fuel_consumed();
    }
    (insts, best)
}

fn report(what: &str, (insts, secs): (u64, f64)) {
    println!(
        "{what}: {insts} instructions in {:.1} ms (best of 5) = {:.1} M instructions/s",
        secs * 1e3,
        insts as f64 / secs / 1e6
    );
}

fn from_files() {
    let dir = std::env::var("KILN_KERNELS").unwrap_or_else(|_| "/work/shared/clif/kernels".into());
    let load = |file: &str| {
        let path = std::path::Path::new(&dir).join(file);
        let text = std::fs::read_to_string(&path).ok()?;
        Some(kiln_reader::parse_functions(&text).expect("kernel parses"))
    };
    let (Some(fib), Some(pop)) = (load("fib_iter.clif"), load("popcount.clif")) else {
        println!("(no kernels folder at {dir}: file-based figures skipped)");
        return;
    };
    // Expected values from the files' run lines.
    report(
        "fib_iter.clif  fib_iter(1000000)     ",
        measure(&fib, "fib_iter", 1_000_000, 0xc506ab88_705714bbu64 as i64),
    );
    report(
        "popcount.clif  popcount_sum(100000)  ",
        measure(&pop, "popcount_sum", 100_000, 3_199_942),
    );
}

fn main() {
    from_files();
    let f = fib_iter();
    let mut it = Interpreter::new([&f]);
    // Expected values from the kernel file's run lines.
    let check = it.call_by_name("fib_iter", &[DataValue::I64(90)]).unwrap();
    assert_eq!(check, vec![DataValue::I64(2880067194370816120)]);
    let n = 1_000_000i64;
    let mut best = f64::MAX;
    let mut insts = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = it.call_by_name("fib_iter", &[DataValue::I64(n)]).unwrap();
        let dt = t.elapsed().as_secs_f64();
        assert_eq!(r, vec![DataValue::I64(0xc506ab88_705714bbu64 as i64)]);
        insts = it.fuel_consumed();
        best = best.min(dt);
    }
    report(&format!("built-in       fib_iter({n})     "), (insts, best));
}
