//! One test per rule: a function violating exactly that rule yields exactly
//! the expected error at the expected instruction; valid functions verify.

use super::*;
use crate::test_util::FB;
use crate::*;

fn errors(fb: &FB) -> Vec<VerifierError> {
    match verify_function(&fb.func) {
        Ok(()) => Vec::new(),
        Err(e) => e.0,
    }
}

#[track_caller]
fn ok(fb: &FB) {
    let e = errors(fb);
    assert!(e.is_empty(), "unexpected errors:\n{}", VerifierErrors(e));
}

/// Exactly one error, about `inst` (or about no instruction if `None`),
/// whose message contains `needle`.
#[track_caller]
fn one(fb: &FB, inst: Option<Inst>, needle: &str) -> VerifierError {
    let e = errors(fb);
    assert_eq!(
        e.len(),
        1,
        "expected one error, got:\n{}",
        VerifierErrors(e)
    );
    let err = e.into_iter().next().unwrap();
    assert_eq!(err.inst, inst, "wrong location: {err}");
    assert!(
        err.message.contains(needle),
        "message {:?} lacks {needle:?}",
        err.message
    );
    if let Some(i) = inst {
        assert_eq!(err.location, i.to_string());
        assert!(err.context.is_some());
    }
    err
}

const I8: Type = Type::I8;
const I32: Type = Type::I32;
const I64: Type = Type::I64;
const F32: Type = Type::F32;
const F64: Type = Type::F64;

/// `fn(i32, i32) -> i32 { v2 = iadd v0, v1; return v2 }`
fn simple() -> FB {
    let mut fb = FB::new(&[I32, I32], &[I32]);
    let (_, p) = fb.entry();
    let s = fb.binary(Opcode::Iadd, p[0], p[1]);
    fb.ret(&[s]);
    fb
}

// ----- Valid functions -----

#[test]
fn valid_simple() {
    ok(&simple());
}

#[test]
fn valid_loop_with_params_and_memory() {
    // sum = 0; for i in n..0 { sum += load(p + i) }
    let mut fb = FB::new(&[I64, I32], &[I32]);
    let (_, p) = fb.entry();
    let header = fb.func.dfg.make_block();
    let body = fb.func.dfg.make_block();
    let exit = fb.func.dfg.make_block();
    let zero = fb.iconst(I32, 0);
    fb.jump(header, &[p[1], zero]);
    fb.func.layout.append_block(header);
    fb.switch(header);
    let i = fb.param(header, I32);
    let sum = fb.param(header, I32);
    fb.brif(i, body, &[], exit, &[sum]);
    fb.func.layout.append_block(body);
    fb.switch(body);
    let ext = fb.unary(Opcode::Uextend, i, I64);
    let addr = fb.binary(Opcode::Iadd, p[0], ext);
    let x = fb.load(I32, MemFlags::trusted(), addr, 0);
    let sum2 = fb.binary(Opcode::Iadd, sum, x);
    let one = fb.iconst(I32, 1);
    let i2 = fb.binary(Opcode::Isub, i, one);
    fb.jump(header, &[i2, sum2]);
    fb.func.layout.append_block(exit);
    fb.switch(exit);
    let r = fb.param(exit, I32);
    fb.ret(&[r]);
    ok(&fb);
}

#[test]
fn valid_calls_tail_calls_and_try_call() {
    let mut fb = FB::with_conv(&[I64], &[I32], CallConv::Tail);
    let (_, p) = fb.entry();
    let sig = fb.sig(&[I64], &[I32], CallConv::Tail);
    let r = fb
        .func
        .declare_imported_user_function(UserExternalName::new(0, 7));
    let f = fb.func.import_function(ExtFuncData {
        name: ExternalName::User(r),
        signature: sig,
        colocated: true,
        patchable: false,
    });
    let c = fb.call(f, &[p[0]]);
    let v = fb.func.dfg.first_result(c).unwrap();
    let normal = fb.func.dfg.make_block();
    let handler = fb.func.dfg.make_block();
    let normal_call = fb.func.dfg.block_call(normal, &[BlockArg::TryCallRet(0)]);
    let handler_call = fb.func.dfg.block_call(handler, &[BlockArg::TryCallExn(0)]);
    let et = fb.func.dfg.exception_tables.push(ExceptionTableData {
        sig,
        targets: vec![normal_call, handler_call],
        items: vec![ExceptionTableItem::Default],
    });
    let args = fb.func.dfg.make_value_list(&[p[0]]);
    fb.ins(
        InstructionData::TryCall {
            opcode: Opcode::TryCall,
            func_ref: f,
            args,
            exception: et,
        },
        Type::INVALID,
    );
    fb.func.layout.append_block(normal);
    fb.switch(normal);
    let r0 = fb.param(normal, I32);
    let s = fb.binary(Opcode::Iadd, r0, v);
    fb.ret(&[s]);
    fb.func.layout.append_block(handler);
    fb.switch(handler);
    fb.param(handler, I64);
    let fp = fb.ins_v(
        InstructionData::FuncAddr {
            opcode: Opcode::FuncAddr,
            func_ref: f,
        },
        I64,
    );
    let args = fb.func.dfg.make_value_list(&[fp, p[0]]);
    fb.ins(
        InstructionData::CallIndirect {
            opcode: Opcode::ReturnCallIndirect,
            sig_ref: sig,
            args,
        },
        I64,
    );
    ok(&fb);
}

#[test]
fn valid_use_in_unreachable_block_is_not_dominance_checked() {
    // block1 is unreachable and uses a value defined in block2, which it
    // is not dominated by; Cranelift's rule skips such uses.
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    fb.ret(&[]);
    let b1 = fb.block();
    let b2 = fb.func.dfg.make_block();
    let c = fb.func.dfg.make_inst(InstructionData::UnaryImm {
        opcode: Opcode::Iconst,
        imm: Imm64(1),
    });
    fb.func.dfg.make_inst_results(c, I32);
    let v = fb.func.dfg.first_result(c).unwrap();
    fb.unary(Opcode::Ineg, v, I32);
    fb.jump(b2, &[]);
    fb.func.layout.append_block(b2);
    fb.switch(b2);
    fb.func.layout.append_inst(c, b2);
    fb.jump(b1, &[]);
    ok(&fb);
}

// ----- Entity references -----

#[test]
fn value_out_of_range() {
    let mut fb = FB::new(&[I32], &[I32]);
    let (_, p) = fb.entry();
    let bad = Value::from_u32(999);
    let i = fb.func.dfg.make_inst(InstructionData::Binary {
        opcode: Opcode::Iadd,
        args: [p[0], bad],
    });
    fb.func.dfg.make_inst_results(i, I32);
    fb.func.layout.append_inst(i, fb.cur.unwrap());
    let r = fb.func.dfg.first_result(i).unwrap();
    fb.ret(&[r]);
    one(&fb, Some(i), "v999 is out of range");
}

#[test]
fn destination_block_out_of_range() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let j = fb.jump(Block::from_u32(42), &[]);
    one(&fb, Some(j), "block42 is out of range");
}

#[test]
fn destination_block_not_in_layout() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let b = fb.func.dfg.make_block();
    let j = fb.jump(b, &[]);
    one(&fb, Some(j), "not in the layout");
}

#[test]
fn stack_slot_out_of_range() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let i = fb.ins(
        InstructionData::StackLoad {
            opcode: Opcode::StackAddr,
            stack_slot: StackSlot::from_u32(3),
            offset: Offset32(0),
        },
        I64,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "stack slot ss3 is out of range");
}

#[test]
fn stack_slot_offset_outside_slot() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let ss = fb.func.create_sized_stack_slot(StackSlotData::new(16, 3));
    let good = fb.ins(
        InstructionData::StackLoad {
            opcode: Opcode::StackAddr,
            stack_slot: ss,
            offset: Offset32(8),
        },
        I64,
    );
    let bad = fb.ins(
        InstructionData::StackLoad {
            opcode: Opcode::StackAddr,
            stack_slot: ss,
            offset: Offset32(17),
        },
        I64,
    );
    fb.ret(&[]);
    assert_ne!(good, bad);
    one(&fb, Some(bad), "outside ss0");
}

#[test]
fn global_value_out_of_range() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let i = fb.ins(
        InstructionData::UnaryGlobalValue {
            opcode: Opcode::SymbolValue,
            global_value: GlobalValue::from_u32(4),
        },
        I64,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "gv4 is out of range");
}

#[test]
fn symbol_value_needs_a_symbol() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let gv = fb.func.create_global_value(GlobalValueData::IAddImm {
        base: GlobalValue::from_u32(1),
        offset: Imm64(8),
        global_type: I64,
    });
    fb.func.create_global_value(GlobalValueData::Symbol {
        name: ExternalName::LibCall(LibCall::Memcpy),
        offset: Imm64(0),
        colocated: false,
        tls: false,
    });
    let i = fb.ins(
        InstructionData::UnaryGlobalValue {
            opcode: Opcode::SymbolValue,
            global_value: gv,
        },
        I64,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "gv0 is not a symbol");
}

#[test]
fn global_value_cycle() {
    let mut fb = simple();
    fb.func.create_global_value(GlobalValueData::Load {
        base: GlobalValue::from_u32(1),
        offset: Offset32(0),
        global_type: I64,
        flags: MemFlags::trusted(),
    });
    fb.func.create_global_value(GlobalValueData::IAddImm {
        base: GlobalValue::from_u32(0),
        offset: Imm64(16),
        global_type: I64,
    });
    let e = one(&fb, None, "global value cycle");
    assert_eq!(e.location, "gv0");
}

#[test]
fn global_value_base_out_of_range() {
    let mut fb = simple();
    fb.func.create_global_value(GlobalValueData::IAddImm {
        base: GlobalValue::from_u32(9),
        offset: Imm64(16),
        global_type: I64,
    });
    one(&fb, None, "base gv9 is out of range");
}

#[test]
fn vmctx_needs_a_vmctx_parameter() {
    let mut fb = simple();
    fb.func.create_global_value(GlobalValueData::VMContext);
    one(&fb, None, "undeclared vmctx");
    // With the parameter it is fine.
    let mut fb = FB::new(&[], &[]);
    fb.func
        .signature
        .params
        .push(AbiParam::special(I64, ArgumentPurpose::VMContext));
    fb.entry();
    fb.ret(&[]);
    fb.func.create_global_value(GlobalValueData::VMContext);
    ok(&fb);
}

#[test]
fn sig_ref_out_of_range() {
    let mut fb = FB::new(&[I64], &[]);
    let (_, p) = fb.entry();
    let args = fb.func.dfg.make_value_list(&[p[0]]);
    let i = fb.ins(
        InstructionData::CallIndirect {
            opcode: Opcode::CallIndirect,
            sig_ref: SigRef::from_u32(2),
            args,
        },
        I64,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "sig2 is out of range");
}

#[test]
fn func_ref_out_of_range() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let i = fb.call(FuncRef::from_u32(5), &[]);
    fb.ret(&[]);
    one(&fb, Some(i), "fn5 is out of range");
}

#[test]
fn ext_func_signature_out_of_range() {
    let mut fb = simple();
    fb.func.import_function(ExtFuncData {
        name: ExternalName::LibCall(LibCall::Memcpy),
        signature: SigRef::from_u32(3),
        colocated: false,
        patchable: false,
    });
    let e = one(&fb, None, "sig3 is out of range");
    assert_eq!(e.location, "fn0");
}

#[test]
fn user_external_name_ref_out_of_range() {
    let mut fb = simple();
    let sig = fb.sig(&[], &[], CallConv::Fast);
    fb.func.import_function(ExtFuncData {
        name: ExternalName::User(UserExternalNameRef::from_u32(0)),
        signature: sig,
        colocated: false,
        patchable: false,
    });
    one(&fb, None, "missing user name table entry");
    fb.func
        .declare_imported_user_function(UserExternalName::new(0, 1));
    ok(&fb);
}

