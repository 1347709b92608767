//! Calling conventions as data (`abi::sig_locs`) and the frame-dependent
//! control sequences (`control`): tail calls, `ret n`, callee-popped calls
//! and XMM callee-saved saves, decoded with iced-x86. The expected
//! instruction texts are written here by hand from the System V / Windows
//! x64 rules and the tail-call sequence documented in docs/lowering.md.

use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter, MemorySizeOptions};
use kiln_codegen::isa::x64::abi::{self, ArgLoc};
use kiln_codegen::isa::x64::emit::EmitState;
use kiln_codegen::isa::x64::regs::{self, enc, gpr};
use kiln_codegen::isa::x64::*;
use kiln_codegen::machinst::abi::{FrameLayout, FrameRequest};
use kiln_codegen::machinst::buffer::{MachBuffer, Reloc};
use kiln_codegen::machinst::compile::Backend;
use kiln_ir::{AbiParam, CallConv, Signature, Type};
use regalloc2::PReg;
use smallvec::smallvec;

fn sig(cc: CallConv, params: &[Type], returns: &[Type]) -> Signature {
    let mut s = Signature::new(cc);
    s.params = params.iter().map(|t| AbiParam::new(*t)).collect();
    s.returns = returns.iter().map(|t| AbiParam::new(*t)).collect();
    s
}

fn g(e: u8) -> ArgLoc {
    ArgLoc::Reg(regs::gpr_preg(e))
}
fn x(e: u8) -> ArgLoc {
    ArgLoc::Reg(regs::xmm_preg(e))
}
fn flat(v: &[abi::Parts]) -> Vec<ArgLoc> {
    v.iter().flatten().copied().collect()
}

#[test]
fn windows_fastcall_is_positional_with_shadow_space() {
    const I32: Type = Type::I32;
    const I64: Type = Type::I64;
    const F64: Type = Type::F64;
    let s = sig(
        CallConv::WindowsFastcall,
        &[I64, F64, I32, F64, I64, F64],
        &[F64],
    );
    let l = abi::sig_locs(&s).unwrap();
    assert_eq!(
        flat(&l.params),
        vec![
            g(enc::RCX),
            x(1),
            g(enc::R8),
            x(3),
            ArgLoc::Stack(32),
            ArgLoc::Stack(40)
        ]
    );
    assert_eq!(flat(&l.returns), vec![x(0)]);
    assert_eq!(l.stack_args_size, 48);
    assert_eq!(l.callee_pop, 0);
    // No stack arguments still reserves the shadow space.
    let l = abi::sig_locs(&sig(CallConv::WindowsFastcall, &[I64], &[I64])).unwrap();
    assert_eq!(l.stack_args_size, 32);
    // Two returns: rax and the return area, whose pointer takes rcx.
    let l = abi::sig_locs(&sig(CallConv::WindowsFastcall, &[I64, I64], &[I64, I64])).unwrap();
    assert_eq!(flat(&l.returns), vec![g(enc::RAX), ArgLoc::Stack(0)]);
    assert_eq!(l.ret_area_reg, regs::gpr_preg(enc::RCX));
    assert_eq!(flat(&l.params), vec![g(enc::RDX), g(enc::R8)]);
    // Callee-saved: rbx, rsi, rdi, r12-r15 and xmm6-15.
    let cs = abi::callee_saved(abi::convention(CallConv::WindowsFastcall).unwrap(), false);
    for e in [enc::RBX, enc::RSI, enc::RDI, enc::R12, enc::R15] {
        assert!(cs.contains(regs::gpr_preg(e)));
    }
    for e in 6..16 {
        assert!(cs.contains(regs::xmm_preg(e)));
    }
    assert!(!cs.contains(regs::xmm_preg(5)));
    assert!(!cs.contains(regs::gpr_preg(enc::RCX)));
}

