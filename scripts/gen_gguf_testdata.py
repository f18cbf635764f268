#!/usr/bin/env python3
"""Writes tests/data/gguf/: GGUF files and what the `gguf` package (PyPI
gguf==0.19.0) reads in them, for tests/test_gguf.c.

    pip install gguf==0.19.0 && python3 scripts/gen_gguf_testdata.py

  meta.gguf      GGUFWriter: a value of every metadata type, arrays of each,
                 strings with NUL bytes and non-ASCII text, tensors of 1 to 4
                 dimensions with odd sizes (padding between them)
  types.gguf     GGUFWriter, general.alignment 64: for each tensor type wgml
                 reads (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K) a tensor
                 `TYPE` of random blocks (f16 scales set to random finite
                 values, subnormals included), and `TYPE.expected`, the F32
                 values gguf.dequantize() gives for it
  edge_*.gguf    handcrafted valid files GGUFWriter cannot write: version 2,
                 no tensors and no keys, empty arrays, gaps and trailing bytes
  *.txt          each file as gguf.GGUFReader reads it (scripts/gguf_dump.py)
  bad/*.gguf     handcrafted files that break one rule each; bad.txt lists
                 `FILE STATUS SUBSTRING...`: the status wgml must return and a
                 substring its message must hold
  tests/fuzz/corpus/gguf/   seeds for tests/fuzz/fuzz_gguf.c: a small file
                 with one block of every type, the edge files and the bad ones
  smollm2.txt    the SmolLM2-135M-Instruct Q4_1 file of scripts/setup.sh as
                 GGUFReader reads it, with dequantised values of a few tensors
                 (only when the model is installed)
"""
import os
import struct
import sys
from importlib.metadata import version

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T, GGUFValueType as V

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_dump  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "gguf")
SMOLLM2 = os.path.join(ROOT, ".deps", "models", "SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
rng = np.random.default_rng(20250107)


def write_writer_file(path, build, alignment=None):
    w = gguf.GGUFWriter(path, "wgmltest")
    if alignment:
        w.add_custom_alignment(alignment)
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------- valid files

def build_meta(w):
    w.add_key_value("t.u8", 200, V.UINT8)
    w.add_key_value("t.i8", -100, V.INT8)
    w.add_key_value("t.u16", 60000, V.UINT16)
    w.add_key_value("t.i16", -30000, V.INT16)
    w.add_key_value("t.u32", 4000000000, V.UINT32)
    w.add_key_value("t.i32", -2000000000, V.INT32)
    w.add_key_value("t.i32.pos", 123456, V.INT32)
    w.add_key_value("t.f32", 3.14159, V.FLOAT32)
    w.add_key_value("t.bool.true", True, V.BOOL)
    w.add_key_value("t.bool.false", False, V.BOOL)
    w.add_key_value("t.str", "hello", V.STRING)
    w.add_key_value("t.str.empty", "", V.STRING)
    w.add_key_value("t.str.utf8", "h\u00e9llo \u4e16\u754c \U0001f642", V.STRING)
    w.add_key_value("t.str.nul", b"a\x00b", V.STRING)
    w.add_key_value("t.u64", 2**63 + 5, V.UINT64)
    w.add_key_value("t.i64", -(2**62), V.INT64)
    w.add_key_value("t.f64", 2.718281828459045, V.FLOAT64)
    for vt, vals in [(V.UINT8, [0, 1, 255]), (V.INT8, [-128, 0, 127]), (V.UINT16, [65535, 7]),
                     (V.INT16, [-32768, 32767]), (V.UINT32, [2**32 - 1, 0]), (V.INT32, [-5, 6, -7]),
                     (V.FLOAT32, [0.5, -1e-30, 3e38]), (V.BOOL, [True, False, True]),
                     (V.UINT64, [2**64 - 1]), (V.INT64, [-(2**63), 2**63 - 1]),
                     (V.FLOAT64, [1e-300, -0.0])]:
        w.add_key_value("a.%s" % vt.name.lower(), vals, V.ARRAY, sub_type=vt)
    w.add_key_value("a.string", ["a", "", "b\x00c", "\u00fc"], V.ARRAY, sub_type=V.STRING)
    # A long array: the dump lists its first 16 elements and the last.
    w.add_key_value("a.long", [str(i) * (i % 5) for i in range(300)], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("a.scores", list(rng.normal(0, 1, 100).astype(np.float32)), V.ARRAY, sub_type=V.FLOAT32)
    w.add_tensor("one.d", rng.normal(0, 1, 7).astype(np.float32))
    w.add_tensor("two.d", rng.normal(0, 1, (3, 5)).astype(np.float16))
    w.add_tensor("three.d", rng.normal(0, 1, (2, 3, 4)).astype(np.float32))
    w.add_tensor("four.d", rng.normal(0, 1, (2, 1, 3, 9)).astype(np.float32))
    w.add_tensor("blk.0.attn_q.weight", rng.normal(0, 1, (4, 64)).astype(np.float32))


def random_f16_bits(n):
    """Random finite f16 bit patterns (subnormals and zeros included)."""
    bits = rng.integers(0, 65536, n, dtype=np.uint16)
    exp = (bits >> 10) & 31
    return np.where(exp == 31, bits & np.uint16(0x83ff), bits).astype(np.uint16)


def random_blocks(qt, n_blocks):
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qt]
    raw = rng.integers(0, 256, (n_blocks, block_bytes), dtype=np.uint8)
    # The f16 fields (scales, minimums) of each block: byte offsets from ggml-common.h.
    f16_at = {T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q4_K: [0, 2], T.Q6_K: [208]}[qt]
    for off in f16_at:
        raw[:, off:off + 2] = random_f16_bits(n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw


def build_types(w):
    # Two rows of two blocks each for the block types; plain types have odd sizes.
    f32 = rng.normal(0, 1, (3, 37)).astype(np.float32)
    f32.reshape(-1)[:4] = [0.0, -0.0, np.inf, 1e-45]
    w.add_tensor("F32", f32)
    w.add_tensor("F32.expected", gguf.dequantize(f32, T.F32).astype(np.float32))
    f16 = random_f16_bits(2 * 33).view(np.float16).reshape(2, 33)
    f16.reshape(-1)[:3] = [np.inf, -np.inf, -0.0]
    w.add_tensor("F16", f16)
    w.add_tensor("F16.expected", gguf.dequantize(f16, T.F16).astype(np.float32))
    bf = rng.normal(0, 1, 50).astype(np.float32) * np.exp(rng.uniform(-40, 40, 50)).astype(np.float32)
    bf16 = (bf.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(2, 50)
    w.add_tensor("BF16", bf16, raw_dtype=T.BF16)
    w.add_tensor("BF16.expected", gguf.dequantize(bf16, T.BF16).astype(np.float32))
    for qt in (T.Q8_0, T.Q4_0, T.Q4_1, T.Q4_K, T.Q6_K):
        raw = random_blocks(qt, 4).reshape(2, -1)
        w.add_tensor(qt.name, raw, raw_dtype=qt)
        w.add_tensor(qt.name + ".expected", gguf.dequantize(raw, qt).astype(np.float32))


# ---------------------------------------------------------------- handcrafted files

def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def gstr(b): return u64(len(b)) + b


def kv(key, vtype, payload):
    return gstr(key) + u32(vtype) + payload


def kv_u32(key, v): return kv(key, V.UINT32, u32(v))


def ti(name, ne, ttype, offset, n_dims=None):
    return gstr(name) + u32(len(ne) if n_dims is None else n_dims) + b"".join(u64(d) for d in ne) + \
        u32(ttype) + u64(offset)


def make(kvs=(), tis=(), data=b"", version=3, n_tensors=None, n_kv=None, magic=b"GGUF",
         align=32, pad=True):
    head = magic + u32(version) + u64(len(tis) if n_tensors is None else n_tensors) + \
        u64(len(kvs) if n_kv is None else n_kv) + b"".join(kvs) + b"".join(tis)
    if pad:
        head += b"\0" * (-len(head) % align)
    return head + data


F32_4x8 = bytes(range(128))   # 32 elements of F32: 128 bytes


def edge_files():
    yield "edge_v2.gguf", make([kv_u32(b"x", 7)], [ti(b"w", [8, 4], T.F32, 0)], F32_4x8, version=2)
    yield "edge_empty.gguf", make(pad=False)
    yield "edge_empty_arrays.gguf", make([
        kv(b"a.u8", V.ARRAY, u32(V.UINT8) + u64(0)),
        kv(b"a.str", V.ARRAY, u32(V.STRING) + u64(0)),
        kv(b"s", V.STRING, gstr(b"")),
        kv(b"", V.UINT8, b"\x05")])
    # Tensors out of offset order, a gap between them, trailing bytes.
    yield "edge_gaps.gguf", make([kv_u32(b"general.alignment", 16)],
                                 [ti(b"b", [32], T.F32, 160), ti(b"a", [4], T.F32, 0)],
                                 F32_4x8 + bytes(32) + F32_4x8 + b"trailing", align=16)


def bad_files():
    """(file name, status, message substring, bytes)."""
    B, U = "BAD_FILE", "UNSUPPORTED"
    yield "magic", B, "bad magic", make(magic=b"GGML")
    yield "empty", B, "truncated: the magic", b""
    yield "short_magic", B, "truncated: the magic", b"GGU"
    yield "version0", B, "version 0 is not supported", make(version=0)
    yield "version1", U, "version 1 is not supported", make(version=1)
    yield "version4", U, "version 4 is not supported", make(version=4)
    yield "big_endian", U, "big-endian", b"GGUF" + struct.pack(">IQQ", 3, 0, 0)
    yield "no_counts", B, "truncated: tensor_count", b"GGUF" + u32(3) + b"\1\0\0"
    yield "kv_count_huge", B, "kv_count 18446744073709551615 cannot fit", make(n_kv=2**64 - 1)
    yield "tensor_count_huge", B, "tensor_count 9223372036854775808 cannot fit", make(n_tensors=2**63)
    yield "tensor_count_minus1", B, "tensor_count 18446744073709551615 cannot fit", \
        make(n_tensors=2**64 - 1, data=bytes(200))
    yield "kv_count_short", B, "metadata entry 1: truncated: key needs 8 bytes", \
        make([kv(b"a", V.STRING, gstr(bytes(40)))], n_kv=3, pad=False) + bytes(5)
    yield "key_past_end", B, "string length 1000 runs past the end", \
        make(n_kv=1, pad=False) + u64(1000) + b"abc" + bytes(20)
    yield "key_len_huge", B, "string length 18446744073709551615 runs past", \
        make(n_kv=1, pad=False) + u64(2**64 - 1) + bytes(20)
    yield "string_past_end", B, "key \"s\": string value: string length 99", \
        make([kv(b"s", V.STRING, u64(99) + b"short")], pad=False)
    yield "string_truncated_value", B, "key \"v\": truncated: value", \
        make(n_kv=1, pad=False) + gstr(b"v") + u32(V.UINT64) + b"\1\2\3"
    yield "duplicate_key", B, "duplicate key \"a\"", make([kv_u32(b"a", 1), kv_u32(b"b", 2), kv_u32(b"a", 3)])
    yield "value_type_13", B, "unknown value type 13", make([kv(b"k", 13, bytes(8))])
    yield "value_type_huge", B, "unknown value type 4294967295", make([kv(b"k", 2**32 - 1, bytes(8))])
    yield "nested_array", U, "arrays of arrays", \
        make([kv(b"k", V.ARRAY, u32(V.ARRAY) + u64(1) + u32(V.UINT8) + u64(1) + b"\0")])
    yield "array_elem_type", B, "unknown array element type 42", make([kv(b"k", V.ARRAY, u32(42) + u64(1) + bytes(8))])
    yield "array_count_huge", B, "array count 4611686018427387904 cannot fit", \
        make([kv(b"k", V.ARRAY, u32(V.UINT32) + u64(2**62) + bytes(16))])
    yield "array_u64_short", B, "array count 3 cannot fit", \
        make([kv(b"k", V.ARRAY, u32(V.UINT64) + u64(3) + bytes(16))], pad=False)
    yield "string_array_huge", B, "string array count 1152921504606846976 cannot fit", \
        make([kv(b"k", V.ARRAY, u32(V.STRING) + u64(2**60) + bytes(16))])
    yield "string_array_elem", B, "string array element: string length 50", \
        make([kv(b"k", V.ARRAY, u32(V.STRING) + u64(2) + gstr(b"ok") + u64(50) + b"x")], pad=False)
    yield "bool_2", B, "key \"b\": bool value 2", make([kv(b"b", V.BOOL, b"\2")])
    yield "bool_array_5", B, "bool value 5", make([kv(b"b", V.ARRAY, u32(V.BOOL) + u64(3) + b"\1\0\5")])
    yield "key_nul", B, "key contains a NUL byte", make([kv(b"a\0b", V.UINT8, b"\1")])
    yield "align_48", B, "general.alignment 48 is not a power of two", make([kv_u32(b"general.alignment", 48)])
    yield "align_0", B, "general.alignment 0 is not a power of two", make([kv_u32(b"general.alignment", 0)])
    yield "align_u64", B, "general.alignment is of type UINT64", \
        make([kv(b"general.alignment", V.UINT64, u64(32))])
    yield "align_string", B, "general.alignment is of type STRING", \
        make([kv(b"general.alignment", V.STRING, gstr(b"32"))])
    yield "dims_5", B, "tensor \"w\": n_dims 5 is outside 1..4", make(tis=[ti(b"w", [32, 1, 1, 1, 1], T.F32, 0)],
                                                                  data=bytes(128))
    yield "dims_0", B, "n_dims 0 is outside 1..4", make(tis=[ti(b"w", [], T.F32, 0)], data=bytes(128))
    yield "dims_huge", B, "n_dims 4294967295 is outside", make(tis=[ti(b"w", [32], T.F32, 0, n_dims=2**32 - 1)],
                                                               data=bytes(128))
    yield "zero_dim", B, "dimension ne[1] is 0", make(tis=[ti(b"w", [32, 0], T.F32, 0)])
    yield "count_overflow", B, "element count overflows (ne[1]", make(tis=[ti(b"w", [2**32, 2**32], T.F32, 0)])
    yield "count_overflow_ne0", B, "element count overflows (ne[0] = 9223372036854775808)", \
        make(tis=[ti(b"w", [2**63], T.F32, 0)])
    yield "count_overflow_4d", B, "element count overflows (ne[3]", \
        make(tis=[ti(b"w", [2**16, 2**16, 2**16, 2**15], T.F32, 0)])
    yield "bytes_overflow", B, "byte size overflows", make(tis=[ti(b"w", [2**31, 2**31], T.F32, 0)])
    yield "block_q4_0", B, "ne[0] = 31 is not a multiple of Q4_0's block of 32", \
        make(tis=[ti(b"w", [31, 2], T.Q4_0, 0)], data=bytes(64))
    yield "block_q4_k", B, "ne[0] = 32 is not a multiple of Q4_K's block of 256", \
        make(tis=[ti(b"w", [32], T.Q4_K, 0)], data=bytes(256))
    yield "type_unknown", U, "type unknown (99)", make(tis=[ti(b"w", [32], 99, 0)], data=bytes(128))
    yield "type_q5_k", U, "tensor \"w\" has type Q5_K (13), which wgml does not read", \
        make(tis=[ti(b"w", [256], T.Q5_K, 0)], data=bytes(256))
    yield "offset_outside", B, "tensor \"w\": data [4096, +128) lies outside the file", \
        make(tis=[ti(b"w", [32], T.F32, 4096)], data=bytes(128))
    yield "data_truncated", B, "data [0, +128) lies outside the file (data section of 100 bytes", \
        make(tis=[ti(b"w", [32], T.F32, 0)], data=bytes(100))
    yield "data_missing", B, "lies outside the file (data section of 0 bytes", \
        make(tis=[ti(b"w", [32], T.F32, 0)], pad=False)
    yield "offset_huge", B, "data [18446744073709551584, +128) lies outside", \
        make(tis=[ti(b"w", [32], T.F32, 2**64 - 32)], data=bytes(128))
    yield "overlap", B, "tensors \"a\" and \"b\" overlap (at offset 96)", \
        make(tis=[ti(b"a", [32], T.F32, 0), ti(b"b", [32], T.F32, 96)], data=bytes(256))
    yield "overlap_same", B, "overlap (at offset 0)", \
        make(tis=[ti(b"a", [8], T.F32, 0), ti(b"b", [8], T.F32, 0)], data=bytes(64))
    yield "misaligned", B, "offset 4 is not a multiple of the alignment 32", \
        make(tis=[ti(b"w", [8], T.F32, 4)], data=bytes(64))
    yield "misaligned_64", B, "offset 32 is not a multiple of the alignment 64", \
        make([kv_u32(b"general.alignment", 64)], [ti(b"w", [8], T.F32, 32)], data=bytes(128), align=64)
    yield "duplicate_tensor", B, "duplicate tensor name \"w\"", \
        make(tis=[ti(b"w", [8], T.F32, 0), ti(b"v", [8], T.F32, 32), ti(b"w", [8], T.F32, 64)], data=bytes(96))
    yield "tensor_name_nul", B, "name contains a NUL byte", make(tis=[ti(b"w\0x", [8], T.F32, 0)], data=bytes(32))
    yield "tensor_info_short", B, "tensor \"a_longer_name\": truncated: tensor offset", \
        make(tis=[ti(b"a_longer_name", [32], T.F32, 0)[:-4]], pad=False)
    yield "tensor_name_past_end", B, "tensor 0: tensor name: string length 500", \
        make(n_tensors=1, pad=False) + u64(500) + bytes(40)
    yield "tensor_count_after_kvs", B, "tensor_count 2 cannot fit", \
        make([kv(b"pad", V.STRING, gstr(bytes(40)))], n_tensors=2, pad=False) + bytes(20)


def build_seed(w):
    w.add_key_value("tokenizer.ggml.tokens", ["a", "b", ""], V.ARRAY, sub_type=V.STRING)
    w.add_key_value("tokenizer.ggml.scores", [0.5, -1.0, 2.0], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("t.bool", True, V.BOOL)
    w.add_tensor("F32", rng.normal(0, 1, 3).astype(np.float32))
    w.add_tensor("F16", rng.normal(0, 1, (2, 2)).astype(np.float16))
    w.add_tensor("BF16", np.frombuffer(bytes(range(8)), dtype=np.uint8).reshape(2, 4), raw_dtype=T.BF16)
    for qt in (T.Q8_0, T.Q4_0, T.Q4_1, T.Q4_K, T.Q6_K):
        w.add_tensor(qt.name, random_blocks(qt, 1), raw_dtype=qt)


def write_fuzz_corpus():
    corpus = os.path.join(ROOT, "tests", "fuzz", "corpus", "gguf")
    os.makedirs(corpus, exist_ok=True)
    write_writer_file(os.path.join(corpus, "types_small.gguf"), build_seed)
    for name, data in list(edge_files()) + [(n + ".gguf", d) for n, _, _, d in bad_files()]:
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(data)


def main():
    os.makedirs(os.path.join(OUT, "bad"), exist_ok=True)
    note = "# generated by scripts/gen_gguf_testdata.py with gguf %s, numpy %s\n" % (version("gguf"), np.__version__)

    write_writer_file(os.path.join(OUT, "meta.gguf"), build_meta)
    write_writer_file(os.path.join(OUT, "types.gguf"), build_types, alignment=64)
    for name, data in edge_files():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    for name in ["meta.gguf", "types.gguf"] + [n for n, _ in edge_files()]:
        path = os.path.join(OUT, name)
        with open(path[:-5] + ".txt", "w") as f:
            f.write(note + gguf_dump.describe(path))

    lines = [note.rstrip(), "# FILE STATUS SUBSTRING (the rest of the line)"]
    names = set()
    for name, status, substring, data in bad_files():
        assert name not in names, name
        names.add(name)
        with open(os.path.join(OUT, "bad", name + ".gguf"), "wb") as f:
            f.write(data)
        lines.append("%s.gguf %s %s" % (name, status, substring))
    with open(os.path.join(OUT, "bad.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d bad files" % len(names))
    write_fuzz_corpus()

    if os.path.exists(SMOLLM2):
        deq = [("token_embd.weight", 0, 64), ("token_embd.weight", 576 * 100, 32),
               ("output_norm.weight", 0, 32), ("blk.0.attn_q.weight", 0, 32),
               ("blk.0.ffn_down.weight", 0, 32), ("blk.29.attn_v.weight", 576 * 63, 32)]
        with open(os.path.join(OUT, "smollm2.txt"), "w") as f:
            f.write(note + gguf_dump.describe(SMOLLM2, deq))
        print("wrote smollm2.txt")
    else:
        print("SmolLM2 not installed (scripts/setup.sh): smollm2.txt not written")


if __name__ == "__main__":
    main()
