// wgml roofline: the device's measured ceilings (copy bandwidth, FMA
// throughput) and every benchmarked kernel as a point under them, drawn as
// an SVG chart: x = arithmetic intensity (FLOP per byte), y = GFLOP/s.
#include "cli.h"
#include "ops/peaks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: wgml roofline [--quick] [--json] [--op NAME] [--output FILE.svg]\n"
    "\n"
    "Measures the device's copy bandwidth and f32/f16 FMA throughput with\n"
    "micro-kernels, runs the `wgml bench` rows, and draws a roofline chart (SVG)\n"
    "with each row as a point: arithmetic intensity (FLOP/byte) against achieved\n"
    "GFLOP/s, under min(F, B x intensity). Prints each row's percent of its bound.\n"
    "\n"
    "  --output F  the chart (default roofline.svg)\n"
    "  --quick     small sizes (CPU devices)\n"
    "  --op NAME   only rows whose op name contains NAME\n"
    "  --json      print the peaks and rows as one JSON object\n";

typedef struct point {
    char label[64];
    double intensity, gflops, percent;
    int f16;
} point;

typedef struct points {
    point *p;
    int n, cap;
} points;

static void collect(const cli_bench_row *r, void *user)
{
    points *ps = user;
    if (r->flops <= 0 || r->bytes <= 0 || r->ns <= 0) return;   // nothing to place
    if (ps->n == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 32;
        point *p = realloc(ps->p, sizeof *p * (size_t)cap);
        if (!p) return;
        ps->p = p;
        ps->cap = cap;
    }
    point *p = &ps->p[ps->n++];
    snprintf(p->label, sizeof p->label, "%s %s", r->op, r->shape);
    p->intensity = r->flops / r->bytes;
    p->gflops = r->flops / r->ns;
    p->percent = r->bound_ns > 0 ? 100.0 * r->bound_ns / r->ns : 0;
    p->f16 = r->f16;
}

// Log-log chart geometry.
typedef struct axes {
    double x0, x1, y0, y1;   // log10 ranges
    double w, h, left, top;  // pixels
} axes;

static double px(const axes *a, double x) { return a->left + (log10(x) - a->x0) / (a->x1 - a->x0) * a->w; }
static double py(const axes *a, double y) { return a->top + (a->y1 - log10(y)) / (a->y1 - a->y0) * a->h; }

static void draw_roof(FILE *f, const axes *a, double bw, double peak, const char *style, const char *name)
{
    double knee = peak / bw;   // intensity where bandwidth meets compute
    double xs = pow(10, a->x0), xe = pow(10, a->x1);
    fprintf(f, "<polyline fill='none' %s points='", style);
    if (knee > xs) fprintf(f, "%.1f,%.1f %.1f,%.1f ", px(a, xs), py(a, bw * xs), px(a, knee), py(a, peak));
    else fprintf(f, "%.1f,%.1f ", px(a, xs), py(a, peak));
    fprintf(f, "%.1f,%.1f'/>\n", px(a, xe), py(a, peak));
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='11'>%s %.0f GFLOP/s</text>\n",
            px(a, xe) - 150, py(a, peak) - 4, name, peak);
}

// Writes text for an SVG element, escaping what XML needs.
static void svg_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

