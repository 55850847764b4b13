"""Session context: per-session aggregates of an interval, merged into analytics.sessions."""

from __future__ import annotations

import numpy as np
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
    """One row per session in the interval: first/last time, count, and the first event's touch fields.

    The first event is the earliest by occurred_at, ties broken by the smaller id, so it does not depend on
    the order rows were read in.
    """
    codes, uniques = pd.factorize(events["session_id"], use_na_sentinel=True)
    rows = np.flatnonzero(codes >= 0)
    if len(rows) == 0:
        return pd.DataFrame(columns=list(STAGE_COLUMNS))
    t_all = events["occurred_us"].to_numpy()
    order = rows[np.lexsort((t_all[rows], codes[rows]))]
    c, t = codes[order], t_all[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    ends = np.r_[starts[1:], len(c)]
    first = order[starts].copy()
    ids = events["id"].to_numpy(dtype=object)
    has_tie = (starts + 1 < ends) & (t[np.minimum(starts + 1, len(t) - 1)] == t[starts])
    for g in np.flatnonzero(has_tie):  # rare: equal first timestamps within a session
        s, e = starts[g], ends[g]
        candidates = order[s:e][t[s:e] == t[s]]
        first[g] = min(candidates, key=lambda i: ids[i])
    picked = events.iloc[first]
    agg = pd.DataFrame(
        {
            "session_id": uniques[c[starts]],
            # First known actor: a session may start anonymous and log in later.
            "actor_id": pd.Series(events["actor_id"].to_numpy(dtype=object)[order]).groupby(c).first().to_numpy(),
            "first_us": t[starts],
            "last_us": t[ends - 1],
            "n": ends - starts,
            "first_event_id": picked["id"].to_numpy(),
        }
    )
    for col in FIRST_TOUCH:
        agg[col] = picked[col].to_numpy()
    return agg[list(STAGE_COLUMNS)]


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
