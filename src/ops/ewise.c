// Elementwise op definitions, WGSL generation from them, and their reference.
#include "ops/ewise.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ================================================================ definitions

static double ref_add(const double *a, double f, uint32_t s, uint32_t i) { return a[0] + a[1]; }
static double ref_sub(const double *a, double f, uint32_t s, uint32_t i) { return a[0] - a[1]; }
static double ref_mul(const double *a, double f, uint32_t s, uint32_t i) { return a[0] * a[1]; }
static double ref_scale(const double *a, double f, uint32_t s, uint32_t i) { return a[0] * f; }
static double ref_gelu(const double *a, double f, uint32_t s, uint32_t i)
{
    return 0.5 * a[0] * (1.0 + erf(a[0] / sqrt(2.0)));
}
static double ref_silu(const double *a, double f, uint32_t s, uint32_t i)
{
    return a[0] / (1.0 + exp(-a[0]));
}
static double ref_dropout(const double *a, double f, uint32_t s, uint32_t i)
{
    return wgml_ew_dropout_uniform(s, i) >= f ? a[0] / (1.0 - f) : 0.0;
}

static const wgml_ew_def DEFS[WGML_EW_COUNT] = {
    [WGML_EW_ADD] = {"add", 2, "($0 + $1)", ref_add, 1},
    [WGML_EW_SUB] = {"sub", 2, "($0 - $1)", ref_sub, 1},
    [WGML_EW_MUL] = {"mul", 2, "($0 * $1)", ref_mul, 1},
    [WGML_EW_SCALE] = {"scale", 1, "($0 * $f)", ref_scale, 1},
    [WGML_EW_GELU] = {"gelu", 1, "ew_gelu($0)", ref_gelu, 20},
    [WGML_EW_SILU] = {"silu", 1, "($0 / (1.0 + exp(-$0)))", ref_silu, 4},
    [WGML_EW_DROPOUT] = {"dropout", 1, "ew_dropout($0, $i, $f, $s)", ref_dropout, 8},   // $s: hash of the seed
};

const wgml_ew_def *wgml_ew_def_of(wgml_ew_op op)
{
    return (unsigned)op < WGML_EW_COUNT ? &DEFS[op] : NULL;
}

int wgml_ew_op_by_name(const char *name)
{
    for (int i = 0; i < WGML_EW_COUNT; i++)
        if (!strcmp(DEFS[i].name, name)) return i;
    return -1;
}

// "lowbias32", an integer hash with good avalanche (constants by C. Wellons).
static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

double wgml_ew_dropout_uniform(uint32_t seed, uint32_t idx)
{
    return (double)(hash32(idx ^ hash32(seed)) >> 8) * (1.0 / 16777216.0);
}

// ================================================================ building

int wgml_ew_add_leaf(wgml_ew_expr *e, int ndim, const int64_t *shape)
{
    if (e->n_nodes >= WGML_EW_MAX_NODES || e->n_leaves >= WGML_EW_MAX_LEAVES ||
        ndim < 1 || ndim > WGML_EW_MAX_DIMS)
        return -1;
    wgml_ew_leaf *l = &e->leaves[e->n_leaves];
    l->ndim = ndim;
    memcpy(l->shape, shape, sizeof(int64_t) * ndim);
    e->nodes[e->n_nodes] = (wgml_ew_node){.kind = WGML_EW_LEAF, .leaf = e->n_leaves++};
    return e->n_nodes++;
}

int wgml_ew_add_core(wgml_ew_expr *e)
{
    if (e->n_nodes >= WGML_EW_MAX_NODES) return -1;
    e->nodes[e->n_nodes] = (wgml_ew_node){.kind = WGML_EW_CORE};
    return e->n_nodes++;
}

int wgml_ew_add_apply(wgml_ew_expr *e, wgml_ew_op op, const int *args, float f, uint32_t seed)
{
    const wgml_ew_def *d = wgml_ew_def_of(op);
    if (!d || e->n_nodes >= WGML_EW_MAX_NODES) return -1;
    wgml_ew_node n = {.kind = WGML_EW_APPLY, .op = op, .f = f, .seed = seed};
    for (int i = 0; i < d->arity; i++) {
        if (args[i] < 0 || args[i] >= e->n_nodes) return -1;
        n.args[i] = args[i];
    }
    e->nodes[e->n_nodes] = n;
    return e->n_nodes++;
}

static uint64_t shape_count(int ndim, const int64_t *shape)
{
    uint64_t c = 1;
    for (int i = 0; i < ndim; i++) c *= (uint64_t)shape[i];
    return c;
}

