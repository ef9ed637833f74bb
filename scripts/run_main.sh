#!/usr/bin/env bash
# The README's main command: installs, builds, trains LeNet-5 on Fashion-MNIST
# (or reuses a trained model), optimises it with synapse vector elimination
# (variants, Pareto frontier, selection, report with plots) and evaluates the
# optimised model on the test set. Uses the GPU when there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
OUT_DIR=${OUT_DIR:-runs/main}
# OpenBLAS threads. 1 by default: on a shared 2-core machine two threads hand
# every small GEMM back and forth and a loaded machine makes that ~20x slower.
THREADS=${DEFTNN_THREADS:-1}
# Seed of the optimiser's fine-tuning minibatches (training keeps seed 1).
OPTIMIZE_SEED=${OPTIMIZE_SEED:-1}
mkdir -p "$OUT_DIR"
if [ ! -f "$OUT_DIR/lenet.safetensors" ]; then
  ./build/deftnn train models/lenet.json --epochs 4 --seed 1 --threads "$THREADS" --out "$OUT_DIR/lenet.safetensors"
fi
./build/deftnn eval --threads "$THREADS" "$OUT_DIR/lenet.safetensors"
./build/deftnn optimize --threads "$THREADS" --seed "$OPTIMIZE_SEED" "$OUT_DIR/lenet.safetensors" --out "$OUT_DIR/lenet.sve.safetensors" --report "$OUT_DIR"
./build/deftnn eval --threads "$THREADS" "$OUT_DIR/lenet.sve.safetensors"
