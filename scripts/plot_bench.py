#!/usr/bin/env python3
"""Per-layer bar charts of `deftnn bench --compare` results.

Usage: plot_bench.py OUT.png RESULT.json [RESULT.json ...]
Each JSON holds a baseline run and a candidate run (bench --compare); the
chart shows the baseline once (from the first file) and each candidate beside
it, per GEMM layer plus "other" (every non-GEMM layer) and the graph total.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def layer_ms(run):
    gemm, other = {}, 0.0
    for layer in run["layers"]:
        ms = layer["time"]["median_ms"]
        if layer.get("gemm"):
            gemm[layer["name"]] = ms
        else:
            other += ms
    return gemm, other, run["total"]["median_ms"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, files = sys.argv[1], sys.argv[2:]
    series = []
    for i, f in enumerate(files):
        d = json.load(open(f))
        base, cand = d["runs"][0], d["runs"][1]
        if i == 0:
            series.append((base["tag"], layer_ms(base)))
        series.append((cand["tag"], layer_ms(cand)))
    names = list(series[0][1][0].keys()) + ["other", "total"]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for k, (tag, (gemm, other, total)) in enumerate(series):
        vals = [gemm.get(n, 0.0) for n in names[:-2]] + [other, total]
        xs = [j + k * width for j in range(len(names))]
        bars = ax.bar(xs, vals, width, label=f"{tag} ({total:.2f} ms)")
        ax.bar_label(bars, labels=[f"{v:.2f}" if n == "total" else "" for n, v in zip(names, vals)], fontsize=7)
    d0 = json.load(open(files[0]))
    env = d0.get("env", {})
    gpu = env.get("gpu", {}).get("name", env.get("device_kind", "?"))
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(names))], names)
    ax.set_ylabel("ms (median)")
    ax.set_title(f"{d0['model']} batch {d0['batch']} forward on {gpu}: per layer and total (CUDA graph)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    main()
