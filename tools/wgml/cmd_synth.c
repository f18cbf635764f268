// wgml synth: writes a Llama-architecture GGUF with random weights, for tests
// and performance runs at real model shapes without downloading a model.
//
// Dimension legend (GGUF order, ne[0] contiguous; see formats/gguf.h)
//   D   embedding_length (dim)       F   feed_forward_length
//   H   head_count                   Hk  head_count_kv
//   Dh  D / H (head size)            V   vocabulary size
//
// Tensors (llama.cpp names):
//   token_embd.weight          (D, V)      output.weight      (D, V)  unless tied
//   blk.N.attn_norm.weight     (D)         blk.N.ffn_norm.weight     (D)
//   blk.N.attn_q.weight        (D, D)      blk.N.attn_output.weight  (D, D)
//   blk.N.attn_k.weight        (D, Hk*Dh)  blk.N.attn_v.weight       (D, Hk*Dh)
//   blk.N.ffn_gate.weight      (D, F)      blk.N.ffn_up.weight       (D, F)
//   blk.N.ffn_down.weight      (F, D)      output_norm.weight        (D)
//
// Matrices hold w ~ N(0, 1/K) (K = ne[0], the fan-in) so that a matrix-vector
// product keeps its input's scale; norm weights are 1. Each element is a pure
// function of (seed, tensor, index), so the file is produced chunk by chunk
// through the writer's fill callback (an 8B F16 file is 16 GB) and the same
// seed always gives the same bytes. The normal deviates are Irwin-Hall sums
// of four 16-bit uniforms: mean 0, the stated variance, bounded at 3.46
// sigma (no outliers to upset the block quantisers), and cheap.
#include "cli.h"
#include "formats/gguf.h"
#include "formats/quant.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: wgml synth --output FILE [--preset NAME] [options]\n"
    "\n"
    "Writes a Llama-architecture GGUF model with random weights (llama.cpp tensor\n"
    "names and llama.* metadata): for tests and for timing real shapes.\n"
    "\n"
    "  --output, -o FILE    the GGUF file to write\n"
    "  --preset NAME        tiny (default: dim 64, 2 layers, 4 heads, 2 KV heads,\n"
    "                       ffn 192, vocab 512), smollm2-135m, llama3-8b\n"
    "  --dim N --layers N --heads N --kv-heads N --ffn N --vocab N --ctx N\n"
    "                       override the preset's shape\n"
    "  --type T             matrices in f32, f16, q8_0, q4_0 or q4_1 (default f16);\n"
    "                       norms stay f32\n"
    "  --tied / --untied    share token_embd.weight as the output matrix (the\n"
    "                       smollm2-135m default) or write output.weight\n"
    "  --seed N             random seed (default 1): the same seed, the same bytes\n"
    "  --tokenizer-from F   copy the tokenizer.* metadata of GGUF file F (the\n"
    "                       vocabulary size follows its token count); otherwise a\n"
    "                       byte-level BPE vocabulary (\"gpt2\") is generated: GPT-2's\n"
    "                       256 byte tokens, merges up to the size, <|endoftext|>\n"
    "  --quiet              no progress on the terminal\n";

typedef struct shape {
    long dim, layers, heads, kv_heads, ffn, vocab, ctx;
    double rope_base, eps;
    int tied;
} shape;

static const struct {
    const char *name;
    shape s;
} presets[] = {
    {"tiny", {64, 2, 4, 2, 192, 512, 256, 10000.0, 1e-5, 0}},
    // HuggingFaceTB/SmolLM2-135M-Instruct's config (as its GGUF states it).
    {"smollm2-135m", {576, 30, 9, 3, 1536, 49152, 8192, 100000.0, 1e-5, 1}},
    // Meta Llama 3 8B's config.
    {"llama3-8b", {4096, 32, 32, 8, 14336, 128256, 8192, 500000.0, 1e-5, 0}},
};

