#!/usr/bin/env python3
"""llama.cpp as a text-generation peer for `wgml generate --json`: the same
GGUF file (a `wgml synth` model of a preset's shapes), run by llama-cpp-python
(PyPI sdist 0.3.36 built on the CPU: no CUDA toolkit is available where it is
built) on the GPU machine's CPU cores.

    python3 bench/llama_cpp_peer.py --model FILE.gguf [--prompt 512] [--decode 32]
        [--threads N] [--label TEXT]

Prefill: one `eval` of a `--prompt`-token batch (random ids: speed does not
depend on them). Decode: `--decode` single-token evals after it, timed as a
whole. Prints one JSON line.
"""
import argparse
import json
import os
import random
import time

import llama_cpp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--label", default="")
    a = ap.parse_args()

    llm = llama_cpp.Llama(model_path=a.model, n_ctx=a.prompt + a.decode + 8, n_batch=a.prompt,
                          n_ubatch=a.prompt, n_threads=a.threads, n_threads_batch=a.threads,
                          n_gpu_layers=0, verbose=False)
    n_vocab = llm.n_vocab()
    rng = random.Random(1)
    prompt = [rng.randrange(100, n_vocab - 100) for _ in range(a.prompt)]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    t1 = time.perf_counter()
    tok = prompt[-1]
    for _ in range(a.decode):
        llm.eval([tok])
    t2 = time.perf_counter()
    print(json.dumps({
        "peer": "llama.cpp (llama-cpp-python %s, CPU, %d threads)" % (llama_cpp.__version__, a.threads),
        "label": a.label, "model": os.path.basename(a.model),
        "prompt_tokens": a.prompt, "prefill_tokens_per_s": a.prompt / (t1 - t0),
        "decode_steps": a.decode, "decode_tokens_per_s": a.decode / (t2 - t1),
    }))


if __name__ == "__main__":
    main()
