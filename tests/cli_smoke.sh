#!/bin/sh
# The CLI answers --help everywhere, rejects bad options with status 2, and
# prints info and a quick bench, as text and as JSON that parses.
set -eu
: "${WGML:?set WGML to the wgml binary}"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$WGML" --help | grep -q 'commands:' || fail "wgml --help"
"$WGML" info --help | grep -q 'usage: wgml info' || fail "wgml info --help"
"$WGML" bench --help | grep -q 'usage: wgml bench' || fail "wgml bench --help"
set +e
"$WGML" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command should exit 2"
"$WGML" info --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown info option should exit 2"
"$WGML" bench --iters 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--iters 0 should exit 2"
"$WGML" bench --op nosuchop --quick >/dev/null 2>&1; [ $? -eq 2 ] || fail "unmatched --op should exit 2"
"$WGML" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no command should exit 2"
set -e

"$WGML" info | grep -q '^backend' || fail "wgml info text"
"$WGML" info --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["backend"]=="vulkan"; assert "shader_f16" in d["features"]' \
  || fail "wgml info --json"
"$WGML" bench --quick --op softmax | grep -q '^softmax' || fail "bench text"
"$WGML" bench --quick --op gemv | grep -q '^gemv_f16_float' || fail "bench gemv"
"$WGML" bench --quick --json --op add | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
assert rows and all(r["op"] == "add" for r in rows)
for r in rows:
    assert r["time_us"] > 0 and r["gb_per_s"] > 0
    assert abs(r["gb_per_s"] - r["bytes"] / (r["time_us"] * 1e3)) < 1e-3 * r["gb_per_s"] + 1e-6
' || fail "bench --json"
"$WGML" bench fusion --help | grep -q 'usage: wgml bench fusion' || fail "bench fusion --help"
"$WGML" bench fusion --quick --repeat 2 --json | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
assert r["unfused"]["kernels"] == 4 and r["fused"]["kernels"] == 1, r
assert r["fused"]["passes"] < r["unfused"]["passes"]
' || fail "bench fusion --json"
tmp=$(mktemp -d)
"$WGML" roofline --help | grep -q 'usage: wgml roofline' || fail "roofline --help"
"$WGML" roofline --quick --op add --output "$tmp/r.svg" --json | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
assert r["copy_gb_per_s"] > 0 and r["fma_f32_gflop_per_s"] > 0, r
assert r["points"] and all(0 < p["percent_of_bound"] for p in r["points"]), r
' || fail "roofline --json"
grep -q "<svg" "$tmp/r.svg" && grep -q "circle" "$tmp/r.svg" || fail "roofline chart"
"$WGML" tune --help | grep -q 'usage: wgml tune' || fail "tune --help"
WGML_CACHE_DIR="$tmp/cache" "$WGML" tune --quick --op rows | grep -q '^rows' || fail "tune rows"
ls "$tmp"/cache/tune-*.tsv >/dev/null 2>&1 || fail "tune wrote no cache file"
WGML_CACHE_DIR="$tmp/cache" "$WGML" bench --quick --op layernorm | grep -q 'vpl' || fail "bench variant column"
rm -rf "$tmp"

"$WGML" synth --help | grep -q 'usage: wgml synth' || fail "synth --help"
rc=0; "$WGML" synth --type q4_k --output /dev/null 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "synth --type q4_k exited $rc, not 2"

# wgml embed: help and argument errors, caught before any model is read
# (the outputs are cli.embed's).
"$WGML" embed --help | grep -q 'usage: wgml embed' || fail "wgml embed --help"
set +e
"$WGML" embed --format bogus x >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown --format should exit 2"
"$WGML" embed --batch 0 x >/dev/null 2>&1; [ $? -eq 2 ] || fail "--batch 0 should exit 2"
"$WGML" embed </dev/null >/dev/null 2>&1; [ $? -eq 2 ] || fail "no texts should exit 2"
"$WGML" similarity one >/dev/null 2>&1; [ $? -eq 2 ] || fail "similarity of one text should exit 2"
"$WGML" embed --model /nonexistent x >/dev/null 2>&1; [ $? -eq 1 ] || fail "a missing model should exit 1"
set -e
echo "ok   cli"
