//! `kiln compile -o OUT.o`: an object with one exported symbol per
//! function (`%name` -> `name`, `uN:M` -> `uN_M`), undefined callees as
//! imports, linked with `cc` and run.

use std::process::Command;

const PROG: &str = "
function %add(i64, i64) -> i64 system_v {
block0(v0: i64, v1: i64):
    v2 = iadd v0, v1
    return v2
}

function u0:7(i64) -> i64 system_v {
    sig0 = (i64, i64) -> i64 system_v
    sig1 = (i64) -> i64 system_v
    fn0 = %add sig0
    fn1 = %labs sig1
block0(v0: i64):
    v1 = call fn1(v0)
    v2 = call fn0(v1, v1)
    return v2
}
";

const MAIN: &str = "#include <stdio.h>
long add(long, long); long u0_7(long);
int main(void) { printf(\"%ld %ld\\n\", add(2, 3), u0_7(-21)); return 0; }
";

#[test]
fn compile_to_object_links_and_runs() {
    let dir = std::env::temp_dir().join(format!("kiln-cli-object-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prog.clif"), PROG).unwrap();
    std::fs::write(dir.join("main.c"), MAIN).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(&dir)
        .args(["compile", "--no-cache", "-o", "prog.o", "prog.clif"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(dir.join("prog.o")).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    if !cfg!(all(target_arch = "x86_64", target_os = "linux"))
        || Command::new("cc").arg("--version").output().is_err()
    {
        println!("SKIP: linking needs cc on an x86-64 Linux host");
        return;
    }
    let cc = Command::new("cc")
        .current_dir(&dir)
        .args(["-no-pie", "main.c", "prog.o", "-o", "prog"])
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let run = Command::new(dir.join("prog")).output().unwrap();
    assert_eq!(String::from_utf8(run.stdout).unwrap(), "5 42\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nothing_is_written_when_a_function_fails() {
    let dir = std::env::temp_dir().join(format!("kiln-cli-object-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Two definitions of one symbol: `%u0_1` and `u0:1`.
    let text = "function %u0_1() system_v {\nblock0:\n    return\n}\n\n\
                function u0:1() system_v {\nblock0:\n    return\n}\n";
    std::fs::write(dir.join("dup.clif"), text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(&dir)
        .args(["compile", "--no-cache", "-o", "dup.o", "dup.clif"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("duplicate definition of u0_1"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
