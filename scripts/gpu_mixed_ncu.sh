#!/usr/bin/env bash
# Nsight Compute's full section set on the mixed-input kernel at one token
# (int8 and int4, 4096x4096): where its warps stall (WarpStateStats, and the
# per-instruction stall samples of SourceCounters), memory tables, occupancy.
# The question it answers: why the kernel reads its weights at 38% of the
# DRAM peak (docs/fission.md, "Tried and removed: a few-token kernel").
# CSVs in $OUT/ncu-mixed-<format>-{details,raw}.csv (gpu_session.sh packs them).
#   STAGES="build" DEADLINE=300 EXTRA='bash scripts/gpu_mixed_ncu.sh' EXTRA_TIMEOUT=200 OUT=$OUT bash scripts/gpu_session.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -z "$NCU" ] && { echo "ncu: not installed"; exit 0; }
for f in int8 int4; do
  timeout 90 "$NCU" --set full --import-source no -k regex:mixed -c 1 --export "/tmp/ncu-mixed-$f" --force-overwrite \
    ./build/deftnn bench gemm --no-alexnet --no-llm --only-shape --m 4096 --n 1 --k 4096 --format "mix-$f" --reps 5 \
    --out /tmp/ncu-gemm.json > "$OUT/ncu-mixed-$f.log" 2>&1
  echo "ncu $f rc=$?"
  "$NCU" --import "/tmp/ncu-mixed-$f.ncu-rep" --csv --page details > "$OUT/ncu-mixed-$f-details.csv" 2>&1
  "$NCU" --import "/tmp/ncu-mixed-$f.ncu-rep" --csv --page raw > "$OUT/ncu-mixed-$f-raw.csv" 2>&1
  grep -E '"(Duration|DRAM Throughput|Achieved Occupancy|Registers Per Thread|Warp Cycles Per Issued Instruction|L2 Hit Rate|Mem Busy|Max Bandwidth|Issue Slots Busy)"' \
    "$OUT/ncu-mixed-$f-details.csv" | awk -F'","' '{print $(NF-2), $(NF-1), $NF}' | head -12
  # The stall reasons, largest first (cycles per issued instruction spent in each).
  python3 - "$OUT/ncu-mixed-$f-raw.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
hdr = next((r for r in rows if any("issue_stalled_" in c for c in r)), None)
if not hdr:
    print("no stall metrics in the raw page"); sys.exit()
i = rows.index(hdr); vals = rows[i + 2] if len(rows) > i + 2 else []
st = []
for k, v in zip(hdr, vals):
    if "issue_stalled_" in k and k.endswith(".ratio") and "not_issued" not in k:
        name = k.split("issue_stalled_", 1)[1].split("_per_")[0].removesuffix(".ratio")
        try: st.append((float(v.replace(",", "")), name, k.split("__")[1].split("_issue")[0]))
        except ValueError: pass
for v, k, kind in sorted(st, reverse=True)[:10]: print(f"stall {k} ({kind}): {v:.3f}")
PY
done
exit 0
