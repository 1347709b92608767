//! Compilation settings: the shared flags of `set` lines and the per-target
//! ISA flags of `target` lines.
//!
//! Both have a canonical byte encoding ([`Flags::key_bytes`],
//! [`IsaFlags::key_bytes`]) that goes into the stencil key, so two settings
//! that can produce different machine code never share a cache entry.

use std::fmt;

/// How hard to optimize.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum OptLevel {
    #[default]
    None,
    Speed,
    SpeedAndSize,
}

/// Test-only fault injection (`set test_fault=...`): planted code-generation
/// bugs that let the test suite prove it notices them. Never use it for
/// anything but tests of the tests; it changes the code Kiln emits, so it is
/// part of [`Flags::key_bytes`] like any other setting.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum TestFault {
    /// No fault (setting value `none`).
    #[default]
    Off,
    /// `unsupported_iadd`: the x86-64 lowering of `iadd` reports
    /// `CodegenError::Unsupported`, as if its rule were missing.
    UnsupportedIadd,
    /// `swap_icmp_operands`: the x86-64 lowering of an integer compare of
    /// 8 to 64 bits (`icmp`, also when fused into a branch or select)
    /// compares its operands the wrong way round: wrong code.
    SwapIcmpOperands,
}

impl TestFault {
    /// The setting value naming this fault.
    pub fn name(self) -> &'static str {
        match self {
            TestFault::Off => "none",
            TestFault::UnsupportedIadd => "unsupported_iadd",
            TestFault::SwapIcmpOperands => "swap_icmp_operands",
        }
    }
}

/// An error in a `set` or `target` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingError {
    UnknownSetting(String),
    BadValue {
        name: String,
        value: String,
        expected: &'static str,
    },
    UnknownTarget(String),
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingError::UnknownSetting(n) => write!(f, "unknown setting `{n}`"),
            SettingError::BadValue {
                name,
                value,
                expected,
            } => write!(f, "bad value `{value}` for `{name}`: expected {expected}"),
            SettingError::UnknownTarget(t) => write!(f, "unknown target `{t}`"),
        }
    }
}

impl std::error::Error for SettingError {}

/// `regalloc_algorithm`: regalloc2's backtracking allocator (Ion) or its
/// single-pass allocator (Fastalloc).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum RegallocAlgorithm {
    #[default]
    Backtracking,
    SinglePass,
}

/// `tls_model`. Kiln lowers no TLS access, so only `none` is implemented;
/// `isa::lookup` rejects the others.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum TlsModel {
    #[default]
    None,
    ElfGd,
    Macho,
    Coff,
}

/// `libcall_call_conv`: the convention of calls to libcalls. Kiln calls
/// them with System V (the ISA default on its targets); `isa::lookup`
/// rejects a convention it would not honour.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum LibcallCallConv {
    #[default]
    IsaDefault,
    Fast,
    Cold,
    SystemV,
    WindowsFastcall,
    AppleAarch64,
    Probestack,
}

impl TlsModel {
    pub fn name(self) -> &'static str {
        match self {
            TlsModel::None => "none",
            TlsModel::ElfGd => "elf_gd",
            TlsModel::Macho => "macho",
            TlsModel::Coff => "coff",
        }
    }
}

impl LibcallCallConv {
    pub fn name(self) -> &'static str {
        match self {
            LibcallCallConv::IsaDefault => "isa_default",
            LibcallCallConv::Fast => "fast",
            LibcallCallConv::Cold => "cold",
            LibcallCallConv::SystemV => "system_v",
            LibcallCallConv::WindowsFastcall => "windows_fastcall",
            LibcallCallConv::AppleAarch64 => "apple_aarch64",
            LibcallCallConv::Probestack => "probestack",
        }
    }
}

