//! The execution loop: frames on an explicit stack (no host recursion), one
//! instruction per step.

use crate::memory::{Memory, Target};
use crate::ops::{self, fcmp, icmp, int_op, overflow_op};
use crate::value::{
    bits_of, fits_type, from_bits, join_lanes, mask, sext, split_lanes, truthy, unsupported_ty,
    Lanes,
};
use crate::{Callee, InterpError, Interpreter};
use kiln_ir::{
    ArgumentPurpose, AtomicRmwOp, Block, BlockArg, BlockCall, DataValue, Endianness, EntityRef,
    Function, GlobalValue, GlobalValueData, Inst, InstructionData, LibCall, MemFlags, Opcode,
    StackSlotKind, TrapCode, Type, Value,
};
use smallvec::SmallVec;
use std::sync::Arc;

type Vals = SmallVec<[DataValue; 4]>;

pub(crate) struct Frame {
    func: u32,
    values: Vec<DataValue>,
    /// The instruction to execute next (for a caller: the call in flight).
    inst: Inst,
    mem_mark: usize,
    /// The region key of each sized stack slot.
    slots: SmallVec<[u32; 4]>,
    vmctx: Option<DataValue>,
    /// For functions with value aliases (`v5 -> v3`): the value each
    /// number stands for.
    aliases: Option<Arc<[u32]>>,
}

/// What an instruction asks the loop to do next.
enum Control {
    /// Continue with the next instruction of the block.
    Next,
    /// The frame's `inst` was set (a branch was taken).
    Jumped,
    /// Call `callee` with the arguments left in `Interpreter::pending`.
    Call { callee: u32, tail: bool },
    /// Return the values left in `Interpreter::pending`.
    Return,
}

fn invalid(msg: impl Into<String>) -> InterpError {
    InterpError::Invalid(msg.into())
}

fn unsupported(msg: impl Into<String>) -> InterpError {
    InterpError::Unsupported(msg.into())
}

#[inline]
fn get(fr: &Frame, v: Value) -> Result<DataValue, InterpError> {
    let i = match &fr.aliases {
        None => v.index(),
        Some(a) => a.get(v.index()).map_or(v.index(), |&r| r as usize),
    };
    fr.values
        .get(i)
        .copied()
        .ok_or_else(|| invalid(format!("{v} is out of range")))
}

#[inline]
fn set(fr: &mut Frame, v: Value, x: DataValue) -> Result<(), InterpError> {
    match fr.values.get_mut(v.index()) {
        Some(slot) => {
            *slot = x;
            Ok(())
        }
        None => Err(invalid(format!("{v} is out of range"))),
    }
}

fn value_ty(f: &Function, v: Value) -> Type {
    if f.dfg.value_is_valid(v) {
        f.dfg.value_type(v)
    } else {
        Type::INVALID
    }
}

fn int_bits(v: &DataValue) -> Result<u128, InterpError> {
    match v {
        DataValue::I8(_)
        | DataValue::I16(_)
        | DataValue::I32(_)
        | DataValue::I64(_)
        | DataValue::I128(_) => Ok(bits_of(v)),
        _ => Err(invalid(format!("expected an integer, got {v:?}"))),
    }
}

