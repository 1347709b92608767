//! The IR verifier.
//!
//! [`verify_function`] checks a [`Function`] and reports *every* problem it
//! finds, each with the entity it is about and, for instructions, the
//! offending instruction rendered as text. It never panics: every entity
//! reference is range-checked before it is used to index a table, lists are
//! read with checked look-ups, and walks over linked structures are bounded.
//!
//! Checks, in order:
//! 1. **Declarations**: signatures, external functions (signature and
//!    `UserExternalNameRef` in range of the parameters' name table), global
//!    values (references in range, no cycles, `vmctx` needs a `vmctx`
//!    parameter, `iadd_imm` typed like its base), dynamic types and dynamic
//!    stack slots, jump tables and exception tables (well-formed), the
//!    `stack_limit` global value.
//! 2. **Layout**: blocks and instructions in range and inserted once; no empty
//!    block; exactly one terminator, at the end of each block; the entry
//!    block's parameters match the signature.
//! 3. **Definitions**: each value is defined exactly once (its `ValueData`
//!    and the defining block/instruction agree), aliases are acyclic and
//!    typed like what they stand for.
//! 4. **Instructions**, driven by the opcode table ([`OPCODES`]): the data
//!    variant matches the opcode's format, entity references are in range,
//!    the controlling type is in the opcode's set, operand and result types
//!    satisfy the table's constraints, immediates fit, every used value is
//!    defined and its definition dominates the use (uses in blocks that are
//!    unreachable from the entry are not dominance-checked, as in
//!    Cranelift), branch arguments match the destination's parameters,
//!    calls and returns match their signatures, memory flags are consistent.
//!
//! [`OPCODES`]: crate::instructions::OPCODES

#[cfg(test)]
mod chaos;
mod display;
#[cfg(test)]
mod tests;

use crate::dfg::{DataFlowGraph, ValueData, ValueDef};
use crate::dominator_tree::DominatorTree;
use crate::entities::*;
use crate::entity::EntityRef;
use crate::flowgraph::ControlFlowGraph;
use crate::function::{
    ArgumentExtension, ArgumentPurpose, CallConv, ExternalName, Function, GlobalValueData,
    Signature,
};
use crate::instructions::*;
use crate::memflags::MemFlags;
use crate::types::Type;
use std::fmt;

pub(crate) use display::checked_args;

/// One verifier finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierError {
    /// The entity the error is about, printed (`inst3`, `block2`, `v7`).
    pub location: String,
    /// The offending instruction, printed, if any.
    pub context: Option<String>,
    pub message: String,
    /// The instruction the error is about, if it is about one (lets a test
    /// runner match `; error:` annotations to source lines).
    pub inst: Option<Inst>,
}

/// Every finding of one verification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifierErrors(pub Vec<VerifierError>);

impl VerifierErrors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location)?;
        if let Some(c) = &self.context {
            write!(f, ": {c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl fmt::Display for VerifierErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifierErrors {}

/// Verifies a function; reports every error found.
pub fn verify_function(func: &Function) -> Result<(), VerifierErrors> {
    let mut v = Verifier::new(func);
    v.run();
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(VerifierErrors(v.errors))
    }
}

/// Sentinel for "not in the layout" in the dense instruction tables.
const NOT_PLACED: u32 = u32::MAX;

struct Verifier<'a> {
    func: &'a Function,
    dfg: &'a DataFlowGraph,
    errors: Vec<VerifierError>,
    cfg: ControlFlowGraph,
    domtree: DominatorTree,
    /// Block of each instruction found in the layout (`NOT_PLACED` if none).
    inst_block: Vec<u32>,
    /// Position of each placed instruction within its block.
    inst_seq: Vec<u32>,
    /// Whether each block was met in the layout walk.
    block_placed: Vec<bool>,
    /// Blocks in layout order (validated, each once).
    blocks: Vec<Block>,
    /// For each of `blocks`, its range in `placed`.
    block_ranges: Vec<(usize, usize)>,
    /// Placed instructions in layout order (validated, each once). Later
    /// passes iterate this rather than the linked lists, so a corrupted
    /// layout is walked exactly once, by the bounded layout check.
    placed: Vec<Inst>,
}

impl<'a> Verifier<'a> {
    fn new(func: &'a Function) -> Self {
        Verifier {
            func,
            dfg: &func.stencil.dfg,
            errors: Vec::new(),
            cfg: ControlFlowGraph::new(),
            domtree: DominatorTree::new(),
            inst_block: vec![NOT_PLACED; func.dfg.num_insts()],
            inst_seq: vec![0; func.dfg.num_insts()],
            block_placed: vec![false; func.dfg.num_blocks()],
            blocks: Vec::new(),
            block_ranges: Vec::new(),
            placed: Vec::new(),
        }
    }

    // ----- Reporting -----

    fn report(&mut self, location: String, message: String) {
        self.errors.push(VerifierError {
            location,
            context: None,
            message,
            inst: None,
        });
    }

    fn inst_error(&mut self, inst: Inst, message: impl Into<String>) {
        self.errors.push(VerifierError {
            location: inst.to_string(),
            context: Some(display::inst_to_string(self.dfg, inst)),
            message: message.into(),
            inst: Some(inst),
        });
    }

    // ----- Driver -----

    fn run(&mut self) {
        self.check_signature();
        self.check_declarations();
        self.check_layout();
        self.check_value_definitions();
        self.cfg.compute(&self.func.stencil);
        self.domtree.compute(&self.func.stencil, &self.cfg);
        let blocks = std::mem::take(&mut self.blocks);
        let placed = std::mem::take(&mut self.placed);
        let ranges = std::mem::take(&mut self.block_ranges);
        for (&block, &(start, end)) in blocks.iter().zip(&ranges) {
            for &inst in &placed[start..end] {
                self.check_inst(inst, block);
            }
        }
        self.blocks = blocks;
        self.placed = placed;
        self.block_ranges = ranges;
    }

    // ----- Declarations -----

