//! The seeded fuzzing loop of `kiln fuzz`, and the one-input check the
//! `differential` cargo-fuzz target runs.

use crate::case::{self, Case};
use crate::check::{Checker, Failure, Verdict};
use crate::coverage::Coverage;
use crate::rng::Rng;
use crate::testfile;
use kiln_codegen::settings::IsaFlags;
use kiln_fuzzgen::{generate_program, Config};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Argument vectors per generated function.
pub const VECTORS: usize = 6;

/// Builds the case for fuzzer bytes (the argument vectors are seeded by
/// the bytes too, so one input always means one case).
pub fn case_from_bytes(bytes: &[u8], config: &Config) -> Option<Case> {
    let p = generate_program(bytes, config).ok()?;
    // FNV-1a of the input seeds the argument vectors.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    Some(case::from_program(&p, &mut Rng::new(h), VECTORS))
}

#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    pub time_limit: Duration,
    /// Stop after this many programs (if sooner than the time limit).
    pub max_programs: Option<u64>,
    /// Extra `set` lines for failure files (`name=value`).
    pub settings: Vec<String>,
    /// Where failure files go (none: not written).
    pub out_dir: Option<PathBuf>,
    /// Write at most this many failure files.
    pub max_failures: usize,
    /// Stop once this many failures were found.
    pub stop_after: Option<usize>,
    /// A watchdog: if one program takes longer than this (native code
    /// that never returns, say, where the interpreter finished), write it
    /// as a failure file (it is regenerated from the generator's state)
    /// and end the process with status 1.
    pub hang_seconds: Option<u64>,
}

/// What the watchdog sees of the loop.
#[derive(Default)]
struct Watch {
    /// The generator's state before the current program.
    state: AtomicU64,
    /// The current program's number.
    program: AtomicU64,
    /// Bumped once per program.
    beat: AtomicU64,
    done: AtomicBool,
}

/// Regenerates program `program` from the generator state before it and
/// writes it as a failure file; returns the file's path or text.
fn write_hang(
    opts: &Options,
    isa: &IsaFlags,
    config: &Config,
    state: u64,
    program: u64,
    limit: u64,
) -> String {
    let mut rng = Rng::new(state);
    let len = 64 + rng.below(1500);
    let bytes = rng.bytes(len);
    let Ok(p) = generate_program(&bytes, config) else {
        return "(the program could not be regenerated)".into();
    };
    let case = case::from_program(&p, &mut rng, VECTORS);
    let runs: Vec<_> = crate::check::expectations(&case, 2_000_000)
        .into_iter()
        .zip(&case.arg_sets)
        .filter_map(|(w, a)| Some((a.clone(), w?, None)))
        .collect();
    let header = format!(
        "Found by `kiln fuzz --seed {}` (program {program}): compiling or running it took          longer than {limit} s (the interpreter finishes every run line below).",
        opts.seed
    );
    let opt = kiln_codegen::settings::OptLevel::None;
    let text = testfile::write_case_for(isa, &case, opt, &opts.settings, &header, &runs);
    if let Some(dir) = &opts.out_dir {
        let path = dir.join(format!("fuzz-{:x}-{program}-hang.clif", opts.seed));
        if std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&path, &text))
            .is_ok()
        {
            return path.display().to_string();
        }
    }
    text
}

/// A failure found, with its test file.
#[derive(Clone, Debug)]
pub struct Found {
    pub program: u64,
    pub failure: Failure,
    pub text: String,
    pub path: Option<PathBuf>,
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Programs (cases) generated and checked.
    pub programs: u64,
    /// Functions in them.
    pub functions: u64,
    pub agree: u64,
    pub vectors: u64,
    pub native_calls: u64,
    pub traps: u64,
    /// `Unsupported` reasons and how often.
    pub unsupported: BTreeMap<String, u64>,
    pub no_verdict: u64,
    pub failures: Vec<Found>,
    pub coverage: Coverage,
    pub elapsed: Duration,
}

impl Stats {
    pub fn programs_per_second(&self) -> f64 {
        self.programs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A summary of several lines (no coverage).
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "{} programs ({} functions) in {:.1} s: {:.0} programs/s, {:.0} functions/s, {:.0} native calls/s\n\
             {} agree ({} argument vectors, {} native calls, {} trapped), {} without an interpreter verdict, {} unsupported, {} failures\n",
            self.programs,
            self.functions,
            secs,
            self.programs as f64 / secs,
            self.functions as f64 / secs,
            self.native_calls as f64 / secs,
            self.agree,
            self.vectors,
            self.native_calls,
            self.traps,
            self.no_verdict,
            self.unsupported.values().sum::<u64>(),
            self.failures.len()
        );
        for (what, n) in &self.unsupported {
            s.push_str(&format!("  unsupported {what}: {n}\n"));
        }
        s
    }
}

