//! `kiln reduce`: shrinks a failing CLIF test file while its failure
//! reproduces (in the spirit of Cranelift's bugpoint).
//!
//! The failure is what the reducer evaluates: a verifier error, a compiler
//! panic or error, or native code disagreeing with the interpreter on a
//! `; run:` line's arguments (the expected values written on the line are
//! not trusted: the interpreter decides). A candidate counts only if it
//! parses and fails with the same kind, so a mismatch never "reduces" to a
//! verifier error. The reduction works on the text, one edit at a time,
//! and repeats its passes until none makes progress:
//! - remove functions other than the one the run lines call;
//! - remove instructions, or replace their results with constants
//!   (0, 1, -1; 0.0, 1.0), which also removes calls;
//! - turn `brif` / `br_table` into a `jump` to one target, and tail calls
//!   into a `return` of constants;
//! - remove blocks and declarations (`sigN`, `fnN`, `ssN`);
//! - replace the entry's parameters with the run line's argument values.
//!
//! The result's run line gets the interpreter's results as expectations.

use crate::case::Case;
use crate::check::{Checker, FailureKind, Verdict};
use crate::testfile::run_line;
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_ir::verifier::verify_function;
use kiln_ir::{DataValue, Function, Ieee32, Ieee64, Type, Value};
use kiln_reader::{RunCommand, TestFile};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReduceError {
    /// The file does not parse (the reducer needs a parsable start).
    Parse(String),
    /// A `set` line is wrong, or the host cannot run the code.
    Setup(String),
    /// The file does not fail: nothing to reduce.
    NoFailure,
}

impl fmt::Display for ReduceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReduceError::Parse(e) => write!(f, "the file does not parse: {e}"),
            ReduceError::Setup(e) => f.write_str(e),
            ReduceError::NoFailure => f.write_str(
                "the file does not fail (no verifier error, compiler error or panic, and native \
                 code agrees with the interpreter on every run line): nothing to reduce",
            ),
        }
    }
}

impl std::error::Error for ReduceError {}

/// The result of a reduction.
#[derive(Clone, Debug)]
pub struct Reduced {
    pub text: String,
    pub kind: FailureKind,
    /// The failure's message on the reduced file.
    pub message: String,
    pub insts_before: usize,
    pub insts_after: usize,
    /// Candidates tried.
    pub checks: usize,
}

/// What evaluating a candidate found.
struct Eval {
    kind: FailureKind,
    message: String,
    /// For the final run line: the arguments, the interpreter's results
    /// and native code's.
    runs: Vec<(
        Vec<DataValue>,
        crate::check::CallResult,
        Option<crate::check::CallResult>,
    )>,
    insts: usize,
    /// What the reduction minimizes: (instructions other than constants,
    /// block parameters, all instructions, text length). Every accepted
    /// edit makes it strictly smaller, so the reduction terminates.
    cost: (usize, usize, usize, usize),
}

/// Instructions that are not constants (`iconst`, `f32const`,
/// `f64const`, or a `sextend`/`iconcat` of `iconst`s, the i128 constant
/// idioms).
fn non_constant_insts(funcs: &[Function]) -> usize {
    use kiln_ir::{Opcode, ValueDef};
    let mut n = 0;
    for f in funcs {
        let dfg = &f.stencil.dfg;
        for b in f.layout.blocks() {
            for inst in f.layout.block_insts(b) {
                let constant = match dfg.opcode(inst) {
                    Opcode::Iconst | Opcode::F32const | Opcode::F64const => true,
                    Opcode::Sextend | Opcode::Iconcat => dfg.inst_args(inst).iter().all(|&a| {
                        matches!(
                            dfg.value_def(dfg.resolve_aliases(a)),
                            Some(ValueDef::Result(i, _)) if dfg.opcode(i) == Opcode::Iconst
                        )
                    }),
                    _ => false,
                };
                if !constant {
                    n += 1;
                }
            }
        }
    }
    n
}

fn count_insts(funcs: &[Function]) -> usize {
    funcs
        .iter()
        .map(|f| {
            f.layout
                .blocks()
                .map(|b| f.layout.block_insts(b).count())
                .sum::<usize>()
        })
        .sum()
}

/// The flags of a file's `set` lines.
fn file_flags(file: &TestFile) -> Result<Flags, String> {
    let mut flags = Flags::default();
    for s in &file.settings {
        flags
            .set(&s.name, s.value.as_deref())
            .map_err(|e| format!("line {}: {e}", s.line))?;
    }
    Ok(flags)
}

/// Parses and checks a candidate; `None` when it does not parse or does
/// not fail.
fn evaluate(text: &str, checker: &Checker) -> Option<Eval> {
    let file = kiln_reader::parse_test(text, "candidate").ok()?;
    let funcs: Vec<Function> = file.functions.iter().map(|f| f.func.clone()).collect();
    let insts = count_insts(&funcs);
    let params: usize = funcs
        .iter()
        .map(|f| {
            f.layout
                .blocks()
                .map(|b| f.stencil.dfg.block_params(b).len())
                .sum::<usize>()
        })
        .sum();
    let cost = (non_constant_insts(&funcs), params, insts, text.len());
    for f in &funcs {
        if let Err(e) = verify_function(f) {
            return Some(Eval {
                kind: FailureKind::Verifier,
                message: format!("{}: {e}", f.name),
                runs: Vec::new(),
                insts,
                cost,
            });
        }
    }
    // The entry: the first function with run lines (the last if none).
    let entry = file
        .functions
        .iter()
        .find(|f| !f.run_directives.is_empty())
        .or(file.functions.last())?;
    let arg_sets: Vec<Vec<DataValue>> = entry
        .run_directives
        .iter()
        .map(|d| match &d.command {
            RunCommand::Run { args, .. }
            | RunCommand::RunTruthy { args, .. }
            | RunCommand::Print { args, .. } => args.clone(),
        })
        .collect();
    let case = Case {
        functions: funcs,
        entry: entry.func.name.clone(),
        arg_sets,
    };
    match checker.check(&case) {
        Verdict::Fail(f) => {
            let runs = match (f.args, f.expected) {
                (Some(a), Some(e)) => vec![(a, e, f.native)],
                _ => Vec::new(),
            };
            Some(Eval {
                kind: f.kind,
                message: f.message,
                runs,
                insts,
                cost,
            })
        }
        _ => None,
    }
}

