//! Binary emission of x86-64 instructions.
//!
//! Every instruction is built from a few encoding helpers:
//! `emit_modrm_op` (legacy prefixes, REX, opcode bytes, ModRM/SIB and
//! displacement, RIP-relative label fixups) and `emit_opcode_reg` (opcodes
//! with the register in the low three bits), plus immediates. Encodings
//! follow the Intel SDM, volume 2.

use super::args::*;
use super::inst::*;
use crate::machinst::buffer::{CodeOffset, LabelUse, MachBuffer, MachLabel, Reloc};
use crate::machinst::reg::Reg;
use smallvec::{smallvec, SmallVec};

/// Label-use kinds on x86-64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum X64LabelUse {
    /// A 1-byte displacement relative to the end of the byte (`jmp rel8`).
    JmpRel8,
    /// A 4-byte displacement relative to the start of the field, plus the
    /// addend already stored in the field (`-4` for a field at the end of
    /// the instruction, `-4 - n` when `n` immediate bytes follow it).
    PCRel32,
}

impl LabelUse for X64LabelUse {
    const ALIGN: CodeOffset = 1;
    fn max_pos_range(self) -> CodeOffset {
        match self {
            X64LabelUse::JmpRel8 => 128,
            X64LabelUse::PCRel32 => 0x7fff_ffff,
        }
    }
    fn max_neg_range(self) -> CodeOffset {
        match self {
            X64LabelUse::JmpRel8 => 127,
            X64LabelUse::PCRel32 => 0x8000_0000,
        }
    }
    fn patch_size(self) -> CodeOffset {
        match self {
            X64LabelUse::JmpRel8 => 1,
            X64LabelUse::PCRel32 => 4,
        }
    }
    fn patch(self, buffer: &mut [u8], use_offset: CodeOffset, label_offset: CodeOffset) {
        let pc_rel = label_offset.wrapping_sub(use_offset);
        match self {
            X64LabelUse::JmpRel8 => {
                if let Some(b) = buffer.first_mut() {
                    *b = pc_rel.wrapping_sub(1) as u8;
                }
            }
            X64LabelUse::PCRel32 => {
                if let Some(field) = buffer.get_mut(0..4) {
                    let addend = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
                    field.copy_from_slice(&pc_rel.wrapping_add(addend).to_le_bytes());
                }
            }
        }
    }
    fn shrink_branch(self, branch: &[u8]) -> Option<(SmallVec<[u8; 8]>, CodeOffset, Self)> {
        if self != X64LabelUse::PCRel32 {
            return None;
        }
        match branch {
            // jmp rel32 => jmp rel8
            [0xe9, _, _, _, _] => Some((smallvec![0xeb, 0], 1, X64LabelUse::JmpRel8)),
            // jcc rel32 => jcc rel8
            [0x0f, op, _, _, _, _] if op & 0xf0 == 0x80 => {
                Some((smallvec![0x70 | (op & 0xf), 0], 1, X64LabelUse::JmpRel8))
            }
            _ => None,
        }
    }
}

/// The bytes of `ud2`, the trapping instruction (for
/// `MachBuffer::emit_deferred_traps`).
pub const UD2: [u8; 2] = [0x0f, 0x0b];

/// The probe sequences of [`MInst::StackProbe`]. Right after `mov rbp,
/// rsp`, for a frame of `frame` bytes and pages of `guard` bytes (both
/// below 2 GiB; `guard` a power of two, `frame >= guard`):
///
/// - `Unrolled`: `mov dword [rsp - k*guard], 0` for k = 1..=frame/guard,
///   top page first, so the first store that reaches the guard page faults;
/// - `Loop`: `mov r11, rsp; sub r11, n*guard; 1: sub rsp, guard; mov dword
///   [rsp], 0; cmp rsp, r11; jne 1b; mov rsp, rbp` (rsp moves with the
///   probe, so nothing is stored below it);
/// - `Outline`: `mov eax, frame; call __kiln_probestack` (the callee
///   touches the pages below its caller's rsp and preserves every register
///   but r11).
pub fn emit_stack_probe(
    buf: &mut MachBuffer<X64LabelUse>,
    frame: u32,
    guard: u32,
    kind: ProbeKind,
) {
    let pages = frame / guard.max(1);
    match kind {
        ProbeKind::Unrolled => {
            for k in 1..=pages {
                let disp = (k as i64 * guard as i64).min(i32::MAX as i64) as i32;
                // C7 /0 with [rsp + disp32] (SIB base rsp), imm32 0.
                buf.put_data(&[0xc7, 0x84, 0x24]);
                buf.put4((-disp) as u32);
                buf.put4(0);
            }
        }
        ProbeKind::Loop => {
            let total = pages.saturating_mul(guard);
            // mov r11, rsp
            buf.put_data(&[0x4c, 0x8b, 0xdc]);
            // sub r11, imm32
            buf.put_data(&[0x49, 0x81, 0xeb]);
            buf.put4(total);
            // 1: sub rsp, imm32
            buf.put_data(&[0x48, 0x81, 0xec]);
            buf.put4(guard);
            // mov dword [rsp], 0
            buf.put_data(&[0xc7, 0x04, 0x24, 0, 0, 0, 0]);
            // cmp rsp, r11
            buf.put_data(&[0x4c, 0x39, 0xdc]);
            // jne 1b: back over the 19 bytes of the loop.
            buf.put_data(&[0x75, (-19i8) as u8]);
            // mov rsp, rbp
            buf.put_data(&[0x48, 0x89, 0xec]);
        }
        ProbeKind::Outline => {
            // mov eax, imm32
            buf.put1(0xb8);
            buf.put4(frame);
            // call rel32 to the probe function.
            buf.put1(0xe8);
            buf.add_reloc(
                Reloc::X86CallPCRel4,
                crate::machinst::buffer::RelocTarget::LibCall(kiln_ir::LibCall::Probestack),
                -4,
            );
            buf.put4(0);
        }
    }
}

/// Function-level facts emission needs beyond the instruction itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitState {
    /// Bytes per regalloc2 spill slot.
    pub spillslot_bytes: u32,
    /// Offset from rsp of spill slot 0 (0 with the VCode layer's frame
    /// picture, where the spill area is at the bottom of the frame).
    pub spill_base: i32,
    /// Bytes from rbp down to rsp after the prologue (for exception sites).
    pub frame_size: u32,
    /// The ISA has AVX (`has_avx`): the XMM moves, loads, stores, compares,
    /// GPR<->XMM moves and conversions and `round` take their VEX encoding
    /// (same operation, no legacy-SSE/VEX mixing in scalar float code), and
    /// `cvtsi2ss`/`cvtsi2sd` zero their destination first (`vxorps`) so the
    /// merge into its upper lanes depends on nothing earlier.
    pub avx: bool,
}

impl Default for EmitState {
    fn default() -> Self {
        EmitState {
            spillslot_bytes: 8,
            spill_base: 0,
            frame_size: 0,
            avx: false,
        }
    }
}

impl EmitState {
    /// `[rsp + spill_base + slot * spillslot_bytes]`.
    pub fn spill_slot_amode(&self, slot: u32) -> Amode {
        let off = self.spill_base as i64 + slot as i64 * self.spillslot_bytes as i64;
        // Frames are far below 2 GiB (the frame layout reports larger ones
        // as errors before emission).
        debug_assert!(i32::try_from(off).is_ok());
        let off = off.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        Amode::imm_reg(off, super::regs::rsp())
    }
}

/// The hardware encoding of an allocated register.
fn enc(r: Reg) -> u8 {
    debug_assert!(r.is_real(), "emitting a virtual register {r:?}");
    r.to_real_reg().map_or(0, |p| p.hw_enc() as u8) & 15
}

/// The r/m operand of a ModRM-encoded instruction.
#[derive(Clone, Copy)]
enum Rm<'a> {
    /// A register (hardware encoding).
    Reg(u8),
    Mem(&'a Amode),
}

impl<'a> Rm<'a> {
    fn of(rm: &'a RegMem) -> Rm<'a> {
        match rm {
            RegMem::Reg(r) => Rm::Reg(enc(*r)),
            RegMem::Mem(a) => Rm::Mem(a),
        }
    }
}

/// Encoding parameters of one ModRM instruction.
#[derive(Clone, Copy)]
struct Op<'o> {
    /// Legacy prefixes (lock, 66, F2/F3), in order.
    prefixes: &'o [u8],
    /// REX.W.
    w: bool,
    /// Opcode bytes (including 0F / 0F 3A escapes): `opcode[..opcode_len]`.
    opcode: [u8; 3],
    opcode_len: u8,
    /// The register operand(s) are 8-bit: spl/bpl/sil/dil need a REX prefix.
    byte_regs: bool,
    /// Only the r/m operand is 8-bit (movzx/movsx from a byte register).
    byte_rm_only: bool,
    /// Whether the ModRM.reg field holds a register (vs. an opcode digit).
    reg_is_reg: bool,
}

const P66: &[u8] = &[0x66];
const NOPFX: &[u8] = &[];

