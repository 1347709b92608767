//! Golden precise-output tests: every `cranelift-like-ir/compile/*.clif`
//! file with `test compile precise-output` and `target x86_64` is compiled
//! (regalloc2 checker on) and each function's disassembly (iced-x86, Intel
//! syntax, with relocations and trap records) is compared with the `; `
//! comment block after it. `KILN_TEST_BLESS=1` rewrites the blocks.

use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use kiln_codegen::isa;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use std::path::Path;

fn listing(code: &kiln_codegen::compiled::CompiledCode<kiln_codegen::compiled::Stencil>) -> String {
    let mut out = String::new();
    let mut dec = Decoder::with_ip(64, &code.code, 0, DecoderOptions::NONE);
    let mut fmt = IntelFormatter::new();
    fmt.options_mut().set_hex_prefix("0x");
    fmt.options_mut().set_hex_suffix("");
    fmt.options_mut().set_space_after_operand_separator(true);
    let mut text = String::new();
    while dec.can_decode() {
        let ins = dec.decode();
        text.clear();
        fmt.format(&ins, &mut text);
        out.push_str(&format!("{:4x}: {text}\n", ins.ip()));
    }
    for r in &code.relocs {
        out.push_str(&format!(
            "reloc {:#x}: {:?} {:?} {:+}\n",
            r.offset, r.kind, r.target, r.addend
        ));
    }
    for t in &code.traps {
        out.push_str(&format!("trap {:#x}: {}\n", t.offset, t.code));
    }
    out
}

#[test]
fn precise_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cranelift-like-ir/compile");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("compile tests directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "clif"))
        .collect();
    files.sort();
    let flags = Flags {
        regalloc_checker: true,
        preserve_frame_pointers: true,
        ..Flags::default()
    };
    let isa = isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("isa");
    let bless = kiln_filetests::bless_requested();
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let file = kiln_reader::parse_test(&text, &path.to_string_lossy()).expect("parse");
        let precise = file
            .commands
            .iter()
            .any(|c| c.kind == "compile" && c.options.iter().any(|o| o == "precise-output"));
        if !precise || !file.targets.iter().any(|t| t.isa == "x86_64") {
            continue;
        }
        let mut edits = Vec::new();
        for f in &file.functions {
            let actual = match isa.compile_stencil(&f.func.stencil) {
                Ok(code) => listing(&code),
                Err(e) => format!("error: {e}\n"),
            };
            checked += 1;
            if bless {
                edits.push(kiln_filetests::ExpectationEdit::for_function(f, &actual));
            } else if let Err(e) = kiln_filetests::compare_expectation(f, &actual) {
                failures.push(format!("{} {}: {e}", path.display(), f.func.name));
            }
        }
        if bless {
            kiln_filetests::bless_file(&path, &edits).expect("bless");
        }
    }
    assert!(checked > 0, "no precise-output tests found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
