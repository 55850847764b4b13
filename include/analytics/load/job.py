"""Drain the Redis stream into analytics.events: COPY → commit → XACK.

At-least-once reads (consumer group, XACK only after the commit) plus an idempotent table (the event id,
the idempotency key) give exactly-once effect. Fresh entries are COPied straight into the table; a batch
that conflicts (a replay) or holds a bad row goes through a staging table and `INSERT … ON CONFLICT DO
NOTHING`, bad rows isolated by bisection. An entry that cannot be loaded is kept in
analytics.rejected_events with the reason and acknowledged; the rest of its batch loads. An event whose
idempotency key an earlier event holds is not stored, and is recorded in analytics.dropped_events, so that every
accepted event is accounted for (the monitor's check_counts).
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from analytics.db import connect
from analytics.load import stream_reader as loader_stream
from analytics.load.entries import COLUMNS, Batch, Entry, stream_id, to_lines
from analytics.load.rejections import ROW_ERRORS, copy_collector_rejections, insert_rejections, loader_rejection
from analytics.sql import load_sql

log = logging.getLogger(__name__)

COPY_STAGE = f"COPY events_stage ({', '.join(COLUMNS)}) FROM STDIN"
COPY_EVENTS = f"COPY analytics.events ({', '.join(COLUMNS)}) FROM STDIN"

REJECTIONS_BUDGET_S = 5.0

Hook = Callable[[list[bytes]], None]


@dataclass
class LoadStats:
    consumer: str = ""
    stream: str = ""
    entries_read: int = 0
    inserted: int = 0
    already_present: int = 0
    rejected: int = 0
    reclaimed: int = 0
    collector_rejections: int = 0
    batches: int = 0
    lag_left: int | None = None
    pending_left: int | None = None
    trimmed: int = 0
    max_received_at: str | None = None
    watermark: datetime | None = None
    duration_ms: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["watermark"] = self.watermark.isoformat() if self.watermark else None
        return d


@dataclass(frozen=True)
class LoaderConfig:
    stream: str = "analytics:events"
    rejected_stream: str = "analytics:rejected"
    group: str = "analytics-loader"
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    batch_size: int = 5000
    time_budget_s: float = 55.0
    # Keep blocking on the stream for new entries until this many seconds into the run (capped by the budget).
    follow_s: float = 0.0
    block_ms: int = 1000
    reclaim_idle_ms: int = 60_000
    watermark_margin_ms: int = 10_000


def write_rows(conn: psycopg.Connection, lines: Sequence[bytes], *, dirty: bool = False) -> tuple[int, list]:
    """Stage and insert COPY `lines` inside the caller's transaction; returns (inserted, [(line, error)]).

    A batch that fails on a row's content is split in halves under savepoints until the bad rows are
    isolated, so k bad rows cost O(k log n) statements and the good ones still load."""
    try:
        with conn.transaction():
            if dirty:
                conn.execute(load_sql("load/truncate_stage"))
            with conn.cursor().copy(COPY_STAGE) as copy:
                copy.write(b"".join(lines))
            conn.execute(load_sql("load/claim_idempotency_keys"))
            inserted = conn.execute(load_sql("load/insert_events")).rowcount
            if inserted < len(lines):  # a replay, or events whose idempotency key an earlier event holds
                conn.execute(load_sql("load/insert_dropped_staged"))
            return inserted, []
    except ROW_ERRORS as exc:
        if len(lines) == 1:
            return 0, [(lines[0], str(exc).strip().splitlines()[0])]
    mid = len(lines) // 2
    left, bad_left = write_rows(conn, lines[:mid], dirty=True)
    right, bad_right = write_rows(conn, lines[mid:], dirty=True)
    return left + right, bad_left + bad_right


def copy_new_rows(conn: psycopg.Connection, batch: Batch) -> tuple[int, int] | None:
    """COPY a batch of entries never delivered before straight into analytics.events (no staging), then
    claim its idempotency keys. Returns (inserted, dropped as idempotency-key duplicates), or None when a
    row conflicts or is bad: then nothing was written and the caller takes the staged path (ON CONFLICT,
    bad rows isolated)."""
    count, claims = batch.count, batch.claims
    try:
        with conn.transaction():
            with conn.cursor().copy(COPY_EVENTS) as copy:
                copy.write(batch.data)
            if not claims["ids"]:
                return count, 0
            won = {event_id for (event_id,) in conn.execute(load_sql("load/claim_batch_idempotency_keys"), claims)}
            # Postgres answers ids in canonical form; the collector writes them so (parse only the others).
            losers = [
                i
                for i, event_id in enumerate(claims["ids"])
                if event_id not in won and str(uuid.UUID(event_id)) not in won
            ]
            if losers:
                dropped = {name: [values[i] for i in losers] for name, values in claims.items()}
                conn.execute(load_sql("load/delete_events"), dropped)
                conn.execute(load_sql("load/insert_dropped_keys"), dropped)  # accounted for: check_counts
            return count - len(losers), len(losers)
    except ROW_ERRORS:
        return None


def load_batch(
    conn: psycopg.Connection,
    batch: Batch | Sequence[Entry],
    stats: LoadStats,
    after_commit: Hook | None = None,
    *,
    fresh: bool = False,
) -> list[bytes]:
    """Load one batch (entries, or entries already made a Batch) in one transaction; returns the ids to
    acknowledge (all of them, once committed).

    `fresh`: the entries come from a `>` read (never delivered before), so a direct COPY is tried first."""
    if not isinstance(batch, Batch):
        batch = to_lines(batch)
    entries = batch.entries
    rejects = batch.rejects
    bad: list[tuple[bytes, str]] = []
    with conn.transaction():
        direct = copy_new_rows(conn, batch) if fresh and batch.count else None
        if direct is not None:
            inserted = direct[0]
        elif batch.count:
            inserted, bad = write_rows(conn, batch.lines())
        else:
            inserted = 0
        for line, error in bad:
            rejects.append(loader_rejection(stream_id(line).decode(), batch.fields(line), "invalid", error))
        insert_rejections(conn, rejects, stream=stats.stream)
    ids = batch.ids
    if after_commit is not None:
        after_commit(ids)
    stats.entries_read += len(entries)
    stats.inserted += inserted
    stats.rejected += len(rejects)
    stats.already_present += batch.count - len(bad) - inserted
    stats.batches += 1
    latest = batch.latest_received_at({line for line, _ in bad}) if bad else batch.latest
    if latest and (stats.max_received_at is None or latest > stats.max_received_at):
        stats.max_received_at = latest
    return ids


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Hold Python's cycle collector while batches flow.

    Each entry allocates a few containers (the reply's lists, the batch's lines), none in a cycle:
    reference counting frees them. But their count triggers collections that scan every young object, and
    now and then the whole heap (in an Airflow task, Airflow's too): 0.05–0.2 s per 30,000 entries measured
    in the loader bench. Cycles made meanwhile are collected once the collector is back."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_load(
    dsn: str,
    client: redis.Redis,
    cfg: LoaderConfig,
    run_id: str | None = None,
    after_commit: Hook | None = None,
) -> LoadStats:
    """Drain until the stream is empty (or, when following, until `follow_s`) or the time budget is spent.

    `after_commit` runs between each batch's commit and its XACK (a test hook to inject a crash there)."""
    stats = LoadStats(consumer=cfg.consumer, stream=cfg.stream)
    t0 = time.monotonic()
    deadline = t0 + cfg.time_budget_s
    follow_until = t0 + min(cfg.follow_s, cfg.time_budget_s)
    for stream in (cfg.stream, cfg.rejected_stream):
        loader_stream.ensure_group(client, stream, cfg.group)
    with connect(dsn) as conn:
        conn.execute(load_sql("load/create_stage"))
        conn.commit()
        # XACK runs in the background while the next batch loads; at most one is in flight, and all are done
        # before trimming. A crash before one completes leaves its batch pending: replayed, it inserts nothing.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xack") as acker, _cyclic_gc_paused():
            acked: Future | None = None
            for batch, kind in loader_stream.read_batches(
                client, cfg.stream, cfg.group, cfg.consumer, batch_size=cfg.batch_size,
                reclaim_idle_ms=cfg.reclaim_idle_ms, deadline=deadline, follow_until=follow_until,
                block_ms=cfg.block_ms, prepare=to_lines,
            ):  # fmt: skip
                ids = load_batch(conn, batch, stats, after_commit, fresh=kind == "new")
                if acked is not None:
                    acked.result()
                # Only after the commit: a crash before this line replays the batch, which inserts nothing twice.
                acked = acker.submit(client.xack, cfg.stream, cfg.group, *ids)
                if kind != "new":  # left unacknowledged by a crashed run (another consumer's, or this one's)
                    stats.reclaimed += len(ids)
                    acked.result()  # the next read of this consumer's pending entries must not see them again
            if acked is not None:
                acked.result()
        # The collector's rejections come after the events, with a few seconds of their own (a following run
        # spends its whole budget on the events): nothing on this side stream may hold the events back.
        stats.collector_rejections = copy_collector_rejections(
            conn, client, stream=cfg.rejected_stream, group=cfg.group, consumer=cfg.consumer,
            batch_size=cfg.batch_size, reclaim_idle_ms=cfg.reclaim_idle_ms,
            deadline=time.monotonic() + min(REJECTIONS_BUDGET_S, cfg.time_budget_s),
        )  # fmt: skip
        stats.trimmed = sum(loader_stream.trim_acknowledged(client, s) for s in (cfg.stream, cfg.rejected_stream))
        stats.watermark = loader_stream.watermark(
            client, (cfg.stream, cfg.rejected_stream), cfg.group, cfg.watermark_margin_ms
        )
        stats.lag_left, stats.pending_left = loader_stream.backlog(client, cfg.stream, cfg.group)
        loader_stream.forget_idle_consumers(client, cfg.stream, cfg.group, cfg.consumer)
        stats.duration_ms = int((time.monotonic() - t0) * 1000)
        with conn.transaction():
            record = {k: v for k, v in asdict(stats).items() if k != "started_at"}
            conn.execute(
                load_sql("load/insert_load_run"),
                {**record, "run_id": run_id, "started_at": stats.started_at, "finished_at": datetime.now(UTC)},
            )
    log.info("load finished: %s", stats.as_dict())
    return stats
