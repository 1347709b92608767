//! Kiln's object-file writer: a [`Module`] whose result is a relocatable
//! ELF file for x86-64 or aarch64, to be linked by the system linker.
//!
//! Owns: placing finished code in `.text` (or one `.text.<name>` section per
//! function), data in `.rodata` / `.data` / `.bss`, symbols with the
//! declared [`Linkage`], and the mapping from Kiln's relocation kinds to ELF
//! relocation types (the table in [`elf_reloc`]).
//!
//! Must never: lower or re-encode anything (it takes `CompiledCode<Final>`,
//! from a cache hit or a fresh compile alike), or accept a relocation it
//! cannot express for the target (that is
//! [`ModuleError::UnsupportedReloc`], never a silently wrong object).
//!
//! ```
//! use kiln_ir::{CallConv, Signature};
//! use kiln_module::{DataDescription, Linkage, Module};
//! use kiln_object::ObjectModule;
//! use kiln_codegen::settings::Arch;
//!
//! let mut m = ObjectModule::new(Arch::X86_64);
//! let answer = m.declare_data("answer", Linkage::Export, false).unwrap();
//! let mut d = DataDescription::new();
//! d.define(42u64.to_le_bytes().to_vec().into_boxed_slice());
//! m.define_data(answer, &d).unwrap();
//! let bytes = m.finish().unwrap();
//! assert_eq!(&bytes[..4], b"\x7fELF");
//! ```

#![warn(missing_docs)]

use kiln_codegen::compiled::{CompiledCode, Final};
use kiln_codegen::isa::TargetIsa;
use kiln_codegen::machinst::buffer::Reloc;
use kiln_codegen::settings::Arch;
use kiln_ir::{KnownSymbol, Signature};
use kiln_module::{
    module::final_name_string, DataDescription, DataId, Declarations, FuncId, FuncOrDataId, Init,
    Linkage, Module, ModuleError, Target,
};
use object::elf;
use object::write::{
    Object, Relocation, SectionId, StandardSection, Symbol, SymbolId, SymbolSection,
};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope,
};
use std::collections::HashMap;

/// A module written as a relocatable ELF object.
pub struct ObjectModule {
    decls: Declarations,
    arch: Arch,
    per_function_section: bool,
    code: Vec<Option<CompiledCode<Final>>>,
    data: Vec<Option<DataDescription>>,
    product: Option<Vec<u8>>,
}

impl ObjectModule {
    /// An empty module for `arch`.
    pub fn new(arch: Arch) -> Self {
        ObjectModule {
            decls: Declarations::new(),
            arch,
            per_function_section: false,
            code: Vec::new(),
            data: Vec::new(),
            product: None,
        }
    }

    /// An empty module for the target of `isa`.
    pub fn for_isa(isa: &dyn TargetIsa) -> Self {
        Self::new(isa.arch())
    }

    /// Puts every function in its own section `.text.<name>` (so a linker
    /// can drop unused ones with `--gc-sections`).
    pub fn set_per_function_section(&mut self, on: bool) {
        self.per_function_section = on;
    }

