//! Mutations for the cache fuzzer: a change of the parameters only (the
//! stencil, and so the cache key, must stay the same) or of a single
//! instruction (the key must change).

use crate::input::Input;
use kiln_ir::{
    ExternalName, FloatCC, Function, Ieee32, Ieee64, Imm64, Inst, InstructionData, IntCC, Opcode,
    SourceLoc, UserExternalName,
};

/// What a mutation did, and so what the cache must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Only `FunctionParameters` (or the name) changed: the key must not.
    ParamsOnly(String),
    /// One instruction of the stencil changed: the key must change.
    Stencil(String),
}

impl Mutation {
    pub fn key_must_change(&self) -> bool {
        matches!(self, Mutation::Stencil(_))
    }
}

/// Applies one mutation chosen by `bytes`: a parameters-only change or a
/// single-instruction change (falling back to the former when no
/// instruction can be changed).
pub fn generate_mutation(func: &mut Function, bytes: &[u8]) -> Mutation {
    let mut input = Input::new(bytes);
    if input.ratio(1, 2) {
        mutate_params(func, &mut input)
    } else {
        mutate_stencil(func, &mut input).unwrap_or_else(|| mutate_params(func, &mut input))
    }
}

/// Changes only the parameters: moves a callee's user name to another index
/// through `reset_user_func_name`, or moves the base source location.
pub fn mutate_params(func: &mut Function, input: &mut Input) -> Mutation {
    let n = func.params.num_user_named_funcs();
    if n > 0 && input.ratio(3, 4) {
        let pick = input.below(n);
        let entry = func.params.user_named_funcs().nth(pick);
        if let Some((r, old)) = entry {
            // A neighbouring index, else any free one (the table forbids
            // duplicates).
            let tries = [
                old.index.wrapping_add(1),
                old.index.wrapping_sub(1),
                input.u32(),
            ];
            for index in tries {
                let new = UserExternalName::new(old.namespace, index);
                if new != old && func.params.reset_user_func_name(r, new) {
                    return Mutation::ParamsOnly(format!("renamed {old} to {new}"));
                }
            }
        }
    }
    let old = func.params.base_srcloc();
    let delta = 1 + input.below(1 << 16) as u32;
    let mut new = SourceLoc::new(if old.is_default() {
        delta
    } else {
        old.bits().wrapping_add(delta)
    });
    if new.is_default() {
        new = SourceLoc::new(0);
    }
    func.params.set_base_srcloc(new);
    Mutation::ParamsOnly(format!("base srcloc {old} -> {new}"))
}

/// Integer binary opcodes with identical type constraints.
const INT_BINARY: &[Opcode] = &[
    Opcode::Iadd,
    Opcode::Isub,
    Opcode::Imul,
    Opcode::Band,
    Opcode::Bor,
    Opcode::Bxor,
    Opcode::Smin,
    Opcode::Smax,
    Opcode::Umin,
    Opcode::Umax,
];

/// Float binary opcodes with identical type constraints.
const FLOAT_BINARY: &[Opcode] = &[
    Opcode::Fadd,
    Opcode::Fsub,
    Opcode::Fmul,
    Opcode::Fdiv,
    Opcode::Fmin,
    Opcode::Fmax,
];

/// Changes one instruction: an `iconst`/`f32const`/`f64const` immediate,
/// the opcode of a binary operation to another with the same format and
/// types, or a comparison's condition code.
pub fn mutate_stencil(func: &mut Function, input: &mut Input) -> Option<Mutation> {
    let candidates: Vec<Inst> = func
        .stencil
        .layout
        .blocks()
        .flat_map(|b| func.stencil.layout.block_insts(b))
        .filter(|&i| mutable(func, i))
        .collect();
    let &inst = input.choose(&candidates)?;
    let dfg = &mut func.stencil.dfg;
    let ctrl = dfg.ctrl_typevar(inst);
    let before = dfg.insts[inst];
    let after = match before {
        InstructionData::UnaryImm { opcode, imm } => {
            let bits = ctrl.bits();
            let delta = 1 + input.below(255) as i64;
            let raw = if input.ratio(1, 2) {
                imm.0.wrapping_add(delta)
            } else {
                imm.0.wrapping_sub(delta)
            };
            let masked = if bits >= 64 {
                raw
            } else {
                (raw as u64 & ((1u64 << bits) - 1)) as i64
            };
            // For an i8, +/-256 would wrap to the same value.
            let masked = if masked == imm.0 {
                (masked as u64 ^ 1) as i64
            } else {
                masked
            };
            InstructionData::UnaryImm {
                opcode,
                imm: Imm64(masked),
            }
        }
        InstructionData::UnaryIeee32 { opcode, imm } => InstructionData::UnaryIeee32 {
            opcode,
            imm: Ieee32(imm.0 ^ (1 << input.below(32))),
        },
        InstructionData::UnaryIeee64 { opcode, imm } => InstructionData::UnaryIeee64 {
            opcode,
            imm: Ieee64(imm.0 ^ (1 << input.below(64))),
        },
        InstructionData::Binary { opcode, args } => {
            let family = if INT_BINARY.contains(&opcode) {
                INT_BINARY
            } else {
                FLOAT_BINARY
            };
            let others: Vec<Opcode> = family
                .iter()
                .copied()
                .filter(|&o| o != opcode && o.info().ctrl.is_some_and(|s| s.contains(ctrl)))
                .collect();
            InstructionData::Binary {
                opcode: *input.choose(&others)?,
                args,
            }
        }
        InstructionData::IntCompare { opcode, cond, args } => {
            let others: Vec<IntCC> = IntCC::ALL.iter().copied().filter(|&c| c != cond).collect();
            InstructionData::IntCompare {
                opcode,
                cond: *input.choose(&others)?,
                args,
            }
        }
        InstructionData::FloatCompare { opcode, cond, args } => {
            let others: Vec<FloatCC> = FloatCC::ALL
                .iter()
                .copied()
                .filter(|&c| c != cond)
                .collect();
            InstructionData::FloatCompare {
                opcode,
                cond: *input.choose(&others)?,
                args,
            }
        }
        _ => return None,
    };
    dfg.insts[inst] = after;
    Some(Mutation::Stencil(format!(
        "{inst}: {:?} -> {:?}",
        before, after
    )))
}

fn mutable(func: &Function, inst: Inst) -> bool {
    let dfg = &func.stencil.dfg;
    match dfg.insts[inst] {
        InstructionData::UnaryImm { .. }
        | InstructionData::UnaryIeee32 { .. }
        | InstructionData::UnaryIeee64 { .. }
        | InstructionData::IntCompare { .. }
        | InstructionData::FloatCompare { .. } => true,
        InstructionData::Binary { opcode, .. } => {
            INT_BINARY.contains(&opcode) || FLOAT_BINARY.contains(&opcode)
        }
        _ => false,
    }
}

/// The user names a function's calls refer to (for tests and fuzzers).
pub fn called_user_names(func: &Function) -> Vec<UserExternalName> {
    func.stencil
        .dfg
        .ext_funcs
        .values()
        .filter_map(|e| match e.name {
            ExternalName::User(r) => func.params.user_func_name(r),
            _ => None,
        })
        .collect()
}
