#!/usr/bin/env python3
"""Write small valid heap dumps as a seed corpus for the `parse` fuzz target.

    python3 fuzz/make_seeds.py DIR    # seed8 (8-byte ids), seed4 (4-byte ids), seed101 (1.0.1)

Each dump has classes with instance and static fields, a 4-node linked list, an object array,
a byte[] payload, a stack frame and trace, and GC roots of four kinds, so libFuzzer starts from
inputs that reach every pass instead of having to discover the header first.
"""
import os, struct, sys
def dump(idsz, fmt=b"JAVA PROFILE 1.0.2", segmented=True):
    I = (lambda v: struct.pack(">Q", v)) if idsz == 8 else (lambda v: struct.pack(">I", v))
    u4 = lambda v: struct.pack(">I", v & 0xffffffff)
    out = bytearray(fmt + b"\0" + u4(idsz) + u4(0) + u4(1700000000))
    def rec(tag, body):
        out.extend(bytes([tag]) + u4(0) + u4(len(body)) + body)
    sym = [0x100]
    def s(text):
        sym[0] += 8; rec(0x01, I(sym[0]) + text); return sym[0]
    seg = bytearray()
    serial = [0]
    def cls(cid, name, sup, fields, statics=()):
        serial[0] += 1
        rec(0x02, u4(serial[0]) + I(cid) + u4(1) + I(s(name)))
        body = bytes([0x20]) + I(cid) + u4(1) + I(sup) + I(0)*5
        size = sum(idsz if t == 2 else {4:1,8:1,5:2,9:2,6:4,10:4}.get(t, 8) for _, t in fields)
        body += u4(size) + struct.pack(">H", 0) + struct.pack(">H", len(statics))
        for n, t, v in statics:
            body += I(s(n)) + bytes([t]) + I(v)
        body += struct.pack(">H", len(fields))
        for n, t in fields:
            body += I(s(n)) + bytes([t])
        seg.extend(body)
    cls(0x10, b"java/lang/Object", 0, [])
    cls(0x18, b"[Ljava/lang/Object;", 0x10, [])
    cls(0x20, b"Holder", 0x10, [(b"payload", 2)])
    cls(0x30, b"Node", 0x10, [(b"next", 2), (b"id", 10)], [(b"HEAD", 2, 0x2000)])
    # frames and a trace for one thread
    rec(0x04, I(0x900) + I(s(b"main")) + I(s(b"([Ljava/lang/String;)V")) + I(s(b"Main.java")) + u4(3) + u4(7))
    rec(0x05, u4(1) + u4(1) + u4(1) + I(0x900))
    seg.extend(bytes([0x21]) + I(0x1000) + u4(1) + I(0x20) + u4(idsz) + I(0x1008))
    seg.extend(bytes([0x23]) + I(0x1008) + u4(1) + u4(8) + bytes([8]) + b"payload!")
    for i in range(4):
        nxt = 0x2000 + (i + 1) * 0x18 if i < 3 else 0
        seg.extend(bytes([0x21]) + I(0x2000 + i*0x18) + u4(1) + I(0x30) + u4(idsz + 4) + I(nxt) + u4(i))
    seg.extend(bytes([0x22]) + I(0x3000) + u4(1) + u4(3) + I(0x18) + I(0x1000) + I(0x2000) + I(0x3000))
    seg.extend(bytes([0x01]) + I(0x1000) + I(0x77))
    seg.extend(bytes([0x08]) + I(0x3000) + u4(1) + u4(1))
    seg.extend(bytes([0x03]) + I(0x2000) + u4(1) + u4(0))
    seg.extend(bytes([0xFF]) + I(0xdead0))
    rec(0x1C if segmented else 0x0C, bytes(seg))
    if segmented:
        rec(0x2C, b"")
    return bytes(out)
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
for name, data in [("seed8", dump(8)), ("seed4", dump(4)), ("seed101", dump(8, b"JAVA PROFILE 1.0.1", False))]:
    open(f"{d}/{name}", "wb").write(data)
    print(name, len(data))