/// Shared settings, independent of the target. Which ones Kiln honours,
/// and how, is listed in `docs/settings.md`; a value Kiln does not
/// implement is rejected by `isa::lookup` with an error naming it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Flags {
    pub opt_level: OptLevel,
    pub enable_verifier: bool,
    pub preserve_frame_pointers: bool,
    pub is_pic: bool,
    /// Run regalloc2's checker on every allocation (tests turn it on).
    pub regalloc_checker: bool,
    pub enable_multi_ret_implicit_sret: bool,
    pub enable_llvm_abi_extensions: bool,
    pub enable_probestack: bool,
    pub probestack_inline: bool,
    pub probestack_size_log2: u8,
    pub enable_nan_canonicalization: bool,
    pub enable_pinned_reg: bool,
    pub unwind_info: bool,
    pub enable_alias_analysis: bool,
    pub enable_heap_access_spectre_mitigation: bool,
    pub enable_table_access_spectre_mitigation: bool,
    pub bb_padding_log2_minus_one: u8,
    pub log2_min_function_alignment: u8,
    pub regalloc_algorithm: RegallocAlgorithm,
    pub tls_model: TlsModel,
    pub libcall_call_conv: LibcallCallConv,
    /// Test-only planted bug (see [`TestFault`]).
    pub test_fault: TestFault,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            opt_level: OptLevel::None,
            enable_verifier: true,
            preserve_frame_pointers: false,
            is_pic: false,
            regalloc_checker: false,
            enable_multi_ret_implicit_sret: false,
            enable_llvm_abi_extensions: false,
            enable_probestack: false,
            probestack_inline: false,
            probestack_size_log2: 12,
            enable_nan_canonicalization: false,
            enable_pinned_reg: false,
            // As in Cranelift: every function carries its frame description.
            unwind_info: true,
            enable_alias_analysis: true,
            enable_heap_access_spectre_mitigation: true,
            enable_table_access_spectre_mitigation: true,
            bb_padding_log2_minus_one: 0,
            log2_min_function_alignment: 0,
            regalloc_algorithm: RegallocAlgorithm::Backtracking,
            tls_model: TlsModel::None,
            libcall_call_conv: LibcallCallConv::IsaDefault,
            test_fault: TestFault::Off,
        }
    }
}

fn parse_bool(name: &str, value: Option<&str>) -> Result<bool, SettingError> {
    match value {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(SettingError::BadValue {
            name: name.to_string(),
            value: v.to_string(),
            expected: "true or false",
        }),
    }
}

fn bad(name: &str, value: Option<&str>, expected: &'static str) -> SettingError {
    SettingError::BadValue {
        name: name.into(),
        value: value.unwrap_or("").into(),
        expected,
    }
}

/// The settings whose value (as set) Kiln does not implement, each with
/// why; `isa::lookup` rejects a configuration that has any.
pub fn unimplemented_settings(flags: &Flags) -> Vec<(String, &'static str)> {
    let mut v = Vec::new();
    let mut no = |on: bool, setting: String, why: &'static str| {
        if on {
            v.push((setting, why));
        }
    };
    no(
        flags.bb_padding_log2_minus_one > 24,
        format!(
            "bb_padding_log2_minus_one={}",
            flags.bb_padding_log2_minus_one
        ),
        "at most 24 (8 MiB of no-ops per block)",
    );
    no(
        flags.log2_min_function_alignment != 0,
        format!(
            "log2_min_function_alignment={}",
            flags.log2_min_function_alignment
        ),
        "functions are not aligned beyond their code's needs",
    );
    no(
        flags.tls_model != TlsModel::None,
        format!("tls_model={}", flags.tls_model.name()),
        "Kiln lowers no thread-local access",
    );
    no(
        !matches!(
            flags.libcall_call_conv,
            LibcallCallConv::IsaDefault | LibcallCallConv::SystemV | LibcallCallConv::Fast
        ),
        format!("libcall_call_conv={}", flags.libcall_call_conv.name()),
        "libcalls are called with System V",
    );
    v
}

fn parse_u8(name: &str, value: Option<&str>, max: u8) -> Result<u8, SettingError> {
    value
        .and_then(|v| v.parse::<u8>().ok())
        .filter(|v| *v <= max)
        .ok_or_else(|| SettingError::BadValue {
            name: name.to_string(),
            value: value.unwrap_or("").to_string(),
            expected: "a small integer",
        })
}

