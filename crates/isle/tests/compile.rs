//! Golden output, stability, diagnostics with exact positions, overlap
//! errors and robustness against malformed input.

use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn compile_one(name: &str, src: &str) -> Result<String, isle::Errors> {
    isle::compile_str(&[(name, src)])
}

/// Compiles `src` expecting failure; returns (rendered, first error).
fn fail(src: &str) -> (String, isle::Error, isle::Errors) {
    match compile_one("t.isle", src) {
        Ok(code) => panic!("expected an error, got:\n{}", code),
        Err(e) => (e.to_string(), e.errors[0].clone(), e),
    }
}

fn at(e: &isle::Error) -> (u32, u32) {
    (e.pos.line, e.pos.col)
}

#[test]
fn golden_outputs() {
    let bless = std::env::var_os("KILN_TEST_BLESS").is_some();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "isle"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 2);
    for isle_path in entries {
        let stem = isle_path.file_stem().unwrap().to_str().unwrap().to_string();
        let src = std::fs::read_to_string(&isle_path).unwrap();
        let code = compile_one(&format!("{}.isle", stem), &src).unwrap_or_else(|e| panic!("{}", e));
        let rs = isle_path.with_extension("rs");
        if bless {
            std::fs::write(&rs, &code).unwrap();
        } else {
            let want = std::fs::read_to_string(&rs)
                .unwrap_or_else(|_| panic!("missing {}; run with KILN_TEST_BLESS=1", rs.display()));
            assert!(
                want == code,
                "{} differs from the generated code; re-bless with KILN_TEST_BLESS=1",
                rs.display()
            );
        }
    }
}

#[test]
fn output_is_stable() {
    let src = std::fs::read_to_string(golden_dir().join("externs.isle")).unwrap();
    let toy = [
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/toy/prelude.isle"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/toy/lower.isle"),
    ];
    for _ in 0..3 {
        assert_eq!(
            compile_one("a.isle", &src).unwrap(),
            compile_one("a.isle", &src).unwrap()
        );
        assert_eq!(
            isle::compile_files(&toy).unwrap(),
            isle::compile_files(&toy).unwrap()
        );
    }
}

#[test]
fn enum_matches_become_one_match() {
    let code = compile_one(
        "e.isle",
        &std::fs::read_to_string(golden_dir().join("enums.isle")).unwrap(),
    )
    .unwrap();
    let body = &code[code.find("pub fn constructor_classify").unwrap()
        ..code.find("pub fn constructor_swap").unwrap()];
    assert_eq!(body.matches("match &v0").count(), 1, "{}", body);
    assert!(body.contains("Op::Imm { value: v"));
    let hoist = &code[code.find("pub fn constructor_hoist").unwrap()
        ..code.find("pub fn constructor_wrap").unwrap()];
    assert_eq!(hoist.matches("match &v0").count(), 1, "{}", hoist);
    assert!(!hoist.contains("if let Op::Nop"), "{}", hoist);
    // The rule locations are in comments.
    assert!(body.contains("// Rule at e.isle:9:1 (priority 0)."));
}

#[test]
fn multi_file_errors_name_the_right_file() {
    let prelude = "(type u32 (primitive u32))\n(decl f (u32) u32)\n";
    let rules = "(rule (f x) x)\n(rule (f y) (g y))\n";
    let e = isle::compile_str(&[("prelude.isle", prelude), ("rules.isle", rules)]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("rules.isle:2:14: unknown term `g`\n"),
        "{}",
        text
    );
    assert!(
        text.contains("  | (rule (f y) (g y))\n  |              ^\n"),
        "{}",
        text
    );
    // And a program split over files compiles like one file.
    let ok =
        isle::compile_str(&[("prelude.isle", prelude), ("rules.isle", "(rule (f x) x)")]).unwrap();
    assert!(ok.contains("pub fn constructor_f<C: Context + ?Sized>(ctx: &mut C, v0: u32) -> u32"));
}

