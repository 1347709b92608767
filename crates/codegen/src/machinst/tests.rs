//! Behavioural tests of VCode + regalloc2 + the emission driver, over a toy
//! instruction set with eight integer registers:
//!
//! - `r0..r3`: allocatable, caller-saved (clobbered by `Call`), `r0..` carry
//!   arguments and return values;
//! - `r4, r5`: allocatable, callee-saved (the frame layout must report them);
//! - `r6`: not allocatable, a "stack pointer" read through
//!   `fixed_nonallocatable`;
//! - `r7`: regalloc2's dedicated scratch register.
//!
//! Each test builds VCode by hand (or randomly) and compiles it through the
//! one pipeline every target uses (`compile::compile_lowered`: regalloc2
//! with its checker, the frame layout, prologue and epilogues, emission into
//! a `MachBuffer`) with [`ToyBackend`], which records the emitted stream;
//! an interpreter runs both the virtual-register VCode and that stream
//! (prologue and epilogue included): they must agree.

use super::abi::{FrameLayout, FrameRequest, FrameShape};
use super::buffer::{CodeOffset, LabelUse, MachBuffer, MachLabel};
use super::compile::{self, Backend, Context, Lowered};
use super::inst::{MachInst, MachTerminator, OperandVisitor, OperandVisitorExt};
use super::reg::{Reg, Writable};
use super::regalloc::{self, RegallocConfig, RegallocContext};
use super::vcode::{
    AllocatedStream, BlockIndex, EmitInfo, EmitSink, InsnIndex, VCode, VCodeBuilder,
};
use crate::result::{CodegenError, CodegenResult};
use kiln_ir::{FunctionStencil, RelSourceLoc};
use regalloc2::{
    Algorithm, Allocation, Edit, Function, MachineEnv, Output, PReg, PRegSet, ProgPoint, RegClass,
    SpillSlot,
};
use std::cell::RefCell;

fn r(n: usize) -> PReg {
    PReg::new(n, RegClass::Int)
}

fn f(n: usize) -> PReg {
    PReg::new(n, RegClass::Float)
}

const SP: usize = 6;
const SP_VALUE: i64 = 1000;

#[derive(Clone, Debug)]
enum ToyInst {
    /// Function arguments, defined in `r0, r1, ...`.
    Args {
        dsts: Vec<Writable<Reg>>,
    },
    Imm {
        dst: Writable<Reg>,
        imm: i64,
    },
    /// Two-address: `dst` must be allocated like `a`.
    Add {
        dst: Writable<Reg>,
        a: Reg,
        b: Reg,
    },
    Sub {
        dst: Writable<Reg>,
        a: Reg,
        b: Reg,
    },
    /// Writes `dst` early, so it may not share a register with `a` or `b`.
    Mul {
        dst: Writable<Reg>,
        a: Reg,
        b: Reg,
    },
    Copy {
        dst: Writable<Reg>,
        src: Reg,
    },
    /// `dst = sp` where `sp` is the non-allocatable `r6`.
    ReadSp {
        dst: Writable<Reg>,
        sp: Reg,
    },
    /// Arguments in `r0..`, result in `r0`, clobbers `r1..r3`.
    Call {
        args: Vec<Reg>,
        ret: Writable<Reg>,
        func: i64,
    },
    Spill {
        slot: SpillSlot,
        src: PReg,
    },
    Reload {
        dst: PReg,
        slot: SpillSlot,
    },
    Jump {
        target: BlockIndex,
    },
    /// Goes to `taken` if `cond != 0`.
    CondBr {
        cond: Reg,
        taken: BlockIndex,
        not_taken: BlockIndex,
    },
    /// Returns `srcs` in `r0..`.
    Ret {
        srcs: Vec<Reg>,
    },
    /// Float-class instructions (values are still i64 bit patterns); a float
    /// value takes two spill slots.
    FImm {
        dst: Writable<Reg>,
        imm: i64,
    },
    FAdd {
        dst: Writable<Reg>,
        a: Reg,
        b: Reg,
    },
    /// `dst(float) = src(int) * 2`
    ToFloat {
        dst: Writable<Reg>,
        src: Reg,
    },
    /// `dst(int) = src(float) + 1`
    ToInt {
        dst: Writable<Reg>,
        src: Reg,
    },
    /// `dst = a + b` where `b` may be a register or a spill slot (operand 1
    /// has the `Any` constraint, like an x86 memory operand).
    AddAny {
        dst: Writable<Reg>,
        a: Reg,
        b: Reg,
    },
    /// Prologue: stores callee-saved `src` at frame offset `off`.
    SaveCsr {
        src: PReg,
        off: u32,
    },
    /// Epilogue: reloads callee-saved `dst` from frame offset `off`.
    RestoreCsr {
        dst: PReg,
        off: u32,
    },
    /// Malformed on purpose: `b` "reuses" operand 0, which is a def.
    BadReuse {
        a: Writable<Reg>,
        b: Writable<Reg>,
    },
}

impl MachInst for ToyInst {
    const SPILLSLOT_BYTES: u32 = 8;

    fn get_operands(&mut self, v: &mut impl OperandVisitor) {
        match self {
            ToyInst::Args { dsts } => {
                for (i, d) in dsts.iter_mut().enumerate() {
                    v.reg_fixed_def(d, r(i));
                }
            }
            ToyInst::Imm { dst, .. } => v.reg_def(dst),
            ToyInst::Add { dst, a, b } => {
                v.reg_use(a);
                v.reg_use(b);
                v.reg_reuse_def(dst, 0);
            }
            ToyInst::Sub { dst, a, b } => {
                v.reg_use(a);
                v.reg_use(b);
                v.reg_def(dst);
            }
            ToyInst::Mul { dst, a, b } => {
                v.reg_use(a);
                v.reg_use(b);
                v.reg_early_def(dst);
            }
            ToyInst::Copy { dst, src } => {
                v.reg_use(src);
                v.reg_def(dst);
            }
            ToyInst::ReadSp { dst, sp } => {
                v.reg_use(sp);
                v.reg_def(dst);
            }
            ToyInst::Call { args, ret, .. } => {
                for (i, a) in args.iter_mut().enumerate() {
                    v.reg_fixed_use(a, r(i));
                }
                v.reg_fixed_def(ret, r(0));
            }
            ToyInst::Spill { .. }
            | ToyInst::Reload { .. }
            | ToyInst::Jump { .. }
            | ToyInst::SaveCsr { .. }
            | ToyInst::RestoreCsr { .. } => {}
            ToyInst::CondBr { cond, .. } => v.reg_use(cond),
            ToyInst::Ret { srcs } => {
                for (i, s) in srcs.iter_mut().enumerate() {
                    v.reg_fixed_late_use(s, r(i));
                }
            }
            ToyInst::BadReuse { a, b } => {
                v.reg_def(a);
                v.reg_reuse_def(b, 0);
            }
            ToyInst::AddAny { dst, a, b } => {
                v.reg_use(a);
                v.any_use(b);
                v.reg_def(dst);
            }
            ToyInst::FImm { dst, .. } => v.reg_def(dst),
            ToyInst::FAdd { dst, a, b } => {
                v.reg_use(a);
                v.reg_use(b);
                v.reg_def(dst);
            }
            ToyInst::ToFloat { dst, src } | ToyInst::ToInt { dst, src } => {
                v.reg_use(src);
                v.reg_def(dst);
            }
        }
    }

    fn clobbers(&self) -> PRegSet {
        match self {
            ToyInst::Call { .. } => PRegSet::empty()
                .with(r(1))
                .with(r(2))
                .with(r(3))
                .with(f(0))
                .with(f(1))
                .with(f(2)),
            _ => PRegSet::empty(),
        }
    }

    fn is_call(&self) -> bool {
        matches!(self, ToyInst::Call { .. })
    }

    fn is_term(&self) -> MachTerminator {
        match self {
            ToyInst::Jump { .. } | ToyInst::CondBr { .. } => MachTerminator::Branch,
            ToyInst::Ret { .. } => MachTerminator::Ret,
            _ => MachTerminator::None,
        }
    }

    fn is_move(&self) -> Option<(Writable<Reg>, Reg)> {
        match self {
            ToyInst::Copy { dst, src } => Some((*dst, *src)),
            _ => None,
        }
    }

    fn spillslot_size(class: RegClass) -> usize {
        match class {
            RegClass::Float => 2,
            _ => 1,
        }
    }

    fn gen_move(dst: Writable<Reg>, src: Reg, _class: RegClass) -> Self {
        ToyInst::Copy { dst, src }
    }

