//! The reader never panics; whatever parses prints to text that parses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(file) = kiln_reader::parse_test(&text, "fuzz.clif") {
        for f in &file.functions {
            let printed = f.func.to_string();
            if let Err(e) = kiln_reader::parse_functions(&printed) {
                panic!("printed function does not parse: {e}\n{printed}");
            }
        }
    }
});
