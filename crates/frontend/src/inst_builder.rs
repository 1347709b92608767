//! `InstBuilder`: one method per instruction format, taking the opcode; the
//! opcode table decides types and results. A few shorthands for common
//! opcodes (`iconst`, `jump`, `return_`, ...) and the builder-only sugar
//! (`iadd_imm` and friends, `stack_load` / `stack_store`) are built on them.

use crate::error::BuildError;
use crate::frontend::FunctionBuilder;
use kiln_ir::{
    AtomicRmwOp, Block, ConstantData, FloatCC, FuncRef, GlobalValue, Ieee16, Ieee32, Ieee64, Imm64,
    Inst, InstructionData, InstructionFormat, IntCC, JumpTableData, MemFlags, Offset32, Opcode,
    SigRef, StackSlot, TrapCode, Type, Uimm8, Value,
};

/// Appends instructions to the builder's current block.
pub struct InstBuilder<'short, 'a> {
    b: &'short mut FunctionBuilder<'a>,
}

type R<T> = Result<T, BuildError>;

fn expect_format(opcode: Opcode, expected: InstructionFormat) -> R<()> {
    if opcode.format() == expected {
        Ok(())
    } else {
        Err(BuildError::WrongFormat { opcode, expected })
    }
}

/// Masks an integer immediate to the zero-extended form for type `ty`.
fn mask_imm(ty: Type, imm: i64) -> i64 {
    let bits = ty.bits();
    if bits >= 64 || bits == 0 {
        imm
    } else {
        ((imm as u64) & ((1u64 << bits) - 1)) as i64
    }
}

impl<'short, 'a> InstBuilder<'short, 'a> {
    pub(crate) fn new(b: &'short mut FunctionBuilder<'a>) -> Self {
        InstBuilder { b }
    }

    /// Builds arbitrary instruction data (the escape hatch every method
    /// below goes through).
    pub fn build(self, data: InstructionData, ctrl: Option<Type>) -> R<Inst> {
        self.b.build(data, ctrl)
    }

    fn one(self, data: InstructionData, ctrl: Option<Type>) -> R<Value> {
        let opcode = data.opcode();
        if opcode.info().results.is_empty() {
            return Err(BuildError::NoResult(opcode));
        }
        let b = self.b;
        let inst = b.build(data, ctrl)?;
        b.func
            .stencil
            .dfg
            .first_result(inst)
            .ok_or(BuildError::NoResult(opcode))
    }

    fn two(self, data: InstructionData, ctrl: Option<Type>) -> R<(Value, Value)> {
        let opcode = data.opcode();
        if opcode.info().results.len() < 2 {
            return Err(BuildError::NoResult(opcode));
        }
        let b = self.b;
        let inst = b.build(data, ctrl)?;
        match *b.func.stencil.dfg.inst_results(inst) {
            [x, y, ..] => Ok((x, y)),
            _ => Err(BuildError::NoResult(opcode)),
        }
    }

    // ----- One method per format -----

    /// `NullAry`: `nop`, `fence`, `debugtrap`, `get_frame_pointer.i64`, ...
    pub fn nullary(self, opcode: Opcode, ctrl: Option<Type>) -> R<Inst> {
        expect_format(opcode, InstructionFormat::NullAry)?;
        self.build(InstructionData::NullAry { opcode }, ctrl)
    }

    /// `Unary`: `ineg`, `bnot`, `clz`, `uextend.i64`, `fcvt_to_sint.i32`, ...
    /// `ctrl` is needed only where the opcode cannot read its type from the
    /// operand (the target type of a conversion).
    pub fn unary(self, opcode: Opcode, ctrl: Option<Type>, arg: Value) -> R<Value> {
        expect_format(opcode, InstructionFormat::Unary)?;
        self.one(InstructionData::Unary { opcode, arg }, ctrl)
    }

    /// `Unary` with two results: `isplit` (low, high).
    pub fn unary2(self, opcode: Opcode, ctrl: Option<Type>, arg: Value) -> R<(Value, Value)> {
        expect_format(opcode, InstructionFormat::Unary)?;
        self.two(InstructionData::Unary { opcode, arg }, ctrl)
    }