    fn check_sig(&mut self, location: &str, sig: &Signature) {
        for (what, list) in [("parameter", &sig.params), ("return", &sig.returns)] {
            for (i, p) in list.iter().enumerate() {
                if Type::from_repr(p.value_type.repr()).is_none() || p.value_type.is_invalid() {
                    self.report(
                        location.to_string(),
                        format!("{what} {i} has an invalid type"),
                    );
                } else if p.extension != ArgumentExtension::None && !p.value_type.is_int() {
                    self.report(
                        location.to_string(),
                        format!(
                            "{what} {i} of type {} cannot have an extension",
                            p.value_type
                        ),
                    );
                }
                if what == "return" && matches!(p.purpose, ArgumentPurpose::StructArgument(_)) {
                    self.report(
                        location.to_string(),
                        format!("return {i} cannot be a struct argument (sarg)"),
                    );
                }
            }
        }
    }

    fn check_signature(&mut self) {
        let sig = &self.func.signature;
        self.check_sig("signature", sig);
        if sig
            .params
            .iter()
            .any(|p| p.purpose == ArgumentPurpose::StackLimit)
            && self.func.stack_limit.is_some()
        {
            self.report(
                "signature".into(),
                "a stack_limit parameter and a stack_limit global value are both given".into(),
            );
        }
    }

    fn user_name_ok(&self, name: &ExternalName) -> bool {
        match name {
            ExternalName::User(r) => {
                (r.as_u32() as usize) < self.func.params.num_user_named_funcs()
            }
            _ => true,
        }
    }

    fn check_declarations(&mut self) {
        let func = self.func;
        let dfg = self.dfg;
        for (sr, sig) in dfg.signatures.iter() {
            self.check_sig(&sr.to_string(), sig);
        }
        for (fr, ext) in dfg.ext_funcs.iter() {
            if !dfg.signatures.is_valid(ext.signature) {
                self.report(
                    fr.to_string(),
                    format!("signature {} is out of range", ext.signature),
                );
            }
            if !self.user_name_ok(&ext.name) {
                self.report(
                    fr.to_string(),
                    "external name refers to a missing user name table entry".into(),
                );
            }
        }
        self.check_global_values();
        for (dt, data) in dfg.dynamic_types.iter() {
            if !func.global_values.is_valid(data.dynamic_scale) {
                self.report(
                    dt.to_string(),
                    format!("global value {} is out of range", data.dynamic_scale),
                );
            }
            if !data.base_vector_ty.is_vector() || data.base_vector_ty.is_dynamic_vector() {
                self.report(
                    dt.to_string(),
                    format!(
                        "base type {} is not a fixed vector type",
                        data.base_vector_ty
                    ),
                );
            }
        }
        for (dss, data) in func.dynamic_stack_slots.iter() {
            if !dfg.dynamic_types.is_valid(data.dyn_ty) {
                self.report(
                    dss.to_string(),
                    format!("dynamic type {} is out of range", data.dyn_ty),
                );
            }
        }
        for (ss, data) in func.sized_stack_slots.iter() {
            if data.align_shift > 31 {
                self.report(
                    ss.to_string(),
                    format!("alignment 2^{} is too large", data.align_shift),
                );
            }
        }
        for (jt, data) in dfg.jump_tables.iter() {
            if data.entries.is_empty() {
                self.report(jt.to_string(), "jump table has no default entry".into());
            }
        }
        for (et, data) in dfg.exception_tables.iter() {
            if !dfg.signatures.is_valid(data.sig) {
                self.report(
                    et.to_string(),
                    format!("signature {} is out of range", data.sig),
                );
            }
            let handlers = data
                .items
                .iter()
                .filter(|i| !matches!(i, ExceptionTableItem::Context(_)))
                .count();
            if data.targets.len() != handlers + 1 {
                self.report(
                    et.to_string(),
                    format!(
                        "exception table has {} targets for {} handlers (expected one more, the normal return)",
                        data.targets.len(),
                        handlers
                    ),
                );
            }
        }
        if let Some(gv) = func.stack_limit {
            if !func.global_values.is_valid(gv) {
                self.report(
                    "stack_limit".into(),
                    format!("global value {gv} is out of range"),
                );
            }
        }
    }

    /// The type a global value produces, if it can be told without a
    /// target (`vmctx`/symbols are pointer-sized: `None`).
    fn gv_type(&self, gv: GlobalValue) -> Option<Type> {
        match self.func.global_values.get(gv)? {
            GlobalValueData::Load { global_type, .. }
            | GlobalValueData::IAddImm { global_type, .. } => Some(*global_type),
            _ => None,
        }
    }

    fn check_global_values(&mut self) {
        let func = self.func;
        let n = func.global_values.len();
        let has_vmctx = func
            .signature
            .params
            .iter()
            .any(|p| p.purpose == ArgumentPurpose::VMContext);
        for (gv, data) in func.global_values.iter() {
            let loc = gv.to_string();
            match data {
                GlobalValueData::VMContext => {
                    if !has_vmctx {
                        self.report(
                            loc,
                            "undeclared vmctx reference: the signature has no vmctx parameter"
                                .into(),
                        );
                    }
                }
                GlobalValueData::Load {
                    base,
                    global_type,
                    flags,
                    ..
                } => {
                    if !func.global_values.is_valid(*base) {
                        self.report(loc.clone(), format!("base {base} is out of range"));
                    } else if let Some(bt) = self.gv_type(*base) {
                        if !crate::types::TypeSet::IADDR.contains(bt) {
                            self.report(
                                loc.clone(),
                                format!("base {base} has type {bt}, not a pointer type"),
                            );
                        }
                    }
                    if global_type.is_invalid() {
                        self.report(loc.clone(), "load has an invalid type".into());
                    }
                    if let Some(m) = self.memflags_problem(*flags) {
                        self.report(loc, m);
                    }
                }
                GlobalValueData::IAddImm {
                    base, global_type, ..
                } => {
                    if !func.global_values.is_valid(*base) {
                        self.report(loc, format!("base {base} is out of range"));
                    } else if !global_type.is_int() || !global_type.is_scalar() {
                        self.report(
                            loc,
                            format!("iadd_imm type {global_type} is not a scalar integer"),
                        );
                    } else if let Some(bt) = self.gv_type(*base) {
                        if bt != *global_type {
                            self.report(
                                loc,
                                format!(
                                    "iadd_imm type {global_type} differs from base {base} type {bt}"
                                ),
                            );
                        }
                    }
                }
                GlobalValueData::Symbol { name, .. } => {
                    if !self.user_name_ok(name) {
                        self.report(
                            loc,
                            "external name refers to a missing user name table entry".into(),
                        );
                    }
                }
                GlobalValueData::DynScaleTargetConst { vector_type } => {
                    if !vector_type.is_vector() {
                        self.report(loc, format!("{vector_type} is not a vector type"));
                    }
                }
            }
        }
        // Cycles: follow base links with a per-walk bound; colour nodes
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let mut colour = vec![0u8; n];
        for start in 0..n {
            if colour[start] != 0 {
                continue;
            }
            let mut path: Vec<usize> = Vec::new();
            let mut cur = Some(start);
            while let Some(i) = cur {
                match colour[i] {
                    0 => {
                        colour[i] = 1;
                        path.push(i);
                        cur = match &func.global_values.as_slice()[i] {
                            GlobalValueData::Load { base, .. }
                            | GlobalValueData::IAddImm { base, .. } => {
                                Some(base.index()).filter(|&b| b < n)
                            }
                            _ => None,
                        };
                    }
                    1 => {
                        self.report(GlobalValue::new(i).to_string(), "global value cycle".into());
                        break;
                    }
                    _ => break,
                }
            }
            for i in path {
                colour[i] = 2;
            }
        }
    }

