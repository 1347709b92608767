#!/usr/bin/env python3
"""Generates the x64 run files of this folder; every expectation is computed
here, independently of Kiln. Run: python3 gen.py"""

M64 = (1 << 64) - 1


def s64(x):
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def pressure():
    # 24 values live at once: more than the 14 allocatable GPRs.
    n = 24
    out = ["test run", "target x86_64", "",
           "; Register pressure: 24 values stay live across a call-free region,",
           "; more than the allocatable registers, so some must be spilled and",
           "; reloaded. Expectations from gen.py.", "",
           "function %pressure(i64, i64) -> i64 {", "block0(v0: i64, v1: i64):"]
    for i in range(n):
        out.append(f"    v{100 + i} = iconst.i64 {i * 7 + 3}")
        out.append(f"    v{200 + i} = imul v0, v{100 + i}")
        out.append(f"    v{300 + i} = iadd v{200 + i}, v1")
    # Combine in reverse order so every value is live until the end.
    acc = "v300"
    for i in range(1, n):
        out.append(f"    v{400 + i} = bxor {acc}, v{300 + n - i}")
        acc = f"v{400 + i}"
    for i in range(n):
        out.append(f"    v{500 + i} = iadd {acc}, v{300 + i}")
        acc = f"v{500 + i}"
    out += [f"    return {acc}", "}"]

    def ref(a, b):
        vals = [(a * (i * 7 + 3) + b) & M64 for i in range(n)]
        acc = vals[0]
        for i in range(1, n):
            acc ^= vals[n - i]
        for i in range(n):
            acc = (acc + vals[i]) & M64
        return s64(acc)
    for a, b in [(0, 0), (1, 2), (-1, 5), (123456789, -987654321), (1 << 40, 3)]:
        out.append(f"; run: %pressure({a}, {b}) == {ref(a, b)}")
    return "\n".join(out) + "\n"


def deep_calls():
    out = ["test run", "target x86_64", "",
           "; Deep call chains: self-recursion 10,000 frames deep, and a chain of",
           "; eight distinct functions. Expectations from gen.py.", "",
           "function %depth(i64) -> i64 {",
           "    fn0 = colocated %depth(i64) -> i64",
           "block0(v0: i64):",
           "    brif v0, block1, block2",
           "block1:",
           "    v1 = iconst.i64 1",
           "    v2 = isub v0, v1",
           "    v3 = call fn0(v2)",
           "    v4 = iadd v3, v0",
           "    return v4",
           "block2:",
           "    v5 = iconst.i64 0",
           "    return v5",
           "}"]
    for n in [0, 1, 10, 1000, 10000]:
        out.append(f"; run: %depth({n}) == {n * (n + 1) // 2}")
    for k in range(8, 0, -1):
        out += ["", f"function %link{k}(i32) -> i32 {{"]
        if k < 8:
            out.append(f"    fn0 = %link{k + 1}(i32) -> i32")
        out.append("block0(v0: i32):")
        out.append(f"    v1 = iconst.i32 {k}")
        out.append("    v2 = imul v0, v1")
        out.append(f"    v3 = iadd_imm_placeholder")
        if k < 8:
            out.append("    v4 = call fn0(v3)")
            out.append("    return v4")
        else:
            out.append("    return v3")
        out.append("}")

    def link(k, x):
        x = (x * k + k) & 0xFFFFFFFF
        return x if k == 8 else link(k + 1, x)
    for x in [0, 1, 7, 1000]:
        r = link(1, x)
        r = r - (1 << 32) if r >> 31 else r
        out.append(f"; run: %link1({x}) == {r}")
    text = "\n".join(out) + "\n"
    # iadd of the constant k: spelled with the v1 constant (no *_imm opcodes).
    return text.replace("    v3 = iadd_imm_placeholder", "    v3 = iadd v2, v1")


def loop_kernel():
    out = ["test run", "target x86_64", "",
           "; A loop-heavy kernel: two nested counted loops (1,000 x 1,000) mixing",
           "; multiply, xor, shifts and a data-dependent select. Expectations from",
           "; gen.py.", "",
           "function %kernel(i64, i64) -> i64 {",
           "block0(v0: i64, v1: i64):",
           "    v2 = iconst.i64 0",
           "    v3 = iconst.i64 1",
           "    jump block1(v2, v2)",
           "block1(v10: i64, v11: i64):",
           "    jump block2(v2, v11)",
           "block2(v20: i64, v21: i64):",
           "    v22 = imul v10, v20",
           "    v23 = iadd v10, v20",
           "    v24 = bxor v22, v23",
           "    v25 = iconst.i64 3",
           "    v26 = ishl v21, v25",
           "    v27 = ushr v21, v25",
           "    v28 = bxor v26, v27",
           "    v29 = iadd v28, v24",
           "    v30 = band v24, v3",
           "    v31 = isub v29, v20",
           "    v32 = select v30, v29, v31",
           "    v33 = iadd v20, v3",
           "    v34 = icmp ult v33, v1",
           "    brif v34, block2(v33, v32), block3(v32)",
           "block3(v40: i64):",
           "    v41 = iadd v10, v3",
           "    v42 = icmp ult v41, v0",
           "    brif v42, block1(v41, v40), block4(v40)",
           "block4(v50: i64):",
           "    return v50",
           "}"]

    def ref(n, m):
        acc = 0
        i = 0
        while True:
            j = 0
            while True:
                t = ((i * j) ^ (i + j)) & M64
                acc2 = (((acc << 3) & M64) ^ (acc >> 3)) + t
                acc2 &= M64
                acc = acc2 if t & 1 else (acc2 - j) & M64
                j += 1
                if not j < m:
                    break
            i += 1
            if not i < n:
                break
        return s64(acc)
    for n, m in [(1, 1), (3, 5), (100, 100), (1000, 1000)]:
        out.append(f"; run: %kernel({n}, {m}) == {ref(n, m)}")
    return "\n".join(out) + "\n"


for name, f in [("pressure", pressure), ("deep-calls", deep_calls), ("loop-kernel", loop_kernel)]:
    with open(f"{name}.clif", "w") as fh:
        fh.write(f())
