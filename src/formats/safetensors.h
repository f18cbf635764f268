/*
 * safetensors reader: a table of named tensors and their bytes, from a
 * memory-mapped file, a caller's memory buffer, or a read-at callback (the
 * browser feeds fetched bytes through the callback).
 *
 * Opening validates the whole header (see the format and rules at the top of
 * safetensors.c); nothing is handed out from a file that breaks a rule.
 * Tensor data is not touched at open: it is read on demand, so a mapped
 * 1 GB file costs only its header in memory.
 *
 * Every dtype below can be read as raw bytes; F32, F16 and BF16 can also be
 * converted to f32 (wgml_safetensors_tensor_read_f32), the others give
 * WGML_ERR_UNSUPPORTED there. A dtype name not in the list is a bad file.
 */
#ifndef WGML_SAFETENSORS_H
#define WGML_SAFETENSORS_H

#include "wgml.h"

#define WGML_SAFETENSORS_MAX_DIMS 8
#define WGML_SAFETENSORS_MAX_HEADER 100000000u   // bytes, the format's own limit

typedef enum wgml_safetensors_dtype {
    WGML_ST_F32 = 0,
    WGML_ST_F16,
    WGML_ST_BF16,
    WGML_ST_F64,
    WGML_ST_I64,
    WGML_ST_U64,
    WGML_ST_I32,
    WGML_ST_U32,
    WGML_ST_I16,
    WGML_ST_U16,
    WGML_ST_I8,
    WGML_ST_U8,
    WGML_ST_BOOL,
    WGML_ST_F8_E4M3,
    WGML_ST_F8_E5M2,
    WGML_ST_DTYPE_COUNT,
} wgml_safetensors_dtype;

// The dtype's name as written in files ("F32", "BF16", ...) and its size in
// bytes; NULL and 0 for a value outside the enum.
const char *wgml_safetensors_dtype_name(wgml_safetensors_dtype t);
size_t wgml_safetensors_dtype_size(wgml_safetensors_dtype t);

typedef struct wgml_safetensors wgml_safetensors;

typedef struct wgml_safetensors_tensor {
    const char *name;               // NUL-terminated UTF-8 (never contains U+0000)
    size_t name_len;                // bytes, without the NUL
    wgml_safetensors_dtype dtype;
    uint32_t n_dims;                // 0 for a scalar
    uint64_t shape[WGML_SAFETENSORS_MAX_DIMS];  // (n_dims), outermost first; rest 0
    uint64_t n_elements;            // product of shape (1 for a scalar)
    uint64_t offset;                // bytes from the start of the data section
    uint64_t size;                  // bytes: n_elements * dtype size
    uint64_t file_offset;           // bytes from the start of the file
} wgml_safetensors_tensor;

// Reads n bytes at `offset` of the source into dst; returns WGML_OK only when
// all n bytes were read. Called only for ranges inside [0, size).
typedef wgml_status (*wgml_safetensors_read_fn)(void *user, uint64_t offset, void *dst,
                                                size_t n);

// Open from a file (mapped read-only), from `size` bytes at `data` (the caller
// keeps them alive and unchanged until close), or through read_at over a
// source of `size` bytes. On failure *out is NULL and err holds the reason:
// WGML_ERR_BAD_FILE for a file that breaks a rule, with a message naming the
// rule and the tensor.
wgml_status wgml_safetensors_open_file(const char *path, wgml_safetensors **out, char *err,
                                       size_t err_size);
wgml_status wgml_safetensors_open_memory(const void *data, size_t size, wgml_safetensors **out,
                                         char *err, size_t err_size);
wgml_status wgml_safetensors_open_reader(wgml_safetensors_read_fn read_at, void *user,
                                         uint64_t size, wgml_safetensors **out, char *err,
                                         size_t err_size);
void wgml_safetensors_close(wgml_safetensors *st);

// The message of the last failed read on this handle ("" when none).
const char *wgml_safetensors_last_error(const wgml_safetensors *st);

// Tensors in the order the header lists them.
size_t wgml_safetensors_count(const wgml_safetensors *st);
const wgml_safetensors_tensor *wgml_safetensors_tensor_at(const wgml_safetensors *st, size_t i);
// NULL when absent (binary search over the names).
const wgml_safetensors_tensor *wgml_safetensors_tensor_find(const wgml_safetensors *st,
                                                            const char *name);

// Copies bytes [offset, offset + n) of the tensor's data to dst, from any
// source. A range outside the tensor is WGML_ERR_INVALID_ARGUMENT.
wgml_status wgml_safetensors_tensor_read(wgml_safetensors *st, const wgml_safetensors_tensor *t,
                                         uint64_t offset, void *dst, size_t n);
// The tensor's bytes in place for mapped and memory sources (little-endian,
// possibly unaligned: copy out with memcpy); NULL for a read-at source.
const void *wgml_safetensors_tensor_data(const wgml_safetensors *st,
                                         const wgml_safetensors_tensor *t);
// Converts the whole tensor to f32 into dst, which holds n_elements floats
// (`capacity` counts floats). F32, F16 and BF16 only; others are UNSUPPORTED.
wgml_status wgml_safetensors_tensor_read_f32(wgml_safetensors *st,
                                             const wgml_safetensors_tensor *t, float *dst,
                                             size_t capacity);

// "__metadata__": a string-to-string map, in file order.
size_t wgml_safetensors_metadata_count(const wgml_safetensors *st);
// Key and value of entry i (NUL-terminated; *value_len may be NULL); false past the end.
bool wgml_safetensors_metadata_at(const wgml_safetensors *st, size_t i, const char **key,
                                  const char **value, size_t *value_len);
// The value of `key`, or NULL when absent.
const char *wgml_safetensors_metadata_get(const wgml_safetensors *st, const char *key,
                                          size_t *value_len);

#endif