fn size_prefix(size: OperandSize) -> &'static [u8] {
    if size == OperandSize::Size16 {
        P66
    } else {
        NOPFX
    }
}

/// Emits `prefixes REX opcode ModRM [SIB] [disp]`. `reg` is the ModRM.reg
/// field (a register encoding or an opcode digit). `imm_bytes` is the size
/// of the immediate the caller emits right after (needed for RIP-relative
/// displacements, which are relative to the end of the instruction).
fn emit_modrm_op(
    buf: &mut MachBuffer<X64LabelUse>,
    st: &EmitState,
    op: Op<'_>,
    reg: u8,
    rm: Rm<'_>,
    imm_bytes: u8,
) {
    if let Rm::Mem(Amode::SpillSlot { slot }) = rm {
        let resolved = st.spill_slot_amode(*slot);
        return emit_modrm_op(buf, st, op, reg, Rm::Mem(&resolved), imm_bytes);
    }
    buf.put_data(op.prefixes);
    // REX: 0100WRXB.
    let mut rex = 0u8;
    if op.w {
        rex |= 8;
    }
    if reg & 8 != 0 {
        rex |= 4;
    }
    let mut force = op.byte_regs && op.reg_is_reg && !op.byte_rm_only && (4..8).contains(&reg);
    match rm {
        Rm::Reg(r) => {
            if r & 8 != 0 {
                rex |= 1;
            }
            force |= op.byte_regs && (4..8).contains(&r);
        }
        Rm::Mem(Amode::ImmReg { base, .. }) => {
            if enc(*base) & 8 != 0 {
                rex |= 1;
            }
        }
        Rm::Mem(Amode::ImmRegRegShift { base, index, .. }) => {
            if enc(*base) & 8 != 0 {
                rex |= 1;
            }
            if enc(*index) & 8 != 0 {
                rex |= 2;
            }
        }
        Rm::Mem(Amode::RipRelative { .. } | Amode::Constant(_) | Amode::SpillSlot { .. }) => {}
    }
    if rex != 0 || force {
        buf.put1(0x40 | rex);
    }
    buf.put_data(&op.opcode[..op.opcode_len as usize]);
    put_modrm(buf, reg, rm, imm_bytes);
}

/// Emits `ModRM [SIB] [disp]` for `reg` and a resolved r/m operand (the
/// part after the prefixes and opcode, shared by the legacy and VEX forms).
fn put_modrm(buf: &mut MachBuffer<X64LabelUse>, reg: u8, rm: Rm<'_>, imm_bytes: u8) {
    let reg3 = (reg & 7) << 3;
    match rm {
        Rm::Reg(r) => buf.put1(0xc0 | reg3 | (r & 7)),
        Rm::Mem(Amode::ImmReg { simm32, base, .. }) => {
            let b = enc(*base);
            let (mode, disp) = disp_mode(*simm32, b);
            if b & 7 == 4 {
                // rsp/r12 as base need a SIB byte (index = none).
                buf.put1(mode | reg3 | 4);
                buf.put1((4 << 3) | (b & 7));
            } else {
                buf.put1(mode | reg3 | (b & 7));
            }
            put_disp(buf, disp, *simm32);
        }
        Rm::Mem(Amode::ImmRegRegShift {
            simm32,
            base,
            index,
            shift,
            ..
        }) => {
            let (b, i) = (enc(*base), enc(*index));
            debug_assert!(i != 4, "rsp cannot be an index register");
            let (mode, disp) = disp_mode(*simm32, b);
            buf.put1(mode | reg3 | 4);
            buf.put1(((shift & 3) << 6) | ((i & 7) << 3) | (b & 7));
            put_disp(buf, disp, *simm32);
        }
        Rm::Mem(Amode::RipRelative { target }) => {
            buf.put1(reg3 | 5);
            put_rip_disp(buf, *target, imm_bytes);
        }
        Rm::Mem(Amode::SpillSlot { .. }) => {
            // Resolved at the top of this function.
            debug_assert!(false, "unresolved spill slot");
        }
        Rm::Mem(Amode::Constant(c)) => {
            buf.put1(reg3 | 5);
            // An unregistered constant gets a fresh label that is never
            // bound, which `finish` reports as an error.
            let target = match buf.get_label_for_constant(*c) {
                Some(l) => l,
                None => {
                    debug_assert!(false, "constant {c:?} not registered");
                    buf.get_label()
                }
            };
            put_rip_disp(buf, target, imm_bytes);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Disp {
    None,
    D8,
    D32,
}

/// ModRM.mod and displacement size for `[base + disp]`: rbp/r13 as base
/// cannot use mod=00 (that means RIP/disp32-only), so they get a disp8 of 0.
fn disp_mode(disp: i32, base: u8) -> (u8, Disp) {
    if disp == 0 && base & 7 != 5 {
        (0x00, Disp::None)
    } else if i8::try_from(disp).is_ok() {
        (0x40, Disp::D8)
    } else {
        (0x80, Disp::D32)
    }
}

fn put_disp(buf: &mut MachBuffer<X64LabelUse>, d: Disp, v: i32) {
    match d {
        Disp::None => {}
        Disp::D8 => buf.put1(v as u8),
        Disp::D32 => buf.put4(v as u32),
    }
}

fn put_rip_disp(buf: &mut MachBuffer<X64LabelUse>, target: MachLabel, imm_bytes: u8) {
    let off = buf.cur_offset();
    buf.use_label_at_offset(off, target, X64LabelUse::PCRel32);
    buf.put4((-4i32 - imm_bytes as i32) as u32);
}

/// Emits `prefixes REX opcode+reg` (push, pop, bswap, mov r, imm).
fn emit_opcode_reg(
    buf: &mut MachBuffer<X64LabelUse>,
    prefixes: &[u8],
    w: bool,
    opcode: &[u8],
    reg: u8,
) {
    buf.put_data(prefixes);
    let rex = if w { 8 } else { 0 } | if reg & 8 != 0 { 1 } else { 0 };
    if rex != 0 {
        buf.put1(0x40 | rex);
    }
    if let Some((last, init)) = opcode.split_last() {
        buf.put_data(init);
        buf.put1(last | (reg & 7));
    }
}

/// Emits an immediate of `bytes` bytes (1, 2 or 4).
fn put_imm(buf: &mut MachBuffer<X64LabelUse>, bytes: u8, v: i32) {
    match bytes {
        1 => buf.put1(v as u8),
        2 => buf.put2(v as u16),
        _ => buf.put4(v as u32),
    }
}

/// Size of the full-width immediate of an operation (imm16 for 16-bit ops,
/// imm32 sign-extended for 64-bit ones).
fn imm_bytes(size: OperandSize) -> u8 {
    match size {
        OperandSize::Size8 => 1,
        OperandSize::Size16 => 2,
        _ => 4,
    }
}

fn is_w(size: OperandSize) -> bool {
    size == OperandSize::Size64
}

fn is8(size: OperandSize) -> bool {
    size == OperandSize::Size8
}

/// A ModRM op with the register in ModRM.reg.
fn op_r<'o>(prefixes: &'o [u8], w: bool, opcode: &[u8], byte_regs: bool) -> Op<'o> {
    let mut o = op_d(prefixes, w, opcode, byte_regs);
    o.reg_is_reg = true;
    o
}

/// A ModRM op with a full-width register in ModRM.reg and an 8-bit r/m.
fn op_rm8(w: bool, opcode: &[u8]) -> Op<'static> {
    let mut o = op_r(NOPFX, w, opcode, true);
    o.byte_rm_only = true;
    o
}

/// A ModRM op with an opcode digit in ModRM.reg.
fn op_d<'o>(prefixes: &'o [u8], w: bool, opcode: &[u8], byte_regs: bool) -> Op<'o> {
    debug_assert!(!opcode.is_empty() && opcode.len() <= 3);
    let mut bytes = [0u8; 3];
    let n = opcode.len().min(3);
    bytes[..n].copy_from_slice(&opcode[..n]);
    Op {
        prefixes,
        w,
        opcode: bytes,
        opcode_len: n as u8,
        byte_regs,
        byte_rm_only: false,
        reg_is_reg: false,
    }
}

fn jmp(buf: &mut MachBuffer<X64LabelUse>, target: MachLabel) {
    let start = buf.cur_offset();
    buf.put1(0xe9);
    buf.use_label_at_offset(start + 1, target, X64LabelUse::PCRel32);
    buf.put4(-4i32 as u32);
    buf.add_uncond_branch(start, start + 5, target);
}

fn jcc(buf: &mut MachBuffer<X64LabelUse>, cc: CC, target: MachLabel) {
    let start = buf.cur_offset();
    buf.put_data(&[0x0f, 0x80 | cc.enc()]);
    buf.use_label_at_offset(start + 2, target, X64LabelUse::PCRel32);
    buf.put4(-4i32 as u32);
    let mut inv = [0x0f, 0x80 | cc.invert().enc(), 0, 0, 0, 0];
    inv[2..].copy_from_slice(&(-4i32).to_le_bytes());
    buf.add_cond_branch(start, start + 6, target, &inv);
}

