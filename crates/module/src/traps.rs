//! Running JIT code so that a trap or fault returns an error instead of
//! killing the process.
//!
//! # Design
//!
//! Generated code traps with `ud2` (SIGILL); integer division may raise
//! SIGFPE; loads and stores through bad addresses raise SIGSEGV/SIGBUS.
//! Every call into JIT code goes through [`call_protected`]:
//!
//! 1. A small assembly entry stub, `kiln_module_jit_enter`, saves the
//!    callee-saved registers on the Rust stack, stores its stack pointer in a
//!    thread-local slot, and calls the trampoline.
//! 2. Process-wide handlers for SIGILL, SIGFPE, SIGSEGV and SIGBUS (installed
//!    once, `SA_SIGINFO | SA_ONSTACK`) look at the faulting thread's
//!    thread-local call state. If a protected call is active on this thread
//!    and the faulting PC lies inside the JIT code range it registered, the
//!    handler records the PC and signal, rewrites the interrupted context's
//!    RIP to `kiln_module_jit_trap_landing` and RSP to the saved stack
//!    pointer, and returns. The kernel's `rt_sigreturn` then resumes in the
//!    landing pad, which restores the callee-saved registers and returns 1
//!    from the entry stub. The signal mask is restored by `rt_sigreturn` as
//!    well, so no `sigsetjmp`/`siglongjmp` (which Rust cannot express
//!    soundly) is involved.
//! 3. A memory fault (SIGSEGV/SIGBUS) *outside* the JIT code range is ours
//!    too when a protected call is active on the thread and the interrupted
//!    stack pointer lies below the entry stub's saved stack pointer: the
//!    faulting code was reached from the protected call (a libcall that ran
//!    into the guard page, a `call_indirect` through a null or bogus
//!    pointer). It is abandoned the same way. For a jump to a bad address
//!    (fault address = PC) the return address on top of the stack, pushed
//!    by the faulting call, names the JIT call site. The handler runs on an
//!    alternate signal stack, which [`call_protected`] installs for the
//!    thread if it has none, so a fault on the guard page can be handled.
//! 4. Any other fault is passed on to the handler that was installed before
//!    ours (for example Rust's stack-overflow handler), or, if there was none,
//!    the default action is restored so the fault kills the process as usual.
//!
//! JIT frames own no resources, so abandoning them is sound. Abandoning a
//! callee outside JIT code (case 3) is sound for Kiln's libcalls (pure
//! arithmetic and `mem*`, which hold no locks or allocations); an external
//! Rust function called from JIT code must not fault while it holds one.
//! The frames of the entry stub and of Rust callers above it are untouched.

use std::cell::Cell;
use std::sync::OnceLock;

/// A fault inside JIT code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Address of the faulting instruction.
    pub pc: usize,
    /// The signal number (SIGILL, SIGFPE, SIGSEGV or SIGBUS).
    pub signal: i32,
    /// The faulting data address (SIGSEGV/SIGBUS), else 0.
    pub addr: usize,
    /// The stack pointer at the fault.
    pub sp: usize,
    /// Whether the PC was inside the protected JIT code range; if not, the
    /// fault happened in code called from it (a libcall, a bad call target).
    pub in_jit: bool,
    /// For a fault outside JIT code whose PC is the fault address (a call
    /// or jump to a bad address): the return address on top of the stack,
    /// i.e. the JIT call site when it was a call; else 0.
    pub return_addr: usize,
}

impl Fault {
    /// Whether this looks like a stack overflow: a memory fault within
    /// 64 KiB of the stack pointer (a push or frame store into the guard
    /// page).
    pub fn is_stack_overflow(&self) -> bool {
        const WINDOW: usize = 64 << 10;
        matches!(self.signal, libc::SIGSEGV | libc::SIGBUS)
            && self.addr.wrapping_add(WINDOW) >= self.sp
            && self.addr <= self.sp.wrapping_add(WINDOW)
    }

    /// Whether this is an instruction fetch from an unmapped or
    /// non-executable address outside JIT code: control reached a bad
    /// address (a call through a null or bogus pointer).
    pub fn is_bad_jump(&self) -> bool {
        !self.in_jit && matches!(self.signal, libc::SIGSEGV | libc::SIGBUS) && self.addr == self.pc
    }
}

/// Why a protected call could not run or did not finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The code faulted; the call was abandoned.
    Fault(Fault),
    /// The signal handlers could not be installed.
    Setup(String),
    /// This host cannot run JIT code.
    UnsupportedHost,
}

