#!/bin/sh
# Files wgml writes, read by the `gguf` package (PyPI gguf==0.19.0): the
# writer's sample (every setter and tensor type) and, when WGML is set, a
# `wgml synth` model. GGUFReader must read each (every tensor's bytes
# included) and see what wgml's reader sees (`test_gguf expect`). Skipped
# (77) where Python has no `gguf` package.
set -eu
: "${TEST_GGUF:?set TEST_GGUF to the test_gguf binary}"
here=$(dirname "$0")
fail() { echo "FAIL: $*" >&2; exit 1; }
python3 -c 'import gguf' 2>/dev/null || { echo "SKIP: python3 has no gguf package"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { # file
  python3 "$here/../scripts/gguf_dump.py" "$1" > "$1.txt" || fail "GGUFReader cannot read $1"
  "$TEST_GGUF" expect "$1" "$1.txt" || fail "$1: wgml and GGUFReader differ"
}
"$TEST_GGUF" write_sample "$tmp/sample.gguf" || fail "write_sample"
check "$tmp/sample.gguf"
if [ -n "${WGML:-}" ]; then
  for type in f32 q4_1; do
    "$WGML" synth --preset tiny --type $type --seed 3 --output "$tmp/tiny-$type.gguf" || fail "synth $type"
    check "$tmp/tiny-$type.gguf"
  done
fi
echo "gguf_python: GGUFReader reads what wgml writes"
