// Graph building, shape inference and the CPU reference evaluator.
#include "graph/graph_internal.h"
#include "core/half.h"
#include "ops/reference.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ================================================================ building

wgml_graph *wgml_graph_create(void) { return calloc(1, sizeof(wgml_graph)); }

void wgml_graph_free(wgml_graph *g)
{
    if (!g) return;
    free(g->nodes);
    free(g);
}

const char *wgml_graph_error(const wgml_graph *g) { return g->err; }

static int fail(wgml_graph *g, const char *fmt, ...)
{
    if (!g->err[0]) {   // keep the first error: later ones are its consequences
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->err, sizeof g->err, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int valid(const wgml_graph *g, int t) { return t >= 0 && t < g->n; }

static int push(wgml_graph *g, const wgml_node *n)
{
    if (g->n == g->cap) {
        int cap = g->cap ? g->cap * 2 : 32;
        wgml_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return fail(g, "out of host memory");
        g->nodes = nodes;
        g->cap = cap;
    }
    g->nodes[g->n] = *n;
    return g->n++;
}

int wgml_graph_input(wgml_graph *g, const char *name, int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim > WGML_GRAPH_MAX_DIMS)
        return fail(g, "input '%s': rank %d is outside 1..%d", name, ndim, WGML_GRAPH_MAX_DIMS);
    wgml_node n = {.kind = WGML_NODE_INPUT, .ndim = ndim, .args = {-1, -1, -1}};
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1 && shape[d] != WGML_DIM_SEQ)
            return fail(g, "input '%s': dimension %d is %lld", name, d, (long long)shape[d]);
        n.shape[d] = shape[d];
    }
    snprintf(n.name, sizeof n.name, "%s", name ? name : "");
    return push(g, &n);
}

int wgml_graph_input_u32(wgml_graph *g, const char *name, int ndim, const int64_t *shape)
{
    int t = wgml_graph_input(g, name, ndim, shape);
    if (t >= 0) g->nodes[t].u32 = true;
    return t;
}

int wgml_graph_input_f16(wgml_graph *g, const char *name, int ndim, const int64_t *shape)
{
    int t = wgml_graph_input(g, name, ndim, shape);
    if (t >= 0) g->nodes[t].f16 = true;
    return t;
}

// f32 operands only: u32 tensors (ids) are read by gather alone, f16 ones
// (weights) by matmul alone.
static bool valid_f32(const wgml_graph *g, int t)
{
    return valid(g, t) && !g->nodes[t].u32 && !g->nodes[t].f16;
}

// Numpy broadcasting of a and b into out; symbolic dims match only themselves.
static bool broadcast(const wgml_node *a, const wgml_node *b, wgml_node *out)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    out->ndim = nd;
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da == db || db == 1) out->shape[i] = da;
        else if (da == 1) out->shape[i] = db;
        else return false;
    }
    return true;
}

int wgml_graph_ew(wgml_graph *g, wgml_ew_op op, int a, int b, float f, uint32_t seed)
{
    const wgml_ew_def *d = wgml_ew_def_of(op);
    if (!d) return fail(g, "unknown elementwise op %d", (int)op);
    if (!valid_f32(g, a) || (d->arity == 2 && !valid_f32(g, b)))
        return fail(g, "%s: bad operand", d->name);
    wgml_node n = {.kind = WGML_NODE_EW, .op = op, .args = {a, d->arity == 2 ? b : -1, -1},
                   .f = f, .seed = seed, .ndim = g->nodes[a].ndim};
    memcpy(n.shape, g->nodes[a].shape, sizeof n.shape);
    if (d->arity == 2 && !broadcast(&g->nodes[a], &g->nodes[b], &n))
        return fail(g, "%s: shapes of tensors %d and %d do not broadcast", d->name, a, b);
    if (op == WGML_EW_DROPOUT && !(f >= 0.0f && f < 1.0f))
        return fail(g, "dropout: p = %g is outside [0, 1)", (double)f);
    return push(g, &n);
}

int wgml_graph_add(wgml_graph *g, int a, int b) { return wgml_graph_ew(g, WGML_EW_ADD, a, b, 0, 0); }
int wgml_graph_mul(wgml_graph *g, int a, int b) { return wgml_graph_ew(g, WGML_EW_MUL, a, b, 0, 0); }
int wgml_graph_scale(wgml_graph *g, int a, float f) { return wgml_graph_ew(g, WGML_EW_SCALE, a, -1, f, 0); }
int wgml_graph_gelu(wgml_graph *g, int a) { return wgml_graph_ew(g, WGML_EW_GELU, a, -1, 0, 0); }
int wgml_graph_silu(wgml_graph *g, int a) { return wgml_graph_ew(g, WGML_EW_SILU, a, -1, 0, 0); }
int wgml_graph_dropout(wgml_graph *g, int a, float p, uint32_t seed)
{
    return wgml_graph_ew(g, WGML_EW_DROPOUT, a, -1, p, seed);
}

