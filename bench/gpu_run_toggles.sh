#!/usr/bin/env bash
# One call on the GPU machine (device tool): the same work under several sets
# of Dawn device toggles (WGML_DAWN_TOGGLES), side by side: `wgml bench
# --json`, then decode and prefill of `wgml synth` models of Llama-3-8B's
# shapes (Q4_0) and SmolLM2-135M's (Q4_1). SETS lists the sets, space-
# separated, each comma-separated ("-" alone: wgml's defaults; a name with a
# leading "-" turns that toggle off, so "-disable_robustness" brings Dawn's
# bounds checks back); the rows go to
# $OUT/bench-N.jsonl and $OUT/generate.jsonl; bench/toggles_compare.py makes
# the table. Needs .deps/dawn and .gl carried; WGML_COMMIT names the commit.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
sets=${SETS:-"- disable_robustness,disable_workgroup_init"}
source bench/gpu_env.sh
log="$out/log.txt"
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)
echo "$gpu; commit ${WGML_COMMIT:-unknown}; sets: $sets" | tee "$log"
cmake -S . -B build/dawn -G Ninja -DWGML_WEBGPU=dawn >/dev/null &&
  cmake --build build/dawn -j16 >/dev/null || { echo "build failed" | tee -a "$log"; exit 1; }
W=build/dawn/wgml
timeout 120 $W synth --preset llama3-8b --type q4_0 --output /tmp/llama3-8b.gguf >/dev/null
timeout 60 $W synth --preset smollm2-135m --type q4_1 --output /tmp/smollm2-135m.gguf >/dev/null
python3 -c "
import random; random.seed(1); w=['alpha','beta','gamma','delta','river','stone','cloud','light','paper','music']
print(' '.join(random.choice(w) for _ in range(160)))" > /tmp/prompt.txt
gen() {   # toggles preset
  timeout 60 $W generate -m /tmp/$2.gguf -f /tmp/prompt.txt -n 128 --temp 0 --ignore-eos --ctx 2048 \
    --json --warmup 1 |
    python3 -c "import json,sys; d=json.load(sys.stdin); d.pop('text',None); d['preset']='$2'; d['toggles']='$1'; print(json.dumps(d))" |
    tee -a "$out/generate.jsonl" | python3 -c "import json,sys; d=json.load(sys.stdin); print('$1 $2 prefill %.0f tok/s, decode %.1f tok/s' % (d['prefill_tokens_per_s'], d['decode_tokens_per_s']))" | tee -a "$log"
}
# Twice round, so that a set's place in the call (clocks, heat) shows.
for round in 1 2; do
  i=0
  for s in $sets; do
    i=$((i + 1)); t=$s; [ "$t" = - ] && t=
    export WGML_DAWN_TOGGLES=$t
    for p in llama3-8b llama3-8b smollm2-135m; do gen "$s" $p; done
    [ $round = 1 ] && { timeout 300 $W bench --json > "$out/bench-$i.jsonl" 2>> "$log" ||
                          echo "bench $s failed" | tee -a "$log"; }
  done
done
unset WGML_DAWN_TOGGLES
python3 bench/toggles_compare.py --sets "$sets" "$out"/bench-*.jsonl | tee "$out/compare.md" >> "$log"
