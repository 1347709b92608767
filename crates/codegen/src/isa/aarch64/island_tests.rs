//! Islands and veneers for aarch64's short label ranges (14-bit `tbz`,
//! 19-bit `b.cond`/`cbz`/`ldr` literal, 26-bit `b`), on `MachBuffer`
//! directly: code far larger than a field's range is emitted the way the
//! pipeline does it (an island, jumped over, whenever `island_needed`), and
//! every branch is followed with the independent decoder (`yaxpeax-arm`)
//! to where it really lands. Whole functions large enough to need islands
//! run under qemu in `crates/filetests/tests/aarch64_islands.rs`.

use super::args::*;
use super::emit::{emit, A64LabelUse, UDF};
use super::inst::*;
use super::regs::xreg;
use crate::machinst::abi::FrameLayout;
use crate::machinst::buffer::{BufferError, MachBuffer, MachLabel, VCodeConstants};
use crate::machinst::reg::Writable;
use kiln_ir::TrapCode;
use yaxpeax_arch::{Decoder, U8Reader};
use yaxpeax_arm::armv8::a64::InstDecoder;

const NOP: u32 = 0xd503_201f;
/// What the pipeline passes as `distance` (two of aarch64's
/// `MAX_INST_BYTES`).
const DISTANCE: u32 = 512;

fn decode(data: &[u8], off: u32) -> String {
    let o = off as usize;
    let mut r = U8Reader::new(&data[o..o + 4]);
    InstDecoder::default()
        .decode(&mut r)
        .map(|i| i.to_string())
        .unwrap_or_else(|e| format!("<{e:?}>"))
}

/// Where the PC-relative instruction at `off` points, read from the
/// decoder's text (`$+0x..` / `$-0x..`).
fn target_of(data: &[u8], off: u32) -> (String, u32) {
    let text = decode(data, off);
    let (sign, rest) = match (text.find("$+0x"), text.find("$-0x")) {
        (Some(i), _) => (1i64, &text[i + 4..]),
        (_, Some(i)) => (-1i64, &text[i + 4..]),
        _ => panic!("no PC-relative operand in `{text}` at {off:#x}"),
    };
    let hex: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    let d = i64::from_str_radix(&hex, 16).unwrap();
    (text, (off as i64 + sign * d) as u32)
}

/// Follows the branch at `off` through at most one veneer (`b`) and
/// returns where it finally lands.
fn land(data: &[u8], off: u32) -> u32 {
    let (_, t) = target_of(data, off);
    if decode(data, t).starts_with("b $") {
        let (_, t2) = target_of(data, t);
        t2
    } else {
        t
    }
}

fn put(buf: &mut MachBuffer<A64LabelUse>, inst: &MInst) {
    emit(inst, &FrameLayout::default(), buf).unwrap_or_else(|e| panic!("{inst:?}: {e}"));
}

/// One instruction slot the way the pipeline fills it: an island (jumped
/// over) first if the buffer asks for one.
fn step(buf: &mut MachBuffer<A64LabelUse>, inst: &MInst) {
    if buf.island_needed(DISTANCE) {
        let after = buf.get_label();
        put(buf, &MInst::Jump { target: after });
        buf.emit_island(DISTANCE, &UDF);
        buf.bind_label(after);
    }
    put(buf, inst);
}

fn nops(buf: &mut MachBuffer<A64LabelUse>, bytes: u32) {
    let n = MInst::Hint { op: HintOp::BtiC };
    // A real instruction through `emit` (`bti c`, a nop here; the decoder
    // prints it as `hint #0x22`), so islands
    // can come between any two.
    for _ in 0..bytes / 4 {
        step(buf, &n);
    }
}

fn one(kind: CondBrKind, target: MachLabel) -> MInst {
    MInst::OneWayCondBr { kind, target }
}

#[test]
fn far_forward_branches_go_through_veneers() {
    let x3 = xreg(3);
    let kinds = [
        (CondBrKind::BitClear(x3, 5), 64 << 10),
        (CondBrKind::BitSet(x3, 40), 64 << 10),
        (CondBrKind::Zero(x3, OperandSize::Size64), 3 << 20),
        (CondBrKind::NotZero(x3, OperandSize::Size32), 3 << 20),
        (CondBrKind::Cond(Cond::Hs), 3 << 20),
    ];
    for (kind, gap) in kinds {
        let mut buf = MachBuffer::<A64LabelUse>::new();
        let target = buf.get_label();
        step(&mut buf, &one(kind, target));
        nops(&mut buf, gap);
        buf.bind_label(target);
        let at = buf.cur_offset();
        buf.put4(NOP);
        let done = buf.finish().unwrap();
        let (first, hop) = target_of(&done.data, 0);
        assert!(hop < gap, "{first}: the first hop must be a veneer");
        assert_eq!(land(&done.data, 0), at, "{kind:?} over {gap:#x}");
        // The code between still runs straight through: every island is
        // jumped over.
        let mut off = 4;
        while off < at {
            let t = decode(&done.data, off);
            if t.starts_with("b $") {
                let (_, next) = target_of(&done.data, off);
                assert!(next > off);
                off = next;
            } else {
                assert!(t.starts_with("hint #0x22"), "{t} at {off:#x}");
                off += 4;
            }
        }
        assert_eq!(off, at);
    }
}

