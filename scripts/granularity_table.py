#!/usr/bin/env python3
"""Tap- vs channel-granular SVE side by side (docs/sve.md section 9).

Reads `deftnn optimize` reports, one tap-granular and one channel-granular
per network, and writes one JSON (commit, machine, date, the runs' options,
per network and granularity: dense accuracy, the joint points (chosen by the
same GEMM-FLOPs caps), the frontier's test accuracy, every layer variant's
validation accuracy beside its L1 twin's) and prints the markdown tables.

Usage: granularity_table.py OUT.json NET:TAP_REPORT:CHANNEL_REPORT ...
"""
import datetime
import json
import os
import platform
import subprocess
import sys


def sh(*a):
    try:
        return subprocess.run(list(a), capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # pragma: no cover
        return ""


def densities(r, choice):
    layers = [l for l in r["layers"] if l["optimised"]]
    out = []
    for l, c in zip(layers, choice):
        v = l["variants"][c]
        out.append(1.0 if c == 0 else v["density"])
    return out


def summarise(r):
    layers = [l for l in r["layers"] if l["optimised"]]
    joint = [p for p in r["points"] if p["how"] == "joint"]
    return {
        "granularity": r["options"].get("granularity", "tap"),
        "dense": {"val_acc": r["dense"]["val_acc"], "test_acc": r["dense"]["test_acc"]},
        "optimised_layers": [l["name"] for l in layers],
        "joint_points": [{"flops_ratio": p["flops_ratio"], "densities": densities(r, p["choice"]),
                          "composed_val_acc": p["composed_val_acc"], "val_acc": p["val_acc"],
                          "test_acc": p["test_acc"], "joint_iterations": p["joint_iterations"]}
                         for p in sorted(joint, key=lambda p: -p["flops_ratio"])],
        "frontier": [{"how": p["how"], "flops_ratio": p["flops_ratio"], "densities": densities(r, p["choice"]),
                      "val_acc": p["val_acc"], "test_acc": p["test_acc"], "l1_test_acc": p.get("l1_test_acc")}
                     for p in r["frontier"]],
        "variants": [{"id": v["id"], "density": v["density"], "kept": v["kept"], "k": v["k"],
                      "group": v.get("group", 1), "val_acc_before_finetune": v["val_acc_before_finetune"],
                      "val_acc": v["val_acc"], "l1_val_acc": v.get("l1_val_acc")}
                     for l in layers for v in l["variants"][1:]],
        "options": {k: r["options"][k] for k in ("densities", "finetune_iterations", "joint_flops",
                                                 "joint_flops_iterations", "joint_iterations", "joint_twins",
                                                 "stats_images", "method", "time_reps", "time_rounds")},
        "seconds": r["seconds"],
    }


def pct(v):
    return "-" if v is None or v < 0 else f"{100 * v:.2f}"


def main():
    out = sys.argv[1]
    cpu = sh("sh", "-c", "lscpu | sed -n 's/^Model name: *//p'")
    doc = {"what": "SVE tap vs channel granularity, deftnn optimize (docs/sve.md section 9)",
           "commit": sh("git", "rev-parse", "--short", "HEAD"),
           "machine": f"{platform.node()}, {cpu}, {sh('nproc')} cores, CPU only",
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           # the commit whose optimiser ran (the runs can predate HEAD's doc commits)
           "optimiser_commit": os.environ.get("OPT_COMMIT", ""),
           "budget": os.environ.get("BUDGET", ""),
           "nets": {}}
    for spec in sys.argv[2:]:
        net, tap, chan = spec.split(":")
        doc["nets"][net] = {"tap": summarise(json.load(open(tap))), "channel": summarise(json.load(open(chan)))}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for net, m in doc["nets"].items():
        t, c = m["tap"], m["channel"]
        print(f"\n{net}: dense test {pct(t['dense']['test_acc'])}; layers {', '.join(t['optimised_layers'])}\n")
        print("| GEMM FLOPs cap | tap: FLOPs | tap: densities | tap: val composed -> joint | tap: test "
              "| channel: FLOPs | channel: densities | channel: val composed -> joint | channel: test |")
        print("|---|---|---|---|---|---|---|---|---|")
        for cap, a, b in zip(t["options"]["joint_flops"], t["joint_points"], c["joint_points"]):
            row = [f"{cap:.2f}"]
            for p in (a, b):
                row += [f"{100 * p['flops_ratio']:.0f}%", ", ".join(f"{d:.2f}" for d in p["densities"]),
                        f"{pct(p['composed_val_acc'])} -> {pct(p['val_acc'])}", f"**{pct(p['test_acc'])}**"]
            print("| " + " | ".join(row) + " |")
        print("\n| layer density | tap: kept/K | tap val (fine-tuned) | tap L1 val | channel: kept/K | "
              "channel val (fine-tuned) | channel L1 val |")
        print("|---|---|---|---|---|---|---|")
        for a, b in zip(t["variants"], c["variants"]):
            print(f"| {a['id'].split('/')[0]} {a['density']:.2f} | {a['kept']}/{a['k']} | {pct(a['val_acc'])} | "
                  f"{pct(a['l1_val_acc'])} | {b['kept']}/{b['k']} ({b['kept'] // b['group']} ch) | "
                  f"{pct(b['val_acc'])} | {pct(b['l1_val_acc'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
