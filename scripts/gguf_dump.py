#!/usr/bin/env python3
"""Describes a GGUF file as the `gguf` package (PyPI gguf==0.19.0, its
GGUFReader) reads it, in the line format tests/test_gguf.c checks wgml's
reader against (`test_gguf expect FILE DESCRIPTION`).

    pip install gguf==0.19.0
    python3 scripts/gguf_dump.py FILE.gguf [--deq NAME:START:COUNT ...] > FILE.txt

Format, one record per line, fields separated by one space; keys, names and
strings are written as hex of their UTF-8 bytes ("-" when empty), so that any
byte survives:
    header VERSION ALIGNMENT KV_COUNT TENSOR_COUNT DATA_OFFSET
    kv KEY TYPE VALUE            a scalar or string (TYPE as GGUFValueType's number)
    arr KEY ELEMTYPE COUNT       an array
    elem KEY INDEX VALUE         one element of it (all of them for arrays of up to
                                 64 elements, else the first 16 and the last)
    tensor NAME TYPE N_DIMS NE... FILE_OFFSET N_BYTES CHECKSUM
    deq NAME START COUNT F32...  gguf.dequantize() of elements [START, START + COUNT)
VALUE: integers in decimal, bools 0/1, floats as hex of their IEEE bits (8
digits for f32, 16 for f64), strings as hex bytes. CHECKSUM: the sum over the
tensor's bytes b[i] of b[i] * (i % 251 + 1), modulo 2^64, in hex.
"""
import sys

import numpy as np
import gguf
from gguf import GGUFValueType as V

SMALL_ARRAY = 64


def hexs(b):
    return b.hex() if b else "-"


def value_text(vtype, part):
    if vtype == V.STRING:
        return hexs(part.tobytes())
    if vtype == V.BOOL:
        return "1" if bool(part[0]) else "0"
    if vtype == V.FLOAT32:
        return "%08x" % part.view(np.uint32)[0]
    if vtype == V.FLOAT64:
        return "%016x" % part.view(np.uint64)[0]
    return str(int(part[0]))


def checksum(data):
    b = np.asarray(data).reshape(-1).view(np.uint8).astype(np.uint64)
    w = (np.arange(b.size, dtype=np.uint64) % np.uint64(251)) + np.uint64(1)
    with np.errstate(over="ignore"):
        return int(np.sum(b * w, dtype=np.uint64))


def describe(path, deq=()):
    r = gguf.GGUFReader(path)
    fields = [f for f in r.fields.values() if not f.name.startswith("GGUF.")]
    lines = ["header %d %d %d %d %d" % (int(r.fields["GGUF.version"].parts[0][0]), r.alignment,
                                        len(fields), len(r.tensors), r.data_offset)]
    for f in fields:
        key = hexs(f.name.encode())
        vtype = f.types[0]
        if vtype != V.ARRAY:
            lines.append("kv %s %d %s" % (key, vtype, value_text(vtype, f.parts[f.data[0]])))
            continue
        # parts: key length, key, value type, element type, count, elements...
        etype, count = V(int(f.parts[3][0])), int(f.parts[4][0])
        lines.append("arr %s %d %d" % (key, etype, count))
        idx = range(count) if count <= SMALL_ARRAY else list(range(16)) + [count - 1]
        for i in idx:
            lines.append("elem %s %d %s" % (key, i, value_text(etype, f.parts[f.data[i]])))
    for t in r.tensors:
        ne = [int(x) for x in t.shape]
        lines.append("tensor %s %d %d %s %d %d %x" % (hexs(t.name.encode()), int(t.tensor_type), len(ne),
                                                      " ".join(map(str, ne)), t.data_offset, t.n_bytes,
                                                      checksum(t.data)))
    by_name = {t.name: t for t in r.tensors}
    for name, start, count in deq:
        t = by_name[name]
        vals = gguf.dequantize(t.data, t.tensor_type).reshape(-1)[start:start + count]
        lines.append("deq %s %d %d %s" % (hexs(name.encode()), start, count,
                                          " ".join("%08x" % v for v in vals.astype(np.float32).view(np.uint32))))
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    deq = []
    for spec in argv[2:]:
        if spec == "--deq":
            continue
        name, start, count = spec.rsplit(":", 2)
        deq.append((name, int(start), int(count)))
    sys.stdout.write(describe(argv[1], deq))


if __name__ == "__main__":
    main(sys.argv)
