//! Compiles the toy rule set in `tests/toy/` with this crate's own compiler
//! (included by path) so that `tests/toy.rs` can execute the generated code.

#[path = "src/lib.rs"]
#[allow(dead_code)]
mod isle;

fn main() {
    let files = ["tests/toy/prelude.isle", "tests/toy/lower.isle"];
    for f in &files {
        println!("cargo:rerun-if-changed={}", f);
    }
    println!("cargo:rerun-if-changed=src");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    match isle::compile_files(&files) {
        Ok(code) => {
            let path = std::path::Path::new(&out_dir).join("toy_lower.rs");
            std::fs::write(&path, code).expect("write generated toy lowering");
        }
        Err(e) => {
            eprintln!("{}", e);
            std::process::exit(1);
        }
    }
}
