#!/usr/bin/env python3
"""Accuracy (and, on a GPU, time) of trained models in every precision and
weight format the engine offers: issue 9's "accuracy of LeNet-5 and CifarNet
per format, and the formats as points of the optimiser's frontier (SVE x
format)".

For each model file given (typically the dense model and the optimiser's SVE
model) and each configuration, it runs `deftnn eval` (test accuracy) and, with
--bench-batch, `deftnn bench` (median forward time, CUDA graph on a GPU):

  fp32                     the baseline plan
  --precision P            every GEMM layer's operands rounded to P (bf16, fp16,
                           fp8e4m3 with per-tensor scales), fp32 accumulation
  --weights W              every linear layer's weights in mixed-input format W
                           (int8, fp8e4m3, deft8eE, int4, fp4e2m1), activations
                           bf16 (convolutions stay as they are)
  --precision bf16 --weights W   both: convs in bf16, linear layers in W

On a CPU the narrow formats are emulated with the same roundings as the GPU
(docs/precision.md, docs/fission.md), so the accuracy is the GPU's up to the
order of additions; their times on a CPU are not meaningful and are not taken.

Writes OUT.json (schema deftnn.format_accuracy/1), OUT.md (a table per model)
and OUT.png (accuracy against weight bits per model, SVE beside dense).

usage: format_accuracy.py --out runs/fmt/formats MODEL.safetensors [SVE.safetensors ...]
       [--bin build/deftnn] [--device cpu|cuda] [--bench-batch 1,128] [--threads 1] [--no-plot]
       format_accuracy.py --out runs/fmt/formats --replot   (OUT.md and OUT.png again from OUT.json)
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

PRECISIONS = ["bf16", "fp16", "fp8e4m3"]
WEIGHTS = ["int8", "fp8e4m3", "deft8e4", "int4", "fp4e2m1"]
BITS = {"fp32": 32, "bf16": 16, "fp16": 16, "fp8e4m3": 8, "int8": 8, "deft8e4": 8, "int4": 4, "fp4e2m1": 4}


def configs():
    """(name, extra CLI args, bits of the linear layers' weights, bits of the convs' weights)."""
    out = [("fp32", [], 32, 32)]
    for p in PRECISIONS:
        out.append((f"precision {p}", ["--precision", p], BITS[p], BITS[p]))
    for w in WEIGHTS:
        out.append((f"weights {w}", ["--weights", w], BITS[w], 32))
    for w in ["int8", "int4"]:
        out.append((f"bf16 + weights {w}", ["--precision", "bf16", "--weights", w], BITS[w], 16))
    return out


class RunError(Exception):
    pass


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        last = (p.stderr.strip() or p.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise RunError(f"{' '.join(cmd[1:3])} {' '.join(cmd[3:])}: exit {p.returncode}: {last[0][:300]}")
    return p.stdout


def eval_acc(a, model, extra):
    data = ["--data", a.data] if a.data else []
    out = run([a.bin, "eval", model, "--device", a.device, "--threads", str(a.threads)] + data + extra)
    m = re.search(r"test accuracy: ([0-9.]+)%", out)
    if not m:
        raise RunError(f"no 'test accuracy' in the output of eval {model} {' '.join(extra)}")
    return float(m.group(1)) / 100


def bench_ms(a, model, extra, batch):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "b.json")
        run([a.bin, "bench", model, "--device", a.device, "--batch", str(batch), "--reps", "30", "--warmup", "5",
             "--no-kernel-names", "--out", path] + extra)
        j = json.load(open(path))
        return j["runs"][-1]["total"]["median_ms"]


def bar(done, total, t0, what):
    rate = done / max(time.time() - t0, 1e-9)
    eta = (total - done) / rate if rate > 0 else 0
    filled = int(30 * done / total)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}  {rate:.2f}/s  ETA {eta:4.0f} s  {what[:50]:<50}")
    sys.stderr.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--out", required=True, help="output path without extension (.json, .md, .png are written)")
    ap.add_argument("--bin", default="build/deftnn")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="", help="dataset folder for eval (default: eval's)")
    ap.add_argument("--bench-batch", default="", help="comma-separated batch sizes to time (GPU); empty: none")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--replot", action="store_true", help="write OUT.md and OUT.png from an existing OUT.json")
    a = ap.parse_args()
    if a.replot:
        res = json.load(open(a.out + ".json"))
        write_md(res, a.out)
        plot(res, a.out + ".png")
        return
    if not a.models:
        ap.error("give at least one model file (or --replot)")
    batches = [int(b) for b in a.bench_batch.split(",") if b]
    for m in a.models:
        if not os.path.isfile(m):
            sys.exit(f"format_accuracy: {m}: no such model file")
    cfgs = configs()
    total, done, t0 = len(cfgs) * len(a.models), 0, time.time()
    commit = os.environ.get("DEFTNN_COMMIT") or subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                                                capture_output=True, text=True).stdout.strip()
    res = {"schema": "deftnn.format_accuracy/1", "commit": commit, "device": a.device,
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "bench_batches": batches, "complete": False, "rows": []}
    for model in a.models:
        for name, extra, wbits, cbits in cfgs:
            bar(done, total, t0, f"{os.path.basename(model)}: {name}")
            r = {"model": model, "config": name, "args": extra, "linear_weight_bits": wbits, "conv_weight_bits": cbits}
            try:  # a configuration that fails is recorded with its error; the others still run
                r["test_acc"] = eval_acc(a, model, extra)
                for b in batches:
                    r[f"ms_b{b}"] = bench_ms(a, model, extra, b)
            except RunError as e:
                r["error"] = str(e)
                sys.stderr.write(f"\nformat_accuracy: {e}\n")
            res["rows"].append(r)
            write_json(res, a.out)  # after every row: a run cut short keeps what it measured
            done += 1
    bar(done, total, t0, "done")
    sys.stderr.write("\n")
    res["complete"] = True
    write_json(res, a.out)
    print(write_md(res, a.out))
    if not a.no_plot:
        plot(res, a.out + ".png")


def write_json(res, out):
    with open(out + ".json.tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(out + ".json.tmp", out + ".json")


def write_md(res, out):
    md = table(res)
    with open(out + ".md.tmp", "w") as f:
        f.write(md)
    os.replace(out + ".md.tmp", out + ".md")
    return md


def table(res):
    lines = []
    batches = res["bench_batches"]
    for model in dict.fromkeys(r["model"] for r in res["rows"]):
        rs = [r for r in res["rows"] if r["model"] == model]
        base = rs[0]
        lines.append(f"**{os.path.basename(model)}** ({res['device']}, commit {res['commit']})\n")
        head = "| configuration | linear weights, bits | conv weights, bits | test accuracy | vs fp32 |"
        sep = "|---|---:|---:|---:|---:|"
        for b in batches:
            head += f" ms, batch {b} | speedup |"
            sep += "---:|---:|"
        lines += [head, sep]
        for r in rs:
            line = f"| {r['config']} | {r['linear_weight_bits']} | {r['conv_weight_bits']} |"
            if "test_acc" in r and "test_acc" in base:
                line += f" {100 * r['test_acc']:.2f}% | {100 * (r['test_acc'] - base['test_acc']):+.2f} |"
            else:
                line += " - | - |"
            for b in batches:
                k = f"ms_b{b}"
                line += f" {r[k]:.4f} | {base[k] / r[k]:.2f}x |" if k in r and k in base else " - | - |"
            if "error" in r:
                line += f" error: {r['error']}"
            lines.append(line)
        lines.append("")
    return "\n".join(lines) + "\n"


def plot(res, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.stderr.write("format_accuracy: matplotlib missing: no plot\n")
        return
    models = list(dict.fromkeys(r["model"] for r in res["rows"]))
    names = [r["config"] for r in res["rows"] if r["model"] == models[0]]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(names) + 1.6))
    h = 0.8 / len(models)
    ok = [r for r in res["rows"] if "test_acc" in r]
    if not ok:
        return
    lo = min(r["test_acc"] for r in ok) * 100
    for i, m in enumerate(models):
        accs = [100 * r.get("test_acc", 0) for r in res["rows"] if r["model"] == m]
        ys = [k + i * h for k in range(len(names))]
        ax.barh(ys, accs, height=h * 0.9, label=os.path.basename(m))
        for y, v in zip(ys, accs):
            ax.text(v + 0.02, y, f"{v:.2f}", va="center", fontsize=8)
    ax.set_yticks([k + h * (len(models) - 1) / 2 for k in range(len(names))])
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlim(lo - 1.0, max(100 * r["test_acc"] for r in ok) + 0.6)
    ax.set_xlabel("test accuracy, %")
    ax.set_title(f"Accuracy per number format ({res['device']}, commit {res['commit']})")
    # The legend sits below the axes, never over the bars.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / len(names)), ncol=len(models), frameon=False)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    os.replace(path + ".tmp.png", path)


if __name__ == "__main__":
    main()
