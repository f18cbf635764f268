// wgml generate and wgml chat: text generation with a Llama-family GGUF model
// (the wgml_llm API of wgml.h), streamed to standard output.
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MODEL "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"

static const char GENERATE_USAGE[] =
    "usage: wgml generate [-m FILE] -p PROMPT [options]\n"
    "\n"
    "Generates text from a prompt with a Llama-family GGUF model (Llama 2/3,\n"
    "SmolLM2, Qwen2), streaming it to standard output as it comes.\n"
    "\n"
    "  -m, --model FILE      GGUF model; default .deps/models/" DEFAULT_MODEL "\n"
    "                        of the source tree (found from the executable's location)\n"
    "  -p, --prompt TEXT     the prompt (special tokens such as <|im_start|> are read)\n"
    "  -f, --file F          the prompt from a file ('-': standard input)\n"
    "  --chat                wrap the prompt as a user message in the model's chat template\n"
    "  --system TEXT         with --chat: a system message first\n"
    "  --json                print one JSON object instead of streaming: the text, the ids\n"
    "                        of the generated tokens and the statistics (load time,\n"
    "                        prefill tokens and tokens/s, decode tokens/s, why it\n"
    "                        stopped, the seed)\n"
    "  --stats               statistics on standard error after the text\n"
    "  --warmup N            generate N times first, unreported (the cache reset after\n"
    "                        each): the reported run then finds its kernels compiled and\n"
    "                        the GPU's clocks up, as benchmarks measure steady state\n"
    "%s";

static const char CHAT_USAGE[] =
    "usage: wgml chat [-m FILE] [options]\n"
    "\n"
    "An interactive conversation on standard input, one message per line, in the\n"
    "model's chat template (ChatML, Llama 3, Llama 2). The KV cache is kept\n"
    "between turns: only the new part of the conversation is prefilled. Ctrl-C\n"
    "stops an answer; at the prompt, Ctrl-C twice or Ctrl-D (end of input) quits.\n"
    "A line \"/reset\" starts a new conversation.\n"
    "\n"
    "  -m, --model FILE      GGUF model (default as for wgml generate)\n"
    "  --system TEXT         the system message\n"
    "  --stats               one JSON line of statistics per turn on standard error\n"
    "%s";

static const char COMMON_USAGE[] =
    "  -n, --max-tokens N    tokens to generate at most (default 256; 0: until the model\n"
    "                        ends or the context is full)\n"
    "  --temp T              temperature (default 0.8; 0: greedy)\n"
    "  --top-k K             keep the K most likely tokens (default 40; 0: off)\n"
    "  --top-p P             keep the most likely tokens holding P of the probability\n"
    "                        (default 0.95; 1: off)\n"
    "  --min-p P             keep tokens at least P times as likely as the best\n"
    "                        (default 0.05; 0: off)\n"
    "  --repeat-penalty R    penalise recent tokens (default 1: off)\n"
    "  --repeat-last-n N     how many recent tokens (default 64)\n"
    "  --seed N              random seed (default: from the clock; printed by --json)\n"
    "  --ignore-eos          go on past end-of-generation tokens\n"
    "  --ctx N               context length in tokens (default: min(model's, 4096))\n"
    "  --decode-batch N      decode steps per GPU submit, 1..64 (default 16); the\n"
    "                        text comes in bursts of N tokens and does not depend on it\n"
    "  --f32                 f32 activations and KV cache (default: f16 cache where\n"
    "                        the device has shader-f16)\n";

typedef struct options {
    const char *model, *prompt, *file, *system;
    bool chat, json, stats, f32;
    wgml_generate_params gp;
    bool seed_given;
    long n_ctx, warmup;
} options;

