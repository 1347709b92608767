//! The `kiln` command line. Argument parsing is hand-written and small:
//! each command gets the arguments after its name.

mod cli;
mod key;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
kiln: a caching code generator for Cranelift IR (CLIF)

usage:
  kiln cat FILE...                 parse every function and print it back
  kiln test [--test KIND] [--target ISA] PATH...
                                   run filetests in files or folders
                                   (--target: only that ISA's `target` lines)
                                   (test, run and compile use the on-disk cache;
                                   --no-cache turns it off)
  kiln run FILE...                 compile for the host and run `; run:` lines
  kiln compile [--target T] [--opt O] [--set K=V]... [-D] [-o OUT.o] FILE...
                                   compile; print code sizes (-D: disassembly,
                                   -o: write an ELF object)
  kiln bench compile|kernels ...   compile throughput / kernel speed (RESULT lines)
  kiln key FILE...                 print each function's stencil key (x86_64,
                                   default flags)
  kiln cache stats|clear           inspect or empty the on-disk compilation cache
                                   (stats --zero: reset the lifetime counters)
  kiln bench cache [OPTIONS] PATH... cache hit/miss figures (peer-bench's RESULT line;
                                   --store memory|dir picks the store)
  kiln bench key [OPTIONS] PATH...   the stencil key alone: hot, fresh clone, bytes
  kiln help                        show this help

`kiln test` prints PASS/FAIL/SKIP per file and ends with
`N passed, N failed, N skipped`; it exits with status 1 if anything failed.
Supported test kinds: cat, verifier, interpret, run, compile, cache (others are skipped
with their reason).
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    match cmd.as_str() {
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        "cat" => cmd_cat(rest),
        "test" => cmd_test(rest),
        // ----- Commands other layers add (keep this block together) -----
        "key" => key::cmd_key(rest),
        "cache" => kiln::cli::cache::cmd_cache(rest),
        "bench" if rest.first().is_some_and(|s| s == "key") => {
            kiln::cli::bench_cache::cmd_bench_key(&rest[1..])
        }
        "bench" if rest.first().is_some_and(|s| s == "cache") => {
            kiln::cli::bench_cache::cmd_bench_cache(&rest[1..])
        }
        "run" => cli::run::main(rest),
        "compile" => cli::compile::main(rest),
        "bench" => cli::bench::main(rest),
        // -----------------------------------------------------------------
        _ => {
            eprintln!("kiln: unknown command `{cmd}`\n");
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
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

/// `kiln test [--test KIND] PATH...`.
fn cmd_test(args: &[String]) -> ExitCode {
    let mut only: Option<String> = None;
    let mut target: Option<String> = None;
    let mut paths = Vec::new();
    let mut args = args.to_vec();
    let no_cache = kiln::cli::cache::take_no_cache(&mut args);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--test" {
            match it.next() {
                Some(k) => only = Some(k.clone()),
                None => {
                    eprintln!("kiln test: --test needs a KIND");
                    return ExitCode::from(2);
                }
            }
        } else if let Some(k) = a.strip_prefix("--test=") {
            only = Some(k.to_string());
        } else if a == "--target" {
            match it.next() {
                Some(t) => target = Some(t.clone()),
                None => {
                    eprintln!("kiln test: --target needs an ISA (x86_64, aarch64)");
                    return ExitCode::from(2);
                }
            }
        } else if a.starts_with("--") {
            eprintln!("kiln test: unknown option `{a}`");
            return ExitCode::from(2);
        } else {
            paths.push(PathBuf::from(a));
        }
    }
    if paths.is_empty() {
        eprintln!("kiln test: expected at least one PATH");
        return ExitCode::from(2);
    }
    let mut runner = kiln::filetests::Runner::with_builtin();
    if let Some(t) = &target {
        runner.register(Box::new(kiln::filetests::run::RunTest::for_isa(t)));
    }
    // `test run` compiles through the on-disk cache unless --no-cache.
    let store = kiln::cli::cache::open_store(no_cache);
    kiln::filetests::run::set_compile_store(store.as_ref().map(|s| s.shared()));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let status = match runner.run_paths(&paths, only.as_deref(), &mut out) {
        Ok(sum) if sum.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
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
