use kiln_filetests::*;
use kiln_ir::DataValue;
use kiln_reader::{parse_test, TestCommand, TestFile};

const CAT: &str = "test cat
function %f(i32) -> i32 {
block0(v0: i32):
    v1 = iconst.i32 7
    v2 = iadd v0, v1
    return v2
}
; check: block0(v0: i32):
; nextln: v1 = iconst.i32 7
; check: v2 = iadd v0, v1  ; v1 = 7
; nextln: return v2
";

#[test]
fn cat_pass_and_fail() {
    let r = Runner::with_builtin();
    assert_eq!(r.run_text(CAT, "a.clif", None), FileResult::Pass);
    let bad = CAT.replace("; nextln: v1 = iconst.i32 7", "; nextln: v1 = iconst.i32 8");
    match r.run_text(&bad, "a.clif", None) {
        FileResult::Fail(m) => assert!(m[0].contains("not found"), "{m:?}"),
        other => panic!("{other:?}"),
    }
    // A parse error is a failure with its position.
    match r.run_text(
        "test cat\nfunction %f() {\nblock0:\n    v0 = bogus\n}\n",
        "b.clif",
        None,
    ) {
        FileResult::Fail(m) => assert!(m[0].starts_with("b.clif:4:10: error:"), "{m:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn skips_unsupported_kinds() {
    let r = Runner::with_builtin();
    let text = "test bogus\nfunction %f() {\nblock0:\n    return\n}\n";
    assert_eq!(
        r.run_text(text, "c.clif", None),
        FileResult::Skip("test bogus: test kind `bogus` not supported yet".into())
    );
    // A kind without an implementation makes the file SKIP even when
    // another kind passed: PASS means every listed kind ran and passed.
    let text = format!("test bogus\n{CAT}");
    assert_eq!(
        r.run_text(&text, "c.clif", None),
        FileResult::Skip("test bogus: test kind `bogus` not supported yet [passed: cat]".into())
    );
    // `test interpret` and `test run` are built in: with them the file
    // runs, but run lines are what they check: none is a skip.
    let text = "test interpret\ntest run\nfunction %f() -> i32 {\nblock0:\n    v0 = iconst.i32 1\n    return v0\n}\n";
    assert_eq!(
        r.run_text(text, "c.clif", None),
        FileResult::Skip(
            "test interpret: no `; run:` directive: nothing to check; \
             test run: no `; run:` directive: nothing to check"
                .into()
        )
    );
    let text = format!("{text}; run: %f() == 1\n");
    assert_eq!(r.run_text(&text, "c.clif", None), FileResult::Pass);
    let wrong = text.replace("== 1", "== 2");
    match r.run_text(&wrong, "c.clif", None) {
        FileResult::Fail(m) => {
            assert_eq!(m.len(), 2, "both kinds fail: {m:?}");
            assert!(m[0].starts_with("test interpret:"), "{m:?}");
            assert!(m[1].starts_with("test run:"), "{m:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        r.run_text(CAT, "a.clif", Some("verifier")),
        FileResult::Skip("no `test verifier` line".into())
    );
}

#[test]
fn verifier_annotations() {
    let r = Runner::with_builtin();
    let ok =
        "test verifier\nfunction %f() -> i32 {\nblock0:\n    v0 = iconst.i32 1\n    return v0\n}\n";
    assert_eq!(r.run_text(ok, "v.clif", None), FileResult::Pass);
    // An annotation nothing matches is a failure.
    let annotated = ok.replace("return v0\n", "return v0 ; error: no such problem\n");
    match r.run_text(&annotated, "v.clif", None) {
        FileResult::Fail(m) => assert!(m[0].contains("no such problem"), "{m:?}"),
        other => panic!("{other:?}"),
    }
}

struct Boom;
impl SubTest for Boom {
    fn kind(&self) -> &'static str {
        "boom"
    }
    fn run(&self, _: &TestFile, _: &TestCommand) -> Outcome {
        panic!("kaboom")
    }
}

#[test]
fn panics_become_failures() {
    let dir = std::env::temp_dir().join(format!("kiln-ft-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("x.clif");
    std::fs::write(&p, "test boom\nfunction %f() {\nblock0:\n    return\n}\n").unwrap();
    std::fs::write(dir.join("y.clif"), CAT).unwrap();
    let mut r = Runner::with_builtin();
    r.register(Box::new(Boom));
    let mut out = Vec::new();
    let sum = r
        .run_paths(std::slice::from_ref(&dir), None, &mut out)
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!((sum.passed, sum.failed, sum.skipped), (1, 1, 0));
    // The panicking kind is counted as that kind's failure.
    assert_eq!(
        sum.kind("boom"),
        Counts {
            passed: 0,
            failed: 1,
            skipped: 0
        }
    );
    assert!(
        out.contains("\nboom: 0 passed, 1 failed, 0 skipped; cat: 1 passed, 0 failed, 0 skipped\n"),
        "{out}"
    );
    assert!(
        out.contains("FAIL ") && out.contains("\n    test boom: panic: kaboom\n"),
        "{out}"
    );
    assert!(out.ends_with("1 passed, 1 failed, 0 skipped\n"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_directive_evaluator() {
    let text = "function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
; run: %add(1, 2) == 4
; run: %add(0xFFFF_FFFF, 1) != 0
; run: %add(5, 5)
; run: %add(1) == 1
";
    let file = parse_test(text, "r.clif").unwrap();
    let mut calls = 0;
    let mut exec = |name: &str, args: &[DataValue]| -> Result<Vec<DataValue>, String> {
        calls += 1;
        assert_eq!(name, "add");
        let (DataValue::I32(a), DataValue::I32(b)) = (args[0], args[1]) else {
            return Err("bad args".into());
        };
        Ok(vec![DataValue::I32(a.wrapping_add(b))])
    };
    let fails = check_file_run_directives(&file, &mut exec);
    assert_eq!(calls, 4);
    let msgs: Vec<&str> = fails.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(fails.len(), 3, "{msgs:#?}");
    assert!(msgs[0].starts_with("r.clif:10:"), "{msgs:?}");
    assert_eq!(msgs[1], "r.clif:7: %add(1, 2): expected 4, got 3");
    assert_eq!(msgs[2], "r.clif:8: %add(-1, 1): expected not 0, got 0");
}

#[test]
fn bless_rewrites_blocks() {
    let text = "test compile precise-output\nfunction %f() {\nblock0:\n    return\n}\n; old\n; lines\n\nfunction %g() {\nblock0:\n    return\n}\n";
    let file = parse_test(text, "p.clif").unwrap();
    let f = &file.functions[0];
    assert!(compare_expectation(f, "old\nlines").is_ok());
    assert!(compare_expectation(f, "new").is_err());
    let edits = vec![
        ExpectationEdit::for_function(&file.functions[1], "ret\n\nend"),
        ExpectationEdit::for_function(f, "new"),
    ];
    let out = apply_expectation_edits(text, &edits);
    assert_eq!(
        out,
        "test compile precise-output\nfunction %f() {\nblock0:\n    return\n}\n; new\n\nfunction %g() {\nblock0:\n    return\n}\n; ret\n;\n; end\n"
    );
    let again = parse_test(&out, "p.clif").unwrap();
    assert!(compare_expectation(&again.functions[1], "ret\n\nend").is_ok());
}

/// The golden `test compile precise-output` files of the repository
/// (`cranelift-like-ir/x64`): every file passes; re-bless with
/// `KILN_TEST_BLESS=1`.
#[test]
fn compile_precise_output_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cranelift-like-ir/x64");
    let mut files = Vec::new();
    collect_clif(&dir, &mut files);
    assert!(!files.is_empty(), "no compile tests in {}", dir.display());
    let r = Runner::with_builtin();
    for f in files {
        match r.run_file(&f, None) {
            FileResult::Pass => {}
            other => panic!("{}: {other:?}", f.display()),
        }
    }
}

#[test]
fn compile_skips_other_targets_and_unsupported() {
    let r = Runner::with_builtin();
    let text = "test compile\ntarget aarch64\nfunction %f() {\nblock0:\n    return\n}\n";
    assert!(matches!(
        r.run_text(text, "a.clif", None),
        FileResult::Skip(_)
    ));
    let text =
        "test compile\ntarget x86_64\nfunction %f(i64x2) {\nblock0(v0: i64x2):\n    return\n}\n";
    match r.run_text(text, "b.clif", None) {
        FileResult::Skip(why) => assert!(why.contains("unsupported"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Compiles, but nothing is checked: a skip that says so.
    let text = "test compile\ntarget x86_64\nfunction %f(i64) -> i64 {\nblock0(v0: i64):\n    return v0\n}\n";
    match r.run_text(text, "c.clif", None) {
        FileResult::Skip(why) => assert!(why.contains("nothing to check"), "{why}"),
        other => panic!("{other:?}"),
    }
}

const POPCNT: &str = "function %f(i64) -> i64 {
block0(v0: i64):
    v1 = popcnt v0
    return v1
}
";

#[test]
fn compile_honours_check_lines_and_target_flags() {
    let r = Runner::with_builtin();
    // With `has_popcnt` the backend uses the instruction...
    let text = format!("test compile\ntarget x86_64 has_popcnt\n{POPCNT}; check: popcnt\n");
    assert_eq!(r.run_text(&text, "p.clif", None), FileResult::Pass);
    // ...and without it, it does not: the same check fails, naming it.
    let text = format!("test compile\ntarget x86_64\n{POPCNT}; check: popcnt\n");
    match r.run_text(&text, "p.clif", None) {
        FileResult::Fail(m) => assert!(m[0].contains("popcnt"), "{m:?}"),
        other => panic!("{other:?}"),
    }
    let text = format!("test compile\ntarget x86_64\n{POPCNT}; not: popcnt\n");
    assert_eq!(r.run_text(&text, "p.clif", None), FileResult::Pass);
}

#[test]
fn bad_settings_fail_naming_them() {
    let r = Runner::with_builtin();
    let body = "function %f() -> i32 {\nblock0:\n    v0 = iconst.i32 1\n    return v0\n}\n; run: %f() == 1\n; check: ret\n";
    for (kind, line) in [
        ("compile", "set no_such_setting\ntarget x86_64"),
        ("compile", "set opt_level=fastest\ntarget x86_64"),
        ("compile", "target x86_64 has_no_such_flag"),
        ("run", "set no_such_setting\ntarget x86_64"),
        ("run", "target x86_64 has_no_such_flag"),
    ] {
        let text = format!("test {kind}\n{line}\n{body}");
        match r.run_text(&text, "s.clif", None) {
            FileResult::Fail(m) => {
                let named = ["no_such_setting", "opt_level", "has_no_such_flag"]
                    .iter()
                    .any(|n| m[0].contains(n) && line.contains(n));
                assert!(named, "{kind} / {line}: {m:?}");
            }
            other => panic!("{kind} / {line}: {other:?}"),
        }
    }
}

#[test]
fn valid_settings_kiln_does_not_implement_are_skips_not_passes() {
    let r = Runner::with_builtin();
    let body = "function %f() -> i32 {\nblock0:\n    v0 = iconst.i32 1\n    return v0\n}\n; run: %f() == 1\n";
    for setting in [
        "bb_padding_log2_minus_one=25",
        "log2_min_function_alignment=4",
        "tls_model=elf_gd",
        "libcall_call_conv=windows_fastcall",
    ] {
        let text = format!("test run\nset {setting}\ntarget x86_64\n{body}");
        match r.run_text(&text, "s.clif", None) {
            FileResult::Skip(why) => {
                assert!(
                    why.contains(&format!("setting {setting} (not implemented: ")),
                    "{why}"
                )
            }
            other => panic!("{setting}: {other:?}"),
        }
    }
    // Out of the setting's range: a bad value, a failure.
    let text = format!("test run\nset bb_padding_log2_minus_one=300\ntarget x86_64\n{body}");
    assert!(matches!(
        r.run_text(&text, "s.clif", None),
        FileResult::Fail(_)
    ));
    // The VNNI flags are known (they permit instructions Kiln never emits).
    let text = format!("test compile\ntarget x86_64 has_avx has_avx_vnni\n{body}; check: ret\n");
    assert_eq!(r.run_text(&text, "v.clif", None), FileResult::Pass);
}
