//! Builder tests: SSA shapes, sugar expansion, declarations and errors.

use kiln_frontend::{BuildError, FunctionBuilder, FunctionBuilderContext};
use kiln_ir::{
    AbiParam, Block, BlockArg, CallConv, ExternalName, Function, InstructionData,
    InstructionFormat, IntCC, Opcode, Signature, SourceLoc, StackSlotData, Type, UserExternalName,
    UserFuncName, Value,
};

type R = Result<(), BuildError>;

/// Every function a test finalizes must pass the verifier.
fn verify(func: &Function) {
    if let Err(e) = kiln_ir::verifier::verify_function(func) {
        panic!("verifier:\n{e}\n{func}");
    }
}

fn sig(params: &[Type], returns: &[Type]) -> Signature {
    let mut s = Signature::new(CallConv::SystemV);
    s.params = params.iter().map(|&t| AbiParam::new(t)).collect();
    s.returns = returns.iter().map(|&t| AbiParam::new(t)).collect();
    s
}

fn new_func(params: &[Type], returns: &[Type]) -> Function {
    Function::with_name_signature(UserFuncName::testcase("t"), sig(params, returns))
}

fn opcodes(func: &Function, block: Block) -> Vec<Opcode> {
    func.stencil
        .layout
        .block_insts(block)
        .map(|i| func.stencil.dfg.opcode(i))
        .collect()
}

fn branch_args(func: &Function, block: Block) -> Vec<Vec<Value>> {
    let last = func.stencil.layout.last_inst(block).unwrap();
    func.stencil
        .dfg
        .branch_destinations(last)
        .iter()
        .map(|c| {
            func.stencil
                .dfg
                .block_call_args(*c)
                .iter()
                .map(|a| match a {
                    BlockArg::Value(v) => *v,
                    other => panic!("unexpected {other:?}"),
                })
                .collect()
        })
        .collect()
}