    fn gen_spill(slot: SpillSlot, src: PReg) -> Self {
        ToyInst::Spill { slot, src }
    }

    fn gen_reload(dst: PReg, slot: SpillSlot) -> Self {
        ToyInst::Reload { dst, slot }
    }
}

fn toy_env(dedicated_scratch: bool) -> MachineEnv {
    let set = |regs: &[PReg]| regs.iter().fold(PRegSet::empty(), |s, &p| s.with(p));
    MachineEnv {
        preferred_regs_by_class: [
            set(&[r(0), r(1), r(2), r(3)]),
            set(&[f(0), f(1), f(2)]),
            PRegSet::empty(),
        ],
        non_preferred_regs_by_class: [set(&[r(4), r(5)]), set(&[f(3)]), PRegSet::empty()],
        scratch_by_class: [
            dedicated_scratch.then(|| r(7)),
            dedicated_scratch.then(|| f(7)),
            None,
        ],
        fixed_stack_slots: vec![],
    }
}

fn callee_saved() -> PRegSet {
    PRegSet::empty().with(r(4)).with(r(5)).with(f(3))
}

fn call_result(func: i64, args: &[i64]) -> i64 {
    args.iter()
        .fold(func, |acc, &a| acc.wrapping_mul(31).wrapping_add(a))
}

const STEP_LIMIT: usize = 100_000;

/// Runs the virtual-register VCode.
fn interp_virtual(v: &VCode<ToyInst>, args: &[i64]) -> Vec<i64> {
    let mut vals: Vec<Option<i64>> = vec![None; super::reg::PINNED_VREGS + v.num_vregs()];
    let get = |vals: &Vec<Option<i64>>, reg: Reg| -> i64 {
        match reg.to_virtual_reg() {
            Some(vr) => vals[vr.vreg()].unwrap_or_else(|| panic!("{vr} read before def")),
            None => {
                assert_eq!(reg.to_real_reg(), Some(r(SP)));
                SP_VALUE
            }
        }
    };
    fn set(vals: &mut [Option<i64>], reg: Writable<Reg>, x: i64) {
        let vr = reg.to_reg().to_virtual_reg().expect("def of a virtual reg");
        // Static SSA is regalloc2's to check; in a loop a def runs again.
        vals[vr.vreg()] = Some(x);
    }
    let mut block = v.entry();
    let mut steps = 0;
    loop {
        let mut next = None;
        for i in v.block_insts(block) {
            steps += 1;
            assert!(steps < STEP_LIMIT, "runaway program");
            match v.inst(InsnIndex::new(i)).clone() {
                ToyInst::Args { dsts } => {
                    for (d, &a) in dsts.iter().zip(args) {
                        set(&mut vals, *d, a);
                    }
                }
                ToyInst::Imm { dst, imm } => set(&mut vals, dst, imm),
                ToyInst::Add { dst, a, b } => {
                    let x = get(&vals, a).wrapping_add(get(&vals, b));
                    set(&mut vals, dst, x)
                }
                ToyInst::Sub { dst, a, b } => {
                    let x = get(&vals, a).wrapping_sub(get(&vals, b));
                    set(&mut vals, dst, x)
                }
                ToyInst::Mul { dst, a, b } => {
                    let x = get(&vals, a).wrapping_mul(get(&vals, b));
                    set(&mut vals, dst, x)
                }
                ToyInst::Copy { dst, src } => {
                    let x = get(&vals, src);
                    set(&mut vals, dst, x)
                }
                ToyInst::ReadSp { dst, sp } => {
                    let x = get(&vals, sp);
                    set(&mut vals, dst, x)
                }
                ToyInst::AddAny { dst, a, b } => {
                    let x = get(&vals, a).wrapping_add(get(&vals, b));
                    set(&mut vals, dst, x)
                }
                ToyInst::FImm { dst, imm } => set(&mut vals, dst, imm),
                ToyInst::FAdd { dst, a, b } => {
                    let x = get(&vals, a).wrapping_add(get(&vals, b));
                    set(&mut vals, dst, x)
                }
                ToyInst::ToFloat { dst, src } => {
                    let x = get(&vals, src).wrapping_mul(2);
                    set(&mut vals, dst, x)
                }
                ToyInst::ToInt { dst, src } => {
                    let x = get(&vals, src).wrapping_add(1);
                    set(&mut vals, dst, x)
                }
                ToyInst::Call { args, ret, func } => {
                    let a: Vec<i64> = args.iter().map(|&x| get(&vals, x)).collect();
                    set(&mut vals, ret, call_result(func, &a))
                }
                ToyInst::Spill { .. }
                | ToyInst::Reload { .. }
                | ToyInst::SaveCsr { .. }
                | ToyInst::RestoreCsr { .. }
                | ToyInst::BadReuse { .. } => {
                    panic!("unexpected {:?}", v.inst(InsnIndex::new(i)))
                }
                ToyInst::Jump { target } => next = Some((0, target)),
                ToyInst::CondBr {
                    cond,
                    taken,
                    not_taken,
                } => {
                    next = Some(if get(&vals, cond) != 0 {
                        (0, taken)
                    } else {
                        (1, not_taken)
                    })
                }
                ToyInst::Ret { srcs } => return srcs.iter().map(|&s| get(&vals, s)).collect(),
            }
        }
        let (k, target) = next.expect("block ends in a branch");
        assert_eq!(v.succs(block)[k], target);
        let passed: Vec<i64> = v
            .branch_args(block, k)
            .iter()
            .map(|&a| get(&vals, a))
            .collect();
        for (&p, x) in v.params(target).iter().zip(passed) {
            set(&mut vals, Writable::from_reg(p), x);
        }
        block = target;
    }
}

const GARBAGE: i64 = 0x0bad_0000;
const CALLEE_SENTINEL: i64 = 0x5a5a_0000;

