//! The CLIF printer: `Function` to Cranelift's text format.
//!
//! The output is what Cranelift's printer writes for the same function:
//! preamble declarations in Cranelift's order, blocks separated by blank
//! lines, instructions indented by 4 columns (36 when any instruction has a
//! source location, which is printed as an absolute `@hex` prefix), type
//! suffixes exactly where Cranelift writes them, and a trailing
//! `; vN = imm` note for operands defined by constant instructions. Operand
//! syntax is chosen by `InstructionFormat`, never by opcode name.

use crate::dfg::{DataFlowGraph, ValueData, ValueDef};
use crate::entities::*;
use crate::function::*;
use crate::instructions::*;
use crate::types::Type;
use std::fmt::{self, Write};

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_function(f, self)
    }
}

impl fmt::Display for ArgumentPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgumentPurpose::Normal => f.write_str("normal"),
            ArgumentPurpose::StructArgument(n) => write!(f, "sarg({n})"),
            ArgumentPurpose::StructReturn => f.write_str("sret"),
            ArgumentPurpose::VMContext => f.write_str("vmctx"),
            ArgumentPurpose::StackLimit => f.write_str("stack_limit"),
        }
    }
}

impl fmt::Display for AbiParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value_type)?;
        match self.extension {
            ArgumentExtension::None => {}
            ArgumentExtension::Uext => f.write_str(" uext")?,
            ArgumentExtension::Sext => f.write_str(" sext")?,
        }
        if self.purpose != ArgumentPurpose::Normal {
            write!(f, " {}", self.purpose)?;
        }
        Ok(())
    }
}

fn write_list<T: fmt::Display>(w: &mut dyn Write, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            w.write_str(", ")?;
        }
        write!(w, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        write_list(f, &self.params)?;
        f.write_str(")")?;
        if !self.returns.is_empty() {
            f.write_str(" -> ")?;
            write_list(f, &self.returns)?;
        }
        write!(f, " {}", self.call_conv)
    }
}

impl fmt::Display for StackSlotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StackSlotKind::ExplicitSlot => "explicit_slot",
            StackSlotKind::ExplicitDynamicSlot => "explicit_dynamic_slot",
        })
    }
}

impl fmt::Display for StackSlotData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.size)?;
        if self.align_shift != 0 {
            write!(f, ", align = {}", 1u64 << self.align_shift.min(63))?;
        }
        if let Some(key) = self.key {
            write!(f, ", key = {key}")?;
        }
        Ok(())
    }
}

impl KnownSymbol {
    pub fn as_str(self) -> &'static str {
        match self {
            KnownSymbol::ElfGlobalOffsetTable => "ElfGlobalOffsetTable",
            KnownSymbol::CoffTlsIndex => "CoffTlsIndex",
        }
    }
    pub fn parse(s: &str) -> Option<KnownSymbol> {
        [KnownSymbol::ElfGlobalOffsetTable, KnownSymbol::CoffTlsIndex]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An external name shown with user names resolved through the function's
/// name table (`u0:3`); an unresolvable reference shows as `userextnameN`.
pub struct DisplayExternalName<'a> {
    pub name: &'a ExternalName,
    pub params: &'a FunctionParameters,
}

impl fmt::Display for DisplayExternalName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            ExternalName::User(r) => match self.params.user_func_name(*r) {
                Some(n) => write!(f, "{n}"),
                None => write!(f, "{r}"),
            },
            ExternalName::TestCase(t) => write!(f, "{t}"),
            ExternalName::LibCall(l) => write!(f, "%{}", l.as_str()),
            ExternalName::KnownSymbol(k) => write!(f, "%{}", k.as_str()),
        }
    }
}

fn write_global_value(w: &mut dyn Write, func: &Function, gv: &GlobalValueData) -> fmt::Result {
    match gv {
        GlobalValueData::VMContext => w.write_str("vmctx"),
        GlobalValueData::Load {
            base,
            offset,
            global_type,
            flags,
        } => write!(w, "load.{global_type}{flags} {base}{offset}"),
        GlobalValueData::IAddImm {
            base,
            offset,
            global_type,
        } => write!(w, "iadd_imm.{global_type} {base}, {offset}"),
        GlobalValueData::Symbol {
            name,
            offset,
            colocated,
            tls,
        } => {
            w.write_str("symbol ")?;
            if *colocated {
                w.write_str("colocated ")?;
            }
            if *tls {
                w.write_str("tls ")?;
            }
            write!(
                w,
                "{}",
                DisplayExternalName {
                    name,
                    params: &func.params
                }
            )?;
            if offset.0 > 0 {
                w.write_str("+")?;
            }
            if offset.0 != 0 {
                write!(w, "{offset}")?;
            }
            Ok(())
        }
        GlobalValueData::DynScaleTargetConst { vector_type } => {
            write!(w, "dyn_scale_target_const.{vector_type}")
        }
    }
}

