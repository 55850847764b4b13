"""Sessions for events without a sessionId: derived per actor by inactivity, whole per actor-day, in SQL.

The rule (sql/enrich/insert_derived_sessions.sql): an actor's sessionless events of one UTC day, in time order,
open a session at the day's first event and after every gap longer than the inactivity setting
(ANALYTICS_SESSION_INACTIVITY_MINUTES, 30). The session id is a digest of the actor and its first event's time,
so it depends on the events only: whichever interval's run derives an actor-day, in whatever order and however
often, it writes the same sessions. A run derives every actor-day its interval's events touch from all their
events (received in any interval), drops the derived sessions of those days that no longer exist, and points
the already enriched events of those days at their sessions. The day bounds the work: a visitor active without a
30-minute gap for weeks (a bot, a service) costs a run one day of its events, never its whole history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from analytics.db import REACH_MARGIN
from analytics.sql import load_sql


def derive_sessions(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    gap: timedelta,
    now: datetime,
    max_future: timedelta = timedelta(minutes=5),
) -> int:
    """Stage the derived sessions of the interval's actor-days (enrich_derived) and merge them;
    returns how many. `max_future`: the collector's limit on occurredAt after receipt (ANALYTICS_MAX_FUTURE_SKEW_SECONDS)."""
    span = {"start": start, "end": end}
    params = span | {"gap": gap, "reach": max_future + REACH_MARGIN}
    conn.execute(load_sql("enrich/insert_derived_sessions"), params)
    conn.execute("ANALYZE enrich_derived")  # its size varies from none to the whole interval
    derived = conn.execute(load_sql("enrich/upsert_derived_sessions"), {"now": now}).fetchone()[0]
    conn.execute(load_sql("enrich/delete_stale_derived_sessions"))
    conn.execute(load_sql("enrich/update_derived_context"), span)
    return derived
