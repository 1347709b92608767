//! Strength reduction of induction-variable arithmetic.
//!
//! A basic induction variable is a parameter `p` of a loop header that every
//! latch advances by the same constant (`jump h(.., iadd p, c, ..)`). Values
//! of the loop that are affine in one such `p` (`s*p`, plus invariant
//! terms, plus a constant, with a constant scale `s`), built from `iadd`,
//! `isub`, `ineg`, `imul` by a constant and `ishl` by a constant, are
//! recomputed every iteration: in matmul's inner loop `a + ((i<<6) + k)*4`
//! costs three instructions and `b + ((k<<6) + j)*4` four. Such a value becomes a header parameter of its
//! own, started in the preheader at `s*init + terms + k` and advanced by one
//! `iadd` of `s*c` on each latch; its in-loop uses read the parameter and the
//! old chain dies (DCE). The initial value is computed in the preheader,
//! which lies in the enclosing loop, so processing loops inner first lets the
//! enclosing loop hoist it (invariant) or strength-reduce it in turn.
//!
//! Arithmetic is modulo 2^bits throughout (a ring homomorphism from the
//! integers), so the rewrite is exact whatever wraps.

use crate::simplify::FxHashMap;
use crate::OptStats;
use kiln_ir::flowgraph::ControlFlowGraph;
use kiln_ir::{
    Block, BlockArg, BlockCall, EntityRef, FunctionStencil, Imm64, Inst, InstructionData, Opcode,
    Type, Value, ValueDef,
};

/// Invariant terms an affine form may carry.
const MAX_TERMS: usize = 3;
/// New induction variables per loop at most (each holds a register across
/// the loop).
const MAX_NEW_IVS: usize = 4;

/// An affine form without its constant: variable, scale, sorted terms.
type FormKey = (Option<u32>, u64, [(Value, u64); MAX_TERMS]);

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Affine {
    /// Index of the header parameter, or `None` for an invariant.
    iv: Option<u32>,
    scale: u64,
    terms: [(Value, u64); MAX_TERMS],
    nterms: u8,
    konst: u64,
    /// In-loop instructions computing it (a cost estimate, not in the key).
    ops: u16,
    has_mul: bool,
}

impl Affine {
    fn konst(c: u64) -> Self {
        Affine {
            iv: None,
            scale: 0,
            terms: [(Value::new(0), 0); MAX_TERMS],
            nterms: 0,
            konst: c,
            ops: 0,
            has_mul: false,
        }
    }
    fn invariant(v: Value) -> Self {
        let mut a = Self::konst(0);
        a.terms[0] = (v, 1);
        a.nterms = 1;
        a
    }
    fn terms(&self) -> &[(Value, u64)] {
        &self.terms[..self.nterms as usize]
    }
    fn is_const(&self) -> Option<u64> {
        (self.iv.is_none() && self.nterms == 0).then_some(self.konst)
    }
    /// `self + m * other`, `None` if the result mixes two induction
    /// variables or has too many terms.
    fn add_scaled(&self, other: &Affine, m: u64, mask: u64) -> Option<Affine> {
        let iv = match (self.iv, other.iv) {
            (Some(a), Some(b)) if a != b => return None,
            (a, b) => a.or(b),
        };
        let mut r = *self;
        r.iv = iv;
        r.scale = self.scale.wrapping_add(other.scale.wrapping_mul(m)) & mask;
        r.konst = self.konst.wrapping_add(other.konst.wrapping_mul(m)) & mask;
        for &(v, c) in other.terms() {
            let c = c.wrapping_mul(m) & mask;
            match r.terms().iter().position(|t| t.0 == v) {
                Some(i) => r.terms[i].1 = r.terms[i].1.wrapping_add(c) & mask,
                None => {
                    if r.nterms as usize == MAX_TERMS {
                        return None;
                    }
                    r.terms[r.nterms as usize] = (v, c);
                    r.nterms += 1;
                }
            }
        }
        // Drop cancelled terms, keeping the order stable.
        let mut n = 0;
        for i in 0..r.nterms as usize {
            if r.terms[i].1 != 0 {
                r.terms[n] = r.terms[i];
                n += 1;
            }
        }
        for t in &mut r.terms[n..] {
            *t = (Value::new(0), 0);
        }
        r.nterms = n as u8;
        if r.iv.is_some() && r.scale == 0 {
            return None;
        }
        r.ops = self.ops + other.ops + 1;
        r.has_mul = self.has_mul || other.has_mul;
        Some(r)
    }
    fn scaled(&self, m: u64, mask: u64) -> Option<Affine> {
        let mut r = Affine::konst(0).add_scaled(self, m, mask)?;
        r.ops = self.ops + 1;
        r.has_mul = self.has_mul;
        Some(r)
    }
    /// The key under which forms share one new variable (the constant
    /// apart).
    fn key(&self) -> FormKey {
        let mut t = self.terms;
        t[..self.nterms as usize].sort_by_key(|x| x.0.index());
        (self.iv, self.scale, t)
    }
    /// `base + iv*{1,2,4,8} + disp`: an address mode or one `lea`, nothing
    /// to gain from a variable of its own.
    fn addressable(&self) -> bool {
        matches!(self.scale, 1 | 2 | 4 | 8)
            && (self.nterms == 0 || (self.nterms == 1 && self.terms[0].1 == 1))
    }
}

