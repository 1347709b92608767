//! Stencil-key cost over a real corpus: parses every `.clif` file under a
//! directory once, then keys every function `KILN_KEY_ITERS` times (default
//! 20) with one reused `StencilKeyer`, as the compile layer does.
//!
//! It lives in `kiln-reader` because it needs the parser, and this crate is
//! the smallest one that has it (kiln-ir cannot depend on the reader).
//!
//! ```text
//! cargo bench -p kiln-reader --bench key_corpus [-- DIR]
//! ```
//!
//! `DIR` defaults to `../shared/clif/wasm-corpus/sql-wasm`. The printed
//! `fingerprint` is the SHA-256 of all keys in order: it changes exactly
//! when some key changes, which makes it a quick check that a refactoring
//! of the encoder kept the encoding. For instruction counts, run the binary
//! under `valgrind --tool=callgrind` with `KILN_KEY_ITERS=1` and read the
//! inclusive cost of `key_all` (it is never inlined for that reason).

use kiln_ir::key::{KeyTarget, StencilKey, StencilKeyer};
use kiln_ir::Function;
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn clif_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            clif_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "clif") {
            out.push(p);
        }
    }
}

/// Keys every function once, writing the keys into `out`.
#[inline(never)]
fn key_all(
    keyer: &mut StencilKeyer,
    funcs: &[Function],
    target: &KeyTarget,
    out: &mut Vec<StencilKey>,
) {
    out.clear();
    for f in funcs {
        out.push(keyer.key(black_box(&f.stencil), target));
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the first other argument is the dir.
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clif/wasm-corpus/sql-wasm")
        });
    let iters: usize = std::env::var("KILN_KEY_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut files = Vec::new();
    clif_files(&dir, &mut files);
    let mut funcs = Vec::new();
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if let Ok(file) = kiln_reader::parse_test(&text, &path.display().to_string()) {
            funcs.extend(file.functions.into_iter().map(|pf| pf.func));
        }
    }
    if funcs.is_empty() {
        eprintln!("no functions under {}: nothing to measure", dir.display());
        return;
    }
    let insts: usize = funcs
        .iter()
        .map(|f| {
            f.layout
                .blocks()
                .map(|b| f.layout.block_insts(b).count())
                .sum::<usize>()
        })
        .sum();
    // Flags of the size the x86-64 backend passes.
    let target = KeyTarget {
        triple: "x86_64-unknown-linux-gnu",
        flags: &[0x5a; 24],
    };
    let mut keyer = StencilKeyer::new();
    let encodings: Vec<Vec<u8>> = funcs
        .iter()
        .map(|f| keyer.encoding(&f.stencil, &target))
        .collect();
    let encoded: usize = encodings.iter().map(Vec::len).sum();
    let mut keys = Vec::with_capacity(funcs.len());
    let mut best = f64::MAX;
    let mut total = 0.0;
    for _ in 0..iters {
        let t = Instant::now();
        key_all(&mut keyer, &funcs, &target, &mut keys);
        let dt = t.elapsed().as_secs_f64();
        best = best.min(dt);
        total += dt;
    }
    // The floor set by SHA-256 alone: hashing the finished encodings.
    let mut sha_best = f64::MAX;
    for _ in 0..iters.clamp(1, 5) {
        let t = Instant::now();
        for e in &encodings {
            black_box(Sha256::digest(black_box(e)));
        }
        sha_best = sha_best.min(t.elapsed().as_secs_f64());
    }
    let mut fp = Sha256::new();
    for k in &keys {
        fp.update(k.0);
    }
    let fp: [u8; 32] = fp.finalize().into();
    let n = funcs.len() as f64;
    println!(
        "key corpus: {} functions, {:.0} insts/fn, {:.0} bytes hashed/fn; best {:.2} us/key, mean {:.2} us/key over {iters} passes; sha256 of the encodings alone {:.2} us/key",
        funcs.len(),
        insts as f64 / n,
        encoded as f64 / n,
        best / n * 1e6,
        total / iters.max(1) as f64 / n * 1e6,
        sha_best / n * 1e6,
    );
    println!(
        "fingerprint {}",
        fp.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
}