static int write_svg(const char *path, const wgml_device_info *d, const wgml_peaks *pk,
                     const points *ps)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "wgml roofline: cannot write %s\n", path);
        return 1;
    }
    double ymax = fmax(pk->fma_f32_gflop_per_s, pk->fma_f16_gflop_per_s), ymin = ymax;
    for (int i = 0; i < ps->n; i++) ymin = fmin(ymin, ps->p[i].gflops);
    axes a = {.x0 = -2, .x1 = 4, .y0 = floor(log10(fmax(ymin, 1e-3))) - 0.5,
              .y1 = ceil(log10(ymax)) + 0.3, .w = 760, .h = 440, .left = 90, .top = 40};
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='560' "
               "font-family='sans-serif'>\n<rect width='900' height='560' fill='white'/>\n");
    fprintf(f, "<text x='90' y='24' font-size='14'>wgml roofline: ");
    svg_text(f, d->description[0] ? d->description : d->device);
    fprintf(f, " (%s, %s)</text>\n", d->implementation, d->backend);
    // Grid and axis labels, one line per decade.
    for (int e = (int)a.x0; e <= (int)a.x1; e++)
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                   "<text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>1e%d</text>\n",
                px(&a, pow(10, e)), a.top, px(&a, pow(10, e)), a.top + a.h, px(&a, pow(10, e)),
                a.top + a.h + 16, e);
    for (int e = (int)ceil(a.y0); e <= (int)floor(a.y1); e++)
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>"
                   "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end'>1e%d</text>\n",
                a.left, py(&a, pow(10, e)), a.left + a.w, py(&a, pow(10, e)), a.left - 6,
                py(&a, pow(10, e)) + 4, e);
    fprintf(f, "<text x='470' y='530' font-size='12' text-anchor='middle'>arithmetic intensity "
               "(FLOP / byte moved)</text>\n<text x='20' y='260' font-size='12' "
               "transform='rotate(-90 20 260)' text-anchor='middle'>GFLOP/s</text>\n");
    fprintf(f, "<text x='100' y='60' font-size='11'>copy bandwidth %.0f GB/s</text>\n",
            pk->copy_gb_per_s);
    draw_roof(f, &a, pk->copy_gb_per_s, pk->fma_f32_gflop_per_s, "stroke='#c00' stroke-width='2'",
              "f32 FMA");
    if (pk->fma_f16_gflop_per_s > 0)
        draw_roof(f, &a, pk->copy_gb_per_s, pk->fma_f16_gflop_per_s,
                  "stroke='#06c' stroke-width='2' stroke-dasharray='6,4'", "f16 FMA");
    for (int i = 0; i < ps->n; i++) {
        const point *p = &ps->p[i];
        double x = px(&a, fmax(p->intensity, pow(10, a.x0))), y = py(&a, p->gflops);
        fprintf(f, "<circle cx='%.1f' cy='%.1f' r='4' fill='%s'/><text x='%.1f' y='%.1f' "
                   "font-size='9'>", x, y, p->f16 ? "#06c" : "#222", x + 6, y - 4 + (i % 3) * 9.0);
        svg_text(f, p->label);
        fprintf(f, " (%.0f%%)</text>\n", p->percent);
    }
    fprintf(f, "</svg>\n");
    fclose(f);
    return 0;
}

int wgml_cmd_roofline(int argc, char **argv)
{
    int quick = 0, json = 0;
    const char *out = "roofline.svg", *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--output") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--op") && i + 1 < argc) {
            filter = argv[++i];
        } else {
            fprintf(stderr, "wgml roofline: unknown or incomplete option '%s'\n\n%s", argv[i], USAGE);
            return 2;
        }
    }
    wgml_gpu *gpu = cli_gpu_create(NULL);
    if (!gpu) return 1;
    wgml_peaks pk;
    wgml_status st = wgml_peaks_measure(gpu, quick, &pk);
    if (st) {
        fprintf(stderr, "wgml roofline: %s: %s\n", wgml_status_name(st), wgml_gpu_last_error(gpu));
        wgml_gpu_free(gpu);
        return 1;
    }
    points ps = {0};
    int failed = cli_bench_rows(gpu, quick, filter, &pk, collect, &ps);
    const wgml_device_info *d = wgml_gpu_info(gpu);
    if (json) {
        printf("{\"implementation\":\"%s\",\"device\":", d->implementation);
        cli_json_string(stdout, d->description[0] ? d->description : d->device);
        printf(",\"copy_gb_per_s\":%.6g,\"fma_f32_gflop_per_s\":%.6g,\"fma_f16_gflop_per_s\":%.6g,"
               "\"points\":[", pk.copy_gb_per_s, pk.fma_f32_gflop_per_s, pk.fma_f16_gflop_per_s);
        for (int i = 0; i < ps.n; i++) {
            printf("%s{\"kernel\":", i ? "," : "");
            cli_json_string(stdout, ps.p[i].label);
            printf(",\"intensity\":%.6g,\"gflop_per_s\":%.6g,\"percent_of_bound\":%.4g}",
                   ps.p[i].intensity, ps.p[i].gflops, ps.p[i].percent);
        }
        printf("]}\n");
    } else {
        printf("# %s on %s\n# copy %.1f GB/s, f32 FMA %.1f GFLOP/s, f16 FMA %.1f GFLOP/s\n",
               d->implementation, d->description[0] ? d->description : d->device,
               pk.copy_gb_per_s, pk.fma_f32_gflop_per_s, pk.fma_f16_gflop_per_s);
        printf("%-34s %12s %12s %8s\n", "kernel", "FLOP/byte", "GFLOP/s", "bound%");
        for (int i = 0; i < ps.n; i++)
            printf("%-34s %12.3f %12.1f %7.0f%%\n", ps.p[i].label, ps.p[i].intensity,
                   ps.p[i].gflops, ps.p[i].percent);
    }
    int rc = write_svg(out, d, &pk, &ps) || failed;
    if (!rc && !json) printf("chart: %s\n", out);
    free(ps.p);
    wgml_gpu_free(gpu);
    return rc;
}
