//! Ahead of time: functions built with `FunctionBuilder` and a data table,
//! written by `ObjectModule` as an ELF object, linked with the system C
//! compiler into an executable, and run. `cargo run --example aot`; it
//! prints the program's output and exits with status 1 if it is wrong (and
//! says SKIP without an x86-64 Linux host or a `cc`).
//!
//! The object holds `primes` (eight i64s in `.rodata`), `calls` (an i64
//! counter in `.bss`), `nth_prime(i)` (reads the table and counts the
//! call), and `sum_primes(n)` (calls `nth_prime` in a loop). The C side
//! prints them and reads `calls` directly.

use kiln::prelude::*;
use std::process::Command;

type Err = Box<dyn std::error::Error>;

fn i64_sig(params: usize) -> Signature {
    let mut s = Signature::new(CallConv::SystemV);
    s.params = vec![AbiParam::new(Type::I64); params];
    s.returns.push(AbiParam::new(Type::I64));
    s
}

/// `nth_prime(i) = primes[i]`, and `calls += 1`.
fn build_nth_prime(m: &mut ObjectModule, primes: DataId, calls: DataId) -> Result<Function, Err> {
    let mut func = Function::with_name_signature(UserFuncName::testcase("nth_prime"), i64_sig(1));
    let table = m.declare_data_in_func(primes, &mut func)?;
    let counter = m.declare_data_in_func(calls, &mut func)?;
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry)?;
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let i = b.block_params(entry)[0];
    let base = b.ins().symbol_value(Type::I64, table)?;
    let off = b.ins().ishl_imm(i, 3)?;
    let addr = b.ins().iadd(base, off)?;
    let p = b.ins().load(Type::I64, MemFlags::trusted(), addr, 0)?;
    let c = b.ins().symbol_value(Type::I64, counter)?;
    let n = b.ins().load(Type::I64, MemFlags::trusted(), c, 0)?;
    let n = b.ins().iadd_imm(n, 1)?;
    b.ins().store(MemFlags::trusted(), n, c, 0)?;
    b.ins().return_(&[p])?;
    b.finalize()?;
    Ok(func)
}

/// `sum_primes(n) = nth_prime(0) + ... + nth_prime(n - 1)`.
fn build_sum_primes(m: &mut ObjectModule, nth: FuncId) -> Result<Function, Err> {
    let mut func = Function::with_name_signature(UserFuncName::testcase("sum_primes"), i64_sig(1));
    let callee = m.declare_func_in_func(nth, &mut func)?;
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let (entry, header, body, exit) = (
        b.create_block(),
        b.create_block(),
        b.create_block(),
        b.create_block(),
    );
    b.append_block_params_for_function_params(entry)?;
    let (i, acc) = (b.declare_var(Type::I64)?, b.declare_var(Type::I64)?);
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let n = b.block_params(entry)[0];
    let zero = b.ins().iconst(Type::I64, 0)?;
    b.def_var(i, zero)?;
    b.def_var(acc, zero)?;
    b.ins().jump(header, &[])?;
    b.switch_to_block(header)?;
    let iv = b.use_var(i)?;
    let more = b.ins().icmp(IntCC::SignedLessThan, iv, n)?;
    b.ins().brif(more, body, &[], exit, &[])?;
    b.switch_to_block(body)?;
    b.seal_block(body)?;
    let call = b.ins().call(callee, &[iv])?;
    let p = b.inst_results(call)[0];
    let a = b.use_var(acc)?;
    let a = b.ins().iadd(a, p)?;
    b.def_var(acc, a)?;
    let next = b.ins().iadd_imm(iv, 1)?;
    b.def_var(i, next)?;
    b.ins().jump(header, &[])?;
    b.seal_block(header)?;
    b.switch_to_block(exit)?;
    b.seal_block(exit)?;
    let a = b.use_var(acc)?;
    b.ins().return_(&[a])?;
    b.finalize()?;
    Ok(func)
}

/// The whole object file.
fn build_object() -> Result<Vec<u8>, Err> {
    let isa = kiln::codegen::isa::lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64))?;
    let mut m = ObjectModule::for_isa(&*isa);
    let primes = m.declare_data("primes", Linkage::Local, false)?;
    let calls = m.declare_data("calls", Linkage::Export, true)?;
    let nth = m.declare_function("nth_prime", Linkage::Export, &i64_sig(1))?;
    let sum = m.declare_function("sum_primes", Linkage::Export, &i64_sig(1))?;

    let mut table = DataDescription::new();
    let bytes: Vec<u8> = [2i64, 3, 5, 7, 11, 13, 17, 19]
        .iter()
        .flat_map(|p| p.to_le_bytes())
        .collect();
    table.define(bytes.into_boxed_slice());
    table.set_align(8);
    m.define_data(primes, &table)?;
    let mut counter = DataDescription::new();
    counter.define_zeroinit(8);
    counter.set_align(8);
    m.define_data(calls, &counter)?;

    let f = build_nth_prime(&mut m, primes, calls)?;
    kiln::compile_and_define(&mut m, nth, &f, &*isa, None)?;
    let f = build_sum_primes(&mut m, nth)?;
    kiln::compile_and_define(&mut m, sum, &f, &*isa, None)?;
    Ok(m.finish()?)
}

const MAIN_C: &str = r#"#include <stdio.h>
long nth_prime(long); long sum_primes(long);
extern long calls;
int main(void) {
    printf("nth_prime(4) = %ld\n", nth_prime(4));
    printf("sum_primes(8) = %ld\n", sum_primes(8));
    printf("calls = %ld\n", calls);
    return 0;
}
"#;

fn main() -> Result<(), Err> {
    let obj = build_object()?;
    let dir = std::env::temp_dir().join(format!("kiln-aot-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("primes.o"), &obj)?;
    std::fs::write(dir.join("main.c"), MAIN_C)?;
    println!(
        "wrote {} ({} bytes)",
        dir.join("primes.o").display(),
        obj.len()
    );
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        println!("SKIP: running the x86-64 executable needs an x86-64 Linux host");
        return Ok(());
    }
    // -no-pie: Kiln's x86-64 code takes addresses with movabs (an absolute
    // relocation in .text), which a position-independent executable refuses.
    let cc = match Command::new("cc")
        .current_dir(&dir)
        .args(["-no-pie", "main.c", "primes.o", "-o", "primes"])
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            println!("SKIP: no `cc` on PATH to link the object");
            return Ok(());
        }
    };
    if !cc.status.success() {
        return Err(format!("cc failed:\n{}", String::from_utf8_lossy(&cc.stderr)).into());
    }
    let run = Command::new(dir.join("primes")).output()?;
    let out = String::from_utf8(run.stdout)?;
    print!("{out}");
    let _ = std::fs::remove_dir_all(&dir);
    if out != "nth_prime(4) = 11\nsum_primes(8) = 77\ncalls = 9\n" {
        println!("WRONG output");
        std::process::exit(1);
    }
    Ok(())
}
