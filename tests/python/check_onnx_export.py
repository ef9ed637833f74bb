#!/usr/bin/env python3
"""ONNX export against ONNX Runtime, through the CLI: `deftnn export`.

For each bundled network (LeNet-5, CifarNet, CaffeNet, and the residual
example resnet-tiny), with its seeded random weights:

1. dense: `deftnn export NET.json --onnx dense.onnx`; ONNX Runtime's output on
   a random batch of 2 is compared with `deftnn run NET.json` (same seed);
   then `deftnn run dense.onnx` (the export imported back) must give
   `deftnn run NET.json`'s array bit for bit (the same layers, weights and
   kernels: the round trip is exact);
2. SVE, tap-granular: a model file (.sve.safetensors, written here with the
   safetensors package) whose GEMM layers but the first keep a random half of
   their K input rows, in shuffled order (the truncated weight's columns
   follow that order, as deftnn's SveState says); ONNX Runtime on its export
   against `deftnn run` of the model file;
3. SVE, swap: the same with the Swap transform's kept order and swap pairs
   (not for CaffeNet, the slowest);
4. SVE, channel-granular (what `deftnn optimize --granularity channel`
   writes, "group" in the state): every GEMM layer but the first keeps whole
   input channels (a conv: all kh*kw taps of a random half of its channels;
   a linear layer reading a conv's flattened output: all h*w features of a
   random half of those channels, in shuffled order; another linear: a
   random half of its features), so the export drops them physically: the
   producer's rows where the graph allows it (checked on the initializers'
   shapes: LeNet's conv1, conv2 (through pool2 and the flatten) and ip1;
   CifarNet's conv3 but not conv1 and conv2, whose outputs pass an LRN that
   mixes neighbouring channels), a Gather elsewhere; compared the same way.

Tolerance: err = max|y - ref| / max|ref| <= 16 * eps32 * sqrt(K) * D (the
derivation is check_onnx_ort.py's: K the largest reduction length, D the
number of GEMM layers; the random nets' logits are small, so the error is
taken relative to their own size, not to max(1, |ref|)). The reference is
checked not to be all zeros or the same for both images.

Then a small graph of pools: Caffe's ceil rounding with padding where it
adds a window (MaxPool ceil_mode 1) against ONNX Runtime, and an average
pool of ceil rounding and padding refused. Last, a graph with a layer ONNX
export does not take (l2norm): exit 1, the file and the layer named, no
output file.

Usage: check_onnx_export.py path/to/deftnn. Exit 77 (skip) without numpy,
onnx, onnxruntime, safetensors, or in a build without ONNX.
"""
import copy
import json
import math
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from safetensors.numpy import save_file
except ImportError as e:  # pragma: no cover
    print(f"skip: {e} (scripts/install_deps.sh installs numpy, onnx, onnxruntime and safetensors into .venv)")
    sys.exit(77)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
NETS = ["models/lenet.json", "models/cifarnet.json", "models/caffenet-imc.json", "models/examples/resnet-tiny.json"]
rng = np.random.default_rng(7)
fails = []


def sh(*args):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()[:400]}")
    return r.stdout


