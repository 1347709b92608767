//! Parser: tokens -> s-expressions -> [`Def`]s.

use super::ast::*;
use super::error::{Error, Pos};
use super::lexer::{Tok, Token};

/// Deepest list nesting accepted (keeps recursion bounded on hostile input).
const MAX_DEPTH: usize = 200;

#[derive(Clone, Debug)]
enum SExpr {
    List(Vec<SExpr>, Pos),
    Atom(Tok, Pos),
}

impl SExpr {
    fn pos(&self) -> Pos {
        match self {
            SExpr::List(_, p) | SExpr::Atom(_, p) => *p,
        }
    }
    fn sym(&self) -> Option<&str> {
        match self {
            SExpr::Atom(Tok::Sym(s), _) => Some(s),
            _ => None,
        }
    }
}

fn read_sexprs(toks: &[Token], errors: &mut Vec<Error>) -> Vec<SExpr> {
    // Iterative reader: a stack of open lists.
    let mut stack: Vec<(Vec<SExpr>, Pos)> = Vec::new();
    let mut top: Vec<SExpr> = Vec::new();
    for t in toks {
        match &t.tok {
            Tok::LParen => {
                if stack.len() >= MAX_DEPTH {
                    errors.push(Error::new(
                        t.pos,
                        format!("lists nested deeper than {}", MAX_DEPTH),
                    ));
                    return Vec::new();
                }
                stack.push((Vec::new(), t.pos));
            }
            Tok::RParen => match stack.pop() {
                Some((items, pos)) => {
                    let list = SExpr::List(items, pos);
                    match stack.last_mut() {
                        Some((parent, _)) => parent.push(list),
                        None => top.push(list),
                    }
                }
                None => {
                    errors.push(Error::new(t.pos, "unmatched `)`"));
                    return Vec::new();
                }
            },
            tok => {
                let atom = SExpr::Atom(tok.clone(), t.pos);
                match stack.last_mut() {
                    Some((parent, _)) => parent.push(atom),
                    None => top.push(atom),
                }
            }
        }
    }
    if let Some((_, pos)) = stack.first() {
        errors.push(Error::new(
            *pos,
            "unclosed `(`: missing `)` before end of file",
        ));
        return Vec::new();
    }
    top
}

/// Parses a whole file's tokens into definitions, collecting errors.
pub fn parse(toks: &[Token], errors: &mut Vec<Error>) -> Vec<Def> {
    let sexprs = read_sexprs(toks, errors);
    let mut defs = Vec::new();
    for s in &sexprs {
        match parse_def(s) {
            Ok(d) => defs.push(d),
            Err(e) => errors.push(e),
        }
    }
    defs
}

type R<T> = Result<T, Error>;

fn ident(s: &SExpr, what: &str) -> R<Ident> {
    match s {
        SExpr::Atom(Tok::Sym(name), pos) => Ok(Ident {
            name: name.clone(),
            pos: *pos,
        }),
        other => Err(Error::new(other.pos(), format!("expected {}", what))),
    }
}

fn list<'a>(s: &'a SExpr, what: &str) -> R<&'a [SExpr]> {
    match s {
        SExpr::List(items, _) => Ok(items),
        other => Err(Error::new(other.pos(), format!("expected {}", what))),
    }
}

fn parse_def(s: &SExpr) -> R<Def> {
    let SExpr::List(items, pos) = s else {
        return Err(Error::new(
            s.pos(),
            "expected a top-level form `(type|decl|extern|rule|convert ...)`",
        ));
    };
    let pos = *pos;
    let Some(head) = items.first() else {
        return Err(Error::new(pos, "empty top-level form"));
    };
    let rest = &items[1..];
    match head.sym() {
        Some("type") => parse_type(rest, pos).map(Def::Type),
        Some("decl") => parse_decl(rest, pos).map(Def::Decl),
        Some("extern") => parse_extern(rest, pos).map(Def::Extern),
        Some("rule") => parse_rule(rest, pos).map(Def::Rule),
        Some("convert") => parse_convert(rest, pos).map(Def::Convert),
        Some("extractor") => parse_extractor(rest, pos).map(Def::Extractor),
        _ => Err(Error::new(
            head.pos(),
            "unknown top-level form: expected `type`, `decl`, `extern`, `extractor`, `rule` or `convert`",
        )),
    }
}

