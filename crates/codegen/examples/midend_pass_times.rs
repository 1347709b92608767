//! Each mid-end pass's share of compile time at `opt_level=speed`: for
//! every `.clif` function in the given files and directories (frame pointers on,
//! verifier and regalloc checker off), the best of `--iters N` (default 3)
//! runs of each mid-end pass and of the backend (lowering, register
//! allocation, emission) on the optimized function. Parsing is excluded.
//!
//! `cargo run --release -p kiln-codegen --example midend_pass_times -- DIR...`
use kiln_codegen::isa;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "clif") {
                out.push(p);
            }
        }
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut iters = 3;
    if let Some(i) = args.iter().position(|a| a == "--iters") {
        iters = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(3);
        args.drain(i..(i + 2).min(args.len()));
    }
    let flags = Flags {
        preserve_frame_pointers: true,
        ..Flags::default()
    };
    let isa = isa::lookup(flags.clone(), IsaFlags::baseline(Arch::X86_64)).expect("isa");
    let opts = kiln_codegen::opt::midend_options(&Flags {
        opt_level: kiln_codegen::settings::OptLevel::Speed,
        ..flags
    })
    .expect("speed runs the mid-end");
    let mut funcs = Vec::new();
    for dir in &args {
        let mut paths = Vec::new();
        files(std::path::Path::new(dir), &mut paths);
        paths.sort();
        for p in paths {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            if let Ok(fs) = kiln_reader::parse_functions(&text) {
                funcs.extend(fs);
            }
        }
    }
    let mut best: BTreeMap<usize, (&'static str, Duration)> = BTreeMap::new();
    let mut backend_best = Duration::MAX;
    let (mut before, mut after) = (0usize, 0usize);
    for it in 0..iters {
        let mut passes: BTreeMap<usize, (&'static str, Duration)> = BTreeMap::new();
        let mut backend = Duration::ZERO;
        for f in &funcs {
            let (opt, stats) = kiln_midend::optimized(&f.stencil, &opts);
            for (i, (name, t)) in stats.times.iter().enumerate() {
                passes.entry(i).or_insert((name, Duration::ZERO)).1 += *t;
            }
            if it == 0 {
                let count = |s: &kiln_ir::FunctionStencil| -> usize {
                    s.layout
                        .blocks()
                        .map(|b| s.layout.block_insts(b).count())
                        .sum()
                };
                before += count(&f.stencil);
                after += count(&opt);
            }
            let t = Instant::now();
            let _ = isa.compile_stencil(&opt);
            backend += t.elapsed();
        }
        for (i, (name, t)) in passes {
            let e = best.entry(i).or_insert((name, Duration::MAX));
            e.1 = e.1.min(t);
        }
        backend_best = backend_best.min(backend);
    }
    let mid: Duration = best.values().map(|(_, t)| *t).sum();
    let total = mid + backend_best;
    println!(
        "{} functions, {before} CLIF instructions in, {after} out ({:.1}% removed)",
        funcs.len(),
        100.0 * (before - after.min(before)) as f64 / before.max(1) as f64
    );
    for (name, t) in best.values() {
        println!(
            "  {name:<10} {:>11.1} us  {:>5.1}%",
            t.as_secs_f64() * 1e6,
            100.0 * t.as_secs_f64() / total.as_secs_f64()
        );
    }
    println!(
        "  {:<10} {:>11.1} us  {:>5.1}%",
        "backend",
        backend_best.as_secs_f64() * 1e6,
        100.0 * backend_best.as_secs_f64() / total.as_secs_f64()
    );
    println!("  (best of {iters} runs each)");
}