impl MInst {
    /// The trap code of the memory operand of this instruction, if any.
    fn mem_trap(&self) -> Option<kiln_ir::TrapCode> {
        let rm = |r: &RegMem| match r {
            RegMem::Mem(a) => a.trap_code(),
            RegMem::Reg(_) => None,
        };
        let rmi = |r: &RegMemImm| match r {
            RegMemImm::Mem(a) => a.trap_code(),
            _ => None,
        };
        match self {
            MInst::AluRmiR { src2, .. } | MInst::CmpRmiR { src2, .. } => rmi(src2),
            MInst::Push64 { src } => rmi(src),
            MInst::AluRM { addr, .. }
            | MInst::AluMI { addr, .. }
            | MInst::Xchg { addr, .. }
            | MInst::LockCmpxchg { addr, .. }
            | MInst::LockXadd { addr, .. } => addr.trap_code(),
            MInst::Mov64MR { src, .. } => src.trap_code(),
            MInst::MovRM { dst, .. } | MInst::MovImmM { dst, .. } | MInst::XmmStore { dst, .. } => {
                dst.trap_code()
            }
            MInst::Imul { src2, .. }
            | MInst::MulWide { src2, .. }
            | MInst::XmmRmR { src2, .. }
            | MInst::XmmRmRVex { src2, .. }
            | MInst::XmmCmp { src2, .. } => rm(src2),
            MInst::ImulImm { src, .. }
            | MInst::MovzxRmR { src, .. }
            | MInst::MovsxRmR { src, .. }
            | MInst::BitCount { src, .. }
            | MInst::XmmMovRM { src, .. }
            | MInst::XmmRound { src, .. }
            | MInst::GprToXmm { src, .. }
            | MInst::XmmToGpr { src, .. }
            | MInst::XmmPinsrw { src, .. } => rm(src),
            MInst::Cmove { consequent, .. } => rm(consequent),
            MInst::JmpUnknown { target } | MInst::CallUnknown { target, .. } => rm(target),
            MInst::LockCmpxchg16b(a) => a.addr.trap_code(),
            _ => None,
        }
    }

    /// Emits the instruction with the default [`EmitState`] (8-byte spill
    /// slots at `rsp + 8 * n`). See [`MInst::emit_with_state`].
    pub fn emit(&self, buf: &mut MachBuffer<X64LabelUse>) {
        self.emit_with_state(buf, &EmitState::default());
    }

