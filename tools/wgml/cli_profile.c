// The per-kernel table of a profiled run (gpu.h, "profiling"): dispatches
// grouped by kernel and entry point, largest total first.
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct kernel_sum {
    char name[96];
    double ns;
    int count;
} kernel_sum;

static int by_total_desc(const void *a, const void *b)
{
    double x = ((const kernel_sum *)a)->ns, y = ((const kernel_sum *)b)->ns;
    return (x < y) - (x > y);
}

void cli_profile_print(FILE *f, const char *title, const wgml_gpu_profile_entry *e, uint32_t n)
{
    kernel_sum *k = calloc(n ? n : 1, sizeof *k);
    if (!k) return;
    uint32_t nk = 0;
    double all = 0;
    for (uint32_t i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s:%s", e[i].kernel ? e[i].kernel : "?",
                 e[i].entry ? e[i].entry : "?");
        uint32_t j = 0;
        while (j < nk && strcmp(k[j].name, name)) j++;
        if (j == nk) snprintf(k[nk++].name, sizeof k[0].name, "%s", name);
        k[j].ns += e[i].ns;
        k[j].count++;
        all += e[i].ns;
    }
    qsort(k, nk, sizeof *k, by_total_desc);
    fprintf(f, "# profile, %s: %u dispatches, %.1f us in all (each in a timed pass of its own)\n",
            title, n, all / 1e3);
    for (uint32_t j = 0; j < nk; j++)
        fprintf(f, "#   %-40s %4d x %8.1f us = %9.1f us  %5.1f%%\n", k[j].name, k[j].count,
                k[j].ns / 1e3 / k[j].count, k[j].ns / 1e3, all > 0 ? 100 * k[j].ns / all : 0);
    free(k);
}
