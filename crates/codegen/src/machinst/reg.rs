//! Registers as seen by machine instructions (minimal local version).
//!
//! NOTE: the `x64asm` branch owns the real version of this file; this copy
//! exists only so that the VCode layer compiles on its own, and keeps to the
//! agreed API: a [`Reg`] is a regalloc2 [`VReg`] whose indices below
//! [`PINNED_VREGS`] denote physical registers (`index == preg.index()`).
//! The only addition is `From<VReg> for Reg`, which the VCode builder uses to
//! hand out fresh virtual registers.

use regalloc2::{PReg, RegClass, VReg};

/// Virtual register indices below this bound are "pinned": each one denotes
/// the physical register with the same `PReg::index()`.
pub const PINNED_VREGS: usize = 192;

/// A register operand: either a physical register (pinned vreg) or a
/// virtual register awaiting allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(VReg);

impl Reg {
    /// The physical register this denotes, if it is one.
    #[inline]
    pub fn to_real_reg(self) -> Option<PReg> {
        if self.0.vreg() < PINNED_VREGS {
            Some(PReg::from_index(self.0.vreg()))
        } else {
            None
        }
    }

    /// The virtual register this denotes, if it is not a physical one.
    #[inline]
    pub fn to_virtual_reg(self) -> Option<VReg> {
        if self.0.vreg() >= PINNED_VREGS {
            Some(self.0)
        } else {
            None
        }
    }

    /// The register class.
    #[inline]
    pub fn class(self) -> RegClass {
        self.0.class()
    }
}

impl From<PReg> for Reg {
    #[inline]
    fn from(preg: PReg) -> Self {
        Reg(VReg::new(preg.index(), preg.class()))
    }
}

impl From<VReg> for Reg {
    #[inline]
    fn from(vreg: VReg) -> Self {
        Reg(vreg)
    }
}

/// A register (or other value) that an instruction writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Writable<T> {
    reg: T,
}

impl<T: Copy> Writable<T> {
    /// Marks `reg` as written.
    #[inline]
    pub fn from_reg(reg: T) -> Self {
        Writable { reg }
    }

    /// The underlying register.
    #[inline]
    pub fn to_reg(self) -> T {
        self.reg
    }
}