#[test]
fn winch_returns_last_in_a_register_the_rest_reversed() {
    const I32: Type = Type::I32;
    const I64: Type = Type::I64;
    const F64: Type = Type::F64;
    let l = abi::sig_locs(&sig(CallConv::Winch, &[I32, I64], &[I64, F64, I32])).unwrap();
    // Forward offsets would be 0 (i64) and 8 (f64); the first is highest.
    assert_eq!(
        flat(&l.returns),
        vec![ArgLoc::Stack(8), ArgLoc::Stack(0), g(enc::RAX)]
    );
    assert_eq!(l.ret_area_size, 16);
    assert_eq!(l.ret_area_reg, regs::gpr_preg(enc::RDI));
    assert_eq!(flat(&l.params), vec![g(enc::RSI), g(enc::RDX)]);
    // Winch code preserves nothing: a call clobbers every allocatable
    // register, callee-saved ones included.
    let all = abi::call_clobbers_for(abi::convention(CallConv::Winch).unwrap());
    for e in [enc::RBX, enc::R12, enc::R15, enc::RAX] {
        assert!(all.contains(regs::gpr_preg(e)));
    }
    let sysv = abi::call_clobbers_for(abi::convention(CallConv::SystemV).unwrap());
    assert!(!sysv.contains(regs::gpr_preg(enc::RBX)));
    assert!(sysv.contains(regs::xmm_preg(15)));
    let l = abi::sig_locs(&sig(CallConv::Winch, &[], &[F64])).unwrap();
    assert_eq!(flat(&l.returns), vec![x(0)]);
    assert_eq!(l.ret_area_size, 0);
}

#[test]
fn tail_is_system_v_with_callee_pop() {
    let p = vec![Type::I64; 9];
    let t = abi::sig_locs(&sig(CallConv::Tail, &p, &[Type::I64])).unwrap();
    let s = abi::sig_locs(&sig(CallConv::SystemV, &p, &[Type::I64])).unwrap();
    assert_eq!(t.params, s.params);
    assert_eq!(t.stack_args_size, 32);
    assert_eq!(t.callee_pop, 32);
    assert_eq!(s.callee_pop, 0);
    assert!(abi::sig_locs(&sig(CallConv::PreserveAll, &[], &[])).is_err());
    // `ret imm16` limits what a `tail` callee can pop.
    let many = vec![Type::I64; 6 + 8192];
    assert!(abi::sig_locs(&sig(CallConv::Tail, &many, &[])).is_err());
    assert!(abi::sig_locs(&sig(CallConv::SystemV, &many, &[])).is_ok());
}

fn disasm(data: &[u8]) -> Vec<String> {
    let mut fmt = IntelFormatter::new();
    let o = fmt.options_mut();
    o.set_hex_prefix("0x");
    o.set_hex_suffix("");
    o.set_uppercase_hex(false);
    o.set_small_hex_numbers_in_decimal(false);
    o.set_space_after_operand_separator(true);
    o.set_memory_size_options(MemorySizeOptions::Never);
    o.set_branch_leading_zeros(false);
    let mut dec = Decoder::with_ip(64, data, 0, DecoderOptions::NONE);
    let mut out = Vec::new();
    while dec.can_decode() {
        let i = dec.decode();
        assert!(!i.is_invalid(), "undecodable bytes in {data:02x?}");
        let mut s = String::new();
        fmt.format(&i, &mut s);
        out.push(s);
    }
    out
}

fn emit_frame(inst: &MInst, frame: &FrameLayout) -> (Vec<String>, Vec<(u32, Reloc)>) {
    let mut buf = MachBuffer::<X64LabelUse>::new();
    let st = EmitState::default();
    assert!(control::emit_frame_dependent(inst, &mut buf, &st, frame));
    let f = buf.finish().unwrap();
    let relocs = f.relocs.iter().map(|r| (r.offset, r.kind)).collect();
    (disasm(&f.data), relocs)
}

/// The x86-64 frame for an outgoing area, a spill area (8-byte slots),
/// callee-saves, a stack-slot area and a callee pop.
fn x64_frame(
    outgoing: u32,
    spill_bytes: u32,
    csrs: Vec<PReg>,
    slots: u32,
    callee_pop: u32,
) -> FrameLayout {
    let request = FrameRequest {
        outgoing_args_size: outgoing,
        stackslots_size: slots,
        callee_pop,
        ..FrameRequest::default()
    };
    FrameLayout::with_spills(
        8,
        spill_bytes / 8,
        csrs,
        false,
        &request,
        &X64Backend::FRAME_SHAPE,
    )
    .unwrap()
}

/// A frame of 64 bytes (32 outgoing, one spill slot, rbx and r12 saved at
/// rsp+0x30) that pops 16 bytes of its own stack arguments.
fn frame() -> FrameLayout {
    x64_frame(
        32,
        8,
        vec![regs::gpr_preg(enc::R12), regs::gpr_preg(enc::RBX)],
        0,
        16,
    )
}

