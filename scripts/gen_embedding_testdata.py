#!/usr/bin/env python3
"""Writes the expected sentence embeddings of all-MiniLM-L6-v2 for
tests/test_bert.c, computed by the independent reference
(sentence-transformers on PyTorch, CPU, float32) from the same model folder.

    pip install sentence-transformers torch
    python3 scripts/gen_embedding_testdata.py [MODEL_DIR]

Writes, next to each other in tests/data/:
    minilm_embeddings.jsonl  one JSON object per line: {"text": ..., "tokens": n}
                             (n = token count after truncation, specials included)
    minilm_embeddings.bin    float32 little-endian, one row of `dim` values per
                             line of the .jsonl, in the same order
The first line of the .jsonl is a header: {"model": ..., "dim": ..., "versions": ...}.
"""
import json
import os
import struct
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import sentence_transformers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".deps/models/all-MiniLM-L6-v2")
OUT = os.path.join(ROOT, "tests/data")

LONG_EN = ("The quick brown fox jumps over the lazy dog while the committee debates "
           "the finer points of the quarterly budget, ") * 12
LONG_FR = ("Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë "
           "au-delà des îles, près du mälström où brûlent les novæ. ") * 8

TEXTS = [
    "",
    " ",
    "hello world",
    "Hello World!",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "How do I bake sourdough bread at home?",
    "GPU kernels written in WGSL run on WebGPU.",
    "Sentence embeddings map text to dense vectors.",
    "x",
    "a",
    "?",
    "!!!",
    "123 456 7890",
    "3.14159 is approximately pi",
    "e-mail: someone@example.com, web: https://example.org/path?q=1&r=2",
    "C'est la vie.",
    "Café, naïve, résumé, façade, jalapeño, Ångström, Øresund",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein.",
    "¿Dónde está la biblioteca? ¡Está allí!",
    "Привет, как дела?",
    "Γειά σου Κόσμε",
    "שלום עולם",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "你好，世界",
    "我爱自然语言处理。",
    "日本語のテキストです。東京は日本の首都です。",
    "こんにちは世界",
    "한국어 문장입니다.",
    "中文 English 混合 text",
    "😀",
    "I love pizza 🍕🍕🍕!",
    "👩‍👩‍👧‍👦 family emoji sequence",
    "🇫🇷🇩🇪 flags",
    "Zero\u200bwidth\u200bspaces",
    "tab\tseparated\tvalues",
    "line one\nline two\nline three",
    "   leading and trailing spaces   ",
    "ALL CAPS SENTENCE HERE",
    "repeated repeated repeated repeated repeated",
    "antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis is a long word",
    "Supercalifragilisticexpialidocious!",
    "<html><body>markup</body></html>",
    "def f(x): return x * 2  # code",
    "SELECT * FROM users WHERE id = 42;",
    "The cat sat on the mat.",
    "The dog sat on the log.",
    "The stock market crashed today.",
    "Investors lost money as shares fell sharply.",
    "I am happy.",
    "I am not happy.",
    "Is this the real life? Is this just fantasy?",
    "To be, or not to be, that is the question.",
    "[CLS] [SEP] [MASK] [PAD] [UNK]",
    "a " * 100,
    "word " * 300,
    LONG_EN,
    LONG_FR,
    "中文长句。" * 120,
    "🙂" * 300,
    "Short text after long ones.",
]


def main():
    model = SentenceTransformer(MODEL, device="cpu")
    model.eval()
    emb = model.encode(TEXTS, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
    emb = emb.astype("<f4")
    tok = model.tokenizer
    max_len = model.max_seq_length
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "minilm_embeddings.jsonl"), "w", encoding="utf-8") as f:
        header = {"model": "sentence-transformers/all-MiniLM-L6-v2", "dim": int(emb.shape[1]),
                  "count": len(TEXTS), "max_seq_length": max_len,
                  "versions": {"sentence_transformers": sentence_transformers.__version__,
                               "transformers": transformers.__version__,
                               "torch": torch.__version__}}
        f.write(json.dumps(header) + "\n")
        for t in TEXTS:
            n = len(tok(t, truncation=True, max_length=max_len)["input_ids"])
            f.write(json.dumps({"text": t, "tokens": n}, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "minilm_embeddings.bin"), "wb") as f:
        f.write(emb.tobytes())
    norms = np.linalg.norm(emb, axis=1)
    print(f"{len(TEXTS)} texts, dim {emb.shape[1]}, norms {norms.min():.6f}..{norms.max():.6f}")


if __name__ == "__main__":
    main()
