#!/usr/bin/env python3
"""ResNet-18 through channel-granular SVE and ONNX export, checked and timed
in ONNX Runtime on the CPU (issue 11, "How it is checked").

1. Writes resnet18.onnx with the onnx helper API: torchvision's architecture
   exactly (conv1 7x7/2 64 + BN + ReLU, max pool 3/2, four stages of two
   BasicBlocks of 64, 128, 256, 512 channels, the stride-2 blocks with a 1x1
   conv + BN downsample, global average pool, Flatten, fc 1000), node names
   as torch.onnx.export writes them, opset 13, the convs without bias and a
   BatchNormalization after each as in a torchvision export. Weights are
   seeded: He init (kaiming normal, fan_out, as torchvision), fc as
   nn.Linear's default; each BN's running mean and variance are the real
   per-channel statistics of its input on a calibration batch (computed
   layer by layer in ONNX Runtime), perturbed (mean + N(0, 0.1 sd), var x
   U(0.8, 1.25)), gamma U(0.5, 1.5), beta N(0, 0.1): random, but the scale of
   a trained net's, so activations neither vanish nor explode over 8 blocks.
2. `deftnn export resnet18.onnx --onnx dense.onnx` (the dense round trip) and
   `deftnn optimize resnet18.onnx --granularity channel --density 0.5
   --no-finetune --method sve` (every eligible layer: all but the input
   layer and those under 1% of the GEMM FLOPs), then `deftnn export` of it.
3. Checks (exit 1 on any failure):
   - dense: ONNX Runtime on dense.onnx against ONNX Runtime on resnet18.onnx
     within TOL (the import folds BatchNormalization into the convs, one
     more rounding per weight, so not bit for bit), and `deftnn run
     dense.onnx` equal to `deftnn run resnet18.onnx` bit for bit (the same
     layers and weights come back);
   - SVE: ONNX Runtime on the SVE export against `deftnn run` of the SVE
     model file within TOL;
   - the shrink: every eligible conv's exported weight has half its input
     channels; a block's conv1, whose output reaches conv2 through BN and
     ReLU alone, half its output channels; a Gather (of the kept channels of
     the block input that the residual add also reads) before each block's
     conv1 and nowhere else.
   TOL: err = max|y - ref| / max|ref| <= 16 eps32 sqrt(K) D, K the largest
   reduction length (512 * 3 * 3) and D the number of Conv / Gemm layers
   (21): as tests/python/check_onnx_export.py (fp32 dot products of K terms
   summed in another order differ by about eps sqrt(K) of their size, the
   errors add up about linearly over the depth; the 16 covers the folded
   BN and the pools' and adds' own rounding).
4. Unless --check-only: times both exports in ONNX Runtime (CPU provider,
   intra-op threads 2 and 1, inter-op 1, batch 1 and 8 at 224x224): warm-up,
   then interleaved rounds (dense, SVE, dense, ...) of a few runs each, the
   median and the spread (min, max, quartiles) per configuration, and the
   load average before and after (the machine is shared). Writes JSON
   (commit, machine, date, ORT version, thread counts, the checks, shapes,
   FLOPs) to --json. The speedup is reported, not asserted.

Usage: resnet18_export_speed.py [--deftnn build/deftnn] [--work DIR]
       [--check-only] [--json OUT.json] [--rounds 9] [--reps 3]
Exit 77 (skip) when onnx, onnxruntime or numpy do not import.
"""
import argparse
import collections
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # pragma: no cover
    print(f"skip: {e} (scripts/install_deps.sh installs onnx, onnxruntime and numpy into .venv)")
    sys.exit(77)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPS32 = 2.0 ** -23
DENSITY = 0.5


# ---------------------------------------------------------------- the model
def param_name(scope):
    """torch's parameter path of a module scope: layer1/layer1.0/conv1 -> layer1.0.conv1."""
    parts = scope.split("/")
    return ".".join(parts[1:] if len(parts) > 1 and parts[0].startswith("layer") else parts)


