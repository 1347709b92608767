//! SSA construction against an oracle: random structured programs over a
//! few variables are evaluated directly in Rust and, built through the
//! frontend (sealing early or all at the end), in the interpreter. The
//! results must agree.

use kiln_frontend::{BuildError, FunctionBuilder, FunctionBuilderContext, Variable};
use kiln_interpreter::Interpreter;
use kiln_ir::verifier::verify_function;
use kiln_ir::{
    AbiParam, Block, CallConv, DataValue, Function, IntCC, Opcode, Signature, Type, UserFuncName,
};

const VARS: usize = 5;
/// Variables `0..PARAMS` start as the function's parameters; the others
/// are read before any definition, as zero.
const PARAMS: usize = 3;

#[derive(Debug)]
enum Expr {
    Const(i64),
    Var(usize),
    Bin(Opcode, usize, usize),
}

#[derive(Debug)]
enum Stmt {
    Assign(usize, Expr),
    If(usize, Vec<Stmt>, Vec<Stmt>),
    Loop(u32, Vec<Stmt>),
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn gen_stmts(rng: &mut Rng, depth: usize, budget: &mut usize) -> Vec<Stmt> {
    let mut out = Vec::new();
    for _ in 0..rng.below(5) {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let kind = if depth < 3 { rng.below(6) } else { 0 };
        out.push(match kind {
            0..=2 => {
                let e = match rng.below(3) {
                    0 => Expr::Const(rng.next() as i64 % 100),
                    1 => Expr::Var(rng.below(VARS)),
                    _ => {
                        let op =
                            [Opcode::Iadd, Opcode::Isub, Opcode::Bxor, Opcode::Imul][rng.below(4)];
                        Expr::Bin(op, rng.below(VARS), rng.below(VARS))
                    }
                };
                Stmt::Assign(rng.below(VARS), e)
            }
            3 | 4 => Stmt::If(
                rng.below(VARS),
                gen_stmts(rng, depth + 1, budget),
                gen_stmts(rng, depth + 1, budget),
            ),
            _ => Stmt::Loop(rng.below(4) as u32, gen_stmts(rng, depth + 1, budget)),
        });
    }
    out
}

fn eval(stmts: &[Stmt], vars: &mut [i64; VARS]) {
    for s in stmts {
        match s {
            Stmt::Assign(v, e) => {
                vars[*v] = match *e {
                    Expr::Const(c) => c,
                    Expr::Var(x) => vars[x],
                    Expr::Bin(op, x, y) => {
                        let (a, b) = (vars[x], vars[y]);
                        match op {
                            Opcode::Iadd => a.wrapping_add(b),
                            Opcode::Isub => a.wrapping_sub(b),
                            Opcode::Bxor => a ^ b,
                            _ => a.wrapping_mul(b),
                        }
                    }
                }
            }
            Stmt::If(c, t, e) => {
                if vars[*c] & 1 != 0 {
                    eval(t, vars)
                } else {
                    eval(e, vars)
                }
            }
            Stmt::Loop(n, body) => {
                for _ in 0..*n {
                    eval(body, vars)
                }
            }
        }
    }
}

struct Builder<'a> {
    b: FunctionBuilder<'a>,
    vars: Vec<Variable>,
    seal_early: bool,
    /// Blocks to seal at the end when not sealing early.
    pending: Vec<Block>,
}

impl Builder<'_> {
    fn seal(&mut self, block: Block) -> Result<(), BuildError> {
        if self.seal_early {
            self.b.seal_block(block)
        } else {
            self.pending.push(block);
            Ok(())
        }
    }

    fn stmts(&mut self, stmts: &[Stmt]) -> Result<(), BuildError> {
        for s in stmts {
            match s {
                Stmt::Assign(v, e) => {
                    let val = match *e {
                        Expr::Const(c) => self.b.ins().iconst(Type::I64, c)?,
                        Expr::Var(x) => self.b.use_var(self.vars[x])?,
                        Expr::Bin(op, x, y) => {
                            let a = self.b.use_var(self.vars[x])?;
                            let c = self.b.use_var(self.vars[y])?;
                            self.b.ins().binary(op, a, c)?
                        }
                    };
                    self.b.def_var(self.vars[*v], val)?;
                }
                Stmt::If(c, t, e) => {
                    let cv = self.b.use_var(self.vars[*c])?;
                    let bit = self.b.ins().band_imm(cv, 1)?;
                    let (tb, eb, join) = (
                        self.b.create_block(),
                        self.b.create_block(),
                        self.b.create_block(),
                    );
                    self.b.ins().brif(bit, tb, &[], eb, &[])?;
                    for (block, body) in [(tb, t), (eb, e)] {
                        self.b.switch_to_block(block)?;
                        self.seal(block)?;
                        self.stmts(body)?;
                        self.b.ins().jump(join, &[])?;
                    }
                    self.b.switch_to_block(join)?;
                    self.seal(join)?;
                }
                Stmt::Loop(n, body) => {
                    let counter = self.b.declare_var(Type::I32)?;
                    let zero = self.b.ins().iconst(Type::I32, 0)?;
                    self.b.def_var(counter, zero)?;
                    let (header, bb, exit) = (
                        self.b.create_block(),
                        self.b.create_block(),
                        self.b.create_block(),
                    );
                    self.b.ins().jump(header, &[])?;
                    self.b.switch_to_block(header)?;
                    let i = self.b.use_var(counter)?;
                    let more = self
                        .b
                        .ins()
                        .icmp_imm(IntCC::UnsignedLessThan, i, *n as i64)?;
                    self.b.ins().brif(more, bb, &[], exit, &[])?;
                    self.b.switch_to_block(bb)?;
                    self.seal(bb)?;
                    self.stmts(body)?;
                    let i = self.b.use_var(counter)?;
                    let i = self.b.ins().iadd_imm(i, 1)?;
                    self.b.def_var(counter, i)?;
                    self.b.ins().jump(header, &[])?;
                    self.seal(header)?;
                    self.b.switch_to_block(exit)?;
                    self.seal(exit)?;
                }
            }
        }
        Ok(())
    }
}

