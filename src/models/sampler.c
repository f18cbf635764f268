// Token sampling: the host side of src/kernels/sampler.wgsl (the passes and
// their order) and the C reference, which is the specification (sampler.h).
//
// Dimension legend: V vocabulary (logits per step); G workgroups of the
// passes over V; WG invocations per workgroup; items logits per invocation.
#include "models/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    WG = 256,                 // sampler.wgsl
    MAX_GROUPS = 1024,        // G at most: every workgroup of the first pass after the
                              // maximum's reads all G partial maxima
    // G by default: enough workgroups to fill a GPU; on a CPU device few
    // (each workgroup's barriers cost a CPU device far more than the loads:
    // lavapipe took 21 ms for a top-k + top-p sample over 128256 logits with
    // 32 workgroups, 760 ms with 501).
    DEFAULT_GROUPS_GPU = 256,
    DEFAULT_GROUPS_CPU = 32,
    HIST_WORDS = 6144,        // 8 levels x (256 counts, 256 mass lo, 256 mass hi)
    PARTS = 272,              // words before the per-workgroup parts in the work buffer
    N_SLOTS = 16,
    OP_NONE = 0, OP_MAX, OP_SELECT_K, OP_SELECT_P,
    FLAG_TOP_K = 1, FLAG_TOP_P = 2, FLAG_MIN_P = 4,
    PENALTY_HEADER = 16,      // bytes before the id list in the penalty's parameters
};

// sampler.wgsl's Params, field for field.
typedef struct pass_params {
    uint32_t n, items, groups, slot;
    uint32_t op_in, level_in, kind, level;
    uint32_t flags, top_k, top_p32;
    float min_p_log, inv_temp;
    uint32_t seed_lo, seed_hi, step_lo, step_hi;
    uint32_t out_index;
    uint32_t pad[2];
} pass_params;

// The parameters as the passes use them: switches resolved, reciprocals and
// logarithms computed once, in float where the GPU sees floats.
typedef struct resolved {
    bool greedy;
    uint32_t top_k;          // 0: off (also when k >= V)
    bool top_p_on;
    float top_p;
    uint32_t top_p32;        // round(top_p * 2^32)
    bool min_p_on;
    float min_p_log;         // (float)ln(min_p)
    float temperature, inv_temp;
    bool penalty_on;
    float penalty, inv_penalty;
    uint32_t last_n;
} resolved;

// NULL when the parameters are valid, else why not.
static const char *resolve(const wgml_sampler_params *p, uint32_t n_vocab, resolved *r)
{
    memset(r, 0, sizeof *r);
    if (n_vocab == 0 || n_vocab > WGML_SAMPLER_MAX_VOCAB) return "vocabulary size outside 1..2^24";
    if (isnan(p->temperature)) return "temperature is NaN";
    if (isnan(p->top_p) || p->top_p < 0 || p->top_p > 1) return "top_p outside 0..1";
    if (isnan(p->min_p) || p->min_p < 0 || p->min_p > 1) return "min_p outside 0..1";
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty < 0)
        return "repeat_penalty must be finite and not negative";
    if (p->repeat_last_n > WGML_SAMPLER_MAX_LAST_N) return "repeat_last_n above 8192";
    r->temperature = p->temperature;
    r->inv_temp = p->temperature > 0 ? 1.0f / p->temperature : 0;
    // A temperature so small that its reciprocal overflows is the limit T -> 0.
    r->greedy = p->temperature <= 0 || !isfinite(r->inv_temp);
    r->top_k = p->top_k < n_vocab ? p->top_k : 0;
    r->top_p_on = p->top_p > 0 && p->top_p < 1;
    r->top_p = p->top_p;
    double p32 = nearbyint((double)p->top_p * 4294967296.0);
    r->top_p32 = p32 >= 4294967295.0 ? UINT32_MAX : (uint32_t)p32;
    r->min_p_on = p->min_p > 0;
    r->min_p_log = r->min_p_on ? (float)log((double)p->min_p) : 0;
    r->penalty_on = p->repeat_penalty > 0 && p->repeat_penalty != 1 && p->repeat_last_n > 0;
    r->penalty = p->repeat_penalty;
    r->inv_penalty = r->penalty_on ? 1.0f / p->repeat_penalty : 1;
    r->last_n = p->repeat_last_n;
    return NULL;
}

// ================================================================ random numbers

