// Compiling a graph into a plan (kernels, memory, pipelines, bind groups) and
// running it: one pass, one submit per run.
#include "graph/plan_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wgml_plan_error(const wgml_plan *p) { return p->err; }

void wgml_plan_free(wgml_plan *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_steps; i++) wgml_gpu_group_free(p->gpu, p->steps[i].group);
    for (int t = 0; t < p->n_tensors; t++)
        if (p->tensors[t].own_buffer && !p->tensors[t].external)
            wgml_gpu_buf_release(p->gpu, p->tensors[t].buf);
    for (int b = 0; b < p->n_shared; b++) wgml_gpu_buf_release(p->gpu, p->shared[b]);
    free(p->shared);
    free(p->shared_bytes);
    free(p->steps);
    free(p->tensors);
    free(p->nodes);
    free(p);
}

// FLOPs of a kernel's core (count: elements of its result).
static double core_flops(const wgml_graph *g, const wgml_node *core, uint64_t count, int64_t seq)
{
    int64_t s[WGML_GRAPH_MAX_DIMS] = {0};
    int nd = wgml_graph_resolved_shape(g, core->args[0], seq, s);
    switch (core->kind) {
    case WGML_NODE_MATMUL: return 2.0 * (double)count * (double)s[nd - 1];
    case WGML_NODE_ROW:
        return (core->row == WGML_ROW_LAYERNORM ? 8.0 : core->row == WGML_ROW_RMSNORM ? 4.0 : 5.0) *
               (double)count;
    case WGML_NODE_ATTENTION:
        return wgml_op_attention_cost((uint32_t)s[0], (uint32_t)s[1], (uint32_t)core->heads,
                                      (uint32_t)(s[2] / 3 / core->heads)).flops;
    case WGML_NODE_POOL:
        return wgml_op_pool_cost((uint32_t)s[0], (uint32_t)s[1], (uint32_t)s[2]).flops;
    default: return 0;
    }
}

static wgml_gpu_kernel generated_kernel(const wgml_group_code *gen)
{
    return (wgml_gpu_kernel){.family = gen->family ? gen->family : "fused", .entry = gen->entry,
                             .source = gen->family ? NULL : gen->text.s,
                             .prelude = gen->family ? gen->text.s : NULL,
                             .constants = gen->constants, .n_constants = gen->n_constants};
}

static wgml_status build_step(wgml_plan *p, const wgml_graph *g, const wgml_group *k,
                              const wgml_group_code *gen, wgml_gpu_pipeline *pipe, int64_t seq,
                              wgml_plan_step *step)
{
    const wgml_group_bindings *b = &gen->bindings;
    wgml_status st;

    wgml_gpu_binding binds[16];
    double bytes = 0;
    for (int i = 0; i < b->n; i++) {
        const wgml_plan_tensor *pt = &p->tensors[b->tensor[i]];
        binds[i] = (wgml_gpu_binding){.buf = pt->buf, .offset = pt->offset,
                                      .size = (pt->bytes + 3) & ~3ull, .slot = b->slot[i]};
        bool seen = false;   // a tensor bound twice is still read once
        for (int j = 0; j < i; j++) seen |= b->tensor[j] == b->tensor[i];
        if (!seen) bytes += (double)pt->bytes;
    }
    if ((st = wgml_gpu_group_create(p->gpu, pipe, gen->params, gen->params_size, binds,
                                    (size_t)b->n, &step->group)))
        return st;

    uint64_t count = wgml_graph_count(g, k->root, seq);
    double flops = wgml_ew_flops(&k->epi) * (double)count + wgml_ew_flops(&k->pro) * (double)count;
    if (k->core_node >= 0) flops += core_flops(g, &g->nodes[k->core_node], count, seq);
    snprintf(step->name, sizeof step->name, "%s", k->name[0] ? k->name : "copy");
    step->info = (wgml_plan_kernel){.name = step->name, .bytes = bytes, .flops = flops};
    memcpy(step->grid, gen->grid, sizeof step->grid);
    return WGML_OK;
}

