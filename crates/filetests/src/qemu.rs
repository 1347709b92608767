//! `test run` for aarch64 on a non-aarch64 host: every function of a file is
//! compiled, written as one assembly file of raw instruction words (calls
//! between the file's functions become `bl` to their symbols), linked with
//! a generated C harness by `aarch64-linux-gnu-gcc`, and run once under
//! `qemu-aarch64`; the harness performs every `; run:` call of the file
//! and prints the results, which are read back and checked like native
//! results. One link and one qemu run per file.
//!
//! A call that traps (SIGILL from `udf`, SIGSEGV, ...) is caught by the
//! harness and reported as a failure naming the signal. What the harness
//! cannot call through C (several results, vector or f16/f128 values, a
//! convention C does not use) skips the file with the reason, as does a
//! relocation other than a call between the file's own functions.

use crate::check_file_run_directives;
use crate::run::{BuildOutcome, CompileFn};
use kiln_codegen::compiled::FinalName;
use kiln_codegen::isa::TargetIsa;
use kiln_codegen::machinst::buffer::Reloc;
use kiln_codegen::result::CodegenError;
use kiln_ir::{CallConv, DataValue, Ieee32, Ieee64, Type, UserFuncName};
use kiln_reader::TestFile;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

/// The cross compiler and the emulator this runner uses.
pub const GCC: &str = "aarch64-linux-gnu-gcc";
pub const QEMU: &str = "qemu-aarch64";

/// Whether the cross tools are installed (otherwise aarch64 run tests are
/// skipped with that reason).
pub fn tools_available() -> bool {
    let ok = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    ok(GCC) && ok(QEMU)
}

/// The C type of a value type the harness can pass and return.
fn c_type(ty: Type) -> Option<&'static str> {
    Some(match ty {
        Type::I8 => "int8_t",
        Type::I16 => "int16_t",
        Type::I32 => "int32_t",
        Type::I64 => "int64_t",
        Type::I128 => "__int128",
        Type::F32 => "float",
        Type::F64 => "double",
        _ => return None,
    })
}

/// A C expression for `v` as a value of type `ty`.
fn c_value(ty: Type, v: &DataValue) -> Option<String> {
    let bits = v.to_bits()?;
    Some(match ty {
        Type::F32 => format!("f32_bits(0x{:x}u)", bits as u32),
        Type::F64 => format!("f64_bits(0x{:x}ull)", bits as u64),
        Type::I128 => format!(
            "(__int128)(((unsigned __int128)0x{:x}ull << 64) | 0x{:x}ull)",
            (bits >> 64) as u64,
            bits as u64
        ),
        _ => format!("({})0x{:x}ull", c_type(ty)?, bits as u64),
    })
}

/// The symbol of the `i`-th function of the file.
fn sym(i: usize) -> String {
    format!("kiln_fn_{i}")
}

const HARNESS_PRELUDE: &str = r#"#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <setjmp.h>
static sigjmp_buf jb;
static void on_signal(int sig) { siglongjmp(jb, sig); }
static float f32_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static double f64_bits(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }
static void out_f32(int k, float f) { uint32_t b; memcpy(&b, &f, 4); printf("%d ok %x\n", k, b); }
static void out_f64(int k, double d) { uint64_t b; memcpy(&b, &d, 8); printf("%d ok %llx\n", k, (unsigned long long)b); }
static void out_int(int k, unsigned long long v) { printf("%d ok %llx\n", k, v); }
static void out_i128(int k, __int128 v) {
  printf("%d ok %llx:%llx\n", k, (unsigned long long)((unsigned __int128)v >> 64), (unsigned long long)v);
}
"#;

/// One call the harness makes.
struct Call {
    func: usize,
    args: Vec<DataValue>,
}

