//! How often each opcode and each value type appears in generated code.

use kiln_ir::{Function, Opcode, Type};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct Coverage {
    /// Instructions per opcode.
    pub opcodes: BTreeMap<Opcode, u64>,
    /// Values (instruction results and block parameters) per type.
    pub types: BTreeMap<Type, u64>,
    /// `opcode.type` pairs by controlling/result type.
    pub pairs: BTreeMap<(Opcode, Type), u64>,
}

impl Coverage {
    pub fn add_function(&mut self, f: &Function) {
        let dfg = &f.stencil.dfg;
        for b in f.layout.blocks() {
            for &p in dfg.block_params(b) {
                *self.types.entry(dfg.value_type(p)).or_default() += 1;
            }
            for inst in f.layout.block_insts(b) {
                let op = dfg.insts[inst].opcode();
                *self.opcodes.entry(op).or_default() += 1;
                let results = dfg.inst_results(inst);
                for &r in results {
                    *self.types.entry(dfg.value_type(r)).or_default() += 1;
                }
                let ty = results
                    .first()
                    .map(|&r| dfg.value_type(r))
                    .or_else(|| dfg.inst_args(inst).first().map(|&a| dfg.value_type(a)));
                if let Some(ty) = ty {
                    *self.pairs.entry((op, ty)).or_default() += 1;
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Coverage) {
        for (k, v) in &other.opcodes {
            *self.opcodes.entry(*k).or_default() += v;
        }
        for (k, v) in &other.types {
            *self.types.entry(*k).or_default() += v;
        }
        for (k, v) in &other.pairs {
            *self.pairs.entry(*k).or_default() += v;
        }
    }

    /// Opcodes of `expected` that never appeared.
    pub fn missing<'a>(&self, expected: impl IntoIterator<Item = &'a Opcode>) -> Vec<Opcode> {
        expected
            .into_iter()
            .copied()
            .filter(|op| !self.opcodes.contains_key(op))
            .collect()
    }

    /// A report: opcodes by count, then types.
    pub fn report(&self) -> String {
        let mut ops: Vec<_> = self.opcodes.iter().collect();
        ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut s = format!("opcodes ({}):", ops.len());
        for (i, (op, n)) in ops.iter().enumerate() {
            if i % 6 == 0 {
                s.push_str("\n ");
            }
            s.push_str(&format!(" {}={n}", op.name()));
        }
        s.push_str("\ntypes:");
        for (t, n) in &self.types {
            s.push_str(&format!(" {t}={n}"));
        }
        s.push('\n');
        s
    }
}
