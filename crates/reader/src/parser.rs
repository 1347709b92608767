//! The function parser: tokens to `Function`s, keeping the text's entity
//! numbers. Operands are parsed by the opcode's `InstructionFormat`, and the
//! controlling type comes from the suffix or the type-variable operand, both
//! as the opcode table says.

use crate::error::{ErrorSource, ParseError};
use crate::lexer::{Tok, Token};
use crate::values::{constant_from_literals, scalar_bits};
use kiln_ir::entity::EntityRef;
use kiln_ir::*;
use std::collections::HashMap;

pub(crate) type PResult<T> = Result<T, ParseError>;

/// Where each instruction of a parsed function is in the text.
#[derive(Clone, Debug, Default)]
pub struct FunctionLocations {
    /// The line of the `function` keyword.
    pub line: usize,
    /// The line of the closing `}`.
    pub end_line: usize,
    /// Each instruction with the line of its opcode.
    pub inst_lines: Vec<(Inst, usize)>,
}

pub(crate) struct Parser<'a> {
    pub toks: Vec<Token<'a>>,
    pub pos: usize,
    pub src: ErrorSource<'a>,
    /// Largest entity number accepted (bounds allocation by input size).
    pub max_entity: u32,
    /// Line of the end of input, for errors there.
    pub eof_line: usize,
    /// The dynamic vector type each `dtN` of the current function names.
    dyn_types: HashMap<u32, Type>,
    /// The calling convention of signatures that name none.
    pub default_call_conv: CallConv,
}

/// What kind of thing an entity number names, for messages.
fn split_entity<'w>(word: &'w str, prefix: &str) -> Option<&'w str> {
    let rest = word.strip_prefix(prefix)?;
    if rest.is_empty() || !rest.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(rest)
}

impl<'a> Parser<'a> {
    pub fn new(toks: Vec<Token<'a>>, src: ErrorSource<'a>, eof_line: usize) -> Self {
        let max_entity = (src.text.len() as u64)
            .saturating_mul(64)
            .saturating_add(1024)
            .min(10_000_000) as u32;
        Parser {
            toks,
            pos: 0,
            src,
            max_entity,
            eof_line,
            dyn_types: HashMap::new(),
            default_call_conv: CallConv::Fast,
        }
    }

    // ----- Token access -----

