"""One way to open the stream's Redis: a single server, or a Redis Cluster (ANALYTICS_REDIS_CLUSTER=1)."""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from analytics.config import Settings, get_settings

Client = redis.Redis | RedisCluster


def open_redis(url: str, settings: Settings | None = None, **options: Any) -> Client:
    """A client for `url`: with `redis_cluster` set, a RedisCluster seeded from that node (it finds the others)."""
    s = settings or get_settings()
    if s.redis_cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def pool_for(client: Client, key: str) -> redis.ConnectionPool:
    """The connection pool of the server holding `key` (the only server, unless on a cluster)."""
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(key)
        if node.redis_connection is None:
            refresh(client)
            node = client.get_node_from_key(key)
        return node.redis_connection.connection_pool
    return client.connection_pool


def refresh(client: Client) -> None:
    """Learn the cluster's slots again (after a MOVED reply or a lost node on a raw connection: slots resharded, or
    a master gone and its replica maybe promoted). Raises redis.ConnectionError while no node answers."""
    if isinstance(client, RedisCluster):
        try:
            client.nodes_manager.initialize()
        except RedisClusterException as exc:  # not a RedisError: the collector would answer 500, not 503
            raise redis.ConnectionError(f"cluster slots unknown: {exc}") from exc


# What an operator risks when Redis is not durable: an accepted event (202) lives only in Redis until it is loaded.
AOF_OFF = "AOF is off: events accepted but not yet loaded into PostgreSQL are lost if Redis restarts or crashes"
EVICTS = (
    "maxmemory-policy is {policy}: when Redis reaches maxmemory it evicts keys, undrained stream entries and dedup keys "
    "included, silently (noeviction refuses writes instead: the collector answers 503 and clients retry)"
)


def durability(persistence: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    """Whether Redis keeps what the collector accepted: AOF on and maxmemory-policy noeviction, with the risks if not.
    `persistence` and `memory` are INFO's sections of those names."""
    aof = str(persistence.get("aof_enabled", "0")) == "1"
    policy = str(memory.get("maxmemory_policy", "unknown"))
    risks = ([] if aof else [AOF_OFF]) + ([] if policy == "noeviction" else [EVICTS.format(policy=policy)])
    return {"durable": not risks, "aof": aof, "maxmemoryPolicy": policy, "risks": risks}


def durability_of(client: Client, key: str) -> dict[str, Any]:
    """`durability` of the server holding `key` (the only server, unless on a cluster), with its address."""
    pool = pool_for(client, key)
    server = redis.Redis(connection_pool=pool)  # that server alone, on its pool's connections
    kwargs = pool.connection_kwargs
    address = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"  # a unix socket, or TCP
    return durability(server.info("persistence"), server.info("memory")) | {"server": address}
