// The autotuning table: in memory, backed by a cache file per adapter.
#include "tune/tune.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct tune_entry {
    char key[192];   // op|shape class|dtype
    int variant;
    double ns;
} tune_entry;

struct wgml_tune_table {
    tune_entry *e;
    int n, cap;
    bool loaded;
    char path[1024];
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

// $WGML_CACHE_DIR, $XDG_CACHE_HOME/wgml or ~/.cache/wgml; created only when
// asked (a lookup must not leave directories behind).
static bool cache_dir(char *out, size_t cap, bool create)
{
    const char *d = getenv("WGML_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (d && *d) snprintf(out, cap, "%s", d);
    else if (x && *x) snprintf(out, cap, "%s/wgml", x);
    else if (h && *h) snprintf(out, cap, "%s/.cache/wgml", h);
    else return false;
    if (!create) return true;
    // Create each level; an existing one is fine.
    for (char *p = out + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(out, 0755) && errno != EEXIST) return false;
        *p = '/';
    }
    return !mkdir(out, 0755) || errno == EEXIST;
}

static void table_free(void *p)
{
    struct wgml_tune_table *t = p;
    free(t->e);
    free(t);
}

// The device's table, created on first use and freed with the device.
static struct wgml_tune_table *table(wgml_gpu *g)
{
    struct wgml_tune_table *t = wgml_gpu_attachment(g);
    if (!t && (t = calloc(1, sizeof *t))) wgml_gpu_attach(g, t, table_free);
    return t;
}

static void key_of(char *key, size_t cap, const char *op, const char *shape, const char *dtype)
{
    snprintf(key, cap, "%s|%s|%s", op, shape, dtype);
}

static tune_entry *find(struct wgml_tune_table *t, const char *key)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->e[i].key, key)) return &t->e[i];
    return NULL;
}

static void put(struct wgml_tune_table *t, const char *key, int variant, double ns)
{
    tune_entry *e = find(t, key);
    if (!e) {
        if (t->n == t->cap) {
            int cap = t->cap ? t->cap * 2 : 32;
            tune_entry *n = realloc(t->e, sizeof *n * (size_t)cap);
            if (!n) return;
            t->e = n;
            t->cap = cap;
        }
        e = &t->e[t->n++];
        snprintf(e->key, sizeof e->key, "%s", key);
    }
    e->variant = variant;   // later lines win: a re-tune replaces the old choice
    e->ns = ns;
}

// The adapter's identity, which the file name hashes: a new driver or
// implementation starts a new file, and so does turning bounds checks off
// (they change what is fastest).
static void load(wgml_gpu *g, struct wgml_tune_table *t)
{
    t->loaded = true;
    char dir[768];
    if (!cache_dir(dir, sizeof dir, false)) return;
    const wgml_device_info *d = wgml_gpu_info(g);
    char id[1024];
    snprintf(id, sizeof id, "%s|%s|%s|%s|%u|%u%s", d->implementation, d->vendor, d->device,
             d->description, d->vendor_id, d->device_id, d->bounds_checks ? "" : "|unchecked");
    snprintf(t->path, sizeof t->path, "%s/tune-%016llx.tsv", dir, (unsigned long long)fnv1a(id));
    FILE *f = fopen(t->path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char op[64], shape[64], dtype[16];
        int variant;
        double ns;
        // Malformed lines (a hand edit, a cut write) are skipped, not trusted.
        if (line[0] == '#' ||
            sscanf(line, "%63[^\t]\t%63[^\t]\t%15[^\t]\t%d\t%lf", op, shape, dtype, &variant, &ns) != 5 ||
            variant < 0)
            continue;
        char key[192];
        key_of(key, sizeof key, op, shape, dtype);
        put(t, key, variant, ns);
    }
    fclose(f);
}

int wgml_tune_lookup(wgml_gpu *g, const char *op, const char *shape, const char *dtype)
{
    struct wgml_tune_table *t = table(g);
    if (!t) return -1;
    if (!t->loaded) load(g, t);
    char key[192];
    key_of(key, sizeof key, op, shape, dtype);
    tune_entry *e = find(t, key);
    return e ? e->variant : -1;
}

void wgml_tune_store(wgml_gpu *g, const char *op, const char *shape, const char *dtype,
                     int variant, double ns)
{
    struct wgml_tune_table *t = table(g);
    if (!t) return;
    if (!t->loaded) load(g, t);
    char key[192];
    key_of(key, sizeof key, op, shape, dtype);
    put(t, key, variant, ns);
    char dir[768];
    if (!t->path[0] || !cache_dir(dir, sizeof dir, true)) return;
    FILE *f = fopen(t->path, "a");
    if (!f) return;
    fprintf(f, "%s\t%s\t%s\t%d\t%.1f\n", op, shape, dtype, variant, ns);
    fclose(f);
}

const char *wgml_tune_path(wgml_gpu *g)
{
    struct wgml_tune_table *t = table(g);
    if (!t) return "";
    if (!t->loaded) load(g, t);
    return t->path;
}


static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

wgml_status wgml_tune_pick(wgml_gpu *g, const char *op, const char *shape, const char *dtype,
                           const int *cand, int n, wgml_tune_run_fn run, void *user, int *best,
                           double *best_ns)
{
    const int iters = 10, repeat = 5;
    *best = -1;
    *best_ns = -1;
    if (!wgml_gpu_info(g)->timestamp_query)
        return wgml_gpu_fail(g, WGML_ERR_UNSUPPORTED, "tuning needs timestamp queries");
    for (int c = 0; c < n; c++) {
        double times[8];
        wgml_status st = wgml_gpu_begin(g, false);   // warm-up: pipelines compile here
        if (!st) st = run(g, cand[c], user);
        if (!st) st = wgml_gpu_submit(g, NULL);
        for (int r = 0; r < repeat && !st; r++) {
            st = wgml_gpu_begin(g, true);
            for (int i = 0; i < iters && !st; i++) st = run(g, cand[c], user);
            if (!st) st = wgml_gpu_submit(g, &times[r]);
            if (!st && times[r] <= 0) st = WGML_ERR_UNSUPPORTED;
        }
        if (st) {
            wgml_gpu_submit(g, NULL);   // whatever was half recorded
            if (st == WGML_ERR_DEVICE_LOST) return st;
            continue;   // this candidate does not run here
        }
        qsort(times, repeat, sizeof times[0], cmp_double);
        double ns = times[repeat / 2] / iters;
        if (*best < 0 || ns < *best_ns) {
            *best = cand[c];
            *best_ns = ns;
        }
    }
    wgml_gpu_clear_error(g);
    if (*best < 0)
        return wgml_gpu_fail(g, WGML_ERR_UNSUPPORTED, "%s %s %s: no candidate ran", op, shape, dtype);
    wgml_tune_store(g, op, shape, dtype, *best, *best_ns);
    return WGML_OK;
}
