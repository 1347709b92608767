//! Source locations: absolute ones (`SourceLoc`, in `FunctionParameters` and
//! final code) and ones relative to a function's base (`RelSourceLoc`, in the
//! stencil and in stencil code), so that moving a function keeps its key.

use std::fmt;

/// An absolute source location chosen by the frontend; `!0` means "none".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceLoc(u32);

impl SourceLoc {
    pub const fn new(bits: u32) -> Self {
        SourceLoc(bits)
    }
    pub const fn is_default(self) -> bool {
        self.0 == u32::MAX
    }
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl Default for SourceLoc {
    fn default() -> Self {
        SourceLoc(u32::MAX)
    }
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_default() {
            write!(f, "@-")
        } else {
            write!(f, "@{:04x}", self.0)
        }
    }
}

impl fmt::Debug for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A source location relative to the function's base; `!0` means "none".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelSourceLoc(u32);

impl RelSourceLoc {
    pub const fn from_bits(bits: u32) -> Self {
        RelSourceLoc(bits)
    }
    pub const fn bits(self) -> u32 {
        self.0
    }
    pub const fn is_default(self) -> bool {
        self.0 == u32::MAX
    }
    /// The offset of `loc` from `base` (wrapping); default if either is default.
    pub fn from_base_offset(base: SourceLoc, loc: SourceLoc) -> Self {
        if base.is_default() || loc.is_default() {
            Self::default()
        } else {
            RelSourceLoc(loc.bits().wrapping_sub(base.bits()))
        }
    }
    /// The absolute location for `base` (wrapping); default if either is default.
    pub fn expand(self, base: SourceLoc) -> SourceLoc {
        if self.is_default() || base.is_default() {
            SourceLoc::default()
        } else {
            SourceLoc::new(self.0.wrapping_add(base.bits()))
        }
    }
}

impl Default for RelSourceLoc {
    fn default() -> Self {
        RelSourceLoc(u32::MAX)
    }
}

impl fmt::Display for RelSourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_default() {
            write!(f, "@-")
        } else {
            write!(f, "@+{:04x}", self.0)
        }
    }
}

impl fmt::Debug for RelSourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
