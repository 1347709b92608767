//! The `kiln` command line. The grammar (subcommands, options, help) is
//! `cli::args`, on clap; this file dispatches to the commands.

mod cli;
mod key;

use clap::Parser;
use cli::args::{BenchCommand, CacheCommand, Cli, Command};
use cli::common::{expand_lists, usage_error};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    cli::pipe::quiet_broken_pipe();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and --version go to stdout with status 0; a usage error
            // to stderr with status 2 (clap's own convention too).
            let _ = e.print();
            if matches!(
                e.kind(),
                clap::error::ErrorKind::UnknownArgument | clap::error::ErrorKind::InvalidSubcommand
            ) {
                eprintln!("{}", valid_choices());
            }
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Cat(a) => match expand_lists(&a.inputs.paths) {
            Ok(files) => cmd_cat(&files),
            Err(e) => usage_error("cat", &e),
        },
        Command::Test(a) => cmd_test(a),
        Command::Key(a) => match expand_lists(&a.inputs.paths) {
            Ok(files) => key::cmd_key(&files),
            Err(e) => usage_error("key", &e),
        },
        Command::Cache(c) => {
            use kiln::cli::cache::{cmd_cache, CacheAction};
            let action = match c.command {
                CacheCommand::Stats { zero, budget } => {
                    budget.apply();
                    if zero {
                        CacheAction::ZeroStats
                    } else {
                        CacheAction::Stats
                    }
                }
                CacheCommand::Clear => CacheAction::Clear,
            };
            cmd_cache(action, c.url.or_env().as_deref())
        }
        Command::Fuzz(a) => cli::fuzz::fuzz_main(&a),
        Command::Reduce(a) => cli::fuzz::reduce_main(&a),
        Command::Run(a) => cli::run::main(&a),
        Command::Compile(a) => cli::compile::main(&a),
        Command::Bench(b) => match b {
            BenchCommand::Compile(a) => cli::bench::compile_main(&a),
            BenchCommand::Kernels(a) => cli::bench::kernels_main(&a),
            BenchCommand::Cache(a) => match a.options() {
                Ok(o) => kiln::cli::bench_cache::cmd_bench_cache(o, &a.inputs.paths),
                Err(e) => usage_error("bench cache", &e),
            },
            BenchCommand::Key(a) => match a.options() {
                Ok(o) => kiln::cli::bench_cache::cmd_bench_key(o, &a.inputs.paths),
                Err(e) => usage_error("bench key", &e),
            },
        },
    }
}

/// After an unknown option or command: the commands, or the options of
/// the command the arguments name.
fn valid_choices() -> String {
    use clap::CommandFactory;
    let mut c = Cli::command();
    for a in std::env::args().skip(1) {
        if a.starts_with('-') {
            continue;
        }
        match c.find_subcommand(&a) {
            Some(sub) => c = sub.clone(),
            None => break,
        }
    }
    let subs: Vec<String> = c
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    if !subs.is_empty() {
        return format!("valid commands: {}", subs.join(", "));
    }
    let opts: Vec<String> = c
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .chain(["--help".to_string()])
        .collect();
    format!("valid options: {}", opts.join(", "))
}

/// `kiln cat FILE...`: prints every function; a parse error is printed
/// with its location and makes the exit status 1.
fn cmd_cat(args: &[String]) -> ExitCode {
    if args.is_empty() {
        eprintln!("kiln cat: expected at least one FILE");
        return ExitCode::from(2);
    }
    let mut ok = true;
    let mut first = true;
    for path in args {
        match cli::common::load(std::path::Path::new(path)) {
            Ok((file, _)) => {
                for f in &file.functions {
                    if !first {
                        println!();
                    }
                    first = false;
                    print!("{}", f.func);
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `kiln test [--test KIND] [--target T] [--format F] PATH...`.
fn cmd_test(a: cli::args::TestArgs) -> ExitCode {
    let mut paths = Vec::new();
    for p in &a.inputs.paths {
        if p.starts_with('@') {
            match cli::common::collect_files(std::slice::from_ref(p)) {
                Ok(files) => paths.extend(files),
                Err(e) => return usage_error("test", &e),
            }
        } else {
            paths.push(PathBuf::from(p));
        }
    }
    // `test run` runs Linux-convention code (natively or under
    // qemu-user); an Apple triple's convention cannot be run here.
    if let Err(e) = a
        .codegen
        .target
        .linux_only("`kiln test` runs code for Linux; compile Apple code with `kiln compile`")
    {
        return usage_error("test", &e);
    }
    let mut runner = kiln::filetests::Runner::with_builtin();
    // --opt, then --set, over each file's settings (as in `kiln compile`).
    let mut sets: Vec<String> = a
        .codegen
        .opt
        .name()
        .map(|o| format!("opt_level={o}"))
        .into_iter()
        .collect();
    sets.extend(a.codegen.set.sets.iter().cloned());
    if let Err(e) = runner.set_overrides(&sets) {
        return usage_error("test", &e.to_string());
    }
    if let Some(t) = &a.codegen.target.target {
        runner.register(Box::new(kiln::filetests::run::RunTest::for_isa(
            t.arch.name(),
        )));
    }
    // `test run` compiles through the on-disk cache (and a shared server
    // with --cache or KILN_CACHE_URL) unless --no-cache.
    let store = match a.cache.open() {
        Ok(s) => s,
        Err(e) => return usage_error("test", &e),
    };
    kiln::filetests::run::set_compile_store(store.as_ref().map(|s| s.shared()));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let total = paths
        .iter()
        .map(|p| {
            if p.is_dir() {
                let mut v = Vec::new();
                kiln::filetests::collect_clif(p, &mut v);
                v.len()
            } else {
                usize::from(p.is_file())
            }
        })
        .sum();
    let progress = cli::progress::Progress::new("kiln test", total);
    let tick = |_: usize, p: &std::path::Path| progress.tick(p);
    let only = a.kind.as_deref();
    let result = match a.format {
        cli::args::Format::Text => runner.run_paths_with(&paths, only, &tick, &mut out),
        cli::args::Format::Json => cli::json::run_json(&runner, &paths, only, &progress, &mut out),
    };
    progress.finish();
    let status = match result {
        Ok(sum) if sum.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln test: {e}");
            ExitCode::from(1)
        }
    };
    // Drop the last references: queued cache writes are flushed and this
    // process's counters recorded.
    kiln::filetests::run::set_compile_store(None);
    drop(store);
    status
}
