//! Every corpus file parses; print -> parse -> print is a fixed point for
//! every function; and (reported) how many functions print back to their
//! input text modulo whitespace and comments.
//!
//! The corpus is `../shared/clif` beside the workspace (override with
//! `KILN_CLIF_CORPUS`); missing directories are reported and skipped.

use std::path::{Path, PathBuf};

fn corpus_root() -> PathBuf {
    let root = match std::env::var_os("KILN_CLIF_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clif"),
    };
    assert!(
        root.is_dir(),
        "corpus {} not found: the shared corpus must sit beside the checkout (CI always has it)",
        root.display()
    );
    root
}

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

/// Text without comments, with runs of whitespace collapsed and blank
/// lines dropped.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let code = line.split(';').next().unwrap_or("");
        let words: Vec<&str> = code.split_whitespace().collect();
        if !words.is_empty() {
            out.push_str(&words.join(" "));
            out.push('\n');
        }
    }
    out
}

/// `normalize`, also dropping the calling convention after signatures
/// (inputs often leave it implicit; the printer always writes it).
fn normalize_cc(text: &str) -> String {
    let mut out = String::new();
    for line in normalize(text).lines() {
        let mut l = line.to_string();
        for cc in [
            " fast",
            " system_v",
            " tail",
            " windows_fastcall",
            " apple_aarch64",
            " winch",
            " preserve_all",
            " probestack",
        ] {
            if l.starts_with("function ") && l.ends_with(&format!("{cc} {{")) {
                l = format!("{} {{", &l[..l.len() - cc.len() - 2]);
            } else if l.starts_with("sig") && l.ends_with(cc) {
                l.truncate(l.len() - cc.len());
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

struct Stats {
    files: usize,
    functions: usize,
    text_equal: usize,
    text_equal_cc: usize,
    failures: Vec<String>,
}

fn check_dir(sub: &str, expect_files: Option<usize>) -> Option<Stats> {
    let dir = corpus_root().join(sub);
    if !dir.is_dir() {
        eprintln!("corpus directory {} not found: skipped", dir.display());
        return None;
    }
    let mut files = Vec::new();
    clif_files(&dir, &mut files);
    if let Some(n) = expect_files {
        assert_eq!(files.len(), n, "number of .clif files in {}", dir.display());
    }
    let mut st = Stats {
        files: files.len(),
        functions: 0,
        text_equal: 0,
        text_equal_cc: 0,
        failures: Vec::new(),
    };
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.display().to_string();
        let parsed = match kiln_reader::parse_test(&text, &name) {
            Ok(p) => p,
            Err(e) => {
                st.failures.push(format!("{e}"));
                continue;
            }
        };
        let lines: Vec<&str> = text.lines().collect();
        for pf in &parsed.functions {
            st.functions += 1;
            let printed = pf.func.to_string();
            let again = match kiln_reader::parse_functions(&printed) {
                Ok(mut fs) if fs.len() == 1 => fs.remove(0),
                Ok(fs) => {
                    st.failures
                        .push(format!("{name}: reparse gave {} functions", fs.len()));
                    continue;
                }
                Err(e) => {
                    st.failures.push(format!(
                        "{name}: printed text does not parse:\n{e}\n{printed}"
                    ));
                    continue;
                }
            };
            let printed2 = again.to_string();
            if printed2 != printed {
                st.failures.push(format!(
                    "{name}: not a fixed point:\n{printed}\n---\n{printed2}"
                ));
                continue;
            }
            let l0 = pf.locations.line - 1;
            let l1 = pf.locations.end_line.min(lines.len());
            let input = lines[l0..l1].join("\n");
            if normalize_cc(&input) == normalize_cc(&printed) {
                st.text_equal_cc += 1;
            }
            if normalize(&input) == normalize(&printed) {
                st.text_equal += 1;
            } else if std::env::var_os("KILN_SHOW_DIFF").is_some() {
                let (a, b) = (normalize_cc(&input), normalize_cc(&printed));
                for (x, y) in a.lines().zip(b.lines()) {
                    if x != y {
                        eprintln!("{name}:\n  input:   {x}\n  printed: {y}");
                        break;
                    }
                }
            }
        }
    }
    eprintln!(
        "{sub}: {} files, {} functions parsed; fixed point for all that parsed; {} of {} print back equal to the input modulo whitespace/comments ({} also ignoring implicit calling conventions); {} failures",
        st.files,
        st.functions,
        st.text_equal,
        st.functions,
        st.text_equal_cc,
        st.failures.len()
    );
    Some(st)
}

fn assert_clean(st: Option<Stats>) {
    if let Some(st) = st {
        if !st.failures.is_empty() {
            let shown: Vec<_> = st.failures.iter().take(5).cloned().collect();
            panic!(
                "{} failures, first ones:\n{}",
                st.failures.len(),
                shown.join("\n\n")
            );
        }
    }
}

#[test]
fn runtests_parse_and_round_trip() {
    assert_clean(check_dir("runtests", Some(392)));
}

#[test]
fn kernels_parse_and_round_trip() {
    assert_clean(check_dir("kernels", None));
}

#[test]
fn wasm_corpus_parses_and_round_trips() {
    let st = check_dir("wasm-corpus/sql-wasm", Some(2602));
    if let Some(s) = &st {
        // Every function of this corpus came out of Cranelift's printer, so
        // ours must print it back identically up to layout.
        assert_eq!(
            s.text_equal + s.failures.len(),
            s.functions,
            "text equality"
        );
    }
    assert_clean(st);
}
