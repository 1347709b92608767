//! `enable_nan_canonicalization`: after every float operation that may
//! produce a NaN, a NaN result is replaced by the canonical quiet NaN of
//! its type (f32 `0x7fc00000`, f64 `0x7ff8000000000000`), so the bits a
//! function computes do not depend on which NaN the hardware happens to
//! produce (x86-64 and aarch64 propagate payloads differently).
//!
//! Done once for every target, on the CLIF a backend is about to lower
//! (`opt::prepare_into`, called by the shared pipeline after the cache key was
//! taken; the setting is part of the key flags). Each result `v` of such an
//! operation becomes
//!
//! ```text
//! r      = <the operation>          (a fresh value)
//! is_nan = fcmp uno r, r
//! canon  = f32const +NaN            (f64const for f64)
//! v      = select is_nan, canon, r  (the old value, so no use changes)
//! ```
//!
//! The operations are Cranelift's list: `fadd`, `fsub`, `fmul`, `fdiv`,
//! `sqrt`, `fma`, `fmin`, `fmax`, `ceil`, `floor`, `trunc`, `nearest`,
//! `fpromote`, `fdemote`. Sign and bit operations (`fneg`, `fabs`,
//! `fcopysign`, `bitcast`) keep their operand's bits and are left alone,
//! as there. f32 and f64 results are canonicalized; an f16, f128 or vector
//! result of these operations is `Unsupported` while the setting is on
//! (never left as it is).

use crate::result::{CodegenError, CodegenResult};
use kiln_ir::{
    FloatCC, FunctionStencil, Ieee32, Ieee64, Inst, InstructionData, Opcode, Type, Value,
};

/// The canonical quiet NaN of f32 (sign clear, only the quiet bit set).
pub const CANON_NAN_F32: u32 = 0x7fc0_0000;
/// The canonical quiet NaN of f64.
pub const CANON_NAN_F64: u64 = 0x7ff8_0000_0000_0000;

/// Whether `op` is a float operation whose NaN results are canonicalized.
pub fn may_produce_nan(op: Opcode) -> bool {
    use Opcode::*;
    matches!(
        op,
        Fadd | Fsub
            | Fmul
            | Fdiv
            | Sqrt
            | Fma
            | Fmin
            | Fmax
            | Ceil
            | Floor
            | Trunc
            | Nearest
            | Fpromote
            | Fdemote
    )
}

/// Rewrites `f` so that every NaN result of the operations above is the
/// canonical NaN. Returns how many results were wrapped.
pub fn canonicalize_nans(f: &mut FunctionStencil) -> CodegenResult<usize> {
    let mut todo: Vec<Inst> = Vec::new();
    for block in f.layout.blocks() {
        for inst in f.layout.block_insts(block) {
            if may_produce_nan(f.dfg.opcode(inst)) {
                todo.push(inst);
            }
        }
    }
    let mut done = 0;
    for inst in todo {
        let Some(&[v]) = f.dfg.try_inst_results(inst) else {
            continue;
        };
        let ty = f.dfg.value_type(v);
        let canon = match ty {
            Type::F32 => InstructionData::UnaryIeee32 {
                opcode: Opcode::F32const,
                imm: Ieee32(CANON_NAN_F32),
            },
            Type::F64 => InstructionData::UnaryIeee64 {
                opcode: Opcode::F64const,
                imm: Ieee64(CANON_NAN_F64),
            },
            _ => {
                return Err(CodegenError::Unsupported {
                    what: format!(
                        "enable_nan_canonicalization for {} of type {ty} (f32 and f64 only)",
                        f.dfg.opcode(inst).name()
                    ),
                })
            }
        };
        let Some(next) = f.layout.next_inst(inst) else {
            continue;
        };
        // The operation gets a fresh result; `v` becomes the select's.
        let r = Value::from_u32(f.dfg.num_values() as u32);
        f.dfg.attach_inst_results(inst, &[(r, ty)]);
        let srcloc = f.rel_srcloc(inst);
        let add = |f: &mut FunctionStencil, data: InstructionData, ctrl: Type| {
            let i = f.dfg.make_inst(data);
            f.dfg.make_inst_results(i, ctrl);
            f.layout.insert_inst_before(i, next);
            *f.srclocs.get_mut(i) = srcloc;
            i
        };
        let cmp = add(
            f,
            InstructionData::FloatCompare {
                opcode: Opcode::Fcmp,
                cond: FloatCC::Unordered,
                args: [r, r],
            },
            ty,
        );
        let is_nan = f.dfg.inst_results(cmp)[0];
        let c = add(f, canon, ty);
        let canon_v = f.dfg.inst_results(c)[0];
        let sel = f.dfg.make_inst(InstructionData::Ternary {
            opcode: Opcode::Select,
            args: [is_nan, canon_v, r],
        });
        f.dfg.attach_inst_results(sel, &[(v, ty)]);
        f.layout.insert_inst_before(sel, next);
        *f.srclocs.get_mut(sel) = srcloc;
        done += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> kiln_ir::Function {
        kiln_reader::parse_functions(text).unwrap().remove(0)
    }

    #[test]
    fn wraps_arithmetic_and_leaves_sign_operations() {
        let mut func = parse(
            "function %f(f32, f64) -> f32, f64 {
block0(v0: f32, v1: f64):
    v2 = fadd v0, v0
    v3 = fneg v2
    v4 = fpromote.f64 v3
    v5 = fabs v1
    v6 = fdemote.f32 v4
    return v6, v5
}",
        );
        let n = canonicalize_nans(&mut func.stencil).unwrap();
        assert_eq!(n, 3, "fadd, fpromote, fdemote");
        kiln_ir::verifier::verify_function(&func).unwrap();
        let text = func.to_string();
        assert_eq!(text.matches("fcmp uno").count(), 3, "{text}");
        assert_eq!(text.matches("select").count(), 3, "{text}");
        assert!(text.contains("f32const +NaN"), "{text}");
        assert!(text.contains("f64const +NaN"), "{text}");
    }

    #[test]
    fn other_types_are_unsupported_not_ignored() {
        let mut func = parse(
            "function %f(f16) -> f16 {
block0(v0: f16):
    v1 = fadd v0, v0
    return v1
}",
        );
        let e = canonicalize_nans(&mut func.stencil).unwrap_err();
        assert!(e.to_string().contains("enable_nan_canonicalization"), "{e}");
    }
}
