//! Execution tests of the x86-64 backend: CLIF leaf functions are compiled
//! (with the regalloc2 checker on), copied into executable memory and
//! called natively; results are compared with Rust over many inputs.

use kiln_codegen::compiled::{CompiledCode, Stencil};
use kiln_codegen::isa::{self, TargetIsa};
use kiln_codegen::settings::{Arch, Flags, IsaFlags};
use kiln_module::memory::ExecutableMemory;

fn isa() -> Box<dyn TargetIsa> {
    let flags = Flags {
        regalloc_checker: true,
        preserve_frame_pointers: true,
        // Some functions return more values than the return registers
        // hold: through a return area.
        enable_multi_ret_implicit_sret: true,
        ..Flags::default()
    };
    isa::lookup(flags, IsaFlags::baseline(Arch::X86_64)).expect("x64 backend")
}

fn compile(text: &str) -> CompiledCode<Stencil> {
    let f = kiln_reader::parse_function(text).expect("parse");
    isa()
        .compile_stencil(&f.stencil)
        .unwrap_or_else(|e| panic!("compile failed: {e}\n{text}"))
}

/// Compiled code in executable memory.
struct Jit {
    mem: ExecutableMemory,
}

impl Jit {
    fn new(text: &str) -> Jit {
        let code = compile(text);
        assert!(code.relocs.is_empty(), "leaf functions have no relocations");
        let mut mem = ExecutableMemory::new(code.code.len().max(1)).expect("mmap");
        mem.bytes_mut().expect("writable")[..code.code.len()].copy_from_slice(&code.code);
        mem.seal().expect("seal");
        Jit { mem }
    }
    fn addr(&self) -> *const u8 {
        self.mem.base()
    }
}

macro_rules! jit_fn {
    ($jit:expr, fn($($a:ty),*) -> $r:ty) => {{
        // SAFETY: the memory holds a complete function compiled for this
        // host from a signature matching the Rust type (System V, integer
        // arguments and return), and stays mapped while `$jit` lives.
        unsafe { std::mem::transmute::<*const u8, extern "sysv64" fn($($a),*) -> $r>($jit.addr()) }
    }};
}

const INTERESTING: [i64; 14] = [
    0,
    1,
    -1,
    2,
    -2,
    3,
    7,
    100,
    -100,
    i64::MAX,
    i64::MIN,
    0x1234_5678_9abc_def0,
    i32::MIN as i64,
    i32::MAX as i64,
];

fn pairs() -> impl Iterator<Item = (i64, i64)> {
    INTERESTING
        .iter()
        .flat_map(|&a| INTERESTING.iter().map(move |&b| (a, b)))
}

#[test]
fn add_sub_mul_64() {
    for (op, f) in [
        (
            "iadd",
            (|a: i64, b: i64| a.wrapping_add(b)) as fn(i64, i64) -> i64,
        ),
        ("isub", |a, b| a.wrapping_sub(b)),
        ("imul", |a, b| a.wrapping_mul(b)),
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
        ("ishl", |a, b| a.wrapping_shl(b as u32)),
        ("ushr", |a, b| ((a as u64).wrapping_shr(b as u32)) as i64),
        ("sshr", |a, b| a.wrapping_shr(b as u32)),
        ("rotl", |a, b| a.rotate_left((b & 63) as u32)),
        ("rotr", |a, b| a.rotate_right((b & 63) as u32)),
    ] {
        let text = format!(
            "function %f(i64, i64) -> i64 {{\nblock0(v0: i64, v1: i64):\n    v2 = {op} v0, v1\n    return v2\n}}\n"
        );
        let jit = Jit::new(&text);
        let g = jit_fn!(jit, fn(i64, i64) -> i64);
        for (a, b) in pairs() {
            assert_eq!(g(a, b), f(a, b), "{op} {a} {b}");
        }
    }
}

