#!/usr/bin/env python3
"""Generates tail_calls.clif and conventions.clif (control flow and calling
conventions). Every expectation is computed here by simulating the programs
in Python, independently of Kiln. Run: python3 gen_control.py
"""
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
M64 = (1 << 64) - 1


def s64(x):
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def fmt_f(x):
    h = float(x).hex()
    sign = "-" if h.startswith("-") else ""
    h = h.lstrip("-")
    mant, exp = h[2:].split("p")
    if "." in mant:
        mant = mant.rstrip("0")
        if mant.endswith("."):
            mant += "0"
    return "%s0x%sp%d" % (sign, mant, int(exp))


def params(ty, n, start=0):
    return ", ".join("v%d: %s" % (start + i, ty) for i in range(n))


def types(ty, n):
    return ", ".join([ty] * n)


# ------------------------------------------------------------- tail calls
def sum_to(n, acc):
    while n != 0:
        acc = s64(acc + n)
        n -= 1
    return acc


PING_N = 10  # n + 9 accumulators: 4 on the stack
PONG_N = 16  # n + 15 accumulators: 10 on the stack


def ping(n, a):
    # a: 9 values. Returns weighted sum when n == 0, else tail-calls pong.
    while True:
        if n == 0:
            return s64(sum((i + 1) * x for i, x in enumerate(a)))
        n -= 1
        b = [a[i % 9] + i for i in range(15)]
        b[0] = s64(b[0] + n)
        b = [s64(x) for x in b]
        if n == 0:
            return s64(sum((i + 3) * x for i, x in enumerate(b)))
        n -= 1
        a = [s64(b[i] + b[i + 6]) for i in range(9)]


def rot_floats(n, xs):
    # n, 10 f64: 2 on the stack. Rotates, adding 0.5 to the new first.
    while n != 0:
        xs = xs[1:] + [xs[0] + 0.5]
        n -= 1
    return sum((i + 1) * x for i, x in enumerate(xs))


def tri(n, a):
    # (i64, i128) -> i64, i64, i64 via the return area.
    m = (1 << 128) - 1
    a &= m
    while n != 0:
        a = (a * 3 + n) & m
        n -= 1
    lo = a & M64
    hi = a >> 64
    return s64(lo), s64(hi), s64(lo ^ hi)


