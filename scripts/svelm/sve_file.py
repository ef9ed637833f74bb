"""The engine's BERT SVE file (src/net/bert_sve.h), written from the study's eliminated layers.

A safetensors file holding only the eliminated linear layers:
  tensors "<layer>.weight" (out, K') F32 and "<layer>.bias" (out,) F32, <layer>
    the engine's graph name ("encoder/layer/0/attention/self/query");
  __metadata__ "deftnn.sve_format": "bert-sve-1",
               "deftnn.sve": JSON {layer: {"original_k", "kept", "swaps", "transform"}}
                 (each value the graph's per-layer "sve" entry, synapse/sve_apply.h),
               "deftnn.meta": JSON object (method, density, ...).
`deftnn embed MODEL_DIR --sve FILE` and `deftnn bench embed MODEL_DIR --sve FILE` read it.
Written with the standard library and NumPy only (the study runs on Debian's python3).
"""
import json
import os
import struct

import numpy as np


def layer_name(key):
    """The study's key "l3.attention.self.query" -> the engine's "encoder/layer/3/attention/self/query"."""
    l, name = key.split(".", 1)
    return f"encoder/layer/{int(l[1:])}/{name.replace('.', '/')}"


def write(path, linears, original_k, meta):
    """linears: {key: (kept (K',), W' (M, K'), b' (M,))}; original_k: {key: K}. Layers keeping every column are
    left out (the engine then runs them dense, which gives the same numbers without the gather)."""
    entries, tensors = {}, {}
    for key in sorted(linears):
        kept, w, b = linears[key]
        kept = np.asarray(kept)
        if len(kept) == original_k[key]:
            continue
        name = layer_name(key)
        entries[name] = {"original_k": int(original_k[key]), "kept": [int(k) for k in kept], "swaps": [],
                         "transform": "fused"}
        tensors[name + ".weight"] = np.ascontiguousarray(w, dtype="<f4")
        tensors[name + ".bias"] = np.ascontiguousarray(b, dtype="<f4")
    header, offset = {}, 0
    for name in sorted(tensors):
        t = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    header["__metadata__"] = {"deftnn.sve_format": "bert-sve-1", "deftnn.sve": json.dumps(entries),
                              "deftnn.meta": json.dumps(meta)}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)  # the data block starts 8-byte aligned
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name in sorted(tensors):
            f.write(tensors[name].tobytes())
    os.replace(tmp, path)
    return len(entries)