/// Runs the allocated stream on a machine with eight integer and eight float
/// registers (a register file indexed by `PReg::index`) and a frame of spill
/// slots laid out by `frame`, running the prologue and epilogues the
/// pipeline emitted and checking that callee-saved registers survive.
fn interp_allocated(s: &AllocatedStream<ToyInst>, frame: &FrameLayout, args: &[i64]) -> Vec<i64> {
    let mut regs: Vec<i64> = (0..PReg::NUM_INDEX as i64).map(|i| GARBAGE + i).collect();
    let callee = [r(4), r(5), f(3)];
    for p in callee {
        regs[p.index()] = CALLEE_SENTINEL + p.index() as i64;
    }
    regs[SP] = SP_VALUE;
    regs[..args.len()].copy_from_slice(args);
    // The frame in 8-byte words from SP: spill slots and callee-save slots.
    let mut stack = vec![None::<i64>; frame.fixed_frame_size as usize / 8];
    let phys = |reg: Reg| {
        reg.to_real_reg()
            .expect("physical after allocation")
            .index()
    };
    let wphys = |reg: Writable<Reg>| phys(reg.to_reg());
    // The prologue comes before block 0.
    let mut pc = 0;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps < 4 * STEP_LIMIT, "runaway program");
        let inst = &s.insts[pc];
        pc += 1;
        match inst {
            ToyInst::Args { dsts } => {
                for (i, d) in dsts.iter().enumerate() {
                    assert_eq!(wphys(*d), i, "argument not in its fixed register");
                }
            }
            ToyInst::Imm { dst, imm } | ToyInst::FImm { dst, imm } => regs[wphys(*dst)] = *imm,
            ToyInst::Add { dst, a, b } => {
                assert_eq!(wphys(*dst), phys(*a), "reuse constraint broken");
                regs[wphys(*dst)] = regs[phys(*a)].wrapping_add(regs[phys(*b)]);
            }
            ToyInst::Sub { dst, a, b } => {
                regs[wphys(*dst)] = regs[phys(*a)].wrapping_sub(regs[phys(*b)]);
            }
            ToyInst::FAdd { dst, a, b } => {
                regs[wphys(*dst)] = regs[phys(*a)].wrapping_add(regs[phys(*b)]);
            }
            ToyInst::AddAny { dst, a, b } => {
                // Operand 1 is `b`: a register, or a spill slot left as a
                // virtual register by the rewriter.
                let alloc = s.allocs(pc - 1)[1];
                let y = match alloc.as_stack() {
                    Some(slot) => {
                        assert!(b.to_virtual_reg().is_some());
                        let off = frame.spillslot_offset(slot) as usize / 8;
                        stack[off].expect("stack operand never written")
                    }
                    None => regs[phys(*b)],
                };
                regs[wphys(*dst)] = regs[phys(*a)].wrapping_add(y);
            }
            ToyInst::Mul { dst, a, b } => {
                // An early def may be written before the inputs are read, so
                // it must not share a register with them.
                assert!(wphys(*dst) != phys(*a) && wphys(*dst) != phys(*b));
                regs[wphys(*dst)] = regs[phys(*a)].wrapping_mul(regs[phys(*b)]);
            }
            ToyInst::Copy { dst, src } => regs[wphys(*dst)] = regs[phys(*src)],
            ToyInst::ToFloat { dst, src } => regs[wphys(*dst)] = regs[phys(*src)].wrapping_mul(2),
            ToyInst::ToInt { dst, src } => regs[wphys(*dst)] = regs[phys(*src)].wrapping_add(1),
            ToyInst::ReadSp { dst, sp } => {
                assert_eq!(phys(*sp), SP);
                regs[wphys(*dst)] = regs[SP];
            }
            ToyInst::Call { args, ret, func } => {
                let a: Vec<i64> = args
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        assert_eq!(phys(x), i, "call argument not in its fixed register");
                        regs[i]
                    })
                    .collect();
                assert_eq!(wphys(*ret), 0);
                for p in [r(1), r(2), r(3), f(0), f(1), f(2)] {
                    regs[p.index()] = GARBAGE + 100 + p.index() as i64;
                }
                regs[0] = call_result(*func, &a);
            }
            ToyInst::Spill { slot, src } => {
                let off = frame.spillslot_offset(*slot) as usize / 8;
                let n = ToyInst::spillslot_size(src.class());
                // A multi-slot value fills all its slots, so that an
                // overlapping spill shows up at the reload.
                for k in 0..n {
                    stack[off + k] = Some(regs[src.index()]);
                }
            }
            ToyInst::Reload { dst, slot } => {
                let off = frame.spillslot_offset(*slot) as usize / 8;
                let n = ToyInst::spillslot_size(dst.class());
                let x = stack[off].expect("reload of a slot never spilled");
                for k in 1..n {
                    assert_eq!(stack[off + k], Some(x), "spill slots overlap");
                }
                regs[dst.index()] = x;
            }
            ToyInst::Jump { target } => pc = s.block_starts[target.index()],
            ToyInst::CondBr {
                cond,
                taken,
                not_taken,
            } => {
                let t = if regs[phys(*cond)] != 0 {
                    taken
                } else {
                    not_taken
                };
                pc = s.block_starts[t.index()];
            }
            ToyInst::Ret { srcs } => {
                let out: Vec<i64> = srcs
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        assert_eq!(phys(x), i, "return value not in its fixed register");
                        regs[i]
                    })
                    .collect();
                for p in callee {
                    assert_eq!(
                        regs[p.index()],
                        CALLEE_SENTINEL + p.index() as i64,
                        "callee-saved {p} not preserved"
                    );
                }
                assert_eq!(regs[SP], SP_VALUE, "non-allocatable sp written");
                return out;
            }
            ToyInst::SaveCsr { src, off } => stack[*off as usize / 8] = Some(regs[src.index()]),
            ToyInst::RestoreCsr { dst, off } => {
                regs[dst.index()] = stack[*off as usize / 8].expect("restore of an unsaved slot")
            }
            ToyInst::BadReuse { .. } => panic!("malformed instruction allocated"),
        }
    }
}

struct Compiled {
    virt: VCode<ToyInst>,
    stream: AllocatedStream<ToyInst>,
    frame: FrameLayout,
    num_edits: usize,
    /// Code offset of each instruction of `stream`, and the code.
    offsets: Vec<CodeOffset>,
    code: Vec<u8>,
    frame_size: u32,
}

/// The toy target: its "encoding" is one tag byte per instruction plus a
/// 4-byte absolute label field per branch target, and it records the
/// stream it is given so the tests can run it.
struct ToyBackend {
    env: MachineEnv,
    config: RegallocConfig,
    record: RefCell<ToyRecord>,
}

#[derive(Default)]
struct ToyRecord {
    stream: AllocatedStream<ToyInst>,
    offsets: Vec<CodeOffset>,
    frame: Option<FrameLayout>,
}

/// A 4-byte field holding a label's code offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ToyLabelUse;

impl LabelUse for ToyLabelUse {
    const ALIGN: CodeOffset = 1;
    fn max_pos_range(self) -> CodeOffset {
        CodeOffset::MAX
    }
    fn max_neg_range(self) -> CodeOffset {
        CodeOffset::MAX
    }
    fn patch_size(self) -> CodeOffset {
        4
    }
    fn patch(self, buffer: &mut [u8], _use_offset: CodeOffset, label_offset: CodeOffset) {
        buffer.copy_from_slice(&label_offset.to_le_bytes());
    }
}

fn toy_label(block: &BlockIndex) -> MachLabel {
    MachLabel::from_block(block.index() as u32)
}

impl Backend for ToyBackend {
    type Inst = ToyInst;
    type LabelUse = ToyLabelUse;
    type EmitState = ();
    const FRAME_SHAPE: FrameShape = FrameShape {
        stack_align: 16,
        setup_area_size: 16,
        save_bytes: [8, 8, 8],
    };

    fn machine_env(&self) -> &MachineEnv {
        &self.env
    }
    fn regalloc_config(&self) -> RegallocConfig {
        self.config
    }
    fn lower(&self, _f: &FunctionStencil, _: VCode<ToyInst>) -> CodegenResult<Lowered<ToyInst>> {
        Err(CodegenError::Unsupported {
            what: "the toy target has no rules (its VCode is built by hand)".into(),
        })
    }
    fn gen_prologue(&self, frame: &FrameLayout, out: &mut Vec<ToyInst>) {
        self.record.borrow_mut().frame = Some(frame.clone());
        out.extend(
            frame
                .csr_slots()
                .map(|(src, off)| ToyInst::SaveCsr { src, off }),
        );
    }
    fn gen_epilogue(&self, frame: &FrameLayout, out: &mut Vec<ToyInst>) {
        out.extend(
            frame
                .csr_slots()
                .map(|(dst, off)| ToyInst::RestoreCsr { dst, off }),
        );
    }
    fn is_epilogue_return(inst: &ToyInst) -> bool {
        matches!(inst, ToyInst::Ret { .. })
    }
    fn emit_state(&self, _frame: &FrameLayout) {}
    fn emit_inst(
        &self,
        inst: &ToyInst,
        info: &EmitInfo<'_>,
        _state: &mut (),
        buf: &mut MachBuffer<ToyLabelUse>,
    ) -> CodegenResult<()> {
        let mut rec = self.record.borrow_mut();
        rec.offsets.push(buf.cur_offset());
        rec.stream.emit(inst, *info)?;
        buf.put1(0xa0);
        let targets: &[&BlockIndex] = match inst {
            ToyInst::Jump { target } => &[target],
            ToyInst::CondBr {
                taken, not_taken, ..
            } => &[taken, not_taken],
            _ => &[],
        };
        for t in targets {
            buf.use_label_at_offset(buf.cur_offset(), toy_label(t), ToyLabelUse);
            buf.put4(0);
        }
        Ok(())
    }
    fn begin_block(&self, block: BlockIndex, _state: &mut ()) {
        let mut rec = self.record.borrow_mut();
        let frame = rec.frame.clone().unwrap_or_default();
        rec.stream
            .begin_block(block, &frame)
            .expect("recording cannot fail");
    }
    fn trap_bytes(&self) -> &'static [u8] {
        &[0xff]
    }
}

fn compile_with(
    vcode: VCode<ToyInst>,
    algorithm: Algorithm,
    dedicated_scratch: bool,
    ctx: &mut Context,
) -> Result<Compiled, CodegenError> {
    let backend = ToyBackend {
        env: toy_env(dedicated_scratch),
        config: RegallocConfig {
            algorithm,
            run_checker: true,
            validate_ssa: true,
        },
        record: RefCell::default(),
    };
    let virt = vcode.clone();
    let lowered = Lowered {
        vcode,
        frame: FrameRequest {
            callee_saved: callee_saved(),
            ..FrameRequest::default()
        },
        testcase_names: vec![],
    };
    let code = compile::compile_lowered(&backend, lowered, ctx)?;
    let rec = backend.record.into_inner();
    Ok(Compiled {
        virt,
        stream: rec.stream,
        frame: rec.frame.expect("the pipeline asked for a prologue"),
        num_edits: ctx.regalloc_output().edits.len(),
        offsets: rec.offsets,
        code: code.code,
        frame_size: code.frame_size,
    })
}