/// Builds `fib(n)`: a = 0, b = 1, i = 0; while i < n { t = a + b; a = b;
/// b = t; i += 1 } return a. `seal_early` seals each block as soon as its
/// predecessors are known; otherwise everything is sealed at the end.
pub fn build_fib(seal_early: bool) -> Result<(Function, [Block; 4]), BuildError> {
    let mut func = new_func(&[Type::I32], &[Type::I32]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    let header = b.create_block();
    let body = b.create_block();
    let exit = b.create_block();
    b.append_block_params_for_function_params(entry)?;
    let va = b.declare_var(Type::I32)?;
    let vb = b.declare_var(Type::I32)?;
    let vi = b.declare_var(Type::I32)?;
    let vn = b.declare_var(Type::I32)?;

    b.switch_to_block(entry)?;
    if seal_early {
        b.seal_block(entry)?;
    }
    let n = b.block_params(entry)[0];
    b.def_var(vn, n)?;
    let zero = b.ins().iconst(Type::I32, 0)?;
    let one = b.ins().iconst(Type::I32, 1)?;
    b.def_var(va, zero)?;
    b.def_var(vb, one)?;
    b.def_var(vi, zero)?;
    b.ins().jump(header, &[])?;

    b.switch_to_block(header)?;
    let i = b.use_var(vi)?;
    let n = b.use_var(vn)?;
    let c = b.ins().icmp(IntCC::SignedLessThan, i, n)?;
    b.ins().brif(c, body, &[], exit, &[])?;

    b.switch_to_block(body)?;
    if seal_early {
        b.seal_block(body)?;
    }
    let a = b.use_var(va)?;
    let bb = b.use_var(vb)?;
    let t = b.ins().binary(Opcode::Iadd, a, bb)?;
    b.def_var(va, bb)?;
    b.def_var(vb, t)?;
    let i = b.use_var(vi)?;
    let i2 = b.ins().iadd_imm(i, 1)?;
    b.def_var(vi, i2)?;
    b.ins().jump(header, &[])?;
    if seal_early {
        b.seal_block(header)?;
    }

    b.switch_to_block(exit)?;
    if seal_early {
        b.seal_block(exit)?;
    }
    let a = b.use_var(va)?;
    b.ins().return_(&[a])?;
    if !seal_early {
        b.seal_all_blocks();
    }
    b.finalize()?;
    verify(&func);
    Ok((func, [entry, header, body, exit]))
}

#[test]
fn fib_ssa_shape() -> R {
    for seal_early in [true, false] {
        let (func, [entry, header, body, exit]) = build_fib(seal_early)?;
        let dfg = &func.stencil.dfg;
        // a, b and i vary around the loop; n does not, so its parameter
        // was trivial and removed.
        assert_eq!(dfg.block_params(header).len(), 3, "seal_early={seal_early}");
        assert_eq!(dfg.block_params(body).len(), 0);
        assert_eq!(dfg.block_params(exit).len(), 0);
        assert_eq!(dfg.block_params(entry).len(), 1);
        // Both edges into the header pass three arguments.
        assert_eq!(branch_args(&func, entry)[0].len(), 3);
        assert_eq!(branch_args(&func, body)[0].len(), 3);
        // The header compares with the function parameter itself.
        let n = dfg.block_params(entry)[0];
        let icmp = func
            .stencil
            .layout
            .block_insts(header)
            .find(|&i| dfg.opcode(i) == Opcode::Icmp)
            .unwrap();
        assert_eq!(dfg.inst_args(icmp)[1], n);
        // The exit returns the header's parameter standing for `a`.
        let ret = func.stencil.layout.last_inst(exit).unwrap();
        let returned = dfg.inst_args(ret)[0];
        assert!(dfg.block_params(header).contains(&returned));
        // The body's jump passes (b, a + b, i + 1) for (a, b, i) in the
        // header's parameter order.
        assert_eq!(
            opcodes(&func, body),
            [Opcode::Iadd, Opcode::Iconst, Opcode::Iadd, Opcode::Jump]
        );
        // No value refers to an alias after finalize.
        for block in func.stencil.layout.blocks() {
            for inst in func.stencil.layout.block_insts(block) {
                for &v in dfg.inst_args(inst) {
                    assert_eq!(dfg.resolve_aliases(v), v);
                }
                for args in branch_args_of(&func, inst) {
                    for v in args {
                        assert_eq!(dfg.resolve_aliases(v), v);
                    }
                }
            }
        }
    }
    Ok(())
}

fn branch_args_of(func: &Function, inst: kiln_ir::Inst) -> Vec<Vec<Value>> {
    func.stencil
        .dfg
        .branch_destinations(inst)
        .iter()
        .map(|c| {
            func.stencil
                .dfg
                .block_call_args(*c)
                .iter()
                .filter_map(|a| match a {
                    BlockArg::Value(v) => Some(*v),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// sum = 0; i = 0; do { sum += x; i += 1 } while i != 10; return sum — `x`
/// is loop-invariant and must not get a header parameter.
#[test]
fn counting_loop_two_variables() -> R {
    let mut func = new_func(&[Type::I64], &[Type::I64]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    let lp = b.create_block();
    let exit = b.create_block();
    b.append_block_params_for_function_params(entry)?;
    let x = b.declare_var(Type::I64)?;
    let sum = b.declare_var(Type::I64)?;
    let i = b.declare_var(Type::I32)?;
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let p = b.block_params(entry)[0];
    b.def_var(x, p)?;
    let z64 = b.ins().iconst(Type::I64, 0)?;
    let z32 = b.ins().iconst(Type::I32, 0)?;
    b.def_var(sum, z64)?;
    b.def_var(i, z32)?;
    b.ins().jump(lp, &[])?;

    b.switch_to_block(lp)?;
    let s = b.use_var(sum)?;
    let xv = b.use_var(x)?;
    let s2 = b.ins().binary(Opcode::Iadd, s, xv)?;
    b.def_var(sum, s2)?;
    let iv = b.use_var(i)?;
    let i2 = b.ins().iadd_imm(iv, 1)?;
    b.def_var(i, i2)?;
    let c = b.ins().icmp_imm(IntCC::NotEqual, i2, 10)?;
    b.ins().brif(c, lp, &[], exit, &[])?;
    b.seal_block(lp)?;

    b.switch_to_block(exit)?;
    b.seal_block(exit)?;
    let s = b.use_var(sum)?;
    b.ins().return_(&[s])?;
    b.finalize()?;
    verify(&func);

    let dfg = &func.stencil.dfg;
    assert_eq!(dfg.block_params(lp).len(), 2);
    let tys: Vec<Type> = dfg
        .block_params(lp)
        .iter()
        .map(|&v| dfg.value_type(v))
        .collect();
    assert_eq!(tys, [Type::I64, Type::I32]);
    // The loop adds the function parameter directly.
    let add = func.stencil.layout.first_inst(lp).unwrap();
    assert_eq!(dfg.inst_args(add)[1], p);
    // brif: the back edge passes (s2, i2), the exit edge nothing.
    let args = branch_args(&func, lp);
    assert_eq!(args[0], [s2, i2]);
    assert!(args[1].is_empty());
    // The return uses the updated sum (exit has one predecessor).
    let ret = func.stencil.layout.last_inst(exit).unwrap();
    assert_eq!(dfg.inst_args(ret), [s2]);
    Ok(())
}

/// if c { if d { v = 1 } else { v = 2 } } ; return v + w, with w never
/// changed: the inner join gets a parameter for v, the outer join another,
/// and w gets none.
#[test]
fn nested_ifs() -> R {
    let mut func = new_func(&[Type::I32, Type::I32], &[Type::I32]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let blocks: Vec<Block> = (0..6).map(|_| b.create_block()).collect();
    let [entry, then1, then2, else2, join2, join1] = blocks[..] else {
        unreachable!()
    };
    b.append_block_params_for_function_params(entry)?;
    let v = b.declare_var(Type::I32)?;
    let w = b.declare_var(Type::I32)?;

    b.switch_to_block(entry)?;
    let (c, d) = (b.block_params(entry)[0], b.block_params(entry)[1]);
    let zero = b.ins().iconst(Type::I32, 0)?;
    b.def_var(v, zero)?;
    b.def_var(w, d)?;
    b.ins().brif(c, then1, &[], join1, &[])?;

    b.switch_to_block(then1)?;
    b.ins().brif(d, then2, &[], else2, &[])?;
    b.switch_to_block(then2)?;
    let one = b.ins().iconst(Type::I32, 1)?;
    b.def_var(v, one)?;
    b.ins().jump(join2, &[])?;
    b.switch_to_block(else2)?;
    let two = b.ins().iconst(Type::I32, 2)?;
    b.def_var(v, two)?;
    b.ins().jump(join2, &[])?;
    b.switch_to_block(join2)?;
    b.ins().jump(join1, &[])?;
    b.switch_to_block(join1)?;
    let vv = b.use_var(v)?;
    let wv = b.use_var(w)?;
    let r = b.ins().binary(Opcode::Iadd, vv, wv)?;
    b.ins().return_(&[r])?;
    b.seal_all_blocks();
    b.finalize()?;
    verify(&func);

    let dfg = &func.stencil.dfg;
    assert_eq!(dfg.block_params(join1).len(), 1);
    assert_eq!(dfg.block_params(join2).len(), 1);
    assert_eq!(branch_args(&func, then2)[0], [one]);
    assert_eq!(branch_args(&func, else2)[0], [two]);
    let inner = dfg.block_params(join2)[0];
    assert_eq!(branch_args(&func, join2)[0], [inner]);
    assert_eq!(branch_args(&func, entry), [vec![], vec![zero]]);
    let add = func.stencil.layout.first_inst(join1).unwrap();
    assert_eq!(dfg.inst_args(add), [dfg.block_params(join1)[0], d]);
    Ok(())
}

#[test]
fn use_before_def_reads_zero_at_block_start() -> R {
    let mut func = new_func(&[], &[Type::I16, Type::F64, Type::I128]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let x = b.declare_var(Type::I16)?;
    let y = b.declare_var(Type::F64)?;
    let z = b.declare_var(Type::I128)?;
    b.ins().nullary(Opcode::Nop, None)?;
    let xv = b.use_var(x)?;
    let yv = b.use_var(y)?;
    let zv = b.use_var(z)?;
    b.ins().return_(&[xv, yv, zv])?;
    b.finalize()?;
    verify(&func);
    assert_eq!(
        opcodes(&func, entry),
        [
            // Each zero goes to the very start, so the last is first.
            Opcode::Iconst,
            Opcode::Uextend,
            Opcode::F64const,
            Opcode::Iconst,
            Opcode::Nop,
            Opcode::Return
        ]
    );
    Ok(())
}

/// A variable defined before a long chain of blocks and used at its end:
/// the lookup walks the chain without recursion.
#[test]
fn long_chain_does_not_overflow() -> R {
    let mut func = new_func(&[Type::I32], &[Type::I32]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry)?;
    let v = b.declare_var(Type::I32)?;
    b.switch_to_block(entry)?;
    let p = b.block_params(entry)[0];
    b.def_var(v, p)?;
    let mut prev = entry;
    for _ in 0..20_000 {
        let next = b.create_block();
        b.ins().jump(next, &[])?;
        b.seal_block(prev)?;
        b.switch_to_block(next)?;
        prev = next;
    }
    // Diamonds in a row, each join a two-predecessor block.
    for _ in 0..2_000 {
        let (t, e, j) = (b.create_block(), b.create_block(), b.create_block());
        b.ins().brif(p, t, &[], e, &[])?;
        b.seal_block(prev)?;
        b.switch_to_block(t)?;
        b.seal_block(t)?;
        b.ins().jump(j, &[])?;
        b.switch_to_block(e)?;
        b.seal_block(e)?;
        b.ins().jump(j, &[])?;
        b.switch_to_block(j)?;
        prev = j;
    }
    b.seal_block(prev)?;
    let x = b.use_var(v)?;
    b.ins().return_(&[x])?;
    b.finalize()?;
    verify(&func);
    assert_eq!(x, p);
    assert!(func
        .stencil
        .layout
        .blocks()
        .all(|bl| bl == entry || func.stencil.dfg.block_params(bl).is_empty()));
    Ok(())
}

/// Unreachable blocks forming a cycle: the lookup must terminate.
#[test]
fn unreachable_cycle_terminates() -> R {
    let mut func = new_func(&[], &[Type::I32]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let (entry, a, c) = (b.create_block(), b.create_block(), b.create_block());
    let v = b.declare_var(Type::I32)?;
    b.switch_to_block(entry)?;
    let k = b.ins().iconst(Type::I32, 7)?;
    b.ins().return_(&[k])?;
    b.switch_to_block(a)?;
    b.ins().jump(c, &[])?;
    b.switch_to_block(c)?;
    b.seal_block(c)?;
    let x = b.use_var(v)?;
    let y = b.ins().iadd_imm(x, 1)?;
    b.ins().jump(a, &[])?;
    b.seal_all_blocks();
    b.finalize()?;
    verify(&func);
    // Whatever `x` became, the add uses a value defined by an instruction
    // (a zero), not a dangling alias.
    let dfg = &func.stencil.dfg;
    let kiln_ir::ValueDef::Result(add, _) = dfg.value_def(y).unwrap() else {
        panic!()
    };
    let arg = dfg.inst_args(add)[0];
    assert!(matches!(
        dfg.value_def(arg),
        Some(kiln_ir::ValueDef::Result(..))
    ));
    Ok(())
}

#[test]
fn block_params_from_user_and_ssa_keep_branch_args_aligned() -> R {
    // The loop block gets an SSA parameter (created while unsealed, before
    // the user's own parameter was added) and a user parameter; every edge
    // must pass arguments in parameter order.
    let mut func = new_func(&[Type::I32], &[Type::I32]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let (entry, lp, exit) = (b.create_block(), b.create_block(), b.create_block());
    b.append_block_params_for_function_params(entry)?;
    let v = b.declare_var(Type::I32)?;
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let p = b.block_params(entry)[0];
    b.def_var(v, p)?;
    let k = b.ins().iconst(Type::I64, 5)?;
    b.switch_to_block(lp).unwrap_err();
    b.ins().jump(lp, &[k])?;
    b.switch_to_block(lp)?;
    let cur = b.use_var(v)?; // SSA parameter 0, while unsealed
    let up = b.append_block_param(lp, Type::I64)?; // user parameter 1
    let next = b.ins().iadd_imm(cur, 1)?;
    b.def_var(v, next)?;
    let up2 = b.ins().iadd_imm(up, -1)?;
    let c = b.ins().icmp_imm(IntCC::Equal, up2, 0)?;
    b.ins().brif(c, exit, &[], lp, &[up2])?;
    b.seal_block(lp)?;
    b.switch_to_block(exit)?;
    b.seal_block(exit)?;
    let r = b.use_var(v)?;
    b.ins().return_(&[r])?;
    b.finalize()?;
    verify(&func);
    let dfg = &func.stencil.dfg;
    assert_eq!(dfg.block_params(lp), [cur, up]);
    assert_eq!(branch_args(&func, entry)[0], [p, k]);
    assert_eq!(branch_args(&func, lp)[1], [next, up2]);
    Ok(())
}

#[test]
fn sugar_expands_to_real_opcodes() -> R {
    let mut func = new_func(&[Type::I64], &[Type::I64]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry)?;
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let x = b.block_params(entry)[0];
    let ss = b.create_sized_stack_slot(StackSlotData::new(16, 3));
    let y = b.ins().band_imm(x, 0xff)?;
    b.ins().stack_store(y, ss, 8)?;
    let z = b.ins().stack_load(Type::I64, ss, 8)?;
    b.ins().return_(&[z])?;
    b.finalize()?;
    verify(&func);
    assert_eq!(
        opcodes(&func, entry),
        [
            Opcode::Iconst,
            Opcode::Band,
            Opcode::StackAddr,
            Opcode::Store,
            Opcode::StackAddr,
            Opcode::Load,
            Opcode::Return
        ]
    );
    let load = func.stencil.layout.block_insts(entry).nth(5).unwrap();
    match func.stencil.dfg.insts[load] {
        InstructionData::Load { offset, flags, .. } => {
            assert_eq!(offset.0, 8);
            assert!(flags.notrap() && flags.aligned());
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn iconst_immediates_are_zero_extended() -> R {
    let mut func = new_func(&[], &[Type::I8]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let v = b.ins().iconst(Type::I8, -1)?;
    b.ins().return_(&[v])?;
    b.finalize()?;
    verify(&func);
    let inst = func.stencil.layout.first_inst(entry).unwrap();
    assert!(matches!(
        func.stencil.dfg.insts[inst],
        InstructionData::UnaryImm { imm, .. } if imm.0 == 0xff
    ));
    Ok(())
}

#[test]
fn srclocs_are_relative_to_the_first() -> R {
    let mut func = new_func(&[], &[]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    b.set_srcloc(SourceLoc::new(100));
    let n1 = b.ins().nullary(Opcode::Nop, None)?;
    b.set_srcloc(SourceLoc::new(130));
    let n2 = b.ins().nullary(Opcode::Nop, None)?;
    b.set_srcloc(SourceLoc::default());
    let r = b.ins().return_(&[])?;
    b.finalize()?;
    verify(&func);
    assert_eq!(func.params.base_srcloc(), SourceLoc::new(100));
    assert_eq!(func.stencil.rel_srcloc(n1).bits(), 0);
    assert_eq!(func.stencil.rel_srcloc(n2).bits(), 30);
    assert!(func.stencil.rel_srcloc(r).is_default());
    assert_eq!(func.srcloc(n2), SourceLoc::new(130));
    Ok(())
}

#[test]
fn imported_functions_use_the_name_table() -> R {
    let mut func = new_func(&[Type::I32], &[Type::I32]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let s = b.import_signature(sig(&[Type::I32], &[Type::I32]));
    let f1 = b.import_function(UserExternalName::new(1, 7), s, true)?;
    let f2 = b.import_function(UserExternalName::new(1, 9), s, false)?;
    let f3 = b.import_function(UserExternalName::new(1, 7), s, false)?;
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry)?;
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let x = b.block_params(entry)[0];
    let call = b.ins().call(f1, &[x])?;
    let r = b.inst_results(call)[0];
    let call2 = b.ins().call(f2, &[r])?;
    let r2 = b.inst_results(call2)[0];
    // Wrong arity is an error, not a panic.
    assert!(matches!(
        b.ins().call(f3, &[]),
        Err(BuildError::ArgumentCount {
            expected: 1,
            found: 0,
            ..
        })
    ));
    b.ins().return_(&[r2])?;
    b.finalize()?;
    verify(&func);
    let dfg = &func.stencil.dfg;
    let names: Vec<_> = [f1, f2, f3]
        .iter()
        .map(|&f| match dfg.ext_funcs[f].name {
            ExternalName::User(r) => r,
            _ => panic!(),
        })
        .collect();
    assert_eq!(names[0], names[2]);
    assert_ne!(names[0], names[1]);
    assert_eq!(func.params.num_user_named_funcs(), 2);
    assert_eq!(
        func.params.user_func_name(names[1]),
        Some(UserExternalName::new(1, 9))
    );
    assert!(dfg.ext_funcs[f1].colocated);
    Ok(())
}

#[test]
fn misuse_is_reported_not_panicking() -> R {
    let mut func = new_func(&[Type::I32], &[Type::I32]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    let other = b.create_block();
    b.append_block_params_for_function_params(entry)?;
    assert_eq!(
        b.ins().iconst(Type::I32, 1),
        Err(BuildError::NoCurrentBlock)
    );
    b.switch_to_block(entry)?;
    b.seal_block(entry)?;
    let x = b.block_params(entry)[0];
    // An opcode of another format.
    assert_eq!(
        b.ins().binary(Opcode::Ineg, x, x),
        Err(BuildError::WrongFormat {
            opcode: Opcode::Ineg,
            expected: InstructionFormat::Binary
        })
    );
    // Mismatched operand types.
    let y = b.ins().iconst(Type::I64, 3)?;
    assert!(matches!(
        b.ins().binary(Opcode::Iadd, x, y),
        Err(BuildError::OperandType { index: 1, .. })
    ));
    // A conversion needs its target type.
    assert_eq!(
        b.ins().unary(Opcode::Uextend, None, x),
        Err(BuildError::MissingControllingType(Opcode::Uextend))
    );
    assert!(matches!(
        b.ins().unary(Opcode::Uextend, Some(Type::I16), x),
        Err(BuildError::OperandType { .. })
    ));
    assert!(matches!(
        b.ins().unary(Opcode::Fneg, None, x),
        Err(BuildError::BadControllingType { .. })
    ));
    // An opcode without results where a value is expected: nothing built.
    let n = func_insts(&b);
    assert_eq!(
        b.ins().unary(Opcode::SetPinnedReg, None, x),
        Err(BuildError::NoResult(Opcode::SetPinnedReg))
    );
    assert_eq!(
        b.ins().binary2(Opcode::Iadd, x, x),
        Err(BuildError::NoResult(Opcode::Iadd))
    );
    assert_eq!(func_insts(&b), n);
    // Variables.
    let v = b.declare_var(Type::I64)?;
    assert!(matches!(
        b.def_var(v, x),
        Err(BuildError::VariableType { .. })
    ));
    // Returning the wrong thing.
    assert!(matches!(
        b.ins().return_(&[y]),
        Err(BuildError::OperandType { .. })
    ));
    // Switching away from an unfinished block.
    assert_eq!(
        b.switch_to_block(other),
        Err(BuildError::BlockNotFilled(entry))
    );
    b.ins().jump(other, &[])?;
    assert_eq!(
        b.ins().iconst(Type::I32, 1),
        Err(BuildError::BlockFilled(entry))
    );
    b.switch_to_block(other)?;
    b.seal_block(other)?;
    assert_eq!(
        b.ins().jump(other, &[]),
        Err(BuildError::BranchToSealedBlock {
            from: other,
            to: other
        })
    );
    // Not filled at finalize.
    assert_eq!(b.finalize(), Err(BuildError::BlockNotFilled(other)));
    Ok(())
}

fn func_insts(b: &FunctionBuilder) -> usize {
    b.func.stencil.dfg.num_insts()
}

#[test]
fn finalize_checks_branch_arguments() -> R {
    let mut func = new_func(&[], &[]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let (entry, next) = (b.create_block(), b.create_block());
    b.append_block_param(next, Type::I32)?;
    b.switch_to_block(entry)?;
    let jump = b.ins().jump(next, &[])?;
    b.switch_to_block(next)?;
    b.ins().return_(&[])?;
    b.seal_all_blocks();
    assert_eq!(
        b.finalize(),
        Err(BuildError::BranchArgs {
            inst: jump,
            block: next
        })
    );
    Ok(())
}

#[test]
fn finalize_requires_sealing() -> R {
    let mut func = new_func(&[], &[]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.switch_to_block(entry)?;
    b.ins().return_(&[])?;
    assert_eq!(b.finalize(), Err(BuildError::BlockNotSealed(entry)));
    Ok(())
}

#[test]
fn br_table_declares_each_target_once() -> R {
    let mut func = new_func(&[Type::I32], &[Type::I32]);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    let (t0, t1, join) = (b.create_block(), b.create_block(), b.create_block());
    b.append_block_params_for_function_params(entry)?;
    let v = b.declare_var(Type::I32)?;
    b.switch_to_block(entry)?;
    let x = b.block_params(entry)[0];
    b.def_var(v, x)?;
    b.ins().br_table(x, t0, &[t1, t0, t1])?;
    for (t, k) in [(t0, 10), (t1, 20)] {
        b.switch_to_block(t)?;
        let c = b.ins().iconst(Type::I32, k)?;
        b.def_var(v, c)?;
        b.ins().jump(join, &[])?;
    }
    b.switch_to_block(join)?;
    let r = b.use_var(v)?;
    b.ins().return_(&[r])?;
    b.seal_all_blocks();
    assert_eq!(b.predecessors(t0).len(), 1);
    assert_eq!(b.predecessors(join).len(), 2);
    b.finalize()?;
    verify(&func);
    assert_eq!(func.stencil.dfg.block_params(join).len(), 1);
    assert!(func.stencil.dfg.block_params(t0).is_empty());
    Ok(())
}

#[test]
fn context_is_reusable() -> R {
    let mut ctx = FunctionBuilderContext::new();
    for _ in 0..3 {
        let mut func = new_func(&[Type::I32], &[Type::I32]);
        let mut b = FunctionBuilder::new(&mut func, &mut ctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry)?;
        b.switch_to_block(entry)?;
        b.seal_block(entry)?;
        let x = b.block_params(entry)[0];
        let y = b.ins().imul_imm(x, 3)?;
        b.ins().return_(&[y])?;
        b.finalize()?;
        verify(&func);
        assert_eq!(func.stencil.dfg.num_insts(), 3);
    }
    Ok(())
}
