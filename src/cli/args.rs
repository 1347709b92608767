//! The command line's grammar, on `clap` (derive): every subcommand, its
//! options, help text with an example, and the environment variables.
//!
//! Parsing happens here once, and nowhere else: each command's handler
//! takes its parsed struct. A usage error (unknown option, kind, target,
//! missing file) exits with status 2 and names the valid choices. The
//! options that mean the same in several commands are defined once below
//! ([`TargetArg`], [`OptArg`], [`SetArgs`], [`CodegenOpts`] for the three,
//! [`CacheUrl`], [`CacheBudget`], [`CacheOpts`]) and flattened into each
//! command. `kiln fuzz --opt` is its own: it also takes `both`.

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
        "Example:\n  kiln fuzz --seconds 60 --seed 7 --out fuzz-failures\n",
        "  kiln fuzz --target aarch64 --set has_lse=true --seconds 60\n\n",
        "--set takes shared settings and, as clif-util does, the target's ISA flags\n",
        "(has_lse, has_bmi2, ...); failure files keep the flags on their `target` line.\n",
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

/// `kiln fuzz --opt`: one level or `both` (none and speed). Its own
/// option, not [`OptArg`]: it takes one more value.
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
    #[command(flatten)]
    pub target: TargetArg,
    /// Optimization level(s) compared with the interpreter [default: both].
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub opt: Option<FuzzOpt>,
    #[command(flatten)]
    pub set: SetArgs,
    /// How long to run.
    #[arg(long, value_name = "N", default_value_t = 10.0, value_parser = parse_duration)]
    pub seconds: f64,
    /// The first seed (decimal or 0x hex).
    #[arg(long, value_name = "S", default_value = "1", value_parser = parse_u64)]
    pub seed: u64,
    /// Stop after this many programs.
    #[arg(long, value_name = "N", value_parser = parse_u64)]
    pub programs: Option<u64>,
    /// Stop at the N-th failure.
    #[arg(long, value_name = "N", value_parser = parse_u64)]
    pub stop_after: Option<u64>,
    /// Folder for failures.
    #[arg(long, value_name = "DIR", default_value = "fuzz-failures")]
    pub out: PathBuf,
    /// Print the full opcode coverage table.
    #[arg(long)]
    pub coverage: bool,
    /// Compile with this machine's ISA features (BMI2, AVX, ...) instead of
    /// the target's baseline, as `kiln bench kernels` does; the host must
    /// be the target.
    #[arg(long)]
    pub host_features: bool,
}

#[derive(Args, Debug)]
pub struct ReduceArgs {
    /// Write the reduced file here instead of standard output.
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// The most reproduction checks to try.
    #[arg(long, value_name = "N", default_value = "20000", value_parser = parse_u64)]
    pub max_checks: u64,
    /// The failing test file.
    pub file: String,
}

/// A number, decimal or `0x` hex (`--seed`, `--programs`...).
pub fn parse_u64(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("`{s}` is not a number"))
}

const TEST_HELP: &str = concat!(
    "\
Examples:
  kiln test ../shared/clif/runtests
  kiln test --test run --target x86_64 @../shared/clif/scalar-list.txt
  kiln test --format json cranelift-like-ir/cat

A file is PASS when every test kind it lists ran and passed, FAIL if any
failed, otherwise SKIP with the reason (docs/testing.md). The log ends with
`N passed, N failed, N skipped`. --format json streams one object a line
per file (path, verdict, reason, duration_ms).

--target keeps only the `test run` target lines of that architecture (an
Apple triple is refused: `test run` runs Linux code); --opt, then --set,
apply over each file's settings; a --set word that is an ISA flag
(`has_avx`, `has_lse`, `skylake`) joins every target line whose backend
knows it.

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub arch: Arch,
    /// The calling convention of signatures that name none, when the
    /// triple's default differs from the one Kiln takes from a file's
    /// `target` lines (`apple_aarch64` for an Apple AArch64 triple, as
    /// Cranelift's `CallConv::triple_default`); `None` otherwise.
    pub default_call_conv: Option<kiln::ir::CallConv>,
    /// The name as given (for messages).
    pub name: String,
}

/// The triples and names `--target` accepts.
pub const TARGET_CHOICES: &str = "x86_64, aarch64, x86_64-unknown-linux-gnu, \
aarch64-unknown-linux-gnu, aarch64-apple-darwin (or another Apple AArch64 triple)";