/// Compiles with every configuration and checks both interpreters agree on
/// every input. Returns the Ion/dedicated-scratch compilation.
fn check_all(vcode: &VCode<ToyInst>, inputs: &[Vec<i64>]) -> Compiled {
    let mut ctx = Context::new();
    let mut first = None;
    for algorithm in [Algorithm::Ion, Algorithm::Fastalloc] {
        for scratch in [true, false] {
            let c = compile_with(vcode.clone(), algorithm, scratch, &mut ctx)
                .unwrap_or_else(|e| panic!("{algorithm:?} scratch={scratch}: {e}"));
            for args in inputs {
                let want = interp_virtual(&c.virt, args);
                let got = interp_allocated(&c.stream, &c.frame, args);
                assert_eq!(got, want, "{algorithm:?} scratch={scratch} args={args:?}");
            }
            first.get_or_insert(c);
        }
    }
    first.unwrap()
}

fn loc() -> RelSourceLoc {
    RelSourceLoc::default()
}

type B = VCodeBuilder<ToyInst>;

fn vreg(b: &mut B) -> Reg {
    b.alloc_vreg(RegClass::Int).unwrap()
}

fn w(reg: Reg) -> Writable<Reg> {
    Writable::from_reg(reg)
}

fn args(b: &mut B, n: usize) -> Vec<Reg> {
    let regs: Vec<Reg> = (0..n).map(|_| vreg(b)).collect();
    b.push(
        ToyInst::Args {
            dsts: regs.iter().map(|&x| w(x)).collect(),
        },
        loc(),
    )
    .unwrap();
    regs
}

fn op(b: &mut B, f: fn(Writable<Reg>, Reg, Reg) -> ToyInst, a: Reg, c: Reg) -> Reg {
    let d = vreg(b);
    b.push(f(w(d), a, c), loc()).unwrap();
    d
}

fn add(dst: Writable<Reg>, a: Reg, b: Reg) -> ToyInst {
    ToyInst::Add { dst, a, b }
}
fn sub(dst: Writable<Reg>, a: Reg, b: Reg) -> ToyInst {
    ToyInst::Sub { dst, a, b }
}
fn mul(dst: Writable<Reg>, a: Reg, b: Reg) -> ToyInst {
    ToyInst::Mul { dst, a, b }
}

fn imm(b: &mut B, x: i64) -> Reg {
    let d = vreg(b);
    b.push(ToyInst::Imm { dst: w(d), imm: x }, loc()).unwrap();
    d
}

fn ret(b: &mut B, srcs: Vec<Reg>) {
    b.push(ToyInst::Ret { srcs }, loc()).unwrap();
}

fn jump(b: &mut B, target: BlockIndex, a: &[Reg]) {
    b.push(ToyInst::Jump { target }, loc()).unwrap();
    b.add_succ(target, a).unwrap();
}

fn condbr(b: &mut B, cond: Reg, taken: BlockIndex, not_taken: BlockIndex) {
    b.push(
        ToyInst::CondBr {
            cond,
            taken,
            not_taken,
        },
        loc(),
    )
    .unwrap();
    b.add_succ(taken, &[]).unwrap();
    b.add_succ(not_taken, &[]).unwrap();
}

fn blk(n: usize) -> BlockIndex {
    BlockIndex::new(n)
}

#[test]
fn straight_line() {
    let mut b = B::new();
    b.start_block().unwrap();
    let a = args(&mut b, 2);
    let c = op(&mut b, add, a[0], a[1]);
    let d = op(&mut b, mul, c, a[0]);
    let e = op(&mut b, sub, d, a[1]);
    ret(&mut b, vec![e, c]);
    b.end_block().unwrap();
    let v = b.build().unwrap();
    assert_eq!(v.num_blocks(), 1);
    assert_eq!(v.inst_operands(InsnIndex::new(1)).len(), 3);
    let c = check_all(&v, &[vec![3, 4], vec![-7, 100]]);
    assert_eq!(interp_virtual(&c.virt, &[3, 4]), vec![17, 7]);
}

/// `sum = 0; for i in 0..n { sum += i * k }; return sum` with the loop
/// state in block params.
fn sum_loop() -> VCode<ToyInst> {
    let mut b = B::new();
    // b0: args n, k; zero; jump b1(zero, zero)
    b.start_block().unwrap();
    let a = args(&mut b, 2);
    let (n, k) = (a[0], a[1]);
    let zero = imm(&mut b, 0);
    let one = imm(&mut b, 1);
    jump(&mut b, blk(1), &[zero, zero]);
    b.end_block().unwrap();
    // b1(i, sum): cond = n - i; br cond b2, b3
    b.start_block().unwrap();
    let i = vreg(&mut b);
    let sum = vreg(&mut b);
    b.add_block_param(i).unwrap();
    b.add_block_param(sum).unwrap();
    let cond = op(&mut b, sub, n, i);
    condbr(&mut b, cond, blk(2), blk(3));
    b.end_block().unwrap();
    // b2: t = i * k; sum2 = sum + t; i2 = i + one; jump b1(i2, sum2)
    b.start_block().unwrap();
    let t = op(&mut b, mul, i, k);
    let sum2 = op(&mut b, add, sum, t);
    let i2 = op(&mut b, add, i, one);
    jump(&mut b, blk(1), &[i2, sum2]);
    b.end_block().unwrap();
    // b3: ret sum
    b.start_block().unwrap();
    ret(&mut b, vec![sum]);
    b.end_block().unwrap();
    b.build().unwrap()
}

#[test]
fn loop_with_block_params() {
    let v = sum_loop();
    assert_eq!(v.preds(blk(1)), &[blk(0), blk(2)]);
    assert_eq!(v.succs(blk(1)), &[blk(2), blk(3)]);
    assert_eq!(v.params(blk(1)).len(), 2);
    let listing = v.to_string();
    assert!(
        listing.contains("block1(v196, v197): preds [block0, block2] succs [block2(), block3()]"),
        "{listing}"
    );
    assert!(listing.contains("succs [block1(v201, v200)]"), "{listing}");
    let c = check_all(&v, &[vec![0, 5], vec![1, 5], vec![10, 3]]);
    assert_eq!(interp_virtual(&c.virt, &[10, 3]), vec![135]);
}

/// Builds `n` live values, then folds them together; with six allocatable
/// registers this must spill.
fn pressure(n: usize) -> VCode<ToyInst> {
    let mut b = B::new();
    b.start_block().unwrap();
    let a = args(&mut b, 1);
    let mut vals = vec![a[0]];
    for j in 0..n {
        let c = imm(&mut b, j as i64 * 7 + 1);
        let prev = *vals.last().unwrap();
        let x = op(&mut b, if j % 2 == 0 { mul } else { sub }, c, prev);
        vals.push(x);
    }
    // Use them in reverse order so that all stay live.
    let mut acc = imm(&mut b, 0);
    for &x in vals.iter().rev() {
        acc = op(&mut b, add, acc, x);
    }
    ret(&mut b, vec![acc]);
    b.end_block().unwrap();
    b.build().unwrap()
}

#[test]
fn register_pressure_spills() {
    let v = pressure(24);
    let c = check_all(&v, &[vec![2], vec![-9]]);
    assert!(c.frame.num_spillslots > 0, "expected spills");
    assert_eq!(c.frame.spill_area_size, c.frame.num_spillslots * 8);
    assert_eq!(c.frame.fixed_frame_size % 16, 0);
    assert!(c
        .stream
        .insts
        .iter()
        .any(|i| matches!(i, ToyInst::Spill { .. })));
    assert!(c.num_edits > 0);
    // With spills everywhere, r4/r5 are certainly used and must be saved.
    assert_eq!(c.frame.clobbered_callee_saves, vec![r(4), r(5)]);
}

#[test]
fn call_clobbers_and_fixed_registers() {
    // Values live across calls must avoid r1..r3 (clobbered) and r0 (the
    // result); arguments must be moved into r0, r1.
    let mut b = B::new();
    b.start_block().unwrap();
    let a = args(&mut b, 3);
    let x = op(&mut b, add, a[0], a[1]);
    let y = op(&mut b, mul, a[1], a[2]);
    let r1 = vreg(&mut b);
    b.push(
        ToyInst::Call {
            args: vec![y, x],
            ret: w(r1),
            func: 7,
        },
        loc(),
    )
    .unwrap();
    let r2 = vreg(&mut b);
    b.push(
        ToyInst::Call {
            args: vec![a[2], r1, x],
            ret: w(r2),
            func: 9,
        },
        loc(),
    )
    .unwrap();
    let z = op(&mut b, sub, r2, y);
    let z = op(&mut b, add, z, a[0]);
    ret(&mut b, vec![z, x]);
    b.end_block().unwrap();
    let v = b.build().unwrap();
    assert_eq!(
        v.inst_clobbers(InsnIndex::new(3)),
        ToyInst::Call {
            args: vec![],
            ret: w(x),
            func: 0
        }
        .clobbers()
    );
    assert!(v.inst_clobbers(InsnIndex::new(3)).contains(r(2)));
    assert_eq!(v.inst_clobbers(InsnIndex::new(0)), PRegSet::empty());
    let c = check_all(&v, &[vec![1, 2, 3], vec![-4, 50, 6]]);
    assert!(c.frame.has_calls);
}

