"""PostgreSQL connections and database bootstrap."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a connection with UTC session time, so day boundaries mean UTC days."""
    return psycopg.connect(dsn, autocommit=autocommit, options="-c TimeZone=UTC")


def ensure_database(dsn: str) -> bool:
    """Create the database named in `dsn` if it is missing; True when it was created."""
    params = conninfo_to_dict(dsn)
    name = params.get("dbname") or "analytics"
    admin = make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(dsn: str) -> None:
    params = conninfo_to_dict(dsn)
    admin = make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(params["dbname"])))