#[test]
fn narrow_ops_32_16_8() {
    for ty in ["i8", "i16", "i32"] {
        let bits = match ty {
            "i8" => 8,
            "i16" => 16,
            _ => 32,
        };
        let sx = move |v: i64| (v << (64 - bits)) >> (64 - bits);
        let zx = move |v: i64| ((v as u64) << (64 - bits) >> (64 - bits)) as i64;
        for (op, f) in [
            (
                "iadd",
                (|a: i64, b: i64, _: u32| a.wrapping_add(b)) as fn(i64, i64, u32) -> i64,
            ),
            ("isub", |a, b, _| a.wrapping_sub(b)),
            ("imul", |a, b, _| a.wrapping_mul(b)),
            ("ishl", |a, b, n| a.wrapping_shl((b as u32) % n)),
            ("ushr", |a, b, n| {
                let m = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                (((a as u64) & m) >> ((b as u32) % n)) as i64
            }),
            ("sshr", |a, b, n| {
                let s = (a << (64 - n)) >> (64 - n);
                s >> ((b as u32) % n)
            }),
            ("rotl", |a, b, n| {
                let m = (1u64 << n) - 1;
                let x = (a as u64) & m;
                let k = (b as u32) % n;
                (((x << k) | (x >> ((n - k) % n))) & m) as i64
            }),
        ] {
            // Sign-extend the result so the comparison ignores upper bits.
            let text = format!(
                "function %f(i64, i64) -> i64 {{\nblock0(v0: i64, v1: i64):\n    v2 = ireduce.{ty} v0\n    v3 = ireduce.{ty} v1\n    v4 = {op} v2, v3\n    v5 = sextend.i64 v4\n    return v5\n}}\n"
            );
            let jit = Jit::new(&text);
            let g = jit_fn!(jit, fn(i64, i64) -> i64);
            for (a, b) in pairs() {
                let want = sx(f(zx(a), zx(b), bits as u32));
                assert_eq!(g(a, b), want, "{op}.{ty} {a} {b}");
            }
        }
    }
}

#[test]
fn icmp_all_conditions_and_select() {
    type Cond = (&'static str, fn(i64, i64) -> bool);
    let conds: [Cond; 10] = [
        ("eq", |a, b| a == b),
        ("ne", |a, b| a != b),
        ("slt", |a, b| a < b),
        ("sge", |a, b| a >= b),
        ("sgt", |a, b| a > b),
        ("sle", |a, b| a <= b),
        ("ult", |a, b| (a as u64) < (b as u64)),
        ("uge", |a, b| (a as u64) >= (b as u64)),
        ("ugt", |a, b| (a as u64) > (b as u64)),
        ("ule", |a, b| (a as u64) <= (b as u64)),
    ];
    for (cc, f) in conds {
        let text = format!(
            "function %f(i64, i64) -> i8 {{\nblock0(v0: i64, v1: i64):\n    v2 = icmp {cc} v0, v1\n    return v2\n}}\n"
        );
        let jit = Jit::new(&text);
        let g = jit_fn!(jit, fn(i64, i64) -> u8);
        for (a, b) in pairs() {
            assert_eq!(g(a, b), f(a, b) as u8, "icmp {cc} {a} {b}");
        }
        let text = format!(
            "function %f(i64, i64) -> i64 {{\nblock0(v0: i64, v1: i64):\n    v2 = icmp {cc} v0, v1\n    v3 = iconst.i64 100\n    v4 = select v2, v0, v3\n    return v4\n}}\n"
        );
        let jit = Jit::new(&text);
        let g = jit_fn!(jit, fn(i64, i64) -> i64);
        for (a, b) in pairs() {
            assert_eq!(
                g(a, b),
                if f(a, b) { a } else { 100 },
                "select {cc} {a} {b}"
            );
        }
        // A compare against a constant, merged into the branch.
        let text = format!(
            "function %f(i32) -> i32 {{\nblock0(v0: i32):\n    v1 = icmp_imm {cc} v0, 7\n    brif v1, block1, block2\nblock1:\n    v2 = iconst.i32 1\n    return v2\nblock2:\n    v3 = iconst.i32 2\n    return v3\n}}\n"
        );
        if let Ok(f2) = kiln_reader::parse_function(&text) {
            // `icmp_imm` may not exist in this IR; only run when it parses.
            let code = isa().compile_stencil(&f2.stencil);
            assert!(
                code.is_ok()
                    || matches!(
                        code,
                        Err(kiln_codegen::result::CodegenError::Unsupported { .. })
                    )
            );
        }
    }
}

#[test]
fn loop_with_block_params() {
    // sum of 0..n
    let text = "function %sum(i64) -> i64 {
block0(v0: i64):
    v1 = iconst.i64 0
    v2 = iconst.i64 0
    jump block1(v1, v2)
block1(v3: i64, v4: i64):
    v5 = icmp slt v3, v0
    brif v5, block2, block3(v4)
block2:
    v6 = iadd v4, v3
    v9 = iconst.i64 1
    v7 = iadd v3, v9
    jump block1(v7, v6)
block3(v8: i64):
    return v8
}
";
    let jit = Jit::new(text);
    let g = jit_fn!(jit, fn(i64) -> i64);
    for n in [0i64, 1, 2, 10, 1000, -5] {
        let want: i64 = (0..n.max(0)).sum();
        assert_eq!(g(n), want, "sum {n}");
    }
}

