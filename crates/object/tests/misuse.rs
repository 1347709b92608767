//! Bad use of an `ObjectModule` is a typed error, and libcall symbols
//! share a declaration of the same name.

use kiln_codegen::compiled::{CompiledCode, Final, FinalName, Relocation};
use kiln_codegen::machinst::buffer::Reloc;
use kiln_codegen::settings::Arch;
use kiln_ir::{CallConv, LibCall, Signature, UserExternalName};
use kiln_module::{DataDescription, Linkage, Module, ModuleError};
use kiln_object::ObjectModule;
use object::{Object, ObjectSymbol};

fn call_to(target: FinalName) -> CompiledCode<Final> {
    CompiledCode {
        code: vec![0xe8, 0, 0, 0, 0, 0xc3],
        relocs: vec![Relocation {
            offset: 1,
            kind: Reloc::X86CallPCRel4,
            target,
            addend: -4,
        }],
        ..CompiledCode::empty()
    }
}

fn sig() -> Signature {
    Signature::new(CallConv::SystemV)
}

#[test]
fn misuse_is_typed() {
    let mut m = ObjectModule::new(Arch::X86_64);
    let f = m.declare_function("f", Linkage::Export, &sig()).unwrap();
    // Calls u0:7, which is not declared.
    let e = m
        .define_function(
            f,
            &sig(),
            call_to(FinalName::User(UserExternalName::new(0, 7))),
        )
        .unwrap_err();
    assert!(
        matches!(&e, ModuleError::Undeclared { from, target } if from == "f" && target == "u0:7"),
        "{e}"
    );
    m.define_function(f, &sig(), CompiledCode::empty()).unwrap();
    let e = m
        .define_function(f, &sig(), CompiledCode::empty())
        .unwrap_err();
    assert!(matches!(e, ModuleError::Duplicate(_)), "{e}");
    m.declare_data("never_defined", Linkage::Export, true)
        .unwrap();
    let e = m.finalize().unwrap_err();
    assert!(
        matches!(&e, ModuleError::Undefined(v) if v == &["never_defined"]),
        "{e}"
    );
    // A relocation past the end of the code.
    let mut m = ObjectModule::new(Arch::X86_64);
    let g = m.declare_function("g", Linkage::Export, &sig()).unwrap();
    let mut code = call_to(FinalName::LibCall(LibCall::Memcpy));
    code.relocs[0].offset = 4;
    m.define_function(g, &sig(), code).unwrap();
    let e = m.finish().unwrap_err();
    assert!(matches!(e, ModuleError::BadOffset { offset: 4, .. }), "{e}");
    // Data alignment must be a power of two.
    let mut m = ObjectModule::new(Arch::X86_64);
    let d = m.declare_data("d", Linkage::Local, false).unwrap();
    let mut desc = DataDescription::new();
    desc.define_zeroinit(4);
    desc.set_align(3);
    assert!(matches!(
        m.define_data(d, &desc),
        Err(ModuleError::BadData { .. })
    ));
}

#[test]
fn a_libcall_uses_the_declaration_of_its_name() {
    let mut m = ObjectModule::new(Arch::X86_64);
    let own = m
        .declare_function("memcpy", Linkage::Export, &sig())
        .unwrap();
    m.define_function(
        own,
        &sig(),
        CompiledCode {
            code: vec![0xc3],
            ..CompiledCode::empty()
        },
    )
    .unwrap();
    let f = m.declare_function("f", Linkage::Export, &sig()).unwrap();
    m.define_function(f, &sig(), call_to(FinalName::LibCall(LibCall::Memcpy)))
        .unwrap();
    let obj = m.finish().unwrap();
    let file = object::File::parse(&*obj).unwrap();
    let memcpys: Vec<_> = file
        .symbols()
        .filter(|s| s.name() == Ok("memcpy"))
        .collect();
    assert_eq!(memcpys.len(), 1);
    assert!(!memcpys[0].is_undefined());
}
