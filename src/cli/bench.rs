//! `kiln bench compile` and `kiln bench kernels`: the same work and the same
//! `RESULT` lines as `../shared/peer-bench`, so Kiln/Cranelift ratios are one
//! division.

use super::args::{BenchCompileArgs, BenchKernelsArgs};
use super::common::{
    apply_set_word, collect_files, inst_count, isa_for_file, load, load_with, on_big_stack,
    IsaConfig,
};
use super::run::show;
use kiln::cli::bench_cache::{fmt_dur, median};
use kiln::codegen::isa::builder::split_word;
use kiln::codegen::isa::{compile_function, TargetIsa};
use kiln::codegen::settings::{Arch, Flags, IsaFlags};
use kiln::filetests::run::{build_program, BuildOutcome};
use kiln::ir::Function;
use kiln::reader::{Comparison, RunCommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn fmt_rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.3} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.3} k", x / 1e3)
    } else {
        format!("{x:.1} ")
    }
}

/// `kiln bench compile`: compile throughput, measured like `peer-bench
/// compile`. Each function is compiled once (failures, code size), then
/// `--iters` timed iterations compile every function that succeeded
/// (only the compile call is timed). Settings: the file's `set` lines and
/// first `target` line for the architecture, then --opt (default speed)
/// and --set. The verifier is off unless --verify. Files whose target
/// lines do not name the architecture are skipped unless --all-files.
pub fn compile_main(a: &BenchCompileArgs) -> ExitCode {
    report(compile(a))
}

/// `kiln bench kernels`: JIT-compiles each kernel for the host (default:
/// ../shared/clif/kernels), checks its `; run:` lines, then times batches
/// of calls (median and minimum ns per call).
pub fn kernels_main(a: &BenchKernelsArgs) -> ExitCode {
    report(kernels(a))
}

fn report(r: Result<bool, String>) -> ExitCode {
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kiln bench: {e}");
            ExitCode::from(2)
        }
    }
}

