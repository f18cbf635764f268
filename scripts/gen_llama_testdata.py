#!/usr/bin/env python3
"""Writes tests/data/llama_smollm2{,_q8act}.{jsonl,sketch}: what llama.cpp
computes for SmolLM2-135M-Instruct (the Q4_1 GGUF scripts/setup.sh installs
in .deps/models) on 20 prompts, for tests/test_llama_reference.c.

    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF \\
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_NATIVE=OFF" \\
      nice -n 19 pip install llama-cpp-python==0.3.36    # compiles llama.cpp
    pip install numpy==2.4.6 gguf==0.19.0
    python3 scripts/gen_llama_testdata.py [MODEL.gguf]

The reference is llama.cpp itself (its CPU backend, f16 KV cache, flash
attention off), through llama-cpp-python: the prompts are tokenized by
llama.cpp (special tokens parsed, no BOS: SmolLM2's add_bos_token is false),
evaluated with logits_all=True, and continued greedily for 32 tokens (argmax
of the logits, the lowest id on ties, never stopping at end-of-turn) by
evaluating one token at a time.

Two runs, because llama.cpp's CPU backend multiplies quantised weights by
activations that it quantises too (Q8_1 blocks of 32 for Q4_1 weights, Q8_0
for Q8_0), which moves SmolLM2's logits by NMSE ~1e-3 (up to 7e-2 at some
positions) against exact arithmetic on the same weights:
  llama_smollm2        llama.cpp on an F32 copy of the Q4_1 file, made here
                       with the gguf package's dequantiser: the same weight
                       values, f32 activations. wgml reads the Q4_1 file
                       itself; this is the comparison the test holds tight.
  llama_smollm2_q8act  llama.cpp on the Q4_1 file as it ships (logits only):
                       what llama.cpp's users get, kept to show the size of
                       that activation rounding.

Logits are 49152 per position; full ones for 20 prompts x 32 positions would
be 63 MB as f16, too much to keep in the repository. What the test needs from
them is each prompt's NMSE, sum (y - r)^2 / sum r^2 over its positions, and
the greedy tokens. So per position the files keep:
  sumsq   sum r^2 over the vocabulary (exact, double): the NMSE denominator
  sketch  a random projection s = S r of the logits (S: K = 64 rows of +-1,
          a pure function of (row, token id): the lowbias32 hash below), so
          that ||S y - s||^2 / K estimates ||y - r||^2 without bias; over 32
          positions x 64 rows the estimate's relative error is about
          sqrt(2 / 2048) = 3% (Johnson-Lindenstrauss)
  top     the 8 largest logits and their ids (argmax agreement, and exact
          errors where it matters most)
The sketches (20 x positions x 64 f32, little-endian) go to the .sketch file,
everything else to the JSON lines.
"""
import hashlib
import importlib.metadata
import json
import os
import struct
import sys

import numpy as np
import gguf
import tempfile

try:
    import llama_cpp
except ImportError:
    sys.exit("llama-cpp-python is missing: see the top of this script")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, ".deps/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "tests", "data", "llama_smollm2")
POSITIONS = 32      # logits kept for the first 32 positions of each prompt
SKETCH_ROWS = 64    # K
TOP = 8
CONTINUATION = 32

SYSTEM = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
          "Hugging Face<|im_end|>\n")


def chat(question):
    """SmolLM2's chat template (the GGUF's tokenizer.chat_template), one user turn."""
    return SYSTEM + "<|im_start|>user\n" + question + "<|im_end|>\n<|im_start|>assistant\n"


PROMPTS = [
    chat("What is the capital of France?"),
    chat("Write a haiku about the sea."),
    chat("Explain in one paragraph why the sky is blue."),
    chat("List three prime numbers greater than 100."),
    chat("Translate 'good morning, how are you?' into Spanish."),
    chat("Write a Python function that returns the factorial of n."),
    chat("What is 17 times 23?"),
    chat("Give me a short recipe for pancakes."),
    chat("Who wrote Pride and Prejudice, and when was it published?"),
    chat("Summarize the plot of Romeo and Juliet in two sentences."),
    "The quick brown fox jumps over the lazy dog. The quick brown fox",
    "Once upon a time, in a small village at the edge of a great forest, there lived",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n",
    "1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233,",
    "The mitochondria is the powerhouse of the cell. It produces",
    "Paris is the capital of France. Berlin is the capital of Germany. Rome is the capital of",
    "La vie est belle quand on prend le temps de regarder autour de soi. Les",
    "<html>\n<head>\n  <title>My page</title>\n</head>\n<body>\n  <h1>",
    "Q: What is the boiling point of water at sea level?\nA:",
    "In 1969, Neil Armstrong became the first person to walk on the Moon. He said",
]


