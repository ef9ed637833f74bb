#!/usr/bin/env bash
# compute-sanitizer racecheck over the kernels that use shared memory, each
# group of tests at small shapes under its own time limit (racecheck runs
# them about 100x slower), logs in $OUT/racecheck-<group>.log; and the cuDNN
# 16-bit test's whole output. Inside scripts/gpu_session.sh's environment:
#   STAGES="build" DEADLINE=500 EXTRA='bash scripts/gpu_racecheck.sh' EXTRA_TIMEOUT=400 OUT=$OUT bash scripts/gpu_session.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
T=./build/tests/deftnn_tests
timeout 25 $T --gtest_filter='Conv2d.Cudnn*' > "$OUT/cudnn16.log" 2>&1
echo "cudnn tests rc=$?"; grep -E "exception|Failure|error/tolerance|OK \]|FAILED \]" "$OUT/cudnn16.log" | cut -c1-300 | head -12
race() {  # NAME SECONDS FILTER
  timeout "$2" compute-sanitizer --tool racecheck --error-exitcode 9 $T --gtest_filter="$3" > "$OUT/racecheck-$1.log" 2>&1
  echo "racecheck $1 rc=$? (0 clean, 9 hazards, 124 out of time): $(grep -c 'OK \]' "$OUT/racecheck-$1.log") tests ok;" \
    "$(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$OUT/racecheck-$1.log" | tail -1)"
}
race mixed 60 'MixedGemmGpu.StridedXAndY:MixedGemmGpu.DeviceUnpackEqualsHost:MixedGemmGpu.ZeroSizes'
race lowp 40 'LowpCuda.*'
race layers 100 'Conv2dSve.IdentityAndSubsetsCuda:Linear.CudaMatchesReference:BatchNorm.CudaMatchesReference:SoftmaxLayer.CudaMatchesReference:SoftmaxCrossEntropy.CudaMatchesReference:LayerNormLayer.CudaMatchesReference:L2NormLayer.CudaMatchesReference:AttentionLayer.CudaMatchesReference:MeanPoolLayer.CudaMatchesReference:Pool.MaxCudaMatchesReference:Lrn.CudaMatchesReference'
race fission 60 'AllVariants/FissionGemm.MatchesDecodedReference/deft16q:AllVariants/FissionGemm.MatchesDecodedReference/deft8e4'
