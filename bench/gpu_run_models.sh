#!/usr/bin/env bash
# One call on the GPU machine (device tool): the model-level runs, wgml and
# its peers side by side on the same GPU, with random weights of the real
# models' shapes (the device tool carries 64 MiB; real weights stay here).
#   bash bench/gpu_run_models.sh [embed] [llm]     (both when none is named)
#   embed: wgml bench embed (f32, f16) vs bench/embed_peers.py
#     (sentence-transformers or transformers on CUDA, onnxruntime on the CPU)
#     on an all-MiniLM-L6-v2-shaped model, batch 1/8/32/128 x 128/512 tokens
#   llm: wgml generate --json on `wgml synth` files of SmolLM2-135M's shapes
#     (Q4_1, as the real file) and Llama-3-8B's (Q4_0, Q8_0, F16), f16 and
#     f32 activations, vs bench/llm_peers.py (transformers f16 on CUDA) and
#     bench/llama_cpp_peer.py (llama.cpp on the CPU cores, where
#     .xfer/pylib carries llama-cpp-python), same prompt; and PyTorch's
#     device-to-device copy bandwidth, for the decode bandwidth bound.
#     LLM_SPECS="preset:type ..." picks the models; LLM_PEERS=0 skips the peers.
# Needs .deps/dawn and .gl (the Vulkan loader .deb) carried. Writes $OUT.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
source bench/gpu_env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
echo "commit ${WGML_COMMIT:-unknown}" | tee -a "$out/gpu.txt"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1 | tee -a "$out/gpu.txt"
cmake -S . -B build/dawn -G Ninja -DWGML_WEBGPU=dawn -DWGML_BUILD_TESTS=OFF >/dev/null &&
  cmake --build build/dawn --target wgml_cli >/dev/null || { echo "build failed"; exit 1; }
W=build/dawn/wgml
$W info | tee "$out/info.txt" | head -8

parts=" $* "; [ -z "$*" ] && parts=" embed llm "

if [[ $parts == *" embed "* ]]; then
echo "=== sentence embeddings"
python3 bench/embed_peers.py --write-model /tmp/minilm 2>/dev/null
timeout 150 $W bench embed --model /tmp/minilm --repeat 10 --json | tee "$out/embed-wgml.jsonl" | cut -c1-160
timeout 150 python3 bench/embed_peers.py --model /tmp/minilm --repeat 10 > "$out/embed-peers.jsonl" 2> "$out/embed-peers.err"
cut -c1-160 "$out/embed-peers.jsonl"

fi

if [[ $parts == *" llm "* ]]; then
echo "=== text generation"
[ -d .xfer/pylib ] && export PYTHONPATH=$PWD/.xfer/pylib
# Device-to-device copy bandwidth (bytes read + written), the decode bound.
python3 - <<'PY' | tee "$out/copy-bandwidth.json"
import json, torch
x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
ts = []
for _ in range(20):
    s.record(); y.copy_(x); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e) / 1e3)
ts.sort()
print(json.dumps({"copy_bytes": 2 * x.numel(), "median_s": ts[10], "GB_per_s": 2 * x.numel() / ts[10] / 1e9}))
PY
python3 -c "
import random; random.seed(1); w=['alpha','beta','gamma','delta','river','stone','cloud','light','paper','music']
print(' '.join(random.choice(w) for _ in range(182)))" > /tmp/prompt.txt
for spec in ${LLM_SPECS:-smollm2-135m:q4_1 llama3-8b:q4_0 llama3-8b:q8_0 llama3-8b:f16}; do
  preset=${spec%%:*}; type=${spec##*:}
  timeout 200 $W synth --preset $preset --type $type --output /tmp/$preset.gguf --quiet >/dev/null || { echo "synth $spec failed"; continue; }
  # A fresh process (its prefill compiles the prefill kernels), then f16 and
  # f32 after one unreported warm-up generation (--warmup 1: steady state,
  # as the peers are measured).
  for run in f16:0 f16:1 f32:1; do
    act=${run%%:*}; warm=${run##*:}
    flag=; [ $act = f32 ] && flag=--f32
    timeout 120 $W generate -m /tmp/$preset.gguf -f /tmp/prompt.txt -n 128 --temp 0 --ignore-eos --ctx 2048 --json --warmup $warm $flag \
      | python3 -c "import json,sys; d=json.load(sys.stdin); d.pop('text',None); d.pop('tokens',None); d['preset']='$preset'; d['type']='$type'; d['activations']='$act'; d['warmup']=$warm; print(json.dumps(d))"
  done | tee -a "$out/generate-wgml.jsonl" | cut -c1-200
  n=$(tail -1 "$out/generate-wgml.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prompt_tokens"])' 2>/dev/null || echo 512)
  if [ "${LLM_PEERS:-1}" = 1 ] && python3 -c 'import llama_cpp' 2>/dev/null; then
    timeout 120 python3 bench/llama_cpp_peer.py --model /tmp/$preset.gguf --prompt "$n" --decode 32 \
      --label "$preset:$type" 2>>"$out/llama-cpp.err" | tee -a "$out/generate-llama-cpp.jsonl"
  fi
  rm -f /tmp/$preset.gguf
  if [ "${LLM_PEERS:-1}" = 1 ] && { [ "$type" = q4_1 ] || [ "$type" = q4_0 ]; }; then
    timeout 120 python3 bench/llm_peers.py --preset $preset --prompt "$n" --decode 128 \
      2>>"$out/llm-peers.err" | tee -a "$out/generate-peers.jsonl"
  fi
done
fi
