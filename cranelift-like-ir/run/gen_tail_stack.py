#!/usr/bin/env python3
"""Generates tail_calls_stack.clif: tail calls whose stack-argument area
grows, shrinks, exceeds 128 bytes (the aarch64 copy loop), goes through
return_call_indirect, starts from a big frame or a function without stack arguments, and
mixes i8/i32/i128/f64 stack arguments. Every expectation is computed here by
simulating the programs in Python, independently of Kiln.
Run: python3 gen_tail_stack.py
"""
import os

from gen_control import expand_imm

HERE = os.path.dirname(os.path.abspath(__file__))
M64 = (1 << 64) - 1


def s64(x):
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def params(ty, n, start=0):
    return ", ".join("v%d: %s" % (start + i, ty) for i in range(n))


def types(ty, n):
    return ", ".join([ty] * n)


WIDE = 30  # i64 parameters: 22 on the stack (176 bytes) on aarch64
NARROW = 12  # 4 on the stack (32 bytes) on aarch64, 6 on x86-64


def weighted(xs, base):
    return s64(sum((base + k) * x for k, x in enumerate(xs)))


def wide(n, a):
    # a: WIDE - 1 values
    while True:
        if n == 0:
            return weighted(a, 1)
        b = [s64(a[k] + a[k + 1] + k) for k in range(NARROW - 1)]
        n -= 1
        if n == 0:
            return weighted(b, 3)
        a = [s64(b[k % (NARROW - 1)] * 2 + k) for k in range(WIDE - 1)]
        n -= 1


def narrow(n, b):
    if n == 0:
        return weighted(b, 3)
    a = [s64(b[k % (NARROW - 1)] * 2 + k) for k in range(WIDE - 1)]
    return wide(n - 1, a)


def emit_weighted(lines, first, count, base, start_tmp):
    """Sum of (base + k) * v(first + k); returns the value name."""
    t = start_tmp
    acc = None
    for k in range(count):
        lines.append("    v%d = imul_imm v%d, %d" % (t, first + k, base + k))
        if acc is None:
            acc = t
        else:
            lines.append("    v%d = iadd v%d, v%d" % (t + 1, acc, t))
            acc = t + 1
            t += 1
        t += 1
    return acc, t


def wide_narrow():
    out = []
    wsig = types("i64", WIDE)
    nsig = types("i64", NARROW)
    # %wide: v0 = n, v1..v29 = a
    lines = ["function %%wide(%s) -> i64 tail {" % wsig]
    lines.append("    fn0 = %%narrow(%s) -> i64 tail" % nsig)
    lines.append("block0(%s):" % params("i64", WIDE))
    lines.append("    brif v0, block2, block1")
    lines.append("block1:")
    acc, _ = emit_weighted(lines, 1, WIDE - 1, 1, 100)
    lines.append("    return v%d" % acc)
    lines.append("block2:")
    lines.append("    v300 = iadd_imm v0, -1")
    args = ["v300"]
    for k in range(NARROW - 1):
        lines.append("    v%d = iadd v%d, v%d" % (310 + k, 1 + k, 2 + k))
        lines.append("    v%d = iadd_imm v%d, %d" % (330 + k, 310 + k, k))
        args.append("v%d" % (330 + k))
    lines.append("    return_call fn0(%s)" % ", ".join(args))
    lines.append("}")
    out.append("\n".join(lines) + "\n")
    a0 = [3 * k - 40 for k in range(WIDE - 1)]
    for n in [0, 1, 2, 3, 7, 20001]:
        out.append(
            "; run: %%wide(%d, %s) == %d\n"
            % (n, ", ".join(map(str, a0)), wide(n, a0))
        )
    out.append("\n")
    # %narrow: v0 = n, v1..v11 = b
    lines = ["function %%narrow(%s) -> i64 tail {" % nsig]
    lines.append("    fn0 = %%wide(%s) -> i64 tail" % wsig)
    lines.append("block0(%s):" % params("i64", NARROW))
    lines.append("    brif v0, block2, block1")
    lines.append("block1:")
    acc, _ = emit_weighted(lines, 1, NARROW - 1, 3, 100)
    lines.append("    return v%d" % acc)
    lines.append("block2:")
    lines.append("    v300 = iadd_imm v0, -1")
    args = ["v300"]
    for k in range(WIDE - 1):
        src = 1 + k % (NARROW - 1)
        lines.append("    v%d = imul_imm v%d, 2" % (400 + k, src))
        lines.append("    v%d = iadd_imm v%d, %d" % (450 + k, 400 + k, k))
        args.append("v%d" % (450 + k))
    lines.append("    return_call fn0(%s)" % ", ".join(args))
    lines.append("}")
    out.append("\n".join(lines) + "\n")
    b0 = [k * k - 7 for k in range(NARROW - 1)]
    for n in [0, 1, 2, 10000]:
        out.append(
            "; run: %%narrow(%d, %s) == %d\n"
            % (n, ", ".join(map(str, b0)), narrow(n, b0))
        )
    out.append("\n")
    return "".join(out)