impl Flags {
    /// Applies one `set name[=value]` item.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), SettingError> {
        match name {
            "opt_level" => {
                self.opt_level = match value {
                    Some("none") => OptLevel::None,
                    Some("speed") => OptLevel::Speed,
                    Some("speed_and_size") => OptLevel::SpeedAndSize,
                    _ => {
                        return Err(SettingError::BadValue {
                            name: name.into(),
                            value: value.unwrap_or("").into(),
                            expected: "none, speed or speed_and_size",
                        })
                    }
                }
            }
            "enable_verifier" => self.enable_verifier = parse_bool(name, value)?,
            "preserve_frame_pointers" => self.preserve_frame_pointers = parse_bool(name, value)?,
            "is_pic" => self.is_pic = parse_bool(name, value)?,
            "regalloc_checker" => self.regalloc_checker = parse_bool(name, value)?,
            "enable_multi_ret_implicit_sret" => {
                self.enable_multi_ret_implicit_sret = parse_bool(name, value)?
            }
            "enable_llvm_abi_extensions" => {
                self.enable_llvm_abi_extensions = parse_bool(name, value)?
            }
            "enable_probestack" => self.enable_probestack = parse_bool(name, value)?,
            "probestack_strategy" => {
                self.probestack_inline = match value {
                    Some("inline") => true,
                    Some("outline") => false,
                    _ => {
                        return Err(SettingError::BadValue {
                            name: name.into(),
                            value: value.unwrap_or("").into(),
                            expected: "inline or outline",
                        })
                    }
                }
            }
            "probestack_size_log2" => self.probestack_size_log2 = parse_u8(name, value, 31)?,
            "enable_nan_canonicalization" => {
                self.enable_nan_canonicalization = parse_bool(name, value)?
            }
            "enable_pinned_reg" => self.enable_pinned_reg = parse_bool(name, value)?,
            "unwind_info" => self.unwind_info = parse_bool(name, value)?,
            "enable_alias_analysis" => self.enable_alias_analysis = parse_bool(name, value)?,
            "enable_heap_access_spectre_mitigation" => {
                self.enable_heap_access_spectre_mitigation = parse_bool(name, value)?
            }
            "enable_table_access_spectre_mitigation" => {
                self.enable_table_access_spectre_mitigation = parse_bool(name, value)?
            }
            // Any u8, as in Cranelift; the backends reject the values they
            // do not implement (`isa::lookup`).
            "bb_padding_log2_minus_one" => {
                self.bb_padding_log2_minus_one = parse_u8(name, value, u8::MAX)?
            }
            "log2_min_function_alignment" => {
                self.log2_min_function_alignment = parse_u8(name, value, 16)?
            }
            "test_fault" => {
                self.test_fault = match value {
                    Some("none") => TestFault::Off,
                    Some("unsupported_iadd") => TestFault::UnsupportedIadd,
                    Some("swap_icmp_operands") => TestFault::SwapIcmpOperands,
                    _ => {
                        return Err(SettingError::BadValue {
                            name: name.into(),
                            value: value.unwrap_or("").into(),
                            expected: "none, unsupported_iadd or swap_icmp_operands",
                        })
                    }
                }
            }
            // Settings that never change the code Kiln emits.
            "enable_incremental_compilation_cache_checks" | "machine_code_cfg_info" => {
                parse_bool(name, value)?;
            }
            "regalloc_algorithm" => {
                self.regalloc_algorithm = match value {
                    Some("backtracking") => RegallocAlgorithm::Backtracking,
                    Some("single_pass") => RegallocAlgorithm::SinglePass,
                    _ => return Err(bad(name, value, "backtracking or single_pass")),
                }
            }
            "tls_model" => {
                self.tls_model = match value {
                    Some("none") => TlsModel::None,
                    Some("elf_gd") => TlsModel::ElfGd,
                    Some("macho") => TlsModel::Macho,
                    Some("coff") => TlsModel::Coff,
                    _ => return Err(bad(name, value, "none, elf_gd, macho or coff")),
                }
            }
            "libcall_call_conv" => {
                self.libcall_call_conv = match value {
                    Some("isa_default") => LibcallCallConv::IsaDefault,
                    Some("fast") => LibcallCallConv::Fast,
                    Some("cold") => LibcallCallConv::Cold,
                    Some("system_v") => LibcallCallConv::SystemV,
                    Some("windows_fastcall") => LibcallCallConv::WindowsFastcall,
                    Some("apple_aarch64") => LibcallCallConv::AppleAarch64,
                    Some("probestack") => LibcallCallConv::Probestack,
                    _ => {
                        return Err(bad(
                            name,
                            value,
                            "isa_default, fast, cold, system_v, windows_fastcall, apple_aarch64 or probestack",
                        ))
                    }
                }
            }
            _ => return Err(SettingError::UnknownSetting(name.to_string())),
        }
        Ok(())
    }

    /// The canonical encoding of every setting that can change machine code.
    pub fn key_bytes(&self) -> Vec<u8> {
        vec![
            3, // encoding version
            self.opt_level as u8,
            self.preserve_frame_pointers as u8,
            self.is_pic as u8,
            self.enable_multi_ret_implicit_sret as u8,
            self.enable_llvm_abi_extensions as u8,
            self.enable_probestack as u8,
            self.probestack_inline as u8,
            self.probestack_size_log2,
            self.enable_nan_canonicalization as u8,
            self.enable_pinned_reg as u8,
            self.unwind_info as u8,
            self.enable_alias_analysis as u8,
            self.enable_heap_access_spectre_mitigation as u8,
            self.enable_table_access_spectre_mitigation as u8,
            self.bb_padding_log2_minus_one,
            self.log2_min_function_alignment,
            self.test_fault as u8,
            self.regalloc_algorithm as u8,
            self.tls_model as u8,
            self.libcall_call_conv as u8,
        ]
    }
}

