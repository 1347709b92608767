//! The JIT linker and trap handling on hand-assembled x86-64 code.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use kiln_codegen::compiled::{CompiledCode, Final, FinalName, Relocation};
use kiln_codegen::machinst::buffer::{MachTrap, Reloc};
use kiln_ir::{LibCall, TestcaseName, TrapCode, UserExternalName, UserFuncName};
use kiln_module::{FuncId, JitCallError, JitModule, LinkError, Module, Outside};

fn code(bytes: &[u8]) -> CompiledCode<Final> {
    CompiledCode {
        code: bytes.to_vec(),
        relocs: vec![],
        traps: vec![],
        exception_sites: Vec::new(),
        call_sites: vec![],
        srclocs: vec![],
        testcase_names: vec![],
        alignment: 1,
        frame_size: 0,
        unwind: Vec::new(),
        data_ranges: Vec::new(),
    }
}

fn reloc(offset: u32, kind: Reloc, target: FinalName, addend: i64) -> Relocation<Final> {
    Relocation {
        offset,
        kind,
        target,
        addend,
    }
}

fn tc(name: &str) -> UserFuncName {
    UserFuncName::testcase(name)
}

/// mov eax, edi; add eax, esi; ret
const ADD: &[u8] = &[0x89, 0xf8, 0x01, 0xf0, 0xc3];

/// Trampoline for (i32, i32) -> i32 / (i64) -> i64 style integer
/// signatures: loads two integer args from slots 0 and 1, stores rax.
const TRAMP_INT2: &[u8] = &[
    0x53, // push rbx
    0x48, 0x89, 0xf3, // mov rbx, rsi
    0x48, 0x89, 0xf8, // mov rax, rdi
    0x48, 0x8b, 0x3b, // mov rdi, [rbx]
    0x48, 0x8b, 0x73, 0x10, // mov rsi, [rbx+16]
    0xff, 0xd0, // call rax
    0x48, 0x89, 0x03, // mov [rbx], rax
    0x5b, // pop rbx
    0xc3, // ret
];

/// Trampoline for (f64) -> f64.
const TRAMP_F64: &[u8] = &[
    0x53, // push rbx
    0x48, 0x89, 0xf3, // mov rbx, rsi
    0x48, 0x89, 0xf8, // mov rax, rdi
    0xf2, 0x0f, 0x10, 0x03, // movsd xmm0, [rbx]
    0xff, 0xd0, // call rax
    0xf2, 0x0f, 0x11, 0x03, // movsd [rbx], xmm0
    0x5b, // pop rbx
    0xc3, // ret
];

fn call(
    m: &JitModule,
    tramp: FuncId,
    f: &UserFuncName,
    slots: &mut [u128],
) -> Result<(), JitCallError> {
    let callee = m.get_function(f).expect("function address");
    // SAFETY: the trampolines above read two integer slots (or one f64
    // slot) and write one; every callee here has a matching signature and
    // `slots` has two slots.
    unsafe { m.call_trampoline(tramp, callee, slots) }
}

fn call_int(
    m: &JitModule,
    tramp: FuncId,
    f: &UserFuncName,
    a: i64,
    b: i64,
) -> Result<i64, JitCallError> {
    let mut slots = [a as u64 as u128, b as u64 as u128];
    call(m, tramp, f, &mut slots)?;
    Ok(slots[0] as u64 as i64)
}

#[test]
fn calls_a_function_through_a_trampoline() {
    let mut m = JitModule::new();
    m.define_named_function(tc("add"), code(ADD)).unwrap();
    let t = m.define_anonymous_function(code(TRAMP_INT2)).unwrap();
    m.finalize().unwrap();
    assert_eq!(call_int(&m, t, &tc("add"), 2, 3).unwrap() as i32, 5);
    assert_eq!(call_int(&m, t, &tc("add"), -7, 3).unwrap() as i32, -4);
}

