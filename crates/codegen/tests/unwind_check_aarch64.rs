//! The aarch64 unwind checker, the counterpart of `unwind_check.rs`: for
//! every function of the wasm corpus, the runtests and Kiln's own files
//! compiled for aarch64, the unwind rows Kiln records
//! (`kiln_codegen::unwind::rows`) must describe where the frame really is
//! at every reachable instruction boundary.
//!
//! The code is decoded with yaxpeax-arm (an independent decoder; its text
//! is what the simulation reads) along the control flow from the entry
//! (direct and conditional branches, jump tables read from the code, and
//! the handlers of `try_call` sites, entered as a throw enters them). The
//! simulation tracks, in bytes below the CFA (sp at entry), where sp points
//! and which registers hold addresses in the frame, which hold their
//! caller's value (x29, x30 = the return address, x19–x28, d8–d15) and
//! whether x30's copy is signed (`paciasp`/`pacibsp` sign it with sp at the
//! CFA, `autiasp`/`autibsp` and `autia1716`/`autib1716` with x16 = CFA
//! authenticate it), and what each 8-byte stack slot holds after
//! `stp`/`str` (pre-/post-index writeback included). Loops that walk frame
//! addresses (stack probes, the argument copy of a tail call) run
//! concretely, their exit decided by the compare of two known addresses.
//! At each boundary the row in force must agree: its CFA rule must give
//! the entry CFA (also while a tail call moves sp to the callee's
//! arguments), the return address, the caller's x29 and every save must be
//! where the row says, the return address signed exactly when the row says
//! so. `ret` needs sp at or above the CFA (a `tail` callee pops its stack
//! arguments) and x29/x30 restored; a tail call needs x29/x30 restored. A
//! control test shows that wrong rows are caught.

use kiln_codegen::compiled::{CompiledCode, Stencil};
use kiln_codegen::isa::{self, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_codegen::unwind::{rows, CfaBase, CfiTarget, Row, UnwindOp};
use regalloc2::RegClass;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

mod unwind_common;
use unwind_common::{check_corpus, root};

/// (register class, hardware number) as Kiln's PReg spells it.
type Key = (u8, u8);

const INT: u8 = RegClass::Int as u8;
const FLOAT: u8 = RegClass::Float as u8;
const X16: Key = (INT, 16);
const X17: Key = (INT, 17);
const FP: Key = (INT, 29);
const LR: Key = (INT, 30);

/// What a register or an 8-byte stack slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum V {
    /// The value the register had at entry (for x30: the return address).
    Orig(Key),
    /// The return address, signed.
    SignedRa,
    /// The address CFA - n.
    Addr(i64),
    /// A known constant (`mov`/`movk` chains: large sp adjustments).
    Const(u64),
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    /// CFA - sp, when known (a probe loop moves sp by a varying amount
    /// while the CFA is on x29).
    sp: Option<i64>,
    /// Registers that no longer hold their entry value.
    regs: BTreeMap<Key, V>,
    /// 8-byte stack slots by how far below the CFA they start.
    mem: BTreeMap<i64, V>,
}

impl State {
    fn entry() -> Self {
        State {
            sp: Some(0),
            regs: BTreeMap::new(),
            mem: BTreeMap::new(),
        }
    }

    fn get(&self, k: Key) -> V {
        if k == (INT, 31) {
            return V::Const(0);
        }
        self.regs.get(&k).copied().unwrap_or(V::Orig(k))
    }

    fn set(&mut self, k: Key, v: V) {
        if k == (INT, 31) {
            return;
        }
        if v == V::Orig(k) {
            self.regs.remove(&k);
        } else {
            self.regs.insert(k, v);
        }
    }

    fn join(&self, o: &State) -> State {
        let keys: BTreeSet<Key> = self.regs.keys().chain(o.regs.keys()).copied().collect();
        let mut regs = BTreeMap::new();
        for k in keys {
            let (a, b) = (self.get(k), o.get(k));
            regs.insert(k, if a == b { a } else { V::Other });
        }
        State {
            sp: if self.sp == o.sp { self.sp } else { None },
            regs,
            mem: self
                .mem
                .iter()
                .filter(|(k, v)| o.mem.get(k) == Some(v))
                .map(|(k, v)| (*k, *v))
                .collect(),
        }
    }