/// Target architectures Kiln knows.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
    pub fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }
    pub fn parse(name: &str) -> Option<Arch> {
        match name {
            "x86_64" | "x64" => Some(Arch::X86_64),
            "aarch64" | "arm64" => Some(Arch::Aarch64),
            _ => None,
        }
    }
    /// The machine this process runs on, if Kiln targets it.
    pub fn host() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }
}

/// Per-target instruction-set flags, as a set of named booleans.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct IsaFlags {
    arch: Arch,
    bits: u64,
}

/// The flag names of each target, in bit order. A flag's bit is its index.
const X86_FLAGS: &[&str] = &[
    "has_sse3",
    "has_ssse3",
    "has_sse41",
    "has_sse42",
    "has_popcnt",
    "has_avx",
    "has_avx2",
    "has_fma",
    "has_bmi1",
    "has_bmi2",
    "has_lzcnt",
    "has_avx512bitalg",
    "has_avx512dq",
    "has_avx512vl",
    "has_avx512vbmi",
    "has_avx512f",
    "has_cmpxchg16b",
    // Flags that only permit instructions Kiln never emits (VNNI dot
    // products): honoured trivially, the code is the same either way.
    "has_avx_vnni",
    "has_avx512vnni",
];

const AARCH64_FLAGS: &[&str] = &[
    "has_lse",
    "has_pauth",
    "sign_return_address",
    "sign_return_address_all",
    "sign_return_address_with_bkey",
    "use_bti",
    "has_fp16",
    "has_dotprod",
    "has_i8mm",
];

/// Presets: a name that turns on several flags.
const X86_PRESETS: &[(&str, &[&str])] = &[
    ("sse3", &["has_sse3"]),
    ("ssse3", &["has_sse3", "has_ssse3"]),
    ("sse41", &["has_sse3", "has_ssse3", "has_sse41"]),
    (
        "sse42",
        &[
            "has_sse3",
            "has_ssse3",
            "has_sse41",
            "has_sse42",
            "has_popcnt",
        ],
    ),
    (
        "nehalem",
        &[
            "has_sse3",
            "has_ssse3",
            "has_sse41",
            "has_sse42",
            "has_popcnt",
        ],
    ),
    (
        "haswell",
        &[
            "has_sse3",
            "has_ssse3",
            "has_sse41",
            "has_sse42",
            "has_popcnt",
            "has_avx",
            "has_avx2",
            "has_fma",
            "has_bmi1",
            "has_bmi2",
            "has_lzcnt",
        ],
    ),
    (
        "skylake",
        &[
            "has_sse3",
            "has_ssse3",
            "has_sse41",
            "has_sse42",
            "has_popcnt",
            "has_avx",
            "has_avx2",
            "has_fma",
            "has_bmi1",
            "has_bmi2",
            "has_lzcnt",
        ],
    ),
];

