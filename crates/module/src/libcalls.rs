//! Runtime functions that generated code may call (`LibCall`s).
//!
//! Float rounding and fused multiply-add are implemented in Rust with the
//! exact IEEE semantics CLIF requires (`nearest` rounds half to even); the
//! memory functions are the C library's.

use kiln_ir::LibCall;

extern "C" fn ceil_f32(x: f32) -> f32 {
    x.ceil()
}
extern "C" fn ceil_f64(x: f64) -> f64 {
    x.ceil()
}
extern "C" fn floor_f32(x: f32) -> f32 {
    x.floor()
}
extern "C" fn floor_f64(x: f64) -> f64 {
    x.floor()
}
extern "C" fn trunc_f32(x: f32) -> f32 {
    x.trunc()
}
extern "C" fn trunc_f64(x: f64) -> f64 {
    x.trunc()
}
extern "C" fn nearest_f32(x: f32) -> f32 {
    x.round_ties_even()
}
extern "C" fn nearest_f64(x: f64) -> f64 {
    x.round_ties_even()
}
extern "C" fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}
extern "C" fn fma_f64(a: f64, b: f64, c: f64) -> f64 {
    a.mul_add(b, c)
}

/// The address of the function implementing `lc`, if this runtime has one.
pub fn libcall_address(lc: LibCall) -> Option<usize> {
    Some(match lc {
        LibCall::CeilF32 => ceil_f32 as *const () as usize,
        LibCall::CeilF64 => ceil_f64 as *const () as usize,
        LibCall::FloorF32 => floor_f32 as *const () as usize,
        LibCall::FloorF64 => floor_f64 as *const () as usize,
        LibCall::TruncF32 => trunc_f32 as *const () as usize,
        LibCall::TruncF64 => trunc_f64 as *const () as usize,
        LibCall::NearestF32 => nearest_f32 as *const () as usize,
        LibCall::NearestF64 => nearest_f64 as *const () as usize,
        LibCall::FmaF32 => fma_f32 as *const () as usize,
        LibCall::FmaF64 => fma_f64 as *const () as usize,
        LibCall::Memcpy => libc::memcpy as *const () as usize,
        LibCall::Memset => libc::memset as *const () as usize,
        LibCall::Memmove => libc::memmove as *const () as usize,
        LibCall::Memcmp => libc::memcmp as *const () as usize,
        LibCall::Probestack
        | LibCall::ElfTlsGetAddr
        | LibCall::ElfTlsGetOffset
        | LibCall::X86Pshufb => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rounds_half_to_even() {
        assert_eq!(nearest_f32(2.5), 2.0);
        assert_eq!(nearest_f32(3.5), 4.0);
        assert_eq!(nearest_f32(-2.5), -2.0);
        assert_eq!(nearest_f64(0.5), 0.0);
        assert_eq!(nearest_f64(1.5), 2.0);
        assert!(nearest_f64(-0.4).is_sign_negative());
    }

    #[test]
    fn fma_is_fused() {
        // (1 + 2^-52) * (1 - 2^-52) - 1 = -2^-104 exactly; unfused gives 0.
        let e = f64::EPSILON;
        assert_eq!(fma_f64(1.0 + e, 1.0 - e, -1.0), -(e * e));
        assert_eq!(fma_f32(2.0, 3.0, 1.0), 7.0);
    }

    #[test]
    fn every_supported_libcall_resolves() {
        for lc in LibCall::ALL {
            let want = !matches!(
                lc,
                LibCall::Probestack
                    | LibCall::ElfTlsGetAddr
                    | LibCall::ElfTlsGetOffset
                    | LibCall::X86Pshufb
            );
            assert_eq!(libcall_address(lc).is_some(), want, "{lc:?}");
        }
    }
}