struct CorpusFunc {
    file: usize,
    func: Function,
    insts: usize,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

fn compile(a: &BenchCompileArgs) -> Result<bool, String> {
    let arch = a.codegen.target.arch();
    let opt = a.codegen.opt.name().unwrap_or("speed").to_string();
    let iters = a.iters as usize;
    let verbose = a.verbose;
    let cfg = IsaConfig {
        arch,
        opt_level: Some(opt.clone()),
        extra_sets: a.codegen.set.sets.clone(),
        host_features: a.host_features,
        verify: Some(a.verify),
    };
    let paths = collect_files(&a.inputs.paths)?;

    // Load: parse (timed) and choose each file's ISA.
    let mut files: Vec<PathBuf> = Vec::new();
    let mut isas: Vec<Box<dyn TargetIsa>> = Vec::new();
    let mut funcs: Vec<CorpusFunc> = Vec::new();
    let mut skipped: Vec<(PathBuf, String)> = Vec::new();
    let mut parse_errors: Vec<(PathBuf, String)> = Vec::new();
    let (mut parse_time, mut bytes_read) = (Duration::ZERO, 0usize);
    for p in &paths {
        let t0 = Instant::now();
        let loaded = load_with(p, a.codegen.target.default_call_conv());
        parse_time += t0.elapsed();
        let (file, n) = match loaded {
            Ok(x) => x,
            Err(e) => {
                parse_errors.push((p.clone(), e));
                continue;
            }
        };
        bytes_read += n;
        if !a.all_files && !super::common::file_wants(&file, arch) {
            skipped.push((p.clone(), format!("no `target {}` line", arch.name())));
            continue;
        }
        let isa = match isa_for_file(&cfg, &file) {
            Ok(i) => i,
            Err(e) => {
                skipped.push((p.clone(), format!("ISA: {e}")));
                continue;
            }
        };
        let idx = files.len();
        files.push(p.clone());
        isas.push(isa);
        for f in file.functions {
            let insts = inst_count(&f.func);
            funcs.push(CorpusFunc {
                file: idx,
                func: f.func,
                insts,
            });
        }
    }

    // Progress on a terminal (stderr): the warm-up pass, then each timed
    // iteration; drawn between iterations, never inside a timer.
    let progress = super::progress::Progress::new("kiln bench compile", iters + 1);
    // Warm-up (untimed): which functions compile, and their code size.
    let mut ok = vec![false; funcs.len()];
    let (mut code_bytes, mut clif_insts) = (0usize, 0usize);
    let mut failures = Vec::new();
    for (i, cf) in funcs.iter().enumerate() {
        let isa = &*isas[cf.file];
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compile_function(isa, &cf.func).map(|c| c.code.len())
        }));
        let what = format!("{}: {}", files[cf.file].display(), cf.func.name);
        match r {
            Ok(Ok(size)) => {
                ok[i] = true;
                code_bytes += size;
                clif_insts += cf.insts;
            }
            Ok(Err(e)) => failures.push(format!("{what}: {e}")),
            Err(p) => failures.push(format!("{what}: panicked: {}", panic_message(&*p))),
        }
    }
    let nfuncs = ok.iter().filter(|x| **x).count();
    progress.tick(std::path::Path::new("warm-up"));

    // Timed iterations: only the compile call is inside the timer.
    let mut per_iter = Vec::with_capacity(iters);
    for _ in 0..iters {
        let mut total = Duration::ZERO;
        for (i, cf) in funcs.iter().enumerate() {
            if !ok[i] {
                continue;
            }
            let isa = &*isas[cf.file];
            let t0 = Instant::now();
            let r = compile_function(isa, &cf.func);
            total += t0.elapsed();
            std::hint::black_box(r.is_ok());
        }
        per_iter.push(total);
        progress.tick(std::path::Path::new("timed iteration"));
    }
    progress.finish();
    let min = per_iter.iter().min().copied().unwrap_or_default();
    let max = per_iter.iter().max().copied().unwrap_or_default();
    let med = median(&mut per_iter);
    let secs = med.as_secs_f64().max(1e-12);

    println!(
        "kiln bench compile: target {} (baseline + file target flags{}), opt_level={opt}, verifier {}",
        arch.name(),
        if cfg.host_features { ", host features" } else { "" },
        if a.verify { "on" } else { "off" }
    );
    println!(
        "files: {} used, {} skipped, {} parse errors; CLIF text {} bytes parsed in {}",
        files.len(),
        skipped.len(),
        parse_errors.len(),
        bytes_read,
        fmt_dur(parse_time)
    );
    println!(
        "functions: {nfuncs} compiled, {} failed to compile",
        failures.len()
    );
    println!("CLIF instructions (compiled functions): {clif_insts}");
    println!("machine code bytes: {code_bytes}");
    println!(
        "compile time per iteration: median {} (min {}, max {}) over {iters} iterations",
        fmt_dur(med),
        fmt_dur(min),
        fmt_dur(max)
    );
    println!(
        "throughput: {}functions/s, {}CLIF instructions/s, {}code bytes/s",
        fmt_rate(nfuncs as f64 / secs),
        fmt_rate(clif_insts as f64 / secs),
        fmt_rate(code_bytes as f64 / secs)
    );
    println!(
        "RESULT compile target={} opt={opt} files={} funcs={nfuncs} failed={} clif_insts={clif_insts} code_bytes={code_bytes} median_s={secs:.6} min_s={:.6} funcs_per_s={:.0} insts_per_s={:.0}",
        arch.name(),
        files.len(),
        failures.len(),
        min.as_secs_f64(),
        nfuncs as f64 / secs,
        clif_insts as f64 / secs
    );
    if verbose {
        for (p, why) in &skipped {
            println!("skipped {}: {why}", p.display());
        }
        for (p, e) in &parse_errors {
            println!("parse error {}: {e}", p.display());
        }
        for f in &failures {
            println!("compile error {f}");
        }
    } else if !failures.is_empty() || !parse_errors.is_empty() {
        println!("(use -v to list skipped files, parse and compile errors)");
    }
    Ok(true)
}

