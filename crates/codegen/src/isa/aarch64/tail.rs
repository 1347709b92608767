//! The aarch64 tail-call sequence (`MInst::ReturnCall`), emitted with the
//! frame it tears down.
//!
//! On entry the callee's register arguments are in place (fixed uses) and
//! its `n` bytes of stack arguments are at `[sp, sp + n)`, this frame's
//! outgoing area. With `F` the fixed frame size, the CFA (sp at entry) is
//! `sp + F + 16`; `o` is the size of the argument area our caller expects
//! us to pop (`tail` convention; 0 otherwise), so our caller will take sp
//! back as `CFA + o` once the chain of calls returns. The sequence:
//!
//! 1. reload the callee-saved registers, as the epilogue does (none is an
//!    argument register under AAPCS64);
//! 2. `ldp x29, x30, [x29]`: the caller's frame pointer and our return
//!    address, read before the copy below may overwrite the frame record;
//! 3. with `sign_return_address`, authenticate x30 against the sp it was
//!    signed with (the CFA) by `autia1716`/`autib1716` (x17 = x30, x16 =
//!    CFA): `autiasp` would need sp at the CFA, above the new arguments
//!    while they are still below it;
//! 4. move the stack arguments to `[CFA + o - n, CFA + o)`, the top of the
//!    new area at the top of ours, highest pair first (the destination is
//!    at least 16 bytes above the source, so overlapping areas copy
//!    correctly), through x10/x11, then `sp = CFA + o - n`; with no stack
//!    arguments, `sp = CFA + o`. sp never passes above live data, so a
//!    signal arriving in the middle cannot overwrite an argument;
//! 5. `b callee` (`JUMP26` relocation) or `br x9`; with `use_bti` the
//!    register is first moved to x16, since a `bti c` landing pad accepts
//!    `br` only through x16/x17.
//!
//! The unwind description follows each step: the body's state is
//! remembered, step 2 makes CFA = sp + F + 16 with x29/x30 holding the
//! caller's values, step 3 clears the signed state, step 4 moves the CFA
//! rule with sp, and the body's state is restored after the branch.

use super::abi::{sp_adjust, FrameProtection};
use super::args::*;
use super::emit::{emit, enc_branch26, A64LabelUse};
use super::inst::*;
use super::regs::{self, xreg};
use crate::machinst::abi::FrameLayout;
use crate::machinst::buffer::{MachBuffer, Reloc};
use crate::machinst::reg::{Reg, Writable};
use crate::result::{CodegenError, CodegenResult};
use crate::unwind::UnwindOp;

/// Stack arguments up to this many bytes are copied by straight-line
/// `ldp`/`stp` pairs; larger areas by a loop, so the whole sequence stays
/// inside the backend's `MAX_INST_BYTES` (the pipeline places islands
/// between instructions only; a test bounds the worst case).
pub const INLINE_COPY_BYTES: u32 = 96;

/// `rd = sp + value`, through `scratch` for values beyond the two 12-bit
/// immediate forms.
fn sp_plus(rd: Reg, value: u32, scratch: Reg, out: &mut Vec<MInst>) {
    let sp = regs::sp();
    let value = u64::from(value);
    if value < 1 << 24 {
        let (hi, lo) = (value & !0xfff, value & 0xfff);
        let mut base = sp;
        for part in [hi, lo] {
            if part != 0 {
                if let Some(imm) = Imm12::maybe_from_u64(part) {
                    out.push(MInst::AluRRImm12 {
                        op: AluOp::Add,
                        size: OperandSize::Size64,
                        rd: Writable::from_reg(rd),
                        rn: base,
                        imm,
                    });
                    base = rd;
                }
            }
        }
        if base == sp {
            // `mov rd, sp`.
            out.push(MInst::Mov {
                size: OperandSize::Size64,
                rd: Writable::from_reg(rd),
                rm: sp,
            });
        }
        return;
    }
    out.extend(MInst::load_constant(
        Writable::from_reg(scratch),
        value,
        OperandSize::Size64,
    ));
    out.push(MInst::AluRRRExtend {
        op: AluOp::Add,
        size: OperandSize::Size64,
        rd: Writable::from_reg(rd),
        rn: sp,
        rm: scratch,
        extend: ExtendOp::Uxtx,
        amt: 0,
    });
}

