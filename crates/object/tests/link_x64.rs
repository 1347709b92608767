//! Kiln's x86-64 objects linked with the system C compiler into
//! executables that run: calls between functions and into libc, a
//! function-pointer table in `.data`, read-only tables in `.rodata`, a
//! writable global, exported, imported and preemptible symbols. The same
//! objects are read back to check their symbols and relocations.

use kiln_codegen::compiled::{CompiledCode, Final, FinalName, Relocation};
use kiln_codegen::isa::{compile_function, lookup, TargetIsa};
use kiln_codegen::machinst::buffer::Reloc;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_ir::UserExternalName;
use kiln_module::{DataDescription, Linkage, Module};
use kiln_object::ObjectModule;
use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget};
use std::path::{Path, PathBuf};
use std::process::Command;

fn isa() -> Box<dyn TargetIsa> {
    lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64)).unwrap()
}

/// Functions by index (`u0:N` is the N-th declaration, `u1:N` the N-th
/// data object: the module's default naming).
const FUNCS: &[(&str, Linkage, &str)] = &[
    (
        "sum_table",
        Linkage::Export,
        "function u0:0(i64) -> i64 system_v {
    gv0 = symbol colocated u1:0
block0(v0: i64):
    v1 = symbol_value.i64 gv0
    v2 = iconst.i64 0
    jump block1(v2, v2)
block1(v3: i64, v4: i64):
    v5 = icmp slt v3, v0
    brif v5, block2, block3
block2:
    v6 = iconst.i64 8
    v7 = imul v3, v6
    v8 = iadd v1, v7
    v9 = load.i64 v8
    v10 = iadd v4, v9
    v11 = iconst.i64 1
    v12 = iadd v3, v11
    jump block1(v12, v10)
block3:
    return v4
}",
    ),
    (
        "bump",
        Linkage::Export,
        "function u0:1() -> i64 system_v {
    gv0 = symbol colocated u1:1
block0:
    v0 = symbol_value.i64 gv0
    v1 = load.i64 v0
    v2 = iconst.i64 1
    v3 = iadd v1, v2
    store v3, v0
    return v3
}",
    ),
    (
        "apply",
        Linkage::Export,
        "function u0:2(i64, i64) -> i64 system_v {
    gv0 = symbol colocated u1:2
    sig0 = (i64) -> i64 system_v
block0(v0: i64, v1: i64):
    v2 = symbol_value.i64 gv0
    v3 = iconst.i64 8
    v4 = imul v0, v3
    v5 = iadd v2, v4
    v6 = load.i64 v5
    v7 = call_indirect sig0, v6(v1)
    return v7
}",
    ),
    (
        "inc",
        Linkage::Local,
        "function u0:3(i64) -> i64 system_v {
block0(v0: i64):
    v1 = iconst.i64 1
    v2 = iadd v0, v1
    return v2
}",
    ),
    (
        "dbl",
        Linkage::Local,
        "function u0:4(i64) -> i64 system_v {
block0(v0: i64):
    v1 = iadd v0, v0
    return v1
}",
    ),
    (
        "greet",
        Linkage::Export,
        "function u0:5() -> i32 system_v {
    gv0 = symbol colocated u1:3
    sig0 = (i64) -> i32 system_v
    fn0 = u0:6 sig0
block0:
    v0 = symbol_value.i64 gv0
    v1 = call fn0(v0)
    return v1
}",
    ),
    ("puts", Linkage::Import, "(i64) -> i32"),
    ("c_helper", Linkage::Import, "(i64) -> i64"),
    (
        "use_helper",
        Linkage::Export,
        "function u0:8(i64) -> i64 system_v {
    sig0 = (i64) -> i64 system_v
    fn0 = u0:7 sig0
    fn1 = colocated u0:3 sig0
block0(v0: i64):
    v1 = call fn0(v0)
    v2 = call fn1(v1)
    return v2
}",
    ),
    (
        "hook",
        Linkage::Preemptible,
        "function u0:9() -> i64 system_v {
block0:
    v0 = iconst.i64 1
    return v0
}",
    ),
    (
        "get_c_value",
        Linkage::Export,
        "function u0:10() -> i64 system_v {
    gv0 = symbol u1:4
block0:
    v0 = symbol_value.i64 gv0
    v1 = load.i64 v0
    return v1
}",
    ),
];

