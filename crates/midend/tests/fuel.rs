//! The rules run under fuel: with none they change nothing, with a little
//! they stop early and leave a correct function, and the default budget
//! simplifies long chains completely.

use kiln_interpreter::Interpreter;
use kiln_ir::{DataValue, Function};
use kiln_midend::{optimized, OptOptions};

/// `v0 + 0 + 0 ... (n times) * 1`, then `+ 3`.
fn chain(n: usize) -> Function {
    let mut text = String::from("function %chain(i64) -> i64 {\nblock0(v0: i64):\n");
    text.push_str("    v1 = iconst.i64 0\n    v2 = iconst.i64 1\n");
    let mut last = 0;
    for i in 0..n {
        let v = 3 + i;
        text.push_str(&format!("    v{v} = iadd v{last}, v1\n"));
        last = v;
    }
    let m = 3 + n;
    text.push_str(&format!(
        "    v{m} = imul v{last}, v2\n    v{} = iconst.i64 3\n    v{} = iadd v{m}, v{}\n    return v{}\n}}\n",
        m + 1,
        m + 2,
        m + 1,
        m + 2
    ));
    kiln_reader::parse_functions(&text)
        .expect("parses")
        .remove(0)
}

fn run(f: &Function, x: i64) -> Vec<DataValue> {
    let mut i = Interpreter::new(std::iter::once(f));
    i.call_by_name("chain", &[DataValue::I64(x)]).expect("runs")
}

fn opt(f: &Function, opts: &OptOptions) -> (Function, kiln_midend::OptStats) {
    let (stencil, stats) = optimized(&f.stencil, opts);
    let g = Function {
        name: f.name.clone(),
        stencil,
        params: f.params.clone(),
    };
    kiln_ir::verifier::verify_function(&g).expect("optimized function verifies");
    (g, stats)
}

fn count_insts(f: &Function) -> usize {
    f.stencil
        .layout
        .blocks()
        .map(|b| f.stencil.layout.block_insts(b).count())
        .sum()
}

#[test]
fn no_fuel_no_rewrites() {
    let f = chain(50);
    let opts = OptOptions {
        fuel_base: 0,
        fuel_per_inst: 0,
        ..OptOptions::default()
    };
    let (g, stats) = opt(&f, &opts);
    assert_eq!(stats.simplified, 0);
    assert!(stats.fuel_exhausted);
    assert_eq!(run(&g, 39), run(&f, 39));
}

#[test]
fn little_fuel_stops_early_and_stays_correct() {
    let f = chain(50);
    let opts = OptOptions {
        fuel_base: 5,
        fuel_per_inst: 0,
        ..OptOptions::default()
    };
    let (g, stats) = opt(&f, &opts);
    assert!(stats.simplified <= 5, "{stats:?}");
    assert!(stats.fuel_exhausted);
    assert!(count_insts(&g) > 10);
    assert_eq!(run(&g, -7), run(&f, -7));
}

#[test]
fn default_fuel_simplifies_a_long_chain() {
    let f = chain(5000);
    let (g, stats) = opt(&f, &OptOptions::default());
    assert!(!stats.fuel_exhausted);
    // iconst 3, iadd, return.
    assert_eq!(count_insts(&g), 3, "{g}");
    assert_eq!(run(&g, 1 << 40), vec![DataValue::I64((1 << 40) + 3)]);
}
