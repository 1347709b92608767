//! `test unwind precise-output`: compiles every function for each x86_64
//! and aarch64 target line and compares its unwind information — the
//! frame-description ops as the call-frame instructions they become, then
//! the rows they describe (CFA rule and saved registers per code range) —
//! with the `; ` comment block after the function (`KILN_TEST_BLESS=1`
//! rewrites it). Without `precise-output` there is nothing to compare:
//! SKIP with that reason.

use crate::compile::{build_isa_for, target_label};
use crate::{bless_file, bless_requested, compare_expectation, ExpectationEdit, Outcome, SubTest};
use kiln_codegen::settings::Arch;
use kiln_codegen::unwind::{describe, CfiTarget};
use kiln_reader::{TestCommand, TestFile};
use std::path::Path;

/// The `test unwind` subtest.
pub struct UnwindTest;

impl SubTest for UnwindTest {
    fn kind(&self) -> &'static str {
        "unwind"
    }

    fn run(&self, file: &TestFile, command: &TestCommand) -> Outcome {
        if !command.options.iter().any(|o| o == "precise-output") {
            return Outcome::Skip("test unwind: nothing to check without precise-output".into());
        }
        let bless = bless_requested();
        let (mut fails, mut skips, mut edits) = (Vec::new(), Vec::new(), Vec::new());
        let mut checked = false;
        for target in &file.targets {
            let arch = match target.isa.as_str() {
                "x86_64" => Arch::X86_64,
                "aarch64" => Arch::Aarch64,
                other => {
                    skips.push(format!("target {other}: Kiln has no backend for it"));
                    continue;
                }
            };
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
                checked = true;
                let actual = match isa.compile_stencil(&f.func.stencil) {
                    Ok(code) => {
                        let mut s = format!("{label}: {} bytes\n", code.code.len());
                        describe(
                            CfiTarget::new(arch),
                            &code.unwind,
                            code.code.len() as u32,
                            &mut s,
                        );
                        s
                    }
                    Err(e) => format!("{label}: error: {e}\n"),
                };
                if bless {
                    edits.push(ExpectationEdit::for_function(f, &actual));
                } else if let Err(e) = compare_expectation(f, &actual) {
                    fails.push(format!("{label}: {}: {e}", f.func.name));
                }
            }
            // One expectation block per function: the first usable target
            // line is the one compared.
            if checked {
                break;
            }
        }
        if bless && !edits.is_empty() {
            if let Err(e) = bless_file(Path::new(&file.path), &edits) {
                fails.push(format!("blessing {}: {e}", file.path));
            }
        }
        if !fails.is_empty() {
            Outcome::Fail(fails)
        } else if !checked {
            Outcome::Skip(skips.join("; "))
        } else {
            Outcome::Pass
        }
    }
}
