//! Parse errors with file, line, column and the offending source line.

use std::fmt;

/// A parse error. `line` and `col` are 1-based (columns count characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub expected: String,
    pub found: String,
    pub source_line: String,
}

impl fmt::Display for ParseError {
    /// `file:line:col: error: expected X, found Y`, then the source line
    /// and a caret under the column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: error: expected {}, found {}",
            self.file, self.line, self.col, self.expected, self.found
        )?;
        writeln!(f, "{}", self.source_line)?;
        // Keep tabs so the caret lines up under tab-indented source.
        let pad: String = self
            .source_line
            .chars()
            .take(self.col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(f, "{pad}^")
    }
}

impl std::error::Error for ParseError {}

/// Builds errors for one source text.
#[derive(Clone, Copy)]
pub(crate) struct ErrorSource<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl ErrorSource<'_> {
    pub fn error(
        &self,
        line: usize,
        col: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ParseError {
        let source_line = self
            .text
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_string();
        ParseError {
            file: self.file.to_string(),
            line,
            col,
            expected: expected.into(),
            found: found.into(),
            source_line,
        }
    }
}
