# Independent re-derivation of the `golden_key` test value (KEY_VERSION 2):
# run `python3 golden_v2.py`; it prints the encoding and its SHA-256.
# Independent re-encoding of the golden_key function from the documented
# KEY_VERSION 2 format (docs/cache.md, "The stencil key").
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
I32 = 3
RETURN, ICONST, IADD = 3, 16, 23   # positions in the opcode table
e = u32(2) + s(b'0.1.0') + s(b'x86_64-unknown-linux-gnu') + s(b'')
abi = uv(I32) + bytes([0, 0])
e += bytes([0]) + uv(1) + abi + uv(1) + abi      # sig: fast, (i32) -> i32
e += uv(0)                                       # no stack_limit
e += bytes([1]) + uv(1) + fresh(I32)             # block0(v0: i32); next number 1
e += bytes([ICONST + 1, 0]) + uv(I32) + bytes([1]) + sv(1)          # v1 = 1; next 2
e += bytes([IADD + 1, 0]) + uv(I32) + bytes([1]) + uv(3 - 0) + uv(3 - 1)  # v2; next 3
e += bytes([RETURN + 1, 0]) + uv(0) + bytes([0]) + uv(1) + uv(3 - 2)
e += bytes([0, 0]) + b'Z'                        # end of block, end of blocks, no entities
print(e.hex())
print(hashlib.sha256(e).hexdigest())