// Parses the options both commands share, and each one's own. Returns 0 on
// success, 2 (after a message) on a bad argument, -1 after printing help.
static int parse(int argc, char **argv, bool is_chat, options *o)
{
    const char *cmd = is_chat ? "wgml chat" : "wgml generate";
    memset(o, 0, sizeof *o);
    o->gp = (wgml_generate_params){.max_tokens = 256, .temperature = 0.8f, .top_k = 40,
                                   .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
                                   .repeat_last_n = 64};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            printf(is_chat ? CHAT_USAGE : GENERATE_USAGE, COMMON_USAGE);
            return -1;
        }
        bool flag = true;
        if (!strcmp(a, "--json") && !is_chat) o->json = true;
        else if (!strcmp(a, "--chat") && !is_chat) o->chat = true;
        else if (!strcmp(a, "--stats")) o->stats = true;
        else if (!strcmp(a, "--f32")) o->f32 = true;
        else if (!strcmp(a, "--ignore-eos")) o->gp.ignore_eog = true;
        else flag = false;
        if (flag) continue;
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value (or is unknown; see --help)\n", cmd, a);
            return 2;
        }
        const char *v = argv[++i];
        long n;
        char *end;
        double d = strtod(v, &end);
        bool num_ok = *v && !*end && isfinite(d);
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && !is_chat) o->prompt = v;
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && !is_chat) o->file = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            if (!cli_parse_long(v, 0, 1L << 30, &n)) goto bad;
            o->gp.max_tokens = (uint32_t)n;
        } else if (!strcmp(a, "--temp")) {
            if (!num_ok || d < 0 || d > 100) goto bad;
            o->gp.temperature = (float)d;
        } else if (!strcmp(a, "--top-k")) {
            if (!cli_parse_long(v, 0, 1L << 24, &n)) goto bad;
            o->gp.top_k = (uint32_t)n;
        } else if (!strcmp(a, "--top-p")) {
            if (!num_ok || d < 0 || d > 1) goto bad;
            o->gp.top_p = (float)d;
        } else if (!strcmp(a, "--min-p")) {
            if (!num_ok || d < 0 || d > 1) goto bad;
            o->gp.min_p = (float)d;
        } else if (!strcmp(a, "--repeat-penalty")) {
            if (!num_ok || d < 0 || d > 100) goto bad;
            o->gp.repeat_penalty = (float)d;
        } else if (!strcmp(a, "--repeat-last-n")) {
            if (!cli_parse_long(v, 1, 8192, &n)) goto bad;
            o->gp.repeat_last_n = (uint32_t)n;
        } else if (!strcmp(a, "--seed")) {
            char *e2;
            errno = 0;
            unsigned long long s = strtoull(v, &e2, 10);
            if (!*v || *e2 || errno || *v == '-') goto bad;
            o->gp.seed = s;
            o->seed_given = true;
        } else if (!strcmp(a, "--decode-batch")) {
            if (!cli_parse_long(v, 1, 64, &n)) goto bad;
            o->gp.decode_batch = (uint32_t)n;
        } else if (!strcmp(a, "--ctx")) {
            if (!cli_parse_long(v, 1, 1L << 24, &n)) goto bad;
            o->n_ctx = n;
        } else if (!strcmp(a, "--warmup") && !is_chat) {
            if (!cli_parse_long(v, 0, 100, &n)) goto bad;
            o->warmup = n;
        } else {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", cmd, a);
            return 2;
        }
        continue;
    bad:
        fprintf(stderr, "%s: bad value '%s' for %s (see --help)\n", cmd, v, a);
        return 2;
    }
    if (!is_chat) {
        if (!o->prompt == !o->file) {
            fprintf(stderr, "%s: give the prompt with -p TEXT or -f FILE (one of them)\n", cmd);
            return 2;
        }
        if (o->system && !o->chat) {
            fprintf(stderr, "%s: --system goes with --chat\n", cmd);
            return 2;
        }
    }
    if (!o->seed_given) o->gp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return 0;
}

// .deps/models/<default> of the source tree that holds this executable
// (build/<impl>/wgml), else of the tree it was built from.
static const char *default_model(char *buf, size_t cap)
{
    static const char *rel[] = {"/../../.deps/models/", "/../.deps/models/", "/.deps/models/"};
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(buf, cap, "%s%s%s", exe, rel[i], DEFAULT_MODEL);
            if (access(buf, R_OK) == 0) return buf;
        }
    }
    snprintf(buf, cap, "%s/.deps/models/%s", WGML_SOURCE_DIR, DEFAULT_MODEL);
    return buf;
}

// Loads the model; prints the loader's message and returns NULL on failure.
static wgml_llm *load(const char *cmd, const options *o, wgml_ctx **ctx)
{
    char err[1024], model_buf[PATH_MAX + 128];
    const char *model = o->model ? o->model : default_model(model_buf, sizeof model_buf);
    wgml_status st = wgml_ctx_create(NULL, ctx, err, sizeof err);
    if (st) {
        fprintf(stderr, "%s: no usable GPU (%s): %s\n", cmd, wgml_status_name(st), err);
        return NULL;
    }
    wgml_llm_params p = {.n_ctx = (uint32_t)o->n_ctx,
                         .precision = o->f32 ? WGML_PRECISION_F32 : WGML_PRECISION_AUTO};
    wgml_llm *llm = NULL;
    if ((st = wgml_llm_load(*ctx, model, &p, &llm))) {
        fprintf(stderr, "%s: cannot load the model (%s): %s\n", cmd, wgml_status_name(st),
                wgml_ctx_last_error(*ctx));
        if (!o->model) fprintf(stderr, "%s: give the model with -m FILE\n", cmd);
        wgml_ctx_free(*ctx);
        *ctx = NULL;
    }
    return llm;
}