/// Line ranges of the functions: `(first, last)` inclusive, the `}` line
/// last.
fn functions(lines: &[String]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("function ") {
            start = Some(i);
        } else if l.trim_end() == "}" {
            if let Some(s) = start.take() {
                out.push((s, i));
            }
        }
    }
    out
}

/// Whether the function at `range` has run lines after it.
fn has_run_lines(lines: &[String], range: (usize, usize)) -> bool {
    lines[range.1 + 1..]
        .iter()
        .take_while(|l| !l.starts_with("function "))
        .any(|l| l.trim_start().starts_with("; run:") || l.trim_start().starts_with("; print:"))
}

fn is_block_header(body: &str) -> bool {
    body.starts_with("block") && body.trim_end().ends_with(':')
}

/// The instruction text of a body line: without indentation, source
/// location and trailing comment.
fn inst_text(line: &str) -> &str {
    let mut t = line.trim_start();
    if t.starts_with('@') {
        t = t
            .split_once(char::is_whitespace)
            .map_or("", |x| x.1)
            .trim_start();
    }
    match t.find(" ;") {
        Some(i) => t[..i].trim_end(),
        None => t.trim_end(),
    }
}

/// The result names and the opcode of an instruction line.
fn parse_inst(text: &str) -> (Vec<u32>, &str) {
    let (results, rhs) = match text.split_once(" = ") {
        Some((l, r)) if l.split(',').all(|v| v.trim().starts_with('v')) => (
            l.split(',')
                .filter_map(|v| v.trim().strip_prefix('v')?.parse().ok())
                .collect(),
            r,
        ),
        _ => (Vec::new(), text),
    };
    let op = rhs.split_whitespace().next().unwrap_or("");
    (results, op.split('.').next().unwrap_or(""))
}

/// Lines defining `vN` as constant `k` of type `ty` (`fresh` is a value
/// number free for a helper).
fn constant_lines(n: u32, ty: Type, k: i64, fresh: &mut u32) -> Option<Vec<String>> {
    Some(match ty {
        Type::F32 => {
            let bits = if k == 0 { 0 } else { 0x3f80_0000 };
            vec![format!(
                "    v{n} = f32const {}",
                DataValue::F32(Ieee32(bits))
            )]
        }
        Type::F64 => {
            let bits = if k == 0 { 0 } else { 0x3ff0_0000_0000_0000 };
            vec![format!(
                "    v{n} = f64const {}",
                DataValue::F64(Ieee64(bits))
            )]
        }
        Type::I128 => {
            let t = *fresh;
            *fresh += 1;
            vec![
                format!("    v{t} = iconst.i64 {k}"),
                format!("    v{n} = sextend.i128 v{t}"),
            ]
        }
        t if t.is_int() => vec![format!("    v{n} = iconst.{t} {k}")],
        _ => return None,
    })
}

/// Where a pass goes after trying one position.
struct Step {
    /// A candidate was accepted (the text changed).
    reduced: bool,
    /// The position to try next.
    next: usize,
}

impl Step {
    /// Reduced at `pos`: the text there changed, try it again.
    fn again(pos: usize) -> Step {
        Step {
            reduced: true,
            next: pos,
        }
    }

    /// Nothing more at `pos`: go on to the next position.
    fn next(pos: usize) -> Step {
        Step {
            reduced: false,
            next: pos + 1,
        }
    }
}

struct Reducer<'c> {
    checker: &'c Checker,
    kind: FailureKind,
    lines: Vec<String>,
    best: Eval,
    checks: usize,
    max_checks: usize,
}

