"""The study's table (table.md) and plot (tasks.png) from its results."""
import os

MEASURES = (("cosine_mean", "cosine to dense"), ("recall_at_1", "retrieval recall@1"),
            ("probe_accuracy", "probe accuracy"), ("word_knn10_overlap", "word 10-NN overlap"))


def relative(out, row, key):
    base = {"cosine_mean": 1.0, "word_knn10_overlap": 1.0}.get(key) or out["dense"][key]
    return row[key] / base


def breaks(out, method, keep=0.95):
    """Per measure, the highest density whose value falls below keep x the dense model's (None: never)."""
    rows = sorted((r for r in out["rows"] if r["method"] == method), key=lambda r: -r["density"])
    res = {}
    for key, _ in MEASURES:
        res[key] = next((r["density"] for r in rows if relative(out, r, key) < keep), None)
    return res


def write(out, folder):
    t = {x["density"]: x["seconds"] for x in out["timing_batch_32x128"] if not x["dense_model"]}
    dense_s = next(x["seconds"] for x in out["timing_batch_32x128"] if x["dense_model"])
    lines = [f"dense: recall@1 {out['dense']['recall_at_1']:.3f}, probe accuracy {out['dense']['probe_accuracy']:.3f}, "
             f"32x128 batch {dense_s * 1e3:.0f} ms", "",
             "| method | density | cosine mean / min | recall@1 | probe acc. | word 10-NN | ms / 32x128 |",
             "|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        lines.append(f"| {r['method']} | {r['density']:.2f} | {r['cosine_mean']:.4f} / {r['cosine_min']:.4f} | "
                     f"{r['recall_at_1']:.3f} | {r['probe_accuracy']:.3f} | {r['word_knn10_overlap']:.3f} | "
                     f"{t.get(r['density'], float('nan')) * 1e3:.0f} |")
    lines += ["", "First density below 95% of the dense value:", ""]
    for m in sorted({r["method"] for r in out["rows"]}, key=["sve", "flap", "sve-ls"].index):
        b = breaks(out, m)
        lines.append(f"- {m}: " + ", ".join(f"{lab} {b[k] if b[k] is not None else 'never'}" for k, lab in MEASURES))
    open(os.path.join(folder, "table.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), sharey=True)
    for ax, m in zip(axes, ("sve", "flap", "sve-ls")):
        rows = sorted((r for r in out["rows"] if r["method"] == m), key=lambda r: r["density"])
        xs = [r["density"] for r in rows]
        for key, lab in MEASURES:
            ax.plot(xs, [relative(out, r, key) for r in rows], marker="o", label=lab)
        ax.axhline(0.95, color="grey", lw=0.8, ls="--")
        ax.set_title({"sve": "SVE (activation correlation, fold + rescale)",
                      "flap": "FLAP-style (fluctuation, bias compensation)",
                      "sve-ls": "SVE kept set, least-squares refit (ours)"}[m])
        ax.set_xlabel("density (kept input columns per linear layer)")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("relative to the dense model")
    axes[0].set_ylim(0, 1.05)
    h, lab = axes[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", ncol=4, frameon=False)
    fig.suptitle("all-MiniLM-L6-v2, all 36 linear layers, no fine-tuning (fortunes data, CPU)")
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    fig.savefig(os.path.join(folder, "tasks.png"), dpi=120)
