#!/usr/bin/env bash
# Stop what `make up` started (collector, Airflow). PostgreSQL and Redis are left running.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
stop() {
  local pidfile="$RUN_DIR/$1.pid" group="${2:-}"
  [ -f "$pidfile" ] || { echo "$1: not running"; return 0; }
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    if [ -n "$group" ]; then kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"; else kill -TERM "$pid"; fi
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && { [ -n "$group" ] && kill -KILL -- "-$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null || true; }
    echo "$1: stopped"
  else
    echo "$1: not running"
  fi
  rm -f "$pidfile"
}
stop collector
stop airflow group
