#!/usr/bin/env bash
# CaffeNet speed session on a GPU machine, in one call (device time is short):
# builds, runs the GPU tests of the inference paths (layouts, fused and
# deferred epilogues, im2col, pool, LRN) plainly and under compute-sanitizer
# memcheck, then benchmarks CaffeNet (random weights) at batch 128 and 1:
#   b128        the fp32 cuBLAS baseline as the engine runs it (channel-major trunk)
#   b128-nchw   the same with --no-trunk (NCHW, bias + permute after every conv GEMM)
#   b1          batch 1
#   sve50       --density 0.5 (all GEMM layers but conv1) against the baseline
#   sve50-d16q  the same with Deft-16Q fission
#   d16q        Deft-16Q fission alone
#   chunkMB     the baseline with DEFTNN_CONV_CHUNK_MB=MB (column-matrix chunk size experiment)
# Each run writes bench/results-style JSON into $OUT (commit, device, date,
# kernel names) and a per-layer table into $OUT/perf.log.
# Targets: batch 128 <= 5.5 ms, batch 1 <= 0.35 ms (issue 2); SVE 1.6x, with
# Deft-16Q 2.1x (issue 4); Deft-16Q 1.2x (issue 3).
#
# Environment: OUT (default out/perf), BUILD_DIR (default build-gpu),
# DEFTNN_COMMIT (the tree on the device has no .git), RUNS (default: all of
# the above, space-separated names), REPS (default 50).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/perf}
BUILD_DIR=${BUILD_DIR:-build-gpu}
RUNS=${RUNS:-"b128 b128-nchw b1 sve50 sve50-d16q d16q"}
REPS=${REPS:-50}
export PATH=$PATH:/usr/local/cuda/bin
export DEFTNN_COMMIT=${DEFTNN_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
mkdir -p "$OUT"
LOG=$OUT/perf.log
: >"$LOG"
say() { echo "$@" | tee -a "$LOG"; }

t0=$SECONDS
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >"$OUT/build.log" 2>&1 &&
  cmake --build "$BUILD_DIR" -j"$(nproc)" >>"$OUT/build.log" 2>&1 ||
  { grep -E "error" -A3 "$OUT/build.log" | head -40; exit 1; }
say "build: $((SECONDS - t0)) s"

T=./$BUILD_DIR/tests/deftnn_tests
FILTER='Im2col*:NetFusion*:NetCuda*:*Conv*:*Linear*:*Relu*:*Pool*:*Lrn*:*Dropout*:*Sve*:*Fission*Layer*'
$T --gtest_filter="$FILTER" --gtest_brief=1 >"$OUT/tests.log" 2>&1
say "tests: $(grep -E '^\[  (PASSED|FAILED) ' "$OUT/tests.log" | tr '\n' ' ')"
grep -E '^\[  FAILED  \]' "$OUT/tests.log" | tee -a "$LOG"
compute-sanitizer --tool memcheck --leak-check no --error-exitcode 99 $T \
  --gtest_filter='Im2col.Cuda*:NetFusion.Cuda*:Pool.*Cuda*:Lrn.Cuda*:Conv2d.Cuda*' --gtest_brief=1 >"$OUT/memcheck.log" 2>&1
say "memcheck (rc $?): $(grep -Eo 'ERROR SUMMARY: [0-9]+ errors?' "$OUT/memcheck.log" | tail -1)"

B=./$BUILD_DIR/deftnn
M=models/caffenet-imc.json
mkdir -p "$OUT/json"
common=(--reps "$REPS" --warmup 10 --out "$OUT/json")
for r in $RUNS; do
  mb=
  case $r in
    b128) args=(-b 128 --tag baseline) ;;
    b128-nchw) args=(-b 128 --no-trunk --tag baseline-nchw) ;;
    b1) args=(-b 1 --tag baseline) ;;
    sve50) args=(-b 128 --compare --density 0.5) ;;
    sve50-d16q) args=(-b 128 --compare --density 0.5 --format deft16q) ;;
    d16q) args=(-b 128 --compare --format deft16q) ;;
    chunk*) mb=${r#chunk}; args=(-b 128 --tag "baseline-chunk${mb}mb") ;;
    *) say "unknown run $r"; continue ;;
  esac
  say "=== $r: deftnn bench $M ${args[*]}"
  env ${mb:+DEFTNN_CONV_CHUNK_MB=$mb} $B bench $M "${args[@]}" "${common[@]}" >"$OUT/run-$r.log" 2>&1 || say "  FAILED (rc $?): $(tail -3 "$OUT/run-$r.log")"
  f=$(grep -Eo 'wrote .*\.json' "$OUT/run-$r.log" | tail -1 | cut -d' ' -f2)
  [ -n "$f" ] && python3 - "$f" >>"$LOG" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for r in j["runs"]:
    print(f"-- {r.get('tag')} total {r['total']['median_ms']:.4f} ms ({r.get('total_method')})")
    for l in r["layers"]:
        ks = "; ".join(f"{k['name'][:44]} {k['total_us']:.0f}" for k in l.get("kernels", []))
        print(f"   {l['name']:<6} {l['time']['median_ms']:.4f}  {ks}")
if "speedup" in j:
    print(f"-- speedup {j['speedup']:.3f}x")
PY
done
say "total: $((SECONDS - t0)) s"
# At most a few files come back from the device: the JSON and logs go in two archives.
tar -C "$OUT" -czf "$OUT/json.tar.gz" json && rm -rf "$OUT/json"
tar -C "$OUT" -czf "$OUT/logs.tar.gz" --exclude='*.tar.gz' --exclude=perf.log . 2>/dev/null
find "$OUT" -maxdepth 1 -name '*.log' ! -name perf.log -delete
cat "$LOG"
