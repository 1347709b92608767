//! Corpus compile tests of the x86-64 backend.
//!
//! * Every function of `../shared/clif/runtests` is compiled with the
//!   regalloc2 checker on; each must compile or fail with a clean error
//!   (never a panic). Unsupported reasons are counted and printed
//!   (`cargo test -p kiln-codegen --test x64_corpus -- --nocapture`).
//! * The same over the sql-wasm corpus with `preserve_frame_pointers`,
//!   for x86-64 and for aarch64: every function compiles for both.
//!
//! The corpora live beside the repository (`../shared`, which CI always
//! has); a missing corpus fails with a message.

use kiln_codegen::isa::{self, TargetIsa};
use kiln_codegen::result::CodegenError;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn isa(arch: Arch, checker: bool) -> Box<dyn TargetIsa> {
    // One ISA for every file, whatever its `set` lines: the settings most
    // corpus files set (return areas, i128 across registers) are on, so
    // their functions compile as they do under their own headers.
    let flags = Flags {
        regalloc_checker: checker,
        preserve_frame_pointers: true,
        enable_multi_ret_implicit_sret: true,
        enable_llvm_abi_extensions: true,
        ..Flags::default()
    };
    isa::lookup(flags, IsaFlags::baseline(arch)).expect("backend")
}

#[derive(Default)]
struct Tally {
    files: usize,
    parse_errors: usize,
    functions: usize,
    compiled: usize,
    unsupported: BTreeMap<String, usize>,
    errors: Vec<String>,
    panics: Vec<String>,
    time: Duration,
    code_bytes: usize,
}

impl Tally {
    fn report(&self, name: &str) {
        let unsupported: usize = self.unsupported.values().sum();
        println!(
            "{name}: {} files ({} unparsable), {} functions: {} compiled, {} unsupported, {} errors, {} panics",
            self.files,
            self.parse_errors,
            self.functions,
            self.compiled,
            unsupported,
            self.errors.len(),
            self.panics.len()
        );
        if self.compiled > 0 {
            println!(
                "  compile time {:?} total, {:.1} us per compiled function, {} code bytes",
                self.time,
                self.time.as_secs_f64() * 1e6 / self.compiled as f64,
                self.code_bytes
            );
        }
        let mut reasons: Vec<_> = self.unsupported.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (what, n) in reasons.iter().take(40) {
            println!("  unsupported {n:5}  {what}");
        }
        for e in self.errors.iter().take(20) {
            println!("  ERROR {e}");
        }
        for p in self.panics.iter().take(20) {
            println!("  PANIC {p}");
        }
    }
}

fn clif_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(clif_files(&p));
        } else if p.extension().is_some_and(|x| x == "clif") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn run_corpus(dir: &Path, arch: Arch, checker: bool) -> Tally {
    let files = clif_files(dir);
    assert!(
        !files.is_empty(),
        "corpus {} not found: the shared corpus must sit beside the checkout",
        dir.display()
    );
    let isa = isa(arch, checker);
    let mut t = Tally::default();
    for path in files {
        t.files += 1;
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let parsed = match kiln_reader::parse_test(&text, &path.to_string_lossy()) {
            Ok(p) => p,
            Err(_) => {
                t.parse_errors += 1;
                continue;
            }
        };
        for pf in parsed.functions {
            t.functions += 1;
            let start = Instant::now();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                isa.compile_stencil(&pf.func.stencil)
            }));
            let elapsed = start.elapsed();
            let where_ = format!("{} {}", path.display(), pf.func.name);
            match result {
                Ok(Ok(code)) => {
                    t.compiled += 1;
                    t.time += elapsed;
                    t.code_bytes += code.code.len();
                }
                Ok(Err(CodegenError::Unsupported { what })) => {
                    *t.unsupported.entry(what).or_default() += 1;
                }
                Ok(Err(e)) => t.errors.push(format!("{where_}: {e}")),
                Err(p) => {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    t.panics.push(format!("{where_}: {msg}"));
                }
            }
        }
    }
    t
}

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clif")
}

