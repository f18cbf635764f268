#!/usr/bin/env python3
"""Finds the code points where Hugging Face `tokenizers` disagrees with this
interpreter's `unicodedata`, and writes them to scripts/unicode_hf_compat.tsv.

    pip install tokenizers==0.23.3
    python3 scripts/probe_hf_unicode.py          # rewrite the list
    python3 scripts/probe_hf_unicode.py --check  # exit 1 on any disagreement
    python3 scripts/gen_unicode_tables.py        # then regenerate the C tables

Why they disagree: `tokenizers` takes its Unicode data from three places, each
of its own Unicode version. Probed with tokenizers 0.23.3:
  - the BERT normalizer's "is other" (Cc/Cf/Co), the BERT pre-tokenizer's
    "is punctuation" (P*) and strip_accents' "is nonspacing mark" (Mn) come
    from the `unicode_categories` crate, whose tables are Unicode 8.0: code
    points assigned later are neither, and a few whose category changed since
    (U+166D was Po, U+1734 was Mn, ...) keep the old one;
  - NFD comes from `unicode-normalization-alignments`, whose data is Unicode
    9.0: it lacks U+11938's decomposition (Unicode 13), and marks added
    since have combining class 0 there (they do not take part in canonical
    reordering; combining classes never change once assigned, so the only
    possible difference is "unknown", i.e. 0);
  - lowercase (Rust's char::to_lowercase) and whitespace (char::is_whitespace)
    come from Rust's standard library, Unicode 17 in the build probed, newer
    than Python 3.11's Unicode 14: letters added since lowercase there.
Each single code point is run through each step on its own; each mark with a
non-zero combining class is also put between two reference marks to see
whether it takes part in reordering there.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_unicode_tables as gut  # noqa: E402

# BertNormalizer's CJK ranges (tokenizers, normalizers/bert.rs): BERT's
# original list, except that the range BERT starts at U+2B820 starts at U+2B920.
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
       (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_ascii_punct(cp):
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126


def hf_outputs():
    """{cp: (clean, chinese, strip, lower, pre)} as tokenizers computes them."""
    from tokenizers import normalizers, pre_tokenizers

    def bert(**kw):
        args = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False,
                    lowercase=False)
        args.update(kw)
        return normalizers.BertNormalizer(**args)

    clean, chin = bert(clean_text=True), bert(handle_chinese_chars=True)
    strip, lower = bert(strip_accents=True), bert(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    out = {}
    for cp in gut.code_points():
        c = chr(cp)
        out[cp] = (clean.normalize_str(c), chin.normalize_str(c), strip.normalize_str(c),
                   lower.normalize_str(c), [w for w, _ in pre.pre_tokenize_str("a" + c + "a")],
                   nonstarter(strip, cp))
    return out


# Two spacing marks (Mc, so strip_accents keeps them) known to every Unicode
# version since 3.1, with combining classes 226 and 216.
REF_HI, REF_LO = 0x1D16D, 0x1D165


def nonstarter(strip, cp):
    """Whether NFD treats cp as a non-starter: between REF_HI and REF_LO it
    joins their run, which canonical ordering then sorts (REF_LO first); a
    starter splits the run and the two stay as they are. None for code points
    this interpreter gives class 0 (not probed)."""
    if not gut.unicodedata.combining(chr(cp)):
        return None
    out = strip.normalize_str("a" + chr(REF_HI) + chr(cp) + chr(REF_LO))
    return out.index(chr(REF_LO)) < out.index(chr(REF_HI))


def predict(m, cp):
    """What the C code computes for one code point, from the model's tables."""
    c = chr(cp)
    if cp in (0, 0xFFFD) or (m.is_other(cp) and c not in "\t\n\r"):
        clean = ""
    elif m.is_whitespace(cp) or c in "\t\n\r":
        clean = " "
    else:
        clean = c
    chin = f" {c} " if any(a <= cp <= b for a, b in CJK) else c
    strip = "".join(x for x in m.nfd(c) if not m.is_mn(ord(x)))
    ns = None
    if gut.unicodedata.combining(chr(cp)):
        ns = m.ccc(cp) != 0
    if m.is_whitespace(cp):
        pre = ["a", "a"]
    elif m.is_punct(cp) or is_ascii_punct(cp):
        pre = ["a", c, "a"]
    else:
        pre = ["a" + c + "a"]
    return (clean, chin, strip, m.lower(cp), pre, ns)


STEPS = ("clean_text", "handle_chinese_chars", "strip_accents", "lowercase", "pre_tokenizer",
         "canonical ordering")