#[test]
fn pc_relative_call_between_functions() {
    // sub rsp, 8; call %add; add eax, 1; add rsp, 8; ret
    let mut caller = code(&[
        0x48, 0x83, 0xec, 0x08, 0xe8, 0, 0, 0, 0, 0x83, 0xc0, 0x01, 0x48, 0x83, 0xc4, 0x08, 0xc3,
    ]);
    caller.relocs.push(reloc(
        5,
        Reloc::X86CallPCRel4,
        FinalName::TestCase(TestcaseName::new("add")),
        -4,
    ));
    let mut user_caller = caller.clone();
    user_caller.relocs[0].target = FinalName::User(UserExternalName::new(0, 7));
    let mut m = JitModule::new();
    // The caller comes first so the call goes forwards; the user-named one
    // after the callee so it goes backwards.
    m.define_named_function(tc("caller"), caller).unwrap();
    m.define_named_function(tc("add"), code(ADD)).unwrap();
    m.define_named_function(UserFuncName::user(0, 7), code(ADD))
        .unwrap();
    m.define_named_function(tc("user_caller"), user_caller)
        .unwrap();
    let t = m.define_anonymous_function(code(TRAMP_INT2)).unwrap();
    m.finalize().unwrap();
    assert_eq!(call_int(&m, t, &tc("caller"), 40, 1).unwrap() as i32, 42);
    assert_eq!(call_int(&m, t, &tc("user_caller"), 1, 1).unwrap() as i32, 3);
}

#[test]
fn abs8_and_veneered_libcalls() {
    // sub rsp, 8; movabs rax, floor; call rax; add rsp, 8; ret
    let mut floor = code(&[
        0x48, 0x83, 0xec, 0x08, 0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xd0, 0x48, 0x83, 0xc4,
        0x08, 0xc3,
    ]);
    floor.relocs.push(reloc(
        6,
        Reloc::Abs8,
        FinalName::LibCall(LibCall::FloorF64),
        0,
    ));
    // sub rsp, 8; call nearbyint (through a veneer); add rsp, 8; ret
    let mut nearest = code(&[
        0x48, 0x83, 0xec, 0x08, 0xe8, 0, 0, 0, 0, 0x48, 0x83, 0xc4, 0x08, 0xc3,
    ]);
    nearest.relocs.push(reloc(
        5,
        Reloc::X86CallPCRel4,
        FinalName::LibCall(LibCall::NearestF64),
        -4,
    ));
    let mut m = JitModule::new();
    m.define_named_function(tc("floor"), floor).unwrap();
    m.define_named_function(tc("nearest"), nearest).unwrap();
    let t = m.define_anonymous_function(code(TRAMP_F64)).unwrap();
    m.finalize().unwrap();
    let run = |name: &str, x: f64| {
        let mut slots = [x.to_bits() as u128, 0];
        call(&m, t, &tc(name), &mut slots).unwrap();
        f64::from_bits(slots[0] as u64)
    };
    assert_eq!(run("floor", -1.5), -2.0);
    assert_eq!(run("floor", 7.9), 7.0);
    assert_eq!(run("nearest", 2.5), 2.0);
    assert_eq!(run("nearest", 3.5), 4.0);
    assert_eq!(run("nearest", -0.5).to_bits(), (-0.0f64).to_bits());
}

#[test]
fn got_relative_reference() {
    // mov rax, [rip + add@GOTPCREL]; jmp rax
    let mut f = code(&[0x48, 0x8b, 0x05, 0, 0, 0, 0, 0xff, 0xe0]);
    f.relocs.push(reloc(
        3,
        Reloc::X86GOTPCRel4,
        FinalName::TestCase(TestcaseName::new("add")),
        -4,
    ));
    let mut m = JitModule::new();
    m.define_named_function(tc("via_got"), f).unwrap();
    m.define_named_function(tc("add"), code(ADD)).unwrap();
    let t = m.define_anonymous_function(code(TRAMP_INT2)).unwrap();
    m.finalize().unwrap();
    assert_eq!(call_int(&m, t, &tc("via_got"), 20, 22).unwrap() as i32, 42);
}

extern "C" fn triple(x: i64) -> i64 {
    3 * x
}

