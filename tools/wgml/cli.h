// Shared pieces of the wgml command-line tool.
#ifndef WGML_CLI_H
#define WGML_CLI_H

#include "gpu/gpu.h"
#include <stdio.h>

// Each command: argv[0] is the command's name. Returns the process exit code.
int wgml_cmd_info(int argc, char **argv);
int wgml_cmd_bench(int argc, char **argv);
int wgml_cmd_bench_fusion(int argc, char **argv);
// embed and similarity (argv[0] tells which).
int wgml_cmd_embed(int argc, char **argv);

// Creates the GPU, printing the reason and returning NULL on failure.
wgml_gpu *cli_gpu_create(const wgml_gpu_options *opt);

// Writes s as a JSON string literal.
void cli_json_string(FILE *f, const char *s);

// True when arg is -h or --help.
int cli_is_help(const char *arg);

#endif
