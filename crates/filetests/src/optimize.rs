//! `test optimize [precise-output]`: runs the mid-end on every function
//! and checks the printed result.
//!
//! The mid-end runs whatever `opt_level` says (the test is about what it
//! does), with `enable_alias_analysis` from the file's settings. The
//! optimized function must pass the verifier. Then either its `check:`
//! lines (filecheck, as in `test cat`) must match the printed function, or
//! with `precise-output` the printed function must equal the `; ` comment
//! block after the function, which `KILN_TEST_BLESS=1` rewrites.

use crate::{
    bless_file, bless_requested, compare_expectation, filecheck, ExpectationEdit, Outcome, SubTest,
};
use kiln_codegen::settings::Flags;
use kiln_ir::Function;
use kiln_reader::{TestCommand, TestFile};
use std::path::Path;

/// The `test optimize` subtest.
pub struct OptimizeTest;

/// The mid-end's output for `func` under `flags` (any `opt_level`), as a
/// whole function.
pub fn optimized_function(flags: &Flags, func: &Function) -> Function {
    let opts = kiln_midend::OptOptions {
        alias_analysis: flags.enable_alias_analysis,
        unroll: flags.opt_level != kiln_codegen::settings::OptLevel::SpeedAndSize,
        ..kiln_midend::OptOptions::default()
    };
    let (stencil, _) = kiln_midend::optimized(&func.stencil, &opts);
    Function {
        name: func.name.clone(),
        stencil,
        params: func.params.clone(),
    }
}

impl SubTest for OptimizeTest {
    fn kind(&self) -> &'static str {
        "optimize"
    }

    fn run(&self, file: &TestFile, command: &TestCommand) -> Outcome {
        let precise = command.options.iter().any(|o| o == "precise-output");
        let mut flags = Flags::default();
        let settings = file.targets.first().map_or(&file.settings, |t| &t.settings);
        for s in settings {
            if let Err(e) = flags.set(&s.name, s.value.as_deref()) {
                return Outcome::Fail(vec![format!("line {}: {e}", s.line)]);
            }
        }
        let global = match filecheck::directives(&file.preamble_comments) {
            Ok(d) => d,
            Err(e) => return Outcome::Fail(vec![e]),
        };
        let bless = precise && bless_requested();
        let (mut fails, mut edits, mut unchecked) = (Vec::new(), Vec::new(), Vec::new());
        for f in &file.functions {
            let name = f.func.name.to_string();
            let opt = optimized_function(&flags, &f.func);
            if let Err(e) = kiln_ir::verifier::verify_function(&opt) {
                fails.push(format!(
                    "{name}: the optimized function fails the verifier: {e}\n{opt}"
                ));
                continue;
            }
            let printed = opt.to_string();
            if precise {
                if bless {
                    edits.push(ExpectationEdit::for_function(f, &printed));
                } else if let Err(e) = compare_expectation(f, &printed) {
                    fails.push(format!("{name}: {e}"));
                }
                continue;
            }
            let mut dirs = global.clone();
            match filecheck::directives(&f.comments) {
                Ok(d) => dirs.extend(d),
                Err(e) => {
                    fails.push(format!("{name}: {e}"));
                    continue;
                }
            }
            if dirs.is_empty() {
                // The verifier ran; nothing else to compare with.
                unchecked.push(name);
                continue;
            }
            if let Err(e) = filecheck::check(&printed, &dirs) {
                fails.push(format!("{name}: {e}\noutput:\n{printed}"));
            }
        }
        if bless && !edits.is_empty() {
            if let Err(e) = bless_file(Path::new(&file.path), &edits) {
                fails.push(format!("blessing {}: {e}", file.path));
            }
        }
        if !fails.is_empty() {
            Outcome::Fail(fails)
        } else if !unchecked.is_empty() {
            Outcome::Skip(format!(
                "test optimize: nothing to check for {} (no precise-output, no filecheck \
                 directives; the optimized code verified)",
                unchecked.join(", ")
            ))
        } else {
            Outcome::Pass
        }
    }
}