    /// The target architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    fn not_finalized(&self) -> Result<(), ModuleError> {
        if self.product.is_some() {
            Err(ModuleError::AlreadyFinalized)
        } else {
            Ok(())
        }
    }

    /// Finalizes (if not done yet) and returns the object file's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, ModuleError> {
        if self.product.is_none() {
            self.finalize()?;
        }
        self.product.ok_or(ModuleError::AlreadyFinalized)
    }

    /// The object file's bytes after [`Module::finalize`].
    pub fn emitted(&self) -> Option<&[u8]> {
        self.product.as_deref()
    }

    fn build(&self) -> Result<Vec<u8>, ModuleError> {
        let architecture = match self.arch {
            Arch::X86_64 => Architecture::X86_64,
            Arch::Aarch64 => Architecture::Aarch64,
        };
        let mut obj = Object::new(BinaryFormat::Elf, architecture, Endianness::Little);
        // No executable stack: without this note GNU ld assumes one.
        obj.add_section(Vec::new(), b".note.GNU-stack".to_vec(), SectionKind::Other);

        let scope = |l: Linkage| match l {
            Linkage::Local => SymbolScope::Compilation,
            _ => SymbolScope::Dynamic,
        };
        let undefined = |name: &str, kind: SymbolKind| Symbol {
            name: name.as_bytes().to_vec(),
            value: 0,
            size: 0,
            kind,
            scope: SymbolScope::Dynamic,
            weak: false,
            section: SymbolSection::Undefined,
            flags: SymbolFlags::None,
        };

        // Function symbols; definitions placed now.
        let text = obj.section_id(StandardSection::Text);
        let mut func_syms: Vec<SymbolId> = Vec::new();
        let mut func_place: Vec<Option<(SectionId, u64)>> = Vec::new();
        for (id, d) in self.decls.functions() {
            let name = d
                .name
                .clone()
                .unwrap_or_else(|| format!("__kiln_anon_fn{}", id.as_u32()));
            let code = self.code.get(id.index()).and_then(|c| c.as_ref());
            let sym = match (d.linkage, code) {
                (Linkage::Import, _) | (_, None) => {
                    func_place.push(None);
                    obj.add_symbol(undefined(&name, SymbolKind::Text))
                }
                (linkage, Some(code)) => {
                    let section = if self.per_function_section {
                        obj.add_subsection(StandardSection::Text, name.as_bytes())
                    } else {
                        text
                    };
                    // At least the alignment the target's toolchains give
                    // functions (16 on x86-64 for the decoders' sake).
                    let min = match self.arch {
                        Arch::X86_64 => 16,
                        Arch::Aarch64 => 4,
                    };
                    let align = u64::from(code.alignment.max(min)).next_power_of_two();
                    let offset = obj.append_section_data(section, &code.code, align);
                    func_place.push(Some((section, offset)));
                    obj.add_symbol(Symbol {
                        name: name.into_bytes(),
                        value: offset,
                        size: code.code.len() as u64,
                        kind: SymbolKind::Text,
                        scope: scope(linkage),
                        weak: linkage == Linkage::Preemptible,
                        section: SymbolSection::Section(section),
                        flags: SymbolFlags::None,
                    })
                }
            };
            func_syms.push(sym);
        }

        // Data symbols.
        let mut data_syms: Vec<SymbolId> = Vec::new();
        let mut data_place: Vec<Option<(SectionId, u64)>> = Vec::new();
        for (id, d) in self.decls.data_objects() {
            let name = d
                .name
                .clone()
                .unwrap_or_else(|| format!("__kiln_anon_data{}", id.as_u32()));
            let desc = self.data.get(id.index()).and_then(|c| c.as_ref());
            let sym = match (d.linkage, desc) {
                (Linkage::Import, _) | (_, None) => {
                    data_place.push(None);
                    obj.add_symbol(undefined(&name, SymbolKind::Data))
                }
                (linkage, Some(desc)) => {
                    let align = desc.align.unwrap_or(1).max(1);
                    let has_relocs =
                        !desc.function_relocs.is_empty() || !desc.data_relocs.is_empty();
                    let (section, offset) = match (&desc.init, d.writable) {
                        (Init::Zeros { size }, true) if !has_relocs => {
                            let s = obj.section_id(StandardSection::UninitializedData);
                            (s, obj.append_section_bss(s, *size as u64, align))
                        }
                        (_, writable) => {
                            let s = obj.section_id(if writable {
                                StandardSection::Data
                            } else if has_relocs {
                                // Addresses are patched by the dynamic
                                // linker in a PIE: `.data.rel.ro`.
                                StandardSection::ReadOnlyDataWithRel
                            } else {
                                StandardSection::ReadOnlyData
                            });
                            (s, obj.append_section_data(s, &desc.bytes(), align))
                        }
                    };
                    data_place.push(Some((section, offset)));
                    obj.add_symbol(Symbol {
                        name: name.into_bytes(),
                        value: offset,
                        size: desc.size() as u64,
                        kind: SymbolKind::Data,
                        scope: scope(linkage),
                        weak: linkage == Linkage::Preemptible,
                        section: SymbolSection::Section(section),
                        flags: SymbolFlags::None,
                    })
                }
            };
            data_syms.push(sym);
        }

        // Libcalls and known symbols, added on first use.
        let mut extra: HashMap<&'static str, SymbolId> = HashMap::new();
        let mut target_symbol = |obj: &mut Object<'_>, t: Target| -> SymbolId {
            let name = match t {
                Target::Func(f) => return func_syms[f.index()],
                Target::Data(d) => return data_syms[d.index()],
                Target::LibCall(l) => l.symbol(),
                Target::Known(KnownSymbol::ElfGlobalOffsetTable) => "_GLOBAL_OFFSET_TABLE_",
                Target::Known(KnownSymbol::CoffTlsIndex) => "_tls_index",
            };
            // A declaration of that name (a module defining `memcpy`
            // itself) is the symbol; otherwise one undefined symbol.
            match self.decls.get_name(name) {
                Some(FuncOrDataId::Func(f)) => return func_syms[f.index()],
                Some(FuncOrDataId::Data(d)) => return data_syms[d.index()],
                None => {}
            }
            *extra
                .entry(name)
                .or_insert_with(|| obj.add_symbol(undefined(name, SymbolKind::Unknown)))
        };
        let is_local = |t: Target| match t {
            Target::Func(f) => {
                let d = self.decls.function(f);
                d.is_some_and(|d| d.linkage == Linkage::Local)
            }
            Target::Data(d) => {
                let d = self.decls.data(d);
                d.is_some_and(|d| d.linkage == Linkage::Local)
            }
            _ => false,
        };

        // Code relocations.
        for (id, _) in self.decls.functions() {
            let (Some((section, base)), Some(Some(code))) =
                (func_place[id.index()], self.code.get(id.index()))
            else {
                continue;
            };
            let from = || self.decls.function_name(id);
            for r in &code.relocs {
                let t = self
                    .decls
                    .resolve(&r.target)
                    .ok_or_else(|| ModuleError::Undeclared {
                        from: from(),
                        target: final_name_string(&r.target),
                    })?;
                let (r_type, size) =
                    elf_reloc(self.arch, r.kind, is_local(t)).ok_or_else(|| {
                        ModuleError::UnsupportedReloc {
                            from: from(),
                            kind: r.kind,
                        }
                    })?;
                if r.offset as usize + size > code.code.len() {
                    return Err(ModuleError::BadOffset {
                        from: from(),
                        offset: r.offset,
                    });
                }
                let symbol = target_symbol(&mut obj, t);
                obj.add_relocation(
                    section,
                    Relocation {
                        offset: base + u64::from(r.offset),
                        symbol,
                        addend: r.addend,
                        flags: RelocationFlags::Elf { r_type },
                    },
                )
                .map_err(|e| ModuleError::Backend(format!("{}: {e}", from())))?;
            }
        }

        self.write_eh_frame(&mut obj, &func_place)?;

        // Data relocations: absolute 64-bit addresses.
        let abs64 = match self.arch {
            Arch::X86_64 => elf::R_X86_64_64,
            Arch::Aarch64 => elf::R_AARCH64_ABS64,
        };
        for (id, _) in self.decls.data_objects() {
            let (Some((section, base)), Some(Some(desc))) =
                (data_place[id.index()], self.data.get(id.index()))
            else {
                continue;
            };
            let relocs = desc
                .function_relocs
                .iter()
                .map(|&(o, f)| (o, Target::Func(f), 0))
                .chain(
                    desc.data_relocs
                        .iter()
                        .map(|&(o, d, a)| (o, Target::Data(d), a)),
                );
            for (offset, t, addend) in relocs {
                let symbol = target_symbol(&mut obj, t);
                obj.add_relocation(
                    section,
                    Relocation {
                        offset: base + u64::from(offset),
                        symbol,
                        addend,
                        flags: RelocationFlags::Elf { r_type: abs64 },
                    },
                )
                .map_err(|e| {
                    ModuleError::Backend(format!("data {}: {e}", self.decls.data_name(id)))
                })?;
            }
        }
        obj.write()
            .map_err(|e| ModuleError::Backend(format!("writing the object: {e}")))
    }
}