impl Interpreter<'_> {
    pub(crate) fn run(
        &mut self,
        index: u32,
        args: &[DataValue],
    ) -> Result<Vec<DataValue>, InterpError> {
        self.frames.clear();
        self.live_values = 0;
        self.mem.clear();
        let f = self.funcs[index as usize];
        let sig = &f.signature;
        if args.len() != sig.params.len() {
            return Err(InterpError::BadArguments(format!(
                "{} expects {} arguments, got {}",
                f.name,
                sig.params.len(),
                args.len()
            )));
        }
        for (i, (a, p)) in args.iter().zip(&sig.params).enumerate() {
            if !fits_type(a, p.value_type) {
                return Err(InterpError::BadArguments(format!(
                    "argument {i} of {}: expected {}, got {a:?}",
                    f.name, p.value_type
                )));
            }
        }
        let frame = self.enter(index, args)?;
        self.frames.push(frame);
        loop {
            if self.fuel_left == 0 {
                return Err(InterpError::OutOfFuel);
            }
            self.fuel_left -= 1;
            let top = self.frames.len() - 1;
            match self.step(top)? {
                Control::Next => {
                    let fr = &mut self.frames[top];
                    let f = self.funcs[fr.func as usize];
                    fr.inst = f.layout.next_inst(fr.inst).ok_or_else(|| {
                        invalid(format!("block ends without a terminator at {}", fr.inst))
                    })?;
                }
                Control::Jumped => {}
                Control::Call { callee, tail } => {
                    let args = std::mem::take(&mut self.pending);
                    if tail {
                        let fr = self.frames.pop().ok_or_else(|| invalid("no frame"))?;
                        self.leave(fr);
                    } else if self.frames.len() >= self.config.max_call_depth {
                        return Err(InterpError::StackOverflow);
                    }
                    let frame = self.enter(callee, &args)?;
                    self.frames.push(frame);
                }
                Control::Return => {
                    let vals = std::mem::take(&mut self.pending);
                    let fr = self.frames.pop().ok_or_else(|| invalid("no frame"))?;
                    self.leave(fr);
                    match self.frames.last_mut() {
                        None => return Ok(vals.into_vec()),
                        Some(_) => self.resume_after_call(&vals)?,
                    }
                }
            }
        }
    }

    /// Releases a finished frame's memory and keeps its value vector.
    fn leave(&mut self, fr: Frame) {
        self.mem.release(fr.mem_mark);
        self.live_values -= fr.values.len();
        if self.spare.len() < 64 {
            self.spare.push(fr.values);
        }
    }

    /// Builds the frame of a call to function `index` with `args`.
    fn enter(&mut self, index: u32, args: &[DataValue]) -> Result<Frame, InterpError> {
        let f = *self
            .funcs
            .get(index as usize)
            .ok_or_else(|| InterpError::UnknownFunction(format!("#{index}")))?;
        let entry = f
            .layout
            .entry_block()
            .ok_or_else(|| invalid(format!("{} has no entry block", f.name)))?;
        let params = f.dfg.block_params(entry);
        if params.len() != args.len() {
            return Err(InterpError::BadArguments(format!(
                "{} takes {} arguments, got {}",
                f.name,
                params.len(),
                args.len()
            )));
        }
        // The frames' value slots count against the memory limit too, so a
        // deep recursion of a large function stops with a stack overflow
        // instead of exhausting host memory.
        let n = f.dfg.num_values();
        let bytes = (self.live_values + n).saturating_mul(std::mem::size_of::<DataValue>());
        if bytes > self.config.memory_limit {
            return Err(InterpError::StackOverflow);
        }
        let mut values = self.spare.pop().unwrap_or_default();
        values.clear();
        values.resize(n, DataValue::I8(0));
        self.live_values += n;
        let mem_mark = self.mem.mark();
        let mut slots = SmallVec::new();
        for (_, ss) in f.sized_stack_slots.iter() {
            if ss.kind != StackSlotKind::ExplicitSlot {
                return Err(unsupported("dynamic stack slots"));
            }
            slots.push(self.mem.alloc(ss.size as u64)?);
        }
        let vmctx = f
            .signature
            .special_param_index(ArgumentPurpose::VMContext)
            .and_then(|i| args.get(i).copied());
        let inst = f
            .layout
            .first_inst(entry)
            .ok_or_else(|| invalid(format!("{entry} is empty")))?;
        let mut fr = Frame {
            func: index,
            values,
            inst,
            mem_mark,
            slots,
            vmctx,
            aliases: self.aliases.get(index as usize).cloned().flatten(),
        };
        for (&p, &a) in params.iter().zip(args) {
            set(&mut fr, p, a)?;
        }
        Ok(fr)
    }

    /// Delivers the results of a returned call to the caller on top of the
    /// stack and moves it past the call.
    fn resume_after_call(&mut self, vals: &[DataValue]) -> Result<(), InterpError> {
        let top = self.frames.len() - 1;
        let fr = &mut self.frames[top];
        let f = self.funcs[fr.func as usize];
        let inst = fr.inst;
        match f.dfg.insts[inst] {
            InstructionData::TryCall { exception, .. }
            | InstructionData::TryCallIndirect { exception, .. } => {
                let table = f
                    .dfg
                    .exception_tables
                    .get(exception)
                    .ok_or_else(|| invalid("bad exception table"))?;
                let dest = *table
                    .targets
                    .first()
                    .ok_or_else(|| invalid("try_call without a normal return"))?;
                jump(f, fr, dest, vals)
            }
            _ => {
                let results = f.dfg.inst_results(inst);
                if results.len() != vals.len() {
                    return Err(invalid(format!(
                        "{inst} expects {} results, callee returned {}",
                        results.len(),
                        vals.len()
                    )));
                }
                for (&r, &v) in results.iter().zip(vals) {
                    set(fr, r, v)?;
                }
                fr.inst = f
                    .layout
                    .next_inst(inst)
                    .ok_or_else(|| invalid(format!("block ends after call {inst}")))?;
                Ok(())
            }
        }
    }

    /// Executes the current instruction of frame `top`.
    fn step(&mut self, top: usize) -> Result<Control, InterpError> {
        let fidx = self.frames[top].func as usize;
        let f = self.funcs[fidx];
        let fr = &mut self.frames[top];
        let inst = fr.inst;
        let data = f
            .dfg
            .insts
            .get(inst)
            .copied()
            .ok_or_else(|| invalid(format!("{inst} out of range")))?;
        let op = data.opcode();
        let dfg = &f.dfg;
        use InstructionData as D;
        // Fast paths: the commonest scalar integer ops on i32/i64.
        match data {
            D::Binary { args, .. } => {
                if let Some(v) = fast_binary(op, get(fr, args[0])?, get(fr, args[1])?) {
                    set(fr, first_result(f, inst)?, v)?;
                    return Ok(Control::Next);
                }
            }
            D::IntCompare { cond, args, .. } => {
                let c = match (get(fr, args[0])?, get(fr, args[1])?) {
                    (DataValue::I64(x), DataValue::I64(y)) => {
                        Some(icmp(cond, x as u64 as u128, y as u64 as u128, 64))
                    }
                    (DataValue::I32(x), DataValue::I32(y)) => {
                        Some(icmp(cond, x as u32 as u128, y as u32 as u128, 32))
                    }
                    _ => None,
                };
                if let Some(c) = c {
                    set(fr, first_result(f, inst)?, DataValue::I8(c as i8))?;
                    return Ok(Control::Next);
                }
            }
            D::UnaryImm { imm, .. } => {
                let r = first_result(f, inst)?;
                let v = match value_ty(f, r) {
                    Type::I64 => DataValue::I64(imm.0),
                    Type::I32 => DataValue::I32(imm.0 as i32),
                    ty => from_bits(ty, imm.0 as i128 as u128)?,
                };
                set(fr, r, v)?;
                return Ok(Control::Next);
            }
            _ => {}
        }
        match data {
            D::Jump { destination, .. } => {
                jump(f, fr, destination, &[])?;
                return Ok(Control::Jumped);
            }
            D::Brif { arg, blocks, .. } => {
                let c = truthy(&get(fr, arg)?);
                jump(f, fr, if c { blocks[0] } else { blocks[1] }, &[])?;
                return Ok(Control::Jumped);
            }
            D::BranchTable { arg, table, .. } => {
                let i = bits_of(&get(fr, arg)?) as u32 as usize;
                let jt = dfg
                    .jump_tables
                    .get(table)
                    .ok_or_else(|| invalid(format!("{table} out of range")))?;
                let dest = match jt.entries.get(1 + i) {
                    Some(d) => *d,
                    None => *jt
                        .entries
                        .first()
                        .ok_or_else(|| invalid("empty jump table"))?,
                };
                jump(f, fr, dest, &[])?;
                return Ok(Control::Jumped);
            }
            D::MultiAry { args, .. } if op == Opcode::Return => {
                let mut vals = Vals::new();
                for &v in dfg.value_lists.get(args) {
                    vals.push(get(fr, v)?);
                }
                self.pending = vals;
                return Ok(Control::Return);
            }
            D::Trap { code, .. } => return Err(InterpError::Trap(code)),
            D::CondTrap { arg, code, .. } => {
                let c = truthy(&get(fr, arg)?);
                if (op == Opcode::Trapz) != c {
                    return Err(InterpError::Trap(code));
                }
                return Ok(Control::Next);
            }
            D::Call { func_ref, args, .. } | D::TryCall { func_ref, args, .. } => {
                let mut vals = Vals::new();
                for &v in dfg.value_lists.get(args) {
                    vals.push(get(fr, v)?);
                }
                let callee = self.callees[fidx]
                    .get(func_ref.index())
                    .cloned()
                    .ok_or_else(|| invalid(format!("{func_ref} out of range")))?;
                let tail = op == Opcode::ReturnCall;
                return match callee {
                    Callee::Func(i) => {
                        self.pending = vals;
                        Ok(Control::Call { callee: i, tail })
                    }
                    Callee::Lib(l) => {
                        let out = libcall(l, &vals)?;
                        if tail {
                            self.pending = out;
                            Ok(Control::Return)
                        } else {
                            self.resume_after_call(&out)?;
                            Ok(Control::Jumped)
                        }
                    }
                    Callee::Unknown(n) => Err(InterpError::UnknownFunction(n)),
                };
            }
            D::CallIndirect { args, .. } | D::TryCallIndirect { args, .. } => {
                let list = dfg.value_lists.get(args);
                let (&callee_v, rest) = list
                    .split_first()
                    .ok_or_else(|| invalid("call_indirect without a callee"))?;
                let callee_val = get(fr, callee_v)?;
                let mut vals = Vals::new();
                for &v in rest {
                    vals.push(get(fr, v)?);
                }
                let bits = value_ty(f, callee_v).bits();
                let tail = op == Opcode::ReturnCallIndirect;
                return match Memory::decode(bits_of(&callee_val), bits) {
                    Target::Func(i) if (i as usize) < self.funcs.len() => {
                        self.pending = vals;
                        Ok(Control::Call { callee: i, tail })
                    }
                    Target::Func(i) => {
                        // Library routines are addressed past the function set.
                        let l = LibCall::ALL
                            .get(i as usize - self.funcs.len())
                            .copied()
                            .ok_or(InterpError::Trap(TrapCode::HEAP_OUT_OF_BOUNDS))?;
                        let out = libcall(l, &vals)?;
                        if tail {
                            self.pending = out;
                            Ok(Control::Return)
                        } else {
                            self.resume_after_call(&out)?;
                            Ok(Control::Jumped)
                        }
                    }
                    // Calling something that is not a function.
                    _ => Err(InterpError::Trap(TrapCode::HEAP_OUT_OF_BOUNDS)),
                };
            }
            D::FuncAddr { func_ref, .. } => {
                let r = first_result(f, inst)?;
                let ty = value_ty(f, r);
                let idx = match self.callees[fidx].get(func_ref.index()) {
                    Some(Callee::Func(i)) => *i,
                    Some(Callee::Lib(l)) => {
                        let pos = LibCall::ALL.iter().position(|x| x == l).unwrap_or(0);
                        (self.funcs.len() + pos) as u32
                    }
                    Some(Callee::Unknown(n)) => {
                        return Err(InterpError::UnknownFunction(n.clone()))
                    }
                    None => return Err(invalid(format!("{func_ref} out of range"))),
                };
                let p = Memory::func_pointer(idx, ty)?;
                set(fr, r, from_bits(ty, p)?)?;
                return Ok(Control::Next);
            }
            _ => {}
        }

        let results = dfg.inst_results(inst);
        match data {
            D::Load {
                flags, arg, offset, ..
            } => {
                let r = first_result(f, inst)?;
                let ty = value_ty(f, r);
                let (addr, abits) = effective(f, fr, arg, offset.0)?;
                let v = load(&self.mem, op, ty, addr, abits, flags)?;
                set(fr, r, v)?;
            }
            D::Store {
                flags,
                args,
                offset,
                ..
            } => {
                let v = get(fr, args[0])?;
                let ty = value_ty(f, args[0]);
                let (addr, abits) = effective(f, fr, args[1], offset.0)?;
                store(&mut self.mem, op, ty, v, addr, abits, flags)?;
            }
            D::LoadNoOffset { flags, arg, .. } if op == Opcode::AtomicLoad => {
                let r = first_result(f, inst)?;
                let ty = value_ty(f, r);
                let (addr, abits) = effective(f, fr, arg, 0)?;
                let v = load(&self.mem, Opcode::Load, ty, addr, abits, flags)?;
                set(fr, r, v)?;
            }
            D::StoreNoOffset { flags, args, .. } => {
                let v = get(fr, args[0])?;
                let ty = value_ty(f, args[0]);
                let (addr, abits) = effective(f, fr, args[1], 0)?;
                store(&mut self.mem, Opcode::Store, ty, v, addr, abits, flags)?;
            }
            D::AtomicRmw {
                flags,
                op: rmw,
                args,
                ..
            } => {
                let r = first_result(f, inst)?;
                let ty = value_ty(f, r);
                let (addr, abits) = effective(f, fr, args[0], 0)?;
                let old = load(&self.mem, Opcode::Load, ty, addr, abits, flags)?;
                let x = int_bits(&old)?;
                let y = int_bits(&get(fr, args[1])?)?;
                let w = ty.bits();
                let new = match rmw {
                    AtomicRmwOp::Add => x.wrapping_add(y),
                    AtomicRmwOp::Sub => x.wrapping_sub(y),
                    AtomicRmwOp::And => x & y,
                    AtomicRmwOp::Nand => !(x & y),
                    AtomicRmwOp::Or => x | y,
                    AtomicRmwOp::Xor => x ^ y,
                    AtomicRmwOp::Xchg => y,
                    AtomicRmwOp::Umin => x.min(y),
                    AtomicRmwOp::Umax => x.max(y),
                    AtomicRmwOp::Smin => sext(x, w).min(sext(y, w)) as u128,
                    AtomicRmwOp::Smax => sext(x, w).max(sext(y, w)) as u128,
                };
                let nv = from_bits(ty, new)?;
                store(&mut self.mem, Opcode::Store, ty, nv, addr, abits, flags)?;
                set(fr, r, old)?;
            }
            D::AtomicCas { flags, args, .. } => {
                let r = first_result(f, inst)?;
                let ty = value_ty(f, r);
                let (addr, abits) = effective(f, fr, args[0], 0)?;
                let old = load(&self.mem, Opcode::Load, ty, addr, abits, flags)?;
                let expected = get(fr, args[1])?;
                if bits_of(&old) == bits_of(&expected) {
                    let nv = get(fr, args[2])?;
                    store(&mut self.mem, Opcode::Store, ty, nv, addr, abits, flags)?;
                }
                set(fr, r, old)?;
            }
            D::StackLoad {
                stack_slot, offset, ..
            } => {
                // stack_addr
                let r = first_result(f, inst)?;
                let ty = value_ty(f, r);
                let key = *fr
                    .slots
                    .get(stack_slot.index())
                    .ok_or_else(|| invalid(format!("{stack_slot} out of range")))?;
                let p = Memory::make_pointer(key, offset.0 as i64, ty)?;
                set(fr, r, from_bits(ty, p)?)?;
            }
            D::DynamicStackLoad { .. } => return Err(unsupported("dynamic_stack_addr")),
            D::UnaryGlobalValue { global_value, .. } => {
                if op == Opcode::TlsValue {
                    return Err(unsupported("tls_value"));
                }
                let r = first_result(f, inst)?;
                let v = self.global_value(f, top, global_value, 0)?;
                let fr = &mut self.frames[top];
                set(fr, r, v)?;
            }
            D::NullAry { .. } => match op {
                Opcode::Nop | Opcode::Fence | Opcode::Debugtrap | Opcode::SequencePoint => {}
                Opcode::GetPinnedReg => {
                    let r = first_result(f, inst)?;
                    let ty = value_ty(f, r);
                    set(fr, r, from_bits(ty, self.pinned_reg)?)?;
                }
                Opcode::GetFramePointer | Opcode::GetStackPointer | Opcode::GetReturnAddress => {
                    let r = first_result(f, inst)?;
                    let ty = value_ty(f, r);
                    // Opaque, distinct per frame; not dereferenceable.
                    let mut p = Memory::frame_pointer(top as u32, ty);
                    if op == Opcode::GetStackPointer {
                        p = p.wrapping_add(0x10);
                    } else if op == Opcode::GetReturnAddress {
                        p = Memory::frame_pointer(top.wrapping_sub(1) as u32, ty) | 0x8;
                    }
                    set(fr, r, from_bits(ty, p)?)?;
                }
                _ => return Err(unsupported(op.name())),
            },
            D::Unary { arg, .. } if op == Opcode::SetPinnedReg => {
                self.pinned_reg = bits_of(&get(fr, arg)?);
            }
            D::Binary { args, .. }
                if matches!(
                    op,
                    Opcode::UaddOverflow
                        | Opcode::SaddOverflow
                        | Opcode::UsubOverflow
                        | Opcode::SsubOverflow
                        | Opcode::UmulOverflow
                        | Opcode::SmulOverflow
                ) =>
            {
                let ty = int_scalar(value_ty(f, args[0]), op)?;
                let x = int_bits(&get(fr, args[0])?)?;
                let y = int_bits(&get(fr, args[1])?)?;
                let (r, o) = overflow_op(op, ty.bits(), x, y, false);
                set_two(fr, results, from_bits(ty, r)?, DataValue::I8(o as i8))?;
            }
            D::Ternary { args, .. }
                if matches!(
                    op,
                    Opcode::UaddOverflowCin
                        | Opcode::SaddOverflowCin
                        | Opcode::UsubOverflowBin
                        | Opcode::SsubOverflowBin
                ) =>
            {
                let ty = int_scalar(value_ty(f, args[0]), op)?;
                let x = int_bits(&get(fr, args[0])?)?;
                let y = int_bits(&get(fr, args[1])?)?;
                let c = truthy(&get(fr, args[2])?);
                let (r, o) = overflow_op(op, ty.bits(), x, y, c);
                set_two(fr, results, from_bits(ty, r)?, DataValue::I8(o as i8))?;
            }
            D::IntAddTrap { args, code, .. } => {
                let ty = int_scalar(value_ty(f, args[0]), op)?;
                let x = int_bits(&get(fr, args[0])?)?;
                let y = int_bits(&get(fr, args[1])?)?;
                let (r, o) = overflow_op(Opcode::UaddOverflow, ty.bits(), x, y, false);
                if o {
                    return Err(InterpError::Trap(code));
                }
                let res = first_result(f, inst)?;
                set(fr, res, from_bits(ty, r)?)?;
            }
            D::Unary { arg, .. } if op == Opcode::Isplit => {
                let ty = value_ty(f, arg);
                let half = ty
                    .half_width()
                    .ok_or_else(|| unsupported_ty("isplit", ty))?;
                let x = int_bits(&get(fr, arg)?)?;
                let w = half.bits();
                set_two(fr, results, from_bits(half, x)?, from_bits(half, x >> w)?)?;
            }
            _ => {
                // Everything else: a pure instruction with one result.
                let r = first_result(f, inst)?;
                let ty = value_ty(f, r);
                let v = eval_pure(f, fr, &data, ty)?;
                set(fr, r, v)?;
            }
        }
        Ok(Control::Next)
    }

    fn global_value(
        &self,
        f: &Function,
        top: usize,
        gv: GlobalValue,
        depth: u32,
    ) -> Result<DataValue, InterpError> {
        if depth > 64 {
            return Err(invalid("global value chain too deep"));
        }
        let data = f
            .global_values
            .get(gv)
            .ok_or_else(|| invalid(format!("{gv} out of range")))?;
        match data {
            GlobalValueData::VMContext => self.frames[top]
                .vmctx
                .ok_or_else(|| invalid("vmctx global value without a vmctx parameter")),
            GlobalValueData::Load {
                base,
                offset,
                global_type,
                flags,
            } => {
                let b = self.global_value(f, top, *base, depth + 1)?;
                let abits = b.ty().bits();
                let addr = bits_of(&b).wrapping_add(offset.0 as i128 as u128) & mask(abits);
                load(&self.mem, Opcode::Load, *global_type, addr, abits, *flags)
            }
            GlobalValueData::IAddImm {
                base,
                offset,
                global_type,
            } => {
                let b = self.global_value(f, top, *base, depth + 1)?;
                from_bits(
                    *global_type,
                    bits_of(&b).wrapping_add(offset.0 as i128 as u128),
                )
            }
            GlobalValueData::Symbol {
                name, offset, tls, ..
            } => {
                if *tls {
                    return Err(unsupported("tls symbols"));
                }
                let ty = Type::I64;
                let idx = match crate::resolve_callee(f, name, &self.by_name) {
                    Callee::Func(i) => i,
                    _ => return Err(unsupported(format!("symbol_value of {name:?}"))),
                };
                let p = Memory::func_pointer(idx, ty)?;
                from_bits(ty, p.wrapping_add(offset.0 as i128 as u128))
            }
            GlobalValueData::DynScaleTargetConst { .. } => {
                Err(unsupported("dyn_scale_target_const"))
            }
        }
    }
}