/// Parses `--target`: `x86_64`, `aarch64`, or a triple `target-lexicon`
/// reads whose architecture Kiln has a backend for and whose operating
/// system uses a calling convention Kiln implements: System V on Linux
/// (x86-64 and AArch64), and Apple's AArch64 variant on Apple systems
/// (`target-lexicon`'s `default_calling_convention`, as Cranelift), which
/// becomes the default convention of the files' signatures.
pub fn parse_target(s: &str) -> Result<Target, String> {
    let name = s.to_string();
    if let Some(arch) = Arch::parse(s) {
        return Ok(Target {
            arch,
            default_call_conv: None,
            name,
        });
    }
    use std::str::FromStr;
    use target_lexicon::{Architecture, CallingConvention, OperatingSystem, Triple};
    let bad = || format!("unknown target `{s}` (valid: {TARGET_CHOICES})");
    let t = Triple::from_str(s).map_err(|_| bad())?;
    let arch = match t.architecture {
        Architecture::X86_64 => Arch::X86_64,
        Architecture::Aarch64(_) => Arch::Aarch64,
        _ => return Err(bad()),
    };
    let default_call_conv = match (t.operating_system, t.default_calling_convention()) {
        (OperatingSystem::Linux, Ok(CallingConvention::SystemV)) => None,
        (_, Ok(CallingConvention::AppleAarch64)) => Some(kiln::ir::CallConv::AppleAarch64),
        _ => return Err(bad()),
    };
    Ok(Target {
        arch,
        default_call_conv,
        name,
    })
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

/// `--target`: the same in every command that takes it.
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArg {
    /// Target architecture or triple [possible values: x86_64, aarch64,
    /// x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, aarch64-apple-darwin
    /// (signatures default to apple_aarch64)].
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<Target>,
}

impl TargetArg {
    /// The architecture named, else x86_64.
    pub fn arch(&self) -> Arch {
        self.target.as_ref().map_or(Arch::X86_64, |t| t.arch)
    }

    /// The default calling convention the triple sets for the files'
    /// signatures (see [`Target::default_call_conv`]).
    pub fn default_call_conv(&self) -> Option<kiln::ir::CallConv> {
        self.target.as_ref().and_then(|t| t.default_call_conv)
    }

    /// An error for a command that cannot honour the triple's calling
    /// convention (it runs or generates Linux-convention code).
    pub fn linux_only(&self, what: &str) -> Result<(), String> {
        match &self.target {
            Some(t) if t.default_call_conv.is_some() => Err(format!(
                "--target {}: {what} (use aarch64 or aarch64-unknown-linux-gnu)",
                t.name
            )),
            _ => Ok(()),
        }
    }
}

/// `--opt`: the same in every command that takes it.
#[derive(Args, Debug, Clone, Default)]
pub struct OptArg {
    /// Optimization level, applied after the file's `set` lines.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub opt: Option<OptLevel>,
}

impl OptArg {
    /// The level's name, if given.
    pub fn name(&self) -> Option<&'static str> {
        self.opt.map(OptLevel::name)
    }
}

/// `--set`: the same in every command that takes it.
#[derive(Args, Debug, Clone, Default)]
pub struct SetArgs {
    /// A setting, applied last (repeatable), e.g. `--set enable_verifier=false`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
}

/// `--target`, `--opt`, `--set`: the options of every compiling command.
#[derive(Args, Debug, Clone, Default)]
pub struct CodegenOpts {
    #[command(flatten)]
    pub target: TargetArg,
    #[command(flatten)]
    pub opt: OptArg,
    #[command(flatten)]
    pub set: SetArgs,
}

/// `--cache URL`: a shared cache server (also `kiln cache`'s).
#[derive(Args, Debug, Clone, Default)]
pub struct CacheUrl {
    /// A shared cache server besides the on-disk cache (default:
    /// $KILN_CACHE_URL).
    #[arg(long = "cache", global = true, value_name = "redis://HOST:PORT/DB")]
    pub url: Option<String>,
}

impl CacheUrl {
    /// The URL given, else `$KILN_CACHE_URL` when set and not empty.
    pub fn or_env(&self) -> Option<String> {
        self.url.clone().or_else(|| {
            std::env::var(kiln::cli::cache::CACHE_URL_ENV)
                .ok()
                .filter(|u| !u.is_empty())
        })
    }
}

/// `--cache-budget SIZE` (also `$KILN_CACHE_BUDGET`).
#[derive(Args, Debug, Clone, Default)]
pub struct CacheBudget {
    /// The cache's size budget: bytes, or with a K, M or G suffix; least
    /// recently used entries go beyond it.
    #[arg(long, value_name = "SIZE", env = "KILN_CACHE_BUDGET", value_parser = parse_size)]
    pub cache_budget: Option<u64>,
}

impl CacheBudget {
    /// Makes the budget the one [`kiln::cli::cache::open_stores`] uses.
    pub fn apply(&self) {
        if let Some(b) = self.cache_budget {
            kiln::cli::cache::set_budget(b);
        }
    }
}

/// The cache options of `test`, `run` and `compile`.
#[derive(Args, Debug, Clone, Default)]
pub struct CacheOpts {
    /// Compile without any cache (on-disk or shared).
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub url: CacheUrl,
    #[command(flatten)]
    pub budget: CacheBudget,
}