#[test]
fn return_call_sequence() {
    let f = frame();
    assert_eq!((f.csr_offset, f.fixed_frame_size), (48, 64));
    // The whole frame counts the saves once: 64 plus return address and rbp.
    assert_eq!(f.total_size(), 80);
    let inst = MInst::ReturnCall {
        info: Box::new(ReturnCallInfo {
            target: ReturnCallTarget::Reg(gpr(enc::R11)),
            uses: smallvec![],
            stack_args: 32,
        }),
    };
    // rbp = rsp + 64; our incoming arguments end at rbp + 16 + 16 =
    // rsp + 0x60, so the callee's 32 bytes go to rsp+0x40..0x60 and the
    // return address just below, at rsp+0x38.
    let (text, relocs) = emit_frame(&inst, &f);
    assert_eq!(
        text,
        vec![
            "mov rbx, [rsp+0x30]",
            "mov r12, [rsp+0x38]",
            "mov r10, [rbp+0x8]",
            "mov rbp, [rbp]",
            "mov rax, [rsp+0x18]",
            "mov [rsp+0x58], rax",
            "mov rax, [rsp+0x10]",
            "mov [rsp+0x50], rax",
            "mov rax, [rsp+0x8]",
            "mov [rsp+0x48], rax",
            "mov rax, [rsp]",
            "mov [rsp+0x40], rax",
            "mov [rsp+0x38], r10",
            "lea rsp, [rsp+0x38]",
            "jmp r11",
        ]
    );
    assert!(relocs.is_empty());

    // More stack arguments than we received: the destination overlaps the
    // staged copy and starts below rbp (copied from the top down).
    let f = x64_frame(48, 0, vec![], 0, 0);
    let inst = MInst::ReturnCall {
        info: Box::new(ReturnCallInfo {
            target: ReturnCallTarget::Known(CallTarget::TestCase(0)),
            uses: smallvec![],
            stack_args: 48,
        }),
    };
    let (text, relocs) = emit_frame(&inst, &f);
    assert_eq!(f.fixed_frame_size, 48);
    // top = 48 + 16 = 0x40; destination 0x10..0x40 above source 0..0x30.
    assert_eq!(
        &text[..4],
        &[
            "mov r10, [rbp+0x8]",
            "mov rbp, [rbp]",
            "mov rax, [rsp+0x28]",
            "mov [rsp+0x38], rax"
        ]
    );
    assert_eq!(text[text.len() - 3], "mov [rsp+0x8], r10");
    assert_eq!(text[text.len() - 2], "lea rsp, [rsp+0x8]");
    assert!(text[text.len() - 1].starts_with("jmp "));
    assert_eq!(relocs.len(), 1);
    assert_eq!(relocs[0].1, Reloc::X86CallPCRel4);
}

#[test]
fn ret_pops_and_calls_restore_rsp() {
    let (text, _) = emit_frame(&MInst::Ret { rets: smallvec![] }, &frame());
    assert_eq!(text, vec!["ret 0x10"]);
    // Without stack arguments to pop, `Ret` is left to the generic encoder.
    let mut buf = MachBuffer::<X64LabelUse>::new();
    let plain = x64_frame(0, 0, vec![], 0, 0);
    assert!(!control::emit_frame_dependent(
        &MInst::Ret { rets: smallvec![] },
        &mut buf,
        &EmitState::default(),
        &plain
    ));

    let mut buf = MachBuffer::<X64LabelUse>::new();
    MInst::CallUnknown {
        target: RegMem::Reg(gpr(enc::RAX)),
        info: Box::new(CallInfo {
            uses: smallvec![],
            defs: smallvec![],
            clobbers: regs::sysv_clobbers(),
            callee_pop: 0x30,
            try_call: None,
        }),
    }
    .emit(&mut buf);
    let f = buf.finish().unwrap();
    assert_eq!(disasm(&f.data), vec!["call rax", "sub rsp, 0x30"]);
}

