#!/usr/bin/env python3
"""Generates i128-div-minmax-atomics.clif: i128 division and remainder,
min/max, and every i128 atomic (rmw of each op, cas, load, store) on a
16-byte aligned slot. Expected values are computed here in Python (exact
integers), independently of Kiln. The aarch64 targets run under qemu with
and without LSE (`caspal` or `ldaxp`/`stlxp`). Run: python3 gen_i128_ops.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
M128 = (1 << 128) - 1
MIN = 1 << 127


def s(x):
    x &= M128
    return x - (1 << 128) if x >> 127 else x


def u(x):
    return x & M128


def lit(x):
    return str(s(x))


V = [0, 1, 2, 7, M128, u(-7), MIN, MIN - 1, 1 << 64, (1 << 64) - 1, u(-(1 << 64)),
     0x0123456789ABCDEF_FEDCBA9876543210, u(-0x5555_0000_1111_2222_3333), 3 << 63,
     0xFFFF_FFFF_0000_0001_8000_0000_0000_0000]


def pairs(step=3):
    out = []
    for i, a in enumerate(V):
        for b in V[i % step::step]:
            out.append((a, b))
    return out


def trunc_div(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def binop(o, name, op, rows):
    o.append("function %%%s(i128, i128) -> i128 {\nblock0(v0: i128, v1: i128):\n"
             "    v2 = %s v0, v1\n    return v2\n}\n" % (name, op))
    for a, b, r in rows:
        o.append("; run: %%%s(%s, %s) == %s\n" % (name, lit(a), lit(b), lit(r)))
    o.append("\n")


def main():
    o = ["; i128 division and remainder (libcalls on aarch64), min/max, and the\n"
         "; i128 atomics (caspal with has_lse, ldaxp/stlxp loops without).\n"
         "; Expectations from gen_i128_ops.py.\n"
         "test interpret\ntest run\nset enable_llvm_abi_extensions=true\n"
         "set enable_multi_ret_implicit_sret=true\n"
         "target x86_64\ntarget aarch64\ntarget aarch64 has_lse\n\n"]
    ps = pairs()
    # Division: no zero divisor; no MIN / -1 for sdiv (it traps), but
    # MIN % -1 == 0 for srem.
    nz = [(a, b) for a, b in ps if b != 0]
    binop(o, "udiv", "udiv", [(a, b, a // b) for a, b in nz])
    binop(o, "urem", "urem", [(a, b, a % b) for a, b in nz])
    sd = [(a, b) for a, b in nz if not (a == MIN and b == M128)]
    binop(o, "sdiv", "sdiv", [(a, b, u(trunc_div(s(a), s(b)))) for a, b in sd])
    srem_rows = [(a, b, u(s(a) - trunc_div(s(a), s(b)) * s(b))) for a, b in nz]
    srem_rows.append((MIN, M128, 0))
    binop(o, "srem", "srem", srem_rows)
    for op, f in (("umin", lambda a, b: min(a, b)), ("umax", lambda a, b: max(a, b)),
                  ("smin", lambda a, b: u(min(s(a), s(b)))),
                  ("smax", lambda a, b: u(max(s(a), s(b))))):
        binop(o, op, op, [(a, b, f(a, b)) for a, b in ps])

    slot = "    ss0 = explicit_slot 16, align = 16\n\n"
    rmw = {
        "add": lambda a, b: u(a + b), "sub": lambda a, b: u(a - b),
        "and": lambda a, b: a & b, "nand": lambda a, b: u(~(a & b)),
        "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b, "xchg": lambda a, b: b,
        "umin": min, "umax": max,
        "smin": lambda a, b: u(min(s(a), s(b))), "smax": lambda a, b: u(max(s(a), s(b))),
    }
    for op, f in rmw.items():
        name = "atomic_rmw_%s" % op
        o.append("function %%%s(i128, i128) -> i128, i128 {\n%s"
                 "block0(v0: i128, v1: i128):\n    v2 = stack_addr.i64 ss0\n"
                 "    store.i128 notrap aligned v0, v2\n"
                 "    v3 = atomic_rmw.i128 %s v2, v1\n"
                 "    v4 = load.i128 notrap aligned v2\n    return v3, v4\n}\n" % (name, slot, op))
        for a, b in ps[::2]:
            o.append("; run: %%%s(%s, %s) == [%s, %s]\n" % (name, lit(a), lit(b), lit(a), lit(f(a, b))))
        o.append("\n")
    # cas: swapped exactly when memory equals the expected value (which
    # differs from it in the low half only, the high half only, or not).
    o.append("function %%atomic_cas(i128, i128, i128) -> i128, i128 {\n%s"
             "block0(v0: i128, v1: i128, v2: i128):\n    v3 = stack_addr.i64 ss0\n"
             "    store.i128 notrap aligned v0, v3\n"
             "    v4 = atomic_cas v3, v1, v2\n"
             "    v5 = load.i128 notrap aligned v3\n    return v4, v5\n}\n" % slot)
    for a, r in ps[::3]:
        for e in (a, a ^ 1, a ^ (1 << 100)):
            o.append("; run: %%atomic_cas(%s, %s, %s) == [%s, %s]\n"
                     % (lit(a), lit(e), lit(r), lit(a), lit(r if e == a else a)))
    o.append("\n")
    # The same value expected and stored (one register for both on entry).
    o.append("function %%atomic_cas_same(i128, i128) -> i128, i128 {\n%s"
             "block0(v0: i128, v1: i128):\n    v3 = stack_addr.i64 ss0\n"
             "    store.i128 notrap aligned v0, v3\n"
             "    v4 = atomic_cas v3, v1, v1\n"
             "    v5 = load.i128 notrap aligned v3\n    return v4, v5\n}\n" % slot)
    for a in V:
        for e in (a, u(a + 1)):
            o.append("; run: %%atomic_cas_same(%s, %s) == [%s, %s]\n" % (lit(a), lit(e), lit(a), lit(a)))
    o.append("\n")
    # The address's register also is both halves of the expected value
    # (one vreg in x0, x1 and the address with LSE). A stack address never
    # equals these stored values, so nothing is swapped.
    o.append("function %%atomic_cas_addr(i128, i128) -> i128, i128 {\n%s"
             "block0(v0: i128, v1: i128):\n    v3 = stack_addr.i64 ss0\n"
             "    store.i128 notrap aligned v0, v3\n"
             "    v2 = iconcat v3, v3\n"
             "    v4 = atomic_cas v3, v2, v1\n"
             "    v5 = load.i128 notrap aligned v3\n    return v4, v5\n}\n" % slot)
    for a in V:
        o.append("; run: %%atomic_cas_addr(%s, %s) == [%s, %s]\n" % (lit(a), lit(u(~a)), lit(a), lit(a)))
    o.append("\n")
    o.append("function %%atomic_load(i128) -> i128 {\n%s"
             "block0(v0: i128):\n    v1 = stack_addr.i64 ss0\n"
             "    store.i128 notrap aligned v0, v1\n"
             "    v2 = atomic_load.i128 v1\n    return v2\n}\n" % slot)
    for a in V:
        o.append("; run: %%atomic_load(%s) == %s\n" % (lit(a), lit(a)))
    o.append("\n")
    o.append("function %%atomic_store(i128, i128) -> i128 {\n%s"
             "block0(v0: i128, v1: i128):\n    v2 = stack_addr.i64 ss0\n"
             "    store.i128 notrap aligned v0, v2\n"
             "    atomic_store.i128 v1, v2\n"
             "    v3 = load.i128 notrap aligned v2\n    return v3\n}\n" % slot)
    for a, b in ps[::3]:
        o.append("; run: %%atomic_store(%s, %s) == %s\n" % (lit(a), lit(b), lit(b)))
    with open(os.path.join(HERE, "i128-div-minmax-atomics.clif"), "w") as f:
        f.write("".join(o))


if __name__ == "__main__":
    main()
