//! `kiln test --set NAME=VALUE` / `--opt LEVEL`: settings applied over each
//! file's own `set` lines (and over the settings in effect at each `target`
//! line), so a whole corpus can run at another optimization level. The
//! names are checked when they are given ([`Runner::set_overrides`]): an
//! unknown one is an error, never silently ignored.

use crate::Runner;
use kiln_codegen::settings::Flags;
use kiln_reader::{Setting, TestFile};

impl Runner {
    /// Settings to append to every file's settings; each `NAME=VALUE` (or
    /// bare `NAME`) must be a setting Kiln knows with a valid value.
    pub fn set_overrides(&mut self, words: &[String]) -> Result<(), String> {
        let mut flags = Flags::default();
        let mut out = Vec::new();
        for w in words {
            let (name, value) = match w.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (w.clone(), None),
            };
            flags
                .set(&name, value.as_deref())
                .map_err(|e| format!("--set {w}: {e}"))?;
            out.push(Setting {
                name,
                value,
                line: 0,
            });
        }
        self.overrides = out;
        Ok(())
    }
}

/// Appends the overrides to the file's settings and each target's.
pub(crate) fn apply(file: &mut TestFile, overrides: &[Setting]) {
    if overrides.is_empty() {
        return;
    }
    file.settings.extend(overrides.iter().cloned());
    for t in &mut file.targets {
        t.settings.extend(overrides.iter().cloned());
    }
}
