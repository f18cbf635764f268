// Fusion: grouping a graph's nodes into kernels, and each kernel's WGSL,
// generated from the elementwise definitions and the template kernels.
#include "graph/graph_internal.h"
#include "ops/matmul_sgm.h"
#include "ops/ops_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ================================================================ grouping

typedef struct grouping {
    const wgml_graph *g;
    int64_t seq;
    bool fuse;
    int *consumers;   // uses as an operand, +1 for an output
    bool *absorbed;   // fused into another node's kernel
} grouping;

static bool same_shape(const grouping *s, int a, int b)
{
    int64_t sa[WGML_GRAPH_MAX_DIMS], sb[WGML_GRAPH_MAX_DIMS];
    int na = wgml_graph_resolved_shape(s->g, a, s->seq, sa);
    int nb = wgml_graph_resolved_shape(s->g, b, s->seq, sb);
    return na == nb && !memcmp(sa, sb, sizeof(int64_t) * na);
}

// Whether node t can be computed inside the kernel of its one consumer,
// whose result has the shape of node `root`.
static bool fusable(const grouping *s, int t, int root)
{
    const wgml_node *n = &s->g->nodes[t];
    return s->fuse && s->consumers[t] == 1 && !n->output && same_shape(s, t, root);
}

// The leaf for tensor t in expression e (one leaf per distinct tensor).
static int leaf_for(const grouping *s, wgml_ew_expr *e, int *leaf_tensor, int t)
{
    for (int i = 0; i < e->n_nodes; i++)
        if (e->nodes[i].kind == WGML_EW_LEAF && leaf_tensor[e->nodes[i].leaf] == t) return i;
    int64_t shape[WGML_GRAPH_MAX_DIMS];
    int nd = wgml_graph_resolved_shape(s->g, t, s->seq, shape);
    int id = wgml_ew_add_leaf(e, nd, shape);
    if (id >= 0) leaf_tensor[e->nodes[id].leaf] = t;
    return id;
}

// Builds the expression computing node t (for the kernel rooted at `root`).
// With core != NULL, a row op or matmul feeding the tree may become the
// kernel's core. Returns the node index in e, or -1 when the tree is full.
static int build(grouping *s, wgml_ew_expr *e, int *leaf_tensor, int t, int root, int *core)
{
    const wgml_node *n = &s->g->nodes[t];
    if (n->kind == WGML_NODE_EW && (t == root || fusable(s, t, root))) {
        int args[2];
        int na = wgml_ew_def_of(n->op)->arity;
        for (int i = 0; i < na; i++) {
            args[i] = build(s, e, leaf_tensor, n->args[i], root, core);
            if (args[i] < 0) return -1;
        }
        if (t != root) s->absorbed[t] = true;
        return wgml_ew_add_apply(e, n->op, args, n->f, n->seed);
    }
    if (core && *core < 0 && (n->kind == WGML_NODE_ROW || n->kind == WGML_NODE_MATMUL) &&
        fusable(s, t, root)) {
        *core = t;
        s->absorbed[t] = true;
        return wgml_ew_add_core(e);
    }
    return leaf_for(s, e, leaf_tensor, t);
}

static void name_group(const wgml_graph *g, wgml_group *k)
{
    size_t n = 0;
    k->name[0] = 0;
    if (k->core_node >= 0) {
        const wgml_node *c = &g->nodes[k->core_node];
        const char *core = c->kind == WGML_NODE_MATMUL      ? (c->b_t ? "matmul_nt" : "matmul")
                           : c->kind == WGML_NODE_ROW       ? wgml_row_entry(c->row)
                           : c->kind == WGML_NODE_GATHER    ? "gather"
                           : c->kind == WGML_NODE_ATTENTION ? "attention"
                                                            : wgml_pool_name(c->pool);
        n += snprintf(k->name, sizeof k->name, "%s%s", core,
                      c->kind == WGML_NODE_POOL && c->normalize ? "+l2" : "");
    }
    const wgml_ew_expr *exprs[2] = {&k->pro, &k->epi};
    for (int x = 0; x < 2; x++)
        for (int i = 0; i < exprs[x]->n_nodes && n < sizeof k->name; i++)
            if (exprs[x]->nodes[i].kind == WGML_EW_APPLY)
                n += snprintf(k->name + n, sizeof k->name - n, "%s%s", n ? "+" : "",
                              wgml_ew_def_of(exprs[x]->nodes[i].op)->name);
}

