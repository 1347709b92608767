//! Division by constants through the real rules: for many divisors of
//! every integer width, a function dividing its argument by the constant
//! (`sdiv`/`srem` and `udiv`/`urem`) is optimized, the divide must be gone
//! exactly where the rules promise to remove it (and stay where it can
//! trap: by 0, `sdiv` by -1), and the interpreter must give the true
//! quotient and remainder (computed here with Rust's operators) for the
//! optimized function on edge and random dividends, or the same trap.

use kiln_interpreter::{InterpError, Interpreter};
use kiln_ir::{DataValue, Function, Opcode, TrapCode};
use kiln_midend::{optimized, OptOptions};

fn sext(x: u64, n: u32) -> i64 {
    let s = 64 - n;
    ((x << s) as i64) >> s
}

fn mask(n: u32) -> u64 {
    if n == 64 {
        u64::MAX
    } else {
        (1 << n) - 1
    }
}

fn data(n: u32, x: u64) -> DataValue {
    match n {
        8 => DataValue::I8(x as i8),
        16 => DataValue::I16(x as i16),
        32 => DataValue::I32(x as i32),
        _ => DataValue::I64(x as i64),
    }
}

fn bits(v: &DataValue) -> u64 {
    match *v {
        DataValue::I8(x) => x as u8 as u64,
        DataValue::I16(x) => x as u16 as u64,
        DataValue::I32(x) => x as u32 as u64,
        DataValue::I64(x) => x as u64,
        ref other => panic!("unexpected result {other:?}"),
    }
}

/// `%f(x) = x op1 d, x op2 d`, optimized at the default options.
fn optimized_pair(n: u32, d: u64, ops: [&str; 2]) -> Function {
    let text = format!(
        "function %f(i{n}) -> i{n}, i{n} {{\nblock0(v0: i{n}):\n    v1 = iconst.i{n} {}\n    v2 = {} v0, v1\n    v3 = {} v0, v1\n    return v2, v3\n}}\n",
        sext(d, n),
        ops[0],
        ops[1]
    );
    parse_and_optimize(&text).1
}

/// The one function of `text`, and its copy optimized at the default
/// options (which must verify).
fn parse_and_optimize(text: &str) -> (Function, Function) {
    let f = kiln_reader::parse_functions(text)
        .expect("parses")
        .remove(0);
    let (stencil, _) = optimized(&f.stencil, &OptOptions::default());
    let g = Function {
        name: f.name.clone(),
        stencil,
        params: f.params.clone(),
    };
    kiln_ir::verifier::verify_function(&g).expect("optimized function verifies");
    (f, g)
}

fn divides(f: &Function) -> usize {
    let s = &f.stencil;
    s.layout
        .blocks()
        .flat_map(|b| s.layout.block_insts(b))
        .filter(|&i| {
            matches!(
                s.dfg.insts[i].opcode(),
                Opcode::Sdiv | Opcode::Srem | Opcode::Udiv | Opcode::Urem
            )
        })
        .count()
}

fn dividends(n: u32, d: u64, next: &mut impl FnMut() -> u64) -> Vec<u64> {
    let m = mask(n);
    let (min, max) = (sext(1 << (n - 1), n) as i128, sext(m >> 1, n) as i128);
    let a = (sext(d, n) as i128).abs().max(1);
    let ua = (d as i128).max(1);
    let mut xs: Vec<i128> = vec![0, 1, -1, 2, min, max, m as i128, (m - 1) as i128];
    for base in [0, max / a * a, min / a * a, m as i128 / ua * ua] {
        for delta in [-1, 0, 1] {
            for off in [-a, 0, a] {
                xs.push(base + off + delta);
            }
        }
    }
    let mut out: Vec<u64> = xs.into_iter().map(|x| (x as u64) & m).collect();
    for _ in 0..24 {
        let r = next();
        out.push((r >> (next() % u64::from(n))) & m);
    }
    out
}