#[test]
fn xmm_callee_saves_take_16_bytes() {
    let f = x64_frame(
        0,
        8,
        vec![
            regs::xmm_preg(7),
            regs::gpr_preg(enc::RSI),
            regs::xmm_preg(6),
        ],
        16,
        0,
    );
    // GPRs first at 16 (after the aligned spill area), then 16-byte slots.
    let slots: Vec<_> = f.csr_slots().collect();
    assert_eq!(
        slots,
        vec![
            (regs::gpr_preg(enc::RSI), 16),
            (regs::xmm_preg(6), 24),
            (regs::xmm_preg(7), 40)
        ]
    );
    assert_eq!(f.fixed_frame_size, 64 + 16);
    let mut buf = MachBuffer::<X64LabelUse>::new();
    for (r, off) in f.csr_slots() {
        control::save_csr(r, off as i32).emit(&mut buf);
        control::restore_csr(r, off as i32).emit(&mut buf);
    }
    let f = buf.finish().unwrap();
    assert_eq!(
        disasm(&f.data),
        vec![
            "mov [rsp+0x10], rsi",
            "mov rsi, [rsp+0x10]",
            "movdqu [rsp+0x18], xmm6",
            "movdqu xmm6, [rsp+0x18]",
            "movdqu [rsp+0x28], xmm7",
            "movdqu xmm7, [rsp+0x28]",
        ]
    );
}