fn build(program: &[Stmt], seal_early: bool) -> Result<Function, BuildError> {
    let mut sig = Signature::new(CallConv::SystemV);
    sig.params = vec![AbiParam::new(Type::I64); PARAMS];
    sig.returns = vec![AbiParam::new(Type::I64); VARS];
    let mut func = Function::with_name_signature(UserFuncName::testcase("p"), sig);
    let mut ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut func, &mut ctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry)?;
    let vars: Vec<Variable> = (0..VARS)
        .map(|_| b.declare_var(Type::I64))
        .collect::<Result<_, _>>()?;
    b.switch_to_block(entry)?;
    let params: Vec<_> = b.block_params(entry).to_vec();
    for (v, p) in vars.iter().zip(params) {
        b.def_var(*v, p)?;
    }
    let mut g = Builder {
        b,
        vars,
        seal_early,
        pending: vec![entry],
    };
    g.stmts(program)?;
    let rets: Vec<_> = (0..VARS)
        .map(|i| g.b.use_var(g.vars[i]))
        .collect::<Result<_, _>>()?;
    g.b.ins().return_(&rets)?;
    for block in std::mem::take(&mut g.pending) {
        g.b.seal_block(block)?;
    }
    g.b.finalize()?;
    Ok(func)
}

#[test]
fn random_programs_agree_with_direct_evaluation() {
    let mut rng = Rng(0xa5a5_5a5a_1234_9876);
    let mut params_seen = 0;
    for i in 0..600 {
        let mut budget = 30;
        let program = gen_stmts(&mut rng, 0, &mut budget);
        let inputs: Vec<[i64; PARAMS]> = (0..3)
            .map(|_| [0; PARAMS].map(|_| rng.next() as i64 % 1000))
            .collect();
        for seal_early in [true, false] {
            let func = build(&program, seal_early).unwrap();
            if let Err(e) = verify_function(&func) {
                panic!("#{i}: {e}\n{func}\n{program:?}");
            }
            params_seen += func
                .stencil
                .layout
                .blocks()
                .map(|b| func.stencil.dfg.block_params(b).len())
                .sum::<usize>();
            let mut interp = Interpreter::new([&func]);
            for input in &inputs {
                let mut vars = [0i64; VARS];
                vars[..PARAMS].copy_from_slice(input);
                eval(&program, &mut vars);
                let args: Vec<_> = input.iter().map(|&x| DataValue::I64(x)).collect();
                let got = interp.call_by_name("p", &args).unwrap();
                let want: Vec<_> = vars.iter().map(|&x| DataValue::I64(x)).collect();
                assert_eq!(
                    got, want,
                    "#{i} seal_early={seal_early} input {input:?}\n{func}\n{program:?}"
                );
            }
        }
    }
    assert!(params_seen > 1000, "{params_seen}");
}

/// Sealing early and sealing at the end give the same parameters.
#[test]
fn sealing_order_does_not_change_the_result_shape() {
    let mut rng = Rng(0x1111_2222_3333_4444);
    for _ in 0..300 {
        let mut budget = 25;
        let program = gen_stmts(&mut rng, 0, &mut budget);
        let count = |f: &Function| {
            f.stencil
                .layout
                .blocks()
                .map(|b| f.stencil.dfg.block_params(b).len())
                .collect::<Vec<_>>()
        };
        let early = build(&program, true).unwrap();
        let late = build(&program, false).unwrap();
        assert_eq!(count(&early), count(&late), "{program:?}\n{early}\n{late}");
    }
}
