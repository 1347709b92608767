//! The icache property, shared by the `icache` fuzz target and the tests:
//! a reload equals a fresh compile, a name-table change hits, any other
//! change misses.
//!
//! [`check`] takes one function and runs, through a fresh [`MemoryStore`]:
//! 1. **Round trip.** `compile_with_cache` cold (must miss) and warm (must
//!    hit); both final results must equal `compile_function` of the same
//!    function: code bytes, relocations with resolved names, traps, call
//!    sites and absolute source locations. The payload must re-encode to
//!    itself.
//! 2. **Parameters only.** Every entry of the function's name table moved
//!    (index + 1, in a namespace no original uses), the function renamed
//!    and the base source location moved. The
//!    key must not change; the lookup must hit; the result must equal a
//!    fresh compile of the changed function, and its user relocations must
//!    name the NEW names.
//! 3. **One instruction changed** ([`mutate_instruction`]): the key must
//!    change and the lookup must miss (unless the mutated stencil equals
//!    one stored before, which in a fresh store it cannot).
//!
//! A function that does not compile (verifier error, unsupported feature)
//! ends the check early with [`Checked::NOT_COMPILED`]: only the cache is
//! under test here.

use crate::compile::{cache_key, compile_with_cache, decode_payload, encode_payload, CacheOutcome};
use crate::{lookup, MemoryStore, COMPILER_VERSION};
use kiln_codegen::compiled::FinalName;
use kiln_codegen::isa::{compile_function, TargetIsa};
use kiln_ir::{Function, Imm64, InstructionData, Opcode, SourceLoc, Type, UserExternalName};

/// What [`check`] could exercise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Checked {
    /// The function compiled (otherwise nothing else was checked).
    pub compiled: bool,
    /// The parameters-only step changed external names too (the function
    /// has user names; it always changes the name and base location).
    pub renamed_names: bool,
    /// The instruction mutation step ran.
    pub mutated: bool,
}

impl Checked {
    /// Nothing compiled.
    pub const NOT_COMPILED: Checked = Checked {
        compiled: false,
        renamed_names: false,
        mutated: false,
    };
}

/// Changes exactly one instruction of `f` in a way that keeps it valid
/// and changes its stencil: the first `iconst` gets its immediate's bit 0
/// flipped; else the first `iadd`/`isub`/`band`/`bor` becomes another of
/// them; else the first instruction with one `i32`/`i64` result (and no
/// other role: not a call, branch or load) becomes `iconst 42` of that
/// type. Returns false if nothing qualifies.
pub fn mutate_instruction(f: &mut Function) -> bool {
    let insts: Vec<_> = f
        .stencil
        .layout
        .blocks()
        .flat_map(|b| f.stencil.layout.block_insts(b).collect::<Vec<_>>())
        .collect();
    for &inst in &insts {
        if let InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm,
        } = &mut f.stencil.dfg.insts[inst]
        {
            imm.0 ^= 1;
            return true;
        }
    }
    for &inst in &insts {
        if let InstructionData::Binary { opcode, .. } = &mut f.stencil.dfg.insts[inst] {
            let new = match *opcode {
                Opcode::Iadd => Opcode::Isub,
                Opcode::Isub => Opcode::Iadd,
                Opcode::Band => Opcode::Bor,
                Opcode::Bor => Opcode::Band,
                _ => continue,
            };
            *opcode = new;
            return true;
        }
    }
    for &inst in &insts {
        let dfg = &f.stencil.dfg;
        let op = dfg.insts[inst].opcode();
        let results = dfg.inst_results(inst);
        if results.len() != 1
            || op.is_call()
            || op.is_branch()
            || op.is_terminator()
            || op.can_load()
            || op.can_store()
            || op.can_trap()
        {
            continue;
        }
        let ty = dfg.value_type(results[0]);
        if ty != Type::I32 && ty != Type::I64 {
            continue;
        }
        f.stencil.dfg.insts[inst] = InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm: Imm64(42),
        };
        return true;
    }
    false
}

/// Moves every name of `f`'s external-name table (index + 1, namespace
/// with bit 31 flipped so that no new name collides with an old one),
/// renames the function and moves its base source location (if it has
/// one). The stencil is untouched. Returns how many table names moved.
pub fn mutate_params(f: &mut Function) -> usize {
    let names: Vec<_> = f.params.user_named_funcs().collect();
    for (r, n) in &names {
        f.params.reset_user_func_name(
            *r,
            UserExternalName::new(n.namespace ^ 0x8000_0000, n.index.wrapping_add(1)),
        );
    }
    f.name = kiln_ir::UserFuncName::user(0x7fff_fff0, 12345);
    let base = f.params.base_srcloc();
    if !base.is_default() {
        f.params.set_base_srcloc(SourceLoc::new(
            base.bits().wrapping_add(0x1000) & 0x7fff_ffff,
        ));
    }
    names.len()
}

