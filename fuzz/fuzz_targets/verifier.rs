//! The verifier and the stencil key never panic on anything the reader
//! accepts; a function that verifies keeps its key when renamed and through
//! a faithful print/parse round trip.
#![no_main]

use kiln_ir::key::{stencil_key, KeyTarget};
use kiln_ir::UserFuncName;
use libfuzzer_sys::fuzz_target;

const TARGET: KeyTarget<'static> = KeyTarget {
    triple: "x86_64-unknown-linux-gnu",
    flags: &[],
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(file) = kiln_reader::parse_test(&text, "fuzz.clif") else {
        return;
    };
    for pf in &file.functions {
        let f = &pf.func;
        let verified = kiln_ir::verifier::verify_function(f).is_ok();
        let key = stencil_key(&f.stencil, &TARGET);
        if !verified {
            continue;
        }
        let mut renamed = f.clone();
        renamed.name = UserFuncName::user(1, 2);
        assert_eq!(stencil_key(&renamed.stencil, &TARGET), key, "name changed the key");
        let printed = f.to_string();
        let reparsed = kiln_reader::parse_functions(&printed).expect("printed function parses");
        for g in &reparsed {
            // Only where the text round trip is faithful (the printed text
            // is a fixed point): otherwise the stencil really changed, a
            // printer/reader matter the `reader` target is about.
            if g.to_string() != printed {
                continue;
            }
            assert_eq!(
                stencil_key(&g.stencil, &TARGET),
                key,
                "print/parse changed the key of\n{printed}"
            );
        }
    }
});
