//! A toy language compiled just in time with Kiln: integer variables,
//! `if`/`else`, `while`, calls and recursion, parsed here, built with
//! `FunctionBuilder`, compiled through the cache into a `JitModule`, and
//! called. Run with `cargo run --example toy_jit`; it prints each result
//! and exits with status 1 if one is wrong.
//!
//! ```text
//! fn NAME(a, b) -> r { statements }   r is a variable, 0 at entry, returned
//! x = expr
//! if expr { ... } else { ... }        non-zero is true
//! while expr { ... }
//! expr: integers, variables, f(args), ( ), * / %, + -, == != < <= > >=
//! ```

use kiln::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

const PROGRAM: &str = "
fn fib(n) -> r {
    if n < 2 { r = n } else { r = fib(n - 1) + fib(n - 2) }
}

fn sum_to(n) -> s {
    i = 1
    while i <= n {
        s = s + i
        i = i + 1
    }
}

fn gcd(a, b) -> g {
    while b != 0 {
        t = a % b
        a = b
        b = t
    }
    g = a
}

fn fact(n) -> f {
    f = 1
    while n > 1 { f = f * n  n = n - 1 }
}

fn collatz_steps(n) -> steps {
    while n != 1 {
        if n % 2 == 0 { n = n / 2 } else { n = 3 * n + 1 }
        steps = steps + 1
    }
}
";

// ---------- Syntax ----------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i64),
    Ident(String),
    Sym(&'static str),
}

struct Lexed {
    toks: Vec<(Tok, usize)>, // token, line
}

fn lex(src: &str) -> Result<Lexed, String> {
    const SYMS: [&str; 20] = [
        "->", "==", "!=", "<=", ">=", "<", ">", "=", "+", "-", "*", "/", "%", "(", ")", "{", "}",
        ",", ";", "!",
    ];
    let mut toks = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i] as char;
            if c.is_whitespace() {
                i += 1;
            } else if c.is_ascii_digit() {
                let s = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let v = line[s..i]
                    .parse()
                    .map_err(|_| format!("line {}: number too large", n + 1))?;
                toks.push((Tok::Num(v), n + 1));
            } else if c.is_ascii_alphabetic() || c == '_' {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                toks.push((Tok::Ident(line[s..i].to_string()), n + 1));
            } else if let Some(s) = SYMS.iter().find(|s| line[i..].starts_with(**s)) {
                toks.push((Tok::Sym(s), n + 1));
                i += s.len();
            } else {
                return Err(format!("line {}: unexpected `{c}`", n + 1));
            }
        }
    }
    Ok(Lexed { toks })
}

