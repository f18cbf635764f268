#!/usr/bin/env python3
"""Writes a second, small BERT-family model and its expected embeddings, so
tests/test_bert.c checks that a model directory other than all-MiniLM-L6-v2
works: CLS pooling, no normalisation, 4 heads of 16, 2 layers, F16 weights,
a vocab.txt tokenizer (no tokenizer.json). No registry package ships a second
BERT-family sentence model in this layout, so the weights are random (seeded)
and the reference is sentence-transformers (PyTorch, CPU, float32) on the
same directory.

    pip install sentence-transformers torch   # versions recorded in the output
    python3 scripts/gen_bert_tiny_testdata.py [MINILM_DIR]

The vocabulary is the first 3000 entries of all-MiniLM-L6-v2's vocab.txt plus
its single-character continuation pieces (##x), so most text tokenises into
real pieces. Writes tests/data/bert_tiny_cls/ (the model directory) and
tests/data/bert_tiny_cls_embeddings.{jsonl,bin} (the format of
gen_embedding_testdata.py: a header line, then {"text", "tokens"} per line;
float32 rows in the same order).
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import sentence_transformers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINILM = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".deps/models/all-MiniLM-L6-v2")
DATA = os.path.join(ROOT, "tests/data")
OUT = os.path.join(DATA, "bert_tiny_cls")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from gen_embedding_testdata import TEXTS  # noqa: E402


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def main():
    os.makedirs(os.path.join(OUT, "1_Pooling"), exist_ok=True)
    with open(os.path.join(MINILM, "vocab.txt"), encoding="utf-8") as f:
        full = f.read().split("\n")
    vocab = full[:3000] + [w for w in full[3000:] if w.startswith("##") and len(w) == 3]
    with open(os.path.join(OUT, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    write_json(os.path.join(OUT, "tokenizer_config.json"),
               {"do_lower_case": True, "model_max_length": 128, "tokenizer_class": "BertTokenizer"})
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, max_position_embeddings=128, type_vocab_size=2,
        hidden_act="gelu", layer_norm_eps=1e-12, initializer_range=0.1)
    torch.manual_seed(20261121)
    bert = transformers.BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():   # random, not zero, biases and layernorm parameters
        for name, p in bert.named_parameters():
            if name.endswith("bias"):
                p.normal_(0.0, 0.05)
            elif "LayerNorm.weight" in name:
                p.normal_(1.0, 0.1)
    bert.half().save_pretrained(OUT, safe_serialization=True)
    write_json(os.path.join(OUT, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
    write_json(os.path.join(OUT, "sentence_bert_config.json"),
               {"max_seq_length": 128, "do_lower_case": False})
    write_json(os.path.join(OUT, "1_Pooling/config.json"),
               {"word_embedding_dimension": 64, "pooling_mode_cls_token": True,
                "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False})

    model = SentenceTransformer(OUT, device="cpu").float().eval()
    emb = model.encode(TEXTS, batch_size=16, convert_to_numpy=True,
                       normalize_embeddings=False).astype("<f4")
    tok, max_len = model.tokenizer, model.max_seq_length
    with open(os.path.join(DATA, "bert_tiny_cls_embeddings.jsonl"), "w", encoding="utf-8") as f:
        f.write(json.dumps({"model": "bert_tiny_cls (random weights)", "dim": int(emb.shape[1]),
                            "count": len(TEXTS), "max_seq_length": max_len,
                            "versions": {"sentence_transformers": sentence_transformers.__version__,
                                         "transformers": transformers.__version__,
                                         "torch": torch.__version__}}) + "\n")
        for t in TEXTS:
            n = len(tok(t, truncation=True, max_length=max_len)["input_ids"])
            f.write(json.dumps({"text": t, "tokens": n}, ensure_ascii=False) + "\n")
    with open(os.path.join(DATA, "bert_tiny_cls_embeddings.bin"), "wb") as f:
        f.write(emb.tobytes())
    print(f"{len(TEXTS)} texts, dim {emb.shape[1]}, vocab {len(vocab)}")


if __name__ == "__main__":
    main()