/// The callee-save reloads (step 1), in pairs as in the epilogue. Slots the
/// scaled forms cannot reach from sp (a frame with a large outgoing or
/// spill area) are read from x10 = sp + the first slot's offset, so the
/// sequence stays short whatever the frame size.
fn restore_callee_saves(frame: &FrameLayout, out: &mut Vec<MInst>) {
    let slots: Vec<(regalloc2::PReg, u32)> = frame.csr_slots().collect();
    let (Some(&(_, first)), Some(&(_, last))) = (slots.first(), slots.last()) else {
        return;
    };
    // Slots are 8 bytes (d8-d15 keep their low halves); a pair reaches 504.
    let (base, bias) = if last <= 496 {
        (regs::sp(), 0)
    } else {
        let x10 = xreg(10);
        sp_plus(x10, first, xreg(11), out);
        (x10, first)
    };
    let kinds = |p: regalloc2::PReg| match p.class() {
        regalloc2::RegClass::Int => (PairKind::X64, LoadKind::Load64),
        _ => (PairKind::D64, LoadKind::FpuLoad64),
    };
    let mut i = 0;
    while i < slots.len() {
        let (p, off) = slots[i];
        let off = off - bias;
        let (pair, load) = kinds(p);
        match slots.get(i + 1) {
            Some(&(q, off2)) if q.class() == p.class() && off2 - bias == off + 8 && off <= 496 => {
                out.push(MInst::LoadPair {
                    kind: pair,
                    rt: Writable::from_reg(Reg::from(p)),
                    rt2: Writable::from_reg(Reg::from(q)),
                    mem: PairAMode::SignedOffset {
                        rn: base,
                        simm: off as i16,
                    },
                });
                i += 2;
            }
            _ => {
                out.push(MInst::Load {
                    kind: load,
                    rd: Writable::from_reg(Reg::from(p)),
                    mem: AMode::UnsignedOffset {
                        rn: base,
                        uimm: off,
                    },
                });
                i += 1;
            }
        }
    }
}