    /// Describes what is wrong with memory flags, if anything.
    fn memflags_problem(&self, flags: MemFlags) -> Option<String> {
        let bits = flags.word_bits();
        if bits & !MemFlags::KNOWN_WORD_BITS != 0 {
            return Some(format!("unknown memory flag bits {bits:#x}"));
        }
        if bits & little_bit() != 0 && bits & big_bit() != 0 {
            return Some("memory flags `little` and `big` are both set".into());
        }
        if let Some(r) = flags.alias_region() {
            if !self.dfg.alias_regions.is_valid(r) {
                return Some(format!("alias region {r} is out of range"));
            }
        }
        None
    }

    // ----- Layout -----

    fn check_layout(&mut self) {
        let func = self.func;
        let nblocks = self.dfg.num_blocks();
        let ninsts = self.dfg.num_insts();
        // Bound every walk so a corrupted linked list cannot hang us.
        let mut block_budget = nblocks + 1;
        let mut inst_budget = ninsts + 1;
        let mut cur = func.layout.entry_block();
        if cur.is_none() {
            self.report("function".into(), "function has no entry block".into());
            return;
        }
        while let Some(block) = cur {
            if block_budget == 0 {
                self.report("layout".into(), "block list does not terminate".into());
                break;
            }
            block_budget -= 1;
            if block.index() >= nblocks {
                self.report(block.to_string(), "block is out of range".into());
                break;
            }
            if self.block_placed[block.index()] {
                self.report(
                    block.to_string(),
                    "block appears more than once in the layout".into(),
                );
                break;
            }
            self.block_placed[block.index()] = true;
            self.blocks.push(block);
            if self.dfg.try_block_params(block).is_none() {
                self.report(block.to_string(), "block parameter list is corrupt".into());
            }
            let mut inst_cur = func.layout.first_inst(block);
            if inst_cur.is_none() {
                self.report(block.to_string(), "block is empty".into());
            }
            let mut seq = 0u32;
            let mut last: Option<Inst> = None;
            let start = self.placed.len();
            while let Some(inst) = inst_cur {
                if inst_budget == 0 {
                    self.report(
                        block.to_string(),
                        "instruction list does not terminate".into(),
                    );
                    break;
                }
                inst_budget -= 1;
                if inst.index() >= ninsts {
                    self.report(
                        block.to_string(),
                        format!("layout holds {inst}, which is out of range"),
                    );
                    break;
                }
                if self.inst_block[inst.index()] != NOT_PLACED {
                    self.inst_error(inst, "instruction appears more than once in the layout");
                    break;
                }
                if func.layout.inst_block(inst) != Some(block) {
                    self.inst_error(
                        inst,
                        format!("layout places this instruction in another block than {block}"),
                    );
                }
                self.inst_block[inst.index()] = block.index() as u32;
                self.inst_seq[inst.index()] = seq;
                self.placed.push(inst);
                seq += 1;
                let next = func.layout.next_inst(inst);
                if self.dfg.insts[inst].opcode().is_terminator() && next.is_some() {
                    self.inst_error(inst, "terminator is not the last instruction of its block");
                }
                last = Some(inst);
                inst_cur = next;
            }
            self.block_ranges.push((start, self.placed.len()));
            if let Some(l) = last {
                if !self.dfg.insts[l].opcode().is_terminator() {
                    self.inst_error(l, format!("{block} does not end with a terminator"));
                }
            }
            cur = func.layout.next_block(block);
        }
        self.check_entry_params();
    }

    fn check_entry_params(&mut self) {
        let Some(&entry) = self.blocks.first() else {
            return;
        };
        if self.dfg.blocks.get(entry).is_some_and(|d| d.cold) {
            self.report(entry.to_string(), "the entry block cannot be cold".into());
        }
        let Some(params) = self.dfg.try_block_params(entry) else {
            return;
        };
        let sig = &self.func.signature;
        if params.len() != sig.params.len() {
            self.report(
                entry.to_string(),
                format!(
                    "entry block has {} parameters, the signature {}",
                    params.len(),
                    sig.params.len()
                ),
            );
            return;
        }
        for (i, (&p, abi)) in params.iter().zip(&sig.params).enumerate() {
            let Some(ty) = self.value_type_checked(p) else {
                continue;
            };
            if ty != abi.value_type {
                self.report(
                    entry.to_string(),
                    format!(
                        "entry block parameter {i} ({p}) has type {ty}, the signature says {}",
                        abi.value_type
                    ),
                );
            }
        }
    }

    // ----- Definitions -----

    fn value_type_checked(&self, v: Value) -> Option<Type> {
        self.dfg.values.get(v)?;
        Some(self.dfg.value_type(v))
    }

