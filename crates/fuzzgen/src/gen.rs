//! The function generator.

use crate::input::Input;
use crate::{Config, GenError};
use kiln_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use kiln_ir::dfg::resolve_constraint;
use kiln_ir::{
    AbiParam, AtomicRmwOp, Block, CallConv, Constraint, DataValue, FloatCC, FuncRef, Function,
    Ieee32, Ieee64, InstructionData, InstructionFormat, IntCC, MemFlags, Opcode, SigRef, Signature,
    SourceLoc, StackSlot, StackSlotData, TrapCode, Type, UserExternalName, UserFuncName, Value,
};
use smallvec::SmallVec;

/// Inputs shorter than this are rejected rather than turned into trivial
/// functions.
const MIN_INPUT: usize = 4;

/// Size of the stack slot loads and stores use, and its alignment (log2).
const SLOT_SIZE: u32 = 64;
const SLOT_ALIGN_SHIFT: u8 = 4;

/// A generated function with everything needed to run it.
#[derive(Clone, Debug)]
pub struct Program {
    /// The function under test, named `u1:0`.
    pub main: Function,
    /// The callees `u1:1..` it may call, in order.
    pub callees: Vec<Function>,
    /// Arguments for one call of `main`.
    pub args: Vec<DataValue>,
}

impl Program {
    /// Every function of the program, `main` first.
    pub fn functions(&self) -> impl Iterator<Item = &Function> {
        std::iter::once(&self.main).chain(&self.callees)
    }
}

/// Builds one valid function (`u1:0`) from `bytes`. Its callees are only
/// declared; see [`generate_program`] for their bodies.
pub fn generate(bytes: &[u8], config: &Config) -> Result<Function, GenError> {
    let mut input = Input::new(bytes);
    let mut ctx = FunctionBuilderContext::new();
    Ok(gen_main(&mut input, config, &mut ctx, bytes.len())?.0)
}

/// Builds `main` exactly as [`generate`] does from the same bytes, then the
/// callees' bodies (straight-line code and loops, no calls) and arguments.
pub fn generate_program(bytes: &[u8], config: &Config) -> Result<Program, GenError> {
    let mut input = Input::new(bytes);
    let mut ctx = FunctionBuilderContext::new();
    let (main, callee_sigs) = gen_main(&mut input, config, &mut ctx, bytes.len())?;
    let callee_config = Config {
        max_callees: 0,
        max_statements: config.max_statements / 4,
        max_depth: config.max_depth.min(1),
        ..config.clone()
    };
    let types = scalar_types(config);
    let mut callees = Vec::with_capacity(callee_sigs.len());
    for (i, (_, sig, _)) in callee_sigs.iter().enumerate() {
        let name = UserFuncName::user(1, i as u32 + 1);
        // A callee may call only callees after it, so calls are acyclic.
        let later: &[Callee] = if config.nested_calls {
            &callee_sigs[i + 1..]
        } else {
            &[]
        };
        callees.push(gen_function(
            &mut input,
            &callee_config,
            &types,
            &mut ctx,
            name,
            sig.clone(),
            later,
        )?);
    }
    let args = main
        .stencil
        .signature
        .params
        .iter()
        .map(|p| gen_data_value(&mut input, p.value_type))
        .collect();
    Ok(Program {
        main,
        callees,
        args,
    })
}

/// A callee: its number `N` (named `u1:N`), signature and whether it is
/// colocated.
type Callee = (u32, Signature, bool);
type CalleeSigs = Vec<Callee>;

fn gen_main(
    input: &mut Input,
    config: &Config,
    ctx: &mut FunctionBuilderContext,
    len: usize,
) -> Result<(Function, CalleeSigs), GenError> {
    if len < MIN_INPUT {
        return Err(GenError::NotEnoughData);
    }
    let types = scalar_types(config);
    let n_callees = input.range(0, config.max_callees);
    let mut callee_sigs: CalleeSigs = Vec::with_capacity(n_callees);
    for i in 0..n_callees {
        let mut sig = gen_signature(input, config, &types, 4, 2);
        if config.mixed_call_convs && input.ratio(1, 2) {
            sig.call_conv = CallConv::Fast;
        }
        if config.tail_calls && input.ratio(1, 2) {
            sig.call_conv = CallConv::Tail;
            // Share the returns of an earlier `tail` callee half the
            // time, so that one can tail-call the other.
            let earlier = callee_sigs
                .iter()
                .rev()
                .find(|(_, s, _): &&Callee| s.call_conv == CallConv::Tail);
            if let Some((_, e, _)) = earlier {
                if input.ratio(1, 2) {
                    sig.returns = e.returns.clone();
                }
            }
        }
        callee_sigs.push((i as u32 + 1, sig, input.ratio(1, 2)));
    }
    let sig = gen_signature(input, config, &types, config.max_params, config.max_returns);
    let main = gen_function(
        input,
        config,
        &types,
        ctx,
        UserFuncName::user(1, 0),
        sig,
        &callee_sigs,
    )?;
    Ok((main, callee_sigs))
}

/// The configured types the generator can produce values of.
fn scalar_types(config: &Config) -> Vec<Type> {
    let mut types: Vec<Type> = config
        .types
        .iter()
        .copied()
        .filter(|t| t.is_scalar() && (t.is_int() || *t == Type::F32 || *t == Type::F64))
        .collect();
    types.dedup();
    if types.is_empty() {
        types.push(Type::I32);
    }
    types
}

