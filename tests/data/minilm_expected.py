#!/usr/bin/env python3
"""Expected values for tests/test_safetensors.c (the `model` case), read from
all-MiniLM-L6-v2's model.safetensors by the reference reader (PyPI
`safetensors`, numpy backend), so the C loader is checked against code it
shares nothing with.

    pip install safetensors numpy
    python3 tests/data/minilm_expected.py .deps/models/all-MiniLM-L6-v2/model.safetensors \
        > tests/data/minilm_expected.txt

Output, one record a line:
    file <bytes> <sha256>
    metadata <key> <value>
    tensor <name> <dtype> <n_dims> <dims...> <sum as %.17g> <sum of |x| as %.17g>
    value <name> <flat index> <value>      (floats: shortest repr of the f32)
"""
import hashlib
import os
import sys

import numpy as np
from safetensors import safe_open

path = sys.argv[1]
with open(path, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
print(f"file {os.path.getsize(path)} {digest}")

with safe_open(path, framework="numpy") as st:
    for key, value in sorted((st.metadata() or {}).items()):
        print(f"metadata {key} {value}")
    for name in sorted(st.keys()):
        x = st.get_tensor(name)
        dtype = {"float32": "F32", "float16": "F16", "int64": "I64"}[str(x.dtype)]
        flat = x.reshape(-1)
        total = float(np.sum(flat, dtype=np.float64))
        total_abs = float(np.sum(np.abs(flat), dtype=np.float64))
        dims = " ".join(str(d) for d in x.shape)
        print(f"tensor {name} {dtype} {x.ndim} {dims} {total!r} {total_abs!r}")
        n = flat.size
        # First, second, middle, last and a few spread through the tensor.
        picks = sorted({0, 1, n // 2, n - 1, (n * 7) // 13, (n * 11) // 17, 101 * 384 + 5}
                       & set(range(n)))
        for i in picks:
            v = flat[i]
            text = repr(int(v)) if dtype == "I64" else repr(float(v))
            print(f"value {name} {i} {text}")
