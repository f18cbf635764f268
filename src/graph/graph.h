/*
 * Graphs of ops on f32 tensors (and u32 token ids, f16 weights) with static shapes: build
 * once, compile once
 * (fusion, memory planning, every pipeline and bind group created up front),
 * run many times with one submit per run.
 *
 * Fusion merges, into one generated WGSL kernel:
 *   - chains and trees of elementwise ops (ewise.h definitions);
 *   - an elementwise prologue into a row op's input (residual add before a
 *     norm, scale + mask before softmax);
 *   - an elementwise epilogue after a row op or a matmul (bias + activation
 *     after a GEMM, bias + GELU + dropout after a layernorm).
 * An elementwise node is fused into its consumer when it has exactly one
 * consumer, the same shape as that consumer's result, and is not an output.
 *
 * Gather, attention and pooling are kernels of their own (their results feed
 * fused kernels as operands).
 *
 * Dimension legend: shapes are row-major, rank 1..4. Row ops work on the last
 * dimension (rows = product of the others). matmul: a (..., K) with M the
 * product of its leading dimensions, b (K x N), or (N x K) for matmul_nt.
 * B, L: sequences and tokens per sequence; D = H * HD: model width, heads.
 * A dimension WGML_DIM_SEQ is symbolic: it takes options.seq_len at compile.
 */
#ifndef WGML_GRAPH_H
#define WGML_GRAPH_H

#include "ops/ewise.h"
#include "ops/templates.h"

enum { WGML_GRAPH_MAX_DIMS = WGML_EW_MAX_DIMS, WGML_DIM_SEQ = -1 };

typedef struct wgml_graph wgml_graph;
typedef struct wgml_plan wgml_plan;

// ---------------------------------------------------------------- building
// Builders return a tensor id, or -1 on error (recorded: wgml_graph_error);
// an argument of -1 propagates, so a chain of calls needs one check.

wgml_graph *wgml_graph_create(void);
void wgml_graph_free(wgml_graph *g);
const char *wgml_graph_error(const wgml_graph *g);   // "" when none

int wgml_graph_input(wgml_graph *g, const char *name, int ndim, const int64_t *shape);
// An input of u32 values (token ids); only gather reads it.
int wgml_graph_input_u32(wgml_graph *g, const char *name, int ndim, const int64_t *shape);
// An input of f16 values (weights); only matmul reads it, as its b operand
// (the device needs shader-f16).
int wgml_graph_input_f16(wgml_graph *g, const char *name, int ndim, const int64_t *shape);
// Elementwise, numpy broadcasting between a and b (b = -1 for unary ops).
int wgml_graph_ew(wgml_graph *g, wgml_ew_op op, int a, int b, float f, uint32_t seed);
int wgml_graph_add(wgml_graph *g, int a, int b);
int wgml_graph_mul(wgml_graph *g, int a, int b);
int wgml_graph_scale(wgml_graph *g, int a, float f);
int wgml_graph_gelu(wgml_graph *g, int a);
int wgml_graph_silu(wgml_graph *g, int a);
int wgml_graph_dropout(wgml_graph *g, int a, float p, uint32_t seed);
int wgml_graph_layernorm(wgml_graph *g, int x, int gamma, int beta, float eps);
int wgml_graph_rmsnorm(wgml_graph *g, int x, int gamma, float eps);
int wgml_graph_softmax(wgml_graph *g, int x);
int wgml_graph_matmul(wgml_graph *g, int a, int b);
// a (..., K) times b^T for b (N x K): x W^T with PyTorch's (out, in) weights.
// In both, b may be an f16 input.
int wgml_graph_matmul_nt(wgml_graph *g, int a, int b);
// table (V x D) rows picked by u32 ids (any shape S): the result is (S..., D);
// ids >= V give zero rows.
int wgml_graph_gather(wgml_graph *g, int table, int ids);
// Multi-head self-attention (wgml_op_attention): qkv (B, L, 3*D) with rows
// [q | k | v], mask (B, L) additive over keys; the result is (B, L, D).
int wgml_graph_attention(wgml_graph *g, int qkv, int mask, int heads, float scale);
// Pooling over L (wgml_op_pool): x (B, L, D), weights (B, L) -> (B, D).
int wgml_graph_pool(wgml_graph *g, int x, int weights, wgml_pool_mode mode, bool normalize);
// Marks a tensor as an output: it gets its own buffer and can be read back.
wgml_status wgml_graph_output(wgml_graph *g, int t);