fn end_pos(pos: Pos, items: &[SExpr]) -> Pos {
    items.last().map(|s| s.pos()).unwrap_or(pos)
}

fn parse_type(items: &[SExpr], pos: Pos) -> R<TypeDef> {
    let name = ident(
        items
            .first()
            .ok_or_else(|| Error::new(pos, "`type` needs a name"))?,
        "a type name",
    )?;
    let mut i = 1;
    let mut is_extern = false;
    if items.get(i).and_then(|s| s.sym()) == Some("extern") {
        is_extern = true;
        i += 1;
    }
    let body = match items.get(i) {
        None if is_extern => TypeBody::Opaque,
        None => {
            return Err(Error::new(
                name.pos,
                "`type` needs a body: `(primitive RustType)` or `(enum ...)`",
            ))
        }
        Some(b) => {
            let parts = list(b, "`(primitive RustType)` or `(enum ...)`")?;
            match parts.first().and_then(|s| s.sym()) {
                Some("primitive") => {
                    if parts.len() != 2 {
                        return Err(Error::new(b.pos(), "expected `(primitive RustType)`"));
                    }
                    TypeBody::Primitive(ident(&parts[1], "a Rust type name")?)
                }
                Some("enum") => {
                    let mut variants = Vec::new();
                    for v in &parts[1..] {
                        variants.push(parse_variant(v)?);
                    }
                    TypeBody::Enum(variants)
                }
                _ => {
                    return Err(Error::new(
                        b.pos(),
                        "expected `(primitive RustType)` or `(enum ...)`",
                    ))
                }
            }
        }
    };
    if items.len() > i + 1 {
        return Err(Error::new(
            items[i + 1].pos(),
            "unexpected extra item in `type`",
        ));
    }
    Ok(TypeDef {
        name,
        is_extern,
        body,
        pos,
    })
}

fn parse_variant(s: &SExpr) -> R<VariantDef> {
    match s {
        SExpr::Atom(..) => Ok(VariantDef {
            name: ident(s, "a variant name")?,
            fields: Vec::new(),
        }),
        SExpr::List(parts, pos) => {
            let name = ident(
                parts
                    .first()
                    .ok_or_else(|| Error::new(*pos, "empty variant"))?,
                "a variant name",
            )?;
            let mut fields = Vec::new();
            for f in &parts[1..] {
                let fp = list(f, "a field `(name Type)`")?;
                if fp.len() != 2 {
                    return Err(Error::new(f.pos(), "expected a field `(name Type)`"));
                }
                fields.push((
                    ident(&fp[0], "a field name")?,
                    ident(&fp[1], "a field type")?,
                ));
            }
            Ok(VariantDef { name, fields })
        }
    }
}

fn parse_decl(items: &[SExpr], pos: Pos) -> R<Decl> {
    let mut i = 0;
    let (mut partial, mut pure_) = (false, false);
    loop {
        match items.get(i).and_then(|s| s.sym()) {
            Some("partial") => partial = true,
            Some("pure") => pure_ = true,
            _ => break,
        }
        i += 1;
    }
    if items.len() != i + 3 {
        return Err(Error::new(
            end_pos(pos, items),
            "expected `(decl [partial] [pure] Term (ArgType...) RetType)`",
        ));
    }
    let name = ident(&items[i], "a term name")?;
    let mut args = Vec::new();
    for a in list(&items[i + 1], "a list of argument types")? {
        args.push(ident(a, "an argument type")?);
    }
    let ret = ident(&items[i + 2], "a result type")?;
    Ok(Decl {
        name,
        args,
        ret,
        partial,
        pure_,
        pos,
    })
}