wgml_status wgml_graph_group(const wgml_graph *g, bool fuse, int64_t seq, wgml_group **out,
                             int *n_out, int *group_of, char *err, size_t err_size)
{
    grouping s = {.g = g, .seq = seq, .fuse = fuse};
    s.consumers = calloc((size_t)g->n, sizeof *s.consumers);
    s.absorbed = calloc((size_t)g->n, sizeof *s.absorbed);
    wgml_group *groups = calloc((size_t)g->n + 1, sizeof *groups);
    wgml_status st = WGML_OK;
    if (!s.consumers || !s.absorbed || !groups) {
        snprintf(err, err_size, "out of host memory");
        st = WGML_ERR_OUT_OF_MEMORY;
        goto done;
    }
    for (int t = 0; t < g->n; t++) {
        const wgml_node *n = &g->nodes[t];
        for (int i = 0; i < 3; i++)
            if (n->args[i] >= 0) s.consumers[n->args[i]]++;
        if (n->output) s.consumers[t]++;
        group_of[t] = -1;
    }
    // Roots from the last node back, so a node is absorbed before it is visited.
    int n_groups = 0;
    for (int t = g->n - 1; t >= 0; t--) {
        const wgml_node *n = &g->nodes[t];
        if (n->kind == WGML_NODE_INPUT || s.absorbed[t]) continue;
        if (s.consumers[t] == 0) continue;   // dead: nothing reads it
        wgml_group *k = &groups[n_groups];
        memset(k, 0, sizeof *k);
        k->root = t;
        k->core_node = -1;
        k->epi.out_ndim = wgml_graph_resolved_shape(g, t, seq, k->epi.out_shape);
        int top;
        if (n->kind == WGML_NODE_EW) {
            top = build(&s, &k->epi, k->epi_leaf_tensor, t, t, &k->core_node);
        } else {
            // Row ops and matmuls here have no fused consumer; gather,
            // attention and pooling never take an epilogue.

            k->core_node = t;
            top = wgml_ew_add_core(&k->epi);
        }
        if (top < 0) {
            snprintf(err, err_size, "a fused kernel outgrew its limits at tensor %d", t);
            st = WGML_ERR_UNSUPPORTED;
            goto done;
        }
        k->core = k->core_node < 0 ? WGML_NODE_EW : g->nodes[k->core_node].kind;
        if (k->core == WGML_NODE_ROW) {
            // The prologue: the row op's input, with elementwise producers fused.
            int x = g->nodes[k->core_node].args[0];
            k->pro.out_ndim = wgml_graph_resolved_shape(g, x, seq, k->pro.out_shape);
            bool pro_fuse = g->nodes[x].kind == WGML_NODE_EW && fusable(&s, x, x);
            top = pro_fuse ? build(&s, &k->pro, k->pro_leaf_tensor, x, x, NULL)
                           : leaf_for(&s, &k->pro, k->pro_leaf_tensor, x);
            if (pro_fuse && top >= 0) s.absorbed[x] = true;
            if (top < 0) {
                snprintf(err, err_size, "a fused prologue outgrew its limits at tensor %d", x);
                st = WGML_ERR_UNSUPPORTED;
                goto done;
            }
        }
        name_group(g, k);
        group_of[t] = n_groups++;
    }
    // Kernels run in the order of their roots: every operand is produced earlier.
    for (int i = 0; i < n_groups / 2; i++) {
        wgml_group tmp = groups[i];
        groups[i] = groups[n_groups - 1 - i];
        groups[n_groups - 1 - i] = tmp;
    }
    for (int i = 0; i < n_groups; i++) group_of[groups[i].root] = i;
    *out = groups;
    *n_out = n_groups;
    groups = NULL;
done:
    free(s.consumers);
    free(s.absorbed);
    free(groups);
    return st;
}

