#!/usr/bin/env python3
"""The seed comparisons (issue 3, item 6) from one `wgml bench --json` run.

Each comparison is a ratio of two rows of the same run (same GPU, same
process), speed-up = time of the baseline / time of the variant, printed
beside the published figure it reproduces. Rows a comparison needs but the
run lacks (e.g. f16 rows on a device without shader-f16) are reported as
missing, never guessed.

usage: bench/seeds.py BENCH.jsonl [--json OUT.json] [--meta KEY=VALUE ...]
Writes a Markdown table to stdout.
"""
import argparse
import json
import sys

# (what, baseline (op, shape), variant (op, shape), published figure)
COMPARISONS = [
    ("f16 vs f32 GEMM 4096^3, tiled kernel (no subgroup matrices)",
     ("matmul_f32_tiled", "4096x4096x4096"), ("matmul_f16_tiled", "4096x4096x4096"), "about 2x"),
    ("f16 vs f32 GEMM 4096^3, vec4 kernel (no subgroup matrices)",
     ("matmul_f32_tiled_vec4", "4096x4096x4096"), ("matmul_f16_tiled_vec4", "4096x4096x4096"),
     "about 2x"),
    ("f16 (subgroup matrices) vs f32 (automatic) GEMM 4096^3",
     ("matmul_f32", "4096x4096x4096"), ("matmul_f16", "4096x4096x4096"), "about 2x"),
    ("f16 vs f32 GEMV 4096x4096",
     ("gemv_f32_float", "4096x4096"), ("gemv_f16_float", "4096x4096"), "about 2x (bytes)"),
    ("int8 (packed dot products) vs f16 GEMV 4096x4096",
     ("gemv_f16_float", "4096x4096"), ("gemv_i8_dot4", "4096x4096"), "1.7-2.9x"),
    ("int8 (dot products emulated) vs f16 GEMV 4096x4096",
     ("gemv_f16_float", "4096x4096"), ("gemv_i8_dot4_emulated", "4096x4096"), "1.6-2.8x"),
    ("int8 float-unpacked vs f16 GEMV 4096x4096",
     ("gemv_f16_float", "4096x4096"), ("gemv_i8_float", "4096x4096"), "1.6-2.8x"),
    ("packed dot products on vs emulated, Q4_0 GEMV 4096x4096",
     ("gemv_q4_0_dot4_emulated", "4096x4096"), ("gemv_q4_0_dot4", "4096x4096"), "-"),
    ("subgroups on vs off, f16 GEMV 4096x4096 (row reduction)",
     ("gemv_f16_float_shared", "4096x4096"), ("gemv_f16_float", "4096x4096"), "2-13x (matmul)"),
    ("subgroups on vs off, int8 GEMV 4096x4096",
     ("gemv_i8_dot4_shared", "4096x4096"), ("gemv_i8_dot4", "4096x4096"), "2-13x (matmul)"),
    ("subgroups on vs off, Q4_0 GEMV 4096x4096",
     ("gemv_q4_0_dot4_shared", "4096x4096"), ("gemv_q4_0_dot4", "4096x4096"), "2-13x (matmul)"),
    ("subgroups on vs off, f32 GEMM 1024^3 (vec4 kernel: A by shuffles vs workgroup memory)",
     ("matmul_f32_tiled_vec4", "1024x1024x1024"), ("matmul_f32_tiled_subgroup", "1024x1024x1024"),
     "2-13x"),
    ("subgroups on vs off, f32 GEMM 4096^3 (vec4 kernel)",
     ("matmul_f32_tiled_vec4", "4096x4096x4096"), ("matmul_f32_tiled_subgroup", "4096x4096x4096"),
     "2-13x"),
    ("subgroups on vs off, f16 GEMM 4096^3 (vec4 kernel)",
     ("matmul_f16_tiled_vec4", "4096x4096x4096"), ("matmul_f16_tiled_subgroup", "4096x4096x4096"),
     "2-13x"),
    ("subgroups and swizzle combined vs neither, f32 GEMM 1024^3 (vec4 kernel)",
     ("matmul_f32_tiled_vec4", "1024x1024x1024"),
     ("matmul_f32_tiled_subgroup_swizzled", "1024x1024x1024"), "up to 26x"),
    ("subgroups and swizzle combined vs neither, f32 GEMM 4096^3 (vec4 kernel)",
     ("matmul_f32_tiled_vec4", "4096x4096x4096"),
     ("matmul_f32_tiled_subgroup_swizzled", "4096x4096x4096"), "up to 26x"),
    ("swizzle on vs off, f32 GEMM 1024^3",
     ("matmul_f32_tiled", "1024x1024x1024"), ("matmul_f32_tiled_swizzled", "1024x1024x1024"),
     "up to 12x"),
    ("swizzle on vs off, f32 GEMM 4096^3",
     ("matmul_f32_tiled", "4096x4096x4096"), ("matmul_f32_tiled_swizzled", "4096x4096x4096"),
     "up to 12x"),
    ("swizzle on vs off, f16 GEMM 4096^3 (tiled)",
     ("matmul_f16_tiled", "4096x4096x4096"), ("matmul_f16_tiled_swizzled", "4096x4096x4096"),
     "up to 12x"),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bench")
    ap.add_argument("--json", dest="out_json")
    ap.add_argument("--meta", action="append", default=[])
    args = ap.parse_args()
    rows = {}
    for line in open(args.bench):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if "op" in r and "time_us" in r:
            rows[(r["op"], r["shape"])] = r
    out = []
    for what, base, var, published in COMPARISONS:
        b, v = rows.get(base), rows.get(var)
        rec = {"comparison": what, "baseline": "%s %s" % base, "variant": "%s %s" % var,
               "published": published}
        if b and v and v["time_us"] > 0:
            rec.update(baseline_us=b["time_us"], variant_us=v["time_us"],
                       speedup=b["time_us"] / v["time_us"])
        else:
            rec["missing"] = [("%s %s" % k) for k, r in ((base, b), (var, v)) if not r]
        out.append(rec)
    for m in args.meta:
        print("- %s" % m.replace("=", ": ", 1))
    print()
    print("| comparison | baseline (us) | variant (us) | speed-up | published |")
    print("|---|---|---|---|---|")
    for r in out:
        if "speedup" in r:
            print("| %s | %s: %.2f | %s: %.2f | **%.2fx** | %s |" % (
                r["comparison"], r["baseline"], r["baseline_us"], r["variant"], r["variant_us"],
                r["speedup"], r["published"]))
        else:
            print("| %s | %s | %s | missing: %s | %s |" % (
                r["comparison"], r["baseline"], r["variant"], ", ".join(r["missing"]),
                r["published"]))
    if args.out_json:
        with open(args.out_json, "w") as f:
            json.dump({"meta": dict(m.split("=", 1) for m in args.meta if "=" in m),
                       "comparisons": out}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
