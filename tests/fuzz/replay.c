// Replays inputs through a libFuzzer harness without libFuzzer: every file
// named on the command line, and every file in a directory named there, goes
// to LLVMFuzzerTestOneInput once. ctest runs it on each harness's seeds and on
// the inputs that once crashed it (tests/data/fuzz/TARGET/), so a crash found
// by fuzzing stays a regression test; test.sh's sanitizer run replays them
// under AddressSanitizer and UBSan. Exits 77 (skipped) when it found no input.
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
// Harnesses that set up fixed state define it; the others do not.
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *b = realloc(buf, cap *= 2);
        if (!b) free(buf);
        buf = b;
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    // An exact-size copy, so that AddressSanitizer sees reads past the input.
    uint8_t *exact = malloc(n ? n : 1);
    if (exact) memcpy(exact, buf, n);
    free(buf);
    if (!exact) return -1;
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Replays path (a file, or a directory's files in name order); returns the
// count, or -1 on an error. A missing path counts as none.
static int replay(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return replay_file(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            char **a = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *a);
            if (!a) break;
            names = a;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if ((names[n] = malloc(len))) snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        int r = count >= 0 ? replay_file(names[i]) : 0;
        count = r < 0 ? -1 : count + r;
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int total = 0;
    for (int i = 1; i < argc; i++) {
        int n = replay(argv[i]);
        if (n < 0) return 1;
        printf("%s: %d inputs\n", argv[i], n);
        total += n;
    }
    printf("replayed %d inputs\n", total);
    return total ? 0 : 77;
}
