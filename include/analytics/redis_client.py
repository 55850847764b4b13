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
