//! aarch64 functions larger than the conditional branches' ±1 MiB range,
//! compiled by the whole pipeline and run under qemu: a forward `b.cond`
//! and `cbnz` over 1.2 MiB of code, a loop whose backward branch spans as
//! much, and a `trapnz` whose out-of-line `udf` would sit out of range
//! after the code. Without islands `finish` would fail with an
//! out-of-range label (or the branches would land in the wrong place);
//! here every result is computed independently in Rust and checked.
//! Skipped, saying so, where the cross tools are missing.

use kiln_filetests::run::run_file;
use kiln_filetests::Outcome;
use std::fmt::Write as _;

/// Instructions in a long straight-line chain: each `iadd`/`bxor` of a
/// constant is one 4-byte instruction (`add` / `eor` immediate), so 300,000 of them are ~1.2 MiB.
const CHAIN: usize = 300_000;

/// Appends the chain to `text`, reading `v{src}` and defining values from
/// `v{first}` on (its 17 constants first, in the same block); returns the
/// last value's number and applies the same operations to `x`.
fn chain(text: &mut String, src: usize, first: usize, x: &mut u64) -> usize {
    // v{first + k - 1} = k for k in 1..=16, v{first + 16} = 255.
    for k in 1..=16 {
        let _ = writeln!(text, "    v{} = iconst.i64 {k}", first + k - 1);
    }
    let ff = first + 16;
    let _ = writeln!(text, "    v{ff} = iconst.i64 255");
    let mut v = src;
    for i in 0..CHAIN {
        let next = ff + 1 + i;
        if i % 2 == 0 {
            let k = i % 16 + 1;
            let _ = writeln!(text, "    v{next} = iadd v{v}, v{}", first + k - 1);
            *x = x.wrapping_add(k as u64);
        } else {
            let _ = writeln!(text, "    v{next} = bxor v{v}, v{ff}");
            *x ^= 255;
        }
        v = next;
    }
    v
}

/// `%fwd(x)`: `x == 7` → 99, else the chain of `x` (the branch to 99 jumps
/// over the whole chain); `%nz(x)`: likewise with `brif x` (`cbnz`).
fn forward_file(args: &[u64]) -> String {
    let mut t = String::from("test run\ntarget aarch64\n\nfunction %fwd(i64) -> i64 {\nblock0(v0: i64):\n    v3 = iconst.i64 7\n    v1 = icmp eq v0, v3\n    brif v1, block2, block1\nblock1:\n");
    let mut dummy = 0;
    let last = chain(&mut t, 0, 4, &mut dummy);
    let _ = write!(
        t,
        "    return v{last}\nblock2:\n    v{n} = iconst.i64 99\n    return v{n}\n}}\n",
        n = last + 1
    );
    for &a in args {
        let want = if a == 7 {
            99
        } else {
            let mut x = a;
            chain(&mut String::new(), 0, 4, &mut x);
            x
        };
        let _ = writeln!(t, "; run: %fwd({a}) == {}", want as i64);
    }
    t.push_str(
        "\nfunction %nz(i64) -> i64 {\nblock0(v0: i64):\n    brif v0, block2, block1\nblock1:\n",
    );
    let last = chain(&mut t, 0, 1, &mut dummy);
    let _ = write!(
        t,
        "    return v{last}\nblock2:\n    v{n} = iconst.i64 5\n    return v{n}\n}}\n",
        n = last + 1
    );
    let mut x = 0;
    chain(&mut String::new(), 0, 1, &mut x);
    let _ = writeln!(t, "; run: %nz(0) == {}", x as i64);
    let _ = writeln!(t, "; run: %nz(3) == 5");
    t
}

/// `%loop(n)`: runs the chain `n` times around a loop whose back edge
/// spans the chain; `%trap(x)` traps (user1) when `x == 13`, the check
/// sitting before the chain.
fn loop_file() -> String {
    let mut t = String::from(
        "test run\ntarget aarch64\n\nfunction %loop(i64) -> i64 {\nblock0(v0: i64):\n    v1 = iconst.i64 0\n    jump block1(v0, v1)\nblock1(v2: i64, v3: i64):\n",
    );
    let mut dummy = 0;
    let last = chain(&mut t, 3, 4, &mut dummy);
    let n = last + 1;
    let _ = write!(
        t,
        "    v{m} = iconst.i64 -1\n    v{n} = iadd v2, v{m}\n    brif v{n}, block1(v{n}, v{last}), block2(v{last})\nblock2(v{r}: i64):\n    return v{r}\n}}\n",
        r = n + 1,
        m = n + 2
    );
    for iters in [1u64, 3] {
        let mut x = 0;
        for _ in 0..iters {
            chain(&mut String::new(), 3, 4, &mut x);
        }
        let _ = writeln!(t, "; run: %loop({iters}) == {}", x as i64);
    }
    t.push_str("\nfunction %trap(i64) -> i64 {\nblock0(v0: i64):\n    v2 = iconst.i64 13\n    v1 = icmp eq v0, v2\n    trapnz v1, user1\n");
    let last = chain(&mut t, 0, 3, &mut dummy);
    let _ = writeln!(t, "    return v{last}\n}}");
    let mut x = 12;
    chain(&mut String::new(), 0, 3, &mut x);
    let _ = writeln!(t, "; run: %trap(12) == {}", x as i64);
    t
}

fn tools_or_skip() -> bool {
    if kiln_filetests::qemu::tools_available() {
        return true;
    }
    eprintln!(
        "SKIP: {} and {} are not installed",
        kiln_filetests::qemu::GCC,
        kiln_filetests::qemu::QEMU
    );
    false
}

#[test]
fn forward_branches_over_a_mebibyte_run_under_qemu() {
    if !tools_or_skip() {
        return;
    }
    let text = forward_file(&[7, 0, 8, u64::MAX]);
    let file = kiln_reader::parse_test(&text, "fwd.clif").unwrap();
    assert_eq!(run_file(&file), Outcome::Pass);
}

#[test]
fn backward_branches_and_traps_over_a_mebibyte_run_under_qemu() {
    if !tools_or_skip() {
        return;
    }
    let text = loop_file();
    let file = kiln_reader::parse_test(&text, "loop.clif").unwrap();
    assert_eq!(run_file(&file), Outcome::Pass);
    // The far trap really traps: the same file with a run line that hits
    // it fails, naming the trap code of the record at the faulting pc
    // (the `udf` in the island raises SIGILL).
    let text = format!("{text}; run: %trap(13) == 0\n");
    let file = kiln_reader::parse_test(&text, "trap.clif").unwrap();
    match run_file(&file) {
        Outcome::Fail(msgs) => {
            let all = msgs.join("\n");
            assert!(
                all.contains("trap user1 at %trap+") && all.contains("(under qemu, signal 4)"),
                "{all}"
            );
        }
        other => panic!("expected the trap to fail the file, got {other:?}"),
    }
}
