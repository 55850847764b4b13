"""docs/RUNBOOK.md is true: every `bash` and `sql` block runs as written against a running collector, PostgreSQL,
Redis and an Airflow metadata DB with the DAGs, in an environment like the `.env` that `make up` writes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analytics.config import Settings
from tests.helpers.live_collector import live_collector

ROOT = Path(__file__).resolve().parents[1]
RUNBOOK = ROOT / "docs" / "RUNBOOK.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
RUNNABLE = {"bash", "sql"}
# redis-cli exits 0 on an error reply; psql and bash failures show up in the exit code.
FAILED = re.compile(r"^(\(error\) |ERR |WRONGTYPE |NOGROUP |Traceback )|command not found|No such file", re.M)
ADMIN_TOKEN = "runbook-admin-token"
FRESH_SHELL = {"PATH", "HOME", "LANG"}  # all a new login shell has before `set -a; . ./.env; set +a`


def _blocks() -> list[tuple[int, str, str]]:
    text = RUNBOOK.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def test_runbook_blocks_are_tagged():
    """A block is runnable (`bash`, `sql`) or a template (`sh`, with the `<…>` to replace): nothing untagged."""
    for line, lang, body in _blocks():
        assert lang in RUNNABLE | {"sh"}, f"RUNBOOK.md:{line}: tag the block bash, sql or sh (template)"
        has_placeholder = re.search(r"<[a-z_ ]+>", body.replace("'<reason>'", "")) is not None
        if lang == "sh":
            assert "<" in body, f"RUNBOOK.md:{line}: an sh block is a template with <…> to replace; else bash"
        elif lang == "bash":
            assert not has_placeholder, f"RUNBOOK.md:{line}: a bash block runs as written: no <…> placeholders"


@pytest.fixture(scope="module")
def stack(database_url, airflow_db, tmp_path_factory):
    """A checkout's view of a running stack: a directory with `.venv` and the `.env` that `make up` would write for
    the collector on its own Redis (default stream and group, so the RUNBOOK's `analytics:events` is this stack's),
    the session's database, and a copy of the session's Airflow metadata DB with the DAGs serialized (trigger,
    backfill and clear write only to the copy)."""
    from tests.helpers.redis_server import RedisServer

    redis_server = RedisServer(extra=("--appendfsync", "everysec")).start()
    home = tmp_path_factory.mktemp("runbook-airflow")
    shutil.copy(Path(airflow_db) / "airflow.db", home / "airflow.db")
    settings = Settings(database_url=database_url, redis_url=redis_server.url, admin_token=ADMIN_TOKEN)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",  # a fresh shell: the venv is not on PATH
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "ANALYTICS_ADMIN_TOKEN": ADMIN_TOKEN,
        # This checkout's code, as its own venv would import it (a venv shared with another checkout, as a git
        # worktree's, would otherwise run that checkout's analytics package).
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in (".", "include", "clients/python/src")),
    }
    try:
        subprocess.run(
            [str(ROOT / ".venv/bin/airflow"), "dags", "reserialize"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        with live_collector(settings) as (url, _gate):
            env["ANALYTICS_COLLECTOR_URL"] = url
            _seed(url, redis_server.url)
            checkout = tmp_path_factory.mktemp("runbook-checkout")
            (checkout / ".venv").symlink_to(ROOT / ".venv")
            (checkout / ".env").write_text("".join(f"{k}='{v}'\n" for k, v in env.items() if k not in FRESH_SHELL))
            yield checkout
    finally:
        redis_server.cleanup()


def _seed(url: str, redis_url: str) -> None:
    """One accepted event, delivered to a loader consumer and left pending: what the stream checks look at."""
    import json
    import urllib.request

    import redis

    body = {"eventType": "page_viewed", "source": "web", "actorId": "usr_001", "props": {"path": "/runbook"}}
    req = urllib.request.Request(
        f"{url}/v1/track", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 202
    client = redis.Redis.from_url(redis_url)
    client.xgroup_create("analytics:events", "analytics-loader", id="0", mkstream=True)
    client.xreadgroup("analytics-loader", "runbook-consumer", {"analytics:events": ">"}, count=1)
    client.close()


@pytest.mark.parametrize(
    ("line", "lang", "body"),
    [b for b in _blocks() if b[1] in RUNNABLE],
    ids=[f"line{b[0]}-{b[1]}" for b in _blocks() if b[1] in RUNNABLE],
)
def test_runbook_block_runs_as_written(stack, line, lang, body):
    if lang == "sql":
        body = f"psql \"$DATABASE_URL\" -X -q -v ON_ERROR_STOP=1 <<'RUNBOOK_SQL'\n{body}RUNBOOK_SQL\n"
    fresh = {k: v for k, v in os.environ.items() if k in FRESH_SHELL} | {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", "set -a; . ./.env; set +a\n" + body],
        env=fresh,
        cwd=stack,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"RUNBOOK.md:{line} exited {proc.returncode}:\n{body}\n---\n{out[-3000:]}"
    assert not FAILED.search(out), f"RUNBOOK.md:{line} reported a failure:\n{body}\n---\n{out[-3000:]}"