    /// `Unary` without results: `set_pinned_reg`.
    pub fn unary_effect(self, opcode: Opcode, arg: Value) -> R<Inst> {
        expect_format(opcode, InstructionFormat::Unary)?;
        self.build(InstructionData::Unary { opcode, arg }, None)
    }

    /// `UnaryImm`: `iconst`. The immediate is stored zero-extended from the
    /// type's width.
    pub fn unary_imm(self, opcode: Opcode, ty: Type, imm: i64) -> R<Value> {
        expect_format(opcode, InstructionFormat::UnaryImm)?;
        let imm = Imm64(mask_imm(ty, imm));
        self.one(InstructionData::UnaryImm { opcode, imm }, Some(ty))
    }

    /// `UnaryIeee16`: `f16const`.
    pub fn unary_ieee16(self, opcode: Opcode, imm: Ieee16) -> R<Value> {
        expect_format(opcode, InstructionFormat::UnaryIeee16)?;
        self.one(InstructionData::UnaryIeee16 { opcode, imm }, None)
    }

    /// `UnaryIeee32`: `f32const`.
    pub fn unary_ieee32(self, opcode: Opcode, imm: Ieee32) -> R<Value> {
        expect_format(opcode, InstructionFormat::UnaryIeee32)?;
        self.one(InstructionData::UnaryIeee32 { opcode, imm }, None)
    }

    /// `UnaryIeee64`: `f64const`.
    pub fn unary_ieee64(self, opcode: Opcode, imm: Ieee64) -> R<Value> {
        expect_format(opcode, InstructionFormat::UnaryIeee64)?;
        self.one(InstructionData::UnaryIeee64 { opcode, imm }, None)
    }

    /// `UnaryConst`: `f128const`, `vconst.T`; the bytes go to the constant
    /// pool.
    pub fn unary_const(self, opcode: Opcode, ctrl: Option<Type>, bytes: &[u8]) -> R<Value> {
        expect_format(opcode, InstructionFormat::UnaryConst)?;
        let constant = self
            .b
            .func
            .stencil
            .dfg
            .constants
            .push(ConstantData(bytes.to_vec()));
        self.one(InstructionData::UnaryConst { opcode, constant }, ctrl)
    }

    /// `UnaryGlobalValue`: `symbol_value.T`, `tls_value.T`.
    pub fn unary_global_value(
        self,
        opcode: Opcode,
        ty: Type,
        global_value: GlobalValue,
    ) -> R<Value> {
        expect_format(opcode, InstructionFormat::UnaryGlobalValue)?;
        self.one(
            InstructionData::UnaryGlobalValue {
                opcode,
                global_value,
            },
            Some(ty),
        )
    }

    /// `Binary` with one result: `iadd`, `fmul`, `ishl`, ...
    pub fn binary(self, opcode: Opcode, x: Value, y: Value) -> R<Value> {
        expect_format(opcode, InstructionFormat::Binary)?;
        self.one(
            InstructionData::Binary {
                opcode,
                args: [x, y],
            },
            None,
        )
    }

    /// `Binary` with two results: `uadd_overflow` and friends (value, flag).
    pub fn binary2(self, opcode: Opcode, x: Value, y: Value) -> R<(Value, Value)> {
        expect_format(opcode, InstructionFormat::Binary)?;
        self.two(
            InstructionData::Binary {
                opcode,
                args: [x, y],
            },
            None,
        )
    }

    /// `BinaryImm8`: `extractlane`.
    pub fn binary_imm8(self, opcode: Opcode, x: Value, imm: u8) -> R<Value> {
        expect_format(opcode, InstructionFormat::BinaryImm8)?;
        self.one(
            InstructionData::BinaryImm8 {
                opcode,
                arg: x,
                imm: Uimm8(imm),
            },
            None,
        )
    }

    /// `Ternary` with one result: `select`, `fma`, `bitselect`, ...
    pub fn ternary(self, opcode: Opcode, x: Value, y: Value, z: Value) -> R<Value> {
        expect_format(opcode, InstructionFormat::Ternary)?;
        self.one(
            InstructionData::Ternary {
                opcode,
                args: [x, y, z],
            },
            None,
        )
    }