// The 64-bit product a * b: high word to *hi, low word returned.
static uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t prod = (uint64_t)a * b;
    *hi = (uint32_t)(prod >> 32);
    return (uint32_t)prod;
}

// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy
// as 1, 2, 3", SC 2011): ten rounds of two multiplications and a key
// addition (the Weyl constants) before each round after the first.
void wgml_sampler_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]}, k[2] = {key[0], key[1]};
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k[0] += 0x9E3779B9u;
            k[1] += 0xBB67AE85u;
        }
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo32(0xD2511F53u, c[0], &hi0);
        uint32_t lo1 = mulhilo32(0xCD9E8D57u, c[2], &hi1);
        uint32_t n[4] = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
        memcpy(c, n, sizeof c);
    }
    memcpy(out, c, sizeof c);
}

uint32_t wgml_sampler_random(uint64_t seed, uint64_t step)
{
    uint32_t ctr[4] = {(uint32_t)step, (uint32_t)(step >> 32), 0, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, out[4];
    wgml_sampler_philox4x32(ctr, key, out);
    return out[0];
}

// ================================================================ the reference

// The float's total order as an unsigned key; NaN and -inf -> 0 (invalid),
// +inf -> the largest finite float's key.
static uint32_t key_of(float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    if ((b & 0x7fffffffu) > 0x7f800000u || b == 0xff800000u) return 0;
    if (b == 0x7f800000u) return 0xff7fffffu;
    return b & 0x80000000u ? ~b : b | 0x80000000u;
}

static float value_of(uint32_t key)
{
    uint32_t b = key & 0x80000000u ? key ^ 0x80000000u : ~key;
    float v;
    memcpy(&v, &b, 4);
    return v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

// The distinct in-vocabulary ids among the last `last_n` of recent[0..n),
// sorted, into out; returns how many.
static uint32_t distinct_recent(const int32_t *recent, uint32_t n, uint32_t last_n,
                                uint32_t n_vocab, uint32_t *out)
{
    uint32_t from = n > last_n ? n - last_n : 0, m = 0;
    for (uint32_t i = from; i < n; i++)
        if (recent[i] >= 0 && (uint32_t)recent[i] < n_vocab) out[m++] = (uint32_t)recent[i];
    qsort(out, m, sizeof *out, cmp_u32);
    uint32_t u = 0;
    for (uint32_t i = 0; i < m; i++)
        if (u == 0 || out[u - 1] != out[i]) out[u++] = out[i];
    return u;
}

typedef struct ranked {
    uint32_t key, id;
} ranked;

static int cmp_ranked(const void *a, const void *b)   // key descending, then id ascending
{
    const ranked *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t wgml_sampler_reference(const wgml_sampler_params *p, const float *logits,
                               uint32_t n_vocab, const int32_t *recent, uint32_t n_recent,
                               uint64_t step)
{
    resolved r;
    if (!p || !logits || resolve(p, n_vocab, &r)) return -1;
    float *v = malloc(sizeof(float) * n_vocab);
    uint32_t *ids = malloc(sizeof(uint32_t) * (n_recent ? n_recent : 1));
    ranked *rank = malloc(sizeof(ranked) * n_vocab);
    int32_t chosen = -1;
    if (!v || !ids || !rank) goto done;
    memcpy(v, logits, sizeof(float) * n_vocab);

    // Penalty, once per distinct recent id.
    if (r.penalty_on && recent) {
        uint32_t u = distinct_recent(recent, n_recent, r.last_n, n_vocab, ids);
        for (uint32_t i = 0; i < u; i++)
            v[ids[i]] = v[ids[i]] > 0 ? v[ids[i]] * r.inv_penalty : v[ids[i]] * r.penalty;
    }

    // Greedy: the largest key, ties to the lowest id. With no valid logit it is id 0.
    uint32_t max_key = 0, max_id = 0;
    for (uint32_t i = 0; i < n_vocab; i++)
        if (key_of(v[i]) > max_key) {
            max_key = key_of(v[i]);
            max_id = i;
        }
    if (r.greedy || max_key == 0) {
        chosen = (int32_t)max_id;
        goto done;
    }
    float max = value_of(max_key);

    // Candidates from the largest down.
    uint32_t n_valid = 0;
    for (uint32_t i = 0; i < n_vocab; i++)
        if (key_of(v[i]) != 0) rank[n_valid++] = (ranked){key_of(v[i]), i};
    qsort(rank, n_valid, sizeof *rank, cmp_ranked);

    // Top-k: the k-th largest value is the threshold.
    uint32_t tau_k = 1;
    if (r.top_k && r.top_k < n_valid) tau_k = rank[r.top_k - 1].key;

    // Top-p over top-k's survivors at temperature 1: the largest value whose
    // survivors (all keys at or above it) hold at least top_p of the mass.
    uint32_t tau_p = 1;
    if (r.top_p_on) {
        double z = 0;
        for (uint32_t i = 0; i < n_valid && rank[i].key >= tau_k; i++)
            z += exp((double)value_of(rank[i].key) - max);
        double cum = 0;
        for (uint32_t i = 0; i < n_valid && rank[i].key >= tau_k;) {
            uint32_t key = rank[i].key;
            for (; i < n_valid && rank[i].key == key; i++) cum += exp((double)value_of(key) - max);
            if (cum >= (double)r.top_p * z) {
                tau_p = key;
                break;
            }
        }
    }

    // Min-p: within ln(min_p) of the maximum, in float as the GPU adds.
    uint32_t tau_m = 1;
    if (r.min_p_on) tau_m = key_of(max + r.min_p_log);

    uint32_t tau = tau_k;
    if (tau_p > tau) tau = tau_p;
    if (tau_m > tau) tau = tau_m;
    if (tau > max_key) tau = max_key;   // the maximum always survives (-0 + 0 = +0)

    // The draw, in id order, with weights at the temperature.
    double z = 0;
    for (uint32_t i = 0; i < n_vocab; i++)
        if (key_of(v[i]) >= tau) z += exp(((double)value_of(key_of(v[i])) - max) / r.temperature);
    double target = wgml_sampler_random(p->seed, step) / 4294967296.0 * z, cum = 0;
    for (uint32_t i = 0; i < n_vocab; i++) {
        if (key_of(v[i]) < tau) continue;
        cum += exp(((double)value_of(key_of(v[i])) - max) / r.temperature);
        chosen = (int32_t)i;   // the last survivor, should rounding leave cum <= target
        if (cum > target) break;
    }
done:
    free(v);
    free(ids);
    free(rank);
    return chosen;
}

// ================================================================ the GPU sampler

enum {
    PIPE_MAX, PIPE_GREEDY, PIPE_HIST, PIPE_PARTIAL, PIPE_FINAL,
    PIPE_GREEDY_OUT, PIPE_FINAL_OUT,            // the final passes that also store the id
    PIPE_PENALTY, PIPE_PENALTY_GPU, N_PIPES     // the id list from the host / from a GPU buffer
};

// The penalty template's preludes (sampler_penalty.wgsl).
static const char PENALTY_HOST[] =
    "const CAP4: u32 = %uu;\n"
    "struct Params { n_vocab: u32, count: u32, penalty: f32, inv_penalty: f32,\n"
    "                ids: array<vec4<u32>, CAP4>, }\n"
    "@group(0) @binding(0) var<uniform> p: Params;\n"
    "fn recent_id(i: u32) -> u32 { return p.ids[i / 4u][i %% 4u]; }\n"
    "fn is_last(i: u32, t: u32) -> bool { return true; }\n";
static const char PENALTY_GPU[] =
    "struct Params { n_vocab: u32, count: u32, penalty: f32, inv_penalty: f32, first: u32, }\n"
    "@group(0) @binding(0) var<uniform> p: Params;\n"
    "@group(0) @binding(2) var<storage, read> tokens: array<u32>;\n"
    "fn recent_id(i: u32) -> u32 { return tokens[p.first + i]; }\n"
    "fn is_last(i: u32, t: u32) -> bool {\n"
    "    for (var j = i + 1u; j < p.count; j++) { if (tokens[p.first + j] == t) { return false; } }\n"
    "    return true;\n"
    "}\n";

struct wgml_sampler {
    wgml_gpu *gpu;
    uint32_t n_vocab;            // V
    wgml_sampler_params params;
    resolved r;
    uint32_t items, groups;      // logits per invocation; G
    wgml_gpu_buf *work;          // result, state slots, parts (u32 words; sampler.wgsl)
    wgml_gpu_buf *hist;          // HIST_WORDS
    wgml_gpu_pipeline *pipe[N_PIPES];
    uint32_t cap4;               // penalty id list capacity in vec4s
    uint8_t *penalty_params;     // PENALTY_HEADER + 16 * cap4 bytes
    uint32_t *scratch;           // repeat_last_n ids
};

wgml_status wgml_sampler_create(wgml_gpu *gpu, uint32_t n_vocab, const wgml_sampler_params *p,
                                wgml_sampler **out)
{
    return wgml_sampler_create_groups(gpu, n_vocab, p, 0, out);
}

wgml_status wgml_sampler_create_groups(wgml_gpu *gpu, uint32_t n_vocab,
                                       const wgml_sampler_params *p, uint32_t max_groups,
                                       wgml_sampler **out)
{
    if (!gpu) return WGML_ERR_INVALID_ARGUMENT;
    if (!out || !p) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "sampler: NULL argument");
    *out = NULL;
    resolved r;
    const char *why = resolve(p, n_vocab, &r);
    if (why) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "sampler: %s", why);
    if (max_groups > MAX_GROUPS)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "sampler: max_groups above %d",
                             MAX_GROUPS);
    if (!max_groups)
        max_groups = strcmp(wgml_gpu_info(gpu)->adapter_type, "cpu") ? DEFAULT_GROUPS_GPU
                                                                      : DEFAULT_GROUPS_CPU;
    wgml_sampler *s = calloc(1, sizeof *s);
    if (!s) return wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
    s->gpu = gpu;
    s->n_vocab = n_vocab;
    s->params = *p;
    s->r = r;
    s->items = (n_vocab + WG * max_groups - 1) / (WG * max_groups);
    s->groups = (n_vocab + WG * s->items - 1) / (WG * s->items);
    // The id list lives in the uniform parameters: capacities by powers of
    // two keep the number of penalty pipelines small.
    uint32_t cap = 4;
    while (cap < r.last_n) cap *= 2;
    s->cap4 = cap / 4;
    size_t pen_bytes = PENALTY_HEADER + 16ull * s->cap4;
    wgml_status st = WGML_OK;
    if (pen_bytes > wgml_gpu_info(gpu)->max_uniform_buffer_binding_size) {
        st = wgml_gpu_fail(gpu, WGML_ERR_UNSUPPORTED, "sampler: repeat_last_n %u needs %zu bytes "
                           "of uniform parameters; the device binds %llu", r.last_n, pen_bytes,
                           (unsigned long long)wgml_gpu_info(gpu)->max_uniform_buffer_binding_size);
        goto fail;
    }
    s->penalty_params = calloc(1, pen_bytes);
    s->scratch = malloc(sizeof(uint32_t) * (r.last_n ? r.last_n : 1));
    if (!s->penalty_params || !s->scratch) {
        st = wgml_gpu_fail(gpu, WGML_ERR_OUT_OF_MEMORY, "out of host memory");
        goto fail;
    }
    if ((st = wgml_gpu_buf_create(gpu, 4ull * (PARTS + 4ull * s->groups), "sampler.work", &s->work)) ||
        (st = wgml_gpu_buf_create(gpu, 4ull * HIST_WORDS, "sampler.hist", &s->hist)))
        goto fail;
    char prelude[sizeof PENALTY_HOST + 16];
    snprintf(prelude, sizeof prelude, PENALTY_HOST, s->cap4);
    wgml_gpu_kernel k[N_PIPES] = {
        [PIPE_MAX] = {.family = "sampler", .entry = "max_pass"},
        [PIPE_GREEDY] = {.family = "sampler", .entry = "greedy_final"},
        [PIPE_HIST] = {.family = "sampler", .entry = "hist_pass"},
        [PIPE_PARTIAL] = {.family = "sampler", .entry = "draw_partial"},
        [PIPE_FINAL] = {.family = "sampler", .entry = "draw_final"},
        [PIPE_GREEDY_OUT] = {.family = "sampler", .entry = "greedy_final_out"},
        [PIPE_FINAL_OUT] = {.family = "sampler", .entry = "draw_final_out"},
        [PIPE_PENALTY] = {.family = "sampler_penalty", .prelude = prelude},
        [PIPE_PENALTY_GPU] = {.family = "sampler_penalty", .prelude = PENALTY_GPU},
    };
    size_t n_pipes = r.penalty_on ? N_PIPES : PIPE_PENALTY;
    if ((st = wgml_gpu_pipelines_get(gpu, k, n_pipes, s->pipe))) goto fail;
    *out = s;
    return WGML_OK;
fail:
    wgml_sampler_free(s);
    return st;
}