// The generated text, kept (for --json and the conversation) and optionally streamed.
typedef struct sink {
    char *s;
    size_t n, cap;
    bool stream, failed;
} sink;

static bool on_text(void *user, const char *text, size_t len)
{
    sink *k = user;
    if (k->stream) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    if (k->n + len + 1 > k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 1024;
        while (cap < k->n + len + 1) cap *= 2;
        char *p = realloc(k->s, cap);
        if (!p) {
            k->failed = true;
            return false;
        }
        k->s = p;
        k->cap = cap;
    }
    memcpy(k->s + k->n, text, len);
    k->n += len;
    k->s[k->n] = '\0';
    return true;
}

static const char *stop_name(wgml_stop_reason r)
{
    static const char *names[] = {"error", "length", "eog", "context", "cancelled"};
    return (unsigned)r <= WGML_STOP_CANCELLED ? names[r] : "?";
}

static void print_stats_json(FILE *f, const wgml_llm_info *info, const wgml_generate_stats *s,
                             uint64_t seed)
{
    fprintf(f, "\"load_seconds\": %.4f, \"prompt_tokens\": %u, \"cached_tokens\": %u, "
               "\"prefill_tokens\": %u, \"prefill_seconds\": %.4f, \"prefill_tokens_per_s\": %.2f, "
               "\"generated_tokens\": %u, \"decode_seconds\": %.4f, \"decode_tokens_per_s\": %.2f, "
               "\"stop\": \"%s\", \"seed\": %llu",
            info->load_seconds, s->prompt_tokens, s->cached_tokens,
            s->prompt_tokens - s->cached_tokens, s->prefill_seconds, s->prefill_tokens_per_s,
            s->generated_tokens, s->decode_seconds, s->decode_tokens_per_s, stop_name(s->stop),
            (unsigned long long)seed);
}

