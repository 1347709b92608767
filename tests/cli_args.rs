//! The command line as a user meets it (issue 18): `--help` and
//! `--version` of every command, usage errors (exit status 2 naming the
//! valid choices), `@LIST` arguments, the verdict of a file with nothing
//! to check, a closed pipe, `kiln test --format json`, and the README's
//! commands and sample output.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kiln-args-cache-{}", std::process::id()))
}

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KILN_CACHE_DIR", cache_dir())
        .env_remove("KILN_CACHE_URL")
        .env_remove("KILN_CACHE_BUDGET");
    c
}

fn kiln(args: &[&str]) -> (i32, String, String) {
    let out = cmd(args).output().expect("run kiln");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const COMMANDS: &[&[&str]] = &[
    &["cat"],
    &["test"],
    &["run"],
    &["compile"],
    &["bench"],
    &["bench", "compile"],
    &["bench", "kernels"],
    &["bench", "cache"],
    &["bench", "key"],
    &["key"],
    &["cache"],
    &["cache", "stats"],
    &["cache", "clear"],
    &["fuzz"],
    &["reduce"],
];

#[test]
fn every_command_has_help_and_version() {
    let (code, out, _) = kiln(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("kiln {}\n", env!("CARGO_PKG_VERSION")));
    for c in COMMANDS {
        let mut args = c.to_vec();
        args.push("--help");
        let (code, out, err) = kiln(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Usage: kiln "), "{args:?}: {out}");
        // A leaf command's help shows how to call it.
        let leaf = !matches!(c, ["bench"] | ["cache"]);
        if leaf {
            assert!(out.contains("Example"), "{args:?} has no example: {out}");
        }
        let mut args = c.to_vec();
        args.push("--version");
        let (code, out, _) = kiln(&args);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.starts_with("kiln"), "{args:?}: {out}");
    }
    let (_, top, _) = kiln(&["--help"]);
    for var in [
        "KILN_CACHE_DIR",
        "KILN_CACHE_BUDGET",
        "KILN_CACHE_URL",
        "KILN_CACHE_SECRET",
        "KILN_TEST_BLESS",
    ] {
        assert!(top.contains(var), "{var} not in the help: {top}");
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_choices() {
    let f = "cranelift-like-ir/examples/gcd.clif";
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["test", "--bogus", f],
            &["--bogus", "--format", "--target"],
        ),
        (&["compile", "--bogus", f], &["--bogus", "--opt", "--set"]),
        (&["frobnicate"], &["frobnicate", "test", "compile"]),
        (
            &["test", "--test", "bogus", f],
            &["bogus", "interpret", "run"],
        ),
        (
            &["test", "--target", "riscv64", f],
            &["riscv64", "x86_64", "aarch64-apple-darwin"],
        ),
        (
            &["compile", "--target", "riscv64", f],
            &["riscv64", "x86_64"],
        ),
        (
            &["bench", "compile", "--target", "s390x", f],
            &["s390x", "x86_64"],
        ),
        (
            &["compile", "--opt", "fast", f],
            &["fast", "speed_and_size"],
        ),
        (
            &["bench", "compile", "--iters", "0", f],
            &["--iters", "at least 1"],
        ),
        (&["test", "--format", "xml", f], &["xml", "json"]),
        (&["test"], &["PATH"]),
    ];
    for (args, named) in cases {
        let (code, out, err) = kiln(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        for n in *named {
            assert!(err.contains(n), "{args:?}: `{n}` not named in: {err}");
        }
    }
}

#[test]
fn triples_are_targets() {
    let f = "cranelift-like-ir/examples/gcd.clif";
    let (code, plain, _) = kiln(&["compile", "--no-cache", "--target", "x86_64", f]);
    assert_eq!(code, 0);
    let (code, triple, err) = kiln(&[
        "compile",
        "--no-cache",
        "--target",
        "x86_64-unknown-linux-gnu",
        f,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(plain, triple);
    // gcd has register arguments only, where Apple's convention and
    // AAPCS64 agree (the difference: `an_apple_triple_selects_...`).
    for t in ["aarch64-unknown-linux-gnu", "aarch64-apple-darwin"] {
        let (code, a, err) = kiln(&["compile", "--no-cache", "--target", t, f]);
        let (_, b, _) = kiln(&["compile", "--no-cache", "--target", "aarch64", f]);
        assert_eq!(code, 0, "{t}: {err}");
        assert_eq!(a, b, "{t}");
    }
}

/// Two `i8` arguments past the eight argument registers: AAPCS64 (Linux)
/// gives each stack argument an 8-byte slot, Apple's variant packs them at
/// their size, so the loads of `v8` and `v9` differ.
const NARROW_STACK_ARGS: &str = "test compile\ntarget aarch64\n\n\
function %ninth(i64, i64, i64, i64, i64, i64, i64, i64, i8, i8) -> i8 {\n\
block0(v0: i64, v1: i64, v2: i64, v3: i64, v4: i64, v5: i64, v6: i64, v7: i64, v8: i8, v9: i8):\n\
    v10 = iadd v8, v9\n\
    return v10\n\
}\n";

#[test]
fn an_apple_triple_selects_the_apple_convention() {
    let f = temp("narrow-stack-args.clif", NARROW_STACK_ARGS);
    let f = f.to_str().unwrap();
    let print = |t: &str| {
        let (code, out, err) = kiln(&["compile", "--no-cache", "-p", "--target", t, f]);
        assert_eq!(code, 0, "{t}: {out}{err}");
        out
    };
    for t in ["aarch64-apple-darwin", "aarch64-apple-ios"] {
        assert!(print(t).contains("-> i8 apple_aarch64 {"), "{t}");
    }
    for t in ["aarch64", "aarch64-unknown-linux-gnu"] {
        assert!(print(t).contains("-> i8 system_v {"), "{t}");
    }
    // The code differs (where the stack arguments are read) and so does
    // the cache key: the convention is part of the signature.
    use kiln::codegen::isa::{compile_function, IsaBuilder};
    use kiln::codegen::settings::Arch;
    use kiln::ir::CallConv;
    let isa = IsaBuilder::new(Arch::Aarch64).finish().unwrap();
    let build = |cc: Option<CallConv>| {
        let mut file =
            kiln::reader::parse_test_with_call_conv(NARROW_STACK_ARGS, "n.clif", cc).unwrap();
        let func = file.functions.remove(0).func;
        let code = compile_function(&*isa, &func).unwrap().code.clone();
        (
            func.signature.call_conv,
            code,
            kiln::cache::cache_key(&*isa, &func),
        )
    };
    let (linux_cc, linux, linux_key) = build(None);
    let (apple_cc, apple, apple_key) = build(Some(CallConv::AppleAarch64));
    assert_eq!(linux_cc, CallConv::SystemV);
    assert_eq!(apple_cc, CallConv::AppleAarch64);
    assert_ne!(
        linux, apple,
        "narrow stack arguments are read from other offsets"
    );
    assert_ne!(linux_key, apple_key);

    // Commands that run or generate Linux code refuse an Apple triple.
    for args in [
        vec!["test", "--target", "aarch64-apple-darwin", f],
        vec![
            "compile",
            "--no-cache",
            "-o",
            "/dev/null",
            "--target",
            "aarch64-apple-darwin",
            f,
        ],
        vec!["fuzz", "--target", "aarch64-apple-darwin", "--seconds", "0"],
    ] {
        let (code, _, err) = kiln(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("aarch64-apple-darwin"), "{args:?}: {err}");
    }
}

#[test]
fn lists_are_accepted_wherever_files_are() {
    let gcd = Path::new(env!("CARGO_MANIFEST_DIR")).join("cranelift-like-ir/examples/gcd.clif");
    let list = temp("list.txt", &format!("# one file\n{}\n", gcd.display()));
    let at = format!("@{}", list.display());
    for args in [
        vec!["cat", at.as_str()],
        vec!["key", at.as_str()],
        vec!["test", at.as_str()],
        vec!["run", "--no-cache", at.as_str()],
        vec!["compile", "--no-cache", at.as_str()],
    ] {
        let (code, out, err) = kiln(&args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        assert!(out.contains("gcd"), "{args:?}: {out}");
    }
    let (code, _, err) = kiln(&["test", "@/nonexistent/list.txt"]);
    assert_eq!(code, 2);
    assert!(err.contains("list.txt"), "{err}");
}

#[test]
fn nothing_to_check_is_a_skip_with_its_reason() {
    let h = temp("header-only.clif", "test interpret\ntarget x86_64\n");
    let (code, out, _) = kiln(&["test", h.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("SKIP ") && out.contains("no functions to check"),
        "{out}"
    );
    assert!(out.ends_with("0 passed, 0 failed, 1 skipped\n"), "{out}");

    // A device is not "no such file".
    let (code, out, _) = kiln(&["test", "/dev/zero"]);
    assert_eq!(code, 1);
    assert!(out.contains("not a regular file"), "{out}");

    // `kiln run` runs run lines only: a compile-only file has none.
    let c = temp(
        "compile-only.clif",
        "test compile\ntarget x86_64\nfunction %f(i64) -> i64 {\n    fn0 = %missing(i64) -> i64\nblock0(v0: i64):\n    v1 = call fn0(v0)\n    return v1\n}\n",
    );
    let (code, out, err) = kiln(&["run", "--no-cache", c.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no `; run:` or `; print:` lines"), "{out}");
    assert!(!out.contains("error"), "{out}");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let one = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cranelift-like-ir/examples/gcd.clif"),
    )
    .unwrap();
    let funcs: String = one
        .split("function")
        .nth(1)
        .map(|body| {
            (0..4000)
                .map(|i| format!("function{}", body.replacen("%gcd", &format!("%g{i}"), 1)))
                .collect()
        })
        .unwrap();
    let big = temp("big.clif", &funcs);
    let mut child = cmd(&["cat", big.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line and close the pipe, as `head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let n = stdout.read(&mut first).unwrap();
    assert!(n > 0);
    drop(stdout);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn json_format_parses_back() {
    let bad = temp(
        "fails.clif",
        "test cat\nfunction %f() {\nblock0:\n    return\n}\n; check: nothing-like-this\n",
    );
    let (code, out, _) = kiln(&[
        "test",
        "--format",
        "json",
        "cranelift-like-ir/cat",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    let objs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(objs.len() > 2, "{out}");
    for o in &objs {
        assert!(o["path"].is_string(), "{o}");
        assert!(o["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{o}");
        match o["verdict"].as_str() {
            Some("pass") => assert!(o["reason"].is_null(), "{o}"),
            Some("fail" | "skip") => assert!(o["reason"].is_string(), "{o}"),
            v => panic!("verdict {v:?}"),
        }
    }
    let last = objs.last().unwrap();
    assert_eq!(last["verdict"], "fail");
    assert!(last["path"].as_str().unwrap().ends_with("fails.clif"));
    // The same verdicts as the text format.
    let (_, text, _) = kiln(&["test", "cranelift-like-ir/cat", bad.to_str().unwrap()]);
    let passes = text.lines().filter(|l| l.starts_with("PASS ")).count();
    let json_passes = objs.iter().filter(|o| o["verdict"] == "pass").count();
    assert_eq!(passes, json_passes);
}

/// The README's `cargo run --release -- ARGS` commands run (as `kiln
/// ARGS`) with status 0, and its sample output is what the program prints.
#[test]
fn readme_commands_and_sample_output() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let commands: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.trim().strip_prefix("cargo run --release -- "))
        .collect();
    assert!(commands.len() >= 3, "{commands:?}");
    for c in &commands {
        let mut args: Vec<&str> = c.split_whitespace().collect();
        args.insert(1, "--no-cache");
        if args[0] == "bench" {
            args.remove(1);
        }
        let (code, out, err) = kiln(&args);
        assert_eq!(code, 0, "README command `kiln {c}`: {out}{err}");
    }
    // The sample: the text block after "`kiln run ... prints".
    let start = readme
        .find("`kiln run cranelift-like-ir/examples/gcd.clif` prints")
        .expect("the README's sample");
    let block = &readme[start..];
    let body_start = block.find("```text\n").unwrap() + "```text\n".len();
    let body_end = body_start + block[body_start..].find("```").unwrap();
    let sample = &block[body_start..body_end];
    if cfg!(target_arch = "x86_64") {
        let (code, out, _) = kiln(&["run", "cranelift-like-ir/examples/gcd.clif"]);
        assert_eq!(code, 0);
        if out.contains("under qemu") {
            assert_eq!(out, sample, "README sample output drifted");
        } else {
            // No qemu here: the x86-64 lines still match.
            let host = |t: &str| -> Vec<String> {
                t.lines()
                    .filter(|l| l.contains("%gcd"))
                    .map(String::from)
                    .collect()
            };
            assert_eq!(host(&out), host(sample), "README sample output drifted");
        }
    }
}

/// `kiln compile` and `kiln test` over many files draw a progress line on
/// a terminal (checked under a pseudo-terminal from `script`), and write
/// nothing of it when standard error is not a terminal.
#[test]
fn progress_on_a_terminal_only() {
    if Command::new("script").arg("--version").output().is_err() {
        println!("SKIP progress_on_a_terminal_only: `script` (util-linux) is not installed");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cranelift-like-ir/x64");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "clif"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for (what, args) in [
        ("kiln compile", vec!["compile", "--no-cache"]),
        ("kiln test", vec!["test", "--no-cache"]),
    ] {
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        args.extend(files.iter().cloned());
        let line = format!(
            "{} {}",
            env!("CARGO_BIN_EXE_kiln"),
            args.iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let tty = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("KILN_CACHE_DIR", cache_dir())
            .env_remove("KILN_CACHE_URL")
            .output()
            .expect("run script");
        let tty = String::from_utf8_lossy(&tty.stdout);
        let n = files.len();
        assert!(
            tty.contains(&format!("{what} 1/{n} ")),
            "{what}: no progress line on a terminal: {tty}"
        );
        assert!(tty.contains("\r\x1b[K"), "{what}: the line is not erased");
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, out, err) = kiln(&argv);
        for s in [&out, &err] {
            assert!(
                !s.contains('\x1b') && !s.contains(&format!("{what} 1/")),
                "{what}: {s}"
            );
        }
        // Apart from the progress, the terminal shows what a log shows.
        let mut plain = String::new();
        for l in tty.split("\r\n") {
            let l = l.rsplit("\r\x1b[K").next().unwrap_or(l);
            if !l.is_empty() {
                plain.push_str(l);
                plain.push('\n');
            }
        }
        let logged: String = out
            .lines()
            .chain(err.lines())
            .filter(|l| !l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        let mut a: Vec<&str> = plain.lines().collect();
        let mut b: Vec<&str> = logged.lines().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{what}");
    }
}

/// `kiln test --format json` writes each file's line as soon as it (and
/// every file before it) is done: the first line arrives while a later
/// file is still running (here one that never ends, killed afterwards).
#[test]
fn json_lines_stream_while_the_run_goes_on() {
    let spin = temp(
        "spin.clif",
        "test run\ntarget x86_64\n\nfunction %spin(i64) -> i64 {\nblock0(v0: i64):\n    v5 = iconst.i64 1\n    v6 = iconst.i64 0\n    jump block1(v0)\nblock1(v1: i64):\n    v2 = iadd v1, v5\n    v3 = icmp ne v2, v6\n    brif v3, block1(v2), block2(v2)\nblock2(v4: i64):\n    return v4\n}\n; run: %spin(1) == 0\n",
    );
    let gcd = "cranelift-like-ir/examples/gcd.clif";
    let mut child = cmd(&[
        "test",
        "--no-cache",
        "--format",
        "json",
        gcd,
        spin.to_str().unwrap(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("run kiln");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(60));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let first = first.expect("no JSON line within 60 s: the output is not streamed");
    let o: serde_json::Value = serde_json::from_str(&first).expect(&first);
    assert_eq!(o["path"], gcd, "{first}");
    assert_eq!(o["verdict"], "pass", "{first}");
    assert!(
        still_running,
        "the spinning file had ended: nothing shows streaming"
    );
}
