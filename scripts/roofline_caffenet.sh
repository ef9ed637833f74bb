#!/usr/bin/env bash
# The roofline runs of docs/bottlenecks.md on the GPU machine (build/ built):
# CaffeNet with bf16 tensor cores at batch 128, dense and SVE 50%; at batch 1,
# dense, fission (mixed-input int8 weights in fc6/fc7) and both (SVE 50% +
# int8). Each run measures its own ceilings and writes $OUT/roofline-<tag>.json
# (+ a PNG beside it when python3 has matplotlib); then one plot per batch of
# all its runs. With NCU=1 also Nsight Compute on the GEMM kernels of the
# batch-128 runs (scripts/ncu_gemms.sh), when ncu is installed.
# Environment: OUT (default out), REPS (default 50), STEP_TIMEOUT seconds per run (default 120).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
REPS=${REPS:-50}
STEP_TIMEOUT=${STEP_TIMEOUT:-120}
BIN=./build/deftnn
MODEL=models/caffenet-imc.json
INT8="fc6=int8,fc7=int8"
fail=0
run() {  # run TAG ARGS...: one roofline run, its log in $OUT/roofline-TAG.log
  local tag=$1
  shift
  local t0=$SECONDS
  timeout "$STEP_TIMEOUT" "$BIN" bench "$MODEL" --roofline --reps "$REPS" --tag "$tag" "$@" \
    --out "$OUT/roofline-$tag.json" >"$OUT/roofline-$tag.log" 2>&1
  local rc=$?
  echo "roofline $tag: rc=$rc ($((SECONDS - t0)) s)"
  [ $rc -eq 0 ] || { tail -20 "$OUT/roofline-$tag.log"; fail=1; }
}
run b128-dense-bf16 --batch 128 --precision bf16
run b128-sve50-bf16 --batch 128 --precision bf16 --density 0.5
run b1-dense-bf16 --batch 1 --precision bf16
run b1-fission-int8 --batch 1 --precision bf16 --weights "$INT8"
run b1-both-sve50-int8 --batch 1 --precision bf16 --weights "$INT8" --density 0.5

plot() {  # plot NAME JSON...: the runs that exist, side by side
  local name=$1
  shift
  local files=()
  for f in "$@"; do [ -f "$f" ] && files+=("$f"); done
  [ ${#files[@]} -gt 0 ] || return 0
  if python3 -c "import matplotlib" >/dev/null 2>&1; then
    python3 scripts/plot_roofline.py "$OUT/$name.png" "${files[@]}" || fail=1
  else
    echo "plot $name skipped: python3 has no matplotlib here; on a machine with it:"
    echo "  python3 scripts/plot_roofline.py $name.png ${files[*]##*/}"
  fi
}
plot roofline-b128 "$OUT/roofline-b128-dense-bf16.json" "$OUT/roofline-b128-sve50-bf16.json"
plot roofline-b1 "$OUT/roofline-b1-dense-bf16.json" "$OUT/roofline-b1-fission-int8.json" \
  "$OUT/roofline-b1-both-sve50-int8.json"
if [ "${NCU:-0}" = 1 ]; then
  OUT="$OUT" bash scripts/ncu_gemms.sh b128-dense-bf16 --batch 128 --precision bf16 || fail=1
  OUT="$OUT" bash scripts/ncu_gemms.sh b128-sve50-bf16 --batch 128 --precision bf16 --density 0.5 || fail=1
fi
exit $fail