def tail_file():
    out = []
    out.append(
        "; Tail calls under the `tail` convention (callee pops its stack\n"
        "; arguments): deep tail-recursive loops that would overflow the stack\n"
        "; without constant stack use, mutual recursion between functions with\n"
        "; different numbers of stack arguments, floats on the stack, the\n"
        "; return area passed through, indirect tail calls, and normal calls of\n"
        "; a `tail` function with stack arguments. Expectations from gen_control.py.\n"
        "test run\nset preserve_frame_pointers=true\n"
        "set enable_multi_ret_implicit_sret\ntarget x86_64\ntarget aarch64\n"
        "target aarch64 sign_return_address\ntarget aarch64 use_bti\n\n"
    )
    out.append(
        """function %sum_to(i64, i64) -> i64 tail {
    fn0 = colocated %sum_to(i64, i64) -> i64 tail
block0(v0: i64, v1: i64):
    brif v0, block2, block1
block1:
    return v1
block2:
    v2 = iadd v1, v0
    v3 = iadd_imm v0, -1
    return_call fn0(v3, v2)
}
"""
    )
    for n, acc in [(0, 5), (1, 0), (10, 0), (1_000_000, 7), (3_000_000, -1)]:
        out.append("; run: %%sum_to(%d, %d) == %d\n" % (n, acc, sum_to(n, acc)))
    out.append("\n")

    # ping / pong
    a_sig = types("i64", PING_N)
    b_sig = types("i64", PONG_N)
    lines = ["function %%ping(%s) -> i64 tail {" % a_sig]
    lines.append("    fn0 = %%pong(%s) -> i64 tail" % b_sig)
    lines.append("block0(%s):" % params("i64", PING_N))
    lines.append("    brif v0, block2, block1")
    lines.append("block1:")
    acc = None
    for i in range(9):
        lines.append("    v%d = imul_imm v%d, %d" % (100 + i, 1 + i, i + 1))
        if acc is None:
            acc = 100 + i
        else:
            lines.append("    v%d = iadd v%d, v%d" % (200 + i, acc, 100 + i))
            acc = 200 + i
    lines.append("    return v%d" % acc)
    lines.append("block2:")
    lines.append("    v300 = iadd_imm v0, -1")
    args = []
    for i in range(15):
        lines.append("    v%d = iadd_imm v%d, %d" % (310 + i, 1 + (i % 9), i))
        args.append("v%d" % (310 + i))
    lines.append("    v330 = iadd v310, v300")
    args[0] = "v330"
    lines.append("    return_call fn0(v300, %s)" % ", ".join(args))
    lines.append("}")
    ping_text = "\n".join(lines) + "\n"

    lines = ["function %%pong(%s) -> i64 tail {" % b_sig]
    lines.append("    fn0 = %%ping(%s) -> i64 tail" % a_sig)
    lines.append("block0(%s):" % params("i64", PONG_N))
    lines.append("    brif v0, block2, block1")
    lines.append("block1:")
    acc = None
    for i in range(15):
        lines.append("    v%d = imul_imm v%d, %d" % (100 + i, 1 + i, i + 3))
        if acc is None:
            acc = 100 + i
        else:
            lines.append("    v%d = iadd v%d, v%d" % (200 + i, acc, 100 + i))
            acc = 200 + i
    lines.append("    return v%d" % acc)
    lines.append("block2:")
    lines.append("    v300 = iadd_imm v0, -1")
    args = []
    for i in range(9):
        lines.append("    v%d = iadd v%d, v%d" % (310 + i, 1 + i, 7 + i))
        args.append("v%d" % (310 + i))
    lines.append("    return_call fn0(v300, %s)" % ", ".join(args))
    lines.append("}")
    out.append("\n".join(lines) + "\n\n")
    out.append(ping_text)
    for n, a in [
        (0, list(range(1, 10))),
        (1, list(range(1, 10))),
        (2, list(range(1, 10))),
        (7, [0] * 9),
        (500_001, [3, -1, 4, -1, 5, -9, 2, -6, 5]),
    ]:
        out.append(
            "; run: %%ping(%d, %s) == %d\n"
            % (n, ", ".join(str(x) for x in a), ping(n, a))
        )
    out.append("\n")

    # Floats on the stack.
    lines = ["function %%rot(i64, %s) -> f64 tail {" % types("f64", 10)]
    lines.append("    fn0 = %%rot(i64, %s) -> f64 tail" % types("f64", 10))
    lines.append("block0(v0: i64, %s):" % params("f64", 10, 1))
    lines.append("    brif v0, block2, block1")
    lines.append("block1:")
    acc = None
    for i in range(10):
        lines.append("    v%d = f64const %s" % (100 + i, fmt_f(float(i + 1))))
        lines.append("    v%d = fmul v%d, v%d" % (120 + i, 1 + i, 100 + i))
        if acc is None:
            acc = 120 + i
        else:
            lines.append("    v%d = fadd v%d, v%d" % (140 + i, acc, 120 + i))
            acc = 140 + i
    lines.append("    return v%d" % acc)
    lines.append("block2:")
    lines.append("    v200 = iadd_imm v0, -1")
    lines.append("    v201 = f64const 0x1.0p-1")
    lines.append("    v202 = fadd v1, v201")
    rest = ", ".join("v%d" % (2 + i) for i in range(9))
    lines.append("    return_call fn0(v200, %s, v202)" % rest)
    lines.append("}")
    out.append("\n".join(lines) + "\n")
    for n in [0, 1, 9, 10, 100_003]:
        xs = [float(i) * 0.25 for i in range(10)]
        r = 0.0
        # Python's left-to-right sum matches the CLIF fadd chain.
        xs2 = xs
        for _ in range(n):
            xs2 = xs2[1:] + [xs2[0] + 0.5]
        acc = None
        for i, x in enumerate(xs2):
            t = x * float(i + 1)
            acc = t if acc is None else acc + t
        r = acc
        assert abs(r - rot_floats(n, xs)) < 1e-6
        out.append(
            "; run: %%rot(%d, %s) == %s\n"
            % (n, ", ".join(fmt_f(x) for x in xs), fmt_f(r))
        )
    out.append("\n")

    # Return area passed through (three returns), i128 argument.
    out.append(
        """function %tri(i64, i128) -> i64, i64, i64 tail {
    fn0 = colocated %tri(i64, i128) -> i64, i64, i64 tail
block0(v0: i64, v1: i128):
    brif v0, block2, block1
block1:
    v2, v3 = isplit v1
    v4 = bxor v2, v3
    return v2, v3, v4
block2:
    v5 = iconst.i64 3
    v6 = uextend.i128 v5
    v7 = imul v1, v6
    v8 = uextend.i128 v0
    v9 = iadd v7, v8
    v10 = iadd_imm v0, -1
    return_call fn0(v10, v9)
}
"""
    )
    for n, a in [(0, 5), (1, 5), (50, 1), (300_000, 12345)]:
        r = tri(n, a)
        out.append("; run: %%tri(%d, %d) == [%d, %d, %d]\n" % ((n, a) + r))
    out.append("\n")

    # Indirect tail calls through a select, alternating between two
    # functions with different stack-argument counts.
    out.append(
        """function %hop_b(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64 tail {
    sig0 = (i64, i64, i64, i64, i64, i64, i64, i64) -> i64 tail
    fn0 = %hop_a(i64, i64, i64, i64, i64, i64, i64, i64) -> i64 tail
block0(v0: i64, v1: i64, v2: i64, v3: i64, v4: i64, v5: i64, v6: i64, v7: i64, v8: i64, v9: i64, v10: i64, v11: i64):
    v12 = iadd_imm v0, -1
    v13 = iadd v8, v9
    v14 = iadd v13, v10
    v15 = isub v14, v11
    v16 = iadd v1, v15
    v17 = func_addr.i64 fn0
    return_call_indirect sig0, v17(v12, v16, v2, v3, v4, v5, v6, v7)
}

function %hop_a(i64, i64, i64, i64, i64, i64, i64, i64) -> i64 tail {
    sig0 = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64 tail
    fn0 = %hop_b(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64 tail
block0(v0: i64, v1: i64, v2: i64, v3: i64, v4: i64, v5: i64, v6: i64, v7: i64):
    brif v0, block2, block1
block1:
    v8 = iadd v1, v7
    return v8
block2:
    v9 = iadd_imm v0, -1
    v10 = iadd v1, v6
    v11 = iadd_imm v7, 1
    v12 = func_addr.i64 fn0
    return_call_indirect sig0, v12(v9, v10, v2, v3, v4, v5, v6, v11, v7, v7, v7, v1)
}
"""
    )

    def hop(n, a):
        v = list(a)
        while True:
            if v[0] == 0:
                return s64(v[1] + v[7])
            # hop_a -> hop_b
            b = [v[0] - 1, s64(v[1] + v[6]), v[2], v[3], v[4], v[5], v[6],
                 s64(v[7] + 1), v[7], v[7], v[7], v[1]]
            # hop_b -> hop_a
            t = s64(b[8] + b[9] + b[10] - b[11])
            v = [b[0] - 1, s64(b[1] + t), b[2], b[3], b[4], b[5], b[6], b[7]]
            if v[0] < 0:
                raise ValueError("odd counts never stop")

    for n, a in [(0, 1), (2, 3), (10, -4), (400_000, 9)]:
        args = [n, a, 2, 3, 4, 5, 6, 7]
        out.append(
            "; run: %%hop_a(%s) == %d\n" % (", ".join(map(str, args)), hop(n, args))
        )
    out.append("\n")

    # A normal call to a `tail` callee with stack arguments (the callee pops
    # them; the caller restores its stack pointer) in a loop, with values
    # and a stack slot live across the calls.
    out.append(
        """function %weigh(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64 tail {
block0(v0: i64, v1: i64, v2: i64, v3: i64, v4: i64, v5: i64, v6: i64, v7: i64, v8: i64, v9: i64):
    v10 = imul_imm v9, 7
    v11 = iadd v0, v10
    v12 = imul_imm v8, 3
    v13 = iadd v11, v12
    return v13
}

function %call_weigh(i64) -> i64 system_v {
    ss0 = explicit_slot 8
    fn0 = %weigh(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64 tail
block0(v0: i64):
    v1 = iconst.i64 0
    v20 = stack_addr.i64 ss0
    store v1, v20
    jump block1(v0, v1)
block1(v2: i64, v3: i64):
    brif v2, block2, block3
block2:
    v4 = call fn0(v3, v2, v2, v2, v2, v2, v2, v2, v2, v2)
    v21 = stack_addr.i64 ss0
    v5 = load.i64 v21
    v6 = iadd_imm v5, 1
    store v6, v21
    v7 = iadd_imm v2, -1
    jump block1(v7, v4)
block3:
    v22 = stack_addr.i64 ss0
    v8 = load.i64 v22
    v9 = imul_imm v8, 1000000
    v10 = iadd v3, v9
    return v10
}
"""
    )
    for n in [0, 1, 5, 1000]:
        acc = 0
        cnt = 0
        k = n
        while k:
            acc = s64(acc + 7 * k + 3 * k)
            cnt += 1
            k -= 1
        out.append("; run: %%call_weigh(%d) == %d\n" % (n, s64(acc + cnt * 1000000)))
    return "".join(out)


