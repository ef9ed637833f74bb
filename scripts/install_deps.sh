#!/usr/bin/env bash
# Installs what deftnn needs on a fresh Debian machine of this project's kind
# (CUDA toolkit already present): build tools, the libraries we depend on, the
# Fashion-MNIST data package and matplotlib for the report plots. Idempotent
# and quiet when everything is already there.
set -euo pipefail
pkgs=(cmake ninja-build g++ pkg-config libopenblas-dev libcli11-dev libfmt-dev nlohmann-json3-dev zlib1g-dev
      libgtest-dev libgmock-dev libbenchmark-dev dataset-fashion-mnist)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "[deftnn] installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! python3 -c "import matplotlib" 2>/dev/null; then
  echo "[deftnn] installing matplotlib (report plots)"
  python3 -m pip install -q matplotlib
fi
