#!/usr/bin/env python3
"""The PyTorch peer: the paper's networks built in PyTorch from deftnn's own graph
files (models/*.json), timed eagerly in fp32, TF32 and bf16.

Layer mapping (Caffe semantics, as deftnn implements them):
  conv      nn.Conv2d(in, out, kernel, stride, pad, groups=groups, bias=bias)
  linear    nn.Flatten (when the input is still (N, C, H, W)) + nn.Linear
  relu      nn.ReLU
  maxpool   nn.MaxPool2d(kernel, stride, pad, ceil_mode=True)   (Caffe rounds pooled sizes up)
  avgpool   nn.AvgPool2d(kernel, stride, pad, ceil_mode=True)
  lrn       nn.LocalResponseNorm(local_size, alpha, beta, k): torch computes
            b = a / (k + alpha / n * sum_{window} a^2)^beta, Caffe's ACROSS_CHANNELS
            formula (alpha divided by the window size) exactly
  dropout   nn.Dropout (identity in eval mode)

Timing: torch.backends.cudnn.benchmark = True; per precision, warm-up passes then
`reps` passes, each between two torch.cuda.Event records; the median is the figure.
fp32 pins TF32 off for both cuBLAS and cuDNN; tf32 turns it on; bf16 casts the
model and the input to bfloat16; compile-bf16 is bf16 through torch.compile
(mode max-autotune, or DEFTNN_TORCH_COMPILE_MODE), its compile inside the warm-up. Inputs are uniform in [-1, 1), seeded.

Writes bench/results/pytorch-<model>-b<batch>-<UTC stamp>.json per model and batch.

    python3 bench/peers/pytorch_nets.py models/caffenet-imc.json:128,1 models/lenet.json:128
    python3 bench/peers/pytorch_nets.py --check      # shapes only, no torch needed
"""
import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def pooled(size, kernel, stride, pad):
    """Caffe's pooled size: rounded up, the last window starting inside the padded input."""
    out = int(math.ceil((size + 2 * pad - kernel) / stride)) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def infer_shapes(graph):
    """Output shape (C, H, W) or (F,) of every layer, without torch: checks a graph
    file and documents the mapping (used by --check and by build())."""
    shape = tuple(graph["input"])
    shapes = []
    for spec in graph["layers"]:
        t = spec["type"]
        if t == "conv":
            c, h, w = shape
            k, s, p = spec["kernel"], spec.get("stride", 1), spec.get("pad", 0)
            g = spec.get("groups", 1)
            if c % g or spec["out"] % g:
                raise ValueError(f"{spec['name']}: channels {c} -> {spec['out']} not divisible by groups {g}")
            shape = (spec["out"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        elif t in ("maxpool", "avgpool"):
            c, h, w = shape
            k, s, p = spec["kernel"], spec.get("stride", 1), spec.get("pad", 0)
            shape = (c, pooled(h, k, s, p), pooled(w, k, s, p))
        elif t == "linear":
            shape = (spec["out"],)
        elif t in ("relu", "lrn", "dropout"):
            pass
        else:
            raise ValueError(f"{spec.get('name')}: layer type '{t}' has no PyTorch mapping here "
                             "(known: conv, linear, relu, maxpool, avgpool, lrn, dropout)")
        shapes.append(shape)
    if shapes and shapes[-1] != (graph["classes"],):
        raise ValueError(f"{graph['name']}: last layer gives {shapes[-1]}, want ({graph['classes']},)")
    return shapes


def build(graph):
    import torch.nn as nn

    mods = []
    shape = tuple(graph["input"])
    for spec, out_shape in zip(graph["layers"], infer_shapes(graph)):
        t = spec["type"]
        if t == "conv":
            mods.append(nn.Conv2d(shape[0], spec["out"], spec["kernel"], stride=spec.get("stride", 1),
                                  padding=spec.get("pad", 0), groups=spec.get("groups", 1),
                                  bias=spec.get("bias", True)))
        elif t == "maxpool":
            mods.append(nn.MaxPool2d(spec["kernel"], spec.get("stride", 1), spec.get("pad", 0), ceil_mode=True))
        elif t == "avgpool":
            mods.append(nn.AvgPool2d(spec["kernel"], spec.get("stride", 1), spec.get("pad", 0), ceil_mode=True))
        elif t == "linear":
            if len(shape) == 3:
                mods.append(nn.Flatten())
            mods.append(nn.Linear(math.prod(shape), spec["out"], bias=spec.get("bias", True)))
        elif t == "relu":
            mods.append(nn.ReLU(inplace=False))
        elif t == "lrn":
            mods.append(nn.LocalResponseNorm(spec["local_size"], alpha=spec["alpha"], beta=spec["beta"],
                                             k=spec.get("k", 1.0)))
        elif t == "dropout":
            mods.append(nn.Dropout(spec.get("ratio", 0.5)))
        shape = out_shape
    return nn.Sequential(*mods)


def quantile_sorted(s, q):
    """Linear interpolation between order statistics (numpy's default; as src/bench/timer.cpp)."""
    pos = q * (len(s) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def time_forward(model, x, warmup, reps):
    import torch

    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        torch.cuda.synchronize()
        start = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        stop = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        for i in range(reps):
            start[i].record()
            model(x)
            stop[i].record()
        torch.cuda.synchronize()
    ms = [a.elapsed_time(b) for a, b in zip(start, stop)]
    s = sorted(ms)
    return {
        "reps": reps,
        "median_ms": statistics.median(ms),
        "min_ms": s[0],
        "p90_ms": quantile_sorted(s, 0.9),
        "mean_ms": statistics.fmean(ms),
        "max_ms": s[-1],
        "samples_ms": ms,
    }


def git_commit():
    if os.environ.get("DEFTNN_COMMIT"):
        return os.environ["DEFTNN_COMMIT"]
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:
        return "unknown"


def environment():
    import torch

    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git_commit(),
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "gpu": torch.cuda.get_device_name(0),
    }
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,clocks.sm,clocks.max.sm",
                            "--format=csv,noheader,nounits", "-i", "0"], capture_output=True, text=True, check=True)
        drv, sm, smmax = [f.strip() for f in q.stdout.strip().split(",")[:3]]
        env.update(driver=drv, sm_clock_mhz=float(sm), sm_clock_max_mhz=float(smmax))
    except Exception:
        env.update(driver=None, sm_clock_mhz=None, sm_clock_max_mhz=None)
    return env