    /// Emits the instruction. All registers must be physical (after
    /// allocation); operands constrained to be equal (reused) must be.
    /// Records traps (at the instruction's first byte), relocations and call
    /// sites in `buf`, and registers branches for the buffer's peepholes.
    /// `st` resolves spill-slot addresses.
    pub fn emit_with_state(&self, buf: &mut MachBuffer<X64LabelUse>, st: &EmitState) {
        if st.avx {
            if let MInst::GprToXmm {
                op: GprToXmmOp::Cvtsi2ss | GprToXmmOp::Cvtsi2sd,
                dst,
                ..
            } = self
            {
                // Before the trap record: a faulting memory source faults
                // at the conversion, not here.
                emit_vxorps_zero(buf, st, enc(dst.to_reg()));
            }
        }
        match self {
            MInst::Div { trap, .. } => buf.add_trap(*trap),
            MInst::Ud2 { code } => buf.add_trap(*code),
            _ => {
                if let Some(code) = self.mem_trap() {
                    buf.add_trap(code);
                }
            }
        }
        match self {
            MInst::AluRmiR {
                size,
                op,
                src1,
                src2,
                dst,
            } => {
                debug_assert_eq!(*src1, dst.to_reg());
                alu_rmi(buf, st, *size, op.digit(), enc(dst.to_reg()), src2);
            }
            MInst::AluRM {
                size,
                op,
                src,
                addr,
            } => {
                let opc = op.digit() * 8 + if is8(*size) { 0 } else { 1 };
                let o = op_r(size_prefix(*size), is_w(*size), &[opc], is8(*size));
                emit_modrm_op(buf, st, o, enc(*src), Rm::Mem(addr), 0);
            }
            MInst::AluMI {
                size,
                op,
                imm,
                addr,
            } => {
                // 80 /digit ib (8-bit), 83 /digit ib (sign-extended), 81
                // /digit iw/id: as `alu_rmi`'s immediate forms, on memory.
                let (pfx, w) = (size_prefix(*size), is_w(*size));
                if is8(*size) {
                    emit_modrm_op(
                        buf,
                        st,
                        op_d(pfx, w, &[0x80], false),
                        op.digit(),
                        Rm::Mem(addr),
                        1,
                    );
                    buf.put1(*imm as u8);
                } else if i8::try_from(*imm).is_ok() {
                    emit_modrm_op(
                        buf,
                        st,
                        op_d(pfx, w, &[0x83], false),
                        op.digit(),
                        Rm::Mem(addr),
                        1,
                    );
                    buf.put1(*imm as u8);
                } else {
                    let n = imm_bytes(*size);
                    emit_modrm_op(
                        buf,
                        st,
                        op_d(pfx, w, &[0x81], false),
                        op.digit(),
                        Rm::Mem(addr),
                        n,
                    );
                    put_imm(buf, n, *imm);
                }
            }
            MInst::CmpRmiR {
                size,
                op: CmpOp::Cmp,
                src1,
                src2,
            } => alu_rmi(buf, st, *size, 7, enc(*src1), src2),
            MInst::CmpRmiR {
                size,
                op: CmpOp::Test,
                src1,
                src2,
            } => {
                let b8 = is8(*size);
                let pfx = size_prefix(*size);
                let w = is_w(*size);
                match src2 {
                    RegMemImm::Imm(i) => {
                        let o = op_d(pfx, w, &[if b8 { 0xf6 } else { 0xf7 }], b8);
                        emit_modrm_op(buf, st, o, 0, Rm::Reg(enc(*src1)), 0);
                        put_imm(buf, imm_bytes(*size), *i);
                    }
                    RegMemImm::Reg(r) => {
                        let o = op_r(pfx, w, &[if b8 { 0x84 } else { 0x85 }], b8);
                        emit_modrm_op(buf, st, o, enc(*r), Rm::Reg(enc(*src1)), 0);
                    }
                    RegMemImm::Mem(a) => {
                        let o = op_r(pfx, w, &[if b8 { 0x84 } else { 0x85 }], b8);
                        emit_modrm_op(buf, st, o, enc(*src1), Rm::Mem(a), 0);
                    }
                }
            }
            MInst::Imul {
                size,
                src1,
                src2,
                dst,
            } => {
                debug_assert_eq!(*src1, dst.to_reg());
                let o = op_r(size_prefix(*size), is_w(*size), &[0x0f, 0xaf], false);
                emit_modrm_op(buf, st, o, enc(dst.to_reg()), Rm::of(src2), 0);
            }
            MInst::ImulImm {
                size,
                src,
                imm,
                dst,
            } => {
                // No 8-bit form: the low byte of a 32-bit product is the same.
                let size = &if is8(*size) {
                    OperandSize::Size32
                } else {
                    *size
                };
                let pfx = size_prefix(*size);
                if i8::try_from(*imm).is_ok() {
                    emit_modrm_op(
                        buf,
                        st,
                        op_r(pfx, is_w(*size), &[0x6b], false),
                        enc(dst.to_reg()),
                        Rm::of(src),
                        1,
                    );
                    buf.put1(*imm as u8);
                } else {
                    let n = imm_bytes(*size).max(2);
                    emit_modrm_op(
                        buf,
                        st,
                        op_r(pfx, is_w(*size), &[0x69], false),
                        enc(dst.to_reg()),
                        Rm::of(src),
                        n,
                    );
                    put_imm(buf, n, *imm);
                }
            }
            MInst::MulWide {
                size, signed, src2, ..
            } => {
                let o = op_d(
                    size_prefix(*size),
                    is_w(*size),
                    &[if is8(*size) { 0xf6 } else { 0xf7 }],
                    is8(*size),
                );
                emit_modrm_op(buf, st, o, if *signed { 5 } else { 4 }, Rm::of(src2), 0);
            }
            MInst::Div {
                size,
                signed,
                divisor,
                ..
            } => {
                let o = op_d(
                    size_prefix(*size),
                    is_w(*size),
                    &[if is8(*size) { 0xf6 } else { 0xf7 }],
                    is8(*size),
                );
                emit_modrm_op(buf, st, o, if *signed { 7 } else { 6 }, Rm::of(divisor), 0);
            }
            MInst::SignExtendData { size, .. } => match size {
                OperandSize::Size8 => buf.put_data(&[0x66, 0x98]),
                OperandSize::Size16 => buf.put_data(&[0x66, 0x99]),
                OperandSize::Size32 => buf.put1(0x99),
                OperandSize::Size64 => buf.put_data(&[0x48, 0x99]),
            },
            MInst::Unary { size, op, src, dst } => {
                debug_assert_eq!(*src, dst.to_reg());
                let o = op_d(
                    size_prefix(*size),
                    is_w(*size),
                    &[if is8(*size) { 0xf6 } else { 0xf7 }],
                    is8(*size),
                );
                let digit = if *op == UnaryOp::Neg { 3 } else { 2 };
                emit_modrm_op(buf, st, o, digit, Rm::Reg(enc(dst.to_reg())), 0);
            }
            MInst::Shift {
                size,
                kind,
                src,
                amount,
                dst,
            } => {
                debug_assert_eq!(*src, dst.to_reg());
                let b8 = is8(*size);
                let rm = Rm::Reg(enc(dst.to_reg()));
                match amount {
                    ShiftAmount::Cl(_) => {
                        let o = op_d(
                            size_prefix(*size),
                            is_w(*size),
                            &[if b8 { 0xd2 } else { 0xd3 }],
                            b8,
                        );
                        emit_modrm_op(buf, st, o, kind.digit(), rm, 0);
                    }
                    ShiftAmount::Imm(n) => {
                        let o = op_d(
                            size_prefix(*size),
                            is_w(*size),
                            &[if b8 { 0xc0 } else { 0xc1 }],
                            b8,
                        );
                        emit_modrm_op(buf, st, o, kind.digit(), rm, 1);
                        buf.put1(*n);
                    }
                }
            }
            MInst::ShiftX {
                size,
                kind,
                src,
                amount,
                dst,
            } => {
                // VEX.LZ.{66 shlx, F2 shrx, F3 sarx}.0F38.W0/W1 F7 /r:
                // ModRM.reg = dst, ModRM.rm = src, vvvv = the count.
                let vex = Vex::scalar_gpr(kind.vex_pp(), 2, *size);
                emit_vex_rr(buf, vex, 0xf7, enc(dst.to_reg()), enc(*amount), enc(*src));
            }
            // ---- BMI1/BMI2: VEX.LZ, map 0F 38 (0F 3A for rorx), W by size ----
            MInst::BmiUnary { size, op, src, dst } => {
                // VEX.LZ.0F38.W0/W1 F3 /digit: vvvv = dst, ModRM.rm = src.
                let vex = Vex::scalar_gpr(0, 2, *size);
                emit_vex_rr(buf, vex, 0xf3, op.digit(), enc(dst.to_reg()), enc(*src));
            }
            MInst::Andn {
                size,
                src1,
                src2,
                dst,
            } => {
                // VEX.LZ.0F38.W0/W1 F2 /r: reg = dst, vvvv = the inverted
                // operand, rm = the other.
                let vex = Vex::scalar_gpr(0, 2, *size);
                emit_vex_rr(buf, vex, 0xf2, enc(dst.to_reg()), enc(*src1), enc(*src2));
            }
            MInst::Bzhi {
                size,
                src,
                index,
                dst,
            } => {
                // VEX.LZ.0F38.W0/W1 F5 /r: reg = dst, rm = src, vvvv = index.
                let vex = Vex::scalar_gpr(0, 2, *size);
                emit_vex_rr(buf, vex, 0xf5, enc(dst.to_reg()), enc(*index), enc(*src));
            }
            MInst::Rorx {
                size,
                src,
                imm,
                dst,
            } => {
                // VEX.LZ.F2.0F3A.W0/W1 F0 /r ib: reg = dst, rm = src, vvvv
                // unused (1111, which `emit_vex_rr` writes for 0).
                let vex = Vex::scalar_gpr(3, 3, *size);
                emit_vex_rr(buf, vex, 0xf0, enc(dst.to_reg()), 0, enc(*src));
                buf.put1(*imm);
            }
            MInst::MulxHi {
                size,
                src1,
                src2,
                dst,
            } => {
                debug_assert_eq!(enc(*src1), super::regs::enc::RDX);
                // VEX.LZ.F2.0F38.W0/W1 F6 /r: reg = high half, vvvv = low
                // half (the same register: only the high half stays), rm =
                // the multiplier; rdx is the implicit multiplicand.
                let vex = Vex::scalar_gpr(3, 2, *size);
                let d = enc(dst.to_reg());
                emit_vex_rr(buf, vex, 0xf6, d, d, enc(*src2));
            }
            // ---- end of BMI1/BMI2 ----
            MInst::Lea { size, addr, dst } => {
                let w = *size != OperandSize::Size32;
                emit_modrm_op(
                    buf,
                    st,
                    op_r(NOPFX, w, &[0x8d], false),
                    enc(dst.to_reg()),
                    Rm::Mem(addr),
                    0,
                );
            }
            MInst::LeaScaled {
                size,
                index,
                shift,
                dst,
            } => {
                // REX.W 8D /r with ModRM mod=00 rm=100 (a SIB byte follows)
                // and SIB base=101: no base, a disp32 (zero) instead.
                debug_assert!(*shift <= 3);
                let (d, x) = (enc(dst.to_reg()), enc(*index));
                debug_assert_ne!(x, 4, "rsp cannot be an index");
                let rex = 0x40
                    | (u8::from(*size != OperandSize::Size32) << 3)
                    | ((d >> 3) << 2)
                    | ((x >> 3) << 1);
                if rex != 0x40 {
                    buf.put1(rex);
                }
                buf.put1(0x8d);
                buf.put1(((d & 7) << 3) | 0b100);
                buf.put1((*shift << 6) | ((x & 7) << 3) | 0b101);
                buf.put4(0);
            }
            MInst::MovRR { size, src, dst } => {
                let w = *size == OperandSize::Size64;
                emit_modrm_op(
                    buf,
                    st,
                    op_r(NOPFX, w, &[0x89], false),
                    enc(*src),
                    Rm::Reg(enc(dst.to_reg())),
                    0,
                );
            }
            MInst::ZeroReg { dst } if dst.to_reg().class() == regalloc2::RegClass::Float => {
                let d = enc(dst.to_reg());
                if st.avx {
                    emit_vxorps_zero(buf, st, d);
                } else {
                    emit_modrm_op(
                        buf,
                        st,
                        op_r(NOPFX, false, &[0x0f, 0x57], false),
                        d,
                        Rm::Reg(d),
                        0,
                    );
                }
            }
            MInst::ZeroReg { dst } => {
                let d = enc(dst.to_reg());
                emit_modrm_op(
                    buf,
                    st,
                    op_r(NOPFX, false, &[0x31], false),
                    d,
                    Rm::Reg(d),
                    0,
                );
            }
            MInst::MovImm { size, imm, dst } => {
                let d = enc(dst.to_reg());
                if *size != OperandSize::Size64 || *imm <= u32::MAX as u64 {
                    emit_opcode_reg(buf, NOPFX, false, &[0xb8], d);
                    buf.put4(*imm as u32);
                } else if let Ok(s) = i32::try_from(*imm as i64) {
                    emit_modrm_op(buf, st, op_d(NOPFX, true, &[0xc7], false), 0, Rm::Reg(d), 4);
                    buf.put4(s as u32);
                } else {
                    emit_opcode_reg(buf, NOPFX, true, &[0xb8], d);
                    buf.put8(*imm);
                }
            }
            MInst::MovzxRmR { ext, src, dst } | MInst::MovsxRmR { ext, src, dst } => {
                let signed = matches!(self, MInst::MovsxRmR { .. });
                let w = ext.dst_bytes() == 8;
                let op = match (ext, signed) {
                    (ExtMode::BL | ExtMode::BQ, false) => op_rm8(w, &[0x0f, 0xb6]),
                    (ExtMode::BL | ExtMode::BQ, true) => op_rm8(w, &[0x0f, 0xbe]),
                    (ExtMode::WL | ExtMode::WQ, false) => op_r(NOPFX, w, &[0x0f, 0xb7], false),
                    (ExtMode::WL | ExtMode::WQ, true) => op_r(NOPFX, w, &[0x0f, 0xbf], false),
                    // A 32-bit mov zero-extends into the full register;
                    // sign extension is movsxd (REX.W 63).
                    (ExtMode::LQ, false) => op_r(NOPFX, false, &[0x8b], false),
                    (ExtMode::LQ, true) => op_r(NOPFX, true, &[0x63], false),
                };
                emit_modrm_op(buf, st, op, enc(dst.to_reg()), Rm::of(src), 0)
            }
            MInst::Mov64MR { src, dst } => {
                emit_modrm_op(
                    buf,
                    st,
                    op_r(NOPFX, true, &[0x8b], false),
                    enc(dst.to_reg()),
                    Rm::Mem(src),
                    0,
                );
            }
            MInst::MovRM { size, src, dst } => {
                let o = op_r(
                    size_prefix(*size),
                    is_w(*size),
                    &[if is8(*size) { 0x88 } else { 0x89 }],
                    is8(*size),
                );
                emit_modrm_op(buf, st, o, enc(*src), Rm::Mem(dst), 0);
            }
            MInst::MovImmM { size, imm, dst } => {
                let n = imm_bytes(*size);
                let o = op_d(
                    size_prefix(*size),
                    is_w(*size),
                    &[if is8(*size) { 0xc6 } else { 0xc7 }],
                    false,
                );
                emit_modrm_op(buf, st, o, 0, Rm::Mem(dst), n);
                put_imm(buf, n, *imm);
            }
            MInst::Setcc { cc, dst } => {
                let o = op_d(NOPFX, false, &[0x0f, 0x90 | cc.enc()], true);
                emit_modrm_op(buf, st, o, 0, Rm::Reg(enc(dst.to_reg())), 0);
            }
            MInst::Cmove {
                size,
                cc,
                consequent,
                alternative,
                dst,
            } => {
                debug_assert_eq!(*alternative, dst.to_reg());
                let o = op_r(
                    size_prefix(*size),
                    is_w(*size),
                    &[0x0f, 0x40 | cc.enc()],
                    false,
                );
                emit_modrm_op(buf, st, o, enc(dst.to_reg()), Rm::of(consequent), 0);
            }
            MInst::JmpKnown { dst } => jmp(buf, *dst),
            MInst::JmpIf { cc, taken } => jcc(buf, *cc, *taken),
            MInst::JmpCond {
                cc,
                taken,
                not_taken,
            } => {
                jcc(buf, *cc, *taken);
                jmp(buf, *not_taken);
            }
            MInst::JmpUnknown { target } => {
                emit_modrm_op(
                    buf,
                    st,
                    op_d(NOPFX, false, &[0xff], false),
                    4,
                    Rm::of(target),
                    0,
                );
            }
            MInst::JmpTableSeq {
                idx,
                tmp1,
                tmp2,
                default,
                targets,
            } => {
                let (i, t1, t2) = (enc(*idx), enc(tmp1.to_reg()), enc(tmp2.to_reg()));
                // The index is bounded by the target count, a u32 in CLIF;
                // saturate so an oversized table still compares correctly.
                let len = i32::try_from(targets.len()).unwrap_or(i32::MAX);
                alu_rmi(buf, st, OperandSize::Size64, 7, i, &RegMemImm::Imm(len));
                // jae default (not registered as a branch: code follows).
                let s = buf.cur_offset();
                buf.put_data(&[0x0f, 0x80 | CC::NB.enc()]);
                buf.use_label_at_offset(s + 2, *default, X64LabelUse::PCRel32);
                buf.put4(-4i32 as u32);
                let table = buf.get_label();
                emit_modrm_op(
                    buf,
                    st,
                    op_r(NOPFX, true, &[0x8d], false),
                    t1,
                    Rm::Mem(&Amode::rip_relative(table)),
                    0,
                );
                let entry = Amode::imm_reg_reg_shift(0, tmp1.to_reg(), *idx, 2);
                emit_modrm_op(
                    buf,
                    st,
                    op_r(NOPFX, true, &[0x63], false),
                    t2,
                    Rm::Mem(&entry),
                    0,
                );
                emit_modrm_op(
                    buf,
                    st,
                    op_r(NOPFX, true, &[0x03], false),
                    t2,
                    Rm::Reg(t1),
                    0,
                );
                emit_modrm_op(
                    buf,
                    st,
                    op_d(NOPFX, false, &[0xff], false),
                    4,
                    Rm::Reg(t2),
                    0,
                );
                buf.bind_label(table);
                for (n, l) in targets.iter().enumerate() {
                    let off = buf.cur_offset();
                    buf.use_label_at_offset(off, *l, X64LabelUse::PCRel32);
                    buf.put4((4 * n) as u32);
                }
            }
            MInst::CallKnown { target, info } => {
                buf.put1(0xe8);
                buf.add_reloc(Reloc::X86CallPCRel4, (*target).into(), -4);
                buf.put4(0);
                buf.add_call_site();
                try_call_site(buf, st, info);
                callee_pop_fixup(buf, st, info);
                try_call_normal(buf, info);
            }
            MInst::CallUnknown { target, info } => {
                emit_modrm_op(
                    buf,
                    st,
                    op_d(NOPFX, false, &[0xff], false),
                    2,
                    Rm::of(target),
                    0,
                );
                buf.add_call_site();
                try_call_site(buf, st, info);
                callee_pop_fixup(buf, st, info);
                try_call_normal(buf, info);
            }
            MInst::LoadExtName {
                target,
                offset,
                dst,
                mode: ExtNameMode::Abs8,
            } => {
                emit_opcode_reg(buf, NOPFX, true, &[0xb8], enc(dst.to_reg()));
                buf.add_reloc(Reloc::Abs8, *target, *offset);
                buf.put8(0);
            }
            MInst::LoadExtName {
                target,
                offset,
                dst,
                mode,
            } => {
                // REX.W (+R), 8D lea / 8B mov, ModRM mod=00 rm=101: [rip +
                // disp32], the displacement relocated. Lowering keeps the
                // offset within 32 bits for these forms.
                let r = enc(dst.to_reg());
                buf.put1(0x48 | if r & 8 != 0 { 4 } else { 0 });
                let got = *mode == ExtNameMode::Got;
                buf.put1(if got { 0x8b } else { 0x8d });
                buf.put1(((r & 7) << 3) | 0b101);
                if got {
                    buf.add_reloc(Reloc::X86GOTPCRel4, *target, -4);
                } else {
                    buf.add_reloc(Reloc::X86PCRel4, *target, offset - 4);
                }
                buf.put4(0);
                if got && *offset != 0 {
                    let imm = i32::try_from(*offset).unwrap_or(0);
                    MInst::AluRmiR {
                        size: OperandSize::Size64,
                        op: AluOp::Add,
                        src1: dst.to_reg(),
                        src2: RegMemImm::Imm(imm),
                        dst: *dst,
                    }
                    .emit_with_state(buf, st);
                }
            }
            MInst::Ret { .. } => buf.put1(0xc3),
            MInst::Ud2 { .. } => buf.put_data(&UD2),
            MInst::TrapIf { cc, code } => {
                // Not registered as a branch: the stub is never the
                // fallthrough, so no peephole applies.
                let stub = buf.defer_trap(*code);
                let s = buf.cur_offset();
                buf.put_data(&[0x0f, 0x80 | cc.enc()]);
                buf.use_label_at_offset(s + 2, stub, X64LabelUse::PCRel32);
                buf.put4(-4i32 as u32);
            }
            MInst::StackProbe {
                frame_size,
                guard_size,
                kind,
            } => emit_stack_probe(buf, *frame_size, *guard_size, *kind),
            MInst::Args { .. } => {}
            MInst::Push64 { src } => match src {
                RegMemImm::Reg(r) => emit_opcode_reg(buf, NOPFX, false, &[0x50], enc(*r)),
                RegMemImm::Mem(a) => emit_modrm_op(
                    buf,
                    st,
                    op_d(NOPFX, false, &[0xff], false),
                    6,
                    Rm::Mem(a),
                    0,
                ),
                RegMemImm::Imm(i) => {
                    if i8::try_from(*i).is_ok() {
                        buf.put_data(&[0x6a, *i as u8]);
                    } else {
                        buf.put1(0x68);
                        buf.put4(*i as u32);
                    }
                }
            },
            MInst::Pop64 { dst } => emit_opcode_reg(buf, NOPFX, false, &[0x58], enc(dst.to_reg())),
            MInst::Bswap { size, src, dst } => {
                debug_assert_eq!(*src, dst.to_reg());
                let d = enc(dst.to_reg());
                match size {
                    OperandSize::Size8 => {}
                    OperandSize::Size16 => {
                        emit_modrm_op(buf, st, op_d(P66, false, &[0xc1], false), 0, Rm::Reg(d), 1);
                        buf.put1(8);
                    }
                    _ => emit_opcode_reg(buf, NOPFX, is_w(*size), &[0x0f, 0xc8], d),
                }
            }
            MInst::BitCount { size, op, src, dst } => {
                let (pfx, opc): (&[u8], u8) = match (op, *size == OperandSize::Size16) {
                    (BitOp::Bsr, false) => (NOPFX, 0xbd),
                    (BitOp::Bsr, true) => (P66, 0xbd),
                    (BitOp::Bsf, false) => (NOPFX, 0xbc),
                    (BitOp::Bsf, true) => (P66, 0xbc),
                    (BitOp::Lzcnt, false) => (&[0xf3], 0xbd),
                    (BitOp::Lzcnt, true) => (&[0x66, 0xf3], 0xbd),
                    (BitOp::Tzcnt, false) => (&[0xf3], 0xbc),
                    (BitOp::Tzcnt, true) => (&[0x66, 0xf3], 0xbc),
                    (BitOp::Popcnt, false) => (&[0xf3], 0xb8),
                    (BitOp::Popcnt, true) => (&[0x66, 0xf3], 0xb8),
                };
                emit_modrm_op(
                    buf,
                    st,
                    op_r(pfx, is_w(*size), &[0x0f, opc], false),
                    enc(dst.to_reg()),
                    Rm::of(src),
                    0,
                );
            }
            MInst::Xchg {
                size,
                operand,
                addr,
                dst,
            } => {
                debug_assert_eq!(*operand, dst.to_reg());
                let o = op_r(
                    size_prefix(*size),
                    is_w(*size),
                    &[if is8(*size) { 0x86 } else { 0x87 }],
                    is8(*size),
                );
                emit_modrm_op(buf, st, o, enc(*operand), Rm::Mem(addr), 0);
            }
            MInst::LockCmpxchg {
                size,
                replacement,
                addr,
                ..
            } => {
                let pfx: &[u8] = if *size == OperandSize::Size16 {
                    &[0xf0, 0x66]
                } else {
                    &[0xf0]
                };
                let o = op_r(
                    pfx,
                    is_w(*size),
                    &[0x0f, if is8(*size) { 0xb0 } else { 0xb1 }],
                    is8(*size),
                );
                emit_modrm_op(buf, st, o, enc(*replacement), Rm::Mem(addr), 0);
            }
            MInst::LockXadd {
                size,
                operand,
                addr,
                dst_old,
            } => {
                debug_assert_eq!(*operand, dst_old.to_reg());
                let pfx: &[u8] = if *size == OperandSize::Size16 {
                    &[0xf0, 0x66]
                } else {
                    &[0xf0]
                };
                let o = op_r(
                    pfx,
                    is_w(*size),
                    &[0x0f, if is8(*size) { 0xc0 } else { 0xc1 }],
                    is8(*size),
                );
                emit_modrm_op(buf, st, o, enc(*operand), Rm::Mem(addr), 0);
            }
            MInst::Mfence => buf.put_data(&[0x0f, 0xae, 0xf0]),
            MInst::AtomicRmwSeq {
                size,
                op,
                addr,
                operand,
                temp,
                dst_old,
            } => {
                let rax = dst_old;
                let wide = if *size == OperandSize::Size64 {
                    OperandSize::Size64
                } else {
                    OperandSize::Size32
                };
                let load = match size {
                    OperandSize::Size8 => MInst::MovzxRmR {
                        ext: ExtMode::BL,
                        src: RegMem::Mem(addr.clone()),
                        dst: *rax,
                    },
                    OperandSize::Size16 => MInst::MovzxRmR {
                        ext: ExtMode::WL,
                        src: RegMem::Mem(addr.clone()),
                        dst: *rax,
                    },
                    OperandSize::Size32 => MInst::MovzxRmR {
                        ext: ExtMode::LQ,
                        src: RegMem::Mem(addr.clone()),
                        dst: *rax,
                    },
                    OperandSize::Size64 => MInst::Mov64MR {
                        src: addr.clone(),
                        dst: *rax,
                    },
                };
                load.emit_with_state(buf, st);
                let again = buf.get_label();
                buf.bind_label(again);
                MInst::MovRR {
                    size: OperandSize::Size64,
                    src: rax.to_reg(),
                    dst: *temp,
                }
                .emit_with_state(buf, st);
                let alu = |op: AluOp| MInst::AluRmiR {
                    size: wide,
                    op,
                    src1: temp.to_reg(),
                    src2: RegMemImm::Reg(*operand),
                    dst: *temp,
                };
                let minmax = |cc: CC| {
                    [
                        MInst::CmpRmiR {
                            size: *size,
                            op: CmpOp::Cmp,
                            src1: temp.to_reg(),
                            src2: RegMemImm::Reg(*operand),
                        },
                        MInst::Cmove {
                            size: wide,
                            cc,
                            consequent: RegMem::Reg(*operand),
                            alternative: temp.to_reg(),
                            dst: *temp,
                        },
                    ]
                };
                let seq: Vec<MInst> = match op {
                    AtomicLoopOp::Add => vec![alu(AluOp::Add)],
                    AtomicLoopOp::Sub => vec![alu(AluOp::Sub)],
                    AtomicLoopOp::And => vec![alu(AluOp::And)],
                    AtomicLoopOp::Or => vec![alu(AluOp::Or)],
                    AtomicLoopOp::Xor => vec![alu(AluOp::Xor)],
                    AtomicLoopOp::Nand => vec![
                        alu(AluOp::And),
                        MInst::Unary {
                            size: wide,
                            op: UnaryOp::Not,
                            src: temp.to_reg(),
                            dst: *temp,
                        },
                    ],
                    // Take the operand when the old value is not already
                    // the result.
                    AtomicLoopOp::Umin => minmax(CC::NBE).to_vec(),
                    AtomicLoopOp::Umax => minmax(CC::B).to_vec(),
                    AtomicLoopOp::Smin => minmax(CC::NLE).to_vec(),
                    AtomicLoopOp::Smax => minmax(CC::L).to_vec(),
                };
                for i in &seq {
                    i.emit_with_state(buf, st);
                }
                MInst::LockCmpxchg {
                    size: *size,
                    replacement: temp.to_reg(),
                    expected: rax.to_reg(),
                    addr: addr.clone(),
                    dst_old: *rax,
                }
                .emit_with_state(buf, st);
                // jnz again (not registered as a branch: it is internal).
                let s = buf.cur_offset();
                buf.put_data(&[0x0f, 0x80 | CC::NZ.enc()]);
                buf.use_label_at_offset(s + 2, again, X64LabelUse::PCRel32);
                buf.put4(-4i32 as u32);
            }
            MInst::Nop { len } => {
                for _ in 0..*len {
                    buf.put1(0x90);
                }
            }
            MInst::XmmRmR {
                op,
                src1,
                src2,
                dst,
            } => {
                debug_assert_eq!(*src1, dst.to_reg());
                let (p, opc) = op.encoding();
                let pfx = p.map(|p| [p]);
                let pfx: &[u8] = pfx.as_ref().map_or(NOPFX, |p| p);
                emit_modrm_op(
                    buf,
                    st,
                    op_r(pfx, false, &[0x0f, opc], false),
                    enc(dst.to_reg()),
                    Rm::of(src2),
                    0,
                );
            }
            MInst::XmmRmRVex {
                op,
                src1,
                src2,
                dst,
            } => {
                // VEX.LIG/128.pp.0F.WIG opc /r: vvvv = src1.
                debug_assert!(
                    !matches!(op, SseOp::Movss | SseOp::Movsd) || matches!(src2, RegMem::Reg(_)),
                    "the VEX load form of movss/movsd has no first source"
                );
                let (p, opc) = op.encoding();
                emit_vex(
                    buf,
                    st,
                    vex_0f(p, false),
                    opc,
                    enc(dst.to_reg()),
                    enc(*src1),
                    Rm::of(src2),
                    0,
                );
            }
            MInst::XmmMovRM { op, src, dst } if st.avx => {
                // The VEX register form of movss/movsd has two sources;
                // a register move is movaps (see `XmmMovRM`).
                debug_assert!(
                    !matches!(op, XmmMovOp::Movss | XmmMovOp::Movsd)
                        || matches!(src, RegMem::Mem(_)),
                    "register-source movss/movsd is XmmRmR"
                );
                let (p, opc, _) = op.encoding();
                emit_vex(
                    buf,
                    st,
                    vex_0f(p, false),
                    opc,
                    enc(dst.to_reg()),
                    0,
                    Rm::of(src),
                    0,
                );
            }
            MInst::XmmStore { op, src, dst } if st.avx => {
                let (p, _, opc) = op.encoding();
                emit_vex(
                    buf,
                    st,
                    vex_0f(p, false),
                    opc,
                    enc(*src),
                    0,
                    Rm::Mem(dst),
                    0,
                );
            }
            MInst::XmmRound {
                double,
                src,
                imm,
                dst,
            } if st.avx => {
                // VEX.LIG.66.0F3A.WIG 0A/0B /r ib: the upper lanes from
                // vvvv, which is the source itself for a register source.
                let d = enc(dst.to_reg());
                let vvvv = match src {
                    RegMem::Reg(r) => enc(*r),
                    RegMem::Mem(_) => d,
                };
                let vex = Vex {
                    pp: 1,
                    map: 3,
                    w: false,
                    l: false,
                };
                let opc = if *double { 0x0b } else { 0x0a };
                emit_vex(buf, st, vex, opc, d, vvvv, Rm::of(src), 1);
                buf.put1(*imm);
            }
            MInst::XmmCmp { double, src1, src2 } if st.avx => {
                let p = if *double { Some(0x66) } else { None };
                emit_vex(
                    buf,
                    st,
                    vex_0f(p, false),
                    0x2e,
                    enc(*src1),
                    0,
                    Rm::of(src2),
                    0,
                );
            }
            MInst::GprToXmm {
                op,
                src_size,
                src,
                dst,
            } if st.avx => {
                // vmovd/vmovq: VEX.128.66.0F.W0/W1 6E; vcvtsi2ss/sd:
                // VEX.LIG.F3/F2.0F.W0/W1 2A with vvvv = dst, zeroed above.
                let d = enc(dst.to_reg());
                let (p, opc, vvvv) = match op {
                    GprToXmmOp::Mov => (Some(0x66), 0x6e, 0),
                    GprToXmmOp::Cvtsi2ss => (Some(0xf3), 0x2a, d),
                    GprToXmmOp::Cvtsi2sd => (Some(0xf2), 0x2a, d),
                };
                emit_vex(
                    buf,
                    st,
                    vex_0f(p, is_w(*src_size)),
                    opc,
                    d,
                    vvvv,
                    Rm::of(src),
                    0,
                );
            }
            MInst::XmmToGpr {
                op,
                dst_size,
                src,
                dst,
            } if st.avx && !matches!((op, src), (XmmToGprOp::Mov, RegMem::Mem(_))) => {
                // vmovd/vmovq r/m, xmm: VEX.128.66.0F.W0/W1 7E (the XMM in
                // ModRM.reg); vcvttss2si/sd: VEX.LIG.F3/F2.0F.W0/W1 2C.
                let w = is_w(*dst_size);
                let d = enc(dst.to_reg());
                match (op, src) {
                    (XmmToGprOp::Mov, RegMem::Reg(s)) => {
                        emit_vex(
                            buf,
                            st,
                            vex_0f(Some(0x66), w),
                            0x7e,
                            enc(*s),
                            0,
                            Rm::Reg(d),
                            0,
                        );
                    }
                    (XmmToGprOp::Cvttss2si, _) => {
                        emit_vex(buf, st, vex_0f(Some(0xf3), w), 0x2c, d, 0, Rm::of(src), 0);
                    }
                    _ => {
                        emit_vex(buf, st, vex_0f(Some(0xf2), w), 0x2c, d, 0, Rm::of(src), 0);
                    }
                }
            }
            MInst::XmmMovRM { op, src, dst } => {
                let (p, opc, _) = op.encoding();
                let pfx = p.map(|p| [p]);
                let pfx: &[u8] = pfx.as_ref().map_or(NOPFX, |p| p);
                emit_modrm_op(
                    buf,
                    st,
                    op_r(pfx, false, &[0x0f, opc], false),
                    enc(dst.to_reg()),
                    Rm::of(src),
                    0,
                );
            }
            MInst::XmmStore { op, src, dst } => {
                let (p, _, opc) = op.encoding();
                let pfx = p.map(|p| [p]);
                let pfx: &[u8] = pfx.as_ref().map_or(NOPFX, |p| p);
                emit_modrm_op(
                    buf,
                    st,
                    op_r(pfx, false, &[0x0f, opc], false),
                    enc(*src),
                    Rm::Mem(dst),
                    0,
                );
            }
            MInst::XmmRound {
                double,
                src,
                imm,
                dst,
            } => {
                let opc = [0x0f, 0x3a, if *double { 0x0b } else { 0x0a }];
                emit_modrm_op(
                    buf,
                    st,
                    op_r(P66, false, &opc, false),
                    enc(dst.to_reg()),
                    Rm::of(src),
                    1,
                );
                buf.put1(*imm);
            }
            MInst::XmmCmp { double, src1, src2 } => {
                let pfx = if *double { P66 } else { NOPFX };
                emit_modrm_op(
                    buf,
                    st,
                    op_r(pfx, false, &[0x0f, 0x2e], false),
                    enc(*src1),
                    Rm::of(src2),
                    0,
                );
            }
            MInst::GprToXmm {
                op,
                src_size,
                src,
                dst,
            } => {
                let (pfx, opc): (&[u8], u8) = match op {
                    GprToXmmOp::Mov => (P66, 0x6e),
                    GprToXmmOp::Cvtsi2ss => (&[0xf3], 0x2a),
                    GprToXmmOp::Cvtsi2sd => (&[0xf2], 0x2a),
                };
                emit_modrm_op(
                    buf,
                    st,
                    op_r(pfx, is_w(*src_size), &[0x0f, opc], false),
                    enc(dst.to_reg()),
                    Rm::of(src),
                    0,
                );
            }
            MInst::XmmToGpr {
                op,
                dst_size,
                src,
                dst,
            } => {
                let w = is_w(*dst_size);
                let d = enc(dst.to_reg());
                match (op, src) {
                    (XmmToGprOp::Mov, RegMem::Reg(s)) => {
                        emit_modrm_op(
                            buf,
                            st,
                            op_r(P66, w, &[0x0f, 0x7e], false),
                            enc(*s),
                            Rm::Reg(d),
                            0,
                        );
                    }
                    // Loading the bits from memory is a plain load.
                    (XmmToGprOp::Mov, RegMem::Mem(a)) => {
                        emit_modrm_op(buf, st, op_r(NOPFX, w, &[0x8b], false), d, Rm::Mem(a), 0);
                    }
                    (XmmToGprOp::Cvttss2si, _) => {
                        emit_modrm_op(
                            buf,
                            st,
                            op_r(&[0xf3], w, &[0x0f, 0x2c], false),
                            d,
                            Rm::of(src),
                            0,
                        );
                    }
                    (XmmToGprOp::Cvttsd2si, _) => {
                        emit_modrm_op(
                            buf,
                            st,
                            op_r(&[0xf2], w, &[0x0f, 0x2c], false),
                            d,
                            Rm::of(src),
                            0,
                        );
                    }
                }
            }
            MInst::XmmFma {
                double,
                a,
                b,
                c,
                dst,
            } => {
                debug_assert_eq!(*a, dst.to_reg());
                // VEX.LIG.66.0F38.W0/W1 A9 /r
                let vex = Vex {
                    pp: 1,
                    map: 2,
                    w: *double,
                    l: false,
                };
                emit_vex_rr(buf, vex, 0xa9, enc(dst.to_reg()), enc(*b), enc(*c));
            }
            MInst::XmmPinsrw { src, dst } => {
                // 66 0F C4 /r ib
                emit_modrm_op(
                    buf,
                    st,
                    op_r(P66, false, &[0x0f, 0xc4], false),
                    enc(dst.to_reg()),
                    Rm::of(src),
                    1,
                );
                buf.put1(0);
            }
            MInst::F16Store { src, tmp, dst } => {
                // pextrw r32, xmm, 0: 66 0F C5 /r ib (reg = GPR, rm = XMM)
                let t = enc(tmp.to_reg());
                emit_modrm_op(
                    buf,
                    st,
                    op_r(P66, false, &[0x0f, 0xc5], false),
                    t,
                    Rm::Reg(enc(*src)),
                    1,
                );
                buf.put1(0);
                if let Some(code) = dst.trap_code() {
                    buf.add_trap(code);
                }
                // mov r/m16, r16: 66 89 /r
                emit_modrm_op(
                    buf,
                    st,
                    op_r(P66, false, &[0x89], false),
                    t,
                    Rm::Mem(dst),
                    0,
                );
            }
            MInst::LockCmpxchg16b(a) => emit_cmpxchg16b(buf, st, &a.addr),
            MInst::AtomicRmw128Seq(a) => {
                let AtomicRmw128Args {
                    op,
                    addr,
                    old_lo,
                    old_hi,
                    operand_lo,
                    operand_hi,
                    temp,
                    new_lo,
                    new_hi,
                    ..
                } = &**a;
                let s64 = OperandSize::Size64;
                let again = buf.get_label();
                buf.bind_label(again);
                let mov = |src: Reg, dst: crate::machinst::reg::Writable<Reg>| MInst::MovRR {
                    size: s64,
                    src,
                    dst,
                };
                let alu =
                    |op: AluOp, d: crate::machinst::reg::Writable<Reg>, src: Reg| MInst::AluRmiR {
                        size: s64,
                        op,
                        src1: d.to_reg(),
                        src2: RegMemImm::Reg(src),
                        dst: d,
                    };
                let not = |d: crate::machinst::reg::Writable<Reg>| MInst::Unary {
                    size: s64,
                    op: UnaryOp::Not,
                    src: d.to_reg(),
                    dst: d,
                };
                let pair = |lo: AluOp, hi: AluOp| {
                    vec![alu(lo, *new_lo, *operand_lo), alu(hi, *new_hi, *operand_hi)]
                };
                // Take the operand when `cc` holds after the 128-bit
                // compare of the old value with it (flags of old - operand).
                let minmax = |cc: CC| {
                    vec![
                        MInst::CmpRmiR {
                            size: s64,
                            op: CmpOp::Cmp,
                            src1: new_lo.to_reg(),
                            src2: RegMemImm::Reg(*operand_lo),
                        },
                        mov(new_hi.to_reg(), *temp),
                        alu(AluOp::Sbb, *temp, *operand_hi),
                        MInst::Cmove {
                            size: s64,
                            cc,
                            consequent: RegMem::Reg(*operand_lo),
                            alternative: new_lo.to_reg(),
                            dst: *new_lo,
                        },
                        MInst::Cmove {
                            size: s64,
                            cc,
                            consequent: RegMem::Reg(*operand_hi),
                            alternative: new_hi.to_reg(),
                            dst: *new_hi,
                        },
                    ]
                };
                let mut seq = vec![mov(*old_lo, *new_lo), mov(*old_hi, *new_hi)];
                seq.extend(match op {
                    None => vec![mov(*operand_lo, *new_lo), mov(*operand_hi, *new_hi)],
                    Some(AtomicLoopOp::Add) => pair(AluOp::Add, AluOp::Adc),
                    Some(AtomicLoopOp::Sub) => pair(AluOp::Sub, AluOp::Sbb),
                    Some(AtomicLoopOp::And) => pair(AluOp::And, AluOp::And),
                    Some(AtomicLoopOp::Or) => pair(AluOp::Or, AluOp::Or),
                    Some(AtomicLoopOp::Xor) => pair(AluOp::Xor, AluOp::Xor),
                    Some(AtomicLoopOp::Nand) => {
                        let mut v = pair(AluOp::And, AluOp::And);
                        v.push(not(*new_lo));
                        v.push(not(*new_hi));
                        v
                    }
                    Some(AtomicLoopOp::Umin) => minmax(CC::NB),
                    Some(AtomicLoopOp::Umax) => minmax(CC::B),
                    Some(AtomicLoopOp::Smin) => minmax(CC::NL),
                    Some(AtomicLoopOp::Smax) => minmax(CC::L),
                });
                for i in &seq {
                    i.emit_with_state(buf, st);
                }
                emit_cmpxchg16b(buf, st, addr);
                // jnz again (internal to the sequence, like AtomicRmwSeq's).
                let s = buf.cur_offset();
                buf.put_data(&[0x0f, 0x80 | CC::NZ.enc()]);
                buf.use_label_at_offset(s + 2, again, X64LabelUse::PCRel32);
                buf.put4(-4i32 as u32);
            }
            // Needs the frame: emitted by `control::emit_return_call`
            // through the function's sink. Reaching this point is a misuse;
            // trap rather than fall through.
            MInst::ReturnCall { .. } => buf.put_data(&UD2),
        }
    }
}

