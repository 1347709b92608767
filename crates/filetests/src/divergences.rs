//! Run lines of the conformance corpus whose expected values Kiln
//! deliberately does not reproduce.
//!
//! Each entry names one `; run:` line (file and line number), the result
//! Kiln produces there and documents as correct ([`KilnResult`]), and why
//! the file's expectation is not followed. The line is still evaluated and
//! Kiln's own result is asserted on it: a different value (or a trap where
//! a value is documented) is a FAIL. Every other line of the file is
//! checked as written. A file with a divergent line is reported as SKIP
//! naming the divergent lines (never PASS: the file's own expectations do
//! not all hold), so the divergence stays visible in every run.

/// What Kiln produces on a divergent line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KilnResult {
    /// The results, as `; run:` lines print them (CLIF literal syntax).
    Values(&'static str),
    /// A trap with this code.
    Trap(&'static str),
}

impl std::fmt::Display for KilnResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KilnResult::Values(v) => f.write_str(v),
            KilnResult::Trap(code) => write!(f, "trap {code}"),
        }
    }
}

/// One known divergence.
pub struct Divergence {
    /// The test kind it applies to (`interpret`, `run`).
    pub kind: &'static str,
    /// The end of the file's path.
    pub file_suffix: &'static str,
    /// The line of the `; run:` directive.
    pub line: usize,
    /// What Kiln produces there (asserted).
    pub kiln: KilnResult,
    pub reason: &'static str,
}

/// 2^128 - 2^104: the value of the f32 0x1.fffffep127, as a u128 (printed
/// as an i128 it is negative).
const F32_MAX_AS_U128: &str = "-20282409603651670423947251286016";

/// The known divergences.
pub const KNOWN: &[Divergence] = &[
    Divergence {
        kind: "interpret",
        file_suffix: "runtests/i128-conversion.clif",
        line: 14,
        kiln: KilnResult::Values(F32_MAX_AS_U128),
        reason: "expects i128::MAX for fcvt_to_uint.i128 of 0x1.fffffep127, which fits \
                 in u128 (2^128-2^104); Kiln converts exactly as CLIF documents",
    },
    Divergence {
        kind: "interpret",
        file_suffix: "runtests/i128-conversion.clif",
        line: 28,
        kiln: KilnResult::Trap("int_ovf"),
        reason: "expects i128::MAX for fcvt_to_sint.i128 of 0x1.fffffep127, which is out of \
                 range; CLIF documents a trap for it, which Kiln raises",
    },
    Divergence {
        kind: "interpret",
        file_suffix: "runtests/i128-conversion.clif",
        line: 40,
        kiln: KilnResult::Values(F32_MAX_AS_U128),
        reason: "expects i128::MAX for fcvt_to_uint_sat.i128 of 0x1.fffffep127, which fits \
                 in u128: nothing saturates, and Kiln returns the exact value 2^128-2^104",
    },
];

/// The divergence of the run line `line` of `path` for `kind`, if any.
pub fn lookup(kind: &str, path: &str, line: usize) -> Option<&'static Divergence> {
    let path = path.replace('\\', "/");
    KNOWN
        .iter()
        .find(|d| d.kind == kind && d.line == line && path.ends_with(d.file_suffix))
}