#[test]
fn compile_files_reports_missing_files() {
    let e = isle::compile_files(&["/nonexistent/x.isle"]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.isle: cannot read file"),
        "{}",
        e
    );
}

#[test]
fn parse_errors_have_positions() {
    let (text, e, _) = fail("(type u32 (primitive u32))\n  (decl f (u32) u32");
    assert_eq!(at(&e), (2, 3));
    assert!(e.msg.contains("unclosed"));
    assert!(text.starts_with("t.isle:2:3: unclosed `(`"), "{}", text);
    assert!(
        text.contains("  |   (decl f (u32) u32\n  |   ^\n"),
        "{}",
        text
    );

    let (_, e, _) = fail("(type u32 (primitive u32)))");
    assert_eq!((at(&e), e.msg.as_str()), ((1, 27), "unmatched `)`"));

    let (_, e, _) = fail("\n(frobnicate x)");
    assert_eq!(at(&e), (2, 2));
    assert!(e.msg.starts_with("unknown top-level form"));

    let (_, e, _) = fail("(decl f (u32))");
    assert_eq!(at(&e), (1, 9));

    let (_, e, _) = fail("(rule (f 0x) 1)");
    assert_eq!(at(&e), (1, 10));
    assert!(e.msg.contains("integer literal `0x`"));

    let (_, e, _) = fail("(rule (f x) (if-let y) x)");
    assert_eq!(at(&e), (1, 13));

    let (_, e, _) = fail("(rule 1)");
    assert!(e.msg.contains("left-hand side"));

    let (_, e, _) = fail("(; unterminated\n(type u32 (primitive u32))");
    assert_eq!(at(&e), (1, 1));
}

const PRELUDE: &str =
    "(type u32 (primitive u32))\n(type bool (primitive bool))\n(type E (enum (A (x u32)) B))\n";

fn fail_p(body: &str) -> isle::Error {
    let src = format!("{}{}", PRELUDE, body);
    fail(&src).1
}

#[test]
fn type_errors_have_positions() {
    let e = fail_p("(decl f (u32) Nope)");
    assert_eq!((at(&e), e.msg.as_str()), ((4, 15), "unknown type `Nope`"));

    let e = fail_p("(decl f (u32) u32)\n(rule (f x) (E.A x))");
    assert_eq!(at(&e), (5, 13));
    assert_eq!(e.msg, "type mismatch: expected `u32`, found `E`");

    let e = fail_p("(decl f (E) u32)\n(rule (f (E.A x)) 300000000000)");
    assert_eq!(at(&e), (5, 19));
    assert!(e.msg.contains("out of range for type `u32`"));

    let e = fail_p("(decl f (u32) u32)\n(rule (f (E.A x)) x)");
    assert_eq!(at(&e), (5, 11));
    assert!(e
        .msg
        .contains("variant `E.A` has type `E` but `u32` is expected"));

    let e = fail_p("(decl f (E) u32)\n(rule (f (E.A x y)) x)");
    assert_eq!(at(&e), (5, 11));
    assert!(e.msg.contains("takes 1 argument(s) but 2 were given"));

    let e = fail_p("(decl f (u32) u32)\n(decl g (u32) u32)\n(rule (f (g x)) x)");
    assert_eq!(at(&e), (6, 11));
    assert!(e.msg.contains("has no extractor"));

    let e = fail_p("(decl f (u32) u32)\n(decl g (u32) u32)\n(rule (f x) (g x))");
    assert_eq!(at(&e), (6, 14));
    assert!(e.msg.contains("has no constructor"));

    let e = fail_p("(decl f (u32) u32)\n(rule (f x) y)");
    assert_eq!((at(&e), e.msg.as_str()), ((5, 13), "unknown variable `y`"));

    let e = fail_p("(decl f (u32 E) u32)\n(rule (f x x) x)");
    assert_eq!(at(&e), (5, 12));
    assert!(e.msg.contains("variable `x` has type `u32`"));

    let e = fail_p("(decl f (u32) u32)\n(rule (f x) (if x) x)");
    assert_eq!(at(&e), (5, 13));
    assert!(e.msg.contains("`if` needs a `bool`"));

    let e = fail_p("(decl f (u32) u32)\n(decl f (u32) u32)");
    assert_eq!(at(&e), (5, 7));
    assert_eq!(e.notes[0].0.line, 4);

    let e = fail_p("(decl f (u32) u32)\n(extern constructor f ctor_f)\n(rule (f x) x)");
    assert_eq!(at(&e), (6, 8));
    assert!(e.msg.contains("cannot also be defined by rules"));

    let e = fail_p("(decl f (u32) u32)\n(rule (f x) (let ((y 7)) y))");
    assert_eq!(at(&e), (5, 22));
    assert!(e.msg.contains("cannot infer the type"));

    let e = fail_p("(decl type (u32) u32)");
    assert_eq!(at(&e), (4, 7));
    assert!(e.msg.contains("not a valid Rust identifier"));
}