# Indirect: %hub picks one of three targets by n % 3 through func_addr and
# return_call_indirect; each target has a different stack-argument area
# (none, 16 bytes, 176 bytes) and tail-calls back to %hub.
HUB = 10  # v0 = n, v1 = acc, v2..v9 = x (2 stack args on aarch64)


def hub(n, acc, x):
    while True:
        if n == 0:
            return s64(acc + sum(x))
        sel = n % 3
        if sel == 0:
            # %spoke0(n - 1, acc + x0): no stack arguments
            n, acc = n - 1, s64(acc + x[0])
            x = [s64(v + 1) for v in x]
        elif sel == 1:
            # %spoke1(n - 1, acc, x..., x0 * 3): 11 arguments
            n, acc = n - 1, s64(acc + x[0] * 3)
            x = [s64(v - 1) for v in x]
        else:
            # %spoke2(n - 1, acc, x... twice, and the rest): 30 arguments
            extra = [s64(x[k % 8] + k) for k in range(WIDE - 2)]
            n, acc = n - 1, s64(acc + sum(extra))
            x = [s64(v ^ 5) for v in x]


def hub_file():
    sig_hub = types("i64", HUB)
    sig0 = types("i64", 10)
    sig1 = types("i64", 11)
    sig2 = types("i64", WIDE)
    lines = ["function %%hub(%s) -> i64 tail {" % sig_hub]
    lines.append("    sig0 = (%s) -> i64 tail" % sig0)
    lines.append("    sig1 = (%s) -> i64 tail" % sig1)
    lines.append("    sig2 = (%s) -> i64 tail" % sig2)
    lines.append("    fn0 = %%spoke0(%s) -> i64 tail" % sig0)
    lines.append("    fn1 = %%spoke1(%s) -> i64 tail" % sig1)
    lines.append("    fn2 = %%spoke2(%s) -> i64 tail" % sig2)
    lines.append("block0(%s):" % params("i64", HUB))
    lines.append("    brif v0, block2, block1")
    lines.append("block1:")
    acc = "v1"
    t = 100
    for k in range(8):
        lines.append("    v%d = iadd %s, v%d" % (t, acc, 2 + k))
        acc = "v%d" % t
        t += 1
    lines.append("    return %s" % acc)
    lines.append("block2:")
    lines.append("    v200 = iadd_imm v0, -1")
    lines.append("    v201 = urem_imm v0, 3")
    lines.append("    v202 = ireduce.i32 v201")
    lines.append("    br_table v202, block3, [block3, block4, block5]")
    lines.append("block3:")
    lines.append("    v210 = iadd v1, v2")
    lines.append("    v211 = func_addr.i64 fn0")
    xs = ", ".join("v%d" % (2 + k) for k in range(8))
    lines.append("    return_call_indirect sig0, v211(v200, v210, %s)" % xs)
    lines.append("block4:")
    lines.append("    v220 = imul_imm v2, 3")
    lines.append("    v221 = iadd v1, v220")
    lines.append("    v222 = func_addr.i64 fn1")
    lines.append("    return_call_indirect sig1, v222(v200, v221, %s, v220)" % xs)
    lines.append("block5:")
    extra = []
    t = 230
    acc = "v1"
    for k in range(WIDE - 2):
        lines.append("    v%d = iadd_imm v%d, %d" % (t, 2 + k % 8, k))
        extra.append("v%d" % t)
        lines.append("    v%d = iadd %s, v%d" % (t + 1, acc, t))
        acc = "v%d" % (t + 1)
        t += 2
    lines.append("    v%d = func_addr.i64 fn2" % t)
    lines.append(
        "    return_call_indirect sig2, v%d(v200, %s, %s)" % (t, acc, ", ".join(extra))
    )
    lines.append("}")
    text = "\n".join(lines) + "\n"
    for n, acc, x in [
        (0, 5, list(range(8))),
        (1, 0, [1, 2, 3, 4, 5, 6, 7, 8]),
        (2, 0, [1, 2, 3, 4, 5, 6, 7, 8]),
        (3, -9, [10, -20, 30, -40, 50, -60, 70, -80]),
        (10, 1, [9, 8, 7, 6, 5, 4, 3, 2]),
        (30001, 7, [1, 1, 2, 3, 5, 8, 13, 21]),
    ]:
        text += "; run: %%hub(%d, %d, %s) == %d\n" % (
            n,
            acc,
            ", ".join(map(str, x)),
            hub(n, acc, x),
        )
    return text + "\n"


