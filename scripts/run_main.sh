#!/usr/bin/env bash
# The README's main command: installs, builds, then trains LeNet-5 on
# Fashion-MNIST and evaluates it on the test set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
OUT_DIR=${OUT_DIR:-runs/main}
mkdir -p "$OUT_DIR"
./build/deftnn train models/lenet.json --epochs 4 --seed 1 --out "$OUT_DIR/lenet.safetensors"
./build/deftnn eval "$OUT_DIR/lenet.safetensors"
