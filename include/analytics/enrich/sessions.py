"""Session context: the interval's per-session aggregate, computed with pandas on a second connection in the
run's snapshot while the run writes its context rows, then merged into analytics.sessions in SQL."""

from __future__ import annotations

import io
import time
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from analytics.db import connect
from analytics.enrich.frames import copy_out
from analytics.sql import load_sql

Aggregator = Literal["pandas", "sql"]

FIRST_TOUCH = (
    "referrer",
    "landing_page",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)
# One row per session, as enrich_sessions (sql/enrich/create_stages.sql) takes it.
COLUMNS = ("session_id", "actor_id", "first_us", "last_us", "n", "first_event_id", *FIRST_TOUCH)
_DTYPES: dict[str, Any] = {c: object for c in COLUMNS} | {"first_us": "int64", "last_us": "int64", "n": "int64"}
_EVENT_COLUMNS = ("session_id", "actor_id", "occurred_us", "id", "duplicate")
_EVENT_DTYPES: dict[str, Any] = {
    "session_id": object,
    "actor_id": object,
    "occurred_us": "int64",
    "id": object,
    "duplicate": object,  # "t" / "f": marked by the nightly job, so in the session but not in its count
}


def _earliest(code: np.ndarray, occurred: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Row positions of each group's earliest row by (occurred, id): a min per group, then an id sort of the
    rows at that instant only (the few ties), never a sort of the whole interval."""
    first = pd.Series(occurred).groupby(code).transform("min").to_numpy()
    at = np.flatnonzero(occurred == first)
    cand = pd.DataFrame({"code": code[at], "id": ids[at], "pos": at})
    if len(cand) > cand["code"].nunique():  # ties on the instant: the smaller id is first
        cand = cand.sort_values(["code", "id"], kind="stable").drop_duplicates("code")
    return cand.sort_values("code")["pos"].to_numpy()


def aggregate_sessions(conn: psycopg.Connection, start: datetime, end: datetime) -> pd.DataFrame:
    """The interval's sessions (COLUMNS), vectorised: group min / max / count (events not marked duplicates) over the
    narrow key columns,
    first event and first known actor by (occurred_at, id), then the first touch of the first events only."""
    span = {"start": start, "end": end}
    ev = copy_out(conn, load_sql("enrich/copy_session_events"), span, _EVENT_COLUMNS, _EVENT_DTYPES)
    if ev.empty:
        return pd.DataFrame({c: pd.Series(dtype=_DTYPES[c]) for c in COLUMNS})
    code, sessions = pd.factorize(ev["session_id"])
    occurred = ev["occurred_us"].to_numpy()
    ids = ev["id"].to_numpy()
    by = pd.Series(occurred).groupby(code)
    first_pos = _earliest(code, occurred, ids)
    out = pd.DataFrame(
        {
            "session_id": sessions,
            "actor_id": None,
            "first_us": occurred[first_pos],
            "last_us": by.max().to_numpy(),
            "n": np.bincount(code, weights=ev["duplicate"].to_numpy() != "t", minlength=len(sessions)).astype("int64"),
            "first_event_id": ids[first_pos],
        }
    )
    known = np.flatnonzero(ev["actor_id"].notna().to_numpy())  # the first known actor, by (occurred_at, id)
    if len(known):
        pos = known[_earliest(code[known], occurred[known], ids[known])]
        out.loc[code[pos], "actor_id"] = ev["actor_id"].to_numpy()[pos]
    touch = copy_out(
        conn,
        load_sql("enrich/copy_first_touch"),
        span | {"ids": out["first_event_id"].tolist()},
        ("first_event_id", *FIRST_TOUCH),
        dict.fromkeys(("first_event_id", *FIRST_TOUCH), object),
    )
    return out.merge(touch, on="first_event_id", how="left", validate="one_to_one")[list(COLUMNS)]


def aggregate_sessions_in_sql(conn: psycopg.Connection, start: datetime, end: datetime) -> pd.DataFrame:
    """The same aggregate computed by PostgreSQL (a sort and window aggregates): the reference for the pandas
    one, and the bench's alternative."""
    conn.execute("SET LOCAL work_mem = '64MB'")  # the sort of the hour's events stays in memory
    return copy_out(conn, load_sql("enrich/copy_session_aggregates"), {"start": start, "end": end}, COLUMNS, _DTYPES)


def aggregate_in_snapshot(
    dsn: str, snapshot: str, start: datetime, end: datetime, how: Aggregator = "pandas"
) -> tuple[bytes, int]:
    """On a connection of its own, in the snapshot another transaction exported (so it reads exactly what
    that transaction reads): the interval's sessions as CSV for sql/enrich/copy_sessions_in.sql, and the
    milliseconds it took. Runs in a thread beside the run's write; psycopg releases the GIL on I/O."""
    t0 = time.perf_counter()
    with connect(dsn) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            conn.execute("SET LOCAL jit = off")
            fn = aggregate_sessions if how == "pandas" else aggregate_sessions_in_sql
            frame = fn(conn, start, end)
    buf = io.StringIO()
    # \r\n rows: the csv writer then quotes a value holding a lone \r, which PostgreSQL would take for a row end.
    frame.to_csv(buf, header=False, index=False, lineterminator="\r\n")
    return buf.getvalue().encode(), int((time.perf_counter() - t0) * 1000)


def merge_sessions(
    conn: psycopg.Connection, rows: bytes, start: datetime, end: datetime, now: datetime
) -> tuple[int, int]:
    """Upsert the aggregated sessions into analytics.sessions; (sessions touched, of which new)."""
    with conn.cursor().copy(load_sql("enrich/copy_sessions_in")) as copy:
        copy.write(rows)
    span = {"start": start, "end": end, "now": now}
    touched, new = conn.execute(load_sql("enrich/upsert_sessions"), span).fetchone()
    conn.execute(load_sql("enrich/update_removed_sessions"), span)
    return touched, new
