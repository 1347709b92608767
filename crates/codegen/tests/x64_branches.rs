//! Randomized check of the MachBuffer branch peepholes with real x64
//! branches: random control-flow graphs are emitted (with branch removal,
//! inversion and threading through empty blocks), then the machine code is
//! executed by a tiny interpreter and its trace of visited blocks is
//! compared with a walk of the original graph.

use kiln_codegen::isa::x64::regs::gpr;
use kiln_codegen::isa::x64::*;
use kiln_codegen::machinst::buffer::{MachBuffer, MachLabel};
use kiln_codegen::machinst::reg::Writable;
use smallvec::smallvec;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug)]
enum Term {
    Ret,
    Jmp(usize),
    Cond(CC, usize, usize),
}

#[derive(Clone, Debug)]
struct Block {
    /// Emits a marker `mov eax, id` first.
    marker: bool,
    term: Term,
}

/// Whether a conditional with condition code `cc` is taken, given the
/// trace so far. Inverting the condition inverts the answer.
fn taken(trace: &[u32], cc: u8) -> bool {
    let last = trace.last().copied().unwrap_or(99) as u64;
    let h = (trace.len() as u64 * 0x9e37_79b9 + last * 0x85eb_ca6b) >> 7;
    ((h ^ cc as u64) & 1) == 1
}

const MARKERS: usize = 24;
const STEPS: usize = 2000;

/// (trace, ended with ret)
fn walk_graph(blocks: &[Block]) -> (Vec<u32>, bool) {
    let mut trace = Vec::new();
    let mut b = 0;
    for _ in 0..STEPS {
        if blocks[b].marker {
            trace.push(b as u32);
            if trace.len() == MARKERS {
                return (trace, false);
            }
        }
        match blocks[b].term {
            Term::Ret => return (trace, true),
            Term::Jmp(t) => b = t,
            Term::Cond(cc, t, f) => b = if taken(&trace, cc.enc()) { t } else { f },
        }
    }
    (trace, false)
}

fn rel32(code: &[u8], at: usize) -> Option<i64> {
    Some(i32::from_le_bytes(code.get(at..at + 4)?.try_into().ok()?) as i64)
}

fn run_code(code: &[u8]) -> Result<(Vec<u32>, bool), String> {
    let mut trace = Vec::new();
    let mut pc = 0usize;
    for _ in 0..STEPS {
        let op = *code.get(pc).ok_or(format!("pc {pc:#x} out of code"))?;
        match op {
            0xb8 => {
                let id = rel32(code, pc + 1).ok_or("truncated mov")? as u32;
                pc += 5;
                if id == 1000 {
                    continue;
                }
                trace.push(id);
                if trace.len() == MARKERS {
                    return Ok((trace, false));
                }
            }
            0xc3 => return Ok((trace, true)),
            0xe9 => {
                let d = rel32(code, pc + 1).ok_or("truncated jmp")?;
                pc = (pc as i64 + 5 + d) as usize;
            }
            0xeb => {
                let d = *code.get(pc + 1).ok_or("truncated jmp8")? as i8 as i64;
                pc = (pc as i64 + 2 + d) as usize;
            }
            0x70..=0x7f => {
                let cc = op & 0xf;
                let d = *code.get(pc + 1).ok_or("truncated jcc8")? as i8 as i64;
                pc = if taken(&trace, cc) {
                    (pc as i64 + 2 + d) as usize
                } else {
                    pc + 2
                };
            }
            0x0f if code.get(pc + 1).is_some_and(|b| b & 0xf0 == 0x80) => {
                let cc = code[pc + 1] & 0xf;
                let d = rel32(code, pc + 2).ok_or("truncated jcc")?;
                pc = if taken(&trace, cc) {
                    (pc as i64 + 6 + d) as usize
                } else {
                    pc + 6
                };
            }
            _ => return Err(format!("unexpected byte {op:#x} at {pc:#x}")),
        }
    }
    Ok((trace, false))
}

fn consistent(a: &(Vec<u32>, bool), b: &(Vec<u32>, bool)) -> bool {
    if a.1 || b.1 {
        return a == b;
    }
    let n = a.0.len().min(b.0.len());
    a.0[..n] == b.0[..n]
}

#[test]
fn random_cfgs_keep_their_semantics() {
    run_random_cfgs(false, 0x1234_5678_9abc_def1);
}

#[test]
fn random_cfgs_keep_their_semantics_with_shrinking() {
    let seed = 0x0bad_cafe_f00d_1234;
    let long = run_random_cfgs(false, seed);
    let short = run_random_cfgs(true, seed);
    assert!(
        short > long + 10_000,
        "shrinking saved only {}",
        short - long
    );
}

/// Returns the number of bytes the buffer saved over naive emission.
fn run_random_cfgs(shrink: bool, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let mut total_saved = 0usize;
    for iter in 0..3000 {
        let n = 2 + rng.below(10) as usize;
        let blocks: Vec<Block> = (0..n)
            .map(|i| {
                let marker = i == 0 || rng.below(10) < 6;
                let term = match rng.below(10) {
                    0 | 1 => Term::Ret,
                    2..=5 => Term::Jmp(rng.below(n as u64) as usize),
                    _ => Term::Cond(
                        CC::ALL[rng.below(16) as usize],
                        rng.below(n as u64) as usize,
                        rng.below(n as u64) as usize,
                    ),
                };
                Block { marker, term }
            })
            .collect();
        let mut buf = MachBuffer::<X64LabelUse>::new();
        buf.set_branch_shrinking(shrink);
        buf.reserve_labels_for_blocks(n as u32);
        // Some filler in blocks so that both branch forms occur.
        let filler = rng.below(3) * 60;
        let l = |i: usize| MachLabel::from_block(i as u32);
        let mut naive = 0;
        for (i, b) in blocks.iter().enumerate() {
            buf.bind_label(l(i));
            if b.marker {
                MInst::imm(OperandSize::Size32, i as u64, Writable::from_reg(gpr(0)))
                    .emit(&mut buf);
                naive += 5;
                // Filler: markers of a nonexistent block 1000 are skipped by
                // the interpreter.
                for _ in 0..filler / 5 {
                    MInst::imm(OperandSize::Size32, 1000, Writable::from_reg(gpr(0)))
                        .emit(&mut buf);
                    naive += 5;
                }
            }
            match b.term {
                Term::Ret => {
                    MInst::Ret { rets: smallvec![] }.emit(&mut buf);
                    naive += 1;
                }
                Term::Jmp(t) => {
                    MInst::JmpKnown { dst: l(t) }.emit(&mut buf);
                    naive += 5;
                }
                Term::Cond(cc, t, f) => {
                    MInst::JmpCond {
                        cc,
                        taken: l(t),
                        not_taken: l(f),
                    }
                    .emit(&mut buf);
                    naive += 11;
                }
            }
        }
        let code = buf.finish().expect("finish").data;
        total_saved += naive - code.len();
        let want = walk_graph(&blocks);
        let got = run_code(&code).unwrap_or_else(|e| panic!("iter {iter}: {e}\n{blocks:?}"));
        assert!(
            consistent(&want, &got),
            "iter {iter}: graph {want:?} vs code {got:?}\n{blocks:?}\n{code:02x?}"
        );
    }
    // The peepholes must actually fire.
    assert!(total_saved > 10_000, "only {total_saved} bytes saved");
    total_saved
}
