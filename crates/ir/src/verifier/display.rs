//! A small, panic-free instruction formatter for verifier error contexts.
//!
//! It renders an instruction close to its CLIF text (`v3 = iadd v1, v2`,
//! `brif v0, block1(v2), block2`) using only checked look-ups, so it works on
//! the malformed functions the verifier reports on. Entity references that
//! are out of range are still printed by number; lists that do not lie in
//! their pool print as `<bad list>`.

use crate::dfg::DataFlowGraph;
use crate::entities::Inst;
use crate::instructions::{BlockCall, ExceptionTableItem, InstructionData, ValueList};
use crate::types::Type;
use std::fmt::Write;

/// The value operands of an instruction without panicking on a value list
/// that does not lie in the pool.
pub(crate) fn checked_args<'a>(
    data: &'a InstructionData,
    dfg: &'a DataFlowGraph,
) -> Option<&'a [crate::Value]> {
    data.try_arguments(&dfg.value_lists)
}

fn list(out: &mut String, dfg: &DataFlowGraph, l: ValueList) {
    match dfg.value_lists.try_get(l) {
        Some(vs) => {
            for (i, v) in vs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{v}");
            }
        }
        None => out.push_str("<bad list>"),
    }
}

fn block_call(out: &mut String, dfg: &DataFlowGraph, bc: &BlockCall) {
    let _ = write!(out, "{}", bc.block);
    match dfg.block_args.try_get(bc.args) {
        Some([]) => {}
        Some(args) => {
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{a}");
            }
            out.push(')');
        }
        None => out.push_str("(<bad list>)"),
    }
}

/// An address offset as CLIF writes it: `+8`, `-4`, nothing for zero.
struct Off(i32);

impl std::fmt::Display for Off {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == 0 {
            Ok(())
        } else {
            write!(f, "{:+}", self.0)
        }
    }
}