def spokes():
    sig_hub = types("i64", HUB)
    out = []
    # spoke0(n, acc, x0..x7): 10 params again; x + 1
    lines = ["function %%spoke0(%s) -> i64 tail {" % types("i64", 10)]
    lines.append("    fn0 = %%hub(%s) -> i64 tail" % sig_hub)
    lines.append("block0(%s):" % params("i64", 10))
    args = ["v0", "v1"]
    for k in range(8):
        lines.append("    v%d = iadd_imm v%d, 1" % (20 + k, 2 + k))
        args.append("v%d" % (20 + k))
    lines.append("    return_call fn0(%s)" % ", ".join(args))
    lines.append("}")
    out.append("\n".join(lines) + "\n\n")
    # spoke1(n, acc, x0..x7, y): x - 1 (y is already in acc)
    lines = ["function %%spoke1(%s) -> i64 tail {" % types("i64", 11)]
    lines.append("    fn0 = %%hub(%s) -> i64 tail" % sig_hub)
    lines.append("block0(%s):" % params("i64", 11))
    args = ["v0", "v1"]
    for k in range(8):
        lines.append("    v%d = iadd_imm v%d, -1" % (20 + k, 2 + k))
        args.append("v%d" % (20 + k))
    lines.append("    return_call fn0(%s)" % ", ".join(args))
    lines.append("}")
    out.append("\n".join(lines) + "\n\n")
    # spoke2(n, acc, e0..e27): x_k = e_k - k for k < 8, then ^ 5
    lines = ["function %%spoke2(%s) -> i64 tail {" % types("i64", WIDE)]
    lines.append("    fn0 = %%hub(%s) -> i64 tail" % sig_hub)
    lines.append("block0(%s):" % params("i64", WIDE))
    args = ["v0", "v1"]
    for k in range(8):
        lines.append("    v%d = iadd_imm v%d, %d" % (40 + k, 2 + k, -k))
        lines.append("    v%d = bxor_imm v%d, 5" % (50 + k, 40 + k))
        args.append("v%d" % (50 + k))
    lines.append("    return_call fn0(%s)" % ", ".join(args))
    lines.append("}")
    out.append("\n".join(lines) + "\n\n")
    return "".join(out)


