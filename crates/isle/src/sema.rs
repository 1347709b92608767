//! Semantic analysis: name resolution and type checking, and lowering of
//! each rule into a flat list of [`Step`]s over hash-consed [`Binding`]s.

use std::collections::{HashMap, HashSet};

use super::ast::{self, Clause, Def, Expr, Pattern, TypeBody};

use super::error::{Error, Pos};

pub type TypeId = usize;
pub type TermId = usize;
/// Index of a value (binding) inside one term's [`TermBody`].
pub type BindId = usize;

/// A declared type.
#[derive(Clone, Debug)]
pub struct Type {
    pub name: String,
    /// The Rust spelling used in generated code.
    pub rust: String,
    pub kind: TypeKind,
    /// `extern`: the Rust type already exists and is not generated.
    pub is_extern: bool,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub enum TypeKind {
    /// `Copy` Rust type.
    Primitive,
    /// `Clone` Rust type without structure.
    Opaque,
    Enum(Vec<Variant>),
}

#[derive(Clone, Debug)]
pub struct Variant {
    pub name: String,
    pub fields: Vec<(String, TypeId)>,
    /// The term `Type.Variant` that constructs / matches it.
    pub term: TermId,
}

/// A Rust function bound by `extern`.
#[derive(Clone, Debug)]
pub struct ExtFn {
    pub name: String,
    pub fallible: bool,
    pub pos: Pos,
}

/// A declared term (or an enum variant, which is a term too).
#[derive(Clone, Debug)]
pub struct Term {
    pub name: String,
    pub args: Vec<TypeId>,
    pub ret: TypeId,
    pub partial: bool,
    pub pure_: bool,
    pub pos: Pos,
    /// `Some((enum type, variant index))` for enum variants.
    pub variant: Option<(TypeId, usize)>,
    pub ctor: Option<ExtFn>,
    pub extractor: Option<ExtFn>,
    /// Defined by rules (an internal constructor).
    pub has_rules: bool,
    /// An internal extractor: parameter names and the pattern they expand to.
    pub macro_: Option<(Vec<String>, Pattern)>,
}

impl Term {
    /// Whether calling this term as a constructor can fail.
    pub fn ctor_fallible(&self) -> bool {
        self.variant.is_none() && self.partial
    }
    fn has_ctor(&self) -> bool {
        self.variant.is_some() || self.ctor.is_some() || self.has_rules
    }
}

/// A value available while matching or building. Hash-consed per term, so
/// equal keys in different rules denote the same value (this is what lets
/// the decision tree share tests and the overlap checker compare rules).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Binding {
    /// The n-th argument of the term.
    Arg(usize),
    /// An integer constant (of the binding's type).
    Const(i128),
    /// An extern constant `$NAME` (index into `Program::consts`).
    ExtConst(usize),
    /// A field of an enum value, valid once the variant is known.
    Field {
        src: BindId,
        variant: usize,
        field: usize,
    },
    /// The n-th result of an extractor applied to `src`.
    ExtractOut {
        src: BindId,
        term: TermId,
        idx: usize,
    },
    /// A constructor call. `unique` is set for right-hand-side calls (they may
    /// have side effects, so they are never shared); guard calls are shared.
    Call {
        term: TermId,
        args: Vec<BindId>,
        unique: Option<(usize, usize)>,
    },
}

/// One matching or building operation of a rule, in execution order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// `src` is this enum variant (binds its `Field`s).
    Variant { src: BindId, variant: usize },
    /// `src` equals this integer.
    Int { src: BindId, value: i128 },
    /// `src` equals this extern constant (distinct constants are assumed to
    /// have distinct values).
    ConstEq { src: BindId, konst: usize },
    /// Run an extractor on `src` (binds its `ExtractOut`s; may fail).
    Extract { src: BindId, term: TermId },
    /// Evaluate a `Call` binding (fails if the callee is partial and fails).
    Eval(BindId),
    /// Two values are equal (a repeated variable).
    Eq(BindId, BindId),
    /// Return this value: the rule fires.
    Rhs(BindId),
}

/// A rule after lowering.
#[derive(Clone, Debug)]
pub struct RuleIr {
    pub pos: Pos,
    pub prio: i64,
    pub name: Option<String>,
    pub steps: Vec<Step>,
}

/// The bindings and rules of one internal term.
#[derive(Clone, Debug, Default)]
pub struct TermBody {
    pub binds: Vec<Binding>,
    pub bind_types: Vec<TypeId>,
    /// Interning table. Keyed by type too: constants are bindings of their
    /// bits alone, and `false: bool` must not share `0: u8`'s binding.
    pub(crate) map: HashMap<(Binding, TypeId), BindId>,
    pub rules: Vec<RuleIr>,
}