/// Emits `rc` (see the module documentation) for `frame` with `prot`.
pub fn emit_return_call(
    rc: &ReturnCallInfo,
    frame: &FrameLayout,
    prot: FrameProtection,
    buf: &mut MachBuffer<A64LabelUse>,
) -> CodegenResult<()> {
    let put = |buf: &mut MachBuffer<A64LabelUse>, seq: &mut Vec<MInst>| -> CodegenResult<()> {
        for i in seq.drain(..) {
            emit(&i, frame, buf)?;
        }
        Ok(())
    };
    let (sp, fp, lr) = (regs::sp(), regs::fp(), regs::lr());
    let (x10, x11, x12, x13, x14) = (xreg(10), xreg(11), xreg(12), xreg(13), xreg(14));
    let (x16, x17) = (regs::ip0(), regs::ip1());
    let n = rc.stack_args;
    let o = frame.callee_pop;
    // sp + above = CFA. The frame is below 1 GiB (FrameLayout::compute).
    let above = frame.fixed_frame_size + frame.setup_area_size;
    // The new arguments end at CFA + o; they were stored in the outgoing
    // area, inside the fixed frame, so `dst >= 16`.
    let dst = (above + o)
        .checked_sub(n)
        .filter(|_| n.is_multiple_of(16) && n <= frame.fixed_frame_size);
    let Some(dst) = dst else {
        return Err(CodegenError::Emit(format!(
            "return_call: {n} bytes of stack arguments do not fit the outgoing area of a {}-byte frame",
            frame.fixed_frame_size
        )));
    };
    let mut seq = Vec::new();

    // The body's description holds again after the branch (code after it
    // is reached from the body).
    buf.add_unwind(UnwindOp::RememberState);
    restore_callee_saves(frame, &mut seq);
    seq.push(MInst::LoadPair {
        kind: PairKind::X64,
        rt: Writable::from_reg(fp),
        rt2: Writable::from_reg(lr),
        mem: PairAMode::SignedOffset { rn: fp, simm: 0 },
    });
    put(buf, &mut seq)?;
    buf.add_unwind(UnwindOp::RestoreFrameRegs {
        sp_to_cfa: above as i32,
    });

    if prot.sign_return_address {
        sp_plus(x16, above, x17, &mut seq);
        seq.push(MInst::Mov {
            size: OperandSize::Size64,
            rd: Writable::from_reg(x17),
            rm: lr,
        });
        seq.push(MInst::Hint {
            op: if prot.with_bkey {
                HintOp::Autib1716
            } else {
                HintOp::Autia1716
            },
        });
        seq.push(MInst::Mov {
            size: OperandSize::Size64,
            rd: Writable::from_reg(lr),
            rm: x17,
        });
        put(buf, &mut seq)?;
        buf.add_unwind(UnwindOp::ToggleReturnAddressSigned);
    }

    if n == 0 {
        // sp = CFA + o, in at most two immediate steps (or one through
        // x16); each step moves the CFA rule with it.
        sp_adjust(false, above + o, &mut seq);
        let mut moved = 0i64;
        for i in seq.drain(..) {
            emit(&i, frame, buf)?;
            moved += match &i {
                MInst::AluRRImm12 { imm, .. } => imm.value() as i64,
                MInst::AluRRRExtend { .. } => i64::from(above + o) - moved,
                _ => 0,
            };
            if matches!(i, MInst::AluRRImm12 { .. } | MInst::AluRRRExtend { .. }) {
                buf.add_unwind(UnwindOp::SpToCfa {
                    sp_to_cfa: (i64::from(above) - moved) as i32,
                });
            }
        }
    } else {
        let ld = |mem: PairAMode| MInst::LoadPair {
            kind: PairKind::X64,
            rt: Writable::from_reg(x10),
            rt2: Writable::from_reg(x11),
            mem,
        };
        let st = |mem: PairAMode| MInst::StorePair {
            kind: PairKind::X64,
            rt: x10,
            rt2: x11,
            mem,
        };
        if n <= INLINE_COPY_BYTES {
            sp_plus(x12, dst, x13, &mut seq);
            for k in (0..n / 16).rev() {
                let simm = (16 * k) as i16;
                seq.push(ld(PairAMode::SignedOffset { rn: sp, simm }));
                seq.push(st(PairAMode::SignedOffset { rn: x12, simm }));
            }
            put(buf, &mut seq)?;
        } else {
            // x12 = destination end, x13 = source end; step both down a
            // pair at a time until the source cursor reaches sp.
            sp_plus(x12, dst + n, x14, &mut seq);
            sp_plus(x13, n, x14, &mut seq);
            put(buf, &mut seq)?;
            let top = buf.get_label();
            buf.bind_label(top);
            seq.push(ld(PairAMode::PreIndexed { rn: x13, simm: -16 }));
            seq.push(st(PairAMode::PreIndexed { rn: x12, simm: -16 }));
            seq.push(super::abi::cmp_sp(x13));
            seq.push(MInst::OneWayCondBr {
                kind: CondBrKind::Cond(Cond::Ne),
                target: top,
            });
            put(buf, &mut seq)?;
        }
        // x12 is the bottom of the moved arguments.
        seq.push(MInst::Mov {
            size: OperandSize::Size64,
            rd: Writable::from_reg(sp),
            rm: x12,
        });
        put(buf, &mut seq)?;
        buf.add_unwind(UnwindOp::SpToCfa {
            sp_to_cfa: n as i32 - o as i32,
        });
    }

    match &rc.target {
        ReturnCallTarget::Known(t) => {
            buf.add_reloc(Reloc::Aarch64Jump26, *t, 0);
            buf.put4(enc_branch26(false));
        }
        ReturnCallTarget::Reg(r) => {
            let mut r = *r;
            if prot.use_bti && r != x16 && r != x17 {
                seq.push(MInst::Mov {
                    size: OperandSize::Size64,
                    rd: Writable::from_reg(x16),
                    rm: r,
                });
                put(buf, &mut seq)?;
                r = x16;
            }
            let enc = r
                .to_real_reg()
                .map(|p| u32::from(p.hw_enc() as u8))
                .filter(|&e| e < 31)
                .ok_or_else(|| CodegenError::Emit(format!("br through {r:?}")))?;
            // BR Xn.
            buf.put4(0xd61f_0000 | (enc << 5));
        }
    }
    buf.add_unwind(UnwindOp::RestoreState);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::aarch64::regs::{vreg_preg, xreg_preg};
    use crate::machinst::buffer::RelocTarget;
    use crate::machinst::compile::Backend;
    use yaxpeax_arch::{Decoder, U8Reader};
    use yaxpeax_arm::armv8::a64::InstDecoder;

    /// A frame with every callee-save in use, `csr_offset` bytes above sp.
    fn frame(csr_offset: u32, fixed: u32, pop: u32) -> FrameLayout {
        let mut csrs: Vec<_> = regs::CALLEE_SAVED_INT.map(xreg_preg).to_vec();
        csrs.extend(regs::CALLEE_SAVED_FLOAT.map(vreg_preg));
        FrameLayout {
            clobbered_callee_saves: csrs,
            csr_offset,
            save_bytes: [8, 8, 16],
            fixed_frame_size: fixed,
            setup_area_size: 16,
            callee_pop: pop,
            ..FrameLayout::default()
        }
    }

    fn emit_listing(rc: &ReturnCallInfo, f: &FrameLayout, prot: FrameProtection) -> Vec<String> {
        let mut buf = MachBuffer::<A64LabelUse>::new();
        emit_return_call(rc, f, prot, &mut buf).unwrap();
        let len = buf.cur_offset();
        assert!(
            len <= super::super::A64Backend::MAX_INST_BYTES,
            "{len} bytes exceed MAX_INST_BYTES"
        );
        let done = buf.finish().unwrap();
        let d = InstDecoder::default();
        done.data
            .chunks(4)
            .map(|c| {
                d.decode(&mut U8Reader::new(c))
                    .map(|i| i.to_string())
                    .unwrap_or_else(|e| panic!("undecodable word {c:02x?}: {e:?}"))
            })
            .collect()
    }

    const ALL: FrameProtection = FrameProtection {
        sign_return_address: true,
        with_bkey: true,
        use_bti: true,
    };

    /// The longest sequences: all 18 callee-saves beyond the reach of
    /// sp-relative pairs, a frame and argument areas needing 64-bit
    /// constants, authentication, BTI and an indirect target, with the
    /// largest inline copy and the smallest loop. Each fits the backend's
    /// bound and decodes.
    #[test]
    fn worst_cases_fit_max_inst_bytes() {
        let big = frame(20 << 20, 40 << 20, 1 << 24);
        for n in [0, INLINE_COPY_BYTES, INLINE_COPY_BYTES + 16] {
            let rc = ReturnCallInfo {
                target: ReturnCallTarget::Reg(xreg(regs::TAIL_TARGET_ENC)),
                uses: vec![],
                stack_args: n,
            };
            let got = emit_listing(&rc, &big, ALL);
            // The slots are read through x10 = sp + 20 MiB, in pairs.
            assert!(got.iter().any(|l| l == "ldp x19, x20, [x10]"), "{got:?}");
            assert!(
                got.iter().any(|l| l == "ldp d14, d15, [x10, #0x80]"),
                "{got:?}"
            );
            // autib1716 (HINT #14), then br through x16.
            assert!(got.iter().any(|l| l == "hint #0xe"), "{got:?}");
            assert_eq!(got[got.len() - 2..], ["mov x16, x9", "br x16"]);
        }
    }

    /// Callee-saves near sp are reloaded from sp in pairs; the direct
    /// branch carries a JUMP26 relocation.
    #[test]
    fn small_frame_reloads_from_sp() {
        let f = frame(16, 176, 0);
        let rc = ReturnCallInfo {
            target: ReturnCallTarget::Known(RelocTarget::TestCase(0)),
            uses: vec![],
            stack_args: 16,
        };
        let got = emit_listing(&rc, &f, FrameProtection::default());
        assert_eq!(
            got,
            [
                "ldp x19, x20, [sp, #0x10]",
                "ldp x21, x22, [sp, #0x20]",
                "ldp x23, x24, [sp, #0x30]",
                "ldp x25, x26, [sp, #0x40]",
                "ldp x27, x28, [sp, #0x50]",
                "ldp d8, d9, [sp, #0x60]",
                "ldp d10, d11, [sp, #0x70]",
                "ldp d12, d13, [sp, #0x80]",
                "ldp d14, d15, [sp, #0x90]",
                "ldp x29, x30, [x29]",
                // dst = 176 + 16 + 0 - 16
                "add x12, sp, #0xb0",
                "ldp x10, x11, [sp]",
                "stp x10, x11, [x12]",
                "mov sp, x12",
                "b $+0x0",
            ]
        );
    }

    /// Stack arguments that do not fit the frame's outgoing area are an
    /// error, not a wrong copy.
    #[test]
    fn arguments_beyond_the_frame_are_refused() {
        let rc = ReturnCallInfo {
            target: ReturnCallTarget::Known(RelocTarget::TestCase(0)),
            uses: vec![],
            stack_args: 64,
        };
        let mut buf = MachBuffer::<A64LabelUse>::new();
        let err = emit_return_call(&rc, &frame(0, 32, 0), FrameProtection::default(), &mut buf);
        assert!(err.is_err());
    }
}
