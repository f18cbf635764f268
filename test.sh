#!/usr/bin/env bash
# Sets everything up, builds wgml against both WebGPU implementations and runs
# the whole test suite (ctest) on each headless CPU Vulkan device:
#   Dawn        on SwiftShader and on lavapipe (Mesa 25)
#   wgpu-native on SwiftShader and on lavapipe (Mesa 25)
# lavapipe exposes shader-f16, so the f16 kernels run there. Ends with one
# summary line over all four runs; exits non-zero if any test failed.
set -uo pipefail
root=$(cd "$(dirname "$0")" && pwd)
cd "$root"
./scripts/setup.sh || exit 1
source scripts/devices.sh
jobs=$(nproc 2>/dev/null || echo 2)

passed=0; failed=0; skipped=0; status=0
for impl in dawn wgpu-native; do
  ./scripts/build.sh "$impl" >/dev/null || { echo "build against $impl failed" >&2; exit 1; }
  for device in swiftshader lavapipe; do
    icd=$SWIFTSHADER_ICD; [ "$device" = lavapipe ] && icd=$LAVAPIPE_ICD
    echo "=== $impl on $device"
    log="build/$impl/ctest-$device.log"
    VK_ICD_FILENAMES="$icd" ctest --test-dir "build/$impl" -j "$jobs" --output-on-failure \
      2>&1 | tee "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    # ctest: "95% tests passed, 1 tests failed out of 22" and the skipped list.
    total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
    nfail=$(sed -n 's/.*passed, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
    nskip=$(grep -c '(Skipped)' "$log" || true)
    if [ -z "$total" ]; then status=1; continue; fi
    passed=$((passed + total - nfail - nskip)); failed=$((failed + nfail)); skipped=$((skipped + nskip))
  done
done
echo
echo "summary: $passed passed, $failed failed, $skipped skipped"
exit $status
