#!/usr/bin/env python3
"""Writes tests/data/invalid_utf8.jsonl: ill-formed UTF-8 byte strings, what
Python's bytes.decode('utf-8', 'replace') makes of them, and the ids Hugging
Face `tokenizers` gives that decoded text under three WordPiece tokenizers
whose vocabularies hold U+FFFD and U+0000, so that every replacement
character (and every NUL) shows up in the ids:

    pip install tokenizers==0.23.3
    python3 scripts/gen_invalid_utf8_testdata.py

  raw           no normalizer, BertPreTokenizer: U+FFFD and U+0000 stay
  bert_noclean  BertNormalizer without clean_text (lowercase, accents, CJK)
  bert_clean    BertNormalizer with clean_text: U+FFFD and U+0000 are dropped

Lines: {"meta": {...}}, then one {"config": name, "tokenizer": tokenizer.json
text} per tokenizer, then one line per case and tokenizer:
  {"config": name, "name": s, "hex": input bytes, "decoded": the replacement-
   decoded text as UTF-8 (hex), "ids": with [CLS]/[SEP], "ids_plain": without}
"""
import json
import os
import random

import tokenizers
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "invalid_utf8.jsonl")

LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "\ufffd", "##\ufffd", "\u0000", "##\u0000", "\u00e9",
          "##\u00e9", "\u4e2d", "\u6587", "end", "ok", "valid", "nul", "cut"] +
         list(LETTERS) + ["##" + c for c in LETTERS] + [str(d) for d in range(10)] +
         ["##" + str(d) for d in range(10)])


def tokenizer_json(normalizer):
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": normalizer,
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": None,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": {t: i for i, t in enumerate(VOCAB)}},
    })


def bert(clean):
    return {"type": "BertNormalizer", "clean_text": clean, "handle_chinese_chars": True,
            "strip_accents": None, "lowercase": True}


CONFIGS = [("raw", None), ("bert_noclean", bert(False)), ("bert_clean", bert(True))]

CASES = [
    ("overlong_2", b"a\xc0\xafb \xc1\xbf end"),
    ("overlong_nul", b"nul\xc0\x80nul"),
    ("overlong_3", b"x\xe0\x80\xafy \xe0\x9f\xbf"),
    ("overlong_4", b"x\xf0\x80\x80\xafy \xf0\x8f\xbf\xbf"),
    ("surrogate_high", b"a\xed\xa0\x80b"),
    ("surrogate_low", b"a\xed\xbf\xbfb"),
    ("surrogate_pair", b"a\xed\xa0\xbd\xed\xb8\x80b"),
    ("above_max", b"a\xf4\x90\x80\x80b"),
    ("above_max_f5", b"a\xf5\x80\x80\x80b \xf7\xbf\xbf\xbf"),
    ("five_six_byte", b"a\xf8\x88\x80\x80\x80b\xfc\x84\x80\x80\x80\x80c"),
    ("fe_ff", b"\xfe\xff a \xff\xfe"),
    ("cut_end_2", b"cut \xc3"),
    ("cut_end_3", b"cut \xe2\x82"),
    ("cut_end_4", b"cut \xf0\x9f\x98"),
    ("cut_middle", b"a\xe2\x82b \xf0\x9f\x98c \xf0\x9fd"),
    ("cut_then_lead", b"\xe1\x80\xe1\x80\x80 \xc2\xc2\xa0"),
    ("lone_continuation", b"a\x80b \xbf \x80\x80\x80 end"),
    ("continuation_run", b"\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\xbf"),
    ("nul_inside", b"a\x00b nul\x00 \x00ok"),
    ("nul_only", b"\x00\x00\x00"),
    ("nul_end", b"end\x00"),
    ("nul_and_invalid", b"\x00\x80\x00\xed\xa0\x80\x00"),
    ("literal_fffd", b"a\xef\xbf\xbdb \xef\xbf\xbd\x80"),
    ("latin1", b"caf\xe9 \xe9t\xe9"),
    ("valid_around", b"\xc3\xa9\x80\xc3\xa9 \xe4\xb8\xad\xff\xe6\x96\x87"),
    ("only_invalid", b"\xff"),
    ("empty", b""),
]


def random_cases():
    rng = random.Random(20251121)
    out = []
    for i in range(40):
        n = rng.randrange(1, 40)
        raw = bytearray()
        for _ in range(n):
            r = rng.random()
            if r < 0.35:
                raw.append(rng.choice(b"abc xyz09"))
            elif r < 0.5:
                raw.append(0)
            else:
                raw.append(rng.randrange(0x80, 0x100))
        out.append((f"random/{i}", bytes(raw)))
    return out


def main():
    lines = [{"meta": {"tokenizers": tokenizers.__version__,
                       "generator": "scripts/gen_invalid_utf8_testdata.py"}}]
    cases = CASES + random_cases()
    for name, normalizer in CONFIGS:
        text = tokenizer_json(normalizer)
        lines.append({"config": name, "tokenizer": text})
        tok = Tokenizer.from_str(text)
        for cname, raw in cases:
            decoded = raw.decode("utf-8", "replace")
            lines.append({
                "config": name, "name": cname, "hex": raw.hex(),
                "decoded": decoded.encode("utf-8").hex(),
                "ids": tok.encode(decoded, add_special_tokens=True).ids,
                "ids_plain": tok.encode(decoded, add_special_tokens=False).ids,
            })
    with open(OUT, "w") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=True, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}: {len(cases)} strings x {len(CONFIGS)} tokenizers")


if __name__ == "__main__":
    main()
