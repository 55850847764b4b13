"""Liveness and readiness."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app

from ingest_api.errors import envelope

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    client: redis.Redis = current_app.extensions["analytics.redis"]
    keys = current_app.extensions["analytics.keys"]
    try:
        client.ping()
        kind = client.type(keys.stream)
        if kind not in (b"stream", b"none"):
            return envelope(503, "not_ready", f"{keys.stream} is a {kind.decode()}, not a stream")
    except redis.RedisError as exc:
        return envelope(503, "not_ready", f"redis unreachable: {type(exc).__name__}", headers={"Retry-After": "1"})
    return {"status": "ready"}
