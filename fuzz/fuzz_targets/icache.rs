//! icache: a reload from the cache equals a fresh compile; a
//! parameters-only change hits and names the new names; an instruction
//! change misses, on x86-64 and on the mock backend
//! (`kiln_difftest::targets::icache`). The last 32 bytes choose the
//! mutation, the rest the function.
#![no_main]

use kiln_codegen::isa::TargetIsa;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn x64() -> &'static dyn TargetIsa {
    static ISA: OnceLock<Box<dyn TargetIsa>> = OnceLock::new();
    &**ISA.get_or_init(kiln_difftest::targets::x64_isa)
}

fuzz_target!(|data: &[u8]| kiln_difftest::targets::icache(data, x64()));
