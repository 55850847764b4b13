"""Resolve the DAGs' stores: the Airflow connections when defined, else the environment, never silently.

A connection that is defined but unusable (unparseable, the wrong type, a lookup that raises) is an error that
names it: falling back would read a different database than the collector writes. A connection that is not
defined falls back to DATABASE_URL / REDIS_URL with a WARNING, and the chosen store says where it came from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from analytics.config import Settings, get_settings

POSTGRES_CONN_ID = "analytics_postgres"
REDIS_CONN_ID = "analytics_redis"
_TYPES = {POSTGRES_CONN_ID: ("postgres", "postgresql"), REDIS_CONN_ID: ("redis",)}
_ENV_NAMES = {POSTGRES_CONN_ID: "DATABASE_URL", REDIS_CONN_ID: "REDIS_URL"}

log = logging.getLogger(__name__)


class ConnectionInvalid(RuntimeError):
    """An Airflow connection of ours is defined but cannot be used."""

    def __init__(self, conn_id: str, problem: str):
        env = "AIRFLOW_CONN_" + conn_id.upper()
        super().__init__(
            f"Airflow connection {conn_id!r} is unusable: {problem}. Fix it (`airflow connections get "
            f"{conn_id}`, or {env}) or delete it to use {_ENV_NAMES[conn_id]}; not falling back, so the DAGs never "
            "read a different store than the one configured"
        )
        self.conn_id, self.problem = conn_id, problem


@dataclass(frozen=True)
class Store:
    """A resolved store: its URL, and where it came from (the connection, or the environment variable)."""

    conn_id: str
    url: str
    source: str  # "connection analytics_postgres" | "DATABASE_URL" | "REDIS_URL"

    @property
    def fallback(self) -> bool:
        return not self.source.startswith("connection ")

    def describe(self) -> dict[str, Any]:
        """What the dashboard shows: the target without credentials, its source, and whether it is a fallback."""
        return {"target": _target(self.url), "source": self.source, "fallback": self.fallback}


def _target(url: str) -> str:
    """`url` without credentials."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        u = urlsplit(url)
        return f"{u.scheme}://{u.hostname}:{u.port or 6379}{u.path or '/0'}"
    p = conninfo_to_dict(url)
    return f"postgresql://{p.get('host') or 'localhost'}:{p.get('port') or 5432}/{p.get('dbname') or ''}"


def _env_definition(conn_id: str, settings: Settings) -> str | None:
    return settings.airflow_conn_postgres if conn_id == POSTGRES_CONN_ID else settings.airflow_conn_redis


def _why_unparseable(conn_id: str, value: str) -> str:
    """Airflow's secrets backends swallow a parse error and report "not defined": parse again for the reason."""
    from airflow.sdk.definitions.connection import Connection

    try:
        if value.lstrip().startswith("{"):
            Connection.from_json(value, conn_id=conn_id)
        else:
            Connection.from_uri(value, conn_id=conn_id)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the reason we report
        why = str(exc).replace(value, "<its value>")  # the value may hold a password: never echo it
        return f"AIRFLOW_CONN_{conn_id.upper()} does not parse ({type(exc).__name__}: {why})"
    return f"AIRFLOW_CONN_{conn_id.upper()} is set but Airflow could not read it"


def _airflow_connection(conn_id: str, settings: Settings) -> Any | None:
    """The connection, None when it is not defined anywhere; ConnectionInvalid when it is defined but unusable."""
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # not inside Airflow (the collector, plain scripts): only the environment exists
        return None
    defined_in_env = _env_definition(conn_id, settings)
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        if defined_in_env:
            raise ConnectionInvalid(conn_id, _why_unparseable(conn_id, defined_in_env)) from None
        return None
    except Exception as exc:
        raise ConnectionInvalid(conn_id, f"the lookup failed ({type(exc).__name__}: {exc})") from exc
    kind = (conn.conn_type or "").lower()
    if kind not in _TYPES[conn_id]:
        raise ConnectionInvalid(conn_id, f"its type is {kind or 'empty'!r}, expected {_TYPES[conn_id][0]!r}")
    return conn


def _fallback(conn_id: str, url: str) -> Store:
    env = _ENV_NAMES[conn_id]
    log.warning(
        "Airflow connection %s is not defined: using %s (%s). Define the connection so the DAGs and the collector "
        "provably share one store.",
        conn_id,
        env,
        _target(url),
    )
    return Store(conn_id, url, env)


def resolve_postgres(default: str | None = None, settings: Settings | None = None) -> Store:
    """The analytics database: `analytics_postgres` as a libpq DSN, else `default` (else DATABASE_URL)."""
    settings = settings or get_settings()
    conn = _airflow_connection(POSTGRES_CONN_ID, settings)
    if conn is None:
        return _fallback(POSTGRES_CONN_ID, default or settings.database_url)
    dsn = make_conninfo(
        host=conn.host or "127.0.0.1",
        port=conn.port or 5432,
        user=conn.login or "postgres",
        password=conn.password or None,
        dbname=conn.schema or "analytics",
    )
    return Store(POSTGRES_CONN_ID, dsn, f"connection {POSTGRES_CONN_ID}")


def resolve_redis(default: str | None = None, settings: Settings | None = None) -> Store:
    """The stream's Redis: `analytics_redis` as a redis:// URL, else `default` (else REDIS_URL)."""
    settings = settings or get_settings()
    conn = _airflow_connection(REDIS_CONN_ID, settings)
    if conn is None:
        return _fallback(REDIS_CONN_ID, default or settings.redis_url)
    auth = f":{quote(conn.password)}@" if conn.password else ""
    db = (conn.extra_dejson or {}).get("db", conn.schema or 0)
    try:
        db = int(db)
    except (TypeError, ValueError):
        raise ConnectionInvalid(REDIS_CONN_ID, f"its database number is {db!r}, not an integer") from None
    url = f"redis://{auth}{conn.host or '127.0.0.1'}:{conn.port or 6379}/{db}"
    return Store(REDIS_CONN_ID, url, f"connection {REDIS_CONN_ID}")


def postgres_dsn(default: str | None = None) -> str:
    """The analytics database's DSN (see resolve_postgres)."""
    return resolve_postgres(default).url


def redis_url(default: str | None = None) -> str:
    """The stream's Redis URL (see resolve_redis)."""
    return resolve_redis(default).url
