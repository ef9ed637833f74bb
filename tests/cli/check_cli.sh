#!/usr/bin/env bash
# The CLI on bad input: each case must exit non-zero with a message naming the
# file or layer and the problem, and leave no output file behind.
# Usage: check_cli.sh path/to/deftnn
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
# expect NAME WORDS -- COMMAND...: non-zero exit and WORDS in stderr.
expect() {
  local name=$1 words=$2
  shift 3
  local err
  err=$("$@" 2>&1 >/dev/null)
  local rc=$?
  if [ $rc -eq 0 ]; then echo "FAIL $name: exit 0"; fail=1; return; fi
  if ! grep -qF -- "$words" <<<"$err"; then echo "FAIL $name: no '$words' in: $err"; fail=1; return; fi
  echo "ok   $name (exit $rc): $(head -c 160 <<<"$err")"
}
echo '{"name":"x","input":[1,8,8],"classes":2,"layers":[{"type":"conv","name":"c1","out":2,"kernel":3},{"type":"warp","name":"w1"}]}' >"$T/unknown.json"
echo '{"name":"x","input":[1,8,8],"classes":2,"layers":[{"type":"conv","name":"c1","out":2,"kernel":11}]}' >"$T/shape.json"
printf 'abc' >"$T/short.safetensors"
printf '\xff\xff\xff\xff\x00\x00\x00\x00{}' >"$T/header.safetensors"
expect missing-model "no-such-model.json" -- "$BIN" inspect "$T/no-such-model.json"
expect unknown-layer "unknown type 'warp'" -- "$BIN" inspect "$T/unknown.json"
expect bad-shape "c1" -- "$BIN" inspect "$T/shape.json"
expect truncated-model "short.safetensors" -- "$BIN" eval "$T/short.safetensors"
expect bad-header "header.safetensors" -- "$BIN" eval "$T/header.safetensors"
expect missing-data "$T/nodata" -- "$BIN" train "$(dirname "$0")/../../models/lenet.json" --data "$T/nodata" --epochs 1 --out "$T/out.safetensors"
[ -e "$T/out.safetensors" ] && { echo "FAIL missing-data left $T/out.safetensors"; fail=1; }
if ! "$BIN" bench --help >/dev/null 2>&1; then echo "FAIL bench --help"; fail=1; fi
# Asking for the GPU on a machine without one.
if ! nvidia-smi >/dev/null 2>&1; then
  expect no-gpu "cannot use the GPU" -- "$BIN" train "$(dirname "$0")/../../models/lenet.json" --device cuda --epochs 1 --out "$T/gpu.safetensors"
  [ -e "$T/gpu.safetensors" ] && { echo "FAIL no-gpu left an output file"; fail=1; }
fi
exit $fail