impl TermBody {
    fn intern(&mut self, b: Binding, ty: TypeId) -> BindId {
        if let Some(&id) = self.map.get(&(b.clone(), ty)) {
            return id;
        }
        let id = self.binds.len();
        self.binds.push(b.clone());
        self.bind_types.push(ty);
        self.map.insert((b, ty), id);
        id
    }
}

/// The checked program.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub types: Vec<Type>,
    pub terms: Vec<Term>,
    /// Indexed by term; `Some` for terms defined by rules.
    pub bodies: Vec<Option<TermBody>>,
    /// Extern constants: (Rust name without `$`, type, declaration).
    pub consts: Vec<(String, TypeId, Pos)>,
    const_names: HashMap<String, usize>,
    type_names: HashMap<String, TypeId>,
    term_names: HashMap<String, TermId>,
    converts: HashMap<(TypeId, TypeId), TermId>,
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Whether `s` can be used verbatim as a Rust identifier in generated code.
pub fn is_rust_ident(s: &str) -> bool {
    let mut cs = s.chars();
    let ok_first = cs
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    ok_first
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
        && !RUST_KEYWORDS.contains(&s)
}

/// Inclusive range of an integer Rust type, or `None` if integer literals do
/// not apply to it.
pub fn int_range(rust: &str) -> Option<(i128, i128)> {
    Some(match rust {
        "bool" => (0, 1),
        "u8" => (0, u8::MAX as i128),
        "u16" => (0, u16::MAX as i128),
        "u32" => (0, u32::MAX as i128),
        "u64" | "usize" => (0, u64::MAX as i128),
        "u128" => (0, i128::MAX),
        "i8" => (i8::MIN as i128, i8::MAX as i128),
        "i16" => (i16::MIN as i128, i16::MAX as i128),
        "i32" => (i32::MIN as i128, i32::MAX as i128),
        "i64" | "isize" => (i64::MIN as i128, i64::MAX as i128),
        "i128" => (i128::MIN, i128::MAX),
        _ => return None,
    })
}

type R<T> = Result<T, Error>;

/// Largest number of steps in one rule (bounds recursion in later stages).
const MAX_STEPS: usize = 1000;

impl Program {
    fn ty_name(&self, t: TypeId) -> &str {
        &self.types[t].name
    }

    fn lookup_type(&self, id: &ast::Ident) -> R<TypeId> {
        self.type_names
            .get(&id.name)
            .copied()
            .ok_or_else(|| Error::new(id.pos, format!("unknown type `{}`", id.name)))
    }

    fn lookup_term(&self, id: &ast::Ident) -> R<TermId> {
        self.term_names
            .get(&id.name)
            .copied()
            .ok_or_else(|| Error::new(id.pos, format!("unknown term `{}`", id.name)))
    }

    fn add_term(&mut self, t: Term, errors: &mut Vec<Error>) -> Option<TermId> {
        if let Some(&old) = self.term_names.get(&t.name) {
            errors.push(
                Error::new(t.pos, format!("term `{}` is declared twice", t.name))
                    .with_note(self.terms[old].pos, "first declared here"),
            );
            return None;
        }
        let id = self.terms.len();
        self.term_names.insert(t.name.clone(), id);
        self.terms.push(t);
        Some(id)
    }
}