fn parse_extern(items: &[SExpr], pos: Pos) -> R<Extern> {
    let kind_s = items
        .first()
        .ok_or_else(|| Error::new(pos, "expected `constructor` or `extractor` after `extern`"))?;
    let mut i = 1;
    let kind = match kind_s.sym() {
        Some("constructor") => ExternKind::Constructor,
        Some("const") => ExternKind::Const,
        Some("extractor") => {
            let infallible = items.get(1).and_then(|s| s.sym()) == Some("infallible");
            if infallible {
                i += 1;
            }
            ExternKind::Extractor { infallible }
        }
        _ => {
            return Err(Error::new(
                kind_s.pos(),
                "expected `constructor`, `extractor` or `const` after `extern`",
            ))
        }
    };
    if items.len() != i + 2 {
        return Err(Error::new(
            end_pos(pos, items),
            "expected `(extern constructor|extractor [infallible] Term rust_fn)` or `(extern const $NAME Type)`",
        ));
    }
    Ok(Extern {
        kind,
        term: ident(&items[i], "a term name")?,
        func: ident(&items[i + 1], "a Rust function name")?,
        pos,
    })
}

fn parse_convert(items: &[SExpr], pos: Pos) -> R<Convert> {
    if items.len() != 3 {
        return Err(Error::new(
            end_pos(pos, items),
            "expected `(convert FromType ToType term)`",
        ));
    }
    Ok(Convert {
        from: ident(&items[0], "a type name")?,
        to: ident(&items[1], "a type name")?,
        term: ident(&items[2], "a term name")?,
        pos,
    })
}

fn parse_extractor(items: &[SExpr], pos: Pos) -> R<ExtractorDef> {
    if items.len() != 2 {
        return Err(Error::new(
            end_pos(pos, items),
            "expected `(extractor (Term param...) pattern)`",
        ));
    }
    let head = list(&items[0], "`(Term param...)`")?;
    let Some(first) = head.first() else {
        return Err(Error::new(items[0].pos(), "expected `(Term param...)`"));
    };
    let term = ident(first, "a term name")?;
    let mut params = Vec::new();
    for p in &head[1..] {
        params.push(ident(p, "a parameter name")?);
    }
    Ok(ExtractorDef {
        term,
        params,
        body: parse_pattern(&items[1])?,
        pos,
    })
}

fn parse_rule(items: &[SExpr], pos: Pos) -> R<Rule> {
    let mut i = 0;
    let mut name = None;
    if let Some(SExpr::Atom(Tok::Sym(_), _)) = items.first() {
        name = Some(ident(&items[0], "a rule name")?);
        i += 1;
    }
    let mut prio = 0;
    if let Some(SExpr::Atom(Tok::Int(p), ppos)) = items.get(i) {
        prio = i64::try_from(*p).map_err(|_| Error::new(*ppos, "rule priority out of range"))?;
        i += 1;
    }
    if items.len() < i + 2 {
        return Err(Error::new(
            end_pos(pos, items),
            "a rule needs a left-hand side and a right-hand side",
        ));
    }
    let lhs = parse_pattern(&items[i])?;
    if !matches!(lhs, Pattern::Term(..)) {
        return Err(Error::new(
            items[i].pos(),
            "the left-hand side of a rule must be a term `(Term pat...)`",
        ));
    }
    let mut clauses = Vec::new();
    for c in &items[i + 1..items.len() - 1] {
        let parts = list(c, "an `(if-let pat expr)` or `(if expr)` clause")?;
        match parts.first().and_then(|s| s.sym()) {
            Some("if-let") if parts.len() == 3 => clauses.push(Clause::IfLet(
                parse_pattern(&parts[1])?,
                parse_expr(&parts[2])?,
                c.pos(),
            )),
            Some("if") if parts.len() == 2 => {
                clauses.push(Clause::If(parse_expr(&parts[1])?, c.pos()))
            }
            _ => return Err(Error::new(
                c.pos(),
                "expected `(if-let pat expr)` or `(if expr)` between the left- and right-hand side",
            )),
        }
    }
    let rhs = parse_expr(&items[items.len() - 1])?;
    Ok(Rule {
        name,
        prio,
        lhs,
        clauses,
        rhs,
        pos,
    })
}

