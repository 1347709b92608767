//! `kiln compile [--target T] [--opt O] [--set k=v]... [-D] [-p] [-o OUT.o] FILE...`.

use super::args::CompileArgs;
use super::common::{expand_lists, inst_count, isa_for_file, load_with, usage_error, IsaConfig};
use super::disas::{disassemble_aarch64, disassemble_x64};
use super::progress::Progress;
use kiln::codegen::settings::Arch;
use std::fmt::Write as _;
use std::process::ExitCode;

/// `kiln compile`: every function of each file (settings: the file's
/// `set` lines and its first `target` line for the architecture, then
/// --opt and --set, whose ISA flags such as `has_lse` apply after the
/// target line's), printing each function's code size; -D adds the
/// disassembly, -p the function as the backend lowers it (after the
/// mid-end when opt_level is not none). Exit status 1 if any function
/// failed to compile (unsupported features included). `-o OUT.o` writes
/// every function into one relocatable ELF object, one exported symbol
/// each: `%name` is `name`, `uN:M` is `uN_M`; callees and symbols no file
/// defines are imports of the same name (docs/module.md). Nothing is
/// written if anything failed.
pub fn main(a: &CompileArgs) -> ExitCode {
    let files = match expand_lists(&a.inputs.paths) {
        Ok(f) => f,
        Err(e) => return usage_error("compile", &e),
    };
    let store = match a.cache.open() {
        Ok(store) => store,
        Err(e) => return usage_error("compile", &e),
    };
    let output = a.output.as_ref().map(|p| p.display().to_string());
    if output.is_some() {
        if let Err(e) = a
            .codegen
            .target
            .linux_only("-o writes ELF objects for Linux; Mach-O is not supported")
        {
            return usage_error("compile", &e);
        }
    }
    let call_conv = a.codegen.target.default_call_conv();
    let mut for_object = Vec::new();
    let arch = a.codegen.target.arch();
    let cfg = IsaConfig {
        arch,
        opt_level: a.codegen.opt.name().map(str::to_string),
        extra_sets: a.codegen.set.sets.clone(),
        host_features: false,
        verify: None,
    };
    let (disas, print_ir) = (a.disas, a.print_ir);
    let mut failed = 0usize;
    let (mut funcs, mut bytes) = (0usize, 0usize);
    // Progress on a terminal (stderr): files done out of all; each file's
    // output is printed above the line.
    let progress = Progress::new("kiln compile", files.len());
    for path in &files {
        let (mut out, mut err) = (String::new(), String::new());
        'file: {
            let file = match load_with(std::path::Path::new(path), call_conv) {
                Ok((f, _)) => f,
                Err(e) => {
                    let _ = writeln!(err, "{e}");
                    failed += 1;
                    break 'file;
                }
            };
            let isa = match isa_for_file(&cfg, &file) {
                Ok(i) => i,
                Err(e) => {
                    let _ = writeln!(out, "{path}: {e}");
                    failed += 1;
                    break 'file;
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
                    out.push_str(&lowered_clif(isa.flags(), &f.func));
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
                        let _ = writeln!(
                            out,
                            "{path}: {name}: {} bytes ({} CLIF instructions, frame {} bytes)",
                            code.code.len(),
                            inst_count(&f.func),
                            code.frame_size
                        );
                        if disas {
                            out.push_str(&match arch {
                                Arch::X86_64 => disassemble_x64(&code),
                                Arch::Aarch64 => disassemble_aarch64(&code),
                            });
                        }
                        if output.is_some() {
                            for_object.push((f.func.clone(), code));
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        let _ = writeln!(out, "{path}: {name}: {e}");
                    }
                }
            }
        }
        progress.above(|| {
            print!("{out}");
            eprint!("{err}");
        });
        progress.tick(std::path::Path::new(path));
    }
    progress.finish();
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
