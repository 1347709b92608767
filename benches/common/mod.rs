//! Shared by the `cargo bench` targets: they run the `kiln bench`
//! subcommands (the measuring code lives there, once) and pass their
//! `RESULT` lines through.

use std::path::PathBuf;
use std::process::Command;

/// `../shared/clif/<rel>` beside the checkout, or `$KILN_BENCH_CORPUS`
/// when set; `None` (after printing SKIP) if it does not exist.
pub fn corpus(rel: &str) -> Option<PathBuf> {
    let p = match std::env::var_os("KILN_BENCH_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/clif")
            .join(rel),
    };
    if p.exists() {
        Some(p)
    } else {
        println!("SKIP: {} not found (set KILN_BENCH_CORPUS)", p.display());
        None
    }
}

/// Iterations: `$KILN_BENCH_ITERS`, else `default`.
pub fn iters(default: usize) -> String {
    std::env::var("KILN_BENCH_ITERS").unwrap_or_else(|_| default.to_string())
}

/// Runs `kiln ARGS...` (built by cargo with the bench profile), shows its
/// output, and fails the bench if it fails.
pub fn kiln(args: &[&str]) {
    // Arguments cargo passes (`--bench`) are not forwarded: the figures
    // come from `kiln bench` with the settings above.
    println!("kiln {}", args.join(" "));
    let status = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .status()
        .expect("run the kiln binary");
    assert!(status.success(), "kiln {} failed: {status}", args.join(" "));
}