// Checks the caller's buffers for external inputs and marks those tensors.
static wgml_status bind_external(wgml_plan *p, const wgml_graph *g, const wgml_graph_options *opt)
{
    uint32_t align = wgml_gpu_info(p->gpu)->min_storage_buffer_offset_alignment;
    for (int i = 0; i < opt->n_external; i++) {
        const wgml_graph_external *e = &opt->external[i];
        if (e->tensor < 0 || e->tensor >= g->n || g->nodes[e->tensor].kind != WGML_NODE_INPUT)
            return wgml_gpu_fail(p->gpu, WGML_ERR_INVALID_ARGUMENT,
                                 "graph: external tensor %d is not an input", e->tensor);
        wgml_plan_tensor *pt = &p->tensors[e->tensor];
        uint64_t size = e->view.buf ? wgml_gpu_buf_size(e->view.buf) : 0;
        if (!e->view.buf || e->view.offset % align || e->view.offset > size ||
            pt->bytes > size - e->view.offset)
            return wgml_gpu_fail(p->gpu, WGML_ERR_INVALID_ARGUMENT,
                                 "graph: the buffer of external input %d ('%s') is missing, "
                                 "misaligned or smaller than its %llu bytes", e->tensor,
                                 g->nodes[e->tensor].name, (unsigned long long)pt->bytes);
        pt->external = true;
        pt->buf = e->view.buf;
        pt->offset = e->view.offset;
    }
    return WGML_OK;
}

static bool uses_seq(const wgml_graph *g)
{
    for (int t = 0; t < g->n; t++)
        for (int d = 0; d < g->nodes[t].ndim; d++)
            if (g->nodes[t].shape[d] == WGML_DIM_SEQ) return true;
    return false;
}

