"""Enrich one interval [start, end) of received events into analytics.attribution, in one transaction."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from analytics.db import connect
from analytics.enrich.frames import copy_lines, copy_out, csv_field, csv_fragments
from analytics.enrich.sessions import FIRST_TOUCH, interval_aggregates, merge_sessions
from analytics.enrich.snapshots import snapshot_at_event_time
from analytics.enrich.useragent import Engine, Parsed, parse_codes
from analytics.sql import load_sql

log = logging.getLogger(__name__)

# One enrichment at a time: two runs merging the same sessions concurrently would race.
_LOCK_ID = 0x656E7263

EVENT_COLUMNS = (
    "id",
    "received_at",
    "occurred_us",
    "session_id",
    "actor_id",
    "entity_type",
    "entity_id",
    "user_agent",
    *FIRST_TOUCH,
)
EVENT_DTYPES: dict[str, Any] = {c: object for c in EVENT_COLUMNS} | {"occurred_us": "int64"}


@dataclass
class EnrichStats:
    interval_start: str
    interval_end: str
    events: int = 0
    distinct_user_agents: int = 0
    sessions_touched: int = 0
    sessions_new: int = 0
    entities_referenced: int = 0
    rows_replaced: int = 0
    other_rows_corrected: int = 0
    parser: str = "auto"
    duration_ms: int = 0
    phases_ms: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def loader_watermark(conn: psycopg.Connection) -> datetime | None:
    """Everything received before this instant is in analytics.events."""
    row = conn.execute(load_sql("enrich/select_loader_watermark")).fetchone()
    return row[0] if row else None


def read_interval(conn: psycopg.Connection, start: datetime, end: datetime) -> pd.DataFrame:
    return copy_out(
        conn, load_sql("enrich/copy_interval_events"), {"start": start, "end": end}, EVENT_COLUMNS, EVENT_DTYPES
    )


def attribution_lines(
    events: pd.DataFrame,
    ua_codes: np.ndarray,
    ua_parsed: list[Parsed],
    merged: pd.DataFrame,
    snapshot: pd.Series,
    enriched_at: datetime,
) -> np.ndarray:
    """CSV lines for sql/enrich/copy_attribution.sql, gathered from fragments built once per distinct
    user agent, session and entity version (no per-event formatting beyond string concatenation)."""
    s_codes, s_uniques = pd.factorize(events["session_id"], use_na_sentinel=True)
    ctx = merged.set_index("session_id").reindex(s_uniques)
    session_frag = csv_fragments(
        zip(
            s_uniques,
            ctx["session_started_at"],
            ctx["session_duration_ms"],
            *(ctx[c] for c in FIRST_TOUCH),
            strict=True,
        )
    )
    no_session = s_codes < 0
    # Events without a session keep their own referrer / landing page / UTM.
    own = events.loc[no_session, list(FIRST_TOUCH)]
    session_part = np.empty(len(events), dtype=object)
    session_part[~no_session] = session_frag[s_codes[~no_session]]
    session_part[no_session] = csv_fragments((None, None, None, *r) for r in own.itertuples(index=False))
    ua_part = csv_fragments(ua_parsed)[ua_codes]
    v_codes, v_uniques = pd.factorize(snapshot, use_na_sentinel=True)
    snap_frag = np.append(csv_fragments((v,) for v in v_uniques), "")
    tail = "," + csv_field(enriched_at.isoformat())
    head = events["id"].to_numpy(dtype=object) + "," + events["received_at"].to_numpy(dtype=object) + ","
    return head + session_part + "," + ua_part + "," + snap_frag[v_codes] + tail


def enrich_interval(
    dsn: str, start: datetime, end: datetime, *, run_id: str | None = None, engine: Engine = "auto"
) -> EnrichStats:
    """Replace the attribution rows of events received in [start, end) and merge their sessions; idempotent."""
    if end <= start:
        raise ValueError(f"empty interval: start {start.isoformat()} must be before end {end.isoformat()}")
    stats = EnrichStats(interval_start=start.isoformat(), interval_end=end.isoformat(), parser=engine)
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    mark = t0

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        stats.phases_ms[name] = int((now - mark) * 1000)
        mark = now

    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        events = read_interval(conn, start, end)
        stats.events = len(events)
        phase("read")
        conn.execute(load_sql("enrich/create_stages"))
        stats.rows_replaced = conn.execute(
            load_sql("enrich/delete_interval_attribution"), {"start": start, "end": end}
        ).fetchone()[0]
        phase("delete")
        ua_codes, ua_parsed = parse_codes(events["user_agent"], engine)
        stats.distinct_user_agents = len(ua_parsed) - 1
        phase("user_agents")
        snapshot, stats.entities_referenced = snapshot_at_event_time(conn, events)
        phase("snapshots")
        merged = merge_sessions(conn, interval_aggregates(events), started_at)
        stats.sessions_touched = len(merged)
        stats.sessions_new = int((~merged["existed"]).sum())
        phase("sessions")
        lines = attribution_lines(events, ua_codes, ua_parsed, merged, snapshot, started_at)
        phase("format")
        copy_lines(conn, load_sql("enrich/copy_attribution"), lines)
        phase("write")
        existed = merged.loc[merged["existed"], "session_id"].tolist()
        if existed:
            stats.other_rows_corrected = conn.execute(
                load_sql("enrich/update_other_interval_attribution"), {"sessions": existed, "start": start, "end": end}
            ).rowcount
        phase("correct_other_intervals")
        stats.duration_ms = int((time.perf_counter() - t0) * 1000)
        conn.execute(
            load_sql("enrich/insert_job_run"),
            {
                "run_id": run_id,
                "start": start,
                "end": end,
                "started_at": started_at,
                "finished_at": datetime.now(UTC),
                "stats": json.dumps(stats.as_dict()),
            },
        )
    log.info("enriched %s", stats.as_dict())
    return stats