/// Generates programs from `opts.seed` until the time or program limit
/// and checks each with `checker`. `progress` is called about once a
/// second.
pub fn run(checker: &Checker, opts: &Options, progress: &mut dyn FnMut(&Stats)) -> Stats {
    let config = crate::generator_config_for(checker.arch);
    let mut rng = Rng::new(opts.seed);
    let mut stats = Stats::default();
    let start = Instant::now();
    let mut last = start;
    let mut written = 0;
    let watch = Arc::new(Watch::default());
    if let Some(limit) = opts.hang_seconds {
        let w = Arc::clone(&watch);
        let o = opts.clone();
        let c = config.clone();
        let isa = checker.isa_flags.clone();
        std::thread::spawn(move || {
            let (mut seen, mut still) = (u64::MAX, 0);
            while !w.done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let beat = w.beat.load(Ordering::Relaxed);
                if beat != seen {
                    (seen, still) = (beat, 0);
                    continue;
                }
                still += 1;
                if still >= limit && !w.done.load(Ordering::Relaxed) {
                    let program = w.program.load(Ordering::Relaxed);
                    let at = write_hang(
                        &o,
                        &isa,
                        &c,
                        w.state.load(Ordering::Relaxed),
                        program,
                        limit,
                    );
                    eprintln!(
                        "kiln fuzz: program {program} did not finish in {limit} s (a hang in                          native code or the compiler); written to {at}"
                    );
                    std::process::exit(1);
                }
            }
        });
    }
    loop {
        stats.elapsed = start.elapsed();
        if stats.elapsed >= opts.time_limit
            || opts.max_programs.is_some_and(|m| stats.programs >= m)
            || opts.stop_after.is_some_and(|m| stats.failures.len() >= m)
        {
            break;
        }
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            progress(&stats);
        }
        // A batch of programs (one under the host, many to one qemu run
        // for aarch64 elsewhere), generated within the limits.
        let mut batch: Vec<(u64, Case)> = Vec::new();
        watch.state.store(rng.state(), Ordering::Relaxed);
        watch.program.store(stats.programs + 1, Ordering::Relaxed);
        watch.beat.fetch_add(1, Ordering::Relaxed);
        while batch.len() < checker.batch_size()
            && opts.max_programs.is_none_or(|m| stats.programs < m)
        {
            if !batch.is_empty() && start.elapsed() >= opts.time_limit {
                break;
            }
            let len = 64 + rng.below(1500);
            let bytes = rng.bytes(len);
            let Ok(p) = generate_program(&bytes, &config) else {
                continue;
            };
            let case = case::from_program(&p, &mut rng, VECTORS);
            stats.programs += 1;
            stats.functions += case.functions.len() as u64;
            for f in &case.functions {
                stats.coverage.add_function(f);
            }
            batch.push((stats.programs, case));
        }
        let cases: Vec<Case> = batch.iter().map(|(_, c)| c.clone()).collect();
        let verdicts = checker.check_many(&cases);
        for ((program, case), verdict) in batch.iter().zip(verdicts) {
            match verdict {
                Verdict::Agree {
                    vectors,
                    native_calls,
                    traps,
                } => {
                    stats.agree += 1;
                    stats.vectors += vectors as u64;
                    stats.native_calls += native_calls as u64;
                    stats.traps += traps as u64;
                }
                Verdict::Unsupported(what) => *stats.unsupported.entry(what).or_default() += 1,
                Verdict::NoVerdict(_) => stats.no_verdict += 1,
                Verdict::Fail(failure) => {
                    let header = format!(
                        "Found by `kiln fuzz --seed {}` (program {program}).",
                        opts.seed
                    );
                    let text = testfile::write_failure_for(
                        &checker.isa_flags,
                        case,
                        &failure,
                        &opts.settings,
                        &header,
                    );
                    let mut path = None;
                    if let Some(dir) = &opts.out_dir {
                        if written < opts.max_failures {
                            let p = dir.join(format!("fuzz-{:x}-{program}.clif", opts.seed));
                            if std::fs::create_dir_all(dir)
                                .and_then(|_| std::fs::write(&p, &text))
                                .is_ok()
                            {
                                written += 1;
                                path = Some(p);
                            }
                        }
                    }
                    stats.failures.push(Found {
                        program: *program,
                        failure,
                        text,
                        path,
                    });
                }
            }
        }
    }
    watch.done.store(true, Ordering::Relaxed);
    stats.elapsed = start.elapsed();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_codegen::settings::Arch;

    /// The watchdog's report regenerates the program the loop was on: the
    /// same generator state gives the same case, written as a test file
    /// with run lines.
    #[test]
    fn a_hang_report_regenerates_the_program() {
        let dir = std::env::temp_dir().join(format!("kiln-hang-{}", std::process::id()));
        let opts = Options {
            seed: 9,
            time_limit: Duration::from_secs(1),
            max_programs: None,
            settings: vec!["opt_level=none".into()],
            out_dir: Some(dir.clone()),
            max_failures: 1,
            stop_after: None,
            hang_seconds: Some(60),
        };
        let config = crate::generator_config();
        let at = write_hang(
            &opts,
            &IsaFlags::baseline(Arch::X86_64),
            &config,
            12345,
            7,
            60,
        );
        assert!(at.ends_with("fuzz-9-7-hang.clif"), "{at}");
        let text = std::fs::read_to_string(&at).unwrap();
        assert!(text.contains("longer than 60 s"));
        let file = kiln_reader::parse_test(&text, "hang").unwrap();
        let entry = file.functions.last().unwrap();
        assert!(!entry.run_directives.is_empty());
        // Same state, same text.
        assert_eq!(
            write_hang(
                &opts,
                &IsaFlags::baseline(Arch::X86_64),
                &config,
                12345,
                7,
                60
            ),
            at
        );
        assert_eq!(std::fs::read_to_string(&at).unwrap(), text);
        let _ = std::fs::remove_dir_all(dir);
    }
}