wgml_status wgml_graph_compile(const wgml_graph *g, wgml_gpu *gpu, const wgml_graph_options *opt,
                               wgml_plan **out)
{
    static const wgml_graph_options defaults = {0};
    if (!opt) opt = &defaults;
    *out = NULL;
    if (g->err[0])
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "graph: %s", g->err);
    if (uses_seq(g) && opt->seq_len <= 0)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "graph: symbolic dimensions need options.seq_len");
    int64_t seq = opt->seq_len;
    wgml_plan *p = calloc(1, sizeof *p);
    if (!p) return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    p->gpu = gpu;
    p->n_tensors = g->n;
    p->nodes = malloc(sizeof *p->nodes * (size_t)(g->n + 1));
    p->tensors = calloc((size_t)g->n + 1, sizeof *p->tensors);
    int *group_of = malloc(sizeof *group_of * (size_t)(g->n + 1));
    wgml_group *groups = NULL;
    wgml_group_code *gen = NULL;
    int n_groups = 0;
    wgml_status st = WGML_OK;
    char err[256];
    if (!p->nodes || !p->tensors || !group_of) {
        st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    memcpy(p->nodes, g->nodes, sizeof *p->nodes * (size_t)g->n);
    if ((st = wgml_graph_group(g, !opt->no_fusion, seq, &groups, &n_groups, group_of, err,
                               sizeof err))) {
        wgml_gpu_fail(gpu, st, "graph: %s", err);
        goto done;
    }
    for (int t = 0; t < g->n; t++) {
        wgml_plan_tensor *pt = &p->tensors[t];
        uint64_t count = wgml_graph_count(g, t, seq);
        if (count > UINT32_MAX) {
            st = wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "graph: tensor %d is too large", t);
            goto done;
        }
        pt->bytes = count * (g->nodes[t].f16 ? 2 : 4);
        pt->materialized = g->nodes[t].kind == WGML_NODE_INPUT || group_of[t] >= 0;
        pt->own_buffer = g->nodes[t].kind == WGML_NODE_INPUT || g->nodes[t].output;
    }
    if ((st = bind_external(p, g, opt))) goto done;
    // WGSL and bindings first: the planner needs every kernel's reads and writes.
    gen = calloc((size_t)n_groups + 1, sizeof *gen);
    p->steps = calloc((size_t)n_groups + 1, sizeof *p->steps);
    wgml_group_bindings *binds = calloc((size_t)n_groups + 1, sizeof *binds);
    if (!gen || !p->steps || !binds) {
        free(binds);
        st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    for (int k = 0; k < n_groups && !st; k++) {
        st = wgml_group_wgsl(g, &groups[k], seq, gpu, &gen[k]);
        binds[k] = gen[k].bindings;
    }
    // A code generation failure has its message already; the planner's only
    // failure is host memory.
    if (st == WGML_OK && (st = wgml_plan_memory_assign(p, binds, n_groups)))
        wgml_gpu_fail(gpu, st, "graph: out of host memory");
    free(binds);
    if (st) goto done;
    for (int t = 0; t < g->n && !st; t++) {
        wgml_plan_tensor *pt = &p->tensors[t];
        if (pt->own_buffer && pt->materialized && !pt->external)
            st = wgml_gpu_buf_create(gpu, pt->bytes, g->nodes[t].name[0] ? g->nodes[t].name : "graph.output", &pt->buf);
    }
    for (int b = 0; b < p->n_shared && !st; b++)
        st = wgml_gpu_buf_create(gpu, p->shared_bytes[b], "graph.shared", &p->shared[b]);
    if (st) goto done;
    for (int t = 0; t < g->n; t++)
        if (p->tensors[t].slot.buffer >= 0) p->tensors[t].buf = p->shared[p->tensors[t].slot.buffer];
    // Every pipeline at once: compiled concurrently where the implementation allows.
    wgml_gpu_kernel *kernels = calloc((size_t)n_groups + 1, sizeof *kernels);
    wgml_gpu_pipeline **pipes = calloc((size_t)n_groups + 1, sizeof *pipes);
    if (!kernels || !pipes) st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    for (int k = 0; k < n_groups && !st; k++) {
        if (gen[k].text.failed) st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        kernels[k] = generated_kernel(&gen[k]);
    }
    if (!st) st = wgml_gpu_pipelines_get(gpu, kernels, (size_t)n_groups, pipes);
    for (int k = 0; k < n_groups && !st; k++) {
        st = build_step(p, g, &groups[k], &gen[k], pipes[k], seq, &p->steps[k]);
        if (!st) p->n_steps++;
    }
    free(kernels);
    free(pipes);
    if (st) goto done;
done:
    free(group_of);
    free(groups);
    for (int k = 0; gen && k < n_groups; k++) wgml_text_free(&gen[k].text);
    free(gen);
    if (st) {
        wgml_plan_free(p);
        return st;
    }
    *out = p;
    return WGML_OK;
}

// ================================================================ running

// type: 0 f32, 1 u32, 2 f16.
static wgml_status check_tensor(wgml_plan *p, int t, size_t n, bool input, int type)
{
    if (t < 0 || t >= p->n_tensors)
        return wgml_gpu_fail(p->gpu, WGML_ERR_INVALID_ARGUMENT, "plan: no tensor %d", t);
    const wgml_node *nd = &p->nodes[t];
    if (input ? nd->kind != WGML_NODE_INPUT : !nd->output)
        return wgml_gpu_fail(p->gpu, WGML_ERR_INVALID_ARGUMENT, "plan: tensor %d is not an %s",
                             t, input ? "input" : "output");
    if (input && p->tensors[t].external)
        return wgml_gpu_fail(p->gpu, WGML_ERR_INVALID_ARGUMENT,
                             "plan: input %d lives in the caller's buffer", t);
    int have = nd->u32 ? 1 : nd->f16 ? 2 : 0;
    static const char *names[] = {"f32", "u32", "f16"};
    if (have != type)
        return wgml_gpu_fail(p->gpu, WGML_ERR_INVALID_ARGUMENT, "plan: tensor %d holds %s values",
                             t, names[have]);
    uint64_t es = type == 2 ? 2 : 4;
    if ((uint64_t)n * es != p->tensors[t].bytes)
        return wgml_gpu_fail(p->gpu, WGML_ERR_INVALID_ARGUMENT,
                             "plan: tensor %d has %llu elements, not %zu", t,
                             (unsigned long long)(p->tensors[t].bytes / es), n);
    return WGML_OK;
}

