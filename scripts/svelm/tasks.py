"""The real-text tasks and their measures, from Debian's `fortunes` package (BSD-licensed fortune files).

- classification: the fortune file a text comes from (computers, food, law,
  love, politics, science, sports), a linear probe on frozen embeddings;
- retrieval: `definitions` ("Term, n.: the definition"): the term's
  embedding must find its own definition among all of them (recall@1);
- calibration: `fortunes`, `wisdom`, `literature` (texts no task uses), for
  the activation statistics;
- distillation (`deftnn distill-embed --text`): DISTILL_FILES, files neither
  the tasks nor the calibration read, less any text that also appears in
  those (fortune files repeat some fortunes).
"""
import glob
import os
import re
import subprocess

import numpy as np

CLASSES = ("computers", "food", "law", "love", "politics", "science", "sports")
CALIBRATION = ("fortunes", "wisdom", "literature")
DISTILL_FILES = ("art", "education", "goedel", "humorists", "kids", "magic", "medicine", "men-women", "miscellaneous",
                 "news", "paradoxum", "people", "pets", "platitudes", "riddles", "songs-poems", "work")


def fortunes_dir(cache):
    """The fortune files: already unpacked under cache, else `apt-get download fortunes` and dpkg-deb -x there."""
    d = os.path.join(cache, "usr", "share", "games", "fortunes")
    if os.path.exists(os.path.join(d, "definitions")):
        return d
    os.makedirs(cache, exist_ok=True)
    subprocess.run(["apt-get", "download", "fortunes", "fortunes-min"], cwd=cache, check=True)
    for deb in glob.glob(os.path.join(cache, "*.deb")):
        subprocess.run(["dpkg-deb", "-x", deb, cache], check=True)
    if not os.path.exists(os.path.join(d, "definitions")):
        raise FileNotFoundError(f"{d}/definitions: missing after unpacking the fortunes packages")
    return d


def read_fortunes(path):
    """One text per fortune (separated by lines of '%'), whitespace runs made single spaces."""
    text = open(path, encoding="utf-8", errors="replace").read()
    out = [" ".join(f.split()) for f in re.split(r"\n%\n", text)]
    return [f for f in out if len(f) >= 20]


def read_definitions(path):
    """[(term, definition)] from 'Term, n.:' or 'Term:' headed fortunes."""
    out = []
    for f in re.split(r"\n%\n", open(path, encoding="utf-8", errors="replace").read()):
        lines = f.strip().split("\n")
        m = re.match(r"^([A-Za-z][A-Za-z' -]{1,40}?)\s*(,\s*[a-z]+\.)?\s*:\s*(.*)$", lines[0])
        if not m:
            continue
        d = " ".join((m.group(3) + " " + " ".join(lines[1:])).split())
        if len(d) >= 20:
            out.append((m.group(1).strip(), d))
    return out


def distill_texts(fd, n, seed=5):
    """n texts (a seeded subset, file order kept) of DISTILL_FILES, none equal to a text of the tasks' files,
    `definitions` or the calibration files; one line each (whitespace runs are single spaces already)."""
    used = set()
    for f in CLASSES + CALIBRATION + ("definitions",):
        used.update(read_fortunes(os.path.join(fd, f)))
    for term, d in read_definitions(os.path.join(fd, "definitions")):
        used.update((term, d))
    texts, seen = [], set()
    for f in DISTILL_FILES:
        for t in read_fortunes(os.path.join(fd, f)):
            if t not in used and t not in seen:
                seen.add(t)
                texts.append(t)
    return subset(texts, n, seed)


def subset(items, n, seed):
    r = np.random.default_rng(seed)
    idx = r.permutation(len(items))[:n]
    return [items[i] for i in sorted(idx)]


def cosine_fidelity(e, dense):
    c = (e * dense).sum(1)
    return float(c.mean()), float(c.min())


def recall_at_1(q, d):
    """q, d (n, H) unit rows; query i's right document is d[i]."""
    return float((np.argmax(q @ d.T, 1) == np.arange(len(q))).mean())


def probe_accuracy(x, y, train, test, classes, steps=400, lr=0.5, l2=1e-3):
    """Multinomial logistic regression (full-batch gradient descent, NumPy) on frozen x; test accuracy."""
    xt = np.concatenate([x, np.ones((len(x), 1), x.dtype)], 1).astype(np.float64)
    w = np.zeros((xt.shape[1], classes))
    oh = np.eye(classes)[y[train]]
    for _ in range(steps):
        z = xt[train] @ w
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= lr * (xt[train].T @ (p - oh) / len(train) + l2 * w)
    return float((np.argmax(xt[test] @ w, 1) == y[test]).mean())


def knn_overlap(v, dense, k=10):
    """Mean fraction of each vector's k nearest neighbours (cosine, itself excluded) shared with the dense model's."""
    def nn(a):
        a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        s = a @ a.T
        np.fill_diagonal(s, -np.inf)
        return np.argpartition(-s, k, 1)[:, :k]
    a, b = nn(v), nn(dense)
    return float(np.mean([len(set(a[i]) & set(b[i])) / k for i in range(len(v))]))
