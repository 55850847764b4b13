"""Nightly deduplication: mark (never delete) events repeated within a second, set-based in PostgreSQL.

Rule: events with the same event_type, actor_id, session_id, entity_id, source and props (compared as
jsonb, so key order does not matter; NULL equals NULL; events with neither actor nor session are never
collapsed) — the collector's fingerprint fields — ordered by (occurred_at, id). An event whose
occurred_at lies within `window` after the latest *kept* event before it is a duplicate of that
event; duplicates never anchor others (chain a, a+0.8 s, a+1.6 s → the middle one only). The mark is
`props_json._duplicate = {of, rule, foundAt}`; marks are never changed, so a re-run marks nothing new.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from analytics.db import REACH_MARGIN, SESSIONS_LOCK_ID, connect
from analytics.params import parse_instant
from analytics.sql import load_sql

log = logging.getLogger(__name__)


def rule_name(window_ms: int) -> str:
    return f"same-type-actor-session-entity-source-props-within-{window_ms}ms-of-kept"


@dataclass(frozen=True)
class DedupResult:
    interval_start: str
    interval_end: str
    scanned: int
    candidates: int
    marked: int
    rule: str
    duration_ms: int
    window_rule: str | None
    steps_ms: dict[str, int]
    sessions_debited: int = 0  # sessions whose event_count no longer counts an event marked here

    @property
    def rate(self) -> float:
        return self.marked / self.scanned if self.scanned else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rate": round(self.rate, 6)}


def interval_for(end: datetime, hours: int) -> tuple[datetime, datetime]:
    """[end - hours, end): the run's end fixes the window, so a re-run repeats it."""
    if hours < 1:
        raise ValueError(f"hours must be >= 1, got {hours}")
    return end - timedelta(hours=hours), end


# Runs the timetable made: their data interval is the window. Any other run (manual, triggered by an operator or
# an asset) has the last complete cron interval as its data interval, which is not what a person asking for
# "the last N hours" means: it covers the N hours before it was triggered (run_after).
INTERVAL_RUN_TYPES = frozenset({"scheduled", "backfill"})


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    rule: str  # how the end was chosen, for the log, analytics.job_runs and the dashboard

    def describe(self) -> str:
        hours = (self.end - self.start) / timedelta(hours=1)
        return f"[{self.start.isoformat()}, {self.end.isoformat()}): {hours:g} h before {self.rule}"


def run_window(
    run_type: str,
    hours: int,
    *,
    data_interval_end: datetime | None,
    run_after: datetime,
    end: datetime | str | None = None,
) -> Window:
    """The window a run of events_dedup_nightly covers: the `hours` before an explicit `end`, else before the data
    interval's end (scheduled runs, backfills), else before the moment the run was triggered (manual runs)."""
    run_type = getattr(run_type, "value", run_type)
    if end:
        at, rule = parse_instant(end, "end"), "the explicit end"
    elif run_type in INTERVAL_RUN_TYPES and data_interval_end is not None:
        at, rule = data_interval_end, f"the data interval's end ({run_type} run)"
    else:
        at, rule = run_after, f"the trigger ({run_type} run)"
    start, stop = interval_for(at.astimezone(UTC), hours)
    return Window(start, stop, rule)


def deduplicate(
    dsn: str,
    start: datetime,
    end: datetime,
    *,
    window_ms: int = 1000,
    context_minutes: int = 10,
    found_at: datetime | None = None,
    run_id: str | None = None,
    window_rule: str | None = None,
    max_future: timedelta = timedelta(minutes=5),
) -> DedupResult:
    """Mark duplicates among events received in [start, end); record the run in analytics.job_runs."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    rule = rule_name(window_ms)
    found = (found_at or started).astimezone(UTC).isoformat().replace("+00:00", "Z")
    params = {
        "start": start,
        "end": end,
        "context_start": start - timedelta(minutes=context_minutes),
        "window": timedelta(milliseconds=window_ms),
        "rule": rule,
        "found_at": found,
    }
    steps: dict[str, int] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        steps[name] = round((now - since) * 1000)
        return now

    with connect(dsn) as conn:
        # Compiling the plans costs more than it saves on a job this shape (measured in bench/dedup_bench.py).
        conn.execute("SET LOCAL jit = off")
        t = time.perf_counter()
        scanned = conn.execute(load_sql("dedup/count_scanned"), params).fetchone()[0]
        t = lap("countMs", t)
        conn.execute(load_sql("dedup/create_candidates"))
        candidates = conn.execute(load_sql("dedup/insert_candidates"), params).rowcount
        conn.execute(load_sql("dedup/index_candidates"))
        conn.execute("ANALYZE dedup_candidates")
        t = lap("scanMs", t)
        # Enrichment counts sessions' events: it waits while this marks events and debits their sessions.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SESSIONS_LOCK_ID,))
        t = lap("lockMs", t)
        marked = conn.execute(load_sql("dedup/mark_duplicates"), params).rowcount
        t = lap("markMs", t)
        debit = {"reach": max_future + REACH_MARGIN}
        debited, recounted = conn.execute(load_sql("dedup/debit_sessions"), debit).fetchone()
        lap("sessionsMs", t)
        result = DedupResult(
            interval_start=start.isoformat(),
            interval_end=end.isoformat(),
            scanned=scanned,
            candidates=candidates,
            marked=marked,
            rule=rule,
            duration_ms=round((time.perf_counter() - t0) * 1000),
            steps_ms=steps,
            window_rule=window_rule,
            sessions_debited=debited + recounted,
        )
        conn.execute(
            load_sql("dedup/insert_job_run"),
            {
                "run_id": run_id,
                "start": start,
                "end": end,
                "started_at": started,
                "finished_at": datetime.now(UTC),
                "stats": Jsonb(result.as_dict()),
            },
        )
    log.info("dedup %s", result.as_dict())
    return result


def context_window(ctx: Mapping[str, Any]) -> Window:
    """run_window() for the Airflow task context of an events_dedup_nightly task."""
    dag_run = ctx["dag_run"]
    return run_window(
        dag_run.run_type,
        ctx["params"]["hours"],
        data_interval_end=dag_run.data_interval_end,
        run_after=dag_run.run_after,
        end=ctx["params"].get("end"),
    )


def run_nightly(window: Window, run_id: str | None = None) -> dict[str, Any]:
    """The events_dedup_nightly task: deduplicate `window` with the stores from Airflow."""
    from analytics.config import get_settings
    from analytics.connections import postgres_dsn

    s = get_settings()
    log.info("dedup window %s", window.describe())
    return deduplicate(
        postgres_dsn(),
        window.start,
        window.end,
        window_ms=s.dedup_window_ms,
        context_minutes=s.dedup_context_minutes,
        run_id=run_id,
        window_rule=window.rule,
        max_future=timedelta(seconds=s.max_future_skew_seconds),
    ).as_dict()
