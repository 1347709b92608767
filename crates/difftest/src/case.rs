//! A test case: a set of functions, the one to call, and argument vectors.

use crate::args;
use crate::rng::Rng;
use kiln_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_fuzzgen::Program;
use kiln_ir::{
    AbiParam, DataValue, ExtFuncData, ExternalName, Function, Opcode, Signature, TestcaseName,
    Type, UserFuncName, Value,
};

/// What to run: `functions` (callees first, the entry last, so a `test run`
/// file's directives follow the entry), the entry's name and the argument
/// vectors to call it with.
#[derive(Clone, Debug)]
pub struct Case {
    pub functions: Vec<Function>,
    pub entry: UserFuncName,
    pub arg_sets: Vec<Vec<DataValue>>,
}

impl Case {
    /// The entry function.
    pub fn entry_function(&self) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == self.entry)
    }

    /// Instructions over all functions.
    pub fn num_insts(&self) -> usize {
        self.functions
            .iter()
            .map(|f| {
                f.layout
                    .blocks()
                    .map(|b| f.layout.block_insts(b).count())
                    .sum::<usize>()
            })
            .sum()
    }
}

/// The test-case name of generated function `u1:N`.
fn testcase_name(n: u32) -> TestcaseName {
    TestcaseName::new(format!("f{n}"))
}

/// Renames `u1:N` functions and their references to `%fN`, so the
/// functions can be written to a `test run` file and linked by name.
pub fn rename_user_functions(func: &mut Function) {
    if let UserFuncName::User(u) = &func.name {
        func.name = UserFuncName::Testcase(testcase_name(u.index));
    }
    let refs: Vec<_> = func.stencil.dfg.ext_funcs.keys().collect();
    for r in refs {
        let ExternalName::User(uref) = func.stencil.dfg.ext_funcs[r].name else {
            continue;
        };
        if let Some(u) = func.params.user_func_name(uref) {
            func.stencil.dfg.ext_funcs[r].name = ExternalName::TestCase(testcase_name(u.index));
        }
    }
}

/// Integer parameters narrower than 64 bits, whose upper register bits the
/// x86-64 System V ABI leaves undefined.
fn is_narrow(t: Type) -> bool {
    t.is_int() && t.bits() < 64
}

/// A case from a generated program: functions renamed to `%fN`, `vectors`
/// argument vectors with edge values (the generator's own arguments
/// first). When the entry takes narrow integers, half the time it is
/// called through a wrapper `%garbage` that takes them as i64 with random
/// upper bits and `ireduce`s them, so a callee that reads the undefined
/// upper bits of an argument register shows.
pub fn from_program(p: &Program, rng: &mut Rng, vectors: usize) -> Case {
    let mut functions: Vec<Function> = p.callees.clone();
    functions.push(p.main.clone());
    for f in &mut functions {
        rename_user_functions(f);
    }
    let main = functions.last().expect("main is there");
    let sig = main.stencil.signature.clone();
    let tys: Vec<Type> = sig.params.iter().map(|a| a.value_type).collect();
    let mut arg_sets = vec![p.args.clone()];
    for _ in 1..vectors.max(1) {
        arg_sets.push(args::vector(rng, &tys));
    }
    let entry = main.name.clone();
    if tys.iter().any(|&t| is_narrow(t)) && rng.coin() {
        if let Ok(w) = garbage_wrapper(&entry, &sig) {
            for set in &mut arg_sets {
                for (v, &t) in set.iter_mut().zip(&tys) {
                    if is_narrow(t) {
                        let low = v.as_i128().unwrap_or(0) as u64 & ((1u64 << t.bits()) - 1);
                        let high = rng.next_u64() << t.bits();
                        *v = DataValue::I64((high | low) as i64);
                    }
                }
            }
            let name = w.name.clone();
            functions.push(w);
            return Case {
                functions,
                entry: name,
                arg_sets,
            };
        }
    }
    Case {
        functions,
        entry,
        arg_sets,
    }
}

/// `%garbage(i64 for each narrow integer parameter, the rest unchanged)`,
/// calling `target` with those parameters `ireduce`d.
fn garbage_wrapper(target: &UserFuncName, sig: &Signature) -> Result<Function, String> {
    let mut wsig = Signature::new(sig.call_conv);
    for p in &sig.params {
        let t = if is_narrow(p.value_type) {
            Type::I64
        } else {
            p.value_type
        };
        wsig.params.push(AbiParam::new(t));
    }
    wsig.returns = sig.returns.clone();
    let UserFuncName::Testcase(tname) = target else {
        return Err("the target has no test-case name".into());
    };
    let mut func = Function::with_name_signature(UserFuncName::testcase("garbage"), wsig);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let e = |e: kiln_frontend::BuildError| e.to_string();
    let sig_ref = b.import_signature(sig.clone());
    let callee = b
        .import_function_data(ExtFuncData {
            name: ExternalName::TestCase(tname.clone()),
            signature: sig_ref,
            colocated: true,
            patchable: false,
        })
        .map_err(e)?;
    let block = b.create_block();
    b.append_block_params_for_function_params(block)
        .map_err(e)?;
    b.switch_to_block(block).map_err(e)?;
    b.seal_block(block).map_err(e)?;
    let params: Vec<Value> = b.block_params(block).to_vec();
    let mut call_args = Vec::with_capacity(params.len());
    for (v, p) in params.into_iter().zip(&sig.params) {
        if is_narrow(p.value_type) {
            call_args.push(
                b.ins()
                    .unary(Opcode::Ireduce, Some(p.value_type), v)
                    .map_err(e)?,
            );
        } else {
            call_args.push(v);
        }
    }
    let call = b.ins().call(callee, &call_args).map_err(e)?;
    let results: Vec<Value> = b.inst_results(call).to_vec();
    b.ins().return_(&results).map_err(e)?;
    b.finalize().map_err(e)?;
    Ok(func)
}