class Builder:
    def __init__(self, rng):
        self.rng, self.nodes, self.inits = rng, [], []
        self.bns = []  # (BN node, its input tensor, channels), in graph order

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
        return name

    def conv(self, scope, x, cin, cout, k, stride, pad):
        # torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu"): sd = sqrt(2 / (cout k k)).
        w = self.rng.standard_normal((cout, cin, k, k)) * math.sqrt(2.0 / (cout * k * k))
        wn = self.init(f"{param_name(scope)}.weight", w)
        out = f"/{scope}/Conv_output_0"
        self.nodes.append(helper.make_node("Conv", [x, wn], [out], name=f"/{scope}/Conv", kernel_shape=[k, k],
                                           strides=[stride, stride], pads=[pad] * 4, dilations=[1, 1], group=1))
        return out

    def bn(self, scope, x, c):
        names = [self.init(f"{param_name(scope)}.{p}", np.zeros(c) if p != "running_var" else np.ones(c))
                 for p in ("weight", "bias", "running_mean", "running_var")]
        out = f"/{scope}/BatchNormalization_output_0"
        node = helper.make_node("BatchNormalization", [x] + names, [out], name=f"/{scope}/BatchNormalization",
                                epsilon=1e-5, momentum=0.9)
        self.nodes.append(node)
        self.bns.append((scope, x, c))
        return out

    def relu(self, scope, x):
        out = f"/{scope}/Relu_output_0"
        self.nodes.append(helper.make_node("Relu", [x], [out], name=f"/{scope}/Relu"))
        return out


def resnet18_model(rng):
    b = Builder(rng)
    x = b.relu("relu", b.bn("bn1", b.conv("conv1", "input", 3, 64, 7, 2, 3), 64))
    b.nodes.append(helper.make_node("MaxPool", [x], ["/maxpool/MaxPool_output_0"], name="/maxpool/MaxPool",
                                    kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=0,
                                    dilations=[1, 1]))
    x, cin = "/maxpool/MaxPool_output_0", 64
    for stage, cout in enumerate((64, 128, 256, 512), start=1):
        for blk in range(2):
            s = f"layer{stage}/layer{stage}.{blk}"
            stride = 2 if stage > 1 and blk == 0 else 1
            y = b.relu(f"{s}/relu", b.bn(f"{s}/bn1", b.conv(f"{s}/conv1", x, cin, cout, 3, stride, 1), cout))
            y = b.bn(f"{s}/bn2", b.conv(f"{s}/conv2", y, cout, cout, 3, 1, 1), cout)
            short = x
            if stride != 1 or cin != cout:
                short = b.bn(f"{s}/downsample/downsample.1",
                             b.conv(f"{s}/downsample/downsample.0", x, cin, cout, 1, stride, 0), cout)
            add = f"/{s}/Add_output_0"
            b.nodes.append(helper.make_node("Add", [y, short], [add], name=f"/{s}/Add"))
            x, cin = b.relu(f"{s}/relu_1", add), cout
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], ["/avgpool/GlobalAveragePool_output_0"],
                                    name="/avgpool/GlobalAveragePool"))
    b.nodes.append(helper.make_node("Flatten", ["/avgpool/GlobalAveragePool_output_0"], ["/Flatten_output_0"],
                                    name="/Flatten", axis=1))
    bound = 1 / math.sqrt(512)  # nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
    fw = b.init("fc.weight", rng.uniform(-bound, bound, (1000, 512)))
    fb = b.init("fc.bias", rng.uniform(-bound, bound, 1000))
    b.nodes.append(helper.make_node("Gemm", ["/Flatten_output_0", fw, fb], ["output"], name="/fc/Gemm",
                                    alpha=1.0, beta=1.0, transB=1))
    g = helper.make_graph(b.nodes, "main_graph",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1000])], b.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="resnet18_export_speed")
    m.ir_version = 8
    return m, b


def calibrate_bn(m, b, rng, x):
    """Each BN's running statistics: its input's per-channel mean and variance
    on the batch x, through the net with the earlier BNs already set, then
    perturbed; gamma and beta random."""
    inits = {t.name: i for i, t in enumerate(m.graph.initializer)}

    def set_init(name, arr):
        m.graph.initializer[inits[name]].CopyFrom(numpy_helper.from_array(np.asarray(arr, np.float32), name))

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    for scope, tensor, c in b.bns:
        probe = onnx.ModelProto()
        probe.CopyFrom(m)
        del probe.graph.output[:]
        del probe.graph.input[:]  # the calibration batch is smaller than 224 x 224
        probe.graph.input.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"]))
        probe.graph.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None))
        s = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
        t = s.run(None, {"input": x})[0].astype(np.float64)
        mean, var = t.mean(axis=(0, 2, 3)), t.var(axis=(0, 2, 3))
        p = param_name(scope)
        set_init(f"{p}.running_mean", mean + rng.standard_normal(c) * 0.1 * np.sqrt(var))
        set_init(f"{p}.running_var", var * rng.uniform(0.8, 1.25, c))
        set_init(f"{p}.weight", rng.uniform(0.5, 1.5, c))
        set_init(f"{p}.bias", rng.standard_normal(c) * 0.1)