impl ObjectModule {
    /// Writes `.eh_frame`: one CIE and one FDE per defined function that
    /// carries unwind ops (`CompiledCode::unwind`), each FDE's start a
    /// 32-bit PC-relative pointer relocated against the function's section
    /// (`R_X86_64_PC32` / `R_AARCH64_PREL32`), as compilers emit it, so
    /// the linker builds `.eh_frame_hdr` and debuggers and unwinders find
    /// Kiln frames in the linked program.
    fn write_eh_frame(
        &self,
        obj: &mut Object<'_>,
        func_place: &[Option<(SectionId, u64)>],
    ) -> Result<(), ModuleError> {
        use gimli::write::{Address, FrameTable};
        use kiln_codegen::unwind::{cie, fde, CfiTarget};
        let target = CfiTarget::new(self.arch);
        let mut table = FrameTable::default();
        let mut cie = cie(target);
        cie.fde_address_encoding = gimli::DW_EH_PE_pcrel | gimli::DW_EH_PE_sdata4;
        let cie_id = table.add_cie(cie);
        // Symbol k of the FDE addresses is places[k].
        let mut places: Vec<(SectionId, u64)> = Vec::new();
        for (id, _) in self.decls.functions() {
            let (Some(place), Some(Some(code))) =
                (func_place[id.index()], self.code.get(id.index()))
            else {
                continue;
            };
            if code.unwind.is_empty() {
                continue;
            }
            let fde = fde(
                target,
                &code.unwind,
                Address::Symbol {
                    symbol: places.len(),
                    addend: 0,
                },
                code.code.len() as u32,
            )
            .map_err(|e| ModuleError::Unwind(format!("{}: {e}", self.decls.function_name(id))))?;
            places.push(place);
            table.add_fde(cie_id, fde);
        }
        if places.is_empty() {
            return Ok(());
        }
        let mut eh = gimli::write::EhFrame(EhWriter {
            bytes: gimli::write::EndianVec::new(gimli::LittleEndian),
            relocs: Vec::new(),
        });
        table
            .write_eh_frame(&mut eh)
            .map_err(|e| ModuleError::Unwind(e.to_string()))?;
        let w = eh.0;
        let section = obj.add_section(Vec::new(), b".eh_frame".to_vec(), SectionKind::ReadOnlyData);
        obj.append_section_data(section, w.bytes.slice(), 8);
        let r_type = match self.arch {
            Arch::X86_64 => elf::R_X86_64_PC32,
            Arch::Aarch64 => elf::R_AARCH64_PREL32,
        };
        for (offset, k, addend) in w.relocs {
            let (fsec, foff) = places[k];
            let symbol = obj.section_symbol(fsec);
            obj.add_relocation(
                section,
                Relocation {
                    offset: offset as u64,
                    symbol,
                    addend: foff as i64 + addend,
                    flags: RelocationFlags::Elf { r_type },
                },
            )
            .map_err(|e| ModuleError::Backend(format!(".eh_frame: {e}")))?;
        }
        Ok(())
    }
}