def derive(hf):
    """The compatibility entries that make the model agree with hf."""
    m0 = gut.Model(compat={"other": {}, "punct": {}, "mn": {}, "lower": {}, "nfd": {}, "ccc": {}})
    compat = m0.compat
    unexplained = []
    # Property bits first (they do not depend on each other), then NFD, whose
    # prediction uses the corrected Mn bits.
    for cp, h in hf.items():
        p = predict(m0, cp)
        if h[0] != p[0]:
            if h[0] == "" and p[0] == chr(cp):
                compat["other"][cp] = True
            elif h[0] == chr(cp) and p[0] == "":
                compat["other"][cp] = False
            else:
                unexplained.append((cp, STEPS[0], h[0], p[0]))
        if h[4] != p[4]:
            if h[4] == ["a", chr(cp), "a"] and p[4] == ["a" + chr(cp) + "a"]:
                compat["punct"][cp] = True
            elif p[4] == ["a", chr(cp), "a"] and h[4] == ["a" + chr(cp) + "a"]:
                compat["punct"][cp] = False
            else:
                unexplained.append((cp, STEPS[4], h[4], p[4]))
        if h[3] != p[3]:
            compat["lower"][cp] = h[3]
        if h[5] != p[5]:
            if h[5] is False:
                compat["ccc"][cp] = 0
            else:
                unexplained.append((cp, STEPS[5], h[5], p[5]))
        if h[2] != p[2] and not m0.decomp(cp) and not gut.HANGUL_FIRST <= cp <= gut.HANGUL_LAST:
            if h[2] == "" and p[2] == chr(cp):
                compat["mn"][cp] = True
            elif h[2] == chr(cp) and p[2] == "":
                compat["mn"][cp] = False
            else:
                unexplained.append((cp, STEPS[2], h[2], p[2]))
    for cp, h in hf.items():
        if m0.decomp(cp) and h[2] != predict(m0, cp)[2]:
            # tokenizers' NFD leaves it whole: a decomposition newer than its data.
            if h[2] == chr(cp) and not m0.is_mn(cp):
                compat["nfd"][cp] = ()
            else:
                unexplained.append((cp, STEPS[2], h[2], predict(m0, cp)[2]))
        if h[1] != predict(m0, cp)[1]:
            unexplained.append((cp, STEPS[1], h[1], predict(m0, cp)[1]))
    return compat, unexplained


def write_tsv(compat, path):
    notes = {
        "other": "Cc/Cf/Co as tokenizers' unicode_categories (Unicode 8.0) says",
        "punct": "P* as tokenizers' unicode_categories (Unicode 8.0) says",
        "mn": "Mn as tokenizers' unicode_categories (Unicode 8.0) says",
        "lower": "Rust char::to_lowercase (newer Unicode than this Python)",
        "nfd": "no decomposition in tokenizers' NFD data (older Unicode)",
        "ccc": "a starter in tokenizers' NFD data (a mark newer than it)",
    }
    lines = ["# GENERATED by scripts/probe_hf_unicode.py: where Hugging Face tokenizers",
             "# disagrees with Python's unicodedata; read by gen_unicode_tables.py.",
             "# property\tfirst\tlast\tvalue\t# why"]
    for prop in ("other", "punct", "mn", "lower", "nfd", "ccc"):
        vals = compat[prop]
        if prop == "lower":
            vals = {cp: " ".join("%04X" % ord(c) for c in v) for cp, v in vals.items()}
        elif prop == "nfd":
            vals = {cp: "none" if not v else " ".join("%04X" % c for c in v) for cp, v in vals.items()}
        elif prop == "ccc":
            vals = {cp: str(v) for cp, v in vals.items()}
        else:
            vals = {cp: "1" if v else "0" for cp, v in vals.items()}
        for first, last, v in gut.ranges_of(vals):
            lines.append(f"{prop}\t{first:04X}\t{last:04X}\t{v}\t# {notes[prop]}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="compare tokenizers with the tables as they stand (list applied)")
    args = ap.parse_args()
    hf = hf_outputs()
    if args.check:
        m = gut.Model()
        bad = []
        for cp, h in hf.items():
            p = predict(m, cp)
            bad += [(cp, STEPS[i], h[i], p[i]) for i in range(6) if h[i] != p[i]]
        for cp, step, h, p in bad[:20]:
            print(f"U+{cp:04X} {step}: tokenizers {h!r}, tables {p!r}")
        print(f"{len(bad)} disagreements")
        return 1 if bad else 0
    compat, unexplained = derive(hf)
    for cp, step, h, p in unexplained:
        print(f"unexplained U+{cp:04X} {step}: tokenizers {h!r}, unicodedata {p!r}")
    write_tsv(compat, gut.COMPAT)
    n = sum(len(v) for v in compat.values())
    print(f"wrote {gut.COMPAT}: {n} code points, {len(unexplained)} unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