impl Reducer<'_> {
    /// The loop of every pass: tries positions from 0 on until `at` says
    /// there is none left (`None`). Returns whether anything was reduced.
    fn drive(&mut self, mut at: impl FnMut(&mut Self, usize) -> Option<Step>) -> bool {
        let mut progress = false;
        let mut pos = 0;
        while let Some(step) = at(self, pos) {
            progress |= step.reduced;
            pos = step.next;
        }
        progress
    }

    /// A pass over the lines: `at(i)` for each line index of the current
    /// text (which shrinks as candidates are accepted).
    fn each_line(&mut self, mut at: impl FnMut(&mut Self, usize) -> Step) -> bool {
        self.drive(|r, i| (i < r.lines.len()).then(|| at(r, i)))
    }

    /// A pass over the functions: `reduce_one(fi, lines)` tries to reduce
    /// function `fi` (its first and last line) and says whether it did; a
    /// function that changed is tried again.
    fn each_function(
        &mut self,
        mut reduce_one: impl FnMut(&mut Self, usize, (usize, usize)) -> bool,
    ) -> bool {
        self.drive(|r, fi| {
            let range = *functions(&r.lines).get(fi)?;
            Some(if reduce_one(r, fi, range) {
                Step::again(fi)
            } else {
                Step::next(fi)
            })
        })
    }

    /// Accepts `candidate` if it still fails the same way.
    fn try_lines(&mut self, candidate: Vec<String>) -> bool {
        if self.checks >= self.max_checks {
            return false;
        }
        self.checks += 1;
        let text = candidate.join("\n") + "\n";
        // `KILN_REDUCE_TRACE=FILE` writes each candidate there before it
        // runs, so a candidate that kills the process can be found.
        if let Some(p) = std::env::var_os("KILN_REDUCE_TRACE") {
            let _ = std::fs::write(p, &text);
        }
        match evaluate(&text, self.checker) {
            Some(e) if e.kind == self.kind && e.cost < self.best.cost => {
                self.lines = candidate;
                self.best = e;
                true
            }
            _ => false,
        }
    }

    /// The parsed functions of the current text (it always parses).
    fn parsed(&self) -> Vec<Function> {
        kiln_reader::parse_test(&(self.lines.join("\n") + "\n"), "current")
            .map(|f| f.functions.into_iter().map(|p| p.func).collect())
            .unwrap_or_default()
    }

    fn remove_functions(&mut self) -> bool {
        self.each_function(|r, _, range| {
            if has_run_lines(&r.lines, range) {
                return false;
            }
            // The function and the blank line after it.
            let mut end = range.1 + 1;
            while end < r.lines.len() && r.lines[end].trim().is_empty() {
                end += 1;
            }
            let mut c = r.lines.clone();
            c.drain(range.0..end);
            r.try_lines(c)
        })
    }

    /// One pass over the body lines of every function: remove each
    /// instruction, or replace its results by constants; simplify
    /// terminators.
    fn instructions(&mut self) -> bool {
        self.each_line(|r, i| {
            let Some((fi, in_body)) = r.locate(i) else {
                return Step::next(i);
            };
            if !in_body {
                // A declaration (`ss0 = ...`, `sig0 = ...`, `fn0 = ...`).
                let t = inst_text(&r.lines[i]).to_string();
                if !t.is_empty() && !t.starts_with(';') && t.contains(" = ") {
                    let mut c = r.lines.clone();
                    c.remove(i);
                    if r.try_lines(c) {
                        return Step::again(i);
                    }
                }
                return Step::next(i);
            }
            let text = inst_text(&r.lines[i]).to_string();
            if text.contains(" -> ") {
                // An alias nothing uses any more.
                let mut c = r.lines.clone();
                c.remove(i);
                if r.try_lines(c) {
                    return Step::again(i);
                }
                return Step::next(i);
            }
            if text.is_empty() || is_block_header(&text) {
                return Step::next(i);
            }
            let (results, op) = parse_inst(&text);
            let op = op.to_string();
            let is_const = matches!(op.as_str(), "iconst" | "f32const" | "f64const");
            // Remove it outright (unused results, side effects that do not
            // matter).
            if !matches!(
                op.as_str(),
                "jump" | "brif" | "br_table" | "return" | "return_call" | "return_call_indirect"
            ) {
                let mut c = r.lines.clone();
                c.remove(i);
                if r.try_lines(c) {
                    return Step::again(i);
                }
            }
            if is_const && results.len() == 1 && r.merge_constant(i, fi, results[0]) {
                return Step::again(i);
            }
            // Addresses are never replaced: a constant address is harmless
            // to the interpreter (it reports the access and gives no
            // verdict), but native code that takes another path (the bug
            // being reduced) would store to it or call it and kill the
            // process.
            let address = matches!(
                op.as_str(),
                "stack_addr" | "func_addr" | "symbol_value" | "global_value"
            );
            if !results.is_empty()
                && !is_const
                && !address
                && r.replace_with_constants(i, fi, &results)
            {
                return Step::again(i);
            }
            if r.simplify_terminator(i, fi, &text, &op) {
                return Step::again(i);
            }
            Step::next(i)
        })
    }

    /// Removes runs of `size` instruction lines at once (not block
    /// headers or terminators), for sizes halving down to 2: most of a
    /// big program goes in few checks.
    fn chunks(&mut self) -> bool {
        let mut progress = false;
        let mut size = 64;
        while size >= 2 {
            progress |= self.each_line(|r, i| {
                let mut take = Vec::new();
                let mut j = i;
                while j < r.lines.len() && take.len() < size {
                    if r.lines[j].starts_with("function ") || r.lines[j].trim_end() == "}" {
                        j += 1;
                        break;
                    }
                    let t = inst_text(&r.lines[j]);
                    let (_, op) = parse_inst(t);
                    let keep = t.is_empty()
                        || t.starts_with(';')
                        || is_block_header(t)
                        || t.contains(" -> ")
                        || matches!(
                            op,
                            "jump"
                                | "brif"
                                | "br_table"
                                | "return"
                                | "return_call"
                                | "return_call_indirect"
                        );
                    if !keep && matches!(r.locate(j), Some((_, true))) {
                        take.push(j);
                    }
                    j += 1;
                }
                // Past the lines looked at.
                let skip = Step {
                    reduced: false,
                    next: j.max(i + 1),
                };
                if take.len() < 2 {
                    return skip;
                }
                let mut c = r.lines.clone();
                for &k in take.iter().rev() {
                    c.remove(k);
                }
                if r.try_lines(c) {
                    Step::again(i)
                } else {
                    skip
                }
            });
            size /= 2;
        }
        progress
    }

    /// The function index of line `i` and whether it is in the body
    /// (after the first block header); `None` outside functions.
    fn locate(&self, i: usize) -> Option<(usize, bool)> {
        let fs = functions(&self.lines);
        let (fi, &(start, end)) = fs.iter().enumerate().find(|(_, r)| r.0 < i && i < r.1)?;
        let body = self.lines[start + 1..=i]
            .iter()
            .any(|l| is_block_header(inst_text(l)));
        let _ = end;
        Some((fi, body))
    }

    /// Makes constant `vN` another name (`vN -> vM`) for a parameter or
    /// constant of the same type defined earlier in the entry block.
    fn merge_constant(&mut self, i: usize, fi: usize, n: u32) -> bool {
        let funcs = self.parsed();
        let Some(f) = funcs.get(fi) else { return false };
        let dfg = &f.stencil.dfg;
        let v = Value::from_u32(n);
        if !dfg.value_is_valid(v) {
            return false;
        }
        let ty = dfg.value_type(v);
        let Some(entry) = f.layout.entry_block() else {
            return false;
        };
        let mut candidates: Vec<Value> = dfg.block_params(entry).to_vec();
        for inst in f.layout.block_insts(entry) {
            candidates.extend(dfg.inst_results(inst).iter().copied());
        }
        for other in candidates {
            if other == v || dfg.value_type(other) != ty {
                continue;
            }
            let mut c = self.lines.clone();
            c[i] = format!("    v{n} -> {other}");
            if self.try_lines(c) {
                return true;
            }
        }
        false
    }

    fn replace_with_constants(&mut self, i: usize, fi: usize, results: &[u32]) -> bool {
        let funcs = self.parsed();
        let Some(f) = funcs.get(fi) else { return false };
        let dfg = &f.stencil.dfg;
        // A single result: try each operand of the same type in its place
        // (`vR -> vA`), so chains of operations shrink.
        if let [n] = results {
            let v = Value::from_u32(*n);
            if let Some(kiln_ir::ValueDef::Result(inst, _)) =
                dfg.value_is_valid(v).then(|| dfg.value_def(v)).flatten()
            {
                let ty = dfg.value_type(v);
                let operands: Vec<Value> = dfg
                    .inst_args(inst)
                    .iter()
                    .map(|&a| dfg.resolve_aliases(a))
                    .filter(|&a| dfg.value_type(a) == ty)
                    .collect();
                for a in operands {
                    let mut c = self.lines.clone();
                    c[i] = format!("    v{n} -> {a}");
                    if self.try_lines(c) {
                        return true;
                    }
                }
            }
        }
        let mut fresh = dfg.num_values() as u32 + 1;
        for k in [0i64, 1, -1] {
            let mut new = Vec::new();
            for &n in results {
                let v = Value::from_u32(n);
                if !dfg.value_is_valid(v) {
                    return false;
                }
                let Some(ls) = constant_lines(n, dfg.value_type(v), k, &mut fresh) else {
                    return false;
                };
                new.extend(ls);
            }
            let mut c = self.lines.clone();
            c.splice(i..=i, new);
            if self.try_lines(c) {
                return true;
            }
        }
        false
    }

    fn simplify_terminator(&mut self, i: usize, fi: usize, text: &str, op: &str) -> bool {
        let mut alternatives: Vec<Vec<String>> = Vec::new();
        let rest = text.split_once(' ').map_or("", |x| x.1);
        match op {
            "brif" => {
                // brif vC, blockA(args), blockB(args)
                if let Some((_, targets)) = rest.split_once(", ") {
                    if let Some(cut) = split_top_level(targets) {
                        alternatives.push(vec![format!("    jump {}", &targets[..cut])]);
                        alternatives.push(vec![format!("    jump {}", targets[cut + 1..].trim())]);
                    }
                }
            }
            "br_table" => {
                // br_table vX, blockD, [blockA, blockB]
                if let Some((_, tail)) = rest.split_once(", ") {
                    if let Some((default, table)) = tail.split_once(", [") {
                        alternatives.push(vec![format!("    jump {default}")]);
                        for t in table.trim_end_matches(']').split(", ") {
                            alternatives.push(vec![format!("    jump {}", t.trim())]);
                        }
                    }
                }
            }
            "return_call" | "return_call_indirect" => {
                let funcs = self.parsed();
                if let Some(f) = funcs.get(fi) {
                    let mut fresh = f.stencil.dfg.num_values() as u32 + 1;
                    let mut lines = Vec::new();
                    let mut names = Vec::new();
                    for r in &f.stencil.signature.returns {
                        let n = fresh;
                        fresh += 1;
                        match constant_lines(n, r.value_type, 0, &mut fresh) {
                            Some(ls) => lines.extend(ls),
                            None => return false,
                        }
                        names.push(format!("v{n}"));
                    }
                    lines.push(format!("    return {}", names.join(", ")));
                    alternatives.push(lines);
                }
            }
            _ => {}
        }
        for alt in alternatives {
            let mut c = self.lines.clone();
            c.splice(i..=i, alt);
            if self.try_lines(c) {
                return true;
            }
        }
        false
    }

    /// Removes each block (not the entry block) with its instructions.
    fn remove_blocks(&mut self) -> bool {
        self.each_line(|r, i| {
            let t = inst_text(&r.lines[i]).to_string();
            let first_of_fn = i > 0 && r.lines[i - 1].starts_with("function ")
                || r.lines[..i]
                    .iter()
                    .rev()
                    .take_while(|l| !l.starts_with("function "))
                    .all(|l| !is_block_header(inst_text(l)));
            if !is_block_header(&t) || first_of_fn {
                return Step::next(i);
            }
            let mut end = i + 1;
            while end < r.lines.len() {
                let u = inst_text(&r.lines[end]);
                if is_block_header(u) || r.lines[end].trim_end() == "}" {
                    break;
                }
                end += 1;
            }
            let mut c = r.lines.clone();
            c.drain(i..end);
            if r.try_lines(c) {
                Step::again(i)
            } else {
                Step::next(i)
            }
        })
    }
}