const MAIN_C: &str = r#"
#include <stdio.h>
long sum_table(long); long bump(void); long apply(long, long); int greet(void);
long use_helper(long); long hook(void); long get_c_value(void);
int greet_pic(void); long read_counter_got(void);
extern long counter;
extern long *const counter_ptr;
long c_value = 1234;
long c_helper(long x) { return x * 100; }
int main(void) {
    printf("sum=%ld\n", sum_table(4));
    bump();
    bump();
    long b = bump();
    printf("bump=%ld counter=%ld via_ptr=%ld\n", b, counter, *counter_ptr);
    printf("apply=%ld %ld\n", apply(0, 41), apply(1, 21));
    fflush(stdout);
    greet();
    fflush(stdout);
    printf("helper=%ld hook=%ld c_value=%ld\n", use_helper(5), hook(), get_c_value());
    fflush(stdout);
    greet_pic();
    printf("got=%ld\n", read_counter_got());
    return 0;
}
"#;

const EXPECTED: &str = "sum=14\nbump=3 counter=3 via_ptr=3\napply=42 42\nhello from kiln\n\
                        helper=501 hook=1 c_value=1234\nhello from kiln\ngot=3\n";

/// Hand-assembled position-independent functions (what a backend with
/// `is_pic` would emit), to exercise the relocation kinds Kiln's x86-64
/// lowering does not produce yet: `greet_pic` calls `puts@PLT` with the
/// RIP-relative address of `message`; `read_counter_got` loads `counter`
/// through its GOT slot.
fn pic_functions() -> Vec<(&'static str, &'static str, CompiledCode<Final>)> {
    let reloc = |offset, kind, ns, index| Relocation {
        offset,
        kind,
        target: FinalName::User(UserExternalName::new(ns, index)),
        addend: -4,
    };
    let code = |bytes: &[u8], relocs| CompiledCode {
        code: bytes.to_vec(),
        relocs,
        ..CompiledCode::empty()
    };
    vec![
        (
            "greet_pic",
            "() -> i32",
            code(
                &[
                    0x48, 0x83, 0xec, 0x08, // sub rsp, 8
                    0x48, 0x8d, 0x3d, 0, 0, 0, 0, // lea rdi, [rip + message]
                    0xe8, 0, 0, 0, 0, // call puts@PLT
                    0x48, 0x83, 0xc4, 0x08, // add rsp, 8
                    0xc3, // ret
                ],
                vec![
                    reloc(7, Reloc::X86PCRel4, 1, 3),
                    reloc(12, Reloc::X86CallPLTRel4, 0, 6),
                ],
            ),
        ),
        (
            "read_counter_got",
            "() -> i64",
            code(
                &[
                    0x48, 0x8b, 0x05, 0, 0, 0, 0, // mov rax, [rip + counter@GOTPCREL]
                    0x48, 0x8b, 0x00, // mov rax, [rax]
                    0xc3, // ret
                ],
                vec![reloc(3, Reloc::X86GOTPCRel4, 1, 1)],
            ),
        ),
    ]
}

fn signature_of(text: &str) -> kiln_ir::Signature {
    let f = kiln_reader::parse_function(&format!(
        "function %s{text} system_v {{\nblock0:\n    trap user1\n}}"
    ))
    .unwrap();
    f.stencil.signature.clone()
}

/// The whole program as an object (one `.text`, or one section per
/// function).
fn build_object(per_function_section: bool) -> Vec<u8> {
    build_object_for(&*isa(), per_function_section)
}

