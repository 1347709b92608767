//! Stack-limit checks from the library (issue 14, item 2): a recursive
//! function whose `stack_limit` global value says "256 KiB below here"
//! traps with `stk_ovf` in its prologue at the depth its frame size
//! predicts, and the thread goes on.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln::codegen::isa::{compile_function, lookup};
use kiln::codegen::settings::{Arch, Flags, IsaFlags};
use kiln::ir::{DataValue, TrapCode, UserFuncName};
use kiln::module::{JitCallError, JitProgramBuilder, ProgramCallError};

/// `%rec(vmctx, n)` records `n` at `[vmctx+8]` and recurses down to 0; the
/// limit is the word at `[vmctx]`.
const CLIF: &str = "
function %rec(i64 vmctx, i64) -> i64 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0
    stack_limit = gv1
    ss0 = explicit_slot 200
    fn0 = %rec(i64 vmctx, i64) -> i64
block0(v0: i64, v1: i64):
    store notrap aligned v1, v0+8
    brif v1, block1, block2
block1:
    v2 = iconst.i64 1
    v3 = isub v1, v2
    v4 = call fn0(v0, v3)
    return v4
block2:
    return v1
}
";

#[test]
fn recursion_traps_at_the_depth_the_limit_allows() {
    const ROOM: u64 = 256 << 10;
    const N: i64 = 1_000_000;
    let isa = lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64)).unwrap();
    let funcs = kiln::reader::parse_functions(CLIF).unwrap();
    let mut builder = JitProgramBuilder::new(&*isa);
    let code = compile_function(&*isa, &funcs[0]).unwrap();
    let frame = u64::from(code.frame_size);
    builder
        .define(
            funcs[0].name.clone(),
            funcs[0].stencil.signature.clone(),
            code,
        )
        .unwrap();
    let prog = builder.finish().unwrap();
    let name = UserFuncName::testcase("rec");
    std::thread::Builder::new()
        // Room for the limit and far less than N frames: without the check
        // the recursion would hit the guard page (a SIGSEGV, not this trap).
        .stack_size(8 << 20)
        .spawn(move || {
            for _ in 0..3 {
                let here = 0u8;
                let top = std::hint::black_box(&here) as *const u8 as u64;
                let mut vmctx = [top - ROOM, u64::MAX];
                let args = [DataValue::I64(vmctx.as_mut_ptr() as i64), DataValue::I64(N)];
                match prog.call(&name, &args) {
                    Err(ProgramCallError::Call(JitCallError::Trap(info))) => {
                        assert_eq!(info.code, Some(TrapCode::STACK_OVERFLOW), "{info}");
                        // The prologue's check (a ud2), not the guard page.
                        assert_eq!(
                            kiln::module::traps::signal_name(info.signal),
                            "SIGILL",
                            "{info}"
                        );
                        assert_eq!(info.function.as_deref(), Some("%rec"), "{info}");
                    }
                    other => panic!("expected stk_ovf, got {other:?}"),
                }
                // Frames that ran: n went from N down to the last recorded.
                let depth = (N - vmctx[1] as i64 + 1) as u64;
                // Every frame that ran fits above the limit, and no more
                // than the entry stub and trampoline frames (well under 4
                // KiB) are missing.
                assert!(depth * frame <= ROOM, "depth {depth} x {frame} bytes");
                assert!(
                    depth * frame + 4096 > ROOM,
                    "depth {depth} x {frame} bytes: trapped early"
                );
                // The thread goes on: a shallow call returns.
                let mut vmctx = [top - ROOM, 0];
                let args = [
                    DataValue::I64(vmctx.as_mut_ptr() as i64),
                    DataValue::I64(10),
                ];
                assert_eq!(prog.call(&name, &args).unwrap(), vec![DataValue::I64(0)]);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}
