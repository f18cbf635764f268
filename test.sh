#!/usr/bin/env bash
# Sets everything up, builds wgml against both WebGPU implementations and runs
# the test suite (ctest) on the headless CPU Vulkan devices:
#   Dawn        on SwiftShader, and on lavapipe (Mesa 25) in the plain
#               build and then in the AddressSanitizer + LeakSanitizer +
#               UBSan build, where any report fails the test
#   wgpu-native on SwiftShader and on lavapipe
# (lavapipe exposes shader-f16, so the f16 kernels run there; the comments
# below say which tests run where); then every libFuzzer harness
# (tests/fuzz/fuzz_*.c) for 60 s, where a crash, leak or hang fails it; then
# the wasm build in headless Chromium (web/test/run.mjs). Ends with one
# summary line over all the runs (a fuzz target counts as one test); exits
# non-zero if any test failed.
set -uo pipefail
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"
./scripts/setup.sh || exit 1
source scripts/devices.sh
jobs=$(nproc 2>/dev/null || echo 2)
# lavapipe compiles every pipeline with LLVM, most of the suite's time there
# from an empty shader cache (as in CI). Two settings halve it, measured on
# this 2-core machine from an empty cache:
# - LP_NATIVE_VECTOR_WIDTH=128: 4-wide instead of 8-wide SIMD, half the code
#   to compile (test_gemv q4_0 float 12.3 s -> 6.3 s; Dawn under ASan 78 s
#   -> 29 s) and no slower to run (the 2-prompt SmolLM2 reference 63 s -> 48
#   s); subgroups become 4 wide, a size the kernels must handle anyway.
# - GALLIVM_PERF=nopt: no LLVM optimisation passes, ~40% less compile time
#   (test_gemv batch 109 s -> 72 s), but slower code: the tests that mostly
#   compute (the model references, the sampler's distributions) take the
#   optimisations back through their ctest ENVIRONMENT_MODIFICATION
#   (tests/CMakeLists.txt): bert.reference 48 s -> 33 s with them.
# Mesa's shader cache lives in build/, so that a clean clone starts from an
# empty one whatever the user's home holds.
export LP_NATIVE_VECTOR_WIDTH=128 GALLIVM_PERF=nopt MESA_SHADER_CACHE_DIR="$root/build/mesa-shader-cache"

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
# - wgpu-native on lavapipe runs everything that needs a GPU (the model
#   references against llama.cpp and sentence-transformers included; the
#   llama.cpp one on 10 of its 20 prompts), without sanitizers; the
#   embedder's 100 loads and frees alone after it.
# - Dawn on lavapipe runs everything too, in the AddressSanitizer +
#   LeakSanitizer + UBSan build (-O1), where any report fails the test. The
#   plain build runs first, with the families that mostly compile kernels
#   (op, GEMV, graph and decoder tests) and the two reference samples: both
#   builds give Tint the same WGSL, so the sanitizer run finds those
#   pipelines in Mesa's shader cache (compiling under ASan, whose allocator
#   slows LLVM ~4x, took 46 minutes of the suite before). The CLI, sampler,
#   generation and fault tests mostly compute and run once, under the
#   sanitizers. Of the model references both runs take the samples (the
#   first prompts of the same data; the f16 BERT reference has none: the
#   f16 encoder layer is graph.encoder_w16 on both), since the kernels they
#   use are tested against the C references on both implementations by the
#   op tests. 20 loads and frees of the embedder, where LeakSanitizer
#   catches a single leak.
# - SwiftShader runs BERT at about 0.5 GFLOP/s and compiles kernels slowly, so
#   it runs the op-level tests of both builds (ops, decoder ops, graphs, the
#   GPU layer, error paths, tuning, GEMV errors and fusion); models,
#   generation, the sampler, the CLI, the fault tests and the GEMV format
#   tests run on lavapipe. With Dawn (whose shader compiles on SwiftShader
#   take minutes) it leaves out the five tests that mostly compile dozens of
#   kernel variants; they run on SwiftShader with wgpu-native.
# - Tests labelled `host` (tests/CMakeLists.txt: formats, tokenizers, fuzz
#   replays; no GPU) run with the plain Dawn build (the timing tests among
#   them, label `timing`, measured in process CPU time, only there) and
#   under the sanitizers.
# SwiftShader: the op-level families (lavapipe runs the rest with both builds).
swiftshader_tests='(ops|llama_ops|graph|gpu|errors|tune|gemv)\..*'
# The plain Dawn run on lavapipe: the families that mostly compile kernels
# (warming Mesa's cache for the sanitizer run), and the two model reference
# samples, whose kernels the model, CLI and fault tests share; those mostly
# compute, and run with Dawn once, under the sanitizers.
dawn_plain_tests='(ops|llama_ops|gemv|graph|gpu|errors|tune|llama)\..*|bert\.reference_sample'
swiftshader_skip='bert\..*|llama\..*|generate\..*|cli\.(embed|generate)|gemv\.(f32|f16|i8|q8_0|q4_0|q4_1)\..*|gemv\.batch|sampler\.(reference|distribution|groups)|faults\.(embed_lost|load_free|load_free_sample|bad_ids|llm_lost|llm_lost_quant)'
dawn_swiftshader_skip='llama_ops\.attn_prefill|ops\.attention|graph\.planner|gpu\.kernels_compile|gemv\.fused'
full_references='bert\.reference|bert\.reference_f16|sampler\.reference|faults\.load_free|llama\.reference|llama\.reference_q8act'
samples='bert\.reference_sample|sampler\.reference_sample|llama\.reference_sample|faults\.load_free_sample'

./scripts/build.sh dawn >/dev/null || { echo "build against dawn failed" >&2; exit 1; }
run_suite "dawn on swiftshader" build/dawn "$SWIFTSHADER_ICD" -LE host \
  -R "^($swiftshader_tests)\$" -E "^($swiftshader_skip|$dawn_swiftshader_skip)\$"
run_suite "dawn, tests without a GPU" build/dawn "$SWIFTSHADER_ICD" -L host

./scripts/build.sh wgpu-native >/dev/null || { echo "build against wgpu-native failed" >&2; exit 1; }
run_suite "wgpu-native on swiftshader" build/wgpu-native "$SWIFTSHADER_ICD" -LE host \
  -R "^($swiftshader_tests)\$" -E "^($swiftshader_skip)\$"
run_suite "wgpu-native on lavapipe" build/wgpu-native "$LAVAPIPE_ICD" -LE 'timing|host' \
  -E "^($samples|faults\.load_free)\$"
run_suite "wgpu-native, the embedder loaded 100 times" build/wgpu-native "$LAVAPIPE_ICD" \
  -R '^faults\.load_free$'

run_suite "dawn on lavapipe" build/dawn "$LAVAPIPE_ICD" -LE 'timing|host' \
  -R "^($dawn_plain_tests)\$" -E "^($full_references)\$"

./scripts/build.sh dawn --sanitize >/dev/null || { echo "sanitizer build failed" >&2; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run_suite "dawn on lavapipe under ASan+UBSan" build/dawn-asan "$LAVAPIPE_ICD" -LE timing \
  -E "^($full_references)\$"
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
