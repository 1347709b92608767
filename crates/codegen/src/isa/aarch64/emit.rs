//! The aarch64 encoder: a handful of encoding-class helpers (one per
//! instruction-word layout of the Arm ARM), and `emit`, which maps each
//! `MInst` variant onto one of them. Register fields are checked here: a
//! virtual register, an FP register in an integer field, or `sp`/`xzr` in a
//! field where encoding 31 means the other one is an emit error, never a
//! silently wrong word.
//!
//! Branch fields are label uses of the kinds in [`A64LabelUse`]; the
//! `MachBuffer` patches them and, for the 19- and 14-bit conditional forms,
//! redirects an out-of-range use through a 26-bit `b` veneer in an island
//! (the pipeline places islands; `ldr` literal's constants go into them).

use super::args::*;
use super::inst::*;
use super::regs::{self, SP_ENC, ZR_ENC};
use crate::machinst::abi::FrameLayout;
use crate::machinst::buffer::{CodeOffset, LabelUse, MachBuffer, MachLabel, Reloc};
use crate::machinst::reg::{Reg, Writable};
use crate::result::{CodegenError, CodegenResult};
use regalloc2::RegClass;

/// Kinds of PC-relative label fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum A64LabelUse {
    /// `b`/`bl`: imm26 words at bits 0..26 (±128 MiB).
    Branch26,
    /// `b.cond`, `cbz`, `cbnz`: imm19 words at bits 5..24 (±1 MiB).
    Branch19,
    /// `ldr` literal: the same field as `Branch19`, but a load cannot go
    /// through a veneer (it would load the veneer's `b` as data): its
    /// constant must lie in an island within range.
    Load19,
    /// `tbz`/`tbnz`: imm14 words at bits 5..19 (±32 KiB).
    Branch14,
    /// `adr`: a 21-bit byte offset split into immlo (bits 29..31) and immhi
    /// (bits 5..24).
    Adr21,
    /// A 32-bit data word (jump-table entry): the label's offset from the
    /// word plus the addend already stored in it.
    PCRel32,
}

impl LabelUse for A64LabelUse {
    const ALIGN: CodeOffset = 4;

    fn max_pos_range(self) -> CodeOffset {
        match self {
            A64LabelUse::Branch26 => (1 << 27) - 4,
            A64LabelUse::Branch19 | A64LabelUse::Load19 => (1 << 20) - 4,
            A64LabelUse::Branch14 => (1 << 15) - 4,
            A64LabelUse::Adr21 => (1 << 20) - 1,
            A64LabelUse::PCRel32 => i32::MAX as CodeOffset,
        }
    }
    fn max_neg_range(self) -> CodeOffset {
        match self {
            A64LabelUse::Branch26 => 1 << 27,
            A64LabelUse::Branch19 | A64LabelUse::Load19 => 1 << 20,
            A64LabelUse::Branch14 => 1 << 15,
            A64LabelUse::Adr21 => 1 << 20,
            A64LabelUse::PCRel32 => 1 << 31,
        }
    }
    fn patch_size(self) -> CodeOffset {
        4
    }
    fn patch(self, buffer: &mut [u8], use_offset: CodeOffset, label_offset: CodeOffset) {
        let Some(field) = buffer.get_mut(0..4) else {
            return;
        };
        let rel = label_offset.wrapping_sub(use_offset);
        let word = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
        let word = match self {
            A64LabelUse::Branch26 => (word & !0x03ff_ffff) | ((rel >> 2) & 0x03ff_ffff),
            A64LabelUse::Branch19 | A64LabelUse::Load19 => {
                (word & !(0x7ffff << 5)) | (((rel >> 2) & 0x7ffff) << 5)
            }
            A64LabelUse::Branch14 => (word & !(0x3fff << 5)) | (((rel >> 2) & 0x3fff) << 5),
            A64LabelUse::Adr21 => {
                (word & !((3 << 29) | (0x7ffff << 5)))
                    | ((rel & 3) << 29)
                    | (((rel >> 2) & 0x7ffff) << 5)
            }
            A64LabelUse::PCRel32 => rel.wrapping_add(word),
        };
        field.copy_from_slice(&word.to_le_bytes());
    }
    fn supports_veneer(self) -> bool {
        matches!(self, A64LabelUse::Branch19 | A64LabelUse::Branch14)
    }
    fn veneer_size(self) -> CodeOffset {
        4
    }
    fn generate_veneer(
        self,
        buffer: &mut [u8],
        _veneer_offset: CodeOffset,
    ) -> Option<(CodeOffset, Self)> {
        if !self.supports_veneer() {
            return None;
        }
        buffer
            .get_mut(0..4)?
            .copy_from_slice(&enc_b(false).to_le_bytes());
        Some((0, A64LabelUse::Branch26))
    }
}

/// The bytes of the trapping instruction (`udf #0`) for deferred traps.
pub const UDF: [u8; 4] = [0, 0, 0, 0];

fn bad(what: impl Into<String>) -> CodegenError {
    CodegenError::Emit(what.into())
}

/// An integer register field where 31 means `xzr`.
fn rz(r: Reg) -> CodegenResult<u32> {
    match r.to_real_reg() {
        Some(p) if p.class() == RegClass::Int && p.hw_enc() <= 30 => Ok(p.hw_enc() as u32),
        Some(p) if p.class() == RegClass::Int && p.hw_enc() == ZR_ENC as usize => Ok(31),
        _ => Err(bad(format!(
            "{r:?} in an integer field that reads xzr as 31"
        ))),
    }
}

/// An integer register field where 31 means `sp`.
fn rs(r: Reg) -> CodegenResult<u32> {
    match r.to_real_reg() {
        Some(p) if p.class() == RegClass::Int && p.hw_enc() <= 30 => Ok(p.hw_enc() as u32),
        Some(p) if p.class() == RegClass::Int && p.hw_enc() == SP_ENC as usize => Ok(31),
        _ => Err(bad(format!(
            "{r:?} in an integer field that reads sp as 31"
        ))),
    }
}

/// An FP/vector register field.
fn rv(r: Reg) -> CodegenResult<u32> {
    match r.to_real_reg() {
        Some(p) if p.class() != RegClass::Int && p.hw_enc() < 32 => Ok(p.hw_enc() as u32),
        _ => Err(bad(format!("{r:?} in an FP register field"))),
    }
}

fn is_sp(r: Reg) -> bool {
    r == regs::sp()
}

// ---- encoding classes ----

/// Add/subtract (immediate): `sf op S 100010 sh imm12 Rn Rd`.
fn enc_addsub_imm(sf: u32, op: u32, s: u32, imm: Imm12, rn: u32, rd: u32) -> u32 {
    (sf << 31)
        | (op << 30)
        | (s << 29)
        | (0b100010 << 23)
        | ((imm.shift12 as u32) << 22)
        | ((imm.bits as u32) << 10)
        | (rn << 5)
        | rd
}

/// Logical (immediate): `sf opc 100100 N immr imms Rn Rd`.
fn enc_logic_imm(sf: u32, opc: u32, imm: ImmLogic, rn: u32, rd: u32) -> u32 {
    (sf << 31) | (opc << 29) | (0b100100 << 23) | (imm.enc_bits() << 10) | (rn << 5) | rd
}

/// Move wide: `sf opc 100101 hw imm16 Rd`.
fn enc_move_wide(sf: u32, opc: u32, imm: MoveWideConst, rd: u32) -> u32 {
    (sf << 31)
        | (opc << 29)
        | (0b100101 << 23)
        | ((imm.shift as u32) << 21)
        | ((imm.bits as u32) << 5)
        | rd
}

/// Bitfield: `sf opc 100110 N immr imms Rn Rd` (N = sf).
fn enc_bfm(sf: u32, opc: u32, immr: u32, imms: u32, rn: u32, rd: u32) -> u32 {
    (sf << 31)
        | (opc << 29)
        | (0b100110 << 23)
        | (sf << 22)
        | ((immr & 0x3f) << 16)
        | ((imms & 0x3f) << 10)
        | (rn << 5)
        | rd
}

/// Extract: `sf 00 100111 N 0 Rm imms Rn Rd`.
fn enc_extr(sf: u32, rm: u32, lsb: u32, rn: u32, rd: u32) -> u32 {
    (sf << 31) | (0b100111 << 23) | (sf << 22) | (rm << 16) | (lsb << 10) | (rn << 5) | rd
}

/// Data processing (register) with a fixed top: `top(11) Rm mid(6) Rn Rd`,
/// the layout of shifted/extended add/sub, logical, carry, 2-source,
/// conditional select and 3-source (with `Ra` in `mid`).
fn enc_rrr(top11: u32, rm: u32, mid6: u32, rn: u32, rd: u32) -> u32 {
    (top11 << 21) | (rm << 16) | ((mid6 & 0x3f) << 10) | (rn << 5) | rd
}