    fn check_value_definitions(&mut self) {
        let dfg = self.dfg;
        let nvalues = dfg.num_values();
        // Every value's record must point at a definer that lists it back.
        for (v, data) in dfg.values.iter() {
            match *data {
                ValueData::Inst { inst, num, .. } => {
                    let ok = dfg
                        .try_inst_results(inst)
                        .and_then(|rs| rs.get(num as usize))
                        == Some(&v)
                        && dfg.inst_is_valid(inst);
                    if !ok {
                        self.report(
                            v.to_string(),
                            format!("claims to be result {num} of {inst}, which does not list it"),
                        );
                    }
                }
                ValueData::Param { block, num, .. } => {
                    let ok = dfg
                        .try_block_params(block)
                        .and_then(|ps| ps.get(num as usize))
                        == Some(&v);
                    if !ok {
                        self.report(
                            v.to_string(),
                            format!(
                                "claims to be parameter {num} of {block}, which does not list it"
                            ),
                        );
                    }
                }
                ValueData::Alias { ty, original } => {
                    if original.index() >= nvalues {
                        self.report(
                            v.to_string(),
                            format!("alias of {original}, which is out of range"),
                        );
                        continue;
                    }
                    let target = dfg.resolve_aliases(v);
                    match dfg.values.get(target) {
                        Some(ValueData::Alias { .. }) => {
                            self.report(v.to_string(), "alias cycle".into());
                        }
                        Some(ValueData::Unused) => {
                            self.report(
                                v.to_string(),
                                format!("alias of {target}, which is never defined"),
                            );
                        }
                        Some(_) => {
                            let t = dfg.value_type(target);
                            if t != ty {
                                self.report(
                                    v.to_string(),
                                    format!("alias has type {ty} but {target} has type {t}"),
                                );
                            }
                        }
                        None => {}
                    }
                }
                ValueData::Unused => {}
            }
        }
        // Every value listed by a placed block or instruction must record
        // that definer (this catches a value defined twice).
        let blocks = std::mem::take(&mut self.blocks);
        let placed = std::mem::take(&mut self.placed);
        let ranges = std::mem::take(&mut self.block_ranges);
        for (&block, &(start, end)) in blocks.iter().zip(&ranges) {
            if let Some(params) = dfg.try_block_params(block) {
                for (i, &p) in params.iter().enumerate() {
                    let ok = matches!(
                        dfg.values.get(p),
                        Some(&ValueData::Param { block: b, num, .. }) if b == block && num as usize == i
                    );
                    if !ok {
                        self.report(
                            block.to_string(),
                            format!("parameter {i} ({p}) is not defined by this block (defined elsewhere or out of range)"),
                        );
                    } else if dfg.value_type(p).is_invalid() {
                        self.report(block.to_string(), format!("parameter {p} has no type"));
                    }
                }
            }
            for &inst in &placed[start..end] {
                match dfg.try_inst_results(inst) {
                    None => self.inst_error(inst, "result list is corrupt"),
                    Some(rs) => {
                        for (i, &r) in rs.iter().enumerate() {
                            let ok = matches!(
                                dfg.values.get(r),
                                Some(&ValueData::Inst { inst: d, num, .. }) if d == inst && num as usize == i
                            );
                            if !ok {
                                self.inst_error(
                                    inst,
                                    format!("result {i} ({r}) is not defined by this instruction (defined elsewhere or out of range)"),
                                );
                            }
                        }
                    }
                }
            }
        }
        self.blocks = blocks;
        self.placed = placed;
        self.block_ranges = ranges;
    }

    // ----- Instructions -----

    fn check_inst(&mut self, inst: Inst, block: Block) {
        let data = self.dfg.insts[inst];
        let op = data.opcode();
        let info = op.info();
        if data_format(&data) != info.format {
            self.inst_error(
                inst,
                format!(
                    "{op} needs format {:?}, the instruction data is {:?}",
                    info.format,
                    data_format(&data)
                ),
            );
            return;
        }
        if !self.check_references(inst, &data) {
            return;
        }
        let Some(args) = checked_args(&data, self.dfg) else {
            return;
        };
        let Some(results) = self.dfg.try_inst_results(inst) else {
            return;
        };
        if args.len() < info.format.fixed_value_operands() {
            self.inst_error(
                inst,
                format!(
                    "{op} needs at least {} value operands, has {}",
                    info.format.fixed_value_operands(),
                    args.len()
                ),
            );
            return;
        }
        if !info.format.has_varargs() && args.len() != info.format.fixed_value_operands() {
            self.inst_error(inst, "wrong number of value operands");
            return;
        }
        // Uses: defined, dominating.
        for &a in args {
            self.check_use(inst, block, a);
        }
        for bc in self.dfg.branch_destinations(inst) {
            if let Some(bargs) = self.dfg.block_args.try_get(bc.args) {
                for ba in bargs {
                    if let BlockArg::Value(v) = *ba {
                        self.check_use(inst, block, v);
                    }
                }
            }
        }
        if let InstructionData::TryCall { exception, .. }
        | InstructionData::TryCallIndirect { exception, .. } = data
        {
            if let Some(t) = self.dfg.exception_tables.get(exception) {
                for item in &t.items {
                    if let ExceptionTableItem::Context(v) = *item {
                        self.check_use(inst, block, v);
                    }
                }
            }
        }
        // If any operand is undefined, types are meaningless: stop here.
        if args.iter().any(|&a| self.resolved_type(a).is_none()) {
            return;
        }
        self.check_types(inst, &data, args, results);
        self.check_immediates(inst, &data);
        self.check_branches(inst, &data);
        self.check_calls(inst, &data, args, results);
        if let Some(flags) = data.memflags() {
            if let Some(m) = self.memflags_problem(flags) {
                self.inst_error(inst, m);
            } else if flags.readonly() && data.opcode().can_store() && !data.opcode().can_load() {
                self.inst_error(inst, "a store cannot be `readonly`");
            }
        }
    }

    /// The type of a value after resolving aliases; `None` if it is out of
    /// range, never defined, or part of an alias cycle.
    fn resolved_type(&self, v: Value) -> Option<Type> {
        let r = self.dfg.resolve_aliases(v);
        match self.dfg.values.get(r)? {
            ValueData::Inst { ty, .. } | ValueData::Param { ty, .. } => Some(*ty),
            _ => None,
        }
    }