#[test]
fn division_without_traps() {
    for ty in ["i8", "i16", "i32", "i64"] {
        let bits: u32 = ty[1..].parse().unwrap();
        let sx = move |v: i64| (v << (64 - bits)) >> (64 - bits);
        let zx = move |v: i64| {
            if bits == 64 {
                v
            } else {
                ((v as u64) & ((1u64 << bits) - 1)) as i64
            }
        };
        for op in ["udiv", "sdiv", "urem", "srem"] {
            let text = format!(
                "function %f(i64, i64) -> i64 {{\nblock0(v0: i64, v1: i64):\n    v2 = ireduce.{ty} v0\n    v3 = ireduce.{ty} v1\n    v4 = {op} v2, v3\n    v5 = sextend.i64 v4\n    return v5\n}}\n"
            );
            let text = if ty != "i64" {
                text
            } else {
                text.replace("ireduce.i64 v0", "bor v0, v0")
                    .replace("ireduce.i64 v1", "bor v1, v1")
                    .replace("sextend.i64 v4", "bor v4, v4")
            };
            let jit = Jit::new(&text);
            let g = jit_fn!(jit, fn(i64, i64) -> i64);
            for (a, b) in pairs() {
                let (sa, sb, ua, ub) = (sx(a), sx(b), zx(a) as u64, zx(b) as u64);
                if sb == 0 {
                    continue;
                }
                let min = if bits == 64 {
                    i64::MIN
                } else {
                    -(1i64 << (bits - 1))
                };
                if op == "sdiv" && sa == min && sb == -1 {
                    continue;
                }
                let want = match op {
                    "udiv" => (ua / ub) as i64,
                    "urem" => (ua % ub) as i64,
                    "sdiv" => sa / sb,
                    _ => sa.wrapping_rem(sb),
                };
                assert_eq!(g(a, b), sx(want), "{op}.{ty} {a} {b}");
            }
        }
    }
}

#[test]
fn stack_slot_load_store() {
    let text = "function %f(i64, i64) -> i64 {
    ss0 = explicit_slot 16
block0(v0: i64, v1: i64):
    v2 = stack_addr.i64 ss0
    store v0, v2
    store v1, v2+8
    istore8 v1, v2+3
    v3 = load.i64 v2
    v4 = uload8.i64 v2+3
    v5 = load.i64 v2+8
    v6 = iadd v3, v4
    v7 = iadd v6, v5
    return v7
}
";
    let jit = Jit::new(text);
    let g = jit_fn!(jit, fn(i64, i64) -> i64);
    for (a, b) in pairs() {
        let mut bytes = a.to_le_bytes();
        bytes[3] = b as u8;
        let a2 = i64::from_le_bytes(bytes);
        let want = a2.wrapping_add((b as u8) as i64).wrapping_add(b);
        assert_eq!(g(a, b), want, "{a} {b}");
    }
}

