"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app
from redis.cluster import RedisCluster

from ingest_api.answers import answer
from ingest_api.errors import envelope

bp = Blueprint("health", __name__)

# What an operator risks when Redis is not durable: an accepted event (202) lives only in Redis until it is loaded.
AOF_OFF = "AOF is off: events accepted but not yet loaded into PostgreSQL are lost if Redis restarts or crashes"
EVICTS = (
    "maxmemory-policy is {policy}: when Redis reaches maxmemory it evicts keys, undrained stream entries and dedup keys "
    "included, silently (noeviction refuses writes instead: the collector answers 503 and clients retry)"
)


@bp.get("/healthz")
def healthz():
    return answer({"status": "ok"})


def durability(persistence: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    """Whether Redis keeps what the collector accepted: AOF on and maxmemory-policy noeviction, with the risks if not."""
    aof = str(persistence.get("aof_enabled", "0")) == "1"
    policy = str(memory.get("maxmemory_policy", "unknown"))
    risks = ([] if aof else [AOF_OFF]) + ([] if policy == "noeviction" else [EVICTS.format(policy=policy)])
    return {"durable": not risks, "aof": aof, "maxmemoryPolicy": policy, "risks": risks}


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
