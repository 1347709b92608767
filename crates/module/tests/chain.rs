//! Faults outside JIT code still reach the handler that was there before
//! Kiln's (Rust's stack-overflow report, or the default action).
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::process::Command;

fn recurse(n: u64) -> u64 {
    let buf = std::hint::black_box([n; 64]);
    if n == 0 {
        0
    } else {
        buf[3] + recurse(n - 1) + 1
    }
}

/// The child half: install Kiln's handlers, then fault outside JIT code.
#[test]
fn child() {
    match std::env::var("KILN_CHAIN_CHILD").as_deref() {
        Ok("overflow") => {
            kiln_module::traps::install_handlers().unwrap();
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(|| recurse(u64::MAX))
                .unwrap()
                .join()
                .ok();
        }
        Ok("segv") => {
            kiln_module::traps::install_handlers().unwrap();
            // SAFETY: deliberately reads address 16 to raise SIGSEGV outside
            // JIT code; the parent test expects this process to die.
            let v = unsafe { std::ptr::read_volatile(16 as *const u64) };
            std::hint::black_box(v);
        }
        _ => {}
    }
}

fn run_child(mode: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("KILN_CHAIN_CHILD", mode)
        .output()
        .unwrap()
}

#[test]
fn rust_stack_overflow_report_survives() {
    let out = run_child("overflow");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("has overflowed its stack"), "{err}");
}

#[test]
fn other_faults_still_kill_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let out = run_child("segv");
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{:?}", out.status);
}