#[test]
fn br_table_dispatch() {
    let text = "function %f(i32) -> i32 {
block0(v0: i32):
    br_table v0, block4, [block1, block2, block3, block2]
block1:
    v1 = iconst.i32 10
    return v1
block2:
    v2 = iconst.i32 20
    return v2
block3:
    v3 = iconst.i32 30
    return v3
block4:
    v4 = iconst.i32 40
    return v4
}
";
    let jit = Jit::new(text);
    let g = jit_fn!(jit, fn(u32) -> u32);
    for (i, want) in [
        (0u32, 10u32),
        (1, 20),
        (2, 30),
        (3, 20),
        (4, 40),
        (100, 40),
        (u32::MAX, 40),
    ] {
        assert_eq!(g(i), want, "index {i}");
    }
}

#[test]
fn many_args_and_callee_saves() {
    // Eight arguments (two on the stack) and enough live values to need
    // callee-saved registers.
    let text = "function %f(i64, i64, i64, i64, i64, i64, i64, i64) -> i64 {
block0(v0: i64, v1: i64, v2: i64, v3: i64, v4: i64, v5: i64, v6: i64, v7: i64):
    v10 = imul v0, v1
    v11 = imul v2, v3
    v12 = imul v4, v5
    v13 = imul v6, v7
    v14 = imul v0, v7
    v15 = imul v1, v6
    v16 = imul v2, v5
    v17 = imul v3, v4
    v18 = iadd v10, v11
    v19 = iadd v12, v13
    v20 = iadd v14, v15
    v21 = iadd v16, v17
    v22 = bxor v18, v19
    v23 = bxor v20, v21
    v24 = isub v22, v23
    v25 = iadd v24, v0
    v26 = iadd v25, v7
    return v26
}
";
    let jit = Jit::new(text);
    let g = jit_fn!(jit, fn(i64, i64, i64, i64, i64, i64, i64, i64) -> i64);
    for (a, b) in pairs() {
        let v = [
            a,
            b,
            a ^ b,
            a.wrapping_add(3),
            b.wrapping_sub(9),
            5,
            a >> 3,
            b << 2,
        ];
        let m = |x: i64, y: i64| x.wrapping_mul(y);
        let r18 = m(v[0], v[1]).wrapping_add(m(v[2], v[3]));
        let r19 = m(v[4], v[5]).wrapping_add(m(v[6], v[7]));
        let r20 = m(v[0], v[7]).wrapping_add(m(v[1], v[6]));
        let r21 = m(v[2], v[5]).wrapping_add(m(v[3], v[4]));
        let want = ((r18 ^ r19).wrapping_sub(r20 ^ r21))
            .wrapping_add(v[0])
            .wrapping_add(v[7]);
        assert_eq!(g(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]), want);
    }
}

/// Several functions of one CLIF text placed in one executable region, with
/// `%name` relocations (calls and `func_addr`) resolved between them.
struct Module {
    mem: ExecutableMemory,
    offsets: std::collections::HashMap<String, usize>,
}

impl Module {
    fn new(text: &str) -> Module {
        use kiln_codegen::machinst::buffer::{Reloc, RelocTarget};
        let funcs = kiln_reader::parse_functions(text).expect("parse");
        let mut codes = Vec::new();
        let mut offsets = std::collections::HashMap::new();
        let mut at = 0usize;
        for f in &funcs {
            let code = isa()
                .compile_stencil(&f.stencil)
                .unwrap_or_else(|e| panic!("compile {}: {e}", f.name));
            let name = f.name.to_string().trim_start_matches('%').to_string();
            offsets.insert(name, at);
            at = (at + code.code.len() + 15) & !15;
            codes.push(code);
        }
        let mut mem = ExecutableMemory::new(at.max(1)).expect("mmap");
        let base = mem.base() as usize;
        let bytes = mem.bytes_mut().expect("writable");
        for (code, f) in codes.iter().zip(&funcs) {
            let start = offsets[f.name.to_string().trim_start_matches('%')];
            bytes[start..start + code.code.len()].copy_from_slice(&code.code);
            for r in &code.relocs {
                let RelocTarget::TestCase(i) = r.target else {
                    panic!("unexpected relocation target {:?}", r.target);
                };
                let target = base + offsets[code.testcase_names[i as usize].as_str()];
                let at = start + r.offset as usize;
                let value = (target as i64).wrapping_add(r.addend);
                match r.kind {
                    Reloc::X86CallPCRel4 | Reloc::X86PCRel4 => {
                        let rel = value - (base + at) as i64;
                        bytes[at..at + 4].copy_from_slice(&(rel as i32).to_le_bytes());
                    }
                    Reloc::Abs8 => bytes[at..at + 8].copy_from_slice(&value.to_le_bytes()),
                    k => panic!("unexpected relocation kind {k:?}"),
                }
            }
        }
        mem.seal().expect("seal");
        Module { mem, offsets }
    }
    fn addr(&self, name: &str) -> *const u8 {
        // SAFETY: the offset is inside the mapping (a function start).
        unsafe { self.mem.base().add(self.offsets[name]) }
    }
}