/// The name of a signal, for messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

/// Per-thread state of the innermost protected call.
struct CallState {
    active: Cell<bool>,
    lo: Cell<usize>,
    hi: Cell<usize>,
    saved_sp: Cell<usize>,
    fault_pc: Cell<usize>,
    fault_sig: Cell<i32>,
    fault_addr: Cell<usize>,
    fault_sp: Cell<usize>,
    fault_in_jit: Cell<bool>,
    fault_ret: Cell<usize>,
}

thread_local! {
    // Const-initialized and without a destructor: access needs no lazy
    // registration, so reading it from a synchronous signal handler on the
    // same thread is sound.
    static STATE: CallState = const {
        CallState {
            active: Cell::new(false),
            lo: Cell::new(0),
            hi: Cell::new(0),
            saved_sp: Cell::new(0),
            fault_pc: Cell::new(0),
            fault_sig: Cell::new(0),
            fault_addr: Cell::new(0),
            fault_sp: Cell::new(0),
            fault_in_jit: Cell::new(false),
            fault_ret: Cell::new(0),
        }
    };
}

/// An alternate signal stack Kiln installed for this thread, unmapped (after
/// being disabled) when the thread exits.
struct AltStack {
    base: *mut libc::c_void,
    len: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.base.is_null() {
            return;
        }
        // SAFETY: disabling the thread's alternate stack (SS_DISABLE with no
        // new stack) is always valid; the mapping was made by `ensure_alt_stack`
        // for exactly `len` bytes and nothing else refers to it once disabled.
        unsafe {
            let ss = libc::stack_t {
                ss_sp: std::ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            libc::sigaltstack(&ss, std::ptr::null_mut());
            libc::munmap(self.base, self.len);
        }
    }
}

thread_local! {
    // Not touched by the signal handler (it has a destructor).
    static ALT_STACK: std::cell::RefCell<Option<AltStack>> = const { std::cell::RefCell::new(None) };
}

/// Makes sure this thread has an alternate signal stack, so that the handler
/// can run when the fault is a stack overflow (Rust's threads have one; a
/// thread made by C code may not).
fn ensure_alt_stack() -> Result<(), String> {
    ALT_STACK.with(|slot| {
        if slot.borrow().is_some() {
            return Ok(());
        }
        // SAFETY: querying the current alternate stack into a valid stack_t.
        let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above; a null new stack only queries.
        if unsafe { libc::sigaltstack(std::ptr::null(), &mut cur) } != 0 {
            return Err(format!("sigaltstack: {}", std::io::Error::last_os_error()));
        }
        if cur.ss_flags & libc::SS_DISABLE == 0 {
            // Someone (Rust's runtime) already installed one; keep it.
            *slot.borrow_mut() = Some(AltStack {
                base: std::ptr::null_mut(),
                len: 0,
            });
            return Ok(());
        }
        let len = (libc::SIGSTKSZ).max(64 << 10);
        // SAFETY: a fresh private anonymous read-write mapping.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!(
                "alternate signal stack: {}",
                std::io::Error::last_os_error()
            ));
        }
        let ss = libc::stack_t {
            ss_sp: base,
            ss_flags: 0,
            ss_size: len,
        };
        // SAFETY: `ss` describes the mapping just made, which stays mapped
        // until `AltStack::drop` disables it first.
        if unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) } != 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: the mapping is unused.
            unsafe { libc::munmap(base, len) };
            return Err(format!("sigaltstack: {e}"));
        }
        *slot.borrow_mut() = Some(AltStack { base, len });
        Ok(())
    })
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl kiln_module_jit_enter",
    ".hidden kiln_module_jit_enter",
    ".type kiln_module_jit_enter,@function",
    // (rdi = trampoline, rsi = callee, rdx = values, rcx = &saved_sp) -> eax
    "kiln_module_jit_enter:",
    "push rbp",
    "mov rbp, rsp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    // Entry RSP is 8 mod 16; six pushes and this make it 0 mod 16.
    "sub rsp, 8",
    "mov [rcx], rsp",
    "mov rax, rdi",
    "mov rdi, rsi",
    "mov rsi, rdx",
    "call rax",
    "xor eax, eax",
    ".Lkiln_module_jit_exit:",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size kiln_module_jit_enter, .-kiln_module_jit_enter",
    ".p2align 4",
    ".globl kiln_module_jit_trap_landing",
    ".hidden kiln_module_jit_trap_landing",
    ".type kiln_module_jit_trap_landing,@function",
    // Reached from the signal handler with RSP = the saved stack pointer.
    "kiln_module_jit_trap_landing:",
    "mov eax, 1",
    "jmp .Lkiln_module_jit_exit",
    ".size kiln_module_jit_trap_landing, .-kiln_module_jit_trap_landing",
);

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
extern "sysv64" {
    fn kiln_module_jit_enter(
        trampoline: *const u8,
        callee: *const u8,
        values: *mut u128,
        saved_sp: *mut usize,
    ) -> u32;
    fn kiln_module_jit_trap_landing();
}