#[test]
fn division_by_constants_matches_the_interpreter() {
    let mut seed = 0x5eed_d1f1_5eed_d1f1u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut calls = 0usize;
    for n in [8u32, 16, 32, 64] {
        let m = mask(n);
        let mut ds: Vec<i64> = (-40..=40).collect();
        for k in 1..n {
            ds.extend([1i64 << k, -(1i64 << k), (1i64 << k) - 1, -(1i64 << k) + 1]);
        }
        ds.extend([1000, -1000, 7919, 641, 274_177, i64::MAX, i64::MIN + 1]);
        for _ in 0..60 {
            ds.push(next() as i64 >> (next() % 64));
        }
        for d in ds {
            let d = (d as u64) & m;
            let sd = sext(d, n);
            let a = sd.unsigned_abs();
            let signed = optimized_pair(n, d, ["sdiv", "srem"]);
            let unsigned = optimized_pair(n, d, ["udiv", "urem"]);
            // What the rules promise: sdiv by every constant but 0 and
            // -1 (i8 and i16 through i32), srem also by -1; udiv by every
            // constant but 0 and, at i32/i64, those above 2^(N-1) that
            // are not a power of two.
            let sdiv_gone = sd == 1 || a > 1;
            let srem_gone = sd == -1 || sdiv_gone;
            let expect_signed = usize::from(!sdiv_gone) + usize::from(!srem_gone);
            assert_eq!(divides(&signed), expect_signed, "i{n} sdiv/srem by {sd}");
            let udiv_gone =
                d == 1 || d.is_power_of_two() || (d > 2 && (n < 32 || d <= 1 << (n - 1)));
            let expect_unsigned = if udiv_gone { 0 } else { 2 };
            assert_eq!(divides(&unsigned), expect_unsigned, "i{n} udiv/urem by {d}");
            for x in dividends(n, d, &mut next) {
                let sx = sext(x, n);
                for (f, is_signed) in [(&signed, true), (&unsigned, false)] {
                    let mut i = Interpreter::new(std::iter::once(f));
                    let got = i.call_by_name("f", &[data(n, x)]);
                    calls += 1;
                    let want: Result<[u64; 2], TrapCode> = if d == 0 {
                        Err(TrapCode::INTEGER_DIVISION_BY_ZERO)
                    } else if is_signed {
                        if sd == -1 && sx == sext(1 << (n - 1), n) {
                            Err(TrapCode::INTEGER_OVERFLOW)
                        } else {
                            Ok([
                                (sx.wrapping_div(sd) as u64) & m,
                                (sx.wrapping_rem(sd) as u64) & m,
                            ])
                        }
                    } else {
                        Ok([x / d, x % d])
                    };
                    match (got, want) {
                        (Ok(v), Ok(w)) => {
                            let v = [bits(&v[0]), bits(&v[1])];
                            assert_eq!(v, w, "i{n} {x:#x} by {d:#x} (signed: {is_signed})");
                        }
                        (Err(InterpError::Trap(c)), Err(w)) => {
                            assert_eq!(c, w, "i{n} {x:#x} by {d:#x}")
                        }
                        (g, w) => panic!("i{n} {x:#x} by {d:#x}: got {g:?}, want {w:?}"),
                    }
                }
            }
        }
    }
    assert!(calls > 50_000, "{calls} calls");
}

/// `srem MIN, -1` is 0 (no trap), before and after the rule that makes
/// `srem` by -1 the constant 0, at every width.
#[test]
fn srem_by_minus_one_is_zero_even_for_min() {
    for n in [8u32, 16, 32, 64] {
        let text = format!(
            "function %f(i{n}) -> i{n} {{\nblock0(v0: i{n}):\n    v1 = iconst.i{n} -1\n    v2 = srem v0, v1\n    return v2\n}}\n"
        );
        let (f, g) = parse_and_optimize(&text);
        assert_eq!(divides(&g), 0, "i{n} srem by -1 folded");
        for func in [&f, &g] {
            for x in [1u64 << (n - 1), 0, 1, mask(n), mask(n) >> 1] {
                let mut i = Interpreter::new(std::iter::once(func));
                let got = i.call_by_name("f", &[data(n, x)]).expect("no trap");
                assert_eq!(bits(&got[0]), 0, "i{n} {x:#x} srem -1");
            }
        }
    }
}
