# Sourced by the bench/*gpu_run*.sh scripts on the GPU machine (device tool):
# installs the Vulkan loader carried in .gl, points it at the NVIDIA driver
# and gives Dawn the runtime directory it wants.
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$nv_icd" ] && export VK_DRIVER_FILES=$nv_icd
export XDG_RUNTIME_DIR=/tmp/xdg; mkdir -p $XDG_RUNTIME_DIR; chmod 700 $XDG_RUNTIME_DIR