#[test]
fn jump_table_out_of_range() {
    let mut fb = FB::new(&[I32], &[]);
    let (_, p) = fb.entry();
    let i = fb.ins(
        InstructionData::BranchTable {
            opcode: Opcode::BrTable,
            arg: p[0],
            table: JumpTable::from_u32(0),
        },
        Type::INVALID,
    );
    one(&fb, Some(i), "jump table jt0 is out of range");
}

#[test]
fn exception_table_out_of_range() {
    let mut fb = FB::with_conv(&[], &[], CallConv::Tail);
    fb.entry();
    let sig = fb.sig(&[], &[], CallConv::Tail);
    let f = fb.func.import_function(ExtFuncData {
        name: ExternalName::LibCall(LibCall::Memcpy),
        signature: sig,
        colocated: false,
        patchable: false,
    });
    let i = fb.ins(
        InstructionData::TryCall {
            opcode: Opcode::TryCall,
            func_ref: f,
            args: ValueList::default(),
            exception: ExceptionTable::from_u32(1),
        },
        Type::INVALID,
    );
    one(&fb, Some(i), "exception table extable1 is out of range");
}

#[test]
fn constant_out_of_range() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let i = fb.ins(
        InstructionData::UnaryConst {
            opcode: Opcode::Vconst,
            constant: Constant::from_u32(0),
        },
        Type::I32X4,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "constant const0 is out of range");
}

#[test]
fn immediate_out_of_range_and_bad_mask() {
    let mut fb = FB::new(&[Type::I8X16], &[]);
    let (_, p) = fb.entry();
    let i = fb.ins(
        InstructionData::Shuffle {
            opcode: Opcode::Shuffle,
            args: [p[0], p[0]],
            imm: Immediate::from_u32(0),
        },
        Type::INVALID,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "immediate imm0 is out of range");
    fb.func
        .dfg
        .immediates
        .push(ConstantData((0..16).map(|b| b * 3).collect()));
    one(&fb, Some(i), "shuffle mask lane");
}

#[test]
fn alias_region_out_of_range() {
    let mut fb = FB::new(&[I64], &[I32]);
    let (_, p) = fb.entry();
    let mut flags = MemFlags::trusted();
    flags.set_alias_region(Some(AliasRegion::from_u32(2)));
    let v = fb.load(I32, flags, p[0], 0);
    fb.ret(&[v]);
    let load = fb.func.dfg.value_def(v);
    let Some(ValueDef::Result(i, _)) = load else {
        panic!()
    };
    one(&fb, Some(i), "alias region region2 is out of range");
}

#[test]
fn dynamic_type_and_slot_out_of_range() {
    let mut fb = simple();
    fb.func.dynamic_stack_slots.push(DynamicStackSlotData {
        kind: StackSlotKind::ExplicitDynamicSlot,
        dyn_ty: DynamicType::from_u32(0),
    });
    let e = one(&fb, None, "dynamic type dt0 is out of range");
    assert_eq!(e.location, "dss0");
    fb.func.dfg.dynamic_types.push(DynamicTypeData {
        base_vector_ty: Type::I32X4,
        dynamic_scale: GlobalValue::from_u32(0),
    });
    let e = one(&fb, None, "global value gv0 is out of range");
    assert_eq!(e.location, "dt0");
}

#[test]
fn stack_limit_out_of_range() {
    let mut fb = simple();
    fb.func.stack_limit = Some(GlobalValue::from_u32(0));
    let e = one(&fb, None, "gv0 is out of range");
    assert_eq!(e.location, "stack_limit");
}

// ----- Layout -----

#[test]
fn empty_block() {
    let mut fb = simple();
    fb.block();
    let e = one(&fb, None, "block is empty");
    assert_eq!(e.location, "block1");
}

#[test]
fn block_without_terminator() {
    let mut fb = FB::new(&[I32, I32], &[I32]);
    let (_, p) = fb.entry();
    let s = fb.binary(Opcode::Iadd, p[0], p[1]);
    let Some(ValueDef::Result(i, _)) = fb.func.dfg.value_def(s) else {
        panic!()
    };
    one(&fb, Some(i), "does not end with a terminator");
}

#[test]
fn terminator_in_the_middle() {
    let mut fb = FB::new(&[I32, I32], &[I32]);
    let (_, p) = fb.entry();
    let r = fb.ret(&[p[0]]);
    fb.ret(&[p[1]]);
    one(&fb, Some(r), "terminator is not the last");
}

#[test]
fn entry_params_must_match_signature() {
    let mut fb = FB::new(&[I32, I32], &[]);
    let b = fb.block();
    fb.param(b, I32);
    fb.param(b, I64);
    fb.ret(&[]);
    let e = one(&fb, None, "has type i64, the signature says i32");
    assert_eq!(e.location, "block0");
    let mut fb = FB::new(&[I32], &[]);
    fb.block();
    fb.ret(&[]);
    one(&fb, None, "entry block has 0 parameters");
}

#[test]
fn no_entry_block() {
    let fb = FB::new(&[], &[]);
    one(&fb, None, "no entry block");
}

// ----- SSA -----

#[test]
fn use_before_definition_in_the_same_block() {
    let mut fb = FB::new(&[I32], &[I32]);
    let (b, p) = fb.entry();
    let def = fb.func.dfg.make_inst(InstructionData::UnaryImm {
        opcode: Opcode::Iconst,
        imm: Imm64(3),
    });
    fb.func.dfg.make_inst_results(def, I32);
    let c = fb.func.dfg.first_result(def).unwrap();
    let s = fb.binary(Opcode::Iadd, p[0], c);
    let Some(ValueDef::Result(use_inst, _)) = fb.func.dfg.value_def(s) else {
        panic!()
    };
    fb.func.layout.append_inst(def, b);
    fb.ret(&[s]);
    one(&fb, Some(use_inst), "does not dominate");
}

