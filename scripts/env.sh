# Shared by the scripts: repo paths, defaults, and service helpers. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
RUN_DIR="$ROOT/.run"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/analytics}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
# Where `make up` serves: the collector on ANALYTICS_COLLECTOR_PORT (GUNICORN_BIND, when set, wins), Airflow's UI and
# API on AIRFLOW_API_PORT.
export ANALYTICS_COLLECTOR_PORT="${ANALYTICS_COLLECTOR_PORT:-8000}"
export AIRFLOW_API_PORT="${AIRFLOW_API_PORT:-8080}"
export GUNICORN_BIND="${GUNICORN_BIND:-127.0.0.1:$ANALYTICS_COLLECTOR_PORT}"
UV_VERSION="0.13.9"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

# Create the virtualenv and install the pinned set (requirements.txt, plus -dev when asked).
ensure_venv() {
  local with_dev="${1:-}"
  if [ ! -x "$PY" ]; then
    local py
    py="$(command -v python3.11 || command -v python3 || true)"
    [ -n "$py" ] || die "Python 3.11 is required (python3.11 not found)"
    "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
      || die "Python 3.11 is required, found $("$py" --version)"
    say "creating virtualenv .venv"
    "$py" -m venv "$VENV"
  fi
  local uv="$VENV/bin/uv"
  if [ ! -x "$uv" ]; then
    "$PY" -m pip --version >/dev/null 2>&1 || "$PY" -m ensurepip >/dev/null
    "$PY" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
  fi
  local stamp="$VENV/.installed${with_dev:+-dev}"
  local reqs=("$ROOT/requirements.txt")
  [ -n "$with_dev" ] && reqs+=("$ROOT/requirements-dev.txt")
  if [ ! -f "$stamp" ] || [ -n "$(find "${reqs[@]}" -newer "$stamp" 2>/dev/null)" ]; then
    say "installing pinned dependencies"
    local args=()
    for r in "${reqs[@]}"; do args+=(-r "$r"); done
    "$uv" pip install -q -p "$PY" "${args[@]}"
    touch "$stamp"
  fi
  # The project's packages: the repo root (ingest_api), include/ (analytics) and the client's source
  # (analytics_pipeline_client, which holds the event schema the collector imports).
  local site
  site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  printf '%s\n%s\n%s\n' "$ROOT" "$ROOT/include" "$ROOT/clients/python/src" > "$site/analytics_pipeline.pth"
}

# The browser libraries the browser tests load (package.json, pinned in package-lock.json), from the npm registry.
ensure_node_modules() {
  [ -f "$ROOT/package-lock.json" ] || return 0
  command -v npm >/dev/null 2>&1 || die "npm is required for the browser tests (apt-get install npm)"
  if [ ! -d "$ROOT/node_modules" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    say "installing npm packages (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --silent)
  fi
}

_pg_hostport() {
  "$PY" - "$DATABASE_URL" <<'PYEOF'
import sys
from psycopg.conninfo import conninfo_to_dict
p = conninfo_to_dict(sys.argv[1])
print(p.get("host") or "127.0.0.1", p.get("port") or 5432, p.get("user") or "postgres")
PYEOF
}

_redis_hostport() {
  "$PY" - "$REDIS_URL" <<'PYEOF'
import sys
from urllib.parse import urlparse
u = urlparse(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or 6379)
PYEOF
}

# The collector's URL from GUNICORN_BIND (host:port; 0.0.0.0 / [::] / no host are reached on 127.0.0.1).
collector_url() {
  local bind="${GUNICORN_BIND%%,*}" host port
  case "$bind" in unix:*) die "GUNICORN_BIND=$bind: make up needs a TCP bind to check the collector" ;; esac
  port="${bind##*:}"; host="${bind%:*}"
  [ "$host" = "$bind" ] && { host=127.0.0.1; port="$bind"; }
  case "$host" in ""|0.0.0.0|"[::]") host=127.0.0.1 ;; esac
  echo "http://$host:$port"
}

# Airflow's metadata database: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN if set, else a database on the PostgreSQL server
# of DATABASE_URL (the local stack then behaves like the compose one, not SQLite): `airflow` beside `analytics`, or
# `<name>_airflow` beside any other analytics database name, so two stacks sharing a server never share metadata.
airflow_db_url() {
  if [ -n "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then echo "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"; return; fi
  "$PY" - "$DATABASE_URL" <<'PYEOF'
import sys
from urllib.parse import quote
from psycopg.conninfo import conninfo_to_dict
p = conninfo_to_dict(sys.argv[1])
name = p.get("dbname") or "analytics"
name = "airflow" if name == "analytics" else f"{name}_airflow"
host, port, user, pw = p.get("host") or "127.0.0.1", p.get("port") or 5432, p.get("user") or "postgres", p.get("password")
auth = quote(user, safe="") + (":" + quote(pw, safe="") if pw else "")
if host.startswith("/"):  # a Unix socket directory
    print(f"postgresql+psycopg2://{auth}@/{name}?host={quote(host)}&port={port}")
else:
    print(f"postgresql+psycopg2://{auth}@{host}:{port}/{name}")
PYEOF
}

_is_local() { case "$1" in 127.*|localhost|::1|/*) return 0 ;; *) return 1 ;; esac; }

# Reach PostgreSQL and Redis; start local servers that are installed but stopped.
ensure_services() {
  local host port user
  read -r host port user < <(_pg_hostport)
  if ! pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
    if _is_local "$host" && command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/ >/dev/null 2>&1; then
      say "starting local PostgreSQL"
      local ver
      for ver in $(ls /etc/postgresql); do
        pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
      done
      for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && break; sleep 1; done
    fi
    pg_isready -q -h "$host" -p "$port" 2>/dev/null || die "PostgreSQL is not reachable at $host:$port.
  Install it (apt-get install postgresql) or run: docker compose up -d postgres redis
  or point DATABASE_URL at a server you have."
  fi
  read -r host port < <(_redis_hostport)
  if ! "$PY" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_timeout=2).ping()" "$REDIS_URL" 2>/dev/null; then
    if _is_local "$host" && command -v redis-server >/dev/null 2>&1; then
      say "starting local Redis on $host:$port (AOF on)"
      mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
      local dir=/var/lib/redis
      [ -w "$dir" ] || { dir="$RUN_DIR/redis"; mkdir -p "$dir"; }
      redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" \
        --appendonly yes --dir "$dir" --logfile "$dir/redis.log"
      for _ in $(seq 1 20); do
        "$PY" -c "import redis,sys; redis.Redis.from_url(sys.argv[1]).ping()" "$REDIS_URL" 2>/dev/null && break
        sleep 0.5
      done
    fi
    "$PY" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_timeout=2).ping()" "$REDIS_URL" 2>/dev/null \
      || die "Redis is not reachable at $host:$port.
  Install it (apt-get install redis-server) or run: docker compose up -d postgres redis
  or point REDIS_URL at a server you have."
  fi
}