// A parameter vector (gamma, beta) must be 1-D of the row length.
static bool is_row_vector(const wgml_graph *g, int t, int64_t cols)
{
    return g->nodes[t].ndim == 1 && g->nodes[t].shape[0] == cols;
}

static int row_op(wgml_graph *g, wgml_row_kind kind, int x, int gamma, int beta, float eps)
{
    const char *name = wgml_row_entry(kind);
    if (!valid_f32(g, x)) return fail(g, "%s: bad input", name);
    const wgml_node *xn = &g->nodes[x];
    int64_t cols = xn->shape[xn->ndim - 1];
    if (cols == WGML_DIM_SEQ) return fail(g, "%s: the row length cannot be symbolic", name);
    if (kind != WGML_ROW_SOFTMAX && (!valid_f32(g, gamma) || !is_row_vector(g, gamma, cols)))
        return fail(g, "%s: gamma must be a vector of %lld", name, (long long)cols);
    if (kind == WGML_ROW_LAYERNORM && (!valid_f32(g, beta) || !is_row_vector(g, beta, cols)))
        return fail(g, "%s: beta must be a vector of %lld", name, (long long)cols);
    wgml_node n = {.kind = WGML_NODE_ROW, .row = kind, .args = {x, gamma, beta}, .f = eps,
                   .ndim = xn->ndim};
    memcpy(n.shape, xn->shape, sizeof n.shape);
    return push(g, &n);
}

int wgml_graph_layernorm(wgml_graph *g, int x, int gamma, int beta, float eps)
{
    return row_op(g, WGML_ROW_LAYERNORM, x, gamma, beta, eps);
}

int wgml_graph_rmsnorm(wgml_graph *g, int x, int gamma, float eps)
{
    return row_op(g, WGML_ROW_RMSNORM, x, gamma, -1, eps);
}

int wgml_graph_softmax(wgml_graph *g, int x) { return row_op(g, WGML_ROW_SOFTMAX, x, -1, -1, 0); }

static int matmul(wgml_graph *g, int a, int b, bool b_t)
{
    const char *name = b_t ? "matmul_nt" : "matmul";
    if (!valid_f32(g, a) || !valid(g, b) || g->nodes[b].u32)
        return fail(g, "%s: bad operand", name);
    const wgml_node *an = &g->nodes[a], *bn = &g->nodes[b];
    int64_t K = an->shape[an->ndim - 1];
    int64_t bk = bn->shape[b_t ? 1 : 0], N = bn->shape[b_t ? 0 : 1];
    if (an->ndim < 2 || bn->ndim != 2 || K != bk)
        return fail(g, b_t ? "matmul_nt: needs (..., K) and (N x K) tensors"
                           : "matmul: needs (..., K) and (K x N) tensors");
    if (K == WGML_DIM_SEQ || N == WGML_DIM_SEQ)
        return fail(g, "%s: K and N cannot be symbolic", name);
    wgml_node n = {.kind = WGML_NODE_MATMUL, .args = {a, b, -1}, .ndim = an->ndim, .b_t = b_t};
    memcpy(n.shape, an->shape, sizeof n.shape);
    n.shape[n.ndim - 1] = N;
    return push(g, &n);
}

int wgml_graph_matmul(wgml_graph *g, int a, int b) { return matmul(g, a, b, false); }
int wgml_graph_matmul_nt(wgml_graph *g, int a, int b) { return matmul(g, a, b, true); }

int wgml_graph_gather(wgml_graph *g, int table, int ids)
{
    if (!valid_f32(g, table) || !valid(g, ids) || !g->nodes[ids].u32)
        return fail(g, "gather: needs an f32 table and u32 ids");
    const wgml_node *tn = &g->nodes[table], *in = &g->nodes[ids];
    if (tn->ndim != 2 || tn->shape[0] == WGML_DIM_SEQ || tn->shape[1] == WGML_DIM_SEQ)
        return fail(g, "gather: the table must be a (V x D) matrix of fixed size");
    if (in->ndim >= WGML_GRAPH_MAX_DIMS)
        return fail(g, "gather: ids of rank %d leave no room for the row dimension", in->ndim);
    wgml_node n = {.kind = WGML_NODE_GATHER, .args = {table, ids, -1}, .ndim = in->ndim + 1};
    memcpy(n.shape, in->shape, sizeof(int64_t) * in->ndim);
    n.shape[in->ndim] = tn->shape[1];
    return push(g, &n);
}

