// Device loss recovery for wgml_llm (llm_recover.h). The GGUF file is opened
// again by path rather than kept open: a model's file can be gigabytes, and a
// loss is rare. Its identity is recorded at load so that a file replaced or
// rewritten since is refused rather than uploaded as if it were the same
// model (a different model of the same shape would give wrong text with no
// error).
#include "models/llm_recover.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct wgml_llm_source {
    char *path;
    uint64_t dev, ino;
    uint64_t size;          // bytes
    int64_t mtime_ns;       // modification time, ns since the epoch
    bool known;             // the file system told the identity (a browser's WASI
                            // file table has no stat: there recovery is unsupported)
};

static void identity(const struct stat *sb, wgml_llm_source *s)
{
    s->dev = (uint64_t)sb->st_dev;
    s->ino = (uint64_t)sb->st_ino;
    s->size = (uint64_t)sb->st_size;
    s->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

wgml_status wgml_llm_source_create(wgml_gpu *gpu, const char *path, wgml_llm_source **out)
{
    *out = NULL;
    struct stat sb;
    bool known = !stat(path, &sb);
    if (!known && errno != ENOSYS && errno != ENOTSUP)
        return wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "%s: %s", path, strerror(errno));
    wgml_llm_source *s = calloc(1, sizeof *s);
    size_t n = strlen(path);
    if (s) s->path = malloc(n + 1);
    if (!s || !s->path) {
        free(s);
        return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    memcpy(s->path, path, n + 1);
    if (known) identity(&sb, s);
    s->known = known;
    *out = s;
    return WGML_OK;
}

void wgml_llm_source_free(wgml_llm_source *s)
{
    if (!s) return;
    free(s->path);
    free(s);
}

// The file, opened again, if it is still the one that was loaded.
static wgml_status reopen(wgml_gpu *gpu, const wgml_llm_source *s, wgml_gguf **g)
{
    struct stat sb;
    if (!s->known)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "llm: restoring the model after a device "
                             "loss: %s: this file system cannot tell whether the file changed",
                             s->path);
    if (stat(s->path, &sb))
        return wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "llm: restoring the model after a device "
                             "loss: %s: %s (the file must stay while the model lives)", s->path,
                             strerror(errno));
    wgml_llm_source now;
    identity(&sb, &now);
    if (now.dev != s->dev || now.ino != s->ino || now.size != s->size ||
        now.mtime_ns != s->mtime_ns)
        return wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "llm: restoring the model after a device "
                             "loss: %s changed since it was loaded (%s); free the model and load "
                             "it again", s->path,
                             now.dev != s->dev || now.ino != s->ino ? "another file is there now"
                             : now.size != s->size ? "its size differs"
                             : "it was modified");
    char err[512];
    wgml_status st = wgml_gguf_open_file(s->path, g, err, sizeof err);
    if (st)
        return wgml_gpu_fail(gpu, WGML_ERR_BAD_FILE, "llm: restoring the model after a device "
                             "loss: %s: %s", s->path, err);
    return WGML_OK;
}

wgml_status wgml_llm_restore(wgml_gpu *gpu, wgml_llama *model, const wgml_llm_source *src,
                             const int32_t *tokens, uint32_t n, uint32_t chunk)
{
    wgml_gguf *g = NULL;
    wgml_status st = reopen(gpu, src, &g);
    if (st) return st;
    st = wgml_llama_restore(model, g);
    wgml_gguf_close(g);
    if (st) {
        // Keep the loader's reason, say where it came from.
        if (st != WGML_ERR_DEVICE_LOST)
            wgml_gpu_fail(gpu, st, "llm: restoring the model after a device loss: %s: %s",
                          src->path, wgml_gpu_last_error(gpu));
        return st;
    }
    // The KV cache came back zero-filled: recompute it for the context's tokens.
    for (uint32_t pos = 0; pos < n && !st; pos += chunk) {
        uint32_t m = n - pos < chunk ? n - pos : chunk;
        st = wgml_llama_record(model, tokens + pos, m, pos, NULL);
        if (!st) st = wgml_gpu_submit(gpu, NULL);
    }
    return st;
}