    /// Checks every entity reference of `inst`; false if any is out of range
    /// (then no further checks run on it).
    fn check_references(&mut self, inst: Inst, data: &InstructionData) -> bool {
        let func = self.func;
        let dfg = self.dfg;
        let mut bad: Vec<String> = Vec::new();
        match checked_args(data, dfg) {
            None => bad.push("value list is corrupt".into()),
            Some(args) => {
                for a in args {
                    if !dfg.value_is_valid(*a) {
                        bad.push(format!("value {a} is out of range"));
                    }
                }
            }
        }
        use InstructionData::*;
        let mut calls: &[BlockCall] = &[];
        match data {
            UnaryConst { constant, .. } if !dfg.constants.is_valid(*constant) => {
                bad.push(format!("constant {constant} is out of range"))
            }
            UnaryGlobalValue { global_value, .. }
                if !func.global_values.is_valid(*global_value) =>
            {
                bad.push(format!("global value {global_value} is out of range"))
            }
            Shuffle { imm, .. } if !dfg.immediates.is_valid(*imm) => {
                bad.push(format!("immediate {imm} is out of range"))
            }
            Jump { destination, .. } => calls = std::slice::from_ref(destination),
            Brif { blocks, .. } => calls = blocks,
            BranchTable { table, .. } => match dfg.jump_tables.get(*table) {
                Some(t) => calls = &t.entries,
                None => bad.push(format!("jump table {table} is out of range")),
            },
            Call { func_ref, .. } | FuncAddr { func_ref, .. }
                if !dfg.ext_funcs.is_valid(*func_ref) =>
            {
                bad.push(format!("function {func_ref} is out of range"))
            }
            CallIndirect { sig_ref, .. } if !dfg.signatures.is_valid(*sig_ref) => {
                bad.push(format!("signature {sig_ref} is out of range"))
            }
            StackLoad { stack_slot, .. } if !func.sized_stack_slots.is_valid(*stack_slot) => {
                bad.push(format!("stack slot {stack_slot} is out of range"))
            }
            DynamicStackLoad {
                dynamic_stack_slot, ..
            } if !func.dynamic_stack_slots.is_valid(*dynamic_stack_slot) => bad.push(format!(
                "dynamic stack slot {dynamic_stack_slot} is out of range"
            )),
            ExceptionHandlerAddress { block, .. } if !dfg.block_is_valid(*block) => {
                bad.push(format!("block {block} is out of range"))
            }
            _ => {}
        }
        if let TryCall { func_ref, .. } = data {
            if !dfg.ext_funcs.is_valid(*func_ref) {
                bad.push(format!("function {func_ref} is out of range"));
            }
        }
        if let TryCall { exception, .. } | TryCallIndirect { exception, .. } = data {
            match dfg.exception_tables.get(*exception) {
                Some(t) => {
                    calls = &t.targets;
                    if !dfg.signatures.is_valid(t.sig) {
                        bad.push(format!("signature {} is out of range", t.sig));
                    }
                    for item in &t.items {
                        if let ExceptionTableItem::Context(v) = item {
                            if !dfg.value_is_valid(*v) {
                                bad.push(format!("context value {v} is out of range"));
                            }
                        }
                    }
                }
                None => bad.push(format!("exception table {exception} is out of range")),
            }
        }
        let entry = func.layout.entry_block();
        for bc in calls {
            if Some(bc.block) == entry {
                bad.push(format!(
                    "branches to the entry block {}, which cannot have predecessors",
                    bc.block
                ));
            }
            if !dfg.block_is_valid(bc.block) {
                bad.push(format!("destination {} is out of range", bc.block));
            } else if !func.layout.is_block_inserted(bc.block) {
                bad.push(format!("destination {} is not in the layout", bc.block));
            }
            match dfg.block_args.try_get(bc.args) {
                None => bad.push("block argument list is corrupt".into()),
                Some(args) => {
                    for a in args {
                        if let BlockArg::Value(v) = a {
                            if !dfg.value_is_valid(*v) {
                                bad.push(format!("value {v} is out of range"));
                            }
                        }
                    }
                }
            }
        }
        if let Some(r) = data.memflags().and_then(|f| f.alias_region()) {
            if !dfg.alias_regions.is_valid(r) {
                bad.push(format!("alias region {r} is out of range"));
            }
        }
        let ok = bad.is_empty();
        for m in bad {
            self.inst_error(inst, m);
        }
        ok
    }

    fn check_use(&mut self, inst: Inst, block: Block, v: Value) {
        let dfg = self.dfg;
        if !dfg.value_is_valid(v) {
            return; // already reported as out of range
        }
        let r = dfg.resolve_aliases(v);
        let def = match dfg.values.get(r) {
            Some(ValueData::Alias { .. }) => {
                self.inst_error(inst, format!("uses {v}, which is part of an alias cycle"));
                return;
            }
            Some(ValueData::Unused) | None => {
                self.inst_error(inst, format!("uses {v}, which is never defined"));
                return;
            }
            Some(_) => dfg.value_def(r),
        };
        let reachable = self.domtree.is_reachable(block);
        match def {
            Some(ValueDef::Result(d, _)) => {
                let Some(&db) = self.inst_block.get(d.index()) else {
                    self.inst_error(inst, format!("uses {v}, defined by {d}, out of range"));
                    return;
                };
                if db == NOT_PLACED {
                    self.inst_error(
                        inst,
                        format!("uses {v}, defined by {d}, which is not in the layout"),
                    );
                    return;
                }
                if d == inst {
                    self.inst_error(inst, format!("uses its own result {v}"));
                    return;
                }
                if !reachable {
                    return;
                }
                let dblock = Block::new(db as usize);
                let dominates = if dblock == block {
                    self.inst_seq[d.index()] < self.inst_seq[inst.index()]
                } else {
                    self.domtree.block_dominates(dblock, block)
                };
                if !dominates {
                    self.inst_error(
                        inst,
                        format!("uses {v}, whose definition in {d} does not dominate this use"),
                    );
                }
            }
            Some(ValueDef::Param(b, _)) => {
                if !self.block_placed.get(b.index()).copied().unwrap_or(false) {
                    self.inst_error(
                        inst,
                        format!("uses {v}, a parameter of {b}, which is not in the layout"),
                    );
                    return;
                }
                if reachable && !self.domtree.block_dominates(b, block) {
                    self.inst_error(
                        inst,
                        format!("uses {v}, a parameter of {b}, which does not dominate this use"),
                    );
                }
            }
            None => {}
        }
    }

    // ----- Types -----

