"""Sessions for events without a sessionId: derived per actor by inactivity, in SQL.

The rule (sql/enrich/insert_derived_sessions.sql): an actor's sessionless events, in time order, open a new
session after every gap longer than the inactivity setting (ANALYTICS_SESSION_INACTIVITY_MINUTES, 30), and only
then (not at midnight). The session id is a digest of the actor and its first event's time, so it depends on the
events only: whichever interval's run derives a session, in whatever order and however often, it writes the same
one. A run derives, per actor its interval's events touch, the span from the earliest to the latest of them,
widened to the edges of the sessions there, from all the span's events (received in any interval); it drops the
derived sessions of those spans that no longer exist, and points the already enriched events at their sessions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from analytics.sql import load_sql

# How much earlier than it occurred an event may have been received, beyond the collector's future-skew limit: a
# margin for rows that reached analytics.events some other way.
REACH_MARGIN = timedelta(days=1)


def derive_sessions(
    conn: psycopg.Connection,
    start: datetime,
    end: datetime,
    gap: timedelta,
    now: datetime,
    max_future: timedelta = timedelta(minutes=5),
) -> int:
    """Stage the derived sessions of the interval's actors' spans (enrich_spans, enrich_derived) and merge them;
    returns how many. `max_future`: the collector's limit on occurredAt after receipt (ANALYTICS_MAX_FUTURE_SKEW_SECONDS)."""
    span = {"start": start, "end": end}
    params = span | {"gap": gap, "reach": max_future + REACH_MARGIN}
    conn.execute(load_sql("enrich/insert_derived_sessions"), params)
    conn.execute("ANALYZE enrich_derived")  # its size varies from none to the whole interval
    derived = conn.execute(load_sql("enrich/upsert_derived_sessions"), {"now": now}).fetchone()[0]
    conn.execute(load_sql("enrich/delete_stale_derived_sessions"))
    conn.execute(load_sql("enrich/update_derived_context"), span)
    return derived