def big_frame():
    # A function with an 8 KiB stack slot and live callee-saved values
    # tail-calls %narrow: the frame teardown and the argument move cross a
    # 4 KiB immediate boundary. A function with no stack
    # arguments tail-calls %wide (176 bytes of new stack arguments below
    # its own CFA).
    nsig = types("i64", NARROW)
    wsig = types("i64", WIDE)
    lines = ["function %%big(%s) -> i64 tail {" % types("i64", 4)]
    lines.append("    ss0 = explicit_slot 8192")
    lines.append("    fn0 = %%narrow(%s) -> i64 tail" % nsig)
    lines.append("block0(v0: i64, v1: i64, v2: i64, v3: i64):")
    for k, (v, off) in enumerate([(1, 0), (2, 4096), (3, 8184)]):
        lines.append("    v%d = stack_addr.i64 ss0+%d" % (60 + k, off))
        lines.append("    store v%d, v%d" % (v, 60 + k))
    for k, off in enumerate([0, 4096, 8184]):
        lines.append("    v%d = stack_addr.i64 ss0+%d" % (70 + k, off))
        lines.append("    v%d = load.i64 v%d" % (10 + k, 70 + k))
    args = ["v0"]
    srcs = ["v10", "v11", "v12"]
    for k in range(NARROW - 1):
        lines.append("    v%d = iadd_imm %s, %d" % (20 + k, srcs[k % 3], k))
        args.append("v%d" % (20 + k))
    lines.append("    return_call fn0(%s)" % ", ".join(args))
    lines.append("}")
    text = "\n".join(lines) + "\n"

    def big(n, a, b, c):
        src = [a, b, c]
        return narrow(n, [s64(src[k % 3] + k) for k in range(NARROW - 1)])

    for n, a, b, c in [(0, 1, 2, 3), (3, -5, 6, 7), (101, 11, 22, 33)]:
        text += "; run: %%big(%d, %d, %d, %d) == %d\n" % (n, a, b, c, big(n, a, b, c))
    text += "\n"
    lines = ["function %to_wide(i64, i64) -> i64 tail {"]
    lines.append("    fn0 = %%wide(%s) -> i64 tail" % wsig)
    lines.append("block0(v0: i64, v1: i64):")
    args = ["v0"]
    for k in range(WIDE - 1):
        lines.append("    v%d = iadd_imm v1, %d" % (10 + k, 7 * k))
        args.append("v%d" % (10 + k))
    lines.append("    return_call fn0(%s)" % ", ".join(args))
    lines.append("}")
    text += "\n".join(lines) + "\n"
    for n, x in [(0, 1), (1, -3), (4, 100), (999, 5)]:
        text += "; run: %%to_wide(%d, %d) == %d\n" % (
            n,
            x,
            wide(n, [s64(x + 7 * k) for k in range(WIDE - 1)]),
        )
    text += "\n"
    return text