    pub fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).map(|t| t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<Tok<'a>> {
        self.toks.get(self.pos + n).map(|t| t.tok)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// Line and column of the current token (end of input if none).
    pub fn here(&self) -> (usize, usize) {
        match self.toks.get(self.pos) {
            Some(t) => (t.line, t.col),
            None => (self.eof_line, 1),
        }
    }

    fn line_of(&self, idx: usize) -> usize {
        self.toks.get(idx).map_or(self.eof_line, |t| t.line)
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(t) => t.describe(),
            None => "end of file".into(),
        }
    }

    /// An error at the current token.
    pub fn err(&self, expected: impl Into<String>) -> ParseError {
        let (l, c) = self.here();
        self.src.error(l, c, expected, self.found())
    }

    /// An error at token `idx` with an explicit "found" text.
    fn err_at(
        &self,
        idx: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ParseError {
        let (l, c) = match self.toks.get(idx) {
            Some(t) => (t.line, t.col),
            None => (self.eof_line, 1),
        };
        self.src.error(l, c, expected, found)
    }

    fn bump(&mut self) -> Option<Tok<'a>> {
        let t = self.peek();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    pub fn eat(&mut self, tok: Tok<'_>) -> bool {
        if self.peek() == Some(tok) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, tok: Tok<'_>, what: &str) -> PResult<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.peek() == Some(Tok::Ident(word)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self, what: &str) -> PResult<&'a str> {
        match self.peek() {
            Some(Tok::Ident(w)) => {
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.err(what)),
        }
    }

    // ----- Literals -----

    pub fn entity_number(&self, word: &str, prefix: &str) -> Option<u32> {
        let digits = split_entity(word, prefix)?;
        let n: u32 = digits.parse().ok()?;
        (n < self.max_entity).then_some(n)
    }

    /// Parses an entity reference such as `ss3`; `what` names it.
    fn entity(&mut self, prefix: &str, what: &str) -> PResult<u32> {
        if let Some(Tok::Ident(w)) = self.peek() {
            if let Some(n) = self.entity_number(w, prefix) {
                self.pos += 1;
                return Ok(n);
            }
            if split_entity(w, prefix).is_some() {
                return Err(self.err(format!("{what} with a number below {}", self.max_entity)));
            }
        }
        Err(self.err(what))
    }

    fn number_text(&mut self, what: &str) -> PResult<&'a str> {
        match self.peek() {
            Some(Tok::Number(n)) => {
                self.pos += 1;
                Ok(n)
            }
            _ => Err(self.err(what)),
        }
    }

    fn int_u64(&mut self, what: &str) -> PResult<u64> {
        let idx = self.pos;
        let text = self.number_text(what)?;
        match parse_wide_int(text) {
            Ok(v) if (0..=u64::MAX as i128).contains(&v) && !text.starts_with('-') => Ok(v as u64),
            _ => Err(self.err_at(idx, what, format!("number '{text}'"))),
        }
    }

    fn int_u32(&mut self, what: &str) -> PResult<u32> {
        let idx = self.pos;
        let v = self.int_u64(what)?;
        u32::try_from(v).map_err(|_| self.err_at(idx, what, format!("{v}")))
    }

    fn imm64(&mut self) -> PResult<Imm64> {
        let idx = self.pos;
        let text = self.number_text("an integer immediate")?;
        parse_int_literal(text).map(Imm64).map_err(|e| {
            self.err_at(
                idx,
                format!("an integer immediate ({e})"),
                format!("'{text}'"),
            )
        })
    }

    /// An optional `+N` / `-N` offset directly after an operand.
    fn offset32(&mut self) -> PResult<Offset32> {
        match self.peek() {
            Some(Tok::Number(n)) if n.starts_with('+') || n.starts_with('-') => {
                let idx = self.pos;
                self.pos += 1;
                match parse_wide_int(n) {
                    Ok(v) if !n[1..].starts_with("0x") || v.unsigned_abs() <= 1u128 << 31 => {
                        i32::try_from(v).map(Offset32).map_err(|_| {
                            self.err_at(idx, "a 32-bit signed offset", format!("'{n}'"))
                        })
                    }
                    _ => Err(self.err_at(idx, "a 32-bit signed offset", format!("'{n}'"))),
                }
            }
            _ => Ok(Offset32(0)),
        }
    }

    fn ty(&mut self, what: &str) -> PResult<Type> {
        match self.peek() {
            Some(Tok::Ident(w)) if split_entity(w, "dt").is_some() => {
                match self
                    .entity_number(w, "dt")
                    .and_then(|n| self.dyn_types.get(&n))
                {
                    Some(&t) => {
                        self.pos += 1;
                        Ok(t)
                    }
                    None => Err(self.err(format!("{what} (a declared dynamic type)"))),
                }
            }
            Some(Tok::Ident(w)) => match Type::parse(w) {
                Some(t) => {
                    self.pos += 1;
                    Ok(t)
                }
                None => Err(self.err(what)),
            },
            _ => Err(self.err(what)),
        }
    }

    // ----- Signatures and names -----

    pub fn signature(&mut self) -> PResult<Signature> {
        let mut sig = Signature::new(self.default_call_conv);
        self.expect(Tok::LPar, "'(' to start a signature")?;
        if !self.eat(Tok::RPar) {
            loop {
                sig.params.push(self.abi_param()?);
                if self.eat(Tok::RPar) {
                    break;
                }
                self.expect(Tok::Comma, "',' or ')' in the parameter list")?;
            }
        }
        if self.eat(Tok::Arrow) {
            loop {
                sig.returns.push(self.abi_param()?);
                if !self.eat(Tok::Comma) {
                    break;
                }
            }
        }
        if let Some(Tok::Ident(w)) = self.peek() {
            if let Some(cc) = CallConv::parse(w) {
                self.pos += 1;
                sig.call_conv = cc;
            }
        }
        Ok(sig)
    }

    fn abi_param(&mut self) -> PResult<AbiParam> {
        let mut p = AbiParam::new(self.ty("a parameter type")?);
        if self.eat_word("uext") {
            p.extension = ArgumentExtension::Uext;
        } else if self.eat_word("sext") {
            p.extension = ArgumentExtension::Sext;
        }
        if self.eat_word("sret") {
            p.purpose = ArgumentPurpose::StructReturn;
        } else if self.eat_word("vmctx") {
            p.purpose = ArgumentPurpose::VMContext;
        } else if self.eat_word("stack_limit") {
            p.purpose = ArgumentPurpose::StackLimit;
        } else if self.eat_word("sarg") {
            self.expect(Tok::LPar, "'(' after sarg")?;
            let n = self.int_u32("the size of a struct argument")?;
            self.expect(Tok::RPar, "')'")?;
            p.purpose = ArgumentPurpose::StructArgument(n);
        }
        Ok(p)
    }

    fn user_name(&mut self) -> PResult<UserExternalName> {
        let idx = self.pos;
        match self.bump() {
            Some(Tok::UserRef(text)) => {
                let (ns, index) = text[1..].split_once(':').unwrap_or(("", ""));
                match (ns.parse::<u32>(), index.parse::<u32>()) {
                    (Ok(ns), Ok(index)) => Ok(UserExternalName::new(ns, index)),
                    _ => Err(self.err_at(
                        idx,
                        "a user name u<namespace>:<index> with 32-bit numbers",
                        format!("'{text}'"),
                    )),
                }
            }
            _ => {
                self.pos = idx;
                Err(self.err("a user name"))
            }
        }
    }

    fn function_name(&mut self) -> PResult<UserFuncName> {
        match self.peek() {
            Some(Tok::Name(n)) => {
                self.pos += 1;
                Ok(UserFuncName::testcase(n))
            }
            Some(Tok::UserRef(_)) => Ok(UserFuncName::User(self.user_name()?)),
            _ => Err(self.err("a function name (%name or u0:1)")),
        }
    }

    fn external_name(&mut self, func: &mut Function) -> PResult<ExternalName> {
        match self.peek() {
            Some(Tok::Name(n)) => {
                self.pos += 1;
                Ok(if let Some(l) = LibCall::parse(n) {
                    ExternalName::LibCall(l)
                } else if let Some(k) = KnownSymbol::parse(n) {
                    ExternalName::KnownSymbol(k)
                } else {
                    ExternalName::TestCase(TestcaseName::new(n))
                })
            }
            Some(Tok::UserRef(_)) => {
                let n = self.user_name()?;
                Ok(ExternalName::User(func.declare_imported_user_function(n)))
            }
            _ => Err(self.err("an external name (%name or u0:1)")),
        }
    }

    // ----- Functions -----

    /// Parses one `function ... { ... }`.
    pub fn function(&mut self) -> PResult<(Function, FunctionLocations)> {
        let start_line = self.here().0;
        if !self.eat_word("function") {
            return Err(self.err("'function'"));
        }
        let name = self.function_name()?;
        let sig = self.signature()?;
        self.dyn_types.clear();
        let mut fp = FuncParser {
            func: Function::with_name_signature(name, sig),
            defined: Vec::new(),
            first_use: HashMap::new(),
            block_refs: HashMap::new(),
            aliases: Vec::new(),
            suffix_checks: Vec::new(),
            in_preamble: true,
            constant_index: HashMap::new(),
            constants_indexed: 0,
            pending_refs: Vec::new(),
            declared: Declared::default(),
            locs: FunctionLocations {
                line: start_line,
                ..Default::default()
            },
        };
        self.expect(Tok::LBrace, "'{' to start the function body")?;
        self.preamble(&mut fp)?;
        self.body(&mut fp)?;
        fp.locs.end_line = self.here().0;
        self.expect(Tok::RBrace, "'}' to end the function")?;
        self.finish(&mut fp)?;
        Ok((fp.func, fp.locs))
    }

    fn preamble(&mut self, fp: &mut FuncParser) -> PResult<()> {
        while let Some(Tok::Ident(word)) = self.peek() {
            if self.peek_at(1) != Some(Tok::Equal) {
                break;
            }
            let idx = self.pos;
            if word == "stack_limit" {
                self.pos += 2;
                let gv = self.declared_gv(fp)?;
                if fp.func.stack_limit.is_some() {
                    return Err(self.err_at(idx, "a single stack_limit", "a second one"));
                }
                fp.func.stack_limit = Some(gv);
                continue;
            }
            let kinds = ["ss", "dss", "dt", "gv", "sig", "fn", "const", "region"];
            let Some((kind, n)) = kinds
                .iter()
                .find_map(|k| self.entity_number(word, k).map(|n| (*k, n)))
            else {
                if kinds.iter().any(|k| split_entity(word, k).is_some()) {
                    return Err(self.err(format!("an entity number below {}", self.max_entity)));
                }
                break;
            };
            self.pos += 2;
            if !fp.declared.mark(kind, n) {
                return Err(self.err_at(
                    idx,
                    format!("a new {kind} number"),
                    format!("'{word}' (already declared)"),
                ));
            }
            match kind {
                "ss" => self.stack_slot(fp, n)?,
                "dss" => self.dynamic_slot(fp, n)?,
                "dt" => self.dynamic_type(fp, n)?,
                "gv" => self.global_value(fp, n)?,
                "sig" => {
                    let sig = self.signature()?;
                    fill(&mut fp.func.stencil.dfg.signatures, n, Signature::default);
                    fp.func.stencil.dfg.signatures[SigRef::from_u32(n)] = sig;
                }
                "fn" => self.func_decl(fp, n)?,
                "const" => {
                    let data = self.constant_literal(None)?;
                    fill(&mut fp.func.stencil.dfg.constants, n, ConstantData::default);
                    fp.func.stencil.dfg.constants[Constant::from_u32(n)] = data;
                }
                _ => {
                    let id = self.int_u64("a region id")?;
                    let name = match self.peek() {
                        Some(Tok::Str(s)) => {
                            self.pos += 1;
                            s.to_string()
                        }
                        _ => return Err(self.err("a quoted region name")),
                    };
                    fill(&mut fp.func.stencil.dfg.alias_regions, n, || {
                        AliasRegionData {
                            id: 0,
                            name: String::new(),
                        }
                    });
                    fp.func.stencil.dfg.alias_regions[AliasRegion::from_u32(n)] =
                        AliasRegionData { id, name };
                }
            }
        }
        fp.in_preamble = false;
        for &(kind, n, idx, what) in &fp.pending_refs {
            if !fp.declared.has(kind, n) {
                return Err(self.err_at(idx, what, format!("'{kind}{n}'")));
            }
        }
        // No gaps in functions, signatures and constants: their
        // placeholders could not be printed back as valid text. (Stack
        // slots, global values and the rest get printable placeholders.)
        if let Some((kind, n)) = fp.declared.first_gap() {
            return Err(self.err(format!(
                "a declaration of {kind}{n} (numbers must not skip)"
            )));
        }
        Ok(())
    }

    fn declared_gv(&mut self, fp: &mut FuncParser) -> PResult<GlobalValue> {
        let idx = self.pos;
        let n = self.entity("gv", "a global value (gvN)")?;
        self.check_declared(fp, "gv", n, idx, "a declared global value")?;
        Ok(GlobalValue::from_u32(n))
    }

    /// In the preamble, declarations may refer to later ones (Cranelift
    /// prints `dss` before the `dt` it uses): references are checked at
    /// its end. In the body, everything must already be declared.
    fn check_declared(
        &self,
        fp: &mut FuncParser,
        kind: &'static str,
        n: u32,
        idx: usize,
        what: &'static str,
    ) -> PResult<()> {
        if fp.in_preamble {
            fp.pending_refs.push((kind, n, idx, what));
            Ok(())
        } else if fp.declared.has(kind, n) {
            Ok(())
        } else {
            Err(self.err_at(idx, what, format!("'{kind}{n}'")))
        }
    }

    fn stack_slot(&mut self, fp: &mut FuncParser, n: u32) -> PResult<()> {
        if !self.eat_word("explicit_slot") {
            return Err(self.err("'explicit_slot'"));
        }
        let size = self.int_u32("a stack slot size")?;
        let mut data = StackSlotData::new(size, 0);
        while self.eat(Tok::Comma) {
            let idx = self.pos;
            let key = self.ident("'align' or 'key'")?;
            self.expect(Tok::Equal, "'='")?;
            match key {
                "align" => {
                    let vidx = self.pos;
                    let a = self.int_u64("an alignment")?;
                    if !a.is_power_of_two() {
                        return Err(self.err_at(vidx, "a power-of-two alignment", format!("{a}")));
                    }
                    data.align_shift = a.trailing_zeros() as u8;
                }
                "key" => data.key = Some(self.int_u64("a slot key")?),
                _ => return Err(self.err_at(idx, "'align' or 'key'", format!("'{key}'"))),
            }
        }
        fill(&mut fp.func.stencil.sized_stack_slots, n, || {
            StackSlotData::new(0, 0)
        });
        fp.func.stencil.sized_stack_slots[StackSlot::from_u32(n)] = data;
        Ok(())
    }

    fn dynamic_slot(&mut self, fp: &mut FuncParser, n: u32) -> PResult<()> {
        if !self.eat_word("explicit_dynamic_slot") {
            return Err(self.err("'explicit_dynamic_slot'"));
        }
        let idx = self.pos;
        let dt = self.entity("dt", "a dynamic type (dtN)")?;
        self.check_declared(fp, "dt", dt, idx, "a declared dynamic type")?;
        let data = DynamicStackSlotData {
            kind: StackSlotKind::ExplicitDynamicSlot,
            dyn_ty: DynamicType::from_u32(dt),
        };
        fill(&mut fp.func.stencil.dynamic_stack_slots, n, || data.clone());
        fp.func.stencil.dynamic_stack_slots[DynamicStackSlot::from_u32(n)] = data;
        Ok(())
    }

    fn dynamic_type(&mut self, fp: &mut FuncParser, n: u32) -> PResult<()> {
        let base = self.ty("a vector type")?;
        self.expect(Tok::Star, "'*'")?;
        let gv = self.declared_gv(fp)?;
        let Some(dyn_ty) = base.to_dynamic() else {
            return Err(self.err_at(self.pos - 3, "a fixed vector type", format!("'{base}'")));
        };
        self.dyn_types.insert(n, dyn_ty);
        let data = DynamicTypeData {
            base_vector_ty: base,
            dynamic_scale: gv,
        };
        fill(&mut fp.func.stencil.dfg.dynamic_types, n, || data.clone());
        fp.func.stencil.dfg.dynamic_types[DynamicType::from_u32(n)] = data;
        Ok(())
    }

    fn suffix_type(&mut self, what: &str) -> PResult<Type> {
        self.expect(Tok::Dot, "'.' and a type")?;
        self.ty(what)
    }

    fn global_value(&mut self, fp: &mut FuncParser, n: u32) -> PResult<()> {
        let idx = self.pos;
        let word = self
            .ident("a global value kind (vmctx, load, iadd_imm, symbol, dyn_scale_target_const)")?;
        let data =
            match word {
                "vmctx" => GlobalValueData::VMContext,
                "load" => {
                    let global_type = self.suffix_type("the loaded type")?;
                    let flags = self.memflags(fp)?;
                    let base = self.declared_gv(fp)?;
                    let offset = self.offset32()?;
                    GlobalValueData::Load {
                        base,
                        offset,
                        global_type,
                        flags,
                    }
                }
                "iadd_imm" => {
                    let global_type = self.suffix_type("the result type")?;
                    let base = self.declared_gv(fp)?;
                    self.expect(Tok::Comma, "','")?;
                    let offset = self.imm64()?;
                    GlobalValueData::IAddImm {
                        base,
                        offset,
                        global_type,
                    }
                }
                "symbol" => {
                    let colocated = self.eat_word("colocated");
                    let tls = self.eat_word("tls");
                    let name = self.external_name(&mut fp.func)?;
                    let offset = match self.peek() {
                        Some(Tok::Number(t)) if t.starts_with('+') || t.starts_with('-') => {
                            self.imm64()?
                        }
                        _ => Imm64(0),
                    };
                    GlobalValueData::Symbol {
                        name,
                        offset,
                        colocated,
                        tls,
                    }
                }
                "dyn_scale_target_const" => GlobalValueData::DynScaleTargetConst {
                    vector_type: self.suffix_type("a vector type")?,
                },
                _ => return Err(self.err_at(
                    idx,
                    "a global value kind (vmctx, load, iadd_imm, symbol, dyn_scale_target_const)",
                    format!("'{word}'"),
                )),
            };
        fill(&mut fp.func.stencil.global_values, n, || {
            GlobalValueData::VMContext
        });
        fp.func.stencil.global_values[GlobalValue::from_u32(n)] = data;
        Ok(())
    }

    fn func_decl(&mut self, fp: &mut FuncParser, n: u32) -> PResult<()> {
        let mut colocated = false;
        let mut patchable = false;
        loop {
            if self.eat_word("colocated") {
                colocated = true;
            } else if self.eat_word("patchable") {
                patchable = true;
            } else {
                break;
            }
        }
        let name = self.external_name(&mut fp.func)?;
        let signature = if self.peek() == Some(Tok::LPar) {
            // Like Cranelift: the inline signature takes the next number.
            let sig = self.signature()?;
            let sr = fp.func.stencil.dfg.signatures.push(sig);
            fp.declared.mark("sig", sr.as_u32());
            sr
        } else {
            let idx = self.pos;
            let s = self.entity("sig", "a signature (sigN) or an inline signature")?;
            self.check_declared(fp, "sig", s, idx, "a declared signature")?;
            SigRef::from_u32(s)
        };
        let data = ExtFuncData {
            name,
            signature,
            colocated,
            patchable,
        };
        fill(&mut fp.func.stencil.dfg.ext_funcs, n, || ExtFuncData {
            name: ExternalName::TestCase(TestcaseName::new("")),
            signature: SigRef::from_u32(0),
            colocated: false,
            patchable: false,
        });
        fp.func.stencil.dfg.ext_funcs[FuncRef::from_u32(n)] = data;
        Ok(())
    }

    /// `0x0102...` (a little-endian number) or `[a b c]` lanes of `ty`
    /// (bytes if no type); padded with zeros to `ty`'s size.
    fn constant_literal(&mut self, ty: Option<Type>) -> PResult<ConstantData> {
        let idx = self.pos;
        let size = ty.map(|t| t.bytes() as usize);
        let data = if self.eat(Tok::LBracket) {
            let lane = ty.map_or(Type::I8, |t| t.lane_type());
            let mut texts = Vec::new();
            while !self.eat(Tok::RBracket) {
                if texts.len() > 256 {
                    return Err(self.err("']' (too many lanes)"));
                }
                texts.push(self.number_text("a lane value or ']'")?);
            }
            if let Some(t) = ty {
                if texts.len() != t.lane_count() as usize {
                    return Err(self.err_at(
                        idx,
                        format!("{} lane values for {t}", t.lane_count()),
                        format!("{}", texts.len()),
                    ));
                }
            }
            constant_from_literals(&texts, lane, false)
                .map_err(|e| self.err_at(idx, format!("lane values ({e})"), "a bad literal"))?
        } else {
            let text = self.number_text("a constant ('0x...' or '[...]')")?;
            let Some(hex) = text.strip_prefix("0x") else {
                return Err(self.err_at(idx, "a hex constant '0x...'", format!("'{text}'")));
            };
            let digits: Vec<u8> = hex
                .bytes()
                .filter(|&c| c != b'_')
                .map(|c| (c as char).to_digit(16).map(|d| d as u8))
                .collect::<Option<_>>()
                .ok_or_else(|| self.err_at(idx, "hex digits", format!("'{text}'")))?;
            if digits.is_empty() || digits.len() > 2 * 256 {
                return Err(self.err_at(idx, "1 to 512 hex digits", format!("'{text}'")));
            }
            let mut bytes = Vec::with_capacity(digits.len().div_ceil(2));
            let mut i = digits.len();
            while i > 0 {
                let lo = digits[i - 1];
                let hi = if i >= 2 { digits[i - 2] } else { 0 };
                bytes.push(hi << 4 | lo);
                i = i.saturating_sub(2);
            }
            ConstantData(bytes)
        };
        let mut data = data;
        if let Some(size) = size {
            if data.len() > size {
                return Err(self.err_at(
                    idx,
                    format!("a constant of at most {size} bytes"),
                    format!("{} bytes", data.len()),
                ));
            }
            data.0.resize(size, 0);
        }
        Ok(data)
    }

    fn memflags(&mut self, fp: &mut FuncParser) -> PResult<MemFlags> {
        let mut flags = MemFlags::new();
        while let Some(Tok::Ident(w)) = self.peek() {
            if let Some(r) = self.entity_number(w, "region") {
                self.check_declared(fp, "region", r, self.pos, "a declared alias region")?;
                flags.set_alias_region(Some(AliasRegion::from_u32(r)));
            } else if !flags.set_by_name(w) {
                if matches!(w, "little" | "big") {
                    return Err(self.err("only one of 'little' and 'big'"));
                }
                break;
            }
            self.pos += 1;
        }
        Ok(flags)
    }

    // ----- Body -----

    fn body(&mut self, fp: &mut FuncParser) -> PResult<()> {
        let mut current: Option<Block> = None;
        loop {
            match self.peek() {
                None | Some(Tok::RBrace) => return Ok(()),
                Some(Tok::Ident(w))
                    if w.starts_with("block") && split_entity(w, "block").is_some() =>
                {
                    current = Some(self.block_header(fp)?);
                }
                Some(Tok::Ident(w))
                    if self.peek_at(1) == Some(Tok::Arrow) && split_entity(w, "v").is_some() =>
                {
                    self.alias(fp)?;
                }
                _ => {
                    let Some(block) = current else {
                        return Err(
                            self.err("a block header (blockN:) before the first instruction")
                        );
                    };
                    self.instruction(fp, block)?;
                }
            }
        }
    }

    fn block_ref(&mut self, fp: &mut FuncParser) -> PResult<Block> {
        let idx = self.pos;
        let n = self.entity("block", "a block (blockN)")?;
        let b = Block::from_u32(n);
        fill_blocks(&mut fp.func.stencil.dfg, n);
        fp.block_refs.entry(b).or_insert(idx);
        Ok(b)
    }

    fn block_header(&mut self, fp: &mut FuncParser) -> PResult<Block> {
        let idx = self.pos;
        let n = self.entity("block", "a block (blockN)")?;
        let block = Block::from_u32(n);
        fill_blocks(&mut fp.func.stencil.dfg, n);
        if !fp.func.stencil.layout.append_block(block) {
            return Err(self.err_at(
                idx,
                "a new block number",
                format!("'block{n}' (already defined)"),
            ));
        }
        if self.eat(Tok::LPar) && !self.eat(Tok::RPar) {
            loop {
                let vidx = self.pos;
                let v = self.value_number()?;
                self.expect(Tok::Colon, "':' and the parameter type")?;
                let ty = self.ty("a parameter type")?;
                self.define_value(fp, v, vidx)?;
                fp.func.stencil.dfg.attach_block_param(block, v, ty);
                if self.eat(Tok::RPar) {
                    break;
                }
                self.expect(Tok::Comma, "',' or ')' in the block parameters")?;
            }
        }
        if self.eat_word("cold") {
            fp.func.stencil.dfg.blocks[block].cold = true;
        }
        self.expect(Tok::Colon, "':' after the block header")?;
        Ok(block)
    }

    fn value_number(&mut self) -> PResult<Value> {
        self.entity("v", "a value (vN)").map(Value::from_u32)
    }

    fn define_value(&mut self, fp: &mut FuncParser, v: Value, idx: usize) -> PResult<()> {
        let i = v.index();
        if fp.defined.len() <= i {
            fp.defined.resize(i + 1, false);
        }
        if fp.defined[i] {
            return Err(self.err_at(
                idx,
                "a new value number",
                format!("'{v}' (already defined)"),
            ));
        }
        fp.defined[i] = true;
        fp.func.stencil.dfg.reserve_value(v);
        Ok(())
    }

    /// A value operand; records the first use of not-yet-defined values.
    fn use_value(&mut self, fp: &mut FuncParser) -> PResult<Value> {
        let idx = self.pos;
        let v = self.value_number()?;
        fp.func.stencil.dfg.reserve_value(v);
        if !fp.defined.get(v.index()).copied().unwrap_or(false) {
            fp.first_use.entry(v).or_insert(idx);
        }
        Ok(v)
    }

    fn alias(&mut self, fp: &mut FuncParser) -> PResult<()> {
        let idx = self.pos;
        let alias = self.value_number()?;
        self.expect(Tok::Arrow, "'->'")?;
        let original = self.use_value(fp)?;
        self.define_value(fp, alias, idx)?;
        fp.aliases.push((alias, original, idx));
        // Give it a type now if the original has one, so later
        // instructions can infer their controlling type from it.
        if fp.func.stencil.dfg.value_def(original).is_some() {
            fp.func.stencil.dfg.make_value_alias(alias, original);
        }
        Ok(())
    }

    fn value_list_in_parens(&mut self, fp: &mut FuncParser, out: &mut Vec<Value>) -> PResult<()> {
        self.expect(Tok::LPar, "'(' and the arguments")?;
        if self.eat(Tok::RPar) {
            return Ok(());
        }
        loop {
            out.push(self.use_value(fp)?);
            if self.eat(Tok::RPar) {
                return Ok(());
            }
            self.expect(Tok::Comma, "',' or ')' in the argument list")?;
        }
    }

    fn block_call(&mut self, fp: &mut FuncParser) -> PResult<BlockCall> {
        let block = self.block_ref(fp)?;
        let mut args = Vec::new();
        if self.eat(Tok::LPar) && !self.eat(Tok::RPar) {
            loop {
                let arg = match self.peek() {
                    Some(Tok::Ident(w)) if split_entity(w, "ret").is_some() => {
                        BlockArg::TryCallRet(self.entity("ret", "retN")?)
                    }
                    Some(Tok::Ident(w)) if split_entity(w, "exn").is_some() => {
                        BlockArg::TryCallExn(self.entity("exn", "exnN")?)
                    }
                    _ => BlockArg::Value(self.use_value(fp)?),
                };
                args.push(arg);
                if self.eat(Tok::RPar) {
                    break;
                }
                self.expect(Tok::Comma, "',' or ')' in the block arguments")?;
            }
        }
        Ok(fp.func.stencil.dfg.block_call(block, &args))
    }

    fn declared<T>(
        &mut self,
        fp: &FuncParser,
        kind: &str,
        what: &str,
        make: fn(u32) -> T,
    ) -> PResult<T> {
        let idx = self.pos;
        let n = self.entity(kind, what)?;
        if !fp.declared.has(kind, n) {
            return Err(self.err_at(idx, format!("a declared {what}"), format!("'{kind}{n}'")));
        }
        Ok(make(n))
    }

    fn trap_code(&mut self) -> PResult<TrapCode> {
        match self.peek() {
            Some(Tok::Ident(w)) => match TrapCode::parse(w) {
                Some(c) => {
                    self.pos += 1;
                    Ok(c)
                }
                None => Err(self.err("a trap code")),
            },
            _ => Err(self.err("a trap code")),
        }
    }

    fn exception_table(&mut self, fp: &mut FuncParser, sig: SigRef) -> PResult<ExceptionTable> {
        let normal = self.block_call(fp)?;
        self.expect(Tok::Comma, "',' and the handler list")?;
        self.expect(Tok::LBracket, "'[' to start the handler list")?;
        let mut targets = vec![normal];
        let mut items = Vec::new();
        if !self.eat(Tok::RBracket) {
            loop {
                match self.peek() {
                    Some(Tok::Ident("default")) => {
                        self.pos += 1;
                        self.expect(Tok::Colon, "':'")?;
                        items.push(ExceptionTableItem::Default);
                        targets.push(self.block_call(fp)?);
                    }
                    Some(Tok::Ident("context")) => {
                        self.pos += 1;
                        items.push(ExceptionTableItem::Context(self.use_value(fp)?));
                    }
                    Some(Tok::Ident(w)) if split_entity(w, "tag").is_some() => {
                        let idx = self.pos;
                        self.pos += 1;
                        let tag: u32 = w[3..].parse().map_err(|_| {
                            self.err_at(idx, "a 32-bit tag number", format!("'{w}'"))
                        })?;
                        self.expect(Tok::Colon, "':'")?;
                        items.push(ExceptionTableItem::Tag(tag));
                        targets.push(self.block_call(fp)?);
                    }
                    _ => {
                        return Err(
                            self.err("a handler ('tagN: block', 'default: block' or 'context vN')")
                        )
                    }
                }
                if self.eat(Tok::RBracket) {
                    break;
                }
                self.expect(Tok::Comma, "',' or ']' in the handler list")?;
            }
        }
        Ok(fp
            .func
            .stencil
            .dfg
            .exception_tables
            .push(ExceptionTableData {
                sig,
                targets,
                items,
            }))
    }

    fn instruction(&mut self, fp: &mut FuncParser, block: Block) -> PResult<()> {
        // [@srcloc] [results =] opcode[.type] operands
        let mut srcloc = None;
        if let Some(Tok::SrcLoc(hex)) = self.peek() {
            let loc = u32::from_str_radix(hex, 16)
                .ok()
                .filter(|&l| l != u32::MAX)
                .ok_or_else(|| self.err("a source location of at most 8 hex digits"))?;
            self.pos += 1;
            srcloc = Some(SourceLoc::new(loc));
        }
        let mut results: Vec<(Value, usize)> = Vec::new();
        if matches!(self.peek(), Some(Tok::Ident(w)) if split_entity(w, "v").is_some()) {
            loop {
                let idx = self.pos;
                results.push((self.value_number()?, idx));
                if results.len() > 1024 {
                    return Err(self.err("at most 1024 results"));
                }
                if self.eat(Tok::Equal) {
                    break;
                }
                self.expect(Tok::Comma, "',' or '=' after a result")?;
            }
        }
        let op_idx = self.pos;
        let op_line = self.line_of(op_idx);
        let word = self.ident("an opcode")?;
        let Some(opcode) = Opcode::from_name(word) else {
            return Err(self.err_at(op_idx, "an opcode", format!("'{word}'")));
        };
        let info = opcode.info();
        let suffix = if self.peek() == Some(Tok::Dot) {
            let sidx = self.pos + 1;
            let t = self.suffix_type("a type suffix")?;
            match info.ctrl {
                None => {
                    return Err(self.err_at(
                        sidx,
                        format!("no type suffix ('{opcode}' is not polymorphic)"),
                        format!("'{t}'"),
                    ))
                }
                Some(set) if !set.contains(t) => {
                    return Err(self.err_at(
                        sidx,
                        format!("a controlling type allowed for '{opcode}'"),
                        format!("'{t}'"),
                    ))
                }
                _ => {}
            }
            Some(t)
        } else {
            None
        };
        let data = self.operands(fp, opcode, suffix, op_line)?;
        if let (Some(t), Some(tv)) = (suffix, info.typevar_operand) {
            let dfg = &fp.func.stencil.dfg;
            if let Some(&v) = data.arguments(&dfg.value_lists).get(tv as usize) {
                fp.suffix_checks.push((v, t, op_idx + 2));
            }
        }

        // The controlling type.
        let dfg = &fp.func.stencil.dfg;
        let ctrl = match (suffix, info.ctrl) {
            (Some(t), _) => t,
            (None, None) => Type::INVALID,
            (None, Some(set)) => {
                let args = data.arguments(&dfg.value_lists);
                match info
                    .typevar_operand
                    .and_then(|i| args.get(i as usize).copied())
                {
                    Some(v) => {
                        let t = dfg.value_type(v);
                        if t.is_invalid() {
                            return Err(self.err_at(
                                op_idx,
                                format!("a type suffix ('{opcode}.TYPE'): the type of {v} is not known yet"),
                                format!("'{opcode}'"),
                            ));
                        }
                        if !set.contains(t) {
                            return Err(self.err_at(
                                op_idx,
                                format!("an operand type allowed for '{opcode}'"),
                                format!("{v} of type {t}"),
                            ));
                        }
                        t
                    }
                    None => {
                        return Err(self.err_at(
                            op_idx,
                            format!("a type suffix ('{opcode}.TYPE')"),
                            format!("'{opcode}'"),
                        ))
                    }
                }
            }
        };
        // Integer immediates are stored zero-extended from the controlling
        // type's width (`iconst.i32 -1` and `iconst.i32 0xffff_ffff` are
        // the same instruction); values that fit neither the signed nor
        // the unsigned range of the type are errors.
        let mut data = data;
        if let InstructionData::UnaryImm { imm, .. } = &mut data {
            let bits = ctrl.bits();
            if (1..64).contains(&bits) {
                let v = imm.0 as i128;
                if v < -(1i128 << (bits - 1)) || v >= (1i128 << bits) {
                    return Err(self.err_at(
                        op_idx + 3,
                        format!("an immediate that fits in {ctrl}"),
                        format!("{}", imm.0),
                    ));
                }
                imm.0 = (imm.0 as u64 & ((1u64 << bits) - 1)) as i64;
            }
        }
        let dfg = &mut fp.func.stencil.dfg;
        let inst = dfg.make_inst(data);
        let Some(types) = dfg.result_types(inst, ctrl) else {
            return Err(self.err_at(
                op_idx,
                format!("a controlling type that '{opcode}' can produce results for"),
                format!("'{ctrl}'"),
            ));
        };
        if types.len() != results.len() {
            let at = results.first().map_or(op_idx, |r| r.1);
            return Err(self.err_at(
                at,
                format!("{} result value(s) for '{opcode}'", types.len()),
                format!("{}", results.len()),
            ));
        }
        for &(v, idx) in &results {
            self.define_value(fp, v, idx)?;
        }
        let pairs: Vec<(Value, Type)> = results
            .iter()
            .map(|r| r.0)
            .zip(types.iter().copied())
            .collect();
        fp.func.stencil.dfg.attach_inst_results(inst, &pairs);
        fp.func.stencil.layout.append_inst(inst, block);
        if let Some(loc) = srcloc {
            fp.func.set_srcloc(inst, loc);
        }
        fp.locs.inst_lines.push((inst, op_line));
        Ok(())
    }

    fn operands(
        &mut self,
        fp: &mut FuncParser,
        opcode: Opcode,
        suffix: Option<Type>,
        op_line: usize,
    ) -> PResult<InstructionData> {
        use InstructionData as D;
        use InstructionFormat as F;
        let comma = |p: &mut Self| p.expect(Tok::Comma, "','");
        Ok(match opcode.format() {
            F::NullAry => D::NullAry { opcode },
            F::Unary => D::Unary {
                opcode,
                arg: self.use_value(fp)?,
            },
            F::UnaryImm => D::UnaryImm {
                opcode,
                imm: self.imm64()?,
            },
            F::UnaryIeee16 => D::UnaryIeee16 {
                opcode,
                imm: Ieee16(self.float_bits(Type::F16)? as u16),
            },
            F::UnaryIeee32 => D::UnaryIeee32 {
                opcode,
                imm: Ieee32(self.float_bits(Type::F32)? as u32),
            },
            F::UnaryIeee64 => D::UnaryIeee64 {
                opcode,
                imm: Ieee64(self.float_bits(Type::F64)? as u64),
            },
            F::UnaryConst => {
                let constant = match self.peek() {
                    Some(Tok::Ident(w)) if split_entity(w, "const").is_some() => {
                        self.declared(fp, "const", "constant (constN)", Constant::from_u32)?
                    }
                    _ => {
                        let data = if opcode == Opcode::F128const {
                            let bits = self.float_bits(Type::F128)?;
                            ConstantData(bits.to_le_bytes().to_vec())
                        } else {
                            let ty = suffix
                                .ok_or_else(|| self.err("a type suffix before a vector literal"))?;
                            self.constant_literal(Some(ty))?
                        };
                        // Equal literals share one constant, as in Cranelift's pool.
                        let consts = &fp.func.stencil.dfg.constants;
                        for (c, d) in consts.iter().skip(fp.constants_indexed) {
                            fp.constant_index.entry(d.clone()).or_insert(c);
                        }
                        fp.constants_indexed = consts.len();
                        match fp.constant_index.get(&data) {
                            Some(&c) => c,
                            None => fp.func.stencil.dfg.constants.push(data),
                        }
                    }
                };
                D::UnaryConst { opcode, constant }
            }
            F::UnaryGlobalValue => D::UnaryGlobalValue {
                opcode,
                global_value: self.declared_gv(fp)?,
            },
            F::Binary => {
                let a = self.use_value(fp)?;
                comma(self)?;
                D::Binary {
                    opcode,
                    args: [a, self.use_value(fp)?],
                }
            }
            F::BinaryImm8 => {
                let arg = self.use_value(fp)?;
                comma(self)?;
                D::BinaryImm8 {
                    opcode,
                    arg,
                    imm: self.uimm8()?,
                }
            }
            F::Ternary => {
                let a = self.use_value(fp)?;
                comma(self)?;
                let b = self.use_value(fp)?;
                comma(self)?;
                D::Ternary {
                    opcode,
                    args: [a, b, self.use_value(fp)?],
                }
            }
            F::TernaryImm8 => {
                let a = self.use_value(fp)?;
                comma(self)?;
                let b = self.use_value(fp)?;
                comma(self)?;
                D::TernaryImm8 {
                    opcode,
                    args: [a, b],
                    imm: self.uimm8()?,
                }
            }
            F::Shuffle => {
                let a = self.use_value(fp)?;
                comma(self)?;
                let b = self.use_value(fp)?;
                comma(self)?;
                let mask = self.constant_literal(Some(Type::I8X16))?;
                D::Shuffle {
                    opcode,
                    args: [a, b],
                    imm: fp.func.stencil.dfg.immediates.push(mask),
                }
            }
            F::IntCompare => {
                let w = self.ident("an integer condition code")?;
                let cond = IntCC::parse(w).ok_or_else(|| {
                    self.err_at(self.pos - 1, "an integer condition code", format!("'{w}'"))
                })?;
                let a = self.use_value(fp)?;
                comma(self)?;
                D::IntCompare {
                    opcode,
                    cond,
                    args: [a, self.use_value(fp)?],
                }
            }
            F::FloatCompare => {
                let w = self.ident("a float condition code")?;
                let cond = FloatCC::parse(w).ok_or_else(|| {
                    self.err_at(self.pos - 1, "a float condition code", format!("'{w}'"))
                })?;
                let a = self.use_value(fp)?;
                comma(self)?;
                D::FloatCompare {
                    opcode,
                    cond,
                    args: [a, self.use_value(fp)?],
                }
            }
            F::Jump => D::Jump {
                opcode,
                destination: self.block_call(fp)?,
            },
            F::Brif => {
                let arg = self.use_value(fp)?;
                comma(self)?;
                let t = self.block_call(fp)?;
                comma(self)?;
                D::Brif {
                    opcode,
                    arg,
                    blocks: [t, self.block_call(fp)?],
                }
            }
            F::BranchTable => {
                let arg = self.use_value(fp)?;
                comma(self)?;
                let default = self.block_call(fp)?;
                comma(self)?;
                self.expect(Tok::LBracket, "'[' to start the jump table")?;
                let mut entries = vec![default];
                if !self.eat(Tok::RBracket) {
                    loop {
                        entries.push(self.block_call(fp)?);
                        if self.eat(Tok::RBracket) {
                            break;
                        }
                        comma(self)?;
                    }
                }
                D::BranchTable {
                    opcode,
                    arg,
                    table: fp
                        .func
                        .stencil
                        .dfg
                        .jump_tables
                        .push(JumpTableData { entries }),
                }
            }
            F::MultiAry => {
                // Operands must be on the opcode's line: `return` is often
                // followed by a block header or an instruction.
                let mut vals = Vec::new();
                if self.line_of(self.pos) == op_line
                    && matches!(self.peek(), Some(Tok::Ident(w)) if split_entity(w, "v").is_some())
                {
                    loop {
                        vals.push(self.use_value(fp)?);
                        if !self.eat(Tok::Comma) {
                            break;
                        }
                    }
                }
                D::MultiAry {
                    opcode,
                    args: fp.func.stencil.dfg.make_value_list(&vals),
                }
            }
            F::Call => {
                let func_ref = self.declared(fp, "fn", "function (fnN)", FuncRef::from_u32)?;
                let mut vals = Vec::new();
                self.value_list_in_parens(fp, &mut vals)?;
                D::Call {
                    opcode,
                    func_ref,
                    args: fp.func.stencil.dfg.make_value_list(&vals),
                }
            }
            F::CallIndirect => {
                let sig_ref = self.declared(fp, "sig", "signature (sigN)", SigRef::from_u32)?;
                comma(self)?;
                let mut vals = vec![self.use_value(fp)?];
                self.value_list_in_parens(fp, &mut vals)?;
                D::CallIndirect {
                    opcode,
                    sig_ref,
                    args: fp.func.stencil.dfg.make_value_list(&vals),
                }
            }
            F::TryCall => {
                let func_ref = self.declared(fp, "fn", "function (fnN)", FuncRef::from_u32)?;
                let mut vals = Vec::new();
                self.value_list_in_parens(fp, &mut vals)?;
                comma(self)?;
                let sig = self.declared(fp, "sig", "signature (sigN)", SigRef::from_u32)?;
                comma(self)?;
                let exception = self.exception_table(fp, sig)?;
                D::TryCall {
                    opcode,
                    func_ref,
                    args: fp.func.stencil.dfg.make_value_list(&vals),
                    exception,
                }
            }
            F::TryCallIndirect => {
                let mut vals = vec![self.use_value(fp)?];
                self.value_list_in_parens(fp, &mut vals)?;
                comma(self)?;
                let sig = self.declared(fp, "sig", "signature (sigN)", SigRef::from_u32)?;
                comma(self)?;
                let exception = self.exception_table(fp, sig)?;
                D::TryCallIndirect {
                    opcode,
                    args: fp.func.stencil.dfg.make_value_list(&vals),
                    exception,
                }
            }
            F::FuncAddr => D::FuncAddr {
                opcode,
                func_ref: self.declared(fp, "fn", "function (fnN)", FuncRef::from_u32)?,
            },
            F::StackLoad => {
                let stack_slot =
                    self.declared(fp, "ss", "stack slot (ssN)", StackSlot::from_u32)?;
                D::StackLoad {
                    opcode,
                    stack_slot,
                    offset: self.offset32()?,
                }
            }
            F::DynamicStackLoad => D::DynamicStackLoad {
                opcode,
                dynamic_stack_slot: self.declared(
                    fp,
                    "dss",
                    "dynamic stack slot (dssN)",
                    DynamicStackSlot::from_u32,
                )?,
            },
            F::Load => {
                let flags = self.memflags(fp)?;
                let arg = self.use_value(fp)?;
                D::Load {
                    opcode,
                    flags,
                    arg,
                    offset: self.offset32()?,
                }
            }
            F::Store => {
                let flags = self.memflags(fp)?;
                let a = self.use_value(fp)?;
                comma(self)?;
                let b = self.use_value(fp)?;
                D::Store {
                    opcode,
                    flags,
                    args: [a, b],
                    offset: self.offset32()?,
                }
            }
            F::LoadNoOffset => {
                let flags = self.memflags(fp)?;
                D::LoadNoOffset {
                    opcode,
                    flags,
                    arg: self.use_value(fp)?,
                }
            }
            F::StoreNoOffset => {
                let flags = self.memflags(fp)?;
                let a = self.use_value(fp)?;
                comma(self)?;
                D::StoreNoOffset {
                    opcode,
                    flags,
                    args: [a, self.use_value(fp)?],
                }
            }
            F::AtomicRmw => {
                let flags = self.memflags(fp)?;
                let w = self.ident("an atomic operation (add, sub, and, nand, or, xor, xchg, umin, umax, smin, smax)")?;
                let op = AtomicRmwOp::parse(w).ok_or_else(|| {
                    self.err_at(self.pos - 1, "an atomic operation (add, sub, and, nand, or, xor, xchg, umin, umax, smin, smax)", format!("'{w}'"))
                })?;
                let a = self.use_value(fp)?;
                comma(self)?;
                D::AtomicRmw {
                    opcode,
                    flags,
                    op,
                    args: [a, self.use_value(fp)?],
                }
            }
            F::AtomicCas => {
                let flags = self.memflags(fp)?;
                let a = self.use_value(fp)?;
                comma(self)?;
                let b = self.use_value(fp)?;
                comma(self)?;
                D::AtomicCas {
                    opcode,
                    flags,
                    args: [a, b, self.use_value(fp)?],
                }
            }
            F::Trap => D::Trap {
                opcode,
                code: self.trap_code()?,
            },
            F::CondTrap => {
                let arg = self.use_value(fp)?;
                comma(self)?;
                D::CondTrap {
                    opcode,
                    arg,
                    code: self.trap_code()?,
                }
            }
            F::IntAddTrap => {
                let a = self.use_value(fp)?;
                comma(self)?;
                let b = self.use_value(fp)?;
                comma(self)?;
                D::IntAddTrap {
                    opcode,
                    args: [a, b],
                    code: self.trap_code()?,
                }
            }
            F::ExceptionHandlerAddress => {
                let block = self.block_ref(fp)?;
                comma(self)?;
                D::ExceptionHandlerAddress {
                    opcode,
                    block,
                    imm: self.imm64()?,
                }
            }
        })
    }

    fn uimm8(&mut self) -> PResult<Uimm8> {
        let idx = self.pos;
        let v = self.int_u64("an 8-bit unsigned immediate")?;
        u8::try_from(v)
            .map(Uimm8)
            .map_err(|_| self.err_at(idx, "an 8-bit unsigned immediate", format!("{v}")))
    }

    /// A float immediate in CLIF's exact forms (hex, `0.0`, `Inf`, `NaN`...).
    fn float_bits(&mut self, ty: Type) -> PResult<u128> {
        let idx = self.pos;
        let text = self.number_text(&format!("a {ty} immediate"))?;
        scalar_bits(text, ty, false)
            .map_err(|e| self.err_at(idx, format!("a {ty} immediate ({e})"), format!("'{text}'")))
    }

    /// Checks forward references and resolves deferred aliases.
    fn finish(&mut self, fp: &mut FuncParser) -> PResult<()> {
        // Aliases: resolve those whose original was defined later in the
        // text, in dependency order, in linear time; reject cycles, aliases
        // of undefined values and chains deeper than MAX_ALIAS_DEPTH (which
        // would make every later alias lookup slow).
        const MAX_ALIAS_DEPTH: u32 = 100;
        let original: HashMap<Value, (Value, usize)> = fp
            .aliases
            .iter()
            .map(|&(a, o, idx)| (a, (o, idx)))
            .collect();
        let mut depth: HashMap<Value, u32> = HashMap::new();
        for &(a, _, _) in &fp.aliases {
            let mut path: Vec<Value> = Vec::new();
            let mut cur = a;
            let base = loop {
                if let Some(&d) = depth.get(&cur) {
                    break d;
                }
                match original.get(&cur) {
                    Some(&(o, idx)) => {
                        if path.contains(&cur) || path.len() as u32 > MAX_ALIAS_DEPTH {
                            return Err(self.err_at(
                                idx,
                                "an alias chain without cycles, at most 100 deep",
                                format!("'{cur} -> {o}'"),
                            ));
                        }
                        path.push(cur);
                        cur = o;
                    }
                    None => {
                        if fp.func.stencil.dfg.value_def(cur).is_none() {
                            let (o, idx) = original[path.last().unwrap_or(&a)];
                            return Err(self.err_at(
                                idx,
                                format!("an alias of a defined value ({o} is not defined)"),
                                format!("'{} -> {o}'", path.last().unwrap_or(&a)),
                            ));
                        }
                        break 0;
                    }
                }
            };
            for (k, &p) in path.iter().rev().enumerate() {
                let d = base + k as u32 + 1;
                if d > MAX_ALIAS_DEPTH {
                    let (o, idx) = original[&p];
                    return Err(self.err_at(
                        idx,
                        "an alias chain at most 100 deep",
                        format!("'{p} -> {o}'"),
                    ));
                }
                depth.insert(p, d);
                let dfg = &mut fp.func.stencil.dfg;
                if matches!(dfg.values[p], ValueData::Unused) {
                    dfg.make_value_alias(p, original[&p].0);
                }
            }
        }
        // A type suffix must agree with the type-variable operand.
        for &(v, t, idx) in &fp.suffix_checks {
            let vt = fp.func.stencil.dfg.value_type(v);
            if !vt.is_invalid() && vt != t {
                return Err(self.err_at(
                    idx,
                    format!("the type of {v} ({vt}) as the type suffix"),
                    format!("'{t}'"),
                ));
            }
        }
        // Every used value must be defined somewhere.
        let mut undefined: Vec<(usize, Value)> = fp
            .first_use
            .iter()
            .filter(|(v, _)| !fp.defined.get(v.index()).copied().unwrap_or(false))
            .map(|(v, idx)| (*idx, *v))
            .collect();
        undefined.sort();
        if let Some(&(idx, v)) = undefined.first() {
            return Err(self.err_at(idx, "a defined value", format!("'{v}' (never defined)")));
        }
        let mut blocks: Vec<(usize, Block)> = fp
            .block_refs
            .iter()
            .filter(|(b, _)| !fp.func.stencil.layout.is_block_inserted(**b))
            .map(|(b, idx)| (*idx, *b))
            .collect();
        blocks.sort();
        if let Some(&(idx, b)) = blocks.first() {
            return Err(self.err_at(idx, "a defined block", format!("'{b}' (never defined)")));
        }
        Ok(())
    }
}