/// Checks all definitions and lowers the rules. Errors are collected; the
/// program is returned only when there are none.
pub fn check(defs: &[Def], errors: &mut Vec<Error>) -> Program {
    let mut p = Program::default();
    let start_errors = errors.len();

    // Pass 1: type names.
    for d in defs {
        if let Def::Type(td) = d {
            if let Some(&old) = p.type_names.get(&td.name.name) {
                errors.push(
                    Error::new(
                        td.name.pos,
                        format!("type `{}` is declared twice", td.name.name),
                    )
                    .with_note(p.types[old].pos, "first declared here"),
                );
                continue;
            }
            let (rust, kind) = match &td.body {
                TypeBody::Primitive(r) => (r.name.clone(), TypeKind::Primitive),
                TypeBody::Opaque => (td.name.name.clone(), TypeKind::Opaque),
                TypeBody::Enum(_) => (td.name.name.clone(), TypeKind::Enum(Vec::new())),
            };
            if !matches!(td.body, TypeBody::Primitive(_)) && !is_rust_ident(&td.name.name) {
                errors.push(Error::new(
                    td.name.pos,
                    format!(
                        "type name `{}` is not a valid Rust identifier",
                        td.name.name
                    ),
                ));
                continue;
            }
            if rust == "Context"
                || rust == "C"
                || rust == "Option"
                || rust == "Some"
                || rust == "None"
            {
                errors.push(Error::new(
                    td.name.pos,
                    format!("type name `{}` is reserved in generated code", rust),
                ));
                continue;
            }
            if matches!(td.body, TypeBody::Primitive(_)) && td.is_extern {
                errors.push(Error::new(
                    td.name.pos,
                    "`extern` does not apply to primitive types (they always exist in Rust)",
                ));
            }
            p.type_names.insert(td.name.name.clone(), p.types.len());
            p.types.push(Type {
                name: td.name.name.clone(),
                rust,
                kind,
                is_extern: td.is_extern,
                pos: td.name.pos,
            });
        }
    }
    // Pass 2: enum bodies (each variant is a term `Type.Variant`).
    for d in defs {
        let Def::Type(td) = d else { continue };
        let TypeBody::Enum(vdefs) = &td.body else {
            continue;
        };
        let Some(&tid) = p.type_names.get(&td.name.name) else {
            continue;
        };
        if p.types[tid].pos != td.name.pos {
            continue; // a duplicate, already reported
        }
        let mut variants: Vec<Variant> = Vec::new();
        for vd in vdefs {
            if !is_rust_ident(&vd.name.name) {
                errors.push(Error::new(
                    vd.name.pos,
                    format!(
                        "variant name `{}` is not a valid Rust identifier",
                        vd.name.name
                    ),
                ));
                continue;
            }
            if variants.iter().any(|v| v.name == vd.name.name) {
                errors.push(Error::new(
                    vd.name.pos,
                    format!("variant `{}` is declared twice", vd.name.name),
                ));
                continue;
            }
            let mut fields = Vec::new();
            let mut ok = true;
            for (fname, fty) in &vd.fields {
                if !is_rust_ident(&fname.name) {
                    errors.push(Error::new(
                        fname.pos,
                        format!("field name `{}` is not a valid Rust identifier", fname.name),
                    ));
                    ok = false;
                } else if fields.iter().any(|(n, _)| n == &fname.name) {
                    errors.push(Error::new(
                        fname.pos,
                        format!("field `{}` is declared twice", fname.name),
                    ));
                    ok = false;
                }
                match p.lookup_type(fty) {
                    Ok(t) => fields.push((fname.name.clone(), t)),
                    Err(e) => {
                        errors.push(e);
                        ok = false;
                    }
                }
            }
            if !ok {
                continue;
            }
            let term = Term {
                name: format!("{}.{}", td.name.name, vd.name.name),
                args: fields.iter().map(|f| f.1).collect(),
                ret: tid,
                partial: false,
                pure_: true,
                pos: vd.name.pos,
                variant: Some((tid, variants.len())),
                ctor: None,
                extractor: None,
                has_rules: false,
                macro_: None,
            };
            if let Some(term) = p.add_term(term, errors) {
                variants.push(Variant {
                    name: vd.name.name.clone(),
                    fields,
                    term,
                });
            }
        }
        p.types[tid].kind = TypeKind::Enum(variants);
    }
    // Pass 3: term declarations.
    for d in defs {
        let Def::Decl(dd) = d else { continue };
        if !is_rust_ident(&dd.name.name) {
            errors.push(Error::new(
                dd.name.pos,
                format!(
                    "term name `{}` is not a valid Rust identifier",
                    dd.name.name
                ),
            ));
            continue;
        }
        let mut args = Vec::new();
        let mut ok = true;
        for a in dd.args.iter().chain(std::iter::once(&dd.ret)) {
            match p.lookup_type(a) {
                Ok(t) => args.push(t),
                Err(e) => {
                    errors.push(e);
                    ok = false;
                }
            }
        }
        if !ok {
            continue;
        }
        let ret = args.pop().unwrap_or_default();
        p.add_term(
            Term {
                name: dd.name.name.clone(),
                args,
                ret,
                partial: dd.partial,
                pure_: dd.pure_,
                pos: dd.name.pos,
                variant: None,
                ctor: None,
                extractor: None,
                has_rules: false,
                macro_: None,
            },
            errors,
        );
    }
    // Pass 4: externs.
    let mut methods: HashMap<String, Pos> = HashMap::new();
    for d in defs {
        let Def::Extern(ed) = d else { continue };
        if ed.kind == ast::ExternKind::Const {
            let name = &ed.term.name;
            let rust = name.strip_prefix('$').unwrap_or("");
            if !is_rust_ident(rust) {
                errors.push(Error::new(
                    ed.term.pos,
                    format!(
                        "extern constant `{}` must be `$` followed by a Rust identifier",
                        name
                    ),
                ));
                continue;
            }
            let ty = match p.lookup_type(&ed.func) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if let Some(&old) = p.const_names.get(name) {
                errors.push(
                    Error::new(
                        ed.term.pos,
                        format!("constant `{}` is declared twice", name),
                    )
                    .with_note(p.consts[old].2, "first declared here"),
                );
                continue;
            }
            p.const_names.insert(name.clone(), p.consts.len());
            p.consts.push((rust.to_string(), ty, ed.term.pos));
            continue;
        }
        let tid = match p.lookup_term(&ed.term) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if p.terms[tid].variant.is_some() {
            errors.push(Error::new(
                ed.term.pos,
                "enum variants cannot be bound to Rust functions",
            ));
            continue;
        }
        if !is_rust_ident(&ed.func.name) {
            errors.push(Error::new(
                ed.func.pos,
                format!("`{}` is not a valid Rust function name", ed.func.name),
            ));
            continue;
        }
        if let Some(old) = methods.get(&ed.func.name) {
            errors.push(
                Error::new(
                    ed.func.pos,
                    format!("Rust function `{}` is bound twice", ed.func.name),
                )
                .with_note(*old, "first bound here"),
            );
            continue;
        }
        methods.insert(ed.func.name.clone(), ed.func.pos);
        let term = &mut p.terms[tid];
        let (slot, fallible, what) = match ed.kind {
            ast::ExternKind::Constructor => (&mut term.ctor, term.partial, "constructor"),
            ast::ExternKind::Extractor { infallible } => {
                (&mut term.extractor, !infallible, "extractor")
            }
            ast::ExternKind::Const => continue,
        };
        if let Some(old) = slot {
            errors.push(
                Error::new(
                    ed.pos,
                    format!("term `{}` already has an extern {}", ed.term.name, what),
                )
                .with_note(old.pos, "first bound here"),
            );
            continue;
        }
        *slot = Some(ExtFn {
            name: ed.func.name.clone(),
            fallible,
            pos: ed.pos,
        });
    }
    // Pass 4b: internal extractors.
    for d in defs {
        let Def::Extractor(xd) = d else { continue };
        let tid = match p.lookup_term(&xd.term) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let t = &mut p.terms[tid];
        if t.variant.is_some() || t.extractor.is_some() || t.macro_.is_some() {
            errors.push(Error::new(
                xd.term.pos,
                format!("term `{}` already has an extractor", xd.term.name),
            ));
            continue;
        }
        if xd.params.len() != t.args.len() {
            errors.push(Error::new(
                xd.term.pos,
                format!(
                    "term `{}` takes {} argument(s) but the extractor has {} parameter(s)",
                    xd.term.name,
                    t.args.len(),
                    xd.params.len()
                ),
            ));
            continue;
        }
        t.macro_ = Some((
            xd.params.iter().map(|p| p.name.clone()).collect(),
            xd.body.clone(),
        ));
    }
    // Pass 5: which terms are defined by rules.
    for d in defs {
        let Def::Rule(r) = d else { continue };
        let Pattern::Term(name, _, _) = &r.lhs else {
            continue;
        };
        let Some(&tid) = p.term_names.get(&name.name) else {
            continue;
        };
        let t = &mut p.terms[tid];
        if t.variant.is_some() {
            continue; // reported when lowering the rule
        }
        if let Some(c) = &t.ctor {
            errors.push(
                Error::new(
                    name.pos,
                    format!(
                        "term `{}` has an extern constructor and cannot also be defined by rules",
                        name.name
                    ),
                )
                .with_note(c.pos, "extern constructor bound here"),
            );
            continue;
        }
        t.has_rules = true;
    }
    // Pass 6: conversions.
    for d in defs {
        let Def::Convert(cd) = d else { continue };
        let r = (|| -> R<()> {
            let from = p.lookup_type(&cd.from)?;
            let to = p.lookup_type(&cd.to)?;
            let term = p.lookup_term(&cd.term)?;
            let t = &p.terms[term];
            if t.args != [from] || t.ret != to || !t.has_ctor() {
                return Err(Error::new(
                    cd.term.pos,
                    format!(
                        "conversion term `{}` must be a constructor of type ({}) -> {}",
                        cd.term.name, cd.from.name, cd.to.name
                    ),
                ));
            }
            if p.converts.insert((from, to), term).is_some() {
                return Err(Error::new(
                    cd.pos,
                    format!(
                        "duplicate conversion from `{}` to `{}`",
                        cd.from.name, cd.to.name
                    ),
                ));
            }
            Ok(())
        })();
        if let Err(e) = r {
            errors.push(e);
        }
    }
    // Pass 7: rules.
    p.bodies = vec![None; p.terms.len()];
    for (tid, t) in p.terms.iter().enumerate() {
        if t.has_rules {
            let mut body = TermBody::default();
            for (i, &ty) in t.args.iter().enumerate() {
                body.intern(Binding::Arg(i), ty);
            }
            p.bodies[tid] = Some(body);
        }
    }
    for d in defs {
        let Def::Rule(r) = d else { continue };
        if let Err(e) = lower_rule(&mut p, r) {
            errors.push(e);
        }
    }
    if errors.len() > start_errors {
        return Program::default();
    }
    p
}

