# Sourced by the top-level scripts: where the Vulkan devices are.
#   SWIFTSHADER_ICD  SwiftShader, from Debian's chromium-common
#   LAVAPIPE_ICD     lavapipe from Mesa 25, unpacked by scripts/setup.sh
# Dawn and wgpu-native log an error when XDG_RUNTIME_DIR is unset; give them one.
root=${root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SWIFTSHADER_ICD=/usr/lib/chromium/vk_swiftshader_icd.json
LAVAPIPE_ICD="$root/.deps/lavapipe/lvp_icd.json"
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
  export XDG_RUNTIME_DIR="$root/build/xdg-runtime"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi
