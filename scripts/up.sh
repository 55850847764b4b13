#!/usr/bin/env bash
# Set up and run the whole pipeline locally: venv, services, database, Airflow, collector. Safe to run again.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
mkdir -p "$RUN_DIR" "$AIRFLOW_HOME"

ensure_venv
ensure_services

say "creating the analytics database and applying migrations"
"$PY" -m analytics.migrate --seed

# Airflow's metadata lives in PostgreSQL too (database `airflow` beside `analytics`), as in docker-compose.
AIRFLOW_DB_URL="$(airflow_db_url)"
case "$AIRFLOW_DB_URL" in
  postgresql*)
    say "creating the Airflow metadata database"
    "$PY" -c "import re,sys; from analytics.db import ensure_database; ensure_database(re.sub(r'^postgresql\+\w+://', 'postgresql://', sys.argv[1]))" "$AIRFLOW_DB_URL" \
      || die "could not create Airflow's metadata database ($AIRFLOW_DB_URL)" ;;
esac
COLLECTOR_URL="$(collector_url)"
AIRFLOW_URL="http://127.0.0.1:$AIRFLOW_API_PORT"

# Credentials are generated once and kept in AIRFLOW_HOME (git-ignored).
pwfile="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
if [ ! -s "$pwfile" ]; then
  "$PY" -c "import json,secrets; print(json.dumps({'admin': secrets.token_urlsafe(12)}))" > "$pwfile"
fi
ADMIN_PASSWORD="$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" "$pwfile")"
[ -s "$RUN_DIR/admin_token" ] || "$PY" -c "import secrets; print(secrets.token_urlsafe(24))" > "$RUN_DIR/admin_token"
ADMIN_TOKEN="${ANALYTICS_ADMIN_TOKEN:-$(cat "$RUN_DIR/admin_token")}"

PG_CONN="$("$PY" - "$DATABASE_URL" <<'PYEOF'
import json, sys
from psycopg.conninfo import conninfo_to_dict
p = conninfo_to_dict(sys.argv[1])
print(json.dumps({"conn_type": "postgres", "host": p.get("host") or "127.0.0.1", "port": int(p.get("port") or 5432),
                  "login": p.get("user") or "postgres", "password": p.get("password") or None,
                  "schema": p.get("dbname") or "analytics"}))
PYEOF
)"
REDIS_CONN="$("$PY" - "$REDIS_URL" <<'PYEOF'
import json, sys
from urllib.parse import urlparse
u = urlparse(sys.argv[1])
print(json.dumps({"conn_type": "redis", "host": u.hostname or "127.0.0.1", "port": u.port or 6379,
                  "password": u.password or None, "extra": {"db": int((u.path or "/0").strip("/") or 0)}}))
PYEOF
)"

say "writing .env"
cat > "$ROOT/.env" <<ENVEOF
# Written by scripts/up.sh: the environment the pipeline runs with. Load it with: set -a; . ./.env; set +a
AIRFLOW_HOME=$AIRFLOW_HOME
DATABASE_URL=$DATABASE_URL
REDIS_URL=$REDIS_URL
ANALYTICS_ADMIN_TOKEN=$ADMIN_TOKEN
ANALYTICS_WRITE_KEYS=${ANALYTICS_WRITE_KEYS:-}
ANALYTICS_CORS_ORIGINS=${ANALYTICS_CORS_ORIGINS:-}
ANALYTICS_MONITOR_REQUIRE_DURABLE_REDIS=${ANALYTICS_MONITOR_REQUIRE_DURABLE_REDIS:-1}
ANALYTICS_COLLECTOR_PORT=$ANALYTICS_COLLECTOR_PORT
GUNICORN_BIND=$GUNICORN_BIND
ANALYTICS_COLLECTOR_URL=$COLLECTOR_URL
AIRFLOW_API_PORT=$AIRFLOW_API_PORT
AIRFLOW_API_URL=$AIRFLOW_URL
AIRFLOW_API_USERNAME=admin
AIRFLOW_API_PASSWORD=$ADMIN_PASSWORD
ALERT_WEBHOOK_URL='${ALERT_WEBHOOK_URL:-}'
ALERT_SLACK_WEBHOOK_URL='${ALERT_SLACK_WEBHOOK_URL:-}'
ALERT_EMAIL_TO='${ALERT_EMAIL_TO:-}'
ANALYTICS_HEARTBEAT_URL='${ANALYTICS_HEARTBEAT_URL:-}'
AIRFLOW_CONN_ANALYTICS_POSTGRES='$PG_CONN'
AIRFLOW_CONN_ANALYTICS_REDIS='$REDIS_CONN'
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN='$AIRFLOW_DB_URL'
# The same, for events_maintenance's `airflow db clean`: Airflow 3 hides its own setting from tasks.
ANALYTICS_AIRFLOW_DB_URL='$AIRFLOW_DB_URL'
AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
AIRFLOW__CORE__LOAD_EXAMPLES=False
AIRFLOW__CORE__PARALLELISM=4
AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=4
AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
AIRFLOW__API__HOST=127.0.0.1
AIRFLOW__API__PORT=$AIRFLOW_API_PORT
AIRFLOW__API__BASE_URL=$AIRFLOW_URL
AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
ENVEOF
set -a; . "$ROOT/.env"; set +a
# airflow standalone launches `airflow` by name.
export PATH="$VENV/bin:$PATH"