void wgml_sampler_free(wgml_sampler *s)
{
    if (!s) return;
    wgml_gpu_buf_release(s->gpu, s->work);
    wgml_gpu_buf_release(s->gpu, s->hist);
    free(s->penalty_params);
    free(s->scratch);
    free(s);
}

uint32_t wgml_sampler_dispatches(const wgml_sampler *s, bool with_penalty)
{
    uint32_t n = (with_penalty && s->r.penalty_on) + 1;   // penalty, maximum
    if (s->r.greedy) return n + 1;
    return n + (s->r.top_k ? 4 : 0) + (s->r.top_p_on ? 4 : 0) + 2;
}

// Checks the logits' range.
static wgml_status check_logits(wgml_sampler *s, wgml_gpu_buf *logits, uint64_t offset)
{
    wgml_gpu *gpu = s->gpu;
    uint64_t bytes = 4ull * s->n_vocab;
    if (!logits) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "sampler: NULL argument");
    if (offset % wgml_gpu_info(gpu)->min_storage_buffer_offset_alignment ||
        offset > wgml_gpu_buf_size(logits) || bytes > wgml_gpu_buf_size(logits) - offset)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "sampler: %u logits at offset %llu do not fit an aligned range of "
                             "the %llu-byte buffer", s->n_vocab, (unsigned long long)offset,
                             (unsigned long long)wgml_gpu_buf_size(logits));
    return WGML_OK;
}