fn write_preamble(w: &mut dyn Write, func: &Function) -> Result<bool, fmt::Error> {
    let dfg = &func.dfg;
    let mut any = false;
    for (ss, data) in func.dynamic_stack_slots.iter() {
        any = true;
        writeln!(w, "    {ss} = {} {}", data.kind, data.dyn_ty)?;
    }
    for (ss, data) in func.sized_stack_slots.iter() {
        any = true;
        writeln!(w, "    {ss} = {data}")?;
    }
    for (r, data) in dfg.alias_regions.iter() {
        any = true;
        writeln!(w, "    {r} = {} {:?}", data.id, data.name)?;
    }
    for (gv, data) in func.global_values.iter() {
        any = true;
        write!(w, "    {gv} = ")?;
        write_global_value(w, func, data)?;
        writeln!(w)?;
    }
    for (dt, data) in dfg.dynamic_types.iter() {
        any = true;
        writeln!(
            w,
            "    {dt} = {}*{}",
            data.base_vector_ty, data.dynamic_scale
        )?;
    }
    for (sig, data) in dfg.signatures.iter() {
        any = true;
        writeln!(w, "    {sig} = {data}")?;
    }
    for (fnref, data) in dfg.ext_funcs.iter() {
        any = true;
        write!(w, "    {fnref} = ")?;
        if data.colocated {
            w.write_str("colocated ")?;
        }
        if data.patchable {
            w.write_str("patchable ")?;
        }
        writeln!(
            w,
            "{} {}",
            DisplayExternalName {
                name: &data.name,
                params: &func.params
            },
            data.signature
        )?;
    }
    for (c, data) in dfg.constants.iter() {
        any = true;
        writeln!(w, "    {c} = {data}")?;
    }
    if let Some(limit) = func.stack_limit {
        any = true;
        writeln!(w, "    stack_limit = {limit}")?;
    }
    Ok(any)
}

/// Writes `func` as CLIF text.
pub fn write_function(w: &mut dyn Write, func: &Function) -> fmt::Result {
    write!(w, "function {}{} {{", func.name, func.signature)?;
    writeln!(w)?;
    let aliases = alias_map(&func.dfg);
    let mut any = write_preamble(w, func)?;
    let indent = if func
        .layout
        .blocks()
        .flat_map(|b| func.layout.block_insts(b))
        .any(|i| !func.rel_srcloc(i).is_default())
    {
        36
    } else {
        4
    };
    let mut order = vec![u32::MAX; func.dfg.num_insts()];
    let mut n = 0u32;
    for block in func.layout.blocks() {
        for inst in func.layout.block_insts(block) {
            if let Some(slot) = order.get_mut(inst.as_u32() as usize) {
                *slot = n;
                n += 1;
            }
        }
    }
    for block in func.layout.blocks() {
        if any {
            writeln!(w)?;
        }
        any = true;
        write_block_header(w, func, block, indent)?;
        for &p in func.dfg.block_params(block) {
            write_aliases(w, &aliases, p, indent)?;
        }
        for inst in func.layout.block_insts(block) {
            write_instruction(w, func, &aliases, &order, inst, indent)?;
        }
    }
    writeln!(w, "}}")
}

/// For each value, the aliases that name it directly. The map has one
/// entry per value (empty `Vec`s do not allocate), so its length bounds
/// the number of aliases `write_aliases` may print for any one value.
fn alias_map(dfg: &DataFlowGraph) -> Vec<Vec<Value>> {
    let mut map: Vec<Vec<Value>> = vec![Vec::new(); dfg.values.len()];
    for (v, data) in dfg.values.iter() {
        if let ValueData::Alias { original, .. } = *data {
            if let Some(list) = map.get_mut(original.as_u32() as usize) {
                list.push(v);
            }
        }
    }
    map
}

