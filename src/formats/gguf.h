/*
 * GGUF v3 reader: metadata key/values and a table of named tensors, from a
 * memory-mapped file, a caller's memory buffer, or a read-at callback (the
 * browser feeds fetched bytes through the callback).
 *
 * Opening validates the whole header (the format and its rules are written at
 * the top of gguf.c): every count and size against the bytes that remain,
 * overflow-safe arithmetic, a power-of-two alignment, tensor data inside the
 * file and not overlapping, no duplicate keys or tensor names, at most 4
 * dimensions. Nothing is handed out from a file that breaks a rule. Tensor
 * data is not touched at open.
 *
 * Dimension order: GGUF writes ne[0] first, the fastest-varying (contiguous)
 * dimension. `ne` below keeps that order: a Linear weight [out, in] in
 * PyTorch terms is ne = {in, out}, i.e. ne[0] = K and ne[1] = N in quant.h's
 * legend (N rows of K).
 */
#ifndef WGML_GGUF_H
#define WGML_GGUF_H

#include "wgml.h"

#define WGML_GGUF_MAX_DIMS 4

// Tensor types, numbered as in the file (ggml's ggml_type).
typedef enum wgml_gguf_type {
    WGML_GGUF_F32 = 0,
    WGML_GGUF_F16 = 1,
    WGML_GGUF_Q4_0 = 2,
    WGML_GGUF_Q4_1 = 3,
    WGML_GGUF_Q8_0 = 8,
    WGML_GGUF_Q4_K = 12,
    WGML_GGUF_Q6_K = 14,
    WGML_GGUF_BF16 = 30,
} wgml_gguf_type;

// "F32", "Q4_0", ...; NULL for a type wgml does not read.
const char *wgml_gguf_type_name(uint32_t type);
// Elements per block and bytes per block (1 and 4 for F32, 32 and 18 for
// Q4_0, 256 and 144 for Q4_K, ...); false for a type wgml does not read.
bool wgml_gguf_type_block(uint32_t type, uint32_t *block_elems, uint32_t *block_bytes);

// The f32 values of n_elements elements of `type` stored at src in the
// type's block layout (the layouts are written at the top of gguf_quant.c),
// as ggml and the `gguf` package dequantise them, bit for bit.
// WGML_ERR_UNSUPPORTED for a type wgml does not read, INVALID_ARGUMENT when
// n_elements is not a whole number of blocks.
wgml_status wgml_gguf_dequantize(uint32_t type, const void *src, uint64_t n_elements, float *dst);

// Metadata value types, numbered as in the file.
typedef enum wgml_gguf_value_type {
    WGML_GGUF_UINT8 = 0, WGML_GGUF_INT8 = 1, WGML_GGUF_UINT16 = 2, WGML_GGUF_INT16 = 3,
    WGML_GGUF_UINT32 = 4, WGML_GGUF_INT32 = 5, WGML_GGUF_FLOAT32 = 6, WGML_GGUF_BOOL = 7,
    WGML_GGUF_STRING = 8, WGML_GGUF_ARRAY = 9, WGML_GGUF_UINT64 = 10, WGML_GGUF_INT64 = 11,
    WGML_GGUF_FLOAT64 = 12,
} wgml_gguf_value_type;

typedef struct wgml_gguf wgml_gguf;

typedef struct wgml_gguf_tensor {
    const char *name;                  // NUL-terminated
    uint32_t type;                     // wgml_gguf_type
    uint32_t n_dims;                   // 1..4
    uint64_t ne[WGML_GGUF_MAX_DIMS];   // (n_dims) elements, ne[0] contiguous; rest 1
    uint64_t n_elements;               // product of ne
    uint64_t size;                     // bytes of data
    uint64_t offset;                   // bytes from the start of the data section
    uint64_t file_offset;              // bytes from the start of the file
} wgml_gguf_tensor;

// Reads n bytes at `offset` of the source into dst; WGML_OK only when all n
// bytes were read. Called only for ranges inside [0, size).
typedef wgml_status (*wgml_gguf_read_fn)(void *user, uint64_t offset, void *dst, size_t n);