#[test]
fn external_rust_function() {
    // sub rsp, 8; call triple; add rsp, 8; ret
    let mut f = code(&[
        0x48, 0x83, 0xec, 0x08, 0xe8, 0, 0, 0, 0, 0x48, 0x83, 0xc4, 0x08, 0xc3,
    ]);
    f.relocs.push(reloc(
        5,
        Reloc::X86CallPCRel4,
        FinalName::User(UserExternalName::new(1, 0)),
        -4,
    ));
    let mut m = JitModule::new();
    m.define_external(UserFuncName::user(1, 0), triple as *const u8)
        .unwrap();
    m.define_named_function(tc("f"), f).unwrap();
    let t = m.define_anonymous_function(code(TRAMP_INT2)).unwrap();
    m.finalize().unwrap();
    assert_eq!(call_int(&m, t, &tc("f"), 14, 0).unwrap(), 42);
}

#[test]
fn alignment_is_respected() {
    let mut m = JitModule::new();
    let a = m.define_named_function(tc("a"), code(&[0xc3])).unwrap();
    let mut c = code(ADD);
    c.alignment = 64;
    let b = m.define_named_function(tc("b"), c).unwrap();
    m.finalize().unwrap();
    assert_eq!(m.function_address(b).unwrap() as usize % 64, 0);
    assert_eq!(m.function_address(a).unwrap() as usize % 16, 0);
}

#[test]
fn link_errors_are_typed() {
    let mut m = JitModule::new();
    let mut f = code(&[0xe8, 0, 0, 0, 0, 0xc3]);
    f.relocs.push(reloc(
        1,
        Reloc::X86CallPCRel4,
        FinalName::TestCase(TestcaseName::new("missing")),
        -4,
    ));
    f.relocs.push(reloc(
        1,
        Reloc::Abs8,
        FinalName::LibCall(LibCall::X86Pshufb),
        0,
    ));
    m.define_named_function(tc("f"), f).unwrap();
    assert!(matches!(
        m.define_named_function(tc("f"), code(ADD)),
        Err(LinkError::Duplicate(n)) if n == "%f"
    ));
    match m.finalize() {
        Err(LinkError::Unresolved(v)) => {
            assert_eq!(v.len(), 2);
            assert_eq!(v[0].target, "%missing");
            assert_eq!(v[0].from, "%f");
            assert!(v[1].target.contains("__kiln_x86_pshufb"));
        }
        other => panic!("expected unresolved, got {other:?}"),
    }

    // Out of range: an addend no 32-bit displacement can reach.
    let mut m = JitModule::new();
    let mut f = code(&[0xe8, 0, 0, 0, 0, 0xc3]);
    f.relocs.push(reloc(
        1,
        Reloc::X86PCRel4,
        FinalName::TestCase(TestcaseName::new("f")),
        1 << 40,
    ));
    m.define_named_function(tc("f"), f).unwrap();
    assert!(matches!(m.finalize(), Err(LinkError::OutOfRange { .. })));

    // A field past the end of the code.
    let mut m = JitModule::new();
    let mut f = code(&[0xc3]);
    f.relocs.push(reloc(
        0,
        Reloc::Abs8,
        FinalName::TestCase(TestcaseName::new("f")),
        0,
    ));
    m.define_named_function(tc("f"), f).unwrap();
    assert!(matches!(m.finalize(), Err(LinkError::BadOffset { .. })));

    // No definitions after finalize.
    let mut m = JitModule::new();
    m.finalize().unwrap();
    assert!(matches!(
        m.define_named_function(tc("g"), code(ADD)),
        Err(LinkError::AlreadyFinalized)
    ));
}

