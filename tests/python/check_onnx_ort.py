#!/usr/bin/env python3
"""ONNX import against ONNX Runtime, through the CLI: `deftnn run`.

Builds small graphs with onnx.helper (one or a few operators each, and a
ResNet-style and a MobileNet-style net), runs each in onnxruntime (the
oracle) and in `deftnn run MODEL --input X.npy --output Y.npy`, and compares.

Tolerance, per case: err = max|y - ref| / max(1, max|ref|) must be at most
16 * eps32 * sqrt(K) * D, with eps32 = 2^-23, K the largest reduction length
of a Conv / Gemm / MatMul in the graph (C_in / groups * kh * kw, or the
inner dimension) and D the number of such layers (a bound on the depth of
the longest path): fp32 dot products of K terms in a different order differ
by about eps * sqrt(K) relative to their size, errors add up roughly
linearly through D layers, and the 16 covers BatchNormalization folded into
the weights (one more rounding per weight) and the pools' and adds' own
rounding. Graphs without GEMMs use K = D = 1.

Bad models (a truncated file, an unknown operator, a missing initializer, an
unsupported attribute value, a cycle): `deftnn run` must exit 1, name the
file and the problem, and write no output file.

Usage: check_onnx_ort.py path/to/deftnn. Exit 77 (skip) when onnx,
onnxruntime or numpy do not import.
"""
import math
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # pragma: no cover
    print(f"skip: {e} (scripts/install_deps.sh installs onnx, onnxruntime and numpy into .venv)")
    sys.exit(77)

OPSET = 13
rng = np.random.default_rng(11)