// Open from a file (mapped read-only), from `size` bytes at `data` (kept alive
// and unchanged by the caller until close), or through read_at over a source
// of `size` bytes. On failure *out is NULL and err holds the reason:
// WGML_ERR_BAD_FILE with a message naming the rule broken (and the key or
// tensor), WGML_ERR_UNSUPPORTED for a valid file with a tensor type wgml does
// not read.
wgml_status wgml_gguf_open_file(const char *path, wgml_gguf **out, char *err, size_t err_size);
wgml_status wgml_gguf_open_memory(const void *data, size_t size, wgml_gguf **out, char *err,
                                  size_t err_size);
wgml_status wgml_gguf_open_reader(wgml_gguf_read_fn read_at, void *user, uint64_t size,
                                  wgml_gguf **out, char *err, size_t err_size);
void wgml_gguf_close(wgml_gguf *g);

// The message of the last failed call on this handle ("" when none).
const char *wgml_gguf_last_error(const wgml_gguf *g);
uint32_t wgml_gguf_version(const wgml_gguf *g);
uint64_t wgml_gguf_alignment(const wgml_gguf *g);
// File offset of the data section (the header's end rounded up to the
// alignment; it may lie past the end of a file without tensors).
uint64_t wgml_gguf_data_offset(const wgml_gguf *g);

// ---- metadata -------------------------------------------------------------
// Keys in file order; lookups by key are binary searches.
size_t wgml_gguf_kv_count(const wgml_gguf *g);
const char *wgml_gguf_kv_key(const wgml_gguf *g, size_t i);
// Index of `key`, or -1 when absent.
int64_t wgml_gguf_kv_find(const wgml_gguf *g, const char *key);
wgml_gguf_value_type wgml_gguf_kv_type(const wgml_gguf *g, size_t i);

// Typed getters: false when the key is absent or its value is of another
// kind; on false *out is left unchanged, so callers can preset defaults.
// get_u64 accepts any unsigned or non-negative signed integer type;
// get_f64 accepts FLOAT32 and FLOAT64 (and integers).
bool wgml_gguf_get_u64(const wgml_gguf *g, const char *key, uint64_t *out);
bool wgml_gguf_get_f64(const wgml_gguf *g, const char *key, double *out);
// get_i64 accepts any signed integer type and unsigned values up to INT64_MAX.
bool wgml_gguf_get_i64(const wgml_gguf *g, const char *key, int64_t *out);
bool wgml_gguf_get_bool(const wgml_gguf *g, const char *key, bool *out);
// A string value: pointer into the handle (NUL-terminated; may contain NUL
// bytes before len) and its length in bytes.
bool wgml_gguf_get_str(const wgml_gguf *g, const char *key, const char **out, size_t *len);

// Arrays: element type and count; false when the key is absent or no array.
bool wgml_gguf_get_arr(const wgml_gguf *g, const char *key, wgml_gguf_value_type *elem_type,
                       uint64_t *count);
// Element i of a string array (as get_str); false past the end or wrong type.
bool wgml_gguf_arr_str(const wgml_gguf *g, const char *key, uint64_t i, const char **out,
                       size_t *len);
// A numeric array's raw little-endian element bytes (count * element size):
// e.g. tokenizer.ggml.scores (FLOAT32), tokenizer.ggml.token_type (INT32).
// NULL for non-numeric arrays.
const void *wgml_gguf_arr_data(const wgml_gguf *g, const char *key);

// ---- tensors --------------------------------------------------------------
size_t wgml_gguf_tensor_count(const wgml_gguf *g);
const wgml_gguf_tensor *wgml_gguf_tensor_at(const wgml_gguf *g, size_t i);
// NULL when absent.
const wgml_gguf_tensor *wgml_gguf_tensor_find(const wgml_gguf *g, const char *name);
// The tensor's bytes in place for mapped and memory sources; NULL for a
// read-at source.
const void *wgml_gguf_tensor_data(const wgml_gguf *g, const wgml_gguf_tensor *t);
// Copies bytes [offset, offset + n) of the tensor's data to dst, from any
// source. A range outside the tensor is WGML_ERR_INVALID_ARGUMENT.
wgml_status wgml_gguf_tensor_read(wgml_gguf *g, const wgml_gguf_tensor *t, uint64_t offset,
                                  void *dst, size_t n);
