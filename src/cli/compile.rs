//! `kiln compile [--target T] [--opt O] [--set k=v]... [-D] [-o OUT.o] FILE...`.

use super::common::{inst_count, isa_for_file, load, Args, IsaConfig};
use super::disas::disassemble_x64;
use kiln::codegen::settings::Arch;
use std::process::ExitCode;

pub const USAGE: &str = "\
kiln compile [--no-cache] [--cache URL] [--target x86_64|aarch64] [--opt none|speed|speed_and_size] [--set NAME=VALUE]... [-D] [-p] [-o OUT.o] FILE...
  Compiles every function of each file (settings: the file's `set` lines and its first
  `target` line for the architecture, then --opt and --set) and prints each function's
  code size; -D adds the disassembly with relocations and trap sites. Exit status 1 if
  any function failed to compile (unsupported features included). -p prints each function
  as the backend lowers it: after the mid-end when opt_level is not none.
  -o OUT.o writes every function into one relocatable ELF object, one exported symbol
  each: `%name` is `name`, `uN:M` is `uN_M`; callees and symbols no file defines are
  imports of the same name (docs/module.md). Nothing is written if anything failed.";

pub fn main(raw: &[String]) -> ExitCode {
    let mut raw = raw.to_vec();
    let store = match kiln::cli::cache::take_and_open_store(&mut raw, "kiln compile") {
        Ok(store) => store,
        Err(code) => return code,
    };
    let output = match take_output(&mut raw) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kiln compile: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut for_object = Vec::new();
    let raw = &raw[..];
    let args = match Args::parse(raw, &["target", "opt", "set"], &["-D", "-p", "help", "-h"]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kiln compile: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.flag("help") || args.flag("-h") || args.positional.is_empty() {
        println!("{USAGE}");
        return if args.positional.is_empty() && !args.flag("help") && !args.flag("-h") {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let arch_name = args.get("target").unwrap_or("x86_64");
    let Some(arch) = Arch::parse(arch_name) else {
        eprintln!("kiln compile: unknown target `{arch_name}`");
        return ExitCode::from(2);
    };
    let cfg = IsaConfig {
        arch,
        opt_level: args.get("opt").map(str::to_string),
        extra_sets: args.get_all("set"),
        host_features: false,
        verify: None,
    };
    let disas = args.flag("-D");
    let print_ir = args.flag("-p");
    let mut failed = 0usize;
    let (mut funcs, mut bytes) = (0usize, 0usize);
    for path in &args.positional {
        let file = match load(std::path::Path::new(path)) {
            Ok((f, _)) => f,
            Err(e) => {
                eprintln!("{e}");
                failed += 1;
                continue;
            }
        };
        let isa = match isa_for_file(&cfg, &file) {
            Ok(i) => i,
            Err(e) => {
                println!("{path}: {e}");
                failed += 1;
                continue;
            }
        };
        // A shared server answers the file's lookups in one round trip.
        let fetched = store.as_ref().map(|s| {
            let funcs = file.functions.iter().map(|f| &f.func);
            kiln::cache::many::PrefetchedStore::fetch(s.as_dyn(), &*isa, funcs)
        });
        for f in &file.functions {
            let name = f.func.name.to_string();
            if print_ir {
                print!("{}", lowered_clif(isa.flags(), &f.func));
            }
            match kiln::cli::cache::compile_cached(
                &*isa,
                &f.func,
                fetched
                    .as_ref()
                    .map(|s| s as &dyn kiln::cache::CacheKvStore),
            ) {
                Ok(code) => {
                    funcs += 1;
                    bytes += code.code.len();
                    println!(
                        "{path}: {name}: {} bytes ({} CLIF instructions, frame {} bytes)",
                        code.code.len(),
                        inst_count(&f.func),
                        code.frame_size
                    );
                    if disas {
                        if arch == Arch::X86_64 {
                            print!("{}", disassemble_x64(&code));
                        } else {
                            println!("  (no disassembler for {})", arch.name());
                        }
                    }
                    if output.is_some() {
                        for_object.push((f.func.clone(), code));
                    }
                }
                Err(e) => {
                    failed += 1;
                    println!("{path}: {name}: {e}");
                }
            }
        }
    }
    println!("{funcs} functions compiled ({bytes} bytes), {failed} failed");
    if let Some(out) = output {
        if failed > 0 {
            eprintln!("kiln compile: not writing {out}: {failed} failed");
        } else if let Err(e) = write_object(arch, for_object, &out) {
            eprintln!("kiln compile: {out}: {e}");
            return ExitCode::from(1);
        } else {
            println!("wrote {out}");
        }
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The function as the backend lowers it: after NaN canonicalization and
/// the mid-end when the flags ask for them, else the input.
fn lowered_clif(flags: &kiln::codegen::settings::Flags, f: &kiln::ir::Function) -> String {
    match kiln::codegen::opt::prepare(flags, &f.stencil) {
        Ok(Some(stencil)) => kiln::ir::Function {
            name: f.name.clone(),
            stencil,
            params: f.params.clone(),
        }
        .to_string(),
        Ok(None) | Err(_) => f.to_string(),
    }
}

/// Removes `-o PATH` / `-oPATH` / `--output PATH` from the arguments.
fn take_output(raw: &mut Vec<String>) -> Result<Option<String>, String> {
    let mut out = None;
    let mut i = 0;
    while i < raw.len() {
        let a = raw[i].as_str();
        if a == "--" {
            break;
        }
        if a == "-o" || a == "--output" {
            if i + 1 >= raw.len() {
                return Err(format!("{a} needs a file name"));
            }
            out = Some(raw.remove(i + 1));
            raw.remove(i);
        } else if let Some(p) = a.strip_prefix("-o").filter(|p| !p.is_empty()) {
            out = Some(p.to_string());
            raw.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(out)
}

/// Writes the compiled functions as one ELF object (naming: see
/// `kiln_module::clif`).
fn write_object(
    arch: Arch,
    funcs: Vec<(
        kiln::ir::Function,
        kiln::codegen::compiled::CompiledCode<kiln::codegen::compiled::Final>,
    )>,
    out: &str,
) -> Result<(), String> {
    let mut m = kiln::object::ObjectModule::new(arch);
    let (fs, codes): (Vec<_>, Vec<_>) = funcs.into_iter().unzip();
    let refs = fs.iter().zip(codes).collect();
    kiln::module::clif::define_clif_functions(&mut m, refs).map_err(|e| e.to_string())?;
    let bytes = m.finish().map_err(|e| e.to_string())?;
    std::fs::write(out, bytes).map_err(|e| e.to_string())
}