fn write_aliases(
    w: &mut dyn Write,
    aliases: &[Vec<Value>],
    target: Value,
    indent: usize,
) -> fmt::Result {
    // Depth-first, in the same order as Cranelift; the alias graph of a
    // well-formed DFG is a forest, and the step bound guards cycles. The
    // bound is the number of values (the map's length), never fewer than
    // the aliases that exist: a value may have any number of them.
    let mut stack = vec![target];
    let mut steps = 0usize;
    while let Some(t) = stack.pop() {
        for &a in aliases.get(t.as_u32() as usize).map_or(&[][..], |v| &v[..]) {
            steps += 1;
            if steps > aliases.len() + 1 {
                return Ok(());
            }
            writeln!(w, "{:indent$}{a} -> {t}", "")?;
            stack.push(a);
        }
    }
    Ok(())
}

fn write_block_header(
    w: &mut dyn Write,
    func: &Function,
    block: Block,
    indent: usize,
) -> fmt::Result {
    write!(w, "{:1$}{block}", "", indent - 4)?;
    let params = func.dfg.block_params(block);
    if !params.is_empty() {
        w.write_str("(")?;
        for (i, &p) in params.iter().enumerate() {
            if i > 0 {
                w.write_str(", ")?;
            }
            write!(w, "{p}: {}", func.dfg.value_type(p))?;
        }
        w.write_str(")")?;
    }
    if func.dfg.blocks[block].cold {
        w.write_str(" cold")?;
    }
    writeln!(w, ":")
}

/// Where a value is defined in the layout: its block, and for results the
/// position of the defining instruction (`None` for block parameters).
fn def_point(func: &Function, order: &[u32], v: Value) -> Option<(Block, Option<u32>)> {
    if !func.dfg.value_is_valid(v) {
        return None;
    }
    match func.dfg.value_def(v)? {
        ValueDef::Result(inst, _) => Some((
            func.layout.inst_block(inst)?,
            order.get(inst.as_u32() as usize).copied(),
        )),
        ValueDef::Param(block, _) => Some((block, None)),
    }
}

/// The type suffix Cranelift prints: none for non-polymorphic opcodes and
/// when the type-variable operand is defined earlier in the same block;
/// otherwise the controlling type. (Cranelift only asks for the same
/// block; "earlier" differs only for invalid SSA, where it keeps the
/// output readable.) `order` holds each instruction's layout position.
fn type_suffix(func: &Function, order: &[u32], inst: Inst) -> Option<Type> {
    let info = func.dfg.opcode(inst).info();
    info.ctrl?;
    if let Some(tv) = info.typevar_operand {
        let v = *func.dfg.inst_args(inst).get(tv as usize)?;
        let here = func.layout.inst_block(inst);
        let pos = order.get(inst.as_u32() as usize).copied();
        if let (Some(here), Some((b, def_pos))) = (here, def_point(func, order, v)) {
            if b == here && def_pos.is_none_or(|d| Some(d) < pos) {
                return None;
            }
        }
    }
    let ty = func.dfg.ctrl_typevar(inst);
    (!ty.is_invalid()).then_some(ty)
}

fn write_instruction(
    w: &mut dyn Write,
    func: &Function,
    aliases: &[Vec<Value>],
    order: &[u32],
    inst: Inst,
    indent: usize,
) -> fmt::Result {
    let loc = func.srcloc(inst);
    let prefix = if loc.is_default() {
        String::new()
    } else {
        format!("{loc} ")
    };
    write!(w, "{prefix:indent$}")?;
    let results = func.dfg.inst_results(inst);
    if !results.is_empty() {
        write_list(w, results)?;
        w.write_str(" = ")?;
    }
    let opcode = func.dfg.opcode(inst);
    match type_suffix(func, order, inst) {
        Some(t) => write!(w, "{opcode}.{t}")?,
        None => write!(w, "{opcode}")?,
    }
    write_operands(w, func, inst)?;
    write_constant_notes(w, &func.dfg, inst)?;
    writeln!(w)?;
    for &r in results {
        write_aliases(w, aliases, r, indent)?;
    }
    Ok(())
}

/// Writes a block call: `block3`, `block3(v1, ret0)`.
pub fn write_block_call(w: &mut dyn Write, dfg: &DataFlowGraph, call: BlockCall) -> fmt::Result {
    write!(w, "{}", call.block)?;
    let args = dfg.block_call_args(call);
    if !args.is_empty() {
        w.write_str("(")?;
        write_list(w, args)?;
        w.write_str(")")?;
    }
    Ok(())
}