def report(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        fails.append(what)


def ort_run(path, x):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def deftnn_run(binary, model, xin, d, tag):
    y = os.path.join(d, tag + ".out.npy")
    sh(binary, "run", model, "--input", xin, "--output", y, "--device", "cpu")
    return np.load(y)


def gemm_k_d(weights):
    """(largest K, number of GEMM layers) from the dense export's weights."""
    ks = [int(np.prod(w.shape[1:])) for w in weights.values()]
    return max(ks), len(ks)


def compare(name, y, ref, k, d):
    tol = 16 * 2.0 ** -23 * math.sqrt(k) * d
    scale = float(np.max(np.abs(ref)))
    spread = float(np.max(np.abs(ref[0] - ref[1]))) if ref.shape[0] > 1 else scale
    if y.shape != ref.shape or scale == 0 or spread == 0:
        report(False, f"{name}: shape {y.shape} vs {ref.shape}, max|ref| {scale}, images differ by {spread}")
        return
    err = float(np.max(np.abs(y.astype(np.float64) - ref))) / scale
    report(err <= tol and bool(np.all(np.isfinite(y))),
           f"{name}: shape {y.shape}, err {err:.2e} <= tol {tol:.2e} (K {k}, D {d}, max|ref| {scale:.2e})")


def gemm_layers(graph, weights):
    """The graph's conv / linear layer entries, in file order, with their dense weights."""
    return [(l, weights[l["name"]]) for l in graph["layers"] if l["type"] in ("conv", "linear")]


def swap_order(kept_set, k):
    """The kept list of a Swap-transform state (synapse/sve_state.h): each kept
    row at or beyond K' swapped with a discarded row below K', in order, so
    the kept rows end up in rows 0..K'-1; returns (kept, swaps)."""
    kp = len(kept_set)
    s = set(int(v) for v in kept_set)
    high = sorted(v for v in s if v >= kp)
    low_discarded = [i for i in range(kp) if i not in s]
    partner = dict(zip(low_discarded, high))
    kept = [i if i in s else partner[i] for i in range(kp)]
    return kept, [[a, b] for b, a in partner.items()]


def sve_model(graph, dense_inits, path, channel, swap=False):
    """Writes an SVE model file: every GEMM layer but the first keeps half
    its K rows (random rows in shuffled order, or whole channels; with swap,
    the Swap transform's order and swap pairs)."""
    g = copy.deepcopy(graph)
    tensors = {}
    layers = gemm_layers(g, {n.split(".")[0]: a for n, a in dense_inits.items() if n.endswith(".weight")})
    prev_out = None  # output channels of the previous GEMM layer when it is a conv
    for idx, (layer, w) in enumerate(layers):
        name = layer["name"]
        conv_before, prev_out = prev_out, (w.shape[0] if w.ndim == 4 else None)
        out = w.shape[0]
        k = int(np.prod(w.shape[1:]))
        w2 = w.reshape(out, k)
        if idx == 0:
            tensors[name + ".weight"] = np.ascontiguousarray(w)
        else:
            group = 1
            if channel and w.ndim == 4:
                group = w.shape[2] * w.shape[3]
                chans = np.sort(rng.choice(w.shape[1], size=max(1, w.shape[1] // 2), replace=False))
                kept = (chans[:, None] * group + np.arange(group)[None, :]).reshape(-1)
            elif channel and conv_before and k % conv_before == 0 and k > conv_before:
                # A linear layer after a conv (LeNet's ip1, CifarNet's ip1,
                # CaffeNet's fc6): whole channels of h*w features, shuffled.
                group = k // conv_before
                chans = rng.choice(conv_before, size=max(1, conv_before // 2), replace=False)
                kept = (chans[:, None] * group + np.arange(group)[None, :]).reshape(-1)
                kept = kept[rng.permutation(len(kept))]
            else:
                kept = rng.permutation(k)[: max(1, k // 2)]
                if channel:
                    kept = np.sort(kept)
            swaps = []
            if swap:
                kept, swaps = swap_order(kept, k)
                kept = np.array(kept)
            layer["sve"] = {"original_k": k, "kept": [int(v) for v in kept], "swaps": swaps,
                            "transform": "swap" if swap else "fused"}
            if group > 1:
                layer["sve"]["group"] = group
            tensors[name + ".weight"] = np.ascontiguousarray(w2[:, kept])
        if name + ".bias" in dense_inits:
            tensors[name + ".bias"] = dense_inits[name + ".bias"]
    save_file(tensors, path, metadata={"deftnn.graph": json.dumps(g), "deftnn.version": "2"})


def check_net(binary, rel, d):
    graph_path = os.path.join(ROOT, rel)
    graph = json.load(open(graph_path))
    tag = graph["name"]
    dense = os.path.join(d, tag + ".onnx")
    sh(binary, "export", graph_path, "--onnx", dense)
    model = onnx.load(dense)
    onnx.checker.check_model(model)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    weights = {n.split(".")[0]: a for n, a in inits.items() if n.endswith(".weight")}
    k, depth = gemm_k_d(weights)
    x = rng.standard_normal([2] + graph["input"]).astype(np.float32)
    xin = os.path.join(d, tag + ".in.npy")
    np.save(xin, x)
    y = deftnn_run(binary, graph_path, xin, d, tag)
    compare(f"{tag} dense export vs deftnn run", ort_run(dense, x), y, k, depth)
    back = deftnn_run(binary, dense, xin, d, tag + ".back")
    report(np.array_equal(back, y), f"{tag} dense export imported back: bit for bit "
                                    f"(max diff {float(np.max(np.abs(back - y))):.1e})")
    modes = [("tap", False, False), ("channel", True, False)]
    if tag != "caffenet-imc":  # (its 60M parameters: the slowest case, not run a third time)
        modes.append(("swap", False, True))
    for mode, channel, swap in modes:
        sve = os.path.join(d, f"{tag}.{mode}.sve.safetensors")
        sve_model(graph, inits, sve, channel, swap)
        out = os.path.join(d, f"{tag}.{mode}.onnx")
        msg = sh(binary, "export", sve, "--onnx", out).strip()
        ys = deftnn_run(binary, sve, xin, d, f"{tag}.{mode}")
        compare(f"{tag} SVE {mode} export vs deftnn run", ort_run(out, x), ys, k, depth)
        exported = {t.name: t.dims for t in onnx.load(out).graph.initializer}
        dense_n = sum(int(np.prod(a.shape)) for n, a in inits.items() if n.endswith((".weight", ".bias")))
        sve_n = sum(int(np.prod(v)) for n, v in exported.items() if n.endswith((".weight", ".bias")))
        if channel:
            # Every GEMM layer but the first reads half its inputs: the export
            # must be physically smaller, and a producer feeding a conv
            # straight (lenet conv1 -> pool -> conv2) writes only the kept
            # channels.
            report(sve_n < dense_n, f"{tag} channel-granular export smaller: {sve_n} of {dense_n} parameters ({msg})")
            gathers = sum(1 for n in onnx.load(out).graph.node if n.op_type == "Gather")
            if tag == "lenet":
                conv1 = exported["conv1.weight"]
                report(conv1[0] == weights["conv1"].shape[0] // 2,
                       f"lenet conv1 (producer of conv2's kept channels) exports {conv1[0]} of "
                       f"{weights['conv1'].shape[0]} output channels")
                conv2 = exported["conv2.weight"]
                report(list(conv2) == [weights["conv2"].shape[0] // 2, weights["conv2"].shape[1] // 2, 5, 5],
                       f"lenet conv2 exports {list(conv2)}: half its input channels, and half its output channels "
                       f"(ip1 keeps whole channels of pool2's flattened output)")
                report(list(exported["ip1.weight"])[1] == weights["ip1"].shape[1] // 2 and gathers == 0,
                       f"lenet ip1 reads {exported['ip1.weight'][1]} of {weights['ip1'].shape[1]} features; "
                       f"{gathers} Gather nodes (0: every eliminated input dropped at its producer)")
                ip1 = exported["ip1.weight"]
                report(ip1[0] == weights["ip1"].shape[0] // 2,
                       f"lenet ip1 (producer of ip2's kept neurons, through a ReLU) exports {ip1[0]} of "
                       f"{weights['ip1'].shape[0]} rows")
            if tag == "cifarnet":
                full = {n: weights[n].shape[0] for n in ("conv1", "conv2", "conv3")}
                report(exported["conv3.weight"][0] == full["conv3"] // 2 and exported["conv1.weight"][0] == full["conv1"]
                       and exported["conv2.weight"][0] == full["conv2"] and exported["conv2.weight"][1] == 16
                       and exported["conv3.weight"][1] == 16 and gathers == 2,
                       f"cifarnet: conv3 (producer of ip1's kept channels) exports {exported['conv3.weight'][0]} of "
                       f"{full['conv3']} rows; conv1, conv2 keep all rows (an LRN mixes channels after them) and "
                       f"conv2, conv3 read 16 of 32 channels through {gathers} Gathers")
        else:
            print(f"     {tag} {mode}: {msg}")


def check_batchnorm(binary, d):
    """Channel-granular SVE through a batchnorm: conv1 -> batchnorm -> relu ->
    conv2 -> relu -> flatten -> fc, conv2 keeping 3 of conv1's 6 channels and
    fc 2 of conv2's 4 channels (all 5x5 = 25 features each): conv1 and conv2
    lose those output rows, the batchnorm its entries, no Gather is left, and
    ONNX Runtime gives deftnn's outputs (random batchnorm statistics)."""
    g = {"name": "bnnet", "input": [2, 9, 9], "classes": 5, "layers": [
        {"type": "conv", "name": "conv1", "out": 6, "kernel": 3},
        {"type": "batchnorm", "name": "bn"},
        {"type": "relu", "name": "r1"},
        {"type": "conv", "name": "conv2", "out": 4, "kernel": 3},
        {"type": "relu", "name": "r2"},
        {"type": "flatten", "name": "flat"},
        {"type": "linear", "name": "fc", "out": 5}]}
    t = {"conv1.weight": rng.standard_normal((6, 2, 3, 3)), "conv1.bias": rng.standard_normal(6),
         "bn.weight": rng.uniform(0.5, 2, 6), "bn.bias": rng.standard_normal(6),
         "bn.running_mean": rng.standard_normal(6), "bn.running_var": rng.uniform(0.5, 2, 6),
         "conv2.bias": rng.standard_normal(4), "fc.bias": rng.standard_normal(5)}
    w2 = rng.standard_normal((4, 6 * 9))
    ch2 = np.array([4, 0, 2])  # kept input channels of conv2, any order: its weight columns follow
    k2 = (ch2[:, None] * 9 + np.arange(9)[None, :]).reshape(-1)
    t["conv2.weight"] = w2[:, k2]
    wf = rng.standard_normal((5, 4 * 25))
    kf = (np.array([3, 1])[:, None] * 25 + np.arange(25)[None, :]).reshape(-1)[rng.permutation(50)]
    t["fc.weight"] = wf[:, kf]
    g["layers"][3]["sve"] = {"original_k": 54, "kept": [int(v) for v in k2], "group": 9}
    g["layers"][6]["sve"] = {"original_k": 100, "kept": [int(v) for v in kf], "group": 25}
    p = os.path.join(d, "bnnet.sve.safetensors")
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()}, p,
              metadata={"deftnn.graph": json.dumps(g), "deftnn.version": "2"})
    out = os.path.join(d, "bnnet.onnx")
    msg = sh(binary, "export", p, "--onnx", out).strip()
    x = rng.standard_normal((2, 2, 9, 9)).astype(np.float32)
    xin = os.path.join(d, "bnnet.in.npy")
    np.save(xin, x)
    compare("batchnorm between a shrunk producer and its channel-granular consumer", ort_run(out, x),
            deftnn_run(binary, p, xin, d, "bnnet"), 100, 3)
    m = onnx.load(out)
    dims = {i.name: list(i.dims) for i in m.graph.initializer}
    gathers = sum(1 for n in m.graph.node if n.op_type == "Gather")
    report(dims["conv1.weight"] == [3, 2, 3, 3] and dims["bn.running_var"] == [3] and dims["conv2.weight"] == [2, 3, 3, 3]
           and dims["fc.weight"] == [5, 50] and gathers == 0,
           f"batchnorm crossed: conv1 {dims['conv1.weight']}, bn {dims['bn.running_var']}, conv2 {dims['conv2.weight']}, "
           f"fc {dims['fc.weight']}, {gathers} Gathers ({msg})")


def check_pools(binary, d):
    """Caffe's ceil rounding where it adds a window, with padding (max pool:
    ceil_mode 1), an average pool with padding where floor and ceil agree
    (count_include_pad 1), and an average pool that ONNX cannot express (ceil
    rounding adds a window, with padding: refused, naming the layer)."""
    g = {"name": "pools", "input": [2, 6, 6], "layers": [
        {"type": "conv", "name": "c", "out": 3, "kernel": 3, "pad": 1},
        {"type": "maxpool", "name": "mp", "kernel": 3, "stride": 2, "pad": 1},
        {"type": "avgpool", "name": "ap", "kernel": 2, "stride": 2, "pad": 1},
        {"type": "linear", "name": "fc", "out": 5}]}
    p = os.path.join(d, "pools.json")
    json.dump(g, open(p, "w"))
    out = os.path.join(d, "pools.onnx")
    sh(binary, "export", p, "--onnx", out)
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    xin = os.path.join(d, "pools.in.npy")
    np.save(xin, x)
    compare("pools (max pool with Caffe's ceil rounding and pad 1: 6 -> 4; average pool with pad 1: 4 -> 3)",
            ort_run(out, x), deftnn_run(binary, p, xin, d, "pools"), 18, 2)
    g["layers"][2]["kernel"] = 3  # 4 -> 3 by Caffe's ceil rounding, 2 by floor: windows ONNX divides otherwise
    json.dump(g, open(p, "w"))
    out = os.path.join(d, "pools_bad.onnx")
    r = subprocess.run([binary, "export", p, "--onnx", out], capture_output=True, text=True, timeout=60)
    report(r.returncode == 1 and p in r.stderr and "'ap' (avgpool)" in r.stderr and not os.path.exists(out),
           f"avg pool with ceil rounding and padding refused: exit {r.returncode}: {r.stderr.strip()[-160:]}")


def check_unsupported(binary, d):
    g = {"name": "l2", "input": [1, 4, 4], "layers": [{"type": "linear", "name": "fc", "out": 4},
                                               {"type": "l2norm", "name": "norm"}]}
    p = os.path.join(d, "l2norm.json")
    json.dump(g, open(p, "w"))
    out = os.path.join(d, "l2norm.onnx")
    r = subprocess.run([binary, "export", p, "--onnx", out], capture_output=True, text=True, timeout=60)
    ok = r.returncode == 1 and p in r.stderr and "'norm' (l2norm)" in r.stderr and not os.path.exists(out)
    report(ok, f"unsupported layer: exit {r.returncode}: {r.stderr.strip()[-240:]}")
    out = os.path.join(d, "no_such_folder", "x.onnx")
    r = subprocess.run([binary, "export", os.path.join(ROOT, NETS[0]), "--onnx", out], capture_output=True, text=True,
                       timeout=60)
    report(r.returncode == 1 and "does not exist" in r.stderr, f"missing output folder: exit {r.returncode}: "
                                                                f"{r.stderr.strip()[-200:]}")


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        probe = subprocess.run([binary, "export", os.path.join(ROOT, NETS[0]), "--onnx", os.path.join(d, "p.onnx")],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode != 0 and "built without ONNX" in probe.stderr:
            print(f"skip: {probe.stderr.strip()}")
            return 77
        for rel in NETS:
            try:
                check_net(binary, rel, d)
            except RuntimeError as e:
                report(False, f"{rel}: {e}")
        check_batchnorm(binary, d)
        check_pools(binary, d)
        check_unsupported(binary, d)
    print("onnx export vs onnxruntime:", f"FAILED ({len(fails)})" if fails else "all passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