/// `lock cmpxchg16b [addr]` (F0 REX.W 0F C7 /1).
fn emit_cmpxchg16b(buf: &mut MachBuffer<X64LabelUse>, st: &EmitState, addr: &Amode) {
    emit_modrm_op(
        buf,
        st,
        op_d(&[0xf0], true, &[0x0f, 0xc7], false),
        1,
        Rm::Mem(addr),
        0,
    );
}

/// `sub rsp, n` after a call whose callee popped `n` bytes of stack
/// arguments (restores the fixed frame).
/// Records the handler table of a `try_call` whose call was just emitted.
fn try_call_site(buf: &mut MachBuffer<X64LabelUse>, st: &EmitState, info: &CallInfo) {
    if let Some(t) = &info.try_call {
        buf.add_exception_site(st.frame_size, &t.handlers);
    }
}

/// A `try_call` ends its block: on a normal return, jump to its
/// normal-return block.
fn try_call_normal(buf: &mut MachBuffer<X64LabelUse>, info: &CallInfo) {
    if let Some(t) = &info.try_call {
        jmp(buf, t.normal);
    }
}

fn callee_pop_fixup(buf: &mut MachBuffer<X64LabelUse>, st: &EmitState, info: &CallInfo) {
    if info.callee_pop > 0 {
        let n = i32::try_from(info.callee_pop).unwrap_or(i32::MAX);
        alu_rmi(buf, st, OperandSize::Size64, 5, 4, &RegMemImm::Imm(n));
    }
}