// ================================================================ WGSL

static void add_binding(wgml_group_bindings *b, int tensor, uint32_t slot, bool write)
{
    b->tensor[b->n] = tensor;
    b->slot[b->n] = slot;
    b->write[b->n] = write;
    b->n++;
}

// Declares expression leaves `<prefix>k` from slot `first`, records bindings.
static uint32_t declare_leaves(wgml_text *t, const wgml_ew_expr *e, const int *leaf_tensor,
                               const char *prefix, uint32_t first, uint32_t vec,
                               wgml_group_bindings *b)
{
    for (int k = 0; k < e->n_leaves; k++) add_binding(b, leaf_tensor[k], first + k, false);
    return wgml_ew_emit_leaf_decls(t, e, prefix, first, vec);
}

// Gather, attention and pooling: inputs at slots 1 and 2, the output at 3.
static wgml_status opaque_wgsl(const wgml_graph *g, const wgml_group *k, int64_t seq,
                               wgml_gpu *gpu, wgml_group_code *c)
{
    const wgml_node *core = &g->nodes[k->core_node];
    int64_t s[WGML_GRAPH_MAX_DIMS];
    int nd = wgml_graph_resolved_shape(g, core->args[0], seq, s);
    uint32_t params[8] = {0};
    wgml_status st;
    if (core->kind == WGML_NODE_GATHER) {
        uint64_t n_ids = wgml_graph_count(g, core->args[1], seq);
        if (n_ids > UINT32_MAX)
            return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "gather: too many ids");
        st = wgml_gather_setup(gpu, (uint32_t)n_ids, (uint32_t)s[0], (uint32_t)s[1], params,
                               c->grid);
        c->params_size = 16;
        c->family = "gather";
    } else if (core->kind == WGML_NODE_ATTENTION) {
        uint32_t head_dim = (uint32_t)(s[2] / 3 / core->heads);
        st = wgml_attention_setup(gpu, &c->text, (uint32_t)s[0], (uint32_t)s[1],
                                  (uint32_t)core->heads, head_dim, core->f, params, c->grid,
                                  &c->family);
        c->params_size = 16;
    } else {
        st = wgml_pool_setup(gpu, core->pool, core->normalize, (uint32_t)s[0], (uint32_t)s[1],
                             (uint32_t)s[nd - 1], params, c->grid);
        c->params_size = 32;
        c->family = "pool";
    }
    if (st) return st;
    memcpy(c->params, params, c->params_size);
    add_binding(&c->bindings, core->args[0], 1, false);
    add_binding(&c->bindings, core->args[1], 2, false);
    add_binding(&c->bindings, k->root, 3, true);
    c->entry = "main";
    return WGML_OK;
}

// A's leading dimensions are rows: M = its element count / K.
static void matmul_mnk(const wgml_graph *g, const wgml_node *core, int64_t seq, uint32_t *M,
                       uint32_t *N, uint32_t *K)
{
    int64_t sb[2];
    wgml_graph_resolved_shape(g, core->args[1], seq, sb);
    *N = (uint32_t)sb[core->b_t ? 0 : 1];
    *K = (uint32_t)sb[core->b_t ? 1 : 0];
    *M = (uint32_t)(wgml_graph_count(g, core->args[0], seq) / *K);
}

