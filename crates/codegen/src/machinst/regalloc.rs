//! Running regalloc2 on a [`VCode`].
//!
//! [`run`] allocates with a target-supplied `MachineEnv`, reusing a
//! [`RegallocContext`] (regalloc2's `Ctx`, whose buffers survive from one
//! function to the next), optionally checks the result with regalloc2's
//! symbolic checker, and maps every failure to
//! [`CodegenError::Regalloc`].

use super::inst::MachInst;
use super::vcode::VCode;
use crate::result::{CodegenError, CodegenResult};
use regalloc2::{Algorithm, MachineEnv, Output, RegallocOptions};

/// How to run the register allocator.
#[derive(Clone, Copy, Debug)]
pub struct RegallocConfig {
    /// Ion (backtracking, better code) or Fastalloc (single pass).
    pub algorithm: Algorithm,
    /// Run regalloc2's checker on the result (slow; on in tests).
    pub run_checker: bool,
    /// Have regalloc2 validate SSA form first.
    pub validate_ssa: bool,
}

impl Default for RegallocConfig {
    fn default() -> Self {
        RegallocConfig {
            algorithm: Algorithm::Ion,
            run_checker: false,
            validate_ssa: cfg!(debug_assertions),
        }
    }
}

/// Register allocator state kept across functions.
#[derive(Default)]
pub struct RegallocContext {
    ctx: regalloc2::Ctx,
}

impl RegallocContext {
    /// The output of the last successful [`run`].
    pub fn output(&self) -> &Output {
        &self.ctx.output
    }
}

/// Allocates registers for `vcode`. The result lives in `ctx` until the
/// next run.
pub fn run<'c, I: MachInst>(
    vcode: &VCode<I>,
    env: &MachineEnv,
    config: &RegallocConfig,
    ctx: &'c mut RegallocContext,
) -> CodegenResult<&'c Output> {
    let options = RegallocOptions {
        verbose_log: false,
        validate_ssa: config.validate_ssa,
        algorithm: config.algorithm,
    };
    regalloc2::run_with_ctx(vcode, env, &options, &mut ctx.ctx)
        .map_err(|e| CodegenError::Regalloc(e.to_string()))?;
    let output = &ctx.ctx.output;
    if config.run_checker {
        check(vcode, env, output)?;
    }
    Ok(output)
}

/// Runs regalloc2's checker: does `output` keep every operand's value and
/// constraint?
pub fn check<I: MachInst>(
    vcode: &VCode<I>,
    env: &MachineEnv,
    output: &Output,
) -> CodegenResult<()> {
    let mut checker = regalloc2::checker::Checker::new(vcode, env);
    checker.prepare(output);
    checker
        .run()
        .map_err(|e| CodegenError::Regalloc(format!("checker: {e:?}")))
}