#[test]
fn every_error_is_reported() {
    let src = format!(
        "{}(decl f (u32) u32)\n(rule (f x) y)\n(rule 1 (f 1) z)\n",
        PRELUDE
    );
    let (text, _, all) = fail(&src);
    assert_eq!(all.errors.len(), 2, "{}", text);
    assert!(text.contains("t.isle:5:13: unknown variable `y`"));
    assert!(text.contains("t.isle:6:15: unknown variable `z`"));
}

#[test]
fn overlap_errors_name_both_rules() {
    let (text, e, all) = fail(&format!(
        "{}{}",
        PRELUDE, "(decl f (E u32) u32)\n(rule (f (E.A x) 1) x)\n(rule (f _ 1) 2)"
    ));
    assert_eq!(all.errors.len(), 1);
    assert_eq!(at(&e), (6, 1));
    assert_eq!((e.notes[0].0.line, e.notes[0].0.col), (5, 1));
    assert!(e.msg.contains("overlap"));
    assert!(
        text.contains("t.isle:6:1: rules for term `f` overlap"),
        "{}",
        text
    );
    assert!(
        text.contains("t.isle:5:1: note: the other rule is here"),
        "{}",
        text
    );
}

#[test]
fn disjoint_or_prioritised_rules_do_not_overlap() {
    // Different variants, different constants, different priorities.
    let ok = [
        "(decl f (E u32) u32)\n(rule (f (E.A x) 1) x)\n(rule (f E.B 1) 2)",
        "(decl f (E u32) u32)\n(rule (f _ 1) 1)\n(rule (f _ 2) 2)",
        "(decl f (E u32) u32)\n(rule 1 (f (E.A x) 1) x)\n(rule (f _ _) 2)",
        "(decl f (u32) bool)\n(rule (f x) (if-let true (g x)) true)\n(rule (f x) (if-let false (g x)) false)\n\
         (decl pure g (u32) bool)\n(extern constructor g g)",
    ];
    for body in ok {
        let src = format!("{}{}", PRELUDE, body);
        if let Err(e) = compile_one("t.isle", &src) {
            panic!("{}\n{}", body, e);
        }
    }
    // Identical rules overlap; so do an extractor and a wildcard.
    let e = fail_p("(decl f (u32) u32)\n(rule (f x) x)\n(rule (f y) y)");
    assert_eq!(at(&e), (6, 1));
    let e = fail_p(
        "(decl f (u32) u32)\n(decl g (u32) u32)\n(extern extractor g g)\n(rule (f (g x)) x)\n(rule (f 3) 3)",
    );
    assert_eq!((at(&e), e.notes[0].0.line), ((8, 1), 7));
}

