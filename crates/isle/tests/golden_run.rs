//! The checked-in golden outputs compile and behave as the rules say.

#![deny(warnings)]

mod enums {
    include!("golden/enums.rs");
    pub struct Cx;
    impl Context for Cx {}
}

mod externs {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Value(pub u32);
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Reg(pub u32);
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Inst {
        Iadd(Value, Value),
        Iconst(u64),
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Type(pub u8);
    pub const I32: Type = Type(32);
    pub const I64: Type = Type(64);
    /// Not `Copy`: exercises the clone paths.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Output(pub Vec<String>);
    include!("golden/externs.rs");

    /// Values 0..10 are defined by `insts[v]`.
    pub struct Cx {
        pub insts: Vec<Inst>,
    }
    impl Context for Cx {
        fn match_iadd(&mut self, i: &Inst) -> Option<(Value, Value)> {
            match i {
                Inst::Iadd(a, b) => Some((*a, *b)),
                _ => None,
            }
        }
        fn def_inst(&mut self, v: &Value) -> Option<Inst> {
            self.insts.get(v.0 as usize).copied()
        }
        fn match_const(&mut self, v: &Value) -> Option<u64> {
            match self.insts.get(v.0 as usize) {
                Some(Inst::Iconst(c)) => Some(*c),
                _ => None,
            }
        }
        fn put_in_reg(&mut self, v: Value) -> Reg {
            Reg(v.0 + 100)
        }
        fn output_reg(&mut self, r: Reg) -> Output {
            Output(vec![format!("r{}", r.0)])
        }
        fn add_rr(&mut self, a: Reg, b: Reg) -> Reg {
            Reg(a.0 * 1000 + b.0)
        }
        fn simm32(&mut self, c: u64) -> Option<u64> {
            (c <= i32::MAX as u64).then_some(c)
        }
        fn add_ri(&mut self, a: Reg, c: u64) -> Reg {
            Reg(a.0 + c as u32 * 7)
        }
    }
}

#[test]
fn enums_golden_behaves() {
    use enums::*;
    let mut cx = Cx;
    assert_eq!(
        constructor_classify(&mut cx, Op::Imm { value: 0 }),
        Kind::Small
    );
    assert_eq!(
        constructor_classify(&mut cx, Op::Imm { value: 2 }),
        Kind::Big
    );
    assert_eq!(
        constructor_classify(&mut cx, Op::Pair { a: 3, b: 3 }),
        Kind::Small
    );
    assert_eq!(
        constructor_classify(&mut cx, Op::Pair { a: 3, b: 4 }),
        Kind::Big
    );
    assert_eq!(
        constructor_classify(&mut cx, Op::Flag { on: true }),
        Kind::Small
    );
    assert_eq!(
        constructor_classify(&mut cx, Op::Flag { on: false }),
        Kind::Big
    );
    assert_eq!(constructor_classify(&mut cx, Op::Nop), Kind::Big);
    assert_eq!(
        constructor_swap(&mut cx, Op::Pair { a: 1, b: 2 }),
        Op::Pair { a: 2, b: 1 }
    );
    assert_eq!(constructor_swap(&mut cx, Op::Nop), Op::Nop);
    assert_eq!(constructor_width(&mut cx, 16), 2);
    assert_eq!(constructor_width(&mut cx, 17), 0);
}

#[test]
fn externs_golden_behaves() {
    use externs::*;
    // v0 = iconst 5, v1 = iconst 2^40, v2 = iadd v3 v4
    let mut cx = Cx {
        insts: vec![
            Inst::Iconst(5),
            Inst::Iconst(1 << 40),
            Inst::Iadd(Value(3), Value(4)),
        ],
    };
    let r = |n: u32| Some(Output(vec![format!("r{}", n)]));
    // iadd v7 v0 -> add_ri(107, 5)
    assert_eq!(
        constructor_lower(&mut cx, Inst::Iadd(Value(7), Value(0))),
        r(107 + 35)
    );
    // iadd v7 v1: immediate too large -> add_rr
    assert_eq!(
        constructor_lower(&mut cx, Inst::Iadd(Value(7), Value(1))),
        r(107 * 1000 + 101)
    );
    // iadd v7 v2 where v2 = iadd v3 v4 -> priority 2 rule
    assert_eq!(
        constructor_lower(&mut cx, Inst::Iadd(Value(7), Value(2))),
        r(103 * 1000 + 104)
    );
    assert_eq!(constructor_lower(&mut cx, Inst::Iconst(1)), None);
}

#[test]
fn hoisted_rules_keep_their_meaning() {
    use enums::*;
    let mut cx = Cx;
    assert_eq!(constructor_hoist(&mut cx, Op::Imm { value: 9 }, 3), 9);
    assert_eq!(constructor_hoist(&mut cx, Op::Imm { value: 9 }, 7), 70);
    assert_eq!(constructor_hoist(&mut cx, Op::Nop, 3), 30);
    assert_eq!(constructor_hoist(&mut cx, Op::Nop, 7), 70);
    assert_eq!(constructor_hoist(&mut cx, Op::Nop, 8), 0);
    assert_eq!(constructor_hoist(&mut cx, Op::Flag { on: true }, 3), 0);
}

#[test]
fn moved_values_are_intact() {
    use enums::*;
    let mut cx = Cx;
    assert_eq!(
        constructor_wrap(&mut cx, Op::Pair { a: 1, b: 2 }),
        Op::Pair { a: 1, b: 2 }
    );
    assert_eq!(
        constructor_wrap(&mut cx, Op::Imm { value: 5 }),
        Op::Imm { value: 5 }
    );
    assert_eq!(constructor_wrap(&mut cx, Op::Nop), Op::Nop);
}

#[test]
fn extern_constants() {
    use externs::*;
    let mut cx = Cx { insts: vec![] };
    assert_eq!(constructor_type_bits(&mut cx, I32), 32);
    assert_eq!(constructor_type_bits(&mut cx, I64), 64);
    assert_eq!(constructor_type_bits(&mut cx, Type(8)), 0);
    assert_eq!(constructor_default_type(&mut cx), I64);
}

mod literals {
    include!("golden/literals.rs");
    pub struct Cx;
    impl Context for Cx {}
}

#[test]
fn literals_golden_keeps_types_apart() {
    use literals::{constructor_make, constructor_pick, Cx, Out};
    let out = |b, n, m| Out::Out { flag: b, n, m };
    assert_eq!(constructor_make(&mut Cx, 0), out(false, 0, 0));
    assert_eq!(constructor_make(&mut Cx, 1), out(true, 1, 1));
    assert_eq!(constructor_make(&mut Cx, 2), out(false, 1, 0));
    assert_eq!(constructor_make(&mut Cx, 9), out(true, 0, 1));
    assert_eq!(constructor_pick(&mut Cx, false, 0), 10);
    assert_eq!(constructor_pick(&mut Cx, true, 0), 11);
    assert_eq!(constructor_pick(&mut Cx, false, 1), 12);
    assert_eq!(constructor_pick(&mut Cx, true, 1), 13);
}
