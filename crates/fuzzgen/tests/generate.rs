//! Generated functions are structurally valid for many random inputs, and
//! mutations change what they promise to change.

use kiln_fuzzgen::{
    called_user_names, generate, generate_mutation, generate_program, Config, GenError, Input,
    Mutation,
};
use kiln_ir::{BlockArg, Function, Opcode, Type, ValueData};

/// A small deterministic PRNG for test inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = 4 + (self.next() as usize % max_len);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Structural checks that do not need the verifier: the entry block takes
/// the signature's parameters, every block ends in exactly one terminator,
/// operands are defined non-alias values, branch arguments match the
/// destination's parameters in number and type, returns match the
/// signature.
pub fn check_structure(func: &Function) -> Result<(), String> {
    let f = &func.stencil;
    let dfg = &f.dfg;
    let entry = f.layout.entry_block().ok_or("no entry block")?;
    let entry_tys: Vec<Type> = dfg
        .block_params(entry)
        .iter()
        .map(|&v| dfg.value_type(v))
        .collect();
    let sig_tys: Vec<Type> = f.signature.params.iter().map(|p| p.value_type).collect();
    if entry_tys != sig_tys {
        return Err(format!(
            "entry params {entry_tys:?} != signature {sig_tys:?}"
        ));
    }
    for block in f.layout.blocks() {
        let last = f
            .layout
            .last_inst(block)
            .ok_or(format!("{block} is empty"))?;
        for inst in f.layout.block_insts(block) {
            let op = dfg.opcode(inst);
            if op.is_terminator() != (inst == last) {
                return Err(format!("{block}: misplaced terminator {op} at {inst}"));
            }
            for &v in dfg.inst_args(inst) {
                match dfg.values.get(v) {
                    Some(ValueData::Inst { .. } | ValueData::Param { .. }) => {}
                    other => return Err(format!("{inst}: operand {v} is {other:?}")),
                }
            }
            for call in dfg.branch_destinations(inst) {
                let params = dfg.block_params(call.block);
                let args = dfg.block_call_args(*call);
                if params.len() != args.len() {
                    return Err(format!(
                        "{inst}: {} args for {} params of {}",
                        args.len(),
                        params.len(),
                        call.block
                    ));
                }
                for (a, &p) in args.iter().zip(params) {
                    let BlockArg::Value(a) = a else {
                        return Err(format!("{inst}: non-value block arg"));
                    };
                    if dfg.value_type(*a) != dfg.value_type(p) {
                        return Err(format!("{inst}: arg {a} for param {p}: type mismatch"));
                    }
                    if !matches!(
                        dfg.values[*a],
                        ValueData::Inst { .. } | ValueData::Param { .. }
                    ) {
                        return Err(format!("{inst}: block arg {a} is not defined"));
                    }
                }
            }
            if op == Opcode::Return {
                let tys: Vec<Type> = dfg
                    .inst_args(inst)
                    .iter()
                    .map(|&v| dfg.value_type(v))
                    .collect();
                let want: Vec<Type> = f.signature.returns.iter().map(|p| p.value_type).collect();
                if tys != want {
                    return Err(format!("{inst}: returns {tys:?}, signature {want:?}"));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn too_short_inputs_are_rejected() {
    assert_eq!(
        generate(&[1, 2], &Config::default()).err(),
        Some(GenError::NotEnoughData)
    );
    // Four zero bytes are enough for a (trivial) function.
    let f = generate(&[0; 4], &Config::default()).unwrap();
    check_structure(&f).unwrap();
}

#[test]
fn many_random_inputs_give_sane_functions() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let configs = [
        Config::default(),
        Config::integer_only(),
        Config::default().with_i128(),
    ];
    let mut insts = 0;
    let mut loops = 0;
    let mut calls = 0;
    for i in 0..2000 {
        let bytes = rng.bytes(1500);
        let config = &configs[i % configs.len()];
        let program = generate_program(&bytes, config).unwrap_or_else(|e| panic!("#{i}: {e}"));
        // `generate` builds the very same main function.
        let main = generate(&bytes, config).unwrap();
        assert_eq!(
            format!("{:?}", main.stencil),
            format!("{:?}", program.main.stencil)
        );
        for f in program.functions() {
            check_structure(f).unwrap_or_else(|e| panic!("#{i} {}: {e}", f.name));
            insts += f.stencil.dfg.num_insts();
        }
        let dfg = &program.main.stencil.dfg;
        calls += dfg
            .insts
            .values()
            .filter(|d| d.opcode() == Opcode::Call)
            .count();
        loops += program
            .main
            .stencil
            .layout
            .blocks()
            .filter(|&b| !dfg.block_params(b).is_empty())
            .count();
        assert_eq!(
            program.args.len(),
            program.main.stencil.signature.params.len()
        );
        assert_eq!(
            called_user_names(&program.main).len(),
            program.callees.len()
        );
    }
    // The inputs exercise the interesting parts.
    assert!(insts > 100_000, "{insts} instructions");
    assert!(loops > 500, "{loops} blocks with parameters");
    assert!(calls > 500, "{calls} calls");
}

#[test]
fn opcode_set_is_respected() {
    let config = Config {
        opcodes: vec![Opcode::Iadd, Opcode::Bxor],
        types: vec![Type::I32, Type::I64],
        ..Config::default()
    };
    let allowed = [
        Opcode::Iadd,
        Opcode::Bxor,
        // Always available: constants, control flow, memory, calls, and
        // the loop counter's compare.
        Opcode::Iconst,
        Opcode::Icmp,
        Opcode::Jump,
        Opcode::Brif,
        Opcode::BrTable,
        Opcode::Return,
        Opcode::StackAddr,
        Opcode::Load,
        Opcode::Store,
        Opcode::Call,
    ];
    let mut rng = XorShift(42);
    for _ in 0..200 {
        let f = generate(&rng.bytes(800), &config).unwrap();
        for block in f.stencil.layout.blocks() {
            for inst in f.stencil.layout.block_insts(block) {
                let op = f.stencil.dfg.opcode(inst);
                assert!(allowed.contains(&op), "{op} generated");
            }
        }
    }
}

#[test]
fn divisions_get_a_safe_divisor() {
    let config = Config {
        opcodes: vec![Opcode::Sdiv, Opcode::Udiv, Opcode::Srem, Opcode::Urem],
        types: vec![Type::I8, Type::I32],
        ..Config::default()
    };
    let mut rng = XorShift(7);
    let mut seen = 0;
    // (signed op, negative, a power of two) of the constant divisors.
    let mut constants = std::collections::HashSet::new();
    for _ in 0..300 {
        let f = generate(&rng.bytes(600), &config).unwrap();
        let dfg = &f.stencil.dfg;
        for block in f.stencil.layout.blocks() {
            for inst in f.stencil.layout.block_insts(block) {
                let op = dfg.opcode(inst);
                if !matches!(
                    op,
                    Opcode::Sdiv | Opcode::Udiv | Opcode::Srem | Opcode::Urem
                ) {
                    continue;
                }
                seen += 1;
                // The divisor is a constant that is neither 0 nor (for
                // signed ops) -1, or `bor x, 1`, of `ushr y, 1` for
                // signed ops.
                let d = dfg.inst_args(inst)[1];
                let kiln_ir::ValueDef::Result(bor, _) = dfg.value_def(d).unwrap() else {
                    panic!("divisor is a parameter");
                };
                if let kiln_ir::InstructionData::UnaryImm { imm, .. } = dfg.insts[bor] {
                    let bits = dfg.value_type(d).bits();
                    let c = (imm.0 << (64 - bits)) >> (64 - bits);
                    assert_ne!(c, 0, "{op} by constant 0");
                    let signed = matches!(op, Opcode::Sdiv | Opcode::Srem);
                    assert!(!(signed && c == -1), "{op} by constant -1");
                    constants.insert((signed, c < 0, c.unsigned_abs().is_power_of_two()));
                    continue;
                }
                assert_eq!(dfg.opcode(bor), Opcode::Bor);
                if matches!(op, Opcode::Sdiv | Opcode::Srem) {
                    let x = dfg.inst_args(bor)[0];
                    let kiln_ir::ValueDef::Result(shr, _) = dfg.value_def(x).unwrap() else {
                        panic!()
                    };
                    assert_eq!(dfg.opcode(shr), Opcode::Ushr);
                }
            }
        }
    }
    assert!(seen > 100);
    // Constant divisors of every shape the mid-end rewrites, both signs.
    assert_eq!(constants.len(), 8, "{constants:?}");
}

#[test]
fn mutations_do_what_they_say() {
    let mut rng = XorShift(1234);
    let (mut params_only, mut stencil) = (0, 0);
    for _ in 0..500 {
        let bytes = rng.bytes(800);
        let mut f = generate(&bytes, &Config::default()).unwrap();
        let before = format!("{:?}", f.stencil);
        let params_before = format!("{:?}", f.params);
        let m = generate_mutation(&mut f, &rng.bytes(16));
        let after = format!("{:?}", f.stencil);
        check_structure(&f).unwrap();
        match &m {
            Mutation::ParamsOnly(_) => {
                params_only += 1;
                assert_eq!(before, after, "{m:?}");
                assert_ne!(params_before, format!("{:?}", f.params), "{m:?}");
            }
            Mutation::Stencil(_) => {
                stencil += 1;
                assert_ne!(before, after, "{m:?}");
                assert_eq!(params_before, format!("{:?}", f.params));
            }
        }
        assert_eq!(m.key_must_change(), matches!(m, Mutation::Stencil(_)));
    }
    assert!(
        params_only > 100 && stencil > 100,
        "{params_only} {stencil}"
    );
}

#[test]
fn params_mutation_renames_a_callee_when_there_is_one() {
    let mut rng = XorShift(99);
    let mut renamed = 0;
    for _ in 0..200 {
        let mut f = generate(&rng.bytes(400), &Config::default()).unwrap();
        let names = called_user_names(&f);
        if names.is_empty() {
            continue;
        }
        // Zero bytes: the first choices, which prefer renaming.
        let m = kiln_fuzzgen::mutate_params(&mut f, &mut Input::new(&[0; 8]));
        if let Mutation::ParamsOnly(d) = &m {
            if d.starts_with("renamed") {
                renamed += 1;
                assert_ne!(called_user_names(&f), names);
            }
        }
    }
    assert!(renamed > 50);
}

#[test]
fn traps_only_when_allowed() {
    let mut rng = XorShift(31337);
    let trapping = |f: &Function| {
        f.stencil
            .layout
            .blocks()
            .flat_map(|b| f.stencil.layout.block_insts(b))
            .filter(|&i| {
                let op = f.stencil.dfg.opcode(i);
                op.can_trap() && !matches!(op, Opcode::Load | Opcode::Store)
            })
            .map(|i| f.stencil.dfg.opcode(i))
            .collect::<Vec<_>>()
    };
    let allow = Config {
        allow_traps: true,
        ..Config::default()
    };
    let mut seen = 0;
    for _ in 0..300 {
        let bytes = rng.bytes(800);
        let safe = generate(&bytes, &Config::default()).unwrap();
        // Division stays, with a safe divisor; nothing else that traps.
        assert!(trapping(&safe).iter().all(|op| matches!(
            op,
            Opcode::Udiv | Opcode::Sdiv | Opcode::Urem | Opcode::Srem
        )));
        let f = generate(&bytes, &allow).unwrap();
        check_structure(&f).unwrap();
        seen += trapping(&f)
            .iter()
            .filter(|op| matches!(op, Opcode::Trapz | Opcode::Trapnz | Opcode::FcvtToSint))
            .count();
    }
    assert!(seen > 50, "{seen}");
}

/// Atomics come in every integer type of the configuration, i128 too, at
/// naturally aligned offsets of the slot (16 bytes for i128: `ldaxp`,
/// `caspal` and `cmpxchg16b` fault on anything less).
#[test]
fn atomics_cover_i128_aligned() {
    let config = Config {
        types: vec![Type::I8, Type::I128],
        atomics: true,
        ..Config::default()
    };
    let mut rng = XorShift(99);
    let mut by_type = std::collections::HashMap::<(Opcode, Type), usize>::new();
    for _ in 0..400 {
        let f = generate(&rng.bytes(800), &config).unwrap();
        let dfg = &f.stencil.dfg;
        for block in f.stencil.layout.blocks() {
            for inst in f.stencil.layout.block_insts(block) {
                let op = dfg.opcode(inst);
                let (addr, ty) = match op {
                    Opcode::AtomicRmw | Opcode::AtomicCas | Opcode::AtomicLoad => (
                        dfg.inst_args(inst)[0],
                        dfg.value_type(dfg.first_result(inst).unwrap()),
                    ),
                    Opcode::AtomicStore => {
                        let a = dfg.inst_args(inst);
                        (a[1], dfg.value_type(a[0]))
                    }
                    _ => continue,
                };
                *by_type.entry((op, ty)).or_default() += 1;
                let kiln_ir::ValueDef::Result(sa, _) = dfg.value_def(addr).unwrap() else {
                    panic!("atomic address is a parameter");
                };
                assert_eq!(dfg.opcode(sa), Opcode::StackAddr);
                let kiln_ir::InstructionData::StackLoad { offset, .. } = dfg.insts[sa] else {
                    panic!("stack_addr without an offset");
                };
                assert_eq!(offset.0 % ty.bytes() as i32, 0, "{op} {ty} at {}", offset.0);
            }
        }
    }
    for op in [
        Opcode::AtomicRmw,
        Opcode::AtomicCas,
        Opcode::AtomicLoad,
        Opcode::AtomicStore,
    ] {
        for ty in [Type::I8, Type::I128] {
            assert!(
                by_type.get(&(op, ty)).copied().unwrap_or(0) > 5,
                "{op} {ty}: {by_type:?}"
            );
        }
    }
}

/// With `bit_idioms` the generator builds each idiom the x86-64 BMI rules
/// match (which random operand choice almost never does): `x & (x - 1)`,
/// `x ^ (x - 1)`, `x & -x`, `x & !y` and `x & ((1 << n) - 1)`.
#[test]
fn bit_idioms_are_generated() {
    let config = Config {
        bit_idioms: true,
        ..Config::integer_only()
    };
    let mut rng = XorShift(99);
    // blsr, blsmsk, blsi, andn, bzhi shapes
    let mut seen = [0usize; 5];
    for _ in 0..400 {
        let f = generate(&rng.bytes(800), &config).unwrap();
        let dfg = &f.stencil.dfg;
        let def = |v| match dfg.value_def(v) {
            Some(kiln_ir::ValueDef::Result(i, _)) => Some(i),
            _ => None,
        };
        for block in f.stencil.layout.blocks() {
            for inst in f.stencil.layout.block_insts(block) {
                let op = dfg.opcode(inst);
                if !matches!(op, Opcode::Band | Opcode::Bxor) {
                    continue;
                }
                let args = dfg.inst_args(inst);
                for (x, other) in [(args[0], args[1]), (args[1], args[0])] {
                    let Some(d) = def(other) else { continue };
                    let dargs = dfg.inst_args(d);
                    let inner_op = dfg.opcode(d);
                    let dec = matches!(inner_op, Opcode::Iadd | Opcode::Isub);
                    if dec && dargs[0] == x {
                        seen[if op == Opcode::Band { 0 } else { 1 }] += 1;
                    } else if op == Opcode::Band
                        && (inner_op == Opcode::Ineg || (inner_op == Opcode::Isub && dargs[1] == x))
                        && dargs.last() == Some(&x)
                    {
                        seen[2] += 1;
                    } else if op == Opcode::Band && matches!(inner_op, Opcode::Bnot | Opcode::Bxor)
                    {
                        seen[3] += 1;
                    } else if op == Opcode::Band
                        && dec
                        && def(dargs[0]).map(|s| dfg.opcode(s)) == Some(Opcode::Ishl)
                    {
                        seen[4] += 1;
                    }
                }
            }
        }
    }
    assert!(seen.iter().all(|&n| n >= 10), "idioms seen: {seen:?}");
}