/// The result of a common binary op on two i64 or two i32 values, if the
/// fast path applies (the general path computes the same thing).
#[inline]
fn fast_binary(op: Opcode, a: DataValue, b: DataValue) -> Option<DataValue> {
    use DataValue::{I32, I64};
    Some(match (a, b) {
        (I64(x), I64(y)) => I64(match op {
            Opcode::Iadd => x.wrapping_add(y),
            Opcode::Isub => x.wrapping_sub(y),
            Opcode::Imul => x.wrapping_mul(y),
            Opcode::Band => x & y,
            Opcode::Bor => x | y,
            Opcode::Bxor => x ^ y,
            Opcode::Ishl => x.wrapping_shl(y as u32),
            Opcode::Ushr => (x as u64).wrapping_shr(y as u32) as i64,
            Opcode::Sshr => x.wrapping_shr(y as u32),
            _ => return None,
        }),
        (I32(x), I32(y)) => I32(match op {
            Opcode::Iadd => x.wrapping_add(y),
            Opcode::Isub => x.wrapping_sub(y),
            Opcode::Imul => x.wrapping_mul(y),
            Opcode::Band => x & y,
            Opcode::Bor => x | y,
            Opcode::Bxor => x ^ y,
            Opcode::Ishl => x.wrapping_shl(y as u32),
            Opcode::Ushr => (x as u32).wrapping_shr(y as u32) as i32,
            Opcode::Sshr => x.wrapping_shr(y as u32),
            _ => return None,
        }),
        _ => return None,
    })
}