static wgml_status record_passes(wgml_sampler *s, wgml_gpu_binding x, wgml_gpu_buf *out,
                                 uint32_t out_index, uint64_t step);

wgml_status wgml_sampler_record(wgml_sampler *s, wgml_gpu_buf *logits, uint64_t offset,
                                const int32_t *recent, uint32_t n_recent, uint64_t step)
{
    if (!s) return WGML_ERR_INVALID_ARGUMENT;
    wgml_gpu *gpu = s->gpu;
    if (n_recent && !recent)
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "sampler: NULL argument");
    wgml_status st = check_logits(s, logits, offset);
    if (st) return st;
    wgml_gpu_binding x = {logits, offset, 4ull * s->n_vocab, 1};
    if (s->r.penalty_on && n_recent) {
        uint32_t u = distinct_recent(recent, n_recent, s->r.last_n, s->n_vocab, s->scratch);
        if (u) {
            uint32_t head[2] = {s->n_vocab, u};
            float f[2] = {s->r.penalty, s->r.inv_penalty};
            memcpy(s->penalty_params, head, 8);
            memcpy(s->penalty_params + 8, f, 8);
            memset(s->penalty_params + PENALTY_HEADER, 0, 16ull * s->cap4);
            memcpy(s->penalty_params + PENALTY_HEADER, s->scratch, 4ull * u);
            if ((st = wgml_gpu_dispatch(gpu, s->pipe[PIPE_PENALTY], s->penalty_params,
                                        PENALTY_HEADER + 16ull * s->cap4, &x, 1,
                                        (u + WG - 1) / WG, 1, 1)))
                return st;
        }
    }
    return record_passes(s, x, NULL, 0, step);
}