    fn check_types(
        &mut self,
        inst: Inst,
        data: &InstructionData,
        args: &[Value],
        results: &[Value],
    ) {
        let op = data.opcode();
        let info = op.info();
        // The controlling type: from the type-variable operand, else from
        // the first result.
        let ctrl = match info.ctrl {
            None => Type::INVALID,
            Some(set) => {
                let ctrl = match info.typevar_operand {
                    Some(tv) => args
                        .get(tv as usize)
                        .and_then(|&a| self.resolved_type(a))
                        .unwrap_or(Type::INVALID),
                    None => match results.first() {
                        Some(&r) => self.value_type_checked(r).unwrap_or(Type::INVALID),
                        None => {
                            self.inst_error(
                                inst,
                                format!("{op} needs a result to carry its controlling type"),
                            );
                            return;
                        }
                    },
                };
                if !set.contains(ctrl) {
                    self.inst_error(
                        inst,
                        format!("controlling type {ctrl} is not allowed for {op}"),
                    );
                    return;
                }
                ctrl
            }
        };
        for (i, (c, &a)) in info.args.iter().zip(args).enumerate() {
            let Some(ty) = self.resolved_type(a) else {
                continue;
            };
            if let Err(m) = check_constraint(*c, ty, ctrl) {
                self.inst_error(inst, format!("operand {i} ({a}): {m}"));
            }
        }
        // Call results are checked against the signature in `check_calls`.
        if op.is_call() && info.format.has_varargs() {
            return;
        }
        if results.len() != info.results.len() {
            self.inst_error(
                inst,
                format!(
                    "{op} has {} results, expected {}",
                    results.len(),
                    info.results.len()
                ),
            );
            return;
        }
        for (i, (c, &r)) in info.results.iter().zip(results).enumerate() {
            let Some(ty) = self.value_type_checked(r) else {
                continue;
            };
            if let Err(m) = check_constraint(*c, ty, ctrl) {
                self.inst_error(inst, format!("result {i} ({r}): {m}"));
            }
        }
        if op == Opcode::Bitcast {
            // The table has no constraint kind for "same total width", nor
            // for bitcast's use of memory flags as a byte-order word.
            if let (Some(&a), Some(&r)) = (args.first(), results.first()) {
                if let (Some(at), Some(rt)) = (self.resolved_type(a), self.value_type_checked(r)) {
                    let flags = data.memflags().unwrap_or_default();
                    let mut rest = flags;
                    rest.set_word_bits_unchecked(0);
                    if at.bits() != rt.bits() {
                        self.inst_error(
                            inst,
                            format!("bitcast from {at} to {rt} changes the bit width"),
                        );
                    } else if rest != MemFlags::new()
                        || flags.word_bits() & !(little_bit() | big_bit()) != 0
                    {
                        self.inst_error(inst, "bitcast accepts only the `big` or `little` flag");
                    } else if flags.explicit_endianness().is_none()
                        && at.lane_count() != rt.lane_count()
                    {
                        self.inst_error(
                            inst,
                            format!(
                                "bitcast from {at} to {rt} changes the lane count: it needs `big` or `little`"
                            ),
                        );
                    }
                }
            }
        }
    }

    fn ctrl_of(&self, inst: Inst, data: &InstructionData) -> Type {
        let info = data.opcode().info();
        if info.ctrl.is_none() {
            return Type::INVALID;
        }
        match info.typevar_operand {
            Some(tv) => checked_args(data, self.dfg)
                .and_then(|a| a.get(tv as usize).copied())
                .and_then(|a| self.resolved_type(a))
                .unwrap_or(Type::INVALID),
            None => self
                .dfg
                .try_inst_results(inst)
                .and_then(|r| r.first().copied())
                .and_then(|r| self.value_type_checked(r))
                .unwrap_or(Type::INVALID),
        }
    }

    // ----- Immediates -----

    fn check_immediates(&mut self, inst: Inst, data: &InstructionData) {
        let ctrl = self.ctrl_of(inst, data);
        use InstructionData::*;
        match *data {
            UnaryImm { imm, .. } if ctrl.is_int() => {
                let bits = ctrl.bits();
                if bits < 64 {
                    let v = imm.bits() as i128;
                    let lo = -(1i128 << (bits - 1));
                    let hi = (1i128 << bits) - 1;
                    if v < lo || v > hi {
                        self.inst_error(
                            inst,
                            format!("constant immediate {} does not fit in {ctrl}", imm.bits()),
                        );
                    }
                }
            }
            BinaryImm8 { imm, .. } | TernaryImm8 { imm, .. }
                if ctrl.is_vector()
                    && !ctrl.is_dynamic_vector()
                    && u32::from(imm.0) >= ctrl.lane_count() =>
            {
                self.inst_error(
                    inst,
                    format!(
                        "lane index {} is out of range for {ctrl} ({} lanes)",
                        imm.0,
                        ctrl.lane_count()
                    ),
                );
            }
            Shuffle { imm, .. } => {
                if let Some(mask) = self.dfg.immediates.get(imm) {
                    if mask.len() != 16 {
                        self.inst_error(
                            inst,
                            format!("shuffle mask has {} bytes, not 16", mask.len()),
                        );
                    } else if let Some(b) = mask.as_slice().iter().find(|&&b| b >= 32) {
                        self.inst_error(inst, format!("shuffle mask lane {b} is out of range"));
                    }
                }
            }
            UnaryConst { constant, .. } => {
                // The constant must be exactly as wide as the result type.
                let rt = self
                    .dfg
                    .try_inst_results(inst)
                    .and_then(|r| r.first().copied())
                    .and_then(|r| self.value_type_checked(r));
                if let (Some(c), Some(rt)) = (self.dfg.constants.get(constant), rt) {
                    if c.len() as u32 != rt.bytes() && !rt.is_dynamic_vector() {
                        self.inst_error(
                            inst,
                            format!("constant has {} bytes, {rt} needs {}", c.len(), rt.bytes()),
                        );
                    }
                }
            }
            StackLoad {
                stack_slot, offset, ..
            } => {
                if let Some(ss) = self.func.sized_stack_slots.get(stack_slot) {
                    if offset.0 < 0 || offset.0 as u32 > ss.size {
                        self.inst_error(
                            inst,
                            format!(
                                "offset {} is outside {stack_slot} (size {})",
                                offset.0, ss.size
                            ),
                        );
                    }
                }
            }
            UnaryGlobalValue {
                opcode,
                global_value,
            } => {
                // `symbol_value` and `tls_value` name symbols; the table's
                // `CAN_*` flags do not distinguish them, their format does,
                // and thread-locality is the one distinction between the two.
                let wants_tls = opcode == Opcode::TlsValue;
                match self.func.global_values.get(global_value) {
                    Some(GlobalValueData::Symbol { tls, .. }) if *tls != wants_tls => {
                        self.inst_error(
                            inst,
                            if wants_tls {
                                format!("{global_value} is not a thread-local symbol")
                            } else {
                                format!("{global_value} is a thread-local symbol: use tls_value")
                            },
                        );
                    }
                    Some(GlobalValueData::Symbol { .. }) => {}
                    Some(_) => {
                        self.inst_error(inst, format!("{global_value} is not a symbol"));
                    }
                    None => {}
                }
            }
            ExceptionHandlerAddress { block, imm, .. } => {
                if !self.func.layout.is_block_inserted(block) {
                    self.inst_error(inst, format!("{block} is not in the layout"));
                }
                if imm.0 < 0 {
                    self.inst_error(inst, "handler index is negative");
                }
            }
            _ => {}
        }
    }

