//! Integer traps raised by generated code. i128 division is a libcall on
//! x86-64 and aarch64 (there under qemu-user), but its traps are the
//! generated code's: a zero divisor traps
//! `int_divz` and `sdiv` of INT_MIN by -1 traps `int_ovf` before the call,
//! while `srem` of INT_MIN by -1 is 0. `uadd_overflow_trap` traps with its
//! own code on a carry.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln_filetests::run::run_file;
use kiln_filetests::Outcome;

/// A file with the one function `directive` calls (a directive runs the
/// function it follows).
fn file_for(target: &str, directive: &str) -> String {
    let op = directive
        .strip_prefix('%')
        .and_then(|d| d.split('(').next())
        .unwrap_or("");
    format!(
        "test run
set enable_llvm_abi_extensions=true
target {target}

function %{op}(i128, i128) -> i128 {{
block0(v0: i128, v1: i128):
    v2 = {op} v0, v1
    return v2
}}
; run: {directive}
"
    )
}

const MIN: &str = "-170141183460469231731687303715884105728";

fn run_for(target: &str, directive: &str) -> Outcome {
    let text = file_for(target, directive);
    let file = kiln_reader::parse_test(&text, "div.clif").unwrap();
    run_file(&file)
}

fn expect_trap(directive: &str, code: &str) {
    expect_trap_for("x86_64", directive, code)
}

fn expect_trap_for(target: &str, directive: &str, code: &str) {
    match run_for(target, directive) {
        Outcome::Fail(m) => assert!(
            m.len() == 1 && m[0].contains(&format!("trap {code}")),
            "{directive}: {m:?}"
        ),
        other => panic!("{directive}: expected trap {code}, got {other:?}"),
    }
}

fn expect_pass(directive: &str) {
    expect_pass_for("x86_64", directive)
}

fn expect_pass_for(target: &str, directive: &str) {
    match run_for(target, directive) {
        Outcome::Pass => {}
        other => panic!("{directive}: {other:?}"),
    }
}

#[test]
fn zero_divisors_trap() {
    for op in ["udiv", "sdiv", "urem", "srem"] {
        expect_trap(&format!("%{op}(5, 0) == 0"), "int_divz");
        expect_trap(&format!("%{op}({MIN}, 0) == 0"), "int_divz");
    }
    // A divisor with only its high half set is not zero.
    expect_pass("%udiv(18446744073709551616, 18446744073709551616) == 1");
}

#[test]
fn signed_overflow_traps_only_for_sdiv() {
    expect_trap(&format!("%sdiv({MIN}, -1) == 0"), "int_ovf");
    expect_pass(&format!("%srem({MIN}, -1) == 0"));
    // Neighbours of the overflowing pair divide normally.
    expect_pass("%sdiv(-170141183460469231731687303715884105727, -1) == 170141183460469231731687303715884105727");
    expect_pass(&format!("%sdiv({MIN}, 1) == {MIN}"));
    expect_pass(&format!(
        "%sdiv({MIN}, -18446744073709551617) == 9223372036854775807"
    ));
    expect_pass("%udiv(-1, -1) == 1");
}

/// The same traps and neighbours on aarch64 (under qemu-user, with and
/// without LSE: the libcall does not depend on it), where the checks are
/// `cbz` and `cmn` + `ccmp` before the `bl`.
#[test]
fn aarch64_i128_division_traps() {
    if !kiln_filetests::qemu::tools_available() {
        eprintln!(
            "SKIP aarch64_i128_division_traps: qemu-aarch64 or aarch64-linux-gnu-gcc missing"
        );
        return;
    }
    for target in ["aarch64", "aarch64 has_lse"] {
        for op in ["udiv", "sdiv", "urem", "srem"] {
            expect_trap_for(target, &format!("%{op}(5, 0) == 0"), "int_divz");
            expect_trap_for(target, &format!("%{op}({MIN}, 0) == 0"), "int_divz");
        }
        expect_pass_for(
            target,
            "%udiv(18446744073709551616, 18446744073709551616) == 1",
        );
        expect_trap_for(target, &format!("%sdiv({MIN}, -1) == 0"), "int_ovf");
        expect_pass_for(target, &format!("%srem({MIN}, -1) == 0"));
        expect_pass_for(target, "%sdiv(-170141183460469231731687303715884105727, -1) == 170141183460469231731687303715884105727");
        expect_pass_for(target, &format!("%sdiv({MIN}, 1) == {MIN}"));
        // b == -1 with a's low half zero but its high half not MIN, and
        // a == MIN with b's halves not both all ones: no trap.
        expect_pass_for(
            target,
            "%sdiv(18446744073709551616, -1) == -18446744073709551616",
        );
        expect_pass_for(
            target,
            &format!("%sdiv({MIN}, 18446744073709551615) == -9223372036854775808"),
        );
        expect_pass_for(target, "%udiv(-1, -1) == 1");
    }
}

#[test]
fn uadd_overflow_trap_traps_on_carry_with_its_code() {
    for (ty, max) in [("i32", "4294967295"), ("i64", "18446744073709551615")] {
        let text = format!(
            "test run
target x86_64

function %f(i{b}, i{b}) -> i{b} {{
block0(v0: i{b}, v1: i{b}):
    v2 = uadd_overflow_trap v0, v1, user7
    return v2
}}
; run: %f({max}, 1) == 0
",
            b = &ty[1..]
        );
        let file = kiln_reader::parse_test(&text, "t.clif").unwrap();
        match run_file(&file) {
            Outcome::Fail(m) => assert!(m.len() == 1 && m[0].contains("trap user7"), "{m:?}"),
            other => panic!("{ty}: expected trap user7, got {other:?}"),
        }
        // Without a carry the sum comes back (all ones, printed signed).
        let ok = text.replace(
            &format!("%f({max}, 1) == 0"),
            &format!("%f({max}, 0) == -1"),
        );
        let file = kiln_reader::parse_test(&ok, "t.clif").unwrap();
        assert!(matches!(run_file(&file), Outcome::Pass), "{ty}");
    }
}
