/*
 * Elementwise ops, defined once: each op's WGSL expression and its C
 * reference come from the table in ewise.c. Everything elementwise is
 * generated from these definitions: the single-op kernels of ops.h, and the
 * fused chains, prologues and epilogues of the graph executor.
 *
 * An expression is a small tree (array of nodes, children before parents)
 * over leaves. A leaf is an f32 tensor read with numpy broadcasting against
 * the output shape, or the "core" value that a template kernel passes in (the
 * result of a reduction or a matmul, for epilogues).
 *
 * Dimension legend: out_shape has rank <= WGML_EW_MAX_DIMS, row-major; idx is
 * the linear element index in the output.
 */
#ifndef WGML_EWISE_H
#define WGML_EWISE_H

#include "ops/ops.h"

enum {
    WGML_EW_MAX_DIMS = 4,
    WGML_EW_MAX_NODES = 32,
    WGML_EW_MAX_LEAVES = 8,
    WGML_EW_WORKGROUP = 256,   // invocations per workgroup of elementwise kernels
};

typedef enum wgml_ew_op {
    WGML_EW_ADD = 0,   // a + b
    WGML_EW_SUB,       // a - b
    WGML_EW_MUL,       // a * b
    WGML_EW_SCALE,     // a * f
    WGML_EW_GELU,      // 0.5 a (1 + erf(a / sqrt 2))
    WGML_EW_SILU,      // a / (1 + exp(-a))
    WGML_EW_DROPOUT,   // inverted dropout: keep with probability 1-f, scale by 1/(1-f)
    WGML_EW_COUNT
} wgml_ew_op;

typedef struct wgml_ew_def {
    const char *name;
    int arity;   // tensor operands
    // WGSL with $0 $1 for operands (of type E: f32 or vec4<f32>), $f for the
    // float parameter, $s for the seed and $i for the element index (type EU).
    const char *wgsl;
    double (*ref)(const double *args, double f, uint32_t seed, uint32_t idx);
    double flops;   // per element, for accounting
} wgml_ew_def;

const wgml_ew_def *wgml_ew_def_of(wgml_ew_op op);
// The op named `name`, or -1.
int wgml_ew_op_by_name(const char *name);

// The dropout hash, shared by the WGSL and the reference: a uniform in [0,1).
double wgml_ew_dropout_uniform(uint32_t seed, uint32_t idx);

typedef enum wgml_ew_node_kind { WGML_EW_LEAF = 0, WGML_EW_CORE, WGML_EW_APPLY } wgml_ew_node_kind;

typedef struct wgml_ew_node {
    wgml_ew_node_kind kind;
    int leaf;              // LEAF: index into the expression's leaves
    wgml_ew_op op;         // APPLY
    int args[3];           // APPLY: node indices, each smaller than this node's
    float f;               // APPLY: float parameter (scale factor, dropout p)
    uint32_t seed;         // APPLY: dropout seed
} wgml_ew_node;

typedef struct wgml_ew_leaf {
    int ndim;
    int64_t shape[WGML_EW_MAX_DIMS];   // broadcastable to the output shape
} wgml_ew_leaf;

typedef struct wgml_ew_expr {
    wgml_ew_node nodes[WGML_EW_MAX_NODES];
    int n_nodes;                        // the last node is the result
    wgml_ew_leaf leaves[WGML_EW_MAX_LEAVES];
    int n_leaves;
    int out_ndim;
    int64_t out_shape[WGML_EW_MAX_DIMS];
} wgml_ew_expr;

// Builders; each returns the new node's index or -1 when the tree is full.
int wgml_ew_add_leaf(wgml_ew_expr *e, int ndim, const int64_t *shape);
int wgml_ew_add_core(wgml_ew_expr *e);
int wgml_ew_add_apply(wgml_ew_expr *e, wgml_ew_op op, const int *args, float f, uint32_t seed);