#[test]
fn use_from_a_non_dominating_block() {
    // block0: brif v0, block1, block2; block1: v1 = iconst; jump block2;
    // block2: return v1   <- block1 does not dominate block2
    let mut fb = FB::new(&[I32], &[I32]);
    let (_, p) = fb.entry();
    let b1 = fb.func.dfg.make_block();
    let b2 = fb.func.dfg.make_block();
    fb.brif(p[0], b1, &[], b2, &[]);
    fb.func.layout.append_block(b1);
    fb.switch(b1);
    let v = fb.iconst(I32, 1);
    fb.jump(b2, &[]);
    fb.func.layout.append_block(b2);
    fb.switch(b2);
    let r = fb.ret(&[v]);
    one(&fb, Some(r), "does not dominate");
}

#[test]
fn use_of_a_never_defined_value() {
    let mut fb = FB::new(&[], &[I32]);
    fb.entry();
    let v = Value::from_u32(3);
    fb.func.dfg.reserve_value(v);
    let r = fb.ret(&[v]);
    one(&fb, Some(r), "never defined");
}

#[test]
fn alias_cycle() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    fb.ret(&[]);
    let a = Value::from_u32(0);
    let b = Value::from_u32(1);
    fb.func.dfg.reserve_value(b);
    fb.func.dfg.values[a] = ValueData::Alias {
        ty: I32,
        original: b,
    };
    fb.func.dfg.values[b] = ValueData::Alias {
        ty: I32,
        original: a,
    };
    let e = errors(&fb);
    assert_eq!(e.len(), 2, "{}", VerifierErrors(e.clone()));
    assert!(e.iter().all(|e| e.message.contains("alias cycle")));
    // A use of the cycle is reported at the instruction too.
    let mut fb2 = FB::new(&[], &[I32]);
    fb2.entry();
    fb2.func.dfg.reserve_value(b);
    fb2.func.dfg.values[a] = ValueData::Alias {
        ty: I32,
        original: b,
    };
    fb2.func.dfg.values[b] = ValueData::Alias {
        ty: I32,
        original: a,
    };
    let r = fb2.ret(&[a]);
    assert!(errors(&fb2)
        .iter()
        .any(|e| e.inst == Some(r) && e.message.contains("alias cycle")));
}

#[test]
fn alias_to_a_defined_value_is_fine() {
    let mut fb = FB::new(&[I32], &[I32]);
    let (_, p) = fb.entry();
    let alias = Value::from_u32(5);
    fb.func.dfg.make_value_alias(alias, p[0]);
    fb.ret(&[alias]);
    ok(&fb);
}

#[test]
fn value_defined_twice() {
    let mut fb = FB::new(&[], &[I32]);
    fb.entry();
    let v = fb.iconst(I32, 1);
    let Some(ValueDef::Result(first, _)) = fb.func.dfg.value_def(v) else {
        panic!()
    };
    // A second instruction claims the same value as its result.
    let second = fb.func.dfg.make_inst(InstructionData::UnaryImm {
        opcode: Opcode::Iconst,
        imm: Imm64(2),
    });
    fb.func.dfg.attach_inst_results(second, &[(v, I32)]);
    fb.func.layout.append_inst(second, fb.cur.unwrap());
    fb.ret(&[v]);
    one(&fb, Some(first), "is not defined by this instruction");
}

// ----- Block arguments -----

#[test]
fn block_argument_count() {
    let mut fb = FB::new(&[I32], &[]);
    let (_, p) = fb.entry();
    let b1 = fb.func.dfg.make_block();
    let j = fb.jump(b1, &[p[0], p[0]]);
    fb.func.layout.append_block(b1);
    fb.switch(b1);
    fb.param(b1, I32);
    fb.ret(&[]);
    one(
        &fb,
        Some(j),
        "passes 2 arguments to block1, which has 1 parameters",
    );
}

#[test]
fn block_argument_type() {
    let mut fb = FB::new(&[I32], &[]);
    let (_, p) = fb.entry();
    let b1 = fb.func.dfg.make_block();
    let b2 = fb.func.dfg.make_block();
    let j = fb.brif(p[0], b1, &[p[0]], b2, &[]);
    fb.func.layout.append_block(b1);
    fb.switch(b1);
    fb.param(b1, I64);
    fb.ret(&[]);
    fb.func.layout.append_block(b2);
    fb.switch(b2);
    fb.ret(&[]);
    one(&fb, Some(j), "argument 0 to block1 has type i32");
}

#[test]
fn br_table_arguments_checked() {
    let mut fb = FB::new(&[I32], &[]);
    let (_, p) = fb.entry();
    let b1 = fb.func.dfg.make_block();
    let d = fb.func.dfg.block_call_values(b1, &[]);
    let e = fb.func.dfg.block_call_values(b1, &[p[0]]);
    let table = fb.func.dfg.jump_tables.push(JumpTableData::new(d, &[d, e]));
    let i = fb.ins(
        InstructionData::BranchTable {
            opcode: Opcode::BrTable,
            arg: p[0],
            table,
        },
        Type::INVALID,
    );
    fb.func.layout.append_block(b1);
    fb.switch(b1);
    fb.ret(&[]);
    one(&fb, Some(i), "passes 1 arguments to block1");
}

