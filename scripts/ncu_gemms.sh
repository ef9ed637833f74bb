#!/usr/bin/env bash
# Nsight Compute on the GEMM kernels of one CaffeNet configuration
# (docs/bottlenecks.md, "ncu figures"): one benchmark pass, eager, kernel
# names matching the GEMM libraries and ours, the first LAUNCHES of them
# (default 16: the eager sizing pass's GEMMs plus the first warm-up pass's,
# so every layer appears at least once), with the Speed Of Light section
# (duration, DRAM / memory / SM throughput as % of peak) and the DRAM bytes
# read and written. Report $OUT/ncu-TAG.ncu-rep, its raw page as CSV in
# $OUT/ncu-TAG.csv, the benchmark's output in $OUT/ncu-TAG.log.
# Skips (exit 0, saying so) when ncu is not installed.
# Usage: ncu_gemms.sh TAG BENCH-ARGS...   e.g. ncu_gemms.sh b128-dense-bf16 --batch 128 --precision bf16
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
tag=$1
shift
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -z "$NCU" ]; then
  echo "ncu $tag: SKIPPED (Nsight Compute's ncu is not installed on this machine)"
  exit 0
fi
# cuBLAS / cuBLASLt (sgemm, gemm, sm90_xmma, cutlass, nvjet), our fission and mixed-input kernels.
KERNELS='regex:gemm|xmma|cutlass|nvjet|fission|skinny|mixed'
# The report first (the benchmark's own output stays in the log), then its raw page as CSV.
timeout "${NCU_TIMEOUT:-240}" "$NCU" --export "$OUT/ncu-$tag" --force-overwrite --section SpeedOfLight \
  --metrics dram__bytes_read.sum,dram__bytes_write.sum -k "$KERNELS" -c "${LAUNCHES:-16}" \
  ./build/deftnn bench models/caffenet-imc.json --no-graph --no-kernel-names --reps 1 --warmup 1 "$@" \
  --out "$OUT/ncu-$tag-bench.json" >"$OUT/ncu-$tag.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
  "$NCU" --import "$OUT/ncu-$tag.ncu-rep" --csv --page raw >"$OUT/ncu-$tag.csv" 2>>"$OUT/ncu-$tag.log"
  rc=$?
fi
echo "ncu $tag: rc=$rc ($(wc -l <"$OUT/ncu-$tag.csv" 2>/dev/null || echo 0) CSV lines)"
[ $rc -eq 0 ] || tail -20 "$OUT/ncu-$tag.log"
exit $rc