/// The program compiled by `isa` (`build_object` uses the default
/// settings; the PIE test sets `is_pic`).
fn build_object_for(isa: &dyn TargetIsa, per_function_section: bool) -> Vec<u8> {
    let mut m = ObjectModule::for_isa(isa);
    m.set_per_function_section(per_function_section);
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
    let squares = m.declare_data("squares", Linkage::Local, false).unwrap();
    let counter = m.declare_data("counter", Linkage::Export, true).unwrap();
    let ops = m.declare_data("ops", Linkage::Local, true).unwrap();
    let message = m.declare_data("message", Linkage::Local, false).unwrap();
    m.declare_data("c_value", Linkage::Import, true).unwrap();
    let counter_ptr = m
        .declare_data("counter_ptr", Linkage::Export, false)
        .unwrap();

    let mut d = DataDescription::new();
    let sq: Vec<u8> = (0..8i64).flat_map(|i| (i * i).to_le_bytes()).collect();
    d.define(sq.into_boxed_slice());
    d.set_align(8);
    m.define_data(squares, &d).unwrap();
    let mut d = DataDescription::new();
    d.define_zeroinit(8);
    d.set_align(8);
    m.define_data(counter, &d).unwrap();
    let mut d = DataDescription::new();
    d.define_zeroinit(16);
    d.set_align(8);
    let inc = m.declarations().get_name("inc").unwrap();
    let dbl = m.declarations().get_name("dbl").unwrap();
    let (kiln_module::FuncOrDataId::Func(inc), kiln_module::FuncOrDataId::Func(dbl)) = (inc, dbl)
    else {
        panic!("inc and dbl are functions")
    };
    d.write_function_addr(0, inc);
    d.write_function_addr(8, dbl);
    m.define_data(ops, &d).unwrap();
    let mut d = DataDescription::new();
    d.define(b"hello from kiln\0".to_vec().into_boxed_slice());
    m.define_data(message, &d).unwrap();
    let mut d = DataDescription::new();
    d.define_zeroinit(8);
    d.set_align(8);
    d.write_data_addr(0, counter, 0);
    m.define_data(counter_ptr, &d).unwrap();

    for (id, f) in defs {
        let code = compile_function(isa, &f).unwrap();
        m.define_function(id, &f.stencil.signature, code).unwrap();
    }
    for (name, sig, code) in pic_functions() {
        let sig = signature_of(sig);
        let id = m.declare_function(name, Linkage::Export, &sig).unwrap();
        m.define_function(id, &sig, code).unwrap();
    }
    m.finish().unwrap()
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-object-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `cc` links `objects` and `c_files` (without PIE: Kiln's x86-64 code
/// takes addresses with `movabs`, an absolute relocation in `.text`) and
/// runs the result; `None` (after printing SKIP) without a C compiler.
fn link_and_run(dir: &Path, c_files: &[(&str, &str)], objects: &[(&str, &[u8])]) -> Option<String> {
    link_and_run_with(dir, &["-no-pie"], c_files, objects)
}

fn link_and_run_with(
    dir: &Path,
    flags: &[&str],
    c_files: &[(&str, &str)],
    objects: &[(&str, &[u8])],
) -> Option<String> {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        println!("SKIP: linking x86-64 ELF objects needs an x86-64 Linux host");
        return None;
    }
    if Command::new("cc").arg("--version").output().is_err() {
        println!("SKIP: no `cc` on PATH to link the object");
        return None;
    }
    let mut args: Vec<PathBuf> = Vec::new();
    for (name, text) in c_files {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        args.push(p);
    }
    for (name, bytes) in objects {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        args.push(p);
    }
    let exe = dir.join("prog");
    let out = Command::new("cc")
        .args(flags)
        .args(&args)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success(), "program failed: {:?}", run.status);
    Some(String::from_utf8(run.stdout).unwrap())
}