/// `ty` if it is a scalar integer type (what the verifier would require).
fn int_scalar(ty: Type, op: Opcode) -> Result<Type, InterpError> {
    if ty.is_int() && !ty.is_vector() {
        Ok(ty)
    } else {
        Err(unsupported_ty(op.name(), ty))
    }
}

fn first_result(f: &Function, inst: Inst) -> Result<Value, InterpError> {
    f.dfg
        .first_result(inst)
        .ok_or_else(|| invalid(format!("{inst} has no result")))
}

fn set_two(
    fr: &mut Frame,
    results: &[Value],
    a: DataValue,
    b: DataValue,
) -> Result<(), InterpError> {
    match results {
        [r0, r1, ..] => {
            set(fr, *r0, a)?;
            set(fr, *r1, b)
        }
        _ => Err(invalid("instruction lacks its two results")),
    }
}

/// Takes a branch: binds the block call's arguments (`extra` supplies
/// `retN` values of a `try_call`) to the destination's parameters.
fn jump(
    f: &Function,
    fr: &mut Frame,
    dest: BlockCall,
    extra: &[DataValue],
) -> Result<(), InterpError> {
    let block: Block = dest.block;
    if !f.dfg.block_is_valid(block) {
        return Err(invalid(format!("{block} out of range")));
    }
    let args = f.dfg.block_call_args(dest);
    let params = f.dfg.block_params(block);
    if args.len() != params.len() {
        return Err(invalid(format!(
            "{block} takes {} arguments, branch passes {}",
            params.len(),
            args.len()
        )));
    }
    // Read all arguments before writing any parameter (parallel copy).
    let mut vals: SmallVec<[DataValue; 8]> = SmallVec::new();
    for a in args {
        vals.push(match *a {
            BlockArg::Value(v) => get(fr, v)?,
            BlockArg::TryCallRet(n) => *extra
                .get(n as usize)
                .ok_or_else(|| invalid(format!("ret{n} out of range")))?,
            BlockArg::TryCallExn(_) => return Err(unsupported("exception payloads")),
        });
    }
    for (&p, v) in params.iter().zip(vals.iter()) {
        set(fr, p, *v)?;
    }
    fr.inst = f
        .layout
        .first_inst(block)
        .ok_or_else(|| invalid(format!("{block} is empty or not in the layout")))?;
    Ok(())
}