/// Positions where `name` (like `block3`) occurs as a whole word.
fn word_positions(line: &str, name: &str) -> Vec<usize> {
    let bytes = line.as_bytes();
    line.match_indices(name)
        .map(|(i, _)| i)
        .filter(|&i| {
            let before = i == 0 || !(bytes[i - 1] as char).is_ascii_alphanumeric();
            let after = bytes
                .get(i + name.len())
                .is_none_or(|&c| !(c as char).is_ascii_alphanumeric());
            before && after
        })
        .collect()
}

/// The block name of a header line (`block3(v1: i32):` -> `block3`).
fn header_name(text: &str) -> &str {
    text.split(['(', ':']).next().unwrap_or("").trim()
}

/// Line ranges of a function's blocks: (name, header line, end exclusive).
fn blocks_of(lines: &[String], range: (usize, usize)) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for (i, line) in lines.iter().enumerate().take(range.1).skip(range.0 + 1) {
        let t = inst_text(line);
        if is_block_header(t) {
            if let Some(last) = out.last_mut() {
                last.2 = i;
            }
            out.push((header_name(t).to_string(), i, range.1));
        }
    }
    out
}

impl Reducer<'_> {
    /// Moves a block that has one predecessor, which reaches it by a
    /// plain `jump`, into that predecessor in place of the jump.
    fn merge_blocks(&mut self) -> bool {
        self.each_function(|r, _, range| {
            let blocks = blocks_of(&r.lines, range);
            for (bi, (name, hdr, end)) in blocks.iter().enumerate() {
                if bi == 0 {
                    continue;
                }
                let uses: Vec<usize> = (range.0 + 1..range.1)
                    .filter(|&i| i != *hdr && !word_positions(&r.lines[i], name).is_empty())
                    .collect();
                let [jump_line] = uses[..] else { continue };
                let jump = inst_text(&r.lines[jump_line]).to_string();
                let Some(target) = jump.strip_prefix("jump ") else {
                    continue;
                };
                if header_name(target) != name || (jump_line > *hdr && jump_line < *end) {
                    continue;
                }
                // Parameters become aliases of the jump's arguments.
                let list = |t: &str| -> Vec<String> {
                    t.split_once('(')
                        .map(|x| x.1.trim_end_matches(':').trim_end_matches(')'))
                        .unwrap_or("")
                        .split(", ")
                        .filter(|x| !x.is_empty())
                        .map(|x| x.split(':').next().unwrap_or("").trim().to_string())
                        .collect()
                };
                let params = list(inst_text(&r.lines[*hdr]));
                let args = list(target);
                if params.len() != args.len() {
                    continue;
                }
                let mut body: Vec<String> = params
                    .iter()
                    .zip(&args)
                    .map(|(p, a)| format!("    {p} -> {a}"))
                    .collect();
                body.extend(r.lines[hdr + 1..*end].iter().cloned());
                let mut c = r.lines.clone();
                if jump_line < *hdr {
                    c.drain(*hdr..*end);
                    c.splice(jump_line..=jump_line, body);
                } else {
                    c.splice(jump_line..=jump_line, body);
                    c.drain(*hdr..*end);
                }
                if r.try_lines(c) {
                    return true;
                }
            }
            false
        })
    }

    /// When the entry only calls another function without arguments and
    /// returns its results, the run lines call that function instead and
    /// the entry goes.
    fn promote_callee(&mut self) -> bool {
        let fs = functions(&self.lines);
        let Some(&entry) = fs.iter().find(|r| has_run_lines(&self.lines, **r)) else {
            return false;
        };
        let funcs = self.parsed();
        let Some(ei) = fs.iter().position(|r| *r == entry) else {
            return false;
        };
        let Some(f) = funcs.get(ei) else { return false };
        let dfg = &f.stencil.dfg;
        let insts: Vec<_> = f
            .layout
            .blocks()
            .flat_map(|b| f.layout.block_insts(b))
            .collect();
        let [call, ret] = insts[..] else { return false };
        if dfg.opcode(call) != kiln_ir::Opcode::Call
            || dfg.opcode(ret) != kiln_ir::Opcode::Return
            || !dfg.inst_args(call).is_empty()
            || dfg.inst_args(ret) != dfg.inst_results(call)
        {
            return false;
        }
        let kiln_ir::InstructionData::Call { func_ref, .. } = dfg.insts[call] else {
            return false;
        };
        let kiln_ir::ExternalName::TestCase(t) = &dfg.ext_funcs[func_ref].name else {
            return false;
        };
        let callee = format!("%{}", t.as_str());
        let Some(ci) = fs
            .iter()
            .position(|r| self.lines[r.0].starts_with(&format!("function {callee}(")))
        else {
            return false;
        };
        let entry_name = f.name.to_string();
        // Run lines after the entry, renamed.
        let mut runs = Vec::new();
        let mut after = entry.1 + 1;
        while after < self.lines.len() && !self.lines[after].starts_with("function ") {
            let l = &self.lines[after];
            if l.trim_start().starts_with(';') {
                runs.push(l.replace(&format!("{entry_name}("), &format!("{callee}(")));
            }
            after += 1;
        }
        let mut c = self.lines.clone();
        c.drain(entry.0..after);
        let callee_end = fs[ci].1;
        c.splice(callee_end + 1..callee_end + 1, runs);
        self.try_lines(c)
    }

    /// Drops a parameter of a called function: from its signature and
    /// entry block, from the callers' `sigN` declarations and from their
    /// `call fnM(...)` / `call_indirect sigN, vX(...)` argument lists.
    fn callee_params(&mut self) -> bool {
        self.each_function(|r, gi, grange| {
            let fs = functions(&r.lines);
            let head = r.lines[grange.0].clone();
            let name = head
                .strip_prefix("function ")
                .and_then(|h| h.split('(').next())
                .unwrap_or("")
                .to_string();
            let n_params = head.find('(').map_or(0, |o| {
                let inner = &head[o + 1..];
                let close = inner.find(')').unwrap_or(0);
                if inner[..close].trim().is_empty() {
                    0
                } else {
                    inner[..close].split(',').count()
                }
            });
            if has_run_lines(&r.lines, grange) || name.is_empty() {
                return false;
            }
            'params: for k in 0..n_params {
                // The parameter's value and type, from the entry block.
                let hdr =
                    (grange.0 + 1..grange.1).find(|&i| is_block_header(inst_text(&r.lines[i])));
                let param = hdr.and_then(|h| {
                    let t = inst_text(&r.lines[h]);
                    let inner = t.split_once('(')?.1.split(')').next()?;
                    let item = inner.split(", ").nth(k)?;
                    let (v, ty) = item.split_once(": ")?;
                    Some((v.strip_prefix('v')?.parse::<u32>().ok()?, Type::parse(ty)?))
                });
                let fresh0 = r
                    .parsed()
                    .get(gi)
                    .map_or(0, |f| f.stencil.dfg.num_values() as u32 + 1);
                // Unused: drop it. Used: it becomes a constant (0, then 1).
                for konst in [None, Some(0i64), Some(1)] {
                    let Some(mut c) = r.drop_callee_param(&fs, gi, &name, k) else {
                        continue 'params;
                    };
                    if let (Some(kv), Some((n, ty)), Some(h)) = (konst, param, hdr) {
                        let mut fresh = fresh0;
                        let Some(ls) = constant_lines(n, ty, kv, &mut fresh) else {
                            continue;
                        };
                        c.splice(h + 1..h + 1, ls);
                    }
                    if r.try_lines(c) {
                        return true;
                    }
                }
            }
            false
        })
    }

    fn drop_callee_param(
        &self,
        fs: &[(usize, usize)],
        gi: usize,
        name: &str,
        k: usize,
    ) -> Option<Vec<String>> {
        let mut c = self.lines.clone();
        let grange = fs[gi];
        let open = c[grange.0].find('(')?;
        c[grange.0] = drop_list_item(&c[grange.0], open, k)?;
        let hdr = (grange.0 + 1..grange.1).find(|&i| is_block_header(inst_text(&c[i])))?;
        let open = c[hdr].find('(')?;
        c[hdr] = drop_list_item(&c[hdr], open, k)?.replace("()", "");
        for (fi, &(start, end)) in fs.iter().enumerate() {
            if fi == gi {
                continue;
            }
            // `fnM = [colocated] %name sigN` declarations.
            let mut refs = Vec::new();
            for line in &c[start + 1..end] {
                let t = inst_text(line);
                let Some((lhs, rhs)) = t.split_once(" = ") else {
                    continue;
                };
                let words: Vec<&str> = rhs.split_whitespace().collect();
                if lhs.starts_with("fn") && words.contains(&name) {
                    if let Some(sig) = words.last() {
                        refs.push((lhs.trim().to_string(), sig.to_string()));
                    }
                }
            }
            for (fnref, sig) in refs {
                for line in c.iter_mut().take(end).skip(start + 1) {
                    let t = inst_text(line).to_string();
                    if t.starts_with(&format!("{sig} = (")) {
                        let o = line.find('(')?;
                        *line = drop_list_item(line, o, k)?;
                        continue;
                    }
                    for &pos in word_positions(line, &fnref).iter().rev() {
                        let o = pos + fnref.len();
                        if line.as_bytes().get(o) == Some(&b'(') {
                            *line = drop_list_item(line, o, k)?;
                        }
                    }
                    if t.contains("call_indirect") {
                        for &pos in word_positions(line, &sig).iter().rev() {
                            let o = line[pos..].find('(')? + pos;
                            *line = drop_list_item(line, o, k)?;
                        }
                    }
                }
            }
        }
        Some(c)
    }

    /// When one side traps: ends a block early with that `trap`, in place
    /// of an instruction (a call, say) and everything after it in its
    /// block.
    fn traps_early(&mut self) -> bool {
        let mut codes = Vec::new();
        if let Some((_, want, native)) = self.best.runs.first() {
            for r in std::iter::once(want).chain(native.as_ref()) {
                if let Err(crate::check::Stop::Trap(Some(c))) = r {
                    codes.push(c.to_string());
                }
            }
        }
        if codes.is_empty() {
            return false;
        }
        self.each_line(|r, i| {
            let t = inst_text(&r.lines[i]).to_string();
            let in_body = matches!(r.locate(i), Some((_, true)));
            if !in_body
                || t.is_empty()
                || t.starts_with(';')
                || is_block_header(&t)
                || t.contains(" -> ")
            {
                return Step::next(i);
            }
            let mut end = i + 1;
            while end < r.lines.len() {
                let u = inst_text(&r.lines[end]);
                if is_block_header(u) || r.lines[end].trim_end() == "}" {
                    break;
                }
                end += 1;
            }
            for code in &codes {
                let mut c = r.lines.clone();
                c.splice(i..end, [format!("    trap {code}")]);
                if r.try_lines(c) {
                    // The block now ends here: go on after it.
                    return Step {
                        reduced: true,
                        next: i + 1,
                    };
                }
            }
            Step::next(i)
        })
    }

    /// Removes every block unreachable from its function's entry, all at
    /// once (unreachable blocks may use each other's values).
    fn remove_unreachable(&mut self) -> bool {
        let funcs = self.parsed();
        let fs = functions(&self.lines);
        let mut drop = Vec::new();
        for (fi, f) in funcs.iter().enumerate() {
            let Some(&range) = fs.get(fi) else { continue };
            let Some(entry) = f.layout.entry_block() else {
                continue;
            };
            let dfg = &f.stencil.dfg;
            let mut seen = std::collections::HashSet::new();
            let mut stack = vec![entry];
            while let Some(b) = stack.pop() {
                if !seen.insert(b) {
                    continue;
                }
                for inst in f.layout.block_insts(b) {
                    for call in dfg.branch_destinations(inst) {
                        stack.push(call.block);
                    }
                }
            }
            for (name, start, end) in blocks_of(&self.lines, range) {
                let live = f
                    .layout
                    .blocks()
                    .any(|b| seen.contains(&b) && b.to_string() == name);
                if !live {
                    drop.push((start, end));
                }
            }
        }
        if drop.is_empty() {
            return false;
        }
        let mut c = self.lines.clone();
        for &(a, b) in drop.iter().rev() {
            c.drain(a..b);
        }
        self.try_lines(c)
    }

    /// Replaces a block parameter by a constant: the parameter goes from
    /// the header and the matching argument from every branch to it.
    fn block_params(&mut self) -> bool {
        self.each_function(|r, fi, range| {
            for (bi, (name, hdr, _)) in blocks_of(&r.lines, range).into_iter().enumerate() {
                if bi == 0 {
                    continue;
                }
                let text = inst_text(&r.lines[hdr]).to_string();
                let Some(open) = text.find('(') else { continue };
                let params: Vec<String> = text[open + 1..]
                    .trim_end_matches(':')
                    .trim_end_matches(')')
                    .split(", ")
                    .map(str::to_string)
                    .collect();
                for (k, p) in params.iter().enumerate() {
                    let Some((v, ty)) = p.split_once(": ") else {
                        continue;
                    };
                    let (Some(n), Some(ty)) = (
                        v.trim()
                            .strip_prefix('v')
                            .and_then(|x| x.parse::<u32>().ok()),
                        Type::parse(ty.trim()),
                    ) else {
                        continue;
                    };
                    let mut fresh = r
                        .parsed()
                        .get(fi)
                        .map_or(0, |f| f.stencil.dfg.num_values() as u32 + 1);
                    let Some(consts) = constant_lines(n, ty, 0, &mut fresh) else {
                        continue;
                    };
                    let mut c = r.lines.clone();
                    let Some(h) = drop_list_item(&text, open, k) else {
                        continue;
                    };
                    c[hdr] = format!("    {}", h.replace("()", ""));
                    let mut ok = true;
                    for (i, line) in c.iter_mut().enumerate().take(range.1).skip(range.0 + 1) {
                        if i == hdr {
                            continue;
                        }
                        let positions = word_positions(line, &name);
                        for &pos in positions.iter().rev() {
                            let open = pos + name.len();
                            if line.as_bytes().get(open) == Some(&b'(') {
                                match drop_list_item(line, open, k) {
                                    Some(l) => *line = l.replace(&format!("{name}()"), &name),
                                    None => ok = false,
                                }
                            }
                        }
                    }
                    if !ok {
                        continue;
                    }
                    c.splice(hdr + 1..hdr + 1, consts);
                    if r.try_lines(c) {
                        return true;
                    }
                }
            }
            false
        })
    }

    /// Retargets branches to a block that only jumps on (and has no
    /// parameters) to that jump's destination, and removes the block.
    fn thread_jumps(&mut self) -> bool {
        self.each_function(|r, _, range| {
            for (bi, (name, hdr, end)) in blocks_of(&r.lines, range).into_iter().enumerate() {
                if bi == 0 || inst_text(&r.lines[hdr]).contains('(') {
                    continue;
                }
                let body: Vec<&str> = r.lines[hdr + 1..end]
                    .iter()
                    .map(|l| inst_text(l))
                    .filter(|t| !t.is_empty() && !t.starts_with(';'))
                    .collect();
                let [only] = body[..] else { continue };
                let Some(dest) = only.strip_prefix("jump ") else {
                    continue;
                };
                let dest = dest.trim().to_string();
                if header_name(&dest) == name {
                    continue;
                }
                let mut c = r.lines.clone();
                for (i, line) in c.iter_mut().enumerate().take(range.1).skip(range.0 + 1) {
                    if i >= hdr && i < end {
                        continue;
                    }
                    for &pos in word_positions(line, &name).iter().rev() {
                        line.replace_range(pos..pos + name.len(), &dest);
                    }
                }
                c.drain(hdr..end);
                if r.try_lines(c) {
                    return true;
                }
            }
            false
        })
    }
}

