//! The `Module` API on the JIT: data objects, imports, function-pointer
//! tables, and a typed error for each kind of bad use.

use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::{compile_function, lookup, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_ir::{AbiParam, CallConv, Function, Signature, Type};
use kiln_module::{DataDescription, JitModule, Linkage, Module, ModuleError};

fn isa() -> Box<dyn TargetIsa> {
    lookup(Flags::default(), IsaFlags::baseline(Arch::X86_64)).unwrap()
}

fn compile(text: &str) -> (Function, CompiledCode<Final>) {
    let f = kiln_reader::parse_function(text).unwrap();
    let c = compile_function(&*isa(), &f).unwrap();
    (f, c)
}

fn sig(params: usize, returns: usize) -> Signature {
    let mut s = Signature::new(CallConv::SystemV);
    s.params = vec![AbiParam::new(Type::I64); params];
    s.returns = vec![AbiParam::new(Type::I64); returns];
    s
}

fn host_is_x64() -> bool {
    if cfg!(target_arch = "x86_64") {
        true
    } else {
        println!("SKIP: JIT tests need an x86-64 host");
        false
    }
}

/// `u1:0` is a read-only table of i64, `u1:1` a writable counter:
/// `f(i) = table[i] + counter; counter += 1`.
const TABLE_AND_COUNTER: &str = "
function u0:0(i64) -> i64 system_v {
    gv0 = symbol u1:0
    gv1 = symbol u1:1
block0(v0: i64):
    v1 = symbol_value.i64 gv0
    v20 = iconst.i64 8
    v2 = imul v0, v20
    v3 = iadd v1, v2
    v4 = load.i64 v3
    v5 = symbol_value.i64 gv1
    v6 = load.i64 v5
    v7 = iadd v4, v6
    v21 = iconst.i64 1
    v8 = iadd v6, v21
    store v8, v5
    return v7
}";

#[test]
fn data_objects_read_only_and_writable() {
    if !host_is_x64() {
        return;
    }
    let mut m = JitModule::new();
    let f = m
        .declare_function("f", Linkage::Export, &sig(1, 1))
        .unwrap();
    let table = m.declare_data("table", Linkage::Local, false).unwrap();
    let counter = m.declare_data("counter", Linkage::Export, true).unwrap();
    // The index convention: u0:0 is FuncId 0, u1:0 / u1:1 the data ids.
    assert_eq!((f.as_u32(), table.as_u32(), counter.as_u32()), (0, 0, 1));
    let mut d = DataDescription::new();
    let bytes: Vec<u8> = [10i64, 20, 30]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    d.define(bytes.into_boxed_slice());
    d.set_align(8);
    m.define_data(table, &d).unwrap();
    let mut z = DataDescription::new();
    z.define_zeroinit(8);
    m.define_data(counter, &z).unwrap();
    let (func, code) = compile(TABLE_AND_COUNTER);
    m.define_function(f, &func.signature, code).unwrap();
    m.finalize().unwrap();
    let p = m.get_finalized_function(f).unwrap();
    // SAFETY: `f` was compiled from a system_v (i64) -> i64 function and the
    // module stays alive (and mapped) while it is called.
    let call: extern "sysv64" fn(i64) -> i64 = unsafe { std::mem::transmute(p) };
    assert_eq!(call(0), 10);
    assert_eq!(call(2), 31);
    assert_eq!(call(1), 22);
    let (c, size) = m.get_finalized_data(counter).unwrap();
    assert_eq!(size, 8);
    // SAFETY: `counter` is an 8-byte writable data object, 8-aligned by
    // the layout (it is the first writable object, at a page start).
    assert_eq!(unsafe { *(c as *const i64) }, 3);
    let (t, size) = m.get_finalized_data(table).unwrap();
    assert_eq!(size, 24);
    assert_eq!(t as usize % 8, 0);
    m.free_memory();
}

extern "C" fn triple(x: i64) -> i64 {
    3 * x
}

/// `g(x) = triple(x) + labs(x)`: one import found by the user's lookup,
/// one in the process (libc).
const TWO_IMPORTS: &str = "
function u0:0(i64) -> i64 system_v {
    sig0 = (i64) -> i64 system_v
    fn0 = u0:1 sig0
    fn1 = u0:2 sig0
block0(v0: i64):
    v1 = call fn0(v0)
    v2 = call fn1(v0)
    v3 = iadd v1, v2
    return v3
}";

#[test]
fn imports_through_lookup_then_process() {
    if !host_is_x64() {
        return;
    }
    let mut m = JitModule::new();
    m.set_symbol_lookup(Box::new(|name| {
        (name == "kiln_test_triple").then_some(triple as *const u8)
    }));
    let g = m
        .declare_function("g", Linkage::Export, &sig(1, 1))
        .unwrap();
    let t = m
        .declare_function("kiln_test_triple", Linkage::Import, &sig(1, 1))
        .unwrap();
    let a = m
        .declare_function("labs", Linkage::Import, &sig(1, 1))
        .unwrap();
    assert_eq!((t.as_u32(), a.as_u32()), (1, 2));
    let (func, code) = compile(TWO_IMPORTS);
    m.define_function(g, &func.signature, code).unwrap();
    m.finalize().unwrap();
    assert_eq!(m.get_finalized_function(t), Some(triple as *const u8));
    // SAFETY: (i64) -> i64 system_v code in a live module.
    let call: extern "sysv64" fn(i64) -> i64 =
        unsafe { std::mem::transmute(m.get_finalized_function(g).unwrap()) };
    assert_eq!(call(-5), -15 + 5);
    assert_eq!(call(7), 21 + 7);
}

/// `dispatch(i, x)` calls `table[i](x)`, the table holding the addresses
/// of `inc` and `dbl` (writable data with function relocations).
const DISPATCH: &str = "
function u0:0(i64, i64) -> i64 system_v {
    gv0 = symbol u1:0
    sig0 = (i64) -> i64 system_v
block0(v0: i64, v1: i64):
    v2 = symbol_value.i64 gv0
    v20 = iconst.i64 8
    v3 = imul v0, v20
    v4 = iadd v2, v3
    v5 = load.i64 v4
    v6 = call_indirect sig0, v5(v1)
    return v6
}";

#[test]
fn function_pointer_table_in_data() {
    if !host_is_x64() {
        return;
    }
    let mut m = JitModule::new();
    let dispatch = m
        .declare_function("dispatch", Linkage::Export, &sig(2, 1))
        .unwrap();
    let table = m.declare_data("ops", Linkage::Local, true).unwrap();
    let inc = m
        .declare_function("inc", Linkage::Local, &sig(1, 1))
        .unwrap();
    let dbl = m
        .declare_function("dbl", Linkage::Local, &sig(1, 1))
        .unwrap();
    let mut d = DataDescription::new();
    d.define_zeroinit(16);
    d.set_align(8);
    d.write_function_addr(0, inc);
    d.write_function_addr(8, dbl);
    m.define_data(table, &d).unwrap();
    let (f, c) = compile(DISPATCH);
    m.define_function(dispatch, &f.signature, c).unwrap();
    let (f, c) = compile(
        "function u0:1(i64) -> i64 system_v {\nblock0(v0: i64):\n v2 = iconst.i64 1\n v1 = iadd v0, v2\n return v1\n}",
    );
    m.define_function(inc, &f.signature, c).unwrap();
    let (f, c) = compile(
        "function u0:2(i64) -> i64 system_v {\nblock0(v0: i64):\n v1 = iadd v0, v0\n return v1\n}",
    );
    m.define_function(dbl, &f.signature, c).unwrap();
    m.finalize().unwrap();
    // SAFETY: (i64, i64) -> i64 system_v code in a live module.
    let call: extern "sysv64" fn(i64, i64) -> i64 =
        unsafe { std::mem::transmute(m.get_finalized_function(dispatch).unwrap()) };
    assert_eq!(call(0, 41), 42);
    assert_eq!(call(1, 21), 42);
}

const RET7: &str = "function u0:0() -> i64 system_v {\nblock0:\n v0 = iconst.i64 7\n return v0\n}";

#[test]
fn defining_twice_is_an_error() {
    let mut m = JitModule::new();
    let f = m.declare_function("f", Linkage::Local, &sig(0, 1)).unwrap();
    let (func, code) = compile(RET7);
    m.define_function(f, &func.signature, code.clone()).unwrap();
    let e = m.define_function(f, &func.signature, code).unwrap_err();
    assert!(matches!(&e, ModuleError::Duplicate(n) if n == "f"), "{e}");
}

#[test]
fn calling_an_undeclared_function_is_an_error() {
    let mut m = JitModule::new();
    let f = m.declare_function("f", Linkage::Local, &sig(1, 1)).unwrap();
    // TWO_IMPORTS calls u0:1 and u0:2, which this module never declared.
    let (func, code) = compile(TWO_IMPORTS);
    let e = m.define_function(f, &func.signature, code).unwrap_err();
    match &e {
        ModuleError::Undeclared { from, target } => {
            assert_eq!(from, "f");
            assert_eq!(target, "u0:1");
        }
        other => panic!("expected Undeclared, got {other}"),
    }
}

#[test]
fn signature_mismatch_is_an_error() {
    let mut m = JitModule::new();
    let f = m.declare_function("f", Linkage::Local, &sig(1, 1)).unwrap();
    let (func, code) = compile(RET7);
    let e = m.define_function(f, &func.signature, code).unwrap_err();
    assert!(
        matches!(&e, ModuleError::SignatureMismatch { name, .. } if name == "f"),
        "{e}"
    );
    // Re-declaring with another signature is refused too.
    let e = m
        .declare_function("f", Linkage::Local, &sig(0, 1))
        .unwrap_err();
    assert!(
        matches!(e, ModuleError::IncompatibleDeclaration { .. }),
        "{e}"
    );
}

#[test]
fn unresolved_import_names_the_symbol() {
    let mut m = JitModule::new();
    m.declare_function("kiln_no_such_symbol_anywhere", Linkage::Import, &sig(0, 0))
        .unwrap();
    m.declare_data("kiln_no_such_data", Linkage::Import, false)
        .unwrap();
    let e = m.finalize().unwrap_err();
    match &e {
        ModuleError::UnresolvedImports(v) => {
            assert_eq!(v, &["kiln_no_such_symbol_anywhere", "kiln_no_such_data"])
        }
        other => panic!("expected UnresolvedImports, got {other}"),
    }
    assert!(e.to_string().contains("kiln_no_such_symbol_anywhere"));
}

#[test]
fn data_relocation_to_an_undeclared_symbol_is_an_error() {
    let mut m = JitModule::new();
    let d = m.declare_data("d", Linkage::Local, true).unwrap();
    let mut other = JitModule::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let name = format!("f{i}");
        ids.push(
            other
                .declare_function(&name, Linkage::Local, &sig(0, 0))
                .unwrap(),
        );
    }
    let mut desc = DataDescription::new();
    desc.define_zeroinit(8);
    // An id of another module: not declared here.
    desc.write_function_addr(0, ids[2]);
    let e = m.define_data(d, &desc).unwrap_err();
    assert!(
        matches!(&e, ModuleError::Undeclared { from, .. } if from == "d"),
        "{e}"
    );
    // A relocation that does not fit in the object.
    let f = m
        .declare_function("g", Linkage::Import, &sig(0, 0))
        .unwrap();
    let mut desc = DataDescription::new();
    desc.define_zeroinit(8);
    desc.write_function_addr(4, f);
    let e = m.define_data(d, &desc).unwrap_err();
    assert!(matches!(e, ModuleError::BadData { .. }), "{e}");
}