# "max-autotune" adds CUDA graphs; both modes autotune the kernels. Compiling
# CaffeNet takes a minute or two on the GPU machine.
COMPILE_MODE = os.environ.get("DEFTNN_TORCH_COMPILE_MODE", "max-autotune")


def bench_one(graph, batch, precisions, warmup, reps, seed):
    import torch

    torch.manual_seed(seed)
    model = build(graph).cuda().eval()
    gen = torch.Generator(device="cuda").manual_seed(seed)
    x32 = torch.rand((batch, *graph["input"]), device="cuda", generator=gen) * 2 - 1
    assert bool((x32 != 0).any()), "benchmark input is all zeros"
    results = {}
    for prec in precisions:
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        torch.backends.cudnn.allow_tf32 = prec == "tf32"
        if prec in ("bf16", "compile-bf16"):
            m, x = model.to(torch.bfloat16), x32.to(torch.bfloat16)
        else:
            m, x = model.float(), x32
        if prec == "compile-bf16":  # the fastest peer: Inductor with autotuned GEMM/conv templates
            m = torch.compile(m, mode=COMPILE_MODE)
        results[prec] = time_forward(m, x, warmup, reps)
        print(f"  {graph['name']:<14} b{batch:<4} {prec:<5} {results[prec]['median_ms']:8.3f} ms "
              f"(min {results[prec]['min_ms']:.3f}, p90 {results[prec]['p90_ms']:.3f})", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return results


def parse_target(arg):
    """'models/x.json:128,1' -> (path, [128, 1]); no batches -> [128, 1]."""
    path, _, batches = arg.partition(":")
    return path, [int(b) for b in batches.split(",")] if batches else [128, 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="*", default=["models/caffenet-imc.json:128,1", "models/cifarnet.json:128",
                                                   "models/lenet.json:128"],
                    help="GRAPH.json[:B1,B2,...]")
    ap.add_argument("--precisions", default="fp32,tf32,bf16")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--check", action="store_true", help="check the graph files' shapes only (no torch)")
    a = ap.parse_args()

    targets = [parse_target(t) for t in a.targets]
    if a.check:
        for path, _ in targets:
            graph = json.loads(pathlib.Path(path).read_text())
            print(graph["name"], infer_shapes(graph))
        return 0

    import torch

    if not torch.cuda.is_available():
        print("pytorch_nets: no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cudnn.benchmark = True
    env = environment()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = pathlib.Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    precisions = a.precisions.split(",")
    for path, batches in targets:
        graph = json.loads(pathlib.Path(path).read_text())
        for b in batches:
            res = bench_one(graph, b, precisions, a.warmup, a.reps, a.seed)
            report = {
                "schema": "deftnn.bench.pytorch/1",
                "model": graph["name"],
                "model_path": path,
                "batch": b,
                "env": env,
                "timer": {"warmup": a.warmup, "reps": a.reps, "cudnn_benchmark": True, "mode": "eager",
                          "input_seed": a.seed},
                "results": res,
            }
            f = out_dir / f"pytorch-{graph['name']}-b{b}-{stamp}.json"
            f.write_text(json.dumps(report, indent=2) + "\n")
            print(f"  wrote {f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