impl IsaFlags {
    /// The baseline of a target (x86-64: SSE2 only; aarch64: v8.0).
    pub fn baseline(arch: Arch) -> Self {
        let mut f = IsaFlags { arch, bits: 0 };
        if arch == Arch::X86_64 {
            f.bits |= 1
                << X86_FLAGS
                    .iter()
                    .position(|n| *n == "has_cmpxchg16b")
                    .unwrap_or(0);
        }
        f
    }

    fn names(&self) -> &'static [&'static str] {
        match self.arch {
            Arch::X86_64 => X86_FLAGS,
            Arch::Aarch64 => AARCH64_FLAGS,
        }
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Whether a named flag is on (false for names the target lacks).
    pub fn has(&self, name: &str) -> bool {
        self.names()
            .iter()
            .position(|n| *n == name)
            .is_some_and(|i| self.bits & (1 << i) != 0)
    }

    /// Applies one item of a `target` line: `has_avx`, `has_avx=false`, or a
    /// preset such as `sse42` or `skylake`.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), SettingError> {
        let on = parse_bool(name, value)?;
        if let Some(i) = self.names().iter().position(|n| *n == name) {
            if on {
                self.bits |= 1 << i;
            } else {
                self.bits &= !(1 << i);
            }
            return Ok(());
        }
        if self.arch == Arch::X86_64 {
            if let Some((_, flags)) = X86_PRESETS.iter().find(|(p, _)| *p == name) {
                for f in *flags {
                    self.set(f, value)?;
                }
                return Ok(());
            }
        }
        Err(SettingError::UnknownSetting(name.to_string()))
    }

    /// Flags that are on here but not in `available` (what a host lacks).
    pub fn missing_from(&self, available: &IsaFlags) -> Vec<&'static str> {
        self.names()
            .iter()
            .enumerate()
            .filter(|(i, _)| self.bits & (1 << i) != 0 && available.bits & (1 << i) == 0)
            .map(|(_, n)| *n)
            .collect()
    }

    /// The flags of the machine this process runs on.
    pub fn host() -> Option<Self> {
        let arch = Arch::host()?;
        #[allow(unused_mut)]
        let mut f = IsaFlags::baseline(arch);
        #[cfg(target_arch = "x86_64")]
        {
            macro_rules! detect {
                ($($feat:tt => $flag:expr),*) => {
                    $(if std::arch::is_x86_feature_detected!($feat) {
                        let _ = f.set($flag, None);
                    })*
                };
            }
            detect!(
                "sse3" => "has_sse3", "ssse3" => "has_ssse3", "sse4.1" => "has_sse41",
                "sse4.2" => "has_sse42", "popcnt" => "has_popcnt", "avx" => "has_avx",
                "avx2" => "has_avx2", "fma" => "has_fma", "bmi1" => "has_bmi1",
                "bmi2" => "has_bmi2", "lzcnt" => "has_lzcnt", "avx512f" => "has_avx512f",
                "avx512vl" => "has_avx512vl", "avx512dq" => "has_avx512dq",
                "avx512vbmi" => "has_avx512vbmi", "avx512bitalg" => "has_avx512bitalg",
                "avxvnni" => "has_avx_vnni", "avx512vnni" => "has_avx512vnni"
            );
        }
        Some(f)
    }

    /// The canonical encoding for the stencil key.
    pub fn key_bytes(&self) -> Vec<u8> {
        let mut v = vec![1, self.arch as u8];
        v.extend_from_slice(&self.bits.to_le_bytes());
        v
    }
}

