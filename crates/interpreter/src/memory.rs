//! Interpreter-owned memory: regions addressed by tagged pointers.
//!
//! A pointer is an integer the program can do arithmetic on. For 64-bit
//! pointers the high 32 bits are a region key and the low 32 bits the offset
//! into the region; for 32-bit pointers the key takes the high 8 bits and
//! the offset the low 24. Key 0 is never a region, so null and small
//! integers are never valid addresses. Keys are handed out in increasing
//! order and never reused, so a pointer into a dead frame's stack slot
//! cannot alias a live slot: using it traps.
//!
//! Function addresses (`func_addr`) are keys at the top of the key space
//! with offset 0; they name functions and cannot be loaded from.
//!
//! Every access is bounds-checked; an access outside a live region traps
//! (with the access's trap code, `heap_oob` by default), never reads host
//! memory.

use crate::InterpError;
use kiln_ir::{Endianness, TrapCode, Type};

/// Keys at or above this are function addresses (64-bit pointers).
pub const FUNC_KEY_BASE: u32 = 0xF000_0000;
/// Keys at or above this are frame/stack pointers (`get_frame_pointer`).
pub const FRAME_KEY_BASE: u32 = 0xE000_0000;
/// 32-bit pointers: function keys.
const FUNC_KEY_BASE32: u32 = 0xF0;
const FRAME_KEY_BASE32: u32 = 0xE0;

/// The total number of bytes all live regions may hold.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;

#[derive(Debug)]
struct Region {
    key: u32,
    bytes: Vec<u8>,
}

/// What a pointer designates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Byte `offset` of the region with this key.
    Data { key: u32, offset: u64 },
    /// A function, by index in the interpreter's function set.
    Func(u32),
    /// Inside the machine frame (`get_frame_pointer`, `get_stack_pointer`,
    /// `get_return_address`), which the interpreter does not model.
    Frame,
    /// Anything else (null, plain integers, frame pointers).
    Invalid,
}

#[derive(Debug)]
pub struct Memory {
    /// Live regions, in increasing key order (frames are LIFO).
    regions: Vec<Region>,
    next_key: u32,
    live_bytes: usize,
    limit: usize,
}

impl Memory {
    pub fn new(limit: usize) -> Self {
        Memory {
            regions: Vec::new(),
            next_key: 1,
            live_bytes: 0,
            limit,
        }
    }

    /// Frees everything. Keys restart: no pointer survives a top-level
    /// call, and 32-bit pointers can only name the first keys.
    pub fn clear(&mut self) {
        self.regions.clear();
        self.live_bytes = 0;
        self.next_key = 1;
    }

    /// The number of live regions (a frame records it to free its own on
    /// return).
    pub fn mark(&self) -> usize {
        self.regions.len()
    }

    /// Frees every region allocated since `mark`.
    pub fn release(&mut self, mark: usize) {
        for r in self.regions.drain(mark.min(self.regions.len())..) {
            self.live_bytes -= r.bytes.len();
        }
    }

    /// Allocates a zeroed region; `Err(StackOverflow)` beyond the limit.
    pub fn alloc(&mut self, size: u64) -> Result<u32, InterpError> {
        let size = usize::try_from(size).map_err(|_| InterpError::StackOverflow)?;
        if self.live_bytes.saturating_add(size) > self.limit {
            return Err(InterpError::StackOverflow);
        }
        if self.next_key >= FRAME_KEY_BASE {
            return Err(InterpError::Unsupported(
                "more stack-slot regions than pointers can name".into(),
            ));
        }
        let key = self.next_key;
        self.next_key += 1;
        self.live_bytes += size;
        self.regions.push(Region {
            key,
            bytes: vec![0; size],
        });
        Ok(key)
    }

    fn region_mut(&mut self, key: u32) -> Option<&mut Region> {
        let i = self.regions.binary_search_by_key(&key, |r| r.key).ok()?;
        self.regions.get_mut(i)
    }

    fn region(&self, key: u32) -> Option<&Region> {
        let i = self.regions.binary_search_by_key(&key, |r| r.key).ok()?;
        self.regions.get(i)
    }

    /// Builds a pointer of type `ptr_ty` to byte `offset` of region `key`.
    /// `offset` may be negative: the pointer is `base + offset` with
    /// wrapping, exactly as an `iadd` would compute it.
    pub fn make_pointer(key: u32, offset: i64, ptr_ty: Type) -> Result<u128, InterpError> {
        if ptr_ty.bits() == 32 {
            if key >= FRAME_KEY_BASE32 {
                return Err(InterpError::Unsupported(
                    "32-bit pointer to a region the 32-bit encoding cannot name".into(),
                ));
            }
            let base = key << 24;
            Ok(base.wrapping_add(offset as u32) as u128)
        } else {
            let base = (key as u64) << 32;
            Ok(base.wrapping_add(offset as u64) as u128)
        }
    }

