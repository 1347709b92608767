//! Strength reduction and unrolling keep what a loop computes (checked in
//! the interpreter against the unoptimized function, over wrapping start
//! values and trip counts), and they do fire: the multiply leaves the loop
//! and the loop body is copied.

use kiln_interpreter::Interpreter;
use kiln_ir::{DataValue, Function, Opcode};
use kiln_midend::{optimize_into, optimized, OptOptions, OptStats};
use std::path::Path;

/// `acc ^= p*12 - 7; acc += (p<<3) + n` while `p += step` stays below `n`
/// (do-while), in type `ty`; the result goes out through the exit's
/// argument so the loop qualifies for unrolling too.
fn kernel(ty: &str) -> Function {
    let text = format!(
        "function %k({ty}, {ty}) -> {ty} {{
block0(v0: {ty}, v1: {ty}):
    v2 = iconst.{ty} 0
    jump block1(v0, v2)
block1(v3: {ty}, v4: {ty}):
    v5 = iconst.{ty} 12
    v6 = imul v3, v5
    v7 = iconst.{ty} 7
    v8 = isub v6, v7
    v9 = bxor v4, v8
    v10 = iconst.{ty} 3
    v11 = ishl v3, v10
    v12 = iadd v11, v1
    v13 = iadd v9, v12
    v14 = iconst.{ty} 5
    v15 = iadd v3, v14
    v16 = icmp ult v15, v1
    brif v16, block1(v15, v13), block2(v13)
block2(v17: {ty}):
    return v17
}}
"
    );
    kiln_reader::parse_functions(&text)
        .expect("parses")
        .remove(0)
}

fn opt(f: &Function, opts: &OptOptions) -> (Function, OptStats) {
    let (stencil, stats) = optimized(&f.stencil, opts);
    let g = Function {
        name: f.name.clone(),
        stencil,
        params: f.params.clone(),
    };
    kiln_ir::verifier::verify_function(&g).expect("optimized function verifies");
    (g, stats)
}

fn run(f: &Function, args: &[DataValue]) -> Vec<DataValue> {
    let mut i = Interpreter::new(std::iter::once(f));
    i.call_by_name("k", args).expect("runs")
}

/// How many multiplies `f` still has.
fn multiplies(f: &Function) -> usize {
    let l = &f.stencil.layout;
    l.blocks()
        .flat_map(|b| l.block_insts(b))
        .filter(|&i| f.stencil.dfg.insts[i].opcode() == Opcode::Imul)
        .count()
}

#[test]
fn strength_reduction_and_unrolling_keep_results() {
    for ty in ["i32", "i64"] {
        let f = kernel(ty);
        let (g, stats) = opt(&f, &OptOptions::default());
        assert!(stats.strength_reduced >= 1, "{ty}: {stats:?}");
        assert_eq!(stats.unrolled, 1, "{ty}: {stats:?}");
        // The only multiply left computes the start value, outside the loop.
        assert!(multiplies(&g) <= 1, "{ty}");
        let plain = OptOptions {
            strength_reduction: false,
            unroll: false,
            ..OptOptions::default()
        };
        let (h, hs) = opt(&f, &plain);
        assert_eq!((hs.strength_reduced, hs.unrolled), (0, 0));
        let starts: [i64; 6] = [0, 1, 7, -3, i64::from(i32::MAX) - 20, i64::MAX - 40];
        let limits: [i64; 5] = [0, 1, 40, 1000, -1];
        for &s in &starts {
            for &n in &limits {
                let args = if ty == "i32" {
                    // -1 as the limit would loop 2^32/5 times: keep it short.
                    let n = if n == -1 { 3000 } else { n };
                    vec![DataValue::I32(s as i32), DataValue::I32(n as i32)]
                } else {
                    let n = if n == -1 { 5000 } else { n };
                    vec![DataValue::I64(s), DataValue::I64(n)]
                };
                let want = run(&f, &args);
                assert_eq!(run(&g, &args), want, "{ty} {args:?}");
                assert_eq!(run(&h, &args), want, "{ty} {args:?}");
            }
        }
    }
}

/// `optimize_into` with one destination reused across functions of
/// different sizes (larger before smaller and back) prints exactly what
/// `optimized` returns for each: nothing of the previous function is left.
#[test]
fn optimize_into_a_reused_stencil_matches_a_fresh_copy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cranelift-like-ir/optimize");
    let mut funcs = Vec::new();
    for name in [
        "rotate.clif",
        "licm.clif",
        "ivsr.clif",
        "unroll.clif",
        "loads.clif",
    ] {
        let text = std::fs::read_to_string(root.join(name)).expect("readable");
        let file = kiln_reader::parse_test(&text, name).expect("parses");
        funcs.extend(file.functions.into_iter().map(|f| f.func));
    }
    funcs.push(kernel("i64"));
    funcs.push(kernel("i32"));
    assert!(funcs.len() > 10);
    let order: Vec<&Function> = funcs.iter().chain(funcs.iter().rev()).collect();
    let opts = OptOptions::default();
    let mut dst = kiln_ir::FunctionStencil::default();
    let print = |f: &Function, stencil: kiln_ir::FunctionStencil| {
        Function {
            name: f.name.clone(),
            stencil,
            params: f.params.clone(),
        }
        .to_string()
    };
    for f in order {
        let (fresh, fresh_stats) = optimized(&f.stencil, &opts);
        let stats = optimize_into(&f.stencil, &opts, &mut dst);
        assert_eq!(print(f, dst.clone()), print(f, fresh), "{}", f.name);
        assert_eq!(stats.rotated, fresh_stats.rotated);
    }
}
