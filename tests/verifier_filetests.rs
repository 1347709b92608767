//! Runs the `test verifier` filetests in `cranelift-like-ir/verifier/`:
//! a function without `; error:` annotations must verify cleanly; with
//! annotations, every annotation must be matched by a verifier error whose
//! message contains its text (at the annotated instruction, for errors
//! about an instruction), and every error must be matched by an annotation.
//!
//! This is a small stand-in for the `kiln test` runner's `test verifier`
//! subcommand, using the same rule (cranelift-facts.md 5.3).

use kiln_ir::verifier::{verify_function, VerifierError};
use std::path::Path;

fn matches(err: &VerifierError, inst: Option<kiln_ir::Inst>, text: &str) -> bool {
    if !err.message.contains(text) {
        return false;
    }
    // Errors about an instruction must be annotated on that instruction;
    // errors about declarations or blocks may be annotated on any line.
    match err.inst {
        Some(i) => inst == Some(i),
        None => true,
    }
}

#[test]
fn verifier_filetests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cranelift-like-ir/verifier");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("cranelift-like-ir/verifier exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "clif"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    let mut failures = Vec::new();
    let (mut functions, mut annotated) = (0, 0);
    for path in &paths {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let file = match kiln_reader::parse_test(&text, &shown) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{shown}: parse error: {e}"));
                continue;
            }
        };
        assert!(
            file.commands.iter().any(|c| c.kind == "verifier"),
            "{shown} lacks `test verifier`"
        );
        for pf in &file.functions {
            functions += 1;
            let errors = match verify_function(&pf.func) {
                Ok(()) => Vec::new(),
                Err(e) => e.0,
            };
            let name = pf.func.name.to_string();
            if pf.error_annotations.is_empty() {
                for e in &errors {
                    failures.push(format!("{shown}: {name}: unexpected error: {e}"));
                }
                continue;
            }
            annotated += 1;
            for a in &pf.error_annotations {
                if !errors.iter().any(|e| matches(e, a.inst, &a.message)) {
                    failures.push(format!(
                        "{shown}:{}: {name}: expected error `{}` not reported; got:\n{}",
                        a.line,
                        a.message,
                        errors
                            .iter()
                            .map(|e| format!("    {e}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    ));
                }
            }
            for e in &errors {
                if !pf
                    .error_annotations
                    .iter()
                    .any(|a| matches(e, a.inst, &a.message))
                {
                    failures.push(format!("{shown}: {name}: unannotated error: {e}"));
                }
            }
        }
    }
    eprintln!(
        "{} files, {functions} functions, {annotated} with expected errors",
        paths.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