fn gen_signature(
    input: &mut Input,
    config: &Config,
    types: &[Type],
    max_params: usize,
    max_returns: usize,
) -> Signature {
    let mut sig = Signature::new(config.call_conv);
    for _ in 0..input.range(0, max_params) {
        sig.params
            .push(AbiParam::new(*input.choose(types).unwrap_or(&Type::I32)));
    }
    for _ in 0..input.range(0, max_returns) {
        sig.returns
            .push(AbiParam::new(*input.choose(types).unwrap_or(&Type::I32)));
    }
    sig
}

fn gen_float_bits(input: &mut Input, ty: Type) -> u64 {
    // Bit patterns that arithmetic cannot be trusted to get right by
    // accident: NaNs with a sign and a payload, subnormals, the extremes.
    match input.below(14) {
        10 => {
            return if ty == Type::F32 {
                0xffc0_0001 // -NaN:0x1 (quiet, negative, payload)
            } else {
                0xfff8_0000_0000_0001
            };
        }
        11 => {
            return if ty == Type::F32 {
                0x7f80_0001 // a signalling NaN
            } else {
                0x7ff0_0000_0000_0001
            };
        }
        12 => {
            // The smallest and largest subnormals, either sign.
            let sign = input.ratio(1, 2);
            return if ty == Type::F32 {
                let m = if input.ratio(1, 2) { 1 } else { 0x007f_ffff };
                m | if sign { 0x8000_0000 } else { 0 }
            } else {
                let m = if input.ratio(1, 2) {
                    1
                } else {
                    0x000f_ffff_ffff_ffff
                };
                m | if sign { 1 << 63 } else { 0 }
            };
        }
        13 => {
            return if ty == Type::F32 {
                f32::MAX.to_bits() as u64
            } else {
                f64::MIN_POSITIVE.to_bits()
            }
        }
        _ => {}
    }
    let f: f64 = match input.below(10) {
        0 => 0.0,
        1 => -0.0,
        2 => 1.0,
        3 => -2.5,
        4 => f64::INFINITY,
        5 => f64::NEG_INFINITY,
        6 => f64::NAN,
        7 => 1e10,
        8 => (input.u16() as i16) as f64 / 16.0,
        _ => {
            return if ty == Type::F32 {
                input.u32() as u64
            } else {
                input.u64()
            }
        }
    };
    if ty == Type::F32 {
        (f as f32).to_bits() as u64
    } else {
        f.to_bits()
    }
}

fn gen_data_value(input: &mut Input, ty: Type) -> DataValue {
    match ty {
        Type::F32 => DataValue::F32(Ieee32(gen_float_bits(input, ty) as u32)),
        Type::F64 => DataValue::F64(Ieee64(gen_float_bits(input, ty))),
        _ => {
            let x = input.interesting_i64() as i128;
            let x = if ty == Type::I128 && input.ratio(1, 2) {
                x << 64 | input.u64() as i128
            } else {
                x
            };
            DataValue::from_integer(x, ty).unwrap_or(DataValue::I32(0))
        }
    }
}

/// Statement kinds, weighted by repetition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stmt {
    Assign,
    If,
    Loop,
    Switch,
    Store,
    Load,
    Call,
    /// `trapz` / `trapnz`, only when traps are allowed.
    CondTrap,
    /// A load or store of any width through a `stack_addr` pointer.
    PtrStore,
    PtrLoad,
    /// An atomic operation or a fence.
    Atomic,
}

const STMTS: &[Stmt] = &[
    Stmt::Assign,
    Stmt::Assign,
    Stmt::Assign,
    Stmt::Assign,
    Stmt::Assign,
    Stmt::If,
    Stmt::Loop,
    Stmt::Switch,
    Stmt::Store,
    Stmt::Load,
    Stmt::Call,
    Stmt::CondTrap,
    Stmt::PtrStore,
    Stmt::PtrLoad,
    Stmt::Atomic,
];

struct Gen<'i, 'd, 'c, 'a> {
    input: &'i mut Input<'d>,
    config: &'c Config,
    types: &'c [Type],
    /// Arithmetic opcodes usable in this configuration.
    ops: Vec<Opcode>,
    b: FunctionBuilder<'a>,
    /// Variables the body may assign (loop counters are not among them).
    vars: Vec<(Variable, Type)>,
    callees: Vec<(FuncRef, SigRef, Signature)>,
    slot: Option<StackSlot>,
    statements_left: usize,
}

