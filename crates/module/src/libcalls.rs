//! Runtime functions that generated code may call (`LibCall`s).
//!
//! Float rounding and fused multiply-add are implemented in Rust with the
//! exact IEEE semantics CLIF requires (`nearest` rounds half to even); the
//! memory functions are the C library's. The stack probe is a few
//! instructions of assembly, because its convention is not C's.

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

// i128 division: the halves arrive as four 64-bit arguments (low, high of
// the dividend, then of the divisor) and the result returns in rax:rdx.
// Generated code traps on a zero divisor and on `sdiv` overflow before it
// calls; `srem` of INT_MIN by -1 is 0.
fn i128_of(lo: u64, hi: u64) -> u128 {
    (hi as u128) << 64 | lo as u128
}
extern "C" fn udiv_i128(al: u64, ah: u64, bl: u64, bh: u64) -> u128 {
    i128_of(al, ah).checked_div(i128_of(bl, bh)).unwrap_or(0)
}
extern "C" fn urem_i128(al: u64, ah: u64, bl: u64, bh: u64) -> u128 {
    i128_of(al, ah).checked_rem(i128_of(bl, bh)).unwrap_or(0)
}
extern "C" fn sdiv_i128(al: u64, ah: u64, bl: u64, bh: u64) -> u128 {
    let (a, b) = (i128_of(al, ah) as i128, i128_of(bl, bh) as i128);
    if b == 0 {
        return 0;
    }
    a.wrapping_div(b) as u128
}
extern "C" fn srem_i128(al: u64, ah: u64, bl: u64, bh: u64) -> u128 {
    let (a, b) = (i128_of(al, ah) as i128, i128_of(bl, bh) as i128);
    if b == 0 {
        return 0;
    }
    a.wrapping_rem(b) as u128
}

// `LibCall::Probestack` (`__kiln_probestack`): called from a prologue with
// eax = the frame size about to be reserved; touches one word in every
// 4 KiB page below the caller's stack pointer, top page first, so that the
// guard page below a thread's stack faults before the frame can step over
// it. rsp moves with the probe (nothing is stored below it); every
// register but r11 and the flags is preserved. The pages are counted from
// this function's own frame, 16 bytes below the caller's rsp, so the
// lowest store may be up to 16 bytes below the caller's future frame:
// conservative, never short.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl kiln_module_probestack",
    ".hidden kiln_module_probestack",
    ".type kiln_module_probestack,@function",
    "kiln_module_probestack:",
    "push rbp",
    "mov rbp, rsp",
    "mov r11d, eax",
    "2:",
    "cmp r11, 4096",
    "jb 3f",
    "sub rsp, 4096",
    "mov dword ptr [rsp], 0",
    "sub r11, 4096",
    "jmp 2b",
    "3:",
    "mov rsp, rbp",
    "pop rbp",
    "ret",
    ".size kiln_module_probestack, .-kiln_module_probestack",
);

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
extern "sysv64" {
    fn kiln_module_probestack();
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn probestack_address() -> Option<usize> {
    Some(kiln_module_probestack as *const () as usize)
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn probestack_address() -> Option<usize> {
    None
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
        LibCall::UdivI128 => udiv_i128 as *const () as usize,
        LibCall::SdivI128 => sdiv_i128 as *const () as usize,
        LibCall::UremI128 => urem_i128 as *const () as usize,
        LibCall::SremI128 => srem_i128 as *const () as usize,
        LibCall::Probestack => return probestack_address(),
        LibCall::ElfTlsGetAddr | LibCall::ElfTlsGetOffset | LibCall::X86Pshufb => return None,
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
    fn i128_division() {
        let m = u64::MAX;
        // -7 / 2 == -3, -7 % 2 == -1 (truncating), as two halves.
        assert_eq!(sdiv_i128(-7i64 as u64, m, 2, 0) as i128, -3);
        assert_eq!(srem_i128(-7i64 as u64, m, 2, 0) as i128, -1);
        // INT_MIN % -1 == 0.
        assert_eq!(srem_i128(0, 1 << 63, m, m), 0);
        // 2^127 / 3 and its remainder, unsigned.
        let a = 1u128 << 127;
        assert_eq!(udiv_i128(0, 1 << 63, 3, 0), a / 3);
        assert_eq!(urem_i128(0, 1 << 63, 3, 0), a % 3);
        assert_eq!(udiv_i128(5, 0, 0, 1), 0);
        assert_eq!(urem_i128(5, 0, 0, 1), 5);
    }

    #[test]
    fn every_supported_libcall_resolves() {
        for lc in LibCall::ALL {
            let want = !matches!(
                lc,
                LibCall::ElfTlsGetAddr | LibCall::ElfTlsGetOffset | LibCall::X86Pshufb
            ) && (lc != LibCall::Probestack
                || cfg!(all(target_arch = "x86_64", target_os = "linux")));
            assert_eq!(libcall_address(lc).is_some(), want, "{lc:?}");
        }
    }
}
