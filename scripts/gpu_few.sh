#!/usr/bin/env bash
# The few-token mixed-input kernel (kernels/mixed_few.cu) on the GPU, inside
# scripts/gpu_session.sh's environment (after its build stage):
#   STAGES="build" DEADLINE=560 EXTRA='bash scripts/gpu_few.sh' EXTRA_TIMEOUT=440 OUT=$OUT bash scripts/gpu_session.sh
# Its GPU tests, memcheck on them, then `bench gemm` on the Llama-7B shapes at
# 1 and 16 tokens with the general kernel only (DEFTNN_MIXED_FEW_MAX=0), the
# few-token kernel up to 16 tokens (one and two tiles per block), and CaffeNet
# batch 1 with 8-bit fc layers (the 0.12 ms target). JSON and logs in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
T=./build/tests/deftnn_tests
timeout 120 $T --gtest_filter='MixedGemmGpu.*:MixedBackendGpu.*:MixedGemm.*' > "$OUT/few-tests.log" 2>&1
echo "tests rc=$?: $(grep -E '^\[  PASSED|^\[  FAILED' "$OUT/few-tests.log" | tr '\n' ' ')"
grep -E "Failure|FAILED \]|got .* want" "$OUT/few-tests.log" | head -12 | cut -c1-250
timeout 90 compute-sanitizer --tool memcheck --error-exitcode 9 $T --gtest_filter='MixedGemmGpu.FewTokensKernel:MixedGemmGpu.ZeroSizes' > "$OUT/few-memcheck.log" 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' "$OUT/few-memcheck.log" | tail -1)"
F=cublas-bf16,lt-fp8,mix-int8,mix-fp8,mix-deft8,mix-int4,mix-fp4
bench() {  # TAG ENV...
  local tag=$1; shift
  env "$@" timeout 100 ./build/deftnn bench gemm --no-alexnet --llm-tokens 1,16 --reps 30 --format $F \
    --out "$OUT/gemm-$tag.json" > "$OUT/gemm-$tag.log" 2>&1
  echo "bench $tag rc=$?"
  grep -E "mix-|cublas-bf16|lt-fp8" "$OUT/gemm-$tag.log" | cut -c1-150 | head -48
}
bench tiles DEFTNN_MIXED_FEW_MAX=0
bench few16 DEFTNN_MIXED_FEW_MAX=16
bench few16-nt2 DEFTNN_MIXED_FEW_MAX=16 DEFTNN_MIXED_FEW_NT=2
for w in int8 int4; do
  timeout 60 ./build/deftnn bench models/caffenet-imc.json --batch 1 --precision bf16 --weights $w \
    --tag caffenet-b1-mixed-$w --out "$OUT/caffenet-b1-mixed-$w.json" > "$OUT/caffenet-b1-$w.log" 2>&1
  echo "caffenet b1 $w rc=$?"; grep -iE "^fc|total|^mixed" "$OUT/caffenet-b1-$w.log" | tail -8
done
