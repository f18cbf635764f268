#!/usr/bin/env bash
# One call on the GPU machine (device tool) for decode speed: the GPU tests of
# what decode now rests on (chained sampling, fused GEMVs, bind group cache,
# readbacks), then `wgml generate` on `wgml synth` models of SmolLM2-135M's
# (Q4_1) and Llama-3-8B's (Q4_0) shapes as bench/gpu_run_models.sh runs them,
# the decode step breakdown (test_generate timing) and the GEMV variant sweep
# (wgml bench gemv). Everything goes to $OUT as it comes (a timeout keeps
# what was written).
# Needs .deps/dawn and .gl carried; VOCAB (GPT-2's vocabulary GGUF) for the
# generation tests, skipped without it. STAGES (default "test smol 8b timing
# sweep"; "main" adds the same generate runs with the build of MAIN_DIR, e.g.
# the main branch's checkout, on the same device) picks what runs; BATCHES
# the extra --decode-batch values for SmolLM2, SMOL_RUNS the plain ones,
# TESTS the GPU tests ("binary:test ..."). With MAIN_DIR the sweep also
# runs main's build; "variants" times the integer GEMV's variants in the
# 8B step (GEMV_VARIANTS, GEN_VARIANTS; after "8b"); "embed" times sentence embeddings with a per-kernel
# profile beside the peers; "dispatch" the cost of small dispatches.
set -uo pipefail
out=${OUT:-/tmp/out}; mkdir -p "$out"
stages=${STAGES:-test smol 8b timing sweep}
has() { case " $stages " in *" $1 "*) return 0;; esac; return 1; }
source bench/gpu_env.sh
log="$out/log.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$log"
echo "commit ${WGML_COMMIT:-unknown}" | tee -a "$log"
t0=$(date +%s)
cmake -S . -B build/dawn -G Ninja -DWGML_WEBGPU=dawn >/dev/null &&
  cmake --build build/dawn -j16 >/dev/null || { echo "build failed" | tee -a "$log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s" | tee -a "$log"
W=build/dawn/wgml
T=build/dawn/tests
if has test; then
  echo "=== tests" | tee -a "$log"
  for t in ${TESTS:-"test_gpu bind_cache" "test_gpu readback_overlap" "test_gpu profile" \
           "test_sampler chained" "test_gemv fused" "test_gemv q4_0 dot4" "test_gemv q4_1 float" \
           "test_llama_ops attn_decode_f16" "test_llama q4_0" "test_llama mixed"}; do
    t=${t//:/ }   # TESTS="test_gpu:profile test_sampler:chained ..."
    timeout 20 $T/$t > /tmp/t.txt 2>&1; rc=$?
    echo "$t: rc=$rc $(grep -E '^ok|cases passed|FAIL' /tmp/t.txt | tail -1)" | tee -a "$log"
  done
  if [ -n "${VOCAB:-}" ]; then
    for t in batch greedy stops; do
      timeout 30 $T/test_generate $t "$VOCAB" > /tmp/t.txt 2>&1; rc=$?
      echo "test_generate $t: rc=$rc $(grep -E '^ok|FAIL' /tmp/t.txt | tail -1)" | tee -a "$log"
    done
  fi
fi
python3 -c "
import random; random.seed(1); w=['alpha','beta','gamma','delta','river','stone','cloud','light','paper','music']
print(' '.join(random.choice(w) for _ in range(160)))" > /tmp/prompt.txt
gen() {   # preset type extra-args... (BIN: another wgml, LABEL: its name)
  local preset=$1 type=$2; shift 2
  timeout 60 ${BIN:-$W} generate -m /tmp/$preset.gguf -f /tmp/prompt.txt -n 128 --temp 0 --ignore-eos \
    --ctx 2048 --json "$@" |
    python3 -c "import json,sys; d=json.load(sys.stdin); d.pop('text',None); d['preset']='$preset'; d['type']='$type'; d['args']='$*'; d['build']='${LABEL:-this}'; print(json.dumps(d))" |
    tee -a "$out/generate.jsonl" | python3 -c "import json,sys; d=json.load(sys.stdin); print('${LABEL:-this} $preset $* prefill %.0f tok/s, decode %.1f tok/s, %d tokens' % (d['prefill_tokens_per_s'], d['decode_tokens_per_s'], d['generated_tokens']))" | tee -a "$log"
}
if has smol; then
  echo "=== SmolLM2-135M shape, q4_1" | tee -a "$log"
  timeout 60 $W synth --preset smollm2-135m --type q4_1 --output /tmp/smollm2-135m.gguf >/dev/null
  for i in $(seq ${SMOL_RUNS:-3}); do gen smollm2-135m q4_1; done
  for b in ${BATCHES-1 4 32}; do gen smollm2-135m q4_1 --decode-batch $b; done
  gen smollm2-135m q4_1 --warmup 1
fi
if has timing && [ -f /tmp/smollm2-135m.gguf ]; then
  echo "=== decode step breakdown (SmolLM2 shape)" | tee -a "$log"
  timeout 60 $T/test_generate timing /tmp/smollm2-135m.gguf 2>&1 | tee -a "$log"
fi
if has 8b; then
  echo "=== Llama-3-8B shape, q4_0" | tee -a "$log"
  t1=$(date +%s)
  # The same seed gives the same bytes: a file from an earlier call of this
  # machine's lease is reused (60-90 s saved); written aside, then renamed,
  # so that a timed-out synth leaves nothing to reuse.
  if [ ! -f /tmp/llama3-8b.gguf ]; then
    timeout 120 $W synth --preset llama3-8b --type q4_0 --output /tmp/llama3-8b.part >/dev/null &&
      mv /tmp/llama3-8b.part /tmp/llama3-8b.gguf
    echo "synth in $(( $(date +%s) - t1 )) s" | tee -a "$log"
  else
    echo "synth: reusing /tmp/llama3-8b.gguf" | tee -a "$log"
  fi
  gen llama3-8b q4_0; gen llama3-8b q4_0; gen llama3-8b q4_0 --warmup 1
fi
# The same runs with the build of MAIN_DIR (the main branch), same device.
if has main && [ -n "${MAIN_DIR:-}" ]; then
  echo "=== main ($MAIN_DIR)" | tee -a "$log"
  (cd "$MAIN_DIR" && cmake -S . -B build/dawn-main -G Ninja -DWGML_WEBGPU=dawn -DWGML_BUILD_TESTS=OFF >/dev/null &&
     cmake --build build/dawn-main -j16 --target wgml_cli >/dev/null) || echo "main build failed" | tee -a "$log"
  if [ -x "$MAIN_DIR/build/dawn-main/wgml" ]; then
    (cd "$MAIN_DIR" && git log --oneline -1 2>/dev/null) | sed 's/^/main commit /' | tee -a "$log"
    for preset in smollm2-135m llama3-8b; do
      [ -f /tmp/$preset.gguf ] || continue
      t=q4_1; [ $preset = llama3-8b ] && t=q4_0
      BIN=$MAIN_DIR/build/dawn-main/wgml LABEL=main gen $preset $t
      BIN=$MAIN_DIR/build/dawn-main/wgml LABEL=main gen $preset $t
    done
  fi
fi
if has timing && [ -f /tmp/llama3-8b.gguf ]; then
  echo "=== decode step breakdown (Llama-3-8B shape)" | tee -a "$log"
  timeout 60 $T/test_generate timing /tmp/llama3-8b.gguf 2>&1 | tee -a "$log"
fi
# The integer GEMV's variants inside the real 8B step: GEMV_VARIANTS holds
# WGML_GEMV_INT_VARIANT values ("-" for the automatic one), each timed with
# test_generate timing and, with GEN_VARIANTS set, end to end by generate.
if has variants && [ -f /tmp/llama3-8b.gguf ]; then
  echo "=== GEMV variants in the 8B step" | tee -a "$log"
  for v in ${GEMV_VARIANTS:-- pf=0 -}; do
    [ "$v" = - ] && v=
    echo "== variant '$v'" | tee -a "$log"
    WGML_GEMV_INT_VARIANT=$v timeout 60 $T/test_generate timing /tmp/llama3-8b.gguf 2>&1 |
      grep -E "a step|^ +[0-9]+ gemv" | tee -a "$log"
    [ -n "${GEN_VARIANTS:-}" ] && WGML_GEMV_INT_VARIANT=$v LABEL="variant $v" gen llama3-8b q4_0
  done
fi
summarise_sweep() {   # gemv.jsonl: best and automatic variant per shape
  python3 - "$1" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
bw = [r for r in rows if 'copy_gb_per_s' in r]
if bw: print('copy bandwidth %.0f GB/s' % bw[0]['copy_gb_per_s'])
shapes = []
for r in rows:
    if 'shape' in r and r['shape'] not in shapes: shapes.append(r['shape'])
for s in shapes:
    rs = sorted([r for r in rows if r.get('shape') == s], key=lambda r: r['us'])
    auto = [r for r in rs if r['auto']]
    a = auto[0] if auto else None
    print('%-18s best %-44s %8.2f us %5.1f%% | auto %s %s' % (s, rs[0]['variant'], rs[0]['us'], rs[0]['pct_copy'],
          a['variant'] if a else '-', ('%.2f us %.1f%%' % (a['us'], a['pct_copy'])) if a else ''))
    for r in rs[1:4]: print('%-18s      %-44s %8.2f us %5.1f%%' % ('', r['variant'], r['us'], r['pct_copy']))
EOF
}
if has sweep; then
  echo "=== GEMV variants" | tee -a "$log"
  timeout ${SWEEP_S:-50} $W bench gemv --json ${SWEEP_ARGS:-} > "$out/gemv.jsonl" 2> "$out/gemv.err"
  summarise_sweep "$out/gemv.jsonl" | tee -a "$log"
  # The same sweep with MAIN_DIR's build (the "main" stage made it): before
  # and after a kernel change on the same device, in the same call.
  if [ -n "${MAIN_DIR:-}" ] && [ -x "$MAIN_DIR/build/dawn-main/wgml" ]; then
    echo "=== GEMV variants, main ($MAIN_DIR)" | tee -a "$log"
    timeout ${SWEEP_S:-50} "$MAIN_DIR/build/dawn-main/wgml" bench gemv --json ${SWEEP_ARGS:-} \
      > "$out/gemv-main.jsonl" 2> "$out/gemv-main.err"
    summarise_sweep "$out/gemv-main.jsonl" | tee -a "$log"
  fi
fi
# What a dispatch costs, many small ones in one pass (wgml bench dispatch).
if has dispatch; then
  echo "=== dispatch cost" | tee -a "$log"
  timeout 60 $W bench dispatch 2>&1 | tee -a "$log"
fi
# Sentence embeddings at one shape with the per-kernel profile, and the
# peers at the same shape (EMBED_BATCH x EMBED_SEQ, default 32 x 128).
if has embed; then
  echo "=== embeddings" | tee -a "$log"
  python3 bench/embed_peers.py --write-model /tmp/minilm > /dev/null 2>&1
  timeout 120 $W bench embed --model /tmp/minilm --batch ${EMBED_BATCH:-32} --seq ${EMBED_SEQ:-128} \
    --repeat 10 --profile 2>&1 | tee -a "$log"
  timeout 120 python3 bench/embed_peers.py --model /tmp/minilm --batch ${EMBED_BATCH:-32} \
    --seq ${EMBED_SEQ:-128} --repeat 10 --no-onnxruntime 2> "$out/embed-peers.err" | tee -a "$log"
fi
echo "total $(( $(date +%s) - t0 )) s" | tee -a "$log"
