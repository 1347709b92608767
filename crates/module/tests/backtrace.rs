//! Backtraces through JIT frames: a chain of Kiln functions calls back into
//! Rust, and libgcc's native unwinder (`_Unwind_Backtrace`, what Rust's
//! `backtrace` and panics use) sees every Kiln frame, from the `.eh_frame`
//! the module registered, and walks on out into the Rust caller to the end
//! of the stack. With `unwind_info=false` the same walk stops at the first
//! Kiln frame (the registration is what makes the difference).
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln_codegen::isa::{compile_function, IsaBuilder};
use kiln_codegen::settings::Arch;
use kiln_module::{clif::define_clif_functions, JitModule, Module};
use std::cell::RefCell;
use std::ffi::c_void;

/// outer → middle → inner → callback, shared with the object writer's
/// backtrace test.
const CHAIN: &str = include_str!("callback_chain.clif");

type UnwindTraceFn = extern "C" fn(*mut c_void, *mut c_void) -> i32;
extern "C" {
    fn _Unwind_Backtrace(trace: UnwindTraceFn, arg: *mut c_void) -> i32;
    fn _Unwind_GetIP(ctx: *mut c_void) -> usize;
}

/// `_URC_END_OF_STACK`: the walk reached the outermost frame.
const URC_END_OF_STACK: i32 = 5;

thread_local! {
    static WALK: RefCell<(Vec<usize>, i32)> = const { RefCell::new((Vec::new(), 0)) };
}

extern "C" fn collect(ctx: *mut c_void, _arg: *mut c_void) -> i32 {
    // SAFETY: `ctx` is the context libgcc passes to the trace callback.
    let ip = unsafe { _Unwind_GetIP(ctx) };
    WALK.with(|w| w.borrow_mut().0.push(ip));
    0
}

extern "C" fn rust_callback(x: i64) -> i64 {
    // SAFETY: `collect` matches the callback type libgcc expects and only
    // reads the context it is handed.
    let code = unsafe { _Unwind_Backtrace(collect, std::ptr::null_mut()) };
    WALK.with(|w| w.borrow_mut().1 = code);
    x + 1000
}

struct Walk {
    ips: Vec<usize>,
    end_code: i32,
    /// Address ranges of %outer, %middle, %inner.
    ranges: Vec<std::ops::Range<usize>>,
    result: i64,
}

fn walk_through_chain(unwind_info: bool) -> Walk {
    let mut b = IsaBuilder::new(Arch::X86_64);
    b.flags.unwind_info = unwind_info;
    let isa = b.finish().unwrap();
    let funcs = kiln_reader::parse_functions(CHAIN).unwrap();
    let compiled: Vec<_> = funcs
        .iter()
        .map(|f| (f, compile_function(&*isa, f).unwrap()))
        .collect();
    assert_eq!(
        compiled.iter().all(|(_, c)| !c.unwind.is_empty()),
        unwind_info
    );
    let mut m = JitModule::new();
    m.define_symbol("callback", rust_callback as *const u8);
    let ids = define_clif_functions(&mut m, compiled).unwrap();
    m.finalize().unwrap();
    let ranges = ids
        .iter()
        .map(|&id| {
            let start = m.function_address(id).unwrap() as usize;
            start..start + m.code(id).unwrap().code.len()
        })
        .collect();
    let outer = m.function_address(ids[0]).unwrap();
    // SAFETY: %outer was compiled for the host with the System V
    // signature (i64) -> i64 and its module is alive during the call.
    let f: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(outer) };
    WALK.with(|w| *w.borrow_mut() = (Vec::new(), 0));
    let result = std::hint::black_box(f)(5);
    let (ips, end_code) = WALK.with(|w| w.borrow().clone());
    m.free_memory();
    Walk {
        ips,
        end_code,
        ranges,
        result,
    }
}

#[test]
fn native_unwinder_walks_through_every_kiln_frame_and_out() {
    let w = walk_through_chain(true);
    // 5+1 = 6; inner: 18 -> callback 1018 + 6 = 1024; middle: + 6 = 1030; outer: + 1.
    assert_eq!(w.result, 1031);
    assert_eq!(
        w.end_code, URC_END_OF_STACK,
        "the walk did not reach the end: {:x?}",
        w.ips
    );
    let in_fn = |ip: usize| w.ranges.iter().position(|r| r.contains(&(ip - 1)));
    let kiln: Vec<(usize, usize)> = w
        .ips
        .iter()
        .enumerate()
        .filter_map(|(i, &ip)| Some((i, in_fn(ip)?)))
        .collect();
    // Innermost first: %inner, %middle, %outer, consecutive frames.
    assert_eq!(
        kiln.iter().map(|&(_, f)| f).collect::<Vec<_>>(),
        vec![2, 1, 0],
        "{:x?} in {:x?}",
        w.ips,
        w.ranges
    );
    assert_eq!(kiln[1].0, kiln[0].0 + 1);
    assert_eq!(kiln[2].0, kiln[1].0 + 1);
    // Out into Rust: more frames follow %outer (this test function, the
    // test harness, the thread start).
    assert!(w.ips.len() > kiln[2].0 + 3, "{:x?}", w.ips);
}

/// The control: without unwind information the native unwinder cannot
/// get past the innermost Kiln frame.
#[test]
fn without_unwind_info_the_walk_stops_in_kiln_code() {
    let w = walk_through_chain(false);
    assert_eq!(w.result, 1031);
    // libgcc reports the end of the stack where it finds no description:
    // the walk ends at the first Kiln frame, and nothing after it is seen.
    let first = w
        .ips
        .iter()
        .position(|&ip| w.ranges.iter().any(|r| r.contains(&(ip - 1))));
    assert_eq!(first, Some(w.ips.len() - 1), "{:x?} {:x?}", w.ips, w.ranges);
    let _ = w.end_code;
}