// A Linear layer with f16 weights (x W^T) runs on subgroup matrices where
// the device has them: A converted to f16 as it is staged, f32 sums and
// the same epilogue.
static bool sgm_fits(const wgml_graph *g, const wgml_node *core, int64_t seq, wgml_gpu *gpu)
{
    uint32_t M, N, K;
    matmul_mnk(g, core, seq, &M, &N, &K);
    return core->b_t && g->nodes[core->args[1]].f16 && K % 8 == 0 && wgml_sgm_available(gpu);
}

static wgml_status sgm_wgsl(const wgml_graph *g, const wgml_group *k, int64_t seq, wgml_gpu *gpu,
                            wgml_group_code *c)
{
    const wgml_node *core = &g->nodes[k->core_node];
    wgml_text *t = &c->text;
    uint32_t M, N, K;
    matmul_mnk(g, core, seq, &M, &N, &K);
    wgml_status st = wgml_sgm_prelude(gpu, t, wgml_sgm_pick(gpu, M, N, K), true, M, N, c->grid);
    if (st) return st;
    wgml_sgm_emit_a(t, WGML_F32, true);
    wgml_sgm_emit_b_f16(t, true);
    add_binding(&c->bindings, core->args[0], 1, false);
    add_binding(&c->bindings, core->args[1], 2, false);
    wgml_text_printf(t, "@group(0) @binding(%d) var<storage, read_write> c: array<f32>;\n",
                     WGML_MM_SLOT_C);
    add_binding(&c->bindings, k->root, WGML_MM_SLOT_C, true);
    declare_leaves(t, &k->epi, k->epi_leaf_tensor, "el", WGML_MM_SLOT_FREE, 1, &c->bindings);
    wgml_ew_emit_fn(t, &k->epi, "epi_fn", "el", 1);
    wgml_text_printf(t, "fn mm_store(r: u32, col: u32, v: f32) {\n"
                        "    let idx = r * p.N + col;\n"
                        "    c[idx] = epi_fn(idx, v);\n"
                        "}\n");
    wgml_sgm_params params = {.M = M, .N = N, .K = K, .a_stride = K, .c_stride = N};
    memcpy(c->params, &params, sizeof params);
    c->params_size = sizeof params;
    wgml_sgm_finish(t, &c->family);
    c->entry = "main";
    return t->failed ? wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory") : WGML_OK;
}

