#!/usr/bin/env bash
# Stop what `make up` started (collector, Airflow). PostgreSQL and Redis are left running.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# A process of session $1 still running (exited ones waiting to be reaped do not count).
session_alive() { ps -o stat= -s "$1" 2>/dev/null | grep -qv '^Z'; }
stop() {
  local pidfile="$RUN_DIR/$1.pid" group="${2:-}"
  [ -f "$pidfile" ] || { echo "$1: not running"; return 0; }
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    # group: started with setsid, so its session id is its pid. Task processes put themselves in process groups of
    # their own but stay in that session: signal the whole session, not only the group.
    if [ -n "$group" ]; then pkill -TERM -s "$pid" 2>/dev/null || kill -TERM "$pid"; else kill -TERM "$pid"; fi
    for _ in $(seq 1 30); do
      if [ -n "$group" ]; then session_alive "$pid" || break; else kill -0 "$pid" 2>/dev/null || break; fi
      sleep 1
    done
    if [ -n "$group" ]; then
      session_alive "$pid" && pkill -KILL -s "$pid" 2>/dev/null
    else
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    echo "$1: stopped"
  else
    echo "$1: not running"
  fi
  rm -f "$pidfile"
}
# `down.sh` stops both; `down.sh airflow` (make up, when the code changed) only the one named.
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(collector airflow)
for name in "${names[@]}"; do
  case "$name" in
    collector) stop collector ;;
    airflow) stop airflow group ;;
    *) echo "unknown: $name (collector, airflow)" >&2; exit 2 ;;
  esac
done