#[test]
fn other_misuse_is_typed() {
    let mut m = JitModule::new();
    // Declared, never defined.
    m.declare_function("lost", Linkage::Export, &sig(0, 0))
        .unwrap();
    let e = m.finalize().unwrap_err();
    assert!(
        matches!(&e, ModuleError::Undefined(v) if v == &["lost"]),
        "{e}"
    );
    // Local then export.
    let e = m
        .declare_function("lost", Linkage::Local, &sig(0, 0))
        .unwrap_err();
    assert!(
        matches!(e, ModuleError::IncompatibleDeclaration { .. }),
        "{e}"
    );
    // A data object whose contents were never set.
    let d = m.declare_data("empty", Linkage::Local, false).unwrap();
    let e = m.define_data(d, &DataDescription::new()).unwrap_err();
    assert!(matches!(e, ModuleError::BadData { .. }), "{e}");
    // Defining an import.
    let i = m
        .declare_function("imp", Linkage::Import, &sig(0, 1))
        .unwrap();
    let (func, code) = compile(RET7);
    let e = m.define_function(i, &func.signature, code).unwrap_err();
    assert!(matches!(e, ModuleError::DefinedImport(_)), "{e}");
}

#[test]
fn nothing_after_finalize() {
    if !host_is_x64() {
        return;
    }
    let mut m = JitModule::new();
    let f = m.declare_function("f", Linkage::Local, &sig(0, 1)).unwrap();
    let (func, code) = compile(RET7);
    m.define_function(f, &func.signature, code).unwrap();
    m.finalize().unwrap();
    assert!(matches!(
        m.declare_function("g", Linkage::Local, &sig(0, 0)),
        Err(ModuleError::AlreadyFinalized)
    ));
    assert!(matches!(m.finalize(), Err(ModuleError::AlreadyFinalized)));
}

