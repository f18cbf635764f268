#!/usr/bin/env bash
# One call on the GPU machine (device tool) for the subgroup-matrix GEMM:
# builds wgml (Dawn), runs the matmul op tests there (the device's own
# matrices), times every tile configuration against the tiled kernels
# (test_ops sgm_timing) and PyTorch f16 (bench/sgm_peers.py), then the
# encoder (wgml bench embed) and a SmolLM2-shaped prefill (wgml generate).
# Needs .deps/dawn and .gl (the Vulkan loader .deb) carried; writes $OUT.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
source bench/gpu_env.sh
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
echo "commit ${WGML_COMMIT:-unknown}" | tee -a "$out/gpu.txt"
t0=$(date +%s)
cmake -S . -B build/dawn -G Ninja -DWGML_WEBGPU=dawn >/dev/null &&
  cmake --build build/dawn -j16 --target wgml_cli test_ops test_llama_ops test_graph test_gpu test_generate >/dev/null ||
  { echo "build failed"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"
W=build/dawn/wgml
echo "=== op tests on the GPU"
timeout 40 ctest --test-dir build/dawn -R "${SGM_TESTS:-ops\.matmul|llama_ops\.matmul_q|graph\.encoder|gpu\.kernels}" \
  -j 8 --output-on-failure > "$out/ctest.txt" 2>&1
grep -E "tests passed|\(Failed\)|\(Skipped\)|\*\*\*|FAIL" "$out/ctest.txt" | head -20
echo "=== timings ($(( $(date +%s) - t0 )) s)"
# SGM_XP=xp adds the kernel's experiment switches; SGM_PEERS=0 skips PyTorch.
timeout 75 build/dawn/tests/test_ops sgm_timing 10 1 ${SGM_XP:-} 2>&1 | grep -v "^Warning" | tee "$out/sgm_timing.txt"
echo "=== encoder ($(( $(date +%s) - t0 )) s)"
timeout 20 python3 bench/embed_peers.py --write-model /tmp/minilm >/dev/null 2>&1
timeout 20 $W bench embed --model /tmp/minilm --batch ${SGM_EMBED_BATCH:-32} --seq 128 --f16 --repeat 5 2>&1 | tee "$out/embed.txt"
echo "=== prefill ($(( $(date +%s) - t0 )) s)"
python3 -c "
import random; random.seed(1); w=['alpha','beta','gamma','delta','river','stone','cloud','light','paper','music']
print(' '.join(random.choice(w) for _ in range(160)))" > /tmp/prompt.txt
timeout 20 $W synth --preset smollm2-135m --type q4_1 --output /tmp/s.gguf >/dev/null &&
  for i in 1 2; do timeout 15 $W generate -m /tmp/s.gguf -f /tmp/prompt.txt -n 16 --temp 0 --ignore-eos --json |
    python3 -c "import json,sys; d=json.load(sys.stdin); print({k: d[k] for k in d if 'prefill' in k or 'prompt' in k})"; done 2>&1 | tee "$out/prefill.txt"
# Prefill of 512 tokens: host recording against GPU time.
timeout 20 build/dawn/tests/test_generate timing /tmp/s.gguf 2>&1 | grep -v "^Warning" | tee -a "$out/prefill.txt"
if [ "${SGM_PEERS:-1}" = 1 ]; then
  echo "=== torch ($(( $(date +%s) - t0 )) s)"
  timeout 30 python3 bench/sgm_peers.py 2>&1 | tee "$out/torch.txt"
fi
echo "done in $(( $(date +%s) - t0 )) s"
