"""The Python package (python/deftnn) against the CLI and ONNX Runtime.

Run by the ctest entry python_package (tests/python/pkg/run_pytest.sh), which
puts the built extension on PYTHONPATH and names the CLI in DEFTNN_CLI.
- run() equals `deftnn run`'s output bit for bit (LeNet-5, CifarNet; seeded
  graph weights; a saved safetensors model; bf16 precision, then back to the
  model's own plan);
- ONNX: export_onnx() run by ONNX Runtime within a derived tolerance, and the
  export loaded back equals the graph's output bit for bit;
- errors raise deftnn.Error naming the file: missing, corrupt, truncated,
  wrong shape, wrong dtype, unknown device;
- DLPack input (an object with only __dlpack__) and non-contiguous arrays;
- device="cuda" without a GPU: deftnn.Error with the driver's reason.
"""
import math
import os
import subprocess
import threading

import numpy as np
import pytest

import deftnn

REPO = os.environ.get("DEFTNN_REPO", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CLI = os.environ.get("DEFTNN_CLI", "")
NETS = ["models/lenet.json", "models/cifarnet.json"]


def model(rel):
    return os.path.join(REPO, rel)


def batch(net, n=3, seed=5):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *net.input_shape)).astype(np.float32)


def cli_run(model_path, x, tmp_path, *args):
    if not CLI or not os.path.exists(CLI):
        pytest.fail(f"DEFTNN_CLI ({CLI!r}) is not the deftnn CLI")
    xin, yout = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(xin, x)
    subprocess.run([CLI, "run", model_path, "--input", str(xin), "--output", str(yout), *args], check=True,
                   capture_output=True)
    return np.load(yout)


@pytest.mark.parametrize("rel", NETS)
@pytest.mark.parametrize("seed", [1, 3])
def test_run_equals_cli_bitwise(rel, seed, tmp_path):
    net = deftnn.load(model(rel), seed=seed)
    x = batch(net)
    y = net.run(x)
    assert y.dtype == np.float32 and y.shape == (3, net.classes)
    assert np.abs(y).max() > 0 and not np.array_equal(y[0], y[1])
    ref = cli_run(model(rel), x, tmp_path, "--device", "cpu", "--seed", str(seed))
    assert np.array_equal(y, ref)
    # A second run of the same net (its buffers reused) gives the same array, and the first result is a copy.
    y2 = net.run(x)
    assert np.array_equal(y2, ref) and np.array_equal(y, ref)


def test_seed_changes_weights():
    a, b = deftnn.load(model("models/lenet.json"), seed=1), deftnn.load(model("models/lenet.json"), seed=2)
    x = batch(a)
    assert not np.array_equal(a.run(x), b.run(x))


def test_float64_input_is_converted():
    net = deftnn.load(model("models/lenet.json"))
    x = batch(net)
    assert np.array_equal(net.run(x.astype(np.float64)), net.run(x))


def test_save_then_load_and_cli(tmp_path):
    net = deftnn.load(model("models/cifarnet.json"), seed=4)
    x = batch(net, 2)
    out = tmp_path / "cifarnet.safetensors"
    net.save(str(out))
    back = deftnn.load(out)
    assert np.array_equal(back.run(x), net.run(x))
    assert np.array_equal(back.run(x), cli_run(str(out), x, tmp_path, "--device", "cpu"))
    assert back.layers == net.layers and back.parameter_count == net.parameter_count > 0


def test_precision_then_back(tmp_path):
    rel = model("models/lenet.json")
    net = deftnn.load(rel)
    x = batch(net)
    fp32 = net.run(x)
    bf16 = net.run(x, precision="bf16")
    assert np.array_equal(bf16, cli_run(rel, x, tmp_path, "--device", "cpu", "--precision", "bf16"))
    assert not np.array_equal(bf16, fp32)
    # bf16 rounding of operands: relative error of order 2^-8 times sqrt(K) at most
    assert np.abs(bf16 - fp32).max() <= 2.0**-8 * math.sqrt(800) * 4 * np.abs(fp32).max()
    assert np.array_equal(net.run(x), fp32)  # no precision: the model's own plan again
    with pytest.raises(deftnn.Error, match="bf17"):
        net.run(x, precision="bf17")


def test_properties():
    net = deftnn.load(model("models/lenet.json"))
    assert net.input_shape == [1, 28, 28]
    assert net.classes == 10
    names = [n for n, _ in net.layers]
    types = [t for _, t in net.layers]
    assert "conv1" in names and "conv" in types and "linear" in types
    assert len(net.input_names) == 1 and len(net.output_names) >= 1
    assert net.path == model("models/lenet.json")


def test_dlpack_object():
    class OnlyDLPack:  # a DLPack producer that is not a NumPy array
        def __init__(self, a):
            self._a = a

        def __dlpack__(self, *args, **kwargs):
            return self._a.__dlpack__(*args, **kwargs)

        def __dlpack_device__(self):
            return self._a.__dlpack_device__()

    net = deftnn.load(model("models/lenet.json"))
    x = batch(net)
    assert np.array_equal(net.run(OnlyDLPack(x)), net.run(x))


def test_non_contiguous_input():
    net = deftnn.load(model("models/lenet.json"))
    x = batch(net, 6)
    view = x[::2]
    assert not view.flags.c_contiguous
    assert np.array_equal(net.run(view), net.run(np.ascontiguousarray(view)))


