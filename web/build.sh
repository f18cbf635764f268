#!/usr/bin/env bash
# Builds the wasm module of wgml: the C core (ops, graph, formats, tokenizer,
# models, the web GPU layer src/gpu/gpu_web.c) compiled by clang to a
# wasm32-wasi reactor, web/dist/wgml.wasm, which web/wgml.js loads.
#   web/build.sh            release build (-O2)
#   web/build.sh --debug    -O0 -g
# Needs Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32
# (scripts/setup.sh installs them) and cmake (for the kernel embedding step).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/web/dist"
obj="$root/build/wasm"
mkdir -p "$out" "$obj"

opt=(-O2)
[ "${1:-}" = --debug ] && opt=(-O0 -g)

# The kernels: the same generator as the native build (cmake/embed_wgsl.cmake).
wgsl=$(ls "$root"/src/kernels/*.wgsl | tr '\n' ';')
cmake -DOUT="$obj/kernels_embedded.c" "-DSOURCES=${wgsl%;}" -P "$root/cmake/embed_wgsl.cmake"

sources=("$root"/src/core/*.c "$root"/src/ops/*.c "$root"/src/graph/*.c "$root"/src/formats/*.c
         "$root"/src/tokenizer/*.c "$root"/src/tune/*.c "$root"/src/models/*.c
         "$root"/src/kernels/kernels.c "$obj/kernels_embedded.c"
         "$root"/src/gpu/gpu_common.c "$root"/src/gpu/gpu_web.c "$root"/web/wgml_web.c)
# The GGUF writer makes files for tests and `wgml synth`; the browser writes none
# (and WASI has no mkstemp).
for i in "${!sources[@]}"; do
  [[ ${sources[$i]} == */gguf_write.c ]] && unset 'sources[i]'
done

# The public API that wgml.js calls, plus the allocator.
exports=(malloc free wgml_status_name wgml_ctx_free wgml_ctx_last_error
         wgml_embedder_free wgml_embedder_dim wgml_embed
         wgml_llm_free wgml_llm_cancel wgml_llm_reset)
link_exports=()
for e in "${exports[@]}"; do link_exports+=("-Wl,--export=$e"); done

# One object per source, rebuilt when the source is newer (a small make).
cflags=(--target=wasm32-wasi -std=c11 "${opt[@]}" -DWGML_WEB -D_POSIX_C_SOURCE=200809L
        -I"$root/include" -I"$root/src" -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror)
objs=()
for s in "${sources[@]}"; do
  o="$obj/$(echo "${s#$root/}" | tr '/' '_').o"
  objs+=("$o")
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$0" -nt "$o" ] || \
     [ -n "$(find "$root/src" "$root/include" -name '*.h' -newer "$o" -print -quit)" ]; then
    echo "cc ${s#$root/}"
    clang "${cflags[@]}" -c "$s" -o "$o"
  fi
done

# A reactor: no main; _initialize runs the constructors once. The stack is
# 1 MiB; memory grows on demand up to wasm32's 4 GiB.
clang --target=wasm32-wasi -mexec-model=reactor "${opt[@]}" "${objs[@]}" -o "$out/wgml.wasm" \
  -z stack-size=1048576 \
  -Wl,--max-memory=4294967296 "${link_exports[@]}"
echo "web/dist/wgml.wasm: $(stat -c %s "$out/wgml.wasm") bytes"