uint64_t wgml_ew_out_count(const wgml_ew_expr *e) { return shape_count(e->out_ndim, e->out_shape); }

uint64_t wgml_ew_leaf_count(const wgml_ew_expr *e, int leaf)
{
    return shape_count(e->leaves[leaf].ndim, e->leaves[leaf].shape);
}

wgml_status wgml_ew_check(const wgml_ew_expr *e, char *err, size_t err_size)
{
    if (e->n_nodes < 1 || e->out_ndim < 1 || e->out_ndim > WGML_EW_MAX_DIMS) {
        snprintf(err, err_size, "elementwise expression is empty or has a bad output rank");
        return WGML_ERR_INVALID_ARGUMENT;
    }
    uint64_t n = 1;
    for (int d = 0; d < e->out_ndim; d++) {
        if (e->out_shape[d] < 1 || e->out_shape[d] > UINT32_MAX) {
            snprintf(err, err_size, "output dimension %d is %lld", d, (long long)e->out_shape[d]);
            return WGML_ERR_INVALID_ARGUMENT;
        }
        n *= (uint64_t)e->out_shape[d];
        if (n > UINT32_MAX) {
            snprintf(err, err_size, "more than 2^32-1 output elements");
            return WGML_ERR_INVALID_ARGUMENT;
        }
    }
    for (int k = 0; k < e->n_leaves; k++) {
        const wgml_ew_leaf *l = &e->leaves[k];
        if (l->ndim > e->out_ndim) {
            snprintf(err, err_size, "leaf %d has rank %d above the output's %d", k, l->ndim,
                     e->out_ndim);
            return WGML_ERR_INVALID_ARGUMENT;
        }
        for (int d = 0; d < l->ndim; d++) {   // right-aligned, numpy style
            int64_t ld = l->shape[l->ndim - 1 - d], od = e->out_shape[e->out_ndim - 1 - d];
            if (ld != od && ld != 1) {
                snprintf(err, err_size, "leaf %d dimension %lld does not broadcast to %lld", k,
                         (long long)ld, (long long)od);
                return WGML_ERR_INVALID_ARGUMENT;
            }
        }
    }
    return WGML_OK;
}

double wgml_ew_flops(const wgml_ew_expr *e)
{
    double f = 0;
    for (int i = 0; i < e->n_nodes; i++)
        if (e->nodes[i].kind == WGML_EW_APPLY) f += DEFS[e->nodes[i].op].flops;
    return f;
}

// ================================================================ text

