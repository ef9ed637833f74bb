#!/usr/bin/env bash
# The CLI on a branching graph (models/examples/resnet-tiny.json: residual
# adds): inspect, bench, then train, eval, optimize and bench the result on
# the CPU, each at its smallest (a Fashion-MNIST subset of 768 training and
# 256 test images, one epoch, two fine-tuning iterations), in a few seconds.
# The steps that need data exit 77 (skipped) when Fashion-MNIST is missing.
# Usage: check_graph_tools.sh path/to/deftnn
set -u
BIN=$1
MODEL="$(dirname "$0")/../../models/examples/resnet-tiny.json"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
# run NAME WORDS -- COMMAND...: exit 0 and WORDS in stdout + stderr.
run() {
  local name=$1 words=$2
  shift 3
  local out
  out=$("$@" 2>&1)
  local rc=$?
  if [ $rc -ne 0 ]; then echo "FAIL $name: exit $rc: $out"; fail=1; return; fi
  if ! grep -qF -- "$words" <<<"$out"; then echo "FAIL $name: no '$words' in: $out"; fail=1; return; fi
  echo "ok   $name"
}
run inspect "b1_conv2, pool -> b1_add" -- "$BIN" inspect "$MODEL"
run inspect-json '"b2_conv2",' -- "$BIN" inspect --json "$MODEL"
BENCH=(--device cpu --batch 2 --reps 2 --warmup 1 --no-kernel-names)
run bench "b2_add" -- "$BIN" bench "$MODEL" "${BENCH[@]}" --out "$T/bench.json"
run bench-density "speedup" -- "$BIN" bench "$MODEL" "${BENCH[@]}" --density 0.5 --compare --out "$T/density.json"
# Channel granularity in bench: each eliminated conv keeps whole input channels
# (kept a multiple of its group kh*kw = 9, group recorded), tagged "-ch".
run bench-density-channel "speedup" -- "$BIN" bench "$MODEL" "${BENCH[@]}" --density 0.5 --granularity channel \
  --compare --out "$T/density-ch.json"
run bench-density-channel-json "channel ok" -- python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
s = r["extra"]["sve_density"] if "extra" in r else r["sve_density"]
assert s["granularity"] == "channel", s["granularity"]
convs = [l for l in s["layers"] if l["group"] > 1]
assert convs, s["layers"]
for l in convs: assert l["group"] == 9 and l["kept"] % 9 == 0 and l["kept"] < l["k"], l
print("channel ok")' "$T/density-ch.json"
run bench-granularity-alone "give --density too" -- bash -c \
  "! '$BIN' bench '$MODEL' --device cpu --granularity channel --out '$T/x.json' 2>&1"

# optimize --no-finetune: the fixed-density path, no data needed (so before
# the data check), on the graph exported to ONNX (optimize takes model files
# and ONNX, not graphs). Channel granularity: every eligible conv keeps 4 of
# its 8 input channels; resnet-tiny's stem (the input layer) stays dense.
if "$BIN" export "$MODEL" --onnx "$T/probe.onnx" --seed 3 2>&1 | grep -q "built without ONNX"; then
  # The GPU machine has no libonnx-dev: these steps need ONNX export and import.
  echo "skipped export-tiny, optimize-fixed and its refusals: this deftnn was built without ONNX"
else
  run export-tiny "nodes" -- "$BIN" export "$MODEL" --onnx "$T/tiny.onnx" --seed 3
  run optimize-fixed "eliminated 6 layers of" -- "$BIN" optimize "$T/tiny.onnx" --no-finetune --density 0.5 \
    --granularity channel --method sve --min-layer-flops 0 --device cpu --out "$T/fixed.safetensors"
  run inspect-fixed "4/8 ch (36/72)" -- "$BIN" inspect "$T/fixed.safetensors"
  run export-fixed "nodes" -- "$BIN" export "$T/fixed.safetensors" --onnx "$T/fixed.onnx"
  # Refusals: one density only, sve-ls (it needs data), a target (no frontier).
  run fixed-two-densities "give exactly one --density (got 2)" -- bash -c \
    "'$BIN' optimize '$T/tiny.onnx' --no-finetune --density 0.5,0.3 --out '$T/x.safetensors' 2>&1; true"
  run fixed-sve-ls "use --method sve" -- bash -c \
    "'$BIN' optimize '$T/tiny.onnx' --no-finetune --density 0.5 --method sve-ls --out '$T/x.safetensors' 2>&1; true"
  run fixed-target "--target excludes --no-finetune" -- bash -c \
    "'$BIN' optimize '$T/tiny.onnx' --no-finetune --density 0.5 --target 0.9 --out '$T/x.safetensors' 2>&1; true"
  [ -e "$T/x.safetensors" ] && { echo "FAIL fixed refusals: a model file was written"; fail=1; }
  # Unlabelled inputs (.npy): the dense model labels them; then the search and
  # fine-tuning at their smallest. A wrong shape is refused, naming the file.
  PY="$(dirname "$0")/../python/pyrun.sh"
  if bash "$PY" "$(dirname "$0")/../.." -c "import numpy as np; r = np.random.default_rng(1)
