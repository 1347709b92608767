//! Helpers shared by the commands: input files, usage errors, ISAs.

use kiln::codegen::isa::builder::split_word;
use kiln::codegen::isa::{IsaBuilder, TargetIsa, Unknown};
use kiln::codegen::result::CodegenError;
use kiln::codegen::settings::{Arch, Flags, IsaFlags, SettingError};
use kiln::ir::Function;
use kiln::reader::TestFile;
use std::path::Path;
use std::process::ExitCode;

/// Replaces each `@LIST` argument by the files it names and each directory
/// by the `.clif` files under it (see `kiln_filetests::collect_files`);
/// other arguments stay as they are, so each command reports a missing or
/// unreadable file in its own way.
pub fn expand_lists(args: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for a in args {
        if a.starts_with('@') || Path::new(a).is_dir() {
            let files = collect_files(std::slice::from_ref(a))?;
            out.extend(files.into_iter().map(|p| p.display().to_string()));
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// Prints a usage error (`kiln CMD: E`) and gives exit status 2.
pub fn usage_error(cmd: &str, e: &str) -> ExitCode {
    eprintln!("kiln {cmd}: {e}");
    ExitCode::from(2)
}

pub use kiln::filetests::collect_files;

/// Reads and parses a file.
pub fn load(path: &Path) -> Result<(TestFile, usize), String> {
    load_with(path, None)
}

/// Reads and parses a file; signatures that name no calling convention
/// get `default_call_conv` when given (a `--target` triple's).
pub fn load_with(
    path: &Path,
    default_call_conv: Option<kiln::ir::CallConv>,
) -> Result<(TestFile, usize), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let name = path.display().to_string();
    kiln::reader::parse_test_with_call_conv(&text, &name, default_call_conv)
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
    /// `--set` words, applied last (shared settings, else ISA flags of the
    /// target: [`apply_set_word`]).
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
    // `--set` words that name ISA flags (`has_lse`) apply after the
    // target line's, like the shared ones after the `set` lines.
    let mut isa_sets = Vec::new();
    for w in &cfg.extra_sets {
        let mut scratch = b.isa_flags.clone();
        if apply_set_word(&mut b.flags, &mut scratch, w)? == SetWord::Isa {
            isa_sets.push(w);
        }
    }
    if let Some(t) = t {
        b.target_words(&t.flags, Unknown::Ignore)
            .map_err(|e| e.to_string())?;
    }
    for w in isa_sets {
        let (n, v) = split_word(w);
        b.isa_flags
            .set(n, v)
            .map_err(|e| format!("--set {w}: {e}"))?;
    }
    b.finish().map_err(|e| match e {
        CodegenError::Unsupported { what } => format!("unsupported: {what}"),
        e => e.to_string(),
    })
}

/// Where a `--set` word went ([`apply_set_word`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetWord {
    /// A shared setting (`enable_verifier`, `preserve_frame_pointers`...).
    Shared,
    /// An ISA flag of the target (`has_lse`, `has_bmi2`, `sign_return_address`).
    Isa,
}

/// Applies one `--set NAME[=VALUE]` word: a shared setting if Kiln has one
/// by that name, else an ISA flag of `isa`'s target (Cranelift's
/// `clif-util --set` routes the words its shared settings do not know to
/// the target's ISA flags the same way). A name that is neither is an
/// error naming it and the target; a bad value is an error naming it.
pub fn apply_set_word(flags: &mut Flags, isa: &mut IsaFlags, w: &str) -> Result<SetWord, String> {
    let (n, v) = split_word(w);
    match flags.set(n, v) {
        Ok(()) => Ok(SetWord::Shared),
        Err(SettingError::UnknownSetting(_)) => match isa.set(n, v) {
            Ok(()) => Ok(SetWord::Isa),
            Err(SettingError::UnknownSetting(_)) => Err(format!(
                "--set {w}: unknown setting `{n}` (neither a shared setting nor an {} ISA flag)",
                isa.arch().name()
            )),
            Err(e) => Err(format!("--set {w}: {e}")),
        },
        Err(e) => Err(format!("--set {w}: {e}")),
    }
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
