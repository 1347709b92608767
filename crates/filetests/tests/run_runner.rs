//! The `test run` runner on hand-assembled code: passing directives,
//! mismatches, calls between functions, and traps reported as failures
//! (not crashes).
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln_codegen::compiled::{CompiledCode, Final, FinalName, Relocation};
use kiln_codegen::isa::lookup;
use kiln_codegen::machinst::buffer::{MachTrap, Reloc};
use kiln_codegen::result::{CodegenError, CodegenResult};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_filetests::run::{run_file, run_on_isa_with, BuildOutcome};
use kiln_filetests::Outcome;
use kiln_ir::{Function, TestcaseName, TrapCode, UserFuncName};

fn code(bytes: &[u8]) -> CompiledCode<Final> {
    CompiledCode {
        code: bytes.to_vec(),
        relocs: vec![],
        traps: vec![],
        exception_sites: Vec::new(),
        call_sites: vec![],
        srclocs: vec![],
        testcase_names: vec![],
        alignment: 1,
        frame_size: 0,
        unwind: Vec::new(),
        data_ranges: Vec::new(),
    }
}

/// Integer trampoline: two integer slots in, one out.
const TRAMP_INT2: &[u8] = &[
    0x53, 0x48, 0x89, 0xf3, 0x48, 0x89, 0xf8, 0x48, 0x8b, 0x3b, 0x48, 0x8b, 0x73, 0x10, 0xff, 0xd0,
    0x48, 0x89, 0x03, 0x5b, 0xc3,
];

/// Stands in for the backend: fixed machine code per function name.
fn fake_compile(f: &Function) -> CodegenResult<CompiledCode<Final>> {
    let name = match &f.name {
        UserFuncName::Testcase(t) => t.as_str().to_string(),
        UserFuncName::User(u) => u.to_string(),
    };
    Ok(match name.as_str() {
        // mov eax, edi; add eax, esi; ret
        "add" => code(&[0x89, 0xf8, 0x01, 0xf0, 0xc3]),
        // sub rsp, 8; call %add; add eax, 1; add rsp, 8; ret
        "add1" => {
            let mut c = code(&[
                0x48, 0x83, 0xec, 0x08, 0xe8, 0, 0, 0, 0, 0x83, 0xc0, 0x01, 0x48, 0x83, 0xc4, 0x08,
                0xc3,
            ]);
            c.relocs.push(Relocation {
                offset: 5,
                kind: Reloc::X86CallPCRel4,
                target: FinalName::TestCase(TestcaseName::new("add")),
                addend: -4,
            });
            c
        }
        // ud2, declared as a division-by-zero trap
        "divz" => {
            let mut c = code(&[0x0f, 0x0b]);
            c.traps.push(MachTrap {
                offset: 0,
                code: TrapCode::INTEGER_DIVISION_BY_ZERO,
            });
            c
        }
        "kiln_trampoline" => code(TRAMP_INT2),
        "vec" => {
            return Err(CodegenError::Unsupported {
                what: "type i32x4".into(),
            })
        }
        other => {
            return Err(CodegenError::Emit(format!("no fake code for {other}")));
        }
    })
}

const GOOD: &str = "test run
target x86_64

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
; run: %add(-1, 1) == 0
; run: %add(0x7fffffff, 1) == -2147483648

function %add1(i32, i32) -> i32 {
    fn0 = %add(i32, i32) -> i32
block0(v0: i32, v1: i32):
    v2 = call fn0(v0, v1)
    v3 = iconst.i32 1
    v4 = iadd v2, v3
    return v4
}
; run: %add1(40, 1) == 42
";

const BAD: &str = "test run
target x86_64

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 4
; run: %add(1, 2) == 3

function %divz(i32) -> i32 {
block0(v0: i32):
    trap int_divz
}
; run: %divz(1) == 1
";

fn isa() -> Box<dyn kiln_codegen::isa::TargetIsa> {
    lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64)).unwrap()
}