fn lower_rule(p: &mut Program, r: &ast::Rule) -> R<()> {
    let Pattern::Term(name, args, _) = &r.lhs else {
        return Err(Error::new(
            r.lhs.pos(),
            "the left-hand side of a rule must be a term",
        ));
    };
    let tid = p.lookup_term(name)?;
    let term = &p.terms[tid];
    if term.variant.is_some() {
        return Err(Error::new(
            name.pos,
            format!(
                "`{}` is an enum variant; rules can only define declared terms",
                name.name
            ),
        ));
    }
    let Some(mut body) = p.bodies[tid].take() else {
        return Err(Error::new(
            name.pos,
            format!("term `{}` cannot be defined by rules", name.name),
        ));
    };
    if args.len() != term.args.len() {
        let e = Error::new(
            name.pos,
            format!(
                "term `{}` takes {} argument(s) but the rule has {}",
                name.name,
                term.args.len(),
                args.len()
            ),
        );
        p.bodies[tid] = Some(body);
        return Err(e);
    }
    let rule_idx = body.rules.len();
    let res = {
        let mut cx = RuleCx {
            p: &*p,
            body: &mut body,
            steps: Vec::new(),
            vars: Vec::new(),
            done: HashSet::new(),
            rule_idx,
            counter: 0,
            expansions: 0,
            total_expansions: 0,
            pat_depth: 0,
        };
        cx.lower(tid, args, r)
    };
    match res {
        Ok(steps) => body.rules.push(RuleIr {
            pos: r.pos,
            prio: r.prio,
            name: r.name.as_ref().map(|n| n.name.clone()),
            steps,
        }),
        Err(e) => {
            p.bodies[tid] = Some(body);
            return Err(e);
        }
    }
    p.bodies[tid] = Some(body);
    Ok(())
}

