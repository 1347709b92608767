//! Cache hit and miss on the wasm corpus (`sql-wasm`, opt none, frame
//! pointers, in-memory store, 3 iterations or `$KILN_BENCH_ITERS`): `kiln bench cache`'s `RESULT cache` line.
//! `cargo bench --bench cache`.

mod common;

fn main() {
    let Some(dir) = common::corpus("wasm-corpus/sql-wasm") else {
        return;
    };
    let iters = common::iters(3);
    common::kiln(&[
        "bench",
        "cache",
        "--opt",
        "none",
        "--iters",
        &iters,
        "--set",
        "preserve_frame_pointers=true",
        &dir.to_string_lossy(),
    ]);
}
