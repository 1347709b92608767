//! Progress of a long run on standard error: files done out of all, the
//! file just finished and the elapsed time, redrawn in place at most ten
//! times a second. Only when standard error is a terminal: logs and CI
//! see nothing extra. The line is erased when the run ends, and while a
//! command streams its own output ([`Progress::above`]), so the output
//! that remains is the same as without a terminal.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the line shows now.
struct Drawn {
    /// When the line was last drawn.
    at: Option<Instant>,
    /// The file last finished, as shown.
    name: String,
}

pub struct Progress {
    what: &'static str,
    total: usize,
    done: AtomicUsize,
    start: Instant,
    /// `None`: drawing is off.
    line: Option<Mutex<Drawn>>,
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
            line: on.then(|| {
                Mutex::new(Drawn {
                    at: None,
                    name: String::new(),
                })
            }),
        }
    }

    /// One more item is done (`path`: the one that just finished).
    pub fn tick(&self, path: &Path) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(line) = &self.line else {
            return;
        };
        let Ok(mut line) = line.lock() else {
            return;
        };
        line.name = short_name(path);
        let now = Instant::now();
        if done < self.total
            && line
                .at
                .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        line.at = Some(now);
        let mut e = std::io::stderr().lock();
        if done >= self.total {
            // The report follows on standard output: leave no line behind.
            let _ = write!(e, "\r\x1b[K");
        } else {
            self.draw(&mut e, done, &line.name);
        }
        let _ = e.flush();
    }

    /// Runs `print` (which writes a command's own output, standard output
    /// or error) with the line erased, then draws the line again: streamed
    /// output never shares a line with the progress.
    pub fn above(&self, print: impl FnOnce()) {
        let Some(line) = &self.line else {
            print();
            return;
        };
        let Ok(line) = line.lock() else {
            print();
            return;
        };
        {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
        }
        print();
        let _ = std::io::stdout().flush();
        let done = self.done.load(Ordering::Relaxed);
        if line.at.is_some() && done < self.total {
            let mut e = std::io::stderr().lock();
            self.draw(&mut e, done, &line.name);
            let _ = e.flush();
        }
    }

    fn draw(&self, e: &mut impl Write, done: usize, name: &str) {
        let _ = write!(
            e,
            "\r\x1b[K{} {done}/{} {:.1}s {name}",
            self.what,
            self.total,
            self.start.elapsed().as_secs_f64()
        );
    }

    /// Erases the line.
    pub fn finish(&self) {
        if self.line.is_some() {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
        }
    }
}

/// The path, cut at the front to at most 60 characters.
fn short_name(path: &Path) -> String {
    let name = path.display().to_string();
    if name.len() <= 60 {
        return name;
    }
    let cut = name.len() - 57;
    let cut = (cut..name.len())
        .find(|&i| name.is_char_boundary(i))
        .unwrap_or(0);
    format!("...{}", &name[cut..])
}
