use kiln_difftest::fuzz::{run, Options};
use kiln_difftest::Checker;
use std::time::Duration;

#[test]
#[ignore]
fn probe() {
    let checker = Checker::host_default().unwrap();
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let stats = run(
        &checker,
        &Options {
            seed,
            time_limit: Duration::from_secs(600),
            max_programs: Some(n),
            settings: vec![],
            out_dir: None,
            max_failures: 0,
        },
        &mut |_| {},
    );
    println!("{}", stats.summary());
    println!("{}", stats.coverage.report());
    for f in stats.failures.iter().take(3) {
        println!("=== {}\n{}", f.failure.message, f.text);
    }
}

#[test]
#[ignore]
fn probe_unsupported() {
    use kiln_difftest::{fuzz::case_from_bytes, generator_config, Rng, Verdict};
    let checker = Checker::host_default().unwrap();
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let config = generator_config();
    let mut rng = Rng::new(7);
    let mut seen = std::collections::BTreeMap::<String, (usize, String)>::new();
    let mut fails = 0;
    for _ in 0..n {
        let len = 64 + rng.below(1500);
        let Some(case) = case_from_bytes(&rng.bytes(len), &config) else {
            continue;
        };
        match checker.check(&case) {
            Verdict::Unsupported(w) => {
                let size = case.num_insts();
                let e = seen.entry(w).or_insert((usize::MAX, String::new()));
                if size < e.0 {
                    let text: String = case.functions.iter().map(|f| f.to_string()).collect();
                    *e = (size, text);
                }
            }
            Verdict::Fail(f) => {
                fails += 1;
                if fails < 3 {
                    println!("FAIL {}: {}", f.kind, f.message);
                    for func in &case.functions {
                        println!("{func}");
                    }
                }
            }
            _ => {}
        }
    }
    for (w, (_, text)) in &seen {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(w.split('.').next().unwrap()))
            .collect();
        println!("== {w}: {lines:?}");
    }
    println!("fails {fails}");
}
