"""What the events_enrich tasks call; stores come from the Airflow connections."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from analytics.config import get_settings
from analytics.connections import postgres_dsn
from analytics.enrich.job import enrich_interval

log = logging.getLogger(__name__)


def enrich_data_interval(start: datetime, end: datetime, *, run_id: str | None, parser: str = "auto") -> dict[str, Any]:
    settings = get_settings()
    gap = timedelta(minutes=settings.session_inactivity_minutes)
    return enrich_interval(
        postgres_dsn(),
        start,
        end,
        run_id=run_id,
        engine=parser,  # type: ignore[arg-type]
        session_gap=gap,
        max_future=timedelta(seconds=settings.max_future_skew_seconds),
    ).as_dict()
