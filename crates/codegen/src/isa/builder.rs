//! The one way to build a `TargetIsa` from a test or benchmark file's
//! header: its `set NAME[=VALUE]` lines and the words of a `target ARCH
//! WORD...` line, then the caller's overrides.
//!
//! Callers differ only in what they do with names Kiln does not know (the
//! bench commands ignore them, as peer-bench does; the test runner rejects
//! them), which they say with [`Unknown`] — never by writing the loop again.

use super::{lookup, TargetIsa};
use crate::result::CodegenResult;
use crate::settings::{Arch, Flags, IsaFlags, SettingError};
use std::fmt;

/// What to do with a setting or target flag that Kiln does not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// Report it (`Err` with the name and the reason).
    Reject,
    /// Leave the setting at its default.
    Ignore,
}

/// A header word Kiln does not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// A `set` line.
    Setting { name: String, error: SettingError },
    /// A word of a `target` line.
    TargetFlag {
        arch: Arch,
        word: String,
        error: SettingError,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Setting { name, error } => write!(f, "setting {name}: {error}"),
            HeaderError::TargetFlag { arch, word, error } => {
                write!(f, "target {} flag {word}: {error}", arch.name())
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// Settings and ISA flags being assembled for one target.
#[derive(Clone, Debug)]
pub struct IsaBuilder {
    pub flags: Flags,
    pub isa_flags: IsaFlags,
}

impl IsaBuilder {
    /// Default settings and the baseline flags of `arch`.
    pub fn new(arch: Arch) -> Self {
        IsaBuilder {
            flags: Flags::default(),
            isa_flags: IsaFlags::baseline(arch),
        }
    }

    /// Default settings and the baseline flags of the target named `name`
    /// (a `target` line's first word); `Err` names it if Kiln has no such
    /// target.
    pub fn for_target(name: &str) -> Result<Self, String> {
        Arch::parse(name)
            .map(Self::new)
            .ok_or_else(|| format!("target {name} is not supported"))
    }

    /// Starts from `isa_flags` (e.g. the host's features) instead.
    pub fn with_isa_flags(mut self, isa_flags: IsaFlags) -> Self {
        self.isa_flags = isa_flags;
        self
    }

    /// Applies `set` lines in order.
    pub fn settings<'a>(
        &mut self,
        settings: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
        unknown: Unknown,
    ) -> Result<&mut Self, HeaderError> {
        for (name, value) in settings {
            if let Err(error) = self.flags.set(name, value) {
                if unknown == Unknown::Reject {
                    return Err(HeaderError::Setting {
                        name: name.to_string(),
                        error,
                    });
                }
            }
        }
        Ok(self)
    }

    /// Applies a `target` line's flag words (`has_avx`, `sse42`,
    /// `name=value`).
    pub fn target_words(
        &mut self,
        words: &[String],
        unknown: Unknown,
    ) -> Result<&mut Self, HeaderError> {
        for w in words {
            let (name, value) = split_word(w);
            if let Err(error) = self.isa_flags.set(name, value) {
                if unknown == Unknown::Reject {
                    return Err(HeaderError::TargetFlag {
                        arch: self.isa_flags.arch(),
                        word: w.clone(),
                        error,
                    });
                }
            }
        }
        Ok(self)
    }

    /// The backend for the assembled settings.
    pub fn finish(self) -> CodegenResult<Box<dyn TargetIsa>> {
        lookup(self.flags, self.isa_flags)
    }
}

/// `name=value` as `(name, Some(value))`, a bare word as `(word, None)`.
pub fn split_word(w: &str) -> (&str, Option<&str>) {
    match w.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (w, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn applies_settings_and_target_words() {
        let mut b = IsaBuilder::for_target("x86_64").unwrap();
        b.settings(
            [("opt_level", Some("none")), ("enable_verifier", None)],
            Unknown::Reject,
        )
        .unwrap()
        .target_words(&words(&["has_popcnt", "has_sse41"]), Unknown::Reject)
        .unwrap();
        assert!(b.isa_flags.has("has_popcnt") && b.isa_flags.has("has_sse41"));
        assert!(!IsaFlags::baseline(Arch::X86_64).has("has_popcnt"));
        let isa = b.finish().unwrap();
        assert!(isa.isa_flags().has("has_popcnt"));
        assert!(isa.flags().enable_verifier);
    }

    #[test]
    fn unknown_names_are_rejected_or_ignored_as_asked() {
        let mut b = IsaBuilder::new(Arch::X86_64);
        let e = b
            .settings([("no_such_setting", Some("1"))], Unknown::Reject)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("setting no_such_setting:"), "{e}");
        let e = b
            .target_words(&words(&["has_nothing"]), Unknown::Reject)
            .unwrap_err();
        assert!(matches!(&e, HeaderError::TargetFlag { word, .. } if word == "has_nothing"));
        assert!(
            e.to_string().starts_with("target x86_64 flag has_nothing:"),
            "{e}"
        );
        let before = (b.flags.key_bytes(), b.isa_flags.key_bytes());
        b.settings([("no_such_setting", Some("1"))], Unknown::Ignore)
            .unwrap()
            .target_words(&words(&["has_nothing"]), Unknown::Ignore)
            .unwrap();
        assert_eq!((b.flags.key_bytes(), b.isa_flags.key_bytes()), before);
        assert!(IsaBuilder::for_target("sparc").is_err());
    }
}