wgml_status wgml_sampler_record_chained(wgml_sampler *s, wgml_gpu_buf *logits, uint64_t offset,
                                        wgml_gpu_buf *tokens, uint32_t first, uint32_t n_recent,
                                        uint32_t out, uint64_t step)
{
    if (!s) return WGML_ERR_INVALID_ARGUMENT;
    wgml_gpu *gpu = s->gpu;
    if (!tokens) return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT, "sampler: NULL argument");
    wgml_status st = check_logits(s, logits, offset);
    if (st) return st;
    uint64_t need = 4ull * ((uint64_t)first + n_recent > (uint64_t)out + 1
                                ? (uint64_t)first + n_recent : (uint64_t)out + 1);
    if (need > wgml_gpu_buf_size(tokens))
        return wgml_gpu_fail(gpu, WGML_ERR_INVALID_ARGUMENT,
                             "sampler: token elements up to %llu are past the %llu-byte buffer",
                             (unsigned long long)(need / 4 - 1),
                             (unsigned long long)wgml_gpu_buf_size(tokens));
    wgml_gpu_binding x = {logits, offset, 4ull * s->n_vocab, 1};
    if (s->r.penalty_on && n_recent) {
        // The last repeat_last_n of them, as wgml_sampler_record takes.
        if (n_recent > s->r.last_n) {
            first += n_recent - s->r.last_n;
            n_recent = s->r.last_n;
        }
        struct {
            uint32_t n_vocab, count;
            float penalty, inv_penalty;
            uint32_t first, pad[3];
        } pp = {s->n_vocab, n_recent, s->r.penalty, s->r.inv_penalty, first, {0, 0, 0}};
        wgml_gpu_binding b[2] = {x, {tokens, 0, 0, 2}};
        if ((st = wgml_gpu_dispatch(gpu, s->pipe[PIPE_PENALTY_GPU], &pp, sizeof pp, b, 2,
                                    (n_recent + WG - 1) / WG, 1, 1)))
            return st;
    }
    return record_passes(s, x, tokens, out, step);
}