static IMPORTED_VALUE: i64 = 4242;

#[test]
fn data_imports_and_pc_relative_references_to_data() {
    if !host_is_x64() {
        return;
    }
    use kiln_codegen::compiled::{FinalName, Relocation};
    use kiln_codegen::machinst::buffer::Reloc;
    use kiln_ir::UserExternalName;
    let mut m = JitModule::new();
    // u0:0 reads imported data u1:0 (movabs); u0:1 and u0:2 are hand-made:
    // `mov rax, [rip + u1:1]` and `mov rax, [rip + u1:1@GOT]; mov rax, [rax]`.
    let read_import = m
        .declare_function("read_import", Linkage::Local, &sig(0, 1))
        .unwrap();
    let pcrel = m
        .declare_function("pcrel", Linkage::Local, &sig(0, 1))
        .unwrap();
    let got = m
        .declare_function("got", Linkage::Local, &sig(0, 1))
        .unwrap();
    let imported = m
        .declare_data("kiln_imported_value", Linkage::Import, false)
        .unwrap();
    let local = m
        .declare_data("local_value", Linkage::Local, false)
        .unwrap();
    m.define_symbol(
        "kiln_imported_value",
        &IMPORTED_VALUE as *const i64 as *const u8,
    );
    let mut d = DataDescription::new();
    d.define(77i64.to_le_bytes().to_vec().into_boxed_slice());
    d.set_align(8);
    m.define_data(local, &d).unwrap();
    let (f, c) = compile(
        "function u0:0() -> i64 system_v {\n    gv0 = symbol u1:0\nblock0:\n    v0 = symbol_value.i64 gv0\n    v1 = load.i64 v0\n    return v1\n}",
    );
    m.define_function(read_import, &f.signature, c).unwrap();
    let hand = |bytes: &[u8], kind| CompiledCode::<Final> {
        code: bytes.to_vec(),
        relocs: vec![Relocation {
            offset: 3,
            kind,
            target: FinalName::User(UserExternalName::new(1, local.as_u32())),
            addend: -4,
        }],
        ..CompiledCode::empty()
    };
    let s = sig(0, 1);
    m.define_function(
        pcrel,
        &s,
        hand(&[0x48, 0x8b, 0x05, 0, 0, 0, 0, 0xc3], Reloc::X86PCRel4),
    )
    .unwrap();
    let got_code = [0x48, 0x8b, 0x05, 0, 0, 0, 0, 0x48, 0x8b, 0x00, 0xc3];
    m.define_function(got, &s, hand(&got_code, Reloc::X86GOTPCRel4))
        .unwrap();
    m.finalize().unwrap();
    let (p, size) = m.get_finalized_data(imported).unwrap();
    assert_eq!((p as *const i64, size), (&IMPORTED_VALUE as *const i64, 0));
    for (id, want) in [(read_import, 4242), (pcrel, 77), (got, 77)] {
        // SAFETY: each is `() -> i64` system_v code in a live module.
        let f: extern "sysv64" fn() -> i64 =
            unsafe { std::mem::transmute(m.get_finalized_function(id).unwrap()) };
        assert_eq!(f(), want);
    }
}

