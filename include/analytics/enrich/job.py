"""Enrich one interval [start, end) of received events into analytics.attribution, in one transaction.

Per event the job stores keys only (analytics.event_context: the parsed user agent's, the session's, the
entity version's); the analytics.attribution view joins them to analytics.user_agents, analytics.sessions
and analytics.entity_versions. The context rows are written by one set-based INSERT … SELECT joining the
interval's events to the run's small working sets (see sql/enrich/create_stages.sql); Python handles what is
per distinct value — the user agents not parsed before — and, with pandas on a second connection in the same
snapshot while that INSERT runs on the first, the per-session aggregate, which is then merged in SQL.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from analytics.db import SESSIONS_LOCK_ID, connect
from analytics.enrich.derived import derive_sessions
from analytics.enrich.sessions import Aggregator, aggregate_in_snapshot, merge_sessions
from analytics.enrich.snapshots import stage_versions
from analytics.enrich.ua_cache import stage_user_agents
from analytics.enrich.useragent import Engine
from analytics.sql import load_sql

log = logging.getLogger(__name__)


@dataclass
class EnrichStats:
    interval_start: str
    interval_end: str
    events: int = 0
    distinct_user_agents: int = 0
    user_agents_parsed: int = 0  # the distinct strings no earlier run had parsed (analytics.user_agents)
    parse_processes: int = 0  # processes that parsed them (forked workers when many, cores to spare)
    sessions_touched: int = 0
    sessions_new: int = 0
    sessions_derived: int = 0  # sessions of sessionless events, derived per actor-day (analytics.enrich.derived)
    entities_referenced: int = 0
    rows_replaced: int = 0  # rows an earlier run of the interval had written
    rows_written: int = 0  # rows inserted, changed or deleted (a re-run leaves unchanged rows alone)
    parser: str = "auto"
    duration_ms: int = 0
    phases_ms: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def enrich_interval(
    dsn: str,
    start: datetime,
    end: datetime,
    *,
    run_id: str | None = None,
    engine: Engine = "auto",
    parse_workers: int | None = None,
    sessions: Aggregator = "pandas",
    session_gap: timedelta = timedelta(minutes=30),
    max_future: timedelta = timedelta(minutes=5),
) -> EnrichStats:
    """Write the context rows of events received in [start, end) and merge their sessions; idempotent."""
    if end <= start:
        raise ValueError(f"empty interval: start {start.isoformat()} must be before end {end.isoformat()}")
    stats = EnrichStats(interval_start=start.isoformat(), interval_end=end.isoformat(), parser=engine)
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    mark = t0
    span = {"start": start, "end": end}

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        stats.phases_ms[name] = int((now - mark) * 1000)
        mark = now

    # The lock is the connection's, taken before the transaction: at REPEATABLE READ the transaction's
    # snapshot is taken by its first statement, and it must see what the run that held the lock committed.
    # Closing the connection releases it.
    with connect(dsn, autocommit=True) as conn, ThreadPoolExecutor(1) as pool:
        conn.execute("SELECT pg_advisory_lock(%s)", (SESSIONS_LOCK_ID,))
        # One snapshot for all the run's statements, exported to the second connection that aggregates the
        # sessions, so both read the same events.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            # Not waiting for the WAL flush at commit is safe here: a crash right after the commit can lose the
            # whole run (atomically, never part of it) — only derived data, which shows in the monitor's
            # enrichment backlog and which the idempotent re-run of the interval writes again.
            conn.execute("SET LOCAL synchronous_commit = off")
            conn.execute("SET LOCAL jit = off")  # compiling costs more than it saves on these hash joins
            conn.execute(load_sql("enrich/create_stages"))
            stats.rows_replaced = conn.execute(load_sql("enrich/count_previous_context"), span).fetchone()[0]
            phase("previous")
            stats.distinct_user_agents, stats.user_agents_parsed, stats.parse_processes = stage_user_agents(
                conn, start, end, engine, started_at, parse_workers
            )
            phase("user_agents")
            # After the parse, whose worker processes fork: a fork must not copy a process with a thread at work.
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            aggregate = pool.submit(aggregate_in_snapshot, dsn, snapshot, start, end, sessions)
            stats.entities_referenced = stage_versions(conn, start, end)
            phase("snapshots")
            stats.sessions_derived = derive_sessions(conn, start, end, session_gap, started_at, max_future)
            phase("sessions_derived")
            conn.execute(load_sql("enrich/analyze_stages"))
            select = load_sql("enrich/select_interval_context")
            if not stats.rows_replaced:  # a first run
                insert = load_sql("enrich/insert_interval_context").replace("-- {select}", select)
                stats.events = stats.rows_written = conn.execute(insert, span | {"now": started_at}).rowcount
            else:  # a re-run: write only what changed, drop rows whose event is gone
                upsert = load_sql("enrich/upsert_interval_context").replace("-- {select}", select)
                stats.rows_written = conn.execute(upsert, span | {"now": started_at}).rowcount
                stats.rows_written += conn.execute(load_sql("enrich/delete_gone_context"), span).rowcount
                stats.events = conn.execute(load_sql("enrich/count_interval_events"), span).fetchone()[0]
            phase("write")
            rows, stats.phases_ms["sessions_aggregate"] = aggregate.result()
            phase("sessions_wait")
            stats.sessions_touched, stats.sessions_new = merge_sessions(conn, rows, start, end, started_at)
            phase("sessions_merge")
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
