//! Build script: generates the CLIF side of the lowering rules from the
//! opcode table (`kiln_ir::OPCODES`, the single source of truth) and
//! compiles the x64 rule files with the rule compiler into `OUT_DIR`.
//!
//! The generated `clif.isle` declares the `Opcode` enum (every opcode, in
//! table order) and one internal extractor per opcode, named like the CLIF
//! opcode, over the `InstData` mirror declared in `isle-rules/prelude.isle`
//! (`(iadd a b)`, `(icmp cc a b)`, `(load flags addr offset)`, ...). Opcodes
//! whose format has no `InstData` variant match `(InstData.Other op)` and
//! take no arguments, so the rules stay disjoint by opcode either way.

use kiln_ir::{InstructionFormat, Opcode, OPCODES};
use std::fmt::Write;

/// One field of a flattened `InstData` variant: its name, its type (the
/// same name in ISLE and Rust) and the Rust expression that reads it from
/// the bindings of the `InstructionData` pattern (`r` resolves aliases).
type Field = (&'static str, &'static str, &'static str);

/// A flattened format: the `InstData` variant (named like the
/// `InstructionData` format), the `InstructionData` fields the pattern binds
/// besides `opcode`, and the flattened fields.
struct Flat {
    variant: &'static str,
    binds: &'static [&'static str],
    fields: &'static [Field],
}

const V: &str = "Value";

/// The flattened shape of the instruction formats the rules match on: the
/// single description from which the ISLE `InstData` type, the Rust
/// `InstData` enum, `InstData::from_ir` and the per-opcode extractors are
/// all generated. Formats not listed here are seen as `(InstData.Other op)`.
fn format_fields(f: InstructionFormat) -> Option<Flat> {
    use InstructionFormat::*;
    let flat = |variant, binds, fields| {
        Some(Flat {
            variant,
            binds,
            fields,
        })
    };
    match f {
        NullAry => flat("NullAry", &[], &[]),
        Unary => flat("Unary", &["arg"], &[("arg", V, "r(arg)")]),
        UnaryImm => flat("UnaryImm", &["imm"], &[("imm", "Imm64", "imm")]),
        Binary => flat(
            "Binary",
            &["args"],
            &[("a", V, "r(args[0])"), ("b", V, "r(args[1])")],
        ),
        BinaryImm8 => flat(
            "BinaryImm8",
            &["arg", "imm"],
            &[("arg", V, "r(arg)"), ("imm", "u8", "imm.0")],
        ),
        Ternary => flat(
            "Ternary",
            &["args"],
            &[
                ("a", V, "r(args[0])"),
                ("b", V, "r(args[1])"),
                ("c", V, "r(args[2])"),
            ],
        ),
        IntCompare => flat(
            "IntCompare",
            &["cond", "args"],
            &[
                ("cc", "IntCC", "cond"),
                ("a", V, "r(args[0])"),
                ("b", V, "r(args[1])"),
            ],
        ),
        Jump => flat("Jump", &[], &[]),
        Brif => flat("Brif", &["arg"], &[("arg", V, "r(arg)")]),
        BranchTable => flat("BranchTable", &["arg"], &[("arg", V, "r(arg)")]),
        MultiAry => flat("MultiAry", &[], &[]),
        Call => flat("Call", &["func_ref"], &[("func", "FuncRef", "func_ref")]),
        CallIndirect => flat(
            "CallIndirect",
            &["sig_ref"],
            &[("sig", "SigRef", "sig_ref")],
        ),
        FuncAddr => flat(
            "FuncAddr",
            &["func_ref"],
            &[("func", "FuncRef", "func_ref")],
        ),
        StackLoad => flat(
            "StackLoad",
            &["stack_slot", "offset"],
            &[
                ("slot", "StackSlot", "stack_slot"),
                ("offset", "i32", "offset.0"),
            ],
        ),
        Load => flat(
            "Load",
            &["flags", "arg", "offset"],
            &[
                ("flags", "MemFlags", "flags"),
                ("addr", V, "r(arg)"),
                ("offset", "i32", "offset.0"),
            ],
        ),
        Store => flat(
            "Store",
            &["flags", "args", "offset"],
            &[
                ("flags", "MemFlags", "flags"),
                ("value", V, "r(args[0])"),
                ("addr", V, "r(args[1])"),
                ("offset", "i32", "offset.0"),
            ],
        ),
        UnaryGlobalValue => flat(
            "UnaryGlobalValue",
            &["global_value"],
            &[("gv", "GlobalValue", "global_value")],
        ),
        Trap => flat("Trap", &["code"], &[("code", "TrapCode", "code")]),
        CondTrap => flat(
            "CondTrap",
            &["arg", "code"],
            &[("arg", V, "r(arg)"), ("code", "TrapCode", "code")],
        ),
        FloatCompare => flat(
            "FloatCompare",
            &["cond", "args"],
            &[
                ("fcc", "FloatCC", "cond"),
                ("a", V, "r(args[0])"),
                ("b", V, "r(args[1])"),
            ],
        ),
        LoadNoOffset => flat(
            "LoadNoOffset",
            &["flags", "arg"],
            &[("flags", "MemFlags", "flags"), ("arg", V, "r(arg)")],
        ),
        StoreNoOffset => flat(
            "StoreNoOffset",
            &["flags", "args"],
            &[
                ("flags", "MemFlags", "flags"),
                ("value", V, "r(args[0])"),
                ("addr", V, "r(args[1])"),
            ],
        ),
        AtomicRmw => flat(
            "AtomicRmw",
            &["flags", "op", "args"],
            &[
                ("flags", "MemFlags", "flags"),
                ("rmw_op", "AtomicRmwOp", "op"),
                ("addr", V, "r(args[0])"),
                ("value", V, "r(args[1])"),
            ],
        ),
        AtomicCas => flat(
            "AtomicCas",
            &["flags", "args"],
            &[
                ("flags", "MemFlags", "flags"),
                ("addr", V, "r(args[0])"),
                ("expected", V, "r(args[1])"),
                ("value", V, "r(args[2])"),
            ],
        ),
        UnaryIeee32 => flat("UnaryIeee32", &["imm"], &[("bits32", "u32", "imm.0")]),
        UnaryIeee64 => flat("UnaryIeee64", &["imm"], &[("bits64", "u64", "imm.0")]),
        _ => None,
    }
}

