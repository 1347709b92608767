//! The command line's grammar, on `clap` (derive): every subcommand, its
//! options, help text with an example, and the environment variables.
//!
//! Parsing happens here once; a usage error (unknown option, kind,
//! target, missing file) exits with status 2 and names the valid choices.
//! The options that mean the same in several commands (`--target`,
//! `--opt`, `--set`, the cache options) are defined once below and
//! flattened into each command. Commands whose bodies still take an
//! argument vector get one rebuilt from the parsed values
//! ([`CompileArgs::to_argv`] and friends): only values clap accepted
//! reach them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use kiln::codegen::settings::Arch;
use std::path::PathBuf;

/// The environment variables, listed in the help of the top level and of
/// each command that compiles.
macro_rules! env_help {
    () => {
        "\
Environment:
  KILN_CACHE_DIR     the on-disk cache folder (default: $XDG_CACHE_HOME/kiln,
                     else $HOME/.cache/kiln)
  KILN_CACHE_BUDGET  the cache's size budget in bytes, or with a K, M or G
                     suffix (default 1G); --cache-budget overrides it
  KILN_CACHE_URL     a shared cache server, redis://HOST:PORT/DB (as --cache)
  KILN_CACHE_SECRET  (or KILN_CACHE_SECRET_FILE) authenticates cache entries
  KILN_CACHE_CONNECT_TIMEOUT_MS, KILN_CACHE_TIMEOUT_MS
                     the shared server's timeouts
  KILN_TEST_BLESS    set to 1: `kiln test` rewrites failing `test compile`
                     expectations (precise-output) with the actual output"
    };
}

/// The top level's help epilogue.
pub const ENV_HELP: &str = concat!(
    env_help!(),
    "\n\nExit status: 0 success, 1 a failure (a test, a compile, a run line), 2 a usage error."
);

#[derive(Parser, Debug)]
#[command(
    name = "kiln",
    version,
    about = "Kiln: a caching code generator for Cranelift IR (CLIF)",
    after_help = ENV_HELP,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse every function and print it back.
    #[command(after_help = concat!(
        "Example:\n  kiln cat cranelift-like-ir/examples/gcd.clif\n\n",
        "Exit status: 0 success, 1 a parse error (printed with its location), 2 a usage error."
    ))]
    Cat(CatArgs),
    /// Run filetests in files, folders or @lists; print PASS/FAIL/SKIP per file.
    #[command(after_help = TEST_HELP)]
    Test(TestArgs),
    /// Compile a file's functions for the host and run its `; run:` lines.
    #[command(after_help = concat!(
        "Example:\n  kiln run cranelift-like-ir/examples/gcd.clif\n\n",
        "Exit status: 0 success, 1 a run line failed or a file could not be compiled, 2 a usage error.\n\n",
        env_help!()
    ))]
    Run(RunArgs),
    /// Compile every function; print code sizes, disassembly or an ELF object.
    #[command(after_help = concat!(
        "Example:\n  kiln compile --target x86_64 --opt speed -D cranelift-like-ir/examples/gcd.clif\n\n",
        "Settings: the file's `set` lines and its first `target` line for the architecture,\n",
        "then --opt and --set. -o writes one relocatable ELF object (docs/module.md); nothing\n",
        "is written if anything failed.\n\n",
        "Exit status: 0 success, 1 a function failed to compile, 2 a usage error.\n\n",
        env_help!()
    ))]
    Compile(CompileArgs),
    /// Benchmarks printing peer-bench's RESULT lines.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print each function's stencil key (x86_64, default flags).
    #[command(after_help = "Example:\n  kiln key cranelift-like-ir/examples/gcd.clif")]
    Key(KeyArgs),
    /// Inspect or empty the on-disk (and shared) compilation cache.
    Cache(CacheArgs),
    /// Differential fuzzing: native code vs the interpreter on random programs.
    #[command(after_help = concat!(
        "Example:\n  kiln fuzz --seconds 60 --seed 7 --out fuzz-failures\n\n",
        "Each failure is written to --out as a `test run` file that `kiln test` and\n",
        "`kiln reduce` take. Exit status: 0 nothing failed, 1 a failure, 2 a usage error."
    ))]
    Fuzz(FuzzArgs),
    /// Shrink a failing test file while its failure reproduces.
    #[command(after_help = concat!(
        "Example:\n  kiln reduce --out small.clif fuzz-failures/fail-0.clif\n\n",
        "Exit status: 0 reduced, 1 FILE does not fail, 2 a usage error."
    ))]
    Reduce(ReduceArgs),
}