/// Parses a sequence of patterns, combining `x @ pat` triples.
fn parse_patterns(items: &[SExpr]) -> R<Vec<Pattern>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        if let Some(SExpr::Atom(Tok::At, _)) = items.get(i + 1) {
            let var = ident(&items[i], "a variable name before `@`")?;
            let Some(sub) = items.get(i + 2) else {
                return Err(Error::new(
                    items[i + 1].pos(),
                    "expected a pattern after `@`",
                ));
            };
            out.push(Pattern::Bind(var, Box::new(parse_pattern(sub)?)));
            i += 3;
        } else {
            out.push(parse_pattern(&items[i])?);
            i += 1;
        }
    }
    Ok(out)
}

fn parse_pattern(s: &SExpr) -> R<Pattern> {
    match s {
        SExpr::Atom(Tok::Int(v), pos) => Ok(Pattern::Int(*v, *pos)),
        SExpr::Atom(Tok::Sym(name), pos) if name == "_" => Ok(Pattern::Wild(*pos)),
        SExpr::Atom(Tok::Sym(_), _) => Ok(Pattern::Sym(ident(s, "a name")?)),
        SExpr::Atom(_, pos) => Err(Error::new(*pos, "unexpected token in pattern")),
        SExpr::List(items, pos) => {
            let Some(head) = items.first() else {
                return Err(Error::new(*pos, "empty pattern `()`"));
            };
            let head = ident(head, "a term name at the start of a pattern")?;
            // Allow a parenthesised `(x @ pat)` as well.
            if let (Some(SExpr::Atom(Tok::At, _)), 3) = (items.get(1), items.len()) {
                return Ok(Pattern::Bind(head, Box::new(parse_pattern(&items[2])?)));
            }
            let args = parse_patterns(&items[1..])?;
            if head.name == "and" {
                Ok(Pattern::And(args, *pos))
            } else {
                Ok(Pattern::Term(head, args, *pos))
            }
        }
    }
}

fn parse_expr(s: &SExpr) -> R<Expr> {
    match s {
        SExpr::Atom(Tok::Int(v), pos) => Ok(Expr::Int(*v, *pos)),
        SExpr::Atom(Tok::Sym(_), _) => Ok(Expr::Sym(ident(s, "a name")?)),
        SExpr::Atom(_, pos) => Err(Error::new(*pos, "unexpected token in expression")),
        SExpr::List(items, pos) => {
            let Some(head) = items.first() else {
                return Err(Error::new(*pos, "empty expression `()`"));
            };
            let head = ident(head, "a term name at the start of an expression")?;
            if head.name == "let" {
                if items.len() != 3 {
                    return Err(Error::new(
                        *pos,
                        "expected `(let ((var [Type] expr)...) body)`",
                    ));
                }
                let mut binds = Vec::new();
                for b in list(&items[1], "a list of `(var [Type] expr)` bindings")? {
                    let parts = list(b, "a binding `(var [Type] expr)`")?;
                    let (var, ty, val) = match parts {
                        [v, e] => (ident(v, "a variable name")?, None, e),
                        [v, t, e] => (
                            ident(v, "a variable name")?,
                            Some(ident(t, "a type name")?),
                            e,
                        ),
                        _ => {
                            return Err(Error::new(
                                b.pos(),
                                "expected a binding `(var [Type] expr)`",
                            ))
                        }
                    };
                    binds.push(LetBind {
                        var,
                        ty,
                        val: parse_expr(val)?,
                    });
                }
                return Ok(Expr::Let(binds, Box::new(parse_expr(&items[2])?), *pos));
            }
            let mut args = Vec::new();
            for a in &items[1..] {
                args.push(parse_expr(a)?);
            }
            Ok(Expr::Term(head, args, *pos))
        }
    }
}
