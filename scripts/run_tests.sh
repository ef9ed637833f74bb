#!/usr/bin/env bash
# The README's test command: installs, builds, runs the whole test suite.
# GPU tests skip with a visible message on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" --timeout 900