/// A windows_fastcall function under register pressure (18 live floats,
/// 14 live integers: the allocator needs xmm6-15 and the callee-saved
/// GPRs), called natively with the Windows x64 convention from inline
/// assembly that fills every Windows callee-saved register (rbx, rsi, rdi,
/// r12-r15, xmm6-15) with a marker first and reads them back after the
/// call: all must survive, and the result must be right.
#[test]
fn windows_fastcall_preserves_its_callee_saved_registers() {
    use kiln_codegen::isa::{self as kisa};
    use kiln_codegen::settings::{Arch, Flags, IsaFlags};
    use kiln_module::memory::ExecutableMemory;

    let mut t = String::from(
        "function %wpress(i64, i64) -> i64 windows_fastcall {\nblock0(v0: i64, v1: i64):\n",
    );
    for i in 0..14 {
        t += &format!("    v{} = iconst.i64 {}\n", 10 + i, i + 3);
        t += &format!("    v{} = imul v0, v{}\n", 30 + i, 10 + i);
        t += &format!("    v{} = iadd v{}, v1\n", 50 + i, 30 + i);
    }
    for i in 0..18 {
        t += &format!("    v{} = fcvt_from_sint.f64 v{}\n", 70 + i, 50 + i % 14);
        t += &format!("    v{} = iconst.i64 {}\n", 100 + i, i + 1);
        t += &format!("    v{} = fcvt_from_sint.f64 v{}\n", 140 + i, 100 + i);
        t += &format!("    v{} = fmul v{}, v{}\n", 120 + i, 70 + i, 140 + i);
    }
    t += "    v200 = fadd v120, v121\n";
    for i in 2..18 {
        t += &format!(
            "    v{} = fadd v{}, v{}\n",
            200 + i - 1,
            200 + i - 2,
            120 + i
        );
    }
    t += "    v300 = fcvt_to_sint_sat.i64 v216\n";
    t += "    v301 = iadd v50, v51\n";
    for i in 2..14 {
        t += &format!("    v{} = iadd v{}, v{}\n", 300 + i, 300 + i - 1, 50 + i);
    }
    t += "    v400 = iadd v300, v313\n    return v400\n}\n";
    let (a, b) = (3i64, -5i64);
    let ints: Vec<i64> = (0..14).map(|i| a * (i + 3) + b).collect();
    let fsum: f64 = (0..18)
        .map(|i| ints[i % 14] as f64 * (i + 1) as f64)
        .fold(None, |acc: Option<f64>, x| Some(acc.map_or(x, |s| s + x)))
        .unwrap();
    let want = fsum as i64 + ints.iter().sum::<i64>();

    let f = kiln_reader::parse_function(&t).expect("parse");
    let flags = Flags {
        regalloc_checker: true,
        preserve_frame_pointers: true,
        ..Flags::default()
    };
    let isa = kisa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).unwrap();
    let code = isa.compile_stencil(&f.stencil).expect("compile");
    assert!(code.relocs.is_empty());
    // The constant pool (the f64 limit of `fcvt_to_sint_sat`) follows the
    // code: disassemble up to the epilogue's `mov rsp, rbp; pop rbp; ret`.
    let epilogue = [0x48, 0x89, 0xec, 0x5d, 0xc3];
    let code_end = code
        .code
        .windows(epilogue.len())
        .rposition(|w| w == epilogue)
        .expect("epilogue")
        + epilogue.len();
    let text = disasm(&code.code[..code_end]).join("\n");
    if std::env::var("KILN_SHOW").is_ok() {
        println!("{text}");
    }
    // The pressure makes the allocator use every callee-saved register;
    // the prologue saves them all (so the check below is meaningful).
    let prologue: Vec<&str> = text.lines().take(24).collect();
    for r in ["rbx", "rsi", "rdi", "r12", "r15", "xmm6", "xmm11", "xmm15"] {
        assert!(
            prologue.iter().any(|l| l.starts_with("mov")
                && l.contains("[rsp+")
                && l.ends_with(&format!(", {r}"))),
            "{r} not saved in\n{text}"
        );
    }
    let mut mem = ExecutableMemory::new(code.code.len()).expect("mmap");
    mem.bytes_mut().expect("writable")[..code.code.len()].copy_from_slice(&code.code);
    mem.seal().expect("seal");

    // buf[0..7]: rbx, rsi, rdi, r12..r15 markers; buf[8..28]: xmm6..15
    // (two words each); buf[32..]: the same registers after the call.
    let mut buf = [0u64; 64];
    for (k, w) in buf.iter_mut().take(28).enumerate() {
        *w = 0x5a5a_0000_0000_0000 | (k as u64 * 0x0101_0101 + 0x1234);
    }
    let result: i64;
    // SAFETY: the code is a complete windows_fastcall function taking two
    // integers (rcx, rdx) and returning one (rax). The assembly saves
    // every register it changes that Rust expects preserved (rbp, rbx,
    // rsi, rdi, r12-r15) on the stack, aligns rsp to 16 and reserves the
    // 32-byte shadow space for the call, and declares every Windows
    // volatile register (and xmm6-15, which it loads) as clobbered.
    unsafe {
        std::arch::asm!(
            "push rbp", "push rbx", "push r12", "push r13", "push r14", "push r15",
            "push rsi", "push rdi",
            "mov rbp, rsp",
            "and rsp, -16",
            "push r10", "push r10",
            "mov rbx, [r10]", "mov rsi, [r10+8]", "mov rdi, [r10+16]",
            "mov r12, [r10+24]", "mov r13, [r10+32]", "mov r14, [r10+40]", "mov r15, [r10+48]",
            "movdqu xmm6, [r10+64]", "movdqu xmm7, [r10+80]", "movdqu xmm8, [r10+96]",
            "movdqu xmm9, [r10+112]", "movdqu xmm10, [r10+128]", "movdqu xmm11, [r10+144]",
            "movdqu xmm12, [r10+160]", "movdqu xmm13, [r10+176]", "movdqu xmm14, [r10+192]",
            "movdqu xmm15, [r10+208]",
            "sub rsp, 32",
            "call r11",
            "add rsp, 32",
            "pop r10", "pop r10",
            "mov [r10+256], rbx", "mov [r10+264], rsi", "mov [r10+272], rdi",
            "mov [r10+280], r12", "mov [r10+288], r13", "mov [r10+296], r14", "mov [r10+304], r15",
            "movdqu [r10+320], xmm6", "movdqu [r10+336], xmm7", "movdqu [r10+352], xmm8",
            "movdqu [r10+368], xmm9", "movdqu [r10+384], xmm10", "movdqu [r10+400], xmm11",
            "movdqu [r10+416], xmm12", "movdqu [r10+432], xmm13", "movdqu [r10+448], xmm14",
            "movdqu [r10+464], xmm15",
            "mov rsp, rbp",
            "pop rdi", "pop rsi", "pop r15", "pop r14", "pop r13", "pop r12", "pop rbx", "pop rbp",
            in("r10") buf.as_mut_ptr(),
            inout("r11") mem.base() => _,
            inout("rcx") a => _,
            inout("rdx") b => _,
            out("rax") result,
            out("r8") _, out("r9") _,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _,
            out("xmm5") _, out("xmm6") _, out("xmm7") _, out("xmm8") _, out("xmm9") _,
            out("xmm10") _, out("xmm11") _, out("xmm12") _, out("xmm13") _, out("xmm14") _,
            out("xmm15") _,
        );
    }
    assert_eq!(result, want);
    assert_eq!(&buf[32..39], &buf[0..7], "GPR callee-saves");
    assert_eq!(&buf[40..60], &buf[8..28], "XMM callee-saves");
}
