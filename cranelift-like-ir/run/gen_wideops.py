#!/usr/bin/env python3
"""Generates wide-ops.clif: i128 high multiplies, multiply overflow,
carry/borrow chains, shifts and rotates by every interesting amount, and
population count at every width. Expected values are computed here in
Python (exact integers), independently of Kiln. Run: python3 gen_wideops.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
M128 = (1 << 128) - 1


def s(x, bits):
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def u(x, bits):
    return x & ((1 << bits) - 1)


V128 = [0, 1, M128, 1 << 127, (1 << 127) - 1, 1 << 64, (1 << 64) - 1,
        0x0123456789ABCDEF_FEDCBA9876543210, u(-0x5555_0000_1111_2222_3333, 128), 3 << 63]


def pairs():
    out = []
    for i, a in enumerate(V128):
        for b in V128[i:i + 4]:
            out.append((a, b))
    return out


def lit(x, bits=128):
    return str(s(x, bits))


def main():
    o = ["; i128 high multiplies, multiply overflow, carry chains, shifts and\n"
         "; rotates by every interesting amount, population count. Expectations\n"
         "; from gen_wideops.py.\n"
         "test interpret\ntest run\nset enable_llvm_abi_extensions=true\nset enable_multi_ret_implicit_sret=true\n"
         "target x86_64\ntarget aarch64\n\n"]
    for op, signed in (("umulhi", False), ("smulhi", True)):
        o.append("function %%%s_i128(i128, i128) -> i128 {\nblock0(v0: i128, v1: i128):\n"
                 "    v2 = %s v0, v1\n    return v2\n}\n" % (op, op))
        for a, b in pairs():
            x, y = (s(a, 128), s(b, 128)) if signed else (a, b)
            o.append("; run: %%%s_i128(%s, %s) == %s\n" % (op, lit(a), lit(b), lit((x * y) >> 128)))
        o.append("\n")
    for op, signed in (("umul_overflow", False), ("smul_overflow", True)):
        o.append("function %%%s_i128(i128, i128) -> i128, i8 {\nblock0(v0: i128, v1: i128):\n"
                 "    v2, v3 = %s v0, v1\n    return v2, v3\n}\n" % (op, op))
        for a, b in pairs():
            x, y = (s(a, 128), s(b, 128)) if signed else (a, b)
            p = x * y
            r = u(p, 128)
            ovf = (s(r, 128) != p) if signed else (p != r)
            o.append("; run: %%%s_i128(%s, %s) == [%s, %d]\n" % (op, lit(a), lit(b), lit(r), ovf))
        o.append("\n")
    for op in ("uadd_overflow_cin", "sadd_overflow_cin", "usub_overflow_bin", "ssub_overflow_bin"):
        o.append("function %%%s_i128(i128, i128, i8) -> i128, i8 {\nblock0(v0: i128, v1: i128, v2: i8):\n"
                 "    v3, v4 = %s v0, v1, v2\n    return v3, v4\n}\n" % (op, op))
        for a, b in pairs()[::3]:
            for c in (0, 1, 7):
                cb = 1 if c else 0
                if op.startswith("u"):
                    x, y = a, b
                else:
                    x, y = s(a, 128), s(b, 128)
                t = x + y + cb if "add" in op else x - y - cb
                r = u(t, 128)
                ovf = (t != r) if op.startswith("u") else (s(r, 128) != t)
                o.append("; run: %%%s_i128(%s, %s, %d) == [%s, %d]\n" % (op, lit(a), lit(b), c, lit(r), ovf))
        o.append("\n")
    amounts = [0, 1, 5, 63, 64, 65, 100, 127, 128, 129, 200]
    xs = [0x0123456789ABCDEF_FEDCBA9876543210, 1 << 127, 1, M128]
    for op in ("ishl", "ushr", "sshr", "rotl", "rotr"):
        o.append("function %%%s_i128_amt(i128, i64) -> i128 {\nblock0(v0: i128, v1: i64):\n"
                 "    v2 = %s v0, v1\n    return v2\n}\n" % (op, op))
        for x in xs:
            for k in amounts:
                m = k % 128
                if op == "ishl":
                    r = x << m
                elif op == "ushr":
                    r = x >> m
                elif op == "sshr":
                    r = s(x, 128) >> m
                elif op == "rotl":
                    r = (x << m) | (x >> ((128 - m) % 128))
                else:
                    r = (x >> m) | (x << ((128 - m) % 128))
                o.append("; run: %%%s_i128_amt(%s, %d) == %s\n" % (op, lit(x), k, lit(u(r, 128))))
        o.append("\n")
    for bits in (8, 16, 32, 64, 128):
        o.append("function %%popcnt_i%d(i%d) -> i%d {\nblock0(v0: i%d):\n"
                 "    v1 = popcnt v0\n    return v1\n}\n" % (bits, bits, bits, bits))
        vals = [0, 1, (1 << bits) - 1, 1 << (bits - 1), 0x0123456789ABCDEF_FEDCBA9876543210 & ((1 << bits) - 1),
                0x5555_5555_5555_5555_5555_5555_5555_5555 & ((1 << bits) - 1)]
        for v in vals:
            o.append("; run: %%popcnt_i%d(%s) == %d\n" % (bits, lit(v, bits), bin(v).count("1")))
        o.append("\n")
    with open(os.path.join(HERE, "wide-ops.clif"), "w") as f:
        f.write("".join(o).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
