//! Directives of the conformance corpus whose expected values Kiln
//! deliberately does not reproduce.
//!
//! Each entry names the file, the function and why. The runner does not
//! evaluate that function's directives and reports the file as SKIP with the
//! reason (never PASS), so the divergence stays visible in every run.

/// One known divergence.
pub struct Divergence {
    /// The test kind it applies to (`interpret`, `run`).
    pub kind: &'static str,
    /// The end of the file's path.
    pub file_suffix: &'static str,
    /// The function whose directives are not evaluated.
    pub function: &'static str,
    pub reason: &'static str,
}

/// The known divergences.
pub const KNOWN: &[Divergence] = &[
    Divergence {
        kind: "interpret",
        file_suffix: "runtests/i128-conversion.clif",
        function: "fcvt_to_uint_i128",
        reason: "expects i128::MAX for fcvt_to_uint.i128 of 0x1.fffffep127, which fits \
                 in u128 (2^128-2^104); Kiln converts exactly as CLIF documents",
    },
    Divergence {
        kind: "interpret",
        file_suffix: "runtests/i128-conversion.clif",
        function: "fcvt_to_sint_i128",
        reason: "expects i128::MAX for fcvt_to_sint.i128 of 0x1.fffffep127, which is out of \
                 range; CLIF documents a bad_toint/int_ovf trap, which Kiln raises",
    },
    Divergence {
        kind: "interpret",
        file_suffix: "runtests/i128-conversion.clif",
        function: "fcvt_to_uint_sat_i128",
        reason: "expects i128::MAX for fcvt_to_uint_sat.i128 of 0x1.fffffep127, which fits \
                 in u128; Kiln saturates at u128::MAX as CLIF documents",
    },
];

/// The divergence covering `function` in `path` for `kind`, if any.
pub fn lookup(kind: &str, path: &str, function: &str) -> Option<&'static Divergence> {
    let function = function.strip_prefix('%').unwrap_or(function);
    let path = path.replace('\\', "/");
    KNOWN
        .iter()
        .find(|d| d.kind == kind && path.ends_with(d.file_suffix) && d.function == function)
}
