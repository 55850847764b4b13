"""What the events_enrich tasks call; stores come from the Airflow connections."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from analytics.connections import postgres_dsn
from analytics.db import connect
from analytics.enrich.job import enrich_interval, loader_watermark

log = logging.getLogger(__name__)


def loader_caught_up(interval_end: datetime) -> bool:
    with connect(postgres_dsn()) as conn:
        watermark = loader_watermark(conn)
    log.info("loader watermark %s, interval end %s", watermark, interval_end)
    return watermark is not None and watermark >= interval_end


def enrich_data_interval(start: datetime, end: datetime, *, run_id: str | None, parser: str = "auto") -> dict[str, Any]:
    return enrich_interval(postgres_dsn(), start, end, run_id=run_id, engine=parser).as_dict()  # type: ignore[arg-type]
