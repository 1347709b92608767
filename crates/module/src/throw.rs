//! Kiln's throw path: `__cranelift_throw(entry_fp, exit_fp, exit_pc, tag,
//! payload1, payload2)`, the runtime that CLIF exception code calls (the
//! protocol of Cranelift's exception runtests, `throw.clif`).
//!
//! It walks the stack from the throwing frame towards the entry frame and
//! lands in the first `try_call` handler that matches `tag` (or a
//! `default:` one), with the frame pointer and stack pointer of the frame
//! that made the call restored and the payloads in the target's payload
//! registers (rax, rdx on x86-64), as `CompiledCode::exception_sites`
//! describe it. Each Kiln frame is stepped with its unwind information
//! (the rows of `kiln_codegen::unwind`: where the CFA, the caller's frame
//! pointer and the return address are at the call's return address); the
//! exit frame, which the protocol names only by its frame pointer, is
//! stepped with the frame-pointer convention (saved FP at FP, return
//! address at FP + 8).
//!
//! Registered JIT modules put their functions' tables here
//! ([`ThrowTables`]); dropping the module's registration removes them.
//! A throw that finds no handler before the entry frame prints why and
//! aborts the process (nothing can be returned to the thrower).

use kiln_codegen::compiled::{CompiledCode, ExceptionCallSite, Final};
use kiln_codegen::unwind::{rows, CfaBase, CfiTarget, Row};
use std::sync::{Arc, Mutex};

/// One function's tables at its address.
struct FuncTables {
    start: usize,
    len: usize,
    rows: Vec<Row>,
    sites: Vec<ExceptionCallSite>,
}

struct ModuleTables {
    id: u64,
    funcs: Vec<FuncTables>,
}

static REGISTRY: Mutex<Vec<Arc<ModuleTables>>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A module's functions registered with the throw path for as long as this
/// value lives.
pub struct ThrowTables {
    id: u64,
}

impl ThrowTables {
    /// Registers functions placed at absolute addresses; those without
    /// unwind information are left out (a throw cannot pass them).
    pub fn register(target: CfiTarget, functions: &[(usize, &CompiledCode<Final>)]) -> Self {
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut funcs: Vec<FuncTables> = functions
            .iter()
            .filter(|(_, c)| !c.unwind.is_empty())
            .map(|&(start, c)| FuncTables {
                start,
                len: c.code.len(),
                rows: rows(target, &c.unwind, c.code.len() as u32),
                sites: c.exception_sites.clone(),
            })
            .collect();
        funcs.sort_by_key(|f| f.start);
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        reg.push(Arc::new(ModuleTables { id, funcs }));
        ThrowTables { id }
    }
}

impl Drop for ThrowTables {
    fn drop(&mut self) {
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        reg.retain(|m| m.id != self.id);
    }
}

/// Where a throw lands: the handler's address and the frame to restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Landing {
    /// The handler's address.
    pub pc: usize,
    /// The stack pointer of the frame that made the call.
    pub sp: usize,
    /// That frame's frame pointer.
    pub fp: usize,
}

/// Why a walk found no handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoHandler {
    /// The entry frame was reached.
    ReachedEntry,
    /// A frame that is not Kiln code with unwind information.
    UnknownFrame {
        /// Its program counter.
        pc: usize,
    },
    /// A Kiln frame whose CFA is not on the frame pointer at the call.
    NotFpBased {
        /// Its program counter.
        pc: usize,
    },
}

/// Reads a word of the stack being walked.
///
/// # Safety
/// `addr` must be a readable, aligned stack word.
unsafe fn word(addr: usize) -> usize {
    // SAFETY: guaranteed by the caller (addresses inside live frames).
    unsafe { std::ptr::read(addr as *const usize) }
}

