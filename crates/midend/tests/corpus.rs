//! The mid-end on real CLIF: every function of Kiln's own filetests and,
//! when the shared corpus sits beside the checkout, of Cranelift's runtests
//! and the wasm corpus is optimized and must pass the verifier; and every
//! `; run:` line of the runtests is interpreted on the original and on the
//! optimized functions, which must agree (results or trap). Functions and
//! files the interpreter does not support are counted, not failed. (The
//! kernels are only verified here: their calls are long to interpret; `kiln
//! bench kernels --opt speed` checks their results natively.)

use kiln_interpreter::{InterpError, Interpreter};
use kiln_ir::Function;
use kiln_midend::{optimized, OptOptions};
use kiln_reader::RunCommand;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "clif") {
            out.push(p);
        }
    }
}

fn opt(f: &Function) -> Function {
    let (stencil, _) = optimized(&f.stencil, &OptOptions::default());
    Function {
        name: f.name.clone(),
        stencil,
        params: f.params.clone(),
    }
}

#[test]
fn corpus_functions_verify_and_interpret_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for d in [
        "cranelift-like-ir",
        "../shared/clif/runtests",
        "../shared/clif/kernels",
        "../shared/clif/kernels-wasm",
        "../shared/clif/wasm-corpus",
    ] {
        collect(&root.join(d), &mut files);
    }
    files.sort();
    let (mut funcs, mut runs, mut unsupported) = (0usize, 0usize, 0usize);
    let mut fails = Vec::new();
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let Ok(file) = kiln_reader::parse_test(&text, &path.to_string_lossy()) else {
            continue;
        };
        // Files that must fail to verify are not inputs to the mid-end.
        if file.commands.iter().any(|c| c.kind == "verifier") {
            continue;
        }
        let originals: Vec<&Function> = file.functions.iter().map(|f| &f.func).collect();
        if originals
            .iter()
            .any(|f| kiln_ir::verifier::verify_function(f).is_err())
        {
            continue;
        }
        let optimized_fns: Vec<Function> = originals.iter().map(|f| opt(f)).collect();
        for (o, g) in originals.iter().zip(&optimized_fns) {
            funcs += 1;
            if let Err(e) = kiln_ir::verifier::verify_function(g) {
                fails.push(format!("{}: {}: {e}\n{g}", path.display(), o.name));
            }
        }
        // Kernels run long calls (seconds in the interpreter): verified only.
        if path.to_string_lossy().contains("kernels") {
            continue;
        }
        let mut a = Interpreter::new(originals.iter().copied());
        let mut b = Interpreter::new(optimized_fns.iter());
        for f in &file.functions {
            for d in &f.run_directives {
                let (func, args) = match &d.command {
                    RunCommand::Run { func, args, .. } | RunCommand::RunTruthy { func, args } => {
                        (func, args)
                    }
                    _ => continue,
                };
                let want = a.call_by_name(func, args);
                if matches!(
                    want,
                    Err(InterpError::Unsupported(_)) | Err(InterpError::OutOfFuel)
                ) {
                    unsupported += 1;
                    continue;
                }
                let got = b.call_by_name(func, args);
                runs += 1;
                if format!("{want:?}") != format!("{got:?}") {
                    fails.push(format!(
                        "{}:{}: {}: original {want:?}, optimized {got:?}",
                        path.display(),
                        d.line,
                        d.text
                    ));
                }
            }
        }
    }
    println!(
        "mid-end on the corpus: {} files, {funcs} functions verified, {runs} run lines agree, \
         {unsupported} not interpretable, {} failures",
        files.len(),
        fails.len()
    );
    for f in fails.iter().take(5) {
        println!("FAIL {f}");
    }
    assert!(funcs > 0);
    assert!(fails.is_empty(), "{} failures", fails.len());
}