wgml_status wgml_group_wgsl(const wgml_graph *g, const wgml_group *k, int64_t seq,
                            wgml_gpu *gpu, wgml_group_code *c)
{
    wgml_text *t = &c->text;
    wgml_group_bindings *b = &c->bindings;
    uint32_t *grid = c->grid;
    b->n = 0;
    c->params_size = 0;
    c->n_constants = 0;
    c->constants = NULL;
    grid[2] = 1;
    wgml_status st;
    if (k->core == WGML_NODE_EW) {
        char err[256];
        if ((st = wgml_ew_check(&k->epi, err, sizeof err)))
            return wgml_gpu_fail(gpu, st, "kernel %s: %s", k->name, err);
        if ((st = wgml_ew_kernel_grid(gpu, &k->epi, &grid[0], &grid[1]))) return st;
        wgml_ew_emit_kernel(t, &k->epi, WGML_EW_WORKGROUP, grid[0]);
        for (int i = 0; i < k->epi.n_leaves; i++) add_binding(b, k->epi_leaf_tensor[i], i + 1, false);
        add_binding(b, k->root, k->epi.n_leaves + 1, true);
        c->family = NULL;   // a whole kernel, not a template's prelude
        c->entry = "main";
        return WGML_OK;
    }
    if (k->core == WGML_NODE_GATHER || k->core == WGML_NODE_ATTENTION || k->core == WGML_NODE_POOL)
        return opaque_wgsl(g, k, seq, gpu, c);
    const wgml_node *core = &g->nodes[k->core_node];
    if (k->core == WGML_NODE_ROW) {
        int64_t shape[WGML_GRAPH_MAX_DIMS];
        int nd = wgml_graph_resolved_shape(g, k->core_node, seq, shape);
        uint32_t cols = (uint32_t)shape[nd - 1], vec;
        uint32_t rows = (uint32_t)(wgml_graph_count(g, k->core_node, seq) / cols);
        if ((st = wgml_rows_prelude(gpu, t, rows, cols, core->f, 0, &grid[0], &grid[1], &vec)))
            return st;
        wgml_ew_emit_types(t, vec);
        wgml_ew_emit_helpers(t);
        if (core->row != WGML_ROW_SOFTMAX) add_binding(b, core->args[1], WGML_ROW_SLOT_GAMMA, false);
        if (core->row == WGML_ROW_LAYERNORM) add_binding(b, core->args[2], WGML_ROW_SLOT_BETA, false);
        uint32_t slot = declare_leaves(t, &k->pro, k->pro_leaf_tensor, "pl", WGML_ROW_SLOT_FREE, vec, b);
        slot = declare_leaves(t, &k->epi, k->epi_leaf_tensor, "el", slot, vec, b);
        wgml_text_printf(t, "@group(0) @binding(%u) var<storage, read_write> y: array<V>;\n", slot);
        add_binding(b, k->root, slot, true);
        wgml_ew_emit_fn(t, &k->pro, "pro_fn", "pl", vec);
        wgml_ew_emit_fn(t, &k->epi, "epi_fn", "el", vec);
        wgml_text_printf(t,
                         "fn row_load(row: u32, j: u32) -> V { return pro_fn((row * CV + j) * VW, V(0.0)); }\n"
                         "fn row_store(row: u32, j: u32, v: V) { y[row * CV + j] = epi_fn((row * CV + j) * VW, v); }\n");
        c->family = "rows";
        c->entry = wgml_row_entry(core->row);
        return WGML_OK;
    }
    wgml_ew_emit_types(t, 1);
    wgml_ew_emit_helpers(t);
    if (sgm_fits(g, core, seq, gpu)) return sgm_wgsl(g, k, seq, gpu, c);
    // B's element type: f16 weights under f32 activations, or T.
    if (g->nodes[core->args[1]].f16 && !wgml_gpu_info(gpu)->shader_f16)
        return wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "kernel %s: f16 weights need the "
                             "shader-f16 feature, which this device lacks", k->name);
    if (g->nodes[core->args[1]].f16)
        wgml_text_printf(t, "enable f16;\nalias TB = f16;\n");
    else
        wgml_text_printf(t, "alias TB = T;\n");
    // Matmul: A and B at slots 1 and 2 (the template's), C and the epilogue after.
    uint32_t M, N, K;
    matmul_mnk(g, core, seq, &M, &N, &K);
    add_binding(b, core->args[0], 1, false);
    add_binding(b, core->args[1], 2, false);
    wgml_text_printf(t, "@group(0) @binding(%d) var<storage, read_write> c: array<T>;\n",
                     WGML_MM_SLOT_C);
    add_binding(b, k->root, WGML_MM_SLOT_C, true);
    declare_leaves(t, &k->epi, k->epi_leaf_tensor, "el", WGML_MM_SLOT_FREE, 1, b);
    wgml_ew_emit_fn(t, &k->epi, "epi_fn", "el", 1);
    wgml_text_printf(t, "fn mm_store(r: u32, col: u32, v: f32) {\n"
                        "    let idx = r * p.N + col;\n"
                        "    c[idx] = T(epi_fn(idx, v));\n"
                        "}\n");
    wgml_matmul_grid(M, N, &grid[0], &grid[1]);
    uint32_t mnk[4] = {M, N, K, 0};
    memcpy(c->params, mnk, sizeof mnk);
    c->params_size = sizeof mnk;
    c->constants = wgml_matmul_constants(core->b_t, M, N, &c->n_constants);
    c->family = wgml_matmul_family(WGML_F32);
    c->entry = "main";
    return WGML_OK;
}