def mixed():
    # Mixed stack arguments under `tail`: seven i64 in x0-x6, then an i128
    # (no even pair left: 16-aligned stack slot), an i8 and an i32 after
    # it (the stack from then on), nine f64 (the ninth on the stack).
    sig = "i64, i64, i64, i64, i64, i64, i64, i128, i8, i32, " + types("f64", 9)
    lines = ["function %%mix(%s) -> i64 tail {" % sig]
    lines.append("    fn0 = %%mix(%s) -> i64 tail" % sig)
    p = ", ".join(
        ["v%d: i64" % k for k in range(7)]
        + ["v7: i128", "v8: i8", "v9: i32"]
        + ["v%d: f64" % (10 + k) for k in range(9)]
    )
    lines.append("block0(%s):" % p)
    lines.append("    brif v0, block2, block1")
    lines.append("block1:")
    # total = sum(v1..v6) + lo(v7) + hi(v7)*3 + sext(v8)*5 + sext(v9)*7
    #       + sum(fcvt(f_k) * (k + 11))
    acc = "v1"
    t = 100
    for k in range(2, 7):
        lines.append("    v%d = iadd %s, v%d" % (t, acc, k))
        acc = "v%d" % t
        t += 1
    lines.append("    v%d, v%d = isplit v7" % (t, t + 1))
    lines.append("    v%d = iadd %s, v%d" % (t + 2, acc, t))
    lines.append("    v%d = imul_imm v%d, 3" % (t + 3, t + 1))
    lines.append("    v%d = iadd v%d, v%d" % (t + 4, t + 2, t + 3))
    lines.append("    v%d = sextend.i64 v8" % (t + 5))
    lines.append("    v%d = imul_imm v%d, 5" % (t + 6, t + 5))
    lines.append("    v%d = iadd v%d, v%d" % (t + 7, t + 4, t + 6))
    lines.append("    v%d = sextend.i64 v9" % (t + 8))
    lines.append("    v%d = imul_imm v%d, 7" % (t + 9, t + 8))
    acc = "v%d" % (t + 10)
    lines.append("    %s = iadd v%d, v%d" % (acc, t + 7, t + 9))
    t += 11
    for k in range(9):
        lines.append("    v%d = fcvt_to_sint.i64 v%d" % (t, 10 + k))
        lines.append("    v%d = imul_imm v%d, %d" % (t + 1, t, k + 11))
        lines.append("    v%d = iadd %s, v%d" % (t + 2, acc, t + 1))
        acc = "v%d" % (t + 2)
        t += 3
    lines.append("    return %s" % acc)
    lines.append("block2:")
    # Rotate: ints shift by one, the i128 gains v1 in both halves, the i8
    # and i32 swap roles, the floats rotate and the first gains 1.0.
    lines.append("    v300 = iadd_imm v0, -1")
    lines.append("    v301 = uextend.i128 v1")
    lines.append("    v302 = iconcat v1, v1")
    lines.append("    v303 = iadd v7, v302")
    lines.append("    v304 = ireduce.i8 v9")
    lines.append("    v305 = sextend.i32 v8")
    lines.append("    v306 = f64const 0x1.0p0")
    lines.append("    v307 = fadd v18, v306")
    floats = ["v307"] + ["v%d" % (10 + k) for k in range(8)]
    ints = ["v300", "v2", "v3", "v4", "v5", "v6", "v1"]
    lines.append(
        "    return_call fn0(%s)"
        % ", ".join(ints + ["v303", "v304", "v305"] + floats)
    )
    lines.append("}")
    text = "\n".join(lines) + "\n"

    def sx(v, bits):
        v &= (1 << bits) - 1
        return v - (1 << bits) if v >> (bits - 1) else v

    def mix(n, xs, w, b8, b32, fs):
        while n:
            x1 = xs[0]
            w = (w + ((x1 & M64) << 64 | (x1 & M64))) & ((1 << 128) - 1)
            nb8, nb32 = sx(b32, 8), sx(b8, 32)
            b8, b32 = nb8, nb32
            fs = [fs[8] + 1.0] + fs[:8]
            xs = xs[1:] + [x1]
            n -= 1
        tot = sum(xs)
        tot += (w & M64) + (w >> 64) * 3 + sx(b8, 8) * 5 + sx(b32, 32) * 7
        tot += sum(int(f) * (k + 11) for k, f in enumerate(fs))
        return s64(tot)

    cases = [
        (0, [1, 2, 3, 4, 5, 6], 10 | 20 << 64, -3, 1000, [float(k) for k in range(9)]),
        (1, [1, 2, 3, 4, 5, 6], 10 | 20 << 64, -3, 1000, [float(k) for k in range(9)]),
        (5, [-7, 8, -9, 10, 11, -12], 2**100 + 5, 100, -70000, [1.5 * k for k in range(9)]),
        (1000, [3, 1, 4, 1, 5, 9], 7, 1, 2, [2.0] * 9),
    ]
    for n, xs, w, b8, b32, fs in cases:
        # i128 literals in run lines are decimal.
        ws = w if w < 2**127 else w - 2**128
        fl = ", ".join(fmt(f) for f in fs)
        text += "; run: %%mix(%d, %s, %d, %d, %d, %s) == %d\n" % (
            n,
            ", ".join(map(str, xs)),
            ws,
            b8,
            b32,
            fl,
            mix(n, xs, w, b8, b32, fs),
        )
    text += "\n"
    return text


def fmt(x):
    h = float(x).hex()
    sign = "-" if h.startswith("-") else ""
    h = h.lstrip("-")
    mant, exp = h[2:].split("p")
    if "." in mant:
        mant = mant.rstrip("0")
        if mant.endswith("."):
            mant += "0"
    return "%s0x%sp%d" % (sign, mant, int(exp))


