//! `kiln test --format json`: one JSON object a line per file, for
//! scripts. Fields: `path`, `verdict` (`pass`, `fail`, `skip`), `reason`
//! (the failure messages joined by newlines, the skip reason, or null for
//! a pass) and `duration_ms` (the file's wall time, in milliseconds).
//! Each line is written and flushed as soon as its file and every file
//! before it are done: a script reads results while the run goes on.
//! Nothing else is printed on standard output; the exit status is that of
//! the text format.

use super::progress::Progress;
use kiln::filetests::{collect_clif, unusable_path, FileReport, FileResult, Runner, Summary};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// Tests `paths` (files and folders) as `Runner::run_paths` does, on
/// every core, and writes one object per file as soon as it and every
/// file before it are done (the order of the text format, streamed).
pub fn run_json(
    runner: &Runner,
    paths: &[PathBuf],
    only: Option<&str>,
    progress: &Progress,
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
            out.flush()?;
            sum.failed += 1;
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, FileReport, Duration)>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, files) = (&next, &files);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else {
                    break;
                };
                let t0 = Instant::now();
                let r = runner.report_file(path, only);
                // The receiver is gone only after a write error.
                if tx.send((i, r, t0.elapsed())).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Reports arrive in any order; write them in file order.
        let mut waiting: BTreeMap<usize, (FileReport, Duration)> = BTreeMap::new();
        let mut written = 0;
        for (i, r, took) in rx {
            progress.tick(&files[i]);
            waiting.insert(i, (r, took));
            while let Some((r, took)) = waiting.remove(&written) {
                sum.add(&r);
                let line = object(&files[written].display().to_string(), &r.verdict, took);
                let mut res = Ok(());
                progress.above(|| {
                    res = writeln!(out, "{line}").and_then(|()| out.flush());
                });
                written += 1;
                if let Err(e) = res {
                    // Stop the workers after the file each is testing.
                    next.store(files.len(), Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(sum)
    })
}
