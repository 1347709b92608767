//! A small function builder for the compile-layer tests; the mock backend
//! is the one in `kiln_cache::mock` (shared with the benches and the icache
//! property test).

#![allow(dead_code)]

pub use kiln_cache::mock::MockIsa;
use kiln_ir::*;

/// How to build a test function: `f(x: i64) -> i64 { v1 = iconst K;
/// v2 = OP x, v1; v3 = call CALLEE(v2); [v4 = call TC(v3)]; return }`,
/// with source locations `base + i * spacing` for the i-th instruction.
#[derive(Clone)]
pub struct Spec {
    pub name: UserFuncName,
    pub imm: i64,
    pub op: Opcode,
    pub ty: Type,
    pub callee: UserExternalName,
    /// Extra names in the table before the callee (shifts its reference).
    pub padding_names: Vec<UserExternalName>,
    pub testcase_callee: Option<&'static str>,
    pub base: u32,
    pub spacing: u32,
    pub trap: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            name: UserFuncName::user(0, 1),
            imm: 42,
            op: Opcode::Iadd,
            ty: Type::I64,
            callee: UserExternalName::new(0, 7),
            padding_names: Vec::new(),
            testcase_callee: None,
            base: 100,
            spacing: 4,
            trap: false,
        }
    }
}

pub fn build(spec: &Spec) -> Function {
    let ty = spec.ty;
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params.push(AbiParam::new(ty));
    sig.returns.push(AbiParam::new(ty));
    let mut f = Function::with_name_signature(spec.name.clone(), sig.clone());
    for n in &spec.padding_names {
        f.declare_imported_user_function(*n);
    }
    let callee_ref = f.declare_imported_user_function(spec.callee);
    let sig_ref = f.import_signature(sig);
    let fn0 = f.import_function(ExtFuncData {
        name: ExternalName::User(callee_ref),
        signature: sig_ref,
        colocated: false,
        patchable: false,
    });
    let fn1 = spec.testcase_callee.map(|name| {
        f.import_function(ExtFuncData {
            name: ExternalName::TestCase(TestcaseName::new(name)),
            signature: sig_ref,
            colocated: true,
            patchable: false,
        })
    });
    let block = f.dfg.make_block();
    f.layout.append_block(block);
    let x = f.dfg.append_block_param(block, ty);
    let mut loc = 0u32;
    let mut push = |f: &mut Function, data: InstructionData| {
        let inst = f.dfg.make_inst(data);
        f.dfg.make_inst_results(inst, ty).unwrap();
        f.layout.append_inst(inst, block);
        f.set_srcloc(inst, SourceLoc::new(spec.base + loc * spec.spacing));
        loc += 1;
        inst
    };
    let c = push(
        &mut f,
        InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm: Imm64(spec.imm),
        },
    );
    let c = f.dfg.first_result(c).unwrap();
    let s = push(
        &mut f,
        InstructionData::Binary {
            opcode: spec.op,
            args: [x, c],
        },
    );
    let s = f.dfg.first_result(s).unwrap();
    let args = f.dfg.make_value_list(&[s]);
    let r = push(
        &mut f,
        InstructionData::Call {
            opcode: Opcode::Call,
            func_ref: fn0,
            args,
        },
    );
    let mut r = f.dfg.first_result(r).unwrap();
    if let Some(fn1) = fn1 {
        let args = f.dfg.make_value_list(&[r]);
        let i = push(
            &mut f,
            InstructionData::Call {
                opcode: Opcode::Call,
                func_ref: fn1,
                args,
            },
        );
        r = f.dfg.first_result(i).unwrap();
    }
    if spec.trap {
        push(
            &mut f,
            InstructionData::Trap {
                opcode: Opcode::Trap,
                code: TrapCode::INTEGER_OVERFLOW,
            },
        );
    } else {
        let args = f.dfg.make_value_list(&[r]);
        push(
            &mut f,
            InstructionData::MultiAry {
                opcode: Opcode::Return,
                args,
            },
        );
    }
    f
}
