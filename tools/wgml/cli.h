// Shared pieces of the wgml command-line tool.
#ifndef WGML_CLI_H
#define WGML_CLI_H

#include "gpu/gpu.h"
#include <stdio.h>

// Each command: argv[0] is the command's name. Returns the process exit code.
int wgml_cmd_info(int argc, char **argv);
int wgml_cmd_bench(int argc, char **argv);
int wgml_cmd_bench_fusion(int argc, char **argv);
int wgml_cmd_bench_embed(int argc, char **argv);
int wgml_cmd_bench_gemv(int argc, char **argv);
int wgml_cmd_bench_dispatch(int argc, char **argv);
// embed and similarity (argv[0] tells which).
int wgml_cmd_embed(int argc, char **argv);

int wgml_cmd_roofline(int argc, char **argv);
int wgml_cmd_tune(int argc, char **argv);
int wgml_cmd_synth(int argc, char **argv);
int wgml_cmd_generate(int argc, char **argv);
int wgml_cmd_chat(int argc, char **argv);

// One measured `wgml bench` row.
typedef struct cli_bench_row {
    const char *op, *shape;
    double ns;          // median GPU (or host) time per call
    double bytes, flops;
    double bound_ns;    // max(bytes / B, flops / F) with measured peaks; 0 if unknown
    int wall;           // timed with the host clock
    int f16;            // f16 arithmetic (held to the f16 FMA peak)
    const char *variant;   // the kernel variant the op chose ("-" if it has one)
} cli_bench_row;

struct wgml_peaks;
// Runs the bench rows (quick: small sizes; filter: op name substring or NULL),
// handing each to on_row. Returns non-zero if a row failed.
int cli_bench_rows(wgml_gpu *gpu, int quick, const char *filter, const struct wgml_peaks *peaks,
                   void (*on_row)(const cli_bench_row *, void *), void *user);

// Creates the GPU, printing the reason and returning NULL on failure.
wgml_gpu *cli_gpu_create(const wgml_gpu_options *opt);
// The same for commands that time kernels: NULL (the reason printed, `who`
// naming the command) also where the device has no timestamp queries.
wgml_gpu *cli_gpu_create_timed(const char *who);

// Writes s as a JSON string literal.
void cli_json_string(FILE *f, const char *s);

// Parses a whole decimal number within [lo, hi]; 0 when it is not one.
int cli_parse_long(const char *s, long lo, long hi, long *out);
// qsort comparison of doubles, ascending.
int cli_cmp_double(const void *a, const void *b);

// The path of `rel` under .deps/ of the source tree that holds this
// executable (build/<impl>/wgml), found by looking for rel/probe ("" probes
// rel itself), else under the tree it was built from. Returns buf.
const char *cli_deps_path(const char *rel, const char *probe, char *buf, size_t cap);

// Prints a profiled run's dispatches (wgml_gpu_profile_read) grouped by
// kernel, largest total first, as comment lines (#).
void cli_profile_print(FILE *f, const char *title, const wgml_gpu_profile_entry *e, uint32_t n);

// True when arg is -h or --help.
int cli_is_help(const char *arg);

#endif
