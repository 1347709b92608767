//! Randomized robustness: take a valid function, corrupt it in every way
//! the public data model allows (instruction data of any variant with any
//! opcode and dangling references, cleared pools and tables, bogus value
//! records, stray layout entries, alias cycles, gv cycles), and check that
//! neither the verifier nor the stencil key panics, and that the verifier
//! reports at least one error whenever a reference is out of range.

use crate::key::{stencil_key, KeyTarget};
use crate::test_util::FB;
use crate::verifier::verify_function;
use crate::*;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn idx(&mut self, n: usize) -> u32 {
        // Mostly in range, sometimes just past the end, rarely huge.
        match self.below(10) {
            0 => n as u32 + self.below(3) as u32,
            1 => u32::MAX - self.below(2) as u32,
            _ => self.below(n.max(1)) as u32,
        }
    }
}

fn base() -> FB {
    let mut fb = FB::with_conv(&[Type::I64, Type::I32], &[Type::I32], CallConv::Tail);
    let (_, p) = fb.entry();
    let ss = fb.func.create_sized_stack_slot(StackSlotData::new(16, 3));
    let sig = fb.sig(&[Type::I32], &[Type::I32], CallConv::Tail);
    let f = fb.func.import_function(ExtFuncData {
        name: ExternalName::LibCall(LibCall::Memcpy),
        signature: sig,
        colocated: false,
        patchable: false,
    });
    let b1 = fb.func.dfg.make_block();
    let b2 = fb.func.dfg.make_block();
    let c = fb.iconst(Type::I32, 3);
    let s = fb.binary(Opcode::Iadd, p[1], c);
    fb.ins(
        InstructionData::StackLoad {
            opcode: Opcode::StackAddr,
            stack_slot: ss,
            offset: Offset32(0),
        },
        Type::I64,
    );
    fb.brif(s, b1, &[s], b2, &[]);
    fb.func.layout.append_block(b1);
    fb.switch(b1);
    let x = fb.param(b1, Type::I32);
    let call = fb.call(f, &[x]);
    let r = fb.func.dfg.first_result(call).unwrap();
    fb.ret(&[r]);
    fb.func.layout.append_block(b2);
    fb.switch(b2);
    fb.ret(&[c]);
    fb
}

