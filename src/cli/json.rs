//! `kiln test --format json`: one JSON object a line per file, for
//! scripts. Fields: `path`, `verdict` (`pass`, `fail`, `skip`), `reason`
//! (the failure messages joined by newlines, the skip reason, or null for
//! a pass) and `duration_ms` (the file's wall time, in milliseconds).
//! Nothing else is printed on standard output; the exit status is that of
//! the text format.

use kiln::filetests::{collect_clif, unusable_path, FileResult, Runner, Summary};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// One file's line.
pub fn object(path: &str, verdict: &FileResult, took: Duration) -> serde_json::Value {
    let (v, reason) = match verdict {
        FileResult::Pass => ("pass", serde_json::Value::Null),
        FileResult::Fail(msgs) => ("fail", msgs.join("\n").into()),
        FileResult::Skip(why) => ("skip", why.clone().into()),
    };
    serde_json::json!({
        "path": path,
        "verdict": v,
        "reason": reason,
        "duration_ms": took.as_secs_f64() * 1e3,
    })
}

/// Tests `paths` (files and folders) as `Runner::run_paths` does and
/// writes one object per file.
pub fn run_json(
    runner: &Runner,
    paths: &[PathBuf],
    only: Option<&str>,
    on_done: &(dyn Fn(usize, &std::path::Path) + Sync),
    out: &mut dyn Write,
) -> std::io::Result<Summary> {
    let mut files = Vec::new();
    let mut sum = Summary::default();
    for p in paths {
        if p.is_dir() {
            collect_clif(p, &mut files);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            let v = FileResult::Fail(vec![unusable_path(p).to_string()]);
            writeln!(
                out,
                "{}",
                object(&p.display().to_string(), &v, Duration::ZERO)
            )?;
            sum.failed += 1;
        }
    }
    for (path, (r, took)) in files
        .iter()
        .zip(runner.report_all_timed(&files, only, on_done))
    {
        sum.add(&r);
        writeln!(
            out,
            "{}",
            object(&path.display().to_string(), &r.verdict, took)
        )?;
    }
    Ok(sum)
}
