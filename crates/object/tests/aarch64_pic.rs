//! aarch64 code compiled by Kiln with `is_pic=true`, written as an object,
//! linked by `aarch64-linux-gnu-gcc` into a shared library (`-shared`) that
//! a position-independent executable (`-pie`) loads, and run under
//! `qemu-aarch64`. The library reads and writes data the executable owns
//! (which only works through GOT slots the dynamic linker fills: the
//! executable's copy of `counter` is not where the library's own `.data`
//! put it), calls C functions by address and directly (`bl` through the
//! PLT), and takes colocated addresses PC-relative. The object's
//! relocations are read back and the code listed by
//! `aarch64-linux-gnu-objdump -dr`, an independent decoder.

use kiln_codegen::isa::{compile_function, lookup, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_module::{DataDescription, Linkage, Module};
use kiln_object::ObjectModule;
use object::elf::*;
use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget};
use std::path::Path;
use std::process::Command;

fn isa(pic: bool) -> Box<dyn TargetIsa> {
    let mut flags = Flags::default();
    flags
        .set("is_pic", Some(if pic { "true" } else { "false" }))
        .unwrap();
    lookup(flags, IsaFlags::baseline(Arch::Aarch64)).unwrap()
}

/// Functions in declaration order (`u0:N`); data objects are `u1:0`
/// `counter` (exported, writable, two words 7 and 100), `u1:1` `squares`
/// (local, read-only, i*i), `u1:2` `big` (exported, read-only, 5000 bytes
/// with 1000 at offset 4104: beyond an `add` immediate), `u1:3` `c_value`
/// (imported from the executable).
const FUNCS: &[(&str, Linkage, &str)] = &[
    (
        "inc",
        Linkage::Local,
        "function u0:0(i64) -> i64 system_v {
block0(v0: i64):
    v1 = iconst.i64 1
    v2 = iadd v0, v1
    return v2
}",
    ),
    ("c_helper", Linkage::Import, "(i64) -> i64"),
    ("c_twice", Linkage::Import, "(i64) -> i64"),
    (
        "pic_sum",
        Linkage::Export,
        "function u0:3() -> i64 system_v {
    gv0 = symbol u1:0
    gv1 = symbol u1:0+8
    gv2 = symbol colocated u1:1+16
    gv3 = symbol u1:2+4104
    gv4 = symbol u1:3
block0:
    v0 = symbol_value.i64 gv0
    v1 = load.i64 v0
    v2 = symbol_value.i64 gv1
    v3 = load.i64 v2
    v4 = symbol_value.i64 gv2
    v5 = load.i64 v4
    v6 = symbol_value.i64 gv3
    v7 = load.i64 v6
    v8 = symbol_value.i64 gv4
    v9 = load.i64 v8
    v10 = iadd v1, v3
    v11 = iadd v10, v5
    v12 = iadd v11, v7
    v13 = iadd v12, v9
    return v13
}",
    ),
    (
        "pic_calls",
        Linkage::Export,
        "function u0:4(i64) -> i64 system_v {
    sig0 = (i64) -> i64 system_v
    fn0 = u0:2 sig0
    fn1 = u0:1 sig0
    fn2 = colocated u0:0 sig0
block0(v0: i64):
    v1 = call fn0(v0)
    v2 = func_addr.i64 fn1
    v3 = call_indirect sig0, v2(v1)
    v4 = func_addr.i64 fn2
    v5 = call_indirect sig0, v4(v3)
    v6 = call fn2(v5)
    return v6
}",
    ),
    (
        "bump",
        Linkage::Export,
        "function u0:5() -> i64 system_v {
    gv0 = symbol u1:0
block0:
    v0 = symbol_value.i64 gv0
    v1 = load.i64 v0
    v2 = iconst.i64 1
    v3 = iadd v1, v2
    store v3, v0
    return v3
}",
    ),
];

fn signature_of(text: &str) -> kiln_ir::Signature {
    let f = kiln_reader::parse_function(&format!(
        "function %s{text} system_v {{\nblock0:\n    trap user1\n}}"
    ))
    .unwrap();
    f.stencil.signature.clone()
}