fn try_call_fn(normal_args: &[BlockArg], handler_args: &[BlockArg], normal_ty: Type) -> (FB, Inst) {
    let mut fb = FB::with_conv(&[I64], &[], CallConv::Tail);
    let (_, p) = fb.entry();
    let sig = fb.sig(&[I64], &[I32], CallConv::Tail);
    let f = fb.func.import_function(ExtFuncData {
        name: ExternalName::LibCall(LibCall::Memcpy),
        signature: sig,
        colocated: false,
        patchable: false,
    });
    let normal = fb.func.dfg.make_block();
    let handler = fb.func.dfg.make_block();
    let nc = fb.func.dfg.block_call(normal, normal_args);
    let hc = fb.func.dfg.block_call(handler, handler_args);
    let et = fb.func.dfg.exception_tables.push(ExceptionTableData {
        sig,
        targets: vec![nc, hc],
        items: vec![ExceptionTableItem::Tag(1)],
    });
    let args = fb.func.dfg.make_value_list(&[p[0]]);
    let i = fb.ins(
        InstructionData::TryCall {
            opcode: Opcode::TryCall,
            func_ref: f,
            args,
            exception: et,
        },
        Type::INVALID,
    );
    fb.func.layout.append_block(normal);
    fb.switch(normal);
    for _ in normal_args {
        fb.param(normal, normal_ty);
    }
    fb.ret(&[]);
    fb.func.layout.append_block(handler);
    fb.switch(handler);
    for _ in handler_args {
        fb.param(handler, I64);
    }
    fb.ret(&[]);
    (fb, i)
}

#[test]
fn try_call_ret_and_exn_arguments() {
    let (fb, _) = try_call_fn(&[BlockArg::TryCallRet(0)], &[BlockArg::TryCallExn(0)], I32);
    ok(&fb);
    let (fb, i) = try_call_fn(&[BlockArg::TryCallRet(0)], &[BlockArg::TryCallExn(0)], I64);
    one(&fb, Some(i), "argument 0 to block1 has type i32");
    let (fb, i) = try_call_fn(&[BlockArg::TryCallRet(1)], &[], I32);
    one(&fb, Some(i), "ret1 is out of range");
    let (fb, i) = try_call_fn(&[BlockArg::TryCallExn(0)], &[], I64);
    one(&fb, Some(i), "exn0 is only allowed in the handler");
    let (fb, i) = try_call_fn(&[], &[BlockArg::TryCallRet(0)], I64);
    one(&fb, Some(i), "ret0 is only allowed in the normal-return");
}

#[test]
fn ret_argument_outside_try_call() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let b1 = fb.func.dfg.make_block();
    let bc = fb.func.dfg.block_call(b1, &[BlockArg::TryCallRet(0)]);
    let j = fb.ins(
        InstructionData::Jump {
            opcode: Opcode::Jump,
            destination: bc,
        },
        Type::INVALID,
    );
    fb.func.layout.append_block(b1);
    fb.switch(b1);
    fb.param(b1, I32);
    fb.ret(&[]);
    one(&fb, Some(j), "ret0 is only allowed");
}

// ----- Operand and result types -----

#[test]
fn format_mismatch() {
    let mut fb = FB::new(&[I32], &[]);
    let (_, p) = fb.entry();
    let i = fb.ins(
        InstructionData::Unary {
            opcode: Opcode::Iadd,
            arg: p[0],
        },
        I32,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "needs format Binary");
}

#[test]
fn same_constraint() {
    let mut fb = FB::new(&[I32, I64], &[]);
    let (_, p) = fb.entry();
    let i = fb.ins(
        InstructionData::Binary {
            opcode: Opcode::Iadd,
            args: [p[0], p[1]],
        },
        I32,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "operand 1 (v1): has type i64, expected i32");
}

#[test]
fn controlling_type_set() {
    let mut fb = FB::new(&[F32, F32], &[]);
    let (_, p) = fb.entry();
    let i = fb.ins(
        InstructionData::Binary {
            opcode: Opcode::Iadd,
            args: [p[0], p[1]],
        },
        F32,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "controlling type f32 is not allowed for iadd");
}

#[test]
fn fixed_constraint() {
    let mut fb = FB::new(&[I64], &[]);
    let (_, p) = fb.entry();
    let b1 = fb.func.dfg.make_block();
    let d = fb.func.dfg.block_call_values(b1, &[]);
    let table = fb.func.dfg.jump_tables.push(JumpTableData::new(d, &[]));
    let i = fb.ins(
        InstructionData::BranchTable {
            opcode: Opcode::BrTable,
            arg: p[0],
            table,
        },
        Type::INVALID,
    );
    fb.func.layout.append_block(b1);
    fb.switch(b1);
    fb.ret(&[]);
    one(&fb, Some(i), "has type i64, expected i32");
}

#[test]
fn free_constraint() {
    let mut fb = FB::new(&[I32, F32], &[]);
    let (_, p) = fb.entry();
    let i = fb.ins(
        InstructionData::Binary {
            opcode: Opcode::Ishl,
            args: [p[0], p[1]],
        },
        I32,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "type f32 is not allowed here");
}

/// Builds `results = op(args)` with explicitly chosen result types.
fn with_results(
    params: &[Type],
    data: impl Fn(&[Value]) -> InstructionData,
    results: &[Type],
) -> (FB, Inst) {
    let mut fb = FB::new(params, &[]);
    let (_, p) = fb.entry();
    let i = fb.func.dfg.make_inst(data(&p));
    let n = fb.func.dfg.num_values();
    let rs: Vec<(Value, Type)> = results
        .iter()
        .enumerate()
        .map(|(k, t)| (Value::from_u32((n + k) as u32), *t))
        .collect();
    fb.func.dfg.attach_inst_results(i, &rs);
    fb.func.layout.append_inst(i, fb.cur.unwrap());
    fb.ret(&[]);
    (fb, i)
}

fn unary(op: Opcode) -> impl Fn(&[Value]) -> InstructionData {
    move |p| InstructionData::Unary {
        opcode: op,
        arg: p[0],
    }
}

fn binary(op: Opcode) -> impl Fn(&[Value]) -> InstructionData {
    move |p| InstructionData::Binary {
        opcode: op,
        args: [p[0], p[1]],
    }
}

#[test]
fn truthy_constraint() {
    let icmp = |p: &[Value]| InstructionData::IntCompare {
        opcode: Opcode::Icmp,
        cond: IntCC::Equal,
        args: [p[0], p[1]],
    };
    let (fb, _) = with_results(&[I64, I64], icmp, &[I8]);
    ok(&fb);
    let (fb, i) = with_results(&[I64, I64], icmp, &[I64]);
    one(&fb, Some(i), "result 0 (v2): has type i64, expected i8");
}

