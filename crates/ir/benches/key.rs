//! Stencil-key throughput: keys per second over a generated function of
//! about 200 instructions (arithmetic, loads/stores, compares, calls, a loop
//! with block parameters, source locations on every instruction).
//!
//! Run with `cargo bench -p kiln-ir --bench key`.

use kiln_ir::key::{stencil_key, KeyTarget, StencilKeyer};
use kiln_ir::*;
use std::hint::black_box;
use std::time::Instant;

fn ins(f: &mut Function, b: Block, data: InstructionData, ctrl: Type, loc: &mut u32) -> Inst {
    let i = f.dfg.make_inst(data);
    f.dfg.make_inst_results(i, ctrl);
    f.layout.append_inst(i, b);
    f.set_srcloc(i, SourceLoc::new(*loc));
    *loc += 3;
    i
}

fn res(f: &Function, i: Inst) -> Value {
    f.dfg.first_result(i).unwrap()
}

/// Builds a function with `groups` groups of 10 instructions in a loop.
fn generate(groups: usize) -> Function {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params = vec![
        AbiParam::special(Type::I64, ArgumentPurpose::VMContext),
        AbiParam::new(Type::I64),
        AbiParam::new(Type::I32),
    ];
    sig.returns = vec![AbiParam::new(Type::I32)];
    let mut f = Function::with_name_signature(UserFuncName::user(0, 1), sig);
    let callee_sig = f.import_signature({
        let mut s = Signature::new(CallConv::Tail);
        s.params = vec![AbiParam::new(Type::I64), AbiParam::new(Type::I32)];
        s.returns = vec![AbiParam::new(Type::I32)];
        s
    });
    let name = f.declare_imported_user_function(UserExternalName::new(0, 2));
    let callee = f.import_function(ExtFuncData {
        name: ExternalName::User(name),
        signature: callee_sig,
        colocated: true,
        patchable: false,
    });
    let ss = f.create_sized_stack_slot(StackSlotData::new(64, 3));
    let mut loc = 0x1000;
    let entry = f.dfg.make_block();
    let header = f.dfg.make_block();
    let body = f.dfg.make_block();
    let exit = f.dfg.make_block();
    for b in [entry, header, body, exit] {
        f.layout.append_block(b);
    }
    let vmctx = f.dfg.append_block_param(entry, Type::I64);
    let base = f.dfg.append_block_param(entry, Type::I64);
    let n = f.dfg.append_block_param(entry, Type::I32);
    let zero = ins(
        &mut f,
        entry,
        InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm: Imm64(0),
        },
        Type::I32,
        &mut loc,
    );
    let zero = res(&f, zero);
    let dest = f.dfg.block_call_values(header, &[n, zero]);
    ins(
        &mut f,
        entry,
        InstructionData::Jump {
            opcode: Opcode::Jump,
            destination: dest,
        },
        Type::INVALID,
        &mut loc,
    );
    let i = f.dfg.append_block_param(header, Type::I32);
    let acc = f.dfg.append_block_param(header, Type::I32);
    let a = f.dfg.block_call_values(body, &[]);
    let b = f.dfg.block_call_values(exit, &[acc]);
    ins(
        &mut f,
        header,
        InstructionData::Brif {
            opcode: Opcode::Brif,
            arg: i,
            blocks: [a, b],
        },
        Type::INVALID,
        &mut loc,
    );
    let mut acc_cur = acc;
    for g in 0..groups {
        let c = ins(
            &mut f,
            body,
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm: Imm64(g as i64 * 4),
            },
            Type::I64,
            &mut loc,
        );
        let c = res(&f, c);
        let addr = ins(
            &mut f,
            body,
            InstructionData::Binary {
                opcode: Opcode::Iadd,
                args: [base, c],
            },
            Type::I64,
            &mut loc,
        );
        let addr = res(&f, addr);
        let x = ins(
            &mut f,
            body,
            InstructionData::Load {
                opcode: Opcode::Load,
                flags: MemFlags::trusted(),
                arg: addr,
                offset: Offset32(8),
            },
            Type::I32,
            &mut loc,
        );
        let x = res(&f, x);
        let y = ins(
            &mut f,
            body,
            InstructionData::Binary {
                opcode: Opcode::Imul,
                args: [x, acc_cur],
            },
            Type::I32,
            &mut loc,
        );
        let y = res(&f, y);
        let z = ins(
            &mut f,
            body,
            InstructionData::Binary {
                opcode: Opcode::Bxor,
                args: [y, i],
            },
            Type::I32,
            &mut loc,
        );
        let z = res(&f, z);
        let cmp = ins(
            &mut f,
            body,
            InstructionData::IntCompare {
                opcode: Opcode::Icmp,
                cond: IntCC::UnsignedLessThan,
                args: [z, x],
            },
            Type::I32,
            &mut loc,
        );
        let cmp = res(&f, cmp);
        let sel = ins(
            &mut f,
            body,
            InstructionData::Ternary {
                opcode: Opcode::Select,
                args: [cmp, z, y],
            },
            Type::I32,
            &mut loc,
        );
        let sel = res(&f, sel);
        let sa = ins(
            &mut f,
            body,
            InstructionData::StackLoad {
                opcode: Opcode::StackAddr,
                stack_slot: ss,
                offset: Offset32((g % 16) as i32 * 4),
            },
            Type::I64,
            &mut loc,
        );
        let sa = res(&f, sa);
        ins(
            &mut f,
            body,
            InstructionData::Store {
                opcode: Opcode::Store,
                flags: MemFlags::trusted(),
                args: [sel, sa],
                offset: Offset32(0),
            },
            Type::INVALID,
            &mut loc,
        );
        acc_cur = if g % 5 == 4 {
            let args = f.dfg.make_value_list(&[vmctx, sel]);
            let call = ins(
                &mut f,
                body,
                InstructionData::Call {
                    opcode: Opcode::Call,
                    func_ref: callee,
                    args,
                },
                Type::INVALID,
                &mut loc,
            );
            res(&f, call)
        } else {
            let s = ins(
                &mut f,
                body,
                InstructionData::Binary {
                    opcode: Opcode::Iadd,
                    args: [sel, acc_cur],
                },
                Type::I32,
                &mut loc,
            );
            res(&f, s)
        };
    }
    let one = ins(
        &mut f,
        body,
        InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm: Imm64(1),
        },
        Type::I32,
        &mut loc,
    );
    let one = res(&f, one);
    let i2 = ins(
        &mut f,
        body,
        InstructionData::Binary {
            opcode: Opcode::Isub,
            args: [i, one],
        },
        Type::I32,
        &mut loc,
    );
    let i2 = res(&f, i2);
    let back = f.dfg.block_call_values(header, &[i2, acc_cur]);
    ins(
        &mut f,
        body,
        InstructionData::Jump {
            opcode: Opcode::Jump,
            destination: back,
        },
        Type::INVALID,
        &mut loc,
    );
    let r = f.dfg.append_block_param(exit, Type::I32);
    let args = f.dfg.make_value_list(&[r]);
    ins(
        &mut f,
        exit,
        InstructionData::MultiAry {
            opcode: Opcode::Return,
            args,
        },
        Type::INVALID,
        &mut loc,
    );
    f
}

