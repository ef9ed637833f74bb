#!/usr/bin/env bash
# The GPU checks of work that landed on 2026-12-07 (fourth session) without a
# GPU run: the device tool refused every call after the first. Run it inside
# scripts/gpu_session.sh's environment (ICU, MiniLM in $DEFTNN_MINILM_DIR,
# build/ built), carry [".carry-icu", ".carry-minilm"]:
#   STAGES="build full" DEADLINE=580 EXTRA='bash scripts/gpu_pending.sh' EXTRA_TIMEOUT=330 \
#     OUT=$OUT bash scripts/gpu_session.sh
# In order of priority (each step has its own time limit; logs and JSON in $OUT):
#  1. the new GPU tests: cuDNN in bf16/fp16 (Conv2d.Cudnn16*), the roofline's
#     ceilings (RooflineGpu.*), SVE in the C++ encoder on CUDA (BertSve.*), and
#     memcheck on the first;
#  2. CaffeNet b128 / b1 in bf16: im2row + cuBLASLt (default) against cuDNN
#     (--kernel cudnn): the issue-9 target is <= 1.5 ms at b128 (1.99 now);
#  3. the encoder per density at 32 x 128 tokens (bench embed) and the real
#     eliminated MiniLM against NumPy on CUDA (check_bert_sve.py);
#  4. the roofline runs of docs/bottlenecks.md (scripts/roofline_caffenet.sh)
#     and the same with cuDNN convolutions.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
T=./build/tests/deftnn_tests
echo "== new GPU tests"
timeout 80 $T --gtest_filter='Conv2d.Cudnn*:Conv2d.Cuda*:ExecPlan.*:LowpNet.*:RooflineGpu.*:BertSve.*:Bert.*Cuda*:EmbedDistill.*Cuda*' 2>&1 |
  grep -E "^\[  FAILED|Failure|PASSED|FAILED|rror|bit-for-bit|bit for bit" | head -30
timeout 40 compute-sanitizer --tool memcheck --error-exitcode 9 $T --gtest_filter='Conv2d.Cudnn16*' 2>&1 | tail -2
echo "== caffenet bf16: im2row + cuBLASLt vs cuDNN"
for b in 128 1; do for k in "" "--kernel cudnn"; do
  tag=caffenet-b$b-bf16$( [ -n "$k" ] && echo -cudnn )
  timeout 40 ./build/deftnn bench models/caffenet-imc.json --batch $b --precision bf16 $k --reps 30 --tag $tag \
    --out "$OUT/$tag.json" > "$OUT/$tag.log" 2>&1
  echo "rc=$? $tag"
  grep -iE "^ *conv|total" "$OUT/$tag.log" | cut -c1-140 | head -8
done; done
echo "== encoder per density"
if [ -n "${DEFTNN_MINILM_DIR:-}" ]; then
  timeout 90 python3 tests/python/check_bert_sve.py build/deftnn --device cuda --keep /tmp/sve 2>&1 | tail -6
  sve=()
  for f in /tmp/sve/minilm-flap-0.70.safetensors /tmp/sve/minilm-sve-ls-0.70.safetensors; do [ -f "$f" ] && sve+=(--sve "$f"); done
  timeout 90 ./build/deftnn bench embed "$DEFTNN_MINILM_DIR" --device cuda --density 0.9,0.7,0.5,0.4,0.3 "${sve[@]}" \
    --reps 20 --warmup 5 --out "$OUT/embed-minilm-cuda-b32x128.json" 2>&1 | grep -v "^\[" | tail -12
else
  echo "skipped: no DEFTNN_MINILM_DIR (carry .carry-minilm)"
fi
echo "== roofline"
OUT="$OUT" STEP_TIMEOUT=40 REPS=20 bash scripts/roofline_caffenet.sh 2>&1 | tail -12
timeout 40 ./build/deftnn bench models/caffenet-imc.json --roofline --reps 20 --batch 128 --precision bf16 --kernel cudnn \
  --tag b128-dense-bf16-cudnn --out "$OUT/roofline-b128-dense-bf16-cudnn.json" > "$OUT/roofline-b128-dense-bf16-cudnn.log" 2>&1
echo "roofline b128-dense-bf16-cudnn rc=$?"