#[derive(Debug)]
enum Expr {
    Num(i64),
    Var(String),
    Call(String, Vec<Expr>),
    Bin(&'static str, Box<Expr>, Box<Expr>),
}

#[derive(Debug)]
enum Stmt {
    Assign(String, Expr),
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    While(Expr, Vec<Stmt>),
}

struct FuncDef {
    name: String,
    params: Vec<String>,
    ret: String,
    body: Vec<Stmt>,
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn err(&self, what: &str) -> String {
        match self.toks.get(self.pos) {
            Some((t, line)) => format!("line {line}: expected {what}, found {t:?}"),
            None => format!("end of input: expected {what}"),
        }
    }
    fn sym(&mut self, s: &str) -> Result<(), String> {
        if self.peek() == Some(&Tok::Sym(static_sym(s))) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("`{s}`")))
        }
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }
    fn ident(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Ident(n)) => {
                let n = n.clone();
                self.pos += 1;
                Ok(n)
            }
            _ => Err(self.err("a name")),
        }
    }
    fn program(&mut self) -> Result<Vec<FuncDef>, String> {
        let mut fs = Vec::new();
        while self.peek().is_some() {
            match self.ident()?.as_str() {
                "fn" => {}
                _ => return Err(self.err("`fn`")),
            }
            let name = self.ident()?;
            self.sym("(")?;
            let mut params = Vec::new();
            while !self.is_sym(")") {
                params.push(self.ident()?);
                if !self.is_sym(")") {
                    self.sym(",")?;
                }
            }
            self.sym(")")?;
            self.sym("->")?;
            let ret = self.ident()?;
            let body = self.block()?;
            fs.push(FuncDef {
                name,
                params,
                ret,
                body,
            });
        }
        Ok(fs)
    }
    fn block(&mut self) -> Result<Vec<Stmt>, String> {
        self.sym("{")?;
        let mut v = Vec::new();
        while !self.is_sym("}") {
            if self.is_sym(";") {
                self.pos += 1;
                continue;
            }
            v.push(self.stmt()?);
        }
        self.sym("}")?;
        Ok(v)
    }
    fn stmt(&mut self) -> Result<Stmt, String> {
        let name = self.ident()?;
        match name.as_str() {
            "if" => {
                let c = self.expr()?;
                let t = self.block()?;
                let e = if matches!(self.peek(), Some(Tok::Ident(k)) if k == "else") {
                    self.pos += 1;
                    self.block()?
                } else {
                    Vec::new()
                };
                Ok(Stmt::If(c, t, e))
            }
            "while" => {
                let c = self.expr()?;
                Ok(Stmt::While(c, self.block()?))
            }
            _ => {
                self.sym("=")?;
                Ok(Stmt::Assign(name, self.expr()?))
            }
        }
    }
    /// Precedence climbing: comparisons < additive < multiplicative.
    fn expr(&mut self) -> Result<Expr, String> {
        self.binary(0)
    }
    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: [&[&str]; 3] = [
            &["==", "!=", "<", "<=", ">", ">="],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.atom();
        }
        let mut lhs = self.binary(level + 1)?;
        while let Some(Tok::Sym(op)) = self.peek() {
            let op = *op;
            if !LEVELS[level].contains(&op) {
                break;
            }
            self.pos += 1;
            let rhs = self.binary(level + 1)?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }
    fn atom(&mut self) -> Result<Expr, String> {
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Expr::Num(n))
            }
            Some(Tok::Ident(n)) => {
                self.pos += 1;
                if self.is_sym("(") {
                    self.pos += 1;
                    let mut args = Vec::new();
                    while !self.is_sym(")") {
                        args.push(self.expr()?);
                        if !self.is_sym(")") {
                            self.sym(",")?;
                        }
                    }
                    self.sym(")")?;
                    Ok(Expr::Call(n, args))
                } else {
                    Ok(Expr::Var(n))
                }
            }
            Some(Tok::Sym("(")) => {
                self.pos += 1;
                let e = self.expr()?;
                self.sym(")")?;
                Ok(e)
            }
            Some(Tok::Sym("-")) => {
                self.pos += 1;
                let e = self.atom()?;
                Ok(Expr::Bin("-", Box::new(Expr::Num(0)), Box::new(e)))
            }
            _ => Err(self.err("an expression")),
        }
    }
}

fn static_sym(s: &str) -> &'static str {
    const ALL: [&str; 20] = [
        "->", "==", "!=", "<=", ">=", "<", ">", "=", "+", "-", "*", "/", "%", "(", ")", "{", "}",
        ",", ";", "!",
    ];
    ALL.iter().find(|x| **x == s).copied().unwrap_or("?")
}

// ---------- Translation to CLIF ----------

type Err = Box<dyn std::error::Error>;

struct Translator<'b, 'f> {
    b: &'b mut FunctionBuilder<'f>,
    vars: HashMap<String, Variable>,
    funcs: &'b HashMap<String, (kiln::ir::FuncRef, usize)>,
}

impl Translator<'_, '_> {
    fn var(&mut self, name: &str) -> Result<Variable, Err> {
        if let Some(&v) = self.vars.get(name) {
            return Ok(v);
        }
        // A variable is created (as 0) by its first assignment.
        let v = self.b.declare_var(Type::I64)?;
        let zero = self.b.ins().iconst(Type::I64, 0)?;
        self.b.def_var(v, zero)?;
        self.vars.insert(name.to_string(), v);
        Ok(v)
    }

