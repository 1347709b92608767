//! Compile-time measurement: compiles every `.clif` function under the
//! given directories for x86-64 (regalloc checker off, frame pointers on)
//! and prints the time per compiled function (parsing excluded).
use kiln_codegen::isa;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use std::time::{Duration, Instant};

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
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
    let flags = Flags {
        preserve_frame_pointers: true,
        ..Flags::default()
    };
    let isa = isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("isa");
    for dir in std::env::args().skip(1) {
        let mut paths = Vec::new();
        files(std::path::Path::new(&dir), &mut paths);
        paths.sort();
        let mut funcs = Vec::new();
        for p in &paths {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            if let Ok(t) = kiln_reader::parse_test(&text, &p.to_string_lossy()) {
                funcs.extend(t.functions.into_iter().map(|f| f.func));
            }
        }
        let (mut ok, mut insts, mut time, mut bytes) = (0usize, 0usize, Duration::ZERO, 0usize);
        for f in &funcs {
            let start = Instant::now();
            let r = isa.compile_stencil(&f.stencil);
            let el = start.elapsed();
            if let Ok(c) = r {
                ok += 1;
                time += el;
                bytes += c.code.len();
                insts += f.stencil.dfg.num_insts();
            }
        }
        println!(
            "{dir}: {} functions, {ok} compiled in {time:?}: {:.1} us/function, {:.0} ns/IR inst, {bytes} code bytes",
            funcs.len(),
            time.as_secs_f64() * 1e6 / ok.max(1) as f64,
            time.as_secs_f64() * 1e9 / insts.max(1) as f64
        );
    }
}
