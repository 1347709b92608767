//! Calling JIT functions of any signature from Rust.
//!
//! As in Cranelift's test runner, each distinct signature gets a CLIF
//! trampoline, compiled by the same `TargetIsa` as the code it calls:
//!
//! ```text
//! function %trampoline(i64 callee, i64 values) system_v {
//! block0(v0: i64, v1: i64):
//!     v2 = load.i32 notrap aligned v1        ; argument 0 from slot 0
//!     v3 = load.f64 notrap aligned v1+16     ; argument 1 from slot 1
//!     v4 = call_indirect sig0, v0(v2, v3)
//!     store notrap aligned v4, v1            ; result 0 into slot 0
//!     return
//! }
//! ```
//!
//! Values travel in an array of 16-byte slots (`[u128]`), so Rust calls every
//! trampoline through one type, `extern "sysv64" fn(*const u8, *mut u128)`.

use kiln_ir::{
    AbiParam, ArgumentPurpose, CallConv, DataValue, Function, Ieee128, Ieee16, Ieee32, Ieee64,
    InstructionData, MemFlags, Offset32, Opcode, Signature, Type, UserFuncName,
};

/// The slot size of the values array.
pub const SLOT_BYTES: i32 = 16;

/// Why a signature has no trampoline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedSignature(pub String);

impl std::fmt::Display for UnsupportedSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_type(ty: Type) -> Result<(), UnsupportedSignature> {
    if ty.is_vector() {
        return Err(UnsupportedSignature(format!(
            "vector type {ty} in a called signature"
        )));
    }
    match ty {
        Type::I8
        | Type::I16
        | Type::I32
        | Type::I64
        | Type::I128
        | Type::F16
        | Type::F32
        | Type::F64
        | Type::F128 => Ok(()),
        _ => Err(UnsupportedSignature(format!(
            "type {ty} in a called signature"
        ))),
    }
}

fn check_param(p: &AbiParam) -> Result<(), UnsupportedSignature> {
    // A `vmctx` parameter is an ordinary pointer argument that run lines
    // pass explicitly (as in Cranelift's runtests); the call through the
    // callee's own signature puts it where its convention wants it.
    if !matches!(
        p.purpose,
        ArgumentPurpose::Normal | ArgumentPurpose::VMContext
    ) {
        return Err(UnsupportedSignature(format!(
            "special parameter purpose {:?}",
            p.purpose
        )));
    }
    check_type(p.value_type)
}

/// Whether values of `sig` can be passed through a trampoline.
pub fn check_signature(sig: &Signature) -> Result<(), UnsupportedSignature> {
    sig.params.iter().try_for_each(check_param)?;
    sig.returns.iter().try_for_each(check_param)
}

/// The number of value slots a call with `sig` needs.
pub fn slot_count(sig: &Signature) -> usize {
    sig.params.len().max(sig.returns.len()).max(1)
}

/// The signature of every trampoline.
pub fn trampoline_signature(pointer: Type) -> Signature {
    let mut s = Signature::new(CallConv::SystemV);
    s.params.push(AbiParam::new(pointer));
    s.params.push(AbiParam::new(pointer));
    s
}

/// Builds the trampoline function for calls with `sig`.
pub fn build_trampoline(sig: &Signature, pointer: Type) -> Result<Function, UnsupportedSignature> {
    check_signature(sig)?;
    let mut f = Function::with_name_signature(
        UserFuncName::testcase("kiln_trampoline"),
        trampoline_signature(pointer),
    );
    let flags = MemFlags::trusted();
    let block = f.dfg.make_block();
    f.layout.append_block(block);
    let callee = f.dfg.append_block_param(block, pointer);
    let values = f.dfg.append_block_param(block, pointer);
    let mut call_args = vec![callee];
    for (i, p) in sig.params.iter().enumerate() {
        let inst = f.dfg.make_inst(InstructionData::Load {
            opcode: Opcode::Load,
            flags,
            arg: values,
            offset: Offset32(SLOT_BYTES * i as i32),
        });
        f.dfg.make_inst_results(inst, p.value_type);
        f.layout.append_inst(inst, block);
        call_args.extend(f.dfg.first_result(inst));
    }
    let sig_ref = f.stencil.import_signature(sig.clone());
    let args = f.dfg.make_value_list(&call_args);
    let call = f.dfg.make_inst(InstructionData::CallIndirect {
        opcode: Opcode::CallIndirect,
        sig_ref,
        args,
    });
    f.dfg.make_inst_results(call, Type::INVALID);
    f.layout.append_inst(call, block);
    let results: Vec<_> = f.dfg.inst_results(call).to_vec();
    for (i, r) in results.into_iter().enumerate() {
        let ty = f.dfg.value_type(r);
        let st = f.dfg.make_inst(InstructionData::Store {
            opcode: Opcode::Store,
            flags,
            args: [r, values],
            offset: Offset32(SLOT_BYTES * i as i32),
        });
        f.dfg.make_inst_results(st, ty);
        f.layout.append_inst(st, block);
    }
    let empty = f.dfg.make_value_list(&[]);
    let ret = f.dfg.make_inst(InstructionData::MultiAry {
        opcode: Opcode::Return,
        args: empty,
    });
    f.dfg.make_inst_results(ret, Type::INVALID);
    f.layout.append_inst(ret, block);
    Ok(f)
}

