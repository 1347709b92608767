//! Disassembly of compiled x86-64 code (iced-x86, Intel syntax), with
//! relocations and trap sites annotated.

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use kiln::codegen::compiled::{CompiledCode, Final, FinalName};
use std::fmt::Write;

fn target_name(t: &FinalName) -> String {
    match t {
        FinalName::User(u) => u.to_string(),
        FinalName::TestCase(t) => t.to_string(),
        FinalName::LibCall(l) => l.symbol().to_string(),
        FinalName::KnownSymbol(k) => format!("{k:?}"),
    }
}

/// One line per instruction: offset, bytes, text; then its relocations and
/// trap code, if any.
pub fn disassemble_x64(code: &CompiledCode<Final>) -> String {
    let mut dec = Decoder::with_ip(64, &code.code, 0, DecoderOptions::NONE);
    let mut fmt = IntelFormatter::new();
    let mut out = String::new();
    let mut text = String::new();
    let mut inst = Instruction::default();
    while dec.can_decode() {
        dec.decode_out(&mut inst);
        text.clear();
        fmt.format(&inst, &mut text);
        let start = inst.ip() as usize;
        let end = (start + inst.len()).min(code.code.len());
        let bytes: String = code.code[start..end]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(out, "  {start:4x}:  {bytes:<22} {text}");
        for r in code
            .relocs
            .iter()
            .filter(|r| (start..end).contains(&(r.offset as usize)))
        {
            let _ = writeln!(
                out,
                "        ; reloc {:?} {}{:+}",
                r.kind,
                target_name(&r.target),
                r.addend
            );
        }
        for t in code.traps.iter().filter(|t| t.offset as usize == start) {
            let _ = writeln!(out, "        ; trap {}", t.code);
        }
    }
    out
}
