//! Stack probes (issue 14, item 3): a function with a 1 MiB frame, run on
//! a thread with a 256 KiB stack, faults on the guard page *in its probe*
//! (a `stk_ovf` trap), never by stepping over the guard page into whatever
//! memory lies below; the same function returns normally on a large stack.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln::codegen::isa::{compile_function, lookup};
use kiln::codegen::settings::{Arch, Flags, IsaFlags};
use kiln::ir::{DataValue, TrapCode, UserFuncName};
use kiln::module::{JitCallError, JitProgram, JitProgramBuilder, Outside, ProgramCallError};

/// Stores to the lowest and the highest word of a 1 MiB slot, returns 7.
const CLIF: &str = "
function %big() -> i64 {
    ss0 = explicit_slot 1048576
block0:
    v0 = iconst.i64 7
    v1 = stack_addr.i64 ss0
    store notrap aligned v0, v1
    store notrap aligned v0, v1+1048568
    v2 = load.i64 notrap aligned v1
    return v2
}
";

const FRAME: u32 = 1 << 20;

/// The program and the offset of `sub rsp, 1 MiB` in `%big` (the end of
/// the probe).
fn program(strategy: &str) -> (JitProgram, u32) {
    let mut flags = Flags::default();
    flags.set("enable_probestack", Some("true")).unwrap();
    flags.set("probestack_strategy", Some(strategy)).unwrap();
    let isa = lookup(flags, IsaFlags::baseline(Arch::X86_64)).unwrap();
    let funcs = kiln::reader::parse_functions(CLIF).unwrap();
    let code = compile_function(&*isa, &funcs[0]).unwrap();
    let mut sub = vec![0x48, 0x81, 0xec];
    sub.extend_from_slice(&FRAME.to_le_bytes());
    let reserve = code
        .code
        .windows(sub.len())
        .position(|w| w == sub.as_slice())
        .expect("sub rsp, 1 MiB in the prologue") as u32;
    let mut builder = JitProgramBuilder::new(&*isa);
    builder
        .define(
            funcs[0].name.clone(),
            funcs[0].stencil.signature.clone(),
            code,
        )
        .unwrap();
    (builder.finish().unwrap(), reserve)
}

fn on_thread<R: Send>(stack: usize, f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn_scoped(s, f)
            .unwrap()
            .join()
            .unwrap()
    })
}

fn check(strategy: &str) {
    let (prog, reserve) = program(strategy);
    let name = UserFuncName::testcase("big");
    // Enough stack: the probes find every page mapped.
    let r = on_thread(8 << 20, || prog.call(&name, &[]));
    assert_eq!(r.unwrap(), vec![DataValue::I64(7)], "{strategy}");
    // 256 KiB: the guard page lies inside the frame-to-be.
    for _ in 0..2 {
        let r = on_thread(256 << 10, || prog.call(&name, &[]));
        let Err(ProgramCallError::Call(JitCallError::Trap(info))) = r else {
            panic!("{strategy}: expected a stack overflow trap, got {r:?}");
        };
        assert_eq!(
            info.code,
            Some(TrapCode::STACK_OVERFLOW),
            "{strategy}: {info}"
        );
        assert_eq!(
            kiln::module::traps::signal_name(info.signal),
            "SIGSEGV",
            "{strategy}: {info}"
        );
        if strategy == "inline" {
            // In %big's probe, before the frame is reserved.
            assert_eq!(info.function.as_deref(), Some("%big"), "{info}");
            assert!(info.offset < reserve, "{info}: probe ends at {reserve:#x}");
            assert_eq!(info.outside, None, "{info}");
        } else {
            // In the probe function the prologue called.
            assert!(
                matches!(info.outside, Some(Outside::InCallee { .. })),
                "{strategy}: {info}"
            );
        }
    }
}

#[test]
fn a_1mib_frame_on_a_small_stack_hits_the_guard_page_in_the_inline_probe() {
    check("inline");
}

#[test]
fn a_1mib_frame_on_a_small_stack_hits_the_guard_page_in_the_outline_probe() {
    check("outline");
}
