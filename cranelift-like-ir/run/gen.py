#!/usr/bin/env python3
"""Generates the expectations of Kiln's own `test run` files.

Every expected value is computed here in Python, independently of Kiln
(wrapping integer arithmetic, IEEE float rounding via struct), and written
into the .clif files next to this script. Run: python3 gen.py
"""
import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def wrap(x, bits):
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def u(x, bits):
    return x & ((1 << bits) - 1)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def fmt_f(x, bits):
    """A CLIF hexadecimal float literal (exact), e.g. -0x1.8p1."""
    if bits == 32:
        assert f32(x) == x or x != x
    h = float(x).hex()  # like -0x1.8000000000000p+1
    sign = "-" if h.startswith("-") else ""
    h = h.lstrip("-")
    mant, exp = h[2:].split("p")
    if "." in mant:
        mant = mant.rstrip("0")
        if mant.endswith("."):
            mant += "0"
    return "%s0x%sp%d" % (sign, mant, int(exp))


def lit(x, bits):
    return str(wrap(x, bits))


HEADER = "test interpret\ntest run\ntarget x86_64\ntarget aarch64\n\n"
HEADER_I128 = "test interpret\ntest run\nset enable_llvm_abi_extensions=true\ntarget x86_64\ntarget aarch64\n\n"

# ---------------------------------------------------------------- integers
INT_VALUES = {
    8: [0, 1, -1, 127, -128, 100, -7],
    16: [0, 1, -1, 32767, -32768, 1234, -300],
    32: [0, 1, -1, 0x7FFFFFFF, -0x80000000, 123456789, -98765],
    64: [0, 1, -1, 0x7FFFFFFFFFFFFFFF, -0x8000000000000000, 0x123456789ABCDEF, -42],
}


def pairs(bits):
    vs = INT_VALUES[bits]
    out = []
    for i, a in enumerate(vs):
        for b in vs[i % 3 :: 3]:
            out.append((a, b))
    return out


