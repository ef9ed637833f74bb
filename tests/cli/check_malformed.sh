#!/usr/bin/env bash
# Malformed files through the CLI, generated from a template graph: each run
# must exit 1 (not by a signal: exit codes above 128), within a time limit
# (a FIFO must not hang a reader), with the file named in its one-line error,
# and leave no output file behind.
# Usage: check_malformed.sh path/to/deftnn
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
n=0
# run NAME FILE WORDS -- COMMAND...: exit 1 within 60 s and 4 GiB of address
# space (ulimit -v: a reader that allocates what a header claims fails), FILE
# and WORDS in stderr.
run() {
  local name=$1 file=$2 words=$3
  shift 4
  local err rc
  err=$( (ulimit -v 4194304; timeout 60 "$@") 2>&1 >/dev/null)
  rc=$?
  n=$((n + 1))
  if [ $rc -ne 1 ]; then echo "FAIL $name: exit $rc (want 1): $(head -c 300 <<<"$err")"; fail=1; return; fi
  if ! grep -qF -- "$file" <<<"$err"; then echo "FAIL $name: '$file' not named in: $(head -c 300 <<<"$err")"; fail=1; return; fi
  if ! grep -qF -- "$words" <<<"$err"; then echo "FAIL $name: no '$words' in: $(head -c 300 <<<"$err")"; fail=1; return; fi
  echo "ok   $name: $(head -c 160 <<<"$err")"
}
BASE='{"name": "t", "input": [1, 8, 8], "classes": 2, "layers": [
  {"type": "conv", "name": "c1", "out": 4, "kernel": 3, "pad": 1, "groups": 1, "weight_filler": {"type": "gaussian", "std": 0.01}},
  {"type": "relu", "name": "r1"}, {"type": "maxpool", "name": "p1", "kernel": 2, "stride": 2},
  {"type": "flatten", "name": "f1"}, {"type": "linear", "name": "ip1", "out": 2}]}'
echo "$BASE" >"$T/ok.json"
if ! "$BIN" inspect "$T/ok.json" >/dev/null 2>&1; then echo "FAIL the template graph does not load"; fail=1; fi
# mutate NAME FROM TO WORDS: the template with FROM replaced by TO, given to
# inspect, and to bench with an output path that must not appear.
mutate() {
  local name=$1 from=$2 to=$3 words=$4 f="$T/$1.json"
  printf '%s\n' "${BASE/"$from"/"$to"}" >"$f"
  run "inspect-$name" "$f" "$words" -- "$BIN" inspect "$f"
  run "bench-$name" "$f" "$words" -- "$BIN" bench "$f" --device cpu --reps 1 --warmup 1 --no-kernel-names --out "$T/out.json"
  [ -e "$T/out.json" ] && { echo "FAIL bench-$name left out.json"; fail=1; rm -f "$T/out.json"; }
}
mutate groups-string '"groups": 1' '"groups": "2"' "groups"
mutate groups-zero '"groups": 1' '"groups": 0' "groups"
mutate filler-number '"type": "gaussian"' '"type": 3' "weight_filler"
mutate out-huge '"out": 4' '"out": 1e400' "1e400"
mutate out-negative '"out": 4' '"out": -4' "out"
mutate pad-negative '"pad": 1' '"pad": -1' "pad"
mutate stride-typo '"kernel": 3,' '"kernel": 3, "stide": 2,' "unknown key 'stide'"
mutate linear-typo '"out": 2}' '"out": 2, "bais": false}' "unknown key 'bais'"
mutate input-huge '[1, 8, 8]' '[1, 65536, 65536]' "elements per sample"
mutate input-wrap '[1, 8, 8]' '[1, 8, 18446744073709551615]' "input"
mutate input-string '[1, 8, 8]' '[1, "8", 8]' "input"
mutate bias-string '"std": 0.01}' '"std": 0.01}, "bias": "no"' "bias"
mutate truncated ']}' ']' "not valid JSON"
python3 -c "print('[' * 1000000 + ']' * 1000000)" >"$T/deep.json"
run deep "$T/deep.json" "nested deeper" -- "$BIN" inspect "$T/deep.json"
mkfifo "$T/fifo.json" "$T/fifo.safetensors"
run fifo-graph "$T/fifo.json" "FIFO" -- "$BIN" inspect "$T/fifo.json"
run fifo-model "$T/fifo.safetensors" "regular file" -- "$BIN" eval "$T/fifo.safetensors" --device cpu
mkdir "$T/dir.json"
run dir-graph "$T/dir.json" "directory" -- "$BIN" inspect "$T/dir.json"
ln -s /dev/zero "$T/zero.json"
run zero-graph "$T/zero.json" "device" -- "$BIN" inspect "$T/zero.json"
run zero-model "/dev/zero" "regular file" -- "$BIN" eval /dev/zero --device cpu
# An output path under a regular file: a filesystem error, reported, not an abort.
touch "$T/plain"
run out-under-file "$T/plain" "Not a directory" -- "$BIN" bench "$T/ok.json" --device cpu --reps 1 --warmup 1 --no-kernel-names --out "$T/plain/sub/out.json"
# ONNX models and .npy inputs through `run` (ONNX import only where the build has it).
printf '\x93NUMPY\x01\x00\x46\x00{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (1, 1, 8, 8), }' >"$T/short.npy"
python3 -c "import sys; sys.stdout.buffer.write(b'\x93NUMPY\x01\x00' + (118).to_bytes(2, 'little') + b\"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 8, 8), }\".ljust(117) + b'\n' + bytes(256))" >"$T/ok.npy"
run npy-short "$T/short.npy" ".npy" -- "$BIN" run "$T/ok.json" --device cpu --input "$T/short.npy" --output "$T/y.npy"
printf 'not an npy file' >"$T/text.npy"
run npy-text "$T/text.npy" "not a .npy" -- "$BIN" run "$T/ok.json" --device cpu --input "$T/text.npy" --output "$T/y.npy"
mkfifo "$T/fifo.npy"
run npy-fifo "$T/fifo.npy" "FIFO" -- "$BIN" run "$T/ok.json" --device cpu --input "$T/fifo.npy" --output "$T/y.npy"
ln -s /dev/zero "$T/zero.npy"
run npy-zero "$T/zero.npy" "device" -- "$BIN" run "$T/ok.json" --device cpu --input "$T/zero.npy" --output "$T/y.npy"
[ -e "$T/y.npy" ] && { echo "FAIL run left y.npy"; fail=1; rm -f "$T/y.npy"; }
printf '' >"$T/empty.onnx"
head -c 3000 /dev/urandom >"$T/random.onnx"
printf '\x08\x07\x12\x04deft\x3a\xff\xff\xff\x0f' >"$T/truncated.onnx"
mkfifo "$T/fifo.onnx"
mkdir "$T/dir.onnx"
# Without ONNX import in the build, every .onnx is the one error that says so.
if [ "$("$BIN" run "$T/empty.onnx" --device cpu --input "$T/ok.npy" --output "$T/y.npy" 2>&1 | grep -c 'built without ONNX')" = 1 ]; then
  OW=(ONNX ONNX ONNX ONNX ONNX)
else
  OW=(ONNX ONNX ONNX FIFO directory)
fi
i=0
for f in empty random truncated fifo dir; do
  run "onnx-$f" "$T/$f.onnx" "${OW[$i]}" -- "$BIN" run "$T/$f.onnx" --device cpu --input "$T/ok.npy" --output "$T/y.npy"
  i=$((i + 1))
done
[ -e "$T/y.npy" ] && { echo "FAIL onnx run left y.npy"; fail=1; }
echo "$n runs"
exit $fail