int wgml_graph_tensor_count(const wgml_graph *g);
bool wgml_graph_is_output(const wgml_graph *g, int t);
// The tensor's shape with symbolic dimensions as WGML_DIM_SEQ; returns ndim.
int wgml_graph_shape(const wgml_graph *g, int t, int64_t *shape);

// ---------------------------------------------------------------- compiling

// An input that lives in the caller's buffer (weights shared by many plans):
// bound in place, never written by the plan. The view must hold the tensor
// and stay alive while the plan does.
typedef struct wgml_graph_external {
    int tensor;
    wgml_view view;
} wgml_graph_external;

typedef struct wgml_graph_options {
    bool no_fusion;     // one kernel per op (for comparison and tests)
    int64_t seq_len;    // value of WGML_DIM_SEQ dimensions; 0 if none are used
    const wgml_graph_external *external;   // n_external of them
    int n_external;
} wgml_graph_options;

wgml_status wgml_graph_compile(const wgml_graph *g, wgml_gpu *gpu,
                               const wgml_graph_options *opt, wgml_plan **out);
void wgml_plan_free(wgml_plan *p);
const char *wgml_plan_error(const wgml_plan *p);

// ---------------------------------------------------------------- running

// Uploads an input (n elements, the input's size).
wgml_status wgml_plan_write(wgml_plan *p, int t, const float *data, size_t n);
wgml_status wgml_plan_write_u32(wgml_plan *p, int t, const uint32_t *data, size_t n);
wgml_status wgml_plan_write_f16(wgml_plan *p, int t, const uint16_t *data, size_t n);
// Records every kernel in one pass and submits once. With gpu_ns, the run is
// timed (GPU timestamps where available; -1 otherwise).
wgml_status wgml_plan_run(wgml_plan *p, double *gpu_ns);
// Reads an output back (n elements).
wgml_status wgml_plan_read(wgml_plan *p, int t, float *dst, size_t n);

// ---------------------------------------------------------------- accounting

typedef struct wgml_plan_kernel {
    const char *name;   // e.g. "layernorm+add+gelu+dropout"
    double bytes;       // each distinct tensor read once + the output written once
    double flops;
} wgml_plan_kernel;

int wgml_plan_kernel_count(const wgml_plan *p);
const wgml_plan_kernel *wgml_plan_kernel_at(const wgml_plan *p, int i);
double wgml_plan_bytes(const wgml_plan *p);   // sum over kernels
double wgml_plan_flops(const wgml_plan *p);

// Memory: intermediates share buffers by liveness. naive = one buffer per
// intermediate tensor; planned = what the plan allocates for them.
void wgml_plan_memory(const wgml_plan *p, uint64_t *planned, uint64_t *naive);

// For tests: where tensor t lives (-1 for a tensor fused away or an input or
// output with its own buffer), and the kernel interval [first, last] in
// which it must stay intact.
typedef struct wgml_plan_slot {
    int buffer;            // shared buffer index, or -1
    int first, last;       // kernel indices: produced by first, last read by last
    uint64_t bytes;
} wgml_plan_slot;
wgml_plan_slot wgml_plan_tensor_slot(const wgml_plan *p, int t);

// ---------------------------------------------------------------- reference

// Evaluates the graph on the CPU with the ops' references, node by node.
// inputs[t] holds the data of input tensor t (NULL for other tensors; u32
// and f16 inputs are passed as their bits, cast to const float *);
// outputs[t] receives every output tensor t. Needs opt for seq_len.
wgml_status wgml_graph_reference(const wgml_graph *g, const wgml_graph_options *opt,
                                 const float *const *inputs, float *const *outputs,
                                 char *err, size_t err_size);

#endif