/// `address + offset`, wrapping in the address's width.
fn effective(
    f: &Function,
    fr: &Frame,
    addr: Value,
    offset: i32,
) -> Result<(u128, u32), InterpError> {
    let a = get(fr, addr)?;
    let bits = match value_ty(f, addr) {
        Type::I32 => 32,
        Type::I64 => 64,
        t => return Err(unsupported_ty("addresses", t)),
    };
    Ok((
        bits_of(&a).wrapping_add(offset as i128 as u128) & mask(bits),
        bits,
    ))
}

fn endianness(flags: MemFlags) -> Endianness {
    flags.explicit_endianness().unwrap_or(Endianness::Little)
}

fn access_code(flags: MemFlags) -> TrapCode {
    flags.trap_code().unwrap_or(TrapCode::HEAP_OUT_OF_BOUNDS)
}

/// Reads a value of type `ty` (vectors lane by lane in the access's byte
/// order, lanes in index order).
fn read_typed(
    mem: &Memory,
    ty: Type,
    addr: u128,
    abits: u32,
    flags: MemFlags,
) -> Result<u128, InterpError> {
    let e = endianness(flags);
    let code = access_code(flags);
    if ty.is_vector() {
        if ty.bits() > 128 {
            return Err(unsupported_ty("load", ty));
        }
        let lb = ty.lane_bits() / 8;
        let mut lanes = Lanes::new();
        for i in 0..ty.lane_count() {
            let a = addr.wrapping_add((i * lb) as u128) & mask(abits);
            lanes.push(mem.read(a, abits, lb, e, code)?);
        }
        Ok(join_lanes(&lanes, ty))
    } else {
        mem.read(addr, abits, ty.bytes(), e, code)
    }
}

fn write_typed(
    mem: &mut Memory,
    ty: Type,
    bits: u128,
    addr: u128,
    abits: u32,
    flags: MemFlags,
) -> Result<(), InterpError> {
    let e = endianness(flags);
    let code = access_code(flags);
    if ty.is_vector() {
        if ty.bits() > 128 {
            return Err(unsupported_ty("store", ty));
        }
        let lb = ty.lane_bits() / 8;
        // Check the whole range first so a faulting store writes nothing.
        mem.read(addr, abits, ty.bytes(), e, code)?;
        for (i, lane) in split_lanes(bits, ty).into_iter().enumerate() {
            let a = addr.wrapping_add((i as u32 * lb) as u128) & mask(abits);
            mem.write(a, abits, lb, lane, e, code)?;
        }
        Ok(())
    } else {
        mem.write(addr, abits, ty.bytes(), bits, e, code)
    }
}

fn load(
    mem: &Memory,
    op: Opcode,
    ty: Type,
    addr: u128,
    abits: u32,
    flags: MemFlags,
) -> Result<DataValue, InterpError> {
    let (n, signed) = match op {
        Opcode::Load => return from_bits(ty, read_typed(mem, ty, addr, abits, flags)?),
        Opcode::Uload8 => (8, false),
        Opcode::Sload8 => (8, true),
        Opcode::Uload16 => (16, false),
        Opcode::Sload16 => (16, true),
        Opcode::Uload32 => (32, false),
        Opcode::Sload32 => (32, true),
        Opcode::Uload8x8
        | Opcode::Sload8x8
        | Opcode::Uload16x4
        | Opcode::Sload16x4
        | Opcode::Uload32x2
        | Opcode::Sload32x2 => {
            // Lanes of half the width, each extended.
            let signed = matches!(op, Opcode::Sload8x8 | Opcode::Sload16x4 | Opcode::Sload32x2);
            let narrow = ty
                .half_width()
                .filter(|t| t.is_int() && ty.bits() == 128)
                .ok_or_else(|| unsupported(format!("{op} on {ty}")))?;
            let raw = split_lanes(read_typed(mem, narrow, addr, abits, flags)?, narrow);
            let nw = narrow.lane_bits();
            let lanes: Lanes = raw
                .iter()
                .take(ty.lane_count() as usize)
                .map(|&l| if signed { sext(l, nw) as u128 } else { l })
                .collect();
            return from_bits(ty, join_lanes(&lanes, ty));
        }
        _ => return Err(unsupported(format!("{op} on {ty}"))),
    };
    let narrow = Type::int(n).ok_or_else(|| invalid("bad width"))?;
    let raw = read_typed(mem, narrow, addr, abits, flags)?;
    let v = if signed { sext(raw, n) as u128 } else { raw };
    from_bits(ty, v)
}

