// wgml: the command-line front end. Each command lives in its own file.
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: wgml <command> [options]\n"
    "\n"
    "wgml is a machine-learning runtime on WebGPU (built against " WGML_IMPLEMENTATION ").\n"
    "\n"
    "commands:\n"
    "  info     show the GPU adapter: vendor, device, backend, features, limits\n"
    "  bench    time each op at a few sizes: GPU time, GB/s, GFLOP/s\n"
    "           (bench fusion: fused vs unfused kernels against the k*S/B bound)\n"
    "  roofline measure the device's ceilings and chart every kernel under them\n"
    "  tune     measure each op's variants here and keep the fastest\n"
    "  embed    sentence embeddings of texts (BERT family, e.g. all-MiniLM-L6-v2):\n"
    "           JSON lines, TSV or .npy; --query ranks texts by similarity\n"
    "  similarity  cosine similarity of a text with others\n"
    "  synth    write a Llama-architecture GGUF with random weights (tests, timing)\n"
    "  generate text from a prompt with a Llama-family GGUF model (SmolLM2 by default)\n"
    "  chat     an interactive conversation in the model's chat template\n"
    "\n"
    "Run 'wgml <command> --help' for a command's options.\n";

int main(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "info")) return wgml_cmd_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench")) return wgml_cmd_bench(argc - 1, argv + 1);
    if (!strcmp(argv[1], "roofline")) return wgml_cmd_roofline(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tune")) return wgml_cmd_tune(argc - 1, argv + 1);
    if (!strcmp(argv[1], "synth")) return wgml_cmd_synth(argc - 1, argv + 1);
    if (!strcmp(argv[1], "generate")) return wgml_cmd_generate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "chat")) return wgml_cmd_chat(argc - 1, argv + 1);
    if (!strcmp(argv[1], "embed") || !strcmp(argv[1], "similarity"))
        return wgml_cmd_embed(argc - 1, argv + 1);
    fprintf(stderr, "wgml: unknown command '%s'\n\n%s", argv[1], USAGE);
    return 2;
}

const char *cli_deps_path(const char *rel, const char *probe, char *buf, size_t cap)
{
    static const char *up[] = {"/../..", "/..", ""};
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
            snprintf(buf, cap, "%s%s/.deps/%s%s%s", exe, up[i], rel, *probe ? "/" : "", probe);
            if (access(buf, R_OK) == 0) {
                snprintf(buf, cap, "%s%s/.deps/%s", exe, up[i], rel);
                return buf;
            }
        }
    }
    snprintf(buf, cap, "%s/.deps/%s", WGML_SOURCE_DIR, rel);
    return buf;
}

int cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

wgml_gpu *cli_gpu_create(const wgml_gpu_options *opt)
{
    char err[2048];
    wgml_gpu *gpu = NULL;
    wgml_status st = wgml_gpu_create(opt, &gpu, err, sizeof err);
    if (st) {
        fprintf(stderr, "wgml: no usable GPU (%s): %s\n", wgml_status_name(st), err);
        return NULL;
    }
    return gpu;
}

wgml_gpu *cli_gpu_create_timed(const char *who)
{
    wgml_gpu *gpu = cli_gpu_create(NULL);
    if (gpu && !wgml_gpu_info(gpu)->timestamp_query) {
        fprintf(stderr, "%s: the device has no timestamp queries to time kernels with\n", who);
        wgml_gpu_free(gpu);
        return NULL;
    }
    return gpu;
}

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cli_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}