    /// `Ternary` with two results: `uadd_overflow_cin` and friends.
    pub fn ternary2(self, opcode: Opcode, x: Value, y: Value, z: Value) -> R<(Value, Value)> {
        expect_format(opcode, InstructionFormat::Ternary)?;
        self.two(
            InstructionData::Ternary {
                opcode,
                args: [x, y, z],
            },
            None,
        )
    }

    /// `TernaryImm8`: `insertlane`.
    pub fn ternary_imm8(self, opcode: Opcode, x: Value, y: Value, imm: u8) -> R<Value> {
        expect_format(opcode, InstructionFormat::TernaryImm8)?;
        self.one(
            InstructionData::TernaryImm8 {
                opcode,
                args: [x, y],
                imm: Uimm8(imm),
            },
            None,
        )
    }

    /// `Shuffle`: `shuffle` with a 16-byte lane mask.
    pub fn shuffle(self, x: Value, y: Value, mask: [u8; 16]) -> R<Value> {
        let imm = self
            .b
            .func
            .stencil
            .dfg
            .immediates
            .push(ConstantData(mask.to_vec()));
        self.one(
            InstructionData::Shuffle {
                opcode: Opcode::Shuffle,
                args: [x, y],
                imm,
            },
            None,
        )
    }

    /// `IntCompare`: `icmp cc, x, y` (an `i8` 0 or 1).
    pub fn int_compare(self, cond: IntCC, x: Value, y: Value) -> R<Value> {
        self.one(
            InstructionData::IntCompare {
                opcode: Opcode::Icmp,
                cond,
                args: [x, y],
            },
            None,
        )
    }

    /// `FloatCompare`: `fcmp cc, x, y` (an `i8` 0 or 1).
    pub fn float_compare(self, cond: FloatCC, x: Value, y: Value) -> R<Value> {
        self.one(
            InstructionData::FloatCompare {
                opcode: Opcode::Fcmp,
                cond,
                args: [x, y],
            },
            None,
        )
    }

    /// `Jump`: `jump block(args)`.
    pub fn jump(self, block: Block, args: &[Value]) -> R<Inst> {
        let destination = self.b.func.stencil.dfg.block_call_values(block, args);
        self.build(
            InstructionData::Jump {
                opcode: Opcode::Jump,
                destination,
            },
            None,
        )
    }

    /// `Brif`: `brif c, then(args), else(args)`.
    pub fn brif(
        self,
        c: Value,
        then_block: Block,
        then_args: &[Value],
        else_block: Block,
        else_args: &[Value],
    ) -> R<Inst> {
        let dfg = &mut self.b.func.stencil.dfg;
        let blocks = [
            dfg.block_call_values(then_block, then_args),
            dfg.block_call_values(else_block, else_args),
        ];
        self.build(
            InstructionData::Brif {
                opcode: Opcode::Brif,
                arg: c,
                blocks,
            },
            None,
        )
    }

    /// `BranchTable`: `br_table index, default, [targets]`, passing no
    /// arguments.
    pub fn br_table(self, index: Value, default: Block, targets: &[Block]) -> R<Inst> {
        let dfg = &mut self.b.func.stencil.dfg;
        let default = dfg.block_call_values(default, &[]);
        let table: Vec<_> = targets
            .iter()
            .map(|&t| dfg.block_call_values(t, &[]))
            .collect();
        let table = dfg.jump_tables.push(JumpTableData::new(default, &table));
        self.build(
            InstructionData::BranchTable {
                opcode: Opcode::BrTable,
                arg: index,
                table,
            },
            None,
        )
    }

    /// `MultiAry`: `return vals`.
    pub fn multi_ary(self, opcode: Opcode, vals: &[Value]) -> R<Inst> {
        expect_format(opcode, InstructionFormat::MultiAry)?;
        let args = self.b.func.stencil.dfg.make_value_list(vals);
        self.build(InstructionData::MultiAry { opcode, args }, None)
    }

    /// `Call`: `call` or `return_call` of a declared function.
    pub fn call_op(self, opcode: Opcode, func_ref: FuncRef, args: &[Value]) -> R<Inst> {
        expect_format(opcode, InstructionFormat::Call)?;
        let args = self.b.func.stencil.dfg.make_value_list(args);
        self.build(
            InstructionData::Call {
                opcode,
                func_ref,
                args,
            },
            None,
        )
    }