fn random_data(rng: &mut Rng, f: &mut Function) -> InstructionData {
    let nv = f.dfg.num_values();
    let v = |rng: &mut Rng| Value::from_u32(rng.idx(nv));
    let nb = f.dfg.num_blocks();
    let op = Opcode::ALL[rng.below(Opcode::ALL.len())];
    let list = |rng: &mut Rng, f: &mut Function| {
        let n = rng.below(4);
        let vals: Vec<Value> = (0..n).map(|_| Value::from_u32(rng.idx(nv))).collect();
        f.dfg.make_value_list(&vals)
    };
    let bcall = |rng: &mut Rng, f: &mut Function| {
        let n = rng.below(3);
        let args: Vec<BlockArg> = (0..n)
            .map(|_| match rng.below(3) {
                0 => BlockArg::Value(Value::from_u32(rng.idx(nv))),
                1 => BlockArg::TryCallRet(rng.idx(3)),
                _ => BlockArg::TryCallExn(rng.idx(3)),
            })
            .collect();
        f.dfg.block_call(Block::from_u32(rng.idx(nb)), &args)
    };
    let mut flags = MemFlags::new();
    flags.set_word_bits_unchecked(rng.next() as u8);
    if rng.below(3) == 0 {
        flags.set_alias_region(Some(AliasRegion::from_u32(rng.idx(1))));
    }
    use InstructionData as D;
    match rng.below(36) {
        0 => D::NullAry { opcode: op },
        1 => D::Unary {
            opcode: op,
            arg: v(rng),
        },
        2 => D::UnaryImm {
            opcode: op,
            imm: Imm64(rng.next() as i64),
        },
        3 => D::UnaryIeee16 {
            opcode: op,
            imm: Ieee16(rng.next() as u16),
        },
        4 => D::UnaryIeee32 {
            opcode: op,
            imm: Ieee32(rng.next() as u32),
        },
        5 => D::UnaryIeee64 {
            opcode: op,
            imm: Ieee64(rng.next()),
        },
        6 => D::UnaryConst {
            opcode: op,
            constant: Constant::from_u32(rng.idx(1)),
        },
        7 => D::UnaryGlobalValue {
            opcode: op,
            global_value: GlobalValue::from_u32(rng.idx(2)),
        },
        8 => D::Binary {
            opcode: op,
            args: [v(rng), v(rng)],
        },
        9 => D::BinaryImm8 {
            opcode: op,
            arg: v(rng),
            imm: Uimm8(rng.next() as u8),
        },
        10 => D::Ternary {
            opcode: op,
            args: [v(rng), v(rng), v(rng)],
        },
        11 => D::TernaryImm8 {
            opcode: op,
            args: [v(rng), v(rng)],
            imm: Uimm8(rng.next() as u8),
        },
        12 => D::Shuffle {
            opcode: op,
            args: [v(rng), v(rng)],
            imm: Immediate::from_u32(rng.idx(1)),
        },
        13 => D::IntCompare {
            opcode: op,
            cond: IntCC::ALL[rng.below(IntCC::ALL.len())],
            args: [v(rng), v(rng)],
        },
        14 => D::FloatCompare {
            opcode: op,
            cond: FloatCC::ALL[rng.below(FloatCC::ALL.len())],
            args: [v(rng), v(rng)],
        },
        15 => D::Jump {
            opcode: op,
            destination: bcall(rng, f),
        },
        16 => D::Brif {
            opcode: op,
            arg: v(rng),
            blocks: [bcall(rng, f), bcall(rng, f)],
        },
        17 => {
            let n = rng.below(3);
            let entries: Vec<BlockCall> = (0..n).map(|_| bcall(rng, f)).collect();
            let table = f.dfg.jump_tables.push(JumpTableData { entries });
            let table = if rng.below(4) == 0 {
                JumpTable::from_u32(rng.idx(3))
            } else {
                table
            };
            D::BranchTable {
                opcode: op,
                arg: v(rng),
                table,
            }
        }
        18 => D::MultiAry {
            opcode: op,
            args: list(rng, f),
        },
        19 => D::Call {
            opcode: op,
            func_ref: FuncRef::from_u32(rng.idx(1)),
            args: list(rng, f),
        },
        20 => D::CallIndirect {
            opcode: op,
            sig_ref: SigRef::from_u32(rng.idx(1)),
            args: list(rng, f),
        },
        21 | 22 => {
            let n = rng.below(3);
            let targets: Vec<BlockCall> = (0..n).map(|_| bcall(rng, f)).collect();
            let items = (0..rng.below(3))
                .map(|_| match rng.below(3) {
                    0 => ExceptionTableItem::Tag(rng.idx(5)),
                    1 => ExceptionTableItem::Default,
                    _ => ExceptionTableItem::Context(Value::from_u32(rng.idx(nv))),
                })
                .collect();
            let exception = f.dfg.exception_tables.push(ExceptionTableData {
                sig: SigRef::from_u32(rng.idx(1)),
                targets,
                items,
            });
            if rng.below(2) == 0 {
                D::TryCall {
                    opcode: op,
                    func_ref: FuncRef::from_u32(rng.idx(1)),
                    args: list(rng, f),
                    exception,
                }
            } else {
                D::TryCallIndirect {
                    opcode: op,
                    args: list(rng, f),
                    exception,
                }
            }
        }
        23 => D::FuncAddr {
            opcode: op,
            func_ref: FuncRef::from_u32(rng.idx(1)),
        },
        24 => D::StackLoad {
            opcode: op,
            stack_slot: StackSlot::from_u32(rng.idx(1)),
            offset: Offset32(rng.next() as i32),
        },
        25 => D::DynamicStackLoad {
            opcode: op,
            dynamic_stack_slot: DynamicStackSlot::from_u32(rng.idx(0)),
        },
        26 => D::Load {
            opcode: op,
            flags,
            arg: v(rng),
            offset: Offset32(rng.next() as i32),
        },
        27 => D::Store {
            opcode: op,
            flags,
            args: [v(rng), v(rng)],
            offset: Offset32(0),
        },
        28 => D::LoadNoOffset {
            opcode: op,
            flags,
            arg: v(rng),
        },
        29 => D::StoreNoOffset {
            opcode: op,
            flags,
            args: [v(rng), v(rng)],
        },
        30 => D::AtomicRmw {
            opcode: op,
            flags,
            op: AtomicRmwOp::ALL[rng.below(11)],
            args: [v(rng), v(rng)],
        },
        31 => D::AtomicCas {
            opcode: op,
            flags,
            args: [v(rng), v(rng), v(rng)],
        },
        32 => D::Trap {
            opcode: op,
            code: TrapCode::user(1).unwrap(),
        },
        33 => D::CondTrap {
            opcode: op,
            arg: v(rng),
            code: TrapCode::STACK_OVERFLOW,
        },
        34 => D::IntAddTrap {
            opcode: op,
            args: [v(rng), v(rng)],
            code: TrapCode::INTEGER_OVERFLOW,
        },
        _ => D::ExceptionHandlerAddress {
            opcode: op,
            block: Block::from_u32(rng.idx(nb)),
            imm: Imm64(rng.next() as i64),
        },
    }
}

