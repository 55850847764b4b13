"""PostgreSQL connections and database bootstrap."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# An advisory lock key: one enrichment run at a time (two merging the same sessions would race), and the nightly
# deduplication holds it while it marks events and debits their sessions' counts.
SESSIONS_LOCK_ID = 0x656E7263
# Lookups of an actor's events by occurred_at also bound received_at from below (partitions are by received_at): an
# event is received at most ANALYTICS_MAX_FUTURE_SKEW_SECONDS before it occurred (the collector refuses later
# occurredAt), plus this margin for rows that reached analytics.events some other way.
REACH_MARGIN = timedelta(days=1)


def connect(
    dsn: str,
    *,
    autocommit: bool = False,
    connect_timeout: float | None = None,
    statement_timeout_ms: int | None = None,
) -> psycopg.Connection:
    """Open a connection with UTC session time, so day boundaries mean UTC days; the timeouts for callers that
    must answer quickly when PostgreSQL is down or slow (the collector, the dashboard)."""
    options = "-c TimeZone=UTC"
    if statement_timeout_ms is not None:
        options += f" -c statement_timeout={int(statement_timeout_ms)}"
    extra = {} if connect_timeout is None else {"connect_timeout": max(1, int(connect_timeout))}
    return psycopg.connect(dsn, autocommit=autocommit, options=options, **extra)


def ensure_database(dsn: str) -> bool:
    """Create the database named in `dsn` if it is missing; True when it was created."""
    params = conninfo_to_dict(dsn)
    name = params.get("dbname") or "analytics"
    admin = make_conninfo(dsn, dbname="postgres")
    with connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(dsn: str) -> None:
    params = conninfo_to_dict(dsn)
    admin = make_conninfo(dsn, dbname="postgres")
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(params["dbname"])))