def sdiv(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def srem(a, b):
    return a - sdiv(a, b) * b


BINOPS = {
    "iadd": lambda a, b, n: a + b,
    "isub": lambda a, b, n: a - b,
    "imul": lambda a, b, n: a * b,
    "band": lambda a, b, n: a & b,
    "bor": lambda a, b, n: a | b,
    "bxor": lambda a, b, n: a ^ b,
    "udiv": lambda a, b, n: None if u(b, n) == 0 else u(a, n) // u(b, n),
    "urem": lambda a, b, n: None if u(b, n) == 0 else u(a, n) % u(b, n),
    "sdiv": lambda a, b, n: None
    if b == 0 or (a == -(1 << (n - 1)) and b == -1)
    else sdiv(a, b),
    "srem": lambda a, b, n: None if b == 0 else (0 if b == -1 else srem(a, b)),
    "ishl": lambda a, b, n: u(a, n) << (u(b, n) % n),
    "ushr": lambda a, b, n: u(a, n) >> (u(b, n) % n),
    "sshr": lambda a, b, n: a >> (u(b, n) % n),
}


def int_file():
    out = [
        "; Integer arithmetic at every width; expectations from gen.py (Python,\n"
        "; wrapping two's-complement semantics, shift amounts modulo the width).\n"
        "; The has_bmi2 target runs the variable shifts as shlx/shrx/sarx.\n",
        HEADER.replace("target x86_64\n", "target x86_64\ntarget x86_64 has_bmi2\n"),
    ]
    for n in (8, 16, 32, 64):
        t = "i%d" % n
        for op, f in BINOPS.items():
            out.append(
                "function %%%s_%s(%s, %s) -> %s {\nblock0(v0: %s, v1: %s):\n"
                "    v2 = %s v0, v1\n    return v2\n}\n" % (op, t, t, t, t, t, t, op)
            )
            for a, b in pairs(n):
                if op in ("ishl", "ushr", "sshr"):
                    b = u(b, n) % 70
                r = f(a, b, n)
                if r is None:
                    continue
                out.append(
                    "; run: %%%s_%s(%s, %s) == %s\n" % (op, t, lit(a, n), lit(b, n), lit(r, n))
                )
            out.append("\n")
    return "".join(out)


# ---------------------------------------------------------------- calls
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def calls_file():
    s = [
        "; Calls between functions of one file: direct calls, a call chain that\n"
        "; mixes widths, recursion, and a function address called indirectly.\n"
        "; Expectations from gen.py.\n",
        HEADER,
        """function %square(i64) -> i64 {
block0(v0: i64):
    v1 = imul v0, v0
    return v1
}

function %sum_squares(i64, i64) -> i64 {
    fn0 = %square(i64) -> i64
block0(v0: i64, v1: i64):
    v2 = call fn0(v0)
    v3 = call fn0(v1)
    v4 = iadd v2, v3
    return v4
}
""",
    ]
    for a, b in [(3, 4), (0, 0), (-5, 12), (1 << 31, 1 << 31), (0x123456789, 7)]:
        s.append(
            "; run: %%sum_squares(%d, %d) == %s\n" % (a, b, lit(a * a + b * b, 64))
        )
    s.append(
        """
function %narrow(i8, i16) -> i32 {
block0(v0: i8, v1: i16):
    v2 = sextend.i32 v0
    v3 = uextend.i32 v1
    v4 = isub v3, v2
    return v4
}

function %chain(i32) -> i32 {
    fn0 = %narrow(i8, i16) -> i32
block0(v0: i32):
    v1 = ireduce.i8 v0
    v2 = ireduce.i16 v0
    v3 = call fn0(v1, v2)
    v4 = iconst.i32 3
    v5 = imul v3, v4
    return v5
}
"""
    )
    for x in [0, 1, 255, 0x1FF, -1, 0x12345678, -0x80000000]:
        a = wrap(x, 8)
        b = u(x, 16)
        s.append("; run: %%chain(%d) == %s\n" % (x, lit((b - a) * 3, 32)))
    s.append(
        """
function %fib(i32) -> i32 {
    fn0 = %fib(i32) -> i32
block0(v0: i32):
    v1 = iconst.i32 2
    v2 = icmp ult v0, v1
    brif v2, block1, block2

block1:
    return v0

block2:
    v3 = iconst.i32 1
    v4 = isub v0, v3
    v5 = call fn0(v4)
    v6 = isub v4, v3
    v7 = call fn0(v6)
    v8 = iadd v5, v7
    return v8
}
"""
    )
    for n in [0, 1, 2, 10, 20, 25]:
        s.append("; run: %%fib(%d) == %d\n" % (n, fib(n)))
    s.append(
        """
function %apply_twice(i64) -> i64 {
    sig0 = (i64) -> i64
    fn0 = %square sig0
block0(v0: i64):
    v1 = func_addr.i64 fn0
    v2 = call_indirect sig0, v1(v0)
    v3 = call_indirect sig0, v1(v2)
    return v3
}
"""
    )
    for x in [2, 3, -3, 1000, 1 << 20]:
        s.append("; run: %%apply_twice(%d) == %s\n" % (x, lit(x ** 4, 64)))
    return "".join(s)


# ---------------------------------------------------------------- floats
def floats_file():
    s = [
        "; Float add, subtract and multiply; expectations from gen.py (IEEE via\n"
        "; struct; f32 rounded after each operation, which is exact for single\n"
        "; operations).\n",
        HEADER.replace("target x86_64\n", "target x86_64\ntarget x86_64 has_avx\n"),
    ]
    vals = [0.0, -0.0, 1.5, -2.5, 3.25, 1e10, -7.0, 0.1]
    ops = {
        "fadd": lambda a, b: a + b,
        "fsub": lambda a, b: a - b,
        "fmul": lambda a, b: a * b,
    }
    for bits in (32, 64):
        t = "f%d" % bits
        rd = f32 if bits == 32 else (lambda x: x)
        for op, f in ops.items():
            s.append(
                "function %%%s_%s(%s, %s) -> %s {\nblock0(v0: %s, v1: %s):\n"
                "    v2 = %s v0, v1\n    return v2\n}\n" % (op, t, t, t, t, t, t, op)
            )
            for i, a in enumerate(vals):
                b = vals[(i * 3 + 1) % len(vals)]
                a, b = rd(a), rd(b)
                r = rd(f(a, b))
                s.append(
                    "; run: %%%s_%s(%s, %s) == %s\n"
                    % (op, t, fmt_f(a, bits), fmt_f(b, bits), fmt_f(r, bits))
                )
            s.append("\n")
    return "".join(s)


def rounding_file():
    s = [
        "; floor, ceil, trunc and nearest (round half to even); expectations from\n"
        "; gen.py. Without SSE4.1 these lower to libcalls on x86-64.\n",
        HEADER.replace("target x86_64\n", "target x86_64\ntarget x86_64 has_avx has_sse41\n"),
    ]
    for bits in (32, 64):
        t = "f%d" % bits
        rd = f32 if bits == 32 else (lambda x: x)
        for op, f in {
            "floor": math.floor,
            "ceil": math.ceil,
            "trunc": math.trunc,
            "nearest": lambda x: round(x),  # Python rounds half to even
        }.items():
            s.append(
                "function %%%s_%s(%s) -> %s {\nblock0(v0: %s):\n"
                "    v1 = %s v0\n    return v1\n}\n" % (op, t, t, t, t, op)
            )
            for x in [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.7, -3.7, 1e6 + 0.5]:
                x = rd(x)
                r = float(f(x))
                if r == 0.0 and math.copysign(1.0, x) < 0:
                    r = -0.0
                s.append(
                    "; run: %%%s_%s(%s) == %s\n"
                    % (op, t, fmt_f(x, bits), fmt_f(rd(r), bits))
                )
            s.append("\n")
    return "".join(s)


def fma_file():
    s = [
        "; Fused multiply-add: one rounding; expectations from gen.py.\n",
        HEADER.replace("target x86_64\n", "target x86_64\ntarget x86_64 has_avx has_fma\n"),
    ]
    s.append(
        """function %fma_f64(f64, f64, f64) -> f64 {
block0(v0: f64, v1: f64, v2: f64):
    v3 = fma v0, v1, v2
    return v3
}
"""
    )
    e = 2.0 ** -52
    # (1 + e)(1 - e) - 1 = -e^2 exactly when fused (0 when not).
    s.append(
        "; run: %%fma_f64(%s, %s, %s) == %s\n"
        % (fmt_f(1 + e, 64), fmt_f(1 - e, 64), fmt_f(-1.0, 64), fmt_f(-(e * e), 64))
    )
    s.append(
        "; run: %%fma_f64(%s, %s, %s) == %s\n"
        % (fmt_f(2.0, 64), fmt_f(3.0, 64), fmt_f(1.0, 64), fmt_f(7.0, 64))
    )
    return "".join(s)


# ---------------------------------------------------------------- ABI
def abi_file():
    s = [
        "; Signatures that stress argument passing: stack arguments (ten integers,\n"
        "; ten floats), mixed widths and classes, two return values, and a JIT-to-JIT\n"
        "; call with stack arguments. Expectations from gen.py.\n",
        HEADER.replace("target x86_64\n", "target x86_64\ntarget x86_64 has_avx\n"),
    ]
    ints = ", ".join(["i64"] * 10)
    params = ", ".join("v%d: i64" % i for i in range(10))
    # Weighted sum: sum of (i + 1) * a_i, with iconst weights.
    body = []
    for i in range(10):
        body.append("    v%d = iconst.i64 %d\n" % (40 + i, i + 1))
        body.append("    v%d = imul v%d, v%d\n" % (50 + i, i, 40 + i))
    acc = "v50"
    for i in range(1, 10):
        body.append("    v%d = iadd %s, v%d\n" % (60 + i, acc, 50 + i))
        acc = "v%d" % (60 + i)
    s.append(
        "function %%many_ints(%s) -> i64 {\nblock0(%s):\n%s    return %s\n}\n"
        % (ints, params, "".join(body), acc)
    )
    for args in [list(range(1, 11)), [-1] * 10, [1 << 40, 0, 0, 0, 0, 0, 0, 0, 0, -(1 << 40)]]:
        r = sum((i + 1) * a for i, a in enumerate(args))
        s.append(
            "; run: %%many_ints(%s) == %s\n" % (", ".join(map(str, args)), lit(r, 64))
        )
    s.append(
        """
function %call_many() -> i64 {
    fn0 = %many_ints(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64
block0:
"""
    )
    for i in range(10):
        s.append("    v%d = iconst.i64 %d\n" % (i, 100 + i))
    s.append(
        "    v10 = call fn0(%s)\n    return v10\n}\n" % ", ".join("v%d" % i for i in range(10))
    )
    s.append("; run: %%call_many() == %d\n\n" % sum((i + 1) * (100 + i) for i in range(10)))

    fl = ", ".join(["f64"] * 10)
    params = ", ".join("v%d: f64" % i for i in range(10))
    body = []
    acc = "v0"
    for i in range(1, 10):
        body.append("    v%d = fadd %s, v%d\n" % (20 + i, acc, i))
        acc = "v%d" % (20 + i)
    s.append(
        "function %%many_floats(%s) -> f64 {\nblock0(%s):\n%s    return %s\n}\n"
        % (fl, params, "".join(body), acc)
    )
    for args in [[float(i) for i in range(1, 11)], [0.5 * i for i in range(10)]]:
        r = 0.0
        for a in args:
            r += a
        s.append(
            "; run: %%many_floats(%s) == %s\n"
            % (", ".join(fmt_f(a, 64) for a in args), fmt_f(r, 64))
        )
    s.append(
        """
function %mixed(i8, f32, i16, f64, i32, i64) -> f64 {
block0(v0: i8, v1: f32, v2: i16, v3: f64, v4: i32, v5: i64):
    v10 = sextend.i64 v0
    v11 = sextend.i64 v2
    v12 = sextend.i64 v4
    v13 = iadd v10, v11
    v14 = iadd v13, v12
    v15 = iadd v14, v5
    v16 = fcvt_from_sint.f64 v15
    v17 = fpromote.f64 v1
    v18 = fadd v16, v17
    v19 = fadd v18, v3
    return v19
}
"""
    )
    for a, b, c, d, e, f in [(1, 2.5, 3, 4.25, 5, 6), (-128, -0.5, -32768, 1e3, -(1 << 31), 1 << 40)]:
        r = float(a + c + e + f) + f32(b)
        r = r + d
        s.append(
            "; run: %%mixed(%d, %s, %d, %s, %d, %d) == %s\n"
            % (a, fmt_f(f32(b), 32), c, fmt_f(d, 64), e, f, fmt_f(r, 64))
        )
    s.append(
        """
function %divmod(i32, i32) -> i32, i32 {
block0(v0: i32, v1: i32):
    v2 = udiv v0, v1
    v3 = urem v0, v1
    return v2, v3
}
"""
    )
    for a, b in [(17, 5), (100, 10), (-1, 7)]:
        ua, ub = u(a, 32), u(b, 32)
        s.append(
            "; run: %%divmod(%d, %d) == [%s, %s]\n" % (a, b, lit(ua // ub, 32), lit(ua % ub, 32))
        )
    s.append(
        """
function %int_and_float(i64, f64) -> f64, i64 {
block0(v0: i64, v1: f64):
    v2 = iconst.i64 1
    v3 = iadd v0, v2
    v4 = fneg v1
    return v4, v3
}
"""
    )
    for a, b in [(41, 1.5), (-1, -0.0)]:
        s.append(
            "; run: %%int_and_float(%d, %s) == [%s, %d]\n"
            % (a, fmt_f(b, 64), fmt_f(-b, 64), a + 1)
        )
    s.append(
        """
function %neg8(i8) -> i8 {
block0(v0: i8):
    v1 = ineg v0
    return v1
}
"""
    )
    for x in [0, 1, -128, 127]:
        s.append("; run: %%neg8(%d) == %s\n" % (x, lit(-x, 8)))
    return "".join(s)


# ---------------------------------------------------------------- i128
def i128_file():
    s = [
        "; 128-bit integers through calls: arguments and results travel in two\n"
        "; registers each (and through the test trampoline's 16-byte slots).\n"
        "; Expectations from gen.py. (x86-64 passes i128 in registers only with\n"
        "; enable_llvm_abi_extensions, as in Cranelift.)\n",
        HEADER_I128,
    ]
    vals = [0, 1, -1, (1 << 64) - 1, 1 << 64, (1 << 127) - 1, -(1 << 127), 0x0123456789ABCDEF_FEDCBA9876543210]
    for op, f in [("iadd", lambda a, b: a + b), ("isub", lambda a, b: a - b), ("band", lambda a, b: a & b), ("bxor", lambda a, b: a ^ b)]:
        s.append(
            "function %%%s_i128(i128, i128) -> i128 {\nblock0(v0: i128, v1: i128):\n"
            "    v2 = %s v0, v1\n    return v2\n}\n" % (op, op)
        )
        for i, a in enumerate(vals):
            b = vals[(i * 5 + 3) % len(vals)]
            s.append("; run: %%%s_i128(%d, %d) == %s\n" % (op, a, b, lit(f(a, b), 128)))
        s.append("\n")
    s.append(
        """function %widen(i64, i64) -> i128 {
block0(v0: i64, v1: i64):
    v2 = iconcat v0, v1
    return v2
}
"""
    )
    for lo, hi in [(1, 0), (-1, -1), (0, 1), (0x1234, -2)]:
        s.append("; run: %%widen(%d, %d) == %s\n" % (lo, hi, lit(u(lo, 64) | (u(hi, 64) << 64), 128)))
    return "".join(s)

# ---------------------------------------------------------------- float edges
def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32_from_bits(b):
    return struct.unpack("<f", struct.pack("<I", b))[0]


def f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f64_from_bits(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def representable(v, bits):
    """Whether the integer v is exactly a float of the given width."""
    x = float(v)
    return int(x) == v and (bits == 64 or f32(x) == x)


def next_toward(x, bits, up):
    """The neighbouring float of x (nonzero, finite) in the given direction."""
    if bits == 32:
        b = f32_bits(x)
        away = (x > 0) == up  # moving away from zero increases the magnitude
        return f32_from_bits(b + 1 if away else b - 1)
    return math.nextafter(x, math.inf if up else -math.inf)


def fcvt_edges(bits, n, signed):
    """(valid inputs, inputs that overflow) of a trapping conversion."""
    if signed:
        lo_bad, hi_bad = -(2 ** (n - 1)) - 1, 2 ** (n - 1)
        if representable(lo_bad, bits):
            lo = [float(lo_bad)]
            ok = [next_toward(float(lo_bad), bits, True)]
        else:
            lo = [next_toward(float(-(2 ** (n - 1))), bits, False)]
            ok = [float(-(2 ** (n - 1)))]
    else:
        lo, hi_bad = [-1.0], 2 ** n
        ok = [next_toward(-1.0, bits, True), -0.0, 0.0]
    ok.append(next_toward(float(hi_bad), bits, False))
    ok += [1.5, -1.5] if signed else [1.5]
    bad = lo + [float(hi_bad), 2.0 * hi_bad]
    return ok, bad


def fmt_any(x, bits):
    if x != x:
        return "+NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return fmt_f(x, bits)


FLOAT_EDGE_HEADER = (
    "test interpret\ntest run\nset enable_llvm_abi_extensions=true\n"
    "target x86_64\ntarget x86_64 has_sse41 has_avx has_fma\ntarget aarch64\n\n"
)


def float_edges_file():
    s = [
        "; Float edge cases: conversions at the limits of every integer width\n"
        "; (trapping forms just inside the range, saturating forms on both sides,\n"
        "; NaN and infinities), bitwise operations, fneg/fabs/fcopysign on NaN\n"
        "; payloads and signed zeros, and f16/f128 bit patterns through select and\n"
        "; memory. Expectations from gen.py (integer arithmetic on the IEEE bit\n"
        "; patterns from struct). Inputs that must trap are checked by\n"
        "; crates/filetests/tests/float_traps.rs.\n",
        FLOAT_EDGE_HEADER,
    ]
    for bits in (32, 64):
        t = "f%d" % bits
        for n in (8, 16, 32, 64):
            it = "i%d" % n
            for signed in (True, False):
                op = "fcvt_to_%sint" % ("s" if signed else "u")
                ok, bad = fcvt_edges(bits, n, signed)
                name = "%s_%s_%s" % (op, t, it)
                s.append(
                    "function %%%s(%s) -> %s {\nblock0(v0: %s):\n"
                    "    v1 = %s.%s v0\n    return v1\n}\n" % (name, t, it, t, op, it)
                )
                for x in ok:
                    s.append("; run: %%%s(%s) == %s\n" % (name, fmt_f(x, bits), lit(int(x), n)))
                s.append("\n")
                sat = op + "_sat"
                name = "%s_%s_%s" % (sat, t, it)
                s.append(
                    "function %%%s(%s) -> %s {\nblock0(v0: %s):\n"
                    "    v1 = %s.%s v0\n    return v1\n}\n" % (name, t, it, t, sat, it)
                )
                lo_int = -(2 ** (n - 1)) if signed else 0
                hi_int = 2 ** (n - 1) - 1 if signed else 2 ** n - 1
                for x in ok + bad + [math.inf, -math.inf, math.nan]:
                    r = 0 if x != x else max(lo_int, min(hi_int, int(x) if not math.isinf(x) else (hi_int if x > 0 else lo_int)))
                    s.append("; run: %%%s(%s) == %s\n" % (name, fmt_any(x, bits), lit(r, n)))
                s.append("\n")

    # Bitwise operations and sign manipulation on bit patterns (through
    # bitcast, so that NaN payloads are compared exactly).
    pats = {
        32: [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0x7F800001, 0xFFFFFFFF, 0x3F800000, 0x007FFFFF],
        64: [0, 1 << 63, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000001,
             0x7FF0000000000001, (1 << 64) - 1, 0x3FF0000000000000, 0x000FFFFFFFFFFFFF],
    }
    for bits in (32, 64):
        t, it = "f%d" % bits, "i%d" % bits
        mask = (1 << bits) - 1
        sign = 1 << (bits - 1)
        vs = pats[bits]
        binops = {
            "band": lambda a, b: a & b,
            "bor": lambda a, b: a | b,
            "bxor": lambda a, b: a ^ b,
            "fcopysign": lambda a, b: (a & ~sign & mask) | (b & sign),
        }
        for op, f in binops.items():
            name = "%s_bits_%s" % (op, t)
            s.append(
                "function %%%s(%s, %s) -> %s {\nblock0(v0: %s, v1: %s):\n"
                "    v2 = bitcast.%s v0\n    v3 = bitcast.%s v1\n    v4 = %s v2, v3\n"
                "    v5 = bitcast.%s v4\n    return v5\n}\n"
                % (name, it, it, it, it, it, t, t, op, it)
            )
            for i, a in enumerate(vs):
                b = vs[(i * 4 + 3) % len(vs)]
                s.append("; run: %%%s(%s, %s) == %s\n" % (name, lit(a, bits), lit(b, bits), lit(f(a, b), bits)))
            s.append("\n")
        unops = {
            "bnot": lambda a: ~a & mask,
            "fneg": lambda a: a ^ sign,
            "fabs": lambda a: a & ~sign & mask,
        }
        for op, f in unops.items():
            name = "%s_bits_%s" % (op, t)
            s.append(
                "function %%%s(%s) -> %s {\nblock0(v0: %s):\n"
                "    v1 = bitcast.%s v0\n    v2 = %s v1\n    v3 = bitcast.%s v2\n    return v3\n}\n"
                % (name, it, it, it, t, op, it)
            )
            for a in vs:
                s.append("; run: %%%s(%s) == %s\n" % (name, lit(a, bits), lit(f(a), bits)))
            s.append("\n")

    # f16 and f128 bit patterns through select and a stack slot.
    for ft, it, n, vs in [
        ("f16", "i16", 16, [0, 0x8000, 0x7C00, 0xFC00, 0x7E01, 0x7C01, 0x3C00, 0x0001]),
        ("f128", "i128", 128, [0, 1 << 127, 0x7FFF << 112, 0xFFFF << 112, (0x7FFF8 << 108) | 0x1234,
                               (0x7FFF << 112) | 1, 0x3FFF << 112, 1]),
    ]:
        name = "select_mem_%s" % ft
        s.append(
            "function %%%s(i32, %s, %s) -> %s {\n    ss0 = explicit_slot 32\n"
            "block0(v0: i32, v1: %s, v2: %s):\n"
            "    v3 = bitcast.%s v1\n    v4 = bitcast.%s v2\n    v5 = select v0, v3, v4\n"
            "    v6 = stack_addr.i64 ss0\n    store notrap v5, v6+16\n    v7 = load.%s notrap v6+16\n"
            "    v8 = bitcast.%s v7\n    return v8\n}\n"
            % (name, it, it, it, it, it, ft, ft, ft, it)
        )
        for i, a in enumerate(vs):
            b = vs[(i * 3 + 1) % len(vs)]
            for c in (0, 1, -7):
                r = a if c != 0 else b
                s.append("; run: %%%s(%d, %s, %s) == %s\n" % (name, c, lit(a, n), lit(b, n), lit(r, n)))
        s.append("\n")
    return "".join(s)


def float_traps_file():
    """Inputs on which the trapping conversions must trap; each directive is
    preceded by the trap code it must raise (checked by
    crates/filetests/tests/float_traps.rs, not by `kiln test`)."""
    s = [
        "; Trapping float-to-int conversions: every directive must trap with the\n"
        "; code named on the line before it. Generated by\n"
        "; cranelift-like-ir/run/gen.py.\n",
        "test run\ntarget x86_64\n\n",
    ]
    for bits in (32, 64):
        t = "f%d" % bits
        for n in (8, 16, 32, 64):
            it = "i%d" % n
            for signed in (True, False):
                op = "fcvt_to_%sint" % ("s" if signed else "u")
                _, bad = fcvt_edges(bits, n, signed)
                name = "%s_%s_%s" % (op, t, it)
                s.append(
                    "function %%%s(%s) -> %s {\nblock0(v0: %s):\n"
                    "    v1 = %s.%s v0\n    return v1\n}\n" % (name, t, it, t, op, it)
                )
                cases = [(x, "int_ovf") for x in bad + [math.inf, -math.inf]]
                cases.append((math.nan, "bad_toint"))
                for x, code in cases:
                    s.append("; expect trap %s\n; run: %%%s(%s) == 0\n" % (code, name, fmt_any(x, bits)))
                s.append("\n")
    return "".join(s)


def wide_float_calls_file():
    s = [
        "; f16 and f128 across calls: ten float arguments (the last two on the\n"
        "; stack), three float returns (the third through the return area), and a\n"
        "; float value live across the call (every XMM register is clobbered).\n"
        "; Expectations from gen.py.\n",
        "test interpret\ntest run\nset enable_llvm_abi_extensions=true\n"
        "set enable_multi_ret_implicit_sret=true\ntarget x86_64\ntarget x86_64 has_avx\ntarget aarch64\n\n",
    ]
    for ft, it, n, pairs_ in [
        ("f16", "i16", 16, [(0x7E01, 0x8000), (0x3C00, 0xFC00), (1, 0x7C01)]),
        ("f128", "i128", 128, [((0x7FFF8 << 108) | 0x1234, 1 << 127), (0x3FFF << 112, 0xFFFF << 112), (1, (0x7FFF << 112) | 5)]),
    ]:
        params = ", ".join([ft] * 10)
        vs = ", ".join("v%d: %s" % (i, ft) for i in range(10))
        s.append(
            "function %%pick10_%s(%s) -> %s, %s, %s {\nblock0(%s):\n    return v9, v8, v0\n}\n\n"
            % (ft, params, ft, ft, ft, vs)
        )
        s.append(
            "function %%call10_%s(%s, %s, i32) -> %s, %s, %s {\n"
            "    fn0 = %%pick10_%s(%s) -> %s, %s, %s\n"
            "block0(v0: %s, v1: %s, v2: i32):\n"
            "    v3 = bitcast.%s v0\n    v4 = bitcast.%s v1\n"
            "    v5, v6, v7 = call fn0(v4, v3, v4, v3, v4, v3, v4, v3, v4, v3)\n"
            "    v8 = select v2, v3, v7\n"
            "    v9 = bitcast.%s v5\n    v10 = bitcast.%s v6\n    v11 = bitcast.%s v8\n"
            "    return v9, v10, v11\n}\n"
            % (ft, it, it, it, it, it, ft, params, ft, ft, ft, it, it, ft, ft, it, it, it)
        )
        for a, b in pairs_:
            for c in (0, 1):
                # pick10 returns (arg9, arg8, arg0) = (a, b, b); the third
                # result is replaced by a when c != 0.
                r = (a, b, a if c else b)
                s.append(
                    "; run: %%call10_%s(%s, %s, %d) == [%s]\n"
                    % (ft, lit(a, n), lit(b, n), c, ", ".join(lit(x, n) for x in r))
                )
        s.append("\n")
    return "".join(s)


def main():
    for name, text in [
        ("i128.clif", i128_file()),
        ("abi.clif", abi_file()),
        ("integers.clif", int_file()),
        ("calls.clif", calls_file()),
        ("floats.clif", floats_file()),
        ("rounding.clif", rounding_file()),
        ("fma.clif", fma_file()),
        ("float-edges.clif", float_edges_file()),
        ("wide-float-calls.clif", wide_float_calls_file()),
    ]:
        with open(os.path.join(HERE, name), "w") as f:
            f.write(text)
    traps = os.path.join(HERE, "..", "..", "crates", "filetests", "tests", "float-traps.clif")
    with open(traps, "w") as f:
        f.write(float_traps_file())


if __name__ == "__main__":
    main()