/// Load/store with a 12-bit unsigned scaled offset:
/// `size 111 V 01 opc imm12 Rn Rt`.
fn enc_ldst_uimm(size: u32, v: u32, opc: u32, imm12: u32, rn: u32, rt: u32) -> u32 {
    (size << 30)
        | (0b111 << 27)
        | (v << 26)
        | (0b01 << 24)
        | (opc << 22)
        | (imm12 << 10)
        | (rn << 5)
        | rt
}

/// Load/store with a 9-bit signed offset: unscaled (`mode` 00),
/// post-indexed (01) or pre-indexed (11): `size 111 V 00 opc 0 imm9 mode Rn Rt`.
fn enc_ldst_simm9(size: u32, v: u32, opc: u32, simm: i16, mode: u32, rn: u32, rt: u32) -> u32 {
    (size << 30)
        | (0b111 << 27)
        | (v << 26)
        | (opc << 22)
        | (((simm as u32) & 0x1ff) << 12)
        | (mode << 10)
        | (rn << 5)
        | rt
}

/// Load/store register offset: `size 111 V 00 opc 1 Rm option S 10 Rn Rt`.
#[allow(clippy::too_many_arguments)]
fn enc_ldst_reg(
    size: u32,
    v: u32,
    opc: u32,
    rm: u32,
    option: u32,
    s: u32,
    rn: u32,
    rt: u32,
) -> u32 {
    (size << 30)
        | (0b111 << 27)
        | (v << 26)
        | (opc << 22)
        | (1 << 21)
        | (rm << 16)
        | (option << 13)
        | (s << 12)
        | (0b10 << 10)
        | (rn << 5)
        | rt
}

/// Load register (literal): `opc 011 V 00 imm19 Rt`, offset patched later.
fn enc_ldr_literal(opc: u32, v: u32, rt: u32) -> u32 {
    (opc << 30) | (0b011 << 27) | (v << 26) | rt
}

/// Load/store pair: `opc 101 V mode L imm7 Rt2 Rn Rt`; `mode` 001 post,
/// 010 signed offset, 011 pre.
#[allow(clippy::too_many_arguments)]
fn enc_ldst_pair(
    opc: u32,
    v: u32,
    mode: u32,
    l: u32,
    imm7: i16,
    rt2: u32,
    rn: u32,
    rt: u32,
) -> u32 {
    (opc << 30)
        | (0b101 << 27)
        | (v << 26)
        | (mode << 23)
        | (l << 22)
        | (((imm7 as u32) & 0x7f) << 15)
        | (rt2 << 10)
        | (rn << 5)
        | rt
}

/// `b` (or `bl`) with a zero offset.
fn enc_b(link: bool) -> u32 {
    ((link as u32) << 31) | (0b00101 << 26)
}

/// A conditional branch of `kind` with a zero offset, and its label-use kind.
fn enc_cond_br(kind: CondBrKind) -> CodegenResult<(u32, A64LabelUse)> {
    Ok(match kind {
        CondBrKind::Cond(c) => (0x5400_0000 | c.bits(), A64LabelUse::Branch19),
        CondBrKind::Zero(r, size) | CondBrKind::NotZero(r, size) => {
            let op = matches!(kind, CondBrKind::NotZero(..)) as u32;
            (
                (size.sf() << 31) | (0b011010 << 25) | (op << 24) | rz(r)?,
                A64LabelUse::Branch19,
            )
        }
        CondBrKind::BitClear(r, bit) | CondBrKind::BitSet(r, bit) => {
            if bit > 63 {
                return Err(bad(format!("tbz bit {bit} out of range")));
            }
            let op = matches!(kind, CondBrKind::BitSet(..)) as u32;
            let b = bit as u32;
            (
                ((b >> 5) << 31) | (0b011011 << 25) | (op << 24) | ((b & 31) << 19) | rz(r)?,
                A64LabelUse::Branch14,
            )
        }
    })
}

/// FP data-processing, one source: `000 11110 ftype 1 opcode 10000 Rn Rd`.
fn enc_fp_rr(ftype: u32, opcode: u32, rn: u32, rd: u32) -> u32 {
    (0b11110 << 24) | (ftype << 22) | (1 << 21) | (opcode << 15) | (0b10000 << 10) | (rn << 5) | rd
}

/// FP data-processing, two sources: `000 11110 ftype 1 Rm opcode 10 Rn Rd`.
fn enc_fp_rrr(ftype: u32, rm: u32, opcode: u32, rn: u32, rd: u32) -> u32 {
    (0b11110 << 24)
        | (ftype << 22)
        | (1 << 21)
        | (rm << 16)
        | (opcode << 12)
        | (0b10 << 10)
        | (rn << 5)
        | rd
}

/// FP/integer conversion: `sf 00 11110 ftype 1 rmode opcode 000000 Rn Rd`.
fn enc_fp_int(sf: u32, ftype: u32, rmode: u32, opcode: u32, rn: u32, rd: u32) -> u32 {
    (sf << 31)
        | (0b11110 << 24)
        | (ftype << 22)
        | (1 << 21)
        | (rmode << 19)
        | (opcode << 16)
        | (rn << 5)
        | rd
}

// ---- operand helpers ----

/// `(op, S)` of the add/sub families, or `None` for other operations.
fn addsub_bits(op: AluOp) -> Option<(u32, u32)> {
    match op {
        AluOp::Add => Some((0, 0)),
        AluOp::Adds => Some((0, 1)),
        AluOp::Sub => Some((1, 0)),
        AluOp::Subs => Some((1, 1)),
        _ => None,
    }
}

/// `(opc, N)` of the logical families.
fn logic_bits(op: AluOp) -> Option<(u32, u32)> {
    match op {
        AluOp::And => Some((0, 0)),
        AluOp::Orr => Some((1, 0)),
        AluOp::Eor => Some((2, 0)),
        AluOp::Ands => Some((3, 0)),
        AluOp::Bic => Some((0, 1)),
        AluOp::Orn => Some((1, 1)),
        AluOp::Eon => Some((2, 1)),
        AluOp::Bics => Some((3, 1)),
        _ => None,
    }
}

/// `(size, V, opc)` of a load.
fn load_bits(kind: LoadKind) -> (u32, u32, u32) {
    match kind {
        LoadKind::ULoad8 => (0, 0, 1),
        LoadKind::SLoad8 => (0, 0, 2),
        LoadKind::ULoad16 => (1, 0, 1),
        LoadKind::SLoad16 => (1, 0, 2),
        LoadKind::ULoad32 => (2, 0, 1),
        LoadKind::SLoad32 => (2, 0, 2),
        LoadKind::Load64 => (3, 0, 1),
        LoadKind::FpuLoad16 => (1, 1, 1),
        LoadKind::FpuLoad32 => (2, 1, 1),
        LoadKind::FpuLoad64 => (3, 1, 1),
        LoadKind::FpuLoad128 => (0, 1, 3),
    }
}

/// `(size, V, opc)` of a store.
fn store_bits(kind: StoreKind) -> (u32, u32, u32) {
    match kind {
        StoreKind::Store8 => (0, 0, 0),
        StoreKind::Store16 => (1, 0, 0),
        StoreKind::Store32 => (2, 0, 0),
        StoreKind::Store64 => (3, 0, 0),
        StoreKind::FpuStore16 => (1, 1, 0),
        StoreKind::FpuStore32 => (2, 1, 0),
        StoreKind::FpuStore64 => (3, 1, 0),
        StoreKind::FpuStore128 => (0, 1, 2),
    }
}

fn put(buf: &mut MachBuffer<A64LabelUse>, word: u32) {
    buf.put4(word);
}

/// Puts `value` into x16 (the encoder's scratch register).
fn load_ip0(buf: &mut MachBuffer<A64LabelUse>, value: u64) -> CodegenResult<()> {
    let rd = crate::machinst::reg::Writable::from_reg(regs::ip0());
    for inst in MInst::load_constant(rd, value, OperandSize::Size64) {
        emit_plain(&inst, buf)?;
    }
    Ok(())
}

/// A frame-relative address as `(base, offset)`.
fn frame_base(mem: AMode, frame: &FrameLayout) -> Option<(Reg, i64)> {
    match mem {
        AMode::SpOffset { off } => Some((regs::sp(), off)),
        AMode::FpOffset { off } => Some((regs::fp(), off)),
        AMode::SlotOffset { off } => Some((regs::sp(), frame.stackslots_offset() as i64 + off)),
        AMode::SpillSlot { slot } => Some((
            regs::sp(),
            frame.spillslot_offset(regalloc2::SpillSlot::new(slot as usize)) as i64,
        )),
        _ => None,
    }
}