static char *read_all(FILE *f)
{
    size_t n = 0, cap = 4096;
    char *s = malloc(cap);
    while (s) {
        size_t got = fread(s + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (n + 1 == cap) {
            char *p = realloc(s, cap * 2);
            if (!p) {
                free(s);
                return NULL;
            }
            s = p;
            cap *= 2;
        }
    }
    if (s) s[n] = '\0';
    if (s && ferror(f)) {
        free(s);
        return NULL;
    }
    return s;
}

// ================================================================ generate

int wgml_cmd_generate(int argc, char **argv)
{
    const char *cmd = "wgml generate";
    options o;
    int rc = parse(argc, argv, false, &o);
    if (rc) return rc < 0 ? 0 : rc;
    char *file_text = NULL;
    if (o.file) {
        FILE *f = strcmp(o.file, "-") ? fopen(o.file, "rb") : stdin;
        if (!f) {
            fprintf(stderr, "%s: cannot open %s: %s\n", cmd, o.file, strerror(errno));
            return 1;
        }
        file_text = read_all(f);
        if (f != stdin) fclose(f);
        if (!file_text) {
            fprintf(stderr, "%s: cannot read %s\n", cmd, o.file);
            return 1;
        }
        o.prompt = file_text;
    }
    wgml_ctx *ctx = NULL;
    wgml_llm *llm = load(cmd, &o, &ctx);
    if (!llm) {
        free(file_text);
        return 1;
    }
    rc = 1;
    char *chat_text = NULL;
    const char *prompt = o.prompt;
    wgml_status st;
    if (o.chat) {
        wgml_chat_message m[2] = {{"system", o.system}, {"user", o.prompt}};
        if ((st = wgml_llm_chat_prompt(llm, o.system ? m : m + 1, o.system ? 2 : 1, &chat_text))) {
            fprintf(stderr, "%s: %s\n", cmd, wgml_ctx_last_error(ctx));
            goto done;
        }
        prompt = chat_text;
    }
    sink k = {.stream = !o.json};
    wgml_generate_stats s;
    const wgml_llm_info *info = wgml_llm_info_of(llm);
    int32_t *ids = NULL;
    if (o.json) {
        // Room for every token: a generation ends at the context's end (at most
        // n_ctx - prompt + 1 tokens) if not before.
        o.gp.tokens_cap = o.gp.max_tokens && o.gp.max_tokens <= info->n_ctx ? o.gp.max_tokens
                                                                            : info->n_ctx + 1;
        o.gp.tokens = ids = malloc(sizeof *ids * o.gp.tokens_cap);
        if (!ids) {
            fprintf(stderr, "%s: out of memory\n", cmd);
            goto done;
        }
    }
    // Warm-up runs: the same prompt and parameters, text discarded; the
    // reset makes the reported run prefill the whole prompt again.
    for (long w = 0; w < o.warmup; w++) {
        sink quiet = {0};
        wgml_generate_params wp = o.gp;
        wp.tokens = NULL;
        wp.tokens_cap = 0;
        st = wgml_llm_generate(llm, prompt, &wp, on_text, &quiet, &s);
        free(quiet.s);
        wgml_llm_reset(llm);
        if (st) {
            fprintf(stderr, "%s: warm-up: %s: %s\n", cmd, wgml_status_name(st),
                    wgml_ctx_last_error(ctx));
            free(ids);
            goto done;
        }
    }
    st = wgml_llm_generate(llm, prompt, &o.gp, on_text, &k, &s);
    if (st || k.failed) {
        if (k.stream && k.n) fputc('\n', stdout);
        fprintf(stderr, "%s: %s: %s\n", cmd, wgml_status_name(st),
                k.failed ? "out of memory" : wgml_ctx_last_error(ctx));
        free(k.s);
        free(ids);
        goto done;
    }
    if (o.json) {
        printf("{\"model\": ");
        cli_json_string(stdout, info->name);
        printf(", \"text\": ");
        cli_json_string(stdout, k.s ? k.s : "");
        printf(", \"tokens\": [");
        uint32_t n_ids = s.generated_tokens < o.gp.tokens_cap ? s.generated_tokens : o.gp.tokens_cap;
        for (uint32_t i = 0; i < n_ids; i++) printf(i ? ", %d" : "%d", ids[i]);
        printf("], ");
        print_stats_json(stdout, info, &s, o.gp.seed);
        printf("}\n");
    } else if (k.n && k.s[k.n - 1] != '\n') {
        fputc('\n', stdout);
    }
    fflush(stdout);
    if (o.stats)
        fprintf(stderr, "%s: loaded in %.2f s; prompt %u tokens (%u cached) at %.1f tokens/s; "
                        "%u tokens at %.1f tokens/s; stopped: %s\n",
                cmd, info->load_seconds, s.prompt_tokens, s.cached_tokens,
                s.prefill_tokens_per_s, s.generated_tokens, s.decode_tokens_per_s,
                stop_name(s.stop));
    free(k.s);
    free(ids);
    rc = 0;
done:
    free(chat_text);
    free(file_text);
    wgml_llm_free(llm);
    wgml_ctx_free(ctx);
    return rc;
}

// ================================================================ chat

static wgml_llm *volatile g_chat_llm;
static volatile sig_atomic_t g_generating, g_sigint;

// During an answer Ctrl-C cancels it; anywhere else it counts at the prompt.
static void on_sigint(int sig)
{
    (void)sig;
    if (g_generating && g_chat_llm) wgml_llm_cancel(g_chat_llm);
    else g_sigint = 1;
}

typedef struct conversation {
    wgml_chat_message *m;
    size_t n, cap;
} conversation;

static bool conv_add(conversation *c, const char *role, const char *content)
{
    char *copy = strdup(content);
    if (!copy) return false;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        wgml_chat_message *p = realloc(c->m, cap * sizeof *p);
        if (!p) {
            free(copy);
            return false;
        }
        c->m = p;
        c->cap = cap;
    }
    c->m[c->n++] = (wgml_chat_message){role, copy};
    return true;
}

// Drops every message after the first `keep`.
static void conv_truncate(conversation *c, size_t keep)
{
    while (c->n > keep) free((char *)c->m[--c->n].content);
}