/// The index of the comma separating two block calls (outside parens).
fn split_top_level(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, ch) in s.char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// Reduces `text` (a test file; `path` for messages). `max_checks`
/// bounds the candidates tried.
pub fn reduce(text: &str, path: &str, max_checks: usize) -> Result<Reduced, ReduceError> {
    let file =
        kiln_reader::parse_test(text, path).map_err(|e| ReduceError::Parse(e.to_string()))?;
    let flags = file_flags(&file).map_err(ReduceError::Setup)?;
    let arch = Arch::host().ok_or_else(|| ReduceError::Setup("no backend for this host".into()))?;
    // The host's `target` line may name ISA features (a `kiln fuzz
    // --host-features` failure does): compile with them, as it failed.
    let mut isa_flags = IsaFlags::baseline(arch);
    if let Some(t) = file
        .targets
        .iter()
        .find(|t| Arch::parse(&t.isa) == Some(arch))
    {
        for w in &t.flags {
            let (n, v) = match w.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (w.as_str(), None),
            };
            isa_flags
                .set(n, v)
                .map_err(|e| ReduceError::Setup(format!("line {}: {e}", t.line)))?;
        }
    }
    let checker = Checker::with_isa_flags(&flags, &[flags.opt_level], isa_flags)
        .map_err(ReduceError::Setup)?;
    let first = evaluate(text, &checker).ok_or(ReduceError::NoFailure)?;
    let insts_before = first.insts;
    // Keep only the run line that fails (if the failure is a mismatch).
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if let Some((args, ..)) = first.runs.first() {
        let want = args
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut kept = false;
        lines.retain(|l| {
            let t = l.trim_start();
            if !(t.starts_with("; run:") || t.starts_with("; print:")) {
                return true;
            }
            let mine = !kept && t.contains(&format!("({want})"));
            kept |= mine;
            mine
        });
    }
    let mut r = Reducer {
        checker: &checker,
        kind: first.kind,
        best: first,
        lines: lines.clone(),
        checks: 0,
        max_checks,
    };
    // Re-establish on the trimmed file (if dropping other run lines lost
    // the failure, keep them all).
    if !r.try_lines(lines) {
        r.lines = text.lines().map(str::to_string).collect();
    }
    // Rounds of every pass until one changes nothing; then the text is
    // printed afresh (aliases resolved to lines of their own, canonical
    // layout), which can open new edits, and the rounds go on.
    for _ in 0..4 {
        loop {
            let mut progress = false;
            progress |= r.remove_functions();
            progress |= r.remove_unreachable();
            progress |= r.traps_early();
            progress |= r.callee_params();
            progress |= r.thread_jumps();
            progress |= r.merge_blocks();
            progress |= r.promote_callee();
            progress |= r.block_params();
            progress |= r.remove_blocks();
            progress |= r.chunks();
            progress |= r.instructions();
            progress |= entry_params_to_constants(&mut r);
            if !progress || r.checks >= r.max_checks {
                break;
            }
        }
        let printed: Vec<String> = finish(&r).lines().map(str::to_string).collect();
        if printed == r.lines || r.checks >= r.max_checks {
            break;
        }
        match evaluate(&(printed.join("\n") + "\n"), r.checker) {
            Some(e) if e.kind == r.kind => {
                r.lines = printed;
                r.best = e;
            }
            _ => break,
        }
    }
    let text = finish(&r);
    Ok(Reduced {
        text,
        kind: r.kind,
        message: r.best.message.clone(),
        insts_before,
        insts_after: r.best.insts,
        checks: r.checks,
    })
}