/// The ALU family (add/or/adc/sbb/and/sub/xor/cmp) with `digit`:
/// `op reg, r/m` or `op r/m(reg), imm`.
fn alu_rmi(
    buf: &mut MachBuffer<X64LabelUse>,
    st: &EmitState,
    size: OperandSize,
    digit: u8,
    reg: u8,
    src: &RegMemImm,
) {
    let b8 = is8(size);
    let pfx = size_prefix(size);
    let w = is_w(size);
    match src {
        RegMemImm::Imm(i) => {
            if b8 {
                emit_modrm_op(buf, st, op_d(pfx, w, &[0x80], true), digit, Rm::Reg(reg), 1);
                buf.put1(*i as u8);
            } else if i8::try_from(*i).is_ok() {
                emit_modrm_op(
                    buf,
                    st,
                    op_d(pfx, w, &[0x83], false),
                    digit,
                    Rm::Reg(reg),
                    1,
                );
                buf.put1(*i as u8);
            } else {
                let n = imm_bytes(size);
                emit_modrm_op(
                    buf,
                    st,
                    op_d(pfx, w, &[0x81], false),
                    digit,
                    Rm::Reg(reg),
                    n,
                );
                put_imm(buf, n, *i);
            }
        }
        RegMemImm::Reg(r) => {
            let opc = digit * 8 + if b8 { 2 } else { 3 };
            emit_modrm_op(buf, st, op_r(pfx, w, &[opc], b8), reg, Rm::Reg(enc(*r)), 0);
        }
        RegMemImm::Mem(a) => {
            let opc = digit * 8 + if b8 { 2 } else { 3 };
            emit_modrm_op(buf, st, op_r(pfx, w, &[opc], b8), reg, Rm::Mem(a), 0);
        }
    }
}

