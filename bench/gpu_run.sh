#!/usr/bin/env bash
# One call on the GPU machine (device tool): builds wgml against Dawn and
# wgpu-native, prints `wgml info` for both, runs `wgml bench --json` for both
# and bench/torch_peers.py in the same session, and leaves everything in $OUT.
# Needs .deps/dawn, .deps/wgpu-native and .gl (the Vulkan loader .deb) carried.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
source bench/gpu_env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
commit=${WGML_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
echo "commit $commit" | tee -a "$out/gpu.txt"
for impl in dawn wgpu-native; do
  cmake -S . -B build/$impl -G Ninja -DWGML_WEBGPU=$impl >/dev/null &&
    cmake --build build/$impl >/dev/null || { echo "build $impl failed"; continue; }
  echo "=== wgml info ($impl)"
  build/$impl/wgml info | tee "$out/info-$impl.txt"
  build/$impl/wgml info --json > "$out/info-$impl.json"
  echo "=== tests ($impl) on the GPU"
  ctest --test-dir build/$impl -j 8 > "$out/ctest-$impl.txt" 2>&1
  grep -E 'tests passed|Failed|Skipped|\*\*\*' "$out/ctest-$impl.txt"
done
python3 bench/torch_peers.py > "$out/torch.jsonl" 2> "$out/torch.err"
for impl in dawn wgpu-native; do
  [ -x build/$impl/wgml ] || continue
  echo "=== wgml bench ($impl)"
  timeout 240 build/$impl/wgml bench --json > "$out/bench-$impl.jsonl" 2> "$out/bench-$impl.err"
  echo "=== wgml bench fusion ($impl)"
  build/$impl/wgml bench fusion | tee "$out/fusion-$impl.txt"
  if [ $impl = dawn ]; then
    build/$impl/wgml roofline --output "$out/roofline-$impl.svg" > "$out/roofline-$impl.txt"
    WGML_CACHE_DIR=/tmp/wgml-tune build/$impl/wgml tune > "$out/tune-$impl.txt" 2>&1
  fi
  # Three more runs as JSON lines: the spread between runs of one machine.
  for i in 1 2 3; do build/$impl/wgml bench fusion --json; done > "$out/fusion-$impl.jsonl"
  python3 bench/compare.py "$out/bench-$impl.jsonl" "$out/torch.jsonl" \
    --title "wgml bench ($impl) vs PyTorch" --meta "GPU=$(head -1 "$out/gpu.txt")" \
    --meta "commit=$commit" | tee "$out/compare-$impl.md"
done
# The device tool returns at most 8 files: pack the raw outputs into one.
(cd "$out" && tar czf raw.tar.gz --remove-files ./*.txt ./*.json ./*.jsonl ./*.err ./*.svg 2>/dev/null)
