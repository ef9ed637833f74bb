#!/usr/bin/env bash
# The CPU tests of the file readers, the data pipeline and the writers under
# AddressSanitizer + UndefinedBehaviorSanitizer: their sources and tests
# (fuzz/sources.txt, plus the list below) compiled with clang into
# build-asan/, so it costs about two minutes instead of a second full build.
# Any sanitizer report fails the run. Exits 77 (skipped) without clang.
#   scripts/sanitize.sh [gtest filter]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${SANITIZE_BUILD_DIR:-build-asan}
CXX=${SANITIZE_CXX:-clang++}
if ! command -v "$CXX" >/dev/null 2>&1; then echo "sanitize: skipped: $CXX not found"; exit 77; fi
TESTS="tests/test_main.cpp tests/core/test_tensor.cpp tests/data/test_data.cpp tests/data/test_tokenizer.cpp
       tests/reliability/test_output_file.cpp"
EXTRA="src/data/loader.cpp src/data/image_folder.cpp"
TESTS+=" tests/data/test_image_folder.cpp"
IMAGE_FLAGS=() IMAGE_LIBS=()
# With libpng and libjpeg, the decoders and the tests that write PNG and JPEG files; else the build's stub.
if [ -f /usr/include/png.h ] && [ -f /usr/include/jpeglib.h ]; then
  EXTRA+=" src/data/image_decode.cpp"; IMAGE_FLAGS=(-DDEFTNN_TEST_WITH_IMAGES=1); IMAGE_LIBS=(-lpng -ljpeg)
else
  EXTRA+=" src/data/image_decode_none.cpp"
fi
mkdir -p "$OUT/obj"
# vptr off: graph.cpp names deftnn::Layer, whose typeinfo lives in the layer sources not linked here.
FLAGS=(-std=c++20 -O1 -g -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined
       -fno-omit-frame-pointer -Isrc -Itests -DDEFTNN_SOURCE_DIR="\"$PWD\"" "${IMAGE_FLAGS[@]}"
       $(pkg-config --cflags icu-uc 2>/dev/null || true))
OBJS=()
for src in $(grep -v '^#' fuzz/sources.txt) $EXTRA $TESTS; do
  obj="$OUT/obj/$(echo "$src" | tr / _).o"
  if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src tests -name '*.h' -newer "$obj" -print -quit)" ]; then
    echo "sanitize: compiling $src"
    "$CXX" "${FLAGS[@]}" -c "$src" -o "$obj"
  fi
  OBJS+=("$obj")
done
"$CXX" "${FLAGS[@]}" "${OBJS[@]}" "${IMAGE_LIBS[@]}" -lgtest -lpthread -lfmt -lz $(pkg-config --libs icu-uc 2>/dev/null || echo -licuuc) \
  -o "$OUT/deftnn_tests_asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$OUT/deftnn_tests_asan" --gtest_filter="${1:-*}" --gtest_brief=1