#[test]
fn calls_between_functions() {
    let text = "function %callee(i64, i64, i64, i64, i64, i64, i64, i64) -> i64 {
block0(v0: i64, v1: i64, v2: i64, v3: i64, v4: i64, v5: i64, v6: i64, v7: i64):
    v8 = isub v0, v1
    v9 = imul v8, v7
    v10 = iadd v9, v6
    v11 = bxor v10, v2
    v12 = iadd v11, v3
    v13 = iadd v12, v4
    v14 = iadd v13, v5
    return v14
}

function %many_rets(i64) -> i64, i64, i64, i64, i64 {
block0(v0: i64):
    v1 = iconst.i64 1
    v2 = iadd v0, v1
    v3 = iadd v2, v1
    v4 = iadd v3, v1
    v5 = iadd v4, v1
    return v0, v2, v3, v4, v5
}

function %caller(i64, i64) -> i64 {
    sig0 = (i64, i64, i64, i64, i64, i64, i64, i64) -> i64
    fn0 = colocated %callee(i64, i64, i64, i64, i64, i64, i64, i64) -> i64
    fn1 = %callee(i64, i64, i64, i64, i64, i64, i64, i64) -> i64
    fn2 = colocated %many_rets(i64) -> i64, i64, i64, i64, i64
block0(v0: i64, v1: i64):
    v2 = call fn0(v0, v1, v0, v1, v0, v1, v0, v1)
    v3 = call fn1(v2, v0, v1, v2, v0, v1, v2, v0)
    v4, v5, v6, v7, v8 = call fn2(v3)
    v9 = iadd v4, v8
    v10 = imul v9, v0
    v11 = iadd v10, v1
    v12 = iadd v11, v2
    v13 = func_addr.i64 fn0
    v14 = call_indirect sig0, v13(v12, v0, v1, v2, v3, v4, v5, v6)
    return v14
}
";
    let m = Module::new(text);
    // SAFETY: the region holds the three functions with their relocations
    // resolved; `caller` takes and returns integers (System V).
    let caller = unsafe {
        std::mem::transmute::<*const u8, extern "sysv64" fn(i64, i64) -> i64>(m.addr("caller"))
    };
    let callee = |a: [i64; 8]| {
        (((a[0].wrapping_sub(a[1])).wrapping_mul(a[7])).wrapping_add(a[6]) ^ a[2])
            .wrapping_add(a[3])
            .wrapping_add(a[4])
            .wrapping_add(a[5])
    };
    for (a, b) in pairs() {
        let v2 = callee([a, b, a, b, a, b, a, b]);
        let v3 = callee([v2, a, b, v2, a, b, v2, a]);
        let (v4, v5, v6) = (v3, v3.wrapping_add(1), v3.wrapping_add(2));
        let v8 = v3.wrapping_add(4);
        let v12 = (v4.wrapping_add(v8))
            .wrapping_mul(a)
            .wrapping_add(b)
            .wrapping_add(v2);
        let want = callee([v12, a, b, v2, v3, v4, v5, v6]);
        assert_eq!(caller(a, b), want, "{a} {b}");
    }
}
