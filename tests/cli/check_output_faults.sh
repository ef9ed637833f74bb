#!/usr/bin/env bash
# Output faults through the CLI: an output path that is a folder, under a
# regular file, in a missing or read-only folder, or on a full disk. Each run
# must exit 1 within 10 s (before any long work), name the path, and leave
# nothing behind. Then, with Fashion-MNIST: eval writes nothing beside its
# input (a read-only folder), eval refuses NaN weights, and a training run
# killed with -9 while it writes checkpoints resumes to the bit-identical
# model of an uninterrupted run (the killed run's temporary file is removed).
# Usage: check_output_faults.sh path/to/deftnn
set -u
BIN=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
MOUNTS=()
cleanup() {
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
  chmod -R u+w "$T" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail=0
n=0
# run NAME PATH WORDS -- COMMAND...: exit 1 within 10 s, PATH and WORDS in stderr.
run() {
  local name=$1 path=$2 words=$3
  shift 4
  local err rc
  err=$(timeout 10 "$@" 2>&1 >/dev/null)
  rc=$?
  n=$((n + 1))
  if [ $rc -ne 1 ]; then echo "FAIL $name: exit $rc (want 1): $(head -c 300 <<<"$err")"; fail=1; return; fi
  if ! grep -qF -- "$path" <<<"$err"; then echo "FAIL $name: '$path' not named in: $(head -c 300 <<<"$err")"; fail=1; return; fi
  if ! grep -qF -- "$words" <<<"$err"; then echo "FAIL $name: no '$words' in: $(head -c 300 <<<"$err")"; fail=1; return; fi
  echo "ok   $name: $(head -c 200 <<<"$err")"
}
# no_leftovers NAME DIR: DIR holds no file but those listed after it.
no_leftovers() {
  local name=$1 dir=$2
  shift 2
  local left
  left=$(cd "$dir" && ls -A | grep -vxF -f <(printf '%s\n' "$@" .) || true)
  if [ -n "$left" ]; then echo "FAIL $name: left behind in $dir: $left"; fail=1; fi
}
GRAPH=$SRC/models/lenet.json
BENCH=(--device cpu --batch 1 --reps 1 --warmup 1 --no-kernel-names)
python3 -c "import struct; h=b\"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }\"; h=h.ljust(117)+b'\n'; open('$T/x.npy','wb').write(b'\x93NUMPY\x01\x00'+struct.pack('<H',len(h))+h+bytes(4*784))"
mkdir -p "$T/w" "$T/w/isdir.json" "$T/w/isdir.safetensors" "$T/w/isdir.npy"
touch "$T/w/plain"
# Target is a folder; the parent is a regular file; the folder is missing.
run bench-out-is-dir "$T/w/isdir.json" "it is a folder" -- "$BIN" bench "$GRAPH" "${BENCH[@]}" --out "$T/w/isdir.json"
run bench-parent-file "$T/w/plain" "Not a directory" -- "$BIN" bench "$GRAPH" "${BENCH[@]}" --out "$T/w/plain/r.json"
run train-out-is-dir "$T/w/isdir.safetensors" "it is a folder" -- "$BIN" train "$GRAPH" --data "$T/nodata" --out "$T/w/isdir.safetensors"
run train-parent-file "$T/w/plain" "Not a directory" -- "$BIN" train "$GRAPH" --data "$T/nodata" --out "$T/w/plain/m.safetensors"
run train-ckpt-is-dir "$T/w/isdir.safetensors" "it is a folder" -- "$BIN" train "$GRAPH" --data "$T/nodata" --out "$T/w/m.safetensors" --checkpoint "$T/w/isdir.safetensors"
run run-out-is-dir "$T/w/isdir.npy" "it is a folder" -- "$BIN" run "$GRAPH" --device cpu --input "$T/x.npy" --output "$T/w/isdir.npy"
run run-parent-file "$T/w/plain" "not a folder" -- "$BIN" run "$GRAPH" --device cpu --input "$T/x.npy" --output "$T/w/plain/y.npy"
run run-missing-folder "$T/w/none" "does not exist" -- "$BIN" run "$GRAPH" --device cpu --input "$T/x.npy" --output "$T/w/none/y.npy"
run run-dev-full "/dev/full" "not a regular file" -- "$BIN" run "$GRAPH" --device cpu --input "$T/x.npy" --output /dev/full
run bench-dev-full "/dev/full" "output folder" -- "$BIN" bench "$GRAPH" "${BENCH[@]}" --out /dev/full
no_leftovers out-faults "$T/w" isdir.json isdir.safetensors isdir.npy plain

# Full disk, emulated by a file-size limit (write() fails part-way with EFBIG,
# as with ENOSPC): no report, no temporary file.
mkdir "$T/full"
run bench-full-disk "$T/full/r.json" "nothing written" -- bash -c 'ulimit -f 1; trap "" XFSZ; exec "$@"' x \
  "$BIN" bench "$GRAPH" "${BENCH[@]}" --out "$T/full/r.json"
run run-full-disk "$T/full/y.npy" "nothing written" -- bash -c 'ulimit -f 0; trap "" XFSZ; exec "$@"' x \
  "$BIN" run "$GRAPH" --device cpu --input "$T/x.npy" --output "$T/full/y.npy"
no_leftovers full-disk-ulimit "$T/full"
# A real full disk and a read-only folder: small tmpfs mounts, where this
# machine lets us mount (root with CAP_SYS_ADMIN); otherwise a visible skip.
RO=""
mkdir -p "$T/tiny" "$T/ro"
if mount -t tmpfs -o size=16k tmpfs "$T/tiny" 2>/dev/null; then
  MOUNTS+=("$T/tiny")
  head -c 1M /dev/zero >"$T/tiny/fill" 2>/dev/null  # fills the disk
  run bench-tmpfs-full "$T/tiny/r.json" "No space left" -- "$BIN" bench "$GRAPH" "${BENCH[@]}" --out "$T/tiny/r.json"
  no_leftovers tmpfs-full "$T/tiny" fill
  if mount -t tmpfs -o ro,size=16m tmpfs "$T/ro" 2>/dev/null; then
    MOUNTS+=("$T/ro")
    RO="$T/ro"
  fi
else
  echo "skipped tmpfs full-disk test: cannot mount a tmpfs here (needs root); the ulimit -f runs above cover it"
fi
if [ -z "$RO" ] && [ "$(id -u)" -ne 0 ]; then chmod 555 "$T/ro" && RO="$T/ro"; fi
if [ -n "$RO" ]; then
  run bench-read-only "$RO" "cannot write into the folder" -- "$BIN" bench "$GRAPH" "${BENCH[@]}" --out "$RO/r.json"
  run train-read-only "$RO" "cannot write into the folder" -- "$BIN" train "$GRAPH" --data "$T/nodata" --out "$RO/m.safetensors"
  run run-read-only "$RO" "not writable" -- "$BIN" run "$GRAPH" --device cpu --input "$T/x.npy" --output "$RO/y.npy"
else
  echo "skipped read-only folder tests: root without mount rights (permissions do not bind)"
fi

DATA=${DEFTNN_DATA_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ]; then
  echo "skipped eval, NaN and kill -9 resume checks: no Fashion-MNIST in $DATA"
  echo "$n runs"
  exit $fail
fi
be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
subset() {  # PREFIX COUNT: the first COUNT images and labels, the header's count rewritten
  local p=$1 n=$2
  { printf "\\x00\\x00\\x08\\x03$(be32 "$n")\\x00\\x00\\x00\\x1c\\x00\\x00\\x00\\x1c"
    gzip -dc "$DATA/$p-images-idx3-ubyte.gz" | tail -c +17 | head -c $((n * 784)); } | gzip -n >"$T/data/$p-images-idx3-ubyte.gz"
  { printf "\\x00\\x00\\x08\\x01$(be32 "$n")"
    gzip -dc "$DATA/$p-labels-idx1-ubyte.gz" | tail -c +9 | head -c "$n"; } | gzip -n >"$T/data/$p-labels-idx1-ubyte.gz"
}
mkdir -p "$T/data" "$T/a" "$T/b" "$T/m"
subset train 2304
subset t10k 256
D=(--data "$T/data" --device cpu --threads 1 --val 256 --batch 64 --seed 3)
# The uninterrupted run.
if ! "$BIN" train "$GRAPH" "${D[@]}" --epochs 4 --out "$T/a/m.safetensors" --checkpoint "$T/a/c.safetensors" --quiet >/dev/null 2>&1; then
  echo "FAIL the reference training run failed"; exit 1
fi
# eval of a model in a read-only folder (or, where none can be made, a folder
# whose listing must not change): it writes nothing beside its input.
EV=${RO:-$T/m}
if [ -n "$RO" ] && [ "$RO" = "$T/ro" ] && grep -q " $T/ro " /proc/mounts; then
  mount -o remount,rw "$RO" && cp "$T/a/c.safetensors" "$RO/" && mount -o remount,ro "$RO"
else
  chmod u+w "$EV" 2>/dev/null; cp "$T/a/c.safetensors" "$EV/"; [ -n "$RO" ] && chmod 555 "$EV"
fi
n=$((n + 1))
if ! out=$("$BIN" eval "$EV/c.safetensors" --data "$T/data" --device cpu 2>&1); then echo "FAIL eval-checkpoint: $out"; fail=1
else echo "ok   eval-checkpoint in $EV: $(grep 'test accuracy' <<<"$out")"; fi
no_leftovers eval-beside-input "$EV" c.safetensors
# NaN weights: eval refuses them.
python3 - "$T/a/m.safetensors" "$T/nan.safetensors" <<'PY'
import json, struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
name = sorted(k for k in h if k != '__metadata__')[0]
o = 8 + n + h[name]['data_offsets'][0]
b[o:o + 4] = struct.pack('<f', float('nan'))
open(sys.argv[2], 'wb').write(b)
PY
run eval-nan "$T/nan.safetensors" "holds nan" -- "$BIN" eval "$T/nan.safetensors" --data "$T/data" --device cpu
# kill -9 in the middle of checkpointing: a run is killed at 12 moments spread
# over its epochs, each time resuming from whatever checkpoint is there.
n=$((n + 1))
"$BIN" train "$GRAPH" "${D[@]}" --epochs 4 --out "$T/b/m.safetensors" --checkpoint "$T/b/c.safetensors" --quiet >/dev/null 2>&1 &
pid=$!
while [ ! -e "$T/b/c.safetensors" ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
# A killed writer's temporary (its pid is dead now) must go on the next write.
echo half >"$T/b/c.safetensors.tmp-$pid"
for k in 1 2 3 4 5 6 7 8 9 10 11; do
  [ -e "$T/b/m.safetensors" ] && break
  "$BIN" train "$GRAPH" "${D[@]}" --epochs 4 --resume "$T/b/c.safetensors" --out "$T/b/m.safetensors" \
    --checkpoint "$T/b/c.safetensors" --quiet >/dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))"
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
done
"$BIN" train "$GRAPH" "${D[@]}" --epochs 4 --resume "$T/b/c.safetensors" --out "$T/b/m.safetensors" \
  --checkpoint "$T/b/c.safetensors" --quiet >/dev/null 2>&1 || { echo "FAIL the last resume failed"; fail=1; }
if python3 - "$T/a/m.safetensors" "$T/b/m.safetensors" <<'PY'
import json, struct, sys
def tensors(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]] for k, v in h.items() if k != '__metadata__'}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
sys.exit(0 if a == b and a else 1)
PY
then echo "ok   kill-9-resume: the resumed model equals the uninterrupted run bit for bit"
else echo "FAIL kill-9-resume: the resumed model differs from the uninterrupted run"; fail=1; fi
no_leftovers kill-9-resume "$T/b" m.safetensors c.safetensors
echo "$n runs"
exit $fail
