"""The referenced entity as it was at the event's time, from analytics.entity_versions (kept by triggers)."""

from __future__ import annotations

from datetime import datetime

import psycopg

from analytics.sql import load_sql


def stage_versions(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    """Put every version of the entities the interval references, as the event-time range each one answers,
    in the run's enrich_versions table (joined per event in SQL); returns the number of entities referenced."""
    return conn.execute(load_sql("enrich/insert_entity_versions"), {"start": start, "end": end}).fetchone()[0]
