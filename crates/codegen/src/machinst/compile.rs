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
    let optimized = crate::opt::prepare(flags, f)?;
    let f = optimized.as_ref().unwrap_or(f);
    let recycled: VCode<B::Inst> = Context::take(&mut cx.vcode);
    let lowered = backend.lower(f, recycled)?;
    compile_lowered(backend, lowered, cx)
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
    let Lowered {
        mut vcode,
        frame: request,
        testcase_names,
    } = lowered;
    let env = backend.machine_env();
    let output = regalloc::run(&vcode, env, &backend.regalloc_config(), &mut cx.regalloc)?;
    let frame = FrameLayout::compute(&vcode, output, &request, &B::FRAME_SHAPE)?;
    let mut buf = MachBuffer::<B::LabelUse>::new();
    buf.reserve_labels_for_blocks(vcode.num_blocks() as u32);
    let seq: Vec<B::Inst> = Context::take(&mut cx.seq);
    let mut sink = PipelineSink {
        backend,
        buf: &mut buf,
        state: backend.emit_state(&frame),
        seq,
    };
    sink.seq.clear();
    backend.gen_prologue(&frame, &mut sink.seq);
    sink.emit_seq(&frame)?;
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
}

impl<B: Backend> PipelineSink<'_, B> {
    /// Emits and empties `seq`.
    fn emit_seq(&mut self, frame: &FrameLayout) -> CodegenResult<()> {
        let info = EmitInfo {
            origin: EmitOrigin::Frame,
            srcloc: RelSourceLoc::default(),
            frame,
        };
        for inst in &self.seq {
            self.backend
                .emit_inst(inst, &info, &mut self.state, self.buf)?;
        }
        self.seq.clear();
        Ok(())
    }
}

impl<B: Backend> EmitSink<B::Inst> for PipelineSink<'_, B> {
    fn begin_block(&mut self, block: BlockIndex, _frame: &FrameLayout) -> CodegenResult<()> {
        self.buf
            .bind_label(MachLabel::from_block(block.index() as u32));
        self.backend.begin_block(block, &mut self.state);
        Ok(())
    }

    fn emit(&mut self, inst: &B::Inst, info: EmitInfo<'_>) -> CodegenResult<()> {
        if inst.is_term() == MachTerminator::Ret && B::is_epilogue_return(inst) {
            self.backend.gen_epilogue(info.frame, &mut self.seq);
            self.emit_seq(info.frame)?;
        }
        let loc = info.srcloc;
        if !loc.is_default() {
            self.buf.start_srcloc(loc);
        }
        self.backend
            .emit_inst(inst, &info, &mut self.state, self.buf)?;
        if !loc.is_default() {
            self.buf.end_srcloc();
        }
        Ok(())
    }
}
