#!/usr/bin/env bash
# Run each benchmark under bench/ in turn; each prints its figures and the baseline measured in the same run.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
ensure_venv dev
ensure_services
for b in bench/*bench*.py; do
  say "$b"
  "$PY" "$b"
done