fn store(
    mem: &mut Memory,
    op: Opcode,
    ty: Type,
    v: DataValue,
    addr: u128,
    abits: u32,
    flags: MemFlags,
) -> Result<(), InterpError> {
    let bits = bits_of(&v);
    let sty = match op {
        Opcode::Store => ty,
        Opcode::Istore8 => Type::I8,
        Opcode::Istore16 => Type::I16,
        Opcode::Istore32 => Type::I32,
        _ => return Err(unsupported(format!("{op} on {ty}"))),
    };
    if sty.is_invalid() {
        return Err(invalid("store of a value without a type"));
    }
    write_typed(mem, sty, bits & mask(sty.bits()), addr, abits, flags)
}

/// The runtime-library routines the interpreter provides.
fn libcall(l: LibCall, args: &[DataValue]) -> Result<Vals, InterpError> {
    let (op, ty) = match l {
        LibCall::CeilF32 => (Opcode::Ceil, Type::F32),
        LibCall::CeilF64 => (Opcode::Ceil, Type::F64),
        LibCall::FloorF32 => (Opcode::Floor, Type::F32),
        LibCall::FloorF64 => (Opcode::Floor, Type::F64),
        LibCall::TruncF32 => (Opcode::Trunc, Type::F32),
        LibCall::TruncF64 => (Opcode::Trunc, Type::F64),
        LibCall::NearestF32 => (Opcode::Nearest, Type::F32),
        LibCall::NearestF64 => (Opcode::Nearest, Type::F64),
        LibCall::FmaF32 => (Opcode::Fma, Type::F32),
        LibCall::FmaF64 => (Opcode::Fma, Type::F64),
        other => return Err(unsupported(format!("libcall {}", other.as_str()))),
    };
    let want = if op == Opcode::Fma { 3 } else { 1 };
    if args.len() != want || args.iter().any(|a| a.ty() != ty) {
        return Err(InterpError::BadArguments(format!(
            "libcall {} arguments",
            l.as_str()
        )));
    }
    let bits: SmallVec<[u128; 3]> = args.iter().map(bits_of).collect();
    let r = ops::float_op(op, ty, &bits)?;
    Ok(smallvec::smallvec![from_bits(ty, r)?])
}

/// Applies a lane operation to every lane of the vector operands (or once
/// for scalars). `scalar_args` marks operands that are scalars even when the
/// controlling type is a vector (shift amounts).
fn lanewise(
    ty: Type,
    args: &[(u128, bool)],
    mut op: impl FnMut(&[u128]) -> Result<u128, InterpError>,
) -> Result<u128, InterpError> {
    if !ty.is_vector() {
        let mut a = [0u128; 3];
        let n = args.len().min(3);
        for (slot, x) in a.iter_mut().zip(args) {
            *slot = x.0;
        }
        return op(&a[..n]);
    }
    if ty.bits() > 128 {
        return Err(unsupported_ty("vector operation", ty));
    }
    let split: SmallVec<[Lanes; 3]> = args
        .iter()
        .map(|&(b, scalar)| {
            if scalar {
                Lanes::new()
            } else {
                split_lanes(b, ty)
            }
        })
        .collect();
    let mut out = Lanes::new();
    for i in 0..ty.lane_count() as usize {
        let a: SmallVec<[u128; 3]> = args
            .iter()
            .zip(&split)
            .map(|(&(b, scalar), l)| if scalar { b } else { l[i] })
            .collect();
        out.push(op(&a)?);
    }
    Ok(join_lanes(&out, ty))
}

/// Evaluates a pure instruction with one result of type `ty`.
fn eval_pure(
    f: &Function,
    fr: &Frame,
    data: &InstructionData,
    ty: Type,
) -> Result<DataValue, InterpError> {
    use InstructionData as D;
    let op = data.opcode();
    let dfg = &f.dfg;
    // Every type involved must be a real type: lane widths below are then
    // at least 8 bits.
    if ty.is_invalid() || ty.is_dynamic_vector() {
        return Err(unsupported_ty(op.name(), ty));
    }
    for &a in data.arguments(&dfg.value_lists) {
        let t = value_ty(f, a);
        if t.is_invalid() || t.is_dynamic_vector() {
            return Err(invalid(format!("{op}: operand {a} has no type")));
        }
    }
    let arg = |v: Value| -> Result<u128, InterpError> { Ok(bits_of(&get(fr, v)?)) };
    let bits: u128 = match *data {
        D::UnaryImm { imm, .. } => imm.0 as i128 as u128,
        D::UnaryIeee16 { imm, .. } => imm.0 as u128,
        D::UnaryIeee32 { imm, .. } => imm.0 as u128,
        D::UnaryIeee64 { imm, .. } => imm.0 as u128,
        D::UnaryConst { constant, .. } => {
            let c = dfg
                .constants
                .get(constant)
                .ok_or_else(|| invalid(format!("{constant} out of range")))?;
            let bytes = c.as_slice();
            if bytes.len() > 16 {
                return Err(unsupported_ty("constants", ty));
            }
            let mut b = [0u8; 16];
            b[..bytes.len()].copy_from_slice(bytes);
            u128::from_le_bytes(b)
        }
        D::Unary { arg: a, .. } => {
            let aty = value_ty(f, a);
            let x = arg(a)?;
            unary(op, ty, aty, x)?
        }
        D::Binary { args, .. } => {
            let aty = value_ty(f, args[0]);
            let (x, y) = (arg(args[0])?, arg(args[1])?);
            binary(op, ty, aty, x, y)?
        }
        D::Ternary { args, .. } => {
            let (c, x, y) = (arg(args[0])?, arg(args[1])?, arg(args[2])?);
            match op {
                Opcode::Select | Opcode::SelectSpectreGuard => {
                    if c != 0 {
                        x
                    } else {
                        y
                    }
                }
                Opcode::Bitselect => (c & x) | (!c & y),
                Opcode::Fma if ty.is_float() => {
                    lanewise(ty, &[(c, false), (x, false), (y, false)], |a| {
                        ops::float_op(op, ty, a)
                    })?
                }
                Opcode::X86Blendv => {
                    // Lane-wise select on the mask's sign bit.
                    let w = ty.lane_bits();
                    lanewise(ty, &[(c, false), (x, false), (y, false)], |a| {
                        Ok(if (a[0] >> (w - 1)) & 1 != 0 {
                            a[1]
                        } else {
                            a[2]
                        })
                    })?
                }
                _ => return Err(unsupported_ty(op.name(), ty)),
            }
        }
        D::IntCompare { cond, args, .. } => {
            let aty = value_ty(f, args[0]);
            let (x, y) = (arg(args[0])?, arg(args[1])?);
            let w = aty.lane_bits();
            let t = if aty.is_vector() { mask(w) } else { 1 };
            lanewise(aty, &[(x, false), (y, false)], |a| {
                Ok(if icmp(cond, a[0], a[1], w) { t } else { 0 })
            })?
        }
        D::FloatCompare { cond, args, .. } => {
            let aty = value_ty(f, args[0]);
            let (x, y) = (arg(args[0])?, arg(args[1])?);
            let t = if aty.is_vector() {
                mask(aty.lane_bits())
            } else {
                1
            };
            lanewise(aty, &[(x, false), (y, false)], |a| {
                Ok(if fcmp(cond, aty, a[0], a[1])? { t } else { 0 })
            })?
        }
        D::LoadNoOffset { flags, arg: a, .. } if op == Opcode::Bitcast => {
            let aty = value_ty(f, a);
            let x = arg(a)?;
            if aty.bits() != ty.bits() {
                return Err(invalid(format!("bitcast from {aty} to {ty}")));
            }
            bitcast(x, aty, ty, endianness(flags))
        }
        D::BinaryImm8 { arg: a, imm, .. } if op == Opcode::Extractlane => {
            let aty = value_ty(f, a);
            let lanes = split_lanes(arg(a)?, aty);
            *lanes
                .get(imm.0 as usize)
                .ok_or_else(|| invalid("lane index out of range"))?
        }
        D::TernaryImm8 { args, imm, .. } if op == Opcode::Insertlane => {
            let mut lanes = split_lanes(arg(args[0])?, ty);
            let slot = lanes
                .get_mut(imm.0 as usize)
                .ok_or_else(|| invalid("lane index out of range"))?;
            *slot = arg(args[1])?;
            join_lanes(&lanes, ty)
        }
        D::Shuffle { args, imm, .. } => {
            let m = dfg
                .immediates
                .get(imm)
                .ok_or_else(|| invalid(format!("{imm} out of range")))?;
            let a = arg(args[0])?.to_le_bytes();
            let b = arg(args[1])?.to_le_bytes();
            let mut out = [0u8; 16];
            for (i, o) in out.iter_mut().enumerate() {
                let k = m.as_slice().get(i).copied().unwrap_or(0xff) as usize;
                *o = if k < 16 {
                    a[k]
                } else if k < 32 {
                    b[k - 16]
                } else {
                    0
                };
            }
            u128::from_le_bytes(out)
        }
        _ => return Err(unsupported_ty(op.name(), ty)),
    };
    from_bits(ty, bits & mask(ty.bits()))
}

