//! Parse errors: exact positions and messages (in the spirit of
//! Cranelift's `parser` filetests), and the rendered form.

use kiln_reader::{parse_test, ParseError};

fn err(text: &str) -> ParseError {
    match parse_test(text, "t.clif") {
        Ok(_) => panic!("expected a parse error for:\n{text}"),
        Err(e) => e,
    }
}

#[track_caller]
fn at(text: &str, line: usize, col: usize, expected_part: &str) {
    let e = err(text);
    assert_eq!((e.line, e.col), (line, col), "{e}");
    assert!(e.expected.contains(expected_part), "{e}");
}

#[test]
fn rendering() {
    let e = err("function %f(i32) {\nblock0(v0: i32):\n    v1 = iadd v0 v0\n}\n");
    assert_eq!(
        e.to_string(),
        "t.clif:3:18: error: expected ',', found 'v0'\n    v1 = iadd v0 v0\n                 ^"
    );
    assert_eq!(e.source_line, "    v1 = iadd v0 v0");
    let e = err("function %f() {\nblock0:\n    v1 = iadd v0\n}\n");
    assert_eq!((e.line, e.col, e.found.as_str()), (4, 1, "'}'"));
}

#[test]
fn positions() {
    at(
        "function %f() {\nblock0:\n    v0 = bogus\n}",
        3,
        10,
        "an opcode",
    );
    at(
        "function %f() {\nblock0:\n    v0 = iconst 1\n    return\n}",
        3,
        10,
        "type suffix",
    );
    at(
        "function %f() {\nblock0:\n    v0 = iconst.f32 1\n    return\n}",
        3,
        17,
        "controlling type",
    );
    at(
        "function %f(i32) {\nblock0(v0: i32):\n    v0 = iconst.i32 1\n    return\n}",
        3,
        5,
        "new value",
    );
    at(
        "function %f() {\nblock0:\n    return v9\n}",
        3,
        12,
        "defined value",
    );
    at(
        "function %f() {\nblock0:\n    jump block7\n}",
        3,
        10,
        "defined block",
    );
    at("function %f() {\nblock0:\n    v1 = iadd v2, v3\n    v2 = iconst.i32 0\n    v3 = iconst.i32 0\n    return\n}", 3, 10, "not known yet");
    at(
        "function %f() {\n    v0 = iconst.i32 0\n}",
        2,
        5,
        "block header",
    );
    at(
        "function %f() {\nblock0:\n    trap bogus\n}",
        3,
        10,
        "trap code",
    );
    at(
        "function %f() {\nblock0:\n    v0 = iconst.i32 0x1_0000_0000_0000_0000\n}",
        3,
        21,
        "integer immediate",
    );
    at(
        "function %f() {\nblock0:\n    v0 = f32const 1.5\n}",
        3,
        19,
        "f32 immediate",
    );
    at(
        "function %f() {\n    fn0 = %g sig0\nblock0:\n    return\n}",
        2,
        14,
        "declared signature",
    );
    at(
        "function %f() {\nblock0:\n    v0 = load.i32 little big v1\n}",
        3,
        26,
        "little",
    );
    at(
        "function %f() {\nblock0:\n    v1 = stack_addr.i64 ss0\n}",
        3,
        25,
        "declared stack slot",
    );
    at(
        "function %f() {\nblock0:\n    v2 = iadd v0, v1 ; x\n}",
        3,
        10,
        "not known yet",
    );
    at("test run\nset\n", 2, 4, "setting");
    at("function %f( {\n}", 1, 14, "parameter type");
    at(
        "function %f() {\nblock0:\n    v0 = iconst.i32 \"x\n}",
        3,
        21,
        "closing",
    );
    at(
        "function %f() {\nblock0:\n    v99999999999 = iconst.i32 0\n}",
        3,
        5,
        "below",
    );
    at(
        "function %f() {\nblock0:\n  v1 -> v2\n    return\n}",
        3,
        3,
        "alias of a defined value",
    );
    at("function %f() {\n    region0 = x\n}", 2, 15, "region id");
    at(
        "function %f() {\n    fn1 = %g() fast\nblock0:\n    return\n}",
        3,
        1,
        "fn0",
    );
}

#[test]
fn iconst_immediates_are_canonical() {
    at(
        "function %f() {\nblock0:\n    v0 = iconst.i8 300\n}",
        3,
        20,
        "fits in i8",
    );
    at(
        "function %f() {\nblock0:\n    v0 = iconst.i8 -129\n}",
        3,
        20,
        "fits in i8",
    );
    let a = kiln_reader::parse_function(
        "function %f() -> i8 {\nblock0:\n    v0 = iconst.i8 -1\n    return v0\n}",
    )
    .unwrap();
    let b = kiln_reader::parse_function(
        "function %f() -> i8 {\nblock0:\n    v0 = iconst.i8 0xff\n    return v0\n}",
    )
    .unwrap();
    assert_eq!(a.dfg.insts, b.dfg.insts);
    assert_eq!(a.to_string(), b.to_string());
    assert!(a.to_string().contains("v0 = iconst.i8 -1\n"));
}

#[test]
fn no_trailing_junk_in_headers() {
    at("test\n", 1, 5, "test kind");
    at("target\n", 1, 7, "ISA");
    at("feature foo\n", 1, 9, "quoted feature");
}
