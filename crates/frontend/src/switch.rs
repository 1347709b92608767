//! `Switch`: a multi-way branch on an integer, built as jump tables where
//! the cases are dense and as a tree of comparisons where they are sparse.

use crate::error::BuildError;
use crate::frontend::FunctionBuilder;
use kiln_ir::{Block, IntCC, Type, Value};
use std::collections::BTreeMap;

/// The shortest run of consecutive cases that becomes a `br_table`;
/// shorter runs are compared one by one.
const MIN_TABLE: usize = 4;

/// Cases (`index -> block`) of a branch on an integer value.
///
/// ```
/// # use kiln_frontend::{FunctionBuilder, FunctionBuilderContext, Switch};
/// # use kiln_ir::{AbiParam, CallConv, Function, Signature, Type, UserFuncName};
/// # fn main() -> Result<(), kiln_frontend::BuildError> {
/// # let mut sig = Signature::new(CallConv::SystemV);
/// # sig.params.push(AbiParam::new(Type::I32));
/// # sig.returns.push(AbiParam::new(Type::I32));
/// # let mut func = Function::with_name_signature(UserFuncName::testcase("f"), sig);
/// # let mut ctx = FunctionBuilderContext::new();
/// let mut b = FunctionBuilder::new(&mut func, &mut ctx);
/// let entry = b.create_block();
/// let (zero, ten, other) = (b.create_block(), b.create_block(), b.create_block());
/// b.append_block_params_for_function_params(entry)?;
/// b.switch_to_block(entry)?;
/// let x = b.block_params(entry)[0];
/// let mut s = Switch::new();
/// s.set_entry(0, zero)?;
/// s.set_entry(10, ten)?;
/// s.emit(&mut b, x, other)?; // two comparisons: the cases are sparse
/// for (blk, v) in [(zero, 100), (ten, 110), (other, -1)] {
///     b.switch_to_block(blk)?;
///     let r = b.ins().iconst(Type::I32, v)?;
///     b.ins().return_(&[r])?;
/// }
/// b.seal_all_blocks();
/// b.finalize()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Switch {
    cases: BTreeMap<u128, Block>,
}

impl Switch {
    /// No cases.
    pub fn new() -> Self {
        Self::default()
    }

    /// Branches to `block` when the value is `index`. A second entry for
    /// one index is an error.
    pub fn set_entry(&mut self, index: u128, block: Block) -> Result<(), BuildError> {
        if self.cases.insert(index, block).is_some() {
            return Err(BuildError::SwitchCase {
                index,
                reason: "given twice".into(),
            });
        }
        Ok(())
    }

    /// The cases, by index.
    pub fn entries(&self) -> &BTreeMap<u128, Block> {
        &self.cases
    }

    /// Ends the current block with the branch: to the case's block when
    /// `val` equals an index, else to `otherwise`. Runs of at least four
    /// consecutive indices become one `br_table` each; the runs are found
    /// by a binary search of unsigned comparisons, and short runs by
    /// equality tests. Blocks it creates are sealed; the targets are not.
    /// `val` must be an integer of at most 64 bits and every index must
    /// fit its type.
    pub fn emit(
        self,
        b: &mut FunctionBuilder<'_>,
        val: Value,
        otherwise: Block,
    ) -> Result<(), BuildError> {
        b.check_value(val)?;
        let ty = b.func.stencil.dfg.value_type(val);
        if !ty.is_int() || ty.bits() > 64 {
            return Err(BuildError::UnsupportedType(ty));
        }
        if let Some((&index, _)) = self.cases.iter().next_back() {
            if ty.bits() < 128 && index >> ty.bits() != 0 {
                return Err(BuildError::SwitchCase {
                    index,
                    reason: format!("does not fit {ty}"),
                });
            }
        }
        // Runs of consecutive indices: (first index, blocks).
        let mut runs: Vec<(u64, Vec<Block>)> = Vec::new();
        for (&i, &blk) in &self.cases {
            let i = i as u64;
            match runs.last_mut() {
                Some((first, blocks)) if *first + blocks.len() as u64 == i => blocks.push(blk),
                _ => runs.push((i, vec![blk])),
            }
        }
        emit_runs(b, val, ty, &runs, otherwise)
    }
}

/// A new block reached only from the current one: switched to and sealed.
fn fresh(b: &mut FunctionBuilder<'_>) -> Block {
    b.create_block()
}

fn enter(b: &mut FunctionBuilder<'_>, blk: Block) -> Result<(), BuildError> {
    b.switch_to_block(blk)?;
    b.seal_block(blk)
}

/// Binary search over `runs` (sorted, disjoint), then each run.
fn emit_runs(
    b: &mut FunctionBuilder<'_>,
    val: Value,
    ty: Type,
    runs: &[(u64, Vec<Block>)],
    otherwise: Block,
) -> Result<(), BuildError> {
    match runs {
        [] => {
            b.ins().jump(otherwise, &[])?;
            Ok(())
        }
        [(first, blocks)] => emit_run(b, val, ty, *first, blocks, otherwise),
        _ => {
            let mid = runs.len() / 2;
            let (lo, hi) = (fresh(b), fresh(b));
            let c = b
                .ins()
                .icmp_imm(IntCC::UnsignedGreaterThanOrEqual, val, runs[mid].0 as i64)?;
            b.ins().brif(c, hi, &[], lo, &[])?;
            enter(b, lo)?;
            emit_runs(b, val, ty, &runs[..mid], otherwise)?;
            enter(b, hi)?;
            emit_runs(b, val, ty, &runs[mid..], otherwise)
        }
    }
}

/// One run of consecutive indices starting at `first`.
fn emit_run(
    b: &mut FunctionBuilder<'_>,
    val: Value,
    ty: Type,
    first: u64,
    blocks: &[Block],
    otherwise: Block,
) -> Result<(), BuildError> {
    if blocks.len() < MIN_TABLE {
        for (k, &blk) in blocks.iter().enumerate() {
            let c = b
                .ins()
                .icmp_imm(IntCC::Equal, val, first.wrapping_add(k as u64) as i64)?;
            let next = if k + 1 == blocks.len() {
                otherwise
            } else {
                fresh(b)
            };
            b.ins().brif(c, blk, &[], next, &[])?;
            if next != otherwise {
                enter(b, next)?;
            }
        }
        return Ok(());
    }
    // Rebase to 0, bound-check in the value's own width (a wide value must
    // not wrap into the table when narrowed), then index a table.
    let rel = if first == 0 {
        val
    } else {
        b.ins().iadd_imm(val, (first as i64).wrapping_neg())?
    };
    let index = match ty.bits() {
        32 => rel,
        64 => {
            let inside = fresh(b);
            let c = b
                .ins()
                .icmp_imm(IntCC::UnsignedLessThan, rel, blocks.len() as i64)?;
            b.ins().brif(c, inside, &[], otherwise, &[])?;
            enter(b, inside)?;
            b.ins().ireduce(Type::I32, rel)?
        }
        _ => b.ins().uextend(Type::I32, rel)?,
    };
    b.ins().br_table(index, otherwise, blocks)?;
    Ok(())
}
