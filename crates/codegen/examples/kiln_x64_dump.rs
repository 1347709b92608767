//! Compiles the functions of a CLIF file for x86-64 and writes each one's
//! code to `OUT.N.bin` (for `objdump -D -b binary -mi386:x86-64`).
use kiln_codegen::isa;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("read");
    let flags = Flags {
        regalloc_checker: true,
        ..Flags::default()
    };
    let isa = isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("isa");
    for (i, f) in kiln_reader::parse_functions(&text)
        .expect("parse")
        .iter()
        .enumerate()
    {
        match isa.compile_stencil(&f.stencil) {
            Ok(c) => {
                std::fs::write(format!("{}.{i}.bin", args[2]), &c.code).expect("write");
                println!("{i}: {} bytes, relocs {:?}", c.code.len(), c.relocs);
            }
            Err(e) => println!("{i}: error {e}"),
        }
    }
}
