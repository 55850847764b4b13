"""The loader's watermark: every event with received_at below it is loaded (or rejected).

Batch DAGs wait on it before touching an interval, and the monitor measures the enrichment backlog from it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from analytics.collect.keys import Keys
from analytics.config import Settings, get_settings
from analytics.connections import postgres_dsn
from analytics.db import connect
from analytics.sql import load_sql

log = logging.getLogger(__name__)


def loader_watermark(conn: psycopg.Connection, settings: Settings | None = None) -> datetime | None:
    """The lowest of the loaded streams' watermarks (None until each stream was loaded once)."""
    keys = Keys.from_settings(settings or get_settings())
    params = {"streams": [k.stream for k in keys.loaded_keys], "unsharded": keys.stream}
    return conn.execute(load_sql("load/select_watermark"), params).fetchone()[0]


def loader_caught_up(interval_end: datetime) -> bool:
    """True once the loader has loaded everything received before `interval_end`."""
    with connect(postgres_dsn()) as conn:
        watermark = loader_watermark(conn)
    log.info("loader watermark %s, interval end %s", watermark, interval_end)
    return watermark is not None and watermark >= interval_end


def loader_ready(params: Mapping[str, Any], interval_end: datetime) -> bool:
    """The batch DAGs' wait_for_loader sensor: go when the run's `wait_for_loader` param is off or the loader
    has caught up with `interval_end`."""
    return not params["wait_for_loader"] or loader_caught_up(interval_end)