#[test]
fn near_branches_need_no_island() {
    let mut buf = MachBuffer::<A64LabelUse>::new();
    let target = buf.get_label();
    step(&mut buf, &one(CondBrKind::BitSet(xreg(1), 1), target));
    nops(&mut buf, (32 << 10) - 1024);
    buf.bind_label(target);
    let at = buf.cur_offset();
    buf.put4(NOP);
    let done = buf.finish().unwrap();
    // No island: the code is exactly the branch, the nops and the target.
    assert_eq!(at, 4 + (32 << 10) - 1024);
    assert_eq!(target_of(&done.data, 0).1, at);
}

#[test]
fn far_backward_branches_go_through_veneers() {
    for (kind, gap) in [
        (CondBrKind::BitClear(xreg(7), 0), 40 << 10),
        (CondBrKind::Cond(Cond::Ne), 1100 << 10),
    ] {
        let mut buf = MachBuffer::<A64LabelUse>::new();
        let top = buf.get_label();
        buf.bind_label(top);
        step(&mut buf, &MInst::Hint { op: HintOp::BtiC });
        nops(&mut buf, gap);
        let at = buf.cur_offset();
        step(&mut buf, &one(kind, top));
        // More code after the branch, so the veneer lands in an island.
        nops(&mut buf, 256 << 10);
        let done = buf.finish().unwrap();
        let (text, hop) = target_of(&done.data, at);
        assert!(hop > at, "{text}: a backward veneer sits after the use");
        assert_eq!(land(&done.data, at), 0, "{kind:?}");
    }
}

#[test]
fn literal_loads_find_their_constant_in_an_island() {
    let mut buf = MachBuffer::<A64LabelUse>::new();
    let mut pool = VCodeConstants::new();
    let c = pool.insert(&0x1122_3344_5566_7788u64.to_le_bytes(), 8);
    buf.register_constants(&pool);
    let mut uses = Vec::new();
    for _ in 0..3 {
        let at = {
            let label = buf.get_label_for_constant(c).unwrap();
            step(
                &mut buf,
                &MInst::Load {
                    kind: LoadKind::Load64,
                    rd: Writable::from_reg(xreg(2)),
                    mem: AMode::Label { label },
                },
            );
            buf.cur_offset() - 4
        };
        uses.push(at);
        nops(&mut buf, 1536 << 10);
    }
    let done = buf.finish().unwrap();
    let mut copies = std::collections::BTreeSet::new();
    for at in uses {
        let (text, t) = target_of(&done.data, at);
        assert!(text.starts_with("ldr x2"), "{text}");
        assert!(t.abs_diff(at) < 1 << 20, "{text} at {at:#x}");
        let t = t as usize;
        assert_eq!(
            u64::from_le_bytes(done.data[t..t + 8].try_into().unwrap()),
            0x1122_3344_5566_7788,
            "the literal at {t:#x}"
        );
        // Each copy is recorded as data, so listings do not decode it.
        assert!(
            done.data_ranges
                .iter()
                .any(|d| d.start as usize <= t && t + 8 <= d.end as usize),
            "the literal at {t:#x} is not in {:?}",
            done.data_ranges
        );
        copies.insert(t);
    }
    // 1.5 MiB apart, no single copy serves two uses.
    assert_eq!(copies.len(), 3);
    // Ranges in order, never overlapping.
    assert!(done.data_ranges.windows(2).all(|w| w[0].end <= w[1].start));
}

#[test]
fn a_literal_out_of_range_is_an_error_not_a_veneer() {
    // Without islands (an emitter that never asks), a far literal has no
    // veneer to fall back on: `finish` says so instead of patching a `b`
    // that the load would read as data.
    let mut buf = MachBuffer::<A64LabelUse>::new();
    let label = buf.add_constant(&[1, 2, 3, 4, 5, 6, 7, 8], 8);
    put(
        &mut buf,
        &MInst::Load {
            kind: LoadKind::Load64,
            rd: Writable::from_reg(xreg(0)),
            mem: AMode::Label { label },
        },
    );
    for _ in 0..(1 << 18) + 8 {
        buf.put4(NOP);
    }
    assert!(matches!(
        buf.finish(),
        Err(BufferError::OutOfRange { offset: 0, .. })
    ));
}

#[test]
fn deferred_traps_are_placed_in_range() {
    let mut buf = MachBuffer::<A64LabelUse>::new();
    let mut sites = Vec::new();
    for i in 0..3 {
        let code = TrapCode::user(i + 1).unwrap();
        step(
            &mut buf,
            &MInst::TrapIf {
                kind: CondBrKind::Cond(Cond::Eq),
                code,
            },
        );
        sites.push((buf.cur_offset() - 4, code));
        nops(&mut buf, 1200 << 10);
    }
    buf.emit_deferred_traps(&UDF);
    let done = buf.finish().unwrap();
    for (at, code) in sites {
        let (text, t) = target_of(&done.data, at);
        assert!(text.starts_with("b.eq"), "{text}");
        assert!(t.abs_diff(at) < 1 << 20);
        assert_eq!(&done.data[t as usize..t as usize + 4], &UDF);
        assert!(
            done.traps.iter().any(|r| r.offset == t && r.code == code),
            "trap record for {code:?} at {t:#x}"
        );
    }
}