#[test]
fn narrower_int_constraint() {
    let (fb, _) = with_results(&[I32], unary(Opcode::Uextend), &[I64]);
    ok(&fb);
    let (fb, i) = with_results(&[I64], unary(Opcode::Uextend), &[I32]);
    one(&fb, Some(i), "does not satisfy NarrowerInt");
}

#[test]
fn wider_int_constraint() {
    let (fb, i) = with_results(&[I32], unary(Opcode::Ireduce), &[I64]);
    // i64 is not a NARROW_INT controlling type? It is (i8..i64); the
    // operand is the problem.
    one(&fb, Some(i), "does not satisfy WiderInt");
}

#[test]
fn other_float_constraint() {
    let (fb, _) = with_results(&[F32], unary(Opcode::Fpromote), &[F64]);
    ok(&fb);
    let (fb, i) = with_results(&[F64], unary(Opcode::Fpromote), &[F64]);
    one(&fb, Some(i), "does not satisfy OtherFloat");
}

#[test]
fn half_width_constraint() {
    let (fb, _) = with_results(&[I64], unary(Opcode::Isplit), &[I32, I32]);
    ok(&fb);
    let (fb, i) = with_results(&[I64], unary(Opcode::Isplit), &[I32, I64]);
    one(&fb, Some(i), "result 1 (v2): has type i64, expected i32");
}

#[test]
fn double_width_constraint() {
    let (fb, i) = with_results(&[I32, I32], binary(Opcode::Iconcat), &[I32]);
    one(&fb, Some(i), "has type i32, expected i64");
}

#[test]
fn lane_constraint() {
    let (fb, _) = with_results(&[I32], unary(Opcode::Splat), &[Type::I32X4]);
    ok(&fb);
    let (fb, i) = with_results(&[I64], unary(Opcode::Splat), &[Type::I32X4]);
    one(&fb, Some(i), "operand 0 (v0): has type i64, expected i32");
}

#[test]
fn narrow_lanes_constraint() {
    let (fb, _) = with_results(
        &[Type::I32X4, Type::I32X4],
        binary(Opcode::Snarrow),
        &[Type::I16X8],
    );
    ok(&fb);
    let (fb, i) = with_results(
        &[Type::I32X4, Type::I32X4],
        binary(Opcode::Snarrow),
        &[Type::I32X4],
    );
    one(&fb, Some(i), "expected i16x8");
}

#[test]
fn widen_lanes_constraint() {
    let (fb, _) = with_results(&[Type::I32X4], unary(Opcode::SwidenLow), &[Type::I64X2]);
    ok(&fb);
    let (fb, i) = with_results(&[Type::I32X4], unary(Opcode::SwidenLow), &[Type::I32X4]);
    one(&fb, Some(i), "expected i64x2");
}

#[test]
fn fixed_of_dynamic_constraint() {
    let dynty = Type::I32X4.to_dynamic().unwrap();
    let ev = |p: &[Value]| InstructionData::BinaryImm8 {
        opcode: Opcode::ExtractVector,
        arg: p[0],
        imm: Uimm8(0),
    };
    let (fb, _) = with_results(&[dynty], ev, &[Type::I32X4]);
    ok(&fb);
    let (fb, i) = with_results(&[dynty], ev, &[Type::I64X2]);
    one(&fb, Some(i), "expected i32x4");
}

#[test]
fn result_count() {
    let (fb, i) = with_results(&[I32, I32], binary(Opcode::Iadd), &[I32, I32]);
    one(&fb, Some(i), "iadd has 2 results, expected 1");
}

// ----- Immediates -----

#[test]
fn iconst_range() {
    for (ty, v, good) in [
        (I8, 255, true),
        (I8, -128, true),
        (I8, 256, false),
        (I8, -129, false),
        (Type::I16, 0xffff, true),
        (I32, -1, true),
        (I32, 0xffff_ffff, true),
        (I32, 0x1_0000_0000, false),
        (I64, i64::MIN, true),
    ] {
        let mut fb = FB::new(&[], &[]);
        fb.entry();
        let c = fb.iconst(ty, v);
        fb.ret(&[]);
        if good {
            ok(&fb);
        } else {
            let Some(ValueDef::Result(i, _)) = fb.func.dfg.value_def(c) else {
                panic!()
            };
            one(&fb, Some(i), "does not fit");
        }
    }
}

#[test]
fn lane_index_range() {
    let el = |lane: u8| {
        move |p: &[Value]| InstructionData::BinaryImm8 {
            opcode: Opcode::Extractlane,
            arg: p[0],
            imm: Uimm8(lane),
        }
    };
    let (fb, _) = with_results(&[Type::I32X4], el(3), &[I32]);
    ok(&fb);
    let (fb, i) = with_results(&[Type::I32X4], el(4), &[I32]);
    one(&fb, Some(i), "lane index 4 is out of range");
}

#[test]
fn bitcast_width() {
    let bc = |p: &[Value]| InstructionData::LoadNoOffset {
        opcode: Opcode::Bitcast,
        flags: MemFlags::new(),
        arg: p[0],
    };
    let (fb, _) = with_results(&[F32], bc, &[I32]);
    ok(&fb);
    let (fb, i) = with_results(&[F32], bc, &[I64]);
    one(&fb, Some(i), "changes the bit width");
}

#[test]
fn constant_width() {
    let mut fb = FB::new(&[], &[]);
    fb.entry();
    let c = fb.func.dfg.constants.push(ConstantData(vec![0; 8]));
    let i = fb.ins(
        InstructionData::UnaryConst {
            opcode: Opcode::Vconst,
            constant: c,
        },
        Type::I32X4,
    );
    fb.ret(&[]);
    one(&fb, Some(i), "constant has 8 bytes, i32x4 needs 16");
}

// ----- Calls and returns -----