fn default_kernel_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/clif/kernels")
}

fn kernels(a: &BenchKernelsArgs) -> Result<bool, String> {
    let opt = a.opt.name().unwrap_or("speed").to_string();
    let runs = a.runs as usize;
    let min_batch_ms = a.min_batch_ms;
    let min_batch = Duration::from_secs_f64(min_batch_ms / 1e3);
    let inputs = if a.paths.is_empty() {
        vec![default_kernel_dir().to_string_lossy().to_string()]
    } else {
        a.paths.clone()
    };
    let paths = collect_files(&inputs)?;
    let sets = a.set.sets.clone();
    // `--set opt_level=L` wins over --opt (it comes last): the level the
    // RESULT lines name is the one the code is compiled at.
    let mut opt = opt;
    for w in sets.iter().filter(|w| split_word(w).0 == "opt_level") {
        let v = split_word(w).1;
        Flags::default()
            .set("opt_level", v)
            .map_err(|e| format!("--set {w}: {e}"))?;
        opt = v.unwrap_or_default().to_string();
    }
    if let Some(t) = &a.target.target {
        if Arch::host() != Some(t.arch) {
            a.target
                .linux_only("bench kernels runs Linux-convention code under qemu")?;
            let arch = t.arch;
            // A word no setting and no flag of the target knows is refused
            // before anything runs (exit status 2).
            kernel_sets(&sets, &mut Flags::default(), &mut IsaFlags::baseline(arch))?;
            return on_big_stack(move || check_kernels_untimed(&paths, &opt, &sets, arch))?;
        }
    }
    let host = Arch::host().ok_or("this host is not a Kiln target")?;
    kernel_sets(&sets, &mut Flags::default(), &mut host_isa_flags(host))?;
    on_big_stack(move || run_kernels(&paths, &opt, &sets, runs.max(1), min_batch))?
}

/// The host's ISA features (the baseline where they cannot be read).
fn host_isa_flags(host: Arch) -> IsaFlags {
    IsaFlags::host().unwrap_or_else(|| IsaFlags::baseline(host))
}

/// The `--set` words for the header line (empty without any).
fn shown_sets(sets: &[String]) -> String {
    sets.iter().map(|w| format!(", --set {w}")).collect()
}

/// Applies the `--set` words over a kernel's flags and ISA flags: each is
/// a shared setting, else an ISA flag of the target ([`apply_set_word`],
/// as `kiln compile --set` does); a name that is neither is an error
/// naming it.
fn kernel_sets(sets: &[String], flags: &mut Flags, isa: &mut IsaFlags) -> Result<(), String> {
    for w in sets {
        apply_set_word(flags, isa, w)?;
    }
    Ok(())
}

