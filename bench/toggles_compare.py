#!/usr/bin/env python3
"""Side-by-side table of `wgml bench --json` runs made under different Dawn
device toggle sets (bench/gpu_run_toggles.sh): each row's time per set and
its ratio to the first set's."""
import argparse
import json


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                rows[(r["op"], r["shape"], r.get("var", ""))] = r
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("runs", nargs="+", help="bench JSON lines, one file a set, in --sets order")
    ap.add_argument("--sets", required=True, help="the sets' names, space-separated")
    a = ap.parse_args()
    names = a.sets.split()
    if len(names) != len(a.runs):
        ap.error("%d set names for %d files" % (len(names), len(a.runs)))
    runs = [load(p) for p in a.runs]
    print("| op | shape | " + " | ".join("%s µs" % n for n in names) +
          " | " + " | ".join("%s / %s" % (n, names[0]) for n in names[1:]) + " |")
    print("|---|---|" + "---:|" * (2 * len(names) - 1))
    for key, base in runs[0].items():
        times = [r[key]["time_us"] if key in r else None for r in runs]
        cells = ["%.1f" % t if t is not None else "-" for t in times]
        ratios = ["%.2fx" % (t / base["time_us"]) if t else "-" for t in times[1:]]
        op = key[0] + (" (%s)" % key[2] if key[2] else "")
        print("| %s | %s | %s | %s |" % (op, key[1], " | ".join(cells), " | ".join(ratios)))


if __name__ == "__main__":
    main()
