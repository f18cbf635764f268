#!/usr/bin/env python3
"""The same ops and shapes as `wgml bench`, run by PyTorch on the same GPU, plus
a device-to-device copy for the bandwidth ceiling. Prints JSON lines with the
fields wgml bench --json uses, so bench/compare.py can pair the rows.

Timing: CUDA events around `iters` back-to-back calls, median of `repeat`
runs, after a warm-up; inputs are random (never zeros). TF32 is off so f32
matmul is true f32, like wgml's.
"""
import argparse
import json

import torch

MIB = 1 << 20


def timed(fn, iters, repeat):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) * 1e6 / iters)  # ns per call
    times.sort()
    return times[len(times) // 2]


def row(op, shape, ns, nbytes, flops, **extra):
    r = {"op": op, "shape": shape, "time_us": ns / 1e3, "timer": "cuda-events",
         "bytes": nbytes, "flops": flops, "gb_per_s": nbytes / ns, "gflop_per_s": flops / ns}
    r.update(extra)
    print(json.dumps(r), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    it, rep = args.iters, args.repeat
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(0)

    def rnd(*shape, dtype=torch.float32):
        return torch.rand(*shape, device=dev, generator=g, dtype=torch.float32).add_(1).to(dtype)

    # Copy bandwidth: bytes read + bytes written, 256 MiB each way.
    src, dst = rnd(64 * MIB), torch.empty(64 * MIB, device=dev)
    row("copy", str(64 * MIB), timed(lambda: dst.copy_(src), it, rep), 2 * 4.0 * 64 * MIB, 0)

    n = 16 * MIB
    x, y, b = rnd(n), torch.empty(n, device=dev), rnd(n)
    row("scale", str(n), timed(lambda: torch.mul(x, 0.5, out=y), it, rep), 8.0 * n, n)
    row("gelu", str(n), timed(lambda: torch.nn.functional.gelu(x), it, rep), 8.0 * n, 20.0 * n)
    row("silu", str(n), timed(lambda: torch.nn.functional.silu(x), it, rep), 8.0 * n, 4.0 * n)
    row("add", str(n), timed(lambda: torch.add(x, b, out=y), it, rep), 12.0 * n, n)
    row("mul", str(n), timed(lambda: torch.mul(x, b, out=y), it, rep), 12.0 * n, n)

    R, C = 16384, 1024
    m, gam, bet = rnd(R, C), rnd(C), rnd(C)
    row("softmax", f"{R}x{C}", timed(lambda: torch.softmax(m, -1), it, rep), 8.0 * R * C, 5.0 * R * C)
    row("layernorm", f"{R}x{C}",
        timed(lambda: torch.nn.functional.layer_norm(m, (C,), gam, bet, 1e-5), it, rep),
        8.0 * R * C + 8 * C, 8.0 * R * C)
    row("rmsnorm", f"{R}x{C}",
        timed(lambda: torch.nn.functional.rms_norm(m, (C,), gam, 1e-5), it, rep),
        8.0 * R * C + 4 * C, 4.0 * R * C)

    for dt, name, es in ((torch.float32, "matmul_f32", 4), (torch.float16, "matmul_f16", 2)):
        for s in (1024, 4096):
            A, B = rnd(s, s, dtype=dt), rnd(s, s, dtype=dt)
            row(name, f"{s}x{s}x{s}", timed(lambda: torch.matmul(A, B), it, rep),
                3.0 * es * s * s, 2.0 * s ** 3)


if __name__ == "__main__":
    main()