/// `bench kernels --target T` for a target this host cannot run: each
/// kernel file is compiled for T and its `; run:` lines are checked where
/// T's code runs (under qemu, one link and one run per file, through the
/// filetest runner). Nothing is timed: an emulator's clock says nothing
/// about the code.
fn check_kernels_untimed(
    paths: &[PathBuf],
    opt: &str,
    sets: &[String],
    arch: Arch,
) -> Result<bool, String> {
    println!(
        "kiln bench kernels: target {} (baseline features), opt_level={opt}{}, checked under qemu: \
         correctness only, no timings (an emulator's timings mean nothing)",
        arch.name(),
        shown_sets(sets)
    );
    let (mut rows, mut failures) = (0usize, 0usize);
    for p in paths {
        let file = match load(p) {
            Ok((f, _)) => f,
            Err(e) => {
                println!("{}: parse error: {e}", p.display());
                failures += 1;
                continue;
            }
        };
        let mut flags = match kernel_flags(&file, opt) {
            Ok(f) => f,
            Err(e) => {
                println!("{}: {e}", p.display());
                failures += 1;
                continue;
            }
        };
        let mut isa_flags = IsaFlags::baseline(arch);
        kernel_sets(sets, &mut flags, &mut isa_flags)?;
        let isa = kiln::codegen::isa::lookup(flags, isa_flags)
            .map_err(|e| format!("{}: ISA: {e}", p.display()))?;
        let nrun = file
            .functions
            .iter()
            .flat_map(|f| &f.run_directives)
            .filter(|d| matches!(d.command, RunCommand::Run { .. }))
            .count();
        let kname = p
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        rows += nrun;
        let verdict = match kiln::filetests::run::run_on_isa(&file, &*isa) {
            Ok(()) => "ok".to_string(),
            Err(BuildOutcome::Skip(why)) => format!("fail (not run: {why})"),
            Err(BuildOutcome::Fail(m)) => format!("fail ({})", m.join("; ")),
        };
        if verdict != "ok" {
            failures += nrun.max(1);
        }
        println!("{kname:<14} {nrun:>3} run lines  {verdict}");
        println!(
            "RESULT kernel name={kname} target={} opt={opt} run_lines={nrun} check={}",
            arch.name(),
            if verdict == "ok" { "ok" } else { "fail" }
        );
    }
    println!(
        "{} passed, {} failed (run lines, target {}, untimed)",
        rows.saturating_sub(failures.min(rows)),
        failures,
        arch.name()
    );
    Ok(failures == 0)
}