    /// A store of `size` bytes at `below` (CFA - below): slots it overlaps
    /// lose their contents, an 8-byte store of `v` fills one.
    fn store(&mut self, below: i64, size: i64, v: Option<V>) {
        self.mem
            .retain(|&k, _| !(k > below - size && k < below + 8));
        if let (8, Some(v)) = (size, v) {
            self.mem.insert(below, v);
        }
    }
}

/// A register operand: its key and width in bytes (`sp` is `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Sp,
    R(Key, i64),
}

fn reg(t: &str) -> Option<Reg> {
    let t = t.trim();
    match t {
        "sp" | "wsp" => return Some(Reg::Sp),
        "xzr" => return Some(Reg::R((INT, 31), 8)),
        "wzr" => return Some(Reg::R((INT, 31), 4)),
        _ => {}
    }
    let (class, size) = match t.as_bytes().first()? {
        b'x' => (INT, 8),
        b'w' => (INT, 4),
        b'd' => (FLOAT, 8),
        b'q' | b'v' => (FLOAT, 16),
        b's' => (FLOAT, 4),
        b'h' => (FLOAT, 2),
        b'b' => (FLOAT, 1),
        _ => return None,
    };
    let digits: String = t[1..].chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u8 = digits.parse().ok()?;
    // `v8.16b` is a whole q register; `v0.d[1]` a lane (still a write).
    Some(Reg::R((class, n), size))
}