/// Replaces the entry's parameters by the run line's values, one at a
/// time (the parameter, its block parameter and the argument go).
fn entry_params_to_constants(r: &mut Reducer<'_>) -> bool {
    let Some((args, ..)) = r.best.runs.first().cloned() else {
        return false;
    };
    let fs = functions(&r.lines);
    let Some((fi, &range)) = fs
        .iter()
        .enumerate()
        .find(|(_, rg)| has_run_lines(&r.lines, **rg))
    else {
        return false;
    };
    let funcs = r.parsed();
    let Some(f) = funcs.get(fi) else { return false };
    let Some(entry_block) = f.layout.entry_block() else {
        return false;
    };
    let params: Vec<Value> = f.stencil.dfg.block_params(entry_block).to_vec();
    if params.len() != args.len() || params.is_empty() {
        return false;
    }
    for (k, (&p, arg)) in params.iter().zip(&args).enumerate() {
        let ty = f.stencil.dfg.value_type(p);
        let mut fresh = f.stencil.dfg.num_values() as u32 + 1;
        let Some(consts) = constant_value_lines(p.as_u32(), ty, arg, &mut fresh) else {
            continue;
        };
        // Rewrite the signature, the entry block header and the run line.
        let mut c = r.lines.clone();
        let sig_line = &c[range.0];
        let Some(new_sig) = drop_list_item(sig_line, sig_line.find('(').unwrap_or(0), k) else {
            continue;
        };
        c[range.0] = new_sig;
        let Some(hdr) = (range.0 + 1..range.1).find(|&i| is_block_header(inst_text(&c[i]))) else {
            continue;
        };
        let Some(new_hdr) = drop_list_item(&c[hdr], c[hdr].find('(').unwrap_or(0), k) else {
            continue;
        };
        c[hdr] = new_hdr.replace("()", "");
        c.splice(hdr + 1..hdr + 1, consts);
        let mut ok = true;
        for line in c.iter_mut().skip(range.1 + 1) {
            if line.starts_with("function ") {
                break;
            }
            let t = line.trim_start();
            if t.starts_with("; run:") || t.starts_with("; print:") {
                match line.find('(').and_then(|o| drop_list_item(line, o, k)) {
                    Some(l) => *line = l,
                    None => ok = false,
                }
            }
        }
        if ok && r.try_lines(c) {
            return true;
        }
    }
    false
}