fn corrupt(rng: &mut Rng, f: &mut Function) {
    let ni = f.dfg.num_insts();
    let nv = f.dfg.num_values();
    let nb = f.dfg.num_blocks();
    match rng.below(14) {
        0..=3 => {
            let i = Inst::from_u32(rng.below(ni) as u32);
            f.dfg.insts[i] = random_data(rng, f);
        }
        4 => {
            // A new instruction with random results, appended somewhere.
            let data = random_data(rng, f);
            let i = f.dfg.make_inst(data);
            let n = rng.below(3);
            let rs: Vec<(Value, Type)> = (0..n)
                .map(|k| {
                    (
                        Value::from_u32((f.dfg.num_values() + k) as u32),
                        Type::SCALARS[rng.below(9)],
                    )
                })
                .collect();
            f.dfg.attach_inst_results(i, &rs);
            let b = Block::from_u32(rng.below(nb) as u32);
            f.layout.append_inst(i, b);
        }
        5 => {
            let v = Value::from_u32(rng.below(nv) as u32);
            f.dfg.values[v] = match rng.below(4) {
                0 => ValueData::Unused,
                1 => ValueData::Alias {
                    ty: Type::I32,
                    original: Value::from_u32(rng.idx(nv)),
                },
                2 => ValueData::Inst {
                    ty: Type::I8,
                    num: rng.below(3) as u16,
                    inst: Inst::from_u32(rng.idx(ni)),
                },
                _ => ValueData::Param {
                    ty: Type::I64,
                    num: rng.below(3) as u16,
                    block: Block::from_u32(rng.idx(nb)),
                },
            };
        }
        6 => f.dfg.value_lists.clear(),
        7 => f.dfg.block_args.clear(),
        8 => {
            f.dfg.jump_tables.clear();
            f.dfg.exception_tables.clear();
        }
        9 => f.dfg.signatures.clear(),
        10 => {
            let base = GlobalValue::from_u32(rng.idx(f.global_values.len() + 1));
            let gv = f.create_global_value(GlobalValueData::Load {
                base,
                offset: Offset32(8),
                global_type: Type::I64,
                flags: MemFlags::new(),
            });
            if rng.below(2) == 0 {
                f.stack_limit = Some(gv);
            }
        }
        11 => {
            let i = Inst::from_u32(rng.below(ni) as u32);
            f.layout.remove_inst(i);
        }
        12 => {
            // (In range or just past it: a huge index would make the layout
            // itself allocate for it.)
            f.layout.append_inst(
                Inst::from_u32(rng.below(ni + 3) as u32),
                Block::from_u32(rng.below(nb) as u32),
            );
        }
        _ => {
            let b = f.dfg.make_block();
            if rng.below(2) == 0 {
                f.layout.append_block(b);
            }
            f.dfg.append_block_param(b, Type::F64);
        }
    }
}

#[test]
fn corrupted_functions_never_panic() {
    let target = KeyTarget {
        triple: "x86_64",
        flags: &[],
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut reported = 0;
    let rounds = 20_000;
    for round in 0..rounds {
        let mut f = base().func;
        let n = 1 + rng.below(4);
        for _ in 0..n {
            corrupt(&mut rng, &mut f);
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let v = verify_function(&f);
            let k = stencil_key(&f.stencil, &target);
            (v, k)
        }));
        match result {
            Ok((v, _)) => reported += v.is_err() as usize,
            Err(_) => panic!("round {round}: verifier or key panicked on:\n{f:#?}"),
        }
    }
    eprintln!("{reported} of {rounds} corrupted functions rejected");
    // Almost every corruption breaks something the verifier must see.
    assert!(
        reported > rounds * 9 / 10,
        "only {reported} of {rounds} reported"
    );
}