int wgml_graph_attention(wgml_graph *g, int qkv, int mask, int heads, float scale)
{
    if (!valid_f32(g, qkv) || !valid_f32(g, mask)) return fail(g, "attention: bad operand");
    const wgml_node *q = &g->nodes[qkv], *m = &g->nodes[mask];
    if (q->ndim != 3 || m->ndim != 2 || m->shape[0] != q->shape[0] || m->shape[1] != q->shape[1])
        return fail(g, "attention: needs qkv (B, L, 3*D) and mask (B, L)");
    int64_t w = q->shape[2];
    if (heads < 1 || w == WGML_DIM_SEQ || w % (3 * (int64_t)heads))
        return fail(g, "attention: a row of %lld is not 3 x %d heads", (long long)w, heads);
    wgml_node n = {.kind = WGML_NODE_ATTENTION, .args = {qkv, mask, -1}, .ndim = 3,
                   .heads = heads, .f = scale, .shape = {q->shape[0], q->shape[1], w / 3}};
    return push(g, &n);
}

int wgml_graph_pool(wgml_graph *g, int x, int weights, wgml_pool_mode mode, bool normalize)
{
    if (!valid_f32(g, x) || !valid_f32(g, weights)) return fail(g, "pool: bad operand");
    const wgml_node *xn = &g->nodes[x], *wn = &g->nodes[weights];
    if (xn->ndim != 3 || wn->ndim != 2 || wn->shape[0] != xn->shape[0] ||
        wn->shape[1] != xn->shape[1] || xn->shape[2] == WGML_DIM_SEQ)
        return fail(g, "pool: needs x (B, L, D) and weights (B, L)");
    if (mode != WGML_POOL_MEAN && mode != WGML_POOL_CLS) return fail(g, "pool: unknown mode");
    wgml_node n = {.kind = WGML_NODE_POOL, .args = {x, weights, -1}, .ndim = 2, .pool = mode,
                   .normalize = normalize, .shape = {xn->shape[0], xn->shape[2]}};
    return push(g, &n);
}

wgml_status wgml_graph_output(wgml_graph *g, int t)
{
    if (!valid(g, t)) {
        fail(g, "output: bad tensor %d", t);
        return WGML_ERR_INVALID_ARGUMENT;
    }
    if (g->nodes[t].kind == WGML_NODE_INPUT) {
        fail(g, "output: tensor %d is an input", t);
        return WGML_ERR_INVALID_ARGUMENT;
    }
    g->nodes[t].output = true;
    return WGML_OK;
}

int wgml_graph_tensor_count(const wgml_graph *g) { return g->n; }

bool wgml_graph_is_output(const wgml_graph *g, int t) { return valid(g, t) && g->nodes[t].output; }

int wgml_graph_shape(const wgml_graph *g, int t, int64_t *shape)
{
    if (!valid(g, t)) return 0;
    memcpy(shape, g->nodes[t].shape, sizeof(int64_t) * g->nodes[t].ndim);
    return g->nodes[t].ndim;
}

int wgml_graph_resolved_shape(const wgml_graph *g, int t, int64_t seq, int64_t *shape)
{
    const wgml_node *n = &g->nodes[t];
    for (int d = 0; d < n->ndim; d++) shape[d] = n->shape[d] == WGML_DIM_SEQ ? seq : n->shape[d];
    return n->ndim;
}

uint64_t wgml_graph_count(const wgml_graph *g, int t, int64_t seq)
{
    int64_t s[WGML_GRAPH_MAX_DIMS];
    int nd = wgml_graph_resolved_shape(g, t, seq, s);
    uint64_t c = 1;
    for (int d = 0; d < nd; d++) c *= (uint64_t)s[d];
    return c;
}

// ================================================================ reference