/// Every flattened format once, in order of first use in the opcode table.
fn flat_formats() -> Vec<Flat> {
    let mut seen: Vec<&'static str> = Vec::new();
    let mut out = Vec::new();
    for info in OPCODES {
        if let Some(flat) = format_fields(info.format) {
            if !seen.contains(&flat.variant) {
                seen.push(flat.variant);
                out.push(flat);
            }
        }
    }
    out
}

/// The ISLE declaration of `InstData`.
fn generate_inst_data_isle(s: &mut String) {
    s.push_str(";; Instruction data, flattened so every field is a named primitive.\n");
    s.push_str("(type InstData extern (enum\n");
    for flat in flat_formats() {
        write!(s, "  ({} (opcode Opcode)", flat.variant).unwrap();
        for (name, ty, _) in flat.fields {
            write!(s, " ({name} {ty})").unwrap();
        }
        s.push_str(")\n");
    }
    s.push_str("  (Other (opcode Opcode))))\n\n");
}

/// The Rust `InstData` enum and `InstData::from_ir`.
fn generate_inst_data_rs() -> String {
    let mut s = String::new();
    s.push_str("// GENERATED by crates/codegen/build.rs from kiln_ir::OPCODES. Do not edit.\n\n");
    s.push_str("/// `InstructionData` flattened for the rules: every field is a named\n");
    s.push_str("/// primitive (the ISLE mirror is generated into `clif.isle`).\n");
    s.push_str("#[derive(Clone, Debug, PartialEq, Eq)]\npub enum InstData {\n");
    let flats = flat_formats();
    for flat in &flats {
        write!(s, "    {} {{ opcode: Opcode,", flat.variant).unwrap();
        for (name, ty, _) in flat.fields {
            write!(s, " {name}: {ty},").unwrap();
        }
        s.push_str(" },\n");
    }
    s.push_str("    Other { opcode: Opcode },\n}\n\n");
    s.push_str("impl InstData {\n");
    s.push_str("    /// Flattens `d`, resolving value aliases through `dfg`.\n");
    s.push_str("    #[inline]\n");
    s.push_str("    pub fn from_ir(d: &InstructionData, dfg: &DataFlowGraph) -> InstData {\n");
    s.push_str("        Self::from_ir_with(d, |v| dfg.resolve_aliases(v))\n");
    s.push_str("    }\n\n");
    s.push_str("    /// Flattens `d`, passing every value operand through `r` (the\n");
    s.push_str("    /// identity for a function known to have no aliases).\n");
    s.push_str("    #[inline]\n");
    s.push_str(
        "    pub fn from_ir_with(d: &InstructionData, r: impl Fn(Value) -> Value) -> InstData {\n",
    );
    s.push_str("        match *d {\n");
    for flat in &flats {
        let mut binds = vec!["opcode"];
        binds.extend(flat.binds);
        write!(
            s,
            "            InstructionData::{} {{ {}, .. }} => InstData::{} {{ opcode,",
            flat.variant,
            binds.join(", "),
            flat.variant
        )
        .unwrap();
        for (name, _, expr) in flat.fields {
            if name == expr {
                write!(s, " {name},").unwrap();
            } else {
                write!(s, " {name}: {expr},").unwrap();
            }
        }
        s.push_str(" },\n");
    }
    s.push_str("            ref other => InstData::Other { opcode: other.opcode() },\n");
    s.push_str("        }\n    }\n}\n");
    s
}

