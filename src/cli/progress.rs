//! Progress of a long run on standard error: files done out of all, the
//! file just finished and the elapsed time, redrawn in place at most ten
//! times a second. Only when standard error is a terminal: logs and CI
//! see nothing extra. The line is erased when the run ends, so the
//! output that remains is the same as without a terminal.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    what: &'static str,
    total: usize,
    done: AtomicUsize,
    start: Instant,
    /// When the line was last drawn (`None`: drawing is off).
    last: Option<Mutex<Option<Instant>>>,
}

impl Progress {
    /// A display for `total` items, on only if standard error is a
    /// terminal and there is more than one item.
    pub fn new(what: &'static str, total: usize) -> Self {
        let on = total > 1 && std::io::stderr().is_terminal();
        Progress {
            what,
            total,
            done: AtomicUsize::new(0),
            start: Instant::now(),
            last: on.then(|| Mutex::new(None)),
        }
    }

    /// One more item is done (`path`: the one that just finished).
    pub fn tick(&self, path: &Path) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(last) = &self.last else {
            return;
        };
        let Ok(mut last) = last.lock() else {
            return;
        };
        let now = Instant::now();
        if done < self.total && last.is_some_and(|t| now - t < Duration::from_millis(100)) {
            return;
        }
        *last = Some(now);
        if done >= self.total {
            // The report follows on standard output: leave no line behind.
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
            return;
        }
        let mut name = path.display().to_string();
        if name.len() > 60 {
            let cut = name.len() - 57;
            let cut = (cut..name.len())
                .find(|&i| name.is_char_boundary(i))
                .unwrap_or(0);
            name = format!("...{}", &name[cut..]);
        }
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r\x1b[K{} {done}/{} {:.1}s {name}",
            self.what,
            self.total,
            self.start.elapsed().as_secs_f64()
        );
        let _ = e.flush();
    }

    /// Erases the line.
    pub fn finish(&self) {
        if self.last.is_some() {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
        }
    }
}