/// Emits a load or store of `bytes` (`size`, `V`, `opc` as the
/// classes want them) at `mem`; `rt` is the data register's field.
#[allow(clippy::too_many_arguments)]
fn emit_ldst(
    buf: &mut MachBuffer<A64LabelUse>,
    (size, v, opc): (u32, u32, u32),
    bytes: u32,
    rt: u32,
    mem: AMode,
    frame: &FrameLayout,
    literal_opc: Option<(u32, u32)>,
) -> CodegenResult<()> {
    let scale = bytes.trailing_zeros();
    if let Some((base, off)) = frame_base(mem, frame) {
        let rn = rs(base)?;
        if off >= 0 && off % bytes as i64 == 0 && off / (bytes as i64) < 4096 {
            put(
                buf,
                enc_ldst_uimm(size, v, opc, (off as u32) >> scale, rn, rt),
            );
        } else if (-256..256).contains(&off) {
            put(buf, enc_ldst_simm9(size, v, opc, off as i16, 0b00, rn, rt));
        } else {
            load_ip0(buf, off as u64)?;
            put(
                buf,
                enc_ldst_reg(size, v, opc, regs::IP0_ENC as u32, 0b011, 0, rn, rt),
            );
        }
        return Ok(());
    }
    match mem {
        AMode::UnsignedOffset { rn, uimm } => {
            if uimm % bytes != 0 || uimm / bytes >= 4096 {
                return Err(bad(format!("offset {uimm} not a scaled 12-bit offset")));
            }
            put(buf, enc_ldst_uimm(size, v, opc, uimm >> scale, rs(rn)?, rt));
        }
        AMode::Unscaled { rn, simm }
        | AMode::PreIndexed { rn, simm }
        | AMode::PostIndexed { rn, simm } => {
            if !(-256..256).contains(&simm) {
                return Err(bad(format!("offset {simm} not a signed 9-bit offset")));
            }
            let mode = match mem {
                AMode::Unscaled { .. } => 0b00,
                AMode::PostIndexed { .. } => 0b01,
                _ => 0b11,
            };
            put(buf, enc_ldst_simm9(size, v, opc, simm, mode, rs(rn)?, rt));
        }
        AMode::RegReg { rn, rm, scaled } => {
            put(
                buf,
                enc_ldst_reg(size, v, opc, rz(rm)?, 0b011, scaled as u32, rs(rn)?, rt),
            );
        }
        AMode::RegExtended {
            rn,
            rm,
            extend,
            scaled,
        } => {
            let option = match extend {
                ExtendOp::Uxtw => 0b010,
                ExtendOp::Sxtw => 0b110,
                ExtendOp::Sxtx => 0b111,
                ExtendOp::Uxtx => 0b011,
                _ => return Err(bad(format!("{extend:?} in a register-offset address"))),
            };
            put(
                buf,
                enc_ldst_reg(size, v, opc, rz(rm)?, option, scaled as u32, rs(rn)?, rt),
            );
        }
        AMode::Label { label } => {
            let Some((lopc, lv)) = literal_opc else {
                return Err(bad("a store or narrow load from a literal"));
            };
            let off = buf.cur_offset();
            buf.use_label_at_offset(off, label, A64LabelUse::Load19);
            put(buf, enc_ldr_literal(lopc, lv, rt));
        }
        AMode::SpOffset { .. }
        | AMode::FpOffset { .. }
        | AMode::SlotOffset { .. }
        | AMode::SpillSlot { .. } => {
            unreachable!("resolved by frame_base")
        }
    }
    Ok(())
}

/// `(opc, V)` of the literal form of a load, if it has one.
fn literal_bits(kind: LoadKind) -> Option<(u32, u32)> {
    match kind {
        LoadKind::ULoad32 => Some((0, 0)),
        LoadKind::Load64 => Some((1, 0)),
        LoadKind::SLoad32 => Some((2, 0)),
        LoadKind::FpuLoad32 => Some((0, 1)),
        LoadKind::FpuLoad64 => Some((1, 1)),
        LoadKind::FpuLoad128 => Some((2, 1)),
        _ => None,
    }
}

fn emit_plain(inst: &MInst, buf: &mut MachBuffer<A64LabelUse>) -> CodegenResult<()> {
    emit(inst, &FrameLayout::default(), buf)
}

