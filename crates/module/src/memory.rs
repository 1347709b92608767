//! W^X executable memory.

use std::fmt;

/// An error from the operating system while mapping code.
#[derive(Debug)]
pub struct MemoryError {
    /// The call that failed (`mmap`, `mprotect`).
    pub op: &'static str,
    /// The operating system's error.
    pub source: std::io::Error,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.op, self.source)
    }
}

impl std::error::Error for MemoryError {}

/// A private anonymous mapping holding code; read+execute once sealed.
pub struct ExecutableMemory {
    ptr: *mut u8,
    len: usize,
    sealed: bool,
}

// SAFETY: the mapping is owned exclusively by this value; after `seal` Rust
// code never writes to it (a writable data part left by `seal_regions` is
// written only by JIT code, through raw pointers the embedder was handed),
// so sharing `&ExecutableMemory` across threads is sound, and moving it to
// another thread moves the sole owner.
unsafe impl Send for ExecutableMemory {}
// SAFETY: see above; no method mutates through `&self`.
unsafe impl Sync for ExecutableMemory {}

/// The host's page size (4096 if it cannot be read).
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n <= 0 {
        4096
    } else {
        n as usize
    }
}

impl ExecutableMemory {
    /// Maps at least `len` bytes, zero-filled and writable.
    pub fn new(len: usize) -> Result<Self, MemoryError> {
        let page = page_size();
        let len = len.max(1).div_ceil(page) * page;
        // SAFETY: an anonymous private mapping with a null hint has no
        // preconditions; the result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(MemoryError {
                op: "mmap",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(ExecutableMemory {
            ptr: ptr as *mut u8,
            len,
            sealed: false,
        })
    }

    /// The address of the mapping.
    pub fn base(&self) -> *const u8 {
        self.ptr
    }

    /// The mapping's length in bytes (whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping has no bytes (never, in practice).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The writable contents; `None` once sealed.
    pub fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        if self.sealed {
            return None;
        }
        // SAFETY: `ptr..ptr+len` is a live read-write mapping owned by self
        // (not yet sealed), and `&mut self` guarantees no other borrow.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) })
    }

    /// Flips the mapping to read+execute. Idempotent.
    pub fn seal(&mut self) -> Result<(), MemoryError> {
        if self.sealed {
            return Ok(());
        }
        // SAFETY: `ptr..ptr+len` is exactly the mapping created in `new`.
        let r = unsafe {
            libc::mprotect(
                self.ptr as *mut libc::c_void,
                self.len,
                libc::PROT_READ | libc::PROT_EXEC,
            )
        };
        if r != 0 {
            return Err(MemoryError {
                op: "mprotect",
                source: std::io::Error::last_os_error(),
            });
        }
        self.sealed = true;
        Ok(())
    }

    /// Seals the mapping in three page-aligned parts: `[0, exec_len)`
    /// read+execute (code), `[exec_len, exec_len + readonly_len)` read-only
    /// (constant data), the rest read+write (writable data, never
    /// executable). `exec_len` and `readonly_len` must be multiples of the
    /// page size.
    pub fn seal_regions(
        &mut self,
        exec_len: usize,
        readonly_len: usize,
    ) -> Result<(), MemoryError> {
        if self.sealed {
            return Ok(());
        }
        let page = page_size();
        if !exec_len.is_multiple_of(page)
            || !readonly_len.is_multiple_of(page)
            || exec_len + readonly_len > self.len
        {
            return Err(MemoryError {
                op: "seal_regions",
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            });
        }
        let parts = [
            (0, exec_len, libc::PROT_READ | libc::PROT_EXEC),
            (exec_len, readonly_len, libc::PROT_READ),
        ];
        for (start, len, prot) in parts {
            if len == 0 {
                continue;
            }
            // SAFETY: `start..start + len` lies inside the mapping (checked
            // above) and is page-aligned; no Rust reference into the
            // mapping outlives this call (`bytes_mut` borrows `self`).
            let r = unsafe { libc::mprotect(self.ptr.add(start) as *mut libc::c_void, len, prot) };
            if r != 0 {
                return Err(MemoryError {
                    op: "mprotect",
                    source: std::io::Error::last_os_error(),
                });
            }
        }
        self.sealed = true;
        Ok(())
    }

    /// Whether the mapping has been sealed.
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }
}

impl Drop for ExecutableMemory {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `new`; no reference
        // into it can outlive `self` (all borrows are tied to `self`). Code
        // pointers handed out by callers are their responsibility to stop
        // using before drop, which the JIT module enforces by ownership.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_seal() {
        let mut m = ExecutableMemory::new(10).unwrap();
        assert!(m.len() >= 10);
        m.bytes_mut().unwrap()[..3].copy_from_slice(&[1, 2, 3]);
        m.seal().unwrap();
        assert!(m.bytes_mut().is_none());
        // SAFETY: the mapping is readable after sealing.
        let first = unsafe { *m.base() };
        assert_eq!(first, 1);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn runs_code() {
        // mov eax, 42 ; ret
        let code = [0xb8, 42, 0, 0, 0, 0xc3];
        let mut m = ExecutableMemory::new(code.len()).unwrap();
        m.bytes_mut().unwrap()[..code.len()].copy_from_slice(&code);
        m.seal().unwrap();
        // SAFETY: the mapping holds a complete function with the C ABI
        // signature `() -> i32` (the bytes above), and is executable.
        let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(m.base()) };
        assert_eq!(f(), 42);
    }
}