fn run_kernels(
    paths: &[PathBuf],
    opt: &str,
    sets: &[String],
    runs: usize,
    min_batch: Duration,
) -> Result<bool, String> {
    let host = Arch::host().ok_or("this host is not a Kiln target")?;
    println!(
        "kiln bench kernels: host {} (host features), opt_level={opt}{}",
        host.name(),
        shown_sets(sets)
    );
    println!(
        "{:<14} {:<30} {:>22} {:>5} {:>14} {:>14} {:>10} {:>10}",
        "kernel",
        "call",
        "result",
        "check",
        "ns/call (med)",
        "ns/call (min)",
        "calls/bat",
        "jit time"
    );
    let (mut rows, mut failures) = (0usize, 0usize);
    for p in paths {
        let file = match load(p) {
            Ok((f, _)) => f,
            Err(e) => {
                println!("{}: parse error: {e}", p.display());
                failures += 1;
                continue;
            }
        };
        let mut flags = match kernel_flags(&file, opt) {
            Ok(f) => f,
            Err(e) => {
                println!("{}: {e}", p.display());
                failures += 1;
                continue;
            }
        };
        flags.enable_verifier = false;
        let mut isa_flags = host_isa_flags(host);
        kernel_sets(sets, &mut flags, &mut isa_flags)?;
        let isa = match kiln::codegen::isa::lookup(flags, isa_flags) {
            Ok(i) => i,
            Err(e) => {
                println!("{}: ISA: {e}", p.display());
                failures += 1;
                continue;
            }
        };
        let t0 = Instant::now();
        let nrun = file
            .functions
            .iter()
            .flat_map(|f| &f.run_directives)
            .filter(|d| matches!(d.command, RunCommand::Run { .. }))
            .count();
        let prog = match build_program(&file, &*isa) {
            Ok(p) => p,
            Err(BuildOutcome::Skip(why)) => {
                println!("{}: not run (counted as failed): {why}", p.display());
                rows += nrun;
                failures += nrun.max(1);
                continue;
            }
            Err(BuildOutcome::Fail(m)) => {
                println!("{}: JIT error: {}", p.display(), m.join("; "));
                rows += nrun;
                failures += nrun.max(1);
                continue;
            }
        };
        let jit_time = t0.elapsed();
        let kname = p
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        for f in &file.functions {
            for d in &f.run_directives {
                let RunCommand::Run {
                    func,
                    args,
                    comparison,
                    expected,
                } = &d.command
                else {
                    continue;
                };
                let call = format!(
                    "%{func}({})",
                    args.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                rows += 1;
                // A directive runs the function it follows.
                let entry = match prog.entry(&f.func.name) {
                    Ok(e) => e,
                    Err(e) => {
                        println!("{kname} {call}: {e}");
                        failures += 1;
                        continue;
                    }
                };
                let template = entry.make_slots(args).map_err(|e| e.to_string())?;
                let mut slots = template.clone();
                let result = entry
                    .call_slots(&mut slots)
                    .and_then(|()| entry.read_results(&slots));
                let (ok, shown) = match &result {
                    Ok(got) => {
                        let equal = got.len() == expected.len()
                            && got.iter().zip(expected).all(|(a, b)| a.bitwise_eq(b));
                        (equal == (*comparison == Comparison::Equal), show(got))
                    }
                    Err(e) => (false, e.to_string()),
                };
                if !ok || result.is_err() {
                    failures += 1;
                    println!("{kname:<14} {call:<30} {shown:>22} {:>5}", "FAIL");
                    println!(
                        "RESULT kernel name={kname} call={} opt={opt} ns_per_call=0 ns_min=0 check=fail",
                        call.replace(' ', "")
                    );
                    continue;
                }
                // Calibrate the batch size, then time `runs` batches.
                let mut reps: u64 = 1;
                loop {
                    let t = Instant::now();
                    entry
                        .call_slots_repeat(&mut slots, &template, reps)
                        .map_err(|e| format!("{kname} {call}: timed call failed: {e}"))?;
                    let el = t.elapsed();
                    if el >= min_batch || reps >= 1 << 30 {
                        break;
                    }
                    let scale = if el.is_zero() {
                        100.0
                    } else {
                        (min_batch.as_secs_f64() / el.as_secs_f64() * 1.2).min(100.0)
                    };
                    reps = ((reps as f64) * scale).ceil().max(reps as f64 + 1.0) as u64;
                }
                let mut times = Vec::with_capacity(runs);
                for _ in 0..runs {
                    // One protected batch (the fault-protection setup is
                    // paid once per batch, as cranelift-jit's harness pays
                    // none): the figure is the entry stub, the trampoline
                    // and the function.
                    let t = Instant::now();
                    entry
                        .call_slots_repeat(std::hint::black_box(&mut slots), &template, reps)
                        .map_err(|e| format!("{kname} {call}: timed call failed: {e}"))?;
                    times.push(t.elapsed());
                }
                let min_t = times.iter().min().copied().unwrap_or_default();
                let med = median(&mut times);
                let ns = med.as_secs_f64() * 1e9 / reps as f64;
                let ns_min = min_t.as_secs_f64() * 1e9 / reps as f64;
                println!(
                    "{kname:<14} {call:<30} {shown:>22} {:>5} {ns:>14.1} {ns_min:>14.1} {reps:>10} {:>10}",
                    "ok",
                    fmt_dur(jit_time)
                );
                println!(
                    "RESULT kernel name={kname} call={} opt={opt} ns_per_call={ns:.1} ns_min={ns_min:.1} check=ok",
                    call.replace(' ', "")
                );
            }
        }
    }
    println!(
        "{} passed, {} failed",
        rows.saturating_sub(failures.min(rows)),
        failures
    );
    Ok(failures == 0)
}

/// A kernel file's `set` lines, then `opt_level`: a setting Kiln does not
/// know or cannot take is an error naming it, never skipped.
fn kernel_flags(file: &kiln::reader::TestFile, opt: &str) -> Result<Flags, String> {
    let mut flags = Flags::default();
    for s in &file.settings {
        flags
            .set(&s.name, s.value.as_deref())
            .map_err(|e| format!("setting {}: {e}", s.name))?;
    }
    flags
        .set("opt_level", Some(opt))
        .map_err(|e| e.to_string())?;
    Ok(flags)
}