impl fmt::Display for IsaFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arch.name())?;
        for (i, n) in self.names().iter().enumerate() {
            if self.bits & (1 << i) != 0 {
                write!(f, " {n}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each valid value Kiln does not implement is rejected when the ISA
    /// is built, naming the setting; the implemented values of the same
    /// settings build an ISA.
    #[test]
    fn unimplemented_values_are_rejected_by_name() {
        assert!(unimplemented_settings(&Flags::default()).is_empty());
        for (name, value) in [
            ("tls_model", "elf_gd"),
            ("tls_model", "coff"),
            ("libcall_call_conv", "windows_fastcall"),
            ("libcall_call_conv", "cold"),
            ("bb_padding_log2_minus_one", "25"),
            ("log2_min_function_alignment", "5"),
        ] {
            let mut f = Flags::default();
            f.set(name, Some(value)).unwrap();
            let e = crate::isa::lookup(f, IsaFlags::baseline(Arch::X86_64))
                .err()
                .unwrap_or_else(|| panic!("{name}={value} accepted"));
            let text = e.to_string();
            assert!(
                matches!(e, crate::result::CodegenError::Unsupported { .. }),
                "{text}"
            );
            assert!(text.contains(&format!("{name}={value}")), "{text}");
        }
        for (name, value) in [
            ("is_pic", "false"),
            ("is_pic", "true"),
            ("enable_nan_canonicalization", "true"),
            ("enable_pinned_reg", "true"),
            ("unwind_info", "false"),
            ("unwind_info", "true"),
            ("tls_model", "none"),
            ("libcall_call_conv", "isa_default"),
            ("libcall_call_conv", "system_v"),
            ("regalloc_algorithm", "single_pass"),
            ("regalloc_algorithm", "backtracking"),
        ] {
            let mut f = Flags::default();
            f.set(name, Some(value)).unwrap();
            assert!(
                crate::isa::lookup(f, IsaFlags::baseline(Arch::X86_64)).is_ok(),
                "{name}={value}"
            );
        }
        // Outside the domain: a bad value naming the setting.
        for (name, value) in [
            ("regalloc_algorithm", "graph_coloring"),
            ("tls_model", "initial_exec"),
            ("libcall_call_conv", "stdcall"),
        ] {
            let e = Flags::default().set(name, Some(value)).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn new_settings_change_the_key() {
        let mut keys = vec![Flags::default().key_bytes()];
        for (name, value) in [
            ("regalloc_algorithm", "single_pass"),
            ("tls_model", "elf_gd"),
            ("libcall_call_conv", "system_v"),
        ] {
            let mut f = Flags::default();
            f.set(name, Some(value)).unwrap();
            keys.push(f.key_bytes());
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 4);
    }

    #[test]
    fn flags_parse_and_reject() {
        let mut f = Flags::default();
        f.set("opt_level", Some("speed")).unwrap();
        f.set("preserve_frame_pointers", Some("true")).unwrap();
        f.set("enable_probestack", Some("false")).unwrap();
        assert_eq!(f.opt_level, OptLevel::Speed);
        assert!(f.preserve_frame_pointers);
        assert!(f.set("no_such_flag", None).is_err());
        assert!(f.set("opt_level", Some("fast")).is_err());
        assert_ne!(f.key_bytes(), Flags::default().key_bytes());
    }

    #[test]
    fn test_fault_parses_and_changes_the_key() {
        let mut f = Flags::default();
        assert_eq!(f.test_fault, TestFault::Off);
        let mut keys = vec![f.key_bytes()];
        for v in ["unsupported_iadd", "swap_icmp_operands"] {
            f.set("test_fault", Some(v)).unwrap();
            assert_eq!(f.test_fault.name(), v);
            keys.push(f.key_bytes());
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 3, "every fault has its own key bytes");
        f.set("test_fault", Some("none")).unwrap();
        assert_eq!(f.key_bytes(), Flags::default().key_bytes());
        let e = f.set("test_fault", Some("everything")).unwrap_err();
        assert!(e.to_string().contains("test_fault"), "{e}");
    }

    #[test]
    fn isa_presets() {
        let mut x = IsaFlags::baseline(Arch::X86_64);
        assert!(!x.has("has_sse41"));
        x.set("sse42", None).unwrap();
        assert!(x.has("has_sse41") && x.has("has_popcnt"));
        x.set("has_avx", Some("false")).unwrap();
        assert!(!x.has("has_avx"));
        assert!(x.set("has_lse", None).is_err());
        let base = IsaFlags::baseline(Arch::X86_64);
        assert!(x.missing_from(&base).contains(&"has_sse41"));
        let mut a = IsaFlags::baseline(Arch::Aarch64);
        a.set("has_lse", None).unwrap();
        assert_ne!(a.key_bytes(), IsaFlags::baseline(Arch::Aarch64).key_bytes());
    }
}
