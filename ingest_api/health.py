"""Liveness and readiness."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app
from redis.cluster import RedisCluster

from analytics.redis_client import durability
from ingest_api.answers import answer
from ingest_api.errors import envelope

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return answer({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready when Redis answers, the stream key is a stream (or absent) and Redis takes writes. Whether Redis is
    durable is reported (`redis.durable`), not required: a lab Redis without AOF still serves."""
    client: redis.Redis = current_app.extensions["analytics.redis"]
    keys = current_app.extensions["analytics.keys"]
    try:
        if isinstance(client, RedisCluster):  # no pipelined INFO on a cluster: ask the node holding the stream
            client.set(f"{keys.prefix}:readyz", "1", ex=10)
            node = client.get_node_from_key(keys.stream).redis_connection
            kind, persistence, memory = node.type(keys.stream), node.info("persistence"), node.info("memory")
        else:
            pipe = client.pipeline(transaction=False)
            pipe.type(keys.stream)
            pipe.set(f"{keys.prefix}:readyz", "1", ex=10)  # fails on a read-only replica or when Redis refuses writes
            pipe.info("persistence")
            pipe.info("memory")
            kind, _, persistence, memory = pipe.execute()
    except redis.RedisError as exc:
        return envelope(503, "not_ready", f"redis unavailable: {type(exc).__name__}", headers={"Retry-After": "1"})
    if kind not in (b"stream", b"none"):
        return envelope(503, "not_ready", f"{keys.stream} is a {kind.decode()}, not a stream")
    return answer({"status": "ready", "redis": durability(persistence, memory)})