    /// `CallIndirect`: `call_indirect` or `return_call_indirect`.
    pub fn call_indirect_op(
        self,
        opcode: Opcode,
        sig_ref: SigRef,
        callee: Value,
        args: &[Value],
    ) -> R<Inst> {
        expect_format(opcode, InstructionFormat::CallIndirect)?;
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(callee);
        all.extend_from_slice(args);
        let args = self.b.func.stencil.dfg.make_value_list(&all);
        self.build(
            InstructionData::CallIndirect {
                opcode,
                sig_ref,
                args,
            },
            None,
        )
    }

    /// `FuncAddr`: `func_addr.T fnN`.
    pub fn func_addr(self, ty: Type, func_ref: FuncRef) -> R<Value> {
        self.one(
            InstructionData::FuncAddr {
                opcode: Opcode::FuncAddr,
                func_ref,
            },
            Some(ty),
        )
    }

    /// `StackLoad`: `stack_addr.T ssN, offset`.
    pub fn stack_addr(self, ty: Type, stack_slot: StackSlot, offset: i32) -> R<Value> {
        self.one(
            InstructionData::StackLoad {
                opcode: Opcode::StackAddr,
                stack_slot,
                offset: Offset32(offset),
            },
            Some(ty),
        )
    }

    /// `Load`: `load`, `uload8`, `sload32`, ...
    pub fn load_op(
        self,
        opcode: Opcode,
        ty: Type,
        flags: MemFlags,
        p: Value,
        offset: i32,
    ) -> R<Value> {
        expect_format(opcode, InstructionFormat::Load)?;
        self.one(
            InstructionData::Load {
                opcode,
                flags,
                arg: p,
                offset: Offset32(offset),
            },
            Some(ty),
        )
    }

    /// `Store`: `store`, `istore8`, ...
    pub fn store_op(
        self,
        opcode: Opcode,
        flags: MemFlags,
        v: Value,
        p: Value,
        offset: i32,
    ) -> R<Inst> {
        expect_format(opcode, InstructionFormat::Store)?;
        self.build(
            InstructionData::Store {
                opcode,
                flags,
                args: [v, p],
                offset: Offset32(offset),
            },
            None,
        )
    }

    /// `LoadNoOffset`: `atomic_load.T`.
    pub fn load_no_offset(self, opcode: Opcode, ty: Type, flags: MemFlags, p: Value) -> R<Value> {
        expect_format(opcode, InstructionFormat::LoadNoOffset)?;
        self.one(
            InstructionData::LoadNoOffset {
                opcode,
                flags,
                arg: p,
            },
            Some(ty),
        )
    }

    /// `StoreNoOffset`: `atomic_store`.
    pub fn store_no_offset(self, opcode: Opcode, flags: MemFlags, v: Value, p: Value) -> R<Inst> {
        expect_format(opcode, InstructionFormat::StoreNoOffset)?;
        self.build(
            InstructionData::StoreNoOffset {
                opcode,
                flags,
                args: [v, p],
            },
            None,
        )
    }

    /// `AtomicRmw`: `atomic_rmw.T flags op p, v`.
    pub fn atomic_rmw(
        self,
        ty: Type,
        flags: MemFlags,
        op: AtomicRmwOp,
        p: Value,
        v: Value,
    ) -> R<Value> {
        self.one(
            InstructionData::AtomicRmw {
                opcode: Opcode::AtomicRmw,
                flags,
                op,
                args: [p, v],
            },
            Some(ty),
        )
    }

    /// `AtomicCas`: `atomic_cas flags p, expected, replacement`.
    pub fn atomic_cas(self, flags: MemFlags, p: Value, e: Value, r: Value) -> R<Value> {
        self.one(
            InstructionData::AtomicCas {
                opcode: Opcode::AtomicCas,
                flags,
                args: [p, e, r],
            },
            None,
        )
    }

