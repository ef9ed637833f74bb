#!/usr/bin/env bash
# The SVE frontier of CifarNet (models/cifarnet.json: Fashion-MNIST zero-padded
# to 32x32) on the GPU: trains it (seeded, the model's own recipe, ~25 s on an
# H100), evaluates it, runs `deftnn optimize` (variants, interleaved timing,
# Pareto frontier, joint fine-tuning with distillation from the dense net,
# L1 and paper twins), evaluates the selected model and copies the report
# (JSON and PNGs) and the logs to $OUT. About 4-6 minutes on one H100 besides
# the build.
#
# Environment (all optional):
#   OUT              report and logs (default runs/cifarnet)
#   DEFTNN_DATA_DIR  Fashion-MNIST folder (default .data/fashion-mnist when it
#                    exists, as scripts/gpu_check.sh; else the Debian package's)
#   BUILD_DIR        build folder (default build-gpu, as gpu_check.sh); the
#                    deftnn target is built there when its binary is missing
#   DEVICE           cuda (default) | cpu | auto
#   SEED             training and fine-tuning seed (default 1)
#   EPOCHS           training epochs (default: the model's recipe, 30)
#   ITERS, JOINT_ITERS, DENSITIES, JOINT_FLOPS, TIME_BATCH, TIME_REPS, TIME_ROUNDS, MAX_GRID
#   OPTIMIZE_ARGS    extra `deftnn optimize` options (default --include-input-layer: CifarNet's
#                    conv1 is 8% of the GEMM FLOPs; with it the frontier is denser)
#                    optimize settings (defaults below)
#   KEEP             a folder to copy the trained and the optimised model into
#                    (cifarnet.safetensors, cifarnet.sve.safetensors); default: none kept
#   SMOKE=1          tiny settings (no training, one density, a few
#                    iterations) to check the command lines on a CPU
#
# On the device tool: carry [".data"], command e.g. `bash scripts/sve_cifarnet.sh`
# (OUT=$OUT to get the files back).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-runs/cifarnet}
BUILD_DIR=${BUILD_DIR:-build-gpu}
DEVICE=${DEVICE:-cuda}
SEED=${SEED:-1}
if [ -z "${DEFTNN_DATA_DIR:-}" ] && [ -d "$ROOT/.data/fashion-mnist" ]; then
  export DEFTNN_DATA_DIR=$ROOT/.data/fashion-mnist
fi
export PATH=$PATH:/usr/local/cuda/bin

if [ "${SMOKE:-0}" = 1 ]; then
  EPOCHS=${EPOCHS:-0}
  ITERS=${ITERS:-4}
  JOINT_ITERS=${JOINT_ITERS:-4}
  DENSITIES=${DENSITIES:-0.5}
  JOINT_FLOPS=${JOINT_FLOPS:-0.6}
  TIME_BATCH=${TIME_BATCH:-32}
  TIME_REPS=${TIME_REPS:-1}
  TIME_ROUNDS=${TIME_ROUNDS:-1}
fi
# GPU defaults: fine-tuning is cheap there (~1 ms per CifarNet step), so the
# density grid is fine, every variant gets 300 steps and every joint point
# 3000 (3.5 epochs, lr 0.01 decaying linearly) with the dense net as the
# teacher (weight 0.3, T 4: the LeNet-5 measurements, docs/sve.md); a joint
# point per FLOPs cap from 95% down to 25%. Three layers (conv1 included) of
# 17 options make 4913 combinations, too many to measure all (that took over
# 6 minutes): greedy paths and uniform levels instead. The timed batch is
# large so that the GPU is busy rather than launch-bound. On the H100 this
# whole script takes about 2.5 minutes (bench/results/logs/sve-cifarnet-h100-*).
ITERS=${ITERS:-300}
JOINT_ITERS=${JOINT_ITERS:-3000}
DENSITIES=${DENSITIES:-0.95,0.9,0.85,0.8,0.75,0.7,0.65,0.6,0.55,0.5,0.45,0.4,0.35,0.3,0.25,0.2}
JOINT_FLOPS=${JOINT_FLOPS:-0.95,0.9,0.85,0.8,0.75,0.7,0.65,0.6,0.55,0.5,0.45,0.4,0.35,0.3,0.25}
TIME_BATCH=${TIME_BATCH:-2048}
TIME_REPS=${TIME_REPS:-10}
TIME_ROUNDS=${TIME_ROUNDS:-5}

BIN=$ROOT/$BUILD_DIR/deftnn
if [ ! -x "$BIN" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target deftnn
fi
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/sve_cifarnet.XXXXXX)
MODEL=$WORK/cifarnet.safetensors
t0=$SECONDS
train_args=(--device "$DEVICE" --seed "$SEED" --out "$MODEL" --checkpoint none)
[ -n "${EPOCHS:-}" ] && train_args+=(--epochs "$EPOCHS")
"$BIN" train models/cifarnet.json "${train_args[@]}" 2>&1 | tee "$OUT/train.log"
"$BIN" eval --device "$DEVICE" "$MODEL" 2>&1 | tee "$OUT/eval_dense.log"
"$BIN" optimize "$MODEL" --device "$DEVICE" --seed "$SEED" \
  --density "$DENSITIES" --iters "$ITERS" \
  --joint-flops "$JOINT_FLOPS" --joint-iters "$JOINT_ITERS" --joint-lr 0.01 --joint-lr-policy linear \
  --distill 0.3 --joint-distill 0.3 --temperature 4 --max-grid "${MAX_GRID:-64}" ${OPTIMIZE_ARGS---include-input-layer} \
  --time-batch "$TIME_BATCH" --time-reps "$TIME_REPS" --time-rounds "$TIME_ROUNDS" \
  --out "$WORK/cifarnet.sve.safetensors" --report "$OUT" 2>&1 | tee "$OUT/optimize.log"
"$BIN" eval --device "$DEVICE" "$WORK/cifarnet.sve.safetensors" 2>&1 | tee "$OUT/eval_selected.log"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$MODEL" "$WORK/cifarnet.sve.safetensors" "$KEEP/"; fi
echo "sve_cifarnet: $((SECONDS - t0)) s in all (train, eval, optimize, eval); report in $OUT" | tee -a "$OUT/optimize.log"
rm -rf "$WORK"
