//! Randomized robustness: thousands of mutated CLIF texts (byte flips,
//! truncations, deletions, duplications). The reader must never panic, and
//! whatever parses must print to text that parses again.

use std::path::Path;

const SEED_TEXT: &str = r#"test interpret
test run
set opt_level=speed
target x86_64

function %f(i32, i64 vmctx) -> i32, f64 system_v {
    ss0 = explicit_slot 16, align = 8
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+8
    region0 = 8 "VMContext+0x8"
    sig0 = (i32) -> i32 fast
    fn0 = colocated %g sig0
    fn1 = u0:7 sig0

block0(v0: i32, v1: i64):
@0010 v2 = iconst.i32 0x7fff_ffff
@0011 v3 = iadd v0, v2
    v4 = f64const -0x1.8p3
    v5 = load.i32 notrap aligned region0 v1+4
    store little v5, v1-8
    v6 = call fn0(v3)
    v7 = icmp ult v6, v0
    brif v7, block1(v6), block2
    v20 -> v6

block1(v8: i32) cold:
    br_table v8, block2, [block2, block3(v8)]

block2:
    v9 = stack_addr.i64 ss0+4
    trapnz v9, user7
    return v0, v4

block3(v10: i32):
    v11 = call_indirect sig0, v1(v10)
    v12 = f32const +NaN:0x1
    return v11, v4
}
; run: %f(1, 0) == [2, -0x1.8p3]
; run: %f(0xFFFF_FFFF, 0) != [0, NaN]
; print: %f(-1, 5)
"#;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = vec![SEED_TEXT.as_bytes().to_vec()];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clif");
    for sub in ["runtests", "wasm-corpus/sql-wasm/trampolines", "kernels"] {
        let Ok(rd) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        let mut files: Vec<_> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "clif"))
            .collect();
        files.sort();
        for p in files.iter().step_by(10).take(20) {
            if let Ok(b) = std::fs::read(p) {
                if b.len() < 20_000 {
                    out.push(b);
                }
            }
        }
    }
    out
}

const INTERESTING: &[u8] = b" \n;:,.=()[]{}@%#\"-+0123456789vxpNaIfbk_u*!>";

/// Returns whether the text parsed.
fn check(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let parsed = kiln_reader::parse_test(&text, "m.clif");
    let ok = parsed.is_ok();
    if let Ok(file) = parsed {
        for f in &file.functions {
            let printed = f.func.to_string();
            if let Err(e) = kiln_reader::parse_functions(&printed) {
                panic!(
                    "printed text does not parse: {e}\n--- input\n{text}\n--- printed\n{printed}"
                );
            }
        }
    }
    ok
}

#[test]
fn mutations_never_panic() {
    let seeds = seeds();
    // KILN_MUTATE_ROUNDS / KILN_MUTATE_SEED allow longer or different runs.
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let mut rng = Rng(env("KILN_MUTATE_SEED", 0x9e37_79b9_7f4a_7c15) | 1);
    let mut parsed = 0;
    let rounds = env("KILN_MUTATE_ROUNDS", 20_000) as usize;
    for round in 0..rounds {
        let mut b = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.below(4) {
            let len = b.len();
            match rng.below(5) {
                0 => {
                    let i = rng.below(len);
                    if i < len {
                        b[i] = INTERESTING[rng.below(INTERESTING.len())];
                    }
                }
                1 => b.truncate(rng.below(len + 1)),
                2 => {
                    let i = rng.below(len);
                    let n = rng.below(16).min(len - i.min(len));
                    b.drain(i..i + n);
                }
                3 => {
                    let i = rng.below(len);
                    let n = rng.below(64).min(len - i.min(len));
                    let chunk: Vec<u8> = b[i..i + n].to_vec();
                    let at = rng.below(b.len() + 1);
                    b.splice(at..at, chunk);
                }
                _ => {
                    let i = rng.below(len);
                    if i < len {
                        b[i] = rng.next() as u8;
                    }
                }
            }
        }
        parsed += check(&b) as usize;
    }
    eprintln!("{} seeds, {rounds} mutants, {parsed} parsed", seeds.len());
    // Some mutants (e.g. edits inside comments) must still parse, so the
    // print/re-parse property is exercised.
    assert!(parsed > rounds / 20, "only {parsed} mutants parsed");
}

#[test]
fn seed_parses() {
    let file = kiln_reader::parse_test(SEED_TEXT, "seed.clif").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.functions.len(), 1);
    assert_eq!(file.functions[0].run_directives.len(), 3);
}

/// Found by the mutation test: an instruction using its own result (invalid
/// SSA, but it parses) must keep its type suffix when printed.
#[test]
fn self_use_keeps_its_suffix() {
    let text = "function %f(i128, i128) -> i128 {\nblock0(v0: i128, v1: i128):\n  v2 = sdiv.i128 v2, v1\n  return v2\n}\n";
    check(text.as_bytes());
    let f = kiln_reader::parse_function(text).unwrap();
    assert!(f.to_string().contains("v2 = sdiv.i128 v2, v1\n"));
}

/// Inputs built to be slow stay fast: many forward aliases, a long alias
/// chain (rejected), a huge single line, huge entity numbers (rejected).
#[test]
fn pathological_inputs_stay_fast() {
    let start = std::time::Instant::now();
    let n = 20_000;
    let mut t = String::from("function %f() -> i32 {\nblock0:\n");
    for i in 0..n {
        t.push_str(&format!("    v{} -> v{}\n", n + i, i));
    }
    for i in 0..n {
        t.push_str(&format!("    v{i} = iconst.i32 {i}\n"));
    }
    t.push_str(&format!("    return v{}\n}}\n", 2 * n - 1));
    let f = kiln_reader::parse_function(&t).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.to_string().matches(" -> ").count(), n + 1);

    let mut chain = String::from("function %f() -> i32 {\nblock0:\n    v0 = iconst.i32 0\n");
    for i in 1..n {
        chain.push_str(&format!("    v{i} -> v{}\n", i - 1));
    }
    chain.push_str("    return v0\n}\n");
    let e = kiln_reader::parse_function(&chain).unwrap_err();
    assert!(e.expected.contains("at most 100 deep"), "{e}");

    let line = "v0 = iadd v0, v0 ".repeat(50_000);
    assert!(
        kiln_reader::parse_function(&format!("function %f() {{\nblock0:\n{line}\n}}")).is_err()
    );
    assert!(kiln_reader::parse_function(
        "function %f() {\nblock0:\n    v4000000000 = iconst.i32 0\n}"
    )
    .is_err());
    assert!(kiln_reader::parse_function(
        "function %f() {\nblock0:\n    v9000000 = iconst.i32 0\n    return\n}"
    )
    .is_err());
    let secs = start.elapsed().as_secs_f64();
    assert!(secs < 20.0, "took {secs:.1}s");
}