#[test]
fn passing_directives_and_calls_between_functions() {
    let file = kiln_reader::parse_test(GOOD, "good.clif").unwrap();
    let isa = isa();
    match run_on_isa_with(&file, &*isa, &mut fake_compile) {
        Ok(()) => {}
        Err(BuildOutcome::Fail(m)) => panic!("failed: {m:?}"),
        Err(BuildOutcome::Skip(m)) => panic!("skipped: {m}"),
    }
}

#[test]
fn mismatches_and_traps_fail_with_line_and_trap_code() {
    let file = kiln_reader::parse_test(BAD, "bad.clif").unwrap();
    let isa = isa();
    let msgs = match run_on_isa_with(&file, &*isa, &mut fake_compile) {
        Err(BuildOutcome::Fail(m)) => m,
        Ok(()) => panic!("a trapping file passed"),
        Err(BuildOutcome::Skip(m)) => panic!("skipped: {m}"),
    };
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert_eq!(msgs[0], "bad.clif:9: %add(1, 2): expected 4, got 3");
    assert!(
        msgs[1].starts_with("bad.clif:16: %divz(1): trap int_divz at %divz+0x0"),
        "{}",
        msgs[1]
    );
    // The process survived the trap and can keep running code.
    let good = kiln_reader::parse_test(GOOD, "good.clif").unwrap();
    assert!(run_on_isa_with(&good, &*isa, &mut fake_compile).is_ok());
}

#[test]
fn unsupported_functions_skip_the_file() {
    let text = "test run
function %vec(i32) -> i32 {
block0(v0: i32):
    return v0
}
; run: %vec(1) == 1
";
    let file = kiln_reader::parse_test(text, "v.clif").unwrap();
    let isa = isa();
    match run_on_isa_with(&file, &*isa, &mut fake_compile) {
        Err(BuildOutcome::Skip(why)) => assert_eq!(why, "%vec: unsupported: type i32x4"),
        _ => panic!("expected a skip"),
    }
}

#[test]
fn non_host_targets_run_under_qemu_or_skip_with_a_reason() {
    let text = "test run
target aarch64
function %f() -> i32 {
block0:
    v0 = iconst.i32 1
    return v0
}
; run: %f() == 1
";
    let file = kiln_reader::parse_test(text, "a.clif").unwrap();
    // aarch64 code runs under qemu-user where the cross tools exist (CI
    // installs them); elsewhere the file is skipped, saying what is missing.
    match run_file(&file) {
        Outcome::Pass => assert!(kiln_filetests::qemu::tools_available()),
        Outcome::Skip(why) => {
            assert!(!kiln_filetests::qemu::tools_available(), "{why}");
            assert!(why.contains("aarch64 needs"), "{why}");
        }
        other => panic!("expected a pass under qemu or a skip, got {other:?}"),
    }
}

#[test]
fn real_backend_never_passes_silently() {
    // With the real backend these files run natively: the good one must
    // pass and the trapping one must fail. A skip (Unsupported) would be a
    // regression of the backend, so it fails this test.
    let good = kiln_reader::parse_test(GOOD, "good.clif").unwrap();
    assert_eq!(run_file(&good), Outcome::Pass);
    let bad = kiln_reader::parse_test(BAD, "bad.clif").unwrap();
    match run_file(&bad) {
        Outcome::Fail(m) => assert!(m.iter().any(|m| m.contains("trap int_divz")), "{m:?}"),
        other => panic!("the trapping file must fail: {other:?}"),
    }
}

