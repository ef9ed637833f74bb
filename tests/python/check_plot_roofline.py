#!/usr/bin/env python3
"""scripts/plot_roofline.py on small synthetic roofline reports.

Two runs (a "dense" and an "sve50" one, layers of every label), each written
as a deftnn.bench.roofline/1 report: the script must draw both into one PNG;
a counts-only report (skipped, no ceilings) must be refused with a message.
Exits 77 (ctest's skip code) when matplotlib is not importable.
Usage: check_plot_roofline.py [OUT_DIR]
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import matplotlib  # noqa: F401
except ImportError as e:
    print(f"SKIPPED: matplotlib not importable by {sys.executable} ({e})")
    sys.exit(77)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "plot_roofline.py")


def layer(name, gemm, label, flops, nbytes, ms, compute="bf16"):
    s = ms * 1e-3
    return {"name": name, "type": "conv" if gemm else "maxpool", "step": "run", "gemm": gemm, "flops": flops,
            "compulsory_bytes": nbytes, "engine_bytes": 2 * nbytes, "compute": compute, "label": label,
            "time_ms": ms, "kernels": 2, "intensity": flops / nbytes, "achieved_flops_per_s": flops / s,
            "achieved_bytes_per_s": nbytes / s, "pct_of_bound": 42.0}


def report(tag, scale):
    layers = [
        layer("conv1", True, "tensor-core", 27e9 * scale, 2.3e8, 0.30 * scale),
        layer("conv2", True, "tensor-core", 57e9 * scale, 1.3e8, 0.45 * scale),
        layer("fc6", True, "HBM", 9.6e9 * scale, 8e7 * scale, 0.05 * scale),
        layer("fc8", True, "launch", 1e6, 8e6, 0.006),
        layer("pool1", False, "non-GEMM", 0, 1.8e8, 0.09),
        layer("norm1", False, "non-GEMM", 0, 7e7, 0.05),
        {"name": "relu1", "type": "relu", "step": "fused", "gemm": False, "flops": 0},
    ]
    return {"schema": "deftnn.bench.roofline/1", "model": "caffenet-imc", "batch": 128, "tag": tag,
            "env": {"commit": "0123456789abcdef", "gpu": {"name": "synthetic GPU"}},
            "runs": [{"total": {"median_ms": 1.5 * scale}}], "skipped": None,
            "ceilings": {"hbm_bytes_per_s": 3.0e12, "fp32_flops": 5.1e13, "tf32_flops": 3.5e14, "bf16_flops": 6.8e14,
                         "fp8e4m3_flops": 1.2e15, "launch_floor_ms": 0.004},
            "roofline": {"layers": layers}}


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for tag, scale in (("dense", 1.0), ("sve50", 0.5)):
        p = os.path.join(out_dir, f"roofline-{tag}.json")
        with open(p, "w") as f:
            json.dump(report(tag, scale), f)
        paths.append(p)
    png = os.path.join(out_dir, "roofline.png")
    if os.path.exists(png):
        os.remove(png)
    r = subprocess.run([sys.executable, SCRIPT, png] + paths, capture_output=True, text=True)
    failures = []
    if r.returncode != 0:
        failures.append(f"plot failed ({r.returncode}): {r.stderr}")
    elif not os.path.exists(png) or os.path.getsize(png) < 10000:
        failures.append("no PNG written (or an empty one)")
    else:
        with open(png, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                failures.append("the output is not a PNG")
    skipped = report("cpu", 1.0)
    skipped.update({"skipped": "the roofline needs a GPU", "ceilings": None})
    sp = os.path.join(out_dir, "roofline-skipped.json")
    with open(sp, "w") as f:
        json.dump(skipped, f)
    r = subprocess.run([sys.executable, SCRIPT, os.path.join(out_dir, "x.png"), sp], capture_output=True, text=True)
    if r.returncode == 0 or "counts only" not in r.stderr:
        failures.append(f"a counts-only report was not refused clearly: rc {r.returncode}, {r.stderr!r}")
    for f in failures:
        print("FAIL", f)
    print(f"{2 - len(failures) if len(failures) <= 2 else 0} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