#[test]
fn runtests_compile_or_clean_error() {
    let t = run_corpus(&shared().join("runtests"), Arch::X86_64, true);
    t.report("runtests");
    assert!(t.panics.is_empty(), "panics: {:#?}", t.panics);
    assert!(t.errors.is_empty(), "errors: {:#?}", t.errors);
    // Floor: functions that compile today; an Unsupported where support
    // exists lowers it and fails here.
    assert!(t.compiled >= 1486, "only {} functions compiled", t.compiled);
}

#[test]
fn wasm_corpus_compile_or_clean_error() {
    let t = run_corpus(&shared().join("wasm-corpus/sql-wasm"), Arch::X86_64, true);
    t.report("sql-wasm");
    assert!(t.panics.is_empty(), "panics: {:#?}", t.panics);
    assert!(t.errors.is_empty(), "errors: {:#?}", t.errors);
    // Every function of the wasm corpus compiles.
    assert_eq!(t.compiled, t.functions, "{:?}", t.unsupported);
    assert!(t.functions > 0);
}

#[test]
fn aarch64_wasm_corpus_compile_or_clean_error() {
    let t = run_corpus(&shared().join("wasm-corpus/sql-wasm"), Arch::Aarch64, true);
    t.report("sql-wasm aarch64");
    assert!(t.panics.is_empty(), "panics: {:#?}", t.panics);
    assert!(t.errors.is_empty(), "errors: {:#?}", t.errors);
    // Every function of the wasm corpus compiles for aarch64 too.
    assert_eq!(t.compiled, t.functions, "{:?}", t.unsupported);
    assert!(t.functions > 0);
}

/// Two integer registers returned by a System V function (rax, rdx).
#[repr(C)]
#[derive(Clone, Copy)]
struct Pair(u64, u64);

fn int_bits(v: &kiln_ir::DataValue) -> Option<(u64, u32)> {
    use kiln_ir::DataValue as D;
    Some(match *v {
        D::I8(x) => (x as u8 as u64, 8),
        D::I16(x) => (x as u16 as u64, 16),
        D::I32(x) => (x as u32 as u64, 32),
        D::I64(x) => (x as u64, 64),
        _ => return None,
    })
}

/// A scalar argument or result as register parts (bits, width, is_float):
/// two 64-bit parts for i128.
fn scalar_parts(v: &kiln_ir::DataValue) -> Option<Vec<(u64, u32, bool)>> {
    use kiln_ir::DataValue as D;
    match *v {
        D::F32(x) => Some(vec![(x.0 as u64, 32, true)]),
        D::F64(x) => Some(vec![(x.0, 64, true)]),
        D::I128(x) => Some(vec![(x as u64, 64, false), ((x >> 64) as u64, 64, false)]),
        _ => int_bits(v).map(|(b, w)| vec![(b, w, false)]),
    }
}

fn all_parts(vs: &[kiln_ir::DataValue]) -> Option<Vec<(u64, u32, bool)>> {
    let mut out = Vec::new();
    for v in vs {
        out.extend(scalar_parts(v)?);
    }
    Some(out)
}

fn is_nan(bits: u64, width: u32) -> bool {
    if width == 32 {
        f32::from_bits(bits as u32).is_nan()
    } else {
        f64::from_bits(bits).is_nan()
    }
}

type AnyFn = extern "sysv64" fn(
    u64,
    u64,
    u64,
    u64,
    u64,
    u64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
) -> Pair;
type FloatFn =
    extern "sysv64" fn(u64, u64, u64, u64, u64, u64, f64, f64, f64, f64, f64, f64, f64, f64) -> f64;

fn sext(v: u64, bits: u32) -> u64 {
    (((v << (64 - bits)) as i64) >> (64 - bits)) as u64
}

