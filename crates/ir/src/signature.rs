//! Function signatures: calling conventions, parameters and returns.

use crate::types::Type;
use std::fmt;

/// Calling conventions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum CallConv {
    /// The fastest convention the target offers (System V-like on x86-64).
    #[default]
    Fast,
    /// Supports tail calls; callee pops stack arguments.
    Tail,
    SystemV,
    WindowsFastcall,
    AppleAarch64,
    Probestack,
    Winch,
    PreserveAll,
}

impl CallConv {
    pub const ALL: [CallConv; 8] = [
        CallConv::Fast,
        CallConv::Tail,
        CallConv::SystemV,
        CallConv::WindowsFastcall,
        CallConv::AppleAarch64,
        CallConv::Probestack,
        CallConv::Winch,
        CallConv::PreserveAll,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            CallConv::Fast => "fast",
            CallConv::Tail => "tail",
            CallConv::SystemV => "system_v",
            CallConv::WindowsFastcall => "windows_fastcall",
            CallConv::AppleAarch64 => "apple_aarch64",
            CallConv::Probestack => "probestack",
            CallConv::Winch => "winch",
            CallConv::PreserveAll => "preserve_all",
        }
    }
    pub fn parse(s: &str) -> Option<CallConv> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for CallConv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a narrow integer argument is extended to register width.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum ArgumentExtension {
    #[default]
    None,
    Uext,
    Sext,
}

/// The special role of a parameter.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum ArgumentPurpose {
    #[default]
    Normal,
    /// `sarg(N)`: a struct of N bytes passed by value on the stack.
    StructArgument(u32),
    /// `sret`: the pointer to the return area.
    StructReturn,
    /// `vmctx`: the VM context pointer.
    VMContext,
    /// `stack_limit`.
    StackLimit,
}

/// One parameter or return value of a signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AbiParam {
    pub value_type: Type,
    pub extension: ArgumentExtension,
    pub purpose: ArgumentPurpose,
}

impl AbiParam {
    pub fn new(value_type: Type) -> Self {
        AbiParam {
            value_type,
            extension: ArgumentExtension::None,
            purpose: ArgumentPurpose::Normal,
        }
    }
    pub fn special(value_type: Type, purpose: ArgumentPurpose) -> Self {
        AbiParam {
            purpose,
            ..AbiParam::new(value_type)
        }
    }
    pub fn uext(self) -> Self {
        AbiParam {
            extension: ArgumentExtension::Uext,
            ..self
        }
    }
    pub fn sext(self) -> Self {
        AbiParam {
            extension: ArgumentExtension::Sext,
            ..self
        }
    }
}

/// A function signature.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Signature {
    pub params: Vec<AbiParam>,
    pub returns: Vec<AbiParam>,
    pub call_conv: CallConv,
}

impl Signature {
    pub fn new(call_conv: CallConv) -> Self {
        Signature {
            params: Vec::new(),
            returns: Vec::new(),
            call_conv,
        }
    }
    /// The index of the parameter with the given purpose, if any.
    pub fn special_param_index(&self, purpose: ArgumentPurpose) -> Option<usize> {
        self.params.iter().rposition(|p| p.purpose == purpose)
    }
}
