//! `try_call` with exception handlers: the exception table a compiled
//! function records (return address, handlers, frame-pointer-to-stack
//! distance), checked against the instructions decoded with iced-x86.

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use kiln_codegen::compiled::{CompiledCode, ExceptionHandler, Stencil};
use kiln_codegen::isa::{self, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};

fn isa() -> Box<dyn TargetIsa> {
    let flags = Flags {
        regalloc_checker: true,
        preserve_frame_pointers: true,
        ..Flags::default()
    };
    isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("x64 backend")
}

fn compile(text: &str) -> CompiledCode<Stencil> {
    let f = kiln_reader::parse_function(text).expect("parse");
    isa()
        .compile_stencil(&f.stencil)
        .unwrap_or_else(|e| panic!("compile failed: {e}\n{text}"))
}

fn decode(code: &[u8]) -> Vec<Instruction> {
    let mut d = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let mut out = Vec::new();
    while d.can_decode() {
        out.push(d.decode());
    }
    out
}

/// The instruction starting at `offset`.
fn at(insts: &[Instruction], offset: u32) -> &Instruction {
    insts
        .iter()
        .find(|i| i.ip() == u64::from(offset))
        .unwrap_or_else(|| panic!("no instruction starts at {offset:#x}"))
}

#[test]
fn table_names_return_address_handlers_and_frame() {
    let code = compile(
        "function %f(i64, i64) -> i64 system_v {
             sig0 = (i64) system_v
         block0(v0: i64, v1: i64):
             try_call_indirect v1(v0), sig0, block3(v0), [ tag7: block3(exn1), default: block2(exn0) ]
         block2(v2: i64):
             v3 = iadd v2, v0
             return v3
         block3(v4: i64):
             return v4
         }",
    );
    let insts = decode(&code.code);
    let [site] = &code.exception_sites[..] else {
        panic!("one exception site expected: {:?}", code.exception_sites);
    };
    // The return address follows the only call; it is also a call site.
    let calls: Vec<&Instruction> = insts
        .iter()
        .filter(|i| i.mnemonic() == Mnemonic::Call)
        .collect();
    let [call] = &calls[..] else {
        panic!("one call expected");
    };
    assert_eq!(u64::from(site.ret_addr), call.next_ip());
    assert!(code.call_sites.iter().any(|c| c.ret_addr == site.ret_addr));
    // rsp = rbp - fp_to_sp: the prologue's `sub rsp, fp_to_sp`.
    let sub = insts
        .iter()
        .find(|i| i.mnemonic() == Mnemonic::Sub && i.op0_register() == Register::RSP)
        .expect("frame allocation");
    assert_eq!(u64::from(site.fp_to_sp), sub.immediate(1));
    // Handlers in table order: tag 7, then default.
    let tags: Vec<Option<u32>> = site.handlers.iter().map(|h| h.tag).collect();
    assert_eq!(tags, [Some(7), None]);
    let &[ExceptionHandler { handler: tag7, .. }, ExceptionHandler { handler: dflt, .. }] =
        &site.handlers[..]
    else {
        unreachable!()
    };
    // Default handler (block2): exn0 arrives in rax and v0 comes back from
    // its stack slot to be added to it.
    let mut i = insts.iter().skip_while(|i| i.ip() != u64::from(dflt));
    let reload = i.next().expect("default handler");
    assert_eq!(reload.mnemonic(), Mnemonic::Mov);
    assert_eq!(reload.op1_kind(), OpKind::Memory);
    let add = i.next().expect("add");
    assert_eq!(add.mnemonic(), Mnemonic::Lea);
    assert_eq!(add.memory_base(), Register::RAX);
    // Tag-7 handler: the split edge to block3 moves exn1 (rdx) into the
    // return register.
    let mv = at(&insts, tag7);
    assert_eq!(mv.mnemonic(), Mnemonic::Mov);
    assert_eq!(
        (mv.op0_register(), mv.op1_register()),
        (Register::RAX, Register::RDX)
    );
    // Neither handler is the fallthrough of the call: the call is followed
    // by the jump to the normal block.
    let after = at(&insts, site.ret_addr);
    assert_eq!(after.mnemonic(), Mnemonic::Jmp);
    assert!(tag7 != site.ret_addr && dflt != site.ret_addr);
}

#[test]
fn no_handlers_no_table() {
    let code = compile(
        "function %f(i64, i64) -> i64 system_v {
             sig0 = (i64) -> i64 system_v
         block0(v0: i64, v1: i64):
             try_call_indirect v1(v0), sig0, block1(ret0), []
         block1(v2: i64):
             return v2
         }",
    );
    assert!(code.exception_sites.is_empty());
    assert_eq!(code.call_sites.len(), 1);
}

#[test]
fn result_in_rax_shares_the_payload_register() {
    let code = compile(
        "function %f(i64, i64) -> i64 system_v {
             sig0 = (i64) -> i64 system_v
         block0(v0: i64, v1: i64):
             try_call_indirect v1(v0), sig0, block1(ret0), [ default: block2(exn0, exn1) ]
         block1(v2: i64):
             return v2
         block2(v3: i64, v4: i64):
             v5 = isub v3, v4
             return v5
         }",
    );
    let insts = decode(&code.code);
    let [site] = &code.exception_sites[..] else {
        panic!("one exception site expected");
    };
    let [ExceptionHandler { tag: None, handler }] = site.handlers[..] else {
        panic!("one default handler expected: {:?}", site.handlers);
    };
    // exn0 - exn1 straight from rax and rdx.
    let sub = at(&insts, handler);
    assert_eq!(sub.mnemonic(), Mnemonic::Sub);
    assert_eq!(
        (sub.op0_register(), sub.op1_register()),
        (Register::RAX, Register::RDX)
    );
}

#[test]
fn handler_address_is_the_recorded_handler() {
    let code = compile(
        "function %f(i64, i64) -> i64 system_v {
             sig0 = (i64) system_v
         block0(v0: i64, v1: i64):
             jump block1
         block1:
             v2 = get_exception_handler_address.i64 block1, 1
             store v2, v0
             try_call_indirect v1(v0), sig0, block2, [ tag3: block3, default: block4 ]
         block2:
             v3 = iconst.i64 1
             return v3
         block3:
             v4 = iconst.i64 3
             return v4
         block4:
             v5 = iconst.i64 4
             return v5
         }",
    );
    let insts = decode(&code.code);
    let [site] = &code.exception_sites[..] else {
        panic!("one exception site expected");
    };
    let lea = insts
        .iter()
        .find(|i| i.mnemonic() == Mnemonic::Lea)
        .expect("lea of the handler");
    assert!(lea.is_ip_rel_memory_operand());
    // Handler 1 is the default one (block4, returning 4).
    assert_eq!(site.handlers[1].tag, None);
    assert_eq!(
        lea.ip_rel_memory_address(),
        u64::from(site.handlers[1].handler)
    );
    let mv = at(&insts, site.handlers[1].handler);
    assert_eq!(mv.mnemonic(), Mnemonic::Mov);
    assert_eq!(mv.immediate(1), 4);
}
