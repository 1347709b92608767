//! Helpers shared by the commands: arguments, input files, ISAs.

use kiln::codegen::isa::builder::split_word;
use kiln::codegen::isa::{IsaBuilder, TargetIsa, Unknown};
use kiln::codegen::result::CodegenError;
use kiln::codegen::settings::{Arch, IsaFlags};
use kiln::ir::Function;
use kiln::reader::TestFile;
use std::path::Path;

/// `--name value`, `--name=value`, boolean flags and positionals.
pub struct Args {
    pub positional: Vec<String>,
    opts: Vec<(String, Option<String>)>,
}

impl Args {
    /// `with_value`: options taking a value; `flags`: boolean options
    /// (a flag may be spelled `-X` when listed as `-X`).
    pub fn parse(raw: &[String], with_value: &[&str], flags: &[&str]) -> Result<Args, String> {
        let mut positional = Vec::new();
        let mut opts = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let a = &raw[i];
            if a == "--" {
                positional.extend(raw[i + 1..].iter().cloned());
                break;
            }
            if let Some(body) = a.strip_prefix("--") {
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (body.to_string(), None),
                };
                if with_value.contains(&name.as_str()) {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            raw.get(i)
                                .cloned()
                                .ok_or_else(|| format!("--{name} needs a value"))?
                        }
                    };
                    opts.push((name, Some(v)));
                } else if flags.contains(&name.as_str()) && inline.is_none() {
                    opts.push((name, None));
                } else {
                    return Err(format!("unknown option --{name}"));
                }
            } else if a.starts_with('-') && a.len() > 1 {
                if flags.contains(&a.as_str()) {
                    opts.push((a.clone(), None));
                } else {
                    return Err(format!("unknown option {a}"));
                }
            } else {
                positional.push(a.clone());
            }
            i += 1;
        }
        Ok(Args { positional, opts })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    pub fn get_all(&self, name: &str) -> Vec<String> {
        self.opts
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| n == name)
    }
}

pub use kiln::filetests::collect_files;

/// Reads and parses a file.
pub fn load(path: &Path) -> Result<(TestFile, usize), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let name = path.display().to_string();
    kiln::reader::parse_test(&text, &name)
        .map(|f| (f, bytes.len()))
        .map_err(|e| e.to_string())
}

/// Number of instructions in a function's layout.
pub fn inst_count(f: &Function) -> usize {
    f.layout
        .blocks()
        .map(|b| f.layout.block_insts(b).count())
        .sum()
}

/// How to build the ISA for compiling a file (not running it).
pub struct IsaConfig {
    pub arch: Arch,
    /// `--opt`, applied after the file's settings.
    pub opt_level: Option<String>,
    /// `--set` words, applied last.
    pub extra_sets: Vec<String>,
    /// Start from the host's features instead of the baseline.
    pub host_features: bool,
    /// Leave the verifier on (it is off for benchmarks, as in peer-bench).
    pub verify: Option<bool>,
}

/// Whether a file should be compiled for `arch`: it has no target line, or
/// one naming `arch`.
pub fn file_wants(file: &TestFile, arch: Arch) -> bool {
    file.targets.is_empty()
        || file
            .targets
            .iter()
            .any(|t| Arch::parse(&t.isa) == Some(arch))
}

/// The ISA for a file: the `set` lines in force at its first `target`
/// line for the arch (all of them if there is none), that line's ISA
/// flags, then the overrides. Words meant for other targets are ignored.
pub fn isa_for_file(cfg: &IsaConfig, file: &TestFile) -> Result<Box<dyn TargetIsa>, String> {
    let t = file
        .targets
        .iter()
        .find(|t| Arch::parse(&t.isa) == Some(cfg.arch));
    let settings = t.map_or(&file.settings, |t| &t.settings);
    let mut b = IsaBuilder::new(cfg.arch);
    if cfg.host_features && Arch::host() == Some(cfg.arch) {
        b = b.with_isa_flags(IsaFlags::host().unwrap_or_else(|| IsaFlags::baseline(cfg.arch)));
    }
    // Words meant for other targets or unknown to Kiln are ignored here.
    let set_lines = settings
        .iter()
        .map(|s| (s.name.as_str(), s.value.as_deref()));
    b.settings(set_lines, Unknown::Ignore)
        .map_err(|e| e.to_string())?;
    if let Some(o) = &cfg.opt_level {
        b.flags
            .set("opt_level", Some(o))
            .map_err(|e| e.to_string())?;
    }
    if let Some(v) = cfg.verify {
        b.flags.enable_verifier = v;
    }
    for w in &cfg.extra_sets {
        let (n, v) = split_word(w);
        b.flags.set(n, v).map_err(|e| format!("--set {w}: {e}"))?;
    }
    if let Some(t) = t {
        b.target_words(&t.flags, Unknown::Ignore)
            .map_err(|e| e.to_string())?;
    }
    b.finish().map_err(|e| match e {
        CodegenError::Unsupported { what } => format!("unsupported: {what}"),
        e => e.to_string(),
    })
}

/// Runs `f` on a thread with a large stack (JIT code may recurse deeply).
pub fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(kiln::filetests::run::RUN_STACK_BYTES)
            .spawn_scoped(s, f)
            .map_err(|e| format!("cannot start a thread: {e}"))?
            .join()
            .map_err(|_| "panic".to_string())
    })
}
