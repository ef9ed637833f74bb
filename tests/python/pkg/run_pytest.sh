#!/usr/bin/env bash
# ctest entry python_package: the Python package's pytest suite
# (tests/python/pkg/test_*.py) against the extension the build made.
# Usage: run_pytest.sh REPO BUILT(ON|OFF) PYTHON BUILD_PYTHON_DIR DEFTNN_CLI
# Exit 77 (ctest: skipped) with a visible reason when the extension was not
# built (no nanobind) or pytest does not import.
set -uo pipefail
repo=$1 built=$2 py=$3 pydir=$4 cli=$5
if [ "$built" != ON ]; then
  echo "skip: the Python extension was not built (no nanobind in the build's Python; scripts/install_deps.sh installs it into .venv)"
  exit 77
fi
if ! compgen -G "$pydir/deftnn/_core*.so" >/dev/null; then  # configured, but its target was not built
  echo "skip: no $pydir/deftnn/_core*.so: build the _core target (scripts/build.sh builds everything)"
  exit 77
fi
if ! "$py" -c "import pytest" 2>/dev/null; then
  echo "skip: pytest does not import in $py (scripts/install_deps.sh installs it into .venv)"
  exit 77
fi
export PYTHONPATH="$pydir${PYTHONPATH:+:$PYTHONPATH}" DEFTNN_CLI="$cli" DEFTNN_REPO="$repo"
cd "$repo" && exec "$py" -m pytest -q -p no:cacheprovider "$repo/tests/python/pkg"
