#!/usr/bin/env python3
"""Generates src/tokenizer/unicode_tables.c: the Unicode data the tokenizers need.

    python3 scripts/gen_unicode_tables.py            # rewrites the C file
    python3 scripts/gen_unicode_tables.py --check    # exits 1 if it is stale

Source: Python's `unicodedata` and `str.lower` (this interpreter's Unicode
version is written into the file), then scripts/unicode_hf_compat.tsv, a list
of code points where Hugging Face `tokenizers` (the reference the WordPiece
tokenizer must match id for id) behaves as an other Unicode version would. That
list is produced by scripts/probe_hf_unicode.py, which runs `tokenizers` on
every code point; see its header for why the versions differ.

Tables (all sorted, searched by binary search in src/tokenizer/unicode.c):
  props   ranges of code points with the same property bits (0 omitted):
          WHITESPACE (White_Space, as Rust's char::is_whitespace), OTHER
          (Cc, Cf, Co: what HF's BERT normalizer calls "other"), PUNCT (P*),
          MN (Mn, nonspacing mark).
  lower   ranges {first, last, delta, stride}: every stride-th code point
          from first lowercases to cp + delta (simple, one-to-one mappings);
  lower_multi  the few code points whose lowercase is several code points;
  decomp  one-step canonical decompositions {cp, a, b} (b = 0 for a
          singleton); NFD applies them recursively; Hangul is arithmetic;
  ccc     ranges of the same non-zero canonical combining class.
  gc      ranges of the same general-category class as llama.cpp groups
          them for its pre-tokenizers (\\p{L}, \\p{N}, \\p{M}, \\p{P}, \\p{S},
          \\p{Z}, \\p{C}; unassigned code points omitted). This table follows
          llama.cpp's Unicode version (15.1, its src/unicode-data.cpp, checked
          code point by code point against it), not the HF-aligned one above,
          so it comes from the PyPI package unicodedata2==15.1.0:
              pip install unicodedata2==15.1.0
"""
import argparse
import os
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "tokenizer", "unicode_tables.c")
COMPAT = os.path.join(ROOT, "scripts", "unicode_hf_compat.tsv")

MAX_CP = 0x10FFFF
SURROGATES = range(0xD800, 0xE000)

PROP_WHITESPACE = 1
PROP_OTHER = 2
PROP_PUNCT = 4
PROP_MN = 8

# General-category classes of the gc table (WGML_UCAT_* in unicode.h).
UCAT = {"L": 1, "N": 2, "M": 3, "P": 4, "S": 5, "Z": 6, "C": 7}
UCAT_VERSION = "15.1.0"


def ucat_table():
    """{cp: class} from unicodedata2 (llama.cpp's Unicode version); Cn left out."""
    try:
        import unicodedata2
    except ImportError:
        raise SystemExit("the gc table needs: pip install unicodedata2==" + UCAT_VERSION)
    if unicodedata2.unidata_version != UCAT_VERSION:
        raise SystemExit(f"unicodedata2 has Unicode {unicodedata2.unidata_version}, "
                         f"want {UCAT_VERSION}: pip install unicodedata2=={UCAT_VERSION}")
    out = {}
    for cp in range(MAX_CP + 1):
        c = unicodedata2.category(chr(cp))
        if c != "Cn":
            out[cp] = UCAT[c[0]]
    return out


def check_llama_contractions():
    """The BPE pre-tokenizers compare the simple lowercase of the letters after
    an apostrophe with s, t, m, d, r, e, v, l; the C code compares ASCII case-
    insensitively, which is the same only while no other code point lowercases
    to one of them. Checked here so a new Unicode version cannot break it."""
    for cp in code_points():
        lo = chr(cp).lower()
        if len(lo) == 1 and lo in "stmdrevl" and lo != chr(cp):
            assert chr(cp) in "STMDREVL", hex(cp)


# Hangul syllables decompose arithmetically (Unicode 3.12); the C code does it.
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def code_points():
    for cp in range(MAX_CP + 1):
        if cp not in SURROGATES:
            yield cp


def read_compat(path=COMPAT):
    """Returns {property: {cp: value}} from the compatibility list."""
    out = {"other": {}, "punct": {}, "mn": {}, "lower": {}, "nfd": {}, "ccc": {}}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            prop, first, last, value = line.split("\t")[:4]
            for cp in range(int(first, 16), int(last, 16) + 1):
                if prop in ("other", "punct", "mn"):
                    out[prop][cp] = value == "1"
                elif prop == "ccc":
                    out[prop][cp] = int(value)
                elif prop == "lower":
                    out[prop][cp] = "".join(chr(int(x, 16)) for x in value.split())
                elif prop == "nfd":
                    out[prop][cp] = () if value == "none" else tuple(int(x, 16) for x in value.split())
                else:
                    raise SystemExit(f"{path}: unknown property {prop!r}")
    return out