np.save('$T/x.npy', r.standard_normal((96, 1, 28, 28)).astype(np.float32))
np.save('$T/x3.npy', r.standard_normal((96, 3, 28, 28)).astype(np.float32))" 2>/dev/null; then
    run optimize-npy "96 inputs labelled by the dense model's top-1" -- "$BIN" optimize "$T/tiny.onnx" --data "$T/x.npy" \
      --device cpu --threads 1 --density 0.5 --iters 2 --batch 16 --joint-iters 2 --stats-images 32 --time-batch 2 \
      --time-reps 1 --time-rounds 1 --out "$T/npy.safetensors" --report "$T/npy-report"
    run inspect-npy "resnet-tiny" -- "$BIN" inspect "$T/npy.safetensors"
    run optimize-npy-shape "the model 'resnet-tiny' takes (N, 1, 28, 28) inputs" -- bash -c \
      "'$BIN' optimize '$T/tiny.onnx' --data '$T/x3.npy' --device cpu --out '$T/x3.safetensors' 2>&1; true"
    [ -e "$T/x3.safetensors" ] && { echo "FAIL optimize-npy-shape: a model file was written"; fail=1; }
  else
    echo "skipped optimize-npy: no numpy for the test's inputs"
  fi
  # An image folder as --data (PNGs written here with Python's zlib, no
  # imaging package): one subfolder per class (10, sorted names are the
  # classes), grey 28x28 and RGB 40x32 (converted to grey, resized and
  # cropped), a README skipped; then a flat folder labelled by the dense
  # model, and the refusals: a class count that is not the model's, a
  # truncated PNG (named), an empty folder, --mean beside an .npy.
  if bash "$PY" "$(dirname "$0")/../.." -c "
import random, struct, zlib, os
def png(path, w, h, ch, px):
    chunk = lambda k, d: struct.pack('>I', len(d)) + k + d + struct.pack('>I', zlib.crc32(k + d))
    rows = b''.join(b'\\0' + bytes(px[y * w * ch:(y + 1) * w * ch]) for y in range(h))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, {1: 0, 3: 2}[ch], 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
r = random.Random(1)
for c in range(10):
    for i in range(4):
        w, h, ch = (28, 28, 1) if i % 2 else (40, 32, 3)
        png(f'$T/imgcls/class{c}/{i}.png', w, h, ch, [r.randrange(256) for _ in range(w * h * ch)])
open('$T/imgcls/README.txt', 'w').write('not an image')
for i in range(24):
    png(f'$T/imgflat/{i:02d}.png', 28, 28, 1, [r.randrange(256) for _ in range(784)])
for c in range(3):
    png(f'$T/img3/c{c}/0.png', 28, 28, 1, [r.randrange(256) for _ in range(784)])
