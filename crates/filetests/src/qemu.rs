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
//! relocation other than a call between the file's own functions or the
//! 8-byte address of one (written as `.quad`).

use crate::check_file_run_directives;
use crate::run::{BuildOutcome, CompileFn};
use kiln_codegen::compiled::FinalName;
use kiln_codegen::isa::aarch64::abi::{self, ArgLoc};
use kiln_codegen::isa::aarch64::regs;
use kiln_codegen::isa::TargetIsa;
use kiln_codegen::machinst::buffer::Reloc;
use kiln_codegen::result::CodegenError;
use kiln_ir::{DataValue, Ieee32, Ieee64, Type, UserFuncName};
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

/// `kiln_invoke(f, ia, fa, oi, of, ra, sa, sa_bytes)`: copies `sa_bytes`
/// (a multiple of 16) of stack arguments from `sa` below the stack
/// pointer, calls `f` with x0-x7 = `ia[..]`, d0-d7 = `fa[..]` and x8 =
/// `ra`, then stores x0-x7 and d0-d7 to `oi` and `of` (a callee that pops
/// its stack arguments is fine: sp is restored from x29).
const INVOKE_SHIM: &str = "
.balign 16
.globl kiln_invoke
kiln_invoke:
  stp x29, x30, [sp, #-32]!
  mov x29, sp
  stp x19, x20, [sp, #16]
  mov x19, x3
  mov x20, x4
  mov x16, x0
  mov x8, x5
  sub sp, sp, x7
  mov x9, #0
1:
  cmp x9, x7
  b.ge 2f
  ldr x10, [x6, x9]
  str x10, [sp, x9]
  add x9, x9, #8
  b 1b
2:
  ldp d0, d1, [x2]
  ldp d2, d3, [x2, #16]
  ldp d4, d5, [x2, #32]
  ldp d6, d7, [x2, #48]
  mov x17, x1
  ldp x0, x1, [x17]
  ldp x2, x3, [x17, #16]
  ldp x4, x5, [x17, #32]
  ldp x6, x7, [x17, #48]
  blr x16
  stp x0, x1, [x19]
  stp x2, x3, [x19, #16]
  stp x4, x5, [x19, #32]
  stp x6, x7, [x19, #48]
  stp d0, d1, [x20]
  stp d2, d3, [x20, #16]
  stp d4, d5, [x20, #32]
  stp d6, d7, [x20, #48]
  mov sp, x29
  ldp x19, x20, [sp, #16]
  ldp x29, x30, [sp], #32
  ret
";

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
extern void kiln_invoke(void (*f)(void), uint64_t *ia, uint64_t *fa, uint64_t *oi,
                        uint64_t *of, uint64_t *ra, uint64_t *sa, uint64_t sa_bytes);
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
        // 8-byte absolute addresses of the file's functions (`func_addr`
        // literals): offset -> (function, addend).
        let mut addrs = std::collections::HashMap::new();
        for r in &code.relocs {
            let callee = match &r.target {
                FinalName::TestCase(t) => names.iter().position(|n| n == t.as_str()),
                FinalName::User(u) => {
                    let u = u.to_string();
                    names.iter().position(|n| *n == u)
                }
                _ => None,
            };
            match (r.kind, callee) {
                (Reloc::Abs8, Some(t)) if r.offset % 4 == 0 => {
                    addrs.insert(r.offset, (t, r.addend));
                }
                (Reloc::Aarch64Call26, Some(t)) if r.addend == 0 => {
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
        let mut skip = false;
        for (k, w) in words.enumerate() {
            if std::mem::take(&mut skip) {
                continue;
            }
            if let Some(&(t, addend)) = addrs.get(&(4 * k as u32)) {
                let _ = writeln!(asm, "  .quad {}{:+}", sym(t), addend);
                skip = true;
                continue;
            }
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
    // The harness: one guarded call per directive, through `kiln_invoke`
    // (x0-x7 and d0-d7 loaded from arrays, x8 = a return area, every
    // result register stored back), so any register signature works.
    asm.push_str(INVOKE_SHIM);
    let mut c = String::from(HARNESS_PRELUDE);
    // The integer register class, named through a register.
    let int_class = regs::xreg_preg(0).class();
    for (i, _) in file.functions.iter().enumerate() {
        let _ = writeln!(c, "extern void {}(void);", sym(i));
    }
    c.push_str(
        "int main(void) {\n  struct sigaction act; memset(&act, 0, sizeof act);\n  \
         act.sa_handler = on_signal; act.sa_flags = SA_NODEFER;\n  \
         int sigs[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP};\n  \
         for (int i = 0; i < 5; i++) sigaction(sigs[i], &act, 0);\n  int sig;\n  \
         static uint64_t ia[8], fa[8], oi[8], of[8], ra[64], sa[64];\n",
    );
    for (k, call) in calls.iter().enumerate() {
        let f = &file.functions[call.func].func;
        let name = &names[call.func];
        let locs = abi::sig_locs(&f.signature).map_err(|e| {
            BuildOutcome::Skip(format!("{name}: unsupported by the qemu harness: {e}"))
        })?;
        if locs.stack_args_size > 512 || locs.ret_area_size > 512 {
            return Err(BuildOutcome::Skip(format!(
                "{name}: unsupported by the qemu harness: more than 512 bytes of stack arguments or results"
            )));
        }
        let mut body = String::from("memset(ia, 0, 64); memset(fa, 0, 64); memset(sa, 0, 512); ");
        for ((p, parts), a) in f.signature.params.iter().zip(&locs.params).zip(&call.args) {
            let ty = p.value_type;
            if c_type(ty).is_none() {
                return Err(BuildOutcome::Skip(format!(
                    "{name}: unsupported by the qemu harness: {ty} arguments"
                )));
            }
            let bits = a.to_bits().unwrap_or(0);
            for (n, loc) in parts.iter().enumerate() {
                let word = (bits >> (64 * n)) as u64;
                match loc {
                    ArgLoc::Reg(r) => {
                        let arr = if r.class() == int_class { "ia" } else { "fa" };
                        let _ = write!(body, "{arr}[{}] = 0x{word:x}ull; ", r.hw_enc());
                    }
                    ArgLoc::Stack(off) => {
                        // Little-endian: the value's low bytes at its offset.
                        let size = (ty.bytes() as usize).min(8);
                        let _ = write!(
                            body,
                            "{{ uint64_t w = 0x{word:x}ull; memcpy((char *)sa + {off}, &w, {size}); }} "
                        );
                    }
                }
            }
        }
        let mut rets = Vec::new();
        for (r, parts) in f.signature.returns.iter().zip(&locs.returns) {
            if c_type(r.value_type).is_none() {
                return Err(BuildOutcome::Skip(format!(
                    "{name}: unsupported by the qemu harness: {} results",
                    r.value_type
                )));
            }
            rets.push(
                parts
                    .iter()
                    .map(|loc| match loc {
                        ArgLoc::Reg(p) if p.class() == int_class => {
                            format!("oi[{}]", p.hw_enc())
                        }
                        ArgLoc::Reg(p) => format!("of[{}]", p.hw_enc()),
                        ArgLoc::Stack(off) => format!("ra[{}]", off / 8),
                    })
                    .collect::<Vec<_>>(),
            );
        }
        let _ = write!(
            body,
            "kiln_invoke({}, ia, fa, oi, of, ra, sa, {}); printf(\"{k} ok\");",
            sym(call.func),
            locs.stack_args_size
        );
        for part in rets.iter().flatten() {
            let _ = write!(body, " printf(\" %llx\", (unsigned long long){part});");
        }
        body.push_str(" printf(\"\\n\");");
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
        let rets: Vec<Type> = file.functions[calls[k].func]
            .func
            .signature
            .returns
            .iter()
            .map(|r| r.value_type)
            .collect();
        results[k] = Some(match kind {
            "ok" => parse_results(&rets, rest)
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

/// The results of one call from the words the harness printed (one per
/// register part: an `i128` takes two, low first).
fn parse_results(tys: &[Type], text: &str) -> Option<Vec<DataValue>> {
    let mut words = text
        .split_whitespace()
        .map(|w| u64::from_str_radix(w, 16).ok());
    let mut out = Vec::with_capacity(tys.len());
    for &ty in tys {
        let w = words.next()??;
        out.push(match ty {
            Type::F32 => DataValue::F32(Ieee32(w as u32)),
            Type::F64 => DataValue::F64(Ieee64(w)),
            Type::I128 => {
                let hi = words.next()??;
                DataValue::I128((((hi as u128) << 64) | w as u128) as i128)
            }
            _ => DataValue::from_integer(w as i128, ty)?,
        });
    }
    Some(out)
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
