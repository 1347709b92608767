#!/usr/bin/env python3
"""Generates intops.clif: the integer operations beyond the core (bit
reversal, carry-in/borrow-in overflow forms at every width; i128 byte swap,
population count, leading sign bits, absolute value, bmask, bitcast,
min/max, rotates, division and overflow arithmetic).

Every expected value is computed here in Python on unbounded integers,
independently of Kiln. Run: python3 gen_intops.py
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
WIDTHS = (8, 16, 32, 64, 128)


def u(x, n):
    return x & ((1 << n) - 1)


def s(x, n):
    x = u(x, n)
    return x - (1 << n) if x >> (n - 1) else x


def lit(x, n):
    return str(s(x, n))


def interesting(n):
    m = (1 << n) - 1
    vals = [0, 1, m, m >> 1, 1 << (n - 1), 0x5A, (0x0123456789ABCDEF0FEDCBA987654321 & m) | 1]
    if n >= 16:
        vals.append(0xF00F & m)
    if n == 128:
        vals += [1 << 64, (1 << 64) - 1, 0xFFFFFFFFFFFFFFFF0000000000000001, 3 << 62]
    # A few pseudo-random values too (fixed seed: the file is stable).
    rng = random.Random(n)
    vals += [rng.getrandbits(n) for _ in range(3)]
    out = []
    for v in vals:
        if u(v, n) not in out:
            out.append(u(v, n))
    return out


def pairs(n):
    vs = interesting(n)
    return [(a, b) for i, a in enumerate(vs) for b in vs[i % 2 :: 2]]


def func(name, params, rets, body):
    args = ", ".join("v%d: %s" % (i, t) for i, t in enumerate(params))
    return "function %%%s(%s) -> %s {\nblock0(%s):\n%s}\n" % (
        name,
        ", ".join(params),
        ", ".join(rets),
        args,
        body,
    )


def run(name, args, res):
    r = res[0] if len(res) == 1 else "[%s]" % ", ".join(res)
    return "; run: %%%s(%s) == %s\n" % (name, ", ".join(args), r)


# ------------------------------------------------------------- semantics
def bitrev(x, n):
    return int(format(u(x, n), "0%db" % n)[::-1], 2)


def bswap(x, n):
    return int.from_bytes(u(x, n).to_bytes(n // 8, "little"), "big")


def popcnt(x, n):
    return bin(u(x, n)).count("1")


def cls(x, n):
    x = u(x, n)
    sign = x >> (n - 1)
    c = 0
    for i in range(n - 2, -1, -1):
        if (x >> i) & 1 != sign:
            break
        c += 1
    return c


def rotl(x, k, n):
    k %= n
    x = u(x, n)
    return u((x << k) | (x >> (n - k)), n)


def carry(op, a, b, c, n):
    """(result, overflow) of the add/sub overflow forms; c is 0 or 1."""
    if op.startswith("uadd"):
        r = u(a, n) + u(b, n) + c
        return u(r, n), int(r >= 1 << n)
    if op.startswith("usub"):
        r = u(a, n) - u(b, n) - c
        return u(r, n), int(r < 0)
    if op.startswith("sadd"):
        r = s(a, n) + s(b, n) + c
    else:
        r = s(a, n) - s(b, n) - c
    return u(r, n), int(not -(1 << (n - 1)) <= r < (1 << (n - 1)))


def tdiv(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


# ------------------------------------------------------------- the file
def intops_file():
    out = [
        "; Integer operations beyond the core: bitrev at every width, the\n"
        "; carry-in / borrow-in overflow forms at every width, uadd_overflow_trap,\n"
        "; and the rest of i128 (bswap, popcnt, cls, iabs, bmask, bitcast,\n"
        "; min/max, rotates, division, overflow arithmetic, umulhi/smulhi,\n"
        "; extending loads and truncating stores, atomics). Expectations from\n"
        "; gen_intops.py. The second target runs i128 cls through lzcnt.\n",
        "test interpret\ntest run\nset enable_llvm_abi_extensions=true\nset enable_multi_ret_implicit_sret\ntarget x86_64\n"
        "target x86_64 has_bmi1 has_bmi2 has_lzcnt\n\n",
    ]
    for n in WIDTHS:
        t = "i%d" % n
        name = "bitrev_%s" % t
        out.append(func(name, [t], [t], "    v1 = bitrev v0\n    return v1\n"))
        for x in interesting(n):
            out.append(run(name, [lit(x, n)], [lit(bitrev(x, n), n)]))
        out.append("\n")

    for n in WIDTHS:
        t = "i%d" % n
        for op in ("uadd_overflow_cin", "sadd_overflow_cin", "usub_overflow_bin", "ssub_overflow_bin"):
            name = "%s_%s" % (op, t)
            out.append(
                func(
                    name,
                    [t, t, "i8"],
                    [t, "i8"],
                    "    v3, v4 = %s v0, v1, v2\n    return v3, v4\n" % op,
                )
            )
            for k, (a, b) in enumerate(pairs(n)):
                # Any non-zero carry byte counts as a carry of one.
                cin = (0, 1, 2, 0x80)[k % 4]
                r, f = carry(op, a, b, int(cin != 0), n)
                out.append(run(name, [lit(a, n), lit(b, n), lit(cin, 8)], [lit(r, n), str(f)]))
            out.append("\n")

    n = 128
    t = "i128"
    for op in ("uadd_overflow", "sadd_overflow", "usub_overflow", "ssub_overflow"):
        name = "%s_i128" % op
        out.append(func(name, [t, t], [t, "i8"], "    v2, v3 = %s v0, v1\n    return v2, v3\n" % op))
        for a, b in pairs(n):
            r, f = carry(op, a, b, 0, n)
            out.append(run(name, [lit(a, n), lit(b, n)], [lit(r, n), str(f)]))
        out.append("\n")

    unary = {
        "bswap": lambda x: bswap(x, n),
        "popcnt": lambda x: popcnt(x, n),
        "cls": lambda x: cls(x, n),
        "iabs": lambda x: abs(s(x, n)),
    }
    for op, f in unary.items():
        name = "%s_i128" % op
        out.append(func(name, [t], [t], "    v1 = %s v0\n    return v1\n" % op))
        for x in interesting(n):
            out.append(run(name, [lit(x, n)], [lit(f(x), n)]))
        out.append("\n")

    name = "bitcast_i128"
    out.append(func(name, [t], [t], "    v1 = bitcast.i128 v0\n    return v1\n"))
    for x in interesting(n):
        out.append(run(name, [lit(x, n)], [lit(x, n)]))
    out.append("\n")

    for fw, tw in ((128, 8), (128, 64), (128, 128), (8, 128), (64, 128)):
        name = "bmask_i%d_i%d" % (fw, tw)
        out.append(
            func(name, ["i%d" % fw], ["i%d" % tw], "    v1 = bmask.i%d v0\n    return v1\n" % tw)
        )
        for x in interesting(fw):
            out.append(run(name, [lit(x, fw)], [lit(-1 if x else 0, tw)]))
        out.append("\n")

    binary = {
        "smin": lambda a, b: min(s(a, n), s(b, n)),
        "smax": lambda a, b: max(s(a, n), s(b, n)),
        "umin": lambda a, b: min(a, b),
        "umax": lambda a, b: max(a, b),
        "udiv": lambda a, b: None if b == 0 else a // b,
        "urem": lambda a, b: None if b == 0 else a % b,
        "sdiv": lambda a, b: None
        if b == 0 or (s(a, n) == -(1 << 127) and s(b, n) == -1)
        else tdiv(s(a, n), s(b, n)),
        "srem": lambda a, b: None
        if b == 0
        else s(a, n) - tdiv(s(a, n), s(b, n)) * s(b, n),
    }
    div_pairs = pairs(n) + [
        (u(-100, n), 7),
        (100, u(-7, n)),
        (1 << 127, u(-1, n)),
        (u(-(10**30), n), 10**12 + 39),
        ((1 << 127) + 12345, 1 << 64),
    ]
    for op, f in binary.items():
        name = "%s_i128" % op
        out.append(func(name, [t, t], [t], "    v2 = %s v0, v1\n    return v2\n" % op))
        for a, b in div_pairs if op.endswith(("div", "rem")) else pairs(n):
            r = f(a, b)
            if r is None:
                continue
            out.append(run(name, [lit(a, n), lit(b, n)], [lit(r, n)]))
        out.append("\n")

    # High multiplication and multiplication overflow.
    mul_pairs = pairs(n) + [(u(-3, n), 5), (1 << 64, 1 << 63), (1 << 63, u(-(1 << 64), n))]
    for op in ("umulhi", "smulhi"):
        name = "%s_i128" % op
        out.append(func(name, [t, t], [t], "    v2 = %s v0, v1\n    return v2\n" % op))
        for a, b in mul_pairs:
            p = a * b if op == "umulhi" else s(a, n) * s(b, n)
            out.append(run(name, [lit(a, n), lit(b, n)], [lit(p >> n, n)]))
        out.append("\n")
    for op in ("umul_overflow", "smul_overflow"):
        name = "%s_i128" % op
        out.append(func(name, [t, t], [t, "i8"], "    v2, v3 = %s v0, v1\n    return v2, v3\n" % op))
        for a, b in mul_pairs:
            if op == "umul_overflow":
                p = a * b
                f = int(p >= 1 << n)
            else:
                p = s(a, n) * s(b, n)
                f = int(not -(1 << (n - 1)) <= p < (1 << (n - 1)))
            out.append(run(name, [lit(a, n), lit(b, n)], [lit(p, n), str(f)]))
        out.append("\n")

    # Extending loads and truncating stores through a stack slot.
    for bits, op in ((8, "uload8"), (16, "uload16"), (8, "sload8"), (16, "sload16")):
        name = "%s_i128" % op
        out.append(
            "function %%%s(i64) -> i128 {\n    ss0 = explicit_slot 16\nblock0(v0: i64):\n"
            "    v1 = stack_addr.i64 ss0\n    store v0, v1\n    v2 = %s.i128 v1\n    return v2\n}\n"
            % (name, op)
        )
        for x in interesting(64):
            v = u(x, bits) if op[0] == "u" else s(x, bits)
            out.append(run(name, [lit(x, 64)], [lit(v, n)]))
        out.append("\n")
    for bits in (8, 16, 32):
        name = "istore%d_i128" % bits
        out.append(
            "function %%%s(i128) -> i64 {\n    ss0 = explicit_slot 16\nblock0(v0: i128):\n"
            "    v1 = stack_addr.i64 ss0\n    v2 = iconst.i64 -1\n    store v2, v1\n"
            "    istore%d v0, v1\n    v3 = load.i64 v1\n    return v3\n}\n" % (name, bits)
        )
        for x in interesting(n):
            v = (u(-1, 64) >> bits << bits) | u(x, bits)
            out.append(run(name, [lit(x, n)], [lit(v, 64)]))
        out.append("\n")

    # Add with a trap on carry: the non-trapping results.
    for w in (32, 64):
        tw = "i%d" % w
        name = "uadd_overflow_trap_%s" % tw
        out.append(func(name, [tw, tw], [tw], "    v2 = uadd_overflow_trap v0, v1, user1\n    return v2\n"))
        for a, b in pairs(w):
            if a + b < 1 << w:
                out.append(run(name, [lit(a, w), lit(b, w)], [lit(a + b, w)]))
        out.append("\n")

    # Atomics through a 16-byte stack slot (lock cmpxchg16b on x86-64).
    rmw = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "and": lambda a, b: a & b,
        "nand": lambda a, b: ~(a & b),
        "or": lambda a, b: a | b,
        "xor": lambda a, b: a ^ b,
        "xchg": lambda a, b: b,
        "umin": lambda a, b: min(u(a, n), u(b, n)),
        "umax": lambda a, b: max(u(a, n), u(b, n)),
        "smin": lambda a, b: min(s(a, n), s(b, n)),
        "smax": lambda a, b: max(s(a, n), s(b, n)),
    }
    slot = "    ss0 = explicit_slot 16\n"
    for op, f in rmw.items():
        for what, ret in (("old", "v3"), ("mem", "v4")):
            name = "atomic_rmw_%s_i128_%s" % (op, what)
            out.append(
                "function %%%s(i128, i128) -> i128 {\n%sblock0(v0: i128, v1: i128):\n"
                "    v2 = stack_addr.i64 ss0\n    store v0, v2\n"
                "    v3 = atomic_rmw.i128 %s v2, v1\n    v4 = load.i128 v2\n    return %s\n}\n"
                % (name, slot, op, ret)
            )
            for a, b in pairs(n)[::3]:
                r = a if what == "old" else f(a, b)
                out.append(run(name, [lit(a, n), lit(b, n)], [lit(r, n)]))
            out.append("\n")
    for what, ret in (("old", "v4"), ("mem", "v5")):
        name = "atomic_cas_i128_%s" % what
        out.append(
            "function %%%s(i128, i128, i128) -> i128 {\n%sblock0(v0: i128, v1: i128, v2: i128):\n"
            "    v3 = stack_addr.i64 ss0\n    store v0, v3\n"
            "    v4 = atomic_cas.i128 v3, v1, v2\n    v5 = load.i128 v3\n    return %s\n}\n"
            % (name, slot, ret)
        )
        for a, e, r in [(5, 5, 7), (5, 6, 7), (u(-1, n), u(-1, n), 1 << 64), (1 << 64, 1, 3), (0, 0, 0)]:
            exp = a if what == "old" else (r if a == e else a)
            out.append(run(name, [lit(a, n), lit(e, n), lit(r, n)], [lit(exp, n)]))
        out.append("\n")
    name = "atomic_load_store_i128"
    out.append(
        "function %%%s(i128, i128) -> i128 {\n%sblock0(v0: i128, v1: i128):\n"
        "    v2 = stack_addr.i64 ss0\n    store v0, v2\n    v3 = atomic_load.i128 v2\n"
        "    atomic_store v1, v2\n    v4 = load.i128 v2\n    v5 = bxor v3, v4\n    return v5\n}\n"
        % (name, slot)
    )
    for a, b in pairs(n)[::2]:
        out.append(run(name, [lit(a, n), lit(b, n)], [lit(a ^ b, n)]))
    out.append("\n")

    amounts = [0, 1, 5, 63, 64, 65, 100, 127, 128, 129, 200, 255]
    x_vals = [1, 0x0123456789ABCDEF0FEDCBA987654321, 1 << 127, u(-2, n)]
    for amt_ty in ("i8", "i64", "i128"):
        aw = int(amt_ty[1:])
        for op in ("rotl", "rotr"):
            name = "%s_i128_%s" % (op, amt_ty)
            out.append(func(name, [t, amt_ty], [t], "    v2 = %s v0, v1\n    return v2\n" % op))
            for x in x_vals:
                for k in amounts:
                    kk = u(k, aw)
                    r = rotl(x, kk, n) if op == "rotl" else rotl(x, -kk, n)
                    out.append(run(name, [lit(x, n), lit(kk, aw)], [lit(r, n)]))
            out.append("\n")
    return "".join(out)


def main():
    with open(os.path.join(HERE, "intops.clif"), "w") as f:
        f.write(intops_file())


if __name__ == "__main__":
    main()
