//! `kiln key FILE...`: the name and stencil key of every function, for
//! target x86_64 with default flags. Two functions with the same key share
//! one cache entry.

use kiln::codegen::settings::{Arch, Flags, IsaFlags};
use kiln::ir::key::{stencil_key, KeyTarget};
use std::process::ExitCode;

pub fn cmd_key(args: &[String]) -> ExitCode {
    if args.is_empty() {
        eprintln!("kiln key: expected at least one FILE");
        return ExitCode::from(2);
    }
    let arch = Arch::X86_64;
    let mut flags = Flags::default().key_bytes();
    flags.extend(IsaFlags::baseline(arch).key_bytes());
    let target = KeyTarget {
        triple: arch.triple(),
        flags: &flags,
    };
    let mut ok = true;
    for path in args {
        match crate::cli::common::load(std::path::Path::new(path)) {
            Ok((file, _)) => {
                for f in &file.functions {
                    println!("{} {}", f.func.name, stencil_key(&f.func.stencil, &target));
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
        ExitCode::FAILURE
    }
}
