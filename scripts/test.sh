#!/usr/bin/env bash
# Install what is missing, make sure PostgreSQL and Redis answer, then ruff and the whole suite.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
ensure_venv dev
ensure_services
[ -x "$ROOT/scripts/ensure_chromium.sh" ] && "$ROOT/scripts/ensure_chromium.sh"
ensure_node_modules
say "ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
# The client installs on Python 3.9: ruff checks its syntax (clients/python/pyproject.toml), vermin its stdlib use.
"$VENV/bin/vermin" -q -t=3.9- --violations --no-tips clients/python/src
say "pytest"
exec "$PY" -m pytest "$@"
