#!/usr/bin/env python3
"""Builds an ONNX graph of all-MiniLM-L6-v2 (a BERT sentence embedder) from
its safetensors weights, for the browser comparison with ONNX Runtime Web
(web/bench/). No PyTorch: the graph is written op by op with the `onnx`
package, the way sentence-transformers computes it:

  ids -> word + position + token-type-0 embeddings -> LayerNorm
      -> 6 x [ self-attention (12 heads, additive mask) -> dense -> +residual -> LayerNorm
               -> dense -> GELU (erf) -> dense -> +residual -> LayerNorm ]
      -> mean over the unmasked tokens -> L2 normalisation

Inputs input_ids and attention_mask (int64, batch x tokens), output
sentence_embedding (float32, batch x 384). The graph is checked here with
onnxruntime (CPU) against sentence-transformers' stored vectors
(tests/data/minilm_embeddings.*): cosine >= 0.9999 for every text.

It also writes the token ids of the benchmark sentences (tokenizers, from the
model's tokenizer.json) so that the browser feeds ONNX Runtime the same ids
wgml computes itself.

  pip install onnx==1.23.2 onnxruntime==1.31.1 safetensors==0.8.0 tokenizers==0.23.3 numpy
  nice -n 19 python3 scripts/export_minilm_onnx.py [--model DIR] [--out build/web-bench]
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, value, base="c", dtype=np.float32):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), n))
        return n

    def op(self, kind, inputs, base=None, **attrs):
        out = self.name(base or kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out


def build(weights, cfg):
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    HD = D // H
    eps = cfg.get("layer_norm_eps", 1e-12)
    w = {k[5:] if k.startswith("bert.") else k: v.astype(np.float32) for k, v in weights.items()}
    b = Builder()

    def linear(x, prefix):
        # torch Linear: y = x W^T + b, W is (out, in).
        y = b.op("MatMul", [x, b.const(w[prefix + ".weight"].T, prefix + ".wT")])
        return b.op("Add", [y, b.const(w[prefix + ".bias"], prefix + ".b")])

    def layernorm(x, prefix):
        return b.op("LayerNormalization", [x, b.const(w[prefix + ".weight"]), b.const(w[prefix + ".bias"])],
                    axis=-1, epsilon=eps)

    # Embeddings.
    words = b.op("Gather", [b.const(w["embeddings.word_embeddings.weight"], "word_emb"), "input_ids"])
    seq = b.op("Gather", [b.op("Shape", ["input_ids"]), b.const(1, dtype=np.int64)], axis=0)
    pos_ids = b.op("Range", [b.const(0, dtype=np.int64), seq, b.const(1, dtype=np.int64)])
    pos = b.op("Gather", [b.const(w["embeddings.position_embeddings.weight"], "pos_emb"), pos_ids])
    tt0 = b.const(w["embeddings.token_type_embeddings.weight"][0], "tt0")
    x = layernorm(b.op("Add", [b.op("Add", [words, pos]), tt0]), "embeddings.LayerNorm")

    # Additive mask (B, 1, 1, L): 0 for tokens, a large negative number for padding.
    maskf = b.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    neg = b.op("Mul", [b.op("Sub", [b.const(1.0), maskf]), b.const(-1e9)])
    add_mask = b.op("Unsqueeze", [neg, b.const([1, 2], dtype=np.int64)])
    heads = b.const([0, 0, H, HD], dtype=np.int64)
    merge = b.const([0, 0, D], dtype=np.int64)
    scale = b.const(1.0 / math.sqrt(HD))

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def split(t):   # (B, L, D) -> (B, H, L, HD)
            return b.op("Transpose", [b.op("Reshape", [t, heads])], perm=[0, 2, 1, 3])

        q = split(linear(x, p + "attention.self.query"))
        k = split(linear(x, p + "attention.self.key"))
        v = split(linear(x, p + "attention.self.value"))
        kt = b.op("Transpose", [k], perm=[0, 1, 3, 2])
        scores = b.op("Add", [b.op("Mul", [b.op("MatMul", [q, kt]), scale]), add_mask])
        probs = b.op("Softmax", [scores], axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = b.op("Reshape", [ctx, merge])
        x = layernorm(b.op("Add", [linear(ctx, p + "attention.output.dense"), x]),
                      p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        # GELU, erf form: 0.5 x (1 + erf(x / sqrt 2)).
        g = b.op("Mul", [b.op("Mul", [h, b.const(0.5)]),
                         b.op("Add", [b.op("Erf", [b.op("Div", [h, b.const(math.sqrt(2.0))])]), b.const(1.0)])])
        x = layernorm(b.op("Add", [linear(g, p + "output.dense"), x]), p + "output.LayerNorm")

    # Mean pooling over the unmasked tokens, then L2 normalisation.
    m3 = b.op("Unsqueeze", [maskf, b.const([2], dtype=np.int64)])
    summed = b.op("ReduceSum", [b.op("Mul", [x, m3]), b.const([1], dtype=np.int64)], keepdims=0)
    count = b.op("Max", [b.op("ReduceSum", [m3, b.const([1], dtype=np.int64)], keepdims=0), b.const(1e-9)])
    mean = b.op("Div", [summed, count])
    norm = b.op("Max", [b.op("ReduceL2", [mean], axes=[1], keepdims=1), b.const(1e-12)])   # axes: an attribute before opset 18
    b.nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))

    graph = helper.make_graph(
        b.nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", D])],
        b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="wgml scripts/export_minilm_onnx.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def encode(tok, texts):
    enc = tok.encode_batch(texts)
    L = max(len(e.ids) for e in enc)
    ids = np.zeros((len(texts), L), np.int64)
    mask = np.zeros((len(texts), L), np.int64)
    for i, e in enumerate(enc):
        ids[i, :len(e.ids)] = e.ids
        mask[i, :len(e.ids)] = 1
    return ids, mask


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, ".deps/models/all-MiniLM-L6-v2"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build/web-bench"))
    a = ap.parse_args()
    import onnxruntime as ort
    from tokenizers import Tokenizer

    cfg = json.load(open(os.path.join(a.model, "config.json")))
    model = build(load_file(os.path.join(a.model, "model.safetensors")), cfg)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "all-MiniLM-L6-v2.onnx")
    onnx.save(model, path)

    # Check against sentence-transformers' stored vectors, one text at a time
    # (no padding) and all texts in one padded batch.
    lines = open(os.path.join(ROOT, "tests/data/minilm_embeddings.jsonl"), encoding="utf-8").read().splitlines()
    head = json.loads(lines[0])
    texts = [json.loads(l)["text"] for l in lines[1:]]
    ref = np.fromfile(os.path.join(ROOT, "tests/data/minilm_embeddings.bin"), np.float32).reshape(-1, head["dim"])
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    tok.enable_truncation(head["max_seq_length"])
    tok.no_padding()   # tokenizer.json may pad; the batch is padded here, with its mask
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ids, mask = encode(tok, texts)
    got = sess.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]
    cos = np.sum(got * ref, axis=1) / np.maximum(np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1), 1e-30)
    cos[np.linalg.norm(ref, axis=1) == 0] = 1.0
    worst = float(cos.min())
    if os.environ.get("DEBUG"): print(np.round(cos, 4))
    print(f"{path}: {os.path.getsize(path)} bytes; {len(texts)} texts in one padded batch, "
          f"worst cosine with sentence-transformers {worst:.9f}")
    if worst < 0.9999:
        print("FAIL: the ONNX graph does not match sentence-transformers", file=sys.stderr)
        return 1

    # The benchmark's sentences and their ids (web/bench/sentences.json).
    bench = json.load(open(os.path.join(ROOT, "web/bench/sentences.json"), encoding="utf-8"))
    out = {"model": "all-MiniLM-L6-v2", "tokenizer": "tokenizers " + __import__("tokenizers").__version__,
           "texts": bench, "ids": [e.ids for e in tok.encode_batch(bench)]}
    json.dump(out, open(os.path.join(a.out, "sentences_ids.json"), "w", encoding="utf-8"), ensure_ascii=False)
    print(f"{a.out}/sentences_ids.json: {len(bench)} sentences, "
          f"{min(len(i) for i in out['ids'])}..{max(len(i) for i in out['ids'])} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