def lowbias32(x):
    """C. Wellons' integer hash, on uint32 arrays (the test has the same one)."""
    x = x.astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def signs(n_vocab):
    """S (K x V): +1 where the top bit of lowbias32(row * V + id) is set, else -1."""
    idx = np.arange(SKETCH_ROWS, dtype=np.uint64)[:, None] * n_vocab + np.arange(n_vocab)
    h = lowbias32(idx.astype(np.uint32))
    return np.where(h >> np.uint32(31), 1.0, -1.0)


def dequantized_copy(src, dst):
    """src with every tensor dequantised to F32 (gguf.quants.dequantize) and
    the same metadata (file_type set to F32)."""
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, arch=r.fields["general.architecture"].contents())
    T = gguf.GGUFValueType
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        if k == "general.file_type":
            w.add_uint32(k, 0)
        elif f.types[0] == T.ARRAY:
            w.add_array(k, f.contents())
        elif f.types[0] == T.STRING:
            w.add_string(k, f.contents())
        else:
            w.add_key_value(k, f.contents(), f.types[0])
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w.add_tensor(t.name, a.reshape([int(x) for x in reversed(t.shape)]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else MODEL
    with open(model, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        f32 = os.path.join(tmp, "f32.gguf")
        dequantized_copy(model, f32)
        run(f32, model, sha, OUT, "f32 copy (gguf.quants.dequantize)", greedy_run=True)
    run(model, model, sha, OUT + "_q8act", "as shipped", greedy_run=False)


def run(path, model, sha, out, weights, greedy_run):
    llm = llama_cpp.Llama(model_path=path, n_ctx=256, n_batch=256, logits_all=True,
                          n_threads=2, seed=0, flash_attn=False, verbose=False)
    n_vocab = llm.n_vocab()
    S = signs(n_vocab)
    lines = [json.dumps({
        "model": os.path.basename(model), "sha256": sha,
        "llama_cpp_python": llama_cpp.__version__, "numpy": np.__version__,
        "n_vocab": n_vocab, "positions": POSITIONS, "sketch_rows": SKETCH_ROWS,
        "top": TOP, "continuation": CONTINUATION,
        "kv_cache": "f16", "backend": "cpu", "weights": weights, "gguf": importlib.metadata.version("gguf"),
    })]
    sketch = bytearray()
    for text in PROMPTS:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        llm.eval(tokens)
        p = min(POSITIONS, len(tokens))
        logits = np.array(llm.scores[:p], dtype=np.float64)   # (p, V)
        s = logits @ S.T                                       # (p, K)
        sketch += struct.pack("<%df" % (p * SKETCH_ROWS), *s.astype(np.float32).ravel())
        top_ids = np.argsort(-logits, axis=1, kind="stable")[:, :TOP]
        greedy = []
        for _ in range(CONTINUATION if greedy_run else 0):
            last = np.array(llm.scores[llm.n_tokens - 1])
            t = int(np.argmax(last))   # the first (lowest) id among equal maxima
            greedy.append(t)
            llm.eval([t])
        lines.append(json.dumps({
            "text": text, "tokens": [int(t) for t in tokens], "positions": p,
            "sumsq": [float(x) for x in (logits ** 2).sum(axis=1)],
            "top_ids": top_ids.tolist(),
            "top_logits": [[round(float(logits[i, j]), 6) for j in top_ids[i]] for i in range(p)],
            "greedy": greedy,
            "greedy_text": llm.detokenize(greedy).decode("utf-8", "replace"),
        }, ensure_ascii=False))
        print(f"{len(tokens):3d} tokens: {llm.detokenize(greedy).decode('utf-8', 'replace')!r}")
    with open(out + ".jsonl", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(out + ".sketch", "wb") as f:
        f.write(sketch)
    print(f"wrote {out}.jsonl and {out}.sketch ({len(sketch)} bytes)")


if __name__ == "__main__":
    main()
