#!/usr/bin/env bash
# pyrun.sh REPO SCRIPT ARGS...: runs SCRIPT with the repository's .venv python
# (scripts/install_deps.sh fills it; Debian's python3 is externally managed),
# or python3 when there is no .venv.
py="$1/.venv/bin/python"
[ -x "$py" ] || py=python3
shift
exec "$py" "$@"