void wgml_text_printf(wgml_text *t, const char *fmt, ...)
{
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->s && (size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

void wgml_text_free(wgml_text *t)
{
    free(t->s);
    memset(t, 0, sizeof *t);
}

// ================================================================ WGSL

void wgml_ew_emit_helpers(wgml_text *t)
{
    // erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): WGSL has no erf.
    wgml_text_printf(t,
        "fn ew_erf(v: E) -> E {\n"
        "    let a = abs(v);\n"
        "    let t = 1.0 / (1.0 + 0.3275911 * a);\n"
        "    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741\n"
        "             + t * (-1.453152027 + t * 1.061405429))));\n"
        "    let r = 1.0 - poly * exp(-a * a);\n"
        "    return select(-r, r, v >= E(0.0));\n"
        "}\n"
        "fn ew_gelu(v: E) -> E { return 0.5 * v * (1.0 + ew_erf(v * 0.70710678118654752)); }\n"
        "fn ew_hash(x: EU) -> EU {\n"
        "    var h = x;\n"
        "    h ^= h >> EU(16u); h *= EU(0x7feb352du);\n"
        "    h ^= h >> EU(15u); h *= EU(0x846ca68bu);\n"
        "    h ^= h >> EU(16u);\n"
        "    return h;\n"
        "}\n"
        "fn ew_dropout(v: E, i: EU, p: f32, hashed_seed: u32) -> E {\n"
        "    let u = E(ew_hash(i ^ EU(hashed_seed)) >> EU(8u)) * (1.0 / 16777216.0);\n"
        "    return select(E(0.0), v * (1.0 / (1.0 - p)), u >= E(p));\n"
        "}\n");
}

// Whether leaf k is the output's trailing dimensions (a bias over rows).
static bool leaf_is_suffix(const wgml_ew_expr *e, int k)
{
    const wgml_ew_leaf *l = &e->leaves[k];
    int lead = e->out_ndim - l->ndim;
    bool suffix = lead >= 0;
    for (int d = 0; suffix && d < l->ndim; d++) suffix = l->shape[d] == e->out_shape[lead + d];
    return suffix;
}

// The WGSL index of leaf k's element for output element `idx` (an expression
// of type u32 in the variable named by `idx`).
static void emit_leaf_index(wgml_text *t, const wgml_ew_expr *e, int k, const char *idx)
{
    const wgml_ew_leaf *l = &e->leaves[k];
    uint64_t lc = wgml_ew_leaf_count(e, k), oc = wgml_ew_out_count(e);
    if (lc == oc) {
        wgml_text_printf(t, "%s", idx);
        return;
    }
    if (lc == 1) {
        wgml_text_printf(t, "0u");
        return;
    }
    // Suffix broadcast (a bias over rows): the leaf is the output's trailing dims.
    int lead = e->out_ndim - l->ndim;
    if (leaf_is_suffix(e, k)) {
        wgml_text_printf(t, "(%s %% %lluu)", idx, (unsigned long long)lc);
        return;
    }
    // General: output coordinates, weighted by the leaf's strides (0 where broadcast).
    wgml_text_printf(t, "(0u");
    uint64_t ostride = 1, lstride = 1;
    for (int d = e->out_ndim - 1; d >= 0; d--) {
        int ld = d - lead;
        int64_t ldim = ld >= 0 ? l->shape[ld] : 1;
        if (ldim != 1)
            wgml_text_printf(t, " + ((%s / %lluu) %% %lluu) * %lluu", idx,
                             (unsigned long long)ostride,
                             (unsigned long long)e->out_shape[d], (unsigned long long)lstride);
        ostride *= (uint64_t)e->out_shape[d];
        lstride *= (uint64_t)ldim;
    }
    wgml_text_printf(t, ")");
}

// Emits `let tN = ...;` for APPLY node n, its operands being t<args>.
static void emit_apply(wgml_text *t, const wgml_ew_node *n, int id, const char *index_var)
{
    const wgml_ew_def *d = &DEFS[n->op];
    wgml_text_printf(t, "    let t%d = ", id);
    for (const char *p = d->wgsl; *p; p++) {
        if (*p != '$') {
            wgml_text_printf(t, "%c", *p);
            continue;
        }
        char c = *++p;
        if (c >= '0' && c <= '2') wgml_text_printf(t, "t%d", n->args[c - '0']);
        else if (c == 'f') wgml_text_printf(t, "%.9g", (double)n->f);
        else if (c == 's') wgml_text_printf(t, "%uu", hash32(n->seed));   // hashed once, here
        else if (c == 'i') wgml_text_printf(t, "%s", index_var);
    }
    wgml_text_printf(t, ";\n");
}

// Leaf k is read as vectors when it has every output element, or when it is
// a suffix broadcast (a bias over rows) whose length is a multiple of 4.
static bool leaf_is_full(const wgml_ew_expr *e, int k, uint32_t vec)
{
    return vec == 4 && (wgml_ew_leaf_count(e, k) == wgml_ew_out_count(e) ||
                        (leaf_is_suffix(e, k) && wgml_ew_leaf_count(e, k) % 4 == 0));
}

uint32_t wgml_ew_emit_leaf_decls(wgml_text *t, const wgml_ew_expr *e, const char *prefix,
                                 uint32_t first_slot, uint32_t vec)
{
    for (int k = 0; k < e->n_leaves; k++)
        wgml_text_printf(t, "@group(0) @binding(%u) var<storage, read> %s%d: array<%s>;\n",
                         first_slot + k, prefix, k,
                         leaf_is_full(e, k, vec) ? "vec4<f32>" : "f32");
    return first_slot + (uint32_t)e->n_leaves;
}

void wgml_ew_emit_fn(wgml_text *t, const wgml_ew_expr *e, const char *name, const char *prefix,
                     uint32_t vec)
{
    wgml_text_printf(t, "fn %s(idx: u32, core: E) -> E {\n", name);
    if (vec == 4) wgml_text_printf(t, "    let i = EU(idx, idx + 1u, idx + 2u, idx + 3u);\n");
    else wgml_text_printf(t, "    let i = idx;\n");
    for (int n = 0; n < e->n_nodes; n++) {
        const wgml_ew_node *node = &e->nodes[n];
        if (node->kind == WGML_EW_APPLY) {
            emit_apply(t, node, n, "i");
        } else if (node->kind == WGML_EW_CORE) {
            wgml_text_printf(t, "    let t%d = core;\n", n);
        } else if (leaf_is_full(e, node->leaf, vec)) {
            uint64_t lc = wgml_ew_leaf_count(e, node->leaf);
            if (lc == wgml_ew_out_count(e))
                wgml_text_printf(t, "    let t%d = %s%d[idx / 4u];\n", n, prefix, node->leaf);
            else
                wgml_text_printf(t, "    let t%d = %s%d[(idx %% %lluu) / 4u];\n", n, prefix,
                                 node->leaf, (unsigned long long)lc);
        } else if (vec == 1) {
            wgml_text_printf(t, "    let t%d = %s%d[", n, prefix, node->leaf);
            emit_leaf_index(t, e, node->leaf, "idx");
            wgml_text_printf(t, "];\n");
        } else {   // broadcast leaf under vectors: gather the four elements
            wgml_text_printf(t, "    let t%d = E(", n);
            for (int c = 0; c < 4; c++) {
                char var[32];
                snprintf(var, sizeof var, "(idx + %du)", c);
                wgml_text_printf(t, "%s%s%d[", c ? ", " : "", prefix, node->leaf);
                emit_leaf_index(t, e, node->leaf, var);
                wgml_text_printf(t, "]");
            }
            wgml_text_printf(t, ");\n");
        }
    }
    wgml_text_printf(t, "    return t%d;\n}\n", e->n_nodes - 1);
}

void wgml_ew_emit_types(wgml_text *t, uint32_t vec)
{
    wgml_text_printf(t, "alias E = %s;\nalias EU = %s;\n", vec == 4 ? "vec4<f32>" : "f32",
                     vec == 4 ? "vec4<u32>" : "u32");
}

uint32_t wgml_ew_vector_width(const wgml_ew_expr *e)
{
    return wgml_ew_out_count(e) % 4 == 0 ? 4 : 1;
}

void wgml_ew_emit_kernel(wgml_text *t, const wgml_ew_expr *e, uint32_t wg, uint32_t groups_x)
{
    uint32_t vec = wgml_ew_vector_width(e);
    uint64_t count = wgml_ew_out_count(e);
    wgml_ew_emit_types(t, vec);
    uint32_t slot = wgml_ew_emit_leaf_decls(t, e, "in", 1, vec);
    wgml_text_printf(t, "@group(0) @binding(%u) var<storage, read_write> out: array<E>;\n", slot);
    wgml_ew_emit_helpers(t);
    wgml_ew_emit_fn(t, e, "value", "in", vec);
    wgml_text_printf(t,
                     "@compute @workgroup_size(%u)\n"
                     "fn main(@builtin(global_invocation_id) gid: vec3<u32>) {\n"
                     "    let v = gid.y * %uu + gid.x;\n"
                     "    if (v >= %lluu) { return; }\n"
                     "    out[v] = value(v * %uu, E(0.0));\n"
                     "}\n",
                     wg, groups_x * wg, (unsigned long long)(count / vec), vec);
}

// ================================================================ reference

static uint64_t leaf_index(const wgml_ew_expr *e, int k, uint64_t idx)
{
    const wgml_ew_leaf *l = &e->leaves[k];
    int lead = e->out_ndim - l->ndim;
    uint64_t li = 0, lstride = 1;
    for (int d = e->out_ndim - 1; d >= 0; d--) {
        uint64_t od = (uint64_t)e->out_shape[d];
        uint64_t coord = idx % od;
        idx /= od;
        int64_t ldim = d - lead >= 0 ? l->shape[d - lead] : 1;
        if (ldim != 1) li += coord * lstride;
        lstride *= (uint64_t)ldim;
    }
    return li;
}

void wgml_ew_reference(const wgml_ew_expr *e, const float *const *leaves, const float *core,
                       float *out)
{
    uint64_t n = wgml_ew_out_count(e);
    double vals[WGML_EW_MAX_NODES];
    for (uint64_t i = 0; i < n; i++) {
        for (int j = 0; j < e->n_nodes; j++) {
            const wgml_ew_node *nd = &e->nodes[j];
            if (nd->kind == WGML_EW_LEAF) {
                vals[j] = leaves[nd->leaf][leaf_index(e, nd->leaf, i)];
            } else if (nd->kind == WGML_EW_CORE) {
                vals[j] = core ? core[i] : 0.0;
            } else {
                double args[3];
                for (int a = 0; a < DEFS[nd->op].arity; a++) args[a] = vals[nd->args[a]];
                vals[j] = DEFS[nd->op].ref(args, nd->f, nd->seed, (uint32_t)i);
            }
            // Every op's result is an f32 on the GPU: round the same way here.
            vals[j] = (float)vals[j];
        }
        out[i] = (float)vals[e->n_nodes - 1];
    }
}
