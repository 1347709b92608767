//! The hit path's pieces on a synthetic wasm-sized result: payload encode
//! and decode, `apply_params`, and lookup + decode + `apply_params`
//! through a `MemoryStore`.
//!
//! Run: `cargo bench -p kiln-cache --bench payload`
//! The shape (2 KiB of code, 300 srcloc ranges, 24 relocations, 8 traps, 12
//! call sites) is about that of a larger sql-wasm function.

use kiln_cache::compile::{decode_payload, encode_payload};
use kiln_cache::{lookup, store_entry, CacheKey, MemoryStore, COMPILER_VERSION};
use kiln_codegen::compiled::{CompiledCode, Relocation, SrcLocRange, Stencil};
use kiln_codegen::machinst::buffer::{MachCallSite, MachTrap, Reloc, RelocTarget};
use kiln_ir::{
    FunctionParameters, RelSourceLoc, SourceLoc, TrapCode, UserExternalName, UserExternalNameRef,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn sample() -> CompiledCode<Stencil> {
    let code: Vec<u8> = (0..2048u32).map(|i| (i * 7) as u8).collect();
    CompiledCode {
        relocs: (0..24)
            .map(|i| Relocation {
                offset: 40 + i * 80,
                kind: Reloc::X86CallPCRel4,
                target: RelocTarget::User(UserExternalNameRef::from_u32(i % 6)),
                addend: -4,
            })
            .collect(),
        traps: (0..8)
            .map(|i| MachTrap {
                offset: 100 + i * 200,
                code: TrapCode::HEAP_OUT_OF_BOUNDS,
            })
            .collect(),
        exception_sites: Vec::new(),
        call_sites: (0..12)
            .map(|i| MachCallSite {
                ret_addr: 45 + i * 160,
            })
            .collect(),
        srclocs: (0..300)
            .map(|i| SrcLocRange {
                start: i * 6,
                end: i * 6 + 6,
                loc: RelSourceLoc::from_bits(i * 3),
            })
            .collect(),
        testcase_names: Vec::new(),
        code,
        alignment: 16,
        frame_size: 64,
        unwind: Vec::new(),
        data_ranges: Vec::new(),
    }
}

fn measure(n: usize, mut op: impl FnMut()) -> Duration {
    for _ in 0..n / 10 {
        op();
    }
    let mut samples: Vec<Duration> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                op();
            }
            t.elapsed() / n as u32
        })
        .collect();
    samples.sort();
    samples[3]
}

fn main() {
    // KILN_BENCH_N scales the iteration counts (small values for callgrind).
    let n: usize = std::env::var("KILN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let code = sample();
    let payload = encode_payload(&code, true);
    let mut params = FunctionParameters::new();
    for i in 0..6 {
        params.ensure_user_func_name(UserExternalName::new(0, i));
    }
    params.set_base_srcloc(SourceLoc::new(1000));
    println!(
        "payload: {} bytes for {} bytes of code",
        payload.len(),
        code.code.len()
    );
    let t = measure(n, || {
        black_box(encode_payload(black_box(&code), true));
    });
    println!("encode_payload             {:>8.0} ns", t.as_nanos());
    let t = measure(n, || {
        black_box(decode_payload(black_box(&payload)));
    });
    println!("decode_payload             {:>8.0} ns", t.as_nanos());
    let t = measure(n, || {
        black_box(black_box(code.clone()).apply_params(&params).ok());
    });
    println!("clone + apply_params       {:>8.0} ns", t.as_nanos());
    let t = measure(n, || {
        black_box(black_box(code.clone()));
    });
    println!("clone alone                {:>8.0} ns", t.as_nanos());
    let store = MemoryStore::new();
    let key = CacheKey([7; 32]);
    store_entry(&store, &key, COMPILER_VERSION, &payload, None);
    let t = measure(n, || {
        let hit = lookup(&store, &key, COMPILER_VERSION).hit().unwrap();
        let (_, c) = decode_payload(hit.payload()).unwrap();
        black_box(c.apply_params(&params).ok());
    });
    println!(
        "lookup + decode + apply    {:>8.0} ns  (MemoryStore)",
        t.as_nanos()
    );
}
