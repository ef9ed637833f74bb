#!/usr/bin/env python3
"""Checks that deftnn's safetensors files and Python's `safetensors` package
read each other's files.

Usage: check_safetensors.py DEFTNN_TESTS_BINARY

Exits 77 (ctest's skip code) when the `safetensors` or `numpy` module does not
import. Steps: Python writes python.safetensors; the gtest
SafetensorsInterop.WithPython reads it and writes deftnn.safetensors; Python
reads that back, and the LeNet model file the gtest saved (the graph in
__metadata__, one tensor per parameter).
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import save_file
except ImportError as e:
    print(f"SKIPPED: python safetensors/numpy not importable ({e})")
    sys.exit(77)


def main():
    tests = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="deftnn-interop-") as d:
        save_file({"x": np.arange(6, dtype=np.float32).reshape(2, 3),
                   "y": np.array([1, 2, 3], dtype=np.int64)},
                  os.path.join(d, "python.safetensors"), metadata={"who": "python"})
        env = dict(os.environ, DEFTNN_INTEROP_DIR=d)
        r = subprocess.run([tests, "--gtest_filter=SafetensorsInterop.WithPython"], env=env,
                           capture_output=True, text=True)
        print(r.stdout[-2000:], r.stderr[-2000:])
        assert r.returncode == 0, "the C++ half failed"
        assert "[  PASSED  ] 1 test" in r.stdout, "the C++ half did not run"

        with safe_open(os.path.join(d, "deftnn.safetensors"), framework="numpy") as f:
            assert f.metadata() == {"deftnn.test": "yes"}, f.metadata()
            assert sorted(f.keys()) == ["f", "i", "u"], f.keys()
            fv = f.get_tensor("f")
            assert fv.dtype == np.float32 and fv.shape == (3, 4)
            assert (fv == np.arange(12, dtype=np.float32).reshape(3, 4)).all()
            iv = f.get_tensor("i")
            assert iv.dtype == np.int32 and iv.tolist() == [-1, 0, 7]
            uv = f.get_tensor("u")
            assert uv.dtype == np.uint8 and uv.tolist() == [255, 1]

        with safe_open(os.path.join(d, "lenet.safetensors"), framework="numpy") as f:
            meta = f.metadata()
            assert meta["deftnn.version"] == "2", meta
            graph = json.loads(meta["deftnn.graph"])
            assert graph["name"] == "lenet" and graph["input"] == [1, 28, 28], graph
            assert json.loads(meta["deftnn.meta"]) == {"from": "interop test"}, meta
            want = {"conv1.weight": (20, 1, 5, 5), "conv1.bias": (20,), "conv2.weight": (50, 20, 5, 5),
                    "conv2.bias": (50,), "ip1.weight": (500, 800), "ip1.bias": (500,),
                    "ip2.weight": (10, 500), "ip2.bias": (10,)}
            got = {k: f.get_tensor(k).shape for k in f.keys()}
            assert got == want, got
            w = f.get_tensor("ip1.weight")
            assert w.dtype == np.float32 and np.isfinite(w).all() and w.std() > 0
        print("python <-> deftnn safetensors: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
