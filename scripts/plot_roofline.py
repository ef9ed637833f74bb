#!/usr/bin/env python3
"""The roofline of `deftnn bench --roofline` runs (docs/bottlenecks.md).

Usage: plot_roofline.py OUT.png RUN.json [RUN.json ...]

Each RUN.json is one configuration's report (schema deftnn.bench.roofline/1:
dense, SVE, fission, both, ...). One row per run: on the left its GEMM
layers on the roofline (log-log: arithmetic intensity in FLOP per compulsory
byte against achieved FLOP/s; the HBM slope and every measured compute peak
drawn as lines, from the ceilings measured in that run), one marker per
layer, its shape saying what binds the layer; on the right its other layers
(no FLOPs to place) as achieved bandwidth against the HBM ceiling. The axes
of every row are shared so that the runs compare by eye. The legend of the
marker shapes sits below the panels, not over the data.
"""
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SCHEMA = "deftnn.bench.roofline/1"
# Marker shape and colour per binding label (Placement::label in src/bench/roofline.h).
STYLE = {
    "HBM": ("o", "tab:blue"),
    "tensor-core": ("^", "tab:red"),
    "FP32 FMA": ("s", "tab:orange"),
    "launch": ("X", "tab:gray"),
    "non-GEMM": ("D", "tab:green"),
    "untimed": (".", "black"),
}
# Compute ceilings, drawn when measured: JSON key, line label.
PEAKS = [("fp32_flops", "fp32 SGEMM"), ("tf32_flops", "tf32"), ("bf16_flops", "bf16"), ("fp8e4m3_flops", "fp8")]


def load(path):
    with open(path) as f:
        d = json.load(f)
    if d.get("schema") != SCHEMA:
        sys.exit(f"{path}: not a roofline report (schema {d.get('schema')!r}, expected {SCHEMA!r})")
    if d.get("skipped") or not d.get("ceilings"):
        sys.exit(f"{path}: holds counts only (skipped: {d.get('skipped')}); run it on a GPU to plot it")
    return d


def timed(layers):
    return [l for l in layers if l.get("step") == "run" and l.get("time_ms", 0) > 0]


def title_of(d):
    gpu = ((d.get("env") or {}).get("gpu") or {}).get("name", "?")
    total = ""
    runs = d.get("runs") or []
    if runs:
        total = f", total {runs[0]['total']['median_ms']:.3f} ms"
    commit = str((d.get("env") or {}).get("commit", "?"))[:10]
    return f"{d.get('model')} b{d.get('batch')} [{d.get('tag')}] on {gpu}{total} ({commit})"


