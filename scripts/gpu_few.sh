#!/usr/bin/env bash
# The few-token mixed-input kernel (kernels/mixed_few.cu) on the GPU, inside
# scripts/gpu_session.sh's environment (after its build stage):
#   STAGES="build" DEADLINE=540 EXTRA='bash scripts/gpu_few.sh' EXTRA_TIMEOUT=480 OUT=$OUT bash scripts/gpu_session.sh
# Its GPU tests, memcheck on them, then `bench gemm` on the Llama-7B shapes at
# 1 and 16 tokens with the general kernel only (DEFTNN_MIXED_FEW_MAX=0), the
# few-token kernel up to 16 tokens (one and two tiles per block), CaffeNet
# batch 1 with 8-bit fc layers (the 0.12 ms target), ncu on both kernels at
# one token (4096 x 4096 int8), and with RACE=1 scripts/gpu_racecheck.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
T=./build/tests/deftnn_tests
timeout 150 $T --gtest_filter='MixedGemmGpu.FewTokensKernel:MixedGemmGpu.TilesKernelAtFewTokens:MixedGemmGpu.ZeroSizes:MixedGemmGpu.LargeShapesAndManyTokens:MixedGemmGpu.StridedXAndY:MixedBackendGpu.*:MixedGemm.*' > "$OUT/few-tests.log" 2>&1
echo "tests rc=$?: $(grep -E '^\[  PASSED|^\[  FAILED' "$OUT/few-tests.log" | tr '\n' ' ')"
grep -E "Failure|FAILED \]|got .* want" "$OUT/few-tests.log" | head -12 | cut -c1-250
timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $T --gtest_filter='MixedGemmGpu.ZeroSizes:MixedGemmGpu.StridedXAndY' > "$OUT/few-memcheck.log" 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' "$OUT/few-memcheck.log" | tail -1)"
F=${FORMATS:-cublas-bf16,lt-fp8,mix-int8,mix-fp8,mix-int4,mix-fp4}
bench() {  # TAG ENV...
  local tag=$1; shift
  env "$@" timeout 100 ./build/deftnn bench gemm --no-alexnet --llm-tokens 1,16 --reps 30 --format $F \
    --out "$OUT/gemm-$tag.json" > "$OUT/gemm-$tag.log" 2>&1
  echo "bench $tag rc=$?"
  grep -E "mix-|cublas-bf16|lt-fp8" "$OUT/gemm-$tag.log" | cut -c1-118 | head -48
}
bench tiles DEFTNN_MIXED_FEW_MAX=0
bench few16 DEFTNN_MIXED_FEW_MAX=16
bench few16-nt2 DEFTNN_MIXED_FEW_MAX=16 DEFTNN_MIXED_FEW_NT=2
timeout 40 ./build/deftnn bench models/caffenet-imc.json --batch 1 --precision bf16 --weights int8 \
  --tag caffenet-b1-mixed-int8 --out "$OUT/caffenet-b1-mixed-int8.json" > "$OUT/caffenet-b1-int8.log" 2>&1
echo "caffenet b1 int8 rc=$?"; grep -iE "^fc|total|^mixed" "$OUT/caffenet-b1-int8.log" | tail -8
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -n "$NCU" ]; then
  for cfg in "tiles 0" "few 16"; do
    set -- $cfg
    DEFTNN_MIXED_FEW_MAX=$2 timeout 60 "$NCU" --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
      --section Occupancy --section LaunchStats -k regex:mixed -c 1 --csv --page details \
      ./build/deftnn bench gemm --no-alexnet --no-llm --only-shape --m 4096 --n 1 --k 4096 --format mix-int8 --reps 20 \
      --out /tmp/ncu-gemm.json > "$OUT/ncu-$1.csv" 2>&1
    echo "ncu $1 rc=$?"
    grep -E '"(Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per Thread|Stall|Warp Cycles Per Issued|Block Limit|Waves Per SM|Grid Size)' "$OUT/ncu-$1.csv" | awk -F'","' '{print $(NF-2), $(NF-1), $NF}' | head -24
  done
else
  echo "ncu: not installed"
fi
[ "${RACE:-0}" = 1 ] && bash scripts/gpu_racecheck.sh
exit 0