    fn stmts(&mut self, stmts: &[Stmt]) -> Result<(), Err> {
        for s in stmts {
            match s {
                Stmt::Assign(name, e) => {
                    let v = self.expr(e)?;
                    let var = self.var(name)?;
                    self.b.def_var(var, v)?;
                }
                Stmt::If(c, then, els) => {
                    let c = self.expr(c)?;
                    let (tb, eb, merge) = (
                        self.b.create_block(),
                        self.b.create_block(),
                        self.b.create_block(),
                    );
                    self.b.ins().brif(c, tb, &[], eb, &[])?;
                    for (blk, body) in [(tb, then), (eb, els)] {
                        self.b.switch_to_block(blk)?;
                        self.b.seal_block(blk)?;
                        self.stmts(body)?;
                        self.b.ins().jump(merge, &[])?;
                    }
                    self.b.switch_to_block(merge)?;
                    self.b.seal_block(merge)?;
                }
                Stmt::While(c, body) => {
                    let (header, bb, exit) = (
                        self.b.create_block(),
                        self.b.create_block(),
                        self.b.create_block(),
                    );
                    self.b.ins().jump(header, &[])?;
                    self.b.switch_to_block(header)?;
                    let c = self.expr(c)?;
                    self.b.ins().brif(c, bb, &[], exit, &[])?;
                    self.b.switch_to_block(bb)?;
                    self.b.seal_block(bb)?;
                    self.stmts(body)?;
                    self.b.ins().jump(header, &[])?;
                    self.b.seal_block(header)?;
                    self.b.switch_to_block(exit)?;
                    self.b.seal_block(exit)?;
                }
            }
        }
        Ok(())
    }

    fn expr(&mut self, e: &Expr) -> Result<Value, Err> {
        Ok(match e {
            Expr::Num(n) => self.b.ins().iconst(Type::I64, *n)?,
            Expr::Var(n) => {
                let v = *self
                    .vars
                    .get(n)
                    .ok_or_else(|| format!("variable `{n}` used before it is assigned"))?;
                self.b.use_var(v)?
            }
            Expr::Call(f, args) => {
                let &(fref, arity) = self
                    .funcs
                    .get(f)
                    .ok_or_else(|| format!("no function `{f}`"))?;
                if arity != args.len() {
                    return Err(format!("`{f}` takes {arity} arguments").into());
                }
                let vals = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let call = self.b.ins().call(fref, &vals)?;
                self.b.inst_results(call)[0]
            }
            Expr::Bin(op, l, r) => {
                let (l, r) = (self.expr(l)?, self.expr(r)?);
                let cmp = |cc| Some(cc);
                let cc = match *op {
                    "==" => cmp(IntCC::Equal),
                    "!=" => cmp(IntCC::NotEqual),
                    "<" => cmp(IntCC::SignedLessThan),
                    "<=" => cmp(IntCC::SignedLessThanOrEqual),
                    ">" => cmp(IntCC::SignedGreaterThan),
                    ">=" => cmp(IntCC::SignedGreaterThanOrEqual),
                    _ => None,
                };
                if let Some(cc) = cc {
                    let c = self.b.ins().icmp(cc, l, r)?;
                    self.b.ins().uextend(Type::I64, c)?
                } else {
                    match *op {
                        "+" => self.b.ins().iadd(l, r)?,
                        "-" => self.b.ins().isub(l, r)?,
                        "*" => self.b.ins().imul(l, r)?,
                        "/" => self.b.ins().sdiv(l, r)?,
                        "%" => self.b.ins().srem(l, r)?,
                        other => return Err(format!("unknown operator {other}").into()),
                    }
                }
            }
        })
    }
}