// ---------------------------------------------------------------- random weights

typedef struct synth_tensor {
    char name[64];
    uint32_t type;
    uint64_t ne0, ne1;   // K, N (ne1 = 1 for norms)
    float std;           // 0: all ones (norms)
    uint64_t id;         // mixed into every element's hash
} synth_tensor;

typedef struct synth {
    synth_tensor *t;
    size_t n;
    uint64_t seed;
    float *x;            // scratch: f32 values of the blocks being filled
    size_t x_cap;
    uint64_t done, total;   // bytes, for the progress line
    int progress;
    struct timespec last;
} synth;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Elements [first, first + n) of tensor t: std * (approximately standard
// normal deviates). Four 16-bit uniforms u_k = (h_k + 0.5) / 65536 sum to
// (h_0 + h_1 + h_2 + h_3 + 2) / 65536, of mean 2 and variance 4/12.
static void elements(const synth *s, const synth_tensor *t, uint64_t first, size_t n, float *x)
{
    if (t->std == 0) {
        for (size_t i = 0; i < n; i++) x[i] = 1.0f;
        return;
    }
    uint64_t base = splitmix64(s->seed ^ t->id << 40);
    double scale = sqrt(3.0) * t->std / 65536.0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = splitmix64(base + first + i);
        int64_t sum = (int64_t)(h & 0xffff) + (int64_t)(h >> 16 & 0xffff) +
                      (int64_t)(h >> 32 & 0xffff) + (int64_t)(h >> 48) + 2 - 131072;
        x[i] = (float)((double)sum * scale);
    }
}

static wgml_quant quant_of(uint32_t type)
{
    switch (type) {
    case WGML_GGUF_F16: return WGML_QUANT_F16;
    case WGML_GGUF_Q8_0: return WGML_QUANT_Q8_0;
    case WGML_GGUF_Q4_0: return WGML_QUANT_Q4_0;
    case WGML_GGUF_Q4_1: return WGML_QUANT_Q4_1;
    default: return WGML_QUANT_F32;
    }
}

static void show_progress(synth *s, uint64_t n)
{
    s->done += n;
    if (!s->progress) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(now.tv_sec - s->last.tv_sec) + (now.tv_nsec - s->last.tv_nsec) * 1e-9;
    if (dt < 0.2 && s->done < s->total) return;
    s->last = now;
    fprintf(stderr, "\rwgml synth: %.0f / %.0f MiB (%.0f%%)", s->done / 1048576.0,
            s->total / 1048576.0, 100.0 * (double)s->done / (double)s->total);
    if (s->done >= s->total) fputc('\n', stderr);
}

// The writer's fill: bytes [offset, offset + n) of a tensor. Whole blocks
// around the range are generated and quantised; the range is cut out of them.
static wgml_status fill(void *user, const char *name, uint64_t offset, void *dst, size_t n)
{
    synth *s = user;
    const synth_tensor *t = NULL;
    for (size_t i = 0; i < s->n && !t; i++)
        if (!strcmp(s->t[i].name, name)) t = &s->t[i];
    if (!t) return WGML_ERR_INVALID_ARGUMENT;
    uint32_t be, bb;
    wgml_gguf_type_block(t->type, &be, &bb);
    uint64_t b0 = offset / bb, b1 = (offset + n + bb - 1) / bb;
    size_t elems = (size_t)((b1 - b0) * be);
    if (elems > s->x_cap) {
        // Room for the floats and, after them, their bytes in any type (at
        // most 4 bytes an element, F32's).
        float *x = realloc(s->x, elems * sizeof *x + elems * 4);
        if (!x) return WGML_ERR_OUT_OF_MEMORY;
        s->x = x;
        s->x_cap = elems;
    }
    elements(s, t, b0 * be, elems, s->x);
    // Quantised bytes go after the floats in the same scratch buffer.
    unsigned char *q = (unsigned char *)(s->x + s->x_cap);
    wgml_quant qt = quant_of(t->type);
    wgml_status st = wgml_quant_quantize(qt, s->x, q, (b1 - b0) * be / wgml_quant_block_elems(qt),
                                         wgml_quant_block_elems(qt));
    if (st) return st;
    memcpy(dst, q + (offset - b0 * bb), n);
    show_progress(s, n);
    return WGML_OK;
}

