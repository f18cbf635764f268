#!/usr/bin/env bash
# Configures and builds wgml against one WebGPU implementation:
#   scripts/build.sh dawn|wgpu-native        -> build/<impl>/
#   scripts/build.sh dawn --sanitize         -> build/<impl>-asan/ (AddressSanitizer,
#                                               LeakSanitizer and UBSan, -O1)
set -euo pipefail
cd "$(dirname "$0")/.."
impl=${1:?usage: scripts/build.sh dawn|wgpu-native [--sanitize]}
case "$impl" in dawn|wgpu-native) ;; *) echo "unknown implementation '$impl'" >&2; exit 2;; esac
if [ "${2:-}" = --sanitize ]; then
  san="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  cmake -S . -B "build/$impl-asan" -G Ninja -DWGML_WEBGPU="$impl" -DWGML_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="$san" >/dev/null
  cmake --build "build/$impl-asan"
else
  cmake -S . -B "build/$impl" -G Ninja -DWGML_WEBGPU="$impl" -DWGML_WERROR=ON >/dev/null
  cmake --build "build/$impl"
fi