fn imm(t: &str) -> Option<i64> {
    let t = t.trim().strip_prefix('#')?;
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let v = match t.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => t.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// `$+0x10` / `$-0xc`: a PC-relative target.
fn pcrel(t: &str, off: u64) -> Option<u64> {
    let t = t.trim().strip_prefix('$')?;
    let (neg, h) = match (t.strip_prefix('+'), t.strip_prefix('-')) {
        (Some(h), _) => (false, h),
        (_, Some(h)) => (true, h),
        _ => return None,
    };
    let v = i64::from_str_radix(h.strip_prefix("0x")?, 16).ok()?;
    Some((off as i64 + if neg { -v } else { v }) as u64)
}

/// Operands split at the commas outside brackets.
fn operands(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut cur) = (0, String::new());
    for c in s.chars() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A memory operand `[base]`, `[base, #imm]`, `[base, #imm]!`: base, the
/// offset (`None` for register offsets) and pre-index writeback.
fn mem_operand(t: &str) -> Option<(Reg, Option<i64>, bool)> {
    let wb = t.ends_with('!');
    let inner = t
        .trim_end_matches('!')
        .strip_prefix('[')?
        .strip_suffix(']')?;
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    let base = reg(parts[0])?;
    let off = match parts.get(1) {
        None => Some(0),
        Some(p) => imm(p),
    };
    Some((base, off, wb))
}

fn key(p: regalloc2::PReg) -> Key {
    (p.class() as u8, p.hw_enc() as u8)
}

fn check_row(row: &Row, st: &State, off: u64) -> Result<(), String> {
    let n = i64::from(row.cfa_offset);
    let cfa = match (row.cfa_base, st.sp, st.get(FP)) {
        (CfaBase::Sp, Some(sp), _) => sp - n,
        (CfaBase::Fp, _, V::Addr(f)) => f - n,
        _ => {
            return Err(format!(
                "{off:#x}: CFA = {:?}+{n} but that register is not known ({st:?})",
                row.cfa_base
            ))
        }
    };
    let ra = match (row.ra_reg, row.ra_saved) {
        (Some(p), _) => st.get(key(p)),
        (None, Some(b)) => st
            .mem
            .get(&(cfa + i64::from(b)))
            .copied()
            .unwrap_or(V::Other),
        (None, None) => st.get(LR),
    };
    let want = if row.ra_signed {
        V::SignedRa
    } else {
        V::Orig(LR)
    };
    if ra != want {
        return Err(format!(
            "{off:#x}: return address said to be {want:?} in {:?}/at CFA-{:?}, finds {ra:?} ({st:?})",
            row.ra_reg, row.ra_saved
        ));
    }
    // The CFA is sp at entry everywhere, also while a tail call moves sp
    // to the callee's arguments (`tail`: the caller takes sp back as
    // CFA + what we pop, whoever returns to it).
    if cfa != 0 {
        return Err(format!("{off:#x}: CFA described {cfa} bytes off ({st:?})"));
    }
    match row.fp_saved {
        Some(b) => {
            let at = st.mem.get(&(cfa + i64::from(b)));
            if at != Some(&V::Orig(FP)) {
                return Err(format!(
                    "{off:#x}: caller's x29 said to be at CFA-{b}, that slot holds {at:?}"
                ));
            }
        }
        None => {
            if st.get(FP) != V::Orig(FP) {
                return Err(format!(
                    "{off:#x}: x29 said to hold the caller's value, holds {:?}",
                    st.get(FP)
                ));
            }
        }
    }
    for (p, below) in &row.saves {
        let at = st.mem.get(&(cfa + i64::from(*below)));
        if at != Some(&V::Orig(key(*p))) {
            return Err(format!(
                "{off:#x}: {p:?} said to be saved at CFA-{below}, that slot holds {at:?}"
            ));
        }
    }
    Ok(())
}

/// The value of `r` (sp as an address).
fn val(st: &State, r: Reg) -> V {
    match r {
        Reg::Sp => st.sp.map_or(V::Other, V::Addr),
        Reg::R(k, _) => st.get(k),
    }
}

fn write(st: &mut State, r: Reg, v: V) {
    match (r, v) {
        (Reg::Sp, V::Addr(n)) => st.sp = Some(n),
        // A probe loop's variable move: the row must not need sp there.
        (Reg::Sp, _) => st.sp = None,
        (Reg::R(k, 8), v) => st.set(k, v),
        (Reg::R(k, 16), V::Orig(o)) if o == k => st.set(k, v),
        (Reg::R(k, _), _) => st.set(k, V::Other),
    }
}

/// Registers a call may change (AAPCS64: x0–x18, x30, v0–v7, v16–v31).
fn clobber_call(st: &mut State) {
    for n in (0..=18).chain([30]) {
        st.set((INT, n), V::Other);
    }
    for n in (0..=7).chain(16..=31) {
        st.set((FLOAT, n), V::Other);
    }
}

/// How often a boundary is simulated with distinct states before they are
/// joined (enough for a probe loop over a 1 MiB frame).
const CONCRETE_VISITS: u32 = 300;

/// Checks `code`'s unwind information against its machine code; returns
/// the number of instruction boundaries checked.
fn check_function(code: &CompiledCode<Stencil>) -> Result<usize, String> {
    let len = code.code.len() as u64;
    let rows = rows(CfiTarget::new(Arch::Aarch64), &code.unwind, len as u32);
    let row_at = |off: u64| {
        rows.iter()
            .find(|r| u64::from(r.start) <= off && off < u64::from(r.end))
            .ok_or_else(|| format!("{off:#x}: no row"))
    };
    let decoder = InstDecoder::default();
    let decode = |off: u64| -> Result<(String, Vec<String>), String> {
        let at = off as usize;
        let bytes = code
            .code
            .get(at..at + 4)
            .ok_or_else(|| format!("{off:#x}: runs off the end of the code"))?;
        let ins = decoder
            .decode(&mut U8Reader::new(bytes))
            .map_err(|e| format!("{off:#x}: undecodable ({e:?})"))?;
        let text = ins.to_string();
        let (m, rest) = text.split_once(' ').unwrap_or((&text, ""));
        Ok((m.to_string(), operands(rest)))
    };
    let mut seen: HashMap<u64, State> = HashMap::new();
    let mut visits: HashMap<u64, u32> = HashMap::new();
    let mut concrete: HashMap<u64, State> = HashMap::new();
    let mut work: Vec<(u64, State)> = vec![(0, State::entry())];
    let mut checked = 0;
    while let Some((mut off, mut st)) = work.pop() {
        // The last `cmp wN, #n` and `adr xN, table`: a jump table's bound
        // and address.
        let mut bound: Option<u64> = None;
        let mut table: Option<u64> = None;
        // A `sub sp, sp, #n` right after a call puts back what a `tail`
        // callee popped (no net move).
        let mut after_call = false;
        let mut last_cmp: Option<bool> = None;
        // This path went through a branch that a compare decided: it runs
        // concretely (not joined) until it ends.
        let mut decided = false;
        loop {
            if off >= len {
                return Err(format!("{off:#x}: runs off the end of the code"));
            }
            // A loop walking frame addresses (a probe loop, the copy of a
            // tail call's arguments) runs concretely once a compare of two
            // known addresses decided a branch: its states are kept apart
            // from the joined ones and never joined (up to
            // `CONCRETE_VISITS` per boundary, then the path stops being
            // concrete).
            if decided {
                let n = visits.entry(off).or_insert(0);
                *n += 1;
                if *n > CONCRETE_VISITS {
                    decided = false;
                } else if concrete.get(&off) == Some(&st) {
                    break;
                } else {
                    concrete.insert(off, st.clone());
                }
            }
            if !decided {
                if let Some(old) = seen.get(&off) {
                    let joined = old.join(&st);
                    if &joined == old {
                        break;
                    }
                    st = joined;
                }
                seen.insert(off, st.clone());
            }
            check_row(row_at(off)?, &st, off)?;
            checked += 1;
            let (m, ops) = decode(off)?;
            let follows_call = std::mem::replace(&mut after_call, false);
            // `cmp a, b` of two known frame addresses, for the `b.eq` /
            // `b.ne` right after it: whether they are equal.
            let equal = last_cmp.take();
            let relocated = code.relocs.iter().any(|r| u64::from(r.offset) == off);
            let r0 = ops.first().and_then(|t| reg(t));
            let next = off + 4;
            match m.as_str() {
                "ret" => {
                    // sp at the CFA, or above it by the stack arguments a
                    // `tail` callee pops.
                    if st.sp.is_none_or(|sp| sp > 0)
                        || st.get(FP) != V::Orig(FP)
                        || st.get(LR) != V::Orig(LR)
                    {
                        return Err(format!("{off:#x}: ret with {st:?}"));
                    }
                    break;
                }
                "udf" | "brk" => break,
                "b" => {
                    let target = pcrel(&ops[0], off).ok_or_else(|| format!("{off:#x}: b"))?;
                    if relocated {
                        if st.get(FP) != V::Orig(FP) || st.get(LR) != V::Orig(LR) {
                            return Err(format!("{off:#x}: tail call with {st:?}"));
                        }
                        break;
                    }
                    off = target;
                    continue;
                }
                _ if m.starts_with("b.") => {
                    let t = pcrel(&ops[0], off).ok_or_else(|| format!("{off:#x}: {m}"))?;
                    match (m.as_str(), equal) {
                        ("b.ne", Some(false)) | ("b.eq", Some(true)) => {
                            off = t;
                            decided = true;
                            continue;
                        }
                        ("b.ne", Some(true)) | ("b.eq", Some(false)) => {}
                        _ => work.push((t, st.clone())),
                    }
                }
                "cbz" | "cbnz" | "tbz" | "tbnz" => {
                    let t =
                        pcrel(ops.last().unwrap(), off).ok_or_else(|| format!("{off:#x}: {m}"))?;
                    work.push((t, st.clone()));
                }
                "bl" | "blr" => {
                    clobber_call(&mut st);
                    after_call = true;
                    // A `try_call`: its handlers are entered by a throw with
                    // x29 restored, sp = x29 - fp_to_sp and every other
                    // register unknown (the frame's slots are intact).
                    for site in code
                        .exception_sites
                        .iter()
                        .filter(|e| u64::from(e.ret_addr) == next)
                    {
                        let V::Addr(f) = st.get(FP) else {
                            return Err(format!("{off:#x}: try_call without x29 on the frame"));
                        };
                        let mut h = st.clone();
                        for n in (0..=28).chain([30]) {
                            h.set((INT, n), V::Other);
                        }
                        for n in 0..32 {
                            h.set((FLOAT, n), V::Other);
                        }
                        h.sp = Some(f + i64::from(site.fp_to_sp));
                        for e in &site.handlers {
                            work.push((u64::from(e.handler), h.clone()));
                        }
                    }
                }
                "br" => {
                    if st.get(FP) == V::Orig(FP) && st.get(LR) == V::Orig(LR) && table.is_none() {
                        // A tail call through a register.
                        break;
                    }
                    let (Some(n), Some(t)) = (bound, table) else {
                        return Err(format!("{off:#x}: indirect jump inside the frame"));
                    };
                    let word = |at: u64| -> Result<u32, String> {
                        let b = code
                            .code
                            .get(at as usize..at as usize + 4)
                            .ok_or_else(|| format!("{off:#x}: table past the end"))?;
                        Ok(u32::from_le_bytes(b.try_into().unwrap()))
                    };
                    let bti = word(t)? == 0xd503_249f;
                    for k in 0..n {
                        if bti {
                            // `bti j; b target` pairs.
                            let at = t + 8 * k + 4;
                            let (bm, bops) = decode(at)?;
                            let target = (bm == "b")
                                .then(|| pcrel(&bops[0], at))
                                .flatten()
                                .ok_or_else(|| format!("{at:#x}: not a table branch"))?;
                            work.push((target, st.clone()));
                        } else {
                            let rel = word(t + 4 * k)? as i32;
                            work.push(((t as i64 + i64::from(rel)) as u64, st.clone()));
                        }
                    }
                    break;
                }
                "hint" => match imm(&ops[0]) {
                    Some(25 | 27) => {
                        // pac[ia|ib]sp: x30 signed with sp as the modifier.
                        if st.get(LR) != V::Orig(LR) || st.sp != Some(0) {
                            return Err(format!("{off:#x}: signing with {st:?}"));
                        }
                        st.set(LR, V::SignedRa);
                    }
                    Some(29 | 31) => {
                        if st.get(LR) != V::SignedRa || st.sp != Some(0) {
                            return Err(format!("{off:#x}: authenticating with {st:?}"));
                        }
                        st.set(LR, V::Orig(LR));
                    }
                    Some(12 | 14) => {
                        // aut[ia|ib]1716: x17 against x16.
                        if st.get(X17) != V::SignedRa || st.get(X16) != V::Addr(0) {
                            return Err(format!("{off:#x}: authenticating x17 with {st:?}"));
                        }
                        st.set(X17, V::Orig(LR));
                    }
                    // xpaclri strips x30's signature.
                    Some(7) if st.get(LR) == V::SignedRa => st.set(LR, V::Orig(LR)),
                    _ => {}
                },
                "adr" => {
                    table = pcrel(&ops[1], off);
                    if let Some(r) = r0 {
                        write(&mut st, r, V::Other);
                    }
                }
                "cmp" | "cmn" | "tst" | "ccmp" | "ccmn" | "fcmp" | "fcmpe" | "fccmp" => {
                    if m == "cmp" {
                        bound = ops.get(1).and_then(|t| imm(t)).map(|v| v as u64);
                        if let (Some(a), Some(b)) = (reg(&ops[0]), ops.get(1).and_then(|t| reg(t)))
                        {
                            if let (V::Addr(x), V::Addr(y)) = (val(&st, a), val(&st, b)) {
                                last_cmp = Some(x == y);
                            }
                        }
                    }
                }
                "mov" | "movz" | "movn" if ops.len() == 2 => {
                    let dst = r0.ok_or_else(|| format!("{off:#x}: mov to {}", ops[0]))?;
                    let v = match (reg(&ops[1]), imm(&ops[1])) {
                        (Some(src), _) => match (dst, src) {
                            (Reg::R(_, 4), _) | (_, Reg::R(_, 4)) => V::Other,
                            _ => val(&st, src),
                        },
                        (None, Some(c)) if m == "mov" || m == "movz" => V::Const(c as u64),
                        _ => V::Other,
                    };
                    write(&mut st, dst, v);
                }
                "movk" => {
                    let dst = r0.ok_or_else(|| format!("{off:#x}: movk"))?;
                    let shift = ops
                        .get(2)
                        .and_then(|s| imm(s.trim_start_matches("lsl ").trim()));
                    let v = match (val(&st, dst), imm(&ops[1])) {
                        (V::Const(c), Some(i)) => {
                            let sh = shift.unwrap_or(0) as u32;
                            V::Const((c & !(0xffff << sh)) | ((i as u64) << sh))
                        }
                        _ => V::Other,
                    };
                    write(&mut st, dst, v);
                }
                "add" | "sub" if ops.len() >= 3 => {
                    let dst = r0.ok_or_else(|| format!("{off:#x}: {m} to {}", ops[0]))?;
                    let src = reg(&ops[1]);
                    let amount = match (reg(&ops[2]), imm(&ops[2])) {
                        (None, Some(i)) => {
                            let sh = ops
                                .get(3)
                                .and_then(|s| s.strip_prefix("lsl "))
                                .and_then(imm)
                                .unwrap_or(0);
                            Some(i << sh)
                        }
                        (Some(r), _) if ops.len() == 3 || ops[3] == "uxtx" => match val(&st, r) {
                            V::Const(c) => Some(c as i64),
                            _ => None,
                        },
                        _ => None,
                    };
                    let v = match (src.map(|s| val(&st, s)), amount) {
                        (Some(V::Addr(n)), Some(a)) => {
                            V::Addr(if m == "add" { n - a } else { n + a })
                        }
                        _ => V::Other,
                    };
                    if dst == Reg::Sp && follows_call && m == "sub" {
                        // The callee popped these bytes; they come back.
                    } else {
                        write(&mut st, dst, v);
                    }
                }
                _ if m.starts_with("st") && !m.contains('x') => {
                    // str/stp/stur/strb/strh/stlr..: the stored registers
                    // come first, then the address (and a post-index).
                    let Some(mi) = ops.iter().position(|o| o.starts_with('[')) else {
                        return Err(format!("{off:#x}: {m} without an address"));
                    };
                    let (base, disp, pre) =
                        mem_operand(&ops[mi]).ok_or_else(|| format!("{off:#x}: {}", ops[mi]))?;
                    let post = ops.get(mi + 1).and_then(|t| imm(t));
                    let size = match m.as_str() {
                        "strb" | "stlrb" | "sturb" => Some(1),
                        "strh" | "stlrh" | "sturh" => Some(2),
                        _ => None,
                    };
                    let addr = match (val(&st, base), disp) {
                        (V::Addr(n), Some(d)) => {
                            Some(n - if pre || post.is_none() { d } else { 0 })
                        }
                        _ => None,
                    };
                    if let Some(mut at) = addr {
                        for o in &ops[..mi] {
                            let r = reg(o).ok_or_else(|| format!("{off:#x}: store of {o}"))?;
                            let (v, sz) = match r {
                                Reg::R(k, w) => (st.get(k), size.unwrap_or(w)),
                                Reg::Sp => (V::Other, 8),
                            };
                            st.store(at, sz, (sz == 8).then_some(v));
                            at -= sz;
                        }
                    }
                    if pre || post.is_some() {
                        let d = if pre { disp } else { post };
                        let v = match (val(&st, base), d) {
                            (V::Addr(n), Some(d)) => V::Addr(n - d),
                            _ => V::Other,
                        };
                        write(&mut st, base, v);
                    }
                }
                _ if m.starts_with("ld") && ops.iter().any(|o| o.starts_with('[')) => {
                    let mi = ops.iter().position(|o| o.starts_with('[')).unwrap();
                    let parsed = mem_operand(&ops[mi]);
                    let post = ops.get(mi + 1).and_then(|t| imm(t));
                    let plain = matches!(m.as_str(), "ldr" | "ldp" | "ldur");
                    let addr = match parsed {
                        Some((base, Some(d), pre)) => match val(&st, base) {
                            V::Addr(n) => Some(n - if pre || post.is_none() { d } else { 0 }),
                            _ => None,
                        },
                        _ => None,
                    };
                    // An atomic read-modify-write (ldadd, ...) writes its
                    // second register; everything named is treated as
                    // changed.
                    let mut at = addr;
                    for o in &ops[..mi] {
                        let Some(r) = reg(o) else { continue };
                        let v = match (at, r, plain) {
                            (Some(a), Reg::R(_, 8), true) => {
                                st.mem.get(&a).copied().unwrap_or(V::Other)
                            }
                            _ => V::Other,
                        };
                        write(&mut st, r, v);
                        let w = match r {
                            Reg::R(_, w) => w,
                            Reg::Sp => 8,
                        };
                        at = at.map(|a| a - w);
                    }
                    if let Some((base, d, pre)) = parsed {
                        if pre || post.is_some() {
                            let d = if pre { d } else { post };
                            let v = match (val(&st, base), d) {
                                (V::Addr(n), Some(d)) => V::Addr(n - d),
                                _ => V::Other,
                            };
                            write(&mut st, base, v);
                        }
                    }
                }
                _ => {
                    // Anything else writes its first register (stores and
                    // compares were handled above); exclusive stores and
                    // atomics (`stxr`, `swp`, `cas`) may write others too.
                    let all = m.starts_with("st") || m.starts_with("swp") || m.starts_with("cas");
                    for (i, o) in ops.iter().enumerate() {
                        if i > 0 && !all {
                            break;
                        }
                        match reg(o) {
                            Some(Reg::Sp) if i == 0 => {
                                return Err(format!("{off:#x}: unexpected write to sp: {m}"))
                            }
                            Some(r @ Reg::R(..)) => write(&mut st, r, V::Other),
                            _ => {}
                        }
                    }
                }
            }
            off = next;
        }
    }
    Ok(checked)
}

fn isa(probe: bool, isa_flags: &[&str]) -> Box<dyn TargetIsa> {
    let mut flags = Flags {
        preserve_frame_pointers: true,
        enable_multi_ret_implicit_sret: true,
        enable_llvm_abi_extensions: true,
        ..Flags::default()
    };
    assert!(flags.unwind_info, "unwind information is on by default");
    if probe {
        flags.set("enable_probestack", Some("true")).unwrap();
        flags.set("probestack_strategy", Some("inline")).unwrap();
    }
    let mut f = IsaFlags::baseline(Arch::Aarch64);
    for name in isa_flags {
        f.set(name, Some("true")).unwrap();
    }
    isa::lookup(flags, f).unwrap()
}

#[test]
fn aarch64_wasm_corpus_unwind_info_matches_the_code() {
    let (f, b) = check_corpus(
        &[root().join("../shared/clif/wasm-corpus")],
        &*isa(false, &[]),
        check_function,
    );
    println!("aarch64 wasm corpus: {f} functions, {b} instruction boundaries checked");
    assert!(f >= 2602, "only {f} functions checked");
}

#[test]
fn aarch64_runtests_and_own_files_unwind_info_matches_the_code() {
    let dirs = [
        root().join("../shared/clif/runtests"),
        root().join("cranelift-like-ir"),
    ];
    for (probe, flags) in [
        (false, &[][..]),
        (true, &[][..]),
        (false, &["sign_return_address"][..]),
        (
            false,
            &[
                "sign_return_address",
                "sign_return_address_with_bkey",
                "use_bti",
            ][..],
        ),
    ] {
        let (f, b) = check_corpus(&dirs, &*isa(probe, flags), check_function);
        println!("runtests + cranelift-like-ir (probes {probe}, {flags:?}): {f} functions, {b} boundaries");
        assert!(f >= 1000, "only {f} functions checked");
    }
}

/// The checker catches wrong information: each single corruption of a
/// real function's ops (an op one instruction early, a wrong size or save
/// slot, a dropped signing toggle or state restore) is reported, with and
/// without return-address signing.
#[test]
fn checker_rejects_wrong_information() {
    for flags in [&[][..], &["sign_return_address"][..]] {
        let isa = isa(false, flags);
        let f = &kiln_reader::parse_functions(unwind_common::CONTROL_FUNCTION).unwrap()[0];
        let good = isa.compile_stencil(&f.stencil).unwrap();
        check_function(&good).unwrap();
        let mut bad = Vec::new();
        for i in 0..good.unwind.len() {
            let op = good.unwind[i].op;
            // The op one instruction early.
            let mut c = good.clone();
            if c.unwind[i].offset >= 4 && !matches!(op, UnwindOp::RememberState) {
                c.unwind[i].offset -= 4;
                // Ops are in code order (a stable sort keeps the order of
                // ops at one offset).
                c.unwind.sort_by_key(|e| e.offset);
                bad.push((format!("{op:?} early"), c));
            }
            let mut c = good.clone();
            c.unwind[i].op = match op {
                UnwindOp::PushFrameRegs { size } => UnwindOp::PushFrameRegs { size: size + 16 },
                UnwindOp::DefineFrame { size } => UnwindOp::DefineFrame { size: size + 16 },
                UnwindOp::SaveReg { reg, below_cfa } => UnwindOp::SaveReg {
                    reg,
                    below_cfa: below_cfa + 8,
                },
                UnwindOp::RestoreFrameRegs { sp_to_cfa } => UnwindOp::RestoreFrameRegs {
                    sp_to_cfa: sp_to_cfa + 16,
                },
                UnwindOp::SpToCfa { sp_to_cfa } => UnwindOp::SpToCfa {
                    sp_to_cfa: sp_to_cfa + 16,
                },
                _ => continue,
            };
            bad.push((format!("{op:?} off"), c));
        }
        for dropped in [UnwindOp::RestoreState, UnwindOp::ToggleReturnAddressSigned] {
            let mut c = good.clone();
            let n = c.unwind.len();
            if let Some(k) = c.unwind.iter().position(|e| e.op == dropped) {
                c.unwind.remove(k);
            }
            if c.unwind.len() < n {
                bad.push((format!("{dropped:?} dropped"), c));
            }
        }
        assert!(bad.len() >= 8, "{flags:?}: only {} corruptions", bad.len());
        for (what, c) in &bad {
            assert!(
                check_function(c).is_err(),
                "{flags:?}: {what} not caught: {:?}",
                c.unwind
            );
        }
    }
}
