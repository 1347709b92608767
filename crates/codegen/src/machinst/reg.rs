//! Registers as seen by machine instructions: one `Reg` type that is either a
//! virtual register (before allocation) or a physical register.
//!
//! Representation (same trick as Cranelift): a `Reg` wraps a
//! `regalloc2::VReg`. VReg indices below [`PINNED_VREGS`] are *pinned*: the
//! VReg with index `i` denotes the physical register `PReg::from_index(i)`.
//! Real virtual registers handed out by the lowering must therefore start at
//! index `PINNED_VREGS`. This lets an instruction name a physical register
//! (e.g. the stack pointer in an address, or a fixed register after
//! allocation) with the
//! same field type it uses for virtual registers, and lets the allocator
//! adapter rewrite a virtual `Reg` in place into a physical one.

use regalloc2::{PReg, RegClass, VReg};
use std::fmt;

/// Number of VReg indices reserved for physical registers: every
/// `PReg::index()` (class in bits 6..8, hw encoding in bits 0..6) of the three
/// register classes is below this bound.
pub const PINNED_VREGS: usize = 192;

/// A register operand: virtual (index >= `PINNED_VREGS`) or physical.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reg(VReg);

impl Reg {
    /// Wraps a virtual register. A `VReg` whose index is below
    /// `PINNED_VREGS` denotes the physical register with that index.
    pub const fn from_vreg(v: VReg) -> Reg {
        Reg(v)
    }

    /// The underlying `VReg` (for a physical register, the pinned VReg).
    pub const fn to_vreg(self) -> VReg {
        self.0
    }

    /// The physical register, if this is one.
    pub fn to_real_reg(self) -> Option<PReg> {
        if self.0.vreg() < PINNED_VREGS {
            Some(PReg::from_index(self.0.vreg()))
        } else {
            None
        }
    }

    /// The virtual register, if this is one.
    pub fn to_virtual_reg(self) -> Option<VReg> {
        if self.is_virtual() {
            Some(self.0)
        } else {
            None
        }
    }

    pub fn is_real(self) -> bool {
        self.0.vreg() < PINNED_VREGS
    }

    pub fn is_virtual(self) -> bool {
        !self.is_real()
    }

    /// The register class.
    pub fn class(self) -> RegClass {
        self.0.class()
    }
}

impl From<PReg> for Reg {
    fn from(p: PReg) -> Reg {
        Reg(VReg::new(p.index(), p.class()))
    }
}

impl From<VReg> for Reg {
    fn from(v: VReg) -> Reg {
        Reg(v)
    }
}

impl fmt::Debug for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_real_reg() {
            Some(p) => write!(f, "{p}"),
            None => write!(f, "%v{}{}", self.0.vreg(), class_suffix(self.class())),
        }
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

fn class_suffix(c: RegClass) -> &'static str {
    match c {
        RegClass::Int => "i",
        RegClass::Float => "f",
        RegClass::Vector => "v",
    }
}

/// A register that an instruction writes (a def). The wrapper only exists so
/// that constructor signatures say which operands are outputs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Writable<T> {
    reg: T,
}

impl<T: Copy> Writable<T> {
    /// Marks `reg` as written. Use only where the register really is a def.
    pub const fn from_reg(reg: T) -> Self {
        Writable { reg }
    }
    pub fn to_reg(self) -> T {
        self.reg
    }
    /// Mutable access to the inner register (for the allocator's rewrite).
    pub fn reg_mut(&mut self) -> &mut T {
        &mut self.reg
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Writable<U> {
        Writable { reg: f(self.reg) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_round_trip() {
        for class in [RegClass::Int, RegClass::Float, RegClass::Vector] {
            for hw in 0..64 {
                let p = PReg::new(hw, class);
                let r = Reg::from(p);
                assert_eq!(r.to_real_reg(), Some(p));
                assert_eq!(r.to_virtual_reg(), None);
                assert_eq!(r.class(), class);
            }
        }
        let v = Reg::from(VReg::new(PINNED_VREGS, RegClass::Float));
        assert!(v.is_virtual());
        assert_eq!(v.to_real_reg(), None);
        assert_eq!(format!("{v:?}"), "%v192f");
    }
}