fn build(isa: &dyn TargetIsa) -> Vec<u8> {
    let mut m = ObjectModule::for_isa(isa);
    let mut defs = Vec::new();
    for (name, linkage, text) in FUNCS {
        if *linkage == Linkage::Import {
            m.declare_function(name, *linkage, &signature_of(text))
                .unwrap();
            continue;
        }
        let f = kiln_reader::parse_function(text).unwrap();
        let id = m
            .declare_function(name, *linkage, &f.stencil.signature)
            .unwrap();
        defs.push((id, f));
    }
    let counter = m.declare_data("counter", Linkage::Export, true).unwrap();
    let squares = m.declare_data("squares", Linkage::Local, false).unwrap();
    let big = m.declare_data("big", Linkage::Export, false).unwrap();
    m.declare_data("c_value", Linkage::Import, false).unwrap();
    let mut d = DataDescription::new();
    let words: Vec<u8> = [7i64, 100].iter().flat_map(|w| w.to_le_bytes()).collect();
    d.define(words.into_boxed_slice());
    d.set_align(8);
    m.define_data(counter, &d).unwrap();
    let mut d = DataDescription::new();
    let sq: Vec<u8> = (0..8i64).flat_map(|i| (i * i).to_le_bytes()).collect();
    d.define(sq.into_boxed_slice());
    d.set_align(8);
    m.define_data(squares, &d).unwrap();
    let mut bytes = vec![0u8; 5000];
    bytes[4104..4112].copy_from_slice(&1000i64.to_le_bytes());
    let mut d = DataDescription::new();
    d.define(bytes.into_boxed_slice());
    d.set_align(8);
    m.define_data(big, &d).unwrap();
    for (id, f) in defs {
        let code = compile_function(isa, &f).unwrap();
        m.define_function(id, &f.stencil.signature, code).unwrap();
    }
    m.finish().unwrap()
}

/// `.text` relocations as (ELF type, symbol, addend).
fn text_relocs(obj: &[u8]) -> Vec<(RelocationType, String, i64)> {
    let file = object::File::parse(obj).unwrap();
    let text = file.section_by_name(".text").unwrap();
    text.relocations()
        .map(|(_, r)| {
            let RelocationFlags::Elf { r_type } = r.flags() else {
                panic!("not an ELF relocation")
            };
            let RelocationTarget::Symbol(i) = r.target() else {
                panic!("relocation without a symbol")
            };
            let sym = file.symbol_by_index(i).unwrap().name().unwrap().to_string();
            (r_type, sym, r.addend())
        })
        .collect()
}

#[test]
fn is_pic_relocations_are_got_and_pc_relative() {
    let relocs = text_relocs(&build(&*isa(true)));
    let has = |ty: RelocationType, sym: &str, addend: i64| {
        relocs
            .iter()
            .any(|(t, s, a)| *t == ty && s == sym && *a == addend)
    };
    // Nothing absolute is left in the code.
    assert!(
        relocs.iter().all(|(t, _, _)| *t != R_AARCH64_ABS64),
        "{relocs:?}"
    );
    // Symbols that may live elsewhere: GOT page + slot, the offset added
    // after the load (a GOT slot holds the symbol itself).
    for sym in ["counter", "big", "c_value", "c_helper"] {
        assert!(has(R_AARCH64_ADR_GOT_PAGE, sym, 0), "{sym}: {relocs:?}");
        assert!(has(R_AARCH64_LD64_GOT_LO12_NC, sym, 0), "{sym}: {relocs:?}");
    }
    // Colocated ones: page + low 12 bits, the offset in the addend.
    assert!(has(R_AARCH64_ADR_PREL_PG_HI21, "squares", 16), "{relocs:?}");
    assert!(has(R_AARCH64_ADD_ABS_LO12_NC, "squares", 16), "{relocs:?}");
    assert!(has(R_AARCH64_ADR_PREL_PG_HI21, "inc", 0), "{relocs:?}");
    assert!(has(R_AARCH64_ADD_ABS_LO12_NC, "inc", 0), "{relocs:?}");
    // Direct calls stay `bl`.
    assert!(has(R_AARCH64_CALL26, "c_twice", 0), "{relocs:?}");
    assert!(has(R_AARCH64_CALL26, "inc", 0), "{relocs:?}");

    // Without is_pic the same program takes addresses from literals.
    let relocs = text_relocs(&build(&*isa(false)));
    assert!(
        relocs.iter().any(|(t, _, _)| *t == R_AARCH64_ABS64),
        "{relocs:?}"
    );
    assert!(
        relocs.iter().all(|(t, _, _)| *t != R_AARCH64_ADR_GOT_PAGE),
        "{relocs:?}"
    );
}

