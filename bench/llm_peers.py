#!/usr/bin/env python3
"""Text-generation peer for `wgml generate --json`, on the same GPU and shapes:
Hugging Face transformers' LlamaForCausalLM in float16 on CUDA with random
weights (speed does not depend on weight values; the GPU machine cannot
receive real weights), the shapes of a named preset (the same presets as
`wgml synth`).

    python3 bench/llm_peers.py --preset smollm2-135m [--prompt 512] [--decode 128]

Prefill: one forward over a `--prompt`-token batch of 1, timed with CUDA
events (median of --repeat). Decode: greedy tokens one at a time with the KV
cache (the model's own cache), `--decode` steps after the prompt, timed as a
whole and reported as tokens/s. Prints one JSON line per preset.
"""
import argparse
import json

import torch

PRESETS = {
    # dim, layers, heads, kv heads, ffn, vocab, rope base, tied
    "smollm2-135m": dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, intermediate_size=1536, vocab_size=49152,
                         rope_theta=100000.0, tie_word_embeddings=True),
    "llama3-8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, intermediate_size=14336, vocab_size=128256,
                      rope_theta=500000.0, tie_word_embeddings=False),
}


def median_ms(fn, repeat):
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(repeat):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    return sorted(ts)[len(ts) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", action="append", choices=sorted(PRESETS))
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    import transformers
    for name in a.preset or ["smollm2-135m"]:
        cfg = transformers.LlamaConfig(max_position_embeddings=4096, rms_norm_eps=1e-5,
                                       **PRESETS[name])
        torch.manual_seed(0)
        with torch.device("cuda"):
            model = transformers.LlamaForCausalLM(cfg).to(torch.float16).eval()
        ids = torch.randint(100, cfg.vocab_size, (1, a.prompt), device="cuda")
        with torch.inference_mode():
            prefill_ms = median_ms(lambda: model(input_ids=ids, use_cache=False), a.repeat)

            def decode():
                out = model(input_ids=ids, use_cache=True)
                past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
                torch.cuda.synchronize()
                a_ev, b_ev = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a_ev.record()
                for _ in range(a.decode):
                    out = model(input_ids=tok, past_key_values=past, use_cache=True)
                    past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
                    tok.item()   # the token goes back to the host each step, as a generator's would
                b_ev.record()
                torch.cuda.synchronize()
                return a_ev.elapsed_time(b_ev)
            decode()
            decode_ms = sorted(decode() for _ in range(3))[1]
        print(json.dumps({"peer": "transformers-cuda-f16", "preset": name, "prompt_tokens": a.prompt,
                          "prefill_ms": prefill_ms, "prefill_tokens_per_s": a.prompt / prefill_ms * 1e3,
                          "decode_tokens": a.decode, "decode_tokens_per_s": a.decode / decode_ms * 1e3,
                          "torch": torch.__version__, "transformers": transformers.__version__}),
              flush=True)
        del model
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