/// A valid program exercising most of the syntax.
fn sample() -> String {
    let mut s = String::new();
    for f in ["toy/prelude.isle", "toy/lower.isle", "golden/enums.isle"] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(f))
                .unwrap();
        s.push_str(&text);
    }
    // Avoid duplicate prelude types from enums.isle.
    s.replace("(type u8 (primitive u8))\n(type u32 (primitive u32))\n(type bool (primitive bool))\n(type Op", "(type Op")
}

#[test]
fn sample_compiles() {
    compile_one("s.isle", &sample()).unwrap_or_else(|e| panic!("{}", e));
}

#[test]
fn no_panic_on_prefixes_and_mutations() {
    let src = sample();
    let chars: Vec<char> = src.chars().collect();
    let mut failures = 0;
    for n in 0..chars.len() {
        let prefix: String = chars[..n].iter().collect();
        if compile_one("p.isle", &prefix).is_err() {
            failures += 1;
        }
    }
    // Most prefixes cut a form in half and must be rejected with an error.
    assert!(failures > chars.len() / 2);
    let ext = std::fs::read_to_string(golden_dir().join("externs.isle")).unwrap();
    let ext: Vec<char> = ext.chars().collect();
    for n in 0..ext.len() {
        let _ = compile_one("e.isle", &ext[..n].iter().collect::<String>());
    }
    // Single-character deletions and substitutions.
    let subs = ['(', ')', '@', '_', '0', 'x', ' ', ';', '-'];
    for i in (0..chars.len()).step_by(3) {
        let mut del = chars.clone();
        del.remove(i);
        let _ = compile_one("d.isle", &del.iter().collect::<String>());
        let mut sub = chars.clone();
        sub[i] = subs[i % subs.len()];
        let _ = compile_one("m.isle", &sub.iter().collect::<String>());
    }
    // Hostile shapes.
    let deep = "(".repeat(100_000);
    assert!(compile_one("deep.isle", &deep).is_err());
    let deep_closed = format!("(rule (f {}x{}) 1)", "(g ".repeat(150), ")".repeat(150));
    assert!(compile_one("deep2.isle", &deep_closed).is_err());
    for s in [
        "",
        ")",
        "@",
        "(@)",
        "(rule)",
        "(type)",
        "(type T extern (enum (A (x T))))",
        "\u{0}",
        "(;",
        "(rule (f x @) x)",
    ] {
        let _ = compile_one("h.isle", s);
    }
    // Very long rules: near the step limit they compile, beyond it they are
    // an error (and neither overflows the stack of a test thread).
    for (n, ok) in [(900, true), (1200, false)] {
        let tys = vec!["u32"; n].join(" ");
        let xs = vec!["x"; n].join(" ");
        let src = format!(
            "(type u32 (primitive u32))\n(decl f ({}) u32)\n(rule (f {}) x)",
            tys, xs
        );
        assert_eq!(
            compile_one("long.isle", &src).is_ok(),
            ok,
            "{} arguments",
            n
        );
    }
    // Deeply nested extractor patterns expanded from internal extractors.
    let nest = format!(
        "{}(decl g (u32) u32)\n(extern extractor g g)\n(decl h (u32) u32)\n(extractor (h x) (g (g (g (g (g (g (g (g x)))))))))\n\
         (decl f (u32) u32)\n(rule (f {}y{}) y)",
        PRELUDE,
        "(h ".repeat(150),
        ")".repeat(150)
    );
    let e = compile_one("n.isle", &nest).unwrap_err();
    assert!(e.to_string().contains("nested deeper"), "{}", e);
    // A recursive internal extractor is an error, not a hang or overflow.
    let rec = format!(
        "{}(decl f (u32) u32)\n(extractor (f x) (f x))\n(decl g (u32) u32)\n(rule (g (f y)) y)",
        PRELUDE
    );
    assert!(compile_one("r.isle", &rec)
        .unwrap_err()
        .to_string()
        .contains("expand too deeply"));
}

#[test]
fn reserved_type_names_are_rejected() {
    let (_, e, _) = fail("(type Context (enum A))");
    assert_eq!(
        (at(&e), e.msg.as_str()),
        ((1, 7), "type name `Context` is reserved in generated code")
    );
}

