#!/usr/bin/env python3
"""Pairs `wgml bench --json` rows with bench/torch_peers.py rows (same op and
shape, same GPU, same run) and writes a Markdown table of the ratios.

usage: compare.py WGML_JSONL TORCH_JSONL --title T [--meta K=V ...] > out.md
"""
import argparse
import json


def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip().startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wgml")
    ap.add_argument("torch")
    ap.add_argument("--title", default="wgml bench vs PyTorch")
    ap.add_argument("--meta", action="append", default=[])
    a = ap.parse_args()
    w, t = load(a.wgml), load(a.torch)
    peers = {(r["op"], r["shape"]): r for r in t}
    copy = peers.get(("copy", next((r["shape"] for r in t if r["op"] == "copy"), "")))
    print(f"# {a.title}\n")
    for m in a.meta:
        k, _, v = m.partition("=")
        print(f"- {k}: {v}")
    if copy:
        print(f"- PyTorch device-to-device copy: {copy['gb_per_s']:.0f} GB/s "
              "(bytes read + written)")
    print("\n| op | shape | wgml µs | GB/s | GFLOP/s | % of copy BW | PyTorch µs | wgml / PyTorch time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in w:
        p = peers.get((r["op"], r["shape"]))
        bw = f"{100 * r['gb_per_s'] / copy['gb_per_s']:.0f}%" if copy else "-"
        pt = f"{p['time_us']:.1f}" if p else "-"
        ratio = f"{r['time_us'] / p['time_us']:.2f}x" if p else "-"
        print(f"| {r['op']} | {r['shape']} | {r['time_us']:.1f} | {r['gb_per_s']:.0f} | "
              f"{r['gflop_per_s']:.0f} | {bw} | {pt} | {ratio} |")


if __name__ == "__main__":
    main()
