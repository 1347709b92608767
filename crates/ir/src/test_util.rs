//! A tiny test-only function builder over the DFG/layout API.

use crate::*;

pub(crate) struct FB {
    pub func: Function,
    pub cur: Option<Block>,
}

#[allow(dead_code)]
impl FB {
    pub fn new(params: &[Type], returns: &[Type]) -> Self {
        Self::with_conv(params, returns, CallConv::Fast)
    }

    pub fn with_conv(params: &[Type], returns: &[Type], cc: CallConv) -> Self {
        let mut sig = Signature::new(cc);
        sig.params = params.iter().map(|t| AbiParam::new(*t)).collect();
        sig.returns = returns.iter().map(|t| AbiParam::new(*t)).collect();
        FB {
            func: Function::with_name_signature(UserFuncName::testcase("t"), sig),
            cur: None,
        }
    }

    /// Makes a block, appends it to the layout and makes it current.
    pub fn block(&mut self) -> Block {
        let b = self.func.dfg.make_block();
        self.func.layout.append_block(b);
        self.cur = Some(b);
        b
    }

    /// The entry block with parameters matching the signature.
    pub fn entry(&mut self) -> (Block, Vec<Value>) {
        let b = self.block();
        let tys: Vec<Type> = self
            .func
            .signature
            .params
            .iter()
            .map(|p| p.value_type)
            .collect();
        let vs = tys.iter().map(|t| self.param(b, *t)).collect();
        (b, vs)
    }

    pub fn param(&mut self, b: Block, ty: Type) -> Value {
        self.func.dfg.append_block_param(b, ty)
    }

    pub fn switch(&mut self, b: Block) {
        self.cur = Some(b);
    }

    /// Appends an instruction with results made for `ctrl`.
    pub fn ins(&mut self, data: InstructionData, ctrl: Type) -> Inst {
        let inst = self.func.dfg.make_inst(data);
        self.func.dfg.make_inst_results(inst, ctrl);
        self.func.layout.append_inst(inst, self.cur.unwrap());
        inst
    }

    pub fn ins_v(&mut self, data: InstructionData, ctrl: Type) -> Value {
        let i = self.ins(data, ctrl);
        self.func.dfg.first_result(i).unwrap()
    }

    pub fn iconst(&mut self, ty: Type, v: i64) -> Value {
        self.ins_v(
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm: Imm64(v),
            },
            ty,
        )
    }

    pub fn binary(&mut self, op: Opcode, a: Value, b: Value) -> Value {
        let ty = self.func.dfg.value_type(a);
        self.ins_v(
            InstructionData::Binary {
                opcode: op,
                args: [a, b],
            },
            ty,
        )
    }

    pub fn unary(&mut self, op: Opcode, a: Value, ctrl: Type) -> Value {
        self.ins_v(InstructionData::Unary { opcode: op, arg: a }, ctrl)
    }

    pub fn icmp(&mut self, cond: IntCC, a: Value, b: Value) -> Value {
        let ty = self.func.dfg.value_type(a);
        self.ins_v(
            InstructionData::IntCompare {
                opcode: Opcode::Icmp,
                cond,
                args: [a, b],
            },
            ty,
        )
    }

    pub fn jump(&mut self, b: Block, args: &[Value]) -> Inst {
        let destination = self.func.dfg.block_call_values(b, args);
        self.ins(
            InstructionData::Jump {
                opcode: Opcode::Jump,
                destination,
            },
            Type::INVALID,
        )
    }

    pub fn brif(&mut self, c: Value, t: Block, ta: &[Value], e: Block, ea: &[Value]) -> Inst {
        let b0 = self.func.dfg.block_call_values(t, ta);
        let b1 = self.func.dfg.block_call_values(e, ea);
        self.ins(
            InstructionData::Brif {
                opcode: Opcode::Brif,
                arg: c,
                blocks: [b0, b1],
            },
            Type::INVALID,
        )
    }

    pub fn ret(&mut self, vals: &[Value]) -> Inst {
        let args = self.func.dfg.make_value_list(vals);
        self.ins(
            InstructionData::MultiAry {
                opcode: Opcode::Return,
                args,
            },
            Type::INVALID,
        )
    }

    pub fn load(&mut self, ty: Type, flags: MemFlags, addr: Value, off: i32) -> Value {
        self.ins_v(
            InstructionData::Load {
                opcode: Opcode::Load,
                flags,
                arg: addr,
                offset: Offset32(off),
            },
            ty,
        )
    }

    pub fn store(&mut self, flags: MemFlags, val: Value, addr: Value, off: i32) -> Inst {
        self.ins(
            InstructionData::Store {
                opcode: Opcode::Store,
                flags,
                args: [val, addr],
                offset: Offset32(off),
            },
            Type::INVALID,
        )
    }

    pub fn sig(&mut self, params: &[Type], returns: &[Type], cc: CallConv) -> SigRef {
        let mut sig = Signature::new(cc);
        sig.params = params.iter().map(|t| AbiParam::new(*t)).collect();
        sig.returns = returns.iter().map(|t| AbiParam::new(*t)).collect();
        self.func.import_signature(sig)
    }

    pub fn call(&mut self, f: FuncRef, args: &[Value]) -> Inst {
        let args = self.func.dfg.make_value_list(args);
        self.ins(
            InstructionData::Call {
                opcode: Opcode::Call,
                func_ref: f,
                args,
            },
            Type::INVALID,
        )
    }
}