fn mask(ty: Type) -> Option<u64> {
    (ty.is_int() && ty.is_scalar() && ty.bits() <= 64).then(|| {
        if ty.bits() == 64 {
            u64::MAX
        } else {
            (1u64 << ty.bits()) - 1
        }
    })
}

fn iconst(func: &FunctionStencil, v: Value) -> Option<u64> {
    let v = func.dfg.resolve_aliases(v);
    let Some(ValueDef::Result(inst, _)) = func.dfg.value_def(v) else {
        return None;
    };
    match func.dfg.insts[inst] {
        InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm,
        } => Some(imm.zero_extend_from(func.dfg.value_type(v).bits())),
        _ => None,
    }
}

/// The destinations of a jump or brif, mutably; `None` for other branches.
fn calls_mut(data: &mut InstructionData) -> Option<&mut [BlockCall]> {
    match data {
        InstructionData::Jump { destination, .. } => Some(std::slice::from_mut(destination)),
        InstructionData::Brif { blocks, .. } => Some(blocks),
        _ => None,
    }
}

/// `v`, or if it is a parameter of `block` that every predecessor passes
/// the same value (a preheader LICM made forwards the header's parameters),
/// that value: it dominates every predecessor, hence `block`. Constants
/// count as the same when equal.
fn through_param(func: &FunctionStencil, cfg: &ControlFlowGraph, block: Block, v: Value) -> Value {
    let Some(ValueDef::Param(b, i)) = func.dfg.value_def(v) else {
        return v;
    };
    if b != block {
        return v;
    }
    let mut seen: Option<Value> = None;
    for p in cfg.preds(block) {
        for bc in func.dfg.branch_destinations(p.inst) {
            if bc.block != block {
                continue;
            }
            let Some(&BlockArg::Value(a)) = func.dfg.block_call_args(*bc).get(i) else {
                return v;
            };
            match seen {
                None => seen = Some(a),
                Some(s) if s == a => {}
                Some(s) => match (iconst(func, s), iconst(func, a)) {
                    (Some(x), Some(y)) if x == y => {}
                    _ => return v,
                },
            }
        }
    }
    seen.unwrap_or(v)
}

/// One loop, as LICM found it.
pub(crate) struct LoopRef<'a> {
    pub header: Block,
    pub body: &'a [bool],
    /// The loop's blocks in reverse post-order (header first).
    pub blocks: &'a [Block],
    pub preheader: Block,
}

struct Builder<'a> {
    func: &'a mut FunctionStencil,
    before: Inst,
    ty: Type,
}

impl Builder<'_> {
    fn inst(&mut self, data: InstructionData) -> Value {
        let inst = self.func.dfg.make_inst(data);
        self.func.dfg.make_inst_results(inst, self.ty);
        self.func.layout.insert_inst_before(inst, self.before);
        self.func
            .dfg
            .first_result(inst)
            .expect("arithmetic has a result")
    }
    fn iconst(&mut self, c: u64) -> Value {
        let m = mask(self.ty).unwrap_or(u64::MAX);
        self.inst(InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm: Imm64((c & m) as i64),
        })
    }
    fn binary(&mut self, opcode: Opcode, a: Value, b: Value) -> Value {
        self.inst(InstructionData::Binary {
            opcode,
            args: [a, b],
        })
    }
    /// `v * c` (c not zero): nothing, a shift or a multiply.
    fn mul(&mut self, v: Value, c: u64) -> Value {
        let m = mask(self.ty).unwrap_or(u64::MAX);
        if c == 1 {
            v
        } else if c == m {
            self.inst(InstructionData::Unary {
                opcode: Opcode::Ineg,
                arg: v,
            })
        } else if c.is_power_of_two() {
            let k = self.iconst(u64::from(c.trailing_zeros()));
            self.binary(Opcode::Ishl, v, k)
        } else {
            let k = self.iconst(c);
            self.binary(Opcode::Imul, v, k)
        }
    }
    /// Materializes `sum + c*v` where `sum` may be absent.
    fn add_term(&mut self, sum: Option<Value>, v: Value, c: u64) -> Value {
        let m = mask(self.ty).unwrap_or(u64::MAX);
        match sum {
            Some(s) if c == m => self.binary(Opcode::Isub, s, v),
            Some(s) => {
                let t = self.mul(v, c);
                self.binary(Opcode::Iadd, s, t)
            }
            None => self.mul(v, c),
        }
    }
}

