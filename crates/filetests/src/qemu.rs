//! `test run` for aarch64 on a non-aarch64 host: every function of a file is
//! compiled and written into one relocatable aarch64 ELF object by Kiln's
//! own object writer (`kiln_object::ObjectModule`; calls between the file's
//! functions are `R_AARCH64_CALL26` relocations to their symbols, libcalls
//! imports of the C library's), linked with a generated C harness by
//! `aarch64-linux-gnu-gcc`, and run once under `qemu-aarch64`; the harness
//! performs every `; run:` call of the file and prints the results, which
//! are read back and checked like native results. One link and one qemu
//! run per file.
//!
//! A call that traps (SIGILL from `udf`, SIGSEGV, ...) is caught by the
//! harness and reported as a failure naming the signal. What the harness
//! cannot call through C (vector values, more than 512 bytes of
//! stack arguments) skips the file with the reason, as does a relocation to
//! a name the file does not define (calls and 8-byte addresses of the
//! file's own functions are linked by the object writer).

use crate::check_file_run_directives;
use crate::run::{BuildOutcome, CompileFn};
use kiln_codegen::compiled::{CompiledCode, Final, FinalName};
use kiln_codegen::isa::aarch64::abi::{self, ArgLoc};
use kiln_codegen::isa::aarch64::regs;
use kiln_codegen::isa::TargetIsa;
use kiln_codegen::result::CodegenError;
use kiln_codegen::settings::Arch;
use kiln_ir::{
    DataValue, Ieee128, Ieee16, Ieee32, Ieee64, Signature, TrapCode, Type, UserExternalName,
    UserFuncName,
};
use kiln_module::module::{FuncOrDataId, Linkage, Module};
use kiln_object::ObjectModule;
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
        // Passed as bits: the harness fills and reads FP registers whole.
        Type::F16 => "uint16_t",
        Type::F128 => "__int128",
        _ => return None,
    })
}

