// The tuning cache: a stored choice comes back on a new device object for the
// same adapter; malformed lines in the file are skipped, later lines win; the
// ops use what is stored; untuned shapes get the default.
#define _XOPEN_SOURCE 700
#include "ops/templates.h"
#include "test_util.h"
#include "tune/tune.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char dir[] = "/tmp/wgml-tune-XXXXXX";
    TEST_CHECK(mkdtemp(dir), "mkdtemp");
    setenv("WGML_CACHE_DIR", dir, 1);

    wgml_gpu *gpu = test_gpu_create();
    TEST_CHECK(wgml_tune_lookup(gpu, "rows", "cols<=1024", "f32") == -1, "an empty cache answered");
    TEST_CHECK(wgml_rows_values_per_lane(gpu, 1000) == 2, "untuned rows should use the default 2");
    wgml_tune_store(gpu, "rows", "cols<=1024", "f32", 4, 123.0);
    TEST_CHECK(wgml_tune_lookup(gpu, "rows", "cols<=1024", "f32") == 4, "stored choice not in memory");
    TEST_CHECK(wgml_rows_values_per_lane(gpu, 1000) == 4, "rows ignore the stored choice");
    char path[1024];
    snprintf(path, sizeof path, "%s", wgml_tune_path(gpu));
    TEST_CHECK(strstr(path, dir) == path, "cache file %s not under %s", path, dir);
    wgml_gpu_free(gpu);

    // Junk and a later line for the same key, appended by hand.
    FILE *f = fopen(path, "a");
    TEST_CHECK(f, "cannot append to %s", path);
    fputs("garbage without tabs\nrows\tcols<=1024\n#comment\trows\tx\t1\t1\n"
          "rows\tcols<=2048\tf32\t-3\t5.0\nrows\tcols<=1024\tf32\t8\t99.0\n", f);
    fclose(f);

    gpu = test_gpu_create();
    TEST_CHECK(wgml_tune_lookup(gpu, "rows", "cols<=1024", "f32") == 8, "later line did not win");
    TEST_CHECK(wgml_tune_lookup(gpu, "rows", "cols<=2048", "f32") == -1, "a negative variant was trusted");
    TEST_CHECK(wgml_rows_values_per_lane(gpu, 4000) == 2, "another class took the stored choice");
    // Tuned values still give correct results: the op tests run under any choice.
    wgml_gpu_free(gpu);
    remove(path);
    rmdir(dir);
    printf("ok   tuning cache\n");
    return 0;
}
