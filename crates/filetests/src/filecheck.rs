//! A small filecheck: `check:`, `sameln:`, `nextln:`, `not:` and
//! `unordered:` (treated as `check:`) directives with literal patterns, in
//! which a run of whitespace matches any non-empty run of whitespace.
//! `regex:` definitions are accepted; patterns that use `$variables` are
//! reported as unsupported instead of being matched wrongly.

use kiln_reader::Comment;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Check,
    Sameln,
    Nextln,
    Not,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub kind: Kind,
    pub pattern: String,
    pub line: usize,
}

/// The filecheck directives among `comments`, in order. Errors name
/// directives this implementation does not support.
pub fn directives(comments: &[Comment]) -> Result<Vec<Directive>, String> {
    let mut out = Vec::new();
    for c in comments {
        let t = c.text.trim_start();
        let (kind, rest) = if let Some(r) = t.strip_prefix("check:") {
            (Kind::Check, r)
        } else if let Some(r) = t.strip_prefix("unordered:") {
            (Kind::Check, r)
        } else if let Some(r) = t.strip_prefix("sameln:") {
            (Kind::Sameln, r)
        } else if let Some(r) = t.strip_prefix("nextln:") {
            (Kind::Nextln, r)
        } else if let Some(r) = t.strip_prefix("not:") {
            (Kind::Not, r)
        } else {
            // `regex:` definitions and ordinary comments.
            continue;
        };
        let pattern = rest.trim().to_string();
        if pattern.contains('$') {
            return Err(format!(
                "line {}: filecheck variables are not supported: {pattern}",
                c.line
            ));
        }
        out.push(Directive {
            kind,
            pattern,
            line: c.line,
        });
    }
    Ok(out)
}

/// Finds `words` (separated by at least one whitespace character) in
/// `line` starting at byte `from`; returns the byte range of the match.
fn find_in_line(line: &str, from: usize, words: &[&str]) -> Option<(usize, usize)> {
    let Some(first) = words.first() else {
        return Some((from, from));
    };
    let mut start = from;
    while start <= line.len() {
        let rel = line.get(start..)?.find(first)?;
        let s = start + rel;
        let mut end = s + first.len();
        let mut ok = true;
        for w in &words[1..] {
            let rest = &line[end..];
            let trimmed = rest.trim_start();
            let ws = rest.len() - trimmed.len();
            if ws == 0 || !trimmed.starts_with(w) {
                ok = false;
                break;
            }
            end += ws + w.len();
        }
        if ok {
            return Some((s, end));
        }
        // Next candidate: one character further.
        start = s + line[s..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// Checks `output` against `dirs`; the error describes the first failure.
pub fn check(output: &str, dirs: &[Directive]) -> Result<(), String> {
    let lines: Vec<&str> = output.lines().collect();
    // Position after the last positive match.
    let (mut line, mut col) = (0usize, 0usize);
    let mut nots: Vec<&Directive> = Vec::new();
    let mut matched_any = false;
    let words_of = |d: &Directive| -> Vec<String> {
        d.pattern.split_whitespace().map(str::to_string).collect()
    };
    for d in dirs {
        let words = words_of(d);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let found = match d.kind {
            Kind::Not => {
                nots.push(d);
                continue;
            }
            Kind::Check => (line..lines.len()).find_map(|l| {
                let from = if l == line { col } else { 0 };
                find_in_line(lines[l], from.min(lines[l].len()), &words).map(|r| (l, r))
            }),
            Kind::Sameln => {
                if !matched_any {
                    return Err(format!("line {}: sameln: without a previous match", d.line));
                }
                lines
                    .get(line)
                    .and_then(|t| find_in_line(t, col.min(t.len()), &words))
                    .map(|r| (line, r))
            }
            Kind::Nextln => {
                let l = if matched_any { line + 1 } else { 0 };
                lines
                    .get(l)
                    .and_then(|t| find_in_line(t, 0, &words))
                    .map(|r| (l, r))
            }
        };
        let Some((l, (s, e))) = found else {
            let after = if matched_any {
                format!(" after output line {}", line + 1)
            } else {
                String::new()
            };
            let kind = match d.kind {
                Kind::Check => "check",
                Kind::Sameln => "sameln",
                Kind::Nextln => "nextln",
                Kind::Not => "not",
            };
            return Err(format!(
                "line {}: {kind}: `{}` not found{after}",
                d.line, d.pattern
            ));
        };
        check_nots(&lines, &nots, (line, col), (l, s))?;
        nots.clear();
        line = l;
        col = e;
        matched_any = true;
    }
    let end = (lines.len(), 0);
    check_nots(&lines, &nots, (line, col), end)
}

/// No `not:` pattern may match in the region between two positions.
fn check_nots(
    lines: &[&str],
    nots: &[&Directive],
    from: (usize, usize),
    to: (usize, usize),
) -> Result<(), String> {
    for d in nots {
        let words: Vec<&str> = d.pattern.split_whitespace().collect();
        for l in from.0..=to.0.min(lines.len().saturating_sub(1)) {
            if l >= lines.len() {
                break;
            }
            let text = lines[l];
            let start = if l == from.0 {
                from.1.min(text.len())
            } else {
                0
            };
            let stop = if l == to.0 {
                to.1.min(text.len())
            } else {
                text.len()
            };
            if start > stop {
                continue;
            }
            if let Some((_, e)) = find_in_line(text, start, &words) {
                if e <= stop {
                    return Err(format!(
                        "line {}: not: `{}` matched output line {}: {text}",
                        d.line,
                        d.pattern,
                        l + 1
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(kind: Kind, p: &str) -> Directive {
        Directive {
            kind,
            pattern: p.into(),
            line: 1,
        }
    }

    const OUT: &str =
        "function %f() fast {\nblock0:\n    v0 = iconst.i32 1\n    return v0  ; v0 = 1\n}\n";

    #[test]
    fn positive_and_negative() {
        use Kind::*;
        assert!(check(
            OUT,
            &[
                d(Check, "block0:"),
                d(Nextln, "v0 = iconst.i32   1"),
                d(Nextln, "return v0")
            ]
        )
        .is_ok());
        assert!(check(OUT, &[d(Check, "iconst.i32"), d(Sameln, "1")]).is_ok());
        // Order matters.
        assert!(check(OUT, &[d(Check, "return"), d(Check, "iconst")]).is_err());
        // nextln must be the very next line.
        assert!(check(OUT, &[d(Check, "block0:"), d(Nextln, "return")]).is_err());
        // A `not:` between two matches.
        assert!(check(
            OUT,
            &[d(Check, "block0:"), d(Not, "iconst"), d(Check, "return")]
        )
        .is_err());
        assert!(check(
            OUT,
            &[d(Check, "block0:"), d(Not, "iadd"), d(Check, "return")]
        )
        .is_ok());
        // A trailing `not:` covers the rest of the output.
        assert!(check(OUT, &[d(Check, "iconst"), d(Not, "return")]).is_err());
        // Whitespace in patterns needs whitespace in the output.
        assert!(check(OUT, &[d(Check, "v0=iconst")]).is_err());
        assert!(check(OUT, &[d(Check, "nothere")]).is_err());
    }

    #[test]
    fn variables_are_refused() {
        let c = Comment {
            line: 3,
            col: 1,
            text: " check: v0 = $X".into(),
            trailing: false,
        };
        assert!(directives(&[c]).is_err());
    }
}
