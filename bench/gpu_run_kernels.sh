#!/usr/bin/env bash
# One call on the GPU machine (device tool) for issue 3's table: builds wgml
# against Dawn, runs the op tests the kernels changed in, `wgml bench --json`
# beside bench/torch_peers.py (same call), the seed comparisons from those rows
# (bench/seeds.py), the cost of small dispatches (wgml bench dispatch) and the
# roofline chart. Needs .deps/dawn and .gl carried; WGML_COMMIT names the
# commit (the machine's checkout may not know it).
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
source bench/gpu_env.sh
log="$out/log.txt"
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)
commit=${WGML_COMMIT:-unknown}
echo "$gpu; commit $commit" | tee "$log"
cmake -S . -B build/dawn -G Ninja -DWGML_WEBGPU=dawn >/dev/null &&
  cmake --build build/dawn -j16 >/dev/null || { echo "build failed" | tee -a "$log"; exit 1; }
for t in "test_ops matmul_swizzled" "test_ops matmul" "test_ops matmul_f16" "test_ops matmul_subgroup" \
         "test_gemv f32 float" \
         "test_gemv i8 dot4_emulated" "test_gemv q4_0 dot4"; do
  timeout 60 build/dawn/tests/$t > /tmp/t.txt 2>&1; rc=$?
  echo "$t: rc=$rc $(grep -cE '^ok' /tmp/t.txt) ok lines $(grep -E 'cases passed|FAIL' /tmp/t.txt | tail -1)" | tee -a "$log"
done
python3 bench/torch_peers.py > "$out/torch.jsonl" 2> /tmp/torch.err || tail -3 /tmp/torch.err | tee -a "$log"
timeout 300 build/dawn/wgml bench --json > "$out/bench.jsonl" 2> /tmp/bench.err || tail -3 /tmp/bench.err | tee -a "$log"
python3 bench/compare.py "$out/bench.jsonl" "$out/torch.jsonl" --title "wgml bench (dawn) vs PyTorch" \
  --meta "GPU=$gpu" --meta "commit=$commit" > "$out/compare.md"
python3 bench/seeds.py "$out/bench.jsonl" --json "$out/seeds.json" --meta "GPU=$gpu" \
  --meta "WebGPU=Dawn (Vulkan)" --meta "commit=$commit" > "$out/seeds.md"
echo "=== dispatch cost" | tee -a "$log"
timeout 60 build/dawn/wgml bench dispatch 2>&1 | tee -a "$log"
timeout 120 build/dawn/wgml roofline --output "$out/roofline.svg" >> "$log" 2>&1
cat "$out/seeds.md" >> "$log"