/// `line` with the `k`-th item of the parenthesised list opening at
/// byte `open` removed.
fn drop_list_item(line: &str, open: usize, k: usize) -> Option<String> {
    if line.as_bytes().get(open) != Some(&b'(') {
        return None;
    }
    let inner_start = open + 1;
    let mut depth = 0i32;
    let mut items = Vec::new();
    let mut item_start = inner_start;
    let mut close = None;
    for (i, ch) in line[inner_start..].char_indices() {
        let i = i + inner_start;
        match ch {
            '(' | '[' => depth += 1,
            ')' if depth == 0 => {
                items.push((item_start, i));
                close = Some(i);
                break;
            }
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                items.push((item_start, i));
                item_start = i + 1;
            }
            _ => {}
        }
    }
    let close = close?;
    if k >= items.len() {
        return None;
    }
    let kept: Vec<&str> = items
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .map(|(_, &(a, b))| line[a..b].trim())
        .collect();
    Some(format!(
        "{}({}){}",
        &line[..open],
        kept.join(", "),
        &line[close + 1..]
    ))
}

/// Lines defining `vN` as the value `v` of type `ty`.
fn constant_value_lines(n: u32, ty: Type, v: &DataValue, fresh: &mut u32) -> Option<Vec<String>> {
    Some(match (ty, v) {
        (Type::F32, DataValue::F32(x)) => {
            vec![format!("    v{n} = f32const {}", DataValue::F32(*x))]
        }
        (Type::F64, DataValue::F64(x)) => {
            vec![format!("    v{n} = f64const {}", DataValue::F64(*x))]
        }
        (Type::I128, DataValue::I128(x)) => {
            let (lo, hi) = (*fresh, *fresh + 1);
            *fresh += 2;
            vec![
                format!("    v{lo} = iconst.i64 {}", *x as u64 as i64),
                format!("    v{hi} = iconst.i64 {}", (*x >> 64) as i64),
                format!("    v{n} = iconcat v{lo}, v{hi}"),
            ]
        }
        (t, d) if t.is_int() => vec![format!("    v{n} = iconst.{t} {}", d.as_i128()?)],
        _ => return None,
    })
}