int wgml_cmd_chat(int argc, char **argv)
{
    const char *cmd = "wgml chat";
    options o;
    int rc = parse(argc, argv, true, &o);
    if (rc) return rc < 0 ? 0 : rc;
    wgml_ctx *ctx = NULL;
    wgml_llm *llm = load(cmd, &o, &ctx);
    if (!llm) return 1;
    const wgml_llm_info *info = wgml_llm_info_of(llm);
    rc = 1;
    conversation conv = {0};
    char *line = NULL;
    size_t line_cap = 0;
    if (!info->chat_format[0]) {
        char *t = NULL;
        wgml_chat_message probe = {"user", "hi"};
        wgml_llm_chat_prompt(llm, &probe, 1, &t);
        fprintf(stderr, "%s: %s\n", cmd, wgml_ctx_last_error(ctx));
        free(t);
        goto done;
    }
    size_t base = 0;   // messages that survive /reset (the system message)
    if (o.system) {
        if (!conv_add(&conv, "system", o.system)) goto oom;
        base = 1;
    }
    bool interactive = isatty(0);
    // SIGINT interrupts the read at the prompt (no SA_RESTART) and stops an answer.
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    g_chat_llm = llm;
    if (interactive)
        fprintf(stderr, "%s (%s template); Ctrl-C stops an answer, Ctrl-D quits, /reset starts "
                        "over\n", info->name[0] ? info->name : "model", info->chat_format);
    bool quit_armed = false;
    for (int turn = 1;;) {
        if (interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        errno = 0;
        // A Ctrl-C that came after the last answer counts as one at the prompt.
        ssize_t got = g_sigint ? -1 : getline(&line, &line_cap, stdin);
        if (got < 0) {
            if (errno == EINTR || g_sigint) {
                g_sigint = 0;
                clearerr(stdin);
                if (quit_armed) break;
                quit_armed = true;
                fputs("\n(Ctrl-C again or Ctrl-D to quit)\n", stderr);
                continue;
            }
            if (interactive) fputc('\n', stdout);
            break;   // end of input
        }
        quit_armed = false;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
        if (got == 0) continue;
        if (!strcmp(line, "/reset")) {
            conv_truncate(&conv, base);
            wgml_llm_reset(llm);
            fputs("(new conversation)\n", stderr);
            continue;
        }
        if (!conv_add(&conv, "user", line)) goto oom;
        sink k = {.stream = true};
        wgml_generate_stats s;
        wgml_status st;
        for (int attempt = 0;; attempt++) {
            char *prompt = NULL;
            if ((st = wgml_llm_chat_prompt(llm, conv.m, conv.n, &prompt))) break;
            g_generating = 1;
            st = wgml_llm_generate(llm, prompt, &o.gp, on_text, &k, &s);
            g_generating = 0;
            free(prompt);
            // A conversation that outgrew the context starts over from this message.
            if (st == WGML_ERR_INVALID_ARGUMENT && attempt == 0 && conv.n > base + 1 &&
                strstr(wgml_ctx_last_error(ctx), "the context holds")) {
                fputs("(the conversation outgrew the context; starting over from this "
                      "message)\n", stderr);
                char *last = strdup(line);
                if (!last) goto oom;
                conv_truncate(&conv, base);
                bool ok = conv_add(&conv, "user", last);
                free(last);
                if (!ok) goto oom;
                continue;
            }
            break;
        }
        if (st) {
            if (k.n) fputc('\n', stdout);
            fprintf(stderr, "%s: %s: %s\n", cmd, wgml_status_name(st), wgml_ctx_last_error(ctx));
            free(k.s);
            // The message that could not be answered leaves the conversation.
            if (conv.n > base && !strcmp(conv.m[conv.n - 1].role, "user"))
                conv_truncate(&conv, conv.n - 1);
            if (st != WGML_ERR_INVALID_ARGUMENT && st != WGML_ERR_UNSUPPORTED) goto done;
            continue;
        }
        fputc('\n', stdout);
        fflush(stdout);
        if (s.stop == WGML_STOP_CANCELLED) fputs("(stopped)\n", stderr);
        if (o.stats) {
            fprintf(stderr, "{\"turn\": %d, ", turn);
            print_stats_json(stderr, info, &s, o.gp.seed);
            fprintf(stderr, "}\n");
        }
        bool ok = conv_add(&conv, "assistant", k.s ? k.s : "");
        free(k.s);
        if (!ok || k.failed) goto oom;
        turn++;
    }
    rc = 0;
    goto done;
oom:
    fprintf(stderr, "%s: out of memory\n", cmd);
done:
    g_chat_llm = NULL;
    conv_truncate(&conv, 0);
    free(conv.m);
    free(line);
    wgml_llm_free(llm);
    wgml_ctx_free(ctx);
    return rc;
}
