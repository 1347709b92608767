//! Compile throughput on the wasm corpus (`sql-wasm`, opt none, frame
//! pointers as in BENCHMARKS.md, 3 iterations or `$KILN_BENCH_ITERS`): `kiln bench compile`'s `RESULT compile`
//! line. `cargo bench --bench compile`.

mod common;

fn main() {
    let Some(dir) = common::corpus("wasm-corpus/sql-wasm") else {
        return;
    };
    let iters = common::iters(3);
    common::kiln(&[
        "bench",
        "compile",
        "--opt",
        "none",
        "--iters",
        &iters,
        "--set",
        "preserve_frame_pointers=true",
        "--all-files",
        &dir.to_string_lossy(),
    ]);
}