#[test]
fn readme_example_compiles() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../isle-rules/README.md"
    ))
    .unwrap();
    let section = &readme[readme.find("## Example").unwrap()..];
    let start = section.find("```lisp\n").unwrap() + "```lisp\n".len();
    let code = &section[start..start + section[start..].find("```").unwrap()];
    let out = compile_one("README.isle", code).unwrap_or_else(|e| panic!("{}", e));
    assert!(out.contains(
        "pub fn constructor_lower<C: Context + ?Sized>(ctx: &mut C, v0: Expr) -> Option<Reg>"
    ));
    assert!(out.contains("fn expr_data(&mut self, arg0: &Expr) -> ExprData;"));
}

#[test]
fn islec_writes_output_and_reports_errors() {
    let exe = env!("CARGO_BIN_EXE_islec");
    let dir = std::env::temp_dir().join(format!("islec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.isle");
    std::fs::write(
        &good,
        "(type u32 (primitive u32))\n(decl f (u32) u32)\n(rule (f x) x)\n",
    )
    .unwrap();
    let out = dir.join("out.rs");
    let st = std::process::Command::new(exe)
        .arg(&good)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("pub fn constructor_f"));
    let bad = dir.join("bad.isle");
    std::fs::write(&bad, "(decl f (u32) u32)\n").unwrap();
    let o = std::process::Command::new(exe).arg(&bad).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("bad.isle:1:10: unknown type `u32`"), "{}", err);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shadowed_rules_are_errors() {
    let e = fail_p("(decl f (u32) u32)\n(rule 1 (f _) 1)\n(rule (f 0) 0)");
    assert_eq!(at(&e), (6, 1));
    assert!(e.msg.contains("can never fire"));
    // Not shadowed when the higher-priority rule can fail.
    let src = format!("{}{}", PRELUDE, "(decl partial f (u32) u32)\n(decl partial g (u32) u32)\n(extern constructor g g)\n(rule 1 (f x) (g x))\n(rule (f 0) 0)");
    compile_one("t.isle", &src).unwrap_or_else(|e| panic!("{}", e));
}

#[test]
fn extern_constant_errors() {
    let base = "(type u32 (primitive u32))\n(type Ty (primitive Ty))\n(extern const $A Ty)\n(decl f (u32) u32)\n";
    let e = fail(&format!("{}(rule (f $A) 1)", base)).1;
    assert_eq!(at(&e), (5, 10));
    assert!(e
        .msg
        .contains("constant `$A` has type `Ty` but `u32` is expected"));
    let e = fail(&format!("{}(rule (f $B) 1)", base)).1;
    assert_eq!((at(&e), e.msg.as_str()), ((5, 10), "unknown constant `$B`"));
    let e = fail(&format!(
        "{}(decl g (Ty) u32)\n(rule (g $A) 1)\n(rule (g $A) 2)",
        base
    ))
    .1;
    assert_eq!((at(&e), e.notes[0].0.line), ((7, 1), 6));
    let e = fail("(type Ty (primitive Ty))\n(extern const A Ty)").1;
    assert_eq!(at(&e), (2, 15));
}

#[test]
fn each_input_is_examined_once_per_path() {
    let toy = [
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/toy/prelude.isle"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/toy/lower.isle"),
    ];
    let code = isle::compile_files(&toy).unwrap();
    let start = code.find("pub fn constructor_lower").unwrap();
    let lower = &code[start..start + code[start..].find("\n}\n").unwrap()];
    // Eleven `lower` rules look at the argument's node data; it is fetched
    // once and dispatched with one `match`.
    assert_eq!(lower.matches("ctx.expr_data(&v0)").count(), 1, "{}", lower);
    assert_eq!(lower.matches("ExprData::Add {").count(), 1, "{}", lower);
    assert_eq!(lower.matches("ExprData::Mul {").count(), 1, "{}", lower);
}
