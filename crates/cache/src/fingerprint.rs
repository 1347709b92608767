//! The compiler fingerprint: a hash of every source file that decides the
//! machine code Kiln emits, computed at build time by `build.rs` (which
//! includes this file) and exported as `KILN_COMPILER_FINGERPRINT`. It is
//! part of [`crate::COMPILER_VERSION`], so a build whose code generator
//! differs in any way (a lowering rule, the rule compiler, the IR, a
//! dependency version in `Cargo.lock`) reads the entries of another build
//! as stale, and never serves their code.
//!
//! What it covers is [`INPUTS`]: source folders and files, relative to the
//! workspace root. Tests, benches and docs are left out (they do not change
//! code). Every input must exist in the workspace (a test checks it): cargo
//! reruns a build script on every build while a path it watches is
//! missing. Add a new code-deciding file or folder here (a build script of
//! `kiln-ir`, say). Outside the workspace (a packaged crate) missing inputs
//! hash as missing, so the fingerprint is always defined.
//!
//! The hash is FNV-1a (128 bits) over each file's relative path, length and
//! bytes, in sorted path order: a change detector, not a defence against
//! someone crafting collisions. Only std is used, so `build.rs` can include
//! this file as a module.

use std::path::{Path, PathBuf};

/// What decides the code, relative to the workspace root.
pub const INPUTS: &[&str] = &[
    "crates/codegen/src",
    "crates/codegen/build.rs",
    "crates/codegen/Cargo.toml",
    "crates/isle/src",
    "crates/isle/build.rs",
    "crates/isle/Cargo.toml",
    "crates/ir/src",
    "crates/ir/Cargo.toml",
    // The mid-end (opt_level=speed) rewrites functions before lowering.
    "crates/midend/src",
    "crates/midend/build.rs",
    "crates/midend/Cargo.toml",
    "isle-rules",
    // Dependency versions (regalloc2 decides register allocation).
    "Cargo.lock",
];

/// Incremental FNV-1a, 128 bits.
pub struct Fnv128(u128);

impl Default for Fnv128 {
    fn default() -> Self {
        Fnv128(0x6c62272e07bb014262b821756295c58d)
    }
}

impl Fnv128 {
    /// Hashes `bytes` into the state.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(0x0000000001000000000000000000013b);
        }
    }

    /// The hash of everything written so far.
    pub fn finish(&self) -> u128 {
        self.0
    }
}

/// Every file under `path` (or `path` itself), sorted.
fn files_under(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for e in entries {
            files_under(&e, out)?;
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// The fingerprint of the inputs under `root`, as 16 hex digits (the
/// upper 64 bits of the hash).
pub fn compute(root: &Path, inputs: &[&str]) -> std::io::Result<String> {
    let mut h = Fnv128::default();
    for input in inputs {
        let base = root.join(input);
        h.write(input.as_bytes());
        if !base.exists() {
            h.write(b"\0missing\0");
            continue;
        }
        let mut files = Vec::new();
        files_under(&base, &mut files)?;
        for f in files {
            let rel = f.strip_prefix(root).unwrap_or(&f);
            // Separators normalised, so the same tree hashes the same on
            // every host.
            let rel = rel.to_string_lossy().replace('\\', "/");
            let bytes = std::fs::read(&f)?;
            h.write(&(rel.len() as u64).to_le_bytes());
            h.write(rel.as_bytes());
            h.write(&(bytes.len() as u64).to_le_bytes());
            h.write(&bytes);
        }
    }
    Ok(format!("{:016x}", (h.finish() >> 64) as u64))
}
