#!/usr/bin/env bash
# The main job: set everything up, build, then `wgml info` and `wgml bench`,
# then sentence embeddings (all-MiniLM-L6-v2): `wgml embed` and `wgml similarity`.
# Runs on the machine's GPU when Vulkan has one; otherwise on SwiftShader (a
# CPU Vulkan device), where bench uses small sizes (--quick).
#   ./run.sh [dawn|wgpu-native] [extra wgml bench options]
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"
impl=${1:-dawn}
[ $# -gt 0 ] && shift
./scripts/setup.sh
./scripts/build.sh "$impl" >/dev/null
source scripts/devices.sh
wgml="build/$impl/wgml"

quick=()
if ! "$wgml" info --json 2>/dev/null | grep -q '"adapter_type":"\(discrete\|integrated\)"'; then
  echo "[run] no GPU adapter found; using SwiftShader (CPU) with small bench sizes" >&2
  export VK_ICD_FILENAMES="$SWIFTSHADER_ICD"
  quick=(--quick)
fi
"$wgml" info
echo
"$wgml" bench "${quick[@]}" "$@"
echo
echo "[run] sentence embeddings (all-MiniLM-L6-v2): wgml embed \"hello world\" --format tsv, first values"
"$wgml" embed "hello world" --format tsv | cut -f1-6
echo "[run] wgml similarity: cosine of the first sentence with each other"
"$wgml" similarity "A man is eating food." "A man is eating a piece of bread." \
  "The girl is carrying a baby." "A man is riding a horse."
echo
# On CPU devices lavapipe runs the decoder several times faster than SwiftShader.
[ ${#quick[@]} -gt 0 ] && [ -f "${LAVAPIPE_ICD:-}" ] && export VK_ICD_FILENAMES="$LAVAPIPE_ICD"
echo "[run] text generation (SmolLM2-135M-Instruct): wgml generate --chat -p \"What is the capital of France?\" -n 24 --temp 0"
"$wgml" generate --chat -p "What is the capital of France?" -n 24 --temp 0 --stats
