# Independent re-derivation of the `golden_key` test value (KEY_VERSION 3):
# run `python3 golden_v3.py`; it prints the encoding and its SHA-256.
# Independent re-encoding of the golden_key function from the documented
# KEY_VERSION 3 format (the module doc of key.rs; docs/cache.md, "The
# stencil key").
import hashlib, struct
def u32(v): return struct.pack('<I', v)
def s(b): return u32(len(b)) + b
def uv(v):
    out = b''
    while v >= 0x80:
        out += bytes([(v & 0x7f) | 0x80]); v >>= 7
    return out + bytes([v])
def sv(v): return uv((v << 1) ^ (v >> 63) if v >= 0 else ((-v) << 1) - 1)
def fresh(ty): return uv(ty << 1)  # a definition at its first mention
# head: 0 = no result, ty + 2 = one fresh result of type ty (controlling
# type implied), written as uv(head << 1 | same-source-location); the
# source location follows unless it is the same as the previous one.
def head(h, same=0): return uv(h << 1 | same)
DEFAULT_LOC = uv(0)
I32 = 3
RETURN, ICONST, IADD = 3, 16, 23   # positions in the opcode table
e = u32(3) + s(b'0.1.0') + s(b'x86_64-unknown-linux-gnu') + s(b'')
abi = uv(I32) + bytes([0 << 3 | 0])              # type, extension none << 3 | purpose normal
e += bytes([0]) + uv(1) + abi + uv(1) + abi      # sig: fast, (i32) -> i32
e += uv(0)                                       # no stack_limit
e += bytes([1]) + uv(1) + fresh(I32)             # block0(v0: i32); next number 1
# iconst: ctrl from its result (no typevar operand); v1 = 1; next 2
e += bytes([ICONST + 1]) + head(I32 + 2) + DEFAULT_LOC + sv(1)
# iadd: ctrl from v0, typed by its definition; v2; next 3
e += bytes([IADD + 1]) + head(I32 + 2) + DEFAULT_LOC + uv(3 - 0) + uv(3 - 1)
# return: not polymorphic, no result; list of one value, v2
e += bytes([RETURN + 1]) + head(0) + DEFAULT_LOC + uv(1) + uv(3 - 2)
e += bytes([0, 0]) + b'Z'                        # end of block, end of blocks, no entities
print(e.hex())
print(hashlib.sha256(e).hexdigest())