fn write_exception_table(
    w: &mut dyn Write,
    dfg: &DataFlowGraph,
    et: ExceptionTable,
) -> fmt::Result {
    let Some(table) = dfg.exception_tables.get(et) else {
        return write!(w, "{et}");
    };
    write!(w, "{}, ", table.sig)?;
    match table.targets.first() {
        Some(&normal) => write_block_call(w, dfg, normal)?,
        None => w.write_str("<no return block>")?,
    }
    w.write_str(", [")?;
    let mut next_target = 1;
    for (i, item) in table.items.iter().enumerate() {
        w.write_str(if i == 0 { " " } else { ", " })?;
        let mut target = |w: &mut dyn Write| -> fmt::Result {
            match table.targets.get(next_target) {
                Some(&t) => {
                    next_target += 1;
                    write_block_call(w, dfg, t)
                }
                None => w.write_str("<missing block>"),
            }
        };
        match item {
            ExceptionTableItem::Tag(tag) => {
                write!(w, "tag{tag}: ")?;
                target(w)?;
            }
            ExceptionTableItem::Default => {
                w.write_str("default: ")?;
                target(w)?;
            }
            ExceptionTableItem::Context(v) => write!(w, "context {v}")?,
        }
    }
    if !table.items.is_empty() {
        w.write_str(" ")?;
    }
    w.write_str("]")
}

fn write_operands(w: &mut dyn Write, func: &Function, inst: Inst) -> fmt::Result {
    use InstructionData as D;
    let dfg = &func.dfg;
    let pool = &dfg.value_lists;
    match dfg.insts[inst] {
        D::NullAry { .. } => w.write_str(" "),
        D::Unary { arg, .. } => write!(w, " {arg}"),
        D::UnaryImm { imm, .. } => {
            let bits = dfg.ctrl_typevar(inst).bits();
            write!(w, " {}", imm.sign_extended(bits.min(64)))
        }
        D::UnaryIeee16 { imm, .. } => write!(w, " {imm}"),
        D::UnaryIeee32 { imm, .. } => write!(w, " {imm}"),
        D::UnaryIeee64 { imm, .. } => write!(w, " {imm}"),
        D::UnaryConst { constant, .. } => write!(w, " {constant}"),
        D::UnaryGlobalValue { global_value, .. } => write!(w, " {global_value}"),
        D::Binary { args, .. } => write!(w, " {}, {}", args[0], args[1]),
        D::BinaryImm8 { arg, imm, .. } => write!(w, " {arg}, {imm}"),
        D::Ternary { args, .. } => write!(w, " {}, {}, {}", args[0], args[1], args[2]),
        D::TernaryImm8 { args, imm, .. } => write!(w, " {}, {}, {imm}", args[0], args[1]),
        D::Shuffle { args, imm, .. } => {
            write!(w, " {}, {}, ", args[0], args[1])?;
            match dfg.immediates.get(imm) {
                Some(data) => write!(w, "{data}"),
                None => write!(w, "{imm}"),
            }
        }
        D::IntCompare { cond, args, .. } => write!(w, " {cond} {}, {}", args[0], args[1]),
        D::FloatCompare { cond, args, .. } => write!(w, " {cond} {}, {}", args[0], args[1]),
        D::Jump { destination, .. } => {
            w.write_str(" ")?;
            write_block_call(w, dfg, destination)
        }
        D::Brif { arg, blocks, .. } => {
            write!(w, " {arg}, ")?;
            write_block_call(w, dfg, blocks[0])?;
            w.write_str(", ")?;
            write_block_call(w, dfg, blocks[1])
        }
        D::BranchTable { arg, table, .. } => {
            write!(w, " {arg}, ")?;
            let Some(jt) = dfg.jump_tables.get(table) else {
                return write!(w, "{table}");
            };
            match jt.entries.first() {
                Some(&d) => write_block_call(w, dfg, d)?,
                None => w.write_str("<no default>")?,
            }
            w.write_str(", [")?;
            for (i, &e) in jt.entries.iter().skip(1).enumerate() {
                if i > 0 {
                    w.write_str(", ")?;
                }
                write_block_call(w, dfg, e)?;
            }
            w.write_str("]")
        }
        D::MultiAry { args, .. } => {
            let args = pool.get(args);
            if args.is_empty() {
                Ok(())
            } else {
                w.write_str(" ")?;
                write_list(w, args)
            }
        }
        D::Call { func_ref, args, .. } => {
            write!(w, " {func_ref}(")?;
            write_list(w, pool.get(args))?;
            w.write_str(")")
        }
        D::CallIndirect { sig_ref, args, .. } => {
            let args = pool.get(args);
            match args.split_first() {
                Some((callee, rest)) => {
                    write!(w, " {sig_ref}, {callee}(")?;
                    write_list(w, rest)?;
                    w.write_str(")")
                }
                None => write!(w, " {sig_ref}, <no callee>()"),
            }
        }
        D::TryCall {
            func_ref,
            args,
            exception,
            ..
        } => {
            write!(w, " {func_ref}(")?;
            write_list(w, pool.get(args))?;
            w.write_str("), ")?;
            write_exception_table(w, dfg, exception)
        }
        D::TryCallIndirect {
            args, exception, ..
        } => {
            let args = pool.get(args);
            match args.split_first() {
                Some((callee, rest)) => {
                    write!(w, " {callee}(")?;
                    write_list(w, rest)?;
                    w.write_str("), ")?;
                }
                None => w.write_str(" <no callee>(), ")?,
            }
            write_exception_table(w, dfg, exception)
        }
        D::FuncAddr { func_ref, .. } => write!(w, " {func_ref}"),
        D::StackLoad {
            stack_slot, offset, ..
        } => write!(w, " {stack_slot}{offset}"),
        D::DynamicStackLoad {
            dynamic_stack_slot, ..
        } => write!(w, " {dynamic_stack_slot}"),
        D::Load {
            flags, arg, offset, ..
        } => write!(w, "{flags} {arg}{offset}"),
        D::Store {
            flags,
            args,
            offset,
            ..
        } => write!(w, "{flags} {}, {}{offset}", args[0], args[1]),
        D::LoadNoOffset { flags, arg, .. } => write!(w, "{flags} {arg}"),
        D::StoreNoOffset { flags, args, .. } => write!(w, "{flags} {}, {}", args[0], args[1]),
        D::AtomicRmw {
            flags, op, args, ..
        } => {
            write!(w, "{flags} {op} {}, {}", args[0], args[1])
        }
        D::AtomicCas { flags, args, .. } => {
            write!(w, "{flags} {}, {}, {}", args[0], args[1], args[2])
        }
        D::Trap { code, .. } => write!(w, " {code}"),
        D::CondTrap { arg, code, .. } => write!(w, " {arg}, {code}"),
        D::IntAddTrap { args, code, .. } => write!(w, " {}, {}, {code}", args[0], args[1]),
        D::ExceptionHandlerAddress { block, imm, .. } => write!(w, " {block}, {imm}"),
    }
}

