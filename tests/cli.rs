//! The `kiln` binary: exit statuses and output of `cat`, `test`, `help`.

use std::process::Command;

/// A fresh cache folder of this test process's own (under cargo's
/// `target/tmp`), so no run reads the user's cache.
fn cache_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kiln-test-cache-{}", std::process::id()))
}

fn kiln(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KILN_CACHE_DIR", cache_dir())
        .output()
        .expect("run kiln");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn cat_prints_and_reports_errors() {
    let (code, out, _) = kiln(&["cat", "cranelift-like-ir/examples/gcd.clif"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("function %gcd(i64, i64) -> i64 fast {\n"),
        "{out}"
    );
    assert!(out.contains("    v4 = urem.i64 v2, v3\n"), "{out}");

    let bad = temp_file(
        "bad.clif",
        "function %f() {\nblock0:\n    v0 = iconst.i32\n}\n",
    );
    let (code, out, err) = kiln(&["cat", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("bad.clif:4:1: error: expected an integer immediate, found '}'"),
        "{err}"
    );
}

#[test]
fn test_command_summarizes_and_fails() {
    let (code, out, _) = kiln(&["test", "cranelift-like-ir/cat"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .ends_with(" passed, 0 failed, 0 skipped"),
        "{out}"
    );

    let failing = temp_file(
        "fail.clif",
        "test cat\nfunction %f() {\nblock0:\n    return\n}\n; check: nothing like this\n",
    );
    let (code, out, _) = kiln(&["test", "--test", "cat", failing.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL ") && out.ends_with("0 passed, 1 failed, 0 skipped\n"),
        "{out}"
    );

    let (code, out, _) = kiln(&[
        "test",
        "--test",
        "verifier",
        "cranelift-like-ir/cat/floats.clif",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("SKIP ") && out.contains("no `test verifier` line"),
        "{out}"
    );
}

#[test]
fn help_and_usage_errors() {
    let (code, out, _) = kiln(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: kiln <COMMAND>"), "{out}");
    assert!(out.contains("KILN_CACHE_DIR"), "{out}");
    assert_eq!(kiln(&[]).0, 2);
    // Settings over each file's: an unknown name or bad value is refused.
    let (code, _, err) = kiln(&["test", "--set", "no_such_flag=1", "cranelift-like-ir/cat"]);
    assert_eq!(code, 2);
    assert!(err.contains("no_such_flag"), "{err}");
    // An ISA flag reaches the target lines that know it: the SSE precise
    // output of this file no longer matches once `has_avx` is on, and a bad
    // value of a known flag is refused by name.
    let file = "cranelift-like-ir/x64/compile-float-extra.clif";
    assert_eq!(kiln(&["test", file]).0, 0);
    let (code, out, _) = kiln(&["test", "--set", "has_avx=true", file]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("vpunpcklqdq") || out.contains("vmov"), "{out}");
    let (code, _, err) = kiln(&["test", "--set", "has_avx=maybe", file]);
    assert_eq!(code, 2);
    assert!(err.contains("has_avx"), "{err}");
    let (code, _, err) = kiln(&["test", "--opt", "fastest", "cranelift-like-ir/cat"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("fastest") && err.contains("speed_and_size"),
        "{err}"
    );
    assert_eq!(kiln(&["frobnicate"]).0, 2);
    assert_eq!(kiln(&["test"]).0, 2);
}

#[test]
fn key_ignores_names_and_srcloc_base_but_not_code() {
    let text = "\
function %a(i32) -> i32 {
    fn0 = u0:7(i32) -> i32
block0(v0: i32):
@0010 v1 = call fn0(v0)
@0014 v2 = iadd v1, v0
@0018 return v2
}

function %renamed(i32) -> i32 {
    fn0 = u0:99(i32) -> i32
block0(v10: i32):
@0110 v11 = call fn0(v10)
@0114 v12 = iadd v11, v10
@0118 return v12
}

function %different(i32) -> i32 {
    fn0 = u0:7(i32) -> i32
block0(v0: i32):
@0010 v1 = call fn0(v0)
@0014 v2 = isub v1, v0
@0018 return v2
}
";
    let p = temp_file("key.clif", text);
    let (code, out, err) = kiln(&["key", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let keys: Vec<(&str, &str)> = out
        .lines()
        .map(|l| l.split_once(' ').expect("name and key"))
        .collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0].0, "%a");
    assert_eq!(keys[0].1.len(), 64);
    assert!(keys[0].1.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        keys[0].1, keys[1].1,
        "name, callee name and srcloc base are parameters"
    );
    assert_ne!(keys[0].1, keys[2].1, "iadd -> isub must change the key");
}

#[test]
fn key_reports_parse_errors() {
    let p = temp_file("bad-key.clif", "function %f() {\nblock0:\n  v0 = iadd\n}\n");
    let (code, _, err) = kiln(&["key", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad-key.clif:4:1: error: expected a value"),
        "{err}"
    );
}

#[test]
fn test_target_option_selects_target_lines() {
    let text = "test run\ntarget aarch64\n\nfunction %f() -> i32 {\nblock0:\n    v0 = iconst.i32 7\n    return v0\n}\n; run: %f() == 7\n";
    let p = temp_file("only-aarch64.clif", text);
    let (code, out, _) = kiln(&["test", "--target", "x86_64", p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("no `target x86_64` line"), "{out}");
    assert!(out.contains("0 passed, 0 failed, 1 skipped"), "{out}");
    let both = text.replace("target aarch64\n", "target aarch64\ntarget x86_64\n");
    let p = temp_file("both-targets.clif", &both);
    let (code, out, _) = kiln(&["test", "--target", "x86_64", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 passed, 0 failed, 0 skipped"), "{out}");
}

#[test]
fn compile_p_prints_what_the_backend_lowers() {
    let file = "cranelift-like-ir/optimize/arith.clif";
    let (code, out, _) = kiln(&["compile", "--no-cache", "--opt", "speed", "-p", file]);
    assert_eq!(code, 0, "{out}");
    // 7 * -3 folded, the multiply gone.
    assert!(out.contains("iconst.i32 -21"), "{out}");
    assert!(!out.contains("imul v1, v2"), "{out}");
    let (code, out, _) = kiln(&["compile", "--no-cache", "--opt", "none", "-p", file]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("imul v1, v2"), "{out}");
}

#[test]
fn compile_accepts_a_directory() {
    // `kiln compile DIR` compiles every .clif file below DIR, as the help
    // says (it used to fail with "Is a directory").
    let (code, out, err) = kiln(&["compile", "--no-cache", "cranelift-like-ir/examples"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("examples/gcd.clif: %gcd:"), "{out}");
    assert!(out.contains("0 failed"), "{out}");
}

#[test]
fn bench_kernels_rejects_a_setting_it_cannot_take() {
    // A kernel file's `set` line that Kiln does not know is a failure that
    // names it, never silently dropped (the timings would be for other
    // settings than the file asks for).
    let f = temp_file(
        "bench-bad-set.clif",
        "test run\nset no_such_setting=1\ntarget x86_64\nfunction %f() -> i64 {\nblock0:\n    v0 = iconst.i64 1\n    return v0\n}\n; run: %f() == 1\n",
    );
    let (code, out, err) = kiln(&["bench", "kernels", f.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        out.contains("setting no_such_setting") || err.contains("setting no_such_setting"),
        "{out}{err}"
    );
}

/// `kiln compile --set` takes the target's ISA flags too (as clif-util
/// does), applied after the file's `target` line: `has_lse` turns an
/// atomic add into `ldaddal`, `has_lse=false` turns a target line's off
/// again, and a flag of another target is an error naming it.
#[test]
fn compile_set_takes_isa_flags_after_the_target_line() {
    let body = "function %f(i64, i64) -> i64 {\nblock0(v0: i64, v1: i64):\n    v2 = atomic_rmw.i64 add v0, v1\n    return v2\n}\n";
    let plain = temp_file("lse-plain.clif", &format!("target aarch64\n{body}"));
    let lse = temp_file("lse-on.clif", &format!("target aarch64 has_lse\n{body}"));
    let compile = |f: &std::path::Path, set: Option<&str>| {
        let mut args = vec!["compile", "--no-cache", "-D", "--target", "aarch64"];
        if let Some(s) = set {
            args.extend(["--set", s]);
        }
        args.push(f.to_str().unwrap());
        kiln(&args)
    };
    let (code, out, err) = compile(&plain, None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ldaxr") && !out.contains("ldaddal"), "{out}");
    let (code, out, err) = compile(&plain, Some("has_lse=true"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ldaddal") && !out.contains("ldaxr"), "{out}");
    let (code, out, err) = compile(&lse, Some("has_lse=false"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ldaxr") && !out.contains("ldaddal"), "{out}");
    let (code, out, err) = compile(&plain, Some("has_bmi2"));
    assert_ne!(code, 0, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains("--set has_bmi2") && all.contains("`has_bmi2`"),
        "{all}"
    );
}
