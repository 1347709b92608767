//! `kiln test --set NAME=VALUE` / `--opt LEVEL`: settings applied over each
//! file's own `set` lines (and over the settings in effect at each `target`
//! line), so a whole corpus can run at another optimization level. A name
//! that is not a shared setting but an ISA flag (`has_avx`, `has_lse`, a
//! preset such as `skylake`) goes onto every `target` line of a backend
//! that knows it, as if written there. The names are checked when they are
//! given ([`Runner::set_overrides`]): one that no setting and no backend's
//! flag knows is an error, never silently ignored.

use crate::Runner;
use kiln_codegen::settings::{Arch, Flags, IsaFlags, SettingError};
use kiln_reader::{Setting, TestFile};

/// A `--set` word that is an ISA flag, and the backends that know it.
#[derive(Clone, Debug, Default)]
pub(crate) struct IsaOverride {
    pub(crate) word: String,
    pub(crate) arches: Vec<Arch>,
}

impl Runner {
    /// Settings to append to every file's settings; each `NAME=VALUE` (or
    /// bare `NAME`) must be a setting Kiln knows with a valid value.
    pub fn set_overrides(&mut self, words: &[String]) -> Result<(), String> {
        let mut flags = Flags::default();
        let (mut out, mut isa_out) = (Vec::new(), Vec::new());
        for w in words {
            let (name, value) = match w.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (w.clone(), None),
            };
            match flags.set(&name, value.as_deref()) {
                Ok(()) => out.push(Setting {
                    name,
                    value,
                    line: 0,
                }),
                Err(SettingError::UnknownSetting(_)) => {
                    let mut arches = Vec::new();
                    for arch in [Arch::X86_64, Arch::Aarch64] {
                        match IsaFlags::baseline(arch).set(&name, value.as_deref()) {
                            Ok(()) => arches.push(arch),
                            Err(SettingError::UnknownSetting(_)) => {}
                            Err(e) => return Err(format!("--set {w}: {e}")),
                        }
                    }
                    if arches.is_empty() {
                        return Err(format!(
                            "--set {w}: unknown setting `{name}` (neither a shared setting nor an ISA flag of x86_64 or aarch64)"
                        ));
                    }
                    isa_out.push(IsaOverride {
                        word: w.clone(),
                        arches,
                    });
                }
                Err(e) => return Err(format!("--set {w}: {e}")),
            }
        }
        self.overrides = out;
        self.isa_overrides = isa_out;
        Ok(())
    }
}

/// Appends the overrides to the file's settings and each target's, and the
/// ISA flags to the flag words of each target whose backend knows them.
pub(crate) fn apply(file: &mut TestFile, overrides: &[Setting], isa: &[IsaOverride]) {
    if !overrides.is_empty() {
        file.settings.extend(overrides.iter().cloned());
    }
    for t in &mut file.targets {
        t.settings.extend(overrides.iter().cloned());
        if let Some(arch) = Arch::parse(&t.isa) {
            t.flags.extend(
                isa.iter()
                    .filter(|o| o.arches.contains(&arch))
                    .map(|o| o.word.clone()),
            );
        }
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
    fn isa_flags_go_to_the_targets_that_know_them() {
        let text = "test compile\ntarget x86_64 has_sse41\ntarget aarch64\n\nfunction %f() {\nblock0:\n    return\n}\n";
        let mut file = kiln_reader::parse_test(text, "t.clif").expect("parses");
        let mut r = Runner::empty();
        r.set_overrides(&[
            "has_avx=true".to_string(),
            "has_lse".to_string(),
            "opt_level=speed".to_string(),
        ])
        .expect("valid");
        apply(&mut file, &r.overrides, &r.isa_overrides);
        assert_eq!(file.targets[0].flags, ["has_sse41", "has_avx=true"]);
        assert_eq!(file.targets[1].flags, ["has_lse"]);
        // A name no backend knows, and a bad value of a known flag, fail.
        let e = r.set_overrides(&["has_nothing".to_string()]).unwrap_err();
        assert!(e.contains("has_nothing") && e.contains("ISA flag"), "{e}");
        let e = r.set_overrides(&["has_avx=maybe".to_string()]).unwrap_err();
        assert!(e.contains("has_avx"), "{e}");
    }

    #[test]
    fn overrides_come_after_the_file_and_target_settings() {
        let text = "test optimize\nset opt_level=none\ntarget x86_64\n\nfunction %f() {\nblock0:\n    return\n}\n";
        let mut file = kiln_reader::parse_test(text, "t.clif").expect("parses");
        let mut r = Runner::empty();
        r.set_overrides(&["opt_level=speed".to_string()])
            .expect("valid");
        apply(&mut file, &r.overrides, &r.isa_overrides);
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