/// Writes `args` into the first slots of `slots`, checking them against
/// the signature's parameter types.
pub fn encode_args(sig: &Signature, args: &[DataValue], slots: &mut [u128]) -> Result<(), String> {
    if args.len() != sig.params.len() {
        return Err(format!(
            "{} arguments given, the signature takes {}",
            args.len(),
            sig.params.len()
        ));
    }
    if slots.len() < slot_count(sig) {
        return Err("too few value slots".into());
    }
    for (i, (a, p)) in args.iter().zip(&sig.params).enumerate() {
        if a.ty() != p.value_type {
            return Err(format!(
                "argument {i} is {} but the parameter is {}",
                a.ty(),
                p.value_type
            ));
        }
        slots[i] = a
            .to_bits()
            .ok_or_else(|| format!("argument {i} has no bit pattern"))?;
    }
    Ok(())
}

/// Reads the results of a call with `sig` from `slots` (only the low bits
/// of each slot's type count).
pub fn decode_results(sig: &Signature, slots: &[u128]) -> Result<Vec<DataValue>, String> {
    sig.returns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let bits = *slots.get(i).ok_or("too few value slots")?;
            let ty = p.value_type;
            Ok(match ty {
                Type::F16 => DataValue::F16(Ieee16(bits as u16)),
                Type::F32 => DataValue::F32(Ieee32(bits as u32)),
                Type::F128 => DataValue::F128(Ieee128(bits)),
                Type::F64 => DataValue::F64(Ieee64(bits as u64)),
                _ => DataValue::from_integer(bits as i128, ty)
                    .ok_or_else(|| format!("result type {ty} is not supported"))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(params: &[Type], returns: &[Type]) -> Signature {
        let mut s = Signature::new(CallConv::SystemV);
        s.params = params.iter().map(|t| AbiParam::new(*t)).collect();
        s.returns = returns.iter().map(|t| AbiParam::new(*t)).collect();
        s
    }

    #[test]
    fn trampoline_verifies_and_has_the_expected_shape() {
        let s = sig(&[Type::I8, Type::F64, Type::I128], &[Type::I32, Type::F32]);
        let f = build_trampoline(&s, Type::I64).unwrap();
        kiln_ir::verifier::verify_function(&f).unwrap();
        let block = f.layout.entry_block().unwrap();
        let ops: Vec<Opcode> = f
            .layout
            .block_insts(block)
            .map(|i| f.dfg.opcode(i))
            .collect();
        assert_eq!(
            ops,
            [
                Opcode::Load,
                Opcode::Load,
                Opcode::Load,
                Opcode::CallIndirect,
                Opcode::Store,
                Opcode::Store,
                Opcode::Return
            ]
        );
        let text = f.to_string();
        assert!(text.contains("v1+32"), "{text}");
    }

    #[test]
    fn vectors_and_sret_are_unsupported_vmctx_is_an_argument() {
        let s = sig(&[Type::I32X4], &[]);
        assert!(build_trampoline(&s, Type::I64).is_err());
        let mut s = sig(&[Type::I64], &[]);
        s.params[0].purpose = ArgumentPurpose::StructReturn;
        assert!(check_signature(&s).is_err());
        s.params[0].purpose = ArgumentPurpose::VMContext;
        let f = build_trampoline(&s, Type::I64).unwrap();
        kiln_ir::verifier::verify_function(&f).unwrap();
    }

    #[test]
    fn values_round_trip_through_slots() {
        let s = sig(
            &[Type::I8, Type::I16, Type::F32, Type::F64, Type::I128],
            &[Type::I8, Type::I16, Type::F32, Type::F64, Type::I128],
        );
        let args = [
            DataValue::I8(-1),
            DataValue::I16(-300),
            DataValue::F32(Ieee32(0x7fc0_0001)),
            DataValue::F64(Ieee64((-0.0f64).to_bits())),
            DataValue::I128(-5),
        ];
        let mut slots = vec![u128::MAX; slot_count(&s)];
        encode_args(&s, &args, &mut slots).unwrap();
        assert_eq!(slots[0], 0xff);
        assert_eq!(decode_results(&s, &slots).unwrap(), args);
        assert!(encode_args(&s, &args[..2], &mut slots).is_err());
        let mut wrong = args;
        wrong[0] = DataValue::I32(1);
        assert!(encode_args(&s, &wrong, &mut slots).is_err());
    }
}
