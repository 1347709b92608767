//! `kiln fuzz` and `kiln reduce` end to end, including the acceptance test
//! of the fuzzing harness: a planted code-generation bug (the test-only
//! setting `test_fault=swap_icmp_operands`, which swaps the operands of
//! x86-64 `icmp`) is reported by `kiln fuzz` within its 60-second budget,
//! and `kiln reduce` shrinks the report to at most 10 instructions.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("run kiln")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-cli-fuzz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn instructions(path: &Path) -> usize {
    let t = std::fs::read_to_string(path).unwrap();
    let file = kiln::reader::parse_test(&t, "reduced").unwrap();
    file.functions
        .iter()
        .map(|f| {
            f.func
                .layout
                .blocks()
                .map(|b| f.func.layout.block_insts(b).count())
                .sum::<usize>()
        })
        .sum()
}

#[test]
fn a_clean_run_reports_speed_and_full_coverage() {
    let dir = scratch("clean");
    let out = kiln(&[
        "fuzz",
        "--seconds",
        "60",
        "--programs",
        "400",
        "--seed",
        "7",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("400 programs"), "{t}");
    assert!(t.contains("programs/s"), "{t}");
    assert!(t.contains(" 0 failures"), "{t}");
    // Every supported opcode appears ("N of N").
    let line = t
        .lines()
        .find(|l| l.starts_with("opcode coverage:"))
        .unwrap_or_else(|| panic!("{t}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[2], words[4], "{line}");
    assert!(!line.contains("never"), "{line}");
}

/// `--target aarch64` runs the generated programs under qemu, many to one
/// object and one qemu run; without the cross tools it is a usage error
/// that names them.
#[test]
fn aarch64_runs_under_qemu_or_names_what_is_missing() {
    let dir = scratch("aarch64");
    let out = kiln(&[
        "fuzz",
        "--target",
        "aarch64",
        "--programs",
        "200",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let t = text(&out);
    if kiln::filetests::qemu::tools_available() {
        assert!(out.status.success(), "{t}");
        assert!(t.contains("200 programs"), "{t}");
        assert!(t.contains(" 0 failures"), "{t}");
    } else {
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains("--target aarch64"), "{t}");
        assert!(t.contains("qemu"), "{t}");
    }
}

/// A backend that says `Unsupported` to something the generator makes
/// fails the run (never a silent skip).
#[test]
fn unsupported_is_a_failure() {
    let dir = scratch("unsupported");
    let out = kiln(&[
        "fuzz",
        "--set",
        "test_fault=unsupported_iadd",
        "--programs",
        "50",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.to_lowercase().contains("unsupported iadd"), "{t}");
    assert!(
        t.contains("outside kiln_difftest::KNOWN_UNSUPPORTED"),
        "{t}"
    );
}

/// `--host-features` compiles with this machine's ISA features: the banner
/// names them, a planted bug's failure file keeps them on its `target`
/// line (so `kiln test` and `kiln reduce` compile it the same way), and a
/// target that is not this machine is a usage error naming the option.
#[test]
fn host_features_are_used_and_kept_in_failure_files() {
    let host = kiln::codegen::settings::IsaFlags::host().expect("x86-64 host");
    let dir = scratch("host-features");
    let out = kiln(&[
        "fuzz",
        "--host-features",
        "--set",
        "test_fault=swap_icmp_operands",
        "--stop-after",
        "1",
        "--seconds",
        "60",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("target {host},")), "{t}");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "clif"))
        .unwrap_or_else(|| panic!("no failure file: {t}"));
    let body = std::fs::read_to_string(&file).unwrap();
    assert!(
        body.lines().any(|l| l == format!("target {host}")),
        "{body}"
    );
    let out = kiln(&[
        "fuzz",
        "--target",
        "aarch64",
        "--host-features",
        "--programs",
        "1",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("--host-features"), "{t}");
}

#[test]
fn bad_options_are_errors() {
    for args in [
        &["fuzz", "--opt", "fast"][..],
        &["fuzz", "--set", "no_such_setting=1"],
        &["fuzz", "--seconds", "soon"],
        &["fuzz", "--target", "mips"],
    ] {
        let out = kiln(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
}

#[test]
fn a_file_that_does_not_fail_is_not_reduced() {
    let dir = scratch("nofail");
    let f = dir.join("ok.clif");
    std::fs::write(
        &f,
        "test run\ntarget x86_64\nfunction %f(i32) -> i32 {\nblock0(v0: i32):\n    v1 = iadd v0, v0\n    return v1\n}\n; run: %f(2) == 4\n",
    )
    .unwrap();
    let out = kiln(&["reduce", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("does not fail"), "{}", text(&out));
}

/// The acceptance test: the planted bug is found and its report reduced.
#[test]
fn a_planted_icmp_bug_is_found_and_reduced_to_at_most_10_instructions() {
    let dir = scratch("planted");
    let out = kiln(&[
        "fuzz",
        "--set",
        "test_fault=swap_icmp_operands",
        "--seconds",
        "60",
        "--seed",
        "1",
        "--stop-after",
        "1",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("FAIL program") && t.contains("mismatch"), "{t}");
    let report: PathBuf = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "clif"))
        .unwrap_or_else(|| panic!("no failure file in {}: {t}", dir.display()));
    let report_text = std::fs::read_to_string(&report).unwrap();
    assert!(report_text.contains("set test_fault=swap_icmp_operands"));
    // The report is a runnable test that fails.
    let run = kiln(&["test", "--no-cache", report.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let before = instructions(&report);

    let reduced = dir.join("reduced.clif");
    let out = kiln(&[
        "reduce",
        report.to_str().unwrap(),
        "--out",
        reduced.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("still a mismatch"), "{t}");
    let after = instructions(&reduced);
    let reduced_text = std::fs::read_to_string(&reduced).unwrap();
    assert!(
        after <= 10,
        "{before} -> {after} instructions:\n{reduced_text}"
    );
    assert!(reduced_text.contains("icmp"), "{reduced_text}");
    // Still a failing, runnable test.
    let run = kiln(&["test", "--no-cache", reduced.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
}