    // ----- Branches -----

    fn check_branches(&mut self, inst: Inst, data: &InstructionData) {
        let dfg = self.dfg;
        let (calls, try_sig): (&[BlockCall], Option<&Signature>) = match data {
            InstructionData::TryCall { exception, .. }
            | InstructionData::TryCallIndirect { exception, .. } => {
                match dfg.exception_tables.get(*exception) {
                    Some(t) => (&t.targets, dfg.signatures.get(t.sig)),
                    None => return,
                }
            }
            _ => (dfg.branch_destinations(inst), None),
        };
        let is_try = matches!(
            data,
            InstructionData::TryCall { .. } | InstructionData::TryCallIndirect { .. }
        );
        for (k, bc) in calls.iter().enumerate() {
            let Some(params) = dfg.try_block_params(bc.block) else {
                continue;
            };
            let Some(args) = dfg.block_args.try_get(bc.args) else {
                continue;
            };
            if args.len() != params.len() {
                self.inst_error(
                    inst,
                    format!(
                        "passes {} arguments to {}, which has {} parameters",
                        args.len(),
                        bc.block,
                        params.len()
                    ),
                );
                continue;
            }
            for (i, (a, &p)) in args.iter().zip(params).enumerate() {
                let Some(pt) = self.value_type_checked(p) else {
                    continue;
                };
                let at = match *a {
                    BlockArg::Value(v) => match self.resolved_type(v) {
                        Some(t) => t,
                        None => continue,
                    },
                    BlockArg::TryCallRet(n) => {
                        if !is_try || k != 0 {
                            self.inst_error(
                                inst,
                                format!(
                                    "ret{n} is only allowed in the normal-return destination of a try_call"
                                ),
                            );
                            continue;
                        }
                        match try_sig.and_then(|s| s.returns.get(n as usize)) {
                            Some(r) => r.value_type,
                            None => {
                                if try_sig.is_some() {
                                    self.inst_error(
                                        inst,
                                        format!("ret{n} is out of range of the callee's returns"),
                                    );
                                }
                                continue;
                            }
                        }
                    }
                    BlockArg::TryCallExn(n) => {
                        if !is_try || k == 0 {
                            self.inst_error(
                                inst,
                                format!(
                                    "exn{n} is only allowed in the handler destinations of a try_call"
                                ),
                            );
                            continue;
                        }
                        // The callee's convention defines the payloads: two
                        // pointer-sized values where exceptions are supported.
                        let payloads = try_sig.map_or(0, |s| exception_payloads(s.call_conv));
                        if try_sig.is_some() && n as usize >= payloads {
                            self.inst_error(
                                inst,
                                format!(
                                    "exn{n} is out of range: the callee's convention provides {payloads} exception payloads"
                                ),
                            );
                        } else if !crate::types::TypeSet::IADDR.contains(pt) {
                            self.inst_error(
                                inst,
                                format!(
                                    "exn{n} is pointer-sized, but parameter {i} of {} has type {pt}",
                                    bc.block
                                ),
                            );
                        }
                        continue;
                    }
                };
                if at != pt {
                    self.inst_error(
                        inst,
                        format!(
                            "argument {i} to {} has type {at}, the parameter {p} has type {pt}",
                            bc.block
                        ),
                    );
                }
            }
        }
    }

    // ----- Calls and returns -----

    fn check_calls(
        &mut self,
        inst: Inst,
        data: &InstructionData,
        args: &[Value],
        results: &[Value],
    ) {
        let dfg = self.dfg;
        let op = data.opcode();
        if op.is_return() && !op.is_call() {
            let rets = &self.func.signature.returns;
            if args.len() != rets.len() {
                self.inst_error(
                    inst,
                    format!(
                        "returns {} values, the signature {}",
                        args.len(),
                        rets.len()
                    ),
                );
                return;
            }
            for (i, (&a, r)) in args.iter().zip(rets).enumerate() {
                if let Some(t) = self.resolved_type(a) {
                    if t != r.value_type {
                        self.inst_error(
                            inst,
                            format!(
                                "return value {i} ({a}) has type {t}, the signature says {}",
                                r.value_type
                            ),
                        );
                    }
                }
            }
            return;
        }
        if !op.is_call() {
            return;
        }
        let (sig_ref, call_args) = match *data {
            InstructionData::Call { func_ref, .. } => {
                (dfg.ext_funcs.get(func_ref).map(|f| f.signature), args)
            }
            InstructionData::CallIndirect { sig_ref, .. } => (Some(sig_ref), &args[1..]),
            InstructionData::TryCall {
                func_ref,
                exception,
                ..
            } => {
                let et_sig = dfg.exception_tables.get(exception).map(|t| t.sig);
                let fn_sig = dfg.ext_funcs.get(func_ref).map(|f| f.signature);
                if let (Some(a), Some(b)) = (et_sig, fn_sig) {
                    if let (Some(sa), Some(sb)) = (dfg.signatures.get(a), dfg.signatures.get(b)) {
                        if sa != sb {
                            self.inst_error(
                                inst,
                                format!("the exception table's signature {a} differs from the callee's {b}"),
                            );
                        }
                    }
                }
                (et_sig, args)
            }
            InstructionData::TryCallIndirect { exception, .. } => (
                dfg.exception_tables.get(exception).map(|t| t.sig),
                &args[1..],
            ),
            // `stack_switch` and other calls with fixed operands only.
            _ => return,
        };
        let Some(sig) = sig_ref.and_then(|s| dfg.signatures.get(s)) else {
            return;
        };
        if call_args.len() != sig.params.len() {
            self.inst_error(
                inst,
                format!(
                    "passes {} arguments, the signature has {} parameters",
                    call_args.len(),
                    sig.params.len()
                ),
            );
        } else {
            for (i, (&a, p)) in call_args.iter().zip(&sig.params).enumerate() {
                if let Some(t) = self.resolved_type(a) {
                    if t != p.value_type {
                        self.inst_error(
                            inst,
                            format!(
                                "argument {i} ({a}) has type {t}, the signature says {}",
                                p.value_type
                            ),
                        );
                    }
                }
            }
        }
        if op.is_return() {
            // A tail call: the callee returns straight to our caller.
            let caller = &self.func.signature;
            let types =
                |s: &Signature| -> Vec<Type> { s.returns.iter().map(|r| r.value_type).collect() };
            if types(sig) != types(caller) {
                self.inst_error(
                    inst,
                    "the callee's return types differ from this function's",
                );
            }
            if caller.call_conv != CallConv::Tail {
                self.inst_error(
                    inst,
                    format!(
                        "tail calls need the `tail` calling convention, this function uses `{}`",
                        caller.call_conv
                    ),
                );
            }
            if sig.call_conv != CallConv::Tail {
                self.inst_error(
                    inst,
                    format!(
                        "tail calls need the `tail` calling convention, the callee uses `{}`",
                        sig.call_conv
                    ),
                );
            }
            if !results.is_empty() {
                self.inst_error(inst, "a tail call has no results");
            }
            return;
        }
        if op.is_branch() {
            // try_call: results flow through `retN` block arguments.
            if !results.is_empty() {
                self.inst_error(inst, "try_call has no results; use retN block arguments");
            }
            if exception_payloads(sig.call_conv) == 0 {
                self.inst_error(
                    inst,
                    format!(
                        "the callee's calling convention `{}` does not support exceptions",
                        sig.call_conv
                    ),
                );
            }
            return;
        }
        if results.len() != sig.returns.len() {
            self.inst_error(
                inst,
                format!(
                    "has {} results, the signature returns {}",
                    results.len(),
                    sig.returns.len()
                ),
            );
            return;
        }
        for (i, (&r, ret)) in results.iter().zip(&sig.returns).enumerate() {
            if let Some(t) = self.value_type_checked(r) {
                if t != ret.value_type {
                    self.inst_error(
                        inst,
                        format!(
                            "result {i} ({r}) has type {t}, the signature returns {}",
                            ret.value_type
                        ),
                    );
                }
            }
        }
    }
}

