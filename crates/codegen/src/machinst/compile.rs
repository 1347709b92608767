//! The one compile pipeline, shared by every target:
//!
//! ```text
//! FunctionStencil --Backend::lower (rules)--> VCode + FrameRequest
//!   --regalloc2--> Output --FrameLayout::compute--> FrameLayout (once)
//!   --emit: prologue, allocated stream (epilogue before each return),
//!     deferred traps--> MachBuffer --finish--> CompiledCode<Stencil>
//! ```
//!
//! A target implements [`Backend`]: its instruction type, registers (the
//! `MachineEnv`), its fixed frame facts ([`FrameShape`]), its lowering (rules
//! plus the entry/call/return glue), its prologue/epilogue sequences and its
//! encoder. Everything else — allocation, the checker, the frame layout,
//! label binding, source locations, epilogue placement, trap islands,
//! finishing the buffer — happens here, once for all targets.
//!
//! A [`Context`] holds the buffers one compilation leaves behind (regalloc2's
//! state, the VCode's vectors, the prologue scratch list) so the next one
//! reuses them. It is target-neutral: an embedder keeps one per thread and
//! hands it to `TargetIsa::compile_stencil_with`; the thread-local one behind
//! `TargetIsa::compile_stencil` is only a convenience.

use super::abi::{FrameLayout, FrameRequest, FrameShape};
use super::buffer::{LabelUse, MachBuffer, MachLabel};
use super::inst::{MachInst, MachTerminator};
use super::regalloc::{self, RegallocConfig, RegallocContext};
use super::vcode::{BlockIndex, EmitInfo, EmitOrigin, EmitSink, VCode};
use crate::compiled::{CompiledCode, Stencil};
use crate::result::{CodegenError, CodegenResult};
use crate::unwind::UnwindOp;
use kiln_ir::{FunctionStencil, RelSourceLoc, TestcaseName};
use regalloc2::{MachineEnv, Output};
use std::any::Any;
use std::cell::RefCell;

/// What lowering a function produces: its VCode and what the frame needs.
pub struct Lowered<I: MachInst> {
    pub vcode: VCode<I>,
    /// Outgoing area, stack slots, callee-saved set, callee pop.
    pub frame: FrameRequest,
    /// Test-case names that `RelocTarget::TestCase(i)` relocations refer to.
    pub testcase_names: Vec<TestcaseName>,
}

/// What a target supplies to the pipeline.
pub trait Backend {
    /// The target's machine instruction.
    type Inst: MachInst;
    /// The target's kinds of label references (branch fields).
    type LabelUse: LabelUse;
    /// Function-level facts the encoder needs, built once from the frame.
    type EmitState;

    /// The target's fixed frame facts (alignment, setup area, save sizes).
    const FRAME_SHAPE: FrameShape;

    /// Registers and classes, as regalloc2 sees them.
    fn machine_env(&self) -> &MachineEnv;

    /// How to run regalloc2 (the checker is on when the `regalloc_checker`
    /// setting is).
    fn regalloc_config(&self) -> RegallocConfig;

    /// Lowers a function with the target's rules, reusing `recycled`'s
    /// buffers. Calls, returns and the function entry are lowered here too
    /// (their register constraints come from the target's conventions).
    fn lower(
        &self,
        f: &FunctionStencil,
        recycled: VCode<Self::Inst>,
    ) -> CodegenResult<Lowered<Self::Inst>>;

    /// Instructions that set up `frame` at function entry (frame pointer,
    /// SP adjustment, callee-save stores), appended to `out`.
    fn gen_prologue(&self, frame: &FrameLayout, out: &mut Vec<Self::Inst>);

    /// Instructions that tear `frame` down before a return (callee-save
    /// reloads, SP/FP restore), appended to `out`.
    fn gen_epilogue(&self, frame: &FrameLayout, out: &mut Vec<Self::Inst>);

    /// The frame-description changes `inst`, an instruction of the prologue
    /// (`part` says which sequence), makes, computed from `frame` and
    /// appended to `out`; the pipeline records them at the offset after
    /// the instruction (`crate::unwind`). A backend without unwind
    /// information records nothing.
    fn frame_unwind(
        &self,
        _inst: &Self::Inst,
        _part: FramePart,
        _frame: &FrameLayout,
        _out: &mut Vec<UnwindOp>,
    ) {
    }