fn main() {
    let f = generate(20);
    let ninsts = f
        .layout
        .blocks()
        .map(|b| f.layout.block_insts(b).count())
        .sum::<usize>();
    if let Err(e) = kiln_ir::verifier::verify_function(&f) {
        panic!("generated function does not verify:\n{e}");
    }
    let target = KeyTarget {
        triple: "x86_64-unknown-linux-gnu",
        flags: &[0u8; 24],
    };
    let mut keyer = StencilKeyer::new();
    let reference = stencil_key(&f.stencil, &target);
    // Warm up, then measure for about a second, in rounds.
    for _ in 0..2000 {
        black_box(keyer.key(black_box(&f.stencil), &target));
    }
    let mut best = f64::MAX;
    let rounds = 5;
    let per_round = 20_000;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..per_round {
            let k = keyer.key(black_box(&f.stencil), &target);
            black_box(k);
        }
        let dt = t.elapsed().as_secs_f64() / per_round as f64;
        best = best.min(dt);
    }
    assert_eq!(keyer.key(&f.stencil, &target), reference);
    // A fresh keyer (allocating its tables) for comparison.
    let t = Instant::now();
    let n_fresh = 20_000;
    for _ in 0..n_fresh {
        black_box(stencil_key(black_box(&f.stencil), &target));
    }
    let fresh = t.elapsed().as_secs_f64() / n_fresh as f64;
    println!(
        "stencil key: {ninsts} instructions: {:.2} us/key, {:.0} keys/s, {:.1} ns/inst (reused StencilKeyer, best of {rounds}); fresh keyer {:.2} us/key",
        best * 1e6,
        1.0 / best,
        best * 1e9 / ninsts as f64,
        fresh * 1e6
    );
}