/// `kiln fuzz --opt`: one level or `both` (none and speed).
#[derive(ValueEnum, Clone, Copy, Debug)]
#[value(rename_all = "snake_case")]
pub enum FuzzOpt {
    None,
    Speed,
    SpeedAndSize,
    Both,
}

#[derive(Args, Debug)]
pub struct FuzzArgs {
    /// Target architecture or triple (Kiln fuzzes x86_64 only).
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<Target>,
    /// Optimization level(s) compared with the interpreter [default: both].
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub opt: Option<FuzzOpt>,
    /// A setting (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// How long to run [default: 10].
    #[arg(long, value_name = "N")]
    pub seconds: Option<f64>,
    /// The first seed (decimal or 0x hex) [default: 1].
    #[arg(long, value_name = "S")]
    pub seed: Option<String>,
    /// Stop after this many programs.
    #[arg(long, value_name = "N")]
    pub programs: Option<String>,
    /// Stop at the N-th failure.
    #[arg(long, value_name = "N")]
    pub stop_after: Option<String>,
    /// Folder for failures [default: fuzz-failures].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the full opcode coverage table.
    #[arg(long)]
    pub coverage: bool,
}

impl FuzzArgs {
    pub fn to_argv(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(t) = self.target {
            v.extend(["--target".into(), t.arch.name().into()]);
        }
        if let Some(o) = self.opt {
            let name = match o {
                FuzzOpt::None => "none",
                FuzzOpt::Speed => "speed",
                FuzzOpt::SpeedAndSize => "speed_and_size",
                FuzzOpt::Both => "both",
            };
            v.extend(["--opt".into(), name.into()]);
        }
        for s in &self.sets {
            v.extend(["--set".into(), s.clone()]);
        }
        if let Some(n) = self.seconds {
            v.extend(["--seconds".into(), n.to_string()]);
        }
        for (name, val) in [
            ("--seed", &self.seed),
            ("--programs", &self.programs),
            ("--stop-after", &self.stop_after),
        ] {
            if let Some(x) = val {
                v.extend([name.into(), x.clone()]);
            }
        }
        if let Some(o) = &self.out {
            v.extend(["--out".into(), o.display().to_string()]);
        }
        if self.coverage {
            v.push("--coverage".into());
        }
        v
    }
}

#[derive(Args, Debug)]
pub struct ReduceArgs {
    /// Write the reduced file here instead of standard output.
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// The most reproduction checks to try [default: 20000].
    #[arg(long, value_name = "N")]
    pub max_checks: Option<String>,
    /// The failing test file.
    pub file: String,
}

impl ReduceArgs {
    pub fn to_argv(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(o) = &self.out {
            v.extend(["--out".into(), o.display().to_string()]);
        }
        if let Some(n) = &self.max_checks {
            v.extend(["--max-checks".into(), n.clone()]);
        }
        v.push("--".into());
        v.push(self.file.clone());
        v
    }
}

const TEST_HELP: &str = concat!(
    "\
Examples:
  kiln test ../shared/clif/runtests
  kiln test --test run --target x86_64 @../shared/clif/scalar-list.txt
  kiln test --format json cranelift-like-ir/cat

A file is PASS when every test kind it lists ran and passed, FAIL if any
failed, otherwise SKIP with the reason (docs/testing.md). The log ends with
`N passed, N failed, N skipped`.

Exit status: 0 nothing failed, 1 a file failed, 2 a usage error.

",
    env_help!()
);

/// Files, folders (every `.clif` under them) and `@LIST` files (one path a
/// line, `#` comments).
#[derive(Args, Debug, Clone)]
pub struct Inputs {
    /// FILE, DIR or @LIST (a file naming one path a line).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
}

/// A target: a plain architecture name or a triple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub arch: Arch,
}

/// The triples and names `--target` accepts.
pub const TARGET_CHOICES: &str = "x86_64, aarch64, x86_64-unknown-linux-gnu, \
aarch64-unknown-linux-gnu, aarch64-apple-darwin";

/// Parses `--target`: `x86_64`, `aarch64`, or a triple `target-lexicon`
/// reads whose architecture Kiln has a backend for and whose operating
/// system uses the calling convention Kiln implements (System V on
/// x86-64, AAPCS64 on Linux; Apple's AArch64 ABI is AAPCS64 apart from
/// variadic calls and stack argument packing, neither of which Kiln's
/// filetests use, so it maps to the same backend).
pub fn parse_target(s: &str) -> Result<Target, String> {
    if let Some(arch) = Arch::parse(s) {
        return Ok(Target { arch });
    }
    use std::str::FromStr;
    use target_lexicon::{Architecture, Triple};
    let bad = || format!("unknown target `{s}` (valid: {TARGET_CHOICES})");
    let t = Triple::from_str(s).map_err(|_| bad())?;
    let arch = match t.architecture {
        Architecture::X86_64 => Arch::X86_64,
        Architecture::Aarch64(_) => Arch::Aarch64,
        _ => return Err(bad()),
    };
    let os_ok = matches!(
        (arch, t.operating_system),
        (_, target_lexicon::OperatingSystem::Linux)
            | (Arch::Aarch64, target_lexicon::OperatingSystem::Darwin(_))
            | (Arch::Aarch64, target_lexicon::OperatingSystem::MacOSX(_))
    );
    if !os_ok {
        return Err(bad());
    }
    Ok(Target { arch })
}

