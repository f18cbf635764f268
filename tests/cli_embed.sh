#!/bin/sh
# wgml embed and wgml similarity on the model that scripts/setup.sh installs:
# every output format, --query ranking and similarity scores. Apart from the
# smoke test because each command builds the encoder (half a minute on
# SwiftShader); test.sh runs it on lavapipe.
set -eu
: "${WGML:?set WGML to the wgml binary}"
fail() { echo "FAIL: $*" >&2; exit 1; }
model="${WGML_MODEL_DIR:-$(dirname "$0")/../.deps/models/all-MiniLM-L6-v2}"
[ -f "$model/model.safetensors" ] || fail "no model at $model: run scripts/setup.sh"
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
"$WGML" bench embed --help | grep -q 'usage: wgml bench embed' || fail "bench embed --help"
set +e
"$WGML" bench embed --batch 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "bench embed --batch 0 should exit 2"
set -e
"$WGML" bench embed --f32 --batch 2 --seq 8 --repeat 1 --json | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
assert r["batch"] == 2 and r["seq"] == 8 and r["precision"] == "f32", r
assert r["sentences_per_s"] > 0 and r["flops"] > 0, r
' || fail "bench embed --json"
rm -rf "$tmp"
echo "ok   cli embed"