fn generate_clif_isle() -> String {
    let mut s = String::new();
    s.push_str(";; GENERATED by crates/codegen/build.rs from kiln_ir::OPCODES. Do not edit.\n\n");
    s.push_str("(type Opcode extern (enum");
    for op in Opcode::ALL {
        write!(s, " {op:?}").unwrap();
    }
    s.push_str("))\n\n");
    generate_inst_data_isle(&mut s);
    for (op, info) in Opcode::ALL.iter().zip(OPCODES) {
        // Rust keywords cannot be term names: `return` becomes `return_`.
        let keyword = matches!(
            info.name,
            "return" | "break" | "loop" | "move" | "type" | "match"
        );
        let name = if keyword {
            format!("{}_", info.name)
        } else {
            info.name.to_string()
        };
        match format_fields(info.format) {
            Some(flat) => {
                let tys: Vec<&str> = flat.fields.iter().map(|f| f.1).collect();
                writeln!(s, "(decl {name} ({}) Inst)", tys.join(" ")).unwrap();
                let args = flat
                    .fields
                    .iter()
                    .map(|f| f.0)
                    .collect::<Vec<_>>()
                    .join(" ");
                let sep = if flat.fields.is_empty() { "" } else { " " };
                let variant = flat.variant;
                writeln!(
                    s,
                    "(extractor ({name}{sep}{args}) (inst_data (InstData.{variant} (Opcode.{op:?}){sep}{args})))"
                )
                .unwrap();
            }
            None => {
                writeln!(s, "(decl {name} () Inst)").unwrap();
                writeln!(
                    s,
                    "(extractor ({name}) (inst_data (InstData.Other (Opcode.{op:?}))))"
                )
                .unwrap();
            }
        }
    }
    s
}

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo");
    let out_dir = std::path::Path::new(&out_dir);
    let clif = generate_clif_isle();
    // Kept for reading; the compiler gets it from memory under a stable name.
    std::fs::write(out_dir.join("clif.isle"), &clif).expect("write clif.isle");
    std::fs::write(out_dir.join("inst_data.rs"), generate_inst_data_rs())
        .expect("write inst_data.rs");
    println!("cargo:rerun-if-changed=build.rs");

    // Every folder of isle-rules/ is an ISA: its `*.isle` files, with the
    // generated CLIF terms and the prelude, become `isle_<isa>.rs`. Except
    // `opts/`: the mid-end's rules, compiled by `crates/midend/build.rs`.
    let rules = std::path::Path::new("../../isle-rules");
    let prelude = rules.join("prelude.isle");
    println!("cargo:rerun-if-changed={}", rules.display());
    println!("cargo:rerun-if-changed={}", prelude.display());
    let prelude_text = read(&prelude);
    let mut isas: Vec<std::path::PathBuf> = std::fs::read_dir(rules)
        .expect("read isle-rules/")
        .map(|e| e.expect("read isle-rules/ entry").path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "opts"))
        .collect();
    isas.sort();
    for dir in isas {
        let isa = dir.file_name().unwrap().to_string_lossy().into_owned();
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("read rule folder entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "isle"))
            .collect();
        files.sort();
        let mut sources: Vec<(String, String)> = vec![
            ("<generated>/clif.isle".to_string(), clif.clone()),
            ("isle-rules/prelude.isle".to_string(), prelude_text.clone()),
        ];
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let name = format!(
                "isle-rules/{isa}/{}",
                f.file_name().unwrap().to_string_lossy()
            );
            sources.push((name, read(&f)));
        }
        match isle::compile_str(&sources) {
            Ok(code) => std::fs::write(out_dir.join(format!("isle_{isa}.rs")), code)
                .unwrap_or_else(|e| panic!("writing isle_{isa}.rs: {e}")),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
}

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}