#[test]
fn calls_in_a_loop_under_pressure() {
    // b0: args n; consts c0..c5; jump b1(0, 0)
    // b1(i, acc): cond = n - i; br cond b2, b3
    // b2: t = call(acc, i, c_j...); acc2 = t + c_(i%6)...; i2 = i + 1; jump b1(i2, acc2)
    // b3: ret acc + all consts
    let mut b = B::new();
    b.start_block().unwrap();
    let n = args(&mut b, 1)[0];
    let consts: Vec<Reg> = (0..6).map(|j| imm(&mut b, 3 * j + 2)).collect();
    let zero = imm(&mut b, 0);
    let one = imm(&mut b, 1);
    jump(&mut b, blk(1), &[zero, zero]);
    b.end_block().unwrap();
    b.start_block().unwrap();
    let i = vreg(&mut b);
    let acc = vreg(&mut b);
    b.add_block_param(i).unwrap();
    b.add_block_param(acc).unwrap();
    let cond = op(&mut b, sub, n, i);
    condbr(&mut b, cond, blk(2), blk(3));
    b.end_block().unwrap();
    b.start_block().unwrap();
    let t = vreg(&mut b);
    b.push(
        ToyInst::Call {
            args: vec![acc, i, consts[1], consts[4]],
            ret: w(t),
            func: 3,
        },
        loc(),
    )
    .unwrap();
    let mut acc2 = t;
    for &c in &consts {
        acc2 = op(&mut b, add, acc2, c);
    }
    let i2 = op(&mut b, add, i, one);
    jump(&mut b, blk(1), &[i2, acc2]);
    b.end_block().unwrap();
    b.start_block().unwrap();
    let mut out = acc;
    for &c in &consts {
        out = op(&mut b, mul, out, c);
    }
    ret(&mut b, vec![out]);
    b.end_block().unwrap();
    let v = b.build().unwrap();
    check_all(&v, &[vec![0], vec![1], vec![5]]);
}

#[test]
fn non_allocatable_register_operand() {
    let mut b = B::new();
    b.start_block().unwrap();
    let a = args(&mut b, 1);
    let s = vreg(&mut b);
    b.push(
        ToyInst::ReadSp {
            dst: w(s),
            sp: Reg::from(r(SP)),
        },
        loc(),
    )
    .unwrap();
    let x = op(&mut b, add, s, a[0]);
    ret(&mut b, vec![x]);
    b.end_block().unwrap();
    let v = b.build().unwrap();
    let ops = v.inst_operands(InsnIndex::new(1));
    assert_eq!(ops[0].as_fixed_nonallocatable(), Some(r(SP)));
    let c = check_all(&v, &[vec![5]]);
    assert_eq!(interp_virtual(&c.virt, &[5]), vec![SP_VALUE + 5]);
}

#[test]
fn srclocs_and_stream_origins() {
    let mut b = B::new();
    b.start_block().unwrap();
    let a = args(&mut b, 1);
    let d = vreg(&mut b);
    b.push(
        ToyInst::Copy {
            dst: w(d),
            src: a[0],
        },
        RelSourceLoc::from_bits(42),
    )
    .unwrap();
    ret(&mut b, vec![d]);
    b.end_block().unwrap();
    let v = b.build().unwrap();
    assert_eq!(v.srcloc(InsnIndex::new(1)), RelSourceLoc::from_bits(42));
    assert!(v.inst(InsnIndex::new(1)).is_move().is_some());
    let c = check_all(&v, &[vec![8]]);
    let originals: Vec<usize> = c
        .stream
        .origins
        .iter()
        .flatten()
        .map(|i| i.index())
        .collect();
    // The copy r0 := r0 that allocation makes of `d = a` is dropped.
    assert_eq!(originals, vec![0, 2]);
    let listing = v.to_string();
    assert!(listing.contains("block0(): preds [] succs []"), "{listing}");
    assert!(listing.contains("i1: Copy"), "{listing}");
    assert_eq!(c.stream.block_starts, vec![0]);
}

#[test]
fn context_and_builder_reuse() {
    let mut ctx = Context::new();
    let first = compile_with(pressure(12), Algorithm::Ion, true, &mut ctx).unwrap();
    let second = compile_with(sum_loop(), Algorithm::Ion, true, &mut ctx).unwrap();
    assert_eq!(
        interp_allocated(&second.stream, &second.frame, &[4, 2]),
        vec![12]
    );
    assert_eq!(
        interp_allocated(&first.stream, &first.frame, &[3]),
        interp_virtual(&first.virt, &[3])
    );
    // A builder recycling the buffers of a used VCode starts empty.
    let mut b = VCodeBuilder::reuse(first.virt);
    b.start_block().unwrap();
    let x = imm(&mut b, 1);
    assert_eq!(x.to_virtual_reg().unwrap().vreg(), super::reg::PINNED_VREGS);
    ret(&mut b, vec![x]);
    b.end_block().unwrap();
    let v = b.build().unwrap();
    assert_eq!((v.num_insts(), v.num_blocks()), (2, 1));
}

fn expect_invalid(b: B, needle: &str) {
    match b.build() {
        Err(CodegenError::InvalidVCode(msg)) => {
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}")
        }
        other => panic!("expected InvalidVCode({needle}), got {other:?}"),
    }
}

#[test]
fn rejects_critical_edge() {
    // b0: br b1, b2; b1: jump b2; b2: ret. Edge b0->b2 is critical.
    let mut b = B::new();
    b.start_block().unwrap();
    let a = args(&mut b, 1);
    condbr(&mut b, a[0], blk(1), blk(2));
    b.end_block().unwrap();
    b.start_block().unwrap();
    jump(&mut b, blk(2), &[]);
    b.end_block().unwrap();
    b.start_block().unwrap();
    ret(&mut b, vec![]);
    b.end_block().unwrap();
    expect_invalid(b, "critical edge");
}

#[test]
fn rejects_malformed_blocks() {
    // Missing terminator.
    let mut b = B::new();
    b.start_block().unwrap();
    imm(&mut b, 1);
    b.end_block().unwrap();
    expect_invalid(b, "terminator");

    // Terminator in the middle.
    let mut b = B::new();
    b.start_block().unwrap();
    ret(&mut b, vec![]);
    ret(&mut b, vec![]);
    b.end_block().unwrap();
    expect_invalid(b, "terminator inside");

    // Entry block params.
    let mut b = B::new();
    b.start_block().unwrap();
    let p = vreg(&mut b);
    b.add_block_param(p).unwrap();
    ret(&mut b, vec![]);
    b.end_block().unwrap();
    expect_invalid(b, "entry block");

    // Branch argument count mismatch.
    let mut b = B::new();
    b.start_block().unwrap();
    let x = imm(&mut b, 1);
    jump(&mut b, blk(1), &[x, x]);
    b.end_block().unwrap();
    b.start_block().unwrap();
    let p = vreg(&mut b);
    b.add_block_param(p).unwrap();
    ret(&mut b, vec![p]);
    b.end_block().unwrap();
    expect_invalid(b, "do not match");

    // Successor out of range; empty function; open block.
    let mut b = B::new();
    b.start_block().unwrap();
    jump(&mut b, blk(5), &[]);
    b.end_block().unwrap();
    expect_invalid(b, "out of range");
    expect_invalid(B::new(), "no blocks");
    let mut b = B::new();
    b.start_block().unwrap();
    expect_invalid(b, "still open");

    // A vreg used at another class than it was allocated with.
    let mut b = B::new();
    b.start_block().unwrap();
    let x = vreg(&mut b);
    let fx = Reg::from(regalloc2::VReg::new(
        x.to_virtual_reg().unwrap().vreg(),
        RegClass::Float,
    ));
    b.push(ToyInst::Imm { dst: w(fx), imm: 1 }, loc()).unwrap();
    ret(&mut b, vec![]);
    b.end_block().unwrap();
    expect_invalid(b, "never allocated with its class");

    // A vreg number that was never handed out.
    let mut b = B::new();
    b.start_block().unwrap();
    let ghost = Reg::from(regalloc2::VReg::new(500, RegClass::Int));
    b.push(
        ToyInst::Imm {
            dst: w(ghost),
            imm: 1,
        },
        loc(),
    )
    .unwrap();
    ret(&mut b, vec![]);
    b.end_block().unwrap();
    expect_invalid(b, "never allocated");

    // A reuse constraint naming a def.
    let mut b = B::new();
    b.start_block().unwrap();
    let x = vreg(&mut b);
    let y = vreg(&mut b);
    b.push(ToyInst::BadReuse { a: w(x), b: w(y) }, loc())
        .unwrap();
    ret(&mut b, vec![]);
    b.end_block().unwrap();
    expect_invalid(b, "reuse constraint");

    // Builder misuse is an error, not a panic.
    let mut b = B::new();
    assert!(b.push(ToyInst::Ret { srcs: vec![] }, loc()).is_err());
    b.start_block().unwrap();
    assert!(b.start_block().is_err());
    assert!(b.add_block_param(Reg::from(r(0))).is_err());
}

