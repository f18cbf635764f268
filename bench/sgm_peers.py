#!/usr/bin/env python3
"""PyTorch f16 on the same GPU for the products `test_ops sgm_timing` times:
torch.matmul at 4096^3, and F.linear (x W^T, f16 x and W, as transformers
runs a Linear layer in f16) at the BERT-small encoder's shapes (batch 32 x 128
tokens) and the prefill shapes of SmolLM2-135M and Llama-3-8B at 256 tokens.
CUDA events around `iters` calls, median of 5, after a warm-up. Prints a
table in the timing tool's columns.
"""
import torch
import torch.nn.functional as F

CASES = [
    ("f16 4096^3", 4096, 4096, 4096, "matmul"),
    ("bert qkv", 4096, 1152, 384, "linear"),
    ("bert out", 4096, 384, 384, "linear"),
    ("bert ffn1", 4096, 1536, 384, "linear"),
    ("bert ffn2", 4096, 384, 1536, "linear"),
    ("smollm2 qkv", 256, 960, 576, "linear"),
    ("smollm2 gate|up", 256, 3072, 576, "linear"),
    ("smollm2 down", 256, 576, 1536, "linear"),
    ("llama8b qkv", 256, 6144, 4096, "linear"),
    ("llama8b gate|up", 256, 28672, 4096, "linear"),
    ("llama8b down", 256, 4096, 14336, "linear"),
]


def timed(fn, iters=20):
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(5):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) * 1e3 / iters)   # us per call
    ts.sort()
    return ts[2]


def main():
    print(f"{'product':22s} {'kernel':18s} {'us/call':>10s} {'TFLOP/s':>9s}")
    for name, M, N, K, kind in CASES:
        x = torch.rand(M, K, device="cuda", dtype=torch.float16)
        if kind == "matmul":
            w = torch.rand(K, N, device="cuda", dtype=torch.float16)
            us = timed(lambda: torch.matmul(x, w))
        else:
            w = torch.rand(N, K, device="cuda", dtype=torch.float16)
            us = timed(lambda: F.linear(x, w))
        print(f"{name:22s} {'torch f16':18s} {us:10.1f} {2.0 * M * N * K / us / 1e6:9.2f}", flush=True)


if __name__ == "__main__":
    main()
