//! Disassembly of compiled code (x86-64: iced-x86, Intel syntax; aarch64:
//! yaxpeax-arm), with relocations and trap sites annotated.

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
    let mut fmt = IntelFormatter::new();
    let mut out = String::new();
    let mut text = String::new();
    let mut inst = Instruction::default();
    for (range, is_data) in code.segments() {
        if is_data {
            data_lines(code, range, &mut out);
            continue;
        }
        let mut dec = Decoder::with_ip(
            64,
            &code.code[range.clone()],
            range.start as u64,
            DecoderOptions::NONE,
        );
        while dec.can_decode() {
            dec.decode_out(&mut inst);
            text.clear();
            fmt.format(&inst, &mut text);
            let start = inst.ip() as usize;
            let end = (start + inst.len()).min(range.end);
            let bytes: String = code.code[start..end]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let _ = writeln!(out, "  {start:4x}:  {bytes:<22} {text}");
            annotate(code, start..end, &mut out);
        }
    }
    out
}

/// Constant data among the code (the pool, islands) as `.byte` lines of up
/// to eight bytes, never decoded as instructions.
fn data_lines(code: &CompiledCode<Final>, range: std::ops::Range<usize>, out: &mut String) {
    for (i, chunk) in code.code[range.clone()].chunks(8).enumerate() {
        let start = range.start + 8 * i;
        let bytes: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "  {start:4x}:  {bytes:<22} .byte");
        annotate(code, start..start + chunk.len(), out);
    }
}

/// The relocations and trap sites of the instruction at `range`.
fn annotate(code: &CompiledCode<Final>, range: std::ops::Range<usize>, out: &mut String) {
    for r in code
        .relocs
        .iter()
        .filter(|r| range.contains(&(r.offset as usize)))
    {
        let _ = writeln!(
            out,
            "        ; reloc {:?} {}{:+}",
            r.kind,
            target_name(&r.target),
            r.addend
        );
    }
    for t in code
        .traps
        .iter()
        .filter(|t| t.offset as usize == range.start)
    {
        let _ = writeln!(out, "        ; trap {}", t.code);
    }
}

/// The aarch64 listing: one line per 4-byte word (offset, the word in
/// memory order, yaxpeax-arm's text; a word it cannot decode, such as island
/// data, as `.word`), then its relocations and trap code, if any.
pub fn disassemble_aarch64(code: &CompiledCode<Final>) -> String {
    use yaxpeax_arch::{Decoder as _, U8Reader};
    let dec = yaxpeax_arm::armv8::a64::InstDecoder::default();
    let mut out = String::new();
    for (range, is_data) in code.segments() {
        if is_data {
            data_lines(code, range, &mut out);
            continue;
        }
        let words = code.code[range.clone()].chunks_exact(4);
        let tail = words.remainder();
        for (i, w) in words.enumerate() {
            let start = range.start + 4 * i;
            let text = match dec.decode(&mut U8Reader::new(w)) {
                Ok(ins) => ins.to_string(),
                Err(_) => format!(
                    ".word 0x{:08x}",
                    u32::from_le_bytes([w[0], w[1], w[2], w[3]])
                ),
            };
            let bytes: String = w.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(out, "  {start:4x}:  {bytes:<10} {text}");
            annotate(code, start..start + 4, &mut out);
        }
        let start = range.end - tail.len();
        for (k, b) in tail.iter().enumerate() {
            let _ = writeln!(out, "  {:4x}:  {b:02x}         .byte", start + k);
        }
        if !tail.is_empty() {
            annotate(code, start..range.end, &mut out);
        }
    }
    out
}
