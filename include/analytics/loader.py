"""Drain the Redis stream into analytics.events: COPY → INSERT … ON CONFLICT → commit → XACK."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from analytics.db import connect
from analytics.sql import load_sql

log = logging.getLogger(__name__)

COLUMNS = (
    "id",
    "event_type",
    "source",
    "occurred_at",
    "received_at",
    "sent_at",
    "client_occurred_at",
    "actor_id",
    "actor_type",
    "session_id",
    "entity_id",
    "entity_type",
    "props_json",
    "attribution_json",
    "idempotency_key",
    "fingerprint",
    "user_agent",
    "ip_address",
    "stream_id",
)


@dataclass
class LoadStats:
    entries_read: int = 0
    inserted: int = 0
    already_present: int = 0
    rejected: int = 0
    reclaimed: int = 0
    lag_left: int | None = None
    max_received_at: str | None = None
    batches: int = 0
    duration_ms: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        return d


@dataclass(frozen=True)
class LoaderConfig:
    stream: str = "analytics:events"
    group: str = "analytics-loader"
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    batch_size: int = 5000
    time_budget_s: float = 45.0
    block_ms: int = 1000
    reclaim_idle_ms: int = 60_000


def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _row(stream_id: str, fields: dict[bytes, bytes]) -> tuple:
    rec = json.loads(fields[b"e"])
    rec["id"] = fields[b"id"].decode()
    return tuple(
        json.dumps(rec.get("props") or {})
        if c == "props_json"
        else json.dumps(rec.get("attribution") or {})
        if c == "attribution_json"
        else stream_id
        if c == "stream_id"
        else rec.get(c)
        for c in COLUMNS
    )


def load_batch(
    conn: psycopg.Connection, entries: list[tuple[bytes, dict[bytes, bytes]]]
) -> tuple[int, int, str | None]:
    """Write one batch in one transaction; returns (inserted, rows staged, max received_at)."""
    rows = [_row(sid.decode(), fields) for sid, fields in entries]
    with conn.transaction():
        conn.execute(load_sql("load/create_stage"))
        with conn.cursor().copy(f"COPY events_stage ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute(load_sql("load/claim_idempotency_keys"))
        inserted = conn.execute(load_sql("load/insert_events")).rowcount
    max_received = max((r[COLUMNS.index("received_at")] for r in rows), default=None)
    return inserted, len(rows), max_received


def run_load(dsn: str, client: redis.Redis, cfg: LoaderConfig, run_id: str | None = None) -> LoadStats:
    """Drain until the stream is empty or the time budget is spent."""
    stats = LoadStats()
    t0 = time.monotonic()
    ensure_group(client, cfg.stream, cfg.group)
    with connect(dsn) as conn:
        # Entries a crashed run read but never acknowledged come first.
        cursor = "0-0"
        while True:
            cursor, claimed, *_ = client.xautoclaim(
                cfg.stream, cfg.group, cfg.consumer, cfg.reclaim_idle_ms, cursor, count=cfg.batch_size
            )
            claimed = [(sid, f) for sid, f in claimed if f]
            if claimed:
                stats.reclaimed += len(claimed)
                _commit_and_ack(conn, client, cfg, claimed, stats)
            if cursor in (b"0-0", "0-0"):
                break
        # Our own pending entries (an earlier attempt of this consumer) before new ones.
        for start in ("0", ">"):
            while time.monotonic() - t0 < cfg.time_budget_s:
                resp = client.xreadgroup(
                    cfg.group,
                    cfg.consumer,
                    {cfg.stream: start},
                    count=cfg.batch_size,
                    block=None if start == "0" else cfg.block_ms,
                )
                entries = resp[0][1] if resp else []
                if not entries:
                    break
                _commit_and_ack(conn, client, cfg, entries, stats)
        info = client.xinfo_groups(cfg.stream)
        for g in info:
            if g["name"] in (cfg.group, cfg.group.encode()):
                stats.lag_left = g.get("lag")
        stats.duration_ms = int((time.monotonic() - t0) * 1000)
        with conn.transaction():
            conn.execute(
                load_sql("load/insert_load_run"),
                {
                    "run_id": run_id,
                    "started_at": stats.started_at,
                    "finished_at": datetime.now(UTC),
                    **{
                        k: getattr(stats, k)
                        for k in (
                            "entries_read",
                            "inserted",
                            "already_present",
                            "rejected",
                            "reclaimed",
                            "lag_left",
                            "max_received_at",
                            "duration_ms",
                        )
                    },
                },
            )
    log.info("load finished: %s", stats.as_dict())
    return stats


def _commit_and_ack(conn, client, cfg: LoaderConfig, entries, stats: LoadStats) -> None:
    inserted, staged, max_received = load_batch(conn, entries)
    # Only after the commit: a crash before this line replays the batch, which inserts nothing twice.
    client.xack(cfg.stream, cfg.group, *[sid for sid, _ in entries])
    stats.entries_read += len(entries)
    stats.inserted += inserted
    stats.already_present += staged - inserted
    stats.batches += 1
    if max_received and (stats.max_received_at is None or max_received > stats.max_received_at):
        stats.max_received_at = max_received
