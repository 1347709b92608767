//! A stand-in backend for tests and benchmarks of the cache layer while (or
//! where) no real lowering is available.
//!
//! [`MockIsa`] "compiles" a stencil into deterministic bytes: per
//! instruction in layout order, the opcode byte and the names of its result
//! types (so the code does not depend on entity numbering, like the real
//! key); a call adds a 5-byte `call rel32` with a relocation naming the
//! callee (user reference, test-case name, libcall or known symbol) and a
//! call site; a `trap` adds a trap record; every instruction gets a srcloc
//! range with its relative source location. `udiv` is reported as
//! unsupported, so tests can exercise compile errors. It counts compiles.

use kiln_codegen::compiled::{CompiledCode, Relocation, SrcLocRange, Stencil};
use kiln_codegen::isa::TargetIsa;
use kiln_codegen::machinst::buffer::{MachCallSite, MachTrap, Reloc, RelocTarget};
use kiln_codegen::result::{CodegenError, CodegenResult};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_ir::{ExternalName, FunctionStencil, InstructionData, Opcode};
use std::sync::atomic::{AtomicUsize, Ordering};

/// See the module documentation.
pub struct MockIsa {
    /// Shared settings (`enable_verifier` is on by default).
    pub flags: Flags,
    /// x86-64 baseline.
    pub isa_flags: IsaFlags,
    compiles: AtomicUsize,
}

impl Default for MockIsa {
    fn default() -> Self {
        Self::new()
    }
}

impl MockIsa {
    /// Default flags, x86-64 baseline.
    pub fn new() -> Self {
        MockIsa {
            flags: Flags::default(),
            isa_flags: IsaFlags::baseline(Arch::X86_64),
            compiles: AtomicUsize::new(0),
        }
    }

    /// How many times `compile_stencil` ran.
    pub fn compiles(&self) -> usize {
        self.compiles.load(Ordering::Relaxed)
    }
}

impl TargetIsa for MockIsa {
    fn arch(&self) -> Arch {
        Arch::X86_64
    }
    fn flags(&self) -> &Flags {
        &self.flags
    }
    fn isa_flags(&self) -> &IsaFlags {
        &self.isa_flags
    }
    fn compile_stencil(&self, s: &FunctionStencil) -> CodegenResult<CompiledCode<Stencil>> {
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let mut out = CompiledCode {
            code: Vec::new(),
            relocs: Vec::new(),
            traps: Vec::new(),
            exception_sites: Vec::new(),
            call_sites: Vec::new(),
            srclocs: Vec::new(),
            testcase_names: Vec::new(),
            alignment: 16,
            frame_size: 0,
            unwind: Vec::new(),
            data_ranges: Vec::new(),
        };
        for block in s.layout.blocks() {
            for inst in s.layout.block_insts(block) {
                let start = out.code.len() as u32;
                let data = s.dfg.insts[inst];
                if data.opcode() == Opcode::Udiv {
                    return Err(CodegenError::Unsupported {
                        what: "udiv (mock backend)".to_string(),
                    });
                }
                out.code.push(data.opcode() as u8);
                for v in s.dfg.inst_results(inst) {
                    out.code
                        .extend_from_slice(s.dfg.value_type(*v).to_string().as_bytes());
                }
                if let InstructionData::Call { func_ref, .. } = data {
                    let Some(ext) = s.dfg.ext_funcs.get(func_ref) else {
                        return Err(CodegenError::Emit("bad function reference".into()));
                    };
                    let target = match &ext.name {
                        ExternalName::User(r) => RelocTarget::User(*r),
                        ExternalName::LibCall(l) => RelocTarget::LibCall(*l),
                        ExternalName::KnownSymbol(k) => RelocTarget::KnownSymbol(*k),
                        ExternalName::TestCase(n) => {
                            let i = match out.testcase_names.iter().position(|x| x == n) {
                                Some(i) => i,
                                None => {
                                    out.testcase_names.push(n.clone());
                                    out.testcase_names.len() - 1
                                }
                            };
                            RelocTarget::TestCase(i as u32)
                        }
                    };
                    out.code.push(0xe8);
                    out.relocs.push(Relocation {
                        offset: out.code.len() as u32,
                        kind: Reloc::X86CallPCRel4,
                        target,
                        addend: -4,
                    });
                    out.code.extend_from_slice(&[0; 4]);
                    out.call_sites.push(MachCallSite {
                        ret_addr: out.code.len() as u32,
                    });
                }
                if let InstructionData::Trap { code, .. } = data {
                    out.traps.push(MachTrap {
                        offset: start,
                        code,
                    });
                    out.code.extend_from_slice(&[0x0f, 0x0b]);
                }
                out.srclocs.push(SrcLocRange {
                    start,
                    end: out.code.len() as u32,
                    loc: s.rel_srcloc(inst),
                });
            }
        }
        Ok(out)
    }
}