/// Runs the icache property on `func` with the built-in mutations
/// ([`mutate_params`], [`mutate_instruction`]); see the module
/// documentation. `Err` describes a violation.
pub fn check(isa: &dyn TargetIsa, func: &Function) -> Result<Checked, String> {
    let mut renamed = func.clone();
    let renamed_names = mutate_params(&mut renamed) > 0;
    let mut mutated = func.clone();
    let has_mutation = mutate_instruction(&mut mutated);
    let mut mutations = vec![(renamed, false)];
    if has_mutation {
        mutations.push((mutated, true));
    }
    let mut checked = check_with(isa, func, &mutations)?;
    checked.renamed_names &= renamed_names;
    Ok(checked)
}

/// Runs the icache property on `func` with given mutations: each
/// `(changed, key_must_change)` is a copy of `func` changed either in its
/// parameters only (`false`: the key must stay, the lookup must hit and
/// equal a fresh compile of `changed`, whose user relocations name only
/// `changed`'s names) or in its stencil (`true`: the key must change and
/// the lookup must not hit). `renamed_names` in the result is true if a
/// parameters-only change was checked; `mutated` if a stencil change was.
pub fn check_with(
    isa: &dyn TargetIsa,
    func: &Function,
    mutations: &[(Function, bool)],
) -> Result<Checked, String> {
    let fresh = match compile_function(isa, func) {
        Ok(c) => c,
        Err(_) => return Ok(Checked::NOT_COMPILED),
    };
    let mut checked = Checked {
        compiled: true,
        ..Checked::default()
    };
    let store = MemoryStore::new();
    let (cold, o) = compile_with_cache(isa, func, &store).map_err(|e| format!("cold: {e}"))?;
    if o != CacheOutcome::Miss {
        return Err(format!("cold compile in an empty store: {o:?}"));
    }
    if cold != fresh {
        return Err("cold result differs from compile_function".into());
    }
    let (warm, o) = compile_with_cache(isa, func, &store).map_err(|e| format!("warm: {e}"))?;
    if o != CacheOutcome::Hit {
        return Err(format!("second compile: {o:?}, expected a hit"));
    }
    if warm != fresh {
        return Err(format!(
            "reload differs from a fresh compile\n reload: {warm:?}\n fresh:  {fresh:?}"
        ));
    }
    let key = cache_key(isa, func);
    {
        let hit = lookup(&store, &key, COMPILER_VERSION)
            .hit()
            .ok_or("stored entry not found")?;
        let (verified, code) = decode_payload(hit.payload()).ok_or("payload does not decode")?;
        if encode_payload(&code, verified) != hit.payload() {
            return Err("payload does not re-encode to itself".into());
        }
    }

    for (changed, key_must_change) in mutations {
        if *key_must_change {
            checked.mutated = true;
            if cache_key(isa, changed) == key {
                return Err("an instruction change kept the key".into());
            }
            if let Ok((_, CacheOutcome::Hit)) = compile_with_cache(isa, changed, &store) {
                return Err("an instruction change hit the cache".into());
            }
            continue;
        }
        checked.renamed_names = true;
        if cache_key(isa, changed) != key {
            return Err("a parameters-only change changed the key".into());
        }
        let want = compile_function(isa, changed)
            .map_err(|e| format!("changed function does not compile: {e}"))?;
        let (got, o) =
            compile_with_cache(isa, changed, &store).map_err(|e| format!("changed: {e}"))?;
        if o != CacheOutcome::Hit {
            return Err(format!("parameters-only change: {o:?}, expected a hit"));
        }
        if got != want {
            return Err(
                "reload after a parameters-only change differs from a fresh compile".into(),
            );
        }
        let new_names: Vec<_> = changed.params.user_named_funcs().map(|(_, n)| n).collect();
        for r in &got.relocs {
            if let FinalName::User(n) = r.target {
                if !new_names.contains(&n) {
                    return Err(format!("relocation names {n}, not one of the new names"));
                }
            }
        }
    }
    Ok(checked)
}