/// The fields of a VEX prefix besides the registers.
#[derive(Clone, Copy)]
struct Vex {
    /// Implied legacy prefix: 0 none, 1 = 66, 2 = F3, 3 = F2.
    pp: u8,
    /// Opcode map: 1 = 0F, 2 = 0F 38, 3 = 0F 3A.
    map: u8,
    /// VEX.W.
    w: bool,
    /// VEX.L (256-bit).
    l: bool,
}

impl Vex {
    /// The VEX.LZ form of a general-register instruction (BMI1/BMI2): W
    /// selects the 64-bit operand size.
    fn scalar_gpr(pp: u8, map: u8, size: OperandSize) -> Vex {
        Vex {
            pp,
            map,
            w: size == OperandSize::Size64,
            l: false,
        }
    }
}

/// Emits a VEX-encoded instruction with register operands only:
/// `VEX opcode ModRM(reg, rm)` with `vvvv` naming the second source.
/// Uses the 2-byte form (C5) when it can express the prefix (map 0F,
/// W0, no REX.B/X), the 3-byte form (C4) otherwise.
fn emit_vex_rr(buf: &mut MachBuffer<X64LabelUse>, vex: Vex, opcode: u8, reg: u8, vvvv: u8, rm: u8) {
    emit_vex(
        buf,
        &EmitState::default(),
        vex,
        opcode,
        reg,
        vvvv,
        Rm::Reg(rm),
        0,
    );
}

