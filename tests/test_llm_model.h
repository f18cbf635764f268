// Tiny Llama-architecture GGUF files with a tokenizer, written by the tests
// that load a whole wgml_llm (wgml.h): random weights, uniform of standard
// deviation 1/sqrt(fan-in) (the embeddings 0.5, so that the logits spread),
// norms 1; the output is tied to token_embd with vocab_from, a matrix of its
// own (0.5) with the byte vocabulary.
#ifndef WGML_TEST_LLM_MODEL_H
#define WGML_TEST_LLM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    TEST_LLM_DIM = 64,
    TEST_LLM_LAYERS = 2,
    TEST_LLM_HEADS = 4,
    TEST_LLM_KV_HEADS = 2,
    TEST_LLM_FFN = 128,
    TEST_LLM_BYTE_VOCAB = 257,   // the byte vocabulary: 256 bytes and <|endoftext|>
};

typedef struct test_llm_spec {
    // The tokenizer.* keys of this GGUF file (e.g. GPT-2's vocabulary); NULL:
    // a byte-level BPE vocabulary without merges (every byte a token, id 256
    // <|endoftext|> as BOS and EOS), in which only the tokens of printable
    // ASCII characters and space have embeddings and output rows (the others'
    // are zero), so the others' logits are exactly 0 and greedy decoding (or top-k among the
    // first few) never chooses them. Text out of such a model is then one
    // ASCII character per token.
    const char *vocab_from;
    uint32_t type;            // GGUF type of the matrices: F32 (0), F16, Q8_0, Q4_0, Q4_1
    uint32_t ctx;             // llama.context_length; 0: 256
    uint64_t seed;
    int64_t eos_override;     // >= 0: this id as EOS (with vocab_from)
    bool zero_output_norm;    // every logit 0 (greedy then picks id 0)
    const char *name;         // general.name; NULL: "test tiny"
} test_llm_spec;

// Writes the model to `path`. 0 on success, else 1 with the reason on stderr.
int test_llm_write(const test_llm_spec *s, const char *path);

// The C reference decoder's greedy continuation (src/models/llama_ref.h, token
// by token; argmax ties to the lowest id) of `prompt`, tokenized as
// wgml_llm_generate does, in the model at `path` with a context of n_ctx:
// `steps` ids in out and each step's top-2 logit margin in margin; the
// prompt's token count in *n_prompt (when not NULL). 0 on success, else 1
// with the reason on stderr.
int test_llm_reference_greedy(const char *path, const char *prompt, uint32_t n_ctx, int steps,
                              int32_t *out, double *margin, size_t *n_prompt);

// A temporary file name made for the test (mkstemp), removed at exit.
// Returns NULL (with the reason on stderr) when none can be made.
const char *test_llm_temp_path(const char *stem);

#endif
