//! Source positions and diagnostics.

use std::fmt;

/// A position in one of the compiled files (1-based line and column; the
/// column counts characters). `line == 0` means "no position in the file"
/// (for example an I/O error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// Index of the file in the list given to the compiler.
    pub file: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
}

/// One diagnostic: a primary position and message, plus optional notes that
/// point at other places (e.g. the other rule of an overlap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Where the problem is.
    pub pos: Pos,
    /// What the problem is.
    pub msg: String,
    /// Related places, each with an explanation.
    pub notes: Vec<(Pos, String)>,
}

impl Error {
    pub(crate) fn new(pos: Pos, msg: impl Into<String>) -> Error {
        Error {
            pos,
            msg: msg.into(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn with_note(mut self, pos: Pos, msg: impl Into<String>) -> Error {
        self.notes.push((pos, msg.into()));
        self
    }
}

/// All diagnostics of a failed compilation, with the sources needed to
/// render them. `Display` prints each as `file:line:col: message`, followed by
/// the source line and a caret under the column.
#[derive(Clone, Debug)]
pub struct Errors {
    /// The diagnostics, in the order they were found.
    pub errors: Vec<Error>,
    /// (file name, file contents) for every input file.
    pub(crate) files: Vec<(String, String)>,
}

impl Errors {
    /// `file:line:col` of a position, for tests and tools.
    pub fn location(&self, pos: Pos) -> String {
        let name = self
            .files
            .get(pos.file)
            .map(|f| f.0.as_str())
            .unwrap_or("<unknown>");
        if pos.line == 0 {
            name.to_string()
        } else {
            format!("{}:{}:{}", name, pos.line, pos.col)
        }
    }

    fn render(&self, f: &mut fmt::Formatter<'_>, pos: Pos, kind: &str, msg: &str) -> fmt::Result {
        writeln!(f, "{}: {}{}", self.location(pos), kind, msg)?;
        if pos.line == 0 {
            return Ok(());
        }
        let src = self.files.get(pos.file).map(|f| f.1.as_str()).unwrap_or("");
        if let Some(line) = src.lines().nth(pos.line as usize - 1) {
            writeln!(f, "  | {}", line)?;
            let mut caret = String::from("  | ");
            for ch in line.chars().take(pos.col.saturating_sub(1) as usize) {
                caret.push(if ch == '\t' { '\t' } else { ' ' });
            }
            caret.push('^');
            writeln!(f, "{}", caret)?;
        }
        Ok(())
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            self.render(f, e.pos, "", &e.msg)?;
            for (p, m) in &e.notes {
                self.render(f, *p, "note: ", m)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}