/// Encodes `inst` (all registers physical) into `buf`; frame-relative
/// addresses are resolved with `frame`.
pub fn emit(
    inst: &MInst,
    frame: &FrameLayout,
    buf: &mut MachBuffer<A64LabelUse>,
) -> CodegenResult<()> {
    match *inst {
        MInst::AluRRR {
            op,
            size,
            rd,
            rn,
            rm,
        } => {
            let sf = size.sf();
            let (rd, rn, rm) = (rz(rd.to_reg())?, rz(rn)?, rz(rm)?);
            let word = if let Some((o, s)) = addsub_bits(op) {
                enc_rrr((sf << 10) | (o << 9) | (s << 8) | 0b01011000, rm, 0, rn, rd)
            } else if let Some((opc, n)) = logic_bits(op) {
                enc_rrr((sf << 10) | (opc << 8) | (0b01010 << 3) | n, rm, 0, rn, rd)
            } else {
                match op {
                    AluOp::Adc | AluOp::Adcs | AluOp::Sbc | AluOp::Sbcs => {
                        let o = matches!(op, AluOp::Sbc | AluOp::Sbcs) as u32;
                        let s = matches!(op, AluOp::Adcs | AluOp::Sbcs) as u32;
                        enc_rrr((sf << 10) | (o << 9) | (s << 8) | 0b11010000, rm, 0, rn, rd)
                    }
                    AluOp::Udiv
                    | AluOp::Sdiv
                    | AluOp::Lslv
                    | AluOp::Lsrv
                    | AluOp::Asrv
                    | AluOp::Rorv => {
                        let opcode = match op {
                            AluOp::Udiv => 0b000010,
                            AluOp::Sdiv => 0b000011,
                            AluOp::Lslv => 0b001000,
                            AluOp::Lsrv => 0b001001,
                            AluOp::Asrv => 0b001010,
                            _ => 0b001011,
                        };
                        enc_rrr((sf << 10) | 0b0011010110, rm, opcode, rn, rd)
                    }
                    AluOp::Smulh | AluOp::Umulh => {
                        if size != OperandSize::Size64 {
                            return Err(bad("smulh/umulh are 64-bit only"));
                        }
                        let u = (op == AluOp::Umulh) as u32;
                        enc_rrr(0b10011011010 | (u << 2), rm, 0b011111, rn, rd)
                    }
                    _ => unreachable!("add/sub and logical handled above"),
                }
            };
            put(buf, word);
        }
        MInst::AluRRRShift {
            op,
            size,
            rd,
            rn,
            rm,
            shift,
        } => {
            let sf = size.sf();
            if shift.amt as u32 >= size.bits() {
                return Err(bad(format!(
                    "shift amount {} at {} bits",
                    shift.amt,
                    size.bits()
                )));
            }
            let (rd, rn, rm) = (rz(rd.to_reg())?, rz(rn)?, rz(rm)?);
            let sh = shift.op as u32;
            let word = if let Some((o, s)) = addsub_bits(op) {
                if shift.op == ShiftOp::Ror {
                    return Err(bad("add/sub with a rotated register"));
                }
                enc_rrr(
                    (sf << 10) | (o << 9) | (s << 8) | 0b01011000 | (sh << 1),
                    rm,
                    shift.amt as u32,
                    rn,
                    rd,
                )
            } else if let Some((opc, n)) = logic_bits(op) {
                enc_rrr(
                    (sf << 10) | (opc << 8) | (0b01010 << 3) | (sh << 1) | n,
                    rm,
                    shift.amt as u32,
                    rn,
                    rd,
                )
            } else {
                return Err(bad(format!("{op:?} has no shifted-register form")));
            };
            put(buf, word);
        }
        MInst::AluRRRExtend {
            op,
            size,
            rd,
            rn,
            rm,
            extend,
            amt,
        } => {
            let Some((o, s)) = addsub_bits(op) else {
                return Err(bad(format!("{op:?} has no extended-register form")));
            };
            if amt > 4 {
                return Err(bad(format!("extended-register shift {amt} above 4")));
            }
            let rd = if s == 1 {
                rz(rd.to_reg())?
            } else {
                rs(rd.to_reg())?
            };
            let top = (size.sf() << 10) | (o << 9) | (s << 8) | 0b01011001;
            put(
                buf,
                enc_rrr(
                    top,
                    rz(rm)?,
                    ((extend as u32) << 3) | amt as u32,
                    rs(rn)?,
                    rd,
                ),
            );
        }
        MInst::AluRRImm12 {
            op,
            size,
            rd,
            rn,
            imm,
        } => {
            let Some((o, s)) = addsub_bits(op) else {
                return Err(bad(format!("{op:?} has no 12-bit immediate form")));
            };
            let rd = if s == 1 {
                rz(rd.to_reg())?
            } else {
                rs(rd.to_reg())?
            };
            put(buf, enc_addsub_imm(size.sf(), o, s, imm, rs(rn)?, rd));
        }
        MInst::AluRRImmLogic {
            op,
            size,
            rd,
            rn,
            imm,
        } => {
            let Some((opc, 0)) = logic_bits(op) else {
                return Err(bad(format!("{op:?} has no logical immediate form")));
            };
            if imm.size != size {
                return Err(bad("logical immediate encoded for another width"));
            }
            let rd = if op == AluOp::Ands {
                rz(rd.to_reg())?
            } else {
                rs(rd.to_reg())?
            };
            put(buf, enc_logic_imm(size.sf(), opc, imm, rz(rn)?, rd));
        }
        MInst::AluRRImmShift {
            op,
            size,
            rd,
            rn,
            amt,
        } => {
            let w = size.bits();
            let a = amt as u32;
            if a >= w {
                return Err(bad(format!("shift amount {a} at {w} bits")));
            }
            let (sf, rd, rn) = (size.sf(), rz(rd.to_reg())?, rz(rn)?);
            let word = match op {
                // lsl #a = ubfm #(-a mod w), #(w-1-a)
                ShiftOp::Lsl => enc_bfm(sf, 0b10, (w - a) % w, w - 1 - a, rn, rd),
                ShiftOp::Lsr => enc_bfm(sf, 0b10, a, w - 1, rn, rd),
                ShiftOp::Asr => enc_bfm(sf, 0b00, a, w - 1, rn, rd),
                ShiftOp::Ror => enc_extr(sf, rn, a, rn, rd),
            };
            put(buf, word);
        }
        MInst::AluRRRR {
            op,
            size,
            rd,
            rn,
            rm,
            ra,
        } => {
            let (op31, o0) = match op {
                AluOp3::Madd => (0b000, 0),
                AluOp3::Msub => (0b000, 1),
                AluOp3::Smaddl => (0b001, 0),
                AluOp3::Umaddl => (0b101, 0),
            };
            if op31 != 0 && size != OperandSize::Size64 {
                return Err(bad("smaddl/umaddl produce 64 bits"));
            }
            let top = (size.sf() << 10) | (0b0011011 << 3) | op31;
            put(
                buf,
                enc_rrr(top, rz(rm)?, (o0 << 5) | rz(ra)?, rz(rn)?, rz(rd.to_reg())?),
            );
        }
        MInst::BitRR { op, size, rd, rn } => {
            let opcode = match (op, size) {
                (BitOp::Rbit, _) => 0b000000,
                (BitOp::Rev16, _) => 0b000001,
                (BitOp::Rev32, _) => 0b000010,
                (BitOp::Rev64, OperandSize::Size64) => 0b000011,
                (BitOp::Rev64, OperandSize::Size32) => return Err(bad("rev64 at 32 bits")),
                (BitOp::Clz, _) => 0b000100,
                (BitOp::Cls, _) => 0b000101,
            };
            put(
                buf,
                enc_rrr(
                    (size.sf() << 10) | 0b1011010110,
                    0,
                    opcode,
                    rz(rn)?,
                    rz(rd.to_reg())?,
                ),
            );
        }
        MInst::Bfm {
            op,
            size,
            rd,
            rn,
            immr,
            imms,
        } => {
            if immr as u32 >= size.bits() || imms as u32 >= size.bits() {
                return Err(bad("bitfield position beyond the width"));
            }
            let opc = match op {
                BfmOp::Sbfm => 0,
                BfmOp::Bfm => 1,
                BfmOp::Ubfm => 2,
            };
            put(
                buf,
                enc_bfm(
                    size.sf(),
                    opc,
                    immr as u32,
                    imms as u32,
                    rz(rn)?,
                    rz(rd.to_reg())?,
                ),
            );
        }
        MInst::MovWide { op, size, rd, imm } => {
            if imm.shift as u32 * 16 >= size.bits() {
                return Err(bad("wide move shift beyond the width"));
            }
            let opc = match op {
                MoveWideOp::Movn => 0b00,
                MoveWideOp::Movz => 0b10,
            };
            put(buf, enc_move_wide(size.sf(), opc, imm, rz(rd.to_reg())?));
        }
        MInst::MovK { size, rd, rn, imm } => {
            if rd.to_reg() != rn {
                return Err(bad("movk must write the register it keeps"));
            }
            if imm.shift as u32 * 16 >= size.bits() {
                return Err(bad("wide move shift beyond the width"));
            }
            put(buf, enc_move_wide(size.sf(), 0b11, imm, rz(rd.to_reg())?));
        }
        MInst::Mov { size, rd, rm } => {
            if is_sp(rd.to_reg()) || is_sp(rm) {
                // mov to/from sp is `add rd, rn, #0`.
                let imm = Imm12 {
                    bits: 0,
                    shift12: false,
                };
                put(
                    buf,
                    enc_addsub_imm(size.sf(), 0, 0, imm, rs(rm)?, rs(rd.to_reg())?),
                );
            } else {
                // mov is `orr rd, xzr, rm`.
                put(
                    buf,
                    enc_rrr(
                        (size.sf() << 10) | (1 << 8) | (0b01010 << 3),
                        rz(rm)?,
                        0,
                        31,
                        rz(rd.to_reg())?,
                    ),
                );
            }
        }
        MInst::CSel {
            op,
            size,
            cond,
            rd,
            rn,
            rm,
        } => {
            let (o, o2) = match op {
                CSelOp::Csel => (0, 0),
                CSelOp::Csinc => (0, 1),
                CSelOp::Csinv => (1, 0),
                CSelOp::Csneg => (1, 1),
            };
            let top = (size.sf() << 10) | (o << 9) | 0b011010100;
            put(
                buf,
                enc_rrr(
                    top,
                    rz(rm)?,
                    (cond.bits() << 2) | o2,
                    rz(rn)?,
                    rz(rd.to_reg())?,
                ),
            );
        }
        MInst::CCmp {
            size,
            rn,
            rm,
            nzcv,
            cond,
        } => {
            let top = (size.sf() << 10) | (0b11 << 8) | 0b11010010;
            put(
                buf,
                enc_rrr(top, rz(rm)?, cond.bits() << 2, rz(rn)?, (nzcv & 15) as u32),
            );
        }
        MInst::Load { kind, rd, mem } => {
            let rt = if kind.is_fpu() {
                rv(rd.to_reg())?
            } else {
                rz(rd.to_reg())?
            };
            emit_ldst(
                buf,
                load_bits(kind),
                kind.bytes(),
                rt,
                mem,
                frame,
                literal_bits(kind),
            )?;
        }
        MInst::Store { kind, rd, mem } => {
            let rt = if kind.is_fpu() { rv(rd)? } else { rz(rd)? };
            emit_ldst(buf, store_bits(kind), kind.bytes(), rt, mem, frame, None)?;
        }
        MInst::LoadPair { kind, rt, rt2, mem } => {
            emit_pair(buf, kind, 1, rt.to_reg(), rt2.to_reg(), mem)?;
        }
        MInst::StorePair { kind, rt, rt2, mem } => {
            emit_pair(buf, kind, 0, rt, rt2, mem)?;
        }
        MInst::LoadAddr { rd, mem } => {
            let Some((base, off)) = frame_base(mem, frame) else {
                return Err(bad("load_addr of a non-frame address"));
            };
            let rd = rs(rd.to_reg())?;
            let (o, mag) = if off < 0 {
                (1, off.unsigned_abs())
            } else {
                (0, off as u64)
            };
            if let Some(imm) = Imm12::maybe_from_u64(mag) {
                put(buf, enc_addsub_imm(1, o, 0, imm, rs(base)?, rd));
            } else {
                load_ip0(buf, off as u64)?;
                // add rd, base, x16, uxtx (the extended form reads sp).
                put(
                    buf,
                    enc_rrr(
                        0b10001011001,
                        regs::IP0_ENC as u32,
                        (ExtendOp::Uxtx as u32) << 3,
                        rs(base)?,
                        rd,
                    ),
                );
            }
        }
        MInst::Adr { rd, label } => {
            let off = buf.cur_offset();
            buf.use_label_at_offset(off, label, A64LabelUse::Adr21);
            put(buf, (0b10000 << 24) | rz(rd.to_reg())?);
        }
        MInst::Jump { target } => emit_jump(buf, target),
        MInst::CondBr {
            kind,
            taken,
            not_taken,
        } => {
            let (word, use_kind) = enc_cond_br(kind)?;
            let (inv, _) = enc_cond_br(kind.invert())?;
            let start = buf.cur_offset();
            buf.use_label_at_offset(start, taken, use_kind);
            put(buf, word);
            buf.add_cond_branch(start, start + 4, taken, &inv.to_le_bytes());
            emit_jump(buf, not_taken);
        }
        MInst::OneWayCondBr { kind, target } => {
            let (word, use_kind) = enc_cond_br(kind)?;
            let start = buf.cur_offset();
            buf.use_label_at_offset(start, target, use_kind);
            put(buf, word);
        }
        MInst::Ret { .. } => put(buf, 0xd65f_03c0),
        MInst::Call {
            target, callee_pop, ..
        } => {
            buf.add_reloc(Reloc::Aarch64Call26, target, 0);
            put(buf, enc_b(true));
            buf.add_call_site();
            callee_pop_fixup(buf, callee_pop, frame)?;
        }
        MInst::CallInd { rn, callee_pop, .. } => {
            put(buf, 0xd63f_0000 | (rz(rn)? << 5));
            buf.add_call_site();
            callee_pop_fixup(buf, callee_pop, frame)?;
        }
        // Needs the return-address protection flags: emitted by the
        // backend through `tail::emit_return_call`.
        MInst::ReturnCall { .. } => {
            return Err(bad("return_call is emitted by tail::emit_return_call"))
        }
        MInst::TryCall { ref info } => {
            match info.callee {
                TryCallee::Known(target) => {
                    buf.add_reloc(Reloc::Aarch64Call26, target, 0);
                    put(buf, enc_b(true));
                }
                TryCallee::Reg(rn) => put(buf, 0xd63f_0000 | (rz(rn)? << 5)),
            }
            buf.add_call_site();
            // sp stays `fixed_frame_size` below x29 in the body: where a
            // throw puts it back before entering a handler.
            buf.add_exception_site(frame.fixed_frame_size, &info.handlers);
            callee_pop_fixup(buf, info.callee_pop, frame)?;
            emit_jump(buf, info.normal);
        }
        MInst::Udf { code } => {
            buf.add_trap(code);
            put(buf, 0);
        }
        MInst::Brk => put(buf, 0xd420_0000),
        MInst::StackProbeLoop { total, guard } => {
            let (sp, x17) = (regs::sp(), regs::ip1());
            let mut seq = MInst::load_constant(
                Writable::from_reg(x17),
                u64::from(total),
                OperandSize::Size64,
            );
            seq.push(MInst::AluRRRExtend {
                op: AluOp::Sub,
                size: OperandSize::Size64,
                rd: Writable::from_reg(x17),
                rn: sp,
                rm: x17,
                extend: ExtendOp::Uxtx,
                amt: 0,
            });
            for i in &seq {
                emit(i, frame, buf)?;
            }
            let top = buf.get_label();
            buf.bind_label(top);
            let mut body = Vec::new();
            super::abi::sp_adjust(true, guard, &mut body);
            body.push(MInst::Store {
                kind: StoreKind::Store64,
                rd: regs::zr(),
                mem: AMode::UnsignedOffset { rn: sp, uimm: 0 },
            });
            body.push(super::abi::cmp_sp(x17));
            body.push(MInst::OneWayCondBr {
                kind: CondBrKind::Cond(Cond::Ne),
                target: top,
            });
            for i in &body {
                emit(i, frame, buf)?;
            }
        }
        MInst::Hint { op } => {
            // HINT #imm: CRm:op2 at bits 5..12 of 0xd503201f.
            let imm = match op {
                HintOp::Paciasp => 25,
                HintOp::Pacibsp => 27,
                HintOp::Autiasp => 29,
                HintOp::Autibsp => 31,
                HintOp::BtiC => 34,
                HintOp::Xpaclri => 7,
                HintOp::Autia1716 => 12,
                HintOp::Autib1716 => 14,
            };
            put(buf, 0xd503_201f | (imm << 5));
        }
        MInst::Args { .. } => {}
        MInst::TrapIf { kind, code } => {
            // Not registered as a branch: the island is never the
            // fallthrough.
            let stub = buf.defer_trap(code);
            let (word, use_kind) = enc_cond_br(kind)?;
            let off = buf.cur_offset();
            buf.use_label_at_offset(off, stub, use_kind);
            put(buf, word);
        }
        MInst::FpuRR { op, size, rd, rn } => {
            let opcode = match op {
                FpuOp1::Mov => 0b000000,
                FpuOp1::Abs => 0b000001,
                FpuOp1::Neg => 0b000010,
                FpuOp1::Sqrt => 0b000011,
                FpuOp1::RintN => 0b001000,
                FpuOp1::RintP => 0b001001,
                FpuOp1::RintM => 0b001010,
                FpuOp1::RintZ => 0b001011,
            };
            put(
                buf,
                enc_fp_rr(size.ftype(), opcode, rv(rn)?, rv(rd.to_reg())?),
            );
        }
        MInst::FpuRRR {
            op,
            size,
            rd,
            rn,
            rm,
        } => {
            let opcode = match op {
                FpuOp2::Mul => 0b0000,
                FpuOp2::Div => 0b0001,
                FpuOp2::Add => 0b0010,
                FpuOp2::Sub => 0b0011,
                FpuOp2::Max => 0b0100,
                FpuOp2::Min => 0b0101,
            };
            put(
                buf,
                enc_fp_rrr(size.ftype(), rv(rm)?, opcode, rv(rn)?, rv(rd.to_reg())?),
            );
        }
        MInst::FpuRRRR {
            op,
            size,
            rd,
            rn,
            rm,
            ra,
        } => {
            let (o1, o0) = match op {
                FpuOp3::Fmadd => (0, 0),
                FpuOp3::Fmsub => (0, 1),
                FpuOp3::Fnmadd => (1, 0),
                FpuOp3::Fnmsub => (1, 1),
            };
            let top = (0b11111 << 3) | (size.ftype() << 1) | o1;
            put(
                buf,
                enc_rrr(top, rv(rm)?, (o0 << 5) | rv(ra)?, rv(rn)?, rv(rd.to_reg())?),
            );
        }
        MInst::FpuCmp { size, rn, rm } => {
            put(
                buf,
                enc_fp_rrr(size.ftype(), rv(rm)?, 0b0010, rv(rn)?, 0) & !(0b10 << 10),
            );
        }
        MInst::FpuCSel {
            size,
            cond,
            rd,
            rn,
            rm,
        } => {
            let top = (0b11110 << 3) | (size.ftype() << 1) | 1;
            put(
                buf,
                enc_rrr(
                    top,
                    rv(rm)?,
                    (cond.bits() << 2) | 0b11,
                    rv(rn)?,
                    rv(rd.to_reg())?,
                ),
            );
        }
        MInst::FpuCvt { from, to, rd, rn } => {
            if from == to {
                return Err(bad("fcvt to the same width"));
            }
            let opcode = 0b000100 | to.ftype();
            put(
                buf,
                enc_fp_rr(from.ftype(), opcode, rv(rn)?, rv(rd.to_reg())?),
            );
        }
        MInst::FpuToInt {
            signed,
            from,
            to,
            rd,
            rn,
        } => {
            let opcode = if signed { 0b000 } else { 0b001 };
            put(
                buf,
                enc_fp_int(
                    to.sf(),
                    from.ftype(),
                    0b11,
                    opcode,
                    rv(rn)?,
                    rz(rd.to_reg())?,
                ),
            );
        }
        MInst::IntToFpu {
            signed,
            from,
            to,
            rd,
            rn,
        } => {
            let opcode = if signed { 0b010 } else { 0b011 };
            put(
                buf,
                enc_fp_int(
                    from.sf(),
                    to.ftype(),
                    0b00,
                    opcode,
                    rz(rn)?,
                    rv(rd.to_reg())?,
                ),
            );
        }
        MInst::MovToFpu { size, rd, rn } => {
            let sf = (size == ScalarSize::Size64) as u32;
            put(
                buf,
                enc_fp_int(sf, size.ftype(), 0b00, 0b111, rz(rn)?, rv(rd.to_reg())?),
            );
        }
        MInst::MovFromFpu { size, rd, rn } => {
            let sf = (size == ScalarSize::Size64) as u32;
            put(
                buf,
                enc_fp_int(sf, size.ftype(), 0b00, 0b110, rv(rn)?, rz(rd.to_reg())?),
            );
        }
        MInst::LoadAcquire { bytes, rt, rn } => {
            put(
                buf,
                (sz_bits(bytes)? << 30) | 0x08df_fc00 | (rs(rn)? << 5) | rz(rt.to_reg())?,
            );
        }
        MInst::StoreRelease { bytes, rt, rn } => {
            put(
                buf,
                (sz_bits(bytes)? << 30) | 0x089f_fc00 | (rs(rn)? << 5) | rz(rt)?,
            );
        }
        MInst::Fence => put(buf, 0xd503_3bbf),
        MInst::AtomicRmwLse {
            op,
            bytes,
            rs: r_s,
            rt,
            rn,
        } => {
            // LD<op>AL / SWPAL: size 111000 A=1 R=1 1 Rs o3 opc 00 Rn Rt.
            let (o3, opc) = match op {
                AtomicOp::Add => (0, 0b000),
                AtomicOp::Clr => (0, 0b001),
                AtomicOp::Xor => (0, 0b010),
                AtomicOp::Or => (0, 0b011),
                AtomicOp::Smax => (0, 0b100),
                AtomicOp::Smin => (0, 0b101),
                AtomicOp::Umax => (0, 0b110),
                AtomicOp::Umin => (0, 0b111),
                AtomicOp::Xchg => (1, 0b000),
                AtomicOp::Sub | AtomicOp::And | AtomicOp::Nand => {
                    return Err(bad(format!("no LSE instruction for atomic {op:?}")))
                }
            };
            put(
                buf,
                (sz_bits(bytes)? << 30)
                    | 0x38e0_0000
                    | (rz(r_s)? << 16)
                    | (o3 << 15)
                    | (opc << 12)
                    | (rs(rn)? << 5)
                    | rz(rt.to_reg())?,
            );
        }
        MInst::AtomicCasLse {
            bytes,
            old,
            expected,
            replacement,
            rn,
        } => {
            if old.to_reg() != expected {
                return Err(bad("casal: old value not allocated to the expected value"));
            }
            put(
                buf,
                (sz_bits(bytes)? << 30)
                    | 0x08e0_fc00
                    | (rz(expected)? << 16)
                    | (rs(rn)? << 5)
                    | rz(replacement)?,
            );
        }
        MInst::AtomicRmwLoop {
            op,
            bytes,
            signed,
            addr,
            operand,
            old,
            new,
            status,
        } => emit_rmw_loop(buf, op, bytes, signed, addr, operand, old, new, status)?,
        MInst::AtomicCasLoop {
            bytes,
            addr,
            expected,
            replacement,
            old,
            status,
        } => {
            let sz = sz_bits(bytes)?;
            let size = if bytes == 8 {
                OperandSize::Size64
            } else {
                OperandSize::Size32
            };
            let start = buf.cur_offset();
            put(buf, ldaxr(sz, rs(addr)?, rz(old.to_reg())?));
            emit_plain(
                &MInst::AluRRR {
                    op: AluOp::Subs,
                    size,
                    rd: crate::machinst::reg::Writable::from_reg(regs::zr()),
                    rn: old.to_reg(),
                    rm: expected,
                },
                buf,
            )?;
            // b.ne out: over the stlxr and the cbnz.
            put(buf, 0x5400_0000 | (3 << 5) | Cond::Ne as u32);
            put(
                buf,
                stlxr(sz, rz(status.to_reg())?, rs(addr)?, rz(replacement)?),
            );
            let back = start.wrapping_sub(buf.cur_offset());
            put(buf, cbnz_w(back, rz(status.to_reg())?));
        }
        MInst::AtomicRmw128Loop(ref a) => emit_rmw128_loop(buf, a)?,
        MInst::AtomicRmw128Casp(ref a) => emit_rmw128_casp(buf, a)?,
        MInst::AtomicCas128Loop(ref a) => emit_cas128_loop(buf, a)?,
        MInst::AtomicCas128Lse(ref a) => {
            // casp pairs are fixed: x0:x1 expected/old, x2:x3 replacement
            // (x0:x1 again for the atomic load).
            let fixed = |r: Reg, n: u32| -> CodegenResult<()> {
                if rz(r)? != n {
                    return Err(bad(format!("caspal operand {r:?} is not x{n}")));
                }
                Ok(())
            };
            fixed(a.old[0].to_reg(), 0)?;
            fixed(a.old[1].to_reg(), 1)?;
            let rt = match (a.expected, a.replacement) {
                (Some(e), Some(r)) => {
                    fixed(e[0], 0)?;
                    fixed(e[1], 1)?;
                    fixed(r[0], 2)?;
                    fixed(r[1], 3)?;
                    2
                }
                _ => 0,
            };
            put(buf, caspal(0, rt, rs(a.addr)?));
        }
        MInst::JmpTable {
            idx,
            tmp1,
            tmp2,
            default,
            ref targets,
            bti,
        } => {
            use crate::machinst::reg::Writable;
            // Bounds check against the entry count (a u32; saturated so an
            // oversized table still compares correctly), `b.hs default`.
            let len = u32::try_from(targets.len()).unwrap_or(u32::MAX);
            match Imm12::maybe_from_u64(u64::from(len)) {
                Some(imm) => put(buf, enc_addsub_imm(0, 1, 1, imm, rz(idx)?, 31)),
                None => {
                    for i in MInst::load_constant(tmp2, u64::from(len), OperandSize::Size32) {
                        emit_plain(&i, buf)?;
                    }
                    emit_plain(
                        &MInst::AluRRR {
                            op: AluOp::Subs,
                            size: OperandSize::Size32,
                            rd: Writable::from_reg(regs::zr()),
                            rn: idx,
                            rm: tmp2.to_reg(),
                        },
                        buf,
                    )?;
                }
            }
            // Not registered as a branch: the table code follows it.
            let (word, use_kind) = enc_cond_br(CondBrKind::Cond(Cond::Hs))?;
            let off = buf.cur_offset();
            buf.use_label_at_offset(off, default, use_kind);
            put(buf, word);
            // Under misspeculation past the check, index entry 0 instead.
            emit_plain(
                &MInst::CSel {
                    op: CSelOp::Csel,
                    size: OperandSize::Size64,
                    cond: Cond::Hs,
                    rd: tmp2,
                    rn: regs::zr(),
                    rm: idx,
                },
                buf,
            )?;
            let table = buf.get_label();
            let off = buf.cur_offset();
            buf.use_label_at_offset(off, table, A64LabelUse::Adr21);
            put(buf, (0b10000 << 24) | rz(tmp1.to_reg())?);
            if bti {
                // Under BTI an indirect `br` must land on `bti j`: the
                // table is one `bti j; b target` pair per entry.
                emit_plain(
                    &MInst::AluRRRShift {
                        op: AluOp::Add,
                        size: OperandSize::Size64,
                        rd: tmp1,
                        rn: tmp1.to_reg(),
                        rm: tmp2.to_reg(),
                        shift: ShiftOpAndAmt {
                            op: ShiftOp::Lsl,
                            amt: 3,
                        },
                    },
                    buf,
                )?;
                put(buf, 0xd61f_0000 | (rz(tmp1.to_reg())? << 5));
                buf.bind_label(table);
                for l in targets.iter() {
                    put(buf, 0xd503_249f);
                    let off = buf.cur_offset();
                    buf.use_label_at_offset(off, *l, A64LabelUse::Branch26);
                    put(buf, enc_b(false));
                }
                return Ok(());
            }
            // ldrsw tmp2, [tmp1, tmp2, uxtw #2]
            put(
                buf,
                0xb8a0_5800
                    | (rz(tmp2.to_reg())? << 16)
                    | (rs(tmp1.to_reg())? << 5)
                    | rz(tmp2.to_reg())?,
            );
            emit_plain(
                &MInst::AluRRR {
                    op: AluOp::Add,
                    size: OperandSize::Size64,
                    rd: tmp1,
                    rn: tmp1.to_reg(),
                    rm: tmp2.to_reg(),
                },
                buf,
            )?;
            put(buf, 0xd61f_0000 | (rz(tmp1.to_reg())? << 5));
            buf.bind_label(table);
            for (n, l) in targets.iter().enumerate() {
                let off = buf.cur_offset();
                buf.use_label_at_offset(off, *l, A64LabelUse::PCRel32);
                put(buf, (4 * n) as u32);
            }
        }
        MInst::LoadExtName {
            rd,
            target,
            offset,
            mode,
        } => {
            let d = rz(rd.to_reg())?;
            match mode {
                ExtNameMode::Literal => {
                    // ldr rd, #8 (literal); b #12; the 8-byte address.
                    put(buf, 0x5800_0000 | (2 << 5) | d);
                    put(buf, 0x1400_0003);
                    buf.add_reloc(Reloc::Abs8, target, offset);
                    put(buf, 0);
                    put(buf, 0);
                }
                ExtNameMode::PcRel => {
                    // adrp rd, page; add rd, rd, #lo12 (64-bit add
                    // immediate); the linker fills both fields.
                    buf.add_reloc(Reloc::Aarch64AdrPrelPgHi21, target, offset);
                    put(buf, 0x9000_0000 | d);
                    buf.add_reloc(Reloc::Aarch64AddAbsLo12Nc, target, offset);
                    put(buf, 0x9100_0000 | (d << 5) | d);
                }
                ExtNameMode::Got => {
                    if offset != 0 {
                        return Err(bad("a GOT load carries no offset"));
                    }
                    // adrp rd, GOT page; ldr rd, [rd, #slot lo12] (64-bit
                    // unsigned-offset load, the field scaled by 8).
                    buf.add_reloc(Reloc::Aarch64AdrGotPage21, target, 0);
                    put(buf, 0x9000_0000 | d);
                    buf.add_reloc(Reloc::Aarch64Ld64GotLo12Nc, target, 0);
                    put(buf, 0xf940_0000 | (d << 5) | d);
                }
            }
        }
        MInst::VecRRR { op, rd, rn, rm } => {
            // Advanced SIMD three-same logical forms (Q=1) and the
            // permute `zip1` (Q=1, size=11).
            let base = match op {
                VecAluOp::And16B => 0x4e20_1c00,
                VecAluOp::Bic16B => 0x4e60_1c00,
                VecAluOp::Orr16B => 0x4ea0_1c00,
                VecAluOp::Zip1D2 => 0x4ec0_3800,
            };
            put(
                buf,
                base | (rv(rm)? << 16) | (rv(rn)? << 5) | rv(rd.to_reg())?,
            );
        }
        MInst::MovFromVecHi { rd, rn } => {
            // UMOV (Q=1, imm5=11000: doubleword lane 1), printed `mov`.
            put(buf, 0x4e18_3c00 | (rv(rn)? << 5) | rz(rd.to_reg())?);
        }
        MInst::VecMisc { op, rd, rn } => {
            // Advanced SIMD two-register misc (cnt, Q=0 size=00), across
            // lanes (addv, Q=0 size=00), and three-same `orr` (Q=1) with
            // rm = rn, which is `mov vd.16b, vn.16b`.
            let base = match op {
                VecMiscOp::Cnt8B => 0x0e20_5800,
                VecMiscOp::Addv8B => 0x0e31_b800,
                VecMiscOp::Mov16B => 0x4ea0_1c00 | (rv(rn)? << 16),
            };
            put(buf, base | (rv(rn)? << 5) | rv(rd.to_reg())?);
        }
    }
    Ok(())
}