fn is_int_lanewise(op: Opcode) -> bool {
    use Opcode::*;
    matches!(
        op,
        Iadd | Isub
            | Ineg
            | Iabs
            | Imul
            | Umulhi
            | Smulhi
            | Udiv
            | Sdiv
            | Urem
            | Srem
            | Smin
            | Umin
            | Smax
            | Umax
            | UaddSat
            | SaddSat
            | UsubSat
            | SsubSat
            | AvgRound
            | SqmulRoundSat
            | Ishl
            | Ushr
            | Sshr
            | Rotl
            | Rotr
            | Clz
            | Cls
            | Ctz
            | Popcnt
            | Bitrev
            | Bswap
    )
}

fn is_float_lanewise(op: Opcode) -> bool {
    use Opcode::*;
    matches!(
        op,
        Fadd | Fsub
            | Fmul
            | Fdiv
            | Sqrt
            | Fneg
            | Fabs
            | Fcopysign
            | Fmin
            | Fmax
            | Ceil
            | Floor
            | Trunc
            | Nearest
    )
}

/// One-operand pure instructions: `ty` is the result type, `aty` the
/// operand's.
fn unary(op: Opcode, ty: Type, aty: Type, x: u128) -> Result<u128, InterpError> {
    if is_int_lanewise(op) && ty.is_int() {
        let w = ty.lane_bits();
        return lanewise(ty, &[(x, false)], |a| int_op(op, w, a));
    }
    if is_float_lanewise(op) && ty.is_float() {
        return lanewise(ty, &[(x, false)], |a| ops::float_op(op, ty, a));
    }
    Ok(match op {
        Opcode::Bnot => !x,
        Opcode::Bmask => {
            if ty.is_vector() || aty.is_vector() {
                if ty.lane_count() != aty.lane_count() {
                    return Err(unsupported_ty("bmask", ty));
                }
                let src = split_lanes(x, aty);
                let lanes: Lanes = src
                    .iter()
                    .map(|&l| if l != 0 { u128::MAX } else { 0 })
                    .collect();
                join_lanes(&lanes, ty)
            } else if x != 0 {
                u128::MAX
            } else {
                0
            }
        }
        Opcode::Uextend | Opcode::Ireduce => {
            if !aty.is_int() || aty.is_vector() || !ty.is_int() {
                return Err(unsupported_ty(op.name(), ty));
            }
            x
        }
        Opcode::Sextend => {
            if !aty.is_int() || aty.is_vector() {
                return Err(unsupported_ty(op.name(), ty));
            }
            sext(x, aty.bits()) as u128
        }
        Opcode::Fpromote | Opcode::Fdemote => {
            if ty.is_vector() {
                return Err(unsupported_ty(op.name(), ty));
            }
            ops::fconvert(aty, ty, x)?
        }
        Opcode::FcvtToUint | Opcode::FcvtToSint | Opcode::FcvtToUintSat | Opcode::FcvtToSintSat => {
            if ty.lane_count() != aty.lane_count() || !aty.is_float() {
                return Err(unsupported_ty(op.name(), ty));
            }
            let w = ty.lane_bits();
            let src = if aty.is_vector() {
                split_lanes(x, aty)
            } else {
                smallvec::smallvec![x]
            };
            let mut out = Lanes::new();
            for l in src {
                out.push(ops::fcvt_to_int(op, aty.lane_type(), l, w)?);
            }
            if ty.is_vector() {
                join_lanes(&out, ty)
            } else {
                out[0]
            }
        }
        Opcode::FcvtFromUint | Opcode::FcvtFromSint => {
            if ty.lane_count() != aty.lane_count() || !aty.is_int() {
                return Err(unsupported_ty(op.name(), ty));
            }
            let signed = op == Opcode::FcvtFromSint;
            let w = aty.lane_bits();
            let src = if aty.is_vector() {
                split_lanes(x, aty)
            } else {
                smallvec::smallvec![x]
            };
            let mut out = Lanes::new();
            for l in src {
                out.push(ops::fcvt_from_int(signed, l, w, ty.lane_type())?);
            }
            if ty.is_vector() {
                join_lanes(&out, ty)
            } else {
                out[0]
            }
        }
        Opcode::Splat => {
            let l = x & mask(ty.lane_bits());
            let lanes: Lanes = (0..ty.lane_count()).map(|_| l).collect();
            join_lanes(&lanes, ty)
        }
        Opcode::ScalarToVector => x & mask(ty.lane_bits()),
        Opcode::VanyTrue => (x != 0) as u128,
        Opcode::VallTrue => split_lanes(x, aty).iter().all(|&l| l != 0) as u128,
        Opcode::VhighBits => {
            let w = aty.lane_bits();
            let mut r = 0u128;
            for (i, l) in split_lanes(x, aty).iter().enumerate() {
                r |= ((l >> (w - 1)) & 1) << i;
            }
            r
        }
        Opcode::SwidenLow | Opcode::SwidenHigh | Opcode::UwidenLow | Opcode::UwidenHigh => {
            let src = split_lanes(x, aty);
            let n = ty.lane_count() as usize;
            if !aty.is_int() || !ty.is_int() || 2 * n != src.len() {
                return Err(unsupported_ty(op.name(), ty));
            }
            let start = if matches!(op, Opcode::SwidenHigh | Opcode::UwidenHigh) {
                n
            } else {
                0
            };
            let signed = matches!(op, Opcode::SwidenLow | Opcode::SwidenHigh);
            let w = aty.lane_bits();
            let out: Lanes = src[start..start + n]
                .iter()
                .map(|&l| if signed { sext(l, w) as u128 } else { l })
                .collect();
            join_lanes(&out, ty)
        }
        Opcode::FcvtLowFromSint => {
            // The low lanes of an integer vector, converted.
            if !aty.is_int() || !ty.is_float() {
                return Err(unsupported_ty(op.name(), ty));
            }
            let src = split_lanes(x, aty);
            let mut out = Lanes::new();
            for i in 0..ty.lane_count() as usize {
                let l = src.get(i).copied().unwrap_or(0);
                out.push(ops::fcvt_from_int(
                    true,
                    l,
                    aty.lane_bits(),
                    ty.lane_type(),
                )?);
            }
            join_lanes(&out, ty)
        }
        Opcode::FvpromoteLow | Opcode::Fvdemote => {
            let src = split_lanes(x, aty);
            let mut out = Lanes::new();
            for i in 0..ty.lane_count() as usize {
                out.push(match src.get(i) {
                    Some(&l) => ops::fconvert(aty.lane_type(), ty.lane_type(), l)?,
                    None => 0,
                });
            }
            join_lanes(&out, ty)
        }
        _ => return Err(unsupported_ty(op.name(), ty)),
    })
}