def draw_roofline(ax, d, xlim, ylim):
    c = d["ceilings"]
    hbm = c["hbm_bytes_per_s"]
    xs = [xlim[0] * (xlim[1] / xlim[0]) ** (i / 200) for i in range(201)]
    for key, name in PEAKS:
        peak = c.get(key) or 0
        if peak <= 0:
            continue
        ax.plot(xs, [min(hbm * x, peak) for x in xs], color="0.35", lw=1.0, zorder=1)
        # Named in the right margin, outside the data, at the line's height.
        ax.annotate(f"{name} {peak / 1e12:.0f}", (1.0, peak), xycoords=("axes fraction", "data"), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7, color="0.25", annotation_clip=False)
    # The HBM slope's label sits low on the line, left, where no layer is.
    x0 = xlim[0] * 3
    ax.text(x0, hbm * x0 * 1.3, f"HBM {hbm / 1e12:.2f} TB/s", fontsize=7, color="0.25", rotation=0, ha="left")
    gemm = [l for l in timed(d["roofline"]["layers"]) if l.get("gemm") and l.get("flops", 0) > 0]
    for i, l in enumerate(gemm):
        marker, colour = STYLE.get(l["label"], (".", "black"))
        x, y = l["intensity"], l["achieved_flops_per_s"]
        ax.scatter([x], [y], marker=marker, color=colour, s=46, zorder=3, edgecolors="black", linewidths=0.4)
        # Alternate the name above and below the marker: neighbouring layers
        # (conv3-5 sit close together) stay readable.
        dy = 7 if i % 2 == 0 else -11
        ax.annotate(f"{l['name']} {l['pct_of_bound']:.0f}%", (x, y), textcoords="offset points", xytext=(5, dy),
                    fontsize=7.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("arithmetic intensity (FLOP / compulsory byte)")
    ax.set_ylabel("achieved FLOP/s (ceilings in TFLOP/s, right)")
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(title_of(d), fontsize=9)


def draw_others(ax, d, xmax):
    c = d["ceilings"]
    hbm = c["hbm_bytes_per_s"]
    others = [l for l in timed(d["roofline"]["layers"]) if not (l.get("gemm") and l.get("flops", 0) > 0)]
    names = [f"{l['name']} ({l['time_ms']:.3f} ms)" for l in others]
    vals = [l["achieved_bytes_per_s"] / 1e9 for l in others]
    colours = [STYLE.get(l["label"], (".", "black"))[1] for l in others]
    ax.barh(range(len(others)), vals, color=colours, edgecolor="black", linewidth=0.4)
    ax.set_yticks(range(len(others)))
    ax.set_yticklabels(names, fontsize=7.5)
    ax.invert_yaxis()
    ax.axvline(hbm / 1e9, color="0.35", lw=1.0)
    ax.text(hbm / 1e9, 0.99, "HBM ", transform=ax.get_xaxis_transform(), fontsize=7, color="0.25", ha="right",
            va="top")
    ax.set_xlim(0, xmax)
    ax.set_xlabel("achieved GB/s (compulsory bytes)")
    ax.set_title("layers without FLOPs to place", fontsize=9)


def limits(runs):
    xs, ys = [], []
    for d in runs:
        c = d["ceilings"]
        hbm = c["hbm_bytes_per_s"]
        peaks = [c.get(k) or 0 for k, _ in PEAKS]
        top = max(peaks) if max(peaks) > 0 else hbm
        xs += [top / hbm]  # the highest ridge point
        ys += [top]
        for l in timed(d["roofline"]["layers"]):
            if l.get("gemm") and l.get("flops", 0) > 0:
                xs.append(l["intensity"])
                ys.append(l["achieved_flops_per_s"])
    xs = [x for x in xs if x > 0] or [1.0]
    ys = [y for y in ys if y > 0] or [1.0]
    xlim = (10 ** math.floor(math.log10(min(xs) / 2)), 10 ** math.ceil(math.log10(max(xs) * 2)))
    ylim = (10 ** math.floor(math.log10(min(ys) / 2)), 10 ** math.ceil(math.log10(max(ys) * 2)))
    bw = [d["ceilings"]["hbm_bytes_per_s"] / 1e9 for d in runs]
    for d in runs:
        bw += [l["achieved_bytes_per_s"] / 1e9 for l in timed(d["roofline"]["layers"])]
    return xlim, ylim, max(bw) * 1.15


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out, paths = argv[1], argv[2:]
    runs = [load(p) for p in paths]
    xlim, ylim, bwmax = limits(runs)
    fig, axes = plt.subplots(len(runs), 2, figsize=(13, 4.6 * len(runs)), squeeze=False,
                             gridspec_kw={"width_ratios": [2.2, 1]})
    for d, (ax_roof, ax_other) in zip(runs, axes):
        draw_roofline(ax_roof, d, xlim, ylim)
        draw_others(ax_other, d, bwmax)
    handles = [plt.Line2D([], [], marker=m, color=c, linestyle="none", markeredgecolor="black", markersize=7, label=k)
               for k, (m, c) in STYLE.items() if k != "untimed"]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False,
               title="what binds the layer (label; % = share of the binding ceiling reached)", title_fontsize=8)
    fig.tight_layout(rect=(0, 0.06 / len(runs) + 0.02, 1, 1))
    fig.subplots_adjust(wspace=0.42)  # room for the ceilings' names between the panels
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=130)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv)