os.makedirs('$T/imgempty')
good = open('$T/imgflat/00.png', 'rb').read()
os.makedirs('$T/imgbad')
for i in range(16): open(f'$T/imgbad/{i:02d}.png', 'wb').write(good)
open('$T/imgbad/05.png', 'wb').write(good[:len(good) // 2])" 2>/dev/null; then
    IMG=(--device cpu --threads 1 --density 0.5 --iters 2 --batch 16 --joint-iters 2 --stats-images 16 --time-batch 2
         --time-reps 1 --time-rounds 1)
    if "$BIN" optimize "$T/tiny.onnx" --data "$T/imgempty" --device cpu --out "$T/x.safetensors" 2>&1 |
       grep -q "built without image support"; then
      echo "skipped optimize-images: this deftnn was built without libpng / libjpeg"
    else
      run optimize-image-classes "40 images in 10 class folders (class0 ... class9) (1 skipped: not .png" -- \
        "$BIN" optimize "$T/tiny.onnx" --data "$T/imgcls" --mean 0.5 --std 0.25 "${IMG[@]}" \
        --out "$T/imgcls.safetensors" --report "$T/imgcls-report"
      run optimize-image-flat "24 images labelled by the dense model's top-1" -- "$BIN" optimize "$T/tiny.onnx" \
        --data "$T/imgflat" "${IMG[@]}" --out "$T/imgflat.safetensors" --report "$T/imgflat-report"
      run optimize-image-classes-count "3 class folders (c0 ... c2) but the model 'resnet-tiny' has 10 outputs" -- \
        bash -c "'$BIN' optimize '$T/tiny.onnx' --data '$T/img3' --device cpu --out '$T/x.safetensors' 2>&1; true"
      run optimize-image-corrupt "imgbad/05.png: not a valid PNG" -- \
        bash -c "'$BIN' optimize '$T/tiny.onnx' --data '$T/imgbad' --device cpu --out '$T/x.safetensors' 2>&1; true"
      run optimize-image-empty "imgempty: the folder holds no images" -- \
        bash -c "'$BIN' optimize '$T/tiny.onnx' --data '$T/imgempty' --device cpu --out '$T/x.safetensors' 2>&1; true"
      [ -e "$T/x.safetensors" ] && { echo "FAIL optimize-image refusals: a model file was written"; fail=1; }
    fi
    if [ -e "$T/x.npy" ]; then
      # --resize S: the shorter side to S, then the centre crop (recorded in
      # the model's data metadata); below the input's size it is refused.
      run optimize-image-resize "24 images labelled by the dense model's top-1" -- "$BIN" optimize "$T/tiny.onnx" \
        --data "$T/imgflat" "${IMG[@]}" --resize 32 --out "$T/imgresize.safetensors" --report "$T/imgresize-report"
      run optimize-image-resize-small "give --resize >= 28" -- bash -c \
        "'$BIN' optimize '$T/tiny.onnx' --data '$T/imgflat' --resize 20 --device cpu --out '$T/x.safetensors' 2>&1; true"
      run optimize-npy-mean "--mean, --std and --resize preprocess an image folder" -- bash -c \
        "'$BIN' optimize '$T/tiny.onnx' --data '$T/x.npy' --mean 0.5 --device cpu --out '$T/x.safetensors' 2>&1; true"
    fi
  else
    echo "skipped optimize-images: no python3 to write the test's PNG files"
  fi
fi

# A subset of Fashion-MNIST: the first N images and labels of a split, with
# the IDX header's count rewritten.
DATA=${DEFTNN_DATA_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "skipped train, eval, optimize: no Fashion-MNIST in $DATA"
  [ $fail -eq 0 ] && exit 77
  exit $fail
fi
be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
subset() {  # PREFIX COUNT
  local p=$1 n=$2
  { printf "\\x00\\x00\\x08\\x03$(be32 "$n")\\x00\\x00\\x00\\x1c\\x00\\x00\\x00\\x1c"
    gzip -dc "$DATA/$p-images-idx3-ubyte.gz" | tail -c +17 | head -c $((n * 784)); } | gzip -n >"$T/data/$p-images-idx3-ubyte.gz"
  { printf "\\x00\\x00\\x08\\x01$(be32 "$n")"
    gzip -dc "$DATA/$p-labels-idx1-ubyte.gz" | tail -c +9 | head -c "$n"; } | gzip -n >"$T/data/$p-labels-idx1-ubyte.gz"
}
mkdir -p "$T/data"
subset train 768
subset t10k 256
D=(--data "$T/data" --device cpu --threads 1)
run train "256 images" -- "$BIN" train "$MODEL" "${D[@]}" --epochs 1 --batch 64 --val 256 --checkpoint none \
  --out "$T/rt.safetensors"
run eval "test accuracy" -- "$BIN" eval "$T/rt.safetensors" "${D[@]}"
run optimize "model written to $T/rt.sve.safetensors" -- "$BIN" optimize "$T/rt.safetensors" "${D[@]}" --quiet \
  --density 0.5 --iters 2 --batch 16 --joint-iters 2 --stats-images 64 --time-batch 2 --time-reps 1 --time-rounds 1 \
  --out "$T/rt.sve.safetensors" --report "$T/report"
run eval-sve "test accuracy" -- "$BIN" eval "$T/rt.sve.safetensors" "${D[@]}"
run bench-sve "speedup" -- "$BIN" bench "$T/rt.safetensors" --sve "$T/rt.sve.safetensors" --compare "${BENCH[@]}" \
  --out "$T/sve.json"
# Accuracy per number format (scripts/format_accuracy.py): every configuration
# of both models evaluated (CPU emulation), none failed, the JSON complete.
run format-accuracy "bf16 + weights int4" -- python3 "$(dirname "$0")/../../scripts/format_accuracy.py" --bin "$BIN" \
  --data "$T/data" --no-plot --out "$T/fmt" "$T/rt.safetensors" "$T/rt.sve.safetensors"
run format-accuracy-json "formats ok" -- python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["complete"] and len(r["rows"]) == 22, (r["complete"], len(r["rows"]))
bad = [x for x in r["rows"] if "error" in x or not 0 <= x["test_acc"] <= 1]
assert not bad, bad
print("formats ok")' "$T/fmt.json"
# The optimiser's own SVE model (optimize's kept sets, swap order and all)
# exported to ONNX and run by ONNX Runtime against `deftnn run`, when this
# build has ONNX and the repository's .venv has onnxruntime.
PY="$(dirname "$0")/../../.venv/bin/python"
if "$BIN" export "$T/rt.sve.safetensors" --onnx "$T/rt.sve.onnx" >"$T/export.log" 2>&1; then
  if [ -x "$PY" ] && "$PY" -c "import onnxruntime, numpy" 2>/dev/null; then
    "$PY" -c "import numpy as np; np.save('$T/x.npy', np.random.default_rng(3).standard_normal((2, 1, 28, 28)).astype(np.float32))"
    run run-sve "wrote" -- "$BIN" run "$T/rt.sve.safetensors" --input "$T/x.npy" --output "$T/y.npy" --device cpu
    # tolerance: check_onnx_export.py's 16 eps32 sqrt(K) D, K = 144 (8 channels x 3 x 3), D = 7
    run export-sve-ort "matches" -- "$PY" -c "
import numpy as np, onnxruntime as ort
s = ort.InferenceSession('$T/rt.sve.onnx', providers=['CPUExecutionProvider'])
y = s.run(None, {s.get_inputs()[0].name: np.load('$T/x.npy')})[0]; ref = np.load('$T/y.npy')
err = float(np.abs(y - ref).max() / np.abs(ref).max()); tol = 16 * 2.0**-23 * 144**0.5 * 7
print(('matches' if err <= tol else 'differs'), f'err {err:.2e} tol {tol:.2e}')"
  else
    echo "skipped export-sve-ort: no onnxruntime in $PY"
  fi
elif grep -q "built without ONNX" "$T/export.log"; then
  echo "skipped export-sve: $(cat "$T/export.log")"
else
  echo "FAIL export-sve: $(cat "$T/export.log")"; fail=1
fi
# Channel granularity end to end: optimize --granularity channel, the fastest
# point selected (an eliminated one); inspect names the kept channels; the
# export runs in ONNX Runtime like deftnn and its convs read fewer channels
# (the residual adds stop producer shrinking there, so some Gathers stay).
run optimize-channel "model written to $T/ch.sve.safetensors" -- "$BIN" optimize "$T/rt.safetensors" "${D[@]}" \
  --quiet --granularity channel --density 0.5 --iters 2 --batch 16 --joint-iters 2 --stats-images 64 --time-batch 2 \
  --time-reps 1 --time-rounds 1 --target-speedup 1000 --out "$T/ch.sve.safetensors" --report "$T/report-ch"
run inspect-channel " ch (" -- "$BIN" inspect "$T/ch.sve.safetensors"
run optimize-bad-granularity "unknown SVE granularity 'filter'" -- bash -c \
  "'$BIN' optimize '$T/rt.safetensors' --granularity filter 2>&1; true"
if "$BIN" export "$T/ch.sve.safetensors" --onnx "$T/ch.sve.onnx" >"$T/export-ch.log" 2>&1 && [ -x "$PY" ] &&
   "$PY" -c "import onnxruntime, numpy, onnx" 2>/dev/null; then
  run run-channel "wrote" -- "$BIN" run "$T/ch.sve.safetensors" --input "$T/x.npy" --output "$T/ych.npy" --device cpu
  run export-channel-ort "matches" -- "$PY" -c "
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper
s = ort.InferenceSession('$T/ch.sve.onnx', providers=['CPUExecutionProvider'])
y = s.run(None, {s.get_inputs()[0].name: np.load('$T/x.npy')})[0]; ref = np.load('$T/ych.npy')
err = float(np.abs(y - ref).max() / np.abs(ref).max()); tol = 16 * 2.0**-23 * 144**0.5 * 7
w = {t.name: t.dims for t in onnx.load('$T/ch.sve.onnx').graph.initializer if t.name.endswith('.weight')}
narrow = [n for n, d in w.items() if len(d) == 4 and d[1] < 8 and n != 'stem.weight']
print(('matches' if err <= tol and narrow else 'differs'), f'err {err:.2e} tol {tol:.2e}; convs reading fewer channels: {narrow}')"
else
  echo "skipped export-channel-ort: $(cat "$T/export-ch.log" 2>/dev/null | tail -1)"
fi
exit $fail