// ---------------------------------------------------------------- tokenizer

// GPT-2's byte-level alphabet: printable bytes stand for themselves, the
// others (0-32, 127-160, 173) for code points 256, 257, ... in byte order
// (the rule of GPT-2's bytes_to_unicode). Writes the UTF-8 of byte b's
// character to out (2 bytes at most) and returns its length.
static int byte_char(int b, char *out)
{
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    int cp = b;
    if (!printable) {
        int k = 0;
        for (int c = 0; c < b; c++)
            k += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174));
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

// A byte-level BPE vocabulary of `vocab` tokens: the 256 byte tokens, then
// merges that extend a queue of prefixes (space, then letters by English
// frequency) one letter at a time, breadth first, then <|endoftext|>.
static wgml_status add_tokenizer(wgml_gguf_writer *w, long vocab)
{
    static const char letters[] = "etaoinshrdlcumwfgypbvkjxqz";
    size_t n_merges = (size_t)vocab - 257;
    char **tok = calloc((size_t)vocab, sizeof *tok);
    char **merges = calloc(n_merges ? n_merges : 1, sizeof *merges);
    int32_t *types = calloc((size_t)vocab, sizeof *types);
    wgml_status st = WGML_ERR_OUT_OF_MEMORY;
    if (!tok || !merges || !types) goto done;
    for (int b = 0; b < 256; b++) {
        char c[3] = {0};
        byte_char(b, c);
        if (!(tok[b] = strdup(c))) goto done;
        types[b] = 1;   // NORMAL
    }
    // The queue of prefixes to extend: "Ġ" (space) and the letters, then every new token.
    size_t queue_head = 0, n_tok = 256;
    size_t queue[27];
    queue[0] = ' ';
    for (int i = 0; i < 26; i++) queue[1 + i] = (size_t)letters[i];
    for (size_t m = 0; m < n_merges; queue_head++) {
        size_t base = queue_head < 27 ? queue[queue_head] : 256 + (queue_head - 27);
        for (int l = 0; l < 26 && m < n_merges; l++, m++) {
            const char *a = tok[base], *b = tok[(unsigned char)letters[l]];
            size_t la = strlen(a), lb = strlen(b);
            char *t = malloc(la + lb + 1), *mg = malloc(la + lb + 2);
            if (!t || !mg) {
                free(t);
                free(mg);
                goto done;
            }
            memcpy(t, a, la);
            memcpy(t + la, b, lb + 1);
            memcpy(mg, a, la);
            mg[la] = ' ';
            memcpy(mg + la + 1, b, lb + 1);
            tok[n_tok] = t;
            types[n_tok++] = 1;
            merges[m] = mg;
        }
    }
    if (!(tok[n_tok] = strdup("<|endoftext|>"))) goto done;
    types[n_tok] = 3;   // CONTROL
    if ((st = wgml_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2")) ||
        (st = wgml_gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2")) ||
        (st = wgml_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok,
                                           (size_t)vocab)) ||
        (st = wgml_gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (size_t)vocab)) ||
        (st = wgml_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges",
                                           (const char *const *)merges, n_merges)) ||
        (st = wgml_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)n_tok)) ||
        (st = wgml_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)n_tok)))
        goto done;
    st = WGML_OK;
done:
    for (long i = 0; tok && i < vocab; i++) free(tok[i]);
    for (size_t i = 0; merges && i < n_merges; i++) free(merges[i]);
    free(tok);
    free(merges);
    free(types);
    return st;
}