    /// Whether the pipeline must put the epilogue before `inst`: a plain
    /// return. (Tail calls tear the frame down in their own sequence;
    /// traps never return.)
    fn is_epilogue_return(inst: &Self::Inst) -> bool;

    /// The encoder's function-level state for `frame`.
    fn emit_state(&self, frame: &FrameLayout) -> Self::EmitState;

    /// Encodes one physical-register instruction. Frame-dependent
    /// sequences (a return that pops its arguments, a tail call) read
    /// `info.frame`; `info.origin` has the operand allocations (for operands
    /// that may sit in a spill slot).
    fn emit_inst(
        &self,
        inst: &Self::Inst,
        info: &EmitInfo<'_>,
        state: &mut Self::EmitState,
        buf: &mut MachBuffer<Self::LabelUse>,
    ) -> CodegenResult<()>;

    /// Called as each block starts, after its label is bound (a target or a
    /// test may record block boundaries).
    fn begin_block(&self, _block: BlockIndex, _state: &mut Self::EmitState) {}

    /// The bytes of the trapping instruction used for deferred trap islands.
    fn trap_bytes(&self) -> &'static [u8];

    /// The bytes of one no-op instruction, for `bb_padding_log2_minus_one`
    /// (empty: the target cannot pad blocks, and asking it to is an error).
    fn nop_bytes(&self) -> &'static [u8] {
        &[]
    }

    /// Upper bound on the bytes `emit_inst` writes for one instruction: the
    /// pipeline places an island before any instruction that could carry a
    /// pending label use out of its range.
    const MAX_INST_BYTES: u32 = 1024;

    /// An unconditional jump to `target`, used to jump over an island.
    /// `None` for targets whose label uses reach across any function (x86
    /// rel32): their buffer never asks for an island.
    fn island_jump(&self, _target: MachLabel) -> Option<Self::Inst> {
        None
    }
}

/// Which frame sequence an instruction belongs to ([`Backend::frame_unwind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramePart {
    Prologue,
    Epilogue,
}

/// Buffers kept from one compilation to the next; see the module docs.
#[derive(Default)]
pub struct Context {
    regalloc: RegallocContext,
    /// The last VCode (of whichever target used this context), cleared and
    /// refilled by the next lowering for the same target.
    vcode: Option<Box<dyn Any + Send>>,
    /// The prologue/epilogue scratch list, likewise.
    seq: Option<Box<dyn Any + Send>>,
    /// The mid-end's copy of the last function, overwritten by the next
    /// one (`opt::prepare_into`).
    stencil: FunctionStencil,
}

impl Context {
    /// A context with no buffers yet.
    pub fn new() -> Self {
        Context::default()
    }

    /// regalloc2's output for the last function compiled with this context.
    pub fn regalloc_output(&self) -> &Output {
        self.regalloc.output()
    }

    fn take<T: Default + 'static>(slot: &mut Option<Box<dyn Any + Send>>) -> T {
        slot.take()
            .and_then(|b| b.downcast::<T>().ok())
            .map(|b| *b)
            .unwrap_or_default()
    }
}

thread_local! {
    static THREAD_CONTEXT: RefCell<Context> = RefCell::new(Context::default());
}

/// Runs `f` with this thread's [`Context`] (a fresh one on re-entrant use).
pub fn with_thread_context<R>(f: impl FnOnce(&mut Context) -> R) -> R {
    THREAD_CONTEXT.with(|cx| match cx.try_borrow_mut() {
        Ok(mut cx) => f(&mut cx),
        Err(_) => f(&mut Context::default()),
    })
}

