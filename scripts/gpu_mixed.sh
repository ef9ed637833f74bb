#!/usr/bin/env bash
# The tensor-core mixed-input GEMM on the GPU machine (docs/fission.md,
# "Tensor-core mixed-input fission"): build, its tests (CPU and GPU),
# compute-sanitizer memcheck and racecheck on small filters, the benchmark
# on the Llama-7B shapes; everything under $OUT (default ./out).
# Stages: STAGES="build test sanitize bench" (default all).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
STAGES=${STAGES:-"build test sanitize bench"}
has() { [[ " $STAGES " == *" $1 "* ]]; }
export DEFTNN_COMMIT=${DEFTNN_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw --format=csv > "$OUT/gpu.csv" 2>&1

if has build; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/cmake.log" 2>&1
  cmake --build build -j16 --target deftnn_tests deftnn_cli > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
fi
if has test; then
  # the device unpack first: a failure there explains the GEMM failures after it
  ./build/tests/deftnn_tests --gtest_filter='MixedGemmGpu.DeviceUnpackEqualsHost' > "$OUT/mixed-unpack.log" 2>&1
  echo "device unpack rc=$?"; grep -E "Failure|device 0x" "$OUT/mixed-unpack.log" | head -10
  ./build/tests/deftnn_tests --gtest_filter='Mixed*' > "$OUT/mixed-tests.log" 2>&1
  echo "mixed tests rc=$?"; tail -3 "$OUT/mixed-tests.log"; grep -E "FAILED|Failure|got" "$OUT/mixed-tests.log" | head -30
fi
if has sanitize; then
  F='MixedGemmGpu.ExactSmallIntegersAllFormats:MixedGemmGpu.StridedXAndY:MixedGemmGpu.ZeroSizes'
  timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 ./build/tests/deftnn_tests --gtest_filter="$F" > "$OUT/mixed-memcheck.log" 2>&1
  echo "memcheck rc=$?"; tail -3 "$OUT/mixed-memcheck.log"
  timeout 300 compute-sanitizer --tool racecheck --error-exitcode 9 ./build/tests/deftnn_tests --gtest_filter='MixedGemmGpu.StridedXAndY' > "$OUT/mixed-racecheck.log" 2>&1
  echo "racecheck rc=$?"; tail -3 "$OUT/mixed-racecheck.log"
fi
if has bench; then
  ./build/deftnn bench gemm --no-alexnet --format cublas-bf16,mix-int8,mix-fp8,mix-deft8,mix-int4,mix-fp4 \
    --out "$OUT/gemm-mixed.json" ${BENCH_ARGS:-} > "$OUT/mixed-bench.log" 2>&1
  echo "bench rc=$?"; cat "$OUT/mixed-bench.log" | tail -40
fi
