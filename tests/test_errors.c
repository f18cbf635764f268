// Failures become statuses with messages, never crashes: a WGSL syntax error
// carries the compiler's line, an oversized buffer is refused up front, and
// bad arguments are caught before WebGPU sees them.
#include "test_util.h"

#include <string.h>

static int test_wgsl_syntax(wgml_gpu *gpu)
{
    // Line 3 has the error (a missing semicolon before the closing brace).
    const char *src =
        "@group(0) @binding(1) var<storage, read_write> o: array<f32>;\n"
        "@compute @workgroup_size(1) fn main() {\n"
        "    o[0] = 1.0 +\n"
        "}\n";
    wgml_gpu_kernel k = {.source = src};
    wgml_gpu_pipeline *p = NULL;
    wgml_status st = wgml_gpu_pipeline_get(gpu, &k, &p);
    const char *msg = wgml_gpu_last_error(gpu);
    printf("status %s, message:\n%s\n", wgml_status_name(st), msg);
    TEST_CHECK(st == WGML_ERR_GPU, "expected a GPU error, got %s", wgml_status_name(st));
    TEST_CHECK(p == NULL, "a pipeline came back from broken WGSL");
    // Dawn reports "4:1: error: ..."; naga (wgpu-native) reports ":4:1" in its snippet.
    TEST_CHECK(strstr(msg, "4:1") || strstr(msg, "3:"), "no line:column in the message");
    TEST_CHECK(strstr(msg, "error") || strstr(msg, "Error"), "no 'error' in the message");
    // The device is still usable afterwards.
    wgml_gpu_buf *b;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 64, "after", &b));
    wgml_gpu_buf_release(gpu, b);
    printf("ok   WGSL syntax error reported with its line\n");
    return 0;
}

static int test_buffer_too_large(wgml_gpu *gpu)
{
    uint64_t max = wgml_gpu_info(gpu)->max_buffer_size;
    wgml_gpu_buf *b = (wgml_gpu_buf *)1;
    wgml_status st = wgml_gpu_buf_create(gpu, max + 4, "huge", &b);
    printf("status %s: %s\n", wgml_status_name(st), wgml_gpu_last_error(gpu));
    TEST_CHECK(st == WGML_ERR_OUT_OF_MEMORY, "expected out-of-memory, got %s", wgml_status_name(st));
    TEST_CHECK(b == NULL, "out not cleared");
    TEST_CHECK(strstr(wgml_gpu_last_error(gpu), "maxBufferSize"), "message does not name the limit");
    st = wgml_gpu_buf_create(gpu, UINT64_MAX, "huger", &b);
    TEST_CHECK(st == WGML_ERR_OUT_OF_MEMORY, "UINT64_MAX bytes: %s", wgml_status_name(st));
    printf("ok   buffer beyond maxBufferSize refused\n");
    return 0;
}

static int test_bad_arguments(wgml_gpu *gpu)
{
    wgml_gpu_buf *small;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 64, "small", &small));
    wgml_view v = {small, 0};
    // Shapes larger than the buffers.
    TEST_CHECK(wgml_op_unary(gpu, WGML_UNARY_GELU, v, v, 1000, 1) == WGML_ERR_INVALID_ARGUMENT,
               "unary past the buffer accepted");
    TEST_CHECK(wgml_op_matmul(gpu, WGML_F32, v, v, v, 100, 100, 100) == WGML_ERR_INVALID_ARGUMENT,
               "matmul past the buffer accepted");
    TEST_CHECK(wgml_op_softmax(gpu, v, v, 0, 4) == WGML_ERR_INVALID_ARGUMENT, "0 rows accepted");
    TEST_CHECK(wgml_op_binary(gpu, WGML_BINARY_ADD, v, v, v, 10, 3) == WGML_ERR_INVALID_ARGUMENT,
               "b_n not dividing n accepted");
    TEST_CHECK(wgml_op_unary(gpu, (wgml_unary_op)99, v, v, 4, 1) == WGML_ERR_INVALID_ARGUMENT,
               "unknown op accepted");
    // Misaligned and out-of-range I/O.
    char buf[16];
    TEST_CHECK(wgml_gpu_buf_write(gpu, small, 2, buf, 4) == WGML_ERR_INVALID_ARGUMENT,
               "misaligned write accepted");
    TEST_CHECK(wgml_gpu_buf_read(gpu, small, 1 << 20, buf, 4) == WGML_ERR_INVALID_ARGUMENT,
               "read past the end accepted");
    TEST_CHECK(wgml_gpu_buf_create(gpu, 0, "zero", &small) == WGML_ERR_INVALID_ARGUMENT,
               "zero-size buffer accepted");
    wgml_gpu_kernel k = {.family = "no_such_kernel"};
    wgml_gpu_pipeline *p;
    TEST_CHECK(wgml_gpu_pipeline_get(gpu, &k, &p) == WGML_ERR_INVALID_ARGUMENT,
               "unknown kernel family accepted");
    // No dispatch was recorded by any of the failures.
    TEST_CHECK(wgml_gpu_pending_dispatches(gpu) == 0, "a failed op recorded a dispatch");
    TEST_OK(gpu, wgml_gpu_submit(gpu, NULL));
    printf("ok   bad arguments refused with statuses\n");
    return 0;
}

