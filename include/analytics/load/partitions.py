"""Daily partitions of analytics.events: created ahead, dropped after the retention period (with what
enrichment derived from them)."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg

from analytics.sql import load_sql


def ensure_partitions(conn: psycopg.Connection, today: date, days_ahead: int) -> int:
    """Partitions for yesterday through `days_ahead` days after today; returns how many were created.

    Yesterday too, so a late run around midnight still finds its day; a day without a partition lands in
    analytics.events_default and moves into its own partition when that is created."""
    row = conn.execute(
        load_sql("load/ensure_partitions"), {"from_day": today - timedelta(days=1), "days": days_ahead + 2}
    ).fetchone()
    return int(row[0]) if row else 0


def retention_cutoff(today: date, retention_days: int) -> date:
    """The first day retention keeps: partitions before it are dropped, and what enrichment derived from them."""
    return today - timedelta(days=retention_days)


def drop_expired_partitions(conn: psycopg.Connection, today: date, retention_days: int) -> list[str]:
    """Drop the daily partitions wholly older than `retention_days` (0 = keep forever); returns their names."""
    if retention_days <= 0:
        return []
    cutoff = retention_cutoff(today, retention_days)
    return [name for (name,) in conn.execute(load_sql("load/drop_partitions"), {"cutoff": cutoff})]


def expire_derived(conn: psycopg.Connection, today: date, retention_days: int) -> dict[str, int]:
    """What enrichment derived from the events that retention dropped: their context rows, and the sessions
    none of whose events remain. Returns the rows deleted per table (nothing when retention is 0)."""
    if retention_days <= 0:
        return {}
    params = {"cutoff": retention_cutoff(today, retention_days)}
    return {
        "event_context": conn.execute(load_sql("load/delete_expired_context"), params).rowcount,
        "sessions": conn.execute(load_sql("load/delete_expired_sessions"), params).rowcount,
    }


def list_partitions(conn: psycopg.Connection) -> list[str]:
    return [name for (name,) in conn.execute(load_sql("load/select_partitions"))]
