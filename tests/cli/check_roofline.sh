#!/usr/bin/env bash
# `deftnn bench --roofline` on the CPU (no GPU to measure ceilings against):
# it must write the counted FLOPs and bytes (schema deftnn.bench.roofline/1,
# "skipped" saying why, "ceilings": null), say SKIPPED on stderr, and exit 0;
# with --compare it must refuse, naming the way to compare variants. LeNet's
# conv1 at batch 2: 2 x 20 x (2 x 576) x 25 = 1152000 FLOPs, 6272 + 2080 +
# 92160 = 100512 compulsory bytes. A branching graph (resnet-tiny: adds) and
# --density (SVE) count too.
# Usage: check_roofline.sh path/to/deftnn
set -u
BIN=$1
ROOT="$(dirname "$0")/../.."
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() {  # check NAME FILE WORDS
  if grep -qF -- "$3" "$2"; then echo "ok   $1"; else echo "FAIL $1: no '$3' in $2:"; head -c 2000 "$2"; fail=1; fi
}
"$BIN" bench "$ROOT/models/lenet.json" --roofline --device cpu --batch 2 --out "$T/r.json" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && echo "ok   exit 0" || { echo "FAIL exit $rc"; cat "$T/out" "$T/err"; fail=1; }
check skipped-loudly "$T/err" "SKIPPED the ceilings, timing and placement"
check table "$T/out" "counted FLOPs and bytes"
check schema "$T/r.json" '"schema": "deftnn.bench.roofline/1"'
check reason "$T/r.json" '"skipped": "the roofline needs a GPU'
check no-ceilings "$T/r.json" '"ceilings": null'
check conv1-flops "$T/r.json" '"flops": 1152000'
check conv1-bytes "$T/r.json" '"compulsory_bytes": 100512'

"$BIN" bench "$ROOT/models/examples/resnet-tiny.json" --roofline --device cpu --batch 2 --out "$T/res.json" \
  >"$T/out2" 2>&1 && check branching "$T/res.json" '"type": "add"' || { echo "FAIL resnet-tiny"; cat "$T/out2"; fail=1; }
"$BIN" bench "$ROOT/models/lenet.json" --roofline --device cpu --batch 2 --density 0.5 --out "$T/sve.json" \
  >"$T/out3" 2>&1 && check sve "$T/sve.json" '"sve_density"' || { echo "FAIL density"; cat "$T/out3"; fail=1; }

if "$BIN" bench "$ROOT/models/lenet.json" --roofline --compare --device cpu --out "$T/c.json" >"$T/out4" 2>&1; then
  echo "FAIL --roofline --compare was accepted"; fail=1
else
  check compare-refused "$T/out4" "--roofline places one configuration"
fi
[ ! -e "$T/c.json" ] && echo "ok   nothing written when refused" || { echo "FAIL a refused run wrote"; fail=1; }
exit $fail