/// The size field (bits 30..32) of a load/store of `bytes`.
fn sz_bits(bytes: u8) -> CodegenResult<u32> {
    match bytes {
        1 => Ok(0),
        2 => Ok(1),
        4 => Ok(2),
        8 => Ok(3),
        _ => Err(bad(format!("an atomic access of {bytes} bytes"))),
    }
}

/// `ldaxr{b,h} rt, [rn]`
fn ldaxr(sz: u32, rn: u32, rt: u32) -> u32 {
    (sz << 30) | 0x085f_fc00 | (rn << 5) | rt
}

/// `stlxr{b,h} ws, rt, [rn]`
fn stlxr(sz: u32, ws: u32, rn: u32, rt: u32) -> u32 {
    (sz << 30) | 0x0800_fc00 | (ws << 16) | (rn << 5) | rt
}

/// `cbnz wt, rel` for a byte offset `rel` (two's complement) from it.
fn cbnz_w(rel: u32, rt: u32) -> u32 {
    0x3500_0000 | (((rel >> 2) & 0x7ffff) << 5) | rt
}

/// The exclusive-pair loop of `MInst::AtomicRmwLoop`.
#[allow(clippy::too_many_arguments)]
fn emit_rmw_loop(
    buf: &mut MachBuffer<A64LabelUse>,
    op: AtomicOp,
    bytes: u8,
    signed: bool,
    addr: Reg,
    operand: Reg,
    old: crate::machinst::reg::Writable<Reg>,
    new: crate::machinst::reg::Writable<Reg>,
    status: crate::machinst::reg::Writable<Reg>,
) -> CodegenResult<()> {
    use crate::machinst::reg::Writable;
    let sz = sz_bits(bytes)?;
    let size = if bytes == 8 {
        OperandSize::Size64
    } else {
        OperandSize::Size32
    };
    let start = buf.cur_offset();
    put(buf, ldaxr(sz, rs(addr)?, rz(old.to_reg())?));
    let o = old.to_reg();
    let rrr = |op, rn, rm| MInst::AluRRR {
        op,
        size,
        rd: new,
        rn,
        rm,
    };
    let stored = match op {
        AtomicOp::Add => Some(rrr(AluOp::Add, o, operand)),
        AtomicOp::Sub => Some(rrr(AluOp::Sub, o, operand)),
        AtomicOp::And => Some(rrr(AluOp::And, o, operand)),
        AtomicOp::Clr => Some(rrr(AluOp::Bic, o, operand)),
        AtomicOp::Or => Some(rrr(AluOp::Orr, o, operand)),
        AtomicOp::Xor => Some(rrr(AluOp::Eor, o, operand)),
        AtomicOp::Nand => {
            emit_plain(&rrr(AluOp::And, o, operand), buf)?;
            Some(rrr(AluOp::Orn, regs::zr(), new.to_reg()))
        }
        AtomicOp::Xchg => None,
        AtomicOp::Umin | AtomicOp::Umax | AtomicOp::Smin | AtomicOp::Smax => {
            let is_signed = matches!(op, AtomicOp::Smin | AtomicOp::Smax);
            // The compared old value: sign-extended into `new` for a
            // narrow signed compare (the operand already is).
            let cmp_lhs = if is_signed && signed && bytes < 4 {
                emit_plain(
                    &MInst::Bfm {
                        op: BfmOp::Sbfm,
                        size: OperandSize::Size32,
                        rd: new,
                        rn: o,
                        immr: 0,
                        imms: (bytes * 8 - 1),
                    },
                    buf,
                )?;
                new.to_reg()
            } else {
                o
            };
            emit_plain(
                &MInst::AluRRR {
                    op: AluOp::Subs,
                    size,
                    rd: Writable::from_reg(regs::zr()),
                    rn: cmp_lhs,
                    rm: operand,
                },
                buf,
            )?;
            // Keep the old value when it already is the min (max).
            let cond = match op {
                AtomicOp::Umin => Cond::Lo,
                AtomicOp::Umax => Cond::Hi,
                AtomicOp::Smin => Cond::Lt,
                _ => Cond::Gt,
            };
            Some(MInst::CSel {
                op: CSelOp::Csel,
                size,
                cond,
                rd: new,
                rn: o,
                rm: operand,
            })
        }
    };
    let value = match stored {
        Some(i) => {
            emit_plain(&i, buf)?;
            new.to_reg()
        }
        None => operand,
    };
    put(buf, stlxr(sz, rz(status.to_reg())?, rs(addr)?, rz(value)?));
    let back = start.wrapping_sub(buf.cur_offset());
    put(buf, cbnz_w(back, rz(status.to_reg())?));
    Ok(())
}

