//! aarch64 objects: hand-assembled code (there is no aarch64 backend yet)
//! with every relocation kind an aarch64 backend emits, checked by reading
//! the object back. With `aarch64-linux-gnu-gcc` and `qemu-aarch64`
//! installed the object is also linked and run.

use kiln_codegen::compiled::{CompiledCode, Final, FinalName, Relocation};
use kiln_codegen::machinst::buffer::Reloc;
use kiln_codegen::settings::Arch;
use kiln_ir::{AbiParam, CallConv, Signature, Type, UserExternalName};
use kiln_module::{DataDescription, Linkage, Module, ModuleError};
use kiln_object::ObjectModule;
use object::elf::*;
use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget};
use std::process::Command;

const RET: u32 = 0xd65f_03c0;
const ADRP_X0: u32 = 0x9000_0000;
const ADRP_X16: u32 = 0x9000_0010;

/// A function: instruction words and relocations (offset, kind, target
/// `uN:M`, addend).
type Func = (&'static str, Vec<u32>, Vec<(u32, Reloc, (u32, u32), i64)>);

/// Data ids: u1:0 `answer` (exported i64 42), u1:1 `small` (bytes),
/// u1:2 `table` (writable, holds the address of `get_answer`).
fn functions() -> Vec<Func> {
    use Reloc::*;
    let answer = (1, 0);
    let small = (1, 1);
    let table = (1, 2);
    let get_answer = (0, 0);
    vec![
        (
            "get_answer",
            vec![ADRP_X0, 0xf940_0000, RET], // adrp x0, answer; ldr x0, [x0, :lo12:answer]
            vec![
                (0, Aarch64AdrPrelPgHi21, answer, 0),
                (4, Aarch64Ldst64AbsLo12Nc, answer, 0),
            ],
        ),
        (
            "get_via_got",
            // adrp x0, :got:answer; ldr x0, [x0, :got_lo12:answer]; ldr x0, [x0]
            vec![ADRP_X0, 0xf940_0000, 0xf940_0000, RET],
            vec![
                (0, Aarch64AdrGotPage21, answer, 0),
                (4, Aarch64Ld64GotLo12Nc, answer, 0),
            ],
        ),
        (
            "addr_of_small",
            vec![ADRP_X0, 0x9100_0000, RET], // adrp; add x0, x0, :lo12:small
            vec![
                (0, Aarch64AdrPrelPgHi21, small, 0),
                (4, Aarch64AddAbsLo12Nc, small, 0),
            ],
        ),
        (
            "load_b",
            vec![ADRP_X0, 0x3940_0000, RET], // ldrb w0, [x0, :lo12:small]
            vec![
                (0, Aarch64AdrPrelPgHi21, small, 0),
                (4, Aarch64Ldst8AbsLo12Nc, small, 0),
            ],
        ),
        (
            "load_h",
            vec![ADRP_X0, 0x7940_0000, RET], // ldrh w0, [x0, :lo12:small+2]
            vec![
                (0, Aarch64AdrPrelPgHi21, small, 2),
                (4, Aarch64Ldst16AbsLo12Nc, small, 2),
            ],
        ),
        (
            "load_w",
            vec![ADRP_X0, 0xb940_0000, RET], // ldr w0, [x0, :lo12:small+4]
            vec![
                (0, Aarch64AdrPrelPgHi21, small, 4),
                (4, Aarch64Ldst32AbsLo12Nc, small, 4),
            ],
        ),
        (
            "load_q",
            vec![ADRP_X0, 0x3dc0_0000, RET], // ldr q0, [x0, :lo12:small]
            vec![
                (0, Aarch64AdrPrelPgHi21, small, 0),
                (4, Aarch64Ldst128AbsLo12Nc, small, 0),
            ],
        ),
        (
            "call_answer",
            // stp x29, x30, [sp, #-16]!; mov x29, sp; bl get_answer;
            // add x0, x0, #1; ldp x29, x30, [sp], #16; ret
            vec![
                0xa9bf_7bfd,
                0x9100_03fd,
                0x9400_0000,
                0x9100_0400,
                0xa8c1_7bfd,
                RET,
            ],
            vec![(8, Aarch64Call26, get_answer, 0)],
        ),
        (
            "tail_answer",
            vec![0x1400_0000], // b get_answer
            vec![(0, Aarch64Jump26, get_answer, 0)],
        ),
        (
            "call_table",
            // adrp x16, table; ldr x16, [x16, :lo12:table]; br x16
            vec![ADRP_X16, 0xf940_0210, 0xd61f_0200],
            vec![
                (0, Aarch64AdrPrelPgHi21, table, 0),
                (4, Aarch64Ldst64AbsLo12Nc, table, 0),
            ],
        ),
    ]
}

fn signature() -> Signature {
    let mut s = Signature::new(CallConv::SystemV);
    s.returns.push(AbiParam::new(Type::I64));
    s
}

fn build() -> Vec<u8> {
    let mut m = ObjectModule::new(Arch::Aarch64);
    let funcs = functions();
    let ids: Vec<_> = funcs
        .iter()
        .map(|(n, _, _)| {
            m.declare_function(n, Linkage::Export, &signature())
                .unwrap()
        })
        .collect();
    let answer = m.declare_data("answer", Linkage::Export, false).unwrap();
    let small = m.declare_data("small", Linkage::Local, false).unwrap();
    let table = m.declare_data("table", Linkage::Local, true).unwrap();
    let mut d = DataDescription::new();
    d.define(42i64.to_le_bytes().to_vec().into_boxed_slice());
    d.set_align(8);
    m.define_data(answer, &d).unwrap();
    let mut d = DataDescription::new();
    d.define(
        vec![
            0x11, 0, 0x22, 0, 0x33, 0x33, 0x33, 0x33, 0, 0, 0, 0, 0, 0, 0, 0,
        ]
        .into_boxed_slice(),
    );
    d.set_align(16);
    m.define_data(small, &d).unwrap();
    let mut d = DataDescription::new();
    d.define_zeroinit(8);
    d.set_align(8);
    d.write_function_addr(0, ids[0]);
    m.define_data(table, &d).unwrap();
    for ((_, words, relocs), id) in funcs.into_iter().zip(ids) {
        let code = CompiledCode::<Final> {
            code: words.iter().flat_map(|w| w.to_le_bytes()).collect(),
            relocs: relocs
                .into_iter()
                .map(|(offset, kind, (ns, i), addend)| Relocation {
                    offset,
                    kind,
                    target: FinalName::User(UserExternalName::new(ns, i)),
                    addend,
                })
                .collect(),
            alignment: 4,
            ..CompiledCode::empty()
        };
        m.define_function(id, &signature(), code).unwrap();
    }
    m.finish().unwrap()
}

#[test]
fn relocations_and_symbols_read_back() {
    let obj = build();
    let file = object::File::parse(&*obj).unwrap();
    assert_eq!(file.architecture(), object::Architecture::Aarch64);
    let mut got = Vec::new();
    for section in file.sections() {
        for (off, r) in section.relocations() {
            let RelocationFlags::Elf { r_type } = r.flags() else {
                panic!("not ELF")
            };
            let RelocationTarget::Symbol(i) = r.target() else {
                panic!("no symbol")
            };
            let sym = file.symbol_by_index(i).unwrap().name().unwrap().to_string();
            got.push((
                section.name().unwrap().to_string(),
                off,
                r_type,
                sym,
                r.addend(),
            ));
        }
    }
    let text = |off: u64, ty, sym: &str, addend: i64| {
        (".text".to_string(), off, ty, sym.to_string(), addend)
    };
    // Functions are 4-aligned and laid out in order: offsets of each.
    let starts: Vec<u64> = functions()
        .iter()
        .scan(0u64, |at, (_, w, _)| {
            let s = *at;
            *at += 4 * w.len() as u64;
            Some(s)
        })
        .collect();
    let want = vec![
        text(starts[0], R_AARCH64_ADR_PREL_PG_HI21, "answer", 0),
        text(starts[0] + 4, R_AARCH64_LDST64_ABS_LO12_NC, "answer", 0),
        text(starts[1], R_AARCH64_ADR_GOT_PAGE, "answer", 0),
        text(starts[1] + 4, R_AARCH64_LD64_GOT_LO12_NC, "answer", 0),
        text(starts[2], R_AARCH64_ADR_PREL_PG_HI21, "small", 0),
        text(starts[2] + 4, R_AARCH64_ADD_ABS_LO12_NC, "small", 0),
        text(starts[3], R_AARCH64_ADR_PREL_PG_HI21, "small", 0),
        text(starts[3] + 4, R_AARCH64_LDST8_ABS_LO12_NC, "small", 0),
        text(starts[4], R_AARCH64_ADR_PREL_PG_HI21, "small", 2),
        text(starts[4] + 4, R_AARCH64_LDST16_ABS_LO12_NC, "small", 2),
        text(starts[5], R_AARCH64_ADR_PREL_PG_HI21, "small", 4),
        text(starts[5] + 4, R_AARCH64_LDST32_ABS_LO12_NC, "small", 4),
        text(starts[6], R_AARCH64_ADR_PREL_PG_HI21, "small", 0),
        text(starts[6] + 4, R_AARCH64_LDST128_ABS_LO12_NC, "small", 0),
        text(starts[7] + 8, R_AARCH64_CALL26, "get_answer", 0),
        text(starts[8], R_AARCH64_JUMP26, "get_answer", 0),
        text(starts[9], R_AARCH64_ADR_PREL_PG_HI21, "table", 0),
        text(starts[9] + 4, R_AARCH64_LDST64_ABS_LO12_NC, "table", 0),
        (
            ".data".to_string(),
            0,
            R_AARCH64_ABS64,
            "get_answer".to_string(),
            0,
        ),
    ];
    assert_eq!(got, want);
    let sym = |n: &str| file.symbols().find(|s| s.name() == Ok(n)).unwrap();
    assert!(sym("get_answer").is_global());
    assert_eq!(sym("get_answer").size(), 12);
    assert!(sym("answer").is_global());
    assert!(sym("small").is_local());
    let rodata = file.section_by_name(".rodata").unwrap();
    assert_eq!(&rodata.data().unwrap()[..8], &42i64.to_le_bytes());
}

#[test]
fn x86_relocations_are_refused_on_aarch64() {
    let mut m = ObjectModule::new(Arch::Aarch64);
    let f = m
        .declare_function("f", Linkage::Export, &signature())
        .unwrap();
    let code = CompiledCode::<Final> {
        code: vec![0; 8],
        relocs: vec![Relocation {
            offset: 0,
            kind: Reloc::X86CallPCRel4,
            target: FinalName::User(UserExternalName::new(0, 0)),
            addend: -4,
        }],
        ..CompiledCode::empty()
    };
    m.define_function(f, &signature(), code).unwrap();
    let e = m.finish().unwrap_err();
    assert!(
        matches!(&e, ModuleError::UnsupportedReloc { from, kind: Reloc::X86CallPCRel4 } if from == "f"),
        "{e}"
    );
}

const HARNESS: &str = r#"
#include <stdio.h>
long get_answer(void), get_via_got(void), load_b(void), load_h(void), load_w(void);
long call_answer(void), tail_answer(void), call_table(void);
const unsigned char *addr_of_small(void);
int main(void) {
    printf("%ld %ld %ld %ld %ld %ld %ld %ld %d\n", get_answer(), get_via_got(), load_b(),
           load_h(), load_w(), call_answer(), tail_answer(), call_table(), addr_of_small()[2]);
    return 0;
}
"#;

#[test]
fn links_and_runs_under_qemu() {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !have("aarch64-linux-gnu-gcc") || !have("qemu-aarch64") {
        println!(
            "SKIP: aarch64-linux-gnu-gcc and qemu-aarch64 are needed to run aarch64 objects \
             (apt-get install gcc-aarch64-linux-gnu qemu-user)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("kiln-object-a64-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.c"), HARNESS).unwrap();
    std::fs::write(dir.join("kiln.o"), build()).unwrap();
    let out = Command::new("aarch64-linux-gnu-gcc")
        .current_dir(&dir)
        .args(["main.c", "kiln.o", "-o", "prog"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new("qemu-aarch64")
        .current_dir(&dir)
        .args(["-L", "/usr/aarch64-linux-gnu", "./prog"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8(run.stdout).unwrap(),
        format!("42 42 17 34 {} 43 42 42 34\n", 0x3333_3333)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
