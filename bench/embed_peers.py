#!/usr/bin/env python3
"""Sentence-encoder peers for `wgml bench embed`, on the same GPU and shapes.

The GPU machine cannot receive the all-MiniLM-L6-v2 weights (the device tool
carries 64 MiB), and speed does not depend on weight values, so both sides
run a model with all-MiniLM-L6-v2's exact configuration and random weights:

    python3 bench/embed_peers.py --write-model DIR   # config + safetensors for wgml
    python3 bench/embed_peers.py --model DIR         # time the peers: JSON lines

The peer is what sentence-transformers runs for this model after tokenising:
transformers' BertModel (SDPA attention), mean pooling over the mask, L2
normalisation; in float32 (TF32 off) and float16 on CUDA, timed with CUDA
events (median of --repeat, after a warm-up), on the same full-length random
token batches. sentence-transformers itself is used when installed (its
modules on the same weights); onnxruntime on the CPU when installed (an ONNX
export of the same model).
"""
import argparse
import json
import os
import sys
import time

import torch

MINILM = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
              intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2,
              hidden_act="gelu", layer_norm_eps=1e-12)


def write_model(path):
    import transformers
    os.makedirs(os.path.join(path, "1_Pooling"), exist_ok=True)
    torch.manual_seed(0)
    m = transformers.BertModel(transformers.BertConfig(**MINILM), add_pooling_layer=False)
    m.save_pretrained(path, safe_serialization=True)
    with open(os.path.join(path, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], f)
    with open(os.path.join(path, "1_Pooling/config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True}, f)


def batch_ids(batch, seq, vocab, device):
    g = torch.Generator().manual_seed(batch * 1000 + seq)
    ids = torch.randint(1000, vocab, (batch, seq), generator=g)
    ids[:, 0] = 101
    return ids.to(device), torch.ones(batch, seq, dtype=torch.long, device=device)


def cuda_time(fn, repeat):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def encoder(path, dtype):
    """(name, forward(ids, mask) -> normalised embeddings)."""
    try:
        from sentence_transformers import models
        t = models.Transformer(path, tokenizer_name_or_path=None)
        pool = models.Pooling(384, pooling_mode="mean")
        norm = models.Normalize()
        mods = torch.nn.Sequential(t, pool, norm).to("cuda", dtype).eval()

        def fwd(ids, mask):
            return mods({"input_ids": ids, "attention_mask": mask})["sentence_embedding"]
        return "sentence-transformers", fwd
    except Exception as e:  # noqa: BLE001 - any failure falls back to the same maths
        print(f"sentence-transformers unavailable ({type(e).__name__}: {e}); "
              "using transformers BertModel + mean pooling + normalise", file=sys.stderr)
    import transformers
    bert = transformers.BertModel.from_pretrained(path, add_pooling_layer=False,
                                                  attn_implementation="sdpa")
    bert = bert.to("cuda", dtype).eval()

    def fwd(ids, mask):
        h = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
    return "transformers", fwd


def time_onnxruntime(path, batches, seqs, repeat):
    try:
        import onnxruntime as ort
        import transformers
    except ImportError as e:
        print(json.dumps({"peer": "onnxruntime-cpu", "unavailable": str(e)}), flush=True)
        return
    onnx_path = os.path.join(path, "model.onnx")
    bert = transformers.BertModel.from_pretrained(path, add_pooling_layer=False).eval()

    class Encoder(torch.nn.Module):   # keyword arguments: BertModel's positions vary by version
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids, mask):
            return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    ids, mask = batch_ids(1, 16, MINILM["vocab_size"], "cpu")
    torch.onnx.export(Encoder().eval(), (ids, mask), onnx_path, input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state"], dynamic_axes={
                          "input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}},
                      opset_version=17, dynamo=False)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    for seq in seqs:
        for batch in batches:
            ids, mask = batch_ids(batch, seq, MINILM["vocab_size"], "cpu")
            feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
            sess.run(None, feed)
            ts = []
            for _ in range(max(1, repeat // 4)):
                t0 = time.perf_counter()
                sess.run(None, feed)
                ts.append(time.perf_counter() - t0)
            ms = sorted(ts)[len(ts) // 2] * 1e3
            print(json.dumps({"peer": "onnxruntime-cpu", "precision": "f32", "batch": batch,
                              "seq": seq, "ms": ms, "sentences_per_s": batch / ms * 1e3,
                              "threads": os.cpu_count(), "version": ort.__version__}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write-model", metavar="DIR")
    ap.add_argument("--model", metavar="DIR")
    ap.add_argument("--batch", default="1,8,32,128")
    ap.add_argument("--seq", default="128,512")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--no-onnxruntime", action="store_true")
    a = ap.parse_args()
    if a.write_model:
        write_model(a.write_model)
        return
    if not a.model:
        ap.error("--model or --write-model")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    batches = [int(x) for x in a.batch.split(",")]
    seqs = [int(x) for x in a.seq.split(",")]
    for dtype, name in ((torch.float32, "f32"), (torch.float16, "f16")):
        peer, fwd = encoder(a.model, dtype)
        with torch.inference_mode():
            for seq in seqs:
                for batch in batches:
                    ids, mask = batch_ids(batch, seq, MINILM["vocab_size"], "cuda")
                    ms = cuda_time(lambda: fwd(ids, mask), a.repeat)
                    print(json.dumps({"peer": f"{peer}-cuda", "precision": name, "batch": batch,
                                      "seq": seq, "ms": ms, "sentences_per_s": batch / ms * 1e3,
                                      "torch": torch.__version__}), flush=True)
    if not a.no_onnxruntime:
        time_onnxruntime(a.model, batches, seqs, a.repeat)


if __name__ == "__main__":
    main()
