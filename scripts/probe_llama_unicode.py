#!/usr/bin/env python3
"""Checks that wgml's general-category classes and White_Space are the ones
llama.cpp's BPE pre-tokenizers use, code point by code point.

    pip install unicodedata2==15.1.0
    python3 scripts/probe_llama_unicode.py LLAMA_CPP_DIR

LLAMA_CPP_DIR is a llama.cpp source tree, e.g. vendor/llama.cpp inside the
llama-cpp-python sdist that scripts/setup.sh fetches (the version pinned there).
Its src/unicode-data.cpp holds, per range of code points, flag bits for the
categories (0x1 undefined, 0x2 N, 0x4 L, 0x8 Z, 0x10 M, 0x20 P, 0x40 S, 0x80 C)
and a set of whitespace code points. This script reads those facts and
compares them with what scripts/gen_unicode_tables.py puts into
src/tokenizer/unicode_tables.c (the gc table, and the WHITESPACE property).
Exits 1 on any difference.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_unicode_tables as gen  # noqa: E402

LLAMA_FLAG_TO_UCAT = {0x1: 0, 0x2: gen.UCAT["N"], 0x4: gen.UCAT["L"], 0x8: gen.UCAT["Z"],
                      0x10: gen.UCAT["M"], 0x20: gen.UCAT["P"], 0x40: gen.UCAT["S"],
                      0x80: gen.UCAT["C"]}


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    src = open(os.path.join(sys.argv[1], "src", "unicode-data.cpp"), encoding="utf-8").read()
    start = src.index("unicode_ranges_flags")
    end = src.index("};", start)
    ranges = [(int(a, 16), int(b, 16))
              for a, b in re.findall(r"\{0x([0-9A-F]+), 0x([0-9A-F]+)\}", src[start:end])]
    start = src.index("unicode_set_whitespace")
    end = src.index("};", start)
    ws = {int(a, 16) for a in re.findall(r"0x([0-9A-F]+)", src[start:end])}

    ours = gen.ucat_table()
    model = gen.Model()
    bad = 0
    for (first, flags), (nxt, _) in zip(ranges, ranges[1:]):
        want = LLAMA_FLAG_TO_UCAT[flags]
        for cp in range(first, nxt):
            got = ours.get(cp, 0)
            if got != want:
                bad += 1
                if bad < 20:
                    print(f"U+{cp:04X}: llama.cpp class {want}, wgml {got}")
    for cp in gen.code_points():
        if model.is_whitespace(cp) != (cp in ws):
            bad += 1
            print(f"U+{cp:04X}: whitespace differs (llama.cpp {cp in ws})")
    print(f"{len(ranges) - 1} llama.cpp ranges, {len(ws)} whitespace code points: "
          f"{bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
