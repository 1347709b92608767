//! differential: the bytes generate a module of functions
//! (`kiln_fuzzgen::Config::everything`, minus what the backend does not
//! lower) and argument vectors with edge values; native code at
//! `opt_level=none` and `speed` must agree with the interpreter bit for
//! bit, traps included. A disagreement panics printing the case as a
//! runnable `test run` file (`kiln_difftest::targets::differential`).
#![no_main]

use kiln_difftest::Checker;
use libfuzzer_sys::fuzz_target;

thread_local! {
    static CHECKER: Checker = Checker::host_default().expect("an x86-64 host");
}

fuzz_target!(|data: &[u8]| {
    CHECKER.with(|c| kiln_difftest::targets::differential(data, c));
});
