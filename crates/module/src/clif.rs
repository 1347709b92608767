//! Putting the functions of CLIF files into a [`Module`]: what `kiln
//! compile -o` does, usable by anyone who holds parsed functions and their
//! compiled code.
//!
//! # Symbol names
//!
//! | CLIF name | symbol | example |
//! | --- | --- | --- |
//! | `%name` (test-case name) | `name` | `%add` → `add` |
//! | `uN:M` (user name) | `uN_M` | `u0:3` → `u0_3` |
//!
//! A `%name` that is not a valid C identifier stays as it is (ELF allows
//! any bytes). Every function of the files is exported. A callee or
//! `symbol` global value that no file defines becomes an import of the
//! same symbol name, so `fn0 = %puts sig0` calls the C library's `puts`.
//! Two functions with one symbol name are [`ModuleError::Duplicate`].

use crate::module::{FuncId, FuncOrDataId, Linkage, Module, ModuleError};
use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_ir::{ExternalName, Function, GlobalValueData, UserExternalName, UserFuncName};

/// The symbol a CLIF function name is written as (see the module docs).
pub fn clif_symbol_name(name: &UserFuncName) -> String {
    match name {
        UserFuncName::Testcase(t) => t.as_str().to_string(),
        UserFuncName::User(u) => user_symbol(u),
    }
}

fn user_symbol(u: &UserExternalName) -> String {
    format!("u{}_{}", u.namespace, u.index)
}

/// Declares and defines `funcs` (each parsed function with its compiled
/// code) in `module` with the naming above; returns their ids in order.
pub fn define_clif_functions<M: Module + ?Sized>(
    module: &mut M,
    funcs: Vec<(&Function, CompiledCode<Final>)>,
) -> Result<Vec<FuncId>, ModuleError> {
    let mut ids = Vec::with_capacity(funcs.len());
    for (f, _) in &funcs {
        let sym = clif_symbol_name(&f.name);
        if module.declarations().get_name(&sym).is_some() {
            return Err(ModuleError::Duplicate(sym));
        }
        let id = module.declare_function(&sym, Linkage::Export, &f.stencil.signature)?;
        if let UserFuncName::User(u) = &f.name {
            module.bind_user_name(*u, FuncOrDataId::Func(id))?;
        }
        ids.push(id);
    }
    // Imports: callees and symbols no file defines.
    for (f, _) in &funcs {
        for (_, ext) in f.stencil.dfg.ext_funcs.iter() {
            let sig = f.stencil.dfg.signatures.get(ext.signature).cloned();
            let Some(sig) = sig else { continue };
            match &ext.name {
                ExternalName::TestCase(t) => {
                    if module.declarations().get_name(t.as_str()).is_none() {
                        module.declare_function(t.as_str(), Linkage::Import, &sig)?;
                    }
                }
                ExternalName::User(r) => {
                    let Some(u) = f.params.user_func_name(*r) else {
                        continue;
                    };
                    if module.declarations().resolve_user(&u).is_none() {
                        let id =
                            module.declare_function(&user_symbol(&u), Linkage::Import, &sig)?;
                        module.bind_user_name(u, FuncOrDataId::Func(id))?;
                    }
                }
                ExternalName::LibCall(_) | ExternalName::KnownSymbol(_) => {}
            }
        }
        for (_, gv) in f.stencil.global_values.iter() {
            let GlobalValueData::Symbol { name, .. } = gv else {
                continue;
            };
            match name {
                ExternalName::TestCase(t) => {
                    if module.declarations().get_name(t.as_str()).is_none() {
                        module.declare_data(t.as_str(), Linkage::Import, true)?;
                    }
                }
                ExternalName::User(r) => {
                    let Some(u) = f.params.user_func_name(*r) else {
                        continue;
                    };
                    if module.declarations().resolve_user(&u).is_none() {
                        let id = module.declare_data(&user_symbol(&u), Linkage::Import, true)?;
                        module.bind_user_name(u, FuncOrDataId::Data(id))?;
                    }
                }
                ExternalName::LibCall(_) | ExternalName::KnownSymbol(_) => {}
            }
        }
    }
    for ((f, code), &id) in funcs.into_iter().zip(&ids) {
        module.define_function(id, &f.stencil.signature, code)?;
    }
    Ok(ids)
}