/// Parses `src` and compiles every function into a finalized JIT module.
fn compile(
    src: &str,
    isa: &dyn TargetIsa,
    cache: &CompileCache,
) -> Result<(JitModule, HashMap<String, FuncId>), Err> {
    let lexed = lex(src)?;
    let defs = Parser {
        toks: lexed.toks,
        pos: 0,
    }
    .program()?;
    let mut module = JitModule::new();
    let sig_of = |n: usize| {
        let mut s = Signature::new(CallConv::SystemV);
        s.params = vec![AbiParam::new(Type::I64); n];
        s.returns.push(AbiParam::new(Type::I64));
        s
    };
    let mut ids = HashMap::new();
    for d in &defs {
        let id = module.declare_function(&d.name, Linkage::Export, &sig_of(d.params.len()))?;
        ids.insert(d.name.clone(), id);
    }
    let mut ctx = FunctionBuilderContext::new();
    for d in &defs {
        let sig = sig_of(d.params.len());
        let mut func = Function::with_name_signature(UserFuncName::testcase(d.name.as_str()), sig);
        // Every function may call every other (and itself).
        let mut funcs = HashMap::new();
        for e in &defs {
            let fref = module.declare_func_in_func(ids[&e.name], &mut func)?;
            funcs.insert(e.name.clone(), (fref, e.params.len()));
        }
        let mut b = FunctionBuilder::new(&mut func, &mut ctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry)?;
        b.switch_to_block(entry)?;
        b.seal_block(entry)?;
        let mut t = Translator {
            b: &mut b,
            vars: HashMap::new(),
            funcs: &funcs,
        };
        for (i, p) in d.params.iter().enumerate() {
            let v = t.var(p)?;
            let arg = t.b.block_params(entry)[i];
            t.b.def_var(v, arg)?;
        }
        let ret = t.var(&d.ret)?;
        t.stmts(&d.body)?;
        let r = t.b.use_var(ret)?;
        t.b.ins().return_(&[r])?;
        b.finalize()?;
        kiln::compile_and_define(&mut module, ids[&d.name], &func, isa, Some(cache))?;
    }
    module.finalize()?;
    Ok((module, ids))
}

fn main() -> Result<(), Err> {
    if !cfg!(target_arch = "x86_64") {
        println!("SKIP: the JIT runs x86-64 code only");
        return Ok(());
    }
    let isa = kiln::host_isa()?;
    let cache = CompileCache::new(Arc::new(MemoryStore::new()));
    let (module, ids) = compile(PROGRAM, &*isa, &cache)?;
    let call1 = |name: &str, x: i64| -> i64 {
        let p = module.get_finalized_function(ids[name]).expect("finalized");
        // SAFETY: every toy function has the system_v signature
        // (i64) -> i64 here (one parameter), and `module` is alive.
        let f: extern "sysv64" fn(i64) -> i64 = unsafe { std::mem::transmute(p) };
        f(x)
    };
    let p = module
        .get_finalized_function(ids["gcd"])
        .expect("finalized");
    // SAFETY: `gcd` has the system_v signature (i64, i64) -> i64.
    let gcd: extern "sysv64" fn(i64, i64) -> i64 = unsafe { std::mem::transmute(p) };
    let checks = [
        ("fib(20)", call1("fib", 20), 6765),
        ("sum_to(100)", call1("sum_to", 100), 5050),
        ("gcd(1071, 462)", gcd(1071, 462), 21),
        ("fact(10)", call1("fact", 10), 3_628_800),
        ("collatz_steps(27)", call1("collatz_steps", 27), 111),
    ];
    let mut ok = true;
    for (what, got, want) in checks {
        println!("{what} = {got}");
        if got != want {
            println!("  WRONG: expected {want}");
            ok = false;
        }
    }
    // A second compile of the same program hits the cache for every function.
    let before = cache.stats();
    let _again = compile(PROGRAM, &*isa, &cache)?;
    let after = cache.stats();
    println!(
        "recompiled: {} cache hits, {} misses",
        after.hits - before.hits,
        after.misses - before.misses
    );
    if after.hits - before.hits != ids.len() as u64 {
        println!("  WRONG: expected {} hits", ids.len());
        ok = false;
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
