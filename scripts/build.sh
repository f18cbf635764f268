#!/usr/bin/env bash
# Configures and builds wgml against one WebGPU implementation:
#   scripts/build.sh dawn|wgpu-native   -> build/<impl>/
set -euo pipefail
cd "$(dirname "$0")/.."
impl=${1:?usage: scripts/build.sh dawn|wgpu-native}
case "$impl" in dawn|wgpu-native) ;; *) echo "unknown implementation '$impl'" >&2; exit 2;; esac
cmake -S . -B "build/$impl" -G Ninja -DWGML_WEBGPU="$impl" -DWGML_WERROR=ON >/dev/null
cmake --build "build/$impl"
