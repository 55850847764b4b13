"""Session context: per-session aggregates of an interval, merged into analytics.sessions."""

from __future__ import annotations

import pandas as pd
import psycopg

from analytics.enrich.frames import copy_in, copy_out
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
# Same order as sql/enrich/copy_sessions_stage.sql.
STAGE_COLUMNS = ("session_id", "actor_id", "first_us", "last_us", "n", "first_event_id", *FIRST_TOUCH)
MERGED_COLUMNS = ("session_id", "session_started_at", "session_duration_ms", *FIRST_TOUCH, "existed")


def interval_aggregates(events: pd.DataFrame) -> pd.DataFrame:
    """One row per session in the interval: first/last time, count, and the first event's touch fields."""
    ev = events.loc[events["session_id"].notna()]
    if ev.empty:
        return pd.DataFrame(columns=list(STAGE_COLUMNS))
    ordered = ev.sort_values(["session_id", "occurred_us", "id"], kind="stable")
    grouped = ordered.groupby("session_id", sort=False)
    first = grouped.head(1).set_index("session_id")
    agg = pd.DataFrame(
        {
            "actor_id": grouped["actor_id"].first(),
            "first_us": first["occurred_us"],
            "last_us": grouped["occurred_us"].max(),
            "n": grouped.size(),
            "first_event_id": first["id"],
        }
    )
    for col in FIRST_TOUCH:
        agg[col] = first[col]
    return agg.reset_index()[list(STAGE_COLUMNS)]


def merge_sessions(conn: psycopg.Connection, aggregates: pd.DataFrame, now: object) -> pd.DataFrame:
    """Stage the aggregates, upsert analytics.sessions, return each session's merged context."""
    copy_in(conn, load_sql("enrich/copy_sessions_stage"), aggregates)
    merged = copy_out(
        conn,
        load_sql("enrich/copy_upsert_sessions"),
        {"now": now},
        MERGED_COLUMNS,
        {"session_id": object, "session_started_at": object, "session_duration_ms": "Int64", "existed": object},
    )
    merged["existed"] = merged["existed"].eq("t")
    conn.execute(load_sql("enrich/update_removed_sessions"), {"now": now})
    return merged