struct RuleCx<'a> {
    p: &'a Program,
    body: &'a mut TermBody,
    steps: Vec<Step>,
    vars: Vec<(String, BindId, TypeId)>,
    done: HashSet<Step>,
    rule_idx: usize,
    counter: usize,
    expansions: usize,
    total_expansions: usize,
    pat_depth: usize,
}

/// Most internal-extractor expansions in one rule.
const MAX_TOTAL_EXPANSIONS: usize = 10_000;

/// Deepest nesting of internal-extractor expansions.
const MAX_EXPANSIONS: usize = 150;

/// Deepest pattern nesting after extractor expansion.
const MAX_PAT_DEPTH: usize = 400;

/// Replaces the parameters of an internal extractor by the argument patterns.
fn subst(p: &Pattern, params: &[String], args: &[Pattern]) -> Pattern {
    let find = |name: &str| {
        params
            .iter()
            .position(|q| q == name)
            .and_then(|i| args.get(i))
    };
    match p {
        Pattern::Sym(id) => find(&id.name).cloned().unwrap_or_else(|| p.clone()),
        Pattern::Bind(id, sub) => {
            let sub = subst(sub, params, args);
            match find(&id.name) {
                Some(a) => Pattern::And(vec![a.clone(), sub], id.pos),
                None => Pattern::Bind(id.clone(), Box::new(sub)),
            }
        }
        Pattern::And(ps, pos) => {
            Pattern::And(ps.iter().map(|q| subst(q, params, args)).collect(), *pos)
        }
        Pattern::Term(n, ps, pos) => Pattern::Term(
            n.clone(),
            ps.iter().map(|q| subst(q, params, args)).collect(),
            *pos,
        ),
        Pattern::Wild(_) | Pattern::Int(..) => p.clone(),
    }
}

