//! The aarch64 frame sequences the settings ask for — stack-limit checks,
//! stack probes — through the whole pipeline, disassembled by the
//! independent decoder (yaxpeax-arm).

use crate::isa::{compile_function, lookup};
use crate::settings::{Arch, Flags, IsaFlags};
use kiln_ir::TrapCode;
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

/// Compiles the single function in `clif` for aarch64 with the `set`
/// items `settings`; returns the listing and the trap records.
fn compile(settings: &[(&str, &str)], clif: &str) -> (Vec<String>, Vec<(u32, TrapCode)>) {
    let f = kiln_reader::parse_function(clif).unwrap();
    let mut flags = Flags::default();
    for (n, v) in settings {
        flags.set(n, Some(v)).unwrap();
    }
    let isa = lookup(flags, IsaFlags::baseline(Arch::Aarch64)).unwrap();
    let code = compile_function(&*isa, &f).unwrap_or_else(|e| panic!("{e}"));
    let d = InstDecoder::default();
    let listing = code
        .code
        .chunks(4)
        .map(|c| {
            let mut r = U8Reader::new(c);
            d.decode(&mut r)
                .map(|i| i.to_string())
                .unwrap_or_else(|e| format!("<{e:?}>"))
        })
        .collect();
    let traps = code.traps.iter().map(|t| (t.offset, t.code)).collect();
    (listing, traps)
}

const PROBE_INLINE: [(&str, &str); 2] = [
    ("enable_probestack", "true"),
    ("probestack_strategy", "inline"),
];

/// A 1 MiB frame: the probe loop touches each of its 256 pages from the
/// top down, moving sp page by page, before the frame is reserved; then
/// sp comes back from x29 and the frame is reserved in one step.
#[test]
fn one_mib_frame_probes_every_page_in_a_loop() {
    let (got, _) = compile(
        &PROBE_INLINE,
        "function %f() -> i64 {
           ss0 = explicit_slot 1048576
         block0:
           v0 = stack_addr.i64 ss0
           return v0
         }",
    );
    assert_eq!(
        got[..12],
        [
            "stp x29, x30, [sp, #-0x10]!",
            "mov x29, sp",
            // x17 = sp - 1 MiB, the end of the loop.
            "mov x17, #0x100000",
            "sub x17, sp, x17",
            // 1: one page down, touch it, until sp reaches x17.
            "sub sp, sp, #0x1, lsl #12",
            "str xzr, [sp]",
            "cmp sp, x17",
            "b.ne $-0xc",
            "mov sp, x29",
            "sub sp, sp, #0x100, lsl #12",
            "mov x0, sp",
            "mov sp, x29",
        ],
        "{got:#?}"
    );
}

/// Up to four pages the probes are straight-line; below one page there
/// is none.
#[test]
fn small_frames_probe_unrolled_or_not_at_all() {
    let (got, _) = compile(
        &PROBE_INLINE,
        "function %f() -> i64 {
           ss0 = explicit_slot 12288
         block0:
           v0 = stack_addr.i64 ss0
           return v0
         }",
    );
    assert_eq!(
        got[2..10],
        [
            "sub sp, sp, #0x1, lsl #12",
            "str xzr, [sp]",
            "sub sp, sp, #0x1, lsl #12",
            "str xzr, [sp]",
            "sub sp, sp, #0x1, lsl #12",
            "str xzr, [sp]",
            "mov sp, x29",
            "sub sp, sp, #0x3, lsl #12",
        ],
        "{got:#?}"
    );
    let (got, _) = compile(
        &PROBE_INLINE,
        "function %f() -> i64 {
           ss0 = explicit_slot 4000
         block0:
           v0 = stack_addr.i64 ss0
           return v0
         }",
    );
    assert!(!got.iter().any(|i| i.starts_with("str xzr")), "{got:#?}");
}

/// The outline strategy calls a probe function; aarch64 has none, so it is
/// refused naming the setting, never ignored.
#[test]
fn outline_probes_are_refused_by_name() {
    let f = kiln_reader::parse_function(
        "function %f() -> i64 {
           ss0 = explicit_slot 1048576
         block0:
           v0 = stack_addr.i64 ss0
           return v0
         }",
    )
    .unwrap();
    let mut flags = Flags::default();
    flags.set("enable_probestack", Some("true")).unwrap();
    flags.set("probestack_strategy", Some("outline")).unwrap();
    let isa = lookup(flags, IsaFlags::baseline(Arch::Aarch64)).unwrap();
    let e = compile_function(&*isa, &f).unwrap_err().to_string();
    assert!(e.contains("probestack_strategy=outline"), "{e}");
}

/// The limit comes through the global value chain into x17, sp is
/// compared with limit + frame size before the frame is reserved, and the
/// trap is `stk_ovf`.
#[test]
fn stack_limit_chain_is_checked_before_the_frame() {
    let (got, traps) = compile(
        &[],
        "function %f(i64 vmctx) -> i64 {
           gv0 = vmctx
           gv1 = load.i64 notrap aligned readonly gv0+8
           gv2 = load.i64 notrap aligned gv1+24
           gv3 = iadd_imm.i64 gv2, 64
           stack_limit = gv3
           ss0 = explicit_slot 100
         block0(v0: i64):
           v1 = stack_addr.i64 ss0
           return v1
         }",
    );
    assert_eq!(
        got[..9],
        [
            "stp x29, x30, [sp, #-0x10]!",
            "mov x29, sp",
            "mov x17, x0",
            "ldr x17, [x17, #0x8]",
            "ldr x17, [x17, #0x18]",
            "add x17, x17, #0x40",
            "add x17, x17, #0x70",
            "cmp sp, x17",
            "b.lo $+0x18",
        ],
        "{got:#?}"
    );
    assert_eq!(traps.len(), 1);
    assert_eq!(traps[0].1, TrapCode::STACK_OVERFLOW);
    // The branch goes to the trap island after the body.
    assert_eq!(traps[0].0, 8 * 4 + 0x18, "{got:#?}");
    assert!(got[traps[0].0 as usize / 4].starts_with("udf"), "{got:#?}");
}

/// A frame of 32 KiB or more compares sp with the limit itself first (a
/// limit near the top of the address space cannot wrap the sum), with the
/// limit in a `stack_limit` parameter.
#[test]
fn large_frames_check_twice() {
    let (got, traps) = compile(
        &[],
        "function %f(i64 stack_limit) -> i64 {
           ss0 = explicit_slot 40000
         block0(v0: i64):
           v1 = stack_addr.i64 ss0
           return v1
         }",
    );
    let checks = got.iter().filter(|i| *i == "cmp sp, x17").count();
    assert_eq!(checks, 2, "{got:#?}");
    assert_eq!(got[2], "mov x17, x0", "{got:#?}");
    assert_eq!(got[3], "cmp sp, x17", "{got:#?}");
    assert!(traps.iter().all(|t| t.1 == TrapCode::STACK_OVERFLOW));
    assert_eq!(traps.len(), 2);
}