/// `--opt` levels.
#[derive(ValueEnum, Clone, Copy, Debug)]
#[value(rename_all = "snake_case")]
pub enum OptLevel {
    None,
    Speed,
    SpeedAndSize,
}

impl OptLevel {
    pub fn name(self) -> &'static str {
        match self {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        }
    }
}

/// `--target`, `--opt`, `--set`: the same in every compiling command.
#[derive(Args, Debug, Clone)]
pub struct CodegenOpts {
    /// Target architecture or triple [possible values: x86_64, aarch64,
    /// x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, aarch64-apple-darwin].
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<Target>,
    /// Optimization level, applied after the file's `set` lines.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub opt: Option<OptLevel>,
    /// A setting, applied last (repeatable), e.g. `--set enable_verifier=false`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
}

impl CodegenOpts {
    fn push_argv(&self, v: &mut Vec<String>) {
        if let Some(t) = self.target {
            v.extend(["--target".into(), t.arch.name().into()]);
        }
        if let Some(o) = self.opt {
            v.extend(["--opt".into(), o.name().into()]);
        }
        for s in &self.sets {
            v.extend(["--set".into(), s.clone()]);
        }
    }
}

/// The on-disk cache options of `test`, `run` and `compile`.
#[derive(Args, Debug, Clone)]
pub struct CacheOpts {
    /// Compile without any cache (on-disk or shared).
    #[arg(long)]
    pub no_cache: bool,
    /// A shared cache server besides the on-disk cache (default:
    /// $KILN_CACHE_URL).
    #[arg(long = "cache", value_name = "redis://HOST:PORT/DB")]
    pub url: Option<String>,
    /// The cache's size budget: bytes, or with a K, M or G suffix; least
    /// recently used entries go beyond it.
    #[arg(long, value_name = "SIZE", env = "KILN_CACHE_BUDGET", value_parser = parse_size)]
    pub cache_budget: Option<u64>,
}

impl CacheOpts {
    /// Makes the budget the one [`kiln::cli::cache::open_stores`] uses.
    pub fn apply(&self) {
        if let Some(b) = self.cache_budget {
            kiln::cli::cache::set_budget(b);
        }
    }

    /// The options as the commands' own argument vectors spell them.
    pub fn push_argv(&self, v: &mut Vec<String>) {
        if self.no_cache {
            v.push("--no-cache".into());
        }
        if let Some(u) = &self.url {
            v.extend(["--cache".into(), u.clone()]);
        }
    }

    /// For [`kiln::cli::cache::open_stores`] (the URL defaults to
    /// `$KILN_CACHE_URL`).
    pub fn cache_args(&self) -> kiln::cli::cache::CacheArgs {
        let url = self.url.clone().or_else(|| {
            std::env::var(kiln::cli::cache::CACHE_URL_ENV)
                .ok()
                .filter(|u| !u.is_empty())
        });
        kiln::cli::cache::CacheArgs {
            no_cache: self.no_cache,
            url,
        }
    }
}

/// A count of at least 1 (`--iters`, `--runs`).
pub fn parse_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

/// `123`, `64K`, `512M`, `2G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 500M, 2G, 1048576)"))?;
    let bytes = n
        .checked_mul(mul)
        .ok_or_else(|| format!("`{s}` is too large"))?;
    if bytes == 0 {
        return Err(
            "the cache budget must be above 0 (use --no-cache to turn the cache off)".into(),
        );
    }
    Ok(bytes)
}

#[derive(Args, Debug)]
pub struct CatArgs {
    #[command(flatten)]
    pub inputs: Inputs,
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(flatten)]
    pub inputs: Inputs,
}

/// The test kinds `--test` accepts: the ones Kiln implements.
pub const TEST_KINDS: [&str; 7] = [
    "cat",
    "verifier",
    "interpret",
    "run",
    "compile",
    "cache",
    "optimize",
];