/// Number of exception payload values a callee with this convention hands
/// to a `try_call` handler (0: the convention does not support exceptions).
fn exception_payloads(cc: CallConv) -> usize {
    match cc {
        CallConv::Tail | CallConv::SystemV => 2,
        _ => 0,
    }
}

/// The flag-word bit of `little`.
fn little_bit() -> u8 {
    let mut f = MemFlags::new();
    f.set_endianness(crate::memflags::Endianness::Little);
    f.word_bits()
}

/// The flag-word bit of `big`.
fn big_bit() -> u8 {
    let mut f = MemFlags::new();
    f.set_endianness(crate::memflags::Endianness::Big);
    f.word_bits()
}

/// Checks a value of type `ty` against a constraint relative to `ctrl`.
fn check_constraint(c: Constraint, ty: Type, ctrl: Type) -> Result<(), String> {
    let ok = match c {
        Constraint::Free(set) => {
            return if set.contains(ty) {
                Ok(())
            } else {
                Err(format!("type {ty} is not allowed here"))
            };
        }
        Constraint::NarrowerInt => ty.is_int() && ty.is_scalar() && ty.bits() < ctrl.bits(),
        Constraint::WiderInt => ty.is_int() && ty.is_scalar() && ty.bits() > ctrl.bits(),
        Constraint::OtherFloat => ty.is_float() && ty.is_scalar() && ty.bits() != ctrl.bits(),
        _ => {
            return match crate::dfg::resolve_constraint(c, ctrl) {
                Some(want) if want == ty => Ok(()),
                Some(want) => Err(format!("has type {ty}, expected {want}")),
                None => Err(format!(
                    "no type satisfies {c:?} for controlling type {ctrl}"
                )),
            };
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("type {ty} does not satisfy {c:?} for {ctrl}"))
    }
}

/// The format an instruction's data variant has.
fn data_format(d: &InstructionData) -> InstructionFormat {
    use InstructionData as D;
    use InstructionFormat as F;
    match d {
        D::NullAry { .. } => F::NullAry,
        D::Unary { .. } => F::Unary,
        D::UnaryImm { .. } => F::UnaryImm,
        D::UnaryIeee16 { .. } => F::UnaryIeee16,
        D::UnaryIeee32 { .. } => F::UnaryIeee32,
        D::UnaryIeee64 { .. } => F::UnaryIeee64,
        D::UnaryConst { .. } => F::UnaryConst,
        D::UnaryGlobalValue { .. } => F::UnaryGlobalValue,
        D::Binary { .. } => F::Binary,
        D::BinaryImm8 { .. } => F::BinaryImm8,
        D::Ternary { .. } => F::Ternary,
        D::TernaryImm8 { .. } => F::TernaryImm8,
        D::Shuffle { .. } => F::Shuffle,
        D::IntCompare { .. } => F::IntCompare,
        D::FloatCompare { .. } => F::FloatCompare,
        D::Jump { .. } => F::Jump,
        D::Brif { .. } => F::Brif,
        D::BranchTable { .. } => F::BranchTable,
        D::MultiAry { .. } => F::MultiAry,
        D::Call { .. } => F::Call,
        D::CallIndirect { .. } => F::CallIndirect,
        D::TryCall { .. } => F::TryCall,
        D::TryCallIndirect { .. } => F::TryCallIndirect,
        D::FuncAddr { .. } => F::FuncAddr,
        D::StackLoad { .. } => F::StackLoad,
        D::DynamicStackLoad { .. } => F::DynamicStackLoad,
        D::Load { .. } => F::Load,
        D::Store { .. } => F::Store,
        D::LoadNoOffset { .. } => F::LoadNoOffset,
        D::StoreNoOffset { .. } => F::StoreNoOffset,
        D::AtomicRmw { .. } => F::AtomicRmw,
        D::AtomicCas { .. } => F::AtomicCas,
        D::Trap { .. } => F::Trap,
        D::CondTrap { .. } => F::CondTrap,
        D::IntAddTrap { .. } => F::IntAddTrap,
        D::ExceptionHandlerAddress { .. } => F::ExceptionHandlerAddress,
    }
}
