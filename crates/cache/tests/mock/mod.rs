//! A mock `TargetIsa` for testing the compile layer without a backend, and
//! a small function builder.
//!
//! The mock "compiles" a stencil into deterministic bytes derived from its
//! instructions: per instruction, the opcode byte and 4 bytes of an XXH64
//! of the instruction's data and result types; a call to an external name
//! adds a `call rel32`-like 5 bytes with a relocation naming it (user
//! reference, test-case name, libcall or known symbol) and a call site; a
//! trap adds a trap record; each instruction gets a srcloc range with its
//! relative source location. It counts its compiles.

#![allow(dead_code)]

use kiln_codegen::compiled::{CompiledCode, Relocation, SrcLocRange, Stencil};
use kiln_codegen::isa::TargetIsa;
use kiln_codegen::machinst::buffer::{MachCallSite, MachTrap, Reloc, RelocTarget};
use kiln_codegen::result::{CodegenError, CodegenResult};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_ir::*;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct MockIsa {
    pub flags: Flags,
    pub isa_flags: IsaFlags,
    pub compiles: AtomicUsize,
}

impl MockIsa {
    pub fn new() -> Self {
        MockIsa {
            flags: Flags::default(),
            isa_flags: IsaFlags::baseline(Arch::X86_64),
            compiles: AtomicUsize::new(0),
        }
    }
    pub fn compiles(&self) -> usize {
        self.compiles.load(Ordering::Relaxed)
    }
}

impl TargetIsa for MockIsa {
    fn arch(&self) -> Arch {
        Arch::X86_64
    }
    fn flags(&self) -> &Flags {
        &self.flags
    }
    fn isa_flags(&self) -> &IsaFlags {
        &self.isa_flags
    }
    fn compile_stencil(&self, stencil: &FunctionStencil) -> CodegenResult<CompiledCode<Stencil>> {
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let mut code = Vec::new();
        let mut relocs = Vec::new();
        let mut traps = Vec::new();
        let mut call_sites = Vec::new();
        let mut srclocs = Vec::new();
        let mut testcase_names: Vec<TestcaseName> = Vec::new();
        for block in stencil.layout.blocks() {
            for inst in stencil.layout.block_insts(block) {
                let start = code.len() as u32;
                let data = stencil.dfg.insts[inst];
                if data.opcode() == Opcode::Udiv {
                    return Err(CodegenError::Unsupported {
                        what: "udiv (mock)".to_string(),
                    });
                }
                let types: Vec<Type> = stencil
                    .dfg
                    .inst_results(inst)
                    .iter()
                    .map(|v| stencil.dfg.value_type(*v))
                    .collect();
                let text = format!("{data:?}{types:?}");
                code.push(data.opcode() as u8);
                code.extend_from_slice(&(kiln_cache::xxh64(text.as_bytes()) as u32).to_le_bytes());
                if let InstructionData::Call { func_ref, .. } = data {
                    let target = match &stencil.dfg.ext_funcs[func_ref].name {
                        ExternalName::User(r) => RelocTarget::User(*r),
                        ExternalName::LibCall(l) => RelocTarget::LibCall(*l),
                        ExternalName::KnownSymbol(k) => RelocTarget::KnownSymbol(*k),
                        ExternalName::TestCase(name) => {
                            let i = match testcase_names.iter().position(|n| n == name) {
                                Some(i) => i,
                                None => {
                                    testcase_names.push(name.clone());
                                    testcase_names.len() - 1
                                }
                            };
                            RelocTarget::TestCase(i as u32)
                        }
                    };
                    code.push(0xe8);
                    relocs.push(Relocation {
                        offset: code.len() as u32,
                        kind: Reloc::X86CallPCRel4,
                        target,
                        addend: -4,
                    });
                    code.extend_from_slice(&[0; 4]);
                    call_sites.push(MachCallSite {
                        ret_addr: code.len() as u32,
                    });
                }
                if let InstructionData::Trap { code: tc, .. } = data {
                    traps.push(MachTrap {
                        offset: start,
                        code: tc,
                    });
                    code.extend_from_slice(&[0x0f, 0x0b]);
                }
                srclocs.push(SrcLocRange {
                    start,
                    end: code.len() as u32,
                    loc: stencil.rel_srcloc(inst),
                });
            }
        }
        Ok(CompiledCode {
            code,
            relocs,
            traps,
            call_sites,
            exception_sites: Vec::new(),
            srclocs,
            testcase_names,
            alignment: 16,
            frame_size: 16 * stencil.sized_stack_slots.len() as u32,
        })
    }
}

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
