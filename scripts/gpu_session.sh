#!/usr/bin/env bash
# One device call on the GPU machine for the tensor-core and language-model work:
# build, the GPU tests of the precision backend (Lowp*), the mixed-input GEMM
# (Mixed*), attention and the BERT encoder (against the committed transformers
# reference), compute-sanitizer memcheck on them, then the benchmarks (Llama-7B
# GEMM shapes: cuBLAS bf16, cuBLASLt bf16/fp8, mixed-input kernels; CaffeNet
# b128 per precision; MiniLM embedding throughput). Logs and JSON under $OUT.
# Carry [".carry-icu", ".carry-minilm"] (scripts/make_gpu_carry.sh makes them).
# EXTRA: a command run after the stages (before full), log extra.log, EXTRA_TIMEOUT seconds.
# Tensor.GpuOutOfMemoryIsAnError stays out of memcheck: its cudaMalloc failure is the test, and
# memcheck counts that API error as one.
# STAGES (default "build probe test diag sanitize bench full"), DEADLINE seconds (default 540).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}; mkdir -p "$OUT"
STAGES=${STAGES:-"build probe test diag sanitize bench full"}
DEADLINE=${DEADLINE:-540}
START=$SECONDS
export DEFTNN_COMMIT=${DEFTNN_COMMIT:-unknown}
LOG=$OUT/session.log
say() { echo "[$((SECONDS - START))s] $*" | tee -a "$LOG"; }
stage() {  # stage NAME TIMEOUT CMD...: runs unless past the deadline; log in $OUT/NAME.log
  local name=$1 t=$2; shift 2
  if (( SECONDS - START + 10 > DEADLINE )); then say "$name: skipped (deadline)"; return 1; fi
  (( t > DEADLINE - (SECONDS - START) )) && t=$((DEADLINE - (SECONDS - START)))
  timeout "$t" "$@" > "$OUT/$name.log" 2>&1; local rc=$?
  say "$name: rc=$rc"; return $rc
}
has() { [[ " $STAGES " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee -a "$LOG"
if [ -f .carry-icu/icu.tar.xz ] && ! [ -f /usr/include/unicode/uchar.h ]; then
  mkdir -p /tmp/icu && tar -C /tmp/icu -xJf .carry-icu/icu.tar.xz
  export ICU_ROOT=/tmp/icu/usr CMAKE_LIBRARY_PATH=/tmp/icu/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH=/tmp/icu/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
if [ -f .carry-minilm/model.safetensors.shuf.xz ]; then  # unpacked beside the build
  ( mkdir -p /tmp/minilm && cp -r .carry-minilm/. /tmp/minilm/ && python3 - <<'PY'
import lzma, struct
import numpy as np
b = lzma.decompress(open("/tmp/minilm/model.safetensors.shuf.xz", "rb").read())
n = struct.unpack("<Q", b[:8])[0]
planes = np.frombuffer(b[8 + n:], dtype=np.uint8).reshape(4, -1)
open("/tmp/minilm/model.safetensors", "wb").write(b[:8 + n] + planes.T.tobytes())
PY
  ) > "$OUT/minilm-unpack.log" 2>&1 &
  UNPACK=$!
  export DEFTNN_MINILM_DIR=/tmp/minilm
fi
T=./build/tests/deftnn_tests
if has build; then
  stage build 330 bash -c "cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    && cmake --build build -j 16 --target deftnn_tests deftnn_cli \
    && { ! grep -q '^build python/deftnn/_core' build/build.ninja || cmake --build build -j 16 --target _core; }" \
    || { tail -40 "$OUT/build.log"; exit 1; }
fi
[ -n "${UNPACK:-}" ] && { wait $UNPACK; say "minilm unpack rc=$?"; }
if has probe; then  # which cuBLASLt fp8 set-ups the library takes (bench/probes/cublaslt_fp8.cu)
  stage probe-fp8 60 bash -c "nvcc -O2 -arch=sm_90 bench/probes/cublaslt_fp8.cu -lcublasLt -o /tmp/p8 && /tmp/p8"
  cat "$OUT/probe-fp8.log" | tee -a "$LOG"
fi
if has test; then
  stage unpack-first 60 $T --gtest_filter='MixedGemmGpu.DeviceUnpackEqualsHost:LowpCuda.DeviceConversionRoundsAsTheHost'
  # (the three slow MixedGemmGpu cases, CPU references of large shapes, run in the full ctest)
  stage gpu-tests 150 $T --gtest_filter='Lowp*:Mixed*:AttentionLayer.*:Bert.*:ExecPlan.*:Gemm.*:Tensor.*:Linear*-MixedGemmGpu.ExactSmallIntegersRaggedShapes:MixedGemmGpu.SerialSplitKWorkspace:MixedGemmGpu.RandomAgainstReference'
  grep -E "^\[  FAILED|min cosine|Failure" "$OUT/gpu-tests.log" | head -40 | tee -a "$LOG"
  tail -3 "$OUT/gpu-tests.log" | tee -a "$LOG"
fi
if has diag && [ -n "${DEFTNN_MINILM_DIR:-}" ]; then  # the three-sentence MiniLM check by transformers and by deftnn
  printf 'A man is eating food.\nA man is eating a piece of bread.\nThe new movie is awesome.\n' > /tmp/pair.txt
  stage diag-pair 90 bash -c "./build/deftnn embed $DEFTNN_MINILM_DIR --text /tmp/pair.txt --out /tmp/pc.npy --quiet \
    && ./build/deftnn embed $DEFTNN_MINILM_DIR --text /tmp/pair.txt --out /tmp/pg.npy --device cuda --quiet \
    && ./build/deftnn tokenize --model-dir $DEFTNN_MINILM_DIR --text /tmp/pair.txt; python3 tests/python/minilm_pair_transformers.py $DEFTNN_MINILM_DIR /tmp/pc.npy /tmp/pg.npy"
  cat "$OUT/diag-pair.log" | tee -a "$LOG"
fi
if has sanitize || has memcheck; then
  stage memcheck 150 compute-sanitizer --tool memcheck --error-exitcode 9 $T \
    --gtest_filter=${MEMCHECK_FILTER:-'LowpCuda.*:Tensor.*:AttentionLayer.*Cuda:MixedGemmGpu.ExactSmallIntegersAllFormats:MixedGemmGpu.StridedXAndY:Bert.TinyMatchesReferenceCuda:MixedBackendGpu.*-Tensor.GpuOutOfMemoryIsAnError'}
  tail -4 "$OUT/memcheck.log" | tee -a "$LOG"
fi
if has sanitize; then
  stage racecheck 90 compute-sanitizer --tool racecheck --error-exitcode 9 $T \
    --gtest_filter='MixedGemmGpu.StridedXAndY:LowpCuda.SmallIntegersAreExact:AttentionLayer.CudaMatchesReference'
  tail -3 "$OUT/racecheck.log" | tee -a "$LOG"
fi
if has bench; then
  stage bench-gemm 200 ./build/deftnn bench gemm --no-alexnet --reps 30 \
    --format cublas-bf16,lt-bf16,lt-fp8,mix-int8,mix-fp8,mix-deft8,mix-int4,mix-fp4 --out "$OUT/gemm-llama.json"
  cut -c1-150 "$OUT/bench-gemm.log" | tail -130 | tee -a "$LOG"
  if python3 -c "import torch" 2>/dev/null; then  # the PyTorch GEMM peers on the same shapes
    stage peers-gemm 150 python3 bench/peers/pytorch_gemm.py --out "$OUT/peers-gemm.json"
    tail -62 "$OUT/peers-gemm.log" | tee -a "$LOG"
  fi
  for p in fp32 bf16 fp8e4m3; do
    stage bench-caffenet-$p 60 ./build/deftnn bench models/caffenet-imc.json --batch 128 --precision $p --tag caffenet-b128-$p \
      --out "$OUT/caffenet-b128-$p.json"
    grep -iE "total|median" "$OUT/bench-caffenet-$p.log" | tail -3 | tee -a "$LOG"
  done
  # kernel mixed on the fully connected layers at batch 1 and 16 (selection by measurement)
  for b in 1 16; do
    stage bench-caffenet-b$b-bf16 60 ./build/deftnn bench models/caffenet-imc.json --batch $b --precision bf16 \
      --tag caffenet-b$b-bf16 --out "$OUT/caffenet-b$b-bf16.json"
    grep -iE "^fc|total" "$OUT/bench-caffenet-b$b-bf16.log" | tail -4 | tee -a "$LOG"
    for w in int8 int4; do
      stage bench-caffenet-b$b-$w 60 ./build/deftnn bench models/caffenet-imc.json --batch $b --precision bf16 \
        --weights $w --tag caffenet-b$b-mixed-$w --out "$OUT/caffenet-b$b-mixed-$w.json"
      grep -iE "^fc|total|^mixed" "$OUT/bench-caffenet-b$b-$w.log" | tail -8 | tee -a "$LOG"
    done
  done
  if [ -n "${DEFTNN_MINILM_DIR:-}" ]; then
    python3 -c "import gzip,json;c=json.load(gzip.open('tests/data/minilm_reference.json.gz'))['cases'];open('/tmp/s.txt','w').write(''.join(x['text'].replace('\n',' ')+'\n' for x in c)*4)"
    stage embed-cuda 60 bash -c "time ./build/deftnn embed $DEFTNN_MINILM_DIR --text /tmp/s.txt --out /tmp/e.npy --device cuda --batch 32"
    tail -4 "$OUT/embed-cuda.log" | tee -a "$LOG"
  fi
fi
if [ -n "${EXTRA:-}" ]; then  # further commands in this environment (ICU, MiniLM, build) with $OUT
  stage extra ${EXTRA_TIMEOUT:-300} bash -c "$EXTRA"
  tail -${EXTRA_TAIL:-60} "$OUT/extra.log" | cut -c1-200 | tee -a "$LOG"
fi
if has full; then
  stage ctest 200 bash -c "cd build && ctest -j 8 --timeout 180 --output-on-failure"
  grep -E "tests passed|FAILED|Failed|\*\*\*" "$OUT/ctest.log" | head -30 | tee -a "$LOG"
fi
say "done"
# At most 8 files come back from a device call: the logs go in one archive.
# Logs and the ncu CSVs (stall reasons, memory tables) travel in one tarball.
( cd "$OUT" && tar -czf logs.tar.gz --exclude=session.log *.log $(ls *.csv 2>/dev/null) &&
  find . \( -name '*.log' -o -name '*.csv' \) ! -name session.log -delete
  if ls *.json >/dev/null 2>&1; then tar -czf results.tar.gz *.json && rm -f *.json; fi )