def normal_calls():
    # Normal calls of `tail` callees with stack arguments in a loop (each
    # callee pops its area; the caller puts sp back) with a stack slot and
    # values live across the calls; one callee has a 176-byte area.
    nsig = types("i64", NARROW)
    wsig = types("i64", WIDE)
    lines = ["function %calls(i64) -> i64 system_v {"]
    lines.append("    ss0 = explicit_slot 16")
    lines.append("    fn0 = %%narrow(%s) -> i64 tail" % nsig)
    lines.append("    fn1 = %%wide(%s) -> i64 tail" % wsig)
    lines.append("block0(v0: i64):")
    lines.append("    v1 = iconst.i64 0")
    lines.append("    v30 = stack_addr.i64 ss0")
    lines.append("    store v1, v30")
    lines.append("    v31 = stack_addr.i64 ss0+8")
    lines.append("    store v0, v31")
    lines.append("    jump block1(v0, v1)")
    lines.append("block1(v2: i64, v3: i64):")
    lines.append("    brif v2, block2, block3")
    lines.append("block2:")
    lines.append("    v4 = iconst.i64 0")
    nargs = ["v4"] + ["v2"] * (NARROW - 1)
    lines.append("    v5 = call fn0(%s)" % ", ".join(nargs))
    wargs = ["v4"] + ["v5"] * (WIDE - 1)
    lines.append("    v6 = call fn1(%s)" % ", ".join(wargs))
    lines.append("    v32 = stack_addr.i64 ss0")
    lines.append("    v7 = load.i64 v32")
    lines.append("    v8 = iadd_imm v7, 1")
    lines.append("    store v8, v32")
    lines.append("    v9 = iadd v3, v6")
    lines.append("    v10 = iadd v9, v2")
    lines.append("    v11 = iadd_imm v2, -1")
    lines.append("    jump block1(v11, v10)")
    lines.append("block3:")
    lines.append("    v33 = stack_addr.i64 ss0")
    lines.append("    v12 = load.i64 v33")
    lines.append("    v34 = stack_addr.i64 ss0+8")
    lines.append("    v13 = load.i64 v34")
    lines.append("    v14 = imul_imm v12, 1000")
    lines.append("    v15 = iadd v3, v14")
    lines.append("    v16 = iadd v15, v13")
    lines.append("    return v16")
    lines.append("}")
    text = "\n".join(lines) + "\n"

    def calls(n):
        acc, cnt, k = 0, 0, n
        while k:
            v5 = weighted([k] * (NARROW - 1), 3)
            v6 = weighted([v5] * (WIDE - 1), 1)
            acc = s64(acc + v6 + k)
            cnt += 1
            k -= 1
        return s64(acc + cnt * 1000 + n)

    for n in [0, 1, 3, 500]:
        text += "; run: %%calls(%d) == %d\n" % (n, calls(n))
    return text


def main():
    head = (
        "; Tail calls with stack arguments (generated by gen_tail_stack.py,\n"
        "; which computes every expectation): areas that grow and shrink\n"
        "; between 32 and 176 bytes (on aarch64, beyond 128 bytes the\n"
        "; argument move is a loop), return_call_indirect through func_addr\n"
        "; to targets with 0, 16 and 176 bytes of stack arguments, a tail call\n"
        "; from an 8 KiB frame and from a function with no stack arguments, mixed i128, i8,\n"
        "; i32 and f64 stack arguments, and normal calls of `tail` callees\n"
        "; with stack arguments in a loop. Deep runs would overflow the stack\n"
        "; without constant stack use.\n"
        "test interpret\n"
        "test run\n"
        "target x86_64\n"
        "target aarch64\n"
        "target aarch64 sign_return_address\n"
        "target aarch64 sign_return_address sign_return_address_with_bkey\n"
        "target aarch64 use_bti\n\n"
    )
    body = wide_narrow() + hub_file() + spokes() + big_frame() + mixed() + normal_calls()
    with open(os.path.join(HERE, "tail_calls_stack.clif"), "w") as f:
        f.write(expand_imm(head + body))


if __name__ == "__main__":
    main()
