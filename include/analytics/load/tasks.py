"""What the DAG tasks call: each function opens its stores from the Airflow connections."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from analytics.collect.keys import Keys
from analytics.config import Settings, get_settings
from analytics.connections import postgres_dsn, redis_url
from analytics.db import connect
from analytics.load.job import LoaderConfig, run_load
from analytics.load.partitions import drop_expired_partitions, ensure_partitions, expire_derived
from analytics.redis_client import open_redis

LOADER_CONSUMER = "events_load"


def load_streams(s: Settings | None = None) -> list[str]:
    """The streams events_load drains, one mapped task each: the shards, and the legacy stream when sharded."""
    return [k.stream for k in Keys.from_settings(s or get_settings()).loaded_keys]


def loader_config(s: Settings, stream: str | None = None, **overrides: Any) -> LoaderConfig:
    """The loader's knobs from the settings for `stream` (one of load_streams; None = the unsharded stream);
    `overrides` (DAG params) win unless None."""
    keys = Keys(s.key_prefix, s.stream_key)
    if stream is not None:
        keys = next((k for k in Keys.from_settings(s).loaded_keys if k.stream == stream), None)
        if keys is None:
            raise ValueError(f"{stream!r} is none of the streams to load: {load_streams(s)}")
    cfg: dict[str, Any] = {
        "stream": keys.stream,
        "rejected_stream": keys.rejected_stream,
        "group": s.consumer_group,
        # One run at a time (max_active_runs=1): a stable name lets a retry pick up its own pending entries.
        "consumer": LOADER_CONSUMER,
        "batch_size": s.load_batch_size,
        "time_budget_s": float(s.load_time_budget_seconds),
        "follow_s": float(s.load_follow_seconds),
        "block_ms": s.load_block_ms,
        "reclaim_idle_ms": s.reclaim_idle_ms,
        "watermark_margin_ms": s.watermark_margin_seconds * 1000,
    }
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return LoaderConfig(**cfg)


def load_events(
    run_id: str | None = None,
    stream: str | None = None,
    batch_size: int | None = None,
    time_budget_seconds: int | None = None,
    follow_seconds: int | None = None,
) -> dict[str, Any]:
    s = get_settings()
    cfg = loader_config(
        s,
        stream,
        batch_size=batch_size,
        time_budget_s=None if time_budget_seconds is None else float(time_budget_seconds),
        follow_s=None if follow_seconds is None else float(follow_seconds),
    )
    client = open_redis(redis_url(), s)
    try:
        return run_load(postgres_dsn(), client, cfg, run_id=run_id).as_dict()
    finally:
        client.close()


def maintain_partitions(today: date | None = None) -> dict[str, Any]:
    """Create tomorrow's (and further) partitions ahead; drop the ones past retention, and the enrichment rows
    (event context, sessions) derived from their events."""
    s = get_settings()
    day = today or datetime.now(UTC).date()
    with connect(postgres_dsn()) as conn:
        created = ensure_partitions(conn, day, s.partition_days_ahead)
        dropped = drop_expired_partitions(conn, day, s.retention_days)
        # Once per dropped day, not every minute: the sessions delete scans the table (no index on updated_at,
        # which every session upsert changes). Same transaction as the drop: both happen or neither.
        expired = expire_derived(conn, day, s.retention_days) if dropped else {}
        conn.commit()
    return {"created": created, "dropped": dropped, "expired": expired}
