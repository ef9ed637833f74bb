#!/usr/bin/env bash
# The GPU checks still pending, in priority order (the first list of
# 2026-12-07 ran on the H100 at ce2a19c: bench/results/gpu-pending-h100-20261207/).
# Run it inside scripts/gpu_session.sh's environment (ICU, MiniLM in
# $DEFTNN_MINILM_DIR, build/ built), carry [".carry-icu", ".carry-minilm"]:
#   STAGES="build" DEADLINE=585 EXTRA='bash scripts/gpu_pending.sh' EXTRA_TIMEOUT=480 \
#     OUT=$OUT bash scripts/gpu_session.sh
#  1. the tests fixed after that run (cuDNN 16-bit bound, encoder graph capture,
#     python_package, cli_graph_tools) and memcheck on the first two;
#  2. CaffeNet b128/b1 bf16: default against conv2,conv5 on cuDNN (--kernel
#     per layer), outputs compared through `deftnn run`;
#  3. the encoder per density at 32 x 128 tokens, now as a CUDA graph;
#  4. compute-sanitizer memcheck over the GPU tests (the long MixedGemmGpu
#     ones left out), as long as the time lasts.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
T=./build/tests/deftnn_tests
echo "== fixed GPU tests"
timeout 60 $T --gtest_filter='Conv2d.Cudnn*:Bert.*Cuda*:EmbeddingLayer.*Cuda*:ExecPlan.*:BertSve.*' 2>&1 |
  grep -E "^\[  FAILED|Failure|PASSED|FAILED|error/tolerance" | head -20
timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $T \
  --gtest_filter='Conv2d.Cudnn16*:Bert.TinyCapturesAsACudaGraphCuda:EmbeddingLayer.*Cuda*' 2>&1 | tail -2
(cd build && timeout 60 ctest -R 'python_package|cli_graph_tools' --output-on-failure 2>&1 | tail -15)
echo "== caffenet bf16: default against conv2,conv5 on cuDNN"
python3 -c "import numpy as np; np.save('/tmp/x8.npy', np.random.default_rng(5).standard_normal((8,3,227,227)).astype(np.float32))"
for k in "" "--kernel conv2=cudnn,conv5=cudnn" "--kernel cudnn"; do
  tag=$(echo "$k" | tr -c 'a-z0-9\n' '-' | sed 's/^-*//;s/-*$//'); tag=${tag:-default}
  timeout 30 ./build/deftnn run models/caffenet-imc.json --input /tmp/x8.npy --output "/tmp/y-$tag.npy" --device cuda \
    --precision bf16 $k > /dev/null 2>&1; echo "run $tag rc=$?"
  for b in 128 1; do
    timeout 40 ./build/deftnn bench models/caffenet-imc.json --batch $b --precision bf16 $k --reps 30 \
      --tag "b$b-bf16-$tag" --out "$OUT/caffenet-b$b-bf16-$tag.json" > "$OUT/caffenet-b$b-bf16-$tag.log" 2>&1
    echo "rc=$? b$b $tag: $(grep -E '^total' "$OUT/caffenet-b$b-bf16-$tag.log" | cut -c1-120)"
  done
done
python3 - <<'PY'
import numpy as np
a = np.load("/tmp/y-default.npy")
for t in ["kernel-conv2-cudnn-conv5-cudnn", "kernel-cudnn"]:
    try:
        b = np.load(f"/tmp/y-{t}.npy")
        print(f"outputs {t} vs default: max |diff| {np.abs(a - b).max():.3g}, max |y| {np.abs(a).max():.3g}, "
              f"same argmax {np.mean(a.argmax(1) == b.argmax(1)):.3f}")
    except Exception as e:
        print("outputs", t, "not compared:", e)
PY
echo "== encoder per density (CUDA graph)"
if [ -n "${DEFTNN_MINILM_DIR:-}" ]; then
  timeout 100 ./build/deftnn bench embed "$DEFTNN_MINILM_DIR" --device cuda --density 0.9,0.7,0.5,0.4,0.3 \
    --reps 20 --warmup 5 --out "$OUT/embed-minilm-cuda-b32x128-graph.json" 2>&1 | grep -v "^\[\|round" | tail -9
else
  echo "skipped: no DEFTNN_MINILM_DIR (carry .carry-minilm)"
fi
echo "== memcheck over the GPU tests"
timeout 170 compute-sanitizer --tool memcheck --error-exitcode 9 --log-file "$OUT/memcheck-gpu-tests.log" $T \
  --gtest_filter='*Cuda*:*Gpu*:*GPU*:*Cudnn*:-MixedGemmGpu.LargeShapesAndManyTokens:MixedGemmGpu.SerialSplitKWorkspace:MixedGemmGpu.RandomAgainstReference:MixedGemmGpu.ExactSmallIntegersRaggedShapes' \
  > "$OUT/memcheck-gpu-tests.out" 2>&1
echo "memcheck rc=$? (124: the time ran out)"; tail -3 "$OUT/memcheck-gpu-tests.out"; tail -2 "$OUT/memcheck-gpu-tests.log"
grep -c "^\[       OK" "$OUT/memcheck-gpu-tests.out"
