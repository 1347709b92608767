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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_and_bad_values_are_errors() {
        let mut r = Runner::empty();
        let e = r
            .set_overrides(&["no_such_flag=1".to_string()])
            .unwrap_err();
        assert!(e.contains("no_such_flag"), "{e}");
        let e = r
            .set_overrides(&["opt_level=fast".to_string()])
            .unwrap_err();
        assert!(e.contains("opt_level"), "{e}");
        assert!(r.set_overrides(&["opt_level=speed".to_string()]).is_ok());
    }

    #[test]
    fn overrides_come_after_the_file_and_target_settings() {
        let text = "test optimize\nset opt_level=none\ntarget x86_64\n\nfunction %f() {\nblock0:\n    return\n}\n";
        let mut file = kiln_reader::parse_test(text, "t.clif").expect("parses");
        let mut r = Runner::empty();
        r.set_overrides(&["opt_level=speed".to_string()])
            .expect("valid");
        apply(&mut file, &r.overrides);
        let last = |s: &[Setting]| s.last().map(|s| (s.name.clone(), s.value.clone()));
        let want = Some(("opt_level".to_string(), Some("speed".to_string())));
        assert_eq!(last(&file.settings), want);
        assert_eq!(last(&file.targets[0].settings), want);
        // Applied in order, the override wins.
        let mut flags = Flags::default();
        for s in &file.targets[0].settings {
            flags.set(&s.name, s.value.as_deref()).expect("valid");
        }
        assert_eq!(flags.opt_level, kiln_codegen::settings::OptLevel::Speed);
    }
}
