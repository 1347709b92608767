//! Build script: computes the compiler fingerprint (`src/fingerprint.rs`)
//! over the sources that decide code and exports it to the crate as
//! `KILN_COMPILER_FINGERPRINT`, for `COMPILER_VERSION`.

use std::path::Path;

#[allow(dead_code)]
#[path = "src/fingerprint.rs"]
mod fingerprint;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/fingerprint.rs");
    for input in fingerprint::INPUTS {
        // A folder is scanned recursively for changes. A missing path would
        // make cargo rerun this script (and rebuild its dependents) on
        // every build, so only existing inputs are watched.
        let path = root.join(input);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    match fingerprint::compute(&root, fingerprint::INPUTS) {
        Ok(fp) => println!("cargo:rustc-env=KILN_COMPILER_FINGERPRINT={fp}"),
        Err(e) => {
            // Without a fingerprint stale code could be served: stop.
            eprintln!("cannot fingerprint the compiler sources: {e}");
            std::process::exit(1);
        }
    }
}