wgml_status wgml_plan_write(wgml_plan *p, int t, const float *data, size_t n)
{
    wgml_status st = check_tensor(p, t, n, true, 0);
    if (st) return st;
    return wgml_gpu_buf_write(p->gpu, p->tensors[t].buf, 0, data, (uint64_t)n * 4);
}

wgml_status wgml_plan_write_u32(wgml_plan *p, int t, const uint32_t *data, size_t n)
{
    wgml_status st = check_tensor(p, t, n, true, 1);
    if (st) return st;
    return wgml_gpu_buf_write(p->gpu, p->tensors[t].buf, 0, data, (uint64_t)n * 4);
}

wgml_status wgml_plan_write_f16(wgml_plan *p, int t, const uint16_t *data, size_t n)
{
    wgml_status st = check_tensor(p, t, n, true, 2);
    if (st) return st;
    // Buffer writes go in multiples of 4 bytes: an odd count takes a padded copy.
    if (n % 2 == 0) return wgml_gpu_buf_write(p->gpu, p->tensors[t].buf, 0, data, (uint64_t)n * 2);
    uint16_t *tmp = calloc(n + 1, sizeof *tmp);
    if (!tmp) return wgml_gpu_fail(p->gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(tmp, data, n * sizeof *tmp);
    st = wgml_gpu_buf_write(p->gpu, p->tensors[t].buf, 0, tmp, (uint64_t)(n + 1) * 2);
    free(tmp);
    return st;
}

wgml_status wgml_plan_run(wgml_plan *p, double *gpu_ns)
{
    wgml_status st = wgml_gpu_begin(p->gpu, gpu_ns != NULL);
    for (int i = 0; i < p->n_steps && !st; i++)
        st = wgml_gpu_dispatch_group(p->gpu, p->steps[i].group, p->steps[i].grid[0],
                                     p->steps[i].grid[1], p->steps[i].grid[2]);
    if (st) {
        wgml_gpu_submit(p->gpu, NULL);   // drop nothing half-recorded on the floor
        return st;
    }
    return wgml_gpu_submit(p->gpu, gpu_ns);
}

wgml_status wgml_plan_read(wgml_plan *p, int t, float *dst, size_t n)
{
    wgml_status st = check_tensor(p, t, n, false, 0);
    if (st) return st;
    return wgml_gpu_buf_read(p->gpu, p->tensors[t].buf, 0, dst, (uint64_t)n * 4);
}

// ================================================================ accounting

int wgml_plan_kernel_count(const wgml_plan *p) { return p->n_steps; }

const wgml_plan_kernel *wgml_plan_kernel_at(const wgml_plan *p, int i)
{
    return i >= 0 && i < p->n_steps ? &p->steps[i].info : NULL;
}

double wgml_plan_bytes(const wgml_plan *p)
{
    double b = 0;
    for (int i = 0; i < p->n_steps; i++) b += p->steps[i].info.bytes;
    return b;
}

double wgml_plan_flops(const wgml_plan *p)
{
    double f = 0;
    for (int i = 0; i < p->n_steps; i++) f += p->steps[i].info.flops;
    return f;
}

void wgml_plan_memory(const wgml_plan *p, uint64_t *planned, uint64_t *naive)
{
    uint64_t s = 0;
    for (int b = 0; b < p->n_shared; b++) s += p->shared_bytes[b];
    *planned = s;
    *naive = p->naive_bytes;
}

wgml_plan_slot wgml_plan_tensor_slot(const wgml_plan *p, int t)
{
    if (t < 0 || t >= p->n_tensors) return (wgml_plan_slot){.buffer = -1, .first = -1, .last = -1};
    return p->tensors[t].slot;
}