fn gen_function(
    input: &mut Input,
    config: &Config,
    types: &[Type],
    ctx: &mut FunctionBuilderContext,
    name: UserFuncName,
    sig: Signature,
    callee_sigs: &[Callee],
) -> Result<Function, GenError> {
    let mut func = Function::with_name_signature(name, sig);
    let ops = config
        .opcodes
        .iter()
        .copied()
        .filter(|&op| {
            (matches!(
                op.format(),
                InstructionFormat::Unary
                    | InstructionFormat::Binary
                    | InstructionFormat::Ternary
                    | InstructionFormat::IntCompare
                    | InstructionFormat::FloatCompare
            ) || op == Opcode::Bitcast
                || op == Opcode::UaddOverflowTrap)
                && (config.allow_traps || !op.can_trap() || is_division(op))
                && !op.is_call()
                && !op.is_terminator()
                && op.info().ctrl.is_some()
                && !op.info().results.is_empty()
        })
        .collect();
    let b = FunctionBuilder::new(&mut func, ctx);
    let mut g = Gen {
        input,
        config,
        types,
        ops,
        b,
        vars: Vec::new(),
        callees: Vec::new(),
        slot: None,
        statements_left: config.max_statements,
    };
    g.body(callee_sigs)?;
    g.b.finalize()?;
    Ok(func)
}

fn is_division(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::Udiv | Opcode::Sdiv | Opcode::Urem | Opcode::Srem
    )
}