/// Emits `VEX opcode ModRM [SIB] [disp]`: `reg` in ModRM.reg, `vvvv` the
/// extra source register (0 when the form has none: it encodes as 1111b),
/// `rm` a register or memory operand. The 2-byte prefix (C5) when it can
/// express the fields (map 0F, W0, no REX.X/B), the 3-byte one (C4)
/// otherwise. `imm_bytes` as for [`emit_modrm_op`].
#[allow(clippy::too_many_arguments)]
fn emit_vex(
    buf: &mut MachBuffer<X64LabelUse>,
    st: &EmitState,
    vex: Vex,
    opcode: u8,
    reg: u8,
    vvvv: u8,
    rm: Rm<'_>,
    imm_bytes: u8,
) {
    if let Rm::Mem(Amode::SpillSlot { slot }) = rm {
        let resolved = st.spill_slot_amode(*slot);
        return emit_vex(
            buf,
            st,
            vex,
            opcode,
            reg,
            vvvv,
            Rm::Mem(&resolved),
            imm_bytes,
        );
    }
    let (x, b) = match rm {
        Rm::Reg(r) => (false, r & 8 != 0),
        Rm::Mem(Amode::ImmReg { base, .. }) => (false, enc(*base) & 8 != 0),
        Rm::Mem(Amode::ImmRegRegShift { base, index, .. }) => {
            (enc(*index) & 8 != 0, enc(*base) & 8 != 0)
        }
        Rm::Mem(Amode::RipRelative { .. } | Amode::Constant(_) | Amode::SpillSlot { .. }) => {
            (false, false)
        }
    };
    // R, X, B and vvvv are stored inverted.
    let r_inv = if reg & 8 != 0 { 0 } else { 0x80 };
    let x_inv = if x { 0 } else { 0x40 };
    let b_inv = if b { 0 } else { 0x20 };
    let tail = ((!vvvv & 15) << 3) | (u8::from(vex.l) << 2) | (vex.pp & 3);
    if vex.map == 1 && !vex.w && !x && !b {
        buf.put1(0xc5);
        buf.put1(r_inv | tail);
    } else {
        buf.put1(0xc4);
        buf.put1(r_inv | x_inv | b_inv | (vex.map & 31));
        buf.put1((u8::from(vex.w) << 7) | tail);
    }
    buf.put1(opcode);
    put_modrm(buf, reg, rm, imm_bytes);
}

/// VEX.pp for a legacy mandatory prefix (none, 66, F3, F2).
fn vex_pp(prefix: Option<u8>) -> u8 {
    match prefix {
        Some(0x66) => 1,
        Some(0xf3) => 2,
        Some(0xf2) => 3,
        _ => 0,
    }
}

/// The VEX fields of a map-0F instruction with legacy prefix `prefix`.
fn vex_0f(prefix: Option<u8>, w: bool) -> Vex {
    Vex {
        pp: vex_pp(prefix),
        map: 1,
        w,
        l: false,
    }
}

/// `vxorps r, r, r`: the zeroing idiom, which depends on nothing.
fn emit_vxorps_zero(buf: &mut MachBuffer<X64LabelUse>, st: &EmitState, r: u8) {
    emit_vex(buf, st, vex_0f(None, false), 0x57, r, r, Rm::Reg(r), 0);
}
