#include "core/ctx_internal.h"

#include <stdio.h>
#include <stdlib.h>

const char *wgml_status_name(wgml_status s)
{
    switch (s) {
    case WGML_OK: return "ok";
    case WGML_ERR_INVALID_ARGUMENT: return "invalid argument";
    case WGML_ERR_BAD_FILE: return "bad file";
    case WGML_ERR_UNSUPPORTED: return "unsupported";
    case WGML_ERR_OUT_OF_MEMORY: return "out of memory";
    case WGML_ERR_DEVICE_LOST: return "device lost";
    case WGML_ERR_GPU: return "GPU error";
    }
    return "unknown status";
}

wgml_status wgml_ctx_create(const wgml_ctx_params *params, wgml_ctx **out, char *err,
                            size_t err_size)
{
    if (!out) {
        if (err) snprintf(err, err_size, "wgml_ctx_create: out is NULL");
        return WGML_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    wgml_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        if (err) snprintf(err, err_size, "out of host memory");
        return WGML_ERR_OUT_OF_MEMORY;
    }
    wgml_gpu_options opt = {0};
    if (params) {
        opt.power = params->power;
        opt.disable_f16 = params->disable_f16;
        opt.disable_subgroups = params->disable_subgroups;
        opt.disable_timestamps = params->disable_timestamps;
        opt.bounds_checks = params->bounds_checks;
    }
    wgml_status st = wgml_gpu_create(&opt, &ctx->gpu, err, err_size);
    if (st) {
        free(ctx);
        return st;
    }
    *out = ctx;
    return WGML_OK;
}

void wgml_ctx_free(wgml_ctx *ctx)
{
    if (!ctx) return;
    wgml_gpu_free(ctx->gpu);
    free(ctx);
}

const char *wgml_ctx_last_error(const wgml_ctx *ctx)
{
    return ctx ? wgml_gpu_last_error(ctx->gpu) : "no context";
}

wgml_status wgml_ctx_device_info(wgml_ctx *ctx, wgml_device_info *out)
{
    if (!ctx || !out) return WGML_ERR_INVALID_ARGUMENT;
    *out = *wgml_gpu_info(ctx->gpu);
    return WGML_OK;
}

bool wgml_ctx_device_lost(const wgml_ctx *ctx) { return ctx && wgml_gpu_lost(ctx->gpu); }

wgml_status wgml_ctx_recover(wgml_ctx *ctx)
{
    if (!ctx) return WGML_ERR_INVALID_ARGUMENT;
    return wgml_gpu_recover(ctx->gpu);
}