impl Gen<'_, '_, '_, '_> {
    fn body(&mut self, callee_sigs: &[Callee]) -> Result<(), GenError> {
        for (n, sig, colocated) in callee_sigs {
            let sig_ref = self.b.import_signature(sig.clone());
            let f = self
                .b
                .import_function(UserExternalName::new(1, *n), sig_ref, *colocated)?;
            self.callees.push((f, sig_ref, sig.clone()));
        }
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry)?;
        self.b.switch_to_block(entry)?;
        self.b.seal_block(entry)?;
        self.srcloc();
        let params: SmallVec<[Value; 8]> = self.b.block_params(entry).into();
        for p in params {
            let ty = self.b.func.stencil.dfg.value_type(p);
            let var = self.b.declare_var(ty)?;
            self.b.def_var(var, p)?;
            self.vars.push((var, ty));
        }
        for &ty in self.types {
            for _ in 0..self.config.vars_per_type {
                let var = self.b.declare_var(ty)?;
                let c = self.constant(ty)?;
                self.b.def_var(var, c)?;
                self.vars.push((var, ty));
            }
        }
        if self.config.stack_memory {
            let slot = self
                .b
                .create_sized_stack_slot(StackSlotData::new(SLOT_SIZE, SLOT_ALIGN_SHIFT));
            // Zero the slot so every load reads defined bytes.
            let zero = self.b.ins().iconst(Type::I64, 0)?;
            for off in (0..SLOT_SIZE).step_by(8) {
                self.b.ins().stack_store(zero, slot, off as i32)?;
            }
            self.slot = Some(slot);
        }
        self.statements(0)?;
        self.srcloc();
        let rets: SmallVec<[Type; 4]> = self
            .b
            .func
            .stencil
            .signature
            .returns
            .iter()
            .map(|p| p.value_type)
            .collect();
        if !self.tail_call(&rets)? {
            let mut vals = SmallVec::<[Value; 4]>::new();
            for ty in rets {
                vals.push(self.value_of(ty)?);
            }
            self.b.ins().return_(&vals)?;
        }
        self.b.seal_all_blocks();
        Ok(())
    }

    /// In a `tail` function, sometimes ends with `return_call` (or
    /// `return_call_indirect`) to a `tail` callee with the same returns.
    fn tail_call(&mut self, rets: &[Type]) -> Result<bool, GenError> {
        if !self.config.tail_calls
            || self.b.func.stencil.signature.call_conv != CallConv::Tail
            || !self.input.ratio(1, 2)
        {
            return Ok(false);
        }
        let targets: SmallVec<[(FuncRef, SigRef, Signature); 4]> = self
            .callees
            .iter()
            .filter(|(_, _, s)| {
                s.call_conv == CallConv::Tail
                    && s.returns
                        .iter()
                        .map(|p| p.value_type)
                        .eq(rets.iter().copied())
            })
            .cloned()
            .collect();
        let Some((f, sig_ref, sig)) = self.input.choose(&targets).cloned() else {
            return Ok(false);
        };
        let mut args = SmallVec::<[Value; 8]>::new();
        for p in &sig.params {
            args.push(self.value_of(p.value_type)?);
        }
        if self.config.indirect_calls && self.input.ratio(1, 2) {
            let addr = self.b.ins().func_addr(Type::I64, f)?;
            self.b
                .ins()
                .call_indirect_op(Opcode::ReturnCallIndirect, sig_ref, addr, &args)?;
        } else {
            self.b.ins().return_call(f, &args)?;
        }
        Ok(true)
    }

    fn srcloc(&mut self) {
        if self.config.srclocs && self.input.ratio(3, 4) {
            let loc = 1 + self.input.u16() as u32;
            self.b.set_srcloc(SourceLoc::new(loc));
        } else {
            self.b.set_srcloc(SourceLoc::default());
        }
    }

    fn statements(&mut self, depth: usize) -> Result<(), GenError> {
        let n = self.input.range(0, if depth == 0 { 16 } else { 6 });
        for _ in 0..n {
            if self.statements_left == 0 {
                break;
            }
            self.statements_left -= 1;
            self.srcloc();
            self.statement(depth)?;
        }
        Ok(())
    }

    fn statement(&mut self, depth: usize) -> Result<(), GenError> {
        let nested = depth < self.config.max_depth;
        let kinds: SmallVec<[Stmt; 16]> = STMTS
            .iter()
            .copied()
            .filter(|k| match k {
                Stmt::Assign => true,
                Stmt::If | Stmt::Loop => nested,
                Stmt::Switch => nested && self.config.switches,
                Stmt::Store | Stmt::Load => self.slot.is_some(),
                Stmt::Call => !self.callees.is_empty(),
                Stmt::CondTrap => self.config.allow_traps,
                Stmt::PtrStore | Stmt::PtrLoad => self.slot.is_some() && self.config.pointer_memory,
                Stmt::Atomic => self.slot.is_some() && self.config.atomics,
            })
            .collect();
        match self.input.choose(&kinds).copied().unwrap_or(Stmt::Assign) {
            Stmt::Assign => self.assign(),
            Stmt::If => self.if_else(depth),
            Stmt::Loop => self.bounded_loop(depth),
            Stmt::Switch => self.switch(depth),
            Stmt::Store => self.store(),
            Stmt::Load => self.load(),
            Stmt::Call => self.call(),
            Stmt::PtrStore => self.ptr_store(),
            Stmt::PtrLoad => self.ptr_load(),
            Stmt::Atomic => self.atomic(),
            Stmt::CondTrap => {
                let op = if self.input.ratio(1, 2) {
                    Opcode::Trapz
                } else {
                    Opcode::Trapnz
                };
                // Mostly a condition that rarely fires (`x == k` for
                // `trapnz`, `x != k` for `trapz`), so that code after the
                // trap runs too; sometimes any condition.
                let c = if self.input.ratio(3, 4) {
                    let x = self.value_of(Type::I32)?;
                    let k = self.input.interesting_i64();
                    let cc = if op == Opcode::Trapnz {
                        IntCC::Equal
                    } else {
                        IntCC::NotEqual
                    };
                    let k = self.b.ins().iconst(Type::I32, k)?;
                    self.b.ins().icmp(cc, x, k)?
                } else {
                    self.condition()?
                };
                let code = TrapCode::user(1 + self.input.below(200) as u8)
                    .unwrap_or(TrapCode::INTEGER_OVERFLOW);
                self.b.ins().cond_trap(op, c, code)?;
                Ok(())
            }
        }
    }

    fn assign(&mut self) -> Result<(), GenError> {
        let Some(&(var, ty)) = self.input.choose(&self.vars) else {
            return Ok(());
        };
        let v = self.expr(ty)?;
        self.b.def_var(var, v)?;
        Ok(())
    }

    fn if_else(&mut self, depth: usize) -> Result<(), GenError> {
        let c = self.condition()?;
        let then_b = self.b.create_block();
        let else_b = self.b.create_block();
        let join = self.b.create_block();
        self.b.ins().brif(c, then_b, &[], else_b, &[])?;
        for arm in [then_b, else_b] {
            self.b.switch_to_block(arm)?;
            self.b.seal_block(arm)?;
            self.statements(depth + 1)?;
            self.b.ins().jump(join, &[])?;
        }
        self.b.switch_to_block(join)?;
        self.b.seal_block(join)?;
        Ok(())
    }

    /// `for counter in 0..n { body }`, with a counter variable only the
    /// loop itself writes.
    fn bounded_loop(&mut self, depth: usize) -> Result<(), GenError> {
        let n = self
            .input
            .range(0, self.config.max_loop_iterations as usize) as i64;
        let counter = self.b.declare_var(Type::I32)?;
        let zero = self.b.ins().iconst(Type::I32, 0)?;
        self.b.def_var(counter, zero)?;
        let header = self.b.create_block();
        let body = self.b.create_block();
        let exit = self.b.create_block();
        self.b.ins().jump(header, &[])?;

        self.b.switch_to_block(header)?;
        let i = self.b.use_var(counter)?;
        let more = self.b.ins().icmp_imm(IntCC::UnsignedLessThan, i, n)?;
        self.b.ins().brif(more, body, &[], exit, &[])?;

        self.b.switch_to_block(body)?;
        self.b.seal_block(body)?;
        self.statements(depth + 1)?;
        let i = self.b.use_var(counter)?;
        let next = self.b.ins().iadd_imm(i, 1)?;
        self.b.def_var(counter, next)?;
        self.b.ins().jump(header, &[])?;
        self.b.seal_block(header)?;

        self.b.switch_to_block(exit)?;
        self.b.seal_block(exit)?;
        Ok(())
    }

    fn switch(&mut self, depth: usize) -> Result<(), GenError> {
        let n_arms = self.input.range(1, 3);
        let arms: SmallVec<[Block; 4]> = (0..n_arms).map(|_| self.b.create_block()).collect();
        let default = self.b.create_block();
        let join = self.b.create_block();
        // Every arm is reachable; some appear more than once, in any order.
        let mut table: SmallVec<[Block; 8]> = arms.iter().copied().collect();
        for _ in 0..self.input.range(0, 2) {
            table.push(*self.input.choose(&arms).unwrap_or(&default));
        }
        for i in (1..table.len()).rev() {
            let j = self.input.below(i + 1);
            table.swap(i, j);
        }
        // Half the time an index in range (or one past: the default).
        let index = if self.input.ratio(1, 2) {
            let k = self.input.range(0, table.len());
            self.b.ins().iconst(Type::I32, k as i64)?
        } else {
            self.value_of(Type::I32)?
        };
        self.b.ins().br_table(index, default, &table)?;
        for block in arms.iter().copied().chain([default]) {
            self.b.switch_to_block(block)?;
            self.b.seal_block(block)?;
            self.statements(depth + 1)?;
            self.b.ins().jump(join, &[])?;
        }
        self.b.switch_to_block(join)?;
        self.b.seal_block(join)?;
        Ok(())
    }

    /// A type and an in-bounds, naturally aligned offset for an access.
    fn access(&mut self) -> (Type, i32) {
        let ty = *self.input.choose(self.types).unwrap_or(&Type::I32);
        let size = ty.bytes().max(1);
        let slots = (SLOT_SIZE / size) as usize;
        let offset = self.input.below(slots) as u32 * size;
        (ty, offset as i32)
    }

    fn store(&mut self) -> Result<(), GenError> {
        let Some(slot) = self.slot else {
            return Ok(());
        };
        let (ty, offset) = self.access();
        let v = self.value_of(ty)?;
        self.b.ins().stack_store(v, slot, offset)?;
        Ok(())
    }

    fn load(&mut self) -> Result<(), GenError> {
        let Some(slot) = self.slot else {
            return Ok(());
        };
        let (ty, offset) = self.access();
        let v = self.b.ins().stack_load(ty, slot, offset)?;
        if let Some(var) = self.var_of(ty) {
            self.b.def_var(var, v)?;
        }
        Ok(())
    }

    /// A pointer into the slot (`stack_addr`, sometimes at an offset)
    /// and the remaining offset such that `ptr + off` is `offset`.
    fn slot_pointer(&mut self, slot: StackSlot, offset: i32) -> Result<(Value, i32), GenError> {
        let split = if self.input.ratio(1, 2) { offset } else { 0 };
        let p = self.b.ins().stack_addr(Type::I64, slot, split)?;
        Ok((p, offset - split))
    }

    fn mem_flags(&mut self) -> MemFlags {
        let mut flags = MemFlags::new();
        if self.input.ratio(1, 2) {
            flags.set_notrap();
        }
        if self.input.ratio(1, 2) {
            flags.set_aligned();
        }
        flags
    }

    /// `istore8/16/32` of a wider integer, or `store` of any type.
    fn ptr_store(&mut self) -> Result<(), GenError> {
        let Some(slot) = self.slot else {
            return Ok(());
        };
        let (ty, _) = self.access();
        let (op, bytes) = match (ty.is_int() && ty.bits() <= 64, self.input.below(4)) {
            (true, 1) if ty.bits() > 8 => (Opcode::Istore8, 1),
            (true, 2) if ty.bits() > 16 => (Opcode::Istore16, 2),
            (true, 3) if ty.bits() > 32 => (Opcode::Istore32, 4),
            _ => (Opcode::Store, ty.bytes()),
        };
        if !self.config.allows_typed(op, ty) {
            return Ok(());
        }
        let offset = self.input.below((SLOT_SIZE / bytes) as usize) as i32 * bytes as i32;
        let v = self.value_of(ty)?;
        let (p, off) = self.slot_pointer(slot, offset)?;
        let flags = self.mem_flags();
        self.b.ins().store_op(op, flags, v, p, off)?;
        Ok(())
    }

    /// `uload8` ... `sload32` into a wider integer, or `load` of any type.
    fn ptr_load(&mut self) -> Result<(), GenError> {
        let Some(slot) = self.slot else {
            return Ok(());
        };
        let (ty, _) = self.access();
        let narrow = ty.is_int() && ty.bits() <= 64;
        let (op, bytes) = match (narrow, self.input.below(7)) {
            (true, 1) if ty.bits() > 8 => (Opcode::Uload8, 1),
            (true, 2) if ty.bits() > 8 => (Opcode::Sload8, 1),
            (true, 3) if ty.bits() > 16 => (Opcode::Uload16, 2),
            (true, 4) if ty.bits() > 16 => (Opcode::Sload16, 2),
            (true, 5) if ty.bits() > 32 => (Opcode::Uload32, 4),
            (true, 6) if ty.bits() > 32 => (Opcode::Sload32, 4),
            _ => (Opcode::Load, ty.bytes()),
        };
        if !self.config.allows_typed(op, ty) {
            return Ok(());
        }
        let offset = self.input.below((SLOT_SIZE / bytes) as usize) as i32 * bytes as i32;
        let (p, off) = self.slot_pointer(slot, offset)?;
        let flags = self.mem_flags();
        let v = self.b.ins().load_op(op, ty, flags, p, off)?;
        if let Some(var) = self.var_of(ty) {
            self.b.def_var(var, v)?;
        }
        Ok(())
    }

    /// An atomic read-modify-write, compare-and-swap, load or store on a
    /// naturally aligned slot address, or a fence.
    fn atomic(&mut self) -> Result<(), GenError> {
        let Some(slot) = self.slot else {
            return Ok(());
        };
        let ints: SmallVec<[Type; 4]> = self.types.iter().copied().filter(|t| t.is_int()).collect();
        let Some(&ty) = self.input.choose(&ints) else {
            return Ok(());
        };
        // Natural alignment (16 bytes for i128: the slot's alignment).
        let offset = self.input.below((SLOT_SIZE / ty.bytes()) as usize) as i32 * ty.bytes() as i32;
        let p = self.b.ins().stack_addr(Type::I64, slot, offset)?;
        let mut flags = MemFlags::new();
        if self.input.ratio(1, 2) {
            flags.set_notrap();
            flags.set_aligned();
        }
        let kind = self.input.below(5);
        let op = [
            Opcode::AtomicRmw,
            Opcode::AtomicCas,
            Opcode::AtomicLoad,
            Opcode::AtomicStore,
            Opcode::Fence,
        ][kind];
        if !self.config.allows_typed(op, ty) {
            return Ok(());
        }
        let result = match kind {
            0 => {
                let op = *self
                    .input
                    .choose(&AtomicRmwOp::ALL)
                    .unwrap_or(&AtomicRmwOp::Add);
                let v = self.value_of(ty)?;
                Some(self.b.ins().atomic_rmw(ty, flags, op, p, v)?)
            }
            1 => {
                let e = self.value_of(ty)?;
                let r = self.value_of(ty)?;
                Some(self.b.ins().atomic_cas(flags, p, e, r)?)
            }
            2 => Some(
                self.b
                    .ins()
                    .load_no_offset(Opcode::AtomicLoad, ty, flags, p)?,
            ),
            3 => {
                let v = self.value_of(ty)?;
                self.b
                    .ins()
                    .store_no_offset(Opcode::AtomicStore, flags, v, p)?;
                None
            }
            _ => {
                self.b.ins().nullary(Opcode::Fence, None)?;
                None
            }
        };
        if let Some(v) = result {
            if let Some(var) = self.var_of(ty) {
                self.b.def_var(var, v)?;
            }
        }
        Ok(())
    }

    fn call(&mut self) -> Result<(), GenError> {
        let Some((f, sig_ref, sig)) = self.input.choose(&self.callees).cloned() else {
            return Ok(());
        };
        let mut args = SmallVec::<[Value; 8]>::new();
        for p in &sig.params {
            args.push(self.value_of(p.value_type)?);
        }
        let inst = if self.config.indirect_calls && self.input.ratio(1, 3) {
            let addr = self.b.ins().func_addr(Type::I64, f)?;
            self.b.ins().call_indirect(sig_ref, addr, &args)?
        } else {
            self.b.ins().call(f, &args)?
        };
        let results: SmallVec<[Value; 4]> = self.b.inst_results(inst).into();
        for r in results {
            let ty = self.b.func.stencil.dfg.value_type(r);
            if let Some(var) = self.var_of(ty) {
                self.b.def_var(var, r)?;
            }
        }
        Ok(())
    }

    /// A branch condition: an integer value, or a comparison.
    fn condition(&mut self) -> Result<Value, GenError> {
        let ints: SmallVec<[Type; 8]> = self.types.iter().copied().filter(|t| t.is_int()).collect();
        let ty = *self.input.choose(&ints).unwrap_or(&Type::I32);
        let x = self.value_of(ty)?;
        if self.input.ratio(1, 2) {
            let y = self.value_of(ty)?;
            let cc = *self.input.choose(IntCC::ALL).unwrap_or(&IntCC::Equal);
            Ok(self.b.ins().icmp(cc, x, y)?)
        } else {
            Ok(x)
        }
    }

    /// A variable of type `ty`, if any.
    fn var_of(&mut self, ty: Type) -> Option<Variable> {
        let candidates: SmallVec<[Variable; 8]> = self
            .vars
            .iter()
            .filter(|(_, t)| *t == ty)
            .map(|(v, _)| *v)
            .collect();
        self.input.choose(&candidates).copied()
    }

    /// A value of type `ty`: mostly a variable, sometimes a constant.
    fn value_of(&mut self, ty: Type) -> Result<Value, GenError> {
        if self.input.ratio(7, 8) {
            if let Some(var) = self.var_of(ty) {
                return Ok(self.b.use_var(var)?);
            }
        }
        self.constant(ty)
    }

    fn constant(&mut self, ty: Type) -> Result<Value, GenError> {
        Ok(match ty {
            Type::F32 => {
                let bits = gen_float_bits(self.input, ty) as u32;
                self.b.ins().f32const(f32::from_bits(bits))?
            }
            Type::F64 => {
                let bits = gen_float_bits(self.input, ty);
                self.b.ins().f64const(f64::from_bits(bits))?
            }
            _ => {
                let imm = self.input.interesting_i64();
                self.b.ins().iconst(ty, imm)?
            }
        })
    }

    /// An expression of type `ty` from the configured opcodes, or a
    /// constant if none fits.
    fn expr(&mut self, ty: Type) -> Result<Value, GenError> {
        if self.config.bit_idioms && ty.is_int() && ty.bits() <= 64 && self.input.ratio(1, 12) {
            if let Some(v) = self.bit_idiom(ty)? {
                return Ok(v);
            }
        }
        for _ in 0..3 {
            let Some(&op) = self.input.choose(&self.ops) else {
                break;
            };
            if op == Opcode::UaddOverflowTrap {
                if !matches!(ty, Type::I32 | Type::I64)
                    || !self.config.allow_traps
                    || !self.config.allows_typed(op, ty)
                {
                    continue;
                }
                let x = self.value_of(ty)?;
                let y = self.value_of(ty)?;
                let code = TrapCode::user(1 + self.input.below(200) as u8)
                    .unwrap_or(TrapCode::INTEGER_OVERFLOW);
                return Ok(self.b.ins().int_add_trap(x, y, code)?);
            }
            if op == Opcode::Bitcast {
                // Between an integer and a float of the same width.
                let from = match ty {
                    Type::I32 => Type::F32,
                    Type::I64 => Type::F64,
                    Type::F32 => Type::I32,
                    Type::F64 => Type::I64,
                    _ => continue,
                };
                if self.types.contains(&from) && self.config.allows_typed(op, ty) {
                    let x = self.value_of(from)?;
                    return Ok(self.b.ins().bitcast(ty, MemFlags::new(), x)?);
                }
                continue;
            }
            if let Some((ctrl, arg_tys)) = self.plan(op, ty) {
                return self.build_op(op, ty, ctrl, &arg_tys);
            }
        }
        self.value_of(ty)
    }

    /// A bit-manipulation idiom of type `ty` (see `Config::bit_idioms`),
    /// or `None` if the configuration leaves out an opcode it needs.
    fn bit_idiom(&mut self, ty: Type) -> Result<Option<Value>, GenError> {
        let allowed = |s: &Self, ops: &[Opcode]| {
            ops.iter()
                .all(|&op| s.config.allows(op) && s.config.allows_typed(op, ty))
        };
        let x = self.value_of(ty)?;
        // `x - 1` as the mid-end writes it (`iadd x -1`) or as a frontend
        // does (`isub x 1`).
        let dec = |s: &mut Self, x: Value| -> Result<Option<Value>, GenError> {
            Ok(if s.input.ratio(1, 2) && allowed(s, &[Opcode::Iadd]) {
                let m1 = s.b.ins().iconst(ty, -1)?;
                Some(s.b.ins().iadd(x, m1)?)
            } else if allowed(s, &[Opcode::Isub]) {
                let one = s.b.ins().iconst(ty, 1)?;
                Some(s.b.ins().isub(x, one)?)
            } else {
                None
            })
        };
        let (outer, inner) = match self.input.below(5) {
            // x & (x - 1), x ^ (x - 1)
            k @ (0 | 1) => {
                let outer = if k == 0 { Opcode::Band } else { Opcode::Bxor };
                if !allowed(self, &[outer]) {
                    return Ok(None);
                }
                let Some(d) = dec(self, x)? else {
                    return Ok(None);
                };
                (outer, d)
            }
            // x & -x (`ineg x` or `isub 0 x`)
            2 => {
                let n = if self.input.ratio(1, 2) && allowed(self, &[Opcode::Ineg]) {
                    self.b.ins().ineg(x)?
                } else if allowed(self, &[Opcode::Isub]) {
                    let zero = self.b.ins().iconst(ty, 0)?;
                    self.b.ins().isub(zero, x)?
                } else {
                    return Ok(None);
                };
                (Opcode::Band, n)
            }
            // x & !y (`bnot y` or `bxor y -1`)
            3 => {
                let y = self.value_of(ty)?;
                let n = if self.input.ratio(1, 2) && allowed(self, &[Opcode::Bnot]) {
                    self.b.ins().bnot(y)?
                } else if allowed(self, &[Opcode::Bxor]) {
                    let m1 = self.b.ins().iconst(ty, -1)?;
                    self.b.ins().bxor(y, m1)?
                } else {
                    return Ok(None);
                };
                (Opcode::Band, n)
            }
            // x & ((1 << n) - 1)
            _ => {
                if !allowed(self, &[Opcode::Ishl]) {
                    return Ok(None);
                }
                let n = self.value_of(ty)?;
                let one = self.b.ins().iconst(ty, 1)?;
                let p = self.b.ins().ishl(one, n)?;
                let Some(d) = dec(self, p)? else {
                    return Ok(None);
                };
                (Opcode::Band, d)
            }
        };
        if !allowed(self, &[outer]) {
            return Ok(None);
        }
        // Either operand order.
        let (a, b) = if self.input.ratio(1, 2) {
            (x, inner)
        } else {
            (inner, x)
        };
        let v = if outer == Opcode::Band {
            self.b.ins().band(a, b)?
        } else {
            self.b.ins().bxor(a, b)?
        };
        Ok(Some(v))
    }

    /// Chooses a controlling type and operand types so that `op` produces
    /// a `ty`, from the opcode table's constraints alone.
    fn plan(&mut self, op: Opcode, ty: Type) -> Option<(Type, SmallVec<[Type; 3]>)> {
        let info = op.info();
        let set = info.ctrl?;
        let ctrls: SmallVec<[Type; 8]> = self
            .types
            .iter()
            .copied()
            .filter(|&t| {
                set.contains(t)
                    && self.config.allows_typed(op, t)
                    && info
                        .results
                        .iter()
                        .any(|&c| resolve_constraint(c, t) == Some(ty))
            })
            .collect();
        let ctrl = *self.input.choose(&ctrls)?;
        let mut arg_tys = SmallVec::new();
        for &c in info.args {
            let t = match c {
                Constraint::Free(s) => self.pick_type(|t| s.contains(t))?,
                Constraint::NarrowerInt => {
                    self.pick_type(|t| t.is_int() && t.bits() < ctrl.bits())?
                }
                Constraint::WiderInt => self.pick_type(|t| t.is_int() && t.bits() > ctrl.bits())?,
                Constraint::OtherFloat => {
                    self.pick_type(|t| t.is_float() && t.bits() != ctrl.bits())?
                }
                other => resolve_constraint(other, ctrl)?,
            };
            if !self.types.contains(&t) && !t.is_int() {
                return None;
            }
            if !self.config.allows_typed(op, t) {
                return None;
            }
            arg_tys.push(t);
        }
        Some((ctrl, arg_tys))
    }

    fn pick_type(&mut self, f: impl Fn(Type) -> bool) -> Option<Type> {
        let c: SmallVec<[Type; 8]> = self.types.iter().copied().filter(|&t| f(t)).collect();
        self.input.choose(&c).copied()
    }

    fn build_op(
        &mut self,
        op: Opcode,
        ty: Type,
        ctrl: Type,
        arg_tys: &[Type],
    ) -> Result<Value, GenError> {
        let mut args = SmallVec::<[Value; 3]>::new();
        for &t in arg_tys {
            args.push(self.value_of(t)?);
        }
        // A third of the divisions get a constant divisor of the shapes the
        // mid-end rewrites (powers of two and their negations, MIN, MAX,
        // small and random ones); never 0 nor, for signed division, -1.
        if is_division(op) && ctrl.bits() <= 64 && self.input.ratio(1, 3) {
            let d = self.divisor(ctrl, matches!(op, Opcode::Sdiv | Opcode::Srem));
            args[1] = self.b.ins().iconst(ctrl, d)?;
        } else if is_division(op) && (!self.config.allow_traps || self.input.ratio(3, 4)) {
            // With traps allowed, a quarter of the other divisions stay
            // unguarded.
            // Nonzero divisor; for signed division also positive, which
            // rules out INT_MIN / -1.
            let mut d = args[1];
            if matches!(op, Opcode::Sdiv | Opcode::Srem) {
                d = self.b.ins().ushr_imm(d, 1)?;
            }
            args[1] = self.b.ins().bor_imm(d, 1)?;
        }
        let data = match (op.format(), &args[..]) {
            (InstructionFormat::Unary, &[arg]) => InstructionData::Unary { opcode: op, arg },
            (InstructionFormat::Binary, &[x, y]) => InstructionData::Binary {
                opcode: op,
                args: [x, y],
            },
            (InstructionFormat::Ternary, &[x, y, z]) => InstructionData::Ternary {
                opcode: op,
                args: [x, y, z],
            },
            (InstructionFormat::IntCompare, &[x, y]) => InstructionData::IntCompare {
                opcode: op,
                cond: *self.input.choose(IntCC::ALL).unwrap_or(&IntCC::Equal),
                args: [x, y],
            },
            (InstructionFormat::FloatCompare, &[x, y]) => InstructionData::FloatCompare {
                opcode: op,
                cond: *self.input.choose(FloatCC::ALL).unwrap_or(&FloatCC::Equal),
                args: [x, y],
            },
            _ => return self.value_of(ty),
        };
        let inst = self.b.ins().build(data, Some(ctrl))?;
        let dfg = &self.b.func.stencil.dfg;
        match dfg
            .inst_results(inst)
            .iter()
            .copied()
            .find(|&r| dfg.value_type(r) == ty)
        {
            Some(v)
                if ty.is_float()
                    && self.config.canonicalize_nans
                    && crate::Config::NAN_PRODUCING.contains(&op) =>
            {
                self.canonical_nan(ty, v)
            }
            Some(v) => Ok(v),
            None => self.value_of(ty),
        }
    }

    /// A constant divisor for `ty` (at most 64 bits), sign-extended from
    /// its width: nonzero, and not -1 when `signed`.
    fn divisor(&mut self, ty: Type, signed: bool) -> i64 {
        let bits = ty.bits();
        let d = match self.input.below(7) {
            0 => self.input.range(2, 100) as i64,
            1 => -(self.input.range(2, 100) as i64),
            2 => 1i64 << self.input.below(bits as usize - 1),
            // -2^k, with k = bits - 1 giving MIN.
            3 => (-1i64) << self.input.range(1, bits as usize - 1),
            4 => self.input.interesting_i64(),
            5 => ((1i64 << self.input.below(bits as usize - 1)) - 1) * 2 + 1,
            _ => (self.input.u64() as i64) >> self.input.below(64),
        };
        let shift = 64 - bits;
        let d = (d << shift) >> shift;
        match d {
            0 => 7,
            -1 if signed => -7,
            d => d,
        }
    }

    /// `v`, or the canonical quiet NaN if `v` is a NaN.
    fn canonical_nan(&mut self, ty: Type, v: Value) -> Result<Value, GenError> {
        let is_nan = self.b.ins().fcmp(FloatCC::Unordered, v, v)?;
        let canon = if ty == Type::F32 {
            self.b.ins().f32const(f32::from_bits(0x7fc0_0000))?
        } else {
            self.b
                .ins()
                .f64const(f64::from_bits(0x7ff8_0000_0000_0000))?
        };
        Ok(self.b.ins().select(is_nan, canon, v)?)
    }
}
