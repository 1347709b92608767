//! `Entry::call_slots_repeat`: a batch of calls inside one protected region
//! restores the argument slots before each call, and a trap in the batch
//! ends it with the trap's error (and leaves the thread able to call again).
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln_codegen::isa::{compile_function, lookup};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_ir::{DataValue, UserFuncName};
use kiln_module::{JitCallError, JitProgramBuilder, ProgramCallError};

const CLIF: &str = "
function %twice_plus(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    v2 = iadd v0, v0
    v3 = iadd v2, v1
    return v3
}

function %div(i64, i64) -> i64 {
block0(v0: i64, v1: i64):
    v2 = udiv v0, v1
    return v2
}
";

#[test]
fn batches_restore_slots_and_stop_at_a_trap() {
    let isa = lookup(
        Flags::default(),
        IsaFlags::host().unwrap_or_else(|| IsaFlags::baseline(Arch::X86_64)),
    )
    .expect("host ISA");
    let funcs = kiln_reader::parse_functions(CLIF).expect("parse");
    let mut b = JitProgramBuilder::new(&*isa);
    for f in &funcs {
        let code = compile_function(&*isa, f).expect("compile");
        b.define(f.name.clone(), f.signature.clone(), code)
            .expect("define");
    }
    let prog = b.finish().expect("link");

    let e = prog
        .entry(&UserFuncName::testcase("twice_plus"))
        .expect("entry");
    let template = e
        .make_slots(&[DataValue::I64(5), DataValue::I64(3)])
        .expect("slots");
    let mut slots = template.clone();
    // Without the restore, 1000 calls would feed each result back in.
    e.call_slots_repeat(&mut slots, &template, 1000)
        .expect("batch");
    assert_eq!(
        e.read_results(&slots).expect("results"),
        [DataValue::I64(13)]
    );
    // A template of another length is refused, not read past.
    assert!(matches!(
        e.call_slots_repeat(&mut slots, &template[..1], 1),
        Err(ProgramCallError::BadArguments(_))
    ));

    let d = prog.entry(&UserFuncName::testcase("div")).expect("entry");
    let zero = d
        .make_slots(&[DataValue::I64(7), DataValue::I64(0)])
        .expect("slots");
    let mut slots = zero.clone();
    match d.call_slots_repeat(&mut slots, &zero, 50) {
        Err(ProgramCallError::Call(JitCallError::Trap(_))) => {}
        other => panic!("expected a trap, got {other:?}"),
    }
    // The thread's call state was restored: a protected call works again.
    let ok = d
        .make_slots(&[DataValue::I64(7), DataValue::I64(2)])
        .expect("slots");
    let mut slots = ok.clone();
    d.call_slots_repeat(&mut slots, &ok, 3).expect("batch");
    assert_eq!(
        d.read_results(&slots).expect("results"),
        [DataValue::I64(3)]
    );
}