/// A gimli writer that turns symbol-relative `.eh_frame` pointers into
/// relocations: (offset in the section, symbol index, addend).
struct EhWriter {
    bytes: gimli::write::EndianVec<gimli::LittleEndian>,
    relocs: Vec<(usize, usize, i64)>,
}

impl gimli::write::Writer for EhWriter {
    type Endian = gimli::LittleEndian;

    fn endian(&self) -> Self::Endian {
        gimli::LittleEndian
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn write(&mut self, bytes: &[u8]) -> gimli::write::Result<()> {
        self.bytes.write(bytes)
    }

    fn write_at(&mut self, offset: usize, bytes: &[u8]) -> gimli::write::Result<()> {
        self.bytes.write_at(offset, bytes)
    }

    fn write_eh_pointer(
        &mut self,
        address: gimli::write::Address,
        eh_pe: gimli::DwEhPe,
        size: u8,
    ) -> gimli::write::Result<()> {
        match address {
            gimli::write::Address::Symbol { symbol, addend }
                if eh_pe == (gimli::DW_EH_PE_pcrel | gimli::DW_EH_PE_sdata4) =>
            {
                self.relocs.push((self.len(), symbol, addend));
                self.write_udata(0, 4)
            }
            gimli::write::Address::Symbol { .. } => Err(gimli::write::Error::InvalidAddress),
            constant => self.bytes.write_eh_pointer(constant, eh_pe, size),
        }
    }
}

/// The ELF relocation type (and the size of the patched field in bytes)
/// for a Kiln relocation kind on `arch`; `None` if the kind does not belong
/// to that target. `local` says the target is defined in this object and
/// not visible outside it: calls to anything else go through the PLT so
/// that the linker may route them to a shared library.
pub fn elf_reloc(arch: Arch, kind: Reloc, local: bool) -> Option<(elf::RelocationType, usize)> {
    Some(match (arch, kind) {
        (Arch::X86_64, Reloc::Abs4) => (elf::R_X86_64_32, 4),
        (Arch::X86_64, Reloc::Abs8) => (elf::R_X86_64_64, 8),
        (Arch::X86_64, Reloc::X86PCRel4) => (elf::R_X86_64_PC32, 4),
        (Arch::X86_64, Reloc::X86CallPCRel4) if local => (elf::R_X86_64_PC32, 4),
        (Arch::X86_64, Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4) => (elf::R_X86_64_PLT32, 4),
        (Arch::X86_64, Reloc::X86GOTPCRel4) => (elf::R_X86_64_GOTPCREL, 4),
        (Arch::Aarch64, Reloc::Abs4) => (elf::R_AARCH64_ABS32, 4),
        (Arch::Aarch64, Reloc::Abs8) => (elf::R_AARCH64_ABS64, 8),
        (Arch::Aarch64, Reloc::Aarch64Call26) => (elf::R_AARCH64_CALL26, 4),
        (Arch::Aarch64, Reloc::Aarch64Jump26) => (elf::R_AARCH64_JUMP26, 4),
        (Arch::Aarch64, Reloc::Aarch64AdrPrelPgHi21) => (elf::R_AARCH64_ADR_PREL_PG_HI21, 4),
        (Arch::Aarch64, Reloc::Aarch64AddAbsLo12Nc) => (elf::R_AARCH64_ADD_ABS_LO12_NC, 4),
        (Arch::Aarch64, Reloc::Aarch64Ldst8AbsLo12Nc) => (elf::R_AARCH64_LDST8_ABS_LO12_NC, 4),
        (Arch::Aarch64, Reloc::Aarch64Ldst16AbsLo12Nc) => (elf::R_AARCH64_LDST16_ABS_LO12_NC, 4),
        (Arch::Aarch64, Reloc::Aarch64Ldst32AbsLo12Nc) => (elf::R_AARCH64_LDST32_ABS_LO12_NC, 4),
        (Arch::Aarch64, Reloc::Aarch64Ldst64AbsLo12Nc) => (elf::R_AARCH64_LDST64_ABS_LO12_NC, 4),
        (Arch::Aarch64, Reloc::Aarch64Ldst128AbsLo12Nc) => (elf::R_AARCH64_LDST128_ABS_LO12_NC, 4),
        (Arch::Aarch64, Reloc::Aarch64AdrGotPage21) => (elf::R_AARCH64_ADR_GOT_PAGE, 4),
        (Arch::Aarch64, Reloc::Aarch64Ld64GotLo12Nc) => (elf::R_AARCH64_LD64_GOT_LO12_NC, 4),
        _ => return None,
    })
}

impl Module for ObjectModule {
    fn declarations(&self) -> &Declarations {
        &self.decls
    }

