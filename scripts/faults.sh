#!/usr/bin/env bash
# The fault suite (bench/faults/): crashes and bad input against a private stack it starts and removes itself.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
ensure_venv dev
exec "$PY" -m bench.faults.run "$@"