/// `ldaxp xt, xt2, [xn]`
fn ldaxp(rt: u32, rt2: u32, rn: u32) -> u32 {
    0xc87f_8000 | (rt2 << 10) | (rn << 5) | rt
}

/// `stlxp ws, xt, xt2, [xn]`
fn stlxp(ws: u32, rt: u32, rt2: u32, rn: u32) -> u32 {
    0xc820_8000 | (ws << 16) | (rt2 << 10) | (rn << 5) | rt
}

/// `caspal xs, xs+1, xt, xt+1, [xn]` (`s` and `t` even).
fn caspal(s: u32, t: u32, rn: u32) -> u32 {
    0x4860_fc00 | (s << 16) | (rn << 5) | t
}

/// `b.cond rel` for a byte offset `rel` (two's complement) from it.
fn b_cond(rel: u32, cond: Cond) -> u32 {
    0x5400_0000 | (((rel >> 2) & 0x7ffff) << 5) | cond as u32
}

/// `new = old op operand` on register pairs (low, high), for the i128
/// atomic loops. `Xchg` copies the operand. The flags are clobbered.
fn emit_op128(
    buf: &mut MachBuffer<A64LabelUse>,
    op: AtomicOp,
    old: [Reg; 2],
    operand: [Reg; 2],
    new: [crate::machinst::reg::Writable<Reg>; 2],
) -> CodegenResult<()> {
    use crate::machinst::reg::Writable;
    let s64 = OperandSize::Size64;
    let rrr = |op, i: usize, rn, rm| MInst::AluRRR {
        op,
        size: s64,
        rd: new[i],
        rn,
        rm,
    };
    let pair = |lo_op, hi_op| {
        [
            rrr(lo_op, 0, old[0], operand[0]),
            rrr(hi_op, 1, old[1], operand[1]),
        ]
    };
    let seq: Vec<MInst> = match op {
        AtomicOp::Add => pair(AluOp::Adds, AluOp::Adc).into(),
        AtomicOp::Sub => pair(AluOp::Subs, AluOp::Sbc).into(),
        AtomicOp::And => pair(AluOp::And, AluOp::And).into(),
        AtomicOp::Clr => pair(AluOp::Bic, AluOp::Bic).into(),
        AtomicOp::Or => pair(AluOp::Orr, AluOp::Orr).into(),
        AtomicOp::Xor => pair(AluOp::Eor, AluOp::Eor).into(),
        AtomicOp::Nand => {
            let mut v: Vec<MInst> = pair(AluOp::And, AluOp::And).into();
            v.push(rrr(AluOp::Orn, 0, regs::zr(), new[0].to_reg()));
            v.push(rrr(AluOp::Orn, 1, regs::zr(), new[1].to_reg()));
            v
        }
        AtomicOp::Xchg => (0..2)
            .map(|i| MInst::Mov {
                size: s64,
                rd: new[i],
                rm: operand[i],
            })
            .collect(),
        AtomicOp::Umin | AtomicOp::Umax | AtomicOp::Smin | AtomicOp::Smax => {
            // Keep the old value when `old < operand` (min) or `old >=
            // operand` (max): the flags of the 128-bit subtraction.
            let cond = match op {
                AtomicOp::Umin => Cond::Lo,
                AtomicOp::Umax => Cond::Hs,
                AtomicOp::Smin => Cond::Lt,
                _ => Cond::Ge,
            };
            let zr = Writable::from_reg(regs::zr());
            let csel = |i: usize| MInst::CSel {
                op: CSelOp::Csel,
                size: s64,
                cond,
                rd: new[i],
                rn: old[i],
                rm: operand[i],
            };
            vec![
                MInst::AluRRR {
                    op: AluOp::Subs,
                    size: s64,
                    rd: zr,
                    rn: old[0],
                    rm: operand[0],
                },
                MInst::AluRRR {
                    op: AluOp::Sbcs,
                    size: s64,
                    rd: zr,
                    rn: old[1],
                    rm: operand[1],
                },
                csel(0),
                csel(1),
            ]
        }
    };
    for i in &seq {
        emit_plain(i, buf)?;
    }
    Ok(())
}

