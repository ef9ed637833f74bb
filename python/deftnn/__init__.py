"""deftnn: load, run, export and benchmark neural networks with deftnn's engine.

    import numpy as np, deftnn
    net = deftnn.load("models/lenet.json", seed=1)   # graph JSON: seeded random weights
    y = net.run(np.zeros((4, *net.input_shape), np.float32))   # (4, 10) float32 logits
    net.export_onnx("lenet.onnx")                    # when built with ONNX (deftnn.with_onnx)

Models: a graph file (.json, random weights from ``seed``, as ``deftnn run``'s),
a safetensors model file (SVE-optimised ones included), or an ONNX model
(.onnx, when the library was built with ONNX). Every failure raises
:class:`deftnn.Error` (a ``RuntimeError``) with the engine's message, which
names the file and the problem. Long calls release the GIL.
"""
from __future__ import annotations

import os
from typing import Union

from ._core import Error, Net, cuda_available, cuda_unavailable_reason, set_threads, with_onnx

__all__ = ["Error", "Net", "bench", "cuda_available", "cuda_unavailable_reason", "load", "set_threads", "with_onnx"]
__version__ = "0.1.0"


def load(path: Union[str, os.PathLike], seed: int = 1) -> Net:
    """Loads a model: graph JSON (weights drawn from ``seed``), safetensors model file or ONNX model.

    Raises :class:`deftnn.Error` naming the file when it is missing, unreadable or malformed.
    """
    return Net(os.fspath(path), seed)


def bench(model: Union[str, os.PathLike, Net], batch: int = 1, device: str = "cpu", precision: str = "",
          reps: int = 50, warmup: int = 10, seed: int = 1) -> dict:
    """Benchmarks a model (a path, loaded with seed 1, or a :class:`Net`) as ``deftnn bench`` does.

    Returns a dict with ``layers_median_ms`` (layer name -> median milliseconds), ``total_median_ms``
    (the whole forward pass), ``layer_sum_median_ms``, ``total_method``, ``model``, ``batch``, ``device``.
    """
    net = model if isinstance(model, Net) else load(model)
    return net.bench(batch=batch, device=device, precision=precision, reps=reps, warmup=warmup, seed=seed)
