#!/usr/bin/env bash
# Builds libFuzzer harnesses with clang's -fsanitize=fuzzer,address,undefined
# and runs one for a while:
#   tests/fuzz/run.sh TARGET SECONDS [LIBFUZZER_ARGS...]   e.g. fuzz_tokenizer 60
#   tests/fuzz/run.sh all SECONDS                         every tests/fuzz/fuzz_*.c, all at once
# Targets are the files tests/fuzz/fuzz_*.c (a new file is a new target).
# Seeds come from tests/fuzz/corpus/NAME/ and tests/data/fuzz/NAME/ (the
# inputs that once crashed it; only read), NAME being TARGET without "fuzz_";
# the inputs a run finds go to build/fuzz/corpus/TARGET/ and crashing inputs
# to build/fuzz/artifacts/TARGET/ (copy one to tests/data/fuzz/NAME/ once it
# is fixed: fuzz.NAME.replay and every later run replay it). Each run ends with a line giving executions,
# coverage (cov: edges, ft: features) and corpus size. Exits non-zero when a
# harness crashed, leaked, hung (an input over 30 s) or did not build.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${1:?usage: tests/fuzz/run.sh TARGET|all SECONDS [LIBFUZZER_ARGS...]}
seconds=${2:?usage: tests/fuzz/run.sh TARGET|all SECONDS [LIBFUZZER_ARGS...]}
shift 2

build=build/fuzz
# build_harnesses TARGET...: configures build/fuzz once and builds them.
build_harnesses() {
  if ! command -v clang >/dev/null; then
    echo "clang is missing: scripts/setup.sh installs it" >&2
    return 2
  fi
  if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DWGML_FUZZ=ON -DWGML_WERROR=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || return 1
  fi
  cmake --build "$build" --target "$@" >"$build/build.log" 2>&1 || {
    cat "$build/build.log" >&2; echo "building $* failed" >&2; return 1; }
}

if [ "$target" = all ]; then
  # Every harness at once, each for SECONDS (one build first: concurrent
  # ninja runs on one build tree race); the result lines in a fixed order.
  targets=()
  for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
  build_harnesses "${targets[@]}" || exit 1
  for t in "${targets[@]}"; do
    WGML_FUZZ_BUILT=1 "$0" "$t" "$seconds" "$@" >"$build/result-$t.txt" 2>&1 &
  done
  wait
  rc=0
  for t in "${targets[@]}"; do
    cat "$build/result-$t.txt"
    tail -1 "$build/result-$t.txt" | grep -q ', no crash$' || rc=1
  done
  exit $rc
fi
[ -f "tests/fuzz/$target.c" ] || { echo "no harness tests/fuzz/$target.c" >&2; exit 2; }
if [ -z "${WGML_FUZZ_BUILT:-}" ]; then build_harnesses "$target" || exit 1; fi

corpus="$build/corpus/$target"
artifacts="$build/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
# Seeds: the corpus kept in the repository and every input that once crashed
# the harness (tests/data/fuzz/NAME/), which each run replays first.
seeds=()
name=${target#fuzz_}
for d in "tests/fuzz/corpus/$name" "tests/data/fuzz/$name"; do
  [ -d "$d" ] && seeds+=("$d")
done
log="$build/run-$target.log"
echo "=== $target for $seconds s (seeds: ${seeds[*]:-none})"
# New inputs go to the first directory; the seeds are read from the second.
"$build/tests/$target" "$corpus" "${seeds[@]}" -max_total_time="$seconds" -timeout=30 \
  -rss_limit_mb=2048 -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" >"$log" 2>&1
rc=$?
# libFuzzer's last status line: "#N DONE cov: C ft: F corp: K/S ...".
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
if [ $rc -ne 0 ]; then
  tail -40 "$log" >&2
  echo "$target: FAILED (exit $rc) after ${execs:-?} executions; inputs in $artifacts/ (log: $log)"
  exit 1
fi
echo "$target: ${execs:-?} executions in $seconds s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?} inputs, no crash"