say "preparing Airflow metadata DB in $AIRFLOW_HOME"
airflow db migrate >"$RUN_DIR/airflow-db-migrate.log" 2>&1 || { tail -20 "$RUN_DIR/airflow-db-migrate.log"; die "airflow db migrate failed"; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if alive "$RUN_DIR/collector.pid"; then
  # A reload (HUP) keeps the environment gunicorn started with: restart, so settings changed since (CORS origins,
  # write keys, ...) apply. SIGTERM lets workers finish the requests they hold; clients retry the moment between.
  pid="$(cat "$RUN_DIR/collector.pid")"
  say "collector already running (pid $pid); restarting it with this environment"
  kill -TERM "$pid"
  # Up to its graceful timeout (GUNICORN_GRACEFUL_TIMEOUT, 30 s) for requests in flight, and a little more.
  wait_s=$(( ${GUNICORN_GRACEFUL_TIMEOUT:-30} + 5 ))
  for _ in $(seq 1 $(( wait_s * 2 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && die "the collector (pid $pid) did not stop within $wait_s s; see $RUN_DIR/collector.log"
fi
# Another process on our ports (another checkout's `make up`, say) would answer the checks below in our stead.
port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
taken() {
  die "$1 is already in use by another process (another checkout's \`make up\`? \`make down\` there), or choose other ports: ANALYTICS_COLLECTOR_PORT=18000 AIRFLOW_API_PORT=18080 make up"
}
bind_host="${GUNICORN_BIND%:*}"
[ "$bind_host" = "0.0.0.0" ] && bind_host=127.0.0.1
port_busy "$bind_host" "${GUNICORN_BIND##*:}" && taken "$GUNICORN_BIND"
say "starting the collector on $GUNICORN_BIND"
# gunicorn.conf.py binds GUNICORN_BIND (analytics.config.Settings).
gunicorn -c "$ROOT/gunicorn.conf.py" --daemon --pid "$RUN_DIR/collector.pid" \
  --access-logfile "$RUN_DIR/collector-access.log" --error-logfile "$RUN_DIR/collector.log" ingest_api.wsgi:app

# The pipeline's code Airflow runs. Its long-lived processes (the scheduler loads the dashboard plugin, which imports
# analytics.*) hand the modules they hold to every task they fork: after a `git pull`, a task would mix old modules
# with new ones (an AttributeError on a setting the old analytics.config lacks). So new code restarts Airflow.
code_stamp() {
  (cd "$ROOT" && find include dags plugins -type f \( -name '*.py' -o -name '*.sql' -o -name '*.lua' \) \
    -not -path '*/__pycache__/*' | LC_ALL=C sort | xargs cat | md5sum | cut -d' ' -f1)
}
stamp="$(code_stamp)"
if alive "$RUN_DIR/airflow.pid" && [ "$(cat "$RUN_DIR/airflow.code" 2>/dev/null)" != "$stamp" ]; then
  say "the pipeline's code changed since Airflow started: restarting it so its tasks run the new code (a task cut short is retried)"
  "$ROOT/scripts/down.sh" airflow
fi
if alive "$RUN_DIR/airflow.pid"; then
  # Same code: not restarted (that would cut running tasks), so it keeps its first environment.
  say "Airflow already running (pid $(cat "$RUN_DIR/airflow.pid")); to change its settings (alert webhooks, ...): make down && make up"
else
  port_busy 127.0.0.1 "$AIRFLOW_API_PORT" && taken "127.0.0.1:$AIRFLOW_API_PORT"
  say "starting Airflow (standalone) on 127.0.0.1:$AIRFLOW_API_PORT"
  # setsid: its own process group, so `make down` stops every child it spawned.
  setsid nohup airflow standalone >"$RUN_DIR/airflow.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/airflow.pid"
  echo "$stamp" > "$RUN_DIR/airflow.code"
fi

wait_http() {
  local url="$1" what="$2" tries="${3:-120}"
  for _ in $(seq 1 "$tries"); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 1
  done
  die "$what did not come up at $url (see $RUN_DIR/)"
}
wait_http "$COLLECTOR_URL/healthz" "the collector" 30

# Redis durability, as the collector's /readyz reports it: an accepted event lives only in Redis until it is loaded.
readyz="$(curl -sS "$COLLECTOR_URL/readyz" 2>/dev/null || true)"
"$PY" - "$readyz" <<'PYEOF' || true
import json, os, sys
try:
    body = json.loads(sys.argv[1])
except ValueError:
    sys.exit(print("WARNING: the collector's /readyz did not answer JSON; check Redis (redis-cli ping)."))
if body.get("status") != "ready":
    sys.exit(print(f"WARNING: the collector is not ready: {body.get('message', body)}"))
r = body.get("redis", {})
if r.get("durable"):
    print(f"   Redis is durable: AOF on, maxmemory-policy {r.get('maxmemoryPolicy')}")
else:
    print("\033[33mWARNING: Redis is NOT durable. What you risk:")
    for risk in r.get("risks", []):
        print(f"  - {risk}")
    cli = f'redis-cli -u "{os.environ["REDIS_URL"]}"'
    print(f"  Fix: {cli} CONFIG SET appendonly yes; {cli} CONFIG SET maxmemory-policy noeviction;"
          f" {cli} CONFIG REWRITE (or the same in redis.conf)")
    print("  Until then events_monitor keeps the alert monitor.redis_not_durable firing (the dashboard shows it);"
          " for a lab Redis: make down; ANALYTICS_MONITOR_REQUIRE_DURABLE_REDIS=0 make up\033[0m")
PYEOF

wait_http "$AIRFLOW_URL/api/v2/monitor/health" "Airflow" 240

say "unpausing the project's DAGs"
dags="$(cd "$ROOT/dags" && grep -ho 'dag_id="[a-z_]*"' ./*.py | sed 's/dag_id="\(.*\)"/\1/' | sort -u)"
for _ in $(seq 1 60); do
  listed="$(airflow dags list -o plain 2>/dev/null | awk '{print $1}')"
  missing=0
  for d in $dags; do echo "$listed" | grep -qx "$d" || missing=1; done
  [ "$missing" = 0 ] && break
  sleep 2
done
for d in $dags; do airflow dags unpause "$d" >/dev/null 2>&1 && echo "   $d" || echo "   $d (not parsed yet; it will start unpaused)"; done

cat <<MSG

Pipeline is up.
  Collector      $COLLECTOR_URL   (POST /v1/track, GET /healthz; admin token in .env: ANALYTICS_ADMIN_TOKEN)
  Airflow UI     $AIRFLOW_URL   user: admin  password: $ADMIN_PASSWORD
  Logs           $RUN_DIR/  (collector.log, airflow.log)
  Airflow CLI    set -a; . ./.env; set +a; .venv/bin/airflow dags list
  Metadata DB    $AIRFLOW_DB_URL
  Stop           make down

Try it:
  curl -s -X POST $COLLECTOR_URL/v1/track -H 'Content-Type: application/json' \\
    -d '{"eventType":"page_viewed","source":"web","actorId":"usr_001","props":{"path":"/pricing"}}'

Web pages (docs/CLIENT.md):
  <script async src="$COLLECTOR_URL/v1/tracker.js" data-write-key="wk_web"></script>
MSG
if [ -n "${ANALYTICS_CORS_ORIGINS:-}" ]; then
  echo "  Pages on these origins may post to the collector: $ANALYTICS_CORS_ORIGINS"
else
  echo "  No web origin may post yet: run again with the page's origin, e.g."
  echo "  ANALYTICS_CORS_ORIGINS=http://localhost:3000 make up"
fi