/// Runs the `; run:` lines of the runtests whose function compiled to a
/// leaf (no relocations) with at most six integer arguments and at most two
/// integer results, natively, and compares with the expected values.
#[test]
fn runtests_execute_integer_leaf_functions() {
    use kiln_module::memory::ExecutableMemory;
    use kiln_reader::{Comparison, RunCommand};
    let files = clif_files(&shared().join("runtests"));
    assert!(!files.is_empty(), "../shared/clif/runtests is missing");
    let isa = isa(Arch::X86_64, true);
    let mut compile_errors = Vec::new();
    let (mut run, mut passed, mut failed) = (0usize, 0usize, Vec::new());
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(parsed) = kiln_reader::parse_test(&text, &path.to_string_lossy()) else {
            continue;
        };
        // Only `test run` files meant for x86-64 (or any target).
        let is_run = parsed.commands.iter().any(|c| c.kind == "run");
        let x64 = parsed.targets.is_empty() || parsed.targets.iter().any(|t| t.isa == "x86_64");
        if !is_run || !x64 {
            continue;
        }
        // Compile every function first (directives may name any of them).
        let mut compiled = BTreeMap::new();
        for pf in &parsed.functions {
            let Some(name) = pf.testcase_name() else {
                continue;
            };
            let sig = &pf.func.stencil.signature;
            // Register parts of each class (i128: two integer parts).
            let int = |t: kiln_ir::Type| match t {
                kiln_ir::Type::I128 => 2,
                t if t.is_int() && t.is_scalar() && t.bits() <= 64 => 1,
                _ => 0,
            };
            let fl = |t: kiln_ir::Type| t == kiln_ir::Type::F32 || t == kiln_ir::Type::F64;
            let n_int: usize = sig.params.iter().map(|p| int(p.value_type)).sum();
            let n_fl = sig.params.iter().filter(|p| fl(p.value_type)).count();
            let n_params = sig.params.iter().filter(|p| int(p.value_type) > 0).count() + n_fl;
            let ret_parts: usize = sig.returns.iter().map(|p| int(p.value_type)).sum();
            let rets_int = ret_parts <= 2 && sig.returns.iter().all(|p| int(p.value_type) > 0);
            let ret_fl = sig.returns.len() == 1 && fl(sig.returns[0].value_type);
            // Called natively as System V functions.
            let sysv = matches!(
                sig.call_conv,
                kiln_ir::CallConv::Fast | kiln_ir::CallConv::SystemV | kiln_ir::CallConv::Tail
            );
            if !sysv
                || n_int > 6
                || n_fl > 8
                || n_params != sig.params.len()
                || !(rets_int || ret_fl)
            {
                continue;
            }
            let compiled_code = match isa.compile_stencil(&pf.func.stencil) {
                Ok(code) => Some(code),
                // Vector operations inside a scalar function are a known
                // gap; any other Unsupported here is a regression.
                Err(CodegenError::Unsupported { what }) if names_a_vector_type(&what) => None,
                Err(e) => {
                    compile_errors.push(format!("{} {name}: {e}", path.display()));
                    None
                }
            };
            if let Some(code) = compiled_code {
                if code.relocs.is_empty() {
                    let mut mem = ExecutableMemory::new(code.code.len().max(1)).expect("mmap");
                    mem.bytes_mut().expect("writable")[..code.code.len()]
                        .copy_from_slice(&code.code);
                    mem.seal().expect("seal");
                    let rets: Vec<(u32, bool)> = sig
                        .returns
                        .iter()
                        .flat_map(|r| {
                            let part = (r.value_type.bits().min(64), r.value_type.is_float());
                            std::iter::repeat_n(
                                part,
                                if r.value_type == kiln_ir::Type::I128 {
                                    2
                                } else {
                                    1
                                },
                            )
                        })
                        .collect();
                    compiled.insert(name.to_string(), (mem, rets));
                }
            }
        }
        for pf in &parsed.functions {
            for d in &pf.run_directives {
                let (func, args, cmp, expected) = match &d.command {
                    RunCommand::Run {
                        func,
                        args,
                        comparison,
                        expected,
                    } => (func, args, *comparison, Some(expected)),
                    RunCommand::RunTruthy { func, args } => (func, args, Comparison::Equal, None),
                    RunCommand::Print { .. } => continue,
                };
                let Some((mem, rets)) = compiled.get(func.trim_start_matches('%')) else {
                    continue;
                };
                let Some(a) = all_parts(args) else {
                    continue;
                };
                let (mut iregs, mut fregs) = ([0u64; 6], [0f64; 8]);
                let (mut ni, mut nf) = (0, 0);
                for (v, bits, float) in &a {
                    if *float {
                        fregs[nf] = f64::from_bits(*v);
                        nf += 1;
                    } else {
                        iregs[ni] = sext(*v, *bits);
                        ni += 1;
                    }
                }
                if std::env::var_os("KILN_TRACE_RUN").is_some() {
                    eprintln!("RUN {}:{} {}", path.display(), d.line, d.text);
                }
                let mask = |v: u64, bits: u32| {
                    if bits == 64 {
                        v
                    } else {
                        v & ((1u64 << bits) - 1)
                    }
                };
                let (i, f) = (iregs, fregs);
                let got: Vec<u64> = if rets.first().is_some_and(|r| r.1) {
                    // SAFETY: the memory holds a complete leaf function
                    // compiled for this host; its System V signature takes
                    // at most six integer and eight float arguments (extra
                    // register arguments are ignored) and returns one float
                    // in xmm0.
                    let func = unsafe { std::mem::transmute::<*const u8, FloatFn>(mem.base()) };
                    let r = func(
                        i[0], i[1], i[2], i[3], i[4], i[5], f[0], f[1], f[2], f[3], f[4], f[5],
                        f[6], f[7],
                    );
                    vec![mask(r.to_bits(), rets[0].0)]
                } else {
                    // SAFETY: as above, returning at most two integers in
                    // rax/rdx.
                    let func = unsafe { std::mem::transmute::<*const u8, AnyFn>(mem.base()) };
                    let Pair(r0, r1) = func(
                        i[0], i[1], i[2], i[3], i[4], i[5], f[0], f[1], f[2], f[3], f[4], f[5],
                        f[6], f[7],
                    );
                    rets.iter()
                        .zip([r0, r1])
                        .map(|(&(bits, _), v)| mask(v, bits))
                        .collect()
                };
                let ok = match expected {
                    Some(exp) => {
                        let Some(e) = all_parts(exp) else {
                            continue;
                        };
                        let same = e.len() == got.len()
                            && e.iter().zip(&got).all(|(&(v, b, fl), &g)| {
                                mask(v, b) == g || (fl && is_nan(v, b) && is_nan(g, b))
                            });
                        same == (cmp == Comparison::Equal)
                    }
                    None => got.first().is_some_and(|v| *v != 0),
                };
                run += 1;
                if ok {
                    passed += 1;
                } else {
                    failed.push(format!(
                        "{}:{}: {} -> {:x?}",
                        path.display(),
                        d.line,
                        d.text,
                        got
                    ));
                }
            }
        }
    }
    println!(
        "runtests executed natively: {run} directives, {passed} passed, {} failed",
        failed.len()
    );
    for f in failed.iter().take(40) {
        println!("  FAIL {f}");
    }
    assert!(failed.is_empty(), "{} run directives failed", failed.len());
    assert!(compile_errors.is_empty(), "{compile_errors:#?}");
    // Floor: the directives that run natively today (fewer means the
    // backend lost functions).
    assert!(run >= 9760, "only {run} directives ran natively");
}

/// Whether an Unsupported reason (`opcode.type`) names a vector type.
fn names_a_vector_type(what: &str) -> bool {
    what.rsplit('.').next().is_some_and(|ty| {
        ty.split_once('x').is_some_and(|(lane, n)| {
            (lane.starts_with('i') || lane.starts_with('f'))
                && lane[1..].parse::<u32>().is_ok()
                && n.parse::<u32>().is_ok()
        })
    })
}