/// Runs a file's directives on `isa` (aarch64) under qemu.
pub fn run_on_qemu(
    file: &TestFile,
    _isa: &dyn TargetIsa,
    compile: &mut CompileFn<'_>,
) -> Result<(), BuildOutcome> {
    let names: Vec<String> = file
        .functions
        .iter()
        .map(|f| match &f.func.name {
            UserFuncName::Testcase(t) => t.as_str().to_string(),
            other => other.to_string(),
        })
        .collect();
    // Compile everything first: an unsupported function skips the file.
    let mut asm = String::from(".text\n");
    for (i, f) in file.functions.iter().enumerate() {
        let name = &names[i];
        let code = match compile(&f.func) {
            Ok(c) => c,
            Err(CodegenError::Unsupported { what }) => {
                return Err(BuildOutcome::Skip(format!("{name}: unsupported: {what}")))
            }
            Err(e) => return Err(BuildOutcome::Fail(vec![format!("{name}: {e}")])),
        };
        let mut calls = std::collections::HashMap::new();
        for r in &code.relocs {
            let target = match (&r.kind, &r.target) {
                (Reloc::Aarch64Call26, FinalName::TestCase(t)) => {
                    names.iter().position(|n| n == t.as_str())
                }
                (Reloc::Aarch64Call26, FinalName::User(u)) => {
                    let u = u.to_string();
                    names.iter().position(|n| *n == u)
                }
                _ => None,
            };
            match target {
                Some(t) if r.addend == 0 => {
                    calls.insert(r.offset, t);
                }
                _ => {
                    return Err(BuildOutcome::Skip(format!(
                        "{name}: unsupported by the qemu harness: relocation {:?} to {:?}",
                        r.kind, r.target
                    )))
                }
            }
        }
        let _ = writeln!(asm, ".balign 16\n.globl {0}\n{0}:", sym(i));
        let words = code.code.chunks_exact(4);
        let tail = words.remainder();
        for (k, w) in words.enumerate() {
            match calls.get(&(4 * k as u32)) {
                Some(&t) => {
                    let _ = writeln!(asm, "  bl {}", sym(t));
                }
                None => {
                    let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                    let _ = writeln!(asm, "  .inst 0x{word:08x}");
                }
            }
        }
        for b in tail {
            let _ = writeln!(asm, "  .byte 0x{b:02x}");
        }
    }
    // Pass 1: record the calls the directives make.
    let mut calls: Vec<Call> = Vec::new();
    let mut record = |name: &str, args: &[DataValue]| {
        if let Some(func) = names.iter().position(|n| n == name) {
            calls.push(Call {
                func,
                args: args.to_vec(),
            });
        }
        Err::<Vec<DataValue>, String>("pending".into())
    };
    check_file_run_directives(file, &mut record);
    if calls.is_empty() {
        return Ok(());
    }
    // The harness: one guarded call per directive.
    let mut c = String::from(HARNESS_PRELUDE);
    let mut declared = std::collections::HashSet::new();
    for call in &calls {
        let f = &file.functions[call.func].func;
        let sig = &f.signature;
        let name = &names[call.func];
        if !matches!(sig.call_conv, CallConv::Fast | CallConv::SystemV) {
            return Err(BuildOutcome::Skip(format!(
                "{name}: unsupported by the qemu harness: calling convention {}",
                sig.call_conv.as_str()
            )));
        }
        if sig.returns.len() > 1 {
            return Err(BuildOutcome::Skip(format!(
                "{name}: unsupported by the qemu harness: {} results",
                sig.returns.len()
            )));
        }
        let ret = match sig.returns.first() {
            Some(r) => c_type(r.value_type),
            None => Some("void"),
        };
        let params: Option<Vec<&str>> = sig.params.iter().map(|p| c_type(p.value_type)).collect();
        let (Some(ret), Some(params)) = (ret, params) else {
            return Err(BuildOutcome::Skip(format!(
                "{name}: unsupported by the qemu harness: signature {sig:?}"
            )));
        };
        if declared.insert(call.func) {
            let ps = if params.is_empty() {
                "void".to_string()
            } else {
                params.join(", ")
            };
            let _ = writeln!(c, "extern {ret} {}({ps});", sym(call.func));
        }
    }
    c.push_str(
        "int main(void) {\n  struct sigaction sa; memset(&sa, 0, sizeof sa);\n  \
         sa.sa_handler = on_signal; sa.sa_flags = SA_NODEFER;\n  \
         int sigs[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP};\n  \
         for (int i = 0; i < 5; i++) sigaction(sigs[i], &sa, 0);\n  int sig;\n",
    );
    for (k, call) in calls.iter().enumerate() {
        let f = &file.functions[call.func].func;
        let sig = &f.signature;
        let mut args = Vec::new();
        for (p, a) in sig.params.iter().zip(&call.args) {
            match c_value(p.value_type, a) {
                Some(v) => args.push(v),
                None => {
                    return Err(BuildOutcome::Skip(format!(
                        "{}: unsupported by the qemu harness: argument {a}",
                        names[call.func]
                    )))
                }
            }
        }
        let invoke = format!("{}({})", sym(call.func), args.join(", "));
        let body = match sig.returns.first().map(|r| r.value_type) {
            None => format!("{invoke}; printf(\"{k} ok\\n\");"),
            Some(Type::F32) => format!("out_f32({k}, {invoke});"),
            Some(Type::F64) => format!("out_f64({k}, {invoke});"),
            Some(Type::I128) => format!("out_i128({k}, {invoke});"),
            Some(t) => format!(
                "out_int({k}, (unsigned long long)(uint{}_t){invoke});",
                t.bits()
            ),
        };
        let _ = writeln!(
            c,
            "  if ((sig = sigsetjmp(jb, 1)) == 0) {{ {body} }} else printf(\"{k} trap %d\\n\", sig);\n  fflush(stdout);"
        );
    }
    c.push_str("  return 0;\n}\n");
    let output = link_and_run(&asm, &c)?;
    // Pass 2: replay the directives with the results.
    let mut results: Vec<Option<Result<Vec<DataValue>, String>>> = vec![None; calls.len()];
    for line in output.lines() {
        let mut it = line.splitn(3, ' ');
        let (Some(k), Some(kind)) = (it.next(), it.next()) else {
            continue;
        };
        let Some(k) = k.parse::<usize>().ok().filter(|&k| k < calls.len()) else {
            continue;
        };
        let rest = it.next().unwrap_or("");
        let ret_ty = file.functions[calls[k].func]
            .func
            .signature
            .returns
            .first()
            .map(|r| r.value_type);
        results[k] = Some(match kind {
            "ok" => parse_result(ret_ty, rest)
                .ok_or_else(|| format!("unreadable result `{rest}` from the harness")),
            _ => Err(format!("trapped under qemu (signal {rest})")),
        });
    }
    let mut next = 0usize;
    let mut replay = |_: &str, _: &[DataValue]| {
        let r = results
            .get_mut(next)
            .and_then(Option::take)
            .unwrap_or_else(|| Err("no result from the qemu run (it stopped early)".into()));
        next += 1;
        r
    };
    let failures = check_file_run_directives(file, &mut replay);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(BuildOutcome::Fail(
            failures.into_iter().map(|f| f.message).collect(),
        ))
    }
}