// Copies every tokenizer.* key of `path`; *vocab becomes its token count.
static int copy_tokenizer(wgml_gguf_writer *w, const char *path, long *vocab)
{
    wgml_gguf *g;
    char err[512];
    wgml_status st = wgml_gguf_open_file(path, &g, err, sizeof err);
    if (st) {
        fprintf(stderr, "wgml synth: --tokenizer-from: %s\n", err);
        return 1;
    }
    wgml_gguf_value_type et;
    uint64_t n = 0;
    if (!wgml_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) || et != WGML_GGUF_STRING || !n ||
        n > INT32_MAX) {
        fprintf(stderr, "wgml synth: %s has no tokenizer.ggml.tokens string array\n", path);
        wgml_gguf_close(g);
        return 1;
    }
    *vocab = (long)n;
    for (size_t i = 0; i < wgml_gguf_kv_count(g) && !st; i++) {
        const char *key = wgml_gguf_kv_key(g, i);
        if (!strncmp(key, "tokenizer.", 10)) st = wgml_gguf_writer_copy_kv(w, g, key);
    }
    if (st) fprintf(stderr, "wgml synth: copying the tokenizer: %s\n", wgml_gguf_writer_last_error(w));
    wgml_gguf_close(g);
    return st ? 1 : 0;
}

// ---------------------------------------------------------------- the command

static int add_tensor(wgml_gguf_writer *w, synth *s, const char *name, uint32_t type, uint64_t ne0,
                      uint64_t ne1)
{
    synth_tensor *t = &s->t[s->n];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->std = ne1 > 1 ? (float)(1.0 / sqrt((double)ne0)) : 0.0f;
    t->id = s->n + 1;
    uint32_t be, bb;
    wgml_gguf_type_block(type, &be, &bb);
    uint64_t ne[2] = {ne0, ne1};
    uint64_t size = ne0 * ne1 / be * bb;
    if (wgml_gguf_writer_add_tensor(w, name, type, ne1 > 1 ? 2 : 1, ne, NULL, (size_t)size)) {
        fprintf(stderr, "wgml synth: %s\n", wgml_gguf_writer_last_error(w));
        return 1;
    }
    s->n++;
    s->total += size;
    return 0;
}

static int parse_opt_long(const char *opt, const char *v, long lo, long hi, long *out)
{
    if (!v || !cli_parse_long(v, lo, hi, out)) {
        fprintf(stderr, "wgml synth: %s needs a whole number in %ld..%ld\n", opt, lo, hi);
        return 0;
    }
    return 1;
}