def rand(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


class G:
    """A graph under construction: nodes, initializers, one input and output."""

    def __init__(self, name, in_shape, batch="N", opset=OPSET):
        self.name, self.nodes, self.inits, self.k, self.opset = name, [], [], 0, opset
        self.in_shape = [batch] + list(in_shape)
        self.gemm_k, self.gemms = 1, 0

    def init(self, arr, name=None):
        self.k += 1
        name = name or f"w{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(self, op, inputs, out=None, **attrs):
        self.k += 1
        out = out or f"t{self.k}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"/{self.name}/{op}_{self.k}.x", **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=1, pad=0, groups=1, bias=True, pads=None):
        kh, kw = (k, k) if isinstance(k, int) else k
        w = self.init(rand(cout, cin // groups, kh, kw, scale=1.0 / math.sqrt(cin // groups * kh * kw)))
        ins = [x, w] + ([self.init(rand(cout, scale=0.1))] if bias else [])
        self.gemm_k, self.gemms = max(self.gemm_k, cin // groups * kh * kw), self.gemms + 1
        return self.node("Conv", ins, strides=[stride, stride], pads=pads or [pad] * 4, group=groups,
                         kernel_shape=[kh, kw])

    def bn(self, x, c):
        ins = [x, self.init(1 + rand(c, scale=0.2)), self.init(rand(c, scale=0.1)), self.init(rand(c, scale=0.1)),
               self.init(np.abs(1 + rand(c, scale=0.2)))]
        return self.node("BatchNormalization", ins, epsilon=1e-5)

    def gemm(self, x, k, n, **attrs):
        attrs.setdefault("transB", 1)
        trans_b = attrs["transB"]
        b = rand(n, k) if trans_b else rand(k, n)
        self.gemm_k, self.gemms = max(self.gemm_k, k), self.gemms + 1
        return self.node("Gemm", [x, self.init(b / math.sqrt(k)), self.init(rand(n, scale=0.1))], **attrs)

    def model(self, out, out_rank=None):
        inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, self.in_shape)
        outp = helper.make_tensor_value_info(out, TensorProto.FLOAT, None)
        g = helper.make_graph(self.nodes, self.name, [inp], [outp], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)], producer_name="check_onnx_ort")
        m.ir_version = 8
        return m


def cases():
    """(name, model, input array) per operator case."""
    out = []

    def add(g, y, x_shape, batch=2):
        out.append((g.name, g, g.model(y), rand(batch, *x_shape)))

    g = G("conv_relu", [3, 9, 9]); add(g, g.node("Relu", [g.conv("x", 3, 8, 3, pad=1)]), [3, 9, 9])
    g = G("conv_group_stride", [4, 11, 10])
    add(g, g.conv("x", 4, 6, (3, 5), stride=2, groups=2, pads=[1, 2, 1, 2]), [4, 11, 10])
    g = G("conv_depthwise", [6, 8, 8]); add(g, g.conv("x", 6, 6, 3, pad=1, groups=6, bias=False), [6, 8, 8])
    g = G("conv_bn_relu", [3, 8, 8])
    add(g, g.node("Relu", [g.bn(g.conv("x", 3, 5, 3, pad=1, bias=False), 5)]), [3, 8, 8])
    g = G("batchnorm_alone", [4, 5, 5]); add(g, g.bn("x", 4), [4, 5, 5])
    g = G("gemm_transb", [20]); add(g, g.gemm("x", 20, 7, transB=1), [20])
    g = G("gemm_alpha_beta", [12]); add(g, g.gemm("x", 12, 5, transB=0, alpha=0.5, beta=2.0), [12])
    g = G("matmul_add", [16])
    g.gemm_k, g.gemms = 16, 1
    add(g, g.node("Add", [g.node("MatMul", ["x", g.init(rand(16, 9, scale=0.25))]), g.init(rand(9))]), [16])
    g = G("matmul_tokens", [5, 16])  # (N, T, K) x (K, N'): a linear over tokens (re-exported as MatMul + Add)
    g.gemm_k, g.gemms = 16, 1
    add(g, g.node("Add", [g.node("MatMul", ["x", g.init(rand(16, 9, scale=0.25))]), g.init(rand(9))]), [5, 16])
    g = G("maxpool_floor", [3, 12, 12])
    add(g, g.node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), [3, 12, 12])
    g = G("maxpool_ceil", [2, 7, 7])
    add(g, g.node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), [2, 7, 7])
    g = G("avgpool", [3, 8, 8]); add(g, g.node("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2]), [3, 8, 8])
    g = G("avgpool_pad", [2, 7, 7])
    add(g, g.node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                  count_include_pad=1), [2, 7, 7])
    g = G("global_avgpool_flatten", [5, 6, 6])
    add(g, g.node("Flatten", [g.node("GlobalAveragePool", ["x"])], axis=1), [5, 6, 6])
    g = G("global_maxpool", [5, 4, 4]); add(g, g.node("GlobalMaxPool", ["x"]), [5, 4, 4])
    g = G("concat", [3, 6, 6])
    add(g, g.node("Concat", [g.conv("x", 3, 4, 1), g.conv("x", 3, 2, 3, pad=1)], axis=1), [3, 6, 6])
    g = G("softmax", [10]); add(g, g.node("Softmax", [g.gemm("x", 10, 6)], axis=-1), [10])
    g = G("clip_relu6", [3, 5, 5])
    add(g, g.node("Clip", ["x", g.init(np.float32(0)), g.init(np.float32(6))]), [3, 5, 5])
    g = G("clip_range", [7]); add(g, g.node("Clip", ["x", g.init(np.float32(-0.5)), g.init(np.float32(0.25))]), [7])
    g = G("clip_min_only", [7]); add(g, g.node("Clip", ["x", g.init(np.float32(0))]), [7])
    g = G("leaky_relu", [9]); add(g, g.node("LeakyRelu", ["x"], alpha=0.1), [9])
    g = G("sigmoid", [3, 4, 4]); add(g, g.node("Sigmoid", ["x"]), [3, 4, 4])
    g = G("hardswish", [11], opset=14); add(g, g.node("HardSwish", ["x"]), [11])
    g = G("tanh", [11]); add(g, g.node("Tanh", ["x"]), [11])
    g = G("hardsigmoid", [11]); add(g, g.node("HardSigmoid", ["x"], alpha=0.3, beta=0.4), [11])
    g = G("lrn", [7, 4, 4]); add(g, g.node("LRN", ["x"], size=5, alpha=1e-2, beta=0.75, bias=2.0), [7, 4, 4])
    g = G("dropout_identity", [6])
    add(g, g.node("Relu", [g.node("Identity", [g.node("Dropout", ["x"])])]), [6])
    # x.view(x.size(0), -1), as torch exports it with a dynamic batch.
    g = G("reshape_from_shape", [2, 3, 3])
    shape = g.node("Shape", ["x"])
    n = g.node("Unsqueeze", [g.node("Gather", [shape, g.init(np.int64(0))], axis=0), g.init(np.array([0], np.int64))])
    target = g.node("Concat", [n, g.init(np.array([-1], np.int64))], axis=0)
    add(g, g.gemm(g.node("Reshape", ["x", target]), 18, 4), [2, 3, 3])
    g = G("reshape_const", [4, 2, 2]); add(g, g.node("Reshape", ["x", g.init(np.array([0, -1], np.int64))]), [4, 2, 2])
    g = G("layernorm", [5, 12], opset=17)
    add(g, g.node("LayerNormalization", ["x", g.init(1 + rand(12, scale=0.2)), g.init(rand(12, scale=0.1))],
                  axis=-1, epsilon=1e-5), [5, 12])
    g = G("gelu", [13], opset=20); add(g, g.node("Gelu", ["x"]), [13])
    g = G("reduce_mean_keepdims", [4, 5, 5]); add(g, g.node("ReduceMean", ["x"], axes=[2, 3], keepdims=1), [4, 5, 5])
    g = G("reduce_mean_squeeze", [4, 3, 3])
    add(g, g.gemm(g.node("ReduceMean", ["x"], axes=[-2, -1], keepdims=0), 4, 3), [4, 3, 3])
    g = G("squeeze_after_pool", [6, 4, 4])
    add(g, g.node("Squeeze", [g.node("GlobalAveragePool", ["x"]), g.init(np.array([2, 3], np.int64))]), [6, 4, 4])
    g = G("conv_mul_div_sub", [3, 6, 6])
    t = g.node("Mul", [g.conv("x", 3, 4, 3), g.init(rand(4, 1, 1))])
    t = g.node("Sub", [g.node("Div", [t, g.init(np.float32(2.5))]), g.init(rand(1, 4, 1, 1))])
    add(g, t, [3, 6, 6])
    # The conv's output is read twice (through an Identity): nothing may fold into it.
    g = G("shared_conv_output", [3, 6, 6])
    c = g.conv("x", 3, 4, 3, pad=1)
    add(g, g.node("Add", [g.bn(g.node("Identity", [c]), 4), g.node("Relu", [c])]), [3, 6, 6])
    # Folds one after another: BatchNormalization, Mul, Add into one conv.
    g = G("chained_folds", [3, 6, 6])
    t = g.node("Mul", [g.bn(g.conv("x", 3, 4, 3, bias=False), 4), g.init(np.float32(1.5))])
    add(g, g.node("Add", [t, g.init(rand(4, 1, 1))]), [3, 6, 6])
    g = G("add_residual", [4, 5, 5]); add(g, g.node("Add", [g.conv("x", 4, 4, 3, pad=1), "x"]), [4, 5, 5])

    # ResNet-style: stem conv+BN+ReLU, max pool, a basic block, a downsampling
    # block with a 1x1 stride-2 shortcut, global pool, flatten, Gemm.
    g = G("resnet_tiny", [3, 32, 32])
    t = g.node("Relu", [g.bn(g.conv("x", 3, 8, 7, stride=2, pad=3, bias=False), 8)])
    t = g.node("MaxPool", [t], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    r = g.node("Relu", [g.bn(g.conv(t, 8, 8, 3, pad=1, bias=False), 8)])
    r = g.bn(g.conv(r, 8, 8, 3, pad=1, bias=False), 8)
    t = g.node("Relu", [g.node("Add", [r, t])])
    r = g.node("Relu", [g.bn(g.conv(t, 8, 16, 3, stride=2, pad=1, bias=False), 16)])
    r = g.bn(g.conv(r, 16, 16, 3, pad=1, bias=False), 16)
    s = g.bn(g.conv(t, 8, 16, 1, stride=2, bias=False), 16)
    t = g.node("Relu", [g.node("Add", [r, s])])
    t = g.node("Flatten", [g.node("GlobalAveragePool", [t])], axis=1)
    add(g, g.gemm(t, 16, 10), [3, 32, 32])

    # MobileNetV2-style: conv+BN+ReLU6, an inverted residual (1x1 expand,
    # 3x3 depthwise, 1x1 project, residual add), global pool, reshape, Gemm, softmax.
    g = G("mobilenet_tiny", [3, 16, 16])
    six = g.init(np.float32(6), "six")
    zero = g.init(np.float32(0), "zero")

    def relu6(v):
        return g.node("Clip", [v, zero, six])

    t = relu6(g.bn(g.conv("x", 3, 8, 3, stride=2, pad=1, bias=False), 8))
    e = relu6(g.bn(g.conv(t, 8, 24, 1, bias=False), 24))
    e = relu6(g.bn(g.conv(e, 24, 24, 3, pad=1, groups=24, bias=False), 24))
    e = g.bn(g.conv(e, 24, 8, 1, bias=False), 8)
    t = g.node("Add", [t, e])
    t = relu6(g.bn(g.conv(t, 8, 32, 1, bias=False), 32))
    t = g.node("Reshape", [g.node("GlobalAveragePool", [t]), g.init(np.array([-1, 32], np.int64))])
    add(g, g.node("Softmax", [g.gemm(g.node("Dropout", [t]), 32, 5)], axis=1), [3, 16, 16])
    return out


def bad_models(d):
    """(name, path, words the error must hold)."""
    out = []
    g = G("good", [3, 8, 8])
    m = g.model(g.node("Relu", [g.conv("x", 3, 4, 3)]))
    blob = m.SerializeToString()
    p = os.path.join(d, "truncated.onnx")
    open(p, "wb").write(blob[: len(blob) // 2])
    out.append(("truncated", p, "does not parse"))
    p = os.path.join(d, "garbage.onnx")
    open(p, "wb").write(b"\x08\x07\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01 not a model")
    out.append(("garbage", p, "ONNX"))
    g = G("unknown", [4]); m = g.model(g.node("Sin", ["x"]))
    p = os.path.join(d, "unknown_op.onnx"); onnx.save(m, p); out.append(("unknown_op", p, "operator 'Sin' is not supported"))
    g = G("missing", [3, 8, 8]); m = g.model(g.node("Conv", ["x", "no_such_weight"], kernel_shape=[3, 3]))
    p = os.path.join(d, "missing_init.onnx"); onnx.save(m, p); out.append(("missing_init", p, "no_such_weight"))
    g = G("dilated", [3, 8, 8]); m = g.model(g.node("Conv", ["x", g.init(rand(2, 3, 3, 3))], dilations=[2, 2]))
    p = os.path.join(d, "dilated.onnx"); onnx.save(m, p); out.append(("dilation", p, "dilations"))
    g = G("cycle", [4])
    g.nodes.append(helper.make_node("Relu", ["b"], ["a"], name="first"))
    g.nodes.append(helper.make_node("Relu", ["a"], ["b"], name="second"))
    m = g.model("b")
    p = os.path.join(d, "cycle.onnx"); onnx.save(m, p); out.append(("cycle", p, "cycle"))
    g = G("rank", [3, 8, 8]); m = g.model(g.node("Conv", ["x", g.init(rand(2, 3, 3))]))
    p = os.path.join(d, "wrong_rank.onnx"); onnx.save(m, p); out.append(("wrong_rank", p, "rank 3"))
    return out


def tolerance(g):
    return 16 * 2.0 ** -23 * math.sqrt(g.gemm_k) * max(g.gemms, 1)


def check_reexport(binary, path, x, y, ref, tol, name):
    """Import then export: `deftnn export` of the imported graph, run by ONNX
    Runtime, against the original file's output (same tolerance); and
    `deftnn run` of the re-export gives the imported graph's output bit for
    bit (the same layers and weights come back)."""
    out = path[: -len(".onnx")] + ".re.onnx"
    r = subprocess.run([binary, "export", path, "--onnx", out], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        print(f"FAIL {name} re-export: exit {r.returncode}: {r.stderr.strip()[:400]}")
        return 1
    y_ort = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    err = float(np.max(np.abs(y_ort.astype(np.float64) - ref))) / max(1.0, float(np.max(np.abs(ref))))
    yout = out + ".npy"
    r = subprocess.run([binary, "run", out, "--input", path[: -len(".onnx")] + ".in.npy", "--output", yout,
                        "--device", "cpu"], capture_output=True, text=True, timeout=120)
    exact = r.returncode == 0 and np.array_equal(np.load(yout), y)
    ok = y_ort.shape == ref.shape and err <= tol and exact
    print(f"{'ok  ' if ok else 'FAIL'} {name} re-exported: onnxruntime err {err:.2e} <= tol {tol:.2e}, "
          f"deftnn run of it bit for bit: {exact}")
    return 0 if ok else 1


def check_graph_file(binary, d):
    """`deftnn run` on a graph file: seeded random weights, the same output
    twice; an input of the wrong shape is exit 1 with no output."""
    graph = os.path.join(os.path.dirname(__file__), "..", "..", "models", "examples", "resnet-tiny.json")
    xin = os.path.join(d, "graph.in.npy")
    np.save(xin, rand(3, 1, 28, 28))
    outs = []
    for k in range(2):
        y = os.path.join(d, f"graph{k}.npy")
        r = subprocess.run([binary, "run", graph, "--input", xin, "--output", y, "--seed", "3", "--device", "cpu"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            print(f"FAIL graph-file run: exit {r.returncode}: {r.stderr.strip()[:300]}")
            return 1
        outs.append(np.load(y))
    ok = outs[0].shape == (3, 10) and np.array_equal(outs[0], outs[1]) and np.all(np.isfinite(outs[0]))
    print(f"{'ok  ' if ok else 'FAIL'} graph-file run: shape {outs[0].shape}, two seeded runs identical: "
          f"{np.array_equal(outs[0], outs[1])}")
    bad_in, y = os.path.join(d, "graph.bad.npy"), os.path.join(d, "graph.bad.out.npy")
    np.save(bad_in, rand(3, 2, 28, 28))
    r = subprocess.run([binary, "run", graph, "--input", bad_in, "--output", y], capture_output=True, text=True,
                       timeout=60)
    bad_ok = r.returncode == 1 and bad_in in r.stderr and not os.path.exists(y)
    print(f"{'ok  ' if bad_ok else 'FAIL'} graph-file run, wrong input shape: exit {r.returncode}: "
          f"{r.stderr.strip()[:200]}")
    return 0 if ok and bad_ok else 1


def main():
    binary = sys.argv[1]
    fail = 0
    with tempfile.TemporaryDirectory() as d:
        for name, g, m, x in cases():
            path = os.path.join(d, name + ".onnx")
            if name == "resnet_tiny":  # weights as external data beside the model
                onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location="resnet.bin",
                          size_threshold=0)
            else:
                onnx.save(m, path)
            ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            xin, yout = os.path.join(d, name + ".in.npy"), os.path.join(d, name + ".out.npy")
            np.save(xin, x)
            r = subprocess.run([binary, "run", path, "--input", xin, "--output", yout, "--device", "cpu"],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                print(f"FAIL {name}: exit {r.returncode}: {r.stderr.strip()[:400]}")
                fail = 1
                continue
            y = np.load(yout)
            tol = tolerance(g)
            if y.shape != ref.shape:
                print(f"FAIL {name}: shape {y.shape}, onnxruntime {ref.shape}")
                fail = 1
                continue
            err = float(np.max(np.abs(y.astype(np.float64) - ref))) / max(1.0, float(np.max(np.abs(ref))))
            ok = err <= tol and np.all(np.isfinite(y))
            print(f"{'ok  ' if ok else 'FAIL'} {name}: shape {y.shape}, err {err:.2e} <= tol {tol:.2e} "
                  f"(K {g.gemm_k}, D {g.gemms})")
            fail |= not ok
            fail |= check_reexport(binary, path, x, y, ref, tol, name)
        for name, path, words in bad_models(d):
            yout = os.path.join(d, name + ".out.npy")
            xin = os.path.join(d, "bad.in.npy")
            np.save(xin, rand(1, 3, 8, 8))
            r = subprocess.run([binary, "run", path, "--input", xin, "--output", yout], capture_output=True, text=True,
                               timeout=60)
            problems = []
            if r.returncode != 1:
                problems.append(f"exit {r.returncode} (want 1)")
            if path not in r.stderr:
                problems.append("the file is not named")
            if words not in r.stderr:
                problems.append(f"no '{words}'")
            if os.path.exists(yout):
                problems.append("an output file was written")
            print(f"{'FAIL' if problems else 'ok  '} bad-{name}: {'; '.join(problems)} {r.stderr.strip()[:240]}")
            fail |= bool(problems)
        fail |= check_graph_file(binary, d)
    print("onnx vs onnxruntime:", "FAILED" if fail else "all passed")
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