fn trap_module() -> (JitModule, FuncId) {
    let mut m = JitModule::new();
    // ud2 declared as a division-by-zero trap at offset 2.
    let mut t = code(&[0x90, 0x90, 0x0f, 0x0b]);
    t.traps.push(MachTrap {
        offset: 2,
        code: TrapCode::INTEGER_DIVISION_BY_ZERO,
    });
    m.define_named_function(tc("ud2"), t).unwrap();
    // mov eax, edi; cdq; idiv esi; ret  (SIGFPE when esi == 0)
    m.define_named_function(tc("div"), code(&[0x89, 0xf8, 0x99, 0xf7, 0xfe, 0xc3]))
        .unwrap();
    // mov eax, [0]  (SIGSEGV)
    m.define_named_function(tc("segv"), code(&[0x8b, 0x04, 0x25, 0, 0, 0, 0, 0xc3]))
        .unwrap();
    // A caller that traps two frames deep:
    // push rbp; mov rbp, rsp; push r12; push rbx; mov r12, 1234; call %ud2; ...
    let mut deep = code(&[
        0x55, 0x48, 0x89, 0xe5, 0x41, 0x54, 0x53, 0x49, 0xc7, 0xc4, 0xd2, 0x04, 0, 0, 0xe8, 0, 0,
        0, 0, 0x5b, 0x41, 0x5c, 0x5d, 0xc3,
    ]);
    deep.relocs.push(reloc(
        15,
        Reloc::X86CallPCRel4,
        FinalName::TestCase(TestcaseName::new("ud2")),
        -4,
    ));
    m.define_named_function(tc("deep"), deep).unwrap();
    m.define_named_function(tc("add"), code(ADD)).unwrap();
    let tramp = m.define_anonymous_function(code(TRAMP_INT2)).unwrap();
    m.finalize().unwrap();
    (m, tramp)
}

#[test]
fn traps_become_errors_with_their_code() {
    let (m, t) = trap_module();
    for _ in 0..50 {
        match call_int(&m, t, &tc("ud2"), 0, 0) {
            Err(JitCallError::Trap(info)) => {
                assert_eq!(info.code, Some(TrapCode::INTEGER_DIVISION_BY_ZERO));
                assert_eq!(info.function.as_deref(), Some("%ud2"));
                assert_eq!(info.offset, 2);
                assert_eq!(info.signal, libc::SIGILL);
                assert_eq!(info.to_string(), "trap int_divz at %ud2+0x2 (SIGILL)");
            }
            other => panic!("expected a trap, got {other:?}"),
        }
        // Normal calls keep working after a trap (the mask was restored).
        assert_eq!(call_int(&m, t, &tc("add"), 1, 2).unwrap() as i32, 3);
        match call_int(&m, t, &tc("div"), 7, 0) {
            Err(JitCallError::Trap(info)) => {
                assert_eq!(info.signal, libc::SIGFPE);
                assert_eq!(info.code, None);
                assert_eq!(info.offset, 3);
            }
            other => panic!("expected SIGFPE, got {other:?}"),
        }
        assert_eq!(call_int(&m, t, &tc("div"), 42, 6).unwrap() as i32, 7);
        match call_int(&m, t, &tc("segv"), 0, 0) {
            Err(JitCallError::Trap(info)) => assert_eq!(info.signal, libc::SIGSEGV),
            other => panic!("expected SIGSEGV, got {other:?}"),
        }
    }
}

#[test]
fn deep_trap_restores_callee_saved_registers() {
    let (m, t) = trap_module();
    // Values live across the call (in callee-saved registers or on the
    // stack) must survive a trap two JIT frames deep that clobbered r12.
    for i in 0..100u64 {
        let keep = std::hint::black_box(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        match call_int(&m, t, &tc("deep"), 0, 0) {
            Err(JitCallError::Trap(info)) => {
                assert_eq!(info.function.as_deref(), Some("%ud2"));
                assert_eq!(info.code, Some(TrapCode::INTEGER_DIVISION_BY_ZERO));
            }
            other => panic!("expected a trap, got {other:?}"),
        }
        assert_eq!(keep, i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
}

#[test]
fn traps_on_several_threads() {
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let (m, t) = trap_module();
                for i in 0..200 {
                    assert!(matches!(
                        call_int(&m, t, &tc("ud2"), 0, 0),
                        Err(JitCallError::Trap(_))
                    ));
                    assert_eq!(call_int(&m, t, &tc("add"), i, 1).unwrap(), i + 1);
                }
            });
        }
    });
}

#[test]
fn unbounded_recursion_is_a_stack_overflow_trap() {
    let mut m = JitModule::new();
    // f: call f
    m.define_named_function(tc("rec"), code(&[0xe8, 0xfb, 0xff, 0xff, 0xff]))
        .unwrap();
    m.define_named_function(tc("add"), code(ADD)).unwrap();
    let t = m.define_anonymous_function(code(TRAMP_INT2)).unwrap();
    m.finalize().unwrap();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn_scoped(s, || {
                for _ in 0..3 {
                    match call_int(&m, t, &tc("rec"), 0, 0) {
                        Err(JitCallError::Trap(info)) => {
                            assert_eq!(info.code, Some(TrapCode::STACK_OVERFLOW), "{info}");
                            assert_eq!(info.function.as_deref(), Some("%rec"));
                        }
                        other => panic!("expected a stack overflow, got {other:?}"),
                    }
                    assert_eq!(call_int(&m, t, &tc("add"), 2, 2).unwrap(), 4);
                }
            })
            .unwrap()
            .join()
            .unwrap();
    });
}

