"""Demo and test rows for the host tables."""

from __future__ import annotations

from analytics.db import connect
from analytics.sql import load_sql


def seed(dsn: str) -> None:
    with connect(dsn) as conn:
        conn.execute(load_sql("seed/insert_host_rows"))