/// The exclusive-pair loop of `MInst::AtomicRmw128Loop`.
fn emit_rmw128_loop(buf: &mut MachBuffer<A64LabelUse>, a: &AtomicRmw128Args) -> CodegenResult<()> {
    let old = [a.old[0].to_reg(), a.old[1].to_reg()];
    let status = rz(a.scratch[0].to_reg())?;
    let addr = rs(a.addr)?;
    let start = buf.cur_offset();
    put(buf, ldaxp(rz(old[0])?, rz(old[1])?, addr));
    let stored = match a.op {
        None => old,
        Some(AtomicOp::Xchg) => a.operand,
        Some(op) => {
            emit_op128(buf, op, old, a.operand, a.new)?;
            [a.new[0].to_reg(), a.new[1].to_reg()]
        }
    };
    put(buf, stlxp(status, rz(stored[0])?, rz(stored[1])?, addr));
    let back = start.wrapping_sub(buf.cur_offset());
    put(buf, cbnz_w(back, status));
    Ok(())
}

/// The `caspal` loop of `MInst::AtomicRmw128Casp`.
fn emit_rmw128_casp(buf: &mut MachBuffer<A64LabelUse>, a: &AtomicRmw128Args) -> CodegenResult<()> {
    let old = [a.old[0].to_reg(), a.old[1].to_reg()];
    let copy = [a.scratch[0].to_reg(), a.scratch[1].to_reg()];
    let (o0, o1) = (rz(old[0])?, rz(old[1])?);
    let (n0, n1) = (rz(a.new[0].to_reg())?, rz(a.new[1].to_reg())?);
    if (o0, o1, n0, n1) != (0, 1, 2, 3) {
        return Err(bad("caspal loop registers are not x0:x1 and x2:x3"));
    }
    let op =
        a.op.ok_or_else(|| bad("caspal loop without an operation"))?;
    emit_pair(
        buf,
        PairKind::X64,
        1,
        old[0],
        old[1],
        PairAMode::SignedOffset {
            rn: a.addr,
            simm: 0,
        },
    )?;
    let start = buf.cur_offset();
    for (&copy, &o) in a.scratch.iter().zip(&old) {
        emit_plain(&MInst::gen_move(copy, o), buf)?;
    }
    emit_op128(buf, op, old, a.operand, a.new)?;
    put(buf, caspal(0, 2, rs(a.addr)?));
    emit_plain(
        &MInst::AluRRR {
            op: AluOp::Subs,
            size: OperandSize::Size64,
            rd: crate::machinst::reg::Writable::from_reg(regs::zr()),
            rn: old[0],
            rm: copy[0],
        },
        buf,
    )?;
    emit_plain(
        &MInst::CCmp {
            size: OperandSize::Size64,
            rn: old[1],
            rm: copy[1],
            nzcv: 0,
            cond: Cond::Eq,
        },
        buf,
    )?;
    let back = start.wrapping_sub(buf.cur_offset());
    put(buf, b_cond(back, Cond::Ne));
    Ok(())
}

