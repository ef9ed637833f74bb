"""Type stubs of deftnn._core, the nanobind extension (python/deftnn/_core.cpp)."""
from typing import Any

import numpy
import numpy.typing

with_onnx: bool
"""Whether the library was built with ONNX (import of .onnx files, Net.export_onnx)."""

class Error(RuntimeError):
    """An engine error; its message names the file and the problem."""

def cuda_available() -> bool:
    """Whether a CUDA GPU is usable."""

def cuda_unavailable_reason() -> str:
    """Why cuda_available() is False (built without CUDA, no driver, no device)."""

def set_threads(threads: int) -> None:
    """OpenBLAS threads of CPU runs (2 by default, as the CLI's --threads)."""

class Net:
    """A loaded model. Calls on one Net run one at a time; they release the GIL."""

    def __init__(self, path: str, seed: int = 1) -> None:
        """Loads a graph file (.json, random weights from seed), a safetensors model file or an ONNX model."""

    def run(self, x: Any, device: str = "cpu", precision: str = "") -> numpy.typing.NDArray[numpy.float32]:
        """One forward pass (inference) on x, (N, *input_shape) float32 or float64, C-contiguous or
        convertible: a NumPy array or any CPU DLPack tensor. Returns the first graph output as float32,
        equal bit for bit to `deftnn run`'s on the same device.

        device: "cpu", "cuda" or "auto" (CUDA when a GPU is usable). precision: as `deftnn run
        --precision` ("", fp32, tf32, bf16, fp16, fp8e4m3, or per layer "bf16,ip2=fp32"); "" is the
        model's own plan. Raises Error on a wrong shape or dtype, an unusable device or precision.
        """

    def bench(self, batch: int = 1, device: str = "cpu", precision: str = "", reps: int = 50, warmup: int = 10,
              seed: int = 1) -> dict[str, Any]:
        """Times the forward pass per layer and whole (deftnn bench's harness) on a seeded random input."""

    def export_onnx(self, path: str) -> dict[str, int]:
        """Writes the model as a standard ONNX file (deftnn export --onnx), atomically; returns the
        summary (nodes, parameters, dense_parameters, gathers, shrunk_producers). Error without ONNX."""

    def save(self, path: str) -> None:
        """Writes a safetensors model file (graph, weights, metadata), atomically."""

    @property
    def input_shape(self) -> list[int]:
        """The first input's shape without the batch, e.g. [1, 28, 28]."""
    @property
    def layers(self) -> list[tuple[str, str]]:
        """(name, type) of every layer in topological order."""
    @property
    def path(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def classes(self) -> int:
        """The graph's classes, 0 when its output is not logits."""
    @property
    def input_names(self) -> list[str]: ...
    @property
    def output_names(self) -> list[str]: ...
    @property
    def parameter_count(self) -> int: ...