// The passes after the penalty; with `out`, the final one also stores the id
// at element out_index of it.
static wgml_status record_passes(wgml_sampler *s, wgml_gpu_binding x, wgml_gpu_buf *out,
                                 uint32_t out_index, uint64_t step)
{
    wgml_gpu *gpu = s->gpu;
    wgml_status st;
    pass_params pp = {
        .n = s->n_vocab, .items = s->items, .groups = s->groups,
        .flags = (s->r.top_k ? FLAG_TOP_K : 0) | (s->r.top_p_on ? FLAG_TOP_P : 0) |
                 (s->r.min_p_on ? FLAG_MIN_P : 0),
        .top_k = s->r.top_k, .top_p32 = s->r.top_p32, .min_p_log = s->r.min_p_log,
        .inv_temp = s->r.inv_temp,
        .seed_lo = (uint32_t)s->params.seed, .seed_hi = (uint32_t)(s->params.seed >> 32),
        .step_lo = (uint32_t)step, .step_hi = (uint32_t)(step >> 32), .out_index = out_index,
    };
    wgml_gpu_binding b[4] = {x, {s->work, 0, 0, 2}, {s->hist, 0, 0, 3}, {out, 0, 0, 4}};
    if ((st = wgml_gpu_dispatch(gpu, s->pipe[PIPE_MAX], &pp, sizeof pp, b, 3, s->groups, 1, 1)))
        return st;
    pp.op_in = OP_MAX;
    if (s->r.greedy)
        return out ? wgml_gpu_dispatch(gpu, s->pipe[PIPE_GREEDY_OUT], &pp, sizeof pp, b + 1, 3,
                                       1, 1, 1)
                   : wgml_gpu_dispatch(gpu, s->pipe[PIPE_GREEDY], &pp, sizeof pp, b + 1, 2,
                                       1, 1, 1);
    // Each later pass applies the state update its predecessor's output allows.
    for (uint32_t kind = 0; kind < 2; kind++) {
        if (kind == 0 ? !s->r.top_k : !s->r.top_p_on) continue;
        for (uint32_t level = 0; level < 4; level++) {
            pp.slot++;
            pp.kind = kind;
            pp.level = level;
            if ((st = wgml_gpu_dispatch(gpu, s->pipe[PIPE_HIST], &pp, sizeof pp, b, 3, s->groups,
                                        1, 1)))
                return st;
            pp.op_in = kind == 0 ? OP_SELECT_K : OP_SELECT_P;
            pp.level_in = level;
        }
    }
    pp.slot++;
    if ((st = wgml_gpu_dispatch(gpu, s->pipe[PIPE_PARTIAL], &pp, sizeof pp, b, 3, s->groups, 1, 1)))
        return st;
    pp.slot++;
    pp.op_in = OP_NONE;
    return wgml_gpu_dispatch(gpu, s->pipe[out ? PIPE_FINAL_OUT : PIPE_FINAL], &pp, sizeof pp, b,
                             out ? 4 : 3, 1, 1, 1);
}

wgml_status wgml_sampler_result(wgml_sampler *s, int32_t *token)
{
    if (!s || !token) return WGML_ERR_INVALID_ARGUMENT;
    uint32_t id = 0;
    wgml_status st = wgml_gpu_buf_read(s->gpu, s->work, 0, &id, 4);
    if (st) return st;
    if (id >= s->n_vocab)
        return wgml_gpu_fail(s->gpu, WGML_ERR_GPU, "sampler: the GPU chose id %u of %u", id,
                             s->n_vocab);
    *token = (int32_t)id;
    return WGML_OK;
}

wgml_status wgml_sampler_result_random(wgml_sampler *s, uint32_t *r)
{
    if (!s || !r) return WGML_ERR_INVALID_ARGUMENT;
    return wgml_gpu_buf_read(s->gpu, s->work, 4, r, 4);
}