fn with_callee(params: &[Type], returns: &[Type]) -> (FB, Vec<Value>, FuncRef) {
    let mut fb = FB::new(&[I32, I64], &[]);
    let (_, p) = fb.entry();
    let sig = fb.sig(params, returns, CallConv::Fast);
    let f = fb.func.import_function(ExtFuncData {
        name: ExternalName::TestCase(TestcaseName::new("callee")),
        signature: sig,
        colocated: false,
        patchable: false,
    });
    (fb, p, f)
}

#[test]
fn call_argument_count_and_types() {
    let (mut fb, p, f) = with_callee(&[I32, I64], &[]);
    fb.call(f, &[p[0], p[1]]);
    fb.ret(&[]);
    ok(&fb);
    let (mut fb, p, f) = with_callee(&[I32, I64], &[]);
    let c = fb.call(f, &[p[0]]);
    fb.ret(&[]);
    one(&fb, Some(c), "passes 1 arguments, the signature has 2");
    let (mut fb, p, f) = with_callee(&[I32, I64], &[]);
    let c = fb.call(f, &[p[0], p[0]]);
    fb.ret(&[]);
    one(
        &fb,
        Some(c),
        "argument 1 (v0) has type i32, the signature says i64",
    );
}

#[test]
fn call_results_match_signature() {
    let (mut fb, p, f) = with_callee(&[], &[I32]);
    let i = fb.func.dfg.make_inst(InstructionData::Call {
        opcode: Opcode::Call,
        func_ref: f,
        args: ValueList::default(),
    });
    fb.func
        .dfg
        .attach_inst_results(i, &[(Value::from_u32(9), I64)]);
    fb.func.layout.append_inst(i, fb.cur.unwrap());
    fb.ret(&[]);
    let _ = p;
    one(
        &fb,
        Some(i),
        "result 0 (v9) has type i64, the signature returns i32",
    );
}

#[test]
fn call_indirect_callee_is_a_pointer() {
    let mut fb = FB::new(&[I8], &[]);
    let (_, p) = fb.entry();
    let sig = fb.sig(&[], &[], CallConv::Fast);
    let args = fb.func.dfg.make_value_list(&[p[0]]);
    let i = fb.ins(
        InstructionData::CallIndirect {
            opcode: Opcode::CallIndirect,
            sig_ref: sig,
            args,
        },
        I8,
    );
    fb.ret(&[]);
    one(
        &fb,
        Some(i),
        "controlling type i8 is not allowed for call_indirect",
    );
}

#[test]
fn return_values_match_signature() {
    let mut fb = FB::new(&[I32, I64], &[I32]);
    let (_, p) = fb.entry();
    let r = fb.ret(&[p[1]]);
    one(
        &fb,
        Some(r),
        "return value 0 (v1) has type i64, the signature says i32",
    );
    let mut fb = FB::new(&[I32, I64], &[I32]);
    let (_, p) = fb.entry();
    let r = fb.ret(&[p[0], p[0]]);
    one(&fb, Some(r), "returns 2 values, the signature 1");
}

fn tail_call(caller_cc: CallConv, callee_cc: CallConv, callee_ret: &[Type]) -> (FB, Inst) {
    let mut fb = FB::with_conv(&[I32], &[I32], caller_cc);
    let (_, p) = fb.entry();
    let sig = fb.sig(&[I32], callee_ret, callee_cc);
    let f = fb.func.import_function(ExtFuncData {
        name: ExternalName::TestCase(TestcaseName::new("g")),
        signature: sig,
        colocated: true,
        patchable: false,
    });
    let args = fb.func.dfg.make_value_list(&[p[0]]);
    let i = fb.ins(
        InstructionData::Call {
            opcode: Opcode::ReturnCall,
            func_ref: f,
            args,
        },
        Type::INVALID,
    );
    (fb, i)
}

#[test]
fn return_call_rules() {
    let (fb, _) = tail_call(CallConv::Tail, CallConv::Tail, &[I32]);
    ok(&fb);
    let (fb, i) = tail_call(CallConv::Tail, CallConv::Tail, &[I64]);
    one(&fb, Some(i), "return types differ");
    let (fb, i) = tail_call(CallConv::SystemV, CallConv::Tail, &[I32]);
    one(&fb, Some(i), "this function uses `system_v`");
    let (fb, i) = tail_call(CallConv::Tail, CallConv::Fast, &[I32]);
    one(&fb, Some(i), "the callee uses `fast`");
}

// ----- Memory flags -----

#[test]
fn memflags_little_and_big() {
    let mut fb = FB::new(&[I64], &[I32]);
    let (_, p) = fb.entry();
    let mut flags = MemFlags::new();
    flags.set_endianness(Endianness::Little);
    let little = flags.word_bits();
    flags.set_endianness(Endianness::Big);
    flags.set_word_bits_unchecked(flags.word_bits() | little);
    let v = fb.load(I32, flags, p[0], 0);
    fb.ret(&[v]);
    let Some(ValueDef::Result(i, _)) = fb.func.dfg.value_def(v) else {
        panic!()
    };
    one(&fb, Some(i), "`little` and `big` are both set");
}

// ----- Reporting -----

#[test]
fn every_error_is_reported() {
    // Three independent faults in three instructions.
    let mut fb = FB::new(&[I32, I64], &[I32]);
    let (_, p) = fb.entry();
    let a = fb.ins(
        InstructionData::Binary {
            opcode: Opcode::Iadd,
            args: [p[0], p[1]],
        },
        I32,
    );
    let b = fb.call(FuncRef::from_u32(0), &[]);
    let r = fb.ret(&[p[1]]);
    let e = errors(&fb);
    assert_eq!(e.len(), 3, "{}", VerifierErrors(e.clone()));
    assert_eq!(e[0].inst, Some(a));
    assert_eq!(e[1].inst, Some(b));
    assert_eq!(e[2].inst, Some(r));
    assert_eq!(e[0].context.as_deref(), Some("v2 = iadd v0, v1"));
    assert_eq!(e[2].context.as_deref(), Some("return v1"));
}

