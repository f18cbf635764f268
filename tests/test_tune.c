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

    // The matmul: untuned, the heuristic (TILED for a small product, on a
    // device without subgroup matrices); tuned, the stored variant where it
    // takes the shape, else the heuristic again.
    if (!wgml_matmul_can_use_subgroup_matrix(gpu)) {
        TEST_CHECK(wgml_matmul_chosen(gpu, WGML_F32, 100, 100, 100) == WGML_MATMUL_TILED,
                   "untuned f32 100^3 took %s", wgml_matmul_variant_name(
                       wgml_matmul_chosen(gpu, WGML_F32, 100, 100, 100)));
        wgml_tune_store(gpu, "matmul", "mnk<=128", "f32", WGML_MATMUL_TILED_VEC4, 10.0);
        TEST_CHECK(wgml_matmul_chosen(gpu, WGML_F32, 100, 100, 100) == WGML_MATMUL_TILED_VEC4,
                   "the stored vec4 was not taken");
        TEST_CHECK(wgml_matmul_chosen(gpu, WGML_F32, 100, 100, 99) == WGML_MATMUL_TILED,
                   "vec4 taken for K = 99, which it cannot multiply");
        TEST_CHECK(wgml_matmul_chosen(gpu, WGML_F32, 100, 100, 1000) == WGML_MATMUL_TILED,
                   "another class (mnk<=1024) took the stored choice");
        bool fixed_sg = wgml_gpu_fixed_subgroup_size(gpu) != 0;
        wgml_tune_store(gpu, "matmul", "mnk<=128", "f32", WGML_MATMUL_TILED_SUBGROUP_SWIZZLED, 9.0);
        TEST_CHECK(wgml_matmul_chosen(gpu, WGML_F32, 100, 100, 100) ==
                       (fixed_sg ? WGML_MATMUL_TILED_SUBGROUP_SWIZZLED : WGML_MATMUL_TILED),
                   "the stored subgroup variant: %s (fixed subgroups: %d)",
                   wgml_matmul_variant_name(wgml_matmul_chosen(gpu, WGML_F32, 100, 100, 100)),
                   fixed_sg);
        wgml_tune_store(gpu, "matmul", "mnk<=128", "f32", WGML_MATMUL_SUBGROUP_MATRIX, 8.0);
        TEST_CHECK(wgml_matmul_chosen(gpu, WGML_F32, 128, 128, 128) == WGML_MATMUL_TILED,
                   "subgroup matrices chosen for f32 on a device without them");
        printf("ok   matmul: tuned variants taken where they apply\n");
    }
    // Tuned values still give correct results: the op tests run under any choice.
    wgml_gpu_free(gpu);
    remove(path);
    rmdir(dir);
    printf("ok   tuning cache\n");
    return 0;
}
