#!/usr/bin/env bash
# The encoder on the GPU per precision (issue 10: dense bf16 against
# torch.compile bf16, and SVE beside it), run as gpu_session.sh's EXTRA (its
# environment: the build, DEFTNN_MINILM_DIR from the .carry-minilm carry):
#   PARTS="bench kernels"  deftnn bench embed --precision fp32,bf16,fp16 with
#                          densities 0.7/0.5/0.4 (CUDA graph replay), and the
#                          time of every kernel of one dense pass per
#                          precision (ncu, gpu__time_duration) grouped by name
#   PARTS="peers"          bench/peers/pytorch_encoder.py (eager fp32/bf16,
#                          torch.compile bf16) with its kernel lists
# JSON and CSVs to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}; mkdir -p "$OUT"
PARTS=${PARTS:-"bench kernels"}
M=${DEFTNN_MINILM_DIR:?no MiniLM (carry .carry-minilm)}
has() { [[ " $PARTS " == *" $1 "* ]]; }
if has bench; then
  timeout 200 ./build/deftnn bench embed "$M" --precision fp32,bf16,fp16 --density 0.7,0.5,0.4 --reps 30 --quiet \
    --out "$OUT/embed-minilm-precisions.json"
  echo "bench embed rc=$?"
fi
if has kernels; then
  NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
  for p in fp32 bf16; do
    timeout 150 "$NCU" --metrics gpu__time_duration.sum --csv --print-units base \
      ./build/deftnn bench embed "$M" --precision $p --dense-only --no-graph --reps 1 --warmup 0 --quiet \
      --out /tmp/ncu-embed.json > "$OUT/ncu-embed-$p.csv" 2> "$OUT/ncu-embed-$p.err"
    echo "ncu embed $p rc=$?"
    # Three eager passes ran (sizing, the nonzero check, one timed): per pass, by kernel name.
    python3 - "$OUT/ncu-embed-$p.csv" $p <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: print("no ncu rows"); sys.exit()
h = rows[0]; ki, vi, mi = h.index("Kernel Name"), h.index("Metric Value"), h.index("Metric Name")
t, n = collections.defaultdict(float), collections.Counter()
for r in rows[1:]:
    if r[mi] != "gpu__time_duration.sum": continue
    k = r[ki][:90]; t[k] += float(r[vi].replace(",", "")) / 3e3; n[k] += 1
tot = sum(t.values())
print(f"{sys.argv[2]}: kernels of one pass {tot:.1f} us ({sum(n.values()) // 3} launches)")
for k, v in sorted(t.items(), key=lambda kv: -kv[1])[:16]:
    print(f"  {v:8.1f} us {100 * v / tot:5.1f}%  {n[k] // 3:3d}x  {k}")
PY
  done
fi
if has peers && python3 -c "import torch, transformers" 2>/dev/null; then
  timeout 400 python3 bench/peers/pytorch_encoder.py "$M" --profile --out "$OUT/peers-encoder.json"
  echo "peers rc=$?"
fi
exit 0