class Model:
    """The per-code-point facts the C tables encode, with the compatibility
    list applied (or not: the probe compares both against tokenizers)."""

    def __init__(self, compat=None):
        self.compat = compat if compat is not None else read_compat()

    # White_Space (PropList.txt). Python has no such property; str.isspace()
    # adds U+001C..U+001F (bidi class B/S), which White_Space does not hold.
    def is_whitespace(self, cp):
        return chr(cp).isspace() and not 0x1C <= cp <= 0x1F

    def _cat(self, cp):
        return unicodedata.category(chr(cp))

    def is_other(self, cp):
        v = self.compat["other"].get(cp)
        return v if v is not None else self._cat(cp) in ("Cc", "Cf", "Co")

    def is_punct(self, cp):
        v = self.compat["punct"].get(cp)
        return v if v is not None else self._cat(cp).startswith("P")

    def is_mn(self, cp):
        v = self.compat["mn"].get(cp)
        return v if v is not None else self._cat(cp) == "Mn"

    def lower(self, cp):
        v = self.compat["lower"].get(cp)
        return v if v is not None else chr(cp).lower()

    def decomp(self, cp):
        """One-step canonical decomposition, () when none (Hangul excluded)."""
        v = self.compat["nfd"].get(cp)
        if v is not None:
            return v
        d = unicodedata.decomposition(chr(cp))
        if not d or d.startswith("<"):
            return ()
        return tuple(int(x, 16) for x in d.split())

    def ccc(self, cp):
        v = self.compat["ccc"].get(cp)
        return v if v is not None else unicodedata.combining(chr(cp))

    def props(self, cp):
        return ((PROP_WHITESPACE if self.is_whitespace(cp) else 0)
                | (PROP_OTHER if self.is_other(cp) else 0)
                | (PROP_PUNCT if self.is_punct(cp) else 0)
                | (PROP_MN if self.is_mn(cp) else 0))

    # NFD of a string as UAX #15 defines it, for the probe's predictions.
    def nfd(self, s):
        out = []
        for ch in s:
            self._decompose(ord(ch), out)
        # Canonical ordering: stable sort of each run of non-starters by ccc.
        i = 0
        while i < len(out):
            if self.ccc(out[i]) == 0:
                i += 1
                continue
            j = i
            while j < len(out) and self.ccc(out[j]) != 0:
                j += 1
            out[i:j] = sorted(out[i:j], key=self.ccc)
            i = j
        return "".join(chr(c) for c in out)

    def _decompose(self, cp, out):
        if HANGUL_FIRST <= cp <= HANGUL_LAST:
            s = cp - HANGUL_FIRST
            out.append(0x1100 + s // 588)
            out.append(0x1161 + (s % 588) // 28)
            if s % 28:
                out.append(0x11A7 + s % 28)
            return
        d = self.decomp(cp)
        if not d:
            out.append(cp)
            return
        for c in d:
            self._decompose(c, out)


def ranges_of(values):
    """[(first, last, value)] for runs of consecutive code points with one
    value; `values` is a {cp: value} with the zero values left out."""
    out = []
    for cp in sorted(values):
        v = values[cp]
        if out and out[-1][1] == cp - 1 and out[-1][2] == v:
            out[-1][1] = cp
        else:
            out.append([cp, cp, v])
    return out


def lower_ranges(pairs):
    """Packs {cp: lower} one-to-one mappings into (first, last, delta, stride)
    runs: case pairs come either as blocks (stride 1) or interleaved
    upper/lower (stride 2)."""
    out = []
    cps = sorted(pairs)
    i = 0
    while i < len(cps):
        first = cps[i]
        delta = pairs[first] - first
        stride = 1
        if i + 1 < len(cps) and pairs[cps[i + 1]] - cps[i + 1] == delta:
            stride = cps[i + 1] - first
            if stride not in (1, 2):
                stride = 1
        last = first
        j = i + 1
        while j < len(cps) and cps[j] == last + stride and pairs[cps[j]] - cps[j] == delta:
            last = cps[j]
            j += 1
        if last == first:
            stride = 1
        out.append((first, last, delta, stride))
        i = j
    return out


def generate(model):
    props = {}
    lower1, lower_multi, decomp, ccc = {}, {}, {}, {}
    for cp in code_points():
        p = model.props(cp)
        if p:
            props[cp] = p
        lo = model.lower(cp)
        if lo != chr(cp):
            if len(lo) == 1:
                lower1[cp] = ord(lo)
            else:
                lower_multi[cp] = [ord(c) for c in lo]
        d = model.decomp(cp)
        if d:
            decomp[cp] = d
        c = model.ccc(cp)
        if c:
            ccc[cp] = c

    check_llama_contractions()
    gc_r = ranges_of(ucat_table())
    prop_r = ranges_of(props)
    lower_r = lower_ranges(lower1)
    ccc_r = ranges_of(ccc)
    # The C code assumes every one-step decomposition has at most two parts
    # and every full lowercase at most three code points.
    assert all(len(d) <= 2 for d in decomp.values())
    assert all(len(v) <= 3 for v in lower_multi.values())

    L = []
    w = L.append
    w("// GENERATED by scripts/gen_unicode_tables.py: do not edit.")
    w(f"// Unicode {unicodedata.unidata_version} (Python {sys.version.split()[0]} unicodedata), with")
    w("// scripts/unicode_hf_compat.tsv applied so that the data behaves as the")
    w("// Unicode versions inside Hugging Face tokenizers do.")
    w("#include \"tokenizer/unicode.h\"")
    w("")
    w(f"const char wgml_unicode_data_version[] = \"{unicodedata.unidata_version}+hf-compat\";")
    w("")
    w("// {first, last, WGML_UNICODE_* bits}")
    w(f"const wgml_unicode_range wgml_unicode_props[{len(prop_r)}] = {{")
    for i in range(0, len(prop_r), 4):
        w("    " + " ".join("{0x%04X, 0x%04X, %d}," % tuple(r) for r in prop_r[i:i + 4]))
    w("};")
    w(f"const size_t wgml_unicode_props_count = {len(prop_r)};")
    w("")
    w("// {first, last, delta, stride}")
    w(f"const wgml_unicode_case_range wgml_unicode_lower_ranges[{len(lower_r)}] = {{")
    for i in range(0, len(lower_r), 4):
        w("    " + " ".join("{0x%04X, 0x%04X, %d, %d}," % r for r in lower_r[i:i + 4]))
    w("};")
    w(f"const size_t wgml_unicode_lower_ranges_count = {len(lower_r)};")
    w("")
    w("// {cp, lowercase as up to three code points (0 ends)}")
    w(f"const wgml_unicode_multi wgml_unicode_lower_multi[{len(lower_multi)}] = {{")
    for cp in sorted(lower_multi):
        v = lower_multi[cp] + [0] * (3 - len(lower_multi[cp]))
        w("    {0x%04X, {%s}}," % (cp, ", ".join("0x%04X" % c for c in v)))
    w("};")
    w(f"const size_t wgml_unicode_lower_multi_count = {len(lower_multi)};")
    w("")
    w("// {cp, first, second or 0}")
    dk = sorted(decomp)
    w(f"const wgml_unicode_decomp wgml_unicode_decomps[{len(dk)}] = {{")
    for i in range(0, len(dk), 4):
        row = []
        for cp in dk[i:i + 4]:
            d = decomp[cp]
            row.append("{0x%04X, 0x%04X, 0x%04X}," % (cp, d[0], d[1] if len(d) > 1 else 0))
        w("    " + " ".join(row))
    w("};")
    w(f"const size_t wgml_unicode_decomps_count = {len(dk)};")
    w("")
    w("// {first, last, canonical combining class}")
    w(f"const wgml_unicode_range wgml_unicode_ccc_ranges[{len(ccc_r)}] = {{")
    for i in range(0, len(ccc_r), 4):
        w("    " + " ".join("{0x%04X, 0x%04X, %d}," % tuple(r) for r in ccc_r[i:i + 4]))
    w("};")
    w(f"const size_t wgml_unicode_ccc_ranges_count = {len(ccc_r)};")
    w("")
    w(f"// {{first, last, WGML_UCAT_* class}}: Unicode {UCAT_VERSION} (PyPI unicodedata2), as")
    w("// llama.cpp's pre-tokenizers see it; unassigned code points are left out.")
    w(f"const char wgml_unicode_gc_version[] = \"{UCAT_VERSION}\";")
    w(f"const wgml_unicode_range wgml_unicode_gc_ranges[{len(gc_r)}] = {{")
    for i in range(0, len(gc_r), 4):
        w("    " + " ".join("{0x%04X, 0x%04X, %d}," % tuple(r) for r in gc_r[i:i + 4]))
    w("};")
    w(f"const size_t wgml_unicode_gc_ranges_count = {len(gc_r)};")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the C file is stale")
    args = ap.parse_args()
    text = generate(Model())
    if args.check:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{OUT} is stale: run {sys.argv[0]}", file=sys.stderr)
                return 1
        return 0
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {OUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