impl CacheOpts {
    /// Applies the budget and opens the stores (see
    /// [`kiln::cli::cache::open_stores`]); a bad URL, timeout or secret
    /// setting is an error naming it.
    pub fn open(&self) -> Result<Option<kiln::cli::cache::OpenStore>, String> {
        self.budget.apply();
        kiln::cli::cache::open_stores(&kiln::cli::cache::CacheArgs {
            no_cache: self.no_cache,
            url: self.url.or_env(),
        })
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

/// A non-negative, finite number (seconds or milliseconds): a
/// `Duration` cannot hold anything else.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..1e12).contains(&x) => Ok(x),
        Ok(_) => Err(format!("`{s}` is out of range (0 up to 1e12)")),
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
pub const TEST_KINDS: [&str; 8] = [
    "cat",
    "verifier",
    "interpret",
    "run",
    "compile",
    "cache",
    "optimize",
    "unwind",
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
    #[command(flatten)]
    pub codegen: CodegenOpts,
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

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Compile throughput, measured like `peer-bench compile`.
    #[command(after_help = concat!(
        "Example:\n  kiln bench compile --iters 5 @../shared/clif/scalar-list.txt\n\n",
        "Each function is compiled once (failures, code size), then N timed iterations\n",
        "compile every function that succeeded (only the compile call is timed). The\n",
        "verifier is off unless --verify. Files whose target lines do not name the\n",
        "architecture are skipped unless --all-files. Unsupported functions count as failed.\n",
        "--opt defaults to speed."
    ))]
    Compile(BenchCompileArgs),
    /// JIT kernels: check their run lines, then time batches of calls.
    #[command(
        after_help = "Example:\n  kiln bench kernels --runs 11 ../shared/clif/kernels\n  kiln bench kernels --target aarch64 ../shared/clif/kernels-wasm\n\n--opt defaults to speed. A --target the host cannot run (aarch64 on x86-64) is checked\nunder qemu only, with no timings (an emulator's clock means nothing)."
    )]
    Kernels(BenchKernelsArgs),
    /// Cache hit/miss figures (peer-bench's `RESULT cache` line).
    #[command(
        after_help = "Example:\n  kiln bench cache --store memory ../shared/clif/runtests\n\nOnly x86_64 is measured."
    )]
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

#[derive(Args, Debug)]
pub struct BenchKernelsArgs {
    /// A target this host cannot run (aarch64 on x86-64) is checked under
    /// qemu, untimed.
    #[command(flatten)]
    pub target: TargetArg,
    #[command(flatten)]
    pub opt: OptArg,
    /// Shared settings and ISA flags of the target (`has_avx=false`),
    /// applied over each file's settings and the host's features, after
    /// --opt.
    #[command(flatten)]
    pub set: SetArgs,
    /// Timed runs per kernel (the median is reported).
    #[arg(long, default_value_t = 11, value_parser = parse_count)]
    pub runs: u64,
    /// The shortest timed batch, in milliseconds.
    #[arg(long, default_value_t = 20.0, value_parser = parse_duration)]
    pub min_batch_ms: f64,
    /// Kernel files, folders or @lists (default: ../shared/clif/kernels).
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BenchCacheArgs {
    #[command(flatten)]
    pub codegen: CodegenOpts,
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
    #[arg(long, alias = "cache", value_name = "STORE",
          value_parser = kiln::cli::bench_cache::parse_store)]
    pub store: Option<kiln::cli::bench_cache::StoreKind>,
    #[command(flatten)]
    pub inputs: Inputs,
}

impl BenchCacheArgs {
    /// The measurement's options; the store defaults to
    /// `$KILN_CACHE_URL`'s server, else memory.
    pub fn options(&self) -> Result<kiln::cli::bench_cache::BenchOptions, String> {
        use kiln::cli::bench_cache::{default_store, BenchOptions};
        if let Some(t) = &self.codegen.target.target {
            if t.arch != Arch::X86_64 {
                return Err(format!(
                    "--target {}: only x86_64 is measured",
                    t.arch.name()
                ));
            }
        }
        let store = match &self.store {
            Some(s) => s.clone(),
            None => default_store()?,
        };
        let defaults = BenchOptions::default();
        Ok(BenchOptions {
            opt_level: self.codegen.opt.name().map(str::to_string),
            iters: self.iters.map_or(defaults.iters, |n| n as usize),
            verify: self.verify,
            all_files: self.all_files,
            sets: self
                .codegen
                .set
                .sets
                .iter()
                .map(|w| match w.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (w.clone(), None),
                })
                .collect(),
            mock: self.mock_backend,
            store,
        })
    }
}

#[derive(Args, Debug)]
pub struct CacheArgs {
    /// Also the shared server (default: $KILN_CACHE_URL).
    #[command(flatten)]
    pub url: CacheUrl,
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
        #[command(flatten)]
        budget: CacheBudget,
    },
    /// Remove every entry (all format versions); counters are kept.
    #[command(after_help = "Example:\n  kiln cache clear")]
    Clear,
}
