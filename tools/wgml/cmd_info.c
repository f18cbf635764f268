// wgml info: what the adapter is and what wgml can use on it.
#include "cli.h"

#include <string.h>

static const char USAGE[] =
    "usage: wgml info [--json]\n"
    "\n"
    "Shows the WebGPU adapter wgml runs on: implementation, vendor, architecture,\n"
    "device, backend, the optional features wgml uses (shader-f16, subgroups and\n"
    "their sizes, timestamp queries, packed 4x8 integer dot product, subgroup\n"
    "matrices) and the limits that matter for ML.\n"
    "\n"
    "  --json   print one JSON object instead of text\n";

static void print_text(const wgml_device_info *d)
{
    printf("implementation   %s\n", d->implementation);
    printf("vendor           %s (0x%04x)\n", d->vendor, d->vendor_id);
    printf("architecture     %s\n", d->architecture);
    printf("device           %s (0x%04x)\n", d->device, d->device_id);
    printf("description      %s\n", d->description);
    printf("backend          %s\n", d->backend);
    printf("adapter type     %s\n", d->adapter_type);
    printf("features\n");
    printf("  shader-f16               %s\n", d->shader_f16 ? "yes" : "no");
    printf("  subgroups                %s", d->subgroups ? "yes" : "no");
    if (d->subgroup_min_size)
        printf(" (sizes %u..%u)", d->subgroup_min_size, d->subgroup_max_size);
    printf("\n");
    printf("  timestamp-query          %s\n", d->timestamp_query ? "yes" : "no");
    printf("  packed 4x8 dot product   %s\n", d->packed_dot4 ? "yes" : "no");
    printf("  subgroup matrices        %s\n", d->subgroup_matrix ? "yes" : "no");
    printf("  bounds checks            %s\n", d->bounds_checks ? "yes" : "no (Dawn robustness off)");
    for (uint32_t i = 0; i < d->n_subgroup_matrix_configs; i++) {
        const wgml_subgroup_matrix_config *c = &d->subgroup_matrix_configs[i];
        printf("    %s x %s -> %s, M %u N %u K %u\n", c->component, c->component, c->result,
               c->M, c->N, c->K);
    }
    printf("limits\n");
    if (d->device_memory)
        printf("  device memory                      %llu\n", (unsigned long long)d->device_memory);
    else
        printf("  device memory                      (not said)\n");
    printf("  maxBufferSize                      %llu\n", (unsigned long long)d->max_buffer_size);
    printf("  maxStorageBufferBindingSize        %llu\n",
           (unsigned long long)d->max_storage_buffer_binding_size);
    printf("  maxUniformBufferBindingSize        %llu\n",
           (unsigned long long)d->max_uniform_buffer_binding_size);
    printf("  maxStorageBuffersPerShaderStage    %u\n", d->max_storage_buffers_per_stage);
    printf("  maxComputeWorkgroupStorageSize     %u\n", d->max_compute_workgroup_storage_size);
    printf("  maxComputeInvocationsPerWorkgroup  %u\n", d->max_compute_invocations_per_workgroup);
    printf("  maxComputeWorkgroupSize            %u x %u x %u\n", d->max_compute_workgroup_size_x,
           d->max_compute_workgroup_size_y, d->max_compute_workgroup_size_z);
    printf("  maxComputeWorkgroupsPerDimension   %u\n", d->max_compute_workgroups_per_dimension);
    printf("  minStorageBufferOffsetAlignment    %u\n", d->min_storage_buffer_offset_alignment);
    printf("  minUniformBufferOffsetAlignment    %u\n", d->min_uniform_buffer_offset_alignment);
}

static void print_json(const wgml_device_info *d)
{
    printf("{\"implementation\":");
    cli_json_string(stdout, d->implementation);
    printf(",\"vendor\":");
    cli_json_string(stdout, d->vendor);
    printf(",\"architecture\":");
    cli_json_string(stdout, d->architecture);
    printf(",\"device\":");
    cli_json_string(stdout, d->device);
    printf(",\"description\":");
    cli_json_string(stdout, d->description);
    printf(",\"backend\":");
    cli_json_string(stdout, d->backend);
    printf(",\"adapter_type\":");
    cli_json_string(stdout, d->adapter_type);
    printf(",\"vendor_id\":%u,\"device_id\":%u", d->vendor_id, d->device_id);
    printf(",\"features\":{\"shader_f16\":%s,\"subgroups\":%s,\"subgroup_min_size\":%u,"
           "\"subgroup_max_size\":%u,\"timestamp_query\":%s,\"packed_dot4\":%s,"
           "\"bounds_checks\":%s,\"subgroup_matrix\":%s,\"subgroup_matrix_configs\":[",
           d->shader_f16 ? "true" : "false", d->subgroups ? "true" : "false",
           d->subgroup_min_size, d->subgroup_max_size, d->timestamp_query ? "true" : "false",
           d->packed_dot4 ? "true" : "false", d->bounds_checks ? "true" : "false",
           d->subgroup_matrix ? "true" : "false");
    for (uint32_t i = 0; i < d->n_subgroup_matrix_configs; i++) {
        const wgml_subgroup_matrix_config *c = &d->subgroup_matrix_configs[i];
        printf("%s{\"component\":\"%s\",\"result\":\"%s\",\"M\":%u,\"N\":%u,\"K\":%u}",
               i ? "," : "", c->component, c->result, c->M, c->N, c->K);
    }
    printf("]}");
    printf(",\"limits\":{\"device_memory\":%llu,\"max_buffer_size\":%llu,"
           "\"max_storage_buffer_binding_size\":%llu,"
           "\"max_uniform_buffer_binding_size\":%llu,\"max_storage_buffers_per_stage\":%u,"
           "\"max_compute_workgroup_storage_size\":%u,"
           "\"max_compute_invocations_per_workgroup\":%u,"
           "\"max_compute_workgroup_size\":[%u,%u,%u],"
           "\"max_compute_workgroups_per_dimension\":%u,"
           "\"min_storage_buffer_offset_alignment\":%u,"
           "\"min_uniform_buffer_offset_alignment\":%u}}\n",
           (unsigned long long)d->device_memory, (unsigned long long)d->max_buffer_size,
           (unsigned long long)d->max_storage_buffer_binding_size,
           (unsigned long long)d->max_uniform_buffer_binding_size,
           d->max_storage_buffers_per_stage, d->max_compute_workgroup_storage_size,
           d->max_compute_invocations_per_workgroup, d->max_compute_workgroup_size_x,
           d->max_compute_workgroup_size_y, d->max_compute_workgroup_size_z,
           d->max_compute_workgroups_per_dimension, d->min_storage_buffer_offset_alignment,
           d->min_uniform_buffer_offset_alignment);
}

int wgml_cmd_info(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "wgml info: unknown option '%s'\n\n%s", argv[i], USAGE);
            return 2;
        }
    }
    wgml_gpu *gpu = cli_gpu_create(NULL);
    if (!gpu) return 1;
    if (json) print_json(wgml_gpu_info(gpu));
    else print_text(wgml_gpu_info(gpu));
    wgml_gpu_free(gpu);
    return 0;
}