/// The exclusive-pair loop of `MInst::AtomicCas128Loop`.
fn emit_cas128_loop(buf: &mut MachBuffer<A64LabelUse>, a: &AtomicCas128Args) -> CodegenResult<()> {
    let (Some(e), Some(r)) = (a.expected, a.replacement) else {
        return Err(bad("i128 compare-and-swap loop without operands"));
    };
    let old = [a.old[0].to_reg(), a.old[1].to_reg()];
    let status = rz(a.status.to_reg())?;
    let addr = rs(a.addr)?;
    let s64 = OperandSize::Size64;
    let start = buf.cur_offset();
    put(buf, ldaxp(rz(old[0])?, rz(old[1])?, addr));
    emit_plain(
        &MInst::AluRRR {
            op: AluOp::Subs,
            size: s64,
            rd: crate::machinst::reg::Writable::from_reg(regs::zr()),
            rn: old[0],
            rm: e[0],
        },
        buf,
    )?;
    emit_plain(
        &MInst::CCmp {
            size: s64,
            rn: old[1],
            rm: e[1],
            nzcv: 0,
            cond: Cond::Eq,
        },
        buf,
    )?;
    for i in 0..2 {
        emit_plain(
            &MInst::CSel {
                op: CSelOp::Csel,
                size: s64,
                cond: Cond::Eq,
                rd: a.store[i],
                rn: r[i],
                rm: old[i],
            },
            buf,
        )?;
    }
    let st = [rz(a.store[0].to_reg())?, rz(a.store[1].to_reg())?];
    put(buf, stlxp(status, st[0], st[1], addr));
    let back = start.wrapping_sub(buf.cur_offset());
    put(buf, cbnz_w(back, status));
    Ok(())
}

/// After a call to a `tail` callee that popped `n` bytes of stack
/// arguments: `sub sp, sp, #n` puts sp back at the bottom of the frame.
fn callee_pop_fixup(
    buf: &mut MachBuffer<A64LabelUse>,
    n: u32,
    frame: &FrameLayout,
) -> CodegenResult<()> {
    let mut seq = Vec::new();
    super::abi::sp_adjust(true, n, &mut seq);
    for i in &seq {
        emit(i, frame, buf)?;
    }
    Ok(())
}

/// `b` (`link` false) or `bl` with a zero offset, for a relocation.
pub(crate) fn enc_branch26(link: bool) -> u32 {
    enc_b(link)
}

fn emit_jump(buf: &mut MachBuffer<A64LabelUse>, target: MachLabel) {
    let start = buf.cur_offset();
    buf.use_label_at_offset(start, target, A64LabelUse::Branch26);
    put(buf, enc_b(false));
    buf.add_uncond_branch(start, start + 4, target);
}

fn emit_pair(
    buf: &mut MachBuffer<A64LabelUse>,
    kind: PairKind,
    l: u32,
    rt: Reg,
    rt2: Reg,
    mem: PairAMode,
) -> CodegenResult<()> {
    let (opc, v, rt, rt2) = match kind {
        PairKind::X64 => (0b10, 0, rz(rt)?, rz(rt2)?),
        PairKind::D64 => (0b01, 1, rv(rt)?, rv(rt2)?),
    };
    let (mode, rn, simm) = match mem {
        PairAMode::PostIndexed { rn, simm } => (0b001, rn, simm),
        PairAMode::SignedOffset { rn, simm } => (0b010, rn, simm),
        PairAMode::PreIndexed { rn, simm } => (0b011, rn, simm),
    };
    if simm % 8 != 0 || !(-512..512).contains(&simm) {
        return Err(bad(format!("pair offset {simm} not a scaled 7-bit offset")));
    }
    put(
        buf,
        enc_ldst_pair(opc, v, mode, l, simm / 8, rt2, rs(rn)?, rt),
    );
    Ok(())
}