/// Per-function parse state.
pub(crate) struct FuncParser {
    func: Function,
    /// `defined[v]`: the value has a definition in the text.
    defined: Vec<bool>,
    /// First use (token index) of each value used before its definition.
    first_use: HashMap<Value, usize>,
    /// First reference (token index) of each block.
    block_refs: HashMap<Block, usize>,
    aliases: Vec<(Value, Value, usize)>,
    in_preamble: bool,
    /// Constant data to handle, for sharing equal literals.
    constant_index: HashMap<ConstantData, Constant>,
    constants_indexed: usize,
    /// Preamble references to check at its end: kind, number, token, what.
    pending_refs: Vec<(&'static str, u32, usize, &'static str)>,
    /// (type-variable operand, suffix type, suffix token) to check.
    suffix_checks: Vec<(Value, Type, usize)>,
    declared: Declared,
    locs: FunctionLocations,
}

/// Which preamble entities the text declared.
#[derive(Default)]
struct Declared {
    sets: HashMap<&'static str, Vec<bool>>,
}

impl Declared {
    fn key(kind: &str) -> &'static str {
        match kind {
            "ss" => "ss",
            "dss" => "dss",
            "dt" => "dt",
            "gv" => "gv",
            "sig" => "sig",
            "fn" => "fn",
            "const" => "const",
            _ => "region",
        }
    }
    /// Marks `kind n` declared; false if it already was.
    fn mark(&mut self, kind: &str, n: u32) -> bool {
        let set = self.sets.entry(Self::key(kind)).or_default();
        let i = n as usize;
        if set.len() <= i {
            set.resize(i + 1, false);
        }
        !std::mem::replace(&mut set[i], true)
    }
    fn first_gap(&self) -> Option<(&'static str, usize)> {
        let mut gaps: Vec<(&'static str, usize)> = self
            .sets
            .iter()
            .filter(|(k, _)| matches!(**k, "fn" | "sig" | "const"))
            .filter_map(|(k, set)| set.iter().position(|d| !d).map(|i| (*k, i)))
            .collect();
        gaps.sort();
        gaps.first().copied()
    }
    fn has(&self, kind: &str, n: u32) -> bool {
        self.sets
            .get(Self::key(kind))
            .and_then(|s| s.get(n as usize).copied())
            .unwrap_or(false)
    }
}

/// Grows a primary map with placeholders so that entity `n` exists.
fn fill<K: EntityRef, V>(map: &mut PrimaryMap<K, V>, n: u32, make: impl Fn() -> V) {
    while map.len() <= n as usize {
        map.push(make());
    }
}

fn fill_blocks(dfg: &mut DataFlowGraph, n: u32) {
    while dfg.num_blocks() <= n as usize {
        dfg.make_block();
    }
}
