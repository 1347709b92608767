//! `kiln_difftest::reduce`: failures shrink and keep their kind; files
//! that do not fail or do not parse are errors.

use kiln_difftest::reduce::{reduce, ReduceError};
use kiln_difftest::FailureKind;

fn insts(text: &str) -> usize {
    let f = kiln_reader::parse_test(text, "t").unwrap();
    f.functions
        .iter()
        .map(|p| {
            p.func
                .layout
                .blocks()
                .map(|b| p.func.layout.block_insts(b).count())
                .sum::<usize>()
        })
        .sum()
}

/// A planted bug (`icmp` operands swapped) buried in unrelated code: the
/// reduction keeps the compare and little else.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[test]
fn a_mismatch_shrinks_to_the_compare() {
    let text = "\
test run
set opt_level=none
set test_fault=swap_icmp_operands
target x86_64

function %helper(i64) -> i64 {
block0(v0: i64):
    v1 = iconst.i64 3
    v2 = imul v0, v1
    return v2
}

function %f(i64, i64, i32) -> i64, i8, i32 {
    sig0 = (i64) -> i64
    fn0 = %helper sig0
block0(v0: i64, v1: i64, v2: i32):
    v3 = iadd v0, v1
    v4 = call fn0(v3)
    v5 = bxor v4, v0
    v6 = popcnt v5
    v7 = iconst.i32 7
    v8 = imul v2, v7
    brif v2, block1, block2(v8)
block1:
    v9 = iadd_imm v8, 1
    jump block2(v9)
block2(v10: i32):
    v11 = icmp slt v0, v1
    v12 = rotl v6, v1
    return v12, v11, v10
}
; run: %f(1, 2, 5) == [12, 1, 36]
";
    let text = text.replace(
        "v9 = iadd_imm v8, 1",
        "v20 = iconst.i32 1\n    v9 = iadd v8, v20",
    );
    let before = insts(&text);
    let r = reduce(&text, "t.clif", 5000).unwrap();
    assert_eq!(r.kind, FailureKind::Mismatch);
    assert!(r.text.contains("icmp"), "{}", r.text);
    // Two i64 constants, the compare, an i32 constant and the return.
    assert!(
        r.insts_after <= 5,
        "{before} -> {}:\n{}",
        r.insts_after,
        r.text
    );
    assert_eq!(insts(&r.text), r.insts_after);
    assert!(r.insts_after < before);
    // The reduced run line carries the interpreter's results.
    assert!(r.text.contains("; run: %f("), "{}", r.text);
}

#[test]
fn a_verifier_error_keeps_its_kind() {
    let text = "\
test verifier

function %f(i32, i64) -> i32 {
block0(v0: i32, v1: i64):
    v2 = iconst.i32 1
    v3 = iadd v0, v2
    v4 = imul v3, v3
    v5 = iadd v0, v1
    v6 = bxor v4, v3
    return v6
}
";
    let r = reduce(text, "t.clif", 2000).unwrap();
    assert_eq!(r.kind, FailureKind::Verifier);
    assert!(r.text.contains("iadd v0, v1"), "{}", r.text);
    assert!(r.insts_after < r.insts_before, "{}", r.text);
}

#[test]
fn files_that_pass_or_do_not_parse_are_errors() {
    let ok = "test run\ntarget x86_64\nfunction %f(i32) -> i32 {\nblock0(v0: i32):\n    return v0\n}\n; run: %f(3) == 3\n";
    assert_eq!(
        reduce(ok, "ok.clif", 100).unwrap_err(),
        ReduceError::NoFailure
    );
    assert!(matches!(
        reduce("function %f(", "bad.clif", 100),
        Err(ReduceError::Parse(_))
    ));
    let bad_set = "set no_such_setting=1\nfunction %f() {\nblock0:\n    return\n}\n";
    assert!(matches!(
        reduce(bad_set, "set.clif", 100),
        Err(ReduceError::Setup(_))
    ));
}
