//! `test compile [precise-output]`: compiles every function of the file for
//! each `target x86_64` and `target aarch64` line, with that line's ISA
//! flags and the `set` lines in force, and the regalloc2 checker on. Other
//! targets have no backend and are left out; a file without an x86_64 or
//! aarch64 target is SKIP.
//!
//! A function's listing is the disassembly by an independent decoder
//! (iced-x86 in Intel syntax for x86-64, yaxpeax-arm for aarch64, one
//! 4-byte word a line; a word it cannot decode is shown as `.word`);
//! constants among the code (`data_ranges`: the pool, islands) are `.byte`
//! lines, then come its relocations and trap records. With
//! `precise-output` the listing, or
//! `error: ...`, must equal the `; ` comment block after the function;
//! `KILN_TEST_BLESS=1` rewrites those blocks in the file instead. Without
//! it, the file's and the function's filecheck directives (`check:`,
//! `nextln:`, `not:` ..., as in `test cat`) must match the listing, and a
//! compile error other than `Unsupported` fails the file. A file with
//! nothing to check (no `precise-output`, no directive) is SKIP with that
//! reason once it compiled; an unsupported function makes it SKIP with the
//! backend's reason. A bad setting or flag fails the file, naming it.

use crate::{bless_file, bless_requested, compare_expectation, ExpectationEdit, Outcome, SubTest};
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use kiln_codegen::compiled::{CompiledCode, Stencil};
use kiln_codegen::isa::{HeaderError, IsaBuilder, Unknown};
use kiln_codegen::result::CodegenError;
use kiln_codegen::settings::Arch;
use kiln_reader::{TestCommand, TestFile};
use std::path::Path;

/// The `test compile` subtest.
pub struct CompileTest;

/// The listing compared by `precise-output`, for `arch`'s code.
pub fn listing_for(arch: Arch, code: &CompiledCode<Stencil>) -> String {
    match arch {
        Arch::X86_64 => listing(code),
        Arch::Aarch64 => listing_aarch64(code),
    }
}

/// The aarch64 listing: each 4-byte word decoded by yaxpeax-arm (PC-relative
/// operands as `$+0x..` from the word), then relocations and traps.
pub fn listing_aarch64(code: &CompiledCode<Stencil>) -> String {
    use yaxpeax_arch::{Decoder as _, U8Reader};
    use yaxpeax_arm::armv8::a64::InstDecoder;
    let dec = InstDecoder::default();
    let mut out = String::new();
    for (range, is_data) in code.segments() {
        if is_data {
            data_lines(&code.code, range, &mut out);
            continue;
        }
        let base = range.start;
        let words = code.code[range.clone()].chunks_exact(4);
        let tail = words.remainder();
        for (i, w) in words.enumerate() {
            let mut r = U8Reader::new(w);
            let text = match dec.decode(&mut r) {
                Ok(ins) => ins.to_string(),
                Err(_) => format!(
                    ".word 0x{:08x}",
                    u32::from_le_bytes([w[0], w[1], w[2], w[3]])
                ),
            };
            out.push_str(&format!("{:4x}: {text}\n", base + 4 * i));
        }
        for (k, b) in tail.iter().enumerate() {
            out.push_str(&format!(
                "{:4x}: .byte 0x{b:02x}\n",
                range.end - tail.len() + k
            ));
        }
    }
    records(code, &mut out);
    out
}

/// Constant data (`CompiledCode::data_ranges`) as `.byte` lines of up to
/// eight bytes, so a listing never shows data as instructions.
fn data_lines(code: &[u8], range: std::ops::Range<usize>, out: &mut String) {
    for (i, chunk) in code[range.clone()].chunks(8).enumerate() {
        let bytes: Vec<String> = chunk.iter().map(|b| format!("0x{b:02x}")).collect();
        out.push_str(&format!(
            "{:4x}: .byte {}\n",
            range.start + 8 * i,
            bytes.join(", ")
        ));
    }
}

fn records(code: &CompiledCode<Stencil>, out: &mut String) {
    for r in &code.relocs {
        out.push_str(&format!(
            "reloc {:#x}: {:?} {:?} {:+}\n",
            r.offset, r.kind, r.target, r.addend
        ));
    }
    for t in &code.traps {
        out.push_str(&format!("trap {:#x}: {}\n", t.offset, t.code));
    }
    // The exception table of `try_call` sites: return address, sp's
    // distance below the frame pointer, handlers in match order.
    for e in &code.exception_sites {
        let hs: Vec<String> = e
            .handlers
            .iter()
            .map(|h| match h.tag {
                Some(t) => format!("tag{t} -> {:#x}", h.handler),
                None => format!("default -> {:#x}", h.handler),
            })
            .collect();
        out.push_str(&format!(
            "exception {:#x}: fp_to_sp {:#x}, {}\n",
            e.ret_addr,
            e.fp_to_sp,
            hs.join(", ")
        ));
    }
}

/// The x86-64 listing compared by `precise-output`.
pub fn listing(code: &CompiledCode<Stencil>) -> String {
    let mut out = String::new();
    let mut fmt = IntelFormatter::new();
    fmt.options_mut().set_hex_prefix("0x");
    fmt.options_mut().set_hex_suffix("");
    fmt.options_mut().set_space_after_operand_separator(true);
    let mut text = String::new();
    for (range, is_data) in code.segments() {
        if is_data {
            data_lines(&code.code, range, &mut out);
            continue;
        }
        let mut dec = Decoder::with_ip(
            64,
            &code.code[range.clone()],
            range.start as u64,
            DecoderOptions::NONE,
        );
        while dec.can_decode() {
            let ins = dec.decode();
            text.clear();
            fmt.format(&ins, &mut text);
            out.push_str(&format!("{:4x}: {text}\n", ins.ip()));
        }
    }
    records(code, &mut out);
    out
}

