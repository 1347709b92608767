//! The abstract syntax tree produced by the parser.

use super::error::Pos;

/// A name with the position where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub pos: Pos,
}

/// One top-level form.
#[derive(Clone, Debug)]
pub enum Def {
    Type(TypeDef),
    Decl(Decl),
    Extern(Extern),
    Rule(Rule),
    Convert(Convert),
    Extractor(ExtractorDef),
}

/// `(extractor (Term param...) pattern)`: an internal extractor, expanded
/// like a macro wherever `(Term pat...)` appears in a pattern.
#[derive(Clone, Debug)]
pub struct ExtractorDef {
    pub term: Ident,
    pub params: Vec<Ident>,
    pub body: Pattern,
    pub pos: Pos,
}

/// `(type Name [extern] body)`.
#[derive(Clone, Debug)]
pub struct TypeDef {
    pub name: Ident,
    pub is_extern: bool,
    pub body: TypeBody,
    pub pos: Pos,
}

/// The body of a type declaration.
#[derive(Clone, Debug)]
pub enum TypeBody {
    /// `(primitive RustType)`: a `Copy` Rust type, referenced by name.
    Primitive(Ident),
    /// `(enum (Variant (field Type)...)...)`.
    Enum(Vec<VariantDef>),
    /// Bare `(type Name extern)`: an opaque `Clone` Rust type named `Name`.
    Opaque,
}

/// One enum variant.
#[derive(Clone, Debug)]
pub struct VariantDef {
    pub name: Ident,
    pub fields: Vec<(Ident, Ident)>,
}

/// `(decl [partial] [pure] Term (ArgTy...) RetTy)`.
#[derive(Clone, Debug)]
pub struct Decl {
    pub name: Ident,
    pub args: Vec<Ident>,
    pub ret: Ident,
    pub partial: bool,
    pub pure_: bool,
    pub pos: Pos,
}

/// What an `extern` form binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternKind {
    /// `(extern const $NAME Type)`: `term` holds `$NAME` and `func` the type.
    Const,
    Constructor,
    Extractor {
        infallible: bool,
    },
}

/// `(extern constructor Term rust_fn)` or `(extern extractor [infallible] Term rust_fn)`.
#[derive(Clone, Debug)]
pub struct Extern {
    pub kind: ExternKind,
    pub term: Ident,
    pub func: Ident,
    pub pos: Pos,
}

/// `(convert From To term)`.
#[derive(Clone, Debug)]
pub struct Convert {
    pub from: Ident,
    pub to: Ident,
    pub term: Ident,
    pub pos: Pos,
}

/// `(rule [name] [prio] LHS clause... RHS)`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: Option<Ident>,
    pub prio: i64,
    pub lhs: Pattern,
    pub clauses: Vec<Clause>,
    pub rhs: Expr,
    pub pos: Pos,
}

/// A guard between the left- and right-hand side.
#[derive(Clone, Debug)]
pub enum Clause {
    /// `(if-let pat expr)`.
    IfLet(Pattern, Expr, Pos),
    /// `(if expr)`.
    If(Expr, Pos),
}

/// A left-hand-side pattern.
#[derive(Clone, Debug)]
pub enum Pattern {
    Wild(Pos),
    /// A variable, `true`/`false`, or a nullary enum variant `Type.Variant`.
    Sym(Ident),
    Int(i128, Pos),
    /// `x @ pat`.
    Bind(Ident, Box<Pattern>),
    /// `(and pat...)`.
    And(Vec<Pattern>, Pos),
    /// `(Term pat...)`: an enum variant or an extractor.
    Term(Ident, Vec<Pattern>, Pos),
}

impl Pattern {
    pub fn pos(&self) -> Pos {
        match self {
            Pattern::Wild(p) | Pattern::Int(_, p) | Pattern::And(_, p) | Pattern::Term(_, _, p) => {
                *p
            }
            Pattern::Sym(i) | Pattern::Bind(i, _) => i.pos,
        }
    }
}

/// A right-hand-side (or `if-let`) expression.
#[derive(Clone, Debug)]
pub enum Expr {
    Int(i128, Pos),
    /// A variable, `true`/`false`, or a nullary enum variant.
    Sym(Ident),
    /// `(Term expr...)`: a constructor call.
    Term(Ident, Vec<Expr>, Pos),
    /// `(let ((x [Ty] expr)...) body)`.
    Let(Vec<LetBind>, Box<Expr>, Pos),
}

impl Expr {
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Int(_, p) | Expr::Term(_, _, p) | Expr::Let(_, _, p) => *p,
            Expr::Sym(i) => i.pos,
        }
    }
}

/// One binding of a `let`.
#[derive(Clone, Debug)]
pub struct LetBind {
    pub var: Ident,
    pub ty: Option<Ident>,
    pub val: Expr,
}