/// Compiles `f` for `backend`: lower, allocate, lay out the frame, emit.
pub fn compile<B: Backend>(
    backend: &B,
    flags: &crate::settings::Flags,
    f: &FunctionStencil,
    cx: &mut Context,
) -> CodegenResult<CompiledCode<Stencil>>
where
    B::Inst: Send + 'static,
{
    // NaN canonicalization and the mid-end (opt_level != none) run here,
    // once for every target, after the cache key was taken from the
    // unoptimized stencil.
    // The optimized copy is made in this context's recycled stencil, so
    // its tables are not allocated and freed per function.
    let mut stencil = std::mem::take(&mut cx.stencil);
    let optimized = crate::opt::prepare_into(flags, f, &mut stencil)?;
    let recycled: VCode<B::Inst> = Context::take(&mut cx.vcode);
    let lowered = backend.lower(if optimized { &stencil } else { f }, recycled);
    cx.stencil = stencil;
    let lowered = lowered?;
    let padding = block_padding(flags.bb_padding_log2_minus_one)?;
    let mut code = emit_lowered(backend, lowered, cx, padding)?;
    // `unwind_info=false`: the function carries no frame description (it
    // is neither registered with the JIT nor written to `.eh_frame`).
    if !flags.unwind_info {
        code.unwind.clear();
    }
    Ok(code)
}

/// The pipeline after lowering: allocation, frame layout and emission.
/// [`compile`] ends here; the toy backend of the machinst tests starts here
/// with VCode built by hand.
pub fn compile_lowered<B: Backend>(
    backend: &B,
    lowered: Lowered<B::Inst>,
    cx: &mut Context,
) -> CodegenResult<CompiledCode<Stencil>>
where
    B::Inst: Send + 'static,
{
    emit_lowered(backend, lowered, cx, 0)
}

/// Bytes of no-ops between blocks for `bb_padding_log2_minus_one = n`:
/// `1 << (n - 1)` (none for 0), as Cranelift pads to stress branch ranges
/// and islands. Above 1 << 23 bytes per block is refused by name: the code
/// of a function would not fit the buffer's 32-bit offsets for long.
pub fn block_padding(log2_minus_one: u8) -> CodegenResult<u32> {
    match log2_minus_one {
        0 => Ok(0),
        n @ 1..=24 => Ok(1 << (n - 1)),
        n => Err(CodegenError::Unsupported {
            what: format!("bb_padding_log2_minus_one={n} (at most 24: 8 MiB per block)"),
        }),
    }
}

/// [`compile_lowered`] with `padding` bytes of no-ops between blocks.
fn emit_lowered<B: Backend>(
    backend: &B,
    lowered: Lowered<B::Inst>,
    cx: &mut Context,
    padding: u32,
) -> CodegenResult<CompiledCode<Stencil>>
where
    B::Inst: Send + 'static,
{
    if padding > 0 && backend.nop_bytes().is_empty() {
        return Err(CodegenError::Unsupported {
            what: "bb_padding_log2_minus_one on a target without a no-op".into(),
        });
    }
    let Lowered {
        mut vcode,
        frame: request,
        testcase_names,
    } = lowered;
    let env = backend.machine_env();
    let output = regalloc::run(&vcode, env, &backend.regalloc_config(), &mut cx.regalloc)?;
    let frame = FrameLayout::compute(&vcode, output, &request, &B::FRAME_SHAPE)?;
    let mut buf = MachBuffer::<B::LabelUse>::new();
    // Four bytes an instruction is below the usual x86-64 average, so the
    // code rarely grows more than once and is not over-allocated much; two
    // branches a block is the usual most.
    buf.reserve(
        4 * vcode.insts().len(),
        vcode.insts().len(),
        2 * vcode.num_blocks(),
    );
    buf.reserve_labels_for_blocks(vcode.num_blocks() as u32);
    buf.register_constants(vcode.constants());
    let seq: Vec<B::Inst> = Context::take(&mut cx.seq);
    let mut sink = PipelineSink {
        backend,
        buf: &mut buf,
        state: backend.emit_state(&frame),
        seq,
        padding,
    };
    sink.seq.clear();
    backend.gen_prologue(&frame, &mut sink.seq);
    sink.emit_seq(&frame, FramePart::Prologue)?;
    vcode.emit(output, env, &frame, &mut sink)?;
    let seq = std::mem::take(&mut sink.seq);
    buf.emit_deferred_traps(backend.trap_bytes());
    let done = buf
        .finish()
        .map_err(|e| CodegenError::Emit(e.to_string()))?;
    cx.vcode = Some(Box::new(vcode));
    cx.seq = Some(Box::new(seq));
    Ok(CompiledCode::from_buffer(
        done,
        testcase_names,
        frame.total_size(),
    ))
}