    fn declarations_mut(&mut self) -> Result<&mut Declarations, ModuleError> {
        self.not_finalized()?;
        Ok(&mut self.decls)
    }

    fn define_function(
        &mut self,
        id: FuncId,
        signature: &Signature,
        code: CompiledCode<Final>,
    ) -> Result<(), ModuleError> {
        self.not_finalized()?;
        self.decls.define_function(id, signature, &code)?;
        if self.code.len() <= id.index() {
            self.code.resize_with(id.index() + 1, || None);
        }
        self.code[id.index()] = Some(code);
        Ok(())
    }

    fn define_data(&mut self, id: DataId, data: &DataDescription) -> Result<(), ModuleError> {
        self.not_finalized()?;
        self.decls.define_data(id, data)?;
        if self.data.len() <= id.index() {
            self.data.resize_with(id.index() + 1, || None);
        }
        self.data[id.index()] = Some(data.clone());
        Ok(())
    }

    /// Checks that every non-import declaration is defined and writes the
    /// object (read it back with [`ObjectModule::emitted`] or take it with
    /// [`ObjectModule::finish`]).
    fn finalize(&mut self) -> Result<(), ModuleError> {
        self.not_finalized()?;
        self.decls.check_all_defined()?;
        self.product = Some(self.build()?);
        Ok(())
    }
}