    /// `Trap`: `trap code`.
    pub fn trap(self, code: TrapCode) -> R<Inst> {
        self.build(
            InstructionData::Trap {
                opcode: Opcode::Trap,
                code,
            },
            None,
        )
    }

    /// `CondTrap`: `trapz` or `trapnz`.
    pub fn cond_trap(self, opcode: Opcode, c: Value, code: TrapCode) -> R<Inst> {
        expect_format(opcode, InstructionFormat::CondTrap)?;
        self.build(
            InstructionData::CondTrap {
                opcode,
                arg: c,
                code,
            },
            None,
        )
    }

    /// `IntAddTrap`: `uadd_overflow_trap x, y, code`.
    pub fn int_add_trap(self, x: Value, y: Value, code: TrapCode) -> R<Value> {
        self.one(
            InstructionData::IntAddTrap {
                opcode: Opcode::UaddOverflowTrap,
                args: [x, y],
                code,
            },
            None,
        )
    }

    // ----- Shorthands -----

    /// `iconst.T imm`; for `i128`, an `i64` constant sign-extended.
    pub fn iconst(self, ty: Type, imm: i64) -> R<Value> {
        if ty == Type::I128 {
            let b = self.b;
            let lo = b.ins().unary_imm(Opcode::Iconst, Type::I64, imm)?;
            return b.ins().unary(Opcode::Sextend, Some(Type::I128), lo);
        }
        self.unary_imm(Opcode::Iconst, ty, imm)
    }

    /// `f16const` from the raw bits.
    pub fn f16const(self, bits: u16) -> R<Value> {
        self.unary_ieee16(Opcode::F16const, Ieee16(bits))
    }

    /// `f32const`.
    pub fn f32const(self, x: f32) -> R<Value> {
        self.unary_ieee32(Opcode::F32const, Ieee32::with_float(x))
    }

    /// `f64const`.
    pub fn f64const(self, x: f64) -> R<Value> {
        self.unary_ieee64(Opcode::F64const, Ieee64::with_float(x))
    }

    /// `icmp cond, x, y` (an `i8` 0 or 1).
    pub fn icmp(self, cond: IntCC, x: Value, y: Value) -> R<Value> {
        self.int_compare(cond, x, y)
    }

    /// `fcmp cond, x, y` (an `i8` 0 or 1).
    pub fn fcmp(self, cond: FloatCC, x: Value, y: Value) -> R<Value> {
        self.float_compare(cond, x, y)
    }

    /// `select c, x, y`: `x` if `c` is non-zero, else `y`.
    pub fn select(self, c: Value, x: Value, y: Value) -> R<Value> {
        self.ternary(Opcode::Select, c, x, y)
    }

    /// `return vals...` (`return` is a Rust keyword).
    pub fn return_(self, vals: &[Value]) -> R<Inst> {
        self.multi_ary(Opcode::Return, vals)
    }

    /// `call fn(args...)`; the results are `inst_results(inst)`.
    pub fn call(self, func_ref: FuncRef, args: &[Value]) -> R<Inst> {
        self.call_op(Opcode::Call, func_ref, args)
    }

    /// `return_call fn(args...)`: a tail call.
    pub fn return_call(self, func_ref: FuncRef, args: &[Value]) -> R<Inst> {
        self.call_op(Opcode::ReturnCall, func_ref, args)
    }

    /// `call_indirect sig, callee(args...)`.
    pub fn call_indirect(self, sig_ref: SigRef, callee: Value, args: &[Value]) -> R<Inst> {
        self.call_indirect_op(Opcode::CallIndirect, sig_ref, callee, args)
    }

    /// `load.ty flags p+offset`.
    pub fn load(self, ty: Type, flags: MemFlags, p: Value, offset: i32) -> R<Value> {
        self.load_op(Opcode::Load, ty, flags, p, offset)
    }

    /// `store flags v, p+offset`.
    pub fn store(self, flags: MemFlags, v: Value, p: Value, offset: i32) -> R<Inst> {
        self.store_op(Opcode::Store, flags, v, p, offset)
    }

    /// `bitcast.T flags x`: the same bits as another type of equal width.
    pub fn bitcast(self, ty: Type, flags: MemFlags, x: Value) -> R<Value> {
        self.load_no_offset(Opcode::Bitcast, ty, flags, x)
    }