# ----------------------------------------------------------- conventions
def conv_file():
    out = []
    out.append(
        "; Calls between calling conventions: windows_fastcall (positional\n"
        "; registers, shadow space, stack arguments after it, one return\n"
        "; register plus the return area), winch (the last result in a\n"
        "; register, the others in the return area in reverse order) and\n"
        "; System V; try_call without handlers (results as block arguments).\n"
        "; Expectations from gen_control.py.\n"
        "test run\nset enable_multi_ret_implicit_sret\ntarget x86_64\n\n"
    )
    # windows_fastcall with 7 mixed args: positions 0..3 in registers,
    # 4..6 on the stack after the shadow space.
    out.append(
        """function %win_mix(i64, f64, i32, f64, i64, f64, i64) -> f64 windows_fastcall {
block0(v0: i64, v1: f64, v2: i32, v3: f64, v4: i64, v5: f64, v6: i64):
    v7 = fcvt_from_sint.f64 v0
    v8 = fcvt_from_sint.f64 v2
    v9 = fcvt_from_sint.f64 v4
    v10 = fcvt_from_sint.f64 v6
    v11 = f64const 0x1.0p1
    v12 = fmul v1, v11
    v13 = f64const 0x1.0p2
    v14 = fmul v3, v13
    v15 = f64const 0x1.0p3
    v16 = fmul v5, v15
    v17 = fadd v7, v12
    v18 = fadd v17, v8
    v19 = fadd v18, v14
    v20 = fadd v19, v9
    v21 = fadd v20, v16
    v22 = fmul v10, v11
    v23 = fadd v21, v22
    return v23
}

function %call_win_mix(i64, f64) -> f64 system_v {
    fn0 = %win_mix(i64, f64, i32, f64, i64, f64, i64) -> f64 windows_fastcall
block0(v0: i64, v1: f64):
    v2 = iconst.i32 -3
    v3 = f64const 0x1.8p0
    v4 = iconst.i64 100
    v5 = f64const 0x1.0p-2
    v6 = call fn0(v0, v1, v2, v3, v4, v5, v0)
    v7 = fadd v6, v1
    return v7
}
"""
    )
    for a, x in [(0, 0.0), (5, 0.5), (-7, 2.25)]:
        r = float(a) + x * 2.0
        r = r + -3.0
        r = r + 1.5 * 4.0
        r = r + 100.0
        r = r + 0.25 * 8.0
        r = r + float(a) * 2.0
        r = r + x
        out.append("; run: %%call_win_mix(%d, %s) == %s\n" % (a, fmt_f(x), fmt_f(r)))
    out.append("\n")

    # windows_fastcall with three returns (rax + return area via rcx),
    # called from windows_fastcall, called from System V.
    out.append(
        """function %win3(i64, i64, i64, i64, i64) -> i64, i64, i64 windows_fastcall {
block0(v0: i64, v1: i64, v2: i64, v3: i64, v4: i64):
    v5 = iadd v0, v1
    v6 = isub v2, v3
    v7 = imul v4, v0
    return v5, v6, v7
}

function %win_outer(i64, i64) -> i64 windows_fastcall {
    fn0 = %win3(i64, i64, i64, i64, i64) -> i64, i64, i64 windows_fastcall
block0(v0: i64, v1: i64):
    v2 = iconst.i64 11
    v3, v4, v5 = call fn0(v0, v1, v2, v1, v0)
    v6 = imul_imm v4, 100
    v7 = imul_imm v5, 10000
    v8 = iadd v3, v6
    v9 = iadd v8, v7
    return v9
}

function %call_win_outer(i64, i64) -> i64 {
    fn0 = %win_outer(i64, i64) -> i64 windows_fastcall
block0(v0: i64, v1: i64):
    v2 = call fn0(v0, v1)
    return v2
}
"""
    )
    for a, b in [(1, 2), (3, -4), (1000, 7)]:
        r = s64((a + b) + (11 - b) * 100 + (a * a) * 10000)
        out.append("; run: %%call_win_outer(%d, %d) == %d\n" % (a, b, r))
    out.append("\n")

    # winch: five results of both classes.
    out.append(
        """function %winch5(i64, f64) -> i64, f64, i32, f64, i64 winch {
block0(v0: i64, v1: f64):
    v2 = iadd_imm v0, 1
    v3 = f64const 0x1.0p-1
    v4 = fadd v1, v3
    v5 = ireduce.i32 v0
    v6 = fneg v1
    v7 = imul_imm v0, 3
    return v2, v4, v5, v6, v7
}
; run: %winch5(4, 0x1.ap2) == [5, 0x1.cp2, 4, -0x1.ap2, 12]

function %call_winch5(i64, f64) -> i64 {
    fn0 = %winch5(i64, f64) -> i64, f64, i32, f64, i64 winch
block0(v0: i64, v1: f64):
    v2, v3, v4, v5, v6 = call fn0(v0, v1)
    v7 = fcvt_to_sint_sat.i64 v3
    v8 = fcvt_to_sint_sat.i64 v5
    v9 = sextend.i64 v4
    v10 = imul_imm v2, 10000
    v11 = imul_imm v7, 1000
    v12 = imul_imm v9, 100
    v13 = imul_imm v8, 10
    v14 = iadd v10, v11
    v15 = iadd v14, v12
    v16 = iadd v15, v13
    v17 = iadd v16, v6
    return v17
}
"""
    )
    for a, x in [(1, 2.0), (4, 6.5), (-2, -3.0)]:
        r = (a + 1) * 10000 + int(x + 0.5) * 1000 + a * 100 + int(-x) * 10 + 3 * a
        out.append("; run: %%call_winch5(%d, %s) == %d\n" % (a, fmt_f(x), r))
    assert (fmt_f(6.5), fmt_f(7.0)) == ("0x1.ap2", "0x1.cp2")

    # try_call without handlers: the normal-return block receives the
    # results (`retN`, mixed with plain values), including results that
    # come back through the return area, an i128, and a `tail` callee
    # that pops ten stack arguments.
    out.append(
        """
function %tc_callee(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64, i128, i64, i64 tail {
block0(v0: i64, v1: i64, v2: i64, v3: i64, v4: i64, v5: i64, v6: i64, v7: i64, v8: i64, v9: i64, v10: i64, v11: i64, v12: i64, v13: i64, v14: i64, v15: i64):
    v20 = iadd v0, v15
    v21 = sextend.i128 v14
    v22 = imul v1, v13
    v23 = isub v2, v12
    return v20, v21, v22, v23
}

function %tc_caller(i64) -> i64 {
    sig0 = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64, i128, i64, i64 tail
    fn0 = %tc_callee(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64, i128, i64, i64 tail
block0(v0: i64):
    v1 = iconst.i64 7
    v2 = iconst.i64 -3
    try_call fn0(v0, v1, v0, v1, v0, v1, v0, v1, v0, v1, v0, v1, v0, v2, v0, v1), sig0, block1(ret2, v0, ret0, ret1, ret3), []

block1(v3: i64, v4: i64, v5: i64, v6: i128, v7: i64):
    v8, v9 = isplit v6
    v10 = imul_imm v3, 1000
    v11 = iadd v10, v5
    v12 = imul_imm v7, 100
    v13 = iadd v11, v12
    v14 = iadd v13, v8
    v15 = iadd v14, v9
    v16 = iadd v15, v4
    return v16
}
"""
    )
    for a in [0, 1, -9, 123456]:
        # callee(v0=a, v1=7, v2=a, ..., v12=a, v13=-3, v14=a, v15=7)
        r0 = a + 7
        r1 = a  # sextend of v14 = a
        r2 = 7 * -3
        r3 = a - a
        lo = r1 & M64
        hi = M64 if r1 < 0 else 0
        res = s64(r2 * 1000 + r0 + r3 * 100 + s64(lo) + s64(hi) + a)
        out.append("; run: %%tc_caller(%d) == %d\n" % (a, res))

    out.append(
        """
function %tc_inc(i64) -> i64 tail {
block0(v0: i64):
    v1 = iadd_imm v0, 1
    return v1
}

function %tc_indirect(i64) -> i64 {
    sig0 = (i64) -> i64 tail
    fn0 = %tc_inc(i64) -> i64 tail
block0(v0: i64):
    v1 = func_addr.i64 fn0
    try_call_indirect v1(v0), sig0, block1(ret0), []

block1(v2: i64):
    v3 = imul_imm v2, 2
    return v3
}
"""
    )
    out.append(
        "".join(
            "; run: %%tc_indirect(%d) == %d\n" % (a, s64((a + 1) * 2))
            for a in [0, 20, -1]
        )
    )
    return "".join(out)


def expand_imm(text):
    """CLIF has no `*_imm` opcodes: `vD = iadd_imm vS, K` is written in the
    generator for brevity and expanded to an iconst plus the operation."""
    out = []
    fresh = 5000
    for line in text.split("\n"):
        m = re.match(r"^(\s+)(v\d+) = (iadd|imul|urem|bxor)_imm (v\d+), (-?\d+)$", line)
        if m:
            ind, d, op, src, k = m.groups()
            out.append("%sv%d = iconst.i64 %s" % (ind, fresh, k))
            out.append("%s%s = %s %s, v%d" % (ind, d, op, src, fresh))
            fresh += 1
        else:
            out.append(line)
    return "\n".join(out)


def main():
    for name, text in [("tail_calls.clif", tail_file()), ("conventions.clif", conv_file())]:
        with open(os.path.join(HERE, name), "w") as f:
            f.write(expand_imm(text))


if __name__ == "__main__":
    main()
