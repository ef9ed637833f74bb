#!/usr/bin/env bash
# The one script run on the GPU machine (H100, 16 cores, 10-minute limit per
# call): build, the whole test suite, compute-sanitizer on the GPU tests, the
# benchmarks and the PyTorch peer. Everything it produces lands in $OUT as at
# most three files (summary.txt, logs.tar.gz, results.tar.gz), refreshed after
# every stage so that a run cut short still returns what it did.
#
# Environment (all optional):
#   STAGES          stages to run, in order (default "build test sanitize bench gemm peer")
#   OUT             where the files go (default ./out/gpu_check)
#   BUILD_DIR       build folder (default build-gpu; kept between calls on a warm machine)
#   JOBS            build parallelism (default nproc)
#   DEFTNN_COMMIT   the commit being measured (the tree that travels has no .git;
#                   pass `git rev-parse HEAD` from the checkout); recorded in every JSON
#   DEFTNN_DATA_DIR Fashion-MNIST folder (default .data/fashion-mnist)
#   CANDIDATE       deftnn bench options of the configuration compared with the fp32
#                   cuBLAS baseline (default none: an A/A run, baseline against itself)
#   REPS, WARMUP    benchmark repetitions (default 50, 10)
#   BENCH_NETS      "graph:batch ..." for the net benchmarks
#                   (default "models/caffenet-imc.json:128 models/caffenet-imc.json:1
#                   models/cifarnet.json:128 models/lenet.json:128")
#   MEMCHECK_FILTER gtest filter for memcheck (default the GPU tests, minus CUPTI/Python ones)
#   RACECHECK_FILTER gtest filter for racecheck (default *Fission*:LowpCuda.*)
#   DEADLINE        seconds after which no new stage starts (default 560)
#   PREV_DIR        stage "versus": source tree of an earlier commit (default .prev,
#                   made by `git archive`), built and benchmarked against this one in
#                   the same run (scripts/versus.py); PREV_COMMIT names it
#   VERSUS          its configurations, NAME=BENCH_ARGS, separated by ';'
#   ICU_DEBS        folder of Debian's libicu72/libicu-dev .deb files (default .icu): the GPU
#                   machine has no ICU headers and no network, so when the folder exists they
#                   are unpacked under /tmp/icu and used for the build and the runs
#
# On the device tool: carry [".data", ".icu"] (.icu: `mkdir .icu && cd .icu && apt-get download
# libicu72 libicu-dev icu-devtools` on a Debian 12 machine), command e.g.
#   DEFTNN_COMMIT=<sha> bash scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