/// Two-operand pure instructions.
fn binary(op: Opcode, ty: Type, aty: Type, x: u128, y: u128) -> Result<u128, InterpError> {
    if is_int_lanewise(op) && ty.is_int() {
        let w = ty.lane_bits();
        let shift = matches!(
            op,
            Opcode::Ishl | Opcode::Ushr | Opcode::Sshr | Opcode::Rotl | Opcode::Rotr
        );
        return lanewise(ty, &[(x, false), (y, shift)], |a| int_op(op, w, a));
    }
    if is_float_lanewise(op) && ty.is_float() {
        return lanewise(ty, &[(x, false), (y, false)], |a| ops::float_op(op, ty, a));
    }
    Ok(match op {
        Opcode::Band => x & y,
        Opcode::Bor => x | y,
        Opcode::Bxor => x ^ y,
        Opcode::Iconcat if aty.bits() < 128 => {
            let w = aty.bits();
            (x & mask(w)) | (y << w)
        }
        Opcode::Swizzle | Opcode::X86Pshufb => {
            let a = x.to_le_bytes();
            let idx = y.to_le_bytes();
            let mut out = [0u8; 16];
            for (o, &k) in out.iter_mut().zip(&idx) {
                let sel = if op == Opcode::X86Pshufb {
                    if k & 0x80 != 0 {
                        None
                    } else {
                        Some((k & 0xf) as usize)
                    }
                } else if k < 16 {
                    Some(k as usize)
                } else {
                    None
                };
                *o = sel.map_or(0, |k| a[k]);
            }
            u128::from_le_bytes(out)
        }
        Opcode::IaddPairwise if ty.is_int() => {
            let w = ty.lane_bits();
            let (a, b) = (split_lanes(x, ty), split_lanes(y, ty));
            let half = a.len() / 2;
            let mut out = Lanes::new();
            for i in 0..half {
                out.push(a[2 * i].wrapping_add(a[2 * i + 1]) & mask(w));
            }
            for i in 0..half {
                out.push(b[2 * i].wrapping_add(b[2 * i + 1]) & mask(w));
            }
            join_lanes(&out, ty)
        }
        Opcode::Snarrow | Opcode::Unarrow | Opcode::Uunarrow => {
            if !aty.is_int() || !ty.is_int() || ty.lane_bits() >= 128 {
                return Err(unsupported_ty(op.name(), ty));
            }
            let w = aty.lane_bits();
            let nw = ty.lane_bits();
            let mut out = Lanes::new();
            for l in split_lanes(x, aty).into_iter().chain(split_lanes(y, aty)) {
                let (min, max): (i128, i128) = match op {
                    Opcode::Snarrow => (-(1i128 << (nw - 1)), (1i128 << (nw - 1)) - 1),
                    _ => (0, (1i128 << nw) - 1),
                };
                let v = if op == Opcode::Uunarrow {
                    l as i128
                } else {
                    sext(l, w)
                };
                out.push(v.clamp(min, max) as u128 & mask(nw));
            }
            join_lanes(&out, ty)
        }
        _ => return Err(unsupported_ty(op.name(), ty)),
    })
}

/// Reinterprets bits: the value is stored with the given byte order as
/// type `from` and loaded back as type `to`.
fn bitcast(x: u128, from: Type, to: Type, e: Endianness) -> u128 {
    if e == Endianness::Little || (!from.is_vector() && !to.is_vector()) {
        return x;
    }
    // Big-endian image: lanes in index order, each lane most significant
    // byte first.
    let image = |bits: u128, ty: Type| -> SmallVec<[u8; 16]> {
        let lb = (ty.lane_bits() / 8) as usize;
        let mut out = SmallVec::new();
        for l in split_lanes(bits, ty) {
            for i in (0..lb).rev() {
                out.push((l >> (i * 8)) as u8);
            }
        }
        out
    };
    let bytes = image(x, from);
    let lb = (to.lane_bits() / 8) as usize;
    let mut lanes = Lanes::new();
    for chunk in bytes.chunks(lb.max(1)) {
        let mut l = 0u128;
        for &b in chunk {
            l = (l << 8) | b as u128;
        }
        lanes.push(l);
    }
    join_lanes(&lanes, to)
}
