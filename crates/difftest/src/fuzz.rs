//! The seeded fuzzing loop of `kiln fuzz`, and the one-input check the
//! `differential` cargo-fuzz target runs.

use crate::case::{self, Case};
use crate::check::{Checker, Failure, Verdict};
use crate::coverage::Coverage;
use crate::rng::Rng;
use crate::testfile;
use kiln_fuzzgen::{generate_program, Config};
use std::collections::BTreeMap;
use std::path::PathBuf;
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
    let config = crate::generator_config();
    let mut rng = Rng::new(opts.seed);
    let mut stats = Stats::default();
    let start = Instant::now();
    let mut last = start;
    let mut written = 0;
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
        match checker.check(&case) {
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
                    "Found by `kiln fuzz --seed {}` (program {}).",
                    opts.seed, stats.programs
                );
                let text = testfile::write_failure(&case, &failure, &opts.settings, &header);
                let mut path = None;
                if let Some(dir) = &opts.out_dir {
                    if written < opts.max_failures {
                        let p = dir.join(format!("fuzz-{:x}-{}.clif", opts.seed, stats.programs));
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
                    program: stats.programs,
                    failure,
                    text,
                    path,
                });
            }
        }
    }
    stats.elapsed = start.elapsed();
    stats
}
