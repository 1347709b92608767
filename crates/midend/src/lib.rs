//! Kiln's mid-end: target-independent optimization of a `FunctionStencil`.
//!
//! Owns: the optimization pipeline run when `opt_level` is not `none`
//! ([`optimize`]): global value numbering with rule-based simplification
//! (the rules are in `isle-rules/opts/`, compiled by this crate's
//! `build.rs`), constant branch and trap folding, redundant-load
//! elimination and store-to-load forwarding by alias region,
//! unreachable-block removal, dead-code elimination, loop-invariant code
//! motion, loop rotation and constant rematerialization. `docs/optimizer.md` describes the
//! design and its measurements.
//!
//! Must never: change what a function computes (including which trap it
//! raises and when), read `FunctionParameters` (it sees stencils only, so
//! the cache key taken before it stays valid), depend on a target, or loop
//! without bound (the rules run under fuel and a depth limit).

mod cleanup;
mod ivsr;
mod licm;
mod remat;
mod rotate;
mod simplify;
mod unroll;

use kiln_ir::dominator_tree::DominatorTree;
use kiln_ir::flowgraph::ControlFlowGraph;
use kiln_ir::FunctionStencil;
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// The analyses the passes share: the control-flow graph and dominator
/// tree of the function being optimized, plus the GVN pass's scratch
/// tables. One per thread, kept from one function to the next so their
/// allocations are reused (`compute` and `clear` keep capacity); which
/// pass may reuse the graph and tree another pass computed is decided in
/// [`optimize`].
#[derive(Default)]
pub(crate) struct Analyses {
    pub(crate) cfg: ControlFlowGraph,
    pub(crate) dt: DominatorTree,
    pub(crate) gvn: simplify::Scratch,
    pub(crate) dce: cleanup::DceScratch,
    pub(crate) remat: remat::RematScratch,
    pub(crate) rotate: rotate::RotateScratch,
}

impl Analyses {
    /// Recomputes the graph and the tree for `func`.
    pub(crate) fn compute(&mut self, func: &FunctionStencil) {
        self.cfg.compute(func);
        self.dt.compute(func, &self.cfg);
    }
}

thread_local! {
    static ANALYSES: RefCell<Analyses> = RefCell::new(Analyses::default());
}

/// What the mid-end may do.
#[derive(Clone, Copy, Debug)]
pub struct OptOptions {
    /// Eliminate redundant loads and forward stores to loads, using alias
    /// regions (`enable_alias_analysis`).
    pub alias_analysis: bool,
    /// Rule fuel per function: `fuel_base + fuel_per_inst * instructions`.
    /// Each rule run on a value spends one; at zero the rules stop (the
    /// function stays correct, only less simplified). With the depth limit
    /// on nested rewrites this bounds the rules' work whatever they say.
    pub fuel_base: u32,
    pub fuel_per_inst: u32,
    /// Strength-reduce induction-variable arithmetic in loops (`ivsr.rs`).
    pub strength_reduction: bool,
    /// Unroll small single-block loops by two (`unroll.rs`); off when
    /// optimizing for size too.
    pub unroll: bool,
}

impl Default for OptOptions {
    fn default() -> Self {
        OptOptions {
            alias_analysis: true,
            fuel_base: 10_000,
            fuel_per_inst: 4,
            strength_reduction: true,
            unroll: true,
        }
    }
}

/// Counters and per-pass times of one run.
#[derive(Clone, Debug, Default)]
pub struct OptStats {
    /// Values replaced by a rule's result.
    pub simplified: u32,
    /// Instructions replaced by an equal dominating one.
    pub gvn_hits: u32,
    /// Loads replaced by an earlier load or a stored value.
    pub loads_removed: u32,
    /// Branches and conditional traps decided at compile time.
    pub branches_folded: u32,
    /// Conditional traps dominated by an identical one.
    pub traps_removed: u32,
    pub blocks_removed: u32,
    pub dead_removed: u32,
    pub hoisted: u32,
    /// Induction-variable expressions turned into variables of their own.
    pub strength_reduced: u32,
    /// Loops turned from top-tested into bottom-tested.
    pub rotated: u32,
    /// Single-block loops unrolled by two.
    pub unrolled: u32,
    pub rematerialized: u32,
    /// Whether the rules ran out of fuel (the function is still correct,
    /// just less simplified).
    pub fuel_exhausted: bool,
    /// Time spent in each pass, in pipeline order.
    pub times: Vec<(&'static str, Duration)>,
}

/// Optimizes `func` in place.
pub fn optimize(func: &mut FunctionStencil, opts: &OptOptions) -> OptStats {
    let mut stats = OptStats::default();
    if func.layout.entry_block().is_none() {
        return stats;
    }
    let time = |name: &'static str, stats: &mut OptStats, t: Instant| {
        stats.times.push((name, t.elapsed()));
    };
    // Taken out of the thread-local for the run (a re-entrant call, which
    // nothing makes, would just start from empty tables).
    let mut an = ANALYSES.with(|a| std::mem::take(&mut *a.borrow_mut()));
    let t = Instant::now();
    let unreachable = simplify::run(func, opts, &mut stats, &mut an);
    time("gvn+rules", &mut stats, t);
    let t = Instant::now();
    // `an` describes the function's control flow until a pass changes a
    // terminator or the block layout. GVN changes terminators only when it
    // folds a branch or a trap; DCE never removes a terminator.
    let mut analyses_fresh = true;
    if unreachable || stats.branches_folded > 0 {
        cleanup::remove_unreachable(func, &mut stats, &mut an);
        analyses_fresh = false;
    }
    cleanup::dce(func, &mut stats, &mut an.dce);
    time("dce", &mut stats, t);
    let t = Instant::now();
    // LICM leaves `an` describing the function it returns (its hoisting
    // and strength reduction move instructions and add block arguments,
    // never edges).
    let has_loops = licm::run(func, opts, &mut stats, &mut an, analyses_fresh);
    if stats.strength_reduced > 0 {
        // The replaced chains are dead; rotation copies what stays in headers.
        cleanup::dce(func, &mut stats, &mut an.dce);
    }
    time("licm", &mut stats, t);
    let t = Instant::now();
    if has_loops {
        rotate::run(func, &mut stats, &mut an);
    }
    time("rotate", &mut stats, t);
    let t = Instant::now();
    if has_loops && opts.unroll {
        unroll::run(func, &mut stats);
    }
    time("unroll", &mut stats, t);
    let t = Instant::now();
    // Hoisting and rematerialization leave originals without uses: remat
    // ends with dead-code elimination.
    remat::run(func, &mut stats, &mut an.remat, &mut an.dce);
    time("remat", &mut stats, t);
    ANALYSES.with(|a| *a.borrow_mut() = an);
    stats
}

/// Returns an optimized copy of `func`.
pub fn optimized(func: &FunctionStencil, opts: &OptOptions) -> (FunctionStencil, OptStats) {
    // The passes add instructions (rules, remat, rotation): a copy with
    // room to grow avoids copying the tables again on the first addition.
    let mut f = func.clone_with_headroom();
    let stats = optimize(&mut f, opts);
    (f, stats)
}

/// Makes `dst` an optimized copy of `func`, reusing `dst`'s storage: a
/// caller that keeps one `dst` per thread copies each stencil without
/// allocating its tables again. Same result as [`optimized`].
pub fn optimize_into(
    func: &FunctionStencil,
    opts: &OptOptions,
    dst: &mut FunctionStencil,
) -> OptStats {
    func.copy_into_with_headroom(dst);
    optimize(dst, opts)
}
