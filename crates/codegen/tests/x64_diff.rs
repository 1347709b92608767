//! Differential test: native x86-64 code against the reference interpreter
//! (`kiln-interpreter`) on many argument vectors, for every runtests
//! function that is straight-line or forward-branching integer code
//! without memory access, traps or calls (so any input is safe to run
//! natively and terminates).

use kiln_codegen::isa::{self, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_interpreter::Interpreter;
use kiln_ir::{DataValue, Function, OpcodeFlags, Type, OPCODES};
use kiln_module::memory::ExecutableMemory;
use std::path::Path;

#[repr(C)]
#[derive(Clone, Copy)]
struct Pair(u64, u64);

type Fn6 = extern "sysv64" fn(u64, u64, u64, u64, u64, u64) -> Pair;

fn eligible(f: &Function) -> bool {
    let sig = &f.stencil.signature;
    let int = |t: Type| t.is_int() && t.is_scalar() && t.bits() <= 64;
    // Called natively as System V functions.
    let sysv = matches!(
        sig.call_conv,
        kiln_ir::CallConv::Fast | kiln_ir::CallConv::SystemV | kiln_ir::CallConv::Tail
    );
    if !sysv
        || sig.params.len() > 6
        || sig.returns.is_empty()
        || sig.returns.len() > 2
        || !sig.params.iter().all(|p| int(p.value_type))
        || !sig.returns.iter().all(|p| int(p.value_type))
    {
        return false;
    }
    let layout = &f.stencil.layout;
    let order: Vec<_> = layout.blocks().collect();
    let pos = |b| order.iter().position(|&x| x == b);
    for (bi, &b) in order.iter().enumerate() {
        for inst in layout.block_insts(b) {
            let op = f.stencil.dfg.opcode(inst);
            let flags = OPCODES[op as usize].flags;
            let bad = [
                OpcodeFlags::CAN_TRAP,
                OpcodeFlags::CAN_LOAD,
                OpcodeFlags::CAN_STORE,
                OpcodeFlags::CALL,
                OpcodeFlags::SIDE_EFFECTS,
            ];
            if bad.iter().any(|x| flags.contains(*x)) {
                return false;
            }
            // Only forward branches: the code terminates on every input.
            for d in f.stencil.dfg.branch_destinations(inst) {
                if pos(d.block).is_none_or(|p| p <= bi) {
                    return false;
                }
            }
        }
    }
    true
}

/// Whether an Unsupported reason (`opcode.type`) names a vector type
/// (`i32x4`, `f64x2`, ...).
fn names_a_vector_type(what: &str) -> bool {
    what.rsplit('.').next().is_some_and(|ty| {
        ty.split_once('x').is_some_and(|(lane, n)| {
            (lane.starts_with('i') || lane.starts_with('f'))
                && lane[1..].parse::<u32>().is_ok()
                && n.parse::<u32>().is_ok()
        })
    })
}

fn value_of(ty: Type, bits: u64) -> DataValue {
    match ty.bits() {
        8 => DataValue::I8(bits as i8),
        16 => DataValue::I16(bits as i16),
        32 => DataValue::I32(bits as i32),
        _ => DataValue::I64(bits as i64),
    }
}

fn bits_of(v: &DataValue) -> Option<u64> {
    Some(match *v {
        DataValue::I8(x) => x as u8 as u64,
        DataValue::I16(x) => x as u16 as u64,
        DataValue::I32(x) => x as u32 as u64,
        DataValue::I64(x) => x as u64,
        _ => return None,
    })
}

#[test]
fn native_matches_interpreter() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clif/runtests");
    let rd = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the shared corpus {} is missing ({e}): check it out beside the repository",
            dir.display()
        )
    });
    let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    let flags = Flags {
        regalloc_checker: true,
        ..Flags::default()
    };
    let isa: Box<dyn TargetIsa> =
        isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("isa");
    let interesting: [u64; 12] = [
        0,
        1,
        2,
        3,
        0x7f,
        0x80,
        0xff,
        0x7fff,
        0x8000_0000,
        u64::MAX,
        u64::MAX - 1,
        0x8000_0000_0000_0000,
    ];
    let (mut funcs, mut calls, mut fails) = (0usize, 0usize, Vec::new());
    let mut vector_gaps = 0usize;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for path in paths {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(file) = kiln_reader::parse_test(&text, &path.to_string_lossy()) else {
            continue;
        };
        for pf in &file.functions {
            let f = &pf.func;
            if !eligible(f) {
                continue;
            }
            let code = match isa.compile_stencil(&f.stencil) {
                Ok(c) => c,
                // Vector operations inside a scalar function are a known gap
                // of the backend; any other Unsupported is a regression.
                Err(kiln_codegen::result::CodegenError::Unsupported { what })
                    if names_a_vector_type(&what) =>
                {
                    vector_gaps += 1;
                    continue;
                }
                Err(e) => {
                    fails.push(format!("{} {}: compile error: {e}", path.display(), f.name));
                    continue;
                }
            };
            if !code.relocs.is_empty() {
                continue;
            }
            let mut mem = ExecutableMemory::new(code.code.len()).expect("mmap");
            mem.bytes_mut().expect("writable")[..code.code.len()].copy_from_slice(&code.code);
            mem.seal().expect("seal");
            // SAFETY: a complete leaf function for this host taking at most
            // six integer arguments (extra registers are ignored) and
            // returning at most two integers in rax/rdx; `eligible` excludes
            // memory accesses, traps, calls and backward branches.
            let native = unsafe { std::mem::transmute::<*const u8, Fn6>(mem.base()) };
            let mut interp = Interpreter::new(std::iter::once(f));
            let sig = &f.stencil.signature;
            let name = f.name.to_string();
            funcs += 1;
            for k in 0..200 {
                let args: Vec<u64> = sig
                    .params
                    .iter()
                    .enumerate()
                    .map(|(i, _)| {
                        if k < 24 {
                            interesting[(k + i * 5) % interesting.len()]
                        } else {
                            rand()
                        }
                    })
                    .collect();
                let dargs: Vec<DataValue> = sig
                    .params
                    .iter()
                    .zip(&args)
                    .map(|(p, &a)| value_of(p.value_type, a))
                    .collect();
                // `eligible` excludes traps: an interpreter error is a
                // finding, not a reason to skip the comparison.
                let want = match interp.call_by_name(&name, &dargs) {
                    Ok(w) => w,
                    Err(e) => {
                        fails.push(format!(
                            "{} {name}{dargs:?}: interpreter: {e}",
                            path.display()
                        ));
                        break;
                    }
                };
                let mut regs = [0u64; 6];
                for (i, d) in dargs.iter().enumerate() {
                    // Narrow arguments sign-extended (upper bits are
                    // undefined for the callee anyway).
                    let b = bits_of(d).unwrap_or(0);
                    let w = sig.params[i].value_type.bits();
                    regs[i] = if w == 64 {
                        b
                    } else {
                        (((b << (64 - w)) as i64) >> (64 - w)) as u64
                    };
                }
                let Pair(r0, r1) = native(regs[0], regs[1], regs[2], regs[3], regs[4], regs[5]);
                calls += 1;
                let got: Vec<u64> = sig
                    .returns
                    .iter()
                    .zip([r0, r1])
                    .map(|(r, v)| {
                        let w = r.value_type.bits();
                        if w == 64 {
                            v
                        } else {
                            v & ((1u64 << w) - 1)
                        }
                    })
                    .collect();
                let want: Vec<u64> = want.iter().filter_map(bits_of).collect();
                if got != want {
                    fails.push(format!(
                        "{} {name}{dargs:?}: native {got:x?}, interpreter {want:x?}",
                        path.display()
                    ));
                    break;
                }
            }
        }
    }
    println!(
        "differential: {funcs} functions, {calls} calls, {} mismatches",
        fails.len()
    );
    for f in fails.iter().take(30) {
        println!("  MISMATCH {f}");
    }
    println!("{vector_gaps} functions left out for vector operations");
    assert!(fails.is_empty(), "{} mismatches", fails.len());
    // 734 eligible scalar functions compile and run today; fewer means
    // the backend lost some.
    assert!(funcs >= 734, "only {funcs} functions compared");
    assert_eq!(calls, funcs * 200);
}