def test_wrong_shape_names_the_file():
    path = model("models/lenet.json")
    net = deftnn.load(path)
    with pytest.raises(deftnn.Error, match=r"lenet\.json takes \(2, 1, 28, 28\)"):
        net.run(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(deftnn.Error, match="float32 or float64"):
        net.run(np.zeros((2, 1, 28, 28), np.int32))
    with pytest.raises(deftnn.Error, match="unknown device 'tpu'"):
        net.run(np.zeros((2, 1, 28, 28), np.float32), device="tpu")


def test_missing_file_names_it(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(deftnn.Error, match="nope.safetensors"):
        deftnn.load(missing)
    with pytest.raises(deftnn.Error, match=r"nope\.json"):
        deftnn.load(tmp_path / "nope.json")


def test_corrupt_files_name_them(tmp_path):
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(deftnn.Error, match="garbage.safetensors"):
        deftnn.load(bad)
    # a real model file cut in half
    net = deftnn.load(model("models/lenet.json"))
    full = tmp_path / "full.safetensors"
    net.save(str(full))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(deftnn.Error, match="cut.safetensors"):
        deftnn.load(cut)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(open(model("models/lenet.json")).read()[:40])
    with pytest.raises(deftnn.Error, match="truncated.json"):
        deftnn.load(truncated)
    if deftnn.with_onnx:
        bad_onnx = tmp_path / "bad.onnx"
        bad_onnx.write_bytes(b"\x08\x07\x12\xff\xff\xff\xff garbage")
        with pytest.raises(deftnn.Error, match="bad.onnx"):
            deftnn.load(bad_onnx)


def test_cuda_without_gpu_is_a_clear_error(tmp_path):
    net = deftnn.load(model("models/lenet.json"))
    x = batch(net)
    if deftnn.cuda_available():
        y = net.run(x, device="cuda")
        assert np.array_equal(y, cli_run(model("models/lenet.json"), x, tmp_path, "--device", "cuda"))
        assert np.array_equal(net.run(x), net.run(x, device="cpu"))  # back to the CPU
        return
    reason = deftnn.cuda_unavailable_reason()
    assert reason
    with pytest.raises(deftnn.Error) as e:
        net.run(x, device="cuda")
    assert reason in str(e.value) and "lenet.json" in str(e.value), str(e.value)
    assert np.array_equal(net.run(x), net.run(x, device="cpu"))  # the net is still usable on the CPU


def test_bench_per_layer_medians():
    net = deftnn.load(model("models/lenet.json"))
    r = deftnn.bench(net, batch=2, reps=3, warmup=1)
    assert r["batch"] == 2 and r["device"] == "cpu"
    assert set(r["layers_median_ms"]) == {n for n, _ in net.layers}
    assert all(v >= 0 for v in r["layers_median_ms"].values()) and r["total_median_ms"] > 0
    with pytest.raises(deftnn.Error, match="batch"):
        net.bench(batch=0)


def test_threads_share_a_net():
    net = deftnn.load(model("models/lenet.json"))
    x = batch(net, 4)
    ref = net.run(x)
    out = [None] * 4

    def work(i):
        out[i] = net.run(x)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(np.array_equal(o, ref) for o in out)


@pytest.mark.skipif(not deftnn.with_onnx, reason="deftnn built without ONNX (no libonnx-dev)")
@pytest.mark.parametrize("rel", NETS)
def test_onnx_round_trip(rel, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not in this Python (scripts/install_deps.sh)")
    net = deftnn.load(model(rel), seed=2)
    x = batch(net, 2)
    ref = net.run(x)
    out = tmp_path / "net.onnx"
    s = net.export_onnx(str(out))
    assert out.exists() and s["nodes"] > 0 and s["parameters"] == s["dense_parameters"] == net.parameter_count
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    # check_onnx_export.py's bound: 16 eps32 sqrt(K) D, K the largest reduction, D the GEMM layers
    gemms = [n for n, t in net.layers if t in ("conv", "linear")]
    k = 800  # the largest K of both: LeNet-5 ip1 (50*4*4), CifarNet conv2 and conv3 (32*5*5)
    tol = 16 * np.finfo(np.float32).eps * math.sqrt(k) * len(gemms)
    err = np.abs(y - ref).max() / np.abs(ref).max()
    assert err <= tol, (err, tol)
    assert np.array_equal(deftnn.load(out).run(x), ref)  # the export imported back: bit for bit


def test_export_refuses_without_onnx_or_bad_path(tmp_path):
    net = deftnn.load(model("models/lenet.json"))
    target = tmp_path / "missing_dir" / "x.onnx"
    with pytest.raises(deftnn.Error) as e:
        net.export_onnx(str(target))
    assert "x.onnx" in str(e.value) or not deftnn.with_onnx
    assert not target.exists()


def test_stubs_match_the_extension():
    """_core.pyi declares exactly the extension's public names and Net's members."""
    import ast

    import deftnn._core as core

    tree = ast.parse(open(os.path.join(os.path.dirname(deftnn.__file__), "_core.pyi")).read())
    top, members = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            top.add(node.target.id)
        if isinstance(node, ast.ClassDef) and node.name == "Net":
            members = {n.name for n in node.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("__")}
    assert top == {n for n in dir(core) if not n.startswith("_")}
    assert members == {n for n in dir(core.Net) if not n.startswith("_")}