#[test]
fn regalloc_errors_are_typed() {
    // Not SSA: the same vreg defined twice. regalloc2's SSA validation
    // rejects it, and the error comes back as CodegenError::Regalloc.
    let mut b = B::new();
    b.start_block().unwrap();
    let x = vreg(&mut b);
    b.push(ToyInst::Imm { dst: w(x), imm: 1 }, loc()).unwrap();
    b.push(ToyInst::Imm { dst: w(x), imm: 2 }, loc()).unwrap();
    ret(&mut b, vec![x]);
    b.end_block().unwrap();
    let v = b.build().unwrap();
    let mut ctx = Context::new();
    match compile_with(v, Algorithm::Ion, true, &mut ctx) {
        Err(CodegenError::Regalloc(msg)) => assert!(msg.contains("SSA"), "{msg}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("non-SSA code allocated"),
    }
}

#[test]
fn checker_rejects_a_wrong_allocation() {
    // Allocate, then corrupt one allocation: the checker must notice.
    let v = sum_loop();
    let env = toy_env(true);
    let mut ctx = RegallocContext::default();
    let config = RegallocConfig {
        run_checker: true,
        ..RegallocConfig::default()
    };
    let mut out = regalloc::run(&v, &env, &config, &mut ctx).unwrap().clone();
    // Make the `n - i` subtraction (instruction 4) read its first input from
    // a register that holds something else.
    let k = out.inst_alloc_offsets[4] as usize;
    let other = if out.allocs[k] == Allocation::reg(r(2)) {
        r(3)
    } else {
        r(2)
    };
    out.allocs[k] = Allocation::reg(other);
    match regalloc::check(&v, &env, &out) {
        Err(CodegenError::Regalloc(msg)) => assert!(msg.starts_with("checker"), "{msg}"),
        other => panic!("checker accepted a corrupted allocation: {other:?}"),
    }
}

#[test]
fn stack_to_stack_edit_uses_scratch() {
    // A hand-made regalloc output with a stack-to-stack move, which
    // regalloc2 never produces: it must go through the scratch register.
    let mut b = B::new();
    b.start_block().unwrap();
    ret(&mut b, vec![]);
    b.end_block().unwrap();
    let v = b.build().unwrap();
    let out = Output {
        num_spillslots: 2,
        edits: vec![(
            ProgPoint::before(InsnIndex::new(0)),
            Edit::Move {
                from: Allocation::stack(SpillSlot::new(0)),
                to: Allocation::stack(SpillSlot::new(1)),
            },
        )],
        allocs: vec![],
        inst_alloc_offsets: vec![0],
        ..Output::default()
    };
    let request = FrameRequest {
        callee_saved: callee_saved(),
        ..FrameRequest::default()
    };
    let frame = FrameLayout::compute(&v, &out, &request, &ToyBackend::FRAME_SHAPE).unwrap();
    assert_eq!(frame.fixed_frame_size, 16);
    let mut stream = AllocatedStream::default();
    v.clone()
        .emit(&out, &toy_env(true), &frame, &mut stream)
        .unwrap();
    assert!(matches!(
        stream.insts.as_slice(),
        [
            ToyInst::Reload { dst: d, slot: s0 },
            ToyInst::Spill { slot: s1, src: s },
            ToyInst::Ret { .. }
        ] if *d == r(7) && *s == r(7) && s0.index() == 0 && s1.index() == 1
    ));
    assert_eq!(stream.origins, vec![None, None, Some(InsnIndex::new(0))]);
    // Without a dedicated scratch register it is an error.
    let mut stream = AllocatedStream::default();
    let err = v
        .clone()
        .emit(&out, &toy_env(false), &frame, &mut stream)
        .unwrap_err();
    assert!(matches!(err, CodegenError::Regalloc(_)));
    // And a VCode cannot be emitted twice.
    let mut once = v.clone();
    once.emit(
        &out,
        &toy_env(true),
        &frame,
        &mut AllocatedStream::default(),
    )
    .unwrap();
    assert!(once
        .emit(
            &out,
            &toy_env(true),
            &frame,
            &mut AllocatedStream::default()
        )
        .is_err());
}

#[test]
fn error_display() {
    let e = CodegenError::Unsupported {
        what: "opcode iadd.i128".into(),
    };
    assert_eq!(e.to_string(), "unsupported: opcode iadd.i128");
    assert!(CodegenError::Regalloc("x".into())
        .to_string()
        .contains("register allocation"));
    assert_eq!(CodegenError::CodeTooLarge.to_string(), "code too large");
}

/// A random structured program generator: straight-line code, diamonds
/// joining through a block param, and counted loops carrying state in block
/// params, with calls and with every value kept live to the end (so the
/// register pressure grows and values cross calls and back edges).
struct Gen {
    state: u64,
    b: B,
    pool: Vec<Reg>,
    /// Float-class values (two spill slots each).
    fpool: Vec<Reg>,
}

impl Gen {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick(&mut self) -> Reg {
        let i = self.below(self.pool.len());
        self.pool[i]
    }

    fn fpick(&mut self) -> Option<Reg> {
        if self.fpool.is_empty() {
            return None;
        }
        let i = self.below(self.fpool.len());
        Some(self.fpool[i])
    }

    fn fops(&mut self) {
        let d = self.b.alloc_vreg(RegClass::Float).unwrap();
        let inst = match (self.below(4), self.fpick(), self.fpick()) {
            (0, _, _) | (_, None, _) | (_, _, None) => ToyInst::FImm {
                dst: w(d),
                imm: self.below(1000) as i64,
            },
            (1, Some(a), Some(b)) => ToyInst::FAdd { dst: w(d), a, b },
            (2, Some(src), _) => {
                // Back to the integer side.
                let di = vreg(&mut self.b);
                self.b
                    .push(ToyInst::ToInt { dst: w(di), src }, loc())
                    .unwrap();
                self.pool.push(di);
                return;
            }
            _ => ToyInst::ToFloat {
                dst: w(d),
                src: self.pick(),
            },
        };
        self.b.push(inst, loc()).unwrap();
        self.fpool.push(d);
    }

    fn ops(&mut self, count: usize) {
        for _ in 0..count {
            if self.below(4) == 0 {
                self.fops();
                continue;
            }
            let d = vreg(&mut self.b);
            let inst = match self.below(10) {
                0 | 1 => ToyInst::Imm {
                    dst: w(d),
                    imm: self.below(100) as i64 - 50,
                },
                2 | 3 => ToyInst::Add {
                    dst: w(d),
                    a: self.pick(),
                    b: self.pick(),
                },
                4 if self.below(2) == 0 => ToyInst::AddAny {
                    dst: w(d),
                    a: self.pick(),
                    b: self.pick(),
                },
                4 => ToyInst::Sub {
                    dst: w(d),
                    a: self.pick(),
                    b: self.pick(),
                },
                5 => ToyInst::Mul {
                    dst: w(d),
                    a: self.pick(),
                    b: self.pick(),
                },
                6 => ToyInst::Copy {
                    dst: w(d),
                    src: self.pick(),
                },
                7 => ToyInst::ReadSp {
                    dst: w(d),
                    sp: Reg::from(r(SP)),
                },
                _ => {
                    let n = self.below(4);
                    ToyInst::Call {
                        args: (0..n).map(|_| self.pick()).collect(),
                        ret: w(d),
                        func: self.below(5) as i64,
                    }
                }
            };
            self.b.push(inst, loc()).unwrap();
            self.pool.push(d);
        }
    }

    fn diamond(&mut self) {
        let c = self.b.next_block().index();
        let cond = self.pick();
        condbr(&mut self.b, cond, blk(c + 1), blk(c + 2));
        self.b.end_block().unwrap();
        let (outer, fouter) = (self.pool.len(), self.fpool.len());
        let float_join = self.below(2) == 0 && !self.fpool.is_empty();
        for _arm in 0..2 {
            self.b.start_block().unwrap();
            let n = self.below(4);
            self.ops(n);
            let x = if float_join {
                self.fpick().unwrap()
            } else {
                self.pick()
            };
            jump(&mut self.b, blk(c + 3), &[x]);
            self.b.end_block().unwrap();
            self.pool.truncate(outer);
            self.fpool.truncate(fouter);
        }
        self.b.start_block().unwrap();
        if float_join {
            let p = self.b.alloc_vreg(RegClass::Float).unwrap();
            self.b.add_block_param(p).unwrap();
            self.fpool.push(p);
        } else {
            let p = vreg(&mut self.b);
            self.b.add_block_param(p).unwrap();
            self.pool.push(p);
        }
    }

    fn counted_loop(&mut self) {
        let c = self.b.next_block().index();
        let count = self.below(4) as i64;
        let n = imm(&mut self.b, count);
        let zero = imm(&mut self.b, 0);
        let one = imm(&mut self.b, 1);
        let acc0 = self.pick();
        let facc0 = self.fpick();
        let mut entry_args = vec![zero, acc0];
        entry_args.extend(facc0);
        jump(&mut self.b, blk(c + 1), &entry_args);
        self.b.end_block().unwrap();
        // Header.
        self.b.start_block().unwrap();
        let i = vreg(&mut self.b);
        let acc = vreg(&mut self.b);
        self.b.add_block_param(i).unwrap();
        self.b.add_block_param(acc).unwrap();
        let facc = facc0.map(|_| {
            let p = self.b.alloc_vreg(RegClass::Float).unwrap();
            self.b.add_block_param(p).unwrap();
            p
        });
        let cond = op(&mut self.b, sub, n, i);
        condbr(&mut self.b, cond, blk(c + 2), blk(c + 3));
        self.b.end_block().unwrap();
        // Body.
        let (outer, fouter) = (self.pool.len(), self.fpool.len());
        self.pool.push(i);
        self.pool.push(acc);
        self.fpool.extend(facc);
        self.b.start_block().unwrap();
        let k = self.below(5);
        self.ops(k);
        let x = self.pick();
        let acc2 = op(&mut self.b, add, acc, x);
        let i2 = op(&mut self.b, add, i, one);
        let mut back_args = vec![i2, acc2];
        if let Some(facc) = facc {
            let y = self.fpick().unwrap();
            let d = self.b.alloc_vreg(RegClass::Float).unwrap();
            self.b
                .push(
                    ToyInst::FAdd {
                        dst: w(d),
                        a: facc,
                        b: y,
                    },
                    loc(),
                )
                .unwrap();
            back_args.push(d);
        }
        jump(&mut self.b, blk(c + 1), &back_args);
        self.b.end_block().unwrap();
        self.pool.truncate(outer);
        self.fpool.truncate(fouter);
        // Exit.
        self.b.start_block().unwrap();
        self.pool.push(i);
        self.pool.push(acc);
        self.fpool.extend(facc);
    }

    fn function(seed: u64) -> (VCode<ToyInst>, usize) {
        let mut g = Gen {
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            b: B::new(),
            pool: vec![],
            fpool: vec![],
        };
        g.b.start_block().unwrap();
        let nargs = 1 + g.below(3);
        g.pool = args(&mut g.b, nargs);
        let n = g.below(6);
        g.ops(n);
        for _ in 0..g.below(5) {
            if g.below(2) == 0 {
                g.diamond();
            } else {
                g.counted_loop();
            }
            let n = g.below(5);
            g.ops(n);
        }
        // Keep everything live to the end: fold the whole pool.
        let fpool = std::mem::take(&mut g.fpool);
        for x in fpool {
            let d = vreg(&mut g.b);
            g.b.push(ToyInst::ToInt { dst: w(d), src: x }, loc())
                .unwrap();
            g.pool.push(d);
        }
        let mut acc = g.pool[0];
        for j in 1..g.pool.len() {
            let x = g.pool[j];
            acc = op(&mut g.b, if j % 3 == 0 { sub } else { add }, acc, x);
        }
        let extra = g.pick();
        ret(&mut g.b, vec![acc, extra]);
        g.b.end_block().unwrap();
        (g.b.build().unwrap(), nargs)
    }
}

#[test]
fn random_programs_agree() {
    let mut spilled = 0;
    let mut with_calls = 0;
    let mut float_params = 0;
    let mut float_spills = 0;
    let mut any_on_stack = 0;
    for seed in 0..1000 {
        let (v, nargs) = Gen::function(seed);
        let inputs: Vec<Vec<i64>> = [[3i64, -1, 7], [0, 0, 0], [-20, 11, 2]]
            .iter()
            .map(|a| a[..nargs].to_vec())
            .collect();
        float_params += usize::from((0..v.num_blocks()).any(|b| {
            v.params(blk(b))
                .iter()
                .any(|p| p.class() == RegClass::Float)
        }));
        let c = check_all(&v, &inputs);
        spilled += usize::from(c.frame.num_spillslots > 0);
        any_on_stack += usize::from((0..c.stream.insts.len()).any(|i| {
            matches!(c.stream.insts[i], ToyInst::AddAny { .. }) && c.stream.allocs(i)[1].is_stack()
        }));
        float_spills +=
            usize::from(c.stream.insts.iter().any(
                |i| matches!(i, ToyInst::Spill { src, .. } if src.class() == RegClass::Float),
            ));
        with_calls += usize::from(c.frame.has_calls);
    }
    // The generator must actually exercise spilling and calls.
    assert!(spilled > 150, "only {spilled} programs spilled");
    assert!(with_calls > 150, "only {with_calls} programs had calls");
    assert!(
        float_params > 150,
        "only {float_params} programs had float params"
    );
    assert!(
        float_spills > 50,
        "only {float_spills} programs spilled floats"
    );
    assert!(
        any_on_stack > 20,
        "only {any_on_stack} programs had stack operands"
    );
}

/// Rebuilds `v` with a backward builder, the way a backward lowering walk
/// would: blocks last to first, instructions terminator first.
fn rebuild_backward(v: &VCode<ToyInst>) -> VCode<ToyInst> {
    let mut b = VCodeBuilder::backward(VCode::default(), v.num_blocks());
    for i in 0..v.num_virtual_regs() {
        let vr = regalloc2::VReg::new(super::reg::PINNED_VREGS + i, RegClass::Int);
        let class = v.vreg_class(vr).unwrap();
        b.alloc_vreg(class).unwrap();
    }
    for k in (0..v.num_blocks()).rev() {
        let block = blk(k);
        assert_eq!(b.next_block(), block);
        assert_eq!(b.start_block().unwrap(), block);
        for p in v.params(block) {
            b.add_block_param(p).unwrap();
        }
        for i in v.block_insts(block).rev() {
            let i = InsnIndex::new(i);
            b.push(v.inst(i).clone(), v.srcloc(i)).unwrap();
        }
        for (e, &succ) in v.succs(block).iter().enumerate() {
            let args = v.branch_args(block, e);
            b.add_succ(succ, &args).unwrap();
        }
        b.end_block().unwrap();
    }
    b.build().unwrap()
}

fn assert_same_vcode(a: &VCode<ToyInst>, b: &VCode<ToyInst>) {
    assert_eq!(a.to_string(), b.to_string());
    for i in 0..a.num_insts() {
        let i = InsnIndex::new(i);
        assert_eq!(a.inst_clobbers(i), b.inst_clobbers(i));
        assert_eq!(a.srcloc(i), b.srcloc(i));
    }
}

#[test]
fn backward_builder_matches_forward() {
    for v in [sum_loop(), pressure(10)] {
        let back = rebuild_backward(&v);
        assert_same_vcode(&v, &back);
        check_all(&back, &[vec![4, 3]]);
    }
    for seed in 0..200 {
        let (v, _) = Gen::function(seed);
        assert_same_vcode(&v, &rebuild_backward(&v));
    }
    // Declared block count is enforced.
    let mut b = VCodeBuilder::<ToyInst>::backward(VCode::default(), 1);
    b.start_block().unwrap();
    ret(&mut b, vec![]);
    b.end_block().unwrap();
    assert!(b.start_block().is_err());
    let mut b = VCodeBuilder::<ToyInst>::backward(VCode::default(), 2);
    b.start_block().unwrap();
    ret(&mut b, vec![]);
    b.end_block().unwrap();
    expect_invalid(b, "declared blocks");
}

#[test]
fn rejects_unreachable_block() {
    let mut b = B::new();
    b.start_block().unwrap();
    let a = args(&mut b, 1);
    ret(&mut b, vec![a[0]]);
    b.end_block().unwrap();
    b.start_block().unwrap();
    let x = imm(&mut b, 3);
    jump(&mut b, blk(2), &[x]);
    b.end_block().unwrap();
    b.start_block().unwrap();
    let p = vreg(&mut b);
    b.add_block_param(p).unwrap();
    ret(&mut b, vec![p]);
    b.end_block().unwrap();
    // regalloc2 panics on unreachable blocks, so build must refuse them.
    expect_invalid(b, "block1 is unreachable");
}

#[test]
fn loop_carried_param_never_used() {
    // b0: n = arg; x = imm; jump b1(x)
    // b1(p): c = n - n; br c, b2, b3
    // b2: jump b1(p)
    // b3: ret n
    let mut b = B::new();
    b.start_block().unwrap();
    let n = args(&mut b, 1)[0];
    let x = imm(&mut b, 3);
    jump(&mut b, blk(1), &[x]);
    b.end_block().unwrap();
    b.start_block().unwrap();
    let p = vreg(&mut b);
    b.add_block_param(p).unwrap();
    let c = op(&mut b, sub, n, n);
    condbr(&mut b, c, blk(2), blk(3));
    b.end_block().unwrap();
    b.start_block().unwrap();
    jump(&mut b, blk(1), &[p]);
    b.end_block().unwrap();
    b.start_block().unwrap();
    ret(&mut b, vec![n]);
    b.end_block().unwrap();
    let v = b.build().unwrap();
    check_all(&v, &[vec![1]]);
}

/// Random CFGs (loops, parallel edges, unreachable blocks, critical edges)
/// put through `BlockLoweringOrder`, lowered to toy VCode, allocated and run.
///
/// IR block `b` takes `(fuel, acc)` (the entry as arguments, the others as
/// block params). A block ending in a conditional branch decrements the fuel
/// and leaves to the last block (which returns) once it reaches zero; other
/// blocks jump forward only and keep the fuel, so every program halts.
fn cfg_program(seed: u64) -> VCode<ToyInst> {
    use super::blockorder::{BlockLoweringOrder, LoweredBlock};
    let mut g = Gen {
        state: seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1,
        b: B::new(),
        pool: vec![],
        fpool: vec![],
    };
    let n = 2 + g.below(7) as u32;
    let last = n - 1;
    let mut cfg: Vec<Vec<u32>> = Vec::new();
    for b in 0..last {
        let succs = match g.below(8) {
            0 => vec![last, last],
            1 | 2 => vec![b + 1 + g.below((last - b) as usize) as u32],
            _ => vec![1 + g.below(last as usize) as u32, last],
        };
        cfg.push(succs);
    }
    cfg.push(vec![]);
    let order = BlockLoweringOrder::new(n as usize, 0, |b| cfg[b as usize].clone());
    let mut outs: Vec<Option<(Reg, Reg)>> = vec![None; n as usize];
    let mut b = B::new();
    for (i, lb) in order.lowered_order().iter().enumerate() {
        assert_eq!(b.start_block().unwrap(), blk(i));
        let succs = order.succ_indices(blk(i)).to_vec();
        match *lb {
            LoweredBlock::Orig { block } => {
                let (fuel, acc) = if block == 0 {
                    let a = args(&mut b, 2);
                    (a[0], a[1])
                } else {
                    let (f, a) = (vreg(&mut b), vreg(&mut b));
                    b.add_block_param(f).unwrap();
                    b.add_block_param(a).unwrap();
                    (f, a)
                };
                let is_cond = cfg[block as usize].len() == 2;
                let fuel2 = if is_cond {
                    let one = imm(&mut b, 1);
                    op(&mut b, sub, fuel, one)
                } else {
                    let d = vreg(&mut b);
                    b.push(
                        ToyInst::Copy {
                            dst: w(d),
                            src: fuel,
                        },
                        loc(),
                    )
                    .unwrap();
                    d
                };
                let k = imm(&mut b, 3 + block as i64);
                let acc2 = op(&mut b, mul, acc, k);
                let mut acc3 = op(&mut b, add, acc2, fuel2);
                if g.below(3) == 0 {
                    let d = vreg(&mut b);
                    b.push(
                        ToyInst::Call {
                            args: vec![acc3, fuel2],
                            ret: w(d),
                            func: block as i64,
                        },
                        loc(),
                    )
                    .unwrap();
                    acc3 = d;
                }
                outs[block as usize] = Some((fuel2, acc3));
                let edge_args = |s: BlockIndex| match order.lowered_order()[s.index()] {
                    LoweredBlock::CriticalEdge { .. } => vec![],
                    LoweredBlock::Orig { .. } => vec![fuel2, acc3],
                };
                match succs.len() {
                    0 => ret(&mut b, vec![acc3]),
                    1 => jump(&mut b, succs[0], &edge_args(succs[0])),
                    _ => {
                        b.push(
                            ToyInst::CondBr {
                                cond: fuel2,
                                taken: succs[0],
                                not_taken: succs[1],
                            },
                            loc(),
                        )
                        .unwrap();
                        b.add_succ(succs[0], &edge_args(succs[0])).unwrap();
                        b.add_succ(succs[1], &edge_args(succs[1])).unwrap();
                    }
                }
            }
            LoweredBlock::CriticalEdge { pred, .. } => {
                let (fuel2, acc3) = outs[pred as usize].expect("edge block after its pred");
                jump(&mut b, succs[0], &[fuel2, acc3]);
            }
        }
        b.end_block().unwrap();
    }
    b.build().unwrap()
}

#[test]
fn random_cfgs_through_block_order() {
    let mut with_edge_blocks = 0;
    for seed in 0..500 {
        let v = cfg_program(seed);
        let inputs = [vec![1, 2], vec![4, -3], vec![9, 5]];
        check_all(&v, &inputs);
        // Count split edges: blocks that only jump and have no params.
        with_edge_blocks +=
            usize::from((0..v.num_blocks()).any(|b| {
                v.block_insts(blk(b)).len() == 1 && v.params(blk(b)).is_empty() && b != 0
            }));
    }
    assert!(
        with_edge_blocks > 100,
        "only {with_edge_blocks} programs split edges"
    );
}

#[test]
fn pipeline_binds_labels_and_reports_the_frame_once() {
    // Under pressure r4/r5 are saved: the prologue and the epilogue are
    // real instructions in the stream, and the reported frame size counts
    // their slots once (inside the fixed frame).
    let c = check_all(&pressure(24), &[vec![5]]);
    let saves = c
        .stream
        .insts
        .iter()
        .take_while(|i| matches!(i, ToyInst::SaveCsr { .. }))
        .count();
    assert_eq!(saves, 2);
    assert_eq!(c.stream.block_starts[0], saves, "prologue before block 0");
    assert!(c
        .stream
        .insts
        .iter()
        .any(|i| matches!(i, ToyInst::RestoreCsr { .. })));
    assert_eq!(c.frame_size, 16 + c.frame.fixed_frame_size);
    let slots = c.frame.fixed_frame_size - c.frame.csr_offset;
    assert!(slots >= 16, "both saves inside the fixed frame");

    // Every branch's label field holds the code offset of its target
    // block's first instruction.
    let c = check_all(&sum_loop(), &[vec![4, 2]]);
    let block_offset = |b: &BlockIndex| c.offsets[c.stream.block_starts[b.index()]];
    let field = |at: CodeOffset| {
        let at = at as usize;
        u32::from_le_bytes(c.code[at..at + 4].try_into().unwrap())
    };
    let mut branches = 0;
    for (i, inst) in c.stream.insts.iter().enumerate() {
        let at = c.offsets[i];
        let targets: Vec<&BlockIndex> = match inst {
            ToyInst::Jump { target } => vec![target],
            ToyInst::CondBr {
                taken, not_taken, ..
            } => vec![taken, not_taken],
            _ => continue,
        };
        for (k, t) in targets.into_iter().enumerate() {
            assert_eq!(field(at + 1 + 4 * k as u32), block_offset(t), "inst {i}");
            branches += 1;
        }
    }
    assert!(branches >= 2, "sum_loop has a back edge and an exit");
}
