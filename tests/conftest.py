"""Fixtures against real PostgreSQL and Redis: a fresh database per session, fresh Redis keys per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE_DATABASE_URL = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/analytics"
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"

# Airflow reads its home at import: give the test session its own, before anything imports airflow.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="analytics-airflow-test-")
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
)


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)  # the session's Airflow home (metadata DB, logs)


def _session_db_url() -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"analytics_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    params = conninfo_to_dict(BASE_DATABASE_URL)
    params["dbname"] = name
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def database_url() -> str:
    """A fresh, migrated and seeded database for this test session, dropped afterwards."""
    from analytics.db import drop_database, ensure_database
    from analytics.migrate import migrate
    from analytics.seed import seed

    url = _session_db_url()
    ensure_database(url)
    migrate(url)
    seed(url)
    yield url
    drop_database(url)


@pytest.fixture
def db(database_url):
    from analytics.db import connect

    with connect(database_url, autocommit=True) as conn:
        yield conn


def _open_redis():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # a missing Redis fails the run, never skips it
    return client


@pytest.fixture
def redis_client():
    client = _open_redis()
    yield client
    client.close()


@pytest.fixture(scope="module")
def redis_client_module():
    """One client for a module's module-scoped fixtures (a live collector shared by its tests)."""
    client = _open_redis()
    yield client
    client.close()


def private_env(database_url: str) -> tuple[str, dict[str, str]]:
    """A Redis key prefix of its own, and the environment that points the pipeline at it and the session's database."""
    prefix = f"test:{uuid.uuid4().hex[:10]}"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "ANALYTICS_KEY_PREFIX": prefix,
        "ANALYTICS_STREAM_KEY": f"{prefix}:events",
    }
    return prefix, env


@pytest.fixture
def settings(database_url, redis_client, monkeypatch):
    """Settings with keys unique to this test, exported so DAG tasks see the same; keys deleted after."""
    from analytics.config import Settings

    prefix, env = private_env(database_url)
    env |= {
        "ANALYTICS_CONSUMER_GROUP": "analytics-loader",
        "ANALYTICS_ADMIN_TOKEN": "test-admin-token",
        "ANALYTICS_LOAD_TIME_BUDGET_SECONDS": "5",
        "ANALYTICS_LOAD_FOLLOW_SECONDS": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AIRFLOW_CONN_ANALYTICS_POSTGRES", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_ANALYTICS_REDIS", raising=False)
    yield Settings.from_env()
    keys = list(redis_client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata tables (SQLite in the session's AIRFLOW_HOME), needed by dag.test()."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture
def app(settings):
    from ingest_api import create_app

    application = create_app(settings)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def private_redis():
    """A throwaway redis-server of the test's own (to stop, restart or hold with DEBUG SLEEP), removed after."""
    from tests.helpers.redis_server import RedisServer

    server = RedisServer().start()
    yield server
    server.cleanup()
