// Device loss recovery for the text generation API (wgml_llm, generate.c):
// after wgml_ctx_recover has made every buffer again (zero-filled), the
// model's weights are read again from its GGUF file, which must be the file
// that was loaded, and the KV cache is recomputed for the tokens the context
// holds (they are known on the host).
#ifndef WGML_LLM_RECOVER_H
#define WGML_LLM_RECOVER_H

#include "models/llama.h"

// The model file as it was when loaded: its path and identity (device, inode,
// size, modification time), so that a restore refuses a file that changed.
typedef struct wgml_llm_source wgml_llm_source;

// Records `path` as it is now. Errors are recorded on gpu.
wgml_status wgml_llm_source_create(wgml_gpu *gpu, const char *path, wgml_llm_source **out);
void wgml_llm_source_free(wgml_llm_source *src);

// Writes the weights of `model` again from its file and recomputes the KV
// cache of tokens[0..n) by prefilling them from position 0, `chunk` tokens
// per submit. WGML_ERR_BAD_FILE, naming the file, when it is gone, changed
// or unreadable; the device's own status when it fails again. Errors are
// recorded on gpu.
wgml_status wgml_llm_restore(wgml_gpu *gpu, wgml_llama *model, const wgml_llm_source *src,
                             const int32_t *tokens, uint32_t n, uint32_t chunk);

#endif
