//! Generates a 2,000-rule lowering program and times its compilation.
//!
//! Run with `cargo bench -p kiln-isle --bench compile_2000` (release mode).

use std::fmt::Write;
use std::time::{Duration, Instant};

const OPCODES: usize = 40;
const RULES_PER_OPCODE: usize = 50;

/// 40 opcodes x 50 rules: per opcode, 47 rules on distinct immediates spread
/// over three priorities, one nested-extractor rule, one `if-let` rule and a
/// generic fallback (2,000 rules for `lower`, plus 2 helper rules).
fn generate() -> String {
    let mut s = String::new();
    s.push_str(
        "(type u64 (primitive u64))\n(type u8 (primitive u8))\n(type Value (primitive Value))\n\
         (type Reg (primitive Reg))\n(type Inst (primitive Inst))\n(type Output extern)\n",
    );
    s.push_str("(type Opcode extern (enum");
    for k in 0..OPCODES {
        write!(s, " Op{}", k).unwrap();
    }
    s.push_str("))\n");
    s.push_str(
        "(type InstData extern (enum (Binary (op Opcode) (a Value) (b Value)) (Unary (op Opcode) (a Value)) (Const (imm u64))))\n\
         (decl inst_data (InstData) Inst)\n(extern extractor infallible inst_data inst_data)\n\
         (decl def_inst (Inst) Value)\n(extern extractor def_inst def_inst)\n\
         (decl binary (Opcode Value Value) Inst)\n(extractor (binary op a b) (inst_data (InstData.Binary op a b)))\n\
         (decl iconst (u64) Inst)\n(extractor (iconst c) (inst_data (InstData.Const c)))\n\
         (decl const_value (u64) Value)\n(extractor (const_value c) (def_inst (iconst c)))\n\
         (decl put_in_reg (Value) Reg)\n(extern constructor put_in_reg put_in_reg)\n\
         (decl output (Reg) Output)\n(extern constructor output output)\n(convert Reg Output output)\n\
         (decl alu_rr (Opcode Reg Reg) Reg)\n(extern constructor alu_rr alu_rr)\n\
         (decl alu_ri (Opcode Reg u64) Reg)\n(extern constructor alu_ri alu_ri)\n\
         (decl partial imm8 (u64) u8)\n(extern constructor imm8 imm8)\n\
         (decl alu_r8 (Opcode Reg u8) Reg)\n(extern constructor alu_r8 alu_r8)\n\
         (decl emit_rr (Opcode Value Value) Reg)\n\
         (rule (emit_rr op a b) (alu_rr op (put_in_reg a) (put_in_reg b)))\n\
         (decl partial lower (Inst) Output)\n",
    );
    for k in 0..OPCODES {
        let op = format!("Opcode.Op{}", k);
        for j in 0..RULES_PER_OPCODE - 3 {
            let prio = j % 3 + 1;
            writeln!(
                s,
                "(rule {} (lower (binary ({}) x (const_value {}))) (alu_ri ({}) (put_in_reg x) {}))",
                prio,
                op,
                j * 7 + k,
                op,
                j * 7 + k
            )
            .unwrap();
        }
        writeln!(
            s,
            "(rule 5 (lower (binary ({}) x (def_inst (binary ({}) y (const_value 1))))) (alu_rr ({}) (put_in_reg x) (put_in_reg y)))",
            op, op, op
        )
        .unwrap();
        writeln!(
            s,
            "(rule 0 (lower (binary ({}) x (const_value c))) (if-let i (imm8 c)) (alu_r8 ({}) (put_in_reg x) i))",
            op, op
        )
        .unwrap();
        writeln!(
            s,
            "(rule -1 (lower (binary ({}) x y)) (emit_rr ({}) x y))",
            op, op
        )
        .unwrap();
    }
    s
}

/// Worst case for the pairwise overlap check: 2,000 rules of one priority
/// on one term, disjoint only by an integer constant.
fn generate_flat() -> String {
    let mut s = String::from("(type u64 (primitive u64))\n(decl f (u64 u64) u64)\n");
    for i in 0..2000 {
        writeln!(s, "(rule (f x {}) x)", i).unwrap();
    }
    s
}

fn main() {
    measure("compile_2000", &generate());
    measure("compile_2000_flat", &generate_flat());
}

fn measure(label: &str, src: &str) {
    let rules = src.matches("(rule ").count();
    let mut times: Vec<Duration> = Vec::new();
    let mut out_len = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = isle::compile_str(&[("bench.isle", src)]).unwrap_or_else(|e| panic!("{}", e));
        times.push(t.elapsed());
        out_len = out.len();
    }
    times.sort();
    println!(
        "{}: {} rules, {} bytes of rules -> {} bytes of Rust; min {:.1} ms, median {:.1} ms, max {:.1} ms (5 runs)",
        label,
        rules,
        src.len(),
        out_len,
        times[0].as_secs_f64() * 1e3,
        times[2].as_secs_f64() * 1e3,
        times[4].as_secs_f64() * 1e3
    );
}
