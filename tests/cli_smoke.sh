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

# Sentence embeddings (needs the model that scripts/setup.sh installs).
"$WGML" embed --help | grep -q 'usage: wgml embed' || fail "wgml embed --help"
set +e
"$WGML" embed --format bogus x >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown --format should exit 2"
"$WGML" embed --batch 0 x >/dev/null 2>&1; [ $? -eq 2 ] || fail "--batch 0 should exit 2"
"$WGML" embed </dev/null >/dev/null 2>&1; [ $? -eq 2 ] || fail "no texts should exit 2"
"$WGML" similarity one >/dev/null 2>&1; [ $? -eq 2 ] || fail "similarity of one text should exit 2"
"$WGML" embed --model /nonexistent x >/dev/null 2>&1; [ $? -eq 1 ] || fail "a missing model should exit 1"
set -e
if [ -n "${WGML_MODEL_DIR:-}" ] || [ -f "$(dirname "$0")/../.deps/models/all-MiniLM-L6-v2/model.safetensors" ]; then
  tmp=$(mktemp -d)
  printf 'A man is eating food.\nThe stock market fell sharply.\n\n' > "$tmp/in.txt"
  "$WGML" embed --file "$tmp/in.txt" | python3 -c '
import json, math, sys
rows = [json.loads(l) for l in sys.stdin]
assert [r["index"] for r in rows] == [0, 1, 2] and rows[2]["text"] == "", rows
for r in rows:
    assert len(r["embedding"]) == 384
    assert abs(math.sqrt(sum(v * v for v in r["embedding"])) - 1) < 1e-4
' || fail "embed jsonl"
  "$WGML" embed --file "$tmp/in.txt" --format npy --output "$tmp/e.npy"
  python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:6] == b"\x93NUMPY"
n = struct.unpack("<H", b[8:10])[0]
assert "(3, 384)" in b[10:10 + n].decode() and (10 + n) % 64 == 0 and len(b) == 10 + n + 3 * 384 * 4
' "$tmp/e.npy" || fail "embed npy"
  "$WGML" embed --format tsv "x	y" | awk -F'\t' '{ exit !($1 == "x\\ty" && NF == 385) }' || fail "embed tsv"
  "$WGML" embed --query "a kitten" --format tsv --top 2 "the cat sleeps" "stock prices" "a small cat" \
    | awk -F'\t' 'NR == 1 && $3 !~ /cat/ { exit 1 } END { exit NR != 2 }' || fail "embed --query"
  "$WGML" similarity "A man is eating food." "A man is eating bread." "The stock market fell." \
    | awk -F'\t' 'NR == 1 { a = $1 } NR == 2 { b = $1 } END { exit !(a > 0.5 && b < 0.2) }' \
    || fail "similarity"
  rm -rf "$tmp"
else
  echo "skip embed output checks: no model"
fi
echo "ok   cli"
