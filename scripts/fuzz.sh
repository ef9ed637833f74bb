#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ with clang (-fsanitize=fuzzer,
# address,undefined) into build-fuzz/ and runs each on its seed corpus.
#   scripts/fuzz.sh [SECONDS]   run each harness SECONDS (default 20) on one core
#   FUZZ_RUNS=10000000 scripts/fuzz.sh   the long run: that many executions each
# Only the reader sources are compiled (fuzz/sources.txt), so the build takes
# about a minute. A crash leaves its input in build-fuzz/<harness>/crash-*
# and fails the script. Exits 77 (skipped) when clang or libFuzzer is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
OUT=${FUZZ_BUILD_DIR:-build-fuzz}
HARNESSES=${FUZZ_HARNESSES:-"json safetensors npy idx tokenizer onnx image"}
# The onnx harness needs Debian's libonnx-dev (as the engine's ONNX import does).
if [[ " $HARNESSES " == *" onnx "* ]] && ! [ -f /usr/include/onnx/onnx_pb.h ]; then
  echo "fuzz: onnx: skipped (no libonnx-dev)"; HARNESSES=$(echo " $HARNESSES " | sed 's/ onnx / /')
fi
# The image harness needs libpng-dev and libjpeg-dev (as the engine's image folders do).
if [[ " $HARNESSES " == *" image "* ]] && ! { [ -f /usr/include/png.h ] && [ -f /usr/include/jpeglib.h ]; }; then
  echo "fuzz: image: skipped (no libpng-dev / libjpeg-dev)"; HARNESSES=$(echo " $HARNESSES " | sed 's/ image / /')
fi
CXX=${FUZZ_CXX:-clang++}
if ! command -v "$CXX" >/dev/null 2>&1; then echo "fuzz: skipped: $CXX not found"; exit 77; fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
    "$CXX" -x c++ -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
  echo "fuzz: skipped: $CXX cannot link -fsanitize=fuzzer (libclang_rt.fuzzer missing)"; exit 77
fi
mkdir -p "$OUT/obj"
# vptr off: graph.cpp names deftnn::Layer, whose typeinfo lives in the layer sources not linked here.
SAN=(-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
FLAGS=(-std=c++20 -O1 -g "${SAN[@]}" -Isrc -Ifuzz -DONNX_ML=1 -DONNX_NAMESPACE=onnx
       $(pkg-config --cflags icu-uc 2>/dev/null || true))
LIBS=(-lfmt -lz $(pkg-config --libs icu-uc 2>/dev/null || echo -licuuc))
SOURCES=$(grep -v '^#' fuzz/sources.txt)
[[ " $HARNESSES " == *" onnx "* ]] && SOURCES+=" $(grep -v '^#' fuzz/sources_onnx.txt)"
[[ " $HARNESSES " == *" image "* ]] && SOURCES+=" $(grep -v '^#' fuzz/sources_image.txt)"
OBJS=()
for src in $SOURCES; do
  obj="$OUT/obj/$(echo "$src" | tr / _).o"
  if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src -name '*.h' -newer "$obj" -print -quit)" ]; then
    echo "fuzz: compiling $src"
    "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
  fi
  OBJS+=("$obj")
done
status=0
for h in $HARNESSES; do
  objs=("${OBJS[@]}") libs=("${LIBS[@]}")
  # Each harness links the ONNX objects or the image objects only if it is theirs (they need their libraries).
  objs=()
  for o in "${OBJS[@]}"; do
    if [[ "$o" == *src_onnx_* ]]; then [ "$h" = onnx ] && objs+=("$o")
    elif [[ "$o" == *src_data_image_* ]]; then [ "$h" = image ] && objs+=("$o")
    else objs+=("$o"); fi
  done
  [ "$h" = onnx ] && libs+=(-lonnx -lonnx_proto -lprotobuf)
  [ "$h" = image ] && libs+=(-lpng -ljpeg)
  "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer "fuzz/fuzz_$h.cpp" "${objs[@]}" "${libs[@]}" -o "$OUT/fuzz_$h"
  mkdir -p "$OUT/$h/corpus"
  # The committed seeds stay as they are; what the run finds goes to build-fuzz.
  args=(-rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 -artifact_prefix="$OUT/$h/")
  if [ -n "${FUZZ_RUNS:-}" ]; then args+=(-runs="$FUZZ_RUNS"); else args+=(-max_total_time="$SECS"); fi
  log="$OUT/$h/last.log"
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$OUT/fuzz_$h" "${args[@]}" "$OUT/$h/corpus" "fuzz/corpus/$h" >"$log" 2>&1; then
    echo "fuzz: $h: $(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}') executions, no crash" \
         "($(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')/s)"
  else
    echo "fuzz: $h: FAILED (see $log):"; grep -m5 -E 'ERROR|SUMMARY|untyped|runtime error' "$log" || tail -5 "$log"
    status=1
  fi
done
exit $status