/// The reduced file: its lines with the run line's expectation replaced
/// by the interpreter's results.
fn finish(r: &Reducer<'_>) -> String {
    let text = r.lines.join("\n") + "\n";
    let Ok(file) = kiln_reader::parse_test(&text, "reduced") else {
        return text;
    };
    let mut out = String::new();
    // The header (comments, test, set and target lines) as it was.
    let stale = format!("; {}:", r.kind);
    for l in r.lines.iter().take_while(|l| !l.starts_with("function ")) {
        let t = l.trim_start();
        if t.starts_with(&stale) {
            // The original failure's message, now out of date.
            let msg = r.best.message.lines().next().unwrap_or("");
            out.push_str(&format!("; reduced by `kiln reduce`: {}: {msg}\n", r.kind));
        } else if !t.starts_with("; the interpreter stops with") {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    // The functions as Kiln prints them, the run line after the entry.
    for (i, f) in file.functions.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&f.func.to_string());
        if f.run_directives.is_empty() {
            continue;
        }
        match r.best.runs.first() {
            Some((args, want, native)) => {
                out.push_str(&run_line(
                    &f.func.name.to_string(),
                    args,
                    want,
                    native.as_ref(),
                ));
            }
            None => {
                for d in &f.run_directives {
                    out.push_str(&format!("; {}\n", d.text));
                }
            }
        }
    }
    out
}