/// Every value an instruction reads: its operands, then the value
/// arguments of its branch destinations.
pub fn inst_values(dfg: &DataFlowGraph, inst: Inst) -> impl Iterator<Item = Value> + '_ {
    let args = dfg.inst_args(inst).iter().copied();
    let dests = dfg
        .branch_destinations(inst)
        .iter()
        .flat_map(move |&c| dfg.block_call_args(c).iter())
        .filter_map(|a| match a {
            BlockArg::Value(v) => Some(*v),
            _ => None,
        });
    args.chain(dests)
}

/// `  ; v4 = 0x0001_14d8, v9 = 0x1.0000000000000p0`: the immediates of the
/// operands that constant instructions define.
fn write_constant_notes(w: &mut dyn Write, dfg: &DataFlowGraph, inst: Inst) -> fmt::Result {
    use InstructionData as D;
    let mut sep = "  ; ";
    for v in inst_values(dfg, inst) {
        if !dfg.value_is_valid(v) {
            continue;
        }
        let Some(ValueDef::Result(src, _)) = dfg.value_def(v) else {
            continue;
        };
        if !dfg.inst_is_valid(src) {
            continue;
        }
        match dfg.insts[src] {
            D::UnaryImm { imm, .. } => {
                let bits = dfg.ctrl_typevar(src).bits().min(64);
                write!(w, "{sep}{v} = {}", imm.sign_extended(bits))?
            }
            D::UnaryIeee16 { imm, .. } => write!(w, "{sep}{v} = {imm}")?,
            D::UnaryIeee32 { imm, .. } => write!(w, "{sep}{v} = {imm}")?,
            D::UnaryIeee64 { imm, .. } => write!(w, "{sep}{v} = {imm}")?,
            D::UnaryConst {
                opcode, constant, ..
            } => {
                let data = dfg.constants.get(constant);
                match data {
                    Some(d) if opcode == Opcode::F128const && d.len() == 16 => {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(d.as_slice());
                        let x = crate::immediates::Ieee128(u128::from_le_bytes(b));
                        write!(w, "{sep}{v} = {x}")?
                    }
                    _ => write!(w, "{sep}{v} = {constant}")?,
                }
            }
            _ => continue,
        }
        sep = ", ";
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::immediates::Imm64;
    use crate::srcloc::SourceLoc;

    /// Builds `block0(v0: i32) { v1 = iconst.i32 -1; v2 = iadd v0, v1 }`
    /// then `block1 { v3 = iadd v2, v2; return v3 }`.
    fn sample() -> (Function, [Inst; 4]) {
        let mut sig = Signature::new(CallConv::SystemV);
        sig.params.push(AbiParam::new(Type::I32));
        sig.returns.push(AbiParam::new(Type::I32).sext());
        let mut f = Function::with_name_signature(crate::UserFuncName::testcase("t"), sig);
        let b0 = f.dfg.make_block();
        let b1 = f.dfg.make_block();
        f.layout.append_block(b0);
        f.layout.append_block(b1);
        let v0 = f.dfg.append_block_param(b0, Type::I32);
        let i0 = f.dfg.make_inst(InstructionData::UnaryImm {
            opcode: Opcode::Iconst,
            imm: Imm64(0xffff_ffff),
        });
        f.dfg.make_inst_results(i0, Type::I32);
        let v1 = f.dfg.first_result(i0).unwrap();
        let i1 = f.dfg.make_inst(InstructionData::Binary {
            opcode: Opcode::Iadd,
            args: [v0, v1],
        });
        f.dfg.make_inst_results(i1, Type::I32);
        let v2 = f.dfg.first_result(i1).unwrap();
        let i2 = f.dfg.make_inst(InstructionData::Binary {
            opcode: Opcode::Iadd,
            args: [v2, v2],
        });
        f.dfg.make_inst_results(i2, Type::I32);
        let v3 = f.dfg.first_result(i2).unwrap();
        let args = f.dfg.make_value_list(&[v3]);
        let i3 = f.dfg.make_inst(InstructionData::MultiAry {
            opcode: Opcode::Return,
            args,
        });
        for (i, b) in [(i0, b0), (i1, b0), (i2, b1), (i3, b1)] {
            f.layout.append_inst(i, b);
        }
        (f, [i0, i1, i2, i3])
    }

    #[test]
    fn suffixes_notes_and_layout() {
        let (f, _) = sample();
        assert_eq!(
            f.to_string(),
            "function %t(i32) -> i32 sext system_v {\n\
             block0(v0: i32):\n\
             \x20   v1 = iconst.i32 -1\n\
             \x20   v2 = iadd v0, v1  ; v1 = -1\n\
             \n\
             block1:\n\
             \x20   v3 = iadd.i32 v2, v2\n\
             \x20   return v3\n\
             }\n"
        );
    }

    #[test]
    fn srclocs_aliases_and_preamble() {
        let (mut f, [i0, i1, ..]) = sample();
        f.set_srcloc(i0, SourceLoc::new(0x100));
        f.set_srcloc(i1, SourceLoc::new(0x1ff));
        // Moving the base moves every absolute location.
        f.params.set_base_srcloc(SourceLoc::new(0x200));
        let v2 = f.dfg.first_result(i1).unwrap();
        let alias = Value::from_u32(9);
        f.dfg.make_value_alias(alias, v2);
        f.stencil.create_sized_stack_slot(StackSlotData::new(8, 3));
        f.stencil.create_global_value(GlobalValueData::VMContext);
        let text = f.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "    ss0 = explicit_slot 8, align = 8");
        assert_eq!(lines[2], "    gv0 = vmctx");
        assert_eq!(lines[3], "");
        assert_eq!(lines[4], format!("{:32}block0(v0: i32):", ""));
        assert_eq!(lines[5], format!("{:36}v1 = iconst.i32 -1", "@0200"));
        assert_eq!(
            lines[6],
            format!("{:36}v2 = iadd v0, v1  ; v1 = -1", "@02ff")
        );
        assert_eq!(lines[7], format!("{:36}v9 -> v2", ""));
    }

    #[test]
    fn a_value_prints_all_its_aliases() {
        // Regression: the walk was bounded by the alias map's length
        // (here 1, only `v0` is aliased), so two of three aliases printed.
        let (mut f, [_, i1, ..]) = sample();
        let v0 = f.dfg.inst_args(i1)[0];
        for n in [9, 5, 6] {
            f.dfg.make_value_alias(Value::from_u32(n), v0);
        }
        let text = f.to_string();
        for n in [9, 5, 6] {
            assert!(text.contains(&format!("v{n} -> v0")), "{text}");
        }
    }
}
