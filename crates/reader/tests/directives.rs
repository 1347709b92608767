//! Headers, run directives, error annotations and expectation blocks.

use kiln_ir::{DataValue, Ieee32, Ieee64};
use kiln_reader::{parse_test, Comparison, RunCommand};

const FILE: &str = "test interpret
test compile precise-output
set opt_level=speed
set enable_verifier
target x86_64 has_avx
feature \"foo\"
; global comment

function %f(i32, f32, i8x16) -> i32, f64 {
block0(v0: i32, v1: f32, v2: i8x16):
    v3 = f64const 0x1.0p0
    return v0, v3 ; error: trailing
}
; VCode:
;   ret
;; ignored
; done

; run: %f(0xFFFF_FFFF, -0.0, [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]) == [-1, 0x1.0p0]
; run: %f(-2147483648, Inf, 0x0f) != [1_000, 1.5]
; print: %f(4294967295, NaN:0x1, [0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 -1])

function %g() -> i8 {
block0:
    v0 = iconst.i8 1
    ; error: before
    return v0
}
; run
; run: %g() == true
; run: %nope(1) == 1
; run: %g(1) == 1
";

#[test]
fn headers_and_directives() {
    let t = parse_test(FILE, "d.clif").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.commands.len(), 2);
    assert_eq!(t.commands[1].kind, "compile");
    assert_eq!(t.commands[1].options, vec!["precise-output".to_string()]);
    assert_eq!(t.settings.len(), 2);
    assert_eq!(t.settings[0].value.as_deref(), Some("speed"));
    assert_eq!(t.targets[0].isa, "x86_64");
    assert_eq!(t.targets[0].flags, vec!["has_avx".to_string()]);
    assert_eq!(t.targets[0].settings.len(), 2);
    assert_eq!(t.features[0].name, "foo");
    assert_eq!(t.preamble_comments.len(), 1);

    let f = &t.functions[0];
    assert_eq!((f.locations.line, f.locations.end_line), (9, 13));
    let exp = f.expected_output.as_ref().unwrap();
    assert_eq!((exp.first_line, exp.last_line), (14, 17));
    assert_eq!(exp.lines, vec!["VCode:", "  ret", "done"]);
    assert_eq!(f.error_annotations.len(), 1);
    assert_eq!(f.error_annotations[0].message, "trailing");
    assert_eq!(
        f.error_annotations[0].inst,
        Some(f.locations.inst_lines[1].0)
    );

    assert_eq!(f.run_directives.len(), 3);
    let d = &f.run_directives[0];
    assert_eq!(d.line, 19);
    let mut lanes = [0u8; 16];
    for (i, l) in lanes.iter_mut().enumerate() {
        *l = i as u8 + 1;
    }
    assert_eq!(
        d.command,
        RunCommand::Run {
            func: "f".into(),
            args: vec![
                DataValue::I32(-1),
                DataValue::F32(Ieee32(0x8000_0000)),
                DataValue::V128(lanes)
            ],
            comparison: Comparison::Equal,
            expected: vec![DataValue::I32(-1), DataValue::F64(Ieee64(1.0f64.to_bits()))],
        }
    );
    match &f.run_directives[1].command {
        RunCommand::Run {
            args,
            comparison,
            expected,
            ..
        } => {
            assert_eq!(*comparison, Comparison::NotEqual);
            assert_eq!(args[0], DataValue::I32(i32::MIN));
            assert_eq!(args[1], DataValue::F32(Ieee32(0x7f80_0000)));
            let mut v = [0u8; 16];
            v[0] = 0x0f;
            assert_eq!(args[2], DataValue::V128(v));
            assert_eq!(expected[0], DataValue::I32(1000));
            assert_eq!(expected[1], DataValue::F64(Ieee64(1.5f64.to_bits())));
        }
        other => panic!("{other:?}"),
    }
    match &f.run_directives[2].command {
        RunCommand::Print { args, .. } => {
            assert_eq!(args[0], DataValue::I32(-1));
            assert_eq!(args[1], DataValue::F32(Ieee32(0x7fc0_0001)));
        }
        other => panic!("{other:?}"),
    }

    let g = &t.functions[1];
    assert_eq!(g.error_annotations[0].message, "before");
    assert_eq!(
        g.error_annotations[0].inst,
        Some(g.locations.inst_lines[0].0)
    );
    assert_eq!(
        g.run_directives[0].command,
        RunCommand::RunTruthy {
            func: "g".into(),
            args: vec![]
        }
    );
    assert_eq!(g.run_directives.len(), 2);
    // Bad directives are kept as errors, with their positions.
    assert_eq!(g.directive_errors.len(), 2);
    assert_eq!(
        (g.directive_errors[0].line, g.directive_errors[0].col),
        (31, 8)
    );
    assert_eq!(g.directive_errors[1].line, 32);
    assert_eq!(DataValue::F32(Ieee32(0x7fc0_0001)).to_string(), "+NaN:0x1");
    assert_eq!(DataValue::I32(-1).to_string(), "-1");
}

#[test]
fn default_calling_convention_follows_a_single_target() {
    let one = parse_test(
        "target x86_64\nfunction %f() {\nblock0:\n    return\n}\n",
        "c.clif",
    )
    .unwrap();
    assert_eq!(
        one.functions[0].func.signature.call_conv,
        kiln_ir::CallConv::SystemV
    );
    let two = parse_test(
        "target x86_64\ntarget aarch64\nfunction %f() {\nblock0:\n    return\n}\n",
        "c.clif",
    )
    .unwrap();
    assert_eq!(
        two.functions[0].func.signature.call_conv,
        kiln_ir::CallConv::Fast
    );
    let explicit = parse_test(
        "target x86_64\nfunction %f() tail {\nblock0:\n    return\n}\n",
        "c.clif",
    )
    .unwrap();
    assert_eq!(
        explicit.functions[0].func.signature.call_conv,
        kiln_ir::CallConv::Tail
    );
    assert!(kiln_reader::parse_function("function %f() {\nblock0:\n    return\n}\n").is_ok());
    assert!(kiln_reader::parse_function("").is_err());
}

#[test]
fn out_of_range_run_values_are_errors() {
    let t = parse_test("function %f(i8) -> i8 {\nblock0(v0: i8):\n    return v0\n}\n; run: %f(256) == 0\n; run: %f(255) == -1\n", "r.clif").unwrap();
    let f = &t.functions[0];
    assert_eq!(f.directive_errors.len(), 1);
    assert_eq!(
        (f.directive_errors[0].line, f.directive_errors[0].col),
        (5, 11)
    );
    assert_eq!(f.run_directives.len(), 1);
}

/// Found by the `reader` fuzz target (9.9 million executions in): a `0x`
/// literal for a vector wider than 16 bytes sliced past the end of the
/// 16 literal bytes and panicked. It is a directive error now.
#[test]
fn hex_literals_for_vectors_wider_than_16_bytes_are_errors() {
    let t = parse_test(
        "function %f(i64x4) -> i32 {\nblock0(v0: i64x4):\n    v1 = iconst.i32 0\n    return v1\n}\n; run: %f(0x1) == 0\n",
        "w.clif",
    )
    .unwrap();
    let f = &t.functions[0];
    assert_eq!(f.directive_errors.len(), 1);
    assert!(f.directive_errors[0]
        .to_string()
        .contains("2, 4, 8 or 16 bytes, not i64x4"));
    assert!(f.run_directives.is_empty());
}
