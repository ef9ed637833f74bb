#!/usr/bin/env python3
"""Same-run comparison of two deftnn binaries (an older commit's and this one's).

Each configuration is benchmarked with `deftnn bench` by both binaries in
alternating order (old, new, new, old, ...) for --rounds rounds, so both see
the same machine state; the figure per binary is the median over rounds of
each run's whole-pass median (CUDA graph replay on a GPU). Writes one JSON
with every sample and prints a table.

  python3 scripts/versus.py --old prev/build/deftnn --new build/deftnn \
      --out versus.json --rounds 3 \
      "caffenet-b128=models/caffenet-imc.json --batch 128" \
      "caffenet-b1=models/caffenet-imc.json --batch 1"

A configuration is NAME=ARGS (ARGS passed to both binaries' `bench`).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def bench_once(binary, args, reps, warmup):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        cmd = [binary, "bench", *shlex.split(args), "--reps", str(reps), "--warmup", str(warmup), "--out", out]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        j = json.load(open(out))
    run = j["runs"][-1]
    kernels = sorted({k["name"] for layer in run.get("layers", []) for k in layer.get("kernels", [])})
    return run["total"]["median_ms"], run.get("total_method", ""), kernels


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--commit-old", default=os.environ.get("PREV_COMMIT", "unknown"))
    ap.add_argument("--commit-new", default=os.environ.get("DEFTNN_COMMIT", "unknown"))
    ap.add_argument("configs", nargs="+")
    a = ap.parse_args()
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "old": {"binary": a.old, "commit": a.commit_old},
              "new": {"binary": a.new, "commit": a.commit_new}, "rounds": a.rounds, "reps": a.reps, "configs": []}
    try:
        result["device"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.sm,clocks.mem",
                                           "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    except OSError:
        result["device"] = "no nvidia-smi"
    print(f"{'config':<24} {'old ms':>9} {'new ms':>9} {'new/old':>8}")
    for spec in a.configs:
        name, _, args = spec.partition("=")
        samples = {"old": [], "new": []}
        kernels = {}
        for r in range(a.rounds):
            order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
            for which in order:
                ms, method, ks = bench_once(getattr(a, which), args, a.reps, a.warmup)
                samples[which].append(ms)
                kernels[which] = ks
        old, new = statistics.median(samples["old"]), statistics.median(samples["new"])
        result["configs"].append({"name": name, "args": args, "old_ms": samples["old"], "new_ms": samples["new"],
                                  "old_median_ms": old, "new_median_ms": new, "ratio": new / old,
                                  "same_kernels": kernels.get("old") == kernels.get("new"), "kernels": kernels})
        print(f"{name:<24} {old:9.4f} {new:9.4f} {new / old:8.3f}", flush=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    sys.exit(main())
