#!/usr/bin/env python3
"""The distillation result table (docs/language.md, "Recovery by distillation") from a results folder.

Reads DIR/distill-<method>-<density>.json (deftnn distill-embed --report) and DIR/tasks.json
(scripts/sve_minilm_study.py --eval-sve, the SVE files before and after), writes DIR/summary.json
(commit, machine, date, one entry per method and density) and prints the markdown table.
Usage: /usr/bin/python3 scripts/distill_table.py bench/results/distill-minilm-cpu-20261207
"""
import glob
import json
import os
import platform
import sys


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(d):
    tasks = json.load(open(os.path.join(d, "tasks.json")))
    rows = {}
    for r in tasks["rows"]:
        rows[(r["method"], round(r["density"], 2), r["distilled"])] = r
    entries = []
    for path in sorted(glob.glob(os.path.join(d, "distill-*.json"))):
        run = json.load(open(path))
        stem = os.path.basename(path)[len("distill-"):-len(".json")]
        method, density = stem.rsplit("-", 1)
        density = round(float(density), 2)
        keep = {k: v for k, v in run.items() if k != "losses"}
        entries.append({"method": method, "density": density, "run": keep,
                        "before": rows.get((method, density, False)), "after": rows.get((method, density, True))})
    out = {"what": "recovery of eliminated all-MiniLM-L6-v2 encoders by distillation from the dense model "
                   "(deftnn distill-embed), task measures before and after (scripts/sve_minilm_study.py --eval-sve)",
           "date": tasks["date"], "commit_tasks": tasks["commit"],
           "commits_distill": sorted({e["run"]["commit"] for e in entries}),
           "machine": dict(tasks["machine"], cpu_model=cpu_model()),
           "dense": tasks["dense"], "data": tasks["data"], "entries": entries}
    tmp = os.path.join(d, "summary.json.tmp")
    json.dump(out, open(tmp, "w"), indent=1)
    os.replace(tmp, os.path.join(d, "summary.json"))
    print("| method | density | | held-out cosine mean / min | cosine mean / min (810 task texts) | recall@1 | "
          "probe acc. | word 10-NN |")
    print("|---|---|---|---|---|---|---|---|")
    for e in entries:
        for when in ("before", "after"):
            r, v = e[when], e["run"]["val_cosine_" + when]
            print(f"| {e['method']} | {e['density']:.2f} | {when} | {v['mean']:.3f} / {v['min']:.3f} | "
                  f"{r['cosine_mean']:.3f} / {r['cosine_min']:.3f} | {r['recall_at_1']:.3f} | "
                  f"{r['probe_accuracy']:.3f} | {r['word_knn10_overlap']:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1])