fn parse_result(ty: Option<Type>, text: &str) -> Option<Vec<DataValue>> {
    let Some(ty) = ty else {
        return Some(Vec::new());
    };
    let v = match ty {
        Type::F32 => DataValue::F32(Ieee32(u32::from_str_radix(text, 16).ok()?)),
        Type::F64 => DataValue::F64(Ieee64(u64::from_str_radix(text, 16).ok()?)),
        Type::I128 => {
            let (hi, lo) = text.split_once(':')?;
            let hi = u64::from_str_radix(hi, 16).ok()? as u128;
            let lo = u64::from_str_radix(lo, 16).ok()? as u128;
            DataValue::I128(((hi << 64) | lo) as i128)
        }
        _ => DataValue::from_integer(u64::from_str_radix(text, 16).ok()? as i128, ty)?,
    };
    Some(vec![v])
}

/// A fresh scratch directory for one file's build.
fn scratch_dir() -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kiln-qemu-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Links `asm` with the harness `c` and runs it under qemu; its stdout.
fn link_and_run(asm: &str, c: &str) -> Result<String, BuildOutcome> {
    let fail = |what: String| BuildOutcome::Fail(vec![what]);
    let dir = scratch_dir().map_err(|e| fail(format!("scratch directory: {e}")))?;
    let result = (|| {
        let s = dir.join("funcs.s");
        let h = dir.join("harness.c");
        let exe = dir.join("prog");
        std::fs::write(&s, asm).map_err(|e| fail(format!("writing {}: {e}", s.display())))?;
        std::fs::write(&h, c).map_err(|e| fail(format!("writing {}: {e}", h.display())))?;
        let out = Command::new(GCC)
            .args(["-O1", "-static", "-o"])
            .arg(&exe)
            .arg(&h)
            .arg(&s)
            .output()
            .map_err(|e| fail(format!("{GCC}: {e}")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "{GCC} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let out = Command::new(QEMU)
            .arg(&exe)
            .output()
            .map_err(|e| fail(format!("{QEMU}: {e}")))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