int wgml_cmd_synth(int argc, char **argv)
{
    shape sh = presets[0].s;
    const char *output = NULL, *tokenizer_from = NULL, *preset = "tiny";
    uint32_t type = WGML_GGUF_F16;
    unsigned long long seed = 1;
    int quiet = 0, tied = -1, vocab_given = 0;
    long v;
    // The preset first, so that explicit sizes override it wherever they stand.
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--preset")) preset = argv[i + 1];
    size_t p = 0;
    while (p < sizeof presets / sizeof presets[0] && strcmp(presets[p].name, preset)) p++;
    if (p == sizeof presets / sizeof presets[0]) {
        fprintf(stderr, "wgml synth: unknown preset '%s' (tiny, smollm2-135m, llama3-8b)\n", preset);
        return 2;
    }
    sh = presets[p].s;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        static const struct { const char *opt; size_t off; long lo, hi; } sizes[] = {
            {"--dim", offsetof(shape, dim), 1, 1 << 20},
            {"--layers", offsetof(shape, layers), 1, 4096},
            {"--heads", offsetof(shape, heads), 1, 4096},
            {"--kv-heads", offsetof(shape, kv_heads), 1, 4096},
            {"--ffn", offsetof(shape, ffn), 1, 1 << 22},
            {"--vocab", offsetof(shape, vocab), 257, 1 << 24},
            {"--ctx", offsetof(shape, ctx), 1, 1 << 24},
        };
        size_t k = 0;
        while (k < sizeof sizes / sizeof sizes[0] && strcmp(a, sizes[k].opt)) k++;
        if (cli_is_help(a)) {
            fputs(USAGE, stdout);
            return 0;
        } else if (k < sizeof sizes / sizeof sizes[0]) {
            if (!parse_opt_long(a, next, sizes[k].lo, sizes[k].hi, &v)) return 2;
            *(long *)((char *)&sh + sizes[k].off) = v;
            vocab_given |= !strcmp(a, "--vocab");
            i++;
        } else if (!strcmp(a, "--preset") && next) {
            i++;
        } else if ((!strcmp(a, "--output") || !strcmp(a, "-o")) && next) {
            output = argv[++i];
        } else if (!strcmp(a, "--tokenizer-from") && next) {
            tokenizer_from = argv[++i];
        } else if (!strcmp(a, "--type") && next) {
            int q = wgml_quant_by_name(next);
            static const uint32_t gguf_of[] = {WGML_GGUF_F32, WGML_GGUF_F16, 0, WGML_GGUF_Q8_0,
                                               WGML_GGUF_Q4_0, WGML_GGUF_Q4_1};
            if (q < 0 || q == WGML_QUANT_I8) {
                fprintf(stderr, "wgml synth: --type must be f32, f16, q8_0, q4_0 or q4_1\n");
                return 2;
            }
            type = gguf_of[q];
            i++;
        } else if (!strcmp(a, "--seed") && next) {
            char *end;
            seed = strtoull(next, &end, 10);
            if (!*next || *end) {
                fprintf(stderr, "wgml synth: --seed needs a whole number\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--tied") || !strcmp(a, "--untied")) {
            tied = !strcmp(a, "--tied");
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else {
            fprintf(stderr, "wgml synth: unknown or incomplete option '%s'\n\n%s", a, USAGE);
            return 2;
        }
    }
    if (tied >= 0) sh.tied = tied;
    if (!output) {
        fprintf(stderr, "wgml synth: --output FILE is required\n\n%s", USAGE);
        return 2;
    }
    uint32_t be = 1;
    wgml_gguf_type_block(type, &be, NULL);
    long head_dim = sh.dim / sh.heads;
    const char *bad = sh.dim % sh.heads               ? "--dim must be a multiple of --heads"
                      : sh.heads % sh.kv_heads        ? "--heads must be a multiple of --kv-heads"
                      : head_dim % 2                  ? "the head size (dim / heads) must be even (RoPE)"
                      : sh.dim % be || sh.ffn % be    ? "--dim and --ffn must be multiples of 32 "
                                                        "for a block type"
                                                      : NULL;
    if (bad) {
        fprintf(stderr, "wgml synth: %s\n", bad);
        return 2;
    }

    int rc = 1;
    wgml_gguf_writer *w = wgml_gguf_writer_create();
    synth s = {.seed = seed, .progress = !quiet && isatty(2)};
    size_t n_tensors = (size_t)sh.layers * 9 + 3;
    s.t = calloc(n_tensors, sizeof *s.t);
    if (!w || !s.t) {
        fprintf(stderr, "wgml synth: out of memory\n");
        goto done;
    }
    char name[96];
    snprintf(name, sizeof name, "wgml synth %s (random weights, seed %llu)", preset, seed);
    wgml_status st;
    if ((st = wgml_gguf_writer_set_str(w, "general.architecture", "llama")) ||
        (st = wgml_gguf_writer_set_str(w, "general.name", name)) ||
        (st = wgml_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)sh.ctx)) ||
        (st = wgml_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)sh.dim)) ||
        (st = wgml_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)sh.layers)) ||
        (st = wgml_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)sh.ffn)) ||
        (st = wgml_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)sh.heads)) ||
        (st = wgml_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)sh.kv_heads)) ||
        (st = wgml_gguf_writer_set_f32(w, "llama.rope.freq_base", (float)sh.rope_base)) ||
        (st = wgml_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", (float)sh.eps)) ||
        (st = wgml_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)head_dim))) {
        fprintf(stderr, "wgml synth: %s\n", wgml_gguf_writer_last_error(w));
        goto done;
    }
    if (tokenizer_from) {
        long n_vocab;
        if (copy_tokenizer(w, tokenizer_from, &n_vocab)) goto done;
        if (vocab_given && n_vocab != sh.vocab) {
            fprintf(stderr, "wgml synth: --vocab %ld, but %s has %ld tokens\n", sh.vocab,
                    tokenizer_from, n_vocab);
            rc = 2;
            goto done;
        }
        sh.vocab = n_vocab;
    } else if (add_tokenizer(w, sh.vocab)) {
        fprintf(stderr, "wgml synth: making the tokenizer: %s\n", wgml_gguf_writer_last_error(w));
        goto done;
    }
    if (wgml_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)sh.vocab)) {
        fprintf(stderr, "wgml synth: %s\n", wgml_gguf_writer_last_error(w));
        goto done;
    }
    uint64_t D = (uint64_t)sh.dim, F = (uint64_t)sh.ffn, V = (uint64_t)sh.vocab;
    uint64_t KV = (uint64_t)(sh.kv_heads * head_dim);
    if (add_tensor(w, &s, "token_embd.weight", type, D, V)) goto done;
    for (long l = 0; l < sh.layers; l++) {
        static const char *const norms[] = {"attn_norm", "ffn_norm"};
        static const struct { const char *name; int k, n; } mats[] = {
            {"attn_q", 'D', 'D'},   {"attn_k", 'D', 'K'},  {"attn_v", 'D', 'K'},
            {"attn_output", 'D', 'D'}, {"ffn_gate", 'D', 'F'}, {"ffn_up", 'D', 'F'},
            {"ffn_down", 'F', 'D'},
        };
        char tn[64];
        for (int i = 0; i < 2; i++) {
            snprintf(tn, sizeof tn, "blk.%ld.%s.weight", l, norms[i]);
            if (add_tensor(w, &s, tn, WGML_GGUF_F32, D, 1)) goto done;
        }
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            uint64_t k = mats[i].k == 'D' ? D : F;
            uint64_t n = mats[i].n == 'D' ? D : mats[i].n == 'K' ? KV : F;
            snprintf(tn, sizeof tn, "blk.%ld.%s.weight", l, mats[i].name);
            if (add_tensor(w, &s, tn, type, k, n)) goto done;
        }
    }
    if (add_tensor(w, &s, "output_norm.weight", WGML_GGUF_F32, D, 1)) goto done;
    if (!sh.tied && add_tensor(w, &s, "output.weight", type, D, V)) goto done;

    clock_gettime(CLOCK_MONOTONIC, &s.last);
    char err[512];
    if ((st = wgml_gguf_writer_write_file(w, output, fill, &s, err, sizeof err))) {
        if (s.progress) fputc('\n', stderr);
        fprintf(stderr, "wgml synth: %s: %s\n", wgml_status_name(st), err);
        goto done;
    }
    uint64_t params = 0;
    for (size_t i = 0; i < s.n; i++) params += s.t[i].ne0 * s.t[i].ne1;
    printf("wrote %s: llama, dim %ld, %ld layers, %ld heads (%ld KV), ffn %ld, vocab %ld, %s%s, "
           "%zu tensors, %.1f M parameters, %.1f MiB\n", output, sh.dim, sh.layers, sh.heads,
           sh.kv_heads, sh.ffn, sh.vocab, wgml_gguf_type_name(type), sh.tied ? ", tied" : "",
           s.n, params / 1e6, s.total / 1048576.0);
    rc = 0;
done:
    wgml_gguf_writer_free(w);
    free(s.t);
    free(s.x);
    return rc;
}
