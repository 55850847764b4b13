"""What the events_enrich tasks call; stores come from the Airflow connections."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from analytics.connections import postgres_dsn
from analytics.enrich.job import enrich_interval

log = logging.getLogger(__name__)


def enrich_data_interval(start: datetime, end: datetime, *, run_id: str | None, parser: str = "auto") -> dict[str, Any]:
    return enrich_interval(postgres_dsn(), start, end, run_id=run_id, engine=parser).as_dict()  # type: ignore[arg-type]
