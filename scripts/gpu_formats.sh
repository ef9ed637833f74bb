#!/usr/bin/env bash
# Issue 9 item 4 on the GPU, in one device call: accuracy (and time) per
# number format, dense and SVE (docs/precision.md, "Accuracy per format").
#   1. CifarNet trained and optimised (scripts/sve_cifarnet.sh, ~2.5 min on an
#      H100), both models kept;
#   2. scripts/format_accuracy.py on both: test accuracy in every precision
#      and weight format, forward time at batch 1 and 128 (CUDA graphs);
#   3. the LeNet-5 models carried in runs/fmt/ (trained and optimised on the
#      CPU), accuracy only: the real kernels against the CPU's emulation.
# Needs Fashion-MNIST in .data/fashion-mnist (carry [".carry-icu", ".data", "runs/fmt"]):
#   STAGES="build" DEADLINE=575 EXTRA='bash scripts/gpu_formats.sh' EXTRA_TIMEOUT=480 OUT=$OUT bash scripts/gpu_session.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-formats}
mkdir -p "$OUT"
export DEFTNN_DATA_DIR=${DEFTNN_DATA_DIR:-$PWD/.data/fashion-mnist}
M=$(mktemp -d /tmp/gpu_formats.XXXXXX)
# The selected point: the most accurate one at least 1.5x faster than dense
# (without a target the optimiser keeps the most accurate point: dense).
BUILD_DIR=build KEEP=$M OUT=$OUT OPTIMIZE_ARGS="--include-input-layer --target-speedup 1.5" bash scripts/sve_cifarnet.sh > "$OUT/sve_cifarnet.log" 2>&1
echo "sve_cifarnet rc=$?: $(grep -E 'test accuracy' "$OUT"/eval_*.log | tr '\n' ' ')"
python3 scripts/format_accuracy.py --bin build/deftnn --device cuda --bench-batch 1,128 --no-plot \
  --out "$OUT/formats-cifarnet" "$M/cifarnet.safetensors" "$M/cifarnet.sve.safetensors" 2> "$OUT/formats-cifarnet.log"
echo "formats cifarnet rc=$?"
[ -f "$OUT/formats-cifarnet.md" ] && cat "$OUT/formats-cifarnet.md"
if [ -f runs/fmt/lenet.safetensors ]; then
  models=(runs/fmt/lenet.safetensors)
  [ -f runs/fmt/lenet.sve.safetensors ] && models+=(runs/fmt/lenet.sve.safetensors)
  python3 scripts/format_accuracy.py --bin build/deftnn --device cuda --no-plot --out "$OUT/formats-lenet-gpu" \
    "${models[@]}" 2> "$OUT/formats-lenet-gpu.log"
  echo "formats lenet rc=$?"
  [ -f "$OUT/formats-lenet-gpu.md" ] && cat "$OUT/formats-lenet-gpu.md"
fi
# .md files do not travel back (gpu_session.sh packs *.log and *.json): keep them as logs.
for f in "$OUT"/*.md; do [ -f "$f" ] && mv "$f" "${f%.md}.md.log"; done
rm -rf "$M"