/// `mov rax, rdi; sub rsp, 8; call rax; add rsp, 8; ret`: calls the
/// address in its first argument (a `call_indirect`).
const CALL_ARG: &[u8] = &[
    0x48, 0x89, 0xf8, 0x48, 0x83, 0xec, 0x08, 0xff, 0xd0, 0x48, 0x83, 0xc4, 0x08, 0xc3,
];

#[test]
fn call_through_a_bad_pointer_is_a_trap() {
    static DATA: [u8; 16] = [0; 16];
    let mut m = JitModule::new();
    m.define_named_function(tc("ci"), code(CALL_ARG)).unwrap();
    m.define_named_function(tc("add"), code(ADD)).unwrap();
    let t = m.define_anonymous_function(code(TRAMP_INT2)).unwrap();
    m.finalize().unwrap();
    // Null, a small bogus address, an unmapped high address, and mapped
    // but non-executable data.
    let data = DATA.as_ptr() as i64;
    for target in [0i64, 1, 0x7fff_dead_0000, data] {
        match call_int(&m, t, &tc("ci"), target, 0) {
            Err(JitCallError::Trap(info)) => {
                assert_eq!(
                    info.outside,
                    Some(Outside::BadCallTarget {
                        target: target as usize
                    }),
                    "{info}"
                );
                assert_eq!(info.code, None);
                // The return address the call pushed: after `call rax`.
                assert_eq!(info.function.as_deref(), Some("%ci"), "{info}");
                assert_eq!(info.offset, 9, "{info}");
                let text = info.to_string();
                assert!(text.starts_with("trap bad_call_target"), "{text}");
            }
            other => panic!("expected a bad call trap for {target:#x}, got {other:?}"),
        }
        // The thread's state is intact: the next call works.
        assert_eq!(call_int(&m, t, &tc("add"), 2, 3).unwrap(), 5);
    }
}

#[inline(never)]
fn rust_recurse(n: u64) -> u64 {
    let buf = std::hint::black_box([n; 32]);
    if n == 0 {
        0
    } else {
        buf[5] + rust_recurse(n - 1) + 1
    }
}

extern "C" fn deep(n: i64) -> i64 {
    rust_recurse(n as u64) as i64
}

extern "C" fn load(p: i64) -> i64 {
    // SAFETY: deliberately reads the address the JIT code passed, to fault
    // inside a callee outside JIT code.
    unsafe { std::ptr::read_volatile(p as *const i64) }
}

/// A module whose `%f` calls external function `u1:0` with its argument.
fn calls_external(target: *const u8) -> (JitModule, FuncId) {
    // sub rsp, 8; call u1:0; add rsp, 8; ret
    let mut f = code(&[
        0x48, 0x83, 0xec, 0x08, 0xe8, 0, 0, 0, 0, 0x48, 0x83, 0xc4, 0x08, 0xc3,
    ]);
    f.relocs.push(reloc(
        5,
        Reloc::X86CallPCRel4,
        FinalName::User(UserExternalName::new(1, 0)),
        -4,
    ));
    let mut m = JitModule::new();
    m.define_external(UserFuncName::user(1, 0), target).unwrap();
    m.define_named_function(tc("f"), f).unwrap();
    m.define_named_function(tc("add"), code(ADD)).unwrap();
    let t = m.define_anonymous_function(code(TRAMP_INT2)).unwrap();
    m.finalize().unwrap();
    (m, t)
}

