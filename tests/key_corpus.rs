//! The stencil key over the real corpus (`../shared/clif`): computing it
//! never panics; it survives a print/parse round trip; renaming a function
//! and retargeting its external-name table keep it; and distinct function
//! bodies get distinct keys (counted and reported).

use kiln_ir::key::{stencil_key, KeyTarget};
use kiln_ir::{UserExternalName, UserExternalNameRef, UserFuncName};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const TARGET: KeyTarget<'static> = KeyTarget {
    triple: "x86_64-unknown-linux-gnu",
    flags: b"opt_level=none",
};

fn corpus_root() -> PathBuf {
    let root = match std::env::var_os("KILN_CLIF_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/clif"),
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

#[test]
fn corpus_keys() {
    let root = corpus_root();
    let mut files = Vec::new();
    clif_files(&root.join("wasm-corpus"), &mut files);
    clif_files(&root.join("runtests"), &mut files);
    // Key -> normalized body text of the first function with that key.
    let mut seen: HashMap<String, (String, String)> = HashMap::new();
    let mut by_text: HashMap<String, (String, kiln_ir::key::StencilKey)> = HashMap::new();
    let mut functions = 0;
    let mut collisions = Vec::new();
    let mut problems = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let Ok(file) = kiln_reader::parse_test(&text, &path.display().to_string()) else {
            continue;
        };
        for pf in file.functions {
            functions += 1;
            let f = pf.func;
            let k = stencil_key(&f.stencil, &TARGET);
            // Round trip through text.
            let printed = f.to_string();
            match kiln_reader::parse_functions(&printed) {
                Ok(fs) if fs.len() == 1 => {
                    if stencil_key(&fs[0].stencil, &TARGET) != k {
                        problems.push(format!(
                            "{}: {}: key changed by print/parse",
                            path.display(),
                            f.name
                        ));
                    }
                }
                _ => problems.push(format!(
                    "{}: {}: printed text does not parse",
                    path.display(),
                    f.name
                )),
            }
            // Renamed, with a retargeted and extended name table.
            let mut g = f.clone();
            g.name = UserFuncName::user(99, 12345);
            if g.params.num_user_named_funcs() > 0 {
                g.params.reset_user_func_name(
                    UserExternalNameRef::from_u32(0),
                    UserExternalName::new(77, 77),
                );
            }
            g.params
                .ensure_user_func_name(UserExternalName::new(88, 88));
            if stencil_key(&g.stencil, &TARGET) != k {
                problems.push(format!(
                    "{}: {}: key depends on names",
                    path.display(),
                    f.name
                ));
            }
            // Text that should determine the key: without the name line,
            // with source locations relative to the base and user names
            // numbered by first appearance (the name table is not part of
            // the stencil).
            let canon = canonical_text(&printed, f.params.base_srcloc().bits());
            // ... and the converse: one canonical text, one key.
            match by_text.get(&canon) {
                Some((prev_path, prev_key)) if *prev_key != k => problems.push(format!(
                    "{} and {}: same canonical text, different keys",
                    prev_path,
                    path.display()
                )),
                Some(_) => {}
                None => {
                    by_text.insert(canon.clone(), (path.display().to_string(), k));
                }
            }
            match seen.get(&k.to_string()) {
                Some((prev_path, prev)) if *prev != canon => collisions.push(format!(
                    "{} and {}: same key, different canonical text:\n{prev}\n{canon}",
                    prev_path,
                    path.display()
                )),
                Some(_) => {}
                None => {
                    seen.insert(k.to_string(), (path.display().to_string(), canon));
                }
            }
        }
    }
    eprintln!(
        "{} files, {functions} functions, {} distinct keys, {} keys shared by different canonical texts",
        files.len(),
        seen.len(),
        collisions.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(functions > 5000);
    // Functions sharing a key must be the same function up to names and
    // the base source location.
    assert!(
        collisions.is_empty(),
        "{}",
        collisions
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A text normal form independent of the key's implementation: the
/// function without its name line, alias lines dropped and aliases
/// substituted, entity names (`v`, `block`, `ss`, `gv`, `fn`, `sig`,
/// `region`, `const`, ...) renumbered by first appearance, source locations
/// relative to the base, user names numbered by first appearance.
fn canonical_text(printed: &str, base: u32) -> String {
    // Alias lines: `vA -> vB`.
    let mut alias: HashMap<String, String> = HashMap::new();
    // The signature, without the name.
    let first = printed.lines().next().unwrap_or("");
    let mut lines = vec![first.find('(').map_or("", |i| &first[i..]).to_string()];
    for line in printed.lines().skip(1) {
        let code = line.split(';').next().unwrap_or("");
        let words: Vec<&str> = code.split_whitespace().collect();
        if words.len() == 3 && words[1] == "->" {
            alias.insert(words[0].to_string(), words[2].to_string());
            continue;
        }
        lines.push(code.to_string());
    }
    let resolve = |w: &str| -> String {
        let mut cur = w.to_string();
        for _ in 0..64 {
            match alias.get(&cur) {
                Some(n) => cur = n.clone(),
                None => break,
            }
        }
        cur
    };
    let mut numbering: HashMap<String, usize> = HashMap::new();
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    let prefixes: [&'static str; 11] = [
        "v", "block", "ss", "dss", "dt", "gv", "fn", "sig", "region", "const", "u",
    ];
    let mut out = String::new();
    for code in &lines {
        let bytes = code.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i] as char;
            if c == '@' {
                let j = code[i + 1..]
                    .find(|ch: char| !ch.is_ascii_hexdigit())
                    .map_or(code.len(), |k| i + 1 + k);
                match u32::from_str_radix(&code[i + 1..j], 16) {
                    Ok(abs) => out.push_str(&format!("@+{}", abs.wrapping_sub(base))),
                    Err(_) => out.push_str(&code[i..j]),
                }
                i = j.max(i + 1);
                continue;
            }
            if c.is_ascii_alphabetic() || c == '_' || c == '%' {
                let mut j = code[i..]
                    .find(|ch: char| {
                        !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '%' || ch == '.')
                    })
                    .map_or(code.len(), |k| i + k);
                // `u0:3` user names continue past the colon.
                if code[i..j].starts_with('u')
                    && code[i + 1..j].bytes().all(|d| d.is_ascii_digit())
                    && code[j..].starts_with(':')
                {
                    j = code[j + 1..]
                        .find(|ch: char| !ch.is_ascii_digit())
                        .map_or(code.len(), |k| j + 1 + k);
                }
                let word = &code[i..j];
                let resolved = resolve(word);
                let renamed = prefixes.iter().find_map(|p| {
                    let rest = resolved.strip_prefix(p)?;
                    let ok = if *p == "u" {
                        rest.split_once(':').is_some_and(|(a, b)| {
                            !a.is_empty()
                                && a.bytes().all(|d| d.is_ascii_digit())
                                && !b.is_empty()
                                && b.bytes().all(|d| d.is_ascii_digit())
                        })
                    } else {
                        !rest.is_empty() && rest.bytes().all(|d| d.is_ascii_digit())
                    };
                    if !ok {
                        return None;
                    }
                    let n = match numbering.get(&resolved) {
                        Some(&n) => n,
                        None => {
                            let c = counts.entry(p).or_insert(0);
                            let n = *c;
                            *c += 1;
                            numbering.insert(resolved.clone(), n);
                            n
                        }
                    };
                    Some(format!("{p}#{n}"))
                });
                out.push_str(&renamed.unwrap_or(resolved));
                i = j;
                continue;
            }
            if !c.is_whitespace() {
                out.push(c);
            } else if !out.ends_with(' ') {
                out.push(' ');
            }
            i += c.len_utf8();
        }
        out.push('\n');
    }
    out
}
