#!/usr/bin/env bash
# One call on the GPU machine (device tool): the model-level runs, wgml and
# its peers side by side on the same GPU, with random weights of the real
# models' shapes (the device tool carries 64 MiB; real weights stay here).
#   sentence embeddings: wgml bench embed (f32, f16) vs bench/embed_peers.py
#     (sentence-transformers or transformers on CUDA, onnxruntime on the CPU)
#     on an all-MiniLM-L6-v2-shaped model, batch 1/8/32/128 x 128/512 tokens
#   text generation: wgml generate --json on `wgml synth` files of
#     SmolLM2-135M's shapes (Q4_1, as the real file) and Llama-3-8B's (Q4_0)
#     vs bench/llm_peers.py (transformers f16 on CUDA), same prompt length
# Needs .deps/dawn and .gl (the Vulkan loader .deb) carried. Writes $OUT.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$nv_icd" ] && export VK_DRIVER_FILES=$nv_icd
export XDG_RUNTIME_DIR=/tmp/xdg; mkdir -p $XDG_RUNTIME_DIR; chmod 700 $XDG_RUNTIME_DIR
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
echo "commit ${WGML_COMMIT:-unknown}" | tee -a "$out/gpu.txt"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1 | tee -a "$out/gpu.txt"
cmake -S . -B build/dawn -G Ninja -DWGML_WEBGPU=dawn -DWGML_BUILD_TESTS=OFF >/dev/null &&
  cmake --build build/dawn --target wgml_cli >/dev/null || { echo "build failed"; exit 1; }
W=build/dawn/wgml
$W info | tee "$out/info.txt" | head -8

echo "=== sentence embeddings"
python3 bench/embed_peers.py --write-model /tmp/minilm 2>/dev/null
timeout 150 $W bench embed --model /tmp/minilm --repeat 10 --json | tee "$out/embed-wgml.jsonl" | cut -c1-160
timeout 150 python3 bench/embed_peers.py --model /tmp/minilm --repeat 10 > "$out/embed-peers.jsonl" 2> "$out/embed-peers.err"
cut -c1-160 "$out/embed-peers.jsonl"

echo "=== text generation"
python3 -c "
import random; random.seed(1); w=['alpha','beta','gamma','delta','river','stone','cloud','light','paper','music']
print(' '.join(random.choice(w) for _ in range(160)))" > /tmp/prompt.txt
for spec in smollm2-135m:q4_1 llama3-8b:q4_0; do
  preset=${spec%%:*}; type=${spec##*:}
  timeout 120 $W synth --preset $preset --type $type --output /tmp/$preset.gguf >/dev/null || { echo "synth $spec failed"; continue; }
  for i in 1 2; do
    timeout 90 $W generate -m /tmp/$preset.gguf -f /tmp/prompt.txt -n 128 --temp 0 --ignore-eos --ctx 2048 --json \
      | python3 -c "import json,sys; d=json.load(sys.stdin); d.pop('text',None); d['preset']='$preset'; d['type']='$type'; print(json.dumps(d))"
  done | tee -a "$out/generate-wgml.jsonl"
  rm -f /tmp/$preset.gguf
  n=$(tail -1 "$out/generate-wgml.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prompt_tokens"])' 2>/dev/null || echo 512)
  timeout 120 python3 bench/llm_peers.py --preset $preset --prompt "$n" --decode 128 \
    2>>"$out/llm-peers.err" | tee -a "$out/generate-peers.jsonl"
done