#[test]
fn never_panics_on_garbage_references() {
    // Deliberately nonsensical function: every kind of dangling reference
    // at once. The verifier must report, not panic.
    let mut fb = FB::new(&[I32], &[]);
    let (_, p) = fb.entry();
    fb.ins(
        InstructionData::Ternary {
            opcode: Opcode::Select,
            args: [Value::from_u32(77), p[0], Value::from_u32(78)],
        },
        I32,
    );
    let bc = BlockCall {
        block: Block::from_u32(1000),
        args: BlockArgList::default(),
    };
    fb.func
        .dfg
        .jump_tables
        .push(JumpTableData { entries: vec![] });
    fb.ins(
        InstructionData::BranchTable {
            opcode: Opcode::BrTable,
            arg: p[0],
            table: JumpTable::from_u32(0),
        },
        Type::INVALID,
    );
    fb.ins(
        InstructionData::Brif {
            opcode: Opcode::Brif,
            arg: p[0],
            blocks: [bc, bc],
        },
        Type::INVALID,
    );
    fb.func.stack_limit = Some(GlobalValue::from_u32(12));
    fb.func
        .layout
        .append_inst(Inst::from_u32(5000), fb.cur.unwrap());
    let e = errors(&fb);
    assert!(e.len() >= 4, "{}", VerifierErrors(e));
}

// ----- Rules added after reading Cranelift's verifier -----

#[test]
fn branch_to_the_entry_block() {
    let mut fb = FB::new(&[], &[]);
    let (entry, _) = fb.entry();
    let j = fb.jump(entry, &[]);
    one(&fb, Some(j), "branches to the entry block");
}

#[test]
fn cold_entry_block() {
    let mut fb = simple();
    let entry = fb.func.layout.entry_block().unwrap();
    fb.func.dfg.blocks[entry].cold = true;
    let e = one(&fb, None, "entry block cannot be cold");
    assert_eq!(e.location, "block0");
}

#[test]
fn readonly_store() {
    let mut fb = FB::new(&[I32, I64], &[]);
    let (_, p) = fb.entry();
    let mut flags = MemFlags::trusted();
    fb.store(flags, p[0], p[1], 0);
    flags.set_readonly();
    let s = fb.store(flags, p[0], p[1], 0);
    fb.ret(&[]);
    one(&fb, Some(s), "a store cannot be `readonly`");
}

#[test]
fn signature_extension_and_sarg_return() {
    let mut fb = simple();
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(F32).uext());
    sig.returns
        .push(AbiParam::special(I64, ArgumentPurpose::StructArgument(8)));
    fb.func.import_signature(sig);
    let e = errors(&fb);
    assert_eq!(e.len(), 2, "{}", VerifierErrors(e.clone()));
    assert!(e[0].message.contains("cannot have an extension"));
    assert!(e[1].message.contains("cannot be a struct argument"));
    assert!(e.iter().all(|e| e.location == "sig0" && e.inst.is_none()));
}

#[test]
fn bitcast_flags_and_lane_count() {
    let bc = |flags: MemFlags| {
        move |p: &[Value]| InstructionData::LoadNoOffset {
            opcode: Opcode::Bitcast,
            flags,
            arg: p[0],
        }
    };
    let mut little = MemFlags::new();
    little.set_endianness(Endianness::Little);
    // Same lane count: no byte order needed.
    let (fb, _) = with_results(&[Type::F32X4], bc(MemFlags::new()), &[Type::I32X4]);
    ok(&fb);
    // Lane count changes: needs a byte order.
    let (fb, i) = with_results(&[Type::I32X4], bc(MemFlags::new()), &[Type::I64X2]);
    one(&fb, Some(i), "changes the lane count");
    let (fb, _) = with_results(&[Type::I32X4], bc(little), &[Type::I64X2]);
    ok(&fb);
    // Other flags are refused.
    let (fb, i) = with_results(&[F32], bc(MemFlags::trusted()), &[I32]);
    one(&fb, Some(i), "only the `big` or `little` flag");
}

#[test]
fn try_call_exception_payloads_and_convention() {
    // exn0 and exn1 exist for tail/system_v callees; exn2 does not.
    let (fb, _) = try_call_fn(
        &[BlockArg::TryCallRet(0)],
        &[BlockArg::TryCallExn(0), BlockArg::TryCallExn(1)],
        I32,
    );
    ok(&fb);
    let (fb, i) = try_call_fn(&[BlockArg::TryCallRet(0)], &[BlockArg::TryCallExn(2)], I32);
    one(&fb, Some(i), "exn2 is out of range");
    // A callee convention without exception support.
    let (mut fb, i) = try_call_fn(&[BlockArg::TryCallRet(0)], &[], I32);
    fb.func.dfg.signatures[SigRef::from_u32(0)].call_conv = CallConv::Fast;
    one(&fb, Some(i), "`fast` does not support exceptions");
}

#[test]
fn error_context_renders_the_instruction() {
    let mut fb = FB::new(&[I64], &[I64]);
    let (_, p) = fb.entry();
    let v = fb.load(I32, MemFlags::trusted(), p[0], 0);
    let w = fb.load(I32, MemFlags::trusted(), p[0], -8);
    let s = fb.binary(Opcode::Iadd, v, w);
    let r = fb.ret(&[s]);
    let e = one(&fb, Some(r), "return value 0 (v3) has type i32");
    assert_eq!(e.context.as_deref(), Some("return v3"));
    let Some(ValueDef::Result(l1, _)) = fb.func.dfg.value_def(v) else {
        panic!()
    };
    let Some(ValueDef::Result(l2, _)) = fb.func.dfg.value_def(w) else {
        panic!()
    };
    assert_eq!(
        display::inst_to_string(&fb.func.dfg, l1),
        "v1 = load.i32 notrap aligned v0"
    );
    assert_eq!(
        display::inst_to_string(&fb.func.dfg, l2),
        "v2 = load.i32 notrap aligned v0-8"
    );
    assert_eq!(
        e.to_string(),
        "inst3: return v3: return value 0 (v3) has type i32, the signature says i64"
    );
}