/// `kiln test --format`.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// PASS/FAIL/SKIP lines and the summary (the default).
    #[default]
    Text,
    /// One JSON object a line per file: path, verdict, reason, duration_ms.
    Json,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Run only this test kind of each file.
    #[arg(long = "test", value_name = "KIND",
          value_parser = clap::builder::PossibleValuesParser::new(TEST_KINDS))]
    pub kind: Option<String>,
    /// `test run`: only the `target` lines of this architecture (or triple).
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<Target>,
    /// Optimization level over each file's settings (`test run`,
    /// `test compile`, `test optimize`...).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub opt: Option<OptLevel>,
    /// A setting over each file's, applied after --opt (repeatable); an
    /// unknown name or bad value is refused.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub cache: CacheOpts,
    #[command(flatten)]
    pub inputs: Inputs,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub cache: CacheOpts,
    /// FILE or @LIST.
    #[command(flatten)]
    pub inputs: Inputs,
}

#[derive(Args, Debug)]
pub struct CompileArgs {
    #[command(flatten)]
    pub codegen: CodegenOpts,
    /// Print the disassembly with relocations and trap sites.
    #[arg(short = 'D', long = "disassemble")]
    pub disas: bool,
    /// Print each function as the backend lowers it (after the mid-end
    /// when opt_level is not none).
    #[arg(short = 'p', long = "print-ir")]
    pub print_ir: bool,
    /// Write every function into one relocatable ELF object.
    #[arg(short = 'o', long = "output", value_name = "OUT.o")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub cache: CacheOpts,
    #[command(flatten)]
    pub inputs: Inputs,
}

impl CompileArgs {
    /// The argument vector `cli::compile::main` reads.
    pub fn to_argv(&self, files: Vec<String>) -> Vec<String> {
        let mut v = Vec::new();
        self.cache.push_argv(&mut v);
        self.codegen.push_argv(&mut v);
        if self.disas {
            v.push("-D".into());
        }
        if self.print_ir {
            v.push("-p".into());
        }
        if let Some(o) = &self.output {
            v.extend(["-o".into(), o.display().to_string()]);
        }
        v.push("--".into());
        v.extend(files);
        v
    }
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Compile throughput, measured like `peer-bench compile`.
    #[command(after_help = concat!(
        "Example:\n  kiln bench compile --iters 5 @../shared/clif/scalar-list.txt\n\n",
        "Each function is compiled once (failures, code size), then N timed iterations\n",
        "compile every function that succeeded (only the compile call is timed). The\n",
        "verifier is off unless --verify. Files whose target lines do not name the\n",
        "architecture are skipped unless --all-files. Unsupported functions count as failed."
    ))]
    Compile(BenchCompileArgs),
    /// JIT kernels: check their run lines, then time batches of calls.
    #[command(after_help = "Example:\n  kiln bench kernels --runs 11 ../shared/clif/kernels")]
    Kernels(BenchKernelsArgs),
    /// Cache hit/miss figures (peer-bench's `RESULT cache` line).
    #[command(after_help = "Example:\n  kiln bench cache --store memory ../shared/clif/runtests")]
    Cache(BenchCacheArgs),
    /// The stencil key alone: hot, fresh clone, bytes.
    #[command(after_help = "Example:\n  kiln bench key ../shared/clif/runtests")]
    Key(BenchCacheArgs),
}

#[derive(Args, Debug)]
pub struct BenchCompileArgs {
    #[command(flatten)]
    pub codegen: CodegenOpts,
    /// Timed iterations (at least 1).
    #[arg(long, default_value_t = 5, value_parser = parse_count)]
    pub iters: u64,
    /// Start from the host's CPU features instead of the baseline.
    #[arg(long)]
    pub host_features: bool,
    /// Leave the verifier on.
    #[arg(long)]
    pub verify: bool,
    /// Also compile files whose target lines name other architectures.
    #[arg(long)]
    pub all_files: bool,
    /// List skipped files, parse and compile errors.
    #[arg(short, long)]
    pub verbose: bool,
    #[command(flatten)]
    pub inputs: Inputs,
}

impl BenchCompileArgs {
    pub fn to_argv(&self) -> Vec<String> {
        let mut v = vec!["--iters".to_string(), self.iters.to_string()];
        self.codegen.push_argv(&mut v);
        for (on, name) in [
            (self.host_features, "--host-features"),
            (self.verify, "--verify"),
            (self.all_files, "--all-files"),
            (self.verbose, "--verbose"),
        ] {
            if on {
                v.push(name.into());
            }
        }
        v.push("--".into());
        v.extend(self.inputs.paths.iter().cloned());
        v
    }
}

