"""One way to open the stream's Redis: a single server, or a Redis Cluster (ANALYTICS_REDIS_CLUSTER=1)."""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster

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
            client.nodes_manager.initialize()
            node = client.get_node_from_key(key)
        return node.redis_connection.connection_pool
    return client.connection_pool


def refresh(client: Client) -> None:
    """After a MOVED reply on a raw connection: learn the cluster's slots again."""
    if isinstance(client, RedisCluster):
        client.nodes_manager.initialize()