const MAIN_C: &str = r#"
#include <stdio.h>
long pic_sum(void), pic_calls(long), bump(void);
extern long counter[2];
long c_value = 50000;
long c_helper(long x) { return 3 * x; }
long c_twice(long x) { return 2 * x; }
int main(void) {
    long a = pic_sum();
    long b = bump();
    long c = pic_sum();
    printf("%ld %ld %ld %ld %ld\n", a, b, c, counter[0], pic_calls(5));
    return 0;
}
"#;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn is_pic_object_links_as_a_shared_library_and_runs_under_qemu() {
    if !have("aarch64-linux-gnu-gcc") || !have("qemu-aarch64") {
        println!(
            "SKIP: aarch64-linux-gnu-gcc and qemu-aarch64 are needed to link and run aarch64 \
             code (apt-get install gcc-aarch64-linux-gnu qemu-user)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("kiln-object-a64pic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.c"), MAIN_C).unwrap();
    std::fs::write(dir.join("kiln.o"), build(&*isa(true))).unwrap();
    link_and_check(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

fn link_and_check(dir: &Path) {
    let gcc = "aarch64-linux-gnu-gcc";
    run(Command::new(gcc)
        .current_dir(dir)
        .args(["-shared", "-o", "libkiln.so", "kiln.o"]));
    run(Command::new(gcc)
        .current_dir(dir)
        .args(["-pie", "-fPIE", "main.c", "-L.", "-lkiln", "-o", "prog"]));
    let out = run(Command::new("qemu-aarch64").current_dir(dir).args([
        "-L",
        "/usr/aarch64-linux-gnu",
        "-E",
        "LD_LIBRARY_PATH=.",
        "./prog",
    ]));
    // 7 + 100 + squares[2] + 1000 + c_value; bump writes the executable's
    // `counter` (the one main reads); (2*5*3 + 1) + 1.
    assert_eq!(out, "51111 8 51112 8 32\n");

    // The independent decoder shows the GOT forms with their relocations.
    if !have("aarch64-linux-gnu-objdump") {
        println!("SKIP (listing only): no aarch64-linux-gnu-objdump");
        return;
    }
    let listing = run(Command::new("aarch64-linux-gnu-objdump")
        .current_dir(dir)
        .args(["-dr", "kiln.o"]));
    let lines: Vec<&str> = listing.lines().map(str::trim).collect();
    // `adrp xN` with R_AARCH64_ADR_GOT_PAGE counter on the next line, then
    // `ldr xN, [xN]` with R_AARCH64_LD64_GOT_LO12_NC counter.
    let got_pair = lines.windows(4).any(|w| {
        let reg = w[0]
            .split_whitespace()
            .skip_while(|t| *t != "adrp")
            .nth(1)
            .map(|r| r.trim_end_matches(','));
        let Some(reg) = reg else { return false };
        w[1].ends_with("R_AARCH64_ADR_GOT_PAGE\tcounter")
            && w[2].contains(&format!("ldr\t{reg}, [{reg}]"))
            && w[3].ends_with("R_AARCH64_LD64_GOT_LO12_NC\tcounter")
    });
    assert!(got_pair, "{listing}");
    let pc_pair = lines.windows(4).any(|w| {
        w[0].contains("adrp\t")
            && w[1].ends_with("R_AARCH64_ADR_PREL_PG_HI21\tsquares+0x10")
            && w[2].contains("add\t")
            && w[3].ends_with("R_AARCH64_ADD_ABS_LO12_NC\tsquares+0x10")
    });
    assert!(pc_pair, "{listing}");
}
