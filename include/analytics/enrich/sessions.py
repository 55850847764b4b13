"""Session context: per-session aggregates of an interval, merged into analytics.sessions, all in SQL."""

from __future__ import annotations

from datetime import datetime

import psycopg

from analytics.sql import load_sql

FIRST_TOUCH = (
    "referrer",
    "landing_page",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)


def merge_sessions(conn: psycopg.Connection, start: datetime, end: datetime, now: datetime) -> tuple[int, int]:
    """Aggregate the interval's sessions and upsert analytics.sessions; (sessions touched, of which new)."""
    span = {"start": start, "end": end, "now": now}
    touched, new = conn.execute(load_sql("enrich/upsert_sessions"), span).fetchone()
    conn.execute(load_sql("enrich/update_removed_sessions"), span)
    return touched, new