impl SubTest for CompileTest {
    fn kind(&self) -> &'static str {
        "compile"
    }

    fn run(&self, file: &TestFile, command: &TestCommand) -> Outcome {
        let precise = command.options.iter().any(|o| o == "precise-output");
        let targets: Vec<_> = file
            .targets
            .iter()
            .filter_map(|t| Arch::parse(&t.isa).map(|a| (a, t)))
            .collect();
        if targets.is_empty() {
            return Outcome::Skip("no x86_64 or aarch64 target (the ISAs with a backend)".into());
        }
        let global = match crate::filecheck::directives(&file.preamble_comments) {
            Ok(d) => d,
            Err(e) => return Outcome::Fail(vec![e]),
        };
        let bless = precise && bless_requested();
        let (mut fails, mut skips, mut edits) = (Vec::new(), Vec::new(), Vec::new());
        let mut checked = false;
        for &(arch, target) in &targets {
            let isa = match build_isa_for(arch, target) {
                Ok(isa) => isa,
                Err(Outcome::Fail(m)) => {
                    fails.extend(m);
                    continue;
                }
                Err(Outcome::Skip(why)) => {
                    skips.push(why);
                    continue;
                }
                Err(Outcome::Pass) => continue,
            };
            let label = target_label(target);
            for f in &file.functions {
                let name = &f.func.name;
                let result = isa.compile_stencil(&f.func.stencil);
                if precise {
                    checked = true;
                    let actual = match result {
                        Ok(code) => listing_for(arch, &code),
                        Err(e) => format!("error: {e}\n"),
                    };
                    if bless {
                        edits.push(ExpectationEdit::for_function(f, &actual));
                    } else if let Err(e) = compare_expectation(f, &actual) {
                        fails.push(format!("{label}: {name}: {e}"));
                    }
                    continue;
                }
                let code = match result {
                    Ok(c) => c,
                    Err(CodegenError::Unsupported { what }) => {
                        skips.push(format!("{label}: {name}: unsupported: {what}"));
                        continue;
                    }
                    Err(e) => {
                        fails.push(format!("{label}: {name}: {e}"));
                        continue;
                    }
                };
                let mut dirs = global.clone();
                match crate::filecheck::directives(&f.comments) {
                    Ok(d) => dirs.extend(d),
                    Err(e) => {
                        fails.push(format!("{name}: {e}"));
                        continue;
                    }
                }
                if dirs.is_empty() {
                    continue;
                }
                checked = true;
                let text = listing_for(arch, &code);
                if let Err(e) = crate::filecheck::check(&text, &dirs) {
                    fails.push(format!("{label}: {name}: {e}\nlisting:\n{text}"));
                }
            }
        }
        if bless && !edits.is_empty() {
            if let Err(e) = bless_file(Path::new(&file.path), &edits) {
                fails.push(format!("blessing {}: {e}", file.path));
            }
        }
        if !fails.is_empty() {
            Outcome::Fail(fails)
        } else if !skips.is_empty() {
            Outcome::Skip(skips.join("; "))
        } else if !checked {
            Outcome::Skip(
                "nothing to check: no `precise-output` and no `check:` directive \
                 (every function compiled)"
                    .into(),
            )
        } else {
            Outcome::Pass
        }
    }
}

pub(crate) fn target_label(t: &kiln_reader::Target) -> String {
    let mut label = format!("target {}", t.isa);
    for f in &t.flags {
        label.push(' ');
        label.push_str(f);
    }
    label
}

/// The ISA of one `target` line of `arch`: the `set` lines in force, the
/// line's flags, and the regalloc2 checker. `Err(Fail)` names a bad setting
/// or flag; `Err(Skip)` is a configuration Kiln does not implement.
pub(crate) fn build_isa_for(
    arch: Arch,
    target: &kiln_reader::Target,
) -> Result<Box<dyn kiln_codegen::isa::TargetIsa>, Outcome> {
    let label = target_label(target);
    let mut b = IsaBuilder::new(arch);
    b.flags.regalloc_checker = true;
    let set_lines = target
        .settings
        .iter()
        .map(|s| (s.name.as_str(), s.value.as_deref()));
    let built = b
        .settings(set_lines, Unknown::Reject)
        .and_then(|b| b.target_words(&target.flags, Unknown::Reject));
    match built {
        Err(HeaderError::Setting { name, error }) => {
            return Err(Outcome::Fail(vec![format!(
                "{label}: setting {name}: {error}"
            )]));
        }
        Err(HeaderError::TargetFlag { word, error, .. }) => {
            return Err(Outcome::Fail(vec![format!(
                "{label}: flag {word}: {error}"
            )]));
        }
        Ok(_) => {}
    }
    match b.finish() {
        Ok(isa) => Ok(isa),
        Err(CodegenError::Unsupported { what }) => {
            Err(Outcome::Skip(format!("{label}: unsupported: {what}")))
        }
        Err(e) => Err(Outcome::Fail(vec![format!("{label}: {e}")])),
    }
}
