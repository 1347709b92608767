//! The runtests corpus (`../shared/clif/runtests`, which CI always has)
//! against the floors of `.ci/floors`, and the proof that these checks
//! catch a broken backend: with a lowering rule made unsupported
//! (`test_fault=unsupported_iadd`) the floor check fails, and with a
//! planted wrong-code bug (`test_fault=swap_icmp_operands`) files fail.
//! Also: `kiln test` and `kiln test --test run --target x86_64` agree on
//! which files ran native code.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln_filetests::floors::{check_runtests, Floors};
use kiln_filetests::run::RunTest;
use kiln_filetests::{collect_clif, Outcome, Runner, Summary};
use std::path::{Path, PathBuf};

fn runtests() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clif/runtests");
    assert!(
        dir.is_dir(),
        "the shared corpus {} is missing: check it out beside the repository",
        dir.display()
    );
    dir
}

fn floors() -> Floors {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/floors");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Floors::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `kiln test --test run --target x86_64 [--set NAME=VALUE]` on the corpus.
fn native_run(setting: Option<(&str, &str)>) -> Summary {
    let mut run = RunTest::for_isa("x86_64");
    if let Some((name, value)) = setting {
        run = run.with_setting(name, Some(value));
    }
    let mut runner = Runner::empty();
    runner.register(Box::new(run));
    let mut out = Vec::new();
    runner
        .run_paths(&[runtests()], Some("run"), &mut out)
        .expect("report")
}

#[test]
fn native_runtests_hold_their_floors() {
    let sum = native_run(None);
    if let Err(e) = check_runtests(&sum, &floors()) {
        panic!("runtests floors: {e:#?}\n{}", sum.lines());
    }
}

#[test]
fn an_unsupported_lowering_rule_fails_the_floor_check() {
    let floors = floors();
    let sum = native_run(Some(("test_fault", "unsupported_iadd")));
    // Not a failure of any file (Unsupported is a skip)...
    assert_eq!(sum.failed, 0, "{}", sum.lines());
    // ...but far fewer files run natively, and the check CI runs fails.
    let errs = check_runtests(&sum, &floors).expect_err("the floor check must fail");
    let floor = floors.get(kiln_filetests::floors::FILES_PASSED).unwrap();
    assert!(sum.passed < floor, "{}", sum.lines());
    assert!(
        errs.iter()
            .any(|e| e.starts_with("runtests_x86_64_files_passed: ") && e.contains(" fewer)")),
        "{errs:#?}"
    );
    println!(
        "with test_fault=unsupported_iadd: {} files pass natively, floor {floor}: {errs:?}",
        sum.passed
    );
}

#[test]
fn a_wrong_code_bug_fails_files() {
    let sum = native_run(Some(("test_fault", "swap_icmp_operands")));
    assert!(sum.failed > 0, "{}", sum.lines());
    assert!(check_runtests(&sum, &floors()).is_err());
}

#[test]
fn full_and_native_runs_agree_on_which_files_ran_native_code() {
    let mut files = Vec::new();
    collect_clif(&runtests(), &mut files);
    let full = Runner::with_builtin().report_all(&files, None);
    let mut native_runner = Runner::empty();
    native_runner.register(Box::new(RunTest::for_isa("x86_64")));
    let native = native_runner.report_all(&files, Some("run"));
    let mut ran = 0;
    for ((path, f), n) in files.iter().zip(&full).zip(&native) {
        let full_ran = f.kind("run") == Some(&Outcome::Pass);
        let native_ran = n.kind("run") == Some(&Outcome::Pass);
        // aarch64 runs under qemu where the cross tools are installed: a
        // file may pass on x86_64 and still be SKIP (or FAIL) in the full
        // run because of its aarch64 target, and then only because of it.
        let aarch64_only = matches!(
            f.kind("run"),
            Some(Outcome::Skip(why)) if why.contains("target aarch64")
        ) || matches!(
            f.kind("run"),
            Some(Outcome::Fail(m)) if m.iter().all(|l| l.contains("target aarch64"))
        );
        // ...and a file with only an aarch64 target may pass there alone.
        let no_x86 = matches!(
            n.kind("run"),
            Some(Outcome::Skip(why)) if why.contains("no `target x86_64` line")
        );
        assert!(
            full_ran == native_ran || (native_ran && aarch64_only) || (full_ran && no_x86),
            "{}: `kiln test` says {:?}, `--test run --target x86_64` says {:?}",
            path.display(),
            f.kind("run"),
            n.kind("run")
        );
        ran += usize::from(full_ran);
        // A file PASS in the full run ran every kind it lists.
        if f.verdict == kiln_filetests::FileResult::Pass {
            assert!(f.kinds.iter().all(|k| k.outcome == Outcome::Pass));
        }
    }
    assert!(ran > 0);
}

#[test]
fn divergent_lines_are_checked_against_kilns_own_values() {
    let path = runtests().join("i128-conversion.clif");
    let text = std::fs::read_to_string(&path).unwrap();
    let name = path.display().to_string();
    let r = Runner::with_builtin();
    let report = r.report_text(&text, &name, Some("interpret"));
    match report.kind("interpret") {
        Some(Outcome::Skip(why)) => {
            assert!(
                why.starts_with("known divergence on line(s) 14, 28, 40 "),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    let lines: Vec<&str> = text.lines().collect();
    let edit = |line: usize, from: &str, to: &str| {
        let mut l = lines.clone();
        let new = l[line - 1].replace(from, to);
        assert_ne!(new, l[line - 1]);
        l[line - 1] = &new;
        let t = l.join("\n");
        r.report_text(&t, &name, Some("interpret"))
    };
    // Another line of a function with a divergence is checked as written.
    match edit(9, "== 0", "== 5").kind("interpret") {
        Some(Outcome::Fail(m)) => assert!(m[0].contains(":9: "), "{m:?}"),
        other => panic!("{other:?}"),
    }
    // A divergent line whose result is not Kiln's documented one fails.
    match edit(14, "0x1.fffffep127", "0x1.0p100").kind("interpret") {
        Some(Outcome::Fail(m)) => {
            assert!(
                m[0].contains(":14: ") && m[0].contains("Kiln's documented result"),
                "{m:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    match edit(28, "0x1.fffffep127", "0x1.0p100").kind("interpret") {
        Some(Outcome::Fail(m)) => assert!(m[0].contains("is trap int_ovf, got"), "{m:?}"),
        other => panic!("{other:?}"),
    }
}
