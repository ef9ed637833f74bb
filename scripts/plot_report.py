#!/usr/bin/env python3
"""Plots of a `deftnn optimize` report: the Pareto frontier (measured speedup
against accuracy, SVE beside the L1 baseline) and, per optimised layer, the
density and speedup of the selected variant.

usage: plot_report.py REPORT.json OUT_DIR
writes OUT_DIR/<model>.frontier.png and OUT_DIR/<model>.layers.png
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402



def save_atomic(fig, path):
    """Writes the figure as deftnn writes every file: a temporary file in the
    target's folder, renamed into place; removed if the write fails."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        fig.savefig(tmp, dpi=120, format="png")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        r = json.load(f)
    out = sys.argv[2]
    name = r["model"]
    dense = r["dense"]

    # Frontier: accuracy against measured speedup (left) and the frontier's
    # test accuracy against GEMM FLOPs, with the accuracy criterion (right).
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    pts = r["points"]
    ax.scatter([p["speedup"] for p in pts], [100 * p["val_acc"] for p in pts], s=14, c="0.75",
               label="all compositions (validation)")
    for fmt, marker in (("deft16q", "^"), ("fp8e4m3", "v")):
        fp = [p for p in pts if p.get("format", "fp32") == fmt]
        if fp:
            ax.scatter([p["speedup"] for p in fp], [100 * p["val_acc"] for p in fp], s=22, marker=marker,
                       c="tab:purple", alpha=0.6, label=f"with {fmt} fission (validation)")
    fr = sorted(r["frontier"], key=lambda p: p["speedup"])
    ax.plot([p["speedup"] for p in fr], [100 * p["val_acc"] for p in fr], "o-", c="tab:blue",
            label="SVE frontier (validation)")
    if all("test_acc" in p for p in fr):
        ax.plot([p["speedup"] for p in fr], [100 * p["test_acc"] for p in fr], "s--", c="tab:blue", alpha=0.6,
                label="SVE frontier (test)")
    if all("l1_test_acc" in p for p in fr):
        ax.plot([p["speedup"] for p in fr], [100 * p["l1_test_acc"] for p in fr], "^--", c="tab:red", alpha=0.8,
                label="L1 pruning, same layers and densities (test)")
    joint = [p for p in fr if p.get("how") == "joint"]
    if joint:
        ax.scatter([p["speedup"] for p in joint], [100 * p["val_acc"] for p in joint], s=60, marker="*",
                   c="tab:green", zorder=3, label="jointly fine-tuned (validation)")
    sel = r["frontier"][r["selected"]]
    ax.scatter([sel["speedup"]], [100 * sel["val_acc"]], s=140, facecolors="none", edgecolors="k", label="selected")
    ax.axhline(100 * dense["test_acc"], c="k", lw=0.8, ls=":", label="dense test accuracy")
    ax.set_xlabel(f"measured speedup ({r['device']}, batch {dense['timing_batch']})")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{name}: synapse vector elimination, accuracy vs speed", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")

    fl = sorted(r["frontier"], key=lambda p: p["flops_ratio"])
    if all("test_acc" in p for p in fl):
        bx.plot([100 * p["flops_ratio"] for p in fl], [100 * p["test_acc"] for p in fl], "s", c="tab:blue",
                label="SVE frontier points (test)")
    l1 = [p for p in fl if p.get("l1_test_acc", -1) >= 0]
    if l1:
        bx.plot([100 * p["flops_ratio"] for p in l1], [100 * p["l1_test_acc"] for p in l1], "^", c="tab:red",
                alpha=0.8, label="their L1 twins (test)")
    bx.axhline(100 * dense["test_acc"], c="k", lw=0.8, ls=":", label="dense test accuracy")
    bx.axhline(100 * dense["test_acc"] - 0.2, c="tab:green", lw=0.8, ls="--", label="dense - 0.2 points")
    bx.axvline(60, c="tab:gray", lw=0.8, ls="--", label="60% of the GEMM FLOPs")
    c = r.get("cheapest_within_0.2_points")
    if c:
        bx.scatter([100 * c["flops_ratio"]], [100 * c["test_acc"]], s=140, facecolors="none", edgecolors="k",
                   label="fewest FLOPs within 0.2 points")
    bx.set_xlim(15, 102)
    bx.set_xlabel("GEMM FLOPs (% of dense)")
    bx.set_ylabel("test accuracy (%)")
    lo = 100 * dense["test_acc"] - 3
    bx.set_ylim(lo, 100 * dense["test_acc"] + 0.8)
    bx.set_title("frontier points: test accuracy vs FLOPs (criterion)", fontsize=10)
    bx.grid(alpha=0.3)
    bx.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_atomic(fig, os.path.join(out, f"{name}.frontier.png"))

    # Per-layer density and speedup of the selected composition.
    layers = [l for l in r["layers"] if l.get("optimised")]
    fig, ax1 = plt.subplots(figsize=(6.4, 3.6))
    xs = range(len(layers))
    ax1.bar([x - 0.2 for x in xs], [100 * l["selected_density"] for l in layers], width=0.4, color="tab:blue",
            label="kept synapse vectors (%)")
    ax1.set_ylabel("density (%)")
    ax1.set_ylim(0, 105)
    ax2 = ax1.twinx()
    ax2.bar([x + 0.2 for x in xs], [l["selected_speedup_alone"] for l in layers], width=0.4, color="tab:orange",
            label="net speedup with this layer alone")
    ax2.set_ylabel("measured speedup (x)")
    ax1.set_xticks(list(xs))
    ax1.set_xticklabels([l["name"] for l in layers])
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower right")
    ax1.set_title(f"{name}: selected variant per layer")
    fig.tight_layout()
    save_atomic(fig, os.path.join(out, f"{name}.layers.png"))
    print(f"plots written to {out}/{name}.frontier.png and {name}.layers.png")


if __name__ == "__main__":
    main()