/// Renders `inst` as one line of CLIF-like text.
pub(crate) fn inst_to_string(dfg: &DataFlowGraph, inst: Inst) -> String {
    let mut out = String::new();
    let Some(data) = dfg.insts.get(inst) else {
        let _ = write!(out, "{inst} (not in the DFG)");
        return out;
    };
    match dfg.try_inst_results(inst) {
        Some([]) => {}
        Some(rs) => {
            for (i, r) in rs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{r}");
            }
            out.push_str(" = ");
        }
        None => out.push_str("<bad results> = "),
    }
    let op = data.opcode();
    out.push_str(op.name());
    let info = op.info();
    if info.ctrl.is_some() && info.typevar_operand.is_none() {
        // The text needs the controlling type: it is the first result's.
        if let Some(&r) = dfg.try_inst_results(inst).and_then(|rs| rs.first()) {
            let ty = dfg
                .values
                .get(r)
                .map_or(Type::INVALID, |_| dfg.value_type(r));
            let _ = write!(out, ".{ty}");
        }
    }
    use InstructionData::*;
    let vals = |out: &mut String, vs: &[crate::Value]| {
        for (i, v) in vs.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            let _ = write!(out, "{v}");
        }
    };
    match data {
        NullAry { .. } => {}
        Unary { arg, .. } => vals(&mut out, &[*arg]),
        UnaryImm { imm, .. } => {
            let _ = write!(out, " {}", imm.0);
        }
        UnaryIeee16 { imm, .. } => {
            let _ = write!(out, " 0x{:04x}", imm.0);
        }
        UnaryIeee32 { imm, .. } => {
            let _ = write!(out, " 0x{:08x}", imm.0);
        }
        UnaryIeee64 { imm, .. } => {
            let _ = write!(out, " 0x{:016x}", imm.0);
        }
        UnaryConst { constant, .. } => {
            let _ = write!(out, " {constant}");
        }
        UnaryGlobalValue { global_value, .. } => {
            let _ = write!(out, " {global_value}");
        }
        Binary { args, .. } => vals(&mut out, args),
        BinaryImm8 { arg, imm, .. } => {
            vals(&mut out, &[*arg]);
            let _ = write!(out, ", {}", imm.0);
        }
        Ternary { args, .. } | AtomicCas { args, .. } => vals(&mut out, args),
        TernaryImm8 { args, imm, .. } => {
            vals(&mut out, args);
            let _ = write!(out, ", {}", imm.0);
        }
        Shuffle { args, imm, .. } => {
            vals(&mut out, args);
            let _ = write!(out, ", {imm}");
        }
        IntCompare { cond, args, .. } => {
            let _ = write!(out, " {cond} {}, {}", args[0], args[1]);
        }
        FloatCompare { cond, args, .. } => {
            let _ = write!(out, " {cond} {}, {}", args[0], args[1]);
        }
        Jump { destination, .. } => {
            out.push(' ');
            block_call(&mut out, dfg, destination);
        }
        Brif { arg, blocks, .. } => {
            let _ = write!(out, " {arg}, ");
            block_call(&mut out, dfg, &blocks[0]);
            out.push_str(", ");
            block_call(&mut out, dfg, &blocks[1]);
        }
        BranchTable { arg, table, .. } => {
            let _ = write!(out, " {arg}, ");
            match dfg.jump_tables.get(*table) {
                Some(jt) if !jt.entries.is_empty() => {
                    block_call(&mut out, dfg, &jt.entries[0]);
                    out.push_str(", [");
                    for (i, e) in jt.entries[1..].iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        block_call(&mut out, dfg, e);
                    }
                    out.push(']');
                }
                _ => {
                    let _ = write!(out, "{table}");
                }
            }
        }
        MultiAry { args, .. } => {
            if !args.is_empty() {
                out.push(' ');
            }
            list(&mut out, dfg, *args);
        }
        Call { func_ref, args, .. } => {
            let _ = write!(out, " {func_ref}(");
            list(&mut out, dfg, *args);
            out.push(')');
        }
        CallIndirect { sig_ref, args, .. } => {
            let _ = write!(out, " {sig_ref}, ");
            indirect_args(&mut out, dfg, *args);
        }
        TryCall {
            func_ref,
            args,
            exception,
            ..
        } => {
            let _ = write!(out, " {func_ref}(");
            list(&mut out, dfg, *args);
            out.push(')');
            exception_table(&mut out, dfg, *exception);
        }
        TryCallIndirect {
            args, exception, ..
        } => {
            out.push(' ');
            indirect_args(&mut out, dfg, *args);
            exception_table(&mut out, dfg, *exception);
        }
        FuncAddr { func_ref, .. } => {
            let _ = write!(out, " {func_ref}");
        }
        StackLoad {
            stack_slot, offset, ..
        } => {
            let _ = write!(out, " {stack_slot}{}", Off(offset.0));
        }
        DynamicStackLoad {
            dynamic_stack_slot, ..
        } => {
            let _ = write!(out, " {dynamic_stack_slot}");
        }
        Load {
            flags, arg, offset, ..
        } => {
            let _ = write!(out, "{flags} {arg}{}", Off(offset.0));
        }
        Store {
            flags,
            args,
            offset,
            ..
        } => {
            let _ = write!(out, "{flags} {}, {}{}", args[0], args[1], Off(offset.0));
        }
        LoadNoOffset { flags, arg, .. } => {
            let _ = write!(out, "{flags} {arg}");
        }
        StoreNoOffset { flags, args, .. } => {
            let _ = write!(out, "{flags} {}, {}", args[0], args[1]);
        }
        AtomicRmw {
            flags, op, args, ..
        } => {
            let _ = write!(out, "{flags} {op} {}, {}", args[0], args[1]);
        }
        Trap { code, .. } => {
            let _ = write!(out, " {code}");
        }
        CondTrap { arg, code, .. } => {
            let _ = write!(out, " {arg}, {code}");
        }
        IntAddTrap { args, code, .. } => {
            let _ = write!(out, " {}, {}, {code}", args[0], args[1]);
        }
        ExceptionHandlerAddress { block, imm, .. } => {
            let _ = write!(out, " {block}, {}", imm.0);
        }
    }
    out
}

fn indirect_args(out: &mut String, dfg: &DataFlowGraph, args: ValueList) {
    match dfg.value_lists.try_get(args) {
        Some([callee, rest @ ..]) => {
            let _ = write!(out, "{callee}(");
            for (i, v) in rest.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{v}");
            }
            out.push(')');
        }
        Some([]) => out.push_str("<no callee>()"),
        None => out.push_str("<bad list>"),
    }
}

fn exception_table(out: &mut String, dfg: &DataFlowGraph, et: crate::ExceptionTable) {
    let Some(t) = dfg.exception_tables.get(et) else {
        let _ = write!(out, ", {et}");
        return;
    };
    let _ = write!(out, ", {}, ", t.sig);
    match t.targets.first() {
        Some(normal) => block_call(out, dfg, normal),
        None => out.push_str("<no normal return>"),
    }
    out.push_str(", [");
    let mut target = 1;
    for (i, item) in t.items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match item {
            ExceptionTableItem::Context(v) => {
                let _ = write!(out, "context {v}");
                continue;
            }
            ExceptionTableItem::Tag(n) => {
                let _ = write!(out, "tag{n}: ");
            }
            ExceptionTableItem::Default => out.push_str("default: "),
        }
        match t.targets.get(target) {
            Some(bc) => block_call(out, dfg, bc),
            None => out.push_str("<missing target>"),
        }
        target += 1;
    }
    out.push(']');
}
