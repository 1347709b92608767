//! `kiln fuzz` (seeded differential fuzzing, no libFuzzer) and
//! `kiln reduce` (shrink a failing test file); both live in
//! `kiln-difftest`, this is only argument handling and printing.

use super::common::Args;
use kiln::codegen::settings::{Arch, Flags, OptLevel};
use kiln_difftest::check::{opt_name, Checker};
use kiln_difftest::fuzz::{run, Options};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub const FUZZ_USAGE: &str = "\
kiln fuzz [--target x86_64] [--opt none|speed|speed_and_size|both] [--seconds N] [--seed S]
          [--programs N] [--stop-after N] [--set NAME=VALUE]... [--out DIR] [--coverage]
  Generates random programs (kiln-fuzzgen: every integer width, floats, every opcode Kiln
  lowers, calls, memory, atomics, traps) from the seed, runs each on several argument
  vectors in the interpreter and as native code (--opt both: at none and speed, the
  default) and compares results and trap codes bit for bit. Prints programs and native
  calls per second and opcode coverage (--coverage: the full table). Each failure is
  written to DIR (default fuzz-failures/) as a self-contained `test run` file that
  `kiln test` and `kiln reduce` take (--stop-after N: stop at the N-th failure). A
  program that takes over 60 s (native code that never returns) is written there too and
  ends the run. Exit status 1 if anything failed.
  --target aarch64 is rejected: Kiln has no aarch64 backend yet.";

pub const REDUCE_USAGE: &str = "\
kiln reduce [--out OUT] [--max-checks N] FILE
  Shrinks a failing test file while its failure reproduces (a verifier error, a compiler
  error or panic, or native code disagreeing with the interpreter on a `; run:` line):
  removes functions, instructions and blocks, replaces values with constants, turns
  branches into jumps and tail calls into returns. Prints the reduced file (or writes
  OUT) and a summary line on stderr. Exit status 1 if FILE does not fail.";

fn parse_opt(s: &str) -> Result<Vec<OptLevel>, String> {
    Ok(match s {
        "none" => vec![OptLevel::None],
        "speed" => vec![OptLevel::Speed],
        "speed_and_size" => vec![OptLevel::SpeedAndSize],
        "both" => vec![OptLevel::None, OptLevel::Speed],
        _ => {
            return Err(format!(
                "--opt {s}: expected none, speed, speed_and_size or both"
            ))
        }
    })
}

fn parse_num<T: std::str::FromStr>(args: &Args, name: &str, default: T) -> Result<T, String> {
    match args.get(name) {
        None => Ok(default),
        Some(v) => {
            let v = v.trim_start_matches("0x");
            let radix_hex = args.get(name).is_some_and(|s| s.starts_with("0x"));
            if radix_hex {
                u64::from_str_radix(v, 16)
                    .ok()
                    .and_then(|n| n.to_string().parse().ok())
            } else {
                v.parse().ok()
            }
            .ok_or_else(|| format!("--{name} {}: not a number", args.get(name).unwrap_or("")))
        }
    }
}

pub fn fuzz_main(raw: &[String]) -> ExitCode {
    let args = match Args::parse(
        raw,
        &[
            "target",
            "opt",
            "seconds",
            "seed",
            "programs",
            "stop-after",
            "set",
            "out",
        ],
        &["coverage", "help", "-h"],
    ) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kiln fuzz: {e}\n{FUZZ_USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.flag("help") || args.flag("-h") {
        println!("{FUZZ_USAGE}");
        return ExitCode::SUCCESS;
    }
    if let Some(p) = args.positional.first() {
        eprintln!("kiln fuzz: unexpected argument `{p}`\n{FUZZ_USAGE}");
        return ExitCode::from(2);
    }
    match fuzz(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kiln fuzz: {e}");
            ExitCode::from(2)
        }
    }
}

fn fuzz(args: &Args) -> Result<bool, String> {
    let target = args.get("target").unwrap_or("x86_64");
    let arch = Arch::parse(target).ok_or_else(|| format!("--target {target}: unknown target"))?;
    let opts = parse_opt(args.get("opt").unwrap_or("both"))?;
    let seconds: f64 = parse_num(args, "seconds", 10.0)?;
    let seed: u64 = parse_num(args, "seed", 1)?;
    let programs: Option<u64> = match args.get("programs") {
        Some(_) => Some(parse_num(args, "programs", 0)?),
        None => None,
    };
    let stop_after: Option<usize> = match args.get("stop-after") {
        Some(_) => Some(parse_num(args, "stop-after", 1)?),
        None => None,
    };
    let sets = args.get_all("set");
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
    let checker = Checker::new(arch, &flags, &opts)?;
    let out = PathBuf::from(args.get("out").unwrap_or("fuzz-failures"));
    let options = Options {
        seed,
        time_limit: Duration::from_secs_f64(seconds.max(0.0)),
        max_programs: programs,
        settings: sets.clone(),
        out_dir: Some(out.clone()),
        max_failures: 20,
        stop_after,
        hang_seconds: Some(60),
    };
    let levels: Vec<&str> = opts.iter().map(|o| opt_name(*o)).collect();
    eprintln!(
        "kiln fuzz: seed {seed:#x}, target {}, opt_level {}, {seconds} s{}",
        arch.name(),
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
    let expected = kiln_difftest::expected_opcodes();
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
    if args.flag("coverage") {
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

pub fn reduce_main(raw: &[String]) -> ExitCode {
    let args = match Args::parse(raw, &["max-checks", "out"], &["help", "-h"]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kiln reduce: {e}\n{REDUCE_USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.flag("help") || args.flag("-h") {
        println!("{REDUCE_USAGE}");
        return ExitCode::SUCCESS;
    }
    let [path] = &args.positional[..] else {
        eprintln!("kiln reduce: expected one FILE\n{REDUCE_USAGE}");
        return ExitCode::from(2);
    };
    let max_checks: usize = match parse_num(&args, "max-checks", 20_000) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("kiln reduce: {e}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kiln reduce: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    match kiln_difftest::reduce::reduce(&text, path, max_checks) {
        Ok(r) => {
            let out = args.get("out");
            match out {
                Some(o) => {
                    if let Err(e) = std::fs::write(o, &r.text) {
                        eprintln!("kiln reduce: {o}: {e}");
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
