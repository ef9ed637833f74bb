#!/usr/bin/env bash
# The README's test command: installs, builds, runs the whole test suite.
# GPU tests skip with a visible message on a machine without a GPU.
# Then, where clang is installed, the readers' and writers' CPU tests under
# ASan+UBSan (scripts/sanitize.sh) and a short run of every fuzz harness
# (scripts/fuzz.sh, FUZZ_SECONDS each, default 15; 0 skips).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j "$(nproc)" --timeout 900)
rc=0
bash scripts/sanitize.sh || rc=$?
if [ $rc -eq 77 ]; then echo "sanitize: SKIPPED (no clang; see scripts/sanitize.sh)"; elif [ $rc -ne 0 ]; then exit $rc; fi
if [ "${FUZZ_SECONDS:-15}" -gt 0 ]; then
  rc=0
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}" || rc=$?
  if [ $rc -eq 77 ]; then echo "fuzz: SKIPPED (no clang with libFuzzer; see scripts/fuzz.sh)"; elif [ $rc -ne 0 ]; then exit $rc; fi
fi
