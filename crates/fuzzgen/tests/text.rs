//! Generated functions print, and the printed text reads back to a function
//! that prints the same.

use kiln_fuzzgen::{generate_program, Config};

#[test]
fn generated_functions_round_trip_through_text() {
    let mut state = 0x0bad_cafe_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..300 {
        let len = 4 + next() as usize % 1200;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let config = if i % 2 == 0 {
            Config::default()
        } else {
            Config::default().with_i128()
        };
        let p = generate_program(&bytes, &config).unwrap();
        for f in p.functions() {
            let text = f.to_string();
            let back =
                kiln_reader::parse_function(&text).unwrap_or_else(|e| panic!("#{i}: {e}\n{text}"));
            assert_eq!(back.to_string(), text, "#{i}");
            assert_eq!(back.params.base_srcloc(), f.params.base_srcloc());
        }
    }
}