#[test]
fn links_and_runs_with_cc() {
    let obj = build_object(false);
    let dir = tmpdir("run");
    if let Some(out) = link_and_run(&dir, &[("main.c", MAIN_C)], &[("kiln.o", &obj)]) {
        assert_eq!(out, EXPECTED);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Only position-independent code (the hand-made functions) links into a
/// PIE, the system compiler's default.
#[test]
fn position_independent_code_links_as_pie() {
    let mut m = ObjectModule::new(Arch::X86_64);
    // Declared in the order the hand-made relocations name them: u0:6 is
    // `puts`, u1:1 `counter`, u1:3 `message`.
    let sig = signature_of("(i64) -> i32");
    for i in 0..6 {
        m.declare_function(&format!("unused{i}"), Linkage::Import, &sig)
            .unwrap();
    }
    m.declare_function("puts", Linkage::Import, &sig).unwrap();
    m.declare_data("unused_data", Linkage::Import, true)
        .unwrap();
    let counter = m.declare_data("counter", Linkage::Export, true).unwrap();
    m.declare_data("unused_data2", Linkage::Import, true)
        .unwrap();
    let message = m.declare_data("message", Linkage::Local, false).unwrap();
    let mut d = DataDescription::new();
    d.define(7i64.to_le_bytes().to_vec().into_boxed_slice());
    m.define_data(counter, &d).unwrap();
    let mut d = DataDescription::new();
    d.define(b"pie says hi\0".to_vec().into_boxed_slice());
    m.define_data(message, &d).unwrap();
    for (name, sig, code) in pic_functions() {
        let sig = signature_of(sig);
        let id = m.declare_function(name, Linkage::Export, &sig).unwrap();
        m.define_function(id, &sig, code).unwrap();
    }
    let obj = m.finish().unwrap();
    let main = "#include <stdio.h>\nint greet_pic(void); long read_counter_got(void);\n\
                int main(void) { greet_pic(); printf(\"%ld\\n\", read_counter_got()); return 0; }\n";
    let dir = tmpdir("pie");
    if let Some(out) = link_and_run_with(&dir, &["-pie"], &[("main.c", main)], &[("pic.o", &obj)]) {
        assert_eq!(out, "pie says hi\n7\n");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `is_pic`, Kiln's own lowering takes every address RIP-relative or
/// through the GOT and calls other modules' functions through their GOT
/// slots: the whole program links as a PIE (the compiler's default, no
/// `-no-pie`) and runs, and no absolute relocation is left in `.text`.
#[test]
fn is_pic_code_links_as_pie() {
    let mut flags = Flags::default();
    flags.set("is_pic", Some("true")).unwrap();
    let isa = lookup(flags, IsaFlags::baseline(Arch::X86_64)).unwrap();
    let obj = build_object_for(&*isa, false);
    let file = object::File::parse(&*obj).unwrap();
    let text = file.section_by_name(".text").unwrap();
    let mut kinds = Vec::new();
    for (_, r) in text.relocations() {
        let RelocationFlags::Elf { r_type } = r.flags() else {
            panic!("not an ELF relocation")
        };
        kinds.push(r_type);
    }
    use object::elf::{R_X86_64_64, R_X86_64_GOTPCREL, R_X86_64_PC32};
    assert!(!kinds.contains(&R_X86_64_64), "{kinds:?}");
    assert!(kinds.contains(&R_X86_64_GOTPCREL), "{kinds:?}");
    assert!(kinds.contains(&R_X86_64_PC32), "{kinds:?}");
    let dir = tmpdir("is-pic");
    if let Some(out) = link_and_run_with(&dir, &[], &[("main.c", MAIN_C)], &[("kiln.o", &obj)]) {
        assert_eq!(out, EXPECTED);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn per_function_sections_link_too() {
    let obj = build_object(true);
    let file = object::File::parse(&*obj).unwrap();
    let names: Vec<String> = file
        .sections()
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    for f in ["sum_table", "bump", "inc", "hook"] {
        assert!(names.contains(&format!(".text.{f}")), "{names:?}");
    }
    let dir = tmpdir("sections");
    if let Some(out) = link_and_run(&dir, &[("main.c", MAIN_C)], &[("kiln.o", &obj)]) {
        assert_eq!(out, EXPECTED);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_preemptible_function_yields_to_a_strong_definition() {
    let obj = build_object(false);
    let dir = tmpdir("weak");
    let strong = "long hook(void) { return 2; }\n";
    if let Some(out) = link_and_run(
        &dir,
        &[("main.c", MAIN_C), ("strong.c", strong)],
        &[("kiln.o", &obj)],
    ) {
        assert_eq!(out, EXPECTED.replace("hook=1", "hook=2"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn symbols_and_relocations_read_back() {
    let obj = build_object(false);
    let file = object::File::parse(&*obj).unwrap();
    assert_eq!(file.architecture(), object::Architecture::X86_64);
    let sym = |name: &str| {
        file.symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("no symbol {name}"))
    };
    let section_of = |name: &str| {
        let s = sym(name);
        let idx = s.section_index().unwrap();
        file.section_by_index(idx)
            .unwrap()
            .name()
            .unwrap()
            .to_string()
    };
    // Linkage.
    for name in [
        "sum_table",
        "bump",
        "apply",
        "greet",
        "counter",
        "counter_ptr",
    ] {
        let s = sym(name);
        assert!(s.is_global() && !s.is_weak() && !s.is_undefined(), "{name}");
    }
    for name in ["inc", "dbl", "squares", "ops", "message"] {
        assert!(sym(name).is_local(), "{name}");
    }
    assert!(sym("hook").is_weak());
    for name in ["puts", "c_helper", "c_value"] {
        assert!(sym(name).is_undefined(), "{name}");
    }
    // Sections.
    assert_eq!(section_of("sum_table"), ".text");
    assert_eq!(section_of("squares"), ".rodata");
    assert_eq!(section_of("message"), ".rodata");
    assert_eq!(section_of("ops"), ".data");
    assert_eq!(section_of("counter"), ".bss");
    assert_eq!(section_of("counter_ptr"), ".data.rel.ro");
    assert_eq!(sym("squares").size(), 64);
    assert!(file.section_by_name(".note.GNU-stack").is_some());

    // Relocations: (section, type, target symbol, addend).
    let mut relocs = Vec::new();
    for section in file.sections() {
        for (_, r) in section.relocations() {
            let RelocationFlags::Elf { r_type } = r.flags() else {
                panic!("not an ELF relocation")
            };
            let RelocationTarget::Symbol(i) = r.target() else {
                panic!("relocation without a symbol")
            };
            let target = file.symbol_by_index(i).unwrap().name().unwrap().to_string();
            relocs.push((
                section.name().unwrap().to_string(),
                r_type,
                target,
                r.addend(),
            ));
        }
    }
    let has = |sec: &str, ty: RelocationType, target: &str| {
        relocs
            .iter()
            .any(|(s, t, n, _)| s == sec && *t == ty && n == target)
    };
    use object::elf::*;
    // The backend calls functions outside the module through an address
    // taken with movabs; the hand-made position-independent functions use
    // rel32 through the PLT, RIP-relative data and the GOT.
    assert!(has(".text", R_X86_64_64, "puts"), "{relocs:?}");
    assert!(has(".text", R_X86_64_64, "c_helper"), "{relocs:?}");
    assert!(has(".text", R_X86_64_PLT32, "puts"), "{relocs:?}");
    assert!(has(".text", R_X86_64_PC32, "message"), "{relocs:?}");
    assert!(has(".text", R_X86_64_GOTPCREL, "counter"), "{relocs:?}");
    assert!(has(".text", R_X86_64_PC32, "inc"), "{relocs:?}");
    assert!(has(".text", R_X86_64_64, "squares"), "{relocs:?}");
    assert!(has(".text", R_X86_64_64, "c_value"), "{relocs:?}");
    assert!(has(".data", R_X86_64_64, "inc"), "{relocs:?}");
    assert!(has(".data", R_X86_64_64, "dbl"), "{relocs:?}");
    assert!(has(".data.rel.ro", R_X86_64_64, "counter"), "{relocs:?}");
    // Calls in the code are rel32 with the -4 addend of the field's end
    // (`.eh_frame`'s PC-relative FDE addresses carry the function's offset).
    assert!(relocs
        .iter()
        .filter(|(s, t, _, _)| s == ".text"
            && [R_X86_64_PLT32, R_X86_64_PC32, R_X86_64_GOTPCREL].contains(t))
        .all(|(_, _, _, a)| *a == -4));
}
