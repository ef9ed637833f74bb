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


def layer_key(name):
    """The engine's "encoder/layer/3/attention/self/query" -> the study's key "l3.attention.self.query"."""
    parts = name.split("/")
    if len(parts) < 4 or parts[0] != "encoder" or parts[1] != "layer":
        raise ValueError(f"layer '{name}' is not an encoder linear layer")
    return f"l{int(parts[2])}." + ".".join(parts[3:])


def read(path):
    """An SVE file -> ({key: (kept (K',), W' (M, K'), b' (M,))}, meta), the form compressed() and write() use."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    md = header.pop("__metadata__", {})
    if md.get("deftnn.sve_format") != "bert-sve-1":
        raise ValueError(f"{path}: not a BERT SVE file (deftnn.sve_format {md.get('deftnn.sve_format')!r})")

    def tensor(name):
        h = header[name]
        if h["dtype"] != "F32":
            raise ValueError(f"{path}: tensor '{name}' is {h['dtype']}, expected F32")
        a, b = h["data_offsets"]
        return np.frombuffer(data[a:b], dtype="<f4").reshape(h["shape"]).astype(np.float32)

    out = {}
    for name, e in json.loads(md["deftnn.sve"]).items():
        out[layer_key(name)] = (np.array(e["kept"], np.int64), tensor(name + ".weight"), tensor(name + ".bias"))
    return out, json.loads(md.get("deftnn.meta", "{}"))


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
