#!/usr/bin/env bash
# run_with_matplotlib.sh REPO SCRIPT ARGS...: runs SCRIPT with the first
# python that imports matplotlib: python3 on the path (what the CLI's plots
# use), Debian's /usr/bin/python3 (scripts/install_deps.sh installs
# python3-matplotlib there), the repository's .venv. With none, the .venv's
# (or python3), so that the script itself reports the skip.
repo="$1"
shift
for py in python3 /usr/bin/python3 "$repo/.venv/bin/python"; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c "import matplotlib" >/dev/null 2>&1; then exec "$py" "$@"; fi
done
py="$repo/.venv/bin/python"
[ -x "$py" ] || py=python3
exec "$py" "$@"
