"""What the DAG tasks call: each function opens its stores from the Airflow connections."""

from __future__ import annotations

from typing import Any

import redis

from analytics.config import get_settings
from analytics.connections import postgres_dsn, redis_url
from analytics.loader import LoaderConfig, run_load


def load_events(
    run_id: str | None = None, batch_size: int | None = None, time_budget_seconds: int | None = None
) -> dict[str, Any]:
    s = get_settings()
    cfg = LoaderConfig(
        stream=s.stream_key,
        group=s.consumer_group,
        batch_size=batch_size or s.load_batch_size,
        time_budget_s=time_budget_seconds if time_budget_seconds is not None else s.load_time_budget_seconds,
        reclaim_idle_ms=s.reclaim_idle_ms,
    )
    client = redis.Redis.from_url(redis_url())
    try:
        return run_load(postgres_dsn(), client, cfg, run_id=run_id).as_dict()
    finally:
        client.close()
