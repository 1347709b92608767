//! `kiln fuzz` (seeded differential fuzzing, no libFuzzer) and
//! `kiln reduce` (shrink a failing test file); both live in
//! `kiln-difftest`, this is only argument handling and printing.

use super::args::{FuzzArgs, FuzzOpt, ReduceArgs};
use kiln::codegen::settings::{Arch, Flags, IsaFlags, OptLevel};
use kiln_difftest::check::{opt_name, Checker};
use kiln_difftest::fuzz::{run, Options};
use std::process::ExitCode;
use std::time::Duration;

fn levels(o: Option<FuzzOpt>) -> Vec<OptLevel> {
    match o.unwrap_or(FuzzOpt::Both) {
        FuzzOpt::None => vec![OptLevel::None],
        FuzzOpt::Speed => vec![OptLevel::Speed],
        FuzzOpt::SpeedAndSize => vec![OptLevel::SpeedAndSize],
        FuzzOpt::Both => vec![OptLevel::None, OptLevel::Speed],
    }
}

/// `kiln fuzz`: random programs (kiln-fuzzgen: every integer width,
/// floats, every opcode Kiln lowers, calls, memory, atomics, traps) from
/// the seed, each run on several argument vectors in the interpreter and
/// as native code (at none and speed by default), results and trap codes
/// compared bit for bit. Each failure is written to `--out` as a
/// self-contained `test run` file; a program that takes over 60 s is
/// written there too and ends the run. Exit status 1 if anything failed.
/// `--target aarch64` runs the native side under qemu, many programs to
/// one object and one qemu run (`kiln_difftest`, `filetests::qemu`).
pub fn fuzz_main(a: &FuzzArgs) -> ExitCode {
    match fuzz(a) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kiln fuzz: {e}");
            ExitCode::from(2)
        }
    }
}

fn fuzz(a: &FuzzArgs) -> Result<bool, String> {
    a.target
        .linux_only("the generated programs use the Linux conventions")?;
    let arch = a.target.arch();
    let opts = levels(a.opt);
    let seconds = a.seconds;
    let seed = a.seed;
    let programs = a.programs;
    let stop_after = a.stop_after.map(|n| n as usize);
    let sets = a.set.sets.clone();
    let mut flags = Flags::default();
    for w in &sets {
        let (n, v) = match w.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (w.as_str(), None),
        };
        if n == "opt_level" {
            return Err(format!("--set {w}: use --opt"));
        }
        flags.set(n, v).map_err(|e| format!("--set {w}: {e}"))?;
    }
    let checker = if a.host_features {
        if Arch::host() != Some(arch) {
            return Err(format!(
                "--host-features: the target {} is not this machine",
                arch.name()
            ));
        }
        let isa = IsaFlags::host().ok_or("--host-features: this host is not a Kiln target")?;
        Checker::with_isa_flags(&flags, &opts, isa)?
    } else {
        Checker::new(arch, &flags, &opts)?
    };
    let out = a.out.clone();
    let options = Options {
        seed,
        time_limit: Duration::from_secs_f64(seconds.max(0.0)),
        max_programs: programs,
        settings: sets.clone(),
        out_dir: Some(out.clone()),
        max_failures: 20,
        stop_after,
        // Under qemu a batch of programs is one beat of the watchdog.
        hang_seconds: Some(if checker.qemu { 240 } else { 60 }),
    };
    let levels: Vec<&str> = opts.iter().map(|o| opt_name(*o)).collect();
    eprintln!(
        "kiln fuzz: seed {seed:#x}, target {}, opt_level {}, {seconds} s{}",
        checker.isa_flags,
        levels.join(" and "),
        if sets.is_empty() {
            String::new()
        } else {
            format!(", set {}", sets.join(" "))
        }
    );
    let mut ticks = 0u64;
    let stats = run(&checker, &options, &mut |s| {
        ticks += 1;
        if ticks.is_multiple_of(10) {
            eprintln!(
                "  {:.0} s: {} programs, {} failures",
                s.elapsed.as_secs_f64(),
                s.programs,
                s.failures.len()
            );
        }
    });
    print!("{}", stats.summary());
    let expected = kiln_difftest::expected_opcodes_for(arch);
    let missing = stats.coverage.missing(&expected);
    println!(
        "opcode coverage: {} of {} supported opcodes generated{}",
        expected.len() - missing.len(),
        expected.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(
                "; never: {}",
                missing
                    .iter()
                    .map(|o| o.name())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    );
    if a.coverage {
        print!("{}", stats.coverage.report());
    }
    for f in &stats.failures {
        match &f.path {
            Some(p) => println!(
                "FAIL program {} ({}, opt_level={}): {}\n  written to {}",
                f.program,
                f.failure.kind,
                opt_name(f.failure.opt),
                f.failure.message.lines().next().unwrap_or(""),
                p.display()
            ),
            None => println!(
                "FAIL program {} ({}): {}",
                f.program,
                f.failure.kind,
                f.failure.message.lines().next().unwrap_or("")
            ),
        }
    }
    // The generator makes only what the backend lowers (it leaves out
    // KNOWN_UNSUPPORTED), so an `Unsupported` is a regression, not a skip.
    let unsupported: u64 = stats.unsupported.values().sum();
    if unsupported > 0 {
        println!(
            "FAIL {unsupported} programs hit an Unsupported outside kiln_difftest::KNOWN_UNSUPPORTED"
        );
    }
    Ok(stats.failures.is_empty() && unsupported == 0)
}

/// `kiln reduce`: shrinks a failing test file while its failure
/// reproduces (a verifier error, a compiler error or panic, or native code
/// disagreeing with the interpreter on a `; run:` line). Prints the
/// reduced file (or writes `--out`) and a summary line on stderr. Exit
/// status 1 if the file does not fail.
pub fn reduce_main(a: &ReduceArgs) -> ExitCode {
    let path = &a.file;
    let max_checks = a.max_checks as usize;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kiln reduce: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    match kiln_difftest::reduce::reduce(&text, path, max_checks) {
        Ok(r) => {
            match &a.out {
                Some(o) => {
                    if let Err(e) = std::fs::write(o, &r.text) {
                        eprintln!("kiln reduce: {}: {e}", o.display());
                        return ExitCode::from(2);
                    }
                }
                None => print!("{}", r.text),
            }
            eprintln!(
                "kiln reduce: {}: {} -> {} instructions, still a {} ({} candidates tried)",
                path, r.insts_before, r.insts_after, r.kind, r.checks
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kiln reduce: {path}: {e}");
            ExitCode::from(1)
        }
    }
}