    pub fn func_pointer(index: u32, ptr_ty: Type) -> Result<u128, InterpError> {
        if ptr_ty.bits() == 32 {
            if index >= 0x10 {
                return Err(InterpError::Unsupported(
                    "32-bit function pointers beyond 16 functions".into(),
                ));
            }
            Ok(((FUNC_KEY_BASE32 + index) as u128) << 24)
        } else {
            Ok(((FUNC_KEY_BASE as u128) + index as u128) << 32)
        }
    }

    pub fn frame_pointer(depth: u32, ptr_ty: Type) -> u128 {
        if ptr_ty.bits() == 32 {
            ((FRAME_KEY_BASE32 + (depth & 0xf)) as u128) << 24
        } else {
            ((FRAME_KEY_BASE as u128) + (depth as u128 & 0xfff_ffff)) << 32
        }
    }

    /// Decodes an address of `bits` width.
    pub fn decode(addr: u128, bits: u32) -> Target {
        let (key, offset) = if bits == 32 {
            let a = addr as u32;
            let key = a >> 24;
            let offset = (a & 0xff_ffff) as u64;
            if key >= FUNC_KEY_BASE32 {
                return if offset == 0 {
                    Target::Func(key - FUNC_KEY_BASE32)
                } else {
                    Target::Invalid
                };
            }
            if key >= FRAME_KEY_BASE32 {
                return Target::Frame;
            }
            if key == 0 {
                return Target::Invalid;
            }
            return Target::Data { key, offset };
        } else {
            let a = addr as u64;
            ((a >> 32) as u32, a & 0xffff_ffff)
        };
        if key >= FUNC_KEY_BASE {
            return if offset == 0 {
                Target::Func(key - FUNC_KEY_BASE)
            } else {
                Target::Invalid
            };
        }
        if key >= FRAME_KEY_BASE {
            return Target::Frame;
        }
        if key == 0 {
            return Target::Invalid;
        }
        Target::Data { key, offset }
    }

    fn range(
        &self,
        addr: u128,
        addr_bits: u32,
        size: u64,
        code: TrapCode,
    ) -> Result<(u32, usize, usize), InterpError> {
        match Self::decode(addr, addr_bits) {
            Target::Data { key, offset } => {
                let r = self.region(key).ok_or(InterpError::Trap(code))?;
                let end = offset.checked_add(size).ok_or(InterpError::Trap(code))?;
                if end > r.bytes.len() as u64 {
                    return Err(InterpError::Trap(code));
                }
                Ok((key, offset as usize, end as usize))
            }
            Target::Frame => Err(InterpError::Unsupported(
                "memory accesses through frame, stack or return-address pointers".into(),
            )),
            _ => Err(InterpError::Trap(code)),
        }
    }

    /// Reads `size` (<= 16) bytes as an unsigned integer in `endian` order.
    pub fn read(
        &self,
        addr: u128,
        addr_bits: u32,
        size: u32,
        endian: Endianness,
        code: TrapCode,
    ) -> Result<u128, InterpError> {
        let (key, start, end) = self.range(addr, addr_bits, size as u64, code)?;
        let r = self.region(key).ok_or(InterpError::Trap(code))?;
        let bytes = &r.bytes[start..end];
        let mut v = 0u128;
        match endian {
            Endianness::Little => {
                for &b in bytes.iter().rev() {
                    v = (v << 8) | b as u128;
                }
            }
            Endianness::Big => {
                for &b in bytes {
                    v = (v << 8) | b as u128;
                }
            }
        }
        Ok(v)
    }

    /// Writes the low `size` (<= 16) bytes of `value` in `endian` order.
    pub fn write(
        &mut self,
        addr: u128,
        addr_bits: u32,
        size: u32,
        value: u128,
        endian: Endianness,
        code: TrapCode,
    ) -> Result<(), InterpError> {
        let (key, start, end) = self.range(addr, addr_bits, size as u64, code)?;
        let r = self.region_mut(key).ok_or(InterpError::Trap(code))?;
        let bytes = &mut r.bytes[start..end];
        let n = bytes.len();
        for (i, b) in bytes.iter_mut().enumerate() {
            let shift = match endian {
                Endianness::Little => i,
                Endianness::Big => n - 1 - i,
            } * 8;
            *b = (value >> shift) as u8;
        }
        Ok(())
    }
}
