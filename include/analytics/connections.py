"""Resolve the DAGs' stores from Airflow connections, falling back to the environment settings."""

from __future__ import annotations

import logging
from urllib.parse import quote

from psycopg.conninfo import make_conninfo

from analytics.config import get_settings

POSTGRES_CONN_ID = "analytics_postgres"
REDIS_CONN_ID = "analytics_redis"

log = logging.getLogger(__name__)


def _airflow_connection(conn_id: str):
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id)
    except Exception as exc:  # not defined, or not inside Airflow
        log.info("connection %s not available (%s); using the environment", conn_id, type(exc).__name__)
        return None


def postgres_dsn(default: str | None = None) -> str:
    """The `analytics_postgres` connection as a libpq DSN; without it `default` (else DATABASE_URL)."""
    conn = _airflow_connection(POSTGRES_CONN_ID)
    if conn is None:
        return default or get_settings().database_url
    return make_conninfo(
        host=conn.host or "127.0.0.1",
        port=conn.port or 5432,
        user=conn.login or "postgres",
        password=conn.password or None,
        dbname=conn.schema or "analytics",
    )


def redis_url(default: str | None = None) -> str:
    """The `analytics_redis` connection as a redis:// URL; without it `default` (else REDIS_URL)."""
    conn = _airflow_connection(REDIS_CONN_ID)
    if conn is None:
        return default or get_settings().redis_url
    auth = f":{quote(conn.password)}@" if conn.password else ""
    db = (conn.extra_dejson or {}).get("db", conn.schema or 0)
    return f"redis://{auth}{conn.host or '127.0.0.1'}:{conn.port or 6379}/{db}"
