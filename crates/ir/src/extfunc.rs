//! External functions: declarations, their names (user references, test
//! names, runtime library calls, linker symbols).

use crate::entities::{SigRef, UserExternalNameRef};
use crate::extname::TestcaseName;

/// Runtime library functions the code generator may call.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum LibCall {
    Probestack,
    CeilF32,
    CeilF64,
    FloorF32,
    FloorF64,
    TruncF32,
    TruncF64,
    NearestF32,
    NearestF64,
    FmaF32,
    FmaF64,
    Memcpy,
    Memset,
    Memmove,
    Memcmp,
    ElfTlsGetAddr,
    ElfTlsGetOffset,
    X86Pshufb,
    UdivI128,
    SdivI128,
    UremI128,
    SremI128,
}

impl LibCall {
    pub const ALL: [LibCall; 22] = [
        LibCall::Probestack,
        LibCall::CeilF32,
        LibCall::CeilF64,
        LibCall::FloorF32,
        LibCall::FloorF64,
        LibCall::TruncF32,
        LibCall::TruncF64,
        LibCall::NearestF32,
        LibCall::NearestF64,
        LibCall::FmaF32,
        LibCall::FmaF64,
        LibCall::Memcpy,
        LibCall::Memset,
        LibCall::Memmove,
        LibCall::Memcmp,
        LibCall::ElfTlsGetAddr,
        LibCall::ElfTlsGetOffset,
        LibCall::X86Pshufb,
        LibCall::UdivI128,
        LibCall::SdivI128,
        LibCall::UremI128,
        LibCall::SremI128,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            LibCall::Probestack => "Probestack",
            LibCall::CeilF32 => "CeilF32",
            LibCall::CeilF64 => "CeilF64",
            LibCall::FloorF32 => "FloorF32",
            LibCall::FloorF64 => "FloorF64",
            LibCall::TruncF32 => "TruncF32",
            LibCall::TruncF64 => "TruncF64",
            LibCall::NearestF32 => "NearestF32",
            LibCall::NearestF64 => "NearestF64",
            LibCall::FmaF32 => "FmaF32",
            LibCall::FmaF64 => "FmaF64",
            LibCall::Memcpy => "Memcpy",
            LibCall::Memset => "Memset",
            LibCall::Memmove => "Memmove",
            LibCall::Memcmp => "Memcmp",
            LibCall::ElfTlsGetAddr => "ElfTlsGetAddr",
            LibCall::ElfTlsGetOffset => "ElfTlsGetOffset",
            LibCall::X86Pshufb => "X86Pshufb",
            LibCall::UdivI128 => "UdivI128",
            LibCall::SdivI128 => "SdivI128",
            LibCall::UremI128 => "UremI128",
            LibCall::SremI128 => "SremI128",
        }
    }
    pub fn parse(s: &str) -> Option<LibCall> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The conventional C symbol implementing this libcall.
    pub fn symbol(self) -> &'static str {
        match self {
            LibCall::Probestack => "__kiln_probestack",
            LibCall::CeilF32 => "ceilf",
            LibCall::CeilF64 => "ceil",
            LibCall::FloorF32 => "floorf",
            LibCall::FloorF64 => "floor",
            LibCall::TruncF32 => "truncf",
            LibCall::TruncF64 => "trunc",
            LibCall::NearestF32 => "nearbyintf",
            LibCall::NearestF64 => "nearbyint",
            LibCall::FmaF32 => "fmaf",
            LibCall::FmaF64 => "fma",
            LibCall::Memcpy => "memcpy",
            LibCall::Memset => "memset",
            LibCall::Memmove => "memmove",
            LibCall::Memcmp => "memcmp",
            LibCall::ElfTlsGetAddr => "__tls_get_addr",
            LibCall::ElfTlsGetOffset => "__tls_get_offset",
            LibCall::X86Pshufb => "__kiln_x86_pshufb",
            LibCall::UdivI128 => "__udivti3",
            LibCall::SdivI128 => "__divti3",
            LibCall::UremI128 => "__umodti3",
            LibCall::SremI128 => "__modti3",
        }
    }
}

/// Well-known symbols the linker provides.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum KnownSymbol {
    ElfGlobalOffsetTable,
    CoffTlsIndex,
}

/// The name of an external entity, as the stencil holds it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ExternalName {
    /// An index into `FunctionParameters`' name table: resolved at finalization.
    User(UserExternalNameRef),
    /// A test-case name (`%foo`), used by filetests.
    TestCase(TestcaseName),
    LibCall(LibCall),
    KnownSymbol(KnownSymbol),
}

/// An external function declaration: `fn0 = colocated u0:3 sig0`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ExtFuncData {
    pub name: ExternalName,
    pub signature: SigRef,
    /// Defined in the same module, so a near call reaches it.
    pub colocated: bool,
    pub patchable: bool,
}
