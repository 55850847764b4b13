"""Stores are never chosen silently: a defined-but-broken Airflow connection fails the DAG task naming it; an
undefined one falls back to DATABASE_URL / REDIS_URL with a WARNING (connections defined through AIRFLOW_CONN_*)."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import pytest
from psycopg.conninfo import conninfo_to_dict

from analytics.connections import ConnectionInvalid, resolve_postgres, resolve_redis

PG_ENV, REDIS_ENV = "AIRFLOW_CONN_ANALYTICS_POSTGRES", "AIRFLOW_CONN_ANALYTICS_REDIS"


def _pg_conn(url: str) -> str:
    p = conninfo_to_dict(url)
    return json.dumps(
        {"conn_type": "postgres", "host": p.get("host") or "127.0.0.1", "port": int(p.get("port") or 5432)}
        | {"login": p.get("user") or "postgres", "schema": p["dbname"]}
    )


def _redis_conn(url: str) -> str:
    u = urlsplit(url)
    return json.dumps({"conn_type": "redis", "host": u.hostname, "port": u.port, "extra": {"db": 0}})


@pytest.mark.parametrize(
    ("env", "value", "problem"),
    [
        (PG_ENV, '{"conn_type": "postgres", "host": ', "AIRFLOW_CONN_ANALYTICS_POSTGRES does not parse"),
        (PG_ENV, "postgres://u:s3cret@host:notaport/analytics", "AIRFLOW_CONN_ANALYTICS_POSTGRES does not parse"),
        (PG_ENV, "redis://127.0.0.1:6379/0", "its type is 'redis', expected 'postgres'"),
        (REDIS_ENV, "postgres://postgres@127.0.0.1:5432/analytics", "its type is 'postgres', expected 'redis'"),
        (REDIS_ENV, '{"conn_type": "redis", "extra": {"db": "zero"}}', "database number is 'zero'"),
    ],
)
def test_a_defined_but_broken_connection_fails_the_tasks_naming_it(settings, monkeypatch, env, value, problem):
    from analytics.load.tasks import load_events
    from analytics.monitor.job import run_monitor

    monkeypatch.setenv(PG_ENV, _pg_conn(settings.database_url))
    monkeypatch.setenv(REDIS_ENV, _redis_conn(settings.redis_url))
    monkeypatch.setenv(env, value)  # the other one stays good: only the broken one may be blamed
    conn_id = "analytics_postgres" if env == PG_ENV else "analytics_redis"
    for task in (load_events, run_monitor):
        with pytest.raises(ConnectionInvalid) as caught:
            task(run_id="manual__broken-connection")
        message = str(caught.value)
        assert f"Airflow connection {conn_id!r} is unusable" in message
        assert problem in message
        assert "not falling back" in message
        assert "s3cret" not in message  # a credential in the broken value is never echoed


def test_an_undefined_connection_falls_back_with_a_warning(settings, caplog):
    with caplog.at_level(logging.WARNING, logger="analytics.connections"):
        pg, rd = resolve_postgres(), resolve_redis()
    assert (pg.url, pg.source, pg.fallback) == (settings.database_url, "DATABASE_URL", True)
    assert (rd.url, rd.source, rd.fallback) == (settings.redis_url, "REDIS_URL", True)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("analytics_postgres is not defined: using DATABASE_URL" in m for m in warned), warned
    assert any("analytics_redis is not defined: using REDIS_URL" in m for m in warned), warned
    assert pg.describe()["target"].startswith("postgresql://") and "@" not in pg.describe()["target"]


def test_a_defined_connection_wins_and_says_so(settings, monkeypatch, caplog):
    from analytics.monitor.job import run_monitor

    monkeypatch.setenv(PG_ENV, _pg_conn(settings.database_url))
    monkeypatch.setenv(REDIS_ENV, _redis_conn(settings.redis_url))
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")  # only the connection can work
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING, logger="analytics.connections"):
        pg, rd = resolve_postgres(), resolve_redis()
        assert run_monitor(run_id="manual__connections-defined")
    assert (pg.source, pg.fallback) == ("connection analytics_postgres", False)
    assert (rd.source, rd.fallback) == ("connection analytics_redis", False)
    assert conninfo_to_dict(pg.url)["dbname"] == conninfo_to_dict(settings.database_url)["dbname"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "analytics.connections"]


def test_a_lookup_that_raises_fails_the_task_naming_the_connection(settings):
    """A secrets backend that refuses (here: denies every lookup) is not "not defined": no fallback. In a fresh
    process, since Airflow loads its secrets backends once per process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = os.environ | {"AIRFLOW__SECRETS__BACKEND": "tests.helpers.denying_secrets_backend.DenyingBackend"}
    code = "from analytics.load.tasks import load_events; load_events(run_id='manual__denied')"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert (
        "ConnectionInvalid: Airflow connection 'analytics_redis' is unusable: the lookup failed "
        "(AirflowSecretsBackendAccessDenied: policy denies analytics_redis)" in proc.stderr
    ), proc.stderr[-2000:]
