//! `.eh_frame` in Kiln's x86-64 objects: one FDE per function, relocated
//! against the code; linked with `cc`, glibc's `backtrace()` (libgcc's
//! unwinder over the linked `.eh_frame_hdr`) walks from a C callback
//! through every Kiln frame back to `main`, and `gdb` (batch mode, when
//! installed: `.ci/run` installs it) shows the Kiln frames in its `bt`.

use kiln_codegen::isa::{compile_function, IsaBuilder};
use kiln_codegen::settings::Arch;
use kiln_module::clif::define_clif_functions;
use kiln_object::ObjectModule;
use object::{Object, ObjectSection, RelocationFlags};
use std::path::PathBuf;
use std::process::Command;

/// outer → middle → inner → callback (the callback is C here).
const CHAIN: &str = include_str!("../../module/tests/callback_chain.clif");

/// The object and the code size of outer, middle, inner.
fn build(unwind_info: bool) -> (Vec<u8>, Vec<usize>) {
    let mut b = IsaBuilder::new(Arch::X86_64);
    b.flags.unwind_info = unwind_info;
    let isa = b.finish().unwrap();
    let funcs = kiln_reader::parse_functions(CHAIN).unwrap();
    let compiled: Vec<_> = funcs
        .iter()
        .map(|f| (f, compile_function(&*isa, f).unwrap()))
        .collect();
    let sizes = compiled.iter().map(|(_, c)| c.code.len()).collect();
    let mut m = ObjectModule::new(Arch::X86_64);
    define_clif_functions(&mut m, compiled).unwrap();
    (m.finish().unwrap(), sizes)
}

#[test]
fn eh_frame_has_one_relocated_fde_per_function() {
    let (bytes, _) = build(true);
    let file = object::File::parse(&*bytes).unwrap();
    let eh = file.section_by_name(".eh_frame").expect(".eh_frame");
    let relocs: Vec<_> = eh.relocations().collect();
    assert_eq!(relocs.len(), 3);
    for (_, r) in &relocs {
        assert_eq!(
            r.flags(),
            RelocationFlags::Elf {
                r_type: object::elf::R_X86_64_PC32
            }
        );
    }
    // Without unwind information there is no table at all.
    let (bytes, _) = build(false);
    let file = object::File::parse(&*bytes).unwrap();
    assert!(file.section_by_name(".eh_frame").is_none());
}

const MAIN_C: &str = r#"
#include <execinfo.h>
#include <stdio.h>
#include <stdint.h>
extern int64_t outer(int64_t);
extern int64_t middle(int64_t);
extern int64_t inner(int64_t);
static const char *name_of(void *ip) {
    uintptr_t a = (uintptr_t)ip - 1;
    if (a >= (uintptr_t)outer && a < (uintptr_t)outer + OUTER_SIZE) return "outer";
    if (a >= (uintptr_t)middle && a < (uintptr_t)middle + MIDDLE_SIZE) return "middle";
    if (a >= (uintptr_t)inner && a < (uintptr_t)inner + INNER_SIZE) return "inner";
    return 0;
}
__attribute__((noinline)) int64_t callback(int64_t x) {
    void *ips[64];
    int n = backtrace(ips, 64);
    int after = 0;
    for (int i = 0; i < n; i++) {
        const char *s = name_of(ips[i]);
        if (s) { printf("%s ", s); after = 0; } else { after++; }
    }
    printf("| %d frames after outer\n", after);
    return x + 1000;
}
int main(void) {
    printf("%lld\n", (long long)outer(5));
    return 0;
}
"#;

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-object-unwind-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Links the object with `MAIN_C`; `None` (after printing SKIP) without a
/// C compiler or on another host.
fn link(unwind_info: bool, tag: &str) -> Option<PathBuf> {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        println!("SKIP: linking x86-64 ELF objects needs an x86-64 Linux host");
        return None;
    }
    if Command::new("cc").arg("--version").output().is_err() {
        println!("SKIP: no `cc` on PATH to link the object");
        return None;
    }
    let (obj, sizes) = build(unwind_info);
    let dir = tmpdir();
    let o = dir.join(format!("chain-{tag}.o"));
    std::fs::write(&o, obj).unwrap();
    let c = dir.join("main.c");
    std::fs::write(&c, MAIN_C).unwrap();
    let exe = dir.join(format!("prog-{tag}"));
    let out = Command::new("cc")
        .args(["-g", "-O1", "-no-pie"])
        .arg(format!("-DOUTER_SIZE={}", sizes[0]))
        .arg(format!("-DMIDDLE_SIZE={}", sizes[1]))
        .arg(format!("-DINNER_SIZE={}", sizes[2]))
        .arg(&c)
        .arg(&o)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

#[test]
fn linked_program_backtraces_through_kiln_frames() {
    let Some(exe) = link(true, "on") else { return };
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let text = String::from_utf8(run.stdout).unwrap();
    let mut lines = text.lines();
    let walk = lines.next().unwrap();
    assert!(walk.starts_with("inner middle outer | "), "{walk}");
    // main, __libc_start_call_main, __libc_start_main, _start.
    let after: usize = walk.split(' ').nth(4).unwrap().parse().unwrap();
    assert!(after >= 2, "{walk}");
    assert_eq!(lines.next(), Some("1031"));

    // The control: without `.eh_frame` the walk stops at the first Kiln
    // frame.
    let Some(exe) = link(false, "off") else {
        return;
    };
    let run = Command::new(&exe).output().unwrap();
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(text.starts_with("inner | 0 frames after outer"), "{text}");
}

#[test]
fn gdb_shows_the_kiln_frames() {
    let Some(exe) = link(true, "gdb") else { return };
    if Command::new("gdb").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI=true but no gdb (.ci/run installs it)"
        );
        println!("SKIP: no `gdb` on PATH");
        return;
    }
    let out = Command::new("gdb")
        .args([
            "-nx",
            "-batch",
            "-ex",
            "break callback",
            "-ex",
            "run",
            "-ex",
            "bt",
        ])
        .arg(&exe)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let frames: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| {
            ["callback", "inner", "middle", "outer", "main"]
                .into_iter()
                .find(|n| l.contains(&format!(" {n} (")) || l.contains(&format!(" in {n} (")))
        })
        .collect();
    assert_eq!(
        frames,
        vec!["callback", "inner", "middle", "outer", "main"],
        "gdb output:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