static int test_bad_dispatch(wgml_gpu *gpu)
{
    wgml_gpu_buf *b;
    TEST_OK(gpu, wgml_gpu_buf_create(gpu, 1024, "b", &b));
    // A copy kernel with uniform parameters at binding 0.
    wgml_gpu_kernel k = {.source =
        "struct P { n: u32 }\n"
        "@group(0) @binding(0) var<uniform> p: P;\n"
        "@group(0) @binding(1) var<storage, read> x: array<f32>;\n"
        "@group(0) @binding(2) var<storage, read_write> y: array<f32>;\n"
        "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {\n"
        "    if (g.x < p.n) { y[g.x] = x[g.x]; }\n"
        "}\n"};
    wgml_gpu_pipeline *p;
    TEST_OK(gpu, wgml_gpu_pipeline_get(gpu, &k, &p));
    wgml_gpu_binding bind[2] = {{.buf = b}, {.buf = b}};
    uint32_t too_many = wgml_gpu_info(gpu)->max_compute_workgroups_per_dimension + 1;
    TEST_CHECK(wgml_gpu_dispatch(gpu, p, NULL, 0, bind, 2, too_many, 1, 1) ==
               WGML_ERR_INVALID_ARGUMENT, "dispatch over the per-dimension limit accepted");
    wgml_gpu_binding misaligned[2] = {{.buf = b, .offset = 4}, {.buf = b}};
    TEST_CHECK(wgml_gpu_dispatch(gpu, p, NULL, 0, misaligned, 2, 1, 1, 1) ==
               WGML_ERR_INVALID_ARGUMENT, "misaligned binding accepted");
    // A binding layout that does not match the kernel (missing its uniform
    // params) is caught by WebGPU validation and comes back as a status.
    wgml_status st = wgml_gpu_dispatch(gpu, p, NULL, 0, bind, 2, 1, 1, 1);
    if (st == WGML_OK) st = wgml_gpu_submit(gpu, NULL);
    printf("status %s: %s\n", wgml_status_name(st), wgml_gpu_last_error(gpu));
    TEST_CHECK(st == WGML_ERR_GPU, "validation error not reported: %s", wgml_status_name(st));
    // And the device keeps working.
    float x[4] = {1, 2, 3, 4}, y[4];
    TEST_OK(gpu, wgml_gpu_buf_write(gpu, b, 0, x, sizeof x));
    TEST_OK(gpu, wgml_gpu_buf_read(gpu, b, 0, y, sizeof y));
    TEST_CHECK(y[3] == 4, "device unusable after a validation error");
    wgml_gpu_buf_release(gpu, b);
    printf("ok   bad dispatches refused\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_errors wgsl_syntax|buffer_too_large|bad_arguments|bad_dispatch\n");
        return 2;
    }
    wgml_gpu *gpu = test_gpu_create();
    const char *t = argv[1];
    int rc;
    if (!strcmp(t, "wgsl_syntax")) rc = test_wgsl_syntax(gpu);
    else if (!strcmp(t, "buffer_too_large")) rc = test_buffer_too_large(gpu);
    else if (!strcmp(t, "bad_arguments")) rc = test_bad_arguments(gpu);
    else if (!strcmp(t, "bad_dispatch")) rc = test_bad_dispatch(gpu);
    else {
        fprintf(stderr, "unknown test '%s'\n", t);
        rc = 2;
    }
    wgml_gpu_free(gpu);
    return rc;
}
