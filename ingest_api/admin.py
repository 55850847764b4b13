"""GET /v1/admin/stats and POST /v1/admin/flush (admin token)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
import redis
from flask import Blueprint, current_app

from analytics.airflow_api import AirflowApiError, trigger_dag_run
from analytics.collect.stats import collector_summary, collector_timeseries, last_load, stream_health
from analytics.config import Settings
from analytics.db import connect
from ingest_api.answers import answer
from ingest_api.auth import require_admin
from ingest_api.errors import ApiError

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")

WINDOWS = {"1m": 60, "5m": 300, "1h": 3600, "24h": 86_400}


@bp.before_request
def _auth() -> None:
    require_admin()


def _json(value: Any) -> Any:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value


@bp.get("/stats")
def stats():
    settings: Settings = current_app.extensions["analytics.settings"]
    client: redis.Redis = current_app.extensions["analytics.redis"]
    keys = current_app.extensions["analytics.keys"]
    windows = {name: collector_summary(client, keys, seconds) for name, seconds in WINDOWS.items()}
    body: dict[str, Any] = {
        "stream": stream_health(client, settings.stream_key, settings.consumer_group),
        # Per stream the loader drains when sharded (the unsharded one above is then the legacy stream).
        "shards": [stream_health(client, k.stream, settings.consumer_group) for k in keys.loaded_keys]
        if keys.shards > 1
        else None,
        "rejectedStream": {"key": keys.rejected_stream, "length": client.xlen(keys.rejected_stream)},
        # The original design's headline figures, over the last hour.
        "totalChecks": windows["1h"]["totalChecks"],
        "duplicatesFound": windows["1h"]["duplicatesFound"],
        "deduplicationRate": windows["1h"]["deduplicationRate"],
        "windows": windows,
        "timeseries": collector_timeseries(client, keys, 60),
        "lastLoad": None,
    }
    try:
        with connect(settings.database_url, autocommit=True, connect_timeout=2) as conn:
            row = last_load(conn)
        body["lastLoad"] = {k: _json(v) for k, v in row.items()} if row else None
    except psycopg.Error as exc:
        body["lastLoadError"] = f"postgres unavailable: {type(exc).__name__}"
    return answer(body)


@bp.post("/flush")
def flush():
    settings: Settings = current_app.extensions["analytics.settings"]
    try:
        run = trigger_dag_run(settings)
    except AirflowApiError as exc:
        if not settings.airflow_username:
            raise ApiError(503, "not_configured", str(exc)) from None
        raise ApiError(502, "airflow_error", f"could not trigger events_load: {exc}") from None
    return answer({"status": "triggered", **run}, 202)
