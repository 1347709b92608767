//! The reader never panics; whatever parses prints to text that parses
//! (`kiln_difftest::targets::reader`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kiln_difftest::targets::reader(data));