/// Finds the handler for `tag`, walking from the exit frame (frame pointer
/// `exit_fp`, pc `exit_pc`) to the entry frame (`entry_fp`).
///
/// # Safety
/// The frames from `exit_fp` up to `entry_fp` must be live frames of this
/// thread that keep frame pointers (Kiln's always do).
pub unsafe fn find_handler(
    entry_fp: usize,
    exit_fp: usize,
    exit_pc: usize,
    tag: u32,
) -> Result<Landing, NoHandler> {
    let tables: Vec<Arc<ModuleTables>> = REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let lookup = |pc: usize| {
        tables.iter().find_map(|m| {
            let i = m.funcs.partition_point(|f| f.start <= pc);
            let f = m.funcs.get(i.checked_sub(1)?)?;
            (pc < f.start + f.len).then_some(f)
        })
    };
    let (mut pc, mut fp) = (exit_pc, exit_fp);
    let mut first = true;
    loop {
        match lookup(pc) {
            Some(f) => {
                let off = (pc - f.start) as u32;
                if let Some(site) = f.sites.iter().find(|s| s.ret_addr == off) {
                    let hit = site
                        .handlers
                        .iter()
                        .find(|h| h.tag.is_none_or(|t| t == tag));
                    if let Some(h) = hit {
                        return Ok(Landing {
                            pc: f.start + h.handler as usize,
                            sp: fp - site.fp_to_sp as usize,
                            fp,
                        });
                    }
                }
                if fp == entry_fp {
                    return Err(NoHandler::ReachedEntry);
                }
                // The row of the call instruction (just before the return
                // address).
                let at = off.saturating_sub(1);
                let row = f
                    .rows
                    .iter()
                    .find(|r| r.start <= at && at < r.end)
                    .ok_or(NoHandler::UnknownFrame { pc })?;
                if row.cfa_base != CfaBase::Fp {
                    return Err(NoHandler::NotFpBased { pc });
                }
                let cfa = fp.wrapping_add_signed(row.cfa_offset as isize);
                let ra = row.ra_saved.ok_or(NoHandler::NotFpBased { pc })?;
                let saved_fp = row.fp_saved.ok_or(NoHandler::NotFpBased { pc })?;
                // SAFETY: the row says where this live frame keeps the
                // return address and the caller's frame pointer.
                unsafe {
                    pc = word(cfa - ra as usize);
                    fp = word(cfa - saved_fp as usize);
                }
            }
            None if first => {
                if fp == entry_fp {
                    return Err(NoHandler::ReachedEntry);
                }
                // The exit frame: the frame-pointer convention.
                // SAFETY: `fp` is the thrower's live frame pointer.
                unsafe {
                    pc = word(fp + 8);
                    fp = word(fp);
                }
            }
            None => return Err(NoHandler::UnknownFrame { pc }),
        }
        first = false;
    }
}

/// Continues at `landing` with the payloads in rax and rdx.
///
/// # Safety
/// `landing` must come from [`find_handler`] for frames still live.
#[cfg(target_arch = "x86_64")]
unsafe fn resume(landing: Landing, payload1: u64, payload2: u64) -> ! {
    // SAFETY: the handler expects exactly this state: rsp and rbp of the
    // frame that made the call, the payloads in rax/rdx, every other
    // register clobbered. The Rust frames below are abandoned; nothing in
    // them needs dropping (the caller released its lock).
    unsafe {
        std::arch::asm!(
            "mov rsp, rcx",
            "mov rbp, rdi",
            "jmp rsi",
            in("rcx") landing.sp,
            in("rdi") landing.fp,
            in("rsi") landing.pc,
            in("rax") payload1,
            in("rdx") payload2,
            options(noreturn)
        )
    }
}

/// The throwing runtime of Cranelift's exception runtests (see the module
/// docs). Never returns: it lands in a handler or aborts.
///
/// # Safety
/// Called by generated code with its own frame pointer as `exit_fp` and the
/// frame pointer of an enclosing frame as `entry_fp`.
#[cfg(target_arch = "x86_64")]
pub unsafe extern "C" fn kiln_throw(
    entry_fp: usize,
    exit_fp: usize,
    exit_pc: usize,
    tag: u32,
    payload1: u64,
    payload2: u64,
) -> ! {
    // SAFETY: the caller passes live frame pointers of this thread.
    match unsafe { find_handler(entry_fp, exit_fp, exit_pc, tag) } {
        // SAFETY: the landing was just computed for these live frames.
        Ok(landing) => unsafe { resume(landing, payload1, payload2) },
        Err(why) => {
            eprintln!("kiln: exception with tag {tag} has no handler: {why:?}");
            std::process::abort()
        }
    }
}

/// The symbol CLIF code calls to throw.
pub const THROW_SYMBOL: &str = "__cranelift_throw";
