#!/usr/bin/env bash
# Issue 2's speed check on a GPU machine: builds, runs the GPU tests of the
# inference fusion and im2col, then benchmarks CaffeNet (random weights, fp32
# cuBLAS baseline) at batch 128 and 1, before (scalar im2col, no fusion) and
# after, and prints each layer's kernels. Reports go to ${OUT:-bench/results}.
# Targets: batch 128 <= 5.5 ms, batch 1 <= 0.35 ms (the "total" line).
set -u
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >"$OUT/cfg.log" 2>&1 || { tail -20 "$OUT/cfg.log"; exit 1; }
cmake --build build -j"$(nproc)" >"$OUT/build.log" 2>&1 || { grep -E "error" -A3 "$OUT/build.log" | head -40; exit 1; }
./build/tests/deftnn_tests --gtest_filter='Im2col*:NetFusion*:NetCuda*:*Conv*:*Linear*:*Relu*:*Dropout*:*Bench*' \
  >"$OUT/tests.log" 2>&1
grep -E "FAILED|PASSED|tests ran" "$OUT/tests.log" | head -20
B=./build/deftnn
M=models/caffenet-imc.json
DEFTNN_IM2COL_SCALAR=1 $B bench $M -b 128 --no-fuse --tag before -o "$OUT/b128-before.json" | tail -28
$B bench $M -b 128 --tag after -o "$OUT/b128-after.json" | tail -28
DEFTNN_IM2COL_SCALAR=1 $B bench $M -b 1 --no-fuse --tag before -o "$OUT/b1-before.json" | tail -3
$B bench $M -b 1 --tag after -o "$OUT/b1-after.json" | tail -28
python3 - "$OUT/b128-before.json" "$OUT/b128-after.json" "$OUT/b1-after.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    for r in json.load(open(f))["runs"]:
        print(f"== {f} {r.get('tag')} batch {r.get('batch')} total {r['total']['median_ms']:.4f} ms")
        for l in r["layers"]:
            ks = "; ".join(f"{k['name'][:48]} x{k['calls']} {k['total_us']:.1f}us" for k in l.get("kernels", []))
            print(f"  {l['name']:<6} {l['time']['median_ms']:.4f}  {ks}")
PY