// The f32 values of elements [first, first + n) of a tensor (counted in
// ne[0]-fastest order), dequantised from any source through a small bounce
// buffer: embedding rows, norm weights. Outside the tensor is
// WGML_ERR_INVALID_ARGUMENT.
wgml_status wgml_gguf_tensor_read_f32(wgml_gguf *g, const wgml_gguf_tensor *t, uint64_t first,
                                      uint64_t n, float *dst);

// ---- writing (tests, `wgml synth`) -----------------------------------------
// Builds a GGUF v3 file in memory: add key/values and tensors (data copied),
// then write it out. Types and sizes are checked as the reader checks them.
// Setting a key again replaces its value (in its first place). The key
// general.alignment can only be set with set_u32, to a power of two; it
// decides where tensor data goes. Setters and add_tensor return
// INVALID_ARGUMENT (UNSUPPORTED for a tensor type wgml does not read) with
// the reason in wgml_gguf_writer_last_error.
typedef struct wgml_gguf_writer wgml_gguf_writer;
wgml_gguf_writer *wgml_gguf_writer_create(void);
void wgml_gguf_writer_free(wgml_gguf_writer *w);
wgml_status wgml_gguf_writer_set_u32(wgml_gguf_writer *w, const char *key, uint32_t v);
wgml_status wgml_gguf_writer_set_u64(wgml_gguf_writer *w, const char *key, uint64_t v);
wgml_status wgml_gguf_writer_set_i32(wgml_gguf_writer *w, const char *key, int32_t v);
wgml_status wgml_gguf_writer_set_f32(wgml_gguf_writer *w, const char *key, float v);
wgml_status wgml_gguf_writer_set_bool(wgml_gguf_writer *w, const char *key, bool v);
wgml_status wgml_gguf_writer_set_str(wgml_gguf_writer *w, const char *key, const char *v);
// Arrays of strings, float32 and int32.
wgml_status wgml_gguf_writer_set_arr_str(wgml_gguf_writer *w, const char *key,
                                         const char *const *v, size_t n);
wgml_status wgml_gguf_writer_set_arr_f32(wgml_gguf_writer *w, const char *key, const float *v,
                                         size_t n);
wgml_status wgml_gguf_writer_set_arr_i32(wgml_gguf_writer *w, const char *key,
                                         const int32_t *v, size_t n);
// Copies key `key` of an open file, whatever its type (arrays included), e.g.
// a tokenizer's metadata into a synthetic model.
wgml_status wgml_gguf_writer_copy_kv(wgml_gguf_writer *w, const wgml_gguf *g, const char *key);
const char *wgml_gguf_writer_last_error(const wgml_gguf_writer *w);
// `data` holds the tensor in its type's block layout (quant.h for Q8_0/Q4_0/
// Q4_1); its size must equal what type and ne imply. With data NULL the bytes
// come from `fill` at write time, so files larger than memory can be written.
wgml_status wgml_gguf_writer_add_tensor(wgml_gguf_writer *w, const char *name, uint32_t type,
                                        uint32_t n_dims, const uint64_t *ne, const void *data,
                                        size_t size);
// Produces bytes [offset, offset + n) of tensor `name` into dst.
typedef wgml_status (*wgml_gguf_fill_fn)(void *user, const char *name, uint64_t offset,
                                         void *dst, size_t n);
// Writes the file (to a temporary name, renamed when complete); `fill` may be
// NULL when every tensor was given its data.
wgml_status wgml_gguf_writer_write_file(wgml_gguf_writer *w, const char *path,
                                        wgml_gguf_fill_fn fill, void *user, char *err,
                                        size_t err_size);

#endif
