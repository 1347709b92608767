//! The verifier and the stencil key never panic on anything the reader
//! accepts; a function that verifies keeps its key when renamed and through
//! a faithful print/parse round trip (`kiln_difftest::targets::verifier`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kiln_difftest::targets::verifier(data));