fn expect_callee_overflow(m: &JitModule, t: FuncId) {
    for _ in 0..3 {
        match call_int(m, t, &tc("f"), i64::MAX, 0) {
            Err(JitCallError::Trap(info)) => {
                assert_eq!(info.code, Some(TrapCode::STACK_OVERFLOW), "{info}");
                assert!(
                    matches!(info.outside, Some(Outside::InCallee { .. })),
                    "{info}"
                );
            }
            other => panic!("expected a stack overflow, got {other:?}"),
        }
        assert_eq!(call_int(m, t, &tc("add"), 2, 2).unwrap(), 4);
    }
    // A shallow call still returns normally.
    // sum of (k + 1) for k in 1..=10
    assert_eq!(call_int(m, t, &tc("f"), 10, 0).unwrap(), 65);
}

#[test]
fn stack_overflow_inside_a_callee_is_a_trap() {
    let (m, t) = calls_external(deep as *const u8);
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn_scoped(s, || expect_callee_overflow(&m, t))
            .unwrap()
            .join()
            .unwrap();
    });
}

#[test]
fn stack_overflow_on_a_thread_without_an_alternate_stack() {
    let (m, t) = calls_external(deep as *const u8);
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn_scoped(s, || {
                // Take away the alternate signal stack Rust gave this
                // thread: the protected call must install its own, or the
                // overflow could not be handled at all.
                let off = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                let mut old: libc::stack_t =
                    // SAFETY: an all-zero stack_t is a valid value to fill.
                    unsafe { std::mem::zeroed() };
                // SAFETY: disabling the alternate stack of this thread; Rust
                // frees its own mapping at thread exit regardless.
                assert_eq!(unsafe { libc::sigaltstack(&off, &mut old) }, 0);
                expect_callee_overflow(&m, t);
            })
            .unwrap()
            .join()
            .unwrap();
    });
}

#[test]
fn bad_address_inside_a_callee_is_a_trap() {
    let (m, t) = calls_external(load as *const u8);
    match call_int(&m, t, &tc("f"), 16, 0) {
        Err(JitCallError::Trap(info)) => {
            assert_eq!(info.code, Some(TrapCode::HEAP_OUT_OF_BOUNDS), "{info}");
            assert!(
                matches!(info.outside, Some(Outside::InCallee { .. })),
                "{info}"
            );
        }
        other => panic!("expected a memory fault trap, got {other:?}"),
    }
    let x = 77i64;
    assert_eq!(
        call_int(&m, t, &tc("f"), &x as *const i64 as i64, 0).unwrap(),
        77
    );
}

/// aarch64 code compiled with `is_pic` takes addresses through GOT slots
/// (`adrp :got:` + `ldr :got_lo12:`). This JIT places x86-64 code only and
/// builds no aarch64 GOT: it refuses the code with a typed error naming the
/// relocation, never patches it wrongly.
#[test]
fn aarch64_pic_code_is_refused_by_relocation_kind() {
    use kiln_codegen::settings::{Arch, Flags, IsaFlags};
    let mut flags = Flags::default();
    flags.set("is_pic", Some("true")).unwrap();
    let isa = kiln_codegen::isa::lookup(flags, IsaFlags::baseline(Arch::Aarch64)).unwrap();
    let f = kiln_reader::parse_function(
        "function u0:0() -> i64 system_v {
    gv0 = symbol u1:0
block0:
    v0 = symbol_value.i64 gv0
    return v0
}",
    )
    .unwrap();
    let code = kiln_codegen::isa::compile_function(&*isa, &f).unwrap();
    let mut m = JitModule::new();
    let id = m
        .declare_function("f", kiln_module::Linkage::Export, &f.stencil.signature)
        .unwrap();
    m.declare_data("d", kiln_module::Linkage::Export, false)
        .unwrap();
    m.define_function(id, &f.stencil.signature, code).unwrap();
    let mut d = kiln_module::DataDescription::new();
    d.define(vec![0u8; 8].into_boxed_slice());
    let did = match m.declarations().get_name("d") {
        Some(kiln_module::FuncOrDataId::Data(d)) => d,
        other => panic!("d is data: {other:?}"),
    };
    m.define_data(did, &d).unwrap();
    match m.finalize() {
        Err(LinkError::UnsupportedReloc { from, kind }) => {
            assert_eq!(from, "f");
            assert_eq!(kind, Reloc::Aarch64AdrGotPage21);
        }
        other => panic!("expected the GOT relocation refused, got {other:?}"),
    }
}