/// The allocated stream into the target's encoder: labels, source
/// locations and epilogues are placed here, the same for every target.
struct PipelineSink<'a, B: Backend> {
    backend: &'a B,
    buf: &'a mut MachBuffer<B::LabelUse>,
    state: B::EmitState,
    /// Prologue/epilogue scratch list.
    seq: Vec<B::Inst>,
    /// Bytes of no-ops placed before every block but the first
    /// (`bb_padding_log2_minus_one`).
    padding: u32,
}

impl<B: Backend> PipelineSink<'_, B> {
    /// Emits and empties `seq`, recording its frame-description changes.
    fn emit_seq(&mut self, frame: &FrameLayout, part: FramePart) -> CodegenResult<()> {
        let info = EmitInfo {
            origin: EmitOrigin::Frame,
            srcloc: RelSourceLoc::default(),
            frame,
        };
        let mut ops = Vec::new();
        for i in 0..self.seq.len() {
            self.maybe_island(info.frame)?;
            self.backend
                .emit_inst(&self.seq[i], &info, &mut self.state, self.buf)?;
            self.backend
                .frame_unwind(&self.seq[i], part, frame, &mut ops);
            for op in ops.drain(..) {
                self.buf.add_unwind(op);
            }
        }
        self.seq.clear();
        Ok(())
    }

    /// Emits an island (jumped over) if the next instruction could carry a
    /// pending label use out of range.
    fn maybe_island(&mut self, frame: &FrameLayout) -> CodegenResult<()> {
        // Room for the instruction and the jump over the island.
        let distance = 2 * B::MAX_INST_BYTES;
        if !self.buf.island_needed(distance) {
            return Ok(());
        }
        let after = self.buf.get_label();
        let Some(jump) = self.backend.island_jump(after) else {
            return Ok(());
        };
        let info = EmitInfo {
            origin: EmitOrigin::Frame,
            srcloc: RelSourceLoc::default(),
            frame,
        };
        self.backend
            .emit_inst(&jump, &info, &mut self.state, self.buf)?;
        self.buf.emit_island(distance, self.backend.trap_bytes());
        self.buf.bind_label(after);
        Ok(())
    }
}

impl<B: Backend> EmitSink<B::Inst> for PipelineSink<'_, B> {
    fn elides_jump_to_next_block(&self) -> bool {
        // With padding, no-ops separate the jump from the next block and
        // the buffer keeps it.
        self.padding == 0
    }

    fn begin_block(&mut self, block: BlockIndex, frame: &FrameLayout) -> CodegenResult<()> {
        if self.padding > 0 && block.index() > 0 {
            // In chunks of at most one instruction's bound, each preceded
            // by the island check, so padding never carries a pending
            // branch out of range.
            let nop = self.backend.nop_bytes();
            let per_chunk = (B::MAX_INST_BYTES as usize / nop.len()).max(1);
            let mut left = (self.padding as usize).div_ceil(nop.len());
            while left > 0 {
                self.maybe_island(frame)?;
                let n = left.min(per_chunk);
                for _ in 0..n {
                    self.buf.put_data(nop);
                }
                left -= n;
            }
        }
        self.buf
            .bind_label(MachLabel::from_block(block.index() as u32));
        self.backend.begin_block(block, &mut self.state);
        Ok(())
    }

    // Called for every instruction and edit: inlined into the emission
    // loop, it costs no call.
    #[inline]
    fn emit(&mut self, inst: &B::Inst, info: EmitInfo<'_>) -> CodegenResult<()> {
        let epilogue = inst.is_term() == MachTerminator::Ret && B::is_epilogue_return(inst);
        if epilogue {
            // The body's description holds again after the return (the
            // next block is entered from the body).
            self.buf.add_unwind(UnwindOp::RememberState);
            self.backend.gen_epilogue(info.frame, &mut self.seq);
            self.emit_seq(info.frame, FramePart::Epilogue)?;
        }
        self.maybe_island(info.frame)?;
        let loc = info.srcloc;
        if !loc.is_default() {
            self.buf.start_srcloc(loc);
        }
        self.backend
            .emit_inst(inst, &info, &mut self.state, self.buf)?;
        if !loc.is_default() {
            self.buf.end_srcloc();
        }
        if epilogue {
            self.buf.add_unwind(UnwindOp::RestoreState);
        }
        Ok(())
    }
}