#[test]
fn an_unsupported_rule_is_a_skip_with_the_reason_and_wrong_code_fails() {
    use kiln_filetests::run::RunTest;
    use kiln_filetests::SubTest;
    let good = kiln_reader::parse_test(GOOD, "good.clif").unwrap();
    let cmd = &good.commands[0];
    let faulty = RunTest::default().with_setting("test_fault", Some("unsupported_iadd"));
    match faulty.run(&good, cmd) {
        Outcome::Skip(why) => assert!(why.contains("unsupported: Iadd"), "{why}"),
        other => panic!("{other:?}"),
    }
    let text = "test run
function %lt(i64, i64) -> i8 {
block0(v0: i64, v1: i64):
    v2 = icmp slt v0, v1
    return v2
}
; run: %lt(1, 2) == 1
";
    let file = kiln_reader::parse_test(text, "lt.clif").unwrap();
    assert_eq!(
        RunTest::default().run(&file, &file.commands[0]),
        Outcome::Pass
    );
    let swapped = RunTest::default().with_setting("test_fault", Some("swap_icmp_operands"));
    match swapped.run(&file, &file.commands[0]) {
        Outcome::Fail(m) => assert!(m[0].contains("expected 1, got 0"), "{m:?}"),
        other => panic!("{other:?}"),
    }
    let bad = RunTest::default().with_setting("test_fault", Some("everything"));
    match bad.run(&file, &file.commands[0]) {
        Outcome::Fail(m) => assert!(m[0].contains("test_fault"), "{m:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_directive_runs_the_function_it_follows() {
    // The corpus has directives that misname their function; Cranelift
    // runs the function the directive follows, and so does Kiln.
    let text = "test run
function %add1(i32, i32) -> i32 {
    fn0 = %add(i32, i32) -> i32
block0(v0: i32, v1: i32):
    v2 = call fn0(v0, v1)
    v3 = iconst.i32 1
    v4 = iadd v2, v3
    return v4
}

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add1(2, 3) == 5
";
    let file = kiln_reader::parse_test(text, "m.clif").unwrap();
    let isa = isa();
    match run_on_isa_with(&file, &*isa, &mut fake_compile) {
        Ok(()) => {}
        Err(BuildOutcome::Fail(m)) => panic!("failed: {m:?}"),
        Err(BuildOutcome::Skip(m)) => panic!("skipped: {m}"),
    }
}

#[test]
fn an_uncaught_throw_under_qemu_fails_naming_the_tag_and_the_run_goes_on() {
    // Tag 5 meets no handler before the entry frame: that directive fails
    // with the throw path's reason; the next directive still runs and
    // passes (one qemu run per file).
    let text = "test run
set preserve_frame_pointers=true
target aarch64
function %thrower(i64) system_v {
    sig0 = (i64, i64, i64, i32, i64, i64) system_v
    fn0 = %__cranelift_throw(i64, i64, i64, i32, i64, i64) system_v
block0(v0: i64):
    v1 = get_frame_pointer.i64
    v2 = iconst.i64 0
    v3 = iconst.i32 5
    v4 = func_addr.i64 fn0
    call_indirect sig0, v4(v0, v1, v2, v3, v2, v2)
    return
}
function %catch_other(i64) -> i64 system_v {
    sig0 = (i64) system_v
    fn0 = %thrower(i64) system_v
block0(v0: i64):
    v1 = get_frame_pointer.i64
    try_call fn0(v1), sig0, block1, [ tag1: block2 ]
block1:
    return v0
block2:
    v2 = iconst.i64 -1
    return v2
}
; run: %catch_other(7) == 7
function %id(i64) -> i64 system_v {
block0(v0: i64):
    return v0
}
; run: %id(3) == 3
";
    let file = kiln_reader::parse_test(text, "uncaught.clif").unwrap();
    match run_file(&file) {
        Outcome::Fail(m) => {
            assert!(kiln_filetests::qemu::tools_available());
            assert_eq!(m.len(), 1, "{m:?}");
            assert!(
                m[0].contains("%catch_other(7)")
                    && m[0].contains("exception with tag 5 has no handler: ReachedEntry"),
                "{m:?}"
            );
        }
        Outcome::Skip(why) => {
            assert!(!kiln_filetests::qemu::tools_available(), "{why}");
            assert!(why.contains("aarch64 needs"), "{why}");
        }
        other => panic!("expected a failure under qemu or a skip, got {other:?}"),
    }
}
