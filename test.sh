#!/usr/bin/env bash
# Sets everything up, builds wgml against both WebGPU implementations and runs
# the whole test suite (ctest) on each headless CPU Vulkan device:
#   Dawn        on SwiftShader and on lavapipe (Mesa 25)
#   wgpu-native on SwiftShader and on lavapipe (Mesa 25)
# and once more with AddressSanitizer, LeakSanitizer and UBSan (Dawn on
# lavapipe), where any report fails the test; then every libFuzzer harness
# (tests/fuzz/fuzz_*.c) for 60 s, where a crash, leak or hang fails it. lavapipe
# exposes shader-f16, so the f16 kernels run there. Then the wasm build in
# headless Chromium (web/test/run.mjs). Ends with one summary line over all the
# runs (a fuzz target counts as one test); exits non-zero if any test failed.
set -uo pipefail
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"
./scripts/setup.sh || exit 1
source scripts/devices.sh
jobs=$(nproc 2>/dev/null || echo 2)

passed=0; failed=0; skipped=0; status=0
# run_suite NAME BUILD_DIR ICD [CTEST_ARGS...]: one ctest run, its counts
# added to the totals.
run_suite() {
  echo "=== $1"
  local log="$2/ctest-$(echo "$1" | tr ' /+' '___').log"
  VK_ICD_FILENAMES="$3" ctest --test-dir "$2" -j "$jobs" --output-on-failure "${@:4}" 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  # ctest: "95% tests passed, 1 tests failed out of 22" and the skipped list.
  local total nfail nskip
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
  nfail=$(sed -n 's/.*passed, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
  nskip=$(grep -c '(Skipped)' "$log" || true)
  if [ -z "$total" ]; then status=1; return; fi
  passed=$((passed + total - nfail - nskip)); failed=$((failed + nfail)); skipped=$((skipped + nskip))
}

# What runs where, to keep the suite inside 30 minutes on 2 cores:
# - SwiftShader runs BERT at about 0.5 GFLOP/s and compiles kernels slowly, so
#   it runs the op and unit tests; whole models (BERT, the Llama decoder,
#   generation, the sampler's large cases, the embed and generate CLI tests,
#   the encoder's fault tests, the generation fault tests that recover several
#   times: each recovery compiles every kernel again) and the GEMV format
#   tests run on lavapipe.
# - Tests labelled `host` (tests/CMakeLists.txt: formats, tokenizers, fuzz
#   replays; no GPU) run with each build's lavapipe run, not per device.
# - The model references run in full with Dawn (SmolLM2 against llama.cpp is
#   the longest test: 20 prompts); with wgpu-native their samples run (the
#   first prompts of the same data; the f16 BERT reference has none: the f16
#   encoder layer is graph.encoder_w16 on both), since the kernels they use are
#   tested against the C references on both implementations by the op tests.
# - Timing tests (label `timing`) run alone, after the rest, once.
swiftshader_skip='^(bert\..*|llama\..*|generate\..*|cli\.(embed|generate)|gemv\.(f32|f16|i8|q8_0|q4_0|q4_1)\..*|gemv\.batch|sampler\.(reference|distribution|groups)|faults\.(embed_lost|load_free|load_free_sample|bad_ids|llm_lost|llm_lost_quant))$'
for impl in dawn wgpu-native; do
  ./scripts/build.sh "$impl" >/dev/null || { echo "build against $impl failed" >&2; exit 1; }
  run_suite "$impl on swiftshader" "build/$impl" "$SWIFTSHADER_ICD" -LE host -E "$swiftshader_skip"
  if [ "$impl" = dawn ]; then
    run_suite "$impl on lavapipe" "build/$impl" "$LAVAPIPE_ICD" -LE timing \
      -E '^(bert\.reference_sample|sampler\.reference_sample|faults\.load_free_sample|llama\.reference_sample)$'
    run_suite "$impl timing tests, alone" "build/$impl" "$LAVAPIPE_ICD" -L timing
  else
    run_suite "$impl on lavapipe" "build/$impl" "$LAVAPIPE_ICD" -LE timing \
      -E '^(bert\.reference|bert\.reference_f16|sampler\.reference|faults\.load_free|llama\.reference|llama\.reference_q8act)$'
  fi
done
./scripts/build.sh dawn --sanitize >/dev/null || { echo "sanitizer build failed" >&2; exit 1; }
# Timing tests are left to the runs above: sanitizers distort time. The
# embedder is loaded and freed 20 times here (about 4 s a load under ASan);
# LeakSanitizer reports a leak of a single load, and the runs above do 100.
# The SmolLM2 reference against llama.cpp covers its first two prompts here.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run_suite "dawn on lavapipe under ASan+UBSan" "build/dawn-asan" "$LAVAPIPE_ICD" -LE timing \
  -E '^(bert\.reference|faults\.load_free|llama\.reference|llama\.reference_q8act)$'
unset ASAN_OPTIONS UBSAN_OPTIONS
# Each harness builds with clang's -fsanitize=fuzzer,address,undefined
# (build/fuzz) and runs 60 s from its seeds in tests/fuzz/corpus/ and
# tests/data/fuzz/ (inputs that once crashed it).
echo "=== libFuzzer harnesses, 60 s each, all at once"
tests/fuzz/run.sh all 60 2>&1 | tee build/fuzz-all.log
n_ok=$(grep -c ', no crash$' build/fuzz-all.log || true)
n_all=$(ls tests/fuzz/fuzz_*.c | wc -l)
passed=$((passed + n_ok)); failed=$((failed + n_all - n_ok))
[ "$n_ok" -eq "$n_all" ] || status=1

# The wasm build in headless Chromium (WebGPU on SwiftShader), once: embeddings
# against sentence-transformers and the native build, text generation against
# the native build, dispose, the model cache, errors, the demo page with a
# chat turn (web/test/run.mjs).
echo "=== browser (wasm in Chromium on SwiftShader)"
mkdir -p build
if ./web/build.sh >/dev/null; then
  node web/test/run.mjs 2>&1 | tee build/web-test.log
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  line=$(grep -E '^browser: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' build/web-test.log | tail -1)
  if [ -n "$line" ]; then
    read -r bp bf bs < <(echo "$line" | sed -E 's/browser: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/')
    passed=$((passed + bp)); failed=$((failed + bf)); skipped=$((skipped + bs))
  else
    status=1; failed=$((failed + 1))
  fi
else
  echo "wasm build failed" >&2; status=1; failed=$((failed + 1))
fi
echo
echo "summary: $passed passed, $failed failed, $skipped skipped ($((SECONDS / 60)) min $((SECONDS % 60)) s, $jobs cores)"
exit $status
