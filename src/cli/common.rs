//! Helpers shared by the commands: arguments, input files, ISAs.

use kiln::codegen::isa::{lookup, TargetIsa};
use kiln::codegen::result::CodegenError;
use kiln::codegen::settings::{Arch, Flags, IsaFlags};
use kiln::ir::Function;
use kiln::reader::TestFile;
use std::path::{Path, PathBuf};

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

/// Expands FILES arguments: `.clif` files, folders (recursive, sorted) and
/// `@list.txt` files (one path per line, `#` comments; relative paths are
/// tried against the list's folder and then its ancestors, as peer-bench
/// does).
pub fn collect_files(args: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for a in args {
        if let Some(list) = a.strip_prefix('@') {
            let list = PathBuf::from(list);
            let text = std::fs::read_to_string(&list)
                .map_err(|e| format!("reading list file {}: {e}", list.display()))?;
            let base = list.parent().unwrap_or(Path::new(".")).to_path_buf();
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let p = PathBuf::from(line);
                let resolved = if p.is_absolute() {
                    p
                } else {
                    let mut found = None;
                    let mut dir = Some(base.as_path());
                    while let Some(d) = dir {
                        let cand = d.join(&p);
                        if cand.exists() {
                            found = Some(cand);
                            break;
                        }
                        dir = d.parent();
                    }
                    found.ok_or_else(|| {
                        format!("{}: listed file {} not found", list.display(), p.display())
                    })?
                };
                push_path(&resolved, &mut out)?;
            }
        } else {
            push_path(Path::new(a), &mut out)?;
        }
    }
    Ok(out)
}

fn push_path(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if p.is_dir() {
        let mut v = Vec::new();
        kiln::filetests::collect_clif(p, &mut v);
        out.extend(v);
        Ok(())
    } else if p.exists() {
        out.push(p.to_path_buf());
        Ok(())
    } else {
        Err(format!("no such file or directory: {}", p.display()))
    }
}

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

fn split_word(w: &str) -> (&str, Option<&str>) {
    match w.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (w, None),
    }
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
    let mut flags = Flags::default();
    for s in settings {
        let _ = flags.set(&s.name, s.value.as_deref());
    }
    if let Some(o) = &cfg.opt_level {
        flags.set("opt_level", Some(o)).map_err(|e| e.to_string())?;
    }
    if let Some(v) = cfg.verify {
        flags.enable_verifier = v;
    }
    for w in &cfg.extra_sets {
        let (n, v) = split_word(w);
        flags.set(n, v).map_err(|e| format!("--set {w}: {e}"))?;
    }
    let mut isa_flags = if cfg.host_features && Arch::host() == Some(cfg.arch) {
        IsaFlags::host().unwrap_or_else(|| IsaFlags::baseline(cfg.arch))
    } else {
        IsaFlags::baseline(cfg.arch)
    };
    if let Some(t) = t {
        for w in &t.flags {
            let (n, v) = split_word(w);
            let _ = isa_flags.set(n, v);
        }
    }
    lookup(flags, isa_flags).map_err(|e| match e {
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
