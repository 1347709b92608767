//! Generated-code speed on the kernels (`../shared/clif/kernels`, host
//! features, opt speed, 11 runs or `$KILN_BENCH_ITERS`): `kiln bench kernels`'s `RESULT kernel` lines.
//! `cargo bench --bench kernels`.

mod common;

fn main() {
    let Some(dir) = common::corpus("kernels") else {
        return;
    };
    let runs = common::iters(11);
    common::kiln(&["bench", "kernels", "--runs", &runs, &dir.to_string_lossy()]);
}