impl RuleCx<'_> {
    fn lower(&mut self, tid: TermId, args: &[Pattern], r: &ast::Rule) -> R<Vec<Step>> {
        let arg_tys = self.p.terms[tid].args.clone();
        for (i, (a, ty)) in args.iter().zip(arg_tys).enumerate() {
            self.pat(a, i, ty)?;
        }
        for c in &r.clauses {
            match c {
                Clause::IfLet(pat, e, _) => {
                    let (b, ty) = self.expr(e, None, false)?;
                    self.pat(pat, b, ty)?;
                }
                Clause::If(e, pos) => {
                    let (b, ty) = self.expr(e, None, false)?;
                    if self.p.types[ty].rust == "bool" {
                        self.push(Step::Int { src: b, value: 1 });
                    } else if !self.is_fallible(b) {
                        return Err(Error::new(
                            *pos,
                            "`if` needs a `bool` expression or a call of a partial term (use `if-let` to bind its value)",
                        ));
                    }
                }
            }
        }
        let ret = self.p.terms[tid].ret;
        let (b, _) = self.expr(&r.rhs, Some(ret), true)?;
        self.steps.push(Step::Rhs(b));
        if self.steps.len() > MAX_STEPS {
            return Err(Error::new(
                r.pos,
                format!("rule is too large (more than {} matching steps)", MAX_STEPS),
            ));
        }
        Ok(std::mem::take(&mut self.steps))
    }

    fn is_fallible(&self, b: BindId) -> bool {
        match &self.body.binds[b] {
            Binding::Call { term, .. } => self.p.terms[*term].ctor_fallible(),
            _ => false,
        }
    }

    fn push(&mut self, s: Step) {
        if self.done.insert(s.clone()) {
            self.steps.push(s);
        }
    }

    fn lookup_var(&self, name: &str) -> Option<(BindId, TypeId)> {
        self.vars
            .iter()
            .rev()
            .find(|v| v.0 == name)
            .map(|v| (v.1, v.2))
    }

    fn int_const(&self, v: i128, ty: TypeId, pos: Pos) -> R<()> {
        let t = &self.p.types[ty];
        match int_range(&t.rust) {
            None => Err(Error::new(
                pos,
                format!(
                    "integer literal used where type `{}` (not an integer type) is expected",
                    t.name
                ),
            )),
            Some((lo, hi)) if v < lo || v > hi => Err(Error::new(
                pos,
                format!(
                    "integer literal {} is out of range for type `{}`",
                    v, t.name
                ),
            )),
            _ => Ok(()),
        }
    }

    fn variant_of(&self, name: &ast::Ident, ty: TypeId) -> R<(TermId, usize)> {
        let tid = self.p.lookup_term(name)?;
        match self.p.terms[tid].variant {
            Some((ety, idx)) if ety == ty => Ok((tid, idx)),
            Some((ety, _)) => Err(Error::new(
                name.pos,
                format!(
                    "variant `{}` has type `{}` but `{}` is expected here",
                    name.name,
                    self.p.ty_name(ety),
                    self.p.ty_name(ty)
                ),
            )),
            None => Err(Error::new(
                name.pos,
                format!("`{}` is not an enum variant", name.name),
            )),
        }
    }

    fn pat(&mut self, pat: &Pattern, src: BindId, ty: TypeId) -> R<()> {
        if self.pat_depth >= MAX_PAT_DEPTH {
            return Err(Error::new(
                pat.pos(),
                format!("pattern nested deeper than {}", MAX_PAT_DEPTH),
            ));
        }
        self.pat_depth += 1;
        let r = self.pat_inner(pat, src, ty);
        self.pat_depth -= 1;
        r
    }

    fn pat_inner(&mut self, pat: &Pattern, src: BindId, ty: TypeId) -> R<()> {
        match pat {
            Pattern::Wild(_) => Ok(()),
            Pattern::Int(v, pos) => {
                self.int_const(*v, ty, *pos)?;
                self.push(Step::Int { src, value: *v });
                Ok(())
            }
            Pattern::Sym(id) if id.name == "true" || id.name == "false" => {
                let v = (id.name == "true") as i128;
                if self.p.types[ty].rust != "bool" {
                    return Err(Error::new(
                        id.pos,
                        format!(
                            "`{}` used where type `{}` is expected",
                            id.name,
                            self.p.ty_name(ty)
                        ),
                    ));
                }
                self.push(Step::Int { src, value: v });
                Ok(())
            }
            Pattern::Sym(id) if id.name.starts_with('$') => {
                let k = self.konst(id, ty)?;
                self.push(Step::ConstEq { src, konst: k });
                Ok(())
            }
            Pattern::Sym(id) if id.name.contains('.') => {
                let (tid, idx) = self.variant_of(id, ty)?;
                if !self.p.terms[tid].args.is_empty() {
                    return Err(Error::new(
                        id.pos,
                        format!(
                            "variant `{}` has fields; write `({} ...)`",
                            id.name, id.name
                        ),
                    ));
                }
                self.push(Step::Variant { src, variant: idx });
                Ok(())
            }
            Pattern::Sym(id) => self.bind_var(id, src, ty),
            Pattern::Bind(id, sub) => {
                self.bind_var(id, src, ty)?;
                self.pat(sub, src, ty)
            }
            Pattern::And(subs, _) => {
                for s in subs {
                    self.pat(s, src, ty)?;
                }
                Ok(())
            }
            Pattern::Term(name, args, _) => {
                let tid = self.p.lookup_term(name)?;
                let t = &self.p.terms[tid];
                if let Some((_, idx)) = t.variant {
                    self.variant_of(name, ty)?;
                    self.arity(name, t.args.len(), args.len())?;
                    self.push(Step::Variant { src, variant: idx });
                    let field_tys = t.args.clone();
                    for (i, (a, fty)) in args.iter().zip(field_tys).enumerate() {
                        let b = self.body.intern(
                            Binding::Field {
                                src,
                                variant: idx,
                                field: i,
                            },
                            fty,
                        );
                        self.pat(a, b, fty)?;
                    }
                    return Ok(());
                }
                if let Some((params, mbody)) = &t.macro_ {
                    if t.ret != ty {
                        return Err(Error::new(
                            name.pos,
                            format!(
                                "extractor `{}` matches type `{}` but `{}` is expected here",
                                name.name,
                                self.p.ty_name(t.ret),
                                self.p.ty_name(ty)
                            ),
                        ));
                    }
                    self.arity(name, params.len(), args.len())?;
                    self.total_expansions += 1;
                    if self.expansions >= MAX_EXPANSIONS
                        || self.total_expansions > MAX_TOTAL_EXPANSIONS
                    {
                        return Err(Error::new(
                            name.pos,
                            "internal extractors expand too deeply (recursive extractor?)",
                        ));
                    }
                    let expanded = subst(mbody, params, args);
                    self.expansions += 1;
                    let r = self.pat(&expanded, src, ty);
                    self.expansions -= 1;
                    return r;
                }
                if t.extractor.is_none() {
                    return Err(Error::new(
                        name.pos,
                        format!(
                            "term `{}` has no extractor, so it cannot be used in a pattern",
                            name.name
                        ),
                    ));
                }
                if t.ret != ty {
                    return Err(Error::new(
                        name.pos,
                        format!(
                            "extractor `{}` matches type `{}` but `{}` is expected here",
                            name.name,
                            self.p.ty_name(t.ret),
                            self.p.ty_name(ty)
                        ),
                    ));
                }
                self.arity(name, t.args.len(), args.len())?;
                self.push(Step::Extract { src, term: tid });
                let out_tys = t.args.clone();
                for (i, (a, oty)) in args.iter().zip(out_tys).enumerate() {
                    let b = self.body.intern(
                        Binding::ExtractOut {
                            src,
                            term: tid,
                            idx: i,
                        },
                        oty,
                    );
                    self.pat(a, b, oty)?;
                }
                Ok(())
            }
        }
    }

    fn konst(&self, id: &ast::Ident, ty: TypeId) -> R<usize> {
        let Some(&k) = self.p.const_names.get(&id.name) else {
            return Err(Error::new(
                id.pos,
                format!("unknown constant `{}`", id.name),
            ));
        };
        let kty = self.p.consts[k].1;
        if kty != ty {
            return Err(Error::new(
                id.pos,
                format!(
                    "constant `{}` has type `{}` but `{}` is expected here",
                    id.name,
                    self.p.ty_name(kty),
                    self.p.ty_name(ty)
                ),
            ));
        }
        Ok(k)
    }

    fn arity(&self, name: &ast::Ident, want: usize, got: usize) -> R<()> {
        if want != got {
            return Err(Error::new(
                name.pos,
                format!(
                    "term `{}` takes {} argument(s) but {} were given",
                    name.name, want, got
                ),
            ));
        }
        Ok(())
    }

    fn bind_var(&mut self, id: &ast::Ident, src: BindId, ty: TypeId) -> R<()> {
        if id.name == "_" {
            return Ok(());
        }
        match self.lookup_var(&id.name) {
            Some((b, vty)) => {
                if vty != ty {
                    return Err(Error::new(
                        id.pos,
                        format!(
                            "variable `{}` has type `{}` but is used again where `{}` is expected",
                            id.name,
                            self.p.ty_name(vty),
                            self.p.ty_name(ty)
                        ),
                    ));
                }
                if b != src {
                    let (a, b) = (b.min(src), b.max(src));
                    self.push(Step::Eq(a, b));
                }
            }
            None => self.vars.push((id.name.clone(), src, ty)),
        }
        Ok(())
    }

    /// Lowers an expression, returning its binding and type. `unique` marks
    /// right-hand-side calls, which are never shared.
    fn expr(&mut self, e: &Expr, expected: Option<TypeId>, unique: bool) -> R<(BindId, TypeId)> {
        let (b, ty) = match e {
            Expr::Int(v, pos) => {
                let Some(ty) = expected else {
                    return Err(Error::new(
                        *pos,
                        "cannot infer the type of this integer literal",
                    ));
                };
                self.int_const(*v, ty, *pos)?;
                (self.body.intern(Binding::Const(*v), ty), ty)
            }
            Expr::Sym(id) if id.name == "true" || id.name == "false" => {
                let ty = match expected {
                    Some(t) if self.p.types[t].rust == "bool" => t,
                    _ => {
                        return Err(Error::new(
                            id.pos,
                            format!("`{}` used where a `bool` type is not expected", id.name),
                        ))
                    }
                };
                (
                    self.body
                        .intern(Binding::Const((id.name == "true") as i128), ty),
                    ty,
                )
            }
            Expr::Sym(id) if id.name.starts_with('$') => {
                let k = self.p.const_names.get(&id.name).copied();
                let Some(k) = k else {
                    return Err(Error::new(
                        id.pos,
                        format!("unknown constant `{}`", id.name),
                    ));
                };
                let ty = self.p.consts[k].1;
                (self.body.intern(Binding::ExtConst(k), ty), ty)
            }
            Expr::Sym(id) if id.name.contains('.') => {
                let tid = self.p.lookup_term(id)?;
                self.call(tid, id, &[], unique)?
            }
            Expr::Sym(id) => match self.lookup_var(&id.name) {
                Some(v) => v,
                None => {
                    let hint = if self.p.term_names.contains_key(&id.name) {
                        format!("; to call the term write `({})`", id.name)
                    } else {
                        String::new()
                    };
                    return Err(Error::new(
                        id.pos,
                        format!("unknown variable `{}`{}", id.name, hint),
                    ));
                }
            },
            Expr::Term(name, args, _) => {
                let tid = self.p.lookup_term(name)?;
                self.call(tid, name, args, unique)?
            }
            Expr::Let(binds, body, _) => {
                let depth = self.vars.len();
                for lb in binds {
                    let want = match &lb.ty {
                        Some(t) => Some(self.p.lookup_type(t)?),
                        None => None,
                    };
                    let (b, ty) = self.expr(&lb.val, want, unique)?;
                    self.vars.push((lb.var.name.clone(), b, ty));
                }
                let r = self.expr(body, expected, unique);
                self.vars.truncate(depth);
                return r;
            }
        };
        match expected {
            Some(want) if want != ty => {
                if let Some(&conv) = self.p.converts.get(&(ty, want)) {
                    let b = self.emit_call(conv, vec![b], unique);
                    Ok((b, want))
                } else {
                    Err(Error::new(
                        e.pos(),
                        format!(
                            "type mismatch: expected `{}`, found `{}`",
                            self.p.ty_name(want),
                            self.p.ty_name(ty)
                        ),
                    ))
                }
            }
            _ => Ok((b, ty)),
        }
    }

    fn call(
        &mut self,
        tid: TermId,
        name: &ast::Ident,
        args: &[Expr],
        unique: bool,
    ) -> R<(BindId, TypeId)> {
        let t = &self.p.terms[tid];
        if !t.has_ctor() {
            return Err(Error::new(
                name.pos,
                format!(
                    "term `{}` has no constructor (no rules and no `extern constructor`)",
                    name.name
                ),
            ));
        }
        self.arity(name, t.args.len(), args.len())?;
        let (arg_tys, ret) = (t.args.clone(), t.ret);
        let mut bs = Vec::new();
        for (a, aty) in args.iter().zip(arg_tys) {
            bs.push(self.expr(a, Some(aty), unique)?.0);
        }
        Ok((self.emit_call(tid, bs, unique), ret))
    }

    fn emit_call(&mut self, term: TermId, args: Vec<BindId>, unique: bool) -> BindId {
        let unique = if unique && self.p.terms[term].variant.is_none() {
            self.counter += 1;
            Some((self.rule_idx, self.counter))
        } else {
            None
        };
        let ty = self.p.terms[term].ret;
        let b = self.body.intern(Binding::Call { term, args, unique }, ty);
        self.push(Step::Eval(b));
        b
    }
}