const SIGNALS: [libc::c_int; 4] = [libc::SIGILL, libc::SIGFPE, libc::SIGSEGV, libc::SIGBUS];

/// The handlers that were installed before ours, per signal.
struct Previous([(libc::c_int, libc::sigaction); 4]);

// SAFETY: `libc::sigaction` is plain data (a handler address, a mask and
// flags); it is written once before publication and only read afterwards.
unsafe impl Sync for Previous {}
// SAFETY: as above.
unsafe impl Send for Previous {}

static PREVIOUS: OnceLock<Result<Previous, String>> = OnceLock::new();

/// Installs the fault handlers once per process.
pub fn install_handlers() -> Result<(), String> {
    match PREVIOUS.get_or_init(install) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.clone()),
    }
}

fn install() -> Result<Previous, String> {
    // SAFETY: an all-zero `sigaction` is a valid value (SIG_DFL, empty mask).
    let zero: libc::sigaction = unsafe { std::mem::zeroed() };
    let mut prev = [(0, zero); 4];
    for (slot, &sig) in prev.iter_mut().zip(SIGNALS.iter()) {
        // SAFETY: as above.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = handler as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `act.sa_mask` is a valid sigset_t to initialize.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        let mut old = zero;
        // SAFETY: both pointers refer to valid, initialized sigaction values;
        // `handler` has the three-argument signature SA_SIGINFO requires.
        let r = unsafe { libc::sigaction(sig, &act, &mut old) };
        if r != 0 {
            return Err(format!(
                "sigaction({}) failed: {}",
                signal_name(sig),
                std::io::Error::last_os_error()
            ));
        }
        *slot = (sig, old);
    }
    Ok(Previous(prev))
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let addr = if info.is_null() || !matches!(sig, libc::SIGSEGV | libc::SIGBUS) {
        0
    } else {
        // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t; for
        // SIGSEGV and SIGBUS its address field is set.
        unsafe { (*info).si_addr() as usize }
    };
    if redirect_to_landing(sig, addr, ctx) {
        return;
    }
    chain(sig, info, ctx);
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn redirect_to_landing(sig: libc::c_int, addr: usize, ctx: *mut libc::c_void) -> bool {
    if ctx.is_null() {
        return false;
    }
    let uc = ctx as *mut libc::ucontext_t;
    // SAFETY: with SA_SIGINFO the kernel passes a valid `ucontext_t` for the
    // interrupted context as the third argument; we are its only user while
    // the handler runs.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    let pc = gregs[libc::REG_RIP as usize] as usize;
    let sp = gregs[libc::REG_RSP as usize] as usize;
    STATE
        .try_with(|s| {
            if !s.active.get() {
                return false;
            }
            let in_jit = pc >= s.lo.get() && pc < s.hi.get();
            // Outside JIT code, only memory faults reached from the protected
            // call (the stack is below the entry stub's) are ours.
            let reached_from_call =
                sp < s.saved_sp.get() && matches!(sig, libc::SIGSEGV | libc::SIGBUS);
            if !(in_jit || reached_from_call) {
                return false;
            }
            let mut ret = 0;
            if !in_jit && addr == pc && sp.is_multiple_of(8) {
                // SAFETY: control jumped to a bad address; `sp` is below the
                // entry stub's stack pointer, on this thread's stack, and the
                // word at `sp` was just written by the faulting call (or is a
                // live word of the JIT frame for a jump), so it is mapped.
                ret = unsafe { std::ptr::read_volatile(sp as *const usize) };
            }
            s.fault_pc.set(pc);
            s.fault_sig.set(sig);
            s.fault_addr.set(addr);
            s.fault_sp.set(sp);
            s.fault_in_jit.set(in_jit);
            s.fault_ret.set(ret);
            // Only one fault per call: a fault in the landing path (which is
            // outside the range anyway) must not loop.
            s.active.set(false);
            gregs[libc::REG_RIP as usize] =
                kiln_module_jit_trap_landing as *const () as usize as i64;
            gregs[libc::REG_RSP as usize] = s.saved_sp.get() as i64;
            true
        })
        .unwrap_or(false)
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn redirect_to_landing(_sig: libc::c_int, _addr: usize, _ctx: *mut libc::c_void) -> bool {
    false
}

/// Passes a fault that is not ours to the previous handler, or restores the
/// default action so that returning re-raises it fatally.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let prev = match PREVIOUS.get() {
        Some(Ok(p)) => p.0.iter().find(|(s, _)| *s == sig).map(|(_, a)| *a),
        _ => None,
    };
    match prev {
        Some(a) if a.sa_sigaction != libc::SIG_DFL && a.sa_sigaction != libc::SIG_IGN => {
            if a.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was registered with
                // SA_SIGINFO, so its address is a three-argument handler.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(a.sa_sigaction) };
                f(sig, info, ctx);
            } else {
                // SAFETY: without SA_SIGINFO the address is a one-argument
                // handler.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(a.sa_sigaction) };
                f(sig);
            }
        }
        _ => {
            // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask;
            // sigaction is async-signal-safe. Returning re-executes the
            // faulting instruction, which now takes the default action.
            unsafe {
                let dfl: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
}

/// Calls `trampoline(callee, values)` with faults inside `code_range`
/// turned into [`CallError::Fault`].
///
/// # Safety
///
/// `trampoline` must point to executable code with the System V signature
/// `extern "sysv64" fn(*const u8, *mut u128)` that calls `callee` with
/// arguments read from `values` and writes its results back there; `values`
/// must be valid for every slot the trampoline reads and writes;
/// `code_range` must cover only JIT code that owns no resources (its frames
/// are abandoned on a fault) and must stay mapped during the call.
pub unsafe fn call_protected(
    code_range: std::ops::Range<usize>,
    trampoline: *const u8,
    callee: *const u8,
    values: *mut u128,
) -> Result<(), CallError> {
    // SAFETY: the caller's contract is this function's, for one call.
    unsafe { call_protected_repeat(code_range, trampoline, callee, values, 1, || {}) }
}

/// Calls `trampoline(callee, values)` `reps` times inside one protected
/// region, running `before` before each call (a benchmark batch: `before`
/// restores the argument slots). The thread's call state is set up once
/// for the batch instead of once per call; the entry stub still saves the
/// stack pointer on every call, so a fault in any call of the batch lands
/// as it does for [`call_protected`] and ends the batch with
/// [`CallError::Fault`].
///
/// # Safety
///
/// As for [`call_protected`], for every call; `before` must leave `values`
/// valid for the trampoline.
pub unsafe fn call_protected_repeat<F: FnMut()>(
    code_range: std::ops::Range<usize>,
    trampoline: *const u8,
    callee: *const u8,
    values: *mut u128,
    reps: u64,
    mut before: F,
) -> Result<(), CallError> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        install_handlers().map_err(CallError::Setup)?;
        ensure_alt_stack().map_err(CallError::Setup)?;
        let (prev, sp_slot) = STATE.with(|s| {
            let prev = (s.active.get(), s.lo.get(), s.hi.get(), s.saved_sp.get());
            s.lo.set(code_range.start);
            s.hi.set(code_range.end);
            s.active.set(true);
            (prev, s.saved_sp.as_ptr())
        });
        let mut r = 0;
        for _ in 0..reps {
            before();
            // SAFETY: the caller guarantees the trampoline contract; the
            // entry stub preserves every callee-saved register and the stack
            // pointer, also when it returns through the landing pad;
            // `sp_slot` points to this thread's state, which outlives the
            // call.
            r = unsafe { kiln_module_jit_enter(trampoline, callee, values, sp_slot) };
            if r != 0 {
                break;
            }
        }
        let fault = STATE.with(|s| {
            let f = Fault {
                pc: s.fault_pc.get(),
                signal: s.fault_sig.get(),
                addr: s.fault_addr.get(),
                sp: s.fault_sp.get(),
                in_jit: s.fault_in_jit.get(),
                return_addr: s.fault_ret.get(),
            };
            s.active.set(prev.0);
            s.lo.set(prev.1);
            s.hi.set(prev.2);
            s.saved_sp.set(prev.3);
            f
        });
        if r == 0 {
            Ok(())
        } else {
            Err(CallError::Fault(fault))
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = (code_range, trampoline, callee, values, reps, &mut before);
        Err(CallError::UnsupportedHost)
    }
}
