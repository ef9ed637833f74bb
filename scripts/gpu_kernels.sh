#!/usr/bin/env bash
# Issue 3 on the GPU machine: build, fission tests (+ compute-sanitizer
# memcheck and racecheck on a small filter), the GEMM benchmark and ncu
# metrics, everything written under $OUT (default ./out).
# Stages can be chosen: STAGES="build test sanitize bench ncu sass" (default all).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
STAGES=${STAGES:-"build test sanitize bench ncu sass"}
BENCH_ARGS=${BENCH_ARGS:-}
has() { [[ " $STAGES " == *" $1 "* ]]; }
export DEFTNN_COMMIT=${DEFTNN_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw --format=csv > "$OUT/gpu.csv" 2>&1

if has build; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/cmake.log" 2>&1
  cmake --build build -j16 --target deftnn_tests deftnn_cli > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
fi
if has test; then
  ./build/tests/deftnn_tests --gtest_filter='*Codec*:*Fission*:Gemm*:Lowp*' > "$OUT/tests.log" 2>&1
  echo "tests rc=$?"; tail -5 "$OUT/tests.log"; grep -E "FAILED|Failure" "$OUT/tests.log" | head -20
fi
if has sanitize; then
  F='AllVariants/FissionGemm.MatchesDecodedReference/deft16q:AllVariants/FissionGemm.MatchesDecodedReference/deft8e4:FissionGemm.DevicePackingMatchesHost'
  timeout 70 compute-sanitizer --tool memcheck --error-exitcode 9 ./build/tests/deftnn_tests --gtest_filter="$F" > "$OUT/memcheck.log" 2>&1
  echo "memcheck rc=$?"; tail -3 "$OUT/memcheck.log"
  timeout 60 compute-sanitizer --tool racecheck --error-exitcode 9 ./build/tests/deftnn_tests --gtest_filter='AllVariants/FissionGemm.MatchesDecodedReference/deft16q:AllVariants/FissionGemm.MatchesDecodedReference/deft8e4' > "$OUT/racecheck.log" 2>&1
  echo "racecheck rc=$?"; tail -3 "$OUT/racecheck.log"
fi
if has bench; then
  ./build/deftnn bench gemm --out "$OUT/gemm-h100.json" $BENCH_ARGS > "$OUT/bench.log" 2>&1
  echo "bench rc=$?"
fi
if has ncu; then
  M="smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active,smsp__inst_executed_pipe_fma.sum,smsp__inst_executed_pipe_lsu.sum,smsp__inst_executed_pipe_alu.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum.pct_of_peak_sustained_elapsed,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,smsp__warp_issue_stalled_barrier_per_warp_active.pct,smsp__warp_issue_stalled_short_scoreboard_per_warp_active.pct,smsp__warp_issue_stalled_mio_throttle_per_warp_active.pct,smsp__warp_issue_stalled_math_pipe_throttle_per_warp_active.pct,smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct,smsp__warp_issue_stalled_not_selected_per_warp_active.pct,smsp__warp_issue_stalled_wait_per_warp_active.pct,sm__warps_active.avg.pct_of_peak_sustained_active,gpu__time_duration.sum"
  for v in ${NCU_VARIANTS:-fp32 deft16q deft8e4 cublas}; do
    k=fission_kernel; [[ $v == cublas ]] && k=regex:gemm
    timeout 45 ncu --metrics "$M" -k "$k" --launch-skip 3 --launch-count 1 --csv \
      ./build/deftnn bench gemm --only-shape --m 384 --n 21632 --k 2304 --format $v --reps 20 \
      --out "$OUT/ncu-tmp.json" > "$OUT/ncu-$v.tmp" 2>&1; grep -E "^\"" "$OUT/ncu-$v.tmp" >> "$OUT/ncu.csv"; rm -f "$OUT/ncu-$v.tmp" "$OUT/ncu-tmp.json"
    echo "ncu $v rc=$?"
  done
fi
if has sass; then
  CO=$(ls build/CMakeFiles/deftnn.dir/src/gemm/kernels/fission_gemm.cu.o 2>/dev/null)
  [[ -n "$CO" ]] && cuobjdump -sass "$CO" > "$OUT/fission.sass" 2>&1
  ls -la "$OUT/fission.sass" 2>/dev/null
fi
if has sass; then
  # instruction histogram of each fission kernel (whole function; the main loop dominates)
  python3 - "$OUT/fission.sass" > "$OUT/sass-summary.txt" <<'PY'
import re, sys, collections
txt = open(sys.argv[1]).read()
for f in re.split(r'Function : ', txt)[1:]:
    name = f.split('\n')[0].strip()
    if 'kernel' not in name: continue
    ops = collections.Counter()
    for line in f.split('\n'):
        m = re.search(r'/\*[0-9a-f]{4}\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9_]+)', line)
        if m: ops[m.group(1)] += 1
    print(name[:90], 'total', sum(ops.values()), dict(ops.most_common(14)))
PY
  rm -f "$OUT/fission.sass"
fi