#[derive(Args, Debug)]
pub struct BenchKernelsArgs {
    /// Target architecture or triple (default: the host). A target this
    /// host cannot run (aarch64 on x86-64) is checked under qemu, untimed.
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<Target>,
    /// Optimization level.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub opt: Option<OptLevel>,
    /// Timed runs per kernel (the median is reported).
    #[arg(long, default_value_t = 11, value_parser = parse_count)]
    pub runs: u64,
    /// The shortest timed batch, in milliseconds.
    #[arg(long, default_value_t = 20.0)]
    pub min_batch_ms: f64,
    /// Kernel files, folders or @lists (default: ../shared/clif/kernels).
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
}

impl BenchKernelsArgs {
    pub fn to_argv(&self) -> Vec<String> {
        let mut v = vec![
            "--runs".to_string(),
            self.runs.to_string(),
            "--min-batch-ms".into(),
            self.min_batch_ms.to_string(),
        ];
        if let Some(o) = self.opt {
            v.extend(["--opt".into(), o.name().into()]);
        }
        if let Some(t) = self.target {
            v.extend(["--target".into(), t.arch.name().into()]);
        }
        v.push("--".into());
        v.extend(self.paths.iter().cloned());
        v
    }
}

/// `--store` of `bench cache`: `memory`, `dir` or a `redis://` URL.
pub fn parse_store(s: &str) -> Result<String, String> {
    match s {
        "memory" | "dir" | "directory" => Ok(s.to_string()),
        u if u.starts_with("redis://") => Ok(u.to_string()),
        _ => Err(format!(
            "unknown store `{s}` (valid: memory, dir, redis://HOST:PORT/DB)"
        )),
    }
}

#[derive(Args, Debug)]
pub struct BenchCacheArgs {
    /// Only x86_64 is measured.
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<Target>,
    /// Optimization level.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub opt: Option<OptLevel>,
    /// A setting (repeatable).
    #[arg(long = "set", value_name = "NAME[=VALUE]")]
    pub sets: Vec<String>,
    /// Timed iterations (at least 1).
    #[arg(long, value_parser = parse_count)]
    pub iters: Option<u64>,
    /// Leave the verifier on.
    #[arg(long)]
    pub verify: bool,
    /// Also use files whose target lines name other architectures.
    #[arg(long)]
    pub all_files: bool,
    /// Compile with a mock backend: what remains is the cache's own cost.
    #[arg(long)]
    pub mock_backend: bool,
    /// The store measured: memory, dir or redis://HOST:PORT/DB (default:
    /// $KILN_CACHE_URL if set, else memory).
    #[arg(long, alias = "cache", value_name = "STORE", value_parser = parse_store)]
    pub store: Option<String>,
    #[command(flatten)]
    pub inputs: Inputs,
}

impl BenchCacheArgs {
    pub fn to_argv(&self) -> Result<Vec<String>, String> {
        let mut v = Vec::new();
        if let Some(t) = self.target {
            if t.arch != Arch::X86_64 {
                return Err(format!(
                    "--target {}: only x86_64 is measured",
                    t.arch.name()
                ));
            }
        }
        if let Some(o) = self.opt {
            v.extend(["--opt".into(), o.name().into()]);
        }
        for s in &self.sets {
            v.extend(["--set".into(), s.clone()]);
        }
        if let Some(n) = self.iters {
            v.extend(["--iters".into(), n.to_string()]);
        }
        for (on, name) in [
            (self.verify, "--verify"),
            (self.all_files, "--all-files"),
            (self.mock_backend, "--mock-backend"),
        ] {
            if on {
                v.push(name.into());
            }
        }
        if let Some(s) = &self.store {
            v.extend(["--store".into(), s.clone()]);
        }
        v.extend(self.inputs.paths.iter().cloned());
        Ok(v)
    }
}

#[derive(Args, Debug)]
pub struct CacheArgs {
    /// Also the shared server (default: $KILN_CACHE_URL).
    #[arg(long = "cache", global = true, value_name = "redis://HOST:PORT/DB")]
    pub url: Option<String>,
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Where the cache is, its entries and bytes, and the lifetime counters.
    #[command(after_help = "Example:\n  kiln cache stats")]
    Stats {
        /// Reset the lifetime counters (entries are kept).
        #[arg(short, long)]
        zero: bool,
        /// The budget to report (as the compiling commands' --cache-budget).
        #[arg(long, value_name = "SIZE", env = "KILN_CACHE_BUDGET", value_parser = parse_size)]
        cache_budget: Option<u64>,
    },
    /// Remove every entry (all format versions); counters are kept.
    #[command(after_help = "Example:\n  kiln cache clear")]
    Clear,
}
