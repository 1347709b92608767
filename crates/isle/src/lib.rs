//! `kiln-isle`: the compiler of Kiln's lowering-rule language.
//!
//! **Owns:** the rule language (documented in `isle-rules/README.md` and
//! `docs/rules.md`): lexing and parsing `.isle` files, type checking, the
//! overlap check between rules of equal priority, compiling each term's rules
//! into a decision tree, and emitting that tree as deterministic Rust source
//! (a `Context` trait for the embedder plus one `constructor_<term>` function
//! per rule-defined term). It is used from build scripts through
//! [`compile_files`] / [`compile_str`], and from the `islec` binary.
//!
//! **Must never:** panic on any input (malformed programs are [`Errors`]
//! with `file:line:col` positions), emit nondeterministic output (the same
//! input gives byte-identical Rust), depend on anything beyond `std`, use
//! `unsafe`, or know about any particular instruction set: the rules and the
//! embedder's `Context` implementation carry all target knowledge.
//!
//! Pipeline: [`lexer`] → [`parser`] (AST in [`ast`]) → [`sema`] (typed rules
//! as steps over hash-consed bindings) → [`trie`] (overlap check, decision
//! tree) → [`codegen`].
//!
//! Modules refer to each other with `super::` paths only, so that a build
//! script can include this crate's source with `#[path = "src/lib.rs"] mod
//! isle;` (the crate's own build script does this to compile its toy rules).

#![forbid(unsafe_code)]

pub mod ast;
pub mod codegen;
pub mod error;
pub mod lexer;
pub mod parser;
pub mod sema;
pub mod trie;

pub use error::{Error, Errors, Pos};

use std::path::Path;

/// Compiles the given files, concatenated in order into one program, to
/// Rust source. Errors name the file each problem is in.
pub fn compile_files(paths: &[impl AsRef<Path>]) -> Result<String, Errors> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let p = p.as_ref();
        let name = p.display().to_string();
        match std::fs::read_to_string(p) {
            Ok(s) => sources.push((name, s)),
            Err(e) => {
                errors.push(Error::new(
                    Pos {
                        file: i,
                        line: 0,
                        col: 0,
                    },
                    format!("cannot read file: {}", e),
                ));
                sources.push((name, String::new()));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Errors {
            errors,
            files: sources,
        });
    }
    compile_owned(sources)
}

/// Compiles in-memory sources given as `(file name, contents)` pairs,
/// concatenated in order into one program.
pub fn compile_str<N: AsRef<str>, S: AsRef<str>>(files: &[(N, S)]) -> Result<String, Errors> {
    compile_owned(
        files
            .iter()
            .map(|(n, s)| (n.as_ref().to_string(), s.as_ref().to_string()))
            .collect(),
    )
}

fn compile_owned(files: Vec<(String, String)>) -> Result<String, Errors> {
    let mut errors = Vec::new();
    let mut defs = Vec::new();
    for (i, (_, src)) in files.iter().enumerate() {
        match lexer::lex(i, src) {
            Ok(toks) => defs.extend(parser::parse(&toks, &mut errors)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(Errors { errors, files });
    }
    let prog = sema::check(&defs, &mut errors);
    if !errors.is_empty() {
        return Err(Errors { errors, files });
    }
    let mut trees = Vec::new();
    for (tid, body) in prog.bodies.iter().enumerate() {
        if let Some(body) = body {
            trie::check_overlaps(&prog, tid, body, &mut errors);
            let tree = trie::build(&prog, body);
            trie::check_reachable(body, &tree, &mut errors);
            trees.push((tid, tree));
        }
    }
    if !errors.is_empty() {
        return Err(Errors { errors, files });
    }
    let names: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    Ok(codegen::generate(&prog, &names, &trees))
}