#[test]
fn rebinding_a_user_name_is_an_error() {
    use kiln_module::FuncOrDataId;
    let mut m = JitModule::new();
    let a = m.declare_function("a", Linkage::Local, &sig(0, 0)).unwrap();
    let b = m.declare_function("b", Linkage::Local, &sig(0, 0)).unwrap();
    let u = kiln_ir::UserExternalName::new(0, 9);
    m.bind_user_name(u, FuncOrDataId::Func(a)).unwrap();
    m.bind_user_name(u, FuncOrDataId::Func(a)).unwrap();
    let e = m.bind_user_name(u, FuncOrDataId::Func(b)).unwrap_err();
    assert!(
        matches!(e, ModuleError::IncompatibleDeclaration { .. }),
        "{e}"
    );
    assert_eq!(
        m.declarations().resolve_user(&u),
        Some(FuncOrDataId::Func(a))
    );
}

/// `call_slots_repeat` resets the slots before every call (a function that
/// doubles its argument gives 2x after any number of calls, not 2^n x) and
/// stays protected: a trap on a later call comes back as the trap error.
#[test]
fn repeated_calls_reset_slots_and_catch_traps() {
    if !host_is_x64() {
        return;
    }
    let text = "
function %dbl(i64) -> i64 system_v {
block0(v0: i64):
    v1 = iconst.i64 100
    v2 = icmp uge v0, v1
    trapnz v2, user1
    v3 = iadd v0, v0
    return v3
}";
    let isa = isa();
    let f = kiln_reader::parse_function(text).unwrap();
    let c = compile_function(&*isa, &f).unwrap();
    let mut b = kiln_module::JitProgramBuilder::new(&*isa);
    b.define(f.name.clone(), f.stencil.signature.clone(), c)
        .unwrap();
    let prog = b.finish().unwrap();
    let entry = prog.entry(&f.name).unwrap();
    let template = entry.make_slots(&[kiln_ir::DataValue::I64(21)]).unwrap();
    let mut slots = template.clone();
    entry.call_slots_repeat(&template, &mut slots, 5).unwrap();
    assert_eq!(
        entry.read_results(&slots).unwrap(),
        vec![kiln_ir::DataValue::I64(42)]
    );
    // Zero repetitions leave the slots alone.
    let mut untouched = vec![7u128; slots.len()];
    entry
        .call_slots_repeat(&template, &mut untouched, 0)
        .unwrap();
    assert!(untouched.iter().all(|&s| s == 7));
    let bad = entry.make_slots(&[kiln_ir::DataValue::I64(500)]).unwrap();
    let r = entry.call_slots_repeat(&bad, &mut slots, 3);
    assert!(
        matches!(r, Err(kiln_module::ProgramCallError::Call(_))),
        "{r:?}"
    );
    // Too few slots is a typed error, not a call.
    assert!(matches!(
        entry.call_slots_repeat(&[], &mut slots, 1),
        Err(kiln_module::ProgramCallError::BadArguments(_))
    ));
}