    /// `trapz c, code`: traps if `c` is zero.
    pub fn trapz(self, c: Value, code: TrapCode) -> R<Inst> {
        self.cond_trap(Opcode::Trapz, c, code)
    }

    /// `trapnz c, code`: traps if `c` is non-zero.
    pub fn trapnz(self, c: Value, code: TrapCode) -> R<Inst> {
        self.cond_trap(Opcode::Trapnz, c, code)
    }

    // ----- Builder-only sugar (no such opcodes) -----

    /// `opcode x, imm`: an `iconst` of `x`'s type, then the binary
    /// operation. The sugar behind `iadd_imm`, `band_imm`, ...
    pub fn binary_imm(self, opcode: Opcode, x: Value, imm: i64) -> R<Value> {
        expect_format(opcode, InstructionFormat::Binary)?;
        let b = self.b;
        b.check_value(x)?;
        let ty = b.func.stencil.dfg.value_type(x);
        let c = b.ins().iconst(ty, imm)?;
        b.ins().binary(opcode, x, c)
    }

    /// `x + imm`.
    pub fn iadd_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Iadd, x, imm)
    }

    /// `x * imm`.
    pub fn imul_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Imul, x, imm)
    }

    /// `x / imm`, unsigned.
    pub fn udiv_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Udiv, x, imm)
    }

    /// `x / imm`, signed.
    pub fn sdiv_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Sdiv, x, imm)
    }

    /// `x % imm`, unsigned.
    pub fn urem_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Urem, x, imm)
    }

    /// `x % imm`, signed.
    pub fn srem_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Srem, x, imm)
    }

    /// `x & imm`.
    pub fn band_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Band, x, imm)
    }

    /// `x | imm`.
    pub fn bor_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Bor, x, imm)
    }

    /// `x ^ imm`.
    pub fn bxor_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Bxor, x, imm)
    }

    /// `x << imm`.
    pub fn ishl_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Ishl, x, imm)
    }

    /// `x >> imm`, logical.
    pub fn ushr_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Ushr, x, imm)
    }

    /// `x >> imm`, arithmetic.
    pub fn sshr_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Sshr, x, imm)
    }

    /// `x` rotated left by `imm`.
    pub fn rotl_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Rotl, x, imm)
    }

    /// `x` rotated right by `imm`.
    pub fn rotr_imm(self, x: Value, imm: i64) -> R<Value> {
        self.binary_imm(Opcode::Rotr, x, imm)
    }

    /// `imm - x`.
    pub fn irsub_imm(self, x: Value, imm: i64) -> R<Value> {
        let b = self.b;
        b.check_value(x)?;
        let ty = b.func.stencil.dfg.value_type(x);
        let c = b.ins().iconst(ty, imm)?;
        b.ins().binary(Opcode::Isub, c, x)
    }

    /// `icmp cond, x, imm`.
    pub fn icmp_imm(self, cond: IntCC, x: Value, imm: i64) -> R<Value> {
        let b = self.b;
        b.check_value(x)?;
        let ty = b.func.stencil.dfg.value_type(x);
        let c = b.ins().iconst(ty, imm)?;
        b.ins().int_compare(cond, x, c)
    }

    /// Loads a `ty` from `slot + offset`: `stack_addr` then a trusted `load`.
    pub fn stack_load(self, ty: Type, slot: StackSlot, offset: i32) -> R<Value> {
        let b = self.b;
        let ptr = b.pointer_type();
        let addr = b.ins().stack_addr(ptr, slot, 0)?;
        b.ins().load(ty, MemFlags::trusted(), addr, offset)
    }

    /// Stores `v` to `slot + offset`: `stack_addr` then a trusted `store`.
    pub fn stack_store(self, v: Value, slot: StackSlot, offset: i32) -> R<Inst> {
        let b = self.b;
        let ptr = b.pointer_type();
        let addr = b.ins().stack_addr(ptr, slot, 0)?;
        b.ins().store(MemFlags::trusted(), v, addr, offset)
    }
}

// One method per opcode, generated by build.rs from the opcode table.
include!(concat!(env!("OUT_DIR"), "/opcode_methods.rs"));