/// `kiln_invoke(f, ia, fa, oi, of, ra, sa, sa_bytes)`: copies `sa_bytes`
/// (a multiple of 16) of stack arguments from `sa` below the stack
/// pointer, calls `f` with x0-x7 = `ia[..]`, q0-q7 = `fa[..]` (two words
/// each, low first: f16/f32/f64 in the low bits, f128 whole) and x8 =
/// `ra`, then stores x0-x7 and q0-q7 to `oi` and `of` (a callee that pops
/// its stack arguments is fine: sp is restored from x29). A top-level
/// `__asm__` of the C harness, so the link has two inputs: the harness and
/// Kiln's object.
const INVOKE_SHIM: &str = "
.text
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
  ldp q0, q1, [x2]
  ldp q2, q3, [x2, #32]
  ldp q4, q5, [x2, #64]
  ldp q6, q7, [x2, #96]
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
  stp q0, q1, [x20]
  stp q2, q3, [x20, #32]
  stp q4, q5, [x20, #64]
  stp q6, q7, [x20, #96]
  mov sp, x29
  ldp x19, x20, [sp, #16]
  ldp x29, x30, [sp], #32
  ret
";

/// The user-name namespace the harness gives the file's own functions in
/// the object (`kiln_fn_<index>`), so that a test-case name like `%main` or
/// `%abs` never meets the C library's symbol of the same name.
const HARNESS_NS: u32 = u32::MAX;

/// The symbol of the `i`-th function of the file.
fn sym(i: usize) -> String {
    format!("kiln_fn_{i}")
}

const HARNESS_PRELUDE: &str = r#"#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <setjmp.h>
#include <ucontext.h>
static sigjmp_buf jb;
static uintptr_t trap_pc;
/* The directive being run (the throw path reports against it). */
static int kiln_cur_call;
#define KILN_NO_HANDLER 4096
static void on_signal(int sig, siginfo_t *si, void *uc) {
  (void)si;
  trap_pc = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.pc;
  siglongjmp(jb, sig);
}
static float f32_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static double f64_bits(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }
static void out_f32(int k, float f) { uint32_t b; memcpy(&b, &f, 4); printf("%d ok %x\n", k, b); }
static void out_f64(int k, double d) { uint64_t b; memcpy(&b, &d, 8); printf("%d ok %llx\n", k, (unsigned long long)b); }
extern void kiln_invoke(void (*f)(void), uint64_t *ia, uint64_t *fa, uint64_t *oi,
                        uint64_t *of, uint64_t *ra, uint64_t *sa, uint64_t sa_bytes);
"#;

/// One function of a batch: its signature and its code (relocations
/// between the batch's functions already point at `HARNESS_NS` names, see
/// [`retarget_relocs`]).
pub struct BatchFunc {
    pub signature: Signature,
    pub code: CompiledCode<Final>,
}

/// One call the harness makes: function `func` of the batch with `args`.
pub struct BatchCall {
    pub func: usize,
    pub args: Vec<DataValue>,
}

/// How one call of a batch ended.
#[derive(Clone, Debug, PartialEq)]
pub enum CallOutcome {
    /// It returned these values.
    Returned(Vec<DataValue>),
    /// It stopped with a signal; `code` is the trap record at the faulting
    /// pc, if there is one; `message` says it as the JIT would.
    Trapped {
        code: Option<TrapCode>,
        message: String,
    },
    /// The harness printed nothing (or nothing readable) for it: the run
    /// stopped early, timed out, or the output was damaged.
    Missing(String),
}

/// Whether the harness can call a function of signature `sig`: every
/// parameter and result a scalar C type, at most 512 bytes of stack
/// arguments and of return area. The error says what it cannot do.
pub fn check_signature(sig: &Signature) -> Result<(), String> {
    let locs = abi::sig_locs(sig).map_err(|e| e.to_string())?;
    if locs.stack_args_size > 512 || locs.ret_area_size > 512 {
        return Err("more than 512 bytes of stack arguments or results".into());
    }
    for p in &sig.params {
        if c_type(p.value_type).is_none() {
            return Err(format!("{} arguments", p.value_type));
        }
    }
    for r in &sig.returns {
        if c_type(r.value_type).is_none() {
            return Err(format!("{} results", r.value_type));
        }
    }
    Ok(())
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
    let mut funcs = Vec::with_capacity(file.functions.len());
    for (i, f) in file.functions.iter().enumerate() {
        let name = &names[i];
        let mut code = match compile(&f.func) {
            Ok(c) => c,
            Err(CodegenError::Unsupported { what }) => {
                return Err(BuildOutcome::Skip(format!("{name}: unsupported: {what}")))
            }
            Err(e) => return Err(BuildOutcome::Fail(vec![format!("{name}: {e}")])),
        };
        retarget_relocs(&mut code, &names, 0).map_err(|why| {
            BuildOutcome::Skip(format!("{name}: unsupported by the qemu harness: {why}"))
        })?;
        funcs.push(BatchFunc {
            signature: f.func.stencil.signature.clone(),
            code,
        });
    }
    // Pass 1: record the calls the directives make.
    let mut calls: Vec<BatchCall> = Vec::new();
    let mut record = |name: &str, args: &[DataValue]| {
        if let Some(func) = names.iter().position(|n| n == name) {
            calls.push(BatchCall {
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
    for call in &calls {
        check_signature(&funcs[call.func].signature).map_err(|why| {
            BuildOutcome::Skip(format!(
                "{}: unsupported by the qemu harness: {why}",
                names[call.func]
            ))
        })?;
    }
    let outcomes =
        run_batch(&funcs, &calls, &names, None).map_err(|e| BuildOutcome::Fail(vec![e]))?;
    // Pass 2: replay the directives with the results.
    let mut results: Vec<Option<Result<Vec<DataValue>, String>>> = outcomes
        .into_iter()
        .map(|o| {
            Some(match o {
                CallOutcome::Returned(v) => Ok(v),
                CallOutcome::Trapped { message, .. } => Err(message),
                CallOutcome::Missing(why) => Err(why),
            })
        })
        .collect();
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

/// Writes `funcs` into one aarch64 object (function `i` as `kiln_fn_<i>`),
/// links it with a harness that makes every call of `calls` (each guarded:
/// a signal is caught and reported, and the next call runs), runs it once
/// under qemu (killed after `timeout`, if given) and returns each call's
/// outcome, in order. `names[i]` names function `i` in trap messages.
/// Every called function must pass [`check_signature`]. An error is a
/// failure of the object writer, the link or the emulator itself.
pub fn run_batch(
    funcs: &[BatchFunc],
    calls: &[BatchCall],
    names: &[String],
    timeout: Option<std::time::Duration>,
) -> Result<Vec<CallOutcome>, String> {
    let uses_throw = funcs.iter().any(|f| calls_throw(&f.code));
    let object =
        write_object(funcs, uses_throw).map_err(|e| format!("writing the aarch64 object: {e}"))?;
    // The harness: one guarded call per directive, through `kiln_invoke`
    // (x0-x7 and q0-q7 loaded from arrays, x8 = a return area, every
    // result register stored back), so any register signature works.
    let mut c = String::from(HARNESS_PRELUDE);
    c.push_str("__asm__(\"");
    for line in INVOKE_SHIM.lines() {
        let _ = write!(c, "{line}\\n");
    }
    c.push_str("\");\n");
    // The integer register class, named through a register.
    let int_class = regs::xreg_preg(0).class();
    for i in 0..funcs.len() {
        let _ = writeln!(c, "extern void {}(void);", sym(i));
    }
    // Where each function starts and how long it is: a trap prints the
    // function and offset of the faulting pc.
    c.push_str("static void (*const fn_start[])(void) = {");
    for i in 0..funcs.len() {
        let _ = write!(c, "{}, ", sym(i));
    }
    c.push_str("};\nstatic const unsigned long fn_len[] = {");
    for f in funcs {
        let _ = write!(c, "{}ul, ", f.code.code.len());
    }
    let _ = writeln!(
        c,
        "}};\nstatic void print_trap(int k, int sig) {{\n  \
         for (int i = 0; i < {n}; i++) {{\n    \
         uintptr_t a = (uintptr_t)fn_start[i];\n    \
         if (trap_pc >= a && trap_pc < a + fn_len[i]) {{ printf(\"%d trap %d %d %lu\\n\", k, sig, i, (unsigned long)(trap_pc - a)); return; }}\n  \
         }}\n  printf(\"%d trap %d\\n\", k, sig);\n}}",
        n = funcs.len()
    );
    if uses_throw {
        let tables: Vec<FnThrowTables> = funcs.iter().map(|f| FnThrowTables::of(&f.code)).collect();
        write_throw_tables(&mut c, &tables);
        c.push_str(THROW_C);
    }
    // The calls as data (a harness of a few lines whatever the number of
    // calls, so the C compiler's time does not grow with the batch): per
    // call its function, x0-x7, q0-q7 (two words each, low first: f16,
    // f32 and f64 in the low bits, f128 whole), the stack-argument words
    // and where each result word is (`oi`/`of` word or return-area word).
    let mut table = String::from("static const struct call calls[] = {\n");
    let mut words = String::from("static const struct sw sws[] = {\n");
    let mut parts = String::from("static const unsigned short rets[] = {\n");
    let (mut nwords, mut nparts) = (0usize, 0usize);
    for call in calls {
        let sig = &funcs[call.func].signature;
        let locs = abi::sig_locs(sig).map_err(|e| e.to_string())?;
        let (mut ia, mut fa) = ([0u64; 8], [0u64; 16]);
        let first_word = nwords;
        for ((p, ploc), a) in sig.params.iter().zip(&locs.params).zip(&call.args) {
            let ty = p.value_type;
            let bits = a.to_bits().unwrap_or(0);
            for (n, loc) in ploc.iter().enumerate() {
                let word = (bits >> (64 * n)) as u64;
                // An f128 is one part of two words (a q register, or 16
                // bytes of stack).
                let high = (ty == Type::F128).then_some((bits >> 64) as u64);
                match loc {
                    ArgLoc::Reg(r) if r.class() == int_class => ia[r.hw_enc() & 7] = word,
                    ArgLoc::Reg(r) => {
                        let q = 2 * (r.hw_enc() & 7);
                        fa[q] = word;
                        if let Some(h) = high {
                            fa[q + 1] = h;
                        }
                    }
                    ArgLoc::Stack(off) => {
                        // Little-endian: the value's low bytes at its offset.
                        let size = (ty.bytes() as usize).min(8);
                        let _ = writeln!(words, "{{{off}, {size}, 0x{word:x}ull}},");
                        nwords += 1;
                        if let Some(h) = high {
                            let _ = writeln!(words, "{{{}, 8, 0x{h:x}ull}},", off + 8);
                            nwords += 1;
                        }
                    }
                }
            }
        }
        let first_part = nparts;
        for (r, rloc) in sig.returns.iter().zip(&locs.returns) {
            // An f128 result is read as two words, low first.
            let nw = if r.value_type == Type::F128 { 2 } else { 1 };
            for loc in rloc {
                for w in 0..nw {
                    // 0: oi[i], 1: of[i] (word i of the q array), 2: ra[i]
                    // (kind << 8 | i).
                    let code = match loc {
                        ArgLoc::Reg(p) if p.class() == int_class => p.hw_enc() & 7,
                        ArgLoc::Reg(p) => 0x100 | (2 * (p.hw_enc() & 7) + w),
                        ArgLoc::Stack(off) => 0x200 | (*off as usize / 8 + w),
                    };
                    let _ = writeln!(parts, "{code},");
                    nparts += 1;
                }
            }
        }
        let hex = |a: &[u64]| {
            a.iter()
                .map(|w| format!("0x{w:x}ull"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = writeln!(
            table,
            "{{{}, {}, {first_word}, {}, {first_part}, {}, {{{}}}, {{{}}}}},",
            call.func,
            locs.stack_args_size,
            nwords - first_word,
            nparts - first_part,
            hex(&ia),
            hex(&fa)
        );
    }
    // Empty initializers are not C; a dummy entry that nothing reads.
    if nwords == 0 {
        words.push_str("{0, 0, 0},\n");
    }
    if nparts == 0 {
        parts.push_str("0,\n");
    }
    c.push_str(
        "struct call { int f; unsigned sa_bytes; unsigned w0, nw, r0, nr; uint64_t ia[8], fa[16]; };\n\
         struct sw { unsigned off, size; uint64_t w; };\n",
    );
    c.push_str(&table);
    c.push_str("};\n");
    c.push_str(&words);
    c.push_str("};\n");
    c.push_str(&parts);
    c.push_str("};\n");
    let _ = writeln!(
        c,
        "static volatile int k;\nenum {{ NCALLS = {} }};",
        calls.len()
    );
    c.push_str(
        "int main(void) {\n  struct sigaction act; memset(&act, 0, sizeof act);\n  \
         act.sa_sigaction = on_signal; act.sa_flags = SA_NODEFER | SA_SIGINFO;\n  \
         int sigs[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGTRAP};\n  \
         for (int i = 0; i < 5; i++) sigaction(sigs[i], &act, 0);\n  int sig;\n  \
         static uint64_t ia[8], fa[16], oi[8], of[16], ra[64], sa[64];\n  \
         for (k = 0; k < NCALLS; k++) {\n    \
         const struct call *c = &calls[k];\n    \
         kiln_cur_call = k;\n    \
         if ((sig = sigsetjmp(jb, 1)) == 0) {\n      \
         memcpy(ia, c->ia, 64); memcpy(fa, c->fa, 128); memset(sa, 0, 512);\n      \
         for (unsigned j = c->w0; j < c->w0 + c->nw; j++) memcpy((char *)sa + sws[j].off, &sws[j].w, sws[j].size);\n      \
         kiln_invoke(fn_start[c->f], ia, fa, oi, of, ra, sa, c->sa_bytes);\n      \
         printf(\"%d ok\", k);\n      \
         for (unsigned j = c->r0; j < c->r0 + c->nr; j++) {\n        \
         unsigned r = rets[j], i = r & 0xff;\n        \
         uint64_t v = (r >> 8) == 0 ? oi[i] : (r >> 8) == 1 ? of[i] : ra[i];\n        \
         printf(\" %llx\", (unsigned long long)v);\n      \
         }\n      \
         printf(\"\\n\");\n    \
         } else if (sig != KILN_NO_HANDLER) print_trap(k, sig);\n    \
         fflush(stdout);\n  \
         }\n  \
         return 0;\n}\n",
    );
    let (output, stopped) = link_and_run(&object, &c, timeout)?;
    let mut results: Vec<Option<CallOutcome>> = vec![None; calls.len()];
    for line in output.lines() {
        let mut it = line.splitn(3, ' ');
        let (Some(k), Some(kind)) = (it.next(), it.next()) else {
            continue;
        };
        let Some(k) = k.parse::<usize>().ok().filter(|&k| k < calls.len()) else {
            continue;
        };
        let rest = it.next().unwrap_or("");
        let rets: Vec<Type> = funcs[calls[k].func]
            .signature
            .returns
            .iter()
            .map(|r| r.value_type)
            .collect();
        results[k] = Some(match kind {
            "ok" => match parse_results(&rets, rest) {
                Some(v) => CallOutcome::Returned(v),
                None => {
                    CallOutcome::Missing(format!("unreadable result `{rest}` from the harness"))
                }
            },
            "nohandler" => CallOutcome::Trapped {
                code: None,
                message: no_handler_message(rest),
            },
            _ => {
                let (code, message) = trap_message(rest, names, funcs);
                CallOutcome::Trapped { code, message }
            }
        });
    }
    let why = stopped.unwrap_or_else(|| "no result from the qemu run (it stopped early)".into());
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| CallOutcome::Missing(why.clone())))
        .collect())
}

/// Points every relocation to one of `names` (functions `base..` of a
/// batch) at that function's harness name (`HARNESS_NS`); libcalls stay
/// (the C library defines them); `%__cranelift_throw`, when the batch does
/// not define it, goes to the harness's throw path (whether it was named
/// is returned). Anything else is not something the harness can link.
pub fn retarget_relocs(
    code: &mut CompiledCode<Final>,
    names: &[String],
    base: usize,
) -> Result<bool, String> {
    let mut throw = false;
    for r in &mut code.relocs {
        let name = match &r.target {
            FinalName::TestCase(t) => Some(t.as_str().to_string()),
            FinalName::User(u) => Some(u.to_string()),
            FinalName::LibCall(_) => continue,
            FinalName::KnownSymbol(_) => None,
        };
        let own = name
            .as_deref()
            .and_then(|n| names.iter().position(|m| m == n));
        let k = match (own, name.as_deref()) {
            (Some(k), _) => (base + k) as u32,
            (None, Some(THROW_SYMBOL)) => {
                throw = true;
                THROW_INDEX
            }
            _ => return Err(format!("relocation {:?} to {:?}", r.kind, r.target)),
        };
        r.target = FinalName::User(UserExternalName::new(HARNESS_NS, k));
    }
    Ok(throw)
}

/// The harness name (in `HARNESS_NS`) of the throw path; function indices
/// never reach it.
const THROW_INDEX: u32 = u32::MAX;

/// Whether `code` calls the harness's throw path (after
/// [`retarget_relocs`]).
fn calls_throw(code: &CompiledCode<Final>) -> bool {
    code.relocs
        .iter()
        .any(|r| r.target == FinalName::User(UserExternalName::new(HARNESS_NS, THROW_INDEX)))
}

/// The runtime CLIF exception code calls (`kiln_module::throw`); the
/// harness defines it in C (`qemu_throw.c`).
const THROW_SYMBOL: &str = kiln_module::throw::THROW_SYMBOL;

/// The walk of the harness's throw path, written after the tables.
const THROW_C: &str = include_str!("qemu_throw.c");

/// One function's tables for the harness's throw path: its unwind rows
/// and its `try_call` sites, as `kiln_module::throw::ThrowTables`
/// registers them for the JIT.
struct FnThrowTables {
    rows: Vec<kiln_codegen::unwind::Row>,
    sites: Vec<kiln_codegen::machinst::buffer::ExceptionCallSite>,
}

impl FnThrowTables {
    fn of(code: &CompiledCode<Final>) -> Self {
        use kiln_codegen::unwind::{rows, CfiTarget};
        let rows = if code.unwind.is_empty() {
            // No unwind information: a throw cannot pass this function.
            Vec::new()
        } else {
            rows(
                CfiTarget::new(Arch::Aarch64),
                &code.unwind,
                code.code.len() as u32,
            )
        };
        FnThrowTables {
            rows,
            sites: code.exception_sites.clone(),
        }
    }
}

/// The C tables `qemu_throw.c` walks: per function (in `fn_start` order)
/// its ranges of `kiln_rows`, `kiln_sites`; per site its range of
/// `kiln_handlers` (tag -1: `default:`). A row is `fp_based` when the CFA
/// is x29 + offset and both the caller's x29 and the return address are
/// saved in the frame — the only rows the walk can step, as in
/// `kiln_module::throw::find_handler`.
fn write_throw_tables(c: &mut String, tables: &[FnThrowTables]) {
    use kiln_codegen::unwind::CfaBase;
    c.push_str(
        "struct kiln_row { uint32_t start, end; int32_t cfa_offset; uint32_t fp_below, ra_below; int fp_based; };\n\
         struct kiln_handler { int64_t tag; uint32_t handler; };\n\
         struct kiln_site { uint32_t ret_addr, fp_to_sp, first_handler, nhandlers; };\n\
         struct kiln_fn { uint32_t first_row, nrows, first_site, nsites; };\n",
    );
    let (mut rows, mut sites, mut handlers, mut fns) =
        (String::new(), String::new(), String::new(), String::new());
    let (mut nrow, mut nsite, mut nhandler) = (0usize, 0usize, 0usize);
    for t in tables {
        let _ = write!(
            fns,
            "{{{nrow}, {}, {nsite}, {}}}, ",
            t.rows.len(),
            t.sites.len()
        );
        for r in &t.rows {
            let (fp, ra) = (r.fp_saved, r.ra_saved);
            let fp_based = r.cfa_base == CfaBase::Fp && fp.is_some() && ra.is_some();
            let _ = write!(
                rows,
                "{{{}, {}, {}, {}, {}, {}}}, ",
                r.start,
                r.end,
                r.cfa_offset,
                fp.unwrap_or(0),
                ra.unwrap_or(0),
                i32::from(fp_based)
            );
            nrow += 1;
        }
        for s in &t.sites {
            let _ = write!(
                sites,
                "{{{}, {}, {nhandler}, {}}}, ",
                s.ret_addr,
                s.fp_to_sp,
                s.handlers.len()
            );
            nsite += 1;
            for h in &s.handlers {
                let tag = h.tag.map_or(-1, i64::from);
                let _ = write!(handlers, "{{{tag}, {}}}, ", h.handler);
                nhandler += 1;
            }
        }
    }
    // C arrays cannot be empty: a zero entry that no range points at.
    let nonempty = |s: String, zero: &str| if s.is_empty() { zero.to_string() } else { s };
    let _ = writeln!(c, "#define KILN_NFUNCS {}", tables.len());
    let _ = writeln!(
        c,
        "static const struct kiln_row kiln_rows[] = {{{}}};",
        nonempty(rows, "{0, 0, 0, 0, 0, 0}")
    );
    let _ = writeln!(
        c,
        "static const struct kiln_site kiln_sites[] = {{{}}};",
        nonempty(sites, "{0, 0, 0, 0}")
    );
    let _ = writeln!(
        c,
        "static const struct kiln_handler kiln_handlers[] = {{{}}};",
        nonempty(handlers, "{0, 0}")
    );
    let _ = writeln!(
        c,
        "static const struct kiln_fn kiln_fn_tables[] = {{{}}};",
        nonempty(fns, "{0, 0, 0, 0}")
    );
}

/// The message of a `nohandler TAG WHY PC` line, worded as the JIT's
/// throw path words it when it aborts.
fn no_handler_message(rest: &str) -> String {
    let mut w = rest.split_whitespace();
    let tag = w.next().unwrap_or("?");
    let why = w.next().unwrap_or("?");
    let pc = w.next().unwrap_or("?");
    format!("exception with tag {tag} has no handler: {why} (pc 0x{pc}, under qemu)")
}

/// The batch's functions as one relocatable aarch64 ELF object, function
/// `i` exported as `kiln_fn_<i>`.
fn write_object(
    funcs: &[BatchFunc],
    uses_throw: bool,
) -> Result<Vec<u8>, kiln_module::module::ModuleError> {
    let mut m = ObjectModule::new(Arch::Aarch64);
    let mut ids = Vec::with_capacity(funcs.len());
    for (i, f) in funcs.iter().enumerate() {
        let id = m.declare_function(&sym(i), Linkage::Export, &f.signature)?;
        m.bind_user_name(
            UserExternalName::new(HARNESS_NS, i as u32),
            FuncOrDataId::Func(id),
        )?;
        ids.push(id);
    }
    if uses_throw {
        // `__cranelift_throw(entry_fp, exit_fp, exit_pc, tag, payload1,
        // payload2)`, defined by the harness (`qemu_throw.c`).
        let mut sig = kiln_ir::Signature::new(kiln_ir::CallConv::SystemV);
        for ty in [
            Type::I64,
            Type::I64,
            Type::I64,
            Type::I32,
            Type::I64,
            Type::I64,
        ] {
            sig.params.push(kiln_ir::AbiParam::new(ty));
        }
        let id = m.declare_function(THROW_SYMBOL, Linkage::Import, &sig)?;
        m.bind_user_name(
            UserExternalName::new(HARNESS_NS, THROW_INDEX),
            FuncOrDataId::Func(id),
        )?;
    }
    for (f, id) in funcs.iter().zip(ids) {
        m.define_function(id, &f.signature, f.code.clone())?;
    }
    m.finish()
}

/// What a trap line of the harness (`SIG [FUNC OFFSET]`) means: the trap
/// code of the record at that offset and the message the JIT would give
/// (`trap stk_ovf at %f+0x1c`), else the signal.
fn trap_message(rest: &str, names: &[String], funcs: &[BatchFunc]) -> (Option<TrapCode>, String) {
    let mut w = rest.split_whitespace();
    let sig = w.next().unwrap_or("?");
    let place = w
        .next()
        .and_then(|f| f.parse::<usize>().ok())
        .zip(w.next().and_then(|o| o.parse::<u32>().ok()));
    if let Some((f, off)) = place {
        let code = funcs
            .get(f)
            .and_then(|func| func.code.traps.iter().find(|t| t.offset == off));
        if let (Some(t), Some(name)) = (code, names.get(f)) {
            return (
                Some(t.code),
                format!(
                    "trap {} at %{name}+{off:#x} (under qemu, signal {sig})",
                    t.code
                ),
            );
        }
    }
    (None, format!("trapped under qemu (signal {sig})"))
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
            Type::F16 => DataValue::F16(Ieee16(w as u16)),
            Type::F128 => {
                let hi = words.next()??;
                DataValue::F128(Ieee128((u128::from(hi) << 64) | u128::from(w)))
            }
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

/// Links the object `funcs` with the harness `c` and runs it under qemu;
/// its stdout, and why it stopped if it did not exit by itself (killed
/// after `timeout`).
fn link_and_run(
    funcs: &[u8],
    c: &str,
    timeout: Option<std::time::Duration>,
) -> Result<(String, Option<String>), String> {
    let dir = scratch_dir().map_err(|e| format!("scratch directory: {e}"))?;
    let result = (|| {
        let o = dir.join("funcs.o");
        let h = dir.join("harness.c");
        let exe = dir.join("prog");
        let out_path = dir.join("out.txt");
        std::fs::write(&o, funcs).map_err(|e| format!("writing {}: {e}", o.display()))?;
        std::fs::write(&h, c).map_err(|e| format!("writing {}: {e}", h.display()))?;
        let out = Command::new(GCC)
            .args(["-O1", "-static", "-o"])
            .arg(&exe)
            .arg(&h)
            .arg(&o)
            .arg("-lm")
            .output()
            .map_err(|e| format!("{GCC}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{GCC} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // stdout goes to a file, so a run killed on timeout keeps what it
        // printed (the harness flushes after every call).
        let file = std::fs::File::create(&out_path)
            .map_err(|e| format!("creating {}: {e}", out_path.display()))?;
        let mut child = Command::new(QEMU)
            .arg(&exe)
            .stdout(file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{QEMU}: {e}"))?;
        let start = std::time::Instant::now();
        let mut stopped = None;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) => {}
                Err(e) => return Err(format!("{QEMU}: {e}")),
            }
            if let Some(limit) = timeout.filter(|&l| start.elapsed() >= l) {
                let _ = child.kill();
                let _ = child.wait();
                stopped = Some(format!(
                    "no result: the qemu run did not finish in {} s and was killed",
                    limit.as_secs()
                ));
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let text =
            std::fs::read(&out_path).map_err(|e| format!("reading {}: {e}", out_path.display()))?;
        Ok((String::from_utf8_lossy(&text).into_owned(), stopped))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