wgml_status wgml_graph_reference(const wgml_graph *g, const wgml_graph_options *opt,
                                 const float *const *inputs, float *const *outputs,
                                 char *err, size_t err_size)
{
    int64_t seq = opt ? opt->seq_len : 0;
    float **val = calloc((size_t)g->n, sizeof *val);
    if (!val) {
        snprintf(err, err_size, "out of host memory");
        return WGML_ERR_OUT_OF_MEMORY;
    }
    wgml_status st = WGML_OK;
    for (int t = 0; t < g->n && !st; t++) {
        const wgml_node *n = &g->nodes[t];
        uint64_t count = wgml_graph_count(g, t, seq);
        if (n->kind == WGML_NODE_INPUT) {
            if (!inputs[t]) {
                snprintf(err, err_size, "input %d ('%s') has no data", t, n->name);
                st = WGML_ERR_INVALID_ARGUMENT;
            }
            val[t] = (float *)inputs[t];   // read only
            if (n->f16 && inputs[t]) {
                float *v = malloc(count * sizeof *v);
                if (!v) {
                    snprintf(err, err_size, "out of host memory");
                    st = WGML_ERR_OUT_OF_MEMORY;
                    break;
                }
                const uint16_t *h = (const uint16_t *)inputs[t];
                for (uint64_t i = 0; i < count; i++) v[i] = wgml_f16_to_f32(h[i]);
                val[t] = v;
            }
            continue;
        }
        val[t] = malloc(count * sizeof(float));
        if (!val[t]) {
            snprintf(err, err_size, "out of host memory");
            st = WGML_ERR_OUT_OF_MEMORY;
            break;
        }
        if (n->kind == WGML_NODE_EW) {
            // A one-op expression over the operands, broadcast as in the graph.
            wgml_ew_expr e = {0};
            e.out_ndim = wgml_graph_resolved_shape(g, t, seq, e.out_shape);
            int args[2], na = wgml_ew_def_of(n->op)->arity;
            const float *leaves[2];
            for (int i = 0; i < na; i++) {
                int64_t s[WGML_GRAPH_MAX_DIMS];
                int nd = wgml_graph_resolved_shape(g, n->args[i], seq, s);
                args[i] = wgml_ew_add_leaf(&e, nd, s);
                leaves[i] = val[n->args[i]];
            }
            wgml_ew_add_apply(&e, n->op, args, n->f, n->seed);
            wgml_ew_reference(&e, leaves, NULL, val[t]);
        } else if (n->kind == WGML_NODE_ROW) {
            uint64_t cols = (uint64_t)n->shape[n->ndim - 1], rows = count / cols;
            const float *x = val[n->args[0]];
            if (n->row == WGML_ROW_SOFTMAX) wgml_ref_softmax(x, val[t], rows, cols);
            else if (n->row == WGML_ROW_RMSNORM)
                wgml_ref_rmsnorm(x, val[n->args[1]], val[t], rows, cols, n->f);
            else wgml_ref_layernorm(x, val[n->args[1]], val[n->args[2]], val[t], rows, cols, n->f);
        } else if (n->kind == WGML_NODE_MATMUL) {
            int64_t sb[2];
            wgml_graph_resolved_shape(g, n->args[1], seq, sb);
            uint64_t N = (uint64_t)sb[n->b_t ? 0 : 1], K = (uint64_t)sb[n->b_t ? 1 : 0];
            uint64_t M = count / N;
            if (n->b_t) wgml_ref_matmul_nt(val[n->args[0]], val[n->args[1]], val[t], M, N, K);
            else wgml_ref_matmul(val[n->args[0]], val[n->args[1]], val[t], M, N, K);
        } else if (n->kind == WGML_NODE_GATHER) {
            uint64_t V = (uint64_t)g->nodes[n->args[0]].shape[0];
            uint64_t D = (uint64_t)n->shape[n->ndim - 1];
            wgml_ref_gather(val[n->args[0]], (const uint32_t *)val[n->args[1]], val[t], count / D,
                            V, D);
        } else {
            int64_t s[WGML_GRAPH_MAX_DIMS];
            wgml_graph_resolved_shape(g, n->args[0], seq, s);   // (B, L, width)
            if (n->kind == WGML_NODE_ATTENTION)
                wgml_ref_attention(val[n->args[0]], val[n->args[1]], val[t], s[0], s[1],
                                   n->heads, s[2] / 3 / n->heads, n->f);
            else
                wgml_ref_pool(n->pool, n->normalize, val[n->args[0]], val[n->args[1]], val[t],
                              s[0], s[1], s[2]);
        }
        if (n->output && outputs[t]) memcpy(outputs[t], val[t], count * sizeof(float));
    }
    for (int t = 0; t < g->n; t++)
        if (g->nodes[t].kind != WGML_NODE_INPUT || g->nodes[t].f16) free(val[t]);
    free(val);
    return st;
}
