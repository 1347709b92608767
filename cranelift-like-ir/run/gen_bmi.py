#!/usr/bin/env python3
"""Generates bmi.clif and bmi-speed.clif: the bit-manipulation patterns
that x86-64 lowers to BMI1/BMI2/LZCNT instructions when the ISA flags allow
them (isle-rules/x64/lower_bmi.isle): x & (x - 1), x & -x, x ^ (x - 1),
x & !y, x & ((1 << n) - 1), rotates by constants, clz/ctz and umulhi, in
every spelling the rules match, at every width, on the edges (0, 1, MIN,
MAX, all ones) and a few other values. Each file runs on x86_64 with the
baseline and with has_bmi1/has_bmi2/has_lzcnt, so every line checks both
lowerings, and on aarch64; bmi-speed.clif is the same at opt_level=speed
(the mid-end's canonical forms: `iadd x -1`, `ineg`, `bnot`).

Every expected value is computed here in Python on unbounded integers,
independently of Kiln. Run: python3 gen_bmi.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
WIDTHS = (8, 16, 32, 64)


def u(x, n):
    return x & ((1 << n) - 1)


def s(x, n):
    x = u(x, n)
    return x - (1 << n) if x >> (n - 1) else x


def values(n):
    vs = [0, 1, 2, 3, -1, (1 << (n - 1)) - 1, -(1 << (n - 1)), 0x50, 1 << (n - 2)]
    vs.append(s(0x9E3779B97F4A7C15, n))
    vs.append(s(0x0123456789ABCDEF << 4, n))
    out = []
    for v in vs:
        v = s(v, n)
        if v not in out:
            out.append(v)
    return out


def unary(name, n, body, f):
    t = "i%d" % n
    lines = ["function %%%s_i%d(%s) -> %s {" % (name, n, t, t), "block0(v0: %s):" % t]
    lines += ["    " + l.replace("TY", t) for l in body]
    lines += ["}"]
    for x in values(n):
        lines.append("; run: %%%s_i%d(%d) == %d" % (name, n, x, s(f(u(x, n)), n)))
    return "\n".join(lines) + "\n"


def binary(name, n, body, f, ys):
    t = "i%d" % n
    lines = [
        "function %%%s_i%d(%s, %s) -> %s {" % (name, n, t, t, t),
        "block0(v0: %s, v1: %s):" % (t, t),
    ]
    lines += ["    " + l.replace("TY", t) for l in body]
    lines += ["}"]
    for x in values(n):
        for y in ys:
            y = s(y, n)
            lines.append(
                "; run: %%%s_i%d(%d, %d) == %d" % (name, n, x, y, s(f(u(x, n), u(y, n)), n))
            )
    return "\n".join(lines) + "\n"


def clz(x, n):
    return n - x.bit_length()


def ctz(x, n):
    if x == 0:
        return n
    return (x & -x).bit_length() - 1


def rotl(x, k, n):
    k %= n
    return u((x << k) | (x >> (n - k)), n)


def functions():
    out = []
    for n in WIDTHS:
        # blsr: x & (x - 1), as iadd -1 and as isub 1, either operand order.
        out.append(unary("blsr_iadd", n, [
            "v1 = iconst.TY -1", "v2 = iadd v0, v1", "v3 = band v0, v2", "return v3"],
            lambda x: x & (x - 1)))
        out.append(unary("blsr_isub", n, [
            "v1 = iconst.TY 1", "v2 = isub v0, v1", "v3 = band v2, v0", "return v3"],
            lambda x: x & (x - 1)))
        # blsi: x & -x.
        out.append(unary("blsi_ineg", n, [
            "v2 = ineg v0", "v3 = band v2, v0", "return v3"],
            lambda x: x & -x))
        out.append(unary("blsi_isub", n, [
            "v1 = iconst.TY 0", "v2 = isub v1, v0", "v3 = band v0, v2", "return v3"],
            lambda x: x & -x))
        # blsmsk: x ^ (x - 1).
        out.append(unary("blsmsk_iadd", n, [
            "v1 = iconst.TY -1", "v2 = iadd v0, v1", "v3 = bxor v2, v0", "return v3"],
            lambda x: x ^ (x - 1)))
        out.append(unary("blsmsk_isub", n, [
            "v1 = iconst.TY 1", "v2 = isub v0, v1", "v3 = bxor v0, v2", "return v3"],
            lambda x: x ^ (x - 1)))
        # The inner value has another use: x - 1 stays computed too.
        out.append(unary("blsr_both_live", n, [
            "v1 = iconst.TY -1", "v2 = iadd v0, v1", "v3 = band v0, v2",
            "v4 = imul v3, v2", "return v4"],
            lambda x: (x & (x - 1)) * (x - 1)))
        ys = [0, 1, -1, 0x0F, 1 << (n - 1), s(0x5A5A5A5A5A5A5A5A, n)]
        # andn: x & !y, as bnot and as bxor -1.
        out.append(binary("andn_bnot", n, [
            "v2 = bnot v1", "v3 = band v0, v2", "return v3"],
            lambda x, y: x & ~y, ys))
        out.append(binary("andn_bxor", n, [
            "v4 = iconst.TY -1", "v2 = bxor v1, v4", "v3 = band v2, v0", "return v3"],
            lambda x, y: x & ~y, ys))
        # bzhi: x & ((1 << n) - 1); ishl takes the count modulo the width.
        counts = [0, 1, n // 2, n - 1, n, n + 1, 2 * n - 1, 255, 256, -1]
        out.append(binary("bzhi_iadd", n, [
            "v4 = iconst.TY 1", "v5 = ishl v4, v1", "v6 = iconst.TY -1",
            "v2 = iadd v5, v6", "v3 = band v0, v2", "return v3"],
            lambda x, c: x & ((1 << (c % n)) - 1), counts))
        out.append(binary("bzhi_isub", n, [
            "v4 = iconst.TY 1", "v5 = ishl v4, v1", "v6 = iconst.TY 1",
            "v2 = isub v5, v6", "v3 = band v2, v0", "return v3"],
            lambda x, c: x & ((1 << (c % n)) - 1), counts))
        # Rotates by constants (rorx at 32/64 bits).
        for k in (0, 1, 5, n - 1, n, n + 3):
            out.append(unary("rotl_%d" % k, n, [
                "v1 = iconst.TY %d" % k, "v2 = rotl v0, v1", "return v2"],
                lambda x, k=k: rotl(x, k, n)))
            out.append(unary("rotr_%d" % k, n, [
                "v1 = iconst.TY %d" % k, "v2 = rotr v0, v1", "return v2"],
                lambda x, k=k: rotl(x, n - (k % n), n)))
        out.append(unary("clz", n, ["v1 = clz v0", "return v1"], lambda x: clz(x, n)))
        out.append(unary("ctz", n, ["v1 = ctz v0", "return v1"], lambda x: ctz(x, n)))
        out.append(binary("umulhi", n, [
            "v2 = umulhi v0, v1", "return v2"],
            lambda x, y: (x * y) >> n, [0, 1, -1, 3, 1 << (n - 1), s(0x9E3779B97F4A7C15, n)]))
        out.append(unary("umulhi_square", n, [
            "v2 = umulhi v0, v0", "return v2"], lambda x: (x * x) >> n))
    return out


def write(name, speed):
    head = [
        "; BMI1/BMI2/LZCNT patterns at every width (generated by gen_bmi.py;",
        "; expected values from Python's integers). The second x86_64 target",
        "; lowers them to blsr/blsi/blsmsk/andn/bzhi/rorx/mulx/lzcnt/tzcnt.",
        "test interpret",
        "test run",
    ]
    if speed:
        head.append("set opt_level=speed")
    head += [
        "target x86_64",
        "target x86_64 has_bmi1 has_bmi2 has_lzcnt",
        "target aarch64",
        "",
    ]
    text = "\n".join(head) + "\n" + "\n".join(functions())
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)


write("bmi.clif", False)
write("bmi-speed.clif", True)
