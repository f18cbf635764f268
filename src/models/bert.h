/*
 * BERT-family encoders (Hugging Face BertModel) as sentence embedders, the
 * way sentence-transformers runs them: token ids -> embeddings (word +
 * absolute position + token type 0) -> layernorm -> N encoder layers
 * (masked multi-head self-attention, GELU feed-forward, post-layernorm
 * residuals) -> pooling (mean over the tokens, or the [CLS] row) -> L2
 * normalisation when the model lists a Normalize module.
 *
 * A model directory holds
 *   config.json          hidden_size, num_attention_heads, num_hidden_layers,
 *                        intermediate_size, layer_norm_eps, vocab_size,
 *                        max_position_embeddings, type_vocab_size,
 *                        hidden_act ("gelu": the erf form), position_embedding_type
 *                        ("absolute" or absent)
 *   model.safetensors    F32, F16 or BF16 tensors named as BertModel names them,
 *                        with or without a "bert." prefix:
 *                          embeddings.{word,position,token_type}_embeddings.weight
 *                          embeddings.LayerNorm.{weight,bias}
 *                          encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
 *                          encoder.layer.N.attention.output.dense.{weight,bias}
 *                          encoder.layer.N.attention.output.LayerNorm.{weight,bias}
 *                          encoder.layer.N.intermediate.dense.{weight,bias}
 *                          encoder.layer.N.output.dense.{weight,bias}
 *                          encoder.layer.N.output.LayerNorm.{weight,bias}
 *                        Linear weights are (out, in): y = x W^T + b.
 *   modules.json         (optional) sentence-transformers modules: the Pooling
 *                        module's folder holds config.json with
 *                        pooling_mode_mean_tokens / pooling_mode_cls_token; a
 *                        Normalize module turns on L2 normalisation. Without
 *                        modules.json: mean pooling, no normalisation.
 * Every shape in the file is checked against config.json before upload.
 *
 * The encoder is one wgml graph per (batch, length): one submit per batch,
 * fused kernels, planned memory. Weights are uploaded once and bound into
 * every plan in place (the query, key and value projections concatenated
 * into one (3D x D) matrix, so one matmul makes the packed QKV attention
 * reads). Plans are cached by shape.
 *
 * Dimension legend: B sequences of L tokens; D hidden size = H heads * HD;
 * I intermediate size; V vocabulary; P max positions; T token types.
 */
#ifndef WGML_BERT_H
#define WGML_BERT_H

#include "gpu/gpu.h"
#include "ops/ops.h"

typedef struct wgml_bert_config {
    uint32_t vocab_size;         // V
    uint32_t hidden_size;        // D
    uint32_t num_heads;          // H
    uint32_t num_layers;
    uint32_t intermediate_size;  // I
    uint32_t max_position;       // P: longest sequence, in tokens
    uint32_t type_vocab_size;    // T
    float layer_norm_eps;
    wgml_pool_mode pooling;
    bool normalize;              // L2 normalisation after pooling
    bool f16_weights;            // Linear weights held in f16 (as loaded)
} wgml_bert_config;

typedef struct wgml_bert wgml_bert;

// Loads config, pooling modules and weights from a model directory and
// uploads the weights. With f16_weights (shader-f16 only) the Linear layers'
// weights are held in f16: half the memory and weight traffic; activations,
// sums, embeddings and norms stay f32. Failures are recorded on gpu
// (wgml_gpu_last_error): WGML_ERR_BAD_FILE for a file that breaks a rule,
// UNSUPPORTED for a model this encoder does not implement.
wgml_status wgml_bert_load(wgml_gpu *gpu, const char *dir, bool f16_weights, wgml_bert **out);
void wgml_bert_free(wgml_bert *m);
const wgml_bert_config *wgml_bert_config_of(const wgml_bert *m);

// Embeds B sequences of L tokens: ids (B x L) below V, mask (B x L) 1 for a
// token and 0 for padding (a sequence may be all padding: its row is zeros);
// out (B x D). L <= P. The first call for a shape compiles its plan. With
// gpu_ns, the run is timed with GPU timestamps (-1 where the device has none).
wgml_status wgml_bert_embed_ids(wgml_bert *m, const int32_t *ids, const int32_t *mask,
                                uint32_t batch, uint32_t seq, float *out, double *gpu_ns);

// The plan for (batch, seq), compiled if needed: its kernel count and the
// memory of its intermediates, planned (shared by liveness) and naive (one
// buffer each), in bytes.
typedef struct wgml_bert_plan_stats {
    int kernels;
    uint64_t planned_bytes, naive_bytes;
    double flops, bytes;   // sums over the kernels (wgml_plan_flops, wgml_plan_bytes)
} wgml_bert_plan_stats;
wgml_status wgml_bert_plan_stats_get(wgml_bert *m, uint32_t batch, uint32_t seq,
                                     wgml_bert_plan_stats *out);

// The encoder behind a public embedder (for tools: plan statistics).
wgml_bert *wgml_embedder_bert(wgml_embedder *e);

#endif