def write_resnet18(path, seed):
    rng = np.random.default_rng(seed)
    m, b = resnet18_model(rng)
    # Calibration batch: 2 images at 112 x 112 (statistics per channel barely
    # depend on the size; 4x cheaper than 224).
    calibrate_bn(m, b, rng, rng.standard_normal((2, 3, 112, 112)).astype(np.float32))
    onnx.checker.check_model(m)
    onnx.save(m, path)


# --------------------------------------------------------------- utilities
def sh(*a):
    try:
        return subprocess.run(list(a), capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # pragma: no cover
        return ""


def deftnn(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"FAIL: {binary} {' '.join(args)}: exit {r.returncode}\n{r.stderr.strip()[-2000:]}")
    return r.stdout + r.stderr


def session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_run(path, x, threads=2):
    s = session(path, threads)
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def rel_err(y, ref):
    return float(np.max(np.abs(y.astype(np.float64) - ref.astype(np.float64)))) / float(np.max(np.abs(ref)))


def conv_table(path, batch=1):
    """Per Conv / Gemm node of an ONNX file: weight shape and MACs per image
    (output sizes from ONNX shape inference); the Gather nodes."""
    m = onnx.shape_inference.infer_shapes(onnx.load(path))
    inits = {t.name: tuple(t.dims) for t in m.graph.initializer}
    shapes = {}
    for v in list(m.graph.value_info) + list(m.graph.output):
        shapes[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    rows, gathers = [], []
    for n in m.graph.node:
        if n.op_type in ("Conv", "Gemm"):
            w = inits[n.input[1]]
            out = shapes.get(n.output[0], [])
            spatial = out[2] * out[3] if n.op_type == "Conv" and len(out) == 4 else 1
            rows.append({"node": n.name, "op": n.op_type, "weight": list(w),
                         "macs": int(np.prod(w)) * spatial})
        elif n.op_type == "Gather":
            gathers.append({"node": n.name, "indices": int(np.prod(inits.get(n.input[1], (0,)))),
                            "feeds": [c.name for c in m.graph.node if n.output[0] in c.input]})
    params = sum(int(np.prod(d)) for d in inits.values())
    return rows, gathers, params


# ------------------------------------------------------------------ checks
def check(binary, work, seed):
    fails = []
    src = os.path.join(work, "resnet18.onnx")
    t0 = time.time()
    write_resnet18(src, seed)
    gen_s = time.time() - t0
    dense = os.path.join(work, "resnet18.dense.onnx")
    chan = os.path.join(work, "resnet18.chan50.safetensors")
    sve = os.path.join(work, "resnet18.chan50.onnx")
    deftnn(binary, "export", src, "--onnx", dense)
    opt_log = deftnn(binary, "optimize", src, "--granularity", "channel", "--density", str(DENSITY),
                     "--no-finetune", "--method", "sve", "--out", chan, "--device", "cpu", "--quiet")
    deftnn(binary, "export", chan, "--onnx", sve)

    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((2, 3, 224, 224)).astype(np.float32)
    xin = os.path.join(work, "x.npy")
    np.save(xin, x)

    def run(model):
        out = os.path.join(work, os.path.basename(model) + ".y.npy")
        deftnn(binary, "run", model, "--input", xin, "--output", out, "--device", "cpu")
        return np.load(out)

    d_rows, _, d_params = conv_table(src)
    k_max = max(int(np.prod(r["weight"][1:])) for r in d_rows)
    tol = 16 * EPS32 * math.sqrt(k_max) * len(d_rows)
    ref = ort_run(src, x)
    result = {"tolerance": tol, "K": k_max, "D": len(d_rows), "generate_s": round(gen_s, 2),
              "output_max_abs": float(np.max(np.abs(ref)))}

    # Dense round trip.
    e_dense = rel_err(ort_run(dense, x), ref)
    y_src, y_dense = run(src), run(dense)
    exact = y_src.shape == y_dense.shape and np.array_equal(y_src, y_dense)
    e_deftnn = rel_err(y_src, ref)
    result["dense"] = {"ort_export_vs_ort_original": e_dense, "deftnn_run_export_equals_original_bitwise": exact,
                       "deftnn_run_vs_ort_original": e_deftnn}
    if not e_dense <= tol:
        fails.append(f"dense export in ORT differs from the original: {e_dense:.2e} > {tol:.2e}")
    if not exact:
        fails.append("deftnn run of the dense export is not bit for bit deftnn run of the original")
    if not e_deftnn <= tol:
        fails.append(f"deftnn run of the original differs from ORT: {e_deftnn:.2e} > {tol:.2e}")

    # SVE export against deftnn run of the SVE model file.
    y_chan = run(chan)
    e_sve = rel_err(ort_run(sve, x), y_chan)
    result["sve"] = {"ort_export_vs_deftnn_run": e_sve}
    if not e_sve <= tol:
        fails.append(f"SVE export in ORT differs from deftnn run of the SVE model: {e_sve:.2e} > {tol:.2e}")

    # The shrink, layer by layer: the dense and SVE exports (both written by
    # deftnn, so the same node names, in the same order).
    e_rows, _, _ = conv_table(dense)
    s_rows, s_gathers, s_params = conv_table(sve)
    if [r["node"] for r in e_rows] != [r["node"] for r in s_rows]:
        fails.append(f"the SVE export's Conv/Gemm nodes differ from the dense export's")
    layers, conv1s = [], []
    for i, (r, s) in enumerate(zip(e_rows, s_rows)):
        name, w0, w1 = r["node"], r["weight"], s["weight"]
        # Eligible: the 16 3x3 convs (the stem is the input layer; the 1x1
        # downsamples (0.35% each) and fc are under 1% of the GEMM FLOPs).
        eligible = i > 0 and r["op"] == "Conv" and w0[2:] == [3, 3]
        block_conv1 = eligible and "_conv1_" in name  # its output reaches conv2 through BN (folded) and ReLU only
        if block_conv1:
            conv1s.append(name)
        want = [w0[0] // 2 if block_conv1 else w0[0], w0[1] // 2 if eligible else w0[1]] + w0[2:]
        if w1 != want:
            fails.append(f"{name}: exported weight {w1}, expected {want} (dense {w0})")
        layers.append({"node": name, "dense": w0, "sve": w1, "dense_macs": r["macs"], "sve_macs": s["macs"],
                       "eligible": eligible})
    ops = [collections.Counter(n.op_type for n in onnx.load(f, load_external_data=False).graph.node)
           for f in (dense, sve)]
    if ops[1] - ops[0] != collections.Counter({"Gather": 8}) or ops[0] - ops[1]:
        fails.append(f"the SVE export's operators {dict(ops[1])} are not the dense export's {dict(ops[0])} + 8 Gathers")
    fed = sorted(f for g in s_gathers for f in g["feeds"])
    if len(conv1s) != 8 or fed != sorted(conv1s):
        fails.append(f"Gathers feed {fed}, expected exactly each block's conv1 ({sorted(conv1s)})")
    result["shrink"] = {"layers": layers, "gathers": s_gathers, "params_dense_original": d_params,
                        "params_dense": conv_table(dense)[2], "params_sve": s_params,
                        "macs_dense": sum(r["macs"] for r in e_rows), "macs_sve": sum(r["macs"] for r in s_rows)}
    result["optimize_log"] = opt_log.strip().splitlines()[-1:]
    return result, fails, dense, sve


# ------------------------------------------------------------------ timing
def time_models(models, batches, threads, rounds, reps, warmup, seed):
    rng = np.random.default_rng(seed + 2)
    out = []
    for t in threads:
        sessions = {k: session(p, t) for k, p in models.items()}
        for bsz in batches:
            x = rng.standard_normal((bsz, 3, 224, 224)).astype(np.float32)
            times = {k: [] for k in models}
            for k, s in sessions.items():
                for _ in range(warmup):
                    s.run(None, {s.get_inputs()[0].name: x})
            for _ in range(rounds):  # interleaved: a load spike hits both models alike
                for k, s in sessions.items():
                    name = s.get_inputs()[0].name
                    for _ in range(reps):
                        t0 = time.perf_counter()
                        s.run(None, {name: x})
                        times[k].append((time.perf_counter() - t0) * 1e3)
            row = {"threads": t, "batch": bsz}
            for k, v in times.items():
                a = np.array(v)
                row[k] = {"median_ms": float(np.median(a)), "min_ms": float(a.min()), "max_ms": float(a.max()),
                          "q1_ms": float(np.percentile(a, 25)), "q3_ms": float(np.percentile(a, 75)), "n": len(v)}
            row["speedup_median"] = row["dense"]["median_ms"] / row["sve"]["median_ms"]
            row["speedup_min"] = row["dense"]["min_ms"] / row["sve"]["min_ms"]
            out.append(row)
            print(f"threads {t} batch {bsz}: dense {row['dense']['median_ms']:.1f} ms "
                  f"[{row['dense']['min_ms']:.1f}, {row['dense']['max_ms']:.1f}], "
                  f"SVE {row['sve']['median_ms']:.1f} ms [{row['sve']['min_ms']:.1f}, {row['sve']['max_ms']:.1f}], "
                  f"speedup {row['speedup_median']:.2f}x (of minima {row['speedup_min']:.2f}x)", flush=True)
    return out


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "platform": platform.platform(), "host": platform.node()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deftnn", default=os.path.join(REPO, "build", "deftnn"))
    ap.add_argument("--work", default="", help="folder for the models (default: a temporary one, removed)")
    ap.add_argument("--check-only", action="store_true", help="the correctness checks, no timing")
    ap.add_argument("--json", default="", help="write the results here")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", default="2,1")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seed", type=int, default=18)
    a = ap.parse_args()
    if not os.access(a.deftnn, os.X_OK):
        raise SystemExit(f"FAIL: {a.deftnn} is not an executable deftnn binary")
    tmp = None
    work = a.work
    if not work:
        tmp = tempfile.TemporaryDirectory(prefix="r18-")
        work = tmp.name
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    result, fails, dense, sve = check(a.deftnn, work, a.seed)
    sh_ = result["shrink"]
    print(f"dense round trip: ORT export vs ORT original {result['dense']['ort_export_vs_ort_original']:.2e}, "
          f"deftnn run bit for bit {result['dense']['deftnn_run_export_equals_original_bitwise']}; "
          f"SVE export in ORT vs deftnn run {result['sve']['ort_export_vs_deftnn_run']:.2e} "
          f"(tol {result['tolerance']:.2e})")
    print(f"parameters {sh_['params_dense']:,} -> {sh_['params_sve']:,}; conv/fc MACs per image "
          f"{sh_['macs_dense'] / 1e9:.3f} G -> {sh_['macs_sve'] / 1e9:.3f} G "
          f"({100 * sh_['macs_sve'] / sh_['macs_dense']:.1f}%); {len(sh_['gathers'])} Gathers")
    result["check_s"] = round(time.time() - t0, 1)
    if not a.check_only and not fails:
        la0 = os.getloadavg()
        result["timing"] = time_models({"dense": dense, "sve": sve}, [int(b) for b in a.batches.split(",")],
                                       [int(t) for t in a.threads.split(",")], a.rounds, a.reps, a.warmup, a.seed)
        result["loadavg_before"], result["loadavg_after"] = list(la0), list(os.getloadavg())
        result["timing_options"] = {"rounds": a.rounds, "reps_per_round": a.reps, "warmup": a.warmup,
                                    "inter_op_threads": 1, "execution_mode": "sequential",
                                    "graph_optimization_level": "ORT default (all)", "provider": "CPUExecutionProvider"}
    if a.json:
        result.update({"commit": sh("git", "-C", REPO, "rev-parse", "--short", "HEAD"),
                       "dirty": bool(sh("git", "-C", REPO, "status", "--porcelain", "--untracked-files=no")),
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       "machine": machine(), "onnxruntime": ort.__version__, "onnx": onnx.__version__,
                       "numpy": np.__version__, "density": DENSITY, "seed": a.seed, "fails": fails,
                       "commands": ["deftnn export resnet18.onnx --onnx resnet18.dense.onnx",
                                    "deftnn optimize resnet18.onnx --granularity channel --density 0.5 "
                                    "--no-finetune --method sve --out resnet18.chan50.safetensors",
                                    "deftnn export resnet18.chan50.safetensors --onnx resnet18.chan50.onnx"]})
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        print(f"results written to {a.json}")
    for msg in fails:
        print("FAIL " + msg)
    print(("ok" if not fails else "FAILED") + f" ({time.time() - t0:.0f} s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