// Checks shapes (every leaf broadcastable to the output, ranks within limits,
// arities) and returns a message in err on failure.
wgml_status wgml_ew_check(const wgml_ew_expr *e, char *err, size_t err_size);

uint64_t wgml_ew_out_count(const wgml_ew_expr *e);
uint64_t wgml_ew_leaf_count(const wgml_ew_expr *e, int leaf);
// FLOPs per output element.
double wgml_ew_flops(const wgml_ew_expr *e);

// ---------------------------------------------------------------- WGSL

// Text buffer for generated WGSL; grows as needed. `failed` is set on
// allocation failure (callers check it once at the end).
typedef struct wgml_text {
    char *s;
    size_t len, cap;
    bool failed;
} wgml_text;

void wgml_text_printf(wgml_text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void wgml_text_free(wgml_text *t);

// Emits the helper functions the definitions use (ew_gelu, ew_dropout...)
// for element type E and index type EU, which the caller aliases.
void wgml_ew_emit_helpers(wgml_text *t);

// Emits the aliases E (f32 or vec4<f32>) and EU (u32 or vec4<u32>) for a
// vector width of 1 or 4.
void wgml_ew_emit_types(wgml_text *t, uint32_t vec);

// Declares the expression's leaves as storage arrays `<prefix>k` at slots
// first_slot.. (vec4 arrays for full-size leaves when vec is 4). Returns the
// next free slot.
uint32_t wgml_ew_emit_leaf_decls(wgml_text *t, const wgml_ew_expr *e, const char *prefix,
                                 uint32_t first_slot, uint32_t vec);

// Emits `fn NAME(idx: u32, core: E) -> E`: the expression at output elements
// idx .. idx + vec - 1 (idx a multiple of vec), reading the leaves declared
// by wgml_ew_emit_leaf_decls with the same prefix and vec.
void wgml_ew_emit_fn(wgml_text *t, const wgml_ew_expr *e, const char *name, const char *prefix,
                     uint32_t vec);

// A whole elementwise kernel: bindings leaf k at @binding(1 + k) and the
// output at @binding(1 + n_leaves), entry `main`, workgroup size `wg`.
// Uses vec4 loads and stores when the output count is a multiple of 4.
// The dispatch covers ceil(count / (vec * wg)) workgroups on a 2D grid whose
// row holds `groups_x` workgroups (wgml_ops_grid).
void wgml_ew_emit_kernel(wgml_text *t, const wgml_ew_expr *e, uint32_t wg, uint32_t groups_x);
// Elements per invocation of the kernel emit_kernel writes (4 or 1).
uint32_t wgml_ew_vector_width(const wgml_ew_expr *e);

// ---------------------------------------------------------------- dispatch

// A compiled elementwise kernel (pipeline and grid), built once, dispatched
// many times. Leaves bind in order, then the output.
typedef struct wgml_ew_kernel {
    wgml_gpu_pipeline *pipeline;
    uint32_t gx, gy;
    int n_leaves;
} wgml_ew_kernel;

wgml_status wgml_ew_kernel_build(wgml_gpu *gpu, const wgml_ew_expr *e, wgml_ew_kernel *out);
// The dispatch grid of the kernel wgml_ew_emit_kernel writes for e.
wgml_status wgml_ew_kernel_grid(wgml_gpu *gpu, const wgml_ew_expr *e, uint32_t *gx, uint32_t *gy);
wgml_status wgml_ew_kernel_dispatch(wgml_gpu *gpu, const wgml_ew_kernel *k,
                                    const wgml_view *leaves, wgml_view out);

// ---------------------------------------------------------------- reference

// Evaluates the expression at every output element in double precision.
// leaves[k] holds the leaf's elements; core (may be NULL) holds one value per
// output element for WGML_EW_CORE.
void wgml_ew_reference(const wgml_ew_expr *e, const float *const *leaves, const float *core,
                       float *out);

#endif
