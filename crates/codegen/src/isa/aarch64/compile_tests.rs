//! Whole functions through the pipeline, disassembled by the independent
//! decoder: the frame, the rules' instruction choices, calls and returns.

use crate::isa::{compile_function, lookup};
use crate::settings::{Arch, Flags, IsaFlags};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

/// Compiles the single function in `clif` for aarch64 and disassembles it.
pub(crate) fn disasm_fn(clif: &str) -> Vec<String> {
    let f = kiln_reader::parse_function(clif).unwrap();
    let isa = lookup(Flags::default(), IsaFlags::baseline(Arch::Aarch64)).unwrap();
    let code = compile_function(&*isa, &f).unwrap_or_else(|e| panic!("{e}"));
    let d = InstDecoder::default();
    code.code
        .chunks(4)
        .map(|c| {
            let mut r = U8Reader::new(c);
            d.decode(&mut r)
                .map(|i| i.to_string())
                .unwrap_or_else(|e| format!("<{e:?}>"))
        })
        .collect()
}

#[test]
fn leaf_add_with_immediates() {
    let got = disasm_fn(
        "function %f(i64, i32) -> i64, i32 {
         block0(v0: i64, v1: i32):
           v2 = iconst.i64 4095
           v3 = iadd v0, v2
           v4 = iconst.i32 0xff00
           v5 = band v1, v4
           return v3, v5
         }",
    );
    assert_eq!(
        got,
        [
            "stp x29, x30, [sp, #-0x10]!",
            "mov x29, sp",
            "add x0, x0, #0xfff",
            "and w1, w1, #0xff00",
            "ldp x29, x30, [sp], #0x10",
            "ret"
        ]
    );
}

/// A narrow signed compare with a constant that is negative at its width
/// (192 as an i8 is -64): the constant is extended as the register is, so
/// it cannot be the unsigned immediate #0xc0.
#[test]
fn narrow_signed_compare_constant() {
    let got = disasm_fn(
        "function %f(i8) -> i8 {
         block0(v0: i8):
           v1 = iconst.i8 192
           v2 = icmp sge v0, v1
           return v2
         }",
    );
    assert!(got.iter().any(|l| l.starts_with("sxtb")), "{got:#?}");
    assert!(
        !got.iter()
            .any(|l| l.contains("#0xc0") && l.starts_with("cmp")),
        "{got:#?}"
    );
}

/// `sign_return_address` signs x30 first thing and authenticates it after
/// the frame is popped; `use_bti` alone puts a `bti c` landing pad first.
#[test]
fn return_address_signing_and_bti() {
    let f = kiln_reader::parse_function(
        "function %f(i64) -> i64 {
         block0(v0: i64):
           return v0
         }",
    )
    .unwrap();
    let d = InstDecoder::default();
    let run = |flags: &[&str]| -> Vec<String> {
        let mut isa_flags = IsaFlags::baseline(Arch::Aarch64);
        for fl in flags {
            isa_flags.set(fl, None).unwrap();
        }
        let isa = lookup(Flags::default(), isa_flags).unwrap();
        let code = compile_function(&*isa, &f).unwrap();
        code.code
            .chunks(4)
            .map(|c| d.decode(&mut U8Reader::new(c)).unwrap().to_string())
            .collect()
    };
    let signed = run(&["sign_return_address"]);
    assert_eq!(signed.first().map(String::as_str), Some("hint #0x19"));
    assert_eq!(
        &signed[signed.len() - 3..],
        ["ldp x29, x30, [sp], #0x10", "hint #0x1d", "ret"]
    );
    let bkey = run(&["sign_return_address", "sign_return_address_with_bkey"]);
    assert_eq!(bkey.first().map(String::as_str), Some("hint #0x1b"));
    assert!(bkey.contains(&"hint #0x1f".to_string()));
    let bti = run(&["use_bti"]);
    assert_eq!(bti.first().map(String::as_str), Some("hint #0x22"));
    let plain = run(&[]);
    assert_eq!(
        plain.first().map(String::as_str),
        Some("stp x29, x30, [sp, #-0x10]!")
    );
}