STAGES=${STAGES:-"build test sanitize bench gemm peer"}
OUT=${OUT:-$ROOT/out/gpu_check}
BUILD_DIR=${BUILD_DIR:-build-gpu}
JOBS=${JOBS:-$(nproc)}
REPS=${REPS:-50}
WARMUP=${WARMUP:-10}
CANDIDATE=${CANDIDATE:-}
BENCH_NETS=${BENCH_NETS:-"models/caffenet-imc.json:128 models/caffenet-imc.json:1 models/cifarnet.json:128 models/lenet.json:128"}
MEMCHECK_FILTER=${MEMCHECK_FILTER:-'*Gpu*:*Cuda*:*Cublas*:*Cudnn*:*FissionGemm*:-*OutOfMemory*:*KernelNames*:*Python*:*RealFashionMnist*:*CaffeNet*'}
RACECHECK_FILTER=${RACECHECK_FILTER:-'*Fission*:LowpCuda.*'}
DEADLINE=${DEADLINE:-560}
export PATH=$PATH:/usr/local/cuda/bin
ICU_DEBS=${ICU_DEBS:-$ROOT/.icu}
if [ -d "$ICU_DEBS" ] && ! [ -f /usr/include/unicode/uchar.h ]; then
  for f in "$ICU_DEBS"/*.deb; do dpkg -x "$f" /tmp/icu; done
  export ICU_ROOT=/tmp/icu/usr CMAKE_LIBRARY_PATH=/tmp/icu/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=/tmp/icu/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
export DEFTNN_DATA_DIR=${DEFTNN_DATA_DIR:-$ROOT/.data/fashion-mnist}
if [ -z "${DEFTNN_COMMIT:-}" ]; then
  DEFTNN_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
fi
export DEFTNN_COMMIT

WORK=$(mktemp -d /tmp/gpu_check.XXXXXX)
LOGS=$WORK/logs
RES=$WORK/results
mkdir -p "$OUT" "$LOGS" "$RES"
BIN=$ROOT/$BUILD_DIR/deftnn
TESTS=$ROOT/$BUILD_DIR/tests/deftnn_tests
SUMMARY=()

# Packs logs and results into $OUT (called after every stage).
pack() {
  tar -C "$WORK" -czf "$OUT/logs.tar.gz" logs 2>/dev/null
  tar -C "$WORK" -czf "$OUT/results.tar.gz" results 2>/dev/null
  { printf '%-28s %-8s %6s  %s\n' stage status secs note
    printf '%s\n' "${SUMMARY[@]}"; } >"$OUT/summary.txt"
}

# run_stage NAME TIMEOUT_S CMD...: runs CMD with its output in logs/NAME.log.
run_stage() {
  local name=$1 limit=$2; shift 2
  local left=$((DEADLINE - SECONDS))
  if ((left < 10)); then
    SUMMARY+=("$(printf '%-28s %-8s %6s  %s' "$name" skipped 0 "deadline ($DEADLINE s) reached")")
    pack
    return 1
  fi
  ((limit > left)) && limit=$left
  echo "=== [$SECONDS s] $name (limit ${limit}s)"
  local t0=$SECONDS rc
  timeout --signal=TERM --kill-after=10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  local status=ok note=""
  if ((rc == 124 || rc == 137)); then status=TIMEOUT; elif ((rc != 0)); then status="FAIL($rc)"; fi
  note=$(stage_note "$name" "$rc")
  SUMMARY+=("$(printf '%-28s %-8s %6s  %s' "$name" "$status" $((SECONDS - t0)) "$note")")
  tail -n 25 "$LOGS/$name.log"
  pack
  return "$rc"
}

# A one-line note per stage: test counts, benchmark medians and speedups.
stage_note() {
  local name=$1 log=$LOGS/$1.log
  case $name in
    test) grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1 ;;
    memcheck|racecheck)
      local n; n=$(grep -Eo 'ERROR SUMMARY: [0-9]+ error' "$log" | tail -1)
      echo "${n:-no summary}; $(grep -Eo '\[  PASSED  \] [0-9]+ tests?' "$log" | tail -1)" ;;
    bench-*)
      local f; f=$(grep -Eo 'wrote .*\.json' "$log" | tail -1 | cut -d' ' -f2)
      [ -n "$f" ] && [ -f "$f" ] && python3 - "$f" <<'EOF' 2>/dev/null
import json, sys
j = json.load(open(sys.argv[1]))
runs = j["runs"]
s = " vs ".join(f"{r['tag']} {r['total']['median_ms']:.3f} ms ({r['total_method']})" for r in runs)
if "speedup" in j:
    s += f"; speedup {j['speedup']:.3f}x"
print(s)
EOF
      ;;
    versus) sed -n '/^config/,/^wrote/p' "$log" | grep -v '^wrote' | awk 'NR>1{printf "%s %s/%s ms; ", $1, $2, $3}' ;;
    peer) grep -Eo '^ +[a-z0-9-]+ +b[0-9]+ +[a-z0-9]+ +[0-9.]+ ms' "$LOGS/peer.log" | awk '{printf "%s/%s/%s %s ms; ", $1, $2, $3, $4}' ;;
  esac
}

echo "gpu_check: commit $DEFTNN_COMMIT, stages: $STAGES, out: $OUT"
{ nvidia-smi || true; nvcc --version || true; cmake --version || true; } >"$LOGS/machine.log" 2>&1
head -n 15 "$LOGS/machine.log"

for stage in $STAGES; do
  case $stage in
    build)
      run_stage build 300 bash -c "cmake -S . -B '$BUILD_DIR' -G Ninja -DCMAKE_BUILD_TYPE=Release -DDEFTNN_CUDA=ON \
        && cmake --build '$BUILD_DIR' -j '$JOBS'" || { echo "build failed: stopping"; break; } ;;
    test)
      run_stage test 240 bash -c "cd '$BUILD_DIR' && ctest --output-on-failure -j 8 --timeout 200" ;;
    sanitize)
      run_stage memcheck 150 compute-sanitizer --tool memcheck --leak-check no --error-exitcode 99 \
        "$TESTS" --gtest_filter="$MEMCHECK_FILTER" --gtest_brief=1
      run_stage racecheck 120 compute-sanitizer --tool racecheck --error-exitcode 99 \
        "$TESTS" --gtest_filter="$RACECHECK_FILTER" --gtest_brief=1 ;;
    bench)
      for spec in $BENCH_NETS; do
        graph=${spec%%:*}; batch=${spec##*:}
        name=bench-$(basename "$graph" .json)-b$batch
        # shellcheck disable=SC2086
        run_stage "$name" 120 "$BIN" bench "$graph" --batch "$batch" --compare --reps "$REPS" \
          --warmup "$WARMUP" --out "$RES" $CANDIDATE
      done ;;
    gemm)
      if "$BIN" bench gemm --help >/dev/null 2>&1; then
        run_stage bench-gemm 150 bash -c "cd '$RES' && '$BIN' bench gemm"
      else
        SUMMARY+=("$(printf '%-28s %-8s %6s  %s' bench-gemm skipped 0 "no 'deftnn bench gemm' in this build")")
      fi ;;
    peer)
      run_stage peer 180 python3 bench/peers/pytorch_nets.py --out "$RES" \
        models/caffenet-imc.json:128,1 models/cifarnet.json:128 models/lenet.json:128 ;;
    versus)
      PREV_DIR=${PREV_DIR:-.prev}
      VERSUS=${VERSUS:-"caffenet-b128=models/caffenet-imc.json --batch 128;caffenet-b1=models/caffenet-imc.json --batch 1;caffenet-b128-sve50=models/caffenet-imc.json --batch 128 --density 0.5;cifarnet-b128=models/cifarnet.json --batch 128"}
      run_stage build-prev 300 bash -c "cmake -S '$PREV_DIR' -B '$PREV_DIR/build' -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DDEFTNN_CUDA=ON -DDEFTNN_BUILD_TESTS=OFF >/dev/null && cmake --build '$PREV_DIR/build' -j '$JOBS' --target deftnn_cli" &&
        { IFS=';' read -r -a cfgs <<<"$VERSUS"
          run_stage versus 300 python3 scripts/versus.py --old "$PREV_DIR/build/deftnn" --new "$BIN" \
            --out "$RES/versus.json" --rounds "${VERSUS_ROUNDS:-3}" "${cfgs[@]}"; } ;;
    *) echo "unknown stage '$stage' (known: build test sanitize bench gemm peer versus)"; ;;
  esac
done

pack
echo
echo "=== summary (commit $DEFTNN_COMMIT, $((SECONDS)) s)"
cat "$OUT/summary.txt"
rm -rf "$WORK"