/// Strength-reduces the loop's affine values. Returns whether it changed
/// anything (DCE then has dead chains to remove).
pub(crate) fn run_loop(
    func: &mut FunctionStencil,
    cfg: &ControlFlowGraph,
    l: &LoopRef,
    stats: &mut OptStats,
) -> bool {
    let h = l.header;
    let Some(ph_term) = func.layout.last_inst(l.preheader) else {
        return false;
    };
    let InstructionData::Jump {
        destination: entry_call,
        ..
    } = func.dfg.insts[ph_term]
    else {
        return false;
    };
    // Latch branches: every in-loop predecessor of the header, jump or brif.
    let mut latches: Vec<Inst> = Vec::new();
    for p in cfg.preds(h) {
        if !l.body[p.block.index()] {
            if p.block != l.preheader {
                return false;
            }
            continue;
        }
        if !matches!(
            func.dfg.insts[p.inst],
            InstructionData::Jump { .. } | InstructionData::Brif { .. }
        ) {
            return false;
        }
        if !latches.contains(&p.inst) {
            latches.push(p.inst);
        }
    }
    if latches.is_empty() {
        return false;
    }
    // Basic induction variables: (parameter index, step).
    let params: Vec<Value> = func.dfg.block_params(h).to_vec();
    let mut steps: Vec<Option<u64>> = vec![None; params.len()];
    let mut any_iv = false;
    'params: for (k, &p) in params.iter().enumerate() {
        let Some(m) = mask(func.dfg.value_type(p)) else {
            continue;
        };
        let mut step = None;
        for &li in &latches {
            for bc in func.dfg.branch_destinations(li) {
                if bc.block != h {
                    continue;
                }
                let Some(&BlockArg::Value(a)) = func.dfg.block_call_args(*bc).get(k) else {
                    continue 'params;
                };
                let Some(ValueDef::Result(def, _)) = func.dfg.value_def(a) else {
                    continue 'params;
                };
                let InstructionData::Binary {
                    opcode: Opcode::Iadd,
                    args: [x, y],
                } = func.dfg.insts[def]
                else {
                    continue 'params;
                };
                let c = if x == p {
                    iconst(func, y)
                } else if y == p {
                    iconst(func, x)
                } else {
                    None
                };
                let Some(c) = c.map(|c| c & m) else {
                    continue 'params;
                };
                if c == 0 || step.is_some_and(|s| s != c) {
                    continue 'params;
                }
                step = Some(c);
            }
        }
        steps[k] = step;
        any_iv |= step.is_some();
    }
    if !any_iv {
        return false;
    }
    // Affine forms of the loop's values, in dominance order.
    let mut forms: FxHashMap<Value, Affine> = FxHashMap::default();
    for (k, &p) in params.iter().enumerate() {
        if steps[k].is_some() {
            let mut a = Affine::konst(0);
            a.iv = Some(k as u32);
            a.scale = 1;
            forms.insert(p, a);
        }
    }
    // Hoisting merges equal instructions through aliases, resolved at the
    // end of LICM: look through them.
    let operand = |func: &FunctionStencil, forms: &FxHashMap<Value, Affine>, v: Value| {
        let v = func.dfg.resolve_aliases(v);
        if let Some(a) = forms.get(&v) {
            return Some(*a);
        }
        if let Some(c) = iconst(func, v) {
            return Some(Affine::konst(c));
        }
        let def_block = match func.dfg.value_def(v)? {
            ValueDef::Result(d, _) => func.layout.inst_block(d)?,
            ValueDef::Param(b, _) => b,
        };
        (!l.body[def_block.index()]).then(|| Affine::invariant(v))
    };
    // Candidates in order of definition.
    let mut defined: Vec<Value> = Vec::new();
    for &b in l.blocks {
        for inst in func.layout.block_insts(b) {
            let InstructionData::Binary { opcode, args } = func.dfg.insts[inst] else {
                if let InstructionData::Unary {
                    opcode: Opcode::Ineg,
                    arg,
                } = func.dfg.insts[inst]
                {
                    let r = func.dfg.first_result(inst).expect("ineg has a result");
                    let Some(m) = mask(func.dfg.value_type(r)) else {
                        continue;
                    };
                    if let Some(a) = operand(func, &forms, arg).and_then(|a| a.scaled(m, m)) {
                        if a.iv.is_some() {
                            forms.insert(r, a);
                            defined.push(r);
                        }
                    }
                }
                continue;
            };
            if !matches!(
                opcode,
                Opcode::Iadd | Opcode::Isub | Opcode::Imul | Opcode::Ishl
            ) {
                continue;
            }
            let r = func
                .dfg
                .first_result(inst)
                .expect("arithmetic has a result");
            let Some(m) = mask(func.dfg.value_type(r)) else {
                continue;
            };
            let (Some(a), Some(b)) = (
                operand(func, &forms, args[0]),
                operand(func, &forms, args[1]),
            ) else {
                continue;
            };
            if a.iv.is_none() && b.iv.is_none() {
                continue;
            }
            let f = match opcode {
                Opcode::Iadd => a.add_scaled(&b, 1, m),
                Opcode::Isub => a.add_scaled(&b, m, m),
                Opcode::Imul => match (a.is_const(), b.is_const()) {
                    (_, Some(c)) => a.scaled(c, m).map(|mut f| {
                        f.has_mul = true;
                        f
                    }),
                    (Some(c), _) => b.scaled(c, m).map(|mut f| {
                        f.has_mul = true;
                        f
                    }),
                    _ => None,
                },
                Opcode::Ishl => b.is_const().and_then(|c| {
                    a.scaled(
                        1u64 << (c & u64::from(func.dfg.value_type(r).bits() - 1)),
                        m,
                    )
                }),
                _ => None,
            };
            if let Some(f) = f {
                forms.insert(r, f);
                defined.push(r);
            }
        }
    }
    if defined.is_empty() {
        return false;
    }
    // Values with a use that is not itself affine arithmetic (a load's
    // address, a compare, a branch argument) inside the loop.
    let mut used: FxHashMap<Value, bool> = FxHashMap::default();
    for &b in l.blocks {
        for inst in func.layout.block_insts(b) {
            let affine_op = func
                .dfg
                .first_result(inst)
                .is_some_and(|r| forms.contains_key(&r));
            if !affine_op {
                for &a in func.dfg.inst_args(inst) {
                    let a = func.dfg.resolve_aliases(a);
                    if forms.contains_key(&a) {
                        used.insert(a, true);
                    }
                }
            }
            for bc in func.dfg.branch_destinations(inst) {
                for a in func.dfg.block_call_args(*bc) {
                    if let BlockArg::Value(v) = a {
                        let v = func.dfg.resolve_aliases(*v);
                        if forms.contains_key(&v) {
                            used.insert(v, true);
                        }
                    }
                }
            }
        }
    }
    // Worth a new variable: a chain of at least two instructions, or a
    // multiply, that an addressing mode (`base + index*{1,2,4,8} + disp`,
    // on x86-64 and aarch64 alike) or one `lea` cannot absorb; one `iadd`
    // per iteration then replaces it. Forms that differ only in their
    // constant share one variable: the others become `iadd var, delta`,
    // which addressing modes absorb.
    let mut chosen: Vec<(Value, Affine)> = Vec::new();
    let mut groups: FxHashMap<FormKey, usize> = FxHashMap::default();
    let mut replace: FxHashMap<Value, usize> = FxHashMap::default();
    let mut offset: Vec<(Value, usize, u64)> = Vec::new();
    for &v in &defined {
        let f = forms[&v];
        if !used.contains_key(&v) || !(f.ops >= 2 || f.has_mul) || f.addressable() {
            continue;
        }
        let key = f.key();
        match groups.get(&key) {
            Some(&i) if chosen[i].1.konst == f.konst => {
                replace.insert(v, i);
            }
            Some(&i) => {
                let m = mask(func.dfg.value_type(v)).expect("affine values are integers");
                offset.push((v, i, f.konst.wrapping_sub(chosen[i].1.konst) & m));
            }
            None => {
                if chosen.len() == MAX_NEW_IVS {
                    continue;
                }
                groups.insert(key, chosen.len());
                replace.insert(v, chosen.len());
                chosen.push((v, f));
            }
        }
    }
    if chosen.is_empty() {
        return false;
    }
    // Materialize: the start in the preheader, a header parameter, the
    // advance on each latch.
    let entry_args: Vec<BlockArg> = func.dfg.block_call_args(entry_call).to_vec();
    let mut new_params: Vec<Value> = Vec::new();
    let mut starts: Vec<BlockArg> = Vec::new();
    for &(v, f) in &chosen {
        let ty = func.dfg.value_type(v);
        let m = mask(ty).expect("affine values are integers");
        let k = f.iv.expect("candidates depend on a variable") as usize;
        let BlockArg::Value(init) = entry_args[k] else {
            return false;
        };
        let init = through_param(func, cfg, l.preheader, init);
        let mut b = Builder {
            func,
            before: ph_term,
            ty,
        };
        let mut konst = f.konst;
        let mut sum = None;
        match iconst(b.func, init) {
            Some(c) => konst = konst.wrapping_add(f.scale.wrapping_mul(c)) & m,
            None => sum = Some(b.mul(init, f.scale)),
        }
        for &(t, c) in f.terms() {
            sum = Some(b.add_term(sum, t, c));
        }
        let start = match sum {
            None => b.iconst(konst),
            Some(s) if konst == 0 => s,
            Some(s) => {
                let kv = b.iconst(konst);
                b.binary(Opcode::Iadd, s, kv)
            }
        };
        starts.push(BlockArg::Value(start));
        new_params.push(func.dfg.append_block_param(h, ty));
    }
    let mut args = entry_args;
    args.extend(starts);
    let call = func.dfg.block_call(h, &args);
    if let InstructionData::Jump { destination, .. } = &mut func.dfg.insts[ph_term] {
        *destination = call;
    }
    for &li in &latches {
        let mut nexts: Vec<BlockArg> = Vec::new();
        for (&(v, f), &p) in chosen.iter().zip(&new_params) {
            let ty = func.dfg.value_type(v);
            let m = mask(ty).expect("affine values are integers");
            let step = steps[f.iv.expect("candidates depend on a variable") as usize]
                .expect("a basic induction variable has a step");
            let mut b = Builder {
                func,
                before: li,
                ty,
            };
            let d = b.iconst(f.scale.wrapping_mul(step) & m);
            nexts.push(BlockArg::Value(b.binary(Opcode::Iadd, p, d)));
        }
        let mut data = func.dfg.insts[li];
        let Some(calls) = calls_mut(&mut data) else {
            continue;
        };
        for bc in calls.iter_mut() {
            if bc.block != h {
                continue;
            }
            let mut a: Vec<BlockArg> = func.dfg.block_call_args(*bc).to_vec();
            a.extend(nexts.iter().copied());
            *bc = func.dfg.block_call(h, &a);
        }
        func.dfg.insts[li] = data;
    }
    // In-loop uses read the new parameters.
    let map = |v: &Value| replace.get(v).map(|&i| new_params[i]);
    for &b in l.blocks {
        let mut cursor = func.layout.first_inst(b);
        while let Some(inst) = cursor {
            cursor = func.layout.next_inst(inst);
            let mut data = func.dfg.insts[inst];
            let mut pool = std::mem::take(&mut func.dfg.value_lists);
            let mut changed = false;
            for a in data.arguments_mut(&mut pool) {
                if let Some(n) = map(a) {
                    *a = n;
                    changed = true;
                }
            }
            func.dfg.value_lists = pool;
            if changed {
                func.dfg.insts[inst] = data;
            }
            let dests: Vec<BlockCall> = func.dfg.branch_destinations(inst).to_vec();
            for d in dests {
                for a in func.dfg.block_args.get_mut(d.args) {
                    if let BlockArg::Value(v) = a {
                        if let Some(n) = map(v) {
                            *v = n;
                        }
                    }
                }
            }
        }
    }
    // Forms a constant away from a variable: `iadd var, delta` in place of
    // their definition.
    for (v, i, delta) in offset {
        let Some(ValueDef::Result(def, _)) = func.dfg.value_def(v) else {
            continue;
        };
        let ty = func.dfg.value_type(v);
        let mut b = Builder {
            func,
            before: def,
            ty,
        };
        let d = b.iconst(delta);
        func.dfg.insts[def] = InstructionData::Binary {
            opcode: Opcode::Iadd,
            args: [new_params[i], d],
        };
    }
    stats.strength_reduced += chosen.len() as u32;
    true
}
