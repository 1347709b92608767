//! Random sequences of builder calls, many of them wrong (foreign entities,
//! wrong formats, wrong types, bad ordering), must return errors and never
//! panic.

use kiln_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use kiln_ir::{
    AbiParam, Block, CallConv, EntityRef, FuncRef, Function, IntCC, MemFlags, Opcode, SigRef,
    Signature, StackSlot, StackSlotData, TrapCode, Type, UserExternalName, UserFuncName, Value,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TYPES: [Type; 9] = [
    Type::I8,
    Type::I16,
    Type::I32,
    Type::I64,
    Type::I128,
    Type::F32,
    Type::F64,
    Type::I32X4,
    Type::INVALID,
];

#[test]
fn random_misuse_never_panics() {
    let mut rng = Rng(0x5eed);
    let mut ctx = FunctionBuilderContext::new();
    let mut ok_calls = 0;
    let mut err_calls = 0;
    for _ in 0..1500 {
        let mut sig = Signature::new(CallConv::SystemV);
        for _ in 0..rng.below(3) {
            sig.params.push(AbiParam::new(TYPES[rng.below(7)]));
        }
        for _ in 0..rng.below(2) {
            sig.returns.push(AbiParam::new(TYPES[rng.below(7)]));
        }
        let mut func = Function::with_name_signature(UserFuncName::testcase("m"), sig.clone());
        let mut b = FunctionBuilder::new(&mut func, &mut ctx);
        let s = b.import_signature(sig);
        let _ = b.import_function(UserExternalName::new(0, 1), s, false);
        let _ = b.create_sized_stack_slot(StackSlotData::new(8, 3));
        let mut blocks: Vec<Block> = vec![b.create_block()];
        let _ = b.append_block_params_for_function_params(blocks[0]);
        let mut vals: Vec<Value> = Vec::new();
        let mut vars: Vec<Variable> = Vec::new();
        for _ in 0..60 {
            // Sometimes an entity that does not exist.
            let val = if vals.is_empty() || rng.below(10) == 0 {
                Value::new(rng.below(1000))
            } else {
                vals[rng.below(vals.len())]
            };
            let val2 = if vals.is_empty() {
                val
            } else {
                vals[rng.below(vals.len())]
            };
            let block = if rng.below(10) == 0 {
                Block::new(rng.below(100) + 50)
            } else {
                blocks[rng.below(blocks.len())]
            };
            let ty = TYPES[rng.below(TYPES.len())];
            let op = Opcode::ALL[rng.below(Opcode::ALL.len())];
            let r: Result<Option<Value>, kiln_frontend::BuildError> = match rng.below(22) {
                0 => {
                    blocks.push(b.create_block());
                    Ok(None)
                }
                1 | 2 => b.switch_to_block(block).map(|_| None),
                3 => b.seal_block(block).map(|_| None),
                4 => b.ins().binary(op, val, val2).map(Some),
                5 => b.ins().unary(op, Some(ty), val).map(Some),
                6 => b.ins().iconst(ty, rng.next() as i64).map(Some),
                7 => b.ins().jump(block, &[val]).map(|_| None),
                8 => b
                    .ins()
                    .brif(val, block, &[], blocks[0], &[val2])
                    .map(|_| None),
                9 => b.ins().return_(&[val]).map(|_| None),
                10 => b.declare_var(ty).map(|v| {
                    vars.push(v);
                    None
                }),
                11 => {
                    let v = vars
                        .get(rng.below(vars.len() + 1))
                        .copied()
                        .unwrap_or(Variable::new(77));
                    b.def_var(v, val).map(|_| None)
                }
                12 => {
                    let v = vars
                        .get(rng.below(vars.len() + 1))
                        .copied()
                        .unwrap_or(Variable::new(77));
                    b.use_var(v).map(Some)
                }
                13 => b.ins().icmp(IntCC::Equal, val, val2).map(Some),
                14 => b
                    .ins()
                    .load(ty, MemFlags::new(), val, rng.next() as i32)
                    .map(Some),
                15 => b
                    .ins()
                    .stack_load(ty, StackSlot::new(rng.below(2)), 0)
                    .map(Some),
                16 => b
                    .ins()
                    .call(FuncRef::new(rng.below(2)), &[val])
                    .map(|_| None),
                17 => b
                    .ins()
                    .call_indirect(SigRef::new(rng.below(2)), val, &[val2])
                    .map(|_| None),
                18 => b
                    .ins()
                    .br_table(val, block, &[blocks[0], block])
                    .map(|_| None),
                19 => b
                    .ins()
                    .trapnz(val, TrapCode::INTEGER_OVERFLOW)
                    .map(|_| None),
                20 => b.append_block_param(block, ty).map(Some),
                _ => b.ins().ternary(op, val, val2, val).map(Some),
            };
            match r {
                Ok(v) => {
                    ok_calls += 1;
                    vals.extend(v);
                }
                Err(e) => {
                    err_calls += 1;
                    // Every error can be displayed.
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        if rng.below(2) == 0 {
            b.seal_all_blocks();
        }
        let _ = b.finalize();
    }
    println!("{ok_calls} ok, {err_calls} errors");
    assert!(
        ok_calls > 10_000 && err_calls > 10_000,
        "{ok_calls} {err_calls}"
    );
}
