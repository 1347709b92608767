//! `test compile [precise-output]`: compiles every function of the file for
//! each `target x86_64` line (other targets are skipped with the reason)
//! with the regalloc2 checker on.
//!
//! Without `precise-output` a function passes if it compiles or fails with
//! a clean `Unsupported` error (reported as a skip). With `precise-output`
//! the function's listing — the disassembly (iced-x86, Intel syntax), then
//! its relocations and trap records, or `error: ...` — must equal the `; `
//! comment block after the function; `KILN_TEST_BLESS=1` rewrites those
//! blocks in the file instead.

use crate::{bless_file, bless_requested, compare_expectation, ExpectationEdit, Outcome, SubTest};
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use kiln_codegen::compiled::{CompiledCode, Stencil};
use kiln_codegen::result::CodegenError;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_reader::{TestCommand, TestFile};
use std::path::Path;

/// The `test compile` subtest.
pub struct CompileTest;

/// The listing compared by `precise-output`.
pub fn listing(code: &CompiledCode<Stencil>) -> String {
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

impl SubTest for CompileTest {
    fn kind(&self) -> &'static str {
        "compile"
    }

    fn run(&self, file: &TestFile, command: &TestCommand) -> Outcome {
        let precise = command.options.iter().any(|o| o == "precise-output");
        let Some(target) = file.targets.iter().find(|t| t.isa == "x86_64") else {
            return Outcome::Skip(
                "test compile: no x86_64 target (only x86_64 has a backend)".into(),
            );
        };
        let mut flags = Flags {
            regalloc_checker: true,
            ..Flags::default()
        };
        for s in file.settings.iter().chain(&target.settings) {
            if flags.set(&s.name, s.value.as_deref()).is_err() {
                return Outcome::Skip(format!("test compile: unknown setting {}", s.name));
            }
        }
        let isa = match kiln_codegen::isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)) {
            Ok(isa) => isa,
            Err(e) => return Outcome::Skip(format!("test compile: {e}")),
        };
        let bless = precise && bless_requested();
        let (mut fails, mut skips, mut edits) = (Vec::new(), Vec::new(), Vec::new());
        for f in &file.functions {
            let result = isa.compile_stencil(&f.func.stencil);
            if !precise {
                match result {
                    Ok(_) => {}
                    Err(CodegenError::Unsupported { what }) => {
                        skips.push(format!("{}: unsupported {what}", f.func.name))
                    }
                    Err(e) => fails.push(format!("{}: {e}", f.func.name)),
                }
                continue;
            }
            let actual = match result {
                Ok(code) => listing(&code),
                Err(e) => format!("error: {e}\n"),
            };
            if bless {
                edits.push(ExpectationEdit::for_function(f, &actual));
            } else if let Err(e) = compare_expectation(f, &actual) {
                fails.push(format!("{}: {e}", f.func.name));
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
        } else {
            Outcome::Pass
        }
    }
}
