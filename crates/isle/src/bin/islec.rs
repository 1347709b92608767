//! `islec FILE... [-o OUT]`: compiles rule files and writes the generated
//! Rust to OUT (or standard output).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut files = Vec::new();
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-o" => match args.next() {
                Some(o) => out = Some(o),
                None => {
                    eprintln!("islec: `-o` needs a file name");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("usage: islec FILE... [-o OUT]");
                return ExitCode::SUCCESS;
            }
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        eprintln!("usage: islec FILE... [-o OUT]");
        return ExitCode::from(2);
    }
    match isle::compile_files(&files) {
        Ok(code) => {
            let res = match &out {
                Some(o) => std::fs::write(o, code),
                None => {
                    print!("{}", code);
                    Ok(())
                }
            };
            if let Err(e) = res {
                eprintln!("islec: cannot write output: {}", e);
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{}", e);
            ExitCode::FAILURE
        }
    }
}
